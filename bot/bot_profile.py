"""What Telegram shows of the bot outside a conversation: the "/" command list, the
description on an empty chat's "What can this bot do?" screen, and the short description
on the bot's profile page. All three come from ``content/``; they are set at start, the
descriptions only when Telegram's copy differs from ours.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from flows.base.content import Texts
from flows.engine.engine import Engine

log = logging.getLogger("usce_coach.telegram")

MAX_COMMANDS = 10  # a list a phone shows without scrolling far; the rest are in the menus and /help
MAX_COMMAND_DESCRIPTION = 32  # what fits beside the command on a 360-dp phone
MAX_DESCRIPTION = 512  # Telegram's limits
MAX_SHORT_DESCRIPTION = 120


def bot_commands(engine: Engine) -> list[BotCommand]:
    """The commands listed in ``content/texts/commands.yaml``, in its order. Admin-only commands
    and names no feature registers are never listed."""
    hidden = {name for feature in engine.features for name in feature.admin_commands}
    known = set(engine.command_names) - hidden
    listed = [key.removeprefix("commands.") for key in engine.texts.entries if key.startswith("commands.")]
    return [BotCommand(name, engine.texts[f"commands.{name}"]) for name in listed if name in known]


def descriptions(texts: Texts) -> tuple[str, str]:
    """The bot's description and short description, as plain text."""
    return texts["core.bot_description"].strip(), texts["core.bot_short_description"].strip()


async def publish(bot: Bot, engine: Engine) -> None:
    """Set the command list, and the descriptions where Telegram's copy differs.

    The descriptions are a nicety: if Telegram cannot be asked, the bot starts anyway."""
    await bot.set_my_commands(bot_commands(engine))
    long_text, short_text = descriptions(engine.texts)
    try:
        current_long, current_short = await asyncio.gather(bot.get_my_description(), bot.get_my_short_description())
        changes = []
        if current_long.description != long_text:
            changes.append(bot.set_my_description(long_text))
        if current_short.short_description != short_text:
            changes.append(bot.set_my_short_description(short_text))
        await asyncio.gather(*changes)
    except TelegramError as exc:
        log.warning("bot description not updated (%s)", type(exc).__name__)
