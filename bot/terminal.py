"""The terminal channel: the same engine in a console. Buttons become numbered choices."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from flows.engine import Engine
from flows.nudges import due_replies
from flows.text import to_plain
from flows.types import Button, Input, Reply, merge_replies

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


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
                self.export_dir.mkdir(parents=True, exist_ok=True)
                target = self.export_dir / _SAFE_NAME.sub("_", reply.attachment.filename)
                target.write_bytes(reply.attachment.content)
                print(f"  [saved to {target}]", file=self.out)
            for row in reply.buttons:
                for button in row:
                    choices.append(button)
                    print(f"  [{len(choices)}] {button.label}", file=self.out)
            print(file=self.out)
        if choices:
            self.choices = choices

    def to_input(self, line: str) -> Input:
        stripped = line.strip()
        if stripped.isdigit() and self.choices and 1 <= int(stripped) <= len(self.choices):
            return Input.button(self.user_id, self.choices[int(stripped) - 1].data)
        return Input.parse(self.user_id, line)

    def send(self, line: str) -> list[Reply]:
        replies = self.engine.handle(self.to_input(line)).replies
        replies = replies + due_replies(self.engine, self.user_id)  # nudges that fell due meanwhile
        self.show(replies)
        return replies

    def loop(self) -> None:
        print("USCE Coach — type a message, a number to press a button, or /quit.\n", file=self.out)
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
