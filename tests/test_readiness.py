"""Readiness is a pure function: experiences + profile + today -> lines and a next step."""

from __future__ import annotations

import itertools
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.base.content import CONTENT_DIR, ContentError, Texts, load_texts
from flows.domain.readiness import (
    MET,
    NOT_MET,
    PROJECTED,
    UNKNOWN,
    Readiness,
    assess,
    benchmarks,
    in_specialty,
    load_benchmarks,
    render,
)
from flows.storage.experiences import Experience
from flows.storage.profiles import Profile

TODAY = date(2026, 11, 25)
_ids = itertools.count(1)


def exp(
    start: str,
    end: str | None = None,
    *,
    level: str = "hands_on",
    status: str = "done",
    letter: str = "none",
    specialty: str = "Internal Medicine",
    kind: str = "elective",
    institution: str = "General Hospital",
) -> Experience:
    return Experience(
        id=next(_ids), user_id="u", type=kind, level=level, specialty=specialty,
        institution=institution, teaching=1, setting="both", start=start, end=end or start,
        status=status, letter=letter, letter_writer=None, created_at="", updated_at="",
    )


def profile(application: str | None = "2027-09", **kw: Any) -> Profile:
    values: dict[str, Any] = {"specialties": ("Internal Medicine",), "status": "graduate", **kw}
    return Profile(user_id="u", application=application, **values)


def check(experiences: list[Experience], prof: Profile | None = None, **kw: Any) -> Readiness:
    return assess(experiences, prof, TODAY, benchmarks(), **kw)


def figures(r: Readiness, key: str) -> tuple[str, int, int]:
    line = r.line(key)
    assert line is not None, key
    return line.verdict, line.now, line.projected


P = profile()


@pytest.mark.parametrize(
    ("name", "experiences", "prof", "key", "expected"),
    [
        # overlapping periods count once
        ("overlap, same level", [exp("2026-01", "2026-03"), exp("2026-02", "2026-04")], P, "hands_on",
         (MET, 4, 4)),
        ("overlap across levels", [exp("2026-01", "2026-03", level="non"), exp("2026-03")], P, "total",
         (MET, 3, 3)),
        ("overlap across levels, hands-on part", [exp("2026-01", "2026-03", level="non"), exp("2026-03")],
         P, "hands_on", (NOT_MET, 1, 1)),
        ("identical twice", [exp("2026-05", "2026-06"), exp("2026-05", "2026-06")], P, "total", (MET, 2, 2)),
        # planned experiences are projected, never counted as done
        ("planned only", [exp("2027-01", "2027-02", status="planned")], P, "hands_on", (PROJECTED, 0, 2)),
        ("done + planned", [exp("2026-01"), exp("2027-02", "2027-03", status="planned")], P, "hands_on",
         (PROJECTED, 1, 3)),
        ("planned too short", [exp("2027-02", status="planned")], P, "hands_on", (NOT_MET, 0, 1)),
        ("ongoing counts up to this month", [exp("2026-10", "2027-01", status="ongoing")], P, "hands_on",
         (MET, 2, 4)),
        ("ongoing not started yet", [exp("2026-12", "2027-01", status="ongoing")], P, "total",
         (PROJECTED, 0, 2)),
        # months in or after the application month do not count
        ("after application", [exp("2027-08", "2027-10", status="planned")], P, "total",
         (PROJECTED, 0, 1)),
        # recency: the 3 years before the application month (2024-09 .. 2027-08)
        ("recency: first month of the window", [exp("2024-09")], P, "recent", (MET, 1, 1)),
        ("recency: a month too early", [exp("2024-08")], P, "recent", (NOT_MET, 0, 0)),
        ("recency: straddling the edge", [exp("2024-07", "2024-10")], P, "recent", (MET, 2, 2)),
        ("recency: last month before applying", [exp("2027-08", status="planned")], P, "recent",
         (PROJECTED, 0, 1)),
        ("recency gap raises the target", [exp("2026-01")], profile(gaps=("recent",)), "recent",
         (NOT_MET, 1, 1)),
        # specialty months, tolerant of case and wording
        ("specialty match", [exp("2026-01", specialty="internal medicine")], P, "specialty", (MET, 1, 1)),
        ("specialty wording", [exp("2026-01", specialty="Internal Medicine (inpatient)")], P, "specialty",
         (MET, 1, 1)),
        ("other specialty", [exp("2026-01", specialty="Surgery")], P, "specialty", (NOT_MET, 0, 0)),
        # letters: received, pending
        ("letter received", [exp("2026-01", letter="received")], P, "letters", (MET, 1, 1)),
        ("letter pending", [exp("2026-01", letter="promised")], P, "letters", (PROJECTED, 0, 1)),
        ("no letter", [exp("2026-01")], P, "letters", (NOT_MET, 0, 0)),
        # observership-only profiles have their own target (2-3 months)
        ("observership-only, short", [exp("2026-01", level="non", kind="observership")], P, "observership",
         (NOT_MET, 1, 1)),
        ("observership-only, enough", [exp("2026-01", "2026-02", level="non", kind="observership")], P,
         "observership", (MET, 2, 2)),
        # no profile yet: totals work, the rest can't be judged
        ("no profile: totals", [exp("2026-01", "2026-02")], None, "total", (MET, 2, 2)),
        ("no profile: specialty", [exp("2026-01")], None, "specialty", (UNKNOWN, 0, 0)),
        ("no profile: recency", [exp("2026-01")], None, "recent", (UNKNOWN, 0, 0)),
        ("no application date: recency", [exp("2026-01")], profile(None), "recent", (UNKNOWN, 0, 0)),
        ("no profile: planned after any date still projected", [exp("2030-01", status="planned")], None,
         "total", (PROJECTED, 0, 1)),
    ],
)
def test_lines(
    name: str, experiences: list[Experience], prof: Profile | None, key: str, expected: tuple[str, int, int]
) -> None:
    assert figures(check(experiences, prof), key) == expected


