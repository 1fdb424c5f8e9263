"""The rules of application help: button codes, typed dates, the cold-email draft and the
/apply submenu.

The email draft is built from the profile (status, graduation year, specialties) plus the
user's name and school, which the profile does not hold: they are asked once and kept in
the ``applicant`` table. The outreach log is the ``outreach`` table (both tables:
``flows/storage/outreach.py``); when a follow-up is due is ``flows/domain/outreach.py``,
which the reminders read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flows.base.content import Texts
from flows.base.errors import StaleButton
from flows.base.types import Button, Reply, column
from flows.domain.outreach import (  # noqa: F401 (the roles and their words: importable from here too)
    ROLES,
    followup_days,
    is_followup_due,
    load_role_words,
    role_words,
)
from flows.domain.readiness import school_stage
from flows.engine.engine import Turn
from flows.storage.outreach import change_entry, list_entries
from flows.storage.profiles import Profile
from flows.storage.store import Store

# Button codes (short, for callback data) -> stored values (ROLES, the contact's role: flows/domain/outreach.py).
STATUSES = {"s": "sent", "r": "replied", "d": "declined", "a": "accepted"}
PURPOSES = {"o": "observership", "s": "shadowing", "r": "research"}
ANSWERED = ("replied", "declined", "accepted")

NAME_LIMIT = 80
SCHOOL_LIMIT = 120
SPECIALTY_LIMIT = 60
CONTACT_LIMIT = 100
INSTITUTION_LIMIT = 120


# -- pure helpers ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    replied: int
    declined: int
    accepted: int

    @property
    def answered(self) -> int:
        return self.replied + self.declined + self.accepted

    @property
    def rate(self) -> int | None:
        """Percentage of sent emails that got any answer, rounded; None before the first one."""
        return round(100 * self.answered / self.total) if self.total else None


def count(statuses: Iterable[str]) -> Counts:
    seen = list(statuses)
    return Counts(len(seen), seen.count("replied"), seen.count("declined"), seen.count("accepted"))


_DAYS_AGO = re.compile(r"(\d{1,3})\s*days?\s*ago")
_DMY = re.compile(r"(\d{1,2})[./](\d{1,2})[./](\d{4})")


def parse_sent_date(text: str, today: date) -> date | None:
    """A day from "today", "yesterday", "3 days ago", "2026-11-20" or "20.11.2026"; None if unreadable."""
    value = " ".join(text.strip().lower().split())
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    ago = _DAYS_AGO.fullmatch(value)
    if ago:
        return today - timedelta(days=int(ago.group(1)))
    dmy = _DMY.fullmatch(value)
    try:
        if dmy:
            return date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        return None
    return None


def email_draft(
    texts: Texts,
    *,
    name: str,
    school: str,
    specialty: str,
    purpose: str,
    profile: Profile | None,
    today: date | None = None,
) -> str:
    """The cold email as escaped plain text (for a <pre> block)."""
    unknown_year = texts["outreach.unknown_year"]
    grad_year = str(profile.grad_year) if profile and profile.grad_year else unknown_year
    if profile and profile.status == "student":
        intro = texts.fmt(f"outreach.intro_student_{student_stage(profile, today)}", name=name, school=school,
                          year=year_words(texts, profile.student_year), grad_year=grad_year)
    elif profile and profile.status == "graduate":
        intro = texts.fmt("outreach.intro_graduate", name=name, school=school, grad_year=grad_year)
    else:
        intro = texts.fmt("outreach.intro_unknown", name=name, school=school)
    parts = [
        texts.fmt(f"outreach.subject_{purpose}", specialty=specialty, name=name),
        texts["outreach.greeting"],
        intro,
        texts.fmt(f"outreach.purpose_text_{purpose}", specialty=specialty),
        texts["outreach.why_you"],
        texts["outreach.closing"],
        texts.fmt("outreach.signature", name=name, school=school),
    ]
    return "\n\n".join(parts)


def student_stage(profile: Profile, today: date | None) -> str:
    """How the email names a student's year: "final" (graduating within about a year),
    "year" (the year of school is known) or "unknown"."""
    if today is not None and school_stage(profile, today) == "final":
        return "final"
    return "year" if profile.student_year else "unknown"


def year_words(texts: Texts, year: int | None) -> str:
    """ "sixth" for 6: the ordinals live in content."""
    words = texts["outreach.ordinals"].split()
    return words[year - 1] if year and 1 <= year <= len(words) else str(year or "")


# -- the log's records ------------------------------------------------------------------------
def followups_due(store: Store, user_id: str, today: date) -> list[dict[str, Any]]:
    """The user's log entries that need a follow-up today (for reminders)."""
    days = followup_days()
    return [row for row in list_entries(store, user_id) if is_followup_due(row, today, days)]


def update_entry(turn: Turn, entry_id: int, **fields: Any) -> None:
    change_entry(turn.store, turn.user_id, entry_id, turn.now, **fields)
    turn.changed.add("outreach")


# -- screens and buttons --------------------------------------------------------------------
def hub(turn: Turn) -> Reply:
    """The application-help submenu (/apply)."""
    items = ("email", "outreach", "letters", "reflect", "eras", "interview")
    buttons = [Button(turn.t(f"outreach.hub_{name}"), f"go:{name}") for name in items]
    return Reply(turn.t("outreach.hub"), column(buttons, 2))


def number(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)
