"""FAQ knowledge base: the loader catches content mistakes; answers state the facts asked,
for the asker's case, in the shape asked."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from flows.base.content import ContentError, load_texts
from flows.base.text import to_plain
from flows.faq import (
    FaqEntry,
    FaqIndex,
    Reader,
    default_index,
    is_polar,
    load_examples,
    load_faq,
    load_out_of_scope,
    respond,
)
from flows.faq.entries import MAX_ANSWER_CHARS, MAX_ANSWER_LINES, MAX_TOPIC
from flows.faq.render import response_html
from flows.faq.words import Speller, load_english

ROOT = Path(__file__).resolve().parent.parent
COPY_CHECK = ROOT.parent / "shared" / "tools" / "copied-from-guide"
TODAY = datetime.date(2026, 12, 3)


def _entry(ident: str, related: str = "[b, c]", phrasings: int = 4, topic: str = "A topic") -> str:
    lines = "\n".join(f"      - {ident} question number {i}" for i in range(phrasings))
    return textwrap.indent(
        textwrap.dedent(
            f"""\
            - id: {ident}
              topic: {topic}
              question: What about {ident}?
              answer: |-
                A short answer about {ident}.
              phrasings:
            """
        )
        + lines
        + f"\n  related: {related}\n",
        "  ",
    )


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "faq.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _valid() -> str:
    return "entries:\n" + _entry("a", "[b, c]") + _entry("b", "[a, c]") + _entry("c", "[a, b]")


# --------------------------------------------------------------------------- loader


def test_minimal_valid_file_loads(tmp_path: Path) -> None:
    entries = load_faq(_write(tmp_path, _valid()))
    assert [e.id for e in entries] == ["a", "b", "c"]
    assert entries[0].related == ("b", "c")
    assert entries[0].verdict is None and entries[0].cases == ()
    assert len(entries[0].phrasings) == 4


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    lines = _valid().splitlines()
    bad_line = lines.index("  - id: b") + 2  # its topic line
    lines[bad_line - 1] = "    topic: Letters: who writes them"  # an unquoted ': ' inside a value
    body = "\n".join(lines) + "\n"
    with pytest.raises(ContentError, match=rf"faq\.yaml:{bad_line}: mapping values"):
        load_faq(_write(tmp_path, body))


def test_missing_field_names_entry_line(tmp_path: Path) -> None:
    body = _valid().replace("    answer: |-\n      A short answer about b.\n", "")
    line = body.splitlines().index("  - id: b") + 1
    with pytest.raises(ContentError, match=rf"faq\.yaml:{line}: missing 'answer'"):
        load_faq(_write(tmp_path, body))


def test_duplicate_id(tmp_path: Path) -> None:
    body = _valid() + _entry("a", "[b, c]").replace("question number", "another way")
    line = [i for i, ln in enumerate(body.splitlines(), 1) if ln == "  - id: a"][1]
    with pytest.raises(ContentError, match=rf"faq\.yaml:{line}: duplicate id 'a'"):
        load_faq(_write(tmp_path, body))


def test_unknown_related_id(tmp_path: Path) -> None:
    body = _valid().replace("related: [a, b]", "related: [a, zzz]")
    line = body.splitlines().index("    related: [a, zzz]") + 1  # the line of the list that names it
    with pytest.raises(ContentError, match=rf"faq\.yaml:{line}: 'c': unknown related id 'zzz'"):
        load_faq(_write(tmp_path, body))


def test_too_long_topic(tmp_path: Path) -> None:
    body = _valid().replace("topic: A topic", "topic: " + "x" * (MAX_TOPIC + 1), 1)
    with pytest.raises(ContentError, match=r"faq\.yaml:3: 'a': topic is"):  # the topic's own line
        load_faq(_write(tmp_path, body))


def test_too_few_phrasings(tmp_path: Path) -> None:
    body = "entries:\n" + _entry("a", "[b, c]", phrasings=3) + _entry("b", "[a, c]") + _entry("c", "[a, b]")
    with pytest.raises(ContentError, match=r"faq\.yaml:7: 'a': needs at least 4 phrasings"):  # 'phrasings:'
        load_faq(_write(tmp_path, body))


def test_same_phrasing_in_two_entries_is_rejected(tmp_path: Path) -> None:
    body = _valid().replace("c question number 0", "a question number 0")
    with pytest.raises(ContentError, match="also used by 'a'"):
        load_faq(_write(tmp_path, body))


def test_missing_file_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match=r"faq\.yaml: cannot read"):
        load_faq(tmp_path / "faq.yaml")


def test_more_is_refused_every_fact_goes_in_the_answer(tmp_path: Path) -> None:
    answer = "      A short answer about a.\n"
    body = _valid().replace(answer, answer + "    more: hidden detail\n", 1)
    with pytest.raises(ContentError, match="no 'more'"):
        load_faq(_write(tmp_path, body))


def test_student_and_graduate_cases_need_the_line_on_how_they_differ(tmp_path: Path) -> None:
    cases = '    cases:\n      student: "do electives."\n      graduate: "do externships."\n'
    body = _valid().replace("    phrasings:\n", cases + "    phrasings:\n", 1)
    with pytest.raises(ContentError, match="need 'differs'"):
        load_faq(_write(tmp_path, body))
    fixed = body.replace(cases, cases + '    differs: "Students do electives; graduates externships."\n', 1)
    entry = load_faq(_write(tmp_path, fixed))[0]
    assert entry.case("graduate") is not None and entry.differs


def test_a_bare_yes_verdict_reads_as_yes(tmp_path: Path) -> None:
    answer = "    answer: |-\n      A short answer about a."
    body = _valid().replace(answer, "    verdict: yes\n" + answer, 1)
    assert load_faq(_write(tmp_path, body))[0].verdict == "Yes"


# --------------------------------------------------------------------------- the real content


@pytest.fixture(scope="module")
def entries() -> tuple[FaqEntry, ...]:
    return load_faq()


def test_content_size_and_ids(entries: tuple[FaqEntry, ...]) -> None:
    assert 60 <= len(entries) <= 140
    assert len({e.id for e in entries}) == len(entries)
    groups = {o.id for o in load_out_of_scope()}
    assert {"list_requests", "drafting_requests", "exam_scores", "residency_visa", "salaries", "fees_and_prices",
            "clinical_advice"} <= groups


def test_answers_fit_a_phone_screen(entries: tuple[FaqEntry, ...]) -> None:
    for e in entries:
        lines = [ln for ln in e.answer.splitlines() if ln.strip()]
        assert len(lines) <= MAX_ANSWER_LINES and len(e.answer) <= MAX_ANSWER_CHARS, e.id
        assert len(e.topic) <= MAX_TOPIC, e.id
        assert "<" not in e.answer, f"{e.id}: plain text, not HTML"


def test_an_answer_never_opens_with_its_own_verdict(entries: tuple[FaqEntry, ...]) -> None:
    """The verdict is shown only for a yes/no question, so the answer must read without it."""
    for e in entries:
        assert not e.answer.lower().startswith(("yes", "no ", "no,", "no:", "no.")), e.id


def test_the_guides_refutations_and_comparisons_are_entries(entries: tuple[FaqEntry, ...]) -> None:
    text = {e.id: e.answer for e in entries}
    assert "not technically USCE" in text["research_clinical"]
    assert "higher fee doesn't mean higher value" in text["higher_fee"]
    assert "red flag" in text["guarantee_red_flag"] and "avoid" in text["guarantee_red_flag"]
    assert "no longer an option" in text["graduate_electives"] and "externships" in text["graduate_electives"]
    tiers = text["usce_tiers_compare"]
    assert tiers.index("- hands-on") < tiers.index("- semi-hands-on") < tiers.index("- non-hands-on")


@pytest.mark.skipif(not COPY_CHECK.exists(), reason="copy checker not available")
def test_no_sentences_copied_from_the_guide() -> None:
    python = shutil.which("python3") or "python3"
    out = subprocess.run(
        [python, str(COPY_CHECK), "content"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "faq.yaml" not in out and "faq_examples.yaml" not in out and "smalltalk" not in out, out


def test_training_examples_name_known_ids(entries: tuple[FaqEntry, ...]) -> None:
    examples = load_examples()
    known = {e.id for e in entries} | {o.id for o in load_out_of_scope()}
    assert set(examples) <= known


def test_training_examples_with_an_unknown_id_are_refused(tmp_path: Path) -> None:
    faq = _write(tmp_path, _valid())
    bad = tmp_path / "faq_examples.yaml"
    bad.write_text('entries:\n  a:\n    - "a message"\n  nope:\n    - "another"\n', encoding="utf-8")
    with pytest.raises(ContentError, match=r"'nope' is not an id in faq\.yaml"):
        load_examples(bad, faq)


# --------------------------------------------------------------------------- typo repair


def test_typo_repair_leaves_english_words_alone() -> None:
    speller = Speller(load_english(), ["plan", "emory", "externship", "reply", "mandatory", "observership"])
    words = ["plant", "memory", "internship", "ignore", "must"]
    assert speller.fix(words) == words


def test_typo_repair_snaps_non_words_to_the_closest_content_word() -> None:
    speller = Speller(load_english(), ["observership", "externship", "usce"])
    assert speller.fix(["obsevership", "externshp", "ucse", "zzqx"]) == ["observership", "externship", "usce", "zzqx"]


# --------------------------------------------------------------------------- answers


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return default_index()


def shown(index: FaqIndex, question: str, reader: Reader | None = None) -> str:
    texts = load_texts()
    return to_plain(response_html(texts.fmt, respond(index, question, reader, TODAY)))


@pytest.mark.parametrize(
    ("question", "must"),
    [
        ("how mny monts of usce do i realy need", ["2-4 months", "1 month"]),
        ("is obsrvership concidered usce", ["non-hands-on"]),
        ("what to send my LOR writer, cv and eras id?", ["ERAS ID"]),
        ("VSAS", ["VSLO"]),
        ("does research count as usce", ["not technically USCE", "semi-hands-on"]),
        ("how 2 use STAR in interviw", ["Situation"]),
    ],
)
def test_the_shown_text_states_the_facts(index: FaqIndex, question: str, must: list[str]) -> None:
    text = shown(index, question)
    for fact in must:
        assert fact in text, (question, text)


def test_a_graduate_asking_about_student_electives_is_told_no(index: FaqIndex) -> None:
    text = shown(index, "graduated 2016, can I still do a student elective?")
    assert text.splitlines()[1].startswith("Usually not.")
    assert "externships" in text
    as_student = shown(index, "can I do us electives?", Reader(status="student"))
    assert "As a student:" in as_student and "Usually not" not in as_student


def test_no_profile_gets_the_general_answer_and_how_students_and_graduates_differ(index: FaqIndex) -> None:
    text = shown(index, "can i do us electives")
    assert "Students can do electives; graduates usually can't" in text
    assert "As a student" not in text and "As a graduate" not in text


def test_an_older_graduate_is_answered_for_that_case(index: FaqIndex) -> None:
    text = shown(index, "how many months of usce do i need", Reader(status="graduate", grad_year=2012))
    assert "As a 2012 graduate:" in text and "2-3 months of recent" in text
    recent = shown(index, "how many months of usce do i need", Reader(status="graduate", grad_year=2025))
    assert "2012" not in recent and "older graduation" not in recent


def test_a_what_question_never_opens_with_yes(index: FaqIndex) -> None:
    polar = respond(index, "does an observership count as usce?", None, TODAY)
    what = respond(index, "what does an observership count as?", None, TODAY)
    assert polar.parts[0].verdict == "Yes"
    assert all(p.verdict is None for p in what.parts)
    assert is_polar("graduated 2016, can I still do a student elective?")
    assert is_polar("on a rotation should i bring my own stethoscope")
    assert not is_polar("why bother journaling?")
    assert not is_polar("as a graduate what can i do now")
    assert not is_polar("should i write to the program director or a faculty member")
    assert is_polar("can i do an elective or externship as a graduate")


def test_a_yes_no_question_about_what_an_entry_advises_against_gets_its_negative_verdict(index: FaqIndex) -> None:
    entry = index.get("lor_asking")
    assert entry.against is not None
    early = respond(index, "can i ask for my letter in the first week?", None, TODAY, entry=entry)
    late = respond(index, "should i ask for my letter near the end of the rotation?", None, TODAY, entry=entry)
    assert early.parts[0].verdict == entry.against.verdict
    assert late.parts[0].verdict == entry.verdict
    assert respond(index, "when do i ask for a letter?", None, TODAY, entry=entry).parts[0].verdict is None


def test_a_two_part_question_gets_both_parts(index: FaqIndex) -> None:
    response = respond(index, "what is vslo and how many months of usce do i need?", None, TODAY)
    assert [p.entry.id for p in response.parts] == ["vslo_vsas", "how_much_usce"]
    text = shown(index, "what is vslo and how many months of usce do i need?")
    assert "VSLO" in text and "2-4 months" in text


def test_out_of_scope_is_declined(index: FaqIndex) -> None:
    for question in ("list 10 IMG-friendly programs in Texas", "write my LOR for me", "what step 2 score do i need",
                     "residency salary in new york", "what insulin dose for dka"):
        assert not respond(index, question, None, TODAY).parts, question


@pytest.mark.parametrize("question", ["", "   ", "😂🙏🔥", "x" * 5000, "usce " * 900, "\ud800 lone surrogate"])
def test_odd_input_never_raises(index: FaqIndex, question: str) -> None:
    respond(index, question, None, TODAY)


def test_the_message_says_who_is_asking() -> None:
    assert Reader().with_message("I graduated in 2016 from Cairo").grad_year == 2016
    assert Reader().with_message("passed out 2017, can i...").status == "graduate"
    assert Reader().with_message("im a final year med student").status == "student"
    assert Reader().with_message("older IMG here").older_graduate(2026)
    assert Reader().with_message("on b1/b2 right now").visa == "b1b2"
    assert Reader().with_message("no money for paid rotations").budget == "limited"
    stored = Reader.from_profile({"status": "student", "budget": "flexible"})
    assert stored.with_message("i'm broke, what now").budget == "limited"  # the message wins
    assert stored.with_message("what is vslo").status == "student"  # the profile fills the rest


@pytest.mark.parametrize(("message", "status", "year"), [
    ("final yr student from Ghana, what should i do", "student", None),
    ("currently in 4th year of 6 in Kyiv", "student", None),
    ("final year here, when do i start", "student", None),
    ("I graduate in 2031, is it too early to plan", "student", 2031),  # a year still to come
    ("i'm a doctor from Accra and finished house job", "graduate", None),
    ("im a fresh grad, what now", "graduate", None),
    ("completed mbbs in 2014, is it too late", "graduate", 2014),
    ("i'm a doctor since 2011, what now", "graduate", 2011),
    ("last year i did an observership", None, None),  # "last year" is a time, not a year of school
    ("i did usce in last year", None, None),
])
def test_how_people_state_their_status(message: str, status: str | None, year: int | None) -> None:
    reader = Reader().with_message(message)
    assert (reader.status, reader.grad_year) == (status, year)


def test_how_people_state_a_visa_or_a_budget() -> None:
    assert Reader().with_message("i am on an h4 visa right now").visa == "h4"
    assert Reader().with_message("j2 visa holder here").visa == "j2"
    assert "visa" in Reader().with_message("on f1 in boston").cases(2026)
    assert Reader().with_message("i have a green card").visa == "authorized"
    assert "visa" not in Reader().with_message("i have a green card").cases(2026)
    assert Reader().with_message("money is tight at home").budget == "limited"
    assert Reader().with_message("i can't pay for rotations").budget == "limited"


def test_two_equally_likely_entries_answer_the_best_and_offer_the_other() -> None:
    same = ("letter timing", "when to ask", "ask for a letter", "letters")
    a = FaqEntry(id="a", topic="Asking for letters", question="When do I ask?", answer="Near the end.",
                 phrasings=same, related=("b", "c"))
    b = FaqEntry(id="b", topic="Letters in general", question="What about letters?", answer="At least one.",
                 phrasings=same, related=("a", "c"))
    c = FaqEntry(id="c", topic="Emails", question="Who do I email?", answer="Program directors.",
                 phrasings=("who to email", "email recipients", "cold email", "outreach"), related=("a", "b"))
    tie = FaqIndex([a, b, c])
    response = respond(tie, "letter timing", None, TODAY)
    assert len(response.parts) == 1 and response.parts[0].entry.id in {"a", "b"}
    other = ({"a", "b"} - {response.parts[0].entry.id}).pop()
    assert response.match.candidates[1][0].id == other  # the runner-up: the first topic button (ask.reply)
    assert respond(tie, "who to email", None, TODAY).parts[0].entry.id == "c"


def test_each_side_of_a_comparison_asks_the_shared_question(index: FaqIndex) -> None:
    response = respond(index, "telemedicine or volunteering, which one is usce?", None, TODAY)
    assert [p.entry.id for p in response.parts] == ["telemedicine", "volunteering"]


def test_a_question_after_a_comma_is_read_when_the_background_outweighs_it(index: FaqIndex) -> None:
    question = "my rotations were all in Ohio and I will apply in California, does the state matter?"
    assert respond(index, question, None, TODAY).ids == ("choosing_elective_site",)
    background = "my uncle has had a cough and fever since monday"
    assert respond(index, f"{background}, what is usce", None, TODAY).ids == ("what_is_usce",)
    assert not respond(index, f"{background}, what is it", None, TODAY).parts  # "it" points back: not read alone


def test_each_part_of_a_two_part_answer_is_cut_to_fit_a_phone(index: FaqIndex) -> None:
    from flows.faq.render import PART_CHARS

    response = respond(index, "what counts as usce and how many months of usce do i need?", None, TODAY)
    assert len(response.parts) == 2
    text = to_plain(response_html(load_texts().fmt, response))
    for part, shown_part in zip(response.parts, text.split("\n\n"), strict=True):
        body = shown_part.split("\n", 1)[1]
        assert body.startswith(part.entry.answer.split("\n")[0])  # the direct answer always opens it
        assert len(body) <= max(PART_CHARS, len(part.entry.answer.split("\n")[0]))


def test_a_clause_that_points_back_is_read_with_the_clause_before_it(index: FaqIndex) -> None:
    text = "i have been a medical scribe in texas for a year while preparing for step 3, is it useful for my match"
    response = respond(index, text, Reader(status="graduate", grad_year=2019), TODAY)
    assert [p.entry.id for p in response.parts] == ["scribe_roles"]


def test_a_graduate_asking_about_hands_on_hears_that_electives_are_for_students(index: FaqIndex) -> None:
    text = shown(index, "what counts as hands on usce", Reader(status="graduate", grad_year=2022))
    assert "enrolled students" in text and "externship" in text


def test_an_old_yog_without_a_year_is_an_older_graduate() -> None:
    assert Reader().with_message("old yog and no money, where do i start").older


def test_two_places_asked_with_one_question_get_both_parts(index: FaqIndex) -> None:
    response = respond(index, "how should i describe my usce in eras and in my personal statement", None, TODAY)
    assert {p.entry.id for p in response.parts} == {"eras_experiences", "personal_statement"}


def test_a_second_half_that_points_back_is_read_with_the_first(index: FaqIndex) -> None:
    response = respond(index, "what makes an elective strong and what papers do they want from me", None, TODAY)
    assert [p.entry.id for p in response.parts] == ["strong_elective", "elective_requirements"]