def test_observership_line_only_for_observership_only_profiles() -> None:
    assert check([exp("2026-01", level="non")], P).line("observership") is not None
    assert check([exp("2026-01", level="non"), exp("2026-02", level="semi")], P).line("observership") is None
    assert check([], P).line("observership") is None


def test_older_graduate_raises_the_recency_target() -> None:
    r = check([exp("2026-01")], P, older_graduate=True)
    assert figures(r, "recent") == (NOT_MET, 1, 1) and r.catch_up


def test_months_after_the_application_are_reported() -> None:
    r = check([exp("2027-07", "2027-10", status="planned")], P)
    assert r.after_application == 2  # Sep and Oct 2027; Jul and Aug count
    assert figures(r, "total") == (PROJECTED, 0, 2)


def test_profile_mentions_more_than_logged() -> None:
    r = check([exp("2026-01")], profile(us_months=3, us_letters=2))
    assert (r.unlogged_months, r.unlogged_letters) == (2, 2)


GOOD = [
    exp("2026-01", "2026-02", letter="received"),
    exp("2026-03", letter="received"),
]


@pytest.mark.parametrize(
    ("name", "experiences", "prof", "step"),
    [
        ("nothing logged", [], P, "first"),
        ("nothing logged, but mentioned", [], profile(us_months=2), "first_logged"),
        ("no profile", [exp("2026-01")], None, "goals"),
        ("no application date", [exp("2026-01")], profile(None), "goals"),
        ("only after applying", [exp("2027-10", status="planned")], P, "total"),
        ("needs a letter, has a done rotation", [exp("2026-01", institution="Mercy")], P, "letter_ask"),
        ("needs a letter, nothing started", [exp("2027-01", "2027-03", status="planned")], P, "letter_plan"),
        ("graduate short of hands-on", [exp("2026-01", letter="received")], P, "hands_on_graduate"),
        ("student short of hands-on", [exp("2026-01", letter="received")], profile(status="student"),
         "hands_on_student"),
        ("observer short of months", [exp("2026-01", level="non", letter="received")], P, "observership"),
        ("observer with enough months", [exp("2026-01", "2026-02", level="non", letter="received")], P,
         "add_hands_on"),
        ("no specialty months", [exp("2026-01", "2026-02", specialty="Surgery", letter="received")], P,
         "specialty"),
        ("not recent", [exp("2023-01", "2023-02", letter="received")], P, "recent"),
        ("plans would close the gaps",
         [exp("2026-01", letter="received"), exp("2027-01", status="planned")], P, "on_track"),
        ("second letter on its way", [GOOD[0], exp("2026-03", letter="asked")], P, "letter_follow"),
        ("one letter, nothing pending", GOOD[:1], P, "letters_ideal"),
        ("one letter, a done rotation without", [GOOD[0], exp("2026-05")], P, "letter_ask"),
        ("everything met", GOOD, P, "all_met"),
        ("no specialty in the profile", GOOD, profile(specialties=()), "goals"),
    ],
)
def test_next_step(name: str, experiences: list[Experience], prof: Profile | None, step: str) -> None:
    assert check(experiences, prof).next_step.key == step


