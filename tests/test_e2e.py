"""End to end: the real ``usce-coach run`` process against the local Bot API emulator."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from flows.base.content import texts
from flows.domain.plan import milestone_dates
from tests.botprocess import DUMMY_TOKEN, BotProcess
from tests.emulator import Emulator, SentMessage

USER = 4242


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emu:
        yield emu


@pytest.fixture
async def bot(emulator: Emulator, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(emulator, tmp_path / "coach.db", tmp_path / "bot.log")
    await process.start()
    yield process
    await process.stop()


async def test_start_button_and_free_text(emulator: Emulator, bot: BotProcess, tmp_path: Path) -> None:
    emulator.send_command(USER, "start")
    [welcome] = await emulator.wait_for_messages(USER, 1, timeout=30)
    menu = welcome  # one message: the welcome with the goal button on top of the menu
    assert "Welcome to USCE Coach" in welcome.plain_text
    assert welcome.callback_data[0] == "ob:s" and "go:plan" in welcome.callback_data
    assert len(welcome.callback_data) <= 8
    assert welcome.parse_mode == "HTML"

    emulator.press_button(USER, menu.message_id, "go:help")
    [help_] = await emulator.wait_for_messages(USER, 1, timeout=30)
    assert "/menu" in help_.plain_text
    await emulator.wait_for(lambda: not emulator.unanswered_callbacks(), timeout=5)

    emulator.send_text(USER, "<b>hello</b> & good morning")
    replies = await emulator.wait_for_messages(USER, 1, timeout=30)
    assert replies[0].plain_text  # answered, with no parse error from the HTML characters

    profile = emulator.bot_profile()
    commands = {c["command"] for c in profile["commands"]}
    assert {"start", "menu", "help", "cancel"} <= commands and len(commands) <= 10
    assert all(len(c["description"]) <= 32 for c in profile["commands"])
    assert "international medical graduates" in profile["description"]
    assert 0 < len(profile["short_description"]) <= 120
    assert emulator.calls["sendMessage"] == 3  # the welcome, the help, the answer: one message each

    log = (tmp_path / "bot.log").read_text()
    assert "route=command:start" in log
    assert DUMMY_TOKEN.split(":", 1)[1] not in log  # not even at DEBUG
    assert "good morning" not in log  # message text is never logged


async def test_group_chat_gets_one_polite_line(emulator: Emulator, bot: BotProcess) -> None:
    emulator.send_command(USER, "start", chat_id=-1001, chat_type="group", title="IMG study group")
    [reply] = await emulator.wait_for_messages(-1001, 1, timeout=30)
    assert "private" in reply.plain_text
    [[button]] = reply.buttons  # one tap opens the private chat and starts it
    assert button["url"] == f"https://t.me/{emulator.bot_user['username']}?start=group"


async def test_a_caption_is_answered_as_if_typed(emulator: Emulator, bot: BotProcess) -> None:
    emulator.send_media(USER, "photo", caption="how many months of USCE do I need?")
    note, answer = await emulator.wait_for_messages(USER, 2, timeout=30)
    assert "only what you wrote" in note.plain_text
    assert "month" in answer.plain_text and "only read text" not in answer.plain_text
    emulator.send_media(USER, "document", caption="/plan")
    note, question = await emulator.wait_for_messages(USER, 2, timeout=30)
    assert any(d.startswith("ob:~o:status:a") for d in question.callback_data)  # the command ran
    emulator.send_media(USER, "photo")  # no caption: nothing to read
    [reply] = await emulator.wait_for_messages(USER, 1, timeout=30)
    assert "only read text" in reply.plain_text


async def test_a_restart_in_the_middle_of_a_flow_loses_nothing(emulator: Emulator, tmp_path: Path) -> None:
    database = tmp_path / "coach.db"
    bot = BotProcess(emulator, database, tmp_path / "bot.log")
    await bot.start()
    try:
        emulator.send_command(USER, "plan")
        intro = await emulator.wait_for_messages(USER, 1, timeout=30)
        step1 = intro[-1] if intro[-1].callback_data else (await emulator.wait_for_messages(USER, 1, timeout=30))[0]
        assert "Step 1 of" in step1.plain_text
        emulator.press_button(USER, step1.message_id, step1.button("Graduate")["callback_data"])
        await emulator.wait_for(lambda: "Step 2 of" in (emulator.last_message(USER) or step1).plain_text, timeout=30)
        emulator.send_text(USER, "2019")
        await emulator.wait_for(lambda: "Step 3 of" in (emulator.last_message(USER) or step1).plain_text, timeout=30)

        bot.kill()  # SIGKILL in the middle of the conversation
        await bot.start()

        emulator.send_text(USER, "Internal medicine")

        mark = texts()["onboarding.mark_on"]  # the tick beside a chosen specialty

        def ticked() -> SentMessage | None:
            for message in reversed(emulator.sent_messages(USER)):
                if any(f"{mark} Internal medicine" in b.get("text", "") for row in message.buttons for b in row):
                    return message
            return None

        await emulator.wait_for(lambda: ticked() is not None, timeout=30)
        step3 = ticked()
        assert step3 is not None and "Step 3 of" in step3.plain_text
        emulator.press_button(USER, step3.message_id, step3.button("Done")["callback_data"])
        await emulator.wait_for(lambda: "Step 4 of" in (emulator.last_message(USER) or step3).plain_text, timeout=30)
    finally:
        await bot.stop()
    row = sqlite3.connect(database).execute(
        "SELECT status, grad_year, specialties FROM profiles WHERE user_id = ?", (f"tg:{USER}",)
    ).fetchone()
    assert row[0] == "graduate" and row[1] == 2019 and "Internal" in row[2]


async def test_files_reach_the_user_through_the_wire(emulator: Emulator, bot: BotProcess) -> None:
    emulator.send_command(USER, "start")
    await emulator.wait_for_messages(USER, 1, timeout=30)
    emulator.send_command(USER, "timeline")
    [picture] = await emulator.wait_for_messages(USER, 1, timeout=30)
    assert picture.kind == "photo" and picture.file is not None
    assert picture.file.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert picture.callback_data == ["go:log", "go:progress", "go:menu"]  # buttons under the photo
    emulator.send_command(USER, "export")
    summary, export = await emulator.wait_for_messages(USER, 2, timeout=30)
    assert summary.kind == "document" and summary.file is not None
    assert summary.file.name == "usce-coach-summary.html"
    assert summary.file.content.startswith(b"<!doctype html>")
    assert export.kind == "document" and export.file is not None
    data = json.loads(export.file.content)
    assert f"tg:{USER}" in json.dumps(data)


async def test_the_calendar_file_through_the_wire_matches_the_plan(
    emulator: Emulator, bot: BotProcess, tmp_path: Path
) -> None:
    emulator.send_command(USER, "start")
    await emulator.wait_for_messages(USER, 1, timeout=30)
    with sqlite3.connect(tmp_path / "coach.db") as db:  # a profile as the goal questions leave it
        db.execute("INSERT INTO profiles (user_id, application, timezone, updated_at) VALUES (?, ?, ?, ?)",
                   (f"tg:{USER}", "2029-09", "America/Sao_Paulo", "2026-01-01T00:00:00+00:00"))
    emulator.send_command(USER, "calendar")
    [sent] = await emulator.wait_for_messages(USER, 1, timeout=30)
    assert sent.kind == "document" and sent.file is not None and sent.file.name == "usce-plan.ics"
    calendar = Calendar.from_ical(bytes(sent.file.content))
    assert calendar["x-wr-timezone"] == "America/Sao_Paulo"
    starts = {str(e["uid"]).split(".", 1)[0]: e.decoded("dtstart") for e in calendar.walk("VEVENT")}
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    expected = {f"ms-{m.id}": first for m, first, last in milestone_dates(date(2029, 9, 1)) if last >= today}
    assert expected and {k: v for k, v in starts.items() if k.startswith("ms-")} == expected
    assert starts["application"] == date(2029, 9, 1)


async def test_a_wrong_answer_and_a_question_mid_step_then_a_restart(emulator: Emulator, tmp_path: Path) -> None:
    bot = BotProcess(emulator, tmp_path / "coach.db", tmp_path / "bot.log")
    await bot.start()
    try:
        emulator.send_command(USER, "plan")
        await emulator.wait_for(lambda: "Step 1 of" in _last_text(emulator), 30)
        step1 = emulator.last_message(USER)
        assert step1 is not None
        emulator.press_button(USER, step1.message_id, step1.button("Graduate")["callback_data"])
        await emulator.wait_for(lambda: "Step 2 of" in _last_text(emulator), 30)
        step2 = emulator.last_message(USER)
        assert step2 is not None

        emulator.send_text(USER, "a long time ago")  # a wrong answer: the reason, with the step's buttons
        await emulator.wait_for(lambda: emulator.last_message(USER) is not step2, 30)
        reask = emulator.last_message(USER)
        assert reask is not None and "Step" not in reask.plain_text
        assert reask.buttons == step2.buttons

        seen = len(emulator.sent_messages(USER))
        emulator.mark_read(USER)
        emulator.send_text(USER, "is an observership counted as usce?")  # a question: answered, then the step
        answer, again = await emulator.wait_for_messages(USER, 2, timeout=30)
        assert "observership" in answer.plain_text.lower() and "Step 2 of" in again.plain_text
        assert len(emulator.sent_messages(USER)) == seen + 2

        bot.kill()
        await bot.start()
        emulator.send_text(USER, "2019")
        await emulator.wait_for(lambda: "Step 3 of" in _last_text(emulator), 30)
    finally:
        await bot.stop()


def _last_text(emulator: Emulator) -> str:
    message = emulator.last_message(USER)
    return message.plain_text if message else ""


class EmulatorProcess:
    """The emulator in a process of its own (``python -m tests.emulator``), so the bot's process
    does only the bot's work, as against Telegram; enough of :class:`Emulator` for BotProcess."""

    def __init__(self) -> None:
        import subprocess
        import sys

        from tests.emulator.client import AsyncEmulatorClient, EmulatorClient

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().split()[-1]
        self.sync = EmulatorClient(url)
        self.client = AsyncEmulatorClient(url)
        self.base_url = self.sync.bot_base_url

    @property
    def calls(self) -> dict[str, int]:
        return dict(self.sync.stats()["calls"])

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        from tests.test_failures import until

        await until(predicate, timeout)

    async def close(self) -> None:
        await self.client.aclose()
        self.sync.close()
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def test_one_users_flood_through_the_real_process(tmp_path: Path) -> None:
    """The flood of tests/test_concurrency.py against ``usce-coach run`` and an emulator process
    (figures with ``-s``); asserted: everyone else is answered, the flooder is told to slow down."""
    import asyncio
    from statistics import median
    from typing import cast

    others, flooder, rounds = range(6301, 6309), 6399, 5
    emu = EmulatorProcess()
    bot = BotProcess(cast(Emulator, emu), tmp_path / "coach.db", tmp_path / "bot.log", LOG_LEVEL="WARNING")
    calm: list[float] = []
    flood: list[float] = []

    async def ask_all(latencies: list[float]) -> None:
        loop = asyncio.get_running_loop()

        async def one(uid: int) -> None:
            started = loop.time()
            await emu.client.send_command(uid, "help")
            await emu.client.wait_for_messages(uid, 1, timeout=60)
            latencies.append(loop.time() - started)

        await asyncio.gather(*(one(uid) for uid in others))

    try:
        await bot.start(timeout=30)
        await ask_all([])  # warm up
        for _ in range(rounds):
            await asyncio.sleep(1.2)  # Telegram's limit of 30 messages a second starts afresh
            await ask_all(calm)
            await asyncio.sleep(1.2)
            await emu.client.send_command(flooder, "help", repeat=300)  # 300 messages at once
            await ask_all(flood)
            await asyncio.sleep(1.0)
        notices = sum("faster than I can answer" in m["plain_text"] for m in await emu.client.messages(flooder))
    finally:
        await bot.stop()
        await emu.close()
    print(
        f"\nflood, real process: other users' p50 calm {median(calm) * 1000:.0f} ms, during one user's"
        f" 300-message flood {median(flood) * 1000:.0f} ms (x{median(flood) / median(calm):.2f}),"
        f" {len(flood)} answers each; {notices} slow-down notices"
    )
    assert len(calm) == len(flood) == rounds * len(others)
    assert notices >= 1


