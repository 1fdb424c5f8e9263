"""The /timeline picture is a real PNG of a phone-friendly size, with or without data."""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import Iterator
from datetime import date

import pytest
from PIL import Image

from flows import profile as profile_module
from flows import timeline_image
from flows.experiences import Experience, month_index
from flows.store import Store
from tests.chat import Chat

_ids = itertools.count(1)
TODAY = month_index(date(2026, 11, 25))
APPLICATION = date(2027, 9, 1)
NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"


def exp(start: str, end: str, level: str = "hands_on", status: str = "done",
        institution: str = "St. Mary") -> Experience:
    return Experience(next(_ids), "u", "externship", level, "IM", institution, 1, "both", start, end,
                      status, "none", None, "", "")


def label(key: str, **values: object) -> str:
    return f"{key.rsplit('.', 1)[-1]} {' '.join(map(str, values.values()))}".strip()


def open_png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    Image.open(io.BytesIO(data)).verify()  # a complete, uncorrupted file
    return Image.open(io.BytesIO(data)).convert("RGB")


SAMPLE = [
    exp("2025-06", "2025-07", "non"),
    exp("2025-09", "2026-08", "semi"),
    exp("2026-10", "2026-12", status="ongoing"),
    exp("2027-02", "2027-03", status="planned", institution="Hôpital – Saint 😀 <Louis> " + "x" * 300),
]


@pytest.mark.parametrize(
    ("experiences", "application"),
    [
        (SAMPLE, APPLICATION),
        (SAMPLE, None),
        ([], APPLICATION),
        ([], None),
        ([exp("2017-01", "2017-01"), exp("2031-10", "2031-12", status="planned")], APPLICATION),
    ],
)
def test_a_valid_png_of_sensible_size(experiences: list[Experience], application: date | None) -> None:
    bands = timeline_image.windows(application, label)
    data = timeline_image.draw(experiences, month_index(application) if application else None, TODAY,
                               bands, label, NAMES)
    image = open_png(data)
    width, height = image.size
    assert width == 1000 and 600 <= height <= 800
    assert 5_000 < len(data) < 500_000
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20) or []}
    assert timeline_image.TODAY in colours  # the today line is drawn
    for exp_ in experiences:
        if exp_.status != "planned":
            assert timeline_image.LEVEL_COLOURS[exp_.level] in colours


def test_many_experiences_fit_and_the_rest_are_counted() -> None:
    many = [exp(f"2026-{m:02d}", f"2026-{m:02d}") for m in range(1, 13)] * 2
    seen: list[str] = []

    def spy(key: str, **values: object) -> str:
        seen.append(f"{key}{values}")
        return label(key, **values)

    image = open_png(timeline_image.draw(many, None, TODAY, [], spy, NAMES))
    assert image.size == (1000, timeline_image.HEADER + 10 * timeline_image.LANE + timeline_image.FOOTER)
    assert "more{'n': 14}" in seen


def test_windows_come_from_the_plans_milestones() -> None:
    bands = timeline_image.windows(APPLICATION, label)
    assert len(bands) == 4
    assert bands[0].start == month_index(APPLICATION) - 36
    assert all(b.title and b.start < b.end for b in bands)
    assert [b.start for b in bands] == sorted(b.start for b in bands)


@pytest.fixture
def no_plan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "flows.plan", None)  # import fails as if not installed
    yield


def test_without_the_plan_the_guides_four_windows_are_used(no_plan: None) -> None:
    app = month_index(APPLICATION)
    bands = timeline_image.windows(APPLICATION, label)
    assert [(b.title, b.start - app, b.end - app) for b in bands] == [
        ("window_early", -36, -24), ("window_secure", -18, -12), ("window_letters", -12, -6),
        ("window_apply", 0, 12)]
    assert timeline_image.windows(None, label) == []


@pytest.fixture
def builtin_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(timeline_image, "WIDE_FONT", "no-such-font.ttf")
    timeline_image._wide.cache_clear()
    timeline_image._font.cache_clear()
    yield
    monkeypatch.undo()
    timeline_image._wide.cache_clear()
    timeline_image._font.cache_clear()


def test_with_only_the_builtin_font_text_is_folded_to_what_it_can_draw(builtin_font: None) -> None:
    assert timeline_image._safe("Hôpital – Zürich 😀") == "Hopital - Zurich"
    open_png(timeline_image.draw(SAMPLE, month_index(APPLICATION), TODAY,
                                 timeline_image.windows(APPLICATION, label), label, NAMES))


def test_timeline_command_sends_a_photo(chat: Chat, store: Store) -> None:
    chat.send("/timeline")
    [reply] = chat.replies
    assert reply.attachment is not None and reply.attachment.kind == "photo"
    assert reply.attachment.filename == "timeline.png"
    open_png(reply.attachment.content)
    assert "Tell me when you apply" in chat.text
    profile_module.migrations.apply(store.db)
    profile_module.save_answer(store, chat.user, "2026-11-25", application="2027-09")
    chat.send("/timeline")
    assert "application timeline" in chat.text
    assert chat.replies[0].attachment is not None
    open_png(chat.replies[0].attachment.content)
