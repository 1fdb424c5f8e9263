"""Readiness: the one model of where a user stands against the guide's benchmarks.

:func:`assess` is a pure function of the experiences, the profile (or None), today's date
and the benchmarks (``content/benchmarks.yaml``). /plan, /progress, /timeline, reminders
and answers all read it, so they cannot disagree. It counts each experience

- by **kind and hands-on level**: the guide's hierarchy (hands-on, semi-hands-on, not
  hands-on); a user may mark one experience less hands-on than its kind, never more.
  Research with clinical exposure is semi-hands-on and, as the guide says, not USCE by
  itself: it gets its own line and stays out of the USCE months;
- by **dates**: planned / ongoing / done follow from the dates and today (an experience
  still ahead cannot be done, nor have brought a received letter); done months are
  *secured*, months still ahead are *planned*;
- by **recency**: months in the window before the application month;
- by **specialty**: names normalised with the specialty list of ``content/plan.yaml``.

Months are calendar months and overlapping experiences count once. :func:`render_lines`
turns the benchmarks into text, the same lines in /plan and /progress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from flows.domain.benchmarks import (  # noqa: F401 - re-exported: readiness is where callers look
    BENCHMARKS_PATH,
    Benchmarks,
    Range,
    benchmarks,
    canonical_specialty,
    display_specialty,
    in_specialty,
    load_benchmarks,
    same_specialty,
    specialty_names,
)
from flows.domain.records import LEVELS, Experience, Profile, month_index, month_label, months_of


def counted_level(experience: Experience, bench: Benchmarks) -> str:
    """The level readiness counts: the one logged, but never above what the guide's
    hierarchy gives the type (an observership marked hands-on still counts as observing)."""
    cap = bench.levels.get(experience.type, "non")
    logged = experience.level if experience.level in LEVELS else cap
    return max(logged, cap, key=LEVELS.index)  # LEVELS runs from most to least hands-on


def is_older_graduate(profile: Profile | None, today: date, bench: Benchmarks) -> tuple[int | None, bool]:
    """Years from graduation to the application year (or this year), and whether that passes
    the assistant's rule of thumb for an "older graduation year" (the guide gives no cut-off)."""
    if profile is None or profile.grad_year is None:
        return None, False
    reference = profile.application_date.year if profile.application_date else today.year
    years = reference - profile.grad_year
    return years, years > bench.older_graduation_years


def school_stage(profile: Profile | None, today: date) -> str | None:
    """ "final" for a student who graduates within about a year (wording only: "final-year")."""
    if profile is None or not profile.is_student or profile.grad_year is None:
        return None
    months_left = profile.grad_year * 12 + 5 - month_index(today)  # graduation taken as June
    return "final" if months_left <= 12 else None


# -- the model --------------------------------------------------------------------------------

MET, PROJECTED, NOT_MET, UNKNOWN, INFO = "met", "projected", "not_met", "unknown", "info"
PLANNED, ONGOING, DONE = "planned", "ongoing", "done"


def dated_status(experience: Experience, this_month: int) -> str:
    """Planned, ongoing or done, from the dates and today."""
    months = months_of(experience)
    if months[0] > this_month:
        return PLANNED
    return DONE if months[-1] < this_month else ONGOING


@dataclass(frozen=True, slots=True)
class Counted:
    """One experience as readiness counts it."""

    experience: Experience
    status: str  # from the dates: planned | ongoing | done
    level: str  # counted level
    usce: bool  # counts as USCE (research does not)
    specialty: str  # canonical name
    in_specialty: bool
    months: frozenset[int]  # months before the application
    secured: frozenset[int]  # of them, those already lived (up to this month)
    letter: str  # the letter as counted: a "received" one from a rotation still ahead is pending
    issues: tuple[str, ...] = ()  # "done_ahead" | "letter_ahead" | "planned_past"


