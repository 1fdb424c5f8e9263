"""Every step of every declared dialog, generated from the declarations: each dialog the engine
runs must have a way in below (adding a dialog without one fails), and the walk through it
from there yields the cases — for each step reached:

- a question typed mid-step is answered, the step shown again, nothing stored;
- a nonsense answer (at a step that is not free text) gets a reason and buttons, nothing stored;
- a stale button and a double tap change nothing beyond the first tap;
- an edit of the answer just given replaces it (and says so), the dialog stays where it was;
- /cancel leaves the dialog; a restart shows the same step with the answers kept.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flows.base.types import Input
from flows.engine.dialog import Dialog, StepKind
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.factories import insert_experience

USER = "tg:1001"
QUESTION = "how many months of usce do i need to be competitive?"
IGNORED_TABLES = ("users", "outbox", "unanswered", "meta", "completions")  # the session and the question log
NONSENSE = "qwzx vlorp"
MAX_STEPS = 16


def records(store: Store) -> list[tuple[object, ...]]:
    """Every row a dialog may write, as one comparable list."""
    rows: list[tuple[object, ...]] = []
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if name.startswith(("sqlite_", "_")) or name in IGNORED_TABLES:
            continue
        rows.extend((name, *row) for row in store.conn.execute(f"SELECT * FROM [{name}] ORDER BY 1"))
    return rows


def finish_goals(chat: Chat) -> None:
    chat.send("/plan")
    for typed in ("graduate", "2019", "internal medicine", "done", "Match 2028", "3", "limited", "need a visa",
                  "none yet", "0", "none", "Lagos"):
        chat.send(typed)


def with_experience(chat: Chat) -> int:
    return insert_experience(chat.engine.store, USER, type="externship", level="hands_on", specialty="Family Medicine",
                             institution="ABC Hospital", setting="outpatient", start="2026-09", end="2026-10",
                             letter="promised")


def open_card_field(field: str) -> Callable[[Chat], None]:
    def start(chat: Chat) -> None:
        chat.press_data(f"tr:f:{with_experience(chat)}:{field}")
    return start


def first_button(prefix: str) -> Callable[[Chat], None]:
    def start(chat: Chat) -> None:
        chat.press(prefix)
    return start


def sequence(*steps: Callable[[Chat], object] | str) -> Callable[[Chat], None]:
    def start(chat: Chat) -> None:
        for step in steps:
            chat.send(step) if isinstance(step, str) else step(chat)
    return start


# dialog -> (how a user gets in, what to type at a step with no button to press)
WAYS_IN: dict[str, tuple[Callable[[Chat], None], str]] = {
    "onboarding": (sequence("/plan"), "2019"),
    "profile": (sequence(finish_goals, "/profile", first_button("Specialt")), "Pediatrics"),
    "tracker_log": (sequence("/log"), "St. Mary Hospital"),
    "tracker_edit": (open_card_field("institution"), "Mercy General"),
    "vet": (sequence("/vet"), "Sunrise Clinical Externship"),
    "email": (sequence("/email"), "Amina Bello"),
    "outreach_add": (sequence("/outreach", first_button("Add a contact")), "Dr. Jane Smith"),
    "letter_writer": (sequence(lambda chat: chat.press_data(f"lt:w:{with_experience(chat)}")), "Dr. Priya Shah"),
    "interview": (sequence("/interview", first_button("Teamwork")),
                  "On my rotation I worked with nurses and residents to plan a safe discharge for a patient."),
    "reflect": (sequence("/reflect", first_button("New reflection"), first_button("anyway")), "A case of sepsis"),
    "settings": (sequence("/settings", first_button("Quiet hours")), "10pm to 6am"),
    "privacy.delete": (sequence("/delete"), ""),
    "admin.broadcast": (sequence("/broadcast"), "The clinic list is updated."),
}
NAV = ("b", "k", "d")  # Back, Skip/Keep, Done: moves, not answers


def new_engine(store: Store | None = None, clock: Clock | None = None) -> Engine:
    engine = Engine(store or Store.memory(), all_features(), clock=clock or Clock(), admins=[USER])
    engine.migrate()
    return engine


def declared(engine: Engine, name: str) -> Dialog:
    dialog = engine.dialog(name)
    assert dialog is not None, name
    return dialog


def place(engine: Engine) -> tuple[str | None, str | None]:
    session = engine.store.load_session(USER)
    return session.flow, session.state


def answers_of(chat: Chat, dialog: str) -> list[str]:
    """The pressable answers of the dialog's current step (its own buttons, not its moves)."""
    found = []
    for button in chat.buttons:
        parts = button.data.split(":")
        if len(parts) >= 4 and parts[1].startswith("~") and parts[3] in ("a", "t") and parts[3] not in NAV:
            found.append(button.data)
    return found


def advance(chat: Chat, dialog: str, typed: str) -> None:
    before = place(chat.engine)
    pressable = answers_of(chat, dialog)
    if pressable:
        chat.press_data(pressable[0])
    elif typed:
        chat.send(typed)
    if place(chat.engine) == before:  # a pick-several step: one pick, then Done
        done = next((b.data for b in chat.buttons if b.data.endswith(":d")), None)
        if done:
            chat.press_data(done)


