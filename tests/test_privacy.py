"""/privacy, /export and /delete.

The tables are read from the schema itself (``sqlite_master``), not from the code under
test, and a row is put in every one of them, so a table added by a new feature is
covered the moment its migration exists.
"""

from __future__ import annotations

import itertools
import json
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from bot.terminal import Terminal, choice_key, user_file, user_files
from flows.base.text import to_plain
from flows.base.types import Input, Reply
from flows.engine.engine import Engine
from flows.features.privacy import EXPORT_FILENAME
from flows.storage.store import Store
from tests.chat import Chat

ALICE, BOB = "tg:1001", "tg:2002"
_unique = itertools.count(1)


# -- the schema, read independently of the store's own helpers ------------------------------
def all_tables(store: Store) -> list[str]:
    rows = store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE '\\_%' ESCAPE '\\'"
    ).fetchall()
    return sorted(r[0] for r in rows)


def columns(store: Store, table: str) -> list[dict[str, Any]]:
    rows = store.conn.execute(f"PRAGMA table_info([{table}])").fetchall()
    return [{"name": r[1], "type": (r[2] or "").upper(), "notnull": r[3], "default": r[4], "pk": r[5]} for r in rows]


def foreign_keys(store: Store, table: str) -> dict[str, tuple[str, str]]:
    rows = store.conn.execute(f"PRAGMA foreign_key_list([{table}])").fetchall()
    return {r[3]: (r[2], r[4]) for r in rows}


def tables_about_users(store: Store) -> tuple[list[str], list[str]]:
    """(tables with a user_id column, tables pointing by a foreign key at one of those)."""
    direct = [t for t in all_tables(store) if any(c["name"] == "user_id" for c in columns(store, t))]
    linked = [
        t
        for t in all_tables(store)
        if t not in direct and any(parent in direct for parent, _ in foreign_keys(store, t).values())
    ]
    return direct, linked


def _value(column: dict[str, Any], user_id: str) -> Any:
    kind = column["type"]
    if "INT" in kind:
        return next(_unique)
    if any(k in kind for k in ("REAL", "FLOA", "DOUB")):
        return float(next(_unique))
    return f"{column['name']}-{user_id}-{next(_unique)}"


