"""The experience tracker: /log records a US experience step by step, /experiences lists
them for changing or deleting, /progress compares them with the guide's benchmarks and
/timeline draws them on the application timeline.

/log and changing one field from a card are two Dialogs over the same steps (``steps.py``):
``tracker_log`` runs them all over a draft row, ``tracker_edit`` one of them over a logged
experience (``begin(at=field, only=True)``). Button data (prefix ``tr``):

- ``tr:~l:…`` / ``tr:~e:…``  the dialogs' own buttons (dialog.py)
- ``tr:c`` / ``tr:n``       continue the unfinished /log, or drop it and start over
- ``tr:ls``                the list; ``tr:e:<id>`` one experience's card
- ``tr:f:<id>:<field>``    change one field (opens ``tracker_edit`` at that step)
- ``tr:d:<id>`` / ``tr:dy:<id>``  ask to delete / delete

Every /log answer is written to the ``experiences`` table the moment it is given: the
record stays a *draft* (``draft`` = the step it waits at, invisible to other features)
until the last answer, so /cancel, a restart or a crash loses nothing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flows.base.errors import NotFound, StaleButton
from flows.base.text import to_plain
from flows.base.types import Attachment, Button, Keyboard, Reply, column
from flows.domain.checks import render_warnings, run_checks
from flows.domain.readiness import assess, benchmarks, render
from flows.engine.dialog import DONE, Dialog, End, Step
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.features.log import views
from flows.features.log.steps import (
    CHOICES,
    EDIT,
    LOG,
    STEPS,
    answers_of,
    month_name,
    profile_of,
    steps,
    stored,
    this_month,
)
from flows.storage.experiences import (
    Experience,
    create_draft,
    delete_experience,
    get_draft,
    get_experience,
    list_experiences,
    migrations,
    month_index,
    update_experience,
)

__all__ = ["CHOICES", "EDIT", "LOG", "STEPS", "Tracker"]

_ID = re.compile(r"\d{1,12}")
WORDS = {"bad_choice": "tracker.bad_choice", "button_skip": "tracker.button_skip"}


def _id(text: str) -> int:
    if not _ID.fullmatch(text):
        raise StaleButton()
    return int(text)


def _now(turn: Turn) -> str:
    return turn.now.isoformat(timespec="seconds")


def record_id(turn: Turn) -> object:
    """The experience a change is about: its buttons carry the id, so one left under another
    experience's card is stale."""
    return turn.session.data.get("id", "")


