"""Local Telegram Bot API emulator for end-to-end and reliability tests.

In-process::

    from tests.emulator import Emulator

    async with Emulator() as emu:            # binds 127.0.0.1, free port
        bot = telegram.Bot("123:abc", base_url=emu.base_url)
        emu.send_command(42, "start")
        [reply] = await emu.wait_for_messages(42)

As a subprocess: ``python -m tests.emulator --port 0`` prints ``READY http://127.0.0.1:PORT``
and serves until SIGTERM; drive it with :class:`tests.emulator.client.EmulatorClient`.

Pytest: ``from tests.emulator import emulator  # noqa: F401`` in a conftest.py provides an
``emulator`` fixture (a started :class:`Emulator`, stopped after the test).
"""

from collections.abc import AsyncIterator

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

try:
    import pytest
except ImportError:  # pragma: no cover - the fixture is only needed under pytest
    pass
else:

    @pytest.fixture
    async def emulator() -> AsyncIterator[Emulator]:
        """A running emulator on a free 127.0.0.1 port."""
        async with Emulator() as emu:
            yield emu


__all__ = [
    "ApiCall",
    "ApiError",
    "ChatEvent",
    "Emulator",
    "Injection",
    "SentMessage",
    "StoredFile",
    "emulator",
    "parse_html",
]