def walk(dialog: str) -> list[str]:
    """The steps of ``dialog`` a user meets from its way in, taking the first answer each time."""
    engine = new_engine()
    chat = Chat(engine, USER)
    start, typed = WAYS_IN[dialog]
    start(chat)
    seen: list[str] = []
    for _ in range(MAX_STEPS):
        flow, state = place(engine)
        if flow != dialog or state is None or state in seen:
            break
        seen.append(state)
        advance(chat, dialog, typed)
    return seen


def reach(dialog: str, step: str) -> tuple[Engine, Chat]:
    engine = new_engine()
    chat = Chat(engine, USER)
    start, typed = WAYS_IN[dialog]
    start(chat)
    for _ in range(MAX_STEPS):
        if place(engine) == (dialog, step):
            return engine, chat
        advance(chat, dialog, typed)
    raise AssertionError(f"never reached {dialog}:{step}")


CASES = [(dialog, step) for dialog in WAYS_IN for step in walk(dialog)]


def test_every_declared_dialog_has_a_way_in_and_is_walked() -> None:
    declared = {d.name for d in new_engine().all_dialogs}
    assert declared == set(WAYS_IN), "add the new dialog's way in to WAYS_IN"
    walked = {dialog for dialog, _ in CASES}
    assert walked == declared, f"not entered: {declared - walked}"
    assert len(CASES) >= 40


@pytest.mark.parametrize(("dialog", "step"), CASES)
def test_a_question_mid_step(dialog: str, step: str) -> None:
    engine, chat = reach(dialog, step)
    rows = records(engine.store)
    chat.send(QUESTION)
    assert chat.route.startswith("faq:aside"), chat.route
    assert place(engine) == (dialog, step) and records(engine.store) == rows
    assert chat.replies[-1].buttons or declared(engine, dialog).by_name[step].kind is StepKind.TEXT


@pytest.mark.parametrize(("dialog", "step"), CASES)
def test_nonsense_gets_a_reason_and_the_buttons(dialog: str, step: str) -> None:
    engine, chat = reach(dialog, step)
    kind = declared(engine, dialog).by_name[step].kind
    if kind is StepKind.TEXT:
        pytest.skip("any text is an answer to a free-text step")
    rows, shown = records(engine.store), chat.replies[-1].buttons
    chat.send(NONSENSE)
    assert place(engine) == (dialog, step) and records(engine.store) == rows
    assert chat.route in ("invalid", "faq:aside") or chat.route.startswith(("flow:", "faq:")), chat.route
    assert chat.replies and chat.replies[-1].buttons == shown  # the same buttons, to tap instead


@pytest.mark.parametrize(("dialog", "step"), CASES)
def test_a_stale_button_and_a_double_tap(dialog: str, step: str) -> None:
    engine, chat = reach(dialog, step)
    rows = records(engine.store)
    chat.press_data(declared(engine, dialog).data("nostep", "a", "x"))
    assert chat.route == "stale" and chat.notice and place(engine) == (dialog, step)
    assert records(engine.store) == rows
    pressable = answers_of(chat, dialog)
    if not pressable or pressable[0].split(":")[3] == "t":
        return  # typed only, or a toggle (a second tap takes it back, as it says)
    chat.press_data(pressable[0])
    after, rows = place(engine), records(engine.store)
    chat.press_data(pressable[0])  # the second tap of a double tap, on the same message
    assert chat.route == "stale" and place(engine) == after and records(engine.store) == rows


@pytest.mark.parametrize(("dialog", "step"), CASES)
def test_an_edit_of_the_answer_just_given(dialog: str, step: str) -> None:
    engine, chat = reach(dialog, step)
    typed = WAYS_IN[dialog][1]
    if answers_of(chat, dialog) or not typed or declared(engine, dialog).by_name[step].kind is not StepKind.TEXT:
        pytest.skip("answered by a button here: a typed edit has nothing to replace")
    chat._do(Input.text(USER, typed, message_id=900))
    after = place(engine)
    if after[0] != dialog:
        pytest.skip("the answer ended the dialog")
    chat._do(Input.edit(USER, typed + " (edited)", 900))
    assert chat.route == "edit:applied", chat.route
    assert "Changed your answer" in chat.text and place(engine) == after
    assert any("(edited)" in str(value) for row in records(engine.store) for value in row) or dialog in (
        "email", "admin.broadcast")  # these keep the answer in the session until the end


@pytest.mark.parametrize(("dialog", "step"), CASES)
def test_cancel_and_a_restart(dialog: str, step: str) -> None:
    engine, chat = reach(dialog, step)
    shown = chat.replies[-1].text
    restarted = new_engine(engine.store, engine.clock)  # type: ignore[arg-type]
    outcome = restarted.handle(Input.button(USER, "go:resume"))
    # the same step (a tapped answer may have been shown above it before the restart)
    assert place(restarted) == (dialog, step) and shown.endswith(outcome.replies[-1].text)
    Chat(restarted, USER).send("/cancel")
    assert place(restarted) == (None, None)
