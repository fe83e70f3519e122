"""First-order values for the unbounded prover: what a typed value becomes when the
symmetric node sets are uninterpreted sorts instead of finite sets.

Finite types (booleans, integer ranges, enumerations, symbol sets without ``symmetry``,
options of these) stay finite: a value is a Python constant when known, else a Z3 Int or
Bool term. What ranges over a sort cannot be enumerated, so it is a *function*:

=================  ==================================================================
an element of S    a Z3 term of the uninterpreted sort S
``set[S]``         ``SortSet``: a predicate on S (a Python function to a formula)
``map[S, V]``      ``SortFun``: a function from S to the value of V
``set[Message]``   ``MsgSet``: one predicate per *instance*, a message kind with values
                   for its finite fields, over the kind's sort-typed fields
a message          ``MsgV``: a known kind and one value per field
``T?``             ``Opt(some, val)``; records and finite-key maps: tuples
``set[F]``, F fin  a tuple of Booleans, one per possible element (as the bounded engine)
=================  ==================================================================

Functions compose as Python closures, so the state after an action is a term over the
state before it (a weakest precondition) and no frame conditions are needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import z3

from . import terms


class Opt(NamedTuple):
    some: Any
    val: Any


class MsgV(NamedTuple):
    case: int
    fields: tuple


class _OverSort:
    """A value indexed by the elements of a sort, kept as a Python function of the
    element (a Z3 term) so that quantifiers instantiate it by calling it."""

    __slots__ = ("sort", "fn")

    def __init__(self, sort: str, fn: Callable[[Any], Any]):
        self.sort = sort
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)


class SortSet(_OverSort):
    """A set over a sort, as its membership predicate."""

    __slots__ = ()


class SortFun(_OverSort):
    """A map whose keys are a sort, as a function from the key to the value."""

    __slots__ = ()


class MsgSet:
    """A set of messages: for each instance key ``(case, finite field values)`` the
    predicate over the instance's sort-typed fields (a tuple of terms)."""

    __slots__ = ("preds",)

    def __init__(self, preds: dict[tuple, Callable[[tuple], Any]]):
        self.preds = preds


class QuorumSet(NamedTuple):
    """The constant set of majority quorums of a sort (a sort of its own)."""

    sort: str


# ------------------------------------------------------------------ formulas
def is_term(x: Any) -> bool:
    return isinstance(x, z3.ExprRef)


def zval(x: Any) -> z3.ExprRef:
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, int):
        return z3.IntVal(x)
    return x


def and_(xs: Iterable[Any]) -> Any:
    """The conjunction, nested conjunctions flattened (so the fragment check and the
    dumped queries see one level); constants folded as in ``terms.and_``."""
    flat: list[Any] = []
    for x in xs:
        if z3.is_expr(x) and z3.is_and(x):
            flat.extend(x.children())
        else:
            flat.append(x)
    return terms.and_(flat)


or_ = terms.or_


def not_(x: Any) -> Any:
    if isinstance(x, bool):
        return not x
    if z3.is_not(x):
        return x.arg(0)
    return z3.Not(x)


def implies(a: Any, b: Any) -> Any:
    if a is False or b is True:
        return True
    if a is True:
        return b
    if b is False:
        return not_(a)
    return z3.Implies(a, b)


def iff(a: Any, b: Any) -> Any:
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if a is True:
        return b
    if b is True:
        return a
    if a is False:
        return not_(b)
    if b is False:
        return not_(a)
    return a == b


def ite(c: Any, a: Any, b: Any) -> Any:
    """If-then-else on scalars (Booleans, integers, sort elements)."""
    if c is True:
        return a
    if c is False:
        return b
    if a is b or (not is_term(a) and not is_term(b) and a == b and type(a) is type(b)):
        return a
    if a is True and b is False:
        return c
    if a is False and b is True:
        return not_(c)
    return z3.If(c, zval(a), zval(b))


