"""Changing, deleting and listing logged experiences, as a user would: each field from the card is
the /log dialog's own step, begun to change that one answer."""

from __future__ import annotations

from flows.engine.engine import Engine, Feature, Turn
from flows.features import all_features
from flows.storage.experiences import list_experiences
from flows.storage.store import Store
from tests.chat import Chat, Clock
from tests.test_tracker import USER, experiences, log_one


def open_card(chat: Chat) -> None:
    """Log the usual experience (an externship at St. Mary, Mar–Apr 2026) and open its card."""
    log_one(chat)
    chat.send("/experiences")
    chat.press("1. ")

def test_list_edit_a_choice_and_a_text_field(chat: Chat, store: Store) -> None:
    log_one(chat)
    chat.send("/experiences")
    assert "1. 🏥 Externship · Internal medicine — St. Mary, Mar 2026 – Apr 2026 ✅" in chat.text
    chat.press("1. ")
    chat.press("Status")
    assert chat.button("✓").data.endswith(":status:a:done")
    chat.press("Current")
    assert "Saved" in chat.text and "⏳ Current" in chat.text
    chat.press("Institution")
    chat.send("Mercy <General>")
    assert "Mercy &lt;General&gt;" in chat.replies[0].text
    assert store.load_session(USER).flow is None
    exp = list_experiences(store, USER)[0]
    assert (exp.status, exp.institution) == ("ongoing", "Mercy <General>")


def test_changing_the_type_resets_the_level(chat: Chat, store: Store) -> None:
    open_card(chat)
    chat.press("Type")
    chat.press("Observership")
    assert "level is now <b>👀 Not hands-on</b>" in chat.replies[0].text
    assert list_experiences(store, USER)[0].level == "non"


def test_editing_months(chat: Chat, store: Store) -> None:
    open_card(chat)  # Mar–Apr 2026
    chat.press("End")
    chat.send("01/2026")
    assert "can't be before the start" in chat.text
    chat.send("2026-06")
    assert list_experiences(store, USER)[0].end == "2026-06"
    chat.press("Start")
    chat.press("Next month")  # after the end: the end moves along, keeping 4 months
    assert "end moved to <b>Mar 2027</b>" in chat.replies[0].text
    exp = list_experiences(store, USER)[0]
    assert (exp.start, exp.end) == ("2026-12", "2027-03")


def test_the_letter_writer_can_be_removed(chat: Chat, store: Store) -> None:
    open_card(chat)
    chat.press("Letter writer")
    chat.press("Remove the name")
    assert list_experiences(store, USER)[0].letter_writer is None


def test_delete_asks_first(chat: Chat, store: Store) -> None:
    open_card(chat)
    chat.press("Delete")
    assert "can't be undone" in chat.text
    chat.press("Keep it")
    assert len(list_experiences(store, USER)) == 1
    chat.press("Delete")
    chat.press("Yes, delete")
    assert "Deleted" in chat.text and "haven't logged" in chat.text
    assert experiences(store) == []
    chat.press_data("tr:dy:1")
    assert "can't find" in chat.text


def test_someone_elses_records_and_forged_buttons(engine: Engine, store: Store) -> None:
    alice, mallory = Chat(engine, "tg:1"), Chat(engine, "tg:2")
    log_one(alice)
    exp_id = list_experiences(store, "tg:1")[0].id
    for data in (f"tr:e:{exp_id}", f"tr:f:{exp_id}:institution", f"tr:f:{exp_id}:status",
                 f"tr:d:{exp_id}", f"tr:dy:{exp_id}"):
        mallory.press_data(data)
        assert "can't find" in mallory.text, data
    for data in ("tr:", "tr:e:", "tr:e:abc", "tr:e:-1", "tr:e:99999999999999999999", "tr:zz",
                 f"tr:f:{exp_id}:../", f"tr:f:{exp_id}:evil", "tr:~e:institution:a:hack",
                 "tr:~e:start:a:2026-13", "tr:~e:status:a:gone", "tr:c", "tr:~l:type:a:elective"):
        alice.press_data(data)
        assert alice.route == "stale", data
    exp = list_experiences(store, "tg:1")[0]
    assert (exp.institution, exp.status) == ("St. Mary", "done")


class Spy(Feature):
    name = "spy"

    def __init__(self) -> None:
        self.seen: list[set[str]] = []

    def on_changed(self, turn: Turn, changed: set[str]) -> None:
        self.seen.append(set(changed))


def test_changes_are_announced_to_other_features(store: Store, clock: Clock) -> None:
    spy = Spy()
    engine = Engine(store, [*all_features(), spy], clock=clock)
    engine.migrate()
    chat = Chat(engine)
    chat.send("/log")
    chat.press("Externship")
    assert spy.seen == []  # a draft is nobody else's business
    log_one(chat)
    assert spy.seen == [{"experiences"}]
    chat.send("/experiences")
    chat.press("1. ")
    chat.press("Letter")
    chat.press("Asked")
    chat.press("Delete")
    chat.press("Yes")
    assert len(spy.seen) == 3


def test_changing_a_field_keeps_it_when_told_so(chat: Chat, store: Store) -> None:
    open_card(chat)
    chat.press("Institution")
    assert "Your answer now: St. Mary" in chat.text
    chat.send("back")  # not a name, and no step to go back to
    assert "tap Keep" in chat.text and store.load_session(USER).state == "institution"
    chat.send("keep")
    assert store.load_session(USER).flow is None and "Teaching?" in [b.label for b in chat.buttons]
    chat.press("Letter writer")
    chat.send("nobody")
    exp = list_experiences(store, USER)[0]
    assert (exp.institution, exp.letter_writer) == ("St. Mary", None)
    chat.press("Level")  # an externship may be marked less hands-on, never more
    assert [b.label for b in chat.buttons] == ["✓ Hands-on", "🤏 Semi-hands-on", "👀 Not hands-on", "Keep ⏭"]
    chat.press("Keep")
    assert store.load_session(USER).flow is None and list_experiences(store, USER)[0].level == "hands_on"


def test_a_change_begun_before_the_upgrade_ends_after_that_answer(chat: Chat, store: Store) -> None:
    log_one(chat)
    exp_id = list_experiences(store, USER)[0].id
    store.conn.execute("UPDATE users SET flow = 'tracker_edit', state = 'institution', data = ? WHERE user_id = ?",
                       (f'{{"id": {exp_id}}}', USER))
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_edit_sessions'")
    chat.engine.migrate()
    chat.send("Mercy")
    assert "Saved" in chat.text and store.load_session(USER).flow is None
    assert list_experiences(store, USER)[0].institution == "Mercy"


def test_button_data_stays_short(chat: Chat) -> None:
    open_card(chat)
    for button in chat.buttons:
        assert len(button.data.encode()) <= 30


def test_a_change_button_under_another_experiences_card_is_stale(chat: Chat, store: Store) -> None:
    log_one(chat)
    log_one(chat)
    first, second = (e.id for e in list_experiences(store, USER))
    chat.press_data(f"tr:f:{first}:status")
    old = chat.button("Current").data  # left under the first experience's change prompt
    chat.press_data(f"tr:f:{second}:status")
    chat.press_data(old)
    assert chat.route == "stale" and "older message" in (chat.notice or "")
    assert {e.id: e.status for e in list_experiences(store, USER)} == {first: "done", second: "done"}
