"""The experience tracker: /log records a US experience step by step, /experiences lists
them for editing or deleting, /progress compares them with the guide's benchmarks and
/timeline draws them on the application timeline.

Button data (prefix ``tr``):

- ``tr:l:<step>:<value>``  an answer in the /log flow (stale unless that step is waiting)
- ``tr:c`` / ``tr:n``       continue the unfinished /log, or drop it and start over
- ``tr:ls``                the list; ``tr:e:<id>`` one experience's card
- ``tr:f:<id>:<field>``    change a field; ``tr:v:<id>:<field>:<value>`` set it
- ``tr:d:<id>`` / ``tr:dy:<id>``  ask to delete / delete

Every /log answer is written to the ``experiences`` table the moment it is given: the
record stays a *draft* (``draft`` = the step it waits at, invisible to other features)
until the last answer, so /cancel, a restart or a crash loses nothing.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flows.base.errors import InvalidAnswer, NotFound, StaleButton
from flows.base.text import clean, to_plain
from flows.base.types import Attachment, Button, Keyboard, Reply, column
from flows.domain.checks import render_warnings, run_checks
from flows.domain.readiness import assess, benchmarks, counted_level, render
from flows.domain.typed import months_answer
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.storage.experiences import (
    LETTERS,
    LEVELS,
    SETTINGS,
    STATUSES,
    TYPES,
    Experience,
    create_draft,
    delete_experience,
    get_draft,
    get_experience,
    list_experiences,
    migrations,
    month_index,
    month_label,
    month_str,
    months_of,
    parse_month,
    update_experience,
)
from flows.storage.profiles import Profile, load_profile

LOG = "tracker_log"
EDIT = "tracker_edit"

# -- the /log flow, top to bottom ------------------------------------------------------------
STEPS = (
    "type",
    "level",
    "specialty",
    "institution",
    "teaching",
    "setting",
    "start",
    "end",
    "status",
    "letter",
    "letter_writer",
)


def wants_writer(letter: object) -> bool:
    """Ask who writes the letter only when there is (or will be) one."""
    return letter != "none"


LOG_SPEC = FlowSpec(
    name=LOG,
    states=[*STEPS, "done"],
    transitions=[
        {"trigger": "answer", "source": "type", "dest": "level"},
        {"trigger": "answer", "source": "level", "dest": "specialty"},
        {"trigger": "answer", "source": "specialty", "dest": "institution"},
        {"trigger": "answer", "source": "institution", "dest": "teaching"},
        {"trigger": "answer", "source": "teaching", "dest": "setting"},
        {"trigger": "answer", "source": "setting", "dest": "start"},
        {"trigger": "answer", "source": "start", "dest": "end"},
        {"trigger": "answer", "source": "end", "dest": "status"},
        {"trigger": "answer", "source": "status", "dest": "letter"},
        {"trigger": "answer", "source": "letter", "dest": "letter_writer", "conditions": wants_writer},
        {"trigger": "answer", "source": "letter", "dest": "done"},
        {"trigger": "answer", "source": "letter_writer", "dest": "done"},
    ],
    initial="type",
)

# -- editing one field that takes typed text (choices are set by a button, no flow) ----------
TYPED_FIELDS = ("specialty", "institution", "start", "end", "letter_writer")
EDIT_SPEC = FlowSpec(
    name=EDIT,
    states=["card", *TYPED_FIELDS],
    transitions=[
        *({"trigger": f"change_{f}", "source": "card", "dest": f} for f in TYPED_FIELDS),
        {"trigger": "save", "source": list(TYPED_FIELDS), "dest": "card"},
        {"trigger": "back", "source": list(TYPED_FIELDS), "dest": "card"},
    ],
    initial="card",
)

LOG_MACHINE = FlowMachine(LOG_SPEC)
EDIT_MACHINE = FlowMachine(EDIT_SPEC)


def diagram() -> str:
    """Both flows as one Mermaid state diagram (docs/flows/tracker.mmd), each a composite state.
    State ids get the flow's prefix, since both flows have a "specialty", an "end"..."""
    lines = ["stateDiagram-v2"]
    for machine, prefix, title in ((LOG_MACHINE, "log", "/log"), (EDIT_MACHINE, "edit", "edit a typed field")):
        lines.append(f'    state "{title}" as {prefix} {{')
        lines += [f'        state "{state}" as {prefix}_{state}' for state in machine.spec.states]
        for line in machine.mermaid().splitlines()[1:]:
            source, _, rest = line.strip().partition(" --> ")
            dest, _, label = rest.partition(":")
            source = source if source == "[*]" else f"{prefix}_{source}"
            lines.append(f"        {source} --> {prefix}_{dest}{':' + label if label else ''}")
        lines.append("    }")
    return "\n".join(lines) + "\n"

