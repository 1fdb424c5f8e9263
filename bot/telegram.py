"""The Telegram channel: wires python-telegram-bot to the engine. Handlers stay thin:
turn an update into an :class:`~flows.base.types.Input`, ask the engine, send the replies."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import bot_profile, broadcast
from bot.coachbot import CoachBot
from bot.delivery import Dispatcher, GuardedRequest, Wrapped
from bot.logs import begin_update, hash_user
from bot.outbox import Courier, post_replies
from bot.settings import Settings
from flows.base.text import MAX_INPUT
from flows.base.types import Input, Kind
from flows.engine.engine import Engine, Outcome
from flows.storage.outbox import Outbox

log = logging.getLogger("usce_coach.telegram")
GROUP_START = "group"  # the /start payload of the group reply's link: a plain welcome


def lean(context: ContextTypes.DEFAULT_TYPE) -> CoachBot:
    """The application's bot: build_application always makes a CoachBot."""
    return cast(CoachBot, context.bot)


UNLIMITED = 1 << 30
PER_USER_CAP = 20  # one user's updates waiting or running; beyond it they are declined


@dataclass(slots=True)
class _Line:
    """One user's updates in order: ``lock`` lets one run at a time, ``count`` is how many are
    waiting or running, ``warned`` whether this burst was already told to slow down."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    count: int = 0
    warned: bool = False


class PerUserOrder(BaseUpdateProcessor):
    """Updates from one user run one after another; different users run concurrently.

    A double tap therefore reaches the engine as two inputs in order, never interleaved. An
    update waits for its user's turn *before* it takes one of PTB's concurrent slots, so one
    user's burst never fills the slots other users need; past ``cap`` waiting updates, that
    user's further updates are declined and ``on_overflow`` is called once per burst (the
    channel asks them to slow down).
    """

    def __init__(self, max_concurrent_updates: int = 64, cap: int = PER_USER_CAP) -> None:
        # PTB takes its slot before do_process_update: give it more than can ever be used and
        # keep the real limit here, taken once it is the user's turn.
        super().__init__(UNLIMITED)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self.cap = cap
        self.on_overflow: Callable[[Update], Awaitable[None]] | None = None
        self.declined = 0
        self._lines: dict[int, _Line] = {}
        self._coming: Counter[int] = Counter()  # let through by screen, not yet here

    def screen(self, updates: list[Any]) -> list[Any]:
        """One long poll's updates, raw, before PTB parses them (parsing is most of what a flood
        costs everyone else): a user's messages and taps past the cap are left out and counted
        as declined. Kept: the first one past it in each batch, declined by
        :meth:`do_process_update` with the "slow down", and the batch's last update, whose id
        PTB confirms the batch with. Anything else (a block, a group event) always goes through."""
        kept: list[Any] = []
        for i, raw in enumerate(updates):
            user = _sender(raw)
            if user is not None:
                line = self._lines.get(user)
                ahead = (line.count if line else 0) + self._coming[user]
                if ahead > self.cap and i < len(updates) - 1:
                    self.declined += 1
                    continue
                self._coming[user] += 1
            kept.append(raw)
        return kept

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            async with self._slots:
                await coroutine
            return
        if self._coming[user.id] > 0:
            self._coming[user.id] -= 1
            if not self._coming[user.id]:
                del self._coming[user.id]
        line = self._lines.get(user.id)
        if line is None:
            line = self._lines[user.id] = _Line()
        if line.count >= self.cap:
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never started: nothing of it ran
            self.declined += 1
            if not line.warned and self.on_overflow is not None and isinstance(update, Update):
                line.warned = True
                await self.on_overflow(update)
            return
        line.count += 1
        try:
            async with line.lock, self._slots:
                await coroutine
        finally:
            line.count -= 1
            if line.count == 0:
                del self._lines[user.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _sender(raw: Any) -> int | None:
    """Who sent a raw update that is a message, an edit or a tap (None for anything else)."""
    if not isinstance(raw, dict):
        return None
    for kind in ("message", "edited_message", "callback_query"):
        body = raw.get(kind)
        if isinstance(body, dict):
            sender = body.get("from")
            user = sender.get("id") if isinstance(sender, dict) else None
            return user if isinstance(user, int) else None
    return None


class ScreenedUpdates(Wrapped):
    """The long poll's HTTP layer: each ``getUpdates`` answer goes through ``screen`` (the raw
    list of updates) before PTB parses it; every other call passes through unchanged."""

    def __init__(self, inner: BaseRequest, screen: Callable[[list[Any]], list[Any]], least: int = 2) -> None:
        super().__init__(inner)
        self.screen = screen
        self.least = least  # fewer updates than this in one answer: passed on undecoded

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, *args, **kwargs)
        # a calm answer (a few updates) is passed on as it came: PTB decodes it once, not twice
        if code != 200 or not url.endswith("/getUpdates") or payload.count(b'"update_id"') < self.least:
            return code, payload
        try:
            answer = json.loads(payload)
        except ValueError:
            return code, payload  # PTB reports it
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, list) or len(result) <= 1:
            return code, payload
        kept = self.screen(result)
        if len(kept) == len(result):
            return code, payload
        return code, json.dumps({**answer, "result": kept}).encode()


def typed_answer(inp: Input, outcome: Outcome) -> bool:
    """Typed text that an open dialog took as the answer to its step."""
    return inp.kind is Kind.TEXT and outcome.took_answer


def for_another_bot(text: str, username: str | None) -> bool:
    """``/help@OtherBot``: a command addressed to some other bot in the chat."""
    if not text.startswith("/"):
        return False
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    _, at, name = head.partition("@")
    return bool(at) and name.lower() != (username or "").lower()


class TelegramChannel:
    """Handlers and the sending of replies; holds the engine and settings."""

    def __init__(self, engine: Engine, settings: Settings, salt: str) -> None:
        self.engine = engine
        self.settings = settings
        self.salt = salt
        engine.outbox = Outbox(engine.store)  # replies are stored with their input, sent after it
        self.courier = Courier(engine.outbox, engine.texts, salt)
        self._background: set[asyncio.Task[None]] = set()

    # -- handlers ---------------------------------------------------------------------
    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or message.text is None:
            return
        if for_another_bot(message.text, context.bot.username):
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
        data = query.data if isinstance(query.data, str) else ""
        pressed = query.message.message_id if query.message is not None else None
        inp = Input.button(f"tg:{update.effective_user.id}", data, pressed)
        await self._answer(update, context, inp)  # the press is applied first; the spinner stops after

    async def on_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The user blocked the bot (or unblocked it): stop or resume sending to them."""
        change = update.my_chat_member
        if change is None or change.chat.type != ChatType.PRIVATE:
            return
        user_id = f"tg:{change.chat.id}"
        status = change.new_chat_member.status
        active = status not in (ChatMember.BANNED, ChatMember.LEFT)
        self.engine.store.set_active(user_id, active)
        if not active:
            self.courier.outbox.drop_user(user_id)
        log.info("update user=%s route=member:%s", hash_user(user_id, self.salt), "active" if active else "blocked")

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or update.edited_message is not None:
            return
        text = message.text or ""
        bot_name = f"@{context.bot.username}".lower() if context.bot.username else ""
        command = text.startswith("/") and not for_another_bot(text, context.bot.username)
        addressed = command or (bot_name and bot_name in text.lower())
        if addressed:  # stay quiet in groups unless spoken to
            await message.reply_text(
                self.engine.texts["errors.group_only_private"], reply_markup=private_chat_button(self.engine, context)
            )

    async def on_caption(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or file with a caption: the caption is answered as if it were typed,
        after a line saying the attachment itself is not read."""
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or not message.caption or update.edited_message is not None:
            return
        if for_another_bot(message.caption, context.bot.username):
            return
        await message.reply_text(self.engine.texts["errors.caption_only"])
        inp = Input.parse(f"tg:{user.id}", message.caption[:MAX_INPUT], message.message_id)
        await self._answer(update, context, inp)

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
        query = update.callback_query
        route, replies, failed = "unhandled", 0, ""
        scope = begin_update(update.update_id, inp.user_id, self.salt)  # error lines name update, user, route
        try:
            outcome = self.engine.handle(inp, chat_id=chat.id if chat else None, update_id=update.update_id)
            route, replies = outcome.route, len(outcome.replies)
            scope.route = route
            # From here on the input is stored, and so are its replies: they leave from the outbox.
            if query is not None:
                self.stop_spinner(context, query.id, outcome.notice)
                query = None
            answered = self.courier.keyboards.get(inp.user_id) if typed_answer(inp, outcome) else None
            if outcome.queued:
                failed = await self.courier.deliver(lean(context), inp.user_id, outcome.parcels)
            elif outcome.replies and chat is not None:  # nothing could be stored (the disk): say so directly
                failed = await post_replies(lean(context), chat.id, outcome.replies)
            if answered is not None and not failed:  # the question just answered by typing: its buttons go
                shown = inp.value if len(inp.value) <= 60 else inp.value[:59] + "…"
                await self.courier.retire(lean(context), inp.user_id, answered, shown)
        except Exception as exc:  # a bug: logged in full by on_error, nothing was stored
            failed = f" failed={type(exc).__name__}"
            raise
        finally:
            if query is not None:  # the press could not be applied; the spinner still stops
                self.stop_spinner(context, query.id)
            if log.isEnabledFor(logging.INFO):  # the user's hash is not free; skip it when nobody reads it
                log.info(
                    "update user=%s route=%s replies=%d ms=%.1f%s",
                    hash_user(inp.user_id, self.salt),
                    route,
                    replies,
                    (time.perf_counter() - started) * 1000,
                    failed,
                )

    def stop_spinner(self, context: ContextTypes.DEFAULT_TYPE, query_id: str, notice: str | None = None) -> None:
        """Answer a button's callback query in the background: best effort, never waited for.
        ``notice`` (a stale tap, a pick the step can't take) is shown on the tap, not as a message."""
        task = asyncio.create_task(self._answer_query(lean(context), query_id, notice), name="answer-callback")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for the background work started so far (button answers, outbox retries)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.courier.drain()

    @staticmethod
    async def _answer_query(bot: CoachBot, query_id: str, notice: str | None = None) -> None:
        try:
            await bot.answer_press(query_id, notice)
        except TelegramError as exc:  # "query is too old" after a restart or a backlog, a 5xx, a reset
            log.info("button answer not delivered (%s); the press was applied", type(exc).__name__)

    async def slow_down(self, update: Update) -> None:
        """Tell a user whose burst is over the cap that the rest was not read."""
        chat, bot = update.effective_chat, cast(CoachBot, update.get_bot())
        user = update.effective_user
        log.info("update user=%s route=slow-down", hash_user(f"tg:{user.id}", self.salt) if user else "-")
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        try:
            await bot.post_html(chat.id, self.engine.texts["errors.slow_down"])
        except TelegramError as exc:
            log.info("slow-down notice not delivered (%s)", type(exc).__name__)

    # -- wiring -----------------------------------------------------------------------
    def register(self, app: Application) -> None:
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(filters.ChatType.GROUPS, self.on_group))
        app.add_handler(MessageHandler(private & filters.TEXT, self.on_message))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(ChatMemberHandler(self.on_member, ChatMemberHandler.MY_CHAT_MEMBER))
        attachment = filters.PHOTO | filters.Document.ALL
        app.add_handler(MessageHandler(private & attachment & filters.CAPTION, self.on_caption))
        app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_non_text))
        app.add_error_handler(self.on_error)


