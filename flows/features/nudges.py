"""Timeline nudges: short reminders of the right step at the right moment, in the user's morning.

The ``nudges`` table is the only truth about what will be sent. A user's schedule is
recomputed (idempotently) whenever their profile, experiences, outreach or vetted programs
change: one row per nudge, keyed ``(user_id, key)``. Rows still waiting ("scheduled", or
"held" while the user paused) are inserted, moved or deleted; rows that were claimed or sent
are never touched again, so nothing is sent twice.

Delivery (``bot/delivery.py``) claims due rows atomically and moves each one
``scheduled → claimed → sending → sent`` (or ``failed``/``skipped``): ``claimed`` while it waits
for its turn, ``sending`` only from the moment its HTTP request leaves. Everything it needs from the
database lives here as plain functions so the terminal channel and the CLI can share it.

Kinds and keys:

- ``milestone`` ``ms:<milestone id>``: the start of a timeline window still ahead of the user
  (windows already open are summarised in the plan, never fired).
- ``letter`` ``lt:<experience id>``: the last week of a rotation with no letter asked yet.
- ``reflection`` ``rf:<experience id>``: the day after a rotation's last month.
- ``followup`` ``fu:<outreach id>``: an email still without a reply some days later.
- ``vetting`` ``vt:<program id>``: a "Not sure" checklist answer, a few days later.
- A snooze adds ``<key>#<n>`` a week later.
"""

from __future__ import annotations

import functools
import json
import secrets
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.content import CONTENT_DIR, ContentError, Texts, line_of, load_yaml, require
from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import clean, escape
from flows.base.types import Button, Reply, keyboard
from flows.domain.plan import load_milestones, load_rules, milestone_dates
from flows.domain.timezones import (
    QuietHours,
    local_today,
    morning_slot,
    next_morning,
    parse_hhmm,
    parse_quiet_hours,
    utc_offset_label,
    zone_or_utc,
)
from flows.engine.engine import CommandHandler, Engine, Feature, MenuEntry, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.features.email import followup_days, followup_due_on
from flows.features.plan import parse_timezone
from flows.storage.experiences import list_experiences
from flows.storage.profiles import load_profile, save_answer
from flows.storage.store import Store

KINDS = ("milestone", "letter", "reflection", "followup", "vetting")
AMOUNTS = ("all", "milestones", "none")
PENDING = ("scheduled", "held")  # rows a reschedule may still change
SOURCES = frozenset({"profile", "experiences", "outreach", "programs"})  # turn.changed names


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


def _time(path: Path, node: Mapping[str, Any], key: str) -> time:
    value = parse_hhmm(str(require(path, node, key)))
    if value is None:
        raise ContentError(path, line_of(node), f"'{key}' must be a time like 09:30")
    return value


def _number(path: Path, node: Mapping[str, Any], key: str, low: float, high: float) -> Any:
    value = require(path, node, key, (int, float))
    if isinstance(value, bool) or not low <= value <= high:
        raise ContentError(path, line_of(node), f"'{key}' must be between {low} and {high}")
    return value


def load_config(path: Path = CONTENT_DIR / "nudges.yaml") -> NudgeConfig:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    sched = require(path, data, "schedule", dict)
    events = require(path, data, "events", dict)
    expire = require(path, data, "expire_days", dict)
    deliv = require(path, data, "delivery", dict)
    missing = set(KINDS) - set(expire)
    if missing:
        raise ContentError(path, line_of(expire), f"expire_days needs {sorted(missing)}")
    return NudgeConfig(
        send_time=_time(path, sched, "send_time"),
        quiet=QuietHours(_time(path, sched, "quiet_start"), _time(path, sched, "quiet_end")),
        morning=timedelta(hours=_number(path, sched, "morning_hours", 0.5, 4)),
        min_gap=timedelta(hours=_number(path, sched, "min_gap_hours", 0, 24 * 7)),
        snooze_days=int(_number(path, sched, "snooze_days", 1, 60)),
        letter_days_before_end=int(_number(path, events, "letter_days_before_end", 1, 28)),
        reflection_days_after_end=int(_number(path, events, "reflection_days_after_end", 1, 28)),
        vetting_days=int(_number(path, events, "vetting_days", 1, 90)),
        expire_days=MappingProxyType({k: int(_number(path, expire, k, 1, 365)) for k in KINDS}),
        delivery=DeliveryConfig(
            tick_seconds=float(_number(path, deliv, "tick_seconds", 1, 3600)),
            batch=int(_number(path, deliv, "batch", 1, 100_000)),
            rate_per_second=float(_number(path, deliv, "rate_per_second", 0.1, 30)),
            per_chat_seconds=float(_number(path, deliv, "per_chat_seconds", 0, 60)),
            lease=timedelta(minutes=_number(path, deliv, "lease_minutes", 1, 24 * 60)),
            network_retries=int(_number(path, deliv, "network_retries", 0, 10)),
            network_backoff_seconds=float(_number(path, deliv, "network_backoff_seconds", 0, 600)),
            retry_after_max=int(_number(path, deliv, "retry_after_max", 0, 10)),
            max_attempts=int(_number(path, deliv, "max_attempts", 1, 50)),
            parallel=int(_number(path, deliv, "parallel", 1, 64)),
        ),
    )


