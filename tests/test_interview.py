from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.base.content import ContentError
from flows.engine.engine import Engine
from flows.features.interview import ANSWER_LIMIT, FLOW, Interview, load_questions, questions
from flows.storage.store import Store
from tests.chat import Chat

USER = "tg:1001"
GOOD = (
    "During my internal medicine observership in Chicago, a 67-year-old man came in with "
    "shortness of breath. My role was to follow his case and prepare a summary for rounds. "
    "I reviewed his chart each morning and presented a two-minute summary to the team. "
    "As a result, the attending asked me to lead the next teaching session."
)


def answers(store: Store, user: str = USER) -> list[dict[str, object]]:
    return list(store.db.table("interview_answers").rows_where("user_id = ?", [user], order_by="id"))


def test_the_guide_questions_are_there() -> None:
    texts = [q.text for q in questions().values()]
    assert "Tell me about your US clinical experience." in texts
    assert any("observership or externship" in t for t in texts)
    assert any("home country" in t for t in texts)
    assert len(texts) >= 5


def test_question_file_mistakes_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "interview.yaml"
    bad.write_text("questions:\n  - id: a\n    label: A\n    text: Q\n  - id: a\n    label: B\n    text: Q2\n")
    with pytest.raises(ContentError, match=r"interview\.yaml:5: duplicate id 'a'"):
        load_questions(bad)
    bad.write_text("questions:\n  - id: Not Ok\n    label: A\n    text: Q\n")
    with pytest.raises(ContentError, match="use a-z"):
        load_questions(bad)


def test_one_answer_ends_the_practice() -> None:
    dialog = Interview().practice
    assert dialog.first({}) == "answer" and dialog.next_of("answer", {}) == "done"


def test_practice_an_answer_and_get_star_feedback(chat: Chat, store: Store) -> None:
    chat.send("/interview")
    chat.press("Your US experience")
    assert "Tell me about your US clinical experience." in chat.text
    chat.send("I think the US is great.")
    assert "STAR check: 0/4" in chat.text
    for part in ("Situation", "Task", "Action", "Result"):
        assert f"{part} —" in chat.text, part
    assert "not a judge" in chat.text
    chat.press("Try again")
    chat.send(GOOD)
    assert "STAR check: 4/4" in chat.text and "All four parts" in chat.text
    saved = answers(store)
    assert len(saved) == 2 and saved[1]["answer"] == GOOD
    assert json.loads(str(saved[1]["feedback"]))["r"] == 1
    assert store.db.table("completions").count_where("flow = 'interview'") == 2
    chat.press("Saved answers")
    assert "4/4 · Your US experience" in chat.buttons[0].label
    chat.press("4/4")
    assert GOOD[:40] in chat.text


def test_bad_answers(chat: Chat, store: Store) -> None:
    chat.send("/interview")
    chat.press("A memorable patient")
    chat.send("")
    assert "type your answer" in chat.text
    chat.send(" \t ")
    assert answers(store) == []
    chat.send("<b>I</b> helped & <script>alert(1)</script> " + "x" * 4000)
    assert f"first {ANSWER_LIMIT:,} characters" in chat.text
    saved = answers(store)[0]["answer"]
    assert isinstance(saved, str) and len(saved) == ANSWER_LIMIT
    assert saved.startswith("<b>I</b> helped & <script>")
    chat.press("Saved answers")
    chat.press_data(chat.buttons[0].data)
    assert "&lt;b&gt;I&lt;/b&gt; helped &amp; &lt;script&gt;" in chat.replies[0].text
    assert "<b>I</b> helped & <script>" in chat.text


def test_commands_in_the_middle_and_continue(chat: Chat) -> None:
    chat.send("/interview")
    chat.press("Teamwork")
    chat.send("/letters")
    chat.press("Continue")
    assert "working in a team" in chat.text


def test_delete_a_saved_answer(chat: Chat, store: Store) -> None:
    chat.send("/interview")
    chat.press("Feedback you received")
    chat.send(GOOD)
    chat.press("Saved answers")
    chat.press("Feedback you received")
    chat.press("Delete")
    chat.press("Yes, delete")
    assert answers(store) == [] and "Nothing saved yet" in chat.text


def test_someone_elses_answer_is_private(engine: Engine, store: Store) -> None:
    owner, thief = Chat(engine, "tg:1"), Chat(engine, "tg:2")
    owner.send("/interview")
    owner.press("Teamwork")
    owner.send("secret answer")
    answer_id = answers(store, "tg:1")[0]["id"]
    for data in (f"iv:a:{answer_id}", f"iv:X:{answer_id}"):
        thief.press_data(data)
        assert "can't find" in thief.text and "secret" not in thief.text
    assert len(answers(store, "tg:1")) == 1


@pytest.mark.parametrize("data", ["iv:", "iv:q:", "iv:q:nope", "iv:a:x", "iv:X:", "iv:s:1", "iv:zz"])
def test_forged_interview_buttons(chat: Chat, data: str) -> None:
    chat.send("/start")
    chat.press_data(data)
    assert chat.route == "stale"


def test_a_saved_session_on_a_retired_question_recovers(chat: Chat, store: Store) -> None:
    chat.send("/start")
    session = store.load_session(USER)
    session.enter(FLOW, "answer", {"q": "retired"})
    store.save_session(session, chat.engine.clock())
    chat.send("an answer to a question that no longer exists")
    assert chat.route == "stale"
    assert answers(store) == []


def test_a_bare_skip_or_no_is_not_saved_as_an_answer(chat: Chat, store: Store) -> None:
    chat.send("/interview")
    chat.press("Teamwork")
    for text in ("skip", "no", "idk"):
        chat.send(text)
        assert answers(store) == [] and "isn't an answer I can check" in chat.text, text
    chat.send("I don't have a teamwork story yet, but in my elective I helped the night team.")
    assert len(answers(store)) == 1 and "STAR check" in chat.text
