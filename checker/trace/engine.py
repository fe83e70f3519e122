"""Trace validation: is a recorded run a behaviour of the spec?

The algorithm of TLA+ trace validation, P's observers and Porcupine: keep the set of spec
states consistent with the events so far (the *candidates*), starting from the initial
states that agree with what the trace says about the start; for each event, replace each
candidate by the states its actions lead to that agree with the event (its action and
arguments, its observations). The trace is rejected at the first event after which no
candidate is left; it is accepted if candidates remain after the last event.

Each candidate keeps a link to the candidate it came from, so one behaviour matching
every event so far (the witness) is rebuilt on demand.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from ..compile import CompiledSpec, compile_spec
from ..explore import MODEL_ERRORS, _error_message
from ..result import Result, Status, TraceStep
from ..source import Diagnostic, Source, Span, SpecError
from ..universe import UniverseError
from ..values import format_value
from .events import Event, EventBuilder
from .jsonvalues import Leaf
from .mapping import MISSING, Mapping, get_path, load_mapping
from .reader import Record, is_itf, order_records, read_records, read_text
from .stepper import Stepper

# A candidate's history: (parent node, event number, action index, packed args, state,
# silent). The root's parent is None and its action -1.
Node = tuple

REPORT_PREFIX = "trace-report: "


class _Limit(Exception):  # noqa: N818 (control flow)
    pass


class _ModelError(Exception):  # noqa: N818 (control flow)
    def __init__(self, message: str, node: Node, event: Event | None):
        super().__init__(message)
        self.message, self.node, self.event = message, node, event


@dataclass
class Trace:
    """A trace read and mapped: the events, and what it says about the start."""

    files: tuple[str, ...]
    events: list[Event]
    initial: list[Leaf] = field(default_factory=list)
    initial_given: bool = False
    initial_where: str = ""
    constants: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ reading
def _needed_faults(compiled: CompiledSpec, mapping: Mapping, texts: dict[str, str]
                   ) -> set[str]:
    """Fault actions the trace names that the compiled spec does not switch on."""
    off = {a.name for a in compiled.typed.actions if a.fault and a.name not in compiled.faults}
    if not off:
        return set()
    named = set()
    for rule in mapping.rules.values():
        named.update(s.action for alt in rule.alternatives for s in alt)
        named.update(rule.silent)
        if not rule.alternatives and not rule.skip:
            named.add(rule.kind)
    named.update(mapping.silent.actions)
    for text in texts.values():
        for name in off:
            if f'"{name}"' in text:
                named.add(name)
    return named & off


def read_trace(compiled: CompiledSpec, paths: Sequence[str], mapping: Mapping,
               stepper: Stepper, texts: dict[str, str]) -> Trace:
    builder = EventBuilder(stepper, mapping)
    for p, t in texts.items():
        builder.set_text(p, t)
    itf = [p for p in paths if is_itf(p, texts[p])]
    if itf:
        if len(paths) > 1:
            raise SpecError([Diagnostic("an ITF trace is validated on its own (it cannot be "
                                        "merged with other files)", Span.unknown())],
                            Source(itf[0], texts[itf[0]]))
        return _read_itf(compiled, itf[0], texts[itf[0]], builder)
    per_file = [read_records(p, mapping, i, texts[p]) for i, p in enumerate(paths)]
    trace = Trace(tuple(paths), [])
    for recs in per_file:
        seen_event = False
        for rec in recs:
            if rec.header:
                if seen_event:
                    raise builder._err(rec, "a header must come before the first event")
                _read_header(trace, builder, rec, compiled)
            else:
                seen_event = True
    records = order_records(per_file, mapping)
    number = 0
    for rec in records:
        if number == 0 and _is_init_line(rec, mapping, stepper):
            leaves: list[Leaf] = []
            for name in mapping.fields.state:   # (state, or observe: either says it)
                state = get_path(rec.obj, name)
                if state is not MISSING and state is not None:
                    leaves.extend(builder.initial_leaves(rec, state))
            trace.initial = trace.initial + leaves
            trace.initial_where = f"{rec.file}:{rec.line}"
            continue
        ev = builder.event(number + 1, rec)
        if ev is None:
            continue
        number += 1
        trace.events.append(ev)
    if not trace.events and not trace.initial:
        path = paths[0]
        text = texts[path]
        if not text.strip():
            raise SpecError([Diagnostic("the trace file is empty: no events", Span(1, 1))],
                            Source(path, text))
        nlines = text.count("\n") + (0 if text.endswith("\n") else 1)
        why = " (the mapping's filter selected none of them)" if mapping.filters else ""
        raise SpecError([Diagnostic(f"no trace events in {nlines} lines{why}", Span(1, 1))],
                        Source(path, text))
    return trace


def _is_init_line(rec: Record, mapping: Mapping, stepper: Stepper) -> bool:
    kind = get_path(rec.obj, mapping.fields.event)
    return kind in ("init", "#init", "Init") and kind not in stepper.index and \
        kind not in mapping.rules


def _read_header(trace: Trace, builder: EventBuilder, rec: Record,
                 compiled: CompiledSpec) -> None:
    h = builder.header(rec)
    consts = h.get("constants")
    if consts is not None:
        if not isinstance(consts, dict):
            raise builder._err(rec, "header.constants must be an object")
        trace.constants.update(consts)
        check_constants(compiled, consts, lambda m: builder._err(
            rec, m, builder.column_of(rec, "constants")))
    init = h.get("init", h.get("state"))
    if init is not None:
        trace.initial = builder.initial_leaves(rec, init)
        trace.initial_where = f"{rec.file}:{rec.line}"
    if h.get("initial") == "given":
        trace.initial_given = True


def check_constants(compiled: CompiledSpec, consts: dict, fail) -> None:
    """The constants a trace was recorded with must be the spec's."""
    from .jsonvalues import ValueReadError, read_value

    for name, j in consts.items():
        if name not in compiled.typed.constants:
            continue  # a constant of the system, not of the spec
        _, t = compiled.typed.constants[name]
        have = compiled.model.constants[name]
        try:
            want = read_value(compiled.universe, t, j)
        except ValueReadError:
            want = None
        if want != have:
            raise fail(f"the trace was recorded with {name} = {json.dumps(j)}, the spec has "
                       f"{name} = {format_value(have)} (load the spec with --const "
                       f"{name}={constant_text(j)})")