@functools.cache
def config() -> NudgeConfig:
    """The nudge settings from ``content/nudges.yaml``, loaded once per process."""
    return load_config()


@functools.cache
def _milestones() -> Mapping[str, Any]:
    return MappingProxyType({m.id: m for m in load_milestones()})


# -- storage -----------------------------------------------------------------------------------
migrations = Migrations("usce-coach.nudges")


@migrations()
def m001_nudges(db: Database) -> None:
    db.table("nudges").create(
        {
            "id": int,
            "user_id": str,
            "key": str,  # unique per user: "ms:secure", "lt:17", "lt:17#1" (a snooze)
            "kind": str,  # one of KINDS
            "channel": str,  # "tg" (the dispatcher sends) or "term" (shown when the user writes)
            "status": str,  # scheduled | held | claimed | sending | sent | failed | skipped
            "due_on": str,  # the user's local day, "YYYY-MM-DD"
            "due_at": str,  # UTC instant to send, "YYYY-MM-DDTHH:MM:SSZ" (sorts as text)
            "expires_on": str,  # local day after which it is skipped rather than sent late
            "args": str,  # JSON: what the text needs (place, contact...)
            "attempts": int,  # ticks that failed on network errors
            "claim_token": str,
            "claimed_at": str,
            "attempted_at": str,  # when its request left (status "sending"): after a crash, in doubt
            "sent_at": str,
            "error": str,
            "answer": str,  # the user's button: done | snoozed | stopped
            "answered_at": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"user_id", "key", "kind", "channel", "status", "due_on", "due_at", "expires_on"},
        defaults={"attempts": 0},
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table("nudges").create_index(["user_id", "key"], unique=True)
    # The claim is a range scan of this index: status = ? AND channel = ? AND due_at <= ?
    db.table("nudges").create_index(["status", "channel", "due_at"], index_name="nudges_due")
    db.table("nudge_settings").create(
        {
            "user_id": str,
            "quiet_start": str,  # "HH:MM"
            "quiet_end": str,
            "amount": str,  # all | milestones | none
            "paused": int,
            "muted": str,  # JSON list of kinds stopped with "Stop these"
            "updated_at": str,
        },
        pk="user_id",
        foreign_keys=[("user_id", "users", "user_id")],
    )


def stamp(moment: datetime) -> str:
    """A UTC instant as sortable text (the format of ``due_at``, ``sent_at``...)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@contextmanager
def _write(store: Store) -> Iterator[None]:
    """A write transaction taken at once (BEGIN IMMEDIATE), or a savepoint inside an open one."""
    conn = store.conn
    if conn.in_transaction:
        with store.atomic():
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


_TABLES: weakref.WeakKeyDictionary[Store, frozenset[str]] = weakref.WeakKeyDictionary()


def _tables(store: Store) -> frozenset[str]:
    """The tables of this database, read once per store (sources written by other features
    may not exist in every installation)."""
    found = _TABLES.get(store)
    if found is None:
        rows = store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        found = frozenset(r[0] for r in rows)
        if "nudges" in found:  # only cache once migrations have run
            _TABLES[store] = found
    return found


# -- the user's preferences --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Prefs:
    quiet: QuietHours
    amount: str = "all"
    paused: bool = False
    muted: frozenset[str] = frozenset()

    def kinds(self) -> frozenset[str]:
        """The kinds of nudge this user wants."""
        if self.amount == "none":
            return frozenset()
        wanted = {"milestone"} if self.amount == "milestones" else set(KINDS)
        return frozenset(wanted - self.muted)


def load_prefs(store: Store, user_id: str, cfg: NudgeConfig | None = None) -> Prefs:
    cfg = cfg or config()
    row = store.conn.execute(
        "SELECT quiet_start, quiet_end, amount, paused, muted FROM nudge_settings WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return Prefs(cfg.quiet)
    start, end = parse_hhmm(row[0] or ""), parse_hhmm(row[1] or "")
    quiet = QuietHours(start, end) if start is not None and end is not None else cfg.quiet
    muted = frozenset(k for k in json.loads(row[4] or "[]") if k in KINDS)
    return Prefs(quiet, row[2] if row[2] in AMOUNTS else "all", bool(row[3]), muted)


def save_prefs(store: Store, user_id: str, now: datetime, **fields: Any) -> None:
    row: dict[str, Any] = {"user_id": user_id, "updated_at": stamp(now)}
    for name, value in fields.items():
        if name == "muted":
            value = json.dumps(sorted(value))
        elif name == "paused":
            value = int(value)
        row[name] = value
    store.db.table("nudge_settings").upsert(row, pk="user_id", alter=False)


def user_zone(store: Store, user_id: str) -> tuple[str | None, tzinfo]:
    """The user's IANA zone name (None if not given yet) and the zone to compute with."""
    if "profiles" not in _tables(store):
        return None, UTC
    row = store.conn.execute("SELECT timezone FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
    name = row[0] if row and row[0] else None
    return name, zone_or_utc(name)


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


def wanted_for(store: Store, user_id: str, today: date, cfg: NudgeConfig) -> list[Wanted]:
    """Every nudge the user's current records call for (before preferences)."""
    tables = _tables(store)
    wanted: list[Wanted] = []
    if "profiles" in tables:
        profile = load_profile(store, user_id)
        try:
            application = profile.application_date if profile else None
        except ValueError:  # not a month we can read: no milestones rather than a crash
            application = None
        if profile and application:
            wanted += milestone_nudges(milestone_dates(application), today, profile.is_student, cfg)
    if "experiences" in tables:
        wanted += experience_nudges(list_experiences(store, user_id), today, cfg)
    if "outreach" in tables:
        cursor = store.conn.execute(
            "SELECT id, contact, status, sent_on, followed_up_on FROM outreach WHERE user_id = ?"
            " AND status = 'sent'", (user_id,)
        )
        names = [d[0] for d in cursor.description]
        entries = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        wanted += outreach_nudges(entries, today, followup_days(), cfg)
    if "programs" in tables and "program_answers" in tables:
        rows = store.conn.execute(
            "SELECT p.id, p.name, count(*), min(a.answered_at) FROM programs p"
            " JOIN program_answers a ON a.program_id = p.id AND a.user_id = p.user_id"
            " WHERE p.user_id = ? AND a.answer = '?' GROUP BY p.id",
            (user_id,),
        ).fetchall()
        wanted += vetting_nudges(rows, today, cfg)
    return wanted


# -- keeping the table in step -----------------------------------------------------------------
def channel_of(user_id: str) -> str:
    return "term" if user_id.startswith("term:") else "tg"


def reschedule(store: Store, user_id: str, now: datetime, cfg: NudgeConfig | None = None) -> None:
    """Bring the user's waiting nudges in line with their records and preferences. Idempotent;
    never touches a nudge that was claimed or sent."""
    cfg = cfg or config()
    if "nudges" not in _tables(store):
        return
    _, zone = user_zone(store, user_id)
    today = local_today(now, zone)
    prefs = load_prefs(store, user_id, cfg)
    kinds = prefs.kinds()
    wanted = spread([w for w in wanted_for(store, user_id, today, cfg) if w.kind in kinds])
    status = "held" if prefs.paused else "scheduled"
    existing = {
        row[1]: row
        for row in store.conn.execute(
            "SELECT id, key, status, due_on, due_at, args FROM nudges WHERE user_id = ?", (user_id,)
        )
    }
    by_key = {w.key: w for w in wanted}
    updated = stamp(now)
    with _write(store):
        for nid, key, row_status, due_on, due_at, _args in existing.values():
            if row_status not in PENDING:
                continue
            base = key.split("#", 1)[0]
            if base not in by_key:  # its record is gone, or the user no longer wants this kind
                store.conn.execute("DELETE FROM nudges WHERE id = ?", (nid,))
            elif "#" in key:  # a snooze keeps its day; follow the zone and the pause
                slot = stamp(morning_slot(date.fromisoformat(due_on), cfg.send_time, prefs.quiet, zone))
                if (slot, status) != (due_at, row_status):
                    store.conn.execute(
                        "UPDATE nudges SET due_at = ?, status = ?, updated_at = ? WHERE id = ?",
                        (slot, status, updated, nid),
                    )
        for w in wanted:
            row = existing.get(w.key)
            day = w.due_on
            if row is None or row[3] != day.isoformat():
                # New or moved: if this day's morning is already over, the next morning. (A row
                # already waiting for this very day keeps it, so the tick still sends it today.)
                while morning_slot(day, cfg.send_time, prefs.quiet, zone) < now:
                    day += timedelta(days=1)
            slot = stamp(morning_slot(day, cfg.send_time, prefs.quiet, zone))
            args = json.dumps(dict(w.args), sort_keys=True, ensure_ascii=False)
            if row is None:
                if w.new_ok:
                    store.conn.execute(
                        "INSERT INTO nudges (user_id, key, kind, channel, status, due_on, due_at,"
                        " expires_on, args, attempts, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                        (user_id, w.key, w.kind, channel_of(user_id), status, day.isoformat(),
                         slot, w.expires_on.isoformat(), args, updated, updated),
                    )
            elif row[2] in PENDING and (row[2], row[3], row[4], row[5]) != (status, day.isoformat(), slot, args):
                store.conn.execute(
                    "UPDATE nudges SET status = ?, due_on = ?, due_at = ?, expires_on = ?, args = ?,"
                    " updated_at = ? WHERE id = ?",
                    (status, day.isoformat(), slot, w.expires_on.isoformat(), args, updated, row[0]),
                )


# -- claiming and marking (used by bot/delivery.py and the terminal) ----------------------------
@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    user_id: str
    key: str
    kind: str
    due_at: str
    expires_on: str
    args: Mapping[str, Any]
    attempts: int
    token: str


_CLAIM = (
    "UPDATE nudges SET status = 'claimed', claim_token = :token, claimed_at = :now,"
    " attempted_at = NULL, updated_at = :now"
    " WHERE id IN (SELECT id FROM nudges WHERE status = 'scheduled' AND channel = :channel"
    " AND due_at <= :now ORDER BY due_at LIMIT :limit)"
    " RETURNING id, user_id, key, kind, due_at, expires_on, args, attempts"
)
CLAIM_PLAN_SQL = (  # the inner query of the claim, for EXPLAIN QUERY PLAN in the benchmark
    "SELECT id FROM nudges WHERE status = 'scheduled' AND channel = :channel"
    " AND due_at <= :now ORDER BY due_at LIMIT :limit"
)
HELD = "status IN ('claimed', 'sending')"  # a row some claimer holds


def new_token() -> str:
    return secrets.token_hex(8)


def _claimed(row: Sequence[Any], token: str) -> Claimed:
    return Claimed(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "{}"), row[7], token)


