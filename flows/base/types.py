"""The engine's vocabulary: what comes in from a channel and what goes back."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

MAX_CALLBACK_BYTES = 64  # Telegram's limit for callback data


class Kind(enum.Enum):
    TEXT = "text"
    BUTTON = "button"
    COMMAND = "command"
    EDIT = "edit"  # the user edited a message they sent earlier; ``value`` is its new text


@dataclass(frozen=True, slots=True)
class Input:
    """One thing a user did: typed text, pressed a button, or sent a command.

    ``user_id`` is a channel-qualified id ("tg:123", "term:alice"); it always
    comes from the channel's own notion of the sender, never from button data.
    For a command, ``value`` holds its name (lower case, no slash) and
    ``args`` the rest of the line. ``message_id`` is the channel's id of the
    message the input came from (typed text, a command, an edited message; for a
    button, the message the button was under), when it has one.
    """

    user_id: str
    kind: Kind
    value: str
    args: str = ""
    message_id: int | None = None

    @classmethod
    def text(cls, user_id: str, text: str, message_id: int | None = None) -> Input:
        return cls(user_id, Kind.TEXT, text, message_id=message_id)

    @classmethod
    def button(cls, user_id: str, data: str, message_id: int | None = None) -> Input:
        return cls(user_id, Kind.BUTTON, data, message_id=message_id)

    @classmethod
    def command(cls, user_id: str, name: str, args: str = "", message_id: int | None = None) -> Input:
        return cls(user_id, Kind.COMMAND, name.lower(), args.strip(), message_id)

    @classmethod
    def edit(cls, user_id: str, text: str, message_id: int) -> Input:
        """The user changed the text of their message ``message_id`` to ``text``."""
        return cls(user_id, Kind.EDIT, text, message_id=message_id)

    @classmethod
    def parse(cls, user_id: str, line: str, message_id: int | None = None) -> Input:
        """A typed line: ``/cmd args`` (``/cmd@botname`` too) is a command, anything else text."""
        if line.startswith("/") and len(line) > 1 and not line[1].isspace():
            head, _, rest = line[1:].partition(" ")
            return cls.command(user_id, head.split("@", 1)[0], rest, message_id)
        return cls.text(user_id, line, message_id)


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str

    def __post_init__(self) -> None:
        if len(self.data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"button data over {MAX_CALLBACK_BYTES} bytes: {self.data!r}")


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to send with a reply: a JSON export, a PNG picture."""

    filename: str
    content: bytes
    kind: str = "document"  # "document" or "photo"


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show.

    ``text`` uses Telegram's HTML subset with every user value escaped.
    ``replace`` asks the channel to edit the message whose button was pressed
    instead of sending a new one. ``full`` marks a text the user asked to see whole
    (the full plan): it may run past one phone screen, which other replies do not.
    """

    text: str
    buttons: Keyboard = ()
    replace: bool = False
    attachment: Attachment | None = None
    full: bool = False


def keyboard(*rows: list[Button] | tuple[Button, ...]) -> Keyboard:
    return tuple(tuple(row) for row in rows if row)


def column(buttons: list[Button], width: int = 1) -> Keyboard:
    """Lay buttons out ``width`` per row."""
    return tuple(tuple(buttons[i : i + width]) for i in range(0, len(buttons), width))


@dataclass(slots=True)
class Session:
    """A user's place in the dialogue, loaded and saved on every input."""

    user_id: str
    flow: str | None = None
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created: bool = False  # first time this user was seen
    last_update: int | None = None  # channel's id of the last update applied (redelivery guard)
    last_seen: str | None = None  # ISO time of the user's previous input
    dirty: bool = False
    erased: bool = False  # the user's data was erased this turn: the session is not saved again

    def enter(self, flow: str, state: str, data: dict[str, Any] | None = None) -> None:
        self.flow, self.state, self.data, self.dirty = flow, state, data or {}, True

    def leave(self) -> None:
        self.flow, self.state, self.data, self.dirty = None, None, {}, True


def merge_replies(replies: list[Reply], limit: int = 4096) -> list[Reply]:
    """Fold a reply without buttons into the one after it, so a turn reads as one message
    where it can (fewer messages to scroll, fewer sends). Attachments stay on their own."""
    merged: list[Reply] = []
    for reply in replies:
        last = merged[-1] if merged else None
        if (
            last is not None
            and not last.buttons
            and last.attachment is None
            and reply.attachment is None
            and len(last.text) + len(reply.text) + 2 <= limit
        ):
            merged[-1] = Reply(
                f"{last.text}\n\n{reply.text}",
                reply.buttons,
                last.replace or reply.replace,
                full=last.full or reply.full,
            )
        else:
            merged.append(reply)
    return merged
