"""Suite-wide check: no bot token, no secret half of one, no webhook secret in any log line or any
process output of the whole test run.

Every log record of every logger of the test process is captured at DEBUG (the root logger is set
to DEBUG for the run, so libraries' debug lines are made too), formatted plainly with its
traceback — not through the project's formatter, so what is checked is the redaction the records
themselves carry. Every file a test writes under pytest's temporary folder whose name says it is a
log (the real ``usce-coach run`` processes of the end-to-end, crash, webhook and rejected-token
tests write theirs there), and the output of every ``subprocess.run`` of the run, are read too.
At the end the run fails if any secret occurs in any of it.

A secret counts for a log line once it was known when the line was written: the project's
secrets (``bot.logs.protected()``: every token and webhook secret a ``Settings`` was made with)
and the tokens and secret the tests give the bot processes.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot import logs
from tests.botprocess import DUMMY_TOKEN

FIXED = (DUMMY_TOKEN, "123456789:" + "AAHsecurityTestTok" + "en_abcdefghijklmnop", "right-secret_123")


def _with_halves(secrets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple({*secrets, *(s.split(":", 1)[1] for s in secrets if ":" in s)})


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[tuple[str, tuple[str, ...]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot be formatted has no text to leak
            self.lines.append((self.format(record), logs.protected()))


class LeakCheck:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.capture = Capture()
        self.outputs: list[tuple[str, str]] = []
        self.found: list[str] = []
        self.scanned_files = 0
        self._run = subprocess.run

    # -- setting up ----------------------------------------------------------------------------------
    def start(self) -> None:
        root = logging.getLogger()
        root.addHandler(self.capture)
        root.setLevel(logging.DEBUG)
        check = self

        def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
            done = check._run(*args, **kwargs)
            for stream in (done.stdout, done.stderr):
                if stream:
                    text = stream.decode(errors="replace") if isinstance(stream, bytes) else str(stream)
                    check.outputs.append((f"output of {args[0] if args else kwargs.get('args')}", text))
            return done

        subprocess.run = run

    def stop(self) -> None:
        logging.getLogger().removeHandler(self.capture)
        subprocess.run = self._run

    # -- checking --------------------------------------------------------------------------------------
    def check(self, basetemp: Path | None) -> None:
        for line, known in self.capture.lines:
            for secret in _with_halves(known + FIXED):
                if secret in line:
                    self.found.append(f"log line: {line[:300]}")
        everything = _with_halves(logs.protected() + FIXED)
        if basetemp is not None and basetemp.exists():
            for path in basetemp.rglob("*"):
                if path.is_file() and ("log" in path.name.lower() or path.suffix in (".out", ".err")):
                    self.scanned_files += 1
                    self.outputs.append((str(path), path.read_text(errors="replace")))
        for where, text in self.outputs:
            for secret in everything:
                if secret in text:
                    self.found.append(f"{where}: ...{text[max(0, text.index(secret) - 100):][:300]}")

    def summary(self) -> str:
        lines = len(self.capture.lines)
        return (
            f"secrets in logs: {len(self.found)} occurrences in {lines} log records of this process and"
            f" {len(self.outputs)} process outputs ({self.scanned_files} log files)"
        )


_check: LeakCheck | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _check
    _check = LeakCheck(config)
    _check.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _check is None:
        return
    _check.stop()
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = factory.getbasetemp() if factory is not None and factory._basetemp is not None else None
    _check.check(basetemp)
    if _check.found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _check is None:
        return
    terminalreporter.write_line(_check.summary(), red=bool(_check.found))
    for leak in _check.found[:20]:
        terminalreporter.write_line(f"  LEAK {leak}", red=True)
