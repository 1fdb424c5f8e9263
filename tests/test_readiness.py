"""The one readiness model: experiences + profile + today -> benchmark lines and a next step."""

from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.base.content import CONTENT_DIR, ContentError, texts
from flows.domain.readiness import (
    DONE,
    MET,
    NOT_MET,
    ONGOING,
    PLANNED,
    PROJECTED,
    UNKNOWN,
    Readiness,
    assess,
    benchmarks,
    canonical_specialty,
    in_specialty,
    load_benchmarks,
    render,
    school_stage,
)
from flows.storage.experiences import Experience
from flows.storage.profiles import Profile

TODAY = date(2026, 11, 25)
_ids = itertools.count(1)


def exp(start: str, end: str | None = None, *, level: str | None = None, status: str = "done",
        letter: str = "none", specialty: str = "Internal Medicine", kind: str = "elective",
        institution: str = "General Hospital") -> Experience:
    return Experience(
        id=next(_ids), user_id="u", type=kind, level=level or benchmarks().levels[kind], specialty=specialty,
        institution=institution, teaching=1, setting="both", start=start, end=end or start,
        status=status, letter=letter, letter_writer=None, created_at="", updated_at="",
    )


def profile(application: str | None = "2027-09", **kw: Any) -> Profile:
    values: dict[str, Any] = {"specialties": ("Internal Medicine",), "status": "graduate", **kw}
    return Profile(user_id="u", application=application, **values)


P = profile()


def check(experiences: list[Experience], prof: Profile | None = P, today: date = TODAY) -> Readiness:
    return assess(experiences, prof, today, benchmarks())


def figures(r: Readiness, key: str) -> tuple[str, int, int]:
    line = r.line(key)
    assert line is not None, key
    return line.verdict, line.now, line.planned


def t(key: str, **values: object) -> str:
    return texts().fmt(key, **values) if values else texts()[key]


# -- counting by kind and level ---------------------------------------------------------------
def test_the_guides_hierarchy_decides_hands_on() -> None:
    r = check([exp("2026-01", "2026-02", kind="elective"), exp("2026-03", kind="observership"),
               exp("2026-04", kind="scribe")])
    assert figures(r, "usce") == (MET, 4, 0)
    assert figures(r, "hands_on") == (MET, 2, 0)  # only the elective


def test_a_level_can_be_lowered_but_never_raised() -> None:
    observing = check([exp("2026-01", "2026-03", kind="observership", level="hands_on")])
    assert figures(observing, "hands_on")[1] == 0
    assert observing.observership_primary and observing.line("observership") is not None
    lowered = check([exp("2026-01", "2026-03", kind="externship", level="non")])
    assert figures(lowered, "hands_on")[1] == 0


def test_research_is_its_own_line_and_not_usce() -> None:
    r = check([exp("2026-01", "2026-06", kind="research")])
    assert figures(r, "usce") == (NOT_MET, 0, 0)
    assert r.line("research") is not None and r.line("research").now == 6  # type: ignore[union-attr]
    assert "semi-hands-on; programs may not count it as USCE" in render(r, t)


def test_overlapping_months_count_once() -> None:
    r = check([exp("2026-01", "2026-03"), exp("2026-02", "2026-04")])
    assert figures(r, "hands_on") == (MET, 4, 0)


# -- counting by dates ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "logged", "status", "issues"),
    [
        ("2027-02", "2027-03", "done", PLANNED, ("done_ahead",)),  # cannot be done yet
        ("2026-11", "2026-12", "done", ONGOING, ("done_ahead",)),
        ("2026-05", "2026-06", "planned", DONE, ("planned_past",)),
        ("2026-05", "2026-06", "ongoing", DONE, ()),
        ("2027-02", "2027-03", "planned", PLANNED, ()),
    ],
)
def test_status_follows_the_dates(start: str, end: str, logged: str, status: str, issues: tuple[str, ...]) -> None:
    (c,) = check([exp(start, end, status=logged)]).counted
    assert (c.status, c.issues) == (status, issues)


def test_a_future_rotation_brings_no_received_letter() -> None:
    r = check([exp("2027-02", "2027-03", status="done", letter="received")])
    assert figures(r, "letters") == (PROJECTED, 0, 1)
    assert "letter_ahead" in r.counted[0].issues
    assert figures(r, "usce") == (PROJECTED, 0, 2)  # planned, not secured


def test_an_ongoing_rotation_counts_up_to_this_month() -> None:
    assert figures(check([exp("2026-10", "2027-01", status="ongoing")]), "hands_on") == (MET, 2, 2)


def test_months_from_the_application_on_are_left_out() -> None:
    r = check([exp("2027-07", "2027-10", status="planned")])
    assert r.after_application == 2  # Sep and Oct 2027
    assert figures(r, "usce") == (PROJECTED, 0, 2)


# -- recency and specialty --------------------------------------------------------------------
def test_recent_means_the_three_years_before_applying() -> None:
    r = check([exp("2024-08", "2024-09")])  # Aug 2024 is outside Sep 2024 - Aug 2027
    assert figures(r, "hands_on") == (NOT_MET, 1, 0)
    assert figures(r, "usce") == (MET, 2, 0)
    text = render(r, t)
    assert "recent</b> means Sep 2024 – Aug 2027, the 3 years before applying" in text
    assert "Apply Sep 2027 → Match 2028" in text


