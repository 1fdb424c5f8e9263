"""The ``nudges`` table (the only truth about what will be sent) and ``nudge_settings`` (each
user's quiet hours, pause, amount and stopped kinds), as plain functions on a :class:`Store`,
and the reads of a user's records that say which nudges are called for (:func:`wanted_for`).

The feature (``flows/features/nudges.py``) keeps the table in step with a user's records;
/settings (``flows/features/settings.py``) changes the preferences; delivery
(``bot/delivery.py``) and the terminal claim due rows and mark each one
``scheduled → claimed → sending → sent`` (or ``failed``/``skipped``): ``claimed`` while it waits
for its turn, ``sending`` only from the moment its HTTP request leaves.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.domain.nudges import AMOUNTS, KINDS, NudgeConfig, Wanted, called_for, config
from flows.domain.outreach import followup_days
from flows.domain.timezones import QuietHours, parse_hhmm, zone_or_utc
from flows.storage.experiences import list_experiences
from flows.storage.outreach import sent_entries
from flows.storage.profiles import load_profile
from flows.storage.store import Store, timestamp

PENDING = ("scheduled", "held")  # rows a reschedule may still change

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
            "due_at": str,  # UTC instant to send, as stamp() writes it (sorts as text)
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


# Every time column of the two tables (the days, due_on and expires_on, are local dates).
TIMES = {
    "nudges": ("due_at", "claimed_at", "attempted_at", "sent_at", "answered_at", "created_at", "updated_at"),
    "nudge_settings": ("updated_at",),
}


@migrations()
def m002_times_in_one_format(db: Database) -> None:
    # Until now these columns were written "2026-11-25T09:00:00Z"; every other table keeps
    # timestamp()'s "2026-11-25T09:00:00+00:00". Rewrite the old values (readers take both).
    for table, columns in TIMES.items():
        for column in columns:
            db.table(table).convert(column, _one_format, where=f"[{column}] LIKE '%Z'")


def stamp(moment: datetime) -> str:
    """A UTC instant as sortable text, the tables' one format (``2026-11-25T09:00:00+00:00``)."""
    return timestamp(moment.astimezone(UTC))


def parse_stamp(value: str) -> datetime:
    """A stored instant, in the one format or the old ``2026-11-25T09:00:00Z`` (still written by
    a process started before ``m002_times_in_one_format``)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def _one_format(value: str) -> str:
    return stamp(parse_stamp(value)) if value.endswith("Z") else value


# Bounds for comparing a time column in SQL, right whichever format a row holds: the two
# agree on their first 19 characters ("2026-11-25T09:00:00") and differ only after them,
# where "+" sorts before "Z". So a row at the very second of the bound is "<=" the
# "…Z" form and never "<" the bare 19 characters, in either format.
def until(moment: datetime) -> str:
    """The bound of ``column <= ?``: every row up to and including this second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def before(moment: datetime) -> str:
    """The bound of ``column < ?``: every row before this second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@contextmanager
def write_now(store: Store) -> Iterator[None]:
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
    row = store.conn.execute("SELECT timezone FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
    name = row[0] if row and row[0] else None
    return name, zone_or_utc(name)


def schedule_rows(store: Store, user_id: str) -> list[dict[str, Any]]:
    """Every nudge row of a user, soonest first (for ``usce-coach nudges``, /settings, /calendar
    and tests)."""
    return list(store.db.table("nudges").rows_where("user_id = ?", [user_id], order_by="due_at, id"))


# -- a user's rows, as the feature keeps them in step and answers their buttons ------------------
def rows_by_key(store: Store, user_id: str) -> dict[str, dict[str, Any]]:
    """The user's nudges by key (id, key, status, due_on, due_at, args), ``due_at`` in the one
    format whichever a row holds, so it compares with :func:`stamp`'s text."""
    select = "id, key, status, due_on, due_at, args"
    rows = store.db.table("nudges").rows_where("user_id = ?", [user_id], select=select)
    return {row["key"]: {**row, "due_at": _one_format(row["due_at"])} for row in rows}


def get_nudge(store: Store, user_id: str, nudge_id: int) -> dict[str, Any]:
    """One of the user's nudges (id, key, kind, status, answer, args); :class:`NotFound` if gone
    or someone else's."""
    rows = store.db.table("nudges").rows_where(
        "id = ? AND user_id = ?", [nudge_id, user_id], select="id, key, kind, status, answer, args", limit=1
    )
    row = next(rows, None)
    if row is None:
        raise NotFound()
    return row


def add_nudge(store: Store, user_id: str, now: datetime, **fields: Any) -> None:
    """A new row of the user (``fields``: key, kind, status, due_on, due_at, expires_on, args)."""
    at = stamp(now)
    row = {"user_id": user_id, **fields, "channel": channel_of(user_id), "attempts": 0}
    store.db.table("nudges").insert({**row, "created_at": at, "updated_at": at})


