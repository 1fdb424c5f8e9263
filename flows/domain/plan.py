"""The personal USCE plan: pure functions from a :class:`~flows.storage.profiles.Profile` and a date
to a :class:`Plan` (:mod:`flows.domain.plan_view` words it).

Where the user stands comes from the one readiness model (:mod:`flows.domain.readiness`, figures in
``content/benchmarks.yaml``) and what doesn't fit from :mod:`flows.domain.checks`, so the plan says
what /progress says. ``content/plan.yaml`` holds the answer ranges, specialties and time
zones, ``content/milestones.yaml`` the timeline windows. :func:`milestone_dates` is public:
reminders schedule their nudges from the same windows.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.domain.checks import Warning, run_checks
from flows.domain.readiness import (
    Readiness,
    assess,
    benchmarks,
    school_stage,
)
from flows.domain.readiness import is_older_graduate as readiness_older
from flows.domain.records import Experience, Profile

PLAN_FILE = CONTENT_DIR / "plan.yaml"
MILESTONES_FILE = CONTENT_DIR / "milestones.yaml"

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GAPS = ("recent", "specialty", "letters", "first")
BUDGETS = ("limited", "moderate", "flexible")
VISAS = ("visitor", "b1b2", "authorized", "unsure")  # needs a visa | holds B1/B2 | can work | unsure
ALIAS_STATES = {
    "status": ("student", "graduate"),
    "budget": BUDGETS,
    "visa": VISAS,
    "us_experience": ("none", "some"),
    "gaps": GAPS,
}


# -- content ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    """An inclusive range of whole numbers, shown as "2–4"."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}–{self.high}" if self.low != self.high else str(self.low)


@dataclass(frozen=True, slots=True)
class Specialty:
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZoneButton:
    zone: str
    label: str


@dataclass(frozen=True, slots=True)
class Rules:
    cycle_month: int
    cycles_offered: int
    close_months: int
    max_years_ahead: int
    student_year: Span
    years_to_graduation: int
    years_since_graduation: int
    months_available: Span
    us_months: Span
    us_letters: Span
    specialty_length: int
    specialties: tuple[Specialty, ...]
    aliases: Mapping[str, Mapping[str, tuple[str, ...]]]  # state -> code -> typed words
    zone_buttons: tuple[ZoneButton, ...]
    places: Mapping[str, str]  # typed place (lower case) -> IANA zone
    part_hour_offsets: Mapping[str, str]  # "+5:30" -> IANA zone


@dataclass(frozen=True, slots=True)
class Milestone:
    """A timeline window, counted back in months from the application month."""

    id: str
    months_before_start: int
    months_before_end: int
    title: str
    tasks: tuple[str, ...]
    students_only_tasks: tuple[str, ...] = ()
    graduates_only_tasks: tuple[str, ...] = ()

    def tasks_for(self, student: bool | None) -> tuple[str, ...]:
        """The window's tasks for a student (True), a graduate (False) or anyone (None)."""
        if student is None:
            return self.tasks
        return self.tasks + (self.students_only_tasks if student else self.graduates_only_tasks)


def _span(path: Path, node: Mapping[str, Any], key: str) -> Span:
    value = require(path, node, key, list)
    if len(value) != 2 or not all(isinstance(v, int) for v in value) or value[0] > value[1]:
        raise ContentError(path, line_of(value) or line_of(node), f"'{key}' must be [low, high]")
    return Span(value[0], value[1])


