from __future__ import annotations

import pytest

from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store
from tests.chat import Chat, Clock


@pytest.fixture
def store() -> Store:
    return Store.memory()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(store: Store, clock: Clock) -> Engine:
    engine = Engine(store, all_features(), clock=clock, admins=["tg:42"])
    engine.migrate()
    return engine


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)
