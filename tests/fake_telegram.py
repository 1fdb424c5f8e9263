"""A recording fake of the Bot API network for handler tests, and update factories.

``RecordingRequest`` answers like the Bot API for the methods the bot uses and
records every call; anything it does not know fails loudly, and it never opens a
socket (like PTB's own ``OfflineRequest`` in its test suite).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, CallbackQuery, Chat, Message, Update, User
from telegram.request import BaseRequest, RequestData

BOT_USER: dict[str, Any] = {"id": 777000, "is_bot": True, "first_name": "USCE Coach", "username": "usce_coach_bot"}
TOKEN = "123456789:" + "AAHfakeTokenForTes" + "tsOnly_0123456789ab"  # in parts, so no token-shaped literal


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class RecordingRequest(BaseRequest):
    calls: list[Call] = field(default_factory=list)
    errors: dict[str, tuple[int, str, dict[str, Any] | None]] = field(default_factory=dict)
    latency: float = 0.0  # seconds each call takes, so concurrent updates overlap as over a network
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def fail_next(self, method: str, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        self.errors[method] = (code, description, parameters)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        assert url.startswith("https://api.telegram.org/") or url.startswith("http://127.0.0.1"), url
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data and request_data.multipart_data:
            params["_files"] = {k: v[0] for k, v in request_data.multipart_data.items()}
        self.calls.append(Call(name, params))
        if self.latency:
            await asyncio.sleep(self.latency)
        if name in self.errors:
            code, description, parameters = self.errors.pop(name)
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
            if parameters:
                body["parameters"] = parameters
            return code, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return BOT_USER
        if name in {"sendMessage", "sendDocument", "sendPhoto", "editMessageText"}:
            chat_id = int(params.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": int(params.get("message_id") or next(self._ids)),
                "date": 1_780_000_000,
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
            }
            if "text" in params:
                message["text"] = params["text"]
            if "reply_markup" in params:
                markup = params["reply_markup"]
                message["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
            return message
        if name in {"answerCallbackQuery", "setMyCommands", "sendChatAction", "deleteWebhook"}:
            return True
        raise AssertionError(f"unexpected Bot API call {name}")

    # -- reading what the bot did ---------------------------------------------------------
    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def texts(self) -> list[str]:
        return [str(p["text"]) for p in self.sent()]

    def buttons(self, index: int = -1) -> list[tuple[str, str]]:
        """(label, data) of the inline keyboard of a sent message (the last by default)."""
        markup = self.sent()[index].get("reply_markup")
        if not markup:
            return []
        markup = json.loads(markup) if isinstance(markup, str) else markup
        return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


class Updates:
    """Factories for updates as Telegram would send them."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._ids = itertools.count(1)

    def _user(self, user_id: int) -> User:
        return User(user_id, "Amina", False, language_code="en")

    def message(
        self, user_id: int, text: str, chat_type: str = Chat.PRIVATE, chat_id: int | None = None
    ) -> Update:
        from datetime import UTC, datetime

        chat = Chat(chat_id or user_id, chat_type)
        entities = None
        if text.startswith("/"):
            from telegram import MessageEntity

            length = len(text.split(" ", 1)[0])
            entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, length)]
        msg = Message(
            next(self._ids), datetime.now(UTC), chat, from_user=self._user(user_id), text=text, entities=entities
        )
        msg.set_bot(self.bot)
        update = Update(next(self._ids), message=msg)
        update.set_bot(self.bot)
        return update

    def edit(self, user_id: int, message_id: int, text: str) -> Update:
        """The user changed the text of their earlier message ``message_id``."""
        from datetime import UTC, datetime

        msg = Message(
            message_id, datetime.now(UTC), Chat(user_id, Chat.PRIVATE), from_user=self._user(user_id), text=text,
            edit_date=datetime.now(UTC),
        )
        msg.set_bot(self.bot)
        update = Update(next(self._ids), edited_message=msg)
        update.set_bot(self.bot)
        return update

    def sticker(self, user_id: int) -> Update:
        from datetime import UTC, datetime

        from telegram import Sticker

        sticker = Sticker("file", "unique", 512, 512, False, False, Sticker.REGULAR)
        chat = Chat(user_id, Chat.PRIVATE)
        msg = Message(next(self._ids), datetime.now(UTC), chat, from_user=self._user(user_id), sticker=sticker)
        msg.set_bot(self.bot)
        return Update(next(self._ids), message=msg)

    def press(self, user_id: int, data: str, message_id: int = 1) -> Update:
        from datetime import UTC, datetime

        origin = Message(message_id, datetime.now(UTC), Chat(user_id, Chat.PRIVATE), from_user=User(**BOT_USER))
        origin.set_bot(self.bot)
        query = CallbackQuery(str(next(self._ids)), self._user(user_id), "instance", message=origin, data=data)
        query.set_bot(self.bot)
        update = Update(next(self._ids), callback_query=query)
        update.set_bot(self.bot)
        return update