def moved(emulator: Emulator, message_id: int, text: str) -> Callable[[], bool]:
    """True once the message ``message_id`` reads otherwise, or a newer message came."""

    def check() -> bool:
        message, last = emulator.find_message(USER, message_id), emulator.last_message(USER)
        return (message is not None and message.plain_text != text) or (
            last is not None and last.message_id != message_id
        )

    return check


async def test_onboarding_by_buttons_edits_one_message_and_an_edit_replaces_an_answer(
    emulator: Emulator, bot: BotProcess, tmp_path: Path
) -> None:
    emulator.send_command(USER, "start")
    [welcome] = await emulator.wait_for_messages(USER, 1, timeout=30)
    emulator.press_button(USER, welcome.message_id, "ob:s")
    await emulator.wait_for(lambda: "Step 1 of" in (emulator.last_message(USER) or welcome).plain_text, timeout=30)
    dialog = emulator.last_message(USER)
    assert dialog is not None
    sends = emulator.calls["sendMessage"]

    # a double tap on the first answer: applied once, the next step shown once, in the same message
    first = dialog.button("Graduate")["callback_data"]
    emulator.press_button(USER, dialog.message_id, first)
    emulator.press_button(USER, dialog.message_id, first, forge=True)
    await emulator.wait_for(lambda: not emulator.unanswered_callbacks(), timeout=30)
    await emulator.wait_for(
        lambda: "Step 2 of" in (emulator.find_message(USER, dialog.message_id) or dialog).plain_text, timeout=30
    )
    typed = emulator.send_text(USER, "2019")  # a typed answer: the only new message of the dialog so far
    await emulator.wait_for(lambda: "Step 3 of" in (emulator.last_message(USER) or dialog).plain_text, timeout=30)
    emulator.edit_text(USER, typed["message_id"], "2018")  # fixing the typed answer
    await emulator.wait_for(lambda: "Changed your answer" in (emulator.last_message(USER) or dialog).plain_text,
                            timeout=30)
    step = emulator.last_message(USER)
    assert step is not None and "Step 3 of" in step.plain_text

    picked: set[str] = set()
    for _ in range(30):  # tap the first answer of every step to the end
        text = step.plain_text
        ours = [d for d in step.callback_data if d.startswith("ob:~o:")]  # the dialog's: ob:~o:<step>:<action>
        if not any(d.split(":")[3] in ("a", "t", "d") for d in ours):
            break  # no question left: the plan
        data = [d for d in ours if d.split(":")[3] not in ("b", "k")]
        done = next((d for d in data if d.endswith(":d")), None)
        choice = done if done and (done in picked or "gaps" in done) else data[0]
        picked.add(done or "")  # a pick-several step: one pick, then Done
        emulator.press_button(USER, step.message_id, choice)
        await emulator.wait_for(moved(emulator, step.message_id, text), timeout=30)
        step = emulator.last_message(USER) or step
    await emulator.wait_for(lambda: not emulator.unanswered_callbacks(), timeout=30)
    new_messages = emulator.calls["sendMessage"] - sends
    print(f"dialog: {new_messages} new messages, {emulator.calls['editMessageText']} edits")
    assert new_messages <= 4, f"{new_messages} new messages for one dialog"  # the typed year, the edit note, the plan
    assert emulator.calls["editMessageText"] >= 8
    row = sqlite3.connect(bot.database).execute(
        "SELECT status, grad_year, completed_at IS NOT NULL FROM profiles WHERE user_id = ?", (f"tg:{USER}",)
    ).fetchone()
    assert tuple(row) == ("graduate", 2018, 1), "finished, with the edited year"


