"""Typed IR to Python source.

Each spec becomes one generated module: a successor function with every action inlined,
one labelled function per action, and one function per invariant. Identifiers in the
generated code are all invented here (``v0``, ``l12``, ``K3``); names and literals from
the spec enter only as data in the constant pool, so a spec cannot run Python code.

Statements compile in continuation-passing style: ``require c`` opens ``if c:`` around
the rest of the action, ``choose`` a ``for`` loop around it, and each alternative of
``either`` (or branch of an ``if`` that must branch) gets its own copy of the rest. Every
assignment binds a fresh local, so alternatives never see each other's writes.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import ir
from . import runtime as rt
from . import types as T
from .optimize import miniscope
from .source import Span
from .universe import Universe, UniverseError, iter_bits

_SCALARS = (int, bool, type(None))


class Pool:
    """Values the generated code refers to by name (tables, constants, messages)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._memo: dict[Any, str] = {}
        # Bound names known to hold one kind of message (by uid): their fields are read
        # at a fixed position. Uids are unique per spec, so this is safe to share.
        self.narrowed: dict[int, int] = {}
        # element_mask's results, by (bound uid, condition, elements considered)
        self.masks: dict[Any, tuple[int, int, int] | None] = {}

    def add(self, value: Any, key: Any = None) -> str:
        if key is not None and key in self._memo:
            return self._memo[key]
        name = f"K{len(self.values)}"
        self.values.append(value)
        if key is not None:
            self._memo[key] = name
        return name

    def namespace(self) -> dict[str, Any]:
        ns: dict[str, Any] = {f"K{i}": v for i, v in enumerate(self.values)}
        ns.update({
            "_members": rt.members, "_imembers": rt.imembers, "_indexed": rt.indexed,
            "_iindexed": rt.iindexed, "_or_all": rt.or_all, "_in_int": rt.in_int,
            "_range": rt.range_mask, "_subsets": rt.subsets, "_union": rt.union,
            "_min": rt.set_min, "_max": rt.set_max, "_seq_at": rt.seq_at, "_seq_pos": rt.seq_pos,
            "_head": rt.head, "_last": rt.last, "_tail": rt.tail, "_chk": rt.check_int,
            "_chkv": rt.check_value, "_chkseq": rt.check_seq, "_nofield": rt.field_missing,
            "_bag_members": rt.bag_members, "_bag_indexed": rt.bag_indexed,
            "_bag_size": rt.bag_size, "_bag_put": rt.bag_put, "_bag_take": rt.bag_take,
            "_slice": rt.seq_slice,
        })
        return ns


