"""A compiled spec as a symbolic transition system.

A state is a flat list of scalars (``Values.flatten`` of every variable, in slot order;
with a fault budget, one more integer counts the fault steps taken). Everything is
encoded once, over one set of *base* constants for the pre-state (``pre_flat``) and,
for steps, the post-state (``post_base``); a formula about other states is made by
substitution (``instantiate``), which Z3 does in C, far faster than encoding again:

* ``initial_state()``: an initial state and its constraints; ``init(S)``;
* ``relation(actions)``: one step of the actions; ``step(S, tag, actions)`` instantiates
  it from ``S`` and returns the post-state. Only the scalars some path of the actions
  writes get new constants in the post-state; the others are the pre-state's, so no
  frame conditions are needed;
* ``invariant(inv)``, ``enabled(actions)``, ``errors()``: over the base pre-state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .. import ir
from .. import types as T
from ..compile import CompiledSpec
from . import terms as Z
from .encode import Encoder, ErrorCase, Path
from .sv import Values

FAULTS_NAME = "#faults"


@dataclass
class ActionEnc:
    name: str
    action: ir.Action
    paths: list[tuple[Any, list, tuple]]  # (guard, flat post-state, packed arguments)
    changed: list[int]                     # flat positions some path writes
    error_cases: list[ErrorCase]

    @property
    def params(self) -> tuple[ir.Binding, ...]:
        return self.action.params


class System:
    def __init__(self, compiled: CompiledSpec):
        self.compiled = compiled
        typed = compiled.typed
        self.typed = typed
        self.univ = compiled.universe
        self.V = Values(self.univ)
        self.enc = Encoder(typed, self.univ, self.V)
        self.names = [v.name for v in typed.variables]
        self.types: list[T.Type] = [v.t for v in typed.variables]
        self.budget = compiled.max_faults
        if self.budget is not None:
            self.names.append(FAULTS_NAME)
            self.types.append(T.IntT(0, int(self.budget)))
        self.width = Z.width_for(int_bound(typed, self.univ, self.types))
        Z.set_width(self.width)
        self.type_constraints: list = []
        self.pre = [self.V.fresh(t, n, self.type_constraints)
                    for n, t in zip(self.names, self.types)]
        self.pre_flat: list = self._flat(self.pre)
        self.nflat = len(self.pre_flat)
        self._post_base: list | None = None
        self._actions: list[ActionEnc] | None = None
        self._init: list[tuple[Any, list]] | None = None
        self._inv_cache: dict[str, Any] = {}
        self._rel_cache: dict[tuple, Any] = {}
        self.enc.enabled_hook = self._enabled_in

    # ------------------------------------------------------------- layout
    def _flat(self, svs) -> list:
        out: list = []
        for v, t in zip(svs, self.types):
            self.V.flatten(v, t, out)
        return out

    def unflat(self, flat: Sequence) -> list:
        it = iter(flat)
        return [self.V.rebuild(t, it) for t in self.types]

    def fresh_state(self, tag: str, positions=None, like: Sequence | None = None) -> list:
        """A flat state with new constants at ``positions`` (all, by default); the other
        positions are taken from ``like``."""
        if positions is None:
            positions = range(self.nflat)
        out = list(like) if like is not None else list(self.pre_flat)
        for i in positions:
            base = self.pre_flat[i]
            name = f"{base}@{tag}"
            out[i] = z3.Bool(name) if isinstance(base, z3.BoolRef) else \
                z3.BitVec(name, base.size())
        return out

    @property
    def post_base(self) -> list:
        """Base constants for the post-state of a step."""
        if self._post_base is None:
            self._post_base = self.fresh_state("post")
        return self._post_base

    def instantiate(self, formula, state: Sequence, post: Sequence | None = None):
        """``formula`` (over the base constants) for the given pre- (and post-) state."""
        pairs = [(b, s) for b, s in zip(self.pre_flat, state) if b is not s]
        if post is not None:
            pairs += [(b, s) for b, s in zip(self.post_base, post) if b is not s]
        return Z.substitute(formula, pairs)

    def type_ok(self, state: Sequence):
        return Z.and_(self.instantiate(c, state) for c in self.type_constraints)

    # ------------------------------------------------------------ init
    def init_paths(self) -> list[tuple[Any, list]]:
        if self._init is None:
            n = len(self.types)
            env: list = [None] * n
            if self.budget is not None:
                env[-1] = 0
            self.enc.dead = []
            paths = self.enc.run(self.typed.init, [Path([], env, {})])
            self._init = [(Z.and_(p.guard), self._flat(p.env)) for p in paths]
        return self._init

    def init(self, state: Sequence):
        return Z.or_(Z.and_([g, *(Z.eq(a, b) for a, b in zip(state, flat))])
                     for g, flat in self.init_paths())

    def initial_state(self, tag: str = "0") -> tuple[list, list]:
        """A flat initial state and its constraints: the initial values themselves when
        the init block has one path, new constants otherwise."""
        paths = self.init_paths()
        if len(paths) == 1 and paths[0][0] is True:
            return list(paths[0][1]), []
        s = self.fresh_state(tag)
        return s, [self.init(s), self.type_ok(s)]

    # ------------------------------------------------------------ actions
    @property
    def actions(self) -> list[ActionEnc]:
        if self._actions is None:
            self._actions = [self._encode_action(a) for a in self.typed.actions
                             if not a.fault or a.name in self.compiled.faults]
        return self._actions

    def _enabled_in(self, indices: tuple[int, ...], state: list):
        """For ``enabled(...)`` in an invariant: can one of these actions take a step?"""
        names = {self.typed.actions[i].name for i in indices}
        if state is self.pre:
            return self.enabled([a for a in self.actions if a.name in names])
        out = []
        for a in self.typed.actions:
            if a.name in names and (not a.fault or a.name in self.compiled.faults):
                out.append(self._encode_action(a, state).paths)
        return Z.or_(g for paths in out for g, _, _ in paths)

    def _encode_action(self, a: ir.Action, state: list | None = None) -> ActionEnc:
        enc = self.enc
        saved, enc.dead = enc.dead, []
        try:
            return self._encode_action_in(a, self.pre if state is None else state)
        finally:
            enc.dead = saved

    def _encode_action_in(self, a: ir.Action, state: list) -> ActionEnc:
        enc = self.enc
        p = Path([], list(state), {})
        if a.fault and self.budget is not None:
            p.guard.append(Z.lt(p.env[-1], int(self.budget)))
            p.env[-1] = Z.add(p.env[-1], 1)
        paths = enc.run(a.body, enc.expand(a.params, p, record=True))
        errors = list(enc.dead)
        out = []
        changed: set[int] = set()
        pre = self.pre_flat
        for q in paths:
            errors.extend(enc.error_cases(q))
            flat = self._flat(q.env)
            for i, (x, y) in enumerate(zip(flat, pre)):
                if x is not y and i not in changed and not Z.same(x, y):
                    changed.add(i)
            out.append((Z.and_(q.guard), flat, q.args))
        return ActionEnc(a.name, a, out, sorted(changed), errors)

    def action(self, name: str) -> ActionEnc:
        for a in self.actions:
            if a.name == name:
                return a
        raise KeyError(name)

    def changed(self, actions: Sequence[ActionEnc] | None = None) -> list[int]:
        acts = self.actions if actions is None else actions
        return sorted({i for a in acts for i in a.changed})

    def relation(self, actions: Sequence[ActionEnc] | None = None,
                 positions: Sequence[int] | None = None):
        """The step relation of the actions over (pre_flat, post_base), with post
        constants at ``positions`` (default: what the actions write)."""
        acts = self.actions if actions is None else actions
        idx = self.changed(acts) if positions is None else list(positions)
        key = (tuple(a.name for a in acts), tuple(idx))
        if key in self._rel_cache:
            return self._rel_cache[key]
        post = self.post_base
        disjuncts = []
        # Paths mostly share their values (the same objects): one equation per value.
        eqs: dict[tuple[int, int], Any] = {}
        for a in acts:
            for guard, flat, _ in a.paths:
                conj = [guard]
                for i in idx:
                    x = flat[i]
                    at = (i, id(x))
                    e = eqs.get(at)
                    if e is None:
                        e = eqs[at] = Z.eq(post[i], x)
                    conj.append(e)
                disjuncts.append(Z.and_(conj))
        out = self._rel_cache[key] = Z.or_(disjuncts)
        return out

    def step(self, state: Sequence, tag: str, actions: Sequence[ActionEnc] | None = None):
        """A new post-state for a step from ``state``, and the step's formula."""
        idx = self.changed(actions)
        post = self.fresh_state(tag, idx, like=state)
        rel = self.relation(actions, idx)
        pairs = [(b, s) for b, s in zip(self.pre_flat, state) if b is not s]
        pairs += [(self.post_base[i], post[i]) for i in idx]
        return post, Z.substitute(rel, pairs)

    def post_of(self, state: Sequence, path_flat: list):
        """The post-state of one path, over ``state``."""
        pairs = [(b, s) for b, s in zip(self.pre_flat, state) if b is not s]
        return [Z.substitute(x, pairs) if Z.is_term(x) else x for x in path_flat]

    def enabled(self, actions: Sequence[ActionEnc] | None = None):
        """Over the base pre-state: can one of the actions take a step?"""
        acts = self.actions if actions is None else actions
        return Z.or_(g for a in acts for g, _, _ in a.paths)

    def errors(self) -> list[tuple[str, str, Any]]:
        """(action, message, formula over the base pre-state) for every way an action can
        fail in the explicit engine."""
        out = []
        for a in self.actions:
            for case in a.error_cases:
                f = case.formula()
                if f is not False:
                    out.append((a.name, case.message, f))
        return out

    # --------------------------------------------------------- invariants
    def invariant(self, inv: ir.Invariant):
        """The invariant over the base pre-state (and post-state, for transition ones)."""
        f = self._inv_cache.get(inv.name)
        if f is None:
            if inv.transition:
                post = self.unflat(self.post_base)
                f = self.enc.holds(inv.body, self.pre, post)
            else:
                f = self.enc.holds(inv.body, self.pre)
            self._inv_cache[inv.name] = f
        return f

    # ------------------------------------------------------------ states
    def state_eq(self, a: Sequence, b: Sequence):
        """The two flat states hold the same values (scalars that mean nothing, such as
        the value of a ``none`` option, are ignored)."""
        va, vb = self.unflat(a), self.unflat(b)
        return Z.and_(self.V.eq(x, t, y, t) for x, y, t in zip(va, vb, self.types))

    def state_distinct(self, a: Sequence, b: Sequence):
        return Z.not_(self.state_eq(a, b))

    def const_flat(self, packed_state: Sequence) -> list:
        out: list = []
        for t, v in zip(self.types, packed_state):
            self.V.flatten(self.V.const(t, v), t, out)
        return out

    def decode(self, model: z3.ModelRef, flat: Sequence) -> tuple:
        """The packed state (as the compiled model packs it) of a flat state in a model."""

        def value_of(x):
            if type(x) in (bool, int):
                return x
            v = model.eval(x, model_completion=True)
            if z3.is_true(v):
                return True
            if z3.is_false(v):
                return False
            return Z.int_value(v)

        svs = self.unflat(flat)
        return tuple(self.V.packed(v, t, value_of) for v, t in zip(svs, self.types))

    def value_of(self, model: z3.ModelRef, x) -> Any:
        if type(x) in (bool, int):
            return x
        v = model.eval(x, model_completion=True)
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        return Z.int_value(v)


