"""Every step of every flow, reached by walking each flow from its command: a question typed
mid-step is answered and stored nowhere, a stale button changes nothing, a restart shows the
same step, and typed "cancel" leaves the flow. Adding a flow to the list below adds these cases."""

from __future__ import annotations

import pytest

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Chat, Clock

# A command that opens a flow, and what to type at a step that has no buttons to press.
FLOWS = {
    "plan": "2019",
    "log": "St. Mary Hospital",
    "vet": "Sunrise Clinical Externship",
    "email": "Amina Bello",
    "settings": "Lagos",
    "delete": "",
}
QUESTION = "how many months of usce do i need to be competitive?"
IGNORED_TABLES = ("users", "outbox", "unanswered", "meta", "completions")  # the session and the question log
NAV = ("back", "cancel", "menu", "keep", "skip", "stop", "go:")
MAX_STEPS = 12


def records(store: Store) -> list[tuple[object, ...]]:
    """Every row a flow may write, as one comparable list."""
    rows: list[tuple[object, ...]] = []
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if name.startswith(("sqlite_", "_")) or name in IGNORED_TABLES:
            continue
        rows.extend((name, *row) for row in store.conn.execute(f"SELECT * FROM [{name}] ORDER BY 1"))
    return rows


def place(engine: Engine, user: str) -> tuple[str | None, str | None]:
    session = engine.store.load_session(user)
    return session.flow, session.state


def advance(chat: Chat, typed: str) -> None:
    """One step forward: the first button that answers, else the flow's typed answer; at a
    pick-several step, one pick and then Done."""
    before = place(chat.engine, chat.user)
    answers = [b for b in chat.buttons if not any(n in b.label.lower() or b.data.startswith(n) for n in NAV)]
    done = next((b for b in chat.buttons if "done" in b.label.lower()), None)
    if answers:
        chat.press_data(answers[0].data)
    else:
        chat.send(typed)
    done = next((b for b in chat.buttons if "done" in b.label.lower()), done)
    if place(chat.engine, chat.user) == before and done is not None:
        chat.press_data(done.data)


def steps(command: str, typed: str) -> list[tuple[str | None, str | None]]:
    """The flow/state pairs a walk from ``command`` reaches (for the parametrised cases)."""
    store = Store.memory()
    engine = Engine(store, all_features(), clock=Clock())
    engine.migrate()
    chat = Chat(engine)
    chat.send(f"/{command}")
    seen: list[tuple[str | None, str | None]] = []
    if place(engine, chat.user)[0] is None:  # a menu first: its first choice opens the flow
        advance(chat, typed)
    for _ in range(MAX_STEPS):
        here = place(engine, chat.user)
        if here[0] is None or here in seen:
            break
        seen.append(here)
        advance(chat, typed)
    return seen


CASES = [(command, index) for command, typed in FLOWS.items() for index in range(len(steps(command, typed)))]


def reach(command: str, index: int) -> tuple[Engine, Chat]:
    store = Store.memory()
    engine = Engine(store, all_features(), clock=Clock())
    engine.migrate()
    chat = Chat(engine)
    chat.send(f"/{command}")
    if place(engine, chat.user)[0] is None:
        advance(chat, FLOWS[command])
    for _ in range(index):
        advance(chat, FLOWS[command])
    return engine, chat


def test_every_listed_flow_has_steps() -> None:
    assert all(steps(command, typed) for command, typed in FLOWS.items())
    assert len(CASES) >= 30


@pytest.mark.parametrize(("command", "index"), CASES)
def test_a_question_mid_step_is_answered_and_stored_nowhere(command: str, index: int) -> None:
    engine, chat = reach(command, index)
    before, rows = place(engine, chat.user), records(engine.store)
    chat.send(QUESTION)
    assert chat.route.startswith("faq:aside"), (before, chat.route)
    assert "month" in chat.text.lower()
    assert place(engine, chat.user) == before
    assert records(engine.store) == rows


@pytest.mark.parametrize(("command", "index"), CASES)
def test_a_stale_button_changes_nothing(command: str, index: int) -> None:
    engine, chat = reach(command, index)
    before, rows = place(engine, chat.user), records(engine.store)
    chat.press_data("ob:a:nostate:0")  # a button from no current step
    assert chat.route == "stale"
    assert place(engine, chat.user) == before
    assert records(engine.store) == rows


@pytest.mark.parametrize(("command", "index"), CASES)
def test_a_restart_shows_the_same_step(command: str, index: int) -> None:
    engine, chat = reach(command, index)
    before = place(engine, chat.user)
    shown = chat.replies[-1].text
    restarted = Engine(engine.store, all_features(), clock=engine.clock)  # a new process, the same file
    outcome = restarted.handle(Input.button(chat.user, "go:resume"))
    assert place(restarted, chat.user) == before
    assert outcome.replies and outcome.replies[-1].text == shown


@pytest.mark.parametrize(("command", "index"), CASES)
def test_typed_cancel_leaves_the_flow(command: str, index: int) -> None:
    engine, chat = reach(command, index)
    chat.send("cancel")
    assert place(engine, chat.user) == (None, None)
