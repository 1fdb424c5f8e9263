from __future__ import annotations

import pytest

from flows.engine.engine import Engine
from flows.features.letters import CODES, Letters, ask_now
from flows.storage import profiles as profile
from flows.storage.experiences import LETTERS, Experience
from flows.storage.store import Store
from tests.chat import Chat
from tests.factories import insert_experience

USER = "tg:1001"
NOV_2026 = 2026 * 12 + 10  # month index of the test clock's month



def add_experience(store: Store, user: str = USER, **fields: object) -> int:
    defaults: dict[str, object] = {
        "institution": "Mayo Clinic", "start": "2026-10", "end": "2026-11", "status": "ongoing",
    }
    return insert_experience(store, user, **{**defaults, **fields})


def letter_of(store: Store, exp_id: int) -> tuple[str, str | None]:
    row = store.db.table("experiences").get(exp_id)
    return row["letter"], row["letter_writer"]


def test_codes_cover_the_tracker_letter_states() -> None:
    assert set(CODES.values()) == set(LETTERS)
    assert Letters().writer.next_of("writer", {}) == "done"


def _exp(**fields: object) -> Experience:
    values: dict[str, object] = {
        "id": 1, "user_id": USER, "type": "elective", "level": "hands_on", "specialty": "IM",
        "institution": "X", "teaching": 1, "setting": None, "start": "2026-10", "end": "2026-11",
        "status": "ongoing", "letter": "none", "letter_writer": None, "created_at": "", "updated_at": "",
    }
    values.update(fields)
    return Experience(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),  # last month of the rotation, nothing asked yet
        ({"end": "2026-12"}, False),  # not yet
        ({"letter": "asked"}, False),
        ({"status": "done"}, False),
        ({"end": "garbage"}, False),
    ],
)
def test_ask_near_the_end_of_the_rotation(fields: dict[str, object], expected: bool) -> None:
    assert ask_now(_exp(**fields), NOV_2026) is expected


def test_letters_without_experiences_offers_the_tracker(chat: Chat) -> None:
    chat.send("/letters")
    assert "haven't logged an experience" in chat.text
    assert chat.button("Log an experience").data == "go:log"


def test_letter_status_is_shared_with_the_tracker(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    chat.send("/letters")
    assert "0</b> received" in chat.replies[0].text
    assert "ends this month" in chat.text
    chat.press("Internal Medicine Observership")
    chat.press("Asked")
    assert letter_of(store, exp_id) == ("asked", None)
    assert "Who is writing it" in chat.text
    chat.send("   ")
    assert "writer's name" in chat.text
    chat.send("Dr. <Shah> & partners")
    assert letter_of(store, exp_id) == ("asked", "Dr. <Shah> & partners")
    assert "Dr. <Shah> & partners" in chat.text
    assert "Dr. &lt;Shah&gt; &amp; partners" in chat.replies[-1].text
    chat.press("Received")
    assert letter_of(store, exp_id) == ("received", "Dr. <Shah> & partners")
    assert "Who is writing it" not in chat.text  # the writer is known already
    chat.press("Letters")
    assert "1</b> received" in chat.replies[0].text
    assert "ends this month" not in chat.text


def test_skip_the_writer_question(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    chat.press_data(f"lt:s:{exp_id}:p")
    chat.press("Skip")
    assert letter_of(store, exp_id) == ("promised", None)
    assert "Letter: 🤝 promised" in chat.text
    chat.send("Some text afterwards")
    assert letter_of(store, exp_id) == ("promised", None)  # no longer waiting for a name


def test_how_to_ask_and_the_note_for_the_writer(chat: Chat, store: Store) -> None:
    chat.send("/start")
    add_experience(store)
    profile.save_answer(store, USER, "x", specialties=["Internal Medicine", "Neurology"])
    chat.send("/letters")
    chat.press("How to ask")
    text = chat.text
    assert "near the end of the rotation" in text
    for item in ("CV", "personal statement", "ERAS ID", "specialties"):
        assert item in text, item
    for quality in ("clinically", "professionally", "communicate", "US students or residents"):
        assert quality in text, quality
    chat.press("Note for your writer")
    note = chat.replies[1].text
    assert note.startswith("<pre>") and "Internal Medicine, Neurology" in note and "[your ERAS ID]" in note
    assert "Dear Dr. [last name]," in note  # no writer known yet: a marked blank
    assert store.db.table("completions").count_where("flow = 'letters'") == 1


def test_the_note_greets_a_writer_already_named(chat: Chat, store: Store) -> None:
    chat.send("/start")
    add_experience(store, letter="promised", letter_writer="Dr. Priya Shah & co")
    chat.send("/letters")
    chat.press("How to ask")
    chat.press("Note for your writer")
    note = chat.replies[1].text
    assert "Dear Dr. Priya Shah &amp; co," in note and "[last name]" not in note


def test_someone_elses_experience_is_untouched(engine: Engine, store: Store) -> None:
    exp_id = add_experience(store, user="tg:1")
    thief = Chat(engine, "tg:2")
    for data in (f"lt:e:{exp_id}", f"lt:s:{exp_id}:r", f"lt:w:{exp_id}"):
        thief.press_data(data)
        assert "can't find" in thief.text, data
    assert letter_of(store, exp_id) == ("none", None)


@pytest.mark.parametrize("data", ["lt:", "lt:e:", "lt:e:x", "lt:s:1", "lt:s:1:z", "lt:l:9", "lt:q"])
def test_forged_letter_buttons(chat: Chat, store: Store, data: str) -> None:
    chat.send("/start")
    add_experience(store)
    chat.press_data(data)
    assert chat.route == "stale"


def test_a_rotation_still_ahead_cannot_have_a_received_letter(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store, start="2027-02", end="2027-03", status="planned", letter="promised",
                            letter_writer="Dr. Lee")
    chat.send("/letters")
    chat.press("Internal Medicine Observership")
    chat.press("Received")
    assert "starts in Feb 2027, so its letter can't have arrived yet" in chat.text
    assert letter_of(store, exp_id) == ("promised", "Dr. Lee")


def test_the_writer_step_takes_only_a_name_and_keeps_a_known_one(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    chat.press_data(f"lt:s:{exp_id}:a")
    for text in ("who should write it?", "idk", "x" * 200):
        chat.send(text)
        assert letter_of(store, exp_id) == ("asked", None), text
    assert "writer's name" in chat.text  # too long: refused, not cut
    chat.send("It's Dr. Lee")
    assert letter_of(store, exp_id) == ("asked", "Dr. Lee") and "Noted the writer as Dr. Lee" in chat.text
    chat.press("Writer's name")
    assert "Your answer now: Dr. Lee" in chat.text
    chat.press("Keep")
    assert letter_of(store, exp_id) == ("asked", "Dr. Lee") and "Writer: Dr. Lee" in chat.text