def eq(a: Any, b: Any) -> Any:
    """Scalar equality."""
    if not is_term(a) and not is_term(b):
        return a == b
    if is_term(a) and is_term(b) and a.eq(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return iff(a, b)
    return zval(a) == zval(b)


def cmp(op: str, a: Any, b: Any) -> Any:
    if not is_term(a) and not is_term(b):
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    a, b = zval(a), zval(b)
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


def arith(op: str, a: Any, b: Any) -> Any:
    concrete = not is_term(a) and not is_term(b)
    if not concrete:
        a, b = zval(a), zval(b)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        # (z3's is Euclidean: the floor division of the spec when b > 0)
        return a // b if concrete else a / b
    return a % b


# ------------------------------------------------------------- quantifiers
_COUNTER = itertools.count()


def fresh_const(name: str, sort: z3.SortRef) -> z3.ExprRef:
    """A new constant (a bound variable once quantified; never captured: unique name)."""
    return z3.Const(f"{name}!{next(_COUNTER)}", sort)


def mentions(e: Any, x: z3.ExprRef) -> bool:
    if not is_term(e):
        return False
    seen: set[int] = set()
    stack = [e]
    while stack:
        t = stack.pop()
        if t.eq(x):
            return True
        i = t.get_id()
        if i in seen:
            continue
        seen.add(i)
        if z3.is_quantifier(t):
            stack.append(t.body())
        elif z3.is_app(t):
            stack.extend(t.children())
    return False


def _conjuncts(x: Any) -> list:
    if x is True:
        return []
    if is_term(x) and z3.is_and(x):
        return list(x.children())
    return [x]


def _point(xvar: z3.ExprRef, parts: list, want_eq: bool = True):
    """Index and term ``t`` of a part ``x == t`` (``t`` free of ``x``), or None."""
    for i, p in enumerate(parts):
        if is_term(p) and z3.is_eq(p):
            lhs, rhs = p.arg(0), p.arg(1)
            if lhs.eq(xvar) and not mentions(rhs, xvar):
                return i, rhs
            if rhs.eq(xvar) and not mentions(lhs, xvar):
                return i, lhs
    return None


def _one_point(xs: Sequence[z3.ExprRef], parts: list, rest: Any
               ) -> tuple[list, list, Any]:
    """Drops each bound name that one of ``parts`` pins (``x == t``): that part goes,
    and ``t`` replaces ``x`` in the other parts and in ``rest``."""
    xs = list(xs)
    changed = True
    while changed and xs:
        changed = False
        for x in list(xs):
            hit = _point(x, parts)
            if hit is None:
                continue
            i, t = hit
            parts = [z3.substitute(p, (x, t)) if is_term(p) else p
                     for j, p in enumerate(parts) if j != i]
            rest = z3.substitute(rest, (x, t)) if is_term(rest) else rest
            xs.remove(x)
            changed = True
    return xs, parts, rest


def exists(xs: Sequence[z3.ExprRef], body: Any) -> Any:
    """``exists xs: body``, with the one-point rule (``exists x: x == t and P`` is
    ``P[t/x]``) so that a lookup by key adds no quantifier alternation."""
    parts = _conjuncts(body)
    if any(p is False for p in parts):
        return False
    xs, parts, _ = _one_point(xs, parts, True)
    body = and_(parts)
    xs = [x for x in xs if mentions(body, x)]
    if not xs or not is_term(body):
        return body
    return z3.Exists(xs, body)


def forall(xs: Sequence[z3.ExprRef], body: Any) -> Any:
    """``forall xs: body`` with the dual one-point rule (``forall x: x == t implies P``)."""
    hyps: list = []
    while is_term(body) and z3.is_implies(body):
        hyps.extend(_conjuncts(body.arg(0)))
        body = body.arg(1)
    xs, hyps, body = _one_point(xs, hyps, body)
    out = implies(and_(hyps), body)
    xs = [x for x in xs if mentions(out, x)]
    if not xs or not is_term(out):
        return out
    return z3.ForAll(xs, out)


# ----------------------------------------------------------------- values
def subst(v: Any, pairs: Sequence[tuple[z3.ExprRef, Any]]) -> Any:
    """``v`` with constants replaced (``pairs``: constant, replacement term)."""
    if not pairs:
        return v
    if is_term(v):
        return z3.substitute(v, *[(a, zval(b)) for a, b in pairs])
    if isinstance(v, (bool, int)) or v is None:
        return v
    if isinstance(v, Opt):
        return Opt(subst(v.some, pairs), subst(v.val, pairs))
    if isinstance(v, MsgV):
        return MsgV(v.case, tuple(subst(f, pairs) for f in v.fields))
    if isinstance(v, SortSet):
        pred = v.fn
        return SortSet(v.sort, lambda x: subst(pred(x), pairs))
    if isinstance(v, SortFun):
        fn = v.fn
        return SortFun(v.sort, lambda x: subst(fn(x), pairs))
    if isinstance(v, MsgSet):
        return MsgSet({k: (lambda args, p=p: subst(p(args), pairs)) for k, p in v.preds.items()})
    if isinstance(v, tuple):
        return tuple(subst(x, pairs) for x in v)
    return v


def ite_value(c: Any, a: Any, b: Any) -> Any:
    """If-then-else on any value (both sides of the same representation)."""
    if c is True:
        return a
    if c is False:
        return b
    if a is b:
        return a
    if isinstance(a, Opt):
        return Opt(ite(c, a.some, b.some), ite_value(c, a.val, b.val))
    if isinstance(a, MsgV):
        if a.case != b.case:
            raise TypeError("messages of different kinds")
        return MsgV(a.case, tuple(ite_value(c, x, y) for x, y in zip(a.fields, b.fields)))
    if isinstance(a, SortSet):
        return SortSet(a.sort, lambda x: ite(c, a(x), b(x)))
    if isinstance(a, SortFun):
        return SortFun(a.sort, lambda x: ite_value(c, a(x), b(x)))
    if isinstance(a, MsgSet):
        keys = a.preds.keys() | b.preds.keys()
        pa, pb = a.preds, b.preds
        return MsgSet({k: (lambda args, k=k: ite(c, pa[k](args) if k in pa else False,
                                                 pb[k](args) if k in pb else False))
                       for k in keys})
    if isinstance(a, tuple):
        return tuple(ite_value(c, x, y) for x, y in zip(a, b))
    return ite(c, a, b)
