"""Checks that catch what doesn't fit: pure rules over a profile and its readiness.

:func:`run_checks` returns :class:`Warning` records (a text key and its values), in the
order they should be read; /plan and /progress show them as short warnings, each with
what to do. Each check states a fact that follows from the user's own dates and the
guide's timeline, never a rule the guide does not give:

- ``graduation_after_match``: the graduation year comes after the Match year.
- ``graduate_year_ahead``: "graduated", with a graduation year still ahead.
- ``student_applying_in_school``: a student whose application falls before the
  graduation year.
- ``lead_electives`` / ``lead_usce`` / ``lead_letters``: less time before the application
  than the guide's lead time (electives planned 12–18 months ahead; 1–3 months of USCE
  secured 12–18 months before; letters confirmed 6–12 months before), nothing in hand, and
  the realistic alternative.
- ``months_over_available``: more months planned than the user said they can give.
- ``available_over_time``: more months to give than remain before the application.
- ``letter_late``: a letter never asked for, from a rotation that ended a while ago.
- ``older_no_recent``: an older graduation year with nothing recent done or planned.
- ``done_ahead`` / ``planned_past`` / ``letter_ahead``: a logged status or letter the dates
  contradict (readiness counts by the dates).
- ``application_past``: the application month has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from flows.domain.readiness import DONE, PLANNED, Benchmarks, Readiness, benchmarks, letter_candidate, letter_is_late
from flows.domain.records import Profile, month_index, month_label

HANDS_ON_STUDENT_TYPES = ("elective", "subi")


@dataclass(frozen=True, slots=True)
class Warning:
    key: str  # the text is checks.<key>
    values: dict[str, object] = field(default_factory=dict)


def _label(index: int) -> str:
    return month_label(index, "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec")


def _later_cycle(application: int) -> dict[str, object]:
    """The next cycle after the one planned: "apply Sep 2028 → Match 2029"."""
    year = application // 12 + 1
    return {"later_apply": f"Sep {year}", "later_match": year + 1}


def run_checks(
    profile: Profile | None, r: Readiness, today: date, bench: Benchmarks | None = None
) -> list[Warning]:
    bench = bench or benchmarks()
    found: list[Warning] = []
    app = r.application
    this_month = month_index(today)
    grad = profile.grad_year if profile else None
    student = bool(profile and profile.is_student)

    if app is not None and app < this_month:
        found.append(Warning("application_past", {"apply": _label(app)}))
        app = None  # nothing below is meaningful for a past date
    if app is not None and grad is not None:
        match = app // 12 + 1
        if grad > match:
            found.append(Warning("graduation_after_match", {
                "grad": grad, "apply": _label(app), "match": match,
                "fit_apply": f"Sep {grad - 1}", "fit_match": grad,
            }))
        elif student and grad > app // 12:
            found.append(Warning("student_applying_in_school", {
                "grad": grad, "apply": _label(app), "match": match,
                "fit_apply": f"Sep {grad}", "fit_match": grad + 1,
            }))
    if profile and profile.status == "graduate" and grad is not None and grad > today.year:
        found.append(Warning("graduate_year_ahead", {"grad": grad}))

    if any(w.key == "graduation_after_match" for w in found):
        app = None  # the date itself has to move first: lead times against it would mislead
    if app is not None:
        left = app - this_month
        usce = r.line("usce")
        letters = r.line("letters")
        later = _later_cycle(app)
        electives = any(c.experience.type in HANDS_ON_STUDENT_TYPES and c.months for c in r.counted)
        if student and not electives and left < bench.lead_electives.min:
            found.append(Warning("lead_electives", {"left": left, "lead": str(bench.lead_electives), **later}))
        elif usce is not None and usce.projected == 0 and left < bench.lead_secure.min:
            found.append(Warning("lead_usce", {"left": left, "lead": str(bench.lead_secure), **later}))
        if letters is not None and letters.now == 0 and left < bench.lead_letters.min:
            found.append(Warning("lead_letters", {"left": left, "lead": str(bench.lead_letters)}))
        if profile and profile.months_available is not None and 0 <= left < profile.months_available:
            found.append(Warning("available_over_time", {"left": left, "available": profile.months_available,
                                                         "apply": _label(app)}))

    if profile and profile.months_available is not None and r.planned_months > profile.months_available:
        # months still ahead that are already planned, against the months the user can give
        found.append(Warning("months_over_available", {"planned": r.planned_months,
                                                       "available": profile.months_available}))

    ask = letter_candidate(r)
    letters_line = r.line("letters")
    if ask is not None and letter_is_late(ask, r, bench) and letters_line is not None \
            and letters_line.projected < bench.letters_ideal.min:
        found.append(Warning("letter_late", {"institution": ask.experience.institution,
                                             "month": _label(month_index(ask.experience.end))}))

    recent = r.line("recent")
    if r.older_graduate and recent is not None and recent.projected == 0:
        found.append(Warning("older_no_recent", {
            "years": r.years_since_graduation, "threshold": bench.older_graduation_years,
            "range": str(bench.recent_catch_up), "first": _label(r.window[0]),
            "last": _label(r.window[1]) if r.application is not None else "",
        }))

    for c in r.counted:
        where: dict[str, object] = {"institution": c.experience.institution,
                                    "month": _label(month_index(c.experience.start))}
        for issue in c.issues:
            if issue == "done_ahead":
                found.append(Warning("done_ahead", {**where, "status": "planned" if c.status == PLANNED
                                                    else "ongoing"}))
            elif issue == "planned_past" and c.status == DONE:
                found.append(Warning("planned_past", where))
            elif issue == "letter_ahead":
                found.append(Warning("letter_ahead", where))
    return found


Translate = Callable[..., str]


def render_warnings(warnings: Sequence[Warning], t: Translate) -> list[str]:
    return [t(f"checks.{w.key}", **w.values) for w in warnings]
