"""ERAS experience entries, the pure part: the wording in ``content/eras.yaml`` and how a
tracked experience is named ("Internal Medicine Observership – Mayo Clinic"), how hands-on it
may be called and how it becomes a draft entry. The one place that names an experience: the
/eras, /letters and /reflect screens all use :func:`experience_title`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, model_validator

from flows.base.content import CONTENT_DIR, ContentFile, ContentModel, Text, read, rule
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


def _placeholders(text: str) -> str:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise rule(f"{text!r}: {exc}") from None
    unknown = fields - LINE_FIELDS - {""}
    if unknown or "" in fields:
        raise rule(f"{text!r}: unknown placeholder {sorted(unknown) or ['{}']}")
    return text


def _level(value: str) -> str:
    if value not in LEVELS:
        raise ValueError(f"must be one of {LEVELS}")
    return value


Line = Annotated[Text, AfterValidator(_placeholders)]
Level = Annotated[Text, AfterValidator(_level)]


def claims(line: str, words: tuple[str, ...]) -> list[str]:
    """The forbidden words (or word starts) that ``line`` uses."""
    lower = line.lower()
    return [w for w in words if re.search(r"(?<![a-z])" + re.escape(w.lower()), lower)]


class _Type(ContentModel):
    title: Text
    cap: Level


class ErasFile(ContentModel):
    """``content/eras.yaml``: no line may claim more than its level allows."""

    types: dict[str, _Type]
    settings: dict[str, Text]
    never_claim: dict[Level, tuple[Text, ...]]
    responsibilities: dict[Level, dict[str, tuple[Line, ...]]]  # level -> type or "default" -> lines
    connect: Line

    @model_validator(mode="after")
    def _lines_fit(self) -> ErasFile:
        if "unknown" not in self.settings:
            raise rule("missing 'unknown'", "settings")
        for level in LEVELS:
            if level not in self.responsibilities:
                raise rule(f"missing '{level}'", "responsibilities")
            by_type = self.responsibilities[level]
            if "default" not in by_type:
                raise rule("missing 'default'", "responsibilities", level)
            for kind, lines in by_type.items():
                at = ("responsibilities", level, kind)
                if kind != "default" and kind not in self.types:
                    raise rule(f"unknown type '{kind}' under {level}", *at)
                if not lines:
                    raise rule(f"{level}.{kind} must be a list of lines", *at)
                for n, line in enumerate(lines):
                    bad = claims(line, self.never_claim.get(level, ()))
                    if bad:
                        raise rule(f"{level}.{kind}: {line!r} claims too much ({', '.join(bad)})", *at, n)
        return self

    def content(self) -> ErasContent:
        return ErasContent(
            type_titles={name: t.title for name, t in self.types.items()},
            caps={name: t.cap for name, t in self.types.items()},
            settings=dict(self.settings),
            never_claim=dict(self.never_claim),
            lines={level: dict(self.responsibilities[level]) for level in LEVELS},
            connect=self.connect,
        )


def load_eras(path: Path = CONTENT_DIR / "eras.yaml") -> ErasContent:
    return read(path, ErasFile).content()


ERAS = ContentFile("eras.yaml", load_eras)


def content() -> ErasContent:
    """The ERAS wording, as loaded at start."""
    return ERAS.value()


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