TEACHING = ("y", "n", "u")
CHOICES: dict[str, tuple[str, ...]] = {
    "type": TYPES,
    "level": LEVELS,
    "teaching": TEACHING,
    "setting": SETTINGS,
    "status": STATUSES,
    "letter": LETTERS,
}
TEXT_LIMITS = {"specialty": 60, "institution": 100, "letter_writer": 80}
MONTH_FIELDS = ("start", "end")
FIELDS = STEPS  # every editable field, in card order
ALIASES = {  # typed words that mean a choice, beyond its label
    "teaching": {"yes": "y", "no": "n", "unsure": "u", "dont know": "u", "don t know": "u"},
    "letter": {"no": "none"},
}
PAST_MONTHS, FUTURE_MONTHS = 10 * 12, 5 * 12
_ID = re.compile(r"\d{1,12}")
_MONTH = re.compile(r"\d{4}-\d{2}")
_LEADING_SYMBOLS = re.compile(r"^[^\w(]+")


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.casefold()).strip()


def allowed_levels(kind: str | None) -> tuple[str, ...]:
    """The levels an experience of this kind may be marked: the guide's level for the kind or
    less hands-on, never more (readiness would not count more anyway)."""
    cap = benchmarks().levels.get(kind or "", "hands_on")
    return LEVELS[LEVELS.index(cap):]


def _teaching_code(value: int | None) -> str:
    return {1: "y", 0: "n"}.get(value, "u") if value is not None else "u"


def _store_value(field: str, code: str) -> Any:
    if field == "teaching":
        return {"y": 1, "n": 0}.get(code)
    return code


