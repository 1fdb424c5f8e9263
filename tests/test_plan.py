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
    assert (rules.targets.hands_on_months.low, rules.targets.hands_on_months.high) == (2, 4)
    assert str(rules.targets.specialty_months) == "1–2"
    assert rules.targets.minimum_months == 1 and rules.targets.minimum_letters == 1
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
        ("- id: a\n  months_before: [12, 18]\n  title: x\n  tasks: [y]\n", "milestones.yaml:1"),
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
        ("hands_on_months: [2, 4]", "hands_on_months: [4, 2]", "must be \\[low, high\\]"),
        ("years_before_application: 5", "years_before_application: many", "must be int"),
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
@pytest.mark.parametrize(
    ("values", "routes", "work"),
    [
        ({"status": "student", "grad_year": 2028}, ("electives",), "needs_authorization"),
        ({"visa": "authorized"}, ("externships", "observerships", "research", "scribe"), "open"),
        ({"visa": "visitor"}, ("externships", "observerships", "research", "scribe"), "needs_authorization"),
        ({"visa": "unsure"}, ("externships", "observerships", "research", "scribe"), "check"),
        ({"visa": None}, ("externships", "observerships", "research", "scribe"), "check"),
    ],
)
def test_routes_by_status_and_visa(values: dict[str, object], routes: tuple[str, ...], work: str) -> None:
    plan = build_plan(profile(**values), TODAY)
    assert (plan.routes, plan.work) == (routes, work)


@pytest.mark.parametrize(
    ("values", "years", "older"),
    [
        ({"grad_year": 2023, "application": "2028-09"}, 5, False),  # exactly the threshold: not older
        ({"grad_year": 2022, "application": "2028-09"}, 6, True),
        ({"grad_year": 2010, "application": "2027-09"}, 17, True),
        ({"grad_year": 2020, "application": None}, 6, True),  # counted to this year without a date
        ({"status": "student", "grad_year": 2028}, -0, False),
        ({"grad_year": None}, None, False),
    ],
)
def test_older_graduation_rule_of_thumb(values: dict[str, object], years: int | None, older: bool) -> None:
    plan = build_plan(profile(**values), TODAY)
    assert plan.older_graduate is older
    if years is not None and values.get("status") != "student":
        assert plan.years_since_graduation == years
    assert ("older" in plan.adjustments) is older
    assert ("recent" in plan.gaps) is older


@pytest.mark.parametrize(
    ("status", "budget", "visa", "expected"),
    [
        ("graduate", "limited", "visitor", ("limited_funds", "visitor")),
        ("graduate", "moderate", "authorized", ("paid_check",)),
        ("graduate", "flexible", "unsure", ("paid_check", "visa_unsure")),
        ("graduate", None, None, ("visa_unsure",)),
        ("student", "flexible", "authorized", ()),  # no paid externships for students
        ("student", "limited", "visitor", ("limited_funds", "visitor")),
    ],
)
def test_adjustments_for_constraints(
    status: str, budget: str | None, visa: str | None, expected: tuple[str, ...]
) -> None:
    values: dict[str, object] = {"status": status, "budget": budget, "visa": visa, "grad_year": 2024}
    if status == "student":
        values["grad_year"] = 2028
    assert build_plan(profile(**values), TODAY).adjustments == expected


@pytest.mark.parametrize(
    ("application", "timing", "months", "statuses"),
    [
        ("2030-09", "ahead", 46, ("ahead", "ahead", "ahead", "ahead")),
        ("2028-09", "ahead", 22, ("past", "ahead", "ahead", "ahead")),  # between two windows
        ("2029-09", "ahead", 34, ("now", "ahead", "ahead", "ahead")),
        ("2027-09", "close", 10, ("past", "past", "now", "ahead")),
        ("2026-12", "close", 1, ("past", "past", "past", "now")),
        ("2026-11", "close", 0, ("past", "past", "past", "now")),
        ("2026-05", "past", -6, ("past", "past", "past", "past")),
        ("2025-09", "past", -14, ("past", "past", "past", "past")),
        (None, "unknown", None, ()),
    ],
)
def test_timeline_against_today(
    application: str | None, timing: str, months: int | None, statuses: tuple[str, ...]
) -> None:
    plan = build_plan(profile(application=application), TODAY)
    assert (plan.timing, plan.months_to_application) == (timing, months)
    assert tuple(w.status for w in plan.windows) == statuses


@pytest.mark.parametrize(
    ("us_months", "available", "capacity"),
    [(0, 3, "competitive"), (0, 1, "minimum"), (1, 1, "competitive"), (0, 0, "none"), (3, None, "unknown")],
)
def test_capacity_against_the_targets(us_months: int, available: int | None, capacity: str) -> None:
    plan = build_plan(profile(us_months=us_months, months_available=available), TODAY)
    assert plan.capacity == capacity


def test_more_months_planned_than_remain() -> None:
    assert build_plan(profile(application="2027-03", months_available=6), TODAY).months_short_of_time
    assert not build_plan(profile(application="2027-09", months_available=6), TODAY).months_short_of_time