def constant_text(j: Any) -> str:
    """A JSON constant as spec text for ``--const``."""
    if isinstance(j, list):
        return "{" + ",".join(constant_text(x) for x in j) + "}"
    if isinstance(j, dict) and set(j) == {"#set"}:
        return constant_text(j["#set"])
    if isinstance(j, bool):
        return "true" if j else "false"
    return str(j)


def _read_itf(compiled: CompiledSpec, path: str, text: str, builder: EventBuilder) -> Trace:
    from ..itf import read_itf
    from .setup import itf_constants

    trace = Trace((path,), [])
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None  # read_itf says what is wrong
    consts = itf_constants(doc)
    if consts:
        trace.constants.update(consts)
        check_constants(compiled, consts, lambda m: SpecError(
            [Diagnostic(m, Span(1, 1))], Source(path, text)))
    states = read_itf(path, compiled, text)
    first = states[0]
    trace.initial = builder._itf_leaves(first)
    trace.initial_where = f"{path}:{first.line} (state 0)"
    for st in states[1:]:
        trace.events.append(builder.itf_event(st.index, st, path))
    hidden: dict[str, list[int]] = {}
    for st in states:
        for name in st.unserializable:
            hidden.setdefault(name, []).append(st.index)
    for name, at in hidden.items():
        shown = ", ".join(map(str, at[:8])) + (", ..." if len(at) > 8 else "")
        trace.notes.append(f"{name} is #unserializable in state{'s' if len(at) > 1 else ''} "
                           f"{shown} of the ITF file: not observed there")
    loop = doc.get("loop", None) if isinstance(doc, dict) else None
    if loop is not None:
        _close_the_lasso(trace, states, loop, builder, path, text)
    return trace


