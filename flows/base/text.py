"""Small helpers for the HTML subset replies are written in."""

from __future__ import annotations

import html
import re

MAX_INPUT = 4096  # Telegram's own limit for one message


def escape(value: str) -> str:
    """Escape user-supplied text for Telegram HTML (``<``, ``>``, ``&``, quotes)."""
    return html.escape(value, quote=False)


_TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a)(?:\s[^>]*)?>")


def to_plain(text: str) -> str:
    """Strip the HTML subset and unescape entities, for the terminal channel."""
    return html.unescape(_TAG.sub("", text))


def clean(value: str, limit: int) -> str:
    """Trim user text: collapse control characters, strip, cut to ``limit`` chars."""
    value = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in value)
    return value.strip()[:limit]
