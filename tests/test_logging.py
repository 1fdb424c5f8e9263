"""Logs: one structured line per update (hashed user, route, latency); never the token,
never what a user typed, never the raw user id — even at DEBUG, from every library."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from bot.logs import RedactingFormatter, hash_user, setup_logging
from tests.emulator import Emulator
from tests.test_failures import until
from tests.test_security import TOKEN, make_engine, running_bot

USER = 918273645  # distinctive, so a leak of the raw id is easy to find
TYPED = [
    "my visa story is private 5551",
    "Zebra Clinic Houston",
    "<b>bold</b> & ünïcødé مرحبا 🩺",
    "TOKEN? " + TOKEN,  # a user pasting the token must not put it in the logs either
]
MARKERS = ["visa story", "5551", "Zebra", "Houston", "ünïcødé", "مرحبا", "🩺", "TOKEN?"]
LINE = re.compile(r"update user=(?P<user>[0-9a-f]{12}) route=(?P<route>\S+) replies=\d+ ms=\d+\.\d")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything every logger writes, through the project's own formatter, at DEBUG."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    setup_logging("DEBUG", [TOKEN], stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


async def test_a_conversation_at_debug_level_leaks_nothing(log_stream: io.StringIO) -> None:
    engine = make_engine()
    updates = 0
    async with Emulator() as emu, running_bot(emu, engine):
        emu.send_command(USER, "start")
        updates += 1
        await emu.wait_for_messages(USER, 1, timeout=10)
        for text in TYPED:
            emu.send_text(USER, text)
            updates += 1
            await emu.wait_for_messages(USER, 1, timeout=10)
        button = next((m for m in reversed(emu.sent_messages(USER)) if m.callback_data), None)
        assert button is not None
        sent = len(emu.sent_messages(USER))
        emu.press_button(USER, button.message_id, button.callback_data[0])
        updates += 1
        await emu.wait_for(lambda: len(emu.sent_messages(USER)) > sent, timeout=10)
        await until(lambda: len(LINE.findall(log_stream.getvalue())) == updates)
        emu.fail_next("sendMessage", "Bad Request: message is too long", times=1)
        emu.send_command(USER, "help")  # its reply fails: logged as not delivered
        updates += 1
        await until(lambda: len(LINE.findall(log_stream.getvalue())) == updates)
        emu.send_command(USER, "export")
        updates += 1
        await until(lambda: len(LINE.findall(log_stream.getvalue())) == updates)
    logs = log_stream.getvalue()
    assert "DEBUG" in logs and "telegram" in logs  # the libraries really did talk
    assert TOKEN not in logs
    assert TOKEN.split(":", 1)[1] not in logs
    for marker in MARKERS:
        assert marker not in logs, f"user text {marker!r} was logged"
    assert str(USER) not in logs, "the raw user id was logged"

    lines = [m.groupdict() for m in LINE.finditer(logs)]
    assert len(lines) == updates  # one per update, the failed one too
    assert re.search(r"route=command:help replies=1 ms=\d+\.\d failed=BadRequest", logs)
    assert {line["user"] for line in lines} == {hash_user(f"tg:{USER}", "test-salt")}
    assert {"command:start", "command:export"} <= {line["route"] for line in lines}


def test_the_hash_is_salted_and_stable() -> None:
    assert hash_user("tg:1", "a") == hash_user("tg:1", "a")
    assert hash_user("tg:1", "a") != hash_user("tg:1", "b")
    assert hash_user("tg:1", "a") != hash_user("tg:2", "a")
    assert re.fullmatch(r"[0-9a-f]{12}", hash_user("tg:918273645", ""))


@pytest.mark.parametrize(
    "message",
    [
        f"POST https://api.telegram.org/bot{TOKEN}/sendMessage",
        f"token part {TOKEN.split(':', 1)[1]} alone",
        "url=https://api.telegram.org/bot%s/getMe",
    ],
)
def test_the_formatter_redacts_the_token_wherever_it_appears(message: str) -> None:
    formatter = RedactingFormatter([TOKEN])
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, message, (TOKEN,) if "%s" in message else (), None)
    line = formatter.format(record)
    assert TOKEN.split(":", 1)[1] not in line and "<redacted>" in line


def test_the_formatter_redacts_the_token_in_a_traceback() -> None:
    formatter = RedactingFormatter([TOKEN])
    try:
        raise RuntimeError(f"failed calling https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert TOKEN.split(":", 1)[1] not in formatter.format(record)
