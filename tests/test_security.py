"""Who can reach what: admin commands, other users' data, and the webhook's secret."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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
    seen = explore(engine, alice, rng, 400, avoid=("pv:erase", "pv:~d:confirm:a:erase"))
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


WEBHOOK_SECRET = "right-secret_123"
WEBHOOK_PATH = "/hooks/coach-7f3"  # not PTB's default path: the listener must take it from --webhook-url


@dataclass
class WebhookBot:
    emu: Emulator
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return self.url.removesuffix(WEBHOOK_PATH)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture
async def webhook_bot(tmp_path: Path) -> AsyncIterator[WebhookBot]:
    port = free_port()
    async with Emulator() as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=emu.base_url, DATABASE_PATH=str(tmp_path / "db.sqlite"),
            WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port), WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        log = tmp_path / "bot.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--webhook-url", url], cwd=tmp_path, env=env,
                stdout=out, stderr=out,
            )
        try:
            await emu.wait_for(lambda: emu.calls.get("setWebhook", 0) > 0, timeout=60)
            await until_listening(port)
            yield WebhookBot(emu, url, proc, log)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 10)


async def until_listening(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the webhook listener never opened its port")


@pytest.mark.parametrize("header", [None, "wrong-secret", ""])
async def test_the_webhook_rejects_requests_without_the_secret(webhook_bot: WebhookBot, header: str | None) -> None:
    emu, url = webhook_bot.emu, webhook_bot.url
    body = {"update_id": 1, **message(USER_ID, USER_ID, "/start")}
    headers = {} if header is None else {"X-Telegram-Bot-Api-Secret-Token": header}
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(url, json=body, headers=headers, timeout=10)
        assert response.status_code == 403
        await asyncio.sleep(0.3)
        assert emu.sent_messages(USER_ID) == []  # nothing was processed

        ok = await http.post(url, json={**body, "update_id": 2},
                             headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, timeout=10)
        assert ok.status_code == 200
    welcome = await emu.wait_for_messages(USER_ID, 1, timeout=10)
    assert "Welcome to USCE Coach" in welcome[0].plain_text


async def test_the_webhook_listens_on_the_path_of_its_url_and_answers_health(webhook_bot: WebhookBot) -> None:
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    body = {"update_id": 5, **message(USER_ID, USER_ID, "/start")}
    async with httpx.AsyncClient(trust_env=False) as http:
        wrong_path = await http.post(f"{webhook_bot.base}/telegram", json=body, headers=right, timeout=10)
        assert wrong_path.status_code == 404
        health = await http.get(f"{webhook_bot.base}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["ok"] is True
        assert (await http.post(webhook_bot.url, json=body, headers=right, timeout=10)).status_code == 200
    await webhook_bot.emu.wait_for_messages(USER_ID, 1, timeout=10)
    assert [r.params["url"] for r in webhook_bot.emu.requests if r.method == "setWebhook"] == [webhook_bot.url]


async def _post_raw(port_url: str, headers: dict[str, str], body_size: int) -> int | None:
    """POST ``body_size`` bytes, sent in pieces; the status, or None when the server closed first."""
    async def pieces() -> AsyncIterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(body_size // len(chunk)):
            yield chunk

    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            headers = {**headers, "Content-Length": str(body_size), "Content-Type": "application/json"}
            return (await http.post(port_url, content=pieces(), headers=headers, timeout=20)).status_code
    except httpx.TransportError:
        return None


async def test_large_bodies_are_refused_before_they_are_read(webhook_bot: WebhookBot) -> None:
    before = webhook_bot.rss_kb()
    for _ in range(3):  # 60 MB each without the secret: refused on the headers, never buffered
        assert await _post_raw(webhook_bot.url, {"X-Telegram-Bot-Api-Secret-Token": "nope"}, 60 * 2**20) in (
            403, 400, None)
    status = await _post_raw(webhook_bot.url, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, 8 * 2**20)
    assert status in (413, 400, None)  # too big even with the secret
    grown_mb = (webhook_bot.rss_kb() - before) / 1024
    print(f"\nwebhook listener memory after 3 x 60 MB unauthenticated, 8 MB authenticated: {grown_mb:+.1f} MB")
    assert grown_mb < 20, f"the listener's memory grew by {grown_mb:.0f} MB"
    async with httpx.AsyncClient(trust_env=False) as http:  # and it still answers
        body = {"update_id": 9, **message(USER_ID, USER_ID, "/start")}
        ok = await http.post(webhook_bot.url, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
        assert ok.status_code == 200


async def test_an_unreadable_body_gets_400_and_its_content_is_not_logged(webhook_bot: WebhookBot) -> None:
    right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    private = "my passport is K1234567 and my name is Zed Quorum"
    async with httpx.AsyncClient(trust_env=False) as http:
        for body in ('{"update_id": "' + private, '{"update_id": 3, "message": {"text": "' + private + '"}}',
                     "[1, 2, 3]", json.dumps(private)):
            response = await http.post(webhook_bot.url, content=body.encode(), headers=right, timeout=10)
            assert response.status_code == 400, body
    for _ in range(100):
        if webhook_bot.log.read_text().count("answered 400") >= 4:
            break
        await asyncio.sleep(0.05)
    logged = webhook_bot.log.read_text()
    assert "K1234567" not in logged and "Zed Quorum" not in logged and "passport" not in logged


@pytest.mark.parametrize("unset", [None, ""])
def test_webhook_mode_refuses_to_start_without_a_secret(tmp_path: Path, unset: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_PATH=str(tmp_path / "db.sqlite"))
    if unset is not None:
        env["WEBHOOK_SECRET"] = unset  # "WEBHOOK_SECRET=" as in .env.example
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--webhook-url", "https://example.org/telegram"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "WEBHOOK_SECRET" in done.stderr


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "ünï", "x" * 257])
def test_a_webhook_secret_telegram_would_refuse_is_reported_by_settings_and_check(
    tmp_path: Path, secret: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_", "WEBHOOK_"))}
    env.update(DATABASE_PATH=str(tmp_path / "db.sqlite"), WEBHOOK_SECRET=secret)
    for command in (["check"], ["run", "--webhook-url", "https://example.org/hook"]):
        done = subprocess.run(
            [sys.executable, "-m", "bot", *command], cwd=tmp_path, env={**env, "TELEGRAM_BOT_TOKEN": TOKEN},
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "WEBHOOK_SECRET may only use letters, digits, _ and -" in done.stderr
        assert secret not in done.stderr.replace("WEBHOOK_SECRET", "")


def test_a_webhook_secret_of_allowed_characters_passes(tmp_path: Path) -> None:
    from bot.settings import load_settings

    settings = load_settings("check", _env_file=None, webhook_secret="Abc-123_" * 32, database_path=tmp_path / "x.db")
    assert settings.webhook_secret is not None
