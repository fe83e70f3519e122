"""The Informal Trace Format (ITF) of Apalache and Quint: read and write.

An ITF trace is one JSON object::

    {"#meta": {...}, "vars": ["x", "y"], "states": [{"#meta": {"index": 0}, "x": ..., ...}]}

with values encoded as: booleans, strings and integers as JSON (big integers as
``{"#bigint": "123"}``), sets ``{"#set": [...]}``, maps ``{"#map": [[k, v], ...]}``
(and our bags as maps from element to number of copies),
tuples ``{"#tup": [...]}``, sequences as arrays, records as objects, and variants (our
messages, and options) as ``{"tag": "Name", "value": ...}`` (Quint's ``Some``/``None``
for optional values).

We write the states of a counterexample or witness with the action that led to each
(``mbt::actionTaken``, ``mbt::nondetPicks``, as Quint does); we read full or partial
states, and those fields when present (also ``action_taken``/``nondet_picks``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import types as T
from .compile import CompiledSpec
from .result import Result, TraceStep
from .source import Diagnostic, Source, Span, SpecError
from .values import BagValue, MapValue, RecordValue, SeqValue, SetValue, Value

ACTION_KEYS = ("mbt::actionTaken", "action_taken", "#action")
PICKS_KEYS = ("mbt::nondetPicks", "nondet_picks")
FORMAT_URL = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_SAFE_INT = 2 ** 53


# ------------------------------------------------------------------------ writing
def value_to_itf(t: T.Type | None, v: Value) -> Any:
    """The ITF encoding of a readable value (typed where the type is known)."""
    if isinstance(t, T.OptionT):
        if v is None:
            return {"tag": "None", "value": {"#tup": []}}
        return {"tag": "Some", "value": value_to_itf(t.inner, v)}
    if v is None:
        return {"tag": "None", "value": {"#tup": []}}
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if -_SAFE_INT < v < _SAFE_INT else {"#bigint": str(v)}
    if isinstance(v, SetValue):
        elem = t.elem if isinstance(t, T.SetT) else None
        return {"#set": [value_to_itf(elem, x) for x in v.items]}
    if isinstance(v, BagValue):  # a multiset: element -> number of copies
        elem = t.elem if isinstance(t, T.BagT) else None
        return {"#map": [[value_to_itf(elem, x), n] for x, n in v.items]}
    if isinstance(v, SeqValue):
        elem = t.elem if isinstance(t, T.SeqT) else None
        return [value_to_itf(elem, x) for x in v.items]
    if isinstance(v, MapValue):
        kt, vt = (t.key, t.value) if isinstance(t, T.MapT) else (None, None)
        return {"#map": [[value_to_itf(kt, k), value_to_itf(vt, x)] for k, x in v.pairs]}
    if isinstance(v, RecordValue):
        ftypes: dict[str, T.Type] = {}
        if isinstance(t, T.RecordT):
            ftypes = dict(t.fields)
        elif isinstance(t, T.VariantT) and v.tag is not None:
            c = t.case_index(v.tag)
            if c is not None:
                ftypes = dict(t.cases[c].fields)
        fields = {f: value_to_itf(ftypes.get(f), x) for f, x in v.fields}
        if v.tag is None:
            return fields
        return {"tag": v.tag, "value": fields if fields else {"#tup": []}}
    raise TypeError(f"not a readable value: {v!r}")


def write_itf(result_or_trace: Result | Sequence[TraceStep], compiled: CompiledSpec, *,
              as_text: bool = False, description: str | None = None) -> dict | str:
    """An ITF document for a counterexample (the Result's violation trace, or a witness
    of a rejected trace) or for any sequence of TraceSteps. With ``as_text``, the JSON
    text (indented, ending with a newline)."""
    if isinstance(result_or_trace, Result):
        result = result_or_trace
        if result.violation is None:
            raise ValueError("the result has no trace to write (status "
                             f"{result.status.value})")
        trace = result.violation.trace
        if description is None:
            v = result.violation
            what = v.property or v.kind
            description = f"{result.engine} engine: {result.status.value} ({what})"
    else:
        trace = tuple(result_or_trace)
    typed = compiled.typed
    var_types = {v.name: v.t for v in typed.variables}
    actions = {a.name: a for a in typed.actions}
    names = [v.name for v in typed.variables]
    constants = {k: value_to_itf(typed.constants[k][1] if k in typed.constants else None, v)
                 for k, v in compiled.model.constants.items()}
    states = []
    for i, step in enumerate(trace):
        st: dict[str, Any] = {"#meta": {"index": i}}
        if i == 0:
            # (ADR-015: the trace's parameters are set in its initial state)
            st.update(sorted(constants.items()))
        for name in names:
            if name in step.state:
                st[name] = value_to_itf(var_types[name], step.state[name])
        st["mbt::actionTaken"] = step.action if step.action is not None else "init"
        picks: dict[str, Any] = {}
        a = actions.get(step.action) if step.action is not None else None
        if a is not None:
            for b, x in zip(a.params, step.args):
                picks[b.local.name] = {"tag": "Some", "value": value_to_itf(b.local.t, x)}
        st["mbt::nondetPicks"] = picks
        states.append(st)
    doc = {
        "#meta": {"format": "ITF", "format-description": FORMAT_URL, "source": typed.name,
                  "description": description or "a trace of " + typed.name,
                  "generated-by": "modelcheck"},
        "params": sorted(compiled.model.constants),
        "vars": names + ["mbt::actionTaken", "mbt::nondetPicks"],
        "states": states,
    }
    if isinstance(result_or_trace, Result) and result_or_trace.symmetry:
        # (the trace itself is concrete; the search's counts were of orbits)
        doc["#meta"]["symmetry"] = list(result_or_trace.symmetry)
    if constants:
        doc["#meta"]["constants"] = constants
    if as_text:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return doc


# ------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class ItfState:
    """One state of an ITF trace: the variables it gives (readable), and the action that
    led to it with its arguments, when the file says."""

    index: int
    values: dict[str, Value]
    action: str | None
    args: dict[str, Value] | None
    line: int                       # where the state starts in the file (1-based; 0: unknown)
    raw: dict
    # variables the file gives as {"#unserializable": ...} (Apalache: a value it could
    # not write), left unobserved
    unserializable: tuple[str, ...] = ()


def read_itf(path: str, compiled: CompiledSpec, text: str | None = None) -> list[ItfState]:
    """The states of an ITF file, checked against the spec's variable and action types;
    raises SpecError (with the file and line) on malformed input."""
    from .trace.jsonvalues import ValueReadError, read_value

    if text is None:
        try:
            with open(path, encoding="utf-8-sig") as f:
                text = f.read()
        except OSError as err:
            raise SpecError([Diagnostic(f"cannot read the ITF file: {err.strerror}",
                                        Span.unknown())], Source(path, "")) from None
        except UnicodeDecodeError as err:
            raise SpecError([Diagnostic(f"the ITF file is not UTF-8 text ({err.reason} at "
                                        f"byte {err.start})", Span.unknown())],
                            Source(path, "")) from None
    if text.startswith("\ufeff"):  # a byte-order mark
        text = text[1:]
    source = Source(path, text)

    def fail(message: str, at: int | tuple[int, int] = 0, col: int = 1) -> SpecError:
        line, col = at if isinstance(at, tuple) else (at, col)
        return SpecError([Diagnostic(message, Span(line, col if line else 0))], source)

    if not text.strip():
        raise fail("empty ITF file: no states", 1)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise fail(f"not valid JSON: {err.msg}", err.lineno, err.colno) from None
    except ValueError:  # an integer of more digits than Python reads
        from .trace.reader import long_integer

        big = long_integer(text)
        raise fail(f"an integer of {big[2] if big else 'too many'} digits, too long to read "
                   "(and outside every type of the spec)", (big[0], big[1]) if big else 1) \
            from None
    if not isinstance(doc, dict) or not isinstance(doc.get("states"), list):
        raise fail("not an ITF trace: expected an object with a \"states\" list", 1)
    if not doc["states"]:
        raise fail("the ITF trace has no states", 1)
    typed = compiled.typed
    var_types = {v.name: v.t for v in typed.variables}
    actions = {a.name: a for a in typed.actions}
    lines = _state_lines(text, len(doc["states"]))
    # the trace's parameters (the spec's constants, for Apalache, Quint and this tool),
    # which the initial state sets: given by the spec and --const here, not read
    params = doc.get("params") if isinstance(doc.get("params"), list) else []
    out = []
    for i, st in enumerate(doc["states"]):
        line = lines[i] if i < len(lines) else 0
        if not isinstance(st, dict):
            raise fail(f"state {i} is not an object", line)
        values: dict[str, Value] = {}
        unserializable: list[str] = []
        action = None
        args = None
        for key, j in st.items():
            if key == "#meta":
                continue
            if key in ACTION_KEYS:
                if not isinstance(j, str):
                    raise fail(f"state {i}: {key} must be a string",
                               _pos_of(text, f'"{key}"', line))
                action = j
                continue
            if key in PICKS_KEYS:
                args = j
                continue
            if key.startswith("mbt::") or key.startswith("#") or key in params:
                continue
            if key not in var_types:
                raise fail(f"state {i} has a variable {key!r} that {typed.name} does not "
                           f"have (variables: {', '.join(var_types)})",
                           _pos_of(text, f'"{key}"', line))
            try:
                values[key] = read_value(compiled.universe, var_types[key], j)
            except ValueReadError as err:
                if _unserializable(j):
                    unserializable.append(key)
                    continue
                raise fail(f"state {i}, variable {key}: {err}",
                           _pos_of(text, f'"{key}"', line)) from None
        if i == 0 or action in (None, "init", "step", ""):
            action = None if i == 0 or action in ("init", "step", "") else action
        picks: dict[str, Value] | None = None
        if action is not None:
            a = actions.get(action)
            if a is None:
                raise fail(f"state {i}: action {action!r} is not an action of {typed.name} "
                           f"(actions: {', '.join(actions)})",
                           _pos_of(text, json.dumps(action), line))
            picks = {}
            if isinstance(args, dict):
                ptypes = {b.local.name: b.local.t for b in a.params}
                for name, j in args.items():
                    if name not in ptypes:
                        continue  # another action's pick (Quint lists them all)
                    if isinstance(j, dict) and j.get("tag") in ("None", "none"):
                        continue
                    if isinstance(j, dict) and j.get("tag") in ("Some", "some") and \
                            set(j) == {"tag", "value"}:
                        j = j["value"]
                    try:
                        picks[name] = read_value(compiled.universe, ptypes[name], j)
                    except ValueReadError as err:
                        raise fail(f"state {i}, argument {name} of {action}: {err}",
                                   _pos_of(text, f'"{name}"', line)) from None
        out.append(ItfState(i, values, action, picks, line, st, tuple(unserializable)))
    return out


def _state_lines(text: str, n: int) -> list[int]:
    """The line where each state's ``"#meta"`` (or object) starts, best effort."""
    out = []
    pos = text.find('"states"')
    for _ in range(n):
        j = text.find('"#meta"', pos + 1)
        if j < 0:
            break
        # The state object starts at the last '{' before its "#meta".
        k = text.rfind("{", 0, j)
        out.append(text.count("\n", 0, k) + 1)
        pos = text.find("}", j)
    return out


def _pos_of(text: str, needle: str, after_line: int) -> tuple[int, int]:
    """The line and column of ``needle``, searched from line ``after_line`` on."""
    if after_line <= 0:
        return 0, 0
    offset = 0
    for _ in range(after_line - 1):
        offset = text.find("\n", offset) + 1
    i = text.find(needle, offset)
    if i < 0:
        return after_line, 1
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def _unserializable(j: Any) -> bool:
    """Whether an ITF value is, or holds, ``{"#unserializable": ...}``."""
    if isinstance(j, dict):
        return "#unserializable" in j or any(_unserializable(x) for x in j.values())
    if isinstance(j, list):
        return any(_unserializable(x) for x in j)
    return False
