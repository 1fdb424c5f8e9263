"""Start-up time, resident memory with many users stored, database size per 1,000 users,
and round trips through the local Bot API emulator over HTTP."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import percentile
from bench.population import build
from tests.botprocess import BotProcess
from tests.emulator import Emulator


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _start_times(database: Path, log: Path, runs: int) -> list[float]:
    times = []
    async with Emulator() as emu:
        for _ in range(runs):
            bot = BotProcess(emu, database, log, LOG_LEVEL="WARNING")
            started = time.perf_counter()
            await bot.start(timeout=30)
            times.append(time.perf_counter() - started)
            await bot.stop()
    return times


async def _memory(database: Path, log: Path) -> float:
    async with Emulator() as emu:
        bot = BotProcess(emu, database, log, LOG_LEVEL="WARNING")
        await bot.start(timeout=30)
        for i, text in enumerate(["/start", "how many months of usce do i need", "/progress", "/plan"]):
            emu.send_text(9_000_000 + i, text)
        await asyncio.sleep(2.0)
        assert bot.proc is not None
        value = rss_mb(bot.proc.pid)
        await bot.stop()
    return value


async def _round_trips(
    database: Path, log: Path, users: int, rounds: int, pause: float = 0.0, limited: bool = True
) -> dict[str, float]:
    async with Emulator() as emu:
        bot = BotProcess(emu, database, log, LOG_LEVEL="WARNING", TELEGRAM_RATE_LIMIT=str(limited).lower())
        await bot.start(timeout=30)
        ids = [7_000_000 + u for u in range(users)]
        for uid in ids:  # first contact creates the user (the welcome with the menu: one message); not measured
            emu.send_command(uid, "start")
        for uid in ids:
            await emu.wait_for_messages(uid, 1, timeout=60)
        rtts: list[float] = []

        async def one(uid: int, text: str) -> None:
            started = time.perf_counter()
            emu.send_text(uid, text)
            await emu.wait_for_messages(uid, 1, timeout=60)
            rtts.append(time.perf_counter() - started)

        texts = ["what is vslo", "/menu", "how do i ask for a letter", "/help"]  # one message each
        began = time.perf_counter()
        for r in range(rounds):
            await asyncio.gather(*(one(uid, texts[r % len(texts)]) for uid in ids))
            await asyncio.sleep(pause)
        elapsed = time.perf_counter() - began
        await bot.stop()
    return {
        "users": users,
        "limited": limited,
        "pause_s": pause,
        "replies": len(rtts),
        "per_second": len(rtts) / elapsed,
        "p50_ms": percentile(rtts, 0.5) * 1000,
        "p99_ms": percentile(rtts, 0.99) * 1000,
    }


def run(users: int = 100_000, start_runs: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        empty = folder / "empty.db"
        log = folder / "bot.log"
        started = time.perf_counter()
        counts = build(folder / "full.db", users)
        build_s = time.perf_counter() - started
        size = (folder / "full.db").stat().st_size
        start_empty = asyncio.run(_start_times(empty, log, start_runs))
        start_full = asyncio.run(_start_times(folder / "full.db", log, start_runs))
        memory = asyncio.run(_memory(folder / "full.db", log))
        # one user typing at a human pace (a reply, then 0.2 s): the bot's own latency
        wire_one = asyncio.run(_round_trips(folder / "wire1.db", log, 1, 100, pause=0.2))
        # 50 users at once, as in production (Telegram's ≈30 messages/s overall is enforced)...
        wire_many = asyncio.run(_round_trips(folder / "wire50.db", log, 50, 6))
        # ...and with the limiter off, to see what the bot itself could do
        wire_many_free = asyncio.run(_round_trips(folder / "wire50f.db", log, 50, 6, limited=False))
    return {
        "users": users,
        "rows": counts,
        "populate_s": build_s,
        "db_mb": size / 1e6,
        "db_kb_per_1000_users": size / 1024 / (users / 1000),
        "start_s_empty": statistics.median(start_empty),
        "start_s_full": statistics.median(start_full),
        "rss_mb": memory,
        "wire_one": wire_one,
        "wire_many": wire_many,
        "wire_many_free": wire_many_free,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(users=5_000, start_runs=2), indent=2))
