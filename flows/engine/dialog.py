"""Dialogs: a multi-step flow declared once, as a list of typed steps.

A feature declares a :class:`Dialog` — its steps, where answers are read from and written
to, and what happens at the end — and the dialog does the rest, the same way at every step:

- it compiles to one ``transitions`` machine (states = steps, plus ``done``): ``next`` goes
  to the next step whose ``when`` holds for the answers so far, ``back`` to the previous one;
- it shows a step (prompt from a content key, the current answer, the options as buttons,
  Back / Skip / Keep / Done where the step allows them);
- it encodes its own button data (``<prefix>:~<dialog>:<step>:<action>[:<value>]``) and
  refuses a press for any step but the current one (:class:`StaleButton`);
- it reads typed text by the step's kind (``reading.py``: numbers and number words, durations in days,
  weeks, months or years, months of the year, yes/no words, choice labels and their words)
  and typed moves ("back", "skip", "keep", "done");
- it saves each answer the moment it is given (the dialog's ``save``), so a restart,
  /cancel or a crash loses nothing.

The engine adds what every flow gets (a question typed mid-step answered and the step shown
again, an edit of the last answer replacing it, typed "cancel"): see ``engine.py`` and
``answers.py``. ``python -m bot.diagrams`` draws every dialog into ``docs/flows/``
with ``transitions``' own ``GraphMachine`` (mermaid).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flows.base.errors import InvalidAnswer, StaleButton
from flows.base.text import MAX_INPUT, clean
from flows.base.types import Button, Keyboard, Reply, column
from flows.domain import typed
from flows.engine.machine import FlowMachine, FlowSpec
from flows.engine.reading import Heard, Option, StepKind, label, options, present, read_by_kind, read_choice, reason

__all__ = ["DONE", "MARK", "ONLY", "Ask", "Dialog", "End", "Heard", "Option", "Step", "StepKind", "read_choice",
           "reason"]

if TYPE_CHECKING:
    from flows.engine.engine import Turn

DONE = "done"
MARK = "~"  # button payloads of a dialog start with it, so a feature's own payloads never clash



@dataclass(slots=True)
class Ask:
    """What a step's hooks see: the turn, the dialog, the step and the answers so far."""

    turn: Turn
    dialog: Dialog
    step: Step
    answers: Mapping[str, Any]

    def t(self, key: str, **values: object) -> str:
        return str(self.turn.t(key, **values))

    def say(self, name: str, **values: object) -> str:
        """A shared dialog text (``dialog.<name>``), or the step's or the dialog's own wording of it."""
        key = (self.step.words or {}).get(name) or self.dialog.words.get(name, f"dialog.{name}")
        return self.t(key, **values)

    @property
    def editing(self) -> bool:
        return bool(self.turn.session.data.get(ONLY))


Options = Sequence[Option] | Callable[[Ask], Sequence[Option]]
Condition = Callable[[Mapping[str, Any]], bool]
ONLY = "_only"  # session data: the step being changed (from a card) and its follow-ups; then the dialog ends


@dataclass(frozen=True)
class Step:
    """One question. ``field`` is the key of ``answers`` it fills (default: its name)."""

    name: str
    kind: StepKind
    prompt: str | Callable[[Ask], str]  # text key, or a hook choosing it (typed, or buttons to tap)
    field: str = ""
    options: Options = ()
    low: int = 0
    high: int = 0
    limit: int = MAX_INPUT
    when: Condition | None = None  # asked only when this holds for the answers so far
    skip: bool = False  # may be skipped (Skip button, "skip")
    keep: bool = True  # an answer already given may be kept (Keep button, "keep")
    back: bool = True  # Back leads to the previous step asked
    reason: str = ""  # text key: why a typed answer was not understood
    read: Callable[[Ask, str], Any] | None = None  # reads typed text (raise InvalidAnswer); None: by kind
    check: Callable[[Ask, Any], Any] | None = None  # checks (and may change) any answer, typed or pressed
    values: Callable[[Ask], Mapping[str, object]] | None = None  # placeholders of the prompt
    shown: Callable[[Ask, Any], str | None] | None = None  # an answer as the user reads it
    width: int = 1  # buttons per row
    max_picks: int = 0  # MULTI: at most this many (0: any)
    min_picks: int = 0  # MULTI: Done needs at least this many
    picks_reason: str = ""  # MULTI: text key when there are too many or too few
    empty: str = ""  # text key for an empty message (placeholders: limit and values'); "": the dialog's
    words: Mapping[str, str] | None = None  # as Dialog.words, for this step only
    extra: Callable[[Ask], Keyboard] | None = None  # rows of the feature's own buttons, under the step's
    text_for: str = ""  # typed text here answers that earlier step again (a new draft at a preview)

    @property
    def key(self) -> str:
        return self.field or self.name


