"""Goal clarification: a short conversation whose answers become the personal USCE plan.

Commands: /plan (the plan, or the questions first if they are not finished) and /profile
(the answers, each one changeable on its own). Menu: "🎯 My plan", "👤 Profile".

The questions are one ``transitions`` machine declared as data below (:data:`SPEC`); the
same machine serves the first run (flow ``onboarding``) and changing one answer from
/profile (flow ``profile``). Every answer is written to ``profiles`` in the same
transaction that moves the dialogue on, together with the step reached, so /cancel, a
restart or a crash loses nothing and a returning user continues where they stopped.

Button data (prefix ``ob``): ``s`` start or continue the questions; ``e:<state>`` change
one answer; ``a:<state>:<code>`` an answer; ``b:<state>`` back; ``k:<state>`` keep the
current answer or skip; ``d:<state>`` done with a multi-select question. The state in
the data must be the user's current state, else the button is stale.

Time zones: an IANA name (any case), a city or country, or a UTC offset. Whole-hour
offsets become fixed-offset zones (``+3`` -> ``Etc/GMT-3``: the Etc names count the other
way round); offsets with minutes (``UTC+5:30``) become a real zone that keeps that
offset, from ``content/plan.yaml`` (``Asia/Kolkata``), since no fixed-offset name exists.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import MAX_INPUT, clean
from flows.base.types import Button, Keyboard, Reply, column
from flows.domain import plan_view, typed
from flows.domain.plan import MONTH_ABBR, Rules, build_plan, load_rules, month_label
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.engine.machine import FlowMachine, FlowSpec
from flows.storage.experiences import list_experiences
from flows.storage.profiles import Profile, load_profile, save_answer
from flows.storage.profiles import migrations as profile_migrations

FLOW = "onboarding"
EDIT_FLOW = "profile"
FLOWS = (FLOW, EDIT_FLOW)
DONE = "done"
HEARD = "_heard"  # a _read_* result key: how a typed answer was understood, said back in one line


# -- the questions, as data -----------------------------------------------------------------
def is_student(profile: Profile) -> bool:
    return profile.status == "student"


def months_unknown(profile: Profile) -> bool:
    """The user said they have some US experience but not yet how many months."""
    return profile.us_months is None


def has_us_experience(profile: Profile) -> bool:
    return bool(profile.us_months)


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
FIELD = {  # the profile column each question fills
    "status": "status",
    "student_year": "student_year",
    "grad_year": "grad_year",
    "specialties": "specialties",
    "application": "application",
    "months": "months_available",
    "budget": "budget",
    "visa": "visa",
    "us_experience": "us_months",
    "us_months": "us_months",
    "letters": "us_letters",
    "gaps": "gaps",
    "timezone": "timezone",
}
MULTI = frozenset({"specialties", "gaps"})  # toggles, then "Done"
# After changing one answer from /profile, these questions may follow it.
EDIT_FOLLOW_UPS = {"status": ("student_year", "grad_year"), "us_experience": ("us_months",)}
EDITABLE = ("status", "grad_year", "specialties", "application", "months", "budget", "visa",
            "us_experience", "letters", "gaps", "timezone")


def _chain(trigger: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"trigger": trigger, "source": s, "dest": d} for s, d in pairs]


SPEC = FlowSpec(
    name=FLOW,
    states=(*QUESTIONS, DONE),
    initial="status",
    transitions=[
        # an answer moves on
        {"trigger": "next", "source": "status", "dest": "student_year", "conditions": is_student},
        *_chain(
            "next",
            ("status", "grad_year"),
            ("student_year", "grad_year"),
            ("grad_year", "specialties"),
            ("specialties", "application"),
            ("application", "months"),
            ("months", "budget"),
            ("budget", "visa"),
            ("visa", "us_experience"),
        ),
        {"trigger": "next", "source": "us_experience", "dest": "us_months", "conditions": months_unknown},
        *_chain(
            "next",
            ("us_experience", "letters"),
            ("us_months", "letters"),
            ("letters", "gaps"),
            ("gaps", "timezone"),
            ("timezone", DONE),
        ),
        # questions that may be skipped
        *_chain(
            "skip",
            ("months", "budget"),
            ("budget", "visa"),
            ("visa", "us_experience"),
            ("letters", "gaps"),
            ("timezone", DONE),
        ),
        # back to the previous question
        *_chain("back", ("student_year", "status")),
        {"trigger": "back", "source": "grad_year", "dest": "student_year", "conditions": is_student},
        *_chain(
            "back",
            ("grad_year", "status"),
            ("specialties", "grad_year"),
            ("application", "specialties"),
            ("months", "application"),
            ("budget", "months"),
            ("visa", "budget"),
            ("us_experience", "visa"),
            ("us_months", "us_experience"),
        ),
        {"trigger": "back", "source": "letters", "dest": "us_months", "conditions": has_us_experience},
        *_chain("back", ("letters", "us_experience"), ("gaps", "letters"), ("timezone", "gaps")),
    ],
)
MACHINE = FlowMachine(SPEC)


# -- reading typed answers (pure) ---------------------------------------------------------------
NUMBER_WORDS = {
    "zero": 0, "none": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
}
MONTH_NAMES = {name.lower(): i + 1 for i, name in enumerate(MONTH_ABBR)} | {
    "january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8,
    "sept": 9, "september": 9, "october": 10, "november": 11, "december": 12,
}
_DIGITS = re.compile(r"(?<![\d.,-])\d+(?![\d.,])")
_WORDS = re.compile(r"[^\w/+&-]+")


def normalize(text: str) -> str:
    """Lower case, accents and emoji dropped, punctuation turned into single spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and ch.isprintable())
    return " ".join(_WORDS.sub(" ", text.lower()).split())


