"""The mapping from a log's lines to the spec's actions.

Without a mapping, the minimal convention applies: each line is a JSON object with
``event`` (an action's name), ``args`` (by parameter name, or a list in parameter
order), optionally ``node``, ``state``/``observe`` (observed values after the step),
``before`` (observed values before it), ``sent``/``received`` (messages), and ordering
fields ``ts``, ``seq``, ``clock``. A mapping file (TOML, or JSON with the same
structure) changes any of that; see docs/traces.md for the full reference::

    spec = "specs/2pc.spec"             # optional: the spec the mapping is for

    [input]
    ignore_non_json = true              # skip lines that are not JSON objects
    prefix = '^\\S+ \\S+ '              # a regex removed from each line before parsing
    json_start = true                   # or: parse from the first '{' of each line
    filter = { field = "kind", equals = "trace" }   # keep only such lines
    order = "ts"                        # file | ts | seq | clock | auto

    [fields]                            # where things live (dotted paths)
    event = "msg.type"
    args = "msg"
    node = "host"

    [silent]                            # actions that may happen between logged events
    actions = ["RMChooseToAbort"]
    max = 1
    when = "needed"                     # or "always"

    [initial]
    from = "spec"                       # or "given": the header's state starts the run

    [events.prepare]                    # one rule per event kind
    action = "RMPrepare"
    args = { r = "node" }               # parameter = field path, or { value = ... }
    observe = { "rmState[{node}]" = "status" }

    [events.heartbeat]
    skip = true
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..source import Diagnostic, Source, Span, SpecError

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


@dataclass(frozen=True)
class ValueSource:
    """Where a value comes from: a field of the line, or a literal."""

    path: str | None = None
    value: Any = None

    def describe(self) -> str:
        return f"field {self.path}" if self.path is not None else \
            f"the value {json.dumps(self.value)}"


@dataclass(frozen=True)
class StepRule:
    action: str
    args: dict[str, ValueSource] | None = None   # None: by name from the args field
    positional: tuple[ValueSource, ...] | None = None


@dataclass(frozen=True)
class ObserveRule:
    place: str                    # a variable path, may contain {field} placeholders
    source: ValueSource
    when: str = "after"           # "after" | "before"
    op: str = "eq"                # "eq" | "has" (the set at place contains the value)
    optional: bool = False        # no observation when the field is missing


@dataclass(frozen=True)
class Silent:
    actions: tuple[str, ...] = ()
    max: int = 1
    when: str = "always"          # "always" | "needed"


@dataclass(frozen=True)
class Rule:
    kind: str
    alternatives: tuple[tuple[StepRule, ...], ...] = ()
    observe: tuple[ObserveRule, ...] = ()
    skip: bool = False
    silent: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    line: int = 0                 # where the rule is in the mapping file


@dataclass(frozen=True)
class Filter:
    field: str
    equals: Any = MISSING
    one_of: tuple | None = None
    present: bool | None = None
    matches: str | None = None

    def accepts(self, obj: dict) -> bool:
        v = get_path(obj, self.field)
        if self.present is not None:
            return (v is not MISSING) == self.present
        if v is MISSING:
            return False
        if self.equals is not MISSING and v != self.equals:
            return False
        if self.one_of is not None and v not in self.one_of:
            return False
        if self.matches is not None and not (isinstance(v, str)
                                             and re.search(self.matches, v)):
            return False
        return True


@dataclass(frozen=True)
class Fields:
    event: str = "event"
    args: str = "args"
    node: str = "node"
    state: tuple[str, ...] = ("state", "observe")
    before: str = "before"
    sent: str = "sent"
    received: str = "received"
    ts: str = "ts"
    seq: str = "seq"
    clock: tuple[str, ...] = ("clock", "vc")
    header: str = "header"


@dataclass(frozen=True)
class Mapping:
    fields: Fields = field(default_factory=Fields)
    filters: tuple[Filter, ...] = ()
    ignore_non_json: bool = False
    prefix: str | None = None
    json_start: bool = False
    order: str = "auto"
    rules: dict[str, Rule] = field(default_factory=dict)
    unknown_events: str = "error"       # "error" | "skip"
    silent: Silent = field(default_factory=Silent)
    unchanged: tuple[str, ...] = ()
    initial: str = "spec"               # "spec" | "given"
    messages: str | None = None         # the variable holding sent messages
    constants: dict[str, Any] = field(default_factory=dict)
    spec: str | None = None
    name: str = "<default mapping>"
    text: str | None = None

    def error(self, message: str, needle: str | None = None) -> SpecError:
        """A SpecError pointing into the mapping file (at ``needle`` if found)."""
        line, col = locate(self.text or "", needle) if needle else (0, 0)
        source = Source(self.name, self.text) if self.text is not None else None
        return SpecError([Diagnostic(message, Span(line, col))], source)


def locate(text: str, needle: str) -> tuple[int, int]:
    """The 1-based line and column of ``needle`` in ``text`` (0, 0 if absent)."""
    i = text.find(needle)
    if i < 0:
        return 0, 0
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


def get_path(obj: Any, path: str) -> Any:
    """``a.b.c`` inside nested objects (list items by number); MISSING if absent."""
    if "." not in path:
        if path and type(obj) is dict:
            return obj.get(path, MISSING)
        if path == "":
            return obj
    elif path == ".":
        return obj
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(cur) <= i < len(cur):
                return MISSING
            cur = cur[i]
        else:
            return MISSING
    return cur


# ---------------------------------------------------------------------- loading
def load_mapping(mapping: Any) -> Mapping:
    """A Mapping from None (the minimal convention), a Mapping, a dict, or a file path
    (TOML needs Python 3.11's tomllib, or the tomli package; JSON works everywhere)."""
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        return _from_dict(mapping, "<mapping>", None)
    path = str(mapping)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise SpecError([Diagnostic(f"cannot read the mapping file: {err.strerror}",
                                    Span.unknown())], Source(path, "")) from None
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError([Diagnostic(f"the mapping is not valid JSON: {err.msg}",
                                        Span(err.lineno, err.colno))],
                            Source(path, text)) from None
    else:
        data = _load_toml(path, text)
    if not isinstance(data, dict):
        raise SpecError([Diagnostic("the mapping must be a table (an object)", Span(1, 1))],
                        Source(path, text))
    return _from_dict(data, path, text)


def _load_toml(path: str, text: str) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover (Python 3.10)
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise SpecError([Diagnostic(
                "TOML mapping files need Python 3.11 or later (tomllib), or the tomli "
                "package; on this Python, write the mapping as JSON (a .json file with the "
                "same structure)", Span.unknown())], Source(path, text)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        span = Span(int(m.group(1)), int(m.group(2))) if m else Span.unknown()
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise SpecError([Diagnostic(f"the mapping is not valid TOML: {msg}", span)],
                        Source(path, text)) from None


_TOP = {"spec", "input", "fields", "silent", "initial", "events", "unknown_events",
        "unchanged", "messages", "constants"}


def _from_dict(data: dict, name: str, text: str | None) -> Mapping:
    m = Mapping(name=name, text=text)

    def fail(message: str, needle: str | None = None) -> SpecError:
        return m.error(message, needle)

    unknown = [k for k in data if k not in _TOP]
    if unknown:
        raise fail(f"unknown mapping key {unknown[0]!r} (known: {', '.join(sorted(_TOP))})",
                   unknown[0])
    inp = _table(data.get("input", {}), "input", fail)
    fields_t = _table(data.get("fields", {}), "fields", fail)
    silent_t = _table(data.get("silent", {}), "silent", fail)
    initial_t = _table(data.get("initial", {}), "initial", fail)
    events = _table(data.get("events", {}), "events", fail)

    _only(inp, {"ignore_non_json", "prefix", "json_start", "filter", "order"}, "input", fail)
    filters = inp.get("filter", [])
    if isinstance(filters, dict):
        filters = [filters]
    flist = []
    for f in filters:
        if not isinstance(f, dict) or "field" not in f:
            raise fail("each input filter needs a `field` (and equals / one_of / present / "
                       "matches)", "filter")
        _only(f, {"field", "equals", "one_of", "present", "matches"}, "filter", fail)
        flist.append(Filter(str(f["field"]), f.get("equals", MISSING),
                            tuple(f["one_of"]) if "one_of" in f else None,
                            f.get("present"), f.get("matches")))
    order = inp.get("order", "auto")
    if order not in ("auto", "file", "ts", "seq", "clock"):
        raise fail(f"input.order must be auto, file, ts, seq or clock, not {order!r}", "order")
    prefix = inp.get("prefix")
    if prefix is not None:
        try:
            re.compile(prefix)
        except re.error as err:
            raise fail(f"input.prefix is not a valid regular expression: {err}",
                       "prefix") from None

    defaults = Fields()
    _only(fields_t, set(Fields.__dataclass_fields__), "fields", fail)
    fkw: dict[str, Any] = {}
    for k, v in fields_t.items():
        if k in ("state", "clock"):
            fkw[k] = tuple(v) if isinstance(v, list) else (str(v),)
        else:
            fkw[k] = str(v)
    fields_ = Fields(**{**{k: getattr(defaults, k) for k in Fields.__dataclass_fields__},
                        **fkw})

    _only(silent_t, {"actions", "max", "when"}, "silent", fail)
    when = silent_t.get("when", "always")
    if when not in ("always", "needed"):
        raise fail(f"silent.when must be always or needed, not {when!r}", "when")
    smax = silent_t.get("max", 1)
    if not isinstance(smax, int) or smax < 0:
        raise fail("silent.max must be a whole number", "max")
    silent = Silent(tuple(_names(silent_t.get("actions", []), "silent.actions", fail)),
                    smax, when)

    _only(initial_t, {"from"}, "initial", fail)
    initial = initial_t.get("from", "spec")
    if initial not in ("spec", "given"):
        raise fail(f"initial.from must be spec or given, not {initial!r}", "from")

    unknown_events = data.get("unknown_events", "error")
    if unknown_events not in ("error", "skip"):
        raise fail("unknown_events must be error or skip", "unknown_events")

    rules = {}
    for kind, body in events.items():
        rules[str(kind)] = _rule(str(kind), body, fail, text)

    constants = _table(data.get("constants", {}), "constants", fail)
    return Mapping(fields=fields_, filters=tuple(flist),
                   ignore_non_json=bool(inp.get("ignore_non_json", False)),
                   prefix=prefix, json_start=bool(inp.get("json_start", False)), order=order,
                   rules=rules, unknown_events=unknown_events, silent=silent,
                   unchanged=tuple(_names(data.get("unchanged", []), "unchanged", fail)),
                   initial=initial, messages=data.get("messages"), constants=dict(constants),
                   spec=data.get("spec"), name=name, text=text)


def _table(v: Any, what: str, fail) -> dict:
    if not isinstance(v, dict):
        raise fail(f"`{what}` must be a table", what)
    return v


def _only(t: dict, allowed: set[str], what: str, fail) -> None:
    for k in t:
        if k not in allowed:
            raise fail(f"unknown key {k!r} in {what} (known: {', '.join(sorted(allowed))})", k)


def _names(v: Any, what: str, fail) -> list[str]:
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise fail(f"`{what}` must be a list of names", what.split(".")[-1])
    return list(v)


def _source(v: Any, where: str, fail) -> ValueSource:
    if isinstance(v, str):
        return ValueSource(path=v)
    if isinstance(v, dict) and set(v) == {"value"}:
        return ValueSource(value=v["value"])
    if isinstance(v, dict) and set(v) == {"field"}:
        return ValueSource(path=str(v["field"]))
    raise fail(f"{where}: expected a field path (a string) or {{ value = ... }}", where)


_RULE_KEYS = {"action", "args", "sequence", "alternatives", "observe", "observe_before",
              "sent", "received", "skip", "silent", "unchanged"}


def _rule(kind: str, body: Any, fail, text: str | None) -> Rule:
    where = f"events.{kind}"
    if not isinstance(body, dict):
        raise fail(f"`{where}` must be a table", kind)
    _only(body, _RULE_KEYS, where, fail)
    line = 0
    if text:
        for needle in (f"[events.{kind}]", f'[events."{kind}"]', f"{kind} ="):
            line = locate(text, needle)[0]
            if line:
                break

    def step(t: Any, what: str) -> StepRule:
        if isinstance(t, str):
            return StepRule(t)
        if not isinstance(t, dict) or "action" not in t:
            raise fail(f"{where}: each step of {what} needs an `action`", kind)
        _only(t, {"action", "args"}, f"{where} {what}", fail)
        return _step(str(t["action"]), t.get("args"), where, fail)

    alternatives: list[tuple[StepRule, ...]] = []
    skip = bool(body.get("skip", False))
    if "action" in body:
        alternatives.append((_step(str(body["action"]), body.get("args"), where, fail),))
    elif "args" in body:
        raise fail(f"{where}: `args` goes with `action` (or inside each step)", kind)
    if "sequence" in body:
        seq = body["sequence"]
        if not isinstance(seq, list) or not seq:
            raise fail(f"{where}.sequence must be a non-empty list of steps", "sequence")
        alternatives.append(tuple(step(s, "the sequence") for s in seq))
    for alt in body.get("alternatives", []):
        if isinstance(alt, dict) and "sequence" in alt:
            alternatives.append(tuple(step(s, "an alternative") for s in alt["sequence"]))
        else:
            alternatives.append((step(alt, "the alternatives"),))
    if skip and alternatives:
        raise fail(f"{where}: a skipped event has no action", kind)

    observe: list[ObserveRule] = []
    for key, when in (("observe", "after"), ("observe_before", "before")):
        obs = body.get(key, {})
        if isinstance(obs, dict):
            obs = [{"var": k, **({"field": v} if isinstance(v, str) else v)}
                   if isinstance(v, (str, dict)) else {"var": k, "value": v}
                   for k, v in obs.items()]
        if not isinstance(obs, list):
            raise fail(f"{where}.{key} must be a table or a list", key)
        for o in obs:
            if not isinstance(o, dict) or "var" not in o:
                raise fail(f"{where}.{key}: each observation needs `var`", key)
            _only(o, {"var", "field", "value", "optional"}, f"{where}.{key}", fail)
            src = ValueSource(path=str(o["field"])) if "field" in o else \
                ValueSource(value=o["value"]) if "value" in o else None
            if src is None:
                raise fail(f"{where}.{key}: observation of {o['var']} needs `field` or "
                           "`value`", key)
            observe.append(ObserveRule(str(o["var"]), src, when,
                                       optional=bool(o.get("optional", False))))
    for key, when in (("sent", "after"), ("received", "before")):
        if key in body:
            observe.append(ObserveRule("", _source(body[key], f"{where}.{key}", fail), when,
                                       op=key))
    return Rule(kind, tuple(alternatives), tuple(observe), skip,
                tuple(_names(body.get("silent", []), f"{where}.silent", fail)),
                tuple(_names(body.get("unchanged", []), f"{where}.unchanged", fail)), line)


def _step(action: str, args: Any, where: str, fail) -> StepRule:
    if args is None:
        return StepRule(action)
    if isinstance(args, list):
        return StepRule(action, None, tuple(_source(a, f"{where}.args", fail) for a in args))
    if not isinstance(args, dict):
        raise fail(f"{where}.args must be a table of parameter = field path", "args")
    return StepRule(action, {str(k): _source(v, f"{where}.args.{k}", fail)
                             for k, v in args.items()})
