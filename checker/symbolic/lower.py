"""Typed IR to first-order formulas over uninterpreted sorts (the unbounded prover).

The bounded encoder (``encode``) expands every quantifier over its finite domain. Here a
quantifier over a symmetric set (a sort) stays a Z3 quantifier, so the formula speaks
about every size of the set; quantifiers over finite domains (ballots, values, enums, the
finite fields of the messages in a set) are still expanded, which keeps the queries
inside the decidable EPR fragment whenever the spec's alternations allow it.

Statements run as in ``encode``: sequentially, nondeterminism (parameters, ``choose``,
``either``, an ``if`` with ``require``) splits an action into paths, each with a guard and
the value of every variable at its end, as terms over the pre-state. Undefined
operations (a conversion out of range, a field the message lacks) become definedness
conditions: they join the guard of a path, and are part of what an invariant says.

Anything without a first-order meaning here (the size of a set over a sort, a named
element of a sort, subsets other than majority quorums) raises ``LoweringError`` with
the expression's position.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from .. import ir
from .. import types as T
from ..source import Source
from ..universe import Universe
from . import fol as F
from .fol import MsgSet, MsgV, Opt, QuorumSet, SortFun, SortSet
from .sorts import LoweringError, SortPlan

MAX_INSTANCES = 20_000
MAX_PATHS = 20_000


class QuorumRef(SortSet):
    """A quorum (an element of the Quorum sort) used as the set of its members."""

    __slots__ = ("term",)

    def __init__(self, sort: str, pred, term: z3.ExprRef):
        super().__init__(sort, pred)
        self.term = term


@dataclass(frozen=True)
class Inst:
    """A message kind with values for its finite fields: one predicate over the kind's
    sort-typed fields in each set of messages."""

    key: tuple          # (case, finite field values in field order)
    case: int
    name: str           # readable, e.g. "P2b(bal=0, val=v1)"
    sort_fields: tuple[int, ...]
    fin_fields: tuple[int, ...]
    sorts: tuple[str, ...]


class Frame:
    __slots__ = ("state", "locals", "pc", "side")

    def __init__(self, state, locals_=None):
        self.state = state
        self.locals = {} if locals_ is None else locals_
        self.pc: list = []
        self.side: list = []


@dataclass
class Path:
    guard: list
    env: list
    locals: dict
    args: list = field(default_factory=list)  # (parameter name, type, value)
    bound: list = field(default_factory=list)  # constants of parameters and choices

    def copy(self) -> Path:
        return Path(list(self.guard), list(self.env), dict(self.locals), list(self.args),
                    list(self.bound))


class Lowerer:
    """Lowers one spec; owns the Z3 sorts, the state's symbols and their axioms."""

    def __init__(self, typed: ir.TypedSpec, univ: Universe, plan: SortPlan,
                 source: Source | None, faults: tuple[str, ...] = ()):
        self.typed = typed
        self.faults = faults
        self.univ = univ
        self.plan = plan
        self.source = source
        self.defs = {d.uid: d for d in typed.defs}
        self.zsorts: dict[str, z3.SortRef] = {s: z3.DeclareSort(s) for s in plan.sorts}
        self.quorum_sorts: dict[str, z3.SortRef] = {}
        self.member_fn: dict[str, z3.FuncDeclRef] = {}
        self.axioms: list[tuple[str, Any]] = []  # (label, formula)
        self.symbols: list[tuple[str, Any]] = []  # (readable name, z3 decl) for dumps
        self.instances = self._instances()
        self.pre = [self.fresh(v.t, v.name, (), v.span)(()) for v in typed.variables]

    # ------------------------------------------------------------- errors
    def error(self, message: str, span, notes: tuple[str, ...] = ()) -> LoweringError:
        return LoweringError(message, span, notes)

    def text(self, span) -> str:
        """The source text of an expression (first line), for messages."""
        if self.source is None or span is None or span.line <= 0:
            return "this expression"
        line = self.source.line_text(span.line)
        end = span.end_column if span.end_line == span.line and span.end_column else len(line) + 1
        return "`" + line[span.column - 1:end - 1].strip() + "`"

    # ------------------------------------------------------------- types
    def is_sort(self, t: T.Type) -> bool:
        return self.plan.is_sort(t)

    def finite_scalar(self, t: T.Type) -> bool:
        if isinstance(t, T.OptionT):
            return self.finite_scalar(t.inner) and not isinstance(t.inner, T.OptionT)
        return isinstance(t, (T.BoolT, T.IntT, T.EnumT)) or \
            (isinstance(t, T.SymT) and not self.is_sort(t))

    def quorum_sort(self, elem: str) -> z3.SortRef:
        if elem not in self.quorum_sorts:
            name = "Quorum" if not self.quorum_sorts else f"Quorum_{elem}"
            qs = self.quorum_sorts[elem] = z3.DeclareSort(name)
            mem = self.member_fn[elem] = z3.Function(f"member_{elem}", self.zsorts[elem], qs,
                                                  z3.BoolSort())
            q1, q2 = F.fresh_const("q1", qs), F.fresh_const("q2", qs)
            a = F.fresh_const("a", self.zsorts[elem])
            self.axioms.append((f"the quorum axiom ({name}: any two quorums of {elem} "
                                "intersect)",
                                z3.ForAll([q1, q2], z3.Exists([a], z3.And(mem(a, q1),
                                                                          mem(a, q2))))))
        return self.quorum_sorts[elem]

    def _instances(self) -> list[Inst]:
        mt = self.typed.message_type
        if not isinstance(mt, T.VariantT):
            return []
        out = []
        for c, case in enumerate(mt.cases):
            sort_f, fin_f, tables = [], [], []
            for i, (fname, ft) in enumerate(case.fields):
                if self.is_sort(ft):
                    sort_f.append(i)
                elif self.finite_scalar(ft):
                    fin_f.append(i)
                    tables.append(self.univ.table(ft))
                else:
                    raise self.error(f"message {case.name}: field `{fname}` of type {ft} has "
                                     "no first-order encoding in an unbounded proof "
                                     "(fields must be finite scalars or elements of a "
                                     "symmetric set)", None)
            for values in itertools.product(*tables):
                parts = []
                vi = iter(values)
                for i, (fname, ft) in enumerate(case.fields):
                    if i in fin_f:
                        parts.append(f"{fname}={_show(self.univ, ft, next(vi))}")
                label = case.name + (f"({', '.join(parts)})" if parts else "")
                out.append(Inst((c, tuple(values)), c, label, tuple(sort_f), tuple(fin_f),
                                tuple(case.fields[i][1].name for i in sort_f)))
                if len(out) > MAX_INSTANCES:
                    raise self.error(f"the messages have more than {MAX_INSTANCES} "
                                     "combinations of finite field values; too many to "
                                     "encode", None)
        return out

    # ------------------------------------------------------------ symbols
    def _symbol(self, name: str, psorts: tuple, rng: z3.SortRef) -> Callable[[tuple], Any]:
        if not psorts:
            c = z3.Const(name, rng)
            self.symbols.append((name, c))
            return lambda args: c
        f = z3.Function(name, *[self._zsort(s) for s in psorts], rng)
        self.symbols.append((name, f))
        return lambda args: f(*args)

    def _zsort(self, s: str) -> z3.SortRef:
        return self.zsorts[s]

    def fresh(self, t: T.Type, name: str, psorts: tuple[str, ...], span=None) \
            -> Callable[[tuple], Any]:
        """A maker: from terms for ``psorts`` to a value of ``t`` made of new symbols
        (with the axioms that keep it in ``t``)."""
        if isinstance(t, T.BoolT):
            return self._symbol(name, psorts, z3.BoolSort())
        if isinstance(t, (T.IntT, T.EnumT)) or (isinstance(t, T.SymT) and not self.is_sort(t)):
            lo, hi = (t.lo, t.hi) if isinstance(t, T.IntT) else (0, len(t.members) - 1)
            if psorts:
                # A function from a sort to a finite range as one predicate per value but
                # the last (an if-then-else chain picks the value): only predicates, no
                # integer-valued function, so the quantified part stays in EPR, where
                # Z3's model-based instantiation is fast.
                preds = [self._symbol(f"{name}=={_show(self.univ, t, self.univ.at(t, i))}",
                                      psorts, z3.BoolSort()) for i in range(hi - lo)]

                def chain(args, preds=preds, lo=lo, hi=hi):
                    out = z3.IntVal(hi)
                    for i in range(len(preds) - 1, -1, -1):
                        out = z3.If(preds[i](args), z3.IntVal(lo + i), out)
                    return out

                return chain
            mk = self._symbol(name, psorts, z3.IntSort())
            xs = tuple(F.fresh_const("x", self._zsort(s)) for s in psorts)
            app = mk(xs)
            self.axioms.append((f"the range of {name}",
                                F.forall(xs, z3.And(lo <= app, app <= hi))))
            return mk
        if self.is_sort(t):
            return self._symbol(name, psorts, self.zsorts[t.name])
        if isinstance(t, T.OptionT) and self.finite_scalar(t):
            some = self.fresh(T.BOOL, name + "?", psorts)
            val = self.fresh(t.inner, name, psorts)
            return lambda args: Opt(some(args), val(args))
        if isinstance(t, T.RecordT):
            makers = [self.fresh(ft, f"{name}.{f}", psorts, span) for f, ft in t.fields]
            return lambda args: tuple(m(args) for m in makers)
        if isinstance(t, T.SetT):
            el = t.elem
            if self.is_sort(el):
                p = self.fresh(T.BOOL, name, psorts + (el.name,))
                return lambda args: SortSet(el.name, lambda x: p(args + (x,)))
            if isinstance(el, T.VariantT):
                preds = {i.key: self.fresh(T.BOOL, f"{name}.{i.name}", psorts + i.sorts)
                         for i in self.instances}
                return lambda args: MsgSet({k: (lambda s, p=p: p(args + tuple(s)))
                                            for k, p in preds.items()})
            if self.finite_scalar(el) and not isinstance(el, T.OptionT):
                n = self.univ.bits(el)
                lo = max(0, el.lo - self.univ.int_base) if isinstance(el, T.IntT) else 0
                shown = [_show(self.univ, el, self.univ.at_bit(el, i)) for i in range(n)]
                bits = [None if i < lo else self.fresh(T.BOOL, f"{name}[{shown[i]}]", psorts)
                        for i in range(n)]
                return lambda args: tuple(False if b is None else b(args) for b in bits)
        if isinstance(t, T.MapT):
            if self.is_sort(t.key):
                m = self.fresh(t.value, name, psorts + (t.key.name,), span)
                return lambda args: SortFun(t.key.name, lambda x: m(args + (x,)))
            if self.finite_scalar(t.key):
                keys = self.univ.table(t.key)
                ms = [self.fresh(t.value, f"{name}[{_show(self.univ, t.key, k)}]", psorts, span)
                      for k in keys]
                return lambda args: tuple(m(args) for m in ms)
        raise self.error(f"`{name}` has type {t}, which has no first-order encoding in an "
                         "unbounded proof", span)

    # ------------------------------------------------------------ constants
    def const(self, t: T.Type, v: Any, span=None) -> Any:
        if isinstance(t, (T.BoolT, T.IntT, T.EnumT)):
            return v
        if isinstance(t, T.SymT):
            if self.is_sort(t):
                raise self.error(f"{self.text(span)} names the element {t.members[v]} of "
                                 f"{t.name}; in a proof for any number of {t.name} the "
                                 "elements have no names (symmetry)", span)
            return v
        if isinstance(t, T.OptionT):
            if v is None:
                return Opt(False, self.default(t.inner))
            return Opt(True, self.const(t.inner, v, span))
        if isinstance(t, T.SetT):
            el = t.elem
            if isinstance(el, T.AnyT) or v == 0:
                return self.empty(t)
            if self.is_sort(el):
                if v == (1 << len(el.members)) - 1:
                    return SortSet(el.name, lambda x: True)
                raise self.error(f"{self.text(span)} is a part of {el.name} given by its "
                                 "elements, which have no names in an unbounded proof", span)
            if isinstance(el, T.SetT) and self.is_sort(el.elem):
                if self.plan.quorum_at(span, self.source, el.elem.name):
                    self.quorum_sort(el.elem.name)
                    return QuorumSet(el.elem.name)
                raise self.error(
                    f"{self.text(span)} is a set of subsets of {el.elem.name}; an unbounded "
                    "proof supports only majority quorums, "
                    f"`{{q in subsets({el.elem.name}) where 2 * size(q) > "
                    f"size({el.elem.name})}}`", span)
            if self.finite_scalar(el) and not isinstance(el, T.OptionT):
                return tuple(bool((v >> i) & 1) for i in range(self.univ.bits(el)))
        if isinstance(t, T.RecordT):
            return tuple(self.const(ft, x, span) for (_, ft), x in zip(t.fields, v))
        if isinstance(t, T.VariantT):
            case = t.cases[v[0]]
            return MsgV(v[0], tuple(self.const(ft, x, span)
                                    for (_, ft), x in zip(case.fields, v[1:])))
        if isinstance(t, T.MapT) and self.finite_scalar(t.key):
            return tuple(self.const(t.value, x, span) for x in self.univ.map_entries(t, v))
        raise self.error(f"{self.text(span)}: a constant of type {t} has no first-order "
                         "encoding in an unbounded proof", span)

    def default(self, t: T.Type) -> Any:
        if isinstance(t, T.BoolT):
            return False
        if isinstance(t, T.IntT):
            return t.lo
        return 0

    def empty(self, t: T.Type) -> Any:
        el = t.elem
        if self.is_sort(el):
            return SortSet(el.name, lambda x: False)
        if isinstance(el, T.VariantT) or isinstance(el, T.AnyT):
            return MsgSet({})
        if isinstance(el, T.SetT):
            return SortSet("?", lambda x: False)
        return (False,) * self.univ.bits(el)

    def coerce(self, v: Any, src: T.Type, dst: T.Type) -> Any:
        if src == dst:
            return v
        if isinstance(src, T.AnyT):
            return Opt(False, self.default(dst.inner)) if isinstance(dst, T.OptionT) else \
                self.empty(dst) if isinstance(dst, T.SetT) else v
        if isinstance(dst, T.OptionT):
            if isinstance(src, T.OptionT):
                if isinstance(src.inner, T.AnyT):
                    return Opt(False, self.default(dst.inner))
                return Opt(v.some, self.coerce(v.val, src.inner, dst.inner))
            return Opt(True, self.coerce(v, src, dst.inner))
        if isinstance(dst, T.SetT) and isinstance(src, T.SetT):
            if isinstance(src.elem, T.AnyT):
                return self.empty(dst)
            if isinstance(v, tuple):
                n = self.univ.bits(dst.elem)
                return tuple(v[:n]) + (False,) * max(0, n - len(v))
            return v
        if isinstance(dst, T.MapT) and isinstance(src, T.MapT):
            if isinstance(v, SortFun):
                return SortFun(v.sort, lambda x: self.coerce(v(x), src.value, dst.value))
            return tuple(self.coerce(x, src.value, dst.value) for x in v)
        if isinstance(dst, T.RecordT) and isinstance(src, T.RecordT):
            return tuple(self.coerce(x, sf, df) for x, (_, sf), (_, df)
                         in zip(v, src.fields, dst.fields))
        if isinstance(dst, T.VariantT) and isinstance(src, T.VariantT):
            sc, dc = src.cases[v.case], dst.cases[v.case]
            return MsgV(v.case, tuple(self.coerce(x, sf, df) for x, (_, sf), (_, df)
                                      in zip(v.fields, sc.fields, dc.fields)))
        return v

    # ----------------------------------------------------------- equality
    def eq_packed(self, x: Any, t: T.Type, v: Any) -> Any:
        """Is the value ``x`` (finite scalar type ``t``) the packed value ``v``?"""
        if isinstance(t, T.OptionT):
            if v is None:
                return F.not_(x.some)
            return F.and_([x.some, self.eq_packed(x.val, t.inner, v)])
        return F.eq(x, v)

    def eq(self, a: Any, at: T.Type, b: Any, bt: T.Type, span=None) -> Any:
        if isinstance(at, T.AnyT) or isinstance(bt, T.AnyT):
            pass
        j = T.join(at, bt) or at
        a, b = self.coerce(a, at, j), self.coerce(b, bt, j)
        return self._eq(a, b, j, span)

    def _eq(self, a: Any, b: Any, t: T.Type, span=None) -> Any:
        if isinstance(t, T.OptionT):
            return F.and_([F.iff(a.some, b.some),
                           F.implies(a.some, self._eq(a.val, b.val, t.inner, span))])
        if isinstance(a, MsgV):
            if a.case != b.case:
                return False
            case = t.cases[a.case]
            return F.and_(self._eq(x, y, ft, span) for x, y, (_, ft)
                          in zip(a.fields, b.fields, case.fields))
        if isinstance(t, T.RecordT):
            return F.and_(self._eq(x, y, ft, span) for x, y, (_, ft) in zip(a, b, t.fields))
        if isinstance(a, SortSet):
            x = F.fresh_const("x", self.zsorts[a.sort])
            return F.forall([x], F.iff(a(x), b(x)))
        if isinstance(a, SortFun):
            x = F.fresh_const("x", self.zsorts[a.sort])
            return F.forall([x], self._eq(a(x), b(x), t.value, span))
        if isinstance(a, MsgSet) or isinstance(b, MsgSet):
            return F.and_(self._msgset_forall(inst, lambda args, inst=inst:
                                              F.iff(_pred(a, inst.key, args),
                                                    _pred(b, inst.key, args)))
                          for inst in self.instances)
        if isinstance(a, QuorumSet) or isinstance(b, QuorumSet):
            raise self.error(f"{self.text(span)}: comparing sets of quorums has no "
                             "first-order encoding here", span)
        if isinstance(a, tuple):
            et = t.value if isinstance(t, T.MapT) else T.BOOL
            if isinstance(t, T.SetT):
                return F.and_(F.iff(x, y) for x, y in zip(a, b))
            return F.and_(self._eq(x, y, et, span) for x, y in zip(a, b))
        return F.eq(a, b)

    def _msgset_forall(self, inst: Inst, body: Callable[[tuple], Any]) -> Any:
        xs = tuple(F.fresh_const(f"{self.typed.message_type.cases[inst.case].name}."
                                 f"{self.typed.message_type.cases[inst.case].fields[i][0]}",
                                 self.zsorts[s])
                   for i, s in zip(inst.sort_fields, inst.sorts))
        return F.forall(xs, body(xs))

    # ------------------------------------------------------------ membership
    def member(self, x: Any, xt: T.Type, s: Any, st: T.Type, span=None) -> Any:
        el = st.elem
        if isinstance(el, T.AnyT):
            return False
        if isinstance(xt, T.OptionT) and not isinstance(el, T.OptionT):
            return F.and_([x.some, self.member(x.val, xt.inner, s, st, span)])
        if isinstance(s, SortSet):
            return s(x)
        if isinstance(s, MsgSet):
            return F.or_(self._msg_in(x, inst, s) for inst in self.instances
                         if inst.case == x.case)
        if isinstance(s, QuorumSet):
            raise self.error(f"{self.text(span)}: membership in the set of quorums has no "
                             "first-order encoding here", span)
        if isinstance(s, tuple):
            if isinstance(el, T.IntT) and isinstance(xt, T.IntT):
                base = self.univ.int_base
                if not F.is_term(x):
                    i = x - base
                    return s[i] if 0 <= i < len(s) else False
                return F.or_(F.and_([F.eq(x, i + base), b]) for i, b in enumerate(s)
                             if b is not False)
            if not F.is_term(x):
                i = self.univ.bit(el, x)
                return s[i] if 0 <= i < len(s) else False
            return F.or_(F.and_([F.eq(x, self.univ.at_bit(el, i)), b]) for i, b in enumerate(s)
                         if b is not False)
        raise self.error(f"{self.text(span)}: membership has no first-order encoding here",
                         span)

    def _msg_in(self, x: MsgV, inst: Inst, s: MsgSet) -> Any:
        case = self.typed.message_type.cases[inst.case]
        cond = F.and_(self.eq_packed(x.fields[i], case.fields[i][1], v)
                      for i, v in zip(inst.fin_fields, inst.key[1]))
        if cond is False:
            return False
        return F.and_([cond, _pred(s, inst.key, tuple(x.fields[i] for i in inst.sort_fields))])

    # ========================================================== expressions
    def expr(self, e: ir.Expr, fr: Frame) -> Any:
        fn = getattr(self, "_" + type(e).__name__, None)
        if fn is None:
            raise self.error(f"{self.text(e.span)} has no first-order encoding in an "
                             "unbounded proof", e.span)
        return fn(e, fr)

    def holds(self, e: ir.Expr, state: list) -> Any:
        fr = Frame(state)
        v = self.expr(e, fr)
        return F.and_([*fr.side, v])

    def _side(self, fr: Frame, cond: Any) -> None:
        if cond is True:
            return
        fr.side.append(F.implies(F.and_(fr.pc), cond))

    def _Const(self, e: ir.Const, fr: Frame):  # noqa: N802
        return self.const(e.t, e.value, e.span)

    def _Var(self, e: ir.Var, fr: Frame):  # noqa: N802
        if e.primed:
            raise self.error(f"`{e.name}'` is a primed variable, which only a transition "
                             "invariant may read", e.span)
        return fr.state[e.slot]

    def _FaultsTaken(self, e: ir.FaultsTaken, fr: Frame):  # noqa: N802
        raise self.error("`faults_taken` is not supported by --unbounded, which does not "
                         "count fault steps against the budget; prove it with bounded "
                         "constants (without --unbounded)", e.span)

    def _Local(self, e: ir.Local, fr: Frame):  # noqa: N802
        return fr.locals[e.uid]

    def _Unop(self, e: ir.Unop, fr: Frame):  # noqa: N802
        a = self.expr(e.arg, fr)
        if e.op == "not":
            return F.not_(a)
        return -a if not F.is_term(a) else -a

    def _guarded(self, fr: Frame, cond: Any, e: ir.Expr) -> Any:
        fr.pc.append(cond)
        try:
            return self.expr(e, fr)
        finally:
            fr.pc.pop()

    def _Binop(self, e: ir.Binop, fr: Frame):  # noqa: N802
        op = e.op
        if op == "and":
            a = self.expr(e.left, fr)
            return False if a is False else F.and_([a, self._guarded(fr, a, e.right)])
        if op == "or":
            a = self.expr(e.left, fr)
            return True if a is True else F.or_([a, self._guarded(fr, F.not_(a), e.right)])
        if op == "implies":
            a = self.expr(e.left, fr)
            return True if a is False else F.implies(a, self._guarded(fr, a, e.right))
        a = self.expr(e.left, fr)
        b = self.expr(e.right, fr)
        lt, rt = e.left.t, e.right.t
        if op in ("in", "notin"):
            m = self.member(a, lt, b, rt, e.span)
            return F.not_(m) if op == "notin" else m
        if op == "iff":
            return F.iff(a, b)
        if op in ("eq", "ne"):
            r = self.eq(a, lt, b, rt, e.span)
            return F.not_(r) if op == "ne" else r
        if op in ("lt", "le", "gt", "ge"):
            self._no_sort_arith(e)
            return F.cmp(op, a, b)
        if op in ("add", "sub", "mul", "div", "mod"):
            self._no_sort_arith(e)
            if op in ("div", "mod"):
                self._side(fr, F.not_(F.eq(b, 0)))
            return F.arith(op, a, b)
        if op in ("union", "inter", "diff"):
            return self._setop(op, self.coerce(a, lt, e.t), self.coerce(b, rt, e.t), e)
        if op in ("subseteq", "subset", "supseteq", "supset"):
            if op in ("supseteq", "supset"):
                a, b, lt, rt = b, a, rt, lt
            j = T.join(lt, rt) or lt
            a, b = self.coerce(a, lt, j), self.coerce(b, rt, j)
            sub = self._subset(a, b, e)
            if op in ("subseteq", "supseteq"):
                return sub
            return F.and_([sub, F.not_(self._subset(b, a, e))])
        raise self.error(f"{self.text(e.span)}: operator `{op}` has no first-order encoding "
                         "in an unbounded proof", e.span)

    def _no_sort_arith(self, e: ir.Binop) -> None:
        if self.is_sort(e.left.t) or self.is_sort(e.right.t):
            raise self.error(f"{self.text(e.span)}: arithmetic and order on elements of "
                             f"{e.left.t} have no meaning when {e.left.t} is a set of "
                             "unknown size", e.span)

    def _setop(self, op: str, a: Any, b: Any, e: ir.Expr) -> Any:
        def comb(x, y):
            if op == "union":
                return F.or_([x, y])
            if op == "inter":
                return F.and_([x, y])
            return F.and_([x, F.not_(y)])

        if isinstance(a, SortSet):
            return SortSet(a.sort, lambda x: comb(a(x), b(x)))
        if isinstance(a, MsgSet):
            keys = list(dict.fromkeys([*a.preds, *b.preds]))
            return MsgSet({k: (lambda args, k=k: comb(_pred(a, k, args), _pred(b, k, args)))
                           for k in keys})
        if isinstance(a, tuple):
            return tuple(comb(x, y) for x, y in zip(a, b))
        raise self.error(f"{self.text(e.span)}: this set operation has no first-order "
                         "encoding here", e.span)

    def _subset(self, a: Any, b: Any, e: ir.Expr) -> Any:
        if isinstance(a, SortSet):
            x = F.fresh_const("x", self.zsorts[a.sort if a.sort != "?" else b.sort])
            return F.forall([x], F.implies(a(x), b(x)))
        if isinstance(a, MsgSet) or isinstance(b, MsgSet):
            return F.and_(self._msgset_forall(inst, lambda args, inst=inst: F.implies(
                _pred(a, inst.key, args), _pred(b, inst.key, args))) for inst in self.instances)
        if isinstance(a, tuple):
            return F.and_(F.implies(x, y) for x, y in zip(a, b))
        raise self.error(f"{self.text(e.span)}: this comparison of sets has no first-order "
                         "encoding here", e.span)

    def _IsTag(self, e: ir.IsTag, fr: Frame):  # noqa: N802
        m = self.expr(e.arg, fr)
        return m.case == e.case

    def _GetField(self, e: ir.GetField, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        t = e.arg.t
        if isinstance(t, T.RecordT):
            i = t.field_index(e.name)
            return self.coerce(v[i], t.fields[i][1], e.t)
        case = t.cases[v.case]
        i = case.field_index(e.name)
        if i is None:
            self._side(fr, False)
            return self.default(e.t)
        return self.coerce(v.fields[i], case.fields[i][1], e.t)

    def _GetIndex(self, e: ir.GetIndex, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        k = self.expr(e.key, fr)
        t = e.arg.t
        if not isinstance(t, T.MapT):
            raise self.error(f"{self.text(e.span)}: sequences have no first-order encoding "
                             "in an unbounded proof", e.span)
        if isinstance(v, SortFun):
            return v(k)
        k = self.coerce(k, e.key.t, t.key)
        keys = self.univ.table(t.key)
        out = v[-1]
        for i in range(len(keys) - 2, -1, -1):
            out = F.ite_value(self.eq_packed(k, t.key, keys[i]), v[i], out)
        return out

    def _Construct(self, e: ir.Construct, fr: Frame):  # noqa: N802
        args = [self.expr(a, fr) for a in e.args]
        if e.case is None:
            return tuple(self.coerce(x, a.t, ft) for x, a, (_, ft)
                         in zip(args, e.args, e.t.fields))
        case = e.t.cases[e.case]
        return MsgV(e.case, tuple(self.coerce(x, a.t, ft) for x, a, (_, ft)
                                  in zip(args, e.args, case.fields)))

    def _SetLit(self, e: ir.SetLit, fr: Frame):  # noqa: N802
        t = e.t
        el = t.elem
        vals = [self.coerce(self.expr(x, fr), x.t, el) for x in e.elems]
        if isinstance(el, T.AnyT) or not vals:
            return self.empty(t)
        if self.is_sort(el):
            return SortSet(el.name, lambda x: F.or_(F.eq(x, v) for v in vals))
        if isinstance(el, T.VariantT):
            preds = {}
            for inst in self.instances:
                case = el.cases[inst.case]
                hits = []
                for v in vals:
                    if v.case != inst.case:
                        continue
                    cond = F.and_(self.eq_packed(v.fields[i], case.fields[i][1], x)
                                  for i, x in zip(inst.fin_fields, inst.key[1]))
                    if cond is not False:
                        hits.append((cond, tuple(v.fields[i] for i in inst.sort_fields)))
                if hits:
                    preds[inst.key] = (lambda args, hits=hits: F.or_(
                        F.and_([c, *(F.eq(a, s) for a, s in zip(args, sv))]) for c, sv in hits))
            return MsgSet(preds)
        if self.finite_scalar(el) and not isinstance(el, T.OptionT):
            out = [False] * self.univ.bits(el)
            for v in vals:
                for i in range(len(out)):
                    out[i] = F.or_([out[i], F.eq(v, self.univ.at_bit(el, i))])
            return tuple(out)
        raise self.error(f"{self.text(e.span)}: a set of {el} has no first-order encoding "
                         "here", e.span)

    def _MapLit(self, e: ir.MapLit, fr: Frame):  # noqa: N802
        if self.is_sort(e.t.key):
            raise self.error(f"{self.text(e.span)} lists the elements of {e.t.key}, which "
                             "have no names in an unbounded proof", e.span)
        return tuple(self.coerce(self.expr(x, fr), x.t, e.t.value) for x in e.values)

    # ------------------------------------------------------------ binding
    def cases(self, b: ir.Binding, fr: Frame, name: str | None = None):
        """The ways a bound name takes a value of its domain: (guard, value, bound
        constants, readable argument builder) per case."""
        dom = self.expr(b.domain, fr)
        dt = b.domain.t
        el = dt.elem
        label = name or b.local.name
        if isinstance(el, T.AnyT):
            return []
        if isinstance(dom, SortSet):
            x = F.fresh_const(label, self.zsorts[dom.sort])
            return [(dom(x), x, [x], None)]
        if isinstance(dom, QuorumSet):
            qs = self.quorum_sort(dom.sort)
            q = F.fresh_const(label, qs)
            mem = self.member_fn[dom.sort]
            return [(True, QuorumRef(dom.sort, lambda a, q=q: mem(a, q), q), [q], None)]
        if isinstance(dom, MsgSet):
            out = []
            for inst in self.instances:
                if inst.key not in dom.preds:
                    continue
                case = el.cases[inst.case]
                xs = [F.fresh_const(f"{label}.{case.fields[i][0]}", self.zsorts[s])
                      for i, s in zip(inst.sort_fields, inst.sorts)]
                fields: list = [None] * len(case.fields)
                for i, x in zip(inst.sort_fields, xs):
                    fields[i] = x
                for i, v in zip(inst.fin_fields, inst.key[1]):
                    fields[i] = self.const(case.fields[i][1], v)
                g = dom.preds[inst.key](tuple(xs))
                if g is False:
                    continue
                out.append((g, MsgV(inst.case, tuple(fields)), xs, inst.key))
            return out
        if isinstance(dom, tuple):
            out = []
            for pos, bit in enumerate(dom):
                if bit is False:
                    continue
                out.append((bit, self.const(b.local.t, self.univ.at_bit(el, pos)), [], None))
            return out
        raise self.error(f"{self.text(b.domain.span)}: ranging over this set has no "
                         "first-order encoding here", b.domain.span)

    def quant(self, kind: str, bindings, fr: Frame, body: Callable[[], Any]) -> Any:
        if not bindings:
            return body()
        b = bindings[0]
        parts = []
        for guard, value, xs, _ in self.cases(b, fr):
            fr.locals[b.local.uid] = value
            fr.pc.append(guard)
            mark = len(fr.side)
            try:
                inner = self.quant(kind, bindings[1:], fr, body)
            finally:
                fr.pc.pop()
            if xs:
                new = fr.side[mark:]
                del fr.side[mark:]
                fr.side.extend(F.forall(xs, s) for s in new)
            if kind == "forall":
                parts.append(F.forall(xs, F.implies(guard, inner)))
            else:
                parts.append(F.exists(xs, F.and_([guard, inner])))
        return F.and_(parts) if kind == "forall" else F.or_(parts)

    def _Quant(self, e: ir.Quant, fr: Frame):  # noqa: N802
        return self.quant(e.kind, e.bindings, fr, lambda: self.expr(e.body, fr))

    def _SetFilter(self, e: ir.SetFilter, fr: Frame):  # noqa: N802
        b = e.binding
        dom = self.expr(b.domain, fr)
        if isinstance(dom, QuorumSet):
            raise self.error(f"{self.text(e.span)}: a filter over quorums has no first-order "
                             "encoding here", e.span)
        out_bits: list = []
        preds: dict = {}
        sort_pred = None
        for guard, value, xs, key in self.cases(b, fr):
            fr.locals[b.local.uid] = value
            fr.pc.append(guard)
            mark = len(fr.side)
            try:
                c = self.expr(e.cond, fr)
            finally:
                fr.pc.pop()
            if xs:
                new = fr.side[mark:]
                del fr.side[mark:]
                fr.side.extend(F.forall(xs, s) for s in new)
            formula = F.and_([guard, c])
            if isinstance(dom, SortSet):
                x = xs[0]
                sort_pred = SortSet(dom.sort, lambda y, f=formula, x=x: F.subst(f, [(x, y)]))
            elif isinstance(dom, MsgSet):
                preds[key] = (
                    lambda args, f=formula, xs=tuple(xs): F.subst(f, list(zip(xs, args))))
            else:
                out_bits.append(formula)
        if isinstance(dom, SortSet):
            return sort_pred or SortSet(dom.sort, lambda y: False)
        if isinstance(dom, MsgSet):
            return MsgSet(preds)
        # finite: rebuild the bit tuple
        bits = list(dom)
        it = iter(out_bits)
        return tuple(False if x is False else next(it) for x in bits)

    def _SetMap(self, e: ir.SetMap, fr: Frame):  # noqa: N802
        el = e.t.elem

        def body_with(target_eq):
            def body():
                c = True if e.cond is None else self.expr(e.cond, fr)
                if c is False:
                    return False
                fr.pc.append(c)
                try:
                    v = self.coerce(self.expr(e.elem, fr), e.elem.t, el)
                finally:
                    fr.pc.pop()
                return F.and_([c, target_eq(v)])
            return body

        if self.is_sort(el):
            y = F.fresh_const("y", self.zsorts[el.name])
            f = self.quant("exists", e.bindings, fr, body_with(lambda v: F.eq(v, y)))
            return SortSet(el.name, lambda z: F.subst(f, [(y, z)]))
        if self.finite_scalar(el) and not isinstance(el, T.OptionT):
            return tuple(self.quant("exists", e.bindings, fr, body_with(
                lambda v, i=i: self.eq_packed(v, el, self.univ.at_bit(el, i))))
                for i in range(self.univ.bits(el)))
        raise self.error(f"{self.text(e.span)}: a set of {el} built by a comprehension has no "
                         "first-order encoding here", e.span)

    def _MapComp(self, e: ir.MapComp, fr: Frame):  # noqa: N802
        t = e.t
        uid = e.binding.local.uid
        if self.is_sort(t.key):
            x = F.fresh_const(e.binding.local.name, self.zsorts[t.key.name])
            fr.locals[uid] = x
            mark = len(fr.side)
            v = self.coerce(self.expr(e.value, fr), e.value.t, t.value)
            new = fr.side[mark:]
            del fr.side[mark:]
            fr.side.extend(F.forall([x], s) for s in new)
            return SortFun(t.key.name, lambda y: F.subst(v, [(x, y)]))
        out = []
        for k in self.univ.table(t.key):
            fr.locals[uid] = self.const(t.key, k)
            out.append(self.coerce(self.expr(e.value, fr), e.value.t, t.value))
        return tuple(out)

    def _IfExpr(self, e: ir.IfExpr, fr: Frame):  # noqa: N802
        c = self.expr(e.cond, fr)
        if c is True:
            return self.coerce(self.expr(e.then, fr), e.then.t, e.t)
        if c is False:
            return self.coerce(self.expr(e.orelse, fr), e.orelse.t, e.t)
        a = self.coerce(self._guarded(fr, c, e.then), e.then.t, e.t)
        b = self.coerce(self._guarded(fr, F.not_(c), e.orelse), e.orelse.t, e.t)
        return F.ite_value(c, a, b)

    def _Builtin(self, e: ir.Builtin, fr: Frame):  # noqa: N802
        at = e.args[0].t if e.args else None
        if e.name == "size" and isinstance(at, T.SetT):
            if self.is_sort(at.elem) or (isinstance(at.elem, T.SetT)):
                raise self.error(
                    f"{self.text(e.span)}: the size of a set of {at.elem} has no first-order "
                    f"meaning when {_sort_of(at.elem)} is a set of unknown size",
                    e.span, notes=("an unbounded proof supports quorums only as "
                                   "`{q in subsets(S) where 2 * size(q) > size(S)}`",))
            a = self.expr(e.args[0], fr)
            if isinstance(a, tuple):
                terms = [F.ite(x, 1, 0) for x in a if x is not False]
                total = 0
                for x in terms:
                    total = F.arith("add", total, x)
                return total
        if e.name == "subsets":
            raise self.error(f"{self.text(e.span)}: subsets of a set have no first-order "
                             "encoding here; only majority quorums, "
                             "`{q in subsets(S) where 2 * size(q) > size(S)}`, are supported",
                             e.span)
        raise self.error(f"{self.text(e.span)}: `{e.name}` has no first-order encoding in an "
                         "unbounded proof", e.span)

    def _CallDef(self, e: ir.CallDef, fr: Frame):  # noqa: N802
        inst = self.defs[e.def_id]
        args = [self.expr(a, fr) for a in e.args]
        saved = {p.uid: fr.locals.get(p.uid, _NONE) for p in inst.params}
        for p, a, x in zip(inst.params, e.args, args):
            fr.locals[p.uid] = self.coerce(x, a.t, p.t)
        try:
            return self.expr(inst.body, fr)
        finally:
            for uid, old in saved.items():
                if old is _NONE:
                    fr.locals.pop(uid, None)
                else:
                    fr.locals[uid] = old

    def _Convert(self, e: ir.Convert, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        t = e.t
        if isinstance(t, T.IntT) and isinstance(e.arg.t, T.IntT):
            src = e.arg.t
            if not (t.lo <= src.lo and src.hi <= t.hi):
                self._side(fr, F.and_([F.cmp("le", t.lo, v), F.cmp("le", v, t.hi)]))
            return v
        return self.coerce(v, e.arg.t, t)

    def _Enabled(self, e: ir.Enabled, fr: Frame):  # noqa: N802
        out = []
        for i in e.actions:
            a = self.typed.actions[i]
            if a.fault and a.name not in self.faults:
                continue
            start = Path([], list(fr.state), {})
            for p in self.run(a.body, self.expand(a.params, start, record=False)):
                out.append(F.exists(p.bound, F.and_(p.guard)))
        return F.or_(out)

    # ============================================================ statements
    def run(self, stmts, paths: list[Path]) -> list[Path]:
        for st in stmts:
            nxt: list[Path] = []
            for p in paths:
                nxt.extend(self.stmt(st, p))
            if len(nxt) > MAX_PATHS:
                raise self.error(f"an action splits into more than {MAX_PATHS} cases",
                                 getattr(st, "span", None))
            paths = nxt
        return paths

    def _eval(self, e: ir.Expr, p: Path) -> Any:
        fr = Frame(p.env, p.locals)
        v = self.expr(e, fr)
        p.guard.extend(fr.side)
        return v

    def stmt(self, st: ir.Stmt, p: Path) -> list[Path]:
        if isinstance(st, ir.Require):
            c = self._eval(st.cond, p)
            if c is False or any(g is False for g in p.guard):
                return []
            p.guard.append(c)
            return [p]
        if isinstance(st, ir.Let):
            p.locals[st.local.uid] = self._eval(st.value, p)
            return [p]
        if isinstance(st, ir.Assign):
            fr = Frame(p.env, p.locals)
            keys = [self.expr(s.key, fr) if s.kind == "index" else None for s in st.path]
            value = self.expr(st.value, fr)
            target = _step_type(st.path[-1]) if st.path else st.var.t
            value = self.coerce(value, st.value.t, target)
            p.env[st.var.slot] = self._update(p.env[st.var.slot], st.var.t, st.path, keys,
                                              value)
            p.guard.extend(fr.side)
            return [] if any(g is False for g in p.guard) else [p]
        if isinstance(st, ir.If):
            out = []
            negs: list = []
            for cond, body in st.branches:
                q = p.copy()
                q.guard.extend(negs)
                c = self._eval(cond, q)
                if c is not False:
                    q.guard.append(c)
                    out.extend(self.run(body, [q]))
                if c is True:
                    return out
                negs.append(F.not_(c))
            q = p.copy()
            q.guard.extend(negs)
            out.extend(self.run(st.orelse, [q]))
            return out
        if isinstance(st, ir.Either):
            out = []
            for body in st.branches:
                out.extend(self.run(body, [p.copy()]))
            return out
        if isinstance(st, ir.Choose):
            out = []
            for q in self.expand(st.bindings, p, record=False):
                if st.cond is not None:
                    c = self._eval(st.cond, q)
                    if c is False:
                        continue
                    q.guard.append(c)
                out.extend(self.run(st.body, [q]))
            return out
        raise self.error(f"statement {type(st).__name__} has no first-order encoding",
                         getattr(st, "span", None))

    def expand(self, bindings, p: Path, record: bool, prefix: str = "") -> list[Path]:
        paths = [p]
        for b in bindings:
            nxt = []
            for q in paths:
                fr = Frame(q.env, q.locals)
                for guard, value, xs, _ in self.cases(b, fr, prefix + b.local.name):
                    r = q.copy()
                    r.bound.extend(xs)
                    r.guard.extend(fr.side)
                    r.locals[b.local.uid] = value
                    if record:
                        r.args.append((b.local.name, b.local.t, value))
                    if guard is not True:
                        r.guard.append(guard)
                    if not any(g is False for g in r.guard):
                        nxt.append(r)
            paths = nxt
        return paths

    def _update(self, old: Any, t: T.Type, path, keys, value) -> Any:
        if not path:
            return value
        step, rest, key = path[0], path[1:], keys[0]
        if step.kind == "field":
            i = t.field_index(step.name)
            new = list(old)
            new[i] = self._update(old[i], t.fields[i][1], rest, keys[1:], value)
            return tuple(new)
        if not isinstance(t, T.MapT):
            raise self.error("an assignment into a sequence has no first-order encoding",
                             None)
        if isinstance(old, SortFun):
            upd = self._update
            return SortFun(old.sort, lambda x: F.ite_value(
                F.eq(x, key), upd(old(x), t.value, rest, keys[1:], value), old(x)))
        key = self.coerce(key, step.key.t, t.key)
        out = []
        for k, x in zip(self.univ.table(t.key), old):
            c = self.eq_packed(key, t.key, k)
            out.append(F.ite_value(c, self._update(x, t.value, rest, keys[1:], value), x))
        return tuple(out)

    # ---------------------------------------------------------- the system
    def init_paths(self) -> list[Path]:
        env: list = [None] * len(self.typed.variables)
        return self.run(self.typed.init, [Path([], env, {})])

    def action_paths(self, a: ir.Action) -> list[Path]:
        p = Path([], list(self.pre), {})
        return self.run(a.body, self.expand(a.params, p, record=True, prefix=f"{a.name}."))


_NONE = object()


def _pred(s: Any, key: tuple, args: tuple) -> Any:
    p = s.preds.get(key) if isinstance(s, MsgSet) else None
    return False if p is None else p(args)




def _sort_of(t: T.Type) -> str:
    while isinstance(t, T.SetT):
        t = t.elem
    return getattr(t, "name", str(t))


def _show(univ: Universe, t: T.Type, v: Any) -> str:
    from ..values import format_value

    return format_value(univ.decode(t, v)).replace(" ", "")


def _step_type(step: ir.PathStep) -> T.Type:
    c = step.container
    if step.kind == "field":
        return dict(c.fields)[step.name]
    return c.value
