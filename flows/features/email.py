"""Application help: the /apply hub, cold-email drafts (/email) and the outreach log (/outreach).

The email draft is built from the profile (status, graduation year, specialties) plus the
user's name and school, which the profile does not hold: they are asked once and kept in
the ``applicant`` table. The outreach log is the ``outreach`` table; the reminders feature
reads its ``user_id, id, contact, status, sent_on`` columns and :func:`followup_days`.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlite_utils import Database, Migrations

from flows.base.content import CONTENT_DIR, ContentError, Texts, line_of, load_yaml, require
from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import clean
from flows.base.types import Button, Reply, column, keyboard
from flows.domain.readiness import school_stage
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.storage.profiles import Profile, load_profile
from flows.storage.store import Store

migrations = Migrations("usce-coach.outreach")


@migrations()
def m001_outreach(db: Database) -> None:
    db.table("outreach").create(
        {
            "id": int,
            "user_id": str,
            "contact": str,
            "role": str,  # one of ROLES' values
            "institution": str,
            "sent_on": str,  # "YYYY-MM-DD"
            "status": str,  # one of STATUSES' values
            "followed_up_on": str,  # "YYYY-MM-DD" once a follow-up went out
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "user_id")],
        defaults={"status": "sent"},
    )
    db.table("outreach").create_index(["user_id"])
    db.table("outreach").create_index(["status", "sent_on"])  # follow-up reminders scan these


@migrations()
def m002_applicant(db: Database) -> None:
    # What the email draft needs beyond the profile, asked once.
    db.table("applicant").create(
        {"user_id": str, "name": str, "school": str, "specialty": str, "updated_at": str},
        pk="user_id",
        foreign_keys=[("user_id", "users", "user_id")],
    )


# Button codes (short, for callback data) -> stored values.
ROLES = {"p": "program_director", "c": "clerkship_director", "s": "section_chief", "f": "faculty"}
STATUSES = {"s": "sent", "r": "replied", "d": "declined", "a": "accepted"}
PURPOSES = {"o": "observership", "s": "shadowing", "r": "research"}
ANSWERED = ("replied", "declined", "accepted")

NAME_LIMIT = 80
SCHOOL_LIMIT = 120
SPECIALTY_LIMIT = 60
CONTACT_LIMIT = 100
INSTITUTION_LIMIT = 120
LABEL_LIMIT = 44  # characters of a button label


# -- content ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OutreachSettings:
    followup_days: int
    expected_response_rate: int
    typical_volume: int
    page_size: int


def load_settings(path: Any = CONTENT_DIR / "outreach.yaml") -> OutreachSettings:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    values = {name: require(path, data, name, int) for name in OutreachSettings.__dataclass_fields__}
    for name, value in values.items():
        if value < 1:
            raise ContentError(path, line_of(data), f"'{name}' must be at least 1")
    return OutreachSettings(**values)


@functools.cache
def settings() -> OutreachSettings:
    return load_settings()


def followup_days() -> int:
    """Days after ``sent_on`` with status still 'sent' before a follow-up is suggested."""
    return settings().followup_days


# -- pure helpers ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    replied: int
    declined: int
    accepted: int

    @property
    def answered(self) -> int:
        return self.replied + self.declined + self.accepted

    @property
    def rate(self) -> int | None:
        """Percentage of sent emails that got any answer, rounded; None before the first one."""
        return round(100 * self.answered / self.total) if self.total else None


def count(statuses: Iterable[str]) -> Counts:
    seen = list(statuses)
    return Counts(len(seen), seen.count("replied"), seen.count("declined"), seen.count("accepted"))


def followup_due_on(row: Mapping[str, Any], days: int) -> date | None:
    """The day a follow-up becomes due, or None when none is needed (answered, already done)."""
    if row.get("status") != "sent" or row.get("followed_up_on") or not row.get("sent_on"):
        return None
    try:
        return date.fromisoformat(row["sent_on"]) + timedelta(days=days)
    except ValueError:
        return None


def is_followup_due(row: Mapping[str, Any], today: date, days: int) -> bool:
    due = followup_due_on(row, days)
    return due is not None and due <= today


_DAYS_AGO = re.compile(r"(\d{1,3})\s*days?\s*ago")
_DMY = re.compile(r"(\d{1,2})[./](\d{1,2})[./](\d{4})")


def parse_sent_date(text: str, today: date) -> date | None:
    """A day from "today", "yesterday", "3 days ago", "2026-11-20" or "20.11.2026"; None if unreadable."""
    value = " ".join(text.strip().lower().split())
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    ago = _DAYS_AGO.fullmatch(value)
    if ago:
        return today - timedelta(days=int(ago.group(1)))
    dmy = _DMY.fullmatch(value)
    try:
        if dmy:
            return date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        return None
    return None


def short(value: str, limit: int = LABEL_LIMIT) -> str:
    """Cut a label to ``limit`` characters with an ellipsis."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def email_draft(
    texts: Texts,
    *,
    name: str,
    school: str,
    specialty: str,
    purpose: str,
    profile: Profile | None,
    today: date | None = None,
) -> str:
    """The cold email as escaped plain text (for a <pre> block)."""
    unknown_year = texts["outreach.unknown_year"]
    grad_year = str(profile.grad_year) if profile and profile.grad_year else unknown_year
    if profile and profile.status == "student":
        intro = texts.fmt(f"outreach.intro_student_{student_stage(profile, today)}", name=name, school=school,
                          year=year_words(texts, profile.student_year), grad_year=grad_year)
    elif profile and profile.status == "graduate":
        intro = texts.fmt("outreach.intro_graduate", name=name, school=school, grad_year=grad_year)
    else:
        intro = texts.fmt("outreach.intro_unknown", name=name, school=school)
    parts = [
        texts.fmt(f"outreach.subject_{purpose}", specialty=specialty, name=name),
        texts["outreach.greeting"],
        intro,
        texts.fmt(f"outreach.purpose_text_{purpose}", specialty=specialty),
        texts["outreach.why_you"],
        texts["outreach.closing"],
        texts.fmt("outreach.signature", name=name, school=school),
    ]
    return "\n\n".join(parts)