def insert_generic(store: Store, table: str, user_id: str, parents: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Insert one row into ``table``, every column filled, foreign keys pointing at ``parents``
    (a parent table not given gets a generic row of its own first). Returns the stored row."""
    fks = foreign_keys(store, table)
    row: dict[str, Any] = {}
    for col in columns(store, table):
        name = col["name"]
        if name == "user_id":
            row[name] = user_id
        elif name in fks:
            parent, parent_col = fks[name]
            if parent not in parents:
                parents[parent] = [insert_generic(store, parent, user_id, parents)]
            row[name] = parents[parent][0][parent_col]
        elif col["pk"] and "INT" in col["type"]:
            continue  # a rowid: SQLite numbers it
        else:
            row[name] = _value(col, user_id)
    names = ", ".join(f"[{n}]" for n in row)
    marks = ", ".join("?" for _ in row)
    with store.atomic():
        cursor = store.conn.execute(f"INSERT INTO [{table}] ({names}) VALUES ({marks})", list(row.values()))
    stored = store.conn.execute(f"SELECT * FROM [{table}] WHERE rowid = ?", (cursor.lastrowid,)).fetchone()
    return dict(zip([c["name"] for c in columns(store, table)], stored, strict=True))


def fill_every_table(engine: Engine, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """Give ``user_id`` a users row (through the engine) and one row in every other table
    about users, filling each column generically and following foreign keys."""
    engine.handle(Input.command(user_id, "start"))
    store = engine.store
    direct, linked = tables_about_users(store)
    todo = [t for t in direct + linked if t != "users"]
    inserted: dict[str, list[dict[str, Any]]] = {"users": [store.user(user_id) or {}]}
    for _ in range(len(todo) + 1):  # parents about the user before their children
        for table in list(todo):
            if any(parent in todo for parent, _ in foreign_keys(store, table).values() if parent != table):
                continue
            inserted[table] = [insert_generic(store, table, user_id, inserted)]
            todo.remove(table)
    assert not todo, f"could not fill {todo} (a foreign-key cycle?)"
    return inserted


def count_for(store: Store, table: str, user_id: str, rows: dict[str, list[dict[str, Any]]]) -> int:
    """Rows of ``table`` belonging to ``user_id``: by user_id, or through a foreign key."""
    if any(c["name"] == "user_id" for c in columns(store, table)):
        return int(store.conn.execute(f"SELECT count(*) FROM [{table}] WHERE user_id = ?", (user_id,)).fetchone()[0])
    total = 0
    for column, (parent, parent_col) in foreign_keys(store, table).items():
        values = [r[parent_col] for r in rows.get(parent, [])]
        for value in values:
            total += store.conn.execute(f"SELECT count(*) FROM [{table}] WHERE [{column}] = ?", (value,)).fetchone()[0]
    return total


def add_linked_table(store: Store) -> None:
    """A child table with no user_id of its own, pointing at a table that has one."""
    store.db.table("notes").create({"id": int, "user_id": str, "body": str}, pk="id",
                             foreign_keys=[("user_id", "users", "user_id")])
    store.db.table("note_tags").create({"id": int, "note_id": int, "tag": str}, pk="id",
                                 foreign_keys=[("note_id", "notes", "id")])


def export_of(replies: list[Reply]) -> dict[str, Any]:
    [reply] = [r for r in replies if r.attachment is not None and r.attachment.filename == EXPORT_FILENAME]
    assert reply.attachment is not None
    return dict(json.loads(reply.attachment.content.decode("utf-8")))


# -- /delete ---------------------------------------------------------------------------------
@pytest.mark.parametrize("with_linked_table", [False, True], ids=["schema", "schema+linked"])
def test_delete_erases_every_row_in_every_table_and_spares_other_users(
    engine: Engine, with_linked_table: bool
) -> None:
    store = engine.store
    if with_linked_table:
        add_linked_table(store)
    direct, linked = tables_about_users(store)
    assert {"users", "completions"} <= set(direct)
    assert set(direct) == set(store.user_tables())
    assert set(linked) == {t for t, *_ in store.linked_tables()}
    alice = fill_every_table(engine, ALICE)
    bob = fill_every_table(engine, BOB)
    before = {t: count_for(store, t, BOB, bob) for t in direct + linked}
    for table in direct + linked:
        assert count_for(store, table, ALICE, alice) >= 1, table

    chat = Chat(engine, ALICE)
    chat.send("/delete")
    assert "cannot be undone" in chat.text
    chat.press("Yes, erase")
    assert "gone" in chat.text

    for table in direct + linked:
        assert count_for(store, table, ALICE, alice) == 0, f"{table} still holds rows of the erased user"
        assert count_for(store, table, BOB, bob) == before[table], f"{table} lost another user's rows"
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_after_delete_the_user_starts_from_a_blank_page(chat: Chat, engine: Engine) -> None:
    chat.send("/start")
    chat.send("/delete")
    chat.press("Yes, erase")
    assert engine.store.user(chat.user) is None  # the erasing turn does not write the user back
    chat.send("/start")
    assert "Welcome to USCE Coach" in chat.text


@pytest.mark.parametrize("how", ["keep button", "typed text", "old erase button", "forged erase"])
def test_nothing_is_erased_without_the_confirmation(chat: Chat, engine: Engine, how: str) -> None:
    fill_every_table(engine, chat.user)
    before = engine.store.export_user(chat.user)
    if how == "keep button":
        chat.send("/delete")
        chat.press("keep my data")
        assert "Nothing was erased" in chat.text
    elif how == "typed text":
        chat.send("/delete")
        chat.send("yes")
        assert "nothing has been erased" in chat.text
        assert chat.button("Yes, erase")  # still asking
    elif how == "old erase button":
        chat.send("/delete")
        erase = chat.button("Yes, erase").data
        chat.press("keep my data")
        chat.press_data(erase)
        assert chat.route == "stale"
    else:
        chat.press_data("pv:erase")
        assert chat.route == "stale"
    after = engine.store.export_user(chat.user)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}


def test_keeping_the_data_returns_to_the_flow_the_user_was_in(chat: Chat, engine: Engine) -> None:
    flow = next((f for f in sorted(engine.flow_names) if f != "privacy.delete"), None)
    if flow is None:
        pytest.skip("no other flow yet")
    session = engine.store.load_session(chat.user)
    session.enter(flow, "somewhere", {"k": 1})
    with engine.store.atomic():
        engine.store.save_session(session, engine.clock())
    chat.send("/delete")
    chat.press("keep my data")
    again = engine.store.load_session(chat.user)
    assert (again.flow, again.state, again.data) == (flow, "somewhere", {"k": 1})
    assert chat.button("Continue")


# -- /export ---------------------------------------------------------------------------------
def test_export_holds_every_table_and_only_this_users_rows(engine: Engine) -> None:
    add_linked_table(engine.store)
    alice = fill_every_table(engine, ALICE)
    fill_every_table(engine, BOB)
    chat = Chat(engine, ALICE)
    chat.send("/export")
    for reply in chat.replies:  # the JSON file and the readable summary
        raw = reply.attachment.content.decode("utf-8") if reply.attachment else ""
        assert BOB not in raw and "2002" not in raw  # nothing of the other user
    document = export_of(chat.replies)
    assert document["user"] == ALICE
    direct, linked = tables_about_users(engine.store)
    assert set(document["sections"]) == set(direct + linked)
    for table, section in document["sections"].items():
        assert section["what_this_is"].strip(), table
        assert len(section["records"]) == count_for(engine.store, table, ALICE, alice), table
    assert "Records inside" in chat.text


def test_export_is_readable_by_a_person(chat: Chat, engine: Engine) -> None:
    chat.send("/start")
    engine.store.db.table("notes").create({"id": int, "user_id": str, "body": str, "tags": str}, pk="id",
                                    foreign_keys=[("user_id", "users", "user_id")])
    engine.store.db.table("notes").insert(
        {"user_id": chat.user, "body": "Ünïcødé مرحبا 🩺 <b>&", "tags": json.dumps(["a", "b"])}
    )
    chat.send("/export")
    [reply] = [r for r in chat.replies if r.attachment and r.attachment.filename == EXPORT_FILENAME]
    assert reply.attachment is not None
    raw = reply.attachment.content.decode("utf-8")
    assert "Ünïcødé مرحبا 🩺 <b>&" in raw  # written as is, not \\u-escaped
    assert raw.count("\n") > 10  # indented, one field per line
    document = json.loads(raw)
    assert list(document)[:3] == ["about", "user", "exported_at"]
    assert document["exported_at"] == "2026-11-25T09:00:00+00:00"
    assert next(iter(document["sections"])) == "users"
    [note] = document["sections"]["notes"]["records"]
    assert note["tags"] == ["a", "b"]  # JSON kept in a text column is decoded
    [me] = document["sections"]["users"]["records"]
    assert me["first_seen"] == "2026-11-25T09:00:00+00:00"
    assert "notes" in document["sections"]["notes"]["what_this_is"]  # a table without its own text


def test_export_in_the_terminal_is_saved_to_a_file_of_its_own(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    out = StringIO()
    ann, bob = Terminal(engine, "ann", folder, out=out), Terminal(engine, "bob", folder, out=StringIO())
    ann.send("/export")
    bob.send("/export")
    [path] = [p for p in user_files(folder, "term:ann") if p.suffix == ".json"]
    assert path == user_file(folder, "term:ann", EXPORT_FILENAME)
    assert path.name.startswith("usce-coach-export-term_ann-") and path.suffix == ".json"
    assert f"saved to {path}" in out.getvalue()
    assert json.loads(path.read_text(encoding="utf-8"))["user"] == "term:ann"  # not overwritten by bob's
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(list(folder.iterdir())) == 4  # each user's JSON file and summary page


def test_names_made_alike_by_the_sanitiser_still_get_their_own_files(tmp_path: Path) -> None:
    assert user_file(tmp_path, "term:a b", "x.png") != user_file(tmp_path, "term:a_b", "x.png")
    assert "/" not in user_file(tmp_path, "term:../../etc", "../x.png").name


def test_delete_in_the_terminal_removes_that_users_files_only(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    ann, bob = Terminal(engine, "ann", folder, out=StringIO()), Terminal(engine, "bob", folder, out=StringIO())
    for term in (ann, bob):
        term.send("/export")
        term.send("/timeline")
    assert len(user_files(folder, "term:ann")) == 3  # JSON, summary page, timeline picture
    old = user_file(folder, "term:ann", "old.json")
    old.write_bytes(b"{}")
    old.chmod(0o644)
    ann.send("/export")  # an existing file is made private again when rewritten
    assert stat.S_IMODE(user_file(folder, "term:ann", EXPORT_FILENAME).stat().st_mode) == 0o600
    ann.send("/delete")
    ann.send(next(choice_key(i) for i, b in enumerate(ann.choices) if b.data == "pv:~d:confirm:a:erase"))
    assert user_files(folder, "term:ann") == []
    assert len(user_files(folder, "term:bob")) == 3


# -- /privacy --------------------------------------------------------------------------------
def test_privacy_says_what_is_stored_and_how_to_export_or_delete(chat: Chat, engine: Engine) -> None:
    [short] = chat.send("/privacy")
    assert len(to_plain(short.text)) <= 300 and "• " not in short.text  # short and plain
    chat.press("What I keep")  # the details, one tap away, in place of the short answer
    text = chat.text
    assert chat.replies[0].replace
    assert "/export" in text and "/delete" in text
    assert text.count("• ") == len(set(engine.store.user_tables()) | {t for t, *_ in engine.store.linked_tables()})
    chat.press("Export my data")
    assert any(r.attachment for r in chat.replies)
    chat.send("/privacy")
    chat.press("Delete my data")
    assert "cannot be undone" in chat.text


def test_privacy_commands_are_listed_in_help(chat: Chat) -> None:
    chat.send("/help")
    assert "/privacy" in chat.text


def test_the_delete_question_is_short_and_what_would_go_is_one_tap_away(chat: Chat) -> None:
    chat.send("/start")
    [confirm] = chat.send("/delete")
    assert len(to_plain(confirm.text)) <= 200 and "cannot be undone" in chat.text
    chat.press("What would go")
    assert chat.replies[0].replace and "• your account" in chat.text
    assert chat.button("Yes, erase") and chat.button("keep my data")  # the choice is still there
    chat.press("keep my data")
    assert "Nothing was erased" in chat.text
    chat.press_data("pv:w")  # outside the question: an old button changes nothing
    assert chat.route == "stale"
