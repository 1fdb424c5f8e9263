"""The user's data rights: /privacy (what is kept and why), /export (all of it as a
readable JSON file, and a one-page HTML summary beside it) and /delete (erase every row
about the user, after a confirmation).

Which tables hold a user's rows is read from the schema (``Store.user_tables``), so a
table added by a new feature is exported and erased without anyone listing it here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import to_plain
from flows.base.types import Attachment, Button, Keyboard, Reply
from flows.domain import summary_html
from flows.domain.plan import build_plan, load_rules
from flows.domain.plan import month_label as day_label
from flows.engine.dialog import MARK, Ask, Dialog, End, Option, Step, StepKind
from flows.engine.engine import CommandHandler, Feature, MenuEntry, Turn
from flows.storage.experiences import list_experiences, month_label, months_of
from flows.storage.profiles import Profile, load_profile
from flows.storage.store import Store

DELETE_FLOW = "privacy.delete"
CONFIRM, ERASE = "confirm", "erase"  # the dialog's one step (the flow's state before) and its button
LISTED = "listed"  # session data: "What would go" was tapped
OLD_BUTTONS = {"erase": f"a:{ERASE}", "keep": "k"}  # pv:erase / pv:keep -> the dialog's own actions
EXPORT_FILENAME = "usce-coach-export.json"
SUMMARY_FILENAME = "usce-coach-summary.html"
UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError)  # a stored value not as expected
# Profile fields shown in the summary, with the text key of their label.
PROFILE_FIELDS = (("status", "status"), ("student_year", "student_year"), ("grad_year", "grad_year"),
                  ("specialties", "specialties"), ("application", "application"), ("months_available", "months"),
                  ("budget", "budget"), ("visa", "visa"), ("us_months", "us_months"), ("us_letters", "letters"),
                  ("gaps", "gaps"), ("timezone", "timezone"))
FIRST_SECTIONS = ("users", "profiles")  # the rest follow in alphabetical order


def refuse_typed(ask: Ask, text: str) -> str:
    """Only the button erases: "yes" typed (or edited in) is never taken as the confirmation."""
    raise InvalidAnswer(ask.t("privacy.delete_use_buttons"))


class Privacy(Feature):
    name = "privacy"
    prefix = "pv"
    menu_items = (MenuEntry("privacy.menu", "privacy", 90, section="settings"),)

    def __init__(self) -> None:
        erase = Option(ERASE, "privacy.button_erase")
        confirm = Step(CONFIRM, StepKind.CONFIRM, "privacy.delete_confirm", options=(erase,), skip=True,  # skip: keep
                       read=refuse_typed, values=self._listed, extra=self._what_goes)
        self.erase = Dialog(DELETE_FLOW, "d", [confirm], load=self._answers, save=self._save, finish=self._finish,
                            title="privacy.flow_delete", words={"button_skip": "privacy.button_keep"})
        self.dialogs = (self.erase,)

    def commands(self) -> dict[str, CommandHandler]:
        return {"privacy": self.privacy, "export": self.export, "delete": self.delete}

    def help_keys(self) -> tuple[str, ...]:
        return ("privacy.help_privacy",)

    # -- /privacy -------------------------------------------------------------------------
    def privacy(self, turn: Turn, args: str) -> list[Reply]:
        """A short answer; what is kept, table by table, is one tap away (``pv:i``)."""
        buttons = (
            (Button(turn.t("privacy.button_details"), "pv:i"),),
            (Button(turn.t("privacy.button_export"), "pv:x"), Button(turn.t("privacy.button_delete"), "pv:d")),
        )
        return [Reply(turn.t("privacy.short"), buttons)]

    def details(self, turn: Turn) -> list[Reply]:
        lines = [turn.t("privacy.intro"), turn.t("privacy.stored_heading")]
        lines += [turn.t("privacy.stored_line", what=describe(turn, t)) for t in sections(turn.store)]
        lines.append(turn.t("privacy.unanswered_note"))
        lines += [turn.t("privacy.telegram_note"), turn.t("privacy.how_to")]
        buttons = (
            (Button(turn.t("privacy.button_export"), "pv:x"), Button(turn.t("privacy.button_delete"), "pv:d")),
        )
        return [Reply("\n".join(lines), buttons, replace=True, full=True)]  # asked for in full

    # -- /export --------------------------------------------------------------------------
    def export(self, turn: Turn, args: str) -> list[Reply]:
        document = build_export(turn, turn.user_id)
        count = sum(len(s["records"]) for s in document["sections"].values())
        content = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        page = summary_html.render(build_summary(turn), page_words(turn)).encode("utf-8")
        return [
            Reply(turn.t("export.caption"), attachment=Attachment(SUMMARY_FILENAME, page)),
            Reply(turn.t("export.json_caption", count=count), attachment=Attachment(EXPORT_FILENAME, content)),
        ]

    # -- /delete: a dialog of one step ------------------------------------------------------
    def delete(self, turn: Turn, args: str) -> list[Reply]:
        session = turn.session
        if session.flow == DELETE_FLOW:
            return self.erase.show(turn)
        # Remember where the user was, so "keep my data" puts them back there.
        back = [session.flow, session.state, session.data] if session.flow else None
        return self.erase.begin(turn, data={"back": back} if back else {})

    def _answers(self, turn: Turn) -> dict[str, Any]:
        return {CONFIRM: turn.session.data.get(CONFIRM)}

    def _save(self, turn: Turn, step: Step, value: Any) -> None:
        turn.session.data[CONFIRM] = value  # the session is left at once: nothing to store

    def _listed(self, ask: Ask) -> dict[str, object]:
        """ "Erase everything?" in two lines; after "What would go", what would go, table by table."""
        if not ask.turn.session.data.get(LISTED):
            return {"listed": ""}
        stored = ask.turn.store.export_user(ask.turn.user_id)
        # A first-time user has no row yet: their users row is written when this turn ends.
        kept = [t for t in sections(ask.turn.store) if stored.get(t)] or ["users"]
        lines = [to_plain(ask.t("privacy.delete_list_heading"))]
        lines += [to_plain(ask.t("privacy.stored_line", what=describe(ask.turn, t, short=True))) for t in kept]
        return {"listed": "\n\n" + "\n".join(lines)}  # plain: escaped once, into the question

    def _what_goes(self, ask: Ask) -> Keyboard:
        if ask.turn.session.data.get(LISTED):
            return ()
        return ((Button(ask.t("privacy.button_what_goes"), "pv:w"),),)

    def _finish(self, turn: Turn, end: End) -> list[Reply]:
        if end.answers.get(CONFIRM) == ERASE:
            turn.route = "privacy:erased"
            turn.store.delete_user(turn.user_id)
            turn.session.leave()
            turn.session.erased = True
            return [Reply(turn.t("privacy.erased"), replace=True)]
        turn.route = "privacy:kept"
        back = end.data.get("back")
        if back and back[0] in turn.engine.flow_names:
            turn.session.enter(back[0], back[1], back[2])
            return [Reply(turn.t("privacy.kept"), replace=True), turn.engine.resume_hint(turn)]
        return [Reply(turn.t("privacy.kept"), replace=True), turn.engine.main_menu(turn)]

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        if payload == "x":
            turn.route = "button:export"
            return turn.engine.run_command(turn, "export")
        if payload == "d":
            turn.route = "button:delete"
            return turn.engine.run_command(turn, "delete")
        if payload == "i":
            return self.details(turn)
        open_here = turn.session.flow == DELETE_FLOW and turn.session.state == CONFIRM
        if payload == "w" and open_here:
            turn.session.enter(DELETE_FLOW, CONFIRM, {**turn.session.data, LISTED: True})
            return self.erase.show(turn, replace=True)
        if payload in OLD_BUTTONS and open_here:  # a confirmation sent before it was a dialog
            return self.erase.on_button(turn, f"{MARK}{self.erase.code}:{CONFIRM}:{OLD_BUTTONS[payload]}")
        raise StaleButton()  # a confirmation from an old message never erases anything


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


# -- the one-page summary ------------------------------------------------------------------
def page_words(turn: Turn) -> dict[str, str]:
    return {word: to_plain(turn.t(f"export.page.{word}")) for word in summary_html.WORDS}


def build_summary(turn: Turn) -> summary_html.Summary:
    """What the readable export shows, as plain strings (the page escapes them)."""
    store, user = turn.store, turn.user_id

    def plain(key: str, **values: object) -> str:
        return to_plain(turn.t(key, **values))

    try:
        profile = load_profile(store, user)
    except UNREADABLE:  # a damaged row: the JSON file still has it as stored
        profile = None
    names = turn.t("tracker.months")
    experiences, letters = [], []
    for exp in list_experiences(store, user):
        try:
            months = months_of(exp)
        except UNREADABLE:
            continue
        first, last = month_label(months.start, names), month_label(months.stop - 1, names)
        when = first if first == last else plain("export.page.months", first=first, last=last)
        kind, level = _label(turn, "tracker.type", exp.type), _label(turn, "tracker.level", exp.level)
        status = _label(turn, "tracker.status", exp.status)
        experiences.append(summary_html.Item(f"{kind} · {exp.specialty} — {exp.institution}",
                                             f"{when} · {level} · {status}"))
        if exp.letter not in (None, "", "none"):
            said = _label(turn, "tracker.letter", exp.letter)
            detail = plain("export.page.letter_from", status=said, writer=exp.letter_writer) if exp.letter_writer \
                else said
            letters.append(summary_html.Item(exp.institution, detail))
    programs = []
    for row in store.export_user(user).get("programs", []):
        verdict = row.get("verdict")
        key = f"vetting.level_{verdict}"
        label = plain(key) if row.get("finished") and verdict and key in turn.texts \
            else plain("export.page.unfinished")
        programs.append(summary_html.Item(str(row.get("name") or ""), label))
    day = turn.now.astimezone(_zone(profile)).date()
    try:
        plan_head, plan = _plan(turn, profile, day)
    except UNREADABLE:
        plan_head, plan = "", []
    return summary_html.Summary(
        generated=plain("export.page.generated", day=f"{day:%d %b %Y}"),
        profile=_profile_rows(turn, profile),
        plan_head=plan_head,
        plan=plan,
        experiences=experiences,
        letters=letters,
        programs=programs,
    )


def _label(turn: Turn, group: str, code: object) -> str:
    """The catalogue's word for a stored code, or the code itself if it has none."""
    key = f"{group}.{code}"
    return to_plain(turn.t(key)) if key in turn.texts else str(code)