@pytest.mark.parametrize(
    ("values", "gaps", "detected"),
    [
        ({"us_months": 0, "us_letters": 0}, ("letters", "first"), ("letters", "first")),
        ({"us_months": 2, "us_letters": 1, "gaps": ("specialty",)}, ("specialty",), ()),
        ({"us_months": 0, "us_letters": 2, "gaps": ("first",)}, ("first",), ()),
        ({"us_months": None, "us_letters": None, "gaps": ("letters", "recent")}, ("recent", "letters"), ()),
        ({"grad_year": 2012, "us_months": 3, "us_letters": 2}, ("recent",), ("recent",)),
    ],
)
def test_gaps_felt_and_following_from_answers(
    values: dict[str, object], gaps: tuple[str, ...], detected: tuple[str, ...]
) -> None:
    plan = build_plan(profile(**values), TODAY)
    assert (plan.gaps, plan.detected_gaps) == (gaps, detected)


# -- text ------------------------------------------------------------------------------------------
COMBINATIONS = list(
    itertools.product(
        ("student", "graduate"),
        (2010, 2024, 2029),
        ("limited", "moderate", "flexible", None),
        ("visitor", "authorized", "unsure", None),
        ("2026-12", "2027-09", "2029-09", "2025-01", None),
    )
)


@pytest.mark.parametrize(("status", "grad_year", "budget", "visa", "application"), COMBINATIONS)
def test_every_combination_renders_a_phone_sized_plan(
    status: str, grad_year: int, budget: str | None, visa: str | None, application: str | None
) -> None:
    p = profile(status=status, grad_year=grad_year, budget=budget, visa=visa, application=application)
    plan = build_plan(p, TODAY)
    messages = render_plan(plan, p, t)
    assert len(messages) == 2
    for message in messages:
        assert 0 < len(message) < 4096
        assert "{" not in message and "}" not in message
        parse_html(message)  # raises where Telegram would refuse the HTML
    text = to_plain("\n".join(messages))
    assert ("rule of thumb" in text) is plan.older_graduate
    assert ("VSLO" in text) is (status == "student")
    if application:
        assert "(passed)" in text if plan.timing == "past" else True
        assert ("has passed" in text) is (plan.timing == "past")


def test_a_students_plan_reads_well() -> None:
    p = profile(status="student", grad_year=2028, application="2028-09", budget="limited", us_letters=1,
                specialties=("Pediatrics",))
    text = to_plain("\n".join(render_plan(build_plan(p, TODAY), p, t)))
    assert "US electives" in text and "12–18 months" in text and "dean's letter" in text
    assert "residency in Pediatrics" in text
    assert "1–2 high-yield" in text
    assert "Hands-on USCE: 2–4 months · 1 month" in text
    assert "US letters: 2–3" in text
    assert "▶️ Mar 2026 – Aug 2026" not in text  # that window is ahead, not now
    assert "🔜 Mar 2027 – Aug 2027 · 12–18 months before" in text
    assert "Book your electives" in text  # a students-only task of the next window
    assert "Book externships" not in text


def test_a_late_graduate_with_a_past_date() -> None:
    p = profile(grad_year=2012, application="2026-09", visa="authorized", us_months=4, us_letters=2)
    text = to_plain("\n".join(render_plan(build_plan(p, TODAY), p, t)))
    assert "Graduation 14 years before applying" in text
    assert "more than 5 years" in text and "rule of thumb" in text
    assert "That month has passed" in text and "/profile" in text
    assert text.count("(passed)") == 3
    assert "open to you with work authorization" in text


def test_user_text_in_the_plan_is_escaped() -> None:
    p = profile(specialties=("<b>Rad</b> & Onc",))
    messages = render_plan(build_plan(p, TODAY), p, t)
    assert "&lt;b&gt;Rad&lt;/b&gt; &amp; Onc" in messages[0]
    assert "<b>Rad</b>" not in "".join(messages)


def test_plan_is_a_frozen_value() -> None:
    plan = build_plan(profile(), TODAY)
    assert isinstance(plan, Plan)
    with pytest.raises(AttributeError):
        plan.timing = "x"  # type: ignore[misc]
    assert build_plan(profile(), TODAY) == plan


def test_capacity_counts_done_and_future_months_and_says_so() -> None:
    p = profile(grad_year=2012, application="2028-09", months_available=0, us_months=12, us_letters=1)
    text = to_plain("\n".join(render_plan(build_plan(p, TODAY), p, t)))
    assert "With the 0 months" not in text
    assert "12 months in all (12 months done, 0 months still to give)" in text
    assert "about 12 months in the US, 1 US letter." in text  # singular for one


def test_one_month_reads_in_the_singular() -> None:
    p = profile(status="student", grad_year=2028, application="2028-09", months_available=1, us_months=1)
    text = to_plain("\n".join(render_plan(build_plan(p, TODAY), p, t)))
    assert "1 months" not in text
    assert "2 months in all (1 month done, 1 month still to give)" in text
