"""Running the real ``usce-coach run`` process against the local emulator, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.emulator import Emulator

DUMMY_TOKEN = "123456789:" + "AAE2eTestTokenNeve" + "rValidAnywhere_abcd"  # in parts, so no token-shaped literal
ROOT = Path(__file__).resolve().parent.parent


class BotProcess:
    """The bot as a child process: start, wait until it polls, kill it hard, start again."""

    def __init__(self, emulator: Emulator, database: Path, log: Path, **env: str) -> None:
        self.emulator = emulator
        self.database = database
        self.log = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=DUMMY_TOKEN,
            TELEGRAM_API_BASE_URL=self.emulator.base_url,
            DATABASE_PATH=str(self.database),
            LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        return env

    async def start(self, timeout: float = 15.0) -> None:
        polls_before = self.emulator.calls.get("getUpdates", 0)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=self._environment(), stdout=out, stderr=out
            )
        try:
            await self.emulator.wait_for(lambda: self.emulator.calls.get("getUpdates", 0) > polls_before, timeout)
        except TimeoutError:
            self.kill()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the bot did not start polling within {timeout}s; its log ends:\n{tail}") from None

    async def run_to_exit(self, timeout: float = 30.0) -> int:
        """Start the process and wait for it to end by itself (a start-up that fails); its exit code."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=self._environment(), stdout=out, stderr=out
            )
        return await self.wait_exit(timeout)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        try:
            code = await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing — the harshest crash there is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
