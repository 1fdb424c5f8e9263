"""Reflections (/reflect): guided notes written right after an experience.

Four prompts — key cases, skills, how it shaped the specialty choice, differences from the
home system — each saved to the ``reflections`` table the moment it is answered. Saved
reflections are listed, can be edited field by field, and go into the data export like every
table with a ``user_id`` (the table and its reads: ``flows/storage/reflections.py``, where the
ERAS draft reads the specialty-choice answer).
"""

from __future__ import annotations

from typing import Any

from flows.base.errors import NotFound, StaleButton
from flows.base.text import escape
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.eras import experience_title
from flows.engine.dialog import Dialog, End, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.features.common import experience_buttons, hub_button, short
from flows.storage.experiences import Experience, get_experience, list_experiences
from flows.storage.reflections import (
    create_reflection,
    delete_reflection,
    get_reflection,
    list_reflections,
    migrations,
    reflection_for,
    save_reflection_answer,
)

FLOW = "reflect"
ANSWER_LIMIT = 4000
PREVIEW = 300  # characters of each answer shown in the overview
MAX_LISTED = 20

# The prompts, in order: step -> column. Button codes for editing one answer from the card.
FIELDS = {"cases": "cases", "skills": "skills", "choice": "specialty_choice", "differences": "differences"}
CODES = {"c": "cases", "s": "skills", "h": "choice", "d": "differences"}


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)


