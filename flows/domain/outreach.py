"""The outreach log's rules: its settings from ``content/outreach.yaml`` and when an email
still without a reply calls for a follow-up. The /outreach screens and the reminders both
read them; the rows themselves are ``flows/storage/outreach.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require


@dataclass(frozen=True, slots=True)
class OutreachSettings:
    followup_days: int
    expected_response_rate: int
    typical_volume: int
    page_size: int


def load_settings(path: Any = CONTENT_DIR / "outreach.yaml") -> OutreachSettings:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    values = {name: require(path, data, name, int) for name in OutreachSettings.__dataclass_fields__}
    for name, value in values.items():
        if value < 1:
            raise ContentError(path, line_of(data), f"'{name}' must be at least 1")
    return OutreachSettings(**values)


@functools.cache
def settings() -> OutreachSettings:
    return load_settings()


def followup_days() -> int:
    """Days after ``sent_on`` with status still 'sent' before a follow-up is suggested."""
    return settings().followup_days


def followup_due_on(row: Mapping[str, Any], days: int) -> date | None:
    """The day a follow-up becomes due, or None when none is needed (answered, already done)."""
    if row.get("status") != "sent" or row.get("followed_up_on") or not row.get("sent_on"):
        return None
    try:
        return date.fromisoformat(row["sent_on"]) + timedelta(days=days)
    except ValueError:
        return None


def is_followup_due(row: Mapping[str, Any], today: date, days: int) -> bool:
    due = followup_due_on(row, days)
    return due is not None and due <= today
