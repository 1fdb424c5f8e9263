"""The externship check (/vet) step by step: typed answers, Back, /cancel and resuming, the name,
the steps drawn from the checklist, and checks saved by earlier versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlite_utils import Database

from flows.base.content import ContentError, Texts
from flows.engine.engine import Engine
from flows.features.vet import Vetting, load_checklist
from flows.features.vet import migrations as vet_migrations
from flows.storage.store import Store, core_migrations
from tests.chat import Chat, Clock
from tests.vet_walk import COUNT, GOOD, ITEMS, answer, answers_of, features, program_rows, texts_in, walk


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Texts:
    return texts_in(tmp_path_factory.mktemp("texts"))


@pytest.fixture
def engine(store: Store, clock: Clock, catalogue: Texts) -> Engine:
    engine = Engine(store, features(), text_catalogue=catalogue, clock=clock)
    engine.migrate()
    return engine


# -- typed answers ------------------------------------------------------------------------------


def test_typed_answers_work_and_nonsense_is_re_asked(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("Typed Program")
    chat.send("Yes!")
    assert f"2/{COUNT}" in chat.text
    chat.send("not sure")
    assert f"3/{COUNT}" in chat.text
    chat.send("banana <b>")
    assert "Yes, No or Not sure" in chat.text
    [row] = program_rows(store)
    assert answers_of(store, int(row["id"])) == {"duties": "y", "hands_on": "?"}  # type: ignore[call-overload]


def test_answers_typed_the_way_people_type_them(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("Typed Words")
    for typed in ("yep", "nope", "idk", "not sure yet", "Yes, they do", "✅", "?", "nah"):
        chat.send(typed)
    [row] = program_rows(store)
    assert answers_of(store, int(row["id"])) == {  # type: ignore[call-overload]
        "duties": "y", "hands_on": "n", "attendings": "?", "workflow": "?", "evaluation": "y",
        "affiliation": "y", "matched": "?", "curriculum": "n"}
    assert f"9/{COUNT}" in chat.text


def test_typed_skip_is_not_sure_and_says_so(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("Skipper")
    chat.send("skip")
    assert "put that one down as “Not sure”" in chat.text and f"2/{COUNT}" in chat.text
    chat.send("back")
    assert f"1/{COUNT}" in chat.text and "Your answer so far: Not sure" in chat.text
    chat.send("keep")  # typed: the answer stays
    assert f"2/{COUNT}" in chat.text
    assert answers_of(store, 1) == {"duties": "?"}


def test_skip_and_back_typed_at_the_name_are_not_a_name(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    for typed in ("skip", "back"):
        chat.send(typed)
        assert "I need a name" in chat.text
    assert program_rows(store) == []


def test_changing_one_answer_by_typing(chat: Chat, store: Store) -> None:
    walk(chat, "Typed Change", {"schedule": "u"})
    chat.press("Change answers")
    chat.press("Sample weekly schedule")
    chat.send("back")  # as the Back button: the answer stays, the list again
    assert "tap an item to change its answer" in chat.text and answers_of(store, 1)["schedule"] == "?"
    chat.press("Sample weekly schedule")
    chat.send("yeah")
    assert "Verdict now: 🟢 Every sign confirmed" in chat.text and answers_of(store, 1)["schedule"] == "y"
    assert chat.engine.store.load_session(chat.user).flow is None


# -- Back, /cancel, resuming ------------------------------------------------------------------


def test_back_shows_the_earlier_answer_and_back_from_the_first_item_renames(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("First Name")
    answer(chat, "y")
    answer(chat, "u")
    chat.press("Back")
    assert f"2/{COUNT}" in chat.text and "Your answer so far: Not sure" in chat.text
    assert chat.replies[0].replace  # the question message is edited in place
    chat.press("Back")
    assert f"1/{COUNT}" in chat.text and "Your answer so far: Yes" in chat.text
    chat.press("Back")
    assert "saved as First Name" in chat.text
    chat.send("Second Name")
    assert f"Second Name · 1/{COUNT}" in chat.text
    chat.press("Back")
    chat.press("Keep this name")
    assert f"Second Name · 1/{COUNT}" in chat.text
    assert [r["name"] for r in program_rows(store)] == ["Second Name"]


def test_cancel_mid_way_keeps_the_answers_and_vet_resumes_later(chat: Chat, clock: Clock) -> None:
    chat.send("/vet")
    chat.send("Paused Program")
    for _ in range(4):
        answer(chat, "y")
    chat.send("/cancel")
    assert "Stopped the externship check" in chat.text
    clock.advance(days=3)
    chat.send("/vet")
    assert "Paused Program" in chat.text and f"4 of {COUNT} answered" in chat.text
    chat.press("Continue")
    assert f"5/{COUNT}" in chat.text
    for item in ITEMS[4:]:
        answer(chat, GOOD[item.id])
    assert "Every sign confirmed" in chat.text


def test_an_unfinished_program_shows_in_the_list_and_continues_from_there(chat: Chat) -> None:
    chat.send("/vet")
    chat.send("Half Done")
    answer(chat, "y")
    chat.send("/cancel")
    chat.send("/programs")
    assert "⏸ Half Done" in [b.label for b in chat.buttons]
    chat.press("Half Done")
    assert f"1 of {COUNT} answered" in chat.text
    chat.press("Continue")
    assert f"2/{COUNT}" in chat.text


def test_a_restart_resumes_at_the_same_question(tmp_path: Path, clock: Clock, catalogue: Texts) -> None:
    path = tmp_path / "coach.db"
    first = Engine(Store.open(path), features(), text_catalogue=catalogue, clock=clock)
    first.migrate()
    chat = Chat(first)
    chat.send("/vet")
    chat.send("Survivor")
    answer(chat, "y")
    answer(chat, "n")
    first.store.close()
    second = Engine(Store.open(path), features(), text_catalogue=catalogue, clock=clock)
    second.migrate()
    chat = Chat(second)
    chat.send("/start")
    assert "middle of the externship check" in chat.text
    chat.press("Continue")
    assert f"Survivor · 3/{COUNT}" in chat.text


def test_starting_a_new_one_leaves_the_unfinished_one_alone(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("Old One")
    answer(chat, "y")
    chat.send("/vet")
    chat.press("Start a new one")
    chat.send("New One")
    assert [r["name"] for r in program_rows(store)] == ["Old One", "New One"]


def test_other_commands_mid_way_offer_to_continue(chat: Chat) -> None:
    chat.send("/vet")
    chat.send("Busy Program")
    answer(chat, "y")
    chat.send("/help")
    assert "middle of the externship check" in chat.text
    chat.press("Continue")
    assert f"2/{COUNT}" in chat.text


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\x00\x07", "x" * 2000, "🏥" * 81])
def test_bad_names_are_re_asked_and_nothing_is_saved(chat: Chat, store: Store, name: str) -> None:
    chat.send("/vet")
    chat.send(name)
    assert "I need a name" in chat.text or "shorter one" in chat.text
    assert program_rows(store) == []
    chat.send("Fine Name")
    assert f"1/{COUNT}" in chat.text


def test_a_long_name_says_how_long_it_was(chat: Chat) -> None:
    chat.send("/vet")
    chat.send("x" * 2000)
    assert "2000 characters" in chat.text


def test_html_in_a_name_comes_back_escaped_and_unharmed(chat: Chat, store: Store) -> None:
    name = "<b>ABC</b> & Sons' \"Clinic\" — مستشفى"
    chat.send("/vet")
    chat.send(name)
    assert "&lt;b&gt;ABC&lt;/b&gt; &amp; Sons" in chat.replies[0].text
    assert name in chat.text
    assert program_rows(store)[0]["name"] == name


# -- the steps, and checks saved by earlier versions ------------------------------------------


def test_the_steps_are_the_name_then_the_checklist_items() -> None:
    [dialog] = Vetting().dialogs
    assert [step.name for step in dialog.steps] == ["name", *(item.id for item in ITEMS)]
    assert dialog.name == "vet"  # the flow name sessions were saved under
    assert dialog.next_of(ITEMS[-1].id, {}) == "done" and dialog.back_of(ITEMS[0].id, {}) == "name"


def test_a_checklist_item_may_not_take_a_step_name_of_the_dialog(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_text("checks:\n  - id: name\n    label: L\n    question: Q?\n    why: W\n    ask: A?\nred_flags: []\n",
                    encoding="utf-8")
    with pytest.raises(ContentError, match=r"checklist.yaml:2: id 'name' is reserved"):
        load_checklist(path)


def test_a_check_open_before_the_upgrade_resumes_where_it_was(tmp_path: Path, clock: Clock, catalogue: Texts) -> None:
    """Sessions saved by the hand-written flow (states item, edit, rename; the item by its index)
    are moved to the dialog's steps, named after the items."""

    from flows.features.vet import migrations as vet_migrations
    from flows.storage.store import core_migrations

    store = Store.open(tmp_path / "coach.db")
    core_migrations.apply(store.db)
    vet_migrations.apply(store.db, stop_before="m003_sessions_at_dialog_steps")
    old = {"tg:1": ("item", {"p": 1, "i": 3}), "tg:2": ("edit", {"p": 2, "i": 0}), "tg:3": ("rename", {"p": 3}),
           "tg:4": ("item", {"p": 4, "i": 99}), "tg:5": ("name", {})}
    for n, (user, (state, data)) in enumerate(old.items(), 1):
        store.db.table("users").insert({"user_id": user, "first_seen": "x", "last_seen": "x", "flow": "vet",
                                        "state": state, "data": json.dumps({**data, "_answers": [{"s": state}]})})
        store.db.table("programs").insert({"id": n, "user_id": user, "name": f"P{n}", "created_at": "x",
                                           "updated_at": "x", "finished": int(state != "item")})
    engine = Engine(store, features(), text_catalogue=catalogue, clock=clock)
    engine.migrate()
    sessions = {user: store.load_session(user) for user in old}
    assert [(s.state, s.data) for s in sessions.values()] == [
        (ITEMS[3].id, {"p": 1}), (ITEMS[0].id, {"p": 2, "_only": [ITEMS[0].id]}), ("name", {"p": 3, "_only": ["name"]}),
        (None, {}), ("name", {})]
    chat = Chat(engine, "tg:1")
    chat.press_data("go:resume")
    assert f"P1 · 4/{COUNT}" in chat.text
    chat = Chat(engine, "tg:2")
    chat.press_data("go:resume")
    assert "Changing an answer" in chat.text
    chat.press("Back")
    assert "tap an item to change its answer" in chat.text


def test_answers_saved_under_the_old_checklist_carry_over() -> None:
    db = Database(memory=True)
    core_migrations.apply(db)
    vet_migrations.apply(db, stop_before="m002_checklist_from_the_guide")
    db.execute("INSERT INTO users (user_id, first_seen, last_seen) VALUES ('tg:1', 'x', 'x')")
    db.table("programs").insert({"id": 1, "user_id": "tg:1", "name": "Old", "created_at": "x", "updated_at": "x",
                                 "verdict": "promising", "finished": 1})
    for item, value in {"guar_match": "y", "letter": "n", "fee": "y", "guar_lor": "n", "duties": "y"}.items():
        db.table("program_answers").insert({"program_id": 1, "user_id": "tg:1", "item_id": item, "answer": value,
                                            "answered_at": "x"})
    vet_migrations.apply(db)
    answers = {r["item_id"]: r["answer"] for r in db.table("program_answers").rows}
    assert answers == {"guarantee": "y", "evaluation": "n", "duties": "y"}
    assert db.table("programs").get(1)["verdict"] == "red_flags"  # a guarantee: the guide says avoid