class ExprGen:
    """Python expression text for IR expressions, given where each variable lives."""

    def __init__(self, univ: Universe, pool: Pool, defs: tuple[ir.DefInstance, ...],
                 env: dict[int, str], primed: dict[int, str] | None = None, fold: bool = True,
                 enabled: dict[tuple[int, ...], str] | None = None):
        self.univ = univ
        self.pool = pool
        self.defs = defs
        self.env = env
        self.primed = primed or {}
        self.fold = fold
        # a generated function per set of actions whose enabledness is asked (else one
        # ``_en{i}`` per action, or-ed)
        self.enabled = enabled or {}

    def with_env(self, env: dict[int, str]) -> ExprGen:
        return ExprGen(self.univ, self.pool, self.defs, env, self.primed, self.fold,
                       self.enabled)

    # ------------------------------------------------------- packed maps
    def entry_to_value(self, v: T.Type, raw: str) -> str:
        """A packed map entry (an integer) as a value of type ``v``."""
        if isinstance(v, T.BoolT):
            return f"({raw} == 1)"  # a bool, never 1: states must compare and marshal alike
        if isinstance(v, (T.EnumT, T.SymT, T.SetT, T.MapT)):
            return raw
        if isinstance(v, T.IntT):
            return raw if v.lo == 0 else f"({raw} + {v.lo})"
        table = self.pool.add(tuple(self.univ.at(v, i) for i in range(self.univ.size(v))),
                              ("entries", v))
        return f"{table}[{raw}]"

    def value_to_entry(self, v: T.Type, code: str) -> str:
        if isinstance(v, (T.EnumT, T.SymT, T.SetT, T.MapT)):
            return code
        return self.ix(v, code)

    def map_shift(self, mt: T.MapT, key: ir.Expr) -> tuple[str, int | None]:
        """Where a key's entry starts: code, and the number when the key is constant."""
        w = self.univ.entry_width(mt.value)
        if isinstance(key, ir.Const):
            sh = self.univ.index(mt.key, key.value) * w
            return str(sh), sh
        pos = self.ix(mt.key, self.expr(key))
        return (pos if w == 1 else f"({pos} * {w})"), None

    def map_read(self, mt: T.MapT, code: str, key: ir.Expr) -> str:
        w = self.univ.entry_width(mt.value)
        sh, fixed = self.map_shift(mt, key)
        if fixed is not None and isinstance(mt.value, T.BoolT):
            return f"(({code} & {1 << fixed}) != 0)"  # one mask test, still a bool
        raw = f"({code} & {(1 << w) - 1})" if fixed == 0 else \
            f"(({code} >> {sh}) & {(1 << w) - 1})"
        return self.entry_to_value(mt.value, raw)

    def _packed_compare(self, e: ir.Binop) -> str | None:
        """``m[k] == c`` with constant key and value on a packed map: one mask test."""
        for a, b in ((e.left, e.right), (e.right, e.left)):
            if (isinstance(a, ir.GetIndex) and isinstance(a.arg.t, T.MapT)
                    and self.univ.packs(a.arg.t) and isinstance(a.key, ir.Const)
                    and isinstance(b, ir.Const) and T.fits(b.t, a.arg.t.value) is True):
                mt = a.arg.t
                w = self.univ.entry_width(mt.value)
                sh = self.univ.index(mt.key, a.key.value) * w
                want = self.univ.to_entry(mt.value, b.value) << sh
                op = "==" if e.op == "eq" else "!="
                return f"(({self.expr(a.arg)} & {((1 << w) - 1) << sh}) {op} {want})"
        return None

    # -------------------------------------------------------------- helpers
    def const(self, v: Any) -> str:
        if isinstance(v, _SCALARS):
            return repr(v)
        return self.pool.add(v, ("const", v))

    def ix(self, t: T.Type, code: str) -> str:
        """Position of a value of ``t`` in its own universe."""
        if isinstance(t, (T.EnumT, T.SymT)):
            return code
        if isinstance(t, T.IntT):
            return code if t.lo == 0 else f"({code} - {t.lo})"
        if isinstance(t, T.BoolT):
            if FOLD_BOOLEANS and code in ("True", "False"):
                return "1" if code == "True" else "0"
            return f"(1 if {code} else 0)"
        if isinstance(t, T.SetT):
            return code
        table = self.pool.add({v: i for i, v in enumerate(self.univ.table(t))}, ("ix", t))
        return f"{table}[{code}]"

    def bit(self, elem: T.Type, e: ir.Expr) -> str:
        """The bit of ``e`` in a set whose elements have type ``elem``."""
        if isinstance(e, ir.Const):
            return repr(self.univ.bit(elem, e.value))
        if isinstance(e, ir.Construct) and isinstance(elem, (T.VariantT, T.RecordT)):
            return self._construct_bit(elem, e)
        code = self.expr(e)
        if isinstance(elem, T.IntT):
            base = self.univ.int_base
            return code if base == 0 else f"({code} - {base})"
        return self.ix(elem, code)

    def _construct_bit(self, t: T.Type, e: ir.Construct) -> str:
        if isinstance(t, T.VariantT):
            assert e.case is not None
            fields = t.cases[e.case].fields
            offset = sum(self.univ.size(c) for c in t.cases[: e.case])
        else:
            fields, offset = t.fields, 0
        if all(isinstance(arg, ir.Const) for arg in e.args):  # a constant element
            position, stride = offset, 1
            for (_, ft), arg in reversed(list(zip(fields, e.args))):
                position += self.univ.index(ft, arg.value) * stride
                stride *= self.univ.size(ft)
            return str(position)
        terms = [str(offset)] if offset else []
        stride = 1
        for (_, ft), arg in reversed(list(zip(fields, e.args))):
            pos = repr(self.univ.index(ft, arg.value)) if isinstance(arg, ir.Const) else \
                self.ix(ft, self.expr(arg))
            terms.append(pos if stride == 1 else f"{pos} * {stride}")
            stride *= self.univ.size(ft)
        return "(" + " + ".join(terms or ["0"]) + ")"

    def narrow(self, binding: ir.Binding, conds) -> int | None:
        """If ``conds`` (conditions that must hold for the bound name) say which kind of
        message it is, restrict iteration to that kind's bits; returns the bit mask."""
        elem = binding.domain.t.elem if isinstance(binding.domain.t, T.SetT) else None
        if not isinstance(elem, T.VariantT):
            return None
        for c in conds:
            for x in conjuncts(c):
                if (isinstance(x, ir.IsTag) and isinstance(x.arg, ir.Local)
                        and x.arg.uid == binding.local.uid):
                    self.pool.narrowed[binding.local.uid] = x.case
                    offset = sum(self.univ.size(k) for k in elem.cases[: x.case])
                    return ((1 << self.univ.size(elem.cases[x.case])) - 1) << offset
        return None

    def domain(self, dom: ir.Expr, with_bits: bool = False, mask: int | None = None) -> str:
        """Code for an iterable over the members of a set (with their bits if asked),
        only those under ``mask`` if given."""
        if isinstance(dom.t, T.BagT):
            elem = dom.t.elem
            table = self.pool.add(self.univ.table(elem) if not isinstance(elem, T.IntT) else
                                  [self.univ.at_bit(elem, b) for b in range(self.univ.bits(elem))],
                                  ("bagtable", elem))
            fn = "_bag_indexed" if with_bits else "_bag_members"
            return f"{fn}({self.expr(dom)}, {self.univ.bag_width(dom.t)}, {table})"
        assert isinstance(dom.t, T.SetT)
        elem = dom.t.elem
        if mask is not None:
            if isinstance(dom, ir.Const):
                dom = ir.Const(dom.value & mask, dom.t)
            else:
                low = (mask & -mask).bit_length() - 1
                span = (mask >> low).bit_length()
                if span <= _LOOKUP_BITS:
                    # a few possible elements (one message kind): the members of every
                    # subset, listed once here; one index per state
                    values = self.univ.table(elem)
                    fn = rt.indexed if with_bits else rt.members
                    lut = tuple(tuple(fn((m << low) & mask, values)) for m in range(1 << span))
                    name = self.pool.add(lut, ("lookup", with_bits, elem, mask))
                    return f"{name}[({self.expr(dom)} & {mask}) >> {low}]"
                table = self.pool.add(self.univ.table(elem), ("table", elem))
                fn = "_indexed" if with_bits else "_members"
                return f"{fn}({self.expr(dom)} & {mask}, {table})"
        if isinstance(dom, ir.Const):
            from .universe import iter_bits

            bits = list(iter_bits(dom.value))
            if with_bits:
                items = tuple((1 << b, self.univ.at_bit(elem, b)) for b in bits)
            else:
                items = tuple(self.univ.at_bit(elem, b) for b in bits)
            return self.pool.add(items, ("dom", with_bits, elem, dom.value))
        code = self.expr(dom)
        if isinstance(elem, T.IntT):
            fn = "_iindexed" if with_bits else "_imembers"
            return f"{fn}({code}, {self.univ.int_base})"
        table = self.pool.add(self.univ.table(elem), ("table", elem))
        return f"{'_indexed' if with_bits else '_members'}({code}, {table})"

    def element_mask(self, b: ir.Binding, cond: ir.Expr, conds
                     ) -> tuple[int, int, int] | None:
        """When ``cond`` depends on nothing but the element ``b`` binds (and constants),
        and ``b`` ranges over a set: the bits of the elements satisfying it, among those
        that narrowing leaves (``within``), as ``(true, within, raises)``, computed once
        here; ``raises``: the elements on which evaluating ``cond`` fails (a field the
        message lacks...). A filter or quantifier over the set is then one mask
        operation per state, or the loop as before when the set holds an element of
        ``raises`` (so that the same error is reported). None when it does not apply."""
        dt = b.domain.t
        if not isinstance(dt, T.SetT) or isinstance(dt.elem, T.AnyT):
            return None
        uid = b.local.uid
        if not _element_only(cond, uid, self.defs):
            return None
        try:
            n = self.univ.bits(dt.elem)
        except UniverseError:
            return None
        if n > MASK_ELEMENTS:
            return None
        within = self.narrow(b, conds)
        if within is None:
            within = (1 << n) - 1
        key = ("elemmask", uid, cond, within)
        memo = self.pool.masks
        if key in memo:
            return memo[key]
        result = None
        try:
            holds = _predicate(cond, uid, self.univ, self.defs)
            true = raises = 0
            for bit in iter_bits(within):
                value = self.univ.at_bit(dt.elem, bit)
                try:
                    if holds(value):
                        true |= 1 << bit
                except Exception:  # noqa: BLE001 (left to run time)
                    raises |= 1 << bit
            if raises != within:
                result = (true, within, raises)
        except Exception:  # noqa: BLE001 (left to run time)
            result = None
        memo[key] = result
        return result

    def loops(self, bindings: tuple[ir.Binding, ...], conds=()) -> str:
        return " ".join(
            f"for l{b.local.uid} in {self.domain(b.domain, False, self.narrow(b, conds))}"
            for b in bindings)

    # ----------------------------------------------------------- dispatch
    def expr(self, e: ir.Expr) -> str:
        if self.fold and isinstance(e, _FOLDABLE) and ir.is_constant(e, self.defs):
            try:
                value = evaluate_constant(e, self.univ, self.defs)
            except Exception:  # leave it to run time (it may never be evaluated)
                value = _NOT_FOLDED
            if value is not _NOT_FOLDED:
                return self.const(value)
        method = getattr(self, "_" + type(e).__name__)
        return method(e)

    def _Const(self, e: ir.Const) -> str:
        return self.const(e.value)

    def _Var(self, e: ir.Var) -> str:
        return (self.primed if e.primed else self.env)[e.slot]

    def _Local(self, e: ir.Local) -> str:
        return f"l{e.uid}"

    def _Unop(self, e: ir.Unop) -> str:
        a = self.expr(e.arg)
        if e.op == "not" and FOLD_BOOLEANS and a in ("True", "False"):
            return "False" if a == "True" else "True"
        return f"(not {a})" if e.op == "not" else f"(-{a})"

    _SIMPLE = {"and": "and", "or": "or", "eq": "==", "ne": "!=", "lt": "<", "le": "<=",
               "gt": ">", "ge": ">=", "add": "+", "sub": "-", "mul": "*", "div": "//",
               "mod": "%", "union": "|", "inter": "&"}

    def _Binop(self, e: ir.Binop) -> str:
        op = e.op
        if op in ("in", "notin"):
            test = self._member(e.left, e.right)
            return f"(not {test})" if op == "notin" else test
        if op in ("eq", "ne"):
            packed = self._packed_compare(e)
            if packed is not None:
                return packed
        a, b = self.expr(e.left), self.expr(e.right)
        if op in ("and", "or", "implies") and FOLD_BOOLEANS:
            folded = _fold_connective(op, a, b)
            if folded is not None:
                return folded
        if op in self._SIMPLE:
            return f"({a} {self._SIMPLE[op]} {b})"
        if op == "implies":
            return f"(not {a} or {b})"
        if op == "iff":
            return f"((not {a}) == (not {b}))"
        if op == "diff":
            return f"({a} & ~{b})"
        if op == "subseteq":
            return f"(not ({a} & ~{b}))"
        if op == "supseteq":
            return f"(not ({b} & ~{a}))"
        if op == "subset":
            return f"({a} != {b} and not ({a} & ~{b}))"
        if op == "supset":
            return f"({a} != {b} and not ({b} & ~{a}))"
        if op == "range":
            return f"_range({a}, {b}, {self.univ.int_base})"
        raise AssertionError(f"unknown operator {op}")

    def _member(self, x: ir.Expr, s: ir.Expr) -> str:
        if isinstance(s.t, T.BagT):
            w = self.univ.bag_width(s.t)
            pos = self.bit(s.t.elem, x)
            return f"(({self.expr(s)} >> ({pos} * {w})) & {(1 << w) - 1} != 0)"
        assert isinstance(s.t, T.SetT)
        elem = s.t.elem
        sc = self.expr(s)
        if isinstance(elem, T.AnyT):
            return "False"
        if isinstance(elem, T.IntT) and isinstance(x.t, T.IntT) and x.t.lo < self.univ.int_base:
            return f"_in_int({sc}, {self.expr(x)}, {self.univ.int_base})"
        if isinstance(x.t, T.OptionT) and not isinstance(elem, T.OptionT):
            xc = self.expr(x)
            return f"({xc} is not None and ({sc} >> {self.ix(elem, xc)}) & 1 == 1)"
        bit = self.bit(elem, x)
        if bit.strip("()").isdigit():  # a constant element: one mask test
            return f"(({sc} & {1 << int(bit.strip('()'))}) != 0)"
        return f"(({sc} >> {bit}) & 1 == 1)"

    def _IsTag(self, e: ir.IsTag) -> str:
        if isinstance(e.arg, ir.Local) and self.pool.narrowed.get(e.arg.uid) == e.case:
            return "True"
        return f"({self.expr(e.arg)}[0] == {e.case})"

    def _GetField(self, e: ir.GetField) -> str:
        a = self.expr(e.arg)
        t = e.arg.t
        if isinstance(t, T.RecordT):
            return f"{a}[{t.field_index(e.name)}]"
        assert isinstance(t, T.VariantT)
        if isinstance(e.arg, ir.Local) and e.arg.uid in self.pool.narrowed:
            pos = t.cases[self.pool.narrowed[e.arg.uid]].field_index(e.name)
            if pos is not None:
                return f"{a}[{pos + 1}]"
        positions = [c.field_index(e.name) for c in t.cases]
        if len(set(positions)) == 1 and positions[0] is not None:
            return f"{a}[{positions[0] + 1}]"
        table = self.pool.add(tuple(p + 1 if p is not None else 1 << 20 for p in positions),
                              ("fieldpos", t, e.name))
        return f"(lambda m: m[{table}[m[0]]])({a})" if not _is_name(a) else f"{a}[{table}[{a}[0]]]"

    def _GetIndex(self, e: ir.GetIndex) -> str:
        a = self.expr(e.arg)
        if isinstance(e.arg.t, T.SeqT):
            return f"_seq_at({a}, {self.expr(e.key)})"
        assert isinstance(e.arg.t, T.MapT)
        if self.univ.packs(e.arg.t):
            return self.map_read(e.arg.t, a, e.key)
        return f"{a}[{self.ix(e.arg.t.key, self.expr(e.key))}]"

    def _Construct(self, e: ir.Construct) -> str:
        parts = [self.expr(a) for a in e.args]
        if e.case is not None:
            parts.insert(0, str(e.case))
        if all(isinstance(a, ir.Const) for a in e.args):
            value = tuple(([e.case] if e.case is not None else [])
                          + [a.value for a in e.args])
            return self.const(value)
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def _SetLit(self, e: ir.SetLit) -> str:
        if not e.elems:
            return "0"
        assert isinstance(e.t, T.SetT)
        return "(" + " | ".join(f"(1 << {self.bit(e.t.elem, x)})" for x in e.elems) + ")"

    def _SeqLit(self, e: ir.SeqLit) -> str:
        parts = [self.expr(x) for x in e.elems]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def _MapLit(self, e: ir.MapLit) -> str:
        assert isinstance(e.t, T.MapT)
        if self.univ.packs(e.t):
            w = self.univ.entry_width(e.t.value)
            return "(" + " | ".join(f"({self.value_to_entry(e.t.value, self.expr(x))} << {i * w})"
                                    for i, x in enumerate(e.values)) + ")"
        parts = [self.expr(x) for x in e.values]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def _Quant(self, e: ir.Quant) -> str:
        smaller = miniscope(e)
        if smaller is not e:
            return self.expr(smaller)
        combos = small_product(self.univ, e.bindings, UNROLL_QUANT)
        if combos is not None:
            if not combos:
                return "True" if e.kind == "forall" else "False"
            parts = [ir.substitute(e.body, m) for m in combos]
            mask = self._constant_members(parts)
            if mask is not None:  # `forall a in q: P2b(a, b, v) in msgs`: one mask test
                sc, bits = mask
                return (f"(({sc} & {bits}) == {bits})" if e.kind == "forall"
                        else f"(({sc} & {bits}) != 0)")
            joiner = " and " if e.kind == "forall" else " or "
            return "(" + joiner.join(self.expr(p) for p in parts) + ")"
        if len(e.bindings) == 1:
            b = e.bindings[0]
            conds = (e.body,) if e.kind == "exists" else (_antecedent(e.body),)
            masks = self.element_mask(b, e.body, conds)
            if masks is not None:
                true, within, raises = masks
                dom = self.expr(b.domain)
                if e.kind == "exists":
                    fast = f"(({dom} & {true}) != 0)"
                else:
                    fast = f"(({dom} & {within & ~true}) == 0)"
                if not raises:
                    return fast
                return f"({fast} if not ({dom} & {raises}) else {self._quant_loop(e)})"
        return self._quant_loop(e)

    def _constant_members(self, parts: list[ir.Expr]) -> tuple[str, int] | None:
        """When every part is ``x in S`` with the same set ``S`` and a constant element
        ``x``: the code for ``S`` and the mask of the elements' bits (else None)."""
        first = parts[0]
        if not (isinstance(first, ir.Binop) and first.op == "in"
                and isinstance(first.right.t, T.SetT)):
            return None
        elem = first.right.t.elem
        if isinstance(elem, (T.AnyT, T.IntT, T.OptionT)):
            return None
        bits = 0
        for p in parts:
            if not (isinstance(p, ir.Binop) and p.op == "in" and p.right == first.right
                    and isinstance(p.left, (ir.Const, ir.Construct))
                    and not isinstance(p.left.t, T.OptionT)):
                return None
            bit = self.bit(elem, p.left)
            if not bit.isdigit():
                return None
            bits |= 1 << int(bit)
        return self.expr(first.right), bits

    def _quant_loop(self, e: ir.Quant) -> str:
        fn = "all" if e.kind == "forall" else "any"
        if e.kind == "exists":
            loops = self.loops(e.bindings, (e.body,))
        else:  # forall x: not P or Q, i.e. P implies Q: only x satisfying P matter
            loops = self.loops(e.bindings, (_antecedent(e.body),))
        return f"{fn}({self.expr(e.body)} {loops})"

    def _SetFilter(self, e: ir.SetFilter) -> str:
        b = e.binding
        masks = self.element_mask(b, e.cond, (e.cond,))
        dom = self.domain(b.domain, True, self.narrow(b, (e.cond,)))
        loop = f"sum(_b for _b, l{b.local.uid} in {dom} if {self.expr(e.cond)})"
        if masks is None:
            return loop
        code = self.expr(b.domain)
        if not masks[2]:
            return f"({code} & {masks[0]})"
        return f"(({code} & {masks[0]}) if not ({code} & {masks[2]}) else {loop})"

    def _SetMap(self, e: ir.SetMap) -> str:
        assert isinstance(e.t, T.SetT)
        cond = f" if {self.expr(e.cond)}" if e.cond is not None else ""
        loops = self.loops(e.bindings, (e.cond,) if e.cond is not None else ())
        return f"_or_all(1 << {self.bit(e.t.elem, e.elem)} {loops}{cond})"

    def _MapComp(self, e: ir.MapComp) -> str:
        assert isinstance(e.t, T.MapT)
        keys = self.pool.add(tuple(self.univ.table(e.t.key)), ("keys", e.t.key))
        uid = e.binding.local.uid
        if self.univ.packs(e.t):
            w = self.univ.entry_width(e.t.value)
            entry = self.value_to_entry(e.t.value, self.expr(e.value))
            return f"sum({entry} << ({w} * _i) for _i, l{uid} in enumerate({keys}))"
        return f"tuple({self.expr(e.value)} for l{uid} in {keys})"

    def _IfExpr(self, e: ir.IfExpr) -> str:
        return f"({self.expr(e.then)} if {self.expr(e.cond)} else {self.expr(e.orelse)})"

    def _Builtin(self, e: ir.Builtin) -> str:
        args = [self.expr(a) for a in e.args]
        base = self.univ.int_base
        name = e.name
        if name == "size":
            return f"({args[0]}).bit_count()"
        if name in ("min", "max"):
            return f"_{name}({args[0]}, {base})"
        if name in ("subsets", "union", "head", "last", "tail"):
            return f"_{name}({args[0]})"
        if name == "len":
            return f"len({args[0]})"
        if name == "append":
            return f"({args[0]} + ({args[1]},))"
        if name == "slice":
            return f"_slice({args[0]}, {args[1]}, {args[2]})"
        if name in ("bagsize", "put", "take", "count"):
            bt = e.args[0].t
            assert isinstance(bt, T.BagT)
            w = self.univ.bag_width(bt)
            if name == "bagsize":
                return f"_bag_size({args[0]}, {w})"
            pos = self.bit(bt.elem, e.args[1])
            if name == "count":
                return f"(({args[0]} >> ({pos} * {w})) & {(1 << w) - 1})"
            what = self.pool.add(f"a {bt}", ("what", f"a {bt}"))
            element = self.pool.add(
                lambda b, t=bt.elem: _show(self.univ, t, self.univ.at_bit(t, b)),
                ("element", bt.elem))
            if name == "take":
                return f"_bag_take({args[0]}, {pos}, {w}, {what}, {element})"
            return f"_bag_put({args[0]}, {pos}, {w}, {bt.capacity}, {what}, {element})"
        raise AssertionError(name)

    def _CallDef(self, e: ir.CallDef) -> str:
        inst = self.defs[e.def_id]
        if e.args and all(isinstance(a, ir.Const) for a in e.args) and \
                sum(1 for _ in ir.ir_nodes(inst.body)) <= INLINE_DEF_NODES:
            # `chosen(v1)` with v1 unrolled to a constant: the body specialised to it,
            # so that its tests fold (bit positions, masks) and no call is made
            return self.expr(ir.substitute(
                inst.body, {p.uid: a for p, a in zip(inst.params, e.args)}))
        args = [self.expr(a) for a in e.args] + [self.env[s] for s in inst.reads]
        return f"d{e.def_id}({', '.join(args)})"

    def _FaultsTaken(self, e: ir.FaultsTaken) -> str:
        # (the counter is in the state only under a budget with faults switched on)
        return self.env.get(e.slot, "0")

    def _Enabled(self, e: ir.Enabled) -> str:
        if not e.actions:
            return "False"
        if e.actions in self.enabled:
            return f"{self.enabled[e.actions]}(s)"
        return "(" + " or ".join(f"_en{i}(s)" for i in e.actions) + ")"

    def _Convert(self, e: ir.Convert) -> str:
        a = self.expr(e.arg)
        what = self.pool.add(e.what, ("what", e.what))
        t = e.t
        if isinstance(t, T.IntT) and not isinstance(e.arg.t, T.OptionT):
            return f"_chk({a}, {t.lo}, {t.hi}, {what})"
        valid = self.pool.add(validator(self.univ, t), ("valid", t))
        show = self.pool.add(lambda v, t=t: _show(self.univ, t, v), ("show", t))
        if isinstance(t, T.SeqT):
            return f"_chkseq({a}, {t.capacity}, {valid}, {what}, {show})"
        if isinstance(t, T.MapT) and isinstance(e.arg.t, T.MapT):
            conv = self.pool.add(map_converter(self.univ, e.arg.t, t), ("conv", e.arg.t, t))
            return f"_chkv({conv}({a}), {valid}, {what}, {show})"
        return f"_chkv({a}, {valid}, {what}, {show})"