def parse_number(text: str) -> int | None:
    """The one whole number in a short answer ("3", "about 3 months", "year 4", "three")."""
    words = normalize(text)
    if words in NUMBER_WORDS:
        return NUMBER_WORDS[words]
    numbers = _DIGITS.findall(text)
    if len(numbers) != 1 or len(numbers[0]) > 4 or re.search(r"[-−]\s*\d", text):
        return None
    return int(numbers[0])


def parse_month(text: str) -> tuple[int, int] | str:
    """(year, month) from "09/2027", "2027-09", "Sep 2027", "september '27"; else an error code:
    "need_month" (a year alone), "bad_month" (month 13) or "unreadable"."""
    low = text.lower().strip()
    m = re.fullmatch(r"(\d{4})\s*[-/. ]\s*(\d{1,2})", low) or None
    if m:
        year, month = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"(\d{1,2})\s*[-/. ]\s*(\d{4})", low):
        month, year = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"([a-z]+)\.?,?\s*[-/ ]?\s*'?(\d{4}|\d{2})", low):
        if m[1] not in MONTH_NAMES:
            return "unreadable"
        month, year = MONTH_NAMES[m[1]], int(m[2])
        year += 2000 if year < 100 else 0
    elif m := re.fullmatch(r"(\d{4})\s*[-/ ]?\s*([a-z]+)", low):
        if m[2] not in MONTH_NAMES:
            return "unreadable"
        month, year = MONTH_NAMES[m[2]], int(m[1])
    elif re.fullmatch(r"\d{4}", low):
        return "need_month"
    else:
        return "unreadable"
    if not 1 <= month <= 12:
        return "bad_month"
    return year, month


def match_choice(text: str, words: Mapping[str, tuple[str, ...]], labels: Mapping[str, str]) -> str | None:
    """The answer code whose label or listed words the typed text names, if exactly one does."""
    typed = normalize(text)
    if not typed:
        return None
    for code, aliases in words.items():
        if typed == code or typed in aliases or typed == normalize(labels.get(code, "")):
            return code
    return None


@functools.cache
def _zone_index() -> dict[str, str]:
    """Lower-cased zone names and their cities ("asia/kolkata", "kolkata", "new york")."""
    index: dict[str, str] = {}
    cities: dict[str, str] = {}
    for name in sorted(available_timezones()):
        index[name.lower()] = name
        area, _, city = name.rpartition("/")
        if area.split("/")[0] in {"Africa", "America", "Asia", "Atlantic", "Australia", "Europe",
                                  "Indian", "Pacific"}:
            cities.setdefault(city.replace("_", " ").lower(), name)
    return cities | index


_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+\-−])\s*(\d{1,2})(?:\s*[:.h]?\s*(\d{2}))?")


