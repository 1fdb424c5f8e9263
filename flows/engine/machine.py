"""Flows declared as data, run by one shared ``transitions`` machine per flow.

A :class:`FlowMachine` is built once per flow definition with ``model=None``;
every input fires the machine's event on a tiny per-user :class:`Cursor` that
carries the state loaded from the store. Nothing is attached to the machine per
user, so there is no ``add_model``/``remove_model`` cost and no per-user memory.
Conditions are plain callables declared in the transition table; they receive
the arguments given to :meth:`FlowMachine.fire`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transitions import Machine, MachineError


class Cursor:
    """The per-input model: just the state the machine reads and writes."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(frozen=True)
class FlowSpec:
    """A flow as data: its states, its transitions (``transitions`` dicts), its first state."""

    name: str
    states: Sequence[str]
    transitions: Sequence[Mapping[str, Any]]
    initial: str


class FlowMachine:
    def __init__(self, spec: FlowSpec) -> None:
        self.spec = spec
        self.machine = Machine(
            model=None,
            states=list(spec.states),
            transitions=[dict(t) for t in spec.transitions],
            initial=spec.initial,
            auto_transitions=False,
            send_event=False,
        )
        # which triggers leave which states: fixed once built, so asked without a search
        self._moves = frozenset(
            (name, source) for name, event in self.machine.events.items() for source in event.transitions
        )

    @property
    def states(self) -> list[str]:
        return list(self.machine.states)

    def can_fire(self, trigger: str, state: str) -> bool:
        return (trigger, state) in self._moves

    def fire(self, trigger: str, state: str, *args: Any) -> str:
        """Fire ``trigger`` from ``state``; return the new state (unchanged if a condition said no)."""
        event = self.machine.events.get(trigger)
        if event is None:  # a misspelt trigger is a bug, not a move that happens not to apply
            raise ValueError(f"flow {self.spec.name}: no trigger {trigger!r}")
        cursor = Cursor(state)
        try:
            event.trigger(cursor, *args)
        except MachineError:  # a trigger not allowed from this state: stay put
            return state
        return cursor.state

    def mermaid(self) -> str:
        """The flow as a Mermaid state diagram, for docs and reviews."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.spec.initial}"]
        for t in self.spec.transitions:
            sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
            for source in sources:
                label = t["trigger"]
                cond = t.get("conditions")
                if cond:
                    names = cond if isinstance(cond, list) else [cond]
                    label += " [" + ", ".join(getattr(c, "__name__", str(c)) for c in names) + "]"
                lines.append(f"    {source} --> {t['dest']}: {label}")
        return "\n".join(lines)
