"""Free-text questions through the engine, and the ``usce-coach ask`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.engine.engine import Engine
from tests.chat import Chat


def test_a_typed_question_gets_the_answer_with_related_topics(chat: Chat) -> None:
    chat.send("how many montsh of usce do i need??")
    assert "How many months of USCE" in chat.text
    assert "2-4 months" in chat.text or "2–4 months" in chat.text
    assert any(b.data.startswith("q:a:") for b in chat.buttons), "related questions as buttons"


def test_related_topic_buttons_answer_for_the_asker(chat: Chat) -> None:
    chat.send("is a paid externship worth the money")
    assert "higher fee" in chat.text
    chat.press_data(chat.buttons[-1].data)
    assert chat.route == "faq:topic"
    assert chat.text.splitlines()[0].endswith("?")  # the entry's heading, then its answer


def test_a_graduates_profile_changes_the_answer(chat: Chat, engine: Engine) -> None:
    from flows.storage.profiles import save_answer

    chat.send("hi")  # the user exists from the first message on
    save_answer(engine.store, chat.user, "2026-12-03T10:00:00", status="graduate", grad_year=2014)
    chat.send("can i do us electives?")
    assert "As a graduate" in chat.text or "As a 2014 graduate" in chat.text
    assert "externships" in chat.text


def test_someone_struggling_gets_warmth_not_rotation_tips(chat: Chat, engine: Engine) -> None:
    chat.send("im feeling depressed about all this")
    assert chat.route == "faq:smalltalk:distress"
    assert "sorry" in chat.text.lower()
    assert "rotation" not in chat.text.lower() and "usce" not in chat.text.lower()
    assert engine.store.conn.execute("SELECT count(*) FROM unanswered").fetchone() == (0,)


def test_who_made_you_and_are_you_a_bot(chat: Chat) -> None:
    for text in ("who made you", "are you a bot?"):
        chat.send(text)
        assert chat.route == "faq:smalltalk:identity"
        assert "program, not a person" in chat.text
        assert "email" not in chat.text.lower()


def test_out_of_scope_is_declined_honestly_and_recorded(chat: Chat, engine: Engine) -> None:
    chat.send("what step 2 ck score do I need for neurosurgery")
    assert "not confident" in chat.text
    assert 2 <= len(chat.buttons) <= 3
    assert chat.route == "faq:declined"
    rows = engine.store.conn.execute("SELECT text, user_id FROM unanswered").fetchall()
    # linked to the asker, so /export shows it and /delete erases it (tests/test_unanswered.py)
    assert rows == [("what step 2 ck score do I need for neurosurgery", chat.user)]


def test_html_in_a_question_is_harmless(chat: Chat) -> None:
    chat.send("<script>alert(1)</script> & what is vslo?")
    for reply in chat.replies:
        assert "<script>" not in reply.text


def test_ask_inside_a_flow_answers_without_leaving_it(chat: Chat, engine: Engine) -> None:
    chat.send("/vet")
    flow = engine.store.load_session(chat.user).flow
    assert flow is not None
    chat.send("/ask what is vslo")
    assert "VSLO" in chat.text
    assert "Continue" in " ".join(b.label for b in chat.buttons)
    assert engine.store.load_session(chat.user).flow == flow


def test_bare_ask_inside_a_flow_does_not_steal_its_answers(chat: Chat, engine: Engine) -> None:
    chat.send("/vet")
    flow = engine.store.load_session(chat.user).flow
    chat.send("/ask")
    assert "/ask what is VSLO" in chat.text
    assert engine.store.load_session(chat.user).flow == flow


def test_menu_button_asks_then_answers(chat: Chat) -> None:
    chat.send("/menu")
    chat.press("Ask a question")
    assert "type your question" in chat.text.lower()
    chat.send("how do I write a cold email")
    assert chat.route == "faq:answered"


def test_unanswered_is_for_admins_only(engine: Engine) -> None:
    user, admin = Chat(engine, "tg:5"), Chat(engine, "tg:42")
    user.send("how much does the mayo clinic observership cost")
    user.send("/unanswered")
    assert "don't know the command" in user.text
    admin.send("/unanswered")
    assert "mayo clinic" in admin.text.lower()


def test_forged_faq_button_is_refused(chat: Chat) -> None:
    chat.press_data("q:a:../../nope")
    assert chat.route == "stale"


def test_ask_json_reads_questions_from_stdin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        input="what is vslo\nbest pizza in new york\nwhen do I ask for a LOR and what do I give them\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    first, second, third = (json.loads(line) for line in out)
    assert first["matched"] is True and first["ids"] and 0 < first["confidence"] <= 1
    assert first["text"].startswith("What is VSLO") and "VSLO" in first["text"]
    assert second["matched"] is False and second["ids"] == [] and "not confident" in second["text"]
    assert {"matched", "ids", "confidence", "text", "question", "cases", "smalltalk"} == set(first)
    assert "CV" in third["text"] and "end of the rotation" in third["text"]  # both halves answered


def test_ask_persona_answers_as_that_user(tmp_path: Path) -> None:
    persona = tmp_path / "grad.yaml"
    persona.write_text("today: 2026-12-03\nprofile:\n  status: graduate\n  graduation_year: 2015\n"
                       "  budget: limited\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--persona", str(persona), "how many months of usce do i need"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    result = json.loads(out)
    assert "older_graduate" in result["cases"] and "As a 2015 graduate" in result["text"]


def test_greetings_and_thanks_get_kindness_not_a_decline(chat: Chat, engine: Engine) -> None:
    chat.send("Hi!!")
    assert chat.route == "faq:smalltalk:greeting" and "not confident" not in chat.text
    assert any(b.data.startswith("go:") for b in chat.buttons)  # the menu comes with it
    chat.send("thank you 🙏")
    assert chat.route == "faq:smalltalk:thanks"
    chat.send("hi, what is vslo")  # a greeting inside a question is still the question
    assert chat.route == "faq:answered" and "VSLO" in chat.text
    assert engine.store.conn.execute("SELECT count(*) FROM unanswered").fetchone() == (0,)


def test_smalltalk_content_is_checked_at_load(tmp_path: Path) -> None:
    from flows.base.content import ContentError
    from flows.features.ask import load_smalltalk

    broken = tmp_path / "smalltalk.yaml"
    broken.write_text("greeting: [hi]\nthanks: [thanks]\nacknowledge: [ok]\ngoodbye: [hi]\nidentity: [who are you]\n"
                      "distress: [stressed]\n")
    with pytest.raises(ContentError, match="repeated"):
        load_smalltalk(broken)


def test_a_command_instead_of_the_awaited_question_just_moves_on(chat: Chat, engine: Engine) -> None:
    chat.send("/ask")
    chat.send("/help")
    assert "Continue where you left off" not in chat.text
    assert engine.store.load_session(chat.user).flow is None


def test_topic_buttons_never_repeat_the_answer(engine: Engine) -> None:
    for n, text in enumerate(["obs", "letter", "observership vs externship", "timeline", "what is vslo"]):
        chat = Chat(engine, f"tg:{100 + n}")
        chat.send(text)
        if chat.route != "faq:answered":
            continue
        topic_data = [b.data for b in chat.buttons if b.data.startswith("q:a:")]
        assert len(topic_data) == len(set(topic_data)) <= 4
        assert chat.text.splitlines()[0].endswith("?"), chat.text  # the heading


def test_distress_with_a_question_gets_warmth_then_the_answer(chat: Chat) -> None:
    chat.send("so stressed about all this. how many months of usce do i need?")
    assert chat.route == "faq:smalltalk:distress"
    texts = [r.text for r in chat.replies]
    assert "sorry" in texts[0].lower() and any("2-4 months" in t for t in texts)


def test_a_part_cut_short_in_a_two_part_answer_is_one_tap_away(chat: Chat) -> None:
    chat.send("what counts as usce and how many months of usce do i need?")
    assert "What counts as US clinical experience" in chat.text and "How many months" in chat.text
    assert "Non-hands-on" not in chat.text  # the list was cut to fit the screen
    assert "q:a:what_is_usce" in [b.data for b in chat.buttons]
