"""Readiness: how a user's logged US experience compares with the guide's benchmarks.

:func:`assess` is a pure function of the experiences, the profile (or None), today's date
and the benchmarks (``content/benchmarks.yaml``); :func:`render` turns its result into the
/progress message. Months are calendar months and overlapping experiences count once.
Experiences count as *secured* when done (or, while ongoing, up to this month); planned
ones only add to the *projected* figures.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.storage.experiences import LEVELS, TYPES, Experience, month_index, month_label, months_of
from flows.storage.profiles import Profile

BENCHMARKS_PATH = CONTENT_DIR / "benchmarks.yaml"


@dataclass(frozen=True, slots=True)
class Range:
    min: int
    max: int

    def __str__(self) -> str:
        return str(self.min) if self.max == self.min else f"{self.min}–{self.max}"


@dataclass(frozen=True, slots=True)
class Benchmarks:
    levels: Mapping[str, str]  # experience type -> default hands-on level
    total: Range
    hands_on: Range
    specialty: Range
    recency_years: int
    recent: Range
    recent_catch_up: Range
    letters: Range
    letters_ideal: Range
    observership_only: Range


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
    recency = require(path, data, "recency", dict)
    return Benchmarks(
        levels={kind: levels[kind] for kind in TYPES},
        total=_range(path, data, "total_months"),
        hands_on=_range(path, data, "hands_on_months"),
        specialty=_range(path, data, "specialty_months"),
        recency_years=require(path, recency, "window_years", int),
        recent=_range(path, recency, "months"),
        recent_catch_up=_range(path, recency, "catch_up_months"),
        letters=_range(path, data, "letters"),
        letters_ideal=_range(path, data, "letters_ideal"),
        observership_only=_range(path, data, "observership_only_months"),
    )


@functools.cache
def benchmarks() -> Benchmarks:
    """The benchmarks, loaded once per process."""
    return load_benchmarks()


# -- the assessment --------------------------------------------------------------------------

MET, PROJECTED, NOT_MET, UNKNOWN = "met", "projected", "not_met", "unknown"


@dataclass(frozen=True, slots=True)
class Line:
    """One benchmark: what is secured now, what planned experiences would bring, the target."""

    key: str  # total | hands_on | observership | specialty | recent | letters
    verdict: str  # MET | PROJECTED (met once planned ones happen) | NOT_MET | UNKNOWN
    now: int
    projected: int
    target: Range
    pending: int = 0  # letters asked for or promised


@dataclass(frozen=True, slots=True)
class Step:
    """The single most useful next step; ``key`` picks its text."""

    key: str
    institution: str = ""
    specialty: str = ""


@dataclass(frozen=True, slots=True)
class Readiness:
    lines: tuple[Line, ...]
    next_step: Step
    application: int | None  # month index of the application, if known
    after_application: int  # logged months from the application month on (not counted)
    observership_only: bool
    specialties: tuple[str, ...]
    unlogged_months: int  # months the profile mentions beyond what is logged
    unlogged_letters: int
    catch_up: bool  # the user said recency is a gap: the higher recency target applies

    def line(self, key: str) -> Line | None:
        return next((line for line in self.lines if line.key == key), None)


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.casefold()).strip()


def in_specialty(experience: Experience, specialties: Iterable[str]) -> bool:
    """Whether an experience's specialty is one of the targets (tolerant of case and wording)."""
    mine = _norm(experience.specialty or "")
    if not mine:
        return False
    for target in specialties:
        wanted = _norm(target)
        if wanted and (mine == wanted or f" {wanted} " in f" {mine} " or f" {mine} " in f" {wanted} "):
            return True
    return False


def counted_level(experience: Experience, bench: Benchmarks) -> str:
    """The level a readiness check counts: the one logged, but never above what the guide's
    hierarchy gives the type (an observership marked hands-on still counts as observing)."""
    cap = bench.levels.get(experience.type, "non")
    logged = experience.level if experience.level in LEVELS else cap
    return max(logged, cap, key=LEVELS.index)  # LEVELS runs from most to least hands-on


