"""The goal questions as declared steps: their buttons, how a typed answer is read, how an
answer is shown, and where it is stored (one ``profiles`` column each, written the moment it
is given). The same steps serve the first run and changing one answer from /profile.

"US experience" stores no column of its own: "none" is 0 months, a number answers the months
too, and "some" leaves the months to the next step (keeping a number already given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.base.errors import InvalidAnswer
from flows.base.text import clean
from flows.domain import typed
from flows.domain.goals import grad_range, next_cycles, parse_month, parse_number, parse_timezone
from flows.domain.plan import GAPS, Rules, Span, month_label
from flows.engine.dialog import Ask, Heard, Option, Step, StepKind, read_choice
from flows.engine.engine import Turn
from flows.faq.words import looks_like_words
from flows.storage.profiles import Profile, load_profile, save_answer

QUESTIONS = (  # in the order they are asked
    "status",
    "student_year",
    "grad_year",
    "specialties",
    "application",
    "months",
    "budget",
    "visa",
    "us_experience",
    "us_months",
    "letters",
    "gaps",
    "timezone",
)
STEP = {  # "Step k of n": a sub-question shares its parent's number
    "status": 1,
    "student_year": 1,
    "grad_year": 2,
    "specialties": 3,
    "application": 4,
    "months": 5,
    "budget": 6,
    "visa": 7,
    "us_experience": 8,
    "us_months": 8,
    "letters": 9,
    "gaps": 10,
    "timezone": 11,
}
TOTAL_STEPS = 11
EDITABLE = ("status", "grad_year", "specialties", "application", "months", "budget", "visa",
            "us_experience", "letters", "gaps", "timezone")
# After changing one answer from /profile, these questions may follow it.
FOLLOW_UPS = {"status": ("student_year", "grad_year"), "us_experience": ("us_months",)}
MAX_SPECIALTIES = 2
SOME = "some"


def is_student(answers: Mapping[str, Any]) -> bool:
    return answers.get("status") == "student"


def has_some_experience(answers: Mapping[str, Any]) -> bool:
    """The user has some US experience: how many months is asked (or kept)."""
    return answers.get("us_experience") == SOME


PROFILE_FIELDS = tuple(f.name for f in fields(Profile))


def answers_of(profile: Profile) -> dict[str, Any]:
    """A profile as the dialog's answers: its columns, and "us_experience" read from the months."""
    answers = {name: getattr(profile, name) for name in PROFILE_FIELDS}  # asdict would deep-copy every value
    months = profile.us_months
    answers["us_experience"] = None if months is None else "none" if months == 0 else SOME
    return answers


def whole(ask: Ask, value: Any) -> Any:
    """A number button's code as the number it stands for."""
    return int(value) if isinstance(value, str) else value


def numbers(values: Sequence[int]) -> list[Option]:
    return [Option(str(v), str(v), plain=True) for v in values]


