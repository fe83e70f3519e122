"""One result type for every engine (explicit, symbolic, trace).

Renderers read only this; engines build only this.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .values import Value


class Status(enum.Enum):
    OK = "ok"                    # every property holds (within the bounds, for bounded engines)
    VIOLATION = "violation"      # an invariant or transition invariant fails
    DEADLOCK = "deadlock"        # a reachable state with no enabled action
    LIMIT = "limit"              # stopped by a limit or by the user before finishing
    ERROR = "error"              # the spec did something undefined in a reachable state
    REJECTED = "rejected"        # trace validation: the trace is not a behaviour of the spec

    @property
    def exit_code(self) -> int:
        return {Status.OK: 0, Status.VIOLATION: 1, Status.DEADLOCK: 1, Status.REJECTED: 1,
                Status.LIMIT: 3, Status.ERROR: 2}[self]


@dataclass(frozen=True)
class TraceStep:
    """A state of a path, and the action (with readable arguments) that led to it."""

    action: str | None            # None for the initial state
    args: tuple[Value, ...]
    state: dict[str, Value]

    @property
    def label(self) -> str | None:
        from .values import format_value

        if self.action is None:
            return None
        if not self.args:
            return self.action
        return f"{self.action}({', '.join(format_value(a) for a in self.args)})"


@dataclass(frozen=True)
class Violation:
    kind: str                     # "invariant" | "transition" | "deadlock" | "error"
    property: str | None          # the property's name; None for deadlock and errors
    trace: tuple[TraceStep, ...]
    message: str | None = None    # for errors: what went wrong
    # Why it fails, in lines a person reads (the smallest false sub-formula and its
    # parts' values; for a deadlock, what disables each action). Filled in by
    # checker.explain after the engine, so every engine's result can be explained.
    explanation: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stats:
    distinct_states: int = 0
    generated_states: int = 0
    depth: int = 0
    elapsed_s: float = 0.0
    peak_memory_bytes: int = 0
    queue_left: int = 0

    @property
    def states_per_s(self) -> float:
        return self.distinct_states / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class Result:
    engine: str                   # "explicit" | "bmc" | "prove" | "trace" ...
    spec: str
    status: Status
    constants: dict[str, Value] = field(default_factory=dict)
    properties: tuple[str, ...] = ()
    violation: Violation | None = None
    stats: Stats = field(default_factory=Stats)
    limit_reason: str | None = None   # with Status.LIMIT: which limit, or "interrupted"
    notes: tuple[str, ...] = ()
    # the symmetric sets whose permutations the search folded: its counts are orbits
    symmetry: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.status.exit_code
