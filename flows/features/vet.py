"""Vetting a paid externship: /vet walks the checklist, /programs keeps what was vetted.

The checklist (``content/checklist.yaml``) is asked one item per message with
Yes / No / Not sure buttons. Every answer is stored the moment it is given, so
/cancel, a restart or a crash loses nothing and /vet continues where the user
stopped. The verdict comes from :func:`flows.domain.scoring.score`.

Tables (each has ``user_id`` for export and delete):

- ``programs``: one row per vetted program; ``verdict`` is set once the checklist is
  finished (``finished = 1``) and kept current when answers change.
- ``program_answers``: one row per answered item; ``answer = '?'`` marks an item the
  user is not sure about, i.e. a question still to send the program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import clean
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.scoring import NO, UNSURE, YES, Criterion, Level, Verdict, score
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.storage.experiences import create_draft
from flows.storage.store import Store

CHECKLIST_PATH = CONTENT_DIR / "checklist.yaml"
NAME_LIMIT = 80
MAX_PROGRAMS = 50
LABEL_LIMIT = 36  # characters of a program name shown on a button

# -- the flow, as data ---------------------------------------------------------------------
FLOW = "vet"
NAME = "name"  # waiting for the program's name (new, or again after Back from the first item)
ITEM = "item"  # walking the checklist; data: {"p": program id, "i": item index}
EDIT = "edit"  # changing one answer of a finished program; data as ITEM
RENAME = "rename"  # waiting for a new name; data: {"p": program id}
DONE = "done"  # outside the flow: a verdict, the list or a program's card is shown


def is_first(index: int, count: int) -> bool:
    return index == 0


def has_previous(index: int, count: int) -> bool:
    return index > 0


def is_last(index: int, count: int) -> bool:
    return index + 1 >= count


def has_next(index: int, count: int) -> bool:
    return index + 1 < count


VET_FLOW = FlowSpec(
    name=FLOW,
    states=[NAME, ITEM, EDIT, RENAME, DONE],
    transitions=[
        {"trigger": "start", "source": DONE, "dest": NAME},
        {"trigger": "named", "source": NAME, "dest": ITEM},
        {"trigger": "answer", "source": ITEM, "dest": ITEM, "conditions": has_next},
        {"trigger": "answer", "source": ITEM, "dest": DONE, "conditions": is_last},
        {"trigger": "back", "source": ITEM, "dest": ITEM, "conditions": has_previous},
        {"trigger": "back", "source": ITEM, "dest": NAME, "conditions": is_first},
        {"trigger": "resume", "source": DONE, "dest": ITEM},
        {"trigger": "change", "source": DONE, "dest": EDIT},
        {"trigger": "answer", "source": EDIT, "dest": DONE},
        {"trigger": "rename", "source": DONE, "dest": RENAME},
        {"trigger": "renamed", "source": RENAME, "dest": DONE},
    ],
    initial=NAME,
)
MACHINE = FlowMachine(VET_FLOW)

# -- the checklist, loaded once ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    label: str
    question: str
    why: str
    ask: str
    red_flag: bool = False
    essential: bool = False
    guide_ask: bool = False
    label_no: str = ""  # red flags: the item said when the program does not do it

    @property
    def criterion(self) -> Criterion:
        return Criterion(self.id, self.red_flag, self.essential, self.guide_ask)


@dataclass(frozen=True, slots=True)
class Checklist:
    items: tuple[Item, ...]
    criteria: tuple[Criterion, ...]

    def __len__(self) -> int:
        return len(self.items)

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)


def load_checklist(path: Path = CHECKLIST_PATH) -> Checklist:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected 'checks' and 'red_flags'")
    items: list[Item] = []
    for section, red in (("checks", False), ("red_flags", True)):
        entries = require(path, data, section, list)
        for node in entries:
            if not isinstance(node, dict):
                raise ContentError(path, line_of(entries), f"each entry of '{section}' must be a mapping")
            item_id = require(path, node, "id")
            if len(item_id) > 12 or not item_id.replace("_", "").isalnum():
                raise ContentError(path, line_of(node), f"id {item_id!r}: use up to 12 letters, digits or _")
            if any(i.id == item_id for i in items):
                raise ContentError(path, line_of(node), f"id {item_id!r} is used twice")
            flags = {k: node.get(k, False) for k in ("essential", "guide_ask")}
            if any(not isinstance(v, bool) for v in flags.values()):
                raise ContentError(path, line_of(node), "'essential' and 'guide_ask' must be true or false")
            if red and flags["essential"]:
                raise ContentError(path, line_of(node), "red flags take no 'essential'")
            items.append(
                Item(
                    id=item_id,
                    label=require(path, node, "label"),
                    question=require(path, node, "question"),
                    why=require(path, node, "why"),
                    ask=require(path, node, "ask"),
                    red_flag=red,
                    label_no=require(path, node, "label_no") if red else "",
                    **flags,
                )
            )
    if not any(not i.red_flag for i in items):
        raise ContentError(path, line_of(data), "no checks")
    return Checklist(tuple(items), tuple(i.criterion for i in items))


@functools.cache
def checklist() -> Checklist:
    """The checklist, loaded once per process."""
    return load_checklist()


# -- storage -----------------------------------------------------------------------------

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


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


def create_program(store: Store, user_id: str, name: str, now: datetime) -> int:
    cursor = store.conn.execute(
        "INSERT INTO programs (user_id, name, created_at, updated_at, finished) VALUES (?, ?, ?, ?, 0)",
        (user_id, name, _stamp(now), _stamp(now)),
    )
    return int(cursor.lastrowid or 0)


def save_answer(store: Store, user_id: str, program_id: int, item_id: str, answer: str, now: datetime) -> None:
    store.conn.execute(
        "INSERT INTO program_answers (program_id, user_id, item_id, answer, answered_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(program_id, item_id) DO UPDATE SET answer = excluded.answer,"
        " answered_at = excluded.answered_at",
        (program_id, user_id, item_id, answer, _stamp(now)),
    )


def update_program(store: Store, program_id: int, now: datetime, **fields: Any) -> None:
    names = ", ".join(f"{k} = ?" for k in fields)
    store.conn.execute(
        f"UPDATE programs SET {names}{', ' if names else ''}updated_at = ? WHERE id = ?",
        (*fields.values(), _stamp(now), program_id),
    )


def delete_program(store: Store, user_id: str, program_id: int) -> None:
    store.conn.execute("DELETE FROM program_answers WHERE program_id = ? AND user_id = ?", (program_id, user_id))
    store.conn.execute("DELETE FROM programs WHERE id = ? AND user_id = ?", (program_id, user_id))


def verdict_of(answers: Mapping[str, str]) -> Verdict:
    return score(checklist().criteria, answers)


# -- the feature ---------------------------------------------------------------------------

_CODES = {"y": YES, "n": NO, "u": UNSURE}
_TYPED = {
    "yes": YES, "y": YES, "yep": YES, "yeah": YES, "✅": YES,
    "no": NO, "n": NO, "nope": NO, "❌": NO,
    "not sure": UNSURE, "unsure": UNSURE, "?": UNSURE, "not sure yet": UNSURE, "don't know": UNSURE,
    "dont know": UNSURE, "idk": UNSURE, "❓": UNSURE, "maybe": UNSURE,
}  # fmt: skip
_GOOD_MARK = {YES: "✅", NO: "❌"}  # a good sign the program has / lacks
_FLAG_MARK = {YES: "🚩", NO: "➖"}  # a red flag the program shows / doesn't show
UNKNOWN_MARK = "❓"


def mark(item: Item, answer: str | None) -> str:
    """One icon, one meaning everywhere: ✅ has the good sign, ❌ lacks it, 🚩 shows the red
    flag, ➖ doesn't show it, ❓ not known yet."""
    marks = _FLAG_MARK if item.red_flag else _GOOD_MARK
    return marks.get(answer or "", UNKNOWN_MARK)


