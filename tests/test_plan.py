"""The personal plan as pure functions: content loading, dates, and plans over many profiles."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

import pytest

from flows.base.content import ContentError, texts
from flows.base.text import to_plain
from flows.domain.plan import (
    Plan,
    add_months,
    build_plan,
    load_milestones,
    load_rules,
    milestone_dates,
    months_until,
    parse_milestones,
    parse_rules,
    window_status,
)
from flows.domain.plan_view import render_plan
from flows.storage.experiences import Experience
from flows.storage.profiles import Profile
from tests.emulator import parse_html

TODAY = date(2026, 11, 25)


def profile(**values: object) -> Profile:
    base: dict[str, object] = {
        "status": "graduate",
        "grad_year": 2024,
        "specialties": ("Internal medicine",),
        "application": "2028-09",
        "months_available": 3,
        "budget": "moderate",
        "visa": "visitor",
        "us_months": 0,
        "us_letters": 0,
        "gaps": (),
        "timezone": "Asia/Kolkata",
        "completed_at": "2026-11-25T09:00:00+00:00",
    }
    base.update(values)
    return Profile("tg:1", **base)  # type: ignore[arg-type]


def t(key: str, **values: object) -> str:
    return texts().fmt(key, **values) if values else texts()[key]


# -- content ---------------------------------------------------------------------------------------
def test_content_loads_with_the_guides_figures() -> None:
    rules = load_rules()
    assert rules.cycle_month == 9 and "Psychiatry" in [s.name for s in rules.specialties]
    assert [m.id for m in load_milestones()] == ["groundwork", "secure", "letters", "apply"]


def test_milestones_are_frozen_and_split_tasks_by_status() -> None:
    secure = load_milestones()[1]
    with pytest.raises(AttributeError):
        secure.title = "x"  # type: ignore[misc]
    assert set(secure.tasks) < set(secure.tasks_for(True))
    assert secure.tasks_for(True) != secure.tasks_for(False)
    assert secure.tasks_for(None) == secure.tasks


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("- id: a\n  months_before: [12, 18]\n  title: x\n  tasks: [y]\n",
         "milestones.yaml:2: 'months_before' must be"),
        ("- id: a\n  months_before: [12, 6]\n  title: x\n", "missing 'tasks'"),
        ("- id: a\n  months_before: [12, 6]\n  title: x\n  tasks: [y]\n"
         "- id: a\n  months_before: [6, 0]\n  title: z\n  tasks: [y]\n", "milestones.yaml:5: duplicate"),
        ("- id: a\n  months_before: [6, 0]\n  title: x\n  tasks: [y]\n"
         "- id: b\n  months_before: [12, 6]\n  title: z\n  tasks: [y]\n", "earliest to latest"),
        ("[]\n", "expected a list"),
    ],
)
def test_milestone_mistakes_name_file_and_line(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "milestones.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ContentError, match=message):
        parse_milestones(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("student_year: [1, 7]", "student_year: [7, 1]", "must be \\[low, high\\]"),
        ("cycle_month: 9", "cycle_month: many", "must be int"),
        ("zone: Africa/Lagos", "zone: Africa/Atlantis", "unknown time zone 'Africa/Atlantis'"),
        ("    recent: [recent,", "    soon: [x]\n    recent: [recent,", "unknown answer 'soon'"),
    ],
)
def test_rule_mistakes_name_the_problem(tmp_path: Path, old: str, new: str, message: str) -> None:
    source = (Path(__file__).parent.parent / "content" / "plan.yaml").read_text()
    assert old in source
    path = tmp_path / "plan.yaml"
    path.write_text(source.replace(old, new, 1))
    with pytest.raises(ContentError, match=message):
        parse_rules(path)


# -- dates -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 9, 1), -36, date(2024, 9, 1)),
        (date(2027, 9, 15), -18, date(2026, 3, 1)),
        (date(2027, 1, 31), -1, date(2026, 12, 1)),
        (date(2027, 12, 1), 1, date(2028, 1, 1)),
        (date(2027, 9, 1), 6, date(2028, 3, 1)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_milestone_dates_for_a_september_application() -> None:
    windows = [(m.id, start, end) for m, start, end in milestone_dates(date(2027, 9, 1))]
    assert windows == [
        ("groundwork", date(2024, 9, 1), date(2025, 8, 31)),
        ("secure", date(2026, 3, 1), date(2026, 8, 31)),
        ("letters", date(2026, 9, 1), date(2027, 2, 28)),
        ("apply", date(2027, 3, 1), date(2028, 2, 29)),
    ]


def test_milestone_dates_ignore_the_day_of_the_month() -> None:
    assert milestone_dates(date(2027, 9, 30)) == milestone_dates(date(2027, 9, 1))


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 2, 28), "ahead"),
        (date(2026, 3, 1), "now"),
        (date(2026, 8, 31), "now"),
        (date(2026, 9, 1), "past"),
    ],
)
def test_window_status(today: date, expected: str) -> None:
    assert window_status(date(2026, 3, 1), date(2026, 8, 31), today) == expected


@pytest.mark.parametrize(
    ("target", "expected"), [(date(2026, 11, 1), 0), (date(2027, 9, 1), 10), (date(2026, 9, 1), -2)]
)
def test_months_until(target: date, expected: int) -> None:
    assert months_until(TODAY, target) == expected


# -- plans -----------------------------------------------------------------------------------------
_ids = itertools.count(1)


def exp(start: str, end: str | None = None, *, kind: str = "observership", status: str = "done",
        letter: str = "none", specialty: str = "Internal medicine") -> Experience:
    level = {"observership": "non", "research": "semi"}.get(kind, "hands_on")
    return Experience(next(_ids), "tg:1", kind, level, specialty, "City Hospital", 1, "both", start, end or start,
                      status, letter, None, "", "")


def plain(p: Profile, experiences: tuple[Experience, ...] = (), today: date = TODAY) -> str:
    return to_plain("\n".join(render_plan(build_plan(p, today, experiences=experiences), p, t)))


@pytest.mark.parametrize(
    ("values", "routes"),
    [
        ({"status": "student", "grad_year": 2027}, ("electives",)),
        ({"budget": "moderate"}, ("externships", "observerships", "research", "scribe")),
        ({"budget": "flexible"}, ("externships", "observerships", "research", "scribe")),
        # the guide's order for limited funds: academic observership, research with clinic time
        ({"budget": "limited"}, ("observerships", "research", "externships", "scribe")),
    ],
)
def test_routes_follow_status_and_budget(values: dict[str, object], routes: tuple[str, ...]) -> None:
    assert build_plan(profile(**values), TODAY).routes == routes


@pytest.mark.parametrize(
    ("visa", "says", "never"),
    [
        ("visitor", "visa complexity increases — plan early and consult official sources", "open to you"),
        ("b1b2", "You already hold B1/B2", "open to you"),
        ("unsure", "Visa unclear", "open to you"),
        # work status (an "h1b" typed, say): only what the guide says about such roles
        ("authorized", "Some need work authorization or extra certifications", "open to you"),
    ],
)
def test_visa_answers_say_only_what_the_guide_says(visa: str, says: str, never: str) -> None:
    text = plain(profile(visa=visa))
    assert says in text and never not in text


def test_the_match_year_is_shown_with_the_application_month() -> None:
    text = plain(profile(application="2027-09"))
    assert "apply Sep 2027 → Match 2028" in text
    assert "🗓 Your timeline — apply Sep 2027 → Match 2028" in text


@pytest.mark.parametrize(
    ("application", "today", "now"),
    [
        ("2027-09", date(2026, 11, 25), "▶️ Sep 2026 – Feb 2027"),  # inside a window
        # 21 months before applying: after "2–3 years before", before "12–18 months before"
        ("2028-08", date(2026, 11, 25), "Now — between stages: next, 12–18 months before — lock in your USCE, "
                                        "from Feb 2027"),
        ("2031-09", date(2026, 11, 25), "Now — ahead of the timeline"),
    ],
)
def test_every_date_has_a_now(application: str, today: date, now: str) -> None:
    assert now in plain(profile(application=application), today=today)


def test_plan_and_progress_count_the_same_way() -> None:
    """An old observership is neither hands-on nor recent: the plan does not call 12 months 'done'."""
    p = profile(grad_year=2016, application="2027-09", us_months=12, months_available=4, specialties=("Psychiatry",))
    text = plain(p, (exp("2024-06", kind="observership", specialty="Psychiatry"),))
    assert "✅ Any USCE: 1 month" in text
    assert "❌ Hands-on, recent: 0 months" in text
    assert "❌ Recent, in Psychiatry: 0 months" in text
    assert "done" not in text.split("Where you stand")[1].split("Your timeline")[0].replace("done or planned", "")
    assert "about 11 months more of US experience than you've logged" in text


def test_research_is_semi_hands_on_and_not_usce() -> None:
    text = plain(profile(), (exp("2026-01", "2026-06", kind="research"),))
    assert "✅ Any USCE" not in text
    assert "Research: 6 months — semi-hands-on; programs may not count it as USCE" in text


def test_a_final_year_student_is_called_one() -> None:
    p = profile(status="student", grad_year=2027, student_year=6, application="2027-09")
    assert "Final-year medical student, graduating 2027" in plain(p)
    assert "Final-year" not in plain(profile(status="student", grad_year=2029, application="2029-09"))


def test_warnings_show_in_the_plan_with_what_to_do() -> None:
    p = profile(status="student", grad_year=2030, student_year=3, application="2027-09")
    text = plain(p)
    assert "Things that don't fit" in text
    assert "You graduate in 2030, after Match 2028" in text and "Sep 2029 → Match 2030" in text
    assert "Things that don't fit" not in plain(profile(grad_year=2024, application="2028-09", months_available=3))


def test_older_graduation_cut_off_is_labelled_as_a_rule_of_thumb() -> None:
    assert "my rule of thumb; the guide sets no cut-off" in plain(profile(grad_year=2016))
    assert "rule of thumb" not in plain(profile(grad_year=2024))


def test_capacity_counts_only_recent_hands_on_months() -> None:
    text = plain(profile(months_available=1, us_months=12), (exp("2019-01", "2019-12", kind="elective"),))
    assert "You can give 1 more months" not in text  # no grammar slip
    assert "within reach" not in text
    assert "enough for the 1-month minimum" in text


def test_plans_are_frozen_and_repeatable() -> None:
    plan = build_plan(profile(), TODAY)
    assert isinstance(plan, Plan)
    with pytest.raises(AttributeError):
        plan.timing = "x"  # type: ignore[misc]
    assert build_plan(profile(), TODAY) == plan


@pytest.mark.parametrize(
    "values",
    [dict(zip(("status", "budget", "visa", "application"), combo, strict=True)) for combo in itertools.product(
        ("student", "graduate"), ("limited", "moderate", "flexible", None),
        ("visitor", "b1b2", "authorized", "unsure", None), ("2027-09", "2026-01", None))],
)
def test_every_combination_renders_valid_html_without_placeholders(values: dict[str, object]) -> None:
    p = profile(**values)
    for message in render_plan(build_plan(p, TODAY), p, t):
        parse_html(message)
        assert "{" not in message and "None" not in message and "Not set" not in message
        assert len(message) < 4096