def _close_the_lasso(trace: Trace, states: list, loop: Any, builder: EventBuilder, path: str,
                     text: str) -> None:
    """ITF's ``"loop": i`` (ADR-015): the behaviour goes on from the last state to state i
    and round again. The step back is checked as one more event, of any action, whose
    state is state i; or, when the last state is state i again, it is a stutter."""
    n = len(states)
    if not isinstance(loop, int) or isinstance(loop, bool) or not 0 <= loop < n:
        line = text.count("\n", 0, max(text.find('"loop"'), 0)) + 1
        raise SpecError([Diagnostic(f"\"loop\" is {json.dumps(loop)}: the index of the state "
                                    f"the lasso goes back to is expected (0 to {n - 1})",
                                    Span(line, 1))], Source(path, text))
    last, back = states[-1], states[loop]
    if last.values == back.values:
        trace.notes.append(f"the ITF trace is a lasso (\"loop\": {loop}): its last state is "
                           f"state {loop} again, so it goes round by stuttering")
        return
    closing = dataclasses.replace(back, index=n, action=None, args=None)
    ev = builder.itf_event(n, closing, path)
    ev.raw = (f"(the lasso's step back: from state {n - 1} to state {loop}, as \"loop\": "
              f"{loop} says)")
    trace.events.append(ev)
    trace.notes.append(f"the ITF trace is a lasso (\"loop\": {loop}): the step from its last "
                       f"state back to state {loop} is checked as event {n}")


