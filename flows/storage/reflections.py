"""Reflections written after an experience: the ``reflections`` table.

The /reflect feature writes them; the ERAS draft reads the specialty-choice answer through
:func:`specialty_choice`.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.storage.store import Store

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
