"""Sending the copies an admin's /broadcast queued (table ``broadcast_messages``), through
the nudges' :class:`~bot.delivery.Dispatcher`, so both share one rate limit and one way of
handling Telegram's errors.

Each copy moves queued → sending → sent | failed. A copy is marked ``sending`` (and
committed) once the rate limit lets it go, right before its request — so a crash while
it waits for its turn leaves it queued, to go out after the restart. One still
``sending`` at start was interrupted by a crash mid-request and may or may not have
arrived, so it is marked failed ("in doubt") rather than sent again: a broadcast never
arrives twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import Any

from bot.delivery import Dispatcher, Outgoing, Result, Sender
from flows.base.types import Reply
from flows.engine.engine import utcnow
from flows.features.admin import queued_messages
from flows.storage.store import Store

log = logging.getLogger("usce_coach.broadcast")

TICK_SECONDS = 5.0
BATCH = 200
AGAIN = {Result.NETWORK, Result.FLOOD, Result.SKIPPED}  # not sent: try again next tick


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def recover(store: Store, now: datetime) -> int:
    """At start: copies a crash interrupted mid-send are in doubt; never resend them."""
    with store.atomic():
        return store.conn.execute(
            "UPDATE broadcast_messages SET status = 'failed', sent_at = ? WHERE status = 'sending'",
            (_stamp(now),),
        ).rowcount


async def send_queued(store: Store, dispatcher: Dispatcher, bot: Sender, now: Any = utcnow) -> Counter[str]:
    """Send up to one batch of queued copies; returns how many ended in each status."""
    done: Counter[str] = Counter()
    for row in queued_messages(store, BATCH):

        def claim(_: Outgoing, copy_id: int = row["id"]) -> bool:
            with store.atomic():
                return bool(store.conn.execute(
                    "UPDATE broadcast_messages SET status = 'sending' WHERE id = ? AND status = 'queued'", (copy_id,)
                ).rowcount)

        outgoing = Outgoing(row["chat_id"], Reply(row["text"]), row["user_id"])
        [result] = await dispatcher.deliver(bot, [outgoing], before=claim)
        if result is Result.SKIPPED:
            continue  # no longer queued (the user erased their data meanwhile): nothing was sent
        status = "queued" if result in AGAIN else "sent" if result is Result.SENT else "failed"
        with store.atomic():
            store.conn.execute(
                "UPDATE broadcast_messages SET status = ?, sent_at = ? WHERE id = ?",
                (status, None if status == "queued" else _stamp(now()), row["id"]),
            )
        done[status] += 1
        if result in AGAIN:
            break  # Telegram wants us to slow down, or the network is down: the rest waits
    if done:
        log.info("broadcast tick sent=%d failed=%d later=%d", done["sent"], done["failed"], done["queued"])
    return done


def start(app: Any, dispatcher: Dispatcher, store: Store) -> None:
    """Recover what a crash left, then send queued copies from the JobQueue."""
    in_doubt = recover(store, utcnow())
    if in_doubt:
        log.warning("broadcast copies in doubt after a restart, not resent: %d", in_doubt)

    busy = asyncio.Lock()

    async def job(context: Any) -> None:
        if busy.locked():
            return  # the previous tick is still sending
        async with busy:
            await send_queued(store, dispatcher, context.bot)

    app.job_queue.run_repeating(job, interval=TICK_SECONDS, first=2.0, name="broadcasts")
