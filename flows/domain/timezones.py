"""Local times: placing a message in the user's morning, outside their quiet hours,
correctly across daylight-saving changes. Zones are IANA names (``Profile.timezone``; what
users type is read by :func:`flows.domain.goals.parse_timezone`)."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def zone_or_utc(name: str | None) -> tzinfo:
    """The zone named ``name``, or UTC when it is missing or unknown."""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def utc_offset_label(zone: str, at: datetime) -> str:
    """ "UTC+05:30" for ``zone`` at the instant ``at``."""
    offset = at.astimezone(zone_or_utc(zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# -- quiet hours and the morning slot ------------------------------------------------------------

_HHMM = re.compile(r"^(\d{1,2})(?::?(\d{2}))?$")


_HALF_DAY = re.compile(r"\s*([ap])\.?\s*m\.?$")


def parse_hhmm(text: str) -> time | None:
    """ "21:00", "9", "0930", "10pm", "6 a.m.", "midnight" → a time; None if it is not a time of day."""
    value = text.strip().lower()
    value = {"midnight": "0:00", "noon": "12:00", "midday": "12:00"}.get(value, value)
    half = _HALF_DAY.search(value)
    if half:
        value = value[: half.start()]
    match = _HHMM.match(value.strip().removesuffix("h"))
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if half:  # 12 am is midnight, 12 pm noon
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half[1] == "p" else 0)
    if hour == 24 and minute == 0:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """ "21:00-09:00", "22 to 8", "23–7" → (start, end); None when it cannot be read."""
    value = re.sub(r"^(from|between)\s+", "", text.strip().lower())
    parts = re.split(r"\s*(?:-|–|—|\bto\b|\buntil\b|\btill\b|\band\b)\s*", value)
    if len(parts) != 2:
        return None
    start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    if start is None or end is None:
        return None
    return start, end


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which nothing is sent. ``start == end`` means no quiet hours."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    def contains(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # wraps past midnight

    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def local_datetime(day: date, at: time, zone: tzinfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``zone``, as an aware UTC datetime.

    A wall-clock time that does not exist (skipped by a spring-forward change) becomes the
    same instant one offset later, i.e. just after the gap; a repeated one (autumn) takes its
    first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def morning_slot(day: date, send_at: time, quiet: QuietHours, zone: tzinfo) -> datetime:
    """When to send something due on local ``day``: ``send_at`` local, moved to the end of
    the quiet hours when it falls inside them. Returned in UTC."""
    at = quiet.end if quiet.contains(send_at) else send_at
    return local_datetime(day, at, zone)


def next_morning(now: datetime, send_at: time, quiet: QuietHours, zone: tzinfo, window: timedelta) -> datetime:
    """``now`` (UTC) if it falls in a morning window — the morning slot of a local day up to
    ``window`` later, outside the quiet hours — else the next morning slot.

    Used for anything that is late (after downtime, or held back by the one-a-day gap): it
    goes out in the user's morning as promised, never at 16:37.
    """
    day = now.astimezone(zone).date()
    local = now.astimezone(zone).time().replace(tzinfo=None)
    for offset in (-1, 0, 1, 2):
        slot = morning_slot(day + timedelta(days=offset), send_at, quiet, zone)
        if slot <= now < slot + window and not quiet.contains(local):
            return now
        if slot > now:
            return slot
    return morning_slot(day + timedelta(days=3), send_at, quiet, zone)  # not reached: slots are a day apart


def local_today(now: datetime, zone: tzinfo) -> date:
    return now.astimezone(zone).date()
