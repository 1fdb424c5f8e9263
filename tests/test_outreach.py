from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from flows.base.content import CONTENT_DIR, ContentError, texts
from flows.base.text import to_plain
from flows.domain import typed
from flows.domain.outreach import followup_days, is_followup_due, load_settings
from flows.engine.engine import Engine
from flows.features.email import (
    Counts,
    Outreach,
    count,
    email_draft,
    followups_due,
    load_role_words,
    parse_sent_date,
)
from flows.storage import experiences
from flows.storage import profiles as profile
from flows.storage.store import Store
from tests.chat import Chat, Clock

USER = "tg:1001"
TODAY = date(2026, 11, 25)  # the test clock's day


@pytest.fixture(autouse=True)
def shared_tables(engine: Engine, store: Store) -> None:
    """The profile and tracker tables, in case their features are not registered yet."""
    profile.migrations.apply(store.db)
    experiences.migrations.apply(store.db)


def set_profile(store: Store, **answers: object) -> None:
    store.conn.execute(
        "INSERT OR IGNORE INTO users (user_id, first_seen, last_seen) VALUES (?, 'x', 'x')", (USER,)
    )
    profile.save_answer(store, USER, "2026-11-01T00:00:00", **answers)


def outreach_rows(store: Store) -> list[dict[str, object]]:
    return list(store.db.table("outreach").rows_where("user_id = ?", [USER], order_by="id"))


# -- pure helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", TODAY),
        (" Yesterday ", date(2026, 11, 24)),
        ("3 days ago", date(2026, 11, 22)),
        ("2026-11-20", date(2026, 11, 20)),
        ("20.11.2026", date(2026, 11, 20)),
        ("2026-02-30", None),
        ("31.02.2026", None),
        ("last tuesday", None),
        ("", None),
        ("<b>2026</b>", None),
        ("9" * 4000, None),
    ],
)
def test_parse_sent_date(text: str, expected: date | None) -> None:
    assert parse_sent_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("row", "due"),
    [
        ({"status": "sent", "sent_on": "2026-11-15", "followed_up_on": None}, True),  # 10 days
        ({"status": "sent", "sent_on": "2026-11-16", "followed_up_on": None}, False),  # 9 days
        ({"status": "replied", "sent_on": "2026-10-01", "followed_up_on": None}, False),
        ({"status": "sent", "sent_on": "2026-10-01", "followed_up_on": "2026-10-12"}, False),
        ({"status": "sent", "sent_on": None, "followed_up_on": None}, False),
        ({"status": "sent", "sent_on": "garbage", "followed_up_on": None}, False),
    ],
)
def test_followup_due_after_the_content_number_of_days(row: dict[str, object], due: bool) -> None:
    assert followup_days() == 10
    assert is_followup_due(row, TODAY, followup_days()) is due


@pytest.mark.parametrize(
    ("statuses", "rate"),
    [
        ([], None),
        (["sent"] * 19 + ["replied"], 5),
        (["sent", "declined", "accepted", "replied"], 75),
    ],
)
def test_response_rate_counts_any_answer(statuses: list[str], rate: int | None) -> None:
    counts = count(statuses)
    assert counts.total == len(statuses)
    assert counts.rate == rate


def test_counts_answered() -> None:
    assert Counts(10, 1, 2, 3).answered == 6


def test_settings_name_the_file_and_line_on_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "outreach.yaml"
    bad.write_text("followup_days: 0\nexpected_response_rate: 10\ntypical_volume: 100\npage_size: 8\n")
    with pytest.raises(ContentError, match=r"outreach\.yaml:1: 'followup_days' must be at least 1"):
        load_settings(bad)
    bad.write_text("followup_days: ten\n")
    with pytest.raises(ContentError, match="must be int"):
        load_settings(bad)


def test_role_words_name_the_file_on_mistakes(tmp_path: Path) -> None:
    assert "attending" in load_role_words()["f"]
    bad = tmp_path / "outreach.yaml"
    source = (CONTENT_DIR / "outreach.yaml").read_text(encoding="utf-8")
    bad.write_text(source.replace("  faculty:", "  dean: [dean]\n  faculty:"))
    line = bad.read_text().splitlines().index("  dean: [dean]") + 1
    with pytest.raises(ContentError, match=rf"outreach\.yaml:{line}: 'role_words' takes only program_director"):
        load_role_words(bad)


