"""Application help: the /apply hub, cold-email drafts (/email) and the outreach log (/outreach).

Two dialogs: ``email`` asks what the draft needs beyond the profile (name, school, specialty —
each only when it is missing or asked to be changed — then the purpose), and ``outreach_add``
logs one contact (name, role, institution, the day it was sent), saving the row as soon as the
name is given. Records and rules are in :mod:`.outreach`, the log's screens in :mod:`.log`.
The pieces other features share with it are below it: widgets in ``flows/features/common.py``,
follow-up rules in ``flows/domain/outreach.py``, both tables in ``flows/storage/outreach.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import clean
from flows.base.types import Button, Reply, keyboard
from flows.domain import typed
from flows.domain.outreach import followup_days, settings
from flows.domain.plan import load_rules
from flows.engine.dialog import Ask, Dialog, End, Option, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.features.common import Reader, hub_button, local_today, pre, read_name, short
from flows.features.email import log
from flows.features.email.outreach import (
    ANSWERED,
    CONTACT_LIMIT,
    INSTITUTION_LIMIT,
    NAME_LIMIT,
    PURPOSES,
    ROLES,
    SCHOOL_LIMIT,
    SPECIALTY_LIMIT,
    STATUSES,
    Counts,
    count,
    email_draft,
    followups_due,
    hub,
    load_role_words,
    number,
    parse_sent_date,
    role_words,
    student_stage,
    update_entry,
    year_words,
)
from flows.storage.outreach import create_entry, get_applicant, get_entry, migrations, save_applicant
from flows.storage.profiles import Profile, load_profile

__all__ = [  # what the tests use from here
    "ANSWERED", "CONTACT_LIMIT", "INSTITUTION_LIMIT", "NAME_LIMIT", "PURPOSES", "ROLES", "SCHOOL_LIMIT",
    "SPECIALTY_LIMIT", "STATUSES", "Counts", "Outreach", "count", "email_draft", "followups_due", "hub",
    "load_role_words", "parse_sent_date", "read_place", "student_stage", "update_entry", "year_words",
]

EMAIL_FLOW = "email"
ADD_FLOW = log.ADD_FLOW
ASKS = "ask"  # session data: which of name, school and specialty this draft asks (decided when it opens)
MAX_SPECIALTY_BUTTONS = 4


# -- typed answers ------------------------------------------------------------------------------------
def read_place(limit: int, bad: str) -> Reader:
    """Reads the name of a school, an institution or a specialty: refused (never cut) past
    ``limit`` characters, and when it has no letter or is only "no", "not sure" or "skip"."""

    def read(ask: Ask, text: str) -> str:
        value = clean(text, limit + 1)
        plainly_not = typed.yes_no(value) is not None or typed.move_of(value) is not None
        if len(value) > limit or not any(ch.isalpha() for ch in value) or plainly_not:
            raise InvalidAnswer(ask.t(bad, limit=limit))
        return value

    return read


def read_sent_on(ask: Ask, text: str) -> str:
    today = local_today(ask.turn)
    day = parse_sent_date(text, today)
    if day is None or day.year < 2000:
        raise InvalidAnswer(ask.t("outreach.bad_date", example=today.isoformat()))
    if day > today:
        raise InvalidAnswer(ask.t("outreach.future_date"))
    return day.isoformat()


def sent_on_of(ask: Ask, value: Any) -> Any:
    """A press of Today or Yesterday as the day it names."""
    if value in ("t", "y"):
        return (local_today(ask.turn) - timedelta(days=1 if value == "y" else 0)).isoformat()
    return value


# -- the email's questions ----------------------------------------------------------------------------
def asks_name(answers: Mapping[str, Any]) -> bool:
    return "name" in answers.get(ASKS, ())


def asks_school(answers: Mapping[str, Any]) -> bool:
    return "school" in answers.get(ASKS, ())


def asks_specialty(answers: Mapping[str, Any]) -> bool:
    return "specialty" in answers.get(ASKS, ())


def gaps(applicant: Mapping[str, Any], profile: Profile | None, redo: bool, new_specialty: bool) -> list[str]:
    """What the draft has to ask: name and school when unknown (or to be changed), the specialty
    unless the profile names exactly one (or another one is wanted)."""
    specialties = profile.specialties if profile else ()
    asks = [field for field in ("name", "school") if redo or not applicant.get(field)]
    if new_specialty or len(specialties) != 1:
        asks.append("specialty")
    return asks


def specialties_of(ask: Ask) -> Sequence[str]:
    profile = load_profile(ask.turn.store, ask.turn.user_id)
    return profile.specialties[:MAX_SPECIALTY_BUTTONS] if profile else ()


def specialty_options(ask: Ask) -> list[Option]:
    return [Option(f"#{i}", short(name), plain=True) for i, name in enumerate(specialties_of(ask))]


def specialty_prompt(ask: Ask) -> str:
    return "outreach.ask_specialty" if specialties_of(ask) else "outreach.ask_specialty_type"


def read_specialty(ask: Ask, text: str) -> str:
    """A typed specialty, as the profile (or the list of known ones) spells it when it is one."""
    value = read_place(SPECIALTY_LIMIT, "outreach.bad_specialty")(ask, text)
    listed = {s.name: s.aliases for s in load_rules().specialties} | {name: () for name in specialties_of(ask)}
    found = typed.match_specialty(value, listed).name
    return found or value


def specialty_of(ask: Ask, value: Any) -> Any:
    """A press of one of the profile's specialties as its name."""
    listed = specialties_of(ask)
    if isinstance(value, str) and value.startswith("#") and value[1:].isdigit() and int(value[1:]) < len(listed):
        return listed[int(value[1:])]
    return value


