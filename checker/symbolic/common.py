"""What the bounded model checker and the prover share: solvers, the choice of
properties, input errors, and turning solver models into explicit-engine traces."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import z3

from .. import ir
from ..compile import CompiledSpec
from ..result import TraceStep
from ..source import Diagnostic, Span, SpecError
from . import terms as Z
from .sv import EncodingError

SEED = 0


class SymbolicMismatchError(RuntimeError):
    """The symbolic and the explicit engine disagree about a step or a state: a bug in
    one of them (never a property of the spec). The message says what was compared."""


INTERRUPTED = "interrupted (Ctrl-C)"


def keyboard_interrupt(err: BaseException) -> bool:
    """Whether ``err`` is a Ctrl-C (or SIGTERM, which the command line handles alike):
    a KeyboardInterrupt, or one that Python raised while ctypes was converting an
    argument of a Z3 call, which ctypes hands on as an ArgumentError."""
    if isinstance(err, KeyboardInterrupt):
        return True
    return isinstance(err, ctypes.ArgumentError) and "KeyboardInterrupt" in str(err)


def raise_if_interrupted(reason: str) -> None:
    """Z3 answers ``unknown`` ("interrupted from keyboard") when a Ctrl-C arrives during
    a query: it takes the signal itself, so Python never sees it. Turn that answer into
    the KeyboardInterrupt the Ctrl-C is, so that the engine stops and reports what it has
    instead of going on with the next query (and later ones are ignored, as during the
    explicit engine's report)."""
    if "interrupted" in reason:
        from ..interrupts import interrupt_seen

        interrupt_seen()
        raise KeyboardInterrupt


class Solver:
    """An incremental solver for finite-domain queries (Booleans and bit-vectors): Z3's
    SAT-based solver, which keeps what it learned across push and pop; fixed seed.

    With a timeout, Z3's SAT solver can answer ``sat`` when it is interrupted, with a
    model that satisfies nothing in particular. So a ``sat`` answer under a timeout is
    trusted only once the model has been checked against every assertion; a model that
    fails the check makes the answer ``unknown`` (a timeout), never a counterexample.
    A Ctrl-C interrupts a query the same way (with or without a timeout): it raises
    KeyboardInterrupt, for the engine to report what it has (``raise_if_interrupted``).
    """

    def __init__(self, timeout_s: float | None, dump: QueryDump | None = None):
        self.z3 = z3.SolverFor("QF_FD")
        self.z3.set("random_seed", SEED)
        self.timeout_s = timeout_s
        if timeout_s is not None:
            self.z3.set("timeout", max(1, int(timeout_s * 1000)))
        self._interrupted = False
        self.dump = dump
        # What was asserted, to check a model against: after a check, the SAT solver's
        # own assertions() are its preprocessed clauses, over auxiliary constants that
        # its models leave out (every model would fail a check against them).
        self._asserted: list = []
        self._marks: list[int] = []

    def add(self, formula) -> None:
        if formula is not True:
            f = Z.zbool(formula)
            self.z3.add(f)
            self._asserted.append(f)

    def push(self) -> None:
        self.z3.push()
        self._marks.append(len(self._asserted))

    def pop(self) -> None:
        self.z3.pop()
        del self._asserted[self._marks.pop():]

    def check(self) -> z3.CheckSatResult:
        self._interrupted = False
        if self.dump is not None:
            self.dump.write(self.z3)
        answer = self.z3.check()
        if answer == z3.unknown:
            raise_if_interrupted(self.z3.reason_unknown())
        if answer == z3.sat:
            # (also without a timeout: a Ctrl-C interrupts the search as a timeout does)
            m = self.z3.model()
            for a in self._asserted:
                if not z3.is_true(m.eval(a, model_completion=True)):
                    if self.timeout_s is None:
                        raise_if_interrupted("interrupted")
                    self._interrupted = True
                    return z3.unknown
        return answer

    def model(self) -> z3.ModelRef:
        return self.z3.model()

    def reason_unknown(self) -> str:
        return "timeout" if self._interrupted else self.z3.reason_unknown()


class QueryDump:
    """Writes every query, as SMT-LIB 2, to numbered files in a directory."""

    def __init__(self, directory: str, prefix: str):
        import os

        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.prefix = prefix
        self.count = 0

    def write(self, solver: z3.Solver) -> None:
        import os

        self.count += 1
        path = os.path.join(self.directory, f"{self.prefix}-{self.count:05d}.smt2")
        with open(path, "w") as f:
            f.write("(set-logic QF_FD)\n")
            f.write(solver.sexpr())
            f.write("(check-sat)\n")


def solver(timeout_s: float | None, dump: QueryDump | None = None) -> Solver:
    return Solver(timeout_s, dump)


def check(s: Solver, *formulas) -> z3.CheckSatResult:
    """Is the solver's assertions plus ``formulas`` satisfiable? (Leaves no trace.)"""
    s.push()
    try:
        for f in formulas:
            s.add(f)
        return s.check()
    finally:
        s.pop()


class _InputError(SpecError):
    """Rendered ``error: message`` (and its notes), as the command line's other usage
    errors are: it is about the command, not a place in a file (no ``<input>:``)."""

    def render(self) -> str:
        return super().render().removeprefix("<input>: ")


def input_error(message: str, notes: tuple[str, ...] = ()) -> SpecError:
    """A problem with what the user asked for (rendered by the CLI, exit status 2)."""
    return _InputError([Diagnostic(message, Span.unknown(), notes=notes)], None)


def encoding_error(err: EncodingError) -> SpecError:
    return input_error(f"the symbolic engines cannot encode this spec: {err}")


def select_invariants(compiled: CompiledSpec, names: Sequence[str] | None) -> list[ir.Invariant]:
    """The invariants named (all of them by default); unknown names are input errors."""
    invs = list(compiled.typed.invariants)
    if names is None:
        return invs
    known = [i.name for i in invs]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise input_error(f"--inv {', '.join(unknown)}: no such invariant (this spec has: "
                          f"{', '.join(known) or 'none'})")
    wanted = set(names)
    return [i for i in invs if i.name in wanted]


def label_path(compiled: CompiledSpec, states: Sequence[tuple]) -> tuple[TraceStep, ...]:
    """Replay a path of packed states through the explicit model: the initial state must
    be one of its initial states and every step one of its steps. Returns the trace
    labelled as the explicit engine labels it; raises SymbolicMismatchError otherwise."""
    model = compiled.model
    if states[0] not in set(model.initial_states()):
        raise SymbolicMismatchError(f"the symbolic initial state {model.decode(states[0])} is not "
                               "an initial state of the explicit model")
    trace = [TraceStep(None, (), model.decode(states[0]))]
    for i, (pre, post) in enumerate(zip(states, states[1:]), start=1):
        step = find_step(compiled, pre, post)
        if step is None:
            raise SymbolicMismatchError(f"step {i} of the symbolic trace is not a step of the "
                                   f"explicit model: from {model.decode(pre)} to "
                                   f"{model.decode(post)}")
        trace.append(TraceStep(step.action, step.args, model.decode(post)))
    return tuple(trace)


def find_step(compiled: CompiledSpec, pre: tuple, post: tuple, action: str | None = None,
              args: tuple | None = None):
    """The first step of the explicit model from ``pre`` to ``post`` (of that action,
    with those arguments, when given); None if there is none. Model errors propagate."""
    for step in compiled.model.steps(pre):
        if step.state != post:
            continue
        if action is not None and step.action != action:
            continue
        if args is not None and step.args != args:
            continue
        return step
    return None
