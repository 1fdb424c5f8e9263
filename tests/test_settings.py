"""Settings are checked at start, one clear sentence per problem, and `usce-coach check`
validates content, schema and token before an operator leaves the bot running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from bot import checks
from bot.cli import main
from bot.settings import Settings, SettingsError, load_settings
from flows.base.content import ContentError
from flows.engine.engine import Engine, Feature
from flows.features import all_features
from flows.storage.store import Store
from tests.emulator import Emulator

TOKEN = "123456789:" + "AAHsettingsTestToke" + "n_abcdefghijklmnopq"  # in parts, so no token-shaped literal


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No real settings leak in: no .env in the working folder, no variables."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "data" / "coach.db"))
    return tmp_path


def problems(mode: str = "other", **env: str) -> list[str]:
    try:
        load_settings(mode, **env)  # type: ignore[arg-type]
    except SettingsError as exc:
        return exc.problems
    return []


def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("run", {}, "TELEGRAM_BOT_TOKEN is not set"),
        ("run", {"telegram_bot_token": "not-a-token"}, "does not look like a bot token"),
        ("chat", {"admin_ids": "123, abc"}, "ADMIN_IDS: use numeric Telegram user ids separated by commas"),
        ("chat", {"admin_ids": "-1001234"}, "(got '-1001234')"),
        ("chat", {"default_timezone": "Mars/Olympus_Mons"}, "'Mars/Olympus_Mons' is not a known IANA time zone"),
        ("chat", {"telegram_api_base_url": "api.telegram.org/bot"}, "TELEGRAM_API_BASE_URL must start with"),
        ("chat", {"log_level": "LOUD"}, "LOG_LEVEL"),
        ("chat", {"webhook_port": "99999"}, "WEBHOOK_PORT"),
    ],
)
def test_each_problem_gets_its_own_clear_sentence(mode: str, env: dict[str, str], expected: str) -> None:
    found = problems(mode, **env)
    assert len(found) == 1, found
    assert expected in found[0]


def test_a_database_path_that_cannot_be_written(tmp_path: Path) -> None:
    assert any("is not writable" in p for p in problems("chat", database_path=str(a_file(tmp_path) / "x.db")))
    assert any("is a folder" in p for p in problems("chat", database_path=str(tmp_path)))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems("run", default_timezone="Nowhere/Land", database_path=str(a_file(tmp_path) / "x.db"))
    assert len(found) == 3
    assert [p.split()[0] for p in found] == ["TELEGRAM_BOT_TOKEN", "DEFAULT_TIMEZONE", "DATABASE_PATH"]


def test_good_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "11, 22;33")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Asia/Kolkata")
    settings = load_settings("run")
    assert settings.admin_user_ids == ("tg:11", "tg:22", "tg:33")
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings)  # the token never shows in a printed settings object


@pytest.mark.parametrize("command", ["run", "chat", "check"])
def test_the_command_exits_non_zero_naming_the_problem(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Atlantis/Capital")
    with pytest.raises(SystemExit) as exit_info:
        main([command])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "please fix your settings" in err and "Atlantis/Capital" in err


def test_the_settings_file_is_read_too(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("ADMIN_IDS=x1\n")
    assert any(p.startswith("ADMIN_IDS") for p in problems("chat"))


# -- usce-coach check ---------------------------------------------------------------------------
def test_check_passes_on_the_project_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "content:" in out and "schema:" in out and out.rstrip().endswith("ok")
    assert "token: not set" in out


def test_check_finds_missing_text_keys_and_placeholders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "feature.py").write_text(
        "def show(turn, texts, x):\n"
        "    turn.t('core.no_such_text')\n"
        "    turn.t('core.unknown_command')\n"  # needs {command}
        "    turn.t('core.unknown_command', command='x')\n"  # fine
        "    texts['core.unknown_command']\n"  # shown raw, {command} unfilled
        "    turn.t(f'core.zz_{x}_nothing')\n"
        "    turn.t(f'core.button_{x}')\n"  # fine: core.button_continue
        "    turn.t('privacy.delete')\n",  # not defined: reported
        encoding="utf-8",
    )
    monkeypatch.setattr(checks, "SOURCE_DIRS", (source,))
    engine = Engine(Store.memory(), all_features())
    found, seen = checks.check_text_keys(engine)
    in_file = [p for p in found if "feature.py" in p]
    assert seen >= 7
    assert len(in_file) == 5, in_file
    assert any("core.no_such_text" in p for p in in_file)
    assert sum("without command" in p for p in in_file) == 2
    assert any("core\\.zz_" in p for p in in_file)


def test_check_finds_schema_problems() -> None:
    later = Migrations("usce-coach.test-later")

    @later()
    def m001_table(db: Database) -> None:
        db.table("later").create({"id": int}, pk="id")

    class Late(Feature):
        name = "late"
        migrations = later

    store = Store.memory()
    engine = Engine(store, [Late()])
    engine.store.migrate(engine.migrations()[:1])  # the core only: the feature's set is pending
    store.db.table("orphans").create({"id": int, "user_id": str}, pk="id")  # no foreign key to users
    found = checks.check_schema(engine)
    assert any("usce-coach.test-later" in p and "m001_table" in p for p in found)
    assert any("orphans" in p and "foreign key" in p for p in found)
    engine.migrate()
    store.db.table("orphans").drop()
    assert checks.check_schema(engine) == []


def test_check_runs_every_content_loader() -> None:
    found, ran = checks.check_loaders()
    assert found == []
    assert ran >= 1


def test_check_reports_a_content_mistake_with_its_file_and_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> None:
        raise ContentError("faq.yaml", 12, "missing 'answer'")

    monkeypatch.setattr("bot.cli.build_engine", broken)
    assert main(["check"]) == 1
    assert "faq.yaml:12: missing 'answer'" in capsys.readouterr().err


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(token=TOKEN) as emu:
        yield emu


@pytest.mark.parametrize(("token", "works"), [(TOKEN, True), ("123456789:AAHwrongTokenWrongTokenWrong", False)])
async def test_check_asks_telegram_whether_the_token_works(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str, works: bool
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", emulator.base_url)
    code = await asyncio.to_thread(main, ["check"])
    out, err = capsys.readouterr()
    assert token not in out + err
    if works:  # (other problems, of content in progress, are not this test's business)
        assert "token: works for @usce_coach_bot" in out and "token:" not in err
    else:
        assert code == 1 and "rejected TELEGRAM_BOT_TOKEN" in err


async def test_check_says_when_the_api_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Emulator() as emu:
        closed = emu.base_url  # nothing listens here once the emulator has stopped
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", closed)
    assert await asyncio.to_thread(main, ["check"]) == 1
    err = capsys.readouterr().err
    assert "could not reach" in err and TOKEN not in err


def test_every_problem_is_reported_at_once_even_with_a_malformed_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("ADMIN_IDS", "12,abc")
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Base")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(SettingsError) as caught:
        load_settings("run", _env_file=None)
    text = "\n".join(caught.value.problems)
    assert "ADMIN_IDS" in text and "Mars/Base" in text and "TELEGRAM_BOT_TOKEN" in text


def test_content_reads_the_same_with_the_fast_parser() -> None:
    """Content is parsed by libyaml when PyYAML has it; every file must come out exactly as the
    pure-Python parser reads it, line numbers (used in error messages) included."""
    import yaml

    from flows.base import content

    pure = content._line_loader(yaml.SafeLoader)

    def lines(node: object) -> object:
        if isinstance(node, dict):
            return (getattr(node, "line", None), {k: lines(v) for k, v in node.items()})
        if isinstance(node, list):
            return (getattr(node, "line", None), [lines(v) for v in node])
        return node

    files = sorted(content.CONTENT_DIR.rglob("*.yaml"))
    assert len(files) > 10
    assert content._LineLoader.__mro__[1] is not yaml.SafeLoader  # the fast parser is really in use
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert lines(content.load_yaml(path)) == lines(yaml.load(text, Loader=pure)), path.name
