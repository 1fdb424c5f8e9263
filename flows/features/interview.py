"""Interview practice (/interview): questions about US experience, STAR feedback, saved answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import field_validator, model_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Text, read, rule
from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import escape
from flows.base.types import Button, Reply, column, keyboard
from flows.domain import typed
from flows.domain.star import PARTS, StarCheck, check_star
from flows.engine.dialog import Ask, Dialog, End, Step, StepKind, read_by_kind
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.features.common import hub_button, short
from flows.storage.interview import (
    count_answers,
    delete_answer,
    get_answer,
    latest_answers,
    migrations,
    save_answer,
)

ANSWER_LIMIT = 4000
MAX_LISTED = 15
_ID = re.compile(r"[a-z][a-z0-9_]{0,19}")


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    label: str
    text: str


class _Question(ContentModel):
    id: Text
    label: Text
    text: Text

    @field_validator("id")
    @classmethod
    def _short(cls, ident: str) -> str:
        if not _ID.fullmatch(ident):
            raise rule(f"id {ident!r}: use a-z, 0-9 and _ (max 20)")
        return ident


class InterviewFile(ContentModel):
    """``content/interview.yaml``: the practice questions, ids unique."""

    questions: tuple[_Question, ...]

    @model_validator(mode="after")
    def _unique(self) -> InterviewFile:
        if not self.questions:
            raise rule("no questions", "questions")
        for n, question in enumerate(self.questions):
            if any(q.id == question.id for q in self.questions[:n]):
                raise rule(f"duplicate id {question.id!r}", "questions", n)
        return self


def load_questions(path: Path = CONTENT_DIR / "interview.yaml") -> tuple[Question, ...]:
    return tuple(Question(q.id, q.label, q.text) for q in read(path, InterviewFile).questions)


QUESTIONS = ContentFile("interview.yaml", load_questions)


def questions() -> dict[str, Question]:
    """The questions by id, as loaded at start."""
    return {q.id: q for q in QUESTIONS.value()}


FLOW = "interview"


def feedback_lines(turn: Turn, check: StarCheck) -> list[str]:
    """The STAR verdict as text lines: score, parts found, one line per missing part, the caveat."""
    lines = [turn.t("interview.score", score=check.score)]
    found = [turn.t(f"interview.part_{part}") for part in PARTS if check.found[part]]
    if found:
        lines.append(turn.t("interview.found", parts=" · ".join(found)))
    lines += [turn.t(f"interview.missing_{part}") for part in check.missing]
    if not check.missing:
        lines.append(turn.t("interview.all_found"))
    lines.append(turn.t("interview.heuristic"))
    return lines


def read_answer(ask: Ask, text: str) -> Any:
    """A practice answer (cut to the limit, and said so); a bare "skip", "no" or "idk" is not one."""
    if typed.move_of(text) is not None or typed.yes_no(text) is not None:
        raise InvalidAnswer(ask.t("interview.not_an_answer"))
    return read_by_kind(ask, text)


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)


class Interview(Feature):
    name = "interview"
    prefix = "iv"
    migrations = migrations

    def __init__(self) -> None:
        self.practice = Dialog(
            FLOW,
            "p",
            [Step("answer", StepKind.TEXT, "interview.ask", limit=ANSWER_LIMIT, keep=False, read=read_answer,
                  values=lambda ask: {"question": self._question(ask.turn).text})],
            load=self._answers,
            save=self._save,
            finish=self._feedback,
            title="interview.title_flow",
            words={"empty": "interview.empty_answer", "trimmed": "interview.trimmed"},
        )
        self.dialogs = (self.practice,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"interview": self.menu}

    def menu(self, turn: Turn, args: str = "") -> list[Reply]:
        saved = count_answers(turn.store, turn.user_id)
        text = turn.t("interview.intro")
        if saved:
            text += "\n" + turn.t("interview.saved_count", count=saved)
        picks = [Button(f"❓ {q.label}", f"iv:q:{q.id}") for q in questions().values()]
        buttons = (
            *column(picks, 1),
            *keyboard([Button(turn.t("interview.button_saved"), "iv:s")], [hub_button(turn)]),
        )
        return [Reply(text, buttons)]

    def ask(self, turn: Turn, question_id: str) -> list[Reply]:
        if question_id not in questions():
            raise StaleButton()
        return self.practice.begin(turn, data={"q": question_id})

    # -- the practice dialog's hooks -----------------------------------------------------------
    def _question(self, turn: Turn) -> Question:
        question = questions().get(str(turn.session.data.get("q")))
        if question is None:  # a question removed from content since
            turn.session.leave()
            raise StaleButton()
        return question

    def _answers(self, turn: Turn) -> dict[str, Any]:
        self._question(turn)
        return {}  # every try is a new saved answer: nothing to keep or show

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        check = check_star(value)
        question_id = self._question(turn).id
        saved = save_answer(turn.store, turn.user_id, question_id, value, check.as_json(), turn.now)
        turn.session.data["saved"] = saved
        turn.session.dirty = True

    def _feedback(self, turn: Turn, end: End) -> list[Reply]:
        saved = get_answer(turn.store, turn.user_id, int(end.data["saved"]))
        turn.store.record_completion(turn.user_id, "interview", turn.now)
        lines = [*feedback_lines(turn, StarCheck.from_json(saved.feedback)), "", turn.t("interview.saved")]
        buttons = keyboard(
            [Button(turn.t("interview.button_again"), f"iv:q:{saved.question_id}"),
             Button(turn.t("interview.button_other"), "iv:m")],
            [Button(turn.t("interview.button_saved"), "iv:s")],
        )
        return [Reply("\n".join(lines), buttons)]

    def saved(self, turn: Turn) -> list[Reply]:
        rows = latest_answers(turn.store, turn.user_id, MAX_LISTED)
        back = keyboard([Button(turn.t("interview.button_other"), "iv:m")], [hub_button(turn)])
        if not rows:
            return [Reply(turn.t("interview.saved_empty"), back)]
        known = questions()
        picks = []
        for saved in rows:
            question = known.get(saved.question_id)
            label = question.label if question else turn.t("interview.retired_question")
            score = StarCheck.from_json(saved.feedback).score
            picks.append(Button(short(f"{score}/4 · {label} · {saved.created_at[5:10]}"), f"iv:a:{saved.id}"))
        text = f"{turn.t('interview.saved_title')}\n{turn.t('interview.saved_pick')}"
        return [Reply(text, (*column(picks, 1), *back))]

    def view(self, turn: Turn, answer_id: int) -> list[Reply]:
        saved = get_answer(turn.store, turn.user_id, answer_id)
        question = questions().get(saved.question_id)
        check = StarCheck.from_json(saved.feedback)
        head = turn.t(
            "interview.answer_view",
            question=question.text if question else turn.t("interview.retired_question"),
            date=saved.created_at[:10],
            score=check.score,
        )
        parts = [head, "", escape(saved.answer)]
        if check.missing:
            missing = ", ".join(turn.t(f"interview.part_{p}") for p in check.missing)
            parts += ["", turn.t("interview.answer_missing", parts=missing)]
        again = [Button(turn.t("interview.button_again"), f"iv:q:{question.id}")] if question else []
        buttons = keyboard(
            [*again, Button(turn.t("interview.button_delete"), f"iv:x:{answer_id}")],
            [Button(turn.t("interview.button_saved"), "iv:s")],
        )
        return [Reply("\n".join(parts), buttons)]

    def confirm_delete(self, turn: Turn, answer_id: int) -> list[Reply]:
        get_answer(turn.store, turn.user_id, answer_id)
        buttons = keyboard(
            [Button(turn.t("interview.button_confirm_delete"), f"iv:X:{answer_id}"),
             Button(turn.t("interview.button_saved"), "iv:s")]
        )
        return [Reply(turn.t("interview.confirm_delete"), buttons)]

    def delete(self, turn: Turn, answer_id: int) -> list[Reply]:
        delete_answer(turn.store, turn.user_id, answer_id)
        return [Reply(turn.t("interview.deleted")), *self.saved(turn)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "m" and not rest:
            return self.menu(turn)
        if action == "s" and not rest:
            return self.saved(turn)
        if action == "q":
            return self.ask(turn, rest)
        handlers = {"a": self.view, "x": self.confirm_delete, "X": self.delete}
        if action in handlers:
            return handlers[action](turn, _id(rest))
        raise StaleButton()
