"""What a dialog's step reads: its kind, its options, how a typed answer was heard, and the
reading of typed text by kind (see :mod:`flows.engine.dialog`, which re-exports these)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flows.base.errors import InvalidAnswer
from flows.base.text import clean
from flows.domain import records, typed

if TYPE_CHECKING:
    from flows.engine.dialog import Ask


class StepKind(enum.Enum):
    CHOICE = "choice"  # one of the options
    MULTI = "multi"  # several of the options, then Done
    TEXT = "text"  # free text up to ``limit`` characters
    NUMBER = "number"  # a whole number between ``low`` and ``high``
    DURATION = "duration"  # a length of time, stored in whole months
    MONTH = "month"  # a month of a year, stored as "YYYY-MM"
    YESNO = "yesno"  # yes or no (options: their labels)
    CONFIRM = "confirm"  # one button that confirms; anything else is not an answer


@dataclass(frozen=True, slots=True)
class Option:
    """A button of a step: the stored ``code``, its label (a text key, or the label itself
    when ``plain``), and more ``words`` a typed answer may use for it."""

    code: str
    label: str
    words: tuple[str, ...] = ()
    plain: bool = False


@dataclass(frozen=True, slots=True)
class Heard:
    """A typed answer and one line saying how it was understood ("4 weeks: 1 month")."""

    value: Any
    note: str


def present(value: Any) -> bool:
    return value is not None and value != () and value != [] and value != ""


def options(ask: Ask) -> Sequence[Option]:
    opts = ask.step.options
    return opts(ask) if callable(opts) else opts


def label(ask: Ask, option: Option) -> str:
    return option.label if option.plain else ask.t(option.label)


def reason(ask: Ask, fallback: str, **values: object) -> InvalidAnswer:
    step = ask.step
    if step.reason:
        return InvalidAnswer(ask.t(step.reason, low=step.low, high=step.high, **values))
    return InvalidAnswer(ask.say(fallback, low=step.low, high=step.high, **values))


def read_choice(ask: Ask, text: str) -> str:
    """The option a typed answer names: its code, label or words; then with hedges ("maybe")
    dropped; then one option's words inside a longer message ("tight budget")."""
    opts = options(ask)
    names = {o.code: (o.code, typed.words_of(label(ask, o)), *(typed.words_of(w) for w in o.words)) for o in opts}
    said = typed.words_of(text)
    for candidate in (said, typed.without_hedges(text)):
        found = [code for code, words in names.items() if candidate in words]
        if len(found) == 1:
            return found[0]
    if ask.step.kind is StepKind.YESNO or {"yes", "no"} <= set(names):
        answer = typed.yes_no(text)
        if answer in names:
            return answer
    inside = typed.named_inside(text, {code: words[1:] for code, words in names.items()})
    if inside is not None:
        return inside
    raise reason(ask, "bad_choice")


def read_by_kind(ask: Ask, text: str) -> Any:
    step = ask.step
    kind = step.kind
    if kind in (StepKind.CHOICE, StepKind.YESNO, StepKind.MULTI):
        return read_choice(ask, text)
    if kind is StepKind.TEXT:
        value = clean(text, step.limit + 1)
        if len(value) > step.limit:
            return Heard(value[: step.limit], ask.say("trimmed", limit=f"{step.limit:,}"))
        return value
    if kind is StepKind.NUMBER:
        number = typed.parse_whole(text)
        if number is None and step.low == 0 and typed.yes_no(text) == "no":  # "nope": none
            number = 0
        if number is None:
            raise reason(ask, "bad_number")
        if not step.low <= number <= step.high:
            raise InvalidAnswer(ask.say("bad_range", low=step.low, high=step.high, value=number))
        return number
    if kind is StepKind.DURATION:
        found = typed.months_answer(text)
        if found is None and typed.yes_no(text) == "no" and step.low == 0:
            found = (0, None)
        if found is None:
            raise reason(ask, "bad_duration")
        months, duration = found
        if not step.low <= months <= step.high:
            raise InvalidAnswer(ask.say("bad_range", low=step.low, high=step.high, value=months))
        if duration is not None and duration.unit != "month":
            unit = ask.say("month" if months == 1 else "months", n=months)
            return Heard(months, ask.say("heard_length", typed=clean(text, 40), months=unit))
        return months
    if kind is StepKind.CONFIRM:
        if typed.yes_no(text) == "yes":
            return options(ask)[0].code if options(ask) else "yes"
        raise reason(ask, "bad_confirm")
    if kind is StepKind.MONTH:
        today = records.month_index(ask.turn.now.date())
        index = records.parse_month(text, today)
        if index is None:
            raise reason(ask, "bad_month")
        # limits in months from now (low=-24, high=36); none when both are 0
        if (step.low or step.high) and not today + step.low <= index <= today + step.high:
            raise reason(ask, "bad_month")
        return records.month_str(index)
    raise reason(ask, "bad_choice")

