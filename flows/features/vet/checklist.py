"""The vetting checklist (``content/checklist.yaml``), loaded and checked once per process.

Each item becomes one step of the /vet dialog, named by its id, so an id is also a step name:
it may not be the name of the dialog's first step or ``done``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import field_validator, model_validator

from flows.base.content import CONTENT_DIR, Bool, ContentFile, ContentModel, Text, read, rule
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


class _Item(ContentModel):
    id: Text
    label: Text
    question: Text
    why: Text
    ask: Text
    essential: Bool = False
    guide_ask: Bool = False
    label_no: Text | None = None  # red flags only

    @field_validator("id")
    @classmethod
    def _step_name(cls, item_id: str) -> str:
        if len(item_id) > 12 or not item_id.replace("_", "").isalnum():
            raise rule(f"id {item_id!r}: use up to 12 letters, digits or _")
        if item_id in RESERVED:
            raise rule(f"id {item_id!r} is reserved: choose another")
        return item_id

    def item(self, red: bool) -> Item:
        return Item(self.id, self.label, self.question, self.why, self.ask, red, self.essential, self.guide_ask,
                    self.label_no or "")


class ChecklistFile(ContentModel):
    """``content/checklist.yaml``: the checks, then the red flags; ids unique."""

    checks: tuple[_Item, ...]
    red_flags: tuple[_Item, ...]

    @model_validator(mode="after")
    def _sections(self) -> ChecklistFile:
        if not self.checks:
            raise rule("no checks", "checks")
        seen: set[str] = set()
        for section, red in (("checks", False), ("red_flags", True)):
            for n, item in enumerate(getattr(self, section)):
                if item.id in seen:
                    raise rule(f"id {item.id!r} is used twice", section, n, "id")
                seen.add(item.id)
                if red and item.essential:
                    raise rule("red flags take no 'essential'", section, n, "essential")
                if red and item.label_no is None:
                    raise rule("missing 'label_no'", section, n)
                if not red and item.label_no is not None:
                    raise rule("only red flags take 'label_no'", section, n, "label_no")
        return self

    def checklist(self) -> Checklist:
        items = tuple(i.item(False) for i in self.checks) + tuple(i.item(True) for i in self.red_flags)
        return Checklist(items, tuple(i.criterion for i in items))


def load_checklist(path: Path = CHECKLIST_PATH) -> Checklist:
    return read(path, ChecklistFile).checklist()


CHECKLIST = ContentFile(CHECKLIST_PATH.name, load_checklist)


def checklist() -> Checklist:
    """The checklist, as loaded at start."""
    return CHECKLIST.value()