def claim_due(store: Store, now: datetime, limit: int, token: str, channel: str = "tg") -> list[Claimed]:
    """Atomically take up to ``limit`` due nudges (oldest first) for this claimer: one UPDATE …
    RETURNING, so two ticks or two processes never get the same row. They are ``claimed``:
    held for this claimer, not yet on their way."""
    with _write(store):
        rows = store.conn.execute(
            _CLAIM, {"token": token, "now": stamp(now), "channel": channel, "limit": limit}
        ).fetchall()
    return sorted((_claimed(r, token) for r in rows), key=lambda c: (c.due_at, c.id))


def _set(store: Store, nudge: Claimed, sql: str, *params: Any, held: str = HELD) -> bool:
    """Change a claimed row, only while this claimer still holds it."""
    with _write(store):
        cursor = store.conn.execute(
            f"UPDATE nudges SET {sql} WHERE id = ? AND claim_token = ? AND {held}",
            (*params, nudge.id, nudge.token),
        )
    return cursor.rowcount == 1


def mark_sending(store: Store, nudge: Claimed, now: datetime) -> bool:
    """Its HTTP request is leaving now (called after every rate limiter): from here on a crash
    leaves it in doubt. False if the claim was lost (another process took it back)."""
    return _set(store, nudge, "status = 'sending', attempted_at = ?, updated_at = ?", stamp(now), stamp(now))


