"""The store: one transaction per input (savepoints inside it), shared safely with other writers;
a file that cannot be trusted is refused; disks that cannot be written; backups."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli import main
from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import DatabaseRefused, Store
from tests.botprocess import BotProcess
from tests.chat import Chat, Clock
from tests.emulator import Emulator


class Boom(Exception):
    pass


def _values(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT value FROM meta ORDER BY key")]


def _put(store: Store, key: str) -> None:
    store.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, key))


@pytest.fixture
def meta(store: Store) -> Store:
    store.conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    return store


def test_a_failed_inner_step_rolls_back_only_its_own_writes(meta: Store) -> None:
    with meta.atomic():
        _put(meta, "a")
        with pytest.raises(Boom), meta.atomic():
            _put(meta, "b")
            raise Boom
        with meta.atomic():  # the same savepoint name again, nested twice
            _put(meta, "c")
            with pytest.raises(Boom), meta.atomic():
                _put(meta, "d")
                raise Boom
            _put(meta, "e")
    assert _values(meta) == ["a", "c", "e"]
    assert not meta.conn.in_transaction


def test_a_failure_outside_every_step_rolls_back_everything(meta: Store) -> None:
    with pytest.raises(Boom), meta.atomic():
        _put(meta, "a")
        with meta.atomic():
            _put(meta, "b")
        raise Boom
    assert _values(meta) == []
    assert not meta.conn.in_transaction


def test_an_error_that_ends_the_transaction_is_not_masked(meta: Store) -> None:
    import sqlite3

    meta.conn.execute(
        "CREATE TRIGGER no_x BEFORE INSERT ON meta WHEN NEW.key = 'x' BEGIN SELECT RAISE(ROLLBACK, 'no x'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="no x"), meta.atomic():
        _put(meta, "a")
        with meta.atomic():
            _put(meta, "x")
    assert _values(meta) == []
    assert not meta.conn.in_transaction


def test_migrations_leave_no_index_on_last_seen(engine: object, store: Store) -> None:
    """Every input rewrites users.last_seen; an index on it would be rewritten on every input too."""
    indexes = {row[1] for row in store.conn.execute("PRAGMA index_list('users')")}
    assert indexes and not any("last_seen" in name for name in indexes)


# -- sharing the file with a second writer ---------------------------------------------------------
WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
print("ready", flush=True)
n = 0
while not sys.stdin.readline().startswith("stop"):
    hold = float(sys.argv[2])
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer', ?)", (str(n),))
    time.sleep(hold)  # holds the write lock, as a backup or `nudges --refresh` would
    conn.execute("COMMIT")
    n += 1
    print(n, flush=True)
"""


def _engine_on(path: Path) -> Engine:
    engine = Engine(Store.open(path), all_features(), clock=Clock())
    engine.migrate()
    return engine


@pytest.mark.parametrize("hold", [0.0, 0.05])
def test_a_second_writer_makes_inputs_wait_never_fail(tmp_path: Path, hold: float) -> None:
    """Another process writing all the time (holding the write lock for 0 or 50 ms each time):
    every input is stored, none gets "database is locked"."""
    path = tmp_path / "coach.db"
    engine = _engine_on(path)
    failures, inputs = 0, 0
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(hold)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        try:
            for i in range(150 if hold else 300):
                writer.stdin.write("go\n")
                writer.stdin.flush()
                user = f"tg:{i % 30}"
                for text in ("/start", "what is usce?"):  # a read first, then writes: the case that failed
                    inputs += 1
                    try:
                        outcome = engine.handle(Input.parse(user, text), chat_id=i % 30)
                    except sqlite3.OperationalError:
                        failures += 1
                        continue
                    assert outcome.route != "error:storage"
        finally:
            writer.stdin.write("stop\n")
            writer.stdin.flush()
            writes = writer.stdout.read().split()
            writer.wait(30)
    assert int(writes[-1]) > 0  # the other writer really did write meanwhile
    assert failures == 0
    assert writer.returncode == 0
    stored = engine.store.conn.execute("SELECT sum(updates) FROM users").fetchone()[0]
    assert stored == inputs


