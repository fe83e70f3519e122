"""The outcome of trace validation as a Result, with a structured report.

The report is a JSON-ready dict carried in ``Result.notes`` (one note starting with
``REPORT_PREFIX``; read it back with ``report_of``). For a rejection it says:

1. where: the event (number, file:line, raw text) and how the mapping read it;
2. how sure: the candidates before it, and the last event with exactly one;
3. a witness: one spec behaviour matching every event before it (also the Violation's
   trace, which ``checker.itf.write_itf`` writes as ITF);
4. why nothing matched, per candidate action (grouped): the ``require`` that is false
   with the values of its parts, an argument outside its domain, an observation
   expected versus found;
5. the nearest miss;
6. hints: an event with no rule, a missing log line, where the candidates started to
   multiply and what made them.
"""

from __future__ import annotations

import json
from time import perf_counter
from typing import Any

from ..result import Result, Stats, Status, TraceStep, Violation
from ..values import MapValue, Value, format_value, to_json
from .engine import REPORT_PREFIX, Engine, Node, _InvariantFailed, _Limit, _ModelError
from .events import Event, describe_event
from .interp import Interp, InterpError, explain_action, to_w
from .jsonvalues import _MISSING
from .stepper import UNBOUND

EXPLAIN_STATES = 20      # candidates explained in detail
EXPLAIN_OUTCOMES = 48    # outcomes per (candidate, action)
HINT_STATES = 20         # candidates tried with one extra step for the missing-line hint


def report_of(result: Result) -> dict | None:
    """The structured report a trace Result carries (None for other engines)."""
    for note in result.notes:
        if note.startswith(REPORT_PREFIX):
            return json.loads(note[len(REPORT_PREFIX):])
    return None


# ---------------------------------------------------------------------- helpers
def _label(engine: Engine, action: int, args: tuple, packed: bool = True) -> str:
    a = engine.stepper.actions[action]
    if not a.params:
        return a.name
    types = engine.stepper.param_types[action]
    vals = [engine.univ.decode(t, x) for t, x in zip(types, args)] if packed else list(args)
    shown = ", ".join(f"{b.local.name}={format_value(v)}" for b, v in zip(a.params, vals))
    return f"{a.name}({shown})"


def _step_label(engine: Engine, step) -> str:
    a = engine.stepper.actions[step.action]
    if not a.params:
        return a.name
    parts = [f"{p}=?" if b is UNBOUND else f"{p}={format_value(v)}"
             for b, (p, v) in zip(step.bound, step.shown)]
    return f"{a.name}({', '.join(parts)})"


def _where(ev: Event | None) -> str:
    return f"{ev.file}:{ev.line}" if ev is not None else ""


def _event_info(engine: Engine, ev: Event) -> dict[str, Any]:
    return {"number": ev.number, "of": len(engine.trace.events), "file": ev.file,
            "line": ev.line, "column": ev.column, "raw": ev.raw,
            "read_as": describe_event(ev, engine.stepper)}


def _last_single(engine: Engine) -> dict | None:
    if engine.last_single is None:
        return None
    n = engine.last_single[0]
    if n == 0:
        return {"event": 0, "where": engine.trace.initial_where or "the initial state"}
    ev = engine.trace.events[n - 1]
    return {"event": n, "where": _where(ev), "kind": ev.kind}


def _decode(engine: Engine, state) -> dict[str, Value]:
    return engine.model.decode(state)


def _differing(engine: Engine, states: list) -> dict[str, list]:
    """Variables whose values differ among ``states``: their values as text (at most 5
    each; among the first 200 states)."""
    if len(states) < 2:
        return {}
    decoded = [_decode(engine, s) for s in states[:200]]
    out = {}
    for v in engine.compiled.typed.variables:
        seen: dict[str, Value] = {}
        for d in decoded:
            seen.setdefault(format_value(d[v.name]), d[v.name])
        if len(seen) > 1:
            out[v.name] = list(seen)[:5]
    return out


