"""Rewrites of the typed IR that keep meaning and save work per state.

Miniscoping: a quantifier is pushed inward past the parts of its body that do not
mention its bound name, so ``forall r1, r2 in RM: not (p(r1) and q(r2))`` is evaluated
as ``(forall r1: not p(r1)) or (forall r2: not q(r2))``: 2n tests instead of n².
This is sound for empty domains too: ``forall x in S: (A or B(x))`` and
``A or forall x in S: B(x)`` are both true when S is empty (dually for ``exists``); a
quantifier none of whose parts use its name is kept, since its value then depends only
on whether its domain is empty.
"""

from __future__ import annotations

from . import ir
from . import types as T


def _locals(e: ir.Expr) -> set[int]:
    return {x.uid for x in ir.ir_nodes(e) if isinstance(x, ir.Local)}


def _split(e: ir.Expr, op: str) -> list[ir.Expr]:
    """Flatten ``a op b op c``; for `or`, also read `not (a and b)` and `a implies b`."""
    if isinstance(e, ir.Binop) and e.op == op:
        return _split(e.left, op) + _split(e.right, op)
    if op == "or" and isinstance(e, ir.Binop) and e.op == "implies":
        return _split(_negate(e.left), op) + _split(e.right, op)
    if op == "or" and isinstance(e, ir.Unop) and e.op == "not" and \
            isinstance(e.arg, ir.Binop) and e.arg.op == "and":
        return _split(_negate(e.arg.left), op) + _split(_negate(e.arg.right), op)
    return [e]


def _negate(e: ir.Expr) -> ir.Expr:
    if isinstance(e, ir.Unop) and e.op == "not":
        return e.arg
    return ir.Unop("not", e, T.BOOL, e.span)


def join(parts: list[ir.Expr], op: str) -> ir.Expr:
    out = parts[0]
    for p in parts[1:]:
        out = ir.Binop(op, out, p, T.BOOL, out.span)
    return out


def miniscope(q: ir.Quant) -> ir.Expr:
    """The quantifier with each bound name's scope shrunk to the parts that use it."""
    op = "or" if q.kind == "forall" else "and"
    parts = _split(q.body, op)
    moved = False
    # Innermost binding first: move out the parts that do not mention it.
    for i in range(len(q.bindings) - 1, -1, -1):
        b = q.bindings[i]
        uid = b.local.uid
        inside = [p for p in parts if uid in _locals(p)]
        outside = [p for p in parts if uid not in _locals(p)]
        if not inside:
            # Nothing uses the name, but the quantifier still matters when its domain
            # is empty (forall is then true, exists false): keep it whole.
            inside, outside = parts, []
        moved = moved or bool(outside)
        inner = ir.Quant(q.kind, (b,), join(inside, op), T.BOOL, q.span)
        parts = outside + [inner]
        # The remaining outer bindings must not be needed by this binding's domain.
        if any(uid2 in _locals(b.domain) for uid2 in (x.local.uid for x in q.bindings[:i])):
            return q  # a dependent domain: keep the original form
    if not moved:
        return q
    return join(parts, op)