def role_options() -> list[Option]:
    return [Option(code, f"outreach.role_{role}", role_words()[code]) for code, role in ROLES.items()]


# Old button data ``or:<action>:<value>`` -> the same press today: ``~<dialog>:<step>``, and the
# value's prefix (a specialty button's value was its position: now "#<position>").
LEGACY = {"pu": ("e:purpose", ""), "sp": ("e:specialty", "#"), "r": ("a:role", ""), "d": ("a:sent_on", "")}


class Outreach(Feature):
    name = "outreach"
    prefix = "or"
    migrations = migrations
    menu_items = (MenuEntry("outreach.menu_apply", "apply", order=60),)

    def __init__(self) -> None:
        self.drafting = Dialog(
            EMAIL_FLOW,
            "e",
            [
                Step("name", StepKind.TEXT, "outreach.ask_name", limit=NAME_LIMIT, when=asks_name,
                     empty="outreach.bad_name",
                     read=read_name(NAME_LIMIT, "outreach.bad_name", "outreach.odd_name", "outreach.heard_name")),
                Step("school", StepKind.TEXT, "outreach.ask_school", limit=SCHOOL_LIMIT, when=asks_school,
                     empty="outreach.bad_school", read=read_place(SCHOOL_LIMIT, "outreach.bad_school")),
                Step("specialty", StepKind.TEXT, specialty_prompt, limit=SPECIALTY_LIMIT, when=asks_specialty,
                     options=specialty_options, empty="outreach.bad_specialty",
                     read=read_specialty, check=specialty_of),
                Step("purpose", StepKind.CHOICE, "outreach.ask_purpose", keep=False, reason="outreach.tap_a_button",
                     options=[Option(code, f"outreach.purpose_{p}", (p,)) for code, p in PURPOSES.items()]),
            ],
            load=self._email_answers,
            save=self._email_save,
            finish=self._draft,
            title="outreach.title_email",
        )
        self.adding = Dialog(
            ADD_FLOW,
            "a",
            [
                Step("contact", StepKind.TEXT, "outreach.ask_contact", limit=CONTACT_LIMIT,
                     empty="outreach.bad_contact",
                     read=read_name(CONTACT_LIMIT, "outreach.bad_contact", "outreach.odd_contact",
                                    "outreach.heard_name")),
                Step("role", StepKind.CHOICE, "outreach.ask_role", reason="outreach.tap_a_button",
                     options=role_options()),
                Step("institution", StepKind.TEXT, "outreach.ask_institution", limit=INSTITUTION_LIMIT,
                     empty="outreach.bad_institution",
                     read=read_place(INSTITUTION_LIMIT, "outreach.bad_institution")),
                Step("sent_on", StepKind.TEXT, "outreach.ask_date", width=2, read=read_sent_on, check=sent_on_of,
                     options=[Option("t", "outreach.button_today"), Option("y", "outreach.button_yesterday")],
                     values=lambda ask: {"example": local_today(ask.turn).isoformat()}, empty="outreach.bad_date"),
            ],
            load=self._entry_answers,
            save=self._entry_save,
            finish=self._added,
            title="outreach.title_add",
        )
        self.dialogs = (self.drafting, self.adding)

    def commands(self) -> dict[str, CommandHandler]:
        return {"apply": self.apply, "email": self.email, "outreach": self.log}

    def help_keys(self) -> tuple[str, ...]:
        return ("outreach.help",)

    # -- commands -------------------------------------------------------------------------
    def apply(self, turn: Turn, args: str) -> list[Reply]:
        return [hub(turn)]

    def email(self, turn: Turn, args: str, *, redo: bool = False, new_specialty: bool = False) -> list[Reply]:
        applicant = get_applicant(turn.store, turn.user_id)
        asks = gaps(applicant, load_profile(turn.store, turn.user_id), redo, new_specialty)
        return self.drafting.begin(turn, data={ASKS: asks})

    def log(self, turn: Turn, args: str) -> list[Reply]:
        return log.log_page(turn, 0)

    # -- the email dialog's hooks ---------------------------------------------------------
    def _email_answers(self, turn: Turn) -> dict[str, Any]:
        data = turn.session.data
        applicant = get_applicant(turn.store, turn.user_id)
        asks = data.get(ASKS)
        if not isinstance(asks, list):  # a draft opened before the dialog: its "redo" and "sp" flags
            asks = gaps(applicant, load_profile(turn.store, turn.user_id), bool(data.get("redo")), bool(data.get("sp")))
        return {**applicant, "purpose": data.get("purpose"), ASKS: tuple(asks)}

    def _email_save(self, turn: Turn, step: Step, value: Any) -> None:
        if step.name == "purpose":
            turn.session.data["purpose"] = value  # not kept: each draft asks it again
            turn.session.dirty = True
        else:
            save_applicant(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), **{step.key: value})

    def _draft(self, turn: Turn, end: End) -> list[Reply]:
        answers = end.answers
        profile = load_profile(turn.store, turn.user_id)
        specialty = answers.get("specialty")
        if "specialty" not in answers[ASKS] and profile and len(profile.specialties) == 1:
            specialty = profile.specialties[0]
        draft = email_draft(
            turn.texts,
            name=answers.get("name") or turn.t("outreach.your_name"),
            school=answers.get("school") or turn.t("outreach.your_school"),
            specialty=specialty or "[specialty]",
            purpose=PURPOSES.get(str(answers.get("purpose")), "observership"),
            profile=profile,
            today=local_today(turn, profile),
        )
        turn.store.record_completion(turn.user_id, "email", turn.now)
        tips = turn.t("outreach.draft_tips", rate=settings().expected_response_rate)
        if profile is None or not profile.status or not profile.grad_year:
            tips += "\n" + turn.t("outreach.missing_profile")
        buttons = keyboard(
            [Button(turn.t("outreach.button_log_sent"), "or:add")],
            [Button(turn.t("outreach.button_new_draft"), "or:new"),
             Button(turn.t("outreach.button_change_me"), "or:me")],
            [hub_button(turn)],
        )
        return [Reply(turn.t("outreach.draft_intro")), pre(draft), Reply(tips, buttons)]

    # -- the add-a-contact dialog's hooks -------------------------------------------------
    def _entry_id(self, turn: Turn) -> int | None:
        entry_id = turn.session.data.get("id")
        return entry_id if isinstance(entry_id, int) else None

    def _entry_answers(self, turn: Turn) -> dict[str, Any]:
        entry_id = self._entry_id(turn)
        if entry_id is None:  # nothing saved before the contact's name
            return {}
        try:
            entry = get_entry(turn.store, turn.user_id, entry_id)
        except NotFound:
            turn.session.leave()
            raise
        role = next((code for code, stored in ROLES.items() if stored == entry["role"]), None)
        sent_on = entry["sent_on"] if turn.session.data.get("dated") else None  # today until a day is given
        return {"contact": entry["contact"], "role": role, "institution": entry["institution"], "sent_on": sent_on}

    def _entry_save(self, turn: Turn, step: Step, value: Any) -> None:
        entry_id = self._entry_id(turn)
        if entry_id is None:
            entry_id = create_entry(turn.store, turn.user_id, value, local_today(turn).isoformat(), turn.now)
            turn.session.data["id"] = entry_id
            turn.session.dirty = True
            turn.changed.add("outreach")
            return
        if step.name == "sent_on":
            turn.session.data["dated"] = 1
        update_entry(turn, entry_id, **{step.key: ROLES[value] if step.name == "role" else value})

    def _added(self, turn: Turn, end: End) -> list[Reply]:
        entry = get_entry(turn.store, turn.user_id, int(end.data["id"]))
        added = turn.t(
            "outreach.added",
            contact=entry["contact"],
            institution=entry["institution"] or turn.t("outreach.unknown"),
            days=followup_days(),
        )
        return [Reply(added), *log.log_page(turn, 0)]

    # -- routing --------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "add" and not rest:
            return self.adding.begin(turn)
        if action == "new" and not rest:
            return self.email(turn, "", new_specialty=True)
        if action == "me" and not rest:
            return self.email(turn, "", redo=True)
        if action in LEGACY and rest:  # a button under a step shown before the dialogs
            where, mark = LEGACY[action]
            press = f"~{where}:a:{mark}{rest}"
            return next(d for d in self.dialogs if d.owns(press)).on_button(turn, press)
        if action == "l":
            return log.log_page(turn, number(rest))
        if action == "st":
            entry_id, _, code = rest.partition(":")
            return log.set_status(turn, number(entry_id), code)
        handlers = {
            "v": log.entry_view,
            "fu": log.followup_draft,
            "fs": log.followup_sent,
            "x": log.confirm_delete,
            "X": log.delete,
        }
        if action in handlers:
            return handlers[action](turn, number(rest))
        raise StaleButton()

