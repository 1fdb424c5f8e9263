"""ERAS experience entries (/eras): a draft from a tracked experience.

How an experience is named and drafted is ``flows/domain/eras.py``; the specialty-choice
answer of its reflection, if any, is read from ``flows/storage/reflections.py``.
"""

from __future__ import annotations

from flows.base.errors import StaleButton
from flows.base.text import escape
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.eras import LEVELS, content, effective_level, eras_draft
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.features.common import experience_buttons, hub_button, no_experiences, pre, short
from flows.storage.experiences import get_experience, list_experiences
from flows.storage.reflections import specialty_choice


class Eras(Feature):
    name = "eras"
    prefix = "er"

    def commands(self) -> dict[str, CommandHandler]:
        return {"eras": self.choose}

    def choose(self, turn: Turn, args: str) -> list[Reply]:
        experiences = list_experiences(turn.store, turn.user_id)
        if not experiences:
            return no_experiences(turn, "eras.no_experiences")
        buttons = experience_buttons(experiences, "er:x:")
        return [Reply(turn.t("eras.intro"), (*column(buttons, 1), (hub_button(turn),)))]

    def draft(self, turn: Turn, experience_id: int) -> list[Reply]:
        exp = get_experience(turn.store, turn.user_id, experience_id)
        draft = eras_draft(exp, turn.t("eras.months"))
        level = effective_level(exp)
        notes = [turn.t("eras.note_planned")] if exp.status == "planned" else []
        notes.append(turn.t(f"eras.note_{level}"))
        if exp.level in LEVELS and LEVELS.index(exp.level) > LEVELS.index(level):
            notes.append(turn.t("eras.note_capped", type=content().type_titles.get(exp.type, exp.type).lower()))
        reflected = specialty_choice(turn.store, turn.user_id, exp.id)
        if reflected:
            notes.append(turn.t("eras.note_reflection", text=short(reflected, 400)))
        notes.append(turn.t("eras.note_tip"))
        turn.store.record_completion(turn.user_id, "eras", turn.now)
        buttons = keyboard([Button(turn.t("eras.button_other"), "er:l")], [hub_button(turn)])
        return [Reply(turn.t("eras.draft_intro")), pre(escape(draft)), Reply("\n".join(notes), buttons)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "l" and not rest:
            return self.choose(turn, "")
        if action == "x" and rest.isdigit() and len(rest) <= 12:
            return self.draft(turn, int(rest))
        raise StaleButton()