@dataclass(frozen=True, slots=True)
class Line:
    """One benchmark: what is secured, what planned experiences would add, the target."""

    key: str  # usce | hands_on | specialty | observership | recent | letters | research
    verdict: str  # MET | PROJECTED (met once planned ones happen) | NOT_MET | UNKNOWN | INFO
    now: int
    planned: int  # added by experiences still ahead (letters: promised)
    target: Range
    pending: int = 0  # letters asked for or promised

    @property
    def projected(self) -> int:
        return self.now + self.planned


@dataclass(frozen=True, slots=True)
class Step:
    """The single most useful next step; ``key`` picks its text."""

    key: str
    institution: str = ""
    specialty: str = ""
    month: int | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    counted: tuple[Counted, ...]
    lines: tuple[Line, ...]
    next_step: Step
    this_month: int
    application: int | None  # month index of the application, if known
    window: tuple[int, int]  # first and last month counted as recent
    after_application: int  # logged months from the application month on (not counted)
    observership_primary: bool
    specialties: tuple[str, ...]
    older_graduate: bool
    years_since_graduation: int | None
    unlogged_months: int  # months the profile mentions beyond what is logged
    unlogged_letters: int
    letters_by: int | None  # month by which letters should be confirmed

    def line(self, key: str) -> Line | None:
        return next((line for line in self.lines if line.key == key), None)

    @property
    def planned_months(self) -> int:
        """Months of experiences still ahead (before the application), overlaps once."""
        ahead: set[int] = set()
        for c in self.counted:
            ahead |= {m for m in c.months if m > self.this_month}
        return len(ahead)


def _verdict(now: int, projected: int, target: int) -> str:
    if now >= target:
        return MET
    return PROJECTED if projected >= target else NOT_MET


def _count(exp: Experience, this_month: int, app: int | None, bench: Benchmarks,
           specialties: Sequence[str]) -> tuple[Counted, set[int]]:
    months = set(months_of(exp))
    late = {m for m in months if app is not None and m >= app}
    months -= late
    status = dated_status(exp, this_month)
    issues = []
    if exp.status == DONE and status != DONE:
        issues.append("done_ahead")
    if exp.status == PLANNED and status == DONE:
        issues.append("planned_past")
    letter = exp.letter
    if letter == "received" and status == PLANNED:
        letter = "promised"
        issues.append("letter_ahead")
    secured = {m for m in months if m <= this_month} if status != PLANNED else set()
    counted = Counted(
        experience=exp,
        status=status,
        level=counted_level(exp, bench),
        usce=exp.type not in bench.not_usce,
        specialty=canonical_specialty(exp.specialty),
        in_specialty=in_specialty(exp, specialties),
        months=frozenset(months),
        secured=frozenset(secured),
        letter=letter,
        issues=tuple(issues),
    )
    return counted, late


