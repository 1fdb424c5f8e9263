"""Personas as data: each file in tests/personas/ says what that user must and must not see,
and ``usce-coach preview`` shows it through the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.preview import PreviewError, preview
from flows.domain.persona import VIEWS, Persona, load_persona

FOLDER = Path(__file__).parent / "personas"
FILES = sorted(FOLDER.glob("*.yaml"))


def cases() -> list[tuple[str, str, int]]:
    found = []
    for path in FILES:
        persona = load_persona(path)
        for view in VIEWS:
            for n, _ in enumerate(persona.expectations(view)):
                found.append((path.name, view, n))
    return found


@pytest.mark.parametrize(("name", "view", "n"), cases())
def test_persona_sees_what_it_must(name: str, view: str, n: int, tmp_path: Path) -> None:
    persona: Persona = load_persona(FOLDER / name)
    expected = persona.expectations(view)[n]
    shown = preview(persona, view, expected.args, tmp_path)
    for sentence in expected.must:
        assert sentence in shown.text, f"{name} {view}: missing {sentence!r}"
    for sentence in expected.must_not:
        assert sentence not in shown.text, f"{name} {view}: should not say {sentence!r}"


def test_every_persona_file_has_expectations() -> None:
    assert len(FILES) >= 8
    for path in FILES:
        persona = load_persona(path)
        assert persona.expect and persona.checks is not None, path.name


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_check_fires_where_it_should_and_nowhere_else(path: Path, tmp_path: Path) -> None:
    persona = load_persona(path)
    shown = preview(persona, "progress", out_dir=tmp_path)
    assert shown.warning_keys == list(persona.checks or ()), path.name
    plan = preview(persona, "plan", out_dir=tmp_path).text
    for warning in shown.warnings:  # /plan and /progress agree
        assert warning in plan and warning in shown.text


def test_the_personas_cover_the_cases() -> None:
    personas = [load_persona(p) for p in FILES]
    profiles = [p.profile for p in personas]
    assert {p.status for p in profiles} >= {"student", "graduate"}
    assert {p.visa for p in profiles} >= {"needs_visa", "b1b2", "can_work", "unsure"}
    assert {p.budget for p in profiles} >= {"limited", "flexible"}
    assert any(not p.experiences for p in personas) and any(len(p.experiences) >= 5 for p in personas)
    assert any(p.programs for p in personas)
    assert {k for p in personas for k in (p.checks or ())} >= {
        "graduation_after_match", "lead_electives", "lead_usce", "lead_letters", "months_over_available",
        "available_over_time", "letter_late", "older_no_recent", "done_ahead", "letter_ahead", "planned_past"}


def test_preview_prints_text_or_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    persona = str(FOLDER / "psychiatry_b1b2_older.yaml")
    assert main(["preview", "--persona", persona, "progress"]) == 0
    text = capsys.readouterr().out
    assert "Any USCE" in text and "<b>" not in text
    assert main(["preview", "--persona", persona, "--json", "plan"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "Your USCE plan" in data["text"]
    assert any("Zucker Hillside Hospital ended in Jun 2024" in w for w in data["warnings"])
    assert main(["preview", "--persona", persona, "--out", str(tmp_path), "timeline"]) == 0
    out = capsys.readouterr().out
    picture = tmp_path / "timeline.png"
    assert str(picture) in out and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_explains_what_it_cannot_show(capsys: pytest.CaptureFixture[str]) -> None:
    persona = str(FOLDER / "psychiatry_b1b2_older.yaml")
    assert main(["preview", "--persona", persona, "vet", "Nowhere"]) == 2
    assert "no program called 'Nowhere'" in capsys.readouterr().err
    with pytest.raises(PreviewError):
        preview(load_persona(persona), "ask", "  ")
