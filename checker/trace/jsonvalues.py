"""Values in trace files, read by type: plain JSON (the shape of ``values.to_json``) and
the ITF encodings (``#set``, ``#map``, ``#tup``, ``#bigint``, ``{"tag", "value"}``
variants) are both accepted, so that a value written by any of our writers, by
Apalache or by Quint reads back.

Also: variable paths (``rmState[r1]``, ``rec.field``, ``log[2]``) and observations, the
leaves a state is compared with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import types as T
from ..universe import Universe, UniverseError
from ..values import Value, format_value

_NOVALUE: Any = object()


class ValueReadError(ValueError):
    """A value in a trace does not belong to the type the spec expects."""


_SOME = ("Some", "some")
_NONE = ("None", "none")


def _unwrap_bigint(j: Any) -> Any:
    if isinstance(j, dict) and set(j) == {"#bigint"}:
        try:
            return int(j["#bigint"])
        except (TypeError, ValueError):
            raise ValueReadError(f"bad #bigint {j['#bigint']!r}") from None
    return j


def _items(j: Any, what: str) -> list:
    if isinstance(j, dict):
        for key in ("#set", "#tup"):
            if set(j) == {key}:
                j = j[key]
                break
    if not isinstance(j, list):
        raise ValueReadError(f"expected {what} (a list), found {_show(j)}")
    return j


def _show(j: Any) -> str:
    import json

    try:
        text = json.dumps(j, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(j)
    return text if len(text) <= 60 else text[:57] + "..."


def _member(t: T.EnumT | T.SymT, j: Any) -> str:
    if isinstance(j, dict) and "tag" in j and set(j) <= {"tag", "value"}:
        j = j["tag"]  # a Quint sum type without payload
    if isinstance(j, str):
        if j in t.members:
            return j
        base = j.split("_OF_")[0]  # Apalache writes uninterpreted values as NAME_OF_TYPE
        if base in t.members:
            return base
    raise ValueReadError(f"expected one of {', '.join(t.members)} ({t.name}), found {_show(j)}")


def read_value(univ: Universe, t: T.Type, j: Any) -> Value:
    """The readable value of type ``t`` that the JSON ``j`` stands for (canonical: sets
    and maps in the type's order); raises ValueReadError."""
    return univ.decode(t, pack(univ, t, j))


class _Slow(Exception):  # noqa: N818 (control flow: take the careful path)
    pass


def _fail(*_args: Any) -> Any:
    raise _Slow()


_PACKERS: dict[int, tuple[T.Type, Universe, Any]] = {}


def packer(univ: Universe, t: T.Type):
    """A fast converter for the common shapes of values of ``t`` (plain JSON as our
    writers produce it); raises _Slow on anything else. Cached by identity."""
    hit = _PACKERS.get(id(t))
    if hit is not None and hit[0] is t and hit[1] is univ:
        return hit[2]
    fn = _make_packer(univ, t)
    if len(_PACKERS) > 4096:
        _PACKERS.clear()
    _PACKERS[id(t)] = (t, univ, fn)
    return fn


def _make_packer(univ: Universe, t: T.Type):  # noqa: C901 (one case per type)
    if isinstance(t, T.BoolT):
        def f(j):
            if j is True or j is False:
                return j
            raise _Slow()
        return f
    if isinstance(t, T.IntT):
        lo, hi = t.lo, t.hi

        def f(j):
            if type(j) is int and lo <= j <= hi:
                return j
            raise _Slow()
        return f
    if isinstance(t, (T.EnumT, T.SymT)):
        pos = {m: i for i, m in enumerate(t.members)}

        def f(j):
            try:
                return pos[j]
            except (KeyError, TypeError):
                raise _Slow() from None
        return f
    if isinstance(t, T.OptionT):
        inner = packer(univ, t.inner)

        def f(j):
            return None if j is None else inner(j)
        return f
    if isinstance(t, T.SetT):
        elem = packer(univ, t.elem)
        if isinstance(t.elem, T.IntT):
            base = univ.int_base

            def bit(x):
                return x - base
        elif isinstance(t.elem, (T.EnumT, T.SymT)):
            def bit(x):
                return x
        else:
            index = {v: i for i, v in enumerate(univ.table(t.elem))} \
                if univ.size(t.elem) <= 1 << 16 else None

            def bit(x):
                return index[x] if index is not None else univ.bit(t.elem, x)

        def f(j):
            if type(j) is not list:
                raise _Slow()
            mask = 0
            for x in j:
                mask |= 1 << bit(elem(x))
            return mask
        return f
    if isinstance(t, T.MapT):
        n = univ.size(t.key)
        keys = _positions(univ, t.key)
        value = packer(univ, t.value)
        build = univ.map_build

        def f(j):
            if type(j) is not dict or len(j) != n:
                raise _Slow()
            entries = [None] * n
            seen = 0
            for k, x in j.items():
                i = keys.get(k)
                if i is None:
                    raise _Slow()
                entries[i] = value(x)
                seen |= 1 << i
            if seen != (1 << n) - 1:
                raise _Slow()
            return build(t, entries)
        return f
    if isinstance(t, T.SeqT):
        elem = packer(univ, t.elem)
        cap = t.capacity

        def f(j):
            if type(j) is not list or len(j) > cap:
                raise _Slow()
            return tuple(elem(x) for x in j)
        return f
    if isinstance(t, T.RecordT):
        fields = [(name, packer(univ, ft)) for name, ft in t.fields]
        nf = len(fields)

        def f(j):
            if type(j) is not dict or len(j) != nf:
                raise _Slow()
            try:
                return tuple(p(j[name]) for name, p in fields)
            except KeyError:
                raise _Slow() from None
        return f
    if isinstance(t, T.VariantT):
        cases = {}
        for c, case in enumerate(t.cases):
            cases[case.name] = (c, [(name, packer(univ, ft)) for name, ft in case.fields])

        def f(j):
            if type(j) is str:
                hit = cases.get(j)
                if hit is not None and not hit[1]:
                    return (hit[0],)
                raise _Slow()
            if type(j) is not dict:
                raise _Slow()
            hit = cases.get(j.get("tag"))
            if hit is None or len(j) != len(hit[1]) + 1:
                raise _Slow()
            try:
                return (hit[0], *(p(j[name]) for name, p in hit[1]))
            except KeyError:
                raise _Slow() from None
        return f
    return _fail


def pack(univ: Universe, t: T.Type, j: Any) -> Any:
    """The packed value (as ``Universe.encode`` gives it) of the JSON ``j`` read as a value
    of type ``t``; raises ValueReadError."""
    try:
        return packer(univ, t)(j)
    except _Slow:
        pass
    try:
        return _pack(univ, t, j)
    except ValueReadError:
        raise
    except UniverseError as err:
        raise ValueReadError(str(err)) from None
    except (TypeError, ValueError, IndexError, KeyError) as err:
        raise ValueReadError(f"not a value of type {t}: {_show(j)} ({err})") from None


_POSITIONS: dict[int, tuple[T.Type, Universe, dict]] = {}


def _positions(univ: Universe, t: T.Type) -> dict:
    """For a key (or enumeration) type: the accepted spellings of each value -> position.
    (Cached by identity: hashing a type is slow, and types live as long as their spec.)"""
    hit = _POSITIONS.get(id(t))
    if hit is not None and hit[0] is t and hit[1] is univ:
        return hit[2]
    table = _make_positions(univ, t)
    if len(_POSITIONS) > 4096:
        _POSITIONS.clear()
    _POSITIONS[id(t)] = (t, univ, table)
    return table


def _make_positions(univ: Universe, t: T.Type) -> dict:
    if isinstance(t, (T.EnumT, T.SymT)):
        return {m: i for i, m in enumerate(t.members)}
    out: dict = {}
    if univ.size(t) <= 4096:
        for i in range(univ.size(t)):
            v = univ.decode(t, univ.at(t, i))
            out[format_value(v)] = i
            if isinstance(v, int) and not isinstance(v, bool):
                out[str(v)] = i
    return out


def _pack(univ: Universe, t: T.Type, j: Any) -> Any:  # noqa: C901 (one case per type)
    if isinstance(j, dict) and len(j) == 1 and "#bigint" in j:
        j = _unwrap_bigint(j)
    if isinstance(t, T.BoolT):
        if isinstance(j, bool):
            return j
        raise ValueReadError(f"expected a boolean, found {_show(j)}")
    if isinstance(t, T.IntT):
        if isinstance(j, bool) or not isinstance(j, int):
            raise ValueReadError(f"expected an integer in {t.lo}..{t.hi}, found {_show(j)}")
        if not t.lo <= j <= t.hi:
            raise ValueReadError(f"expected an integer in {t.lo}..{t.hi}, found {j}")
        return j
    if isinstance(t, (T.EnumT, T.SymT)):
        if isinstance(j, str):
            i = _positions(univ, t).get(j)
            if i is not None:
                return i
        return t.members.index(_member(t, j))
    if isinstance(t, T.OptionT):
        if j is None:
            return None
        if isinstance(j, dict) and "tag" in j and set(j) <= {"tag", "value"}:
            if j["tag"] in _NONE:
                return None
            if j["tag"] in _SOME and "value" in j:
                return _pack(univ, t.inner, j["value"])
        return _pack(univ, t.inner, j)
    if isinstance(t, T.SetT):
        elem = t.elem
        mask = 0
        for x in _items(j, "a set"):
            mask |= 1 << univ.bit(elem, _pack(univ, elem, x))
        return mask
    if isinstance(t, T.SeqT):
        items = _items(j, "a sequence")
        if len(items) > t.capacity:
            raise ValueReadError(f"expected a sequence of at most {t.capacity} elements, "
                                 f"found {len(items)}")
        return tuple(_pack(univ, t.elem, x) for x in items)
    if isinstance(t, T.MapT):
        n = univ.size(t.key)
        entries: list[Any] = [_MISSING] * n
        for k, x in _map_items(univ, t, j):
            try:
                entries[k] = _pack(univ, t.value, x)
            except ValueReadError as err:
                key = format_value(univ.decode(t.key, univ.at(t.key, k)))
                raise ValueReadError(f"entry {key}: {err}") from None
        for i, x in enumerate(entries):
            if x is _MISSING:
                key = format_value(univ.decode(t.key, univ.at(t.key, i)))
                raise ValueReadError(f"the map has no entry for {key}")
        return univ.map_build(t, entries)
    if isinstance(t, T.RecordT):
        return _pack_fields(univ, t, _record_fields(j, t.name))
    if isinstance(t, T.VariantT):
        return _pack_message(univ, t, j)
    if isinstance(t, T.BagT):
        return _pack_bag(univ, t, j)
    raise ValueReadError(f"cannot read a value of type {t}")


def _pack_bag(univ: Universe, t: T.BagT, j: Any) -> int:
    """A bag: a list with repetitions, or ``{"#map": [[element, copies], ...]}``."""
    if isinstance(j, dict) and len(j) == 1 and "#map" in j:
        rows = j["#map"]
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 2
                                                 for r in rows):
            raise ValueReadError("#map expects a list of [element, copies] pairs")
        pairs = [(x, _unwrap_bigint(n)) for x, n in rows]
    else:
        pairs = [(x, 1) for x in _items(j, "a bag")]
    w = univ.bag_width(t)
    counts: dict[int, int] = {}
    for x, n in pairs:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueReadError(f"a bag's count must be a whole number, not {_show(n)}")
        b = univ.bit(t.elem, _pack(univ, t.elem, x))
        counts[b] = counts.get(b, 0) + n
        if counts[b] > t.capacity:
            raise ValueReadError(f"a bag holds at most {t.capacity} copies of one element")
    return sum(n << (b * w) for b, n in counts.items())


