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

Speed: the explorer calls ``canonical`` for every new successor, so, like the successor
function, it is Python source generated per spec. When every signature column is a field
of a packed integer (a packed map keyed by the set, a set of its elements, the messages
whose first field is an element), all the elements' signatures are gathered into one
integer with a lane per element (one table lookup per small packed map; a mask and a
shift per block of bits for a large set), the order is found by a decision tree (small
sets) or ``sorted``, and the state is permuted by a function of that permutation's own,
compiled the first time it is needed, that moves whole blocks of bits at once. The
representatives are those the plain algorithm chose before (tests/test_symmetry.py pins
them), so the stored states and the counterexamples of a symmetric search are unchanged.
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
State = tuple
Perm = tuple[int, ...]  # element e goes to position p[e]
# One field of a packed integer and where a permutation sends it: (source bit, width,
# destination bit, the table relabelling its code or None).
Move = tuple[int, int, int, tuple[int, ...] | None]
# One signature field of a packed integer: element e's bits start at offset + e * stride.
Field = tuple[int, int, int]  # (offset, stride, width)

TABLE_BITS = 8  # a packed value at most this wide is permuted by one table lookup
MAX_TREE = 5  # sets up to this size are ordered by a generated decision tree (n! leaves)


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

    # ------------------------------------------------ packed integers, field by field
    def packed_bits(self, t: T.Type) -> int | None:
        """How wide a value of ``t`` is when it is one packed integer (a set, a bag, a
        packed map); None for other values."""
        univ = self.univ
        if isinstance(t, T.SetT):
            return univ.bits(t.elem)
        if isinstance(t, T.BagT):
            return univ.bits(t.elem) * univ.bag_width(t)
        if isinstance(t, T.MapT) and univ.packs(t):
            return univ.entry_width(t.value) * univ.size(t.key)
        return None

    def moves(self, t: T.Type, p: Perm, src: int = 0, dst: int = 0) -> list[Move]:
        """Where ``p`` sends each field of a packed integer of type ``t`` (see
        ``packed_bits``): set members and bag counts move, packed map entries move with
        their key and have their code relabelled when the value mentions the set."""
        univ = self.univ
        if isinstance(t, (T.SetT, T.BagT)):
            w = 1 if isinstance(t, T.SetT) else univ.bag_width(t)
            table = self._bit_table(t.elem, p)
            return [(src + b * w, w, dst + to * w, None) for b, to in enumerate(table)]
        assert isinstance(t, T.MapT) and univ.packs(t)
        w = univ.entry_width(t.value)
        key_perm = self.get(t.key)
        value = t.value
        out: list[Move] = []
        for i in range(univ.size(t.key)):
            j = i if key_perm is None else univ.index(t.key, key_perm(univ.at(t.key, i), p))
            if not mentions(value, self.sym):
                out.append((src + i * w, w, dst + j * w, None))
            elif self.packed_bits(value) is not None:
                out.extend(self.moves(value, p, src + i * w, dst + j * w))
            else:
                out.append((src + i * w, w, dst + j * w, self._relabel(value, w, p)))
        return out

    def _relabel(self, t: T.Type, width: int, p: Perm) -> tuple[int, ...]:
        """The code a packed map stores for each value of ``t`` mapped to the code of its
        image (codes past the type's size, which never occur, map to themselves)."""
        univ = self.univ
        f = self.get(t)
        n = univ.size(t)
        images = [univ.to_entry(t, f(univ.from_entry(t, c), p)) for c in range(n)]
        return tuple(images) + tuple(range(n, 1 << width))


