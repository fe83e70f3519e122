"""From records (lines of a log, states of an ITF trace) to events the engine matches:
for each, the alternatives (sequences of actions with some arguments fixed) and the
observations. Every problem is a SpecError at the line (and column) it comes from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .. import types as T
from ..source import Diagnostic, Source, Span, SpecError
from ..values import Value, format_value, to_json
from .jsonvalues import Leaf, ValueReadError, leaves, pack
from .mapping import MISSING, Mapping, Rule, StepRule, ValueSource, get_path
from .reader import Record
from .stepper import UNBOUND, Stepper


@dataclass(frozen=True)
class Step:
    """One action of an event, with its arguments (packed; UNBOUND where open)."""

    action: int
    bound: tuple
    shown: tuple[tuple[str, Value | None], ...]   # (parameter, readable value or None)


@dataclass(slots=True)
class Event:
    number: int                    # 1-based position in the trace
    file: str
    line: int
    column: int
    raw: str
    kind: str                      # the event's name as logged ("" for ITF states without one)
    alternatives: tuple[tuple[Step, ...], ...] = ()
    after: tuple[Leaf, ...] = ()
    before: tuple[Leaf, ...] = ()
    unchanged: tuple[int, ...] = ()
    skip: bool = False
    silent: tuple[int, ...] = ()   # actions that may happen silently before this event
    node: Any = None
    rule: str | None = None        # "events.<kind>" when a mapping rule was used
    source: str = "jsonl"          # "jsonl" | "itf"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class EventBuilder:
    """Turns records into events for one compiled spec and one mapping."""

    def __init__(self, stepper: Stepper, mapping: Mapping):
        self.stepper = stepper
        self.mapping = mapping
        compiled = stepper.compiled
        self.univ = compiled.universe
        self.var_types = {v.name: (v.slot, v.t) for v in compiled.typed.variables}
        self.all_actions = {a.name: a for a in compiled.typed.actions}
        self._texts: dict[str, str] = {}
        self._leaf_cache: dict[str, list[tuple[Any, list[Leaf]]]] = {}
        self._paths: dict[str, tuple] = {}
        self._rules: dict[str, tuple] = {}
        self._arg_cache: dict[tuple[int, int], list[tuple[Any, Any, Value]]] = {}
        self.messages_var = self._messages_var()
        self.default_silent = tuple(self._action_index(n, None, None, None)
                                    for n in mapping.silent.actions) if mapping.silent.actions \
            else ()
        self.unchanged = tuple(self._slot(n) for n in mapping.unchanged)
        self._check_rules()

    def _check_rules(self) -> None:
        """Every action and parameter a rule names exists (errors point into the mapping)."""
        for kind, rule in self.mapping.rules.items():
            for alt in rule.alternatives:
                for s in alt:
                    i = self._action_index(s.action, None, None, None)
                    names = self.stepper.param_names[i]
                    for p in (s.args or {}):
                        if p not in names:
                            raise self.mapping.error(
                                f"events.{kind}: action {s.action} has no parameter {p!r} "
                                f"(parameters: {', '.join(names) or 'none'})", f"{p} =")
                    if s.positional is not None and len(s.positional) > len(names):
                        raise self.mapping.error(
                            f"events.{kind}: action {s.action} has {len(names)} parameters, "
                            f"the rule gives {len(s.positional)}", f"[events.{kind}]")
            for n in rule.silent:
                self._action_index(n, None, None, None)
            for n in rule.unchanged:
                self._slot(n)

    # ------------------------------------------------------------- helpers
    def _messages_var(self) -> str | None:
        if self.mapping.messages:
            if self.mapping.messages not in self.var_types:
                raise self.mapping.error(f"messages: no variable {self.mapping.messages!r}",
                                         "messages")
            return self.mapping.messages
        mt = self.stepper.compiled.typed.message_type
        cands = [n for n, (_, t) in self.var_types.items()
                 if isinstance(t, (T.SetT, T.BagT)) and mt is not None and t.elem == mt]
        return cands[0] if len(cands) == 1 else None

    def _slot(self, name: str) -> int:
        if name not in self.var_types:
            raise self.mapping.error(f"unchanged: no variable {name!r} (variables: "
                                     f"{', '.join(self.var_types)})", name)
        return self.var_types[name][0]

    def _action_index(self, name: str, rec: Record | None, text: str | None,
                      col: int | None) -> int:
        i = self.stepper.index.get(name)
        if i is not None:
            return i
        a = self.all_actions.get(name)
        if a is not None and a.fault:
            msg = f"{name} is a fault action, not switched on"
        elif rec is not None and not self.mapping.rules:
            msg = f"unknown event {name!r}: the spec has no action {name}"
        elif rec is not None:
            msg = (f"unknown event {name!r}: the mapping has no rule for it and the spec has "
                   f"no action {name}")
        else:
            msg = f"the spec has no action {name!r}"
        expected = tuple(self.stepper.index)
        if rec is None:
            raise self.mapping.error(f"{msg} (actions: {', '.join(expected)})", name)
        raise self._err(rec, msg, col, expected=expected)

    def text_of(self, rec: Record) -> str | None:
        return self._texts.get(rec.file)

    def _err(self, rec: Record, message: str, col: int | None = None,
             expected: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> SpecError:
        text = self._texts.get(rec.file)
        if text is None:
            text = "\n" * (rec.line - 1) + rec.raw
        return SpecError([Diagnostic(message, Span(rec.line, col or rec.column),
                                     expected=expected, notes=notes)], Source(rec.file, text))

    def set_text(self, file: str, text: str) -> None:
        self._texts[file] = text

    @staticmethod
    def column_of(rec: Record, key: str | None, value: Any = MISSING) -> int:
        """The column of a key (or of a value) in the raw line, best effort."""
        raw = rec.raw
        if key is not None:
            i = raw.find(json.dumps(key.split(".")[-1]))
            if i >= 0:
                if value is not MISSING:
                    j = raw.find(json.dumps(value, ensure_ascii=False), i)
                    if j >= 0:
                        return j + 1
                return i + 1
        if value is not MISSING:
            j = raw.find(json.dumps(value, ensure_ascii=False))
            if j >= 0:
                return j + 1
        return rec.column

    def _fetch(self, rec: Record, src: ValueSource, what: str, optional: bool = False) -> Any:
        if src.path is None:
            return src.value
        v = get_path(rec.obj, src.path)
        if v is MISSING and not optional:
            raise self._err(rec, f"missing field {src.path!r} ({what})",
                            notes=(f"the line has: {', '.join(map(str, rec.obj))}",))
        return v

    # ----------------------------------------------------------------- events
    def header(self, rec: Record) -> dict:
        h = get_path(rec.obj, self.mapping.fields.header)
        if not isinstance(h, dict):
            raise self._err(rec, "the header must be an object")
        return h

    def initial_leaves(self, rec: Record, state: Any) -> list[Leaf]:
        if not isinstance(state, dict):
            raise self._err(rec, "the initial state must be an object of variable -> value")
        out = []
        for place, j in state.items():
            try:
                out.extend(leaves(self.univ, self.var_types, place, j))
            except ValueReadError as err:
                raise self._err(rec, f"initial state, {place}: {err}",
                                self.column_of(rec, place)) from None
        return out

    def event(self, number: int, rec: Record) -> Event | None:
        """The event of one record; None if the mapping skips unknown events."""
        fields = self.mapping.fields
        kind = get_path(rec.obj, fields.event)
        if kind is MISSING:
            raise self._err(rec, f"missing field {fields.event!r} (the event's name)",
                            notes=(f"the line has: {', '.join(map(str, rec.obj))}",))
        if not isinstance(kind, str):
            raise self._err(rec, f"the event name must be a string, not {json.dumps(kind)}",
                            self.column_of(rec, fields.event))
        resolved = self._rules.get(kind)
        if resolved is None:
            resolved = self._rule_for(kind, rec)
            if resolved is None:
                return None
        rule, rule_name, unchanged, silent = resolved
        ev = Event(number, rec.file, rec.line, rec.column, rec.raw, kind, rule=rule_name)
        node = get_path(rec.obj, fields.node)
        ev.node = None if node is MISSING else node
        ev.skip = rule.skip
        ev.alternatives = tuple(tuple(self._step(rec, s) for s in alt)
                                for alt in rule.alternatives)
        after, before = self._observations(rec, rule)
        ev.after, ev.before = tuple(after), tuple(before)
        if unchanged:
            observed = {leaf.slot for leaf in after}
            ev.unchanged = tuple(k for k in unchanged if k not in observed)
        ev.silent = silent
        return ev

    def _rule_for(self, kind: str, rec: Record) -> tuple | None:
        """The rule for an event kind, with its unchanged slots and silent actions."""
        fields = self.mapping.fields
        rule = self.mapping.rules.get(kind)
        if rule is None:
            if kind not in self.stepper.index:
                if self.mapping.unknown_events == "skip":
                    return None
                self._action_index(kind, rec, None, self.column_of(rec, fields.event, kind))
            rule = Rule(kind, ((StepRule(kind),),))
            rule_name = None
        else:
            rule_name = f"events.{kind}"
            if not rule.alternatives and not rule.skip:
                if kind not in self.stepper.index:
                    raise self.mapping.error(f"events.{kind}: no action (set action, "
                                             "sequence or alternatives, or skip = true)",
                                             f"[events.{kind}]")
                rule = Rule(kind, ((StepRule(kind),),), rule.observe, rule.skip, rule.silent,
                            rule.unchanged, rule.line)
        unchanged = tuple(sorted(set(self.unchanged) | {self._slot(n) for n in rule.unchanged}))
        silent = self.default_silent + tuple(self._action_index(n, None, None, None)
                                             for n in rule.silent)
        resolved = (rule, rule_name, unchanged, silent)
        self._rules[kind] = resolved
        return resolved

    def _step(self, rec: Record, s: StepRule) -> Step:
        i = self._action_index(s.action, None, None, None)  # checked: rules, or event()
        names = self.stepper.param_names[i]
        types = self.stepper.param_types[i]
        given: dict[str, tuple[Any, str | None]] = {}
        if s.args is not None:
            for p, src in s.args.items():
                if p not in names:
                    raise self.mapping.error(f"action {s.action} has no parameter {p!r} "
                                             f"(parameters: {', '.join(names) or 'none'})", p)
                given[p] = (self._fetch(rec, src, f"argument {p} of {s.action}"), src.path)
        elif s.positional is not None:
            if len(s.positional) > len(names):
                raise self.mapping.error(f"action {s.action} has {len(names)} parameters, "
                                         f"the rule gives {len(s.positional)}", s.action)
            for p, src in zip(names, s.positional):
                given[p] = (self._fetch(rec, src, f"argument {p} of {s.action}"), src.path)
        else:
            args = get_path(rec.obj, self.mapping.fields.args)
            apath = self.mapping.fields.args
            if args is MISSING or args is None:
                args = {}
            if isinstance(args, list):
                if len(args) > len(names):
                    raise self._err(rec, f"{s.action} takes {len(names)} arguments "
                                    f"({', '.join(names) or 'none'}), the line gives "
                                    f"{len(args)}", self.column_of(rec, apath))
                args = dict(zip(names, args))
            if not isinstance(args, dict):
                raise self._err(rec, f"{apath!r} must be an object (parameter -> value) or a "
                                "list", self.column_of(rec, apath))
            for p, v in args.items():
                if p not in names:
                    raise self._err(rec, f"action {s.action} has no parameter {p!r}",
                                    self.column_of(rec, p),
                                    expected=tuple(names) if names else ("no arguments",))
                given[p] = (v, f"{apath}.{p}")
        bound = []
        shown = []
        for k, (p, t) in enumerate(zip(names, types)):
            if p not in given or given[p][0] is MISSING:
                bound.append(UNBOUND)
                shown.append((p, None))
                continue
            j, path = given[p]
            recent = self._arg_cache.setdefault((i, k), [])
            for seen, packed, v in recent:  # noqa: B007 (the loop finds them)
                if seen == j and type(seen) is type(j):
                    break
            else:
                try:
                    packed = pack(self.univ, t, j)
                except ValueReadError as err:
                    raise self._err(rec, f"argument {p} of {s.action} is outside its domain: "
                                    f"{err}", self.column_of(rec, path, j)) from None
                v = self.univ.decode(t, packed)
                recent.insert(0, (j, packed, v))
                del recent[8:]
            bound.append(packed)
            shown.append((p, v))
        return Step(i, tuple(bound), tuple(shown))

    def _observations(self, rec: Record, rule: Rule) -> tuple[list[Leaf], list[Leaf]]:
        after: list[Leaf] = []
        before: list[Leaf] = []
        fields = self.mapping.fields
        for name in fields.state:
            obj = get_path(rec.obj, name)
            if obj is MISSING or obj is None:
                continue
            after.extend(self._object_leaves(rec, obj, name))
        obj = get_path(rec.obj, fields.before)
        if obj is not MISSING and obj is not None:
            before.extend(self._object_leaves(rec, obj, fields.before))
        for key, target in ((fields.sent, after), (fields.received, before)):
            obj = get_path(rec.obj, key)
            if obj is not MISSING and obj is not None:
                target.extend(self._messages(rec, obj, key))
        for o in rule.observe:
            v = self._fetch(rec, o.source, f"observation of {o.place or o.op}", o.optional)
            if v is MISSING:
                continue
            target = after if o.when == "after" else before
            if o.op in ("sent", "received"):
                target.extend(self._messages(rec, v, o.source.path or o.op))
                continue
            place = self._fill(rec, o.place)
            try:
                target.extend(leaves(self.univ, self.var_types, place, v))
            except ValueReadError as err:
                raise self._err(rec, f"observation {place}: {err}",
                                self.column_of(rec, o.source.path, v)) from None
        return after, before

    def _object_leaves(self, rec: Record, obj: Any, name: str) -> list[Leaf]:
        if not isinstance(obj, dict):
            raise self._err(rec, f"{name!r} must be an object of variable -> value",
                            self.column_of(rec, name))
        out = []
        cache = self._leaf_cache
        for place, j in obj.items():
            # Consecutive events mostly repeat values: compare with the last few seen for
            # this place (JSON equality runs in C) before reading the value again.
            recent = cache.get(place)
            if recent is None:
                recent = cache[place] = []
            for seen, cached in recent:  # noqa: B007 (the loop finds it)
                if seen == j and type(seen) is type(j):
                    break
            else:
                try:
                    cached = leaves(self.univ, self.var_types, place, j, self._paths)
                except ValueReadError as err:
                    raise self._err(rec, f"observed {place}: {err}",
                                    self.column_of(rec, place)) from None
                recent.insert(0, (j, cached))
                del recent[4:]
            out.extend(cached)
        return out

    def _messages(self, rec: Record, obj: Any, key: str) -> list[Leaf]:
        if self.messages_var is None:
            raise self._err(rec, f"{key!r}: the spec has no single variable of sent messages "
                            "(set `messages = \"var\"` in the mapping)", self.column_of(rec, key))
        slot, t = self.var_types[self.messages_var]
        if not isinstance(t, (T.SetT, T.BagT)):
            raise self._err(rec, f"{key!r}: {self.messages_var} is not a set or bag of "
                            "messages", self.column_of(rec, key))
        items = obj if isinstance(obj, list) else [obj]
        out = []
        for m in items:
            try:
                elem = pack(self.univ, t.elem, m)
            except ValueReadError as err:
                raise self._err(rec, f"{key}: {err}", self.column_of(rec, key)) from None
            v = self.univ.decode(t.elem, elem)
            if isinstance(t, T.BagT):  # the bits of the element's count
                w = self.univ.bag_width(t)
                packed = ((1 << w) - 1) << (self.univ.bit(t.elem, elem) * w)
            else:
                packed = 1 << self.univ.bit(t.elem, elem)
            out.append(Leaf(self.univ, slot, self.messages_var, (), packed,
                            f"{format_value(v)} in {self.messages_var}", t.elem, "has", v))
        return out

    def _fill(self, rec: Record, template: str) -> str:
        def sub(m: re.Match) -> str:
            v = get_path(rec.obj, m.group(1))
            if v is MISSING:
                raise self._err(rec, f"missing field {m.group(1)!r} (used in {template!r})")
            return v if isinstance(v, str) else json.dumps(v)
        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}", sub, template)

    # -------------------------------------------------------------------- ITF
    def itf_event(self, number: int, st, file: str) -> Event:
        """An event for ITF state ``st`` (index >= 1): the action taken if given (with its
        picks), else any action; the state's variables observed after the step."""
        raw = json.dumps(st.raw, ensure_ascii=False)
        ev = Event(number, file, st.line, 1, raw, st.action or "", source="itf")
        if st.action is not None:
            i = self.stepper.index.get(st.action)
            if i is None:
                raise SpecError([Diagnostic(f"state {st.index}: {st.action} is a fault action "
                                            "that is not switched on", Span(st.line, 1))],
                                Source(file, self._texts.get(file, "")))
            names, types = self.stepper.param_names[i], self.stepper.param_types[i]
            args = st.args or {}
            bound = tuple(self.univ.encode(t, args[p]) if p in args else UNBOUND
                          for p, t in zip(names, types))
            shown = tuple((p, args.get(p)) for p in names)
            ev.alternatives = ((Step(i, bound, shown),),)
        else:
            ev.alternatives = tuple((Step(i, (UNBOUND,) * len(self.stepper.param_names[i]),
                                          tuple((p, None) for p in self.stepper.param_names[i])),)
                                    for i in range(len(self.stepper.actions)))
        ev.after = tuple(self._itf_leaves(st))
        ev.silent = self.default_silent
        return ev

    def _itf_leaves(self, st) -> list[Leaf]:
        out = []
        for name, v in st.values.items():
            slot, t = self.var_types[name]
            out.append(Leaf(self.univ, slot, name, (), self.univ.encode(t, v), name, t, "eq",
                            v))
        return out