def _verdict(now: int, projected: int, target: int) -> str:
    if now >= target:
        return MET
    return PROJECTED if projected >= target else NOT_MET


def assess(
    experiences: Sequence[Experience],
    profile: Profile | None,
    today: date,
    bench: Benchmarks,
    older_graduate: bool = False,
) -> Readiness:
    """Compare experiences with the benchmarks, relative to the application month if known.

    The higher recency target applies when the user named recency as a gap, or when
    ``older_graduate`` (the plan's rule of thumb on the graduation year) says so.
    """
    this_month = month_index(today)
    app_date = profile.application_date if profile else None
    app = month_index(app_date) if app_date else None
    specialties = profile.specialties if profile else ()
    catch_up = older_graduate or bool(profile and "recent" in profile.gaps)

    # Each experience's months: secured now, and all of them (secured + still to come).
    spans: list[tuple[Experience, set[int], set[int]]] = []
    late: set[int] = set()
    for exp in experiences:
        months = set(months_of(exp))
        if app is not None:
            late |= {m for m in months if m >= app}
            months = {m for m in months if m < app}
        if exp.status == "done":
            secured = months
        elif exp.status == "ongoing":
            secured = {m for m in months if m <= this_month}
        else:
            secured = set()
        spans.append((exp, secured, months))

    def measure(keep: Callable[[Experience], bool], window: range | None = None) -> tuple[int, int]:
        now: set[int] = set()
        every: set[int] = set()
        for exp, secured, months in spans:
            if keep(exp):
                now |= secured
                every |= months
        if window is not None:
            now = {m for m in now if m in window}
            every = {m for m in every if m in window}
        return len(now), len(every)

    obs_only = bool(experiences) and all(counted_level(e, bench) == "non" for e in experiences)
    lines: list[Line] = []
    total = measure(lambda e: True)
    lines.append(Line("total", _verdict(*total, bench.total.min), *total, bench.total))
    hands = measure(lambda e: counted_level(e, bench) == "hands_on")
    lines.append(Line("hands_on", _verdict(*hands, bench.hands_on.min), *hands, bench.hands_on))
    if obs_only:
        target = bench.observership_only
        lines.append(Line("observership", _verdict(*total, target.min), *total, target))
    if specialties:
        spec = measure(lambda e: in_specialty(e, specialties))
        lines.append(Line("specialty", _verdict(*spec, bench.specialty.min), *spec, bench.specialty))
    else:
        lines.append(Line("specialty", UNKNOWN, 0, 0, bench.specialty))
    recent_target = bench.recent_catch_up if catch_up else bench.recent
    if app is not None:
        recent = measure(lambda e: True, range(app - 12 * bench.recency_years, app))
        lines.append(Line("recent", _verdict(*recent, recent_target.min), *recent, recent_target))
    else:
        lines.append(Line("recent", UNKNOWN, 0, 0, recent_target))
    received = sum(1 for e in experiences if e.letter == "received")
    pending = sum(1 for e in experiences if e.letter in ("asked", "promised"))
    promised = sum(1 for e in experiences if e.letter == "promised")
    lines.append(
        Line(
            "letters",
            _verdict(received, received + promised, bench.letters.min),  # a request alone is no letter yet
            received,
            received + pending,
            bench.letters,
            pending,
        )
    )

    result = Readiness(
        lines=tuple(lines),
        next_step=Step("first"),
        application=app,
        after_application=len(late),
        observership_only=obs_only,
        specialties=specialties,
        unlogged_months=max(0, (profile.us_months or 0) - total[0]) if profile else 0,
        unlogged_letters=max(0, (profile.us_letters or 0) - received) if profile else 0,
        catch_up=catch_up,
    )
    return replace(result, next_step=_next_step(result, spans, profile, bench))


def _letter_candidate(spans: Sequence[tuple[Experience, set[int], set[int]]]) -> Experience | None:
    """The most recent experience under way or done that has no letter asked for yet."""
    started = [exp for exp, secured, _ in spans if exp.status != "planned" and exp.letter == "none"]
    return max(started, key=lambda e: (e.end, e.id)) if started else None


