"""The Dialog declaration: one small dialog of every step kind, driven through the real engine.
What holds here holds at every step of every declared dialog (test_every_dialog_step.py walks them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from bot import diagrams
from flows.base.content import Texts, texts
from flows.base.errors import InvalidAnswer
from flows.base.types import Button, Input, Reply
from flows.engine.dialog import Dialog, End, Option, Step, StepKind
from flows.engine.engine import CommandHandler, Engine, Feature, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.storage.store import Store
from tests.chat import Chat, Clock

ANSWERS = "answers"


def has_rotation(answers: Mapping[str, Any]) -> bool:
    return answers.get("went") == "yes"


def load(turn: Turn) -> Mapping[str, Any]:
    return dict(turn.session.data.get(ANSWERS, {}))


def save(turn: Turn, step: Step, value: Any) -> None:
    turn.session.data.setdefault(ANSWERS, {})[step.key] = list(value) if isinstance(value, tuple) else value
    turn.session.dirty = True


FINISHED: list[End] = []


def finish(turn: Turn, end: End) -> list[Reply]:
    FINISHED.append(end)
    return [Reply("finished")]


TRIP = Dialog(
    "trip",
    "t",
    [
        Step("went", StepKind.YESNO, "dialog.test_went",
             options=(Option("yes", "Yes", plain=True), Option("no", "No", plain=True)), width=2),
        Step("length", StepKind.DURATION, "dialog.test_length", low=0, high=24, when=has_rotation),
        Step("letters", StepKind.NUMBER, "dialog.test_letters", low=0, high=5, skip=True,
             words={"button_skip": "dialog.test_no_letters"}),
        Step("start", StepKind.MONTH, "dialog.test_start", low=-60, high=60),
        Step("kinds", StepKind.MULTI, "dialog.test_kinds", max_picks=2, min_picks=1, picks_reason="dialog.test_picks",
             options=(Option("a", "Alpha", plain=True), Option("b", "Beta", ("second",), plain=True),
                      Option("c", "Gamma", plain=True))),
        Step("note", StepKind.TEXT, "dialog.test_note", limit=20),
    ],
    load=load,
    save=save,
    finish=finish,
)


def no_gamma(ask: Any, value: Any) -> Any:
    if value == "c":
        raise InvalidAnswer("Gamma is full.")
    return value


# The same steps, changed one at a time from a card where Back leaves the answer as it is.
CARD = Dialog(
    "trip_card",
    "c",
    [replace(s, check=no_gamma) if s.name == "kinds" else s for s in TRIP.steps],
    load=load,
    save=save,
    finish=finish,
    back_keeps=True,
)


# A draft and its preview: typed text at the preview is a new draft (``text_for``); the preview
# has a button of the feature's own under its own (``extra``).
NOTE = Dialog(
    "note",
    "n",
    [
        Step("draft", StepKind.TEXT, "dialog.test_note"),
        Step("check", StepKind.CONFIRM, "dialog.test_check", options=(Option("go", "Send", plain=True),),
             values=lambda ask: {"draft": ask.answers.get("draft", "")}, text_for="draft",
             extra=lambda ask: ((Button("Who gets it", "tp:who"),),)),
    ],
    load=load,
    save=save,
    finish=finish,
)


class Trip(Feature):
    name = "trip"
    prefix = "tp"
    dialogs = (TRIP, CARD, NOTE)

    def commands(self) -> dict[str, CommandHandler]:
        return {
            "card": lambda turn, args: CARD.begin(turn, at=args, data={ANSWERS: {"went": "no", "kinds": ["a"]}},
                                                  only=True),
            "note": lambda turn, args: NOTE.begin(turn, data={ANSWERS: {}}),
            "trip": lambda turn, args: TRIP.begin(turn, data={ANSWERS: {}}),
            "change": lambda turn, args: TRIP.begin(turn, at="went", data={ANSWERS: {"went": "no"}}, only=True,
                                                    follow=["length"]),
        }


class Questions(Feature):
    """Answers anything ending in "?" (as the FAQ does for questions it covers)."""

    name = "questions"

    def on_question(self, turn: Turn, text: str) -> list[Reply] | None:
        return [Reply("an answer")] if text.endswith("?") else None


class Cancel(Feature):
    name = "cancel"

    def commands(self) -> dict[str, CommandHandler]:
        def cancel(turn: Turn, args: str) -> list[Reply]:
            turn.session.leave()
            return [Reply("stopped")]

        return {"cancel": cancel}


@pytest.fixture
def trip(store: Store) -> Chat:
    engine = Engine(store, [Trip(), Questions(), Cancel()], clock=Clock(), text_catalogue=TEXTS)
    engine.migrate()
    FINISHED.clear()
    chat = Chat(engine)
    chat.send("/trip")
    return chat


TEXTS = Texts({
    **texts().entries,
        "dialog.test_went": "Did you go?", "dialog.test_length": "How long?", "dialog.test_letters": "Letters?",
        "dialog.test_start": "When did it start?", "dialog.test_kinds": "Which kinds?",
    "dialog.test_note": "A note?", "dialog.test_picks": "At most {max}, at least one.",
    "dialog.test_no_letters": "No letters",
    "dialog.test_check": "Send “{draft}”?",
})


def answers(chat: Chat) -> dict[str, Any]:
    return dict(chat.engine.store.load_session(chat.user).data.get(ANSWERS, {}))


def state(chat: Chat) -> str | None:
    return chat.engine.store.load_session(chat.user).state


def test_machine_skips_steps_whose_condition_fails_both_ways() -> None:
    assert TRIP.next_of("went", {"went": "no"}) == "letters"
    assert TRIP.next_of("went", {"went": "yes"}) == "length"
    assert TRIP.back_of("letters", {"went": "no"}) == "went"
    assert TRIP.back_of("letters", {"went": "yes"}) == "length"
    assert TRIP.back_of("went", {}) is None
    assert TRIP.next_of("note", {}) == "done"


def test_typed_answers_by_kind(trip: Chat) -> None:
    trip.send("yep")
    assert answers(trip)["went"] == "yes" and state(trip) == "length"
    trip.send("4 weeks")
    assert answers(trip)["length"] == 1 and "counted that as 1 month" in trip.text
    trip.send("two")
    assert answers(trip)["letters"] == 2
    trip.send("Mar 2026")
    assert answers(trip)["start"] == "2026-03"
    trip.send("second")  # a listed word of Beta
    trip.send("done")
    assert answers(trip)["kinds"] == ["b"] and state(trip) == "note"
    trip.send("short note")
    assert FINISHED and FINISHED[-1].answers["note"] == "short note"


def test_six_weeks_count_as_one_month_and_next_month_is_read(trip: Chat) -> None:
    trip.send("yes")
    trip.send("6 weeks")
    assert answers(trip)["length"] == 1
    trip.send("skip")
    assert "letters" not in answers(trip) and state(trip) == "start"
    trip.send("next month")
    assert answers(trip)["start"] == "2026-12"


def test_nonsense_gets_the_reason_and_the_buttons_and_nothing_is_saved(trip: Chat) -> None:
    trip.send("purple")
    assert state(trip) == "went" and "went" not in answers(trip)
    assert "couldn't match" in trip.text and [b.label for b in trip.buttons][:2] == ["Yes", "No"]
    trip.send("no")
    trip.send("99")
    assert "from 0 to 5" in trip.text and state(trip) == "letters"


def test_a_question_mid_step_is_answered_and_not_stored(trip: Chat) -> None:
    trip.send("do externships count?")
    assert "an answer" in trip.text and "Did you go?" in trip.text
    assert answers(trip) == {} and state(trip) == "went"


def test_buttons_of_another_step_are_stale_and_a_double_tap_applies_once(trip: Chat) -> None:
    yes = trip.button("Yes").data
    trip.press_data(yes)
    assert state(trip) == "length"
    trip.press_data(yes)  # the second tap of a double tap
    assert trip.route == "stale" and state(trip) == "length"
    trip.press_data("tp:~t:length:a:forged")
    assert trip.route == "stale"
    trip.press_data("tp:~x:went:a:yes")  # another dialog's code
    assert trip.route == "stale" and answers(trip) == {"went": "yes"}


def test_back_and_keep_move_without_losing_answers(trip: Chat) -> None:
    trip.send("no")
    trip.press("Back")
    assert state(trip) == "went" and "Your answer now: No" in trip.text
    trip.press("Keep")
    assert state(trip) == "letters" and answers(trip) == {"went": "no"}


def test_multi_choice_limits(trip: Chat) -> None:
    for typed in ("no", "skip", "this month"):
        trip.send(typed)
    trip.send("done")
    assert "at least one" in trip.text and state(trip) == "kinds"
    trip.press("Alpha")
    trip.press("Beta")
    trip.press("Gamma")
    assert "At most 2" in trip.text and answers(trip)["kinds"] == ["a", "b"]
    trip.press("Alpha")  # a second press takes it back
    assert answers(trip)["kinds"] == ["b"]


def test_long_text_is_trimmed_and_said(trip: Chat) -> None:
    for typed in ("no", "skip", "this month", "alpha", "done"):
        trip.send(typed)
    trip.send("x" * 30)
    assert "first 20 characters" in trip.text and FINISHED[-1].answers["note"] == "x" * 20


def test_an_edit_of_the_previous_answer_replaces_it(trip: Chat) -> None:
    trip._do(Input.text(trip.user, "yes", message_id=10))
    trip._do(Input.text(trip.user, "3", message_id=11))
    assert answers(trip)["length"] == 3 and state(trip) == "letters"
    trip._do(Input.edit(trip.user, "2 months", 11))
    assert answers(trip)["length"] == 2 and "Changed your answer" in trip.text and state(trip) == "letters"


def test_a_restart_resumes_at_the_same_step(trip: Chat, store: Store) -> None:
    trip.send("yes")
    again = Chat(Engine(store, [Trip(), Questions(), Cancel()], clock=Clock(), text_catalogue=TEXTS))
    again.send("what now?")  # after a restart: the question answered, the same step shown again
    assert state(again) == "length" and "How long?" in again.text and answers(again) == {"went": "yes"}


def test_a_misspelt_trigger_is_an_error() -> None:
    machine = FlowMachine(FlowSpec("x", ["a", "b"], [{"trigger": "go", "source": "a", "dest": "b"}], "a"))
    assert machine.fire("go", "a") == "b"
    assert machine.fire("go", "b") == "b"  # allowed nowhere from b: stays
    with pytest.raises(ValueError):
        machine.fire("og", "a")


def test_docs_flows_are_drawn_from_the_dialogs() -> None:
    for dialog in diagrams.dialogs():
        path = diagrams.DOCS / f"{dialog.name}.md"
        assert path.exists() and path.read_text() == diagrams.page(dialog), f"run python -m bot.diagrams ({path})"


def test_changing_one_answer_asks_its_follow_up_and_ends(trip: Chat) -> None:
    trip.send("/change")
    assert "Your answer now: No" in trip.text and "Back" not in [b.label for b in trip.buttons]
    trip.send("yes")  # "yes" needs the length: asked too
    assert state(trip) == "length"
    trip.send("2")
    assert state(trip) is None and FINISHED[-1].edited == "went" and FINISHED[-1].answers["length"] == 2
    trip.send("/change")
    trip.press("Keep")
    assert FINISHED[-1].kept and state(trip) is None
    trip.send("/change")
    trip.send("no")  # no follow-up needed: done at once
    assert state(trip) is None and FINISHED[-1].answers == {"went": "no"}


NAMED = Dialog(
    "named",
    "n",
    [Step("who", StepKind.TEXT, lambda ask: "dialog.test_note" if ask.answers.get("who") else "dialog.test_went",
          empty="dialog.test_letters")],
    load=load,
    save=save,
    finish=finish,
)


class Named(Feature):
    name = "named"
    prefix = "nm"
    dialogs = (NAMED,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"named": lambda turn, args: NAMED.begin(turn, data={ANSWERS: dict(who=args) if args else {}})}


def test_a_step_may_choose_its_prompt_and_its_empty_message_and_one_step_has_no_back(store: Store) -> None:
    engine = Engine(store, [Named()], clock=Clock(), text_catalogue=TEXTS)
    engine.migrate()
    chat = Chat(engine)
    chat.send("/named")
    assert "Did you go?" in chat.text and chat.buttons == []  # no Back from the only step
    chat.send("   ")
    assert chat.text == "Letters?" and state(chat) == "who"  # the step's own words for an empty message
    chat.send("/named Ana")
    assert "A note?" in chat.text and "Your answer now: Ana" in chat.text  # another prompt once answered


def test_back_while_changing_one_answer_from_a_card_leaves_it(trip: Chat) -> None:
    trip.send("/card went")
    labels = [b.label for b in trip.buttons]
    assert "◀️ Back" in labels and not [label for label in labels if "Keep" in label]
    trip.press("Back")
    assert state(trip) is None and FINISHED[-1].kept and FINISHED[-1].answers["went"] == "no"
    trip.send("/card went")
    trip.send("back")  # typed, too
    assert state(trip) is None and FINISHED[-1].kept
    trip.send("/card kinds")  # a pick-several step: Back beside Done, ending as Done does
    assert [b.label for b in trip.buttons][-2:] == ["◀️ Back", "✔️ Done"]
    trip.press("Beta")
    trip.press("Back")
    assert state(trip) is None and FINISHED[-1].edited == "kinds" and FINISHED[-1].answers["kinds"] == ["a", "b"]


def test_a_pressed_pick_is_checked_as_a_typed_one(trip: Chat) -> None:
    trip.send("/card kinds")
    trip.press("Gamma")
    assert "Gamma is full." in trip.text and answers(trip)["kinds"] == ["a"]
    trip.send("gamma")
    assert "Gamma is full." in trip.text and answers(trip)["kinds"] == ["a"]


def test_a_step_may_word_the_shared_texts_its_own_way(trip: Chat) -> None:
    trip.send("no")
    assert [b.label for b in trip.buttons] == ["◀️ Back", "No letters"]  # the shared Back, this step's own Skip
    trip.press("No letters")
    assert state(trip) == "start" and "letters" not in answers(trip)


def test_typed_text_at_a_preview_is_a_new_draft_and_only_the_button_confirms(trip: Chat) -> None:
    trip.send("/note")
    trip.send("first")
    assert state(trip) == "check" and "Send “first”?" in trip.text
    rows = [[b.label for b in row] for r in trip.replies for row in r.buttons]
    assert rows == [["Send"], ["◀️ Back"], ["Who gets it"]]  # the feature's own row under the step's
    trip.send("yes")  # not a confirmation: the new draft
    assert state(trip) == "check" and "Send “yes”?" in trip.text and answers(trip)["draft"] == "yes"
    trip.send("back")
    assert state(trip) == "draft" and "Your answer now: yes" in trip.text
    trip.send("keep")
    trip.press("Send")
    assert state(trip) is None and FINISHED[-1].answers == {"draft": "yes", "check": "go"}

