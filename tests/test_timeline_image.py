"""The /timeline picture is made for a phone: its size, text, layout and colours are measured
on the empty, typical and crowded cases (``python -m tests.timeline_samples DIR`` saves them)."""

from __future__ import annotations

import colorsys
import io
import itertools
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows.base.content import CONTENT_DIR
from flows.domain import timeline_image as ti
from flows.storage import profiles as profile_module
from flows.storage.experiences import month_index
from flows.storage.store import Store
from tests import timeline_samples as samples
from tests.chat import Chat

CASES = list(samples.CASES)
TELEGRAM_DARK, TELEGRAM_LIGHT = (14, 22, 33), (255, 255, 255)  # chat backgrounds of the two themes


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[str, ti.Picture]:
    return request.param, samples.render(request.param)


def open_png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    Image.open(io.BytesIO(data)).verify()  # a complete, uncorrupted file
    return Image.open(io.BytesIO(data))


def test_portrait_or_square_and_phone_wide(case: tuple[str, ti.Picture]) -> None:
    _, picture = case
    width, height = picture.image.size
    assert width >= 1080 and width <= height <= 1.6 * width


def test_no_text_under_28_px_and_none_cut_by_the_edge(case: tuple[str, ti.Picture]) -> None:
    _, picture = case
    width, height = picture.image.size
    assert picture.texts
    for box in picture.texts:
        assert box.size >= 28, box
        assert box.y1 - box.y0 >= 14, box  # a real line of ink, not a sliver
        assert box.x0 > ti.BORDER and box.x1 < width - ti.BORDER and box.y0 > ti.BORDER and box.y1 < height, box


def test_no_empty_band(case: tuple[str, ti.Picture]) -> None:
    """No run of more than 80 pixel rows (7% of the width) with next to nothing drawn on it."""
    _, picture = case
    pixels = np.asarray(picture.image).astype(int)[ti.BORDER:-ti.BORDER, ti.BORDER:-ti.BORDER]
    inked = (np.abs(pixels - np.array(ti.BACKGROUND)).max(axis=2) > 12).mean(axis=1) >= 0.01
    longest = run = 0
    for row in inked:
        run = 0 if row else run + 1
        longest = max(longest, run)
    assert longest <= 80


def test_texts_never_overlap_each_other_or_the_lines(case: tuple[str, ti.Picture]) -> None:
    _, picture = case
    texts = picture.texts
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            assert not a.overlaps(b), (a, b)
    assert picture.lines  # Today is always drawn
    for line in picture.lines:
        for box in texts:
            assert not line.overlaps(box), (line, box)
    # And in the pixels: no ink of a marker line inside any text but the markers' own names.
    pixels = np.asarray(picture.image)
    for box in texts:
        if box.what == "marker":
            continue
        crop = pixels[int(box.y0):int(box.y1) + 1, int(box.x0):int(box.x1) + 1].reshape(-1, 3)
        for colour in (ti.TODAY, ti.APPLICATION):
            assert not (crop == colour).all(axis=1).any(), (box, colour)


def test_each_bar_is_labelled_with_kind_specialty_place_and_months(case: tuple[str, ti.Picture]) -> None:
    name, picture = case
    experiences, _ = samples.CASES[name]
    shown = sorted(experiences, key=lambda e: (e.start, e.id))[-ti.MAX_LANES:]
    assert len(picture.bars) == len(shown)
    labels = [box for box in picture.texts if box.what == "label"]
    for exp, bar in zip(shown, picture.bars, strict=True):
        above = [b for b in labels if b.y1 <= bar.y0 and bar.y0 - b.y1 < 2 * ti.BODY + 30]
        assert len(above) == 2, exp
        head, detail = sorted(above, key=lambda b: b.y0)
        kind = samples.label(f"tracker.type.{exp.type}").split(maxsplit=1)[1]  # without the emoji
        assert head.text.startswith(kind)
        assert exp.specialty.split()[0] in head.text
        assert ti._safe(exp.institution)[:10] in detail.text
        assert exp.end[:4] in detail.text  # the months come first, so they are never cut
        if exp.status == "planned":
            assert "Planned" in detail.text
        assert head.x0 <= max(bar.x0, ti.LEFT) + 1  # the text starts at or before its bar
    hidden = len(experiences) - len(shown)
    more = [b for b in picture.texts if b.text.startswith(f"+{hidden} ")]
    assert bool(more) == (hidden > 0)


def test_today_and_the_application_are_named_and_drawn(case: tuple[str, ti.Picture]) -> None:
    name, picture = case
    _, application = samples.CASES[name]
    markers = {b.text for b in picture.texts if b.what == "marker"}
    assert markers == ({"Today", "Application"} if application else {"Today"})
    colours = {colour for _, colour in picture.image.getcolors(maxcolors=1 << 20) or []}
    assert ti.TODAY in colours
    assert (ti.APPLICATION in colours) == bool(application)
    stages = [b for b in picture.texts if b.what == "key"]
    assert bool(stages) == bool(application)


