"""The Telegram channel, driven with real updates through the real Application over a recording fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Chat
from telegram.ext import Application

from bot.render import split_text
from bot.settings import Settings
from bot.telegram import build_application
from flows.engine import Engine
from flows.types import Input, Reply
from tests.fake_telegram import TOKEN, RecordingRequest, Updates


@pytest.fixture
def request_() -> RecordingRequest:
    return RecordingRequest()


@pytest.fixture
async def app(engine: Engine, request_: RecordingRequest) -> AsyncIterator[Application]:
    settings = Settings(telegram_bot_token=TOKEN, database_path=":memory:")  # type: ignore[arg-type]
    application = build_application(engine, settings, "salt", request=request_)
    async with application:
        yield application


@pytest.fixture
def updates(app: Application) -> Updates:
    return Updates(app.bot)


async def test_start_sends_welcome_and_menu_in_html(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.message(5, "/start"))
    sent = request_.sent()
    assert "Welcome to USCE Coach" in sent[0]["text"]
    assert all(p["parse_mode"] == "HTML" for p in sent)
    assert sent[0]["chat_id"] == 5


async def test_button_press_is_answered_and_routed(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.press(5, "go:menu"))
    assert request_.sent("answerCallbackQuery")
    assert "What would you like to do?" in request_.texts()[-1]


async def test_forged_button_data_gets_a_polite_answer(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.press(5, "zz:9999:delete-everything"))
    assert any("older message" in t for t in request_.texts())


async def test_user_text_is_escaped_in_html(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.message(5, "/<b>x</b>"))
    text = request_.texts()[0]
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x" not in text


async def test_group_gets_one_polite_line_only_when_addressed(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.message(5, "hello everyone", Chat.GROUP, chat_id=-100))
    assert request_.texts() == []
    await app.process_update(updates.message(5, "/start", Chat.GROUP, chat_id=-100))
    assert len(request_.texts()) == 1 and "private" in request_.texts()[0]


async def test_sticker_gets_a_friendly_reply(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.sticker(5))
    assert "text" in request_.texts()[0].lower()


async def test_a_crash_keeps_what_the_user_typed(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(inp: Input, chat_id: int | None = None, update_id: int | None = None) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine, "handle", boom)
    await app.process_update(updates.message(5, "my <answer> & more"))
    text = request_.texts()[-1]
    assert "went wrong" in text
    assert "my &lt;answer&gt; &amp; more" in text


async def test_updates_of_one_user_run_in_order(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    original = engine.handle

    def slow_first(inp: Input, chat_id: int | None = None, update_id: int | None = None) -> object:
        seen.append(inp.value)
        return original(inp, chat_id, update_id)

    monkeypatch.setattr(engine, "handle", slow_first)
    first, second = updates.message(5, "/help"), updates.message(5, "/menu")
    processor = app.update_processor
    await asyncio.gather(
        processor.process_update(first, app.process_update(first)),
        processor.process_update(second, app.process_update(second)),
    )
    assert seen == ["help", "menu"]


async def test_an_update_delivered_twice_is_applied_once(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    update = updates.message(5, "/help")
    await app.process_update(update)
    await app.process_update(update)  # Telegram redelivers after a crash before the offset was confirmed
    assert len(request_.texts()) == 1


async def test_commands_are_registered(app: Application, request_: RecordingRequest) -> None:
    await app.post_init(app)  # type: ignore[misc]
    commands = request_.sent("setMyCommands")[0]["commands"]
    names = {c["command"] if isinstance(c, dict) else c.command for c in commands}
    assert {"start", "menu", "help", "cancel"} <= names


def test_long_texts_are_split_under_the_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(200))
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")


def test_reply_fits_a_single_message_when_short() -> None:
    assert split_text(Reply("hi").text) == ["hi"]