class Tracker(Feature):
    name = "tracker"
    prefix = "tr"
    migrations = migrations
    flows = (LOG, EDIT)
    menu_items = (
        MenuEntry("tracker.menu_log", "log", 20, section="usce"),
        MenuEntry("tracker.menu_list", "experiences", 21, section="usce"),
        MenuEntry("tracker.menu_progress", "progress", 22, section="usce"),
        MenuEntry("tracker.menu_timeline", "timeline", 23, section="usce"),
    )
    deep_links = ("log", "progress")
    flow_titles = {LOG: "tracker.title_log", EDIT: "tracker.title_edit"}

    def commands(self) -> dict[str, CommandHandler]:
        return {
            "log": self.log,
            "experiences": self.experiences,
            "progress": self.progress,
            "timeline": self.timeline,
        }

    def help_keys(self) -> tuple[str, ...]:
        return ("tracker.help_log", "tracker.help_list", "tracker.help_progress", "tracker.help_timeline")

    # -- small helpers ---------------------------------------------------------------------
    @staticmethod
    def _now(turn: Turn) -> str:
        return turn.now.isoformat(timespec="seconds")

    @staticmethod
    def _this_month(turn: Turn) -> int:
        return month_index(turn.now.date())

    @staticmethod
    def _month(turn: Turn, index: int) -> str:
        return month_label(index, turn.t("tracker.months"))

    def _months(self, turn: Turn, n: int) -> str:
        return turn.t("tracker.unit_month" if n == 1 else "tracker.unit_months", n=n)

    def _label(self, turn: Turn, field: str, code: str) -> str:
        return turn.t(f"tracker.{field}.{code}")

    @staticmethod
    def _suggested(turn: Turn, label: str) -> str:
        """A button label marked as the suggested or current choice (its emoji makes way for ✓)."""
        return turn.t("tracker.suggested", label=_LEADING_SYMBOLS.sub("", to_plain(label)))

    @staticmethod
    def _profile(turn: Turn) -> Profile | None:
        # The goal-clarification feature owns the profiles table; without it there is no profile.
        if not turn.store.db.table("profiles").exists():
            return None
        return load_profile(turn.store, turn.user_id)

    @staticmethod
    def _id(text: str) -> int:
        if not _ID.fullmatch(text):
            raise StaleButton()
        return int(text)

    def _dates(self, turn: Turn, start: str, end: str) -> str:
        first, last = month_index(start), month_index(end)
        if first == last:
            return self._month(turn, first)
        return f"{self._month(turn, first)} – {self._month(turn, last)}"

    def _title(self, turn: Turn, exp: Experience) -> str:
        return f"{to_plain(self._label(turn, 'type', exp.type))} · {exp.institution}"

    # -- answers: parse and check one value ----------------------------------------------------
    def _choice(self, turn: Turn, field: str, text: str) -> str:
        wanted = _norm(text)
        if not wanted:
            raise InvalidAnswer(turn.t("tracker.bad_choice"))
        options = {code: _norm(to_plain(self._label(turn, field, code))) for code in CHOICES[field]}
        alias = ALIASES.get(field, {}).get(wanted)
        if alias:
            return alias
        for test in (
            lambda label, code: wanted in (label, code),
            lambda label, code: label.startswith(wanted),
            lambda label, code: wanted in label,
        ):
            found = [code for code, label in options.items() if test(label, code)]
            if len(found) == 1:
                return found[0]
        raise InvalidAnswer(turn.t("tracker.bad_choice"))

    def _checked_month(self, turn: Turn, index: int) -> int:
        today = self._this_month(turn)
        if index < today - PAST_MONTHS:
            raise InvalidAnswer(turn.t("tracker.month_too_old", month=self._month(turn, index)))
        if index > today + FUTURE_MONTHS:
            raise InvalidAnswer(turn.t("tracker.month_too_far", month=self._month(turn, index)))
        return index

    def _value(self, turn: Turn, field: str, raw: str, typed: bool, record: dict[str, Any]) -> Any:
        """The value to store for ``field``; raises InvalidAnswer with a re-ask when it doesn't fit."""
        if field in CHOICES:
            code = self._choice(turn, field, raw) if typed else raw
            if code not in CHOICES[field]:
                raise StaleButton()
            if field == "level" and code not in allowed_levels(record.get("type")):
                def bare(field: str, code: str) -> str:
                    return _LEADING_SYMBOLS.sub("", to_plain(self._label(turn, field, code)))

                kind = bare("type", record.get("type") or "")
                cap = bare("level", allowed_levels(record.get("type"))[0])
                raise InvalidAnswer(turn.t("tracker.level_above_kind", kind=kind, level=cap))
            starts = month_index(record["start"]) if record.get("start") else None
            if starts is not None and starts > self._this_month(turn):  # not begun yet
                if field == "status" and code == "done":
                    raise InvalidAnswer(turn.t("tracker.done_in_future", month=self._month(turn, starts)))
                if field == "letter" and code == "received":
                    raise InvalidAnswer(turn.t("tracker.letter_in_future", month=self._month(turn, starts)))
            return _store_value(field, code)
        if field in MONTH_FIELDS:
            if typed:
                parsed = parse_month(raw, self._this_month(turn))
                length = months_answer(raw) if parsed is None and field == "end" and record.get("start") else None
                if length is not None and length[0] >= 1:  # "4 weeks", "3 months", "3": how long it lasts
                    parsed = month_index(record["start"]) + length[0] - 1
                if parsed is None:
                    raise InvalidAnswer(turn.t("tracker.bad_month", text=clean(raw, 40)))
            elif _MONTH.fullmatch(raw) and 1 <= int(raw[5:]) <= 12:
                parsed = month_index(raw)
            else:
                raise StaleButton()
            index = self._checked_month(turn, parsed)
            start, end = record.get("start"), record.get("end")
            if field == "end" and start and index < month_index(start):
                raise InvalidAnswer(
                    turn.t("tracker.end_before_start", end=self._month(turn, index),
                           start=self._month(turn, month_index(start)))
                )
            if field == "start" and end and index > month_index(end):
                raise InvalidAnswer(
                    turn.t("tracker.start_after_end", start=self._month(turn, index),
                           end=self._month(turn, month_index(end)))
                )
            return month_str(index)
        if field == "specialty" and not typed:
            profile = self._profile(turn)
            options = profile.specialties if profile else ()
            if not (raw[:1] == "p" and raw[1:].isdigit() and int(raw[1:]) < len(options)):
                raise StaleButton()
            return clean(options[int(raw[1:])], TEXT_LIMITS["specialty"])
        if field == "letter_writer" and not typed:
            if raw != "-":
                raise StaleButton()
            return None
        if field in TEXT_LIMITS and typed:
            value = clean(raw, TEXT_LIMITS[field])
            if not value:
                raise InvalidAnswer(turn.t("tracker.empty_text"))
            return value
        raise StaleButton()

    # -- /log ------------------------------------------------------------------------------
    def log(self, turn: Turn, args: str) -> list[Reply]:
        draft = get_draft(turn.store, turn.user_id)
        if draft is not None:
            if turn.session.flow == LOG:
                turn.session.leave()
            summary = self._draft_summary(turn, draft)
            return [
                Reply(
                    turn.t("tracker.draft_found", summary=summary),
                    ((Button(turn.t("tracker.button_continue_draft"), "tr:c"),
                      Button(turn.t("tracker.button_start_over"), "tr:n")),),
                )
            ]
        turn.session.enter(LOG, "type", {})
        return [self._ask(turn, "type", {})]

    def _draft_summary(self, turn: Turn, draft: dict[str, Any]) -> str:
        parts = [to_plain(self._label(turn, "type", draft["type"]))] if draft.get("type") in TYPES else []
        parts += [draft[k] for k in ("specialty", "institution") if draft.get(k)]
        return " · ".join(parts) if parts else to_plain(turn.t("tracker.draft_nothing"))

    def _draft(self, turn: Turn) -> dict[str, Any] | None:
        """The draft the /log flow is filling in (None before the first answer)."""
        draft_id = turn.session.data.get("id")
        if draft_id is None:
            return None
        draft = get_draft(turn.store, turn.user_id, int(draft_id))
        if draft is None:  # gone (deleted elsewhere): nothing to continue
            turn.session.leave()
            raise NotFound()
        return draft

    def _log_answer(self, turn: Turn, step: str, raw: str, typed: bool) -> list[Reply]:
        draft = self._draft(turn)
        record = draft or {}
        try:
            value = self._value(turn, step, raw, typed, record)
        except InvalidAnswer as exc:
            turn.route = "invalid"
            ask = self._ask(turn, step, record)
            return [Reply(f"{exc.text}\n\n{ask.text}", ask.buttons)]
        fields: dict[str, Any] = {step: value}
        if step == "type":
            fields["level"] = benchmarks().levels[value]
        if step == "letter" and value == "none":
            fields["letter_writer"] = None
        nxt = LOG_MACHINE.fire("answer", step, value)
        fields["draft"] = None if nxt == "done" else nxt
        now = self._now(turn)
        if draft is None:
            draft_id = create_draft(turn.store, turn.user_id, now, nxt, **fields)
        else:
            draft_id = int(draft["id"])
            update_experience(turn.store, turn.user_id, draft_id, now, **fields)
        if nxt == "done":
            turn.session.leave()
            turn.store.record_completion(turn.user_id, "log", turn.now)
            turn.changed.add("experiences")
            exp = get_experience(turn.store, turn.user_id, draft_id)
            return [
                Reply(
                    turn.t("tracker.saved_logged") + "\n" + self._card(turn, exp),
                    column(
                        [
                            Button(turn.t("tracker.button_log_another"), "go:log"),
                            Button(turn.t("tracker.button_list"), "go:experiences"),
                            Button(turn.t("tracker.button_progress"), "go:progress"),
                        ],
                        2,
                    ),
                )
            ]
        turn.session.enter(LOG, nxt, {"id": draft_id})
        record = {**record, **fields}
        return [self._ask(turn, nxt, record)]

    def _ask(self, turn: Turn, step: str, record: dict[str, Any]) -> Reply:
        """The question of one /log step with its buttons."""

        def buttons(field: str, suggested: str | None = None, width: int = 2) -> Keyboard:
            row = []
            codes = allowed_levels(record.get("type")) if field == "level" else CHOICES[field]
            for code in codes:
                label = self._label(turn, field, code)
                if code == suggested:
                    label = self._suggested(turn, label)
                row.append(Button(label, f"tr:l:{field}:{code}"))
            return column(row, width)

        text = turn.t(f"tracker.ask.{step}") if step != "level" else ""
        if step in ("type", "teaching", "setting", "letter"):
            return Reply(text, buttons(step, width=1 if step == "teaching" else 2))
        if step == "level":
            level = benchmarks().levels.get(record.get("type") or "", "hands_on")
            fixed = len(allowed_levels(record.get("type"))) == 1
            text = turn.t("tracker.ask.level_fixed" if fixed else "tracker.ask.level",
                          level=to_plain(self._label(turn, "level", level)))
            return Reply(text, buttons("level", level, 1))
        if step == "specialty":
            profile = self._profile(turn)
            options = profile.specialties[:3] if profile else ()
            if not options:
                return Reply(turn.t("tracker.ask.specialty_no_profile"))
            return Reply(
                text,
                column([Button(clean(s, 40), f"tr:l:specialty:p{i}") for i, s in enumerate(options)], 2),
            )
        if step in ("start", "end"):
            return Reply(*self._month_prompt(turn, step, record, "tr:l:"))
        if step == "status":
            guess = self._guess_status(turn, record)
            text = turn.t("tracker.ask.status", guess=to_plain(self._label(turn, "status", guess)))
            return Reply(text, buttons("status", guess, 3))
        if step == "letter_writer":
            return Reply(text, ((Button(turn.t("tracker.button_skip"), "tr:l:letter_writer:-"),),))
        return Reply(text)  # institution: typed

    def _month_prompt(
        self, turn: Turn, field: str, record: dict[str, Any], prefix: str
    ) -> tuple[str, Keyboard]:
        """The month question's text and buttons (relative months for a start, lengths for an end)."""
        today = self._this_month(turn)
        if field == "start" or not record.get("start"):
            choices = [
                (turn.t(key, month=self._month(turn, today + delta)), today + delta)
                for key, delta in (
                    ("tracker.button_last_month", -1),
                    ("tracker.button_this_month", 0),
                    ("tracker.button_next_month", 1),
                )
            ]
            text = turn.t("tracker.ask.start")
        else:
            start = month_index(record["start"])
            choices = [
                (turn.t("tracker.button_months_long", months=self._months(turn, n),
                        month=self._month(turn, start + n - 1)), start + n - 1)
                for n in (1, 2, 3, 4)
            ]
            text = turn.t("tracker.ask.end", start=self._month(turn, start))
        return text, column([Button(label, f"{prefix}{field}:{month_str(i)}") for label, i in choices], 1)

    def _guess_status(self, turn: Turn, record: dict[str, Any]) -> str:
        today = self._this_month(turn)
        if not record.get("start") or not record.get("end"):
            return "planned"
        if month_index(record["end"]) < today:
            return "done"
        return "planned" if month_index(record["start"]) > today else "ongoing"

    # -- /experiences: list, card, edit, delete ---------------------------------------------------
    def experiences(self, turn: Turn, args: str) -> list[Reply]:
        return [self._list(turn)]

    def _list(self, turn: Turn, replace: bool = False, note: str = "") -> Reply:
        exps = list_experiences(turn.store, turn.user_id)
        head = f"{note}\n" if note else ""
        if not exps:
            return Reply(
                head + turn.t("tracker.list_empty"),
                ((Button(turn.t("tracker.menu_log"), "go:log"),),),
                replace=replace,
            )
        lines = [turn.t("tracker.list_title", n=len(exps))]
        buttons = []
        for n, exp in enumerate(exps, 1):
            lines.append(
                turn.t(
                    "tracker.list_item",
                    n=n,
                    type=to_plain(self._label(turn, "type", exp.type)),
                    specialty=exp.specialty,
                    institution=exp.institution,
                    dates=self._dates(turn, exp.start, exp.end),
                    status=to_plain(self._label(turn, "status", exp.status)).split()[0],
                )
            )
            label = to_plain(turn.t("tracker.list_button", n=n, type=to_plain(
                self._label(turn, "type", exp.type)), institution=exp.institution))
            buttons.append(Button(label[:60], f"tr:e:{exp.id}"))
        lines.append(turn.t("tracker.list_hint"))
        buttons.append(Button(turn.t("tracker.menu_log"), "go:log"))
        return Reply(head + "\n".join(lines), column(buttons, 1), replace=replace)

    def _card(self, turn: Turn, exp: Experience) -> str:
        letter = to_plain(self._label(turn, "letter", exp.letter))
        if exp.letter_writer:
            letter = to_plain(turn.t("tracker.card_writer", letter=letter, writer=exp.letter_writer))
        return turn.t(
            "tracker.card",
            type=to_plain(self._label(turn, "type", exp.type)),
            specialty=exp.specialty,
            institution=exp.institution,
            teaching=to_plain(turn.t(f"tracker.card_teaching.{_teaching_code(exp.teaching)}")),
            setting=to_plain(self._label(turn, "setting", exp.setting or "both")),
            dates=self._dates(turn, exp.start, exp.end),
            length=self._months(turn, len(months_of(exp))),
            status=to_plain(self._label(turn, "status", exp.status)),
            level=to_plain(self._label(turn, "level", counted_level(exp, benchmarks()))),
            letter=letter,
        )

    def _card_reply(self, turn: Turn, exp: Experience, note: str = "", replace: bool = True) -> Reply:
        fields = [Button(turn.t(f"tracker.field.{f}"), f"tr:f:{exp.id}:{f}") for f in FIELDS]
        rows = (
            *column(fields, 3),
            (Button(turn.t("tracker.button_delete"), f"tr:d:{exp.id}"),
             Button(turn.t("tracker.button_all"), "tr:ls")),
        )
        text = f"{note}\n{self._card(turn, exp)}" if note else self._card(turn, exp)
        return Reply(text, rows, replace=replace)

    def _leave_edit(self, turn: Turn) -> None:
        if turn.session.flow == EDIT:
            turn.session.leave()

    def _change_prompt(self, turn: Turn, exp: Experience, field: str) -> Reply:
        title = self._title(turn, exp)
        name = to_plain(turn.t(f"tracker.field.{field}")).lower()
        back = Button(turn.t("tracker.button_back"), f"tr:e:{exp.id}")
        if field in CHOICES:
            current = getattr(exp, field) if field != "teaching" else _teaching_code(exp.teaching)
            options = [
                Button(
                    self._suggested(turn, self._label(turn, field, code))
                    if code == current else self._label(turn, field, code),
                    f"tr:v:{exp.id}:{field}:{code}",
                )
                for code in (allowed_levels(exp.type) if field == "level" else CHOICES[field])
            ]
            return Reply(turn.t("tracker.change_choice", field=name, title=title),
                         (*column(options, 2), (back,)), replace=True)
        if field in MONTH_FIELDS:
            record = {"start": exp.start} if field == "end" else {}
            _, keyboard = self._month_prompt(turn, field, record, f"tr:v:{exp.id}:")
            current = self._month(turn, month_index(getattr(exp, field)))
            return Reply(turn.t("tracker.change_month", field=name, title=title, current=current),
                         (*keyboard, (back,)))
        current = getattr(exp, field) or "—"
        rows: Keyboard = ((back,),)
        if field == "letter_writer" and exp.letter_writer:
            rows = ((Button(turn.t("tracker.button_remove_writer"), f"tr:v:{exp.id}:letter_writer:-"),), (back,))
        return Reply(turn.t("tracker.change_text", field=name, title=title, current=current), rows)

    def _set(self, turn: Turn, exp: Experience, field: str, raw: str, typed: bool) -> Reply:
        """Change one field of a finished experience and show its card again."""
        # A new start after the end moves the end along, keeping the length.
        record = {"start": exp.start} if field == "start" else {"start": exp.start, "end": exp.end}
        record["type"] = exp.type
        value = self._value(turn, field, raw, typed, record)
        fields: dict[str, Any] = {field: value}
        note = turn.t("tracker.saved")
        if field == "start" and month_index(value) > month_index(exp.end):
            end = month_index(value) + len(months_of(exp)) - 1
            fields["end"] = month_str(end)
            note += " " + turn.t("tracker.end_moved", end=self._month(turn, end))
        if field == "type" and value != exp.type:
            level = benchmarks().levels[value]
            fields["level"] = level
            note += " " + turn.t("tracker.type_changed_level", level=to_plain(self._label(turn, "level", level)))
        update_experience(turn.store, turn.user_id, exp.id, self._now(turn), **fields)
        turn.changed.add("experiences")
        self._leave_edit(turn)
        return self._card_reply(turn, get_experience(turn.store, turn.user_id, exp.id), note, replace=not typed)

    # -- buttons and typed answers ---------------------------------------------------------------
    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        kind, _, rest = payload.partition(":")
        if kind == "l":
            step, _, value = rest.partition(":")
            if turn.session.flow != LOG or turn.session.state != step or step not in STEPS:
                raise StaleButton()
            return self._log_answer(turn, step, value, typed=False)
        if kind == "c" and not rest:
            draft = get_draft(turn.store, turn.user_id)
            if draft is None:
                raise StaleButton()
            step = draft["draft"] if draft["draft"] in STEPS else "type"
            turn.session.enter(LOG, step, {"id": draft["id"]})
            return [self._ask(turn, step, draft)]
        if kind == "n" and not rest:
            draft = get_draft(turn.store, turn.user_id)
            if draft is not None:
                delete_experience(turn.store, turn.user_id, int(draft["id"]))
            turn.session.enter(LOG, "type", {})
            return [self._ask(turn, "type", {})]
        if kind == "ls" and not rest:
            self._leave_edit(turn)
            return [self._list(turn, replace=True)]
        if kind == "e":
            exp = get_experience(turn.store, turn.user_id, self._id(rest))
            self._leave_edit(turn)
            return [self._card_reply(turn, exp)]
        if kind == "f":
            raw_id, _, field = rest.partition(":")
            exp = get_experience(turn.store, turn.user_id, self._id(raw_id))
            if field not in FIELDS:
                raise StaleButton()
            if field in TYPED_FIELDS:
                state = EDIT_MACHINE.fire(f"change_{field}", "card")
                turn.session.enter(EDIT, state, {"id": exp.id})
            else:
                self._leave_edit(turn)
            return [self._change_prompt(turn, exp, field)]
        if kind == "v":
            raw_id, _, rest = rest.partition(":")
            field, _, value = rest.partition(":")
            exp = get_experience(turn.store, turn.user_id, self._id(raw_id))
            if field not in FIELDS:
                raise StaleButton()
            return self._checked(turn, lambda: self._set(turn, exp, field, value, typed=False),
                                 lambda: self._change_prompt(turn, exp, field))
        if kind == "d":
            exp = get_experience(turn.store, turn.user_id, self._id(rest))
            return [
                Reply(
                    turn.t("tracker.delete_confirm", title=self._title(turn, exp)),
                    ((Button(turn.t("tracker.button_delete_yes"), f"tr:dy:{exp.id}"),
                      Button(turn.t("tracker.button_delete_no"), f"tr:e:{exp.id}")),),
                    replace=True,
                )
            ]
        if kind == "dy":
            exp = get_experience(turn.store, turn.user_id, self._id(rest))
            delete_experience(turn.store, turn.user_id, exp.id)
            turn.changed.add("experiences")
            if turn.session.flow == EDIT and turn.session.data.get("id") == exp.id:
                turn.session.leave()
            return [self._list(turn, replace=True, note=turn.t("tracker.deleted"))]
        raise StaleButton()

    def _checked(self, turn: Turn, act: Any, ask: Any) -> list[Reply]:
        """Run ``act``; on a bad answer show the reason with the question again."""
        try:
            return [act()]
        except InvalidAnswer as exc:
            turn.route = "invalid"
            prompt: Reply = ask()
            return [Reply(f"{exc.text}\n\n{prompt.text}", prompt.buttons)]

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        state = turn.session.state or ""
        if turn.session.flow == LOG and state in STEPS:
            return self._log_answer(turn, state, text, typed=True)
        if turn.session.flow == EDIT and state in TYPED_FIELDS:
            exp = self._edited(turn)
            return self._checked(turn, lambda: self._set(turn, exp, state, text, typed=True),
                                 lambda: self._change_prompt(turn, exp, state))
        turn.session.leave()
        raise StaleButton()

    def _edited(self, turn: Turn) -> Experience:
        try:
            return get_experience(turn.store, turn.user_id, int(turn.session.data.get("id", 0)))
        except NotFound:
            turn.session.leave()
            raise

    def prompt(self, turn: Turn) -> list[Reply]:
        state = turn.session.state or ""
        if turn.session.flow == LOG and state in STEPS:
            return [self._ask(turn, state, self._draft(turn) or {})]
        if turn.session.flow == EDIT and state in TYPED_FIELDS:
            return [self._change_prompt(turn, self._edited(turn), state)]
        turn.session.leave()
        return [turn.engine.main_menu(turn)]

    # -- /progress and /timeline ---------------------------------------------------------------
    def progress(self, turn: Turn, args: str) -> list[Reply]:
        profile = self._profile(turn)
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

        profile = self._profile(turn)
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
            self._this_month(turn),
            timeline_image.windows(application, label),
            label,
            turn.t("tracker.months"),
        ))
        caption = turn.t("tracker.timeline.caption" if application else "tracker.timeline.caption_no_application")
        if application:  # the same dates as /plan and /progress
            caption += "\n" + turn.t("readiness.apply_match", month=self._month(turn, month_index(application)),
                                      match=application.year + 1)
        buttons: Keyboard = (
            (Button(turn.t("tracker.button_log_another" if experiences else "tracker.menu_log"), "go:log"),
             Button(turn.t("tracker.button_progress"), "go:progress")),
            (Button(turn.t("core.button_menu"), "go:menu"),),
        )
        return [Reply(caption, buttons, attachment=Attachment("timeline.png", png, kind="photo"))]