# ------------------------------------------------------------------ generated code
class _Code:
    """Python source being generated, and the constants (tables) it names."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}

    def name(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def function(self, name: str, lines: list[str]) -> Callable:
        namespace = dict(self.names)
        exec(compile("\n".join(lines) + "\n", f"<symmetry {name}>", "exec"), namespace)
        return namespace[name]


def _apply_moves(moves: list[Move], x: int) -> int:
    out = 0
    for src, w, dst, relabel in moves:
        code = (x >> src) & ((1 << w) - 1)
        if relabel is not None:
            code = relabel[code]
        out |= code << dst
    return out


def _shift_terms(var: str, moves: list[Move], code: _Code) -> list[str]:
    """Terms moving every block of bits that shifts by the same distance at once (one
    mask and one shift each), and relabelling the fields that need it by table."""
    by_shift: dict[int, int] = {}
    terms = []
    for src, w, dst, relabel in moves:
        if relabel is None:
            by_shift[dst - src] = by_shift.get(dst - src, 0) | ((1 << w) - 1) << src
        else:
            terms.append(f"({code.name(relabel)}[({var} >> {src}) & {(1 << w) - 1}] << {dst})")
    for d, mask in sorted(by_shift.items()):
        if d == 0:
            terms.append(f"({var} & {mask})")
        elif d > 0:
            terms.append(f"(({var} & {mask}) << {d})")
        else:
            terms.append(f"(({var} & {mask}) >> {-d})")
    return terms


def _shift_cost(moves: list[Move]) -> int:
    shifts = {dst - src for src, _, dst, relabel in moves if relabel is None}
    relabelled = sum(1 for m in moves if m[3] is not None)
    terms = len(shifts) + relabelled
    return 2 * len(shifts) - (0 in shifts) + 4 * relabelled + terms - 1


def _chunks(moves: list[Move]) -> list[list[Move]]:
    """The fields in runs at most TABLE_BITS wide (a field wider than that alone)."""
    runs: list[list[Move]] = []
    for m in sorted(moves):
        if runs and m[0] + m[1] - runs[-1][0][0] <= TABLE_BITS:
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs


def _chunk_terms(var: str, runs: list[list[Move]], bits: int, code: _Code) -> list[str]:
    """A table lookup per run of fields (a byte at a time)."""
    terms = []
    for run in runs:
        start = run[0][0]
        span = run[-1][0] + run[-1][1] - start
        if span > TABLE_BITS:
            terms += _shift_terms(var, run, code)
            continue
        table = code.name([_apply_moves(run, x << start) for x in range(1 << span)])
        piece = f"({var} >> {start})" if start else var
        if start + span < bits:
            piece = f"({piece} & {(1 << span) - 1})"
        terms.append(f"{table}[{piece}]")
    return terms


def _moves_expr(var: str, moves: list[Move], bits: int, code: _Code) -> str:
    """An expression for the packed integer that ``moves`` make of the one in ``var``
    (``bits`` wide): one table lookup when it is narrow, else the cheaper of shifting
    blocks of bits and looking up a byte at a time."""
    moves = [m for m in moves if m[1] > 0]
    if not moves:
        return "0"
    if bits <= TABLE_BITS:
        return f"{code.name([_apply_moves(moves, x) for x in range(1 << bits)])}[{var}]"
    runs = _chunks(moves)
    chunk_cost = 4 * len(runs) - 1  # a shift, a mask, a lookup and an `or` per run
    if chunk_cost < _shift_cost(moves):
        terms = _chunk_terms(var, runs, bits, code)
    else:
        terms = _shift_terms(var, moves, code)
    return " | ".join(terms)


def _decision_tree(n: int, leaf: Callable[[list[int]], str], indent: str) -> list[str]:
    """Code that sorts elements 0..n-1 by their keys ``k0``... stably (as ``sorted``
    does) by binary insertion, and at each outcome runs ``leaf(order)``."""
    lines: list[str] = []

    def insert(order: list[int], m: int, lo: int, hi: int, pad: str) -> None:
        if lo == hi:
            place(order[:lo] + [m] + order[lo:], m + 1, pad)
            return
        mid = (lo + hi) // 2
        # m comes before order[mid] (a smaller index) only if its key is smaller
        lines.append(f"{pad}if k{m} < k{order[mid]}:")
        insert(order, m, lo, mid, pad + "    ")
        lines.append(f"{pad}else:")
        insert(order, m, mid + 1, hi, pad + "    ")

    def place(order: list[int], m: int, pad: str) -> None:
        if m == n:
            lines.append(f"{pad}{leaf(order)}")
        else:
            insert(order, m, 0, len(order), pad)

    place([0], 1, indent)
    return lines


def _inverse(order) -> Perm:
    p = [0] * len(order)
    for k, e in enumerate(order):
        p[e] = k
    return tuple(p)


def _same(state: State) -> State:
    return state


class _Group:
    """One symmetric set: the permutations of a state by its renamings (each compiled
    once), and its elements' signatures."""

    def __init__(self, typed: ir.TypedSpec, univ: Universe, sym: T.SymT, n_slots: int):
        self.univ = univ
        self.sym = sym
        self.n = len(sym.members)
        self.n_slots = n_slots
        self.permuters = _Permuters(univ, sym)
        self.types = {v.slot: v.t for v in typed.variables if mentions(v.t, sym)}
        self.identity: Perm = tuple(range(self.n))
        self._appliers: dict[Perm, Callable[[State], State]] = {self.identity: _same}
        # Signature columns in variable order: strided fields of a packed integer, or
        # (for a map stored as a tuple) its entries; complete when every variable that
        # mentions the set has one.
        self.columns: list[tuple[int, tuple[Field, ...] | None]] = []
        self.complete = True
        for v in typed.variables:
            if v.slot in self.types:
                column = self._column(v.t)
                if column is False:
                    self.complete = False
                else:
                    self.columns.append((v.slot, column))
        self.packed = all(fields is not None for _, fields in self.columns)

    def _column(self, t: T.Type) -> tuple[Field, ...] | None | bool:
        """What a variable of type ``t`` says about each element alone: the fields of its
        packed integer, None for a tuple-stored map's entries, False when it cannot be
        split by element (then elements with equal signatures are tried in every order)."""
        univ, sym, n = self.univ, self.sym, self.n
        if isinstance(t, T.MapT) and t.key == sym and not mentions(t.value, sym):
            if univ.packs(t):
                w = univ.entry_width(t.value)
                return ((0, w, w),)
            return None
        if isinstance(t, T.SetT) and t.elem == sym:
            return ((0, 1, 1),)
        if isinstance(t, T.SetT) and isinstance(t.elem, T.VariantT):
            # The messages whose first field is the element: one block per element.
            fields = []
            offset = 0
            for case in t.elem.cases:
                size = univ.size(case)
                where = [k for k, (_, ft) in enumerate(case.fields) if mentions(ft, sym)]
                if where == [0] and case.fields[0][1] == sym:
                    fields.append((offset, size // n, size // n))
                elif where:
                    return False
                offset += size
            return tuple(fields) if fields else False
        return False

    # -------------------------------------------------------------- permuting
    def applier(self, p: Perm) -> Callable[[State], State]:
        """The function permuting a state by ``p`` (compiled on first use)."""
        f = self._appliers.get(p)
        if f is None:
            f = self._appliers[p] = self._compile_applier(p)
        return f

    def _compile_applier(self, p: Perm) -> Callable[[State], State]:
        code = _Code()
        exprs = []
        for slot in range(self.n_slots):
            t = self.types.get(slot)
            var = f"v{slot}"
            bits = None if t is None else self.permuters.packed_bits(t)
            if t is None:
                exprs.append(var)
            elif bits is not None:
                exprs.append(_moves_expr(var, self.permuters.moves(t, p), bits, code))
            elif t == self.sym:
                exprs.append(f"{code.name(p)}[{var}]")
            else:
                exprs.append(f"{code.name(self.permuters.get(t))}({var}, {code.name(p)})")
        return code.function("permute", [
            "def permute(s):",
            f"    {self._unpack()} = s",
            f"    return ({', '.join(exprs)},)",
        ])

    def _unpack(self) -> str:
        return ", ".join(f"v{i}" for i in range(self.n_slots)) + ("," if self.n_slots == 1
                                                                    else "")

    # -------------------------------------------------------------- signatures
    def _lane_lines(self, code: _Code) -> list[str]:
        """Lines setting ``k0``... to each element's signature as one integer (its fields
        concatenated, the first the most significant: the same order as the tuple of
        fields), through one integer ``lanes`` with a lane per element."""
        fields = [(slot, f) for slot, fs in self.columns for f in fs]
        width = sum(w for _, (_, _, w) in fields)
        if width == 0:
            return [f"    k{e} = 0" for e in range(self.n)]
        per_slot: dict[int, list[Move]] = {}
        at = width
        for slot, (offset, stride, w) in fields:
            at -= w
            per_slot.setdefault(slot, []).extend(
                (offset + e * stride, w, e * width + at, None) for e in range(self.n))
        terms = [_moves_expr(f"v{slot}", moves, self.permuters.packed_bits(self.types[slot]),
                             code) for slot, moves in per_slot.items()]
        lines = [f"    lanes = {' | '.join(terms)}"]
        lane = (1 << width) - 1
        for e in range(self.n):
            shifted = f"(lanes >> {e * width})" if e else "lanes"
            lines.append(f"    k{e} = {shifted}" if e == self.n - 1
                         else f"    k{e} = {shifted} & {lane}")
        return lines

    def signature_function(self) -> Callable[[State], list]:
        """The elements' signatures, as integers where every column is packed, else as
        tuples (any two orders alike)."""
        if self.packed:
            code = _Code()
            keys = ", ".join(f"k{e}" for e in range(self.n))
            return code.function("signature", [
                "def signature(s):",
                f"    {self._unpack()} = s",
                *self._lane_lines(code),
                f"    return [{keys}]",
            ])
        return self._tuple_signature

    def _tuple_signature(self, state: State) -> list:
        sig: list[list] = [[] for _ in range(self.n)]
        for slot, fields in self.columns:
            value = state[slot]
            for e in range(self.n):
                if fields is None:
                    sig[e].append(value[e])
                else:
                    sig[e].extend((value >> (off + e * st)) & ((1 << w) - 1)
                                  for off, st, w in fields)
        return [tuple(s) for s in sig]

    def sorting_canonical(self) -> Callable[[State], State]:
        """For a complete group with packed columns: the whole canonicalization as one
        generated function. Elements with equal signatures are interchangeable, so the
        first sorting permutation gives the representative."""
        code = _Code()
        lines = ["def canonical(s):", f"    {self._unpack()} = s", *self._lane_lines(code)]
        if self.n <= MAX_TREE:
            stubs: list[Callable[[State], State]] = []

            def leaf(order: list[int]) -> str:
                p = _inverse(order)
                if p == self.identity:
                    return "return s"
                stubs.append(self._stub(stubs, len(stubs), p))
                return f"return appliers[{len(stubs) - 1}](s)"
            lines += _decision_tree(self.n, leaf, "    ")
            code.names["appliers"] = stubs
        else:
            by_order = _ByOrder(self)
            keys = ", ".join(f"k{e}" for e in range(self.n))
            lines += [f"    keys = ({keys})",
                      f"    return {code.name(by_order)}[tuple(sorted("
                      f"{code.name(range(self.n))}, key=keys.__getitem__))](s)"]
        return code.function("canonical", lines)

    def _stub(self, stubs: list, k: int, p: Perm) -> Callable[[State], State]:
        """Stands in for permutation ``p``'s function until its first call."""
        def first_call(state: State) -> State:
            stubs[k] = f = self.applier(p)
            return f(state)
        return first_call


class _ByOrder(dict):
    """Sorted order of the elements -> the function permuting a state into it."""

    def __init__(self, group: _Group):
        super().__init__()
        self.group = group

    def __missing__(self, order: tuple[int, ...]) -> Callable[[State], State]:
        f = self[order] = self.group.applier(_inverse(order))
        return f


class Symmetry:
    """Canonical representatives of states under renamings of the symmetric sets.

    ``canonical(state)`` is a function generated for the spec (a plain attribute, so
    that the explorer calls it without a method's indirection). A state has one entry
    per variable and ``extra_slots`` more (which no renaming changes)."""

    canonical: Callable[[State], State]

    def __init__(self, typed: ir.TypedSpec, univ: Universe, names: tuple[str, ...],
                 extra_slots: int = 0):
        self.univ = univ
        self.n_slots = len(typed.variables) + extra_slots
        self.groups = [_Group(typed, univ, _sym_type(typed, name), self.n_slots)
                       for name in names]
        # Images compare by value, with none and booleans made plain integers (the
        # order is the same in every process, unlike hash(None) before Python 3.12,
        # and does not depend on whether a flag is stored as True or 1); a state that
        # can hold no none compares as it is, which is the same order.
        plain = not any(_may_hold_none(v.t, univ) for v in typed.variables)
        self._key: Callable[[State], Any] = _same if plain else _order_key
        self._all_perms = list(itertools.product(
            *(itertools.permutations(range(g.n)) for g in self.groups))) \
            if len(self.groups) > 1 else []
        self.canonical = self._build()

    def _build(self) -> Callable[[State], State]:
        if len(self.groups) > 1:
            return self._canonical_all
        group = self.groups[0]
        if group.n < 2 or not group.types:
            return _same
        if group.complete and group.packed:
            return group.sorting_canonical()
        signature = group.signature_function()
        key = self._key

        def canonical_one(state: State) -> State:
            perms = _sorting_permutations(signature(state))
            if group.complete or len(perms) == 1:
                # The signature is everything the state says about an element: elements
                # with equal signatures are interchangeable, so any sorting order gives
                # the same image.
                return group.applier(perms[0])(state)
            best = best_key = None
            for p in perms:
                image = group.applier(p)(state)
                k = key(image)
                if best is None or k < best_key:
                    best, best_key = image, k
            return best
        return canonical_one

    def _canonical_all(self, state: State) -> State:
        # Several symmetric sets: a signature of one set's elements may mention another
        # set's elements, so sorting one set at a time is not a function of the orbit.
        # Take the least image over every combination of permutations (exact).
        best = best_key = None
        for combo in self._all_perms:
            image = state
            for group, p in zip(self.groups, combo):
                image = group.applier(p)(image)
            k = self._key(image)
            if best is None or k < best_key:
                best, best_key = image, k
        return best


def _may_hold_none(t: T.Type, univ: Universe) -> bool:
    """Can a value of ``t`` contain ``None`` at runtime (a packed integer cannot)?"""
    if isinstance(t, (T.OptionT, T.AnyT)):
        return True
    if isinstance(t, T.MapT):
        return not univ.packs(t) and _may_hold_none(t.value, univ)
    if isinstance(t, T.SeqT):
        return _may_hold_none(t.elem, univ)
    if isinstance(t, T.RecordT):
        return any(_may_hold_none(ft, univ) for _, ft in t.fields)
    if isinstance(t, T.VariantT):
        return any(_may_hold_none(c, univ) for c in t.cases)
    return False


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
                               "alike; remove the symmetry declaration or the reference, "
                               "or run without symmetry reduction with --no-symmetry",)))
    if diags:
        # In file order (the walk above visits nodes in no particular order), each once
        # (a def used twice is walked twice).
        unique = dict.fromkeys(diags)
        raise SpecError(sorted(unique, key=lambda d: (d.span.line, d.span.column)), source)