def said(item: Item, answer: str | None) -> str:
    """The item as the program stands on it: "➖ No guarantee of…", never "✅ Guarantees…"."""
    label = item.label_no if item.red_flag and answer == NO else item.label
    return f"{mark(item, answer)} {label}"


def _ints(parts: list[str], count: int) -> list[int]:
    """``count`` small non-negative ids from button data, or StaleButton."""
    if len(parts) != count or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise StaleButton()
    return [int(p) for p in parts]


def _short(name: str) -> str:
    return name if len(name) <= LABEL_LIMIT else name[: LABEL_LIMIT - 1].rstrip() + "…"


class Vetting(Feature):
    name = "vetting"
    prefix = "vet"
    migrations = migrations
    flows = (FLOW,)
    menu_items = (
        MenuEntry("vetting.menu_vet", "vet", 40, section="externships"),
        MenuEntry("vetting.menu_programs", "programs", 41, section="externships"),
    )
    deep_links = ("vet",)
    flow_titles = {FLOW: "vetting.flow_title"}

    def __init__(self) -> None:
        checklist()  # load and validate the content at start, not on the first update

    def commands(self) -> dict[str, CommandHandler]:
        return {"vet": self.vet, "programs": self.programs}

    def help_keys(self) -> tuple[str, ...]:
        return ("vetting.help_vet", "vetting.help_programs")

    # -- commands ----------------------------------------------------------------------
    def vet(self, turn: Turn, args: str) -> list[Reply]:
        unfinished = next((p for p in list_programs(turn.store, turn.user_id) if not p.finished), None)
        if unfinished is not None:
            turn.session.leave()
            answered = len(load_answers(turn.store, turn.user_id, unfinished.id))
            text = turn.t(
                "vetting.resume_choice", name=unfinished.name, answered=answered, count=len(checklist())
            )
            return [
                Reply(
                    text,
                    keyboard(
                        [Button(turn.t("vetting.button_continue"), f"vet:c:{unfinished.id}")],
                        [Button(turn.t("vetting.button_new"), "vet:n")],
                    ),
                )
            ]
        return self._new(turn)

    def programs(self, turn: Turn, args: str) -> list[Reply]:
        return [self._list(turn)]

    # -- text --------------------------------------------------------------------------
    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        state, data = turn.session.state, turn.session.data
        if state == NAME:
            name = self._valid_name(turn, text)
            if "p" in data:
                program = get_program(turn.store, turn.user_id, data["p"])
                update_program(turn.store, program.id, turn.now, name=name)
                return self._walk(turn, program.id, 0, trigger="named")
            if len(list_programs(turn.store, turn.user_id)) >= MAX_PROGRAMS:
                turn.session.leave()
                return [Reply(turn.t("vetting.too_many", limit=MAX_PROGRAMS)), self._list(turn)]
            program_id = create_program(turn.store, turn.user_id, name, turn.now)
            turn.changed.add("programs")
            return self._walk(turn, program_id, 0, trigger="named")
        if state in (ITEM, EDIT):
            answer = _TYPED.get(" ".join(clean(text, 40).lower().replace("’", "'").strip(".!").split()))
            if answer is None:
                raise InvalidAnswer(turn.t("vetting.use_buttons"))
            return self._answer(turn, data["p"], data["i"], answer, replace=False)
        if state == RENAME:
            name = self._valid_name(turn, text)
            program = get_program(turn.store, turn.user_id, data["p"])
            update_program(turn.store, program.id, turn.now, name=name)
            turn.session.state = MACHINE.fire("renamed", RENAME)
            turn.session.leave()
            turn.changed.add("programs")
            return [Reply(turn.t("vetting.renamed", name=name)), self._card(turn, program.id)]
        turn.session.leave()  # a state this version does not know
        return [self._list(turn)]

    def _valid_name(self, turn: Turn, text: str) -> str:
        name = " ".join(clean(text, 4096).split())
        if not name:
            raise InvalidAnswer(turn.t("vetting.name_empty"))
        if len(name) > NAME_LIMIT:
            raise InvalidAnswer(turn.t("vetting.name_too_long", length=len(name), limit=NAME_LIMIT))
        return name

    # -- buttons -------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, *parts = payload.split(":")
        if action == "a":  # vet:a:<program>:<item>:<y|n|u>
            if len(parts) != 3 or parts[2] not in _CODES:
                raise StaleButton()
            program_id, index = _ints(parts[:2], 2)
            self._expect(turn, (ITEM, EDIT), program_id, index)
            return self._answer(turn, program_id, index, _CODES[parts[2]], replace=True)
        if action == "b":  # back one item
            program_id, index = _ints(parts, 2)
            self._expect(turn, (ITEM,), program_id, index)
            return self._back(turn, program_id, index)
        if action == "k":  # keep the name after Back from the first item
            (program_id,) = _ints(parts, 1)
            self._expect(turn, (NAME,), program_id)
            return self._walk(turn, program_id, 0, trigger="named", replace=True)
        if action == "n":
            return self._new(turn)
        if action == "l":  # under a verdict too: never replace (the questions list must stay)
            return [self._list(turn)]
        if action == "dd":
            (program_id,) = _ints(parts, 1)
            return self._delete(turn, program_id)
        if action == "xx":
            first, second = _ints(parts, 2)
            return [self._compare(turn, first, second)]
        if action == "i":  # change one answer of a finished program
            program_id, index = _ints(parts, 2)
            return self._edit_item(turn, program_id, index)
        (program_id,) = _ints(parts, 1)
        handlers: dict[str, Callable[[Turn, int], list[Reply]]] = {
            "c": self._continue,
            "o": lambda t, p: [self._card(t, p, replace=True)],
            "v": self._verdict_replies,
            "e": lambda t, p: [self._edit_list(t, p)],
            "eb": lambda t, p: [self._edit_list(t, p, replace=True)],  # Back while changing an answer
            "r": self._ask_rename,
            "d": self._confirm_delete,
            "x": self._pick_compare,
            "t": self._add_to_tracker,
        }
        handler = handlers.get(action)
        if handler is None:
            raise StaleButton()
        return handler(turn, program_id)

    def _expect(self, turn: Turn, states: tuple[str, ...], program_id: int, index: int | None = None) -> None:
        """Refuse a button that does not belong to the step the user is on."""
        session = turn.session
        if (
            session.flow != FLOW
            or session.state not in states
            or session.data.get("p") != program_id
            or (index is not None and session.data.get("i") != index)
        ):
            raise StaleButton()

    # -- the walk ------------------------------------------------------------------------
    def _new(self, turn: Turn) -> list[Reply]:
        turn.session.enter(FLOW, MACHINE.fire("start", DONE))
        return [Reply(turn.t("vetting.ask_name", count=len(checklist())))]

    def _walk(
        self, turn: Turn, program_id: int, index: int, *, trigger: str | None = None, replace: bool = False
    ) -> list[Reply]:
        state = MACHINE.fire(trigger, turn.session.state or NAME) if trigger else ITEM
        turn.session.enter(FLOW, state, {"p": program_id, "i": index})
        program = get_program(turn.store, turn.user_id, program_id)
        answers = load_answers(turn.store, turn.user_id, program_id)
        return [self._item_reply(turn, program, index, answers, replace=replace)]

    def _continue(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        if program.finished:
            return [self._edit_list(turn, program_id, replace=True)]
        answers = load_answers(turn.store, turn.user_id, program_id)
        items = checklist().items
        index = next((n for n, item in enumerate(items) if item.id not in answers), len(items) - 1)
        turn.session.enter(FLOW, MACHINE.fire("resume", DONE), {"p": program_id, "i": index})
        return [self._item_reply(turn, program, index, answers, replace=True)]

    def _item_reply(
        self, turn: Turn, program: Program, index: int, answers: Mapping[str, str], *, replace: bool = False
    ) -> Reply:
        items = checklist().items
        item = items[index]
        editing = turn.session.state == EDIT
        values = {"name": program.name, "number": index + 1, "count": len(items)}
        if editing:
            head = turn.t("vetting.item_head_edit", name=program.name)
        elif item.red_flag:
            head = turn.t("vetting.item_head_flag", **values)
        else:
            head = turn.t("vetting.item_head", **values)
        lines = [head, turn.t("vetting.item", question=item.question, why=item.why)]
        current = answers.get(item.id)
        if current is not None:
            lines.append(turn.t("vetting.current_answer", answer=self._answer_label(turn, current)))
        answer_row = [
            Button(turn.t(f"vetting.answer_{code}"), f"vet:a:{program.id}:{index}:{code}") for code in _CODES
        ]
        back = f"vet:eb:{program.id}" if editing else f"vet:b:{program.id}:{index}"
        return Reply(
            "\n".join(lines),
            keyboard(answer_row, [Button(turn.t("vetting.button_back"), back)]),
            replace=replace,
        )

    def _answer_label(self, turn: Turn, answer: str) -> str:
        code = next(c for c, a in _CODES.items() if a == answer)
        return turn.t(f"vetting.answer_{code}")

    def _answer(self, turn: Turn, program_id: int, index: int, answer: str, *, replace: bool) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        items = checklist().items
        if not 0 <= index < len(items):
            raise StaleButton()
        save_answer(turn.store, turn.user_id, program_id, items[index].id, answer, turn.now)
        turn.changed.add("programs")
        editing = turn.session.state == EDIT
        state = MACHINE.fire("answer", turn.session.state or ITEM, index, len(items))
        if state == ITEM:
            update_program(turn.store, program_id, turn.now)
            turn.session.enter(FLOW, ITEM, {"p": program_id, "i": index + 1})
            answers = load_answers(turn.store, turn.user_id, program_id)
            return [self._item_reply(turn, program, index + 1, answers, replace=replace)]
        turn.session.leave()
        answers = load_answers(turn.store, turn.user_id, program_id)
        verdict = verdict_of(answers)
        update_program(turn.store, program_id, turn.now, verdict=verdict.level.code, finished=1)
        if editing:
            return [self._edit_list(turn, program_id, replace=replace)]
        if not program.finished:
            turn.store.record_completion(turn.user_id, "vet", turn.now)
        return self._verdict(turn, get_program(turn.store, turn.user_id, program_id), answers, verdict)

    def _back(self, turn: Turn, program_id: int, index: int) -> list[Reply]:
        state = MACHINE.fire("back", ITEM, index, len(checklist()))
        if state == ITEM:
            return self._walk(turn, program_id, index - 1, replace=True)
        program = get_program(turn.store, turn.user_id, program_id)
        turn.session.enter(FLOW, NAME, {"p": program_id})
        return [self._name_again(turn, program, replace=True)]

    def _name_again(self, turn: Turn, program: Program, *, replace: bool = False) -> Reply:
        return Reply(
            turn.t("vetting.ask_name_again", name=program.name),
            keyboard([Button(turn.t("vetting.button_keep_name"), f"vet:k:{program.id}")]),
            replace=replace,
        )

    def prompt(self, turn: Turn) -> list[Reply]:
        state, data = turn.session.state, turn.session.data
        try:
            if state == NAME and "p" in data:
                return [self._name_again(turn, get_program(turn.store, turn.user_id, data["p"]))]
            if state == NAME:
                return self._new(turn)
            if state in (ITEM, EDIT):
                program = get_program(turn.store, turn.user_id, data["p"])
                answers = load_answers(turn.store, turn.user_id, program.id)
                return [self._item_reply(turn, program, data["i"], answers)]
            if state == RENAME:
                program = get_program(turn.store, turn.user_id, data["p"])
                return [Reply(turn.t("vetting.ask_rename", name=program.name))]
        except (NotFound, KeyError, IndexError, TypeError):
            pass  # the program was deleted, or the step comes from an older version
        turn.session.leave()
        return [self._list(turn)]

    # -- the verdict ---------------------------------------------------------------------
    def _verdict_replies(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        answers = load_answers(turn.store, turn.user_id, program_id)
        return self._verdict(turn, program, answers, verdict_of(answers))

    def _verdict(self, turn: Turn, program: Program, answers: Mapping[str, str], verdict: Verdict) -> list[Reply]:
        cl = checklist()

        def labels(ids: tuple[str, ...]) -> str:
            return "; ".join(cl.item(i).label for i in ids)

        lines = [
            turn.t("vetting.verdict_head", name=program.name),
            turn.t("vetting.verdict_level", level=turn.t(f"vetting.level_{verdict.level.code}")),
        ]
        lines += self._reasons(turn, verdict)
        if verdict.confirmed:
            lines.append(turn.t("vetting.line_confirmed", items=labels(verdict.confirmed)))
        if verdict.missing:
            lines.append(turn.t("vetting.line_missing", items=labels(verdict.missing)))
        if verdict.flags:
            lines.append(turn.t("vetting.line_flags", items=labels(verdict.flags)))
        if verdict.unsure:
            lines.append(turn.t("vetting.line_unsure", items=labels(verdict.unsure)))
        if not verdict.flags:  # "avoid" is the guide's own advice; the other levels are my reading
            lines.append(turn.t("vetting.judgement"))
        lines.append(turn.t("vetting.price_reminder"))
        lines.append(turn.t("vetting.suggest_fee"))
        replies = [Reply("\n".join(lines))]
        questions = self._questions(verdict)
        if questions:
            numbered = "\n".join(f"{n}. {q}" for n, q in enumerate(questions, 1))
            replies.append(Reply(turn.t("vetting.questions", name=program.name, questions=numbered)))
        buttons = [
            Button(turn.t("vetting.button_change"), f"vet:e:{program.id}"),
            Button(turn.t("vetting.button_programs"), "vet:l"),
        ]
        if self._tracker_offer(turn, verdict):
            buttons.append(Button(turn.t("vetting.button_tracker"), f"vet:t:{program.id}"))
        last = replies[-1]
        replies[-1] = Reply(last.text, column(buttons, 2))
        return replies

    @staticmethod
    def _questions(verdict: Verdict) -> list[str]:
        """The questions to send, in checklist order, each once (two items may share one)."""
        cl = checklist()
        asked: list[str] = []
        for item_id in verdict.to_ask:
            if item_id in verdict.flags:
                continue
            question = cl.item(item_id).ask
            if question not in asked:
                asked.append(question)
        return asked

    def _reasons(self, turn: Turn, verdict: Verdict) -> list[str]:
        if verdict.flags:
            return [turn.t(f"vetting.avoid_{flag}") for flag in verdict.flags]
        if verdict.level is Level.WEAK and verdict.essentials_missing:
            return [turn.t("vetting.reason_weak_essential")]
        return [turn.t(f"vetting.reason_{verdict.level.code}")]

    def _level_text(self, turn: Turn, program: Program, answered: int | None = None) -> str:
        if program.finished and program.verdict:
            return turn.t(f"vetting.level_{program.verdict}")
        if answered is None:
            answered = len(load_answers(turn.store, turn.user_id, program.id))
        return turn.t("vetting.level_unfinished", answered=answered, count=len(checklist()))

    # -- saved programs ------------------------------------------------------------------
    def _list(self, turn: Turn, *, replace: bool = False) -> Reply:
        programs = list_programs(turn.store, turn.user_id)
        if not programs:
            return Reply(
                turn.t("vetting.list_empty"),
                keyboard([Button(turn.t("vetting.button_vet"), "vet:n")]),
                replace=replace,
            )
        buttons = [Button(f"{self._mark(p)} {_short(p.name)}", f"vet:o:{p.id}") for p in programs]
        buttons.append(Button(turn.t("vetting.button_vet_another"), "vet:n"))
        return Reply(turn.t("vetting.list_head"), column(buttons), replace=replace)

    @staticmethod
    def _mark(program: Program) -> str:
        if not program.finished or not program.verdict:
            return "⏸"
        return {"strong": "🟢", "promising": "🟡", "weak": "🟠", "red_flags": "🔴"}.get(program.verdict, "•")

    def _card(self, turn: Turn, program_id: int, *, replace: bool = False) -> Reply:
        program = get_program(turn.store, turn.user_id, program_id)
        text = "\n".join(
            [
                turn.t("vetting.verdict_head", name=program.name),
                turn.t("vetting.verdict_level", level=self._level_text(turn, program)),
                turn.t("vetting.card_dates", created=program.created_at[:10], updated=program.updated_at[:10]),
            ]
        )
        pid = program.id
        rows: list[list[Button]] = []
        if program.finished:
            rows.append(
                [
                    Button(turn.t("vetting.button_verdict"), f"vet:v:{pid}"),
                    Button(turn.t("vetting.button_change"), f"vet:e:{pid}"),
                ]
            )
            rows.append(
                [
                    Button(turn.t("vetting.button_compare"), f"vet:x:{pid}"),
                    Button(turn.t("vetting.button_rename"), f"vet:r:{pid}"),
                ]
            )
            if program.verdict in ("strong", "promising") and self._tracker_exists(turn):
                rows.append([Button(turn.t("vetting.button_tracker"), f"vet:t:{pid}")])
        else:
            rows.append(
                [
                    Button(turn.t("vetting.button_continue"), f"vet:c:{pid}"),
                    Button(turn.t("vetting.button_rename"), f"vet:r:{pid}"),
                ]
            )
        rows.append(
            [
                Button(turn.t("vetting.button_delete"), f"vet:d:{pid}"),
                Button(turn.t("vetting.button_all"), "vet:l"),
            ]
        )
        return Reply(text, keyboard(*rows), replace=replace)

    def _edit_list(self, turn: Turn, program_id: int, *, replace: bool = False) -> Reply:
        program = get_program(turn.store, turn.user_id, program_id)
        if turn.session.flow == FLOW and turn.session.data.get("p") == program_id:
            turn.session.leave()  # Back from changing one answer
        answers = load_answers(turn.store, turn.user_id, program_id)
        buttons = [
            Button(said(item, answers.get(item.id)), f"vet:i:{program_id}:{n}")
            for n, item in enumerate(checklist().items)
        ]
        buttons.append(Button(turn.t("vetting.button_see_verdict"), f"vet:v:{program_id}"))
        level = self._level_text(turn, program, len(answers))
        return Reply(
            turn.t("vetting.edit_head", name=program.name, level=level), column(buttons), replace=replace
        )

    def _edit_item(self, turn: Turn, program_id: int, index: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        if not 0 <= index < len(checklist()):
            raise StaleButton()
        if not program.finished:
            return self._continue(turn, program_id)
        turn.session.enter(FLOW, MACHINE.fire("change", DONE), {"p": program_id, "i": index})
        answers = load_answers(turn.store, turn.user_id, program_id)
        return [self._item_reply(turn, program, index, answers, replace=True)]

    def _ask_rename(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        turn.session.enter(FLOW, MACHINE.fire("rename", DONE), {"p": program_id})
        return [Reply(turn.t("vetting.ask_rename", name=program.name))]

    def _confirm_delete(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        buttons = keyboard(
            [
                Button(turn.t("vetting.button_delete_yes"), f"vet:dd:{program_id}"),
                Button(turn.t("vetting.button_keep"), f"vet:o:{program_id}"),
            ]
        )
        return [Reply(turn.t("vetting.confirm_delete", name=program.name), buttons, replace=True)]

    def _delete(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        delete_program(turn.store, turn.user_id, program_id)
        turn.changed.add("programs")
        if turn.session.flow == FLOW and turn.session.data.get("p") == program_id:
            turn.session.leave()
        return [Reply(turn.t("vetting.deleted", name=program.name), replace=True), self._list(turn)]

    # -- comparing -----------------------------------------------------------------------
    def _pick_compare(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        others = [p for p in list_programs(turn.store, turn.user_id) if p.id != program_id]
        if not others:
            return [
                Reply(
                    turn.t("vetting.compare_none"),
                    keyboard([Button(turn.t("vetting.button_vet"), "vet:n")]),
                )
            ]
        buttons = [Button(f"{self._mark(p)} {_short(p.name)}", f"vet:xx:{program_id}:{p.id}") for p in others]
        return [Reply(turn.t("vetting.compare_pick", name=program.name), column(buttons))]

    def _compare(self, turn: Turn, first: int, second: int) -> Reply:
        a = get_program(turn.store, turn.user_id, first)
        b = get_program(turn.store, turn.user_id, second)
        answers_a = load_answers(turn.store, turn.user_id, a.id)
        answers_b = load_answers(turn.store, turn.user_id, b.id)
        lines = [
            turn.t(
                "vetting.compare_head",
                a=a.name,
                b=b.name,
                level_a=self._level_text(turn, a, len(answers_a)),
                level_b=self._level_text(turn, b, len(answers_b)),
            ),
            "",
            "A  B",
        ]
        flags_started = False
        for item in checklist().items:
            if item.red_flag and not flags_started:
                lines += ["", turn.t("vetting.compare_flags")]
                flags_started = True
            sa = mark(item, answers_a.get(item.id))
            sb = mark(item, answers_b.get(item.id))
            lines.append(f"{sa} {sb} {item.label}")
        buttons = keyboard(
            [
                Button(f"{turn.t('vetting.button_open')} A: {_short(a.name)}", f"vet:o:{a.id}"),
                Button(f"{turn.t('vetting.button_open')} B: {_short(b.name)}", f"vet:o:{b.id}"),
            ],
            [Button(turn.t("vetting.button_programs"), "vet:l")],
        )
        return Reply("\n".join(lines), buttons)

    # -- the tracker ---------------------------------------------------------------------
    def _tracker_exists(self, turn: Turn) -> bool:
        row = turn.store.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiences'"
        ).fetchone()
        return row is not None

    def _tracker_offer(self, turn: Turn, verdict: Verdict) -> bool:
        return verdict.level >= Level.PROMISING and self._tracker_exists(turn)

    def _add_to_tracker(self, turn: Turn, program_id: int) -> list[Reply]:
        """Start a /log record with what the check knows (an externship at this program) and let
        /log ask for the rest — specialty, setting, dates, letter — instead of guessing them."""
        program = get_program(turn.store, turn.user_id, program_id)
        answers = load_answers(turn.store, turn.user_id, program_id)
        verdict = verdict_of(answers)
        if not program.finished or verdict.level < Level.PROMISING or not self._tracker_exists(turn):
            return [Reply(turn.t("vetting.tracker_not_ready"))]
        exists = turn.store.conn.execute(
            "SELECT 1 FROM experiences WHERE user_id = ? AND institution = ? AND type = 'externship'",
            (turn.user_id, program.name),
        ).fetchone()
        if exists:
            return [Reply(turn.t("vetting.tracker_already", name=program.name),
                          keyboard([Button(turn.t("vetting.button_open_log"), "go:log")]))]
        fields: dict[str, Any] = {"type": "externship", "level": "hands_on", "institution": program.name}
        if answers.get("affiliation") == YES:
            fields["teaching"] = 1
        create_draft(turn.store, turn.user_id, _stamp(turn.now), "specialty", **fields)
        return [Reply(turn.t("vetting.tracker_added", name=program.name),
                      keyboard([Button(turn.t("vetting.button_open_log"), "go:log")]))]
