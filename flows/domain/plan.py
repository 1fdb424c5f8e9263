"""The personal USCE plan: pure functions from a :class:`~flows.storage.profiles.Profile` and a date
to a :class:`Plan` (:mod:`flows.domain.plan_view` words it).

The facts behind it live in ``content/plan.yaml`` (targets, the "older graduation" rule of
thumb, answer ranges, specialties, time zones) and ``content/milestones.yaml`` (the timeline
windows). Both load once. :func:`milestone_dates` is public: reminders schedule their
nudges from the same windows.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.storage.profiles import Profile

PLAN_FILE = CONTENT_DIR / "plan.yaml"
MILESTONES_FILE = CONTENT_DIR / "milestones.yaml"

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GAPS = ("recent", "specialty", "letters", "first")
BUDGETS = ("limited", "moderate", "flexible")
VISAS = ("visitor", "authorized", "unsure")
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
class Targets:
    hands_on_months: Span
    specialty_months: Span
    recency_years: Span
    us_letters: Span
    minimum_months: int
    minimum_letters: int
    older_recent_months: Span
    observership_months: Span


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
    targets: Targets
    older_graduation_years: int  # rule of thumb, not from the guide
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
    targets = require(path, data, "targets", dict)
    competitive = require(path, targets, "competitive", dict)
    minimum = require(path, targets, "minimum", dict)
    older = require(path, data, "older_graduation", dict)
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
        targets=Targets(
            hands_on_months=_span(path, competitive, "hands_on_months"),
            specialty_months=_span(path, competitive, "specialty_months"),
            recency_years=_span(path, competitive, "recency_years"),
            us_letters=_span(path, competitive, "us_letters"),
            minimum_months=_int(path, minimum, "usce_months", 0, 24),
            minimum_letters=_int(path, minimum, "us_letters", 0, 10),
            older_recent_months=_span(path, targets, "older_graduate_recent_months"),
            observership_months=_span(path, targets, "observership_months"),
        ),
        older_graduation_years=_int(path, older, "years_before_application", 1, 40),
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


@dataclass(frozen=True, slots=True)
class Plan:
    """What the plan says, as data; :func:`flows.domain.plan_view.render_plan` turns it into text."""

    student: bool
    routes: tuple[str, ...]  # kinds of USCE that fit, best first
    work: str  # scribe/clinical-support roles: "open" | "needs_authorization" | "check"
    years_since_graduation: int | None  # counted to the application year
    older_graduate: bool
    adjustments: tuple[str, ...]  # "older", "limited_funds", "paid_check", "visitor", "visa_unsure"
    gaps: tuple[str, ...]  # felt by the user or following from the answers, in GAPS order
    detected_gaps: tuple[str, ...]  # those following from the answers
    application: date | None
    months_to_application: int | None
    timing: str  # "unknown" | "past" | "close" | "ahead"
    capacity: str  # months available + done vs targets: "unknown" | "competitive" | "minimum" | "none"
    months_short_of_time: bool  # more months set aside than remain before applying
    windows: tuple[Window, ...]


def is_older_graduate(profile: Profile, today: date, rules: Rules) -> tuple[int | None, bool]:
    """Years from graduation to the application year, and whether that passes the rule of thumb."""
    if profile.grad_year is None:
        return None, False
    reference = profile.application_date.year if profile.application_date else today.year
    years = reference - profile.grad_year
    return years, years > rules.older_graduation_years


def build_plan(
    profile: Profile,
    today: date,
    rules: Rules | None = None,
    milestones: tuple[Milestone, ...] | None = None,
) -> Plan:
    rules = rules or load_rules()
    targets = rules.targets
    student = profile.is_student

    if profile.visa == "authorized":
        work = "open"
    elif profile.visa == "visitor":
        work = "needs_authorization"
    else:
        work = "check"
    if student:
        routes: tuple[str, ...] = ("electives",)
    else:
        routes = ("externships", "observerships", "research", "scribe")

    years, older = is_older_graduate(profile, today, rules)

    adjustments: list[str] = []
    if older:
        adjustments.append("older")
    if profile.budget == "limited":
        adjustments.append("limited_funds")
    elif not student and profile.budget in ("moderate", "flexible"):
        adjustments.append("paid_check")
    if profile.visa == "visitor":
        adjustments.append("visitor")
    elif profile.visa in ("unsure", None):
        adjustments.append("visa_unsure")

    detected = set()
    if older:
        detected.add("recent")
    if profile.us_months == 0:
        detected.add("first")
    if profile.us_letters is not None and profile.us_letters < targets.minimum_letters:
        detected.add("letters")
    felt = set(profile.gaps) & set(GAPS)
    gaps = tuple(g for g in GAPS if g in felt | detected)

    application = profile.application_date
    months_to = months_until(today, application) if application else None
    if months_to is None:
        timing = "unknown"
    elif months_to < 0:
        timing = "past"
    elif months_to <= rules.close_months:
        timing = "close"
    else:
        timing = "ahead"

    if profile.months_available is None:
        capacity = "unknown"
    else:
        have = (profile.us_months or 0) + profile.months_available
        if have >= targets.hands_on_months.low:
            capacity = "competitive"
        elif have >= targets.minimum_months:
            capacity = "minimum"
        else:
            capacity = "none"
    short_of_time = (
        months_to is not None
        and profile.months_available is not None
        and 0 <= months_to < profile.months_available
    )

    windows = tuple(
        Window(m, start, end, window_status(start, end, today))
        for m, start, end in (milestone_dates(application, milestones) if application else [])
    )
    return Plan(
        student=student,
        routes=routes,
        work=work,
        years_since_graduation=years,
        older_graduate=older,
        adjustments=tuple(adjustments),
        gaps=gaps,
        detected_gaps=tuple(g for g in GAPS if g in detected and g not in felt),
        application=application,
        months_to_application=months_to,
        timing=timing,
        capacity=capacity,
        months_short_of_time=short_of_time,
        windows=windows,
    )
