"""Free-text questions answered from the FAQ knowledge base, and honest declines.

Any text no flow is waiting for comes here (``on_free_text``); ``/ask <question>``
works inside a flow without leaving it. The answer is written for the asker's case (their
profile and what the message says, ``flows.faq.reader``); a two-part question gets both
parts, and of two equally likely entries the best is answered, the other its first button.
Questions the knowledge base cannot answer are kept so content authors can add entries:
with obvious personal details taken out, and linked to the user so /export shows them and
/delete erases them (``flows/storage/unanswered``). Small talk (greetings, thanks, "are you
a bot", someone who is struggling) gets a kind reply instead.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from flows.base.content import ContentFile, ContentModel, Text, Texts, read, rule
from flows.base.errors import StaleButton
from flows.base.text import clean, to_plain
from flows.base.types import Button, Reply, column
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.faq import FaqEntry, FaqIndex, Reader, Response, default_index, respond
from flows.faq.render import cut_parts, response_html
from flows.storage import unanswered
from flows.storage.profiles import load_profile
from flows.storage.unanswered import migrations

MAX_QUESTION = 1000  # characters of a question kept for content authors
QUESTION_WORDS = frozenset({  # a message opening with one of these is asking something
    "what", "whats", "how", "is", "are", "can", "could", "should", "shall", "do", "does", "did",
    "when", "where", "which", "who", "whom", "whose", "why", "will", "would", "pls", "please", "plz",
})
ASIDE_MIN_WORDS = 3  # without a "?", a typed reply this short is more likely a mistyped answer than a question
ASIDE_MAX_WORDS = 40  # longer text typed at a step is prose meant as the answer
MAX_TOPIC_BUTTONS = 4  # topic buttons under an answer (runner-ups first, then related)
FLOW = "faq.ask"


DISTRESS = "distress"  # words that, anywhere in a message, mean someone is struggling


def _normal(text: str) -> str:
    """Lower case, letters and digits only, single spaces: "Thanks!! 🙏" -> "thanks"."""
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text.lower())
    return re.sub(r"\s+", " ", kept).strip()


Phrases = Annotated[tuple[Text, ...], Field(min_length=1)]


class SmalltalkFile(ContentModel):
    """``content/smalltalk.yaml``: whole short messages by kind, each once; and the distress words."""

    greeting: Phrases
    thanks: Phrases
    acknowledge: Phrases
    goodbye: Phrases
    identity: Phrases
    distress: Phrases

    @model_validator(mode="after")
    def _each_once(self) -> SmalltalkFile:
        found: set[str] = set()
        for kind in SMALLTALK_KINDS:
            for n, phrase in enumerate(getattr(self, kind)):
                if not _normal(phrase) or _normal(phrase) in found:
                    raise rule(f"empty or repeated phrase {phrase!r}", kind, n)
                found.add(_normal(phrase))
        for n, words in enumerate(self.distress):
            if not _normal(words):
                raise rule(f"'{DISTRESS}' must list words or phrases", DISTRESS, n)
        return self


SMALLTALK_KINDS = tuple(kind for kind in SmalltalkFile.model_fields if kind != DISTRESS)


@dataclass(frozen=True, slots=True)
class Smalltalk:
    kinds: Mapping[str, str]  # whole short message (normalised) -> its kind
    distress: re.Pattern[str]


def parse_smalltalk(path: Path) -> Smalltalk:
    data = read(path, SmalltalkFile)
    kinds = {_normal(phrase): kind for kind in SMALLTALK_KINDS for phrase in getattr(data, kind)}
    words = "|".join(re.escape(_normal(w)) for w in data.distress)
    return Smalltalk(kinds, re.compile(r"\b(?:" + words + r")\b"))


SMALLTALK = ContentFile("smalltalk.yaml", parse_smalltalk)


def load_smalltalk(path: Path | None = None) -> Mapping[str, str]:
    """Whole short messages -> their kind, e.g. "thank you" -> "thanks"."""
    return (parse_smalltalk(path) if path else SMALLTALK.value()).kinds


def load_distress(path: Path | None = None) -> re.Pattern[str]:
    """Words or phrases that show someone is struggling, found anywhere in a message."""
    return (parse_smalltalk(path) if path else SMALLTALK.value()).distress


def record_unanswered(turn: Turn, question: str) -> None:
    unanswered.record(turn.store, turn.user_id, question, turn.now, MAX_QUESTION)


class Questions(Feature):
    name = "faq"
    prefix = "q"
    migrations = migrations
    flows = (FLOW,)
    ephemeral_flows = (FLOW,)  # "type your question" gives way to any command
    open_text_flows = (FLOW,)  # "type your question": the question is the answer
    flow_titles = {FLOW: "faq.flow_title"}
    menu_items = (MenuEntry("faq.menu", "ask", 15),)
    admin_commands = frozenset({"unanswered"})

    def __init__(self, index: FaqIndex | None = None) -> None:
        # Built at start (once per process), so the first question is as quick as the rest.
        self.index = index or default_index()

    def commands(self) -> dict[str, CommandHandler]:
        return {"ask": self.ask, "unanswered": self.unanswered}

    def help_keys(self) -> tuple[str, ...]:
        return ("faq.help",)

    # -- asking ------------------------------------------------------------------------
    def ask(self, turn: Turn, args: str) -> list[Reply]:
        question = clean(args, MAX_QUESTION)
        if question:
            return self.answer(turn, question)
        if turn.session.flow:  # inside another flow, a bare /ask must not take over its answers
            return [Reply(turn.t("faq.ask_inline"))]
        turn.session.enter(FLOW, "waiting")
        return [Reply(turn.t("faq.ask_prompt"))]

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        turn.session.leave()
        return self.answer(turn, text)

    def prompt(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.t("faq.ask_prompt"))]

    def on_free_text(self, turn: Turn, text: str) -> list[Reply] | None:
        return self.answer(turn, text)

    def on_aside(self, turn: Turn, text: str) -> list[Reply] | None:
        """A question typed where a flow wanted an answer, which the flow refused: answered when
        it is plainly asked (a "?", or a few words opening with a question word) and the guide
        covers it; a sentence of a few words with a "?" that the guide does not cover gets the
        honest "not something I can answer" (with the step again, from the engine)."""
        question = clean(text, MAX_QUESTION)
        words = question.lower().split()
        asked = "?" in question or (len(words) >= ASIDE_MIN_WORDS and words[0] in QUESTION_WORDS)
        if not words or not asked:
            return None
        response = respond(self.index, question, self.reader(turn), turn.now.date())
        if not response.parts:
            if "?" not in question or len(words) < ASIDE_MIN_WORDS:
                return None  # "Mount Sinai?" was a try at the answer: the step's own reason fits
            return self._aside_declined(turn, question)  # a sentence asked, which the step could not take either
        turn.route = "faq:aside"
        return [self.reply(turn, response)]

    def on_question(self, turn: Turn, text: str) -> list[Reply] | None:
        """Before a flow reads typed text: a message of a few words or more that is asked
        (a "?", or opening with a question word) is a question, whatever the step. The guide's
        answer is given if it has one, else an honest "not something I can answer"; either way
        the flow does not take it as its answer. Long prose (a reflection, an interview answer)
        is left to the flow."""
        question = clean(text, MAX_QUESTION)
        words = question.lower().split()
        if not ASIDE_MIN_WORDS <= len(words) <= ASIDE_MAX_WORDS:
            return None
        if "?" not in question and words[0] not in QUESTION_WORDS:
            return None
        response = respond(self.index, question, self.reader(turn), turn.now.date())
        if response.parts:
            turn.route = "faq:aside"
            return [self.reply(turn, response)]
        if words[0] not in QUESTION_WORDS or "?" not in question:
            return None  # "Mount Sinai?" or "what a week" may still be an answer
        return self._aside_declined(turn, question)

    def _aside_declined(self, turn: Turn, question: str) -> list[Reply]:
        """A question asked mid-step that the guide does not cover: kept for content authors,
        and an honest "not something I can answer" (the engine shows the step again)."""
        turn.route = "faq:aside-declined"
        record_unanswered(turn, question)
        return [Reply(turn.t("faq.aside_declined"))]

    def reader(self, turn: Turn) -> Reader:
        """The asker as their stored profile describes them."""
        profile = load_profile(turn.store, turn.user_id)
        if profile is None:
            return Reader()
        return Reader.from_profile({"status": profile.status, "grad_year": profile.grad_year,
                                    "budget": profile.budget, "visa": profile.visa})

    def answer(self, turn: Turn, text: str) -> list[Reply]:
        question = clean(text, MAX_QUESTION)
        if not question:
            return [Reply(turn.t("faq.empty"))]
        normal = _normal(question)
        kind = load_smalltalk().get(normal) if len(question) <= 40 else None
        if kind is not None:  # "hi", "thanks", "ok", "are you a bot": kindness, not a decline
            turn.route = f"faq:smalltalk:{kind}"
            if kind in ("greeting", "acknowledge"):
                return [turn.engine.main_menu(turn, turn.t(f"faq.smalltalk_{kind}"))]
            return [Reply(turn.t(f"faq.smalltalk_{kind}"))]
        response = respond(self.index, question, self.reader(turn), turn.now.date())
        if load_distress().search(normal):  # someone struggling: warmth first, never rotation tips alone
            turn.route = "faq:smalltalk:distress"
            warm = Reply(turn.t("faq.smalltalk_distress"))
            return [warm, self.reply(turn, response)] if response.parts else [warm]
        if not response.parts:
            turn.route = "faq:declined"
            record_unanswered(turn, question)
            return [self.decline(turn, response)]
        turn.route = "faq:answered"
        return [self.reply(turn, response)]

    def answer_json(
        self, question: str, texts: Texts, reader: Reader | None = None, today: datetime.date | None = None
    ) -> dict[str, object]:
        """The answer as data, for ``usce-coach ask --json``: ``text`` is exactly what the user
        sees first (heading, answer and composed parts)."""
        question = clean(question, MAX_QUESTION)
        kind = load_smalltalk().get(_normal(question)) if len(question) <= 40 else None
        if kind is not None:
            return {"matched": False, "ids": [], "confidence": 0.0, "cases": [],
                    "smalltalk": kind, "text": to_plain(texts[f"faq.smalltalk_{kind}"])}
        response = respond(self.index, question, reader, today)
        distress = bool(load_distress().search(_normal(question)))
        text = to_plain(response_html(texts.fmt, response) if response.parts else texts["faq.decline"])
        if distress:
            warm = to_plain(texts["faq.smalltalk_distress"])
            text = f"{warm}\n\n{text}" if response.parts else warm
        return {
            "matched": response.matched,
            "ids": list(response.ids),
            "confidence": round(response.confidence, 3),
            "cases": [name for part in response.parts for name, _ in part.cases],
            "smalltalk": "distress" if distress else None,
            "text": text,
        }

    # -- replies -----------------------------------------------------------------------
    def reply(self, turn: Turn, response: Response) -> Reply:
        """The answer with topic buttons: the runner-ups (for a two-part answer, any part shown cut
        short, in full), then the parts' related entries."""
        cut = [p.entry for p in cut_parts(response)]
        shown = {p.entry.id for p in response.parts} - {e.id for e in cut}
        topics = cut if len(response.parts) > 1 else [e for e, _ in response.match.candidates[1:]]
        topics += [self.index.get(r) for p in response.parts for r in p.entry.related]
        buttons: list[Button] = []
        for topic in topics:
            if topic.id not in shown and len(buttons) < MAX_TOPIC_BUTTONS:
                shown.add(topic.id)
                buttons.append(self._topic_button(topic))
        return Reply(response_html(turn.t, response), column(buttons, 1))

    def decline(self, turn: Turn, response: Response) -> Reply:
        close = [self._topic_button(entry) for entry, _ in response.match.candidates[:3]]
        return Reply(turn.t("faq.decline"), column(close, 1))

    @staticmethod
    def _topic_button(entry: FaqEntry) -> Button:
        return Button(f"❔ {entry.topic}", f"q:a:{entry.id}")

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        kind, _, entry_id = payload.partition(":")
        try:
            entry = self.index.get(entry_id)
        except KeyError:
            raise StaleButton() from None
        if kind == "a":
            turn.route = "faq:topic"
            response = respond(self.index, entry.question, self.reader(turn), turn.now.date(), entry=entry)
            return [self.reply(turn, response)]
        raise StaleButton()

    # -- for content authors -------------------------------------------------------------
    def unanswered(self, turn: Turn, args: str) -> list[Reply]:
        rows = unanswered.most_asked(turn.store, 20)
        if not rows:
            return [Reply(turn.t("faq.unanswered_none"))]
        lines = [turn.t("faq.unanswered_heading")]
        lines += [turn.t("faq.unanswered_line", count=n, text=text[:200]) for text, n in rows]
        return [Reply("\n".join(lines))]
