"""The dispatcher: ticks, rate limits and Telegram errors, on a virtual clock (nothing sleeps).

Errors are tried three ways: a tiny fake bot that raises PTB's exceptions on request, a real
``CoachBot`` over the recording fake request, and a real bot against the local Bot API
emulator (403 and 429 injected there)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter
from telegram.request import BaseRequest, RequestData

from bot.coachbot import CoachBot
from bot.delivery import (
    _FLIGHT,
    Dispatcher,
    Flight,
    GuardedRequest,
    Outgoing,
    RateLimiter,
    Result,
    request_leaving,
)
from flows.base.types import Button, Input, Reply, keyboard
from flows.domain.nudges import config
from flows.engine.engine import Engine, Turn
from flows.features import all_features
from flows.storage.nudges import claim_due, mark_sending, new_token, schedule_rows, unmark_sending
from flows.storage.profiles import save_answer
from flows.storage.store import Store
from tests.chat import Clock
from tests.emulator import Emulator
from tests.fake_telegram import TOKEN, Call, RecordingRequest

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 12:00 UTC: daytime in London


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB's RetryAfter warns otherwise (errors here)


class VirtualTime:
    """One clock for the engine, the dispatcher's wall clock and its monotonic clock. Sleeping
    only moves it: sleepers wake in order of their deadlines, the clock jumping to each in turn
    once every other task has had its go, so concurrent senders see time as they would."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.epoch = clock.now
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        return (self.clock.now - self.epoch).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self.monotonic() + seconds, next(self._order), woken))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive())
        await woken

    async def _drive(self) -> None:
        while self._waiters:
            for _ in range(20):  # every runnable task goes on to its next sleep (or finishes)
                await asyncio.sleep(0)
            deadline, _, woken = heapq.heappop(self._waiters)
            if deadline > self.monotonic():
                self.clock.advance(seconds=deadline - self.monotonic())
            if not woken.done():
                woken.set_result(None)


def connect_error() -> NetworkError:
    """What PTB raises when no connection could be made: the request never left."""
    error = NetworkError("httpx.ConnectError: connection refused")
    error.__cause__ = httpx.ConnectError("connection refused")
    return error


