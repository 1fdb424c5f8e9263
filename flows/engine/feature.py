"""What a feature is made of: the :class:`Feature` base (commands, buttons, dialogs, menu
entries, tables), the :class:`Turn` it answers one input in, and :class:`MenuEntry`.
The engine (``engine.py``) routes inputs to them; features import these names from there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Migrations

from flows.base.content import Texts
from flows.base.errors import StaleButton
from flows.base.types import Reply, Session
from flows.engine import answers
from flows.engine.dialog import Dialog
from flows.storage.store import Store

if TYPE_CHECKING:
    from flows.engine.engine import Engine


@dataclass(slots=True)
class Turn:
    """Everything a feature needs to answer one input."""

    user_id: str
    session: Session
    store: Store
    texts: Texts
    now: datetime
    engine: Engine
    route: str = ""
    chat_id: int | None = None
    changed: set[str] = field(default_factory=set)  # tables a feature changed, e.g. "experiences"
    log: list[answers.Entry] = field(default_factory=list)  # what the open flow was told (answers.py)
    pending: answers.Entry | None = None  # the message the open flow is reading now
    took_answer: bool = False  # the open flow took the typed text as its step's answer
    memo: dict[str, Any] = field(default_factory=dict)  # what a feature read once this turn (see its use)

    def t(self, key: str, **values: object) -> str:
        """A text from the catalogue with ``values`` escaped into it."""
        return self.texts.fmt(key, **values) if values else self.texts[key]


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A menu button: its label's text key and the command it runs. Entries with a ``section``
    sit in that section's submenu (one main-menu button per section) so the main menu stays
    short on a phone."""

    label_key: str
    command: str
    order: int = 50
    section: str | None = None


CommandHandler = Callable[[Turn, str], list[Reply]]


class Feature:
    """A capability: its commands, buttons, flows, menu entries and tables.

    Subclasses fill the class attributes and override the hooks they need.
    Button data is ``"<prefix>:<payload>"``; the engine routes it to the feature
    whose ``prefix`` matches.
    """

    name: str = ""
    prefix: str = ""
    migrations: Migrations | None = None
    flows: tuple[str, ...] = ()  # names of the flows this feature owns
    menu_items: tuple[MenuEntry, ...] = ()
    deep_links: tuple[str, ...] = ()  # /start payloads that run the command of the same name
    flow_titles: dict[str, str] = {}  # flow -> text key naming it ("the checklist")
    ephemeral_flows: tuple[str, ...] = ()  # one-step flows that any new command simply ends
    admin_commands: frozenset[str] = frozenset()  # others get the unknown-command answer
    open_text_flows: tuple[str, ...] = ()  # flows whose answer may itself be a question ("type your question")
    dialogs: tuple[Dialog, ...] = ()  # multi-step flows declared as steps (dialog.py); the engine runs them

    def commands(self) -> dict[str, CommandHandler]:
        return {}

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        raise StaleButton()

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        """Text while one of this feature's flows is waiting for an answer."""
        raise StaleButton()

    def prompt(self, turn: Turn) -> list[Reply]:
        """Show the current step of this feature's active flow again (resume)."""
        return []

    def on_free_text(self, turn: Turn, text: str) -> list[Reply] | None:
        """Text no flow is waiting for; return None to pass."""
        return None

    def on_aside(self, turn: Turn, text: str) -> list[Reply] | None:
        """Text an open flow rejected as an answer: replies only if it is plainly something
        else this feature answers (a question); None to pass. The flow stays where it was."""
        return None

    def on_question(self, turn: Turn, text: str) -> list[Reply] | None:
        """Text typed while a flow waits for an answer, before the flow sees it: replies only
        if it is unmistakably a question (then it is answered, or honestly declined, and the
        step shown again; it is never stored as an answer); None to let the flow read it."""
        return None

    def help_keys(self) -> tuple[str, ...]:
        return ()

    def on_start(self, turn: Turn) -> list[Reply]:
        """Offers added to the /start welcome (text and buttons) when no flow is active."""
        return []

    def on_changed(self, turn: Turn, changed: set[str]) -> None:
        """Called at the end of a turn in which some feature marked records as changed
        (``turn.changed.add("experiences")``), e.g. to reschedule reminders."""
