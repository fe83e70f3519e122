"""The typed intermediate form: names resolved, every expression typed.

The type checker produces it; the explicit compiler and the symbolic encoder consume it.
Every expression node carries its type (``t``); spans stay for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .source import Span
from .types import Type

_NOSPAN = Span(0, 0)


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


class Expr:
    t: Type
    span: Span


@dataclass(frozen=True)
class Const(Expr):
    """A value known before exploration, in its runtime representation."""

    value: Any
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Var(Expr):
    name: str
    slot: int
    t: Type
    primed: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Local(Expr):
    """A bound name: quantifier, comprehension, choose, let, action or def parameter."""

    name: str
    uid: int
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Unop(Expr):
    op: str  # "not" | "neg"
    arg: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Binop(Expr):
    """``op``: and or implies iff eq ne lt le gt ge add sub mul div mod
    union inter diff subseteq subset supseteq supset in notin range concat"""

    op: str
    left: Expr
    right: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class IsTag(Expr):
    arg: Expr
    case: int
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class GetField(Expr):
    arg: Expr
    name: str
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class GetIndex(Expr):
    """``m[k]`` on a map, or ``s[i]`` on a sequence (1-based, as in TLA+ and Quint)."""

    arg: Expr
    key: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Construct(Expr):
    """A record or message value: ``case`` is the variant index for messages."""

    case: int | None
    args: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class SetLit(Expr):
    elems: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class SeqLit(Expr):
    elems: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class MapLit(Expr):
    """Values in key order; the key type's whole universe is covered."""

    values: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Binding:
    local: Local
    domain: Expr


@dataclass(frozen=True)
class Quant(Expr):
    kind: str  # "forall" | "exists"
    bindings: tuple[Binding, ...]
    body: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class SetFilter(Expr):
    binding: Binding
    cond: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class SetMap(Expr):
    elem: Expr
    bindings: tuple[Binding, ...]
    cond: Expr | None
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class MapComp(Expr):
    """``{k: v for k in Dom}`` where Dom is the whole universe of the key type."""

    binding: Binding
    value: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class IfExpr(Expr):
    cond: Expr
    then: Expr
    orelse: Expr
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Builtin(Expr):
    """size subsets union min max len head tail append last (see typecheck for each)"""

    name: str
    args: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class CallDef(Expr):
    """A call of a user ``def`` (one compiled function per instantiation)."""

    def_id: int
    args: tuple[Expr, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Enabled(Expr):
    """True when some listed action (by index in ``TypedSpec.actions``) can take a step
    from the current state; ``quiescent`` is the negation over all non-fault actions.
    Only in invariants."""

    actions: tuple[int, ...]
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class FaultsTaken(Expr):
    """``faults_taken``: the fault steps taken so far, the hidden counter a fault budget
    adds to the state at position ``slot`` (after the variables); 0 where no fault can
    be taken (no fault switched on). Only in state invariants."""

    slot: int
    t: Type
    span: Span = _span()


@dataclass(frozen=True)
class Convert(Expr):
    """A checked conversion of a value into a narrower type (an integer range, a
    sequence capacity), inserted where the checker cannot prove the value fits."""

    arg: Expr
    t: Type
    what: str  # for the message: "variable x", "field bal of P1b", ...
    span: Span = _span()


# ------------------------------------------------------------------ statements
class Stmt:
    span: Span


@dataclass(frozen=True)
class Require(Stmt):
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class PathStep:
    """One step of an assignment target: ``[key]`` (map/seq) or ``.field``."""

    kind: str  # "index" | "field"
    key: Expr | None
    name: str | None
    container: Type  # the type being stepped into


@dataclass(frozen=True)
class Assign(Stmt):
    var: Var
    path: tuple[PathStep, ...]
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Let(Stmt):
    local: Local
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class If(Stmt):
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Choose(Stmt):
    bindings: tuple[Binding, ...]
    cond: Expr | None
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Either(Stmt):
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span = _span()


# ---------------------------------------------------------------- declarations
@dataclass(frozen=True)
class VarInfo:
    name: str
    slot: int
    t: Type
    span: Span = _span()
    durable: bool = False


@dataclass(frozen=True)
class DefInstance:
    """One instantiation of a def for given argument types."""

    uid: int
    name: str
    params: tuple[Local, ...]
    body: Expr
    reads: tuple[int, ...]  # state-variable slots the body reads


@dataclass(frozen=True)
class Action:
    name: str
    params: tuple[Binding, ...]
    body: tuple[Stmt, ...]
    fault: bool = False
    span: Span = _span()
    fault_kind: str | None = None  # crash, loss, ... (checker.faults.FAULT_KINDS)


@dataclass(frozen=True)
class Invariant:
    name: str
    body: Expr
    transition: bool = False
    span: Span = _span()
    lemma: bool = False  # a helper conjunct for inductive proofs (still checked everywhere)


@dataclass(frozen=True)
class TypedSpec:
    name: str
    constants: dict[str, tuple[Any, Type]]  # name -> (runtime value, type)
    variables: tuple[VarInfo, ...]
    init: tuple[Stmt, ...]
    actions: tuple[Action, ...]
    invariants: tuple[Invariant, ...]
    defs: tuple[DefInstance, ...]
    options: dict[str, Any]
    symmetry: tuple[str, ...]
    message_type: Type | None
    int_base: int  # integers in sets are bit positions offset by this (the smallest integer)
    int_top: int


# ------------------------------------------------------------------ utilities
def ir_nodes(e: Any):
    """Every IR node below (and including) ``e``."""
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, (Expr, Binding, Stmt, PathStep)):
            yield x
            for name in x.__dataclass_fields__:
                if name not in ("t", "span", "container"):
                    stack.append(getattr(x, name))
        elif isinstance(x, (tuple, list)):
            stack.extend(x)


def is_constant(e: Expr, defs) -> bool:
    """No state variable is read, and every bound name is bound inside ``e``."""
    nodes = list(ir_nodes(e))
    bound = {x.local.uid for x in nodes if isinstance(x, Binding)}
    return not any(
        isinstance(x, (Var, Enabled, FaultsTaken))
        or (isinstance(x, Local) and x.uid not in bound)
        or (isinstance(x, CallDef) and defs[x.def_id].reads)
        for x in nodes)


def substitute(node: Any, mapping: dict[int, Expr]) -> Any:
    """``node`` with each bound name in ``mapping`` (by uid) replaced by an expression
    (the compiler uses it to unroll loops over small constant sets)."""
    return rewrite(node, lambda x: mapping.get(x.uid, x) if isinstance(x, Local) else None)


def rewrite(node: Any, replacement) -> Any:
    """``node`` with every sub-node for which ``replacement(sub-node)`` is not None
    replaced by that (top-down; a replaced node is not looked into). Unchanged parts are
    shared, not copied."""
    from dataclasses import fields as dc_fields
    from dataclasses import replace

    if isinstance(node, (Expr, Binding, Stmt, PathStep)):
        new_node = replacement(node)
        if new_node is not None:
            return new_node
        changes = {}
        for f in dc_fields(node):
            if f.name in ("t", "span", "container"):
                continue
            old = getattr(node, f.name)
            new = rewrite(old, replacement)
            if new is not old:
                changes[f.name] = new
        return replace(node, **changes) if changes else node
    if isinstance(node, tuple):
        items = tuple(rewrite(x, replacement) for x in node)
        return items if any(a is not b for a, b in zip(items, node)) else node
    return node