def unmark_sending(store: Store, nudge: Claimed, now: datetime) -> bool:
    """The request certainly did not reach Telegram (refused, or never connected): claimed again."""
    return _set(store, nudge, "status = 'claimed', attempted_at = NULL, updated_at = ?", stamp(now),
                held="status = 'sending'")


def mark_sent(store: Store, nudge: Claimed, now: datetime) -> bool:
    return _set(store, nudge, "status = 'sent', sent_at = ?, error = NULL, updated_at = ?", stamp(now), stamp(now))


def mark_failed(store: Store, nudge: Claimed, now: datetime, error: str, status: str = "failed") -> bool:
    return _set(store, nudge, "status = ?, error = ?, updated_at = ?", status, error[:200], stamp(now))


def release(
    store: Store, nudge: Claimed, due_at: datetime, now: datetime, *,
    status: str = "scheduled", error: str | None = None, failed_attempt: bool = False,
) -> bool:
    """Give a claimed nudge back, due again at ``due_at`` (deferred, held, or retried later)."""
    return _set(
        store, nudge,
        "status = ?, due_at = ?, claim_token = NULL, claimed_at = NULL, attempted_at = NULL,"
        " error = ?, attempts = attempts + ?, updated_at = ?",
        status, stamp(due_at), error, int(failed_attempt), stamp(now),
    )


