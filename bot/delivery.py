"""Unprompted messages — timeline nudges and admin broadcasts — sent at Telegram's pace.

:class:`Dispatcher` owns one :class:`RateLimiter` (about 25 messages a second overall, one a
second per chat) shared by everything that sends without being asked:

- :meth:`Dispatcher.tick` runs from PTB's ``JobQueue`` every few seconds. It recovers claims
  left behind by a crash, claims due nudges atomically from SQLite (the only truth) in
  batches, decides for each (send, wait for the user's morning, skip) and sends it. With a
  backlog it goes on batch after batch for most of one interval, at the limiter's pace.
- :meth:`Dispatcher.deliver` sends any list of :class:`Outgoing` messages (a broadcast) through
  the same limiter and the same error handling, and returns one :class:`Result` per message.

Telegram errors, each with its own meaning:

- ``RetryAfter``: everyone waits the time asked, then the same message is tried again.
- ``Forbidden``: the user blocked the bot; they are marked inactive and their waiting nudges
  are dropped.
- ``BadRequest``: logged; the message failed. (HTML that Telegram cannot parse is not one of
  these: :meth:`bot.coachbot.CoachBot.post_html` sends the same words as plain text.)
- ``NetworkError``: retried with backoff, then given back for a later tick; a nudge that keeps
  failing is marked failed. A timeout after the request may have reached Telegram is *in
  doubt* and is not resent (see docs/NUDGES.md), so nothing arrives twice.

Clocks and sleep are injected, so tests never sleep.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import math
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.render import keyboard_json, split_text
from flows.base.content import Texts
from flows.base.types import Reply
from flows.engine.engine import utcnow
from flows.features.nudges import (
    Claimed,
    NudgeConfig,
    claim_due,
    config,
    decide,
    mark_attempt,
    mark_failed,
    mark_sent,
    new_token,
    recover,
    release,
    stop_user,
)
from flows.storage.store import Store


class Sender(Protocol):
    """What the dispatcher sends through: :class:`bot.coachbot.CoachBot` (tests pass fakes)."""

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> None: ...

log = logging.getLogger("usce_coach.delivery")

Sleep = Callable[[float], Awaitable[Any]]


class RateLimiter:
    """Spaces sends: ``rate`` per second overall and ``per_chat`` seconds apart in one chat.

    Each caller reserves its slot before sleeping, so concurrent senders share the budget.
    Lateness of up to one interval is made up (no drift from sleep overshoot); longer idle
    time is not saved up, so there is never a burst.
    """

    def __init__(
        self, rate: float, per_chat: float,
        clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.per_chat = per_chat
        self.clock = clock
        self.sleep = sleep
        self._next = -math.inf
        self._chats: dict[int, float] = {}

    async def wait(self, chat_id: int) -> None:
        now = self.clock()
        # Slightly behind schedule (a late wake-up): keep the schedule. Idle for longer: start now.
        slot = self._next if self._next >= now - self.interval else now
        slot = max(slot, self._chats.get(chat_id, -math.inf))
        self._next = slot + self.interval
        self._chats[chat_id] = slot + self.per_chat
        if len(self._chats) > 50_000:  # forget chats whose pause is over
            self._chats = {c: t for c, t in self._chats.items() if t > now}
        if slot > now:
            await self.sleep(slot - now)

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (Telegram asked us to wait)."""
        self._next = max(self._next, self.clock() + seconds)


class Result(enum.Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # Forbidden: the user blocked the bot
    BAD_REQUEST = "bad_request"  # BadRequest: logged, not retried
    NETWORK = "network"  # network errors beyond the retry limit: try again later
    FLOOD = "flood"  # still flood-limited after retry_after_max waits: try again later
    IN_DOUBT = "in_doubt"  # timed out after the request may have reached Telegram
    SKIPPED = "skipped"  # not attempted (the claim was lost, or the tick stopped)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to deliver. ``user_id`` ("tg:123") lets a block mark the user inactive."""

    chat_id: int
    reply: Reply
    user_id: str | None = None


@dataclass(slots=True)
class TickReport:
    recovered: int = 0
    dropped: int = 0
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    retry_later: int = 0
    busy: bool = False  # another tick was still running
    results: dict[str, int] = field(default_factory=dict)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # the int/timedelta transition warns on access
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _not_sent(exc: TimedOut) -> bool:
    """A timeout before the request left us: safe to retry."""
    return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout) or "not* sent" in str(exc)


