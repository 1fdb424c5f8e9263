"""Tests for the local Bot API emulator, driven by real python-telegram-bot clients."""

from __future__ import annotations

import asyncio
import datetime as dtm
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.emulator import Emulator, emulator, parse_html  # noqa: F401 - emulator: exported fixture
from tests.emulator.client import AsyncEmulatorClient, EmulatorClient, EmulatorClientError

TOKEN = "123456:TEST-token"
USER = 42


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as e:
        yield e


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.base_file_url) as b:
        yield b


async def test_get_me_and_binding(emu: Emulator, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "usce_coach_bot" and me.first_name == "USCE Coach"
    assert me.id == 123456 and me.can_join_groups is True
    assert emu.base_url == f"http://127.0.0.1:{emu.port}/bot" and emu.port > 0
    assert emu.calls["getMe"] >= 1
    assert await bot.log_out() is True and await bot.close() is True
    with pytest.raises(AssertionError):
        Emulator(host="0.0.0.0")


async def test_exported_fixture_and_user_http_api(emulator: Emulator) -> None:  # noqa: F811
    async with AsyncEmulatorClient(emulator.url) as client:
        msg = await client.send_media(USER, "document", content=b"%PDF", file_name="cv.pdf", caption="my cv")
        assert msg["document"]["file_name"] == "cv.pdf" and msg["caption"] == "my cv"
        with pytest.raises(EmulatorClientError, match="unknown emulator action"):
            await client._call("nope")
        await client.block(USER)
        assert emulator.blocked == {USER}
        await client.reset()
    assert emulator.updates == [] and emulator.blocked == set()


async def test_long_poll_wakes_on_user_message_and_offset_confirms(
    emu: Emulator, bot: telegram.Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    emu.send_text(USER, "hello", first_name="Ann")
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - started < 2
    [u] = updates
    assert u.message is not None and u.message.text == "hello"
    assert u.message.chat.type == "private" and u.message.from_user is not None
    assert u.message.from_user.first_name == "Ann" and u.effective_chat.id == USER  # type: ignore[union-attr]
    # not confirmed yet: delivered again
    assert [x.update_id for x in await bot.get_updates(timeout=0)] == [u.update_id]
    # confirmed by offset: gone; an empty long poll honors the timeout
    started = time.monotonic()
    assert await bot.get_updates(offset=u.update_id + 1, timeout=1) == ()
    assert 0.8 < time.monotonic() - started < 3
    for i in range(3):
        emu.send_command(USER, "start", args=str(i))
    limited = await bot.get_updates(offset=u.update_id + 1, limit=2, timeout=0)
    assert [x.message.text for x in limited] == ["/start 0", "/start 1"]  # type: ignore[union-attr]
    entity = limited[0].message.entities[0]  # type: ignore[union-attr]
    assert entity.type == "bot_command" and entity.length == len("/start")
    # allowed_updates filters out (and discards) other update types, and is remembered
    sent = await bot.send_message(USER, "menu")
    emu.press_button(USER, sent.message_id, "x", forge=True)
    only_messages = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [x.message.text for x in only_messages] == ["/start 0", "/start 1", "/start 2"]  # type: ignore[union-attr]
    emu.press_button(USER, sent.message_id, "y", forge=True)
    assert len(await bot.get_updates(timeout=0)) == 3


async def test_concurrent_get_updates_conflict(emu: Emulator, bot: telegram.Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with telegram.Bot(TOKEN, base_url=emu.base_url) as other:
        second = asyncio.create_task(other.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(first, 3)
        assert await second == ()


async def test_inline_button_press_and_answer(emu: Emulator, bot: telegram.Bot) -> None:
    emu.send_command(USER, "start")
    [start] = await bot.get_updates(timeout=0)
    msg = await bot.send_message(USER, "Pick:", reply_markup=keyboard(("Yes", "pick:yes"), ("No", "no")))
    assert msg.reply_markup is not None and msg.from_user is not None and msg.from_user.is_bot
    assert msg.chat.id == USER and isinstance(msg.date, dtm.datetime)
    with pytest.raises(ValueError, match="no button"):
        emu.press_button(USER, msg.message_id, "pick:maybe")
    qid = emu.press_button(USER, msg.message_id, "pick:yes")
    [u] = await bot.get_updates(offset=start.update_id + 1, timeout=1)
    q = u.callback_query
    assert q is not None and q.id == qid and q.data == "pick:yes" and q.from_user.id == USER
    assert q.chat_instance and q.message is not None and q.message.message_id == msg.message_id
    assert emu.unanswered_callbacks() == [qid]
    assert await q.answer("Saved", show_alert=True) is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await q.answer()
    assert emu.unanswered_callbacks() == []
    [answer] = [e for e in emu.history(USER) if e.kind == "callback_answer"]
    assert answer.data["text"] == "Saved" and answer.data["show_alert"] is True
    # forged callback data is delivered when asked for
    forged = emu.press_button(USER, msg.message_id, "admin:drop", forge=True)
    [fu] = await bot.get_updates(offset=u.update_id + 1, timeout=1)
    assert fu.callback_query is not None and fu.callback_query.id == forged
    assert fu.callback_query.data == "admin:drop"


async def test_edit_message_text_and_markup(emu: Emulator, bot: telegram.Bot) -> None:
    msg = await bot.send_message(USER, "v1", reply_markup=keyboard(("A", "a")))
    edited = await bot.edit_message_text("<i>v2</i>", USER, msg.message_id, parse_mode="HTML",
                                         reply_markup=keyboard(("B", "b")))
    assert isinstance(edited, telegram.Message)
    assert edited.text == "v2" and edited.edit_date is not None and edited.entities[0].type == "italic"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<i>v2</i>", USER, msg.message_id, parse_mode="HTML",
                                    reply_markup=keyboard(("B", "b")))
    state = emu.sent_messages(USER)[0]
    assert (state.text, state.plain_text, state.parse_mode, state.edits) == ("<i>v2</i>", "v2", "HTML", 1)
    assert state.callback_data == ["b"] and state.button("B")["callback_data"] == "b"
    # editing the keyboard only; removing it
    edited = await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard(("C", "c")))
    assert isinstance(edited, telegram.Message) and edited.text == "v2"
    assert edited.reply_markup is not None and edited.reply_markup.inline_keyboard[0][0].text == "C"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard(("C", "c")))
    await bot.edit_message_reply_markup(USER, msg.message_id)
    assert emu.sent_messages(USER)[0].buttons == []
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", USER, 999)
    kinds = [e.kind for e in emu.history(USER)]
    assert kinds == ["message", "edit_text", "edit_markup", "edit_markup"]
    assert await bot.delete_message(USER, msg.message_id) is True
    assert emu.sent_messages(USER)[0].deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, msg.message_id)