def test_email_draft_follows_the_guide_pattern() -> None:
    student = profile.Profile(USER, status="student", student_year=5, grad_year=2027)
    draft = to_plain(
        email_draft(texts(), name="Asha Rao", school="AIIMS <Delhi>", specialty="Internal Medicine",
                    purpose="observership", profile=student)
    )
    first_line = draft.splitlines()[0]
    assert first_line == "Subject: Prospective Observership – IMG Interested in Internal Medicine – Asha Rao"
    assert "fifth-year medical student at AIIMS <Delhi>" in draft  # no date: the year as a word
    assert "2027" in draft
    final = to_plain(email_draft(texts(), name="Asha Rao", school="AIIMS", specialty="IM", purpose="observership",
                                 profile=student, today=date(2026, 12, 3)))
    assert "I am a final-year medical student at AIIMS" in final and "year-" not in final
    assert "[Why you:" in draft
    assert "CV" in draft


def test_email_draft_without_profile_leaves_brackets() -> None:
    draft = email_draft(texts(), name="A", school="B", specialty="C", purpose="research", profile=None)
    assert "[student / graduate]" in draft and "[year]" in draft


def test_the_email_asks_only_what_it_lacks_and_back_goes_up_one() -> None:
    dialog = Outreach().drafting
    assert dialog.first({"ask": ()}) == "purpose"
    assert dialog.first({"ask": ("specialty",)}) == "specialty"
    assert dialog.next_of("name", {"ask": ("name", "specialty")}) == "specialty"
    assert dialog.back_of("specialty", {"ask": ("name", "specialty")}) == "name"
    assert dialog.back_of("purpose", {"ask": ()}) is None
    assert dialog.next_of("purpose", {}) == "done"
    adding = Outreach().adding
    assert [s.name for s in adding.steps] == ["contact", "role", "institution", "sent_on"]


# -- conversations -----------------------------------------------------------------------------
def test_apply_menu_lists_every_helper(chat: Chat) -> None:
    chat.send("/menu")
    chat.press("Applications")
    labels = [b.label for b in chat.buttons]
    for name in ("Cold email", "Outreach log", "Letters", "Reflections", "ERAS", "Interview"):
        assert any(name in label for label in labels), name


def test_cold_email_asks_name_and_school_once(chat: Chat, store: Store) -> None:
    chat.send("/start")
    set_profile(store, status="graduate", grad_year=2021, specialties=["Internal Medicine"])
    chat.send("/email")
    assert "full name" in chat.text
    chat.send("Asha <b>Rao</b> & co")
    assert "medical school" in chat.text
    chat.send("Grant Medical College")
    assert "asking this person for" in chat.text  # one specialty in the profile: not asked
    replies = chat.press("Observership")
    draft = replies[1].text
    assert draft.startswith("<pre>") and draft.endswith("</pre>")
    assert "Asha &lt;b&gt;Rao&lt;/b&gt; &amp; co" in draft  # escaped, comes back unharmed
    assert "graduated from Grant Medical College in 2021" in to_plain(draft)
    assert "IMG Interested in Internal Medicine" in draft
    assert "under 10%" in chat.text
    assert store.db.table("completions").count_where("flow = 'email'") == 1
    # Next time: straight to the purpose.
    chat.send("/email")
    assert "asking this person for" in chat.text
    assert "full name" not in chat.text


def test_cold_email_offers_the_profile_specialties(chat: Chat, store: Store) -> None:
    chat.send("/start")
    set_profile(store, status="student", student_year=4, grad_year=2028,
                specialties=["Pediatrics", "Psychiatry"])
    chat.send("/email")
    chat.send("Lee Min")
    chat.send("Seoul National University")
    assert "Which specialty" in chat.text
    chat.press("Psychiatry")
    chat.press("Shadowing")
    assert "Shadowing Request – IMG Interested in Psychiatry – Lee Min" in chat.text
    assert "I am a fourth-year medical student" in chat.text


def test_cold_email_bad_answers_are_re_asked(chat: Chat) -> None:
    chat.send("/email")
    chat.send("   ")
    assert "type your name" in chat.text
    chat.send("x" * 4000)
    assert "type your name" in chat.text
    chat.send("Ana")
    chat.send("")
    assert "medical school" in chat.text
    chat.send("UNAM")
    chat.send("Cardiology 🫀 <script>")  # no profile: specialty is typed
    chat.send("some text where a button is expected")
    assert "tap one of the buttons" in chat.text
    chat.press("Research")
    assert "Cardiology 🫀 &lt;script&gt;" in chat.replies[1].text
    assert "/profile" in chat.text  # no profile yet: says how to fill the brackets


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Asha Rao", "Asha Rao"),
        ("I'm Asha Rao", "Asha Rao"),
        ("my name is  Lee Min", "Lee Min"),
        ("Dr. <Lopez>", "Dr. <Lopez>"),
        ("Im Soo-jin", "Im Soo-jin"),  # a surname, not "I'm"
        ("Will Smith", "Will Smith"),
        ("usce?", None),
        ("what should i put here", None),
        ("idk", None),
        ("skip", None),
        ("12345", None),
        ("asha@example.com", None),
        ("i did two observerships in chicago and one elective in boston last year", None),
    ],
)
def test_a_typed_name_or_plainly_something_else(text: str, name: str | None) -> None:
    assert typed.person_name(text) == name


