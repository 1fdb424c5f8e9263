"""Crash test: the real bot process, SIGKILLed at random moments and restarted, while users
answer the goal questions, nudges fall due and a broadcast goes out.

Afterwards:
- every input the bot confirmed (answered) is stored: the database equals a replay of the
  processed inputs through a fresh engine, and no input was processed twice;
- the database passes ``PRAGMA integrity_check`` after every kill;
- no nudge and no broadcast copy reached anyone twice.

Seeded (``CRASH_SEED``), about 30-50 s. Figures go to stdout (``-s``) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.botprocess import BotProcess
from tests.emulator import Emulator

SEED = int(os.environ.get("CRASH_SEED", "9"))
KILLS = int(os.environ.get("CRASH_KILLS", "6"))
STEPS = int(os.environ.get("CRASH_STEPS", "30"))  # inputs per player
PLAYERS = (7001, 7002, 7003, 7004)
PASSIVE = tuple(range(8001, 8041))  # get a due nudge and the broadcast, never write
ADMIN = 9001
BROADCAST = "Crash-test broadcast 4417"
TEXTS = ["2027", "Internal medicine", "12", "3", "hello", "2028-09", "Asia/Kolkata", "no", "Psychiatry"]
COMMANDS = ["start", "profile", "plan", "start"]
VOLATILE = {"first_seen", "last_seen", "updates", "data", "last_update"}
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


def seed_database(path: Path) -> None:
    """Passive users with a nudge due now (no quiet hours), and a queued broadcast."""
    store = Store.open(path)
    engine = Engine(store, all_features(), admins=[f"tg:{ADMIN}"])
    engine.migrate()
    now = datetime.now(UTC)
    for uid in PASSIVE:
        user = f"tg:{uid}"
        engine.handle(Input.command(user, "start"), chat_id=uid)
        with store.atomic():
            store.conn.execute(
                "INSERT OR REPLACE INTO nudge_settings (user_id, quiet_start, quiet_end, amount, paused, muted,"
                " updated_at) VALUES (?, '00:00', '00:00', 'all', 0, '[]', ?)",
                (user, stamp(now)),
            )
            store.conn.execute(
                "INSERT INTO nudges (user_id, key, kind, channel, status, due_on, due_at, expires_on, args,"
                " attempts, created_at, updated_at) VALUES (?, ?, 'followup', 'tg', 'scheduled', ?, ?, ?, ?, 0, ?, ?)",
                (user, f"test:{uid}", now.date().isoformat(), stamp(now - timedelta(hours=1)),
                 (now + timedelta(days=10)).date().isoformat(), json.dumps({"contact": "Dr Crash", "days": 10}),
                 stamp(now), stamp(now)),
            )
    admin = f"tg:{ADMIN}"
    engine.handle(Input.command(admin, "start"), chat_id=ADMIN)
    engine.handle(Input.command(admin, "broadcast", BROADCAST), chat_id=ADMIN)
    engine.handle(Input.button(admin, "ad:send"), chat_id=ADMIN)
    store.close()


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


async def test_sigkill_at_random_moments_loses_nothing_confirmed_and_sends_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "coach.db"
    seed_database(db)
    problems: list[str] = []
    kills = 0
    async with Emulator() as emu:
        bot = BotProcess(emu, db, tmp_path / "bot.log", ADMIN_IDS=str(ADMIN))
        await bot.start()
        running = asyncio.Event()
        running.set()
        players = [Player(uid, random.Random(SEED * 1000 + uid)) for uid in PLAYERS]
        tasks = [asyncio.create_task(play(p, emu, running, db, problems)) for p in players]

        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            if all(t.done() for t in tasks):
                break
            running.clear()
            bot.kill()
            kills += 1
            with reading(db) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            await bot.start()
            running.set()
        await asyncio.gather(*tasks)

        def drained() -> bool:
            with reading(db) as conn:
                waiting = conn.execute("SELECT count(*) FROM nudges WHERE status = 'scheduled' AND key LIKE 'test:%'")
                queued = conn.execute("SELECT count(*) FROM broadcast_messages WHERE status = 'queued'")
                return waiting.fetchone()[0] == 0 and queued.fetchone()[0] == 0

        for _ in range(60):  # the dispatcher ticks every 30 s; a restart ticks after 1 s
            if drained():
                break
            await asyncio.sleep(0.5)
        await bot.stop()

    with reading(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        nudge_status = Counter(
            r[0] for r in conn.execute("SELECT status FROM nudges WHERE key LIKE 'test:%'").fetchall()
        )
        copy_status = Counter(r[0] for r in conn.execute("SELECT status FROM broadcast_messages").fetchall())
        sent_nudges = {r[0] for r in conn.execute("SELECT id FROM nudges WHERE status = 'sent'").fetchall()}
        sent_copies = {
            int(r[0]) for r in conn.execute("SELECT chat_id FROM broadcast_messages WHERE status = 'sent'").fetchall()
        }
        real = {p.user: {t: rows(conn, t, p.user) for t in user_tables(conn)} for p in players}
        counts = {p.user: processed_count(db, p.user) for p in players}

    # Nothing twice: each nudge button and each broadcast copy appears at most once.
    nudge_ids = Counter(
        d.split(":")[2] for chat in PASSIVE for m in emu.sent_messages(chat) for d in m.callback_data
        if d.startswith("n:d:")
    )
    assert all(n == 1 for n in nudge_ids.values()), f"nudges delivered twice: {nudge_ids.most_common(3)}"
    assert {int(i) for i in nudge_ids} >= sent_nudges, "a nudge marked sent never arrived"
    copies = Counter(chat for chat in (*PASSIVE, ADMIN) for m in emu.sent_messages(chat) if BROADCAST in m.plain_text)
    assert all(n == 1 for n in copies.values()), f"broadcast copies delivered twice: {copies.most_common(3)}"
    assert set(copies) >= sent_copies

    # Every processed input, and nothing else, is stored: compare with a replay.
    assert not problems, problems
    replay = Engine(Store.memory(), all_features(), admins=[f"tg:{ADMIN}"])
    replay.migrate()
    for player in players:
        assert counts[player.user] == len(player.processed), f"{player.user}: an input was processed twice"
        for inp in player.processed:
            replay.handle(inp, chat_id=player.uid)
    for player in players:
        expected = {t: rows(replay.store.conn, t, player.user) for t in user_tables(replay.store.conn)}
        for table, found in real[player.user].items():
            assert found == expected.get(table, []), f"{player.user}: {table} differs from the replay"

    confirmed = sum(p.confirmed for p in players)
    assert confirmed >= len(players) * STEPS // 2, "too few confirmed inputs to mean anything"
    assert kills >= min(KILLS, 3)
    print(
        f"\ncrash: seed={SEED} kills={kills} inputs={sum(len(p.sent) for p in players)} confirmed={confirmed}"
        f" processed-unconfirmed={sum(p.unconfirmed_processed for p in players)}"
        f" lost-unconfirmed={sum(p.lost for p in players)} records-lost=0"
        f" nudges={dict(nudge_status)} broadcast={dict(copy_status)}"
    )


def user_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return sorted(
        n for n in names
        if n not in SKIP_TABLES and not n.startswith(("_", "sqlite_"))
        and any(r[1] == "user_id" for r in conn.execute(f"PRAGMA table_info([{n}])"))
    )