async def test_send_document_photo_and_chat_action(emu: Emulator, bot: telegram.Bot) -> None:
    assert await bot.send_chat_action(USER, "upload_document") is True
    doc = await bot.send_document(USER, b"name,score\nann,5\n", filename="export.csv",
                                  caption="Your <b>export</b>", parse_mode="HTML")
    assert doc.document is not None and doc.document.file_name == "export.csv"
    assert doc.caption == "Your export" and doc.document.file_size == 17
    photo = await bot.send_photo(USER, b"\x89PNG fake", caption="chart")
    assert photo.photo and photo.caption == "chart"
    sent = emu.sent_messages(USER)
    assert [m.kind for m in sent] == ["document", "photo"]
    assert sent[0].file is not None and sent[0].file.content == b"name,score\nann,5\n"
    assert sent[0].text == "Your <b>export</b>" and sent[1].file is not None
    assert sent[1].file.content == b"\x89PNG fake"
    assert [e.kind for e in emu.history(USER)] == ["chat_action", "document", "photo"]
    assert emu.history(USER)[0].data == {"action": "upload_document"}
    # resending by file_id works, and the bot can download what it sent
    again = await bot.send_document(USER, doc.document.file_id)
    assert again.document is not None and again.document.file_id == doc.document.file_id
    data = await (await bot.get_file(doc.document.file_id)).download_as_bytearray()
    assert bytes(data) == b"name,score\nann,5\n"
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(USER, "dancing")