def _place(leaf: Leaf) -> str:
    return leaf.text if leaf.op == "eq" else f"{leaf.var} contains"


def describe_event(ev: Event, stepper: Stepper) -> dict[str, Any]:
    """How the mapping read an event (for the report)."""
    alts = []
    for alt in ev.alternatives:
        steps = []
        for s in alt:
            name = stepper.actions[s.action].name
            args = {p: (None if b is UNBOUND else to_json(v))
                    for b, (p, v) in zip(s.bound, s.shown)}
            text = {p: ("?" if b is UNBOUND else format_value(v))
                    for b, (p, v) in zip(s.bound, s.shown)}
            steps.append({"action": name, "args": args, "args_text": text,
                          "open": [p for b, (p, _) in zip(s.bound, s.shown) if b is UNBOUND]})
        alts.append(steps)
    out: dict[str, Any] = {"event": ev.kind, "rule": ev.rule,
                           "read_by": "rule" if ev.rule else "itf" if ev.source == "itf"
                           else "name"}
    if ev.node is not None:
        out["node"] = ev.node
    if ev.skip:
        out["skip"] = True
    out["alternatives"] = alts
    for key, obs in (("observed_before", ev.before), ("observed_after", ev.after)):
        if obs:
            out[key] = {_place(leaf): to_json(leaf.value) for leaf in obs}
            out[key + "_text"] = {_place(leaf): format_value(leaf.value) for leaf in obs}
    if ev.unchanged:
        names = {v.slot: v.name for v in stepper.compiled.typed.variables}
        out["unchanged"] = [names[s] for s in ev.unchanged]
    if ev.silent:
        out["silent_allowed"] = sorted({stepper.actions[i].name for i in ev.silent})
    return out