def student_stage(profile: Profile, today: date | None) -> str:
    """How the email names a student's year: "final" (graduating within about a year),
    "year" (the year of school is known) or "unknown"."""
    if today is not None and school_stage(profile, today) == "final":
        return "final"
    return "year" if profile.student_year else "unknown"


def year_words(texts: Texts, year: int | None) -> str:
    """ "sixth" for 6: the ordinals live in content."""
    words = texts["outreach.ordinals"].split()
    return words[year - 1] if year and 1 <= year <= len(words) else str(year or "")


def pre(text: str) -> Reply:
    """A ready-to-copy message: ``text`` must already be escaped."""
    return Reply(f"<pre>{text}</pre>", full=True)  # a text to copy whole: never cut to a screen


# -- storage --------------------------------------------------------------------------------
def profile_of(store: Store, user_id: str) -> Profile | None:
    try:
        return load_profile(store, user_id)
    except sqlite3.OperationalError:  # the profile feature is not installed
        return None


def local_today(turn: Turn, profile: Profile | None = None) -> date:
    """Today in the user's time zone (from the profile), else in UTC."""
    profile = profile or profile_of(turn.store, turn.user_id)
    if profile and profile.timezone:
        try:
            return turn.now.astimezone(ZoneInfo(profile.timezone)).date()
        except (ValueError, KeyError):
            pass
    return turn.now.date()


def get_applicant(store: Store, user_id: str) -> dict[str, Any]:
    row = store.conn.execute(
        "SELECT name, school, specialty FROM applicant WHERE user_id = ?", (user_id,)
    ).fetchone()
    return dict(zip(("name", "school", "specialty"), row, strict=True)) if row else {}


def save_applicant(turn: Turn, **fields: str) -> None:
    row = {"user_id": turn.user_id, "updated_at": turn.now.isoformat(timespec="seconds"), **fields}
    turn.store.db.table("applicant").upsert(row, pk="user_id", alter=False)


_ENTRY_COLUMNS = ("id", "contact", "role", "institution", "sent_on", "status", "followed_up_on")


