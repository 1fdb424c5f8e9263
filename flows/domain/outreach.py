"""The outreach log's rules: its settings and role words from ``content/outreach.yaml`` and when an email
still without a reply calls for a follow-up. The /outreach screens and the reminders both
read them; the rows themselves are ``flows/storage/outreach.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, field_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Int, Text, read, rule

# Button codes of the contact's role (short, for callback data) -> stored values.
ROLES = {"p": "program_director", "c": "clerkship_director", "s": "section_chief", "f": "faculty"}


@dataclass(frozen=True, slots=True)
class OutreachSettings:
    followup_days: int
    expected_response_rate: int
    typical_volume: int
    page_size: int


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError("must be at least 1")
    return value


Positive = Annotated[Int, AfterValidator(_positive)]


class OutreachFile(ContentModel):
    """``content/outreach.yaml``."""

    followup_days: Positive
    expected_response_rate: Positive
    typical_volume: Positive
    page_size: Positive
    role_words: dict[str, tuple[Text, ...]]  # role -> words a typed role may use besides its label

    @field_validator("role_words")
    @classmethod
    def _known_roles(cls, words: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(words) - set(ROLES.values()))
        if unknown:
            raise rule(f"'role_words' takes only {', '.join(ROLES.values())}", unknown[0])
        return words


@dataclass(frozen=True, slots=True)
class OutreachContent:
    settings: OutreachSettings
    role_words: Mapping[str, tuple[str, ...]]  # role code -> words


def parse_outreach(path: Path) -> OutreachContent:
    data = read(path, OutreachFile)
    numbers = OutreachSettings(data.followup_days, data.expected_response_rate, data.typical_volume, data.page_size)
    return OutreachContent(numbers, {code: data.role_words.get(role, ()) for code, role in ROLES.items()})


OUTREACH = ContentFile("outreach.yaml", parse_outreach)


def load_settings(path: Path = CONTENT_DIR / "outreach.yaml") -> OutreachSettings:
    return parse_outreach(path).settings


def settings() -> OutreachSettings:
    """The outreach numbers, as loaded at start."""
    return OUTREACH.value().settings


def load_role_words(path: Path = CONTENT_DIR / "outreach.yaml") -> dict[str, tuple[str, ...]]:
    """Role code -> the words a typed role may use for it besides its label."""
    return dict(parse_outreach(path).role_words)


def role_words() -> Mapping[str, tuple[str, ...]]:
    """Role code -> its typed words, as loaded at start."""
    return OUTREACH.value().role_words


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
