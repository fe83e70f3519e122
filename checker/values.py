"""Readable values: what engines hand to renderers.

The compiler packs states however it likes; ``Model.decode`` turns a packed state into
these plain, ordered, hashable values, which every renderer (text, JSON, ITF, HTML)
understands without knowing anything about packing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Union, not `|`: the members are forward references.
Value = Union[  # noqa: UP007
    int, bool, str, None, "SetValue", "MapValue", "RecordValue", "SeqValue", "BagValue"]


@dataclass(frozen=True)
class SetValue:
    items: tuple[Value, ...]  # in the type's canonical order


@dataclass(frozen=True)
class SeqValue:
    items: tuple[Value, ...]


@dataclass(frozen=True)
class BagValue:
    """A multiset: each distinct element with its number of copies (all >= 1)."""

    items: tuple[tuple[Value, int], ...]


@dataclass(frozen=True)
class MapValue:
    pairs: tuple[tuple[Value, Value], ...]  # keys in the key type's canonical order


@dataclass(frozen=True)
class RecordValue:
    """A record, or a message (``tag`` is the variant's name; None for plain records)."""

    tag: str | None
    fields: tuple[tuple[str, Value], ...]


def format_value(v: Value) -> str:
    """Spec-like text: ``{r1, r2}``, ``{r1: working}``, ``P1b(acc=a1, bal=0)``, ``none``."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, SetValue):
        return "{" + ", ".join(format_value(x) for x in v.items) + "}"
    if isinstance(v, SeqValue):
        return "[" + ", ".join(format_value(x) for x in v.items) + "]"
    if isinstance(v, MapValue):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(x)}" for k, x in v.pairs) + "}"
    if isinstance(v, BagValue):
        return "{|" + ", ".join(format_value(x) + (f" x{n}" if n > 1 else "")
                                for x, n in v.items) + "|}"
    if isinstance(v, RecordValue):
        inner = ", ".join(f"{k}={format_value(x)}" for k, x in v.fields)
        if v.tag is None:
            return "(" + inner + ")"
        return v.tag if not v.fields else f"{v.tag}({inner})"
    raise TypeError(f"not a readable value: {v!r}")


def to_json(v: Value):
    """The JSON shape of the foundation issue: sets as lists, maps and records as objects,
    messages with a "tag" key, none as null."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, (SetValue, SeqValue)):
        return [to_json(x) for x in v.items]
    if isinstance(v, MapValue):
        return {_json_key(k): to_json(x) for k, x in v.pairs}
    if isinstance(v, BagValue):
        return [to_json(x) for x, n in v.items for _ in range(n)]
    if isinstance(v, RecordValue):
        obj = {"tag": v.tag} if v.tag is not None else {}
        obj.update((k, to_json(x)) for k, x in v.fields)
        return obj
    raise TypeError(f"not a readable value: {v!r}")


def _json_key(k: Value) -> str:
    return k if isinstance(k, str) else format_value(k)