_LOOKUP_BITS = 10     # iterating a kind of at most this many elements: a lookup table
_MAX_SPLIT_DEPTH = 40  # a require's conjuncts become nested ifs up to this indentation
UNROLL_QUANT = 64    # quantifiers over at most this many constant combinations are unrolled
UNROLL_PARAMS = 64   # likewise action parameters
UNROLL_CHOOSE = 16   # likewise choose
_FOLDABLE = (ir.MapComp, ir.MapLit, ir.Builtin, ir.SetFilter, ir.SetMap, ir.Quant, ir.Binop,
             ir.CallDef, ir.SetLit, ir.IfExpr, ir.Unop, ir.GetIndex, ir.GetField, ir.Convert)
_NOT_FOLDED = object()


def conjuncts(e: ir.Expr):
    if isinstance(e, ir.Binop) and e.op == "and":
        yield from conjuncts(e.left)
        yield from conjuncts(e.right)
    else:
        yield e


def _antecedent(e: ir.Expr) -> ir.Expr:
    if isinstance(e, ir.Binop) and e.op == "implies":
        return e.left
    return ir.Const(True, T.BOOL)


def leading_conditions(stmts) -> list[ir.Expr]:
    """The conditions of the requires an action or choose body starts with."""
    out = []
    for st in stmts:
        if not isinstance(st, ir.Require):
            break
        out.append(st.cond)
    return out


