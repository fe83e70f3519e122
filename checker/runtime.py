"""Helpers that generated code calls. Kept tiny and branch-free where possible: they run
once per state, or once per set element."""

from __future__ import annotations

from collections.abc import Callable

from .model import EvaluationError


def members(mask: int, table) -> list:
    out = []
    while mask:
        low = mask & -mask
        out.append(table[low.bit_length() - 1])
        mask ^= low
    return out


def imembers(mask: int, base: int) -> list:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1 + base)
        mask ^= low
    return out


def indexed(mask: int, table) -> list:
    out = []
    while mask:
        low = mask & -mask
        out.append((low, table[low.bit_length() - 1]))
        mask ^= low
    return out


def iindexed(mask: int, base: int) -> list:
    out = []
    while mask:
        low = mask & -mask
        out.append((low, low.bit_length() - 1 + base))
        mask ^= low
    return out


def or_all(bits) -> int:
    mask = 0
    for b in bits:
        mask |= b
    return mask


def in_int(mask: int, v: int, base: int) -> bool:
    return v >= base and (mask >> (v - base)) & 1 == 1


def range_mask(lo: int, hi: int, base: int) -> int:
    if hi < lo:
        return 0
    if lo < base:
        fail(f"the range {lo}..{hi} reaches below {base}, the smallest integer a set may hold")
    return ((1 << (hi - lo + 1)) - 1) << (lo - base)


def subsets(mask: int) -> int:
    out = 0
    sub = mask
    while True:
        out |= 1 << sub
        if sub == 0:
            return out
        sub = (sub - 1) & mask


def union(masks: int) -> int:
    out = 0
    while masks:
        low = masks & -masks
        out |= low.bit_length() - 1
        masks ^= low
    return out


def set_min(mask: int, base: int) -> int:
    if not mask:
        fail("min of an empty set")
    return (mask & -mask).bit_length() - 1 + base


def set_max(mask: int, base: int) -> int:
    if not mask:
        fail("max of an empty set")
    return mask.bit_length() - 1 + base


def seq_at(seq: tuple, i: int):
    if not 1 <= i <= len(seq):
        fail(f"sequence index {i} is outside 1..{len(seq)}")
    return seq[i - 1]


def seq_pos(seq: tuple, i: int) -> int:
    if not 1 <= i <= len(seq):
        fail(f"sequence index {i} is outside 1..{len(seq)}")
    return i - 1


def head(seq: tuple):
    if not seq:
        fail("head of an empty sequence")
    return seq[0]


def last(seq: tuple):
    if not seq:
        fail("last of an empty sequence")
    return seq[-1]


def tail(seq: tuple) -> tuple:
    if not seq:
        fail("tail of an empty sequence")
    return seq[1:]


def bag_members(bag: int, width: int, table) -> list:
    # Jump from one occupied field to the next (the lowest set bit tells which).
    out = []
    mask = (1 << width) - 1
    while bag:
        pos = ((bag & -bag).bit_length() - 1) // width
        out.append(table[pos])
        bag &= ~(mask << (pos * width))
    return out


def bag_indexed(bag: int, width: int, table) -> list:
    out = []
    mask = (1 << width) - 1
    while bag:
        pos = ((bag & -bag).bit_length() - 1) // width
        out.append((1 << pos, table[pos]))
        bag &= ~(mask << (pos * width))
    return out


def bag_size(bag: int, width: int) -> int:
    total = 0
    mask = (1 << width) - 1
    while bag:
        total += bag & mask
        bag >>= width
    return total


def bag_put(bag: int, pos: int, width: int, capacity: int, what: str,
            element: Callable[[int], str]) -> int:
    shift = pos * width
    n = (bag >> shift) & ((1 << width) - 1)
    if n >= capacity:
        copies = "copy" if capacity == 1 else "copies"
        fail(f"put: {what} would hold {n + 1} copies of {element(pos)}, more than its bound "
             f"of {capacity} {copies} of one element")
    return bag + (1 << shift)


def bag_take(bag: int, pos: int, width: int, what: str, element: Callable[[int], str]) -> int:
    shift = pos * width
    if not (bag >> shift) & ((1 << width) - 1):
        fail(f"take: {what} holds no copy of {element(pos)}")
    return bag - (1 << shift)


def seq_slice(seq: tuple, lo: int, hi: int) -> tuple:
    if hi < lo:
        return ()
    if lo < 1 or hi > len(seq):
        fail(f"slice {lo}..{hi} is outside 1..{len(seq)}")
    return seq[lo - 1:hi]


def check_int(v: int, lo: int, hi: int, what: str) -> int:
    if lo <= v <= hi:
        return v
    fail(f"{what} would be {v}, outside its range {lo}..{hi}")


def check_seq(v: tuple, capacity: int, valid, what: str, show):
    if len(v) > capacity:
        fail(f"{what} would have {len(v)} elements, more than its bound {capacity}: {show(v)}")
    return check_value(v, valid, what, show)


def check_value(v, valid, what: str, show):
    if valid(v):
        return v
    fail(f"{what} would be {show(v)}, which is not a value of its type")


def field_missing(tag: str, name: str):
    fail(f"a {tag} message has no field `{name}`")


def fail(message: str):
    raise EvaluationError(message)
