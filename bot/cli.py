"""The ``usce-coach`` command: run (Telegram), chat (terminal), ask, check."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bot.logs import install_hooks, setup_logging
from bot.settings import Mode, Settings, SettingsError, load_settings
from bot.wiring import build_engine, log_salt, open_store
from flows.base.content import ContentError
from flows.storage.store import DatabaseRefused


def _settings(mode: Mode, **overrides: object) -> Settings:
    try:
        return load_settings(mode, **overrides)
    except SettingsError as exc:
        print("Cannot start — please fix your settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  • {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bot import runner
    from bot.telegram import build_application

    settings = _settings("run")
    setup_logging(settings.log_level)  # every secret of the settings is already protected
    if args.webhook_url and not settings.webhook_secret:
        print("WEBHOOK_SECRET must be set in webhook mode.", file=sys.stderr)
        return 2
    store = open_store(settings, background_checkpoints=True)
    engine = build_engine(settings, store)
    connection = runner.Connection()
    app = build_application(
        engine,
        settings,
        log_salt(settings, store),
        rate_limited=settings.telegram_rate_limit,
        requests=runner.requests(connection),
    )
    return asyncio.run(runner.serve(app, settings, store, connection, args.webhook_url))


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal import Terminal

    settings = _settings("chat")
    setup_logging("WARNING")
    store = open_store(settings)
    engine = build_engine(settings, store)
    Terminal(engine, args.user, settings.export_dir).loop()
    return 0


def _persona_reader(path: str) -> tuple[object, object]:
    """The asker a persona file describes, as the FAQ reads a stored profile, and its date."""
    from flows.domain.persona import load_persona
    from flows.faq import Reader

    persona = load_persona(path)
    return Reader.from_profile(persona.profile_fields()), persona.today


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer questions from the knowledge base without a database or a token: exactly the
    text a user would see first (``--json``: with whether it matched, the entry ids used and
    the confidence); ``--persona FILE`` answers as the user that file describes."""
    import datetime

    from flows.base.content import load_texts
    from flows.faq import Reader
    from flows.features.ask import Questions

    feature = Questions()
    texts = load_texts()
    reader, today = _persona_reader(args.persona) if args.persona else (None, None)
    assert reader is None or isinstance(reader, Reader)
    assert today is None or isinstance(today, datetime.date)
    questions = [q.rstrip("\n") for q in sys.stdin] if args.question == ["-"] else [" ".join(args.question)]
    for question in questions:
        result = feature.answer_json(question, texts, reader, today)
        if args.json:
            print(json.dumps({"question": question, **result}, ensure_ascii=False), flush=True)
        else:
            print(f"{result['text']}\n")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from bot import checks
    from flows.base.content import ContentError

    settings = _settings("check")
    try:
        engine = build_engine(settings, open_store(settings))
    except ContentError as exc:
        print(f"  ✗ content: {exc}", file=sys.stderr)
        print("1 problem(s) found")
        return 1
    except DatabaseRefused as exc:
        print(f"  ✗ database: {exc}.", file=sys.stderr)
        print("1 problem(s) found")
        return 1
    loader_problems, loaders = checks.check_loaders()
    key_problems, keys = checks.check_text_keys(engine)
    problems = loader_problems + key_problems + checks.check_schema(engine)
    print(f"content: {len(engine.texts.entries)} texts, {loaders} content loaders run, {keys} text uses checked")
    print(f"schema: {len(engine.store.db.table_names())} tables, {len(engine.store.user_tables())} about users")
    if settings.token:
        token_problems, name = asyncio.run(checks.check_token(settings.token, settings.telegram_api_base_url))
        problems += token_problems
        if name:
            print(f"token: works for {name}")
    else:
        print("token: not set, not checked")
    for problem in problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problem(s) found")
    return 1 if problems else 0