def small_product(univ: Universe, bindings, limit: int) -> list[dict[int, ir.Expr]] | None:
    """Every assignment of constants to the bound names, if all domains are constant and
    there are at most ``limit`` combinations; otherwise None."""
    from .universe import iter_bits

    domains = []
    total = 1
    for b in bindings:
        if not isinstance(b.domain, ir.Const) or not isinstance(b.domain.t, T.SetT):
            return None
        elem = b.domain.t.elem
        members = [ir.Const(univ.at_bit(elem, bit), b.local.t)
                   for bit in iter_bits(b.domain.value)]
        total *= len(members)
        if total > limit:
            return None
        domains.append((b.local.uid, members))
    return [dict(zip([uid for uid, _ in domains], combo))
            for combo in itertools.product(*(m for _, m in domains))]


def _show(univ: Universe, t: T.Type, v: Any) -> str:
    from .values import format_value

    if v is None:
        return "none"
    if isinstance(v, _Unfit):
        return "a map with a value outside the type"
    try:
        return format_value(univ.decode(t, v))
    except Exception:
        return repr(v)


def _is_name(code: str) -> bool:
    return code.isidentifier()


def validator(univ: Universe, t: T.Type):
    """A predicate telling whether a packed value belongs to ``t`` (used where the checker
    could not prove it statically: integer ranges, sequence bounds)."""
    if isinstance(t, T.IntT):
        return lambda v: v is not None and t.lo <= v <= t.hi
    if isinstance(t, (T.EnumT, T.SymT, T.BoolT, T.RecordT, T.VariantT)):
        inner_check = _validator_compound(univ, t)
        return lambda v: v is not None and inner_check(v)
    if isinstance(t, T.OptionT):
        inner = validator(univ, t.inner)
        return lambda v: v is None or inner(v)
    if isinstance(t, T.SetT):
        if isinstance(t.elem, T.IntT):
            lo, hi = t.elem.lo - univ.int_base, t.elem.hi - univ.int_base
            return lambda v: v >> (hi + 1) == 0 and v & ((1 << lo) - 1) == 0
        return lambda v: v >> univ.bits(t.elem) == 0
    if isinstance(t, T.MapT):
        inner = validator(univ, t.value)
        return lambda v: not isinstance(v, _Unfit) and all(inner(x) for x in
                                                           univ.map_entries(t, v))
    if isinstance(t, T.SeqT):
        inner = validator(univ, t.elem)
        return lambda v: len(v) <= t.capacity and all(inner(x) for x in v)
    if isinstance(t, T.BagT):
        return lambda v: all(n <= t.capacity for _, n in univ.bag_counts(t, v))
    return lambda v: True