def _witness_json(engine: Engine, node: Node, trace: tuple[TraceStep, ...]) -> list[dict]:
    out = []
    prev: dict[str, Value] | None = None
    events = engine.trace.events
    for info, step in zip(engine.witness_events(node), trace):
        item: dict[str, Any] = {"action": step.label}
        n = info["event"]
        if info.get("initial"):
            item["initial"] = True
            item["where"] = engine.trace.initial_where or None
        else:
            item["event"] = n
            item["where"] = _where(events[n - 1]) if 0 < n <= len(events) else None
            item["silent"] = info["silent"]
        if prev is None:
            item["state"] = {k: to_json(v) for k, v in step.state.items()}
            item["state_text"] = {k: format_value(v) for k, v in step.state.items()}
        else:
            changed = _changed(prev, step.state)
            item["changed"] = {k: to_json(v) for k, v in changed.items()}
            item["changed_text"] = {k: format_value(v) for k, v in changed.items()}
        prev = step.state
        out.append(item)
    return out


def _changed(prev: dict[str, Value], new: dict[str, Value]) -> dict[str, Value]:
    """The variables that changed; for a map, only its changed entries (``m[k]``)."""
    out: dict[str, Value] = {}
    for k, v in new.items():
        old = prev.get(k)
        if format_value(old) == format_value(v):
            continue
        if isinstance(old, MapValue) and isinstance(v, MapValue) and \
                [a for a, _ in old.pairs] == [a for a, _ in v.pairs]:
            for (key, x), (_, y) in zip(old.pairs, v.pairs):
                if format_value(x) != format_value(y):
                    out[f"{k}[{format_value(key)}]"] = y
        else:
            out[k] = v
    return out


def _stats(engine: Engine, started: float, matched: int) -> Stats:
    elapsed = perf_counter() - started
    return Stats(distinct_states=engine.max_size[0], generated_states=engine.evaluations,
                 depth=matched, elapsed_s=elapsed)


def _figures(engine: Engine, started: float, matched: int) -> dict[str, Any]:
    elapsed = perf_counter() - started
    return {"events_matched": matched, "events": len(engine.trace.events),
            "max_candidates": engine.max_size[0], "max_candidates_at": engine.max_size[1],
            "evaluations": engine.evaluations, "elapsed_s": round(elapsed, 6),
            "events_per_s": round(matched / elapsed, 1) if elapsed > 0 else None,
            "evaluations_per_s": round(engine.evaluations / elapsed, 1) if elapsed > 0
            else None}


def _result(engine: Engine, status: Status, report: dict, started: float, matched: int,
            violation: Violation | None = None, limit_reason: str | None = None) -> Result:
    report["figures"] = _figures(engine, started, matched)
    if engine.want_itf and violation is not None and violation.trace and "itf" not in report:
        from ..itf import write_itf

        what = {"rejected": "a behaviour of the spec matching the trace up to the divergence",
                "error": "the path to the error"}.get(violation.kind,
                                                      f"a behaviour violating {violation.property}")
        report["itf"] = write_itf(violation.trace, engine.compiled, description=what)
    report["files"] = list(engine.trace.files)
    report["notes"] = list(engine.trace.notes)
    props = tuple(i.name for i in engine.model.invariants) + \
        tuple(i.name for i in engine.model.transition_invariants) \
        if engine.check_invariants else ()
    note = REPORT_PREFIX + json.dumps(report, ensure_ascii=False, default=str)
    return Result("trace", engine.model.name, status, dict(engine.model.constants), props,
                  violation, _stats(engine, started, matched), limit_reason, (note,))


# ---------------------------------------------------------------------- outcomes
def accepted_result(engine: Engine, frontier: dict, started: float) -> Result:
    report: dict[str, Any] = {"verdict": "accepted", "candidates_at_end": len(frontier),
                              "last_single": _last_single(engine)}
    if len(frontier) > 1:
        report["differing_variables"] = _differing(engine, list(frontier))
        g = growth(engine)
        if g:
            report["growth"] = g
    if engine.want_itf:
        from ..itf import write_itf

        steps = engine.witness(next(iter(frontier.values())))
        report["itf"] = write_itf(steps, engine.compiled,
                                  description="a behaviour of the spec matching the whole trace")
    return _result(engine, Status.OK, report, started, len(engine.trace.events))


