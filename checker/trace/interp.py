"""A small interpreter of the typed IR over readable values, to explain why an action
did not match: which ``require`` was false, with the values of its parts.

The verdicts of trace validation come from the compiled code; this interpreter runs only
when a trace is rejected, so it favours clarity over speed and depends on nothing but
the IR and ``Universe.decode`` (not on how the compiler packs states).

Working values: booleans, integers, member names, ``None``, ``frozenset`` for sets,
``FMap`` for maps, ``tuple`` for sequences, ``RecordValue`` for records and messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from .. import ir
from .. import types as T
from ..universe import Universe
from ..values import BagValue, MapValue, RecordValue, SeqValue, SetValue, Value, format_value


class InterpError(Exception):
    """The spec did something undefined (read outside a map, a field a message lacks)."""


@dataclass(frozen=True)
class FMap:
    pairs: tuple[tuple[Any, Any], ...]

    def get(self, key: Any) -> Any:
        for k, v in self.pairs:
            if k == key:
                return v
        raise InterpError(f"the map has no entry for {show_w(key)}")

    def set(self, key: Any, value: Any) -> FMap:
        return FMap(tuple((k, value if k == key else v) for k, v in self.pairs))


@dataclass(frozen=True)
class WBag:
    """A multiset: ``counts`` holds (element, copies >= 1) pairs."""

    counts: frozenset

    def __contains__(self, x: Any) -> bool:
        return any(e == x for e, _ in self.counts)

    def __iter__(self):
        return (e for e, _ in self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def count(self, x: Any) -> int:
        return next((n for e, n in self.counts if e == x), 0)

    def with_count(self, x: Any, n: int) -> WBag:
        rest = {(e, k) for e, k in self.counts if e != x}
        return WBag(frozenset(rest | ({(x, n)} if n else set())))


def to_w(v: Value) -> Any:
    if isinstance(v, BagValue):
        return WBag(frozenset((to_w(x), n) for x, n in v.items))
    if isinstance(v, SetValue):
        return frozenset(to_w(x) for x in v.items)
    if isinstance(v, SeqValue):
        return tuple(to_w(x) for x in v.items)
    if isinstance(v, MapValue):
        return FMap(tuple((to_w(k), to_w(x)) for k, x in v.pairs))
    if isinstance(v, RecordValue):
        return RecordValue(v.tag, tuple((f, to_w(x)) for f, x in v.fields))
    return v


def to_readable(univ: Universe, t: T.Type, w: Any) -> Value:
    """Back to a canonical readable value of type ``t``."""
    return univ.decode(t, univ.encode(t, _encodable(w)))


def _encodable(w: Any) -> Any:
    if isinstance(w, WBag):
        return BagValue(tuple((_encodable(x), n) for x, n in w.counts))
    if isinstance(w, frozenset):
        return tuple(_encodable(x) for x in w)
    if isinstance(w, tuple):
        return SeqValue(tuple(_encodable(x) for x in w))
    if isinstance(w, FMap):
        return MapValue(tuple((_encodable(k), _encodable(v)) for k, v in w.pairs))
    if isinstance(w, RecordValue):
        return RecordValue(w.tag, tuple((f, _encodable(x)) for f, x in w.fields))
    return w


def show_w(w: Any) -> str:
    """Text for a working value (sets sorted by their text)."""
    if isinstance(w, WBag):
        return "{|" + ", ".join(sorted(show_w(x) + (f" x{n}" if n > 1 else "")
                                       for x, n in w.counts)) + "|}"
    if isinstance(w, frozenset):
        return "{" + ", ".join(sorted(show_w(x) for x in w)) + "}"
    if isinstance(w, tuple):
        return "[" + ", ".join(show_w(x) for x in w) + "]"
    if isinstance(w, FMap):
        return "{" + ", ".join(f"{show_w(k)}: {show_w(v)}" for k, v in w.pairs) + "}"
    if isinstance(w, RecordValue):
        inner = ", ".join(f"{f}={show_w(x)}" for f, x in w.fields)
        if w.tag is None:
            return "(" + inner + ")"
        return w.tag if not w.fields else f"{w.tag}({inner})"
    return format_value(w)


# --------------------------------------------------------------------- expressions
_OPS = {"and": "and", "or": "or", "implies": "implies", "iff": "iff", "eq": "==", "ne": "!=",
        "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "add": "+", "sub": "-", "mul": "*",
        "div": "/", "mod": "%", "union": "|", "inter": "&", "diff": "-", "subseteq": "<=",
        "subset": "<", "supseteq": ">=", "supset": ">", "in": "in", "notin": "not in",
        "range": "..", "concat": "++"}


class Interp:
    def __init__(self, univ: Universe, typed: ir.TypedSpec):
        self.univ = univ
        self.typed = typed
        self._consts: dict[tuple, Any] = {}

    # ----------------------------------------------------------------- values
    def const(self, e: ir.Const) -> Any:
        key = (e.t, e.value if not isinstance(e.value, list) else tuple(e.value))
        try:
            return self._consts[key]
        except KeyError:
            pass
        except TypeError:
            return to_w(self.univ.decode(e.t, e.value))
        w = to_w(self.univ.decode(e.t, e.value))
        self._consts[key] = w
        return w

    def show(self, e: ir.Expr) -> str:
        return show_expr(e, self.univ, self.typed.defs)

    def show_value(self, t: T.Type, w: Any) -> str:
        try:
            return format_value(to_readable(self.univ, t, w))
        except Exception:  # noqa: BLE001 (a value outside its static type: show it raw)
            return show_w(w)

    def universe(self, t: T.Type) -> list:
        return [to_w(self.univ.decode(t, x)) for x in self.univ.table(t)]

    # ------------------------------------------------------------------ eval
    def eval(self, e: ir.Expr, vars_: dict[int, Any], locs: dict[int, Any]) -> Any:
        m = getattr(self, "_" + type(e).__name__, None)
        if m is None:
            raise InterpError(f"cannot evaluate {type(e).__name__}")
        return m(e, vars_, locs)

    def _Const(self, e, vs, ls):  # noqa: N802
        return self.const(e)

    def _Var(self, e, vs, ls):  # noqa: N802
        return vs[e.slot]

    def _Local(self, e, vs, ls):  # noqa: N802
        return ls[e.uid]

    def _Unop(self, e, vs, ls):  # noqa: N802
        a = self.eval(e.arg, vs, ls)
        return (not a) if e.op == "not" else -a

    def _Binop(self, e, vs, ls):  # noqa: N802
        op = e.op
        if op == "and":
            return bool(self.eval(e.left, vs, ls)) and bool(self.eval(e.right, vs, ls))
        if op == "or":
            return bool(self.eval(e.left, vs, ls)) or bool(self.eval(e.right, vs, ls))
        if op == "implies":
            return (not self.eval(e.left, vs, ls)) or bool(self.eval(e.right, vs, ls))
        a, b = self.eval(e.left, vs, ls), self.eval(e.right, vs, ls)
        if op == "iff":
            return bool(a) == bool(b)
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if op in ("lt", "le", "gt", "ge") and not isinstance(a, frozenset):
            return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            if b == 0:
                raise InterpError("division by zero")
            return a // b
        if op == "mod":
            if b == 0:
                raise InterpError("division by zero")
            return a % b
        if op == "union":
            return a | b
        if op == "inter":
            return a & b
        if op == "diff":
            return a - b
        if op in ("subseteq", "le"):
            return a <= b
        if op in ("subset", "lt"):
            return a < b
        if op in ("supseteq", "ge"):
            return a >= b
        if op in ("supset", "gt"):
            return a > b
        if op == "in":
            return a in b
        if op == "notin":
            return a not in b
        if op == "range":
            return frozenset(range(a, b + 1))
        if op == "concat":
            return a + b
        raise InterpError(f"unknown operator {op}")

    def _IsTag(self, e, vs, ls):  # noqa: N802
        a = self.eval(e.arg, vs, ls)
        t = e.arg.t
        return isinstance(a, RecordValue) and isinstance(t, T.VariantT) and \
            a.tag == t.cases[e.case].name

    def _GetField(self, e, vs, ls):  # noqa: N802
        a = self.eval(e.arg, vs, ls)
        for f, x in a.fields:
            if f == e.name:
                return x
        raise InterpError(f"{show_w(a)} has no field {e.name}")

    def _GetIndex(self, e, vs, ls):  # noqa: N802
        a = self.eval(e.arg, vs, ls)
        k = self.eval(e.key, vs, ls)
        if isinstance(a, FMap):
            return a.get(k)
        if not 1 <= k <= len(a):
            raise InterpError(f"index {k} outside the sequence {show_w(a)}")
        return a[k - 1]

    def _Construct(self, e, vs, ls):  # noqa: N802
        args = [self.eval(a, vs, ls) for a in e.args]
        t = e.t
        if e.case is not None:
            case = t.cases[e.case]
            return RecordValue(case.name, tuple((f, x) for (f, _), x in zip(case.fields, args)))
        return RecordValue(None, tuple((f, x) for (f, _), x in zip(t.fields, args)))

    def _SetLit(self, e, vs, ls):  # noqa: N802
        return frozenset(self.eval(x, vs, ls) for x in e.elems)

    def _SeqLit(self, e, vs, ls):  # noqa: N802
        return tuple(self.eval(x, vs, ls) for x in e.elems)

    def _MapLit(self, e, vs, ls):  # noqa: N802
        keys = self.universe(e.t.key)
        return FMap(tuple(zip(keys, (self.eval(x, vs, ls) for x in e.values))))

    def bindings(self, bindings, vs, ls) -> Iterator[dict[int, Any]]:
        """Every assignment of the bound names (later domains may use earlier names)."""
        if not bindings:
            yield ls
            return
        b, rest = bindings[0], bindings[1:]
        for x in sorted_set(self.eval(b.domain, vs, ls)):
            yield from self.bindings(rest, vs, {**ls, b.local.uid: x})

    def _Quant(self, e, vs, ls):  # noqa: N802
        if e.kind == "forall":
            return all(self.eval(e.body, vs, m) for m in self.bindings(e.bindings, vs, ls))
        return any(self.eval(e.body, vs, m) for m in self.bindings(e.bindings, vs, ls))

    def _SetFilter(self, e, vs, ls):  # noqa: N802
        b = e.binding
        return frozenset(x for x in self.eval(b.domain, vs, ls)
                         if self.eval(e.cond, vs, {**ls, b.local.uid: x}))

    def _SetMap(self, e, vs, ls):  # noqa: N802
        return frozenset(self.eval(e.elem, vs, m) for m in self.bindings(e.bindings, vs, ls)
                         if e.cond is None or self.eval(e.cond, vs, m))

    def _MapComp(self, e, vs, ls):  # noqa: N802
        keys = self.universe(e.t.key)
        uid = e.binding.local.uid
        return FMap(tuple((k, self.eval(e.value, vs, {**ls, uid: k})) for k in keys))

    def _IfExpr(self, e, vs, ls):  # noqa: N802
        return self.eval(e.then if self.eval(e.cond, vs, ls) else e.orelse, vs, ls)

    def _Builtin(self, e, vs, ls):  # noqa: N802
        args = [self.eval(a, vs, ls) for a in e.args]
        name = e.name
        a = args[0]
        if name == "size":
            return len(a)
        if name == "subsets":
            items = sorted_set(a)
            return frozenset(frozenset(c for c, keep in zip(items, mask) if keep)
                             for mask in product((False, True), repeat=len(items)))
        if name == "union":
            out: frozenset = frozenset()
            for s in a:
                out |= s
            return out
        if name in ("min", "max"):
            if not a:
                raise InterpError(f"{name} of the empty set")
            return min(a) if name == "min" else max(a)
        if name == "len":
            return len(a)
        if name in ("head", "last", "tail"):
            if not a:
                raise InterpError(f"{name} of the empty sequence")
            return a[0] if name == "head" else a[-1] if name == "last" else a[1:]
        if name == "append":
            return a + (args[1],)
        if name == "slice":
            lo, hi = args[1], args[2]
            if hi < lo:
                return ()
            if lo < 1 or hi > len(a):
                raise InterpError(f"slice {lo}..{hi} is outside 1..{len(a)}")
            return a[lo - 1:hi]
        if name == "bagsize":
            return sum(n for _, n in a.counts)
        if name == "count":
            return a.count(args[1])
        if name == "put":
            n = a.count(args[1]) + 1
            bt = e.args[0].t
            if isinstance(bt, T.BagT) and n > bt.capacity:
                raise InterpError(f"a bag would hold more than {bt.capacity} copies of one "
                                  "element")
            return a.with_count(args[1], n)
        if name == "take":
            n = a.count(args[1])
            if not n:
                raise InterpError("take: the bag holds no copy of that element")
            return a.with_count(args[1], n - 1)
        raise InterpError(f"unknown builtin {name}")

    def _CallDef(self, e, vs, ls):  # noqa: N802
        inst = self.typed.defs[e.def_id]
        args = [self.eval(a, vs, ls) for a in e.args]
        return self.eval(inst.body, vs, {p.uid: x for p, x in zip(inst.params, args)})

    def _Convert(self, e, vs, ls):  # noqa: N802
        a = self.eval(e.arg, vs, ls)
        t = e.t
        if isinstance(t, T.IntT) and isinstance(a, int) and not t.lo <= a <= t.hi:
            raise InterpError(f"{e.what} = {a} is outside {t.lo}..{t.hi}")
        if isinstance(t, T.SeqT) and isinstance(a, tuple) and len(a) > t.capacity:
            raise InterpError(f"{e.what} would hold {len(a)} elements, more than {t.capacity}")
        return a

    # ------------------------------------------------------------ statements
    def run(self, stmts, vs: dict[int, Any], ls: dict[int, Any]
            ) -> Iterator[tuple[str, Any, dict, dict]]:
        """Every way through ``stmts``: ("ok", None, vars, locals) for a path that
        reaches the end, ("fail", node, vars, locals) for one stopped by a false
        ``require`` (node: the Require), a ``choose`` with nothing to choose (node: the
        Choose), or an evaluation error ("error", message, vars, locals)."""
        yield from self._block(tuple(stmts), vs, ls, ())

    def _block(self, stmts, vs, ls, rest):
        if not stmts:
            if rest:
                yield from self._block(rest[0], vs, ls, rest[1:])
            else:
                yield ("ok", None, vs, ls)
            return
        st, more = stmts[0], stmts[1:]
        cont = ((more,) + rest) if more else rest
        try:
            if isinstance(st, ir.Require):
                if self.eval(st.cond, vs, ls):
                    yield from self._block(more, vs, ls, rest)
                else:
                    yield ("fail", st, vs, ls)
            elif isinstance(st, ir.Let):
                x = self.eval(st.value, vs, ls)
                yield from self._block(more, vs, {**ls, st.local.uid: x}, rest)
            elif isinstance(st, ir.Assign):
                value = self.eval(st.value, vs, ls)
                new = self._update(vs[st.var.slot], st.path, value, vs, ls)
                yield from self._block(more, {**vs, st.var.slot: new}, ls, rest)
            elif isinstance(st, ir.If):
                for c, body in st.branches:
                    if self.eval(c, vs, ls):
                        yield from self._block(tuple(body), vs, ls, cont)
                        return
                yield from self._block(tuple(st.orelse), vs, ls, cont)
            elif isinstance(st, ir.Either):
                for body in st.branches:
                    yield from self._block(tuple(body), vs, ls, cont)
            elif isinstance(st, ir.Choose):
                any_ok = False
                for m in self.bindings(st.bindings, vs, ls):
                    if st.cond is not None and not self.eval(st.cond, vs, m):
                        continue
                    any_ok = True
                    yield from self._block(tuple(st.body), vs, m, cont)
                if not any_ok:
                    yield ("fail", st, vs, ls)
            else:
                yield ("error", f"unknown statement {type(st).__name__}", vs, ls)
        except InterpError as err:
            yield ("error", str(err), vs, ls)

    def _update(self, old, path, value, vs, ls):
        if not path:
            return value
        step, rest = path[0], path[1:]
        if step.kind == "field":
            fields = tuple((f, self._update(x, rest, value, vs, ls) if f == step.name else x)
                           for f, x in old.fields)
            return RecordValue(old.tag, fields)
        k = self.eval(step.key, vs, ls)
        if isinstance(old, FMap):
            return old.set(k, self._update(old.get(k), rest, value, vs, ls))
        if not 1 <= k <= len(old):
            raise InterpError(f"index {k} outside the sequence {show_w(old)}")
        return old[:k - 1] + (self._update(old[k - 1], rest, value, vs, ls),) + old[k:]


def sorted_set(s) -> list:
    """Members in a stable order (by their text) so that explanations are reproducible."""
    if isinstance(s, WBag):
        s = frozenset(s)
    if isinstance(s, frozenset):
        try:
            return sorted(s)
        except TypeError:
            return sorted(s, key=show_w)
    return list(s)


# ------------------------------------------------------------------ pretty printing
def show_expr(e: ir.Expr, univ: Universe, defs=(), top: bool = True) -> str:
    """Spec-like text for an IR expression (constants shown by value)."""
    s = _show(e, univ, defs)
    if top and s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]):
        return s[1:-1]
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _show(e: ir.Expr, univ: Universe, defs) -> str:  # noqa: C901 (one case per node kind)
    def sub(x):
        return _show(x, univ, defs)

    def top(x):
        return show_expr(x, univ, defs)

    if isinstance(e, ir.Const):
        try:
            return format_value(univ.decode(e.t, e.value))
        except Exception:  # noqa: BLE001
            return repr(e.value)
    if isinstance(e, ir.Var):
        return e.name + ("'" if e.primed else "")
    if isinstance(e, ir.Local):
        return e.name
    if isinstance(e, ir.Unop):
        return f"(not {sub(e.arg)})" if e.op == "not" else f"-{sub(e.arg)}"
    if isinstance(e, ir.Binop):
        return f"({sub(e.left)} {_OPS.get(e.op, e.op)} {sub(e.right)})"
    if isinstance(e, ir.IsTag):
        t = e.arg.t
        name = t.cases[e.case].name if isinstance(t, T.VariantT) else str(e.case)
        return f"({sub(e.arg)} is {name})"
    if isinstance(e, ir.GetField):
        return f"{sub(e.arg)}.{e.name}"
    if isinstance(e, ir.GetIndex):
        return f"{sub(e.arg)}[{top(e.key)}]"
    if isinstance(e, ir.Construct):
        if e.case is not None and isinstance(e.t, T.VariantT):
            name = e.t.cases[e.case].name
        else:
            name = getattr(e.t, "name", "")
        if not e.args:
            return name
        return f"{name}({', '.join(top(a) for a in e.args)})"
    if isinstance(e, ir.SetLit):
        return "{" + ", ".join(top(x) for x in e.elems) + "}"
    if isinstance(e, ir.SeqLit):
        return "[" + ", ".join(top(x) for x in e.elems) + "]"
    if isinstance(e, ir.MapLit):
        return "{" + ", ".join(top(x) for x in e.values) + "}"
    if isinstance(e, ir.Quant):
        binds = ", ".join(f"{b.local.name} in {top(b.domain)}" for b in e.bindings)
        return f"({e.kind} {binds}: {top(e.body)})"
    if isinstance(e, ir.SetFilter):
        b = e.binding
        return f"{{{b.local.name} in {top(b.domain)} where " \
               f"{top(e.cond)}}}"
    if isinstance(e, ir.SetMap):
        binds = ", ".join(f"{b.local.name} in {top(b.domain)}" for b in e.bindings)
        cond = f" where {top(e.cond)}" if e.cond is not None else ""
        return f"{{{top(e.elem)} for {binds}{cond}}}"
    if isinstance(e, ir.MapComp):
        b = e.binding
        return f"{{{b.local.name}: {top(e.value)} for {b.local.name} in " \
               f"{top(b.domain)}}}"
    if isinstance(e, ir.IfExpr):
        return f"({sub(e.then)} if {sub(e.cond)} else {sub(e.orelse)})"
    if isinstance(e, ir.Builtin):
        return f"{e.name}({', '.join(top(a) for a in e.args)})"
    if isinstance(e, ir.CallDef):
        inst = defs[e.def_id] if e.def_id < len(defs) else None
        name = inst.name if inst is not None else f"def#{e.def_id}"
        return f"{name}({', '.join(top(a) for a in e.args)})"
    if isinstance(e, ir.Convert):
        return sub(e.arg)
    return type(e).__name__


def conjuncts(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Binop) and e.op == "and":
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]


def _parts(e: ir.Expr) -> list[ir.Expr]:
    """The sub-expressions worth showing the value of, for a false condition."""
    if isinstance(e, ir.Unop) and e.op == "not":
        inner = e.arg
        if isinstance(inner, ir.Quant):
            return [b.domain for b in inner.bindings if not isinstance(b.domain, ir.Const)]
        return _parts(inner)
    if isinstance(e, ir.Binop):
        if e.op in ("and", "or", "implies", "iff"):
            return _parts(e.left) + _parts(e.right)
        return [x for x in (e.left, e.right) if not isinstance(x, ir.Const)]
    if isinstance(e, ir.IsTag):
        return [e.arg]
    if isinstance(e, ir.Quant):
        return [b.domain for b in e.bindings if not isinstance(b.domain, ir.Const)] + \
            _free(e)
    if isinstance(e, (ir.Const,)):
        return []
    return [e]


def _free(e: ir.Expr) -> list[ir.Expr]:
    """The variables and outer names a quantifier's body reads."""
    nodes = list(ir.ir_nodes(e))
    bound = {x.local.uid for x in nodes if isinstance(x, ir.Binding)}
    out, seen = [], set()
    for x in nodes:
        key = ("v", x.slot) if isinstance(x, ir.Var) else ("l", x.uid) \
            if isinstance(x, ir.Local) and x.uid not in bound else None
        if key is not None and key not in seen:
            seen.add(key)
            out.append(x)
    return out


