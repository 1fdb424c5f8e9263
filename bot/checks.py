"""What ``usce-coach check`` verifies before an operator starts the bot unattended.

- Content: every content loader in ``flows`` runs (so each FAQ entry, checklist and
  milestone file is validated with its file and line); every text key the code names
  exists, and every placeholder the text needs is given where it is used.
- Schema: every migration is applied, SQLite's integrity and foreign-key checks pass,
  and every table about a user points at ``users`` (so /export and /delete find it).
- Token: when one is set, Telegram (or TELEGRAM_API_BASE_URL) accepts it.

Each check returns plain sentences, one per problem; an empty list means all is well.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import flows
from flows.base.content import ContentError
from flows.content import load_content
from flows.engine.engine import Engine
from flows.storage.store import first_finding

SOURCE_DIRS = (Path(flows.__file__).parent, Path(__file__).parent)
TEXT_CALLS = {"t", "fmt"}  # turn.t("key", x=...), texts.fmt("key", x=...)


# -- content ------------------------------------------------------------------------------------
def check_loaders() -> tuple[list[str], int]:
    """Run every ``load_*`` function of the flows modules that needs no argument, but
    :func:`~flows.content.load_content`: building the engine ran it on the configured folder,
    and run again here it would keep ``content/``'s values in place of that folder's."""
    problems: list[str] = []
    ran = 0
    for info in pkgutil.walk_packages(flows.__path__, "flows."):
        try:
            module = importlib.import_module(info.name)
        except ContentError as exc:
            problems.append(f"content: {exc}")
            continue
        for name, member in inspect.getmembers(module, callable):
            fn = inspect.unwrap(member)  # loaders are often functools.cache-wrapped
            if not name.startswith("load_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            if fn is load_content:
                continue
            params = inspect.signature(fn).parameters.values()
            if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
                continue
            ran += 1
            try:
                fn()
            except ContentError as exc:
                problems.append(f"content: {exc}")
    return problems, ran


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SOURCE_DIRS:
        for path in sorted(folder.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _pattern(node: ast.JoinedStr) -> re.Pattern[str] | None:
    """An f-string key such as f"onboarding.opt_{state}" as a regular expression."""
    parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+" for v in node.values]
    fixed = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    return re.compile("".join(parts)) if "." in fixed else None


def check_text_keys(engine: Engine) -> tuple[list[str], int]:
    """Every text key named in the code exists, with the placeholders its use provides."""
    texts = engine.texts
    keys = set(texts.entries)
    stems = {k.split(".", 1)[0] for k in keys}
    problems: list[str] = []
    seen = 0

    def where(path: Path, node: ast.AST) -> str:
        return f"{path.parent.name}/{path.name}:{getattr(node, 'lineno', '?')}"

    for path, tree in _sources():
        for node in ast.walk(tree):
            key_node: ast.expr | None = None
            given: set[str] | None = set()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TEXT_CALLS:
                if node.args:
                    key_node = node.args[0]
                # with **values the names cannot be told statically
                given = None if any(k.arg is None for k in node.keywords) else {k.arg for k in node.keywords if k.arg}
            elif isinstance(node, ast.Subscript) and _is_texts(node.value):
                key_node = node.slice
            if isinstance(key_node, ast.Constant) and isinstance(key_node.value, str):
                key = key_node.value
                if key.split(".", 1)[0] not in stems:
                    continue  # not a text key (a flow name, a file name...)
                seen += 1
                if key not in keys:
                    problems.append(f"text: {where(path, node)} uses '{key}', which no content/texts file defines")
                elif given is not None:
                    missing = texts.fields(key) - given
                    if missing:
                        problems.append(
                            f"text: {where(path, node)} shows '{key}' without {', '.join(sorted(missing))}"
                        )
            elif isinstance(key_node, ast.JoinedStr) and (pattern := _pattern(key_node)):
                seen += 1
                if not any(pattern.fullmatch(k) for k in keys):
                    problems.append(
                        f"text: {where(path, node)} builds a key like '{pattern.pattern}' that matches none"
                    )
    for feature in engine.features:
        named = [e.label_key for e in feature.menu_items] + list(feature.flow_titles.values())
        named += list(feature.help_keys())
        for key in named:
            seen += 1
            if key not in keys:
                problems.append(f"text: feature '{feature.name}' names '{key}', which is missing")
    return problems, seen


def _is_texts(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "texts"
    return isinstance(node, ast.Attribute) and node.attr == "texts"


# -- schema -------------------------------------------------------------------------------------
def check_schema(engine: Engine) -> list[str]:
    store = engine.store
    problems: list[str] = []
    for migrations in engine.migrations():
        pending = [m.name for m in migrations.pending(store.db)]
        if pending:
            problems.append(f"schema: migrations of {migrations.name} not applied: {', '.join(pending)}")
    try:
        result = [str(r[0]) for r in store.conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        result = [str(exc)]
    if result != ["ok"]:
        problems.append(
            f"schema: the database is damaged (SQLite says: {first_finding(result)}); restore it from a backup"
        )
    dangling = store.conn.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:
        tables = sorted({str(r[0]) for r in dangling})
        problems.append(f"schema: {len(dangling)} rows point at rows that no longer exist (in {', '.join(tables)})")
    for name in store.user_tables():
        if name == "users":
            continue
        if not any(fk.column == "user_id" and fk.other_table == "users" for fk in store.db.table(name).foreign_keys):
            problems.append(f"schema: table {name} has a user_id without a foreign key to users")
    return problems


# -- token --------------------------------------------------------------------------------------
async def check_token(token: str, base_url: str) -> tuple[list[str], str]:
    """Ask the Bot API who we are. Returns (problems, the bot's @username)."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    try:
        async with Bot(token, base_url=base_url) as bot:
            return [], f"@{bot.username}"
    except InvalidToken:
        return ["token: Telegram rejected TELEGRAM_BOT_TOKEN; ask @BotFather for the current one."], ""
    except NetworkError as exc:
        reason = str(exc).replace(token, "<redacted>")
        return [f"token: could not reach {base_url.removesuffix('/bot')} to check the token ({reason})."], ""
    except TelegramError as exc:
        return [f"token: the check failed: {str(exc).replace(token, '<redacted>')}"], ""
