"""Typed spec to ``Model``: generate one Python module per spec and wrap it.

States are tuples with one packed value per variable (see ``types`` for the packing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import ir
from . import types as T
from .codegen import (
    UNROLL_PARAMS,
    ExprGen,
    Lines,
    Pool,
    StmtGen,
    conjuncts,
    def_functions,
    leading_conditions,
    long_int_literals,
    small_product,
)
from .frame import UNROLL_INSTANCES, cannot_fail, frame_of, guard_facts, implied_by
from .frame import writes as frame_writes
from .model import (
    EvaluationError,
    Invariant,
    Model,
    Step,
    TransitionInvariant,
    describe_error,
)
from .optimize import join
from .source import Diagnostic, Span, SpecError
from .universe import Universe
from .values import Value


@dataclass(frozen=True)
class CompiledSpec:
    """The model plus what other engines and renderers need to know about it."""

    model: Model
    typed: ir.TypedSpec
    universe: Universe
    source_code: str
    faults: tuple[str, ...]  # the fault actions switched on
    max_faults: int | None   # the fault budget per behaviour (None: unbounded)
    # Each action switched on, with its generated function: state -> [(packed args,
    # next state)]. For engines that take one chosen action (trace validation).
    action_functions: tuple[tuple[ir.Action, Callable], ...] = ()
    # Fault kinds asked for on the command line that no fault action of the spec has.
    unmodelled_faults: tuple[str, ...] = ()
    # For each line of ``source_code``, the statement or property of the spec it
    # computes (None for plumbing): see ``failed_at``.
    line_spans: tuple[Span | None, ...] = ()

    def failed_at(self, err: BaseException) -> Span | None:
        """Where in the spec ``err`` (raised by the generated code) was raised: the
        statement or property whose line of generated code was running, the innermost
        one that has a place in the spec (a ``def``'s body, then the statement that
        called it). None when the error did not come from the spec's code."""
        name = _filename(self.typed)
        lines = []
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == name:
                lines.append(tb.tb_lineno)
            tb = tb.tb_next
        for lineno in reversed(lines):
            span = self.line_spans[lineno - 1] if 0 < lineno <= len(self.line_spans) else None
            if span is not None and span.line:
                return span
        return None


def compile_spec(typed: ir.TypedSpec, faults: tuple[str, ...] = (),
                 check_deadlock: bool | None = None,
                 max_faults: int | None = None) -> CompiledSpec:
    """Compile the typed spec with the chosen fault actions switched on.

    With a fault budget, the state gets one hidden component counting the fault steps
    taken so far; fault actions are enabled only while it is below the budget. (TLC users
    get the same effect with an extra variable; here it costs nothing to write.)
    """
    with long_int_literals():
        return _compile_spec(typed, faults, check_deadlock, max_faults)


