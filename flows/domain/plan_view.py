"""The plan as screens for a phone, from a :class:`~flows.domain.plan.Plan`.

:func:`render_card` is what ``/plan`` opens with: who the plan is for, the Match year, where
the user stands against the benchmarks and the next three steps with dates. Each section
(:data:`SECTIONS`) is one short screen of its own, reached from the card's buttons
(:func:`plan_keyboard`); :func:`render_plan` is the full plan, for a user who asks for it.

What the plan says is decided in :mod:`flows.domain.plan` (with :mod:`flows.domain.readiness`
and :mod:`flows.domain.checks`); this module only words and lays it out, from the texts in
``content/texts/plan.yaml``, ``readiness.yaml`` and ``checks.yaml`` (the plan's wording) and
``plan_card.yaml`` (the card and its buttons).
"""

from __future__ import annotations

from collections.abc import Callable

from flows.base.text import to_plain
from flows.base.types import Button, Keyboard, Reply
from flows.domain.checks import render_warnings
from flows.domain.plan import Plan, Rules, month_label
from flows.domain.readiness import benchmarks, months_text, render_lines, render_notes, render_window
from flows.domain.records import Profile

Translate = Callable[..., str]  # turn.t: a text key and values to escape into it

SECTIONS = ("targets", "checks", "timeline", "options", "situation")  # checks, situation: when there are any
NEXT_STEPS = 3
SCREEN = 1000  # characters (as read) a screen of the plan stays within; the full plan may run longer
STAGES_WITH_TASKS = 2  # on the timeline screen: the current stage and the next one
BUTTON_PREFIX = "ob:p:"  # the onboarding feature owns /plan and its buttons


def applying_text(plan: Plan, t: Translate) -> str:
    """ "apply Sep 2027 → Match 2028" """
    assert plan.application is not None and plan.match_year is not None
    return t("plan.apply_match", month=month_label(plan.application), match=plan.match_year)


def _specialty(plan: Plan, t: Translate) -> str:
    """The user's specialties as the list names them ("peds" reads Pediatrics)."""
    names = plan.readiness.specialties
    return " / ".join(names) if names else t("plan.your_specialty")


def sections(plan: Plan) -> tuple[str, ...]:
    """The sections this plan has (no "checks" without a warning, no "situation" when
    nothing is adjusted for the user)."""
    present = {"checks": bool(plan.warnings), "situation": bool(plan.adjustments)}
    return tuple(s for s in SECTIONS if present.get(s, True))


def _who(plan: Plan, profile: Profile, t: Translate, specialty: str) -> str:
    """ "Graduated 2016 · Psychiatry · apply Sep 2027 → Match 2028" """
    if plan.student:
        who = t("plan.who_student_final" if plan.stage == "final" else "plan.who_student",
                year=profile.grad_year or "?")
    else:
        who = t("plan.who_graduate", year=profile.grad_year or "?")
    when = " · " + applying_text(plan, t) if plan.application else ""
    return t("plan.summary", who=who, specialty=specialty, when=when)


# -- the summary card ------------------------------------------------------------------------
def render_card(plan: Plan, profile: Profile, t: Translate, rules: Rules | None = None) -> str:
    """One screen: who, when, where the user stands, what to do next. When a crowded plan
    would run past :data:`SCREEN`, fewer steps are listed (at least one), then the footer goes."""
    top = [t("plan.title"), _who(plan, profile, t, _specialty(plan, t))]
    warnings = render_warnings(plan.warnings, t)
    if warnings:  # the one thing that most needs saying goes on top; the rest under Checks
        top.append(warnings[0])
        if len(warnings) > 1:
            top.append(t("plan_card.more_warnings", n=len(warnings) - 1))
    if plan.timing == "past":
        top.append(t("plan.timing_past"))
    top += ["", t("plan_card.stand_heading"), *render_lines(plan.readiness, t), "", t("plan_card.steps_heading")]

    steps = [t("plan_card.step", n=n, when=when, task=task) for n, (when, task) in enumerate(next_steps(plan, t), 1)]
    if not steps:
        steps = [t("plan.timeline_unknown") if plan.application is None else t("plan_card.no_steps")]
    footer = ["", t("plan_card.footer")]
    text = "\n".join([*top, *steps, *footer])
    while len(to_plain(text)) > SCREEN and (len(steps) > 1 or footer):
        if len(steps) > 1:
            steps.pop()
        else:
            footer = []
        text = "\n".join([*top, *steps, *footer])
    return text


