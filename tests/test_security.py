"""Who can reach what: admin commands, other users' data, and the webhook's secret."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application

from bot.settings import Settings
from bot.telegram import build_application
from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Clock
from tests.emulator import Emulator

TOKEN = "123456789:" + "AAHsecurityTestTok" + "en_abcdefghijklmnop"  # in parts, so no token-shaped literal
ROOT = Path(__file__).resolve().parent.parent
ADMIN_ID, USER_ID = 42, 1001


# -- an in-process bot against the emulator (shared with the reliability tests) ---------------------
@asynccontextmanager
async def running_bot(emu: Emulator, engine: Engine, **settings: Any) -> AsyncIterator[Application]:  # type: ignore[type-arg,unused-ignore]
    """The real Telegram channel, long-polling the emulator from this event loop."""
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base_url=emu.base_url,
        **settings,
    )
    app = build_application(engine, config, "test-salt")
    async with app:
        if app.post_init is not None:  # run_polling would call it: the dispatcher's jobs start here
            await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def make_engine(store: Store | None = None, admins: tuple[str, ...] = (f"tg:{ADMIN_ID}",)) -> Engine:
    engine = Engine(store or Store.memory(), all_features(), clock=Clock(), admins=admins)
    engine.migrate()
    return engine


_forged_ids = itertools.count(10**9)  # above the emulator's: a lower id would be a redelivery, ignored


def update(app: Application, payload: dict[str, Any]) -> Update:  # type: ignore[type-arg,unused-ignore]
    return Update.de_json({"update_id": next(_forged_ids), **payload}, app.bot)


def message(from_id: int, chat_id: int, text: str) -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    return {
        "message": {
            "message_id": random.randint(1, 10**6),
            "date": 1_780_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "X"},
            "from": {"id": from_id, "is_bot": False, "first_name": "X"},
            "text": text,
            "entities": entities,
        }
    }


# -- admin commands ----------------------------------------------------------------------------------
async def test_only_the_admin_ids_from_settings_reach_admin_commands() -> None:
    async with Emulator() as emu:
        engine = make_engine()
        async with running_bot(emu, engine, admin_ids=(ADMIN_ID,)) as app:
            emu.send_command(USER_ID, "stats")
            [answer] = await emu.wait_for_messages(USER_ID, 1)
            assert "I don't know the command /stats" in answer.plain_text
            emu.send_command(ADMIN_ID, "stats")
            [stats] = await emu.wait_for_messages(ADMIN_ID, 1)
            assert "Active in the last 7 days" in stats.plain_text

            # Forged updates: the admin's id everywhere except in "from".
            emu.mark_read(ADMIN_ID)
            await app.process_update(update(app, message(USER_ID, ADMIN_ID, f"/stats {ADMIN_ID}")))
            await app.process_update(update(app, message(USER_ID, ADMIN_ID, "/stats@usce_coach_bot tg:42")))
            for reply in await emu.wait_for_messages(ADMIN_ID, 2):
                assert "I don't know the command /stats" in reply.plain_text
                assert "Active in the last" not in reply.plain_text
            await app.process_update(update(app, {"callback_query": {
                "id": "1", "from": {"id": USER_ID, "is_bot": False, "first_name": "X"},
                "chat_instance": "1", "data": f"go:stats:{ADMIN_ID}",
                "message": {"message_id": stats.message_id, "date": 1_780_000_000,
                            "chat": {"id": ADMIN_ID, "type": "private", "first_name": "X"}},
            }}))
            await app.process_update(update(app, {"callback_query": {
                "id": "2", "from": {"id": USER_ID, "is_bot": False, "first_name": "X"},
                "chat_instance": "1", "data": "ad:send",
                "message": {"message_id": stats.message_id, "date": 1_780_000_000,
                            "chat": {"id": USER_ID, "type": "private", "first_name": "X"}},
            }}))
            await asyncio.sleep(0)
    assert all("Active in the last" not in m.plain_text for m in emu.sent_messages(USER_ID))
    assert not engine.store.conn.execute("SELECT count(*) FROM broadcasts").fetchone()[0]


# -- other users' data -------------------------------------------------------------------------------
SECRET = "Zebra Clinic 7781"
ANSWERS = [SECRET, "2027", "3", "12", "yes", "Internal medicine", "2028-07", "no", "1", "Zebra 7781 hospital"]


def explore(engine: Engine, user: str, rng: random.Random, steps: int, avoid: tuple[str, ...]) -> list[str]:
    """Use the assistant the way a curious person would; returns every button data seen."""
    seen: list[str] = []
    offered: list[str] = []
    commands = [c for c in engine.command_names if c not in ("delete",)]
    for _ in range(steps):
        roll = rng.random()
        if offered and roll < 0.6:
            inp = Input.button(user, rng.choice(offered))
        elif roll < 0.85:
            inp = Input.text(user, rng.choice(ANSWERS))
        else:
            inp = Input.command(user, rng.choice(commands), rng.choice(["", SECRET]))
        replies = engine.handle(inp, chat_id=int(user.split(":")[1])).replies
        offered = [b.data for r in replies for row in r.buttons for b in row if not b.data.startswith(avoid)]
        seen += [d for d in offered if d not in seen]
    return seen


def test_no_button_of_one_user_shows_or_changes_another_users_data() -> None:
    engine = make_engine()
    alice, bob = f"tg:{USER_ID}", "tg:2002"
    rng = random.Random(9)
    seen = explore(engine, alice, rng, 400, avoid=("pv:erase",))
    stored = engine.store.export_user(alice)
    assert sum(len(rows) for name, rows in stored.items() if name != "users") >= 1, "alice stored nothing"
    before = engine.store.export_user(alice)
    assert seen
    for data in seen:  # bob presses every button alice was ever shown (record ids included)
        for inp in (Input.button(bob, data), Input.text(bob, "show me")):
            replies = engine.handle(inp, chat_id=2002).replies
            text = "\n".join(r.text for r in replies)
            assert "Zebra" not in text and "7781" not in text, f"{data!r} showed alice's data to bob"
            for reply in replies:
                assert reply.attachment is None or b"Zebra" not in reply.attachment.content
        assert engine.store.export_user(alice) == before, f"bob's press of {data!r} changed alice's data"
    bob_export = engine.handle(Input.command(bob, "export")).replies
    assert all(b"Zebra" not in r.attachment.content for r in bob_export if r.attachment)


# -- the webhook's secret ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook_bot(tmp_path: Path) -> AsyncIterator[tuple[Emulator, str]]:
    port = free_port()
    async with Emulator() as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=emu.base_url, DATABASE_PATH=str(tmp_path / "db.sqlite"),
            WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port), WEBHOOK_SECRET="right-secret_123",
        )
        url = f"http://127.0.0.1:{port}/telegram"
        with (tmp_path / "bot.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--webhook-url", url], cwd=tmp_path, env=env,
                stdout=log, stderr=log,
            )
        try:
            await emu.wait_for(lambda: emu.calls.get("setWebhook", 0) > 0, timeout=20)
            yield emu, url
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)


@pytest.mark.parametrize("header", [None, "wrong-secret", ""])
async def test_the_webhook_rejects_requests_without_the_secret(
    webhook_bot: tuple[Emulator, str], header: str | None
) -> None:
    emu, url = webhook_bot
    body = {"update_id": 1, **message(USER_ID, USER_ID, "/start")}
    headers = {} if header is None else {"X-Telegram-Bot-Api-Secret-Token": header}
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(url, json=body, headers=headers, timeout=10)
        assert response.status_code == 403
        await asyncio.sleep(0.3)
        assert emu.sent_messages(USER_ID) == []  # nothing was processed

        ok = await http.post(url, json={**body, "update_id": 2},
                             headers={"X-Telegram-Bot-Api-Secret-Token": "right-secret_123"}, timeout=10)
        assert ok.status_code == 200
    welcome = await emu.wait_for_messages(USER_ID, 1, timeout=10)
    assert "Welcome to USCE Coach" in welcome[0].plain_text


def test_webhook_mode_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_PATH=str(tmp_path / "db.sqlite"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--webhook-url", "https://example.org/telegram"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "WEBHOOK_SECRET" in done.stderr
