"""The features the assistant is made of, in menu and help order. Add a new one here."""

from __future__ import annotations

from flows.core import Core
from flows.engine import Feature


def all_features() -> list[Feature]:
    return [
        Core(),
    ]