def map_converter(univ: Universe, source: T.MapT, target: T.MapT):
    """Re-pack a map of type ``source`` as one of type ``target`` (same keys). Entry
    values are the same Python values whatever their static type, except packed maps,
    which are converted recursively. A value that does not fit is left for the
    validator to report."""
    inner = None
    if isinstance(source.value, T.MapT) and isinstance(target.value, T.MapT):
        inner = map_converter(univ, source.value, target.value)

    def convert(v):
        entries = univ.map_entries(source, v)
        if inner is not None:
            entries = [inner(x) for x in entries]
        if univ.packs(target):
            w = univ.entry_width(target.value)
            size = univ.size(target.value)
            out = 0
            for i, x in enumerate(entries):
                try:
                    code = univ.to_entry(target.value, x)
                except Exception:  # noqa: BLE001 (reported by the validator below)
                    return _Unfit(v)
                if not 0 <= code < max(size, 1 << w) or code >= (1 << w):
                    return _Unfit(v)
                out |= code << (i * w)
            return out
        return tuple(entries)
    return convert


class _Unfit:
    """A map value that does not fit its target type (the validator rejects it)."""

    def __init__(self, original):
        self.original = original


def _validator_compound(univ: Universe, t: T.Type):
    if isinstance(t, T.RecordT):
        checks = [validator(univ, ft) for _, ft in t.fields]
        return lambda v: all(c(x) for c, x in zip(checks, v))
    if isinstance(t, T.VariantT):
        cases = [[validator(univ, ft) for _, ft in c.fields] for c in t.cases]
        return lambda v: all(c(x) for c, x in zip(cases[v[0]], v[1:]))
    return lambda v: True


