"""Crash test: the real bot process, SIGKILLed at least 20 times at random moments and restarted,
with PTB's rate limiter on, while users answer the goal questions, 150 reminders are due in
their morning and two broadcasts to everyone are queued; then stopped with SIGTERM while it is
busy sending.

Afterwards:
- every input the bot confirmed (answered) is stored: the database equals a replay of the
  processed inputs through a fresh engine, and no input was processed twice;
- the database passes ``PRAGMA integrity_check`` after every kill;
- no reminder and no broadcast copy reached anyone twice; each arrived exactly once, except
  what a kill caught on the wire: a message marked as being sent (so never sent again) whose
  request had not reached Telegram whole. That is at most one per kill and is counted in the
  figures ("lost-not-reached"); anything else not arriving fails;
- after the last kill, nothing the killed process had marked as being sent is still so within
  30 s (figure printed);
- SIGTERM while sending (a request hanging in the emulator): the process exits within 3 s.

Seeded (``CRASH_SEED``), about two minutes. Figures go to stdout (``-s``) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.base.types import Input, Reply, merge_replies
from flows.engine.engine import Engine, Turn
from flows.features import all_features
from flows.storage.store import Store
from tests.botprocess import BotProcess
from tests.emulator import Emulator

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CRASH_SEED", "9"))
KILLS = int(os.environ.get("CRASH_KILLS", "20"))
STEPS = int(os.environ.get("CRASH_STEPS", "30"))  # inputs per player
PLAYERS = (7001, 7002, 7003, 7004)
PASSIVE = tuple(range(8001, 8151))  # get a due reminder and the broadcasts, never write
ADMIN = 9001
BROADCASTS = ("Crash-test broadcast A 4417", "Crash-test broadcast B 5523")
LATE = "Crash-test broadcast C 6631"  # queued just before the SIGTERM
TEXTS = ["2027", "Internal medicine", "12", "3", "hello", "2028-09", "Asia/Kolkata", "no", "Psychiatry"]
COMMANDS = ["start", "profile", "plan", "start"]
VOLATILE = {"first_seen", "last_seen", "updates", "data", "last_update", "at"}  # times differ in a replay
SKIP_TABLES = {"nudges", "broadcast_messages"}  # sent by the dispatcher on its own clock; checked apart


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def morning_zone(now: datetime) -> tuple[str, int]:
    """A fixed-offset zone where it is now between 10:00 and 11:00 (inside the 09:30-12:30
    morning window for the whole test), and its offset in hours."""
    offset = (10 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return ("Etc/GMT" + (f"{-offset:+d}" if offset else "")), offset  # Etc/GMT-5 is UTC+5


def seed_database(path: Path) -> None:
    """Passive users with a reminder due now in their morning, and two queued broadcasts."""
    store = Store.open(path)
    engine = Engine(store, all_features(), admins=[f"tg:{ADMIN}"])
    engine.migrate()
    now = datetime.now(UTC)
    zone, offset = morning_zone(now)
    local_today = (now + timedelta(hours=offset)).date()
    slot = datetime.combine(local_today, datetime.min.time(), UTC) + timedelta(hours=9, minutes=30 - 60 * offset)
    for uid in PASSIVE:
        user = f"tg:{uid}"
        engine.handle(Input.command(user, "start"), chat_id=uid)
        with store.atomic():
            store.db.table("profiles").upsert({"user_id": user, "timezone": zone}, pk="user_id")
            store.conn.execute(
                "INSERT INTO nudges (user_id, key, kind, channel, status, due_on, due_at, expires_on, args,"
                " attempts, created_at, updated_at) VALUES (?, ?, 'followup', 'tg', 'scheduled', ?, ?, ?, ?, 0, ?, ?)",
                (user, f"test:{uid}", local_today.isoformat(), stamp(slot),
                 (local_today + timedelta(days=10)).isoformat(), json.dumps({"contact": "Dr Crash", "days": 10}),
                 stamp(now), stamp(now)),
            )
    admin = f"tg:{ADMIN}"
    engine.handle(Input.command(admin, "start"), chat_id=ADMIN)
    for text in BROADCASTS:
        engine.handle(Input.command(admin, "broadcast", text), chat_id=ADMIN)
        engine.handle(Input.button(admin, "ad:send"), chat_id=ADMIN)
    store.close()


def queue_broadcast(path: Path, text: str) -> int:
    """Queue one more broadcast to every passive user, as the admin's Send would."""
    with sqlite3.connect(path, timeout=10) as conn:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        bid = conn.execute(
            "INSERT INTO broadcasts (text, created_at, recipients) VALUES (?, ?, ?)", (text, now, len(PASSIVE))
        ).lastrowid
        conn.executemany(
            "INSERT INTO broadcast_messages (broadcast_id, user_id, chat_id, status, queued_at)"
            " VALUES (?, ?, ?, 'queued', ?)", [(bid, f"tg:{uid}", uid, now) for uid in PASSIVE],
        )
    return len(PASSIVE)


