"""The dispatcher: ticks, rate limits and Telegram errors, on a virtual clock (nothing sleeps).

Errors are tried three ways: a tiny fake bot that raises PTB's exceptions on request, a real
``CoachBot`` over the recording fake request, and a real bot against the local Bot API
emulator (403 and 429 injected there)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.coachbot import CoachBot
from bot.delivery import Dispatcher, Outgoing, RateLimiter, Result
from flows.base.types import Button, Input, Reply, keyboard
from flows.engine.engine import Engine, Turn
from flows.features import all_features
from flows.features.nudges import claim_due, config, mark_attempt, new_token, schedule_rows
from flows.storage.profiles import save_answer
from flows.storage.store import Store
from tests.chat import Clock
from tests.emulator import Emulator
from tests.fake_telegram import TOKEN, RecordingRequest

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 12:00 UTC: daytime in London


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB's RetryAfter warns otherwise (errors here)


class VirtualTime:
    """One clock for the engine, the dispatcher's wall clock and its monotonic clock; sleeping
    only moves it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.epoch = clock.now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return (self.clock.now - self.epoch).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


class FakeBot:
    """Records sends (virtual time, chat, text, markup); raises the exceptions queued per chat."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.sent: list[tuple[float, int, str, Any]] = []
        self.errors: dict[int, list[BaseException]] = {}

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> None:
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
    assert (row["status"], row["due_at"]) == ("scheduled", "2026-11-26T14:30:00Z")  # 09:30 EST
    clock.now = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    assert (await dispatcher.tick(bot)).sent == 1


async def test_one_nudge_a_day_per_user_even_when_several_are_due(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 1, per_user=3)
    report = await dispatcher.tick(bot)
    assert (report.sent, report.deferred) == (1, 2)
    later = [r["due_at"] for r in status(engine.store).values() if r["status"] == "scheduled"]
    assert later and min(later) >= "2026-11-26T08:00:00Z"  # at least 20 hours on
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
    assert mark_attempt(engine.store, claimed[0], clock())  # ... was inside the Bot API call for one ...
    clock.advance(minutes=10)  # ... and the process died; it comes back ten minutes later.
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
        await callback(Context(bot))
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
    assert report.sent == 0 and report.retry_later == 1
    assert {r["status"] for u in (1, 2, 3) for r in status(engine.store, f"tg:{u}").values()} == {"scheduled"}


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
    bot.errors[1] = [NetworkError("httpx.ConnectError"), NetworkError("httpx.ConnectError")]
    assert (await dispatcher.tick(bot)).sent == 1
    assert vt.sleeps[:2] == [2.0, 4.0]


async def test_network_errors_past_the_limit_try_again_later_then_give_up(
    engine: Engine, dispatcher: Dispatcher, bot: FakeBot, clock: Clock
) -> None:
    add_users(engine.store, 2)
    limit = config().delivery
    bot.errors[1] = [NetworkError("down") for _ in range(100)]
    report = await dispatcher.tick(bot)
    assert (report.sent, report.retry_later) == (0, 1)  # the rest of the tick waits too
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