def test_levels_told_by_colour_and_pattern_and_never_like_a_stage() -> None:
    assert len(set(ti.LEVEL_PATTERNS.values())) == len(ti.LEVEL_PATTERNS)  # not by colour alone
    for colour in ti.LEVEL_COLOURS.values():
        assert colorsys.rgb_to_hsv(*(c / 255 for c in colour))[1] > 0.6
    for colour in (*ti.STAGE_FILLS, ti.STAGE_SHADE, ti.TRACK_FILL):
        assert colorsys.rgb_to_hsv(*(c / 255 for c in colour))[1] < 0.12  # stages are grey


def _luminance(colour: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_readable_in_the_light_and_the_dark_theme(case: tuple[str, ti.Picture]) -> None:
    """An opaque light card: the text contrast does not depend on the chat's theme, and the
    card's border stands out from both chat backgrounds."""
    _, picture = case
    assert picture.image.mode == "RGB"  # no transparency for the dark theme to show through
    for ink in (ti.INK, ti.MUTED, ti.TODAY, ti.APPLICATION):
        assert contrast(ink, ti.BACKGROUND) >= 4.5  # WCAG AA for text
    for fill in (ti.TODAY, ti.APPLICATION, *ti.STAGE_FILLS):
        assert contrast(ti.BACKGROUND, fill) >= 3.5  # white names on the pills and stage numbers
    for theme in (TELEGRAM_DARK, TELEGRAM_LIGHT):
        assert contrast(ti.FRAME, theme) >= 3
    pixels = np.asarray(picture.image)
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    assert (edge == ti.FRAME).all()


def test_the_png_is_complete_and_small_enough_to_send() -> None:
    experiences, application = samples.CASES["crowded"]
    assert application is not None
    data = ti.png(ti.render(experiences, month_index(application), samples.TODAY,
                            ti.windows(application, samples.label), samples.label, samples.MONTHS))
    image = open_png(data)
    assert image.size[0] == 1080 and 5_000 < len(data) < 1_000_000


def test_windows_come_from_the_plans_milestones() -> None:
    bands = ti.windows(samples.APPLICATION, samples.label)
    assert len(bands) == 4
    assert bands[0].start == month_index(samples.APPLICATION) - 36
    assert all(b.title and b.start < b.end for b in bands)
    assert [b.start for b in bands] == sorted(b.start for b in bands)


@pytest.fixture
def no_plan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "flows.domain.plan", None)  # import fails as if not installed
    yield


def test_without_the_plan_the_guides_four_windows_are_used(no_plan: None) -> None:
    app = month_index(samples.APPLICATION)
    bands = ti.windows(samples.APPLICATION, samples.label)
    assert [(b.start - app, b.end - app) for b in bands] == [(-36, -24), (-18, -12), (-12, -6), (0, 12)]
    assert bands[0].title == samples.label("window_early")
    assert ti.windows(None, samples.label) == []


def test_emoji_and_markup_are_drawn_as_plain_text() -> None:
    assert ti._safe("Hôpital – Zürich 😀 <b>") == "Hôpital – Zürich <b>"
    assert ti._fit("x" * 500, 28, 300).endswith("…")
    assert ti.font(28).getlength(ti._fit("x" * 500, 28, 300)) <= 300


def test_timeline_command_sends_a_photo_with_buttons(chat: Chat, store: Store) -> None:
    chat.send("/timeline")
    [reply] = chat.replies
    assert reply.attachment is not None and reply.attachment.kind == "photo"
    assert reply.attachment.filename == "timeline.png"
    assert open_png(reply.attachment.content).size == (1080, 1080)
    assert "Tell me when you apply" in chat.text
    assert [b.data for row in reply.buttons for b in row] == ["go:log", "go:progress", "go:menu"]
    profile_module.migrations.apply(store.db)
    profile_module.save_answer(store, chat.user, "2026-11-25", application="2027-09")
    chat.send("/timeline")
    assert "application timeline" in chat.text
    assert chat.replies[0].attachment is not None
    assert open_png(chat.replies[0].attachment.content).size[0] == 1080
    chat.press_data("go:progress")
    assert chat.replies and chat.replies[0].attachment is None


def test_an_application_long_ago_or_far_ahead_still_fits() -> None:
    far = [samples.exp("2017-01", "2017-01"), samples.exp("2031-10", "2031-12", status="planned")]
    picture = ti.render(far, month_index(date(2032, 9, 1)), samples.TODAY,
                        ti.windows(date(2032, 9, 1), samples.label), samples.label, samples.MONTHS)
    years = [b for b in picture.texts if b.what == "axis"]
    assert len(years) >= 3
    for a, b in itertools.pairwise(years):
        assert b.x0 - a.x1 >= 12  # year labels never touch


def test_the_fonts_come_with_the_package_not_the_system() -> None:
    for bold in (False, True):
        path = Path(str(ti.font(28, bold).path))
        assert path.parent == CONTENT_DIR / "fonts" and path.is_file()
    assert (CONTENT_DIR / "fonts" / "LICENSE").is_file()