@dataclass
class Player:
    uid: int
    rng: random.Random
    sent: list[Input] = field(default_factory=list)  # in order
    processed: list[Input] = field(default_factory=list)  # what the bot committed, in order
    confirmed: int = 0
    unconfirmed_processed: int = 0
    lost: int = 0  # never processed (the kill came between fetching and handling): never confirmed

    @property
    def user(self) -> str:
        return f"tg:{self.uid}"

    def choose(self, emu: Emulator) -> tuple[Input, int | None]:
        last = emu.last_message(self.uid)
        ours = [d for d in (last.callback_data if last else []) if d.startswith("ob:")]
        roll = self.rng.random()
        if ours and roll < 0.8:
            assert last is not None
            return Input.button(self.user, self.rng.choice(ours)), last.message_id
        if roll < 0.9 or not self.sent:
            return Input.parse(self.user, "/" + self.rng.choice(COMMANDS)), None
        return Input.text(self.user, self.rng.choice(TEXTS)), None


def processed_count(path: Path, user: str) -> int:
    with reading(path) as conn:
        row = conn.execute("SELECT updates FROM users WHERE user_id = ?", (user,)).fetchone()
    return int(row[0]) if row else 0


def pending_for(emu: Emulator, uid: int) -> bool:
    return any(
        (u.get("message") or u.get("callback_query") or {}).get("from", {}).get("id") == uid for u in emu.updates
    )


async def play(player: Player, emu: Emulator, running: asyncio.Event, db: Path, problems: list[str]) -> None:
    for _ in range(STEPS):
        await running.wait()
        inp, message_id = player.choose(emu)
        before = len(emu.sent_messages(player.uid))
        if inp.value.startswith("ob:") and message_id is not None:
            emu.press_button(player.uid, message_id, inp.value)
        elif inp.kind.value == "command":
            emu.send_command(player.uid, inp.value)
        else:
            emu.send_text(player.uid, inp.value)
        player.sent.append(inp)
        target = len(player.processed) + 1

        def answered(before: int = before, target: int = target) -> bool:
            """A new message, and the input committed (a message alone may be a late one)."""
            return len(emu.sent_messages(player.uid)) > before and processed_count(db, player.user) >= target

        try:
            await emu.wait_for(answered, timeout=8)
        except TimeoutError:
            # No answer: settle whether the bot committed the input before it died.
            await running.wait()
            await emu.wait_for(lambda: not pending_for(emu, player.uid), timeout=20)
            await asyncio.sleep(1.0)
        count = processed_count(db, player.user)
        if count == target:
            player.processed.append(inp)
            if answered():
                player.confirmed += 1
            else:
                player.unconfirmed_processed += 1
        elif count == target - 1:
            player.lost += 1
        else:
            problems.append(f"{player.user}: {count} inputs processed, expected {target - 1} or {target}")
        await quiet(emu, player.uid)