async def test_user_media_messages_parse(emu: Emulator, bot: telegram.Bot) -> None:
    for kind in ("sticker", "photo", "voice", "document", "location"):
        emu.send_media(USER, kind, caption="cv" if kind == "document" else None,
                       content=b"%PDF-1.4" if kind == "document" else b"\x00" * 16)
    updates = await bot.get_updates(timeout=0)
    msgs = [u.message for u in updates if u.message is not None]
    assert len(msgs) == 5
    assert msgs[0].sticker is not None and msgs[0].sticker.emoji
    assert msgs[1].photo and msgs[1].photo[-1].width == 1280
    assert msgs[2].voice is not None and msgs[2].voice.mime_type == "audio/ogg"
    assert msgs[3].document is not None and msgs[3].caption == "cv"
    assert msgs[4].location is not None and msgs[4].location.latitude == pytest.approx(40.7128)
    assert msgs[3].document is not None
    file = await bot.get_file(msgs[3].document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4"


async def test_bad_requests_like_telegram(emu: Emulator, bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities: unsupported start tag \"br\""):
        await bot.send_message(USER, "a<br>b", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities: can't find end tag"):
        await bot.send_message(USER, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities: unmatched end tag"):
        await bot.send_message(USER, "<b><i>x</b></i>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER, "1 < 2", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(USER, "   ")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=keyboard(("B", "d" * 65)))
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(USER, b"x", filename="a.txt", caption="c" * 1025)
    ok = await bot.send_message(USER, "1 &lt; 2 &amp; <a href=\"https://x.org\">link</a>",
                                parse_mode="HTML", reply_markup=keyboard(("B", "d" * 64)))
    assert ok.text == "1 < 2 & link" and ok.entities[0].url == "https://x.org"
    assert await bot.send_message(USER, "x" * 4096)
    assert [m.kind for m in emu.sent_messages(USER)] == ["text", "text"]


async def test_unknown_method_json_and_form_bodies(emu: Emulator) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        r = await http.post(f"{emu.base_url}{TOKEN}/fooBar")
        assert r.status_code == 404
        assert r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        r = await http.post(f"{emu.base_url}{TOKEN}/SENDMESSAGE", json={"chat_id": 7, "text": "hi"})
        assert r.status_code == 200 and r.json()["result"]["text"] == "hi"
        r = await http.post(f"{emu.base_url}{TOKEN}/sendMessage", data={"chat_id": "7", "text": "yo"})
        assert r.json()["result"]["chat"] == {"id": 7, "type": "private", "first_name": "User"}
        r = await http.get(f"{emu.base_url}{TOKEN}/getMe")
        assert r.json()["ok"] is True
    assert emu.calls["fooBar"] == 1 and emu.calls["sendMessage"] == 2
    assert [m.plain_text for m in emu.sent_messages(7)] == ["hi", "yo"]


async def test_injected_403_and_blocked_user(emu: Emulator, bot: telegram.Bot) -> None:
    emu.forbid_next("sendMessage")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    assert await bot.send_message(USER, "hi again")
    emu.block(USER)
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(USER, "anyone?")
    assert await bot.send_message(USER + 1, "other user is fine")
    emu.unblock(USER)
    assert await bot.send_message(USER, "back")
    assert [m.plain_text for m in emu.sent_messages(USER)] == ["hi again", "back"]
    assert emu.calls["sendMessage"] == 6


async def test_injected_429_400_5xx_and_chat_filter(
    emu: Emulator, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    emu.flood_next("sendmessage", retry_after=7, chat_id=USER)
    assert await bot.send_message(USER + 1, "other chat unaffected")
    with pytest.raises(RetryAfter) as exc:
        await bot.send_message(USER, "x")
    assert exc.value.retry_after == dtm.timedelta(seconds=7)
    emu.fail_next("*", "Bad Request: chat not found", times=2)
    for _ in range(2):
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(USER, "x")
    emu.inject("sendMessage", status=502)
    with pytest.raises(telegram.error.NetworkError, match="Bad Gateway"):
        await bot.send_message(USER, "x")
    assert await bot.send_message(USER, "finally")
    assert all(i.times == 0 for i in emu.injections)


async def test_injected_delay_causes_client_timeout(emu: Emulator, bot: telegram.Bot) -> None:
    emu.delay_next("sendMessage", 1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.2)
    # the delayed request was still processed by the "server", like a real timeout
    await emu.wait_for(lambda: len(emu.sent_messages(USER)) == 1, timeout=3)
    assert await bot.send_message(USER, "fast", read_timeout=1)


async def test_faults_before_and_after_processing(emu: Emulator, bot: telegram.Bot) -> None:
    emu.inject("sendMessage", status=500, when="after")  # Telegram sent it, then answered 500
    with pytest.raises(telegram.error.NetworkError, match="Internal Server Error"):
        await bot.send_message(USER, "after 500")
    emu.inject("sendMessage", status=500)  # refused before anything happened
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(USER, "before 500")
    emu.reset_next("sendMessage")
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(USER, "reset before")
    emu.reset_next("sendMessage", after=True)
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(USER, "reset after")
    emu.hang_next("sendMessage", 2.0)  # longer than the client waits: it gives up, nothing is sent
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "hung before", read_timeout=0.2)
    await asyncio.sleep(2.2)
    assert [m.plain_text for m in emu.sent_messages(USER)] == ["after 500", "reset after"]
    assert emu.resets == 2 and emu.faults_met == 5
    with pytest.raises(ValueError):
        emu.inject("sendMessage", when="during")


async def test_user_edits_and_blocks_arrive_as_updates(emu: Emulator, bot: telegram.Bot) -> None:
    sent = emu.send_text(USER, "hello there")
    emu.edit_text(USER, sent["message_id"], "23:00-06:00")
    emu.block(USER, notify=True)
    emu.unblock(USER, notify=True)
    edited, blocked, unblocked = (await bot.get_updates())[1:]
    assert edited.edited_message is not None and edited.edited_message.text == "23:00-06:00"
    assert edited.edited_message.message_id == sent["message_id"]
    assert blocked.my_chat_member is not None and blocked.my_chat_member.new_chat_member.status == "kicked"
    assert unblocked.my_chat_member is not None and unblocked.my_chat_member.new_chat_member.status == "member"
    with pytest.raises(ValueError):
        emu.edit_text(USER, 999, "not theirs")


async def test_rate_limit_emulation_and_send_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else PTB's RetryAfter warns (errors under -W error)
    async with Emulator(per_chat_limit=2) as emu, telegram.Bot(TOKEN, base_url=emu.base_url) as bot:
        await bot.send_message(USER, "1")
        await bot.send_message(USER, "2")
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "3")
        assert await bot.send_message(USER + 1, "other chat")
        assert emu.max_rate(USER) == 2 and emu.max_rate() == 3
        assert len(emu.send_times[USER]) == 2


async def test_invalid_token() -> None:
    async with Emulator(token=TOKEN) as emu:
        async with telegram.Bot(TOKEN, base_url=emu.base_url) as good:
            assert (await good.get_me()).id == 123456
        with pytest.raises(InvalidToken, match="rejected by the server"):
            async with telegram.Bot("999:wrong", base_url=emu.base_url):
                pass  # pragma: no cover
        async with httpx.AsyncClient(trust_env=False) as http:
            r = await http.get(f"{emu.base_url}999:wrong/getMe")
        assert r.status_code == 401
        assert r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_group_chat_messages(emu: Emulator, bot: telegram.Bot) -> None:
    emu.send_text(USER, "hi all", chat_id=-1001234, chat_type="group", title="Study group")
    emu.send_command(USER + 1, "start@usce_coach_bot", chat_id=-1001234, chat_type="supergroup")
    first, second = await bot.get_updates(timeout=0)
    assert first.message is not None and first.message.chat.type == "group"
    assert first.message.chat.id == -1001234 and first.message.chat.title == "Study group"
    assert first.message.from_user is not None and first.message.from_user.id == USER
    assert second.message is not None and second.message.chat.type == "supergroup"
    assert second.message.entities[0].length == len("/start@usce_coach_bot")
    reply = await bot.send_message(-1001234, "hello group")
    assert reply.chat.type == "supergroup"
    with pytest.raises(ValueError):
        emu.send_text(USER, "x", chat_type="group")


async def test_commands_and_webhook(emu: Emulator, bot: telegram.Bot) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.get_my_commands(language_code="es") == ()
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("Bad-Cmd", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    emu.send_text(USER, "pending")
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()


async def test_descriptions_are_kept_per_language(emu: Emulator, bot: telegram.Bot) -> None:
    assert (await bot.get_my_description()).description == ""
    assert await bot.set_my_description("Plans US clinical experience.")
    assert await bot.set_my_short_description("USCE planner", language_code="es")
    assert (await bot.get_my_description()).description == "Plans US clinical experience."
    assert (await bot.get_my_short_description()).short_description == ""
    assert (await bot.get_my_short_description(language_code="es")).short_description == "USCE planner"
    with pytest.raises(BadRequest):
        await bot.set_my_short_description("x" * 121)
    with pytest.raises(BadRequest):
        await bot.set_my_description("x" * 513)
    assert emu.bot_profile()["description"] == "Plans US clinical experience."
    assert emu.bot_profile("es")["short_description"] == "USCE planner"
    assert await bot.set_my_description("")  # an empty text removes it
    assert emu.bot_profile()["description"] == ""


async def test_wait_for_messages_cursor_and_timeout(emu: Emulator, bot: telegram.Bot) -> None:
    waiter = asyncio.create_task(emu.wait_for_messages(USER, 2, timeout=3))
    await bot.send_message(USER, "one")
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await bot.send_message(USER, "two")
    assert [m.plain_text for m in await waiter] == ["one", "two"]
    await bot.send_message(USER, "three")
    [three] = await emu.wait_for_messages(USER)
    assert three.plain_text == "three"
    with pytest.raises(TimeoutError, match="expected 1 messages"):
        await emu.wait_for_messages(USER, timeout=0.2)
    emu.reset()
    assert emu.sent_messages(USER) == [] and emu.calls == {}


def test_parse_html_entities_utf16() -> None:
    text, entities = parse_html('🎓 <b>Bold <i>both</i></b> <pre><code class="language-py">x</code></pre>'
                                ' <span class="tg-spoiler">s</span> &#128512;')
    assert text == "🎓 Bold both x s 😀"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "pre", "language": "py", "offset": 13, "length": 1},
        {"type": "spoiler", "offset": 15, "length": 1},
    ]


async def test_application_polling_end_to_end(emu: Emulator) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            "Welcome, <b>resident</b>!", reply_markup=keyboard(("Plan my USCE", "plan")))

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"You chose: {query.data}")

    app = Application.builder().token(TOKEN).base_url(emu.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=2))  # type: ignore[union-attr]
        await app.start()
        try:
            emu.send_command(USER, "start", first_name="Ann")
            [welcome] = await emu.wait_for_messages(USER)
            assert welcome.plain_text == "Welcome, resident!" and welcome.parse_mode == "HTML"
            assert welcome.callback_data == ["plan"]
            emu.press_button(USER, welcome.message_id, "plan")
            await emu.wait_for(lambda: welcome.edits == 1)
            assert welcome.plain_text == "You chose: plan" and welcome.buttons == []
            assert emu.unanswered_callbacks() == []
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    assert emu.calls["deleteWebhook"] == 1 and emu.updates == []


