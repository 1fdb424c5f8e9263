"""Free-text questions answered from the FAQ knowledge base, and honest declines.

Any text no flow is waiting for comes here (``on_free_text``); ``/ask <question>``
works inside a flow without leaving it. Questions the knowledge base cannot answer
are kept (text and time only, no user id) so content authors can add entries.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from sqlite_utils import Database, Migrations

from flows.base.content import CONTENT_DIR, ContentError, load_yaml
from flows.base.errors import StaleButton
from flows.base.text import clean, escape
from flows.base.types import Button, Reply, column
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.faq.matcher import FaqEntry, FaqIndex, Match, default_index

migrations = Migrations("usce-coach.faq")

MAX_QUESTION = 1000  # characters of a question kept for content authors
CLOSE_SECOND = 0.85  # a runner-up within 15% of the answer's score is offered as a button
QUESTION_WORDS = frozenset({  # a message opening with one of these is asking something
    "what", "whats", "how", "is", "are", "can", "could", "should", "shall", "do", "does", "did",
    "when", "where", "which", "who", "whom", "whose", "why", "will", "would", "pls", "please", "plz",
})
ASIDE_MIN_WORDS = 3  # without a "?", a typed reply this short is more likely a mistyped answer than a question
ASIDE_MAX_WORDS = 40  # longer text typed at a step is prose meant as the answer
MAX_TOPIC_BUTTONS = 4  # topic buttons under an answer (runner-ups first, then related)
FLOW = "faq.ask"


@migrations()
def m001_unanswered(db: Database) -> None:
    db.table("unanswered").create({"id": int, "text": str, "asked_at": str}, pk="id")
    db.table("unanswered").create_index(["asked_at"])


SMALLTALK_KINDS = ("greeting", "thanks", "acknowledge", "goodbye")


def _normal(text: str) -> str:
    """Lower case, letters and digits only, single spaces: "Thanks!! 🙏" -> "thanks"."""
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text.lower())
    return re.sub(r"\s+", " ", kept).strip()


@functools.cache
def load_smalltalk(path: Path = CONTENT_DIR / "smalltalk.yaml") -> dict[str, str]:
    """Whole short messages -> their kind, e.g. "thank you" -> "thanks"."""
    data = load_yaml(path)
    if not isinstance(data, dict) or set(data) != set(SMALLTALK_KINDS):
        raise ContentError(path, None, f"expected exactly the kinds {', '.join(SMALLTALK_KINDS)}")
    found: dict[str, str] = {}
    for kind, phrases in data.items():
        if not isinstance(phrases, list) or not phrases:
            raise ContentError(path, getattr(data, "line", None), f"'{kind}' must list phrases")
        for phrase in phrases:
            key = _normal(str(phrase))
            if not key or key in found:
                raise ContentError(path, getattr(phrases, "line", None), f"empty or repeated phrase {phrase!r}")
            found[key] = kind
    return found


def record_unanswered(turn: Turn, question: str) -> None:
    turn.store.conn.execute(
        "INSERT INTO unanswered (text, asked_at) VALUES (?, ?)",
        (question[:MAX_QUESTION], turn.now.isoformat(timespec="seconds")),
    )


class Questions(Feature):
    name = "faq"
    prefix = "q"
    migrations = migrations
    flows = (FLOW,)
    ephemeral_flows = (FLOW,)  # "type your question" gives way to any command
    flow_titles = {FLOW: "faq.flow_title"}
    open_text_flows = (FLOW,)  # "type your question": the question is the answer
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
        """A question typed where a flow wanted an answer: answered only when it is plainly
        asked (a "?", or a few words opening with a question word) and the guide covers it,
        so a mistyped answer is never mistaken for a question."""
        question = clean(text, MAX_QUESTION)
        words = question.lower().split()
        asked = "?" in question or (len(words) >= ASIDE_MIN_WORDS and words[0] in QUESTION_WORDS)
        if not words or not asked:
            return None
        match = self.index.match(question)
        if match.entry is None:
            return None
        turn.route = "faq:aside"
        return [self.entry_reply(turn, match.entry, self.close_seconds(match))]

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
        match = self.index.match(question)
        if match.entry is not None:
            turn.route = "faq:aside"
            return [self.entry_reply(turn, match.entry, self.close_seconds(match))]
        if words[0] not in QUESTION_WORDS or "?" not in question:
            return None  # "Mount Sinai?" or "what a week" may still be an answer
        turn.route = "faq:aside-declined"
        record_unanswered(turn, question)
        return [Reply(turn.t("faq.aside_declined"))]

    def answer(self, turn: Turn, text: str) -> list[Reply]:
        question = clean(text, MAX_QUESTION)
        if not question:
            return [Reply(turn.t("faq.empty"))]
        kind = load_smalltalk().get(_normal(question)) if len(question) <= 40 else None
        if kind is not None:  # "hi", "thanks", "ok": kindness, not a decline
            turn.route = f"faq:smalltalk:{kind}"
            if kind in ("greeting", "acknowledge"):
                return [turn.engine.main_menu(turn, turn.t(f"faq.smalltalk_{kind}"))]
            return [Reply(turn.t(f"faq.smalltalk_{kind}"))]
        match = self.index.match(question)
        if match.entry is None:
            turn.route = "faq:declined"
            record_unanswered(turn, question)
            return [self.decline(turn, match)]
        turn.route = "faq:answered"
        return [self.entry_reply(turn, match.entry, self.close_seconds(match))]

    @staticmethod
    def close_seconds(match: Match) -> tuple[FaqEntry, ...]:
        """Runner-up entries scoring almost as well as the answer: offered first, in case the
        question meant one of them (matching is never certain)."""
        if match.entry is None or match.confidence <= 0:
            return ()
        return tuple(
            entry
            for entry, score in match.candidates[1:]
            if entry.id != match.entry.id and score >= CLOSE_SECOND * match.confidence
        )

    def answer_json(self, question: str) -> dict[str, object]:
        """The answer as data, for ``usce-coach ask --json``."""
        match = self.index.match(clean(question, MAX_QUESTION))
        entry = match.entry
        return {
            "matched": entry is not None,
            "id": entry.id if entry else None,
            "question": entry.question if entry else None,
            "answer": entry.answer if entry else None,
            "confidence": round(match.confidence, 3),
            "related": list(entry.related) if entry else [c.id for c, _ in match.candidates],
        }

    # -- replies -----------------------------------------------------------------------
    def entry_reply(self, turn: Turn, entry: FaqEntry, alternatives: tuple[FaqEntry, ...] = ()) -> Reply:
        text = f"<b>{escape(entry.question)}</b>\n{escape(entry.answer)}"
        buttons: list[Button] = []
        if entry.more:
            buttons.append(Button(turn.t("faq.button_more"), f"q:m:{entry.id}"))
        topics = [*alternatives, *(self.index.get(r) for r in entry.related)]
        seen: set[str] = {entry.id}
        for topic in topics:
            if topic.id not in seen and len(seen) <= MAX_TOPIC_BUTTONS:
                seen.add(topic.id)
                buttons.append(self._topic_button(topic))
        return Reply(text, column(buttons, 1))

    def decline(self, turn: Turn, match: Match) -> Reply:
        close = [self._topic_button(entry) for entry, _ in match.candidates[:3]]
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
            return [self.entry_reply(turn, entry)]
        if kind == "m" and entry.more:
            turn.route = "faq:more"
            related = [self._topic_button(self.index.get(r)) for r in entry.related]
            return [Reply(f"<b>{escape(entry.topic)}</b>\n{escape(entry.more)}", column(related, 1))]
        raise StaleButton()

    # -- for content authors -------------------------------------------------------------
    def unanswered(self, turn: Turn, args: str) -> list[Reply]:
        rows = turn.store.conn.execute(
            "SELECT text, count(*) AS n, max(asked_at) FROM unanswered"
            " GROUP BY lower(text) ORDER BY n DESC, max(asked_at) DESC LIMIT 20"
        ).fetchall()
        if not rows:
            return [Reply(turn.t("faq.unanswered_none"))]
        lines = [turn.t("faq.unanswered_heading")]
        lines += [turn.t("faq.unanswered_line", count=n, text=text[:200]) for text, n, _ in rows]
        return [Reply("\n".join(lines))]
