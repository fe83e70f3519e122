"""Typed IR to symbolic values and formulas.

Expressions evaluate to symbolic values (``sv``); quantifiers, comprehensions and
``choose`` over finite sets are expanded element by element, with the element bound to
a *known* value, so most of the spec folds away in Python and what reaches Z3 is
quantifier-free.

Statements run like the generated Python code runs them: sequentially, later statements
seeing earlier writes. Nondeterminism (action parameters, ``choose``, ``either``, an
``if`` whose branches contain ``require``) splits the run into *paths*; a path has a
guard (a conjunction), the value of every variable at its end, and the arguments of its
action. An ``if`` whose branches only assign is merged into if-then-else values instead,
as the code generator does.

Undefined operations (a value outside its type's range at a ``Convert``, a sequence index
out of bounds, ``min`` of an empty set, a field the message lacks, division by zero) are
errors in the explicit engine. Here each becomes a *definedness condition*: it joins the
guard of its path (a step is allowed only where every operation on it is defined), and
is kept, with the guard prefix before it, so that ``errors`` can ask whether a reachable
state would make the explicit engine fail. In an invariant, a definedness condition is
part of what the invariant says: an invariant that cannot be evaluated does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from typing import Any

from .. import ir
from .. import types as T
from ..universe import Universe
from . import terms as Z
from .sv import UNKNOWN, EncodingError, Msg, Seq, Values

MAX_PATHS = 50_000
MEMO_SIZE = 500_000  # entries of Encoder._memo before it starts afresh


class Frame:
    """Where an expression is evaluated: the variables (current and primed), the bound
    names, the path condition inside the expression, and the definedness conditions."""

    __slots__ = ("state", "primed", "locals", "pc", "side")

    def __init__(self, state, primed=None, locals_=None, pc=None, side=None):
        self.state = state
        self.primed = primed
        self.locals = {} if locals_ is None else locals_
        self.pc = [] if pc is None else pc
        self.side = [] if side is None else side


@dataclass
class Path:
    guard: list
    env: list
    locals: dict
    args: tuple = ()
    checks: list = field(default_factory=list)  # (guard length before, condition, message)

    def copy(self) -> Path:
        return Path(list(self.guard), list(self.env), dict(self.locals), self.args,
                    list(self.checks))


@dataclass(frozen=True)
class ErrorCase:
    """The explicit engine would fail here: ``prefix`` holds and ``cond`` does not."""

    prefix: tuple
    cond: Any
    message: str

    def formula(self):
        return Z.and_([*self.prefix, Z.not_(self.cond)])


class Encoder:
    def __init__(self, typed: ir.TypedSpec, univ: Universe, values: Values | None = None):
        self.typed = typed
        self.univ = univ
        self.V = values or Values(univ)
        self.defs = {d.uid: d for d in typed.defs}
        self.dead: list[ErrorCase] = []  # error cases of paths cut off by a false condition
        # (element type, bound type) -> (packed element, symbolic element) per bit position
        self._elements: dict[tuple[T.Type, T.Type], tuple[list, list]] = {}
        # id(SetFilter) -> (the node, per bit position the part of the element its
        # condition reads, or None where it reads the whole element)
        self._filter_keys: dict[int, tuple[ir.SetFilter, list | None]] = {}
        # Conjunctions and disjunctions of set members, by the identity of their operands:
        # the paths of an action (one per message of a set, say) mostly combine the same
        # pre-state members with the same conditions, and building a Z3 term costs far
        # more than a look-up. Conditions are made identical objects through ``_canon``.
        self._memo: dict[tuple[int, int, int], tuple] = {}  # op: 0 and, 1 or, 2 not
        self._canon_terms: dict[int, Any] = {}
        # (action indices, state) -> can one of them take a step? (set by the system)
        self.enabled_hook = None

    # ============================================================ expressions
    def expr(self, e: ir.Expr, fr: Frame) -> Any:
        return getattr(self, "_" + type(e).__name__)(e, fr)

    def holds(self, e: ir.Expr, state, primed=None) -> Any:
        """A Boolean expression over a state: true where defined and true."""
        fr = Frame(state, primed)
        v = self.expr(e, fr)
        return Z.and_([c for c, _ in fr.side] + [v])

    def _side(self, fr: Frame, cond, message: str) -> None:
        if cond is True:
            return
        if fr.pc:
            cond = Z.implies(Z.and_(fr.pc), cond)
            if cond is True:
                return
        fr.side.append((cond, message))

    def _Const(self, e: ir.Const, fr: Frame):  # noqa: N802
        return self.V.const(e.t, e.value)

    def _Var(self, e: ir.Var, fr: Frame):  # noqa: N802
        if e.primed:
            if fr.primed is None:
                raise EncodingError(f"`{e.name}'` is a primed variable, which only a "
                                    "transition invariant may read")
            return fr.primed[e.slot]
        return fr.state[e.slot]

    def _FaultsTaken(self, e: ir.FaultsTaken, fr: Frame):  # noqa: N802
        # (the system's state ends with the fault counter under a budget; else no fault
        # step can be taken)
        if e.slot < len(fr.state):
            return fr.state[e.slot]
        return self.V.const(e.t, 0)

    def _Local(self, e: ir.Local, fr: Frame):  # noqa: N802
        return fr.locals[e.uid]

    def _Unop(self, e: ir.Unop, fr: Frame):  # noqa: N802
        a = self.expr(e.arg, fr)
        return Z.not_(a) if e.op == "not" else Z.neg(a)

    def _Binop(self, e: ir.Binop, fr: Frame):  # noqa: N802
        op = e.op
        if op == "and":
            a = self.expr(e.left, fr)
            if a is False:
                return False
            fr.pc.append(a)
            try:
                b = self.expr(e.right, fr)
            finally:
                fr.pc.pop()
            return Z.and2(a, b)
        if op == "or":
            a = self.expr(e.left, fr)
            if a is True:
                return True
            fr.pc.append(Z.not_(a))
            try:
                b = self.expr(e.right, fr)
            finally:
                fr.pc.pop()
            return Z.or2(a, b)
        if op == "implies":
            a = self.expr(e.left, fr)
            if a is False:
                return True
            fr.pc.append(a)
            try:
                b = self.expr(e.right, fr)
            finally:
                fr.pc.pop()
            return Z.implies(a, b)
        if op in ("in", "notin"):
            x = self.expr(e.left, fr)
            s = self.expr(e.right, fr)
            m = self.member(x, e.left.t, s, e.right.t)
            return Z.not_(m) if op == "notin" else m
        a = self.expr(e.left, fr)
        b = self.expr(e.right, fr)
        lt, rt = e.left.t, e.right.t
        if op == "iff":
            return Z.iff(a, b)
        if op == "eq":
            return self.V.eq(a, lt, b, rt)
        if op == "ne":
            return Z.not_(self.V.eq(a, lt, b, rt))
        if op == "lt":
            return Z.lt(a, b)
        if op == "le":
            return Z.le(a, b)
        if op == "gt":
            return Z.lt(b, a)
        if op == "ge":
            return Z.le(b, a)
        if op == "add":
            return Z.add(a, b)
        if op == "sub":
            return Z.sub(a, b)
        if op == "mul":
            return Z.mul(a, b)
        if op in ("div", "mod"):
            return self._divmod(op, a, b, fr)
        if op in ("union", "inter", "diff"):
            t = e.t
            x = self.V.coerce(a, lt, t)
            y = self.V.coerce(b, rt, t)
            if op == "union":
                return tuple(self._or2(p, q) for p, q in zip(x, y))
            if op == "inter":
                return tuple(self._and2(p, q) for p, q in zip(x, y))
            return tuple(False if p is False else self._and2(p, self._not(q))
                         for p, q in zip(x, y))
        if op in ("subseteq", "subset", "supseteq", "supset"):
            if op in ("supseteq", "supset"):
                a, b, lt, rt = b, a, rt, lt
            j = T.join(lt, rt)
            x = self.V.coerce(a, lt, j)
            y = self.V.coerce(b, rt, j)
            sub = Z.and_(Z.implies(p, q) for p, q in zip(x, y))
            if op in ("subseteq", "supseteq"):
                return sub
            return Z.and2(sub, Z.or_(Z.and2(q, Z.not_(p)) for p, q in zip(x, y)))
        if op == "range":
            return self._range(a, b, e.t, fr)
        raise EncodingError(f"operator {op} is not supported by the symbolic engines")

    def _divmod(self, op: str, a, b, fr: Frame):
        if type(b) is int and b == 0:
            self._side(fr, False, "division by zero")
            return 0
        self._side(fr, Z.ne(b, 0), "division by zero")
        return Z.floordiv(a, b) if op == "div" else Z.floormod(a, b)

    def _range(self, lo, hi, t: T.SetT, fr: Frame):
        base = self.univ.int_base
        n = self.univ.bits(t.elem)
        self._side(fr, Z.implies(Z.le(lo, hi), Z.le(base, lo)),
                   f"a range reaches below {base}, the smallest integer a set may hold")
        return tuple(Z.and2(Z.le(lo, i + base), Z.le(i + base, hi)) for i in range(n))

    def members(self, v, t: T.Type) -> tuple:
        """One Bool per possible element: is it in the set (or the bag)?"""
        if isinstance(t, T.BagT):
            return tuple(Z.lt(0, c) for c in v)
        return v

    def member(self, x, xt: T.Type, s: tuple, st: T.Type):
        """``x in s``."""
        if isinstance(st, T.BagT):
            s, st = self.members(s, st), T.SetT(st.elem)
        elem = st.elem
        if isinstance(elem, T.AnyT):
            return False
        vals = self.V
        if isinstance(xt, T.OptionT) and not isinstance(elem, T.OptionT):
            if isinstance(xt.inner, T.AnyT):
                return False
            return Z.and2(x.some, self.member(x.val, xt.inner, s, st))
        if isinstance(elem, T.IntT) and isinstance(xt, T.IntT):
            base = self.univ.int_base
            if type(x) is int:
                i = x - base
                return s[i] if 0 <= i < len(s) else False
            return Z.or_(Z.and2(Z.eq(x, i + base), b) for i, b in enumerate(s) if b is not False)
        known = vals.known(x, xt)
        if known is not UNKNOWN:
            pos = vals.position(elem, known, bit=True)
            return s[pos] if pos is not None and pos < len(s) else False
        live = [(i, b) for i, b in enumerate(s) if b is not False]
        if vals.count_cases(x, xt, cap=len(live)) <= len(live):
            out = []
            for g, v in vals.cases(x, xt):
                pos = vals.position(elem, v, bit=True)
                if pos is not None and pos < len(s) and s[pos] is not False:
                    out.append(Z.and2(g, s[pos]))
            return Z.or_(out)
        return Z.or_(Z.and2(b, vals.eq(x, xt, vals.const(elem, self.univ.at_bit(elem, i)), elem))
                     for i, b in live)

    def _IsTag(self, e: ir.IsTag, fr: Frame):  # noqa: N802
        m = self.expr(e.arg, fr)
        return Z.eq(m.tag, e.case)

    def _GetField(self, e: ir.GetField, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        t = e.arg.t
        if isinstance(t, T.RecordT):
            i = t.field_index(e.name)
            return self.V.coerce(v[i], t.fields[i][1], e.t)
        assert isinstance(t, T.VariantT)
        having = []
        for c, case in enumerate(t.cases):
            i = case.field_index(e.name)
            if i is None:
                continue
            g = Z.eq(v.tag, c)
            if g is False:
                continue
            having.append((g, self.V.coerce(v.cases[c][i], case.fields[i][1], e.t)))
        if not having:
            tag = v.tag if type(v.tag) is int else None
            what = t.cases[tag].name if tag is not None else "this"
            self._side(fr, False, f"a {what} message has no field `{e.name}`")
            return self.V.default(e.t)
        self._side(fr, Z.or_(g for g, _ in having), f"a message has no field `{e.name}`")
        out = having[-1][1]
        for g, x in reversed(having[:-1]):
            out = self.V.ite(g, x, out, e.t)
        return out

    def _GetIndex(self, e: ir.GetIndex, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        k = self.expr(e.key, fr)
        t = e.arg.t
        if isinstance(t, T.SeqT):
            return self._seq_at(v, k, t, fr)
        assert isinstance(t, T.MapT)
        return self._map_at(v, k, e.key.t, t)

    def _map_at(self, v, k, kt: T.Type, t: T.MapT):
        vals = self.V
        known = vals.known(k, kt)
        if known is not UNKNOWN:
            return v[self.univ.index(t.key, known)]
        cases = [(g, self.univ.index(t.key, x))
                 for g, x in vals.cases(vals.coerce(k, kt, t.key), t.key)]
        out = v[cases[-1][1]]
        for g, i in reversed(cases[:-1]):
            out = vals.ite(g, v[i], out, t.value)
        return out

    def _seq_at(self, v: Seq, i, t: T.SeqT, fr: Frame):
        self._side(fr, Z.and2(Z.le(1, i), Z.le(i, v.length)), "a sequence index is out of range")
        if type(i) is int:
            return v.items[i - 1] if 1 <= i <= t.capacity else self.V.default(t.elem)
        if not v.items:
            return self.V.default(t.elem)
        out = v.items[-1]
        for j in range(len(v.items) - 2, -1, -1):
            out = self.V.ite(Z.eq(i, j + 1), v.items[j], out, t.elem)
        return out

    def _Construct(self, e: ir.Construct, fr: Frame):  # noqa: N802
        args = [self.expr(a, fr) for a in e.args]
        if e.case is None:
            assert isinstance(e.t, T.RecordT)
            return tuple(self.V.coerce(x, a.t, ft)
                         for x, a, (_, ft) in zip(args, e.args, e.t.fields))
        t = e.t
        assert isinstance(t, T.VariantT)
        cases = []
        for c, case in enumerate(t.cases):
            if c == e.case:
                cases.append(tuple(self.V.coerce(x, a.t, ft)
                                   for x, a, (_, ft) in zip(args, e.args, case.fields)))
            else:
                cases.append(tuple(self.V.default(ft) for _, ft in case.fields))
        return Msg(e.case, tuple(cases))

    def _SetLit(self, e: ir.SetLit, fr: Frame):  # noqa: N802
        t = e.t
        assert isinstance(t, T.SetT)
        n = self.univ.bits(t.elem)
        out: list = [False] * n
        for x in e.elems:
            v = self.V.coerce(self.expr(x, fr), x.t, t.elem)
            self._add_element(out, v, t.elem)
        return tuple(out)

    def _add_element(self, out: list, v, elem: T.Type, guard=True) -> None:
        vals = self.V
        known = vals.known(v, elem)
        if known is not UNKNOWN:
            pos = vals.position(elem, known, bit=True)
            if pos is not None and pos < len(out):
                out[pos] = Z.or2(out[pos], guard)
            return
        for g, x in vals.cases(v, elem):
            pos = vals.position(elem, x, bit=True)
            if pos is not None and pos < len(out):
                out[pos] = Z.or2(out[pos], Z.and2(guard, g))

    def _SeqLit(self, e: ir.SeqLit, fr: Frame):  # noqa: N802
        t = e.t
        assert isinstance(t, T.SeqT)
        items = tuple(self.V.coerce(self.expr(x, fr), x.t, t.elem) for x in e.elems)
        return Seq(len(items), items)

    def _MapLit(self, e: ir.MapLit, fr: Frame):  # noqa: N802
        t = e.t
        assert isinstance(t, T.MapT)
        return tuple(self.V.coerce(self.expr(x, fr), x.t, t.value) for x in e.values)

    # ------------------------------------------------------------ expansion
    def bind(self, bindings, fr: Frame, fn) -> list:
        """Call ``fn(guard)`` once per combination of the bindings' elements, with the
        bound names set to known values and the path condition extended; the results."""
        results: list = []
        self._bind(bindings, 0, fr, [], fn, results)
        return results

    def _bind(self, bindings, i: int, fr: Frame, guards: list, fn, results: list) -> None:
        if i == len(bindings):
            results.append(fn(Z.and_(guards)))
            return
        b = bindings[i]
        dom = self.members(self.expr(b.domain, fr), b.domain.t)
        elem = b.domain.t.elem
        if isinstance(elem, T.AnyT):
            return
        uid = b.local.uid
        lt = b.local.t
        _, consts = self.elements(elem, lt, len(dom))
        for pos, bit in enumerate(dom):
            if bit is False:
                continue
            fr.locals[uid] = consts[pos]
            if bit is True:
                self._bind(bindings, i + 1, fr, guards, fn, results)
            else:
                fr.pc.append(bit)
                guards.append(bit)
                try:
                    self._bind(bindings, i + 1, fr, guards, fn, results)
                finally:
                    fr.pc.pop()
                    guards.pop()

    def _Quant(self, e: ir.Quant, fr: Frame):  # noqa: N802
        body = e.body
        if e.kind == "forall":
            parts = self.bind(e.bindings, fr, lambda g: Z.implies(g, self.expr(body, fr)))
            return Z.and_(parts)
        parts = self.bind(e.bindings, fr, lambda g: Z.and2(g, self.expr(body, fr)))
        return Z.or_(parts)

    def _SetFilter(self, e: ir.SetFilter, fr: Frame):  # noqa: N802
        b = e.binding
        dom = self.members(self.expr(b.domain, fr), b.domain.t)
        elem = b.domain.t.elem
        if isinstance(elem, T.AnyT):
            return dom
        out = []
        uid, lt = b.local.uid, b.local.t
        _, consts = self.elements(elem, lt, len(dom))
        keys = self._filter_keys_of(e, elem, lt, len(dom))
        if keys is None:
            for pos, bit in enumerate(dom):
                if bit is False:
                    out.append(False)
                    continue
                fr.locals[uid] = consts[pos]
                fr.pc.append(bit)
                try:
                    c = self.expr(e.cond, fr)
                finally:
                    fr.pc.pop()
                out.append(Z.and2(bit, c))
            return tuple(out)
        # The condition reads only some fields (and the kind) of the element: evaluate it
        # once per distinct reading, not once per element. Its definedness conditions are
        # recorded without the path condition, then stated for each element under its own.
        seen: dict = {}
        sub = Frame(fr.state, fr.primed, fr.locals)
        for pos, bit in enumerate(dom):
            if bit is False:
                out.append(False)
                continue
            key = keys[pos]
            hit = seen.get(key)
            if hit is None:
                fr.locals[uid] = consts[pos]
                sub.side = []
                c = self._canon(self.expr(e.cond, sub))
                hit = seen[key] = (c, sub.side)
            c, side = hit
            if side:
                fr.pc.append(bit)
                try:
                    for cond, message in side:
                        self._side(fr, cond, message)
                finally:
                    fr.pc.pop()
            out.append(self._and2(bit, c))
        return tuple(out)

    def _canon(self, x):
        """One Python object per Z3 term (so that ``_and2``'s memo recognises it)."""
        if type(x) is bool or type(x) is int:
            return x
        return self._canon_terms.setdefault(x.get_id(), x)

    def _memo_get(self, a, b, op: int):
        key = (id(a), id(b), op)
        hit = self._memo.get(key)
        if hit is not None and hit[0] is a and hit[1] is b:
            return key, hit[2]
        return key, None

    def _memo_put(self, key, a, b, r):
        memo = self._memo
        if len(memo) >= MEMO_SIZE:
            memo.clear()
            self._canon_terms.clear()
        memo[key] = (a, b, r)
        return r

    def _and2(self, a, b):
        return self._shared(Z.and2, 0, a, b)

    def _or2(self, a, b):
        return self._shared(Z.or2, 1, a, b)

    def _shared(self, build, code: int, a, b):
        """``build(a, b)``, made once for the same operands (memoised by identity)."""
        if type(a) is bool or type(b) is bool:
            return build(a, b)
        key, r = self._memo_get(a, b, code)
        if r is not None:
            return r
        return self._memo_put(key, a, b, build(a, b))

    def _not(self, a):
        if type(a) is bool:
            return not a
        key, r = self._memo_get(a, a, 2)
        if r is not None:
            return r
        return self._memo_put(key, a, a, Z.not_(a))

    def elements(self, elem: T.Type, lt: T.Type, n: int) -> tuple[list, list]:
        """The packed and the symbolic (as type ``lt``) element at each of the ``n`` bit
        positions of a set of ``elem``."""
        key = (elem, lt)
        got = self._elements.get(key)
        if got is None or len(got[0]) < n:
            packed = [self.univ.at_bit(elem, i) for i in range(n)]
            got = self._elements[key] = (packed, [self.V.const(lt, v) for v in packed])
        return got

    def _filter_keys_of(self, e: ir.SetFilter, elem: T.Type, lt: T.Type, n: int):
        """Per bit position, what the filter's condition reads of that element (the kind
        and the fields it names), or None where the condition reads the element whole."""
        got = self._filter_keys.get(id(e))
        if got is not None and got[0] is e and (got[1] is None or len(got[1]) >= n):
            return got[1]
        keys = None
        fields = _projection(e.cond, e.binding.local.uid, self.defs)
        if fields is not None and isinstance(lt, (T.RecordT, T.VariantT)):
            _, consts = self.elements(elem, lt, n)
            keys = [_project(v, lt, fields) for v in consts]
            try:
                hash(tuple(keys))
            except TypeError:
                keys = None
        self._filter_keys[id(e)] = (e, keys)
        return keys

    def _SetMap(self, e: ir.SetMap, fr: Frame):  # noqa: N802
        t = e.t
        assert isinstance(t, T.SetT)
        out: list = [False] * self.univ.bits(t.elem)

        def each(g):
            if e.cond is not None:
                c = self.expr(e.cond, fr)
                g = Z.and2(g, c)
                if g is False:
                    return None
                fr.pc.append(c)
                try:
                    v = self.expr(e.elem, fr)
                finally:
                    fr.pc.pop()
            else:
                v = self.expr(e.elem, fr)
            self._add_element(out, self.V.coerce(v, e.elem.t, t.elem), t.elem, g)
            return None

        self.bind(e.bindings, fr, each)
        return tuple(out)

    def _MapComp(self, e: ir.MapComp, fr: Frame):  # noqa: N802
        t = e.t
        assert isinstance(t, T.MapT)
        uid = e.binding.local.uid
        out = []
        for v in self.univ.table(t.key):
            fr.locals[uid] = self.V.const(t.key, v)
            out.append(self.V.coerce(self.expr(e.value, fr), e.value.t, t.value))
        return tuple(out)

    def _IfExpr(self, e: ir.IfExpr, fr: Frame):  # noqa: N802
        c = self.expr(e.cond, fr)
        if c is True:
            return self.V.coerce(self.expr(e.then, fr), e.then.t, e.t)
        if c is False:
            return self.V.coerce(self.expr(e.orelse, fr), e.orelse.t, e.t)
        fr.pc.append(c)
        try:
            a = self.V.coerce(self.expr(e.then, fr), e.then.t, e.t)
        finally:
            fr.pc.pop()
        fr.pc.append(Z.not_(c))
        try:
            b = self.V.coerce(self.expr(e.orelse, fr), e.orelse.t, e.t)
        finally:
            fr.pc.pop()
        return self.V.ite(c, a, b, e.t)

    def _Builtin(self, e: ir.Builtin, fr: Frame):  # noqa: N802
        name = e.name
        args = [self.expr(a, fr) for a in e.args]
        a = args[0]
        at = e.args[0].t
        base = self.univ.int_base
        if name == "size":
            return Z.count(a)
        if name == "subsets":
            n = len(a)
            if n > 12:
                raise EncodingError(f"subsets of a set of {n} possible elements is too large "
                                    "to expand")
            return tuple(Z.and_(a[i] for i in range(n) if (m >> i) & 1) for m in range(1 << n))
        if name == "union":
            t = e.t
            assert isinstance(t, T.SetT) and isinstance(at, T.SetT)
            inner = at.elem
            n = self.univ.bits(t.elem)
            out: list = [False] * n
            for m, bit in enumerate(a):
                if bit is False:
                    continue
                members = self.V.coerce(self.V.const(inner, self.univ.at_bit(inner, m)),
                                        inner, t)
                for i, x in enumerate(members):
                    if x is True:
                        out[i] = Z.or2(out[i], bit)
            return tuple(out)
        if name in ("bagsize", "put", "take", "count"):
            return self._bag(name, args, e, fr)
        if name == "slice":
            return self._slice(a, args[1], args[2], at, fr)
        if name in ("min", "max"):
            self._side(fr, Z.or_(a), f"{name} of an empty set")
            order = list(enumerate(a))
            if name == "max":
                order.reverse()
            order = [(i, b) for i, b in order if b is not False]
            if not order:
                return e.t.lo if isinstance(e.t, T.IntT) else 0
            out = order[-1][0] + base
            for i, b in reversed(order[:-1]):
                out = Z.ite(b, i + base, out)
            return out
        assert isinstance(at, T.SeqT)
        if name == "len":
            return a.length
        if name == "head":
            self._side(fr, Z.lt(0, a.length), "head of an empty sequence")
            return self.V.coerce(a.items[0], at.elem, e.t) if a.items else self.V.default(e.t)
        if name == "last":
            self._side(fr, Z.lt(0, a.length), "last of an empty sequence")
            return self._seq_at(a, a.length, at, Frame(fr.state))
        if name == "tail":
            self._side(fr, Z.lt(0, a.length), "tail of an empty sequence")
            t = e.t
            assert isinstance(t, T.SeqT)
            items = [self.V.coerce(x, at.elem, t.elem) for x in a.items[1:]]
            items += [self.V.default(t.elem)] * (t.capacity - len(items))
            return Seq(Z.ite(Z.lt(0, a.length), Z.sub(a.length, 1), 0), tuple(items[:t.capacity]))
        if name == "append":
            t = e.t
            assert isinstance(t, T.SeqT)
            x = self.V.coerce(args[1], e.args[1].t, t.elem)
            old = [self.V.coerce(y, at.elem, t.elem) for y in a.items]
            items = [self.V.ite(Z.eq(a.length, i), x, y, t.elem) for i, y in enumerate(old)]
            items.append(x)
            items += [self.V.default(t.elem)] * (t.capacity - len(items))
            return Seq(Z.add(a.length, 1), tuple(items[:t.capacity]))
        raise EncodingError(f"built-in {name} is not supported by the symbolic engines")

    def _bag(self, name: str, args, e: ir.Builtin, fr: Frame):
        bag = args[0]
        bt = e.args[0].t
        assert isinstance(bt, T.BagT)
        if name == "bagsize":
            return Z.sum_(bag)
        x = self.V.coerce(args[1], e.args[1].t, bt.elem)
        # One condition per element position: is x the element there?
        at = [False] * len(bag)
        self._add_element(at, x, bt.elem)
        if name == "count":
            out = 0
            for g, c in zip(at, bag):
                if g is not False:
                    out = Z.ite(g, c, out)
            return out
        if name == "put":
            self._side(fr, Z.and_(Z.implies(g, Z.lt(c, bt.capacity)) for g, c in zip(at, bag)),
                       f"a bag would hold more than {bt.capacity} copies of one element")
            return tuple(Z.ite(g, Z.add(c, 1), c) for g, c in zip(at, bag))
        self._side(fr, Z.or_(Z.and2(g, Z.lt(0, c)) for g, c in zip(at, bag)),
                   "take: the bag holds no copy of that element")
        return tuple(Z.ite(g, Z.sub(c, 1), c) for g, c in zip(at, bag))

    def _slice(self, v: Seq, lo, hi, t: T.SeqT, fr: Frame):
        self._side(fr, Z.implies(Z.le(lo, hi), Z.and2(Z.le(1, lo), Z.le(hi, v.length))),
                   "a slice is out of range")
        length = Z.ite(Z.lt(hi, lo), 0, Z.add(Z.sub(hi, lo), 1))
        items = []
        for j in range(t.capacity):
            # item j of the slice is item lo - 1 + j of the sequence
            if type(lo) is int:
                k = lo - 1 + j
                items.append(v.items[k] if 0 <= k < t.capacity else self.V.default(t.elem))
                continue
            out = self.V.default(t.elem)
            for k in range(t.capacity - 1, j - 1, -1):
                out = self.V.ite(Z.eq(lo, k - j + 1), v.items[k], out, t.elem)
            items.append(out)
        return Seq(length, tuple(items))

    def _Enabled(self, e: ir.Enabled, fr: Frame):  # noqa: N802
        if self.enabled_hook is None:
            raise EncodingError("`enabled` and `quiescent` need the actions of the spec")
        return self.enabled_hook(e.actions, fr.state)

    def _CallDef(self, e: ir.CallDef, fr: Frame):  # noqa: N802
        inst = self.defs[e.def_id]
        args = [self.expr(a, fr) for a in e.args]
        saved = [fr.locals.get(p.uid, _NONE) for p in inst.params]
        for p, a, x in zip(inst.params, e.args, args):
            fr.locals[p.uid] = self.V.coerce(x, a.t, p.t)
        try:
            return self.expr(inst.body, fr)
        finally:
            for p, old in zip(inst.params, saved):
                if old is _NONE:
                    fr.locals.pop(p.uid, None)
                else:
                    fr.locals[p.uid] = old

    def _Convert(self, e: ir.Convert, fr: Frame):  # noqa: N802
        v = self.expr(e.arg, fr)
        ok = self.V.valid(v, e.arg.t, e.t)
        self._side(fr, ok, f"{e.what} would be outside its type {e.t}")
        return self.V.coerce(v, e.arg.t, e.t)

    # ============================================================= statements
    def run(self, stmts, paths: list[Path]) -> list[Path]:
        for st in stmts:
            nxt: list[Path] = []
            for p in paths:
                nxt.extend(self.stmt(st, p))
            if len(nxt) > MAX_PATHS:
                raise EncodingError(f"an action splits into more than {MAX_PATHS} cases "
                                    "(parameters, choose, either); the symbolic engines "
                                    "cannot encode it")
            paths = nxt
        return paths

    def _eval(self, e: ir.Expr, p: Path):
        """Evaluate in a path; its definedness conditions join the path's guard. Returns
        (value, alive)."""
        fr = Frame(p.env, None, p.locals)
        v = self.expr(e, fr)
        return v, self._absorb(p, fr.side)

    def _absorb(self, p: Path, side) -> bool:
        for c, msg in side:
            p.checks.append((len(p.guard), c, msg))
            if c is False:
                self._kill(p)
                return False
            p.guard.append(c)
        return True

    def _kill(self, p: Path) -> None:
        self.dead.extend(self.error_cases(p))

    def error_cases(self, p: Path) -> list[ErrorCase]:
        return [ErrorCase(tuple(p.guard[:n]), c, msg) for n, c, msg in p.checks]

    def _require(self, p: Path, c) -> bool:
        if c is False:
            self._kill(p)
            return False
        if c is not True:
            p.guard.append(c)
        return True

    def stmt(self, st: ir.Stmt, p: Path) -> list[Path]:
        if isinstance(st, ir.Require):
            c, alive = self._eval(st.cond, p)
            if not alive or not self._require(p, c):
                return []
            return [p]
        if isinstance(st, ir.Let):
            v, alive = self._eval(st.value, p)
            if not alive:
                return []
            p.locals[st.local.uid] = v
            return [p]
        if isinstance(st, ir.Assign):
            fr = Frame(p.env, None, p.locals)
            p.env[st.var.slot] = self.assign(st, p.env[st.var.slot], fr)
            if not self._absorb(p, fr.side):
                return []
            return [p]
        if isinstance(st, ir.If):
            if _straight((st,)):
                fr = Frame(p.env, None, p.locals)
                self._merge_if(st, p.env, fr)
                if not self._absorb(p, fr.side):
                    return []
                return [p]
            out = []
            negs: list = []
            for cond, body in st.branches:
                q = p.copy()
                for n in negs:
                    q.guard.append(n)
                c, alive = self._eval(cond, q)
                if alive and self._require(q, c):
                    out.extend(self.run(body, [q]))
                if c is True:
                    return out
                negs.append(Z.not_(c))
                if any(n is False for n in negs):
                    return out
            q = p.copy()
            if self._require(q, Z.and_(negs)):
                out.extend(self.run(st.orelse, [q]))
            return out
        if isinstance(st, ir.Either):
            out = []
            for body in st.branches:
                out.extend(self.run(body, [p.copy()]))
            return out
        if isinstance(st, ir.Choose):
            chosen = self.expand(st.bindings, p, record=False)
            out = []
            for q in chosen:
                if st.cond is not None:
                    c, alive = self._eval(st.cond, q)
                    if not alive or not self._require(q, c):
                        continue
                out.extend(self.run(st.body, [q]))
            return out
        raise EncodingError(f"statement {type(st).__name__} is not supported")

    def expand(self, bindings, p: Path, record: bool) -> list[Path]:
        """One path per combination of the bindings' elements (action parameters, when
        ``record``, are also appended to the path's arguments)."""
        paths = [p]
        for b in bindings:
            nxt = []
            elem = b.domain.t.elem
            for q in paths:
                dom, alive = self._eval(b.domain, q)
                if not alive or isinstance(elem, T.AnyT):
                    continue
                dom = self.members(dom, b.domain.t)
                packs, consts = self.elements(elem, b.local.t, len(dom))
                for pos, bit in enumerate(dom):
                    if bit is False:
                        continue
                    r = q.copy()
                    packed = packs[pos]
                    r.locals[b.local.uid] = consts[pos]
                    if record:
                        r.args = r.args + (packed,)
                    if bit is not True:
                        r.guard.append(bit)
                    nxt.append(r)
            paths = nxt
        return paths

    def assign(self, st: ir.Assign, old, fr: Frame):
        keys = []
        for step in st.path:
            keys.append(self.expr(step.key, fr) if step.kind == "index" else None)
        value = self.expr(st.value, fr)
        target = _step_type(st.path[-1]) if st.path else st.var.t
        value = self.V.coerce(value, st.value.t, target)
        return self._update(old, st.var.t, st.path, keys, value, fr)

    def _update(self, old, t: T.Type, path, keys, value, fr: Frame):
        if not path:
            return value
        step, rest, key = path[0], path[1:], keys[0]
        vals = self.V
        if step.kind == "field":
            assert isinstance(t, T.RecordT)
            i = t.field_index(step.name)
            new = list(old)
            new[i] = self._update(old[i], t.fields[i][1], rest, keys[1:], value, fr)
            return tuple(new)
        if isinstance(t, T.MapT):
            kt = step.key.t
            known = vals.known(key, kt)
            if known is not UNKNOWN:
                i = self.univ.index(t.key, known)
                new = list(old)
                new[i] = self._update(old[i], t.value, rest, keys[1:], value, fr)
                return tuple(new)
            conds: dict[int, Any] = {}
            for g, x in vals.cases(vals.coerce(key, kt, t.key), t.key):
                conds[self.univ.index(t.key, x)] = g
            return tuple(vals.ite(conds[i], self._update(x, t.value, rest, keys[1:], value, fr),
                               x, t.value) if i in conds else x for i, x in enumerate(old))
        assert isinstance(t, T.SeqT)
        self._side(fr, Z.and2(Z.le(1, key), Z.le(key, old.length)),
                   "a sequence index is out of range")
        items = []
        for j, x in enumerate(old.items):
            g = Z.eq(key, j + 1)
            if g is False:
                items.append(x)
            else:
                items.append(vals.ite(g, self._update(x, t.elem, rest, keys[1:], value, fr), x,
                                   t.elem))
        return Seq(old.length, tuple(items))

    def _merge_if(self, st: ir.If, env: list, fr: Frame) -> None:
        """An ``if`` whose branches only assign: run each branch on a copy of the
        variables, then merge the copies with if-then-else."""
        envs = []
        conds = []
        negs: list = []
        for cond, body in st.branches:
            c = self.expr(cond, Frame(env, None, fr.locals, [*fr.pc, *negs], fr.side))
            if c is False:
                continue
            branch_env = list(env)
            pc = [*fr.pc, *negs, c]
            self._straight(body, branch_env, Frame(branch_env, None, fr.locals, pc, fr.side))
            envs.append(branch_env)
            conds.append(c)
            if c is True:
                break
            negs.append(Z.not_(c))
        else:
            branch_env = list(env)
            pc = [*fr.pc, *negs]
            self._straight(st.orelse, branch_env, Frame(branch_env, None, fr.locals, pc, fr.side))
            envs.append(branch_env)
            conds.append(True)
        types = {v.slot: v.t for v in self.typed.variables}
        for slot in range(len(env)):
            if all(be[slot] is env[slot] for be in envs):
                continue
            t = types.get(slot, _COUNTER_T)
            out = envs[-1][slot]
            for c, be in zip(reversed(conds[:-1]), reversed(envs[:-1])):
                out = self.V.ite(c, be[slot], out, t)
            env[slot] = out

    def _straight(self, stmts, env: list, fr: Frame) -> None:
        for s in stmts:
            if isinstance(s, ir.Let):
                fr.locals[s.local.uid] = self.expr(s.value, fr)
            elif isinstance(s, ir.Assign):
                env[s.var.slot] = self.assign(s, env[s.var.slot], fr)
            elif isinstance(s, ir.If):
                self._merge_if(s, env, fr)
            elif isinstance(s, ir.Require) and s.cond == ir.Const(True, T.BOOL):
                pass
            else:  # pragma: no cover (``_straight`` checked the kinds)
                raise AssertionError(s)


_NONE = object()
_SKIP = frozenset(("t", "span"))  # no expressions below these
_COUNTER_T = T.IntT(0, 1 << 30)


def _step_type(step: ir.PathStep) -> T.Type:
    c = step.container
    if step.kind == "field":
        assert isinstance(c, T.RecordT)
        return dict(c.fields)[step.name]
    if isinstance(c, T.MapT):
        return c.value
    assert isinstance(c, T.SeqT)
    return c.elem


def _straight(stmts) -> bool:
    for s in stmts:
        if isinstance(s, ir.If):
            if not (all(_straight(b) for _, b in s.branches) and _straight(s.orelse)):
                return False
        elif isinstance(s, ir.Require):
            if s.cond != ir.Const(True, T.BOOL):  # `skip`
                return False
        elif not isinstance(s, (ir.Assign, ir.Let)):
            return False
    return True


def _projection(cond: ir.Expr, uid: int, defs: dict) -> tuple[str, ...] | None:
    """The fields of local ``uid`` that ``cond`` reads, if it reads the local only through
    ``.field`` and ``is Kind``; None if it reads it in any other way."""
    fields: set[str] = set()
    seen_defs: set[int] = set()
    stack: list = [cond]
    while stack:
        x = stack.pop()
        if isinstance(x, (ir.GetField, ir.IsTag)) and isinstance(x.arg, ir.Local) \
                and x.arg.uid == uid:
            if isinstance(x, ir.GetField):
                fields.add(x.name)
            continue
        if isinstance(x, ir.Local):
            if x.uid == uid:
                return None
            continue
        if isinstance(x, ir.CallDef) and x.def_id not in seen_defs:
            seen_defs.add(x.def_id)
            d = defs.get(x.def_id)
            if d is None:
                return None
            stack.append(d.body)
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, (ir.Expr, ir.Binding)):
            stack.extend(getattr(x, f.name) for f in dc_fields(x) if f.name not in _SKIP)
    return tuple(sorted(fields))


def _project(v, t: T.Type, fields: tuple[str, ...]):
    """The part of the known value ``v`` (of type ``t``) that the fields and the kind
    determine."""
    if isinstance(t, T.RecordT):
        return tuple(v[t.field_index(f)] for f in fields)
    assert isinstance(t, T.VariantT)
    case = t.cases[v.tag]
    out = []
    for f in fields:
        i = case.field_index(f)
        out.append(None if i is None else v.cases[v.tag][i])
    return (v.tag, tuple(out))
