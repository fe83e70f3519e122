"""Taking one action of a compiled spec in one state, with some arguments fixed.

The compiler generates one function per action that lists ``(packed args, next state)``
pairs; ``Model`` exposes them only through ``steps`` (readable arguments, every action).
This module uses the per-action functions (``CompiledSpec.action_functions``) when it
can and otherwise falls back to ``steps`` filtered by action name, with arguments encoded
back to packed form. Both give the same pairs, in the same order (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import ir
from .. import types as T
from ..compile import CompiledSpec

# A parameter left open ranges over its domain.
UNBOUND: Any = type("Unbound", (), {"__repr__": lambda self: "UNBOUND"})()


def _labelled(compiled: CompiledSpec) -> list[tuple[ir.Action, Callable]] | None:
    return list(compiled.action_functions) or None


class Stepper:
    """The spec's actions as the trace engine sees them."""

    def __init__(self, compiled: CompiledSpec, *, use_closure: bool = True):
        self.compiled = compiled
        self.univ = compiled.universe
        enabled = {a.name for a in compiled.typed.actions
                   if not a.fault or a.name in compiled.faults}
        self.actions: list[ir.Action] = [a for a in compiled.typed.actions if a.name in enabled]
        self.index = {a.name: i for i, a in enumerate(self.actions)}
        self.param_names = [tuple(b.local.name for b in a.params) for a in self.actions]
        self.param_types = [tuple(b.local.t for b in a.params) for a in self.actions]
        labelled = _labelled(compiled) if use_closure else None
        if labelled is not None and [a.name for a, _ in labelled] == [a.name for a in
                                                                         self.actions]:
            self.functions: list[Callable] = [fn for _, fn in labelled]
            self.direct = True
        else:
            self.functions = [self._via_steps(i) for i in range(len(self.actions))]
            self.direct = False
        # How many argument combinations an action has in a state (for the figures).
        self._counts = [self._combinations(a) for a in self.actions]

    def _via_steps(self, i: int) -> Callable:
        name = self.actions[i].name
        types = self.param_types[i]
        steps = self.compiled.model.steps
        encode = self.univ.encode

        def run(state):
            return [(tuple(encode(t, v) for t, v in zip(types, st.args)), st.state)
                    for st in steps(state) if st.action == name]
        return run

    def _combinations(self, a: ir.Action) -> Callable[[Any], int]:
        static = 1
        dynamic: list[int] = []
        bags: list[tuple[int, T.BagT]] = []
        univ = self.univ
        for b in a.params:
            d = b.domain
            if isinstance(d, ir.Const) and isinstance(d.value, int):
                static *= d.value.bit_count()
            elif isinstance(d, ir.Var) and isinstance(d.t, T.SetT) and not d.primed:
                dynamic.append(d.slot)
            elif isinstance(d, ir.Var) and isinstance(d.t, T.BagT) and not d.primed:
                bags.append((d.slot, d.t))
            else:
                return lambda s: 0  # unknown: count the results instead
        if not dynamic and not bags:
            return lambda s: static

        def count(s):
            n = static
            for slot in dynamic:
                v = s[slot]
                n *= v.bit_count() if isinstance(v, int) else len(v)
            for slot, t in bags:  # distinct members
                n *= len(univ.bag_counts(t, s[slot]))
            return n
        return count

    def run(self, i: int, state: Any, bound: Sequence[Any] | None
            ) -> tuple[list[tuple[tuple, Any]], int]:
        """``(args, next state)`` pairs of action ``i`` in ``state`` whose arguments equal
        the bound ones (``UNBOUND`` leaves a parameter open), and how many argument
        combinations were evaluated."""
        out = self.functions[i](state)
        n = self._counts[i](state) or len(out) or 1
        if bound:
            fixed = [(k, v) for k, v in enumerate(bound) if v is not UNBOUND]
            if fixed:
                if len(fixed) == 1:
                    k, v = fixed[0]
                    out = [p for p in out if p[0][k] == v]
                else:
                    out = [p for p in out if all(p[0][k] == v for k, v in fixed)]
        return out, n
