"""The goal questions' typed answers as pure functions: time zones, numbers, months, cycles."""

from __future__ import annotations

from datetime import date

import pytest

from flows.domain.goals import next_cycles, normalize, parse_month, parse_number, parse_timezone
from flows.domain.plan import load_rules


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("asia/kolkata", "Asia/Kolkata"),
        ("America/New York", "America/New_York"),
        ("new york", "America/New_York"),
        ("Lagos", "Africa/Lagos"),
        ("Lahore", "Asia/Karachi"),
        ("India", "Asia/Kolkata"),
        ("São Paulo", "America/Sao_Paulo"),
        ("UTC+5:30", "Asia/Kolkata"),
        ("utc +05:30", "Asia/Kolkata"),
        ("+0545", "Asia/Kathmandu"),
        ("+3", "Etc/GMT-3"),
        ("GMT-4", "Etc/GMT+4"),
        ("−5", "Etc/GMT+5"),
        ("UTC+14", "Etc/GMT-14"),
        ("UTC", "UTC"),
        ("+0", "UTC"),
        ("UTC-13", None),
        ("UTC+5:20", None),
        ("Atlantis", None),
        ("", None),
        ("+", None),
    ],
)
def test_parse_timezone(typed: str, zone: str | None) -> None:
    assert parse_timezone(typed, load_rules()) == zone


@pytest.mark.parametrize(
    ("typed", "number"),
    [("3", 3), ("about 3 months", 3), ("year 4", 4), ("4th", 4), ("three", 3), ("none", 0),
     ("3-4", None), ("3.5", None), ("-3", None), ("", None), ("lots", None), ("12345", None)],
)
def test_parse_number(typed: str, number: int | None) -> None:
    assert parse_number(typed) == number


@pytest.mark.parametrize(
    ("typed", "result"),
    [("09/2028", (2028, 9)), ("9/2028", (2028, 9)), ("2028-09", (2028, 9)), ("Sep 2028", (2028, 9)),
     ("september 2028", (2028, 9)), ("Sept. 2028", (2028, 9)), ("June '29", (2029, 6)), ("2029 june", (2029, 6)),
     ("2028", "need_month"), ("13/2028", "bad_month"), ("0/2028", "bad_month"), ("smarch 2028", "unreadable"),
     ("", "unreadable"), ("next year", "unreadable")],
)
def test_parse_month(typed: str, result: tuple[int, int] | str) -> None:
    assert parse_month(typed) == result


def test_normalize() -> None:
    assert normalize("  Café—ÉLITE!! ") == "cafe elite"


def test_next_cycles_skip_a_month_already_reached() -> None:
    rules = load_rules()
    assert [d.year for d in next_cycles(date(2026, 11, 25), rules)] == [2027, 2028, 2029]
    assert [d.year for d in next_cycles(date(2026, 8, 31), rules)] == [2026, 2027, 2028]

