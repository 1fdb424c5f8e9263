"""Every screen the engine can show fits a 360-dp phone: no reply runs past about one screen
(1,000 characters as read) unless the user asked for the whole text, and no button label is
cut. The screens come from walking the engine (tests/crawl.py); the widths from Roboto's
metrics (tests/phone.py)."""

from __future__ import annotations

import functools

import pytest

from flows.base.text import to_plain
from tests.crawl import Seen, crawl
from tests.phone import REPLY_CHARACTERS, label_width, row_budget, too_wide


@functools.cache
def walk() -> Seen:
    return crawl()


@pytest.fixture(scope="module")
def seen() -> Seen:
    return walk()


def test_the_walk_reaches_the_screens_that_matter(seen: Seen) -> None:
    text = "\n".join(to_plain(reply.text) for _, reply in seen.replies)
    for screen in (
        "Welcome to USCE Coach",  # /start
        "Where you stand",  # the plan's card, after the goal questions
        "What fits you",  # its options and the full plan
        "Erase everything?",  # /delete
        "What I keep about you",  # /privacy's details
    ):
        assert screen in text, screen
    assert len(seen.keyboards) >= 150


def test_no_reply_runs_past_a_screen_unless_asked_for_in_full(seen: Seen) -> None:
    long = {
        to_plain(reply.text)[:60]: (len(to_plain(reply.text)), [i.value for i in path])
        for path, reply in seen.replies
        if not reply.full and len(to_plain(reply.text)) > REPLY_CHARACTERS
    }
    assert not long, long
    assert any(reply.full for _, reply in seen.replies)  # the full plan is there, marked


def test_every_keyboard_fits_a_360_dp_phone(seen: Seen) -> None:
    problems = sorted({problem for keyboard in seen.keyboards for problem in too_wide(keyboard)})
    assert not problems, problems


def test_the_width_budget_is_measured_not_counted() -> None:
    assert row_budget(1) == 270 and row_budget(2) == 127.5 and row_budget(3) == 80
    assert label_width("WWWW") > label_width("iiii") * 2  # proportional: letters differ
    assert label_width("🎯 My plan") == pytest.approx(20 + label_width(" My plan"))
    assert label_width("🇵🇰") == label_width("🎯")  # a flag is one picture
    assert label_width("✓ Done") < label_width("✅ Done")  # ✓ is text, ✅ an emoji
    # The labels the phone cut before: two to a row they don't fit
    for label in ("🔬 Research with clinical work", "📝 Scribe / clinical support", "✏️ Change name or school"):
        assert label_width(label) > row_budget(2), label