def recover(store: Store, now: datetime, lease: timedelta | None) -> tuple[int, int]:
    """Deal with claims left behind by a crash: all of them at start (``lease`` None: this
    process holds none yet), else those older than ``lease`` (a process that died while
    another one kept running).

    ``claimed`` (never on its way to Telegram): back to scheduled, sent later.
    ``sending`` (its request had left, no answer recorded): in doubt, so dropped
    (``failed``), never resent. Returns (rescheduled, dropped).
    """
    old, args = ("", ()) if lease is None else (" AND claimed_at < ?", (stamp(now - lease),))
    with _write(store):
        again = store.conn.execute(
            "UPDATE nudges SET status = 'scheduled', claim_token = NULL, claimed_at = NULL, attempted_at = NULL,"
            f" updated_at = ? WHERE status = 'claimed'{old}",
            (stamp(now), *args),
        ).rowcount
        dropped = store.conn.execute(
            "UPDATE nudges SET status = 'failed', error = 'in doubt: a crash during sending',"
            f" updated_at = ? WHERE status = 'sending'{old}",
            (stamp(now), *args),
        ).rowcount
    return again, dropped


def stop_user(store: Store, user_id: str) -> int:
    """The user blocked the bot: mark them inactive and drop their waiting nudges (a later
    reschedule, when they come back and change something, brings them back)."""
    with _write(store):
        store.set_active(user_id, False)
        return store.conn.execute(
            "DELETE FROM nudges WHERE user_id = ? AND status IN ('scheduled', 'held')", (user_id,)
        ).rowcount


# -- deciding, at send time --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "send" | "defer" | "hold" | "skip"
    reply: Reply | None = None
    chat_id: int | None = None
    at: datetime | None = None
    reason: str = ""


def decide(
    store: Store, texts: Texts, nudge: Claimed, now: datetime,
    cfg: NudgeConfig | None = None, *, present: bool = False,
) -> Decision:
    """What to do with a claimed nudge right now. ``present``: the user is writing (terminal),
    so quiet hours do not apply."""
    cfg = cfg or config()
    user = store.conn.execute(
        "SELECT chat_id, active FROM users WHERE user_id = ?", (nudge.user_id,)
    ).fetchone()
    if user is None or not user[1]:
        return Decision("skip", reason="inactive")
    prefs = load_prefs(store, nudge.user_id, cfg)
    if nudge.kind not in prefs.kinds():
        return Decision("skip", reason="not wanted")
    if prefs.paused:
        return Decision("hold", at=parse_stamp(nudge.due_at), reason="paused")
    _, zone = user_zone(store, nudge.user_id)
    if local_today(now, zone) > date.fromisoformat(nudge.expires_on):
        return Decision("skip", reason="expired")

    def morning(at: datetime) -> datetime:
        return next_morning(at, cfg.send_time, prefs.quiet, zone, cfg.morning)

    earliest = now if present else morning(now)  # late (downtime, a backlog): the next morning window
    last = store.conn.execute(
        "SELECT max(sent_at) FROM nudges WHERE user_id = ? AND status = 'sent'", (nudge.user_id,)
    ).fetchone()[0]
    if last and parse_stamp(last) + cfg.min_gap > earliest:
        later = parse_stamp(last) + cfg.min_gap
        earliest = later if present else morning(later)
    if earliest > now:
        return Decision("defer", at=earliest, reason="quiet hours or one a day")
    if not present and user[0] is None:
        return Decision("skip", reason="no chat")
    return Decision("send", render(texts, nudge.id, nudge.kind, nudge.args), user[0])


def render(texts: Texts, nudge_id: int, kind: str, args: Mapping[str, Any]) -> Reply:
    """The message of one nudge, with its Done / Snooze a week / Stop these buttons."""
    return Reply(
        body(texts, kind, args),
        keyboard(
            [Button(texts["nudges.button_done"], f"n:d:{nudge_id}"),
             Button(texts["nudges.button_snooze"], f"n:s:{nudge_id}")],
            [Button(texts["nudges.button_stop"], f"n:x:{nudge_id}")],
        ),
    )


def body(texts: Texts, kind: str, args: Mapping[str, Any]) -> str:
    if kind == "milestone":
        milestone = _milestones().get(str(args.get("m")))
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


def due_replies(engine: Engine, user_id: str, limit: int = 1) -> list[Reply]:
    """For the terminal channel: the user's due nudges, shown when they next write (one at a time).
    Each is marked sent as it is shown."""
    store = engine.store
    if "nudges" not in _tables(store):
        return []
    now = engine.clock()
    token = new_token()
    replies: list[Reply] = []
    for _ in range(5):  # a few expired or unwanted ones may be skipped on the way
        if len(replies) >= limit:
            break
        with _write(store):
            rows = store.conn.execute(
                "UPDATE nudges SET status = 'claimed', claim_token = ?, claimed_at = ?"
                " WHERE id = (SELECT id FROM nudges WHERE user_id = ? AND status = 'scheduled'"
                " AND due_at <= ? ORDER BY due_at LIMIT 1)"
                " RETURNING id, user_id, key, kind, due_at, expires_on, args, attempts",
                (token, stamp(now), user_id, stamp(now)),
            ).fetchall()
        if not rows:
            break
        nudge = _claimed(rows[0], token)
        decision = decide(store, engine.texts, nudge, now, present=True)
        if decision.action == "send" and decision.reply is not None:
            mark_sent(store, nudge, now)  # shown in this very reply
            replies.append(decision.reply)
        elif decision.action in ("defer", "hold"):
            release(store, nudge, decision.at or now, now, status="held" if decision.action == "hold" else "scheduled")
            break
        else:
            mark_failed(store, nudge, now, decision.reason, status="skipped")
    return replies