def test_the_name_step_never_stores_a_question_or_a_non_name(chat: Chat, store: Store) -> None:
    chat.send("/email")
    for text in ("usce?", "what should i put here", "idk", "back"):
        chat.send(text)
        assert store.db.table("applicant").count == 0, text
        assert store.load_session(USER).state == "name", text
    assert "doesn't read like a name" in chat.text
    chat.send("I'm Asha Rao")
    assert "Noted the name as Asha Rao." in chat.text and "medical school" in chat.text
    assert store.db.table("applicant").get(USER)["name"] == "Asha Rao"


def test_typed_choices_and_changing_name_and_school(chat: Chat, store: Store) -> None:
    chat.send("/start")
    set_profile(store, status="graduate", grad_year=2021, specialties=["Pediatrics", "Psychiatry"])
    chat.send("/email")
    chat.send("Ana Diaz")
    chat.send("UNAM")
    chat.send("psych")  # typed, not tapped: the profile's spelling
    assert store.db.table("applicant").get(USER)["specialty"] == "Psychiatry"
    chat.send("research")
    assert "Clinical Research with Patient Contact – IMG Interested in Psychiatry – Ana Diaz" in chat.text
    chat.press("Name, school")
    assert "Your answer now: Ana Diaz" in chat.text
    chat.press("Keep")
    assert "Your answer now: UNAM" in chat.text
    chat.send("Universidad Nacional")
    assert "Which specialty" in chat.text and "Your answer now: Psychiatry" in chat.text  # two in the profile
    chat.press("Keep")
    chat.press("Observership")
    assert "IMG Interested in Psychiatry – Ana Diaz" in chat.text and "Universidad Nacional" in chat.text
    chat.press("Another draft")
    chat.press("Pediatrics")
    chat.press_data("or:pu:s")  # a Shadowing button from before the dialogs still works
    assert "Shadowing Request – IMG Interested in Pediatrics – Ana Diaz" in chat.text


def test_email_survives_an_interruption(chat: Chat) -> None:
    chat.send("/email")
    chat.send("Ana")
    chat.send("/outreach")
    assert "Continue" in chat.text
    chat.press("Continue")
    assert "medical school" in chat.text


def test_stale_purpose_button_is_refused(chat: Chat) -> None:
    chat.send("/email")
    chat.press_data("or:pu:o")
    assert chat.route == "stale"
    assert "full name" in chat.text  # the current step again


def test_log_a_contact_and_see_the_rate(chat: Chat, store: Store, clock: Clock) -> None:
    chat.send("/outreach")
    assert "Nothing logged yet" in chat.text
    chat.press("Add a contact")
    chat.send("Dr. <Lopez>")
    assert len(outreach_rows(store)) == 1  # saved the moment it was given
    chat.press("Program director")
    chat.send("Mayo & Sons Clinic")
    chat.send("31.02.2026")
    assert "couldn't read that" in chat.text
    chat.send("2027-01-01")
    assert "in the future" in chat.text
    chat.send("2026-11-10")
    assert "Logged" in chat.text and "Dr. <Lopez>" in chat.text
    row = outreach_rows(store)[0]
    assert (row["contact"], row["role"], row["institution"], row["sent_on"], row["status"]) == (
        "Dr. <Lopez>", "program_director", "Mayo & Sons Clinic", "2026-11-10", "sent"
    )
    assert "Sent: 1" in chat.text and "0%" in chat.text and "under 10%" in chat.text
    assert "Follow-up due: 1" in chat.text  # 15 days without an answer
    assert followups_due(store, USER, TODAY)[0]["contact"] == "Dr. <Lopez>"
    chat.press("Dr. <Lopez>")
    assert "No answer after 15 days" in chat.text
    chat.press("Follow-up draft")
    assert "<pre>" in chat.replies[1].text and "2026-11-10" in chat.replies[1].text
    chat.press("I sent a follow-up")
    assert "Followed up on 2026-11-25" in chat.text
    assert followups_due(store, USER, TODAY) == []
    chat.press("Mark 💬 replied")
    assert "now 💬 replied" in chat.text
    chat.press("Outreach log")
    assert "100%" in chat.text


def test_add_with_today_button(chat: Chat, store: Store) -> None:
    chat.send("/outreach")
    chat.press("Add a contact")
    chat.send("Dr. Kim")
    chat.send("typed instead of a role")
    assert "tap one of the buttons" in chat.text
    chat.press("Section chief")
    chat.send("x" * 4000)
    assert "institution's name" in chat.text
    chat.send("Cleveland")
    chat.press("Today")
    assert outreach_rows(store)[0]["sent_on"] == "2026-11-25"
    assert "Follow-up due" not in chat.text