def next_steps(plan: Plan, t: Translate, count: int = NEXT_STEPS) -> list[tuple[str, str]]:
    """The first ``count`` tasks still to do, each with when: "by Feb 2027" in the current
    stage, "from Mar 2027" in a stage ahead."""
    steps: list[tuple[str, str]] = []
    for window in plan.windows:
        if window.status == "past":
            continue
        if window.status == "now":
            when = t("plan_card.by", month=month_label(window.end))
        else:
            when = t("plan_card.from", month=month_label(window.start))
        steps += [(when, task) for task in window.milestone.tasks_for(plan.student)]
    return steps[:count]


def plan_keyboard(t: Translate, plan: Plan, showing: str | None = None, page: int = 1, pages: int = 1) -> Keyboard:
    """The card's buttons: one per section, the full plan, then profile and menu. On a
    section's screen its own button becomes the way back to the card, and a section that
    takes more than one screen gets buttons to its other pages."""

    def button(section: str) -> Button:
        if section == showing:
            return Button(t("plan_card.button_card"), f"{BUTTON_PREFIX}card")
        return Button(t(f"plan_card.button_{section}"), f"{BUTTON_PREFIX}{section}")

    rows: list[tuple[Button, ...]] = []
    if showing and pages > 1:
        turns = []
        if page > 1:
            turns.append(Button(t("plan_card.button_previous"), f"{BUTTON_PREFIX}{showing}~{page - 1}"))
        if page < pages:
            turns.append(Button(t("plan_card.button_more"), f"{BUTTON_PREFIX}{showing}~{page + 1}"))
        rows.append(tuple(turns))
    shown = [*sections(plan), "full"]
    rows += [tuple(button(s) for s in shown[i : i + 2]) for i in range(0, len(shown), 2)]
    rows.append((Button(t("calendar.menu"), "go:calendar"),))
    rows.append((Button(t("onboarding.menu_profile"), "go:profile"), Button(t("onboarding.button_menu"), "go:menu")))
    return tuple(rows)


def parse_screen(plan: Plan, data: str) -> tuple[str, int] | None:
    """ "options~2" -> ("options", 2); None for a screen this plan does not have."""
    name, _, number = data.partition("~")
    if not number:
        page = 1
    elif number.isdigit() and len(number) < 3:
        page = int(number)
    else:
        return None
    if (name in ("card", "full") and page == 1) or (name in sections(plan) and page >= 1):
        return name, page
    return None


def plan_replies(
    screen: str, plan: Plan, profile: Profile, t: Translate, rules: Rules | None = None, replace: bool = False
) -> list[Reply] | None:
    """What one of the plan's screens shows: the card, a page of a section (in place of the
    pressed message) or the full plan (new messages, marked as asked for in full). None for
    a screen this plan does not have (a button from an older plan)."""
    parsed = parse_screen(plan, screen)
    if parsed is None:
        return None
    name, page = parsed
    if name == "full":
        first, second = render_plan(plan, profile, t, rules)
        return [Reply(first, full=True), Reply(second, plan_keyboard(t, plan), full=True)]
    if name == "card":
        return [Reply(render_card(plan, profile, t, rules), plan_keyboard(t, plan), replace=replace)]
    pages = section_pages(name, plan, profile, t)
    page = min(page, len(pages))
    return [Reply(pages[page - 1], plan_keyboard(t, plan, name, page, len(pages)), replace=True)]


# -- the sections ----------------------------------------------------------------------------
def render_section(section: str, plan: Plan, profile: Profile, t: Translate) -> str:
    """One section of the plan, whole."""
    return "\n".join(_section_lines(section, plan, profile, t))


def section_pages(section: str, plan: Plan, profile: Profile, t: Translate) -> list[str]:
    """A section cut into screens of at most :data:`SCREEN` characters, at line ends; each
    page after the first opens with the section's heading again."""
    heading, *body = _section_lines(section, plan, profile, t)
    pages: list[list[str]] = [[heading]]
    for line in body:
        if len(to_plain("\n".join([*pages[-1], line]))) > SCREEN and len(pages[-1]) > 2:
            pages.append([heading, t("plan_card.continued")])
        if line or pages[-1][-1]:  # no blank line right after a page's heading
            pages[-1].append(line)
    return ["\n".join(lines).strip() for lines in pages]


def _section_lines(section: str, plan: Plan, profile: Profile, t: Translate) -> list[str]:
    specialty = _specialty(plan, t)
    render = {
        "targets": _targets,
        "checks": _checks,
        "timeline": _timeline,
        "options": _options,
        "situation": _situation,
    }[section]
    return render(plan, profile, t, specialty)


