"""The questions about one experience, declared once as Dialog steps.

The same eleven steps serve /log (every step, in order, worded as new questions) and the card
of a logged experience (one step, worded as a change). What they accept, how typed answers
are read and what a wrong one is told live here; where answers are stored is the feature's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from flows.base.errors import InvalidAnswer
from flows.base.text import MAX_INPUT, clean, to_plain
from flows.domain import typed
from flows.domain.benchmarks import display_specialty
from flows.domain.readiness import benchmarks
from flows.engine.dialog import Ask, Heard, Option, Options, Step, StepKind, present, read_by_kind, read_choice
from flows.engine.engine import Turn
from flows.storage.experiences import (
    LETTERS,
    LEVELS,
    SETTINGS,
    STATUSES,
    TYPES,
    month_index,
    month_label,
    month_str,
    parse_month,
)
from flows.storage.profiles import Profile, load_profile

LOG = "tracker_log"
EDIT = "tracker_edit"
STEPS = (
    "type", "level", "specialty", "institution", "teaching", "setting",
    "start", "end", "status", "letter", "letter_writer",
)
TEACHING = ("yes", "no", "unsure")  # stored as 1, 0 and NULL
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
PAST_MONTHS, FUTURE_MONTHS = 10 * 12, 5 * 12
EMPTY = {StepKind.TEXT: "tracker.empty_text", StepKind.MONTH: "tracker.empty_month"}  # an empty message
REMOVE = "-"  # the letter writer's "remove the name" button
# Typed words that name a choice beyond its label (a label's own words, and yes/no words
# where the choices are yes and no, are read anyway).
WORDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("letter", "none"): ("no", "none", "not yet"),
    ("letter", "asked"): ("asked",),
    ("status", "ongoing"): ("ongoing", "now", "in progress"),
    ("status", "done"): ("finished", "completed", "over"),
    ("level", "hands_on"): ("hands on", "handson"),
    ("level", "non"): ("not hands on", "observing", "shadowing"),
}
_LEADING_SYMBOLS = re.compile(r"^[^\w(]+")


# -- small helpers ----------------------------------------------------------------------------------
def this_month(turn: Turn) -> int:
    return month_index(turn.now.date())


def month_name(turn: Turn, index: int) -> str:
    return month_label(index, turn.t("tracker.months"))


def months_text(turn: Turn, n: int) -> str:
    return turn.t("tracker.unit_month" if n == 1 else "tracker.unit_months", n=n)


def choice_label(turn: Turn, field: str, code: str) -> str:
    return turn.t(f"tracker.{field}.{code}")


def bare(turn: Turn, field: str, code: str) -> str:
    """A choice's label without its emoji: "Externship"."""
    return _LEADING_SYMBOLS.sub("", to_plain(choice_label(turn, field, code)))


def profile_of(turn: Turn) -> Profile | None:
    return load_profile(turn.store, turn.user_id)


def allowed_levels(kind: str | None) -> tuple[str, ...]:
    """The levels an experience of this kind may be marked: the guide's level for the kind or
    less hands-on, never more (readiness would not count more anyway)."""
    cap = benchmarks().levels.get(kind or "", "hands_on")
    return LEVELS[LEVELS.index(cap):]


def guess_status(turn: Turn, answers: Mapping[str, Any]) -> str:
    today = this_month(turn)
    if not answers.get("start") or not answers.get("end"):
        return "planned"
    if month_index(answers["end"]) < today:
        return "done"
    return "planned" if month_index(answers["start"]) > today else "ongoing"


def teaching_code(value: int | None, answered: bool = True) -> str | None:
    if value is None:
        return "unsure" if answered else None
    return "yes" if value else "no"


def wants_writer(answers: Mapping[str, Any]) -> bool:
    """Ask who writes the letter only when there is (or will be) one."""
    return answers.get("letter") != "none"


