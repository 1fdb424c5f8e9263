"""Sending the copies an admin's /broadcast queued (table ``broadcast_messages``), through
the nudges' :class:`~bot.delivery.Dispatcher`, so both share one rate limit, one way of
handling Telegram's errors and the same few sends in flight at once.

Each copy moves queued → sending → sent | failed. A copy is marked ``sending`` (and
committed) only when its HTTP request leaves — after every rate limiter, PTB's included — so
a crash while it waits for its turn leaves it queued, to go out after the restart; a refused
request (a flood limit, no connection) puts it back to queued at once. One still ``sending``
at start was interrupted by a crash mid-request and may or may not have arrived, so it is
marked failed ("in doubt") rather than sent again: a broadcast never arrives twice. A copy is
one message (``flows.admin`` limits the text as sent, after escaping); should one ever need
several, a failure after the first piece arrived is final too, so no piece is sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from bot.delivery import AGAIN, Dispatcher, Outgoing, Result, Sender
from flows.base.types import Reply
from flows.engine.engine import utcnow
from flows.storage.broadcasts import fail_interrupted, move_copy, queued_messages
from flows.storage.store import Store

log = logging.getLogger("usce_coach.broadcast")

TICK_SECONDS = 5.0
BATCH = 200


def recover(store: Store, now: datetime) -> int:
    """At start: copies a crash interrupted mid-send are in doubt; never resend them."""
    with store.atomic():
        return fail_interrupted(store, now)


def _move(store: Store, copy_id: int, old: str, new: str, sent_at: datetime | None = None) -> bool:
    """``old`` → ``new`` if the copy is still ``old``; ``old="any"``: queued or sending (a sender
    whose requests are not guarded never marks a copy as sending)."""
    olds = ("queued", "sending") if old == "any" else (old,)
    with store.atomic():
        return move_copy(store, copy_id, olds, new, sent_at)


async def send_queued(store: Store, dispatcher: Dispatcher, bot: Sender, now: Any = utcnow) -> Counter[str]:
    """Send up to one batch of queued copies; returns how many ended in each status."""
    done: Counter[str] = Counter()
    by_chat: dict[int, list[dict[str, Any]]] = {}
    for row in queued_messages(store, BATCH):
        by_chat.setdefault(int(row["chat_id"]), []).append(row)  # one chat's copies in order

    async def one(row: dict[str, Any]) -> bool:
        copy_id = int(row["id"])
        flight = dispatcher.flight(lambda: _move(store, copy_id, "queued", "sending"),
                                   lambda: _move(store, copy_id, "sending", "queued"))
        try:
            result = await dispatcher.send(bot, Outgoing(row["chat_id"], Reply(row["text"]), row["user_id"]), flight)
        except asyncio.CancelledError:  # shutting down mid-send: in doubt if its request had left
            if flight.marked:
                _move(store, copy_id, "sending", "failed", now())
            raise
        if result in AGAIN:
            if flight.marked:  # not reached Telegram: queued again
                _move(store, copy_id, "sending", "queued")
            if result is not Result.SKIPPED:
                done["queued"] += 1
            return result is not Result.SKIPPED or not dispatcher.live  # the network is down: the rest waits
        status = "sent" if result is Result.SENT else "failed"
        _move(store, copy_id, "any", status, now())
        done[status] += 1
        return False

    await dispatcher.each(by_chat.values(), one)
    if done:
        log.info("broadcast tick sent=%d failed=%d later=%d", done["sent"], done["failed"], done["queued"])
    return done


def start(app: Any, dispatcher: Dispatcher, store: Store) -> None:
    """Recover what a crash left, then send queued copies from the JobQueue."""
    in_doubt = recover(store, utcnow())
    if in_doubt:
        log.warning("broadcast copies in doubt after a restart, not resent: %d", in_doubt)

    busy = asyncio.Lock()

    async def run(bot: Sender) -> None:
        async with busy:
            await send_queued(store, dispatcher, bot)

    async def job(context: Any) -> None:
        if busy.locked() or not dispatcher.live:
            return  # the previous tick is still sending, or the bot is stopping
        dispatcher.spawn(run(context.bot))

    app.job_queue.run_repeating(job, interval=TICK_SECONDS, first=2.0, name="broadcasts")
