"""A database of many realistic users: a few hundred walk real flows through the engine,
then their rows are cloned under new user ids up to the size asked for."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store

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


def _pk(conn: sqlite3.Connection, table: str) -> list[str]:
    return [c[1] for c in sorted(conn.execute(f"PRAGMA table_info([{table}])"), key=lambda c: c[5]) if c[5]]


def _ordered(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Parents before the tables that point at them."""
    done: list[str] = []
    pending = list(tables)
    while pending:
        for table in list(pending):
            parents = {fk[2] for fk in conn.execute(f"PRAGMA foreign_key_list([{table}])")} & set(tables)
            if parents <= set(done) | {table}:
                done.append(table)
                pending.remove(table)
                break
        else:
            done += pending
            break
    return done


def build(path: Path, users: int) -> dict[str, int]:
    """Create ``users`` users at ``path``; returns rows per table."""
    store = Store.open(path)
    engine = Engine(store, all_features())
    engine.migrate()
    rng = random.Random(11)
    seeds = [f"tg:{9_000_000 + i}" for i in range(min(SEED_USERS, users))]
    for user in seeds:
        _walk(engine, user, rng)
    conn: sqlite3.Connection = store.conn
    conn.row_factory = sqlite3.Row
    tables = _ordered(conn, store.user_tables())
    rows = {
        t: {seed: [dict(r) for r in conn.execute(f"SELECT * FROM [{t}] WHERE user_id = ?", (seed,))] for seed in seeds}
        for t in tables
    }
    auto_id = {t: _pk(conn, t) == ["id"] for t in tables}
    refs = {t: [(fk[3], fk[2]) for fk in conn.execute(f"PRAGMA foreign_key_list([{t}])") if fk[2] != "users"]
            for t in tables}
    with store.atomic():
        n = len(seeds)
        while n < users:
            for seed in seeds:
                if n >= users:
                    break
                new_user = f"tg:{9_000_000 + n}"
                n += 1
                new_ids: dict[tuple[str, int], int] = {}
                for table in tables:
                    for row in rows[table][seed]:
                        copy = dict(row, user_id=new_user)
                        for column, parent in refs[table]:
                            if copy.get(column) is not None:
                                copy[column] = new_ids.get((parent, copy[column]), copy[column])
                        old_id = copy.pop("id") if auto_id[table] else None
                        names = ", ".join(f"[{c}]" for c in copy)
                        marks = ", ".join("?" for _ in copy)
                        cur = conn.execute(f"INSERT INTO [{table}] ({names}) VALUES ({marks})", tuple(copy.values()))
                        if old_id is not None:
                            new_ids[(table, old_id)] = int(cur.lastrowid or 0)
    conn.row_factory = None
    counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return counts