def _zone(profile: Profile | None) -> ZoneInfo:
    try:
        return ZoneInfo(profile.timezone) if profile and profile.timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _profile_rows(turn: Turn, profile: Profile | None) -> list[tuple[str, str]]:
    """(label, value) for every answer the profile holds, in the words of the questions."""
    if profile is None:
        return []
    rows = []
    for attr, field in PROFILE_FIELDS:
        value = getattr(profile, attr)
        if value in (None, "", ()):
            continue
        if attr == "application" and profile.application_date:
            shown = day_label(profile.application_date)
        elif isinstance(value, tuple):
            shown = ", ".join(str(v) for v in value)
        else:
            option = f"onboarding.opt_{field}_{value}"
            shown = to_plain(turn.t(option)) if option in turn.texts else str(value)
        label_key = f"onboarding.field_{field}"
        label = to_plain(turn.t(label_key)) if label_key in turn.texts else field.replace("_", " ").capitalize()
        rows.append((label, shown))
    return rows


def _plan(turn: Turn, profile: Profile | None, day: Any) -> tuple[str, list[summary_html.Item]]:
    """The plan in short: the application and Match, then each stage of the timeline with its
    dates and where it stands, and the tasks of the stage under way or next (none without a
    finished profile)."""
    if profile is None or not profile.complete or profile.application_date is None:
        return "", []
    rules = load_rules()
    plan = build_plan(profile, day, rules, experiences=list_experiences(turn.store, turn.user_id))
    head = to_plain(turn.t("export.page.plan_head", month=day_label(profile.application_date),
                           year=plan.match_year or ""))
    focus = next((w for w in plan.windows if w.status == "now"), plan.next_window)
    items = []
    for window in plan.windows:
        when = to_plain(turn.t("export.page.months", first=day_label(window.start), last=day_label(window.end)))
        status = to_plain(turn.t(f"export.page.stage_{window.status}"))
        tasks = window.milestone.tasks_for(plan.student) if window is focus else ()
        items.append(summary_html.Item(window.milestone.title,
                                       "\n".join([f"{when} · {status}", *(f"• {task}" for task in tasks)])))
    return head, items
