"""The Telegram channel, driven with real updates through the real Application over a recording fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from telegram import Chat
from telegram.ext import Application

from bot.render import split_text
from bot.settings import Settings
from bot.telegram import build_application
from flows.base.types import Input, Reply
from flows.engine.engine import Engine
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
    await app.bot_data["channel"].settle()
    assert request_.sent("answerCallbackQuery")
    assert "What would you like to do?" in request_.texts()[-1]


async def test_forged_button_data_gets_a_polite_answer(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    await app.process_update(updates.press(5, "zz:9999:delete-everything"))
    await app.bot_data["channel"].settle()
    answers = [c.params for c in request_.calls if c.method == "answerCallbackQuery"]
    assert request_.texts() == [], "a stale tap adds no message"
    assert len(answers) == 1 and "older message" in answers[0]["text"]  # said on the tap itself


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


async def test_replies_go_out_as_ptb_would_send_them(app: Application, request_: RecordingRequest) -> None:
    """The lean send path (no parsing of Telegram's echo) sends what Bot.send_message would."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.render import keyboard_json
    from flows.base.types import Button

    buttons = ((Button("Yes ✅", "vet:y"), Button("No", "vet:n")), (Button("Menu", "go:menu"),))
    await app.bot.post_text(5, "<b>Pick</b> one", keyboard_json(buttons))
    ptb = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes ✅", callback_data="vet:y"), InlineKeyboardButton("No", callback_data="vet:n")],
         [InlineKeyboardButton("Menu", callback_data="go:menu")]]
    )
    await app.bot.send_message(5, "<b>Pick</b> one", reply_markup=ptb)
    lean, framework = request_.sent()
    assert lean["text"] == framework["text"] and lean["chat_id"] == framework["chat_id"] == 5
    assert lean["parse_mode"] == framework["parse_mode"] == "HTML"
    assert request_.buttons(0) == request_.buttons(1) == [("Yes ✅", "vet:y"), ("No", "vet:n"), ("Menu", "go:menu")]
    assert json.loads(lean["link_preview_options"]) == framework["link_preview_options"] == {"is_disabled": True}

    await app.bot.edit_text(5, 17, "edited", None)
    edit = request_.sent("editMessageText")[0]
    assert (edit["chat_id"], edit["message_id"], edit["text"]) == (5, 17, "edited")
    assert "reply_markup" not in edit


async def test_lean_send_raises_telegram_errors_as_ptb_does(app: Application, request_: RecordingRequest) -> None:
    from telegram.error import BadRequest, Forbidden

    request_.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden):
        await app.bot.post_text(5, "hello")
    request_.fail_next("editMessageText", 400, "Bad Request: message is not modified")
    with pytest.raises(BadRequest, match="not modified"):
        await app.bot.edit_text(5, 1, "same")


async def test_unparsable_html_is_resent_as_plain_text(
    app: Application, updates: Updates, request_: RecordingRequest
) -> None:
    request_.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unexpected end tag")
    await app.process_update(updates.message(5, "/start"))
    first, again = request_.sent()[:2]
    assert first["parse_mode"] == "HTML" and "parse_mode" not in again and "<b>" in first["text"]
    assert "<b>" not in again["text"] and again["reply_markup"] == first["reply_markup"]


async def test_an_edited_message_is_never_taken_as_an_answer(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine
) -> None:
    await app.process_update(updates.message(5, "/settings"))
    await app.process_update(updates.press(5, "st:q"))
    assert "quiet" in request_.texts()[-1].lower() or "quiet" in str(request_.calls[-1].params).lower()
    asked = len(request_.calls)
    before = engine.store.user("tg:5")
    await app.process_update(updates.edit(5, 3, "23:00-06:00"))  # an old "hello" edited into hours
    await app.process_update(updates.edit(5, 3, "/delete"))
    assert request_.calls[asked:] == []
    assert engine.store.user("tg:5") == before


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (400, "Bad Request: query is too old and response timeout expired or query ID is invalid"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
    ],
)
async def test_a_failed_callback_answer_never_drops_the_tap(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine, code: int, description: str
) -> None:
    request_.fail_next("answerCallbackQuery", code, description)
    await app.process_update(updates.press(5, "go:help"))
    await app.bot_data["channel"].settle()
    assert "/menu" in request_.texts()[-1]  # the press was applied and answered with its reply
    assert not any("went wrong" in t for t in request_.texts())
    assert engine.store.user("tg:5")["updates"] == 1  # type: ignore[index]
    methods = [c.method for c in request_.calls]
    assert methods.index("answerCallbackQuery") > methods.index("sendMessage") - 1  # never before the press


async def test_commands_addressed_to_another_bot_are_ignored(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine
) -> None:
    await app.process_update(updates.message(5, "/help@OtherBot"))
    await app.process_update(updates.message(5, "/start@OtherBot", Chat.GROUP, chat_id=-100))
    assert request_.texts() == [] and engine.store.user("tg:5") is None
    await app.process_update(updates.message(5, "/help@usce_coach_bot"))
    assert "/menu" in request_.texts()[-1]