def test_an_input_waits_for_a_writer_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    engine = _engine_on(path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO meta (key, value) VALUES ('held', '1')")
    released = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        outcome = engine.handle(Input.parse("tg:7", "/start"), chat_id=7)
    finally:
        released.join()
        holder.close()
    assert outcome.route == "command:start"
    assert engine.store.user("tg:7") is not None


# -- a file that cannot be trusted is refused at start ---------------------------------------------
def _populated(path: Path, users: int = 200) -> None:
    engine = _engine_on(path)
    for i in range(users):
        engine.handle(Input.parse(f"tg:{i}", "/start"), chat_id=i)
    engine.store.checkpoint()
    engine.store.close()


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "coach.db"
    _populated(path, users=1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_foreign_wal_beside_a_restored_file_is_refused_and_the_data_kept(tmp_path: Path) -> None:
    live, other = tmp_path / "coach.db", tmp_path / "other" / "coach.db"
    _populated(live, users=200)
    # Another installation's database with changes still in its -wal (a process died before folding it back).
    foreign = _engine_on(other)
    foreign.store.conn.execute("PRAGMA wal_autocheckpoint=0")
    foreign.handle(Input.parse("tg:1", "/start"), chat_id=1)
    shutil.copy(other.with_name("coach.db-wal"), live.with_name("coach.db-wal"))
    with pytest.raises(DatabaseRefused, match=r"coach.db-wal beside .* belongs to another copy"):
        Store.open(live)
    foreign.store.close()
    Path(f"{live}-wal").unlink()
    Path(f"{live}-shm").unlink(missing_ok=True)
    again = _engine_on(live)
    assert again.store.conn.execute("SELECT count(*) FROM users").fetchone()[0] == 200


def test_a_backup_restored_beside_the_live_files_wal_is_refused(tmp_path: Path) -> None:
    """The same installation: the backup passes the id and table checks, the header catches it."""
    live = tmp_path / "coach.db"
    engine = _engine_on(live)
    engine.handle(Input.parse("tg:1", "/start"), chat_id=1)
    engine.store.backup(tmp_path / "backup.db")
    engine.store.conn.execute("PRAGMA wal_autocheckpoint=0")
    engine.handle(Input.parse("tg:2", "/start"), chat_id=2)  # newer than the backup, still in the -wal
    crashed = tmp_path / "crashed"  # the live files as a SIGKILL leaves them, then the backup copied over
    crashed.mkdir()
    shutil.copy(tmp_path / "coach.db-wal", crashed / "coach.db-wal")
    shutil.copy(tmp_path / "backup.db", crashed / "coach.db")
    engine.store.close()
    with pytest.raises(DatabaseRefused, match=r"coach.db-wal beside .* cannot be its own: .*a backup"):
        Store.open(crashed / "coach.db")
    Path(crashed / "coach.db-wal").unlink()  # what the message says to do
    restored = _engine_on(crashed / "coach.db")
    assert restored.store.user("tg:1") is not None and restored.store.user("tg:2") is None


def test_a_wal_of_its_own_after_a_crash_is_used(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    _populated(path, users=3)
    engine = _engine_on(path)
    engine.store.conn.execute("PRAGMA wal_autocheckpoint=0")
    engine.handle(Input.parse("tg:99", "/start"), chat_id=99)
    crashed = tmp_path / "crashed"  # the files as a SIGKILL leaves them: the WAL not folded back
    crashed.mkdir()
    for name in ("coach.db", "coach.db-wal"):
        shutil.copy(tmp_path / name, crashed / name)
    reopened = _engine_on(crashed / "coach.db")
    assert reopened.store.user("tg:99") is not None
    assert reopened.store.installation_id == engine.store.installation_id


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    _populated(path, users=300)
    _damage(path)  # scribbled over table pages, page 1 kept
    with pytest.raises(DatabaseRefused, match=r"is damaged \(SQLite's check says: "):
        Store.open(path)


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x00" * 50, b"hello, this is a text file\n" * 10])
def test_a_truncated_or_foreign_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "coach.db"
    if content:
        path.write_bytes(content)
        with pytest.raises(DatabaseRefused, match="is not a SQLite database"):
            Store.open(path)
    else:  # an empty file is a new database
        path.write_bytes(content)
        _engine_on(path)


def test_tables_are_never_created_in_a_database_that_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE patients (name TEXT)")
    conn.execute("INSERT INTO patients VALUES ('x')")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseRefused, match="no record of USCE Coach's migrations"):
        _engine_on(path)
    assert {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")} == {"patients"}


def test_every_installation_keeps_one_id(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    first = _engine_on(path)
    assert re.fullmatch(r"[0-9a-f]{16}", first.store.installation_id)
    first.store.close()
    assert _engine_on(path).store.installation_id == first.store.installation_id
    assert _engine_on(tmp_path / "other.db").store.installation_id != first.store.installation_id


# -- a disk that cannot be written ---------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MB file system (tmpfs), so "disk full" is the kernel's ENOSPC, not a simulation."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _refused_then_recovered(engine: Engine, caplog: pytest.LogCaptureFixture, recover: Callable[[], object]) -> None:
    replies = [engine.handle(Input.parse(f"tg:{100 + i}", "/start"), chat_id=100 + i) for i in range(5)]
    assert {r.route for r in replies} == {"error:storage"}
    assert all("I can't save right now" in r.replies[0].text for r in replies)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot write to the database" in errors[0].getMessage()
    assert all(engine.store.user(f"tg:{100 + i}") is None for i in range(5))  # nothing half-stored
    recover()
    again = engine.handle(Input.parse("tg:100", "/start"), chat_id=100)
    assert again.route == "command:start"
    assert "can be written again" in caplog.text
    assert engine.store.user("tg:100") is not None


def test_a_full_disk_is_explained_and_recovers_by_itself(small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine_on(small_disk / "coach.db")
    Chat(engine, "tg:5").send("/start")
    filler = _fill(small_disk)
    caplog.set_level(logging.WARNING, "usce_coach.store")
    _refused_then_recovered(engine, caplog, filler.unlink)
    engine.store.close()


def test_a_read_only_database_is_explained_and_recovers_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine_on(tmp_path / "coach.db")
    Chat(engine, "tg:5").send("/start")
    engine.store.conn.execute("PRAGMA query_only=1")  # SQLite's SQLITE_READONLY, as on a read-only mount
    caplog.set_level(logging.WARNING, "usce_coach.store")
    _refused_then_recovered(engine, caplog, lambda: engine.store.conn.execute("PRAGMA query_only=0"))


# -- backups -------------------------------------------------------------------------------------
def test_a_backup_taken_while_writing_is_a_consistent_copy(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    _populated(path, users=50)
    engine = _engine_on(path)
    stop = threading.Event()

    def keep_writing() -> None:
        writer = _engine_on(path)
        i = 0
        while not stop.is_set():
            writer.handle(Input.parse(f"tg:{1000 + i}", "/start"), chat_id=1000 + i)
            i += 1

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        size = engine.store.backup(tmp_path / "backup.db")
    finally:
        stop.set()
        thread.join()
    assert size > 0
    assert not Path(f"{tmp_path / 'backup.db'}-wal").exists()
    copy = sqlite3.connect(tmp_path / "backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM users").fetchone()[0] >= 50
    assert copy.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()[0] == (
        engine.store.installation_id
    )
    assert stat.S_IMODE((tmp_path / "backup.db").stat().st_mode) == 0o600
    restored = tmp_path / "restored" / "coach.db"
    restored.parent.mkdir()
    shutil.copy(tmp_path / "backup.db", restored)
    assert _engine_on(restored).store.user("tg:0") is not None


# -- what the operator sees ----------------------------------------------------------------------
@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of an operator running `usce-coach` commands on DATABASE_PATH."""
    for name in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "coach.db"
    monkeypatch.setenv("DATABASE_PATH", str(path))
    return path


def _damage(path: Path) -> None:
    """Scribble over the users table's pages (the schema stays readable, whatever tables exist)."""
    conn = sqlite3.connect(path)
    pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'users' ORDER BY pageno")]
    conn.close()
    data = bytearray(path.read_bytes())
    for page in pages[1:]:
        offset = (page - 1) * 4096 + 200
        data[offset : offset + 600] = b"\xa5" * 600
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["scribbled", "truncated", "text", "foreign wal"])
def test_check_and_run_explain_a_bad_file_in_one_sentence(
    operator: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    _populated(operator, users=300)
    if damage == "scribbled":
        _damage(operator)
    elif damage == "truncated":
        operator.write_bytes(operator.read_bytes()[:60])
    elif damage == "text":
        operator.write_text("not a database\n" * 20)
    else:
        other = operator.with_name("other.db")
        foreign = _engine_on(other)
        foreign.store.conn.execute("PRAGMA wal_autocheckpoint=0")
        foreign.handle(Input.parse("tg:1", "/start"), chat_id=1)
        shutil.copy(f"{other}-wal", f"{operator}-wal")
        foreign.store.close()
    before = operator.read_bytes()
    assert main(["check"]) == 1
    out = capsys.readouterr()
    [line] = [x for x in out.err.splitlines() if x.strip()]
    assert line.startswith("  ✗ database: ") and str(operator) in line
    assert "Traceback" not in out.err + out.out
    assert main(["chat"]) == 2
    out = capsys.readouterr()
    assert [x for x in out.err.splitlines() if x.strip()] == [f"Cannot start — the database: {line[14:]}"]
    assert operator.read_bytes() == before  # nothing was written to it, nothing "repaired"


def test_the_backup_command_copies_the_database(operator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _populated(operator, users=20)
    assert main(["backup", str(operator.with_name("copy.db"))]) == 0
    assert "20 users" in capsys.readouterr().out
    assert main(["backup", str(operator.with_name("copy.db"))]) == 1  # never overwrites
    assert "already exists" in capsys.readouterr().err
    copy = sqlite3.connect(operator.with_name("copy.db"))
    assert copy.execute("SELECT count(*) FROM users").fetchone()[0] == 20


async def test_a_database_replaced_under_the_running_bot_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    other = tmp_path / "elsewhere" / "coach.db"
    _populated(other, users=3)
    async with Emulator() as emu:
        bot = BotProcess(emu, path, tmp_path / "bot.log", LOG_LEVEL="INFO")
        await bot.start(timeout=60)
        os.replace(other, path)  # a restore copied over the live file, the bot still running
        code = await bot.wait_exit(timeout=30)
    assert code == 1
    [line] = [x for x in (tmp_path / "bot.log").read_text().splitlines() if " CRITICAL " in x]
    assert f"{path} was replaced by another file while the bot ran" in line
