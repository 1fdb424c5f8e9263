"""Logging: one formatter for everything, which redacts secrets and hashes user ids.

python-telegram-bot logs the Bot API URL (which contains the token) at DEBUG and
httpx logs request URLs at INFO, so redaction happens on the final formatted line,
whatever logger produced it.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterable

REDACTED = "<redacted>"


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s")
        self.secrets = [s for s in secrets if s]
        # The part after "123:" is the secret; redact it alone too in case it is split.
        self.secrets += [s.split(":", 1)[1] for s in self.secrets if ":" in s]

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno < logging.INFO and record.name.startswith(("telegram", "httpx", "httpcore")):
            record = _without_payloads(record)
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def _harmless(arg: object) -> bool:
    """Numbers and single short words (method names, ids) carry no user content."""
    if isinstance(arg, bool | int | float):
        return True
    return isinstance(arg, str) and len(arg) <= 40 and not any(ch.isspace() for ch in arg)


def _without_payloads(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of a library DEBUG record with updates, parameters and results left out:
    they hold what users typed and what the bot answered."""
    clean = logging.makeLogRecord(record.__dict__)
    if isinstance(record.args, tuple):
        clean.args = tuple(a if _harmless(a) else "<omitted>" for a in record.args)
    elif isinstance(record.args, dict):
        clean.args = {k: v if _harmless(v) else "<omitted>" for k, v in record.args.items()}
    return clean


def setup_logging(level: str, secrets: Iterable[str], stream: object = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Request lines say nothing an operator needs at INFO.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))
    return handler


def hash_user(user_id: str, salt: str) -> str:
    """A short salted hash, so log lines about one user can be linked without naming them."""
    return hashlib.blake2s(user_id.encode(), key=salt.encode()[:32], digest_size=6).hexdigest()
