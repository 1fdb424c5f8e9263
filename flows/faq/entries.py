"""The FAQ as content: ``content/faq.yaml`` read into frozen entries, every mistake named by line.

An entry is one fact (or a few that belong together) in the shape of one question:

- ``topic`` (button label), ``question`` (the heading shown), ``answer`` (what the user
  sees first: the direct answer opens it; every fact the entry holds is in it);
- ``verdict`` (optional): "Yes", "No", "It depends"... put before the answer when the
  message is a yes/no question, and only then (a "what" question never gets a "Yes"): the
  verdict on the polar form of what the answer recommends;
- ``against`` (optional): where the guide says when not to, ``{when, verdict}``: what the
  answer advises against, in a few words, and the verdict for a yes/no question that asks
  about that instead ("No", "Not ideally"), and ``instead`` when the answer's opening line is
  not what it recommends; the side nearer the message in meaning gives the verdict;
- ``cases`` (optional): where the guide branches, a line per case (``student``,
  ``graduate``, ``older_graduate``, ``limited_funds``, ``visa``), each a text or
  ``{verdict, say}``; with ``student`` or ``graduate`` comes ``differs``: the one line a
  reader of unknown status gets instead;
- ``phrasings`` (training messages, at least four) and ``related`` (2-3 ids, buttons).

``out_of_scope`` lists groups of questions the guide does not cover (id, phrasings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

from pydantic import AfterValidator, BeforeValidator, Discriminator, Tag, ValidationInfo, model_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Text, read, rule

FAQ_PATH = CONTENT_DIR / "faq.yaml"
EXAMPLES_PATH = CONTENT_DIR / "faq_examples.yaml"
MAX_TOPIC = 28
MAX_ANSWER_CHARS = 520
MAX_ANSWER_LINES = 5
MAX_CASE_CHARS = 260
MIN_PHRASINGS = 4
MIN_RELATED, MAX_RELATED = 2, 3
CASES = ("student", "graduate", "older_graduate", "limited_funds", "visa")
_ID_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Case:
    say: str
    verdict: str | None = None


@dataclass(frozen=True, slots=True)
class Against:
    """What an entry advises against, and the verdict on asking whether to do it."""

    when: str
    verdict: str
    instead: str | None = None  # what the entry recommends, when its answer's opening line is not that


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    topic: str
    question: str
    answer: str
    phrasings: tuple[str, ...]
    related: tuple[str, ...]
    verdict: str | None = None
    cases: tuple[tuple[str, Case], ...] = ()
    differs: str | None = None
    against: Against | None = None

    def case(self, name: str) -> Case | None:
        return dict(self.cases).get(name)


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """A kind of question the guide does not cover; matching it means: decline."""

    id: str
    phrasings: tuple[str, ...]


# -- the file's model ------------------------------------------------------------------------
def _snake(ident: str) -> str:
    if not _ID_RE.fullmatch(ident):
        raise rule(f"id '{ident}' must be snake_case")
    return ident


def _as_text(value: object) -> object:
    """A phrasing YAML read as a number ("2026") is the text it was."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _yes_no(value: object) -> object:
    """A verdict as written; YAML reads a bare Yes / No as true / false."""
    return ("Yes" if value else "No") if isinstance(value, bool) else value


Ident = Annotated[Text, AfterValidator(_snake)]
Phrase = Annotated[Text, BeforeValidator(_as_text)]
Verdict = Annotated[Text, BeforeValidator(_yes_no)]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _check_phrasings(ident: str, phrasings: tuple[str, ...]) -> None:
    if len(phrasings) < MIN_PHRASINGS:
        raise rule(f"'{ident}': needs at least {MIN_PHRASINGS} phrasings, has {len(phrasings)}", "phrasings")
    seen: set[str] = set()
    for n, text in enumerate(phrasings):
        if _key(text) in seen:
            raise rule(f"'{ident}': repeated phrasing", "phrasings", n)
        seen.add(_key(text))


class _Case(ContentModel):
    say: Text
    verdict: Verdict | None = None


