"""What an open flow was told, so a question typed mid-step and an edited answer are handled
the same way in every flow.

The engine keeps a short log of the messages a flow received while it is open (in the
session's scratch data under :data:`LOG_KEY`, carried across the flow's own ``enter`` calls,
gone when the flow ends). Each entry holds the message id, the flow's position before the
message and the text. An edit of the message that answered the current or the previous step
rewinds the flow to where that message found it, gives it the new text, and gives it again
what came after; anything else edited is ignored. Only typed text is replayed, so an entry
followed by a button press cannot be edited (a replayed toggle would undo itself).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from flows.base.types import Session

LOG_KEY = "_answers"
KEEP = 2  # the answers of the current and the previous step


@dataclass(frozen=True, slots=True)
class Entry:
    message_id: int | None  # None: a button press
    flow: str
    state: str | None
    data: dict[str, Any]
    text: str
    accepted: bool  # the flow took it (False: rejected, or answered as a question)

    def as_json(self) -> dict[str, Any]:
        return {"m": self.message_id, "f": self.flow, "s": self.state, "d": self.data, "t": self.text,
                "ok": self.accepted}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entry:
        return cls(raw.get("m"), raw.get("f", ""), raw.get("s"), dict(raw.get("d") or {}), str(raw.get("t", "")),
                   bool(raw.get("ok", True)))


def take_log(session: Session) -> list[Entry]:
    """Remove the log from the scratch data (the flow never sees it) and return it."""
    raw = session.data.pop(LOG_KEY, None) if session.data else None
    if not isinstance(raw, list):
        return []
    entries = []
    for item in raw:
        if isinstance(item, dict):
            entries.append(Entry.from_json(item))
    return entries


def put_log(session: Session, entries: list[Entry], taken: list[Entry]) -> None:
    """Put the log back while a flow is open (the entries of that flow only; a flow that ended
    or changed forgets it). ``taken`` is what :func:`take_log` returned at the start."""
    if not session.flow:
        return
    kept = [e.as_json() for e in entries if e.flow == session.flow][-KEEP:]
    if kept != [e.as_json() for e in taken]:
        session.dirty = True  # the log changed though the flow may not have moved
    if kept:
        session.data[LOG_KEY] = kept
    else:
        session.data.pop(LOG_KEY, None)


def entry_before(session: Session, message_id: int | None, text: str, accepted: bool = True) -> Entry:
    """An entry for a message about to be given to the open flow, at the flow's current position."""
    return Entry(message_id, session.flow or "", session.state, copy.deepcopy(session.data), text, accepted)


def editable(entries: list[Entry], message_id: int) -> int | None:
    """The index of the entry an edit of ``message_id`` may replace, or None to ignore the edit."""
    for index in range(len(entries) - 1, -1, -1):
        if entries[index].message_id == message_id:
            later = entries[index + 1 :]
            if any(e.message_id is None for e in later):
                return None
            if later and not entries[index].accepted:
                return None  # a rejected try that a later message already answered
            return index
    return None


def rewind(session: Session, entry: Entry) -> None:
    """Put the flow back where the message of ``entry`` found it."""
    session.flow, session.state, session.data, session.dirty = entry.flow, entry.state, copy.deepcopy(entry.data), True
