"""The records the rules reason about: a user's profile and their tracked experiences, as
plain frozen values with the month arithmetic they need. Storage reads and writes them
(``flows/storage``); nothing here touches a database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

TYPES = (
    "elective",  # elective or clerkship
    "subi",  # sub-internship / acting internship
    "externship",
    "observership",
    "research",  # research with clinical exposure
    "scribe",  # scribe or clinical support
    "telemedicine",
    "volunteering",  # hospital volunteering
)
LEVELS = ("hands_on", "semi", "non")
STATUSES = ("planned", "ongoing", "done")
LETTERS = ("none", "asked", "promised", "received")
SETTINGS = ("inpatient", "outpatient", "both")


@dataclass(frozen=True, slots=True)
class Experience:
    id: int
    user_id: str
    type: str
    level: str
    specialty: str
    institution: str
    teaching: int | None
    setting: str | None
    start: str
    end: str
    status: str
    letter: str
    letter_writer: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    status: str | None = None
    student_year: int | None = None
    grad_year: int | None = None
    specialties: tuple[str, ...] = ()
    application: str | None = None
    months_available: int | None = None
    budget: str | None = None
    visa: str | None = None
    us_months: int | None = None
    us_letters: int | None = None
    gaps: tuple[str, ...] = ()
    timezone: str | None = None
    completed_at: str | None = None
    onboarding_step: str | None = None

    @property
    def application_date(self) -> date | None:
        """The first day of the application month, if known."""
        if not self.application:
            return None
        year, month = self.application.split("-")
        return date(int(year), int(month), 1)

    @property
    def is_student(self) -> bool:
        return self.status == "student"

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


# Experiences are dated by month ("YYYY-MM", end inclusive). Arithmetic uses a month index:
# year * 12 + month - 1, so consecutive months differ by one.


def month_index(value: str | date) -> int:
    if isinstance(value, date):
        return value.year * 12 + value.month - 1
    year, month = value.split("-")
    return int(year) * 12 + int(month) - 1


def month_str(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_label(index: int, names: str) -> str:
    """"Mar 2026" from an index and the twelve month names separated by spaces."""
    return f"{names.split()[index % 12]} {index // 12}"


def months_of(exp: Experience) -> range:
    """The month indexes an experience covers (start to end, inclusive)."""
    start, end = month_index(exp.start), month_index(exp.end)
    return range(start, max(start, end) + 1)


_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_RELATIVE = {"last month": -1, "previous month": -1, "this month": 0, "now": 0, "next month": 1}
_NUMERIC = re.compile(r"(\d{1,4})\s*[-/.\s]\s*(\d{1,4})")
_NAMED = re.compile(r"([a-z]+)\.?\s*[-/,.\s]?\s*'?(\d{2}|\d{4})|(\d{4})\s*[-/,.\s]?\s*([a-z]+)")


def _year(text: str) -> int | None:
    if len(text) == 2:
        return 2000 + int(text)
    if len(text) == 4:
        return int(text)
    return None


def parse_month(text: str, today: int) -> int | None:
    """A month index from what a user typed: "03/2026", "3/26", "2026-03", "March 2026",
    "mar 26", "this month", "next month", "last month". None when it isn't a month."""
    value = " ".join(text.strip().lower().split())
    if len(value) > 30:
        return None
    if value in _RELATIVE:
        return today + _RELATIVE[value]
    numeric = _NUMERIC.fullmatch(value)
    if numeric:
        a, b = numeric.groups()
        if len(a) == 4:  # 2026-03
            year, month = int(a), int(b) if len(b) <= 2 else 0
        else:  # 03/2026, 3/26
            year_or_none, month = _year(b), int(a) if len(a) <= 2 else 0
            if year_or_none is None:
                return None
            year = year_or_none
        return year * 12 + month - 1 if 1 <= month <= 12 else None
    named = _NAMED.fullmatch(value)
    if named:
        name, year_text = (named.group(1), named.group(2)) if named.group(1) else (
            named.group(4), named.group(3)
        )
        named_month = _MONTH_NAMES.get(name)
        year_value = _year(year_text)
        if named_month is None or year_value is None:
            return None
        return year_value * 12 + named_month - 1
    return None
