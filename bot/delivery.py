"""Unprompted messages — timeline nudges and admin broadcasts — sent at Telegram's pace.

:class:`Dispatcher` owns one :class:`RateLimiter` (about 25 messages a second overall, one a
second per chat) shared by everything that sends without being asked:

- :meth:`Dispatcher.tick` runs every few seconds. It claims due nudges atomically from SQLite
  (the only truth) in batches, decides for each (send, wait for the user's morning, skip) and
  sends them, a few at once (``parallel``), so one slow chat never holds up the others; one
  user's nudges go one after another. With a backlog it goes on batch after batch for most
  of one interval, at the limiter's pace.
- :meth:`Dispatcher.send` sends one :class:`Outgoing` message (a broadcast copy) through the
  same limiter and the same error handling.

**Exactly as promised.** A message is marked as being sent only at the moment its HTTP request
leaves — after this limiter *and* PTB's own rate-limiter queue: :class:`GuardedRequest`, the
bot's HTTP layer, calls the :class:`Flight` of the message in flight (a context variable) right
before the request goes. A crash before that loses nothing (the message is still only claimed
or queued, and goes after the restart); a crash after it leaves the message in doubt, never
sent again. A request that certainly did not reach Telegram (a refusal — 4xx, 429 — or no
connection at all) gives the mark back at once, so a crash while PTB waits out a flood limit
loses nothing either.

Telegram errors, each with its own meaning:

- ``RetryAfter``: everyone waits the time asked, then the same message is tried again.
- ``Forbidden``: the user blocked the bot; they are marked inactive and their waiting nudges
  are dropped.
- ``BadRequest``: logged; the message failed. (HTML that Telegram cannot parse is not one of
  these: :meth:`bot.coachbot.CoachBot.post_html` sends the same words as plain text.)
- ``NetworkError`` before the request was written (connect error or timeout, pool timeout, a
  failed write): retried with backoff, then given back for a later tick; a nudge that keeps
  failing is marked failed.
- Anything after the request was written — a read timeout, a reset connection, a 5xx — is *in
  doubt*: Telegram may have delivered it, so it is not sent again (see docs/NUDGES.md).

Clocks and sleep are injected, so tests never sleep.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.render import keyboard_json, split_text
from flows.base.content import Texts
from flows.base.types import Reply
from flows.domain.nudges import NudgeConfig, config
from flows.engine.engine import utcnow
from flows.features.nudges import decide
from flows.storage.nudges import (
    Claimed,
    claim_due,
    mark_failed,
    mark_sending,
    mark_sent,
    new_token,
    parse_stamp,
    recover,
    release,
    stop_user,
    unmark_sending,
)
from flows.storage.store import Store


class Sender(Protocol):
    """What the dispatcher sends through: :class:`bot.coachbot.CoachBot` (tests pass fakes)."""

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> object: ...


log = logging.getLogger("usce_coach.delivery")

Sleep = Callable[[float], Awaitable[Any]]
T = TypeVar("T")


# -- the moment a request leaves -------------------------------------------------------------
class ClaimLost(TelegramError):
    """The message was taken by another claimer before its request left: nothing was sent."""


class Flight:
    """One message on its way. ``take`` marks it as being sent (False: another claimer has it);
    ``give_back`` undoes that when its request certainly did not reach Telegram.

    Over PTB's HTTPX transport (:meth:`GuardedRequest.over_httpx`) the mark is made when the
    request's body is about to be written — the headers already out, the connection made — and
    ``gate`` (one per dispatcher) is held until that write is done, so no other send's database
    work runs between a mark and its bytes: a crash finds almost nothing marked that never left.
    """

    def __init__(self, take: Callable[[], bool], give_back: Callable[[], object],
                 gate: asyncio.Lock | None = None) -> None:
        self._take = take
        self._give_back = give_back
        self._gate = gate
        self._holding = False
        self.marked = False  # recorded as being sent: a crash now leaves it in doubt
        self.delivered = 0  # pieces Telegram accepted

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook (the request's ``trace`` extension)."""
        if event == "http11.send_request_body.started":
            if self._gate is not None:
                await self._gate.acquire()
                self._holding = True
            try:
                self.leaving()
            except BaseException:
                self._let_go()
                raise
        elif event in ("http11.send_request_body.complete", "http11.send_request_body.failed"):
            self._let_go()

    def _let_go(self) -> None:
        if self._holding and self._gate is not None:
            self._holding = False
            self._gate.release()

    def leaving(self) -> None:
        """Its HTTP request is about to go (called by :class:`GuardedRequest`)."""
        if not self.marked:
            if not self._take():
                raise ClaimLost("claimed elsewhere")
            self.marked = True

    def refused(self) -> None:
        """The request did not reach Telegram, or Telegram refused it: nothing arrived."""
        if self.marked and not self.delivered:
            self._give_back()
            self.marked = False


