"""Logging, listing, editing and deleting experiences, as a user would; /progress and the flow tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.base.content import texts
from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.features.log import CHOICES, EDIT, LOG, Tracker
from flows.storage import profiles as profile_module
from flows.storage.experiences import get_draft, list_experiences, month_index, month_str, parse_month
from flows.storage.store import Store
from tests.chat import Chat, Clock

USER = "tg:1001"


def experiences(store: Store, user: str = USER) -> list[dict[str, object]]:
    return list(store.db.table("experiences").rows_where("user_id = ?", [user], order_by="id"))


def log_until_status(chat: Chat, kind: str, institution: str, start: str, end: str) -> None:
    """/log from the start up to the status question."""
    chat.send("/log")
    if any("Start over" in b.label for b in chat.buttons):
        chat.press("Start over")
    chat.press(kind)
    chat.press("✓")  # keep the suggested level
    chat.send("Internal Medicine")
    chat.send(institution)
    chat.press("Teaching hospital")
    chat.press("Both")
    chat.send(start)
    chat.send(end)


def log_one(
    chat: Chat,
    kind: str = "Externship",
    institution: str = "St. Mary",
    start: str = "03/2026",
    end: str = "04/2026",
    status: str = "Done",
    letter: str = "Received",
    writer: str | None = "Dr. Rivera",
) -> None:
    log_until_status(chat, kind, institution, start, end)
    chat.press(status)
    chat.press(letter)
    if letter != "No letter":
        chat.send(writer) if writer else chat.press("Skip")


# -- logging ---------------------------------------------------------------------------------------
def test_a_rotation_still_ahead_cannot_be_done_nor_bring_a_received_letter(chat: Chat, store: Store) -> None:
    log_until_status(chat, "Externship", "St. Mary", "03/2027", "04/2027")
    chat.press("Done")
    assert "It starts in Mar 2027, so it can't be done yet" in chat.text
    assert store.load_session(USER).state == "status"
    chat.press("Planned")
    chat.press("Received")
    assert "a letter can't have arrived yet" in chat.text and store.load_session(USER).state == "letter"
    chat.press("Promised")
    assert experiences(store)[0]["status"] == "planned" and experiences(store)[0]["letter"] == "promised"


def test_log_a_whole_experience(chat: Chat, store: Store) -> None:
    log_one(chat)
    assert "Logged!" in chat.text
    assert "Externship · Internal medicine" in chat.text
    assert "Mar 2026 – Apr 2026 (2 months)" in chat.text
    assert "Received — Dr. Rivera" in chat.text
    [exp] = list_experiences(store, USER)
    assert (exp.type, exp.level, exp.institution, exp.teaching, exp.setting) == (
        "externship", "hands_on", "St. Mary", 1, "both")
    assert (exp.start, exp.end, exp.status, exp.letter, exp.letter_writer) == (
        "2026-03", "2026-04", "done", "received", "Dr. Rivera")
    assert store.db.table("completions").count_where("user_id = ? AND flow = 'log'", [USER]) == 1
    assert store.load_session(USER).flow is None


def test_level_follows_the_type_and_can_be_changed(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Observership")
    assert "Not hands-on" in chat.text
    assert chat.button("✓").data == "tr:~l:level:a:non"
    # the guide's hierarchy is a ceiling: an observership cannot be marked more hands-on
    assert [b.data for row in chat.replies[-1].buttons for b in row if ":a:" in b.data] == ["tr:~l:level:a:non"]
    chat.send("/cancel")
    chat.send("/log")
    chat.press("Start over")
    chat.press("Externship")
    chat.press("Semi-hands-on")  # less hands-on than the kind: allowed
    assert experiences(store)[-1]["level"] == "semi"


def test_no_letter_skips_the_writer_question(chat: Chat, store: Store) -> None:
    log_one(chat, letter="No letter")
    assert "Logged!" in chat.text
    assert list_experiences(store, USER)[0].letter == "none"


def test_writer_can_be_skipped(chat: Chat, store: Store) -> None:
    log_one(chat, letter="Promised", writer=None)
    [exp] = list_experiences(store, USER)
    assert (exp.letter, exp.letter_writer) == ("promised", None)


def test_month_buttons_and_status_guess(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Elective")
    chat.press("✓")
    chat.send("Pediatrics")
    chat.send("Mercy")
    chat.press("Not sure")
    chat.press("Inpatient")
    assert [b.label for b in chat.buttons] == [
        "Last month · Oct 2026", "This month · Nov 2026", "Next month · Dec 2026", "◀️ Back"]
    chat.press("Next month")
    chat.press("3 months")
    assert "guess <b>🗓 Planned</b>" in chat.replies[0].text
    chat.press("✓")
    row = experiences(store)[0]
    assert (row["start"], row["end"], row["status"], row["teaching"]) == ("2026-12", "2027-02", "planned", None)


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ("soon", "couldn't read"),
        ("13/2026", "couldn't read"),
        ("", "couldn't read"),
        ("03/1990", "more than 10 years ago"),
        ("2040-01", "more than 5 years away"),
        ("<b>x</b>" * 500, "couldn't read"),
    ],
)
def test_a_bad_start_month_is_asked_again_and_nothing_is_lost(chat: Chat, store: Store, answer: str,
                                                               complaint: str) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send("Surgery")
    chat.send("Mercy")
    chat.press("Not sure")
    chat.press("Both")
    chat.send(answer)
    assert complaint in chat.text
    assert chat.button("This month")  # the reason, with the step's buttons
    assert "<b>x</b>" not in chat.replies[0].text  # what was typed comes back escaped
    assert store.load_session(USER).state == "start"
    row = experiences(store)[0]
    assert (row["specialty"], row["institution"], row["setting"], row["draft"]) == (
        "General surgery", "Mercy", "both", "start")
    chat.send("march 2026")
    assert "which month does it end" in chat.text


def test_an_end_before_the_start_is_asked_again(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send("Surgery")
    chat.send("Mercy")
    chat.press("Not sure")
    chat.press("Both")
    chat.send("2026-05")
    chat.send("2026-03")
    assert "can't be before the start (May 2026)" in chat.text
    assert store.load_session(USER).state == "end"
    chat.send("06/26")
    assert experiences(store)[0]["end"] == "2026-06"


def test_an_empty_institution_is_asked_again_and_long_text_is_trimmed(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Observership")
    chat.press("✓")
    chat.send("Internal Medicine")
    chat.send("   \u200b\u0007  ")
    assert "can't be empty" in chat.text
    assert store.load_session(USER).state == "institution"
    chat.send("Hôpital <Saint> & \u202eLouis 😀 " + "x" * 4000)
    row = experiences(store)[0]
    assert str(row["institution"]).startswith("Hôpital <Saint> &  Louis 😀")
    assert len(str(row["institution"])) <= 100


def test_typed_choices_are_understood_and_nonsense_is_asked_again(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.send("observership")
    assert store.load_session(USER).state == "level"
    chat.send("hands-on")
    assert "counts as Not hands-on at most" in chat.text and store.load_session(USER).state == "level"
    chat.send("not hands-on")
    assert experiences(store)[0]["level"] == "non"
    chat.send("Neurology")
    chat.send("Mercy")
    chat.send("blah")
    assert "pick one of the buttons" in chat.text and chat.button("Not sure")
    chat.send("yes")
    assert experiences(store)[0]["teaching"] == 1


def test_html_typed_by_the_user_comes_back_escaped(chat: Chat) -> None:
    log_one(chat, institution="<i>Mercy</i> & Co")
    assert "&lt;i&gt;Mercy&lt;/i&gt; &amp; Co" in chat.replies[0].text
    chat.send("/experiences")
    assert "&lt;i&gt;Mercy&lt;/i&gt; &amp; Co" in chat.replies[0].text


def test_cancel_keeps_the_answers_and_log_offers_to_continue(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send("Family medicine")
    chat.send("/cancel")
    assert list_experiences(store, USER) == []  # drafts are invisible to readers
    chat.send("/log")
    assert "Externship · Family medicine" in chat.text
    chat.press("Continue it")
    assert "Which hospital" in chat.text
    chat.send("Mercy")
    assert store.load_session(USER).state == "teaching"
    chat.send("/log")
    chat.press("Start over")
    assert "what kind is it" in chat.text
    assert experiences(store) == []


def test_a_command_in_the_middle_then_continue(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.send("/experiences")
    assert "haven't logged" in chat.text and "in the middle of logging an experience" in chat.text
    chat.press("Continue")
    assert "counts as <b>✋ Hands-on</b>" in chat.replies[0].text


def test_an_old_step_button_is_stale_and_the_current_step_is_shown_again(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press_data("tr:~l:type:a:elective")
    assert chat.route == "stale"
    assert "older message" in chat.text and "counts as" in chat.text
    assert experiences(store)[0]["type"] == "externship"
    chat.press_data("tr:~l:level:a:bogus")
    assert chat.route == "stale" and experiences(store)[0]["level"] == "hands_on"


def test_the_unfinished_log_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = Engine(Store.open(path), all_features(), clock=Clock())
    first.migrate()
    chat = Chat(first)
    chat.send("/log")
    chat.press("Scribe")
    chat.press("✓")
    first.store.close()
    second = Engine(Store.open(path), all_features(), clock=Clock())
    second.migrate()
    chat = Chat(second)
    chat.send("/start")
    chat.press("Continue")
    assert "Which specialty" in chat.text
    chat.send("Psychiatry")
    assert get_draft(second.store, USER) is not None
    assert get_draft(second.store, USER)["specialty"] == "Psychiatry"  # type: ignore[index]


def test_back_in_log_keeps_the_answers_and_a_later_start_moves_the_end(chat: Chat, store: Store) -> None:
    log_until_status(chat, "Externship", "St. Mary", "03/2026", "04/2026")
    chat.send("back")
    assert store.load_session(USER).state == "end" and "Your answer now: Apr 2026" in chat.text
    chat.press("Back")
    chat.send("June 2026")  # after the end (Apr): the end moves along, two months as before
    row = experiences(store)[0]
    assert (row["start"], row["end"], row["draft"]) == ("2026-06", "2026-07", "end")
    assert "Your answer now: Jul 2026" in chat.text
    chat.send("keep")
    assert store.load_session(USER).state == "status"


def test_the_plans_specialties_are_buttons(chat: Chat, store: Store) -> None:
    profile_module.migrations.apply(store.db)
    chat.send("/start")
    profile_module.save_answer(store, USER, "2026-11-25", specialties=["Physical Medicine and Rehabilitation"])
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    assert "pick one of yours" in chat.text
    chat.press("Physical Medicine")
    assert experiences(store)[0]["specialty"] == "Physical Medicine and Rehabilitation"


def test_typed_words_for_choices_and_for_no_writer(chat: Chat, store: Store) -> None:
    chat.send("/log")
    chat.send("sub")  # the one label it starts
    assert experiences(store)[0]["type"] == "subi"
    chat.send("semi")
    chat.send("Surgery")
    chat.send("Mercy")
    chat.send("idk")
    chat.send("inpatient")
    chat.send("this month")
    chat.send("2 months")
    chat.send("ongoing")
    chat.send("asked")
    chat.send("nobody")
    assert "Logged!" in chat.text
    [exp] = list_experiences(store, USER)
    assert (exp.type, exp.level, exp.teaching, exp.setting, exp.start, exp.end, exp.status, exp.letter,
            exp.letter_writer) == ("subi", "semi", None, "inpatient", "2026-11", "2026-12", "ongoing", "asked", None)


def test_a_draft_started_by_the_vetting_check_continues_where_it_waits(chat: Chat, store: Store) -> None:
    chat.send("/start")
    store.db.table("experiences").insert({"user_id": USER, "type": "externship", "level": "hands_on",
                                          "institution": "Sunrise", "teaching": 1, "draft": "specialty"})
    chat.send("/log")
    chat.press("Continue it")
    assert "Which specialty" in chat.text
    chat.send("Pediatrics")
    assert "Your answer now: Sunrise" in chat.text
    chat.send("keep")
    assert "Your answer now: Teaching hospital" in chat.text and store.load_session(USER).state == "teaching"


# -- /progress ---------------------------------------------------------------------------------------
def test_progress_with_nothing_logged(chat: Chat) -> None:
    chat.send("/progress")
    assert "❌ Any USCE: 0 months" in chat.text
    assert "Log your first US experience" in chat.text
    assert chat.button("Log experience").data == "go:log"


def test_progress_without_a_profile_shows_totals_and_what_it_cannot_judge(chat: Chat) -> None:
    log_one(chat)
    chat.send("/progress")
    assert "✅ Any USCE: 2 months" in chat.text
    assert "✅ Hands-on, recent: 2 months — competitive" in chat.text
    assert "don't know when you apply" in chat.text
    assert "❔ In your specialty: tell me your target specialty" in chat.text
    if "plan" in chat.engine.command_names:
        assert chat.button("Set my goals").data == "go:plan"


def test_progress_against_the_profile(chat: Chat, store: Store) -> None:
    profile_module.migrations.apply(store.db)
    chat.send("/start")
    profile_module.save_answer(store, USER, "2026-11-25", application="2027-09",
                               specialties=["Internal Medicine"], status="graduate")
    log_one(chat, start="2026-01", end="2026-01")
    log_one(chat, kind="Observership", start="2027-01", end="2027-10", status="Planned", letter="No letter")
    chat.send("/progress")
    text = chat.text
    assert "Apply Sep 2027 → Match 2028" in text
    assert "✅ Any USCE: 1 month secured + 8 months planned" in text
    assert "❌ Hands-on, recent: 1 month" in text
    assert "✅ Recent, in Internal medicine: 1 month secured + 8 months planned" in text
    assert "🔜 Observerships as your main USCE: 0 months secured + 8 months planned" in text
    assert "✅ US letters: 1 received, 0 on the way" in text
    assert "2 months fall in or after your application month" in text
    assert "planned experiences would meet the benchmarks" in text


# -- parts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("03/2026", "2026-03"), ("3/26", "2026-03"), ("2026-03", "2026-03"), ("2026/3", "2026-03"),
        ("March 2026", "2026-03"), ("mar 26", "2026-03"), ("Mar '26", "2026-03"), ("sept. 2025", "2025-09"),
        ("12.2027", "2027-12"), ("this month", "2026-11"), ("Next  Month", "2027-00" and "2026-12"),
        ("last month", "2026-10"), ("2026 march", "2026-03"),
        ("13/2026", None), ("0/2026", None), ("1/1", None), ("marchy 2026", None), ("", None),
        ("hello", None), ("2026", None), ("٣/٢٠٢٦", "2026-03"), ("1" * 4000, None),
    ],
)
def test_parse_month(typed: str, month: str | None) -> None:
    parsed = parse_month(typed, month_index("2026-11"))
    assert (month_str(parsed) if parsed is not None else None) == month


def test_every_step_of_both_dialogs_is_reachable() -> None:
    for dialog in Tracker().dialogs:
        spec = dialog.spec()
        seen, todo = {spec.initial}, [spec.initial]
        while todo:
            state = todo.pop()
            for t in spec.transitions:
                if t["source"] == state and t["dest"] not in seen:
                    seen.add(t["dest"])
                    todo.append(t["dest"])
        assert seen == set(spec.states), spec.name


def test_the_letter_step_branches() -> None:
    logging = Tracker().logging
    assert logging.next_of("letter", {"letter": "none"}) == "done"
    assert logging.next_of("letter", {"letter": "asked"}) == "letter_writer"
    assert (logging.name, Tracker().editing.name) == (LOG, EDIT)  # the flow names stored sessions carry


def test_every_text_the_tracker_uses_exists() -> None:
    catalogue = texts()
    source = "".join(p.read_text() for p in (Path(__file__).parent.parent / "flows" / "features" / "log").glob("*.py"))
    source += (Path(__file__).parent.parent / "flows" / "domain" / "readiness.py").read_text()
    for key in set(re.findall(r'"(tracker\.[a-z_.]+[a-z_])"', source)):
        assert key in catalogue, key
    for field, codes in CHOICES.items():
        for code in codes:
            assert f"tracker.{field}.{code}" in catalogue
    for dialog in Tracker().dialogs:
        assert dialog.title in catalogue
        for step in dialog.steps:  # a prompt chosen by a hook names its keys in the source (above)
            assert callable(step.prompt) or step.prompt in catalogue, step.prompt
            assert not step.empty or step.empty in catalogue


def test_menu_has_the_tracker_entries(chat: Chat) -> None:
    chat.send("/menu")
    chat.press("My USCE")
    for label, data in (("Log experience", "go:log"), ("Experiences", "go:experiences"),
                        ("Progress", "go:progress"), ("Timeline", "go:timeline")):
        assert chat.button(label).data == data


def test_a_text_while_no_step_waits_is_not_swallowed(engine: Engine) -> None:
    session = engine.store.load_session("tg:9")
    session.enter("tracker_log", "nonsense", {})
    with engine.store.atomic():
        engine.store.save_session(session, engine.clock())
    outcome = engine.handle(Input.text("tg:9", "hello"))
    # a step the dialog no longer has: it starts again at its first step, and "hello" is no answer
    session = engine.store.load_session("tg:9")
    assert outcome.replies and "what kind is it" in outcome.replies[-1].text
    assert (session.flow, session.state) == ("tracker_log", "type") and experiences(engine.store, "tg:9") == []


@pytest.mark.parametrize(("typed", "stored"), [("family med", "Family medicine"), ("peds", "Pediatrics"),
                                               ("IM", "Internal medicine"), ("sports medicine", "sports medicine")])
def test_a_typed_specialty_is_stored_as_the_list_names_it(chat: Chat, store: Store, typed: str, stored: str) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send(typed)
    assert experiences(store)[0]["specialty"] == stored  # "sports medicine" is not Internal medicine


@pytest.mark.parametrize("typed", ["4 weeks", "3 months", "march 2026"])
def test_a_length_or_a_date_typed_at_the_specialty_is_not_stored_as_one(chat: Chat, store: Store, typed: str) -> None:
    chat.send("/log")
    chat.press("Externship")
    chat.press("✓")
    chat.send(typed)
    assert "not a specialty" in chat.text
    chat.send("peds")
    assert experiences(store)[0]["specialty"] == "Pediatrics"
