"""The finite universe of each type: its size, the position of each value in it, and the
value at each position; plus the readable form of a packed value.

Positions give set elements their bit in a mask. Integers in sets are the exception:
their bit is ``value - int_base`` for one spec-wide ``int_base``, so that every set of
integers shares one representation whatever the static range of its elements.

Maps whose values are small (booleans, integers, enumerations, symbols, options of
those, sets, or such maps) are packed into one integer: entry ``i`` occupies ``width``
bits at offset ``i * width`` and holds the value's position (a set: its mask). Updating
one entry is then two integer operations instead of rebuilding a tuple, and the state
hashes faster. Other maps are tuples indexed by key position.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import product
from typing import Any

from . import types as T
from .values import BagValue, MapValue, RecordValue, SeqValue, SetValue, Value

MAX_TABLE = 1 << 22  # the most values of one type we will list
MAX_PACKED_BITS = 4096  # wider maps stay tuples
MAX_ELEMENTS = 1 << 16  # the most possible elements of a set type, or keys of a map type


class UniverseError(Exception):
    pass


@dataclass(frozen=True)
class Universe:
    int_base: int

    # ------------------------------------------------------------------ sizes
    @functools.cache  # noqa: B019 (a universe lives as long as its spec)
    def size(self, t: T.Type) -> int:
        if isinstance(t, T.BoolT):
            return 2
        if isinstance(t, T.IntT):
            return t.hi - t.lo + 1
        if isinstance(t, (T.EnumT, T.SymT)):
            return len(t.members)
        if isinstance(t, T.OptionT):
            return 1 + self.size(t.inner)
        if isinstance(t, T.RecordT):
            n = 1
            for _, ft in t.fields:
                n *= self.size(ft)
            return n
        if isinstance(t, T.VariantT):
            return sum(self.size(c) for c in t.cases)
        if isinstance(t, T.SetT):
            n = self.bits(t.elem)
            if n > MAX_ELEMENTS:
                raise UniverseError(f"{t} is too large to represent ({n} possible elements)")
            return 1 << n
        if isinstance(t, T.MapT):
            keys, values = self.size(t.key), self.size(t.value)
            if keys > MAX_ELEMENTS or (values > 1 and keys * (values - 1).bit_length()
                                       > MAX_ELEMENTS):
                raise UniverseError(f"{t} is too large: {keys} keys with {values} possible "
                                    "values each")
            return values ** keys
        if isinstance(t, T.SeqT):
            k = self.size(t.elem)
            return sum(k ** n for n in range(t.capacity + 1))
        if isinstance(t, T.BagT):
            return (t.capacity + 1) ** self.bits(t.elem)
        if isinstance(t, T.AnyT):
            return 0
        raise UniverseError(f"no universe for {t}")

    @functools.cache  # noqa: B019 (a universe lives as long as its spec)
    def bits(self, elem: T.Type) -> int:
        """How many bits a set of ``elem`` may use."""
        if isinstance(elem, T.IntT):
            return max(0, elem.hi - self.int_base + 1)
        return self.size(elem)

    # ------------------------------------------------------------------ bags
    @staticmethod
    def bag_width(t: T.BagT) -> int:
        """Bits per element count in a bag (bags are packed like maps)."""
        return max(1, t.capacity.bit_length())

    def bag_counts(self, t: T.BagT, packed: int) -> list[tuple[Any, int]]:
        w = self.bag_width(t)
        mask = (1 << w) - 1
        out = []
        for b in range(self.bits(t.elem)):
            n = (packed >> (b * w)) & mask
            if n:
                out.append((self.at_bit(t.elem, b), n))
        return out

    # ---------------------------------------------------------- packed maps
    @functools.cache  # noqa: B019 (a universe lives as long as its spec)
    def packs(self, t: T.Type) -> bool:
        """Is a map of this type packed into one integer?"""
        if not isinstance(t, T.MapT):
            return False
        w = self.entry_width(t.value)
        return w is not None and w * self.size(t.key) <= MAX_PACKED_BITS

    @functools.cache  # noqa: B019 (a universe lives as long as its spec)
    def entry_width(self, v: T.Type) -> int | None:
        """Bits per entry for a packed map with values of type ``v`` (None: not packable)."""
        if isinstance(v, (T.BoolT, T.IntT, T.EnumT, T.SymT)) or (
                isinstance(v, T.OptionT) and isinstance(v.inner, (T.BoolT, T.IntT, T.EnumT,
                                                                  T.SymT))):
            return max(1, (self.size(v) - 1).bit_length())
        if isinstance(v, T.SetT):
            return max(1, self.bits(v.elem))
        if isinstance(v, T.MapT) and self.packs(v):
            return max(1, self.entry_width(v.value) * self.size(v.key))
        return None

    def to_entry(self, v: T.Type, x: Any) -> int:
        """What a packed map stores for the value ``x`` of type ``v``."""
        if isinstance(v, (T.SetT, T.MapT)):
            return x
        return self.index(v, x)

    def from_entry(self, v: T.Type, code: int) -> Any:
        if isinstance(v, (T.SetT, T.MapT)):
            return code
        return self.at(v, code)

    def map_entries(self, t: T.MapT, packed: Any) -> list:
        """The values of a map, in key order, whichever way it is represented."""
        if not self.packs(t):
            return list(packed)
        w = self.entry_width(t.value)
        mask = (1 << w) - 1
        return [self.from_entry(t.value, (packed >> (i * w)) & mask)
                for i in range(self.size(t.key))]

    def map_build(self, t: T.MapT, entries) -> Any:
        if not self.packs(t):
            return tuple(entries)
        w = self.entry_width(t.value)
        out = 0
        for i, x in enumerate(entries):
            out |= self.to_entry(t.value, x) << (i * w)
        return out

    # -------------------------------------------------------------- positions
    def index(self, t: T.Type, v: Any) -> int:
        if isinstance(t, T.BoolT):
            return int(bool(v))
        if isinstance(t, T.IntT):
            return v - t.lo
        if isinstance(t, (T.EnumT, T.SymT)):
            return v
        if isinstance(t, T.OptionT):
            return 0 if v is None else 1 + self.index(t.inner, v)
        if isinstance(t, T.RecordT):
            return self._radix(t.fields, v)
        if isinstance(t, T.VariantT):
            base = sum(self.size(c) for c in t.cases[: v[0]])
            return base + self._radix(t.cases[v[0]].fields, v[1:])
        if isinstance(t, (T.SetT, T.BagT)):
            return v
        if isinstance(t, T.MapT):
            k = self.size(t.value)
            n = 0
            for x in reversed(self.map_entries(t, v)):
                n = n * k + self.index(t.value, x)
            return n
        if isinstance(t, T.SeqT):
            k = self.size(t.elem)
            n = sum(k ** m for m in range(len(v)))
            pos = 0
            for x in v:
                pos = pos * k + self.index(t.elem, x)
            return n + pos
        raise UniverseError(f"no positions for {t}")

    def bit(self, elem: T.Type, v: Any) -> int:
        if isinstance(elem, T.IntT):
            return v - self.int_base
        return self.index(elem, v)

    def _radix(self, fields, values) -> int:
        n = 0
        for (_, ft), x in zip(fields, values):
            n = n * self.size(ft) + self.index(ft, x)
        return n

    def at(self, t: T.Type, i: int) -> Any:
        """The value at position ``i`` of ``t``'s universe (inverse of ``index``)."""
        if isinstance(t, T.BoolT):
            return bool(i)
        if isinstance(t, T.IntT):
            return t.lo + i
        if isinstance(t, (T.EnumT, T.SymT)):
            return i
        if isinstance(t, T.OptionT):
            return None if i == 0 else self.at(t.inner, i - 1)
        if isinstance(t, T.RecordT):
            return self._unradix(t.fields, i)
        if isinstance(t, T.VariantT):
            for c, case in enumerate(t.cases):
                n = self.size(case)
                if i < n:
                    return (c, *self._unradix(case.fields, i))
                i -= n
            raise UniverseError("position out of range")
        if isinstance(t, (T.SetT, T.BagT)):
            return i
        if isinstance(t, T.MapT):
            k = self.size(t.value)
            out = []
            for _ in range(self.size(t.key)):
                i, r = divmod(i, k)
                out.append(self.at(t.value, r))
            return self.map_build(t, out)
        if isinstance(t, T.SeqT):
            k = self.size(t.elem)
            length = 0
            while i >= k ** length:
                i -= k ** length
                length += 1
            out = []
            for _ in range(length):
                i, r = divmod(i, k)
                out.append(self.at(t.elem, r))
            return tuple(reversed(out))
        raise UniverseError(f"no positions for {t}")

    def at_bit(self, elem: T.Type, b: int) -> Any:
        if isinstance(elem, T.IntT):
            return b + self.int_base
        return self.at(elem, b)

    def _unradix(self, fields, i: int) -> tuple:
        out = []
        for _, ft in reversed(fields):
            i, r = divmod(i, self.size(ft))
            out.append(self.at(ft, r))
        return tuple(reversed(out))

    def table(self, t: T.Type) -> list:
        """Every value of ``t`` in position order (for decoding set members fast)."""
        n = self.size(t)
        if n > MAX_TABLE:
            raise UniverseError(f"type {t} has {n} values, too many to list")
        if isinstance(t, T.RecordT):
            return [tuple(p) for p in product(*(self.table(ft) for _, ft in t.fields))]
        if isinstance(t, T.VariantT):
            out = []
            for c, case in enumerate(t.cases):
                out.extend((c, *p) for p in self.table(case))
            return out
        return [self.at(t, i) for i in range(n)]

    def all_values(self, t: T.Type) -> list:
        return self.table(t)

    # ------------------------------------------------------------ readability
    def decode(self, t: T.Type, v: Any) -> Value:
        if isinstance(t, T.BoolT):
            return bool(v)
        if isinstance(t, T.IntT):
            return int(v)
        if isinstance(t, (T.EnumT, T.SymT)):
            return t.members[v]
        if isinstance(t, T.OptionT):
            return None if v is None else self.decode(t.inner, v)
        if isinstance(t, T.RecordT):
            return RecordValue(None, tuple((f, self.decode(ft, x))
                                           for (f, ft), x in zip(t.fields, v)))
        if isinstance(t, T.VariantT):
            case = t.cases[v[0]]
            return RecordValue(case.name, tuple((f, self.decode(ft, x))
                                                for (f, ft), x in zip(case.fields, v[1:])))
        if isinstance(t, T.SetT):
            return SetValue(tuple(self.decode(t.elem, self.at_bit(t.elem, b))
                                  for b in iter_bits(v)))
        if isinstance(t, T.MapT):
            return MapValue(tuple((self.decode(t.key, self.at(t.key, i)), self.decode(t.value, x))
                                  for i, x in enumerate(self.map_entries(t, v))))
        if isinstance(t, T.SeqT):
            return SeqValue(tuple(self.decode(t.elem, x) for x in v))
        if isinstance(t, T.BagT):
            return BagValue(tuple((self.decode(t.elem, x), n) for x, n in self.bag_counts(t, v)))
        if isinstance(t, T.AnyT):
            return SetValue(()) if v == 0 else None
        raise UniverseError(f"cannot decode {t}")

    def encode(self, t: T.Type, v: Value) -> Any:
        """The packed form of a readable value (for traces read from files); raises
        UniverseError when the value does not belong to the type."""
        if isinstance(t, T.BoolT):
            if not isinstance(v, bool):
                raise UniverseError(f"expected a boolean, found {v!r}")
            return v
        if isinstance(t, T.IntT):
            if isinstance(v, bool) or not isinstance(v, int) or not t.lo <= v <= t.hi:
                raise UniverseError(f"expected an integer in {t.lo}..{t.hi}, found {v!r}")
            return v
        if isinstance(t, (T.EnumT, T.SymT)):
            if v not in t.members:
                raise UniverseError(f"expected one of {', '.join(t.members)}, found {v!r}")
            return t.members.index(v)
        if isinstance(t, T.OptionT):
            return None if v is None else self.encode(t.inner, v)
        if isinstance(t, T.SetT):
            items = v.items if isinstance(v, (SetValue, SeqValue)) else v
            if not isinstance(items, (list, tuple)):
                raise UniverseError(f"expected a set, found {v!r}")
            mask = 0
            for x in items:
                mask |= 1 << self.bit(t.elem, self.encode(t.elem, x))
            return mask
        if isinstance(t, T.MapT):
            pairs = dict(v.pairs) if isinstance(v, MapValue) else v
            if not isinstance(pairs, dict):
                raise UniverseError(f"expected a map, found {v!r}")
            out = []
            for i in range(self.size(t.key)):
                key = self.decode(t.key, self.at(t.key, i))
                if key not in pairs:
                    raise UniverseError(f"map has no entry for {key}")
                out.append(self.encode(t.value, pairs[key]))
            return self.map_build(t, out)
        if isinstance(t, T.BagT):
            if isinstance(v, BagValue):
                pairs = list(v.items)
            elif isinstance(v, (list, tuple)):
                pairs = [(x, 1) for x in v]
            else:
                raise UniverseError(f"expected a bag, found {v!r}")
            w = self.bag_width(t)
            packed = 0
            for x, n in pairs:
                b = self.bit(t.elem, self.encode(t.elem, x)) * w
                count = ((packed >> b) & ((1 << w) - 1)) + n
                if count > t.capacity:
                    raise UniverseError(f"a bag holds at most {t.capacity} copies")
                packed = (packed & ~(((1 << w) - 1) << b)) | (count << b)
            return packed
        if isinstance(t, T.SeqT):
            items = v.items if isinstance(v, SeqValue) else v
            if not isinstance(items, (list, tuple)) or len(items) > t.capacity:
                raise UniverseError(f"expected a sequence of at most {t.capacity}, found {v!r}")
            return tuple(self.encode(t.elem, x) for x in items)
        if isinstance(t, (T.RecordT, T.VariantT)):
            if isinstance(v, RecordValue):
                tag, fields = v.tag, dict(v.fields)
            elif isinstance(v, dict):
                fields = {k: x for k, x in v.items() if k != "tag"}
                tag = v.get("tag")
            else:
                raise UniverseError(f"expected a record, found {v!r}")
            if isinstance(t, T.VariantT):
                c = t.case_index(tag) if isinstance(tag, str) else None
                if c is None:
                    raise UniverseError(f"unknown message tag {tag!r}")
                case = t.cases[c]
                return (c, *(self.encode(ft, fields.get(f)) for f, ft in case.fields))
            return tuple(self.encode(ft, fields.get(f)) for f, ft in t.fields)
        raise UniverseError(f"cannot encode a value of type {t}")


def iter_bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low
