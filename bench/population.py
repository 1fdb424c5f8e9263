"""A database of many realistic users: a few hundred walk real flows through the engine,
then their rows are cloned under new user ids up to the size asked for."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from flows.engine import Engine
from flows.features import all_features
from flows.store import Store
from flows.types import Input

SEED_USERS = 300


def _walk(engine: Engine, user: str, rng: random.Random) -> None:
    """Answer whatever the assistant asks, by its buttons, for a few dozen steps."""
    replies = engine.handle(Input.command(user, "start")).replies
    for command in ("plan", "log", "vet"):
        replies = engine.handle(Input.command(user, command)).replies
        for _ in range(14):
            buttons = [b for r in replies for row in r.buttons for b in row if not b.data.startswith("go:")]
            if buttons and rng.random() < 0.85:
                replies = engine.handle(Input.button(user, rng.choice(buttons[:4]).data)).replies
            else:
                typed = rng.choice(["2021", "Internal Medicine", "03/2027", "Mercy Hospital"])
                replies = engine.handle(Input.text(user, typed)).replies
        engine.handle(Input.command(user, "cancel"))
    engine.handle(Input.text(user, "how many months of usce do i need"))


def build(path: Path, users: int) -> dict[str, int]:
    """Create ``users`` users at ``path``; returns rows per table."""
    store = Store.open(path)
    engine = Engine(store, all_features())
    engine.migrate()
    rng = random.Random(11)
    seeds = [f"tg:{9_000_000 + i}" for i in range(min(SEED_USERS, users))]
    for user in seeds:
        _walk(engine, user, rng)
    tables = store.user_tables()
    conn: sqlite3.Connection = store.conn
    columns = {t: [c[1] for c in conn.execute(f"PRAGMA table_info([{t}])")] for t in tables}
    pks = {t: [c[1] for c in conn.execute(f"PRAGMA table_info([{t}])") if c[5]] for t in tables}
    copies = (users - len(seeds) + len(seeds) - 1) // len(seeds)
    with store.atomic():
        for k in range(1, copies + 1):
            for i, seed in enumerate(seeds):
                n = k * len(seeds) + i
                if n >= users:
                    break
                new = f"tg:{9_000_000 + n}"
                for table in ["users", *[t for t in tables if t != "users"]]:
                    cols = [c for c in columns[table] if not (pks[table] == ["id"] and c == "id")]
                    select = ", ".join("?" if c == "user_id" else f"[{c}]" for c in cols)
                    conn.execute(
                        f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in cols)})"
                        f" SELECT {select} FROM [{table}] WHERE user_id = ?",
                        (new, seed),
                    )
    counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return counts