class FakeBot:
    """Records sends (virtual time, chat, text, markup); raises the exceptions queued per chat.
    Like the bot's guarded HTTP layer, it says when each request leaves (before any error)."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.sent: list[tuple[float, int, str, Any]] = []
        self.errors: dict[int, list[BaseException]] = {}

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> None:
        request_leaving()
        queued = self.errors.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((self.vt.monotonic(), chat_id, text, json.loads(keyboard) if keyboard else None))

    def chats(self) -> list[int]:
        return [chat for _, chat, _, _ in self.sent]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def vt(clock: Clock) -> VirtualTime:
    return VirtualTime(clock)


@pytest.fixture
def dispatcher(engine: Engine, vt: VirtualTime) -> Dispatcher:
    return make_dispatcher(engine.store, engine, vt)


@pytest.fixture
def bot(vt: VirtualTime) -> FakeBot:
    return FakeBot(vt)


def make_dispatcher(store: Store, engine: Engine, vt: VirtualTime) -> Dispatcher:
    return Dispatcher(store, engine.texts, clock=vt.clock, sleep=vt.sleep, monotonic=vt.monotonic)


def add_users(store: Store, count: int, *, first: int = 1, due: datetime = START - timedelta(hours=1),
              per_user: int = 1, zone: str | None = "Europe/London") -> None:
    """``count`` Telegram users, each with ``per_user`` due milestone nudges."""
    stamp = "2026-11-01T00:00:00Z"
    with store.atomic():
        store.db.table("users").insert_all(
            {"user_id": f"tg:{i}", "chat_id": i, "first_seen": stamp, "last_seen": stamp}
            for i in range(first, first + count)
        )
        if zone:
            store.db.table("profiles").insert_all({"user_id": f"tg:{i}", "timezone": zone}
                                                   for i in range(first, first + count))
        store.db.table("nudges").insert_all(
            {"user_id": f"tg:{i}", "key": f"ms:{k}", "kind": "milestone", "channel": "tg", "status": "scheduled",
             "due_on": due.date().isoformat(), "due_at": (due + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "expires_on": (due + timedelta(days=30)).date().isoformat(),
             "args": json.dumps({"m": ["secure", "letters", "apply"][k % 3]})}
            for i in range(first, first + count) for k in range(per_user)
        )


def status(store: Store, user: str = "tg:1") -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in schedule_rows(store, user)}


# -- ticks -----------------------------------------------------------------------------------------
async def test_a_tick_sends_each_due_nudge_once_with_its_buttons(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot
) -> None:
    add_users(engine.store, 3)
    report = await dispatcher.tick(bot)
    assert (report.claimed, report.sent) == (3, 3)
    assert sorted(bot.chats()) == [1, 2, 3]
    _, _, text, markup = bot.sent[0]
    assert "lock in your USCE" in text and "Why now" in text
    data = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert [d.split(":")[:2] for d in data] == [["n", "d"], ["n", "s"], ["n", "x"]]
    assert status(engine.store)["ms:0"]["status"] == "sent"
    again = await dispatcher.tick(bot)
    assert again.claimed == 0 and len(bot.sent) == 3


async def test_nothing_arrives_in_quiet_hours_it_waits_for_the_morning(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 1, zone="America/New_York", due=START - timedelta(days=1))
    clock.now = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 02:00 in New York
    report = await dispatcher.tick(bot)
    assert (report.sent, report.deferred) == (0, 1) and bot.sent == []
    row = status(engine.store)["ms:0"]
    assert (row["status"], row["due_at"]) == ("scheduled", "2026-11-26T14:30:00+00:00")  # 09:30 EST
    clock.now = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    assert (await dispatcher.tick(bot)).sent == 1


async def test_one_nudge_a_day_per_user_even_when_several_are_due(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 1, per_user=3)
    report = await dispatcher.tick(bot)
    assert (report.sent, report.deferred) == (1, 2)
    later = [r["due_at"] for r in status(engine.store).values() if r["status"] == "scheduled"]
    assert later and min(later) >= "2026-11-26T08:00:00+00:00"  # at least 20 hours on
    clock.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert (await dispatcher.tick(bot)).sent == 1


async def test_expired_and_unwanted_nudges_are_skipped_not_sent(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 2, due=START - timedelta(days=40))  # down for 40 days: too late now
    report = await dispatcher.tick(bot)
    assert (report.sent, report.skipped) == (0, 2)
    assert status(engine.store)["ms:0"]["error"] == "expired"


async def test_sends_stay_under_the_global_and_per_chat_limits(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, vt: VirtualTime
) -> None:
    add_users(engine.store, 100)
    await dispatcher.tick(bot)
    times = [t for t, *_ in bot.sent]
    assert len(times) == 100
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 26  # about 25 a second
    assert times[-1] - times[0] == pytest.approx(99 / 25, rel=0.01)
    replies = [Outgoing(555, Reply(f"part {i}")) for i in range(4)]
    first = vt.monotonic()
    await dispatcher.deliver(bot, replies)
    same_chat = [t for t, chat, *_ in bot.sent if chat == 555]
    assert [round(b - a, 6) for a, b in itertools.pairwise(same_chat)] == [1.0, 1.0, 1.0]
    assert same_chat[0] >= first


async def test_the_rate_limiter_shares_one_budget_between_concurrent_senders(vt: VirtualTime) -> None:
    limiter = RateLimiter(25, 1.0, vt.monotonic, vt.sleep)
    stamps: list[float] = []

    async def sender(base: int) -> None:
        for i in range(50):
            await limiter.wait(base + i)
            stamps.append(vt.monotonic())

    await asyncio.gather(sender(0), sender(1000))
    stamps.sort()
    assert max(sum(1 for t in stamps if s <= t < s + 1) for s in stamps) <= 26
    assert stamps[-1] == pytest.approx(99 / 25, abs=0.05)


async def test_catching_up_after_downtime_is_spread_over_ticks(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, vt: VirtualTime
) -> None:
    add_users(engine.store, 1000, due=START - timedelta(days=3))  # down for three days
    first = await dispatcher.tick(bot)
    d = config().delivery
    assert d.batch < first.claimed == first.sent < 1000  # several batches, within about one interval
    assert vt.monotonic() <= d.tick_seconds + d.batch / d.rate_per_second
    assert vt.monotonic() == pytest.approx((first.sent - 1) / 25, rel=0.01)  # at the rate, not a burst
    while (await dispatcher.tick(bot)).claimed:
        pass
    assert len(bot.sent) == 1000 == len(set(bot.chats()))


async def test_two_ticks_at_once_do_not_overlap(engine: Engine, dispatcher: Dispatcher, bot: FakeBot) -> None:
    add_users(engine.store, 20)
    a, b = await asyncio.gather(dispatcher.tick(bot), dispatcher.tick(bot))
    assert sorted([a.busy, b.busy]) == [False, True]
    assert len(bot.sent) == 20


async def test_two_processes_on_one_database_send_each_nudge_once(tmp_path: Path, vt: VirtualTime) -> None:
    path = tmp_path / "db.sqlite"
    first = Store.open(path)
    engine = Engine(first, all_features(), clock=vt.clock)
    engine.migrate()
    add_users(first, 60)
    second = Store.open(path)
    bot = FakeBot(vt)
    d1 = make_dispatcher(first, engine, vt)
    d2 = make_dispatcher(second, engine, vt)
    d1.cfg = d2.cfg = _with_batch(10)
    while any(r.claimed for r in await asyncio.gather(d1.tick(bot), d2.tick(bot))):
        pass
    assert sorted(bot.chats()) == list(range(1, 61))
    first.close()
    second.close()


def _with_batch(batch: int) -> Any:
    from dataclasses import replace

    cfg = config()
    return replace(cfg, delivery=replace(cfg.delivery, batch=batch))


# -- restart recovery -----------------------------------------------------------------------------
class FakeJobQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[Any, float]] = []

    def run_repeating(self, callback: Any, interval: float, first: float, name: str) -> None:
        self.jobs.append((callback, interval))


class FakeApp:
    def __init__(self) -> None:
        self.job_queue = FakeJobQueue()


async def test_a_restart_resends_what_was_claimed_but_never_sent_and_drops_what_is_in_doubt(
    engine: Engine, vt: VirtualTime, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 3)
    claimed = claim_due(engine.store, clock(), 10, new_token())  # a tick claimed three ...
    assert mark_sending(engine.store, claimed[0], clock())  # ... one's request had left ...
    clock.advance(seconds=2)  # ... and the process died; it is back two seconds later: no lease to wait out.
    restarted = make_dispatcher(engine.store, engine, vt)
    app = FakeApp()
    restarted.start(app)
    assert [interval for _, interval in app.job_queue.jobs] == [config().delivery.tick_seconds]
    report = await restarted.tick(bot)
    assert report.sent == 2 and sorted(bot.chats()) == [2, 3]
    assert status(engine.store)["ms:0"]["status"] == "failed"  # in doubt: never sent twice
    assert (await restarted.tick(bot)).claimed == 0


async def test_the_job_callback_ticks(engine: Engine, dispatcher: Dispatcher, bot: FakeBot,
                                      caplog: pytest.LogCaptureFixture) -> None:
    add_users(engine.store, 2)
    app = FakeApp()
    dispatcher.start(app)
    [(callback, _)] = app.job_queue.jobs

    class Context:
        def __init__(self, bot: FakeBot) -> None:
            self.bot = bot

    with caplog.at_level(logging.INFO, logger="usce_coach.delivery"):
        await callback(Context(bot))  # returns at once: the tick runs as the dispatcher's own task
        await dispatcher.idle()
    assert len(bot.sent) == 2 and "sent=2" in caplog.text


# -- Telegram errors (fake bot) -------------------------------------------------------------------
async def test_retry_after_waits_the_time_asked_then_sends(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, vt: VirtualTime
) -> None:
    add_users(engine.store, 2)
    bot.errors[1] = [RetryAfter(7)]
    report = await dispatcher.tick(bot)
    assert report.sent == 2 and bot.chats() == [1, 2]
    assert 7.0 in vt.sleeps and bot.sent[0][0] >= 7.0


async def test_flood_control_that_does_not_end_gives_the_nudges_back(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot
) -> None:
    add_users(engine.store, 3)
    bot.errors[1] = [RetryAfter(30) for _ in range(10)]
    report = await dispatcher.tick(bot)
    assert report.retry_later == 1 and 1 not in bot.chats()  # everyone waited each time; 1 never went
    assert status(engine.store)["ms:0"]["status"] == "scheduled"
    assert report.sent == 2 and sorted(bot.chats()) == [2, 3]  # the others were not held back for good


async def test_forbidden_marks_the_user_inactive_and_stops_their_nudges(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot
) -> None:
    add_users(engine.store, 2)
    with engine.store.atomic():  # a later nudge that is still waiting
        engine.store.db.table("nudges").insert({
            "user_id": "tg:1", "key": "ms:later", "kind": "milestone", "channel": "tg", "status": "scheduled",
            "due_on": "2027-03-01", "due_at": "2027-03-01T09:30:00Z", "expires_on": "2027-04-01", "args": "{}",
        })
    bot.errors[1] = [Forbidden("Forbidden: bot was blocked by the user")]
    report = await dispatcher.tick(bot)
    assert (report.blocked, report.sent) == (1, 1) and bot.chats() == [2]
    assert engine.store.user("tg:1")["active"] == 0  # type: ignore[index]
    assert list(status(engine.store)) == ["ms:0"] and status(engine.store)["ms:0"]["status"] == "failed"


async def test_bad_request_is_logged_and_the_nudge_failed(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    add_users(engine.store, 2)
    bot.errors[1] = [BadRequest("Can't parse entities")]
    with caplog.at_level(logging.WARNING, logger="usce_coach.delivery"):
        report = await dispatcher.tick(bot)
    assert (report.failed, report.sent) == (1, 1)
    assert "Can't parse entities" in caplog.text
    assert status(engine.store)["ms:0"]["status"] == "failed"


async def test_network_errors_retry_with_backoff(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, vt: VirtualTime
) -> None:
    add_users(engine.store, 1)
    bot.errors[1] = [connect_error(), connect_error()]
    assert (await dispatcher.tick(bot)).sent == 1
    assert vt.sleeps[:2] == [2.0, 4.0]


async def test_network_errors_past_the_limit_try_again_later_then_give_up(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 2)
    limit = config().delivery
    bot.errors[1] = [connect_error() for _ in range(100)]
    report = await dispatcher.tick(bot)
    assert report.retry_later == 1 and 1 not in bot.chats()  # tried 4 times, then given back
    row = status(engine.store)["ms:0"]
    assert (row["status"], row["attempts"]) == ("scheduled", 1) and row["due_at"] > clock().strftime("%Y-%m-%dT%H")
    for _ in range(limit.max_attempts + 2):
        clock.advance(days=1)  # midday again: outside quiet hours
        await dispatcher.tick(bot)
    row = status(engine.store)["ms:0"]
    assert (row["status"], row["error"]) == ("failed", "network errors")
    assert row["attempts"] == limit.max_attempts - 1
    assert bot.chats() == [2]


async def test_a_timeout_after_the_request_left_is_in_doubt_and_not_resent(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 1)
    bot.errors[1] = [TimedOut()]
    assert (await dispatcher.tick(bot)).failed == 1
    clock.advance(days=1)
    assert (await dispatcher.tick(bot)).claimed == 0 and bot.sent == []


async def test_a_connect_timeout_is_safe_to_retry(engine: Engine, dispatcher: Dispatcher, bot: FakeBot) -> None:
    add_users(engine.store, 1)
    try:
        raise httpx.ConnectTimeout("no route")
    except httpx.ConnectTimeout as cause:
        timeout = TimedOut()
        timeout.__cause__ = cause
    bot.errors[1] = [timeout]
    assert (await dispatcher.tick(bot)).sent == 1


async def test_deliver_is_the_broadcast_path(engine: Engine, dispatcher: Dispatcher, bot: FakeBot) -> None:
    add_users(engine.store, 3)
    bot.errors[2] = [Forbidden("Forbidden: bot was blocked by the user")]
    bot.errors[3] = [BadRequest("chat not found")]
    reply = Reply("📣 <b>News</b>", keyboard([Button("Open", "go:menu")]))
    results = await dispatcher.deliver(bot, [Outgoing(i, reply, f"tg:{i}") for i in (1, 2, 3)])
    assert results == [Result.SENT, Result.BLOCKED, Result.BAD_REQUEST]
    assert engine.store.user("tg:2")["active"] == 0  # type: ignore[index]
    assert status(engine.store, "tg:2") == {}  # their nudges stopped too
    long = Reply("x " * 3000)
    assert await dispatcher.deliver(bot, [Outgoing(1, long)]) == [Result.SENT]
    assert len([c for c in bot.chats() if c == 1]) == 3  # split in two, each piece paced


# -- the same errors through a real Bot over the recording fake request ----------------------------
@pytest.fixture
async def recorded(vt: VirtualTime) -> AsyncIterator[tuple[CoachBot, RecordingRequest]]:
    request = RecordingRequest()
    async with CoachBot(TOKEN, request=request) as real:
        yield real, request


async def test_recording_fake_429_waits_then_sends(
    engine: Engine, dispatcher: Dispatcher, recorded: tuple[CoachBot, RecordingRequest], vt: VirtualTime
) -> None:
    real, request = recorded
    add_users(engine.store, 1)
    request.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", {"retry_after": 3})
    assert (await dispatcher.tick(real)).sent == 1
    assert 3.0 in vt.sleeps and len(request.sent()) == 2  # the refused call and the good one
    sent = request.sent()[-1]
    assert sent["parse_mode"] == "HTML" and "n:d:" in json.dumps(sent["reply_markup"])


@pytest.mark.parametrize(
    ("code", "description", "field", "expected"),
    [
        (403, "Forbidden: bot was blocked by the user", "blocked", "failed"),
        (400, "Bad Request: chat not found", "failed", "failed"),
    ],
)
async def test_recording_fake_403_and_400(
    engine: Engine, dispatcher: Dispatcher, recorded: tuple[CoachBot, RecordingRequest],
    code: int, description: str, field: str, expected: str,
) -> None:
    real, request = recorded
    add_users(engine.store, 1)
    request.fail_next("sendMessage", code, description)
    report = await dispatcher.tick(real)
    assert getattr(report, field) == 1 and status(engine.store)["ms:0"]["status"] == expected
    assert engine.store.user("tg:1")["active"] == (0 if code == 403 else 1)  # type: ignore[index]


async def test_a_nudge_telegram_cannot_parse_goes_again_as_plain_text(
    engine: Engine, dispatcher: Dispatcher, recorded: tuple[CoachBot, RecordingRequest]
) -> None:
    real, request = recorded
    add_users(engine.store, 1)
    request.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    report = await dispatcher.tick(real)
    assert (report.sent, report.failed) == (1, 0) and status(engine.store)["ms:0"]["status"] == "sent"
    refused, plain = request.sent()
    assert refused["parse_mode"] == "HTML" and "parse_mode" not in plain
    assert "<b>" in refused["text"] and "<b>" not in plain["text"]  # the same words, without the markup
    assert plain["reply_markup"] == refused["reply_markup"]  # the buttons still come with it


# -- and against the Bot API emulator --------------------------------------------------------------
@pytest.fixture
async def emulated() -> AsyncIterator[tuple[Emulator, CoachBot]]:
    async with Emulator() as emu, CoachBot(TOKEN, base_url=emu.base_url) as real:
        yield emu, real


async def test_emulator_429_on_request_is_waited_out(
    engine: Engine, dispatcher: Dispatcher, emulated: tuple[Emulator, CoachBot], vt: VirtualTime
) -> None:
    emu, real = emulated
    add_users(engine.store, 2)
    emu.flood_next("sendMessage", retry_after=4, chat_id=1)
    report = await dispatcher.tick(real)
    assert report.sent == 2 and 4.0 in vt.sleeps
    [message] = emu.sent_messages(1)
    assert message.callback_data[0].startswith("n:d:") and "lock in your USCE" in message.plain_text


async def test_emulator_403_marks_the_user_inactive(
    engine: Engine, dispatcher: Dispatcher, emulated: tuple[Emulator, CoachBot]
) -> None:
    emu, real = emulated
    add_users(engine.store, 2)
    emu.block(1)
    report = await dispatcher.tick(real)
    assert (report.blocked, report.sent) == (1, 1)
    assert engine.store.user("tg:1")["active"] == 0  # type: ignore[index]
    assert emu.sent_messages(1) == [] and len(emu.sent_messages(2)) == 1


async def test_a_user_who_writes_again_is_active_and_gets_nudges_again(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 1)
    bot.errors[1] = [Forbidden("Forbidden: bot was blocked by the user")]
    await dispatcher.tick(bot)
    engine.handle(Input.command("tg:1", "menu"), chat_id=1)  # they unblocked and wrote
    assert engine.store.user("tg:1")["active"] == 1  # type: ignore[index]
    with engine.store.atomic():
        save_answer(engine.store, "tg:1", clock().isoformat(), application="2029-09")
    turn = Turn("tg:1", engine.store.load_session("tg:1"), engine.store, engine.texts, clock(), engine)
    engine.feature("nudges").on_changed(turn, {"profile"})  # type: ignore[union-attr]
    assert "ms:secure" in status(engine.store)


async def test_the_telegram_application_starts_the_nudge_job(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from bot.settings import Settings
    from bot.telegram import build_application

    monkeypatch.setattr(gc, "freeze", lambda: None)  # post_init's start-up tuning, not for a test run

    settings = Settings(telegram_bot_token=TOKEN, database_path=":memory:")  # type: ignore[arg-type]
    app = build_application(engine, settings, "salt", request=RecordingRequest())
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        assert "nudges" in [job.name for job in app.job_queue.jobs()]  # type: ignore[union-attr]
        assert isinstance(app.bot_data["dispatcher"], Dispatcher)


# -- exactly as promised: marked only as the request leaves ----------------------------------------
class Gate(BaseRateLimiter[int]):
    """A stand-in for PTB's rate-limiter queue: requests wait here until the gate opens."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any],
        endpoint: str, data: dict[str, Any], rate_limit_args: int | None,
    ) -> Any:
        if endpoint == "sendMessage":
            self.waiting += 1
            await self.open.wait()
            self.waiting -= 1
        return await callback(*args, **kwargs)


