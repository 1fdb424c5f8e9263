"""The terminal channel: the same engine in a console. Buttons become lettered choices."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from flows.base.text import to_plain
from flows.base.types import Button, Input, Reply, merge_replies
from flows.engine.engine import Engine
from flows.features.nudges import due_replies

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
ERASED_ROUTE = "privacy:erased"  # the engine's route when a user's data was erased


def user_tag(user_id: str) -> str:
    """The part of a file name that is one user's: their name made safe ("term_ann") and a
    short hash of the whole id, so "a b" and "a_b" never share a file."""
    digest = hashlib.sha256(user_id.encode()).hexdigest()[:10]
    return f"{_SAFE_NAME.sub('_', user_id)[:40]}-{digest}"


def user_file(directory: Path, user_id: str, filename: str) -> Path:
    """Where an attachment for ``user_id`` is written: "usce-coach-export-term_ann-1a2b3c4d5e.json"."""
    stem, dot, suffix = _SAFE_NAME.sub("_", filename).rpartition(".")
    if not dot:
        stem, suffix = suffix, "bin"
    return directory / f"{stem}-{user_tag(user_id)}.{suffix}"


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` readable by this account only (0600), in a folder that is 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(path, 0o600)  # a file left from before keeps its mode through O_CREAT


def user_files(directory: Path, user_id: str) -> list[Path]:
    """Every file written for ``user_id`` in ``directory``."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*-{user_tag(user_id)}.*"))


def choice_key(index: int) -> str:
    """The letter typed to press the button at ``index``: a … z, then aa, ab, …"""
    letters = "abcdefghijklmnopqrstuvwxyz"
    if index < len(letters):
        return letters[index]
    return letters[index // len(letters) - 1] + letters[index % len(letters)]


class Terminal:
    def __init__(
        self,
        engine: Engine,
        user: str,
        export_dir: Path,
        out: TextIO = sys.stdout,
        read: Callable[[str], str] = input,
    ) -> None:
        self.engine = engine
        self.user_id = f"term:{user}"
        self.export_dir = export_dir
        self.out = out
        self.read = read
        self.choices: list[Button] = []

    def show(self, replies: list[Reply]) -> None:
        choices: list[Button] = []
        for reply in merge_replies(replies):
            print(to_plain(reply.text), file=self.out)
            if reply.attachment is not None:
                target = user_file(self.export_dir, self.user_id, reply.attachment.filename)
                write_private(target, reply.attachment.content)
                print(f"  [saved to {target}]", file=self.out)
            for row in reply.buttons:
                for button in row:
                    choices.append(button)
                    print(f"  [{choice_key(len(choices) - 1)}] {button.label}", file=self.out)
            print(file=self.out)
        if choices:
            self.choices = choices

    def to_input(self, line: str) -> Input:
        """A button's letter presses it; anything else is typed, so "6" or "2 weeks" answers a
        step that asks for a number."""
        key = line.strip().lower()
        keys = [choice_key(i) for i in range(len(self.choices))]
        if key in keys:
            return Input.button(self.user_id, self.choices[keys.index(key)].data)
        return Input.parse(self.user_id, line)

    def send(self, line: str) -> list[Reply]:
        outcome = self.engine.handle(self.to_input(line))
        replies = outcome.replies
        if outcome.route == ERASED_ROUTE:  # /delete: the files written for this user go too
            for path in user_files(self.export_dir, self.user_id):
                path.unlink(missing_ok=True)
        replies = replies + due_replies(self.engine, self.user_id)  # nudges that fell due meanwhile
        if outcome.notice:  # what Telegram shows on the tap itself
            print(f"  ({outcome.notice})", file=self.out)
        self.show(replies)
        return replies

    def loop(self) -> None:
        print("USCE Coach — type a message, a letter to press a button, or /quit.\n", file=self.out)
        self.send("/start")
        while True:
            try:
                line = self.read("> ")
            except (EOFError, KeyboardInterrupt):
                print(file=self.out)
                return
            if line.strip().lower() in {"/quit", "/exit"}:
                return
            if line.strip():
                self.send(line)
