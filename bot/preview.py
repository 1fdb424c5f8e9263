"""``usce-coach preview``: what one persona (a YAML file, see :mod:`flows.domain.persona`) would see.

The persona's answers, experiences and vetted programs go into an in-memory database; the
real engine then answers /plan, /progress, /timeline, a program's /vet verdict or a typed
question with its clock set to the persona's ``today``. The output is the replies as a
terminal shows them (buttons in brackets), or ``{"text": ..., "warnings": [...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

from flows.base.text import to_plain
from flows.base.types import Input, Reply
from flows.domain.checks import render_warnings, run_checks
from flows.domain.persona import Persona
from flows.domain.plan import load_rules
from flows.domain.readiness import assess
from flows.engine.engine import Engine
from flows.features import all_features
from flows.features.vet import verdict_of
from flows.storage.experiences import list_experiences
from flows.storage.profiles import load_profile, save_answer
from flows.storage.programs import create_program, list_programs, update_program
from flows.storage.programs import save_answer as save_program_answer
from flows.storage.store import Store

USER = "preview:persona"
VIEWS = ("plan", "progress", "timeline", "vet", "ask")


class PreviewError(ValueError):
    """A view the persona cannot show (an unknown program name...)."""


@dataclass(frozen=True, slots=True)
class Preview:
    text: str
    warnings: list[str]
    files: list[str]
    warning_keys: list[str]

    def as_json(self) -> str:
        return json.dumps({"text": self.text, "warnings": self.warnings}, ensure_ascii=False)


def seed(engine: Engine, persona: Persona, user: str = USER) -> None:
    """Store the persona as if they had answered the questions and used /log and /vet."""
    store = engine.store
    stamp = datetime.combine(persona.today, time(12), UTC)
    now = stamp.isoformat(timespec="seconds")
    with store.atomic():
        store.conn.execute("INSERT OR IGNORE INTO users (user_id, first_seen, last_seen) VALUES (?, ?, ?)",
                           (user, now, now))
        fields = persona.profile_fields(load_rules().cycle_month)
        save_answer(store, user, now, **fields, completed_at=now, onboarding_step="done")
        for row in persona.experience_rows():
            level = row.pop("level", None)
            store.db.table("experiences").insert({
                "user_id": user, "level": level or _level(row["type"]), "created_at": now, "updated_at": now,
                **row,
            })
        for program in persona.programs:
            program_id = create_program(store, user, program.name, stamp)
            answers = persona.program_answers(program)
            for item, answer in answers.items():
                save_program_answer(store, user, program_id, item, answer, stamp)
            update_program(store, user, program_id, stamp, finished=1, verdict=verdict_of(answers).level.code)


def _level(kind: str) -> str:
    from flows.domain.readiness import benchmarks

    return benchmarks().levels[kind]


def _plain(replies: Sequence[Reply]) -> str:
    parts = []
    for reply in replies:
        lines = [to_plain(reply.text)] if reply.text else []
        for row in reply.buttons:
            lines.append("  ".join(f"[{to_plain(b.label)}]" for b in row))
        parts.append("\n".join(lines))
    return "\n\n".join(p for p in parts if p)


def preview(persona: Persona, view: str, arg: str = "", out_dir: Path | None = None) -> Preview:
    """The replies ``persona`` gets for one view, and the warnings the checks give them."""
    if view not in VIEWS:
        raise PreviewError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
    clock = datetime.combine(persona.today, time(12), UTC)
    store = Store.memory()
    engine = Engine(store, all_features(), clock=lambda: clock)
    engine.migrate()
    seed(engine, persona)
    if view == "vet":
        programs = {p.name.casefold(): p for p in list_programs(store, USER)}
        found = programs.get(arg.strip().casefold())
        if found is None:
            names = ", ".join(p.name for p in persona.programs) or "none"
            raise PreviewError(f"no program called {arg!r} in this persona (programs: {names})")
        inp = Input.button(USER, f"vet:v:{found.id}")
    elif view == "ask":
        if not arg.strip():
            raise PreviewError("ask needs a question")
        inp = Input.text(USER, arg)
    else:
        inp = Input.command(USER, view)
    replies = engine.handle(inp).replies
    if view == "plan" and any(b.data == "ob:p:full" for r in replies for row in r.buttons for b in row):
        replies += engine.handle(Input.button(USER, "ob:p:full")).replies  # the card, then the full plan
    files: list[str] = []
    text = _plain(replies)
    for reply in replies:
        if reply.attachment is not None:
            folder = out_dir or Path.cwd()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / reply.attachment.filename
            path.write_bytes(reply.attachment.content)
            files.append(str(path))
            text += f"\n\n[picture: {path}]"
    profile = load_profile(store, USER)
    readiness = assess(list_experiences(store, USER), profile, persona.today)
    t = engine.texts
    checks = run_checks(profile, readiness, persona.today)
    warnings = [to_plain(w) for w in render_warnings(checks, lambda k, **v: t.fmt(k, **v))]
    return Preview(text, warnings, files, [w.key for w in checks])
