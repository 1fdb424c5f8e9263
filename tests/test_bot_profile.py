"""What Telegram shows of the bot outside a chat: the "/" list and the two descriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram

from bot import bot_profile
from flows.engine.engine import Engine
from tests.chat import Chat
from tests.emulator import Emulator

TOKEN = "123456:TEST-token"


@pytest.fixture
async def wire() -> AsyncIterator[tuple[Emulator, telegram.Bot]]:
    """A started emulator and a bot talking to it."""
    async with Emulator() as emu, telegram.Bot(TOKEN, base_url=emu.base_url) as bot:
        yield emu, bot


def test_the_command_list_is_short_and_every_entry_fits(engine: Engine) -> None:
    commands = bot_profile.bot_commands(engine)
    names = [c.command for c in commands]
    assert len(commands) <= bot_profile.MAX_COMMANDS
    assert {"start", "plan", "help", "cancel"} <= set(names)
    assert all(1 <= len(c.description) <= bot_profile.MAX_COMMAND_DESCRIPTION for c in commands), [
        c.description for c in commands if len(c.description) > bot_profile.MAX_COMMAND_DESCRIPTION
    ]
    assert set(names) <= set(engine.command_names)
    assert not {"stats", "broadcast", "unanswered"} & set(names)  # admin commands stay hidden


def test_every_command_left_off_the_list_is_in_help(engine: Engine, chat: Chat) -> None:
    listed = {c.command for c in bot_profile.bot_commands(engine)}
    help_text = chat.send("/help")[0].text
    hidden = {name for f in engine.features for name in f.admin_commands}
    missing = [n for n in engine.command_names if n not in listed | hidden and f"/{n}" not in help_text]
    assert not missing, f"commands neither in the / list nor in /help: {missing}"


def test_descriptions_fit_telegrams_limits(engine: Engine) -> None:
    long_text, short_text = bot_profile.descriptions(engine.texts)
    assert 0 < len(long_text) <= bot_profile.MAX_DESCRIPTION
    assert 0 < len(short_text) <= bot_profile.MAX_SHORT_DESCRIPTION
    assert "<" not in long_text + short_text  # shown as plain text


async def test_publish_sets_descriptions_only_when_they_changed(
    wire: tuple[Emulator, telegram.Bot], engine: Engine
) -> None:
    emulator, bot = wire
    await bot_profile.publish(bot, engine)
    long_text, short_text = bot_profile.descriptions(engine.texts)
    profile = emulator.bot_profile()
    assert profile["description"] == long_text and profile["short_description"] == short_text
    assert [c["command"] for c in profile["commands"]] == [c.command for c in bot_profile.bot_commands(engine)]
    assert emulator.calls["setMyDescription"] == 1 and emulator.calls["setMyShortDescription"] == 1

    await bot_profile.publish(bot, engine)  # a restart with the same content
    assert emulator.calls["setMyDescription"] == 1 and emulator.calls["setMyShortDescription"] == 1
    assert emulator.calls["getMyDescription"] == 2

    await bot.set_my_short_description("changed elsewhere")
    await bot_profile.publish(bot, engine)
    assert emulator.bot_profile()["short_description"] == short_text
    assert emulator.calls["setMyDescription"] == 1


async def test_a_failing_description_call_does_not_stop_the_start(
    wire: tuple[Emulator, telegram.Bot], engine: Engine
) -> None:
    emulator, bot = wire
    emulator.fail_next("getMyDescription")
    await bot_profile.publish(bot, engine)
    assert emulator.bot_profile()["commands"]  # the command list is set all the same
