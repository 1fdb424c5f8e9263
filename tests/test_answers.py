"""The same behaviour at a step of any flow: a question typed mid-step is answered and never
stored; an edit of the message that answered the current or previous step replaces that answer;
any other edit does nothing."""

from __future__ import annotations

from flows.base.types import Input
from flows.storage.profiles import load_profile
from flows.storage.store import Store
from tests.chat import Chat
from tests.test_onboarding import answer_graduate, state_of


class Typist(Chat):
    """A chat whose typed messages carry message ids, as Telegram's do, and can be edited."""

    def __init__(self, chat: Chat) -> None:
        super().__init__(chat.engine, chat.user)
        self.next_id = 100

    def type(self, line: str) -> int:
        self.next_id += 1
        self._do(Input.parse(self.user, line, self.next_id))
        return self.next_id

    def edit(self, message_id: int, line: str) -> str:
        outcome = self.engine.handle(Input.edit(self.user, line, message_id))
        self.replies, self.route = outcome.replies, outcome.route
        return outcome.route


def specialties(store: Store, user: str) -> tuple[str, ...]:
    profile = load_profile(store, user)
    return profile.specialties if profile else ()


def test_a_question_at_the_specialty_step_is_answered_not_saved(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send("how many months of usce do i need to be competitive?")
    assert chat.route == "faq:aside"
    assert "month" in chat.text.lower()
    assert state_of(chat) == ("onboarding", "specialties")
    assert specialties(store, chat.user) == ()
    assert chat.replies[-1].buttons, "the step is shown again with its buttons"


def test_a_question_the_guide_does_not_cover_is_declined_not_saved(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send("what is the weather like in boston in march?")
    assert chat.route == "faq:aside-declined"
    assert "haven't saved it" in chat.text
    assert state_of(chat) == ("onboarding", "specialties")
    assert specialties(store, chat.user) == ()


def test_a_sentence_asked_at_a_pick_several_step_is_declined_honestly(chat: Chat, store: Store) -> None:
    """No question word first, so the step tries it as its answer; it can't take it, and it is
    plainly asked: the honest decline and the step again, not the step's own reason."""
    answer_graduate(chat, upto="gaps")
    chat.send("my cousin says the weather in boston is awful, true?")
    assert chat.route == "faq:aside-declined"
    assert "haven't saved it" in chat.text
    assert state_of(chat) == ("onboarding", "gaps")
    assert chat.replies[-1].buttons, "the step is shown again with its buttons"
    chat.send("Mount Sinai?")  # a short try at an answer still gets the step's own reason
    assert chat.route != "faq:aside-declined"


def test_a_question_while_logging_is_not_the_institution(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")  # keep the suggested level
    chat.send("Internal Medicine")
    assert state_of(chat) == ("tracker_log", "institution"), chat.text
    chat.send("how do i ask for a letter of recommendation?")
    assert chat.route in ("faq:aside", "faq:aside-declined"), chat.route
    assert state_of(chat) == ("tracker_log", "institution")
    chat.send("St. Mary")
    row = store.conn.execute("SELECT institution FROM experiences").fetchone()
    assert row[0] == "St. Mary"


def test_an_edit_of_the_last_answer_replaces_it(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    typist.send("/plan")
    typist.press("Graduate")
    first = typist.type("2019")
    assert state_of(typist) == ("onboarding", "specialties")
    assert typist.edit(first, "2018") == "edit:applied"
    assert "Changed your answer" in typist.text and "2018" in typist.text
    profile = load_profile(store, typist.user)
    assert profile is not None and profile.grad_year == 2018
    assert state_of(typist) == ("onboarding", "specialties"), "back at the step the user was on"


def test_an_edit_of_the_previous_answer_replays_the_one_after(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    answer_graduate(typist, upto="application")
    applying = typist.type("Sep 2028")
    months = typist.type("3")
    assert state_of(typist) == ("onboarding", "budget")
    assert typist.edit(applying, "Sep 2029") == "edit:applied"
    profile = load_profile(store, typist.user)
    assert profile is not None
    assert profile.application == "2029-09"
    assert profile.months_available == 3, "the answer after it was given again"
    assert state_of(typist) == ("onboarding", "budget")
    assert typist.edit(months, "4") == "edit:applied"
    assert load_profile(store, typist.user).months_available == 4  # type: ignore[union-attr]


def test_an_edit_that_is_not_a_valid_answer_keeps_the_old_one(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    typist.send("/plan")
    typist.press("Graduate")
    first = typist.type("2019")
    assert typist.edit(first, "banana") == "edit:rejected"
    assert "stays as it was" in typist.text
    assert load_profile(store, typist.user).grad_year == 2019  # type: ignore[union-attr]
    assert state_of(typist) == ("onboarding", "specialties")


def test_an_edit_of_a_rejected_answer_answers_the_current_step(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    typist.send("/plan")
    typist.press("Graduate")
    wrong = typist.type("twenty nineteen-ish")
    assert state_of(typist) == ("onboarding", "grad_year")
    assert typist.edit(wrong, "2019") == "edit:applied"
    assert load_profile(store, typist.user).grad_year == 2019  # type: ignore[union-attr]
    assert state_of(typist) == ("onboarding", "specialties")


def test_an_edit_of_an_older_or_unknown_message_does_nothing(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    hello = typist.type("hello there")
    typist.send("/plan")
    typist.press("Graduate")
    typist.type("2019")
    assert typist.edit(hello, "23:00-06:00") == "edit:ignored"
    assert typist.replies == []
    assert typist.edit(99999, "2011") == "edit:ignored"
    assert load_profile(store, typist.user).grad_year == 2019  # type: ignore[union-attr]


def test_an_answer_followed_by_a_press_cannot_be_edited(chat: Chat, store: Store) -> None:
    typist = Typist(chat)
    typist.send("/plan")
    typist.press("Graduate")
    year = typist.type("2019")
    typist.press("Internal medicine")  # a toggle: replaying it would undo it
    assert typist.edit(year, "2018") == "edit:ignored"
    assert load_profile(store, typist.user).grad_year == 2019  # type: ignore[union-attr]
