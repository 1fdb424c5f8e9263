"""Run the Bot API emulator as a process: ``python -m tests.emulator --port 0``.

Prints one line ``READY http://127.0.0.1:PORT`` on stdout once listening, then serves
until SIGTERM/SIGINT. Point the bot at ``<that url>/bot`` (TELEGRAM_API_BASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from tests.emulator.server import Emulator


async def _serve(args: argparse.Namespace) -> None:
    emu = Emulator(port=args.port, token=args.token, bot_username=args.bot_username,
                   strict_chats=args.strict_chats, per_chat_limit=args.per_chat_limit,
                   global_limit=args.global_limit)
    await emu.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {emu.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = free)")
    parser.add_argument("--token", default=None, help="only accept this bot token (else 401)")
    parser.add_argument("--bot-username", default="usce_coach_bot")
    parser.add_argument("--strict-chats", action="store_true",
                        help="400 'chat not found' for chats no user has written from")
    parser.add_argument("--per-chat-limit", type=int, default=None, help="sends/s before 429")
    parser.add_argument("--global-limit", type=int, default=None, help="sends/s before 429")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
