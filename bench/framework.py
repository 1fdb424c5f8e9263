"""The assistant against the bare framework, in one process and one run.

Both run the real python-telegram-bot ``Application`` over the same recording fake
request (no network): first an echo handler (the floor), then the full assistant on a
realistic mix — menu presses, flow answers that save, FAQ questions — from N distinct
users. Figures: updates per second, p50/p99 latency of ``process_update``, the ratio.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.settings import Settings
from bot.telegram import build_application
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.fake_telegram import TOKEN, RecordingRequest, Updates

QUESTIONS = [
    "how many months of usce do i need",
    "is observership counted as usce?",
    "what is vslo",
    "how to ask for LOR",
    "paid externship worth it?",
    "what should my cold email subject be",
    "can i do observership on b1/b2",
    "what goes in ERAS experiences",
]


class QuietRequest(RecordingRequest):
    """The recording fake without the recording: a benchmark must not grow memory per call."""

    async def do_request(self, url: str, method: str, request_data: Any = None, *args: Any, **kw: Any) -> Any:
        result = await super().do_request(url, method, request_data, *args, **kw)
        self.calls.clear()
        return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _drive(app: Application, updates: list[Update]) -> list[float]:
    latencies = []
    gc.collect()
    for update in updates:
        started = time.perf_counter()
        await app.process_update(update)
        latencies.append(time.perf_counter() - started)
    return latencies


def _summary(latencies: list[float]) -> dict[str, float]:
    total = sum(latencies)
    return {
        "updates": len(latencies),
        "per_second": len(latencies) / total,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def floor(n: int) -> dict[str, float]:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    request = QuietRequest()
    app = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        gc.collect()
        gc.freeze()  # the same treatment as the assistant's post_init, so both sides are alike
        factory = Updates(app.bot)
        updates = [factory.message(10_000 + i, f"hello {i}") for i in range(n)]
        return _summary(await _drive(app, updates))


def _assistant_mix(
    factory: Updates, n: int, rng: random.Random, buttons: Callable[[], list[str]]
) -> list[tuple[str, Callable[[], Update]]]:
    """A plan of n (kind, update) steps over distinct users; each update is built when its
    step is reached (a press needs the buttons of the reply before it)."""
    plan: list[tuple[str, Callable[[], Update]]] = []

    def press_first(uid: int) -> Update:  # the menu's first button, then the flow's first answer
        return factory.press(uid, (buttons() or ["go:menu"])[0])

    user = 20_000
    while len(plan) < n:
        user += 1
        plan.append(("/start", functools.partial(factory.message, user, "/start")))
        for kind in ("menu button into the goal questions", "goal answer (saved)", "goal answer (saved)"):
            plan.append((kind, functools.partial(press_first, user)))
        plan.append(("back to the menu", functools.partial(factory.press, user, "go:menu")))
        plan.append(("typed question (FAQ)", functools.partial(factory.message, user, rng.choice(QUESTIONS))))
    return plan[:n]


PROBE_N = 3_000  # updates in the diagnostic run behind cost_by_kind


class Probe:
    """What a diagnostic run records per kind of update: seconds inside ``Engine.handle``
    and Bot API calls made. The measured rounds run without one."""

    def __init__(self) -> None:
        self.kind = ""
        self.updates: dict[str, int] = {}
        self.engine: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def timed(self, handle: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return handle(*args, **kwargs)
            finally:
                self.engine[self.kind] = self.engine.get(self.kind, 0.0) + time.perf_counter() - started

        return wrapper

    def per_kind(self) -> dict[str, dict[str, float]]:
        return {
            kind: {"engine_us": self.engine.get(kind, 0.0) / n * 1e6, "api_calls": self.calls.get(kind, 0) / n}
            for kind, n in self.updates.items()
        }


async def assistant(n: int, database: Path, probe: Probe | None = None) -> dict[str, Any]:
    last_markup: list[Any] = [None]  # the newest keyboard as sent; read when the next step is built

    class Watching(QuietRequest):
        async def do_request(self, url: str, method: str, request_data: Any = None, *a: Any, **kw: Any) -> Any:
            if request_data is not None and url.endswith("sendMessage"):
                last_markup[0] = request_data.parameters.get("reply_markup")
            if probe is not None:
                probe.calls[probe.kind] = probe.calls.get(probe.kind, 0) + 1
            return await super().do_request(url, method, request_data, *a, **kw)

    def last_buttons() -> list[str]:  # called between updates, outside the timed part
        markup = last_markup[0]
        if not markup:
            return []
        rows = json.loads(markup) if isinstance(markup, str) else markup
        return [b["callback_data"] for row in rows["inline_keyboard"] for b in row]

    request = Watching()
    store = Store.open(database, background_checkpoints=True)  # as `usce-coach run` opens it
    engine = Engine(store, all_features())
    engine.migrate()
    if probe is not None:
        engine.handle = probe.timed(engine.handle)  # type: ignore[method-assign]
    settings = Settings(telegram_bot_token=TOKEN, database_path=database)  # type: ignore[arg-type]
    app = build_application(engine, settings, "bench-salt", request=request, rate_limited=False)
    import logging

    logging.getLogger("usce_coach").setLevel(logging.WARNING)
    async with app:
        assert app.post_init is not None
        await app.post_init(app)  # as run_polling does
        await app.start()  # the job queue runs, WAL checkpoints included
        factory = Updates(app.bot)
        plan = _assistant_mix(factory, n, random.Random(7), last_buttons)
        latencies = []
        by_kind: dict[str, list[float]] = {}
        gc.collect()
        for kind, step in plan:
            update = step()
            if probe is not None:
                probe.kind = kind
                probe.updates[kind] = probe.updates.get(kind, 0) + 1
            started = time.perf_counter()
            await app.process_update(update)
            latency = time.perf_counter() - started
            latencies.append(latency)
            by_kind.setdefault(kind, []).append(latency)
        await app.stop()
    store.close()
    return {
        **_summary(latencies),
        "kinds": {kind: {"p50_ms": percentile(v, 0.5) * 1000, "share": sum(v) / sum(latencies)}
                  for kind, v in by_kind.items()},
    }


def where_time_goes(n: int = 2_000) -> dict[str, float]:
    """Shares of the assistant's time (under cProfile) in the engine (and the FAQ matcher within
    it), in sending replies and in answering callback queries — to say what dominates."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        profiler.runcall(asyncio.run, assistant(n, Path(tmp) / "profile.db"))
    stats = pstats.Stats(profiler)
    cumulative = {
        f"{Path(file).name}:{name}": entry[3]
        for (file, _line, name), entry in stats.stats.items()  # type: ignore[attr-defined]
    }
    total = cumulative.get("framework.py:_drive", 0.0) or sum(
        v for k, v in cumulative.items() if k.endswith("_application.py:process_update")
    )
    pick = {
        "engine (all of it)": "engine.py:handle",
        "of which FAQ matching": "faq.py:match",
        "sending replies (sendMessage / editMessageText)": "outbox.py:deliver",
        "answering button presses (answerCallbackQuery)": "coachbot.py:answer_press",
    }
    return {label: cumulative.get(key, 0.0) / total for label, key in pick.items() if total}