def parse_timezone(text: str, rules: Rules) -> str | None:
    """An IANA zone name for a typed zone, city, country or UTC offset; None if unknown."""
    raw = " ".join(text.strip().split())
    low = raw.lower()
    if low in {"utc", "gmt", "z", "utc+0", "gmt+0", "utc 0", "+0", "0", "utc±0"}:
        return "UTC"
    m = _OFFSET.fullmatch(low)
    if m:
        sign = -1 if m[1] in "-−" else 1
        hours, minutes = int(m[2]), int(m[3] or 0)
        if minutes == 0 and hours == 0:
            return "UTC"
        if minutes == 0 and (hours <= 14 if sign > 0 else hours <= 12):
            # Etc/GMT names flip the sign: UTC+3 is Etc/GMT-3.
            return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"
        key = f"{'+' if sign > 0 else '-'}{hours}:{minutes:02d}"
        return rules.part_hour_offsets.get(key)
    words = normalize(raw.replace("_", " ")).replace(" / ", "/")
    index = _zone_index()
    name = rules.places.get(words) or index.get(low.replace(" ", "_")) or index.get(words)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def next_cycles(today: date, rules: Rules) -> list[date]:
    """The application months offered as buttons: the next cycles still ahead."""
    year = today.year if today.month < rules.cycle_month else today.year + 1
    return [date(year + i, rules.cycle_month, 1) for i in range(rules.cycles_offered)]


