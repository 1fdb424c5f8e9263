"""Operators' commands: /stats and /broadcast, for the admin ids in settings only.

To anyone else both commands do not exist: the engine answers them exactly as it
answers a command it has never heard of (``Feature.admin_commands``). A broadcast is
previewed first, and the confirmed message is queued per recipient for the same
rate-limited delivery that sends nudges; the engine never sends anything itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import MAX_INPUT, clean, escape
from flows.base.types import Reply
from flows.engine.dialog import MARK, Ask, Dialog, End, Option, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.storage.store import Store

BROADCAST_FLOW = "admin.broadcast"
TEXT, PREVIEW, SEND = "text", "preview", "send"  # the dialog's steps (the flow's states before) and its button
OLD_BUTTONS = {"send": f"a:{SEND}", "no": "k"}  # ad:send / ad:no -> the dialog's own actions
BROADCAST_LIMIT = 3500  # characters as sent (after HTML escaping): every copy is one Telegram message
TOP_UNANSWERED = 5

migrations = Migrations("usce-coach.admin")


@migrations()
def m001_broadcasts(db: Database) -> None:
    # No user_id here: a broadcast is about everyone, and erasing its author's data must not
    # leave other users' queued copies pointing at nothing.
    db.table("broadcasts").create(
        {"id": int, "text": str, "created_at": str, "recipients": int},  # text: escaped HTML
        pk="id",
    )
    db.table("broadcast_messages").create(
        {
            "id": int,
            "broadcast_id": int,
            "user_id": str,
            "chat_id": int,
            "status": str,  # "queued" -> "sent" | "failed"
            "queued_at": str,
            "sent_at": str,
        },
        pk="id",
        foreign_keys=[("broadcast_id", "broadcasts", "id"), ("user_id", "users", "user_id")],
    )
    db.table("broadcast_messages").create_index(["status", "id"])


class Admin(Feature):
    name = "admin"
    prefix = "ad"
    migrations = migrations
    admin_commands = frozenset({"stats", "broadcast"})

    def __init__(self) -> None:
        self.draft = Dialog(
            BROADCAST_FLOW,
            "b",
            [
                Step(TEXT, StepKind.TEXT, "admin.broadcast_ask", read=read_draft,
                     values=lambda ask: {"limit": BROADCAST_LIMIT}),
                Step(PREVIEW, StepKind.CONFIRM, "admin.broadcast_preview", options=(Option(SEND, "admin.button_send"),),
                     skip=True, values=self._preview, text_for=TEXT),  # skip: cancel; a new text: a new draft
            ],
            load=self._answers,
            save=self._save,
            finish=self._finish,
            title="admin.flow_broadcast",
            words={"button_skip": "admin.button_cancel", "empty": "admin.broadcast_empty"},
        )
        self.dialogs = (self.draft,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"stats": self.stats, "broadcast": self.broadcast}

    # -- /stats ---------------------------------------------------------------------------
    def stats(self, turn: Turn, args: str) -> list[Reply]:
        figures = collect_stats(turn.store, turn.now)
        lines = [turn.t("admin.stats", now=turn.now.strftime("%Y-%m-%d %H:%M"), **figures["users"])]
        lines += [turn.t("admin.stats_flows_line", flow=f, count=n) for f, n in figures["flows"]]
        lines.append(turn.t("admin.stats_nudges", **figures["nudges"]))
        lines.append("")
        unanswered = figures["unanswered"]
        if not unanswered:
            lines.append(turn.t("admin.stats_unanswered_none"))
        else:
            lines.append(turn.t("admin.stats_unanswered_heading"))
            lines += [
                turn.t("admin.stats_unanswered_line", rank=i, question=q, count=n)
                for i, (q, n) in enumerate(unanswered, 1)
            ]
        return [Reply("\n".join(lines))]

    # -- /broadcast: type the message, see it as it goes out, confirm -----------------------
    def broadcast(self, turn: Turn, args: str) -> list[Reply]:
        text = clean(args, MAX_INPUT)
        if not text:
            return self.draft.begin(turn)
        if too_long(text):  # asked for a shorter one
            self.draft.begin(turn)
            return [too_long_reply(turn, text)]
        return self.draft.begin(turn, at=PREVIEW, data={TEXT: text})

    def _answers(self, turn: Turn) -> dict[str, Any]:
        if not turn.engine.is_admin(turn.user_id):  # no longer an admin: the draft goes
            turn.session.leave()
            raise StaleButton()
        return {TEXT: turn.session.data.get(TEXT), PREVIEW: turn.session.data.get(PREVIEW)}

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        turn.session.data[step.key] = value

    def _preview(self, ask: Ask) -> dict[str, object]:
        return {"count": len(recipients(ask.turn.store)), "text": ask.answers.get(TEXT) or ""}

    def _finish(self, turn: Turn, end: End) -> list[Reply]:
        if end.answers.get(PREVIEW) != SEND:
            turn.route = "admin:broadcast-cancelled"
            return [Reply(turn.t("admin.broadcast_cancelled"), replace=True)]
        turn.route = "admin:broadcast"
        count = queue_broadcast(turn, escape(str(end.answers[TEXT])))
        if not count:
            return [Reply(turn.t("admin.broadcast_nobody"), replace=True)]
        return [Reply(turn.t("admin.broadcast_queued", count=count), replace=True)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        session = turn.session
        if payload in OLD_BUTTONS and session.flow == BROADCAST_FLOW and session.state == PREVIEW:
            return self.draft.on_button(turn, f"{MARK}{self.draft.code}:{PREVIEW}:{OLD_BUTTONS[payload]}")
        raise StaleButton()  # an old preview, a second tap, or not an admin


def read_draft(ask: Ask, text: str) -> str:
    """The message as typed; too long to go out as one message, it must be shortened."""
    draft = clean(text, MAX_INPUT)
    if too_long(draft):
        raise InvalidAnswer(too_long_reply(ask.turn, draft).text)
    return draft


def too_long(text: str) -> bool:
    """Measured as sent: ``&`` goes out as ``&amp;``, ``<`` as ``&lt;``, so 3,500 ampersands are
    17,500 characters of HTML. Within the limit, a copy is always one message."""
    return len(escape(text)) > BROADCAST_LIMIT


def too_long_reply(turn: Turn, text: str) -> Reply:
    return Reply(turn.t("admin.broadcast_too_long", length=len(escape(text)), limit=BROADCAST_LIMIT))


# -- queries -------------------------------------------------------------------------------
def recipients(store: Store) -> list[tuple[str, int]]:
    """Users a message can reach: on Telegram (a chat id) and not blocking the bot."""
    rows = store.conn.execute(
        "SELECT user_id, chat_id FROM users WHERE active = 1 AND chat_id IS NOT NULL ORDER BY user_id"
    ).fetchall()
    return [(str(u), int(c)) for u, c in rows]


def queue_broadcast(turn: Turn, html: str) -> int:
    """Record the broadcast and queue one message per recipient; returns how many."""
    people = recipients(turn.store)
    if not people:
        return 0
    now = turn.now.isoformat(timespec="seconds")
    broadcast_id = turn.store.db.table("broadcasts").insert(
        {"text": html, "created_at": now, "recipients": len(people)}
    ).last_pk
    turn.store.db.table("broadcast_messages").insert_all(
        {"broadcast_id": broadcast_id, "user_id": u, "chat_id": c, "status": "queued", "queued_at": now}
        for u, c in people
    )
    return len(people)


def queued_messages(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Broadcast copies waiting to be sent, oldest first, with their text."""
    rows = store.conn.execute(
        "SELECT m.id, m.user_id, m.chat_id, b.text FROM broadcast_messages m"
        " JOIN broadcasts b ON b.id = m.broadcast_id WHERE m.status = 'queued' ORDER BY m.id LIMIT ?",
        (limit,),
    ).fetchall()
    return [{"id": i, "user_id": u, "chat_id": c, "text": t} for i, u, c, t in rows]


