"""Questions the FAQ could not answer, kept so content authors can add entries.

Each is linked to the user who asked (so /export includes it and /delete erases it) and kept
with obvious personal details taken out (:func:`flows.domain.scrub.scrub`).
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from flows.domain.scrub import scrub
from flows.storage.store import Store


def record(store: Store, user_id: str, question: str, at: datetime, limit: int) -> None:
    store.conn.execute(
        "INSERT INTO unanswered (user_id, text, asked_at) VALUES (?, ?, ?)",
        (user_id, scrub(question)[:limit], at.isoformat(timespec="seconds")),
    )


def link_to_users(db: Database) -> None:
    """The migration: a ``user_id`` pointing at ``users``; questions kept before (without one) are
    cleaned the same way."""
    table = db.table("unanswered")
    table.add_column("user_id", str, fk="users", fk_col="user_id")
    table.create_index(["user_id"])
    for row_id, text in db.execute("SELECT id, text FROM unanswered").fetchall():
        clean = scrub(text or "")
        if clean != text:
            db.execute("UPDATE unanswered SET text = ? WHERE id = ?", (clean, row_id))
