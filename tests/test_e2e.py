"""End to end: the real ``usce-coach run`` process against the local Bot API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.botprocess import DUMMY_TOKEN, BotProcess
from tests.emulator import Emulator

USER = 4242


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emu:
        yield emu


@pytest.fixture
async def bot(emulator: Emulator, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(emulator, tmp_path / "coach.db", tmp_path / "bot.log")
    await process.start()
    yield process
    await process.stop()


async def test_start_button_and_free_text(emulator: Emulator, bot: BotProcess, tmp_path: Path) -> None:
    emulator.send_command(USER, "start")
    welcome, menu = await emulator.wait_for_messages(USER, 2, timeout=10)
    assert "Welcome to USCE Coach" in welcome.plain_text
    assert menu.callback_data, "the main menu has buttons"
    assert welcome.parse_mode == "HTML"

    emulator.press_button(USER, menu.message_id, "go:help")
    [help_] = await emulator.wait_for_messages(USER, 1, timeout=10)
    assert "/menu" in help_.plain_text
    await emulator.wait_for(lambda: not emulator.unanswered_callbacks(), timeout=5)

    emulator.send_text(USER, "<b>hello</b> & good morning")
    replies = await emulator.wait_for_messages(USER, 1, timeout=10)
    assert replies[0].plain_text  # answered, with no parse error from the HTML characters

    commands = {c["command"] for c in emulator._m_get_my_commands({})}
    assert {"start", "menu", "help", "cancel"} <= commands

    log = (tmp_path / "bot.log").read_text()
    assert "route=command:start" in log
    assert DUMMY_TOKEN.split(":", 1)[1] not in log  # not even at DEBUG
    assert "good morning" not in log  # message text is never logged


async def test_group_chat_gets_one_polite_line(emulator: Emulator, bot: BotProcess) -> None:
    emulator.send_command(USER, "start", chat_id=-1001, chat_type="group", title="IMG study group")
    [reply] = await emulator.wait_for_messages(-1001, 1, timeout=10)
    assert "private" in reply.plain_text
