"""The core feature: /start, /help, /menu, /cancel, menu buttons and the fallback."""

from __future__ import annotations

from flows.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.errors import StaleButton
from flows.types import Reply


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
        key = "core.welcome" if turn.session.created else "core.welcome_back"
        replies = [Reply(turn.t(key))]
        if turn.session.flow:
            replies.append(turn.engine.resume_hint(turn))
        else:
            for feature in turn.engine.features:
                for offer in feature.on_start(turn):  # shown as part of the welcome
                    welcome = replies[0]
                    replies[0] = Reply(f"{welcome.text}\n\n{offer.text}", welcome.buttons + offer.buttons)
            replies.append(turn.engine.main_menu(turn))
        return replies

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
