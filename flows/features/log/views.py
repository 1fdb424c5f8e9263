"""How logged experiences read: the list, one experience's card, the delete question."""

from __future__ import annotations

from typing import Any

from flows.base.text import to_plain
from flows.base.types import Button, Reply, column
from flows.domain.readiness import benchmarks, counted_level
from flows.engine.engine import Turn
from flows.features.log.steps import STEPS, choice_label, month_name, months_text, teaching_code
from flows.storage.experiences import TYPES, Experience, list_experiences, month_index, months_of


def label(turn: Turn, field: str, code: str) -> str:
    return to_plain(choice_label(turn, field, code))


def dates(turn: Turn, start: str, end: str) -> str:
    first, last = month_index(start), month_index(end)
    if first == last:
        return month_name(turn, first)
    return f"{month_name(turn, first)} – {month_name(turn, last)}"


def title(turn: Turn, exp: Experience) -> str:
    return f"{label(turn, 'type', exp.type)} · {exp.institution}"


def draft_summary(turn: Turn, draft: dict[str, Any]) -> str:
    parts = [label(turn, "type", draft["type"])] if draft.get("type") in TYPES else []
    parts += [draft[k] for k in ("specialty", "institution") if draft.get(k)]
    return " · ".join(parts) if parts else to_plain(turn.t("tracker.draft_nothing"))


def card(turn: Turn, exp: Experience) -> str:
    letter = label(turn, "letter", exp.letter)
    if exp.letter_writer:
        letter = to_plain(turn.t("tracker.card_writer", letter=letter, writer=exp.letter_writer))
    return turn.t(
        "tracker.card",
        type=label(turn, "type", exp.type),
        specialty=exp.specialty,
        institution=exp.institution,
        teaching=to_plain(turn.t(f"tracker.card_teaching.{teaching_code(exp.teaching)}")),
        setting=label(turn, "setting", exp.setting or "both"),
        dates=dates(turn, exp.start, exp.end),
        length=months_text(turn, len(months_of(exp))),
        status=label(turn, "status", exp.status),
        level=label(turn, "level", counted_level(exp, benchmarks())),
        letter=letter,
    )


def card_reply(turn: Turn, exp: Experience, note: str = "", replace: bool = True) -> Reply:
    """The card with a button for each field to change, Delete, and the way back to the list."""
    fields = [Button(turn.t(f"tracker.field.{f}"), f"tr:f:{exp.id}:{f}") for f in STEPS]
    rows = (
        *column(fields, 3),
        (Button(turn.t("tracker.button_delete"), f"tr:d:{exp.id}"), Button(turn.t("tracker.button_all"), "tr:ls")),
    )
    text = f"{note}\n{card(turn, exp)}" if note else card(turn, exp)
    return Reply(text, rows, replace=replace)


def logged_reply(turn: Turn, exp: Experience) -> Reply:
    buttons = [
        Button(turn.t("tracker.button_log_another"), "go:log"),
        Button(turn.t("tracker.button_list"), "go:experiences"),
        Button(turn.t("tracker.button_progress"), "go:progress"),
    ]
    return Reply(turn.t("tracker.saved_logged") + "\n" + card(turn, exp), column(buttons, 2))


def list_reply(turn: Turn, replace: bool = False, note: str = "") -> Reply:
    exps = list_experiences(turn.store, turn.user_id)
    head = f"{note}\n" if note else ""
    if not exps:
        return Reply(head + turn.t("tracker.list_empty"), ((Button(turn.t("tracker.menu_log"), "go:log"),),),
                     replace=replace)
    lines = [turn.t("tracker.list_title", n=len(exps))]
    buttons = []
    for n, exp in enumerate(exps, 1):
        kind = label(turn, "type", exp.type)
        lines.append(turn.t("tracker.list_item", n=n, type=kind, specialty=exp.specialty, institution=exp.institution,
                            dates=dates(turn, exp.start, exp.end), status=label(turn, "status", exp.status).split()[0]))
        button = to_plain(turn.t("tracker.list_button", n=n, type=kind, institution=exp.institution))
        buttons.append(Button(button[:60], f"tr:e:{exp.id}"))
    lines.append(turn.t("tracker.list_hint"))
    buttons.append(Button(turn.t("tracker.menu_log"), "go:log"))
    return Reply(head + "\n".join(lines), column(buttons, 1), replace=replace)


def delete_question(turn: Turn, exp: Experience) -> Reply:
    buttons = ((Button(turn.t("tracker.button_delete_yes"), f"tr:dy:{exp.id}"),
                Button(turn.t("tracker.button_delete_no"), f"tr:e:{exp.id}")),)
    return Reply(turn.t("tracker.delete_confirm", title=title(turn, exp)), buttons, replace=True)
