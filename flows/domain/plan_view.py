"""The plan as text for a phone: :func:`render_plan` turns a :class:`~flows.domain.plan.Plan` into messages.

What the plan says is decided in :mod:`flows.domain.plan`; this module only words and lays it out,
from the texts in ``content/texts/plan.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable

from flows.domain.plan import Plan, Rules, load_rules, month_label
from flows.storage.profiles import Profile

Translate = Callable[..., str]  # turn.t: a text key and values to escape into it


def _count(n: int | None, noun: str) -> str:
    """ "1 month", "3 months", "? US letters" when unknown."""
    if n is None:
        return f"? {noun}s"
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_plan(plan: Plan, profile: Profile, t: Translate, rules: Rules | None = None) -> list[str]:
    """The plan as two phone-sized messages: what to do, then targets and dates."""
    rules = rules or load_rules()
    targets = rules.targets
    specialty = " / ".join(profile.specialties) if profile.specialties else t("plan.your_specialty")

    # 1. who, and which kinds of USCE fit
    if plan.student:
        who = t("plan.who_student", year=profile.grad_year or "?")
    else:
        who = t("plan.who_graduate", year=profile.grad_year or "?")
    when = t("plan.applying", month=month_label(plan.application)) if plan.application else ""
    first = [t("plan.title"), t("plan.summary", who=who, specialty=specialty, when=when), ""]
    first.append(t("plan.routes_heading_student" if plan.student else "plan.routes_heading_graduate"))
    for route in plan.routes:
        if route == "scribe":
            first.append(t(f"plan.route_scribe_{plan.work}"))
        elif route == "observerships":
            first.append(t("plan.route_observerships", months=targets.observership_months, specialty=specialty))
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
                first.append(
                    t(
                        "plan.adjust_older",
                        years=plan.years_since_graduation,
                        months=targets.older_recent_months,
                        threshold=rules.older_graduation_years,
                    )
                )
            else:
                first.append(t(f"plan.adjust_{key}"))

    # 2. targets side by side, gaps, the timeline
    second = [
        t("plan.targets_heading"),
        t("plan.target_hands_on", competitive=targets.hands_on_months, minimum=targets.minimum_months),
        t("plan.target_specialty", specialty=specialty, competitive=targets.specialty_months),
        t("plan.target_recency", competitive=targets.recency_years),
        t("plan.target_letters", competitive=targets.us_letters, minimum=targets.minimum_letters),
    ]
    if profile.us_months is not None or profile.us_letters is not None:
        second.append(
            t(
                "plan.you_so_far_none" if profile.us_months == 0 else "plan.you_so_far",
                months=_count(profile.us_months, "month"),
                letters=_count(profile.us_letters, "US letter"),
            )
        )
    if plan.capacity != "unknown":
        done = profile.us_months or 0
        available = profile.months_available or 0
        second.append(
            t(
                f"plan.capacity_{plan.capacity}",
                months=_count(available, "month"),
                done=_count(done, "month"),
                total=_count(done + available, "month"),
                competitive=targets.hands_on_months,
                minimum=targets.minimum_months,
            )
        )
    if plan.months_short_of_time:
        second.append(t("plan.short_of_time", left=plan.months_to_application))
    if plan.gaps:
        second += ["", t("plan.gaps_heading")]
        for gap in plan.gaps:
            line = t(
                f"plan.gap_{gap}",
                specialty=specialty,
                recency=targets.recency_years,
                months=targets.specialty_months,
            )
            if gap in plan.detected_gaps:
                line += " " + t("plan.gap_detected")
            second.append(line)

    second.append("")
    if plan.application is None:
        second.append(t("plan.timeline_unknown"))
    else:
        second.append(t("plan.timeline_heading", month=month_label(plan.application)))
        if plan.timing == "past":
            second.append(t("plan.timing_past"))
        elif plan.timing == "close":
            second.append(t("plan.timing_close", months=plan.months_to_application, specialty=specialty))
        for window in plan.windows:
            span = f"{month_label(window.start)} – {month_label(window.end)}"
            second.append(t(f"plan.window_{window.status}", span=span, title=window.milestone.title))
            if window.status != "past":
                second.extend(
                    t("plan.task", task=task) for task in window.milestone.tasks_for(plan.student)
                )
    second += ["", t("plan.footer")]
    return ["\n".join(first), "\n".join(second)]
