"""Typed spec to ``Model``: generate one Python module per spec and wrap it.

States are tuples with one packed value per variable (see ``types`` for the packing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import ir
from . import types as T
from .codegen import DEF_INSTANCES, ExprGen, Lines, Pool, StmtGen, def_functions
from .model import EvaluationError, Invariant, Model, Step, TransitionInvariant
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


class FaultSelectionError(ValueError):
    pass


def select_faults(typed: ir.TypedSpec, requested: tuple[str, ...]) -> tuple[str, ...]:
    """Which fault actions to switch on; ``all`` means every one."""
    names = [a.name for a in typed.actions if a.fault]
    if "all" in requested:
        return tuple(names)
    unknown = [r for r in requested if r not in names]
    if unknown:
        known = ", ".join(names) if names else "none"
        raise FaultSelectionError(f"unknown fault {', '.join(unknown)} (this spec's faults: "
                                  f"{known}, or all)")
    return tuple(n for n in names if n in requested)


def compile_spec(typed: ir.TypedSpec, faults: tuple[str, ...] = (),
                 check_deadlock: bool | None = None) -> CompiledSpec:
    univ = Universe(typed.int_base)
    pool = Pool()
    out = Lines()
    actions = [a for a in typed.actions if not a.fault or a.name in faults]
    slots = [v.slot for v in typed.variables]
    state_env = {s: f"v{s}" for s in slots}
    unpack = (", ".join(f"v{s}" for s in slots) + ("," if len(slots) == 1 else "")) or "_"

    DEF_INSTANCES.push(typed.defs)
    try:
        def_functions(typed.defs, univ, pool, out)

        def finish_state(env, ind):
            items = [env[s] for s in slots]
            out.add(ind, "app((" + ", ".join(items) + ("," if len(items) == 1 else "") + "))")

        # Initial states.
        out.add(0, "def initial():")
        out.add(1, "out = []")
        out.add(1, "app = out.append")
        StmtGen(univ, pool, out, finish_state).block(typed.init, {}, 1)
        out.add(1, "return out")

        # Successors, every action inlined: the hot path.
        out.add(0, "def successors(s):")
        out.add(1, f"{unpack} = s")
        out.add(1, "out = []")
        out.add(1, "app = out.append")
        for a in actions:
            _action_body(a, univ, pool, out, state_env, finish_state, 1)
        out.add(1, "return out")

        # One labelled function per action: (arguments, next state) pairs.
        for i, a in enumerate(actions):
            args = [f"l{b.local.uid}" for b in a.params]

            def finish_labelled(env, ind, args=args):
                items = [env[s] for s in slots]
                out.add(ind, "app(((" + "".join(x + ", " for x in args) + "), ("
                        + ", ".join(items) + ("," if len(items) == 1 else "") + ")))")

            out.add(0, f"def action{i}(s):")
            out.add(1, f"{unpack} = s")
            out.add(1, "out = []")
            out.add(1, "app = out.append")
            _action_body(a, univ, pool, out, state_env, finish_labelled, 1)
            out.add(1, "return out")

        for i, inv in enumerate(typed.invariants):
            gen = ExprGen(univ, pool, state_env, {s: f"w{s}" for s in slots})
            if inv.transition:
                out.add(0, f"def invariant{i}(s, t):")
                out.add(1, f"{unpack} = s")
                out.add(1, f"{unpack.replace('v', 'w')} = t")
            else:
                out.add(0, f"def invariant{i}(s):")
                out.add(1, f"{unpack} = s")
            out.add(1, f"return {gen.expr(inv.body)}")
    finally:
        DEF_INSTANCES.pop()

    source = out.text()
    ns = pool.namespace()
    exec(compile(source, f"<spec {typed.name}>", "exec"), ns)  # noqa: S102 (generated code)

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
                return EvaluationError(f"in action {a.name}: {_explain(err)}", state, a.name)
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
        check_deadlock=bool(deadlock), constants=constants, diagnose=diagnose)
    return CompiledSpec(model, typed, univ, source, tuple(faults))


def _action_body(a: ir.Action, univ, pool, out: Lines, env, finish, ind: int) -> None:
    gen = ExprGen(univ, pool, env)
    for b in a.params:
        out.add(ind, f"for l{b.local.uid} in {gen.domain(b.domain)}:")
        ind += 1
    StmtGen(univ, pool, out, finish).block(a.body, env, ind)
    if not a.params and not a.body:
        pass


def _explain(err: Exception) -> str:
    if isinstance(err, ZeroDivisionError):
        return "division by zero"
    if isinstance(err, IndexError):
        return "a value was read outside its domain (a field the message lacks, or a key " \
               "outside the map)"
    return str(err)


def packed_value(univ: Universe, t: T.Type, value: Value) -> Any:
    return univ.encode(t, value)