def _record_fields(j: Any, what: str) -> dict:
    if not isinstance(j, dict):
        raise ValueReadError(f"expected a record ({what}), found {_show(j)}")
    return j


def _pack_fields(univ: Universe, rt: T.RecordT, fields: dict) -> tuple:
    out = []
    matched = 0
    for f, ft in rt.fields:
        if f not in fields:
            if isinstance(ft, T.OptionT):
                out.append(None)
                continue
            raise ValueReadError(f"{rt.name} needs field {f!r}")
        matched += 1
        try:
            out.append(_pack(univ, ft, fields[f]))
        except ValueReadError as err:
            raise ValueReadError(f"field {f} of {rt.name}: {err}") from None
    if len(fields) - ("tag" in fields) > matched:
        known = [f for f, _ in rt.fields]
        extra = [k for k in fields if k not in known and k != "tag"]
        raise ValueReadError(f"{rt.name} has no field {extra[0]!r} (fields: "
                             f"{', '.join(known) or 'none'})")
    return tuple(out)


def _pack_message(univ: Universe, t: T.VariantT, j: Any) -> tuple:
    if isinstance(j, str):
        c = t.case_index(j)
        if c is not None and not t.cases[c].fields:
            return (c,)
    if not isinstance(j, dict) or not isinstance(j.get("tag"), str):
        raise ValueReadError(f"expected a message (an object with a \"tag\"), found {_show(j)}")
    tag = j["tag"]
    c = t.case_index(tag)
    if c is None:
        raise ValueReadError(f"unknown message tag {tag!r} (tags: "
                             f"{', '.join(k.name for k in t.cases)})")
    case = t.cases[c]
    if len(j) == 2 and "value" in j and not (len(case.fields) == 1 and
                                             case.fields[0][0] == "value"):
        inner = j["value"]  # ITF / Quint: {"tag": T, "value": {fields}}
        if isinstance(inner, dict) and "#tup" in inner and not case.fields:
            return (c,)
        if len(case.fields) == 1 and not isinstance(inner, dict):
            inner = {case.fields[0][0]: inner}
        fields = _record_fields(inner, tag)
    else:
        fields = j
    return (c, *_pack_fields(univ, case, fields))


