"""Vetting a paid externship: /vet walks the checklist, /programs keeps what was vetted.

/vet is one declared dialog (``flows/engine/dialog.py``): the program's name, then one step
per item of ``content/checklist.yaml`` (named by the item's id), each with Yes / No / Not sure
buttons. Every answer is stored the moment it is given, so /cancel, a restart or a crash
loses nothing and /vet continues where the user stopped. The verdict comes from
:func:`flows.domain.scoring.score`. Changing one answer of a finished program, or its name,
opens the same dialog at that step for that one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import MAX_INPUT, clean
from flows.base.types import Button, Reply, keyboard
from flows.domain import typed
from flows.domain.scoring import NO, UNSURE, YES, Level
from flows.engine.dialog import Ask, Dialog, End, Heard, Option, Step, StepKind, read_by_kind
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.features.vet import views
from flows.features.vet.checklist import Checklist, Item, checklist, load_checklist
from flows.features.vet.programs import FLOW, NAME, migrations, verdict_of
from flows.storage.experiences import create_draft, has_record
from flows.storage.programs import (
    create_program,
    delete_program,
    get_program,
    list_programs,
    load_answers,
    save_answer,
    update_program,
)
from flows.storage.store import timestamp

__all__ = ["FLOW", "NAME", "Checklist", "Item", "Vetting", "checklist", "load_checklist", "migrations", "verdict_of"]

NAME_LIMIT = 80
MAX_PROGRAMS = 50

# The answer buttons: a code in button data, the answer stored for it, and the typed answers
# (flows/domain/typed.py reads "yep", "nope", "idk"...; these marks are read as well).
ANSWERS = (Option("y", "vetting.answer_y"), Option("n", "vetting.answer_n"), Option("u", "vetting.answer_u"))
STORED = {"y": YES, "n": NO, "u": UNSURE}
CODE = {stored: code for code, stored in STORED.items()}
SAID = {"yes": "y", "no": "n", "unsure": "u"}  # typed.yes_no -> code
MARKS = {"✅": "y", "❌": "n", "❓": "u", "?": "u"}


def in_place(replies: list[Reply]) -> list[Reply]:
    """Replies that replace the message whose button was pressed."""
    return [replace(r, replace=True) for r in replies]


class Vetting(Feature):
    name = "vetting"
    prefix = "vet"
    migrations = migrations
    menu_items = (
        MenuEntry("vetting.menu_vet", "vet", 40, section="externships"),
        MenuEntry("vetting.menu_programs", "programs", 41, section="externships"),
    )
    deep_links = ("vet",)

    def __init__(self) -> None:
        items = checklist().items  # loaded and checked at start, not on the first update
        name = Step(
            NAME, StepKind.TEXT, self._name_prompt, limit=MAX_INPUT, read=self._read_name, empty="vetting.name_empty",
            values=lambda ask: {"count": len(checklist()), "name": ask.answers.get(NAME, "")},
            shown=lambda ask, value: None,  # the prompt says the saved name
            words={"button_keep": "vetting.button_keep_name"},
        )
        steps = [name, *(
            Step(item.id, StepKind.YESNO, "vetting.item", options=ANSWERS, width=3, keep=False,
                 reason="vetting.use_buttons", read=self._read_answer, values=self._item_values)
            for item in items
        )]
        self.dialog = Dialog(
            FLOW, "v", steps, load=self._answers, save=self._save, finish=self._finish, header=self._header,
            title="vetting.flow_title",
            words={
                "current": "vetting.current_answer",
                "button_back": "vetting.button_back",
                "button_keep": "vetting.button_back",  # changing one answer: back to the list as it was
                "empty": "vetting.use_buttons",
            },
        )
        self.dialogs = (self.dialog,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"vet": self.vet, "programs": self.programs}

    def help_keys(self) -> tuple[str, ...]:
        return ("vetting.help_vet", "vetting.help_programs")

    # -- commands ----------------------------------------------------------------------------
    def vet(self, turn: Turn, args: str) -> list[Reply]:
        unfinished = next((p for p in list_programs(turn.store, turn.user_id) if not p.finished), None)
        if unfinished is None:
            return self.dialog.begin(turn)
        turn.session.leave()
        answered = len(load_answers(turn.store, turn.user_id, unfinished.id))
        text = turn.t("vetting.resume_choice", name=unfinished.name, answered=answered, count=len(checklist()))
        buttons = keyboard(
            [Button(turn.t("vetting.button_continue"), f"vet:c:{unfinished.id}")],
            [Button(turn.t("vetting.button_new"), "vet:n")],
        )
        return [Reply(text, buttons)]

    def programs(self, turn: Turn, args: str) -> list[Reply]:
        return [views.program_list(turn)]

    # -- the dialog's hooks ---------------------------------------------------------------------
    def _answers(self, turn: Turn) -> Mapping[str, Any]:
        """The name and the answers so far (button codes) of the program being checked."""
        program_id = turn.session.data.get("p")
        if program_id is None:
            return {}  # a new check: no program until it has a name
        try:
            if not isinstance(program_id, int):
                raise NotFound()
            program = get_program(turn.store, turn.user_id, program_id)
        except NotFound:
            turn.session.leave()  # the program was deleted meanwhile
            raise
        stored = load_answers(turn.store, turn.user_id, program.id)
        return {NAME: program.name, **{item: CODE[a] for item, a in stored.items() if a in CODE}}

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        turn.changed.add("programs")
        data = turn.session.data
        if step.name == NAME:
            if "p" in data:
                update_program(turn.store, turn.user_id, data["p"], turn.now, name=value)
            else:
                data["p"] = create_program(turn.store, turn.user_id, value, turn.now)
            return
        program = get_program(turn.store, turn.user_id, data["p"])
        save_answer(turn.store, turn.user_id, program.id, step.name, STORED[value], turn.now)
        if program.finished:  # a changed answer: the verdict stays current
            verdict = verdict_of(load_answers(turn.store, turn.user_id, program.id))
            update_program(turn.store, turn.user_id, program.id, turn.now, verdict=verdict.level.code)
        else:
            update_program(turn.store, turn.user_id, program.id, turn.now)

    def _finish(self, turn: Turn, end: End) -> list[Reply]:
        program_id = int(end.data["p"])
        program = get_program(turn.store, turn.user_id, program_id)
        if end.edited == NAME:
            renamed = [] if end.kept else [Reply(turn.t("vetting.renamed", name=program.name))]
            return [*renamed, views.card(turn, program_id, replace=True)]
        if end.edited:
            return [views.answers_list(turn, program_id, replace=True)]
        verdict = verdict_of(load_answers(turn.store, turn.user_id, program_id))
        update_program(turn.store, turn.user_id, program_id, turn.now, verdict=verdict.level.code, finished=1)
        if not program.finished:
            turn.store.record_completion(turn.user_id, "vet", turn.now)
        return views.verdict(turn, get_program(turn.store, turn.user_id, program_id), verdict)

    @staticmethod
    def _name_prompt(ask: Ask) -> str:
        return "vetting.ask_name_again" if ask.answers.get(NAME) else "vetting.ask_name"

    def _header(self, ask: Ask) -> str:
        """Above each item: which program and item this is."""
        name = ask.answers.get(NAME)
        cl = checklist()
        if ask.step.name == NAME:
            return ""
        if ask.editing:
            return ask.t("vetting.item_head_edit", name=name or "")
        item = cl.item(ask.step.name)
        key = "vetting.item_head_flag" if item.red_flag else "vetting.item_head"
        return ask.t(key, name=name or "", number=cl.number(item.id), count=len(cl))

    @staticmethod
    def _item_values(ask: Ask) -> Mapping[str, object]:
        item = checklist().item(ask.step.name)
        return {"question": item.question, "why": item.why}

    @staticmethod
    def _read_name(ask: Ask, text: str) -> str:
        name = " ".join(clean(text, MAX_INPUT).split())
        if not name or typed.move_of(name):  # "skip" or "back" is not a program's name
            raise InvalidAnswer(ask.t("vetting.name_empty"))
        if len(name) > NAME_LIMIT:
            raise InvalidAnswer(ask.t("vetting.name_too_long", length=len(name), limit=NAME_LIMIT))
        turn = ask.turn
        if "p" not in turn.session.data and len(list_programs(turn.store, turn.user_id)) >= MAX_PROGRAMS:
            raise InvalidAnswer(ask.t("vetting.too_many", limit=MAX_PROGRAMS))
        return name

    @staticmethod
    def _read_answer(ask: Ask, text: str) -> Any:
        """Yes, no or not sure as people type them; "skip" is "Not sure" (a question to send);
        "keep" (and "back" while changing one answer) keep the answer there is."""
        move = typed.move_of(text)
        current = ask.answers.get(ask.step.key)
        if move == "skip":
            return Heard("u", ask.t("vetting.skipped"))
        if move in ("keep", "back") and current in STORED:
            return current
        if text.strip() in MARKS:
            return MARKS[text.strip()]
        said = typed.yes_no(text)
        return SAID[said] if said in SAID else read_by_kind(ask, text)

    # -- buttons -------------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, *parts = payload.split(":")
        if action == "n" and not parts:
            return self.dialog.begin(turn)
        if action == "l" and not parts:  # under a verdict too: never replace (the questions list must stay)
            return [views.program_list(turn)]
        if action == "xx":
            first, second = _ints(parts, 2)
            return [views.compare(turn, first, second)]
        if action == "i":  # change one answer of a finished program
            program_id, index = _ints(parts, 2)
            return self._change(turn, program_id, index)
        (program_id,) = _ints(parts, 1)
        handlers: dict[str, Callable[[Turn, int], list[Reply]]] = {
            "c": self._continue,
            "o": lambda t, p: [views.card(t, p, replace=True)],
            "v": self._verdict,
            "e": self._answers_list,
            "r": self._rename,
            "d": views.confirm_delete,
            "dd": self._delete,
            "x": views.pick_compare,
            "t": self._add_to_tracker,
        }
        handler = handlers.get(action)
        if handler is None:
            raise StaleButton()
        return handler(turn, program_id)

    def _continue(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        if program.finished:
            return [views.answers_list(turn, program_id, replace=True)]
        answers = load_answers(turn.store, turn.user_id, program_id)
        items = checklist().items
        at = next((item.id for item in items if item.id not in answers), items[-1].id)
        return in_place(self.dialog.begin(turn, at=at, data={"p": program_id}))

    def _change(self, turn: Turn, program_id: int, index: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        items = checklist().items
        if not 0 <= index < len(items):
            raise StaleButton()
        if not program.finished:
            return self._continue(turn, program_id)
        return in_place(self.dialog.begin(turn, at=items[index].id, data={"p": program_id}, only=True))

    def _rename(self, turn: Turn, program_id: int) -> list[Reply]:
        get_program(turn.store, turn.user_id, program_id)
        return self.dialog.begin(turn, at=NAME, data={"p": program_id}, only=True)

    def _verdict(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        return views.verdict(turn, program, verdict_of(load_answers(turn.store, turn.user_id, program_id)))

    def _answers_list(self, turn: Turn, program_id: int) -> list[Reply]:
        get_program(turn.store, turn.user_id, program_id)
        self._leave_if_open(turn, program_id)
        return [views.answers_list(turn, program_id)]

    def _delete(self, turn: Turn, program_id: int) -> list[Reply]:
        program = get_program(turn.store, turn.user_id, program_id)
        delete_program(turn.store, turn.user_id, program_id)
        turn.changed.add("programs")
        self._leave_if_open(turn, program_id)
        return [Reply(turn.t("vetting.deleted", name=program.name), replace=True), views.program_list(turn)]

    @staticmethod
    def _leave_if_open(turn: Turn, program_id: int) -> None:
        if turn.session.flow == FLOW and turn.session.data.get("p") == program_id:
            turn.session.leave()

    # -- the tracker -----------------------------------------------------------------------------
    def _add_to_tracker(self, turn: Turn, program_id: int) -> list[Reply]:
        """Start a /log record with what the check knows (an externship at this program) and let
        /log ask for the rest — specialty, setting, dates, letter — instead of guessing them."""
        program = get_program(turn.store, turn.user_id, program_id)
        answers = load_answers(turn.store, turn.user_id, program_id)
        verdict = verdict_of(answers)
        if not program.finished or verdict.level < Level.PROMISING:
            return [Reply(turn.t("vetting.tracker_not_ready"))]
        exists = has_record(turn.store, turn.user_id, type="externship", institution=program.name)
        open_log = keyboard([Button(turn.t("vetting.button_open_log"), "go:log")])
        if exists:
            return [Reply(turn.t("vetting.tracker_already", name=program.name), open_log)]
        fields: dict[str, Any] = {"type": "externship", "level": "hands_on", "institution": program.name}
        if answers.get("affiliation") == YES:
            fields["teaching"] = 1
        create_draft(turn.store, turn.user_id, timestamp(turn.now), "specialty", **fields)
        return [Reply(turn.t("vetting.tracker_added", name=program.name), open_log)]


def _ints(parts: list[str], count: int) -> list[int]:
    """``count`` small non-negative ids from button data, or StaleButton."""
    if len(parts) != count or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise StaleButton()
    return [int(p) for p in parts]
