"""Helpers that generated code calls. Kept tiny and branch-free where possible: they run
once per state, or once per set element."""

from __future__ import annotations

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


def check_int(v: int, lo: int, hi: int, what: str) -> int:
    if lo <= v <= hi:
        return v
    fail(f"{what} would be {v}, outside its range {lo}..{hi}")


def check_value(v, valid, what: str, show):
    if valid(v):
        return v
    fail(f"{what} would be {show(v)}, which is not a value of its type")


def field_missing(tag: str, name: str):
    fail(f"a {tag} message has no field `{name}`")


def fail(message: str):
    raise EvaluationError(message)