@dataclass(frozen=True)
class FalseCondition:
    text: str                               # the conjunct that is false
    parts: tuple[tuple[str, str], ...]      # (sub-expression, its value)


def explain_false(interp: Interp, cond: ir.Expr, vs, ls) -> list[FalseCondition]:
    """The false conjuncts of ``cond`` with the values of their parts."""
    out = []
    for c in conjuncts(cond):
        try:
            if interp.eval(c, vs, ls):
                continue
        except InterpError as err:
            out.append(FalseCondition(interp.show(c), (("error", str(err)),)))
            continue
        parts = []
        seen = set()
        for p in _parts(c):
            text = interp.show(p)
            if text in seen:
                continue
            seen.add(text)
            try:
                value = interp.show_value(p.t, interp.eval(p, vs, ls))
            except InterpError as err:
                value = f"<{err}>"
            if value != text:
                parts.append((text, value))
        out.append(FalseCondition(interp.show(c), tuple(parts)))
    return out


@dataclass
class Outcome:
    """One way an action ends from one state, with given (or enumerated) arguments."""

    args: dict[str, Any]                  # parameter name -> working value (bound so far)
    kind: str                             # "ok" | "fail" | "choose" | "domain" | "error"
    conditions: tuple[FalseCondition, ...] = ()
    message: str = ""                     # for "domain" and "error"
    line: int = 0                         # the spec line of the failing statement
    vars: dict[int, Any] | None = None    # for "ok": the next state's variables


