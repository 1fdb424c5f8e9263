"""Reading typed answers to the goal questions (pure): whole numbers, a month and year, a
time zone; and the application cycles offered as buttons.

Time zones: an IANA name (any case), a city or country, or a UTC offset. Whole-hour
offsets become fixed-offset zones (``+3`` -> ``Etc/GMT-3``: the Etc names count the other
way round); offsets with minutes (``UTC+5:30``) become a real zone that keeps that
offset, from ``content/plan.yaml`` (``Asia/Kolkata``), since no fixed-offset name exists.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flows.domain import typed
from flows.domain.plan import MONTH_ABBR, Rules

NUMBER_WORDS = {
    "zero": 0, "none": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
}
MONTH_NAMES = {name.lower(): i + 1 for i, name in enumerate(MONTH_ABBR)} | {
    "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8,
    "sept": 9, "september": 9, "october": 10, "november": 11, "december": 12,
}
_DIGITS = re.compile(r"(?<![\d.,-])\d+(?![\d.,])")
_WORDS = re.compile(r"[^\w/+&-]+")


def normalize(text: str) -> str:
    """Lower case, accents and emoji dropped, punctuation turned into single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and ch.isprintable())
    return " ".join(_WORDS.sub(" ", text.lower()).split())


def parse_number(text: str) -> int | None:
    """The one whole number in a short answer ("3", "about 3 months", "year 4", "three"); none
    in a Match year ("Match 2028": when they match, not a year or count of anything)."""
    words = normalize(text)
    if words in NUMBER_WORDS:
        return NUMBER_WORDS[words]
    if typed.parse_match_year(text) is not None:
        return None
    numbers = _DIGITS.findall(text)
    if len(numbers) != 1 or len(numbers[0]) > 4 or re.search(r"[-−]\s*\d", text):
        return None
    return int(numbers[0])


def parse_month(text: str) -> tuple[int, int] | str:
    """(year, month) from "09/2027", "2027-09", "Sep 2027", "september '27"; else an error code:
    "need_month" (a year alone), "bad_month" (month 13) or "unreadable"."""
    low = text.lower().strip()
    m = re.fullmatch(r"(\d{4})\s*[-/. ]\s*(\d{1,2})", low) or None
    if m:
        year, month = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"(\d{1,2})\s*[-/. ]\s*(\d{4})", low):
        month, year = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"([a-z]+)\.?,?\s*[-/ ]?\s*'?(\d{4}|\d{2})", low):
        if m[1] not in MONTH_NAMES:
            return "unreadable"
        month, year = MONTH_NAMES[m[1]], int(m[2])
        year += 2000 if year < 100 else 0
    elif m := re.fullmatch(r"(\d{4})\s*[-/ ]?\s*([a-z]+)", low):
        if m[2] not in MONTH_NAMES:
            return "unreadable"
        month, year = MONTH_NAMES[m[2]], int(m[1])
    elif re.fullmatch(r"\d{4}", low):
        return "need_month"
    else:
        return "unreadable"
    if not 1 <= month <= 12:
        return "bad_month"
    return year, month


@functools.cache
def _zone_index() -> dict[str, str]:
    """Lower-cased zone names and their cities ("asia/kolkata", "kolkata", "new york")."""
    index: dict[str, str] = {}
    cities: dict[str, str] = {}
    for name in sorted(available_timezones()):
        index[name.lower()] = name
        area, _, city = name.rpartition("/")
        if area.split("/")[0] in {"Africa", "America", "Asia", "Atlantic", "Australia", "Europe",
                                  "Indian", "Pacific"}:
            cities.setdefault(city.replace("_", " ").lower(), name)
    return cities | index


_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+\-−])\s*(\d{1,2})(?:\s*[:.h]?\s*(\d{2}))?")


def parse_timezone(text: str, rules: Rules) -> str | None:
    """An IANA zone name for a typed zone, city, country or UTC offset; None if unknown."""
    raw = " ".join(text.strip().split())
    low = raw.lower()
    if low in {"utc", "gmt", "z", "utc+0", "gmt+0", "utc 0", "+0", "0", "utc±0"}:
        return "UTC"
    m = _OFFSET.fullmatch(low)
    if m:
        sign = -1 if m[1] in "-−" else 1
        hours, minutes = int(m[2]), int(m[3] or 0)
        if minutes == 0 and hours == 0:
            return "UTC"
        if minutes == 0 and (hours <= 14 if sign > 0 else hours <= 12):
            # Etc/GMT names flip the sign: UTC+3 is Etc/GMT-3.
            return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"
        key = f"{'+' if sign > 0 else '-'}{hours}:{minutes:02d}"
        return rules.part_hour_offsets.get(key)
    words = normalize(raw.replace("_", " ")).replace(" / ", "/")
    index = _zone_index()
    name = rules.places.get(words) or index.get(low.replace(" ", "_")) or index.get(words)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def next_cycles(today: date, rules: Rules) -> list[date]:
    """The application months offered as buttons: the next cycles still ahead."""
    year = today.year if today.month < rules.cycle_month else today.year + 1
    return [date(year + i, rules.cycle_month, 1) for i in range(rules.cycles_offered)]


def grad_range(year: int, student: bool, rules: Rules) -> tuple[int, int]:
    """The graduation years that fit in ``year``: ahead for a student, behind for a graduate."""
    if student:
        return year, year + rules.years_to_graduation
    return year - rules.years_since_graduation, year
