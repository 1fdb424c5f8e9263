"""Personas: a user described as data (a YAML file), for previews and tests.

A persona gives the date to plan from, the goal answers, the logged experiences and the
externships being vetted, in the words a user would use (``match: 2028``, ``weeks: 4``,
``visa: b1b2``). :func:`load_persona` reads and validates one file; :func:`Persona.profile`
and :func:`Persona.experience_rows` turn it into what the assistant stores, so a preview
shows exactly what that user would see. Nothing here touches storage or the engine.

The format::

    today: 2026-12-03
    profile:                     # any key may be missing
      status: graduate           # student | graduate
      school_year: 6
      graduation_year: 2016
      specialties: [Psychiatry]
      match: 2028                # or  apply: 2027-09
      months_available: 4
      budget: limited            # limited | moderate | flexible
      visa: b1b2                 # needs_visa | b1b2 | can_work | unsure
      us_months: 1
      us_letters: 0
      timezone: Asia/Kolkata
    experiences:
      - type: observership       # see EXPERIENCE_TYPES
        specialty: Psychiatry
        institution: Zucker Hillside Hospital
        start: 2024-06
        weeks: 4                 # or  end: 2024-07
        status: done             # done | ongoing | planned
        letter: none             # none | asked | promised | received
    programs:
      - name: Golden Gate Clinical Externship
        answers: {duties: no, guarantee: yes}   # yes | no | unsure, by checklist item id
    expect:                      # for tests: sentences a view must / must not contain
      plan: {must: [...], must_not: [...]}
      vet: {args: Golden Gate Clinical Externship, must: [...]}
    checks: [letter_late]        # for tests: exactly the warnings expected
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows.base.content import ContentError, load_yaml

# Experience kinds as a user names them -> the tracker's stored type.
EXPERIENCE_TYPES = {
    "elective": "elective",
    "clerkship": "elective",
    "subinternship": "subi",
    "subi": "subi",
    "externship": "externship",
    "observership": "observership",
    "shadowing": "observership",
    "research": "research",
    "scribe": "scribe",
    "telemedicine": "telemedicine",
    "volunteering": "volunteering",
}
# Visa answers as the persona format names them -> the profile's stored code.
VISA_CODES = {"needs_visa": "visitor", "b1b2": "b1b2", "can_work": "authorized", "unsure": "unsure"}
ANSWER_CODES = {"yes": "y", "no": "n", "unsure": "?"}
VIEWS = ("plan", "progress", "timeline", "vet", "ask")
WEEKS_PER_MONTH = 4.35  # 4 weeks = 1 month, 6 weeks = 2 calendar months, 12 weeks = 3
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def _month(value: object) -> str:
    """ "YYYY-MM" from "2024-06", "2024-6" or a YAML date."""
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}"
    match = _MONTH.fullmatch(str(value).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{value!r} is not a month like 2024-06")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def _index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonaProfile(_Strict):
    status: Literal["student", "graduate"] | None = None
    school_year: int | None = Field(default=None, ge=1, le=7)
    graduation_year: int | None = Field(default=None, ge=1950, le=2100)
    specialties: tuple[str, ...] = ()
    match: int | None = Field(default=None, ge=2000, le=2100)
    apply: str | None = None
    months_available: int | None = Field(default=None, ge=0, le=36)
    budget: Literal["limited", "moderate", "flexible"] | None = None
    visa: Literal["needs_visa", "b1b2", "can_work", "unsure"] | None = None
    us_months: int | None = Field(default=None, ge=0, le=120)
    us_letters: int | None = Field(default=None, ge=0, le=10)
    gaps: tuple[Literal["recent", "specialty", "letters", "first"], ...] = ()
    timezone: str | None = None

    @field_validator("apply", mode="before")
    @classmethod
    def _apply(cls, value: object) -> str | None:
        return None if value is None else _month(value)


class PersonaExperience(_Strict):
    type: str
    specialty: str = ""
    institution: str = "a US hospital"
    start: str
    end: str | None = None
    weeks: int | None = Field(default=None, ge=1, le=104)
    status: Literal["done", "ongoing", "planned"]
    letter: Literal["none", "asked", "promised", "received"] = "none"
    level: Literal["hands_on", "semi", "non"] | None = None
    setting: Literal["inpatient", "outpatient", "both"] | None = None
    teaching: bool | None = None
    letter_writer: str | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.strip().lower() not in EXPERIENCE_TYPES:
            raise ValueError(f"type must be one of {', '.join(EXPERIENCE_TYPES)}")
        return value.strip().lower()

    @field_validator("start", "end", mode="before")
    @classmethod
    def _months(cls, value: object) -> str | None:
        return None if value is None else _month(value)

    @model_validator(mode="after")
    def _length(self) -> PersonaExperience:
        if (self.end is None) == (self.weeks is None):
            raise ValueError("give either 'end' or 'weeks'")
        if self.end is not None and _index(self.end) < _index(self.start):
            raise ValueError("'end' is before 'start'")
        return self

    @property
    def end_month(self) -> str:
        if self.end is not None:
            return self.end
        months = max(1, math.ceil((self.weeks or 0) / WEEKS_PER_MONTH))
        last = _index(self.start) + months - 1
        return f"{last // 12:04d}-{last % 12 + 1:02d}"


class PersonaProgram(_Strict):
    name: str = Field(min_length=1, max_length=80)
    answers: dict[str, Literal["yes", "no", "unsure"]] = {}

    @field_validator("answers", mode="before")
    @classmethod
    def _answers(cls, value: object) -> object:
        # YAML reads a bare yes / no as true / false.
        if isinstance(value, dict):
            return {str(k): ({True: "yes", False: "no"}.get(v, v) if isinstance(v, bool) else v)
                    for k, v in value.items()}
        return value


class Expectation(_Strict):
    args: str = ""  # vet: the program's name; ask: the question
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()


class Persona(_Strict):
    today: date
    profile: PersonaProfile = PersonaProfile()
    experiences: tuple[PersonaExperience, ...] = ()
    programs: tuple[PersonaProgram, ...] = ()
    expect: dict[str, Expectation | list[Expectation]] = {}
    checks: tuple[str, ...] | None = None  # for tests: the warnings (flows.domain.checks keys) expected
    about: str = ""  # one line saying who this is

    @field_validator("expect")
    @classmethod
    def _views(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(VIEWS)
        if unknown:
            raise ValueError(f"expect: unknown view {sorted(unknown)[0]!r}; use {', '.join(VIEWS)}")
        return value

    def expectations(self, view: str) -> list[Expectation]:
        found = self.expect.get(view)
        if found is None:
            return []
        return list(found) if isinstance(found, list) else [found]

    def application(self, cycle_month: int = 9) -> str | None:
        """The application month: ``apply`` as given, else the cycle month before ``match``."""
        if self.profile.apply:
            return self.profile.apply
        if self.profile.match:
            return f"{self.profile.match - 1:04d}-{cycle_month:02d}"
        return None

    def profile_fields(self, cycle_month: int = 9) -> dict[str, Any]:
        """The answers as the profile stores them (only those given)."""
        p = self.profile
        fields: dict[str, Any] = {
            "status": p.status,
            "student_year": p.school_year,
            "grad_year": p.graduation_year,
            "specialties": p.specialties or None,
            "application": self.application(cycle_month),
            "months_available": p.months_available,
            "budget": p.budget,
            "visa": VISA_CODES[p.visa] if p.visa else None,
            "us_months": p.us_months,
            "us_letters": p.us_letters,
            "gaps": p.gaps or None,
            "timezone": p.timezone,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def experience_rows(self) -> list[dict[str, Any]]:
        """The experiences as /log stores them (level: the given one, else the type's)."""
        rows = []
        for exp in self.experiences:
            row: dict[str, Any] = {
                "type": EXPERIENCE_TYPES[exp.type],
                "specialty": exp.specialty,
                "institution": exp.institution,
                "start": exp.start,
                "end": exp.end_month,
                "status": exp.status,
                "letter": exp.letter,
                "letter_writer": exp.letter_writer,
                "setting": exp.setting,
                "teaching": None if exp.teaching is None else int(exp.teaching),
            }
            if exp.level:
                row["level"] = exp.level
            rows.append(row)
        return rows

    def program_answers(self, program: PersonaProgram) -> dict[str, str]:
        return {item: ANSWER_CODES[answer] for item, answer in program.answers.items()}


def parse_persona(data: object, path: Path | str = "persona") -> Persona:
    """A persona from parsed YAML; :class:`ContentError` names the file and the field."""
    try:
        return Persona.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ContentError(path, getattr(data, "line", None), f"{where}: {first['msg']}") from None


def load_persona(path: Path | str) -> Persona:
    """Read and check one persona file."""
    return parse_persona(load_yaml(Path(path)), path)
