from __future__ import annotations

import pytest

from flows.base.types import Button, Input, Kind
from flows.engine.engine import Engine
from flows.engine.machine import FlowMachine, FlowSpec
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Chat, Clock


def test_start_welcomes_a_new_user_in_one_message_with_the_menu(chat: Chat) -> None:
    [welcome] = chat.send("/start")
    assert "Welcome to USCE Coach" in chat.text
    data = [b.data for row in welcome.buttons for b in row]
    assert data[0] == "ob:s"  # the goal button on top
    [menu] = chat.send("/menu")
    assert data[1:] == [b.data for row in menu.buttons for b in row]
    assert len(data) <= 8


def test_start_again_says_welcome_back(chat: Chat, engine: Engine) -> None:
    chat.send("/start")
    chat.send("/start")  # nothing told yet: "everything you told me is still here" would mean nothing
    assert "Welcome to USCE Coach" in chat.text
    with engine.store.atomic():
        engine.store.record_completion(chat.user, "onboarding", engine.clock())
    chat.send("/start")
    assert "Welcome back" in chat.text


def test_every_menu_button_leads_somewhere(chat: Chat) -> None:
    chat.send("/menu")
    for button in chat.buttons:
        chat.send("/menu")
        chat.press_data(button.data)
        assert chat.route != "stale", button
        assert "older message" not in chat.text, button


def test_unknown_text_gets_a_friendly_answer_with_the_menu(chat: Chat) -> None:
    chat.send("/zzz")
    assert "/zzz" in chat.text and "menu" in chat.text.lower()


def test_forged_button_data_is_refused_politely(chat: Chat) -> None:
    chat.press_data("nope:../../etc")
    assert "older message" in chat.text
    chat.press_data("")
    assert "older message" in chat.text


def test_cancel_with_nothing_to_cancel(chat: Chat) -> None:
    chat.send("/cancel")
    assert "nothing to cancel" in chat.text.lower()


def test_command_parsing() -> None:
    inp = Input.parse("u", "/Start@usce_bot vet")
    assert (inp.kind, inp.value, inp.args) == (Kind.COMMAND, "start", "vet")
    assert Input.parse("u", "/ hello").kind is Kind.TEXT
    assert Input.parse("u", "hello /x").kind is Kind.TEXT


def test_button_data_over_64_bytes_cannot_be_built() -> None:
    with pytest.raises(ValueError):
        Button("x", "a" * 65)


def test_session_survives_a_new_engine_on_the_same_database(tmp_path: object) -> None:
    path = f"{tmp_path}/db.sqlite"
    first = Engine(Store.open(path), all_features())
    first.migrate()
    first.handle(Input.command("tg:1", "start"))
    session = first.store.load_session("tg:1")
    session.enter("demo", "step2", {"answer": "kept"})
    with first.store.atomic():
        first.store.save_session(session, first.clock())
    first.store.close()
    second = Engine(Store.open(path), all_features())
    second.migrate()  # re-runnable
    again = second.store.load_session("tg:1")
    assert (again.flow, again.state, again.data) == ("demo", "step2", {"answer": "kept"})


def test_flow_machine_fires_on_a_shared_machine() -> None:
    def ready(flag: bool) -> bool:
        return flag

    machine = FlowMachine(
        FlowSpec(
            "demo",
            ["a", "b", "c"],
            [
                {"trigger": "next", "source": "a", "dest": "b", "conditions": ready},
                {"trigger": "next", "source": "b", "dest": "c"},
            ],
            "a",
        )
    )
    assert machine.fire("next", "a", False) == "a"
    assert machine.fire("next", "a", True) == "b"
    assert machine.fire("next", "c", True) == "c"  # not allowed from c: stays
    with pytest.raises(ValueError, match="no trigger 'nope'"):  # a misspelt trigger is a bug
        machine.fire("nope", "a")
    assert "a --> b: next [ready]" in machine.mermaid()


def test_migrations_can_run_twice(store: Store) -> None:
    engine = Engine(store, all_features())
    engine.migrate()
    engine.migrate()
    assert "users" in store.db.table_names()


def test_a_redelivered_update_is_not_applied_twice(chat: Chat, engine: Engine) -> None:
    first = engine.handle(Input.command(chat.user, "help"), update_id=10)
    assert first.replies
    again = engine.handle(Input.command(chat.user, "help"), update_id=10)
    assert again.route == "duplicate" and again.replies == []
    older = engine.handle(Input.text(chat.user, "hello"), update_id=9)
    assert older.route == "duplicate"
    newer = engine.handle(Input.command(chat.user, "menu"), update_id=11)
    assert newer.route == "command:menu"


def test_update_ids_restarting_after_a_quiet_week_are_not_mistaken_for_duplicates(
    chat: Chat, engine: Engine, clock: Clock
) -> None:
    engine.handle(Input.command(chat.user, "help"), update_id=900_000)
    clock.advance(days=8)  # Telegram picks a new random starting id after a week without updates
    later = engine.handle(Input.command(chat.user, "menu"), update_id=12)
    assert later.route == "command:menu"


def test_a_redelivered_answer_inside_a_flow_shows_the_current_step_again(chat: Chat, engine: Engine) -> None:
    engine.handle(Input.command(chat.user, "vet"), update_id=1)
    engine.handle(Input.text(chat.user, "Sunrise Externship"), update_id=2)
    step = engine.store.load_session(chat.user).state
    again = engine.handle(Input.text(chat.user, "Sunrise Externship"), update_id=2)
    assert again.route == "duplicate" and again.replies
    assert engine.store.load_session(chat.user).state == step
    names = engine.store.conn.execute("SELECT count(*) FROM programs WHERE user_id = ?", (chat.user,)).fetchone()
    assert names == (1,)


def test_replies_without_buttons_fold_into_the_next_message() -> None:
    from flows.base.types import Attachment, Reply, merge_replies

    menu = Reply("Menu", ((Button("A", "go:a"),),))
    assert merge_replies([Reply("Saved."), menu]) == [Reply("Saved.\n\nMenu", menu.buttons)]
    with_buttons = Reply("Pick", ((Button("B", "go:b"),),))
    assert merge_replies([with_buttons, menu]) == [with_buttons, menu]
    photo = Reply("pic", attachment=Attachment("t.png", b"x", "photo"))
    assert merge_replies([Reply("Here:"), photo]) == [Reply("Here:"), photo]
    assert len(merge_replies([Reply("x" * 3000), Reply("y" * 3000)])) == 2


def test_an_edited_message_changes_nothing_and_gets_no_reply(chat: Chat, engine: Engine) -> None:
    chat.send("/settings")
    chat.press("Quiet hours")  # the step waits for typed hours
    before = engine.store.user(chat.user)
    outcome = engine.handle(Input.edit(chat.user, "23:00-06:00", message_id=7), update_id=99)
    assert (outcome.replies, outcome.route) == ([], "edit:ignored")
    assert engine.store.user(chat.user) == before
    assert engine.store.db.table("nudge_settings").count == 0  # the edit set no quiet hours
    chat.send("22:00-10:00")  # the step still takes the next real answer
    assert "22:00–10:00" in chat.text


def test_an_edit_from_a_user_never_seen_stores_nothing(engine: Engine) -> None:
    assert engine.handle(Input.edit("tg:5", "hello", message_id=1)).replies == []
    assert engine.store.user("tg:5") is None


def test_typed_lines_carry_their_message_id() -> None:
    assert Input.parse("u", "/help", message_id=4).message_id == 4
    assert Input.parse("u", "hello", message_id=5).message_id == 5
