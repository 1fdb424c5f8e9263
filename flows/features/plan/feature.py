"""Goal clarification: a short conversation whose answers become the personal USCE plan.

Commands: /plan (the plan, or the questions first if they are not finished) and /profile
(the answers, each one changeable on its own). Menu: "🎯 My plan", "👤 Profile".

The questions are declared once as steps (:mod:`.questions`) and run as two dialogs: the
first run (flow ``onboarding``, "Step k of n", the step reached saved as ``onboarding_step``
so a returning user continues where they stopped, even after /cancel) and changing one answer
from /profile (flow ``profile``, with the follow-ups that answer needs; Back leaves it as it
was). Every answer is written to ``profiles`` the moment it is given.

Button data (prefix ``ob``): ``s`` start or continue the questions; ``e:<state>`` change one
answer; ``p:<screen>`` a screen of the plan. The dialogs' own buttons are ``ob:~o:…`` and
``ob:~p:…`` (see :mod:`flows.engine.dialog`).
"""

from __future__ import annotations

from typing import Any

from flows.base.errors import StaleButton
from flows.base.types import Button, Reply, column
from flows.domain import plan_view
from flows.domain.plan import Rules, build_plan, load_rules
from flows.engine.dialog import ONLY, Ask, Dialog, End, Step
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.features.plan.questions import EDITABLE, FOLLOW_UPS, STEP, TOTAL_STEPS, Goals, answers_of
from flows.storage.experiences import list_experiences
from flows.storage.profiles import Profile, load_profile, save_answer
from flows.storage.profiles import migrations as profile_migrations

FLOW = "onboarding"
EDIT_FLOW = "profile"
WORDS = {  # the dialogs' shared texts in this flow's own words
    "current": "onboarding.current",
    "mark_on": "onboarding.mark_on",
    "button_back": "onboarding.button_back",
    "button_keep": "onboarding.button_keep",
    "button_skip": "onboarding.button_skip",
    "button_done": "onboarding.button_done",
    "empty": "onboarding.bad_empty",
}


