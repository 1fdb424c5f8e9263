"""Nudges as a user and the database see them: the schedule in SQLite, rescheduling, buttons,
the terminal channel, claiming and crash recovery (/settings: test_settings_card.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.base.types import Input
from flows.engine.engine import Engine, Turn
from flows.features import all_features
from flows.features.nudges import due_replies, reschedule
from flows.storage.nudges import (
    CLAIM_PLAN_SQL,
    Claimed,
    claim_due,
    mark_sending,
    mark_sent,
    new_token,
    recover,
    schedule_rows,
    until,
)
from flows.storage.profiles import save_answer
from flows.storage.store import Store
from tests.chat import Chat, Clock

USER = "tg:1001"


def join(engine: Engine, user: str = USER, chat_id: int | None = 1001, **profile: Any) -> None:
    """A user who has talked to the bot once and whose profile holds ``profile``."""
    engine.handle(Input.command(user, "menu"), chat_id=chat_id)
    if profile:
        with engine.store.atomic():
            save_answer(engine.store, user, engine.clock().isoformat(), **profile)
            reschedule(engine.store, user, engine.clock())


def rows(engine: Engine, user: str = USER) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in schedule_rows(engine.store, user)}


def send_due(engine: Engine, now: datetime | None = None, channel: str = "tg") -> list[Claimed]:
    """What a tick would claim and send right now (without Telegram)."""
    now = now or engine.clock()
    claimed = claim_due(engine.store, now, 1000, new_token(), channel)
    for nudge in claimed:
        assert mark_sending(engine.store, nudge, now) and mark_sent(engine.store, nudge, now)
    return claimed


def add_experience(store: Store, exp_id: int, end: str, letter: str = "none", user: str = USER) -> None:
    with store.atomic():
        store.db.table("experiences").insert({
            "id": exp_id, "user_id": user, "type": "observership", "level": "non", "specialty": "Internal Medicine",
            "institution": "Mercy <Hospital>", "start": end, "end": end, "status": "planned", "letter": letter,
            "created_at": "2026-11-01", "updated_at": "2026-11-01",
        })


# -- the schedule ---------------------------------------------------------------------------------
def test_milestones_ahead_are_scheduled_in_the_users_morning(engine: Engine) -> None:
    join(engine, application="2029-09", timezone="Asia/Kolkata")
    got = rows(engine)
    assert list(got) == ["ms:secure", "ms:letters", "ms:apply"]  # groundwork is already open: plan only
    assert got["ms:secure"]["due_on"] == "2028-03-01"
    assert got["ms:secure"]["due_at"] == "2028-03-01T04:00:00+00:00"  # 09:30 in India
    assert {r["status"] for r in got.values()} == {"scheduled"}


def test_rescheduling_twice_changes_nothing(engine: Engine, clock: Clock) -> None:
    join(engine, application="2029-09", timezone="Asia/Kolkata")
    before = schedule_rows(engine.store, USER)
    clock.advance(days=3)
    reschedule(engine.store, USER, clock())
    assert schedule_rows(engine.store, USER) == before


def test_a_changed_application_date_moves_what_waits_and_never_touches_what_was_sent(
    engine: Engine, clock: Clock
) -> None:
    join(engine, application="2028-03", timezone="UTC")
    assert list(rows(engine)) == ["ms:letters", "ms:apply"]  # "secure" opened in Sep 2026
    clock.now = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    sent = send_due(engine)
    assert [n.key for n in sent] == ["ms:letters"]
    with engine.store.atomic():
        save_answer(engine.store, USER, clock().isoformat(), application="2029-09")
        reschedule(engine.store, USER, clock())
    got = rows(engine)
    assert got["ms:letters"]["status"] == "sent" and got["ms:letters"]["due_on"] == "2027-03-01"
    assert got["ms:apply"]["due_on"] == "2029-03-01"
    assert got["ms:secure"]["due_on"] == "2028-03-01"  # ahead again with the later date


def test_an_earlier_application_date_drops_windows_now_open(engine: Engine) -> None:
    join(engine, application="2029-09", timezone="UTC")
    with engine.store.atomic():
        save_answer(engine.store, USER, engine.clock().isoformat(), application="2027-09")
        reschedule(engine.store, USER, engine.clock())
    assert list(rows(engine)) == ["ms:apply"]  # the others are open or past: summarised in the plan


def test_a_user_without_a_time_zone_gets_utc_mornings(engine: Engine) -> None:
    join(engine, application="2029-09")
    assert rows(engine)["ms:secure"]["due_at"] == "2028-03-01T09:30:00+00:00"


def test_experiences_outreach_and_vetting_become_event_nudges(engine: Engine, clock: Clock) -> None:
    join(engine, timezone="UTC")
    add_experience(engine.store, 17, "2026-12")
    with engine.store.atomic():
        engine.store.db.table("outreach").insert({
            "id": 5, "user_id": USER, "contact": "Dr <i>Lee</i>", "sent_on": "2026-11-20", "status": "sent",
        })
        engine.store.db.table("programs").insert({"id": 9, "user_id": USER, "name": "Sunrise", "finished": 0})
        engine.store.db.table("program_answers").insert({
            "program_id": 9, "user_id": USER, "item_id": "x", "answer": "?", "answered_at": "2026-11-24T10:00:00",
        })
    engine.feature("nudges").on_changed(  # type: ignore[union-attr]
        Turn(USER, engine.store.load_session(USER), engine.store, engine.texts, clock(), engine),
        {"experiences"},
    )
    got = {k: r["due_on"] for k, r in rows(engine).items()}
    assert got == {"vt:9": "2026-11-29", "fu:5": "2026-11-30", "lt:17": "2026-12-25", "rf:17": "2027-01-01"}


def test_a_letter_asked_for_cancels_its_nudge(engine: Engine) -> None:
    join(engine, timezone="UTC")
    add_experience(engine.store, 17, "2026-12")
    reschedule(engine.store, USER, engine.clock())
    assert "lt:17" in rows(engine)
    with engine.store.atomic():
        engine.store.conn.execute("UPDATE experiences SET letter = 'asked' WHERE id = 17")
    reschedule(engine.store, USER, engine.clock())
    assert "lt:17" not in rows(engine) and "rf:17" in rows(engine)
    with engine.store.atomic():
        engine.store.conn.execute("DELETE FROM experiences WHERE id = 17")
    reschedule(engine.store, USER, engine.clock())
    assert rows(engine) == {}


def test_a_user_without_records_has_nothing_scheduled(engine: Engine) -> None:
    engine.handle(Input.command(USER, "settings"))  # no profile, experience, outreach or vetting rows
    reschedule(engine.store, USER, engine.clock())
    assert schedule_rows(engine.store, USER) == []


# -- the nudge's buttons ------------------------------------------------------------------------
def _sent_letter(engine: Engine, clock: Clock) -> Claimed:
    join(engine, timezone="UTC")
    add_experience(engine.store, 17, "2026-12")
    reschedule(engine.store, USER, clock())
    clock.now = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    [sent] = send_due(engine)
    assert sent.key == "lt:17"
    return sent


def test_done_is_recorded_once(chat: Chat, engine: Engine, clock: Clock) -> None:
    sent = _sent_letter(engine, clock)
    chat.press_data(f"n:d:{sent.id}")
    assert "Marked as done" in chat.text and chat.replies[0].replace
    assert "Mercy <Hospital>" in chat.text  # the nudge text stays, escaped in HTML
    assert "Mercy &lt;Hospital&gt;" in chat.replies[0].text
    assert rows(engine)["lt:17"]["answer"] == "done"
    chat.press_data(f"n:s:{sent.id}")
    assert "already answered" in chat.text
    assert "lt:17#1" not in rows(engine)


def test_snooze_brings_it_back_a_week_later_and_can_repeat(chat: Chat, engine: Engine, clock: Clock) -> None:
    sent = _sent_letter(engine, clock)
    chat.press_data(f"n:s:{sent.id}")
    assert "Snoozed" in chat.text and "Fri 01 Jan" in chat.text
    assert rows(engine)["lt:17#1"]["due_at"] == "2027-01-01T09:30:00+00:00"
    reschedule(engine.store, USER, clock())  # a reschedule keeps the snooze's day
    assert rows(engine)["lt:17#1"]["due_on"] == "2027-01-01"
    clock.now = datetime(2027, 1, 1, 9, 31, tzinfo=UTC)
    again = next(n for n in send_due(engine) if n.key == "lt:17#1")  # (the reflection is due too)
    chat.press_data(f"n:s:{again.id}")
    assert rows(engine)["lt:17#2"]["due_on"] == "2027-01-08"


def test_stop_these_mutes_that_kind_until_settings_say_otherwise(chat: Chat, engine: Engine, clock: Clock) -> None:
    join(engine, timezone="UTC")
    add_experience(engine.store, 17, "2026-12")
    add_experience(engine.store, 18, "2027-02")
    reschedule(engine.store, USER, clock())
    clock.now = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    [sent] = send_due(engine)
    chat.press_data(f"n:x:{sent.id}")
    assert "No more letter reminders" in chat.text
    assert not [k for k in rows(engine) if k.startswith("lt:") and rows(engine)[k]["status"] == "scheduled"]
    chat.send("/settings")
    assert "Stopped: letter reminders" in chat.text
    chat.press("All")
    assert rows(engine)["lt:18"]["status"] == "scheduled"


def test_nudge_buttons_only_work_for_their_owner(engine: Engine, clock: Clock) -> None:
    sent = _sent_letter(engine, clock)
    other = Chat(engine, "tg:2002")
    other.send("/menu")
    other.press_data(f"n:d:{sent.id}")
    assert "can't find that item" in other.text
    assert rows(engine)["lt:17"]["answer"] is None


def test_a_button_of_a_nudge_not_sent_yet_is_stale(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09")
    waiting = rows(engine)["ms:secure"]["id"]
    chat.press_data(f"n:d:{waiting}")
    assert "older message" in chat.text


# -- the terminal -------------------------------------------------------------------------------
def test_the_terminal_shows_due_nudges_when_the_user_next_writes(engine: Engine, clock: Clock) -> None:
    user = "term:amina"
    join(engine, user=user, chat_id=None, timezone="UTC")
    add_experience(engine.store, 17, "2026-12", user=user)
    add_experience(engine.store, 18, "2026-12", user=user)
    reschedule(engine.store, user, clock())
    assert {r["channel"] for r in rows(engine, user).values()} == {"term"}
    assert send_due(engine, datetime(2027, 6, 1, tzinfo=UTC)) == []  # the dispatcher leaves them alone
    assert due_replies(engine, user) == []
    clock.now = datetime(2026, 12, 25, 23, 30, tzinfo=UTC)  # late, but the user is here: show it
    [shown] = due_replies(engine, user)
    assert "Last week at Mercy" in shown.text and [b.data[:4] for b in shown.buttons[0]] == ["n:d:", "n:s:"]
    assert due_replies(engine, user) == []  # the other waits: one a day
    clock.advance(days=1)
    [second] = due_replies(engine, user)
    assert "Last week at Mercy" in second.text
    assert [r["status"] for r in rows(engine, user).values()].count("sent") == 2


def test_the_terminal_loop_prints_the_nudge_after_the_answer(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    import io

    from bot.terminal import Terminal

    join(engine, user="term:amina", chat_id=None, application="2029-09", timezone="UTC")
    clock.now = datetime(2028, 3, 1, 12, 0, tzinfo=UTC)
    out = io.StringIO()
    Terminal(engine, "amina", tmp_path, out=out).send("/help")
    printed = out.getvalue()
    assert printed.index("How I can help") < printed.index("Next stage of your timeline")
    assert "[a] ✅ Done" in printed


# -- claiming and recovery ------------------------------------------------------------------------
def test_a_nudge_is_claimed_once(engine: Engine, clock: Clock) -> None:
    join(engine, application="2029-09")
    clock.now = datetime(2029, 3, 2, tzinfo=UTC)
    first = claim_due(engine.store, clock(), 10, new_token())
    assert [n.key for n in first] == ["ms:secure", "ms:letters", "ms:apply"]
    assert claim_due(engine.store, clock(), 10, new_token()) == []
    assert {r["status"] for r in rows(engine).values()} == {"claimed"}  # held, not yet on their way


def test_a_lost_claim_cannot_be_marked(engine: Engine, clock: Clock) -> None:
    join(engine, application="2029-09")
    clock.now = datetime(2028, 3, 1, 10, tzinfo=UTC)
    [nudge] = claim_due(engine.store, clock(), 10, new_token())
    recover(engine.store, clock() + timedelta(hours=1), timedelta(minutes=5))  # another process took it back
    assert not mark_sending(engine.store, nudge, clock())
    assert not mark_sent(engine.store, nudge, clock())


def test_restart_recovery_resends_unattempted_and_drops_in_doubt(engine: Engine, clock: Clock) -> None:
    join(engine, application="2029-09")
    clock.now = datetime(2029, 3, 2, tzinfo=UTC)
    claimed = claim_due(engine.store, clock(), 10, new_token())
    assert mark_sending(engine.store, claimed[0], clock())  # crashed while its request was out
    # A running process leaves another's claims alone until its lease is over ...
    assert recover(engine.store, clock() + timedelta(minutes=2), timedelta(minutes=5)) == (0, 0)
    # ... and a process starting up, which holds none, takes every one back at once.
    assert recover(engine.store, clock() + timedelta(seconds=2), None) == (2, 1)
    got = rows(engine)
    assert got["ms:secure"]["status"] == "failed" and "in doubt" in got["ms:secure"]["error"]
    assert got["ms:letters"]["status"] == got["ms:apply"]["status"] == "scheduled"
    again = send_due(engine, clock() + timedelta(minutes=1))
    assert sorted(n.key for n in again) == ["ms:apply", "ms:letters"]  # each sent once, secure never twice


def _file_db_with_due_nudges(path: Path, users: int) -> None:
    store = Store.open(path)
    engine = Engine(store, all_features())
    engine.migrate()
    now = "2026-11-25T00:00:00Z"
    with store.atomic():
        store.db.table("users").insert_all(
            {"user_id": f"tg:{i}", "chat_id": i, "first_seen": now, "last_seen": now} for i in range(users)
        )
        store.db.table("nudges").insert_all(
            {"user_id": f"tg:{i}", "key": f"ms:{k}", "kind": "milestone", "channel": "tg", "status": "scheduled",
             "due_on": "2026-11-24", "due_at": f"2026-11-24T0{k}:00:00Z", "expires_on": "2026-12-24", "args": "{}"}
            for i in range(users) for k in range(3)
        )
    store.close()


def test_two_processes_claiming_at_once_never_share_a_nudge(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _file_db_with_due_nudges(path, 200)
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    got: dict[str, list[int]] = {"a": [], "b": []}
    together = threading.Barrier(2)

    def claimer(name: str) -> None:
        store = Store.open(path)  # its own connection, as another process would have
        for _ in range(50):  # 50 rounds of 7 each is more than the 600 rows
            together.wait()  # both claim at the same moment, every round
            got[name].extend(n.id for n in claim_due(store, now, 7, new_token()))
        store.close()

    threads = [threading.Thread(target=claimer, args=(name,)) for name in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got["a"] and got["b"], "both claimers should have won some rows"
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 600 == len(set(got["a"]) | set(got["b"]))


def test_the_claim_is_an_index_range_scan(engine: Engine) -> None:
    plan = engine.store.conn.execute(
        "EXPLAIN QUERY PLAN " + CLAIM_PLAN_SQL, {"channel": "tg", "until": until(engine.clock()), "limit": 10}
    ).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert detail.startswith("SEARCH nudges USING COVERING INDEX nudges_due (status=? AND channel=? AND due_at<?)")
    assert "SCAN" not in detail
    assert "TEMP B-TREE" not in detail  # ordered by the index itself


def test_erasing_a_user_erases_their_nudges_and_settings(chat: Chat, engine: Engine) -> None:
    join(engine, application="2029-09")
    chat.send("/settings")
    chat.press("Pause")
    assert {"nudges", "nudge_settings"} <= set(engine.store.user_tables())
    engine.store.delete_user(USER)
    assert rows(engine) == {}
    assert engine.store.conn.execute("SELECT count(*) FROM nudge_settings").fetchone()[0] == 0


def test_the_cli_previews_a_users_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    path = tmp_path / "coach.db"
    store = Store.open(path)
    engine = Engine(store, all_features())
    engine.migrate()
    join(engine, user="term:amina", chat_id=None, application="2029-09", timezone="Asia/Kolkata")
    store.close()
    monkeypatch.setenv("DATABASE_PATH", str(path))
    assert main(["nudges", "--user", "amina"]) == 0
    out = capsys.readouterr().out
    assert "zone Asia/Kolkata" in out and "2028-03-01 09:30 scheduled ms:secure" in out
    assert main(["nudges", "--user", "tg:404"]) == 1
    assert "No user tg:404" in capsys.readouterr().out


def test_every_text_the_feature_uses_exists() -> None:
    import re

    from flows.base.content import texts
    from flows.domain.nudges import AMOUNTS, KINDS, body
    from flows.domain.plan import load_milestones

    catalogue = texts()
    files = ("features/nudges", "features/settings", "domain/nudges")  # domain/nudges: the words of a nudge
    source = "".join(Path(f"flows/{name}.py").read_text(encoding="utf-8") for name in files)
    static = set(re.findall(r'"((?:nudges|settings)\.[a-z_]+)"', source)) - {"nudges.yaml"}
    dynamic = {f"nudges.{p}{k}" for k in KINDS for p in ("kind_", "one_")}
    dynamic |= {f"nudges.answer_{a}" for a in ("done", "snoozed", "stopped")}
    dynamic |= {f"settings.{p}{a}" for a in AMOUNTS for p in ("amount_", "button_amount_")}
    dynamic |= {f"nudges.why.{m.id}" for m in load_milestones()}
    missing = sorted(k for k in static | dynamic if k not in catalogue)
    assert not missing
    examples: dict[str, dict[str, Any]] = {
        "letter": {"place": "Mercy"}, "reflection": {"place": "Mercy"}, "followup": {"contact": "Dr Lee", "days": 10},
        "vetting": {"program": "Sunrise", "count": 2},
    }
    for kind, args in examples.items():
        assert body(catalogue, kind, args) != catalogue["nudges.generic"], kind
    for m in load_milestones():
        text = body(catalogue, "milestone", {"m": m.id, "student": 1})
        assert m.title in text and "Why now" in text


def test_something_due_today_after_the_morning_waits_for_tomorrow_morning(engine: Engine, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # in the last week of November, afternoon
    join(engine, timezone="Asia/Kolkata")
    add_experience(engine.store, 17, "2026-11")
    reschedule(engine.store, USER, clock())
    row = rows(engine)["lt:17"]
    assert (row["due_on"], row["due_at"]) == ("2026-11-28", "2026-11-28T04:00:00+00:00")  # not mid-flow today
    clock.now = datetime(2026, 11, 28, 4, 0, 30, tzinfo=UTC)  # a change just after the slot, before the tick
    reschedule(engine.store, USER, clock())
    assert rows(engine)["lt:17"]["due_at"] == "2026-11-28T04:00:00+00:00"  # still sent this morning
    assert [n.key for n in send_due(engine)] == ["lt:17"]
