"""The core feature: /start, /help, /menu, /cancel, menu buttons and the fallback."""

from __future__ import annotations

from flows.base.errors import StaleButton
from flows.base.types import Keyboard, Reply
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn


class Core(Feature):
    name = "core"
    prefix = "go"
    menu_items = (MenuEntry("core.menu_help", "help", order=99),)

    def commands(self) -> dict[str, CommandHandler]:
        return {"start": self.start, "help": self.help, "menu": self.menu, "cancel": self.cancel}

    def start(self, turn: Turn, args: str) -> list[Reply]:
        link = args.strip().lower()
        if link and link in turn.engine.deep_links:
            return turn.engine.run_command(turn, link)
        # "Everything you told me is still here" only when something is (not after /delete; a
        # question the FAQ could not answer tells nothing about the user).
        known = not turn.session.created and (
            turn.session.flow or turn.store.holds_anything_about(turn.user_id, besides=("unanswered",))
        )
        key = "core.welcome_back" if known else "core.welcome"
        if turn.session.flow:
            return [Reply(turn.t(key)), turn.engine.resume_hint(turn)]  # folded into one message
        # One message: the welcome, the features' offers (the goal button on top), the menu below.
        text: str = turn.t(key)
        buttons: Keyboard = ()
        for feature in turn.engine.features:
            for offer in feature.on_start(turn):
                text, buttons = f"{text}\n\n{offer.text}", buttons + offer.buttons
        return [Reply(text, buttons + turn.engine.main_menu(turn).buttons)]

    def help(self, turn: Turn, args: str) -> list[Reply]:
        lines = [turn.t("core.help_intro")]
        for feature in turn.engine.features:
            lines.extend(turn.t(key) for key in feature.help_keys())
        lines.append(turn.t("core.help_outro"))
        return [Reply("\n".join(lines))]

    def help_keys(self) -> tuple[str, ...]:
        return ("core.help_menu", "core.help_cancel")

    def menu(self, turn: Turn, args: str) -> list[Reply]:
        return [turn.engine.main_menu(turn)]

    def cancel(self, turn: Turn, args: str) -> list[Reply]:
        if not turn.session.flow:
            return [turn.engine.main_menu(turn, turn.t("core.nothing_to_cancel"))]
        title = turn.engine.flow_title(turn, turn.session.flow)
        turn.session.leave()
        return [turn.engine.main_menu(turn, turn.t("core.cancelled", flow=title))]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        if payload == "resume":
            turn.route = "button:resume"
            return turn.engine.resume(turn)
        if payload.startswith("sec:"):
            turn.route = f"button:{payload}"
            return [turn.engine.section_menu(turn, payload.removeprefix("sec:"))]
        if payload in turn.engine.command_names:
            return turn.engine.run_command(turn, payload)
        raise StaleButton()
