"""Random conversations through the whole engine (hypothesis).

A few users (one of them an admin) send random text (unicode, emoji, right-to-left,
control characters, HTML, 4,096 characters, nothing at all), every command in any
state, buttons seen in earlier replies (old ones, and other users' too) and forged
button data, while the clock moves. After every input:

- there is at least one reply, and no exception escaped;
- every reply is a message Telegram accepts: valid HTML of its subset, not empty, at
  most a few messages once split, buttons with data of at most 64 bytes;
- the stored session is valid (no flow, or a flow the engine knows; JSON data);
- nobody else's stored data changed (except what an admin's broadcast queues).

The run is deterministic (``derandomize``); ``PROPERTY_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import split_text
from flows.base.types import MAX_CALLBACK_BYTES, Input, Kind, Reply
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Clock
from tests.emulator import parse_html

pytestmark = pytest.mark.slow  # random conversations by the thousand: deselect with make test-fast

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
USERS = ("tg:1", "tg:2", "tg:42")  # tg:42 is the admin
ADMIN = "tg:42"
MAX_PIECES = 4  # one reply never floods the chat

_shape = Engine(Store.memory(), all_features())
COMMANDS = sorted(_shape.command_names)
PREFIXES = sorted({f.prefix for f in _shape.features if f.prefix})
FLOWS = _shape.flow_names

SAMPLES = [
    "", " ", "\n\n", "\x00", "\x1b[31m", "\u202eevil", "\u200f", "مرحبا بك", "שלום", "👩‍⚕️🩺🇺🇸",
    "<b>", "</i>", "<script>alert(1)</script>", "&amp;", "&", "a & b < c > d", "*_`[x](y)",
    "yes", "no", "skip", "1", "0", "-1", "2", "3", "12", "2027", "2026-13-45", "12/2027", "March 2028",
    "99999999999999999999", "1e309", "NaN", "/start", "/", "/ cancel", "Internal medicine",
]
huge = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "🩺", "<", "&", " ", "\n", "x "]),
                 st.integers(4000, 4096))
texts = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=80),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300),
    st.integers(-10, 100_000).map(str),
    huge,
)
junk_data = st.one_of(
    st.text(max_size=64).filter(lambda s: len(s.encode()) <= MAX_CALLBACK_BYTES),
    st.builds(lambda p, rest: f"{p}:{rest}"[:64], st.sampled_from(PREFIXES), st.text(max_size=30)),
    st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(PREFIXES), st.integers(-5, 10**12)),
)


@dataclass
class World:
    engine: Engine
    clock: Clock
    seen: list[str] = field(default_factory=list)  # button data of every reply so far
    inputs: int = 0


def fresh_world() -> World:
    clock = Clock()
    engine = Engine(Store.memory(), all_features(), clock=clock, admins=[ADMIN])
    engine.migrate()
    return World(engine, clock)


def check_reply(reply: Reply) -> None:
    assert reply.text.strip(), "an empty message"
    pieces = split_text(reply.text)
    assert len(pieces) <= MAX_PIECES, f"{len(pieces)} messages in one reply"
    for piece in pieces:
        assert len(piece) <= 4096
        plain, _ = parse_html(piece)  # raises like Telegram's "can't parse entities"
        assert plain.strip(), f"a message with no visible text: {piece!r}"
    if reply.attachment is not None:
        assert reply.attachment.content and reply.attachment.filename
    for row in reply.buttons:
        assert row
        for button in row:
            assert len(button.data.encode()) <= MAX_CALLBACK_BYTES
            assert button.label.strip() and len(button.label) <= 64


def check_session(engine: Engine, user: str) -> None:
    row = engine.store.conn.execute("SELECT flow, state, data FROM users WHERE user_id = ?", (user,)).fetchone()
    if row is None:
        return  # erased
    flow, state, data = row
    assert flow is None or flow in FLOWS, f"unknown flow {flow!r}"
    if flow is not None:
        assert isinstance(state, str) and state
    if data is not None:
        assert isinstance(json.loads(data), dict)


def snapshot(engine: Engine, user: str) -> dict[str, Any]:
    return engine.store.export_user(user)


def step(world: World, data: st.DataObject) -> None:
    user = data.draw(st.sampled_from(USERS), label="user")
    kind = data.draw(st.sampled_from(["text", "command", "old button", "forged button", "wait"]), label="kind")
    if kind == "wait":
        world.clock.advance(minutes=data.draw(st.integers(1, 60 * 24 * 40), label="minutes"))
        return
    if kind == "text":
        inp = Input.text(user, data.draw(texts, label="text"))
    elif kind == "command":
        name = data.draw(st.one_of(st.sampled_from(COMMANDS), st.text(min_size=1, max_size=12)), label="command")
        inp = Input.command(user, name, data.draw(st.one_of(st.just(""), texts), label="args"))
    elif kind == "old button" and world.seen:
        inp = Input.button(user, data.draw(st.sampled_from(world.seen), label="button"))
    else:
        inp = Input.button(user, data.draw(junk_data, label="data"))
    others = {u: snapshot(world.engine, u) for u in USERS if u != user}
    outcome = world.engine.handle(inp, chat_id=int(user.split(":")[1]))
    world.inputs += 1
    # every input is answered: with replies, or (a tap that changes nothing) a note on the tap
    assert outcome.replies or (inp.kind is Kind.BUTTON and outcome.notice), f"no reply to {inp!r}"
    assert outcome.notice is None or 0 < len(outcome.notice) <= 200
    for reply in outcome.replies:
        check_reply(reply)
        world.seen += [b.data for row in reply.buttons for b in row if b.data not in world.seen]
    check_session(world.engine, user)
    for other, before in others.items():
        after = snapshot(world.engine, other)
        if user == ADMIN:  # a broadcast queues a copy for everyone; nothing else may change
            before.pop("broadcast_messages", None)
            after.pop("broadcast_messages", None)
        assert after == before, f"{user}'s {inp!r} changed {other}'s data"


TRIED: Counter[str] = Counter()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def random_conversations(data: st.DataObject) -> None:
    world = fresh_world()
    TRIED["conversations"] += 1
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        step(world, data)
    TRIED["inputs"] += world.inputs
    assert world.engine.store.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_random_conversations_always_get_valid_replies_and_keep_state_valid() -> None:
    TRIED.clear()
    random_conversations()
    print(f"\nproperties: conversations={TRIED['conversations']} inputs={TRIED['inputs']}")
    assert TRIED["inputs"] >= EXAMPLES  # the run really drove the engine


@settings(max_examples=max(EXAMPLES // 4, 25), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=12), st.data())
def test_any_command_from_any_state_then_the_buttons_it_offered(commands: list[str], data: st.DataObject) -> None:
    """Walk deep into flows: each command, then pressing buttons it offered, then another command."""
    world = fresh_world()
    user = data.draw(st.sampled_from(USERS), label="user")
    for name in commands:
        replies = world.engine.handle(Input.command(user, name), chat_id=1).replies
        for _ in range(data.draw(st.integers(0, 6), label="presses")):
            offered = [b.data for r in replies for row in r.buttons for b in row]
            if not offered:
                break
            pressed = data.draw(st.sampled_from(offered), label="press")
            outcome = world.engine.handle(Input.button(user, pressed), chat_id=1)
            assert outcome.replies or outcome.notice  # a press the step can't take: said on the tap
            replies = outcome.replies or replies  # ... and the pressed message stays as it was
            for reply in replies:
                check_reply(reply)
            check_session(world.engine, user)


def test_a_new_users_very_first_input_can_be_any_button() -> None:
    """Found by the property test: a first-ever input that writes a row (a forwarded or old
    button) must not trip the foreign key to a users row that is only written at the end."""
    from tests.test_security import explore

    world = fresh_world()
    seen = explore(world.engine, "tg:1", random.Random(3), 300, avoid=("pv:erase", "pv:~d:confirm:a:erase"))
    assert len(seen) > 50
    for n, data in enumerate(seen):
        outcome = world.engine.handle(Input.button(f"tg:{900 + n}", data), chat_id=900 + n)
        assert outcome.replies or outcome.notice, data
        for reply in outcome.replies:
            check_reply(reply)
    assert world.engine.store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
