"""/profile: every answer on one card, each one changed on its own (with the follow-ups it needs)."""

from __future__ import annotations

from collections import deque

from flows.engine.engine import Engine, Feature, Turn
from flows.features import all_features
from flows.features.plan import EDITABLE
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.test_onboarding import answer_graduate, profile_of, state_of


def test_profile_before_any_answer(chat: Chat) -> None:
    chat.send("/profile")
    assert "haven't set your goals" in chat.text
    chat.press("Let's set my goals")
    assert "Step 1 of 11" in chat.text


def test_profile_shows_every_answer(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    for line in ("Status: 🩺 Graduate", "Graduation year: 2019", "Specialties: Internal medicine",
                 "Application: Sep 2028", "Months for USCE: 3 months", "Budget: 💸 Limited",
                 "Visa / work: 🛂 I need a visitor visa", "US experience: None yet", "US letters: 0",
                 "Gaps: Recent experience", "Time zone: Africa/Lagos (it's 10:00 there now)"):
        assert line in chat.text
    assert len([b for b in chat.buttons if b.data.startswith("ob:e:")]) == len(EDITABLE)


def test_changing_one_answer_updates_the_plan(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("Budget")
    assert "Change: Budget" in chat.text and "Your answer now: 💸 Limited" in chat.text
    chat.press("Flexible")
    assert "Saved" in chat.text and "Budget: 💰 Flexible" in chat.text
    assert state_of(chat) == (None, None)
    chat.press("My plan")
    chat.press("Full plan")
    assert "Paying for an externship?" in chat.text and "Limited budget" not in chat.text
    assert profile_of(chat).onboarding_step == "done"


def test_back_while_changing_leaves_the_answer_alone(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("Graduation year")
    chat.press("Back")
    assert "Your answers" in chat.text and "Saved" not in chat.text
    assert profile_of(chat).grad_year == 2019
    chat.press("Budget")
    chat.send("back")  # typed, too
    assert "Your answers" in chat.text and "Saved" not in chat.text and state_of(chat) == (None, None)
    chat.press("Specialties")  # a pick-several answer: Back beside Done, with what is picked
    assert [b.label for b in chat.buttons][-2:] == ["◀️ Back", "✔️ Done"]
    chat.press("Neurology")
    chat.press("Back")
    assert profile_of(chat).specialties == ("Internal medicine", "Neurology") and state_of(chat) == (None, None)


def test_changing_status_to_student_asks_year_and_graduation(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("Status")
    chat.press("Student")
    assert "Which year of medical school" in chat.text
    chat.press("Year 5")
    assert "Which year do you graduate" in chat.text
    chat.send("2019")
    assert "haven't graduated yet" in chat.text
    chat.send("2027")
    assert "Saved" in chat.text
    p = profile_of(chat)
    assert (p.status, p.student_year, p.grad_year) == ("student", 5, 2027)
    chat.send("/plan")
    chat.press("Full plan")
    assert "US electives" in chat.text


def test_keeping_the_same_status_asks_nothing_more(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("Status")
    chat.press("Graduate")
    assert "Saved" in chat.text


def test_changing_us_experience_to_some_asks_months(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("US experience")
    chat.press("Yes, some")
    assert "how many months" in chat.text
    chat.send("/cancel")
    chat.send("/profile")
    chat.press("US experience")
    chat.send("3")  # a number answers both at once
    assert "Saved" in chat.text and "US experience: 3 months" in chat.text


def test_edit_buttons_need_a_finished_profile(chat: Chat) -> None:
    answer_graduate(chat, upto="visa")
    chat.send("/cancel")
    chat.send("/profile")
    assert "still open" in chat.text
    assert not [b for b in chat.buttons if b.data.startswith("ob:e:")]
    chat.press_data("ob:e:budget")
    assert chat.route == "stale"


class Recorder(Feature):
    name = "recorder"

    def __init__(self) -> None:
        self.seen: deque[set[str]] = deque()

    def on_changed(self, turn: Turn, changed: set[str]) -> None:
        self.seen.append(set(changed))


def test_reminders_hear_about_a_new_application_date(store: Store, clock: Clock) -> None:
    recorder = Recorder()
    engine = Engine(store, [*all_features(), recorder], clock=clock)
    engine.migrate()
    chat = Chat(engine)
    answer_graduate(chat)
    assert recorder.seen and "profile" in recorder.seen[-1]  # completion
    recorder.seen.clear()
    chat.send("/profile")
    chat.press("Budget")
    chat.press("Moderate")
    assert not recorder.seen  # a budget change moves no reminder
    chat.send("/profile")
    chat.press("Application")
    chat.send("03/2029")
    assert [s for s in recorder.seen if "profile" in s]
    assert profile_of(chat).application == "2029-03"


def test_a_date_that_has_passed_since_is_flagged(chat: Chat, clock: Clock) -> None:
    answer_graduate(chat)
    clock.advance(days=700)  # Oct 2028: the September application is behind
    chat.send("/plan")
    assert "That month has passed" in chat.text

