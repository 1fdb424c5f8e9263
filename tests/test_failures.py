"""Telegram's failures, injected through the emulator while the real channel answers:
429 with retry_after, 403 from a user who blocked the bot, 400 for a message Telegram
cannot parse, and a timeout. The user's answer is stored in every case; nothing is lost
and nothing is applied twice."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from telegram.ext import Application

from flows.engine.engine import Engine
from flows.storage.store import Store
from tests.chat import Clock
from tests.emulator import Emulator
from tests.test_security import make_engine, running_bot

pytestmark = pytest.mark.slow  # the real process through a fault proxy: deselect with make test-fast

USER = 31337
ADMIN = 42


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else PTB's RetryAfter warns (an error under -W error)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
async def world() -> AsyncIterator[tuple[Emulator, Engine, Application]]:  # type: ignore[type-arg,unused-ignore]
    engine = make_engine()
    async with Emulator() as emu, running_bot(emu, engine, admin_ids=(ADMIN,)) as app:
        yield emu, engine, app


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` (it may look at the database or the logs, which the emulator cannot see)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def profile_of(store: Store, user: int) -> dict[str, object]:
    row = store.conn.execute("SELECT status, student_year FROM profiles WHERE user_id = ?", (f"tg:{user}",)).fetchone()
    return {"status": row[0], "student_year": row[1]} if row else {}


async def start_goals(emu: Emulator) -> int:
    """Open the goal questions; returns the id of the message asking the first one."""
    emu.send_command(USER, "start")
    await emu.wait_for(lambda: any("ob:s" in m.callback_data for m in emu.sent_messages(USER)))
    begin = next(m for m in emu.sent_messages(USER) if "ob:s" in m.callback_data)
    emu.press_button(USER, begin.message_id, "ob:s")
    await emu.wait_for(lambda: any(d.startswith("ob:~o:status:a") for m in emu.sent_messages(USER)
                                   for d in m.callback_data))
    question = next(m for m in emu.sent_messages(USER) if any(d.startswith("ob:~o:status:a") for d in m.callback_data))
    emu.mark_read(USER)
    return question.message_id


async def answer_student(emu: Emulator, engine: Engine) -> None:
    question = await start_goals(emu)
    data = next(d for d in emu.find_message(USER, question).callback_data if d.startswith("ob:~o:status:a"))  # type: ignore[union-attr]
    emu.press_button(USER, question, data)
    # stored, and all its replies out (they leave after the commit): the next step's buttons last
    await until(lambda: bool(profile_of(engine.store, USER))
                and any(d.startswith("ob:~o:student_year:a") for d in last_buttons(emu)))


def last_buttons(emu: Emulator) -> list[str]:
    message = emu.last_message(USER)
    return message.callback_data if message else []


def last_text(emu: Emulator) -> str:
    message = emu.last_message(USER)
    return message.plain_text if message else ""


async def test_429_waits_the_time_asked_then_the_answer_arrives(
    world: tuple[Emulator, Engine, Application], logs: io.StringIO
) -> None:
    emu, engine, _ = world
    question = await start_goals(emu)
    emu.flood_next("editMessageText", retry_after=1)
    emu.flood_next("sendMessage", retry_after=1)
    data = next(d for d in emu.find_message(USER, question).callback_data if d.startswith("ob:~o:status:a"))  # type: ignore[union-attr]
    emu.press_button(USER, question, data)
    await until(lambda: profile_of(engine.store, USER) and "Step 1" in last_text(emu), timeout=15)
    assert profile_of(engine.store, USER)["status"] is not None
    assert "unhandled error" not in logs.getvalue()


async def test_403_marks_the_user_inactive_and_keeps_the_answer(
    world: tuple[Emulator, Engine, Application], logs: io.StringIO
) -> None:
    emu, engine, _ = world
    question = await start_goals(emu)
    emu.block(USER)  # blocked the bot right after tapping
    data = next(d for d in emu.find_message(USER, question).callback_data if d.startswith("ob:~o:status:a"))  # type: ignore[union-attr]
    emu.press_button(USER, question, data)
    await until(lambda: "failed=Forbidden" in logs.getvalue())
    assert profile_of(engine.store, USER)["status"] is not None  # the tap was stored
    assert engine.store.user(f"tg:{USER}")["active"] == 0  # type: ignore[index]
    assert "unhandled error" not in logs.getvalue()
    # Unblocked, the user writes again: active again, and the conversation goes on where it was.
    emu.unblock(USER)
    emu.send_command(USER, "start")
    await emu.wait_for(lambda: "Continue" in str(emu.last_message(USER).buttons), timeout=10)  # type: ignore[union-attr]
    assert engine.store.user(f"tg:{USER}")["active"] == 1  # type: ignore[index]


async def test_400_unparsable_message_is_sent_again_as_plain_text(
    world: tuple[Emulator, Engine, Application], logs: io.StringIO
) -> None:
    emu, engine, _ = world
    await answer_student(emu, engine)
    emu.mark_read(USER)
    emu.fail_next("sendMessage", "Bad Request: can't parse entities: unsupported start tag \"x\" at byte offset 3")
    emu.send_command(USER, "help")
    [reply] = await emu.wait_for_messages(USER, 1, timeout=10)
    assert "/menu" in reply.plain_text and reply.parse_mode is None  # the same text, without formatting
    assert "<b>" not in reply.plain_text
    assert "unhandled error" not in logs.getvalue()


async def test_a_timeout_keeps_the_answer_and_never_asks_to_send_it_again(
    world: tuple[Emulator, Engine, Application], logs: io.StringIO
) -> None:
    emu, engine, _ = world
    await answer_student(emu, engine)
    await until(lambda: "Which year" in last_text(emu))
    emu.delay_next("sendMessage", 6.0)  # longer than the client waits (5 s): a timeout
    emu.delay_next("editMessageText", 6.0)
    emu.send_text(USER, "4")  # a typed answer: the kind a careless error message would ask to repeat
    await until(lambda: "failed=TimedOut" in logs.getvalue(), timeout=20)
    assert profile_of(engine.store, USER)["student_year"] == 4
    assert "unhandled error" not in logs.getvalue()
    await asyncio.sleep(1.5)  # the delayed message itself still lands (Telegram had it after all)
    assert not any("send it again" in m.plain_text for m in emu.sent_messages(USER))
    updates = engine.store.user(f"tg:{USER}")["updates"]  # type: ignore[index]
    emu.send_command(USER, "start")  # the user carries on where they were
    await until(lambda: engine.store.user(f"tg:{USER}")["updates"] == updates + 1)  # type: ignore[index]


async def meet(emu: Emulator, people: list[int]) -> None:
    """``people`` and the admin start the bot (so they are on Telegram and reachable)."""
    for uid in [*people, ADMIN]:
        emu.send_command(uid, "start")
    await emu.wait_for(lambda: all(emu.sent_messages(u) for u in [*people, ADMIN]), timeout=10)


async def broadcast(emu: Emulator, engine: Engine, text: str) -> None:
    """The admin broadcasts ``text`` (preview, Send); returns once every copy is settled."""
    emu.send_command(ADMIN, "broadcast", text)
    send = "ad:~b:preview:a:send"  # the preview's Send button
    await emu.wait_for(lambda: any(send in m.callback_data for m in emu.sent_messages(ADMIN)), timeout=10)
    preview = next(m for m in emu.sent_messages(ADMIN) if send in m.callback_data)
    emu.press_button(ADMIN, preview.message_id, send)
    await until(
        lambda: engine.store.conn.execute(
            "SELECT count(*) FROM broadcast_messages WHERE status IN ('queued', 'sending')"
        ).fetchone()[0] == 0 and engine.store.conn.execute("SELECT count(*) FROM broadcast_messages").fetchone()[0],
        timeout=20,
    )


async def test_a_broadcast_through_blocks_and_floods_reaches_everyone_else_once(
    world: tuple[Emulator, Engine, Application],
) -> None:
    emu, engine, _ = world
    people = [71, 72, 73, 74]
    await meet(emu, people)
    emu.block(72)
    emu.flood_next("sendMessage", retry_after=1)
    await broadcast(emu, engine, "Webinar on Friday")
    for uid in [71, 73, 74, ADMIN]:
        assert sum("Webinar on Friday" in m.plain_text for m in emu.sent_messages(uid)) == 1
    assert not any("Webinar" in m.plain_text for m in emu.sent_messages(72))
    assert engine.store.user("tg:72")["active"] == 0  # type: ignore[index]


async def test_a_broadcast_copy_whose_answer_was_lost_is_not_sent_again(
    world: tuple[Emulator, Engine, Application],
) -> None:
    """Telegram took the copy, then the connection dropped (or it answered 500): in doubt, so it
    is never sent a second time; a 429 before processing is waited out and sent once."""
    emu, engine, _ = world
    people = [81, 82, 83, 84]
    await meet(emu, people)
    emu.inject("sendMessage", chat_id=81, when="after", reset=True)
    emu.inject("sendMessage", chat_id=82, when="after", status=500)
    emu.flood_next("sendMessage", retry_after=1, chat_id=83)
    await broadcast(emu, engine, "Office hours on Monday")
    for uid in [*people, ADMIN]:
        assert sum("Office hours on Monday" in m.plain_text for m in emu.sent_messages(uid)) == 1, uid
    statuses = dict(engine.store.conn.execute("SELECT chat_id, status FROM broadcast_messages").fetchall())
    assert statuses == {81: "failed", 82: "failed", 83: "sent", 84: "sent", ADMIN: "sent"}


async def test_a_reminder_whose_answer_was_lost_is_not_sent_again(
    world: tuple[Emulator, Engine, Application],
) -> None:
    """The same for a reminder, through the application's own dispatcher and bot."""
    from bot.delivery import Dispatcher
    from tests.test_delivery import add_users, status

    emu, engine, app = world
    clock: Clock = engine.clock  # type: ignore[assignment]
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # the users' (UTC) morning
    add_users(engine.store, 3, first=91, due=clock.now - timedelta(minutes=30), zone=None)
    emu.inject("sendMessage", chat_id=91, when="after", reset=True)
    emu.inject("sendMessage", chat_id=92, when="after", status=502)
    dispatcher: Dispatcher = app.bot_data["dispatcher"]

    def settled() -> bool:
        return not any(status(engine.store, f"tg:{u}")["ms:0"]["status"] in ("scheduled", "claimed", "sending")
                       for u in (91, 92, 93))

    for _ in range(2):  # the second pass a day later: nothing in doubt goes again
        await dispatcher.tick(app.bot)
        await dispatcher.idle()
        await until(settled)
        clock.advance(days=1)
    for uid in (91, 92, 93):
        assert sum(any(d.startswith("n:d:") for d in m.callback_data) for m in emu.sent_messages(uid)) == 1, uid
    assert [status(engine.store, f"tg:{u}")["ms:0"]["status"] for u in (91, 92, 93)] == ["failed", "failed", "sent"]
