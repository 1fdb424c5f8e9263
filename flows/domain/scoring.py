"""Scoring a vetted externship: a pure function from checklist answers to a verdict.

Nothing here touches storage, texts or the clock, so the rules can be read in one place
and tested as a table. The checklist items and red flags come from the guide; the levels
are the assistant's own reading of the answers, and the verdict says so:

- A red flag that is present (answered "yes") gives :attr:`Level.RED_FLAGS`: the guide's
  advice for each of them is to avoid the program.
- "Not sure" (or no answer yet) never counts as yes: it is a question to send.
- A "No" to something the guide says to ask for before paying is a question to send too.
- An essential good sign answered "no" (defined duties, a clear hands-on statement), or
  more signs missing than confirmed, gives :attr:`Level.WEAK`.
- Every good sign confirmed and every red flag ruled out gives :attr:`Level.STRONG`;
  anything in between is :attr:`Level.PROMISING` (verify first).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

YES, NO, UNSURE = "y", "n", "?"
ANSWERS = (YES, NO, UNSURE)


class Level(enum.IntEnum):
    """Verdicts, worst first, so they compare: ``Level.WEAK < Level.STRONG``."""

    RED_FLAGS = 0
    WEAK = 1
    PROMISING = 2
    STRONG = 3

    @property
    def code(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Criterion:
    """One checklist item as scoring sees it."""

    id: str
    red_flag: bool = False  # the question asks about a problem: "yes" is bad
    essential: bool = False  # a "no" here means it is not the externship it claims to be
    guide_ask: bool = False  # the guide says to ask the program for this before paying


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    confirmed: tuple[str, ...]  # good signs answered yes
    missing: tuple[str, ...]  # good signs answered no
    unsure: tuple[str, ...]  # any item not answered yes or no, in checklist order
    flags: tuple[str, ...]  # red flags present
    cleared: tuple[str, ...]  # red flags answered no
    essentials_missing: tuple[str, ...]  # essential good signs answered no
    to_ask: tuple[str, ...]  # items whose question should go to the program, in checklist order

    @property
    def total(self) -> int:
        return len(self.confirmed) + len(self.missing) + len([i for i in self.unsure if i not in self.flags])


def is_good(criterion: Criterion, answer: str | None) -> bool | None:
    """Whether an answer is good news for the program (None: not known)."""
    if answer not in (YES, NO):
        return None
    return (answer == NO) if criterion.red_flag else (answer == YES)


def score(criteria: Sequence[Criterion], answers: Mapping[str, str]) -> Verdict:
    """The verdict for ``answers`` (item id -> "y" / "n" / "?"; missing ids count as "?")."""
    confirmed: list[str] = []
    missing: list[str] = []
    unsure: list[str] = []
    flags: list[str] = []
    cleared: list[str] = []
    essentials: list[str] = []
    to_ask: list[str] = []
    for c in criteria:
        answer = answers.get(c.id)
        if answer not in (YES, NO):
            unsure.append(c.id)
            to_ask.append(c.id)
        elif c.red_flag:
            (flags if answer == YES else cleared).append(c.id)
        elif answer == YES:
            confirmed.append(c.id)
        else:
            missing.append(c.id)
            if c.essential:
                essentials.append(c.id)
            if c.guide_ask:
                to_ask.append(c.id)
    if flags:
        level = Level.RED_FLAGS
    elif essentials or len(missing) > len(confirmed):
        level = Level.WEAK
    elif not unsure and not missing:
        level = Level.STRONG
    else:
        level = Level.PROMISING
    return Verdict(level, tuple(confirmed), tuple(missing), tuple(unsure), tuple(flags), tuple(cleared),
                   tuple(essentials), tuple(to_ask))