async def quiet(emu: Emulator, chat: int, period: float = 0.15) -> None:
    """Wait until no new message has arrived in ``chat`` for ``period`` seconds."""
    while True:
        seen = len(emu.sent_messages(chat))
        await asyncio.sleep(period)
        if len(emu.sent_messages(chat)) == seen:
            return


def rows(conn: sqlite3.Connection, table: str, user: str) -> list[tuple[Any, ...]]:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
    keep = [
        c for c in columns
        if c not in VOLATILE and not c.endswith("_at") and c != "id" and not (c.endswith("_id") and c != "user_id")
    ]
    names = ", ".join(f"[{c}]" for c in keep)
    found = conn.execute(f"SELECT {names} FROM [{table}] WHERE user_id = ?", (user,)).fetchall()
    return sorted(found, key=repr)


def in_flight(db: Path) -> set[tuple[str, int]]:
    """Reminders and broadcast copies marked as being sent."""
    with reading(db) as conn:
        nudges = conn.execute("SELECT id FROM nudges WHERE status = 'sending'").fetchall()
        copies = conn.execute("SELECT id FROM broadcast_messages WHERE status = 'sending'").fetchall()
    return {("nudge", r[0]) for r in nudges} | {("copy", r[0]) for r in copies}


def waiting(db: Path) -> int:
    """Reminders and copies not yet settled (to be sent, or on their way)."""
    with reading(db) as conn:
        nudges = conn.execute(
            "SELECT count(*) FROM nudges WHERE key LIKE 'test:%' AND status IN ('scheduled', 'claimed', 'sending')"
        ).fetchone()[0]
        copies = conn.execute(
            "SELECT count(*) FROM broadcast_messages WHERE status IN ('queued', 'sending')"
        ).fetchone()[0]
    return int(nudges) + int(copies)