def error_result(engine: Engine, err: _ModelError, started: float) -> Result:
    ev = err.event
    trace = engine.witness(err.node)
    report = {"verdict": "error", "message": err.message,
              "event": _event_info(engine, ev) if ev is not None else None,
              "witness": _witness_json(engine, err.node, trace)}
    msg = f"{err.message} (while matching event {ev.number}, {_where(ev)})" if ev else \
        err.message
    matched = ev.number - 1 if ev else 0
    return _result(engine, Status.ERROR, report, started, matched,
                   Violation("error", None, trace, msg))


def invariant_result(engine: Engine, err: _InvariantFailed, started: float) -> Result:
    trace = engine.witness(err.node)
    n = err.node[1]
    ev = engine.trace.events[n - 1] if n > 0 else None
    where = f"event {n} ({_where(ev)})" if ev else "the initial state"
    among = f" ({err.among} candidate states at that point)" if err.among > 1 else ""
    if err.error is not None:   # the property could not be evaluated there
        msg = (f"{err.error}, in a behaviour that matches the trace up to {where}"
               + among)
        status, verdict = Status.ERROR, "error"
    else:
        msg = f"{err.name} is violated by a behaviour that matches the trace up to {where}" \
            + among
        status, verdict = Status.VIOLATION, "violation"
    report = {"verdict": verdict, "property": err.name, "kind": err.kind,
              "event": _event_info(engine, ev) if ev else None, "message": msg,
              "candidates": err.among, "witness": _witness_json(engine, err.node, trace)}
    return _result(engine, status, report, started, max(0, n),
                   Violation(err.kind, err.name, trace, msg))


def limit_result(engine: Engine, ev: Event | None, frontier: dict, started: float,
                 interrupted: bool = False) -> Result:
    """The candidate cap reached while matching ``ev``; or, ``interrupted``, Ctrl-C
    while matching it (None: before the first event)."""
    total = len(engine.trace.events)
    at = f"event {ev.number} of {total} ({_where(ev)})" if ev is not None else \
        "the initial states"
    matched = ev.number - 1 if ev is not None else 0
    if interrupted:
        reason = (f"interrupted at {at}: the first {matched} event"
                  f"{'s' if matched != 1 else ''} matched, {len(frontier):,} candidate "
                  f"state{'s' if len(frontier) != 1 else ''}")
    else:
        reason = f"more than {engine.cap:,} candidate states at {at}"
    report: dict[str, Any] = {"verdict": "interrupted" if interrupted else "limit",
                              "event": _event_info(engine, ev) if ev is not None else None,
                              "candidates_before": len(frontier),
                              "last_single": _last_single(engine),
                              "sizes": engine.sizes[-12:]}
    if interrupted:
        report["hints"] = []
        return _result(engine, Status.LIMIT, report, started, matched, None, reason)
    g = growth(engine)
    if g:
        report["growth"] = g
    report["hints"] = _growth_hints(g) + [
        "bind more parameters from event fields, observe more variables, or use "
        "silent.when = \"needed\"; or raise the cap (max_candidates)"]
    return _result(engine, Status.LIMIT, report, started, matched, None, reason)


def rejected_result(engine: Engine, ev: Event | None, frontier: dict, sources: dict,
                    started: float) -> Result:
    interp = Interp(engine.univ, engine.compiled.typed)
    if ev is None:
        return _rejected_initial(engine, interp, started)
    why, enabled, candidates, cand_info = explain(engine, interp, ev, sources)
    nearest = _nearest(engine, enabled, why)
    # The witness ends in the candidate of the nearest miss (most informative), else any.
    node = None
    if nearest is not None and nearest.get("_node") is not None:
        node = nearest.pop("_node")
    elif nearest is not None:
        nearest.pop("_node", None)
    if node is None:
        node = next(iter(frontier.values()))
    trace = engine.witness(node)
    g = growth(engine) if len(frontier) > 1 else None
    hints = _hints(engine, ev, sources, why, g)
    report: dict[str, Any] = {
        "verdict": "rejected",
        "event": _event_info(engine, ev),
        "candidates_before": len(frontier),
        "candidates_tried": len(sources),
        "last_single": _last_single(engine),
        "sizes": engine.sizes[-12:],
        "candidates": cand_info,
        "why": why,
        "nearest_miss": nearest,
        "hints": hints,
        "witness": _witness_json(engine, node, trace),
    }
    if len(frontier) > 1:
        report["differing_variables"] = _differing(engine, list(frontier))
    if g:
        report["growth"] = g
    msg = f"rejected at event {ev.number} of {len(engine.trace.events)} ({_where(ev)}): " + \
        _summary(engine, ev, len(frontier), why, nearest)
    return _result(engine, Status.REJECTED, report, started, ev.number - 1,
                   Violation("rejected", None, trace, msg))


