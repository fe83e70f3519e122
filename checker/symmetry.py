"""Symmetry reduction: states that differ only by a renaming of a symmetric set's
elements are one state.

``symmetry Nodes`` in a spec promises that the spec treats the elements of ``Nodes``
alike. ``check_symmetry`` verifies that promise on the typed IR (no element is named,
every constant is unchanged by every renaming); ``Symmetry.canonical`` maps a packed
state to one representative of its orbit.

Choosing the representative: trying every permutation costs n! per state, so we first
sort the elements by a signature (their entries in the maps keyed by the set: their
local state) and try only the permutations that put the signatures in order (ties are
tried in every order). The set of those permutations, applied to any member of an orbit,
yields the same set of images, so taking the minimum image is still a function of the
orbit: exact, and usually one or two permutations per state instead of n!.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from . import ir
from . import types as T
from .source import Diagnostic, SpecError
from .universe import Universe

Permuter = Callable[[Any, tuple[int, ...]], Any]


def mentions(t: T.Type, sym: T.SymT) -> bool:
    if t == sym:
        return True
    if isinstance(t, (T.SetT, T.SeqT, T.BagT)):
        return mentions(t.elem, sym)
    if isinstance(t, T.OptionT):
        return mentions(t.inner, sym)
    if isinstance(t, T.MapT):
        return mentions(t.key, sym) or mentions(t.value, sym)
    if isinstance(t, T.RecordT):
        return any(mentions(ft, sym) for _, ft in t.fields)
    if isinstance(t, T.VariantT):
        return any(mentions(c, sym) for c in t.cases)
    return False


class _Permuters:
    """Builds, per type, a function applying a permutation of one symbol set to a packed
    value of that type (identity for types that do not mention the set)."""

    def __init__(self, univ: Universe, sym: T.SymT):
        self.univ = univ
        self.sym = sym
        self.cache: dict[T.Type, Permuter | None] = {}
        self.bit_tables: dict[tuple[T.Type, tuple[int, ...]], list[int]] = {}

    def get(self, t: T.Type) -> Permuter | None:
        """None means: this type is unaffected."""
        if t not in self.cache:
            self.cache[t] = self._build(t) if mentions(t, self.sym) else None
        return self.cache[t]

    def _build(self, t: T.Type) -> Permuter:
        univ = self.univ
        if t == self.sym:
            return lambda v, p: p[v]
        if isinstance(t, T.OptionT):
            inner = self.get(t.inner)
            return lambda v, p: None if v is None else inner(v, p)
        if isinstance(t, T.VariantT):
            def perm_message(v, p):
                fs = t.cases[v[0]].fields
                return (v[0], *(self._apply(ft, x, p) for (_, ft), x in zip(fs, v[1:])))
            return perm_message
        if isinstance(t, T.RecordT):
            return lambda v, p: tuple(self._apply(ft, x, p) for (_, ft), x in zip(t.fields, v))
        if isinstance(t, T.SetT):
            elem = t.elem
            chunked: dict[tuple[int, ...], list] = {}

            def perm_set(mask, p):
                # Byte by byte through precomputed tables: a handful of lookups.
                tables = chunked.get(p)
                if tables is None:
                    tables = chunked[p] = self._chunk_tables(elem, p)
                out = 0
                shift = 0
                for tab in tables:
                    c = (mask >> shift) & 255
                    if c:
                        out |= tab[c]
                    shift += 8
                return out
            return perm_set
        if isinstance(t, T.BagT):
            elem = t.elem
            w = univ.bag_width(t)
            m = (1 << w) - 1

            def perm_bag(bag, p):
                table = self._bit_table(elem, p)
                out = 0
                pos = 0
                while bag:
                    n = bag & m
                    if n:
                        out |= n << (table[pos] * w)
                    bag >>= w
                    pos += 1
                return out
            return perm_bag
        if isinstance(t, T.SeqT):
            inner = self.get(t.elem)
            return lambda v, p: tuple(inner(x, p) for x in v)
        if isinstance(t, T.MapT) and t.key == self.sym and self.get(t.value) is None \
                and univ.packs(t):
            # Moving whole fields of a packed map: a few shifts.
            w = univ.entry_width(t.value)
            m = (1 << w) - 1
            n = len(self.sym.members)

            def perm_packed(v, p):
                out = 0
                for i in range(n):
                    out |= ((v >> (i * w)) & m) << (p[i] * w)
                return out
            return perm_packed
        if isinstance(t, T.MapT):
            key_perm = self.get(t.key)
            value_perm = self.get(t.value)
            key_t = t.key

            def perm_map(v, p):
                entries = univ.map_entries(t, v)
                if value_perm is not None:
                    entries = [value_perm(x, p) for x in entries]
                if key_perm is not None:
                    out = [None] * len(entries)
                    for i, x in enumerate(entries):
                        j = univ.index(key_t, key_perm(univ.at(key_t, i), p))
                        out[j] = x
                    entries = out
                return univ.map_build(t, entries)
            return perm_map
        raise TypeError(f"cannot permute values of {t}")

    def _apply(self, t: T.Type, v: Any, p: tuple[int, ...]) -> Any:
        f = self.get(t)
        return v if f is None else f(v, p)

    def _chunk_tables(self, elem: T.Type, p: tuple[int, ...]) -> list[list[int]]:
        bits = self._bit_table(elem, p)
        tables = []
        for start in range(0, len(bits), 8):
            tab = [0] * 256
            for c in range(1, 256):
                out = 0
                for k in range(8):
                    if c >> k & 1 and start + k < len(bits):
                        out |= 1 << bits[start + k]
                tab[c] = out
            tables.append(tab)
        return tables

    def _bit_table(self, elem: T.Type, p: tuple[int, ...]) -> list[int]:
        key = (elem, p)
        table = self.bit_tables.get(key)
        if table is None:
            f = self.get(elem)
            univ = self.univ
            table = [univ.bit(elem, f(univ.at_bit(elem, b), p)) if f else b
                     for b in range(univ.bits(elem))]
            self.bit_tables[key] = table
        return table


class Symmetry:
    """Canonical representatives of states under renamings of the symmetric sets."""

    def __init__(self, typed: ir.TypedSpec, univ: Universe, names: tuple[str, ...],
                 extra_slots: int = 0):
        self.univ = univ
        self.groups = []
        var_types = [v.t for v in typed.variables]
        for name in names:
            sym = _sym_type(typed, name)
            perms = _Permuters(univ, sym)
            fns = [(i, perms.get(t)) for i, t in enumerate(var_types)]
            fns = [(i, f) for i, f in fns if f is not None]
            columns = []
            complete = True
            for i, t in enumerate(var_types):
                if not mentions(t, sym):
                    continue
                column = self._column(i, t, sym)
                if column is None:
                    complete = False
                else:
                    columns.append(column)
            self.groups.append((len(sym.members), fns, columns, complete))
        self.n_slots = len(var_types) + extra_slots
        self._identity = {n: tuple(range(n)) for n, *_ in self.groups}
        self._all_perms = list(itertools.product(
            *(itertools.permutations(range(n)) for n, *_ in self.groups))) \
            if len(self.groups) > 1 else []

    def _column(self, slot: int, t: T.Type, sym: T.SymT):
        """A function giving, for each element of ``sym``, what the variable in ``slot``
        says about it alone; None when the variable cannot be split that way (then
        elements with equal signatures must be tried in every order)."""
        univ = self.univ
        n = len(sym.members)
        if isinstance(t, T.MapT) and t.key == sym and not mentions(t.value, sym):
            if univ.packs(t):
                w = univ.entry_width(t.value)
                m = (1 << w) - 1
                return lambda s: [(s[slot] >> (i * w)) & m for i in range(n)]
            return lambda s: list(s[slot])
        if isinstance(t, T.SetT) and t.elem == sym:
            return lambda s: [(s[slot] >> i) & 1 for i in range(n)]
        if isinstance(t, T.SetT) and isinstance(t.elem, T.VariantT):
            slices = []
            offset = 0
            for case in t.elem.cases:
                size = univ.size(case)
                where = [k for k, (_, ft) in enumerate(case.fields) if mentions(ft, sym)]
                if where == [0] and case.fields[0][1] == sym:
                    stride = size // n
                    slices.append((offset, stride))
                elif where:
                    return None
                offset += size
            if not slices:
                return None

            def column(s):
                mask = s[slot]
                return [tuple((mask >> (off + e * st)) & ((1 << st) - 1) for off, st in slices)
                        for e in range(n)]
            return column
        return None

    def canonical(self, state: tuple) -> tuple:
        if len(self.groups) == 1:
            n, fns, columns, complete = self.groups[0]
            return self._canonical_one(state, n, fns, columns, complete)
        # Several symmetric sets: a signature of one set's elements may mention another
        # set's elements, so sorting one set at a time is not a function of the orbit.
        # Take the least image over every combination of permutations (exact).
        best = best_key = None
        for combo in self._all_perms:
            image = state
            for (n, fns, _, _), p in zip(self.groups, combo):
                if p != self._identity[n]:
                    image = list(image)
                    for i, f in fns:
                        image[i] = f(image[i], p)
                    image = tuple(image)
            key = _order_key(image)
            if best is None or key < best_key:
                best, best_key = image, key
        return best

    def _canonical_one(self, state, n, fns, columns, complete):
        # Signature of element e: what each variable says about e alone.
        cols = [column(state) for column in columns]
        sig = list(zip(*cols)) if cols else [()] * n
        perms = _sorting_permutations(sig)
        if complete:
            # The signature is everything the state says about an element: elements
            # with equal signatures are interchangeable, so any sorting order gives
            # the same image.
            perms = perms[:1]
        best = None
        best_key = None
        for p in perms:
            if p == self._identity[n]:
                image = state
            else:
                image = list(state)
                for i, f in fns:
                    image[i] = f(state[i], p)
                image = tuple(image)
            if len(perms) == 1:
                return image
            # Compare by value, with none and booleans made plain integers: the order is
            # the same in every process (unlike hash(None) before Python 3.12) and does
            # not depend on whether a flag is stored as True or 1.
            key = _order_key(image)
            if best is None or key < best_key:
                best, best_key = image, key
        return best


def _order_key(x):
    if isinstance(x, tuple):
        return tuple(_order_key(y) for y in x)
    if x is None:
        return -(1 << 62)
    return int(x)


def _sorting_permutations(sig: list) -> list[tuple[int, ...]]:
    """Permutations p (element e goes to position p[e]) that list the elements in
    signature order; elements with equal signatures are placed in every order."""
    n = len(sig)
    try:
        order = sorted(range(n), key=sig.__getitem__)
    except TypeError:
        order = sorted(range(n), key=lambda e: repr(sig[e]))
    ties = tuple(sig[order[k]] == sig[order[k + 1]] for k in range(n - 1))
    key = (tuple(order), ties)
    found = _PERMS_BY_PATTERN.get(key)
    if found is None:
        found = _PERMS_BY_PATTERN[key] = _arrangements(order, ties)
    return found


_PERMS_BY_PATTERN: dict[tuple, list[tuple[int, ...]]] = {}


def _arrangements(order: list[int], ties: tuple[bool, ...]) -> list[tuple[int, ...]]:
    n = len(order)
    runs: list[list[int]] = []
    for k, e in enumerate(order):
        if runs and ties[k - 1]:
            runs[-1].append(e)
        else:
            runs.append([e])
    out = []
    for arrangement in itertools.product(*(itertools.permutations(r) for r in runs)):
        p = [0] * n
        pos = 0
        for run in arrangement:
            for e in run:
                p[e] = pos
                pos += 1
        out.append(tuple(p))
    return out


def _sym_type(typed: ir.TypedSpec, name: str) -> T.SymT:
    value, t = typed.constants[name]
    assert isinstance(t, T.SetT) and isinstance(t.elem, T.SymT)
    return t.elem


def check_symmetry(typed: ir.TypedSpec, univ: Universe, source=None) -> None:
    """Refuse a declared symmetry the spec does not respect, naming the expression."""
    diags = []
    for name in typed.symmetry:
        sym = _sym_type(typed, name)
        perms = _Permuters(univ, sym)
        # A value unchanged by a swap and by a rotation is unchanged by every
        # permutation (the two generate them all), so two checks suffice.
        n = len(sym.members)
        all_perms = [p for p in (tuple([1, 0] + list(range(2, n))) if n > 1 else None,
                                 tuple(list(range(1, n)) + [0]) if n > 2 else None) if p]
        roots: list[Any] = [typed.init, [a.body for a in typed.actions],
                            [a.params for a in typed.actions],
                            [i.body for i in typed.invariants], [d.body for d in typed.defs]]
        for node in ir.ir_nodes(roots):
            if isinstance(node, ir.Const) and mentions(node.t, sym):
                f = perms.get(node.t)
                if any(f(node.value, p) != node.value for p in all_perms):
                    diags.append(Diagnostic(
                        f"`symmetry {name}` is not sound for this spec: this expression "
                        f"singles out particular elements of {name}", node.span,
                        notes=("symmetry needs every element of the set to be treated "
                               "alike; remove the symmetry declaration or the reference",)))
    if diags:
        raise SpecError(diags, source)