def schedule_rows(store: Store, user_id: str) -> list[dict[str, Any]]:
    """Every nudge row of a user, soonest first (for ``usce-coach nudges`` and tests)."""
    if "nudges" not in _tables(store):
        return []
    return list(store.db.table("nudges").rows_where("user_id = ?", [user_id], order_by="due_at, id"))


def preview(engine: Engine, user_id: str, refresh: bool = False) -> list[str]:
    """A user's schedule as plain lines, soonest first (``usce-coach nudges --user NAME``).
    ``refresh`` recomputes it from their records first."""
    from flows.base.text import to_plain

    store = engine.store
    if store.user(user_id) is None:
        return [f"No user {user_id} in this database."]
    if refresh:
        with store.atomic():
            reschedule(store, user_id, engine.clock())
    zone_name, zone = user_zone(store, user_id)
    prefs = load_prefs(store, user_id)
    lines = [
        f"Nudges for {user_id} — zone {zone_name or 'UTC (not set)'}, quiet hours "
        f"{prefs.quiet.label()}, receiving {prefs.amount}{', paused' if prefs.paused else ''}"
        + (f", stopped: {', '.join(sorted(prefs.muted))}" if prefs.muted else ""),
    ]
    found = schedule_rows(store, user_id)
    for row in found:
        local = parse_stamp(row["due_at"]).astimezone(zone)
        first = to_plain(body(engine.texts, row["kind"], json.loads(row["args"] or "{}"))).splitlines()[0]
        extra = f" [{row['answer']}]" if row["answer"] else (f" ({row['error']})" if row["error"] else "")
        lines.append(f"{local:%Y-%m-%d %H:%M} {row['status']:<9} {row['key']:<14} {first[:60]}{extra}")
    if not found:
        lines.append("Nothing scheduled." + ("" if refresh else " (--refresh recomputes from their records)"))
    return lines


# -- the feature: nudge buttons and /settings ---------------------------------------------------
SETTINGS_FLOW = "settings"
MENU, ZONE, QUIET = "menu", "zone", "quiet"

SETTINGS_SPEC = FlowSpec(
    name=SETTINGS_FLOW,
    states=[MENU, ZONE, QUIET],
    transitions=[
        {"trigger": "ask_zone", "source": [MENU, ZONE, QUIET], "dest": ZONE},
        {"trigger": "ask_quiet", "source": [MENU, ZONE, QUIET], "dest": QUIET},
        {"trigger": "saved", "source": [ZONE, QUIET], "dest": MENU},
    ],
    initial=MENU,
)
SETTINGS_MACHINE = FlowMachine(SETTINGS_SPEC)

QUIET_PRESETS = ("21:00-09:00", "22:00-08:00", "23:00-07:00", "00:00-00:00")


