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
from flows.base.errors import StaleButton
from flows.base.types import Button, Reply, keyboard
from flows.domain.nudges import NudgeConfig, body, config, milestones, spread
from flows.domain.timezones import local_today, morning_slot, next_morning
from flows.engine.engine import Engine, Feature, Turn
from flows.storage.nudges import (
    PENDING,
    Claimed,
    add_nudge,
    change_nudge,
    claim_one_for,
    delete_nudge,
    drop_waiting_snoozes,
    get_nudge,
    last_sent,
    load_prefs,
    mark_failed,
    mark_sent,
    migrations,
    new_token,
    parse_stamp,
    record_answer,
    release,
    rows_by_key,
    save_prefs,
    schedule_rows,
    snooze_keys,
    stamp,
    user_zone,
    wanted_for,
    write_now,
)
from flows.storage.store import Store

# turn.changed names that call for a new schedule ("nudge_settings": written by /settings)
SOURCES = frozenset({"profile", "experiences", "outreach", "programs", "nudge_settings"})
_COMPARED = ("status", "due_on", "due_at", "args")  # a waiting row is rewritten when one of these moves


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
    existing = rows_by_key(store, user_id)
    by_key = {w.key: w for w in wanted}
    with write_now(store):
        for key, waiting in existing.items():
            if waiting["status"] not in PENDING:
                continue
            if key.split("#", 1)[0] not in by_key:  # its record is gone, or the user no longer wants this kind
                delete_nudge(store, user_id, waiting["id"])
            elif "#" in key:  # a snooze keeps its day; follow the zone and the pause
                slot = stamp(morning_slot(date.fromisoformat(waiting["due_on"]), cfg.send_time, prefs.quiet, zone))
                if (slot, status) != (waiting["due_at"], waiting["status"]):
                    change_nudge(store, user_id, waiting["id"], now, due_at=slot, status=status)
        for w in wanted:
            row = existing.get(w.key)
            day = w.due_on
            if row is None or row["due_on"] != day.isoformat():
                # New or moved: if this day's morning is already over, the next morning. (A row
                # already waiting for this very day keeps it, so the tick still sends it today.)
                while morning_slot(day, cfg.send_time, prefs.quiet, zone) < now:
                    day += timedelta(days=1)
            slot = stamp(morning_slot(day, cfg.send_time, prefs.quiet, zone))
            args = json.dumps(dict(w.args), sort_keys=True, ensure_ascii=False)
            fields = {"status": status, "due_on": day.isoformat(), "due_at": slot,
                      "expires_on": w.expires_on.isoformat(), "args": args}
            if row is None:
                if w.new_ok:
                    add_nudge(store, user_id, now, key=w.key, kind=w.kind, **fields)
            elif row["status"] in PENDING and any(row[name] != fields[name] for name in _COMPARED):
                change_nudge(store, user_id, row["id"], now, **fields)


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
    user = store.user(nudge.user_id)
    if user is None or not user["active"]:
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
    last = last_sent(store, nudge.user_id)
    if last and last + cfg.min_gap > earliest:
        later = last + cfg.min_gap
        earliest = later if present else morning(later)
    if earliest > now:
        return Decision("defer", at=earliest, reason="quiet hours or one a day")
    if not present and user["chat_id"] is None:
        return Decision("skip", reason="no chat")
    return Decision("send", render(texts, nudge.id, nudge.kind, nudge.args), user["chat_id"])


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
        row = get_nudge(turn.store, turn.user_id, int(arg))
        key, kind, answer, args = row["key"], row["kind"], row["answer"], row["args"]
        if row["status"] != "sent":
            raise StaleButton()
        text = body(turn.texts, kind, json.loads(args or "{}"))
        if answer:
            return [Reply(text + "\n\n" + turn.t("nudges.already", answer=turn.t(f"nudges.answer_{answer}")),
                          replace=True)]
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
        record_answer(turn.store, turn.user_id, row["id"], answer, turn.now)
        if answer in ("done", "stopped"):  # a snooze of this one, still waiting, is no longer needed
            drop_waiting_snoozes(turn.store, turn.user_id, key)
        if answer == "stopped":
            reschedule(turn.store, turn.user_id, turn.now)
        return [Reply(text + "\n\n" + note, replace=True)]

    def _snooze(self, turn: Turn, key: str, kind: str, args: str) -> str:
        cfg = config()
        base = key.split("#", 1)[0]
        snoozes = snooze_keys(turn.store, turn.user_id, key)
        count = max((int(k.rsplit("#", 1)[1]) for k in snoozes if k.rsplit("#", 1)[1].isdigit()), default=0)
        _, zone = user_zone(turn.store, turn.user_id)
        prefs = load_prefs(turn.store, turn.user_id)
        day = local_today(turn.now, zone) + timedelta(days=cfg.snooze_days)
        slot = morning_slot(day, cfg.send_time, prefs.quiet, zone)
        expires = day + timedelta(days=cfg.expire_days[kind])
        add_nudge(
            turn.store, turn.user_id, turn.now, key=f"{base}#{count + 1}", kind=kind,
            status="held" if prefs.paused else "scheduled", due_on=day.isoformat(), due_at=stamp(slot),
            expires_on=expires.isoformat(), args=args,
        )
        return turn.t("nudges.snoozed", day=f"{day:%a %d %b}")