# ------------------------------------------------------------------------ engine
class Engine:
    def __init__(self, compiled: CompiledSpec, stepper: Stepper, trace: Trace,
                 mapping: Mapping, check_invariants: bool, max_candidates: int):
        self.compiled = compiled
        # the properties `check` checks by default: every invariant but the lemmas (proof
        # helpers, which a real run need not keep)
        lemmas = {i.name for i in compiled.typed.invariants if i.lemma}
        model = compiled.model
        self.model = model.select_invariants(
            [i.name for i in (*model.invariants, *model.transition_invariants)
             if i.name not in lemmas]) if lemmas else model
        self.univ = compiled.universe
        self.stepper = stepper
        self.trace = trace
        self.mapping = mapping
        self.check_invariants = check_invariants
        self.cap = max_candidates
        self.var_types = {v.slot: v.t for v in compiled.typed.variables}
        self.evaluations = 0
        self.sizes: list[int] = []          # candidates after each event (index 0: initial)
        self.last_single: tuple[int, dict] | None = None
        self.max_size = (0, 0)              # (size, event)
        self._checked: set = set()
        self.want_itf = False

    # ---------------------------------------------------------- observations
    @staticmethod
    def holds(leaves: Sequence[Leaf], state) -> bool:
        for leaf in leaves:
            if leaf.op == "eq" and not leaf.path:
                if state[leaf.slot] != leaf.packed:
                    return False
            elif not leaf.holds(state):
                return False
        return True

    def mismatches(self, leaves: Sequence[Leaf], state) -> list[tuple[Leaf, Any]]:
        return [(leaf, leaf.found(state, self.var_types[leaf.slot]))
                for leaf in leaves if not leaf.holds(state)]

    # ---------------------------------------------------------------- start
    def initial(self) -> dict:
        t = self.trace
        if t.initial_given or (self.mapping.initial == "given" and t.initial):
            state = self._given_state(t.initial)
            return {state: (None, 0, -1, (), state, False)}
        out = {}
        for s in self.model.initial_states():
            if not t.initial or self.holds(t.initial, s):
                out[s] = (None, 0, -1, (), s, False)
        return out

    def _given_state(self, leaves: list[Leaf]):
        by_slot = {leaf.slot: leaf for leaf in leaves if not leaf.path and leaf.op == "eq"}
        missing = [v.name for v in self.compiled.typed.variables if v.slot not in by_slot]
        if missing:
            raise SpecError([Diagnostic(f"initial.from = given needs every variable in the "
                                        f"header's state; missing: {', '.join(missing)}",
                                        Span.unknown())], None)
        state = [by_slot[v.slot].packed for v in self.compiled.typed.variables]
        if self.compiled.max_faults is not None:
            state.append(0)
        return tuple(state)

    # ------------------------------------------------------------- matching
    def step_event(self, ev: Event, sources: dict) -> dict:
        """The candidates after ``ev`` from the candidates in ``sources``."""
        new: dict = {}
        cap = self.cap
        run = self.stepper.run
        before, after, unchanged = ev.before, ev.after, ev.unchanged
        holds = self.holds
        number = ev.number
        evals = 0
        try:
            if ev.skip:
                for s, nd in sources.items():
                    if (not before or holds(before, s)) and (not after or holds(after, s)):
                        new[s] = nd
                return new
            for s, nd in sources.items():
                if before and not holds(before, s):
                    continue
                for alt in ev.alternatives:
                    if len(alt) == 1:
                        st = alt[0]
                        try:
                            out, n = run(st.action, s, st.bound)
                        except MODEL_ERRORS as err:
                            raise _ModelError(self._explain_error(err, st.action), nd,
                                              ev) from None
                        evals += n
                        for args, t in out:
                            if t in new:
                                continue
                            if after and not holds(after, t):
                                continue
                            if unchanged and any(t[k] != s[k] for k in unchanged):
                                continue
                            new[t] = (nd, number, st.action, args, t, False)
                            if len(new) > cap:
                                raise _Limit()
                    else:
                        paths = [(s, nd)]
                        for st in alt:
                            nxt = []
                            for u, und in paths:
                                try:
                                    out, n = run(st.action, u, st.bound)
                                except MODEL_ERRORS as err:
                                    raise _ModelError(self._explain_error(err, st.action), und,
                                                      ev) from None
                                evals += n
                                nxt.extend((t, (und, number, st.action, args, t, False))
                                           for args, t in out)
                            paths = nxt
                        for t, tnd in paths:
                            if t in new:
                                continue
                            if after and not holds(after, t):
                                continue
                            if unchanged and any(t[k] != s[k] for k in unchanged):
                                continue
                            new[t] = tnd
                            if len(new) > cap:
                                raise _Limit()
            return new
        finally:
            self.evaluations += evals

    def silent_layer(self, ev: Event, layer: dict, seen: dict) -> dict:
        """States one silent step away from ``layer`` that were not seen yet."""
        out: dict = {}
        run = self.stepper.run
        for s, nd in layer.items():
            for a in ev.silent:
                try:
                    pairs, n = run(a, s, None)
                except MODEL_ERRORS as err:
                    raise _ModelError(self._explain_error(err, a), nd, ev) from None
                self.evaluations += n
                for args, t in pairs:
                    if t not in seen and t not in out:
                        out[t] = (nd, ev.number, a, args, t, True)
                        if len(out) + len(seen) > self.cap:
                            raise _Limit()
        return out

    def advance(self, ev: Event, frontier: dict) -> tuple[dict, dict]:
        """(the candidates after ``ev``, the states it was matched from)."""
        silent = self.mapping.silent
        if not ev.silent or ev.skip:
            return self.step_event(ev, frontier), frontier
        seen = dict(frontier)
        layer = frontier
        if silent.when == "needed":
            new = self.step_event(ev, frontier)
            k = 0
            while not new and k < silent.max:
                layer = self.silent_layer(ev, layer, seen)
                if not layer:
                    break
                seen.update(layer)
                self._check_states(layer)
                new = self.step_event(ev, layer)
                k += 1
            return new, seen
        for _ in range(silent.max):
            layer = self.silent_layer(ev, layer, seen)
            if not layer:
                break
            seen.update(layer)
            self._check_states(layer)
        return self.step_event(ev, seen), seen

    def _explain_error(self, err: BaseException, action: int) -> str:
        name = self.stepper.actions[action].name
        msg = getattr(err, "message", None) or str(err) or type(err).__name__
        return f"in action {name}: {msg}"

    # ------------------------------------------------------------ invariants
    def _check_states(self, states: dict) -> None:
        if not self.check_invariants:
            return
        for t, nd in states.items():
            if t in self._checked:
                continue
            self._checked.add(t)
            for inv in self.model.invariants:
                if not self._holds(inv, nd, len(states), t):
                    raise _InvariantFailed(inv.name, nd, "invariant", len(states))
            if nd[0] is not None:
                s = nd[0][4]
                for tinv in self.model.transition_invariants:
                    if not self._holds(tinv, nd, len(states), s, t):
                        raise _InvariantFailed(tinv.name, nd, "transition", len(states))

    def _holds(self, inv, nd: Node, among: int, *states) -> bool:
        """Whether ``inv`` holds; a run-time error evaluating it (a sequence index out of
        range, say) ends the validation as it ends a check: an error of the spec's, in
        the state reached, not an internal error."""
        try:
            return inv.holds(*states)
        except MODEL_ERRORS as err:
            what = "transition invariant" if len(states) == 2 else "invariant"
            raise _InvariantFailed(inv.name, nd, "error", among, _error_message(
                self.model, states[0], err, (what, inv.holds))) from None

    # --------------------------------------------------------------- witness
    def path(self, node: Node) -> list[Node]:
        out = []
        while node is not None:
            out.append(node)
            node = node[0]
        out.reverse()
        return out

    def witness(self, node: Node) -> tuple[TraceStep, ...]:
        steps = []
        decode = self.model.decode
        for nd in self.path(node):
            state = decode(nd[4])
            if nd[2] < 0:
                steps.append(TraceStep(None, (), state))
            else:
                types = self.stepper.param_types[nd[2]]
                args = tuple(self.univ.decode(t, x) for t, x in zip(types, nd[3]))
                steps.append(TraceStep(self.stepper.actions[nd[2]].name, args, state))
        return tuple(steps)

    def witness_events(self, node: Node) -> list[dict]:
        """For each witness step: the event it matches (or that it is silent)."""
        out = []
        for nd in self.path(node):
            out.append({"event": nd[1], "silent": bool(nd[5])} if nd[2] >= 0 else
                       {"event": 0, "initial": True})
        return out