def _compile_spec(typed: ir.TypedSpec, faults: tuple[str, ...],
                  check_deadlock: bool | None, max_faults: int | None) -> CompiledSpec:
    univ = Universe(typed.int_base)
    pool = Pool()
    out = Lines()
    actions = [a for a in typed.actions if not a.fault or a.name in faults]
    if max_faults is None:
        max_faults = typed.options.get("max_faults")
    budgeted = bool(faults) and max_faults is not None
    if faults and not budgeted:
        _refuse_uncounted_faults(typed)
    slots = [v.slot for v in typed.variables]
    counter = len(slots)
    if budgeted:
        slots.append(counter)
    state_env = {s: f"v{s}" for s in slots}
    unpack = (", ".join(f"v{s}" for s in slots) + ("," if len(slots) == 1 else "")) or "_"

    defs = typed.defs
    def_functions(defs, univ, pool, out)

    def finish_state(env, ind):
        out.add(ind, f"app({_tuple([env[s] for s in slots])})")

    # Initial states.
    out.add(0, "def initial():")
    out.add(1, "out = []")
    out.add(1, "app = out.append")
    StmtGen(univ, pool, defs, out, finish_state).block(typed.init, {counter: "0"}, 1)
    out.add(1, "return out")

    # Successors, every action inlined: the hot path.
    budget = max_faults if budgeted else None
    _function_head(out, "successors(s)", unpack)
    for a in actions:
        _action_body(a, univ, pool, defs, out, state_env, lambda args, body: finish_state,
                     counter, budget)
    out.add(1, "return out")

    # Successors with every transition invariant checked after each action instance:
    # only what the instance may change (see ``frame``). None when a check fails.
    transition = [inv for inv in typed.invariants if inv.transition]
    if transition:
        frames = [frame_of(inv.body, lambda bs: small_product(univ, bs, UNROLL_INSTANCES))
                  for inv in transition]

        def finish_checked(args, body):
            may_write = frame_writes(body)
            facts = guard_facts(leading_conditions(body))

            def finish(env, ind):
                finish_state(env, ind)
                changed = {s for s in slots if env[s] != f"v{s}"}
                written = frozenset(loc for loc in may_write if loc[0] in changed)
                gen = ExprGen(univ, pool, defs, state_env, env)
                for fr in frames:
                    for part in fr.residual(written):
                        if not implied_by(part, facts):
                            out.add(ind, f"if not {gen.expr(part)}: return None")
            return finish

        _function_head(out, "checked_successors(s)", unpack)
        for a in actions:
            _action_body(a, univ, pool, defs, out, state_env, finish_checked, counter, budget)
        out.add(1, "return out")

    # One labelled function per action: (arguments, next state) pairs.
    for i, a in enumerate(actions):
        def finish_for(args, body):
            def finish_labelled(env, ind):
                out.add(ind, f"app(({_tuple(args)}, {_tuple([env[s] for s in slots])}))")
            return finish_labelled

        _function_head(out, f"action{i}(s)", unpack)
        _action_body(a, univ, pool, defs, out, state_env, finish_for, counter, budget)
        out.add(1, "return out")

    # Enabledness (for `enabled(...)` and `quiescent`): one function per set of actions
    # asked about, every action inlined, in order (one call and one unpacking per state,
    # not one per action; the actions' shared leading tests merge, as in `successors`).
    asked = sorted({x.actions for inv in typed.invariants for x in ir.ir_nodes(inv.body)
                    if isinstance(x, ir.Enabled) and x.actions})
    enabled = {acts: f"_en{k}" for k, acts in enumerate(asked)}
    for acts, name in enabled.items():
        out.add(0, f"def {name}(s):")
        live = [typed.actions[i] for i in acts if typed.actions[i] in actions]
        if live:
            out.add(1, f"{unpack} = s")
        for a in live:
            _action_body(a, univ, pool, defs, out, state_env,
                         lambda args, body: lambda env, ind: out.add(ind, "return True"),
                         counter, budget)
        out.add(1, "return False")

    for i, inv in enumerate(typed.invariants):
        gen = ExprGen(univ, pool, defs, state_env, {s: f"w{s}" for s in slots},
                      enabled=enabled)
        if inv.transition:
            out.add(0, f"def invariant{i}(s, t):")
            out.add(1, f"{unpack} = s")
            out.add(1, f"{unpack.replace('v', 'w')} = t")
        else:
            out.add(0, f"def invariant{i}(s):")
            out.add(1, f"{unpack} = s")
        out.span = inv.body.span if inv.body.span.line else inv.span
        out.add(1, f"return {gen.expr(inv.body)}")
        out.span = None

    source = out.text()
    ns = pool.namespace()
    try:
        code = compile(source, _filename(typed), "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as err:
        raise SpecError([Diagnostic(
            f"this spec is too complex to compile ({err.__class__.__name__}: {err}); "
            "split long expressions with `let` or a `def`", Span.unknown())]) from None
    exec(code, ns)  # noqa: S102 (generated code)

    labelled = [(a, ns[f"action{i}"]) for i, a in enumerate(actions)]
    var_types = [(v.name, v.t) for v in typed.variables]

    def decode(state) -> dict[str, Value]:
        return {name: univ.decode(t, x) for (name, t), x in zip(var_types, state)}

    def steps(state) -> list[Step]:
        result = []
        for a, fn in labelled:
            for args, nxt in fn(state):
                shown = tuple(univ.decode(b.local.t, x) for b, x in zip(a.params, args))
                result.append(Step(a.name, shown, nxt))
        return result

    def diagnose(state) -> EvaluationError | None:
        for a, fn in labelled:
            try:
                fn(state)
            except EvaluationError as err:
                return EvaluationError(f"in action {a.name}: {err.message}", state, a.name)
            except (IndexError, TypeError, ValueError, ZeroDivisionError, KeyError) as err:
                return EvaluationError(f"in action {a.name}: {describe_error(err)}", state,
                                       a.name)
        return None

    invariants = tuple(Invariant(inv.name, ns[f"invariant{i}"])
                       for i, inv in enumerate(typed.invariants) if not inv.transition)
    transition = tuple(TransitionInvariant(inv.name, ns[f"invariant{i}"])
                       for i, inv in enumerate(typed.invariants) if inv.transition)
    deadlock = typed.options.get("deadlock", True) if check_deadlock is None else check_deadlock
    constants = {name: univ.decode(t, v) for name, (v, t) in typed.constants.items()}
    model = Model(
        name=typed.name, variables=tuple(v.name for v in typed.variables),
        initial_states=ns["initial"], successors=ns["successors"], steps=steps,
        decode=decode, invariants=invariants, transition_invariants=transition,
        check_deadlock=bool(deadlock), constants=constants, diagnose=diagnose,
        checked_successors=ns.get("checked_successors"))
    return CompiledSpec(model, typed, univ, source, tuple(faults),
                        max_faults if budgeted else None, tuple(labelled),
                        line_spans=tuple(out.spans))


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _function_head(out: Lines, signature: str, unpack: str) -> None:
    out.add(0, f"def {signature}:")
    out.add(1, f"{unpack} = s")
    out.add(1, "out = []")
    out.add(1, "app = out.append")


def _refuse_uncounted_faults(typed: ir.TypedSpec) -> None:
    """``faults_taken`` needs the counter a fault budget keeps: without a budget, fault
    steps are not counted, and the name would silently mean 0."""
    for inv in typed.invariants:
        used = next((x for x in ir.ir_nodes(inv.body) if isinstance(x, ir.FaultsTaken)), None)
        if used is not None:
            raise SpecError([Diagnostic(
                "`faults_taken` counts fault steps against a fault budget, and this run "
                "has none", used.span,
                notes=("give one: `option max_faults = N` in the spec, or --max-faults N",))])


def _action_body(a: ir.Action, univ, pool, defs, out: Lines, env, finish_for,
                 counter: int, budget: int | None) -> None:
    """One action's code. Parameters over small constant sets are unrolled (each
    combination compiled with the values substituted), others become loops."""
    ind = 1
    if a.fault and budget is not None:
        out.add(ind, f"if v{counter} < {int(budget)}:")
        ind += 1
        env = {**env, counter: f"(v{counter} + 1)"}
    combos = small_product(univ, a.params, UNROLL_PARAMS)
    if combos is not None:
        shared_first = _shared_tests_first(a)
        for m in combos:
            args = [ExprGen(univ, pool, defs, env).const(m[b.local.uid].value) for b in a.params]
            body = ir.substitute(shared_first, m)
            StmtGen(univ, pool, defs, out, finish_for(args, body)).block(body, env, ind)
        return
    gen = ExprGen(univ, pool, defs, env)
    conds = leading_conditions(a.body)
    for b in a.params:
        out.add(ind, f"for l{b.local.uid} in {gen.domain(b.domain, False, gen.narrow(b, conds))}:")
        ind += 1
    args = [f"l{b.local.uid}" for b in a.params]
    StmtGen(univ, pool, defs, out, finish_for(args, a.body)).block(a.body, env, ind)


def _shared_tests_first(a: ir.Action) -> tuple[ir.Stmt, ...]:
    """The body with the tests of its first ``require`` that no parameter occurs in
    moved before the others, when none of the tests can fail (so their order does not
    matter). The unrolled copies of the action then share those tests: ``Lines`` merges
    identical leading ``if``s, so ``Commit in msgs`` is tested once for every
    ``RMRcvCommitMsg(r)``, not once per ``r`` after ``rmUp[r]``."""
    if not a.params or not a.body or not isinstance(a.body[0], ir.Require):
        return a.body
    params = {b.local.uid for b in a.params}
    tests = list(conjuncts(a.body[0].cond))
    if len(tests) < 2 or not all(cannot_fail(t) for t in tests):
        return a.body

    def uses_params(e: ir.Expr) -> bool:
        return any(isinstance(x, ir.Local) and x.uid in params for x in ir.ir_nodes(e))

    ordered = [t for t in tests if not uses_params(t)] + [t for t in tests if uses_params(t)]
    if ordered == tests:
        return a.body
    return (ir.Require(join(ordered, "and"), a.body[0].span),) + tuple(a.body[1:])


def _filename(typed: ir.TypedSpec) -> str:
    """The name the generated code is compiled under (tracebacks carry it)."""
    return f"<spec {typed.name}>"


def packed_value(univ: Universe, t: T.Type, value: Value) -> Any:
    return univ.encode(t, value)