def cost_by_kind(n: int = PROBE_N) -> dict[str, Any]:
    """From one more run of the mix: per kind of update, mean microseconds inside the engine
    (``Engine.handle``: the transaction, the flow, the FAQ match, building the replies) and Bot
    API calls made; over all updates, the mean time per update and the engine's part of it.
    Everything else in an update's time is the framework's dispatch and sending."""
    probe = Probe()
    with tempfile.TemporaryDirectory() as tmp:
        summary = asyncio.run(assistant(n, Path(tmp) / "probe.db", probe))
    return {
        "kinds": probe.per_kind(),
        "update_us": 1e6 / summary["per_second"],
        "engine_us": sum(probe.engine.values()) / sum(probe.updates.values()) * 1e6,
    }


def run(n: int = 10_000, repeats: int = 3) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            f = asyncio.run(floor(n))
            a = asyncio.run(assistant(n, Path(tmp) / f"bench-{r}.db"))
        rounds.append({"floor": f, "assistant": a, "ratio": a["per_second"] / f["per_second"]})
    med = {
        side: {k: statistics.median(rd[side][k] for rd in rounds) for k in rounds[0][side] if k != "kinds"}
        for side in ("floor", "assistant")
    }
    med["assistant"]["kinds"] = {
        kind: {m: statistics.median(rd["assistant"]["kinds"][kind][m] for rd in rounds) for m in ("p50_ms", "share")}
        for kind in rounds[0]["assistant"]["kinds"]
    }
    return {
        "n": n,
        "repeats": repeats,
        "rounds": rounds,
        **med,
        "ratio": statistics.median(r["ratio"] for r in rounds),
        "profile": where_time_goes(),
        "cost_by_kind": cost_by_kind(),
        "cost_by_kind_n": PROBE_N,
    }


def main() -> None:
    result = run()
    for side in ("floor", "assistant"):
        s = result[side]
        print(f"{side:9} {s['per_second']:8.0f} upd/s  p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    print(f"ratio     {result['ratio']:.2f}")
    for kind, cost in result["cost_by_kind"]["kinds"].items():
        print(f"  {kind:<38} engine {cost['engine_us']:6.0f} µs  Bot API calls {cost['api_calls']:.0f}")


if __name__ == "__main__":
    main()
