"""The guide's benchmarks (``content/benchmarks.yaml``) and the specialty list
(``content/plan.yaml``), loaded and checked once, and the rules for naming a specialty:
"family med", "Family Medicine" and "FM" are one specialty everywhere they are compared."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.domain.records import LEVELS, TYPES, Experience

BENCHMARKS_PATH = CONTENT_DIR / "benchmarks.yaml"
SPECIALTIES_PATH = CONTENT_DIR / "plan.yaml"


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


def _range(path: Path, node: Mapping[str, Any], key: str) -> Range:
    value = require(path, node, key, dict)
    low = require(path, value, "min", int)
    high = value.get("max", low)
    if not isinstance(high, int) or high < low or low < 0:
        raise ContentError(path, line_of(value), f"'{key}': max must be a whole number ≥ min")
    return Range(low, high)


def load_benchmarks(path: Path = BENCHMARKS_PATH) -> Benchmarks:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    levels = require(path, data, "levels", dict)
    for kind in TYPES:
        if levels.get(kind) not in LEVELS:
            raise ContentError(path, line_of(levels), f"levels: '{kind}' must be one of {LEVELS}")
    not_usce = require(path, data, "not_usce", list)
    if any(kind not in TYPES for kind in not_usce):
        raise ContentError(path, line_of(data), f"not_usce: use types from {TYPES}")
    recency = require(path, data, "recency", dict)
    return Benchmarks(
        levels={kind: levels[kind] for kind in TYPES},
        not_usce=frozenset(not_usce),
        total=_range(path, data, "total_months"),
        hands_on=_range(path, data, "hands_on_months"),
        specialty=_range(path, data, "specialty_months"),
        recency_years=require(path, recency, "window_years", int),
        recent_catch_up=_range(path, recency, "catch_up_months"),
        older_graduation_years=require(path, recency, "older_graduation_years", int),
        letters=_range(path, data, "letters"),
        letters_ideal=_range(path, data, "letters_ideal"),
        letters_by=require(path, data, "letters_by_months_before", int),
        observership_only=_range(path, data, "observership_only_months"),
        letter_late_months=require(path, data, "letter_late_months", int),
        lead_electives=_range(path, require(path, data, "lead_times", dict), "electives"),
        lead_secure=_range(path, data["lead_times"], "secure"),
        lead_letters=_range(path, data["lead_times"], "letters"),
    )


@functools.cache
def benchmarks() -> Benchmarks:
    """The benchmarks, loaded once per process."""
    return load_benchmarks()


# -- specialties ------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.casefold()).strip()


@functools.cache
def specialty_names() -> Mapping[str, str]:
    """Normalised name or alias -> the canonical specialty name (``content/plan.yaml``)."""
    data = load_yaml(SPECIALTIES_PATH)
    names: dict[str, str] = {}
    for node in require(SPECIALTIES_PATH, data, "specialties", list):
        name = require(SPECIALTIES_PATH, node, "name").strip()
        for word in (name, *node.get("aliases", ())):
            names[_norm(str(word))] = name
    return names


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
