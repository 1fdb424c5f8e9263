"""The vetted programs and their answers: the records behind /vet and /programs. Only the
vetting feature writes them, through these functions (each table has ``user_id`` for /export
and /delete).

- ``programs``: one row per vetted program; ``verdict`` is set once the checklist is
  finished (``finished = 1``) and kept current when answers change.
- ``program_answers``: one row per answered item; ``answer = '?'`` marks an item the
  user is not sure about, i.e. a question still to send the program.

The feature keeps its migration set (``usce-coach.vetting``): scoring needs the checklist,
which storage cannot read; its migrations call :func:`create_tables` and
:func:`carry_over_checklist` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from flows.base.errors import NotFound
from flows.storage.store import Store, timestamp

PROGRAMS, ANSWERS = "programs", "program_answers"


def create_tables(db: Database) -> None:
    """The vetting set's m001."""
    db.table(PROGRAMS).create(
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
    db.table(PROGRAMS).create_index(["user_id"])
    db.table(ANSWERS).create(
        {
            "program_id": int,
            "user_id": str,
            "item_id": str,  # an id from content/checklist.yaml
            "answer": str,  # "y", "n" or "?" (not sure: a question to send the program)
            "answered_at": str,
        },
        pk=("program_id", "item_id"),
        foreign_keys=[("program_id", PROGRAMS, "id"), ("user_id", "users", "user_id")],
    )
    db.table(ANSWERS).create_index(["user_id"])


def carry_over_checklist(db: Database, level_of: Callable[[dict[str, str]], str]) -> None:
    """The vetting set's m002: the checklist now holds only what the guide names. The guarantee
    question keeps its answers under its new id; the letter question is folded into "evaluation
    and letter" (where that has no answer of its own); the fee and guaranteed-letter items go.
    Finished programs are scored again (``level_of``: answers -> a level's code)."""
    answers = db.table(ANSWERS)
    for row in list(answers.rows_where("item_id = 'guar_match'", select="program_id")):
        answers.update((row["program_id"], "guar_match"), {"item_id": "guarantee"})
    for row in list(answers.rows_where("item_id = 'letter'", select="program_id")):
        if not answers.count_where("program_id = ? AND item_id = 'evaluation'", [row["program_id"]]):
            answers.update((row["program_id"], "letter"), {"item_id": "evaluation"})
    answers.delete_where("item_id IN ('letter', 'fee', 'guar_lor')")
    for row in list(db.table(PROGRAMS).rows_where("finished = 1", select="id")):
        found = answers.rows_where("program_id = ?", [row["id"]], select="item_id, answer")
        db.table(PROGRAMS).update(row["id"], {"verdict": level_of({a["item_id"]: a["answer"] for a in found})})


@dataclass(frozen=True, slots=True)
class Program:
    id: int
    name: str
    created_at: str
    updated_at: str
    verdict: str | None
    finished: bool


_COLUMNS = "id, name, created_at, updated_at, verdict, finished"


def _program(row: Mapping[str, Any]) -> Program:
    return Program(row["id"], row["name"], row["created_at"], row["updated_at"], row["verdict"], bool(row["finished"]))


def get_program(store: Store, user_id: str, program_id: int) -> Program:
    """One of the user's programs; :class:`NotFound` if gone or someone else's."""
    where, args = "id = ? AND user_id = ?", [program_id, user_id]
    rows = list(store.db.table(PROGRAMS).rows_where(where, args, select=_COLUMNS, limit=1))
    if not rows:
        raise NotFound()
    return _program(rows[0])


def list_programs(store: Store, user_id: str) -> list[Program]:
    """The user's programs, the one changed last first."""
    rows = store.db.table(PROGRAMS).rows_where(
        "user_id = ?", [user_id], order_by="updated_at DESC, id DESC", select=_COLUMNS
    )
    return [_program(r) for r in rows]


def load_answers(store: Store, user_id: str, program_id: int) -> dict[str, str]:
    """Item id -> "y", "n" or "?" for each item answered so far."""
    rows = store.db.table(ANSWERS).rows_where(
        "program_id = ? AND user_id = ?", [program_id, user_id], select="item_id, answer"
    )
    return {r["item_id"]: r["answer"] for r in rows}


def create_program(store: Store, user_id: str, name: str, now: datetime) -> int:
    at = timestamp(now)
    row = {"user_id": user_id, "name": name, "created_at": at, "updated_at": at, "finished": 0}
    return int(store.db.table(PROGRAMS).insert(row).last_pk or 0)


def save_answer(store: Store, user_id: str, program_id: int, item_id: str, answer: str, now: datetime) -> None:
    """Store one answer the moment it is given, replacing an earlier answer to the item."""
    row = {"program_id": program_id, "user_id": user_id, "item_id": item_id, "answer": answer}
    row["answered_at"] = timestamp(now)
    store.db.table(ANSWERS).upsert(row, pk=("program_id", "item_id"), alter=False)


def update_program(store: Store, user_id: str, program_id: int, now: datetime, **fields: Any) -> None:
    """Change some fields (name, verdict, finished) of one of the user's programs, and mark it changed."""
    unknown = set(fields) - {"name", "verdict", "finished"}
    if unknown:
        raise ValueError(f"not program fields: {sorted(unknown)}")
    get_program(store, user_id, program_id)
    store.db.table(PROGRAMS).update(program_id, {**fields, "updated_at": timestamp(now)})


def delete_program(store: Store, user_id: str, program_id: int) -> None:
    """The program and its answers (nothing if it is not the user's)."""
    where = {"id": program_id, "user_id": user_id}
    store.db.table(ANSWERS).delete_where("program_id = :id AND user_id = :user_id", where)
    store.db.table(PROGRAMS).delete_where("id = :id AND user_id = :user_id", where)