def last_text(emulator: Emulator) -> str:
    message = emulator.last_message(USER)
    return message.plain_text if message else ""


async def test_a_question_answered_by_typing_keeps_its_answer_and_loses_its_buttons(
    emulator: Emulator, bot: BotProcess
) -> None:
    emulator.send_command(USER, "plan")
    await emulator.wait_for(lambda: "Step 1 of" in last_text(emulator), timeout=30)
    asked = emulator.last_message(USER)
    assert asked is not None and asked.callback_data
    emulator.send_text(USER, "graduate")
    await emulator.wait_for(lambda: "Step 2 of" in last_text(emulator), timeout=30)
    await emulator.wait_for(lambda: not (emulator.find_message(USER, asked.message_id) or asked).callback_data,
                            timeout=30)
    answered = emulator.find_message(USER, asked.message_id)
    assert answered is not None and "Step 1 of" in answered.plain_text and "✓ graduate" in answered.plain_text
    now = emulator.last_message(USER)
    assert now is not None and now.message_id != asked.message_id and now.callback_data  # the step to answer
    emulator.send_text(USER, "is this free?")  # a question, not an answer: the step keeps its buttons
    await emulator.wait_for(lambda: (emulator.last_message(USER) or now).message_id != now.message_id, timeout=30)
    assert (emulator.find_message(USER, now.message_id) or now).callback_data
