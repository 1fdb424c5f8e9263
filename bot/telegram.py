"""The Telegram channel: wires python-telegram-bot to the engine. Handlers stay thin:
turn an update into an :class:`~flows.base.types.Input`, ask the engine, send the replies."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import time
import weakref
from collections.abc import Awaitable
from typing import Any, cast

from telegram import LinkPreviewOptions, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import bot_profile, broadcast
from bot.coachbot import CoachBot
from bot.delivery import Dispatcher
from bot.logs import hash_user
from bot.render import keyboard_json, markup, split_text
from bot.settings import Settings
from flows.base.text import MAX_INPUT
from flows.base.types import Input, Reply, merge_replies
from flows.engine.engine import Engine

log = logging.getLogger("usce_coach.telegram")


def lean(context: ContextTypes.DEFAULT_TYPE) -> CoachBot:
    """The application's bot: build_application always makes a CoachBot."""
    return cast(CoachBot, context.bot)


class PerUserOrder(BaseUpdateProcessor):
    """Updates from one user run one after another; different users run concurrently.

    A double tap therefore reaches the engine as two inputs in order, never interleaved.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.get(user.id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user.id] = lock
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class TelegramChannel:
    """Handlers and the sending of replies; holds the engine and settings."""

    def __init__(self, engine: Engine, settings: Settings, salt: str) -> None:
        self.engine = engine
        self.settings = settings
        self.salt = salt

    # -- handlers ---------------------------------------------------------------------
    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or message.text is None:
            return
        text = message.text
        if len(text) > MAX_INPUT:  # Telegram never sends more, but the emulator or a forger might
            text = text[:MAX_INPUT]
        if update.edited_message is not None:  # an earlier message changed: never a new answer
            inp = Input.edit(f"tg:{user.id}", text, message.message_id)
        else:
            inp = Input.parse(f"tg:{user.id}", text, message.message_id)
        await self._answer(update, context, inp)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or update.effective_user is None:
            return
        await lean(context).answer_press(query.id)
        data = query.data if isinstance(query.data, str) else ""
        inp = Input.button(f"tg:{update.effective_user.id}", data)
        await self._answer(update, context, inp)

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or update.edited_message is not None:
            return
        text = message.text or ""
        bot_name = f"@{context.bot.username}".lower() if context.bot.username else ""
        addressed = text.startswith("/") or (bot_name and bot_name in text.lower())
        if addressed:  # stay quiet in groups unless spoken to
            await message.reply_text(self.engine.texts["errors.group_only_private"])

    async def on_non_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and update.edited_message is None:  # an edited photo is no new message
            await message.reply_text(self.engine.texts["errors.non_text"])

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("unhandled error", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.type != ChatType.PRIVATE:
            return
        text = self.engine.texts["errors.crashed"]
        typed = update.effective_message.text if update.effective_message and not update.callback_query else None
        if typed:
            shown = typed if len(typed) <= 3000 else typed[:3000] + "…"
            text += "\n" + self.engine.texts.fmt("errors.crashed_echo", text=shown)
        try:
            await lean(context).post_html(update.effective_chat.id, text)
        except Exception:  # noqa: BLE001 - the error handler must never raise
            log.warning("could not tell the user about an error")

    # -- answering --------------------------------------------------------------------
    async def _answer(self, update: Update, context: ContextTypes.DEFAULT_TYPE, inp: Input) -> None:
        started = time.perf_counter()
        chat = update.effective_chat
        route, replies, failed = "unhandled", 0, ""
        try:
            outcome = self.engine.handle(inp, chat_id=chat.id if chat else None, update_id=update.update_id)
            route, replies = outcome.route, len(outcome.replies)
            # From here on the input is stored: a failed send must never ask the user to repeat it.
            await self.send(update, context, outcome.replies)
        except Forbidden:  # the user blocked the bot: nothing to send to, now or later
            failed = " failed=Forbidden"
            with self.engine.store.atomic():
                self.engine.store.set_active(inp.user_id, False)
        except (RetryAfter, TimedOut, NetworkError) as exc:  # BadRequest is a NetworkError too
            failed = f" failed={type(exc).__name__}"
            log.warning("reply not delivered (%s); the input is stored", type(exc).__name__)
        except Exception as exc:  # a bug: logged in full by on_error, nothing was stored
            failed = f" failed={type(exc).__name__}"
            raise
        finally:
            if log.isEnabledFor(logging.INFO):  # the user's hash is not free; skip it when nobody reads it
                log.info(
                    "update user=%s route=%s replies=%d ms=%.1f%s",
                    hash_user(inp.user_id, self.salt),
                    route,
                    replies,
                    (time.perf_counter() - started) * 1000,
                    failed,
                )

    async def send(self, update: Update, context: ContextTypes.DEFAULT_TYPE, replies: list[Reply]) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        query = update.callback_query
        pressed: Message | None = query.message if query and isinstance(query.message, Message) else None
        bot = lean(context)
        for reply in merge_replies(replies):
            if reply.replace and pressed is not None and reply.attachment is None and len(reply.text) <= 4096:
                try:
                    await bot.edit_text(chat.id, pressed.message_id, reply.text, keyboard_json(reply.buttons))
                    pressed = None  # edit one message per update at most
                    continue
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        pressed = None
                        continue
                    log.info("edit failed, sending instead: %s", exc)
            await send_reply(bot, chat.id, reply)

    # -- wiring -----------------------------------------------------------------------
    def register(self, app: Application) -> None:
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(filters.ChatType.GROUPS, self.on_group))
        app.add_handler(MessageHandler(private & filters.TEXT, self.on_message))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_non_text))
        app.add_error_handler(self.on_error)


async def send_reply(bot: CoachBot, chat_id: int, reply: Reply) -> None:
    """Send one reply as one or more messages (text split at Telegram's limit)."""
    if reply.attachment is not None:
        att = reply.attachment
        payload = io.BytesIO(att.content)
        caption = reply.text if len(reply.text) <= 1024 else None
        buttons = markup(reply.buttons) if caption is not None else None  # else they go with the text
        if att.kind == "photo":
            await bot.send_photo(chat_id, payload, caption=caption, filename=att.filename, reply_markup=buttons)
        else:
            await bot.send_document(chat_id, payload, caption=caption, filename=att.filename, reply_markup=buttons)
        if caption is not None:
            return
    pieces = split_text(reply.text)
    for i, piece in enumerate(pieces):
        keyboard = keyboard_json(reply.buttons) if i == len(pieces) - 1 else None
        await bot.post_html(chat_id, piece, keyboard)


def build_application(
    engine: Engine,
    settings: Settings,
    salt: str,
    request: BaseRequest | None = None,
    rate_limited: bool = True,
) -> Application:
    """Build the python-telegram-bot Application. Only wiring happens here.

    ``request`` replaces the HTTP layer (tests pass a recording fake). The benchmark
    turns the rate limiter off: it caps sends at Telegram's ~30 messages a second,
    which would measure the limiter instead of the bot.
    """
    channel = TelegramChannel(engine, settings, salt)
    dispatcher = Dispatcher(engine.store, engine.texts, clock=engine.clock)

    async def post_init(app: Application) -> None:
        await bot_profile.publish(app.bot, engine)  # the "/" list and the descriptions, from content/
        dispatcher.start(app)  # timeline nudges: recover after a crash, then tick from the JobQueue
        broadcast.start(app, dispatcher, engine.store)  # admins' broadcasts, through the same dispatcher
        # Everything loaded so far (content, indexes, the framework) lives until exit: move it
        # out of the garbage collector's view so full collections stay short.
        gc.collect()
        gc.freeze()

    async def checkpoint(context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.to_thread(engine.store.checkpoint)

    bot = CoachBot(
        settings.token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_base_url.replace("/bot", "/file/bot"),
        # the pool sizes ApplicationBuilder would choose: many concurrent sends, one long poll
        request=request or HTTPXRequest(connection_pool_size=256),
        get_updates_request=request or HTTPXRequest(connection_pool_size=1),
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)),
        rate_limiter=AIORateLimiter(max_retries=2) if rate_limited else None,
    )
    app = ApplicationBuilder().bot(bot).concurrent_updates(PerUserOrder()).post_init(post_init).build()
    channel.register(app)
    if app.job_queue is not None:
        app.job_queue.run_repeating(checkpoint, interval=2.0, first=2.0, name="wal-checkpoint")
    app.bot_data["channel"] = channel
    app.bot_data["dispatcher"] = dispatcher  # Dispatcher.deliver(bot, messages) sends broadcasts
    return app