class _InvariantFailed(Exception):  # noqa: N818 (control flow)
    def __init__(self, name: str, node: Node, kind: str, among: int,
                 error: str | None = None):
        super().__init__(name)
        self.name, self.node, self.kind, self.among = name, node, kind, among
        self.error = error      # kind "error": what went wrong evaluating it


# --------------------------------------------------------------------- validate
def validate(compiled: CompiledSpec, trace_path: str | Sequence[str], mapping: Any = None,
             *, check_invariants: bool = False, max_candidates: int = 1_000_000,
             itf: bool = False) -> Result:
    """Validate one trace (a JSON Lines file, an ITF file, or several per-node logs merged
    into one run: pass a list) against ``compiled``.

    ``mapping``: None (the minimal convention), a mapping file path (TOML or JSON), a dict
    of the same structure, or a ``Mapping``. ``max_candidates`` caps the candidate set
    (Status.LIMIT beyond it). With ``itf``, the report also holds, as an ITF document
    (``report_of(result)["itf"]``), the witness: the matched behaviour of an accepted
    trace, the behaviour up to the divergence of a rejected one.

    Returns a Result (engine "trace") with the structured report in its notes (see
    ``report_of``); raises SpecError on malformed input (the file, line and column are in
    its diagnostic)."""
    started = perf_counter()
    mapping = load_mapping(mapping)
    paths = [trace_path] if isinstance(trace_path, str) else list(trace_path)
    if not paths:
        raise SpecError([Diagnostic("no trace file given", Span.unknown())], None)
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, not {max_candidates}")
    texts = {p: read_text(p) for p in paths}
    notes: list[str] = []
    if mapping.constants:
        check_constants(compiled, mapping.constants, lambda m: mapping.error(m, "constants"))
    needed = _needed_faults(compiled, mapping, texts)
    if needed:
        faults = tuple(a.name for a in compiled.typed.actions
                       if a.fault and (a.name in compiled.faults or a.name in needed))
        compiled = compile_spec(compiled.typed, faults, compiled.model.check_deadlock,
                                compiled.max_faults)
        notes.append("fault actions switched on because the trace names them: "
                      + ", ".join(sorted(needed)))
    stepper = Stepper(compiled)
    try:
        trace = read_trace(compiled, paths, mapping, stepper, texts)
    except UniverseError as err:  # pragma: no cover (values are checked before encoding)
        raise SpecError([Diagnostic(str(err), Span.unknown())], Source(paths[0], "")) from None
    trace.notes.extend(notes)
    engine = Engine(compiled, stepper, trace, mapping, check_invariants, max_candidates)
    engine.want_itf = itf
    return run_engine(engine, started)


