"""/settings: the reminder settings in one card — time zone, quiet hours, how many reminders,
pause — each changed on its own.

The time zone and the quiet hours are one dialog (flow ``settings``), opened at the one step
the card's button names and ended after its answer (``only``): typed like the onboarding
reads a zone ("Lagos", "Asia/Kolkata", "UTC+5:30") or hours ("10pm to 6am", "23:00-06:00"),
or picked from the buttons. How many reminders and the pause are a tap on the card itself.

Every change is saved at once (the zone in ``profiles``, the rest in ``nudge_settings``
through ``flows/storage/nudges.py``) and named in ``turn.changed``, so the nudges feature
brings the user's schedule in line when the turn ends.

Button data (prefix ``st``): ``z`` / ``q`` change the zone / the quiet hours; ``a:<amount>``
how many reminders; ``p`` / ``r`` pause / resume; ``c`` close. The dialog's own buttons are
``st:~s:<step>:...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from typing import Any

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import clean
from flows.base.types import Button, Reply, keyboard
from flows.domain.goals import parse_timezone
from flows.domain.nudges import AMOUNTS, KINDS
from flows.domain.plan import load_rules
from flows.domain.timezones import QuietHours, parse_hhmm, parse_quiet_hours, utc_offset_label, zone_or_utc
from flows.engine.dialog import Ask, Dialog, End, Option, Step, StepKind, read_choice
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.storage.nudges import PENDING, load_prefs, save_prefs, schedule_rows, user_zone
from flows.storage.profiles import save_answer

FLOW = "settings"
ZONE, QUIET = "zone", "quiet"  # the steps (the states of the flow before it was a dialog)
NO_QUIET = "00:00-00:00"
QUIET_PRESETS = ("21:00-09:00", "22:00-08:00", "23:00-07:00", NO_QUIET)
CHANGED = "nudge_settings"  # turn.changed: the schedule follows (flows/features/nudges.py)


def never(answers: Mapping[str, Any]) -> bool:
    """Each setting is changed on its own from the card: no step follows another."""
    return False


def quiet_code(quiet: QuietHours) -> str:
    return f"{quiet.start:%H:%M}-{quiet.end:%H:%M}"


def quiet_of(code: str) -> QuietHours:
    start, _, end = code.partition("-")
    return QuietHours(parse_hhmm(start) or time(0), parse_hhmm(end) or time(0))


# -- the two steps ------------------------------------------------------------------------------
def zone_options(ask: Ask) -> Sequence[Option]:
    return [Option(b.zone, b.label, plain=True) for b in load_rules().zone_buttons]


def read_zone(ask: Ask, text: str) -> str:
    value = clean(text, 80)
    zone = parse_timezone(value, load_rules())
    if zone is None:
        raise InvalidAnswer(ask.t("settings.bad_zone", text=value[:40]))
    return zone


def zone_shown(ask: Ask, zone: Any) -> str:
    return f"{zone} ({utc_offset_label(str(zone), ask.turn.now)})"


def quiet_options(ask: Ask) -> Sequence[Option]:
    return [
        Option(NO_QUIET, "settings.quiet_off", ("none", "off", "never")) if code == NO_QUIET
        else Option(code, code.replace("-", "–"), plain=True)
        for code in QUIET_PRESETS
    ]


def read_quiet(ask: Ask, text: str) -> str:
    value = clean(text, 80)
    hours = parse_quiet_hours(value)
    if hours is not None:
        return quiet_code(QuietHours(*hours))
    try:
        return read_choice(ask, value)  # a button's label typed, or "none"
    except InvalidAnswer:
        raise InvalidAnswer(ask.t("settings.bad_quiet", text=value[:40])) from None


def quiet_shown(ask: Ask, code: Any) -> str:
    quiet = quiet_of(str(code))
    return quiet.label() if quiet.start != quiet.end else ask.t("settings.quiet_off")


STEPS = (
    Step(ZONE, StepKind.CHOICE, "settings.ask_zone", options=zone_options, read=read_zone, shown=zone_shown,
         width=2),  # a flag and a country fit two to a row
    Step(QUIET, StepKind.CHOICE, "settings.ask_quiet", options=quiet_options, read=read_quiet, shown=quiet_shown,
         width=2, when=never, back=False),
)


class Settings(Feature):
    name = "settings"
    prefix = "st"
    menu_items = (MenuEntry("settings.menu", "settings", 80, section="settings"),)

    def __init__(self) -> None:
        self.change = Dialog(
            FLOW,
            "s",
            STEPS,
            load=self._answers,
            save=self._save,
            finish=self._finish,
            title="settings.flow_title",
            words={"current": "settings.current"},
            back_keeps=True,  # Back (pressed or typed) returns to the card with the setting as it was
        )
        self.dialogs = (self.change,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"settings": self.settings}

    def help_keys(self) -> tuple[str, ...]:
        return ("settings.help",)

    def settings(self, turn: Turn, args: str) -> list[Reply]:
        if turn.session.flow == FLOW:
            turn.session.leave()
        return [self.card(turn)]

    # -- the card ----------------------------------------------------------------------------
    def card(self, turn: Turn, note: str = "", replace: bool = False) -> Reply:
        prefs = load_prefs(turn.store, turn.user_id)
        zone_name, _ = user_zone(turn.store, turn.user_id)
        zone = (
            turn.t("settings.zone_line", zone=zone_name, offset=utc_offset_label(zone_name, turn.now))
            if zone_name else turn.t("settings.zone_unset")
        )
        quiet = (
            turn.t("settings.quiet_line", hours=prefs.quiet.label())
            if prefs.quiet.start != prefs.quiet.end else turn.t("settings.quiet_none")
        )
        lines = [note] if note else []
        lines += [
            turn.t("settings.title"), zone, quiet,
            turn.t(f"settings.amount_{prefs.amount}"),
            turn.t("settings.paused_line" if prefs.paused else "settings.active_line"),
        ]
        if prefs.muted:
            names = ", ".join(turn.t(f"nudges.kind_{k}") for k in KINDS if k in prefs.muted)
            lines.append(turn.t("settings.muted_line", kinds=names))
        wanted = prefs.kinds()  # the schedule itself follows when this turn ends
        upcoming = next(
            (r for r in schedule_rows(turn.store, turn.user_id) if r["status"] in PENDING and r["kind"] in wanted),
            None,
        )
        if upcoming:
            day = date.fromisoformat(upcoming["due_on"])
            lines.append(turn.t("settings.next_line", day=f"{day:%d %b %Y}",
                                what=turn.t(f"nudges.one_{upcoming['kind']}")))

        def mark(code: str) -> str:
            return "✓ " if prefs.amount == code else ""

        buttons = keyboard(
            [Button(turn.t("settings.button_zone"), "st:z"), Button(turn.t("settings.button_quiet"), "st:q")],
            [Button(mark(a) + turn.t(f"settings.button_amount_{a}"), f"st:a:{a}") for a in AMOUNTS],
            [Button(turn.t("calendar.menu"), "go:calendar")],
            [Button(turn.t("settings.button_resume" if prefs.paused else "settings.button_pause"),
                    "st:r" if prefs.paused else "st:p"),
             Button(turn.t("settings.button_close"), "st:c")],
        )
        return Reply("\n".join(lines), buttons, replace=replace)

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        action, _, arg = payload.partition(":")
        if action in ("z", "q") and not arg:
            return self.change.begin(turn, at=ZONE if action == "z" else QUIET, only=True)
        if action == "a" and arg in AMOUNTS:
            save_prefs(turn.store, turn.user_id, turn.now, amount=arg, muted=())
            turn.changed.add(CHANGED)
            return [self.card(turn, turn.t("settings.amount_saved"), replace=True)]
        if action in ("p", "r") and not arg:
            save_prefs(turn.store, turn.user_id, turn.now, paused=action == "p")
            turn.changed.add(CHANGED)
            note = turn.t("settings.paused" if action == "p" else "settings.resumed")
            return [self.card(turn, note, replace=True)]
        if action == "c" and not arg:
            if turn.session.flow == FLOW:
                turn.session.leave()
            return [Reply(turn.t("settings.closed"), replace=True), turn.engine.main_menu(turn)]
        raise StaleButton()

    # -- the dialog's hooks ------------------------------------------------------------------
    def _answers(self, turn: Turn) -> dict[str, Any]:
        zone_name, _ = user_zone(turn.store, turn.user_id)
        return {ZONE: zone_name, QUIET: quiet_code(load_prefs(turn.store, turn.user_id).quiet)}

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        if step.name == ZONE:
            save_answer(turn.store, turn.user_id, turn.now.isoformat(timespec="seconds"), timezone=str(value))
            turn.changed.add("profile")
            return
        quiet = quiet_of(str(value))
        save_prefs(turn.store, turn.user_id, turn.now, quiet_start=f"{quiet.start:%H:%M}",
                   quiet_end=f"{quiet.end:%H:%M}")
        turn.changed.add(CHANGED)

    def _finish(self, turn: Turn, end: End) -> list[Reply]:
        if end.kept or end.edited is None:  # Back to the card (or an answer from before the dialog)
            return [self.card(turn, replace=end.kept)]
        if end.edited == ZONE:
            zone = str(end.answers[ZONE])
            now = turn.now.astimezone(zone_or_utc(zone)).strftime("%H:%M")
            return [self.card(turn, turn.t("settings.zone_saved", zone=zone, time=now))]
        quiet = quiet_of(str(end.answers[QUIET]))
        key = "settings.quiet_saved" if quiet.start != quiet.end else "settings.quiet_saved_none"
        return [self.card(turn, turn.t(key, hours=quiet.label()))]