def change_nudge(store: Store, user_id: str, nudge_id: int, now: datetime, **fields: Any) -> None:
    """Change some fields of one of the user's rows, and mark it changed (nothing if it is not theirs)."""
    table = store.db.table("nudges")
    if table.count_where("id = ? AND user_id = ?", [nudge_id, user_id]):
        table.update(nudge_id, {**fields, "updated_at": stamp(now)})


def record_answer(store: Store, user_id: str, nudge_id: int, answer: str, now: datetime) -> None:
    """The user pressed Done, Snooze or Stop these under a nudge."""
    change_nudge(store, user_id, nudge_id, now, answer=answer, answered_at=stamp(now))


def delete_nudge(store: Store, user_id: str, nudge_id: int) -> None:
    store.db.table("nudges").delete_where("id = ? AND user_id = ?", [nudge_id, user_id])


def _snoozes(user_id: str, key: str) -> list[str]:
    # the keys "<base>#<anything>": "$" is the character after "#"
    base = key.split("#", 1)[0]
    return [user_id, base + "#", base + "$"]


def snooze_keys(store: Store, user_id: str, key: str) -> list[str]:
    """The keys of every snooze of a nudge (``lt:17#1``, ``lt:17#2``... for ``lt:17``)."""
    where = "user_id = ? AND key > ? AND key < ?"
    rows = store.db.table("nudges").rows_where(where, _snoozes(user_id, key), select="key")
    return [row["key"] for row in rows]


def drop_waiting_snoozes(store: Store, user_id: str, key: str) -> None:
    """Snoozes of a nudge still waiting to be sent, no longer needed (it was done, or stopped)."""
    where = "user_id = ? AND key > ? AND key < ? AND status IN ('scheduled', 'held')"
    store.db.table("nudges").delete_where(where, _snoozes(user_id, key))


def last_sent(store: Store, user_id: str) -> datetime | None:
    """When the user's latest nudge was sent (None before the first)."""
    rows = store.db.table("nudges").rows_where(
        "user_id = ? AND status = 'sent'", [user_id], select="max(sent_at) AS last"
    )
    last = next(rows)["last"]
    return parse_stamp(last) if last else None


def unsure_programs(store: Store, user_id: str) -> list[tuple[int, str, int, str | None]]:
    """The user's vetted programs with "Not sure" answers: (id, name, how many, the first one's time)."""
    return store.conn.execute(
        "SELECT p.id, p.name, count(*), min(a.answered_at) FROM programs p"
        " JOIN program_answers a ON a.program_id = p.id AND a.user_id = p.user_id"
        " WHERE p.user_id = ? AND a.answer = '?' GROUP BY p.id",
        (user_id,),
    ).fetchall()


def wanted_for(store: Store, user_id: str, today: date, cfg: NudgeConfig) -> list[Wanted]:
    """Every nudge the user's current records call for (before preferences)."""
    return called_for(
        load_profile(store, user_id),
        list_experiences(store, user_id),
        sent_entries(store, user_id),
        unsure_programs(store, user_id),
        today,
        cfg,
        followup_days(),
    )


def channel_of(user_id: str) -> str:
    return "term" if user_id.startswith("term:") else "tg"


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
    " AND due_at <= :until ORDER BY due_at LIMIT :limit)"
    " RETURNING id, user_id, key, kind, due_at, expires_on, args, attempts"
)
CLAIM_PLAN_SQL = (  # the inner query of the claim, for EXPLAIN QUERY PLAN in the benchmark
    "SELECT id FROM nudges WHERE status = 'scheduled' AND channel = :channel"
    " AND due_at <= :until ORDER BY due_at LIMIT :limit"
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
    with write_now(store):
        rows = store.conn.execute(
            _CLAIM, {"token": token, "now": stamp(now), "until": until(now), "channel": channel, "limit": limit}
        ).fetchall()
    return sorted((_claimed(r, token) for r in rows), key=lambda c: (c.due_at, c.id))


def _set(store: Store, nudge: Claimed, sql: str, *params: Any, held: str = HELD) -> bool:
    """Change a claimed row, only while this claimer still holds it."""
    with write_now(store):
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
    old, args = ("", ()) if lease is None else (" AND claimed_at < ?", (before(now - lease),))
    with write_now(store):
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
    with write_now(store):
        store.set_active(user_id, False)
        return store.conn.execute(
            "DELETE FROM nudges WHERE user_id = ? AND status IN ('scheduled', 'held')", (user_id,)
        ).rowcount


def claim_one_for(store: Store, user_id: str, now: datetime, token: str) -> Claimed | None:
    """Take this user's soonest due nudge, whatever its channel (the terminal shows it when
    they next write), or None."""
    with write_now(store):
        rows = store.conn.execute(
            "UPDATE nudges SET status = 'claimed', claim_token = ?, claimed_at = ?"
            " WHERE id = (SELECT id FROM nudges WHERE user_id = ? AND status = 'scheduled'"
            " AND due_at <= ? ORDER BY due_at LIMIT 1)"
            " RETURNING id, user_id, key, kind, due_at, expires_on, args, attempts",
            (token, stamp(now), user_id, until(now)),
        ).fetchall()
    return _claimed(rows[0], token) if rows else None
