"""The user's data rights: /privacy (what is kept and why), /export (all of it as a
readable JSON file) and /delete (erase every row about the user, after a confirmation).

Which tables hold a user's rows is read from the schema (``Store.user_tables``), so a
table added by a new feature is exported and erased without anyone listing it here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flows.base.errors import StaleButton
from flows.base.text import to_plain
from flows.base.types import Attachment, Button, Reply
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.storage.store import Store

DELETE_FLOW = "privacy.delete"
EXPORT_FILENAME = "usce-coach-export.json"
FIRST_SECTIONS = ("users", "profiles")  # the rest follow in alphabetical order


class Privacy(Feature):
    name = "privacy"
    prefix = "pv"
    flows = (DELETE_FLOW,)
    menu_items = (MenuEntry("privacy.menu", "privacy", 90, section="settings"),)
    flow_titles = {DELETE_FLOW: "privacy.flow_delete"}

    def commands(self) -> dict[str, CommandHandler]:
        return {"privacy": self.privacy, "export": self.export, "delete": self.delete}

    def help_keys(self) -> tuple[str, ...]:
        return ("privacy.help_privacy",)

    # -- /privacy -------------------------------------------------------------------------
    def privacy(self, turn: Turn, args: str) -> list[Reply]:
        lines = [turn.t("privacy.intro"), turn.t("privacy.stored_heading")]
        lines += [turn.t("privacy.stored_line", what=describe(turn, t)) for t in sections(turn.store)]
        if turn.store.db.table("unanswered").exists():
            lines.append(turn.t("privacy.anonymous_note"))
        lines += [turn.t("privacy.telegram_note"), turn.t("privacy.how_to")]
        buttons = (
            (Button(turn.t("privacy.button_export"), "pv:x"), Button(turn.t("privacy.button_delete"), "pv:d")),
        )
        return [Reply("\n".join(lines), buttons)]

    # -- /export --------------------------------------------------------------------------
    def export(self, turn: Turn, args: str) -> list[Reply]:
        document = build_export(turn, turn.user_id)
        count = sum(len(s["records"]) for s in document["sections"].values())
        content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        return [
            Reply(
                turn.t("privacy.export_caption", count=count),
                attachment=Attachment(EXPORT_FILENAME, content),
            )
        ]

    # -- /delete --------------------------------------------------------------------------
    def delete(self, turn: Turn, args: str) -> list[Reply]:
        session = turn.session
        if session.flow != DELETE_FLOW:
            # Remember where the user was, so "keep my data" puts them back there.
            back = [session.flow, session.state, session.data] if session.flow else None
            session.enter(DELETE_FLOW, "confirm", {"back": back} if back else {})
        return self.prompt(turn)

    def prompt(self, turn: Turn) -> list[Reply]:
        stored = turn.store.export_user(turn.user_id)
        # A first-time user has no row yet: their users row is written when this turn ends.
        kept = [t for t in sections(turn.store) if stored.get(t)] or ["users"]
        names = "; ".join(describe(turn, t, short=True) for t in kept)
        buttons = (
            (Button(turn.t("privacy.button_erase"), "pv:erase"),),
            (Button(turn.t("privacy.button_keep"), "pv:keep"),),
        )
        return [Reply(turn.t("privacy.delete_confirm", sections=names), buttons)]

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        return [Reply(turn.t("privacy.delete_use_buttons")), *self.prompt(turn)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        if payload == "x":
            turn.route = "button:export"
            return turn.engine.run_command(turn, "export")
        if payload == "d":
            turn.route = "button:delete"
            return turn.engine.run_command(turn, "delete")
        if turn.session.flow != DELETE_FLOW or payload not in ("erase", "keep"):
            raise StaleButton()  # a confirmation from an old message never erases anything
        if payload == "erase":
            turn.route = "privacy:erased"
            turn.store.delete_user(turn.user_id)
            turn.session.leave()
            turn.session.erased = True
            return [Reply(turn.t("privacy.erased"), replace=True)]
        turn.route = "privacy:kept"
        back = turn.session.data.get("back")
        if back and any(back[0] in f.flows for f in turn.engine.features):
            turn.session.enter(back[0], back[1], back[2])
            return [Reply(turn.t("privacy.kept"), replace=True), turn.engine.resume_hint(turn)]
        turn.session.leave()
        return [Reply(turn.t("privacy.kept"), replace=True), turn.engine.main_menu(turn)]


# -- helpers shared with /stats and tests --------------------------------------------------
def sections(store: Store) -> list[str]:
    """The tables about a user, in the order they are shown."""
    names = set(store.user_tables()) | {t for t, *_ in store.linked_tables()}
    first = [t for t in FIRST_SECTIONS if t in names]
    return first + sorted(names - set(first))


def describe(turn: Turn, table: str, short: bool = False) -> str:
    """One plain sentence on what ``table`` holds (a generic one for tables without a text)."""
    key = f"privacy.sections.{table}"
    text = turn.t(key) if key in turn.texts else turn.t("privacy.sections.other", table=table)
    if short:
        text = text.split(":", 1)[0]
    return to_plain(text)


def build_export(turn: Turn, user_id: str) -> dict[str, Any]:
    """Everything stored about ``user_id`` as a document a person can read:
    a header, then one section per table with a note on what it holds."""
    stored = turn.store.export_user(user_id)
    document: dict[str, Any] = {
        "about": to_plain(turn.t("privacy.export_about")),
        "user": user_id,
        "exported_at": iso(turn.now),
        "sections": {},
    }
    for table in sections(turn.store):
        document["sections"][table] = {
            "what_this_is": describe(turn, table),
            "records": [readable(row) for row in stored.get(table, [])],
        }
    return document


def readable(row: dict[str, Any]) -> dict[str, Any]:
    """A row with JSON kept in text columns decoded, so lists read as lists."""
    return {name: _decode(value) for name, value in row.items()}


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, bytes):
        return value.hex()
    return value


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