class Goals:
    """The steps and the hooks they share, over the plan's rules (``content/plan.yaml``)."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.specialty_names = tuple(s.name for s in rules.specialties)

    def steps(self) -> list[Step]:
        rules, aliases = self.rules, self.rules.aliases
        shown = self.shown

        def choices(state: str) -> list[Option]:
            return [Option(code, f"onboarding.opt_{state}_{code}", words) for code, words in aliases[state].items()]

        return [
            Step("status", StepKind.CHOICE, "onboarding.q_status", options=choices("status"), width=2,
                 reason="onboarding.bad_status", shown=shown),
            Step("student_year", StepKind.NUMBER, "onboarding.q_student_year", options=self.school_years, width=3,
                 when=is_student, read=self.read_student_year, check=whole, shown=shown),
            Step("grad_year", StepKind.NUMBER, "onboarding.q_grad_year", options=self.grad_years, width=3,
                 read=self.read_grad_year, check=whole, values=self.grad_values, shown=shown),
            Step("specialties", StepKind.MULTI, "onboarding.q_specialties", options=self.specialties, width=2,
                 read=self.read_specialty, check=self.check_specialty, min_picks=1,
                 picks_reason="onboarding.bad_no_specialty", values=lambda ask: {"limit": rules.specialty_length},
                 shown=shown),
            Step("application", StepKind.MONTH, "onboarding.q_application", options=self.cycles,
                 read=self.read_application, shown=shown),
            Step("months", StepKind.DURATION, "onboarding.q_months", field="months_available",
                 options=numbers([1, 2, 3, 4, 6, 12]), width=3, skip=True, check=whole, shown=shown,
                 read=lambda ask, text: self.read_months(ask, text, "months", rules.months_available)),
            Step("budget", StepKind.CHOICE, "onboarding.q_budget", options=choices("budget"), skip=True,
                 reason="onboarding.bad_budget", shown=shown),
            Step("visa", StepKind.CHOICE, "onboarding.q_visa", options=choices("visa"), skip=True,
                 reason="onboarding.bad_visa", shown=shown),
            Step("us_experience", StepKind.CHOICE, "onboarding.q_us_experience", options=choices("us_experience"),
                 width=2, read=self.read_us_experience, reason="onboarding.bad_us_experience", shown=shown),
            Step("us_months", StepKind.DURATION, "onboarding.q_us_months", options=numbers([1, 2, 3, 4, 6, 12]),
                 width=3, when=has_some_experience, check=whole, shown=shown,
                 read=lambda ask, text: self.read_months(ask, text, "us_months", rules.us_months)),
            Step("letters", StepKind.NUMBER, "onboarding.q_letters", field="us_letters", options=numbers(range(5)),
                 width=3, skip=True, check=whole, shown=shown,
                 read=lambda ask, text: self.number(ask, text, "letters", rules.us_letters)),
            Step("gaps", StepKind.MULTI, "onboarding.q_gaps", options=choices("gaps"), reason="onboarding.bad_gaps",
                 shown=shown),
            Step("timezone", StepKind.CHOICE, "onboarding.q_timezone", width=2, skip=True, shown=shown,
                 options=[Option(str(i), b.label, plain=True) for i, b in enumerate(rules.zone_buttons)],
                 read=self.read_timezone, check=self.check_timezone),
        ]

    # -- stored answers ------------------------------------------------------------------------
    def load(self, turn: Turn) -> dict[str, Any]:
        """The profile as answers; read once per turn until this connection writes something."""
        writes = turn.store.conn.total_changes
        kept = turn.memo.get("goals")
        if kept is not None and kept[0] == writes:
            return dict(kept[1])
        answers = answers_of(load_profile(turn.store, turn.user_id) or Profile(turn.user_id))
        turn.memo["goals"] = (writes, answers)
        return dict(answers)

    def save(self, turn: Turn, step: Step, value: Any) -> None:
        before = load_profile(turn.store, turn.user_id) or Profile(turn.user_id)
        updates: dict[str, Any] = {step.key: value}
        if step.name == "status" and value == "graduate":
            updates["student_year"] = None
        elif step.name == "us_experience":  # "some": the months come next, a number given before stays
            months = 0 if value == "none" else (before.us_months or None) if value == SOME else value
            updates = {"us_months": months}
        elif step.name == "gaps":
            updates["gaps"] = tuple(g for g in GAPS if g in value)
        self.write(turn, before, **updates)

    def write(self, turn: Turn, before: Profile, **updates: Any) -> None:
        save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), **updates)
        for name in ("application", "timezone"):
            if name in updates and updates[name] != getattr(before, name):
                turn.changed.add("profile")  # reminders follow the application date and zone

    # -- buttons ---------------------------------------------------------------------------------
    def school_years(self, ask: Ask) -> list[Option]:
        span = self.rules.student_year  # the same years a typed answer may give
        return [Option(str(y), ask.t("onboarding.opt_student_year", year=y), plain=True)
                for y in range(span.low, span.high + 1)]

    def grad_years(self, ask: Ask) -> list[Option]:
        low, high = self.grad_range(ask)
        years = range(low, low + 6) if is_student(ask.answers) else range(high, high - 6, -1)
        return numbers(years)

    def specialty_names_for(self, picked: Sequence[str]) -> list[str]:
        """The buttons' names: the listed ones, then the user's own typed ones."""
        return [*self.specialty_names, *(s for s in picked if s not in self.specialty_names)]

    def specialties(self, ask: Ask) -> list[Option]:
        picked = ask.answers.get("specialties") or ()
        mark = ask.say("mark_on")  # the codes are positions (short button data), so the tick is set here
        return [Option(str(i), f"{mark} {name}" if name in picked else name, plain=True)
                for i, name in enumerate(self.specialty_names_for(picked))]

    def cycles(self, ask: Ask) -> list[Option]:
        return [Option(f"{d.year:04d}-{d.month:02d}",
                       ask.t("onboarding.opt_application", month=month_label(d), match=d.year + 1), plain=True)
                for d in next_cycles(self.today(ask.turn, ask.answers), self.rules)]

    # -- reading typed answers -------------------------------------------------------------------
    def number(self, ask: Ask, text: str, state: str, span: Span) -> int:
        low, high = span.low, span.high
        number = parse_number(text)
        if number is None:
            number = typed.parse_whole(text)
        if number is None and low == 0 and typed.yes_no(text) == "no":  # "nope": none
            number = 0
        if number is None:
            raise InvalidAnswer(ask.t(f"onboarding.bad_{state}_number", low=low, high=high))
        if not low <= number <= high:
            raise InvalidAnswer(ask.t(f"onboarding.bad_{state}_range", low=low, high=high, value=number))
        return number

    def read_months(self, ask: Ask, text: str, state: str, span: Span) -> int | Heard:
        """Months from "3", "3 months", "4 weeks" (one month), "a year"; whole months, halves down;
        a length given in other units is said back ("4 weeks: 1 month")."""
        found = typed.months_answer(text)
        if found is None and span.low == 0 and typed.yes_no(text) == "no":  # "nope": none
            found = (0, None)
        if found is None:
            raise InvalidAnswer(ask.t(f"onboarding.bad_{state}_number", low=span.low, high=span.high))
        months, duration = found
        if not span.low <= months <= span.high:
            raise InvalidAnswer(ask.t(f"onboarding.bad_{state}_range", low=span.low, high=span.high, value=months))
        if duration is None or duration.unit == "month":
            return months
        length = self.months_text(ask.turn, months)
        return Heard(months, ask.t("onboarding.heard_length", typed=clean(text, 40), months=length))

    def read_student_year(self, ask: Ask, text: str) -> int | Heard:
        if typed.is_final_year(text):  # schools differ in length: the graduation year says it
            return Heard(None, ask.t("onboarding.heard_final_year"))
        return self.number(ask, text, "student_year", self.rules.student_year)

    def grad_range(self, ask: Ask) -> tuple[int, int]:
        return grad_range(self.today(ask.turn, ask.answers).year, is_student(ask.answers), self.rules)

    def grad_values(self, ask: Ask) -> dict[str, object]:
        low, high = self.grad_range(ask)
        return {"low": low, "high": high}

    def read_grad_year(self, ask: Ask, text: str) -> int:
        low, high = self.grad_range(ask)
        number = parse_number(text)
        if number is None or number < 1000:
            raise InvalidAnswer(ask.t("onboarding.bad_grad_year_number"))
        if not low <= number <= high:
            which = "student" if is_student(ask.answers) else "graduate"
            raise InvalidAnswer(ask.t(f"onboarding.bad_grad_year_{which}", low=low, high=high, value=number))
        return number

    def read_specialty(self, ask: Ask, text: str) -> str:
        """A listed specialty (typos, abbreviations and hedges allowed), one to confirm when close
        but not sure, or another one as typed ("PM&R"), read like the listed ones."""
        found = typed.match_specialty(text, {s.name: s.aliases for s in self.rules.specialties})
        if found.suggestion:  # close to a listed name, not sure: ask
            raise InvalidAnswer(ask.t("onboarding.bad_specialty_unsure", name=found.suggestion))
        name = found.name or ""
        if not name:  # a specialty not on the buttons, without "maybe" around it
            bare = typed.without_hedges(text)
            hedged = bare != typed.words_of(text)  # "dermatology maybe"; else keep it as typed ("PM&R")
            name = clean(bare if hedged and bare else text, self.rules.specialty_length)
            # "yes", "nope", "qwzx vlorp", "4 weeks", "2028" are no specialty: only a name that reads
            # as words, with no figure in it, is kept
            if (typed.yes_no(text) is not None or typed.names_a_figure(text)
                    or not any(ch.isalpha() for ch in name) or not looks_like_words(name)):
                raise InvalidAnswer(ask.t("onboarding.bad_specialty"))
            if name.islower():  # "sports medicine" reads like the listed ones: "Sports medicine"
                name = name[0].upper() + name[1:]
        picked = ask.answers.get("specialties") or ()
        return next((p for p in picked if p.lower() == name.lower()), name)

    def check_specialty(self, ask: Ask, value: str) -> str:
        """A button's position as its name; a third specialty is refused."""
        picked = list(ask.answers.get("specialties") or ())
        if value.isdigit():  # a pressed button (a typed name always has letters)
            value = self.specialty_names_for(picked)[int(value)]
        if value not in picked and len(picked) >= MAX_SPECIALTIES:
            raise InvalidAnswer(ask.t("onboarding.bad_too_many", first=picked[0], second=picked[1]))
        return value

    def read_application(self, ask: Ask, text: str) -> str | Heard:
        match_year = typed.parse_match_year(text)
        # "Match 2028": applications go in the cycle before it
        parsed = (match_year - 1, self.rules.cycle_month) if match_year is not None else parse_month(text)
        if isinstance(parsed, str):
            raise InvalidAnswer(ask.t(f"onboarding.bad_application_{parsed}"))
        year, month = parsed
        today = self.today(ask.turn, ask.answers)
        index, now_index = year * 12 + month - 1, today.year * 12 + today.month - 1
        chosen = month_label(date(max(year, 1), month, 1))
        if index < now_index:
            raise InvalidAnswer(ask.t("onboarding.bad_application_past", month=chosen))
        if index > now_index + 12 * self.rules.max_years_ahead:
            raise InvalidAnswer(ask.t("onboarding.bad_application_far", month=chosen, years=self.rules.max_years_ahead))
        value = f"{year:04d}-{month:02d}"
        if match_year is None:
            return value
        return Heard(value, ask.t("onboarding.heard_match", month=chosen, match=match_year))

    def read_us_experience(self, ask: Ask, text: str) -> Any:
        found = typed.months_answer(text)
        if found is not None and found[0] > 0:  # "3" or "4 weeks" answers both questions at once
            return self.read_months(ask, text, "us_months", self.rules.us_months)
        said = typed.yes_no(text)
        if said in ("yes", "no"):
            return SOME if said == "yes" else "none"
        return read_choice(ask, text)

    def read_timezone(self, ask: Ask, text: str) -> str:
        zone = parse_timezone(text, self.rules)
        if zone is None:
            raise InvalidAnswer(ask.t("onboarding.bad_timezone", value=text[:40]))
        return zone

    def check_timezone(self, ask: Ask, value: str) -> str:
        """A button's position as its zone (a typed zone is a name)."""
        return self.rules.zone_buttons[int(value)].zone if value.isdigit() else value

    # -- showing answers -------------------------------------------------------------------------
    def today(self, turn: Turn, answers: Mapping[str, Any]) -> date:
        local = self.local(turn.now, answers.get("timezone"))
        return (local or turn.now).date()

    @staticmethod
    def local(now: datetime, zone: str | None) -> datetime | None:
        if not zone:
            return None
        try:
            return now.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return None

    def months_text(self, turn: Turn, months: int | None) -> str | None:
        if months is None:
            return None
        return turn.t("onboarding.value_month" if months == 1 else "onboarding.value_months", n=months)

    def shown(self, ask: Ask, value: Any) -> str | None:
        return self.answer_text(ask.turn, ask.answers, ask.step.name)

    def answer_text(self, turn: Turn, answers: Mapping[str, Any], state: str) -> str | None:
        """An answer as the user reads it (plain text; escaped when put into a text)."""
        t = turn.t
        value = answers.get(state)
        if state == "status":
            if value is None:
                return None
            label = t(f"onboarding.opt_status_{value}")
            if is_student(answers) and answers.get("student_year"):
                return t("onboarding.value_student_year", status=label, year=answers["student_year"])
            return label
        if state in ("student_year", "grad_year"):
            return str(value) if value else None
        if state == "specialties":
            return ", ".join(value or ()) or None
        if state == "application":
            return month_label(date.fromisoformat(f"{value}-01")) if value else None
        if state == "months":
            return self.months_text(turn, answers.get("months_available"))
        if state in ("budget", "visa"):
            return t(f"onboarding.opt_{state}_{value}") if value else None
        if state in ("us_experience", "us_months"):
            if answers.get("us_months") == 0:
                return t("onboarding.opt_us_experience_none")
            return self.months_text(turn, answers.get("us_months"))
        if state == "letters":
            return str(answers["us_letters"]) if answers.get("us_letters") is not None else None
        if state == "gaps":
            return ", ".join(t(f"onboarding.opt_gaps_{g}") for g in value or () if g in GAPS)
        if state == "timezone":
            local = self.local(turn.now, value)
            if local is None:
                return value or None
            return t("onboarding.value_timezone", zone=value, time=local.strftime("%H:%M"))
        return None
