"""Tracked US clinical experiences: the records behind /log, /experiences and /progress.

The tracker feature writes them; readiness, nudges, letters, reflections and ERAS drafts
read them through :func:`list_experiences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.storage.store import Store

migrations = Migrations("usce-coach.experiences")

TYPES = (
    "elective",  # elective or clerkship
    "subi",  # sub-internship / acting internship
    "externship",
    "observership",
    "research",  # research with clinical exposure
    "scribe",  # scribe or clinical support
    "telemedicine",
    "volunteering",  # hospital volunteering
)
LEVELS = ("hands_on", "semi", "non")
STATUSES = ("planned", "ongoing", "done")
LETTERS = ("none", "asked", "promised", "received")
SETTINGS = ("inpatient", "outpatient", "both")


@migrations()
def m001_experiences(db: Database) -> None:
    db.table("experiences").create(
        {
            "id": int,
            "user_id": str,
            "type": str,  # one of TYPES
            "level": str,  # one of LEVELS
            "specialty": str,
            "institution": str,
            "teaching": int,  # 1 teaching hospital, 0 not, NULL unknown
            "setting": str,  # one of SETTINGS
            "start": str,  # "YYYY-MM"
            "end": str,  # "YYYY-MM", inclusive
            "status": str,  # one of STATUSES
            "letter": str,  # one of LETTERS
            "letter_writer": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table("experiences").create_index(["user_id"])


@migrations()
def m002_draft(db: Database) -> None:
    # The step an unfinished /log stopped at; NULL once the experience is complete.
    # Drafts are invisible to list_experiences, so readers only ever see finished records.
    db.table("experiences").add_column("draft", str)


@dataclass(frozen=True, slots=True)
class Experience:
    id: int
    user_id: str
    type: str
    level: str
    specialty: str
    institution: str
    teaching: int | None
    setting: str | None
    start: str
    end: str
    status: str
    letter: str
    letter_writer: str | None
    created_at: str
    updated_at: str


_COLUMNS = ", ".join(f"[{name}]" for name in Experience.__dataclass_fields__)


def list_experiences(store: Store, user_id: str) -> list[Experience]:
    """The user's finished experiences, oldest start first."""
    rows = store.conn.execute(
        f"SELECT {_COLUMNS} FROM experiences WHERE user_id = ? AND draft IS NULL ORDER BY start, id",
        (user_id,),
    ).fetchall()
    return [Experience(*row) for row in rows]


def get_experience(store: Store, user_id: str, experience_id: int) -> Experience:
    """One finished experience of this user; :class:`NotFound` if gone or someone else's."""
    row = store.conn.execute(
        f"SELECT {_COLUMNS} FROM experiences WHERE id = ? AND user_id = ? AND draft IS NULL",
        (experience_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound()
    return Experience(*row)


def get_draft(store: Store, user_id: str, draft_id: int | None = None) -> dict[str, Any] | None:
    """The user's unfinished /log record (the given one, or the latest), as a dict with ``draft``."""
    where = "user_id = ? AND draft IS NOT NULL"
    params: list[Any] = [user_id]
    if draft_id is not None:
        where += " AND id = ?"
        params.append(draft_id)
    rows = list(
        store.db.table("experiences").rows_where(where, params, order_by="id DESC", limit=1)
    )
    return rows[0] if rows else None


def create_draft(store: Store, user_id: str, now: str, step: str, **fields: Any) -> int:
    row = {"user_id": user_id, "draft": step, "created_at": now, "updated_at": now, **fields}
    cursor = store.db.table("experiences").insert(row)
    assert cursor.last_pk is not None
    return int(cursor.last_pk)


def update_experience(store: Store, user_id: str, experience_id: int, now: str, **fields: Any) -> None:
    """Change some fields of one of the user's records (finished or draft)."""
    unknown = set(fields) - set(Experience.__dataclass_fields__) - {"draft"}
    if unknown or not fields:
        raise ValueError(f"not experience fields: {sorted(unknown)}")
    sets = ", ".join(f"[{name}] = ?" for name in fields)
    cursor = store.conn.execute(
        f"UPDATE experiences SET {sets}, updated_at = ? WHERE id = ? AND user_id = ?",
        (*fields.values(), now, experience_id, user_id),
    )
    if cursor.rowcount == 0:
        raise NotFound()


def delete_experience(store: Store, user_id: str, experience_id: int) -> None:
    cursor = store.conn.execute(
        "DELETE FROM experiences WHERE id = ? AND user_id = ?", (experience_id, user_id)
    )
    if cursor.rowcount == 0:
        raise NotFound()


# -- months ----------------------------------------------------------------------------------
# Experiences are dated by month ("YYYY-MM", end inclusive). Arithmetic uses a month index:
# year * 12 + month - 1, so consecutive months differ by one.


def month_index(value: str | date) -> int:
    if isinstance(value, date):
        return value.year * 12 + value.month - 1
    year, month = value.split("-")
    return int(year) * 12 + int(month) - 1


def month_str(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_label(index: int, names: str) -> str:
    """"Mar 2026" from an index and the twelve month names separated by spaces."""
    return f"{names.split()[index % 12]} {index // 12}"


def months_of(exp: Experience) -> range:
    """The month indexes an experience covers (start to end, inclusive)."""
    start, end = month_index(exp.start), month_index(exp.end)
    return range(start, max(start, end) + 1)


_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_RELATIVE = {"last month": -1, "previous month": -1, "this month": 0, "now": 0, "next month": 1}
_NUMERIC = re.compile(r"(\d{1,4})\s*[-/.\s]\s*(\d{1,4})")
_NAMED = re.compile(r"([a-z]+)\.?\s*[-/,.\s]?\s*'?(\d{2}|\d{4})|(\d{4})\s*[-/,.\s]?\s*([a-z]+)")


def _year(text: str) -> int | None:
    if len(text) == 2:
        return 2000 + int(text)
    if len(text) == 4:
        return int(text)
    return None


def parse_month(text: str, today: int) -> int | None:
    """A month index from what a user typed: "03/2026", "3/26", "2026-03", "March 2026",
    "mar 26", "this month", "next month", "last month". None when it isn't a month."""
    value = " ".join(text.strip().lower().split())
    if len(value) > 30:
        return None
    if value in _RELATIVE:
        return today + _RELATIVE[value]
    numeric = _NUMERIC.fullmatch(value)
    if numeric:
        a, b = numeric.groups()
        if len(a) == 4:  # 2026-03
            year, month = int(a), int(b) if len(b) <= 2 else 0
        else:  # 03/2026, 3/26
            year_or_none, month = _year(b), int(a) if len(a) <= 2 else 0
            if year_or_none is None:
                return None
            year = year_or_none
        return year * 12 + month - 1 if 1 <= month <= 12 else None
    named = _NAMED.fullmatch(value)
    if named:
        name, year_text = (named.group(1), named.group(2)) if named.group(1) else (
            named.group(4), named.group(3)
        )
        named_month = _MONTH_NAMES.get(name)
        year_value = _year(year_text)
        if named_month is None or year_value is None:
            return None
        return year_value * 12 + named_month - 1
    return None
