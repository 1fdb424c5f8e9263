"""Persona files: the format previews and tests describe users in."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.base.content import ContentError
from flows.domain.persona import load_persona, parse_persona

PERSONAS = Path(__file__).parent / "personas"


def test_a_persona_file_reads_as_the_assistant_stores_it() -> None:
    persona = load_persona(PERSONAS / "psychiatry_b1b2_older.yaml")
    assert persona.today.isoformat() == "2026-12-03"
    fields = persona.profile_fields()
    assert fields["application"] == "2027-09"  # Match 2028: applying the September before
    assert fields["visa"] == "b1b2" and fields["grad_year"] == 2016
    (row,) = persona.experience_rows()
    assert (row["type"], row["start"], row["end"]) == ("observership", "2024-06", "2024-06")  # 4 weeks


def test_weeks_become_calendar_months_and_words_become_codes() -> None:
    persona = parse_persona({
        "today": "2026-01-10",
        "profile": {"apply": "2027-9", "visa": "can_work"},
        "experiences": [
            {"type": "shadowing", "start": "2025-01", "weeks": 6, "status": "done"},
            {"type": "subinternship", "start": "2025-03", "end": "2025-05", "status": "done"},
        ],
        "programs": [{"name": "X", "answers": {"duties": False, "guarantee": True, "fee": "unsure"}}],
    })
    assert persona.profile_fields()["application"] == "2027-09"
    assert persona.profile_fields()["visa"] == "authorized"
    first, second = persona.experience_rows()
    assert (first["type"], first["end"]) == ("observership", "2025-02")
    assert (second["type"], second["end"]) == ("subi", "2025-05")
    assert persona.program_answers(persona.programs[0]) == {"duties": "n", "guarantee": "y", "fee": "?"}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"profile": {}}, "today"),
        ({"today": "2026-01-01", "profile": {"visa": "h1b"}}, "profile.visa"),
        ({"today": "2026-01-01", "experiences": [{"type": "rotation", "start": "2025-01", "weeks": 4,
                                                 "status": "done"}]}, "type must be one of"),
        ({"today": "2026-01-01", "experiences": [{"type": "elective", "start": "2025-01", "status": "done"}]},
         "either 'end' or 'weeks'"),
        ({"today": "2026-01-01", "expect": {"menu": {}}}, "unknown view"),
    ],
)
def test_a_mistake_names_the_field(data: dict[str, object], words: str) -> None:
    with pytest.raises(ContentError, match=words):
        parse_persona(data, "p.yaml")
