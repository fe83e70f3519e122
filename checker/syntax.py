"""The untyped syntax tree: one frozen dataclass per construct.

Spans are excluded from equality so that a printed-and-reparsed spec compares equal to
the original (the round-trip law the tests check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .source import Span

_NOSPAN = Span(0, 0)


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)


class Node:
    span: Span


# ----------------------------------------------------------------- expressions
class Expr(Node):
    pass


@dataclass(frozen=True)
class Name(Expr):
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class IntLit(Expr):
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class BoolLit(Expr):
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class NoneLit(Expr):
    span: Span = _span()


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "not" | "-"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # implies iff or and == != < <= > >= in notin | & - + * / % ..
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Is(Expr):
    value: Expr
    tag: str
    span: Span = _span()


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Index(Expr):
    base: Expr
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Field(Expr):
    base: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Prime(Expr):
    """``x'``: the value of a variable after the step (transition properties)."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Optional(Expr):
    """``T?`` in a type: a value of T or none."""

    inner: Expr
    span: Span = _span()


@dataclass(frozen=True)
class IfExpr(Expr):
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SetLit(Expr):
    elems: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class SeqLit(Expr):
    elems: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class MapLit(Expr):
    pairs: tuple[tuple[Expr, Expr], ...]
    span: Span = _span()


@dataclass(frozen=True)
class Binder(Node):
    """``a, b in S``: names ranging over a set."""

    names: tuple[str, ...]
    domain: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SetFilter(Expr):
    """``{x in S where P}``"""

    name: str
    domain: Expr
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SetMap(Expr):
    """``{e for x in S where P}``"""

    elem: Expr
    binders: tuple[Binder, ...]
    cond: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class MapComp(Expr):
    """``{k: v for x in S where P}``"""

    key: Expr
    value: Expr
    binders: tuple[Binder, ...]
    cond: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class Quant(Expr):
    kind: str  # "forall" | "exists"
    binders: tuple[Binder, ...]
    body: Expr
    span: Span = _span()


# ------------------------------------------------------------------ statements
class Stmt(Node):
    pass


@dataclass(frozen=True)
class Require(Stmt):
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Assign(Stmt):
    target: Expr  # Name, or Index/Field chains ending in a Name
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Let(Stmt):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class If(Stmt):
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...] | None
    span: Span = _span()


@dataclass(frozen=True)
class Choose(Stmt):
    binders: tuple[Binder, ...]
    cond: Expr | None
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Either(Stmt):
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span = _span()


@dataclass(frozen=True)
class Skip(Stmt):
    span: Span = _span()


# ---------------------------------------------------------------- declarations
class Decl(Node):
    name: str


@dataclass(frozen=True)
class ConstDecl(Decl):
    name: str
    default: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class SymmetryDecl(Decl):
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class EnumDecl(Decl):
    name: str
    members: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class FieldDecl(Node):
    name: str
    type: Expr
    span: Span = _span()


@dataclass(frozen=True)
class RecordDecl(Decl):
    """``message Name(f: T, ...)`` (a variant of ``Message``) or ``record Name(...)``."""

    kind: str  # "message" | "record"
    name: str
    fields: tuple[FieldDecl, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Param(Node):
    name: str
    type: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class DefDecl(Decl):
    name: str
    params: tuple[Param, ...] | None  # None: no parentheses at all
    body: Expr
    span: Span = _span()


@dataclass(frozen=True)
class VarDecl(Decl):
    name: str
    type: Expr
    span: Span = _span()
    durable: bool = False  # survives a crash: a `fault(crash)` action may not assign it


@dataclass(frozen=True)
class InitDecl(Decl):
    body: tuple[Stmt, ...]
    name: str = "init"
    span: Span = _span()


@dataclass(frozen=True)
class ActionDecl(Decl):
    name: str
    params: tuple[Binder, ...]
    body: tuple[Stmt, ...]
    fault: bool = False
    span: Span = _span()
    fault_kind: str | None = None  # `fault(crash)`: the kind `--faults crash` selects
    fault_kind_span: Span = _span()


@dataclass(frozen=True)
class InvariantDecl(Decl):
    name: str
    body: Expr
    transition: bool = False
    span: Span = _span()
    lemma: bool = False  # an auxiliary conjunct of the inductive invariant

@dataclass(frozen=True)
class OptionDecl(Decl):
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Spec(Node):
    name: str
    decls: tuple[Decl, ...]
    span: Span = _span()