def _map_items(univ: Universe, t: T.MapT, j: Any):
    """(key position, JSON value) pairs of a map written in any accepted form."""
    if isinstance(j, dict) and len(j) == 1 and "#map" in j:
        rows = j["#map"]
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 2
                                                 for r in rows):
            raise ValueReadError("#map expects a list of [key, value] pairs")
        return [(key_position(univ, t.key, k, text=False), v) for k, v in rows]
    if isinstance(j, dict):
        return [(key_position(univ, t.key, k), v) for k, v in j.items()]
    if isinstance(j, list) and all(isinstance(r, list) and len(r) == 2 for r in j):
        return [(key_position(univ, t.key, k, text=False), v) for k, v in j]
    raise ValueReadError(f"expected a map (an object), found {_show(j)}")


def key_position(univ: Universe, t: T.Type, key: Any, text: bool = True) -> int:
    """The position of a map key given as text (an object key, ``m[...]``) or as JSON."""
    if text and isinstance(key, str):
        i = _positions(univ, t).get(key)
        if i is not None:
            return i
        if isinstance(t, (T.EnumT, T.SymT)):
            return t.members.index(_member(t, key))
        if isinstance(t, T.IntT):
            raise ValueReadError(f"expected an integer key in {t.lo}..{t.hi}, found {key!r}")
        raise ValueReadError(f"{key!r} is not a value of type {t}")
    return univ.index(t, _pack(univ, t, key))


