"""Conversations with the externship check (/vet) and the saved programs (/programs): the
verdict, the list, changing answers, comparing, the tracker and the checklist's content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.base.content import ContentError, Texts
from flows.base.types import Input
from flows.domain.scoring import UNSURE
from flows.engine.engine import Engine
from flows.features.vet import load_checklist
from flows.storage.experiences import migrations as experience_migrations
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.vet_walk import COUNT, GOOD, ITEMS, answer, answers_of, features, program_rows, texts_in, walk

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Texts:
    return texts_in(tmp_path_factory.mktemp("texts"))


@pytest.fixture
def engine(store: Store, clock: Clock, catalogue: Texts) -> Engine:
    engine = Engine(store, features(), text_catalogue=catalogue, clock=clock)
    engine.migrate()
    experience_migrations.apply(store.db)  # the tracker's table, which "Add to tracker" writes
    return engine


# -- the walk ------------------------------------------------------------------------------


def test_a_whole_check_ends_with_a_verdict_and_the_questions_to_send(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    assert "What's the program called?" in chat.text
    chat.send("ABC Hospital IM externship")
    assert f"1/{COUNT}" in chat.text and "H&P" in chat.text
    assert "Written duties" in chat.text  # one line on why it matters
    unsure = {"workflow", "matched", "observe_fee"}
    for item in ITEMS:
        answer(chat, "u" if item.id in unsure else ("n" if item.id == "schedule" else GOOD[item.id]))
    assert "Promising — verify first" in chat.text
    assert "Missing: Sample weekly schedule" in chat.text
    assert "Confirmed: Defined clinical duties; Says it's hands-on" in chat.text
    assert "Not known yet: Residency-level workflow; Past participants matched" in chat.text
    assert "higher fee doesn't mean more value" in chat.text
    assert "my reading of your answers, not a score from the guide" in chat.text
    verdict, questions = chat.replies
    assert len(verdict.text) < 1200  # phone-sized
    assert "<pre>" in questions.text
    # a "No" to the schedule the guide says to ask for is a question too; the shared question of
    # "hands-on" and "mostly observing" is asked once
    asked = {"workflow", "matched", "schedule", "observe_fee"}
    asked_texts = {item.ask for item in ITEMS if item.id in asked}
    for item in ITEMS:
        assert (item.ask in chat.text) == (item.ask in asked_texts), item.id
    assert questions.text.count("how much of my time is patient care") == 1
    assert "1. Will I work within the team" in chat.text
    [row] = program_rows(store)
    assert (row["finished"], row["verdict"], row["name"]) == (1, "promising", "ABC Hospital IM externship")
    saved = answers_of(store, int(row["id"]))  # type: ignore[call-overload]
    assert {k for k, v in saved.items() if v == UNSURE} == unsure
    done = list(store.db.table("completions").rows_where("user_id = ?", ["tg:1001"]))
    assert [c["flow"] for c in done] == ["vet"]
    assert chat.engine.store.load_session("tg:1001").flow is None


def test_red_flags_are_named_in_the_verdict(chat: Chat) -> None:
    walk(chat, "Shiny Externships", {"guarantee": "y", "affiliation": "n"})
    assert "🔴 Avoid" in chat.text and "Red flags: Guarantees residency placement, interviews or a match" in chat.text
    assert "avoid programs that guarantee residency placement" in chat.text
    assert "Missing: Teaching-hospital or residency affiliation" in chat.text  # missing, not a red flag
    assert "Which teaching hospital or residency programs" in chat.text  # the guide says to ask for it


def test_all_good_answers_give_strong_with_no_question_list(chat: Chat) -> None:
    walk(chat, "Good Program")
    assert "Every sign confirmed" in chat.text
    assert len(chat.replies) == 1 and "Questions to send" not in chat.text


def test_buttons_under_the_questions_list_leave_it_in_the_chat(chat: Chat) -> None:
    walk(chat, "Keep My Questions", {"schedule": "u"})
    assert "Questions to send" in chat.replies[-1].text and chat.replies[-1].buttons
    verdict_buttons = {b.label: b.data for b in chat.buttons}
    for label, data in verdict_buttons.items():
        chat.press_data(data)
        assert not any(r.replace for r in chat.replies), label


def test_the_check_is_on_the_menu_and_behind_a_deep_link(chat: Chat) -> None:
    chat.send("/menu")
    chat.press("Externships")
    assert chat.button("Vet a program").data == "go:vet"
    assert chat.button("My programs").data == "go:programs"
    chat.send("/start vet")
    assert "What's the program called?" in chat.text
    chat.send("/help")
    assert "/vet" in chat.text and "/programs" in chat.text


def test_old_and_forged_buttons_are_refused(chat: Chat, store: Store) -> None:
    chat.send("/vet")
    chat.send("Mine")
    first_yes = next(b.data for b in chat.buttons if b.data.endswith(":y"))
    answer(chat, "y")
    chat.press_data(first_yes)  # the question before
    assert chat.route == "stale" and f"2/{COUNT}" in chat.text
    for data in ["vet:a:1:1:z", "vet:a:x:1:y", "vet:a:1:99:y", "vet:b:1", "vet:", "vet:zz:1", "vet:o:-1",
                 "vet:xx:1", "vet:i:1:999", "vet:o:" + "9" * 50]:
        chat.press_data(data)
        assert chat.route in ("stale", "error:NotFound"), data
    assert answers_of(store, 1) == {"duties": "y"}


def test_someone_elses_program_cannot_be_opened_or_changed(engine: Engine, store: Store) -> None:
    owner, other = Chat(engine, "tg:1"), Chat(engine, "tg:2")
    walk(owner, "Private Program")
    program_id = program_rows(store, "tg:1")[0]["id"]
    for action in ["o", "v", "e", "r", "d", "dd", "x", "t", "c"]:
        other.press_data(f"vet:{action}:{program_id}")
        assert "Private Program" not in other.text, action
        assert other.route == "error:NotFound", action
    other.press_data(f"vet:i:{program_id}:0")
    assert other.route == "error:NotFound"
    assert program_rows(store, "tg:1")[0]["name"] == "Private Program"


# -- keeping and comparing ------------------------------------------------------------------


def test_changing_an_answer_after_the_program_replies_updates_the_verdict(chat: Chat, store: Store) -> None:
    walk(chat, "Reply Later", {"evaluation": "u"})
    assert "Promising" in chat.text
    chat.send("/programs")
    chat.press("Reply Later")
    chat.press("Change answers")
    assert "Verdict now: 🟡 Promising" in chat.text
    chat.press("❓ Formal evaluation and letter opportunity")
    assert "Changing an answer" in chat.text and "Your answer so far: Not sure" in chat.text
    answer(chat, "y")
    assert "Verdict now: 🟢 Every sign confirmed" in chat.text
    assert program_rows(store)[0]["verdict"] == "strong"
    chat.press("See the verdict")
    assert "Every sign confirmed" in chat.text and "Questions to send" not in chat.text
    completions = list(store.db.table("completions").rows_where())
    assert len(completions) == 1  # the check was completed once, then changed


def test_back_while_changing_an_answer_returns_to_the_list(chat: Chat) -> None:
    walk(chat, "Undecided")
    chat.press("Change answers")
    chat.press("Sample weekly schedule")
    chat.press("Back")
    assert "tap an item to change its answer" in chat.text and chat.replies[0].replace
    chat.send("yes")  # no question is waiting any more
    assert "Yes, No or Not sure" not in chat.text


def test_rename_from_the_card(chat: Chat, store: Store) -> None:
    walk(chat, "Old Name")
    chat.send("/programs")
    chat.press("Old Name")
    chat.press("Rename")
    chat.send("")
    assert "I need a name" in chat.text
    chat.send("  New   Name ")
    assert "Renamed to New Name" in chat.text
    assert program_rows(store)[0]["name"] == "New Name"


def test_rename_can_keep_the_name_and_works_mid_way(chat: Chat, store: Store) -> None:
    walk(chat, "Kept Name")
    chat.send("/programs")
    chat.press("Kept Name")
    chat.press("Rename")
    assert "saved as Kept Name" in chat.text
    chat.press("Keep this name")
    assert "Vetted on" in chat.text and "Renamed" not in chat.text and chat.replies[-1].replace
    assert chat.engine.store.load_session(chat.user).flow is None
    chat.send("/vet")
    chat.send("Half Way")
    answer(chat, "y")
    chat.send("/programs")
    chat.press("Half Way")
    chat.press("Rename")
    chat.send("Whole Way")
    assert "Renamed to Whole Way" in chat.text
    chat.press("Continue")
    assert f"Whole Way · 2/{COUNT}" in chat.text


def test_side_by_side_comparison_is_one_line_per_item(chat: Chat) -> None:
    walk(chat, "Alpha")
    walk(chat, "Beta", {"duties": "n", "evaluation": "u", "guarantee": "y"})
    chat.send("/programs")
    chat.press("Alpha")
    chat.press("Compare")
    chat.press("Beta")
    lines = chat.text.splitlines()
    assert "A: Alpha — 🟢 Every sign confirmed" in lines and "B: Beta — 🔴 Avoid" in lines
    assert "✅ ❌ Defined clinical duties" in lines
    assert "✅ ❓ Formal evaluation and letter opportunity" in lines
    # a red flag: 🚩 shown, ➖ not shown — ✅ only ever means "has this good sign"
    assert "➖ 🚩 Guarantees residency placement, interviews or a match" in lines
    assert sum(1 for line in lines if line[:1] in "✅❌❓➖🚩") >= COUNT
    assert max(len(line) for line in lines) < 60
    assert [b.label for b in chat.buttons][:2] == ["↗️ A: Alpha", "↗️ B: Beta"]


def test_button_labels_show_names_as_typed(chat: Chat) -> None:
    walk(chat, "A&B <Clinic>")
    walk(chat, "Second")
    chat.send("/programs")
    assert "🟢 A&B <Clinic>" in [b.label for b in chat.buttons]
    chat.press("Second")
    chat.press("Compare")
    assert "🟢 A&B <Clinic>" in [b.label for b in chat.buttons]
    chat.press("A&B")
    assert "↗️ B: A&B <Clinic>" in [b.label for b in chat.buttons]


def test_comparing_needs_a_second_program(chat: Chat) -> None:
    walk(chat, "Lonely")
    chat.send("/programs")
    chat.press("Lonely")
    chat.press("Compare")
    assert "second program" in chat.text


def test_delete_asks_first_then_removes_the_answers(chat: Chat, store: Store) -> None:
    walk(chat, "Gone Soon")
    chat.send("/programs")
    chat.press("Gone Soon")
    chat.press("Delete")
    chat.press("Keep it")
    assert program_rows(store)
    chat.press("Delete")
    chat.press("Yes, delete")
    assert "Deleted Gone Soon" in chat.text and "haven't vetted" in chat.text
    assert program_rows(store) == [] and answers_of(store, 1) == {}


def test_a_user_erase_and_export_cover_both_tables(chat: Chat, store: Store) -> None:
    walk(chat, "Exported")
    exported = store.export_user("tg:1001")
    assert len(exported["programs"]) == 1 and len(exported["program_answers"]) == COUNT
    store.delete_user("tg:1001")
    assert program_rows(store) == [] and list(store.db.table("program_answers").rows) == []


def test_there_is_a_cap_on_saved_programs(chat: Chat, store: Store) -> None:
    chat.send("/start")
    for n in range(50):
        store.db.table("programs").insert(
            {"user_id": "tg:1001", "name": f"P{n}", "created_at": "x", "updated_at": "x", "finished": 1}
        )
    chat.send("/vet")
    chat.send("One Too Many")
    assert "already have 50" in chat.text
    assert len(program_rows(store)) == 50


# -- the tracker ----------------------------------------------------------------------------


def test_a_strong_program_goes_to_the_tracker_once(chat: Chat, store: Store) -> None:
    walk(chat, "Tracked Program")
    chat.press("Add to tracker")
    assert "started in your tracker as an externship" in chat.text and "the specialty, setting, dates" in chat.text
    assert chat.button("Finish it in /log").data == "go:log"
    [row] = list(store.db.table("experiences").rows)
    # only what the check knows; /log asks for the rest (nothing invented, nothing "Not set")
    assert (row["type"], row["level"], row["institution"], row["draft"]) == (
        "externship", "hands_on", "Tracked Program", "specialty")
    assert (row["start"], row["end"], row["specialty"], row["status"]) == (None, None, None, None)
    assert row["teaching"] == 1 and row["user_id"] == "tg:1001"
    chat.send("/programs")
    chat.press("Tracked Program")
    chat.press("Add to tracker")
    assert "already in your tracker" in chat.text
    assert len(list(store.db.table("experiences").rows)) == 1


def test_a_weak_program_is_not_offered_to_the_tracker(chat: Chat, store: Store) -> None:
    walk(chat, "Weak One", {"hands_on": "n"})
    assert "Weak" in chat.text and "Add to tracker" not in [b.label for b in chat.buttons]
    chat.press_data(f"vet:t:{program_rows(store)[0]['id']}")
    assert "no red flag and nothing essential missing" in chat.text
    assert list(store.db.table("experiences").rows) == []


# -- the flow and its content ---------------------------------------------------------------


def test_every_text_key_the_feature_uses_exists(catalogue: Texts) -> None:
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "flows" / "features" / "vet").glob("*.py"))
    keys = set(re.findall(r"[\"'](vetting\.[a-z_]+)[\"']", source))
    keys |= {f"vetting.level_{level}" for level in ("strong", "promising", "weak", "red_flags", "unfinished")}
    keys |= {f"vetting.answer_{code}" for code in "ynu"} | {f"vetting.reason_{c}" for c in
                                                           ("strong", "promising", "weak")}
    keys |= {f"vetting.avoid_{item.id}" for item in ITEMS if item.red_flag}
    assert len(keys) > 40
    assert [k for k in sorted(keys) if k not in catalogue] == []


def test_button_data_stays_short_for_big_ids(engine: Engine, store: Store) -> None:
    store.db.execute("INSERT INTO users (user_id, first_seen, last_seen) VALUES ('tg:1001', 'x', 'x')")
    store.db.table("programs").insert(
        {"id": 10**12 - 1, "user_id": "tg:1001", "name": "Big", "created_at": "x", "updated_at": "x", "finished": 1}
    )
    chat = Chat(engine)
    chat.send("/programs")
    chat.press("Big")
    chat.press("Change answers")  # building the buttons would raise over 64 bytes
    assert len(chat.buttons) == COUNT + 1


def test_a_checklist_mistake_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yaml"
    path.write_text(
        "checks:\n  - id: duties\n    label: Duties\n    question: Q?\n    why: W\n    ask: A?\n"
        "    essential: maybe\nred_flags: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError, match=r"checklist.yaml:7: 'essential' must be bool"):
        load_checklist(path)
    path.write_text("checks:\n  - id: a\n    label: L\n    weight: 1\nred_flags: []\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"checklist.yaml:2: missing 'question'"):
        load_checklist(path)


def test_the_checklist_texts_are_in_our_own_words() -> None:
    guide = (ROOT.parent / "shared" / "source" / "usce-guide.txt")
    if not guide.exists():
        pytest.skip("the guide is not beside the project")
    words = re.findall(r"[a-z0-9]+", guide.read_text(encoding="utf-8").lower())
    runs = {tuple(words[i : i + 10]) for i in range(len(words) - 9)}
    for path in (ROOT / "content" / "checklist.yaml", ROOT / "content" / "texts" / "vetting.yaml"):
        ours = re.findall(r"[a-z0-9]+", path.read_text(encoding="utf-8").lower())
        assert not [i for i in range(len(ours) - 9) if tuple(ours[i : i + 10]) in runs], path


def test_a_text_while_no_step_waits_is_not_swallowed(engine: Engine) -> None:
    outcome = engine.handle(Input.text("tg:5", "is this externship legit?"))
    assert outcome.route != "flow:vet"