# -- the feature ---------------------------------------------------------------------------------
class Onboarding(Feature):
    name = "onboarding"
    prefix = "ob"
    migrations = profile_migrations
    flows = FLOWS
    menu_items = (
        MenuEntry("onboarding.menu_plan", "plan", 10),
        MenuEntry("onboarding.menu_profile", "profile", 70, section="settings"),
    )
    deep_links = ("plan",)
    flow_titles = {FLOW: "onboarding.flow_title", EDIT_FLOW: "onboarding.edit_flow_title"}

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or load_rules()
        self.specialty_names = tuple(s.name for s in self.rules.specialties)

    def commands(self) -> dict[str, CommandHandler]:
        return {"plan": self.plan, "profile": self.profile}

    def help_keys(self) -> tuple[str, ...]:
        return ("onboarding.help_plan", "onboarding.help_profile")

    # -- entry points -------------------------------------------------------------------------
    def on_start(self, turn: Turn) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if profile is not None and profile.complete:
            return []
        key = "onboarding.offer" if profile is None else "onboarding.offer_continue"
        return [Reply(turn.t(key, n=TOTAL_STEPS), ((Button(turn.t("onboarding.button_begin"), "ob:s"),),))]

    def plan(self, turn: Turn, args: str) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if profile is not None and profile.complete:
            return self._plan_replies(turn, profile)
        if turn.session.flow == FLOW:
            return [Reply(turn.t("onboarding.finish_first"))]  # the engine adds "Continue?"
        return self._begin(turn, profile)

    def profile(self, turn: Turn, args: str) -> list[Reply]:
        return [self._profile_view(turn, load_profile(turn.store, turn.user_id))]

    def prompt(self, turn: Turn) -> list[Reply]:
        state = turn.session.state
        if state not in STEP:
            turn.session.leave()
            return [turn.engine.main_menu(turn)]
        return [self._ask(turn, self._load(turn), state)]

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        state = turn.session.state
        if state not in STEP:
            return self.prompt(turn)
        value = clean(text, MAX_INPUT)
        if not value:
            raise InvalidAnswer(turn.t("onboarding.bad_empty"))
        profile = self._load(turn)
        move = typed.move_of(value)
        if move == "back" and (turn.session.flow == EDIT_FLOW or MACHINE.can_fire("back", state)):
            return self._back(turn, profile, state)
        movable = self._has_answer(profile, state) or MACHINE.can_fire("skip", state)
        if move in ("skip", "keep") and turn.session.flow == FLOW and state not in MULTI and movable:
            return self._keep(turn, profile, state)
        if move in ("done", "skip") and state in MULTI:  # "skip" at a pick-several step: done with what is picked
            return self._done(turn, profile, state)
        return self._answer(turn, profile, state, value, pressed=False)

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, rest = payload.partition(":")
        if action == "s" and not rest:
            if turn.session.flow == FLOW:
                return self.prompt(turn)
            return self.plan(turn, "")
        if action == "e":
            return self._edit(turn, rest)
        if action == "p":  # a screen of the plan: the card, a section, the full plan
            profile = load_profile(turn.store, turn.user_id)
            if profile is None or not profile.complete:
                raise StaleButton()
            return self._plan_replies(turn, profile, rest, pressed=True)
        state, _, code = rest.partition(":")
        session = turn.session
        if session.flow not in FLOWS or session.state != state or state not in STEP:
            raise StaleButton()
        profile = self._load(turn)
        if action == "a" and code:
            return self._answer(turn, profile, state, code, pressed=True)
        if action == "b" and not code:
            return self._back(turn, profile, state)
        if action == "k" and not code and session.flow == FLOW:
            return self._keep(turn, profile, state)
        if action == "d" and not code and state in MULTI:
            return self._done(turn, profile, state)
        raise StaleButton()

    # -- moving through the questions ---------------------------------------------------------------
    def _load(self, turn: Turn) -> Profile:
        return load_profile(turn.store, turn.user_id) or Profile(turn.user_id)

    def _begin(self, turn: Turn, profile: Profile | None) -> list[Reply]:
        step = profile.onboarding_step if profile and profile.onboarding_step in STEP else "status"
        turn.session.enter(FLOW, step)
        current = profile or Profile(turn.user_id)
        if step == "status":
            intro = turn.t("onboarding.intro", n=TOTAL_STEPS)
        else:
            intro = turn.t("onboarding.intro_back", k=STEP[step], n=TOTAL_STEPS)
        return [Reply(intro), self._ask(turn, current, step)]

    def _save(self, turn: Turn, profile: Profile, **updates: Any) -> Profile:
        save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), **updates)
        for name in ("application", "timezone"):
            if name in updates and updates[name] != getattr(profile, name):
                turn.changed.add("profile")  # reminders follow the application date and zone
        return replace(profile, **updates)

    def _move(self, turn: Turn, before: Profile, state: str, trigger: str, updates: dict[str, Any]) -> list[Reply]:
        """Store ``updates`` and go to the question ``trigger`` leads to (or finish)."""
        after = replace(before, **updates)
        session = turn.session
        if session.flow == EDIT_FLOW:
            profile = self._save(turn, before, **updates) if updates else before
            follow = session.data.get("follow", [])
            target = MACHINE.fire(trigger, state, after)
            if trigger == "back" and state == session.data.get("edit"):
                session.leave()  # back from the answer being changed: the profile, unchanged
                return [self._profile_view(turn, profile)]
            if target == DONE or (trigger != "back" and target not in follow):
                session.leave()
                return [self._profile_view(turn, profile, note="onboarding.saved")]
            session.enter(EDIT_FLOW, target, dict(session.data))
            return [self._ask(turn, profile, target)]
        target = MACHINE.fire(trigger, state, after)
        profile = self._save(turn, before, **updates, onboarding_step=target)
        if target == DONE:
            return self._finish(turn, profile)
        session.enter(FLOW, target)
        return [self._ask(turn, profile, target)]

    def _back(self, turn: Turn, profile: Profile, state: str) -> list[Reply]:
        if turn.session.flow == FLOW and not MACHINE.can_fire("back", state):
            raise StaleButton()
        return self._move(turn, profile, state, "back", {})

    def _keep(self, turn: Turn, profile: Profile, state: str) -> list[Reply]:
        if self._has_answer(profile, state) and state not in MULTI:
            return self._move(turn, profile, state, "next", {})
        if MACHINE.can_fire("skip", state):
            return self._move(turn, profile, state, "skip", {})
        raise StaleButton()

    def _done(self, turn: Turn, profile: Profile, state: str) -> list[Reply]:
        if state == "specialties" and not profile.specialties:
            raise InvalidAnswer(turn.t("onboarding.bad_no_specialty"))
        return self._move(turn, profile, state, "next", {})

    def _finish(self, turn: Turn, profile: Profile) -> list[Reply]:
        profile = self._save(turn, profile, completed_at=profile.completed_at or turn.now.isoformat(timespec="seconds"))
        turn.store.record_completion(turn.user_id, "onboarding", turn.now)
        turn.changed.add("profile")
        turn.session.leave()
        return [Reply(turn.t("onboarding.finished")), *self._plan_replies(turn, profile)]

    def _edit(self, turn: Turn, state: str) -> list[Reply]:
        profile = load_profile(turn.store, turn.user_id)
        if state not in EDITABLE or profile is None or not profile.complete:
            raise StaleButton()
        turn.session.enter(EDIT_FLOW, state, {"edit": state, "follow": list(EDIT_FOLLOW_UPS.get(state, ()))})
        return [self._ask(turn, profile, state)]

    def _has_answer(self, profile: Profile, state: str) -> bool:
        value = getattr(profile, FIELD[state])
        return value is not None and value != ()

    # -- answers ---------------------------------------------------------------------------------------
    def _answer(self, turn: Turn, profile: Profile, state: str, value: str, pressed: bool) -> list[Reply]:
        if state in MULTI:
            return self._toggle(turn, profile, state, value, pressed)
        updates = getattr(self, f"_read_{state}")(turn, profile, value, pressed)
        heard = updates.pop(HEARD, None)
        if state == "status" and turn.session.flow == EDIT_FLOW:
            follow = []
            if updates["status"] == "student":
                follow.append("student_year")
            if updates["status"] != profile.status:
                follow.append("grad_year")
            turn.session.data["follow"] = follow
            turn.session.dirty = True
        replies = self._move(turn, profile, state, "next", updates)
        return [Reply(heard), *replies] if heard else replies

    def _choice(self, turn: Turn, state: str, value: str, pressed: bool) -> str:
        words = self.rules.aliases[state]
        if pressed:
            if value not in words:
                raise StaleButton()
            return value
        labels = {code: turn.t(f"onboarding.opt_{state}_{code}") for code in words}
        code = match_choice(value, words, labels) or match_choice(typed.without_hedges(value), words, labels)
        if code is None:  # "tight budget", "i have b1/b2 already": one answer's words inside the message
            code = typed.named_inside(value, {c: (*words[c], labels[c]) for c in words})
        if code is None:
            raise InvalidAnswer(turn.t(f"onboarding.bad_{state}"))
        return code

    def _months_typed(self, turn: Turn, state: str, value: str, low: int, high: int) -> int:
        """Months from "3", "3 months", "4 weeks" (one month), "a year"; whole months, halves down."""
        found = typed.months_answer(value)
        if found is None:
            raise InvalidAnswer(turn.t(f"onboarding.bad_{state}_number", low=low, high=high))
        months, _ = found
        if not low <= months <= high:
            raise InvalidAnswer(turn.t(f"onboarding.bad_{state}_range", low=low, high=high, value=months))
        return months

    def _number(self, turn: Turn, state: str, value: str, low: int, high: int, **extra: object) -> int:
        number = parse_number(value)
        if number is None:
            number = typed.parse_whole(value)
        if number is None and low == 0 and typed.yes_no(value) == "no":  # "nope": none
            number = 0
        if number is None:
            raise InvalidAnswer(turn.t(f"onboarding.bad_{state}_number", low=low, high=high, **extra))
        if not low <= number <= high:
            raise InvalidAnswer(turn.t(f"onboarding.bad_{state}_range", low=low, high=high, value=number, **extra))
        return number

    def _read_status(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        status = self._choice(turn, "status", value, pressed)
        if status == "graduate":
            return {"status": status, "student_year": None}
        return {"status": status}

    def _read_student_year(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        span = self.rules.student_year
        if not pressed and typed.is_final_year(value):  # schools differ in length: the graduation year says it
            return {"student_year": None, HEARD: turn.t("onboarding.heard_final_year")}
        return {"student_year": self._number(turn, "student_year", value, span.low, span.high)}

    def _grad_range(self, turn: Turn, profile: Profile) -> tuple[int, int]:
        year = self._today(turn, profile).year
        if is_student(profile):
            return year, year + self.rules.years_to_graduation
        return year - self.rules.years_since_graduation, year

    def _read_grad_year(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        low, high = self._grad_range(turn, profile)
        which = "student" if is_student(profile) else "graduate"
        number = parse_number(value)
        if number is None or number < 1000:
            raise InvalidAnswer(turn.t("onboarding.bad_grad_year_number"))
        if not low <= number <= high:
            raise InvalidAnswer(turn.t(f"onboarding.bad_grad_year_{which}", low=low, high=high, value=number))
        return {"grad_year": number}

    def _read_application(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        match_year = None if pressed else typed.parse_match_year(value)
        # "Match 2028": applications go in the cycle before it
        parsed = (match_year - 1, self.rules.cycle_month) if match_year is not None else parse_month(value)
        if isinstance(parsed, str):
            if pressed:
                raise StaleButton()
            raise InvalidAnswer(turn.t(f"onboarding.bad_application_{parsed}"))
        year, month = parsed
        today = self._today(turn, profile)
        index = year * 12 + month - 1
        now_index = today.year * 12 + today.month - 1
        chosen = month_label(date(max(year, 1), month, 1))
        if index < now_index:
            raise InvalidAnswer(turn.t("onboarding.bad_application_past", month=chosen))
        if index > now_index + 12 * self.rules.max_years_ahead:
            raise InvalidAnswer(
                turn.t("onboarding.bad_application_far", month=chosen, years=self.rules.max_years_ahead)
            )
        answer: dict[str, Any] = {"application": f"{year:04d}-{month:02d}"}
        if match_year is not None:
            answer[HEARD] = turn.t("onboarding.heard_match", month=chosen, match=match_year)
        return answer

    def _read_months(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        span = self.rules.months_available
        if pressed:
            return {"months_available": self._number(turn, "months", value, span.low, span.high)}
        months = self._months_typed(turn, "months", value, span.low, span.high)
        return {"months_available": months, **self._heard_length(turn, value, months)}

    def _heard_length(self, turn: Turn, value: str, months: int) -> dict[str, Any]:
        """Says how a length typed in weeks, days or years was counted ("4 weeks: 1 month")."""
        found = typed.months_answer(value)
        if found is None or found[1] is None or found[1].unit == "month":
            return {}
        return {HEARD: turn.t("onboarding.heard_length", typed=clean(value, 40), months=self._months(turn, months))}

    def _read_budget(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        return {"budget": self._choice(turn, "budget", value, pressed)}

    def _read_visa(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        return {"visa": self._choice(turn, "visa", value, pressed)}

    def _read_us_experience(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        found = None if pressed else typed.months_answer(value)
        if found is not None and found[0] > 0:
            span = self.rules.us_months  # "3" or "4 weeks" answers both questions at once
            months = self._months_typed(turn, "us_months", value, span.low, span.high)
            return {"us_months": months, **self._heard_length(turn, value, months)}
        said = None if pressed else typed.yes_no(value)
        if said in ("yes", "no"):
            return {"us_months": 0 if said == "no" else None}
        code = self._choice(turn, "us_experience", value, pressed)
        return {"us_months": 0 if code == "none" else None}  # "some": the number comes next

    def _read_us_months(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        span = self.rules.us_months
        if pressed:
            return {"us_months": self._number(turn, "us_months", value, span.low, span.high)}
        months = self._months_typed(turn, "us_months", value, span.low, span.high)
        return {"us_months": months, **self._heard_length(turn, value, months)}

    def _read_letters(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        span = self.rules.us_letters
        return {"us_letters": self._number(turn, "letters", value, span.low, span.high)}

    def _read_timezone(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> dict[str, Any]:
        if pressed:
            buttons = self.rules.zone_buttons
            if not value.isdigit() or int(value) >= len(buttons):
                raise StaleButton()
            return {"timezone": buttons[int(value)].zone}
        zone = parse_timezone(value, self.rules)
        if zone is None:
            raise InvalidAnswer(turn.t("onboarding.bad_timezone", value=value[:40]))
        return {"timezone": zone}

    def _toggle(self, turn: Turn, profile: Profile, state: str, value: str, pressed: bool) -> list[Reply]:
        if not pressed and normalize(value) in {"done", "ok", "next", "that s all", "thats all"}:
            return self._done(turn, profile, state)
        if state == "gaps":
            if not pressed and normalize(value) in {"none", "no", "nothing", "none of these"}:
                return self._move(turn, profile, state, "next", {"gaps": ()})
            gap = self._choice(turn, "gaps", value, pressed)
            chosen = tuple(g for g in self.rules.aliases["gaps"] if (g in profile.gaps) != (g == gap))
            updates: dict[str, Any] = {"gaps": chosen}
        else:
            updates = {"specialties": self._toggle_specialty(turn, profile, value, pressed)}
        if turn.session.flow == FLOW:
            updates["onboarding_step"] = state
        profile = self._save(turn, profile, **updates)
        return [self._ask(turn, profile, state, replace=pressed)]

    def _toggle_specialty(self, turn: Turn, profile: Profile, value: str, pressed: bool) -> tuple[str, ...]:
        chosen = list(profile.specialties)
        if pressed:
            options = self._specialty_options(profile)
            if not value.isdigit() or int(value) >= len(options):
                raise StaleButton()
            name = options[int(value)]
            if name in chosen:
                chosen.remove(name)
                return tuple(chosen)
        else:
            found = typed.match_specialty(value, {s.name: s.aliases for s in self.rules.specialties})
            if found.suggestion:  # close to a listed name, not sure: ask
                raise InvalidAnswer(turn.t("onboarding.bad_specialty_unsure", name=found.suggestion))
            name = found.name or ""
            if not name:  # a specialty not on the buttons, without "maybe" around it
                bare = typed.without_hedges(value)
                hedged = bare != typed.words_of(value)  # "dermatology maybe"; else keep it as typed ("PM&R")
                name = clean(bare if hedged and bare else value, self.rules.specialty_length)
                if not any(ch.isalpha() for ch in name):
                    raise InvalidAnswer(turn.t("onboarding.bad_specialty"))
                if name.islower():  # "sports medicine" reads like the listed ones: "Sports medicine"
                    name = name[0].upper() + name[1:]
            if any(name.lower() == c.lower() for c in chosen):
                return tuple(chosen)
        if len(chosen) >= 2:
            raise InvalidAnswer(turn.t("onboarding.bad_too_many", first=chosen[0], second=chosen[1]))
        return (*chosen, name)

    def _specialty_options(self, profile: Profile) -> list[str]:
        return [*self.specialty_names, *(s for s in profile.specialties if s not in self.specialty_names)]

    # -- showing a question -------------------------------------------------------------------------
    def _today(self, turn: Turn, profile: Profile) -> date:
        if profile.timezone:
            try:
                return turn.now.astimezone(ZoneInfo(profile.timezone)).date()
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return turn.now.date()

    def _ask(self, turn: Turn, profile: Profile, state: str, replace: bool = False) -> Reply:
        t = turn.t
        editing = turn.session.flow == EDIT_FLOW
        if editing:
            head = t("onboarding.editing", field=t(f"onboarding.field_{state}"))
        else:
            head = t("onboarding.step", k=STEP[state], n=TOTAL_STEPS)
        lines = [head, t(f"onboarding.q_{state}", **self._question_values(turn, profile, state))]
        current = self._value(turn, profile, state)
        if current and state not in MULTI:
            lines.append(t("onboarding.current", value=current))
        if state in MULTI:
            lines.append(t(f"onboarding.hint_{state}"))
        nav: list[Button] = []
        if editing or MACHINE.can_fire("back", state):
            nav.append(Button(t("onboarding.button_back"), f"ob:b:{state}"))
        if state in MULTI:
            nav.append(Button(t("onboarding.button_done"), f"ob:d:{state}"))
        elif not editing and self._has_answer(profile, state):
            nav.append(Button(t("onboarding.button_keep"), f"ob:k:{state}"))
        elif not editing and MACHINE.can_fire("skip", state):
            nav.append(Button(t("onboarding.button_skip"), f"ob:k:{state}"))
        buttons: Keyboard = (*self._options(turn, profile, state), tuple(nav))
        return Reply("\n".join(lines), tuple(row for row in buttons if row), replace=replace)

    def _question_values(self, turn: Turn, profile: Profile, state: str) -> dict[str, object]:
        if state == "grad_year":
            low, high = self._grad_range(turn, profile)
            return {"low": low, "high": high}
        if state == "specialties":
            return {"limit": self.rules.specialty_length}
        return {}

    def _options(self, turn: Turn, profile: Profile, state: str) -> Keyboard:
        t = turn.t

        def numbers(values: list[int], label: Callable[[int], str] = str, width: int = 3) -> Keyboard:
            return column([Button(label(v), f"ob:a:{state}:{v}") for v in values], width)

        if state in ("status", "budget", "visa", "us_experience"):
            codes = list(self.rules.aliases[state])
            width = 2 if len(codes) == 2 else 1
            return column([Button(t(f"onboarding.opt_{state}_{c}"), f"ob:a:{state}:{c}") for c in codes], width)
        if state == "student_year":
            span = self.rules.student_year  # the same years a typed answer may give
            return numbers(list(range(span.low, span.high + 1)), lambda v: t("onboarding.opt_student_year", year=v))
        if state == "grad_year":
            low, high = self._grad_range(turn, profile)
            years = list(range(low, low + 6)) if is_student(profile) else list(range(high, high - 6, -1))
            return numbers(years)
        if state == "specialties":
            mark = t("onboarding.mark_on")
            return column(
                [
                    Button(f"{mark} {name}" if name in profile.specialties else name, f"ob:a:specialties:{i}")
                    for i, name in enumerate(self._specialty_options(profile))
                ],
                2,
            )
        if state == "application":
            cycles = next_cycles(self._today(turn, profile), self.rules)
            return column(
                [Button(t("onboarding.opt_application", month=month_label(d), match=d.year + 1),
                        f"ob:a:application:{d.year:04d}-{d.month:02d}") for d in cycles], 1
            )
        if state in ("months", "us_months"):
            return numbers([1, 2, 3, 4, 6, 12])
        if state == "letters":
            return numbers([0, 1, 2, 3, 4])
        if state == "gaps":
            mark = t("onboarding.mark_on")
            labels = {g: t(f"onboarding.opt_gaps_{g}") for g in self.rules.aliases["gaps"]}
            return column(
                [
                    Button(f"{mark} {label}" if g in profile.gaps else label, f"ob:a:gaps:{g}")
                    for g, label in labels.items()
                ],
                1,
            )
        if state == "timezone":
            return column(
                [Button(b.label, f"ob:a:timezone:{i}") for i, b in enumerate(self.rules.zone_buttons)], 2
            )
        return ()

    # -- showing answers ------------------------------------------------------------------------------
    def _value(self, turn: Turn, profile: Profile, state: str) -> str | None:
        """An answer as the user reads it (plain text; escaped when put into a text)."""
        t = turn.t
        if state == "status":
            if profile.status is None:
                return None
            label = t(f"onboarding.opt_status_{profile.status}")
            if is_student(profile) and profile.student_year:
                return t("onboarding.value_student_year", status=label, year=profile.student_year)
            return label
        if state == "student_year":
            return str(profile.student_year) if profile.student_year else None
        if state == "grad_year":
            return str(profile.grad_year) if profile.grad_year else None
        if state == "specialties":
            return ", ".join(profile.specialties) or None
        if state == "application":
            return month_label(profile.application_date) if profile.application_date else None
        if state == "months":
            return self._months(turn, profile.months_available)
        if state in ("budget", "visa"):
            code = getattr(profile, state)
            return t(f"onboarding.opt_{state}_{code}") if code else None
        if state in ("us_experience", "us_months"):
            if profile.us_months == 0:
                return t("onboarding.opt_us_experience_none")
            return self._months(turn, profile.us_months)
        if state == "letters":
            return str(profile.us_letters) if profile.us_letters is not None else None
        if state == "gaps":
            return ", ".join(t(f"onboarding.opt_gaps_{g}") for g in profile.gaps if g in self.rules.aliases["gaps"])
        if state == "timezone":
            if not profile.timezone:
                return None
            try:
                local = turn.now.astimezone(ZoneInfo(profile.timezone))
            except (ZoneInfoNotFoundError, ValueError):
                return profile.timezone
            return t("onboarding.value_timezone", zone=profile.timezone, time=local.strftime("%H:%M"))
        return None

    def _months(self, turn: Turn, months: int | None) -> str | None:
        if months is None:
            return None
        return turn.t("onboarding.value_month" if months == 1 else "onboarding.value_months", n=months)

    def _profile_view(self, turn: Turn, profile: Profile | None, note: str | None = None) -> Reply:
        t = turn.t
        if profile is None or (profile.status is None and not profile.complete):
            return Reply(t("onboarding.profile_empty"), ((Button(t("onboarding.button_begin"), "ob:s"),),))
        lines = [t(note)] if note else []
        lines.append(t("onboarding.profile_title"))
        for state in EDITABLE:
            value = self._value(turn, profile, state)
            if state == "gaps" and not value and profile.complete:
                value = t("onboarding.value_no_gaps")
            lines.append(
                t("onboarding.profile_line", field=t(f"onboarding.field_{state}"), value=value or "—")
            )
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
        plan = build_plan(profile, self._today(turn, profile), self.rules, experiences=experiences)
        replies = plan_view.plan_replies(screen, plan, profile, turn.t, self.rules, replace=pressed)
        if replies is None:  # a screen this plan no longer has
            raise StaleButton()
        return replies