def int_bound(typed: ir.TypedSpec, univ, types) -> int:
    """The largest absolute value an integer in the spec can take: over every integer
    type of a variable, a message field or an expression (the type checker's intervals
    are sound), and the sizes and positions the encoding itself computes with."""
    bound = [abs(univ.int_base) + 2]

    def of_type(t: T.Type, seen: set) -> None:
        if t in seen:
            return
        seen.add(t)
        if isinstance(t, T.IntT):
            bound.append(max(abs(t.lo), abs(t.hi)))
        elif isinstance(t, (T.EnumT, T.SymT)):
            bound.append(len(t.members))
        elif isinstance(t, T.OptionT):
            of_type(t.inner, seen)
        elif isinstance(t, T.RecordT):
            for _, ft in t.fields:
                of_type(ft, seen)
        elif isinstance(t, T.VariantT):
            bound.append(len(t.cases))
            for c in t.cases:
                of_type(c, seen)
        elif isinstance(t, T.SetT):
            of_type(t.elem, seen)
            bound.append(univ.bits(t.elem) + abs(univ.int_base) + 1)
        elif isinstance(t, T.BagT):
            of_type(t.elem, seen)
            bound.append((t.capacity + 1) * max(1, univ.bits(t.elem)))
        elif isinstance(t, T.MapT):
            of_type(t.key, seen)
            of_type(t.value, seen)
        elif isinstance(t, T.SeqT):
            of_type(t.elem, seen)
            bound.append(t.capacity + 2)

    seen: set = set()
    for t in types:
        of_type(t, seen)
    roots: list = [typed.init, [a.body for a in typed.actions], [a.params for a in typed.actions],
                   [i.body for i in typed.invariants], [d.body for d in typed.defs]]
    for node in ir.ir_nodes(roots):
        t = getattr(node, "t", None)
        if isinstance(t, T.Type):
            of_type(t, seen)
        if isinstance(node, ir.Const) and isinstance(node.value, int) and \
                isinstance(node.t, T.IntT):
            bound.append(abs(node.value))
    return max(bound)


# ------------------------------------------------------------------ for tests
def models(system: System, constraints: Sequence, flat: Sequence,
           limit: int | None = None) -> set[tuple]:
    """Every packed state ``flat`` can be under ``constraints`` (by enumeration with
    blocking clauses)."""
    from .common import solver

    sol = solver(None)
    for c in constraints:
        sol.add(c)
    out: set[tuple] = set()
    while sol.check() == z3.sat:
        s = system.decode(sol.model(), flat)
        out.add(s)
        if limit is not None and len(out) >= limit:
            break
        sol.add(system.state_distinct(flat, system.const_flat(s)))
    return out


def satisfiable(constraints: Sequence) -> bool:
    from .common import solver

    sol = solver(None)
    for c in constraints:
        sol.add(c)
    return sol.check() == z3.sat


def truth(formula) -> bool:
    """The value of a formula with no free constants (simplified by Z3)."""
    if type(formula) is bool:
        return formula
    v = z3.simplify(Z.zbool(formula))
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    raise ValueError(f"not a closed formula: {v}")