class Onboarding(Feature):
    name = "onboarding"
    prefix = "ob"
    migrations = profile_migrations
    menu_items = (
        MenuEntry("onboarding.menu_plan", "plan", 10),
        MenuEntry("onboarding.menu_profile", "profile", 70, section="settings"),
    )
    deep_links = ("plan",)

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or load_rules()
        self.goals = Goals(self.rules)
        steps = self.goals.steps()
        self.questions = Dialog(
            FLOW, "o", steps, load=self.goals.load, save=self.goals.save, finish=self._finished,
            header=self._step_header, title="onboarding.flow_title", words=WORDS, moved=self._moved,
        )
        self.changes = Dialog(
            EDIT_FLOW, "p", steps, load=self._change_answers, save=self._save_change, finish=self._changed,
            header=self._change_header, title="onboarding.edit_flow_title", words=WORDS, back_keeps=True,
        )
        self.dialogs = (self.questions, self.changes)

    def commands(self) -> dict[str, CommandHandler]:
        return {"plan": self.plan, "profile": self.profile}

    def help_keys(self) -> tuple[str, ...]:
        return ("onboarding.help_plan", "onboarding.help_profile")

    # -- entry points -------------------------------------------------------------------------
    def on_start(self, turn: Turn) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if profile is not None and profile.complete:
            return []
        key = "onboarding.offer" if profile is None or profile.status is None else "onboarding.offer_continue"
        return [Reply(turn.t(key, n=TOTAL_STEPS), ((Button(turn.t("onboarding.button_begin"), "ob:s"),),))]

    def plan(self, turn: Turn, args: str) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if profile is not None and profile.complete:
            return self._plan_replies(turn, profile)
        if turn.session.flow == FLOW:
            return [Reply(turn.t("onboarding.finish_first"))]  # the engine adds "Continue?"
        step = profile.onboarding_step if profile and profile.onboarding_step in STEP else None
        if step in (None, "status"):
            intro = turn.t("onboarding.intro", n=TOTAL_STEPS)
        else:
            intro = turn.t("onboarding.intro_back", k=STEP[step or ""], n=TOTAL_STEPS)
        return [Reply(intro), *self.questions.begin(turn, at=step)]

    def profile(self, turn: Turn, args: str) -> list[Reply]:
        return [self._profile_view(turn, load_profile(turn.store, turn.user_id))]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "s" and not rest:
            if turn.session.flow == FLOW:
                return self.questions.show(turn)
            return self.plan(turn, "")
        if action == "e":
            return self._change(turn, rest)
        if action == "p":  # a screen of the plan: the card, a section, the full plan
            profile = load_profile(turn.store, turn.user_id)
            if profile is None or not profile.complete:
                raise StaleButton()
            return self._plan_replies(turn, profile, rest, pressed=True)
        raise StaleButton()

    # -- the first run ----------------------------------------------------------------------------
    def _step_header(self, ask: Ask) -> str:
        return ask.t("onboarding.step", k=STEP[ask.step.name], n=TOTAL_STEPS)

    def _moved(self, turn: Turn, state: str) -> None:
        """The step reached is saved, so /plan continues there (nothing is stored before an answer)."""
        if state == "status" and load_profile(turn.store, turn.user_id) is None:
            return
        save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), onboarding_step=state)

    def _finished(self, turn: Turn, end: End) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id) or Profile(turn.user_id)
        if not profile.complete:
            save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"),
                        completed_at=turn.now.isoformat(timespec="seconds"))
        turn.store.record_completion(turn.user_id, "onboarding", turn.now)
        turn.changed.add("profile")
        profile = load_profile(turn.store, turn.user_id) or profile
        return [Reply(turn.t("onboarding.finished")), *self._plan_replies(turn, profile)]

    # -- changing one answer ------------------------------------------------------------------------
    def _change(self, turn: Turn, state: str) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if state not in EDITABLE or profile is None or not profile.complete:
            raise StaleButton()
        return self.changes.begin(turn, at=state, only=True, follow=FOLLOW_UPS.get(state, ()))

    def _change_header(self, ask: Ask) -> str:
        return ask.t("onboarding.editing", field=ask.t(f"onboarding.field_{ask.step.name}"))

    def _change_answers(self, turn: Turn) -> dict[str, Any]:
        data = turn.session.data
        if "edit" in data and ONLY not in data:  # a change begun before the questions were a dialog
            data[ONLY] = [data.pop("edit"), *data.pop("follow", [])]
            turn.session.dirty = True
        return self.goals.load(turn)

    def _save_change(self, turn: Turn, step: Step, value: Any) -> None:
        only = turn.session.data.get(ONLY)
        if step.name == "status" and only:  # the same status again: the graduation year stands
            before = load_profile(turn.store, turn.user_id)
            if before is not None and before.status == value:
                turn.session.data[ONLY] = [s for s in only if s != "grad_year"]
                turn.session.dirty = True
        self.goals.save(turn, step, value)

    def _changed(self, turn: Turn, end: End) -> list[Reply]:
        note = None if end.kept else "onboarding.saved"
        return [self._profile_view(turn, load_profile(turn.store, turn.user_id), note=note)]

    # -- the profile and the plan -------------------------------------------------------------------
    def _profile_view(self, turn: Turn, profile: Profile | None, note: str | None = None) -> Reply:
        t = turn.t
        if profile is None or (profile.status is None and not profile.complete):
            return Reply(t("onboarding.profile_empty"), ((Button(t("onboarding.button_begin"), "ob:s"),),))
        answers = answers_of(profile)
        lines = [t(note)] if note else []
        lines.append(t("onboarding.profile_title"))
        for state in EDITABLE:
            value = self.goals.answer_text(turn, answers, state)
            if state == "gaps" and not value and profile.complete:
                value = t("onboarding.value_no_gaps")
            lines.append(t("onboarding.profile_line", field=t(f"onboarding.field_{state}"), value=value or "—"))
        if profile.complete:
            lines.append(t("onboarding.profile_hint"))
            edits = [Button(t(f"onboarding.field_{s}"), f"ob:e:{s}") for s in EDITABLE]
            buttons = (*column(edits, 2), (Button(t("onboarding.menu_plan"), "go:plan"),))
            return Reply("\n".join(lines), buttons)
        lines.append(t("onboarding.profile_incomplete"))
        if turn.session.flow == FLOW:
            return Reply("\n".join(lines))  # the engine adds "Continue?"
        return Reply("\n".join(lines), ((Button(t("onboarding.button_continue"), "ob:s"),),))

    def _plan_replies(self, turn: Turn, profile: Profile, screen: str = "card", pressed: bool = False) -> list[Reply]:
        experiences = list_experiences(turn.store, turn.user_id)
        today = self.goals.today(turn, answers_of(profile))
        plan = build_plan(profile, today, self.rules, experiences=experiences)
        replies = plan_view.plan_replies(screen, plan, profile, turn.t, self.rules, replace=pressed)
        if replies is None:  # a screen this plan no longer has
            raise StaleButton()
        return replies
