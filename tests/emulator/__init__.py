"""Local Telegram Bot API emulator for end-to-end and reliability tests.

In-process::

    from tests.emulator import Emulator

    async with Emulator() as emu:            # binds 127.0.0.1, free port
        bot = telegram.Bot("123:abc", base_url=emu.base_url)
        emu.send_command(42, "start")
        [reply] = await emu.wait_for_messages(42)

As a subprocess: ``python -m tests.emulator --port 0`` prints ``READY http://127.0.0.1:PORT``
and serves until SIGTERM; drive it with :class:`tests.emulator.client.EmulatorClient`.
"""

from tests.emulator.server import (
    ApiCall,
    ApiError,
    ChatEvent,
    Emulator,
    Injection,
    SentMessage,
    StoredFile,
    parse_html,
)

__all__ = [
    "ApiCall",
    "ApiError",
    "ChatEvent",
    "Emulator",
    "Injection",
    "SentMessage",
    "StoredFile",
    "parse_html",
]
