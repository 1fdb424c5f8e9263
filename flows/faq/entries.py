"""The FAQ as content: ``content/faq.yaml`` read into frozen entries, every mistake named by line.

An entry is one fact (or a few that belong together) in the shape of one question:

- ``topic`` (button label), ``question`` (the heading shown), ``answer`` (what the user
  sees first: the direct answer opens it; every fact the entry holds is in it);
- ``verdict`` (optional): "Yes", "No", "It depends"... put before the answer when the
  message is a yes/no question, and only then (a "what" question never gets a "Yes");
- ``cases`` (optional): where the guide branches, a line per case (``student``,
  ``graduate``, ``older_graduate``, ``limited_funds``, ``visa``), each a text or
  ``{verdict, say}``; with ``student`` or ``graduate`` comes ``differs``: the one line a
  reader of unknown status gets instead;
- ``phrasings`` (training messages, at least four) and ``related`` (2-3 ids, buttons).

``out_of_scope`` lists groups of questions the guide does not cover (id, phrasings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require

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

    def case(self, name: str) -> Case | None:
        return dict(self.cases).get(name)


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """A kind of question the guide does not cover; matching it means: decline."""

    id: str
    phrasings: tuple[str, ...]


def load_faq(path: Path = FAQ_PATH) -> tuple[FaqEntry, ...]:
    """Read and validate the FAQ; any mistake raises ContentError naming file:line."""
    return load(path)[0]


def load_out_of_scope(path: Path = FAQ_PATH) -> tuple[OutOfScope, ...]:
    """The out-of-scope question groups from the same file (may be empty)."""
    return load(path)[1]


def load_examples(path: Path = EXAMPLES_PATH, faq_path: Path = FAQ_PATH) -> dict[str, tuple[str, ...]]:
    """The classifier's extra training messages, by entry or out-of-scope group id; every id
    must be one of faq.yaml's. Only training reads them."""
    entries, oos = load(faq_path)
    known = {e.id for e in entries} | {o.id for o in oos}
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected 'entries' and 'out_of_scope' mappings")
    examples: dict[str, tuple[str, ...]] = {}
    for part in ("entries", "out_of_scope"):
        section = data.get(part) or {}
        if not isinstance(section, dict):
            raise ContentError(path, line_of(data), f"'{part}' must map ids to lists of messages")
        for ident, messages in section.items():
            if ident not in known:
                raise ContentError(path, line_of(section), f"'{ident}' is not an id in {faq_path.name}")
            if not isinstance(messages, list) or not all(isinstance(m, str) and m.strip() for m in messages):
                raise ContentError(path, line_of(section), f"'{ident}': expected a list of non-empty messages")
            examples[ident] = tuple(m.strip() for m in messages)
    return examples


def load(path: Path = FAQ_PATH) -> tuple[tuple[FaqEntry, ...], tuple[OutOfScope, ...]]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, line_of(data), "expected a mapping with an 'entries' list")
    raw_entries = require(path, data, "entries", list)
    if not raw_entries:
        raise ContentError(path, line_of(raw_entries), "'entries' is empty")
    entries: list[FaqEntry] = []
    lines: dict[str, int | None] = {}
    seen_phrasings: dict[str, str] = {}
    for node in raw_entries:
        entry = _entry(path, node, raw_entries)
        if entry.id in lines:
            raise ContentError(path, line_of(node), f"duplicate id '{entry.id}' (first at line {lines[entry.id]})")
        lines[entry.id] = line_of(node)
        for text in (entry.question, *entry.phrasings):
            key = " ".join(text.lower().split())
            other = seen_phrasings.setdefault(key, entry.id)
            if other != entry.id:
                raise ContentError(path, line_of(node), f"'{entry.id}': phrasing {text!r} also used by '{other}'")
        entries.append(entry)
    for entry in entries:
        for rel in entry.related:
            if rel == entry.id:
                raise ContentError(path, lines[entry.id], f"'{entry.id}' lists itself as related")
            if rel not in lines:
                raise ContentError(path, lines[entry.id], f"'{entry.id}': unknown related id '{rel}'")
    oos: list[OutOfScope] = []
    raw_oos = data.get("out_of_scope") or []
    if not isinstance(raw_oos, list):
        raise ContentError(path, line_of(data), "'out_of_scope' must be a list")
    for node in raw_oos:
        if not isinstance(node, dict):
            raise ContentError(path, line_of(raw_oos), "each out_of_scope item must be a mapping")
        oid = _ident(path, node)
        if oid in lines:
            raise ContentError(path, line_of(node), f"duplicate id '{oid}'")
        lines[oid] = line_of(node)
        oos.append(OutOfScope(oid, _phrasings(path, node, oid)))
    return tuple(entries), tuple(oos)