def render_plan(plan: Plan, profile: Profile, t: Translate, rules: Rules | None = None) -> list[str]:
    """The full plan as two messages: what to do, then where you stand and when."""
    specialty = _specialty(plan, t)
    first = [t("plan.title"), _who(plan, profile, t, specialty), "", *_options(plan, profile, t, specialty)]
    situation = _situation(plan, profile, t, specialty)
    if situation:
        first += ["", *situation]
    second = _targets(plan, profile, t, specialty)
    checks = _checks(plan, profile, t, specialty)
    if checks:
        second += ["", *checks]
    second += ["", *_timeline(plan, profile, t, specialty, full=True)]
    second += ["", t("plan.footer")]
    return ["\n".join(first), "\n".join(second)]


def _options(plan: Plan, profile: Profile, t: Translate, specialty: str) -> list[str]:
    """Which kinds of USCE fit, in the order the user's constraints give."""
    bench = benchmarks()
    lines = [t("plan.routes_heading_student" if plan.student else "plan.routes_heading_graduate")]
    if not plan.student and profile.budget == "limited":
        lines.append(t("plan.routes_order_limited"))
    for route in plan.routes:
        if route == "scribe":
            lines.append(t(f"plan.route_scribe_{plan.work}"))
        elif route == "observerships":
            key = "plan.route_observerships_limited" if profile.budget == "limited" else "plan.route_observerships"
            lines.append(t(key, months=bench.observership_only, specialty=specialty))
        elif route == "electives":
            lines.append(t("plan.route_electives"))
            lines.append(t("plan.electives_how"))
            lines.append(t("plan.electives_require"))
            lines.append(t("plan.electives_where", specialty=specialty))
        else:
            lines.append(t(f"plan.route_{route}"))
    return lines


def _situation(plan: Plan, profile: Profile, t: Translate, specialty: str) -> list[str]:
    """What changes for this user: an older graduation, the budget, the visa."""
    if not plan.adjustments:
        return []
    bench = benchmarks()
    lines = [t("plan.adjust_heading")]
    for key in plan.adjustments:
        if key == "older":
            lines.append(t("plan.adjust_older", years=plan.years_since_graduation,
                           months=bench.recent_catch_up, threshold=bench.older_graduation_years))
        else:
            lines.append(t(f"plan.adjust_{key}"))
    return lines


def _targets(plan: Plan, profile: Profile, t: Translate, specialty: str) -> list[str]:
    """Where the user stands (the same lines as /progress), what doesn't fit, the gaps."""
    bench = benchmarks()
    r = plan.readiness
    lines = [t("plan.targets_heading"), render_window(r, t), *render_lines(r, t), *render_notes(r, t)]
    if plan.capacity != "unknown":
        lines.append(t(f"plan.capacity_{plan.capacity}", months=months_text(t, profile.months_available or 0),
                       reach=plan.reach, competitive=bench.hands_on, minimum=bench.total.min))
    if plan.gaps:
        lines += ["", t("plan.gaps_heading")]
        lines += [t(f"plan.gap_{gap}", specialty=specialty, recency=bench.recency_years,
                    months=bench.specialty) for gap in plan.gaps]
    return lines


def _checks(plan: Plan, profile: Profile, t: Translate, specialty: str) -> list[str]:
    """What doesn't fit in the user's answers, each with what to do."""
    return [t("checks.heading"), *render_warnings(plan.warnings, t)] if plan.warnings else []


def _timeline(plan: Plan, profile: Profile, t: Translate, specialty: str, full: bool = False) -> list[str]:
    """The stages before the application, dated, with the tasks of the next two (of every
    stage still to come in the ``full`` plan)."""
    if plan.application is None:
        return [t("plan.timeline_unknown")]
    lines = [t("plan.timeline_heading", when=applying_text(plan, t))]
    if plan.timing == "past":
        return [*lines, t("plan.timing_past")]
    if plan.now in ("before", "between") and plan.next_window is not None:
        lines.append(t(f"plan.now_{plan.now}", month=month_label(plan.next_window.start),
                       title=plan.next_window.milestone.title))
    coming = 0  # stages not yet passed, shown so far
    for window in plan.windows:
        span = f"{month_label(window.start)} – {month_label(window.end)}"
        lines.append(t(f"plan.window_{window.status}", span=span, title=window.milestone.title))
        if window.status != "past":
            coming += 1
            if full or coming <= STAGES_WITH_TASKS:
                lines.extend(t("plan.task", task=task) for task in window.milestone.tasks_for(plan.student))
    return lines
