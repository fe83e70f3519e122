"""Bounded model checking: is a property violated within K steps of an initial state?

One incremental solver holds the path ``Init(s0), Step(s0, s1), ..., Step(s{k-1}, sk)``;
for k = 0, 1, ..., K it asks whether ``sk`` violates a property (an invariant, a
transition invariant on the last step, deadlock if asked for, or an operation the
explicit engine would fail on). The first k with an answer gives a shortest
counterexample. Its states are decoded and replayed through the explicit model, which
labels the steps (so the trace reads exactly like the explicit engine's) and confirms
that the violation is real.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from time import perf_counter

import z3

from ..compile import CompiledSpec
from ..explore import MODEL_ERRORS
from ..interrupts import finishing
from ..result import Result, Stats, Status, Violation
from . import terms as Z
from .common import (
    INTERRUPTED,
    QueryDump,
    SymbolicMismatchError,
    encoding_error,
    keyboard_interrupt,
    label_path,
    select_invariants,
    solver,
)
from .sv import EncodingError
from .system import System


def bmc(compiled: CompiledSpec, depth: int, invariants: Sequence[str] | None = None,
        check_deadlock: bool = False, timeout_s: float | None = None,
        smt2_dir: str | None = None) -> Result:
    """Look for a shortest violation within ``depth`` steps.

    ``invariants`` names the (transition) invariants to check (default: all);
    ``timeout_s`` bounds each solver query (an inconclusive query gives Status.LIMIT);
    ``smt2_dir``, when given, receives every query as an SMT-LIB 2 file.
    """
    if depth < 0:
        raise ValueError(f"depth must be 0 or more, not {depth}")
    start = perf_counter()
    chosen = select_invariants(compiled, invariants)
    state_invs = [i for i in chosen if not i.transition]
    trans_invs = [i for i in chosen if i.transition]
    properties = tuple(i.name for i in state_invs) + tuple(i.name for i in trans_invs)
    model = compiled.model
    base = dict(engine="bmc", spec=model.name, constants=dict(model.constants),
                properties=properties)

    reached = [-1]      # the depth being checked (-1: the spec is still being encoded)
    try:
        return _bmc(compiled, depth, state_invs, trans_invs, check_deadlock, timeout_s,
                    smt2_dir, start, base, reached)
    except (KeyboardInterrupt, ctypes.ArgumentError) as err:
        if not keyboard_interrupt(err):
            raise
        k = reached[0]
        stats = Stats(depth=max(k, 0), elapsed_s=perf_counter() - start)
        reason = (f"{INTERRUPTED} {_at_step(k)}" if k >= 0 else
                  f"{INTERRUPTED} while the spec was being encoded, before any step was "
                  "checked")
        return Result(status=Status.LIMIT, stats=stats, limit_reason=reason, **base)


def _bmc(compiled, depth, state_invs, trans_invs, check_deadlock, timeout_s, smt2_dir,
         start, base, reached: list[int]) -> Result:
    """The search; ``reached[0]`` says which depth it is at (for a Ctrl-C's report)."""
    try:
        system = System(compiled)
        inv_f = [(i.name, system.invariant(i)) for i in state_invs]
        tinv_f = [(i.name, system.invariant(i)) for i in trans_invs]
        errors = system.errors()
        enabled = system.enabled() if check_deadlock else True
        s0, constraints = system.initial_state("0")
    except EncodingError as err:
        raise encoding_error(err) from None

    sol = solver(timeout_s, QueryDump(smt2_dir, "bmc") if smt2_dir else None)
    for c in constraints:
        sol.add(Z.zbool(c))
    states = [s0]
    for k in range(depth + 1):
        reached[0] = k
        if k > 0:
            post, step = system.step(states[-1], str(k))
            sol.add(Z.zbool(step))
            states.append(post)
        cur = states[-1]
        holds = [system.instantiate(f, cur) for _, f in inv_f]
        if k > 0:
            holds += [system.instantiate(f, states[-2], cur) for _, f in tinv_f]
        # Like the explicit engine, which checks a state's invariants when it reaches it
        # and meets errors and deadlocks only when it expands it: violations first.
        others = [Z.not_(system.instantiate(Z.or_(f for _, _, f in errors), cur))]
        if check_deadlock:
            others.append(system.instantiate(enabled, cur))
        fine = [*holds, *others]
        for group in (holds, others):
            bad = Z.not_(Z.and_(group))
            if bad is False:
                continue
            sol.push()
            sol.add(Z.zbool(bad))
            answer = sol.check()
            if answer == z3.sat:
                finishing()     # (only decoding and replaying are left: keep the result)
                found = [system.decode(sol.model(), s) for s in states]
                sol.pop()
                # (the depth counts states, as the explicit engine's: k steps, k + 1)
                stats = Stats(depth=k + 1, elapsed_s=perf_counter() - start)
                return _counterexample(compiled, found, state_invs, trans_invs,
                                       check_deadlock, stats, base)
            sol.pop()
            if answer == z3.unknown:
                reason = sol.reason_unknown()
                stats = Stats(depth=k, elapsed_s=perf_counter() - start)
                what = "solver timeout" if "timeout" in reason or "canceled" in reason \
                    else f"solver gave up ({reason})"
                return Result(status=Status.LIMIT, stats=stats,
                              limit_reason=f"{what} {_at_step(k)}", **base)
        # No violation at depth k: what held there is a fact for the deeper queries.
        for f in fine:
            if f is not True:
                sol.add(Z.zbool(f))
    stats = Stats(depth=depth + 1, elapsed_s=perf_counter() - start)
    return Result(status=Status.OK, stats=stats, notes=(
        f"{_within(depth)} (depth {depth + 1}: the depth counts states, as check's "
        "does)",), **base)


def _within(steps: int) -> str:
    if steps == 0:
        return "no violation in the initial states"
    return f"no violation within {steps} step{'s' if steps != 1 else ''}"


def _at_step(k: int) -> str:
    """Where a search stopped while checking the states k steps from the initial ones."""
    if k == 0:
        return "while checking the initial states"
    return f"at step {k}; {_within(k - 1)}"


def _counterexample(compiled: CompiledSpec, states: list[tuple], state_invs, trans_invs,
                    check_deadlock: bool, stats: Stats, base: dict) -> Result:
    """Confirm the violation at the end of ``states`` with the explicit model."""
    model = compiled.model
    trace = label_path(compiled, states)
    last = states[-1]
    checks = {i.name: i.holds for i in model.invariants}
    for inv in state_invs:
        try:
            ok = checks[inv.name](last)
        except MODEL_ERRORS as err:
            message = f"{_error_text(compiled, last, err)} (while evaluating invariant " \
                      f"{inv.name})"
            return Result(status=Status.ERROR, stats=stats, violation=Violation(
                kind="error", property=None, trace=trace, message=message), **base)
        if not ok:
            return Result(status=Status.VIOLATION, stats=stats, violation=Violation(
                kind="invariant", property=inv.name, trace=trace), **base)
    if len(states) > 1:
        tchecks = {i.name: i.holds for i in model.transition_invariants}
        for inv in trans_invs:
            try:
                ok = tchecks[inv.name](states[-2], last)
            except MODEL_ERRORS as err:
                message = f"{_error_text(compiled, last, err)} (while evaluating transition " \
                          f"invariant {inv.name})"
                return Result(status=Status.ERROR, stats=stats, violation=Violation(
                    kind="error", property=None, trace=trace, message=message), **base)
            if not ok:
                return Result(status=Status.VIOLATION, stats=stats, violation=Violation(
                    kind="transition", property=inv.name, trace=trace), **base)
    try:
        model.successors(last)
    except MODEL_ERRORS as err:
        return Result(status=Status.ERROR, stats=stats, violation=Violation(
            kind="error", property=None, trace=trace,
            message=_error_text(compiled, last, err)), **base)
    if check_deadlock and not model.successors(last):
        return Result(status=Status.DEADLOCK, stats=stats, violation=Violation(
            kind="deadlock", property=None, trace=trace), **base)
    raise SymbolicMismatchError(f"the solver found a violation in state {model.decode(last)} "
                           "that the explicit model does not confirm")


def _error_text(compiled: CompiledSpec, state, err: BaseException) -> str:
    diagnose = compiled.model.diagnose
    if diagnose is not None:
        try:
            found = diagnose(state)
        except Exception:  # noqa: BLE001 (a failed diagnosis must not hide the error)
            found = None
        if found is not None:
            return found.message
    return getattr(err, "message", None) or f"{type(err).__name__}: {err}"
