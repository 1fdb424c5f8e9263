"""Letters of recommendation (/letters): how to ask, what to hand over, status per rotation.

The status lives on the tracker's ``experiences`` rows (``letter``, ``letter_writer``), so
/progress and this screen always agree; changes mark ``experiences`` as changed.
"""

from __future__ import annotations

from sqlite_utils import Migrations

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import clean
from flows.base.types import Button, Reply, column, keyboard
from flows.engine.engine import CommandHandler, Feature, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.features.email import get_applicant, hub_button, local_today, pre, profile_of
from flows.features.eras import experience_buttons, experience_title, no_experiences
from flows.storage.experiences import (
    Experience,
    get_experience,
    list_experiences,
    month_index,
    month_label,
    update_experience,
)

WRITER_LIMIT = 100
CODES = {"n": "none", "a": "asked", "p": "promised", "r": "received"}

WRITER = FlowSpec(
    name="letter_writer",
    states=["writer", "done"],
    transitions=[{"trigger": "answer", "source": "writer", "dest": "done"}],
    initial="writer",
)
WRITER_MACHINE = FlowMachine(WRITER)


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
    flows = (WRITER.name,)
    flow_titles = {WRITER.name: "letters.title_flow"}

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
        turn.session.enter(WRITER.name, WRITER.initial, {"id": experience_id})
        return self.prompt(turn)

    def prompt(self, turn: Turn) -> list[Reply]:
        experience_id = turn.session.data.get("id")
        if not isinstance(experience_id, int):
            turn.session.leave()
            return self.overview(turn)
        return [Reply(turn.t("letters.ask_writer"),
                      ((Button(turn.t("letters.button_skip"), f"lt:e:{experience_id}"),),))]

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        experience_id = turn.session.data.get("id")
        if not isinstance(experience_id, int):
            turn.session.leave()
            raise StaleButton()
        value = clean(text, WRITER_LIMIT + 1)
        if not value or len(value) > WRITER_LIMIT:
            raise InvalidAnswer(turn.t("letters.bad_writer", limit=WRITER_LIMIT))
        turn.session.state = WRITER_MACHINE.fire("answer", turn.session.state or WRITER.initial)
        turn.session.leave()
        update_experience(turn.store, turn.user_id, experience_id, turn.now.isoformat(timespec="seconds"),
                          letter_writer=value)
        turn.changed.add("experiences")
        return self.view(turn, experience_id, turn.t("letters.updated"))

    def how(self, turn: Turn) -> list[Reply]:
        buttons = keyboard(
            [Button(turn.t("letters.button_note"), "lt:m"), Button(turn.t("letters.button_list"), "lt:l")]
        )
        return [Reply(turn.t("letters.how"), buttons)]

    def note(self, turn: Turn) -> list[Reply]:
        profile = profile_of(turn.store, turn.user_id)
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
            if turn.session.flow == WRITER.name:
                turn.session.leave()  # "Skip" on the writer question, or another rotation
            return self.view(turn, _id(rest))
        if action == "w":
            return self.ask_writer(turn, _id(rest))
        if action == "s":
            experience_id, _, code = rest.partition(":")
            return self.set_status(turn, _id(experience_id), code)
        raise StaleButton()