async def wait_until(condition: Any, timeout: float, period: float = 0.1) -> float:
    """Seconds until ``condition()`` held (raises TimeoutError after ``timeout``)."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(period)
    return time.monotonic() - began


async def test_sigkill_at_random_moments_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp.web_protocol import RequestHandler

    wire: list[bytes] = []  # every chunk the emulator's sockets received: what reached "Telegram" at all
    received = RequestHandler.data_received

    def data_received(self: RequestHandler, data: bytes) -> None:
        wire.append(bytes(data))
        received(self, data)

    monkeypatch.setattr(RequestHandler, "data_received", data_received)
    rng = random.Random(SEED)
    db = tmp_path / "coach.db"
    seed_database(db)
    problems: list[str] = []
    kills = 0
    killed_mid_send = 0
    emu = Emulator()
    emu.finish_abandoned = True  # a request that arrived whole counts as reached, dead client or not
    async with emu:
        bot = BotProcess(emu, db, tmp_path / "bot.log", ADMIN_IDS=str(ADMIN), LOG_LEVEL="INFO")
        await bot.start()
        running = asyncio.Event()
        running.set()
        players = [Player(uid, random.Random(SEED * 1000 + uid)) for uid in PLAYERS]
        tasks = [asyncio.create_task(play(p, emu, running, db, problems)) for p in players]

        left_behind: set[tuple[str, int]] = set()
        at_kills: list[set[tuple[str, int]]] = []  # what was marked as being sent at the instant of each kill
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            running.clear()
            bot.kill()
            kills += 1
            left_behind = in_flight(db)  # what the dead process had on its way
            killed_mid_send += bool(left_behind)
            at_kills.append(left_behind)
            with reading(db) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            last_kill = time.monotonic()
            await bot.start()
            running.set()
        # Nothing the last killed process had on its way stays marked so (no lease to wait out).
        settled = await wait_until(lambda: not (in_flight(db) & left_behind), timeout=30)
        settled_s = time.monotonic() - last_kill
        await asyncio.gather(*tasks)
        drained_s = await wait_until(lambda: waiting(db) == 0, timeout=90)

        # SIGTERM while busy: a broadcast going out and one request hanging in the emulator.
        queue_broadcast(db, LATE)
        hanging = PASSIVE[len(PASSIVE) // 2]
        emu.delay_next("sendMessage", 30, chat_id=hanging)
        await emu.wait_for(lambda: any(LATE in m.plain_text for m in emu.sent_messages(hanging)), timeout=30)
        assert bot.proc is not None
        began = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(bot.proc.wait, 10)
        sigterm_s = time.monotonic() - began
        bot.proc = None
        stopped_midway = waiting(db)
        assert not in_flight(db), "SIGTERM left messages marked as being sent"
        await bot.start()
        await wait_until(lambda: waiting(db) == 0, timeout=60)
        await bot.stop()

    with reading(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        nudges = conn.execute("SELECT id, user_id, status, error FROM nudges WHERE key LIKE 'test:%'").fetchall()
        copies = conn.execute(
            "SELECT m.id, m.chat_id, m.status, b.text FROM broadcast_messages m"
            " JOIN broadcasts b ON b.id = m.broadcast_id"
        ).fetchall()
        real = {p.user: {t: rows(conn, t, p.user) for t in user_tables(conn)} for p in players}
        counts = {p.user: processed_count(db, p.user) for p in players}

    # Reminders: each arrived exactly once, or was dropped as in doubt after reaching Telegram.
    arrived = Counter(
        int(d.split(":")[2]) for chat in PASSIVE for m in emu.sent_messages(chat) for d in m.callback_data
        if d.startswith("n:d:")
    )
    twice = [i for i, n in arrived.items() if n > 1]
    lost = [i for i, _, status, _ in nudges if not arrived[i]]  # sent, in doubt or anything else: never arrived
    wrong = [i for i, _, status, _ in nudges if status == "sent" and arrived[i] != 1]
    nudge_status = Counter(status for _, _, status, _ in nudges)
    assert len(nudges) == len(PASSIVE)
    assert not twice, f"reminders delivered twice: {twice}"
    assert not wrong, f"reminders marked sent that did not arrive once: {wrong}"

    # Broadcast copies: the same, per copy (chat and text).
    delivered = Counter(
        (chat, text) for chat in (*PASSIVE, *PLAYERS, ADMIN) for m in emu.sent_messages(chat)
        for text in (*BROADCASTS, LATE) if text in m.plain_text
    )
    copy_status = Counter(status for _, _, status, _ in copies)
    assert len(copies) == len(BROADCASTS) * (len(PASSIVE) + 1) + len(PASSIVE)
    copies_twice = [k for k, n in delivered.items() if n > 1]
    copies_lost = [(chat, text) for _, chat, _, text in copies if not delivered[(chat, text)]]
    assert not copies_twice, f"broadcast copies delivered twice: {copies_twice[:5]}"
    # What may be lost is only what a kill caught between its mark and its last byte: a message marked
    # as being sent (so never sent again: it may have arrived) whose request had not reached Telegram
    # whole. One gate lets one message at a time cross that instant, so at most one per kill.
    lost_ids = {("nudge", i) for i in lost} | {("copy", i) for i, chat, _, text in copies
                                                 if not delivered[(chat, text)]}
    caught = set().union(*at_kills) if at_kills else set()
    for kind, ident in sorted(lost_ids):  # what Telegram saw of each chat: for the figures and a failure
        table, who = ("nudges", "user_id") if kind == "nudge" else ("broadcast_messages", "chat_id")
        with reading(db) as conn:
            chat = str(conn.execute(f"SELECT {who} FROM {table} WHERE id = ?", (ident,)).fetchone()[0])
        chat = chat.removeprefix("tg:")
        seen = [(r.method, str(r.params.get("text", ""))[:30]) for r in emu.requests
                if str(r.params.get("chat_id")) == chat]
        bytes_in = [c[:60] for c in wire if f"chat_id={chat}&".encode() in c or c.endswith(f"chat_id={chat}".encode())]
        print(f"\n  lost {kind} {ident} (chat {chat}): requests Telegram saw for the chat: {seen};"
              f" bodies for the chat on the wire: {len(bytes_in)}")
    assert lost_ids <= caught, f"lost without being on their way at a kill: {sorted(lost_ids - caught)[:5]}"
    assert all(len(lost_ids & marked) <= 1 for marked in at_kills), "two messages lost to one kill"
    assert all(delivered[(chat, text)] == 1 for _, chat, status, text in copies if status == "sent")

    # Every processed input, and nothing else, is stored: compare with a replay.
    assert not problems, problems
    replay = Engine(Store.memory(), all_features(), admins=[f"tg:{ADMIN}"])
    replay.migrate()
    last: dict[str, list[Reply]] = {}
    for player in players:
        assert counts[player.user] == len(player.processed), f"{player.user}: an input was processed twice"
        for inp in player.processed:
            last[player.user] = replay.handle(inp, chat_id=player.uid).replies
    for player in players:
        expected = {t: rows(replay.store.conn, t, player.user) for t in user_tables(replay.store.conn)}
        for table, found in real[player.user].items():
            assert found == expected.get(table, []), f"{player.user}: {table} differs from the replay"

    # What each player sees last is the answer to their last stored input: for one in the middle
    # of a flow, the current step (its buttons), even when a kill came between commit and reply.
    mid_flow, unseen = 0, []
    for player in players:
        session = replay.store.load_session(player.user)
        mid_flow += bool(session.flow)
        shown = emu.last_message(player.uid)
        answers = [merge_replies(last.get(player.user, []))[-1:]]
        if session.flow:  # a redelivered update shows the step again instead
            turn = Turn(player.user, session, replay.store, replay.texts, replay.clock(), replay)
            answers.append(merge_replies(replay.resume(turn))[-1:])
        wanted = [[b.data for row in r[0].buttons for b in row] for r in answers if r]
        if shown is None or (wanted and shown.callback_data not in wanted):
            unseen.append(player.user)
    assert not unseen, f"players not shown the answer to their last input (current step): {unseen}"

    confirmed = sum(p.confirmed for p in players)
    # Checked above for every processed input, answered within a player's 8 s or later (a slow
    # restart on a busy machine makes answers late, not wrong): enough of them to mean something.
    assert sum(len(p.processed) for p in players) >= len(players) * STEPS // 2, "too few inputs processed"
    assert kills >= min(KILLS, 20)
    assert settled_s < 30
    assert sigterm_s <= 3.0, f"SIGTERM to exit took {sigterm_s:.2f} s"
    print(
        f"\ncrash: seed={SEED} kills={kills} (with a send on its way: {killed_mid_send})"
        f" inputs={sum(len(p.sent) for p in players)} confirmed={confirmed}"
        f" processed-unconfirmed={sum(p.unconfirmed_processed for p in players)}"
        f" lost-unconfirmed={sum(p.lost for p in players)} records-lost=0"
        f" players mid-flow at the end={mid_flow}, shown the current step={mid_flow}"
        f"\n  reminders={len(nudges)} {dict(nudge_status)} twice={len(twice)} lost-not-reached={len(lost)}"
        f"\n  copies={len(copies)} {dict(copy_status)} twice={len(copies_twice)} lost-not-reached={len(copies_lost)}"
        f" (each caught on the wire by a kill: at most one per kill)"
        f"\n  last kill -> nothing left 'sending': {settled_s:.2f} s (checked {settled:.2f} s after the restart)"
        f"; all sent {drained_s:.1f} s after the players finished"
        f"\n  SIGTERM -> exit: {sigterm_s:.2f} s, with {stopped_midway} still to send (sent after the restart)"
    )


def user_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return sorted(
        n for n in names
        if n not in SKIP_TABLES and not n.startswith(("_", "sqlite_"))
        and any(r[1] == "user_id" for r in conn.execute(f"PRAGMA table_info([{n}])"))
    )