def _ident(path: Path, node: Mapping[str, Any]) -> str:
    ident: str = require(path, node, "id")
    if not _ID_RE.fullmatch(ident):
        raise ContentError(path, line_of(node), f"id '{ident}' must be snake_case")
    return ident


def _phrasings(path: Path, node: Mapping[str, Any], ident: str) -> tuple[str, ...]:
    raw = require(path, node, "phrasings", list)
    items: list[str] = []
    for p in raw:
        if not isinstance(p, (str, int, float)) or not str(p).strip():
            raise ContentError(path, line_of(raw) or line_of(node), f"'{ident}': empty phrasing")
        items.append(str(p).strip())
    if len(items) < MIN_PHRASINGS:
        raise ContentError(
            path, line_of(node), f"'{ident}': needs at least {MIN_PHRASINGS} phrasings, has {len(items)}"
        )
    if len({" ".join(p.lower().split()) for p in items}) != len(items):
        raise ContentError(path, line_of(node), f"'{ident}': repeated phrasing")
    return tuple(items)


def _cases(path: Path, node: Mapping[str, Any], ident: str) -> tuple[tuple[str, Case], ...]:
    raw = node.get("cases")
    if raw is None:
        return ()
    where = line_of(raw) or line_of(node)
    if not isinstance(raw, dict) or not raw:
        raise ContentError(path, where, f"'{ident}': 'cases' must map case names to texts")
    found: list[tuple[str, Case]] = []
    for name, value in raw.items():
        if name not in CASES:
            raise ContentError(path, where, f"'{ident}': unknown case '{name}' (cases: {', '.join(CASES)})")
        if isinstance(value, str) and value.strip():
            case = Case(value.strip())
        elif isinstance(value, dict):
            case = Case(require(path, value, "say").strip(), _verdict(value.get("verdict")))
        else:
            raise ContentError(path, where, f"'{ident}': case '{name}' needs a text or {{verdict, say}}")
        if len(case.say) > MAX_CASE_CHARS:
            raise ContentError(path, where, f"'{ident}': case '{name}' is {len(case.say)} chars (max {MAX_CASE_CHARS})")
        found.append((name, case))
    return tuple(found)


def _verdict(value: object) -> str | None:
    """A verdict as written; YAML reads a bare Yes / No as true / false."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value).strip() or None if value is not None else None


def _entry(path: Path, node: Any, parent: Any) -> FaqEntry:
    if not isinstance(node, dict):
        raise ContentError(path, line_of(parent), "each entry must be a mapping")
    ident = _ident(path, node)
    where = line_of(node)
    topic = require(path, node, "topic").strip()
    if len(topic) > MAX_TOPIC:
        raise ContentError(path, where, f"'{ident}': topic is {len(topic)} chars (max {MAX_TOPIC})")
    answer = require(path, node, "answer").strip()
    n_lines = len([ln for ln in answer.splitlines() if ln.strip()])
    if len(answer) > MAX_ANSWER_CHARS or n_lines > MAX_ANSWER_LINES:
        raise ContentError(
            path, where,
            f"'{ident}': answer too long ({len(answer)} chars, {n_lines} lines;"
            f" max {MAX_ANSWER_CHARS}, {MAX_ANSWER_LINES})",
        )
    if "more" in node:
        raise ContentError(path, where, f"'{ident}': no 'more' — every fact goes in the answer, or its own entry")
    related = tuple(str(r) for r in require(path, node, "related", list))
    if not MIN_RELATED <= len(related) <= MAX_RELATED or len(set(related)) != len(related):
        raise ContentError(path, where, f"'{ident}': needs {MIN_RELATED}-{MAX_RELATED} distinct related ids")
    cases = _cases(path, node, ident)
    differs = node.get("differs")
    names = {n for n, _ in cases}
    if {"student", "graduate"} <= names and not (isinstance(differs, str) and differs.strip()):
        raise ContentError(path, where, f"'{ident}': student and graduate cases need 'differs' (one line)")
    verdict = node.get("verdict")
    if verdict is not None and _verdict(verdict) is None:
        raise ContentError(path, where, f"'{ident}': empty verdict")
    return FaqEntry(
        id=ident,
        topic=topic,
        question=require(path, node, "question").strip(),
        answer=answer,
        phrasings=_phrasings(path, node, ident),
        related=related,
        verdict=_verdict(verdict),
        cases=cases,
        differs=differs.strip() if isinstance(differs, str) else None,
    )
