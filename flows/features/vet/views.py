"""What /vet and /programs show outside the dialog: the verdict and the questions to send, the
list of programs, a program's card, the list of answers to change, and two programs side by side."""

from __future__ import annotations

from flows.base.types import Button, Reply, column, keyboard
from flows.domain.scoring import NO, YES, Level, Verdict
from flows.engine.engine import Turn
from flows.features.vet.checklist import Item, checklist
from flows.storage.programs import Program, get_program, list_programs, load_answers

LABEL_LIMIT = 36  # characters of a program name shown on a button
_GOOD_MARK = {YES: "✅", NO: "❌"}  # a good sign the program has / lacks
_FLAG_MARK = {YES: "🚩", NO: "➖"}  # a red flag the program shows / doesn't show
UNKNOWN_MARK = "❓"
_LEVEL_MARK = {"strong": "🟢", "promising": "🟡", "weak": "🟠", "red_flags": "🔴"}


def mark(item: Item, answer: str | None) -> str:
    """One icon, one meaning everywhere: ✅ has the good sign, ❌ lacks it, 🚩 shows the red
    flag, ➖ doesn't show it, ❓ not known yet."""
    marks = _FLAG_MARK if item.red_flag else _GOOD_MARK
    return marks.get(answer or "", UNKNOWN_MARK)


def said(item: Item, answer: str | None) -> str:
    """The item as the program stands on it: "➖ No guarantee of…", never "✅ Guarantees…"."""
    label = item.label_no if item.red_flag and answer == NO else item.label
    return f"{mark(item, answer)} {label}"


def short(name: str) -> str:
    return name if len(name) <= LABEL_LIMIT else name[: LABEL_LIMIT - 1].rstrip() + "…"


def program_mark(program: Program) -> str:
    if not program.finished or not program.verdict:
        return "⏸"
    return _LEVEL_MARK.get(program.verdict, "•")


def level_text(turn: Turn, program: Program, answered: int | None = None) -> str:
    if program.finished and program.verdict:
        return turn.t(f"vetting.level_{program.verdict}")
    if answered is None:
        answered = len(load_answers(turn.store, turn.user_id, program.id))
    return turn.t("vetting.level_unfinished", answered=answered, count=len(checklist()))


# -- the verdict ---------------------------------------------------------------------------------
def verdict(turn: Turn, program: Program, verdict: Verdict) -> list[Reply]:
    cl = checklist()

    def labels(ids: tuple[str, ...]) -> str:
        return "; ".join(cl.item(i).label for i in ids)

    lines = [
        turn.t("vetting.verdict_head", name=program.name),
        turn.t("vetting.verdict_level", level=turn.t(f"vetting.level_{verdict.level.code}")),
        *reasons(turn, verdict),
    ]
    for key, ids in (("confirmed", verdict.confirmed), ("missing", verdict.missing), ("flags", verdict.flags),
                     ("unsure", verdict.unsure)):
        if ids:
            lines.append(turn.t(f"vetting.line_{key}", items=labels(ids)))
    if not verdict.flags:  # "avoid" is the guide's own advice; the other levels are my reading
        lines.append(turn.t("vetting.judgement"))
    lines.append(turn.t("vetting.price_reminder"))
    lines.append(turn.t("vetting.suggest_fee"))
    change = [Button(turn.t("vetting.button_change"), f"vet:e:{program.id}")]
    more = [Button(turn.t("vetting.button_programs"), "vet:l")]
    if verdict.level >= Level.PROMISING:
        more.append(Button(turn.t("vetting.button_tracker"), f"vet:t:{program.id}"))
    asked = questions(verdict)
    if not asked:
        return [Reply("\n".join(lines), keyboard(change, more))]
    # Two messages, each about a screen: the verdict keeps a button, so it is not folded into the list
    numbered = "\n".join(f"{n}. {q}" for n, q in enumerate(asked, 1))
    return [
        Reply("\n".join(lines), keyboard(change)),
        Reply(turn.t("vetting.questions", name=program.name, questions=numbered), keyboard(more)),
    ]


def questions(verdict: Verdict) -> list[str]:
    """The questions to send, in checklist order, each once (two items may share one)."""
    cl = checklist()
    asked: list[str] = []
    for item_id in verdict.to_ask:
        if item_id in verdict.flags:
            continue
        question = cl.item(item_id).ask
        if question not in asked:
            asked.append(question)
    return asked


def reasons(turn: Turn, verdict: Verdict) -> list[str]:
    if verdict.flags:
        return [turn.t(f"vetting.avoid_{flag}") for flag in verdict.flags]
    if verdict.level is Level.WEAK and verdict.essentials_missing:
        return [turn.t("vetting.reason_weak_essential")]
    return [turn.t(f"vetting.reason_{verdict.level.code}")]


