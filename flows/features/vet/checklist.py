"""The vetting checklist (``content/checklist.yaml``), loaded and checked once per process.

Each item becomes one step of the /vet dialog, named by its id, so an id is also a step name:
it may not be the name of the dialog's first step or ``done``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from flows.base.content import CONTENT_DIR, ContentError, line_of, load_yaml, require
from flows.domain.scoring import Criterion

CHECKLIST_PATH = CONTENT_DIR / "checklist.yaml"
RESERVED = ("name", "done")  # the dialog's own step names


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    label: str
    question: str
    why: str
    ask: str
    red_flag: bool = False
    essential: bool = False
    guide_ask: bool = False
    label_no: str = ""  # red flags: the item said when the program does not do it

    @property
    def criterion(self) -> Criterion:
        return Criterion(self.id, self.red_flag, self.essential, self.guide_ask)


@dataclass(frozen=True, slots=True)
class Checklist:
    items: tuple[Item, ...]
    criteria: tuple[Criterion, ...]

    def __len__(self) -> int:
        return len(self.items)

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def number(self, item_id: str) -> int:
        """The item's place in the checklist, from 1."""
        return next(n for n, i in enumerate(self.items, 1) if i.id == item_id)


def load_checklist(path: Path = CHECKLIST_PATH) -> Checklist:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(path, None, "expected 'checks' and 'red_flags'")
    items: list[Item] = []
    for section, red in (("checks", False), ("red_flags", True)):
        entries = require(path, data, section, list)
        for node in entries:
            if not isinstance(node, dict):
                raise ContentError(path, line_of(entries), f"each entry of '{section}' must be a mapping")
            item_id = require(path, node, "id")
            if len(item_id) > 12 or not item_id.replace("_", "").isalnum():
                raise ContentError(path, line_of(node), f"id {item_id!r}: use up to 12 letters, digits or _")
            if item_id in RESERVED:
                raise ContentError(path, line_of(node), f"id {item_id!r} is reserved: choose another")
            if any(i.id == item_id for i in items):
                raise ContentError(path, line_of(node), f"id {item_id!r} is used twice")
            flags = {k: node.get(k, False) for k in ("essential", "guide_ask")}
            if any(not isinstance(v, bool) for v in flags.values()):
                raise ContentError(path, line_of(node), "'essential' and 'guide_ask' must be true or false")
            if red and flags["essential"]:
                raise ContentError(path, line_of(node), "red flags take no 'essential'")
            items.append(
                Item(
                    id=item_id,
                    label=require(path, node, "label"),
                    question=require(path, node, "question"),
                    why=require(path, node, "why"),
                    ask=require(path, node, "ask"),
                    red_flag=red,
                    label_no=require(path, node, "label_no") if red else "",
                    **flags,
                )
            )
    if not any(not i.red_flag for i in items):
        raise ContentError(path, line_of(data), "no checks")
    return Checklist(tuple(items), tuple(i.criterion for i in items))


@functools.cache
def checklist() -> Checklist:
    """The checklist, loaded once per process."""
    return load_checklist()
