"""A small driver for conversations with the engine, as a user would have them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.base.text import to_plain
from flows.base.types import Button, Input, Reply
from flows.engine.engine import Engine


class Clock:
    """A controllable clock for tests: never sleeps, moves when told."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Chat:
    """One user talking to the engine. Keeps the last replies so buttons can be pressed by label."""

    def __init__(self, engine: Engine, user: str = "tg:1001") -> None:
        self.engine = engine
        self.user = user
        self.replies: list[Reply] = []
        self.route = ""
        self.notice: str | None = None  # what a tap showed on itself (Telegram's callback answer)

    def _do(self, inp: Input) -> list[Reply]:
        outcome = self.engine.handle(inp)
        self.route, self.notice = outcome.route, outcome.notice
        if outcome.notice and not outcome.replies:  # a note on the tap: the messages on screen stay as they were
            return []
        self.replies = outcome.replies
        assert self.replies, f"no reply to {inp!r}"
        return self.replies

    def send(self, line: str) -> list[Reply]:
        return self._do(Input.parse(self.user, line))

    def press_data(self, data: str) -> list[Reply]:
        return self._do(Input.button(self.user, data))

    @property
    def buttons(self) -> list[Button]:
        return [b for r in self.replies for row in r.buttons for b in row]

    def button(self, label: str) -> Button:
        """The button whose label contains ``label`` (case-insensitive) in the last replies."""
        found = [b for b in self.buttons if label.lower() in b.label.lower()]
        assert found, f"no button like {label!r} in {[b.label for b in self.buttons]}"
        return found[0]

    def press(self, label: str) -> list[Reply]:
        return self.press_data(self.button(label).data)

    @property
    def text(self) -> str:
        """The last replies as plain text, the way a user reads them (a tap's note first)."""
        return "\n".join([*([self.notice] if self.notice else []), *(to_plain(r.text) for r in self.replies)])
