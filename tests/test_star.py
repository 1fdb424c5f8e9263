from __future__ import annotations

import pytest

from flows.domain.star import PARTS, StarCheck, check_star

FULL = (
    "During my internal medicine observership in Chicago, a 67-year-old man came in with "
    "shortness of breath. My role was to follow his case and prepare a short summary for rounds. "
    "I reviewed his chart every morning, read the heart failure guidelines and presented a "
    "two-minute summary to the team. As a result, the attending asked me to lead the next teaching "
    "session, and I learned how closely US teams track daily weights."
)
NO_RESULT = (
    "While I was on my externship in family medicine, a patient with diabetes missed her "
    "appointments. I was asked to call her and find out why. I called her, listened and "
    "explained how the clinic's transport service works."
)
NO_TASK_NO_SITUATION = "I prepared well, I studied the guidelines and I learned a lot about teamwork."
ONLY_OPINION = "I think US health care is very different and I would like to train there."
WE_ONLY = (
    "On my first week of the elective the team had to discharge a complex patient. We called the "
    "family and we arranged home care. In the end he went home safely."
)
NUMBERS_AS_RESULT = (
    "In my research year at the clinic my task was to enrol patients. I built a screening list and "
    "I spoke to every eligible patient; we enrolled 40 patients in 3 months."
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (FULL, {"situation": True, "task": True, "action": True, "result": True}),
        (NO_RESULT, {"situation": True, "task": True, "action": True, "result": False}),
        (NO_TASK_NO_SITUATION, {"situation": False, "task": False, "action": True, "result": True}),
        (ONLY_OPINION, {"situation": False, "task": False, "action": False, "result": False}),
        (WE_ONLY, {"situation": True, "task": True, "action": False, "result": True}),
        (NUMBERS_AS_RESULT, {"situation": True, "task": True, "action": True, "result": True}),
        ("", {"situation": False, "task": False, "action": False, "result": False}),
        ("<b>I managed</b> & I <i>wrote</i>", {"situation": False, "task": False, "action": True,
                                              "result": False}),
    ],
    ids=["full", "no-result", "action-and-result", "opinion", "we-only", "numbers", "empty", "html"],
)
def test_star_parts_are_found(answer: str, expected: dict[str, bool]) -> None:
    assert check_star(answer).found == expected


@pytest.mark.parametrize(
    ("answer", "action"),
    [
        ("I needed to call the family.", False),  # a duty, not a deed
        ("I wanted to help.", False),
        ("I was there.", False),
        ("I called the family.", True),
        ("Then I wrote a summary.", True),
        ("I’ve been thinking", False),
        ("I SPOKE TO THE ATTENDING.", True),
    ],
)
def test_action_needs_something_you_did(answer: str, action: bool) -> None:
    assert check_star(answer).action is action


def test_missing_score_and_json_round_trip() -> None:
    check = check_star(NO_RESULT)
    assert check.missing == ("result",)
    assert check.score == 3
    data = check.as_json()
    assert data["r"] == 0 and data["s"] == 1 and data["w"] == check.words
    assert StarCheck.from_json(data) == check


def test_a_very_long_answer_is_checked_quickly_and_safely() -> None:
    check = check_star(FULL * 10 + "x" * 4000)
    assert check.score == len(PARTS)
