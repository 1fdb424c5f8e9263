"""Timeline nudges, the pure part: their settings from ``content/nudges.yaml``, which nudges
a user's records call for, as plain values (no database, no clock but ``today``), and the
words of each one.

The table that holds them is ``flows/storage/nudges.py``; the feature that keeps it in step
with a user's records and answers a nudge's buttons is ``flows/features/nudges.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Int, Number, Texts, between, read, rule
from flows.base.text import clean, escape
from flows.domain.outreach import followup_due_on
from flows.domain.plan import load_milestones, milestone_dates
from flows.domain.records import Experience, Profile
from flows.domain.timezones import QuietHours, parse_hhmm

KINDS = ("milestone", "letter", "reflection", "followup", "vetting")
AMOUNTS = ("all", "milestones", "none")  # how many nudges a user wants: /settings

# -- content -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    tick_seconds: float = 30.0
    batch: int = 300
    rate_per_second: float = 25.0
    per_chat_seconds: float = 1.0
    lease: timedelta = timedelta(minutes=5)
    network_retries: int = 3
    network_backoff_seconds: float = 2.0
    retry_after_max: int = 3
    max_attempts: int = 5
    parallel: int = 8  # messages in flight at once, so one slow chat never holds up the rest


@dataclass(frozen=True, slots=True)
class NudgeConfig:
    send_time: time
    quiet: QuietHours
    morning: timedelta  # a late nudge goes out only within this long after the morning slot
    min_gap: timedelta
    snooze_days: int
    letter_days_before_end: int
    reflection_days_after_end: int
    vetting_days: int
    expire_days: Mapping[str, int]
    delivery: DeliveryConfig


def _clock(value: object) -> time:
    found = parse_hhmm(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError("must be a time like 09:30")
    return found


Clock = Annotated[time, BeforeValidator(_clock)]


class _Schedule(ContentModel):
    send_time: Clock
    morning_hours: Annotated[Number, between(0.5, 4)]
    quiet_start: Clock
    quiet_end: Clock
    min_gap_hours: Annotated[Number, between(0, 24 * 7)]
    snooze_days: Annotated[Int, between(1, 60)]


class _Events(ContentModel):
    letter_days_before_end: Annotated[Int, between(1, 28)]
    reflection_days_after_end: Annotated[Int, between(1, 28)]
    vetting_days: Annotated[Int, between(1, 90)]


class _Delivery(ContentModel):
    tick_seconds: Annotated[Number, between(1, 3600)]
    batch: Annotated[Int, between(1, 100_000)]
    rate_per_second: Annotated[Number, between(0.1, 30)]
    per_chat_seconds: Annotated[Number, between(0, 60)]
    lease_minutes: Annotated[Number, between(1, 24 * 60)]
    network_retries: Annotated[Int, between(0, 10)]
    network_backoff_seconds: Annotated[Number, between(0, 600)]
    retry_after_max: Annotated[Int, between(0, 10)]
    max_attempts: Annotated[Int, between(1, 50)]
    parallel: Annotated[Int, between(1, 64)]


class NudgesFile(ContentModel):
    """``content/nudges.yaml``."""

    schedule: _Schedule
    events: _Events
    expire_days: dict[str, Annotated[Int, between(1, 365)]]
    delivery: _Delivery

    @field_validator("expire_days")
    @classmethod
    def _every_kind(cls, days: dict[str, int]) -> dict[str, int]:
        missing, unknown = set(KINDS) - set(days), sorted(set(days) - set(KINDS))
        if missing:
            raise rule(f"expire_days needs {sorted(missing)}")
        if unknown:
            raise rule(f"expire_days: '{unknown[0]}' is not a kind of nudge ({', '.join(KINDS)})", unknown[0])
        return days

    def config(self) -> NudgeConfig:
        sched, events, deliv = self.schedule, self.events, self.delivery
        return NudgeConfig(
            send_time=sched.send_time,
            quiet=QuietHours(sched.quiet_start, sched.quiet_end),
            morning=timedelta(hours=sched.morning_hours),
            min_gap=timedelta(hours=sched.min_gap_hours),
            snooze_days=sched.snooze_days,
            letter_days_before_end=events.letter_days_before_end,
            reflection_days_after_end=events.reflection_days_after_end,
            vetting_days=events.vetting_days,
            expire_days=MappingProxyType({k: self.expire_days[k] for k in KINDS}),
            delivery=DeliveryConfig(
                tick_seconds=deliv.tick_seconds,
                batch=deliv.batch,
                rate_per_second=deliv.rate_per_second,
                per_chat_seconds=deliv.per_chat_seconds,
                lease=timedelta(minutes=deliv.lease_minutes),
                network_retries=deliv.network_retries,
                network_backoff_seconds=deliv.network_backoff_seconds,
                retry_after_max=deliv.retry_after_max,
                max_attempts=deliv.max_attempts,
                parallel=deliv.parallel,
            ),
        )


def load_config(path: Path = CONTENT_DIR / "nudges.yaml") -> NudgeConfig:
    return read(path, NudgesFile).config()


NUDGES = ContentFile("nudges.yaml", load_config)


def config() -> NudgeConfig:
    """The nudge settings from ``content/nudges.yaml``, as loaded at start."""
    return NUDGES.value()


# -- what should be scheduled (pure) -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Wanted:
    """One nudge the user's records call for."""

    key: str
    kind: str
    due_on: date
    expires_on: date
    args: Mapping[str, Any] = field(default_factory=dict)
    new_ok: bool = True  # False: keep an existing row, but do not create one (a window opening today)


