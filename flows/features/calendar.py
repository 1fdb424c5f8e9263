"""/calendar: the plan's dates as an .ics file to import into Google or Apple Calendar.

What goes in: the timeline stages still open or ahead (one all-day event on the day each
opens), the application month, rotations planned or under way (all-day, over their
months), the letter and follow-up dates the records call for, and every reminder still to
come (timed, in the user's zone; a reminder for a date already in the file is noted in that
event instead of doubling it). :func:`plan_events` gathers them; ``flows.domain.ics`` writes the file.
"""

from __future__ import annotations

import json
from datetime import date, timedelta, tzinfo
from zoneinfo import ZoneInfo

from flows.base.text import to_plain
from flows.base.types import Attachment, Button, Reply
from flows.domain.ics import CalendarEvent, all_day, build_calendar
from flows.domain.nudges import body, config
from flows.domain.plan import milestone_dates
from flows.domain.timezones import local_today
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.storage.experiences import list_experiences, month_index, month_label
from flows.storage.nudges import PENDING, parse_stamp, schedule_rows, user_zone, wanted_for
from flows.storage.profiles import load_profile

FILENAME = "usce-plan.ics"
REMINDER_MINUTES = 15
DATED_KINDS = ("letter", "followup")  # the dates of these come from the records themselves


class CalendarFeature(Feature):
    name = "calendar"
    prefix = "cal"
    menu_items = (MenuEntry("calendar.menu", "calendar", 85, section="settings"),)

    def commands(self) -> dict[str, CommandHandler]:
        return {"calendar": self.calendar}

    def help_keys(self) -> tuple[str, ...]:
        return ("calendar.help",)

    def calendar(self, turn: Turn, args: str) -> list[Reply]:
        _, zone = user_zone(turn.store, turn.user_id)
        zone_name = zone.key if isinstance(zone, ZoneInfo) else None
        events = plan_events(turn, zone)
        if not events:
            buttons = ((Button(turn.t("calendar.button_plan"), "go:plan"),
                        Button(turn.t("calendar.button_log"), "go:log")),)
            return [Reply(turn.t("calendar.nothing"), buttons)]
        content = build_calendar(events, turn.user_id, turn.now, to_plain(turn.t("calendar.name")), zone_name)
        zone_line = (turn.t("calendar.zone", zone=zone_name) if zone_name else turn.t("calendar.zone_unset"))
        caption = "\n".join([turn.t("calendar.caption", count=len(events)), zone_line, turn.t("calendar.how")])
        return [Reply(caption, attachment=Attachment(FILENAME, content))]


def plan_events(turn: Turn, zone: tzinfo) -> list[CalendarEvent]:
    """Every date of the user's plan still to come, as calendar events."""
    t = turn.t

    def plain(key: str, **values: object) -> str:
        return to_plain(t(key, **values))

    today = local_today(turn.now, zone)
    events: list[CalendarEvent] = []
    try:
        profile = load_profile(turn.store, turn.user_id)
        application = profile.application_date if profile else None
    except (ValueError, TypeError):  # a damaged row: no stages rather than a crash
        profile, application = None, None
    names = t("tracker.months")
    if profile is not None and application is not None:
        for milestone, first, last in milestone_dates(application):
            if last < today:
                continue
            tasks = "\n".join(f"• {task}" for task in milestone.tasks_for(profile.is_student))
            description = plain("calendar.stage_description", first=f"{first:%d %b %Y}", last=f"{last:%d %b %Y}")
            events.append(all_day(f"ms:{milestone.id}", plain("calendar.stage", title=milestone.title), first,
                                  description=f"{description}\n{tasks}".strip()))
        if application >= today.replace(day=1):
            events.append(all_day("application", plain("calendar.application",
                                                         month=month_label(month_index(application), names)),
                                  application, description=plain("calendar.application_description")))
    this_month = month_index(today)
    for exp in list_experiences(turn.store, turn.user_id):
        try:
            if exp.status == "done" or month_index(exp.end) < this_month:
                continue
            first = date.fromisoformat(f"{exp.start}-01")
            last = date.fromisoformat(f"{exp.end}-01")
        except ValueError:  # a month that cannot be read
            continue
        last = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)  # month's end
        title = plain("calendar.rotation", kind=plain(f"tracker.type.{exp.type}"), specialty=exp.specialty,
                      place=exp.institution, status=_words(plain(f"tracker.status.{exp.status}")))
        events.append(all_day(f"rot:{exp.id}", title, max(first, today) if exp.status == "ongoing" else first,
                              last, description=plain("calendar.rotation_description")))
    for wanted in wanted_for(turn.store, turn.user_id, today, config()):
        if wanted.kind in DATED_KINDS:
            values = {k: v for k, v in wanted.args.items() if isinstance(v, str | int)}
            events.append(all_day(wanted.key, plain(f"calendar.{wanted.kind}", **values), wanted.due_on,
                                  description=to_plain(body(turn.texts, wanted.kind, wanted.args))))
    return _with_reminders(turn, events, zone)


def _words(text: str) -> str:
    """``text`` without its emoji ("🗓 Planned" -> "Planned")."""
    return " ".join(w for w in text.split() if any(ch.isalnum() for ch in w))


def _with_reminders(turn: Turn, events: list[CalendarEvent], zone: tzinfo) -> list[CalendarEvent]:
    """``events`` plus every reminder still to come: a reminder for one of them is noted in
    its description; any other becomes a short timed event at the moment it will be sent."""
    by_key = {event.key: i for i, event in enumerate(events)}
    for row in schedule_rows(turn.store, turn.user_id):
        if row["status"] not in PENDING:
            continue
        when = parse_stamp(row["due_at"]).astimezone(zone)
        if when < turn.now:
            continue
        base = str(row["key"]).split("#", 1)[0]  # a snoozed one is "lt:17#1"
        moment = f"{when:%d %b %Y, %H:%M}"
        if base in by_key:
            i = by_key[base]
            note = to_plain(turn.t("calendar.reminder_note", when=moment))
            old = events[i]
            events[i] = CalendarEvent(old.key, old.title, old.start, old.end, f"{old.description}\n\n{note}".strip())
            continue
        try:
            args = json.loads(row["args"] or "{}")
        except ValueError:
            args = {}
        kind = str(row["kind"])
        title_key = f"calendar.reminder_{kind}" if f"calendar.reminder_{kind}" in turn.texts else "calendar.reminder"
        values = {k: v for k, v in args.items() if isinstance(v, str | int)}
        try:
            title = to_plain(turn.t(title_key, **values))
        except (KeyError, IndexError):  # a row written with other fields
            title = to_plain(turn.t("calendar.reminder"))
        events.append(CalendarEvent(f"reminder:{row['key']}", title, when,
                                    when + timedelta(minutes=REMINDER_MINUTES),
                                    to_plain(body(turn.texts, kind, args))))
    return events