def member_update(app: Application, user_id: int, old: str, new: str, update_id: int) -> object:  # type: ignore[type-arg,unused-ignore]
    from telegram import Update

    bot = {"id": 777000, "is_bot": True, "first_name": "USCE Coach"}
    return Update.de_json(
        {
            "update_id": update_id,
            "my_chat_member": {
                "chat": {"id": user_id, "type": "private", "first_name": "A"},
                "from": {"id": user_id, "is_bot": False, "first_name": "A"},
                "date": 1_780_000_000,
                "old_chat_member": {"user": bot, "status": old, **({"until_date": 0} if old == "kicked" else {})},
                "new_chat_member": {"user": bot, "status": new, **({"until_date": 0} if new == "kicked" else {})},
            },
        },
        app.bot,
    )


async def test_blocking_and_unblocking_the_bot_mark_the_user(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine
) -> None:
    await app.process_update(updates.message(5, "/start"))
    await app.process_update(member_update(app, 5, "member", "kicked", 900))
    assert engine.store.user("tg:5")["active"] == 0  # type: ignore[index]
    await app.process_update(member_update(app, 5, "kicked", "member", 901))
    assert engine.store.user("tg:5")["active"] == 1  # type: ignore[index]


async def test_one_users_burst_is_capped_and_never_delays_another_user(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine
) -> None:
    from bot.telegram import PER_USER_CAP

    request_.latency = 0.001
    burst = [updates.message(5, f"/help {i}") for i in range(PER_USER_CAP + 15)]
    other = updates.message(6, "/help")
    processor = app.update_processor
    await asyncio.gather(
        *(processor.process_update(u, app.process_update(u)) for u in [*burst[:10], other, *burst[10:]])
    )
    assert engine.store.user("tg:6")["updates"] == 1  # type: ignore[index]
    assert engine.store.user("tg:5")["updates"] == PER_USER_CAP  # type: ignore[index]
    to_five = [p["text"] for p in request_.sent() if p["chat_id"] == 5]
    assert sum("faster than I can answer" in t for t in to_five) == 1  # told once per burst
    # the other user's answer did not wait for the burst: it came before the burst's last one
    order = [p["chat_id"] for p in request_.sent()]
    assert order.index(6) < len(order) - 1 - order[::-1].index(5)


async def test_after_delete_the_goodbye_is_sent_and_nothing_is_kept(
    app: Application, updates: Updates, request_: RecordingRequest, engine: Engine
) -> None:
    await app.process_update(updates.message(5, "/start"))
    await app.process_update(updates.message(5, "/delete"))
    await app.process_update(updates.press(5, "pv:erase"))
    said = request_.texts() + [str(p["text"]) for p in request_.sent("editMessageText")]
    assert "everything I stored about you is gone" in said[-1]
    assert engine.store.user("tg:5") is None
    assert engine.store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def _raw_message(update_id: int, user: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_780_000_000, "text": "/help",
        "chat": {"id": user, "type": "private", "first_name": "X"},
        "from": {"id": user, "is_bot": False, "first_name": "X"}}}


def test_a_flood_past_the_cap_is_left_out_before_it_is_parsed() -> None:
    from bot.telegram import PER_USER_CAP, PerUserOrder

    order = PerUserOrder()
    batch = [_raw_message(1000 + i, 6199) for i in range(100)]
    batch += [_raw_message(2000 + i, 6100 + i) for i in range(8)]  # others, after the flood
    block = {"update_id": 3000, "my_chat_member": {"from": {"id": 6199, "is_bot": False, "first_name": "X"}}}
    batch.insert(50, block)
    batch.append(_raw_message(4000, 6199))  # the flooder again, last: PTB confirms the batch by it
    kept = order.screen(batch)
    flooder = [u for u in kept if u.get("message", {}).get("from", {}).get("id") == 6199]
    assert len(flooder) == PER_USER_CAP + 2  # the cap, the first past it (for the "slow down"), the last
    assert kept[-1]["update_id"] == 4000
    assert block in kept
    assert [u["update_id"] for u in kept if u["update_id"] in range(2000, 2008)] == list(range(2000, 2008))
    assert order.declined == 101 - PER_USER_CAP - 2
    again = order.screen([_raw_message(5000, 6199), _raw_message(5001, 6100)])  # still waiting: left out
    assert [u["update_id"] for u in again] == [5001]


async def test_only_the_long_polls_answers_are_screened() -> None:
    from typing import Any

    from telegram.request import BaseRequest

    from bot.telegram import ScreenedUpdates

    class Canned(BaseRequest):
        @property
        def read_timeout(self) -> float | None:
            return 1.0

        async def initialize(self) -> None: ...
        async def shutdown(self) -> None: ...

        async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            return 200, json.dumps({"ok": True, "result": [{"update_id": 1}, {"update_id": 2}]}).encode()

    screened = ScreenedUpdates(Canned(), lambda updates: updates[-1:])
    _, payload = await screened.do_request("http://127.0.0.1/bot1:a/getUpdates", "POST")
    assert json.loads(payload)["result"] == [{"update_id": 2}]
    _, payload = await screened.do_request("http://127.0.0.1/bot1:a/sendMessage", "POST")
    assert len(json.loads(payload)["result"]) == 2  # anything else passes through as it came