# -- saved programs ------------------------------------------------------------------------------
def program_list(turn: Turn, *, replace: bool = False) -> Reply:
    programs = list_programs(turn.store, turn.user_id)
    if not programs:
        return Reply(
            turn.t("vetting.list_empty"),
            keyboard([Button(turn.t("vetting.button_vet"), "vet:n")]),
            replace=replace,
        )
    buttons = [Button(f"{program_mark(p)} {short(p.name)}", f"vet:o:{p.id}") for p in programs]
    buttons.append(Button(turn.t("vetting.button_vet_another"), "vet:n"))
    return Reply(turn.t("vetting.list_head"), column(buttons), replace=replace)


def card(turn: Turn, program_id: int, *, replace: bool = False) -> Reply:
    program = get_program(turn.store, turn.user_id, program_id)
    text = "\n".join(
        [
            turn.t("vetting.verdict_head", name=program.name),
            turn.t("vetting.verdict_level", level=level_text(turn, program)),
            turn.t("vetting.card_dates", created=program.created_at[:10], updated=program.updated_at[:10]),
        ]
    )
    pid = program.id
    rows: list[list[Button]] = []
    if program.finished:  # "Change answers" is too wide to share a row on a phone
        rows.append([Button(turn.t("vetting.button_verdict"), f"vet:v:{pid}"),
                     Button(turn.t("vetting.button_compare"), f"vet:x:{pid}")])
        rows.append([Button(turn.t("vetting.button_change"), f"vet:e:{pid}")])
        rows.append([Button(turn.t("vetting.button_rename"), f"vet:r:{pid}")])
        if program.verdict in ("strong", "promising"):
            rows[-1].append(Button(turn.t("vetting.button_tracker"), f"vet:t:{pid}"))
    else:
        rows.append([Button(turn.t("vetting.button_continue"), f"vet:c:{pid}"),
                     Button(turn.t("vetting.button_rename"), f"vet:r:{pid}")])
    rows.append([Button(turn.t("vetting.button_delete"), f"vet:d:{pid}"),
                 Button(turn.t("vetting.button_all"), "vet:l")])
    return Reply(text, keyboard(*rows), replace=replace)


def answers_list(turn: Turn, program_id: int, *, replace: bool = False) -> Reply:
    """Every item with the program's answer, each a button that changes it."""
    program = get_program(turn.store, turn.user_id, program_id)
    answers = load_answers(turn.store, turn.user_id, program_id)
    buttons = [
        Button(said(item, answers.get(item.id)), f"vet:i:{program_id}:{n}")
        for n, item in enumerate(checklist().items)
    ]
    buttons.append(Button(turn.t("vetting.button_see_verdict"), f"vet:v:{program_id}"))
    level = level_text(turn, program, len(answers))
    return Reply(turn.t("vetting.edit_head", name=program.name, level=level), column(buttons), replace=replace)


def confirm_delete(turn: Turn, program_id: int) -> list[Reply]:
    program = get_program(turn.store, turn.user_id, program_id)
    buttons = keyboard(
        [
            Button(turn.t("vetting.button_delete_yes"), f"vet:dd:{program_id}"),
            Button(turn.t("vetting.button_keep"), f"vet:o:{program_id}"),
        ]
    )
    return [Reply(turn.t("vetting.confirm_delete", name=program.name), buttons, replace=True)]


# -- comparing -----------------------------------------------------------------------------------
def pick_compare(turn: Turn, program_id: int) -> list[Reply]:
    program = get_program(turn.store, turn.user_id, program_id)
    others = [p for p in list_programs(turn.store, turn.user_id) if p.id != program_id]
    if not others:
        return [Reply(turn.t("vetting.compare_none"), keyboard([Button(turn.t("vetting.button_vet"), "vet:n")]))]
    buttons = [Button(f"{program_mark(p)} {short(p.name)}", f"vet:xx:{program_id}:{p.id}") for p in others]
    return [Reply(turn.t("vetting.compare_pick", name=program.name), column(buttons))]


def compare(turn: Turn, first: int, second: int) -> Reply:
    a = get_program(turn.store, turn.user_id, first)
    b = get_program(turn.store, turn.user_id, second)
    answers_a = load_answers(turn.store, turn.user_id, a.id)
    answers_b = load_answers(turn.store, turn.user_id, b.id)
    lines = [
        turn.t(
            "vetting.compare_head",
            a=a.name,
            b=b.name,
            level_a=level_text(turn, a, len(answers_a)),
            level_b=level_text(turn, b, len(answers_b)),
        ),
        "",
        "A  B",
    ]
    flags_started = False
    for item in checklist().items:
        if item.red_flag and not flags_started:
            lines += ["", turn.t("vetting.compare_flags")]
            flags_started = True
        lines.append(f"{mark(item, answers_a.get(item.id))} {mark(item, answers_b.get(item.id))} {item.label}")
    buttons = keyboard(
        [
            Button(f"{turn.t('vetting.button_open')} A: {short(a.name)}", f"vet:o:{a.id}"),
            Button(f"{turn.t('vetting.button_open')} B: {short(b.name)}", f"vet:o:{b.id}"),
        ],
        [Button(turn.t("vetting.button_programs"), "vet:l")],
    )
    return Reply("\n".join(lines), buttons)
