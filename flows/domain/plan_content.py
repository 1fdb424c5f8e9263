"""The plan's content: ``content/plan.yaml`` (answer ranges, specialties, typed words, time
zones) and ``content/milestones.yaml`` (the timeline windows), each checked by its pydantic
model when loaded and read into the frozen values :mod:`flows.domain.plan` and the goal
questions use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, RootModel, field_validator, model_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Int, Text, between, read, rule

PLAN_FILE = CONTENT_DIR / "plan.yaml"
MILESTONES_FILE = CONTENT_DIR / "milestones.yaml"

GAPS = ("recent", "specialty", "letters", "first")
BUDGETS = ("limited", "moderate", "flexible")
VISAS = ("visitor", "b1b2", "authorized", "unsure")  # needs a visa | holds B1/B2 | can work | unsure
ALIAS_STATES = {
    "status": ("student", "graduate"),
    "budget": BUDGETS,
    "visa": VISAS,
    "us_experience": ("none", "some"),
    "gaps": GAPS,
}


# -- the values the code reads ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    """An inclusive range of whole numbers, shown as "2–4"."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}–{self.high}" if self.low != self.high else str(self.low)


@dataclass(frozen=True, slots=True)
class Specialty:
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZoneButton:
    zone: str
    label: str


@dataclass(frozen=True, slots=True)
class Rules:
    cycle_month: int
    cycles_offered: int
    close_months: int
    max_years_ahead: int
    student_year: Span
    years_to_graduation: int
    years_since_graduation: int
    months_available: Span
    us_months: Span
    us_letters: Span
    specialty_length: int
    specialties: tuple[Specialty, ...]
    aliases: Mapping[str, Mapping[str, tuple[str, ...]]]  # state -> code -> typed words
    zone_buttons: tuple[ZoneButton, ...]
    places: Mapping[str, str]  # typed place (lower case) -> IANA zone
    part_hour_offsets: Mapping[str, str]  # "+5:30" -> IANA zone


@dataclass(frozen=True, slots=True)
class Milestone:
    """A timeline window, counted back in months from the application month."""

    id: str
    months_before_start: int
    months_before_end: int
    title: str
    tasks: tuple[str, ...]
    students_only_tasks: tuple[str, ...] = ()
    graduates_only_tasks: tuple[str, ...] = ()

    def tasks_for(self, student: bool | None) -> tuple[str, ...]:
        """The window's tasks for a student (True), a graduate (False) or anyone (None)."""
        if student is None:
            return self.tasks
        return self.tasks + (self.students_only_tasks if student else self.graduates_only_tasks)


# -- plan.yaml --------------------------------------------------------------------------------------
def _low_high(value: tuple[int, int]) -> tuple[int, int]:
    if value[0] > value[1]:
        raise ValueError("must be [low, high]")
    return value


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise rule(f"unknown time zone {name!r}") from None
    return name


SpanField = Annotated[tuple[Int, Int], AfterValidator(_low_high)]
Zone = Annotated[Text, AfterValidator(_zone)]
Words = tuple[Text, ...]


class _Application(ContentModel):
    cycle_month: Annotated[Int, between(1, 12)]
    cycles_offered: Annotated[Int, between(1, 6)]
    close_months: Annotated[Int, between(0, 36)]
    max_years_ahead: Annotated[Int, between(1, 20)]


class _Ranges(ContentModel):
    student_year: SpanField
    years_to_graduation: Annotated[Int, between(1, 15)]
    years_since_graduation: Annotated[Int, between(1, 80)]
    months_available: SpanField
    us_months: SpanField
    us_letters: SpanField
    specialty_length: Annotated[Int, between(10, 200)]


class _Specialty(ContentModel):
    name: Text
    aliases: Words = ()


class _ZoneButton(ContentModel):
    zone: Zone
    label: Text


class _Timezones(ContentModel):
    buttons: tuple[_ZoneButton, ...]
    places: dict[str, Zone]
    part_hour_offsets: dict[str, Zone]