def assess(
    experiences: Sequence[Experience],
    profile: Profile | None,
    today: date,
    bench: Benchmarks | None = None,
) -> Readiness:
    """Compare experiences with the benchmarks, relative to the application month if known."""
    bench = bench or benchmarks()
    this_month = month_index(today)
    app_date = profile.application_date if profile else None
    app = month_index(app_date) if app_date else None
    specialties = tuple(canonical_specialty(s) for s in (profile.specialties if profile else ())) or ()
    shown_specialties = tuple(display_specialty(s) for s in profile.specialties) if profile else ()
    years, older = is_older_graduate(profile, today, bench)

    counted: list[Counted] = []
    late: set[int] = set()
    for exp in experiences:
        c, after = _count(exp, this_month, app, bench, specialties)
        counted.append(c)
        late |= after
    # Recent: the window before the application month; unknown application: up to 3 years back.
    end = app - 1 if app is not None else this_month + 12 * 10
    start = (app if app is not None else this_month + 1) - 12 * bench.recency_years
    window = (start, end)

    def measure(keep: Callable[[Counted], bool], recent: bool = False) -> tuple[int, int]:
        secured: set[int] = set()
        every: set[int] = set()
        for c in counted:
            if keep(c):
                secured |= c.secured
                every |= c.months
        if recent:
            secured = {m for m in secured if start <= m <= end}
            every = {m for m in every if start <= m <= end}
        return len(secured), len(every) - len(secured)

    def line(key: str, figures: tuple[int, int], target: Range) -> Line:
        now, planned = figures
        return Line(key, _verdict(now, now + planned, target.min), now, planned, target)

    usce = measure(lambda c: c.usce)
    hands = measure(lambda c: c.usce and c.level == "hands_on", recent=True)
    non = measure(lambda c: c.usce and c.level == "non")
    other = measure(lambda c: c.usce and c.level != "non")
    observership_primary = sum(non) > 0 and sum(non) >= sum(other)
    lines = [line("usce", usce, bench.total), line("hands_on", hands, bench.hands_on)]
    if specialties:
        lines.append(line("specialty", measure(lambda c: c.usce and c.in_specialty, recent=True),
                          bench.specialty))
    else:
        lines.append(Line("specialty", UNKNOWN, 0, 0, bench.specialty))
    if observership_primary:
        lines.append(line("observership", non, bench.observership_only))
    if older:
        lines.append(line("recent", measure(lambda c: c.usce, recent=True), bench.recent_catch_up))
    received = sum(1 for c in counted if c.letter == "received")
    promised = sum(1 for c in counted if c.letter == "promised")  # a request alone is no letter yet
    pending = sum(1 for c in counted if c.letter in ("asked", "promised"))
    lines.append(Line("letters", _verdict(received, received + promised, bench.letters.min), received,
                      promised, bench.letters, pending))
    research = measure(lambda c: not c.usce)
    if sum(research):
        lines.append(Line("research", INFO, research[0], research[1], Range(0, 0)))

    result = Readiness(
        counted=tuple(counted),
        lines=tuple(lines),
        next_step=Step("first"),
        this_month=this_month,
        application=app,
        window=window,
        after_application=len(late),
        observership_primary=observership_primary,
        specialties=shown_specialties,
        older_graduate=older,
        years_since_graduation=years,
        unlogged_months=max(0, (profile.us_months or 0) - usce[0]) if profile else 0,
        unlogged_letters=max(0, (profile.us_letters or 0) - received) if profile else 0,
        letters_by=app - bench.letters_by if app is not None else None,
    )
    return _with_next_step(result, bench, profile.status if profile else None)


def letter_candidate(r: Readiness) -> Counted | None:
    """The most recent experience under way or done with no letter asked for yet."""
    started = [c for c in r.counted if c.status != PLANNED and c.letter == "none"]
    return max(started, key=lambda c: (c.experience.end, c.experience.id)) if started else None


def letter_is_late(c: Counted, r: Readiness, bench: Benchmarks) -> bool:
    """A rotation that ended a while ago with no letter asked for."""
    return c.status == DONE and r.this_month - month_index(c.experience.end) >= bench.letter_late_months


def _with_next_step(r: Readiness, bench: Benchmarks, status: str | None) -> Readiness:
    return replace(r, next_step=_next_step(r, bench, status))


def _next_step(r: Readiness, bench: Benchmarks, status: str | None = None) -> Step:
    ask = letter_candidate(r)
    if ask is not None and letter_is_late(ask, r, bench):
        ask = None  # too late to ask "near the end": the checks warn about it instead
    letters = r.line("letters")
    if not r.counted:
        return Step("first_logged" if r.unlogged_months else "first")
    if r.application is None:
        return Step("goals")
    order = ["usce", "letters", "observership" if r.observership_primary else "hands_on", "specialty", "recent"]
    lines = [line for key in order if (line := r.line(key)) is not None]
    for line in lines:
        if line.verdict != NOT_MET:
            continue
        if line.key == "letters":
            if ask is not None:
                return Step("letter_ask", institution=ask.experience.institution)
            return Step("letter_plan")
        if line.key == "specialty":
            return Step("specialty", specialty=r.specialties[0])
        if line.key == "hands_on" and status in ("student", "graduate"):
            return Step(f"hands_on_{status}")
        return Step(line.key)
    for line in lines:
        if line.verdict == PROJECTED:
            return Step("letter_follow" if line.key == "letters" else "on_track")
    if any(line.verdict == UNKNOWN for line in lines):
        return Step("goals")
    if r.observership_primary:
        return Step("add_hands_on")
    if letters is not None and letters.now < bench.letters_ideal.min:
        if ask is not None:
            return Step("letter_ask", institution=ask.experience.institution)
        return Step("letter_follow" if letters.pending else "letters_ideal")
    return Step("all_met")