def explain_action(interp: Interp, action: ir.Action, vs: dict[int, Any],
                   bound: list[Any], unbound: Any, limit: int = 64) -> list[Outcome]:
    """Run ``action`` from the state ``vs`` (slot -> working value) with the parameters in
    ``bound`` (working values, or ``unbound`` to range over the domain); at most
    ``limit`` outcomes."""
    out: list[Outcome] = []

    def go(k: int, ls: dict[int, Any], args: dict[str, Any]) -> None:
        if len(out) >= limit:
            return
        if k == len(action.params):
            for kind, node, vars2, locs2 in interp.run(action.body, vs, ls):
                if len(out) >= limit:
                    return
                if kind == "ok":
                    out.append(Outcome(args, "ok", vars=vars2))
                elif kind == "error":
                    out.append(Outcome(args, "error", message=node))
                elif isinstance(node, ir.Require):
                    out.append(Outcome(args, "fail", tuple(explain_false(interp, node.cond,
                                                                         vars2, locs2)),
                                       line=node.span.line))
                else:  # a choose with nothing to choose
                    binds = ", ".join(f"{b.local.name} in {interp.show(b.domain)}"
                                      for b in node.bindings)
                    where = f" where {interp.show(node.cond)}" if node.cond is not None else ""
                    out.append(Outcome(args, "choose", message=f"choose {binds}{where}: no "
                                       "choice lets the action finish", line=node.span.line))
            return
        b = action.params[k]
        try:
            domain = interp.eval(b.domain, vs, ls)
        except InterpError as err:
            out.append(Outcome(args, "error", message=str(err)))
            return
        given = bound[k] if k < len(bound) else unbound
        if given is unbound and not domain:
            out.append(Outcome(args, "domain", message=f"no value for {b.local.name}: its "
                               f"domain {interp.show(b.domain)} is empty"))
            return
        if given is not unbound:
            if given not in domain:
                shown = interp.show_value(b.domain.t, domain)
                out.append(Outcome({**args, b.local.name: given}, "domain",
                                   message=f"argument {b.local.name} = "
                                           f"{interp.show_value(b.local.t, given)} is not in "
                                           f"its domain {interp.show(b.domain)} = {shown}"))
                return
            go(k + 1, {**ls, b.local.uid: given}, {**args, b.local.name: given})
            return
        for x in sorted_set(domain):
            go(k + 1, {**ls, b.local.uid: x}, {**args, b.local.name: x})

    go(0, {}, {})
    return out
