"""Questions the assistant could not answer: kept for content authors with obvious personal details
taken out, linked to the user who asked so /export shows them and /delete erases them; /privacy says
so; after /delete the user is greeted as new."""

from __future__ import annotations

import json

import pytest
from sqlite_utils import Database

from flows.base.types import Input
from flows.domain.scrub import scrub
from flows.engine.engine import Engine
from flows.storage import unanswered
from flows.storage.store import Store, core_migrations
from tests.chat import Chat

PRIVATE = "My name is Zed Quorum, passport K1234567, email zed.q@quorum.org, phone +44 20 7946 0958 — can you book me a flight to Paris?"  # noqa: E501
SECRETS = ["Zed", "Quorum", "K1234567", "zed.q@quorum.org", "7946", "0958"]


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        (PRIVATE, SECRETS, ["My name is [name]", "passport [id]", "[email]", "[phone]", "flight to Paris?"]),
        ("my name is dr. Rahul Verma from India, observership in 2027?", ["Rahul", "Verma"], ["from India", "2027"]),
        ("call me on 555.123.4567 or at 0049 30 1234567", ["555", "4567", "1234567"], ["[phone]"]),
        ("my roll number 20191234 and aadhaar 1234 5678 9012", ["20191234", "9012"], ["roll number"]),
        ("passport no AB1234567 expires 2027-05-01", ["AB1234567"], ["2027-05-01"]),
        ("write to @zed_quorum or t.me/zedq", ["zed_quorum", "zedq"], ["[handle]"]),
        ("Step 1 score 250 in 2025, application 2026-2027, NY 10027", [], ["250", "2025", "2026-2027", "10027"]),
        ("I'm called Fatima and I want US clinical experience", ["Fatima"], ["I want US clinical experience"]),
    ],
)
def test_obvious_personal_details_are_taken_out_and_the_question_stays(
    text: str, gone: list[str], kept: list[str]
) -> None:
    clean = scrub(text)
    for part in gone:
        assert part not in clean, f"{part!r} survived in {clean!r}"
    for part in kept:
        assert part in clean, f"{part!r} was lost from {clean!r}"


def _declined(engine: Engine, user: str, text: str) -> None:
    assert engine.handle(Input.parse(user, text), chat_id=int(user.split(":")[1])).route == "faq:declined"


def test_an_unanswered_question_is_kept_clean_exported_and_erased_with_its_user(engine: Engine) -> None:
    _declined(engine, "tg:5", PRIVATE)
    _declined(engine, "tg:6", "what is the best pizza in Paris, my name is Ann Other?")
    rows = engine.store.conn.execute("SELECT user_id, text FROM unanswered ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["tg:5", "tg:6"]
    assert not any(s in rows[0][1] for s in SECRETS) and "flight to Paris" in rows[0][1]

    admin = engine.handle(Input.parse("tg:42", "/unanswered")).replies[0].text  # what content authors see
    assert "flight to Paris" in admin and not any(s in admin for s in SECRETS) and "Ann Other" not in admin

    chat = Chat(engine, "tg:5")
    chat.send("/export")
    [attachment] = [r.attachment for r in chat.replies if r.attachment and r.attachment.filename.endswith(".json")]
    document = json.loads(attachment.content)
    [kept] = document["sections"]["unanswered"]["records"]
    assert "flight to Paris" in kept["text"] and "personal details taken out" in document["sections"]["unanswered"][
        "what_this_is"]

    chat.send("/delete")
    chat.press("Yes, erase")
    assert engine.store.conn.execute("SELECT user_id FROM unanswered").fetchall() == [("tg:6",)]


def test_privacy_says_exactly_how_unanswered_questions_are_kept(chat: Chat) -> None:
    chat.send("/privacy")
    chat.press_data("pv:i")  # what is kept, table by table
    text = chat.text
    assert "without your name or id" not in text  # what it used to claim
    for part in ("take out email addresses, phone numbers, long numbers", "“my name is”",
                 "linked to you", "/export includes them", "/delete erases them"):
        assert part in text, part


def test_questions_kept_before_are_cleaned_and_can_be_linked() -> None:
    db = Database(memory=True)
    Store(db).migrate([core_migrations])
    unanswered.m001_unanswered(db)  # the table as it was: text and time only
    db.execute("INSERT INTO unanswered (text, asked_at) VALUES (?, '2026-01-01T00:00:00+00:00')", (PRIVATE,))
    unanswered.m002_unanswered_owner(db)
    [(text, user_id)] = db.execute("SELECT text, user_id FROM unanswered").fetchall()
    assert user_id is None and not any(s in text for s in SECRETS)
    assert any(fk.other_table == "users" and fk.column == "user_id" for fk in db.table("unanswered").foreign_keys)


@pytest.mark.parametrize("between", [[], ["hi"], ["what is the best pizza?"], ["/help"], ["button"]])
def test_after_delete_the_user_is_greeted_as_new(engine: Engine, between: list[str]) -> None:
    chat = Chat(engine, "tg:9")
    chat.send("/start")
    chat.send("/plan")
    old_button = chat.buttons[0].data
    chat.send("/delete")
    chat.press("Yes, erase")
    for step in between:
        if step == "button":
            engine.handle(Input.button(chat.user, old_button))
        else:
            chat.send(step)
    chat.send("/start")
    assert "Welcome to USCE Coach" in chat.text
    assert "still here" not in chat.text


def test_a_returning_user_with_records_is_welcomed_back(engine: Engine) -> None:
    chat = Chat(engine, "tg:9")
    chat.send("/start")
    with engine.store.atomic():  # a conversation finished: a record about the user
        engine.store.record_completion(chat.user, "onboarding", engine.clock())
    chat.send("/start")
    assert "Welcome back" in chat.text