class Dispatcher:
    def __init__(
        self,
        store: Store,
        texts: Texts,
        *,
        cfg: NudgeConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.texts = texts
        self.cfg = cfg or config()
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        d = self.cfg.delivery
        self.limiter = RateLimiter(d.rate_per_second, d.per_chat_seconds, monotonic, sleep)
        self._lock = asyncio.Lock()

    # -- wiring ------------------------------------------------------------------------------
    def start(self, app: Any) -> None:
        """At start: recover what a crash left behind, then tick from the JobQueue."""
        again, dropped = recover(self.store, self.clock(), self.cfg.delivery.lease)
        if again or dropped:
            log.warning("recovered nudges after a restart: %d to send, %d in doubt dropped", again, dropped)
        if app.job_queue is None:  # python-telegram-bot installed without its job-queue extra
            log.error("no JobQueue: timeline nudges will not be sent")
            return
        app.job_queue.run_repeating(
            self._job, interval=self.cfg.delivery.tick_seconds, first=1.0, name="nudges"
        )

    async def _job(self, context: Any) -> None:
        report = await self.tick(context.bot)
        if report.claimed or report.recovered or report.dropped:
            log.info(
                "nudges tick claimed=%d sent=%d deferred=%d skipped=%d failed=%d blocked=%d later=%d",
                report.claimed, report.sent, report.deferred, report.skipped, report.failed,
                report.blocked, report.retry_later,
            )

    # -- the tick ----------------------------------------------------------------------------
    async def tick(self, bot: Sender) -> TickReport:
        report = TickReport()
        if self._lock.locked():
            report.busy = True
            return report
        async with self._lock:
            d = self.cfg.delivery
            report.recovered, report.dropped = recover(self.store, self.clock(), d.lease)
            began = self.monotonic()
            while True:  # batch after batch while there is a backlog, for most of one interval
                claimed = claim_due(self.store, self.clock(), d.batch, new_token())
                report.claimed += len(claimed)
                for i, nudge in enumerate(claimed):
                    if await self._one(bot, nudge, report):
                        # The network is down or Telegram wants us to slow down: the rest waits.
                        for rest in claimed[i + 1 :]:
                            release(self.store, rest, self.clock(), self.clock())
                        return report
                if len(claimed) < d.batch or self.monotonic() - began > 0.8 * d.tick_seconds:
                    return report

    async def _one(self, bot: Sender, nudge: Claimed, report: TickReport) -> bool:
        """Handle one claimed nudge; True when the tick should stop."""
        store, now = self.store, self.clock()
        decision = decide(store, self.texts, nudge, now, self.cfg)
        if decision.action in ("defer", "hold"):
            status = "held" if decision.action == "hold" else "scheduled"
            release(store, nudge, decision.at or now, now, status=status)
            report.deferred += 1
            return False
        if decision.action != "send" or decision.reply is None or decision.chat_id is None:
            mark_failed(store, nudge, now, decision.reason or "not sendable", status="skipped")
            report.skipped += 1
            return False
        message = Outgoing(decision.chat_id, decision.reply, nudge.user_id)
        result = await self._send(bot, message, lambda: mark_attempt(store, nudge, self.clock()))
        report.results[result.value] = report.results.get(result.value, 0) + 1
        now = self.clock()
        if result is Result.SENT:
            mark_sent(store, nudge, now)
            report.sent += 1
        elif result is Result.BLOCKED:
            mark_failed(store, nudge, now, "blocked by the user")
            report.blocked += 1
        elif result is Result.BAD_REQUEST:
            mark_failed(store, nudge, now, "bad request")
            report.failed += 1
        elif result is Result.IN_DOUBT:
            mark_failed(store, nudge, now, "in doubt: timed out")
            report.failed += 1
        elif result in (Result.NETWORK, Result.FLOOD):
            if result is Result.NETWORK and nudge.attempts + 1 >= self.cfg.delivery.max_attempts:
                mark_failed(store, nudge, now, "network errors")
                report.failed += 1
            else:
                wait = timedelta(minutes=5 * 2**nudge.attempts) if result is Result.NETWORK else timedelta(0)
                release(store, nudge, now + wait, now, error=result.value,
                        failed_attempt=result is Result.NETWORK)
                report.retry_later += 1
            return True
        return False

    # -- sending -----------------------------------------------------------------------------
    async def deliver(
        self, bot: Sender, messages: Iterable[Outgoing], before: Callable[[Outgoing], bool] | None = None
    ) -> list[Result]:
        """Send each message in turn at the shared pace (for broadcasts). A block marks the user
        inactive and stops their nudges; nothing is retried beyond the rules above.

        ``before(message)`` runs after the pace allows the message and right before its
        request; returning False skips it (Result.SKIPPED)."""
        results = []
        for message in messages:
            check = None if before is None else functools.partial(before, message)
            result = await self._send(bot, message, check)
            results.append(result)
        return results

    async def _send(self, bot: Sender, message: Outgoing, before: Callable[[], bool] | None = None) -> Result:
        pieces = split_text(message.reply.text)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            result = await self._send_piece(
                bot, message.chat_id, piece, keyboard_json(message.reply.buttons) if last else None,
                before if i == 0 else None,
            )
            if result is Result.BLOCKED and message.user_id:
                stop_user(self.store, message.user_id)
            if result is not Result.SENT:
                return result
        return Result.SENT

    async def _send_piece(
        self, bot: Sender, chat_id: int, text: str, keyboard: str | None, before: Callable[[], bool] | None
    ) -> Result:
        d = self.cfg.delivery
        floods = network = 0
        while True:
            await self.limiter.wait(chat_id)
            if before is not None:
                if not before():  # the claim was taken over (this tick ran far too long)
                    return Result.SKIPPED
                before = None
            try:
                await bot.post_html(chat_id, text, keyboard)
                return Result.SENT
            except RetryAfter as exc:
                floods += 1
                seconds = retry_seconds(exc)
                log.warning("flood control: waiting %.0f s (%d)", seconds, floods)
                self.limiter.hold(seconds)  # every sender waits, not just this message
                if floods > d.retry_after_max:
                    return Result.FLOOD
            except Forbidden:
                return Result.BLOCKED
            except BadRequest as exc:
                log.warning("bad request sending to a chat: %s", exc.message)
                return Result.BAD_REQUEST
            except TimedOut as exc:
                if not _not_sent(exc):
                    log.warning("timed out sending: in doubt, not resent")
                    return Result.IN_DOUBT
                network += 1
                if network > d.network_retries:
                    return Result.NETWORK
                await self.sleep(d.network_backoff_seconds * 2 ** (network - 1))
            except NetworkError as exc:
                network += 1
                log.warning("network error sending (%d): %s", network, exc.message)
                if network > d.network_retries:
                    return Result.NETWORK
                await self.sleep(d.network_backoff_seconds * 2 ** (network - 1))
