"""Operators' commands: /stats and /broadcast, for the admin ids in settings only.

To anyone else both commands do not exist: the engine answers them exactly as it
answers a command it has never heard of (``Feature.admin_commands``). A broadcast is
previewed first, and the confirmed message is queued per recipient for the same
rate-limited delivery that sends nudges; the engine never sends anything itself.
"""

from __future__ import annotations

from typing import Any

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import MAX_INPUT, clean, escape
from flows.base.types import Reply
from flows.engine.dialog import MARK, Ask, Dialog, End, Option, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.storage.broadcasts import migrations, queue_broadcast, recipients
from flows.storage.stats import collect_stats

BROADCAST_FLOW = "admin.broadcast"
TEXT, PREVIEW, SEND = "text", "preview", "send"  # the dialog's steps (the flow's states before) and its button
OLD_BUTTONS = {"send": f"a:{SEND}", "no": "k"}  # ad:send / ad:no -> the dialog's own actions
BROADCAST_LIMIT = 3500  # characters as sent (after HTML escaping): every copy is one Telegram message


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
        count = queue_broadcast(turn.store, escape(str(end.answers[TEXT])), turn.now)
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