def test_a_contact_is_typed_as_people_type(chat: Chat, store: Store) -> None:
    chat.send("/outreach")
    chat.press("Add a contact")
    chat.send("not sure")
    assert "doesn't read like a name" in chat.text and outreach_rows(store) == []
    chat.send("Dr. Kim")
    chat.send("the PD")  # a role typed in its own words
    assert outreach_rows(store)[0]["role"] == "program_director"
    chat.send("skip")
    assert "institution's name" in chat.text and outreach_rows(store)[0]["institution"] is None
    chat.press("Back")
    assert "Your answer now: Program director" in chat.text
    chat.press("Keep")
    chat.send("Cleveland Clinic")
    assert "Your answer now" not in chat.text  # the day is today until it is given
    chat.send("yesterday")
    assert outreach_rows(store)[0]["sent_on"] == "2026-11-24" and "Logged" in chat.text


def test_log_pages_and_delete(chat: Chat, store: Store) -> None:
    chat.send("/start")
    for i in range(10):
        store.db.table("outreach").insert(
            {"user_id": USER, "contact": f"Dr {i}", "status": "sent", "sent_on": f"2026-11-{i + 10:02d}"}
        )
    chat.send("/outreach")
    assert "Page 1 of 2" in chat.text
    assert any("Dr 9" in b.label for b in chat.buttons)
    chat.press("Older")
    assert "Page 2 of 2" in chat.text
    chat.press("Dr 0")
    chat.press("Delete")
    assert "can't be undone" in chat.text
    chat.press("Yes, delete")
    assert "Deleted" in chat.text and len(outreach_rows(store)) == 9


def test_someone_elses_entry_cannot_be_touched(engine: Engine, store: Store) -> None:
    owner, thief = Chat(engine, "tg:1"), Chat(engine, "tg:2")
    owner.send("/start")
    thief.send("/start")
    entry = store.db.table("outreach").insert({"user_id": "tg:1", "contact": "Dr A", "status": "sent"})
    entry_id = int(entry.last_pk or 0)
    for data in (f"or:v:{entry_id}", f"or:st:{entry_id}:a", f"or:X:{entry_id}", f"or:fs:{entry_id}"):
        thief.press_data(data)
        assert "can't find" in thief.text, data
    assert store.db.table("outreach").get(entry_id)["status"] == "sent"


@pytest.mark.parametrize(
    "data", ["or:", "or:v:", "or:v:abc", "or:v:-1", "or:st:1:z", "or:l:x", "or:r:p", "or:d:t", "or:sp:9",
             "or:zz", "or:v:99999999999999999999"]
)
def test_forged_or_old_buttons_never_crash(chat: Chat, data: str) -> None:
    chat.send("/start")
    chat.press_data(data)
    assert chat.route in ("stale", "error:NotFound"), chat.route


def test_every_text_key_the_helpers_use_exists() -> None:
    """Literal keys in the helper modules, and every key built from a code table."""
    from flows.domain import star
    from flows.features import eras, interview, letters
    from flows.features import reflect as reflections
    from flows.features.email import PURPOSES, ROLES, STATUSES

    catalogue = texts()
    names = ("outreach", "letters", "reflections", "eras", "interview")
    used: set[str] = set()
    folder = Path("flows") / "features"
    modules = [folder / f"{module}.py" for module in ("letters", "reflect", "eras", "interview")]
    for path in [*sorted((folder / "email").glob("*.py")), *modules]:  # email is a package
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"[\"']((?:" + "|".join(names) + r")\.[a-z_]+)[\"']", source))
    assert len(used) > 100
    for group, values in {
        "outreach.status_": STATUSES.values(), "outreach.role_": ROLES.values(),
        "outreach.purpose_": PURPOSES.values(), "outreach.purpose_text_": PURPOSES.values(),
        "outreach.subject_": PURPOSES.values(),
        "outreach.hub_": ("email", "outreach", "letters", "reflect", "eras", "interview"),
        "letters.status_": letters.CODES.values(), "letters.button_status_": letters.CODES.values(),
        "reflections.ask_": reflections.FIELDS, "reflections.label_": reflections.FIELDS,
        "reflections.button_edit_": reflections.FIELDS, "eras.note_": eras.LEVELS,
        "interview.part_": star.PARTS, "interview.missing_": star.PARTS,
    }.items():
        used |= {group + value for value in values}
    assert sorted(key for key in used if key not in catalogue and not key.endswith(".yaml")) == []
    assert interview.questions()
