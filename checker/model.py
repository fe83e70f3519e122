"""The small interface every engine uses.

A ``Model`` is what the compiler produces from a spec, and what tests can write by hand
in plain Python. States are opaque, immutable and hashable; only the model knows how
they are packed, and ``decode`` turns one back into named, readable values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from .values import Value

State = Hashable


@dataclass(frozen=True)
class Step:
    """One transition: the action's name, its (readable) arguments and the next state."""

    action: str
    args: tuple[Value, ...]
    state: State

    @property
    def label(self) -> str:
        from .values import format_value

        if not self.args:
            return self.action
        return f"{self.action}({', '.join(format_value(a) for a in self.args)})"


@dataclass(frozen=True)
class Invariant:
    """A named predicate that must hold in every reachable state."""

    name: str
    holds: Callable[[State], bool]


@dataclass(frozen=True)
class TransitionInvariant:
    """A named predicate over one step (pre-state, post-state)."""

    name: str
    holds: Callable[[State, State], bool]


class EvaluationError(Exception):
    """The spec did something undefined in some state (a value left its type's range,
    a map was read outside its domain, a field was read from the wrong message).

    Engines report it with the path that led to the state, like a violation."""

    def __init__(self, message: str, state: State | None = None, action: str | None = None):
        super().__init__(message)
        self.message = message
        self.state = state
        self.action = action


def describe_error(err: BaseException) -> str:
    """What an error raised by a spec's code means in the spec's terms (the generated
    code divides with ``//`` and reads maps and fields by index)."""
    if isinstance(err, EvaluationError):
        return err.message
    if isinstance(err, ZeroDivisionError):
        return "division by zero"
    if isinstance(err, IndexError):
        return ("a value was read outside its domain (a field the message lacks, or a key "
                "outside the map)")
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


@dataclass
class Model:
    """A finite transition system with named safety properties.

    ``successors`` is the engine's hot path and returns bare next states; ``steps`` gives
    the same successors, in the same order, with action labels, and is only used to
    rebuild a counterexample (a path is stored as states, its labels recomputed).
    """

    name: str
    variables: tuple[str, ...]
    initial_states: Callable[[], Sequence[State]]
    successors: Callable[[State], Sequence[State]]
    steps: Callable[[State], Sequence[Step]]
    decode: Callable[[State], dict[str, Value]]
    invariants: tuple[Invariant, ...] = ()
    transition_invariants: tuple[TransitionInvariant, ...] = ()
    check_deadlock: bool = True
    constants: dict[str, Value] = field(default_factory=dict)
    # Explains why ``successors`` raised in a state (re-runs it with checks and labels);
    # engines call it only after a failure.
    diagnose: Callable[[State], EvaluationError | None] | None = None
    # ``successors`` that also checks every transition invariant on each step, cheaply
    # (only what the step may change, see ``checker.frame``), and returns None when
    # some check fails or raises: the engine then re-checks that state's steps the
    # general way, so only the common case (all hold) depends on it.
    checked_successors: Callable[[State], Sequence[State] | None] | None = None

    def select_invariants(self, names: Sequence[str]) -> Model:
        chosen = tuple(i for i in self.invariants if i.name in names)
        chosen_t = tuple(i for i in self.transition_invariants if i.name in names)
        copy = Model(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        copy.invariants, copy.transition_invariants = chosen, chosen_t
        if chosen_t != self.transition_invariants:
            copy.checked_successors = None   # it checks them all
        return copy
