"""Walking the externship check (/vet) as a user: shared by tests/test_vetting*.py."""

from __future__ import annotations

import shutil
from pathlib import Path

from flows.base.content import CONTENT_DIR, Texts, load_texts
from flows.engine.engine import Feature
from flows.features.start import Core
from flows.features.vet import Vetting, checklist
from flows.storage.store import Store
from tests.chat import Chat

ITEMS = checklist().items
COUNT = len(ITEMS)
GOOD = {item.id: ("n" if item.red_flag else "y") for item in ITEMS}  # button codes: y, n, u


def features() -> list[Feature]:
    """Only the features this flow talks to, so other features' work cannot break these tests."""
    return [Core(), Vetting()]


def texts_in(folder: Path) -> Texts:
    """The texts of those features only (and of the engine: its errors, its dialogs)."""
    for stem in ("core", "errors", "dialog", "vetting"):
        shutil.copy(CONTENT_DIR / "texts" / f"{stem}.yaml", folder)
    return load_texts(folder)


def answer(chat: Chat, code: str) -> None:
    """Press Yes (y), No (n) or Not sure (u) under the current question."""
    found = [b for b in chat.buttons if b.data.startswith("vet:~v:") and b.data.endswith(f":a:{code}")]
    assert found, f"no answer button in {chat.text!r}"
    chat.press_data(found[0].data)


def walk(chat: Chat, name: str, codes: dict[str, str] | None = None) -> None:
    """Vet a program from /vet to the verdict; items not in ``codes`` get a good answer."""
    chat.send("/vet")
    if "Start a new one" in chat.text:
        chat.press("Start a new one")
    chat.send(name)
    for item in ITEMS:
        answer(chat, (codes or {}).get(item.id, GOOD[item.id]))


def program_rows(store: Store, user: str = "tg:1001") -> list[dict[str, object]]:
    return list(store.db.table("programs").rows_where("user_id = ?", [user], order_by="id"))


def answers_of(store: Store, program_id: int) -> dict[str, str]:
    rows = store.db.table("program_answers").rows_where("program_id = ?", [program_id])
    return {r["item_id"]: r["answer"] for r in rows}