def private_chat_button(engine: Engine, context: ContextTypes.DEFAULT_TYPE) -> InlineKeyboardMarkup | None:
    """A button that opens the private chat with the bot (and starts it), for a group reply."""
    username = context.bot.username
    if not username:
        return None
    link = f"https://t.me/{username}?start={GROUP_START}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(engine.texts["errors.group_open_private"], url=link)]])


def build_application(
    engine: Engine,
    settings: Settings,
    salt: str,
    request: BaseRequest | None = None,
    rate_limited: bool = True,
    requests: tuple[BaseRequest, BaseRequest] | None = None,
) -> Application:
    """Build the python-telegram-bot Application. Only wiring happens here.

    ``request`` replaces the HTTP layer (tests pass a recording fake); ``requests`` are the
    layers for sends and for getUpdates (``bot.runner``'s, which watch the connection). The benchmark
    turns the rate limiter off: it caps sends at Telegram's ~30 messages a second,
    which would measure the limiter instead of the bot.
    """
    channel = TelegramChannel(engine, settings, salt)
    dispatcher = Dispatcher(engine.store, engine.texts, clock=engine.clock)

    async def post_init(app: Application) -> None:
        await bot_profile.publish(app.bot, engine)  # the "/" list and the descriptions, from content/
        in_doubt = engine.outbox.recover() if engine.outbox else 0  # replies a crash left on the way
        if in_doubt:
            log.info("%d replies were leaving when the bot stopped; sending them again", in_doubt)
        channel.courier.sweep(cast(CoachBot, app.bot))
        dispatcher.start(app)  # timeline nudges: recover after a crash, then tick from the JobQueue
        broadcast.start(app, dispatcher, engine.store)  # admins' broadcasts, through the same dispatcher
        # Everything loaded so far (content, indexes, the framework) lives until exit: move it
        # out of the garbage collector's view so full collections stay short.
        gc.collect()
        gc.freeze()

    async def post_stop(app: Application) -> None:
        await dispatcher.stop()  # requests on their way get a moment, then are cancelled

    async def checkpoint(context: ContextTypes.DEFAULT_TYPE) -> None:
        await asyncio.to_thread(engine.store.checkpoint)

    async def retry_replies(context: ContextTypes.DEFAULT_TYPE) -> None:
        channel.courier.sweep(lean(context))

    order = PerUserOrder()
    order.on_overflow = channel.slow_down
    bot = CoachBot(
        settings.token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_base_url.replace("/bot", "/file/bot"),
        # the pool sizes ApplicationBuilder would choose: many concurrent sends, one long poll
        # guarded: a reminder or broadcast copy is marked as being sent only as its request leaves
        request=(GuardedRequest(request) if request else GuardedRequest(requests[0]) if requests
                 else GuardedRequest.over_httpx(connection_pool_size=256)),
        # screened: one user's flood past the cap is left out before PTB parses it
        get_updates_request=ScreenedUpdates(
            request or (requests[1] if requests else HTTPXRequest(connection_pool_size=1)), order.screen,
            least=order.cap + 1,  # smaller answers aren't worth it: PerUserOrder declines what is past the cap
        ),
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)),
        rate_limiter=AIORateLimiter(max_retries=2) if rate_limited else None,
    )
    app = (
        ApplicationBuilder().bot(bot).concurrent_updates(order)
        .post_init(post_init).post_stop(post_stop).build()
    )
    channel.register(app)
    if app.job_queue is not None:
        app.job_queue.run_repeating(checkpoint, interval=2.0, first=2.0, name="wal-checkpoint")
        app.job_queue.run_repeating(retry_replies, interval=1.0, first=1.0, name="outbox")
    app.bot_data["channel"] = channel
    app.bot_data["dispatcher"] = dispatcher  # Dispatcher.deliver(bot, messages) sends broadcasts
    return app

