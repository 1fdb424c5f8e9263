"""The readable export: one self-contained HTML page (inline CSS, no scripts, nothing
loaded from elsewhere) with the profile, the plan, experiences, letters and vetted programs.

Pure: plain strings in, the page out. The page's structure is the Jinja2 template
``content/templates/summary.html``, rendered with autoescaping on, so every value is
escaped; its words come from the text catalogue (``words``) like every other text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from flows.base.content import CONTENT_DIR

TEMPLATE = "summary.html"
WORDS = ("title", "profile", "profile_empty", "plan", "plan_empty", "experiences", "experiences_empty",
         "letters", "letters_empty", "programs", "programs_empty", "footer")


@dataclass(frozen=True, slots=True)
class Item:
    """One line of a list: what it is, then the details under it."""

    title: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    generated: str  # "Made on 25 Nov 2026 for Amina"
    profile: Sequence[tuple[str, str]] = ()  # (label, value)
    plan_head: str = ""  # "Applying Sep 2028 → Match 2029"
    plan: Sequence[Item] = field(default_factory=tuple)  # the timeline's stages
    experiences: Sequence[Item] = field(default_factory=tuple)
    letters: Sequence[Item] = field(default_factory=tuple)
    programs: Sequence[Item] = field(default_factory=tuple)


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=FileSystemLoader(CONTENT_DIR / "templates"),
        autoescape=True,  # every value is escaped: user text can never become markup
        undefined=StrictUndefined,  # a missing word is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE)


def render(summary: Summary, words: Mapping[str, str]) -> str:
    """The page as text (UTF-8 when written)."""
    missing = [w for w in WORDS if w not in words]
    if missing:
        raise KeyError(f"summary words missing: {missing}")
    return _template().render(
        w=dict(words), generated=summary.generated, profile=list(summary.profile),
        plan_head=summary.plan_head, plan=list(summary.plan),
        experiences=list(summary.experiences), letters=list(summary.letters), programs=list(summary.programs),
    )
