"""An iCalendar file (RFC 5545) from a list of dated events, built with ``icalendar``.

Pure: events in, bytes out. All-day events are DATE values (DTEND the day after, as the
RFC wants); timed ones carry the user's zone as TZID with its VTIMEZONE in the file (or
are UTC when the user has no zone). Each event's UID comes from its key and a hash of the
user id, so importing a newer file updates the events instead of doubling them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

PRODID = "-//USCE Coach//Plan calendar//EN"
UID_DOMAIN = "usce-coach"
_UID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One date for the calendar. ``start``/``end`` are dates (all day, end exclusive)
    or aware datetimes; ``key`` is stable for the same thing across exports."""

    key: str
    title: str
    start: date | datetime
    end: date | datetime
    description: str = ""

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise ValueError("start and end must both be dates or both be datetimes")
        if isinstance(start, datetime) and isinstance(end, datetime):
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError("timed events need an aware datetime")
            if end <= start:
                raise ValueError("an event must end after it starts")
        elif end <= start:
            raise ValueError("an event must end after it starts")


def all_day(key: str, title: str, first: date, last: date | None = None, description: str = "") -> CalendarEvent:
    """An event over the days ``first`` to ``last`` (inclusive; one day without ``last``)."""
    return CalendarEvent(key, title, first, (last or first) + timedelta(days=1), description)


def uid(key: str, user_id: str) -> str:
    user = hashlib.sha256(user_id.encode()).hexdigest()[:16]
    return f"{_UID_UNSAFE.sub('-', key).strip('-')}.{user}@{UID_DOMAIN}"


def build_calendar(events: Sequence[CalendarEvent], user_id: str, now: datetime, name: str,
                   zone: str | None = None) -> bytes:
    """The .ics file's bytes. ``now`` is the DTSTAMP; ``zone`` the user's IANA zone, if known."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    if zone:
        calendar.add("x-wr-timezone", zone)
    stamp = now.astimezone(UTC)
    seen: set[str] = set()
    for item in sorted(events, key=_order):
        event_uid = uid(item.key, user_id)
        if event_uid in seen:
            raise ValueError(f"two events share the key {item.key!r}")
        seen.add(event_uid)
        event = Event()
        event.add("uid", event_uid)
        event.add("dtstamp", stamp)
        event.add("summary", item.title)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        if item.description:
            event.add("description", item.description)
        event.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
        calendar.add_component(event)
    calendar.add_missing_timezones()  # a VTIMEZONE for each TZID used
    return calendar.to_ical()


def _order(event: CalendarEvent) -> tuple[date, str]:
    start = event.start.date() if isinstance(event.start, datetime) else event.start
    return start, event.key