def test_next_step_names_the_institution_to_ask() -> None:
    r = check([exp("2026-01", institution="Old"), exp("2026-04", institution="Mercy <b>")], P)
    assert (r.next_step.key, r.next_step.institution) == ("letter_ask", "Mercy <b>")


def test_in_specialty() -> None:
    e = exp("2026-01", specialty="Pediatrics")
    assert in_specialty(e, ["pediatrics"])
    assert not in_specialty(e, ["Internal Medicine"])
    assert not in_specialty(exp("2026-01", specialty=""), ["Pediatrics"])
    assert not in_specialty(e, [""])


# -- the message --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Texts:
    folder = tmp_path_factory.mktemp("texts")
    shutil.copy(CONTENT_DIR / "texts" / "tracker.yaml", folder)
    return load_texts(folder)


def test_render_shows_numbers_marks_and_next_step(texts: Texts) -> None:
    r = check([exp("2026-01", letter="received"), exp("2027-01", "2027-02", status="planned")], P)
    text = render(r, texts.fmt)
    assert "✅ <b>Total</b>: 1 month → 3 with planned" in text
    assert "🔜 <b>Hands-on</b>: 1 month → 3 with planned" in text
    assert "Sep 2027" in text
    assert "1 received, 0 pending" in text
    assert "Next step:" in text and texts["tracker.next.on_track"] in text


def test_render_without_profile_says_what_it_cannot_judge(texts: Texts) -> None:
    text = render(check([exp("2026-01")], None), texts.fmt)
    assert "don't know when you apply" in text
    assert "❔ <b>Recent</b>" in text and "❔ <b>In your specialty</b>" in text
    assert texts["tracker.next.goals"] in text


def test_render_escapes_what_the_user_typed(texts: Texts) -> None:
    r = check([exp("2026-01", institution="<script>&")], profile(specialties=("Peds <i>",)))
    text = render(r, texts.fmt)
    assert "&lt;script&gt;&amp;" in text and "Peds &lt;i&gt;" in text and "<script>" not in text


def test_every_next_step_has_a_text(texts: Texts) -> None:
    import flows.domain.readiness as module

    source = Path(module.__file__).read_text()
    for key in ("first", "first_logged", "goals", "total", "letter_ask", "letter_plan", "letter_follow",
                "hands_on", "hands_on_student", "hands_on_graduate", "observership", "add_hands_on",
                "specialty", "recent", "on_track", "letters_ideal", "all_met"):
        assert f"tracker.next.{key}" in texts
        assert f'"{key}"' in source


def test_benchmarks_carry_the_guides_figures() -> None:
    b = benchmarks()
    assert (b.total.min, str(b.hands_on), str(b.specialty), b.recency_years) == (1, "2–4", "1–2", 3)
    assert (b.letters.min, str(b.letters_ideal), str(b.observership_only)) == (1, "2–3", "2–3")
    assert b.levels["externship"] == "hands_on" and b.levels["scribe"] == "semi"
    assert b.levels["observership"] == "non"


def test_a_broken_benchmarks_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "benchmarks.yaml"
    text = (CONTENT_DIR / "benchmarks.yaml").read_text()
    bad.write_text(text.replace("hands_on_months: {min: 2, max: 4}", "hands_on_months: {min: 4, max: 2}"))
    with pytest.raises(ContentError, match=r"benchmarks.yaml:\d+: 'hands_on_months'"):
        load_benchmarks(bad)
    bad.write_text(text.replace("scribe: semi", "scribe: lots"))
    with pytest.raises(ContentError, match="scribe"):
        load_benchmarks(bad)


def test_an_observership_marked_hands_on_still_counts_as_observing() -> None:
    observing = [exp("2026-01", "2026-03", kind="observership", level="hands_on")]
    r = check(observing, profile())
    assert figures(r, "hands_on")[1] == 0  # not counted as hands-on
    assert r.line("observership") is not None  # judged against the observership-only target
    externship = [exp("2026-01", "2026-03", kind="externship", level="non")]
    assert figures(check(externship, profile()), "hands_on")[1] == 0  # lowering is always allowed


@pytest.mark.parametrize(
    ("letter", "verdict"),
    [("received", "met"), ("promised", "projected"), ("asked", "not_met"), ("none", "not_met")],
)
def test_only_a_promised_letter_counts_as_on_its_way(letter: str, verdict: str) -> None:
    r = check([exp("2026-01", "2026-02", letter=letter)], profile())
    line = r.line("letters")
    assert line is not None and line.verdict == verdict
