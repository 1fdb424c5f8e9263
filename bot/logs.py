"""Logging: secrets never written, user ids hashed, library chatter kept down.

Secrets (the bot token, its secret half, the webhook secret) are registered with
:func:`protect` — every :class:`~bot.settings.Settings` registers its own — and removed from
every log record when it is *created*, whatever logger made it (python-telegram-bot,
httpx, apscheduler, tornado, ours): its message, arguments, exception message and
traceback. So no handler or formatter, ours or another's, can write them. Uncaught
exceptions (of the main thread, other threads, and those Python reports as unraisable)
go through logging too, so Python's default hooks never print a secret to stderr.

python-telegram-bot logs the Bot API URL (which contains the token) at DEBUG and
httpx logs request URLs at INFO; the formatter also leaves out the payloads of library
DEBUG records (what users typed, what the bot answered).

Error lines about an update carry its id, the user's hash and the route: the channel
calls :func:`begin_update` for each update and :class:`ContextFilter` adds them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import sys
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

REDACTED = "<redacted>"
# Libraries whose INFO lines say nothing an operator needs (apscheduler: every job run;
# transitions: every state change; httpx: every request): WARNING and above only.
QUIET_LIBRARIES = ("apscheduler", "transitions", "httpx", "httpcore", "tornado.access")
_PAYLOAD_LOGGERS = ("telegram", "httpx", "httpcore")  # their DEBUG arguments carry messages

_secrets: set[str] = set()
_secrets_sorted: tuple[str, ...] = ()
_lock = threading.Lock()


def protect(*secrets: str | None) -> None:
    """Never let ``secrets`` appear in a log line from now on. For a bot token
    ("123456:ABC…") the part after the colon is protected alone too."""
    global _secrets_sorted
    with _lock:
        for secret in secrets:
            if not secret:
                continue
            _secrets.add(secret)
            _, colon, tail = secret.partition(":")
            if colon and len(tail) >= 8:
                _secrets.add(tail)
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))  # the whole token before its half


def redact(text: str) -> str:
    for secret in _secrets_sorted:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def protected() -> tuple[str, ...]:
    return _secrets_sorted


# -- at creation: every record of every logger ----------------------------------------------------
_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if record.levelno < logging.INFO and record.name.startswith(_PAYLOAD_LOGGERS):
        _omit_payloads(record)
    if _secrets_sorted:
        _redact_record(record)
    return record


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is logging's own problem to report
        message = str(record.msg)
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # formatters use the cached text instead of formatting it again
            _scrub_exception(record.exc_info[1])
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _scrub_exception(exc: BaseException | None) -> None:
    """Remove secrets from an exception's own message too (and of those chained to it), for
    code that prints ``str(exc)`` later."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.args:
            exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
        for attr in ("message", "_message"):
            value = getattr(exc, attr, None)
            if isinstance(value, str):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, attr, redact(value))
        exc = exc.__cause__ or exc.__context__


logging.setLogRecordFactory(_redacting_factory)


# -- uncaught exceptions ------------------------------------------------------------------------
_crash_log = logging.getLogger("usce_coach.crash")


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    _crash_log.critical("uncaught %s: the process stops", kind.__name__, exc_info=(kind, value, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value else None
    _crash_log.error("uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=exc_info)


def _unraisable_hook(unraisable: sys.UnraisableHookArgs) -> None:
    exc = unraisable.exc_value
    exc_info = (type(exc), exc, unraisable.exc_traceback) if exc is not None else None
    _crash_log.error("%s: %r", unraisable.err_msg or "exception ignored", unraisable.object, exc_info=exc_info)


def install_hooks() -> None:
    """Send uncaught exceptions through logging (and so through redaction)."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisable_hook
    logging.captureWarnings(True)


# -- context of the update being handled ------------------------------------------------------------
@dataclass
class UpdateScope:
    update_id: int | None
    user_id: str
    salt: str
    route: str = "-"

    def describe(self) -> str:
        return f" [update={self.update_id} user={hash_user(self.user_id, self.salt)} route={self.route}]"


_scope: contextvars.ContextVar[UpdateScope | None] = contextvars.ContextVar("usce_update", default=None)


def begin_update(update_id: int | None, user_id: str, salt: str) -> UpdateScope:
    """From here on in this task (python-telegram-bot runs each update in a task of its own,
    its error handler included), every WARNING or worse line says which update, user (hashed)
    and route it is about; set ``scope.route`` once the engine has routed the input."""
    scope = UpdateScope(update_id, user_id, salt)
    _scope.set(scope)
    return scope


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scope = _scope.get()
        if scope is not None and record.levelno >= logging.WARNING and not hasattr(record, "usce_context"):
            record.usce_context = scope.describe()
        return True


# -- the handler and its formatter ------------------------------------------------------------------
class RedactingFormatter(logging.Formatter):
    """The last line of defence: the finished line is redacted again (records made without the
    factory, secrets given only here)."""

    def __init__(self, secrets: Iterable[str] = (), fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s")
        self.secrets = [s for s in secrets if s]
        # The part after "123:" is the secret; redact it alone too in case it is split.
        self.secrets += [s.split(":", 1)[1] for s in self.secrets if ":" in s]

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record) + getattr(record, "usce_context", "")  # before any traceback

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return redact(line)


def _harmless(arg: object) -> bool:
    """Numbers and single short words (method names, ids) carry no user content."""
    if isinstance(arg, bool | int | float):
        return True
    return isinstance(arg, str) and len(arg) <= 40 and not any(ch.isspace() for ch in arg)


def _omit_payloads(record: logging.LogRecord) -> None:
    """Leave updates, parameters and results out of a library DEBUG record: they hold what
    users typed and what the bot answered."""
    if isinstance(record.args, tuple):
        record.args = tuple(a if _harmless(a) else "<omitted>" for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: v if _harmless(v) else "<omitted>" for k, v in record.args.items()}


def setup_logging(level: str, secrets: Iterable[str] = (), stream: object = None) -> logging.Handler:
    """One handler on the root logger (replacing the one set up before, leaving others alone)."""
    secrets = list(secrets)
    protect(*secrets)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(RedactingFormatter(secrets))
    handler.addFilter(ContextFilter())
    handler.usce_coach = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "usce_coach", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    install_hooks()
    return handler


def hash_user(user_id: str, salt: str) -> str:
    """A short salted hash, so log lines about one user can be linked without naming them."""
    return hashlib.blake2s(user_id.encode(), key=salt.encode()[:32], digest_size=6).hexdigest()
