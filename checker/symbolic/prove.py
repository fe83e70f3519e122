"""Inductive proofs: is the conjunction of the chosen invariants inductive?

With conjuncts ``C1 .. Cn`` (``Inv`` their conjunction) and the spec's actions, the
obligations are

* initiation, one per conjunct: every initial state satisfies ``Ci``;
* consecution, one per (action, conjunct) pair: from any type-correct state satisfying
  ``Inv``, a step of the action leads to a state satisfying ``Ci``.

A failed consecution obligation comes with a *counterexample to induction* (CTI): the
pre-state, the action and its arguments, the post-state. The CTI is minimized (fewest
scalars away from the first initial state's values), replayed through the explicit model,
and its pre-state looked up by a capped breadth-first search: an unreachable pre-state
means the invariant must be strengthened, a reachable one that the protocol or the
property is wrong.

With ``k > 1`` the proof is by k-induction: the base case checks every state within
``k - 1`` steps of an initial state; consecution starts from a path of ``k`` states
satisfying ``Inv`` and pairwise distinct (simple-path constraints), whose last step is
the action.

Two sanity checks catch vacuous proofs: ``Inv`` must be satisfiable, and every action must
be able to fire from some state satisfying it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import z3

from .. import ir
from ..compile import CompiledSpec
from ..explore import MODEL_ERRORS
from ..result import Result, Stats, Status, TraceStep, Violation
from . import terms as Z
from .common import (
    INTERRUPTED,
    QueryDump,
    Solver,
    SymbolicMismatchError,
    encoding_error,
    find_step,
    input_error,
    keyboard_interrupt,
    label_path,
    solver,
)
from .common import check as _check
from .reach import Reachability
from .sv import EncodingError
from .system import ActionEnc, System

INIT = "init"  # the "action" of an initiation (base case) obligation


@dataclass(frozen=True)
class Obligation:
    """One proof obligation: ``conjunct`` is preserved by ``action`` (or, for ``INIT``,
    holds initially, and within ``k - 1`` steps under k-induction)."""

    conjunct: str
    action: str
    status: str                      # "ok" | "cti" | "unknown"
    cti: Violation | None = None     # the counterexample (states and the step) for "cti"
    reachable: bool | None = None    # is the CTI's first state reachable? (None: unknown)
    witness: tuple[TraceStep, ...] | None = None  # a path to it, when reachable
    detail: str = ""                 # for "unknown": why; otherwise remarks
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.status != "cti":
            return self.status
        if self.action == INIT:
            return "violated in a reachable state: the property is wrong (or the protocol)"
        if self.reachable is True:
            return "reachable: the protocol or the property is wrong"
        if self.reachable is False:
            return "unreachable: strengthen the invariant"
        return "reachability unknown" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class SanityCheck:
    what: str
    status: str          # "ok" | "failed" | "unknown"
    detail: str = ""


@dataclass(frozen=True)
class ProofReport:
    spec: str
    constants: dict
    conjuncts: tuple[str, ...]
    actions: tuple[str, ...]
    k: int
    obligations: tuple[Obligation, ...]
    sanity: tuple[SanityCheck, ...]
    result: Result
    elapsed_s: float = 0.0
    skipped: tuple[str, ...] = field(default=())  # transition invariants left out

    def obligation(self, conjunct: str, action: str) -> Obligation | None:
        for o in self.obligations:
            if o.conjunct == conjunct and o.action == action:
                return o
        return None

    @property
    def ctis(self) -> tuple[Obligation, ...]:
        return tuple(o for o in self.obligations if o.status == "cti")

    @property
    def proved(self) -> bool:
        return self.result.status is Status.OK


def prove(compiled: CompiledSpec, invariants: Sequence[str] | None = None, k: int = 1,
          timeout_s: float | None = None, smt2_dir: str | None = None) -> Result:
    """Is the conjunction of ``invariants`` (default: every state invariant and lemma)
    inductive? Status.OK when proved, VIOLATION with the first CTI, LIMIT when some
    query was inconclusive. ``prove_report`` gives the whole table."""
    return prove_report(compiled, invariants, k, timeout_s, smt2_dir=smt2_dir).result


def prove_report(compiled: CompiledSpec, invariants: Sequence[str] | None = None, k: int = 1,
                 timeout_s: float | None = None, minimize: bool = True,
                 reach_max_states: int = 2_000_000,
                 reach_time_s: float | None = 120.0,
                 smt2_dir: str | None = None, symmetry: bool = True) -> ProofReport:
    """The proof with every obligation, its CTI if any, and the sanity checks.

    ``timeout_s`` bounds each solver query (an inconclusive one makes the obligation
    "unknown" and the result Status.LIMIT, never proved); ``minimize`` asks for CTIs with
    the fewest values away from the initial state's; ``reach_max_states`` and
    ``reach_time_s`` cap the search that decides whether a CTI's pre-state is reachable
    (beyond them the verdict is "unknown"), and that search stores one state per orbit
    of the spec's ``symmetry`` declarations unless ``symmetry`` is false; ``smt2_dir``
    receives every query as an SMT-LIB 2 file.
    """
    start = perf_counter()
    if k < 1:
        raise input_error(f"--k must be 1 or more, not {k}")
    conjuncts, skipped = _conjuncts(compiled, invariants)
    prover = None
    actions: list[ActionEnc] | None = None
    interrupted = False
    try:
        system = System(compiled)
        actions = list(system.actions)
        dump = QueryDump(smt2_dir, "prove") if smt2_dir else None
        prover = _Prover(compiled, system, conjuncts, k, timeout_s, minimize,
                         Reachability(compiled, reach_max_states, reach_time_s, symmetry),
                         dump)
        prover.sanity()
        prover.base_case()
        prover.consecution()
    except EncodingError as err:
        raise encoding_error(err) from None
    except (KeyboardInterrupt, ctypes.ArgumentError) as err:
        if not keyboard_interrupt(err):
            raise
        interrupted = True
    sanity = prover.sanity_done if prover is not None else []
    obligations = prover.obligations() if prover is not None else []
    elapsed = perf_counter() - start
    # (a Ctrl-C while the spec was being encoded: the number of actions is not known)
    total = len(conjuncts) * (len(actions) + 1) if actions is not None else None
    actions = actions or []
    result = _result(compiled, conjuncts, obligations, sanity, skipped, k, elapsed,
                     interrupted=(len(obligations), total) if interrupted else None)
    return ProofReport(spec=compiled.model.name, constants=dict(compiled.model.constants),
                       conjuncts=tuple(c.name for c in conjuncts),
                       actions=tuple(a.name for a in actions), k=k,
                       obligations=tuple(obligations), sanity=tuple(sanity), result=result,
                       elapsed_s=elapsed, skipped=skipped)


def _conjuncts(compiled: CompiledSpec, names: Sequence[str] | None):
    invs = list(compiled.typed.invariants)
    skipped: tuple[str, ...] = ()
    if names is None:
        chosen = [i for i in invs if not i.transition]
        skipped = tuple(i.name for i in invs if i.transition)
        if not chosen:
            raise input_error(
                "nothing to prove: the spec declares no invariant" if not invs else
                "nothing to prove: the spec's invariants are all transition invariants "
                "(they mention primed variables; prove works with state invariants)",
                notes=("declare `invariant NAME: ...` and helper `lemma NAME: ...` "
                       "conjuncts",))
        return chosen, skipped
    names = list(dict.fromkeys(names))
    if not names:
        raise input_error("nothing to prove: no invariant was named")
    known = {i.name: i for i in invs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise input_error(f"--inv {', '.join(unknown)}: no such invariant (this spec has: "
                          f"{', '.join(known) or 'none'})")
    primed = [n for n in names if known[n].transition]
    if primed:
        what = ", ".join(primed)
        line = known[primed[0]].span.line
        raise input_error(
            f"--inv {what}: a transition invariant mentions primed variables (x'), so it "
            "is not a state predicate and cannot be part of an inductive invariant",
            notes=(f"{primed[0]} is declared at line {line}" if line > 0 else
                   "choose state invariants or lemmas",))
    return [known[n] for n in names], skipped


class _Prover:
    def __init__(self, compiled: CompiledSpec, system: System, conjuncts: list[ir.Invariant],
                 k: int, timeout_s: float | None, minimize: bool, reach: Reachability,
                 dump: QueryDump | None = None):
        self.dump = dump
        self.compiled = compiled
        self.system = system
        self.conjuncts = conjuncts
        self.k = k
        self.timeout_s = timeout_s
        self.minimize_ctis = minimize
        self.reach = reach
        self.interrupted = False    # a Ctrl-C came while a CTI was minimized or classified
        # What is done so far (a Ctrl-C reports it): sanity checks, obligations.
        self.sanity_done: list[SanityCheck] = []
        self.done: list[Obligation] = []
        self.cf = {c.name: system.invariant(c) for c in conjuncts}  # over the base pre-state
        self.inv = Z.and_(self.cf.values())
        init = compiled.model.initial_states()
        self.defaults = system.const_flat(init[0]) if init else None

    # -------------------------------------------------------------- sanity
    def obligations(self) -> list[Obligation]:
        """The obligations checked so far, in table order (conjunct, then action)."""
        order = {c.name: i for i, c in enumerate(self.conjuncts)}
        acts = {INIT: -1, **{a.name: i for i, a in enumerate(self.system.actions)}}
        return sorted(self.done, key=lambda o: (order[o.conjunct], acts[o.action]))

    def sanity(self) -> list[SanityCheck]:
        system = self.system
        out = self.sanity_done
        pre = system.pre_flat
        sol = solver(self.timeout_s, self.dump)
        sol.add(Z.zbool(system.type_ok(pre)))
        _, cons = system.initial_state("i")
        r = _check(sol, *cons)
        out.append(SanityCheck("there is an initial state", _status(r), "" if r != z3.unsat else
                               "the init block has no possible outcome: everything holds "
                               "vacuously"))
        sol.add(Z.zbool(self.inv))
        r = sol.check()
        out.append(SanityCheck("the invariant is satisfiable", _status(r),
                               "" if r != z3.unsat else
                               "no state satisfies the conjunction: the proof would be "
                               "vacuous"))
        if r == z3.unsat:
            return out
        for a in system.actions:
            r = _check(sol, system.enabled([a]))
            detail = "" if r != z3.unsat else (
                "it never fires from a state satisfying the invariant, so its obligations "
                "hold vacuously; check its guard (or whether the invariant is too strong)")
            out.append(SanityCheck(f"action {a.name} can fire", _status(r), detail))
        return out

    # ----------------------------------------------------------- base case
    def base_case(self) -> list[Obligation]:
        system = self.system
        sol = solver(self.timeout_s, self.dump)
        s0, cons = system.initial_state("b0")
        for c in cons:
            sol.add(Z.zbool(c))
        states = [s0]
        pending = {c.name: 0.0 for c in self.conjuncts}
        done: dict[str, Obligation] = {}
        for j in range(self.k):
            if j > 0:
                post, step = system.step(states[-1], f"b{j}")
                sol.add(Z.zbool(step))
                states.append(post)
            for c in self.conjuncts:
                if c.name in done:
                    continue
                t = perf_counter()
                holds = system.instantiate(self.cf[c.name], states[-1])
                sol.push()
                sol.add(Z.not_(holds))
                r = sol.check()
                found = [system.decode(sol.model(), s) for s in states] if r == z3.sat \
                    else None
                sol.pop()
                pending[c.name] += perf_counter() - t
                if found is not None:
                    trace = label_path(self.compiled, found)
                    self._confirm_fails(found[-1], c.name)
                    done[c.name] = Obligation(
                        c.name, INIT, "cti",
                        Violation(kind="invariant", property=c.name, trace=trace),
                        reachable=True, witness=trace, seconds=pending[c.name],
                        detail=f"false in a state {j} step(s) from an initial state")
                elif r == z3.unknown:
                    done[c.name] = Obligation(c.name, INIT, "unknown",
                                              detail=_unknown(sol), seconds=pending[c.name])
                else:
                    continue
            # Within the base case, what held so far is a fact for the deeper queries.
            sol.add(Z.zbool(Z.and_(system.instantiate(self.cf[c.name], states[-1])
                                   for c in self.conjuncts if c.name not in done)))
        out = [done.get(c.name) or Obligation(c.name, INIT, "ok", seconds=pending[c.name])
               for c in self.conjuncts]
        self.done.extend(out)
        return out

    # --------------------------------------------------------- consecution
    def consecution(self) -> list[Obligation]:
        system = self.system
        out: list[Obligation] = []
        for a in system.actions:
            out.extend(self._consecution(a))
        order = {c.name: i for i, c in enumerate(self.conjuncts)}
        acts = {a.name: i for i, a in enumerate(system.actions)}
        out.sort(key=lambda o: (order[o.conjunct], acts[o.action]))
        return out

    def _found(self, out: list[Obligation], ob: Obligation) -> None:
        """Record an obligation; then stop if a Ctrl-C came while its CTI was classified."""
        out.append(ob)
        self.done.append(ob)
        if self.interrupted:
            raise KeyboardInterrupt

    def _consecution(self, a: ActionEnc) -> list[Obligation]:
        system = self.system
        sol = solver(self.timeout_s, self.dump)
        k = self.k
        path = [system.pre_flat]
        sol.add(Z.zbool(system.type_ok(system.pre_flat)))
        for j in range(1, k):
            post, step = system.step(path[-1], f"k{j}")
            sol.add(Z.zbool(step))
            path.append(post)
        for s in path:
            sol.add(Z.zbool(system.instantiate(self.inv, s)))
        last, step = system.step(path[-1], "next", [a])
        sol.add(Z.zbool(step))
        states = [*path, last]
        if k > 1:
            for i in range(len(states)):
                for j in range(i + 1, len(states)):
                    sol.add(Z.zbool(system.state_distinct(states[i], states[j])))
        out = []
        for c in self.conjuncts:
            t = perf_counter()
            before = system.instantiate(self.cf[c.name], path[-1])
            after = system.instantiate(self.cf[c.name], last)
            if Z.same(before, after):
                # The action writes nothing the conjunct reads.
                self._found(out, Obligation(c.name, a.name, "ok", seconds=perf_counter() - t,
                                            detail="the action does not change what it reads"))
                continue
            sol.push()
            sol.add(Z.zbool(Z.not_(after)))
            r = sol.check()
            if r == z3.sat:
                ob = self._cti(sol, a, c, states, t)
            elif r == z3.unknown:
                ob = Obligation(c.name, a.name, "unknown", detail=_unknown(sol),
                                seconds=perf_counter() - t)
            else:
                ob = Obligation(c.name, a.name, "ok", seconds=perf_counter() - t)
            sol.pop()
            self._found(out, ob)
        return out

    def _shown(self, packed: tuple) -> dict:
        """A CTI's state as shown: its variables, and under a fault budget the fault
        steps it counts as taken (``faults_taken``), which a CTI's pre-state picks freely
        like any variable, so a lemma may have to bound it."""
        state = self.compiled.model.decode(packed)
        if self.compiled.max_faults is not None:
            state = {**state, "faults_taken": packed[len(self.compiled.typed.variables)]}
        return state

    def _cti(self, sol: Solver, a: ActionEnc, c: ir.Invariant, states, t0: float) -> Obligation:
        system = self.system
        m = sol.model()
        if self.minimize_ctis and self.defaults is not None:
            m = self._minimize(sol, states[:-1], m)
        packed = [system.decode(m, s) for s in states]
        pre, post = packed[-2], packed[-1]
        model = self.compiled.model
        notes = []
        # Which path of the action fired, from the model: its arguments.
        args = None
        for guard, flat, pargs in a.paths:
            g = system.instantiate(guard, states[-2])
            if system.value_of(m, g) is True and \
                    system.decode(m, system.post_of(states[-2], flat)) == post:
                args = tuple(self.system.univ.decode(b.local.t, x)
                             for b, x in zip(a.params, pargs))
                break
        # Replay through the explicit model.
        try:
            step = find_step(self.compiled, pre, post, a.name, args)
        except MODEL_ERRORS as err:
            step = None
            notes.append("the explicit engine fails in this (pre-)state: "
                         f"{getattr(err, 'message', err)}")
        else:
            if step is None:
                raise SymbolicMismatchError(
                    f"CTI for {c.name} after {a.name}: the step from {model.decode(pre)} to "
                    f"{model.decode(post)} is not a step of the explicit model")
            args = step.args
        notes += self._confirm_holds(packed[:-1], c.name)
        self._confirm_fails(post, c.name)
        shown = self._shown
        trace = [TraceStep(None, (), shown(packed[0]))]
        for i in range(1, len(packed) - 1):
            found = find_step(self.compiled, packed[i - 1], packed[i])
            if found is None:
                raise SymbolicMismatchError(f"step {i} of a k-induction CTI is not a step of the "
                                       "explicit model")
            trace.append(TraceStep(found.action, found.args, shown(packed[i])))
        trace.append(TraceStep(a.name, args or (), shown(post)))
        reachable = witness = None
        if self.interrupted:
            notes.append(f"not searched for: {INTERRUPTED}")
        else:
            try:
                reachable = self.reach.reachable(packed[0])
                witness = self.reach.path(packed[0]) if reachable else None
            except (KeyboardInterrupt, ctypes.ArgumentError) as err:
                if not keyboard_interrupt(err):
                    raise
                # (the CTI is found: report it, unclassified, and stop there)
                self.interrupted = True
                reachable = witness = None
                notes.append(f"the search for it was {INTERRUPTED}")
            else:
                if reachable is None:
                    notes.append(f"the search for it stopped after {self.reach.stopped}")
        return Obligation(c.name, a.name, "cti",
                          Violation(kind="invariant", property=c.name, trace=tuple(trace)),
                          reachable=reachable, witness=witness, detail="; ".join(notes),
                          seconds=perf_counter() - t0)

    def _minimize(self, sol: Solver, states, m: z3.ModelRef,
                  budget_s: float = 20.0) -> z3.ModelRef:
        """Ask for models with fewer scalars away from their initial values, until none
        has fewer (or the time budget is spent); the best model found."""
        lits = []
        for s in states:
            for x, d in zip(s, self.defaults):
                if Z.is_term(x):
                    lits.append(Z.zbool(Z.ne(x, d)))
        lits = [lit for lit in lits if not z3.is_true(lit) and not z3.is_false(lit)]
        if not lits:
            return m

        def cost(model):
            return sum(1 for lit in lits if z3.is_true(model.eval(lit, model_completion=True)))

        deadline = perf_counter() + budget_s
        best = cost(m)
        sol.push()
        try:
            while best > 0 and perf_counter() < deadline:
                sol.add(z3.PbLe([(lit, 1) for lit in lits], best - 1))
                if sol.check() != z3.sat:
                    break
                m = sol.model()
                best = cost(m)
        except (KeyboardInterrupt, ctypes.ArgumentError) as err:
            if not keyboard_interrupt(err):
                raise
            self.interrupted = True     # (the CTI found so far is reported, then it stops)
        finally:
            sol.pop()
        return m

    # -------------------------------------------------------- cross-checks
    def _confirm_holds(self, states, skip: str | None = None) -> list[str]:
        """Check that every state satisfies every conjunct, as the explicit model says;
        a conjunct the explicit model cannot evaluate there is a note, not a mismatch:
        `quiescent` and `enabled(...)` try every step, and in an unreachable pre-state a
        step may be a run-time error (a value out of its range), which the symbolic
        engines count as no step at all (the operation's condition)."""
        checks = {i.name: i.holds for i in self.compiled.model.invariants}
        notes = []
        for s in states:
            for c in self.conjuncts:
                try:
                    ok = checks[c.name](s)
                except MODEL_ERRORS as err:
                    notes.append(f"the explicit engine cannot evaluate {c.name} in this "
                                 f"(pre-)state: {getattr(err, 'message', None) or err}")
                    continue
                if not ok:
                    raise SymbolicMismatchError(
                        f"a CTI pre-state should satisfy {c.name}, but the explicit model "
                        f"says it does not: {self.compiled.model.decode(s)}")
        return notes

    def _confirm_fails(self, state, name: str) -> None:
        holds = {i.name: i.holds for i in self.compiled.model.invariants}[name]
        try:
            ok = holds(state)
        except MODEL_ERRORS:
            ok = False
        if ok:
            raise SymbolicMismatchError(f"the solver says {name} is false in "
                                   f"{self.compiled.model.decode(state)}, the explicit model "
                                   "says it holds")


def _status(r: z3.CheckSatResult) -> str:
    if r == z3.sat:
        return "ok"
    return "failed" if r == z3.unsat else "unknown"


def _unknown(sol: Solver) -> str:
    reason = sol.reason_unknown()
    if "timeout" in reason or "canceled" in reason:
        return "solver timeout"
    return f"solver gave up ({reason})"


# ------------------------------------------------------------------ the result
def _result(compiled: CompiledSpec, conjuncts, obligations: list[Obligation],
            sanity: list[SanityCheck], skipped: tuple[str, ...], k: int,
            elapsed: float, interrupted: tuple[int, int | None] | None = None) -> Result:
    """The proof's verdict. ``interrupted``: (obligations checked, obligations in all)
    when a Ctrl-C stopped it: inconclusive, whatever was found (exit status 3)."""
    model = compiled.model
    names = tuple(c.name for c in conjuncts)
    base: dict[str, Any] = dict(engine="prove", spec=model.name,
                                constants=dict(model.constants), properties=names,
                                # (the states of a CTI's path: the depth counts
                                # states, in every engine)
                                stats=Stats(depth=k + 1, elapsed_s=elapsed))
    notes = summary_lines(obligations, sanity, skipped, k)
    ctis = [o for o in obligations if o.status == "cti"]
    unknown = [o for o in obligations if o.status == "unknown"]
    vacuous = [s for s in sanity if s.status == "failed" and not s.what.startswith("action")]
    if interrupted is not None:
        checked, total = interrupted
        found = f", {len(ctis)} with a counterexample to induction" if ctis else ""
        return Result(status=Status.LIMIT, limit_reason=(
            f"{INTERRUPTED} after {checked} of {total} obligations{found} (the others, "
            "marked -, were not checked); inconclusive, not proved" if total is not None
            else f"{INTERRUPTED} while the spec was being encoded, before any obligation "
                 "was checked; inconclusive, not proved"), notes=tuple(notes), **base)
    if ctis:
        first = ctis[0]
        return Result(status=Status.VIOLATION, violation=first.cti, notes=tuple(notes), **base)
    if vacuous:
        message = f"the proof is vacuous: {vacuous[0].detail}"
        return Result(status=Status.ERROR, violation=Violation(
            kind="error", property=None, trace=(), message=message), notes=tuple(notes), **base)
    if unknown:
        which = ", ".join(f"{o.conjunct}/{o.action}" for o in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return Result(status=Status.LIMIT, limit_reason=(
            f"{unknown[0].detail} on {len(unknown)} obligation(s) ({which}{more}); "
            "inconclusive, not proved"), notes=tuple(notes), **base)
    return Result(status=Status.OK, notes=tuple(notes), **base)


def summary_lines(obligations: Sequence[Obligation], sanity: Sequence[SanityCheck],
                  skipped: Sequence[str], k: int) -> list[str]:
    """The table as text lines (what ``Result.notes`` carries)."""
    ok = sum(1 for o in obligations if o.status == "ok")
    cti = sum(1 for o in obligations if o.status == "cti")
    unk = len(obligations) - ok - cti
    how = "induction" if k == 1 else f"{k}-induction"
    lines = [f"{how}: {len(obligations)} obligations: {ok} ok, {cti} CTI, {unk} unknown"]
    for o in obligations:
        if o.status == "ok":
            continue
        where = "initiation" if o.action == INIT else f"after {o.action}"
        if o.status == "cti":
            step = o.cti.trace[-1] if o.cti and o.cti.trace else None
            label = f" ({step.label})" if step is not None and step.label else ""
            lines.append(f"{o.conjunct}, {where}{label}: CTI, {o.verdict}")
        else:
            lines.append(f"{o.conjunct}, {where}: unknown ({o.detail})")
    for s in sanity:
        if s.status != "ok":
            lines.append(f"warning: {s.what}: {s.status}" + (f": {s.detail}" if s.detail
                                                              else ""))
    if skipped:
        lines.append("not part of the proof (transition invariants): " + ", ".join(skipped))
    return lines