class PlanFile(ContentModel):
    """``content/plan.yaml``."""

    application: _Application
    ranges: _Ranges
    specialties: tuple[_Specialty, ...]
    aliases: dict[str, dict[str, Words]]  # state -> answer code -> typed words
    timezones: _Timezones

    @field_validator("aliases")
    @classmethod
    def _known_answers(cls, aliases: dict[str, dict[str, Words]]) -> dict[str, dict[str, Words]]:
        extra = sorted(aliases.keys() - ALIAS_STATES.keys())
        if extra:
            raise rule(f"unknown question {extra[0]!r}: words are for {', '.join(ALIAS_STATES)}", extra[0])
        for state, codes in ALIAS_STATES.items():
            if state not in aliases:
                raise rule(f"missing '{state}'")
            unknown = sorted(set(aliases[state]) - set(codes))
            if unknown:
                raise rule(f"unknown answer {unknown[0]!r} for {state}", state, unknown[0])
        return aliases

    def rules(self) -> Rules:
        app, ranges = self.application, self.ranges
        return Rules(
            cycle_month=app.cycle_month,
            cycles_offered=app.cycles_offered,
            close_months=app.close_months,
            max_years_ahead=app.max_years_ahead,
            student_year=Span(*ranges.student_year),
            years_to_graduation=ranges.years_to_graduation,
            years_since_graduation=ranges.years_since_graduation,
            months_available=Span(*ranges.months_available),
            us_months=Span(*ranges.us_months),
            us_letters=Span(*ranges.us_letters),
            specialty_length=ranges.specialty_length,
            specialties=tuple(
                Specialty(s.name.strip(), tuple(a.strip().lower() for a in s.aliases)) for s in self.specialties
            ),
            aliases=MappingProxyType({
                state: MappingProxyType({
                    code: tuple(w.strip().lower() for w in self.aliases[state].get(code, ())) for code in codes
                })
                for state, codes in ALIAS_STATES.items()
            }),
            zone_buttons=tuple(ZoneButton(b.zone, b.label) for b in self.timezones.buttons),
            places=MappingProxyType({k.lower(): v for k, v in self.timezones.places.items()}),
            part_hour_offsets=MappingProxyType(dict(self.timezones.part_hour_offsets)),
        )


def parse_rules(path: Path) -> Rules:
    return read(path, PlanFile).rules()


# -- milestones.yaml ----------------------------------------------------------------------------------
class _Milestone(ContentModel):
    id: Text
    months_before: tuple[Int, Int]
    title: Text
    tasks: Words
    students_only_tasks: Words = ()
    graduates_only_tasks: Words = ()

    @field_validator("months_before")
    @classmethod
    def _window(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] <= value[1]:
            raise rule("'months_before' must be [start, end] with start > end")
        return value

    def milestone(self) -> Milestone:
        def strip(texts: Words) -> tuple[str, ...]:
            return tuple(t.strip() for t in texts)

        return Milestone(
            id=self.id,
            months_before_start=self.months_before[0],
            months_before_end=self.months_before[1],
            title=self.title.strip(),
            tasks=strip(self.tasks),
            students_only_tasks=strip(self.students_only_tasks),
            graduates_only_tasks=strip(self.graduates_only_tasks),
        )


class MilestonesFile(RootModel[tuple[_Milestone, ...]]):
    """``content/milestones.yaml``: the windows from earliest to latest."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _in_order(self) -> MilestonesFile:
        if not self.root:
            raise rule("expected a list of milestones")
        for n, (before, this) in enumerate(zip(self.root, self.root[1:], strict=False), 1):
            if any(m.id == this.id for m in self.root[:n]):
                raise rule(f"duplicate milestone id {this.id!r}", n)
            if this.months_before[0] > before.months_before[0]:
                raise rule("milestones must run from earliest to latest", n)
        return self


def parse_milestones(path: Path) -> tuple[Milestone, ...]:
    return tuple(m.milestone() for m in read(path, MilestonesFile).root)


RULES = ContentFile(PLAN_FILE.name, parse_rules)
MILESTONES = ContentFile(MILESTONES_FILE.name, parse_milestones)


def load_rules() -> Rules:
    """The rules of ``content/plan.yaml``, as loaded at start."""
    return RULES.value()


def load_milestones() -> tuple[Milestone, ...]:
    """The windows of ``content/milestones.yaml``, as loaded at start."""
    return MILESTONES.value()
