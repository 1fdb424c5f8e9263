"""The dialogue engine: routes one :class:`Input` to the feature that owns it and
returns plain :class:`Reply` objects. It never imports a channel.

Every input runs in one database transaction: load the user's session, let a
feature act (features save their own records through the same store), save the
session. A restart at any point therefore resumes at the last saved step.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlite_utils import Migrations

from flows.base.content import Texts, texts
from flows.base.errors import CoachError, InvalidAnswer, StaleButton, StorageUnavailable
from flows.base.text import to_plain
from flows.base.types import Button, Input, Keyboard, Kind, Reply, Session, column, merge_replies
from flows.domain import typed
from flows.engine import answers
from flows.engine.dialog import MARK, Dialog
from flows.engine.feature import CommandHandler, Feature, MenuEntry, Turn

__all__ = ["CommandHandler", "Engine", "Feature", "MenuEntry", "Outcome", "Turn", "utcnow"]
from flows.storage.outbox import Outbox, Parcel, outbox_migrations
from flows.storage.store import Store, core_migrations

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
REDELIVERY_WINDOW = timedelta(days=1)  # redelivery after a crash comes within minutes
NOTICE_LIMIT = 200  # Telegram shows at most 200 characters on a tap


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    replies: list[Reply]
    route: str
    session: Session | None = field(default=None, repr=False)
    queued: bool = False  # the replies wait in the outbox (sent by the channel after the commit)
    parcels: list[Parcel] = field(default_factory=list, repr=False)  # those rows, when first in line
    repeatable: bool = True  # the input wrote no records: showing its replies twice changes nothing
    notice: str | None = None  # a button press: a short line shown on the tap itself (no new message)
    took_answer: bool = False  # typed text the open flow took as its step's answer


class Engine:
    def __init__(
        self,
        store: Store,
        features: Sequence[Feature],
        *,
        text_catalogue: Texts | None = None,
        clock: Clock = utcnow,
        admins: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.features = list(features)
        self.texts = text_catalogue or texts()
        self.clock = clock
        self.admins = frozenset(admins)
        self._commands: dict[str, tuple[Feature, CommandHandler]] = {}
        self._prefixes: dict[str, Feature] = {}
        self._flows: dict[str, Feature] = {}
        self._dialogs: dict[str, Dialog] = {}
        for feature in self.features:
            for name, handler in feature.commands().items():
                if name in self._commands:
                    raise ValueError(f"command /{name} registered twice")
                self._commands[name] = (feature, handler)
            if feature.prefix:
                if feature.prefix in self._prefixes:
                    raise ValueError(f"button prefix {feature.prefix!r} registered twice")
                self._prefixes[feature.prefix] = feature
            for flow in feature.flows:
                self._flows[flow] = feature
            for dialog in feature.dialogs:
                if dialog.name in self._dialogs:
                    raise ValueError(f"dialog {dialog.name!r} registered twice")
                dialog.prefix = feature.prefix
                self._flows[dialog.name] = feature
                self._dialogs[dialog.name] = dialog
        self.menu_entries = sorted(
            (e for f in self.features for e in f.menu_items), key=lambda e: (e.order, e.command)
        )
        self.deep_links = {link for f in self.features for link in f.deep_links}
        self._ephemeral = frozenset(flow for f in self.features for flow in f.ephemeral_flows)
        self._menu: Reply | None = None
        self.outbox: Outbox | None = None  # set by a channel that sends replies from the outbox

    # -- setup ------------------------------------------------------------------------
    def migrations(self) -> list[Migrations]:
        return [core_migrations, outbox_migrations] + [f.migrations for f in self.features if f.migrations]

    def migrate(self) -> None:
        self.store.migrate(self.migrations())

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    @property
    def command_names(self) -> list[str]:
        return list(self._commands)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    # -- handling ---------------------------------------------------------------------
    def handle(self, inp: Input, chat_id: int | None = None, update_id: int | None = None) -> Outcome:
        """Answer one input in one transaction. Named errors become friendly replies here.

        ``update_id`` is the channel's increasing id of the update (Telegram's). An update
        seen before — redelivered because the process died before confirming it — is not
        applied again; if a flow is open, its current step is shown again instead. Telegram
        restarts its ids at random after a week without updates, so an id only counts as
        seen when the user's previous input is recent. When the disk cannot be written
        nothing is stored and the user is told so (the store logs it once for the operator).

        With an :attr:`outbox` and a ``chat_id``, the replies are also stored in the outbox in
        the same transaction (``Outcome.queued``), marked repeatable when the input wrote no
        records (a read-only answer, a step shown or asked again).
        """
        try:
            return self._handle(inp, chat_id, update_id)
        except StorageUnavailable:
            return Outcome([Reply(self.texts["errors.cant_save"])], "error:storage")

    def _handle(self, inp: Input, chat_id: int | None, update_id: int | None) -> Outcome:
        with self.store.atomic():
            session = self.store.load_session(inp.user_id)
            turn = Turn(inp.user_id, session, self.store, self.texts, self.clock(), self, chat_id=chat_id)
            if session.created and inp.kind is not Kind.EDIT:  # an edit of a stranger acts on nothing
                self.store.add_user(inp.user_id, turn.now, chat_id)  # first: features' rows point at it
            turn.log = answers.take_log(session)
            taken = list(turn.log)
            if update_id is not None:
                if self._already_applied(session, update_id, turn.now):
                    turn.route = "duplicate"
                    replies = self.resume(turn) if session.flow else []
                    parcels = self._queue(turn, inp, update_id, replies, repeatable=True)
                    return Outcome(replies, turn.route, session, parcels is not None, parcels=parcels or [])
                session.last_update = update_id
            changes = self.store.conn.total_changes
            flow_before = session.flow
            notice: str | None = None
            try:
                with self.store.atomic():  # a failed step rolls back its own writes only
                    replies = self._route(turn, inp)
            except InvalidAnswer as exc:
                if turn.pending is not None:
                    turn.log.append(replace(turn.pending, accepted=False))
                if inp.kind is Kind.BUTTON and len(to_plain(exc.text)) <= NOTICE_LIMIT:
                    # a press the step can't take ("pick at least one"): said on the tap; the message stays
                    turn.route, replies, notice = turn.route or "invalid", [], to_plain(exc.text)
                else:
                    replies = self._not_an_answer(turn, inp, exc)
            except StaleButton:
                turn.route = "stale"
                if inp.kind is Kind.BUTTON:  # an old message's button, a double tap: nothing changes
                    replies, notice = [], self.texts["errors.stale_button"]
                else:
                    replies = self._stale(turn)
            except CoachError as exc:
                replies = [self.main_menu(turn, self.texts[exc.text_key])]
                turn.route = f"error:{type(exc).__name__}"
            if turn.route == "edit:ignored":  # nothing happened: nothing to save either
                return Outcome(replies, turn.route, session)
            if inp.kind is Kind.BUTTON and flow_before and session.flow:
                replies = self._in_place(replies)
            answers.put_log(session, turn.log, taken)
            if turn.changed:
                for feature in self.features:
                    feature.on_changed(turn, turn.changed)
            wrote = self.store.conn.total_changes != changes
            if not session.erased:
                self.store.save_session(session, turn.now, chat_id)
            parcels = self._queue(turn, inp, update_id, replies, repeatable=not wrote)
        return Outcome(replies, turn.route, session, parcels is not None, parcels or [], repeatable=not wrote,
                       notice=notice, took_answer=turn.took_answer and notice is None)

    @staticmethod
    def _in_place(replies: list[Reply]) -> list[Reply]:
        """A press inside an open flow that leads to one message (the next step, the same step
        again, a stale tap's note with the current step) edits the pressed message instead of
        adding one, so a dialog answered by buttons stays one message in the chat."""
        merged = merge_replies(replies)
        if len(merged) != 1 or merged[0].attachment is not None:
            return replies
        return [replace(merged[0], replace=True)]

    def _queue(
        self, turn: Turn, inp: Input, update_id: int | None, replies: list[Reply], *, repeatable: bool
    ) -> list[Parcel] | None:
        """Store the replies in the outbox, inside the input's transaction; None if they are not."""
        if self.outbox is None or turn.chat_id is None or not replies or turn.session.erased:
            return None  # after /delete nothing about the user is stored, not even the goodbye
        return self.outbox.put(
            turn.user_id,
            turn.chat_id,
            update_id,
            merge_replies(replies),
            repeatable=repeatable,
            edit_id=inp.message_id if inp.kind is Kind.BUTTON else None,
            created_at=turn.now.isoformat(timespec="seconds"),
            sending=True,
        )

    @staticmethod
    def _already_applied(session: Session, update_id: int, now: datetime) -> bool:
        if session.last_update is None or update_id > session.last_update or not session.last_seen:
            return False
        return now - datetime.fromisoformat(session.last_seen) < REDELIVERY_WINDOW

    def on_edit(self, turn: Turn, inp: Input) -> list[Reply]:
        """The user edited an earlier message. An edit never acts as a new input. If it is the
        message that answered the current or the previous step of the open flow, its new text
        replaces that answer (the flow is rewound to that step, given the new text, and given
        again what the user typed after it) and one short line says so; any other edit changes
        nothing and gets no reply."""
        turn.route = "edit:ignored"
        session = turn.session
        index = answers.editable(turn.log, inp.message_id) if session.flow and inp.message_id else None
        if index is None:
            return []
        entry, later = turn.log[index], turn.log[index + 1 :]
        owner = self._flows.get(entry.flow)
        if owner is None or entry.text == inp.value:
            return []
        before = (session.flow, session.state, copy.deepcopy(session.data))
        try:
            with self.store.atomic():
                answers.rewind(session, entry)
                self._give(turn, owner, inp.value)
        except CoachError as exc:
            session.flow, session.state, session.data = before
            session.dirty = True
            turn.route = "edit:rejected"
            reason = exc.text if isinstance(exc, InvalidAnswer) else turn.t(exc.text_key)
            return [Reply(turn.t("core.edit_rejected", reason=reason)), *self.resume(turn)]
        del turn.log[index:]
        turn.log.append(replace(entry, text=inp.value, accepted=True))
        for step in later:  # what came after, again, from where the new answer leads
            if session.flow != step.flow or session.state != step.state or not step.accepted:
                break  # the new answer led elsewhere: what came after answered another question
            again = answers.entry_before(session, step.message_id, step.text)
            try:
                with self.store.atomic():
                    self._give(turn, owner, step.text)
            except CoachError:
                break  # that step waits for a new answer: it is shown below
            turn.log.append(again)
        turn.route = "edit:applied"
        shown = inp.value if len(inp.value) <= 60 else inp.value[:59] + "…"
        return [Reply(turn.t("core.edit_applied", text=shown)), *self.resume(turn)]

    def _route(self, turn: Turn, inp: Input) -> list[Reply]:
        if inp.kind is Kind.COMMAND:
            return self.run_command(turn, inp.value, inp.args)
        if inp.kind is Kind.EDIT:
            return self.on_edit(turn, inp)
        if inp.kind is Kind.BUTTON:
            prefix, _, payload = inp.value.partition(":")
            if turn.session.flow:  # a press between an answer and its edit: that answer can't be replayed
                turn.log.append(answers.Entry(None, turn.session.flow, turn.session.state, {}, inp.value, True))
            feature = self._prefixes.get(prefix)
            if feature is None:
                raise StaleButton()
            turn.route = f"button:{feature.name}"
            if payload.startswith(MARK):
                dialog = next((d for d in feature.dialogs if d.owns(payload)), None)
                if dialog is None:
                    raise StaleButton()
                return dialog.on_button(turn, payload)
            return feature.on_button(turn, payload)
        return self._text(turn, inp)

    def _give(self, turn: Turn, owner: Feature, text: str) -> list[Reply]:
        """Typed text for the open flow: to its dialog, or to the feature that runs it by hand."""
        dialog = self._dialogs.get(turn.session.flow or "")
        return dialog.on_text(turn, text) if dialog is not None else owner.on_text(turn, text)

    def dialog(self, name: str) -> Dialog | None:
        return self._dialogs.get(name)

    @property
    def all_dialogs(self) -> list[Dialog]:
        return list(self._dialogs.values())

    @property
    def flow_names(self) -> frozenset[str]:
        """Every flow a session may be in: the features' own and their dialogs'."""
        return frozenset(self._flows)

    def run_command(self, turn: Turn, name: str, args: str = "") -> list[Reply]:
        entry = self._commands.get(name)
        if entry is not None and name in entry[0].admin_commands and not self.is_admin(turn.user_id):
            entry = None  # indistinguishable from a command that does not exist
        if entry is None:
            turn.route = "unknown-command"
            return [self.main_menu(turn, turn.t("core.unknown_command", command=name[:40]))]
        _, handler = entry
        turn.route = f"command:{name}"
        if turn.session.flow in self._ephemeral:
            turn.session.leave()
        flow_before = turn.session.flow
        replies = handler(turn, args)
        if flow_before and turn.session.flow == flow_before and name not in ("menu", "start"):
            replies.append(self.resume_hint(turn))
        return replies

    def _text(self, turn: Turn, inp: Input) -> list[Reply]:
        session, text = turn.session, inp.value
        if session.flow:
            owner = self._flows.get(session.flow)
            if owner is None:  # a flow that no longer exists (after an upgrade)
                session.leave()
            else:
                if typed.move_of(text) == "cancel" and "cancel" in self._commands:  # typed, not /cancel
                    return self.run_command(turn, "cancel")
                turn.route = f"flow:{session.flow}"
                entry = answers.entry_before(session, inp.message_id, text)
                aside = None if session.flow in owner.open_text_flows else self._question(turn, text)
                if aside is not None:  # a question is answered, never stored as the answer
                    turn.log.append(replace(entry, accepted=False))
                    return [*aside, *self.resume(turn)]
                turn.pending = entry
                answered = self._give(turn, owner, text)
                turn.took_answer = True
                turn.pending = None
                turn.log.append(entry)
                return answered
        for feature in self.features:
            replies = feature.on_free_text(turn, text)
            if replies is not None:
                turn.route = turn.route or f"text:{feature.name}"
                return replies
        turn.route = "fallback"
        return [self.main_menu(turn, turn.t("core.fallback"))]

    # -- shared pieces ------------------------------------------------------------------
    def main_menu(self, turn: Turn, lead: str | None = None) -> Reply:
        """The main menu as one message; ``lead`` (already formatted) goes above the question."""
        menu = self._menu
        if menu is None:  # the same for everyone: built on first use
            buttons: list[Button] = []
            sections: set[str] = set()
            for entry in self.menu_entries:
                if entry.section is None:
                    buttons.append(Button(self.texts[entry.label_key], f"go:{entry.command}"))
                elif entry.section not in sections:
                    sections.add(entry.section)
                    buttons.append(Button(self.texts[f"core.section_{entry.section}"], f"go:sec:{entry.section}"))
            menu = self._menu = Reply(self.texts["core.menu"], column(buttons, 2))
        return Reply(f"{lead}\n\n{menu.text}", menu.buttons) if lead else menu

    def section_menu(self, turn: Turn, section: str) -> Reply:
        entries = [e for e in self.menu_entries if e.section == section]
        if not entries:
            raise StaleButton()
        buttons = [Button(turn.t(e.label_key), f"go:{e.command}") for e in entries]
        buttons.append(Button(turn.t("core.button_menu"), "go:menu"))
        return Reply(turn.t(f"core.section_{section}_intro"), column(buttons, 2), replace=True)

    def menu_keyboard(self, turn: Turn) -> Keyboard:
        return self.main_menu(turn).buttons

    def flow_title(self, turn: Turn, flow: str) -> str:
        owner = self._flows.get(flow)
        dialog = self._dialogs.get(flow)
        key = dialog.title if dialog is not None and dialog.title else owner.flow_titles.get(flow) if owner else None
        return turn.t(key) if key else flow

    def resume_hint(self, turn: Turn) -> Reply:
        flow = turn.session.flow or ""
        return Reply(
            turn.t("core.resume_hint", flow=self.flow_title(turn, flow)),
            ((Button(turn.t("core.button_continue"), "go:resume"),
              Button(turn.t("core.button_cancel"), "go:cancel")),),
        )

    def resume(self, turn: Turn) -> list[Reply]:
        flow = turn.session.flow
        owner = self._flows.get(flow) if flow else None
        if owner is None:
            turn.session.leave()
            return [self.main_menu(turn)]
        dialog = self._dialogs.get(flow or "")
        return dialog.show(turn) if dialog is not None else owner.prompt(turn)

    def _question(self, turn: Turn, text: str) -> list[Reply] | None:
        """Replies if some feature finds ``text`` plainly a question (``Feature.on_question``)."""
        for feature in self.features:
            replies = feature.on_question(turn, text)
            if replies is not None:
                return replies
        return None

    def _not_an_answer(self, turn: Turn, inp: Input, exc: InvalidAnswer) -> list[Reply]:
        """A flow rejected the input. Typed text that is plainly a question gets its answer,
        then the step again; anything else gets the flow's explanation with the step's buttons."""
        try:
            with self.store.atomic():
                step = self.resume(turn) if turn.session.flow else []
                if inp.kind is Kind.TEXT and turn.session.flow:
                    for feature in self.features:
                        aside = feature.on_aside(turn, inp.value)
                        if aside is not None:
                            return [*aside, *step]
        except CoachError:
            step = []
        turn.route = turn.route or "invalid"
        return [Reply(exc.text, step[-1].buttons if step else ())]

    def _stale(self, turn: Turn) -> list[Reply]:
        if turn.session.flow:
            return [Reply(turn.t("errors.stale_button")), *self.resume(turn)]
        return [self.main_menu(turn, turn.t("errors.stale_button"))]