async def test_subprocess_mode_with_clients() -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--port", "0"], cwd=root,
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split()[1]
        with EmulatorClient(base) as client:
            client.send_command(USER, "start")
            async with telegram.Bot(TOKEN, base_url=client.bot_base_url) as bot:
                [u] = await bot.get_updates(timeout=1)
                assert u.message is not None and u.message.text == "/start"
                msg = await bot.send_message(USER, "<b>Hi</b>", parse_mode="HTML",
                                             reply_markup=keyboard(("Go", "go")))
                [waited] = await asyncio.to_thread(client.wait_for_messages, USER)
                assert waited["plain_text"] == "Hi" and waited["text"] == "<b>Hi</b>"
                with pytest.raises(EmulatorClientError, match="no button"):
                    client.press_button(USER, msg.message_id, "nope")
                client.forbid_next("sendMessage")
                with pytest.raises(Forbidden):
                    await bot.send_message(USER, "x")
            assert client.stats()["calls"]["sendMessage"] == 2
        async with AsyncEmulatorClient(base) as aclient:
            qid = await aclient.press_button(USER, msg.message_id, "go")
            assert [e["kind"] for e in await aclient.history(USER, include_user=True)] == [
                "user_message", "message", "user_press"]
            assert qid in (await aclient.stats())["unanswered_callbacks"]
            with pytest.raises(TimeoutError):
                await aclient.wait_for_messages(USER, timeout=0.2)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
