"""Many users at once, and one user tapping the same button twice quickly, through the real
Telegram channel against the emulator: no input lost, no record duplicated."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from flows.base.content import texts
from flows.base.types import Input
from flows.storage.store import Store
from tests.emulator import Emulator, SentMessage
from tests.test_crash import rows, user_tables
from tests.test_security import make_engine, running_bot

pytestmark = pytest.mark.slow  # hundreds of users at once, floods: deselect with make test-fast

CROWD = tuple(range(5001, 5021))  # 20 users answering the goal questions at the same time
TAPPERS = tuple(range(6001, 6011))  # 10 users double-tapping every button while logging a rotation


def last_with_buttons(emu: Emulator, uid: int, prefix: str) -> SentMessage | None:
    """The latest message with buttons, if they are of this flow (``prefix``)."""
    for message in reversed(emu.sent_messages(uid)):
        if message.callback_data:
            return message if any(d.startswith(prefix) for d in message.callback_data) else None
    return None


ANSWERED: Counter[str] = Counter()  # updates the Telegram channel has finished answering, per user


def count_answers(app: Application) -> None:  # type: ignore[type-arg,unused-ignore]
    """Count, per user, the updates whose answer has been sent (the channel's handler returned)."""
    channel = app.bot_data["channel"]
    answer = channel._answer

    async def counted(update: Any, context: Any, inp: Input) -> None:
        try:
            await answer(update, context, inp)
        finally:
            ANSWERED[inp.user_id] += 1

    channel._answer = counted


async def settle(emu: Emulator, uid: int, inputs: list[Input]) -> None:
    """Wait until every input so far has been answered."""
    await emu.wait_for(lambda: ANSWERED[f"tg:{uid}"] >= len(inputs), timeout=30)


async def answer_goals(emu: Emulator, store: Store, uid: int, inputs: list[Input]) -> None:
    """Answer every goal question, one tap at a time (first option; Done once something is ticked)."""
    user = f"tg:{uid}"
    emu.send_command(uid, "start")
    inputs.append(Input.command(user, "start"))
    await settle(emu, uid, inputs)
    begin = next(m for m in emu.sent_messages(uid) if "ob:s" in m.callback_data)
    emu.press_button(uid, begin.message_id, "ob:s")
    inputs.append(Input.button(user, "ob:s"))
    await settle(emu, uid, inputs)
    for _ in range(40):
        message = last_with_buttons(emu, uid, "ob:")
        ours = [d for d in message.callback_data if d.startswith("ob:~o:")] if message else []  # ob:~o:<step>:<action>
        if message is None or not any(d.split(":")[3] in ("a", "t", "d") for d in ours):
            return  # no question left: the plan's card (its buttons open the plan's sections)
        data = message.callback_data
        mark = texts()["onboarding.mark_on"]  # the tick beside a chosen answer
        ticked = any(b.get("text", "").startswith(mark) for row in message.buttons for b in row)
        done = [d for d in ours if d.endswith(":d")]
        picks = (d for d in data if d == "ob:s" or (d in ours and d.split(":")[3] in ("a", "t")))
        choice = done[0] if done and ticked else next(picks, data[0])
        emu.press_button(uid, message.message_id, choice)
        inputs.append(Input.button(user, choice))
        await settle(emu, uid, inputs)
    raise AssertionError(f"{user} never finished the goal questions")


async def log_with_double_taps(emu: Emulator, store: Store, uid: int, inputs: list[Input]) -> None:
    user = f"tg:{uid}"
    emu.send_command(uid, "log")
    inputs.append(Input.command(user, "log"))
    await settle(emu, uid, inputs)
    typed = iter(["Internal medicine", f"Hospital {uid}"])
    for _ in range(30):
        if any("Logged" in m.plain_text for m in emu.sent_messages(uid)):
            return
        message = emu.last_message(uid)
        assert message is not None
        data = [d for d in message.callback_data if d.startswith("tr:") and not d.endswith(":b")]  # not Back
        if data:
            emu.press_button(uid, message.message_id, data[0])
            emu.press_button(uid, message.message_id, data[0], forge=True)  # the same, as it looked
            inputs += [Input.button(user, data[0])] * 2
        else:
            text = next(typed)
            emu.send_text(uid, text)
            inputs.append(Input.text(user, text))
        await settle(emu, uid, inputs)
    raise AssertionError(f"{user} never finished logging")


def updates_of(store: Store, user: str) -> int:
    row = store.conn.execute("SELECT updates FROM users WHERE user_id = ?", (user,)).fetchone()
    return int(row[0]) if row else 0


async def test_many_users_at_once_and_double_taps_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "coach.db")
    engine = make_engine(store)
    inputs: dict[int, list[Input]] = {uid: [] for uid in CROWD + TAPPERS}
    async with Emulator() as emu, running_bot(emu, engine) as app:
        count_answers(app)
        await asyncio.gather(
            *(answer_goals(emu, store, uid, inputs[uid]) for uid in CROWD),
            *(log_with_double_taps(emu, store, uid, inputs[uid]) for uid in TAPPERS),
        )
        await emu.wait_for(lambda: not emu.unanswered_callbacks(), timeout=10)

    # Nothing lost: every input reached the engine once, in order.
    for uid, sent in inputs.items():
        assert updates_of(store, f"tg:{uid}") == len(sent), f"tg:{uid}: inputs lost or doubled"

    # The crowd: each finished once, with every answer stored, exactly as one user alone would have.
    replay = make_engine()
    for uid in CROWD:
        for inp in inputs[uid]:
            replay.handle(inp, chat_id=uid)
    with sqlite3.connect(tmp_path / "coach.db") as conn:
        for uid in CROWD:
            user = f"tg:{uid}"
            for table in user_tables(conn):
                assert rows(conn, table, user) == rows(replay.store.conn, table, user), f"{user}: {table}"
    finished = Counter(
        r[0] for r in store.conn.execute("SELECT user_id FROM completions WHERE flow = 'onboarding'").fetchall()
    )
    assert finished == Counter({f"tg:{uid}": 1 for uid in CROWD})
    assert store.conn.execute(
        "SELECT count(*) FROM profiles WHERE completed_at IS NOT NULL AND user_id LIKE 'tg:50%'"
    ).fetchone()[0] == len(CROWD)

    # The double tappers: one rotation each, complete, and no duplicated row anywhere.
    for uid in TAPPERS:
        user = f"tg:{uid}"
        logged = store.conn.execute(
            "SELECT institution, specialty, start, [end], status FROM experiences WHERE user_id = ?", (user,)
        ).fetchall()
        assert len(logged) == 1, f"{user}: {len(logged)} experiences from one logging"
        assert logged[0][0] == f"Hospital {uid}" and all(v is not None for v in logged[0])
        for table in user_tables(store.conn):
            found = rows(store.conn, table, user)
            assert len(found) == len(set(found)), f"{user}: duplicated rows in {table}"
        stale = sum("older message" in text for text in emu.tap_notices(uid))
        assert stale >= 1  # the second taps were recognised, not applied, and said so on the tap
        assert not any("older message" in m.plain_text for m in emu.sent_messages(uid))  # no new message for it
    taps = sum(len(inputs[uid]) for uid in TAPPERS)
    print(
        f"\nconcurrency: users={len(CROWD) + len(TAPPERS)} inputs={sum(len(i) for i in inputs.values())}"
        f" double-tapped-inputs={taps} lost=0 duplicated=0"
    )


