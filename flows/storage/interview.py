"""Saved interview practice answers (/interview), each with the STAR feedback it got. Only the
interview feature writes them, through these functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.errors import NotFound
from flows.storage.store import Store, timestamp

migrations = Migrations("usce-coach.interview")
TABLE = "interview_answers"


@migrations()
def m001_interview_answers(db: Database) -> None:
    db.table(TABLE).create(
        {
            "id": int,
            "user_id": str,
            "question_id": str,  # an id from content/interview.yaml
            "answer": str,
            "feedback": str,  # JSON: StarCheck.as_json()
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
    )
    db.table(TABLE).create_index(["user_id"])


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    id: int
    question_id: str
    answer: str  # "" in lists, which do not read it
    feedback: dict[str, Any]  # as saved ({} if it cannot be read)
    created_at: str


def _saved(row: Mapping[str, Any]) -> SavedAnswer:
    try:
        feedback = json.loads(row["feedback"] or "{}")
    except ValueError:
        feedback = {}
    feedback = feedback if isinstance(feedback, dict) else {}
    return SavedAnswer(row["id"], row["question_id"], row.get("answer") or "", feedback, row["created_at"])


def save_answer(
    store: Store, user_id: str, question_id: str, answer: str, feedback: Mapping[str, Any], now: datetime
) -> int:
    """Keep one practice answer with its feedback; returns its id."""
    row = {
        "user_id": user_id,
        "question_id": question_id,
        "answer": answer,
        "feedback": json.dumps(feedback, separators=(",", ":")),
        "created_at": timestamp(now),
    }
    return int(store.db.table(TABLE).insert(row).last_pk or 0)


def count_answers(store: Store, user_id: str) -> int:
    return store.db.table(TABLE).count_where("user_id = ?", [user_id])


def get_answer(store: Store, user_id: str, answer_id: int) -> SavedAnswer:
    """One of the user's saved answers; :class:`NotFound` if gone or someone else's."""
    rows = list(store.db.table(TABLE).rows_where("id = ? AND user_id = ?", [answer_id, user_id], limit=1))
    if not rows:
        raise NotFound()
    return _saved(rows[0])


def latest_answers(store: Store, user_id: str, limit: int) -> list[SavedAnswer]:
    """The user's last ``limit`` saved answers, newest first (without their text)."""
    rows = store.db.table(TABLE).rows_where(
        "user_id = ?", [user_id], order_by="id DESC", limit=limit, select="id, question_id, feedback, created_at"
    )
    return [_saved(r) for r in rows]


def delete_answer(store: Store, user_id: str, answer_id: int) -> None:
    get_answer(store, user_id, answer_id)  # NotFound if gone or someone else's
    store.db.table(TABLE).delete(answer_id)