def cmd_nudges(args: argparse.Namespace) -> int:
    from flows.features.nudges import preview

    settings = _settings("nudges")
    store = open_store(settings)
    engine = build_engine(settings, store)
    user_id = args.user if ":" in args.user else f"term:{args.user}"  # "tg:123" or a terminal name
    lines = preview(engine, user_id, refresh=args.refresh)
    print("\n".join(lines))
    return 1 if lines[0].startswith("No user") else 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database while the bot keeps running (SQLite's online backup)."""
    from pathlib import Path

    settings = _settings("backup")
    if str(settings.database_path) == ":memory:" or not settings.database_path.exists():
        print(f"No database at {settings.database_path} to back up.", file=sys.stderr)
        return 1
    target = Path(args.path)
    if target.exists():
        print(f"{target} already exists; name a new file for the backup.", file=sys.stderr)
        return 1
    store = open_store(settings)
    try:
        size = store.backup(target)
        users = store.conn.execute("SELECT count(*) FROM users").fetchone()[0] if store.db["users"].exists() else 0
    finally:
        store.close()
    print(f"backup: {target} ({size // 1024} KB, {users} users), a consistent copy of {settings.database_path}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """What one persona would see; no database or token needed."""
    from pathlib import Path

    from bot.preview import PreviewError, preview
    from flows.domain.persona import load_persona

    try:
        result = preview(load_persona(args.persona), args.view, " ".join(args.arg), Path(args.out))
    except PreviewError as exc:
        print(f"Cannot preview: {exc}", file=sys.stderr)
        return 2
    print(result.as_json() if args.json else result.text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="usce-coach", description="USCE Coach: plan US Clinical Experience.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the Telegram bot (long polling, or a webhook)")
    run.add_argument("--webhook-url", help="public HTTPS URL Telegram should post updates to")
    run.set_defaults(func=cmd_run)
    chat = sub.add_parser("chat", help="chat in this terminal (no Telegram needed)")
    chat.add_argument("--user", default="me", help="profile name; each keeps its own answers")
    chat.set_defaults(func=cmd_chat)
    ask = sub.add_parser("ask", help="answer one question and exit ('-' reads one per line)")
    ask.add_argument("--json", action="store_true", help="print one line of JSON per question")
    ask.add_argument("--persona", metavar="FILE", help="answer as the user this persona file (YAML) describes")
    ask.add_argument("question", nargs="+")
    ask.set_defaults(func=cmd_ask)
    nudges = sub.add_parser("nudges", help="preview a user's reminder schedule")
    nudges.add_argument("--user", required=True, help="terminal profile name, or a full id like tg:123")
    nudges.add_argument("--refresh", action="store_true", help="recompute it from their records first")
    nudges.set_defaults(func=cmd_nudges)
    view = sub.add_parser("preview", help="show what a persona (a YAML file) would see")
    view.add_argument("--persona", required=True, help="the persona file (see flows/persona.py)")
    view.add_argument("--json", action="store_true", help='print {"text": ..., "warnings": [...]}')
    view.add_argument("--out", default=".", help="folder for the timeline picture (default: here)")
    view.add_argument("view", choices=("plan", "progress", "timeline", "vet", "ask"))
    view.add_argument("arg", nargs="*", help="vet: the program's name; ask: the question")
    view.set_defaults(func=cmd_preview)
    check = sub.add_parser("check", help="validate settings, content and the database schema")
    check.set_defaults(func=cmd_check)
    backup = sub.add_parser("backup", help="copy the database to PATH, safely while the bot runs")
    backup.add_argument("path", help="the new file to write (restore steps: README, 'Operating it')")
    backup.set_defaults(func=cmd_backup)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    install_hooks()  # an uncaught exception is logged (secrets removed), never printed raw
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ContentError as exc:
        print(f"Cannot start — a content file has a mistake: {exc}", file=sys.stderr)
        return 2
    except DatabaseRefused as exc:
        print(f"Cannot start — the database: {exc}.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