OTHERS = tuple(range(6101, 6109))  # users going about their business while one user floods
FLOODER = 6199
ROUNDS = 5


async def ask_all(emu: Emulator, latencies: list[float]) -> None:
    """Every other user asks for /help at once; the time each waits for the answer."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for uid in OTHERS:
        emu.send_command(uid, "help")

    async def answered(uid: int) -> None:
        await emu.wait_for_messages(uid, 1, timeout=60)
        latencies.append(loop.time() - started)

    await asyncio.gather(*(answered(uid) for uid in OTHERS))


async def test_one_users_flood_does_not_stall_the_others() -> None:
    """Figures for the reliability note (``-s``); the assertions are about what users see, not time."""
    from statistics import median

    engine = make_engine()
    calm: list[float] = []
    flood: list[float] = []
    async with Emulator() as emu, running_bot(emu, engine) as app:
        await ask_all(emu, [])  # warm up: first users, first sends
        for _ in range(ROUNDS):
            await asyncio.sleep(1.2)  # Telegram's limit of 30 messages a second starts afresh
            await ask_all(emu, calm)
            await asyncio.sleep(1.2)
            before = updates_of(engine.store, f"tg:{FLOODER}")
            for _ in range(300):  # one user pastes 300 messages at once, just before the others ask
                emu.send_command(FLOODER, "help")
            await ask_all(emu, flood)
            await emu.wait_for(lambda: not emu.updates and engine.outbox is not None and engine.outbox.count() == 0)
            await asyncio.sleep(0.5)
            cap = app.update_processor.cap  # type: ignore[attr-defined]
            assert updates_of(engine.store, f"tg:{FLOODER}") - before >= cap  # the first burst's worth
        declined = app.update_processor.declined  # type: ignore[attr-defined]
    answered = updates_of(engine.store, f"tg:{FLOODER}")
    notices = sum("faster than I can answer" in m.plain_text for m in emu.sent_messages(FLOODER))
    print(
        f"\nflood: other users' p50 calm {median(calm) * 1000:.0f} ms, during one user's 300-message flood"
        f" {median(flood) * 1000:.0f} ms (x{median(flood) / median(calm):.2f}) over {len(flood)} answers;"
        f" the flooder got {answered} of {300 * ROUNDS} answered, {notices} slow-down notices, {declined} declined"
    )
    assert len(calm) == len(flood) == ROUNDS * len(OTHERS)  # every other user's every question answered
    assert notices >= ROUNDS and answered + declined == 300 * ROUNDS and answered < 300 * ROUNDS
