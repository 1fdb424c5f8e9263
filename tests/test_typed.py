"""Typed answers read the way people type them: the parsers, and the onboarding steps using them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from flows.base.content import ContentError
from flows.domain import typed
from flows.engine.engine import Engine
from flows.storage.profiles import Profile, load_profile
from flows.storage.store import Store
from tests.chat import Chat
from tests.test_onboarding import answer_graduate, state_of


@pytest.mark.parametrize(
    ("text", "months", "unit"),
    [
        ("4 weeks", 1, "week"),
        ("6 weeks", 1, "week"),  # 1.5 months: halves round down
        ("7 weeks", 2, "week"),
        ("8wks", 2, "week"),
        ("2 weeks", 1, "week"),  # any time at all is at least a month's answer
        ("1.5 months", 1, "month"),
        ("two months", 2, "month"),
        ("a year", 12, "year"),
        ("10 days", 1, "day"),
        ("about 3 months", 3, "month"),
        ("3", 3, None),
        ("4 weeks maybe", 1, "week"),
    ],
)
def test_durations_become_whole_months(text: str, months: int, unit: str | None) -> None:
    found = typed.months_answer(text)
    assert found is not None
    assert found[0] == months
    assert (found[1].unit if found[1] else None) == unit


@pytest.mark.parametrize("text", ["banana", "", "-3 months", "3 or 4", "weeks"])
def test_what_is_not_a_length(text: str) -> None:
    assert typed.months_answer(text) is None


@pytest.mark.parametrize(
    ("text", "year"),
    [("Match 2028", 2028), ("2028 match", 2028), ("match '28", 2028), ("NRMP 2029", 2029), ("2028", None),
     ("match", None), ("match 2027 or 2028", None)],
)
def test_the_match_year(text: str, year: int | None) -> None:
    assert typed.parse_match_year(text) == year


@pytest.mark.parametrize(
    ("text", "final"),
    [("final year", True), ("i'm in final year of med school", True), ("im in my final year", True),
     ("last year of med school", True), ("year 4", False), ("4", False), ("first year", False)],
)
def test_the_final_year_of_school(text: str, final: bool) -> None:
    assert typed.is_final_year(text) is final


@pytest.mark.parametrize(
    ("text", "said"),
    [("yep", "yes"), ("Yeah", "yes"), ("nope", "no"), ("not really", "no"), ("not sure", "unsure"),
     ("idk", "unsure"), ("banana", None)],
)
def test_yes_and_no_words(text: str, said: str | None) -> None:
    assert typed.yes_no(text) == said


@pytest.mark.parametrize(("text", "move"), [("skip", "skip"), ("Go back", "back"), ("keep", "keep"),
                                            ("done", "done"), ("cancel", "cancel"), ("backpack", None)])
def test_moves(text: str, move: str | None) -> None:
    assert typed.move_of(text) == move


SPECIALTIES = {
    "Internal medicine": ["im", "internal med"],
    "Family medicine": ["fm", "family practice"],
    "Psychiatry": ["psych"],
    "Pediatrics": ["peds", "paediatrics"],
    "Neurology": ["neuro"],
}


@pytest.mark.parametrize(
    ("text", "name", "suggestion"),
    [
        ("psychaitry", "Psychiatry", None),
        ("family med", "Family medicine", None),
        ("IM", "Internal medicine", None),
        ("peds", "Pediatrics", None),
        ("family medicine maybe", "Family medicine", None),
        ("Internal Medcine", "Internal medicine", None),
        ("dermatology", None, None),
        ("ent", None, None),
        ("pediatry", None, "Pediatrics"),
    ],
)
def test_names_with_typos_abbreviations_and_hedges(text: str, name: str | None, suggestion: str | None) -> None:
    found = typed.match_name(text, SPECIALTIES)
    assert (found.name, found.suggestion) == (name, suggestion)


def test_a_known_specialty_is_not_read_as_a_typo_of_a_listed_one() -> None:
    assert typed.match_specialty("urology", SPECIALTIES).name == "Urology"
    assert typed.match_specialty("neurolgy", SPECIALTIES).name == "Neurology"
    assert typed.match_specialty("dermatolgy", SPECIALTIES).name == "Dermatology"


def test_a_broken_vocabulary_names_its_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "typed.yaml"
    source = (typed.TYPED_FILE).read_text(encoding="utf-8").replace("  week: {months: 0.25,", "  week: {months: lots,")
    broken.write_text(source, encoding="utf-8")
    line = source.splitlines().index(next(ln for ln in source.splitlines() if "week: {months: lots," in ln)) + 1
    with pytest.raises(ContentError, match=rf"typed.yaml:{line}: 'months' must be int or float"):
        typed.parse_vocabulary(broken)


# -- at the steps ------------------------------------------------------------------------------------
def profile_of(chat: Chat, store: Store) -> Profile:
    found = load_profile(store, chat.user)
    assert found is not None
    return found


def test_a_student_types_the_way_people_type(chat: Chat, store: Store) -> None:
    chat.send("/plan")
    chat.send("student")
    chat.send("i'm in final year of med school")
    assert "Final year" in chat.text
    assert state_of(chat) == ("onboarding", "grad_year")
    chat.send("2027")
    chat.send("psychaitry")
    chat.send("family med")
    chat.send("done")
    assert profile_of(chat, store).specialties == ("Psychiatry", "Family medicine")
    chat.send("2028 match")
    assert "Match 2028" in chat.text and "Sep 2027" in chat.text
    assert profile_of(chat, store).application == "2027-09"
    chat.send("4 weeks")
    assert profile_of(chat, store).months_available == 1, "four weeks is a month, not four"
    assert "four weeks make a month" in chat.text
    chat.send("tight budget")
    assert profile_of(chat, store).budget == "limited"
    chat.send("i have b1/b2 already")
    assert profile_of(chat, store).visa == "b1b2"
    chat.send("nope")
    assert profile_of(chat, store).us_months == 0
    chat.send("nope")
    assert profile_of(chat, store).us_letters == 0


def test_a_close_specialty_is_confirmed_not_invented(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send("pediatry")
    assert "Did you mean Pediatrics?" in chat.text
    assert profile_of(chat, store).specialties == ()
    chat.send("dermatology maybe")
    assert profile_of(chat, store).specialties == ("Dermatology",)


@pytest.mark.parametrize("text", ["Match 2028", "2028 match"])
def test_a_match_year_is_no_year_of_graduation_nor_months(chat: Chat, store: Store, text: str) -> None:
    chat.send("/plan")
    chat.press("Student")
    chat.send("final year")
    chat.send(text)  # a student's graduation year may be 2028, but "Match 2028" is when they match
    assert profile_of(chat, store).grad_year is None
    assert state_of(chat) == ("onboarding", "grad_year")
    chat.send("2027")
    chat.press("Internal medicine")
    chat.press("Done")
    chat.send("Match 2028")
    chat.send(text)
    assert "2028 months" not in chat.text  # read as a Match, not as a number of months
    assert profile_of(chat, store).months_available is None


@pytest.mark.parametrize("text", ["4 weeks", "four weeks", "2028", "Match 2028", "3 months"])
def test_a_length_or_a_year_typed_at_the_specialty_step_is_no_specialty(chat: Chat, store: Store, text: str) -> None:
    answer_graduate(chat, upto="specialties")
    chat.send(text)
    assert "doesn't look like a specialty" in chat.text
    assert profile_of(chat, store).specialties == ()
    chat.send("PM&R")  # a name with signs but no figures is kept as typed
    assert profile_of(chat, store).specialties == ("PM&R",)


def test_typed_moves_at_a_step(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="months")
    chat.send("back")
    assert state_of(chat) == ("onboarding", "application")
    chat.send("keep")
    assert state_of(chat) == ("onboarding", "months")
    chat.send("skip")
    assert state_of(chat) == ("onboarding", "budget")
    assert profile_of(chat, store).months_available is None


def test_the_terminal_takes_a_typed_number_as_the_answer(engine: Engine, store: Store, tmp_path: Path) -> None:
    from bot.terminal import Terminal

    out = io.StringIO()
    term = Terminal(engine, "amina", tmp_path, out=out)
    term.send("/plan")
    term.send("b")  # the second button: Graduate
    term.send("2019")
    term.send("Internal medicine")
    term.send("done")
    term.send("Sep 2028")
    term.send("6")  # a number is the answer, not the sixth button
    found = load_profile(store, "term:amina")
    assert found is not None and found.months_available == 6
    assert "[a] " in out.getvalue()
    term.send("a")  # a letter presses that button: the first budget answer
    assert load_profile(store, "term:amina").budget == "limited"  # type: ignore[union-attr]


def test_a_length_typed_at_the_end_month_of_a_rotation(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send("Internal Medicine")
    chat.send("St. Mary")
    chat.press("Teaching hospital")
    chat.press("Both")
    chat.send("03/2026")
    chat.send("4 weeks")  # one month: it ends the month it starts
    row = store.conn.execute("SELECT start, end FROM experiences").fetchone()
    assert tuple(row) == ("2026-03", "2026-03"), chat.text


def test_cancel_typed_at_any_step_stops_the_flow(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="budget")
    chat.send("cancel")
    assert state_of(chat) == (None, None)
    assert profile_of(chat, store).months_available == 3, "what was answered is kept"


@pytest.mark.parametrize(
    ("text", "hours"),
    [("10pm to 6am", ((22, 0), (6, 0))), ("from 10 pm until 6 am", ((22, 0), (6, 0))),
     ("between 11pm and 7am", ((23, 0), (7, 0))), ("12am-6am", ((0, 0), (6, 0))), ("22:00-07:00", ((22, 0), (7, 0))),
     ("10:30pm to 6:15am", ((22, 30), (6, 15))), ("13pm-6am", None), ("late", None)],
)
def test_quiet_hours_as_people_type_them(text: str, hours: tuple[tuple[int, int], tuple[int, int]] | None) -> None:
    from flows.domain.timezones import parse_quiet_hours

    found = parse_quiet_hours(text)
    assert (None if found is None else tuple((t.hour, t.minute) for t in found)) == hours


def test_skip_at_a_pick_several_step_is_done_with_what_is_picked(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="gaps")
    chat.send("skip")
    assert state_of(chat) == ("onboarding", "timezone")
    assert profile_of(chat, store).gaps == ()


@pytest.mark.parametrize("typed_none", ["none", "nothing", "none of these", "nope"])
def test_none_typed_at_the_gaps_step_moves_on_with_none(chat: Chat, store: Store, typed_none: str) -> None:
    answer_graduate(chat, upto="gaps")
    chat.send(typed_none)
    assert state_of(chat) == ("onboarding", "timezone") and profile_of(chat, store).gaps == ()


def test_ok_typed_at_a_pick_several_step_is_done(chat: Chat, store: Store) -> None:
    answer_graduate(chat, upto="gaps")
    chat.send("lors")
    chat.send("ok")
    assert state_of(chat) == ("onboarding", "timezone") and profile_of(chat, store).gaps == ("letters",)