_FLIGHT: contextvars.ContextVar[Flight | None] = contextvars.ContextVar("usce_coach_flight", default=None)

# httpx errors raised before a whole request was written: Telegram cannot have acted on it.
NOT_WRITTEN = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError, httpx.WriteTimeout,
    httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError,
)
REFUSALS = (RetryAfter, Forbidden, BadRequest, InvalidToken, Conflict, ChatMigrated, ClaimLost)


def request_leaving() -> None:
    """Tell the message in flight in this task, if any, that its request leaves now."""
    flight = _FLIGHT.get()
    if flight is not None:
        flight.leaving()


def certainly_not_sent(exc: BaseException) -> bool:
    """True when Telegram cannot have delivered the message: it answered with a refusal, or the
    request was never completely written. Everything else (a read timeout, a reset, a 5xx) is
    in doubt."""
    if isinstance(exc, REFUSALS):
        return True
    if isinstance(exc.__cause__, NOT_WRITTEN):
        return True
    return isinstance(exc, TimedOut) and "not* sent" in str(exc)  # PTB's pool timeout


class _TracedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, asking httpcore to tell the message in flight (if any) each step
    of its request (the ``trace`` extension)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        flight = _FLIGHT.get()
        if flight is not None:
            request.extensions["trace"] = flight.trace
        return await super().handle_async_request(request)


class Wrapped(BaseRequest):
    """A ``BaseRequest`` around another one (PTB's ``HTTPXRequest``, or a test's fake): every
    call goes to ``inner``; subclasses add to ``do_request``."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        return await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


class GuardedRequest(Wrapped):
    """The bot's HTTP layer (wrapping PTB's ``HTTPXRequest``, or a test's fake): marks the
    message in flight the moment its request leaves, and gives the mark back when Telegram
    refused it or the request was never written. Everything else passes through unchanged.

    ``traced``: the inner request's transport marks the message itself, right before the body
    is written (:meth:`over_httpx`); otherwise it is marked just before the inner request."""

    def __init__(self, inner: BaseRequest, traced: bool = False) -> None:
        super().__init__(inner)
        self.traced = traced

    @classmethod
    def over_httpx(cls, connection_pool_size: int) -> GuardedRequest:
        """PTB's ``HTTPXRequest`` with the pool it would have, over the traced transport."""
        transport = _TracedTransport(limits=httpx.Limits(max_connections=connection_pool_size))
        inner = HTTPXRequest(connection_pool_size=connection_pool_size, httpx_kwargs={"transport": transport})
        return cls(inner, traced=True)

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        flight = _FLIGHT.get()
        if flight is not None and not self.traced:
            flight.leaving()
        try:
            code, payload = await super().do_request(url, method, *args, **kwargs)
        except Exception as exc:
            if flight is not None and certainly_not_sent(exc):
                flight.refused()
            raise
        if flight is not None and 400 <= code < 500:  # refused (429 included): nothing was delivered
            flight.refused()
        return code, payload


