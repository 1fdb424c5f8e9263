"""/stats and /broadcast: what operators see, and that nobody else can reach them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features.admin import collect_stats
from flows.storage.broadcasts import queued_messages
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.test_privacy import insert_generic

ADMIN = "tg:42"  # the conftest engine's admin


def admin_chat(engine: Engine) -> Chat:
    chat = Chat(engine, ADMIN)
    engine.handle(Input.command(ADMIN, "start"), chat_id=42)
    return chat


def add_users(engine: Engine, clock: Clock, *ages_in_days: int) -> list[str]:
    """Users last seen ``age`` days ago, each with a Telegram chat."""
    start = clock.now
    ids = []
    for n, age in enumerate(ages_in_days):
        clock.now = start - timedelta(days=age)
        user = f"tg:{500 + n}"
        engine.handle(Input.command(user, "start"), chat_id=500 + n)
        ids.append(user)
    clock.now = start
    return ids


def ensure_table(store: Store, name: str, columns: dict[str, type]) -> None:
    if not store.db.table(name).exists():
        store.db.table(name).create({"id": int, **columns}, pk="id")


def add_row(store: Store, table: str, **values: object) -> None:
    """A row with ``values``, any other required column filled generically."""
    insert_generic(store, table, str(values.get("user_id", "tg:500")), {})
    sets = ", ".join(f"[{k}] = ?" for k in values)
    with store.atomic():
        store.conn.execute(
            f"UPDATE [{table}] SET {sets} WHERE rowid = (SELECT max(rowid) FROM [{table}])", list(values.values())
        )


# -- who can reach them ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["stats", "broadcast", "broadcast hello everyone"])
@pytest.mark.parametrize("in_a_flow", [False, True])
def test_for_anyone_else_admin_commands_do_not_exist(engine: Engine, command: str, in_a_flow: bool) -> None:
    chat = Chat(engine, "tg:1001")
    if in_a_flow:
        chat.send("/delete")  # any flow: the answer must still match an unknown command's
    name = command.split()[0]
    unknown = engine.handle(Input.parse("tg:1001", "/nosuchcommand"))
    chat.send(f"/{command}")
    assert chat.route == "unknown-command" == unknown.route
    expected = [r.text.replace("nosuchcommand", name) for r in unknown.replies]
    assert [r.text for r in chat.replies] == expected
    assert [r.buttons for r in chat.replies] == [r.buttons for r in unknown.replies]
    assert "stats" not in chat.text.lower().replace(f"/{name}", "")


def test_admin_commands_stay_out_of_help_and_the_telegram_command_list(engine: Engine) -> None:
    chat = Chat(engine, "tg:1001")
    chat.send("/help")
    assert "/stats" not in chat.text and "/broadcast" not in chat.text
    assert "commands.stats" not in engine.texts and "commands.broadcast" not in engine.texts


def test_a_forged_menu_button_does_not_open_stats(engine: Engine) -> None:
    chat = Chat(engine, "tg:1001")
    chat.press_data("go:stats")
    assert chat.route == "unknown-command"
    assert "Users:" not in chat.text


# -- /stats -----------------------------------------------------------------------------------
def test_stats_counts_users_activity_and_completions(engine: Engine, clock: Clock) -> None:
    users = add_users(engine, clock, 0, 3, 10, 20, 45, 90)  # 2 this week, 4 this month, 6 in all
    engine.store.set_active(users[-1], False)
    for user, flow in zip(users, ["onboarding", "onboarding", "vet"], strict=False):
        engine.store.record_completion(user, flow, clock.now)
    chat = admin_chat(engine)  # the admin is a user too: 7 in all, 3 this week, 5 this month
    chat.send("/stats")
    assert chat.route == "command:stats"
    text = chat.text
    assert "Users: 7 (1 blocked the bot)" in text
    assert "Active in the last 7 days: 3" in text
    assert "Active in the last 30 days: 5" in text
    assert "Conversations finished: 3" in text
    assert "onboarding: 2" in text and "vet: 1" in text


def test_stats_counts_nudges_sent_and_failed(engine: Engine, clock: Clock) -> None:
    add_users(engine, clock, 0)
    ensure_table(engine.store, "nudges", {"user_id": str, "status": str})
    for status in ["sent", "sent", "sent", "failed", "scheduled"]:
        add_row(engine.store, "nudges", user_id="tg:500", status=status)
    chat = admin_chat(engine)
    chat.send("/stats")
    assert "Nudges: 3 sent, 1 failed" in chat.text


def test_stats_lists_the_most_frequent_unanswered_questions(engine: Engine, clock: Clock) -> None:
    ensure_table(engine.store, "unanswered", {"text": str, "asked_at": str})
    Chat(engine, "tg:500").send("/start")  # the asker: each question points at its user
    recent = clock.now.isoformat(timespec="seconds")
    old = (clock.now - timedelta(days=40)).isoformat(timespec="seconds")
    asked = [("How much does a sub-I cost?", recent)] * 2 + [("how much does a sub-i cost? ", recent)]
    asked += [("<script>visa?</script>", recent)] + [("An old one", old)] * 5
    for text, at in asked:
        add_row(engine.store, "unanswered", text=text, asked_at=at)
    chat = admin_chat(engine)
    chat.send("/stats")
    lines = chat.text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
    assert "sub-I cost" in lines[first] and "×3" in lines[first]
    assert lines[first + 1].startswith("2. <script>visa?</script>") and "×1" in lines[first + 1]
    assert "An old one" not in chat.text
    raw = "\n".join(r.text for r in chat.replies)
    assert "&lt;script&gt;" in raw and "<script>" not in raw  # escaped in the HTML sent


def test_stats_of_a_new_database_are_zeros(engine: Engine, store: Store, clock: Clock) -> None:
    figures = collect_stats(store, clock.now)
    assert figures["nudges"] == {"sent": 0, "failed": 0} and figures["unanswered"] == []
    assert figures["users"]["users"] == 0 and figures["flows"] == []


# -- /broadcast -------------------------------------------------------------------------------
def test_broadcast_previews_then_queues_one_message_per_reachable_user(engine: Engine, clock: Clock) -> None:
    users = add_users(engine, clock, 0, 1, 2)
    engine.store.set_active(users[2], False)  # blocked the bot: skipped
    engine.handle(Input.command("term:ann", "start"))  # no Telegram chat: skipped
    chat = admin_chat(engine)
    chat.send("/broadcast New <b>checklist</b> & timeline 🩺")
    assert "goes to 3 people" in chat.text  # two users and the admin
    assert "New <b>checklist</b> & timeline 🩺" in chat.text  # shown as typed...
    assert "New &lt;b&gt;checklist&lt;/b&gt; &amp; timeline" in chat.replies[-1].text  # ...and escaped
    assert queued_messages(engine.store) == []  # nothing before the confirmation
    send = chat.button("Send to all").data
    chat.press("Send to all")
    assert "Queued for 3 people" in chat.text
    queued = queued_messages(engine.store)
    assert sorted(m["user_id"] for m in queued) == sorted([ADMIN, users[0], users[1]])
    assert {m["text"] for m in queued} == {"New &lt;b&gt;checklist&lt;/b&gt; &amp; timeline 🩺"}
    chat.press_data(send)  # a second tap on the same button
    assert chat.route == "stale"
    assert len(queued_messages(engine.store)) == 3


def test_broadcast_asks_for_the_text_and_a_new_text_replaces_the_draft(engine: Engine) -> None:
    chat = admin_chat(engine)
    chat.send("/broadcast")
    assert "What should everyone get?" in chat.text
    chat.send("   ")
    assert "empty" in chat.text
    chat.send("first draft")
    assert "first draft" in chat.text
    chat.send("second draft")
    assert "second draft" in chat.text
    chat.press("Send to all")
    assert [m["text"] for m in queued_messages(engine.store)] == ["second draft"]


def test_typed_yes_at_the_preview_is_a_draft_never_the_confirmation(engine: Engine) -> None:
    chat = admin_chat(engine)
    chat.send("/broadcast hello")
    for typed in ("yes", "send"):
        chat.send(typed)
        assert f"people:\n\n{typed}" in chat.text and queued_messages(engine.store) == []
    chat.press("Back")  # the message again, to change it
    assert "What should everyone get?" in chat.text and "send" in chat.text
    chat.send("x" * 3501)
    assert "too long" in chat.text and queued_messages(engine.store) == []
    chat.send("Webinar at 6")
    chat.press("Send to all")
    assert [m["text"] for m in queued_messages(engine.store)] == ["Webinar at 6"]


def test_broadcast_can_be_cancelled(engine: Engine) -> None:
    chat = admin_chat(engine)
    chat.send("/broadcast hello")
    chat.press("Cancel")
    assert "nothing was sent" in chat.text
    assert queued_messages(engine.store) == []


def test_a_non_admin_cannot_confirm_a_broadcast(engine: Engine) -> None:
    admin = admin_chat(engine)
    admin.send("/broadcast hello")
    send = admin.button("Send to all").data
    intruder = Chat(engine, "tg:1001")
    intruder.press_data(send)
    assert intruder.route == "stale"
    assert queued_messages(engine.store) == []


# -- sending what was queued ------------------------------------------------------------------------
async def test_queued_copies_go_out_through_the_nudges_dispatcher_once_each(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.broadcast import recover, send_queued
    from bot.coachbot import CoachBot
    from bot.delivery import Dispatcher
    from tests.emulator import Emulator

    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # else PTB's RetryAfter warns (an error here)
    users = add_users(engine, clock, 0, 1, 2, 3)
    chat = admin_chat(engine)
    chat.send("/broadcast Fresh <i>checklist</i> is out")
    chat.press("Send to all")
    store = engine.store
    # A crash had interrupted one copy mid-send: it may have arrived, so it is never resent.
    store.conn.execute("UPDATE broadcast_messages SET status = 'sending' WHERE user_id = ?", (users[3],))

    async def no_sleep(seconds: float) -> None:
        return None

    dispatcher = Dispatcher(store, engine.texts, clock=clock, sleep=no_sleep)
    async with Emulator() as emu, CoachBot("123:abc", base_url=emu.base_url) as bot:
        emu.block(501)  # users[1] blocked the bot
        emu.flood_next("sendMessage", retry_after=3)  # Telegram asks once to slow down
        assert recover(store, clock.now) == 1
        for _ in range(10):
            await send_queued(store, dispatcher, bot)
            if not queued_messages(store):
                break
        for chat_id in (42, 500, 502):
            [copy] = [m for m in emu.sent_messages(chat_id) if "checklist" in m.plain_text]
            assert copy.plain_text == "Fresh <i>checklist</i> is out"  # what the admin typed, as typed
        assert emu.sent_messages(501) == [] and emu.sent_messages(503) == []
    statuses = dict(store.conn.execute("SELECT user_id, status FROM broadcast_messages").fetchall())
    assert statuses == {ADMIN: "sent", users[0]: "sent", users[1]: "failed", users[2]: "sent", users[3]: "failed"}
    assert store.user(users[1])["active"] == 0  # type: ignore[index]


async def test_a_copy_waiting_for_its_turn_is_still_queued_and_goes_out_after_a_crash(
    engine: Engine, clock: Clock
) -> None:
    from bot.broadcast import recover, send_queued
    from bot.delivery import Dispatcher

    add_users(engine, clock, 0)
    chat = admin_chat(engine)
    chat.send("/broadcast Office hours moved")
    chat.press("Send to all")
    store = engine.store
    seen: list[str] = []

    class Crash(Exception):
        pass

    async def sleep_then_crash(seconds: float) -> None:  # the process dies while a copy waits its turn
        seen.extend(r[0] for r in store.conn.execute("SELECT status FROM broadcast_messages"))
        raise Crash

    dispatcher = Dispatcher(store, engine.texts, clock=clock, sleep=sleep_then_crash)
    dispatcher.limiter.hold(5)  # Telegram asked everyone to wait: the next copy must wait its turn

    class NeverCalled:
        async def post_html(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("nothing may be sent while waiting")

    with pytest.raises(Crash):
        await send_queued(store, dispatcher, NeverCalled())
    assert seen and set(seen) == {"queued"}  # nothing was marked as being sent while it waited
    assert recover(store, clock.now) == 0  # so nothing is in doubt after the restart...
    statuses = {r[0] for r in store.conn.execute("SELECT status FROM broadcast_messages")}
    assert statuses == {"queued"}  # ...and every copy still goes out