def collect_stats(store: Store, now: Any) -> dict[str, Any]:
    """The figures /stats shows."""
    q = store.conn.execute
    week = (now - timedelta(days=7)).isoformat(timespec="seconds")
    month = (now - timedelta(days=30)).isoformat(timespec="seconds")
    users, blocked, active_7, active_30 = q(
        "SELECT count(*), coalesce(sum(active = 0), 0), coalesce(sum(last_seen >= ?), 0),"
        " coalesce(sum(last_seen >= ?), 0) FROM users",
        (week, month),
    ).fetchone()
    completed = q("SELECT count(*) FROM completions").fetchone()[0]
    flows = q("SELECT flow, count(*) FROM completions GROUP BY flow ORDER BY 2 DESC, 1 LIMIT 10").fetchall()
    sent, failed = q(
        "SELECT coalesce(sum(status = 'sent'), 0), coalesce(sum(status = 'failed'), 0) FROM nudges"
    ).fetchone()
    rows = q(
        "SELECT min(text), count(*) FROM unanswered WHERE asked_at >= ?"
        " GROUP BY lower(trim(text)) ORDER BY 2 DESC, 1 LIMIT ?",
        (month, TOP_UNANSWERED),
    ).fetchall()
    unanswered = [(clean(str(t), 120), int(n)) for t, n in rows]
    return {
        "users": {
            "users": users,
            "blocked": blocked,
            "active_7": active_7,
            "active_30": active_30,
            "completed": completed,
        },
        "flows": [(str(f), int(n)) for f, n in flows],
        "nudges": {"sent": sent, "failed": failed},
        "unanswered": unanswered,
    }