def _month_end(value: str) -> date | None:
    try:
        year, month = (int(p) for p in value.split("-")[:2])
        first_next = date(year + month // 12, month % 12 + 1, 1)
    except (ValueError, AttributeError):
        return None
    return first_next - timedelta(days=1)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


def milestone_nudges(
    windows: Iterable[tuple[Any, date, date]], today: date, student: bool, cfg: NudgeConfig
) -> list[Wanted]:
    """A nudge at the start of each window still ahead (``windows``: (milestone, start, end))."""
    days = timedelta(days=cfg.expire_days["milestone"])
    return [
        Wanted(
            f"ms:{m.id}", "milestone", start, min(start + days, end),
            {"m": m.id, "title": m.title, "student": int(student)}, new_ok=start > today,
        )
        for m, start, end in windows
        if start >= today
    ]


def experience_nudges(experiences: Iterable[Any], today: date, cfg: NudgeConfig) -> list[Wanted]:
    """Per rotation: ask for a letter in its last week (if none asked yet); reflect just after.

    ``experiences`` need ``id``, ``institution``, ``end`` ("YYYY-MM", inclusive) and ``letter``.
    A rotation that ended long ago (logged afterwards) gets nothing: no bursts of old news.
    """
    wanted = []
    for exp in experiences:
        last = _month_end(exp.end or "")
        if last is None:
            continue
        place = clean(exp.institution or "", 80)
        if exp.letter in (None, "", "none") and today <= last:
            start = last - timedelta(days=cfg.letter_days_before_end - 1)
            expires = last + timedelta(days=cfg.expire_days["letter"])
            wanted.append(Wanted(f"lt:{exp.id}", "letter", max(start, today), expires, {"place": place}))
        due = last + timedelta(days=cfg.reflection_days_after_end)
        expires = due + timedelta(days=cfg.expire_days["reflection"])
        if today <= expires:
            wanted.append(Wanted(f"rf:{exp.id}", "reflection", max(due, today), expires, {"place": place}))
    return wanted


def vetting_nudges(
    rows: Iterable[tuple[int, str, int, str | None]], today: date, cfg: NudgeConfig
) -> list[Wanted]:
    """``rows``: (program id, name, count of "Not sure" answers, first such answer's time)."""
    wanted = []
    for pid, name, unsure, first in rows:
        answered = _day(first)
        if not unsure or answered is None:
            continue
        due = answered + timedelta(days=cfg.vetting_days)
        expires = due + timedelta(days=cfg.expire_days["vetting"])
        if today <= expires:
            args = {"program": clean(name or "", 80), "count": unsure}
            wanted.append(Wanted(f"vt:{pid}", "vetting", max(due, today), expires, args))
    return wanted


def outreach_nudges(
    rows: Iterable[Mapping[str, Any]], today: date, days: int, cfg: NudgeConfig
) -> list[Wanted]:
    """``rows``: outreach log entries (id, contact, status, sent_on, followed_up_on). A follow-up
    ``days`` after an email that is still unanswered and not followed up yet."""
    wanted = []
    for row in rows:
        due = followup_due_on(row, days)
        if due is None:
            continue
        expires = due + timedelta(days=cfg.expire_days["followup"])
        if today <= expires:
            args = {"contact": clean(row.get("contact") or "", 80), "days": days}
            wanted.append(Wanted(f"fu:{row['id']}", "followup", max(due, today), expires, args))
    return wanted


def called_for(
    profile: Profile | None,
    experiences: Iterable[Experience],
    outreach: Iterable[Mapping[str, Any]],
    unsure: Iterable[tuple[int, str, int, str | None]],
    today: date,
    cfg: NudgeConfig,
    followup_days: int,
) -> list[Wanted]:
    """Every nudge a user's records call for (before preferences): the timeline's windows from
    the profile, letters and reflections from the experiences, follow-ups from the outreach log
    (``followup_days`` after each email), and the vetting answers still "Not sure"."""
    try:
        application = profile.application_date if profile else None
    except ValueError:  # not a month we can read: no milestones rather than a crash
        application = None
    wanted: list[Wanted] = []
    if profile and application:
        wanted += milestone_nudges(milestone_dates(application), today, profile.is_student, cfg)
    wanted += experience_nudges(experiences, today, cfg)
    wanted += outreach_nudges(outreach, today, followup_days, cfg)
    wanted += vetting_nudges(unsure, today, cfg)
    return wanted


def spread(wanted: Sequence[Wanted]) -> list[Wanted]:
    """At most one nudge per day: later ones on a crowded day move to the next free day."""
    taken: set[date] = set()
    out = []
    for w in sorted(wanted, key=lambda w: (w.due_on, KINDS.index(w.kind), w.key)):
        day = w.due_on
        while day in taken:
            day += timedelta(days=1)
        taken.add(day)
        out.append(w if day == w.due_on else Wanted(w.key, w.kind, day, max(w.expires_on, day), w.args, w.new_ok))
    return out


# -- the words of a nudge ----------------------------------------------------------------------
@functools.cache
def milestones() -> Mapping[str, Any]:
    """The timeline's milestones by id (what a milestone nudge names)."""
    return MappingProxyType({m.id: m for m in load_milestones()})


def body(texts: Texts, kind: str, args: Mapping[str, Any]) -> str:
    """The text of one nudge (the reminder itself, its calendar event's description)."""
    if kind == "milestone":
        milestone = milestones().get(str(args.get("m")))
        title = milestone.title if milestone else str(args.get("title", ""))
        tasks = milestone.tasks_for(bool(args.get("student"))) if milestone else ()
        why = f"nudges.why.{args.get('m')}"
        lines = [texts.fmt("nudges.milestone", title=title)]
        lines += [f"• {escape(task)}" for task in tasks]
        if why in texts:
            lines.append(texts[why])
        return "\n".join(lines)
    values = {k: v for k, v in args.items() if isinstance(v, str | int)}
    try:
        return texts.fmt(f"nudges.{kind}", **values)
    except (KeyError, IndexError):  # an unknown kind, or a row written with other fields
        return texts["nudges.generic"]
