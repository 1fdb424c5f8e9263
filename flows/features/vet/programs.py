"""The vetting feature's side of its records: the migration set and the verdict.

The records themselves (``programs``, ``program_answers``) are read and written in
``flows/storage/programs.py``. The set stays here, under its name, because two of its
migrations need the checklist (``content/checklist.yaml``), which storage cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlite_utils import Database, Migrations

from flows.domain.scoring import Verdict, score
from flows.engine.dialog import ONLY
from flows.features.vet.checklist import checklist
from flows.storage import programs
from flows.storage.sessions import move_sessions

FLOW = "vet"  # the session's flow name, then and now
NAME = "name"  # the dialog's first step: the program's name

migrations = Migrations("usce-coach.vetting")


@migrations()
def m001_programs(db: Database) -> None:
    programs.create_tables(db)


@migrations()
def m002_checklist_from_the_guide(db: Database) -> None:
    programs.carry_over_checklist(db, lambda answers: verdict_of(answers).level.code)


@migrations()
def m003_sessions_at_dialog_steps(db: Database) -> None:
    """/vet became a declared dialog whose steps are named after the checklist items. A user in
    the middle of it is moved to the same place: ``item`` and ``edit`` (data ``{"p", "i"}``) to
    the step of item ``i`` (``edit`` as a change of that one answer), ``rename`` to the name step
    as a change of the name. The log of typed answers goes: it names the old states."""
    ids = [item.id for item in checklist().items]

    def move(state: str | None, data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
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
            return None
        return step, new

    move_sessions(db, FLOW, move)


def verdict_of(answers: Mapping[str, str]) -> Verdict:
    return score(checklist().criteria, answers)
