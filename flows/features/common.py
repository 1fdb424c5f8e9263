"""Widgets several features share: labels cut to a button, a text to copy, the way back to
/apply, a person's name read from a dialog step, the user's today and the list of tracked
experiences as buttons.

Not a feature: it imports none (features import it, never each other; see pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flows.base.errors import InvalidAnswer
from flows.base.text import clean
from flows.base.types import Button, Reply, keyboard
from flows.domain import typed
from flows.domain.eras import experience_title
from flows.domain.records import Experience, Profile
from flows.engine.dialog import Ask, Heard
from flows.engine.engine import Turn
from flows.storage.profiles import load_profile

LABEL_LIMIT = 44  # characters of a button label
TITLE_LABEL = 60  # characters of an experience title on a button (one button per row)
MAX_SHOWN = 20  # experiences offered as buttons


def short(value: str, limit: int = LABEL_LIMIT) -> str:
    """Cut a label to ``limit`` characters with an ellipsis."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def pre(text: str) -> Reply:
    """A ready-to-copy message: ``text`` must already be escaped."""
    return Reply(f"<pre>{text}</pre>", full=True)  # a text to copy whole: never cut to a screen


def hub_button(turn: Turn) -> Button:
    """Back to the application-help submenu (/apply)."""
    return Button(turn.t("outreach.button_hub"), "go:apply")


def local_today(turn: Turn, profile: Profile | None = None) -> date:
    """Today in the user's time zone (from the profile), else in UTC."""
    profile = profile or load_profile(turn.store, turn.user_id)
    if profile and profile.timezone:
        try:
            return turn.now.astimezone(ZoneInfo(profile.timezone)).date()
        except (ValueError, KeyError):
            pass
    return turn.now.date()


Reader = Callable[[Ask, str], Any]


def read_name(limit: int, bad: str, odd: str, heard: str) -> Reader:
    """Reads a person's name: refused (never cut) past ``limit`` characters with ``bad``, refused
    with ``odd`` when it is plainly not a name (a question, "idk", a sentence); an opener such as
    "I'm" is dropped and ``heard`` says so."""

    def read(ask: Ask, text: str) -> Any:
        value = clean(text, limit + 1)
        if len(value) > limit:
            raise InvalidAnswer(ask.t(bad, limit=limit))
        name = typed.person_name(value)
        if name is None:
            raise InvalidAnswer(ask.t(odd))
        return name if name == " ".join(value.split()) else Heard(name, ask.t(heard, name=name))

    return read


def experience_buttons(experiences: list[Experience], prefix: str, limit: int = MAX_SHOWN) -> list[Button]:
    """One button per experience (newest first), data ``<prefix><id>``."""
    newest = sorted(experiences, key=lambda e: (e.start or "", e.id), reverse=True)[:limit]
    return [Button(short(experience_title(e), TITLE_LABEL), f"{prefix}{e.id}") for e in newest]


def no_experiences(turn: Turn, text_key: str) -> list[Reply]:
    """Say there is nothing tracked yet and offer the tracker's /log."""
    buttons = keyboard([Button(turn.t("eras.button_log"), "go:log")], [hub_button(turn)])
    return [Reply(turn.t(text_key), buttons)]
