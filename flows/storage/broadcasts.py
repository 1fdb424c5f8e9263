"""Admins' broadcasts and the copies queued for each recipient (/broadcast). The admin feature
records them; the channel (``bot/broadcast.py``) moves each copy queued -> sending -> sent |
failed. Both write through these functions, and only these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database, Migrations

from flows.storage.store import Store, timestamp

BROADCASTS, COPIES = "broadcasts", "broadcast_messages"

migrations = Migrations("usce-coach.admin")


@migrations()
def m001_broadcasts(db: Database) -> None:
    # No user_id here: a broadcast is about everyone, and erasing its author's data must not
    # leave other users' queued copies pointing at nothing.
    db.table(BROADCASTS).create(
        {"id": int, "text": str, "created_at": str, "recipients": int},  # text: escaped HTML
        pk="id",
    )
    db.table(COPIES).create(
        {
            "id": int,
            "broadcast_id": int,
            "user_id": str,
            "chat_id": int,
            "status": str,  # "queued" -> "sending" -> "sent" | "failed"
            "queued_at": str,
            "sent_at": str,
        },
        pk="id",
        foreign_keys=[("broadcast_id", BROADCASTS, "id"), ("user_id", "users", "user_id")],
    )
    db.table(COPIES).create_index(["status", "id"])


def recipients(store: Store) -> list[tuple[str, int]]:
    """Users a message can reach: on Telegram (a chat id) and not blocking the bot."""
    rows = store.db.table("users").rows_where(
        "active = 1 AND chat_id IS NOT NULL", order_by="user_id", select="user_id, chat_id"
    )
    return [(str(r["user_id"]), int(r["chat_id"])) for r in rows]


def queue_broadcast(store: Store, html: str, now: datetime) -> int:
    """Record the broadcast and queue one copy per recipient; returns how many."""
    people = recipients(store)
    if not people:
        return 0
    at = timestamp(now)
    record = {"text": html, "created_at": at, "recipients": len(people)}
    broadcast_id = store.db.table(BROADCASTS).insert(record).last_pk
    store.db.table(COPIES).insert_all(
        {"broadcast_id": broadcast_id, "user_id": u, "chat_id": c, "status": "queued", "queued_at": at}
        for u, c in people
    )
    return len(people)


def queued_messages(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Copies waiting to be sent, oldest first, each with its broadcast's text."""
    rows = list(store.db.table(COPIES).rows_where(
        "status = 'queued'", order_by="id", limit=limit, select="id, broadcast_id, user_id, chat_id"
    ))
    ids = sorted({r["broadcast_id"] for r in rows})
    marks = ", ".join("?" for _ in ids)
    texts = {b["id"]: b["text"] for b in store.db.table(BROADCASTS).rows_where(f"id IN ({marks})", ids)} if ids else {}
    return [
        {"id": r["id"], "user_id": r["user_id"], "chat_id": r["chat_id"], "text": texts[r["broadcast_id"]]}
        for r in rows
        if r["broadcast_id"] in texts
    ]


def fail_interrupted(store: Store, now: datetime) -> int:
    """Copies still marked as being sent (a crash mid-request) become failed, never resent;
    returns how many. Call inside a write transaction."""
    copies = store.db.table(COPIES)
    stuck = [r["id"] for r in copies.rows_where("status = 'sending'", select="id")]
    for copy_id in stuck:
        copies.update(copy_id, {"status": "failed", "sent_at": timestamp(now)})
    return len(stuck)


def move_copy(store: Store, copy_id: int, olds: tuple[str, ...], new: str, sent_at: datetime | None = None) -> bool:
    """The copy goes to status ``new`` if it is still in one of ``olds``; whether it moved. Call
    inside a write transaction (so nothing changes the copy between the look and the move)."""
    copies = store.db.table(COPIES)
    marks = ", ".join("?" for _ in olds)
    if not copies.count_where(f"id = ? AND status IN ({marks})", [copy_id, *olds]):
        return False
    copies.update(copy_id, {"status": new, "sent_at": None if sent_at is None else timestamp(sent_at)})
    return True
