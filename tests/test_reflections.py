from __future__ import annotations

import pytest

from flows.engine.engine import Engine
from flows.features.reflect import ANSWER_LIMIT, FIELDS, Reflections
from flows.storage.reflections import specialty_choice
from flows.storage.store import Store
from tests.chat import Chat
from tests.factories import insert_experience

USER = "tg:1001"



def add_experience(store: Store, user: str = USER, **fields: object) -> int:
    defaults: dict[str, object] = {"type": "externship", "level": "hands_on", "specialty": "Family Medicine",
            "institution": "ABC Community Hospital", "setting": "outpatient", "start": "2026-09", "end": "2026-10"}
    return insert_experience(store, user, **{**defaults, **fields})


def rows(store: Store, user: str = USER) -> list[dict[str, object]]:
    return list(store.db.table("reflections").rows_where("user_id = ?", [user], order_by="id"))


def test_the_prompts_follow_one_another_and_back_goes_up_one() -> None:
    dialog = Reflections().questions
    state, seen = dialog.first({}), []
    while state != "done":
        seen.append(state)
        state = dialog.next_of(state, {})
    assert seen == list(FIELDS)
    assert [dialog.back_of(name, {}) for name in FIELDS] == [None, "cases", "skills", "choice"]


def test_a_full_reflection_is_saved_answer_by_answer(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Family Medicine Clinical Externship")
    assert "Key cases" in chat.text
    chat.send("A 54-year-old with <uncontrolled> diabetes & no insurance")
    assert rows(store)[0]["cases"] == "A 54-year-old with <uncontrolled> diabetes & no insurance"
    assert "Skills you learned" in chat.text
    chat.press("Skip")
    assert "specialty choice" in chat.text
    chat.send("It confirmed family medicine for me")
    chat.send("/outreach")  # an interruption: the answers so far are kept
    chat.press("Continue")
    assert "US and home" in chat.text
    chat.send("Much more documentation; nurses lead discharge teaching")
    assert "Reflection saved" in chat.text
    row = rows(store)[0]
    assert row["experience_id"] == exp_id and row["skills"] is None
    assert row["specialty_choice"] == "It confirmed family medicine for me"
    assert "&lt;uncontrolled&gt; diabetes &amp; no insurance" in chat.replies[-1].text
    assert store.db.table("completions").count_where("flow = 'reflection'") == 1
    assert specialty_choice(store, USER, exp_id) == "It confirmed family medicine for me"
    # Picking the same experience again opens the saved one instead of a duplicate.
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Family Medicine Clinical Externship")
    assert len(rows(store)) == 1 and "Started 2026-11-25" in chat.text


def test_edit_one_answer(chat: Chat, store: Store) -> None:
    chat.send("/start")
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Write one anyway")  # no experience logged: a general reflection
    chat.send("Case one")
    chat.send("/cancel")
    chat.send("/reflect")
    chat.press("General reflection")
    chat.press("✏️ Cases")
    assert "Right now it says" in chat.text and "Case one" in chat.text
    chat.send("Case one, told better")
    assert rows(store)[0]["cases"] == "Case one, told better"
    assert "Started" in chat.text  # back on the reflection, not the next prompt
    chat.press("✏️ Skills")
    assert "empty right now" in chat.text
    chat.press("Keep it as it is")
    assert rows(store)[0]["skills"] is None


def test_empty_long_and_html_answers(chat: Chat, store: Store) -> None:
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Write one anyway")
    chat.send("   \n ")
    assert "type a few words" in chat.text
    long = "<i>word</i> & " * 400  # 5,600 characters
    chat.send(long)
    assert f"first {ANSWER_LIMIT:,} characters" in chat.text
    saved = rows(store)[0]["cases"]
    assert isinstance(saved, str) and len(saved) == ANSWER_LIMIT and saved.startswith("<i>word</i> & ")
    for _ in range(3):
        chat.send("x" * 4000)
    chat.press_data(f"rf:f:{rows(store)[0]['id']}")
    assert "&lt;i&gt;word&lt;/i&gt; &amp;" in chat.replies[1].text
    assert "<i>word</i>" in chat.text


def test_export_and_delete(chat: Chat, store: Store) -> None:
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Write one anyway")
    chat.send("Kept for the export")
    assert store.export_user(USER)["reflections"][0]["cases"] == "Kept for the export"
    chat.send("/cancel")
    chat.send("/reflect")
    chat.press("General reflection")
    chat.press("Delete")
    chat.press("Yes, delete")
    assert rows(store) == [] and "Deleted" in chat.text


def test_a_deleted_experience_does_not_break_the_list(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    chat.press_data(f"rf:n:{exp_id}")
    chat.send("case")
    store.conn.execute("DELETE FROM experiences WHERE id = ?", (exp_id,))
    chat.send("/reflect")
    chat.press("no longer in your tracker")
    assert "Key cases" in chat.text


def test_someone_elses_reflection_is_untouched(engine: Engine, store: Store) -> None:
    owner, thief = Chat(engine, "tg:1"), Chat(engine, "tg:2")
    owner.send("/reflect")
    owner.press("New reflection")
    owner.press("Write one anyway")
    owner.send("mine")
    reflection_id = rows(store, "tg:1")[0]["id"]
    for data in (f"rf:v:{reflection_id}", f"rf:e:{reflection_id}:c", f"rf:X:{reflection_id}", f"rf:f:{reflection_id}"):
        thief.press_data(data)
        assert "can't find" in thief.text, data
    exp_id = add_experience(store, user="tg:1")
    thief.press_data(f"rf:n:{exp_id}")
    assert "can't find" in thief.text
    assert rows(store, "tg:2") == [] and rows(store, "tg:1")[0]["cases"] == "mine"


@pytest.mark.parametrize("data", ["rf:", "rf:v:", "rf:v:x", "rf:e:1:z", "rf:k:ca", "rf:k:", "rf:l:2", "rf:zz"])
def test_forged_reflection_buttons(chat: Chat, data: str) -> None:
    chat.send("/start")
    chat.press_data(data)
    assert chat.route in ("stale", "error:NotFound"), chat.route


def test_old_skip_button_from_an_earlier_prompt_is_stale(chat: Chat) -> None:
    chat.send("/reflect")
    chat.press("New reflection")
    chat.press("Write one anyway")
    chat.send("cases")
    chat.press_data("rf:~r:cases:k")  # the Skip under the first prompt
    assert chat.route == "stale" and "older message" in (chat.notice or "")
    assert chat.engine.store.load_session(chat.user).state == "skills"


def test_planned_experiences_are_not_offered_for_a_reflection(chat: Chat, store: Store) -> None:
    chat.send("/start")
    done_id = add_experience(store)
    planned_id = add_experience(store, specialty="Neurology", status="planned", start="2027-03", end="2027-04")
    chat.send("/reflect")
    chat.press("New reflection")
    offered = [b.data for b in chat.buttons]
    assert f"rf:n:{done_id}" in offered and f"rf:n:{planned_id}" not in offered
    chat.press_data(f"rf:n:{planned_id}")  # an old button from before the plan changed
    assert "hasn't started yet" in chat.text
    assert rows(store) == [] and chat.engine.store.load_session(USER).flow is None


def test_only_planned_experiences_says_so_and_still_allows_a_free_reflection(chat: Chat, store: Store) -> None:
    chat.send("/start")
    add_experience(store, status="planned", start="2027-03", end="2027-04")
    chat.send("/reflect")
    chat.press("New reflection")
    assert "haven't started yet" in chat.text
    chat.press("Write one anyway")
    assert "Key cases" in chat.text