def get_entry(store: Store, user_id: str, entry_id: int) -> dict[str, Any]:
    row = store.conn.execute(
        f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM outreach WHERE id = ? AND user_id = ?",
        (entry_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound()
    return dict(zip(_ENTRY_COLUMNS, row, strict=True))


def list_entries(store: Store, user_id: str) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM outreach WHERE user_id = ?"
        " ORDER BY sent_on DESC, id DESC",
        (user_id,),
    ).fetchall()
    return [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows]


def followups_due(store: Store, user_id: str, today: date) -> list[dict[str, Any]]:
    """The user's log entries that need a follow-up today (for reminders)."""
    days = followup_days()
    return [row for row in list_entries(store, user_id) if is_followup_due(row, today, days)]


def update_entry(turn: Turn, entry_id: int, **fields: Any) -> None:
    sets = ", ".join(f"[{name}] = ?" for name in fields)
    cursor = turn.store.conn.execute(
        f"UPDATE outreach SET {sets}, updated_at = ? WHERE id = ? AND user_id = ?",
        (*fields.values(), turn.now.isoformat(timespec="seconds"), entry_id, turn.user_id),
    )
    if cursor.rowcount == 0:
        raise NotFound()
    turn.changed.add("outreach")


# -- the flows, as data ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EmailGaps:
    """Which questions the email draft still has to ask."""

    name: bool
    school: bool
    specialty: bool


def needs_name(gaps: EmailGaps) -> bool:
    return gaps.name


def needs_school(gaps: EmailGaps) -> bool:
    return gaps.school


def needs_specialty(gaps: EmailGaps) -> bool:
    return gaps.specialty


EMAIL = FlowSpec(
    name="email",
    states=["start", "name", "school", "specialty", "purpose", "done"],
    transitions=[
        {"trigger": "next", "source": "start", "dest": "name", "conditions": needs_name},
        {"trigger": "next", "source": ["start", "name"], "dest": "school", "conditions": needs_school},
        {
            "trigger": "next",
            "source": ["start", "name", "school"],
            "dest": "specialty",
            "conditions": needs_specialty,
        },
        {"trigger": "next", "source": ["start", "name", "school", "specialty"], "dest": "purpose"},
        {"trigger": "next", "source": "purpose", "dest": "done"},
    ],
    initial="start",
)

ADD = FlowSpec(
    name="outreach_add",
    states=["contact", "role", "institution", "sent_on", "done"],
    transitions=[
        {"trigger": "answer", "source": "contact", "dest": "role"},
        {"trigger": "answer", "source": "role", "dest": "institution"},
        {"trigger": "answer", "source": "institution", "dest": "sent_on"},
        {"trigger": "answer", "source": "sent_on", "dest": "done"},
    ],
    initial="contact",
)

EMAIL_MACHINE = FlowMachine(EMAIL)
ADD_MACHINE = FlowMachine(ADD)


def hub(turn: Turn) -> Reply:
    """The application-help submenu (/apply)."""
    items = ("email", "outreach", "letters", "reflect", "eras", "interview")
    buttons = [Button(turn.t(f"outreach.hub_{name}"), f"go:{name}") for name in items]
    return Reply(turn.t("outreach.hub"), column(buttons, 2))


def hub_button(turn: Turn) -> Button:
    return Button(turn.t("outreach.button_hub"), "go:apply")


def _int(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise StaleButton()
    return int(value)


class Outreach(Feature):
    name = "outreach"
    prefix = "or"
    migrations = migrations
    flows = (EMAIL.name, ADD.name)
    menu_items = (MenuEntry("outreach.menu_apply", "apply", order=60),)
    flow_titles = {EMAIL.name: "outreach.title_email", ADD.name: "outreach.title_add"}

    def commands(self) -> dict[str, CommandHandler]:
        return {"apply": self.apply, "email": self.email, "outreach": self.log}

    def help_keys(self) -> tuple[str, ...]:
        return ("outreach.help",)

    # -- commands -------------------------------------------------------------------------
    def apply(self, turn: Turn, args: str) -> list[Reply]:
        return [hub(turn)]

    def email(self, turn: Turn, args: str, *, redo: bool = False, ask_specialty: bool = False) -> list[Reply]:
        data = {"redo": 1} if redo else {}
        if ask_specialty:
            data["sp"] = 1
        turn.session.enter(EMAIL.name, "start", data)
        return self._email_next(turn)

    def log(self, turn: Turn, args: str) -> list[Reply]:
        return self._log_page(turn, 0)

    # -- the email draft ------------------------------------------------------------------
    def _gaps(self, turn: Turn, applicant: Mapping[str, Any], profile: Profile | None) -> EmailGaps:
        data = turn.session.data
        redo = bool(data.get("redo"))
        specialties = profile.specialties if profile else ()
        return EmailGaps(
            name=redo or not applicant.get("name"),
            school=redo or not applicant.get("school"),
            specialty=bool(data.get("sp")) or len(specialties) != 1,
        )

    def _email_next(self, turn: Turn) -> list[Reply]:
        applicant = get_applicant(turn.store, turn.user_id)
        profile = profile_of(turn.store, turn.user_id)
        state = EMAIL_MACHINE.fire("next", turn.session.state or "start", self._gaps(turn, applicant, profile))
        turn.session.state = state
        turn.session.dirty = True
        return self._email_prompt(turn, state, profile)

    def _email_prompt(self, turn: Turn, state: str, profile: Profile | None) -> list[Reply]:
        if state == "name":
            return [Reply(turn.t("outreach.ask_name"))]
        if state == "school":
            return [Reply(turn.t("outreach.ask_school"))]
        if state == "specialty":
            specialties = profile.specialties if profile else ()
            if not specialties:
                return [Reply(turn.t("outreach.ask_specialty_type"))]
            buttons = [Button(short(s), f"or:sp:{i}") for i, s in enumerate(specialties[:4])]
            return [Reply(turn.t("outreach.ask_specialty"), column(buttons, 1))]
        buttons = [Button(turn.t(f"outreach.purpose_{p}"), f"or:pu:{code}") for code, p in PURPOSES.items()]
        return [Reply(turn.t("outreach.ask_purpose"), column(buttons, 1))]

    def _email_text(self, turn: Turn, text: str) -> list[Reply]:
        state = turn.session.state
        if state == "name":
            value = clean(text, NAME_LIMIT + 1)
            if not value or len(value) > NAME_LIMIT:
                raise InvalidAnswer(turn.t("outreach.bad_name", limit=NAME_LIMIT))
            save_applicant(turn, name=value)
        elif state == "school":
            value = clean(text, SCHOOL_LIMIT + 1)
            if not value or len(value) > SCHOOL_LIMIT:
                raise InvalidAnswer(turn.t("outreach.bad_school", limit=SCHOOL_LIMIT))
            save_applicant(turn, school=value)
        elif state == "specialty":
            value = clean(text, SPECIALTY_LIMIT + 1)
            if not value or len(value) > SPECIALTY_LIMIT:
                raise InvalidAnswer(turn.t("outreach.bad_specialty", limit=SPECIALTY_LIMIT))
            save_applicant(turn, specialty=value)
        else:  # purpose: buttons only
            return [Reply(turn.t("outreach.tap_a_button")), *self.prompt(turn)]
        return self._email_next(turn)

    def _pick_specialty(self, turn: Turn, index: str) -> list[Reply]:
        if turn.session.flow != EMAIL.name or turn.session.state != "specialty":
            raise StaleButton()
        profile = profile_of(turn.store, turn.user_id)
        specialties = profile.specialties if profile else ()
        position = _int(index)
        if position >= len(specialties):
            raise StaleButton()
        save_applicant(turn, specialty=specialties[position])
        return self._email_next(turn)

    def _pick_purpose(self, turn: Turn, code: str) -> list[Reply]:
        if turn.session.flow != EMAIL.name or turn.session.state != "purpose" or code not in PURPOSES:
            raise StaleButton()
        applicant = get_applicant(turn.store, turn.user_id)
        profile = profile_of(turn.store, turn.user_id)
        specialty = applicant.get("specialty")
        if profile and len(profile.specialties) == 1 and not turn.session.data.get("sp"):
            specialty = profile.specialties[0]
        draft = email_draft(
            turn.texts,
            name=applicant.get("name") or turn.t("outreach.your_name"),
            school=applicant.get("school") or turn.t("outreach.your_school"),
            specialty=specialty or "[specialty]",
            purpose=PURPOSES[code],
            profile=profile,
            today=local_today(turn, profile),
        )
        turn.session.leave()
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

    # -- adding to the log ----------------------------------------------------------------
    def _add_start(self, turn: Turn) -> list[Reply]:
        turn.session.enter(ADD.name, "contact")
        return self.prompt(turn)

    def _add_prompt(self, turn: Turn) -> list[Reply]:
        state = turn.session.state
        if state == "contact":
            return [Reply(turn.t("outreach.ask_contact"))]
        if state == "role":
            roles = [Button(turn.t(f"outreach.role_{role}"), f"or:r:{code}") for code, role in ROLES.items()]
            return [Reply(turn.t("outreach.ask_role"), column(roles, 1))]
        if state == "institution":
            return [Reply(turn.t("outreach.ask_institution"))]
        today = local_today(turn)
        buttons = keyboard(
            [Button(turn.t("outreach.button_today"), "or:d:t"),
             Button(turn.t("outreach.button_yesterday"), "or:d:y")]
        )
        return [Reply(turn.t("outreach.ask_date", example=today.isoformat()), buttons)]

    def _entry_id(self, turn: Turn) -> int:
        entry_id = turn.session.data.get("id")
        if not isinstance(entry_id, int):
            raise StaleButton()
        return entry_id

    def _add_advance(self, turn: Turn) -> list[Reply]:
        turn.session.state = ADD_MACHINE.fire("answer", turn.session.state or "contact")
        turn.session.dirty = True
        if turn.session.state == "done":
            entry = get_entry(turn.store, turn.user_id, self._entry_id(turn))
            turn.session.leave()
            added = turn.t(
                "outreach.added",
                contact=entry["contact"],
                institution=entry["institution"] or turn.t("outreach.unknown"),
                days=followup_days(),
            )
            return [Reply(added), *self._log_page(turn, 0)]
        return self.prompt(turn)

    def _add_text(self, turn: Turn, text: str) -> list[Reply]:
        state = turn.session.state
        if state == "contact":
            value = clean(text, CONTACT_LIMIT + 1)
            if not value or len(value) > CONTACT_LIMIT:
                raise InvalidAnswer(turn.t("outreach.bad_contact", limit=CONTACT_LIMIT))
            now = turn.now.isoformat(timespec="seconds")
            row = {
                "user_id": turn.user_id,
                "contact": value,
                "status": "sent",
                "sent_on": local_today(turn).isoformat(),
                "created_at": now,
                "updated_at": now,
            }
            turn.session.data = {"id": int(turn.store.db.table("outreach").insert(row).last_pk or 0)}
            turn.changed.add("outreach")
        elif state == "institution":
            value = clean(text, INSTITUTION_LIMIT + 1)
            if not value or len(value) > INSTITUTION_LIMIT:
                raise InvalidAnswer(turn.t("outreach.bad_institution", limit=INSTITUTION_LIMIT))
            update_entry(turn, self._entry_id(turn), institution=value)
        elif state == "sent_on":
            today = local_today(turn)
            day = parse_sent_date(text, today)
            if day is None or day.year < 2000:
                raise InvalidAnswer(turn.t("outreach.bad_date", example=today.isoformat()))
            if day > today:
                raise InvalidAnswer(turn.t("outreach.future_date"))
            update_entry(turn, self._entry_id(turn), sent_on=day.isoformat())
        else:  # role: buttons only
            return [Reply(turn.t("outreach.tap_a_button")), *self.prompt(turn)]
        return self._add_advance(turn)

    def _add_button(self, turn: Turn, state: str, field: str, value: str) -> list[Reply]:
        if turn.session.flow != ADD.name or turn.session.state != state:
            raise StaleButton()
        update_entry(turn, self._entry_id(turn), **{field: value})
        return self._add_advance(turn)

    # -- the log --------------------------------------------------------------------------
    def _log_page(self, turn: Turn, page: int) -> list[Reply]:
        rows = list_entries(turn.store, turn.user_id)
        actions = [Button(turn.t("outreach.button_add"), "or:add"),
                   Button(turn.t("outreach.button_email"), "go:email")]
        if not rows:
            return [Reply(turn.t("outreach.log_empty"), keyboard(actions, [hub_button(turn)]))]
        conf = settings()
        today = local_today(turn)
        counts = count(r["status"] for r in rows)
        due = sum(is_followup_due(r, today, conf.followup_days) for r in rows)
        lines = [
            turn.t("outreach.log_title"),
            turn.t("outreach.log_counts", total=counts.total, replied=counts.replied,
                   declined=counts.declined, accepted=counts.accepted),
            turn.t("outreach.log_rate", rate=counts.rate, answered=counts.answered, total=counts.total),
            turn.t("outreach.log_expectation", rate=conf.expected_response_rate, volume=conf.typical_volume),
        ]
        if due:
            lines.append(turn.t("outreach.log_due", count=due, days=conf.followup_days))
        pages = math.ceil(len(rows) / conf.page_size)
        page = min(max(page, 0), pages - 1)
        if pages > 1:
            lines.append(turn.t("outreach.log_page", page=page + 1, pages=pages))
        shown = rows[page * conf.page_size : (page + 1) * conf.page_size]
        entries = [Button(self._label(turn, r, today), f"or:v:{r['id']}") for r in shown]
        paging = []
        if page > 0:
            paging.append(Button(turn.t("outreach.button_newer"), f"or:l:{page - 1}"))
        if page < pages - 1:
            paging.append(Button(turn.t("outreach.button_older"), f"or:l:{page + 1}"))
        buttons = (*column(entries, 1), *keyboard(paging, actions, [hub_button(turn)]))
        return [Reply("\n".join(lines), buttons)]

    def _label(self, turn: Turn, row: Mapping[str, Any], today: date) -> str:
        mark = "⏰" if is_followup_due(row, today, followup_days()) else turn.t(f"outreach.status_{row['status']}")[:1]
        where = f" · {row['institution']}" if row["institution"] else ""
        return short(f"{mark} {row['contact']}{where}")

    def _entry_view(self, turn: Turn, entry_id: int, note: str = "") -> list[Reply]:
        entry = get_entry(turn.store, turn.user_id, entry_id)
        unknown = turn.t("outreach.unknown")
        lines = [note] if note else []
        lines.append(
            turn.t(
                "outreach.entry",
                contact=entry["contact"],
                role=turn.t(f"outreach.role_{entry['role']}") if entry["role"] in ROLES.values() else unknown,
                institution=entry["institution"] or unknown,
                sent_on=entry["sent_on"] or unknown,
                status=turn.t(f"outreach.status_{entry['status']}"),
            )
        )
        today = local_today(turn)
        due_on = followup_due_on(entry, followup_days())
        if entry["followed_up_on"]:
            lines.append(turn.t("outreach.followup_done", date=entry["followed_up_on"]))
        elif due_on and due_on <= today:
            waited = (today - date.fromisoformat(entry["sent_on"])).days
            lines.append(turn.t("outreach.followup_due", days=waited))
        elif due_on:
            lines.append(turn.t("outreach.followup_later", date=due_on.isoformat()))
        statuses = [
            Button(turn.t("outreach.button_status", status=turn.t(f"outreach.status_{status}")),
                   f"or:st:{entry_id}:{code}")
            for code, status in STATUSES.items()
            if status != entry["status"]
        ]
        followup = []
        if entry["status"] == "sent":
            followup.append(Button(turn.t("outreach.button_followup_draft"), f"or:fu:{entry_id}"))
            if not entry["followed_up_on"]:
                followup.append(Button(turn.t("outreach.button_followup_sent"), f"or:fs:{entry_id}"))
        buttons = (
            *column(statuses, 2),
            *keyboard(
                followup,
                [Button(turn.t("outreach.button_delete"), f"or:x:{entry_id}"),
                 Button(turn.t("outreach.button_log"), "or:l:0")],
            ),
        )
        return [Reply("\n".join(lines), buttons)]

    def _set_status(self, turn: Turn, entry_id: int, code: str) -> list[Reply]:
        if code not in STATUSES:
            raise StaleButton()
        update_entry(turn, entry_id, status=STATUSES[code])
        entry = get_entry(turn.store, turn.user_id, entry_id)
        note = turn.t("outreach.status_changed", contact=entry["contact"],
                      status=turn.t(f"outreach.status_{entry['status']}"))
        return self._entry_view(turn, entry_id, note)

    def _followup_draft(self, turn: Turn, entry_id: int) -> list[Reply]:
        entry = get_entry(turn.store, turn.user_id, entry_id)
        applicant = get_applicant(turn.store, turn.user_id)
        sent_on = entry["sent_on"] or turn.t("outreach.unknown_year")
        draft = "\n\n".join(
            [
                turn.t("outreach.followup_subject", date=sent_on),
                turn.t("outreach.greeting"),
                turn.t("outreach.followup_body", date=sent_on),
                turn.t("outreach.followup_signature", name=applicant.get("name") or turn.t("outreach.your_name")),
            ]
        )
        buttons = keyboard(
            [Button(turn.t("outreach.button_followup_sent"), f"or:fs:{entry_id}")]
            if not entry["followed_up_on"] else [],
            [Button(turn.t("outreach.button_log"), "or:l:0")],
        )
        after = (
            turn.t("outreach.followup_done", date=entry["followed_up_on"])
            if entry["followed_up_on"]
            else turn.t("outreach.followup_after")
        )
        return [Reply(turn.t("outreach.draft_intro")), pre(draft), Reply(after, buttons)]

    def _followup_sent(self, turn: Turn, entry_id: int) -> list[Reply]:
        today = local_today(turn).isoformat()
        update_entry(turn, entry_id, followed_up_on=today)
        return self._entry_view(turn, entry_id, turn.t("outreach.followup_marked", date=today))

    def _confirm_delete(self, turn: Turn, entry_id: int) -> list[Reply]:
        entry = get_entry(turn.store, turn.user_id, entry_id)
        buttons = keyboard(
            [Button(turn.t("outreach.button_confirm_delete"), f"or:X:{entry_id}"),
             Button(turn.t("outreach.button_log"), f"or:v:{entry_id}")]
        )
        return [Reply(turn.t("outreach.confirm_delete", contact=entry["contact"]), buttons)]

    def _delete(self, turn: Turn, entry_id: int) -> list[Reply]:
        cursor = turn.store.conn.execute(
            "DELETE FROM outreach WHERE id = ? AND user_id = ?", (entry_id, turn.user_id)
        )
        if cursor.rowcount == 0:
            raise NotFound()
        turn.changed.add("outreach")
        if turn.session.flow == ADD.name and turn.session.data.get("id") == entry_id:
            turn.session.leave()
        return [Reply(turn.t("outreach.deleted")), *self._log_page(turn, 0)]

    # -- routing --------------------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "add":
            return self._add_start(turn)
        if action == "new":
            return self.email(turn, "", ask_specialty=True)
        if action == "me":
            return self.email(turn, "", redo=True)
        if action == "sp":
            return self._pick_specialty(turn, rest)
        if action == "pu":
            return self._pick_purpose(turn, rest)
        if action == "r" and rest in ROLES:
            return self._add_button(turn, "role", "role", ROLES[rest])
        if action == "d" and rest in ("t", "y"):
            day = local_today(turn) - timedelta(days=1 if rest == "y" else 0)
            return self._add_button(turn, "sent_on", "sent_on", day.isoformat())
        if action == "l":
            return self._log_page(turn, _int(rest))
        if action == "st":
            entry_id, _, code = rest.partition(":")
            return self._set_status(turn, _int(entry_id), code)
        handlers = {
            "v": self._entry_view,
            "fu": self._followup_draft,
            "fs": self._followup_sent,
            "x": self._confirm_delete,
            "X": self._delete,
        }
        if action in handlers:
            return handlers[action](turn, _int(rest))
        raise StaleButton()

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        if turn.session.flow == EMAIL.name:
            return self._email_text(turn, text)
        return self._add_text(turn, text)

    def prompt(self, turn: Turn) -> list[Reply]:
        if turn.session.flow == EMAIL.name:
            state = turn.session.state or "start"
            if state == "start":
                return self._email_next(turn)
            return self._email_prompt(turn, state, profile_of(turn.store, turn.user_id))
        return self._add_prompt(turn)
