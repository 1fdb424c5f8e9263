"""The records and rules of application help: the ``outreach`` and ``applicant`` tables,
follow-up dates, typed dates, the cold-email draft and the widgets other helpers share.

The email draft is built from the profile (status, graduation year, specialties) plus the
user's name and school, which the profile does not hold: they are asked once and kept in
the ``applicant`` table. The outreach log is the ``outreach`` table; the reminders feature
reads its ``user_id, id, contact, status, sent_on`` columns and :func:`followup_days`.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlite_utils import Database, Migrations

from flows.base.content import CONTENT_DIR, ContentError, Texts, line_of, load_yaml, require
from flows.base.errors import NotFound, StaleButton
from flows.base.types import Button, Reply, column
from flows.domain.readiness import school_stage
from flows.engine.engine import Turn
from flows.storage.profiles import Profile, load_profile
from flows.storage.store import Store

migrations = Migrations("usce-coach.outreach")


@migrations()
def m001_outreach(db: Database) -> None:
    db.table("outreach").create(
        {
            "id": int,
            "user_id": str,
            "contact": str,
            "role": str,  # one of ROLES' values
            "institution": str,
            "sent_on": str,  # "YYYY-MM-DD"
            "status": str,  # one of STATUSES' values
            "followed_up_on": str,  # "YYYY-MM-DD" once a follow-up went out
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
        defaults={"status": "sent"},
    )
    db.table("outreach").create_index(["user_id"])
    db.table("outreach").create_index(["status", "sent_on"])  # follow-up reminders scan these


@migrations()
def m002_applicant(db: Database) -> None:
    # What the email draft needs beyond the profile, asked once.
    db.table("applicant").create(
        {"user_id": str, "name": str, "school": str, "specialty": str, "updated_at": str},
        pk="user_id",
        foreign_keys=[("user_id", "users", "user_id")],
    )


# Button codes (short, for callback data) -> stored values.
ROLES = {"p": "program_director", "c": "clerkship_director", "s": "section_chief", "f": "faculty"}
STATUSES = {"s": "sent", "r": "replied", "d": "declined", "a": "accepted"}
PURPOSES = {"o": "observership", "s": "shadowing", "r": "research"}
ANSWERED = ("replied", "declined", "accepted")

NAME_LIMIT = 80
SCHOOL_LIMIT = 120
SPECIALTY_LIMIT = 60
CONTACT_LIMIT = 100
INSTITUTION_LIMIT = 120
LABEL_LIMIT = 44  # characters of a button label


# -- content ------------------------------------------------------------------------------
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


def load_role_words(path: Any = CONTENT_DIR / "outreach.yaml") -> dict[str, tuple[str, ...]]:
    """Role code -> the words a typed role may use for it besides its label."""
    data = load_yaml(path)
    words = require(path, data, "role_words", dict) if isinstance(data, dict) else None
    if words is None or set(words) - set(ROLES.values()):
        raise ContentError(path, line_of(data), f"'role_words' takes only {', '.join(ROLES.values())}")
    if not all(isinstance(w, list) and all(isinstance(x, str) for x in w) for w in words.values()):
        raise ContentError(path, line_of(words), "each role takes a list of words")
    return {code: tuple(words.get(role, ())) for code, role in ROLES.items()}


@functools.cache
def role_words() -> dict[str, tuple[str, ...]]:
    return load_role_words()


def followup_days() -> int:
    """Days after ``sent_on`` with status still 'sent' before a follow-up is suggested."""
    return settings().followup_days


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


def short(value: str, limit: int = LABEL_LIMIT) -> str:
    """Cut a label to ``limit`` characters with an ellipsis."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


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


def pre(text: str) -> Reply:
    """A ready-to-copy message: ``text`` must already be escaped."""
    return Reply(f"<pre>{text}</pre>", full=True)  # a text to copy whole: never cut to a screen


# -- storage --------------------------------------------------------------------------------
def profile_of(store: Store, user_id: str) -> Profile | None:
    try:
        return load_profile(store, user_id)
    except sqlite3.OperationalError:  # the profile feature is not installed
        return None


def local_today(turn: Turn, profile: Profile | None = None) -> date:
    """Today in the user's time zone (from the profile), else in UTC."""
    profile = profile or profile_of(turn.store, turn.user_id)
    if profile and profile.timezone:
        try:
            return turn.now.astimezone(ZoneInfo(profile.timezone)).date()
        except (ValueError, KeyError):
            pass
    return turn.now.date()


def get_applicant(store: Store, user_id: str) -> dict[str, Any]:
    row = store.conn.execute(
        "SELECT name, school, specialty FROM applicant WHERE user_id = ?", (user_id,)
    ).fetchone()
    return dict(zip(("name", "school", "specialty"), row, strict=True)) if row else {}


def save_applicant(turn: Turn, **fields: str) -> None:
    row = {"user_id": turn.user_id, "updated_at": turn.now.isoformat(timespec="seconds"), **fields}
    turn.store.db.table("applicant").upsert(row, pk="user_id", alter=False)


_ENTRY_COLUMNS = ("id", "contact", "role", "institution", "sent_on", "status", "followed_up_on")


def get_entry(store: Store, user_id: str, entry_id: int) -> dict[str, Any]:
    row = store.conn.execute(
        f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM outreach WHERE id = ? AND user_id = ?",
        (entry_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound()
    return dict(zip(_ENTRY_COLUMNS, row, strict=True))


def list_entries(store: Store, user_id: str) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM outreach WHERE user_id = ?"
        " ORDER BY sent_on DESC, id DESC",
        (user_id,),
    ).fetchall()
    return [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows]


def followups_due(store: Store, user_id: str, today: date) -> list[dict[str, Any]]:
    """The user's log entries that need a follow-up today (for reminders)."""
    days = followup_days()
    return [row for row in list_entries(store, user_id) if is_followup_due(row, today, days)]


def update_entry(turn: Turn, entry_id: int, **fields: Any) -> None:
    sets = ", ".join(f"[{name}] = ?" for name in fields)
    cursor = turn.store.conn.execute(
        f"UPDATE outreach SET {sets}, updated_at = ? WHERE id = ? AND user_id = ?",
        (*fields.values(), turn.now.isoformat(timespec="seconds"), entry_id, turn.user_id),
    )
    if cursor.rowcount == 0:
        raise NotFound()
    turn.changed.add("outreach")


# -- shared widgets -------------------------------------------------------------------------
def hub(turn: Turn) -> Reply:
    """The application-help submenu (/apply)."""
    items = ("email", "outreach", "letters", "reflect", "eras", "interview")
    buttons = [Button(turn.t(f"outreach.hub_{name}"), f"go:{name}") for name in items]
    return Reply(turn.t("outreach.hub"), column(buttons, 2))


def hub_button(turn: Turn) -> Button:
    return Button(turn.t("outreach.button_hub"), "go:apply")


def number(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)
