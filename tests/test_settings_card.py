"""/settings as a user sees it: the card, the time zone and quiet hours (typed or tapped, one at a
time), pause and how many reminders, and what each change does to the waiting nudges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features.nudges import reschedule
from tests.chat import Chat, Clock
from tests.test_nudges import USER, add_experience, join, rows, send_due


def test_changing_the_time_zone_in_settings_moves_every_waiting_nudge(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="Asia/Kolkata")
    chat.send("/settings")
    assert "Asia/Kolkata (UTC+05:30)" in chat.text
    chat.press("Time zone")
    chat.send("new york")
    assert "America/New_York" in chat.text and "04:00" in chat.text  # 09:00 UTC is 04:00 in New York
    assert rows(engine)["ms:secure"]["due_at"] == "2028-03-01T14:30:00+00:00"  # 09:30 EST
    assert rows(engine)["ms:apply"]["due_at"] == "2029-03-01T14:30:00+00:00"


def test_quiet_hours_push_the_morning_slot(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="Europe/London")
    chat.send("/settings")
    chat.press("Quiet hours")
    chat.send("22:00-10:00")
    assert "22:00–10:00" in chat.text
    assert rows(engine)["ms:secure"]["due_at"] == "2028-03-01T10:00:00+00:00"
    chat.press("Quiet hours")
    chat.press("No quiet hours")
    assert rows(engine)["ms:secure"]["due_at"] == "2028-03-01T09:30:00+00:00"


def test_quiet_hours_typed_as_people_type_them_and_back_changes_nothing(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="UTC")
    chat.send("/settings")
    chat.press("Quiet hours")
    assert "Now: 21:00–09:00" in chat.text
    chat.send("10pm to 6am")
    assert "Quiet hours set to 22:00–06:00" in chat.text and engine.store.load_session(USER).flow is None
    chat.press("Quiet hours")
    chat.press("Back")
    assert "Quiet hours: 22:00–06:00" in chat.text and engine.store.load_session(USER).flow is None
    chat.press("Quiet hours")
    chat.send("none")
    assert "No quiet hours" in chat.text
    chat.press("Time zone")
    chat.send("keep")  # typed: the same as Back
    assert "Time zone: UTC" in chat.text and rows(engine)["ms:secure"]["due_at"] == "2028-03-01T09:30:00+00:00"


# -- pause, amount ------------------------------------------------------------------------------
def test_pause_holds_everything_and_resume_releases_it(chat: Chat, engine: Engine, clock: Clock) -> None:
    join(engine, application="2029-09", timezone="UTC")
    chat.send("/settings")
    chat.press("Pause")
    assert "paused" in chat.text.lower()
    assert {r["status"] for r in rows(engine).values()} == {"held"}
    clock.now = datetime(2028, 3, 1, 10, 0, tzinfo=UTC)
    assert send_due(engine) == []
    chat.send("/settings")
    chat.press("Resume")
    assert {r["status"] for r in rows(engine).values()} == {"scheduled"}
    assert [n.key for n in send_due(engine)] == ["ms:secure"]


def test_how_much_to_receive(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="UTC")
    add_experience(engine.store, 3, "2026-12")
    reschedule(engine.store, USER, engine.clock())
    assert {r["kind"] for r in rows(engine).values()} == {"milestone", "letter", "reflection"}
    chat.send("/settings")
    chat.press("Stages")
    assert {r["kind"] for r in rows(engine).values()} == {"milestone"}
    assert "✓ Stages" in [b.label for b in chat.buttons]
    chat.press("Nothing")
    assert rows(engine) == {}
    chat.press("All")
    assert len(rows(engine)) == 5


def test_settings_refuse_bad_answers_kindly(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="UTC")
    chat.send("/settings")
    chat.press("Time zone")
    for text in ["", "x" * 4000, "<b>Atlantis</b> & co", "🌍🌍", "\u202eلاهور\x00", "+25"]:
        if text:
            chat.send(text)
        else:  # an empty message cannot be typed; a forged city button comes closest
            chat.press_data("n:zc:99")
        assert "couldn't find" in chat.text or "older message" in chat.text
        assert "<b>Atlantis" not in "".join(r.text for r in chat.replies)  # escaped, never markup
    assert "&lt;b&gt;Atlantis" in chat.engine.handle(Input.text(USER, "<b>Atlantis</b>")).replies[0].text
    chat.send("/settings")
    chat.press("Quiet hours")
    chat.send("after dinner")
    assert "couldn't read" in chat.text
    chat.send("/cancel")
    assert "Stopped your settings" in chat.text


def test_a_command_in_the_middle_of_settings_offers_to_continue(chat: Chat, engine: Engine) -> None:
    join(engine)
    chat.send("/settings")
    chat.press("Quiet hours")
    chat.send("/help")
    chat.press("Continue")
    assert "Quiet hours" in chat.text


def test_forged_and_foreign_settings_buttons(chat: Chat, engine: Engine) -> None:
    join(engine)
    for data in ["n:a:everything", "n:zc:-1", "n:qc:x", "n:p:1", "n:zz", "n:", "n:d:", "n:d:1e9"]:
        chat.press_data(data)
        assert "older message" in chat.text, data


def test_a_settings_question_left_open_before_the_dialog_ends_at_the_card(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09", timezone="UTC")
    session = engine.store.load_session(USER)
    session.enter("settings", "zone")  # where the hand-written flow left it: no mark of one answer only
    with engine.store.atomic():
        engine.store.save_session(session, engine.clock())
    chat.send("lagos")
    assert engine.store.load_session(USER).flow is None  # the quiet hours are not asked after it
    assert "Reminder settings" in chat.text and "Africa/Lagos" in chat.text
    assert rows(engine)["ms:secure"]["due_at"] == "2028-03-01T08:30:00+00:00"  # 09:30 in Lagos


@pytest.mark.parametrize("day", [date(2026, 11, 25), date(2027, 3, 14)])
def test_the_settings_menu_names_the_next_nudge(chat: Chat, engine: Engine, clock: Clock, day: date) -> None:
    clock.now = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    join(engine, application="2029-09", timezone="UTC")
    chat.send("/settings")
    assert "Next: a new stage of your timeline, on 01 Mar 2028" in chat.text
