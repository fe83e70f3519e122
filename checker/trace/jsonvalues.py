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
from functools import lru_cache
from typing import Any

from .. import types as T
from ..universe import Universe, UniverseError
from ..values import MapValue, RecordValue, SeqValue, SetValue, Value, format_value


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
    v = _read(univ, t, j)
    try:
        return univ.decode(t, univ.encode(t, v))
    except UniverseError as err:
        raise ValueReadError(str(err)) from None
    except (TypeError, ValueError, IndexError, KeyError) as err:
        raise ValueReadError(f"not a value of type {t}: {_show(j)} ({err})") from None


def _read(univ: Universe, t: T.Type, j: Any) -> Value:
    j = _unwrap_bigint(j)
    if isinstance(t, T.OptionT):
        if j is None:
            return None
        if isinstance(j, dict) and j.get("tag") in _NONE and set(j) <= {"tag", "value"}:
            return None
        if isinstance(j, dict) and j.get("tag") in _SOME and set(j) == {"tag", "value"}:
            return _read(univ, t.inner, j["value"])
        return _read(univ, t.inner, j)
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
        return _member(t, j)
    if isinstance(t, T.SetT):
        return SetValue(tuple(_read(univ, t.elem, x) for x in _items(j, "a set")))
    if isinstance(t, T.SeqT):
        items = _items(j, "a sequence")
        if len(items) > t.capacity:
            raise ValueReadError(f"expected a sequence of at most {t.capacity} elements, "
                                 f"found {len(items)}")
        return SeqValue(tuple(_read(univ, t.elem, x) for x in items))
    if isinstance(t, T.MapT):
        pairs = _map_pairs(univ, t, j)
        keys = [univ.decode(t.key, univ.at(t.key, i)) for i in range(univ.size(t.key))]
        missing = [k for k in keys if k not in pairs]
        if missing:
            raise ValueReadError(f"the map has no entry for {format_value(missing[0])}")
        return MapValue(tuple((k, pairs[k]) for k in keys))
    if isinstance(t, T.RecordT):
        fields = _record_fields(j, t.name)
        return RecordValue(None, _fields(univ, t, fields))
    if isinstance(t, T.VariantT):
        return _read_message(univ, t, j)
    raise ValueReadError(f"cannot read a value of type {t}")


def _record_fields(j: Any, what: str) -> dict:
    if not isinstance(j, dict):
        raise ValueReadError(f"expected a record ({what}), found {_show(j)}")
    return j


def _fields(univ: Universe, rt: T.RecordT, fields: dict) -> tuple:
    known = {f for f, _ in rt.fields}
    extra = [k for k in fields if k not in known and k != "tag"]
    if extra:
        raise ValueReadError(f"{rt.name} has no field {extra[0]!r} (fields: "
                             f"{', '.join(known) or 'none'})")
    out = []
    for f, ft in rt.fields:
        if f not in fields:
            if isinstance(ft, T.OptionT):
                out.append((f, None))
                continue
            raise ValueReadError(f"{rt.name} needs field {f!r}")
        try:
            out.append((f, _read(univ, ft, fields[f])))
        except ValueReadError as err:
            raise ValueReadError(f"field {f} of {rt.name}: {err}") from None
    return tuple(out)


def _read_message(univ: Universe, t: T.VariantT, j: Any) -> Value:
    if isinstance(j, str):
        c = t.case_index(j)
        if c is not None and not t.cases[c].fields:
            return RecordValue(j, ())
    if not isinstance(j, dict) or not isinstance(j.get("tag"), str):
        raise ValueReadError(f"expected a message (an object with a \"tag\"), found {_show(j)}")
    tag = j["tag"]
    c = t.case_index(tag)
    if c is None:
        raise ValueReadError(f"unknown message tag {tag!r} (tags: "
                             f"{', '.join(k.name for k in t.cases)})")
    case = t.cases[c]
    if set(j) == {"tag", "value"} and not (len(case.fields) == 1 and case.fields[0][0] ==
                                           "value"):
        inner = j["value"]  # ITF / Quint: {"tag": T, "value": {fields}}
        if isinstance(inner, dict) and "#tup" in inner and not case.fields:
            return RecordValue(tag, ())
        if len(case.fields) == 1 and not isinstance(inner, dict):
            inner = {case.fields[0][0]: inner}
        fields = _record_fields(inner, tag)
    else:
        fields = {k: x for k, x in j.items() if k != "tag"}
    return RecordValue(tag, _fields(univ, case, fields))


def _map_pairs(univ: Universe, t: T.MapT, j: Any) -> dict:
    if isinstance(j, dict) and set(j) == {"#map"}:
        rows = j["#map"]
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 2
                                                 for r in rows):
            raise ValueReadError("#map expects a list of [key, value] pairs")
        return {_read(univ, t.key, k): _read(univ, t.value, v) for k, v in rows}
    if isinstance(j, dict):
        out = {}
        for k, v in j.items():
            key = read_key(univ, t.key, k)
            try:
                out[key] = _read(univ, t.value, v)
            except ValueReadError as err:
                raise ValueReadError(f"entry {k}: {err}") from None
        return out
    if isinstance(j, list) and all(isinstance(r, list) and len(r) == 2 for r in j):
        return {_read(univ, t.key, k): _read(univ, t.value, v) for k, v in j}
    raise ValueReadError(f"expected a map (an object), found {_show(j)}")


