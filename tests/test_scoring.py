"""The vetting verdict as a table: red flags cap it, all good gives Strong, "Not sure" is never yes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.domain.scoring import NO, UNSURE, YES, Criterion, Level, score
from flows.features.vet import checklist

# A small checklist written out here, so each row of the table can be read on its own.
ESSENTIAL = Criterion("duties", 3, essential=True)
PLAIN = Criterion("letter", 3)
SMALL = Criterion("schedule", 1)
TEACHING = Criterion("teaching", 3, flag_if_no=True)
FLAG = Criterion("guarantee", red_flag=True)
SMALL_LIST = (ESSENTIAL, PLAIN, SMALL, TEACHING, FLAG)


def answers(**given: str) -> dict[str, str]:
    base = {"duties": YES, "letter": YES, "schedule": YES, "teaching": YES, "guarantee": NO}
    base.update(given)
    return base


@pytest.mark.parametrize(
    ("given", "level"),
    [
        ({}, Level.STRONG),  # every good sign, no red flag
        ({"guarantee": YES}, Level.RED_FLAGS),  # a red flag caps everything
        ({"teaching": NO}, Level.RED_FLAGS),  # a missing teaching link is itself a red flag
        ({"guarantee": UNSURE}, Level.PROMISING),  # a red flag nobody ruled out: not Strong
        ({"letter": UNSURE}, Level.PROMISING),  # "Not sure" is not yes: verify first
        ({"teaching": UNSURE}, Level.PROMISING),
        ({"schedule": NO}, Level.STRONG),  # 9 of 10 weight still confirmed
        ({"letter": NO}, Level.WEAK),  # 7 of 10: below the Strong share, nothing open
        ({"duties": NO}, Level.WEAK),  # an essential sign missing: an observership in disguise
        ({"duties": UNSURE}, Level.PROMISING),
        ({"duties": NO, "letter": UNSURE}, Level.WEAK),
        ({"letter": UNSURE, "schedule": UNSURE, "teaching": UNSURE}, Level.WEAK),  # too little confirmed
        ({"duties": UNSURE, "letter": UNSURE, "schedule": UNSURE, "teaching": UNSURE}, Level.WEAK),
        ({"guarantee": YES, "duties": NO}, Level.RED_FLAGS),
        ({"letter": NO, "schedule": UNSURE}, Level.WEAK),  # even a yes would leave it at 7 of 10
    ],
)
def test_small_table(given: dict[str, str], level: Level) -> None:
    assert score(SMALL_LIST, answers(**given)).level is level


def test_unanswered_items_count_as_not_sure() -> None:
    full = answers()
    del full["letter"]
    verdict = score(SMALL_LIST, full)
    assert verdict.level is Level.PROMISING
    assert verdict.unsure == ("letter",)


def test_the_verdict_names_its_reasons_in_checklist_order() -> None:
    verdict = score(
        SMALL_LIST, answers(guarantee=YES, teaching=NO, schedule=UNSURE, duties=NO, letter=YES)
    )
    assert verdict.flags == ("teaching", "guarantee")
    assert verdict.missing == ("duties", "teaching")
    assert verdict.essentials_missing == ("duties",)
    assert verdict.unsure == ("schedule",)
    assert verdict.confirmed == ("letter",)
    assert (verdict.score, verdict.total) == (3, 10)


# -- the real checklist ------------------------------------------------------------------------

CRITERIA = checklist().criteria
CHECKS = [c for c in CRITERIA if not c.red_flag]
FLAGS = [c for c in CRITERIA if c.red_flag]


def all_good() -> dict[str, str]:
    return {c.id: NO if c.red_flag else YES for c in CRITERIA}


def test_all_good_answers_give_strong() -> None:
    assert score(CRITERIA, all_good()).level is Level.STRONG


@pytest.mark.parametrize("flag", [c.id for c in FLAGS])
def test_any_red_flag_caps_the_verdict(flag: str) -> None:
    verdict = score(CRITERIA, {**all_good(), flag: YES})
    assert verdict.level is Level.RED_FLAGS
    assert verdict.flags == (flag,)


@pytest.mark.parametrize("check", [c.id for c in CHECKS])
def test_not_sure_never_counts_as_yes(check: str) -> None:
    sure = score(CRITERIA, all_good())
    unsure = score(CRITERIA, {**all_good(), check: UNSURE})
    assert unsure.level < sure.level
    assert unsure.score < sure.score
    assert check in unsure.unsure


def test_nothing_known_is_weak() -> None:
    assert score(CRITERIA, {}).level is Level.WEAK
    assert score(CRITERIA, {c.id: UNSURE for c in CRITERIA}).level is Level.WEAK


def test_the_real_checklist_has_what_the_issue_asks_for() -> None:
    assert len(CHECKS) == 11 and len(FLAGS) == 4
    assert any(c.flag_if_no for c in CHECKS)  # "no teaching affiliation" is a named red flag
    assert {c.id for c in CHECKS if c.essential} == {"duties", "hands_on"}


answer_maps = st.fixed_dictionaries({c.id: st.sampled_from([YES, NO, UNSURE]) for c in CRITERIA})


@given(answer_maps, st.sampled_from([c.id for c in CHECKS]))
def test_turning_not_sure_into_yes_never_lowers_the_verdict(given: dict[str, str], check: str) -> None:
    before = score(CRITERIA, {**given, check: UNSURE})
    after = score(CRITERIA, {**given, check: YES})
    assert after.level >= before.level


@given(answer_maps)
def test_strong_only_without_open_answers_or_flags(given: dict[str, str]) -> None:
    verdict = score(CRITERIA, given)
    if verdict.level is Level.STRONG:
        assert not verdict.unsure and not verdict.flags and not verdict.essentials_missing
    if any(given[c.id] == YES for c in FLAGS):
        assert verdict.level is Level.RED_FLAGS