def _rejected_initial(engine: Engine, interp: Interp, started: float) -> Result:
    inits = engine.model.initial_states()
    groups: dict[str, dict] = {}
    best = None
    shown = inits[:EXPLAIN_STATES]
    for i, s in enumerate(shown):
        mism = engine.mismatches(engine.trace.initial, s)
        diffs = [_diff(leaf, found) for leaf, found in mism]
        # (grouped as the reasons of a rejected event are: the renderers read them alike)
        g = groups.setdefault(json.dumps(diffs, sort_keys=True, default=str), {
            "kind": "observation", "action": "the initial state",
            "reason": "it differs from what the trace says about the start",
            "differences": diffs, "candidates": [], "args": [],
            "candidates_total": len(shown)})
        g["candidates"].append(i + 1)
        if best is None or len(diffs) < len(best["differences"]):
            best = {"kind": "observation", "candidate": i + 1, "steps": [],
                    "differences": diffs}
    why = sorted(groups.values(), key=lambda g: -len(g["candidates"]))
    where = engine.trace.initial_where or "the start of the trace"
    msg = (f"rejected at the initial state ({where}): no initial state of the spec agrees "
           "with it")
    if best and best["differences"]:
        d = best["differences"][0]
        msg += f" ({d['place']}: expected {d['expected_text']}, found {d['found_text']})"
    report = {"verdict": "rejected", "event": None, "initial": True, "where": where,
              "candidates_before": len(inits), "why": why, "nearest_miss": best,
              "hints": [], "witness": []}
    trace = (TraceStep(None, (), _decode(engine, inits[0])),) if inits else ()
    return _result(engine, Status.REJECTED, report, started, 0,
                   Violation("rejected", None, trace, msg))


def _diff(leaf, found) -> dict[str, Any]:
    absent = found is _MISSING
    shown = "(absent)" if absent else format_value(found)
    if leaf.op == "has":
        return {"place": leaf.var, "expected": {"contains": to_json(leaf.value)},
                "expected_text": f"to contain {format_value(leaf.value)}",
                "found": None if absent else to_json(found), "found_text": shown}
    return {"place": leaf.text, "expected": to_json(leaf.value),
            "expected_text": format_value(leaf.value),
            "found": None if absent else to_json(found), "found_text": shown}


# ---------------------------------------------------------------------- explain
def _vars_w(engine: Engine, state) -> dict[int, Any]:
    d = _decode(engine, state)
    return {v.slot: to_w(d[v.name]) for v in engine.compiled.typed.variables}


