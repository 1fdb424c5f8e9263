"""Scoring a vetted externship: a pure function from checklist answers to a verdict.

Nothing here touches storage, texts or the clock, so the rules can be read in one
place and tested as a table:

- A red flag that is present (answered "yes", or a good sign marked ``flag_if_no``
  answered "no") caps the verdict at :attr:`Level.RED_FLAGS`.
- "Not sure" (or no answer yet) never counts as yes: it scores nothing, and a
  red flag nobody has ruled out keeps the verdict below Strong.
- Every good sign confirmed and no red flag gives :attr:`Level.STRONG`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

YES, NO, UNSURE = "y", "n", "?"
ANSWERS = (YES, NO, UNSURE)

STRONG_SHARE = 0.8  # share of the good signs' weight that must be confirmed for Strong
PROMISING_FLOOR = 0.5  # share already confirmed before open answers can make it Promising


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
    weight: int = 1
    red_flag: bool = False  # the question asks about a problem: "yes" is bad
    essential: bool = False  # a "no" here means it is not the externship it claims to be
    flag_if_no: bool = False  # a good sign whose absence is itself a red flag


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    score: int  # weight of the good signs confirmed
    total: int  # weight of all good signs
    confirmed: tuple[str, ...]  # good signs answered yes
    missing: tuple[str, ...]  # good signs answered no
    unsure: tuple[str, ...]  # any item not answered yes or no, in checklist order
    flags: tuple[str, ...]  # red flags present
    essentials_missing: tuple[str, ...]  # essential good signs answered no

    @property
    def share(self) -> float:
        return self.score / self.total if self.total else 0.0


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
    essentials_missing: list[str] = []
    points = open_points = total = 0
    for c in criteria:
        answer = answers.get(c.id)
        if c.red_flag:
            if answer == YES:
                flags.append(c.id)
            elif answer != NO:
                unsure.append(c.id)
            continue
        total += c.weight
        if answer == YES:
            points += c.weight
            confirmed.append(c.id)
        elif answer == NO:
            missing.append(c.id)
            if c.flag_if_no:
                flags.append(c.id)
            if c.essential:
                essentials_missing.append(c.id)
        else:
            open_points += c.weight
            unsure.append(c.id)

    share = points / total if total else 0.0
    potential = (points + open_points) / total if total else 0.0
    if flags:
        level = Level.RED_FLAGS
    elif essentials_missing:
        level = Level.WEAK
    elif not unsure and share >= STRONG_SHARE:
        level = Level.STRONG
    elif unsure and share >= PROMISING_FLOOR and potential >= STRONG_SHARE:
        level = Level.PROMISING  # could be Strong once the open answers come back as yes
    else:
        level = Level.WEAK
    return Verdict(
        level,
        points,
        total,
        tuple(confirmed),
        tuple(missing),
        tuple(unsure),
        tuple(flags),
        tuple(essentials_missing),
    )