def stored(step: str, value: Any, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The columns one answer writes, with the rules that go with it: a new type brings its
    usual level; a start after the end moves the end along, keeping the length; no letter, no
    writer."""
    if step == "teaching":
        return {"teaching": {"yes": 1, "no": 0}.get(value)}
    fields: dict[str, Any] = {step: value}
    if step == "type" and (value != answers.get("type") or not answers.get("level")):
        fields["level"] = benchmarks().levels[value]
    if step == "start" and answers.get("end") and month_index(value) > month_index(answers["end"]):
        old = answers.get("start")
        length = month_index(answers["end"]) - month_index(old) if old else 0
        fields["end"] = month_str(month_index(value) + max(length, 0))
    if step == "letter" and value == "none":
        fields["letter_writer"] = None
    return fields


# -- options ----------------------------------------------------------------------------------------
def choices(field: str, suggest: Callable[[Ask], str] | None = None) -> Callable[[Ask], list[Option]]:
    """A choice step's buttons; the current answer (or else the suggested one) marked ✓."""

    def options(ask: Ask) -> list[Option]:
        current = ask.answers.get(field)
        marked = current if present(current) else suggest(ask) if suggest else None
        codes = allowed_levels(ask.answers.get("type")) if field == "level" else CHOICES[field]
        return [
            Option(code, ask.t("tracker.suggested", label=bare(ask.turn, field, code)) if code == marked
                   else choice_label(ask.turn, field, code), WORDS.get((field, code), ()), plain=True)
            for code in codes
        ]

    return options


def suggested_level(ask: Ask) -> str:
    return benchmarks().levels.get(ask.answers.get("type") or "", "hands_on")


def start_options(ask: Ask) -> list[Option]:
    today = this_month(ask.turn)
    return [
        Option(month_str(today + delta), ask.t(key, month=month_name(ask.turn, today + delta)), plain=True)
        for key, delta in (("tracker.button_last_month", -1), ("tracker.button_this_month", 0),
                           ("tracker.button_next_month", 1))
    ]


def end_options(ask: Ask) -> list[Option]:
    """How long it lasts, as buttons (without a start: the months around now)."""
    if not ask.answers.get("start"):
        return start_options(ask)
    start = month_index(ask.answers["start"])
    return [
        Option(month_str(start + n - 1), ask.t("tracker.button_months_long", months=months_text(ask.turn, n),
                                                month=month_name(ask.turn, start + n - 1)), plain=True)
        for n in (1, 2, 3, 4)
    ]


def specialty_options(ask: Ask) -> list[Option]:
    profile = profile_of(ask.turn)
    return [Option(f"p{i}", clean(s, 40), plain=True) for i, s in enumerate(profile.specialties[:3] if profile else ())]


def writer_options(ask: Ask) -> list[Option]:
    if ask.editing and ask.answers.get("letter_writer"):
        return [Option(REMOVE, "tracker.button_remove_writer")]
    return []


# -- reading typed answers ------------------------------------------------------------------------
def read_loosely(ask: Ask, text: str) -> str:
    """A typed choice: as every dialog reads one, then the one label it starts, then the one
    label it is part of ("sub", "obs"). A level is read among all levels, so that one above the
    kind's is told why it can't be picked."""
    if ask.step.name == "level":
        every = [Option(code, choice_label(ask.turn, "level", code), WORDS.get(("level", code), ()), plain=True)
                 for code in LEVELS]
        ask = Ask(ask.turn, ask.dialog, dataclasses.replace(ask.step, options=every), ask.answers)
    try:
        return read_choice(ask, text)
    except InvalidAnswer as exc:
        wanted = typed.words_of(text)
        options = ask.step.options(ask) if callable(ask.step.options) else ask.step.options
        labels = {o.code: typed.words_of(_LEADING_SYMBOLS.sub("", to_plain(o.label))) for o in options}
        for fits in (str.startswith, str.__contains__):
            found = [code for code, label in labels.items() if wanted and fits(label, wanted)]
            if len(found) == 1:
                return found[0]
        raise exc


def read_text(ask: Ask, text: str) -> Any:
    """A name. "back" is none: changing one answer, there is no step to go back to."""
    if typed.move_of(text) == "back":
        raise InvalidAnswer(ask.t("tracker.back_to_keep"))
    return read_by_kind(ask, text)


def read_month(ask: Ask, text: str) -> Any:
    """A month as people type it; at the end, also how long it lasts ("4 weeks", "3")."""
    turn = ask.turn
    index = parse_month(text, this_month(turn))
    start = ask.answers.get("start")
    if index is None and ask.step.name == "end" and start:
        found = typed.months_answer(text)
        if found is not None and found[0] >= 1:
            months, duration = found
            end = month_str(month_index(start) + months - 1)
            if duration is not None and duration.unit != "month":
                return Heard(end, ask.say("heard_length", typed=clean(text, 40), months=months_text(turn, months)))
            return end
    if index is None:
        raise InvalidAnswer(turn.t("tracker.bad_month", text=clean(text, 40)))
    return month_str(index)


# -- checking any answer, typed or pressed ---------------------------------------------------------
def check(ask: Ask, value: Any) -> Any:
    turn, answers, step = ask.turn, ask.answers, ask.step.name
    if step == "level" and value not in allowed_levels(answers.get("type")):
        raise InvalidAnswer(turn.t("tracker.level_above_kind", kind=bare(turn, "type", answers.get("type") or ""),
                                   level=bare(turn, "level", allowed_levels(answers.get("type"))[0])))
    if step in MONTH_FIELDS:
        return checked_month(ask, value)
    starts = month_index(answers["start"]) if answers.get("start") else None
    if starts is not None and starts > this_month(turn):  # not begun yet
        if step == "status" and value == "done":
            raise InvalidAnswer(turn.t("tracker.done_in_future", month=month_name(turn, starts)))
        if step == "letter" and value == "received":
            raise InvalidAnswer(turn.t("tracker.letter_in_future", month=month_name(turn, starts)))
    if step == "specialty" and re.fullmatch(r"p\d", str(value)):  # one of the plan's, pressed
        profile = profile_of(turn)
        picks = profile.specialties[:3] if profile else ()
        return clean(picks[int(value[1:])] if int(value[1:]) < len(picks) else value, TEXT_LIMITS["specialty"])
    if step == "specialty":  # typed: "family med", "peds", "IM" are stored as the list names them
        if typed.names_a_figure(str(value)):
            raise InvalidAnswer(turn.t("tracker.bad_specialty"))  # "4 weeks", "2026": no specialty
        return display_specialty(str(value))
    if step == "letter_writer" and (value == REMOVE or typed.yes_no(str(value)) == "no"
                                    or typed.words_of(str(value)) in no_writer_words(turn)):
        return None  # "remove", "nobody": no name
    return value


def no_writer_words(turn: Turn) -> set[str]:
    return {typed.words_of(w) for w in turn.t("tracker.no_writer_words").split(",")}


def checked_month(ask: Ask, value: str) -> str:
    turn, index = ask.turn, month_index(value)
    today = this_month(turn)
    if index < today - PAST_MONTHS:
        raise InvalidAnswer(turn.t("tracker.month_too_old", month=month_name(turn, index)))
    if index > today + FUTURE_MONTHS:
        raise InvalidAnswer(turn.t("tracker.month_too_far", month=month_name(turn, index)))
    start = ask.answers.get("start")
    if ask.step.name == "end" and start and index < month_index(start):
        raise InvalidAnswer(turn.t("tracker.end_before_start", end=month_name(turn, index),
                                   start=month_name(turn, month_index(start))))
    return value


# -- how an answer reads ---------------------------------------------------------------------------
def shown(ask: Ask, value: Any) -> str | None:
    step = ask.step.name
    if step == "level" and not ask.editing:
        return None  # the ✓ on its button says it (the type has just set it)
    if step in CHOICES:
        return to_plain(choice_label(ask.turn, step, str(value)))
    if step in MONTH_FIELDS:
        return month_name(ask.turn, month_index(value))
    return str(value)


# -- the steps ---------------------------------------------------------------------------------------
def level_prompt(ask: Ask) -> str:
    """A choice of levels, or the one level the kind can have."""
    return "tracker.ask.level_fixed" if len(allowed_levels(ask.answers.get("type"))) == 1 else "tracker.ask.level"


def specialty_prompt(ask: Ask) -> str:
    """Typed, or one of the plan's specialties tapped when there is a plan."""
    return "tracker.ask.specialty" if specialty_options(ask) else "tracker.ask.specialty_no_profile"


def log_values(ask: Ask) -> dict[str, object]:
    """The placeholders of the /log questions."""
    turn, answers = ask.turn, ask.answers
    if ask.step.name == "level":
        return {"level": to_plain(choice_label(turn, "level", suggested_level(ask)))}
    if ask.step.name == "end":
        start = answers.get("start")
        return {"start": month_name(turn, month_index(start)) if start else "—"}
    if ask.step.name == "status":
        return {"guess": to_plain(choice_label(turn, "status", guess_status(turn, answers)))}
    return {}


def edit_values(title: Callable[[Turn], str]) -> Callable[[Ask], dict[str, object]]:
    def values(ask: Ask) -> dict[str, object]:
        return {"field": to_plain(ask.t(f"tracker.field.{ask.step.name}")).lower(), "title": title(ask.turn)}

    return values


def steps(title: Callable[[Turn], str] | None = None) -> list[Step]:
    """The steps, worded for /log, or (with the ``title`` of an experience) for changing it."""
    editing = title is not None
    widths = {"type": 2, "level": 1, "teaching": 1, "setting": 2, "status": 3, "letter": 2}
    options: dict[str, Options] = {
        "specialty": specialty_options, "letter_writer": writer_options,
        "start": start_options, "end": end_options,
        **{f: choices(f, suggested_level if f == "level" else None) for f in CHOICES},
    }
    options["status"] = choices("status", lambda ask: guess_status(ask.turn, ask.answers))

    def prompt(name: str) -> str | Callable[[Ask], str]:
        if editing:
            return ("tracker.change_choice" if name in CHOICES else
                    "tracker.change_month" if name in MONTH_FIELDS else "tracker.change_text")
        return {"level": level_prompt, "specialty": specialty_prompt}.get(name, f"tracker.ask.{name}")

    made = []
    for name in STEPS:
        kind = StepKind.CHOICE if name in CHOICES else StepKind.MONTH if name in MONTH_FIELDS else StepKind.TEXT
        read = read_loosely if name in CHOICES else read_month if name in MONTH_FIELDS else read_text
        made.append(Step(
            name, kind, prompt(name), options=options.get(name, ()), read=read, check=check, shown=shown,
            values=edit_values(title) if title else log_values, width=widths.get(name, 1),
            limit=TEXT_LIMITS.get(name, MAX_INPUT), empty=EMPTY.get(kind, ""),
            when=wants_writer if name == "letter_writer" else None,
            skip=name == "letter_writer", keep=name != "level",
        ))
    return made


def answers_of(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored experience (or draft) as the steps' answers. A draft's empty teaching column
    is "not sure" only once the draft is past that question."""
    if not row:
        return {}
    draft = row.get("draft")
    answered = draft is None or (draft in STEPS and STEPS.index(draft) > STEPS.index("teaching"))
    answers = {name: row.get(name) for name in STEPS}
    answers["teaching"] = teaching_code(row.get("teaching"), answered)
    return answers