def explain(engine: Engine, interp: Interp, ev: Event, sources: dict):
    """Why no candidate matched ``ev``: (groups of reasons, enabled-but-mismatched
    candidates, number of candidates explained, candidate descriptions)."""
    groups: dict[tuple, dict] = {}
    enabled: list[dict] = []
    items = list(sources.items())[:EXPLAIN_STATES]
    varying = list(_differing(engine, [s for s, _ in items]))
    cand_info = []
    for ci, (s, _) in enumerate(items, start=1):
        if varying:
            d = _decode(engine, s)
            cand_info.append({"candidate": ci, "values": {v: format_value(d[v])
                                                          for v in varying}})

    def add(key: tuple, ci: int, entry: dict, args: str | None = None) -> None:
        g = groups.get(key)
        if g is None:
            g = groups[key] = {**entry, "candidates": [], "args": []}
        if ci not in g["candidates"]:
            g["candidates"].append(ci)
        if args is not None and args not in g["args"] and len(g["args"]) < 12:
            g["args"].append(args)

    for ci, (s, nd) in enumerate(items, start=1):
        if ev.before:
            mism = engine.mismatches(ev.before, s)
            if mism:
                diffs = [_diff(leaf, f) for leaf, f in mism]
                key = ("before", json.dumps(diffs, sort_keys=True, default=str))
                add(key, ci, {"kind": "observation-before", "action": None,
                              "reason": "the state before the event differs from what it "
                                        "observes", "differences": diffs})
                continue
        if ev.skip:
            mism = engine.mismatches(ev.after, s)
            diffs = [_diff(leaf, f) for leaf, f in mism]
            add(("skip", json.dumps(diffs, sort_keys=True, default=str)), ci,
                {"kind": "observation", "action": None, "reason": "the state differs from "
                 "what the (skipped) event observes", "differences": diffs})
            enabled.append({"candidate": ci, "steps": [], "differences": diffs, "_node": nd})
            continue
        for ai, alt in enumerate(ev.alternatives):
            paths = [(s, nd, [])]
            for si, st in enumerate(alt):
                nxt = []
                for u, und, labels in paths:
                    out, _ = engine.stepper.run(st.action, u, st.bound)
                    if not out:
                        _explain_disabled(engine, interp, ev, st, u, ci, ai, si, labels, add)
                    for args, t in out:
                        lab = _label(engine, st.action, args)
                        nxt.append((t, (und, ev.number, st.action, args, t, False),
                                    labels + [lab]))
                paths = nxt
            for t, _tnd, labels in paths:
                mism = engine.mismatches(ev.after, t)
                diffs = [_diff(leaf, f) for leaf, f in mism]
                for k in ev.unchanged:
                    if t[k] != s[k]:
                        name = next(v.name for v in engine.compiled.typed.variables
                                    if v.slot == k)
                        diffs.append({"place": name, "expected": "unchanged",
                                      "expected_text": format_value(
                                          engine.univ.decode(engine.var_types[k], s[k])) +
                                      " (unchanged)",
                                      "found": to_json(engine.univ.decode(engine.var_types[k],
                                                                          t[k])),
                                      "found_text": format_value(
                                          engine.univ.decode(engine.var_types[k], t[k]))})
                if not diffs:
                    continue
                enabled.append({"candidate": ci, "steps": labels, "differences": diffs,
                                "_node": nd})
                key = ("obs", ai, " then ".join(_strip_args(x) for x in labels),
                       json.dumps([(d["place"], d["expected_text"]) for d in diffs]))
                add(key, ci, {"kind": "observation",
                              "action": " then ".join(_strip_args(x) for x in labels),
                              "reason": "taken, but the state it leads to differs from the "
                                        "observation", "differences": diffs},
                    " then ".join(labels))
    why = sorted(groups.values(), key=lambda g: (-len(g["candidates"]), g.get("line") or 0))
    for g in why:
        g["candidates_total"] = len(items)
    return why, enabled, len(items), cand_info


def _strip_args(label: str) -> str:
    return label.split("(")[0]