def read_key(univ: Universe, t: T.Type, text: Any) -> Value:
    """A map key written as text (an object key, or inside ``var[...]``)."""
    return univ.decode(t, univ.at(t, key_position(univ, t, text)))


# ------------------------------------------------------------------ variable paths
@dataclass(frozen=True)
class PathStep:
    kind: str          # "key" (map), "field" (record), "index" (sequence, 1-based)
    key: Any           # for showing: the readable key, the field name, the index
    pos: int           # the key's position, the field's position, the index
    container: T.Type  # the type stepped into


def step_packed(univ: Universe, v: Any, step: PathStep) -> Any:
    if step.kind == "key":
        assert isinstance(step.container, T.MapT)
        if univ.packs(step.container):
            return univ.map_entries(step.container, v)[step.pos]
        return v[step.pos]
    if step.kind == "field":
        return v[step.pos]
    return v[step.pos - 1] if 1 <= step.pos <= len(v) else _MISSING


class Leaf:
    """One observed value: variable ``slot`` (at ``path`` inside it) equals ``packed``
    (``op`` "eq"), or the set (or bag) variable ``slot`` contains the element (``op``
    "has"; ``packed`` is the mask of the element's bit, or of its count in a bag)."""

    __slots__ = ("slot", "var", "path", "packed", "text", "t", "op", "_value", "univ")

    def __init__(self, univ: Universe, slot: int, var: str, path: tuple[PathStep, ...],
                 packed: Any, text: str, t: T.Type, op: str = "eq", value: Any = _NOVALUE):
        self.univ, self.slot, self.var, self.path = univ, slot, var, path
        self.packed, self.text, self.t, self.op = packed, text, t, op
        self._value = value

    @property
    def value(self) -> Value:
        """The expected value, readable (for an "has" leaf: the element)."""
        if self._value is _NOVALUE:
            self._value = self.univ.decode(self.t, self.packed)
        return self._value

    def at(self, state: Any) -> Any:
        """The packed value at this place in ``state`` (_MISSING if it is not there)."""
        v = state[self.slot]
        for step in self.path:
            if v is _MISSING:
                return v
            v = step_packed(self.univ, v, step)
        return v

    def holds(self, state: Any) -> bool:
        if self.op == "has":  # ``packed``: the element's bit (a set) or count bits (a bag)
            x = state[self.slot]
            return isinstance(x, int) and x & self.packed != 0
        if not self.path:
            return state[self.slot] == self.packed
        return self.at(state) == self.packed

    def found(self, state: Any, var_t: T.Type) -> Value:
        """The readable value at this place in ``state`` (for "has": the whole set)."""
        if self.op == "has":
            return self.univ.decode(var_t, state[self.slot])
        v = self.at(state)
        return v if v is _MISSING else self.univ.decode(self.t, v)

    def __repr__(self) -> str:
        return f"Leaf({self.text} {self.op} {self.packed!r})"


