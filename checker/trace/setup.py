"""Loading a spec for a set of traces: constants come from the command line first, then
from the mapping file, then from the traces' headers (``{"header": {"constants": ...}}``
on the first line, or an ITF file's ``#meta.constants``)."""

from __future__ import annotations

import json
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from typing import Any

from ..compile import CompiledSpec
from ..source import SpecError
from .engine import constant_text
from .mapping import MISSING, get_path, load_mapping
from .reader import is_itf, read_records, read_text


def header_constants(trace_paths: Sequence[str], mapping: Any = None) -> dict[str, str]:
    """Constants the traces' headers (and the mapping) give, as ``--const`` texts."""
    m = load_mapping(mapping)
    out: dict[str, str] = {}
    for name, j in m.constants.items():
        out[name] = constant_text(j)
    for path in trace_paths:
        consts: Any = None
        try:
            text = read_text(path)
        except SpecError:
            continue    # (said when that file is validated: the others still are)
        if is_itf(path, text):
            try:
                consts = itf_constants(json.loads(text))
            except ValueError:
                consts = None
        else:
            try:
                records = read_records(path, m, 0, text, limit=1)
            except SpecError:
                continue
            for rec in records:
                if rec.header:
                    h = get_path(rec.obj, m.fields.header)
                    if isinstance(h, dict):
                        consts = h.get("constants")
                break
        if isinstance(consts, dict):
            for name, j in consts.items():
                out.setdefault(name, constant_text(j))
    return out


def itf_constants(doc: Any) -> dict[str, Any]:
    """The constants an ITF document was written with (as plain JSON): ``#meta.constants``
    (ours), and the ``params`` that its initial state sets (ADR-015, as Apalache writes
    them)."""
    out: dict[str, Any] = {}
    if not isinstance(doc, dict):
        return out
    meta = doc.get("#meta")
    consts = meta.get("constants") if isinstance(meta, dict) else None
    if isinstance(consts, dict):
        out.update((k, _from_itf(v)) for k, v in consts.items())
    params = doc.get("params")
    states = doc.get("states")
    if isinstance(params, list) and isinstance(states, list) and states and \
            isinstance(states[0], dict):
        for name in params:
            if isinstance(name, str) and name in states[0] and name not in out:
                out[name] = _from_itf(states[0][name])
    return out


def _from_itf(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"#set"}:
        return [_from_itf(x) for x in v["#set"]]
    if isinstance(v, dict) and set(v) == {"#bigint"}:
        return int(v["#bigint"])
    return v if v is not MISSING else None


def load_for_traces(spec_path: str, trace_paths: Sequence[str],
                    consts: AbcMapping[str, str] | Sequence[str] = (), mapping: Any = None,
                    faults: Sequence[str] = (), max_faults: int | None = None) -> CompiledSpec:
    """``api.load_spec`` with constants the command line does not set taken from the
    mapping and the traces' headers. Only constants the spec declares are passed on."""
    from ..api import load_spec, parse_const_assignments

    given: dict[str, str]
    if isinstance(consts, AbcMapping):
        given = {k: str(v) for k, v in consts.items()}
    else:
        given = {k: s.text for k, s in parse_const_assignments(consts).items()}
    spec = load_spec(spec_path, given, faults, max_faults=max_faults)
    extra = {k: v for k, v in header_constants(trace_paths, mapping).items()
             if k not in given and k in spec.typed.constants}
    if not extra:
        return spec
    return load_spec(spec_path, {**given, **extra}, faults, max_faults=max_faults)
