"""The plan on a phone: a summary card, one short screen per section, the full plan on request."""

from __future__ import annotations

import itertools

import pytest

from flows.base.text import to_plain
from flows.base.types import Reply, merge_replies
from flows.domain.plan import VISAS, Plan, build_plan
from flows.domain.plan_view import (
    SECTIONS,
    next_steps,
    plan_replies,
    render_card,
    render_section,
    section_pages,
    sections,
)
from flows.storage.profiles import Profile
from tests.chat import Chat
from tests.emulator import parse_html
from tests.test_plan import TODAY, profile, t


def shown(screen: str, plan: Plan, p: Profile) -> list[Reply]:
    replies = plan_replies(screen, plan, p, t)
    assert replies is not None, screen
    return replies


SCREEN = 1000  # characters a reply may show unless the whole text was asked for
COMBINATIONS = list(
    itertools.product(
        ("student", "graduate"),
        (2010, 2024, 2029),
        ("limited", "moderate", "flexible", None),
        (*VISAS, None),
        ("2026-12", "2027-09", "2029-09", "2025-01", None),
    )
)


@pytest.mark.parametrize(("status", "grad_year", "budget", "visa", "application"), COMBINATIONS)
def test_the_card_and_every_section_fit_one_screen(
    status: str, grad_year: int, budget: str | None, visa: str | None, application: str | None
) -> None:
    p = profile(status=status, grad_year=grad_year, budget=budget, visa=visa, application=application)
    plan = build_plan(p, TODAY)
    screens = {"card": render_card(plan, p, t)}
    for section in sections(plan):
        pages = section_pages(section, plan, p, t)
        assert "".join(pages).count("\n") >= render_section(section, plan, p, t).count("\n")  # nothing dropped
        screens |= {f"{section}~{n}": page for n, page in enumerate(pages, 1)}
    for name, text in screens.items():
        assert len(to_plain(text)) <= SCREEN, (name, len(to_plain(text)))
        assert "{" not in text and "}" not in text
        parse_html(text)  # raises where Telegram would refuse the HTML
    assert ("situation" in sections(plan)) is bool(plan.adjustments)


def test_the_card_says_who_when_where_they_stand_and_the_next_three_steps() -> None:
    p = profile(grad_year=2016, specialties=("Psychiatry",), application="2027-09", us_months=1, us_letters=0)
    plan = build_plan(p, TODAY)
    card = to_plain(render_card(plan, p, t))
    assert "Graduated 2016 · Psychiatry · apply Sep 2027 → Match 2028" in card
    lines = card.split("\n")
    assert lines[2].startswith("⚠️") and "10 months remain" in lines[2]  # what most needs saying, on top
    assert "…and 1 more under Checks." in card
    assert "Hands-on, recent: 0 months — competitive IMGs often show 2–4" in card  # where they stand
    assert "US letters: 0 received" in card
    steps = next_steps(plan, t)
    assert len(steps) == 3
    for n, (when, task) in enumerate(steps, 1):
        assert f"{n}. {when} · {task}" in card
    assert steps[0][0] == "by Feb 2027"  # the current stage ends in February


def test_steps_come_from_the_stages_still_ahead_with_their_start() -> None:
    p = profile(application="2030-09")  # every stage is still ahead; the first opens Sep 2027
    whens = [when for when, _ in next_steps(build_plan(p, TODAY), t)]
    assert len(whens) == 3 and whens[0] == "from Sep 2027"
    assert all(w.startswith("from ") for w in whens)
    past = profile(application="2025-01")
    assert next_steps(build_plan(past, TODAY), t) == []
    assert "Nothing dated is left" in to_plain(render_card(build_plan(past, TODAY), past, t))


def test_a_plan_without_a_date_says_how_to_get_one() -> None:
    p = profile(application=None)
    card = to_plain(render_card(build_plan(p, TODAY), p, t))
    assert "Match" not in card and "/profile" in card


