"""What a step leaves unchanged, and which parts of a transition invariant it can break.

A transition invariant such as 2PC's ``DecisionsDurable``
(``forall r in RM: rmState[r] in {committed, aborted} implies rmState'[r] == rmState[r]``)
is evaluated on every generated transition: on 2PC with 8 RMs that was most of the run.
Yet ``RMPrepare(r3)`` writes only ``rmState[r3]``: of the eight instances of the
``forall``, the seven for other RMs read only locations the step leaves as they were,
and with primes dropped they read ``... implies rmState[r] == rmState[r]``, true in any
state. The compiler (``compile.py``) therefore checks, after each action instance, only
the *residual*: the parts of the invariant the instance may change, plus any part that
is not true whenever the state is unchanged.

A transition invariant is split into *instances*: its top-level conjuncts, with a
``forall`` over a small constant set unrolled into one instance per element. An
instance can be left out after a step when (1) every primed location it reads (a
variable, or one entry ``m'[k]`` of a map at a constant key) is one the step cannot
write, so its value is its value with primes dropped, and (2) that value is true in
every state and its evaluation cannot fail. An instance is also left out after a
step when the step's guard implies it (``implied_by``): ``RMPrepare(r)`` requires
``rmState[r] == working``, under which ``rmState[r] in {committed, aborted} implies ...``
is true whatever the step writes. The residual holds exactly when the whole invariant
holds: a left-out instance is true, and the others are evaluated as they are, in their
order. When the residual fails or raises, the engine re-checks the step the
general way, so what is reported never depends on this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from . import ir
from . import types as T

# A location of the next state: (variable slot, constant key) for one entry of a map,
# (variable slot, WHOLE) for anything else.
WHOLE = object()
Location = tuple[int, Any]

UNROLL_INSTANCES = 64   # a `forall` with more elements than this stays one instance

_SAFE_OPS = {"and", "or", "implies", "iff", "eq", "ne", "lt", "le", "gt", "ge", "add", "sub",
             "mul", "union", "inter", "diff", "subseteq", "supseteq", "subset", "supset",
             "in", "notin"}


@dataclass(frozen=True)
class Key:
    """A constant map key, compared with its type: two keys of different types are
    taken to be possibly the same entry (never wrongly told apart)."""

    value: Any
    t: T.Type


@dataclass(frozen=True)
class Instance:
    """One part of a transition invariant, with what it reads of the next state."""

    expr: ir.Expr
    reads: frozenset          # of Location
    true_if_unchanged: bool   # with primes dropped: true in every state, cannot fail


@dataclass(frozen=True)
class TransitionFrame:
    """A transition invariant cut into instances (see the module docstring)."""

    instances: tuple[Instance, ...]

    def residual(self, writes: frozenset) -> tuple[ir.Expr, ...]:
        """The instances a step that may write ``writes`` has to evaluate, in order."""
        return tuple(i.expr for i in self.instances
                     if not i.true_if_unchanged or _overlap(i.reads, writes))


def frame_of(body: ir.Expr, small_product) -> TransitionFrame:
    """Cut a transition invariant's body into instances. ``small_product(bindings)``
    gives the constant assignments that unroll a ``forall`` (None: do not unroll)."""
    parts = []
    for e in _instances(body, small_product):
        parts.append(Instance(e, frozenset(primed_reads(e)), _always_true(_unprimed(e))))
    return TransitionFrame(tuple(parts))


def _instances(e: ir.Expr, small_product) -> Iterable[ir.Expr]:
    if isinstance(e, ir.Binop) and e.op == "and":
        yield from _instances(e.left, small_product)
        yield from _instances(e.right, small_product)
        return
    if isinstance(e, ir.Quant) and e.kind == "forall":
        combos = small_product(e.bindings)
        if combos is not None and len(combos) <= UNROLL_INSTANCES:
            for m in combos:
                yield from _instances(ir.substitute(e.body, m), small_product)
            return
    yield e


def primed_reads(e: Any) -> set[Location]:
    """The next-state locations an expression reads."""
    out: set[Location] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.GetIndex) and isinstance(x.arg, ir.Var) and x.arg.primed \
                and isinstance(x.arg.t, T.MapT) and isinstance(x.key, ir.Const):
            out.add((x.arg.slot, Key(x.key.value, x.key.t)))
        elif isinstance(x, ir.Var):
            if x.primed:
                out.add((x.slot, WHOLE))
        elif isinstance(x, (ir.Expr, ir.Binding, ir.Stmt, ir.PathStep)):
            for name in x.__dataclass_fields__:
                if name not in ("t", "span", "container"):
                    stack.append(getattr(x, name))
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
    return out


def writes(stmts: Iterable[ir.Stmt]) -> frozenset:
    """Every location some path through ``stmts`` may assign."""
    out: set[Location] = set()
    for node in ir.ir_nodes(tuple(stmts)):
        if isinstance(node, ir.Assign):
            first = node.path[0] if node.path else None
            if first is not None and first.kind == "index" and \
                    isinstance(first.container, T.MapT) and isinstance(first.key, ir.Const):
                out.add((node.var.slot, Key(first.key.value, first.key.t)))
            else:
                out.add((node.var.slot, WHOLE))
    return frozenset(out)


def restrict(locations: frozenset, slots: set[int]) -> frozenset:
    """The locations of the given variables only."""
    return frozenset(loc for loc in locations if loc[0] in slots)


def _overlap(reads: frozenset, written: frozenset) -> bool:
    for slot, key in reads:
        for wslot, wkey in written:
            if slot == wslot and (key is WHOLE or wkey is WHOLE or key.t != wkey.t
                                  or key.value == wkey.value):
                return True
    return False


def guard_facts(conditions: Iterable[ir.Expr]) -> dict[ir.Expr, ir.Const]:
    """What a step's leading requires say about single locations of the current state:
    ``x == c``, ``m[k] == c``, a boolean ``m[k]`` or ``not m[k]``."""
    facts: dict[ir.Expr, ir.Const] = {}
    stack = list(conditions)
    while stack:
        c = stack.pop()
        if isinstance(c, ir.Binop) and c.op == "and":
            stack += [c.left, c.right]
        elif isinstance(c, ir.Binop) and c.op == "eq":
            if _is_location(c.left) and isinstance(c.right, ir.Const):
                facts[c.left] = c.right
            elif _is_location(c.right) and isinstance(c.left, ir.Const):
                facts[c.right] = c.left
        elif _is_location(c) and isinstance(c.t, T.BoolT):
            facts[c] = ir.Const(True, T.BOOL)
        elif isinstance(c, ir.Unop) and c.op == "not" and _is_location(c.arg) \
                and isinstance(c.arg.t, T.BoolT):
            facts[c.arg] = ir.Const(False, T.BOOL)
    return facts


def implied_by(e: ir.Expr, facts: dict[ir.Expr, ir.Const]) -> bool:
    """``e`` is true, and cannot fail, in every state where ``facts`` hold."""
    if not facts or not cannot_fail(e):
        return False
    known = ir.rewrite(e, facts.get)
    return known is not e and _fold(known) is True


def _is_location(e: ir.Expr) -> bool:
    """A current-state variable, or one entry of a current-state map at a constant key."""
    if isinstance(e, ir.GetIndex):
        return isinstance(e.arg, ir.Var) and not e.arg.primed \
            and isinstance(e.arg.t, T.MapT) and isinstance(e.key, ir.Const)
    return isinstance(e, ir.Var) and not e.primed


def _unprimed(e: ir.Expr) -> ir.Expr:
    return ir.rewrite(e, lambda x: replace(x, primed=False)
                      if isinstance(x, ir.Var) and x.primed else None)


def _always_true(e: ir.Expr) -> bool:
    return _fold(e) is True and cannot_fail(e)


def _fold(e: ir.Expr) -> bool | None:
    """True or False when ``e`` has that value in every state; None when it depends."""
    if isinstance(e, ir.Const) and isinstance(e.value, bool):
        return e.value
    if isinstance(e, ir.Unop) and e.op == "not":
        inner = _fold(e.arg)
        return None if inner is None else not inner
    if isinstance(e, ir.Binop):
        if e.op in ("eq", "iff") and e.left == e.right:
            return True
        if e.op == "ne" and e.left == e.right:
            return False
        if e.op in ("eq", "ne") and isinstance(e.left, ir.Const) \
                and isinstance(e.right, ir.Const):
            return (e.left.value == e.right.value) == (e.op == "eq")
        if e.op in ("in", "notin") and isinstance(e.left, ir.Const):
            values = _constant_values(e.right)
            if values is not None:
                return (e.left.value in values) == (e.op == "in")
        a, b = _fold(e.left), _fold(e.right)
        if e.op == "and":
            return False if False in (a, b) else (True if a is b is True else None)
        if e.op == "or":
            return True if True in (a, b) else (False if a is b is False else None)
        if e.op == "implies":
            return True if (a is False or b is True) else (False if (a, b) == (True, False)
                                                              else None)
    if isinstance(e, ir.Quant) and e.kind == "forall" and _fold(e.body) is True:
        return True
    return None


def _constant_values(e: ir.Expr) -> set | None:
    """The elements of a set literal made of constants (as runtime values), else None.
    (Enum and symbol constants are distinct small ints within one type.)"""
    if isinstance(e, ir.SetLit) and all(isinstance(x, ir.Const) for x in e.elems):
        return {x.value for x in e.elems}
    return None


def cannot_fail(e: ir.Expr) -> bool:
    """Evaluating ``e`` cannot raise: no division, conversion, call, sequence index,
    field read of a variant, or builtin (``head`` of an empty sequence...)."""
    for x in ir.ir_nodes(e):
        if isinstance(x, (ir.Convert, ir.CallDef, ir.Builtin, ir.Enabled)):
            return False
        if isinstance(x, ir.Binop) and x.op not in _SAFE_OPS:
            return False
        if isinstance(x, ir.GetIndex) and not isinstance(x.arg.t, T.MapT):
            return False
        if isinstance(x, ir.GetField) and not isinstance(x.arg.t, T.RecordT):
            return False
    return True
