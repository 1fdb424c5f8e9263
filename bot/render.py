"""Turning engine replies into Telegram message arguments."""

from __future__ import annotations

import functools
import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from flows.base.types import Keyboard

TELEGRAM_LIMIT = 4096


@functools.lru_cache(maxsize=4096)
def markup(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    """The inline keyboard for ``buttons``. Keyboards repeat (menus, Yes/No/Not sure) and
    PTB's objects are immutable, so each distinct one is built once and shared."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    )


@functools.lru_cache(maxsize=4096)
def keyboard_json(buttons: Keyboard) -> str | None:
    """The same keyboard as ``reply_markup`` JSON text, serialised once per distinct keyboard."""
    keyboard = markup(buttons)
    return None if keyboard is None else json.dumps(keyboard.to_dict(), separators=(",", ":"))


def split_text(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at line breaks (or spaces) so no piece is over Telegram's limit.

    A cut never falls inside an HTML tag or entity: texts are split on
    whitespace, and tags in the catalogue never span lines.
    """
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
            # do not cut an entity such as &amp; in two
            amp = text.rfind("&", cut - 8, cut)
            if amp != -1 and ";" not in text[amp:cut]:
                cut = amp
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    pieces.append(text)
    return [p for p in pieces if p] or [text]
