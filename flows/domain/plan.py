"""The personal USCE plan: pure functions from a :class:`~flows.storage.profiles.Profile` and a date
to a :class:`Plan` (:mod:`flows.domain.plan_view` words it).

Where the user stands comes from the one readiness model (:mod:`flows.domain.readiness`, figures in
``content/benchmarks.yaml``) and what doesn't fit from :mod:`flows.domain.checks`, so the plan says
what /progress says. ``content/plan.yaml`` holds the answer ranges, specialties and time
zones, ``content/milestones.yaml`` the timeline windows (both read by
:mod:`flows.domain.plan_content`, and importable from here). :func:`milestone_dates` is public:
reminders schedule their nudges from the same windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flows.domain.checks import Warning, run_checks
from flows.domain.plan_content import (  # noqa: F401 (the plan's content: callers import it from here)
    GAPS,
    VISAS,
    Milestone,
    Rules,
    Span,
    load_milestones,
    load_rules,
    parse_milestones,
    parse_rules,
)
from flows.domain.readiness import (
    Readiness,
    assess,
    benchmarks,
    school_stage,
)
from flows.domain.readiness import is_older_graduate as readiness_older
from flows.domain.records import Experience, Profile

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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