class _Against(ContentModel):
    when: Text
    verdict: Verdict
    instead: Text | None = None

    def value(self) -> Against:
        return Against(self.when.strip(), self.verdict.strip(), _strip(self.instead))


_CaseNode = Annotated[
    Union[Annotated[Text, Tag("text")], Annotated[_Case, Tag("case")]],  # noqa: UP007 (tagged members)
    Discriminator(lambda value: "case" if isinstance(value, dict) else "text"),
]


class _Entry(ContentModel):
    id: Ident
    topic: Text
    question: Text
    answer: Text
    verdict: Verdict | None = None
    cases: dict[str, _CaseNode] | None = None
    differs: Text | None = None
    against: _Against | None = None
    phrasings: tuple[Phrase, ...]
    related: tuple[Phrase, ...]

    @model_validator(mode="before")
    @classmethod
    def _no_more(cls, data: object) -> object:
        if isinstance(data, dict) and "more" in data:
            raise rule(f"'{data.get('id')}': no 'more' — every fact goes in the answer, or its own entry", "more")
        return data

    @model_validator(mode="after")
    def _fits(self) -> _Entry:
        ident, topic, answer = self.id, self.topic.strip(), self.answer.strip()
        if len(topic) > MAX_TOPIC:
            raise rule(f"'{ident}': topic is {len(topic)} chars (max {MAX_TOPIC})", "topic")
        n_lines = len([ln for ln in answer.splitlines() if ln.strip()])
        if len(answer) > MAX_ANSWER_CHARS or n_lines > MAX_ANSWER_LINES:
            raise rule(
                f"'{ident}': answer too long ({len(answer)} chars, {n_lines} lines;"
                f" max {MAX_ANSWER_CHARS}, {MAX_ANSWER_LINES})",
                "answer",
            )
        if not MIN_RELATED <= len(self.related) <= MAX_RELATED or len(set(self.related)) != len(self.related):
            raise rule(f"'{ident}': needs {MIN_RELATED}-{MAX_RELATED} distinct related ids", "related")
        if self.against is not None and self.verdict is None:
            raise rule(f"'{ident}': 'against' needs the entry's own 'verdict' beside it", "against")
        if self.cases is not None:
            if not self.cases:
                raise rule(f"'{ident}': 'cases' must map case names to texts", "cases")
            for name, case in self.cases.items():
                if name not in CASES:
                    raise rule(f"'{ident}': unknown case '{name}' (cases: {', '.join(CASES)})", "cases", name)
                say = (case if isinstance(case, str) else case.say).strip()
                if len(say) > MAX_CASE_CHARS:
                    raise rule(f"'{ident}': case '{name}' is {len(say)} chars (max {MAX_CASE_CHARS})", "cases", name)
            if {"student", "graduate"} <= self.cases.keys() and self.differs is None:
                raise rule(f"'{ident}': student and graduate cases need 'differs' (one line)", "cases")
        _check_phrasings(ident, self.phrasings)
        return self

    def entry(self) -> FaqEntry:
        cases = tuple(
            (name, Case(case.strip()) if isinstance(case, str) else Case(case.say.strip(), _strip(case.verdict)))
            for name, case in (self.cases or {}).items()
        )
        return FaqEntry(
            id=self.id,
            topic=self.topic.strip(),
            question=self.question.strip(),
            answer=self.answer.strip(),
            phrasings=tuple(p.strip() for p in self.phrasings),
            related=self.related,
            verdict=_strip(self.verdict),
            cases=cases,
            differs=_strip(self.differs),
            against=self.against.value() if self.against else None,
        )


def _strip(text: str | None) -> str | None:
    return text.strip() if text is not None else None


class _OutOfScope(ContentModel):
    id: Ident
    phrasings: tuple[Phrase, ...]

    @model_validator(mode="after")
    def _fits(self) -> _OutOfScope:
        _check_phrasings(self.id, self.phrasings)
        return self


