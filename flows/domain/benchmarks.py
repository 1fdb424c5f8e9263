"""The guide's benchmarks (``content/benchmarks.yaml``) and the specialty list
(``content/plan.yaml``), loaded and checked once, and the rules for naming a specialty:
"family med", "Family Medicine" and "FM" are one specialty everywhere they are compared."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, field_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Int, read, rule
from flows.domain.plan_content import load_rules
from flows.domain.records import LEVELS, TYPES, Experience

BENCHMARKS_PATH = CONTENT_DIR / "benchmarks.yaml"


@dataclass(frozen=True, slots=True)
class Range:
    min: int
    max: int

    def __str__(self) -> str:
        return str(self.min) if self.max == self.min else f"{self.min}–{self.max}"


@dataclass(frozen=True, slots=True)
class Benchmarks:
    levels: Mapping[str, str]  # experience type -> its level in the guide's hierarchy
    not_usce: frozenset[str]  # types the guide says are not USCE by themselves
    total: Range
    hands_on: Range
    specialty: Range
    recency_years: int
    recent_catch_up: Range
    older_graduation_years: int  # the assistant's rule of thumb, not the guide's
    letters: Range
    letters_ideal: Range
    letters_by: int  # months before the application
    observership_only: Range
    letter_late_months: int  # the assistant's choice
    lead_electives: Range  # months before the application
    lead_secure: Range
    lead_letters: Range


class _Range(ContentModel):
    min: Int
    max: Int | None = None  # the same as min when not given


def _ordered(value: _Range) -> _Range:
    if value.min < 0 or (value.max is not None and value.max < value.min):
        raise ValueError("must have 0 ≤ min ≤ max")
    return value


RangeField = Annotated[_Range, AfterValidator(_ordered)]


def _range(value: _Range) -> Range:
    return Range(value.min, value.min if value.max is None else value.max)


class _Recency(ContentModel):
    window_years: Int
    catch_up_months: RangeField
    older_graduation_years: Int


class _LeadTimes(ContentModel):
    electives: RangeField
    secure: RangeField
    letters: RangeField


class BenchmarksFile(ContentModel):
    """``content/benchmarks.yaml``."""

    levels: dict[str, str]
    not_usce: tuple[str, ...]
    total_months: RangeField
    hands_on_months: RangeField
    specialty_months: RangeField
    recency: _Recency
    letters: RangeField
    letters_ideal: RangeField
    letters_by_months_before: Int
    observership_only_months: RangeField
    letter_late_months: Int
    lead_times: _LeadTimes

    @field_validator("levels")
    @classmethod
    def _every_type(cls, levels: dict[str, str]) -> dict[str, str]:
        unknown = sorted(levels.keys() - set(TYPES))
        if unknown:
            raise rule(f"levels: '{unknown[0]}' is not a type of experience ({', '.join(TYPES)})", unknown[0])
        for kind in TYPES:
            if levels.get(kind) not in LEVELS:
                raise rule(f"levels: '{kind}' must be one of {LEVELS}", kind)
        return levels

    @field_validator("not_usce")
    @classmethod
    def _known_types(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for n, kind in enumerate(kinds):
            if kind not in TYPES:
                raise rule(f"not_usce: use types from {TYPES}", n)
        return kinds

    def benchmarks(self) -> Benchmarks:
        return Benchmarks(
            levels={kind: self.levels[kind] for kind in TYPES},
            not_usce=frozenset(self.not_usce),
            total=_range(self.total_months),
            hands_on=_range(self.hands_on_months),
            specialty=_range(self.specialty_months),
            recency_years=self.recency.window_years,
            recent_catch_up=_range(self.recency.catch_up_months),
            older_graduation_years=self.recency.older_graduation_years,
            letters=_range(self.letters),
            letters_ideal=_range(self.letters_ideal),
            letters_by=self.letters_by_months_before,
            observership_only=_range(self.observership_only_months),
            letter_late_months=self.letter_late_months,
            lead_electives=_range(self.lead_times.electives),
            lead_secure=_range(self.lead_times.secure),
            lead_letters=_range(self.lead_times.letters),
        )


def load_benchmarks(path: Path = BENCHMARKS_PATH) -> Benchmarks:
    return read(path, BenchmarksFile).benchmarks()


BENCHMARKS = ContentFile(BENCHMARKS_PATH.name, load_benchmarks)


def benchmarks() -> Benchmarks:
    """The benchmarks, as loaded at start."""
    return BENCHMARKS.value()


# -- specialties ------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.casefold()).strip()


@functools.cache
def specialty_names() -> Mapping[str, str]:
    """Normalised name or alias -> the canonical specialty name (``content/plan.yaml``)."""
    return {_norm(word): s.name for s in load_rules().specialties for word in (s.name, *s.aliases)}


_HEDGES = re.compile(r"\b(maybe|probably|perhaps|or so|i think|mostly)\b")


def canonical_specialty(text: str | None) -> str:
    """One name per specialty: "family med", "Family Medicine" and "FM" are one specialty.
    Names not on the list come back normalised, so they still compare with each other."""
    value = _norm(_HEDGES.sub(" ", (text or "").casefold()))
    names = specialty_names()
    if value in names:
        return names[value]
    shared = _shared_words()
    for size in (3, 2, 1):  # "internal medicine ward" -> the longest known name inside
        words = value.split()
        for i in range(len(words) - size + 1):
            found = names.get(" ".join(words[i : i + size]))
            # a head word after another word names something else: "sports medicine", "vascular surgery"
            if found and not (size == 1 and i > 0 and words[i] in shared):
                return found
    return value


@functools.cache
def _shared_words() -> frozenset[str]:
    """Words that end a listed name of several words ("medicine", "surgery"): after another word
    they are the head of a name that is not on the list."""
    return frozenset(alias.split()[-1] for alias in specialty_names() if len(alias.split()) > 1)


def display_specialty(text: str) -> str:
    """The name to show: the list's name when the typed one is on it ("peds" -> "Pediatrics")."""
    found = canonical_specialty(text)
    return found if found in specialty_names().values() else " ".join(text.split())


def same_specialty(a: str | None, b: str | None) -> bool:
    first, second = canonical_specialty(a), canonical_specialty(b)
    return bool(first) and first == second


def in_specialty(experience: Experience, specialties: Iterable[str]) -> bool:
    """Whether an experience's specialty is one of the targets."""
    return any(same_specialty(experience.specialty, target) for target in specialties)
