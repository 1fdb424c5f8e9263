"""The outbox: replies waiting to reach a user, stored in the transaction that produced them.

The engine puts an input's replies here in the same transaction as the input's effects, so a
reply exists exactly when its input was applied; the channel sends them after the commit, in
order per user, and deletes each row once Telegram has it. What survives a crash or a failed
send is sent later (``bot/outbox.py`` and the policy in ``docs/ARCHITECTURE.md``).

A row's ``state``:

- ``pending``: certainly not sent yet (queued behind another, or refused by Telegram unread);
- ``sending``: its request may have left (it was being sent when the process died, or the
  answer never came): whether the user has it is unknown;
- ``doubt``: was ``sending`` when a send failed ambiguously or the process restarted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.types import Attachment, Button, Reply
from flows.storage.store import Store

outbox_migrations = Migrations("usce-coach.outbox")


@outbox_migrations()
def m001_outbox(db: Database) -> None:
    db.table("outbox").create(
        {
            "id": int,
            "user_id": str,  # so /delete erases what is still waiting and /export shows it
            "chat_id": int,
            "update_id": int,
            "body": str,  # JSON: text, buttons, the message to edit, the attachment's name and kind
            "file": str,  # the attachment's content, base64 (so /export can show the row as JSON)
            "repeatable": int,  # 1: a read-only answer or a step shown again, safe to show twice
            "state": str,  # pending | sending | doubt
            "part": int,  # pieces of a long reply already delivered
            "attempts": int,
            "due": float,  # when to try again (Unix time)
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
        not_null={"user_id", "chat_id", "body", "state"},
        defaults={"repeatable": 0, "state": "pending", "part": 0, "attempts": 0, "due": 0.0},
    )
    db.table("outbox").create_index(["user_id", "id"])


@dataclass(frozen=True, slots=True)
class Parcel:
    """One stored reply on its way: what to send, and where it stands."""

    id: int
    user_id: str
    chat_id: int
    reply: Reply
    edit_id: int | None  # the message whose button was pressed, to edit instead of sending anew
    repeatable: bool
    state: str
    part: int
    attempts: int
    due: float


def _encode(reply: Reply, edit_id: int | None) -> tuple[str, str | None]:
    body: dict[str, Any] = {"text": reply.text}
    if reply.buttons:
        body["buttons"] = [[[b.label, b.data] for b in row] for row in reply.buttons]
    if edit_id is not None:
        body["edit"] = edit_id
    if reply.attachment is not None:
        body["file"] = [reply.attachment.filename, reply.attachment.kind]
        return json.dumps(body, separators=(",", ":")), base64.b64encode(reply.attachment.content).decode()
    return json.dumps(body, separators=(",", ":")), None


def _decode(body: str, file: str | None) -> tuple[Reply, int | None]:
    data = json.loads(body)
    buttons = tuple(tuple(Button(label, value) for label, value in row) for row in data.get("buttons", ()))
    attachment = None
    if "file" in data:
        name, kind = data["file"]
        attachment = Attachment(name, base64.b64decode(file or ""), kind)
    return Reply(data["text"], buttons, replace="edit" in data, attachment=attachment), data.get("edit")


class Outbox:
    """SQL for the outbox table, on the engine's store (and so inside its transactions)."""

    _PUT = (
        "INSERT INTO outbox (user_id, chat_id, update_id, body, file, repeatable, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _HAS = "SELECT 1 FROM outbox WHERE user_id = ? LIMIT 1"
    _FIRST = (
        "SELECT id, user_id, chat_id, body, file, repeatable, state, part, attempts, due FROM outbox"
        " WHERE user_id = ? ORDER BY id LIMIT 1"
    )

    def __init__(self, store: Store) -> None:
        self.store = store

    def put(
        self,
        user_id: str,
        chat_id: int,
        update_id: int | None,
        replies: list[Reply],
        *,
        repeatable: bool,
        edit_id: int | None,
        created_at: str,
        sending: bool,
    ) -> list[Parcel]:
        """Queue ``replies`` (already merged) in the caller's transaction. The first reply that
        asks to replace the pressed message edits ``edit_id``. With ``sending`` the first row is
        marked as leaving at once (the channel sends it right after the commit).

        Returns the rows as parcels when they are the user's first (nothing older waits), so
        the channel can send them without reading them back; else []."""
        conn = self.store.conn
        first = sending and not self.waiting(user_id)  # behind older rows, it waits its turn
        parcels: list[Parcel] = []
        for reply in replies:
            target = edit_id if reply.replace and reply.attachment is None and len(reply.text) <= 4096 else None
            if target is not None:
                edit_id = None  # one edit per input at most
            body, file = _encode(reply, target)
            state = "sending" if first and not parcels else "pending"
            row = (user_id, chat_id, update_id, body, file, int(repeatable), state, created_at)
            row_id = conn.execute(self._PUT, row).lastrowid
            parcels.append(Parcel(row_id or 0, user_id, chat_id, reply, target, repeatable, state, 0, 0, 0.0))
        return parcels if first else []

    def waiting(self, user_id: str) -> bool:
        """Whether any reply waits for the user."""
        return self.store.conn.execute(self._HAS, (user_id,)).fetchone() is not None

    def first(self, user_id: str) -> Parcel | None:
        """The user's oldest waiting reply: nothing later may go before it."""
        row = self.store.conn.execute(self._FIRST, (user_id,)).fetchone()
        if row is None:
            return None
        reply, edit_id = _decode(row[3], row[4])
        return Parcel(row[0], row[1], row[2], reply, edit_id, bool(row[5]), row[6], row[7], row[8], row[9])

    def sending(self, parcel_id: int) -> None:
        """The request of this row is about to leave."""
        with self.store.atomic():
            self.store.conn.execute(
                "UPDATE outbox SET state = CASE state WHEN 'doubt' THEN 'doubt' ELSE 'sending' END,"
                " attempts = attempts + 1 WHERE id = ?",
                (parcel_id,),
            )

    def delivered_part(self, parcel_id: int) -> None:
        """One more piece of a long reply reached Telegram."""
        with self.store.atomic():
            self.store.conn.execute("UPDATE outbox SET part = part + 1 WHERE id = ?", (parcel_id,))

    def delivered(self, parcel: Parcel, more: bool = True) -> None:
        """Telegram has the whole reply: forget it, and (unless the caller knows there is no
        ``more``) mark the user's next one as leaving (it is sent right away), in one commit."""
        with self.store.atomic():
            conn = self.store.conn
            conn.execute("DELETE FROM outbox WHERE id = ?", (parcel.id,))
            if more:
                conn.execute(
                    "UPDATE outbox SET state = 'sending' WHERE id ="
                    " (SELECT min(id) FROM outbox WHERE user_id = ?) AND state = 'pending' AND due <= 0",
                    (parcel.user_id,),
                )

    def later(self, parcel_id: int, due: float, *, doubt: bool) -> None:
        """Try again at ``due``; ``doubt``: the failed request may have reached Telegram."""
        with self.store.atomic():
            self.store.conn.execute(
                "UPDATE outbox SET due = ?, state = CASE WHEN ? OR state = 'doubt' THEN 'doubt'"
                " ELSE 'pending' END WHERE id = ?",
                (due, int(doubt), parcel_id),
            )

    def drop(self, parcel_id: int) -> None:
        with self.store.atomic():
            self.store.conn.execute("DELETE FROM outbox WHERE id = ?", (parcel_id,))

    def drop_user(self, user_id: str) -> int:
        """Forget every reply waiting for the user (they blocked the bot)."""
        with self.store.atomic():
            return self.store.conn.execute("DELETE FROM outbox WHERE user_id = ?", (user_id,)).rowcount

    def recover(self) -> int:
        """At start: replies that were leaving when the process stopped may or may not have
        reached the user. Returns how many."""
        with self.store.atomic():
            return self.store.conn.execute("UPDATE outbox SET state = 'doubt' WHERE state = 'sending'").rowcount

    def waiting_users(self, now: float) -> list[str]:
        """Users whose oldest waiting reply is due."""
        rows = self.store.conn.execute(
            "SELECT o.user_id FROM outbox o JOIN (SELECT user_id, min(id) AS first FROM outbox GROUP BY user_id) f"
            " ON o.id = f.first WHERE o.due <= ? ORDER BY o.id",
            (now,),
        ).fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        return int(self.store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
