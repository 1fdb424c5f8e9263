"""Pure schedule computation: local mornings, quiet hours, daylight saving, what is due when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.base.content import ContentError
from flows.domain.nudges import (
    KINDS,
    Wanted,
    config,
    experience_nudges,
    load_config,
    milestone_nudges,
    outreach_nudges,
    spread,
    vetting_nudges,
)
from flows.domain.plan import milestone_dates
from flows.domain.timezones import (
    QuietHours,
    local_datetime,
    morning_slot,
    next_morning,
    parse_hhmm,
    parse_quiet_hours,
    utc_offset_label,
    zone_or_utc,
)
from flows.storage.nudges import Prefs, parse_stamp, stamp

CFG = config()
NIGHT = QuietHours(time(21), time(9))
NY = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- local mornings across daylight saving --------------------------------------------------------
@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # New York: EST (UTC-5) until 14 Mar 2027, EDT (UTC-4) after; back on 7 Nov 2027.
        ("America/New_York", date(2027, 3, 13), utc(2027, 3, 13, 14, 30)),
        ("America/New_York", date(2027, 3, 14), utc(2027, 3, 14, 13, 30)),  # the change day itself
        ("America/New_York", date(2027, 11, 6), utc(2027, 11, 6, 13, 30)),
        ("America/New_York", date(2027, 11, 7), utc(2027, 11, 7, 14, 30)),
        # London: GMT until 28 Mar 2027, BST after.
        ("Europe/London", date(2027, 3, 27), utc(2027, 3, 27, 9, 30)),
        ("Europe/London", date(2027, 3, 28), utc(2027, 3, 28, 8, 30)),
        # Southern hemisphere: Sydney leaves daylight saving on 4 Apr 2027 (UTC+11 -> +10).
        ("Australia/Sydney", date(2027, 4, 3), utc(2027, 4, 2, 22, 30)),
        ("Australia/Sydney", date(2027, 4, 4), utc(2027, 4, 3, 23, 30)),
        # No daylight saving; a half-hour zone.
        ("Asia/Kolkata", date(2027, 3, 14), utc(2027, 3, 14, 4, 0)),
        ("Asia/Kathmandu", date(2027, 3, 14), utc(2027, 3, 14, 3, 45)),
    ],
)
def test_the_morning_slot_is_half_past_nine_local_on_both_sides_of_a_change(
    zone: str, day: date, expected: datetime
) -> None:
    slot = morning_slot(day, time(9, 30), NIGHT, ZoneInfo(zone))
    assert slot == expected
    assert slot.astimezone(ZoneInfo(zone)).time() == time(9, 30)


def test_a_wall_clock_time_skipped_by_spring_forward_lands_just_after_the_gap() -> None:
    # 02:30 does not exist in New York on 14 Mar 2027 (02:00 -> 03:00).
    moment = local_datetime(date(2027, 3, 14), time(2, 30), NY)
    assert moment == utc(2027, 3, 14, 7, 30)
    assert moment.astimezone(NY).time() == time(3, 30)


def test_a_repeated_wall_clock_time_takes_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 7 Nov 2027; the first is still EDT (UTC-4).
    assert local_datetime(date(2027, 11, 7), time(1, 30), NY) == utc(2027, 11, 7, 5, 30)


@pytest.mark.parametrize(
    ("quiet", "send_at", "expected_local"),
    [
        (QuietHours(time(21), time(9)), time(9, 30), time(9, 30)),  # default: outside, unchanged
        (QuietHours(time(22), time(10)), time(9, 30), time(10, 0)),  # inside: moved to the end
        (QuietHours(time(0), time(0)), time(9, 30), time(9, 30)),  # no quiet hours
        (QuietHours(time(8), time(12)), time(9, 30), time(12, 0)),  # a daytime quiet period
    ],
)
def test_the_slot_moves_out_of_quiet_hours(quiet: QuietHours, send_at: time, expected_local: time) -> None:
    slot = morning_slot(date(2027, 1, 10), send_at, quiet, NY)
    assert slot.astimezone(NY).time() == expected_local


@pytest.mark.parametrize(
    ("quiet", "t", "inside"),
    [
        (NIGHT, time(20, 59), False),
        (NIGHT, time(21, 0), True),
        (NIGHT, time(23, 59), True),
        (NIGHT, time(0, 0), True),
        (NIGHT, time(8, 59), True),
        (NIGHT, time(9, 0), False),
        (QuietHours(time(1), time(6)), time(0, 30), False),
        (QuietHours(time(1), time(6)), time(3, 0), True),
        (QuietHours(time(7), time(7)), time(7, 0), False),
    ],
)
def test_quiet_hours_wrap_past_midnight(quiet: QuietHours, t: time, inside: bool) -> None:
    assert quiet.contains(t) is inside


@pytest.mark.parametrize(
    ("now_local", "expected_local"),
    [
        (datetime(2027, 1, 10, 9, 45), datetime(2027, 1, 10, 9, 45)),  # in the morning window: now
        (datetime(2027, 1, 10, 12, 29), datetime(2027, 1, 10, 12, 29)),  # its last minutes: still now
        (datetime(2027, 1, 10, 12, 37), datetime(2027, 1, 11, 9, 30)),  # after it: the next morning
        (datetime(2027, 1, 10, 16, 37), datetime(2027, 1, 11, 9, 30)),  # afternoon: not now, tomorrow's
        (datetime(2027, 1, 10, 23, 0), datetime(2027, 1, 11, 9, 30)),  # late evening: next morning
        (datetime(2027, 1, 11, 3, 0), datetime(2027, 1, 11, 9, 30)),  # small hours: this morning
        (datetime(2027, 3, 13, 22, 0), datetime(2027, 3, 14, 9, 30)),  # across spring forward
        (datetime(2027, 3, 14, 10, 0), datetime(2027, 3, 14, 10, 0)),  # the change day's morning
    ],
)
def test_something_late_goes_out_in_a_morning_window(now_local: datetime, expected_local: datetime) -> None:
    now = now_local.replace(tzinfo=NY).astimezone(UTC)
    got = next_morning(now, time(9, 30), NIGHT, NY, timedelta(hours=3))
    assert got == expected_local.replace(tzinfo=NY).astimezone(UTC)


def test_the_morning_window_follows_the_end_of_quiet_hours() -> None:
    """09:30 falls inside quiet hours 23:00–10:00: the morning starts at 10:00."""
    late = QuietHours(time(23), time(10))
    at = datetime(2027, 1, 10, 9, 45, tzinfo=NY).astimezone(UTC)
    assert next_morning(at, time(9, 30), late, NY, timedelta(hours=3)) == datetime(2027, 1, 10, 10, tzinfo=NY)
    noon = datetime(2027, 1, 10, 12, 45, tzinfo=NY).astimezone(UTC)
    assert next_morning(noon, time(9, 30), late, NY, timedelta(hours=3)) == noon


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:00-09:00", (time(21), time(9))),
        ("22 to 8", (time(22), time(8))),
        ("23–7", (time(23), time(7))),
        ("2230 - 0630", (time(22, 30), time(6, 30))),
        ("24:00-06:00", (time(0), time(6))),
        ("", None),
        ("nonsense", None),
        ("25:00-06:00", None),
        ("21:00", None),
        ("21:61-06:00", None),
        ("<b>9</b>-10", None),
        ("٢١-٩", (time(21), time(9))),  # Arabic-Indic digits read like any others
    ],
)
def test_parse_quiet_hours(text: str, expected: tuple[time, time] | None) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("9", time(9)), ("0930", time(9, 30)), ("9h", time(9)), ("x", None)])
def test_parse_hhmm(text: str, expected: time | None) -> None:
    assert parse_hhmm(text) == expected


def test_offset_labels_and_unknown_zones() -> None:
    assert utc_offset_label("Asia/Kolkata", utc(2027, 1, 1)) == "UTC+05:30"
    assert utc_offset_label("America/St_Johns", utc(2027, 1, 1)) == "UTC-03:30"
    assert utc_offset_label("America/New_York", utc(2027, 7, 1)) == "UTC-04:00"
    assert zone_or_utc("Not/AZone") is UTC and zone_or_utc(None) is UTC


def test_stamps_sort_as_text_and_round_trip() -> None:
    a, b = utc(2027, 1, 9, 23, 59, 59), utc(2027, 1, 10, 0, 0)
    assert stamp(a) < stamp(b) and parse_stamp(stamp(a)) == a
    assert stamp(datetime(2027, 1, 10, 5, 30, tzinfo=ZoneInfo("Asia/Kolkata"))) == "2027-01-10T00:00:00+00:00"


# -- what is due when ---------------------------------------------------------------------------
def test_milestones_fire_at_the_start_of_windows_still_ahead_only() -> None:
    # Applying Sep 2029, signing up 25 Nov 2026: the 2–3 year window opened Sep 2026 (already open).
    windows = milestone_dates(date(2029, 9, 1))
    wanted = milestone_nudges(windows, date(2026, 11, 25), student=False, cfg=CFG)
    assert [(w.key, w.due_on) for w in wanted] == [
        ("ms:secure", date(2028, 3, 1)),
        ("ms:letters", date(2028, 9, 1)),
        ("ms:apply", date(2029, 3, 1)),
    ]
    assert all(w.kind == "milestone" and w.new_ok for w in wanted)
    assert all(w.due_on < w.expires_on for w in wanted)


def test_a_window_opening_today_is_kept_but_never_created() -> None:
    windows = milestone_dates(date(2029, 9, 1))
    [first, *_] = milestone_nudges(windows, date(2028, 3, 1), student=True, cfg=CFG)
    assert first.key == "ms:secure" and first.new_ok is False and first.args["student"] == 1


def test_an_application_already_past_schedules_no_milestone() -> None:
    assert milestone_nudges(milestone_dates(date(2026, 9, 1)), date(2026, 11, 25), False, CFG) == []


@dataclass
class Exp:
    id: int
    institution: str
    end: str
    letter: str = "none"


@pytest.mark.parametrize(
    ("exp", "today", "expected"),
    [
        # A rotation ending in December: ask in its last week, reflect on 1 January.
        (Exp(1, "Mercy", "2026-12"), date(2026, 11, 25),
         [("lt:1", date(2026, 12, 25)), ("rf:1", date(2027, 1, 1))]),
        # A letter already asked for: only the reflection.
        (Exp(2, "Mercy", "2026-12", "asked"), date(2026, 11, 25), [("rf:2", date(2027, 1, 1))]),
        # Already in the last week: ask today.
        (Exp(3, "Mercy", "2026-11"), date(2026, 11, 27),
         [("lt:3", date(2026, 11, 27)), ("rf:3", date(2026, 12, 1))]),
        # Ended last month, logged now: reflect today (still fresh), no letter nudge.
        (Exp(4, "Mercy", "2026-10"), date(2026, 11, 5), [("rf:4", date(2026, 11, 5))]),
        # Ended long ago: nothing at all (no burst of old news).
        (Exp(5, "Mercy", "2025-01"), date(2026, 11, 25), []),
        # A nonsense end month is ignored, not a crash.
        (Exp(6, "Mercy", "soon"), date(2026, 11, 25), []),
        # February of a leap year: the last week starts on the 23rd.
        (Exp(7, "Mercy", "2028-02"), date(2027, 12, 1),
         [("lt:7", date(2028, 2, 23)), ("rf:7", date(2028, 3, 1))]),
    ],
)
def test_experience_nudges(exp: Exp, today: date, expected: list[tuple[str, date]]) -> None:
    assert [(w.key, w.due_on) for w in experience_nudges([exp], today, CFG)] == expected


def test_experience_text_values_are_cleaned() -> None:
    [letter, _] = experience_nudges([Exp(1, "St. <b>Mary</b>\x00" + "x" * 200, "2026-12")], date(2026, 11, 1), CFG)
    assert "\x00" not in letter.args["place"] and len(letter.args["place"]) <= 80


@pytest.mark.parametrize(
    ("row", "today", "expected"),
    [
        ({"id": 1, "contact": "Dr A", "status": "sent", "sent_on": "2026-11-20"}, date(2026, 11, 25),
         [("fu:1", date(2026, 11, 30))]),
        ({"id": 2, "contact": "Dr A", "status": "replied", "sent_on": "2026-11-20"}, date(2026, 11, 25), []),
        ({"id": 3, "contact": "Dr A", "status": "sent", "sent_on": "2026-11-20", "followed_up_on": "2026-11-24"},
         date(2026, 11, 25), []),
        ({"id": 4, "contact": "Dr A", "status": "sent", "sent_on": "2026-11-05"}, date(2026, 11, 25),
         [("fu:4", date(2026, 11, 25))]),  # logged late: follow up today
        ({"id": 5, "contact": "Dr A", "status": "sent", "sent_on": "2025-01-05"}, date(2026, 11, 25), []),
        ({"id": 6, "contact": "Dr A", "status": "sent", "sent_on": "last week"}, date(2026, 11, 25), []),
    ],
)
def test_outreach_follow_ups(row: dict[str, str], today: date, expected: list[tuple[str, date]]) -> None:
    assert [(w.key, w.due_on) for w in outreach_nudges([row], today, 10, CFG)] == expected


def test_vetting_check_backs() -> None:
    rows = [(7, "Sunrise Externships", 2, "2026-11-20T10:00:00+00:00"), (8, "Clear", 0, None)]
    wanted = vetting_nudges(rows, date(2026, 11, 21), CFG)
    assert [(w.key, w.due_on, w.args["count"]) for w in wanted] == [
        ("vt:7", date(2026, 11, 25), 2)  # five days after the first "Not sure"
    ]


def test_spread_keeps_one_nudge_a_day() -> None:
    day = date(2027, 1, 4)
    wanted = [
        Wanted("rf:1", "reflection", day, date(2027, 2, 1)),
        Wanted("lt:2", "letter", day, date(2027, 2, 1)),
        Wanted("ms:apply", "milestone", day, date(2027, 2, 1)),
        Wanted("fu:3", "followup", date(2027, 1, 5), date(2027, 2, 1)),
    ]
    assert [(w.key, w.due_on.day) for w in spread(wanted)] == [
        ("ms:apply", 4), ("lt:2", 5), ("rf:1", 6), ("fu:3", 7)
    ]


@pytest.mark.parametrize(
    ("prefs", "kinds"),
    [
        (Prefs(NIGHT), set(KINDS)),
        (Prefs(NIGHT, amount="milestones"), {"milestone"}),
        (Prefs(NIGHT, amount="none"), set()),
        (Prefs(NIGHT, muted=frozenset({"letter"})), set(KINDS) - {"letter"}),
        (Prefs(NIGHT, amount="milestones", muted=frozenset({"milestone"})), set()),
    ],
)
def test_preferences_choose_the_kinds(prefs: Prefs, kinds: set[str]) -> None:
    assert prefs.kinds() == kinds


def test_the_content_file_loads_and_mistakes_name_the_line(tmp_path: Path) -> None:
    assert CFG.send_time == time(9, 30) and CFG.quiet == NIGHT
    assert CFG.delivery.rate_per_second <= 30 and CFG.delivery.per_chat_seconds >= 1
    bad = tmp_path / "nudges.yaml"
    text = Path("content/nudges.yaml").read_text(encoding="utf-8").replace('send_time: "09:30"', 'send_time: "9:75"')
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError, match=r"nudges.yaml:\d+: 'send_time' must be a time"):
        load_config(bad)
    bad.write_text(text.replace('"9:75"', '"09:30"').replace("rate_per_second: 25", "rate_per_second: 300"))
    with pytest.raises(ContentError, match="rate_per_second"):
        load_config(bad)
