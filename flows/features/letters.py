"""Letters of recommendation (/letters): how to ask, what to hand over, status per rotation.

The status lives on the tracker's ``experiences`` rows (``letter``, ``letter_writer``), so
/progress and this screen always agree; changes mark ``experiences`` as changed.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Migrations

from flows.base.errors import NotFound, StaleButton
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.eras import experience_title
from flows.engine.dialog import Dialog, End, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.features.common import experience_buttons, hub_button, local_today, no_experiences, pre, read_name
from flows.storage.experiences import (
    Experience,
    get_experience,
    list_experiences,
    month_index,
    month_label,
    update_experience,
)
from flows.storage.outreach import get_applicant
from flows.storage.profiles import load_profile

WRITER_LIMIT = 100
CODES = {"n": "none", "a": "asked", "p": "promised", "r": "received"}

FLOW = "letter_writer"


def ask_now(exp: Experience, this_month: int) -> bool:
    """True in the last month of a rotation that has no letter asked for yet."""
    if (exp.letter or "none") != "none" or exp.status == "done":
        return False
    try:
        return month_index(exp.end) == this_month
    except (ValueError, AttributeError):
        return False


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)


class Letters(Feature):
    name = "letters"
    prefix = "lt"
    migrations: Migrations | None = None  # no table of its own: letters live on experiences

    def __init__(self) -> None:
        self.writer = Dialog(
            FLOW,
            "w",
            [Step("writer", StepKind.TEXT, "letters.ask_writer", field="letter_writer", limit=WRITER_LIMIT,
                  skip=True, empty="letters.bad_writer",
                  read=read_name(WRITER_LIMIT, "letters.bad_writer", "letters.odd_writer", "letters.heard_writer"))],
            load=self._writer_answers,
            save=self._save_writer,
            finish=self._writer_done,
            title="letters.title_flow",
            words={"button_skip": "letters.button_skip"},
        )
        self.dialogs = (self.writer,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"letters": self.overview}

    def overview(self, turn: Turn, args: str = "") -> list[Reply]:
        experiences = list_experiences(turn.store, turn.user_id)
        if not experiences:
            return no_experiences(turn, "letters.no_experiences")
        statuses = [e.letter or "none" for e in experiences]
        lines = [
            turn.t("letters.intro"),
            turn.t(
                "letters.counts",
                received=statuses.count("received"),
                promised=statuses.count("promised"),
                asked=statuses.count("asked"),
            ),
            turn.t("letters.aim"),
            "",
        ]
        this_month = month_index(local_today(turn))
        for exp in experiences:
            status = turn.t(f"letters.status_{exp.letter or 'none'}")
            if exp.letter_writer:
                lines.append(turn.t("letters.line_writer", title=experience_title(exp), status=status,
                                    writer=exp.letter_writer))
            else:
                lines.append(turn.t("letters.line", title=experience_title(exp), status=status))
            if ask_now(exp, this_month):
                lines.append(turn.t("letters.ask_now"))
        lines += ["", turn.t("letters.pick")]
        picks = experience_buttons(experiences, "lt:e:")
        buttons = (
            *column(picks, 1),
            *keyboard(
                [Button(turn.t("letters.button_how"), "lt:h"), Button(turn.t("letters.button_note"), "lt:m")],
                [hub_button(turn)],
            ),
        )
        return [Reply("\n".join(lines), buttons)]

    def view(self, turn: Turn, experience_id: int, note: str = "") -> list[Reply]:
        exp = get_experience(turn.store, turn.user_id, experience_id)
        current = exp.letter or "none"
        text = turn.t(
            "letters.view",
            title=experience_title(exp),
            status=turn.t(f"letters.status_{current}"),
            writer=exp.letter_writer or turn.t("letters.no_writer"),
        )
        if note:
            text = f"{note}\n{text}"
        statuses = [
            Button(turn.t(f"letters.button_status_{status}"), f"lt:s:{exp.id}:{code}")
            for code, status in CODES.items()
            if status != current
        ]
        buttons = (
            *column(statuses, 3),
            *keyboard(
                [Button(turn.t("letters.button_writer"), f"lt:w:{exp.id}"),
                 Button(turn.t("letters.button_list"), "lt:l")]
            ),
        )
        return [Reply(text, buttons)]

    def set_status(self, turn: Turn, experience_id: int, code: str) -> list[Reply]:
        if code not in CODES:
            raise StaleButton()
        exp = get_experience(turn.store, turn.user_id, experience_id)
        if CODES[code] == "received" and month_index(exp.start) > month_index(turn.now.date()):
            # a rotation still ahead cannot have brought a letter (readiness would not count it)
            starts = month_label(month_index(exp.start), turn.t("tracker.months"))
            return self.view(turn, exp.id, turn.t("letters.not_yet_received", month=starts))
        update_experience(turn.store, turn.user_id, exp.id, turn.now.isoformat(timespec="seconds"),
                          letter=CODES[code])
        turn.changed.add("experiences")
        if CODES[code] != "none" and not exp.letter_writer:
            return [Reply(turn.t("letters.updated")), *self.ask_writer(turn, exp.id)]
        return self.view(turn, exp.id, turn.t("letters.updated"))

    def ask_writer(self, turn: Turn, experience_id: int) -> list[Reply]:
        get_experience(turn.store, turn.user_id, experience_id)
        return self.writer.begin(turn, data={"id": experience_id})

    # -- the writer dialog's hooks ---------------------------------------------------------------
    def _experience_id(self, turn: Turn) -> int:
        experience_id = turn.session.data.get("id")
        if not isinstance(experience_id, int):
            turn.session.leave()
            raise StaleButton()
        return experience_id

    def _writer_answers(self, turn: Turn) -> dict[str, Any]:
        try:
            exp = get_experience(turn.store, turn.user_id, self._experience_id(turn))
        except NotFound:
            turn.session.leave()
            raise
        return {"letter_writer": exp.letter_writer}

    def _save_writer(self, turn: Turn, step: Step, value: Any) -> None:
        update_experience(turn.store, turn.user_id, self._experience_id(turn), turn.now.isoformat(timespec="seconds"),
                          letter_writer=value)
        turn.changed.add("experiences")
        turn.session.data["saved"] = 1
        turn.session.dirty = True

    def _writer_done(self, turn: Turn, end: End) -> list[Reply]:
        note = turn.t("letters.updated") if end.data.get("saved") else ""
        return self.view(turn, int(end.data["id"]), note)

    def how(self, turn: Turn) -> list[Reply]:
        buttons = keyboard(
            [Button(turn.t("letters.button_note"), "lt:m"), Button(turn.t("letters.button_list"), "lt:l")]
        )
        return [Reply(turn.t("letters.how"), buttons)]

    def note(self, turn: Turn) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        applicant = get_applicant(turn.store, turn.user_id)
        specialties = ", ".join(profile.specialties) if profile and profile.specialties else ""
        writers = [e.letter_writer for e in list_experiences(turn.store, turn.user_id)
                   if e.letter in ("asked", "promised") and e.letter_writer]
        note = turn.t(
            "letters.note",
            writer=writers[-1] if writers else turn.t("letters.note_writer"),
            specialties=specialties or turn.t("letters.note_specialties"),
            name=applicant.get("name") or turn.t("letters.note_name"),
        )
        turn.store.record_completion(turn.user_id, "letters", turn.now)
        buttons = keyboard([Button(turn.t("letters.button_list"), "lt:l")], [hub_button(turn)])
        return [Reply(turn.t("letters.note_intro")), pre(note), Reply(turn.t("letters.aim"), buttons)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "l" and not rest:
            return self.overview(turn)
        if action == "h" and not rest:
            return self.how(turn)
        if action == "m" and not rest:
            return self.note(turn)
        if action == "e":
            if turn.session.flow == FLOW:
                turn.session.leave()  # "Skip" on the writer question, or another rotation
            return self.view(turn, _id(rest))
        if action == "w":
            return self.ask_writer(turn, _id(rest))
        if action == "s":
            experience_id, _, code = rest.partition(":")
            return self.set_status(turn, _id(experience_id), code)
        raise StaleButton()
