"""Scoring is a pure table: checklist answers in, a verdict out."""

from __future__ import annotations

import pytest

from flows.domain.scoring import NO, UNSURE, YES, Criterion, Level, is_good, score
from flows.features.vet import checklist

CRITERIA = checklist().criteria
GOOD = [c.id for c in CRITERIA if not c.red_flag]
FLAGS = [c.id for c in CRITERIA if c.red_flag]


def answers(default_good: str = YES, default_flag: str = NO, **overrides: str) -> dict[str, str]:
    values = {c.id: default_flag if c.red_flag else default_good for c in CRITERIA}
    values.update(overrides)
    return values


def test_the_checklist_is_the_guides() -> None:
    assert GOOD == ["duties", "hands_on", "attendings", "workflow", "evaluation", "affiliation", "matched",
                    "curriculum", "schedule"]
    assert FLAGS == ["guarantee", "vague", "observe_fee"]
    assert [c.id for c in CRITERIA if c.guide_ask] == ["duties", "evaluation", "affiliation", "schedule"]
    assert [c.id for c in CRITERIA if c.essential] == ["duties", "hands_on"]


@pytest.mark.parametrize(
    ("given", "level"),
    [
        (answers(), Level.STRONG),
        (answers(guarantee=YES), Level.RED_FLAGS),  # the guide: avoid
        (answers(vague=YES), Level.RED_FLAGS),
        (answers(observe_fee=YES), Level.RED_FLAGS),
        (answers(duties=NO), Level.WEAK),  # essential
        (answers(hands_on=NO), Level.WEAK),
        (answers(matched=NO), Level.PROMISING),
        (answers(affiliation=NO), Level.PROMISING),  # missing, but not a red flag: the guide doesn't say so
        (answers(matched=UNSURE), Level.PROMISING),
        (answers(guarantee=UNSURE), Level.PROMISING),
        (answers(default_good=NO, duties=YES, hands_on=YES), Level.WEAK),  # more missing than confirmed
        ({}, Level.PROMISING),
    ],
)
def test_levels(given: dict[str, str], level: Level) -> None:
    assert score(CRITERIA, given).level is level


def test_a_no_to_what_the_guide_says_to_ask_for_is_a_question() -> None:
    v = score(CRITERIA, answers(duties=NO, schedule=NO, matched=NO, attendings=UNSURE))
    assert v.to_ask == ("duties", "attendings", "schedule")  # matched: the guide doesn't say to ask
    assert v.missing == ("duties", "matched", "schedule") and v.unsure == ("attendings",)
    assert v.essentials_missing == ("duties",)


def test_confirmed_missing_flags_and_cleared_are_named() -> None:
    v = score(CRITERIA, answers(guarantee=YES, curriculum=NO))
    assert v.flags == ("guarantee",) and "vague" in v.cleared
    assert "curriculum" in v.missing and "duties" in v.confirmed


def test_is_good_reads_red_flags_the_other_way() -> None:
    flag, good = Criterion("f", red_flag=True), Criterion("g")
    assert is_good(flag, NO) and not is_good(flag, YES) and is_good(flag, UNSURE) is None
    assert is_good(good, YES) and not is_good(good, NO) and is_good(good, None) is None