_IDENT = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_ASSIGN = re.compile(r"([A-Za-z_][\w, ]*?) = ")


def _targets(text: str) -> list[str]:
    """The names a generated statement line binds (assignment or ``for`` targets)."""
    if text.startswith("for "):
        return [x.strip() for x in text[4:text.index(" in ")].split(",")]
    m = _ASSIGN.match(text)
    return [x.strip() for x in m.group(1).split(",")] if m else []


class Lines:
    """Generated source, line by line. An ``if`` line identical to its previous sibling
    (the last line at the same indentation, with nothing shallower since) is merged into
    it, when the statements in between (its body) bind none of the names it tests: the
    unrolled copies of an action then test a shared guard once, not once per copy
    (``if tmState == init:`` over every ``TMRcvPrepared(r)``). Order is unchanged."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # where in the spec each line comes from (the statement or the property it
        # computes; None for plumbing), so that a run-time error can point at it
        self.span: Span | None = None
        self.spans: list[Span | None] = []
        # indent -> (index of the last line at that indent, names bound in its body
        # since), for the lines still open (no shallower line added after them)
        self._open: dict[int, tuple[int, set[str]]] = {}

    def add(self, indent: int, text: str) -> None:
        line = "    " * indent + text
        is_if = text.startswith("if ") and text.endswith(":")
        if is_if:
            prev = self._open.get(indent)
            if prev is not None and self.lines[prev[0]] == line and \
                    prev[1].isdisjoint(_IDENT.findall(text[3:])):
                return  # what follows goes on in the previous copy's body
        for k in [k for k in self._open if k >= indent]:
            del self._open[k]
        bound = _targets(text)
        if bound:
            for _, names in self._open.values():
                names.update(bound)
        self._open[indent] = (len(self.lines), set())
        self.lines.append(line)
        self.spans.append(self.span)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def def_functions(defs, univ: Universe, pool: Pool, out: Lines) -> None:
    for d in defs:
        env = {s: f"v{s}" for s in d.reads}
        gen = ExprGen(univ, pool, tuple(defs), env)
        params = [f"l{p.uid}" for p in d.params] + [f"v{s}" for s in d.reads]
        out.add(0, f"def d{d.uid}({', '.join(params)}):")
        out.span = d.body.span
        out.add(1, f"return {gen.expr(d.body)}")
        out.span = None


FOLD_BOOLEANS = True   # `True and x` is `x`, `not True` is `False`... (tests turn it off)


def _fold_connective(op: str, a: str, b: str) -> str | None:
    """``a op b`` without a constant operand, where dropping it changes nothing: an
    operand is only dropped when it is a constant (never an expression that could raise)
    or when the other one is evaluated anyway and decides alike (``x and True`` is ``x``
    for a boolean ``x``)."""
    if op == "and":
        if a == "True" or b == "True":
            return b if a == "True" else a
        if a == "False":
            return "False"
    elif op == "or":
        if a == "False" or b == "False":
            return b if a == "False" else a
        if a == "True":
            return "True"
    else:  # implies
        if a == "True":
            return b
        if a == "False":
            return "True"
    return None


INLINE_DEF_NODES = 80  # a def body of at most this many IR nodes is inlined for
                       # constant arguments

MASK_ELEMENTS = 4096  # element-only filters over sets of at most this many elements fold


def _element_only(e: ir.Expr, uid: int, defs) -> bool:
    """Reads no state: only the bound name ``uid``, names bound inside, constants."""
    nodes = list(ir.ir_nodes(e))
    bound = {x.local.uid for x in nodes if isinstance(x, ir.Binding)} | {uid}
    return not any(
        isinstance(x, (ir.Var, ir.Enabled, ir.FaultsTaken))
        or (isinstance(x, ir.Local) and x.uid not in bound)
        or (isinstance(x, ir.CallDef) and defs[x.def_id].reads)
        for x in nodes)


@contextmanager
def long_int_literals() -> Iterator[None]:
    """Generated code spells sets and maps as integer literals, thousands of digits long
    for large constants (Raft with terms 0..4 and logs of 3); Python 3.11 refuses to turn
    integers of over 4,300 digits into text and back, a guard against slow parsing of
    untrusted input, which generated code is not."""
    get = getattr(sys, "get_int_max_str_digits", None)
    if get is None:
        yield
        return
    before = get()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


def _predicate(cond: ir.Expr, uid: int, univ: Universe, defs):
    """``cond`` as a Python function of the element bound to ``uid`` (compiled by the
    same code generator, so it means exactly what the code it replaces means)."""
    pool = Pool()
    out = Lines()
    with long_int_literals():
        def_functions([d for d in defs if not d.reads], univ, pool, out)
        out.add(0, f"def _pred(l{uid}):")
        out.add(1, f"return {ExprGen(univ, pool, tuple(defs), {}).expr(cond)}")
        ns = pool.namespace()
        exec(compile(out.text(), "<predicate>", "exec"), ns)  # noqa: S102 (generated code)
    return ns["_pred"]


def evaluate_constant(e: ir.Expr, univ: Universe, defs) -> Any:
    """Evaluate a state-independent expression (used by the type checker to fold
    constants), through the same code generator as everything else."""
    pool = Pool()
    out = Lines()
    with long_int_literals():
        def_functions([d for d in defs if not d.reads], univ, pool, out)
        out.add(0, f"_result = {ExprGen(univ, pool, tuple(defs), {}, fold=False).expr(e)}")
        ns = pool.namespace()
        exec(compile(out.text(), "<constant>", "exec"), ns)  # noqa: S102 (generated code)
    return ns["_result"]


class StmtGen:
    """Compiles statement blocks; ``finish`` writes what happens at the end of a path."""

    def __init__(self, univ: Universe, pool: Pool, defs, out: Lines, finish):
        self.univ = univ
        self.pool = pool
        self.defs = tuple(defs)
        self.out = out
        self.finish = finish
        self.fresh = itertools.count()

    def gen(self, env: dict[int, str]) -> ExprGen:
        return ExprGen(self.univ, self.pool, self.defs, env)

    def block(self, stmts, env: dict[int, str], ind: int, rest: tuple = ()) -> None:
        if not stmts:
            if rest:
                self.block(rest[0], env, ind, rest[1:])
            else:
                self.out.span = None
                self.finish(env, ind)
            return
        st, more = stmts[0], tuple(stmts[1:])
        self.out.span = st.span
        cont = ((more,) + rest) if more else rest
        g = self.gen(env)
        if isinstance(st, ir.Require):
            if isinstance(st.cond, ir.Const) and st.cond.value is True:
                self.block(more, env, ind, rest)
                return
            # One `if` per conjunct (the same tests, in the same order): the unrolled
            # copies of an action then share their leading tests (see Lines).
            parts = list(conjuncts(st.cond))
            if len(parts) == 1 or ind + len(parts) > _MAX_SPLIT_DEPTH:
                parts = [st.cond]
            for c in parts:
                code = g.expr(c)
                if code == "True":  # e.g. a variable the compiler found never changes
                    continue
                self.out.add(ind, f"if {code}:")
                ind += 1
            self.block(more, env, ind, rest)
        elif isinstance(st, ir.Let):
            self.out.add(ind, f"l{st.local.uid} = {g.expr(st.value)}")
            self.block(more, env, ind, rest)
        elif isinstance(st, ir.Assign):
            name = f"n{st.var.slot}_{next(self.fresh)}"
            code = self.updated(g, env.get(st.var.slot, ""), st.path, st.value, ind)
            self.out.add(ind, f"{name} = {code}")
            self.block(more, {**env, st.var.slot: name}, ind, rest)
        elif isinstance(st, ir.If):
            if cont and all(_straight(b) for _, b in st.branches) and _straight(st.orelse):
                self._if_merge(st, env, ind, cont)
                return
            for i, (c, body) in enumerate(st.branches):
                self.out.add(ind, f"{'if' if i == 0 else 'elif'} {g.expr(c)}:")
                self.block(body, env, ind + 1, cont)
            self.out.add(ind, "else:")
            self.block(st.orelse, env, ind + 1, cont)
        elif isinstance(st, ir.Either):
            for body in st.branches:
                self.block(body, env, ind, cont)
        elif isinstance(st, ir.Choose) and small_product(self.univ, st.bindings,
                                                         UNROLL_CHOOSE) is not None:
            for m in small_product(self.univ, st.bindings, UNROLL_CHOOSE):
                body = ir.substitute(st.body, m)
                if st.cond is not None:
                    self.out.add(ind, f"if {g.expr(ir.substitute(st.cond, m))}:")
                    self.block(body, env, ind + 1, cont)
                else:
                    self.block(body, env, ind, cont)
        elif isinstance(st, ir.Choose):
            conds = ([st.cond] if st.cond is not None else []) + leading_conditions(st.body)
            for b in st.bindings:
                dom = g.domain(b.domain, False, g.narrow(b, conds))
                self.out.add(ind, f"for l{b.local.uid} in {dom}:")
                ind += 1
            if st.cond is not None:
                self.out.add(ind, f"if {g.expr(st.cond)}:")
                ind += 1
            self.block(st.body, env, ind, cont)
        else:
            raise AssertionError(f"unknown statement {st}")

    def _if_merge(self, st: ir.If, env: dict[int, str], ind: int, cont: tuple) -> None:
        """An ``if`` whose branches only assign: merge the branches' writes into fresh
        names, so the rest of the action is generated once, not once per branch."""
        written = sorted({s.var.slot for s in _assigns(st)})
        merged = {slot: f"m{slot}_{next(self.fresh)}" for slot in written}
        g = self.gen(env)
        for i, (c, body) in enumerate(st.branches):
            self.out.add(ind, f"{'if' if i == 0 else 'elif'} {g.expr(c)}:")
            self._straight_block(body, env, ind + 1, merged)
        self.out.add(ind, "else:")
        self._straight_block(st.orelse, env, ind + 1, merged)
        self.block(cont[0], {**env, **merged}, ind, cont[1:])

    def _straight_block(self, stmts, env, ind, merged) -> None:
        holder: list[dict[int, str]] = []

        def finish(final_env, i):
            for slot, name in merged.items():
                self.out.add(i, f"{name} = {final_env[slot]}")
            holder.append(final_env)

        saved = self.finish
        self.finish = finish
        try:
            self.block(tuple(stmts), env, ind)
        finally:
            self.finish = saved

    def updated(self, g: ExprGen, old: str, path, value: ir.Expr, ind: int) -> str:
        """Code for ``old`` with the element at ``path`` replaced by ``value``."""
        if not path:
            return g.expr(value)
        step, rest = path[0], path[1:]
        tmp = f"i{next(self.fresh)}"
        container = step.container
        if step.kind == "field":
            assert isinstance(container, T.RecordT)
            pos = container.field_index(step.name)
            inner = self.updated(g, f"{old}[{pos}]", rest, value, ind)
            return f"({old}[:{pos}] + ({inner},) + {old}[{pos + 1}:])"
        if isinstance(container, T.MapT) and self.univ.packs(container):
            w = self.univ.entry_width(container.value)
            mask = (1 << w) - 1
            sh, fixed = g.map_shift(container, step.key)
            if fixed is None:
                self.out.add(ind, f"{tmp} = {sh}")
                sh = tmp
            if rest:
                inner = self.updated(g, f"(({old} >> {sh}) & {mask})", rest, value, ind)
            else:
                inner = g.value_to_entry(container.value, g.expr(value))
            clear = f"{old} & {~(mask << fixed)}" if fixed is not None else \
                f"{old} & ~({mask} << {sh})"
            if fixed is not None and inner.isdigit():  # a constant entry at a fixed place
                return f"(({clear}) | {int(inner) << fixed})"
            return f"(({clear}) | ({inner} << {sh}))"
        if isinstance(container, T.SeqT):
            self.out.add(ind, f"{tmp} = _seq_pos({old}, {g.expr(step.key)})")
        else:
            assert isinstance(container, T.MapT)
            self.out.add(ind, f"{tmp} = {g.ix(container.key, g.expr(step.key))}")
        inner = self.updated(g, f"{old}[{tmp}]", rest, value, ind)
        return f"({old}[:{tmp}] + ({inner},) + {old}[{tmp} + 1:])"


def _straight(stmts) -> bool:
    """Only assignments, lets and ifs of the same kind: no requires, no branching."""
    for s in stmts:
        if isinstance(s, ir.If):
            if not (all(_straight(b) for _, b in s.branches) and _straight(s.orelse)):
                return False
        elif not isinstance(s, (ir.Assign, ir.Let)):
            return False
    return True


def _assigns(st):
    if isinstance(st, ir.Assign):
        yield st
    elif isinstance(st, ir.If):
        for _, body in st.branches:
            for s in body:
                yield from _assigns(s)
        for s in st.orelse:
            yield from _assigns(s)