class Tracker(Feature):
    name = "tracker"
    prefix = "tr"
    migrations = migrations
    menu_items = (
        MenuEntry("tracker.menu_log", "log", 20, section="usce"),
        MenuEntry("tracker.menu_list", "experiences", 21, section="usce"),
        MenuEntry("tracker.menu_progress", "progress", 22, section="usce"),
        MenuEntry("tracker.menu_timeline", "timeline", 23, section="usce"),
    )
    deep_links = ("log", "progress")

    def __init__(self) -> None:
        self.logging = Dialog(LOG, "l", steps(), load=self._draft_answers, save=self._save_draft,
                              finish=self._logged, title="tracker.title_log", words=WORDS, moved=self._moved)
        self.editing = Dialog(EDIT, "e", steps(title=self._edited_title), load=self._answers, save=self._save,
                              finish=self._saved, title="tracker.title_edit",
                              words={**WORDS, "current_none": "tracker.current_none"}, scope=record_id)
        self.dialogs = (self.logging, self.editing)

    def commands(self) -> dict[str, CommandHandler]:
        return {
            "log": self.log,
            "experiences": self.experiences,
            "progress": self.progress,
            "timeline": self.timeline,
        }

    def help_keys(self) -> tuple[str, ...]:
        return ("tracker.help_log", "tracker.help_list", "tracker.help_progress", "tracker.help_timeline")

    # -- /log over a draft row --------------------------------------------------------------------
    def log(self, turn: Turn, args: str) -> list[Reply]:
        draft = get_draft(turn.store, turn.user_id)
        if draft is None:
            return self.logging.begin(turn)
        if turn.session.flow == LOG:
            turn.session.leave()
        buttons = ((Button(turn.t("tracker.button_continue_draft"), "tr:c"),
                    Button(turn.t("tracker.button_start_over"), "tr:n")),)
        return [Reply(turn.t("tracker.draft_found", summary=views.draft_summary(turn, draft)), buttons)]

    def _draft(self, turn: Turn) -> dict[str, Any] | None:
        """The draft the /log dialog is filling in (None before the first answer)."""
        draft_id = turn.session.data.get("id")
        if draft_id is None:
            return None
        draft = get_draft(turn.store, turn.user_id, int(draft_id))
        if draft is None:  # gone (deleted elsewhere): nothing to continue
            turn.session.leave()
            raise NotFound()
        return draft

    def _draft_answers(self, turn: Turn) -> dict[str, Any]:
        return answers_of(self._draft(turn))

    def _save_draft(self, turn: Turn, step: Step, value: Any) -> None:
        draft = self._draft(turn)
        fields = stored(step.name, value, answers_of(draft))
        if draft is None:  # the first answer makes the row
            turn.session.data["id"] = create_draft(turn.store, turn.user_id, _now(turn), step.name, **fields)
            turn.session.dirty = True
        else:
            update_experience(turn.store, turn.user_id, int(draft["id"]), _now(turn), **fields)

    def _moved(self, turn: Turn, state: str) -> None:
        """The draft remembers the step it waits at (at the end, ``_logged`` finishes it)."""
        draft_id = turn.session.data.get("id")
        if draft_id is not None and state != DONE:
            update_experience(turn.store, turn.user_id, int(draft_id), _now(turn), draft=state)

    def _logged(self, turn: Turn, end: End) -> list[Reply]:
        draft_id = end.data.get("id")
        if draft_id is None:  # nothing was answered
            return [turn.engine.main_menu(turn)]
        update_experience(turn.store, turn.user_id, int(draft_id), _now(turn), draft=None)  # no longer a draft
        turn.store.record_completion(turn.user_id, "log", turn.now)
        turn.changed.add("experiences")
        return [views.logged_reply(turn, get_experience(turn.store, turn.user_id, int(draft_id)))]

    def _continue(self, turn: Turn) -> list[Reply]:
        draft = get_draft(turn.store, turn.user_id)
        if draft is None:
            raise StaleButton()
        step = draft["draft"] if draft["draft"] in STEPS else "type"
        return self.logging.begin(turn, at=step, data={"id": draft["id"]})

    def _start_over(self, turn: Turn) -> list[Reply]:
        draft = get_draft(turn.store, turn.user_id)
        if draft is not None:
            delete_experience(turn.store, turn.user_id, int(draft["id"]))
        return self.logging.begin(turn)

    # -- changing one field of a logged experience ------------------------------------------------
    def change(self, turn: Turn, exp: Experience, field: str) -> list[Reply]:
        if field not in STEPS:
            raise StaleButton()
        was = {"type": exp.type, "end": exp.end}  # to tell what a change moved along with it
        replies = self.editing.begin(turn, at=field, data={"id": exp.id, "was": was}, only=True)
        if field in CHOICES:  # the choices take the card's place; a typed answer comes below it
            replies = [dataclasses.replace(reply, replace=True) for reply in replies]
        return replies

    def _experience(self, turn: Turn) -> Experience:
        try:
            return get_experience(turn.store, turn.user_id, int(turn.session.data.get("id", 0)))
        except NotFound:
            turn.session.leave()
            raise

    def _edited_title(self, turn: Turn) -> str:
        return views.title(turn, self._experience(turn))

    def _answers(self, turn: Turn) -> dict[str, Any]:
        return answers_of(dataclasses.asdict(self._experience(turn)))

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        exp = self._experience(turn)
        fields = stored(step.name, value, answers_of(dataclasses.asdict(exp)))
        update_experience(turn.store, turn.user_id, exp.id, _now(turn), **fields)
        turn.changed.add("experiences")

    def _saved(self, turn: Turn, end: End) -> list[Reply]:
        exp = get_experience(turn.store, turn.user_id, int(end.data["id"]))
        if end.kept:
            return [views.card_reply(turn, exp)]
        was = end.data.get("was") or {}
        note = turn.t("tracker.saved")
        if end.edited == "start" and was.get("end") not in (None, exp.end):
            note += " " + turn.t("tracker.end_moved", end=month_name(turn, month_index(exp.end)))
        if end.edited == "type" and was.get("type") not in (None, exp.type):
            note += " " + turn.t("tracker.type_changed_level", level=views.label(turn, "level", exp.level))
        return [views.card_reply(turn, exp, note)]

    def _leave_edit(self, turn: Turn, exp_id: int | None = None) -> None:
        if turn.session.flow == EDIT and exp_id in (None, turn.session.data.get("id")):
            turn.session.leave()

    # -- /experiences: list, card, delete; the buttons ------------------------------------------
    def experiences(self, turn: Turn, args: str) -> list[Reply]:
        return [views.list_reply(turn)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        kind, _, rest = payload.partition(":")
        if kind == "c" and not rest:
            return self._continue(turn)
        if kind == "n" and not rest:
            return self._start_over(turn)
        if kind == "ls" and not rest:
            self._leave_edit(turn)
            return [views.list_reply(turn, replace=True)]
        if kind == "f":
            raw_id, _, field = rest.partition(":")
            return self.change(turn, get_experience(turn.store, turn.user_id, _id(raw_id)), field)
        if kind not in ("e", "d", "dy"):
            raise StaleButton()
        exp = get_experience(turn.store, turn.user_id, _id(rest))
        if kind == "e":
            self._leave_edit(turn)
            return [views.card_reply(turn, exp)]
        if kind == "d":
            return [views.delete_question(turn, exp)]
        delete_experience(turn.store, turn.user_id, exp.id)
        turn.changed.add("experiences")
        self._leave_edit(turn, exp.id)
        return [views.list_reply(turn, replace=True, note=turn.t("tracker.deleted"))]

    # -- /progress and /timeline ---------------------------------------------------------------
    def progress(self, turn: Turn, args: str) -> list[Reply]:
        profile = profile_of(turn)
        today = turn.now.date()
        result = assess(list_experiences(turn.store, turn.user_id), profile, today, benchmarks())
        warnings = render_warnings(run_checks(profile, result, today), turn.t)
        buttons: list[Button] = []
        step = result.next_step.key
        if step in ("first", "first_logged", "usce", "hands_on", "observership", "add_hands_on", "specialty",
                    "recent", "letter_plan"):
            buttons.append(Button(turn.t("tracker.menu_log"), "go:log"))
        if step in ("letter_ask", "letter_follow", "letters_ideal", "on_track") or warnings:
            buttons.append(Button(turn.t("tracker.menu_list"), "go:experiences"))
        if (result.application is None or step == "goals") and "plan" in turn.engine.command_names:
            buttons.append(Button(turn.t("tracker.progress.button_goals"), "go:plan"))
        buttons.append(Button(turn.t("tracker.menu_timeline"), "go:timeline"))
        return [Reply(render(result, turn.t, warnings), column(buttons, 2))]

    def timeline(self, turn: Turn, args: str) -> list[Reply]:
        from flows.domain import timeline_image  # Pillow only when a picture is asked for

        profile = profile_of(turn)
        application = profile.application_date if profile else None

        def label(key: str, **values: object) -> str:
            name = key if key.startswith("tracker.") else f"tracker.timeline.{key}"
            return to_plain(turn.t(name, **values))

        experiences = list_experiences(turn.store, turn.user_id)
        # Drawn as readiness counts them: status from the dates, level as the guide's hierarchy caps it.
        counted = assess(experiences, profile, turn.now.date(), benchmarks()).counted
        png = timeline_image.png(timeline_image.render(
            [dataclasses.replace(c.experience, status=c.status, level=c.level) for c in counted],
            month_index(application) if application else None,
            this_month(turn),
            timeline_image.windows(application, label),
            label,
            turn.t("tracker.months"),
        ))
        caption = turn.t("tracker.timeline.caption" if application else "tracker.timeline.caption_no_application")
        if application:  # the same dates as /plan and /progress
            caption += "\n" + turn.t("readiness.apply_match", month=month_name(turn, month_index(application)),
                                      match=application.year + 1)
        buttons: Keyboard = (
            (Button(turn.t("tracker.button_log_another" if experiences else "tracker.menu_log"), "go:log"),
             Button(turn.t("tracker.button_progress"), "go:progress")),
            (Button(turn.t("core.button_menu"), "go:menu"),),
        )
        return [Reply(caption, buttons, attachment=Attachment("timeline.png", png, kind="photo"))]
