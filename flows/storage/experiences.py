"""Tracked US clinical experiences: the records behind /log, /experiences and /progress.

The tracker feature writes them; readiness, nudges, letters, reflections and ERAS drafts
read them through :func:`list_experiences`.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.domain.records import (  # noqa: F401 (the records, read and written here)
    LETTERS,
    LEVELS,
    SETTINGS,
    STATUSES,
    TYPES,
    Experience,
    month_index,
    month_label,
    month_str,
    months_of,
    parse_month,
)
from flows.storage.store import Store

migrations = Migrations("usce-coach.experiences")

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


@migrations()
def m003_edit_sessions(db: Database) -> None:
    # Changing one field from a card is now a dialog told which answer it changes (under
    # "_only" in the session's data): a change begun before the upgrade is told here, so it
    # still ends after that one answer.
    db.execute(
        "UPDATE users SET data = json_set(coalesce(data, '{}'), '$._only', json_array(state))"
        " WHERE flow = 'tracker_edit' AND state IS NOT NULL"
    )


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


def has_record(store: Store, user_id: str, **fields: Any) -> bool:
    """Whether one of the user's records, finished or draft, has these values."""
    unknown = set(fields) - set(Experience.__dataclass_fields__)
    if unknown:
        raise ValueError(f"not experience fields: {sorted(unknown)}")
    where = " AND ".join(["user_id = ?", *(f"[{name}] = ?" for name in fields)])
    return bool(store.db.table("experiences").count_where(where, [user_id, *fields.values()]))


def delete_experience(store: Store, user_id: str, experience_id: int) -> None:
    cursor = store.conn.execute(
        "DELETE FROM experiences WHERE id = ? AND user_id = ?", (experience_id, user_id)
    )
    if cursor.rowcount == 0:
        raise NotFound()


# -- months ----------------------------------------------------------------------------------