# -- text -------------------------------------------------------------------------------------

MARKS = {MET: "✅", PROJECTED: "🔜", NOT_MET: "❌", UNKNOWN: "❔", INFO: "🔬"}
Translate = Callable[..., str]


def months_text(t: Translate, n: int) -> str:
    return t("readiness.unit_month" if n == 1 else "readiness.unit_months", n=n)


def _month(t: Translate, index: int) -> str:
    return month_label(index, t("tracker.months"))


def _amount(t: Translate, line: Line) -> str:
    if line.planned:
        return t("readiness.with_planned", now=months_text(t, line.now), planned=months_text(t, line.planned))
    return months_text(t, line.now)


def render_window(r: Readiness, t: Translate) -> str:
    """Which months count and what "recent" means, in the user's dates."""
    bench = benchmarks()
    if r.application is None:
        return t("readiness.no_application", years=bench.recency_years)
    return t(
        "readiness.window",
        apply=_month(t, r.application),
        match=r.application // 12 + 1,
        first=_month(t, r.window[0]),
        last=_month(t, r.window[1]),
        years=bench.recency_years,
    )


def render_lines(r: Readiness, t: Translate) -> list[str]:
    """One line per benchmark, each with where the user stands and what is planned."""
    bench = benchmarks()
    body: list[str] = []
    specialty = " / ".join(r.specialties)
    for line in r.lines:
        mark = MARKS[line.verdict]
        key = f"readiness.line.{line.key}"
        if line.verdict == UNKNOWN:
            body.append(t(f"{key}_unknown", mark=mark))
        elif line.key == "letters":
            by = t("readiness.letters_by", month=_month(t, r.letters_by), months=bench.letters_by) \
                if r.letters_by is not None else ""
            body.append(t(key, mark=mark, received=line.now, pending=line.pending, min=line.target.min,
                          ideal=str(bench.letters_ideal), by=by))
        else:
            body.append(t(key, mark=mark, amount=_amount(t, line), range=str(line.target),
                          min=line.target.min, specialty=specialty, years=bench.recency_years))
    return body


def render_notes(r: Readiness, t: Translate) -> list[str]:
    notes: list[str] = []
    if r.after_application:
        notes.append(t("readiness.after_application", months=months_text(t, r.after_application)))
    if r.unlogged_months:
        notes.append(t("readiness.unlogged_months", months=months_text(t, r.unlogged_months)))
    if r.unlogged_letters:
        notes.append(t("readiness.unlogged_letters", n=r.unlogged_letters))
    return notes


def render_step(r: Readiness, t: Translate) -> str:
    step = r.next_step
    values: dict[str, object] = {}
    if step.institution:
        values["institution"] = step.institution
    if step.specialty:
        values["specialty"] = step.specialty
    if step.month is not None:
        values["month"] = _month(t, step.month)
    return t("readiness.next") + " " + t(f"readiness.step.{step.key}", **values)


def render(r: Readiness, t: Translate, warnings: Sequence[str] = ()) -> str:
    """The /progress message: the window, one line per benchmark, notes, warnings, next step."""
    parts = [t("readiness.title"), render_window(r, t), "\n".join(render_lines(r, t))]
    notes = render_notes(r, t)
    if notes:
        parts.append("\n".join(notes))
    parts.append(t("readiness.legend"))
    if warnings:
        parts.append("\n".join(warnings))
    parts.append(render_step(r, t))
    return "\n\n".join(parts)