# -- pacing ------------------------------------------------------------------------------------
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
    NETWORK = "network"  # not sent (no connection) beyond the retry limit: try again later
    FLOOD = "flood"  # still flood-limited after retry_after_max waits: try again later
    IN_DOUBT = "in_doubt"  # the request was written, no answer came (timeout, reset, 5xx)
    PARTIAL = "partial"  # a long message failed after some pieces arrived: never sent again
    SKIPPED = "skipped"  # not attempted (the claim was lost, or the dispatcher is stopping)


AGAIN = frozenset({Result.NETWORK, Result.FLOOD, Result.SKIPPED})  # nothing arrived: may go later


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
        self._gate = asyncio.Lock()  # held from a mark until its request's bytes are out (Flight)
        self._app: Any = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- wiring ------------------------------------------------------------------------------
    def start(self, app: Any) -> None:
        """At start: take back what a crash left behind, then tick from the JobQueue.

        This process holds no claim yet, so every claimed row is a dead process's (sent after
        all) and every row marked as being sent is in doubt: nothing waits for a lease."""
        self._app = app
        again, dropped = recover(self.store, self.clock(), None)
        if again or dropped:
            log.warning("recovered nudges after a restart: %d to send, %d in doubt dropped", again, dropped)
        if app.job_queue is None:  # python-telegram-bot installed without its job-queue extra
            log.error("no JobQueue: timeline nudges will not be sent")
            return
        app.job_queue.run_repeating(
            self._job, interval=self.cfg.delivery.tick_seconds, first=1.0, name="nudges"
        )

    @property
    def live(self) -> bool:
        """False from the moment the application starts stopping: claim and send nothing more."""
        if self._stopping:
            return False
        app = self._app
        if app is None:
            return True
        updater = getattr(app, "updater", None)
        return bool(getattr(app, "running", True)) and (updater is None or bool(updater.running))

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` as a task of the dispatcher's own: the JobQueue does not wait for it at
        shutdown, :meth:`stop` ends it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait until everything spawned has finished (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, grace: float = 0.5) -> None:
        """At shutdown: claim nothing more, give requests already on their way ``grace``
        seconds, then cancel them (a cancelled one whose request had left is in doubt)."""
        self._stopping = True
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _job(self, context: Any) -> None:
        if self._lock.locked() or not self.live:
            return
        self.spawn(self._tick_and_log(context.bot))

    async def _tick_and_log(self, bot: Sender) -> None:
        report = await self.tick(bot)
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
            while self.live:  # batch after batch while there is a backlog, for most of one interval
                claimed = claim_due(self.store, self.clock(), d.batch, new_token())
                report.claimed += len(claimed)
                if await self._batch(bot, claimed, report):
                    break  # the network is down or Telegram wants us to slow down: the rest waits
                if len(claimed) < d.batch or self.monotonic() - began > 0.8 * d.tick_seconds:
                    break
        return report

    async def _batch(self, bot: Sender, claimed: Sequence[Claimed], report: TickReport) -> bool:
        """Send one claimed batch, one user's nudges in order; True when it stopped early."""
        by_user: dict[str, list[Claimed]] = {}
        for nudge in claimed:
            by_user.setdefault(nudge.user_id, []).append(nudge)
        untouched = {n.id: n for n in claimed}

        async def one(nudge: Claimed) -> bool:
            untouched.pop(nudge.id, None)
            return await self._one(bot, nudge, report)

        try:
            return await self.each(by_user.values(), one)
        finally:  # stopped early, shutting down, or cancelled: what never started goes back
            for nudge in untouched.values():
                release(self.store, nudge, parse_stamp(nudge.due_at), self.clock())

    async def each(self, groups: Iterable[Sequence[T]], handle: Callable[[T], Awaitable[bool]]) -> bool:
        """Run ``handle`` over every item, ``parallel`` groups at a time and each group's items in
        order, until one returns True (stop) or the dispatcher stops. True if it stopped early."""
        queue = deque(groups)
        halted = False

        async def worker() -> None:
            nonlocal halted
            while queue and not halted and self.live:
                for item in queue.popleft():
                    if halted or not self.live:
                        break
                    if await handle(item):
                        halted = True

        await asyncio.gather(*(worker() for _ in range(min(self.cfg.delivery.parallel, len(queue)))))
        return halted or bool(queue)

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
        flight = self.flight(lambda: mark_sending(store, nudge, self.clock()),
                             lambda: unmark_sending(store, nudge, self.clock()))
        try:
            result = await self.send(bot, Outgoing(decision.chat_id, decision.reply, nudge.user_id), flight)
        except asyncio.CancelledError:  # shutting down mid-send
            if flight.marked:
                mark_failed(store, nudge, self.clock(), "in doubt: stopped while sending")
            else:
                release(store, nudge, parse_stamp(nudge.due_at), self.clock())
            raise
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
        elif result in (Result.IN_DOUBT, Result.PARTIAL):
            mark_failed(store, nudge, now, f"in doubt: {result.value}")
            report.failed += 1
        elif result is Result.SKIPPED:  # another claimer took it, or stopping: nothing was sent
            release(store, nudge, parse_stamp(nudge.due_at), now)
            return True
        else:  # NETWORK or FLOOD: nothing was sent
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
    def flight(self, take: Callable[[], bool], give_back: Callable[[], object]) -> Flight:
        """A :class:`Flight` for one message sent through this dispatcher (sharing its gate)."""
        return Flight(take, give_back, self._gate)

    async def deliver(self, bot: Sender, messages: Iterable[Outgoing]) -> list[Result]:
        """Send each message in turn at the shared pace; one :class:`Result` per message."""
        return [await self.send(bot, message) for message in messages]

    async def send(self, bot: Sender, message: Outgoing, flight: Flight | None = None) -> Result:
        """Send one message (split at Telegram's limit, each piece paced). ``flight`` is told the
        moment its first request leaves. A block marks the user inactive and stops their nudges.
        After a piece has arrived, a failure is never retried (``PARTIAL``): nothing twice."""
        flight = flight or Flight(lambda: True, lambda: None)
        pieces = split_text(message.reply.text)
        token = _FLIGHT.set(flight)
        try:
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                result = await self._send_piece(
                    bot, message.chat_id, piece, keyboard_json(message.reply.buttons) if last else None, flight
                )
                if result is Result.BLOCKED and message.user_id:
                    stop_user(self.store, message.user_id)
                if result is not Result.SENT:
                    return Result.PARTIAL if flight.delivered and result in AGAIN else result
                flight.delivered += 1
            return Result.SENT
        finally:
            _FLIGHT.reset(token)

    async def _send_piece(self, bot: Sender, chat_id: int, text: str, keyboard: str | None, flight: Flight) -> Result:
        d = self.cfg.delivery
        floods = network = 0
        while True:
            await self.limiter.wait(chat_id)
            if not self.live:
                return Result.SKIPPED
            try:
                await bot.post_html(chat_id, text, keyboard)
                return Result.SENT
            except ClaimLost:
                return Result.SKIPPED
            except RetryAfter as exc:
                flight.refused()
                floods += 1
                seconds = retry_seconds(exc)
                log.warning("flood control: waiting %.0f s (%d)", seconds, floods)
                self.limiter.hold(seconds)  # every sender waits, not just this message
                if floods > d.retry_after_max:
                    return Result.FLOOD
            except Forbidden:
                flight.refused()
                return Result.BLOCKED
            except BadRequest as exc:
                flight.refused()
                log.warning("bad request sending to a chat: %s", exc.message)
                return Result.BAD_REQUEST
            except NetworkError as exc:  # TimedOut included
                if not certainly_not_sent(exc):
                    log.warning("sending is in doubt (%s), not sent again", type(exc).__name__)
                    return Result.IN_DOUBT
                flight.refused()
                network += 1
                log.warning("network error before sending (%d): %s", network, exc.message)
                if network > d.network_retries:
                    return Result.NETWORK
                await self.sleep(d.network_backoff_seconds * 2 ** (network - 1))