class WatchingRequest(RecordingRequest):
    """Records, for each sendMessage, the nudge's status at the moment the request is made;
    ``raises`` are raised (instead of answering) by the next requests, in order."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.seen: list[str] = []
        self.raises: list[BaseException] = []

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.endswith("/sendMessage"):
            self.seen.append(self.store.conn.execute("SELECT group_concat(status) FROM nudges").fetchone()[0])
            if self.raises:
                self.calls.append(Call("sendMessage", {}))
                raise self.raises.pop(0)
        return await super().do_request(url, method, request_data, *args, **kwargs)


def guarded_bot(request: BaseRequest, rate_limiter: Any = None) -> CoachBot:
    return CoachBot(TOKEN, request=GuardedRequest(request), rate_limiter=rate_limiter)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_a_nudge_waiting_in_ptbs_rate_limiter_is_only_claimed_and_is_marked_as_its_request_leaves(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    add_users(engine.store, 1)
    request, gate = WatchingRequest(engine.store), Gate()
    async with guarded_bot(request, gate) as real:
        tick = asyncio.create_task(dispatcher.tick(real))
        await until(lambda: gate.waiting == 1)
        assert status(engine.store)["ms:0"]["status"] == "claimed"  # a crash now loses nothing
        gate.open.set()
        report = await tick
    assert report.sent == 1 and request.seen == ["sending"]  # marked exactly as the request went
    assert status(engine.store)["ms:0"]["status"] == "sent"


async def test_a_crash_while_waiting_in_ptbs_queue_loses_nothing_and_sends_nothing_twice(
    engine: Engine, vt: VirtualTime, clock: Clock
) -> None:
    add_users(engine.store, 1)
    request, gate = WatchingRequest(engine.store), Gate()
    first = make_dispatcher(engine.store, engine, vt)
    async with guarded_bot(request, gate) as stuck, guarded_bot(request) as real:
        old = asyncio.create_task(first.tick(stuck))
        await until(lambda: gate.waiting == 1)  # the process "dies" here; a new one starts
        clock.advance(seconds=2)
        restarted = make_dispatcher(engine.store, engine, vt)
        restarted.start(FakeApp())
        assert status(engine.store)["ms:0"]["status"] == "scheduled"  # nothing to wait out
        assert (await restarted.tick(real)).sent == 1
        gate.open.set()  # the old request finally gets through PTB's queue: its claim is gone
        await old
    assert len(request.sent()) == 1 and request.seen == ["sending"]
    assert status(engine.store)["ms:0"]["status"] == "sent"


def _caused(error: NetworkError, cause: BaseException) -> NetworkError:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        # written, then no (usable) answer: Telegram may have delivered it
        (lambda: _caused(NetworkError("httpx.ReadError: reset"), httpx.ReadError("reset")), "in doubt"),
        (lambda: _caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("closed")),
         "in doubt"),
        (lambda: _caused(TimedOut(), httpx.ReadTimeout("slow")), "in doubt"),
        # never (completely) written: safe to send again
        (lambda: _caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")), "sent"),
        (lambda: _caused(NetworkError("httpx.WriteError"), httpx.WriteError("broken pipe")), "sent"),
        (lambda: _caused(TimedOut(), httpx.ConnectTimeout("no route")), "sent"),
        (lambda: _caused(TimedOut("Pool timeout: Request was *not* sent to Telegram."), httpx.PoolTimeout("")),
         "sent"),
    ],
)
async def test_a_reset_or_timeout_after_the_request_was_written_is_in_doubt_never_resent(
    engine: Engine, dispatcher: Dispatcher, clock: Clock, fault: Callable[[], BaseException], outcome: str
) -> None:
    add_users(engine.store, 1)
    request = WatchingRequest(engine.store)
    request.raises = [fault()]
    async with guarded_bot(request) as real:
        await dispatcher.tick(real)
        clock.advance(days=1)
        await dispatcher.tick(real)
    row = status(engine.store)["ms:0"]
    if outcome == "in doubt":
        assert (row["status"], row["error"]) == ("failed", "in doubt: in_doubt")
        assert len(request.seen) == 1  # tried once, never again
    else:
        assert row["status"] == "sent" and len(request.seen) == 2  # the failed try, then the good one


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_a_5xx_answer_is_in_doubt_never_resent(
    engine: Engine, dispatcher: Dispatcher, clock: Clock, code: int
) -> None:
    add_users(engine.store, 1)
    request = WatchingRequest(engine.store)
    request.fail_next("sendMessage", code, "Internal Server Error")
    async with guarded_bot(request) as real:
        assert (await dispatcher.tick(real)).failed == 1
        clock.advance(days=1)
        assert (await dispatcher.tick(real)).claimed == 0
    assert len(request.sent()) == 1 and status(engine.store)["ms:0"]["error"] == "in doubt: in_doubt"


async def test_a_refused_request_gives_the_mark_back_at_once(engine: Engine, clock: Clock) -> None:
    """A 429 (what PTB's limiter waits out before trying again) or a failed connection: the nudge is
    claimed, not "sending", while it waits, so a crash then loses nothing."""
    add_users(engine.store, 1)
    [nudge] = claim_due(engine.store, clock(), 10, new_token())
    request = WatchingRequest(engine.store)
    guarded = GuardedRequest(request)
    flight = Flight(lambda: mark_sending(engine.store, nudge, clock()),
                    lambda: unmark_sending(engine.store, nudge, clock()))
    request.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", {"retry_after": 5})
    token = _FLIGHT.set(flight)
    try:
        code, _ = await guarded.do_request("https://api.telegram.org/botX/sendMessage", "POST")
        assert code == 429 and request.seen == ["sending"]
        assert status(engine.store)["ms:0"]["status"] == "claimed" and not flight.marked
        request.raises = [_caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused"))]
        with pytest.raises(NetworkError):
            await guarded.do_request("https://api.telegram.org/botX/sendMessage", "POST")
        assert status(engine.store)["ms:0"]["status"] == "claimed"
        code, _ = await guarded.do_request("https://api.telegram.org/botX/sendMessage", "POST")
        assert code == 200 and status(engine.store)["ms:0"]["status"] == "sending"
    finally:
        _FLIGHT.reset(token)


# -- in parallel, and stopping -----------------------------------------------------------------
class SlowChatBot(FakeBot):
    """Chat 1's request hangs until released; everyone else's goes through."""

    def __init__(self, vt: VirtualTime) -> None:
        super().__init__(vt)
        self.release = asyncio.Event()
        self.hanging = 0

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> None:
        if chat_id == 1:
            request_leaving()
            self.hanging += 1
            await self.release.wait()
        await super().post_html(chat_id, text, keyboard)


async def test_one_slow_chat_does_not_hold_up_the_others(
    engine: Engine, dispatcher: Dispatcher, vt: VirtualTime
) -> None:
    add_users(engine.store, 20)
    bot = SlowChatBot(vt)
    tick = asyncio.create_task(dispatcher.tick(bot))
    await until(lambda: len(bot.sent) == 19)  # all the others, while chat 1 still hangs
    assert bot.hanging == 1 and 1 not in bot.chats()
    bot.release.set()
    assert (await tick).sent == 20


async def test_stopping_claims_nothing_more_and_records_what_was_on_its_way(
    engine: Engine, dispatcher: Dispatcher, vt: VirtualTime
) -> None:
    add_users(engine.store, 40)
    bot = SlowChatBot(vt)
    dispatcher.spawn(dispatcher.tick(bot))
    await until(lambda: bot.hanging == 1 and len(bot.sent) >= 3)
    await dispatcher.stop(grace=0.01)  # what SIGTERM does (post_stop); chat 1 never answers
    rows = {u: status(engine.store, f"tg:{u}")["ms:0"] for u in range(1, 41)}
    assert (rows[1]["status"], rows[1]["error"]) == ("failed", "in doubt: stopped while sending")
    counts = Counter(r["status"] for r in rows.values())
    assert counts["sent"] == len(bot.sent) and counts["scheduled"] == 40 - 1 - len(bot.sent)
    assert counts["claimed"] == counts["sending"] == 0  # nothing left held: a restart has nothing to wait for
    sent = len(bot.sent)
    assert (await dispatcher.tick(bot)).claimed == 0 and len(bot.sent) == sent  # stopped: claims nothing


async def test_a_broadcast_piece_that_arrived_is_never_sent_again(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot
) -> None:
    """A copy of several pieces (a broadcast queued before copies were limited to one message)
    whose second piece cannot go: the copy fails, and the first piece is not sent again."""
    from bot.broadcast import send_queued

    add_users(engine.store, 1)
    with engine.store.atomic():
        bid = engine.store.db.table("broadcasts").insert(
            {"text": "word " * 1500, "created_at": START.isoformat(), "recipients": 1}).last_pk
        engine.store.db.table("broadcast_messages").insert(
            {"broadcast_id": bid, "user_id": "tg:1", "chat_id": 1, "status": "queued", "queued_at": START.isoformat()})
    original = bot.post_html

    async def second_piece_never_connects(chat_id: int, text: str, keyboard: str | None = None) -> None:
        if bot.sent:
            request_leaving()
            raise _caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused"))
        await original(chat_id, text, keyboard)

    bot.post_html = second_piece_never_connects  # type: ignore[method-assign]
    assert await send_queued(engine.store, dispatcher, bot) == Counter({"failed": 1})
    assert await send_queued(engine.store, dispatcher, bot) == Counter()
    assert len(bot.sent) == 1  # the first piece, once


# -- catching up in the user's morning ---------------------------------------------------------
@pytest.mark.parametrize(
    ("back_at_utc", "sent_now", "next_local"),
    [
        (datetime(2026, 11, 28, 21, 37, tzinfo=UTC), False, "2026-11-29 09:30"),  # 16:37 in New York
        (datetime(2026, 11, 28, 17, 37, tzinfo=UTC), False, "2026-11-29 09:30"),  # 12:37
        (datetime(2026, 11, 28, 15, 15, tzinfo=UTC), True, "2026-11-28 10:15"),  # 10:15: in the morning
    ],
)
async def test_a_catch_up_after_downtime_goes_out_in_the_users_morning(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock,
    back_at_utc: datetime, sent_now: bool, next_local: str,
) -> None:
    from zoneinfo import ZoneInfo

    add_users(engine.store, 1, zone="America/New_York", per_user=2, due=START - timedelta(days=2))
    clock.now = back_at_utc  # the bot was down for days; it comes back at this moment
    await dispatcher.tick(bot)
    ny = ZoneInfo("America/New_York")
    sent = [clock.now.astimezone(ny) for _ in bot.sent]
    assert bool(sent) is sent_now
    waiting = sorted(r["due_at"] for r in status(engine.store).values() if r["status"] == "scheduled")
    first = sent[0] if sent else datetime.fromisoformat(waiting[0]).astimezone(ny)
    assert first.strftime("%Y-%m-%d %H:%M") == next_local
    # The one-a-day gap fills in the next morning too, never at an odd hour.
    for due in waiting:
        local = datetime.fromisoformat(due).astimezone(ny)
        assert local.strftime("%H:%M") == "09:30"


# -- a broadcast is limited as sent, after escaping --------------------------------------------
async def test_a_broadcast_is_limited_by_its_length_as_sent_and_every_copy_is_one_message(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot
) -> None:
    from bot.broadcast import send_queued
    from flows.features.admin import BROADCAST_LIMIT
    from flows.storage.broadcasts import queued_messages
    from tests.chat import Chat

    admin = Chat(engine, "tg:42")  # the conftest engine's admin
    engine.handle(Input.command("tg:42", "start"), chat_id=42)
    admin.send("/broadcast " + "&" * 3500)  # 3,500 typed, 17,500 as sent
    assert "17500 characters as sent" in admin.text and f"limit is {BROADCAST_LIMIT}" in admin.text
    assert "Preview" not in admin.text
    admin.send("&" * 701)  # the shortened draft: 3,505 as sent, still too long
    assert "3505 characters as sent" in admin.text
    admin.send("&" * 700)  # 3,500 as sent: fits
    head, body = admin.replies[-1].text.split("\n\n", 1)  # the preview: who gets it, then the message as sent
    assert "Preview" in head and body == "&amp;" * 700 and len(body) == BROADCAST_LIMIT
    admin.press("Send to all")
    [copy] = queued_messages(engine.store)
    assert len(copy["text"]) == BROADCAST_LIMIT
    assert await send_queued(engine.store, dispatcher, bot) == Counter({"sent": 1})
    assert len(bot.sent) == 1 and bot.sent[0][2] == "&amp;" * 700  # one message, as typed


async def test_over_httpx_a_nudge_is_marked_as_its_request_body_goes_and_sent_when_answered(
    engine: Engine, dispatcher: Dispatcher
) -> None:
    """The bot's real HTTP layer against the emulator: while Telegram has the message but has
    not answered yet, the nudge is "sending" (a crash now: in doubt, never resent)."""
    add_users(engine.store, 1)
    async with Emulator() as emu, CoachBot(TOKEN, base_url=emu.base_url,
                                           request=GuardedRequest.over_httpx(connection_pool_size=8)) as real:
        emu.delay_next("sendMessage", 0.5, chat_id=1)  # the message is taken, its answer is late
        tick = asyncio.create_task(dispatcher.tick(real))
        await emu.wait_for(lambda: bool(emu.sent_messages(1)), timeout=10)
        assert status(engine.store)["ms:0"]["status"] == "sending"
        assert (await tick).sent == 1
    assert status(engine.store)["ms:0"]["status"] == "sent"



async def test_the_mark_and_the_requests_body_leave_in_one_step_of_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over PTB's HTTPX transport, nothing else runs between a message's mark and the write of its
    request's body to the socket, so a kill can only fall between those two system calls: a
    callback queued at each mark has not run when that body is written (30 messages at once,
    sharing one gate, against the emulator)."""
    import asyncio.selector_events

    from telegram import Bot

    loop = asyncio.get_running_loop()
    ran: list[bool] = []  # per mark: has the event loop run anything since?
    at_write: list[bool] = []  # per body written: ... as it was written
    transport: Any = getattr(asyncio.selector_events, "_SelectorSocketTransport")  # noqa: B009 - private
    real_write = transport.write

    def write(self: Any, data: Any) -> None:
        if ran and b"text=message" in bytes(data):  # a sendMessage body (its headers go before)
            at_write.append(ran[-1])
        real_write(self, data)

    def take() -> bool:
        ran.append(False)
        index = len(ran) - 1
        loop.call_soon(ran.__setitem__, index, True)
        return True

    monkeypatch.setattr(transport, "write", write)
    async with Emulator() as emu:
        emu.send_text(1, "hi")
        async with Bot(TOKEN, base_url=emu.base_url, request=GuardedRequest.over_httpx(8)) as bot:
            gate = asyncio.Lock()

            async def one(i: int) -> None:
                token = _FLIGHT.set(Flight(take, lambda: None, gate))
                try:
                    await bot.send_message(1, f"message {i}")
                finally:
                    _FLIGHT.reset(token)

            await asyncio.gather(*(one(i) for i in range(30)))
        assert len(emu.sent_messages(1)) == 30
    assert len(ran) == 30 and len(at_write) == 30
    assert not any(at_write), "the event loop ran other work between a mark and its request's body"