def test_section_screens_replace_the_card_and_the_full_plan_is_marked_as_asked_for() -> None:
    p = profile()
    plan = build_plan(p, TODAY)
    for section in sections(plan):
        [reply] = shown(section, plan, p)
        assert reply.replace and not reply.full
        data = [b.data for row in reply.buttons for b in row]
        assert f"ob:p:{section}" not in data and "ob:p:card" in data  # its own button leads back
    full = shown("full", plan, p)
    assert len(full) == 2 and all(r.full for r in full)
    whole = to_plain("\n".join(r.text for r in full))
    for section in sections(plan):
        body = to_plain(render_section(section, plan, p, t)).split("\n", 2)[2]
        assert body in whole  # the full plan holds every section


def test_plan_opens_as_the_card_and_its_buttons_open_each_section(chat: Chat) -> None:
    chat.send("/start")
    chat.press("set my goals")
    for step in ("!Graduate", "2016", "!Psychiatry", "!Done", "!Sep 2027", "4", "!Limited", "!visitor",
                 "!Yes, some", "1", "0", "!Done", "India"):
        chat.press(step[1:]) if step.startswith("!") else chat.send(step)  # "!": a tap, else typed
    assert "Where you stand" in chat.text and "Next steps" in chat.text
    assert len(merge_replies(chat.replies)) == 1  # "all done" and the card are sent as one message
    seen = set()
    for section in SECTIONS:
        if f"ob:p:{section}" not in [b.data for b in chat.buttons]:
            continue
        chat.press_data(f"ob:p:{section}")
        assert chat.route == "button:onboarding" and chat.replies[0].replace
        seen.add(section)
    assert {"targets", "timeline", "options", "situation"} <= seen
    chat.press_data("ob:p:card")
    assert "Where you stand" in chat.text
    chat.press_data("ob:p:full")
    assert "the guide's benchmarks" in chat.text and "What fits you as a graduate" in chat.text
    chat.send("/plan")
    assert "Where you stand" in chat.text and "What fits you" not in chat.text


def test_a_plan_button_before_the_plan_exists_is_stale(chat: Chat) -> None:
    chat.press_data("ob:p:targets")
    assert chat.route == "stale"
    chat.press_data("ob:p:nonsense")
    assert chat.route == "stale"


def test_a_section_longer_than_a_screen_turns_pages_with_nothing_lost() -> None:
    p = profile(status="graduate", grad_year=2010, budget="limited", visa="visitor", application="2026-12")
    plan = build_plan(p, TODAY)
    pages = section_pages("options", plan, p, t)
    assert len(pages) == 2 and len(to_plain(render_section("options", plan, p, t))) > 1000
    assert pages[1].startswith(pages[0].split("\n")[0])  # the heading again, then "(continued)"
    for line in render_section("options", plan, p, t).split("\n")[1:]:
        assert line in pages[0] or line in pages[1]
    [first] = shown("options", plan, p)
    assert [b.data for b in first.buttons[0]] == ["ob:p:options~2"]
    [second] = shown("options~2", plan, p)
    assert second.text == pages[1] and [b.data for b in second.buttons[0]] == ["ob:p:options~1"]
    assert shown("options~9", plan, p)[0].text == pages[1]  # past the end: the last page
    assert plan_replies("options~x", plan, p, t) is None

def test_a_plan_without_adjustments_or_warnings_has_no_such_screens() -> None:
    p = profile(status="student", grad_year=2028, budget="moderate", visa="authorized", application="2028-09")
    plan = build_plan(p, TODAY)
    assert sections(plan) == ("targets", "timeline", "options")
    assert plan_replies("situation", plan, p, t) is None and plan_replies("checks", plan, p, t) is None
    data = [b.data for row in shown("card", plan, p)[0].buttons for b in row]
    assert "ob:p:situation" not in data and "ob:p:checks" not in data and "ob:p:full" in data