_MISSING = object()


_PATH_TOKEN = re.compile(r"\s*(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[)")
def parse_path(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``rmState[r1].x`` -> ("rmState", [("[", "r1"), (".", "x")]); raises ValueReadError."""
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", text)
    if not m:
        raise ValueReadError(f"{text!r} is not a variable path (like rmState[r1])")
    name, pos, out = m.group(1), m.end(), []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _PATH_TOKEN.match(text, pos)
        if not m:
            raise ValueReadError(f"cannot read the variable path {text!r} at "
                                 f"{text[pos:]!r}")
        if m.group(1):
            out.append((".", m.group(1)))
            pos = m.end()
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"[": 1, "]": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise ValueReadError(f"unbalanced [ in the variable path {text!r}")
        out.append(("[", text[m.end():i - 1].strip()))
        pos = i
    return name, out


def resolve_path(univ: Universe, var_types: dict[str, tuple[int, T.Type]], text: str
                 ) -> tuple[int, str, tuple[PathStep, ...], T.Type]:
    """A variable path's slot, variable name, steps and type."""
    name, raw = parse_path(text)
    if name not in var_types:
        raise ValueReadError(f"no variable {name!r} (variables: "
                             f"{', '.join(var_types)})")
    slot, t = var_types[name]
    steps: list[PathStep] = []
    for kind, key in raw:
        if kind == "[" and isinstance(t, T.MapT) or kind == "." and isinstance(t, T.MapT):
            pos = key_position(univ, t.key, key)
            steps.append(PathStep("key", univ.decode(t.key, univ.at(t.key, pos)), pos, t))
            t = t.value
        elif kind == "[" and isinstance(t, T.SeqT):
            try:
                steps.append(PathStep("index", int(key), int(key), t))
            except ValueError:
                raise ValueReadError(f"a sequence index must be an integer, not {key!r}") \
                    from None
            t = t.elem
        elif kind == "." and isinstance(t, T.RecordT) and t.field_index(key) is not None:
            steps.append(PathStep("field", key, t.field_index(key), t))
            t = dict(t.fields)[key]
        else:
            what = f"[{key}]" if kind == "[" else f".{key}"
            raise ValueReadError(f"cannot take {what} of a value of type {t} in {text!r}")
    return slot, name, tuple(steps), t


def path_text(var: str, steps: tuple[PathStep, ...]) -> str:
    out = var
    for s in steps:
        if s.kind == "field":
            out += f".{s.key}"
        elif s.kind == "index":
            out += f"[{s.key}]"
        else:
            out += f"[{format_value(s.key)}]"
    return out


def leaves(univ: Universe, var_types: dict[str, tuple[int, T.Type]], place: str,
           j: Any, paths: dict | None = None) -> list[Leaf]:
    """The observation ``place = j`` as leaves. A map (or record) given as an object with
    only some keys observes only those entries. ``paths`` caches resolved places."""
    resolved = paths.get(place) if paths is not None else None
    if resolved is None:
        resolved = resolve_path(univ, var_types, place)
        if paths is not None and len(paths) < 10_000:
            paths[place] = resolved
    slot, var, steps, t = resolved
    return _leaves(univ, slot, var, steps, t, j)


def _leaves(univ, slot, var, steps, t, j) -> list[Leaf]:
    if isinstance(t, T.MapT) and isinstance(j, dict) and "#map" not in j:
        positions = [key_position(univ, t.key, k) for k in j]
        if len(set(positions)) != univ.size(t.key):
            out = []
            for pos, x in zip(positions, j.values()):
                key = univ.decode(t.key, univ.at(t.key, pos))
                out.extend(_leaves(univ, slot, var, (*steps, PathStep("key", key, pos, t)),
                                   t.value, x))
            return out
    if isinstance(t, T.RecordT) and isinstance(j, dict):
        names = [f for f, _ in t.fields]
        if set(j) < set(names):
            out = []
            for f, x in j.items():
                out.extend(_leaves(univ, slot, var, (*steps, PathStep("field", f,
                                                                      t.field_index(f), t)),
                                   dict(t.fields)[f], x))
            return out
    packed = pack(univ, t, j)
    return [Leaf(univ, slot, var, tuple(steps), packed, path_text(var, tuple(steps)), t)]
