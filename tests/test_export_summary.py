"""/export's readable summary: one self-contained HTML page a phone opens, every value escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from flows.base.types import Reply
from flows.domain import summary_html
from flows.engine.engine import Engine
from flows.features.privacy import SUMMARY_FILENAME
from flows.storage.profiles import save_answer
from tests.chat import Chat
from tests.factories import insert_experience

USER = "tg:1001"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "p", "section", "h2",
                "dl", "dt", "dd", "ul", "li", "div", "footer"}


class Page(HTMLParser):
    """What a browser would build from the page: tags, attributes, headings and text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "h2":
            self.headings.append(data.strip())
        if not self._in or self._in[-1] not in ("style", "title"):
            self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def summary_of(replies: list[Reply]) -> str:
    [reply] = [r for r in replies if r.attachment is not None and r.attachment.filename == SUMMARY_FILENAME]
    assert reply.attachment is not None and reply.attachment.kind == "document"
    return reply.attachment.content.decode("utf-8")


@pytest.fixture
def full(engine: Engine) -> Chat:
    chat = Chat(engine, USER)
    chat.send("/menu")
    with engine.store.atomic():
        save_answer(engine.store, USER, "2026-11-25T09:00:00+00:00", status="graduate", grad_year=2024,
                    specialties=["Internal medicine"], application="2028-09", months_available=3,
                    budget="moderate", visa="visitor", us_months=0, us_letters=0, gaps=[],
                    timezone="Asia/Kolkata", completed_at="2026-11-25T09:00:00+00:00")
    insert_experience(engine.store, USER, status="planned", start="2027-02", end="2027-03", type="externship",
                      level="hands_on", institution=HOSTILE)
    insert_experience(engine.store, USER, status="done", start="2026-03", end="2026-04", letter="promised",
                      letter_writer="Dr. Okafor & team", institution="Mercy Hospital")
    engine.store.db.table("programs").insert({"user_id": USER, "name": "Sunrise " + HOSTILE, "finished": 1,
                                              "verdict": "promising", "created_at": "x", "updated_at": "x"})
    engine.store.db.table("programs").insert({"user_id": USER, "name": "Half done", "finished": 0,
                                              "created_at": "x", "updated_at": "y"})
    return chat


def test_export_sends_the_summary_beside_the_json(full: Chat) -> None:
    full.send("/export")
    names = [r.attachment.filename for r in full.replies if r.attachment]
    assert names == [SUMMARY_FILENAME, "usce-coach-export.json"]
    assert "one page" in full.replies[0].text


def test_the_page_is_self_contained_and_made_for_a_phone(full: Chat) -> None:
    full.send("/export")
    source = summary_of(full.replies)
    page = Page(source)
    assert set(page.tags) <= ALLOWED_TAGS  # no script, link, img, iframe, form...
    assert page.tags.count("style") == 1
    assert ("name", "viewport") in page.attrs and ("charset", "utf-8") in page.attrs
    assert not [a for a in page.attrs if a[0] in ("src", "href", "action") or a[0].startswith("on")]
    assert "url(" not in source and "@import" not in source and "http" not in source.lower()
    assert "prefers-color-scheme: dark" in source and "@media print" in source
    assert len(source.encode()) < 60_000


def test_every_part_is_there_with_the_users_values(full: Chat) -> None:
    full.send("/export")
    page = Page(summary_of(full.replies))
    assert page.headings == ["Profile", "Plan", "US clinical experience", "Letters of recommendation",
                             "Programs vetted"]
    words = page.words
    assert "Graduation year 2024" in words and "Application Sep 2028" in words and "Asia/Kolkata" in words
    assert "Internal medicine" in words
    assert "Applying Sep 2028 → Match 2029" in words  # the plan in short: its stages and dates
    assert "Mar 2027 – Aug 2027 · 🔜 ahead" in words and "lock in your USCE" in words
    assert "Sep 2025 – Aug 2026 · ✔️ passed" in words
    assert "Externship · Internal Medicine" in words and "Feb 2027 – Mar 2027" in words
    assert "Promised — from Dr. Okafor & team" in words
    assert "Promising — verify first" in words and "Checklist not finished" in words


def test_user_values_are_escaped_never_markup(full: Chat) -> None:
    full.send("/export")
    source = summary_of(full.replies)
    page = Page(source)
    assert "script" not in page.tags and "img" not in page.tags
    assert " ".join(HOSTILE.split()) in page.words  # shown as the text the user typed
    assert "&lt;script&gt;" in source


def test_a_new_user_gets_a_page_that_says_what_is_missing(chat: Chat) -> None:
    chat.send("/export")
    page = Page(summary_of(chat.replies))
    assert len(page.headings) == 5
    assert "No profile yet" in page.words and "Nothing logged yet" in page.words
    assert "No program vetted yet" in page.words


def test_a_missing_word_is_an_error_not_a_blank() -> None:
    words = dict.fromkeys(summary_html.WORDS, "x")
    del words["letters"]
    with pytest.raises(KeyError):
        summary_html.render(summary_html.Summary("today"), words)
