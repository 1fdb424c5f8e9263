"""Running the Telegram bot: start-up, long polling or a webhook, shutdown, and the link to Telegram.

python-telegram-bot's ``run_polling``/``run_webhook`` would run the same lifecycle
(initialize, ``post_init``, start, wait for a stop signal, stop, shut down); it is spelt out
here because an operator needs more from it:

- a token Telegram rejects (401, or 404: a wrong ``TELEGRAM_API_BASE_URL``) ends start-up
  with one line and exit code 1, and a rejection later on stops the process with exit code 1
  so a supervisor restarts it (PTB would print the token, or poll on forever doing nothing);
- a transient network error is one WARNING line, and its end a "connection restored" line,
  instead of an ERROR traceback per failed poll;
- a database file replaced or deleted under the running bot stops it with exit code 1 (the open
  connection would go on writing to the old file), so the next start checks the new one;
- one start-up line: bot username, polling or webhook, database, version, content checksum;
- the webhook listener serves the path of ``--webhook-url``, checks the secret before it reads
  a body, refuses bodies over :data:`MAX_BODY` before reading them, answers an unreadable body
  with 400 without logging its content, and answers ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.metadata
import json
import logging
import re
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ExtBot
from telegram.request import HTTPXRequest
from tornado.httpserver import HTTPServer

from bot.settings import Settings
from flows.base.content import CONTENT_DIR
from flows.storage.store import Store

log = logging.getLogger("usce_coach.run")

REJECTED = "Telegram rejected the token, or TELEGRAM_API_BASE_URL is wrong"
EXIT_REJECTED = 1
EXIT_REPLACED = 1
WATCH_FILE = 5.0  # seconds between checks that the database file is still the one opened
MAX_BODY = 1024 * 1024  # an update is a few kilobytes; Telegram never sends a megabyte
RETRY_START = 5.0  # seconds between attempts to reach Telegram at start


def version() -> str:
    try:
        return importlib.metadata.version("usce-coach")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def content_checksum(folder: Path = CONTENT_DIR) -> str:
    """A short fingerprint of everything in content/, so an operator can tell which texts run."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# -- the link to Telegram -------------------------------------------------------------------------
class Connection:
    """What is known of the link to Telegram; a change is logged once, not every failed request."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.failures = 0
        self.rejected = asyncio.Event()

    def failed(self, reason: str) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("cannot reach Telegram (%s); trying again until it answers", reason)

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning(
                "connection to Telegram restored after %.0f s (%d failed requests)",
                time.monotonic() - self.down_since,
                self.failures,
            )
            self.down_since, self.failures = None, 0

    def reject(self) -> None:
        self.rejected.set()

    @property
    def healthy(self) -> bool:
        return self.down_since is None and not self.rejected.is_set()


class WatchedRequest(HTTPXRequest):
    """PTB's HTTP layer, telling a :class:`Connection` how each request went. Only the long poll
    (``polling=True``) decides whether Telegram is reachable; any request can find the token
    rejected."""

    def __init__(self, connection: Connection, *, polling: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection = connection
        self.polling = polling

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(*args, **kwargs)
        except NetworkError as exc:  # TimedOut included: a poll that hangs
            if self.polling:
                self.connection.failed(type(exc).__name__)
            raise
        if code in (401, 404):
            self.connection.reject()
            if not payload.lstrip().startswith(b"{"):  # a web server's page, not the Bot API: say it plainly
                payload = json.dumps({"ok": False, "error_code": code, "description": "Not Found"}).encode()
        elif code >= 500 and self.polling:
            self.connection.failed(f"HTTP {code}")
        elif self.polling:
            self.connection.ok()
        return code, payload


def requests(connection: Connection) -> tuple[WatchedRequest, WatchedRequest]:
    """The HTTP layers for sends and for the long poll (the pool sizes ApplicationBuilder picks)."""
    return (
        WatchedRequest(connection, polling=False, connection_pool_size=256),
        WatchedRequest(connection, polling=True, connection_pool_size=1),
    )


# -- the webhook listener -------------------------------------------------------------------------
@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """Telegram's POSTs: the secret and the size are checked on the headers, before any body is read."""

    def initialize(self, secret: str, app: Application) -> None:
        self.secret = secret.encode()
        self.app = app
        self.chunks: list[bytes] = []
        self.size = 0

    def prepare(self) -> None:
        if self.request.method != "POST":
            self._refuse(405)
            return
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.debug("webhook: a request without the right secret was refused")
            self._refuse(403)
            return
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            log.warning("webhook: a request of %s bytes was refused (limit %d)", declared[:20], MAX_BODY)
            self._refuse(413)
            return
        self.request.connection.set_max_body_size(MAX_BODY)  # type: ignore[union-attr]

    def _refuse(self, status: int) -> None:
        self.set_status(status)
        self.finish()  # before the body is read: tornado then closes the connection instead of reading it

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_BODY:
            raise tornado.web.HTTPError(413)
        self.chunks.append(chunk)

    async def post(self) -> None:
        try:
            data = json.loads(b"".join(self.chunks))
            update = Update.de_json(data, self.app.bot)
            if update is None:
                raise ValueError("empty update")
        except Exception as exc:  # noqa: BLE001 - anything unreadable is the sender's problem
            log.warning(
                "webhook: a request with the right secret was not an update (%d bytes, %s); answered 400",
                self.size,
                type(exc).__name__,
            )
            self.set_status(400)
            return
        if isinstance(self.app.bot, ExtBot):
            self.app.bot.insert_callback_data(update)
        await self.app.update_queue.put(update)

    def log_exception(self, kind: Any, value: Any, tb: Any) -> None:
        """Tornado would log the request (with its content) on an error: only the kind is logged."""
        if isinstance(value, tornado.web.HTTPError):
            log.debug("webhook: answered %d", value.status_code)
        else:
            name = getattr(kind, "__name__", kind)
            log.error("webhook: %s while handling a request", name, exc_info=(kind, value, tb))


