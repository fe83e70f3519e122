"""Which constants of a spec become uninterpreted sorts, and which defs are majority
quorums, for the unbounded prover.

A symbol set declared ``symmetry`` is a set of interchangeable nodes, so a proof that
treats it as a sort of unknown size holds for every size. Majority quorums over such a
set become a sort of their own with only the property the proofs use: any two intersect.
A def is recognized as majority quorums from its *source* (the type checker folds it
into a constant): ``{q in subsets(S) where C}`` where ``C`` says ``2 * size(q) >
size(S)`` for every size (checked by evaluating it for sizes 1 to 16).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from .. import syntax as S
from ..ir import TypedSpec
from ..source import Source, Span, SpecError, error_at
from ..types import SetT, SymT


class LoweringError(Exception):
    """Something in the spec has no first-order meaning here; ``span`` says where."""

    def __init__(self, message: str, span: Span | None, notes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.span = span
        self.notes = notes

    def spec_error(self, source: Source | None) -> SpecError:
        return error_at(self.message, self.span, source, notes=self.notes)


@dataclass(frozen=True)
class SortPlan:
    """``sorts``: the symmetric sets lowered to sorts; ``fixed``: the other constants,
    kept at their configured values; ``quorum_spans``: source positions (line, column)
    of majority-quorum expressions, ``quorum_defs``: names of majority-quorum defs, each
    with its set."""

    sorts: tuple[str, ...]
    fixed: tuple[str, ...]
    quorum_defs: dict[str, str] = field(default_factory=dict)
    quorum_spans: dict[tuple[int, int], str] = field(default_factory=dict)

    def is_sort(self, t: Any) -> bool:
        return isinstance(t, SymT) and t.name in self.sorts

    def quorum_at(self, span: Span, source: Source | None, elem: str) -> bool:
        """Is the expression at ``span`` (a folded constant) majority quorums of
        ``elem``?"""
        if self.quorum_spans.get((span.line, span.column)) == elem:
            return True
        if source is None or span.line <= 0:
            return False
        text = source.line_text(span.line)[span.column - 1:]
        m = re.match(r"[A-Za-z_]\w*", text)
        return bool(m) and self.quorum_defs.get(m.group(0)) == elem


def plan(typed: TypedSpec, source: Source | None) -> SortPlan:
    sorts = tuple(s for s in typed.symmetry
                  if isinstance(typed.constants.get(s, (None, None))[1], SetT))
    fixed = tuple(c for c in typed.constants if c not in sorts)
    defs: dict[str, str] = {}
    spans: dict[tuple[int, int], str] = {}
    if source is not None:
        from ..parser import parse

        try:
            spec = parse(source)
        except SpecError:
            spec = None
        if spec is not None:
            table = {d.name: d for d in spec.decls if isinstance(d, S.DefDecl) and d.params is None}
            for d in table.values():
                elem = majority_of(d.body, sorts, table)
                if elem is not None:
                    defs[d.name] = elem
            for node in _walk(spec):
                if isinstance(node, S.SetFilter):
                    elem = majority_of(node, sorts, table)
                    if elem is not None:
                        spans[(node.span.line, node.span.column)] = elem
    return SortPlan(sorts, fixed, defs, spans)


def majority_of(e: Any, sorts: tuple[str, ...], table: dict[str, S.DefDecl]) -> str | None:
    """The set S when ``e`` is ``{q in subsets(S) where C}`` with C majority, else None."""
    if not isinstance(e, S.SetFilter):
        return None
    dom = e.domain
    if not (isinstance(dom, S.Call) and dom.func == "subsets" and len(dom.args) == 1
            and isinstance(dom.args[0], S.Name) and dom.args[0].id in sorts):
        return None
    elem = dom.args[0].id
    for big in range(1, 17):
        for small in range(0, big + 1):
            try:
                got = _eval(e.cond, e.name, elem, small, big, table, 0)
            except _NotSimpleError:
                return None
            if bool(got) != (2 * small > big):
                return None
    return elem


class _NotSimpleError(Exception):
    pass


def _eval(e: Any, q: str, elem: str, n: int, total: int, table, depth: int) -> Any:
    if depth > 20:
        raise _NotSimpleError
    if isinstance(e, S.IntLit):
        return e.value
    if isinstance(e, S.BoolLit):
        return e.value
    if isinstance(e, S.Call) and e.func == "size" and len(e.args) == 1 and \
            isinstance(e.args[0], S.Name):
        if e.args[0].id == q:
            return n
        if e.args[0].id == elem:
            return total
        raise _NotSimpleError
    if isinstance(e, S.Name) and e.id in table and e.id != q:
        return _eval(table[e.id].body, q, elem, n, total, table, depth + 1)
    if isinstance(e, S.Unary):
        x = _eval(e.operand, q, elem, n, total, table, depth + 1)
        return (not x) if e.op == "not" else -x
    if isinstance(e, S.Binary):
        a = _eval(e.left, q, elem, n, total, table, depth + 1)
        b = _eval(e.right, q, elem, n, total, table, depth + 1)
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
               "/": lambda: a // b if b else _raise(), "%": lambda: a % b if b else _raise(),
               "<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b,
               ">=": lambda: a >= b, "==": lambda: a == b, "!=": lambda: a != b,
               "and": lambda: a and b, "or": lambda: a or b,
               "implies": lambda: (not a) or b}
        if e.op in ops:
            return ops[e.op]()
    raise _NotSimpleError


def _raise():
    raise _NotSimpleError


def _walk(node: Any):
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif is_dataclass(x) and isinstance(x, S.Node):
            yield x
            for f in fields(x):
                if f.name != "span":
                    stack.append(getattr(x, f.name))