def _next_step(
    r: Readiness,
    spans: Sequence[tuple[Experience, set[int], set[int]]],
    profile: Profile | None,
    bench: Benchmarks,
) -> Step:
    if not spans:
        return Step("first_logged" if r.unlogged_months else "first")
    if r.application is None:
        return Step("goals")
    by_key = {line.key: line for line in r.lines}
    main = "observership" if r.observership_only else "hands_on"
    order = [by_key[k] for k in ("total", "letters", main, "specialty", "recent")]
    ask = _letter_candidate(spans)
    for line in order:
        if line.verdict != NOT_MET:
            continue
        if line.key == "letters":
            return Step("letter_ask", institution=ask.institution) if ask else Step("letter_plan")
        if line.key == "hands_on":
            status = profile.status if profile else None
            return Step("hands_on_student" if status == "student" else "hands_on_graduate"
                        if status == "graduate" else "hands_on")
        if line.key == "specialty":
            return Step("specialty", specialty=r.specialties[0])
        return Step(line.key)
    for line in order:
        if line.verdict == PROJECTED:
            return Step("letter_follow" if line.key == "letters" else "on_track")
    if any(line.verdict == UNKNOWN for line in order):
        return Step("goals")
    if r.observership_only:
        return Step("add_hands_on")
    letters = by_key["letters"]
    if letters.now < bench.letters_ideal.min:
        if ask:
            return Step("letter_ask", institution=ask.institution)
        return Step("letter_follow" if letters.pending else "letters_ideal")
    return Step("all_met")


# -- the message -----------------------------------------------------------------------------

MARKS = {MET: "✅", PROJECTED: "🔜", NOT_MET: "❌", UNKNOWN: "❔"}
Translate = Callable[..., str]


def _months(t: Translate, n: int) -> str:
    return t("tracker.unit_month" if n == 1 else "tracker.unit_months", n=n)


def _amount(t: Translate, line: Line, unit: Callable[[int], str]) -> str:
    if line.projected > line.now:
        return t("tracker.progress.with_planned", now=unit(line.now), projected=line.projected)
    return unit(line.now)


def render(r: Readiness, t: Translate, bench: Benchmarks | None = None) -> str:
    """The /progress message: one line per benchmark, notes, and the next step."""
    bench = bench or benchmarks()
    parts = [t("tracker.progress.title")]
    if r.application is not None:
        parts.append(t("tracker.progress.applying", month=month_label(r.application, t("tracker.months"))))
    else:
        parts.append(t("tracker.progress.no_application"))
    body: list[str] = []
    for line in r.lines:
        mark = MARKS[line.verdict]
        key = f"tracker.progress.{line.key}"
        if line.verdict == UNKNOWN:
            body.append(t(f"{key}_unknown", mark=mark))
            continue
        if line.key == "letters":
            body.append(t(key, mark=mark, received=line.now, pending=line.pending,
                          min=line.target.min, ideal=str(bench.letters_ideal)))
            continue
        fields: dict[str, object] = {"mark": mark, "amount": _amount(t, line, lambda n: _months(t, n)),
                                     "range": str(line.target), "min": line.target.min}
        if line.key == "specialty":
            fields["specialty"] = " / ".join(r.specialties)
        if line.key == "recent":
            fields["years"] = bench.recency_years
            key += "_catch_up" if r.catch_up else ""
        body.append(t(key, **fields))
    parts.append("\n".join(body))
    notes: list[str] = []
    if r.after_application:
        notes.append(t("tracker.progress.after_application", months=_months(t, r.after_application)))
    if r.unlogged_months:
        notes.append(t("tracker.progress.unlogged_months", months=_months(t, r.unlogged_months)))
    if r.unlogged_letters:
        notes.append(t("tracker.progress.unlogged_letters", n=r.unlogged_letters))
    if notes:
        parts.append("\n".join(notes))
    step = r.next_step
    parts.append(t("tracker.progress.legend"))
    values: dict[str, str] = {"institution": step.institution} if step.institution else {}
    if step.specialty:
        values["specialty"] = step.specialty
    parts.append(t("tracker.progress.next") + " " + t(f"tracker.next.{step.key}", **values))
    return "\n\n".join(parts)
