from __future__ import annotations

from pathlib import Path

import pytest

from flows.base.content import ContentError
from flows.base.text import to_plain
from flows.domain.eras import (
    LEVELS,
    claims,
    content,
    effective_level,
    eras_draft,
    experience_title,
    load_eras,
    responsibility_lines,
)
from flows.engine.engine import Engine
from flows.storage.experiences import Experience
from flows.storage.store import Store
from tests.chat import Chat
from tests.factories import insert_experience

USER = "tg:1001"
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
# What a non-hands-on entry must never claim (beyond the content file's own list).
HANDS_ON_CLAIMS = ("managed", "wrote notes", "progress notes", "examined", "took histories", "prescribed",
                   "presented my patients", "sign-out", "performed", "hands-on")



def exp(type: str = "observership", level: str = "non", **fields: object) -> Experience:
    values: dict[str, object] = {
        "id": 1, "user_id": USER, "type": type, "level": level, "specialty": "Internal Medicine",
        "institution": "XYZ University Hospital", "teaching": 1, "setting": "inpatient",
        "start": "2026-03", "end": "2026-04", "status": "done", "letter": "none", "letter_writer": None,
        "created_at": "", "updated_at": "",
    }
    values.update(fields)
    return Experience(**values)  # type: ignore[arg-type]


def add_experience(store: Store, **fields: object) -> int:
    return insert_experience(store, USER, **fields)


# -- pure pieces ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type", "level", "title"),
    [
        ("observership", "non", "Internal Medicine Observership – XYZ University Hospital"),
        ("externship", "hands_on", "Internal Medicine Clinical Externship – XYZ University Hospital"),
        ("subi", "hands_on", "Internal Medicine Sub-Internship – XYZ University Hospital"),
        ("research", "semi", "Internal Medicine Clinical Research – XYZ University Hospital"),
    ],
)
def test_title_follows_specialty_type_institution(type: str, level: str, title: str) -> None:
    assert experience_title(exp(type, level)) == title


def test_title_tidies_a_lower_case_specialty_and_survives_blanks() -> None:
    title = experience_title(exp(specialty="family medicine"))
    assert title == "Family Medicine Observership – XYZ University Hospital"
    assert experience_title(exp(specialty="", institution="")) == "Observership"


@pytest.mark.parametrize(
    ("type", "level", "effective"),
    [
        ("observership", "hands_on", "non"),  # logged too high: capped by its type
        ("observership", "non", "non"),
        ("volunteering", "semi", "non"),
        ("scribe", "hands_on", "semi"),
        ("research", "non", "non"),
        ("elective", "hands_on", "hands_on"),
        ("externship", "non", "non"),  # an observer-like externship stays honest
        ("elective", "nonsense", "hands_on"),  # unknown level: the type decides
        ("unknown-type", "hands_on", "non"),
    ],
)
def test_effective_level_never_exceeds_the_type(type: str, level: str, effective: str) -> None:
    assert effective_level(exp(type, level)) == effective


@pytest.mark.parametrize("type", ["observership", "volunteering", "research", "externship", "elective"])
def test_non_hands_on_lines_never_claim_hands_on_work(type: str) -> None:
    lines = responsibility_lines(exp(type, "non"))
    assert len(lines) == 3
    text = " ".join(lines).lower()
    for claim in HANDS_ON_CLAIMS:
        assert claim not in text, (type, claim)


def test_an_observership_logged_as_hands_on_still_reads_as_observing() -> None:
    text = eras_draft(exp("observership", "hands_on"), MONTHS).lower()
    assert not any(claim in text for claim in HANDS_ON_CLAIMS)
    assert "rounds" in text


def test_hands_on_lines_do_say_what_was_done() -> None:
    text = " ".join(responsibility_lines(exp("elective", "hands_on", setting="both"))).lower()
    assert "examined" in text and "notes" in text
    assert "inpatient and outpatient" in text


def test_every_level_in_content_respects_its_never_claim_list() -> None:
    conf = content()
    for level in LEVELS:
        for kind, lines in conf.lines[level].items():
            for line in lines:
                assert claims(line, conf.never_claim.get(level, ())) == [], (level, kind, line)


def test_draft_has_title_dates_lines_and_specialty_link() -> None:
    draft = eras_draft(exp("observership", "non", start="2026-03", end="2026-05"), MONTHS)
    lines = draft.splitlines()
    assert lines[0] == "Internal Medicine Observership – XYZ University Hospital"
    assert lines[1] == "Mar 2026 – May 2026 · inpatient"
    assert draft.count("• ") == 3
    assert "decision to pursue Internal Medicine" in draft


def test_content_refuses_a_line_that_claims_too_much(tmp_path: Path) -> None:
    source = Path("content/eras.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "eras.yaml"
    bad.write_text(source.replace("Joined {setting} rounds", "Managed patients on {setting} rounds"))
    with pytest.raises(ContentError, match="claims too much"):
        load_eras(bad)
    bad.write_text(source.replace("Joined {setting} rounds", "Joined {place} rounds"))
    with pytest.raises(ContentError, match="unknown placeholder"):
        load_eras(bad)


# -- conversations -------------------------------------------------------------------------------
def test_eras_without_experiences_offers_the_tracker(chat: Chat) -> None:
    chat.send("/eras")
    assert "haven't logged an experience" in chat.text
    assert chat.button("Log an experience").data == "go:log"


def test_eras_draft_from_a_tracked_experience(chat: Chat, store: Store) -> None:
    chat.send("/start")
    add_experience(store, institution="St. <Mary's> & Co", level="hands_on")
    chat.send("/eras")
    chat.press("Observership")
    draft = chat.replies[1].text
    assert draft.startswith("<pre>") and "St. &lt;Mary's&gt; &amp; Co" in draft
    plain = to_plain(draft).lower()
    assert not any(claim in plain for claim in HANDS_ON_CLAIMS)
    assert "more hands-on than its type (observership)" in chat.text
    assert store.db.table("completions").count_where("flow = 'eras'") == 1
    chat.press("Another experience")
    assert "Pick an experience" in chat.text


def test_eras_uses_the_reflection_for_the_last_line(chat: Chat, store: Store) -> None:
    chat.send("/start")
    exp_id = add_experience(store)
    store.db.table("reflections").insert(
        {"user_id": USER, "experience_id": exp_id, "specialty_choice": "Seeing <b>heart failure</b> care"}
    )
    chat.press_data(f"er:x:{exp_id}")
    assert "From your reflection" in chat.text and "Seeing <b>heart failure</b> care" in chat.text
    assert "&lt;b&gt;heart failure" in chat.replies[-1].text


def test_someone_elses_experience_is_not_drafted(engine: Engine, store: Store) -> None:
    exp_id = add_experience(store)
    thief = Chat(engine, "tg:2")
    thief.press_data(f"er:x:{exp_id}")
    assert "can't find" in thief.text


@pytest.mark.parametrize("data", ["er:", "er:x:", "er:x:abc", "er:x:-3", "er:l:1", "er:zz"])
def test_forged_eras_buttons(chat: Chat, data: str) -> None:
    chat.press_data(data)
    assert chat.route == "stale"


def test_a_planned_experience_gets_a_template_warning(engine: Engine, chat: Chat) -> None:
    chat.send("/start")
    with engine.store.atomic():
        insert_experience(engine.store, chat.user, type="externship", level="hands_on", institution="Sunrise",
                          start="2027-01", end="2027-02", status="planned")
    chat.send("/eras")
    chat.press("Sunrise")
    assert "hasn't happened yet" in chat.text