def read_key(univ: Universe, t: T.Type, text: Any) -> Value:
    """A map key written as text (an object key, or inside ``var[...]``)."""
    if not isinstance(text, str):
        return _read(univ, t, text)
    if isinstance(t, (T.EnumT, T.SymT)):
        return _member(t, text)
    if isinstance(t, T.IntT):
        try:
            return _read(univ, t, int(text))
        except ValueError:
            raise ValueReadError(f"expected an integer key in {t.lo}..{t.hi}, found "
                                 f"{text!r}") from None
    if isinstance(t, T.BoolT) and text in ("true", "false"):
        return text == "true"
    table = _key_table(univ, t)
    if text in table:
        return table[text]
    raise ValueReadError(f"{text!r} is not a value of type {t}")


@lru_cache(maxsize=64)
def _key_table(univ: Universe, t: T.Type) -> dict[str, Value]:
    if univ.size(t) > 4096:
        return {}
    return {format_value(univ.decode(t, v)): univ.decode(t, v) for v in univ.table(t)}


# ------------------------------------------------------------------ variable paths
@dataclass(frozen=True)
class PathStep:
    kind: str          # "key" (map), "field" (record or message), "index" (sequence, 1-based)
    key: Any           # a readable key, a field name, an index


@dataclass(frozen=True)
class Leaf:
    """One observed value: variable ``slot`` (at ``path`` inside it) equals ``value``."""

    slot: int
    var: str
    path: tuple[PathStep, ...]
    value: Value                 # readable, canonical
    packed: Any                  # the packed value when ``path`` is empty
    text: str                    # how to show the place: ``rmState[r1]``
    t: T.Type                    # the type at that place

    def found(self, univ: Universe, var_t: T.Type, packed_var: Any) -> Value:
        """The value at this place in a state (``packed_var`` is the variable's value)."""
        v = univ.decode(var_t, packed_var)
        for step in self.path:
            v = step_into(v, step)
        return v


_MISSING = object()


def step_into(v: Value, step: PathStep) -> Any:
    if step.kind == "key" and isinstance(v, MapValue):
        for k, x in v.pairs:
            if k == step.key:
                return x
        return _MISSING
    if step.kind == "field" and isinstance(v, RecordValue):
        for f, x in v.fields:
            if f == step.key:
                return x
        return _MISSING
    if step.kind == "index" and isinstance(v, SeqValue):
        i = step.key
        return v.items[i - 1] if 1 <= i <= len(v.items) else _MISSING
    return _MISSING


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
        if kind == "[" and isinstance(t, T.MapT):
            steps.append(PathStep("key", read_key(univ, t.key, key)))
            t = t.value
        elif kind == "[" and isinstance(t, T.SeqT):
            try:
                steps.append(PathStep("index", int(key)))
            except ValueError:
                raise ValueReadError(f"a sequence index must be an integer, not {key!r}") \
                    from None
            t = t.elem
        elif kind == "." and isinstance(t, T.RecordT) and t.field_index(key) is not None:
            steps.append(PathStep("field", key))
            t = dict(t.fields)[key]
        elif kind == "." and isinstance(t, T.MapT):
            steps.append(PathStep("key", read_key(univ, t.key, key)))
            t = t.value
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
           j: Any) -> list[Leaf]:
    """The observation ``place = j`` as leaves. A map (or record) given as an object with
    only some keys observes only those entries."""
    slot, var, steps, t = resolve_path(univ, var_types, place)
    return _leaves(univ, slot, var, steps, t, j)


def _leaves(univ, slot, var, steps, t, j) -> list[Leaf]:
    if isinstance(t, T.MapT) and isinstance(j, dict) and "#map" not in j:
        keys = [univ.decode(t.key, univ.at(t.key, i)) for i in range(univ.size(t.key))]
        given = {read_key(univ, t.key, k): x for k, x in j.items()}
        if set(given) != set(keys):
            out = []
            for k, x in given.items():
                out.extend(_leaves(univ, slot, var, (*steps, PathStep("key", k)), t.value, x))
            return out
    if isinstance(t, T.RecordT) and isinstance(j, dict):
        names = [f for f, _ in t.fields]
        if set(j) < set(names):
            out = []
            for f, x in j.items():
                out.extend(_leaves(univ, slot, var, (*steps, PathStep("field", f)),
                                   dict(t.fields)[f], x))
            return out
    value = read_value(univ, t, j)
    packed = univ.encode(t, value) if not steps else None
    return [Leaf(slot, var, tuple(steps), value, packed, path_text(var, tuple(steps)), t)]