def run_engine(engine: Engine, started: float) -> Result:
    from .report import (
        accepted_result,
        error_result,
        invariant_result,
        limit_result,
        rejected_result,
    )

    trace = engine.trace
    frontier = engine.initial()
    engine.sizes.append(len(frontier))
    if not frontier:
        return rejected_result(engine, None, {}, {}, started)
    if len(frontier) == 1:
        engine.last_single = (0, frontier)
    engine.max_size = (len(frontier), 0)
    ev = None
    try:
        engine._check_states(frontier)
        for ev in trace.events:
            try:
                new, sources = engine.advance(ev, frontier)
            except _Limit:
                return limit_result(engine, ev, frontier, started)
            if not new:
                return rejected_result(engine, ev, frontier, sources, started)
            engine._check_states(new)
            frontier = new
            n = len(frontier)
            engine.sizes.append(n)
            if n == 1:
                engine.last_single = (ev.number, frontier)
            if n > engine.max_size[0]:
                engine.max_size = (n, ev.number)
    except _ModelError as err:
        return error_result(engine, err, started)
    except _InvariantFailed as err:
        return invariant_result(engine, err, started)
    except KeyboardInterrupt:
        # Ctrl-C: stop, and report how far the trace matched (as a limit, exit 3)
        from ..interrupts import finishing

        finishing()
        return limit_result(engine, ev, frontier, started, interrupted=True)
    return accepted_result(engine, frontier, started)


# ------------------------------------------------------------------ many files
_WORKER: dict[str, Any] = {}


def _work(args):
    path, mapping, check_invariants, max_candidates, itf = args
    try:
        return validate(_WORKER["compiled"], path, mapping, check_invariants=check_invariants,
                        max_candidates=max_candidates, itf=itf)
    except SpecError as err:
        return err


def validate_many(compiled: CompiledSpec, paths: Sequence[str | Sequence[str]],
                  mapping: Any = None, *, check_invariants: bool = False,
                  max_candidates: int = 1_000_000, processes: int | None = None,
                  itf: bool = False) -> list[Result | SpecError]:
    """Validate several traces, each on its own, in parallel processes; one outcome per
    path, in order: a Result, or the SpecError of a malformed file (nothing is skipped).
    Uses fork where the platform has it (the compiled spec is inherited); elsewhere, or
    with ``processes=1``, runs in this process."""
    import multiprocessing as mp
    import os

    from ..interrupts import finishing

    mapping = load_mapping(mapping)
    jobs = [(p, mapping, check_invariants, max_candidates, itf) for p in paths]
    if processes is None:
        processes = min(len(jobs), os.cpu_count() or 1)
    out: list[Result | SpecError] = []
    _WORKER["compiled"] = compiled
    try:
        if processes <= 1 or len(jobs) <= 1 or "fork" not in mp.get_all_start_methods():
            for j in jobs:
                out.append(_work(j))
                r = out[-1]
                if isinstance(r, Result) and (r.limit_reason or "").startswith("interrupted"):
                    break   # (Ctrl-C: this trace says how far it got; the rest are not run)
        else:
            with mp.get_context("fork").Pool(processes, initializer=_quiet_worker) as pool:
                for r in pool.imap(_work, jobs, chunksize=1):
                    out.append(r)
    except KeyboardInterrupt:
        finishing()
    finally:
        _WORKER.clear()
    # Ctrl-C: what was validated is kept; the others say that they were not (exit 3)
    for path in paths[len(out):]:
        out.append(Result("trace", compiled.model.name, Status.LIMIT,
                          dict(compiled.model.constants),
                          limit_reason=f"interrupted before {path} was validated"))
    return out


def _quiet_worker() -> None:
    """In a pool's worker: Ctrl-C is for the parent (which stops the pool and reports
    the traces validated so far), and the pool's terminate() ends it without a
    KeyboardInterrupt traceback (the handler the parent's SIGTERM inherited)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