def _explain_disabled(engine: Engine, interp: Interp, ev: Event, st, u, ci: int, ai: int,
                      si: int, labels: list[str], add) -> None:
    action = engine.stepper.actions[st.action]
    bound = [UNBOUND if b is UNBOUND else to_w(v) for b, (_, v) in zip(st.bound, st.shown)]
    vs = _vars_w(engine, u)
    try:
        outcomes = explain_action(interp, action, vs, bound, UNBOUND, EXPLAIN_OUTCOMES)
    except InterpError as err:  # pragma: no cover (explain_action catches its own)
        outcomes = []
        add(("error", action.name, str(err)), ci, {"kind": "error", "action": action.name,
                                                   "reason": str(err)})
    prefix = " then ".join(labels + [""]) if labels else ""
    step_name = f"{prefix}{action.name}"
    if not outcomes:
        add(("nothing", ai, step_name), ci, {"kind": "guard", "action": step_name,
                                             "reason": "no argument combination to try"})
        return
    for o in outcomes:
        args = ", ".join(f"{k}={interp.show_value(_ptype(action, k), v)}"
                         for k, v in o.args.items())
        label = f"{action.name}({args})" if action.params else action.name
        if o.kind == "ok":
            why = "is enabled here, but not with a fault budget left" \
                if action.fault and engine.compiled.max_faults is not None else \
                "(the interpreter finds it enabled; the compiled spec does not)"
            add(("ok", ai, step_name, why), ci, {"kind": "guard", "action": step_name,
                                                "reason": why}, label)
        elif o.kind == "fail":
            conds = [{"condition": c.text, "values": {p: v for p, v in c.parts}}
                     for c in o.conditions]
            reason = "require " + " and ".join(c.text for c in o.conditions) + " is false" \
                if o.conditions else "a require is false"
            key = ("fail", ai, step_name, o.line, json.dumps(conds, sort_keys=True))
            add(key, ci, {"kind": "guard", "action": step_name, "reason": reason,
                          "line": o.line, "conditions": conds,
                          "false_conjuncts": len(o.conditions)}, label)
        elif o.kind == "domain":
            add(("domain", ai, step_name, o.message), ci,
                {"kind": "domain", "action": step_name, "reason": o.message}, label)
        elif o.kind == "choose":
            add(("choose", ai, step_name, o.message), ci,
                {"kind": "guard", "action": step_name, "reason": o.message, "line": o.line},
                label)
        else:
            add(("error", ai, step_name, o.message), ci,
                {"kind": "error", "action": step_name, "reason": o.message}, label)


def _ptype(action, name: str):
    for b in action.params:
        if b.local.name == name:
            return b.local.t
    return None


def _nearest(engine: Engine, enabled: list[dict], why: list[dict]) -> dict | None:
    if enabled:
        best = min(enabled, key=lambda e: len(e["differences"]))
        return {"kind": "observation", "candidate": best["candidate"],
                "steps": best["steps"], "differences": best["differences"],
                "_node": best["_node"]}
    guards = [g for g in why if g["kind"] == "guard" and "false_conjuncts" in g]
    if guards:
        g = min(guards, key=lambda g: (g["false_conjuncts"], -len(g["candidates"])))
        return {"kind": "guard", "candidate": g["candidates"][0], "action": g["action"],
                "args": g["args"][:1], "reason": g["reason"], "conditions": g["conditions"],
                "line": g.get("line")}
    return None


def _summary(engine: Engine, ev: Event, n: int, why: list[dict], nearest: dict | None) -> str:
    alts = [" then ".join(_step_label(engine, s) for s in alt) for alt in ev.alternatives]
    what = " or ".join(alts) if alts else f"the skipped event {ev.kind!r}"
    where = "the only candidate state" if n == 1 else f"any of the {n} candidate states"
    if nearest is not None and nearest["kind"] == "observation":
        d = nearest["differences"][0]
        more = f" (and {len(nearest['differences']) - 1} more)" \
            if len(nearest["differences"]) > 1 else ""
        taken = " then ".join(nearest["steps"]) or what
        return (f"{taken} does not lead to the observed state: {d['place']} is "
                f"{d['found_text']}, the event says {d['expected_text']}{more}")
    if why and len(why[0]["candidates"]) == why[0]["candidates_total"]:
        g = why[0]
        return f"{what} is not possible in {where}: {g['reason']}"
    return f"{what} is not possible in {where}"


# ------------------------------------------------------------------------ hints
def _hints(engine: Engine, ev: Event, sources: dict, why: list[dict], g: dict | None
           ) -> list[str]:
    hints = []
    prev = engine.trace.events[ev.number - 2] if ev.number >= 2 else None
    if prev is not None and ev.source == "jsonl" and _same_line(prev.raw, ev.raw):
        hints.append(f"this line repeats the previous event ({_where(prev)}) exactly: a "
                     "duplicated log line? (the step it records has already been taken)")
    if ev.rule is None and engine.mapping.rules and ev.source == "jsonl":
        hints.append(f"event {ev.kind!r} has no rule in the mapping ({engine.mapping.name}); "
                     f"it was read as action {ev.kind} with its arguments by name")
    extra = _one_more_step(engine, ev, sources)
    if extra:
        hints.append("the event matches if one unlogged step happens before it: "
                     + ", ".join(extra) + " (a missing log line, or an action to declare "
                     "silent in the mapping?)")
    if any(w["kind"] == "domain" for w in why):
        hints.append("an argument is outside its domain in the candidate states (a message "
                     "that was never sent? a value from another run?)")
    hints.extend(_growth_hints(g))
    return hints


