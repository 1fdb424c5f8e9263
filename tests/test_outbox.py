"""Taps and replies through Telegram's faults, injected in the emulator before and after Telegram
processed a call: a tap is never lost to a failed callback answer; a reply whose request never
reached Telegram arrives once; one that may have arrived follows the outbox policy
(docs/ARCHITECTURE.md); after a kill every user who was mid-flow gets the current step.

The figures the reliability note quotes are printed (``-s``)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.outbox import Fate, fate_of
from flows.base.content import texts
from flows.engine.engine import Engine, Turn
from flows.features import all_features
from flows.storage.store import Store
from tests.botprocess import BotProcess
from tests.emulator import Emulator, SentMessage
from tests.emulator.server import TOO_OLD
from tests.test_security import make_engine, running_bot

USERS = itertools.count(20001)
RESENT = "Sent again, in case"
YEAR_QUESTION = "Which year of medical school"
NEXT_QUESTION = "Which year do you graduate"


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else PTB's RetryAfter warns (an error under -W error)


@pytest.fixture
async def world() -> AsyncIterator[tuple[Emulator, Engine, Application]]:  # type: ignore[type-arg,unused-ignore]
    engine = make_engine()
    async with Emulator() as emu, running_bot(emu, engine) as app:
        yield emu, engine, app


def texts_to(emu: Emulator, uid: int, containing: str) -> list[SentMessage]:
    return [m for m in emu.sent_messages(uid) if containing in m.plain_text]


def has(emu: Emulator, uid: int, words: str, count: int = 1) -> Callable[[], bool]:
    """A condition: the user has received ``count`` messages containing ``words``."""
    return lambda: len(texts_to(emu, uid, words)) >= count


async def at_year_question(emu: Emulator, uid: int) -> None:
    """A new user who said they are a student: the bot asks which year (a typed answer)."""
    emu.send_command(uid, "start")
    await emu.wait_for(lambda: any("ob:s" in m.callback_data for m in emu.sent_messages(uid)))
    begin = next(m for m in emu.sent_messages(uid) if "ob:s" in m.callback_data)
    emu.press_button(uid, begin.message_id, "ob:s")
    await emu.wait_for(lambda: any("ob:~o:status:a:student" in m.callback_data for m in emu.sent_messages(uid)))
    status = next(m for m in emu.sent_messages(uid) if "ob:~o:status:a:student" in m.callback_data)
    pressed = emu.press_button(uid, status.message_id, "ob:~o:status:a:student")
    await emu.wait_for(lambda: bool(texts_to(emu, uid, YEAR_QUESTION)) and pressed not in emu.unanswered_callbacks())


def stored_year(engine: Engine, uid: int) -> int | None:
    row = engine.store.conn.execute("SELECT student_year FROM profiles WHERE user_id = ?", (f"tg:{uid}",)).fetchone()
    return row[0] if row else None


# -- taps ------------------------------------------------------------------------------------------
CALLBACK_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("400 query is too old", {"description": TOO_OLD}),
    ("500 before processing", {"status": 500}),
    ("502 before processing", {"status": 502}),
    ("500 after processing", {"status": 500, "when": "after"}),
    ("reset before processing", {"reset": True, "when": "before"}),
    ("reset after processing", {"reset": True, "when": "after"}),
    ("429 three times", {"status": 429, "retry_after": 1, "times": 3}),
    ("hang", {"delay": 30.0, "when": "before"}),
]


async def test_no_tap_is_lost_to_a_failed_callback_answer(world: tuple[Emulator, Engine, Application]) -> None:
    emu, engine, _ = world
    lost: list[str] = []
    for name, fault in CALLBACK_FAULTS:
        uid = next(USERS)
        await at_year_question(emu, uid)
        question = texts_to(emu, uid, YEAR_QUESTION)[-1]
        emu.inject("answerCallbackQuery", **fault)
        emu.press_button(uid, question.message_id, next(d for d in question.callback_data if d.endswith(":3")))
        try:
            await emu.wait_for(has(emu, uid, NEXT_QUESTION), timeout=10)
        except TimeoutError:
            lost.append(name)
            continue
        if stored_year(engine, uid) != 3 or texts_to(emu, uid, "went wrong"):
            lost.append(name)
    print(f"\ntaps lost to callback-answer failures: {len(lost)} of {len(CALLBACK_FAULTS)} {lost}")
    assert lost == []


async def test_the_reply_does_not_wait_for_a_hanging_callback_answer(
    world: tuple[Emulator, Engine, Application],
) -> None:
    emu, _, _ = world
    uid = next(USERS)
    await at_year_question(emu, uid)
    question = texts_to(emu, uid, YEAR_QUESTION)[-1]
    emu.hang_next("answerCallbackQuery", 30.0)
    pressed = emu.press_button(uid, question.message_id, next(d for d in question.callback_data if d.endswith(":3")))
    await emu.wait_for(lambda: bool(texts_to(emu, uid, NEXT_QUESTION)), timeout=10)
    assert pressed in emu.unanswered_callbacks()  # the answer is still hanging, the reply is already there


# -- replies -----------------------------------------------------------------------------------------
NOT_REACHED: list[tuple[str, dict[str, Any]]] = [
    ("429", {"status": 429, "retry_after": 1}),
    ("500 before processing", {"status": 500}),
    ("502 before processing", {"status": 502}),
    ("reset before processing", {"reset": True, "when": "before"}),
    ("hang before processing, past the client's timeout", {"delay": 8.0, "when": "before"}),
]
MAYBE_REACHED: list[tuple[str, dict[str, Any]]] = [
    ("500 after processing", {"status": 500, "when": "after"}),
    ("reset after processing", {"reset": True, "when": "after"}),
    ("hang after processing, past the client's timeout", {"delay": 8.0, "when": "after"}),
]


async def typed(emu: Emulator, kind: str) -> tuple[int, str]:
    """A user about to send a read-only command ("help") or an answer that is stored ("year");
    returns the user and the words the reply contains."""
    uid = next(USERS)
    if kind == "help":
        return uid, "/menu — everything I can do"
    await at_year_question(emu, uid)
    return uid, NEXT_QUESTION


def send_input(emu: Emulator, uid: int, kind: str) -> None:
    if kind == "help":
        emu.send_command(uid, "help")
    else:
        emu.send_text(uid, "4")


async def settled(emu: Emulator, engine: Engine) -> None:
    """Wait until nothing is left in the outbox (every retry done)."""
    await emu.wait_for(lambda: engine.outbox is not None and engine.outbox.count() == 0, timeout=30)
    await asyncio.sleep(0.3)  # a late answer of a hanging call is not a message: nothing more may come


async def test_a_reply_that_never_reached_telegram_arrives_once(world: tuple[Emulator, Engine, Application]) -> None:
    emu, engine, _ = world
    undelivered, doubled = [], []
    for name, fault in NOT_REACHED:
        for kind in ("help", "year"):
            uid, words = await typed(emu, kind)
            emu.inject("sendMessage", chat_id=uid, **fault)
            send_input(emu, uid, kind)
            try:
                await emu.wait_for(has(emu, uid, words), timeout=20)
            except TimeoutError:
                undelivered.append(f"{name}/{kind}")
                continue
            await settled(emu, engine)
            if len(texts_to(emu, uid, words)) != 1:
                doubled.append(f"{name}/{kind}")
            if kind == "year":
                assert stored_year(engine, uid) == 4
    cases = 2 * len(NOT_REACHED)
    print(f"\nreplies never delivered after faults that did not reach Telegram: {len(undelivered)} of {cases}")
    print(f"replies shown twice after those faults: {len(doubled)} of {cases}")
    assert undelivered == [] and doubled == []


async def test_a_reply_that_may_have_arrived_follows_the_policy(
    world: tuple[Emulator, Engine, Application],
) -> None:
    emu, engine, _ = world
    for name, fault in MAYBE_REACHED:
        for kind in ("help", "year"):
            uid, words = await typed(emu, kind)
            emu.inject("sendMessage", chat_id=uid, **fault)
            send_input(emu, uid, kind)
            await emu.wait_for(has(emu, uid, words, 2), timeout=20)
            await settled(emu, engine)
            copies = texts_to(emu, uid, words)
            assert len(copies) == 2, name  # Telegram had the first; the second was sent in doubt
            assert RESENT not in copies[0].plain_text, name
            if kind == "help":  # a read-only answer may simply come twice
                assert copies[1].plain_text == copies[0].plain_text, name
            else:  # a reply to a stored answer never reads as a second change
                assert copies[1].plain_text.startswith(RESENT), name
                assert copies[1].plain_text.endswith(copies[0].plain_text), name
                assert stored_year(engine, uid) == 4


async def test_later_replies_wait_behind_a_failed_one(world: tuple[Emulator, Engine, Application]) -> None:
    emu, _, _ = world
    uid = next(USERS)
    emu.flood_next("sendMessage", retry_after=1, times=3, chat_id=uid)  # more than the rate limiter retries
    emu.send_command(uid, "help")
    emu.send_command(uid, "privacy")
    await emu.wait_for(lambda: len(emu.sent_messages(uid)) >= 2, timeout=20)
    first, second = emu.sent_messages(uid)[:2]
    assert "/menu" in first.plain_text and "/menu" not in second.plain_text  # in the order they were asked


async def test_a_user_who_blocked_the_bot_is_marked_and_their_replies_dropped(
    world: tuple[Emulator, Engine, Application],
) -> None:
    emu, engine, _ = world
    uid = next(USERS)
    emu.send_command(uid, "start")
    await emu.wait_for(lambda: bool(emu.sent_messages(uid)))
    emu.block(uid, notify=True)
    await emu.wait_for(lambda: engine.store.user(f"tg:{uid}")["active"] == 0)  # type: ignore[index]
    emu.unblock(uid, notify=True)
    await emu.wait_for(lambda: engine.store.user(f"tg:{uid}")["active"] == 1)  # type: ignore[index]


def test_failures_are_sorted_by_whether_they_can_have_reached_telegram() -> None:
    import httpx
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    def caused(exc: Exception, cause: Exception) -> Exception:
        exc.__cause__ = cause
        return exc

    assert fate_of(caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused"))) is Fate.RETRY
    assert fate_of(caused(TimedOut(), httpx.ConnectTimeout("slow"))) is Fate.RETRY
    assert fate_of(caused(TimedOut(), httpx.PoolTimeout("full"))) is Fate.RETRY
    assert fate_of(RetryAfter(3)) is Fate.RETRY
    assert fate_of(caused(TimedOut(), httpx.ReadTimeout("late"))) is Fate.DOUBT
    assert fate_of(caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("gone"))) is Fate.DOUBT
    assert fate_of(NetworkError("Internal Server Error (500)")) is Fate.DOUBT
    assert fate_of(Forbidden("Forbidden: bot was blocked by the user")) is Fate.BLOCKED
    assert fate_of(BadRequest("Bad Request: chat not found")) is Fate.REFUSED


# -- a kill while replies are on their way -------------------------------------------------------------
def on_screen(emu: Emulator, uid: int, words: str) -> Callable[[], bool]:
    """A condition: the user's latest message from the bot contains ``words``."""

    def check() -> bool:
        last = emu.last_message(uid)
        return last is not None and words in last.plain_text

    return check