class Reflections(Feature):
    name = "reflections"
    prefix = "rf"
    migrations = migrations

    def __init__(self) -> None:
        self.questions = Dialog(
            FLOW,
            "r",
            [
                Step(name, StepKind.TEXT, f"reflections.ask_{name}", field=column_name, limit=ANSWER_LIMIT, skip=True)
                for name, column_name in FIELDS.items()
            ],
            load=self._answers,
            save=self._save,
            finish=self._finish,
            scope=lambda turn: turn.session.data.get("id", ""),  # a button under another reflection is stale
            title="reflections.title_flow",
            words={
                "current": "reflections.current",
                "current_none": "reflections.edit_empty",
                "button_keep": "reflections.button_keep",
                "button_skip": "reflections.button_skip",
                "empty": "reflections.empty_answer",
                "trimmed": "reflections.trimmed",
            },
        )
        self.dialogs = (self.questions,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"reflect": self.overview}

    # -- listing -------------------------------------------------------------------------------
    def overview(self, turn: Turn, args: str = "") -> list[Reply]:
        rows = list_reflections(turn.store, turn.user_id)
        titles = self._titles(turn)
        text = turn.t("reflections.intro")
        if rows:
            text += "\n" + turn.t("reflections.saved_count", count=len(rows))
        buttons = [
            Button(short(f"📝 {self._title(turn, row, titles)} · {row['created_at'][:10]}"), f"rf:v:{row['id']}")
            for row in rows[:MAX_LISTED]
        ]
        return [
            Reply(
                text,
                (*column(buttons, 1),
                 *keyboard([Button(turn.t("reflections.button_new"), "rf:n")], [hub_button(turn)])),
            )
        ]

    def _titles(self, turn: Turn) -> dict[int, str]:
        return {e.id: experience_title(e) for e in list_experiences(turn.store, turn.user_id)}

    def _title(self, turn: Turn, row: dict[str, Any], titles: dict[int, str] | None = None) -> str:
        exp_id = row["experience_id"]
        if exp_id is None:
            return turn.t("reflections.general")
        if titles is not None:
            return titles.get(exp_id) or turn.t("reflections.experience_gone")
        try:
            return experience_title(get_experience(turn.store, turn.user_id, exp_id))
        except NotFound:
            return turn.t("reflections.experience_gone")

    # -- starting one --------------------------------------------------------------------------
    def choose(self, turn: Turn) -> list[Reply]:
        logged = list_experiences(turn.store, turn.user_id)
        experiences = [e for e in logged if e.status != "planned"]  # nothing to reflect on before it starts
        if logged and not experiences:
            buttons = keyboard(
                [Button(turn.t("reflections.button_anyway"), "rf:n:0")],
                [Button(turn.t("reflections.button_list"), "rf:l")],
            )
            return [Reply(turn.t("reflections.only_planned"), buttons)]
        if not experiences:
            buttons = keyboard(
                [Button(turn.t("reflections.button_log"), "go:log")],
                [Button(turn.t("reflections.button_anyway"), "rf:n:0")],
                [Button(turn.t("reflections.button_list"), "rf:l")],
            )
            return [Reply(turn.t("reflections.no_experiences"), buttons)]
        picks = experience_buttons(experiences, "rf:n:")
        extra = keyboard(
            [Button(turn.t("reflections.button_unlinked"), "rf:n:0")],
            [Button(turn.t("reflections.button_list"), "rf:l")],
        )
        return [Reply(turn.t("reflections.pick_experience"), (*column(picks, 1), *extra))]

    def start(self, turn: Turn, experience_id: int) -> list[Reply]:
        exp: Experience | None = None
        if experience_id:
            exp = get_experience(turn.store, turn.user_id, experience_id)
            if exp.status == "planned":  # an old button, or the experience was changed since
                return [Reply(turn.t("reflections.not_started", title=experience_title(exp)),
                              keyboard([Button(turn.t("reflections.button_list"), "rf:l")]))]
            existing = reflection_for(turn.store, turn.user_id, exp.id)
            if existing:  # one reflection per experience: open it rather than start a second
                return self.view(turn, existing)
        reflection_id = create_reflection(turn.store, turn.user_id, exp.id if exp else None, turn.now)
        return self.questions.begin(turn, data={"id": reflection_id})

    # -- the dialog's hooks ---------------------------------------------------------------------
    def _answers(self, turn: Turn) -> dict[str, Any]:
        reflection = self._current(turn)
        return {column_name: reflection[column_name] for column_name in FIELDS.values()}

    def _current(self, turn: Turn) -> dict[str, Any]:
        reflection_id = turn.session.data.get("id")
        if not isinstance(reflection_id, int):
            turn.session.leave()
            raise NotFound()
        try:
            return get_reflection(turn.store, turn.user_id, reflection_id)
        except NotFound:
            turn.session.leave()
            raise

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        save_reflection_answer(turn.store, turn.user_id, self._current(turn)["id"], step.key, value, turn.now)
        turn.changed.add("reflections")

    def _finish(self, turn: Turn, end: End) -> list[Reply]:
        reflection_id = int(end.data["id"])
        if end.edited:
            return self.view(turn, reflection_id)
        turn.store.record_completion(turn.user_id, "reflection", turn.now)
        return [Reply(turn.t("reflections.done")), *self.view(turn, reflection_id)]

    # -- one reflection ------------------------------------------------------------------------
    def view(self, turn: Turn, reflection_id: int) -> list[Reply]:
        row = get_reflection(turn.store, turn.user_id, reflection_id)
        lines = [turn.t("reflections.view_head", title=self._title(turn, row), date=row["created_at"][:10])]
        shortened = False
        for state, column_name in FIELDS.items():
            value = row[column_name] or ""
            preview = short(value, PREVIEW) if value else turn.t("reflections.empty_field")
            shortened = shortened or len(value) > PREVIEW
            lines.append(f"\n<b>{turn.t(f'reflections.label_{state}')}</b>\n{escape(preview)}")
        if shortened:
            lines.append("\n" + turn.t("reflections.more"))
        edits = [
            Button(turn.t(f"reflections.button_edit_{state}"), f"rf:e:{reflection_id}:{code}")
            for code, state in CODES.items()
        ]
        buttons = (
            *column(edits, 2),
            *keyboard(
                [Button(turn.t("reflections.button_full"), f"rf:f:{reflection_id}"),
                 Button(turn.t("reflections.button_delete"), f"rf:x:{reflection_id}")],
                [Button(turn.t("reflections.button_list"), "rf:l")],
            ),
        )
        return [Reply("\n".join(lines), buttons)]

    def full_text(self, turn: Turn, reflection_id: int) -> list[Reply]:
        row = get_reflection(turn.store, turn.user_id, reflection_id)
        replies = [Reply(turn.t("reflections.view_head", title=self._title(turn, row), date=row["created_at"][:10]))]
        for state, column_name in FIELDS.items():
            value = row[column_name] or turn.t("reflections.empty_field")
            replies.append(Reply(f"<b>{turn.t(f'reflections.label_{state}')}</b>\n{escape(value)}"))
        replies[-1] = Reply(
            replies[-1].text, ((Button(turn.t("reflections.button_list"), f"rf:v:{reflection_id}"),),)
        )
        return replies

    def edit(self, turn: Turn, reflection_id: int, code: str) -> list[Reply]:
        if code not in CODES:
            raise StaleButton()
        get_reflection(turn.store, turn.user_id, reflection_id)
        return self.questions.begin(turn, at=CODES[code], data={"id": reflection_id}, only=True)

    def confirm_delete(self, turn: Turn, reflection_id: int) -> list[Reply]:
        get_reflection(turn.store, turn.user_id, reflection_id)
        buttons = keyboard(
            [Button(turn.t("reflections.button_confirm_delete"), f"rf:X:{reflection_id}"),
             Button(turn.t("reflections.button_list"), f"rf:v:{reflection_id}")]
        )
        return [Reply(turn.t("reflections.confirm_delete"), buttons)]

    def delete(self, turn: Turn, reflection_id: int) -> list[Reply]:
        delete_reflection(turn.store, turn.user_id, reflection_id)
        turn.changed.add("reflections")
        if turn.session.flow == FLOW and turn.session.data.get("id") == reflection_id:
            turn.session.leave()
        return [Reply(turn.t("reflections.deleted")), *self.overview(turn)]

    # -- routing -------------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "l" and not rest:
            return self.overview(turn)
        if action == "n":
            return self.choose(turn) if not rest else self.start(turn, _id(rest))
        if action == "e":
            reflection_id, _, code = rest.partition(":")
            return self.edit(turn, _id(reflection_id), code)
        handlers = {"v": self.view, "f": self.full_text, "x": self.confirm_delete, "X": self.delete}
        if action in handlers:
            return handlers[action](turn, _id(rest))
        raise StaleButton()
