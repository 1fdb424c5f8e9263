"""The user's goals, as answered in the goal-clarification flow (and changed in /profile).

Other features read the profile through :func:`load_profile`; only the onboarding
flow and /profile write it (through :func:`save_answer`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database, Migrations

from flows.domain.records import Profile
from flows.storage.store import Store

migrations = Migrations("usce-coach.profile")


@migrations()
def m001_profiles(db: Database) -> None:
    db.table("profiles").create(
        {
            "user_id": str,
            "status": str,  # "student" | "graduate"
            "student_year": int,  # year of medical school, students only
            "grad_year": int,  # year of graduation, past or expected
            "specialties": str,  # JSON list of 1-2 specialty names
            "application": str,  # "YYYY-MM": when the residency application is submitted
            "months_available": int,
            "budget": str,  # "limited" | "moderate" | "flexible"
            "visa": str,  # "visitor" | "authorized" | "unsure"
            "us_months": int,  # US experience so far, rough months
            "us_letters": int,  # US letters so far
            "gaps": str,  # JSON list from: "recent", "specialty", "letters", "first"
            "timezone": str,  # IANA name, e.g. "Asia/Kolkata"
            "completed_at": str,  # set when the conversation was finished once
            "updated_at": str,
        },
        pk="user_id",
        foreign_keys=[("user_id", "users", "user_id")],
    )


@migrations()
def m002_onboarding_step(db: Database) -> None:
    # Where the goal conversation stopped, so a returning user continues there even after
    # /cancel cleared their session: a question's state name, or "done".
    db.table("profiles").add_column("onboarding_step", str)


JSON_FIELDS = frozenset({"specialties", "gaps"})


def load_profile(store: Store, user_id: str) -> Profile | None:
    cursor = store.conn.execute("SELECT * FROM profiles WHERE user_id = ?", (user_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    values: dict[str, Any] = dict(zip(names, row, strict=True))
    values.pop("updated_at", None)
    for name in JSON_FIELDS:
        values[name] = tuple(json.loads(values[name])) if values[name] else ()
    return Profile(**values)


COLUMNS = frozenset(Profile.__dataclass_fields__) - {"user_id"}


def save_answer(store: Store, user_id: str, now: str, **answers: Any) -> None:
    """Store some answers at once (the moment they are given)."""
    unknown = set(answers) - COLUMNS
    if unknown:
        raise ValueError(f"not a profile field: {sorted(unknown)}")
    row: dict[str, Any] = {"user_id": user_id, "updated_at": now}
    for name, value in answers.items():
        row[name] = json.dumps(list(value)) if name in JSON_FIELDS and value is not None else value
    names = list(row)
    store.conn.execute(
        f"INSERT INTO profiles ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"
        f" ON CONFLICT(user_id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names[1:])}",
        row,
    )
