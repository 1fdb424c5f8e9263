"""The python-telegram-bot ``ExtBot`` with two lean calls for the assistant's replies.

``Bot.send_message`` builds the request from PTB objects and parses Telegram's echo of
the sent message into a ``Message`` — work the assistant throws away, and the largest
cost of answering an update (docs/PERFORMANCE.md). ``post_text``, ``edit_text`` and
``answer_press`` send the same requests through the same lower half of the framework
(``ExtBot._do_post``: the rate limiter, the request, the error mapping — a ``Forbidden``,
``RetryAfter`` or ``BadRequest`` is raised exactly as before) with every argument already
final (HTML, no link preview, the keyboard serialised once by
:func:`bot.render.keyboard_json`), so there are no defaults to fill in, and return nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ExtBot

from flows.base.text import to_plain

log = logging.getLogger(__name__)

NO_PREVIEW = '{"is_disabled":true}'  # the link preview every reply goes without


class CoachBot(ExtBot[Any]):
    async def post_text(
        self, chat_id: int, text: str, keyboard: str | None = None, parse_mode: str | None = ParseMode.HTML
    ) -> int | None:
        """sendMessage; ``keyboard`` is the reply_markup as JSON text (or None). Returns the new
        message's id (read straight from Telegram's answer, which is otherwise not parsed)."""
        result = await self._do_post("sendMessage", self._message(chat_id, text, keyboard, parse_mode))
        found = result.get("message_id") if isinstance(result, dict) else None
        return found if isinstance(found, int) else None

    async def post_html(self, chat_id: int, text: str, keyboard: str | None = None) -> int | None:
        """post_text in HTML; if Telegram cannot parse the HTML, the same words go again as plain
        text, so a message is never lost to a markup slip. Replies, reminders and broadcasts
        all go through here."""
        try:
            return await self.post_text(chat_id, text, keyboard)
        except BadRequest as exc:
            if "parse entities" not in str(exc).lower():
                raise
            log.warning("Telegram could not parse a message; sent as plain text: %s", exc)
            return await self.post_text(chat_id, to_plain(text), keyboard, parse_mode=None)

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, keyboard: str | None = None
    ) -> None:
        """editMessageText of one of the bot's own messages; same arguments as post_text."""
        data = self._message(chat_id, text, keyboard, ParseMode.HTML)
        data["message_id"] = message_id
        await self._do_post("editMessageText", data)

    async def answer_press(self, callback_query_id: str, text: str | None = None) -> None:
        """answerCallbackQuery: stops the button's spinner, with ``text`` shown on the tap if given."""
        data: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            data["text"] = text[:200]
        await self._do_post("answerCallbackQuery", data)

    @staticmethod
    def _message(chat_id: int, text: str, keyboard: str | None, parse_mode: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {"chat_id": chat_id, "text": text, "link_preview_options": NO_PREVIEW}
        if parse_mode is not None:
            data["parse_mode"] = parse_mode
        if keyboard is not None:
            data["reply_markup"] = keyboard
        return data
