"""Symbolic values: every typed value exploded into scalars (see ``terms``).

The representation follows the type, as the packed representation does (``types``):

=============  =====================================================================
bool           a Bool scalar
lo..hi         an integer scalar (a bit-vector term when not known)
enum, symbol   an integer scalar: the member's index
``T?``         ``Opt(some, val)``: ``val`` means nothing when ``some`` is false
record         a tuple of field values
``Message``    ``Msg(tag, cases)``: ``cases[c]`` holds the fields of message kind ``c``
``set[T]``     a tuple of Bool scalars, one per bit of ``T`` (``Universe.bits``)
``map[K, V]``  a tuple of values, one per key, in key position order
``seq[T, N]``  ``Seq(length, items)``: ``N`` items, those from ``length`` on unused
``bag[T, N]``  a tuple of integer scalars in 0..N, one count per bit of ``T``
=============  =====================================================================

No Z3 arrays, no quantifiers: a set of messages is one Bool per possible message.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

from .. import types as T
from ..universe import Universe
from . import terms as Z

MAX_CASES = 1 << 14  # the most concrete values one symbolic value may stand for


class EncodingError(Exception):
    """The spec uses something the bounded encoding cannot represent (too large, or an
    operation it does not support); the message says which."""


class Opt(NamedTuple):
    some: Any
    val: Any


class Msg(NamedTuple):
    tag: Any
    cases: tuple


class Seq(NamedTuple):
    length: Any
    items: tuple


SCALAR_TYPES = (T.BoolT, T.IntT, T.EnumT, T.SymT)


class Values:
    """Type-directed operations on symbolic values, for one universe."""

    def __init__(self, univ: Universe):
        self.univ = univ
        self._const: dict[tuple[T.Type, Any], Any] = {}
        self._default: dict[T.Type, Any] = {}

    # ------------------------------------------------------------ constants
    def default_packed(self, t: T.Type) -> Any:
        if isinstance(t, T.AnyT):
            return None
        return self.univ.at(t, 0)

    def default(self, t: T.Type) -> Any:
        d = self._default.get(t)
        if d is None:
            d = self._default[t] = self.const(t, self.default_packed(t))
        return d

    def const(self, t: T.Type, v: Any) -> Any:
        """The symbolic value of a packed value."""
        key = (t, v)
        try:
            return self._const[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: build it without the cache
            return self._make_const(t, v)
        out = self._const[key] = self._make_const(t, v)
        return out

    def _make_const(self, t: T.Type, v: Any) -> Any:
        if isinstance(t, T.BoolT):
            return bool(v)
        if isinstance(t, (T.IntT, T.EnumT, T.SymT)):
            return int(v)
        if isinstance(t, T.OptionT):
            if v is None:
                return Opt(False, self.default(t.inner))
            return Opt(True, self.const(t.inner, v))
        if isinstance(t, T.RecordT):
            return tuple(self.const(ft, x) for (_, ft), x in zip(t.fields, v))
        if isinstance(t, T.VariantT):
            tag = v[0]
            cases = []
            for c, case in enumerate(t.cases):
                if c == tag:
                    cases.append(tuple(self.const(ft, x) for (_, ft), x in zip(case.fields, v[1:])))
                else:
                    cases.append(tuple(self.default(ft) for _, ft in case.fields))
            return Msg(tag, tuple(cases))
        if isinstance(t, T.SetT):
            n = self.univ.bits(t.elem)
            return tuple(bool((v >> i) & 1) for i in range(n))
        if isinstance(t, T.MapT):
            return tuple(self.const(t.value, x) for x in self.univ.map_entries(t, v))
        if isinstance(t, T.BagT):
            w = self.univ.bag_width(t)
            mask = (1 << w) - 1
            return tuple((v >> (i * w)) & mask for i in range(self.univ.bits(t.elem)))
        if isinstance(t, T.SeqT):
            items = [self.const(t.elem, x) for x in v]
            items += [self.default(t.elem)] * (t.capacity - len(items))
            return Seq(len(v), tuple(items))
        if isinstance(t, T.AnyT):
            return None
        raise EncodingError(f"no symbolic form for a value of type {t}")

    # -------------------------------------------------------------- fresh
    def fresh(self, t: T.Type, name: str, constraints: list) -> Any:
        """A value made of new constants, with the constraints that keep it in ``t``."""
        if isinstance(t, T.BoolT):
            return Z.fresh_bool(name)
        if isinstance(t, (T.IntT, T.EnumT, T.SymT)):
            x = Z.fresh_int(name)
            lo, hi = (t.lo, t.hi) if isinstance(t, T.IntT) else (0, len(t.members) - 1)
            constraints.append(Z.le(lo, x))
            constraints.append(Z.le(x, hi))
            return x
        if isinstance(t, T.OptionT):
            return Opt(Z.fresh_bool(name + "?"), self.fresh(t.inner, name + "!", constraints))
        if isinstance(t, T.RecordT):
            return tuple(self.fresh(ft, f"{name}.{f}", constraints) for f, ft in t.fields)
        if isinstance(t, T.VariantT):
            tag = Z.fresh_int(name + ".tag")
            constraints.append(Z.le(0, tag))
            constraints.append(Z.le(tag, len(t.cases) - 1))
            cases = tuple(tuple(self.fresh(ft, f"{name}.{case.name}.{f}", constraints)
                                for f, ft in case.fields) for case in t.cases)
            return Msg(tag, cases)
        if isinstance(t, T.SetT):
            n = self.univ.bits(t.elem)
            table = self._names(t.elem, n)
            lo = self._lowest_bit(t.elem)
            bits = tuple(Z.fresh_bool(f"{name}[{table[i]}]") for i in range(n))
            # Bits below an integer element type's range stand for no value of the type.
            constraints.extend(Z.not_(b) for b in bits[:lo])
            return bits
        if isinstance(t, T.MapT):
            n = self.univ.size(t.key)
            table = self._names(t.key, n, positions=True)
            return tuple(self.fresh(t.value, f"{name}[{table[i]}]", constraints) for i in range(n))
        if isinstance(t, T.BagT):
            n = self.univ.bits(t.elem)
            table = self._names(t.elem, n)
            lo = self._lowest_bit(t.elem)
            out: list = []
            for i in range(n):
                x = Z.fresh_int(f"{name}[{table[i]}]")
                constraints.append(Z.le(0, x))
                constraints.append(Z.le(x, t.capacity if i >= lo else 0))
                out.append(x)
            return tuple(out)
        if isinstance(t, T.SeqT):
            length = Z.fresh_int(name + ".len")
            constraints.append(Z.le(0, length))
            constraints.append(Z.le(length, t.capacity))
            return Seq(length, tuple(self.fresh(t.elem, f"{name}[{i + 1}]", constraints)
                                     for i in range(t.capacity)))
        raise EncodingError(f"no symbolic form for a variable of type {t}")

    def _lowest_bit(self, elem: T.Type) -> int:
        if isinstance(elem, T.IntT):
            return max(0, elem.lo - self.univ.int_base)
        return 0

    def _names(self, t: T.Type, n: int, positions: bool = False) -> list[str]:
        """Readable names for constants (what Z3 dumps show)."""
        from ..values import format_value

        out = []
        for i in range(n):
            try:
                v = self.univ.at(t, i) if positions else self.univ.at_bit(t, i)
                out.append(format_value(self.univ.decode(t, v)).replace(" ", ""))
            except Exception:  # noqa: BLE001 (a name is only cosmetic)
                out.append(str(i))
        return out

    # ------------------------------------------------------ flatten/rebuild
    def flatten(self, v: Any, t: T.Type, out: list) -> list:
        """Append the scalars of ``v`` in a fixed order."""
        if isinstance(t, SCALAR_TYPES):
            out.append(v)
        elif isinstance(t, T.OptionT):
            out.append(v.some)
            self.flatten(v.val, t.inner, out)
        elif isinstance(t, T.RecordT):
            for (_, ft), x in zip(t.fields, v):
                self.flatten(x, ft, out)
        elif isinstance(t, T.VariantT):
            out.append(v.tag)
            for case, xs in zip(t.cases, v.cases):
                for (_, ft), x in zip(case.fields, xs):
                    self.flatten(x, ft, out)
        elif isinstance(t, (T.SetT, T.BagT)):
            out.extend(v)
        elif isinstance(t, T.MapT):
            for x in v:
                self.flatten(x, t.value, out)
        elif isinstance(t, T.SeqT):
            out.append(v.length)
            for x in v.items:
                self.flatten(x, t.elem, out)
        else:
            raise EncodingError(f"cannot flatten a value of type {t}")
        return out

    def rebuild(self, t: T.Type, it) -> Any:
        """The inverse of ``flatten``: a value from an iterator over its scalars."""
        if isinstance(t, SCALAR_TYPES):
            return next(it)
        if isinstance(t, T.OptionT):
            some = next(it)
            return Opt(some, self.rebuild(t.inner, it))
        if isinstance(t, T.RecordT):
            return tuple(self.rebuild(ft, it) for _, ft in t.fields)
        if isinstance(t, T.VariantT):
            tag = next(it)
            return Msg(tag, tuple(tuple(self.rebuild(ft, it) for _, ft in case.fields)
                                  for case in t.cases))
        if isinstance(t, (T.SetT, T.BagT)):
            return tuple(next(it) for _ in range(self.univ.bits(t.elem)))
        if isinstance(t, T.MapT):
            return tuple(self.rebuild(t.value, it) for _ in range(self.univ.size(t.key)))
        if isinstance(t, T.SeqT):
            length = next(it)
            return Seq(length, tuple(self.rebuild(t.elem, it) for _ in range(t.capacity)))
        raise EncodingError(f"cannot rebuild a value of type {t}")

    # ------------------------------------------------------------ decoding
    def packed(self, v: Any, t: T.Type, value_of) -> Any:
        """The packed value of ``v``, given ``value_of`` (scalar -> Python value)."""
        if isinstance(t, T.BoolT):
            return bool(value_of(v))
        if isinstance(t, (T.IntT, T.EnumT, T.SymT)):
            return int(value_of(v))
        if isinstance(t, T.OptionT):
            if not value_of(v.some):
                return None
            return self.packed(v.val, t.inner, value_of)
        if isinstance(t, T.RecordT):
            return tuple(self.packed(x, ft, value_of) for (_, ft), x in zip(t.fields, v))
        if isinstance(t, T.VariantT):
            tag = int(value_of(v.tag))
            case = t.cases[tag]
            return (tag, *(self.packed(x, ft, value_of)
                           for (_, ft), x in zip(case.fields, v.cases[tag])))
        if isinstance(t, T.SetT):
            mask = 0
            for i, b in enumerate(v):
                if value_of(b):
                    mask |= 1 << i
            return mask
        if isinstance(t, T.MapT):
            return self.univ.map_build(t, [self.packed(x, t.value, value_of) for x in v])
        if isinstance(t, T.BagT):
            w = self.univ.bag_width(t)
            return sum(int(value_of(x)) << (i * w) for i, x in enumerate(v))
        if isinstance(t, T.SeqT):
            n = int(value_of(v.length))
            return tuple(self.packed(x, t.elem, value_of) for x in v.items[:n])
        if isinstance(t, T.AnyT):
            return None
        raise EncodingError(f"cannot decode a value of type {t}")

    # ------------------------------------------------------------- if-then
    def ite(self, c, a: Any, b: Any, t: T.Type) -> Any:
        if c is True:
            return a
        if c is False:
            return b
        if a is b:
            return a
        if isinstance(t, SCALAR_TYPES):
            return Z.ite(c, a, b)
        if isinstance(t, T.OptionT):
            return Opt(Z.ite(c, a.some, b.some), self.ite(c, a.val, b.val, t.inner))
        if isinstance(t, T.RecordT):
            return tuple(self.ite(c, x, y, ft) for (_, ft), x, y in zip(t.fields, a, b))
        if isinstance(t, T.VariantT):
            return Msg(Z.ite(c, a.tag, b.tag), tuple(
                tuple(self.ite(c, x, y, ft) for (_, ft), x, y in zip(case.fields, xs, ys))
                for case, xs, ys in zip(t.cases, a.cases, b.cases)))
        if isinstance(t, (T.SetT, T.BagT)):
            return tuple(Z.ite(c, x, y) for x, y in zip(a, b))
        if isinstance(t, T.MapT):
            return tuple(self.ite(c, x, y, t.value) for x, y in zip(a, b))
        if isinstance(t, T.SeqT):
            return Seq(Z.ite(c, a.length, b.length),
                       tuple(self.ite(c, x, y, t.elem) for x, y in zip(a.items, b.items)))
        if isinstance(t, T.AnyT):
            return a
        raise EncodingError(f"no if-then-else for {t}")

    # ------------------------------------------------------------ coercion
    def coerce(self, v: Any, src: T.Type, dst: T.Type) -> Any:
        """A value of type ``src`` in the representation of ``dst`` (where ``src`` fits
        ``dst``, or after the range checks of a conversion)."""
        if src == dst:
            return v
        if isinstance(src, T.AnyT):
            return self.default(dst)
        if isinstance(dst, T.BagT):
            n = self.univ.bits(dst.elem)
            if isinstance(src, T.SetT) or isinstance(src.elem, T.AnyT):
                return (0,) * n
            return tuple(v[:n]) + (0,) * (n - len(v))
        if isinstance(dst, T.OptionT):
            if isinstance(src, T.OptionT):
                if isinstance(src.inner, T.AnyT):
                    return Opt(v.some, self.default(dst.inner))
                return Opt(v.some, self.coerce(v.val, src.inner, dst.inner))
            return Opt(True, self.coerce(v, src, dst.inner))
        if isinstance(dst, T.IntT) and isinstance(src, T.IntT):
            return v
        if isinstance(dst, T.SetT) and isinstance(src, T.SetT):
            return self._coerce_set(v, src.elem, dst.elem)
        if isinstance(dst, T.MapT) and isinstance(src, T.MapT):
            return tuple(self.coerce(x, src.value, dst.value) for x in v)
        if isinstance(dst, T.SeqT) and isinstance(src, T.SeqT):
            items = [self.coerce(x, src.elem, dst.elem) for x in v.items[: dst.capacity]]
            items += [self.default(dst.elem)] * (dst.capacity - len(items))
            return Seq(v.length, tuple(items))
        if isinstance(dst, T.RecordT) and isinstance(src, T.RecordT):
            return tuple(self.coerce(x, sf, df)
                         for x, (_, sf), (_, df) in zip(v, src.fields, dst.fields))
        if isinstance(dst, T.VariantT) and isinstance(src, T.VariantT):
            return Msg(v.tag, tuple(
                tuple(self.coerce(x, sf, df) for x, (_, sf), (_, df)
                      in zip(xs, sc.fields, dc.fields))
                for xs, sc, dc in zip(v.cases, src.cases, dst.cases)))
        return v

    def _coerce_set(self, bits: tuple, src: T.Type, dst: T.Type) -> tuple:
        n = self.univ.bits(dst)
        if isinstance(src, T.AnyT):
            return (False,) * n
        if src == dst or (isinstance(src, T.IntT) and isinstance(dst, T.IntT)):
            if len(bits) >= n:
                return tuple(bits[:n])
            return tuple(bits) + (False,) * (n - len(bits))
        out = [False] * n
        for i, b in enumerate(bits):
            if b is False:
                continue
            j = self.position(dst, self.univ.at_bit(src, i), bit=True)
            if j is not None:
                out[j] = Z.or2(out[j], b)
        return tuple(out)

    def position(self, t: T.Type, v: Any, bit: bool = False) -> int | None:
        """The position (or set bit) of packed ``v`` in ``t``, None if ``v`` is not a value
        of ``t`` (an integer out of range, a sequence too long)."""
        if not self.belongs(t, v):
            return None
        return self.univ.bit(t, v) if bit else self.univ.index(t, v)

    def belongs(self, t: T.Type, v: Any) -> bool:
        if isinstance(t, T.IntT):
            return t.lo <= v <= t.hi
        if isinstance(t, T.OptionT):
            return v is None or self.belongs(t.inner, v)
        if v is None:
            return False
        if isinstance(t, T.RecordT):
            return all(self.belongs(ft, x) for (_, ft), x in zip(t.fields, v))
        if isinstance(t, T.VariantT):
            return all(self.belongs(ft, x) for (_, ft), x in zip(t.cases[v[0]].fields, v[1:]))
        if isinstance(t, T.SetT):
            return v >> self.univ.bits(t.elem) == 0 and (
                not isinstance(t.elem, T.IntT) or v & ((1 << (t.elem.lo - self.univ.int_base))
                                                      - 1) == 0)
        if isinstance(t, T.MapT):
            return all(self.belongs(t.value, x) for x in self.univ.map_entries(t, v))
        if isinstance(t, T.SeqT):
            return len(v) <= t.capacity and all(self.belongs(t.elem, x) for x in v)
        return True

    def valid(self, v: Any, src: T.Type, dst: T.Type) -> Any:
        """When does value ``v`` (typed ``src``) belong to the narrower type ``dst``?"""
        if isinstance(dst, T.IntT):
            if isinstance(src, T.IntT) and dst.lo <= src.lo and src.hi <= dst.hi:
                return True
            return Z.and2(Z.le(dst.lo, v), Z.le(v, dst.hi))
        if isinstance(dst, T.OptionT):
            if isinstance(src, T.OptionT):
                if isinstance(src.inner, T.AnyT):
                    return True
                return Z.implies(v.some, self.valid(v.val, src.inner, dst.inner))
            return self.valid(v, src, dst.inner)
        if isinstance(dst, T.SetT) and isinstance(src, T.SetT):
            if isinstance(src.elem, T.AnyT):
                return True
            if isinstance(dst.elem, T.IntT) and isinstance(src.elem, T.IntT):
                lo = dst.elem.lo - self.univ.int_base
                hi = dst.elem.hi - self.univ.int_base
                return Z.and_(Z.not_(b) for i, b in enumerate(v) if i < lo or i > hi)
            conds = []
            for i, b in enumerate(v):
                if b is False:
                    continue
                if self.position(dst.elem, self.univ.at_bit(src.elem, i), bit=True) is None:
                    conds.append(Z.not_(b))
            return Z.and_(conds)
        if isinstance(dst, T.MapT) and isinstance(src, T.MapT):
            return Z.and_(self.valid(x, src.value, dst.value) for x in v)
        if isinstance(dst, T.BagT) and isinstance(src, T.BagT):
            if src.capacity <= dst.capacity:
                return True
            return Z.and_(Z.le(x, dst.capacity) for x in v)
        if isinstance(dst, T.SeqT) and isinstance(src, T.SeqT):
            conds = [Z.le(v.length, dst.capacity)]
            for i, x in enumerate(v.items):
                conds.append(Z.implies(Z.lt(i, v.length), self.valid(x, src.elem, dst.elem)))
            return Z.and_(conds)
        if isinstance(dst, T.RecordT) and isinstance(src, T.RecordT):
            return Z.and_(self.valid(x, sf, df)
                          for x, (_, sf), (_, df) in zip(v, src.fields, dst.fields))
        if isinstance(dst, T.VariantT) and isinstance(src, T.VariantT):
            conds = []
            for c, (xs, sc, dc) in enumerate(zip(v.cases, src.cases, dst.cases)):
                ok = Z.and_(self.valid(x, sf, df)
                            for x, (_, sf), (_, df) in zip(xs, sc.fields, dc.fields))
                conds.append(Z.implies(Z.eq(v.tag, c), ok))
            return Z.and_(conds)
        return True

    # ------------------------------------------------------------ equality
    def eq(self, a: Any, ta: T.Type, b: Any, tb: T.Type) -> Any:
        if ta != tb:
            j = T.join(ta, tb)
            if j is None:
                return False
            a, b = self.coerce(a, ta, j), self.coerce(b, tb, j)
            ta = j
        return self._eq(a, b, ta)

    def _eq(self, a: Any, b: Any, t: T.Type) -> Any:
        if a is b:
            return True
        if isinstance(t, SCALAR_TYPES):
            return Z.eq(a, b)
        if isinstance(t, T.OptionT):
            some = Z.iff(a.some, b.some)
            if some is False or a.some is False:
                return some if a.some is not False else Z.not_(b.some)
            return Z.and2(some, Z.implies(a.some, self._eq(a.val, b.val, t.inner)))
        if isinstance(t, T.RecordT):
            return Z.and_(self._eq(x, y, ft) for (_, ft), x, y in zip(t.fields, a, b))
        if isinstance(t, T.VariantT):
            tag = Z.eq(a.tag, b.tag)
            if tag is False:
                return False
            conds = [tag]
            for c, (case, xs, ys) in enumerate(zip(t.cases, a.cases, b.cases)):
                active = Z.eq(a.tag, c)
                if active is False:
                    continue
                same = Z.and_(self._eq(x, y, ft) for (_, ft), x, y in zip(case.fields, xs, ys))
                conds.append(Z.implies(active, same))
            return Z.and_(conds)
        if isinstance(t, T.SetT):
            return Z.and_(Z.iff(x, y) for x, y in zip(a, b))
        if isinstance(t, T.BagT):
            return Z.and_(Z.eq(x, y) for x, y in zip(a, b))
        if isinstance(t, T.MapT):
            return Z.and_(self._eq(x, y, t.value) for x, y in zip(a, b))
        if isinstance(t, T.SeqT):
            conds = [Z.eq(a.length, b.length)]
            for i, (x, y) in enumerate(zip(a.items, b.items)):
                conds.append(Z.implies(Z.lt(i, a.length), self._eq(x, y, t.elem)))
            return Z.and_(conds)
        if isinstance(t, T.AnyT):
            return True
        raise EncodingError(f"cannot compare values of type {t}")

    # --------------------------------------------------------------- cases
    def cases(self, v: Any, t: T.Type) -> list[tuple[Any, Any]]:
        """The concrete values ``v`` may stand for: (condition, packed value) pairs."""
        out = self._cases(v, t)
        if len(out) > MAX_CASES:
            raise EncodingError(f"a value of type {t} stands for more than {MAX_CASES} "
                                "possibilities here; the bounded encoding cannot expand it")
        return out

    def _cases(self, v: Any, t: T.Type) -> list[tuple[Any, Any]]:
        if isinstance(t, T.BoolT):
            if type(v) is bool:
                return [(True, v)]
            return [(v, True), (Z.not_(v), False)]
        if isinstance(t, (T.IntT, T.EnumT, T.SymT)):
            if type(v) is int:
                return [(True, v)]
            lo, hi = (t.lo, t.hi) if isinstance(t, T.IntT) else (0, len(t.members) - 1)
            if hi - lo >= MAX_CASES:
                raise EncodingError(f"an integer in {lo}..{hi} has too many values to expand")
            return [(Z.eq(v, i), i) for i in range(lo, hi + 1)]
        if isinstance(t, T.OptionT):
            if v.some is False:
                return [(True, None)]
            inner = self._cases(v.val, t.inner)
            if v.some is True:
                return inner
            return [(Z.not_(v.some), None)] + [(Z.and2(v.some, g), x) for g, x in inner]
        if isinstance(t, T.RecordT):
            return self._product([self._cases(x, ft) for (_, ft), x in zip(t.fields, v)],
                                 lambda xs: tuple(xs))
        if isinstance(t, T.VariantT):
            out = []
            for c, (case, xs) in enumerate(zip(t.cases, v.cases)):
                g = Z.eq(v.tag, c)
                if g is False:
                    continue
                for h, fields in self._product(
                        [self._cases(x, ft) for (_, ft), x in zip(case.fields, xs)],
                        lambda ys: tuple(ys)):
                    gh = Z.and2(g, h)
                    if gh is not False:
                        out.append((gh, (c, *fields)))
            return out
        if isinstance(t, T.SetT):
            bits = [self._cases(b, T.BOOL) for b in v]
            return self._product(bits, lambda ys: sum(1 << i for i, y in enumerate(ys) if y))
        if isinstance(t, T.MapT):
            return self._product([self._cases(x, t.value) for x in v],
                                 lambda xs: self.univ.map_build(t, xs))
        if isinstance(t, T.BagT):
            w = self.univ.bag_width(t)
            counts = [self._cases(x, T.IntT(0, t.capacity)) for x in v]
            return self._product(counts, lambda ys: sum(y << (i * w) for i, y in enumerate(ys)))
        if isinstance(t, T.SeqT):
            out = []
            for g, n in self._cases(v.length, T.IntT(0, t.capacity)):
                for h, items in self._product([self._cases(x, t.elem) for x in v.items[:n]],
                                              lambda xs: tuple(xs)):
                    gh = Z.and2(g, h)
                    if gh is not False:
                        out.append((gh, items))
            return out
        if isinstance(t, T.AnyT):
            return [(True, None)]
        raise EncodingError(f"cannot expand a value of type {t}")

    def _product(self, parts: list[list[tuple[Any, Any]]], build) -> list[tuple[Any, Any]]:
        total = 1
        for p in parts:
            total *= len(p)
            if total > MAX_CASES:
                raise EncodingError(f"a value stands for more than {MAX_CASES} "
                                    "possibilities here; the bounded encoding cannot expand it")
        out = []
        for combo in itertools.product(*parts):
            g = Z.and_(c for c, _ in combo)
            if g is not False:
                out.append((g, build([x for _, x in combo])))
        return out

    def count_cases(self, v: Any, t: T.Type, cap: int = MAX_CASES) -> int:
        """An upper bound on ``len(cases(v, t))`` (stops counting past ``cap``)."""
        if isinstance(t, SCALAR_TYPES):
            if type(v) in (bool, int):
                return 1
            if isinstance(t, T.BoolT):
                return 2
            return t.hi - t.lo + 1 if isinstance(t, T.IntT) else len(t.members)
        if isinstance(t, T.OptionT):
            if v.some is False:
                return 1
            return self.count_cases(v.val, t.inner, cap) + (0 if v.some is True else 1)
        n = 1
        if isinstance(t, T.RecordT):
            for (_, ft), x in zip(t.fields, v):
                n *= self.count_cases(x, ft, cap)
                if n > cap:
                    return n
            return n
        if isinstance(t, T.VariantT):
            total = 0
            for c, (case, xs) in enumerate(zip(t.cases, v.cases)):
                if Z.eq(v.tag, c) is False:
                    continue
                m = 1
                for (_, ft), x in zip(case.fields, xs):
                    m *= self.count_cases(x, ft, cap)
                    if m > cap:
                        return m
                total += m
            return total
        if isinstance(t, T.SetT):
            for b in v:
                if type(b) is not bool:
                    n *= 2
                    if n > cap:
                        return n
            return n
        return cap + 1

    def known(self, v: Any, t: T.Type) -> Any:
        """The packed value of ``v`` if it is fully known, else ``UNKNOWN``."""
        try:
            return self.packed(v, t, _known_scalar)
        except _UnknownError:
            return UNKNOWN


class _UnknownError(Exception):
    pass


UNKNOWN = object()


def _known_scalar(x):
    if type(x) in (bool, int):
        return x
    raise _UnknownError
