"""HTTP clients for an emulator running as a subprocess (``python -m tests.emulator``).

``EmulatorClient(base)`` is synchronous, ``AsyncEmulatorClient(base)`` has the same methods
as coroutines. ``base`` is the URL from the ``READY`` line (``http://127.0.0.1:PORT``).
Results are plain JSON (messages/events as dicts, see SentMessage.to_json/ChatEvent.to_json).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx


class EmulatorClientError(RuntimeError):
    """The emulator rejected a user-side request (bad arguments, missing button, ...)."""


def _result(response: httpx.Response) -> Any:
    body = response.json()
    if response.status_code == 408:
        raise TimeoutError(body.get("description"))
    if not body.get("ok"):
        raise EmulatorClientError(body.get("description"))
    return body["result"]


class _Base:
    def __init__(self, base: str) -> None:
        base = base.rstrip("/")
        self.base = base[:-4] if base.endswith("/bot") else base
        assert self.base.startswith("http://127.0.0.1:"), "the emulator is local only"

    @property
    def bot_base_url(self) -> str:
        """Value for TELEGRAM_API_BASE_URL / ``Bot(base_url=...)``."""
        return f"{self.base}/bot"

    def _call(self, action: str, payload: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        raise NotImplementedError

    def _call_kw(self, action: str, **kw: Any) -> Any:
        return self._call(action, {k: v for k, v in kw.items() if v is not None})

    def send_text(self, user_id: int, text: str, **kw: Any) -> Any:
        """kw: first_name, username, chat_id, chat_type ("group"/"supergroup"), title."""
        return self._call_kw("text", user_id=user_id, text=text, **kw)

    def edit_text(self, user_id: int, message_id: int, text: str) -> Any:
        """The user edits their earlier message ``message_id``."""
        return self._call("edit", {"user_id": user_id, "message_id": message_id, "text": text})

    def send_command(self, user_id: int, command: str, args: str = "", **kw: Any) -> Any:
        """kw as for :meth:`send_text`, and ``repeat``: send it that many times at once."""
        return self._call_kw("command", user_id=user_id, command=command, args=args, **kw)

    def send_media(self, user_id: int, kind: str, content: bytes | None = None, **kw: Any) -> Any:
        """kind: sticker/photo/voice/document/location; kw: caption, file_name, mime_type,
        latitude, longitude and the chat arguments of :meth:`send_text`."""
        if content is not None:
            kw["content_b64"] = base64.b64encode(content).decode()
        return self._call_kw("media", user_id=user_id, kind=kind, **kw)

    def press_button(self, user_id: int, message_id: int, data: str, *,
                     chat_id: int | None = None, forge: bool = False) -> Any:
        return self._call_kw("press", user_id=user_id, message_id=message_id, data=data,
                             chat_id=chat_id, forge=forge)

    def messages(self, chat_id: int) -> Any:
        return self._call("messages", {"chat_id": chat_id})

    def history(self, chat_id: int | None = None, include_user: bool = False) -> Any:
        return self._call_kw("history", chat_id=chat_id, include_user=include_user)

    def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> Any:
        return self._call("wait", {"chat_id": chat_id, "count": count, "timeout": timeout},
                          timeout=timeout + 5)

    def mark_read(self, chat_id: int) -> Any:
        return self._call("mark_read", {"chat_id": chat_id})

    def reset(self) -> Any:
        return self._call("reset")

    def stats(self) -> Any:
        return self._call("stats")

    def bot_profile(self, language_code: str = "") -> Any:
        """The bot's "/" command list, description and short description as set through the API."""
        return self._call("bot_profile", {"language_code": language_code})

    def inject(self, method: str, **kw: Any) -> Any:
        """kw: times, status, description, chat_id, retry_after, delay, when ("before" or
        "after" Telegram processed the call), reset (drop the connection)."""
        return self._call_kw("inject", method=method, **kw)

    def fail_next(self, method: str, description: str = "Bad Request: injected error",
                  times: int = 1, chat_id: int | None = None) -> Any:
        return self.inject(method, description=description, times=times, chat_id=chat_id)

    def forbid_next(self, method: str, times: int = 1, chat_id: int | None = None) -> Any:
        return self.inject(method, status=403, times=times, chat_id=chat_id)

    def flood_next(self, method: str, retry_after: int = 5, times: int = 1,
                   chat_id: int | None = None) -> Any:
        return self.inject(method, status=429, retry_after=retry_after, times=times,
                           chat_id=chat_id)

    def delay_next(self, method: str, seconds: float, times: int = 1,
                   chat_id: int | None = None) -> Any:
        return self.inject(method, delay=seconds, times=times, chat_id=chat_id)

    def reset_next(self, method: str, *, after: bool = False, times: int = 1) -> Any:
        return self.inject(method, times=times, reset=True, when="after" if after else "before")

    def hang_next(self, method: str, seconds: float, *, after: bool = False, times: int = 1) -> Any:
        return self.inject(method, times=times, delay=seconds, when="after" if after else "before")

    def block(self, user_id: int, notify: bool = False) -> Any:
        return self._call("block", {"user_id": user_id, "notify": notify})

    def unblock(self, user_id: int, notify: bool = False) -> Any:
        return self._call("unblock", {"user_id": user_id, "notify": notify})


class EmulatorClient(_Base):
    """Synchronous client; use as a context manager or call :meth:`close`."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self._http = httpx.Client(trust_env=False)

    def _call(self, action: str, payload: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        return _result(self._http.post(f"{self.base}/_emu/{action}", json=payload or {},
                                       timeout=timeout))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEmulatorClient(_Base):
    """Async client: every method returns a coroutine. Use ``async with`` or :meth:`aclose`."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self._http = httpx.AsyncClient(trust_env=False)

    def _call(self, action: str, payload: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        return self._acall(action, payload, timeout)

    async def _acall(self, action: str, payload: dict[str, Any] | None, timeout: float) -> Any:
        return _result(await self._http.post(f"{self.base}/_emu/{action}", json=payload or {},
                                             timeout=timeout))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncEmulatorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