class Nudges(Feature):
    name = "nudges"
    prefix = "n"
    migrations = migrations
    flows = (SETTINGS_FLOW,)
    menu_items = (MenuEntry("settings.menu", "settings", 80, section="settings"),)
    flow_titles = {SETTINGS_FLOW: "settings.flow_title"}

    def __init__(self) -> None:
        config()  # validate content at start, not on the first update
        _milestones()

    def commands(self) -> dict[str, CommandHandler]:
        return {"settings": self.settings}

    def help_keys(self) -> tuple[str, ...]:
        return ("settings.help",)

    def on_changed(self, turn: Turn, changed: set[str]) -> None:
        if changed & SOURCES:
            reschedule(turn.store, turn.user_id, turn.now)

    # -- /settings -------------------------------------------------------------------------
    def settings(self, turn: Turn, args: str) -> list[Reply]:
        if turn.session.flow == SETTINGS_FLOW:
            turn.session.leave()
        return [self._menu(turn)]

    def _menu(self, turn: Turn, note: str = "", replace: bool = False) -> Reply:
        prefs = load_prefs(turn.store, turn.user_id)
        zone_name, _ = user_zone(turn.store, turn.user_id)
        zone = (
            turn.t("settings.zone_line", zone=zone_name, offset=utc_offset_label(zone_name, turn.now))
            if zone_name else turn.t("settings.zone_unset")
        )
        quiet = (
            turn.t("settings.quiet_line", hours=prefs.quiet.label())
            if prefs.quiet.start != prefs.quiet.end else turn.t("settings.quiet_none")
        )
        lines = [note] if note else []
        lines += [
            turn.t("settings.title"), zone, quiet,
            turn.t(f"settings.amount_{prefs.amount}"),
            turn.t("settings.paused_line" if prefs.paused else "settings.active_line"),
        ]
        if prefs.muted:
            names = ", ".join(turn.t(f"nudges.kind_{k}") for k in KINDS if k in prefs.muted)
            lines.append(turn.t("settings.muted_line", kinds=names))
        upcoming = next(
            (r for r in schedule_rows(turn.store, turn.user_id) if r["status"] in PENDING), None
        )
        if upcoming:
            day = date.fromisoformat(upcoming["due_on"])
            lines.append(turn.t("settings.next_line", day=f"{day:%d %b %Y}",
                                what=turn.t(f"nudges.one_{upcoming['kind']}")))

        def mark(code: str) -> str:
            return "✓ " if prefs.amount == code else ""

        buttons = keyboard(
            [Button(turn.t("settings.button_zone"), "n:z"), Button(turn.t("settings.button_quiet"), "n:q")],
            [Button(mark(a) + turn.t(f"settings.button_amount_{a}"), f"n:a:{a}") for a in AMOUNTS],
            [Button(turn.t("calendar.menu"), "go:calendar")],
            [Button(turn.t("settings.button_resume" if prefs.paused else "settings.button_pause"),
                    "n:r" if prefs.paused else "n:p"),
             Button(turn.t("settings.button_close"), "n:c")],
        )
        return Reply("\n".join(lines), buttons, replace=replace)

    def prompt(self, turn: Turn) -> list[Reply]:
        state = turn.session.state
        if state == ZONE:
            return [self._zone_question(turn)]
        if state == QUIET:
            return [self._quiet_question(turn)]
        turn.session.leave()
        return [self._menu(turn)]

    def _zone_question(self, turn: Turn) -> Reply:
        buttons = [Button(b.label, f"n:zc:{i}") for i, b in enumerate(load_rules().zone_buttons)]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]  # a flag and a country fit two to a row
        return Reply(turn.t("settings.ask_zone"), keyboard(*rows, [Button(turn.t("settings.button_back"), "n:b")]))

    def _quiet_question(self, turn: Turn) -> Reply:
        labels = [p.replace("-", "–") if p != "00:00-00:00" else turn.t("settings.quiet_off") for p in QUIET_PRESETS]
        buttons = [Button(label, f"n:qc:{i}") for i, label in enumerate(labels)]
        return Reply(
            turn.t("settings.ask_quiet"),
            keyboard(buttons[:2], buttons[2:], [Button(turn.t("settings.button_back"), "n:b")]),
        )

    def _enter(self, turn: Turn, trigger: str) -> list[Reply]:
        state = turn.session.state if turn.session.flow == SETTINGS_FLOW else MENU
        new = SETTINGS_MACHINE.fire(trigger, state or MENU)
        turn.session.enter(SETTINGS_FLOW, new)
        return self.prompt(turn)

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        value = clean(text, 80)
        if turn.session.state == ZONE:
            return self._set_zone(turn, value)
        if turn.session.state == QUIET:
            hours = parse_quiet_hours(value)
            if hours is None:
                raise InvalidAnswer(turn.t("settings.bad_quiet", text=value[:40]))
            return self._set_quiet(turn, QuietHours(*hours))
        turn.session.leave()
        return [self._menu(turn)]

    def _set_zone(self, turn: Turn, text: str) -> list[Reply]:
        zone = parse_timezone(text, load_rules())
        if zone is None:
            raise InvalidAnswer(turn.t("settings.bad_zone", text=text[:40]))
        if "profiles" not in _tables(turn.store):
            raise NotFound()
        save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), timezone=zone)
        turn.changed.add("profile")  # the schedule follows (on_changed)
        return self._saved(turn, turn.t("settings.zone_saved", zone=zone,
                                        time=turn.now.astimezone(zone_or_utc(zone)).strftime("%H:%M")))

    def _set_quiet(self, turn: Turn, quiet: QuietHours) -> list[Reply]:
        save_prefs(turn.store, turn.user_id, turn.now,
                   quiet_start=f"{quiet.start:%H:%M}", quiet_end=f"{quiet.end:%H:%M}")
        reschedule(turn.store, turn.user_id, turn.now)
        key = "settings.quiet_saved" if quiet.start != quiet.end else "settings.quiet_saved_none"
        return self._saved(turn, turn.t(key, hours=quiet.label()))

    def _saved(self, turn: Turn, note: str) -> list[Reply]:
        if turn.session.flow == SETTINGS_FLOW:
            SETTINGS_MACHINE.fire("saved", turn.session.state or MENU)
            turn.session.leave()
        return [self._menu(turn, note)]

    # -- buttons ---------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, arg = payload.partition(":")
        if action in ("d", "s", "x"):
            return self._answer(turn, action, arg)
        if action == "z":
            return self._enter(turn, "ask_zone")
        if action == "q":
            return self._enter(turn, "ask_quiet")
        if action == "zc":
            buttons = load_rules().zone_buttons
            if not arg.isdigit() or int(arg) >= len(buttons):
                raise StaleButton()
            return self._set_zone(turn, buttons[int(arg)].zone)
        if action == "qc":
            if not arg.isdigit() or int(arg) >= len(QUIET_PRESETS):
                raise StaleButton()
            start, end = QUIET_PRESETS[int(arg)].split("-")
            return self._set_quiet(turn, QuietHours(*(parse_hhmm(v) or time(0) for v in (start, end))))
        if action == "a" and arg in AMOUNTS:
            save_prefs(turn.store, turn.user_id, turn.now, amount=arg, muted=())
            reschedule(turn.store, turn.user_id, turn.now)
            return [self._menu(turn, turn.t("settings.amount_saved"), replace=True)]
        if action in ("p", "r") and not arg:
            save_prefs(turn.store, turn.user_id, turn.now, paused=action == "p")
            reschedule(turn.store, turn.user_id, turn.now)
            note = turn.t("settings.paused" if action == "p" else "settings.resumed")
            return [self._menu(turn, note, replace=True)]
        if action == "b" and not arg:
            if turn.session.flow == SETTINGS_FLOW:
                turn.session.leave()
            return [self._menu(turn, replace=True)]
        if action == "c" and not arg:
            if turn.session.flow == SETTINGS_FLOW:
                turn.session.leave()
            return [Reply(turn.t("settings.closed"), replace=True), turn.engine.main_menu(turn)]
        raise StaleButton()

    def _answer(self, turn: Turn, action: str, arg: str) -> list[Reply]:
        if not arg.isdigit() or len(arg) > 18:
            raise StaleButton()
        row = turn.store.conn.execute(
            "SELECT id, key, kind, status, answer, args FROM nudges WHERE id = ? AND user_id = ?",
            (int(arg), turn.user_id),
        ).fetchone()
        if row is None:
            raise NotFound()
        nid, key, kind, status, answer, args = row
        if status != "sent":
            raise StaleButton()
        text = body(turn.texts, kind, json.loads(args or "{}"))
        if answer:
            return [Reply(text + "\n\n" + turn.t("nudges.already", answer=turn.t(f"nudges.answer_{answer}")),
                          replace=True)]
        now = stamp(turn.now)
        base = key.split("#", 1)[0]
        if action == "d":
            note = turn.t("nudges.done")
            answer = "done"
        elif action == "s":
            answer = "snoozed"
            note = self._snooze(turn, key, kind, args)
        else:
            answer = "stopped"
            prefs = load_prefs(turn.store, turn.user_id)
            save_prefs(turn.store, turn.user_id, turn.now, muted=prefs.muted | {kind})
            note = turn.t("nudges.stopped", kinds=turn.t(f"nudges.kind_{kind}"))
        turn.store.conn.execute(
            "UPDATE nudges SET answer = ?, answered_at = ?, updated_at = ? WHERE id = ?",
            (answer, now, now, nid),
        )
        if answer in ("done", "stopped"):  # a snooze of this one, still waiting, is no longer needed
            turn.store.conn.execute(
                "DELETE FROM nudges WHERE user_id = ? AND key > ? AND key < ?"
                " AND status IN ('scheduled', 'held')",
                (turn.user_id, base + "#", base + "$"),
            )
        if answer == "stopped":
            reschedule(turn.store, turn.user_id, turn.now)
        return [Reply(text + "\n\n" + note, replace=True)]

    def _snooze(self, turn: Turn, key: str, kind: str, args: str) -> str:
        cfg = config()
        base = key.split("#", 1)[0]
        snoozes = turn.store.conn.execute(
            "SELECT key FROM nudges WHERE user_id = ? AND key > ? AND key < ?",
            (turn.user_id, base + "#", base + "$"),
        ).fetchall()
        count = max((int(k.rsplit("#", 1)[1]) for (k,) in snoozes if k.rsplit("#", 1)[1].isdigit()), default=0)
        _, zone = user_zone(turn.store, turn.user_id)
        prefs = load_prefs(turn.store, turn.user_id)
        day = local_today(turn.now, zone) + timedelta(days=cfg.snooze_days)
        slot = morning_slot(day, cfg.send_time, prefs.quiet, zone)
        expires = day + timedelta(days=cfg.expire_days[kind])
        turn.store.conn.execute(
            "INSERT INTO nudges (user_id, key, kind, channel, status, due_on, due_at, expires_on, args,"
            " attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (turn.user_id, f"{base}#{count + 1}", kind, channel_of(turn.user_id),
             "held" if prefs.paused else "scheduled", day.isoformat(), stamp(slot), expires.isoformat(),
             args, stamp(turn.now), stamp(turn.now)),
        )
        return turn.t("nudges.snoozed", day=f"{day:%a %d %b}")
