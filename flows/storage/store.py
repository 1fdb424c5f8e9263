"""SQLite storage through sqlite-utils. The store is handed a Database; it never opens one itself
unless asked to through :meth:`Store.open`.

The per-update hot path (load a session, save it) uses one prepared statement each on the
connection; everything else may use sqlite-utils' table API. Schema changes are sqlite-utils
``Migrations`` sets: the core set here, one set per feature beside the feature.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import StorageUnavailable
from flows.base.types import Session

log = logging.getLogger("usce_coach.store")

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000  # a second writer (a backup, `usce-coach nudges --refresh`) waits this long
# What SQLite says when the disk, not the data, is the problem: users hear "I can't save right now".
_UNWRITABLE = ("readonly database", "disk is full", "disk i/o error", "unable to open database", "out of memory")


def timestamp(moment: datetime) -> str:
    """The one format the tables keep times in: ISO 8601 to the second of an aware UTC time
    (``2026-11-25T09:00:00+00:00``), so they sort and compare as text."""
    return moment.isoformat(timespec="seconds")


class DatabaseRefused(Exception):
    """The database file cannot be used as it is; ``str()`` is one sentence saying why and what to do."""


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
        self.installation_id = ""
        self._checkpointer: sqlite3.Connection | None = None
        self._unwritable_since: sqlite3.OperationalError | None = None
        self._identity: tuple[int, int] | None = None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, background_checkpoints: bool = False) -> Store:
        """Open (creating folders as needed) a file database in WAL mode.

        Before anything is written the file is checked (:func:`inspect_file`): a file that is
        not a database, a damaged one, or a ``-wal`` left beside it by another database raises
        :class:`DatabaseRefused` instead of being served or "repaired" into an empty one.
        A new file is created readable by its owner only (0600; SQLite gives its ``-wal`` and
        ``-shm`` the same mode).

        With ``background_checkpoints`` the answering connection never folds the WAL
        back into the file itself (that needs an fsync, a multi-millisecond stall);
        the caller runs :meth:`checkpoint` periodically off the event loop instead.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        inspect_file(path)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            db = Database(path)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            if background_checkpoints:
                db.execute("PRAGMA wal_autocheckpoint=0")
            damage = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            raise DatabaseRefused(f"{path} cannot be opened as a database ({exc}); {_RESTORE}") from None
        if damage != ["ok"]:
            db.conn.close()
            raise DatabaseRefused(f"{path} is damaged (SQLite's check says: {first_finding(damage)}); {_RESTORE}")
        store = cls(db)
        store.path = path
        store._identity = _identity(path)
        return store

    @classmethod
    def memory(cls) -> Store:
        db = Database(memory=True)
        db.execute("PRAGMA foreign_keys=ON")
        return cls(db)

    def migrate(self, sets: Iterable[Migrations]) -> None:
        """Apply pending migrations of every set; safe to run on every start.

        A file with tables but no record of this project's migrations is someone else's
        database (or what is left of ours): creating fresh tables in it would hide what it
        holds, so it is refused. Every installation gets an id in ``meta`` the first time.
        """
        tables = set(self.db.table_names())
        if tables and "_sqlite_migrations" not in tables:
            raise DatabaseRefused(
                f"{self.path or 'the database'} holds tables ({', '.join(sorted(tables)[:5])}) but no record of"
                " USCE Coach's migrations, so it is not this bot's database; point DATABASE_PATH at the right"
                " file, or at a new one"
            )
        for migrations in sets:
            migrations.apply(self.db)
        if "meta" in self.db.table_names():
            self.installation_id = self.meta("installation_id", lambda: secrets.token_hex(8))

    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """A write transaction, or inside one a savepoint that a failure rolls back alone.

        The transaction takes the write lock when it starts (``BEGIN IMMEDIATE``): a
        transaction that reads first and writes later would fail at once with "database is
        locked" whenever another process wrote in between, without waiting; this one waits
        (``busy_timeout``) for the other writer to finish. A read-only or full disk ends it
        with :class:`~flows.errors.StorageUnavailable`, everything rolled back.

        As sqlite-utils' ``Database.atomic``, the savepoint keeps one name: SQLite
        releases the innermost of that name, and the statements stay in the connection's
        statement cache instead of being compiled afresh under a random name each time.
        """
        conn = self.conn
        if not conn.in_transaction:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    if conn.in_transaction:  # an error may already have ended the transaction
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if not _unwritable(exc):
                    raise
                self._report_unwritable(exc)
                raise StorageUnavailable(str(exc)) from exc
            if self._unwritable_since is not None:
                log.warning("the database at %s can be written again", self.path or ":memory:")
                self._unwritable_since = None
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

    @property
    def unwritable(self) -> bool:
        """The last write failed on a read-only or full disk (and none has succeeded since)."""
        return self._unwritable_since is not None

    def _report_unwritable(self, exc: sqlite3.OperationalError) -> None:
        """One line for the operator when writes start failing (not one per input)."""
        if self._unwritable_since is None:
            self._unwritable_since = exc
            log.error(
                "cannot write to the database at %s (%s): users are told their input was not saved"
                " until it can be written again",
                self.path or ":memory:",
                exc,
            )

    def backup(self, target: str | Path) -> int:
        """A consistent copy of the whole database at ``target`` (SQLite's online backup: the
        bot may keep answering meanwhile). Returns the copy's size in bytes."""
        target = Path(target)
        if target.exists():
            raise FileExistsError(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        copy = sqlite3.connect(target)
        try:
            self.conn.backup(copy, pages=1024)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
        return target.stat().st_size

    def replaced(self) -> str | None:
        """Why the file at ``path`` is no longer the one this store opened (moved, deleted, another
        copied in its place), or None. The open connection would go on writing to the old one."""
        if self.path is None or self._identity is None:
            return None
        now = _identity(self.path)
        if now is None:
            return f"{self.path} was deleted or moved away while the bot ran"
        if now != self._identity:
            return f"{self.path} was replaced by another file while the bot ran"
        return None

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

    def add_user(self, user_id: str, now: datetime, chat_id: int | None = None) -> None:
        """The row of a user seen for the first time, written before anything that points at it
        (the input's own save then counts the update)."""
        stamp = now.isoformat(timespec="seconds")
        self.db.table("users").insert(
            {"user_id": user_id, "chat_id": chat_id, "first_seen": stamp, "last_seen": stamp, "updates": 0},
            ignore=True,
        )

    def save_session(self, session: Session, now: datetime, chat_id: int | None = None) -> None:
        stamp = now.isoformat(timespec="seconds")
        if not (session.dirty or session.created or chat_id is not None or session.last_update is not None):
            self.conn.execute(self._TOUCH, (stamp, session.user_id))
            return
        data = json.dumps(session.data, separators=(",", ":")) if session.data else None
        # the row exists (a known user, or one added at the start of this input): a plain UPDATE
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

    def holds_anything_about(self, user_id: str, besides: Iterable[str] = ()) -> bool:
        """Whether any table but ``users`` (and ``besides``) has a row of the user (after /delete: none)."""
        skip = {"users", *besides}
        return any(
            self.conn.execute(f"SELECT 1 FROM [{name}] WHERE user_id = ? LIMIT 1", (user_id,)).fetchone()
            for name in self.user_tables()
            if name not in skip
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


# -- checking a file before opening it ------------------------------------------------------------
_RESTORE = "restore it from a backup (see README, 'Operating it') or point DATABASE_PATH at a new file"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def first_finding(report: list[str]) -> str:
    """The first line of an integrity report that says something (SQLite opens with a heading)."""
    lines = [line for row in report for line in row.splitlines() if line.strip() and not line.startswith("***")]
    return (lines or ["no details"])[0][:200]


def _unwritable(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return any(words in message for words in _UNWRITABLE)


def _read_view(uri: str) -> tuple[set[str], str | None]:
    """The tables and the installation id seen through a read-only connection."""
    conn = sqlite3.connect(uri, uri=True)
    try:
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        installation = None
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
            installation = str(row[0]) if row else None
        return tables, installation
    finally:
        conn.close()


def inspect_file(path: Path) -> None:
    """Refuse (:class:`DatabaseRefused`) a file that is not a SQLite database, and a ``-wal``
    beside the file that belongs to another database.

    SQLite applies whatever valid ``-wal`` file it finds beside a database, even one left from
    another copy (a restore that forgot it): the data would silently be replaced. So the file is
    read once without its WAL and once with it, read-only, before anything may write to it: a
    different installation id, or tables of the file that vanish with the WAL, mean it is foreign.
    A backup copy (:meth:`Store.backup` writes it in rollback-journal mode) restored over the
    file of the same installation is caught by its header: such a file never has a WAL of its
    own, so any ``-wal`` beside it is the replaced database's.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise DatabaseRefused(f"{path} is a folder; DATABASE_PATH must name a file")
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise DatabaseRefused(
            f"{path} is not a SQLite database (or only its first {size} bytes are left); {_RESTORE}"
        )
    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return
    if header[18] == 1 and header[19] == 1:  # a rollback-journal file (a backup copy): no -wal is its own
        raise DatabaseRefused(
            f"{wal.name} beside {path} cannot be its own: {path.name} is a self-contained copy (a backup"
            f" restored?) and the {wal.name} is left from the database it replaced; reading it would mix the two."
            f" Stop every process using the file, move {wal.name} and {path.name}-shm away, and start again"
        )
    try:
        own_tables, own_id = _read_view(f"{path.resolve().as_uri()}?immutable=1")
        wal_tables, wal_id = _read_view(f"{path.resolve().as_uri()}?mode=ro")
    except sqlite3.DatabaseError as exc:
        raise DatabaseRefused(f"{path} cannot be read together with {wal.name} ({exc}); {_RESTORE}") from None
    if (own_id is not None and wal_id != own_id) or (own_tables - wal_tables):
        raise DatabaseRefused(
            f"{wal.name} beside {path} belongs to another copy of the database (left from before a restore?):"
            f" reading it would replace what {path.name} holds. Stop every process using the file, move"
            f" {wal.name} and {path.name}-shm away, and start again"
        )