def _same_line(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def _one_more_step(engine: Engine, ev: Event, sources: dict) -> list[str]:
    if ev.skip:
        return []
    found: list[str] = []
    saved = engine.evaluations, engine.cap
    engine.cap = 10_000
    try:
        for s, nd in list(sources.items())[:HINT_STATES]:
            for a in range(len(engine.stepper.actions)):
                pairs, _ = engine.stepper.run(a, s, None)
                for args, t in pairs:
                    node = (nd, ev.number, a, args, t, True)
                    if engine.step_event(ev, {t: node}):
                        lab = _label(engine, a, args)
                        if lab not in found:
                            found.append(lab)
                        if len(found) >= 3:
                            return found
    except (_Limit, _ModelError):
        pass
    except Exception:  # noqa: BLE001 (a hint must never hide the report)
        pass
    finally:
        engine.evaluations, engine.cap = saved
    return found


def growth(engine: Engine) -> dict | None:
    """Where the candidates started to multiply, and why (re-matching that one event
    from the last single candidate)."""
    sizes = engine.sizes
    if engine.last_single is None:
        return {"event": 0, "where": engine.trace.initial_where or "the initial states",
                "from": 0, "to": sizes[0] if sizes else 0,
                "reason": "the trace leaves the initial state open"}
    n, frontier = engine.last_single
    if n >= len(engine.trace.events):
        return None
    ev = engine.trace.events[n]
    saved = engine.evaluations, engine.cap, engine.check_invariants
    engine.cap = 100_000
    engine.check_invariants = False
    try:
        new, _ = engine.advance(ev, frontier)
    except (_Limit, _ModelError):
        return None
    finally:
        engine.evaluations, engine.cap, engine.check_invariants = saved
    if len(new) <= 1:
        return None
    open_params: dict[str, list] = {}
    silent = 0
    for nd in new.values():
        chain = []
        x = nd
        while x is not None and x[1] == ev.number:
            chain.append(x)
            x = x[0]
        for step in chain:
            a = step[2]
            if step[5]:
                continue
            bound = _bound_for(ev, a)
            types = engine.stepper.param_types[a]
            for k, (p, t_) in enumerate(zip(engine.stepper.param_names[a], types)):
                if bound is not None and k < len(bound) and bound[k] is not UNBOUND:
                    continue
                key = f"{engine.stepper.actions[a].name}.{p}"
                vals = open_params.setdefault(key, [])
                shown = format_value(engine.univ.decode(t_, step[3][k]))
                if shown not in vals:
                    vals.append(shown)
        silent += sum(1 for step in chain if step[5])
    open_params = {k: v for k, v in open_params.items() if len(v) > 1}
    return {"event": ev.number, "where": _where(ev), "kind": ev.kind, "from": 1,
            "to": len(new), "open_parameters": open_params,
            "differing_variables": _differing(engine, list(new)),
            "silent_steps": silent}


def _bound_for(ev: Event, action: int):
    for alt in ev.alternatives:
        for st in alt:
            if st.action == action:
                return st.bound
    return None


def _growth_hints(g: dict | None) -> list[str]:
    if not g:
        return []
    if g["event"] == 0:
        return [f"there were {g['to']} candidate states from the start: "
                f"{g['reason']}"]
    parts = []
    if g.get("open_parameters"):
        parts.append("parameters the event does not give: " + ", ".join(
            f"{k} (took {', '.join(vals)})" for k, vals in g["open_parameters"].items()))
    if g.get("differing_variables"):
        parts.append("variables it does not observe that now differ between candidates: "
                     + ", ".join(g["differing_variables"]))
    if g.get("silent_steps"):
        parts.append(f"{g['silent_steps']} silent step(s)")
    why = "; ".join(parts) if parts else "several actions explain it"
    return [f"the candidates started to multiply at event {g['event']} ({g['where']}, "
            f"{g['kind']!r}): 1 -> {g['to']}; {why}"]
