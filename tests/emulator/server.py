"""In-process emulator of the Telegram Bot API for end-to-end and reliability tests.

The :class:`Emulator` serves ``/bot<token>/<method>`` on 127.0.0.1 with the same JSON
envelopes, status codes and error descriptions python-telegram-bot expects from
api.telegram.org, plus a "user side" (Python methods and JSON endpoints under ``/_emu/``)
to send messages/commands/media, press inline buttons, inspect what the bot did, inject
failures (400/403/429/5xx/delays) and emulate blocked users or flood limits.

Usage::

    async with Emulator() as emu:
        bot = telegram.Bot("123:abc", base_url=emu.base_url)
        emu.send_command(42, "start")
        [reply] = await emu.wait_for_messages(42)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

JSON = dict[str, Any]
HOST = "127.0.0.1"
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
           "upload_voice", "upload_document", "choose_sticker", "find_location",
           "record_video_note", "upload_video_note"}
BUTTON_ACTIONS = {"url", "callback_data", "web_app", "login_url", "switch_inline_query",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                  "callback_game", "pay", "copy_text"}
NON_DEFAULT_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


@dataclass
class StoredFile:
    """A file uploaded by the bot (or sent by a user), retrievable through getFile."""

    file_id: str
    file_unique_id: str
    name: str
    content: bytes
    mime_type: str | None = None

    @property
    def path(self) -> str:
        return f"files/{self.file_unique_id}/{self.name}"


@dataclass
class SentMessage:
    """Current state of a message the bot sent (edits applied); ``text`` is the raw markup."""

    chat_id: int
    message_id: int
    kind: str  # "text" | "document" | "photo"
    text: str | None  # text or caption exactly as sent by the bot (HTML markup included)
    parse_mode: str | None
    reply_markup: JSON | None
    plain_text: str  # text/caption after entity parsing, i.e. what the user sees
    raw: JSON  # the Message object as returned to the bot
    file: StoredFile | None = None
    edits: int = 0
    deleted: bool = False

    @property
    def buttons(self) -> list[list[JSON]]:
        return list((self.reply_markup or {}).get("inline_keyboard") or [])

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    def button(self, text: str) -> JSON:
        """The first inline button whose label contains ``text``."""
        for row in self.buttons:
            for b in row:
                if text in b.get("text", ""):
                    return b
        raise KeyError(f"no button containing {text!r} in message {self.message_id}")

    def to_json(self) -> JSON:
        d = {k: v for k, v in asdict(self).items() if k != "file"}
        if self.file:
            d["file"] = {"name": self.file.name, "mime_type": self.file.mime_type,
                         "content_b64": base64.b64encode(self.file.content).decode()}
        return d


@dataclass
class ChatEvent:
    """One thing that happened in a chat: kind is message/document/photo/edit_text/
    edit_caption/edit_markup/delete/chat_action/callback_answer (bot side) or
    user_message/user_press (user side)."""

    kind: str
    chat_id: int
    message_id: int | None
    data: JSON
    time: float = field(default_factory=time.monotonic)

    def to_json(self) -> JSON:
        return asdict(self)


@dataclass
class Injection:
    """A pending fault: the next ``times`` calls of ``method`` ("*" = any) fail or are delayed.

    ``when`` is "before" (Telegram never processed the call) or "after" (it did; only the
    answer goes wrong). By default an error comes before and a delay after. ``reset`` drops
    the connection instead of answering; a ``delay`` before processing is a hang: the call
    takes effect only if the client is still waiting when it ends."""

    method: str
    times: int = 1
    status: int = 400
    description: str = "Bad Request: injected error"
    chat_id: int | None = None
    retry_after: int | None = None
    delay: float | None = None
    when: str | None = None
    reset: bool = False

    @property
    def before(self) -> bool:
        return self.when == "before" or (self.when is None and self.delay is None)


@dataclass
class ApiCall:
    """A recorded Bot API request (file contents replaced by their names)."""

    method: str
    params: JSON
    time: float


@dataclass
class _Upload:
    filename: str
    content: bytes
    content_type: str | None


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))?)*)\s*>")
_ATTR_RE = re.compile(r"([^\s=>]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]*))?")
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
              "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "code": "code",
              "pre": "pre", "blockquote": "blockquote", "a": "text_link",
              "tg-emoji": "custom_emoji"}


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Parse Telegram's HTML subset into (plain text, entities) or raise ApiError like Telegram."""
    out: list[str] = []
    pos = 0  # UTF-16 offset in the output
    stack: list[tuple[str, int, JSON | None]] = []
    entities: list[JSON] = []

    def fail(msg: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {msg}")

    def at(i: int) -> str:
        return f"at byte offset {len(src[:i].encode())}"

    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "<":
            m = _TAG_RE.match(src, i)
            if m is None:
                bad = re.match(r"</?([^\s<>]*)", src[i:])
                raise fail(f'Unsupported start tag "{bad.group(1) if bad else ""}" {at(i)}')
            name = m.group(2).lower()
            if m.group(1):
                if not stack:
                    raise fail(f"Unexpected end tag {at(i)}")
                top, start, opened = stack.pop()
                if top != name:
                    raise fail(f'Unmatched end tag {at(i)}, expected "</{top}>", found "</{name}>"')
                if opened is not None and pos > start:
                    entities.append({**opened, "offset": start, "length": pos - start})
            else:
                if name not in _HTML_TAGS:
                    raise fail(f'Unsupported start tag "{name}" {at(i)}')
                attrs = {k.lower(): (v[1:-1] if v[:1] in "\"'" and len(v) > 1 else v)
                         for k, v in _ATTR_RE.findall(m.group(3))}
                ent: JSON | None = {"type": _HTML_TAGS[name]}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail(f'Tag "span" must have class "tg-spoiler" {at(i)}')
                if name == "a":
                    ent = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
                elif name == "tg-emoji":
                    if not attrs.get("emoji-id"):
                        raise fail(f'Tag "tg-emoji" must have attribute "emoji-id" {at(i)}')
                    ent = {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}
                elif name == "blockquote" and "expandable" in attrs:
                    ent = {"type": "expandable_blockquote"}
                elif name == "code" and stack and stack[-1][0] == "pre":
                    pre, lang = stack[-1][2], attrs.get("class", "")
                    if pre is not None and lang.startswith("language-"):
                        pre["language"] = lang[9:]
                        ent = None
                stack.append((name, pos, ent))
            i = m.end()
            continue
        if ch == "&" and (m := _ENTITY_RE.match(src, i)):
            ref = m.group(1)
            ch = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(ref) or chr(
                int(ref[2:], 16) if ref[1:2] in "xX" else int(ref[1:]))
            i = m.end() - 1
        out.append(ch)
        pos += _utf16_len(ch)
        i += 1
    if stack:
        raise fail(f"Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _int(p: JSON, key: str, required: str | None = None) -> int | None:
    v = p.get(key)
    if v is None or v == "":
        if required:
            raise ApiError(400, required)
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def _json(p: JSON, key: str, error: str) -> Any:
    v = p.get(key)
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            raise ApiError(400, error) from None
    return v


def _bool(v: Any) -> bool:
    return v is True or str(v).lower() in {"true", "1"}


class Emulator:
    """A local fake of api.telegram.org. See the module docstring and tests/emulator/__init__."""

    def __init__(self, *, port: int = 0, host: str = HOST, token: str | None = None,
                 bot_id: int | None = None, bot_username: str = "usce_coach_bot",
                 bot_first_name: str = "USCE Coach", strict_chats: bool = False,
                 per_chat_limit: int | None = None, global_limit: int | None = None) -> None:
        """``token``: if set, only this token is valid (others get 401). ``strict_chats``:
        sending to a chat no user has written from gives 400 "chat not found".
        ``per_chat_limit``/``global_limit``: max sends per second before an automatic 429."""
        assert host == HOST, "the emulator only binds to 127.0.0.1"
        self.host, self.port, self.valid_token = host, port, token
        self._fixed_id = bot_id is not None  # else the id is taken from the token, as Telegram does
        self.bot_user: JSON = {"id": bot_id or 7000000001, "is_bot": True,
                               "first_name": bot_first_name, "username": bot_username}
        self.strict_chats, self.per_chat_limit, self.global_limit = (
            strict_chats, per_chat_limit, global_limit)
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._poll_gen = 0
        self._handlers: dict[str, tuple[str, Callable[[JSON], Any]]] = {}
        for attr in dir(self):  # _m_get_me -> "getMe", looked up case-insensitively
            if attr.startswith("_m_"):
                first, *rest = attr[3:].split("_")
                name = first + "".join(w.title() for w in rest)
                self._handlers[name.lower()] = (name, getattr(self, attr))
        for name in ("close", "setChatMenuButton"):
            self._handlers[name.lower()] = (name, self._m_log_out)
        self._next_update_id = 100001  # update and message ids never restart, even on reset()
        self._mid: Counter[int] = Counter()
        self._file_seq = itertools.count(1)
        self._allowed: set[str] | None = None
        self._webhook = ""
        self._commands: dict[str, list[JSON]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}  # (kind, language_code) -> text
        # True (set before start): a request that arrived whole is processed even if its client
        # is gone by then, as Telegram's servers do; by default a vanished client cancels it.
        self.finish_abandoned = False
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """Value for ``Bot(base_url=...)`` / TELEGRAM_API_BASE_URL."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/_emu/{action}", self._handle_emu)
        self._runner = web.AppRunner(app, handler_cancellation=not self.finish_abandoned, shutdown_timeout=2.0,
                                     access_log=None)
        await self._runner.setup()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        bound_host, self.port = self._sock.getsockname()
        assert bound_host == HOST, f"emulator bound to {bound_host}, expected {HOST}"
        await web.SockSite(self._runner, self._sock).start()

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget pending updates, users, messages, history, faults, blocks and counters
        (bot settings such as commands, webhook and allowed_updates are kept)."""
        self.updates: list[JSON] = []
        self._users: dict[int, JSON] = {}
        self._chats: dict[int, JSON] = {}
        self._msgs: dict[int, list[SentMessage]] = {}
        self._user_msgs: set[tuple[int, int]] = set()
        self._read: Counter[int] = Counter()
        self._events: list[ChatEvent] = []
        self._callbacks: dict[str, JSON] = {}
        self._files: dict[str, StoredFile] = {}
        self.injections: list[Injection] = []
        self.blocked: set[int] = set()
        self.calls: Counter[str] = Counter()
        self.faults_met = 0  # injected faults that calls ran into
        self.resets = 0  # connections dropped on purpose
        self.requests: list[ApiCall] = []
        self.send_times: dict[int, list[float]] = {}
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(timeout, 0))

    # ------------------------------------------------------------------ user side
    def _message_base(self, user_id: int, first_name: str | None, username: str | None,
                      chat_id: int | None, chat_type: str, title: str | None) -> JSON:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": "User", "language_code": "en"})
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if chat_type == "private":
            chat_id = user_id
            chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
        else:
            if chat_type not in {"group", "supergroup"} or chat_id is None:
                raise ValueError("group chats need chat_type group/supergroup and a chat_id")
            chat = {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}
        self._chats[chat_id] = chat
        self._mid[chat_id] += 1
        self._user_msgs.add((chat_id, self._mid[chat_id]))
        return {"message_id": self._mid[chat_id], "date": int(time.time()), "chat": chat,
                "from": dict(user)}

    def _push(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self.updates.append(update)
        self._notify()
        return update

    def _user_message(self, msg: JSON) -> JSON:
        self._events.append(ChatEvent("user_message", msg["chat"]["id"], msg["message_id"],
                                      {k: v for k, v in msg.items() if k not in ("chat", "from")}))
        self._push("message", msg)
        return msg

    def send_text(self, user_id: int, text: str, *, first_name: str | None = None,
                  username: str | None = None, chat_id: int | None = None,
                  chat_type: str = "private", title: str | None = None,
                  entities: list[JSON] | None = None) -> JSON:
        """A user writes ``text``; returns the Message object queued as an update."""
        msg = self._message_base(user_id, first_name, username, chat_id, chat_type, title)
        msg["text"] = text
        if entities:
            msg["entities"] = entities
        return self._user_message(msg)

    def edit_text(self, user_id: int, message_id: int, text: str) -> JSON:
        """The user edits their earlier private message ``message_id`` to read ``text``."""
        if (user_id, message_id) not in self._user_msgs:
            raise ValueError(f"user {user_id} sent no message {message_id}")
        user = self._users[user_id]
        msg = {"message_id": message_id, "date": int(time.time()) - 60, "edit_date": int(time.time()),
               "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
               "from": dict(user), "text": text}
        self._events.append(ChatEvent("user_edit", user_id, message_id, {"text": text}))
        self._push("edited_message", msg)
        return msg

    def send_command(self, user_id: int, command: str, args: str = "", **kw: Any) -> JSON:
        """A user sends ``/command args`` (with a bot_command entity); kw as for send_text."""
        cmd = command if command.startswith("/") else "/" + command
        entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(cmd)}
        return self.send_text(user_id, f"{cmd} {args}" if args else cmd, entities=[entity], **kw)

    def send_media(self, user_id: int, kind: str, *, caption: str | None = None,
                   content: bytes = b"\x00" * 16, file_name: str | None = None,
                   mime_type: str | None = None, latitude: float = 40.7128,
                   longitude: float = -74.006, **kw: Any) -> JSON:
        """A user sends a sticker, photo, voice, document or location (kw as for send_text)."""
        msg = self._message_base(user_id, kw.pop("first_name", None), kw.pop("username", None),
                                 kw.pop("chat_id", None), kw.pop("chat_type", "private"),
                                 kw.pop("title", None))
        if kw:
            raise TypeError(f"unexpected arguments {sorted(kw)}")
        if kind == "location":
            msg["location"] = {"latitude": latitude, "longitude": longitude}
            return self._user_message(msg)
        default_name, default_mime = {
            "sticker": ("sticker.webp", "image/webp"), "photo": ("photo.jpg", "image/jpeg"),
            "voice": ("voice.ogg", "audio/ogg"), "document": ("file.pdf", "application/pdf"),
        }.get(kind, ("", ""))
        if not default_name:
            raise ValueError(f"unsupported media kind {kind!r}")
        f = self._store_file(file_name or default_name, content, mime_type or default_mime)
        ref = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": len(content)}
        if kind == "sticker":
            msg["sticker"] = {**ref, "width": 512, "height": 512, "is_animated": False,
                              "is_video": False, "type": "regular", "emoji": "\U0001f44d"}
        elif kind == "photo":
            msg["photo"] = [{**ref, "width": 90, "height": 90}, {**ref, "width": 1280, "height": 960}]
        elif kind == "voice":
            msg["voice"] = {**ref, "duration": 3, "mime_type": f.mime_type}
        else:
            msg["document"] = {**ref, "file_name": f.name, "mime_type": f.mime_type}
        if caption is not None and kind != "sticker":
            msg["caption"] = caption
        return self._user_message(msg)

    def press_button(self, user_id: int, message_id: int, data: str, *,
                     chat_id: int | None = None, forge: bool = False,
                     first_name: str | None = None) -> str:
        """A user presses the inline button with ``data`` under bot message ``message_id``
        (in the private chat unless ``chat_id``). Unless ``forge``, the button must exist.
        Returns the callback query id."""
        chat_id = user_id if chat_id is None else chat_id
        msg = self.find_message(chat_id, message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if not forge and data not in msg.callback_data:
            raise ValueError(f"message {message_id} has no button with data {data!r}: "
                             f"{msg.callback_data}")
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": first_name or "User"})
        qid = str(8_000_000_000 + self._next_update_id)  # unique: one update per press
        self._callbacks[qid] = {"chat_id": chat_id, "message_id": message_id, "data": data,
                                "answered": None}
        self._events.append(ChatEvent("user_press", chat_id, message_id, {"data": data, "id": qid}))
        self._push("callback_query", {"id": qid, "from": dict(user), "message": dict(msg.raw),
                                      "chat_instance": str(abs(chat_id) * 7 + 13), "data": data})
        return qid

    # ------------------------------------------------------------------ inspection
    def sent_messages(self, chat_id: int) -> list[SentMessage]:
        """All messages the bot sent to ``chat_id`` in order (current state, deleted included)."""
        return list(self._msgs.get(chat_id, []))

    def find_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        return next((m for m in self._msgs.get(chat_id, []) if m.message_id == message_id), None)

    def last_message(self, chat_id: int) -> SentMessage | None:
        msgs = self._msgs.get(chat_id)
        return msgs[-1] if msgs else None

    def history(self, chat_id: int | None = None, include_user: bool = False) -> list[ChatEvent]:
        """What the bot did (and the user, if ``include_user``), in order."""
        return [e for e in self._events if (chat_id is None or e.chat_id == chat_id)
                and (include_user or not e.kind.startswith("user_"))]

    def unanswered_callbacks(self) -> list[str]:
        return [q for q, c in self._callbacks.items() if c["answered"] is None]

    def tap_notices(self, chat_id: int) -> list[str]:
        """The texts the bot showed on taps in ``chat_id`` (answerCallbackQuery with a text)."""
        return [str(c["answered"]["text"]) for c in self._callbacks.values()
                if c["chat_id"] == chat_id and c["answered"] and c["answered"].get("text")]

    def mark_read(self, chat_id: int) -> None:
        """Skip all bot messages so far for the next :meth:`wait_for_messages`."""
        self._read[chat_id] = len(self._msgs.get(chat_id, []))

    async def wait_for_messages(self, chat_id: int, count: int = 1,
                                timeout: float = 5.0) -> list[SentMessage]:
        """Wait for the next ``count`` not yet consumed bot messages to ``chat_id`` and consume
        them (each chat has a read cursor, advanced by this and :meth:`mark_read`)."""
        start = self._read[chat_id]
        try:
            await self.wait_for(lambda: len(self._msgs.get(chat_id, [])) >= start + count, timeout)
        except TimeoutError:
            got = [m.plain_text[:60] for m in self._msgs.get(chat_id, [])[start:]]
            raise TimeoutError(f"chat {chat_id}: expected {count} messages within {timeout}s, "
                               f"got {len(got)}: {got}") from None
        self._read[chat_id] = start + count
        return self._msgs[chat_id][start:start + count]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` (re-checked after each emulator state change) is true."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            await self._wait_change(remaining)

    def max_rate(self, chat_id: int | None = None, window: float = 1.0) -> int:
        """Most sends within any ``window`` seconds, to one chat or (None) overall."""
        times = sorted(self.send_times.get(chat_id, []) if chat_id is not None
                       else [t for ts in self.send_times.values() for t in ts])
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def stats(self) -> JSON:
        return {"calls": dict(self.calls), "send_times": {str(k): v for k, v in self.send_times.items()},
                "unanswered_callbacks": self.unanswered_callbacks(),
                "pending_updates": len(self.updates), "blocked": sorted(self.blocked)}

    # ------------------------------------------------------------------ fault injection
    def inject(self, method: str, *, times: int = 1, status: int = 400,
               description: str | None = None, chat_id: int | None = None,
               retry_after: int | None = None, delay: float | None = None,
               when: str | None = None, reset: bool = False) -> Injection:
        """Fail (or, with ``delay``, just slow down) the next ``times`` calls of ``method``;
        ``when`` and ``reset`` as for :class:`Injection`."""
        if when not in (None, "before", "after"):
            raise ValueError("when is 'before' or 'after'")
        if status == 429 and retry_after is None:
            retry_after = 5
        if description is None:
            description = {403: BLOCKED, 429: f"Too Many Requests: retry after {retry_after}",
                           500: "Internal Server Error", 502: "Bad Gateway"}.get(
                status, "Bad Request: injected error")
        inj = Injection(method.lower(), times, status, description, chat_id, retry_after, delay,
                        when, reset)
        self.injections.append(inj)
        return inj

    def fail_next(self, method: str, description: str = "Bad Request: injected error",
                  times: int = 1, chat_id: int | None = None) -> Injection:
        return self.inject(method, times=times, description=description, chat_id=chat_id)

    def forbid_next(self, method: str, times: int = 1, chat_id: int | None = None) -> Injection:
        return self.inject(method, times=times, status=403, chat_id=chat_id)

    def flood_next(self, method: str, retry_after: int = 5, times: int = 1,
                   chat_id: int | None = None) -> Injection:
        return self.inject(method, times=times, status=429, retry_after=retry_after,
                           chat_id=chat_id)

    def delay_next(self, method: str, seconds: float, times: int = 1,
                   chat_id: int | None = None) -> Injection:
        return self.inject(method, times=times, delay=seconds, chat_id=chat_id)

    def reset_next(self, method: str, *, after: bool = False, times: int = 1,
                   chat_id: int | None = None) -> Injection:
        """Drop the connection of the next calls, before Telegram processed them or ``after``."""
        return self.inject(method, times=times, chat_id=chat_id, reset=True,
                           when="after" if after else "before")

    def hang_next(self, method: str, seconds: float, *, after: bool = False, times: int = 1,
                  chat_id: int | None = None) -> Injection:
        """Hold the next calls ``seconds`` before (or ``after``) processing them."""
        return self.inject(method, times=times, chat_id=chat_id, delay=seconds,
                           when="after" if after else "before")

    def block(self, user_id: int, notify: bool = False) -> None:
        """From now on every send/edit to ``user_id`` gets 403 "bot was blocked by the user".
        With ``notify`` the bot also gets the ``my_chat_member`` update Telegram sends."""
        self.blocked.add(user_id)
        if notify:
            self._member_update(user_id, "member", "kicked")

    def unblock(self, user_id: int, notify: bool = False) -> None:
        self.blocked.discard(user_id)
        if notify:
            self._member_update(user_id, "kicked", "member")

    def _member_update(self, user_id: int, old: str, new: str) -> None:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": "User"})
        bot = {k: v for k, v in self.bot_user.items() if k in ("id", "is_bot", "first_name", "username")}
        def member(status: str) -> JSON:
            return {"user": bot, "status": status, **({"until_date": 0} if status == "kicked" else {})}

        self._push("my_chat_member", {
            "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
            "from": dict(user), "date": int(time.time()),
            "old_chat_member": member(old), "new_chat_member": member(new)})

    # ------------------------------------------------------------------ HTTP plumbing
    async def _read_params(self, request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body") from None
            params.update(body if isinstance(body, dict) else {})
        elif request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.name:
                    if part.filename is not None:
                        params[part.name] = _Upload(part.filename, await part.read(decode=True),
                                                    part.headers.get("Content-Type"))
                    else:
                        params[part.name] = await part.text()
        else:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        if self.valid_token is not None and request.match_info["token"] != self.valid_token:
            return ApiError(401, "Unauthorized").response()
        prefix = request.match_info["token"].split(":")[0]
        if not self._fixed_id and prefix.isdigit():
            self.bot_user["id"] = int(prefix)
        name, handler = self._handlers.get(request.match_info["method"].lower(),
                                           (request.match_info["method"], None))
        self.calls[name] += 1
        try:
            p = await self._read_params(request)
            self.requests.append(ApiCall(name, {k: (v.filename if isinstance(v, _Upload) else v)
                                                for k, v in p.items()}, time.monotonic()))
            if handler is None:
                raise ApiError(404, "Not Found")
            fault = self._faults(name, p)
            if fault is not None and fault.before:
                await self._misbehave(request, fault)
            result = handler(p)
            if isinstance(result, Awaitable):
                result = await result
            if fault is not None and not fault.before:  # the call took effect; the answer goes wrong
                self._notify()
                await self._misbehave(request, fault)
        except ApiError as e:
            return e.response()
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _misbehave(self, request: web.Request, fault: Injection) -> None:
        """Wait, drop the connection, or fail, as ``fault`` says."""
        if fault.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
        if fault.reset:
            self.resets += 1
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection drop, no answer
            await asyncio.sleep(3600)  # the handler is cancelled with the connection
        if fault.delay is None:
            params = {"retry_after": fault.retry_after} if fault.retry_after else None
            raise ApiError(fault.status, fault.description, params)

    def _faults(self, name: str, p: JSON) -> Injection | None:
        """Apply blocks and flood limits; returns the injected fault this call meets, if any."""
        low = name.lower()
        try:
            chat: int | None = int(p["chat_id"])
        except (KeyError, TypeError, ValueError):
            chat = None
        if low == "answercallbackquery":
            chat = self._callbacks.get(str(p.get("callback_query_id")), {}).get("chat_id")
        fault = None
        for inj in self.injections:
            if inj.times > 0 and inj.method in ("*", low) and inj.chat_id in (None, chat):
                inj.times -= 1
                self.faults_met += 1
                fault = inj
                break
        if fault is not None and fault.before:
            return fault
        if chat is not None and chat in self.blocked and low.startswith(
                ("send", "edit", "copy", "forward")):
            raise ApiError(403, BLOCKED if chat > 0 else "Forbidden: bot was kicked from the group chat")
        if chat is not None and low.startswith(("send", "copy", "forward")) and low != "sendchataction":
            now = time.monotonic()
            recent = [t for t in self.send_times.get(chat, []) if now - t < 1.0]
            overall = [t for ts in self.send_times.values() for t in ts if now - t < 1.0]
            if (self.per_chat_limit and len(recent) >= self.per_chat_limit) or (
                    self.global_limit and len(overall) >= self.global_limit):
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        return fault

    async def _handle_file(self, request: web.Request) -> web.Response:
        for f in self._files.values():
            if f.path == request.match_info["path"]:
                return web.Response(body=f.content, content_type=f.mime_type or "application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle_emu(self, request: web.Request) -> web.Response:
        try:
            body = await self._emu_body(request)
            result = await self._emu_action(request.match_info["action"], body)
        except TimeoutError as e:
            return web.json_response({"ok": False, "description": str(e)}, status=408)
        except (TypeError, ValueError, KeyError) as e:
            return web.json_response({"ok": False, "description": f"{type(e).__name__}: {e}"},
                                     status=400)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _emu_body(request: web.Request) -> JSON:
        body: JSON = dict(request.query)
        if request.can_read_body:
            body.update(await request.json())
        for k in ("user_id", "chat_id", "message_id", "count", "times", "status", "retry_after"):
            if isinstance(body.get(k), str):
                body[k] = int(body[k])
        for k in ("timeout", "delay", "seconds", "latitude", "longitude"):
            if isinstance(body.get(k), str):
                body[k] = float(body[k])
        for k in ("forge", "include_user", "reset", "notify"):
            if k in body:
                body[k] = _bool(body[k])
        if "content_b64" in body:
            body["content"] = base64.b64decode(body.pop("content_b64"))
        return body

    async def _emu_action(self, action: str, b: JSON) -> Any:
        simple: dict[str, Callable[..., Any]] = {
            "text": self.send_text, "command": self.send_command, "media": self.send_media,
            "edit": self.edit_text,
            "press": self.press_button, "mark_read": self.mark_read, "reset": self.reset,
            "block": self.block, "unblock": self.unblock, "stats": self.stats,
            "unanswered_callbacks": self.unanswered_callbacks, "tap_notices": self.tap_notices,
            "bot_profile": self.bot_profile}
        if action in simple:
            repeat = int(b.pop("repeat", 1))  # a user sending the same thing many times at once
            results = [simple[action](**b) for _ in range(repeat)]
            return results[-1] if results else None
        if action == "updates":
            return self.updates
        if action == "history":
            return [e.to_json() for e in self.history(**b)]
        if action == "messages":
            return [m.to_json() for m in self.sent_messages(**b)]
        if action == "wait":
            return [m.to_json() for m in await self.wait_for_messages(**b)]
        if action == "inject":
            return asdict(self.inject(**b))
        raise KeyError(f"unknown emulator action {action!r}")

    # ------------------------------------------------------------------ Bot API methods
    def _chat_id(self, p: JSON) -> int:
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if self.strict_chats and chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _chat(self, chat_id: int) -> JSON:
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "supergroup" if chat_id < -10**12 else "group",
                "title": f"Group {chat_id}"}

    def _store_file(self, name: str, content: bytes, mime: str | None) -> StoredFile:
        n = next(self._file_seq)
        f = StoredFile(f"BQACAgIAAxkBAAEmu{n:06d}", f"AgADEmu{n:06d}", name, content, mime)
        self._files[f.file_id] = f
        return f

    @staticmethod
    def _format(text: Any, parse_mode: Any, entities: Any, caption: bool = False) -> tuple[str, JSON]:
        """Validate text/caption; returns (plain text, message fields to set)."""
        key = "caption" if caption else "text"
        text = "" if text is None else str(text)
        mode = str(parse_mode or "").lower()
        if mode == "html":
            plain, ents = parse_html(text)
        elif mode in ("", "markdown", "markdownv2"):
            plain = text
            ents = list(_json({"e": entities}, "e", "Bad Request: can't parse entities JSON object")
                        or [])
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if not caption and not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > (1024 if caption else 4096):
            raise ApiError(400, "Bad Request: message caption is too long" if caption
                           else "Bad Request: message is too long")
        fields: JSON = {key: plain} if plain else {}
        if ents:
            fields["caption_entities" if caption else "entities"] = ents
        return plain, fields

    @staticmethod
    def _markup(p: JSON) -> JSON | None:
        markup = _json(p, "reply_markup", "Bad Request: can't parse reply keyboard markup JSON object")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup"
                           " must be an Array of Arrays")
        for b in (b for r in rows for b in r):
            if not isinstance(b, dict) or not b.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons"
                               " are unallowed in the inline keyboard")
            if not BUTTON_ACTIONS & b.keys():
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            if "callback_data" in b and not 1 <= len(str(b["callback_data"]).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if "url" in b and not re.match(r"(https?|tg)://\S+$", str(b["url"])):
                raise ApiError(400, f"Bad Request: inline keyboard button URL '{b['url']}' is"
                               " invalid: Wrong HTTP URL")
        return markup

    def _new_message(self, chat_id: int, kind: str, text: str | None, p: JSON, plain: str,
                     content: JSON, file: StoredFile | None = None) -> JSON:
        markup = self._markup(p)
        self._mid[chat_id] += 1
        raw: JSON = {"message_id": self._mid[chat_id], "from": self.bot_user,
                     "chat": self._chat(chat_id), "date": int(time.time()), **content}
        if markup and "inline_keyboard" in markup:
            raw["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        msg = SentMessage(chat_id, raw["message_id"], kind, text, p.get("parse_mode") or None,
                          markup, plain, raw, file)
        self._msgs.setdefault(chat_id, []).append(msg)
        self.send_times.setdefault(chat_id, []).append(time.monotonic())
        data = {"text": text, "parse_mode": msg.parse_mode, "reply_markup": markup}
        if file:
            data["file_name"] = file.name
        self._events.append(ChatEvent("message" if kind == "text" else kind, chat_id,
                                      msg.message_id, data))
        return raw

    def _m_get_me(self, p: JSON) -> JSON:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _m_log_out(self, p: JSON) -> bool:
        return True

    async def _m_get_updates(self, p: JSON) -> list[JSON]:
        if self._webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active;"
                           " use deleteWebhook to delete the webhook first")
        offset, limit = _int(p, "offset"), min(max(_int(p, "limit") or 100, 1), 100)
        timeout = float(p.get("timeout") or 0)
        allowed = _json(p, "allowed_updates", "Bad Request: can't parse allowed updates")
        if allowed is not None:
            self._allowed = set(allowed) or None
        if offset is not None and offset < 0:
            self.updates = self.updates[offset:]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        self._poll_gen += 1
        gen = self._poll_gen
        self._notify()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.updates = [u for u in self.updates if self._wanted(u)]
            if self.updates or self._closing.is_set():
                return self.updates[:limit]
            if gen != self._poll_gen:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure"
                               " that only one bot instance is running")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            await self._wait_change(remaining)

    def _wanted(self, update: JSON) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind in self._allowed if self._allowed else kind not in NON_DEFAULT_UPDATES

    def _m_delete_webhook(self, p: JSON) -> bool:
        self._webhook = ""
        if _bool(p.get("drop_pending_updates")):
            self.updates = []
        return True

    def _m_set_webhook(self, p: JSON) -> bool:
        self._webhook = str(p.get("url") or "")
        return True

    def _m_get_webhook_info(self, p: JSON) -> JSON:
        return {"url": self._webhook, "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    @staticmethod
    def _commands_key(p: JSON) -> str:
        scope = _json(p, "scope", "Bad Request: can't parse BotCommandScope JSON object")
        return json.dumps(scope or {"type": "default"}, sort_keys=True) + str(
            p.get("language_code") or "")

    def _m_set_my_commands(self, p: JSON) -> bool:
        commands = _json(p, "commands", "Bad Request: can't parse commands JSON object") or []
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: command description must be non-empty")
        self._commands[self._commands_key(p)] = commands
        return True

    def _m_get_my_commands(self, p: JSON) -> list[JSON]:
        return self._commands.get(self._commands_key(p), [])

    def _m_delete_my_commands(self, p: JSON) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    # Limits as Telegram documents them: description 0-512 characters, short description
    # 0-120; an empty text removes it; per language_code like the command list.
    DESCRIPTION_LIMITS = {"description": 512, "short_description": 120}

    def _set_description(self, kind: str, p: JSON) -> bool:
        text = str(p.get(kind) or "")
        if len(text) > self.DESCRIPTION_LIMITS[kind]:
            raise ApiError(400, f"Bad Request: {kind} is too long")
        self._descriptions[(kind, str(p.get("language_code") or ""))] = text
        return True

    def _get_description(self, kind: str, p: JSON) -> JSON:
        return {kind: self._descriptions.get((kind, str(p.get("language_code") or "")), "")}

    def _m_set_my_description(self, p: JSON) -> bool:
        return self._set_description("description", p)

    def _m_get_my_description(self, p: JSON) -> JSON:
        return self._get_description("description", p)

    def _m_set_my_short_description(self, p: JSON) -> bool:
        return self._set_description("short_description", p)

    def _m_get_my_short_description(self, p: JSON) -> JSON:
        return self._get_description("short_description", p)

    def bot_profile(self, language_code: str = "") -> JSON:
        """What a user would see of the bot: its "/" command list, description and short description."""
        p = {"language_code": language_code}
        return {"commands": self._m_get_my_commands(p), **self._get_description("description", p),
                **self._get_description("short_description", p)}

    def _m_send_message(self, p: JSON) -> JSON:
        chat_id = self._chat_id(p)
        plain, fields = self._format(p.get("text"), p.get("parse_mode"), p.get("entities"))
        return self._new_message(chat_id, "text", str(p["text"]), p, plain, fields)

    def _send_file(self, p: JSON, kind: str) -> JSON:
        chat_id = self._chat_id(p)
        value = p.get(kind)
        if isinstance(value, _Upload):
            if not value.content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            f = self._store_file(value.filename, value.content, value.content_type)
        elif isinstance(value, str) and value:
            f = self._files.get(value) or self._store_file(value.rsplit("/", 1)[-1], b"", None)
        else:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption = p.get("caption")
        plain, fields = self._format(caption, p.get("parse_mode"), p.get("caption_entities"), True)
        ref = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": len(f.content)}
        if kind == "photo":
            fields["photo"] = [{**ref, "width": 90, "height": 90}, {**ref, "width": 800, "height": 600}]
        else:
            fields["document"] = {**ref, "file_name": f.name,
                                  "mime_type": f.mime_type or "application/octet-stream"}
        return self._new_message(chat_id, kind, caption, p, plain, fields, f)

    def _m_send_document(self, p: JSON) -> JSON:
        return self._send_file(p, "document")

    def _m_send_photo(self, p: JSON) -> JSON:
        return self._send_file(p, "photo")

    def _edit(self, p: JSON, what: str) -> JSON:
        if p.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._chat_id(p)
        mid = _int(p, "message_id", "Bad Request: message identifier is not specified")
        assert mid is not None
        msg = self.find_message(chat_id, mid)
        if msg is None or msg.deleted:
            raise ApiError(400, "Bad Request: message can't be edited" if (chat_id, mid) in
                           self._user_msgs else "Bad Request: message to edit not found")
        markup = self._markup(p)
        new = {k: v for k, v in msg.raw.items() if k not in ("reply_markup", "edit_date")}
        text, plain = msg.text, msg.plain_text
        if what in ("text", "caption"):
            if (what == "text") != (msg.kind == "text"):
                raise ApiError(400, f"Bad Request: there is no {what} in the message to edit")
            for k in (what, "entities", "caption_entities"):
                new.pop(k, None)
            plain, fields = self._format(p.get(what), p.get("parse_mode"),
                                         p.get("entities" if what == "text" else "caption_entities"),
                                         caption=what == "caption")
            new.update(fields)
            text = None if p.get(what) is None else str(p[what])
        if markup and "inline_keyboard" in markup:
            new["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        if new == {k: v for k, v in msg.raw.items() if k != "edit_date"}:
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        msg.raw, msg.text, msg.plain_text, msg.reply_markup = new, text, plain, markup
        if what != "markup":
            msg.parse_mode = p.get("parse_mode") or None
        msg.edits += 1
        self._events.append(ChatEvent(f"edit_{what}", chat_id, mid, {
            "text": text, "parse_mode": msg.parse_mode, "reply_markup": markup}))
        return new

    def _m_edit_message_text(self, p: JSON) -> JSON:
        return self._edit(p, "text")

    def _m_edit_message_caption(self, p: JSON) -> JSON:
        return self._edit(p, "caption")

    def _m_edit_message_reply_markup(self, p: JSON) -> JSON:
        return self._edit(p, "markup")

    def _m_delete_message(self, p: JSON) -> bool:
        chat_id = self._chat_id(p)
        mid = _int(p, "message_id", "Bad Request: message identifier is not specified")
        msg = self.find_message(chat_id, mid or 0)
        if (msg is None or msg.deleted) and (chat_id, mid) not in self._user_msgs:
            raise ApiError(400, "Bad Request: message to delete not found")
        if msg is not None:
            msg.deleted = True
        self._user_msgs.discard((chat_id, mid or 0))
        self._events.append(ChatEvent("delete", chat_id, mid, {}))
        return True

    def _m_answer_callback_query(self, p: JSON) -> bool:
        cb = self._callbacks.get(str(p.get("callback_query_id")))
        if cb is None or cb["answered"] is not None:
            raise ApiError(400, TOO_OLD)
        answer = {k: p.get(k) for k in ("text", "url", "cache_time")}
        cb["answered"] = answer = {**answer, "show_alert": _bool(p.get("show_alert"))}
        self._events.append(ChatEvent("callback_answer", cb["chat_id"], cb["message_id"], {
            "callback_query_id": p.get("callback_query_id"), **answer}))
        return True

    def _m_send_chat_action(self, p: JSON) -> bool:
        chat_id = self._chat_id(p)
        if p.get("action") not in ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._events.append(ChatEvent("chat_action", chat_id, None, {"action": p["action"]}))
        return True

    def _m_get_file(self, p: JSON) -> JSON:
        f = self._files.get(str(p.get("file_id")))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id,
                "file_size": len(f.content), "file_path": f.path}
