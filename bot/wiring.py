"""Putting the pieces together: settings -> store -> engine. No logic lives here."""

from __future__ import annotations

import secrets

from bot.settings import Settings
from flows.content import load_content
from flows.engine.engine import Engine
from flows.features import all_features
from flows.storage.store import Store


def open_store(settings: Settings, *, background_checkpoints: bool = False) -> Store:
    if str(settings.database_path) == ":memory:":
        return Store.memory()
    return Store.open(settings.database_path, background_checkpoints=background_checkpoints)


def build_engine(settings: Settings, store: Store) -> Engine:
    load_content(settings.content_dir)  # every content file checked first: a mistake stops the start
    engine = Engine(store, all_features(), admins=settings.admin_user_ids)
    engine.migrate()
    return engine


def log_salt(settings: Settings, store: Store) -> str:
    """LOG_SALT if set, else a random salt kept in the database so hashes stay stable."""
    configured = settings.log_salt.get_secret_value()
    return configured or store.meta("log_salt", lambda: secrets.token_hex(16))
