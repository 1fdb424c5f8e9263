"""Reflections written after an experience: the ``reflections`` table.

The /reflect feature writes them (one per experience, or general ones); the ERAS draft reads
the specialty-choice answer through :func:`specialty_choice`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.storage.store import Store, timestamp

migrations = Migrations("usce-coach.reflections")


@migrations()
def m001_reflections(db: Database) -> None:
    db.table("reflections").create(
        {
            "id": int,
            "user_id": str,
            "experience_id": int,  # the tracked experience, NULL for a general reflection
            "cases": str,
            "skills": str,
            "specialty_choice": str,
            "differences": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table("reflections").create_index(["user_id"])


_SELECT = ", ".join(
    f"[{name}]" for name in ("id", "experience_id", "cases", "skills", "specialty_choice", "differences", "created_at")
)


def get_reflection(store: Store, user_id: str, reflection_id: int) -> dict[str, Any]:
    """One of the user's reflections; :class:`NotFound` if gone or someone else's."""
    rows = store.db.table("reflections").rows_where(
        "id = ? AND user_id = ?", [reflection_id, user_id], select=_SELECT
    )
    row = next(rows, None)
    if row is None:
        raise NotFound()
    return row


def list_reflections(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The user's reflections, newest first."""
    return list(store.db.table("reflections").rows_where("user_id = ?", [user_id], order_by="id DESC", select=_SELECT))


def specialty_choice(store: Store, user_id: str, experience_id: int) -> str | None:
    """What the user wrote about their specialty choice for this experience, if anything."""
    rows = store.db.table("reflections").rows_where(
        "user_id = ? AND experience_id = ? AND coalesce(specialty_choice, '') != ''",
        [user_id, experience_id],
        order_by="updated_at DESC, id DESC",
        select="specialty_choice",
        limit=1,
    )
    row = next(rows, None)
    return str(row["specialty_choice"]) if row else None


def reflection_for(store: Store, user_id: str, experience_id: int) -> int | None:
    """The id of the user's (latest) reflection on this experience, if they wrote one."""
    rows = store.db.table("reflections").rows_where(
        "user_id = ? AND experience_id = ?", [user_id, experience_id], order_by="id DESC", select="id", limit=1
    )
    row = next(rows, None)
    return int(row["id"]) if row else None


def create_reflection(store: Store, user_id: str, experience_id: int | None, now: datetime) -> int:
    """A new, empty reflection (``experience_id`` None: a general one); returns its id."""
    at = timestamp(now)
    row = {"user_id": user_id, "experience_id": experience_id, "created_at": at, "updated_at": at}
    return int(store.db.table("reflections").insert(row).last_pk or 0)


_ANSWERS = frozenset({"cases", "skills", "specialty_choice", "differences"})


def save_reflection_answer(
    store: Store, user_id: str, reflection_id: int, field: str, value: str | None, now: datetime
) -> None:
    """One answer of one of the user's reflections, saved as it is given; :class:`NotFound` if gone."""
    if field not in _ANSWERS:
        raise ValueError(f"not a reflection answer: {field}")
    get_reflection(store, user_id, reflection_id)
    store.db.table("reflections").update(reflection_id, {field: value, "updated_at": timestamp(now)})


def delete_reflection(store: Store, user_id: str, reflection_id: int) -> None:
    """One of the user's reflections; :class:`NotFound` if gone or someone else's."""
    get_reflection(store, user_id, reflection_id)
    store.db.table("reflections").delete(reflection_id)
