"""Reading typed answers the way people type them, for every step of every flow.

Pure functions over the words of ``content/typed.yaml`` (validated by pydantic when loaded):
numbers and number words, durations in days, weeks, months or years converted to months
(four weeks count as one month), the Match year ("Match 2028", "2028 match"), the last year
of school ("final year"), yes/no words, the moves a step may allow ("skip", "back", "keep",
"done", "cancel") and names from a list with typos, abbreviations and hedges ("psychaitry",
"family med", "IM", "family medicine maybe"), matched with rapidfuzz.

Months are read here too, by hand: date parsers such as dateutil read "march 27" as the 27th of
March, where a user planning a rotation means March 2027.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator
from rapidfuzz import fuzz, process, utils

from flows.base.content import CONTENT_DIR, ContentFile, read

TYPED_FILE = CONTENT_DIR / "typed.yaml"
SURE = 88  # a name this close to a listed one is taken as it
UNSURE = 72  # this close: asked to confirm


class _Unit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    months: float
    words: tuple[str, ...]


class Vocabulary(BaseModel):
    """The words of ``content/typed.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    number_words: dict[str, float]
    units: dict[str, _Unit]
    yes_words: frozenset[str]
    no_words: frozenset[str]
    unsure_words: frozenset[str]
    moves: dict[str, frozenset[str]]
    hedges: tuple[str, ...]
    final_year: frozenset[str]
    match_words: frozenset[str]
    specialty_names: tuple[str, ...]
    name_openers: tuple[str, ...] = ()  # "my name is": dropped before a typed name
    not_in_names: frozenset[str] = frozenset()  # words a person's name never has ("what", "my")

    @field_validator("moves")
    @classmethod
    def _known_moves(cls, moves: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
        unknown = set(moves) - {"back", "skip", "keep", "done", "cancel"}
        if unknown:
            raise ValueError(f"unknown moves: {sorted(unknown)}")
        return moves


def parse_vocabulary(path: Path) -> Vocabulary:
    return read(path, Vocabulary)


VOCABULARY = ContentFile(TYPED_FILE.name, parse_vocabulary)


def vocabulary() -> Vocabulary:
    return VOCABULARY.value()


# -- words ---------------------------------------------------------------------------------------
_PUNCT = re.compile(r"[^\w/+.'-]+")


def words_of(text: str) -> str:
    """Lower case, accents dropped, punctuation (but . / + ' -) as single spaces, apostrophes dropped."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and ch.isprintable())
    text = _PUNCT.sub(" ", text.lower()).replace("'", " ").strip(" .")
    return " ".join(text.split())


def without_hedges(text: str, vocab: Vocabulary | None = None) -> str:
    """The answer without the hedges around it: "family medicine maybe" -> "family medicine"."""
    vocab = vocab or vocabulary()
    words = f" {words_of(text)} "
    for hedge in sorted(vocab.hedges, key=len, reverse=True):
        words = words.replace(f" {hedge} ", " ")
    return " ".join(words.split())


def move_of(text: str, vocab: Vocabulary | None = None) -> str | None:
    """"back", "skip", "keep", "done" or "cancel" when the whole message names that move."""
    vocab = vocab or vocabulary()
    typed = words_of(text)
    return next((move for move, names in vocab.moves.items() if typed in names), None)


def yes_no(text: str, vocab: Vocabulary | None = None) -> str | None:
    """"yes", "no" or "unsure" for "yep", "nope", "not really", "idk"…; None otherwise."""
    vocab = vocab or vocabulary()
    typed = words_of(text)
    for answer in ("unsure", "no", "yes"):  # "not sure" before "not"
        if typed in getattr(vocab, f"{answer}_words"):
            return answer
    return None


# -- numbers and durations -------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.,-])(\d+(?:[.,]\d+)?)(?![\w.,])")
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)?|[a-z]+(?: [a-z]+){0,3}?)\s*-?\s*([a-z]+)$")


def parse_number(text: str, vocab: Vocabulary | None = None) -> float | None:
    """The one number in a short answer: "3", "about 3", "2.5", "three", "a couple"; None if
    there is none, more than one, or a negative one, and for a Match year ("Match 2028" is no
    count of months, letters or years)."""
    vocab = vocab or vocabulary()
    typed = without_hedges(text, vocab)
    if typed in vocab.number_words:
        return vocab.number_words[typed]
    if parse_match_year(text, vocab) is not None:
        return None
    found = _NUMBER.findall(typed)
    if len(found) != 1 or re.search(r"(?<!\w)[-−]\s*\d", text):
        return None
    value = float(found[0].replace(",", "."))
    return value if math.isfinite(value) and value < 10_000 else None


def parse_whole(text: str, vocab: Vocabulary | None = None) -> int | None:
    """A whole number (see :func:`parse_number`); None for "2.5"."""
    value = parse_number(text, vocab)
    return int(value) if value is not None and value == int(value) else None


@dataclass(frozen=True, slots=True)
class Duration:
    amount: float
    unit: str  # "day" | "week" | "month" | "year"
    months: float


def parse_duration(text: str, vocab: Vocabulary | None = None) -> Duration | None:
    """A length of time with its unit: "4 weeks", "6wks", "1.5 months", "a year", "two months",
    "10 days". A bare number has no unit: None (the step says what a number means)."""
    vocab = vocab or vocabulary()
    typed = without_hedges(text, vocab)
    for number, unit_word in _split_amounts(typed):
        unit = next((name for name, u in vocab.units.items() if unit_word in u.words), None)
        if unit is None:
            continue
        amount = vocab.number_words.get(number) if not number[:1].isdigit() else float(number.replace(",", "."))
        if amount is None or amount <= 0 or not math.isfinite(amount):
            return None
        return Duration(amount, unit, amount * vocab.units[unit].months)
    return None


def names_a_figure(text: str, vocab: Vocabulary | None = None) -> bool:
    """A digit, or a length in words ("four weeks"): typed where a name was asked (a specialty),
    it is a number, a date or a length, never the name."""
    return any(ch.isdigit() for ch in text) or parse_duration(text, vocab) is not None


def _split_amounts(typed: str) -> Iterable[tuple[str, str]]:
    match = re.fullmatch(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)", typed)
    if match:
        yield match[1], match[2]
        return
    head, _, unit = typed.rpartition(" ")
    if head:
        yield head, unit
    if unit in {"month", "year", "week", "day"}:  # "a month", "month"
        yield "a", unit


def whole_months(months: float) -> int:
    """Months as a whole number for a step that stores whole months: the nearest, halves down
    (six weeks count as one month), and at least one for any time at all."""
    if months <= 0:
        return 0
    return max(1, math.ceil(months - 0.5 - 1e-9))


def months_answer(text: str, vocab: Vocabulary | None = None) -> tuple[int, Duration | None] | None:
    """A number of months from "3", "3 months", "4 weeks", "a year": (whole months, the typed
    duration when a unit was given); None when it is not a length of time."""
    vocab = vocab or vocabulary()
    duration = parse_duration(text, vocab)
    if duration is not None:
        return whole_months(duration.months), duration
    number = parse_number(text, vocab)
    if number is None or number < 0:
        return None
    return whole_months(number), None


# -- school and the Match ----------------------------------------------------------------------------
_YEAR = re.compile(r"(?<!\d)(20\d\d|'\d\d|\d\d)(?!\d)")


def is_final_year(text: str, vocab: Vocabulary | None = None) -> bool:
    """"final year", "i'm in final year of med school", "last year of school"."""
    vocab = vocab or vocabulary()
    typed = words_of(text)
    typed = re.sub(r"^(i m|im|i am|in|currently|now)( in)?( my| the)? ", "", typed)
    typed = re.sub(r"^(i m|im|i am|in|currently|now)( in)?( my| the)? ", "", typed)
    return typed in vocab.final_year


def parse_match_year(text: str, vocab: Vocabulary | None = None) -> int | None:
    """The Match year from "Match 2028", "2028 match", "match '28", "nrmp 2028"; None without
    the word "match" (a year alone is not enough: it may be the year they apply)."""
    vocab = vocab or vocabulary()
    typed = words_of(text).replace("'", " ")
    words = set(typed.split())
    if not words & {w for w in vocab.match_words if " " not in w}:
        return None
    years = _YEAR.findall(typed)
    if len(years) != 1:
        return None
    digits = years[0].lstrip("'")
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


# -- names from a list ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NameMatch:
    name: str | None  # the listed name, when sure
    suggestion: str | None  # a listed name to confirm, when close but not sure


def match_name(
    text: str, names: Mapping[str, Iterable[str]], vocab: Vocabulary | None = None, others: Iterable[str] = ()
) -> NameMatch:
    """The listed name (a key of ``names``; values are its abbreviations and other names) that
    ``text`` means, or one of ``others`` (names known but not listed). Exact names and
    abbreviations first ("IM", "peds", "family med"), then typos by fuzzy score ("psychaitry")."""
    vocab = vocab or vocabulary()
    typed = without_hedges(text, vocab)
    if not typed:
        return NameMatch(None, None)
    choices: dict[str, str] = {}
    for name, aliases in names.items():
        choices[words_of(name)] = name
        for alias in aliases:
            choices.setdefault(words_of(alias), name)
    for other in others:
        choices.setdefault(words_of(other), other)
    if typed in choices:
        return NameMatch(choices[typed], None)
    prefixed = {c for c in choices if len(typed) >= 4 and c.startswith(typed)}
    if len({choices[c] for c in prefixed}) == 1:  # "family med", "psychiat"
        return NameMatch(choices[prefixed.pop()], None)
    best = process.extractOne(typed, list(choices), scorer=fuzz.ratio, processor=utils.default_process)
    if best is None:
        return NameMatch(None, None)
    key, score, _ = best
    if len(typed) <= 3:  # "ent" vs "im": short words only match exactly
        return NameMatch(None, None)
    if score >= SURE:
        return NameMatch(choices[key], None)
    if score >= UNSURE:
        return NameMatch(None, choices[key])
    return NameMatch(None, None)


def named_inside(text: str, choices: Mapping[str, Iterable[str]]) -> str | None:
    """The one choice (a key) whose listed words appear whole inside ``text``: "tight budget"
    names "limited" by "tight". None if none or several do."""
    typed = f" {words_of(text)} "
    found = {code for code, names in choices.items() for name in names if name and f" {words_of(name)} " in typed}
    return found.pop() if len(found) == 1 else None


def match_specialty(text: str, listed: Mapping[str, Iterable[str]], vocab: Vocabulary | None = None) -> NameMatch:
    """A specialty: one of ``listed`` (the plan's, with aliases) or another known one."""
    vocab = vocab or vocabulary()
    return match_name(text, listed, vocab, vocab.specialty_names)


# -- people's names ----------------------------------------------------------------------------------
MAX_NAME_WORDS = 8  # more than this is a sentence, not a name


def person_name(text: str, vocab: Vocabulary | None = None) -> str | None:
    """The name in text typed where a person's name is asked, as typed but without an opener
    ("I'm Asha Rao" -> "Asha Rao"); None when it is plainly something else: a question, a
    yes/no or "not sure" word, a move, a link or an e-mail address, no letter at all, a
    sentence, or a word no name has ("what", "my", "you")."""
    vocab = vocab or vocabulary()
    name = " ".join(text.split())
    for opener in sorted(vocab.name_openers, key=len, reverse=True):
        pattern = r"\W+".join(re.escape(word) for word in opener.split())
        rest = re.sub(rf"^{pattern}\b[\s:,.-]*", "", name, count=1, flags=re.IGNORECASE)
        if rest != name:
            name = rest
            break
    words = words_of(name).split()
    lowered = name.lower()
    if not words or not any(ch.isalpha() for ch in name) or any(mark in lowered for mark in ("?", "@", "://", "www.")):
        return None
    if yes_no(name, vocab) is not None or move_of(name, vocab) is not None:
        return None
    if len(words) > MAX_NAME_WORDS or any(word in vocab.not_in_names for word in words):
        return None
    return name
