"""Nudges at scale: finding and claiming due nudges among 100,000 users, and dispatching
10,000 of them through the real dispatcher against a fake bot while honouring the limits.

    python -m bench.nudges_bench            # the full run (100,000 users, 10,000 nudges)
    python -m bench.nudges_bench --quick    # 10,000 users, 2,000 nudges

What is measured:

1. **Claim.** A file database (WAL, as in production) with ``users`` users, their profiles
   (time zones) and about four nudges each in a realistic mix: sent in the past, scheduled
   for the coming years, held (paused), failed, and 10% due now. The timed call is
   :func:`flows.storage.nudges.claim_due` (BEGIN IMMEDIATE, one ``UPDATE … RETURNING`` of a batch,
   COMMIT), median of several runs, each put back afterwards; also with nothing due (the
   usual tick). ``EXPLAIN QUERY PLAN`` shows the index range scan.
2. **Dispatch at the configured rate (25/s), on a virtual clock.** 10,000 due nudges to
   10,000 users through :class:`bot.delivery.Dispatcher` (decide, mark, send, mark) against
   a fake bot; ``sleep`` moves a virtual clock, so 400 s of sending runs in seconds. Reports
   the achieved rate against the configured one, the busiest one-second window, the closest
   two sends to one chat, and the real time the dispatcher's own work took per message.
3. **Dispatch on the real clock at the configured rate.** ``real_count`` of those nudges
   again (reset), with real ``asyncio.sleep`` and real database work, at 25/s (all 10,000
   would take 400 s): the achieved rate against the configured one, with real timers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.delivery import Dispatcher
from flows.domain.nudges import NudgeConfig, config
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.nudges import CLAIM_PLAN_SQL, claim_due, new_token, stamp, until
from flows.storage.store import Store

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # daytime in every zone below
ZONES = ("Asia/Kolkata", "Asia/Karachi", "Asia/Dhaka", "Africa/Cairo", "Africa/Lagos",
         "Europe/London", "Asia/Dubai", "Asia/Riyadh", "Asia/Manila")


def build(path: Path, users: int, due: int, seed: int = 7) -> dict[str, int]:
    """The database: ``users`` users, ~4 nudges each, ``due`` of them due now (one per user)."""
    store = Store.open(path)
    Engine(store, all_features()).migrate()
    rng = random.Random(seed)
    conn = store.conn
    joined = "2026-01-01T00:00:00Z"
    conn.executemany(
        "INSERT INTO users (user_id, chat_id, first_seen, last_seen, updates, active) VALUES (?, ?, ?, ?, 5, 1)",
        ((f"tg:{i}", i, joined, joined) for i in range(1, users + 1)),
    )
    conn.executemany(
        "INSERT INTO profiles (user_id, timezone, updated_at) VALUES (?, ?, ?)",
        ((f"tg:{i}", ZONES[i % len(ZONES)], joined) for i in range(1, users + 1)),
    )
    due_users = set(rng.sample(range(1, users + 1), due))

    def rows() -> Any:
        for i in range(1, users + 1):
            user = f"tg:{i}"
            # One sent long ago, two ahead, sometimes held or failed, and one due now for some.
            yield (user, "ms:groundwork", "sent", NOW - timedelta(days=rng.randint(60, 400)), "2026-12-31")
            yield (user, "ms:secure", "scheduled", NOW + timedelta(days=rng.randint(1, 500)), "2029-01-01")
            yield (user, "ms:letters", "held" if i % 33 == 0 else "scheduled",
                   NOW + timedelta(days=rng.randint(200, 900)), "2029-12-31")
            if i % 97 == 0:
                yield (user, "fu:1", "failed", NOW - timedelta(days=rng.randint(1, 30)), "2026-12-31")
            if i in due_users:
                yield (user, "ms:apply", "scheduled", NOW - timedelta(minutes=rng.randint(0, 600)), "2026-12-20")

    conn.executemany(
        "INSERT INTO nudges (user_id, key, kind, channel, status, due_on, due_at, expires_on, args,"
        " attempts, sent_at, created_at, updated_at) VALUES (?, ?, 'milestone', 'tg', ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        (
            (user, key, status, at.date().isoformat(), stamp(at), expires, json.dumps({"m": key[3:]}),
             stamp(at) if status == "sent" else None, joined, joined)
            for user, key, status, at, expires in rows()
        ),
    )
    conn.commit()
    conn.execute("ANALYZE")
    counts = {
        "users": users,
        "nudges": conn.execute("SELECT count(*) FROM nudges").fetchone()[0],
        "due_now": conn.execute(
            "SELECT count(*) FROM nudges WHERE status = 'scheduled' AND due_at <= ?", (until(NOW),)
        ).fetchone()[0],
    }
    store.close()
    return counts


def time_claims(path: Path, batch: int, runs: int) -> dict[str, Any]:
    store = Store.open(path)
    plan = store.conn.execute(
        "EXPLAIN QUERY PLAN " + CLAIM_PLAN_SQL, {"channel": "tg", "until": until(NOW), "limit": batch}
    ).fetchall()
    timings, idle = [], []
    for _ in range(runs):
        started = time.perf_counter()
        claimed = claim_due(store, NOW, batch, new_token())
        timings.append(time.perf_counter() - started)
        assert len(claimed) == batch
        with store.atomic():  # put them back, untimed
            store.conn.executemany(
                "UPDATE nudges SET status = 'scheduled', claim_token = NULL, claimed_at = NULL WHERE id = ?",
                [(c.id,) for c in claimed],
            )
        started = time.perf_counter()
        assert claim_due(store, NOW - timedelta(days=365), batch, new_token()) == []  # nothing due
        idle.append(time.perf_counter() - started)
    store.close()
    return {
        "batch": batch,
        "runs": runs,
        "claim_ms_median": statistics.median(timings) * 1000,
        "claim_ms_max": max(timings) * 1000,
        "idle_claim_ms_median": statistics.median(idle) * 1000,
        "query_plan": " | ".join(str(row[-1]) for row in plan),
    }


class FakeBot:
    """Accepts every message and records when (on the dispatcher's monotonic clock) and where."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.sent: list[tuple[float, int]] = []

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> None:
        self.sent.append((self.clock(), chat_id))


class VirtualTime:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def _stats(sent: list[tuple[float, int]], rate: float) -> dict[str, Any]:
    times = sorted(t for t, _ in sent)
    span = times[-1] - times[0]
    busiest, j = 0, 0
    for i, t in enumerate(times):  # the most sends in any one-second window (t - 1 s, t]
        while times[j] <= t - 1.0 + 1e-9:  # (the epsilon absorbs float sums of 1/25 s steps)
            j += 1
        busiest = max(busiest, i - j + 1)
    last: dict[int, float] = {}
    closest = float("inf")
    for t, chat in sorted(sent):
        if chat in last:
            closest = min(closest, t - last[chat])
        last[chat] = t
    achieved = (len(times) - 1) / span if span else float("inf")
    return {
        "sent": len(times),
        "seconds": span,
        "configured_per_s": rate,
        "achieved_per_s": achieved,
        "off_by_pct": 100 * (achieved - rate) / rate,
        "busiest_1s_window": busiest,
        "closest_same_chat_s": None if closest == float("inf") else closest,
    }


async def _dispatch(store: Store, cfg: NudgeConfig, clock: Any, sleep: Any, monotonic: Any) -> FakeBot:
    engine = Engine(store, all_features(), clock=clock)
    dispatcher = Dispatcher(store, engine.texts, cfg=cfg, clock=clock, sleep=sleep, monotonic=monotonic)
    bot = FakeBot(monotonic)
    while (await dispatcher.tick(bot)).claimed:
        pass
    return bot


def _reset(store: Store, count: int) -> None:
    """Make ``count`` of the sent "due now" nudges due again (as if never sent)."""
    with store.atomic():
        store.conn.execute(
            "UPDATE nudges SET status = 'scheduled', sent_at = NULL, claim_token = NULL, claimed_at = NULL,"
            " attempted_at = NULL WHERE id IN (SELECT id FROM nudges WHERE key = 'ms:apply' LIMIT ?)",
            (count,),
        )


def dispatch(path: Path, real_count: int) -> dict[str, Any]:
    # A morning window wide enough to hold NOW in every zone above (09:30 local is 01:30-09:30 UTC
    # across them): the figures are about sending, not about who is in their morning.
    cfg = replace(config(), morning=timedelta(hours=9))
    store = Store.open(path)
    # 1. The configured rate on a virtual clock (one send at a time: this clock's sleep just moves it).
    vt = VirtualTime()
    started = time.perf_counter()
    serial = replace(cfg, delivery=replace(cfg.delivery, parallel=1))
    bot = asyncio.run(_dispatch(store, serial, vt.now, vt.sleep, vt.monotonic))
    work = time.perf_counter() - started
    virtual = _stats(bot.sent, cfg.delivery.rate_per_second)
    virtual["dispatcher_ms_per_message"] = 1000 * work / max(1, len(bot.sent))
    # 2. The configured rate on the real clock (the wall clock stays at NOW, a daytime instant).
    _reset(store, real_count)
    bot = asyncio.run(_dispatch(store, cfg, lambda: NOW, asyncio.sleep, time.monotonic))
    real = _stats(bot.sent, cfg.delivery.rate_per_second)
    store.close()
    return {"virtual_clock": virtual, "real_clock": real}


def run(users: int = 100_000, due: int = 10_000, claim_runs: int = 15, real_count: int = 300) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nudges.db"
        started = time.perf_counter()
        counts = build(path, users, due)
        built_s = time.perf_counter() - started
        claims = time_claims(path, config().delivery.batch, claim_runs)
        sending = dispatch(path, real_count)
    return {"database": counts, "build_s": built_s, "claim": claims, **sending}


def report(result: dict[str, Any]) -> str:
    db, claim, v, r = result["database"], result["claim"], result["virtual_clock"], result["real_clock"]
    return "\n".join([
        f"database   {db['users']:,} users, {db['nudges']:,} nudges, {db['due_now']:,} due now"
        f" (built in {result['build_s']:.1f} s)",
        f"claim      batch of {claim['batch']}: median {claim['claim_ms_median']:.2f} ms,"
        f" max {claim['claim_ms_max']:.2f} ms over {claim['runs']} runs;"
        f" nothing due: {claim['idle_claim_ms_median']:.3f} ms",
        f"plan       {claim['query_plan']}",
        f"dispatch   virtual clock: {v['sent']:,} sent in {v['seconds']:.1f} s at {v['achieved_per_s']:.2f}/s"
        f" (configured {v['configured_per_s']:g}/s, {v['off_by_pct']:+.1f}%), busiest second"
        f" {v['busiest_1s_window']}, dispatcher work {v['dispatcher_ms_per_message']:.3f} ms/message",
        f"dispatch   real clock: {r['sent']:,} sent in {r['seconds']:.1f} s at {r['achieved_per_s']:.1f}/s"
        f" (configured {r['configured_per_s']:g}/s, {r['off_by_pct']:+.1f}%), busiest second"
        f" {r['busiest_1s_window']}",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 users and 2,000 nudges")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    result = run(users=10_000, due=2_000, real_count=100) if args.quick else run()
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
