"""Conversations as data: every file in tests/scenarios/ replayed through the real engine
(see tests/scenarios/README.md for the format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.base.types import Input
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Chat, Clock

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.yaml"))
ACTIONS = ("send", "press", "edit", "restart")
CHECKS = ("shows", "hides", "buttons")


def load(path: Path) -> dict[str, Any]:
    scenario = yaml.safe_load(path.read_text())
    assert isinstance(scenario, dict) and scenario.get("title") and scenario.get("steps"), path.name
    for number, step in enumerate(scenario["steps"], 1):
        actions = [a for a in ACTIONS if a in step]
        assert len(actions) == 1, f"{path.name} step {number}: one of {ACTIONS}"
        unknown = set(step) - set(ACTIONS) - set(CHECKS)
        assert not unknown, f"{path.name} step {number}: unknown keys {unknown}"
    return scenario


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    scenario = load(path)
    store, clock = Store.memory(), Clock()
    engine = Engine(store, all_features(), clock=clock)
    engine.migrate()
    chat = Chat(engine, scenario.get("user", "tg:4242"))
    typed_at: dict[int, int] = {}  # step number -> the message id of what was typed there
    for number, step in enumerate(scenario["steps"], 1):
        where = f"{path.name} step {number}"
        clock.advance(seconds=20)
        message_id = 1000 + number
        if "send" in step:
            typed_at[number] = message_id
            chat._do(Input.parse(chat.user, str(step["send"]), message_id))
        elif "press" in step:
            chat.press(str(step["press"]))
        elif "edit" in step:
            edit = step["edit"]
            chat._do(Input.edit(chat.user, str(edit["text"]), typed_at[int(edit["step"])]))
        elif step.get("restart"):
            chat.engine = Engine(store, all_features(), clock=clock)
            continue
        text = chat.text.lower()
        for wanted in step.get("shows", ()):
            assert str(wanted).lower() in text, f"{where}: {wanted!r} not in\n{chat.text}"
        for unwanted in step.get("hides", ()):
            assert str(unwanted).lower() not in text, f"{where}: {unwanted!r} shown in\n{chat.text}"
        labels = [b.label.lower() for b in chat.buttons]
        for button in step.get("buttons", ()):
            assert any(str(button).lower() in label for label in labels), f"{where}: no button {button!r} in {labels}"
