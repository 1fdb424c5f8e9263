"""SQLite storage through sqlite-utils. The store is handed a Database; it never opens one itself
unless asked to through :meth:`Store.open`.

The per-update hot path (load a session, save it) uses one prepared statement each on the
connection; everything else may use sqlite-utils' table API. Schema changes are sqlite-utils
``Migrations`` sets: the core set here, one set per feature beside the feature.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.types import Session

core_migrations = Migrations("usce-coach.core")


@core_migrations()
def m001_users(db: Database) -> None:
    db.table("users").create(
        {
            "user_id": str,  # channel-qualified: "tg:123", "term:alice"
            "chat_id": int,  # where to deliver unprompted messages (Telegram)
            "first_seen": str,
            "last_seen": str,
            "updates": int,
            "active": int,  # 0 once the user blocked the bot
            "flow": str,
            "state": str,
            "data": str,  # JSON scratch of the active flow
        },
        pk="user_id",
        not_null={"first_seen", "last_seen"},
        defaults={"updates": 0, "active": 1},
    )
    db.table("users").create_index(["last_seen"])


@core_migrations()
def m002_completions(db: Database) -> None:
    db.table("completions").create(
        {"id": int, "user_id": str, "flow": str, "at": str},
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table("completions").create_index(["user_id"])


@core_migrations()
def m003_meta(db: Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")


@core_migrations()
def m004_last_update(db: Database) -> None:
    # The channel's id of the last update handled for this user (Telegram's update_id),
    # so an update redelivered after a crash is recognised and not applied twice.
    db.table("users").add_column("last_update", int)


@core_migrations()
def m005_no_last_seen_index(db: Database) -> None:
    # Every input rewrites users.last_seen, and keeping this index in step roughly doubled the
    # cost of each commit; only the admins' /stats reads last_seen, and a scan of 100,000
    # rows for it takes milliseconds.
    db.execute("DROP INDEX IF EXISTS idx_users_last_seen")


class Store:
    """The assistant's database. Pass a ``sqlite_utils.Database`` (a file, or ``memory=True``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path: Path | None = None
        self._checkpointer: sqlite3.Connection | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, background_checkpoints: bool = False) -> Store:
        """Open (creating folders as needed) a file database in WAL mode.

        With ``background_checkpoints`` the answering connection never folds the WAL
        back into the file itself (that needs an fsync, a multi-millisecond stall);
        the caller runs :meth:`checkpoint` periodically off the event loop instead.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        db.enable_wal()
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA foreign_keys=ON")
        if background_checkpoints:
            db.execute("PRAGMA wal_autocheckpoint=0")
        store = cls(db)
        store.path = path
        return store

    @classmethod
    def memory(cls) -> Store:
        db = Database(memory=True)
        db.execute("PRAGMA foreign_keys=ON")
        return cls(db)

    def migrate(self, sets: Iterable[Migrations]) -> None:
        """Apply pending migrations of every set; safe to run on every start."""
        for migrations in sets:
            migrations.apply(self.db)

    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """A transaction, or inside one a savepoint that a failure rolls back alone.

        As sqlite-utils' ``Database.atomic``, but the savepoint keeps one name: SQLite
        releases the innermost of that name, and the statements stay in the connection's
        statement cache instead of being compiled afresh under a random name each time.
        """
        conn = self.conn
        if not conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        conn.execute("SAVEPOINT step")
        try:
            yield self
        except BaseException:
            if conn.in_transaction:  # an error may already have ended the whole transaction
                conn.execute("ROLLBACK TO SAVEPOINT step")
                conn.execute("RELEASE SAVEPOINT step")
            raise
        else:
            conn.execute("RELEASE SAVEPOINT step")

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database file, from a connection of its own
        (safe to call from a worker thread while the main connection keeps answering)."""
        if self.path is None:
            return
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.conn.close()

    # -- the hot path: one user's dialogue state -------------------------------------------
    _LOAD = "SELECT flow, state, data, last_update, last_seen FROM users WHERE user_id = ?"
    _SAVE_ALL = (
        "INSERT INTO users (user_id, chat_id, first_seen, last_seen, updates, active, flow, state, data, last_update)"
        " VALUES (:user_id, :chat_id, :now, :now, 1, 1, :flow, :state, :data, :last_update)"
        " ON CONFLICT(user_id) DO UPDATE SET last_seen = :now, updates = updates + 1, active = 1,"
        " chat_id = coalesce(:chat_id, chat_id), flow = :flow, state = :state, data = :data,"
        " last_update = coalesce(:last_update, last_update)"
    )
    _SAVE = (
        "UPDATE users SET last_seen = ?, updates = updates + 1, active = 1, chat_id = coalesce(?, chat_id),"
        " flow = ?, state = ?, data = ?, last_update = coalesce(?, last_update) WHERE user_id = ?"
    )
    _TOUCH = "UPDATE users SET last_seen = ?, updates = updates + 1, active = 1 WHERE user_id = ?"

    def load_session(self, user_id: str) -> Session:
        row = self.conn.execute(self._LOAD, (user_id,)).fetchone()
        if row is None:
            return Session(user_id, created=True, dirty=True)
        flow, state, data, last_update, last_seen = row
        return Session(
            user_id, flow, state, json.loads(data) if data else {}, last_update=last_update, last_seen=last_seen
        )

    def save_session(self, session: Session, now: datetime, chat_id: int | None = None) -> None:
        stamp = now.isoformat(timespec="seconds")
        if not (session.dirty or session.created or chat_id is not None or session.last_update is not None):
            self.conn.execute(self._TOUCH, (stamp, session.user_id))
            return
        data = json.dumps(session.data, separators=(",", ":")) if session.data else None
        if not session.created:  # the row exists: a plain UPDATE costs less than an upsert
            values = (stamp, chat_id, session.flow, session.state, data, session.last_update, session.user_id)
            if self.conn.execute(self._SAVE, values).rowcount:
                return
        self.conn.execute(
            self._SAVE_ALL,
            {
                "user_id": session.user_id,
                "chat_id": chat_id,
                "now": stamp,
                "flow": session.flow,
                "state": session.state,
                "data": data,
                "last_update": session.last_update,
            },
        )

    # -- settings the installation keeps for itself -----------------------------------------
    def meta(self, key: str, default: Callable[[], str]) -> str:
        """The stored value of ``key``, storing ``default()`` the first time."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row:
            return str(row[0])
        value = default()
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        self.conn.commit()
        return self.meta(key, default)

    # -- users ---------------------------------------------------------------------------
    def user(self, user_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("users").rows_where("user_id = ?", [user_id]))
        return rows[0] if rows else None

    def set_active(self, user_id: str, active: bool) -> None:
        with self.db.atomic():  # commits on its own when no transaction is open
            self.conn.execute("UPDATE users SET active = ? WHERE user_id = ?", (int(active), user_id))

    def record_completion(self, user_id: str, flow: str, now: datetime) -> None:
        self.db.table("completions").insert(
            {"user_id": user_id, "flow": flow, "at": now.isoformat(timespec="seconds")}
        )

    # -- every table that holds a user's rows -----------------------------------------------
    def user_tables(self) -> list[str]:
        """Tables with a ``user_id`` column, read from the schema (so none can be forgotten)."""
        return sorted(
            t.name
            for t in self.db.tables
            if "user_id" in t.columns_dict and not t.name.startswith("_")
        )

    def linked_tables(self) -> list[tuple[str, str, str, str]]:
        """Tables without ``user_id`` whose rows point (by a foreign key) at rows of a user table,
        as ``(table, column, parent, parent_column)``: their rows belong to that parent's user."""
        owners = set(self.user_tables())
        return sorted(
            (t.name, str(fk.column), fk.other_table, str(fk.other_column))
            for t in self.db.tables
            if t.name not in owners and not t.name.startswith("_")
            for fk in t.foreign_keys
            if fk.other_table in owners
        )

    def export_user(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        found = {
            name: list(self.db.table(name).rows_where("user_id = ?", [user_id]))
            for name in self.user_tables()
        }
        for name, column, parent, parent_column in self.linked_tables():
            where = f"[{column}] IN (SELECT [{parent_column}] FROM [{parent}] WHERE user_id = ?)"
            found.setdefault(name, []).extend(self.db.table(name).rows_where(where, [user_id]))
        return found

    def delete_user(self, user_id: str) -> int:
        """Erase every row about the user in every table; returns the number of rows erased."""
        erased = 0
        with self.db.atomic():
            # Foreign keys are checked at commit, so the order between tables does not matter.
            self.conn.execute("PRAGMA defer_foreign_keys = ON")
            for name, column, parent, parent_column in self.linked_tables():
                erased += self.conn.execute(
                    f"DELETE FROM [{name}] WHERE [{column}] IN"
                    f" (SELECT [{parent_column}] FROM [{parent}] WHERE user_id = ?)",
                    (user_id,),
                ).rowcount
            for name in self.user_tables():
                if name != "users":
                    erased += self.conn.execute(
                        f"DELETE FROM [{name}] WHERE user_id = ?", (user_id,)
                    ).rowcount
            erased += self.conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount
        return erased
