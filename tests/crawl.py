"""Walk every screen the engine can show: every command and every FAQ question, then every
button of every reply and a few typed answers at every open step, breadth first, each path
replayed for a new user.

A path is a list of inputs from a fresh user. Expanding one replays it, then tries each
button of the last replies and, while a flow waits for an answer, each sample answer. An
expansion is tried once per (flow, step, button data and its keyboard's labels, numbers as
#), so the walk ends;
every reply seen on the way is collected.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flows.base.content import CONTENT_DIR, load_yaml
from flows.base.types import Input, Keyboard, Reply, merge_replies
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store

# Typed answers that move most free-text steps on (names, places, dates, numbers, notes).
SAMPLES = (
    "Internal medicine",
    "Mayo Clinic",
    "Sep 2027",
    "3",
    "2019",
    "Dr Rivera",
    "yes",
    "India",
    "Asha Rao",
    "I took histories, presented patients on rounds every morning and wrote daily progress notes "
    "under supervision; I learned how a US team divides its work.",
)


@dataclass
class Seen:
    replies: list[tuple[tuple[Input, ...], Reply]] = field(default_factory=list)  # with the path to it
    paths: int = 0

    @property
    def keyboards(self) -> list[Keyboard]:
        unique: dict[tuple[tuple[tuple[str, str], ...], ...], Keyboard] = {}
        for _, reply in self.replies:
            if reply.buttons:
                unique.setdefault(tuple(tuple((b.label, b.data) for b in row) for row in reply.buttons), reply.buttons)
        return list(unique.values())


def faq_questions() -> list[str]:
    """The question of every FAQ entry, as a user might type it."""
    entries = load_yaml(CONTENT_DIR / "faq.yaml")["entries"]
    return [str(entry["question"]) for entry in entries]


def _shape(data: str) -> str:
    return re.sub(r"\d+", "#", data)


def crawl(max_paths: int = 4000, max_depth: int = 30) -> Seen:
    store = Store.memory()
    engine = Engine(store, all_features(), clock=lambda: datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    engine.migrate()
    engine.is_admin = lambda user_id: True  # type: ignore[method-assign]  # admin screens too
    seen = Seen()
    ids = iter(range(1, 10**9))
    tried: set[tuple[str | None, str | None, str]] = set()
    listed = sorted(engine.command_names)
    queue: deque[tuple[Input, ...]] = deque((Input.command("tg:0", name),) for name in listed)
    queue.extend((Input.text("tg:0", question),) for question in faq_questions())  # answers as well
    for name in listed:
        tried.add((None, None, f"/{name}"))
    while queue and seen.paths < max_paths:
        path = queue.popleft()
        user = f"tg:{next(ids)}"
        outcome = None
        for inp in path:
            outcome = engine.handle(Input(user, inp.kind, inp.value, inp.args))
        seen.paths += 1
        assert outcome is not None and outcome.session is not None
        for reply in merge_replies(outcome.replies):  # as the channels send them: one message each
            seen.replies.append((path, reply))
        if len(path) >= max_depth:
            continue
        flow, state = outcome.session.flow, outcome.session.state
        for data, labels in _buttons(outcome.replies):
            key = (flow, state, f"{_shape(data)} {labels}")  # a ticked choice changes the labels
            if key not in tried:
                tried.add(key)
                queue.append((*path, Input.button("tg:0", data)))
        if flow:
            for sample in SAMPLES:
                key = (flow, state, f"text:{sample}")
                if key not in tried:
                    tried.add(key)
                    queue.append((*path, Input.text("tg:0", sample)))
    return seen


def _buttons(replies: list[Reply]) -> Iterator[tuple[str, str]]:
    """Each button's data, with the labels of its keyboard (numbers as #)."""
    for reply in replies:
        labels = _shape("|".join(b.label for row in reply.buttons for b in row))
        for row in reply.buttons:
            for button in row:
                yield button.data, labels
