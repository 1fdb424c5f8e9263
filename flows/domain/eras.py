"""ERAS experience entries, the pure part: the wording in ``content/eras.yaml`` and how a
tracked experience is named ("Internal Medicine Observership – Mayo Clinic"), how hands-on it
may be called and how it becomes a draft entry. The one place that names an experience: the
/eras, /letters and /reflect screens all use :func:`experience_title`.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.domain.records import Experience, month_index, month_label

LEVELS = ("non", "semi", "hands_on")  # weakest first
LINE_FIELDS = frozenset({"specialty", "setting"})


@dataclass(frozen=True, slots=True)
class ErasContent:
    type_titles: Mapping[str, str]
    caps: Mapping[str, str]
    settings: Mapping[str, str]
    never_claim: Mapping[str, tuple[str, ...]]
    lines: Mapping[str, Mapping[str, tuple[str, ...]]]  # level -> type or "default" -> lines
    connect: str


def _check_placeholders(path: Path, node: Any, text: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ContentError(path, line_of(node), f"{text!r}: {exc}") from exc
    unknown = fields - LINE_FIELDS - {""}
    if unknown or "" in fields:
        raise ContentError(path, line_of(node), f"{text!r}: unknown placeholder {sorted(unknown) or ['{}']}")


def claims(line: str, words: tuple[str, ...]) -> list[str]:
    """The forbidden words (or word starts) that ``line`` uses."""
    lower = line.lower()
    return [w for w in words if re.search(r"(?<![a-z])" + re.escape(w.lower()), lower)]


def load_eras(path: Path = CONTENT_DIR / "eras.yaml") -> ErasContent:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected a mapping")
    types = require(path, data, "types", dict)
    titles, caps = {}, {}
    for name, spec in types.items():
        if not isinstance(spec, dict):
            raise ContentError(path, line_of(types), f"type '{name}' must be a mapping")
        titles[name] = require(path, spec, "title")
        caps[name] = require(path, spec, "cap")
        if caps[name] not in LEVELS:
            raise ContentError(path, line_of(spec), f"cap of '{name}' must be one of {LEVELS}")
    settings = require(path, data, "settings", dict)
    require(path, settings, "unknown")
    never = require(path, data, "never_claim", dict)
    never_claim = {level: tuple(str(w) for w in words) for level, words in never.items()}
    responsibilities = require(path, data, "responsibilities", dict)
    lines: dict[str, dict[str, tuple[str, ...]]] = {}
    for level in LEVELS:
        by_type = require(path, responsibilities, level, dict)
        require(path, by_type, "default", list)
        lines[level] = {}
        for kind, items in by_type.items():
            if kind != "default" and kind not in titles:
                raise ContentError(path, line_of(by_type), f"unknown type '{kind}' under {level}")
            if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
                raise ContentError(path, line_of(by_type), f"{level}.{kind} must be a list of lines")
            for item in items:
                _check_placeholders(path, items, item)
                bad = claims(item, never_claim.get(level, ()))
                if bad:
                    raise ContentError(
                        path, line_of(items), f"{level}.{kind}: {item!r} claims too much ({', '.join(bad)})"
                    )
            lines[level][kind] = tuple(items)
    connect = require(path, data, "connect")
    _check_placeholders(path, data, connect)
    return ErasContent(titles, caps, dict(settings), never_claim, lines, connect)


@functools.cache
def content() -> ErasContent:
    return load_eras()


# -- naming an experience ------------------------------------------------------------------
PLACEHOLDER_SPECIALTIES = frozenset({"not set", "unknown", "none"})  # left by older versions


def _specialty(exp: Experience) -> str:
    value = " ".join((exp.specialty or "").split())
    if value.casefold() in PLACEHOLDER_SPECIALTIES:
        return ""  # the draft shows a marked blank instead
    return value.title() if value.islower() else value


def experience_title(exp: Experience) -> str:
    """"Internal Medicine Observership – Mayo Clinic" (plain text, not escaped)."""
    conf = content()
    kind = conf.type_titles.get(exp.type, exp.type.title() if exp.type else "")
    head = " ".join(p for p in (_specialty(exp), kind) if p)
    institution = " ".join((exp.institution or "").split())
    return f"{head} – {institution}" if institution else head


def effective_level(exp: Experience) -> str:
    """How hands-on the entry may sound: the logged level, never above the type's cap."""
    conf = content()
    cap = conf.caps.get(exp.type, "non")
    logged = exp.level if exp.level in LEVELS else cap
    return min(logged, cap, key=LEVELS.index)


def responsibility_lines(exp: Experience) -> tuple[str, ...]:
    conf = content()
    level = effective_level(exp)
    by_type = conf.lines[level]
    templates = by_type.get(exp.type, by_type["default"])
    values = {
        "specialty": _specialty(exp) or "[specialty]",
        "setting": conf.settings.get(exp.setting or "unknown", conf.settings["unknown"]),
    }
    return tuple(t.format_map(values) for t in templates)


def date_range(exp: Experience, months: str) -> str:
    try:
        start, end = month_index(exp.start), month_index(exp.end)
    except (ValueError, AttributeError):
        return ""
    first = month_label(start, months)
    return first if end <= start else f"{first} – {month_label(end, months)}"


def eras_draft(exp: Experience, months: str) -> str:
    """The entry as plain text (escape it before showing)."""
    conf = content()
    head = [experience_title(exp)]
    when = date_range(exp, months)
    setting = conf.settings.get(exp.setting) if exp.setting else None
    sub = " · ".join(p for p in (when, setting) if p)
    if sub:
        head.append(sub)
    bullets = [f"• {line}" for line in responsibility_lines(exp)]
    connect = conf.connect.format_map(
        {"specialty": _specialty(exp) or "[specialty]", "setting": conf.settings["unknown"]}
    )
    return "\n\n".join(["\n".join(head), "\n".join(bullets), connect])
