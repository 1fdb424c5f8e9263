"""Sending the outbox: an input's replies leave after its commit, in order per user.

A failed send is sorted by whether its request can have reached Telegram (the policy in
docs/ARCHITECTURE.md, "Replies that arrive"):

- certainly not (the connection was never made, the pool had no room, Telegram said 429):
  the same reply is tried again, after ``retry_after`` or a growing pause;
- maybe (no answer in time, the connection dropped after the request was written, a 5xx, or
  the process died while it was leaving): a repeatable reply (a read-only answer, a step
  shown again, an edit of the pressed message) is sent again as it was; any other reply is
  sent again under a line saying it is a repeat, so a second copy never reads as a second
  change;
- never (403: the user blocked the bot; 400: Telegram refuses the message): the user is
  marked inactive and their waiting replies dropped, or the one reply is dropped.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum

import httpx
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.coachbot import CoachBot
from bot.logs import hash_user
from bot.render import keyboard_json, markup, split_text
from flows.base.content import Texts
from flows.base.errors import StorageUnavailable
from flows.base.types import Reply, merge_replies
from flows.storage.outbox import Outbox, Parcel

CAPTION_LIMIT = 1024

log = logging.getLogger("usce_coach.outbox")

MAX_ATTEMPTS = 10  # then the reply is given up (logged): about four minutes of trying
MAX_PAUSE = 60.0
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Fate(Enum):
    RETRY = "retry"  # the request certainly did not reach Telegram
    DOUBT = "doubt"  # it may have
    BLOCKED = "blocked"  # the user blocked the bot
    REFUSED = "refused"  # Telegram will never take this message


def fate_of(exc: BaseException) -> Fate:
    """What a failed send means for the reply (see the module docstring)."""
    if isinstance(exc, Forbidden):
        return Fate.BLOCKED
    if isinstance(exc, RetryAfter):
        return Fate.RETRY
    if isinstance(exc, BadRequest):
        return Fate.REFUSED
    if isinstance(exc, (TimedOut, NetworkError)):
        cause = exc.__cause__
        if isinstance(cause, NOT_SENT) or "Request was *not* sent" in str(exc):
            return Fate.RETRY
        return Fate.DOUBT  # a read timeout, a reset after writing, or a 5xx
    return Fate.DOUBT  # not Telegram's error: a bug on the way out; keep the reply and retry


KEPT_KEYBOARDS = 10_000  # users whose last question's buttons can be taken off after a typed answer

@dataclass(frozen=True, slots=True)
class Shown:
    """A message with buttons the user has on screen: where it is and what it says."""

    chat_id: int
    message_id: int
    text: str


class Courier:
    """Delivers the outbox's rows, one user at a time each, and retries what failed."""

    def __init__(self, outbox: Outbox, texts: Texts, salt: str, clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.texts = texts
        self.salt = salt
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[str]] = set()
        # per user, the latest message sent with buttons (this process; the most recent users only)
        self.keyboards: OrderedDict[str, Shown] = OrderedDict()

    async def deliver(self, bot: CoachBot, user_id: str, ready: list[Parcel] | None = None) -> str:
        """Send the user's waiting replies in order, up to the first that fails (it and the rest
        wait for their retry). ``ready``: the rows an input has just queued, first in line (they
        need not be read back). Returns "" or " failed=<error>" for the update's log line."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        async with lock:
            try:
                ready = ready or []
                for index, fresh in enumerate(ready):
                    if index:  # crossing off the one before marked this one as leaving
                        fresh = replace(fresh, state="sending")
                    failure = await self._send(bot, fresh, more=index < len(ready) - 1)
                    if failure:
                        return failure
                if ready and not self.outbox.waiting(user_id):
                    return ""
                while True:
                    parcel = self.outbox.first(user_id)
                    if parcel is None or parcel.due > self.clock():
                        return ""
                    failure = await self._send(bot, parcel)
                    if failure:
                        return failure
            except StorageUnavailable:  # the disk: what is sent cannot be crossed off; try again later
                log.warning("outbox not updated (the database cannot be written); trying again later")
                return " failed=StorageUnavailable"

    def sweep(self, bot: CoachBot) -> int:
        """Start delivering to every user whose next reply is due (retries, and after a restart
        what was waiting); returns how many users. Never waits for a send."""
        started = 0
        for user_id in self.outbox.waiting_users(self.clock()):
            lock = self._locks.get(user_id)
            if lock is not None and lock.locked():
                continue  # a delivery to this user is under way; it takes the rest in order
            task = asyncio.create_task(self.deliver(bot, user_id), name=f"outbox:{hash_user(user_id, self.salt)}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def drain(self) -> None:
        """Wait for deliveries the sweep started (at shutdown, in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- one reply ------------------------------------------------------------------------
    async def _send(self, bot: CoachBot, parcel: Parcel, more: bool = True) -> str:
        if parcel.state != "sending":  # a retry, or what a restart found: mark it before it leaves
            self.outbox.sending(parcel.id)
        try:
            await self._post(bot, parcel)
        except Exception as exc:  # noqa: BLE001 - every failure is sorted by fate_of; none may lose the reply
            return self._failed(parcel, exc)
        self.outbox.delivered(parcel, more)
        return ""

    async def _post(self, bot: CoachBot, parcel: Parcel) -> None:
        reply, chat_id = parcel.reply, parcel.chat_id
        if parcel.edit_id is not None:
            try:  # editing the same message again is harmless: a repeat edit is "not modified"
                await bot.edit_text(chat_id, parcel.edit_id, reply.text, keyboard_json(reply.buttons))
                self._shown(parcel, parcel.edit_id, reply.text)
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("edit failed, sending instead: %s", exc)
        label = self.texts["errors.resent"] if parcel.state == "doubt" and not parcel.repeatable else None
        steps = pieces(reply)
        for index in range(parcel.part, len(steps)):
            last = index == len(steps) - 1
            sent = await post_piece(bot, chat_id, reply, steps[index], label if index == parcel.part else None, last)
            if not last:  # a failure later on never sends this piece again
                self.outbox.delivered_part(parcel.id)
            elif sent is not None and len(steps) == 1:
                self._shown(parcel, sent, reply.text)

    def _shown(self, parcel: Parcel, message_id: int, text: str) -> None:
        """Remember the user's latest message with buttons: when a typed answer moves its dialog
        on, those buttons are taken off it (:meth:`retire`)."""
        if parcel.reply.buttons:
            self.keyboards[parcel.user_id] = Shown(parcel.chat_id, message_id, text)
            self.keyboards.move_to_end(parcel.user_id)
            if len(self.keyboards) > KEPT_KEYBOARDS:  # memory stays flat however many users write
                self.keyboards.popitem(last=False)

    async def retire(self, bot: CoachBot, user_id: str, shown: Shown, answer: str) -> None:
        """Take the buttons off a question the user answered by typing, and show the answer under
        it, so only the current step's buttons look pressable. Best effort: never retried."""
        if self.keyboards.get(user_id) == shown:
            del self.keyboards[user_id]
        text = f"{shown.text}\n\n{self.texts.fmt('dialog.chosen', value=answer)}"
        try:
            await bot.edit_text(shown.chat_id, shown.message_id, text, None)
        except TelegramError as exc:  # too old to edit, deleted by the user...
            log.info("an answered question kept its buttons (%s)", type(exc).__name__)

    def _failed(self, parcel: Parcel, exc: BaseException) -> str:
        fate, name = fate_of(exc), type(exc).__name__
        who = hash_user(parcel.user_id, self.salt)
        if fate is Fate.BLOCKED:
            dropped = self.outbox.drop_user(parcel.user_id)
            self.outbox.store.set_active(parcel.user_id, False)
            log.info("reply not delivered: user=%s blocked the bot; %d waiting replies dropped", who, dropped)
            return f" failed={name}"
        if fate is Fate.REFUSED:
            self.outbox.drop(parcel.id)
            log.warning("reply refused by Telegram, dropped: user=%s %s", who, exc)
            return f" failed={name}"
        attempts = parcel.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self.outbox.drop(parcel.id)
            log.warning("reply not delivered after %d attempts, dropped: user=%s %s", attempts, who, name)
            return f" failed={name}"
        if isinstance(exc, RetryAfter):
            wait = exc.retry_after
            pause = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        else:
            pause = min(MAX_PAUSE, 2.0 ** (attempts - 1))
        self.outbox.later(parcel.id, self.clock() + pause, doubt=fate is Fate.DOUBT)
        if fate is Fate.DOUBT and not isinstance(exc, (TimedOut, NetworkError)):
            log.error("reply not delivered (bug): user=%s; trying again in %.0f s", who, pause, exc_info=exc)
        else:
            log.warning(
                "reply not delivered (%s%s): user=%s; the input is stored, trying again in %.0f s",
                name,
                ", it may have reached Telegram" if fate is Fate.DOUBT else "",
                who,
                pause,
            )
        return f" failed={name}"


def pieces(reply: Reply) -> list[str | None]:
    """The messages one reply becomes: None for its attachment (with the text as caption when
    it fits), then the text split at Telegram's limit."""
    if reply.attachment is not None and len(reply.text) <= CAPTION_LIMIT:
        return [None]
    text: list[str | None] = list(split_text(reply.text))
    return [None, *text] if reply.attachment is not None else text


async def post_piece(
    bot: CoachBot, chat_id: int, reply: Reply, piece: str | None, label: str | None, last: bool
) -> int | None:
    """Send one piece of ``reply`` (the keyboard goes under the ``last``); ``label`` goes above
    it when it fits. Returns the id of a text message sent (None for a file)."""
    if piece is None:
        assert reply.attachment is not None
        att = reply.attachment
        caption = reply.text if len(reply.text) <= CAPTION_LIMIT else None
        if caption is not None and label and len(label) + len(caption) < CAPTION_LIMIT:
            caption = f"{label}\n{caption}"
        payload = io.BytesIO(att.content)
        buttons = markup(reply.buttons) if last else None  # else they go with the text after it
        if att.kind == "photo":
            await bot.send_photo(chat_id, payload, caption=caption, filename=att.filename, reply_markup=buttons)
        else:
            await bot.send_document(chat_id, payload, caption=caption, filename=att.filename, reply_markup=buttons)
        return None
    text = f"{label}\n{piece}" if label and len(label) + len(piece) < 4096 else piece
    return await bot.post_html(chat_id, text, keyboard_json(reply.buttons) if last else None)


async def post_replies(bot: CoachBot, chat_id: int, replies: list[Reply]) -> str:
    """Send replies that were not stored (nothing could be written), once, best effort; returns
    "" or " failed=<error>" for the update's log line."""
    try:
        for reply in merge_replies(replies):
            steps = pieces(reply)
            for index, piece in enumerate(steps):
                await post_piece(bot, chat_id, reply, piece, None, index == len(steps) - 1)
    except TelegramError as exc:
        log.warning("reply not delivered (%s); nothing was stored", type(exc).__name__)
        return f" failed={type(exc).__name__}"
    return ""
