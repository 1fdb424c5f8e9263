"""A rough check of an interview answer for the four STAR parts: Situation, Task, Action, Result.

This is a heuristic, not a judge: it looks for cue words and phrases a STAR answer tends to
contain (a time and place, a goal or duty, things *you* did in the past tense, and what came
of it). It can be fooled either way, and the feedback says so. Pure: no I/O, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARTS = ("situation", "task", "action", "result")

# Words that follow "I" but describe a duty or a wish rather than something done.
_NOT_ACTIONS = frozenset(
    {"needed", "wanted", "hoped", "wished", "was", "were", "had", "used", "supposed", "tried"}
)
# Common irregular past-tense verbs (regular ones end in -ed).
_IRREGULAR = (
    "began|brought|built|caught|chose|did|drew|drove|fed|felt|found|gave|got|grew|heard|held|"
    "kept|knew|led|left|made|meant|met|paid|put|ran|read|said|sat|saw|sent|set|showed|sought|"
    "spoke|spent|stood|stayed|took|taught|told|thought|understood|went|won|wrote"
)
_ACTION = re.compile(
    r"\b(?:i|i then|i also|i first|i quickly|i carefully|then i|so i)\s+"
    r"(?P<verb>[a-z]+ed|" + _IRREGULAR + r")\b"
)

_SITUATION = re.compile(
    r"\b(?:during|while|when i was|when we|one day|one night|one morning|last (?:year|month|week|summer)|"
    r"on (?:my|a|the|one) (?:first|second|last|final)?\s*(?:day|week|rotation|shift|call|rounds)|"
    r"in (?:my|the) (?:first|second|third|last|final) week|"
    r"\d+[- ]year[- ]old|"
    r"(?:rotation|observership|externship|elective|clerkship|sub-?internship|residency program|"
    r"clinic|ward|icu|emergency department|hospital|unit|rounds)\b)"
)
_TASK = re.compile(
    r"\b(?:my (?:role|task|job|goal|aim|responsibility|duty|challenge)|"
    r"i (?:was|had been) (?:asked|expected|responsible|assigned|tasked|supposed|in charge)|"
    r"i (?:needed|had|wanted|hoped|was trying) to|"
    r"(?:we|the team) (?:needed|had|wanted) to|"
    r"the (?:goal|aim|challenge|problem|issue|question|difficulty) was|"
    r"(?:it was|it fell to) (?:up to )?me|in order to|so that i could|"
    r"was responsible for|my part was)"
)
_RESULT = re.compile(
    r"\b(?:as a result|result(?:ed|s)?|outcome|in the end|eventually|ended up|finally|afterwards|"
    r"learn(?:ed|t)|taught me|showed me|realized|realised|improv(?:ed|ement)|resolved|"
    r"recovered|discharged|thanked|praised|feedback|since then|from then on|now i|"
    r"which (?:led|meant|helped)|this (?:led|meant|helped)|that (?:led|meant|helped)|"
    r"(?:the|my) (?:attending|team|resident|patient) (?:was|were|said|agreed|asked me)|"
    r"\d+\s?(?:%|percent|days?|hours?|weeks?|patients?))"
)


@dataclass(frozen=True, slots=True)
class StarCheck:
    """Which STAR parts an answer seems to have."""

    situation: bool
    task: bool
    action: bool
    result: bool
    words: int

    @property
    def found(self) -> dict[str, bool]:
        return {part: getattr(self, part) for part in PARTS}

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(part for part in PARTS if not getattr(self, part))

    @property
    def score(self) -> int:
        return len(PARTS) - len(self.missing)

    def as_json(self) -> dict[str, int]:
        """A compact form for storage: ``{"s": 1, "t": 0, "a": 1, "r": 1, "w": 120}``."""
        return {part[0]: int(present) for part, present in self.found.items()} | {"w": self.words}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> StarCheck:
        s, t, a, r = (bool(data.get(part[0])) for part in PARTS)
        return cls(s, t, a, r, words=int(data.get("w", 0)))


def _normalise(answer: str) -> str:
    text = answer.lower().replace("’", "'").replace("‘", "'")
    return " ".join(text.split())


def _has_action(text: str) -> bool:
    return any(m.group("verb") not in _NOT_ACTIONS for m in _ACTION.finditer(text))


def check_star(answer: str) -> StarCheck:
    """Look for a Situation, a Task, an Action and a Result in ``answer``."""
    text = _normalise(answer)
    return StarCheck(
        situation=bool(_SITUATION.search(text)),
        task=bool(_TASK.search(text)),
        action=_has_action(text),
        result=bool(_RESULT.search(text)),
        words=len(re.findall(r"\w+", text)),
    )
