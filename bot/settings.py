"""One settings object, read from the environment (and an optional ``.env``).

Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.logs import protect
from flows.base.content import CONTENT_DIR

_TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a webhook's secret_token

Mode = Literal["run", "chat", "ask", "check", "nudges", "backup", "other"]


class SettingsError(Exception):
    """Settings that cannot work; ``problems`` holds one plain sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    database_path: Path = Path("data/usce-coach.db")
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_salt: SecretStr = SecretStr("")
    default_timezone: str = "UTC"
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    export_dir: Path = Path("data/exports")
    content_dir: Path = CONTENT_DIR  # texts, FAQ, checklist...: another folder of the same files, e.g. a copy
    # Keep sends under Telegram's limits (≈30 messages/s overall). Only a local Bot API
    # emulator or a benchmark of the bot's own capacity should turn this off.
    telegram_rate_limit: bool = True

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            bad = [p for p in parts if not p.isdigit() or int(p) == 0]
            if bad:
                raise ValueError(
                    f"use numeric Telegram user ids separated by commas, like 123456789 (got {bad[0]!r})"
                )
            return tuple(int(p) for p in parts)
        return value

    @field_validator("webhook_secret", "telegram_bot_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # "WEBHOOK_SECRET=" in .env means not set

    @field_validator("content_dir", mode="before")
    @classmethod
    def _empty_is_ours(cls, value: object) -> object:
        return CONTENT_DIR if value == "" else value  # "CONTENT_DIR=": the bot's own content

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def model_post_init(self, context: object) -> None:
        # Whatever reads these settings, the secrets in them never reach a log line.
        protect(self.token, self.webhook_secret.get_secret_value() if self.webhook_secret else None)

    @property
    def token(self) -> str:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""

    @property
    def admin_user_ids(self) -> tuple[str, ...]:
        return tuple(f"tg:{i}" for i in self.admin_ids)

    def problems(self, mode: Mode) -> list[str]:
        """What stops this configuration from working in ``mode``, one sentence each."""
        found: list[str] = []
        if mode == "run" and not self.token:
            found.append("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it.")
        elif self.token and not _TOKEN_SHAPE.fullmatch(self.token):
            found.append("TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters).")
        if self.webhook_secret is not None and not _SECRET_SHAPE.fullmatch(self.webhook_secret.get_secret_value()):
            found.append(
                "WEBHOOK_SECRET may only use letters, digits, _ and - (1 to 256 of them), as Telegram requires."
            )
        if not self.telegram_api_base_url.startswith(("https://", "http://")):
            found.append("TELEGRAM_API_BASE_URL must start with https:// (or http:// for a local server).")
        try:
            zoneinfo.ZoneInfo(self.default_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            found.append(
                f"DEFAULT_TIMEZONE {self.default_timezone!r} is not a known IANA time zone"
                " (for example Europe/Berlin or Asia/Kolkata)."
            )
        if not self.content_dir.is_dir():
            found.append(f"CONTENT_DIR {self.content_dir} is not a folder; leave it unset for the bot's own content.")
        if str(self.database_path) != ":memory:":
            folder = self.database_path.resolve().parent
            existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
            target = self.database_path if self.database_path.exists() else existing
            if self.database_path.is_dir():
                found.append(f"DATABASE_PATH {self.database_path} is a folder; name a file inside it.")
            elif target is None or not os.access(target, os.W_OK) or (target is existing and not target.is_dir()):
                found.append(f"DATABASE_PATH {self.database_path} is not writable.")
        return found


def load_settings(mode: Mode = "other", **overrides: object) -> Settings:
    """Read and check settings; raise :class:`SettingsError` naming every problem at once."""
    problems: list[str] = []
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        bad: set[str] = set()
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{field}: {message}")
            if err["loc"]:
                bad.add(str(err["loc"][0]))
        # Check everything else too: read again with the malformed fields at their defaults.
        defaults = {name: Settings.model_fields[name].default for name in bad if name in Settings.model_fields}
        try:
            settings = Settings(**{**overrides, **defaults})
        except ValidationError:
            raise SettingsError(problems) from None
    problems += settings.problems(mode)
    if problems:
        raise SettingsError(problems)
    return settings
