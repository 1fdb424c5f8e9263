"""Timeline nudges: short reminders of the right step at the right moment, in the user's morning.

The ``nudges`` table (``flows/storage/nudges.py``) is the only truth about what will be sent.
A user's schedule is recomputed (idempotently) whenever their profile, experiences, outreach,
vetted programs or reminder settings change: one row per nudge, keyed ``(user_id, key)``. Rows
still waiting ("scheduled", or "held" while the user paused) are inserted, moved or deleted;
rows that were claimed or sent are never touched again, so nothing is sent twice.

Delivery (``bot/delivery.py``) claims due rows atomically; this module decides, at send time,
whether a claimed nudge goes out now, waits for the user's morning, or is dropped, and renders
it with its Done / Snooze / Stop these buttons. /settings is its own feature
(``flows/features/settings.py``): it changes the preferences and says so in ``turn.changed``.

Kinds and keys (what should be scheduled: ``flows/domain/nudges.py``):

- ``milestone`` ``ms:<milestone id>``: the start of a timeline window still ahead of the user
  (windows already open are summarised in the plan, never fired).
- ``letter`` ``lt:<experience id>``: the last week of a rotation with no letter asked yet.
- ``reflection`` ``rf:<experience id>``: the day after a rotation's last month.
- ``followup`` ``fu:<outreach id>``: an email still without a reply some days later.
- ``vetting`` ``vt:<program id>``: a "Not sure" checklist answer, a few days later.
- A snooze adds ``<key>#<n>`` a week later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flows.base.content import Texts
from flows.base.errors import NotFound, StaleButton
from flows.base.types import Button, Reply, keyboard
from flows.domain.nudges import NudgeConfig, body, config, milestones, spread
from flows.domain.timezones import local_today, morning_slot, next_morning
from flows.engine.engine import Engine, Feature, Turn
from flows.storage.nudges import (
    PENDING,
    Claimed,
    channel_of,
    claim_one_for,
    load_prefs,
    mark_failed,
    mark_sent,
    migrations,
    new_token,
    parse_stamp,
    release,
    save_prefs,
    schedule_rows,
    stamp,
    user_zone,
    wanted_for,
    write_now,
)
from flows.storage.store import Store

# turn.changed names that call for a new schedule ("nudge_settings": written by /settings)
SOURCES = frozenset({"profile", "experiences", "outreach", "programs", "nudge_settings"})


# -- keeping the table in step -----------------------------------------------------------------
def reschedule(store: Store, user_id: str, now: datetime, cfg: NudgeConfig | None = None) -> None:
    """Bring the user's waiting nudges in line with their records and preferences. Idempotent;
    never touches a nudge that was claimed or sent."""
    cfg = cfg or config()
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
    with write_now(store):
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


def due_replies(engine: Engine, user_id: str, limit: int = 1) -> list[Reply]:
    """For the terminal channel: the user's due nudges, shown when they next write (one at a time).
    Each is marked sent as it is shown."""
    store = engine.store
    now = engine.clock()
    token = new_token()
    replies: list[Reply] = []
    for _ in range(5):  # a few expired or unwanted ones may be skipped on the way
        if len(replies) >= limit:
            break
        nudge = claim_one_for(store, user_id, now, token)
        if nudge is None:
            break
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


# -- the feature: a nudge's buttons ----------------------------------------------------------------
class Nudges(Feature):
    name = "nudges"
    prefix = "n"
    migrations = migrations

    def __init__(self) -> None:
        config()  # validate content at start, not on the first update
        milestones()

    def on_changed(self, turn: Turn, changed: set[str]) -> None:
        if changed & SOURCES:
            reschedule(turn.store, turn.user_id, turn.now)

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, arg = payload.partition(":")
        if action in ("d", "s", "x"):
            return self._answer(turn, action, arg)
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
