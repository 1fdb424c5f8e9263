"""Goal questions, /plan and /profile, as a user goes through them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.base.content import texts
from flows.base.types import Input
from flows.domain.plan import load_rules
from flows.engine.dialog import DONE
from flows.engine.engine import Engine
from flows.features import all_features
from flows.features.plan import QUESTIONS, STEP, TOTAL_STEPS, Onboarding
from flows.storage.profiles import Profile, load_profile
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.emulator import parse_html

PACKAGE = Path(__file__).resolve().parent.parent / "flows" / "features" / "plan"


def profile_of(chat: Chat) -> Profile:
    found = load_profile(chat.engine.store, chat.user)
    assert found is not None
    return found


def state_of(chat: Chat) -> tuple[str | None, str | None]:
    session = chat.engine.store.load_session(chat.user)
    return session.flow, session.state


def answer_graduate(chat: Chat, upto: str | None = None) -> None:
    """Walk the questions as a graduate with buttons, stopping before ``upto``."""
    steps = [
        ("status", lambda: chat.press("Graduate")),
        ("grad_year", lambda: chat.send("2019")),
        ("specialties", lambda: (chat.press("Internal medicine"), chat.press("Done"))),
        ("application", lambda: chat.press("Sep 2028")),
        ("months", lambda: chat.press_data("ob:~o:months:a:3")),
        ("budget", lambda: chat.press("Limited")),
        ("visa", lambda: chat.press("visitor visa")),
        ("us_experience", lambda: chat.press("None yet")),
        ("letters", lambda: chat.press_data("ob:~o:letters:a:0")),
        ("gaps", lambda: (chat.press("Recent experience"), chat.press("Done"))),
        ("timezone", lambda: chat.press("Nigeria")),
    ]
    chat.send("/plan")
    for state, act in steps:
        if state == upto:
            return
        assert state_of(chat) == ("onboarding", state), chat.text
        act()


# -- the whole conversation -------------------------------------------------------------------------
def test_a_graduate_walks_through_and_gets_the_plan(chat: Chat, store: Store) -> None:
    answer_graduate(chat)
    assert "All done" in chat.text
    assert "Your USCE plan" in chat.text
    assert "Graduated 2019 · Internal medicine · apply Sep 2028 → Match 2029" in chat.text
    assert "Where you stand" in chat.text and "Next steps" in chat.text  # the summary card
    chat.press("Full plan")
    assert "Externships for IMGs" in chat.text and "Limited budget" in chat.text
    assert "Graduation 9 years before applying" in chat.text and "rule of thumb" in chat.text
    assert "🗓 Your timeline — apply Sep 2028 → Match 2029" in chat.text
    assert state_of(chat) == (None, None)
    p = profile_of(chat)
    assert (p.status, p.grad_year, p.application) == ("graduate", 2019, "2028-09")
    assert p.specialties == ("Internal medicine",)
    assert (p.months_available, p.budget, p.visa, p.us_months, p.us_letters) == (3, "limited", "visitor", 0, 0)
    assert (p.gaps, p.timezone, p.onboarding_step) == (("recent",), "Africa/Lagos", "done")
    assert p.complete
    completions = list(store.db["completions"].rows_where("user_id = ?", [chat.user]))
    assert [c["flow"] for c in completions] == ["onboarding"]
    chat.send("/plan")  # again, any time, without questions
    assert "Your USCE plan" in chat.text and "Step 1" not in chat.text


def test_a_student_is_asked_the_year_and_every_step_is_numbered(chat: Chat) -> None:
    chat.send("/plan")
    assert "Step 1 of 11" in chat.text
    chat.press("Student")
    assert "Step 1 of 11" in chat.text and "Which year of medical school" in chat.text
    chat.press("Year 4")
    assert "Step 2 of 11" in chat.text and "(2026–2034)" in chat.text
    chat.send("2027")
    assert "Step 3 of 11" in chat.text
    p = profile_of(chat)
    assert (p.status, p.student_year, p.grad_year) == ("student", 4, 2027)


def test_the_school_year_buttons_offer_every_year_a_typed_answer_may_give(chat: Chat) -> None:
    chat.send("/plan")
    chat.press("Student")
    years = [b.label for b in chat.buttons if b.label.startswith("Year")]
    assert years == [f"Year {n}" for n in range(1, 8)]  # the rules allow 1 to 7
    chat.send("9")
    assert "from 1 to 7" in chat.text
    chat.press("Year 7")
    assert profile_of(chat).student_year == 7


def test_typed_answers_work_as_well_as_buttons(chat: Chat) -> None:
    chat.send("/plan")
    for line in ("graduate", "2020", "psych", "neurology", "done", "June 2029", "about 4 months",
                 "flexible", "not sure", "3", "two", "none", "UTC+5:30"):
        chat.send(line)
    assert "All done" in chat.text
    p = profile_of(chat)
    assert p.specialties == ("Psychiatry", "Neurology")
    assert (p.application, p.months_available, p.budget, p.visa) == ("2029-06", 4, "flexible", "unsure")
    assert (p.us_months, p.us_letters, p.gaps, p.timezone) == (3, 2, (), "Asia/Kolkata")


def test_some_us_experience_asks_how_many_months(chat: Chat) -> None:
    answer_graduate(chat, upto="us_experience")
    chat.press("Yes, some")
    assert state_of(chat) == ("onboarding", "us_months")
    assert "Step 8 of 11" in chat.text
    chat.press_data("ob:~o:us_months:a:2")
    assert state_of(chat) == ("onboarding", "letters")
    chat.press("Back")
    assert state_of(chat) == ("onboarding", "us_months")
    assert "Your answer now: 2 months" in chat.text


# -- invalid answers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("upto", "answer", "says"),
    [
        ("status", "maybe", "medical student"),
        ("grad_year", "19", "full year"),
        ("grad_year", "2031", "already graduated, so 2031 doesn't fit"),
        ("grad_year", "1950", "1950 doesn't fit"),
        ("specialties", "12345", "doesn't look like a specialty"),
        ("application", "2028", "Which month"),
        ("application", "13/2028", "months go from 1 to 12"),
        ("application", "soon-ish", "couldn't read"),
        ("application", "Sep 2025", "Sep 2025 has already passed"),
        ("application", "09/2045", "more than 10 years away"),
        ("months", "lots", "number of months"),
        ("months", "40", "40 months is outside"),
        ("months", "-3", "number of months"),
        ("budget", "a million dollars", "limited, moderate or flexible"),
        ("visa", "green?", "closest answer"),
        ("us_experience", "kind of", "None yet"),
        ("us_experience", "500", "500 months is outside"),
        ("letters", "3.5", "number of US letters"),
        ("letters", "25", "25 letters"),
        ("gaps", "everything", "Tap the gaps"),
        ("timezone", "Narnia", 'time zone "Narnia"'),
        ("timezone", "UTC+5:20", "I don't know the time zone"),
    ],
)
def test_a_bad_answer_is_re_asked_naming_the_problem(chat: Chat, upto: str, answer: str, says: str) -> None:
    answer_graduate(chat, upto=upto)
    before = profile_of(chat) if upto != "status" else None
    step_buttons = [b.data for b in chat.buttons]
    chat.send(answer)
    assert says in chat.text
    assert "Step" not in chat.text  # one short re-ask...
    assert [b.data for b in chat.buttons] == step_buttons  # ...with the step's own buttons under it
    assert state_of(chat) == ("onboarding", upto)
    if before is not None:
        assert profile_of(chat) == before  # nothing half-saved


def test_a_question_typed_mid_step_is_answered_and_the_step_shown_again(chat: Chat) -> None:
    answer_graduate(chat, upto="budget")
    before = profile_of(chat)
    chat.send("is a paid externship worth the money??")
    assert chat.route == "faq:aside"
    assert "Is a paid externship worth the money?" in chat.text
    assert chat.text.rstrip().endswith("What's your budget for USCE?")  # then the step again, to carry on
    assert state_of(chat) == ("onboarding", "budget") and profile_of(chat) == before
    chat.press("Limited")
    assert state_of(chat) == ("onboarding", "visa")


def test_a_short_question_with_a_question_mark_is_answered_mid_step(chat: Chat) -> None:
    answer_graduate(chat, upto="budget")
    chat.send("lor timing??")
    assert chat.route == "faq:aside"
    assert "How and when do I ask for a letter?" in chat.text
    assert chat.text.rstrip().endswith("What's your budget for USCE?")
    assert state_of(chat) == ("onboarding", "budget")


@pytest.mark.parametrize("answer", ["a million dollars", "what a lovely day", "how", "idk?", "2?"])
def test_only_plain_questions_the_guide_covers_are_taken_as_asides(chat: Chat, answer: str) -> None:
    answer_graduate(chat, upto="budget")
    chat.send(answer)
    assert chat.route == "flow:onboarding"  # answered by the flow, not as an aside
    assert "limited, moderate or flexible" in chat.text


def test_a_student_cannot_have_graduated_already(chat: Chat) -> None:
    chat.send("/plan")
    chat.press("Student")
    chat.send("9")
    assert "from 1 to 7" in chat.text
    chat.send("5")
    chat.send("2020")
    assert "haven't graduated yet" in chat.text and "(2026–2034)" in chat.text


def test_a_typed_specialty_in_lower_case_is_shown_like_the_listed_ones(chat: Chat) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send("sports medicine")
    chat.send("PM&R")
    chat.press("Done")
    assert profile_of(chat).specialties == ("Sports medicine", "PM&R")  # capitals typed are kept


def test_specialties_need_one_and_allow_two(chat: Chat) -> None:
    answer_graduate(chat, upto="specialties")
    chat.press("Done")
    assert "at least one" in chat.text
    chat.press_data("ob:~o:specialties:t:2")
    assert "✓ Pediatrics" in [b.label for b in chat.buttons]
    assert chat.replies[0].replace  # the toggle edits the question in place
    chat.send("Radiation oncology")
    chat.send("Neurology")
    assert "already picked two (Pediatrics and Radiation oncology)" in chat.text
    chat.press_data("ob:~o:specialties:t:8")  # tap the typed one again to remove it
    chat.press("Neurology")
    chat.press("Done")
    assert profile_of(chat).specialties == ("Pediatrics", "Neurology")


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(x)</script> & *bold* _x_",
        "🩺 طب الأطفال",
        "x\u0000y\u202e\u0007z",
        "A" * 4000,
    ],
)
def test_odd_specialty_text_comes_back_unharmed(chat: Chat, text: str) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send(text)
    if text.startswith("x"):  # letters that spell nothing: refused, and nothing stored
        assert "doesn't look like a specialty" in chat.text and profile_of(chat).specialties == ()
        return
    stored = profile_of(chat).specialties
    assert len(stored) == 1 and len(stored[0]) <= 40
    assert "\u0000" not in stored[0] and "\u0007" not in stored[0]
    html = "\n".join(r.text for r in chat.replies)  # button labels are plain text, not HTML
    assert "<script>" not in html
    if text.startswith("<script>"):
        assert stored[0] == text
        chat.press("Done")
        chat.send("/profile")
        assert "&lt;script&gt;alert(x)&lt;/script&gt; &amp; *bold*" in chat.replies[0].text


@pytest.mark.parametrize("text", ["", "   ", "\u200b", "/"])
def test_empty_answers_are_re_asked(chat: Chat, text: str) -> None:
    answer_graduate(chat, upto="grad_year")
    chat.send(text)
    assert state_of(chat) == ("onboarding", "grad_year")
    assert "Traceback" not in chat.text


@pytest.mark.parametrize(
    ("answer", "visa"),
    [("B1/B2", "b1b2"), ("not sure!", "unsure"), ("I need a visitor visa", "visitor"), ("perhaps a unicorn", None)],
)
def test_a_choice_is_read_from_its_label_and_words(chat: Chat, answer: str, visa: str | None) -> None:
    answer_graduate(chat, upto="visa")
    chat.send(answer)
    assert profile_of(chat).visa == visa
    assert state_of(chat) == ("onboarding", "visa" if visa is None else "us_experience")


# -- Back, Skip, Keep ---------------------------------------------------------------------------------
def test_back_goes_to_the_previous_question_and_keeps_the_answer(chat: Chat) -> None:
    answer_graduate(chat, upto="specialties")
    chat.press("Back")
    assert state_of(chat) == ("onboarding", "grad_year")
    assert "Your answer now: 2019" in chat.text
    chat.press("Keep")
    assert state_of(chat) == ("onboarding", "specialties")
    chat.press("Back")
    chat.press("Back")
    assert state_of(chat) == ("onboarding", "status")
    assert "Back" not in " ".join(b.label for b in chat.buttons)  # nothing before step 1
    assert "Your answer now: 🩺 Graduate" in chat.text


def test_back_from_graduation_year_returns_to_the_school_year_for_students(chat: Chat) -> None:
    chat.send("/plan")
    chat.press("Student")
    chat.press("Year 3")
    chat.press("Back")
    assert state_of(chat) == ("onboarding", "student_year")


def test_skip_moves_on_and_leaves_the_answer_empty(chat: Chat) -> None:
    answer_graduate(chat, upto="months")
    chat.press("Skip")
    assert state_of(chat) == ("onboarding", "budget")
    chat.press("Skip")
    chat.press("Skip")
    assert state_of(chat) == ("onboarding", "us_experience")
    p = profile_of(chat)
    assert (p.months_available, p.budget, p.visa) == (None, None, None)
    assert "Skip" not in " ".join(b.label for b in chat.buttons)  # US experience can't be skipped
    chat.press("None yet")
    chat.press("Skip")
    chat.press("Done")
    chat.press("Skip")
    assert "All done" in chat.text
    chat.press("Full plan")
    assert "Visa unclear" in chat.text
    assert profile_of(chat).timezone is None


def test_a_button_from_an_earlier_step_is_stale(chat: Chat) -> None:
    answer_graduate(chat, upto="budget")
    chat.press_data("ob:~o:status:a:student")
    assert "older message" in chat.text
    assert "Step 6 of 11" in chat.text  # the current step is shown again
    assert profile_of(chat).status == "graduate"


@pytest.mark.parametrize(
    "data",
    ["ob:~o:budget:a:cheap", "ob:~o:budget:a", "ob:~o:budget:zz", "ob:~o:budget:b:x", "ob:e:budget", "ob:e:nope",
     "ob:", "ob:~o:budget:a:limited:extra", "ob:~o:budget:d", "ob:s:x", "ob:~p:budget:a:limited", "ob:~x:budget:k"],
)
def test_forged_buttons_are_refused(chat: Chat, data: str) -> None:
    answer_graduate(chat, upto="budget")
    chat.press_data(data)
    assert chat.route == "stale"
    assert profile_of(chat).budget is None


def test_forged_indexes_are_refused(chat: Chat) -> None:
    answer_graduate(chat, upto="specialties")
    chat.press_data("ob:~o:specialties:t:99")
    assert chat.route == "stale"
    chat.press_data("ob:~o:specialties:t:-1")
    assert chat.route == "stale"


# -- stopping and coming back -------------------------------------------------------------------------
def test_cancel_keeps_the_answers_and_plan_continues_there(chat: Chat) -> None:
    answer_graduate(chat, upto="budget")
    chat.send("/cancel")
    assert "Stopped the goal questions" in chat.text
    assert state_of(chat) == (None, None)
    chat.send("/plan")
    assert "Picking up at step 6 of 11" in chat.text
    assert state_of(chat) == ("onboarding", "budget")
    assert profile_of(chat).application == "2028-09"


def test_start_offers_to_continue_unfinished_questions(chat: Chat) -> None:
    chat.send("/plan")
    chat.send("/cancel")  # nothing answered yet: nothing stored, the first offer again
    chat.send("/start")
    assert "let's pin down your goals" in chat.text and load_profile(chat.engine.store, chat.user) is None
    assert chat.replies[0].buttons  # the offer is part of the welcome message
    answer_graduate(chat, upto="visa")
    chat.send("/cancel")
    chat.send("/start")
    assert "aren't finished yet" in chat.text
    chat.press("Let's set my goals")
    assert state_of(chat) == ("onboarding", "visa")


def test_start_mid_flow_offers_to_continue(chat: Chat) -> None:
    answer_graduate(chat, upto="visa")
    chat.send("/start")
    assert "middle of the goal questions" in chat.text
    chat.press("Continue")
    assert "Step 7 of 11" in chat.text


def test_a_finished_user_is_not_offered_the_questions_again(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/start")
    assert "pin down your goals" not in chat.text and "aren't finished" not in chat.text


def test_deep_link_starts_the_questions(chat: Chat) -> None:
    chat.send("/start plan")
    assert "Step 1 of 11" in chat.text


def test_plan_in_the_middle_asks_to_finish_first(chat: Chat) -> None:
    answer_graduate(chat, upto="visa")
    chat.send("/plan")
    assert "finish the goal questions first" in chat.text
    assert "Continue" in chat.text
    chat.send("/help")
    assert "/plan" in chat.text and "Continue" in chat.text


def test_menu_has_my_plan_and_profile(chat: Chat) -> None:
    chat.send("/menu")
    chat.press("My plan")
    assert "Step 1 of 11" in chat.text
    chat.send("/cancel")
    chat.press("Settings")
    chat.press("Profile")
    assert "haven't set your goals" in chat.text


def test_a_restart_in_the_middle_continues_at_the_same_step(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "coach.db"
    first = Engine(Store.open(path), all_features(), clock=clock)
    first.migrate()
    chat = Chat(first)
    answer_graduate(chat, upto="months")
    first.store.close()  # the process stops here

    second = Engine(Store.open(path), all_features(), clock=clock)
    second.migrate()
    chat = Chat(second)
    chat.send("4")
    assert "Step 6 of 11" in chat.text
    assert profile_of(chat).months_available == 4
    assert profile_of(chat).application == "2028-09"
    second.store.close()


# -- the flow as data -------------------------------------------------------------------------------------
def test_every_state_is_reachable_and_can_finish() -> None:
    feature = Onboarding()
    for dialog in feature.dialogs:
        spec = dialog.spec()
        edges: dict[str, set[str]] = {}
        for t in spec.transitions:
            edges.setdefault(t["source"], set()).add(t["dest"])
        seen, todo = {spec.initial}, [spec.initial]
        while todo:
            for dest in edges.get(todo.pop(), ()):
                if dest not in seen:
                    seen.add(dest)
                    todo.append(dest)
        assert seen == {*QUESTIONS, DONE}
        assert all(state in edges for state in QUESTIONS)  # no dead end before "done"
    assert [s.name for s in feature.questions.steps] == list(QUESTIONS)
    assert set(STEP) == set(QUESTIONS) and max(STEP.values()) == TOTAL_STEPS


def test_every_text_the_flow_uses_exists() -> None:
    source = "\n".join(path.read_text() for path in sorted(PACKAGE.glob("*.py")))
    catalogue = texts()
    for key in set(re.findall(r'"(onboarding\.[a-z_]+)"', source)):
        assert key in catalogue, key
    rules = load_rules()
    dynamic = [f"onboarding.q_{s}" for s in QUESTIONS] + [f"onboarding.field_{s}" for s in QUESTIONS]
    dynamic += [f"onboarding.opt_{s}_{c}" for s, codes in rules.aliases.items() for c in codes]
    dynamic += [f"onboarding.bad_{s}" for s in ("status", "budget", "visa", "us_experience", "gaps")]
    for state in ("student_year", "months", "us_months", "letters"):
        dynamic += [f"onboarding.bad_{state}_number", f"onboarding.bad_{state}_range"]
    dynamic += [f"onboarding.bad_application_{c}" for c in ("need_month", "bad_month", "unreadable", "past", "far")]
    dynamic += [f"onboarding.bad_grad_year_{c}" for c in ("number", "student", "graduate")]
    for key in dynamic:
        assert key in catalogue, key


def test_session_data_stays_small(chat: Chat) -> None:
    answer_graduate(chat)
    chat.send("/profile")
    chat.press("Status")
    row = chat.engine.store.user(chat.user)
    assert row is not None and len(row["data"] or "") < 100
    assert Input.button(chat.user, "ob:~o:us_experience:a:none")  # the longest data fits easily


@pytest.mark.parametrize("flow", ["onboarding", "profile"])
@pytest.mark.parametrize("state", QUESTIONS)
def test_every_question_shows_valid_html_with_buttons(chat: Chat, flow: str, state: str) -> None:
    answer_graduate(chat)
    session = chat.engine.store.load_session(chat.user)
    # a change from /profile as stored before the questions were a dialog: still resumed
    session.enter(flow, state, {"edit": state, "follow": []} if flow == "profile" else {})
    with chat.engine.store.atomic():
        chat.engine.store.save_session(session, chat.engine.clock())
    chat.send("/start")
    chat.press("Continue")
    assert state_of(chat) == (flow, state)
    question = chat.replies[-1]
    parse_html(question.text)
    assert question.buttons
    has_back = any("Back" in b.label for b in question.buttons[-1])
    assert has_back is (flow == "profile" or state != "status")
    assert ("Step" in question.text) is (flow == "onboarding")