@dataclass(frozen=True, slots=True)
class End:
    """How a dialog ended: the answers, the session data it had, and the one step changed
    when it was opened to change a single answer (``None`` for a full run)."""

    answers: Mapping[str, Any]
    data: Mapping[str, Any]
    edited: str | None = None
    kept: bool = False  # that single answer was kept as it was


@dataclass(eq=False)
class Dialog:
    """A flow declared as steps. ``load`` returns the answers so far, ``save`` writes one,
    ``finish`` answers the end. ``header`` may put a line above each prompt ("Step 2 of 5")."""

    name: str  # the session's flow name
    code: str  # a short name in button data
    steps: Sequence[Step]
    load: Callable[[Turn], Mapping[str, Any]]
    save: Callable[[Turn, Step, Any], None]
    finish: Callable[[Turn, End], list[Reply]]
    header: Callable[[Ask], str] | None = None
    title: str = ""  # text key naming the flow ("the checklist")
    words: Mapping[str, str] = field(default_factory=dict)  # dialog text name -> this dialog's text key
    prefix: str = ""  # the owning feature's button prefix (set by the engine)
    moved: Callable[[Turn, str], None] | None = None  # called with each step reached (and "done")
    back_keeps: bool = False  # changing one answer: Back (pressed or typed) stands for Keep (pick-several: Done)
    # the record the dialog is about (an id): put into its button data, so a button left under
    # an older message about another record is stale rather than applied to this one
    scope: Callable[[Turn], object] | None = None
    by_name: dict[str, Step] = field(init=False, repr=False)
    machine: FlowMachine = field(init=False, repr=False)
    _back_always: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.steps}
        if len(self.by_name) != len(self.steps) or DONE in self.by_name:
            raise ValueError(f"dialog {self.name}: step names must be unique and not {DONE!r}")
        if any(s.text_for and s.text_for not in self.by_name for s in self.steps):
            raise ValueError(f"dialog {self.name}: text_for names no step")
        self.machine = FlowMachine(self.spec())
        # steps with Back and an earlier step asked whatever the answers: Back is always there
        self._back_always = frozenset(
            s.name for i, s in enumerate(self.steps) if s.back and any(t.when is None for t in self.steps[:i])
        )

    # -- the machine --------------------------------------------------------------------------
    def spec(self) -> FlowSpec:
        """The steps as a ``transitions`` table: to the next (or previous) step that applies."""
        names = [s.name for s in self.steps]
        moves: list[dict[str, Any]] = []
        for i, step in enumerate(self.steps):
            for trigger, later in (("next", self.steps[i + 1 :]), ("back", list(reversed(self.steps[:i])))):
                if trigger == "back" and not step.back:
                    continue
                for target in later:
                    move: dict[str, Any] = {"trigger": trigger, "source": step.name, "dest": target.name}
                    if target.when is not None:
                        move["conditions"] = [target.when]
                    moves.append(move)
                    if target.when is None:
                        break
                else:
                    if trigger == "next":
                        moves.append({"trigger": "next", "source": step.name, "dest": DONE})
        return FlowSpec(self.name, (*names, DONE), moves, names[0])

    def first(self, answers: Mapping[str, Any]) -> str:
        step = self.steps[0]
        if step.when is None or step.when(answers):
            return step.name
        return self.machine.fire("next", step.name, answers)

    def next_of(self, state: str, answers: Mapping[str, Any]) -> str:
        return self.machine.fire("next", state, answers)

    def back_of(self, state: str, answers: Mapping[str, Any]) -> str | None:
        if not self.machine.can_fire("back", state):  # the first step, or a dialog of one step
            return None
        target = self.machine.fire("back", state, answers)
        return None if target == state else target

    def diagram(self) -> str:
        """The dialog as a Mermaid state diagram, drawn by ``transitions``' ``GraphMachine``."""
        from transitions.extensions import GraphMachine  # docs only: not loaded by the bot

        spec = self.spec()
        machine = GraphMachine(
            model="self",
            states=list(spec.states),
            transitions=[dict(t) for t in spec.transitions],
            initial=spec.initial,
            auto_transitions=False,
            graph_engine="mermaid",
            title=f"{self.name} ({self.code})",
            show_conditions=True,
        )
        text: str = machine.get_graph().draw(None)
        lines = (line.rstrip() for line in text.splitlines() if "Class " not in line and "classDef" not in line)
        return "\n".join(lines) + "\n"  # without the colours of a current state

    # -- button data ----------------------------------------------------------------------------
    def data(self, step: str, action: str, value: str = "", scope: str = "") -> str:
        tail = f":{value}" if value else ""
        head = f"{self.code}.{scope}" if scope else self.code
        return f"{self.prefix}:{MARK}{head}:{step}:{action}{tail}"

    def owns(self, payload: str) -> bool:
        return payload.startswith((f"{MARK}{self.code}:", f"{MARK}{self.code}."))

    def scope_of(self, turn: Turn) -> str:
        """The record the open dialog is about, as put into its buttons ("" when it has no ``scope``)."""
        return str(self.scope(turn)) if self.scope is not None else ""

    # -- running --------------------------------------------------------------------------------
    def ask(self, turn: Turn, step: Step | None = None) -> Ask:
        step = step or self.by_name[turn.session.state or ""]
        return Ask(turn, self, step, self.load(turn))

    def begin(
        self,
        turn: Turn,
        at: str | None = None,
        data: dict[str, Any] | None = None,
        only: bool = False,
        follow: Sequence[str] = (),
    ) -> list[Reply]:
        """Open the dialog at ``at`` (default: the first step that applies). With ``only`` the
        dialog changes that one answer and ends — unless the step it leads to is one of
        ``follow`` (after "student" comes the year of school), which is asked too."""
        session_data = dict(data or {})
        turn.session.enter(self.name, at or self.steps[0].name, session_data)  # load() may read the data
        answers = self.load(turn)
        state = at or self.first(answers)
        if state == DONE:
            turn.session.leave()
            self.place(turn, DONE)
            return self.finish(turn, End(answers, dict(data or {})))
        if only:
            session_data[ONLY] = [state, *follow]
        turn.session.enter(self.name, state, session_data)
        self.place(turn, state)
        return self.show(turn)

    def place(self, turn: Turn, state: str) -> None:
        """Tell the dialog's ``moved`` hook where the user now is (a savepoint of the position)."""
        if self.moved is not None:
            self.moved(turn, state)

    def show(self, turn: Turn, replace: bool = False, lead: str | None = None) -> list[Reply]:
        state = turn.session.state
        step = self.by_name.get(state or "")
        if step is None:  # a state this dialog no longer has (after an upgrade): start it again
            turn.session.leave()
            return self.begin(turn)
        ask = self.ask(turn, step)
        lines = [lead] if lead else []
        if self.header is not None:
            head = self.header(ask)
            if head:
                lines.append(head)
        prompt = step.prompt(ask) if callable(step.prompt) else step.prompt
        lines.append(ask.t(prompt, **(step.values(ask) if step.values else {})))
        current = ask.answers.get(step.key)
        if step.kind is StepKind.MULTI:
            pass
        elif present(current) and step.kind is not StepKind.CONFIRM:
            shown = self.shown(ask, current)
            if shown:
                lines.append(ask.say("current", value=shown))
        elif ask.editing and "current_none" in self.words:
            lines.append(ask.say("current_none"))
        return [Reply("\n".join(lines), self.keyboard(ask), replace=replace)]

    def shown(self, ask: Ask, value: Any) -> str | None:
        """An answer as the user reads it (plain text)."""
        step = ask.step
        if step.shown is not None:
            return step.shown(ask, value)
        if step.kind in (StepKind.CHOICE, StepKind.YESNO, StepKind.MULTI):
            labels = {o.code: label(ask, o) for o in options(ask)}
            codes = value if isinstance(value, (list, tuple)) else [value]
            return ", ".join(labels.get(str(c), str(c)) for c in codes) or None
        if step.kind is StepKind.DURATION:
            return ask.say("month" if value == 1 else "months", n=value)
        if step.kind is StepKind.TEXT:
            text = str(value)
            return text if len(text) <= 300 else text[:299] + "…"
        return str(value)

    def keyboard(self, ask: Ask) -> Keyboard:
        step, name = ask.step, ask.step.name
        scope = self.scope_of(ask.turn)
        current = ask.answers.get(step.key)
        rows: list[tuple[Button, ...]] = []
        opts = options(ask)
        if step.kind is StepKind.MULTI:
            picked = set(current or ())
            mark = ask.say("mark_on")
            rows += column(
                [Button(f"{mark} {label(ask, o)}" if o.code in picked else label(ask, o),
                        self.data(name, "t", o.code, scope)) for o in opts],
                step.width,
            )
        else:
            rows += column([Button(label(ask, o), self.data(name, "a", o.code, scope)) for o in opts], step.width)
        nav: list[Button] = []
        leave = ask.editing and self.back_keeps
        if self.can_back(ask) or leave:
            nav.append(Button(ask.say("button_back"), self.data(name, "k" if leave else "b", scope=scope)))
        if step.kind is StepKind.MULTI:
            nav.append(Button(ask.say("button_done"), self.data(name, "d", scope=scope)))
        elif step.kind is not StepKind.CONFIRM and not leave and (ask.editing or (present(current) and step.keep)):
            nav.append(Button(ask.say("button_keep"), self.data(name, "k", scope=scope)))
        elif step.skip and not ask.editing:
            nav.append(Button(ask.say("button_skip"), self.data(name, "k", scope=scope)))
        if nav:
            rows.append(tuple(nav))
        if step.extra is not None:
            rows += step.extra(ask)
        return tuple(rows)

    def can_back(self, ask: Ask) -> bool:
        if ask.editing:
            return False
        if ask.step.name in self._back_always:  # an earlier step is always asked: no need to fire
            return True
        return self.back_of(ask.step.name, ask.answers) is not None

    def on_button(self, turn: Turn, payload: str) -> list[Reply]:
        head, step_name, rest = payload[len(MARK) :].split(":", 2) if payload.count(":") >= 2 else ("", "", "")
        action, _, value = rest.partition(":")
        session = turn.session
        if session.flow != self.name or session.state != step_name or step_name not in self.by_name:
            raise StaleButton()
        if head.partition(".")[2] != self.scope_of(turn):  # a button about another record
            raise StaleButton()
        ask = self.ask(turn)
        step = ask.step
        if action == "a" and step.kind is not StepKind.MULTI:
            if value not in {o.code for o in options(ask)}:
                raise StaleButton()
            answer = self.checked(ask, value)
            return self.answered(ask, answer, replace=True)
        if action == "t" and step.kind is StepKind.MULTI:
            if value not in {o.code for o in options(ask)}:
                raise StaleButton()
            return self.toggle(ask, self.checked(ask, value), replace=True)
        if action == "d" and not value and step.kind is StepKind.MULTI:
            return self.done_picking(ask, replace=True)
        if action == "b" and not value and self.can_back(ask):
            return self.go_back(ask, replace=True)
        if action == "k" and not value:
            return self.keep_or_skip(ask, replace=True)
        raise StaleButton()

    def on_text(self, turn: Turn, text: str) -> list[Reply]:
        if turn.session.state not in self.by_name:
            return self.show(turn)
        ask = self.ask(turn)
        step = ask.step
        value = clean(text, step.limit + 1 if step.kind is StepKind.TEXT else MAX_INPUT)
        if not value:
            if step.empty:
                raise InvalidAnswer(ask.t(step.empty, limit=step.limit, **(step.values(ask) if step.values else {})))
            raise InvalidAnswer(ask.say("empty"))
        move = typed.move_of(value)
        if move == "back" and ask.editing and self.back_keeps:
            return self.keep_or_skip(ask)
        if move == "back" and self.can_back(ask):
            return self.go_back(ask)
        if move in ("skip", "keep") and step.kind is not StepKind.MULTI and self.movable(ask, move):
            return self.keep_or_skip(ask)
        if move in ("done", "skip") and step.kind is StepKind.MULTI:
            return self.done_picking(ask)
        if step.text_for:
            ask = Ask(turn, self, self.by_name[step.text_for], ask.answers)
            step = ask.step
        if step.kind is StepKind.MULTI:
            if typed.yes_no(value) == "no" and step.min_picks == 0:  # "none", "nope": nothing picked
                self.save(turn, step, ())
                return self.advance(ask)
            return self.toggle(ask, self.read(ask, value))
        return self.answered(ask, self.read(ask, value))

    def movable(self, ask: Ask, move: str) -> bool:
        if ask.editing:  # changing one answer: keeping it as it is ends the dialog
            return True
        return (present(ask.answers.get(ask.step.key)) and ask.step.keep) or ask.step.skip

    # -- reading --------------------------------------------------------------------------------
    def read(self, ask: Ask, text: str) -> Any:
        """A typed answer, read by the step's kind (or its own ``read``), then checked."""
        step = ask.step
        value = step.read(ask, text) if step.read is not None else read_by_kind(ask, text)
        if isinstance(value, Heard):
            return Heard(self.checked(ask, value.value), value.note)
        return self.checked(ask, value)

    def checked(self, ask: Ask, value: Any) -> Any:
        return ask.step.check(ask, value) if ask.step.check is not None else value

    # -- moving ---------------------------------------------------------------------------------
    def answered(self, ask: Ask, answer: Any, replace: bool = False) -> list[Reply]:
        note = None
        if isinstance(answer, Heard):
            answer, note = answer.value, answer.note
        self.save(ask.turn, ask.step, answer)
        answers = {**ask.answers, ask.step.key: answer}
        if note is None and replace:  # a tap: the message becomes the next step, with the answer kept on top
            shown = self.shown(Ask(ask.turn, self, ask.step, answers), answer)
            chosen = ask.say("chosen", value=shown) if shown else None
            return self.advance(Ask(ask.turn, self, ask.step, answers), replace=replace, chosen=chosen)
        return self.advance(Ask(ask.turn, self, ask.step, answers), replace=replace, lead=note)

    def advance(
        self, ask: Ask, replace: bool = False, lead: str | None = None, chosen: str | None = None
    ) -> list[Reply]:
        """To the next step (or the end). ``lead`` goes above what comes next; ``chosen`` (the
        answer just tapped) only above a next step of this dialog."""
        turn, session = ask.turn, ask.turn.session
        answers = self.load(turn) if not ask.answers else ask.answers
        only = session.data.get(ONLY)
        target = self.next_of(ask.step.name, answers)
        if only and target not in only[1:]:
            target = DONE  # one answer changed (and the follow-ups it needs): the dialog ends
        if target == DONE:
            data = {k: v for k, v in session.data.items() if k != ONLY}
            end = End(self.load(turn), data, edited=only[0] if only else None)
            session.leave()
            if not only:
                self.place(turn, DONE)
            replies = self.finish(turn, end)
            return [Reply(lead), *replies] if lead else replies
        session.enter(self.name, target, dict(session.data))
        if not only:
            self.place(turn, target)
        return self.show(turn, replace=replace, lead=lead or chosen)

    def go_back(self, ask: Ask, replace: bool = False) -> list[Reply]:
        target = self.back_of(ask.step.name, ask.answers)
        if target is None:
            raise StaleButton()
        ask.turn.session.enter(self.name, target, dict(ask.turn.session.data))
        self.place(ask.turn, target)
        return self.show(ask.turn, replace=replace)

    def keep_or_skip(self, ask: Ask, replace: bool = False) -> list[Reply]:
        session = ask.turn.session
        if ask.step.kind is StepKind.MULTI:
            return self.done_picking(ask, replace)
        if session.data.get(ONLY):
            data = {k: v for k, v in session.data.items() if k != ONLY}
            edited = session.data[ONLY][0]
            session.leave()
            return self.finish(ask.turn, End(ask.answers, data, edited=edited, kept=True))
        if not self.movable(ask, "keep"):
            raise StaleButton()
        return self.advance(ask, replace=replace)

    def toggle(self, ask: Ask, code: Any, replace: bool = False) -> list[Reply]:
        step = ask.step
        note = None
        if isinstance(code, Heard):
            code, note = code.value, code.note
        picked = list(ask.answers.get(step.key) or ())
        if code in picked:
            picked.remove(code)
        else:
            if step.max_picks and len(picked) >= step.max_picks:
                raise InvalidAnswer(ask.t(step.picks_reason, max=step.max_picks,
                                          picked=", ".join(self.shown(ask, [p]) or "" for p in picked)))
            picked.append(code)
        self.save(ask.turn, step, tuple(picked))
        return self.show(ask.turn, replace=replace, lead=note)

    def done_picking(self, ask: Ask, replace: bool = False) -> list[Reply]:
        step = ask.step
        picked = ask.answers.get(step.key) or ()
        if len(picked) < step.min_picks:
            raise InvalidAnswer(ask.t(step.picks_reason, min=step.min_picks, max=step.max_picks, picked=""))
        return self.advance(ask, replace=replace)
