"""/calendar: an RFC 5545 file whose events are the plan's dates in the user's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.terminal import Terminal, user_file
from flows.domain import ics
from flows.domain.plan import milestone_dates
from flows.engine.engine import Engine, Turn
from flows.features.calendar import FILENAME
from flows.features.nudges import reschedule
from flows.storage.nudges import schedule_rows
from flows.storage.profiles import save_answer
from tests.chat import Chat, Clock
from tests.factories import insert_experience

USER = "tg:1001"
TODAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the test clock's start


def join(engine: Engine, **profile: object) -> None:
    Chat(engine, USER).send("/menu")
    with engine.store.atomic():
        save_answer(engine.store, USER, TODAY.isoformat(), **profile)
        reschedule(engine.store, USER, TODAY)


def changed(engine: Engine, clock: Clock) -> None:
    """Records put in straight: reschedule the reminders as a turn that changed them would."""
    engine.feature("nudges").on_changed(  # type: ignore[union-attr]
        Turn(USER, engine.store.load_session(USER), engine.store, engine.texts, clock(), engine),
        {"experiences", "outreach"},
    )


def fetch(chat: Chat) -> Calendar:
    chat.send("/calendar")
    [reply] = chat.replies
    assert reply.attachment is not None and reply.attachment.filename == FILENAME
    assert reply.attachment.kind == "document"
    raw = reply.attachment.content
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and raw.endswith(b"END:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))  # folded as RFC 5545 asks
    return Calendar.from_ical(raw)


def events(cal: Calendar) -> dict[str, object]:
    return {str(e["uid"]).split(".", 1)[0]: e for e in cal.walk("VEVENT")}


@pytest.fixture
def planned(engine: Engine, clock: Clock) -> Engine:
    join(engine, application="2028-09", timezone="Asia/Kolkata", status="graduate", grad_year=2024,
         specialties=["Internal medicine"], months_available=3, budget="moderate", visa="visitor",
         us_months=0, us_letters=0, gaps=[], completed_at=TODAY.isoformat())
    insert_experience(engine.store, USER, id=7, status="planned", start="2027-02", end="2027-03",
                      type="externship", level="hands_on", specialty="Internal Medicine",
                      institution="St. <Mary> & Co")
    insert_experience(engine.store, USER, id=8, status="done", start="2026-03", end="2026-04")
    with engine.store.atomic():
        engine.store.db.table("outreach").insert({
            "id": 5, "user_id": USER, "contact": "Dr Lee", "sent_on": "2026-11-20", "status": "sent",
        })
        changed(engine, clock)
    return engine


def test_the_file_has_what_calendar_apps_need(planned: Engine) -> None:
    cal = fetch(Chat(planned, USER))
    assert cal["version"] == "2.0" and cal["prodid"] == ics.PRODID
    assert cal["x-wr-timezone"] == "Asia/Kolkata"
    uids = [str(e["uid"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids)) >= 8
    assert all(re.fullmatch(r"[A-Za-z0-9.-]+@usce-coach", u) for u in uids)
    assert all("1001" not in u for u in uids)  # the user id is hashed, not shown
    for event in cal.walk("VEVENT"):
        assert event.decoded("dtstamp") == TODAY
        assert event.decoded("dtend") > event.decoded("dtstart")
        assert event["summary"]
    # A VTIMEZONE for the zone the timed events name, with India's offset.
    [zone] = cal.walk("VTIMEZONE")
    assert zone["tzid"] == "Asia/Kolkata"
    assert "+0530" in zone.to_ical().decode()


def test_stages_application_and_rotations_are_all_day_on_the_plans_dates(planned: Engine) -> None:
    got = events(fetch(Chat(planned, USER)))
    today = TODAY.date()
    for milestone, first, last in milestone_dates(date(2028, 9, 1)):
        if last < today:
            assert f"ms-{milestone.id}" not in got
            continue
        event = got[f"ms-{milestone.id}"]
        assert event.decoded("dtstart") == first and event.decoded("dtend") == first + timedelta(days=1)  # type: ignore[attr-defined]
        assert not isinstance(event.decoded("dtstart"), datetime)  # type: ignore[attr-defined]  # a DATE value
        assert milestone.title in str(event["summary"])  # type: ignore[index]
        assert f"{last:%d %b %Y}" in str(event["description"])  # type: ignore[index]
    application = got["application"]
    assert application.decoded("dtstart") == date(2028, 9, 1)  # type: ignore[attr-defined]
    rotation = got["rot-7"]
    assert rotation.decoded("dtstart") == date(2027, 2, 1)  # type: ignore[attr-defined]
    assert rotation.decoded("dtend") == date(2027, 4, 1)  # type: ignore[attr-defined]  # the day after March ends
    assert str(rotation["summary"]) == "🏥 Externship · Internal Medicine — St. <Mary> & Co (Planned)"  # type: ignore[index]
    assert "rot-8" not in got  # a rotation already done is not a date to come


def test_letter_and_follow_up_dates_match_the_reminders(planned: Engine) -> None:
    got = events(fetch(Chat(planned, USER)))
    rows = {r["key"]: r for r in schedule_rows(planned.store, USER)}
    kolkata = ZoneInfo("Asia/Kolkata")
    for key, prefix in (("lt:7", "lt-7"), ("fu:5", "fu-5")):
        event = got[prefix]
        assert event.decoded("dtstart") == date.fromisoformat(rows[key]["due_on"])  # type: ignore[attr-defined]
        sent = datetime.fromisoformat(rows[key]["due_at"]).astimezone(kolkata)
        assert f"{sent:%d %b %Y, %H:%M}" in str(event["description"])  # type: ignore[index]  # noted, not doubled
    assert "Ask for a letter at St. <Mary> & Co" in str(got["lt-7"]["summary"])  # type: ignore[index]
    assert "Dr Lee" in str(got["fu-5"]["summary"])  # type: ignore[index]
    # A reminder with no date of its own (the reflection after the rotation) is a timed event
    # at the moment it will be sent, in the user's zone.
    reflection = got["reminder-rf-7"]
    start = reflection.decoded("dtstart")  # type: ignore[attr-defined]
    assert isinstance(start, datetime) and str(start.tzinfo) == "Asia/Kolkata"
    assert start == datetime.fromisoformat(rows["rf:7"]["due_at"])
    assert reflection["dtstart"].params["TZID"] == "Asia/Kolkata"  # type: ignore[index]
    assert reflection.decoded("dtend") - start == timedelta(minutes=15)  # type: ignore[attr-defined]


def test_the_same_plan_gives_the_same_uids_next_time(planned: Engine, clock: Clock) -> None:
    chat = Chat(planned, USER)
    first = set(events(fetch(chat)))
    clock.advance(hours=2)
    assert set(events(fetch(chat))) == first


def test_without_a_time_zone_times_are_utc(engine: Engine, clock: Clock) -> None:
    join(engine, application="2028-09")
    insert_experience(engine.store, USER, id=3, status="planned", start="2027-01", end="2027-01")
    changed(engine, clock)
    chat = Chat(engine, USER)
    cal = fetch(chat)
    assert "/settings" in chat.text
    assert not cal.walk("VTIMEZONE") and "x-wr-timezone" not in cal
    timed = [e for e in cal.walk("VEVENT") if isinstance(e.decoded("dtstart"), datetime)]
    assert timed and all(e.decoded("dtstart").utcoffset() == timedelta(0) for e in timed)
    raw = cal.to_ical().decode()
    assert "TZID" not in raw
    assert all(line.endswith("Z") for line in raw.splitlines() if line.startswith(("DTSTART:", "DTEND:")))


def test_nothing_dated_yet_gets_a_friendly_answer(chat: Chat) -> None:
    chat.send("/calendar")
    [reply] = chat.replies
    assert reply.attachment is None
    assert "no dates" in reply.text
    assert {b.data for row in reply.buttons for b in row} == {"go:plan", "go:log"}


def test_in_the_terminal_the_file_is_saved_for_that_user(planned: Engine, tmp_path: Path) -> None:
    out = StringIO()
    Terminal(planned, "1001", tmp_path, out=out).send("/calendar")
    # the terminal user is term:1001, who has no plan: a friendly answer, no file
    assert not list(tmp_path.glob("*.ics"))
    join_term = "term:ann"
    Chat(planned, join_term).send("/menu")
    with planned.store.atomic():
        save_answer(planned.store, join_term, TODAY.isoformat(), application="2028-09", timezone="Europe/Berlin")
    Terminal(planned, "ann", tmp_path, out=out).send("/calendar")
    path = user_file(tmp_path, join_term, FILENAME)
    assert f"saved to {path}" in out.getvalue()
    cal = Calendar.from_ical(path.read_bytes())
    assert cal["x-wr-timezone"] == "Europe/Berlin"
    assert {str(e["uid"]).split(".", 1)[0] for e in cal.walk("VEVENT")} >= {"application", "ms-apply"}


def test_offered_from_the_plan_and_from_settings(planned: Engine) -> None:
    chat = Chat(planned, USER)
    for command in ("/settings", "/plan"):
        chat.send(command)
        assert "go:calendar" in {b.data for b in chat.buttons}, command
        chat.press_data("go:calendar")
        assert chat.replies[0].attachment is not None and chat.replies[0].attachment.filename == FILENAME


# -- the pure builder -------------------------------------------------------------------------
def test_builder_refuses_naive_times_and_backwards_events() -> None:
    with pytest.raises(ValueError):
        ics.CalendarEvent("a", "x", datetime(2027, 1, 1, 9), datetime(2027, 1, 1, 10))
    with pytest.raises(ValueError):
        ics.all_day("a", "x", date(2027, 1, 2), date(2027, 1, 1))
    with pytest.raises(ValueError):
        ics.build_calendar([ics.all_day("a", "x", date(2027, 1, 1))] * 2, "u", TODAY, "n")


def test_builder_escapes_text_and_keeps_it_round_trip() -> None:
    text = "Dr O'Neil; ward 3, bed 4 \\ ünï 🩺"
    raw = ics.build_calendar([ics.all_day("a", text, date(2027, 1, 1), description=text + "\nline 2")],
                             "u", TODAY, "n")
    [event] = Calendar.from_ical(raw).walk("VEVENT")
    assert str(event["summary"]) == text
    assert str(event["description"]) == text + "\nline 2"


def test_a_zone_with_summer_time_gets_both_offsets_and_the_right_instants() -> None:
    york = ZoneInfo("America/New_York")
    winter, summer = datetime(2027, 1, 15, 9, 30, tzinfo=york), datetime(2027, 7, 15, 9, 30, tzinfo=york)
    raw = ics.build_calendar(
        [ics.CalendarEvent(k, k, at, at + timedelta(minutes=15)) for k, at in (("w", winter), ("s", summer))],
        "u", TODAY, "n", "America/New_York")
    cal = Calendar.from_ical(raw)
    [zone] = cal.walk("VTIMEZONE")
    text = zone.to_ical().decode()
    assert "TZOFFSETTO:-0500" in text and "TZOFFSETTO:-0400" in text
    starts = {str(e["summary"]): e.decoded("dtstart") for e in cal.walk("VEVENT")}
    assert starts["w"].astimezone(UTC) == datetime(2027, 1, 15, 14, 30, tzinfo=UTC)
    assert starts["s"].astimezone(UTC) == datetime(2027, 7, 15, 13, 30, tzinfo=UTC)
