"""The vetted programs and their answers (each table has ``user_id`` for export and delete).

- ``programs``: one row per vetted program; ``verdict`` is set once the checklist is
  finished (``finished = 1``) and kept current when answers change.
- ``program_answers``: one row per answered item; ``answer = '?'`` marks an item the
  user is not sure about, i.e. a question still to send the program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.domain.scoring import Verdict, score
from flows.engine.dialog import ONLY
from flows.features.vet.checklist import checklist
from flows.storage.store import Store

FLOW = "vet"  # the session's flow name, then and now
NAME = "name"  # the dialog's first step: the program's name

migrations = Migrations("usce-coach.vetting")


@migrations()
def m001_programs(db: Database) -> None:
    db.table("programs").create(
        {
            "id": int,
            "user_id": str,
            "name": str,
            "created_at": str,
            "updated_at": str,
            "verdict": str,  # a scoring.Level code ("strong", "red_flags"...) once finished
            "finished": int,  # 1 once the checklist was walked to the end
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
        not_null={"user_id", "name"},
        defaults={"finished": 0},
    )
    db.table("programs").create_index(["user_id"])
    db.table("program_answers").create(
        {
            "program_id": int,
            "user_id": str,
            "item_id": str,  # an id from content/checklist.yaml
            "answer": str,  # "y", "n" or "?" (not sure: a question to send the program)
            "answered_at": str,
        },
        pk=("program_id", "item_id"),
        foreign_keys=[("program_id", "programs", "id"), ("user_id", "users", "user_id")],
    )
    db.table("program_answers").create_index(["user_id"])


@migrations()
def m002_checklist_from_the_guide(db: Database) -> None:
    # The checklist now holds only what the guide names: the guarantee question keeps its
    # answers under its new id; the letter question is folded into "evaluation and letter";
    # the fee and guaranteed-letter items are gone. Verdicts are scored again.
    db.execute("UPDATE program_answers SET item_id = 'guarantee' WHERE item_id = 'guar_match'")
    db.execute(
        "UPDATE program_answers SET item_id = 'evaluation' WHERE item_id = 'letter' AND NOT EXISTS"
        " (SELECT 1 FROM program_answers o WHERE o.program_id = program_answers.program_id"
        " AND o.item_id = 'evaluation')"
    )
    db.execute("DELETE FROM program_answers WHERE item_id IN ('letter', 'fee', 'guar_lor')")
    for (program_id,) in db.execute("SELECT id FROM programs WHERE finished = 1").fetchall():
        answers = dict(db.execute(
            "SELECT item_id, answer FROM program_answers WHERE program_id = ?", (program_id,)
        ).fetchall())
        db.execute("UPDATE programs SET verdict = ? WHERE id = ?", (verdict_of(answers).level.code, program_id))


@migrations()
def m003_sessions_at_dialog_steps(db: Database) -> None:
    """/vet became a declared dialog whose steps are named after the checklist items. A user in
    the middle of it is moved to the same place: ``item`` and ``edit`` (data ``{"p", "i"}``) to
    the step of item ``i`` (``edit`` as a change of that one answer), ``rename`` to the name step
    as a change of the name. The log of typed answers goes: it names the old states."""
    ids = [item.id for item in checklist().items]
    rows = db.execute("SELECT user_id, state, data FROM users WHERE flow = ?", (FLOW,)).fetchall()
    for user_id, state, raw in rows:
        data = json.loads(raw) if raw else {}
        data = data if isinstance(data, dict) else {}
        index, program = data.get("i"), data.get("p")
        new: dict[str, Any] = {"p": program} if isinstance(program, int) else {}
        if state in ("item", "edit") and isinstance(index, int) and 0 <= index < len(ids) and new:
            step = ids[index]
            if state == "edit":
                new[ONLY] = [step]
        elif state == "rename" and new:
            step, new[ONLY] = NAME, [NAME]
        elif state == NAME:
            step = NAME
        else:  # nothing to resume: the flow ends
            db.execute("UPDATE users SET flow = NULL, state = NULL, data = NULL WHERE user_id = ?", (user_id,))
            continue
        db.execute("UPDATE users SET state = ?, data = ? WHERE user_id = ?", (step, json.dumps(new), user_id))


@dataclass(frozen=True, slots=True)
class Program:
    id: int
    name: str
    created_at: str
    updated_at: str
    verdict: str | None
    finished: bool


_PROGRAM = "SELECT id, name, created_at, updated_at, verdict, finished FROM programs"


def _program(row: tuple[Any, ...]) -> Program:
    return Program(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def get_program(store: Store, user_id: str, program_id: int) -> Program:
    row = store.conn.execute(f"{_PROGRAM} WHERE id = ? AND user_id = ?", (program_id, user_id)).fetchone()
    if row is None:
        raise NotFound()
    return _program(row)


def list_programs(store: Store, user_id: str) -> list[Program]:
    rows = store.conn.execute(f"{_PROGRAM} WHERE user_id = ? ORDER BY updated_at DESC, id DESC", (user_id,))
    return [_program(r) for r in rows]


def load_answers(store: Store, user_id: str, program_id: int) -> dict[str, str]:
    rows = store.conn.execute(
        "SELECT item_id, answer FROM program_answers WHERE program_id = ? AND user_id = ?",
        (program_id, user_id),
    )
    return dict(rows.fetchall())


def stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def create_program(store: Store, user_id: str, name: str, now: datetime) -> int:
    cursor = store.conn.execute(
        "INSERT INTO programs (user_id, name, created_at, updated_at, finished) VALUES (?, ?, ?, ?, 0)",
        (user_id, name, stamp(now), stamp(now)),
    )
    return int(cursor.lastrowid or 0)


def save_answer(store: Store, user_id: str, program_id: int, item_id: str, answer: str, now: datetime) -> None:
    store.conn.execute(
        "INSERT INTO program_answers (program_id, user_id, item_id, answer, answered_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(program_id, item_id) DO UPDATE SET answer = excluded.answer,"
        " answered_at = excluded.answered_at",
        (program_id, user_id, item_id, answer, stamp(now)),
    )


def update_program(store: Store, program_id: int, now: datetime, **fields: Any) -> None:
    names = ", ".join(f"{k} = ?" for k in fields)
    store.conn.execute(
        f"UPDATE programs SET {names}{', ' if names else ''}updated_at = ? WHERE id = ?",
        (*fields.values(), stamp(now), program_id),
    )


def delete_program(store: Store, user_id: str, program_id: int) -> None:
    store.conn.execute("DELETE FROM program_answers WHERE program_id = ? AND user_id = ?", (program_id, user_id))
    store.conn.execute("DELETE FROM programs WHERE id = ? AND user_id = ?", (program_id, user_id))


def verdict_of(answers: Mapping[str, str]) -> Verdict:
    return score(checklist().criteria, answers)