def _int(path: Path, node: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = require(path, node, key, int)
    if not low <= value <= high:
        raise ContentError(path, line_of(node), f"'{key}' must be between {low} and {high}")
    return int(value)


def _strings(path: Path, node: Mapping[str, Any], key: str, optional: bool = False) -> tuple[str, ...]:
    if optional and key not in node:
        return ()
    value = require(path, node, key, list)
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(path, line_of(value) or line_of(node), f"'{key}' must be a list of texts")
    return tuple(v.strip() for v in value)


def _zone(path: Path, node: Mapping[str, Any], name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ContentError(path, line_of(node), f"unknown time zone {name!r}") from None
    return name


def parse_rules(path: Path) -> Rules:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    application = require(path, data, "application", dict)
    ranges = require(path, data, "ranges", dict)

    specialties = []
    for node in require(path, data, "specialties", list):
        if not isinstance(node, dict):
            raise ContentError(path, line_of(data["specialties"]), "each specialty needs a name")
        words = _strings(path, node, "aliases", optional=True)
        specialties.append(Specialty(require(path, node, "name").strip(), tuple(a.lower() for a in words)))

    aliases_node = require(path, data, "aliases", dict)
    aliases: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for state, codes in ALIAS_STATES.items():
        node = require(path, aliases_node, state, dict)
        unknown = set(node) - set(codes)
        if unknown:
            raise ContentError(path, line_of(node), f"unknown answer {sorted(unknown)[0]!r} for {state}")
        aliases[state] = MappingProxyType(
            {code: tuple(w.lower() for w in _strings(path, node, code, optional=True)) for code in codes}
        )

    zones = require(path, data, "timezones", dict)
    buttons = []
    for node in require(path, zones, "buttons", list):
        if not isinstance(node, dict):
            raise ContentError(path, line_of(zones), "each time zone button needs a zone and a label")
        buttons.append(ZoneButton(_zone(path, node, require(path, node, "zone")), require(path, node, "label")))
    places_node = require(path, zones, "places", dict)
    places = {str(k).lower(): _zone(path, places_node, str(v)) for k, v in places_node.items()}
    offsets_node = require(path, zones, "part_hour_offsets", dict)
    offsets = {str(k): _zone(path, offsets_node, str(v)) for k, v in offsets_node.items()}

    return Rules(
        cycle_month=_int(path, application, "cycle_month", 1, 12),
        cycles_offered=_int(path, application, "cycles_offered", 1, 6),
        close_months=_int(path, application, "close_months", 0, 36),
        max_years_ahead=_int(path, application, "max_years_ahead", 1, 20),
        student_year=_span(path, ranges, "student_year"),
        years_to_graduation=_int(path, ranges, "years_to_graduation", 1, 15),
        years_since_graduation=_int(path, ranges, "years_since_graduation", 1, 80),
        months_available=_span(path, ranges, "months_available"),
        us_months=_span(path, ranges, "us_months"),
        us_letters=_span(path, ranges, "us_letters"),
        specialty_length=_int(path, ranges, "specialty_length", 10, 200),
        specialties=tuple(specialties),
        aliases=MappingProxyType(aliases),
        zone_buttons=tuple(buttons),
        places=MappingProxyType(places),
        part_hour_offsets=MappingProxyType(offsets),
    )


def parse_milestones(path: Path) -> tuple[Milestone, ...]:
    data = load_yaml(path)
    if not isinstance(data, list) or not data:
        raise ContentError(path, None, "expected a list of milestones")
    milestones: list[Milestone] = []
    for node in data:
        if not isinstance(node, dict):
            raise ContentError(path, line_of(data), "each milestone must be a mapping")
        months = require(path, node, "months_before", list)
        if len(months) != 2 or not all(isinstance(m, int) for m in months) or months[0] <= months[1]:
            raise ContentError(path, line_of(node), "'months_before' must be [start, end] with start > end")
        milestone = Milestone(
            id=require(path, node, "id"),
            months_before_start=months[0],
            months_before_end=months[1],
            title=require(path, node, "title").strip(),
            tasks=_strings(path, node, "tasks"),
            students_only_tasks=_strings(path, node, "students_only_tasks", optional=True),
            graduates_only_tasks=_strings(path, node, "graduates_only_tasks", optional=True),
        )
        if any(m.id == milestone.id for m in milestones):
            raise ContentError(path, line_of(node), f"duplicate milestone id {milestone.id!r}")
        if milestones and milestone.months_before_start > milestones[-1].months_before_start:
            raise ContentError(path, line_of(node), "milestones must run from earliest to latest")
        milestones.append(milestone)
    return tuple(milestones)


@functools.cache
def load_rules() -> Rules:
    return parse_rules(PLAN_FILE)


@functools.cache
def load_milestones() -> tuple[Milestone, ...]:
    return parse_milestones(MILESTONES_FILE)


# -- dates --------------------------------------------------------------------------------
def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after (or before) ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_until(today: date, target: date) -> int:
    """Whole calendar months from today's month to the target's month (negative if past)."""
    return (target.year - today.year) * 12 + target.month - today.month


def month_label(day: date) -> str:
    return f"{MONTH_ABBR[day.month - 1]} {day.year}"


def milestone_dates(
    application: date, milestones: tuple[Milestone, ...] | None = None
) -> list[tuple[Milestone, date, date]]:
    """Each timeline window with its first and last day, for an application in ``application``'s month."""
    month = application.replace(day=1)
    windows = []
    for milestone in milestones if milestones is not None else load_milestones():
        start = add_months(month, -milestone.months_before_start)
        end = add_months(month, -milestone.months_before_end) - timedelta(days=1)
        windows.append((milestone, start, end))
    return windows


def window_status(start: date, end: date, today: date) -> str:
    """"past", "now" or "ahead"."""
    if end < today:
        return "past"
    return "now" if start <= today else "ahead"


# -- the plan -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Window:
    milestone: Milestone
    start: date
    end: date
    status: str  # "past" | "now" | "ahead"


GRADUATE_ROUTES = ("externships", "observerships", "research", "scribe")
LIMITED_FUNDS_ROUTES = ("observerships", "research", "externships", "scribe")  # the guide's order for limited funds


@dataclass(frozen=True, slots=True)
class Plan:
    """What the plan says, as data; :func:`flows.domain.plan_view.render_plan` turns it into text."""

    student: bool
    routes: tuple[str, ...]  # kinds of USCE that fit, best first for this user's constraints
    work: str  # paid roles (scribe, research jobs): "visa" | "authorized" | "unknown"
    visa: str | None  # the profile's answer
    years_since_graduation: int | None  # counted to the application year
    older_graduate: bool
    adjustments: tuple[str, ...]  # "older", "limited_funds", "paid_check", "visitor", "b1b2", "visa_unsure"
    gaps: tuple[str, ...]  # the gaps the user named, in GAPS order
    application: date | None
    match_year: int | None  # the Match after the application
    months_to_application: int | None
    timing: str  # "unknown" | "past" | "ahead"
    capacity: str  # months available vs the targets: "unknown" | "competitive" | "minimum" | "none"
    reach: int  # recent hands-on months if the months available are hands-on
    windows: tuple[Window, ...]
    now: str  # where today falls: "window" | "between" | "before" | "after" | "unknown"
    next_window: Window | None  # the next window when today is between or before them
    readiness: Readiness
    warnings: tuple[Warning, ...]
    stage: str | None  # "final" for a final-year student, else None


def is_older_graduate(profile: Profile, today: date, rules: Rules | None = None) -> tuple[int | None, bool]:
    """Years from graduation to the application year, and whether that passes the rule of
    thumb in content/benchmarks.yaml (the guide names an older graduation year, no cut-off)."""
    return readiness_older(profile, today, benchmarks())


def match_year(application: date | None) -> int | None:
    """The Match after an application: applying Sep 2027 matches in 2028."""
    return application.year + 1 if application else None


def build_plan(
    profile: Profile,
    today: date,
    rules: Rules | None = None,
    milestones: tuple[Milestone, ...] | None = None,
    experiences: Sequence[Experience] = (),
) -> Plan:
    student = profile.is_student
    if profile.visa == "authorized":
        work = "authorized"
    elif profile.visa in ("visitor", "b1b2"):
        work = "visa"
    else:
        work = "unknown"
    if student:
        routes: tuple[str, ...] = ("electives",)
    elif profile.budget == "limited":
        routes = LIMITED_FUNDS_ROUTES
    else:
        routes = GRADUATE_ROUTES

    r = assess(experiences, profile, today, benchmarks())
    warnings = tuple(run_checks(profile, r, today))

    adjustments: list[str] = []
    if r.older_graduate:
        adjustments.append("older")
    if profile.budget == "limited":
        adjustments.append("limited_funds")
    elif not student and profile.budget in ("moderate", "flexible"):
        adjustments.append("paid_check")
    if profile.visa in ("visitor", "b1b2"):
        adjustments.append(profile.visa)
    elif profile.visa in ("unsure", None):
        adjustments.append("visa_unsure")

    application = profile.application_date
    months_to = months_until(today, application) if application else None
    timing = "unknown" if months_to is None else ("past" if months_to < 0 else "ahead")

    hands = r.line("hands_on")
    usce = r.line("usce")
    usable = profile.months_available or 0
    if months_to is not None:
        usable = max(0, min(usable, months_to))  # only months before the application count
    reach = (hands.now if hands else 0) + usable
    if profile.months_available is None:
        capacity = "unknown"
    elif profile.months_available == 0:
        capacity = "none"
    elif reach >= benchmarks().hands_on.min:
        capacity = "competitive"
    else:
        capacity = "minimum" if (usce.now if usce else 0) + profile.months_available >= 1 else "none"

    windows = tuple(
        Window(m, start, end, window_status(start, end, today))
        for m, start, end in (milestone_dates(application, milestones) if application and timing != "past" else [])
    )
    now, following = _where_now(windows, today)
    return Plan(
        student=student,
        routes=routes,
        work=work,
        visa=profile.visa,
        years_since_graduation=r.years_since_graduation,
        older_graduate=r.older_graduate,
        adjustments=tuple(adjustments),
        gaps=tuple(g for g in GAPS if g in profile.gaps),
        application=application,
        match_year=match_year(application),
        months_to_application=months_to,
        timing=timing,
        capacity=capacity,
        reach=reach,
        windows=windows,
        now=now,
        next_window=following,
        readiness=r,
        warnings=warnings,
        stage=school_stage(profile, today),
    )


def _where_now(windows: Sequence[Window], today: date) -> tuple[str, Window | None]:
    if not windows:
        return "unknown", None
    if any(w.status == "now" for w in windows):
        return "window", None
    ahead = [w for w in windows if w.status == "ahead"]
    if not ahead:
        return "after", None
    return ("before" if ahead[0] is windows[0] else "between"), ahead[0]