class HealthHandler(tornado.web.RequestHandler):
    def initialize(self, connection: Connection, store: Store) -> None:
        self.connection = connection
        self.store = store

    def get(self) -> None:
        problems = []
        if not self.connection.healthy:
            problems.append("telegram")
        if self.store.unwritable:
            problems.append("database")
        self.set_status(503 if problems else 200)
        self.finish({"ok": not problems, "mode": "webhook", "problems": problems})


def webhook_app(
    path: str, secret: str, app: Application, connection: Connection, store: Store
) -> tornado.web.Application:
    routes: list[Any] = [
        (re.escape(path.rstrip("/") or "/") + "/?", UpdateHandler, {"secret": secret, "app": app}),
    ]
    if path.rstrip("/") != "/healthz":
        routes.append((r"/healthz", HealthHandler, {"connection": connection, "store": store}))
    return tornado.web.Application(routes, log_function=lambda handler: None)


# -- the lifecycle ---------------------------------------------------------------------------------
async def _initialize(app: Application, stop: asyncio.Event) -> bool:
    """Connect (getMe). False when Telegram rejected the token; retries while it is unreachable."""
    warned = False
    while not stop.is_set():
        try:
            await app.initialize()
            if warned:
                log.warning("connection to Telegram restored")
            return True
        except InvalidToken:
            return False
        except NetworkError as exc:
            if not warned:
                log.warning("cannot reach Telegram at start (%s); trying again every %.0f s", exc, RETRY_START)
                warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_START)
    return True


async def serve(
    app: Application,
    settings: Settings,
    store: Store,
    connection: Connection,
    webhook_url: str | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (exit code 0) or until Telegram rejects the token (exit code 1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not await _initialize(app, stop):
        log.critical("%s: the bot stops (exit code %d)", REJECTED, EXIT_REJECTED)
        await app.bot.shutdown()
        return EXIT_REJECTED
    if stop.is_set():
        await app.bot.shutdown()
        return 0
    server: HTTPServer | None = None
    try:
        if app.post_init:
            await app.post_init(app)
        if webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
            path = urlsplit(webhook_url).path or "/"
            server = HTTPServer(
                webhook_app(path, secret, app, connection, store), max_body_size=MAX_BODY, max_buffer_size=4 * MAX_BODY
            )
            server.listen(settings.webhook_port, address=settings.webhook_listen)
            await app.bot.set_webhook(webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            mode = f"webhook on {settings.webhook_listen}:{settings.webhook_port}{path}"
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, error_callback=_polling_error)
            mode = "polling"
        await app.start()
        log.info(
            "USCE Coach %s started: @%s, %s, database %s, content %s",
            version(),
            app.bot.username,
            mode,
            store.path or ":memory:",
            content_checksum(settings.content_dir),
        )
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(connection.rejected.wait()),
            asyncio.ensure_future(_watch_file(store)),
        ]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if stop.is_set():
            return 0
        if connection.rejected.is_set():
            log.critical("%s: the bot stops (exit code %d) so a supervisor can restart it", REJECTED, EXIT_REJECTED)
            return EXIT_REJECTED
        why = next(iter(done)).result()
        log.critical("%s: the bot stops (exit code %d); at the next start the file is checked", why, EXIT_REPLACED)
        return EXIT_REPLACED
    finally:
        if server is not None:
            server.stop()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


async def _watch_file(store: Store, every: float = WATCH_FILE) -> str:
    """Return (why) once the database file is not the one opened: replaced under the bot."""
    while True:
        await asyncio.sleep(every)
        why = store.replaced()
        if why:
            return why


def _polling_error(exc: TelegramError) -> None:
    """Errors of getUpdates: the connection's state is logged by :class:`WatchedRequest`."""
    if isinstance(exc, Conflict):
        log.warning("another process is receiving updates for this bot (409 Conflict); stop one of them")
    else:
        log.debug("polling failed: %s", type(exc).__name__)
