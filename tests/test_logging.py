"""Logs: one structured line per update (hashed user, route, latency); never the token,
never what a user typed, never the raw user id — even at DEBUG, from every library."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import RedactingFormatter, hash_user, setup_logging
from tests.botprocess import DUMMY_TOKEN, BotProcess
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


# -- the real process: start-up, a rejected token, network trouble, idle -----------------------------
def _lines(log: Path, level: str | None = None) -> list[str]:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return [line for line in lines if f" {level} " in line] if level else lines


def _no_secret(log: Path) -> None:
    text = log.read_text(errors="replace")
    assert DUMMY_TOKEN not in text and DUMMY_TOKEN.split(":", 1)[1] not in text


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
@pytest.mark.parametrize("answer", [401, 404])
async def test_a_rejected_token_ends_start_up_with_one_clear_line(tmp_path: Path, level: str, answer: int) -> None:
    """401: Telegram does not know the token. 404: a valid token behind a wrong TELEGRAM_API_BASE_URL
    (PTB names both InvalidToken and would print the token)."""
    async with Emulator(token=None if answer == 404 else "1:another-bots-token") as emu:
        base = f"{emu.url}/wrong/path/bot" if answer == 404 else emu.base_url
        bot = BotProcess(emu, tmp_path / "coach.db", tmp_path / "rejected.log", LOG_LEVEL=level,
                         TELEGRAM_API_BASE_URL=base)
        code = await bot.run_to_exit(timeout=60)
    assert code == 1
    lines = _lines(tmp_path / "rejected.log")
    rejected = [line for line in lines if "Telegram rejected the token, or TELEGRAM_API_BASE_URL is wrong" in line]
    assert len(rejected) == 1 and " CRITICAL " in rejected[0]
    if level == "INFO":
        assert lines == rejected, "start-up should end with that one line and nothing else"
    assert not any("Traceback" in line for line in lines)
    _no_secret(tmp_path / "rejected.log")


async def test_a_token_rejected_while_running_stops_the_process_with_an_error_code(tmp_path: Path) -> None:
    async with Emulator() as emu:
        bot = BotProcess(emu, tmp_path / "coach.db", tmp_path / "bot.log", LOG_LEVEL="INFO")
        await bot.start(timeout=60)
        emu.valid_token = "1:another-bots-token"  # revoked at @BotFather
        emu.send_command(USER, "start")  # ends the long poll: the next one is refused
        code = await bot.wait_exit(timeout=30)
    assert code == 1
    assert any("Telegram rejected the token" in line for line in _lines(tmp_path / "bot.log", "CRITICAL"))
    _no_secret(tmp_path / "bot.log")


async def test_start_up_is_one_line_and_an_idle_bot_is_quiet(tmp_path: Path) -> None:
    async with Emulator() as emu:
        bot = BotProcess(emu, tmp_path / "coach.db", tmp_path / "bot.log", LOG_LEVEL="INFO")
        await bot.start(timeout=60)
        await until(lambda: any("USCE Coach" in line for line in _lines(tmp_path / "bot.log")))
        started = len(_lines(tmp_path / "bot.log"))
        await asyncio.sleep(12)  # six rounds of the 2-second jobs, a long poll ending
        idle = _lines(tmp_path / "bot.log")[started:]
        await bot.stop()
    [line] = [x for x in _lines(tmp_path / "bot.log") if "usce_coach.run" in x and " started: " in x]
    started_line = r"USCE Coach \S+ started: @usce_coach_bot, polling, database \S+coach\.db, content [0-9a-f]{12}$"
    assert re.search(started_line, line)
    assert idle == [], f"an idle bot logged {len(idle)} lines in 12 s: {idle[:3]}"
    assert not any(name in (tmp_path / "bot.log").read_text() for name in ("apscheduler", "transitions"))


async def test_a_network_outage_is_one_warning_and_a_restored_line(tmp_path: Path) -> None:
    async with Emulator() as emu:
        bot = BotProcess(emu, tmp_path / "coach.db", tmp_path / "bot.log", LOG_LEVEL="INFO")
        await bot.start(timeout=60)
        emu.inject("getUpdates", times=2, status=502)
        emu.inject("getUpdates", times=1, status=500)
        emu.send_command(USER, "start")  # ends the long poll under way; the next three fail
        emu.send_command(USER, "help")  # fetched by the first poll that works again
        await emu.wait_for_messages(USER, 2, timeout=30)
        await until(lambda: any("restored" in line for line in _lines(tmp_path / "bot.log")), timeout=30)
        await bot.stop()
    warnings = _lines(tmp_path / "bot.log", "WARNING")
    assert len(warnings) == 2, warnings
    assert "cannot reach Telegram (HTTP 502)" in warnings[0]
    assert "connection to Telegram restored" in warnings[1] and "(3 failed requests)" in warnings[1]
    assert _lines(tmp_path / "bot.log", "ERROR") == []
    assert "Traceback" not in (tmp_path / "bot.log").read_text()


# -- error lines say which update, user and route ---------------------------------------------------------
async def test_error_lines_carry_the_update_the_user_and_the_route(log_stream: io.StringIO) -> None:
    engine = make_engine()
    async with Emulator() as emu, running_bot(emu, engine):
        emu.fail_next("sendMessage", "Bad Request: message is too long", times=1)
        emu.send_command(USER, "help")
        sent = emu.updates[-1]
        await until(lambda: "reply refused by Telegram" in log_stream.getvalue())
        engine.handle = lambda *a, **k: 1 / 0  # type: ignore[assignment,method-assign]  # a bug in the engine
        emu.send_text(USER, "hello")
        crashed = emu.updates[-1]
        await until(lambda: "unhandled error" in log_stream.getvalue())
    user = hash_user(f"tg:{USER}", "test-salt")
    [warning] = [line for line in log_stream.getvalue().splitlines() if "reply refused by Telegram" in line]
    assert warning.endswith(f"[update={sent['update_id']} user={user} route=command:help]")
    [error] = [line for line in log_stream.getvalue().splitlines() if "unhandled error" in line]
    assert error.endswith(f"[update={crashed['update_id']} user={user} route=-]")
