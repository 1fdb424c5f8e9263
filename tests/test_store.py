"""The store's transactions: one per input, savepoints inside it."""

from __future__ import annotations

import pytest

from flows.storage.store import Store


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
