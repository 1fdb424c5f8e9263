"""The plan as text for a phone: :func:`render_plan` turns a :class:`~flows.domain.plan.Plan` into messages.

What the plan says is decided in :mod:`flows.plan` (with :mod:`flows.domain.readiness` and
:mod:`flows.domain.checks`); this module only words and lays it out, from the texts in
``content/texts/plan.yaml``, ``readiness.yaml`` and ``checks.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable

from flows.domain.checks import render_warnings
from flows.domain.plan import Plan, Rules, month_label
from flows.domain.readiness import benchmarks, months_text, render_lines, render_notes, render_window
from flows.storage.profiles import Profile

Translate = Callable[..., str]  # turn.t: a text key and values to escape into it


def applying_text(plan: Plan, t: Translate) -> str:
    """ "apply Sep 2027 → Match 2028" """
    assert plan.application is not None and plan.match_year is not None
    return t("plan.apply_match", month=month_label(plan.application), match=plan.match_year)


def render_plan(plan: Plan, profile: Profile, t: Translate, rules: Rules | None = None) -> list[str]:
    """The plan as two phone-sized messages: what to do, then where you stand and when."""
    specialty = " / ".join(plan.readiness.specialties) if plan.readiness.specialties else t("plan.your_specialty")
    bench = benchmarks()

    # 1. who, and which kinds of USCE fit, in the order the user's constraints give
    if plan.student:
        who = t("plan.who_student_final" if plan.stage == "final" else "plan.who_student",
                year=profile.grad_year or "?")
    else:
        who = t("plan.who_graduate", year=profile.grad_year or "?")
    when = " · " + applying_text(plan, t) if plan.application else ""
    first = [t("plan.title"), t("plan.summary", who=who, specialty=specialty, when=when), ""]
    first.append(t("plan.routes_heading_student" if plan.student else "plan.routes_heading_graduate"))
    if not plan.student and profile.budget == "limited":
        first.append(t("plan.routes_order_limited"))
    for route in plan.routes:
        if route == "scribe":
            first.append(t(f"plan.route_scribe_{plan.work}"))
        elif route == "observerships":
            key = "plan.route_observerships_limited" if profile.budget == "limited" else "plan.route_observerships"
            first.append(t(key, months=bench.observership_only, specialty=specialty))
        elif route == "electives":
            first.append(t("plan.route_electives"))
            first.append(t("plan.electives_how"))
            first.append(t("plan.electives_require"))
            first.append(t("plan.electives_where", specialty=specialty))
        else:
            first.append(t(f"plan.route_{route}"))
    if plan.adjustments:
        first += ["", t("plan.adjust_heading")]
        for key in plan.adjustments:
            if key == "older":
                first.append(t("plan.adjust_older", years=plan.years_since_graduation,
                               months=bench.recent_catch_up, threshold=bench.older_graduation_years))
            else:
                first.append(t(f"plan.adjust_{key}"))

    # 2. where you stand (the same lines as /progress), what doesn't fit, the timeline
    r = plan.readiness
    second = [t("plan.targets_heading"), render_window(r, t), *render_lines(r, t), *render_notes(r, t)]
    if plan.capacity != "unknown":
        second.append(t(f"plan.capacity_{plan.capacity}", months=months_text(t, profile.months_available or 0),
                        reach=plan.reach, competitive=bench.hands_on, minimum=bench.total.min))
    if plan.warnings:
        second += ["", t("checks.heading"), *render_warnings(plan.warnings, t)]
    if plan.gaps:
        second += ["", t("plan.gaps_heading")]
        second += [t(f"plan.gap_{gap}", specialty=specialty, recency=bench.recency_years,
                     months=bench.specialty) for gap in plan.gaps]

    second.append("")
    if plan.application is None:
        second.append(t("plan.timeline_unknown"))
    elif plan.timing == "past":
        second.append(t("plan.timeline_heading", when=applying_text(plan, t)))
        second.append(t("plan.timing_past"))
    else:
        second.append(t("plan.timeline_heading", when=applying_text(plan, t)))
        if plan.now in ("before", "between") and plan.next_window is not None:
            second.append(t(f"plan.now_{plan.now}", month=month_label(plan.next_window.start),
                            title=plan.next_window.milestone.title))
        for window in plan.windows:
            span = f"{month_label(window.start)} – {month_label(window.end)}"
            second.append(t(f"plan.window_{window.status}", span=span, title=window.milestone.title))
            if window.status != "past":
                second.extend(t("plan.task", task=task) for task in window.milestone.tasks_for(plan.student))
    second += ["", t("plan.footer")]
    return ["\n".join(first), "\n".join(second)]