class FaqFile(ContentModel):
    """``content/faq.yaml``: every entry and out-of-scope group, ids unique, related ids known."""

    entries: tuple[_Entry, ...]
    out_of_scope: tuple[_OutOfScope, ...] = ()

    @model_validator(mode="after")
    def _across_entries(self) -> FaqFile:
        if not self.entries:
            raise rule("'entries' is empty", "entries")
        where: dict[str, tuple[str, int]] = {}
        phrased: dict[str, str] = {}
        for n, entry in enumerate(self.entries):
            if entry.id in where:
                raise rule(f"duplicate id '{entry.id}'", "entries", n, first=("entries", where[entry.id][1]))
            where[entry.id] = ("entries", n)
            for k, text in enumerate((entry.question, *entry.phrasings)):
                other = phrased.setdefault(_key(text), entry.id)
                if other != entry.id:
                    at = ("question",) if k == 0 else ("phrasings", k - 1)
                    raise rule(f"'{entry.id}': phrasing {text.strip()!r} also used by '{other}'", "entries", n, *at)
        for n, entry in enumerate(self.entries):
            for k, rel in enumerate(entry.related):
                if rel == entry.id:
                    raise rule(f"'{entry.id}' lists itself as related", "entries", n, "related", k)
                if rel not in where:
                    raise rule(f"'{entry.id}': unknown related id '{rel}'", "entries", n, "related", k)
        for n, group in enumerate(self.out_of_scope):
            if group.id in where:
                raise rule(f"duplicate id '{group.id}'", "out_of_scope", n, first=where[group.id])
            where[group.id] = ("out_of_scope", n)
        return self


class ExamplesFile(ContentModel):
    """``content/faq_examples.yaml``: messages by entry or out-of-scope id, every id one of the FAQ's
    (given as ``known`` in the validation context, with the FAQ file's name as ``faq``)."""

    entries: dict[str, tuple[Text, ...]] = {}
    out_of_scope: dict[str, tuple[Text, ...]] = {}

    @model_validator(mode="after")
    def _known_ids(self, info: ValidationInfo) -> ExamplesFile:
        context = info.context or {}
        for part in ("entries", "out_of_scope"):
            for ident in getattr(self, part):
                if ident not in context.get("known", ()):
                    raise rule(f"'{ident}' is not an id in {context.get('faq')}", part, ident)
        return self


# -- loading ----------------------------------------------------------------------------------
Faq = tuple[tuple[FaqEntry, ...], tuple[OutOfScope, ...]]


def load(path: Path = FAQ_PATH) -> Faq:
    """Read and validate the FAQ; any mistake raises ContentError naming file:line."""
    faq = read(path, FaqFile)
    return tuple(e.entry() for e in faq.entries), tuple(OutOfScope(o.id, o.phrasings) for o in faq.out_of_scope)


def parse_examples(path: Path, faq: Faq) -> dict[str, tuple[str, ...]]:
    known = {e.id for e in faq[0]} | {o.id for o in faq[1]}
    examples = read(path, ExamplesFile, context={"known": known, "faq": FAQ_PATH.name})
    return {ident: tuple(m.strip() for m in messages)
            for part in (examples.entries, examples.out_of_scope) for ident, messages in part.items()}


FAQ = ContentFile(FAQ_PATH.name, load)
EXAMPLES = ContentFile(EXAMPLES_PATH.name, lambda path: parse_examples(path, load(path.parent / FAQ_PATH.name)))


def load_faq(path: Path | None = None) -> tuple[FaqEntry, ...]:
    """The FAQ's entries: of the file at ``path``, or as loaded at start."""
    return (load(path) if path else FAQ.value())[0]


def load_out_of_scope(path: Path | None = None) -> tuple[OutOfScope, ...]:
    """The out-of-scope question groups from the same file (may be empty)."""
    return (load(path) if path else FAQ.value())[1]


def load_examples(path: Path | None = None, faq_path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The classifier's extra training messages, by entry or out-of-scope group id; every id
    must be one of faq.yaml's. Only training reads them; without paths, as loaded at start."""
    if path is None and faq_path is None:
        return EXAMPLES.value()
    return parse_examples(path or EXAMPLES_PATH, load(faq_path) if faq_path else FAQ.value())