def test_without_an_application_date_it_says_what_recent_means() -> None:
    text = render(check([exp("2026-01")], profile(None)), t)
    assert "I don't know when you apply yet" in text and "last 3 years" in text


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("family med", "Family medicine"), ("FM", "Family medicine"), ("Family Medicine", "Family medicine"),
     ("psych", "Psychiatry"), ("internal medicine ward", "Internal medicine"), ("IM", "Internal medicine"),
     ("family medicine maybe", "Family medicine"), ("Dermatology", "dermatology")],
)
def test_specialty_names_are_normalised(typed: str, canonical: str) -> None:
    assert canonical_specialty(typed) == canonical


def test_specialty_months_match_normalised_names() -> None:
    r = check([exp("2026-01", specialty="family med")], profile(specialties=("Family medicine",)))
    assert figures(r, "specialty") == (MET, 1, 0)
    assert not in_specialty(exp("2026-01", specialty="Pediatrics"), ["Internal Medicine"])
    assert not in_specialty(exp("2026-01", specialty=""), [""])
    assert figures(check([exp("2026-01")], profile(specialties=())), "specialty")[0] == UNKNOWN


def test_an_older_graduation_adds_the_recent_months_benchmark() -> None:
    assert check([exp("2026-01")], profile(grad_year=2016)).line("recent") is not None
    assert check([exp("2026-01")], profile(grad_year=2023)).line("recent") is None
    text = render(check([], profile(grad_year=2016)), t)
    assert "Recent, after an older graduation</b>: 0 months — aim for at least 2–3" in text


def test_each_benchmark_is_shown_once_with_secured_and_planned() -> None:
    r = check([exp("2026-01", letter="received"), exp("2027-01", "2027-02", status="planned")])
    text = render(r, t)
    assert "Hands-on, recent</b>: 1 month secured + 2 months planned — competitive IMGs often show 2–4" in text
    assert "1 received, 0 on the way" in text and "confirmed by Mar 2027 (6 months before applying)" in text
    for key in ("Any USCE", "Hands-on, recent", "US letters"):
        assert text.count(key) == 1


def test_only_a_promised_letter_counts_as_on_its_way() -> None:
    for letter, verdict in (("received", MET), ("promised", PROJECTED), ("asked", NOT_MET), ("none", NOT_MET)):
        assert figures(check([exp("2026-01", "2026-02", letter=letter)]), "letters")[0] == verdict


# -- next step --------------------------------------------------------------------------------
GOOD = [exp("2026-01", "2026-02", letter="received"), exp("2026-09", letter="received")]


@pytest.mark.parametrize(
    ("experiences", "prof", "step"),
    [
        ([], P, "first"),
        ([], profile(us_months=2), "first_logged"),
        ([exp("2026-01")], None, "goals"),
        ([exp("2027-10", status="planned")], P, "usce"),
        ([exp("2026-10", institution="Mercy")], P, "letter_ask"),
        ([exp("2025-01", institution="Mercy")], P, "letter_plan"),  # ended long ago: the checks warn
        ([exp("2026-01", letter="received")], P, "hands_on_graduate"),
        ([exp("2026-01", letter="received")], profile(status="student"), "hands_on_student"),
        ([exp("2026-01", kind="observership", letter="received")], P, "observership"),
        ([exp("2026-01", "2026-02", specialty="Surgery", letter="received")], P, "specialty"),
        ([exp("2026-01", letter="received"), exp("2027-01", status="planned")], P, "on_track"),
        ([GOOD[0], exp("2026-09", letter="asked")], P, "letter_follow"),
        (GOOD[:1], P, "letters_ideal"),
        (GOOD, P, "all_met"),
    ],
)
def test_next_step(experiences: list[Experience], prof: Profile | None, step: str) -> None:
    r = check(experiences, prof)
    assert r.next_step.key == step
    assert f"readiness.step.{step}" in texts()


def test_render_escapes_what_the_user_typed() -> None:
    text = render(check([exp("2026-10", institution="<script>&")], profile(specialties=("Derm <i>",))), t)
    assert "&lt;script&gt;&amp;" in text and "Derm &lt;i&gt;" in text and "<script>" not in text


def test_final_year_wording() -> None:
    assert school_stage(profile(status="student", grad_year=2027), TODAY) == "final"
    assert school_stage(profile(status="student", grad_year=2029), TODAY) is None
    assert school_stage(profile(grad_year=2027), TODAY) is None


# -- content ----------------------------------------------------------------------------------
def test_benchmarks_carry_the_guides_figures() -> None:
    b = benchmarks()
    assert (b.total.min, str(b.hands_on), str(b.specialty), b.recency_years) == (1, "2–4", "1–2", 3)
    assert (b.letters.min, str(b.letters_ideal), str(b.observership_only), str(b.recent_catch_up)) == \
        (1, "2–3", "2–3", "2–3")
    assert (str(b.lead_electives), str(b.lead_secure), str(b.lead_letters)) == ("12–18", "12–18", "6–12")
    assert b.not_usce == {"research"} and b.levels["scribe"] == "semi" and b.levels["observership"] == "non"


def test_a_broken_benchmarks_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "benchmarks.yaml"
    text = (CONTENT_DIR / "benchmarks.yaml").read_text()
    bad.write_text(text.replace("hands_on_months: {min: 2, max: 4}", "hands_on_months: {min: 4, max: 2}"))
    with pytest.raises(ContentError, match=r"benchmarks.yaml:\d+: 'hands_on_months'"):
        load_benchmarks(bad)
    bad.write_text(text.replace("scribe: semi", "scribe: lots"))
    with pytest.raises(ContentError, match="scribe"):
        load_benchmarks(bad)


def test_every_readiness_text_key_used_exists() -> None:
    source = (Path(__file__).parent.parent / "flows" / "domain" / "readiness.py").read_text()
    for key in re.findall(r'"(readiness\.[a-z_.]+)"', source):
        assert key in texts(), key