def current_step(database: Path, tmp: Path, user: str) -> str:
    """The text of the step the user is on, from a copy of the database (the bot keeps running)."""
    copy = tmp / f"copy-{user.replace(':', '-')}.db"
    with sqlite3.connect(database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    store = Store.open(copy)
    try:
        engine = Engine(store, all_features())
        session = store.load_session(user)
        assert session.flow, f"{user} is not mid-flow"
        turn = Turn(user, session, store, texts(), engine.clock(), engine)
        with store.atomic():
            return engine.resume(turn)[-1].text
    finally:
        store.close()
        copy.unlink(missing_ok=True)


async def test_after_a_kill_every_user_who_was_mid_flow_is_shown_the_current_step(tmp_path: Path) -> None:
    from flows.base.text import to_plain

    players = list(range(30001, 30009))
    async with Emulator() as emu:
        bot = BotProcess(emu, tmp_path / "coach.db", tmp_path / "bot.log")
        await bot.start()
        try:
            for uid in players:
                await at_year_question(emu, uid)
            # Every reply from now on hangs before Telegram takes it: the kill finds them on their way.
            emu.hang_next("sendMessage", 60.0, times=len(players))
            for uid in players:
                emu.send_text(uid, "4")

            def committed() -> bool:
                with sqlite3.connect(f"file:{tmp_path / 'coach.db'}?mode=ro", uri=True) as conn:
                    n = conn.execute("SELECT count(*) FROM profiles WHERE student_year = 4").fetchone()[0]
                return int(n) == len(players)

            await emu.wait_for(committed, timeout=20)
            bot.kill()
            emu.injections.clear()
            assert not any(texts_to(emu, uid, NEXT_QUESTION) for uid in players)  # nobody has the next step yet
            await bot.start()
            shown = 0
            for uid in players:
                step = to_plain(current_step(tmp_path / "coach.db", tmp_path, f"tg:{uid}"))
                try:
                    await emu.wait_for(on_screen(emu, uid, step), timeout=15)
                    shown += 1
                except TimeoutError:
                    pass
            print(f"\nmid-flow users shown the current step after a restart: {shown} of {len(players)}")
            assert shown == len(players)
        finally:
            await bot.stop()


def test_replies_are_stored_with_their_input_in_order_and_a_restart_marks_the_leaving_one() -> None:
    from flows.base.types import Input
    from flows.storage.outbox import Outbox

    engine = make_engine()
    outbox = engine.outbox = Outbox(engine.store)
    first = engine.handle(Input.parse("tg:7", "/help"), chat_id=7, update_id=1)
    second = engine.handle(Input.parse("tg:7", "/privacy"), chat_id=7, update_id=2)
    assert first.queued and first.parcels and first.repeatable
    assert second.queued and second.parcels == []  # behind the first: it waits its turn
    waiting = outbox.first("tg:7")
    assert waiting is not None and waiting.id == first.parcels[0].id and waiting.state == "sending"
    assert outbox.recover() == 1  # the process stopped while it was leaving
    assert outbox.first("tg:7").state == "doubt"  # type: ignore[union-attr]
    outbox.delivered(first.parcels[0])
    after = outbox.first("tg:7")
    assert after is not None and "/menu" not in after.reply.text and after.state == "sending"
    assert engine.handle(Input.parse("tg:8", "/help")).queued is False  # no chat: nothing to send to
    engine.store.delete_user("tg:7")
    assert outbox.count() == 0  # /delete takes what was still waiting
