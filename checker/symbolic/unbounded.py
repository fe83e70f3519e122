"""Inductive proofs for any number of nodes: ``modelcheck prove --unbounded``.

The same obligations as ``prove`` (initiation per conjunct, consecution per (action,
conjunct) pair, the sanity checks), but over the first-order lowering of ``lower``: every
symmetric set is an uninterpreted sort, majority quorums a sort with the axiom that any
two intersect. An ``unsat`` answer therefore holds for every size of the sets; finite
constants (values, ballots) keep their configured values.

A decidable-fragment check (``fragment``) runs on every query before it is solved and
says in plain words whether it is stratified (EPR) or why not. Solver hygiene as for the
bounded prover: a per-query timeout, a fixed seed, ``unknown`` reported as inconclusive
(never proved), every query dumped with ``smt2_dir``.

A counterexample to induction is a finite first-order model: each sort's elements (named
``RM!0``, ``RM!1``, ...), the pre-state and the post-state. The explicit engine cannot
decide whether it is reachable (its size is not the configured one): its verdict says to
check it with bounded constants.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import z3

from .. import ir
from .. import types as T
from ..compile import CompiledSpec
from ..result import TraceStep, Violation
from ..source import Source
from ..values import MapValue, RecordValue, SetValue, Value
from . import fol as F
from .common import SEED, input_error, keyboard_interrupt, raise_if_interrupted
from .fol import MsgSet, MsgV, Opt, SortFun, SortSet
from .fragment import FragmentCheck, FragmentReport, edges_of, function_edges
from .lower import Lowerer, Path, QuorumRef
from .prove import INIT, Obligation, ProofReport, SanityCheck, _conjuncts, _result
from .sorts import LoweringError, plan

UNBOUNDED_VERDICT = "unbounded CTI: check with bounded constants"


@dataclass(frozen=True)
class UnboundedObligation(Obligation):
    """An obligation of an unbounded proof; a CTI comes with its sorts' elements."""

    elements: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (sort, element names)
    universe: tuple[str, ...] = ()                           # the lines that describe them

    @property
    def verdict(self) -> str:
        if self.status != "cti":
            return self.status
        if self.action == INIT:
            return "violated in an initial state (of some size): the property is wrong"
        return UNBOUNDED_VERDICT


@dataclass(frozen=True)
class UnboundedProofReport(ProofReport):
    """A proof report for any number of nodes: which sets are sorts, which constants
    keep their values, and the decidable-fragment check."""

    sorts: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    quorums: tuple[str, ...] = ()
    fragment: FragmentReport | None = None
    unbounded: bool = field(default=True)

    def header_lines(self) -> list[str]:
        """What the proof covers, in words."""
        from ..values import format_value

        sizes = ", ".join(self.sorts)
        out = [f"Unbounded: {sizes} {'are' if len(self.sorts) > 1 else 'is an'} "
               f"uninterpreted sort{'s' if len(self.sorts) > 1 else ''}; the proof holds "
               f"for any number of {sizes}."]
        if self.quorums:
            out.append("  quorums:   " + ", ".join(
                f"majority quorums of {q} are a sort with the axiom that any two intersect"
                for q in self.quorums))
        fixed = [f"{k} = {format_value(self.constants[k])}" for k in self.fixed
                 if k in self.constants]
        if fixed:
            out.append("  fixed:     " + ", ".join(fixed) + " (not any number of these)")
        return out


class _Solver:
    """A Z3 solver for quantified queries: fixed seed, per-query timeout, dumps."""

    def __init__(self, timeout_s: float | None, dump_dir: str | None, counter: list[int]):
        self.z3 = z3.Solver()
        self.z3.set("random_seed", SEED)
        if timeout_s is not None:
            self.z3.set("timeout", max(1, int(timeout_s * 1000)))
        self.dump_dir = dump_dir
        self.counter = counter

    def add(self, f: Any) -> None:
        if f is not True:
            self.z3.add(F.zval(f))

    def check(self) -> z3.CheckSatResult:
        if self.dump_dir is not None:
            self.counter[0] += 1
            path = os.path.join(self.dump_dir, f"unbounded-{self.counter[0]:05d}.smt2")
            with open(path, "w") as f:
                f.write(f"(set-option :random-seed {SEED})\n")
                f.write(self.z3.sexpr())
                f.write("(check-sat)\n")
        answer = self.z3.check()
        if answer == z3.unknown:
            raise_if_interrupted(self.z3.reason_unknown())
        return answer

    def push(self) -> None:
        self.z3.push()

    def pop(self) -> None:
        self.z3.pop()

    def unknown_reason(self) -> str:
        reason = self.z3.reason_unknown()
        if "timeout" in reason or "canceled" in reason:
            return "solver timeout"
        return f"solver gave up ({reason})"


def prove_unbounded_report(compiled: CompiledSpec, source: Source | None,
                           invariants: Sequence[str] | None = None,
                           timeout_s: float | None = None, smt2_dir: str | None = None,
                           minimize: bool = True) -> UnboundedProofReport:
    """The unbounded proof with every obligation, its CTI if any, the sanity checks and
    the fragment check. ``source`` (the spec's text) gives positions in error messages
    and lets majority-quorum defs be recognized. Raises SpecError (exit 2) on anything
    without a first-order meaning."""
    start = perf_counter()
    conjuncts, skipped = _conjuncts(compiled, invariants)
    typed = compiled.typed
    sp = plan(typed, source)
    if not sp.sorts:
        raise input_error("--unbounded: the spec declares no `symmetry` set, so no set can "
                          "be of any size",
                          notes=("declare `symmetry Nodes` for a set of interchangeable "
                                 "nodes",))
    if smt2_dir:
        os.makedirs(smt2_dir, exist_ok=True)
    try:
        prover = _Prover(compiled, source, sp, conjuncts, timeout_s, smt2_dir, minimize)
    except LoweringError as err:
        raise err.spec_error(source) from None
    except (KeyboardInterrupt, ctypes.ArgumentError) as err:
        if not keyboard_interrupt(err):
            raise
        raise KeyboardInterrupt from None   # (nothing checked yet: the command line says
    interrupted = False                     # "interrupted after ..." and exits 3)
    try:
        prover.sanity()
        prover.initiation()
        prover.consecution()
    except LoweringError as err:
        raise err.spec_error(source) from None
    except (KeyboardInterrupt, ctypes.ArgumentError) as err:
        if not keyboard_interrupt(err):
            raise
        interrupted = True
    sanity = prover.sanity_done
    obligations = prover.obligations()
    elapsed = perf_counter() - start
    total = len(conjuncts) * (len(prover.actions) + 1)
    result = _result(compiled, conjuncts, obligations, sanity, skipped, 1, elapsed,
                     interrupted=(len(obligations), total) if interrupted else None)
    return UnboundedProofReport(
        spec=compiled.model.name, constants=dict(compiled.model.constants),
        conjuncts=tuple(c.name for c in conjuncts),
        actions=tuple(a.name for a in prover.actions), k=1,
        obligations=tuple(obligations), sanity=tuple(sanity), result=result,
        elapsed_s=elapsed, skipped=skipped, sorts=sp.sorts, fixed=sp.fixed,
        quorums=tuple(prover.low.quorum_sorts), fragment=prover.fragment.report())


class _Prover:
    def __init__(self, compiled: CompiledSpec, source: Source | None, sp, conjuncts,
                 timeout_s: float | None, smt2_dir: str | None, minimize: bool):
        self.compiled = compiled
        self.typed = compiled.typed
        self.conjuncts: list[ir.Invariant] = conjuncts
        self.timeout_s = timeout_s
        self.smt2_dir = smt2_dir
        self.counter = [0]
        self.minimize = minimize
        low = self.low = Lowerer(self.typed, compiled.universe, sp, source, compiled.faults)
        self.cf = {c.name: low.holds(c.body, low.pre) for c in conjuncts}
        self.actions = [a for a in self.typed.actions
                        if not a.fault or a.name in compiled.faults]
        self.paths = {a.name: low.action_paths(a) for a in self.actions}
        self.inits = low.init_paths()
        self.sorted_names = set(low.zsorts) | {str(s) for s in low.quorum_sorts.values()}
        base = [e for label, f in low.axioms for e in edges_of(f, label)[0]]
        base += function_edges(low.symbols, self.sorted_names)
        self.fragment = FragmentCheck(base)
        self.reads = {c.name: _reads(c.body, self.typed) for c in conjuncts}
        # What is done so far (a Ctrl-C reports it): sanity checks, obligations.
        self.sanity_done: list[SanityCheck] = []
        self.done: list[Obligation] = []
        self.interrupted = False    # a Ctrl-C came while a CTI was minimized

    def obligations(self) -> list[Obligation]:
        """The obligations checked so far, in table order (conjunct, then action)."""
        order = {c.name: i for i, c in enumerate(self.conjuncts)}
        acts = {INIT: -1, **{a.name: i for i, a in enumerate(self.actions)}}
        return sorted(self.done, key=lambda o: (order[o.conjunct], acts[o.action]))

    def solver(self) -> _Solver:
        s = _Solver(self.timeout_s, self.smt2_dir, self.counter)
        for _, ax in self.low.axioms:
            s.add(ax)
        return s

    # -------------------------------------------------------------- sanity
    def sanity(self) -> list[SanityCheck]:
        out = self.sanity_done
        sol = self.solver()
        r = _check(sol, F.or_(F.and_(p.guard) for p in self.inits))
        out.append(SanityCheck("there is an initial state", _status(r),
                               "" if r != z3.unsat else "the init block has no possible "
                               "outcome: everything holds vacuously"))
        for f in self.cf.values():
            sol.add(f)
        r = sol.check()
        out.append(SanityCheck("the invariant is satisfiable", _status(r),
                               "" if r != z3.unsat else "no state satisfies the conjunction: "
                               "the proof would be vacuous"))
        if r == z3.unsat:
            return out
        for a in self.actions:
            r = _check(sol, F.or_(F.and_(p.guard) for p in self.paths[a.name]))
            detail = "" if r != z3.unsat else (
                "it never fires from a state satisfying the invariant, so its obligations "
                "hold vacuously; check its guard (or whether the invariant is too strong)")
            out.append(SanityCheck(f"action {a.name} can fire", _status(r), detail))
        return out

    # ---------------------------------------------------------- initiation
    def initiation(self) -> list[Obligation]:
        out = []
        for c in self.conjuncts:
            t = perf_counter()
            sol = self.solver()
            ob = None
            unknown = None
            for p in self.inits:
                goal = F.not_(self.low.holds(c.body, p.env))
                self.fragment.query([("the initial state", F.and_(p.guard)),
                                     (f"the negation of {c.name} in the initial state", goal)])
                sol.push()
                sol.add(F.and_(p.guard))
                sol.add(goal)
                r = sol.check()
                if r == z3.sat:
                    ob = self._cti(sol, c.name, INIT, None, p, t)
                elif r == z3.unknown:
                    unknown = sol.unknown_reason()
                sol.pop()
                if ob is not None:
                    break
            if ob is None:
                ob = UnboundedObligation(c.name, INIT, "unknown" if unknown else "ok",
                                         detail=unknown or "", seconds=perf_counter() - t)
            out.append(ob)
            self.done.append(ob)
            if self.interrupted:
                raise KeyboardInterrupt     # (after recording the CTI being minimized)
        return out

    # --------------------------------------------------------- consecution
    def consecution(self) -> list[Obligation]:
        out: list[Obligation] = []
        for a in self.actions:
            out.extend(self._consecution(a))
        order = {c.name: i for i, c in enumerate(self.conjuncts)}
        acts = {a.name: i for i, a in enumerate(self.actions)}
        out.sort(key=lambda o: (order[o.conjunct], acts[o.action]))
        return out

    def _consecution(self, a: ir.Action) -> list[Obligation]:
        sol = self.solver()
        hyps = [(f"invariant {name} (assumed before the step)", f)
                for name, f in self.cf.items()]
        for _, f in hyps:
            sol.add(f)
        writes = _writes(a)
        paths = self.paths[a.name]
        out = []
        for c in self.conjuncts:
            t = perf_counter()
            if not (self.reads[c.name] & writes):
                out.append(UnboundedObligation(c.name, a.name, "ok", seconds=perf_counter() - t,
                                               detail="the action does not change what it "
                                                      "reads"))
                self.done.append(out[-1])
                continue
            ob = None
            unknown = None
            for p in paths:
                guard = F.and_(p.guard)
                after = self.low.holds(c.body, p.env)
                if _same_formula(after, self.cf[c.name]):
                    continue  # this path leaves every relation the conjunct reads as it was
                goal = F.not_(after)
                self.fragment.query([*hyps, (f"the guard of {a.name}", guard),
                                     (f"the negation of {c.name} after {a.name}", goal)])
                sol.push()
                sol.add(guard)
                sol.add(goal)
                r = sol.check()
                if r == z3.sat:
                    ob = self._cti(sol, c.name, a.name, a, p, t)
                elif r == z3.unknown:
                    unknown = sol.unknown_reason()
                sol.pop()
                if ob is not None:
                    break
            if ob is None:
                ob = UnboundedObligation(c.name, a.name, "unknown" if unknown else "ok",
                                         detail=unknown or "", seconds=perf_counter() - t)
            out.append(ob)
            self.done.append(ob)
            if self.interrupted:
                raise KeyboardInterrupt     # (after recording the CTI being minimized)
        return out

    # --------------------------------------------------------------- CTIs
    def _cti(self, sol: _Solver, conjunct: str, action: str, a: ir.Action | None, p: Path,
             t0: float) -> UnboundedObligation:
        m = sol.z3.model()
        if self.minimize:
            m = self._smallest(sol, m)
        dec = _Decoder(self.low, m)
        names = [v.name for v in self.typed.variables]
        types = [v.t for v in self.typed.variables]
        post = {n: dec.value(v, t) for n, v, t in zip(names, p.env, types)}
        if a is None:
            trace: tuple[TraceStep, ...] = (TraceStep(None, (), post),)
        else:
            pre = {n: dec.value(v, t) for n, v, t in zip(names, self.low.pre, types)}
            args = tuple(dec.value(v, t) for _, t, v in p.args)
            trace = (TraceStep(None, (), pre), TraceStep(action, args, post))
        elements, lines = dec.universe()
        return UnboundedObligation(
            conjunct, action, "cti", Violation(kind="invariant", property=conjunct,
                                               trace=trace),
            reachable=None, detail="", seconds=perf_counter() - t0,
            elements=elements, universe=tuple(lines))

    def _smallest(self, sol: _Solver, m: z3.ModelRef, budget_s: float = 10.0) -> z3.ModelRef:
        """A model with as few elements per sort as the solver finds (in sort order)."""
        deadline = perf_counter() + budget_s
        sorts = list(self.low.zsorts.values()) + list(self.low.quorum_sorts.values())
        sol.push()
        try:
            for s in sorts:
                n = len(m.get_universe(s) or [])
                for k in range(1, n):
                    if perf_counter() > deadline:
                        break
                    cs = [z3.Const(f"{s}!min{i}", s) for i in range(k)]
                    x = z3.Const(f"{s}!minx", s)
                    bound = z3.ForAll([x], z3.Or([x == c for c in cs]))
                    sol.push()
                    sol.add(bound)
                    r = sol.check()
                    if r == z3.sat:
                        m = sol.z3.model()
                    sol.pop()
                    if r == z3.sat:
                        sol.add(bound)
                        break
        except (KeyboardInterrupt, ctypes.ArgumentError) as err:
            if not keyboard_interrupt(err):
                raise
            self.interrupted = True     # (the smallest model so far is reported)
        finally:
            sol.pop()
        return m


def _check(sol: _Solver, f: Any) -> z3.CheckSatResult:
    sol.push()
    try:
        sol.add(f)
        return sol.check()
    finally:
        sol.pop()


def _status(r: z3.CheckSatResult) -> str:
    if r == z3.sat:
        return "ok"
    return "failed" if r == z3.unsat else "unknown"


def _same_formula(a: Any, b: Any) -> bool:
    """The same formula up to the names of bound variables, so an obligation whose
    conjunct reads after the step what it read before holds without a query (a message
    relation of another kind changed, not one the conjunct reads). Free symbols must be
    the very same; bound ones are compared by their de Bruijn index."""
    if a is b:
        return True
    if not (isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef)):
        return False
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x.eq(y):
            continue
        if z3.is_quantifier(x) or z3.is_quantifier(y):
            if not (z3.is_quantifier(x) and z3.is_quantifier(y)) \
                    or x.is_forall() != y.is_forall() or x.num_vars() != y.num_vars() \
                    or any(x.var_sort(i) != y.var_sort(i) for i in range(x.num_vars())):
                return False
            stack.append((x.body(), y.body()))
        elif z3.is_var(x) or z3.is_var(y):
            if not (z3.is_var(x) and z3.is_var(y)) or \
                    z3.get_var_index(x) != z3.get_var_index(y):
                return False
        elif z3.is_app(x) and z3.is_app(y):
            if not x.decl().eq(y.decl()) or x.num_args() != y.num_args():
                return False
            stack.extend(zip(x.children(), y.children()))
        else:
            return False
    return True


def _reads(e: ir.Expr, typed: ir.TypedSpec) -> set[int]:
    defs = {d.uid: d for d in typed.defs}
    out: set[int] = set()
    for n in ir.ir_nodes(e):
        if isinstance(n, ir.Var):
            out.add(n.slot)
        elif isinstance(n, ir.CallDef):
            out.update(defs[n.def_id].reads)
        elif isinstance(n, ir.Enabled):
            out.update(range(len(typed.variables)))
    return out


def _writes(a: ir.Action) -> set[int]:
    return {n.var.slot for n in ir.ir_nodes(a.body) if isinstance(n, ir.Assign)}


# ------------------------------------------------------------------ models
def element_name(e: z3.ExprRef) -> str:
    """``RM!val!0`` (Z3's name for an element of a sort) as ``RM!0``."""
    return re.sub(r"!val!", "!", str(e))


class _Decoder:
    """Readable values of a first-order model: sort elements by name, sets and maps
    listed over the sorts' (finite) universes."""

    def __init__(self, low: Lowerer, m: z3.ModelRef):
        self.low = low
        self.m = m
        self.univ: dict[str, list] = {}
        for name, s in low.zsorts.items():
            self.univ[name] = list(m.get_universe(s) or [])

    def universe(self) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], list[str]]:
        elements = []
        lines = []
        for name, els in self.univ.items():
            names = tuple(element_name(e) for e in els)
            elements.append((name, names))
            n = len(names)
            lines.append(f"{name} has {n} element{'s' if n != 1 else ''}: " + ", ".join(names))
        for elem, qs in self.low.quorum_sorts.items():
            qu = list(self.m.get_universe(qs) or [])
            mem = self.low.member_fn[elem]
            parts = []
            for q in qu:
                members = [element_name(a) for a in self.univ[elem]
                           if self._ev(mem(a, q)) is True]
                parts.append(f"{element_name(q)} = {{{', '.join(members)}}}")
            n = len(qu)
            lines.append(f"{qs} has {n} element{'s' if n != 1 else ''}"
                         + (": " + ", ".join(parts) if parts else ""))
            elements.append((str(qs), tuple(element_name(q) for q in qu)))
        return tuple(elements), lines

    def _ev(self, x: Any) -> Any:
        if isinstance(x, (bool, int)):
            return x
        v = self.m.eval(F.zval(x), model_completion=True)
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        if z3.is_int_value(v):
            return v.as_long()
        return element_name(v)

    def value(self, v: Any, t: T.Type) -> Value:
        low = self.low
        if isinstance(v, QuorumRef):
            return element_name(self.m.eval(v.term, model_completion=True))
        if isinstance(t, T.OptionT):
            if not self._ev(v.some):
                return None
            return self.value(v.val, t.inner)
        if low.is_sort(t):
            return element_name(self.m.eval(v, model_completion=True))
        if isinstance(t, (T.BoolT, T.IntT, T.EnumT, T.SymT)):
            return low.univ.decode(t, self._ev(v))
        if isinstance(t, T.RecordT):
            return RecordValue(None, tuple((f, self.value(x, ft))
                                           for (f, ft), x in zip(t.fields, v)))
        if isinstance(t, T.VariantT) and isinstance(v, MsgV):
            case = t.cases[v.case]
            return RecordValue(case.name, tuple((f, self.value(x, ft))
                                                for (f, ft), x in zip(case.fields, v.fields)))
        if isinstance(t, T.SetT):
            if isinstance(v, SortSet):
                return SetValue(tuple(element_name(e) for e in self.univ[v.sort]
                                      if self._ev(v(e)) is True))
            if isinstance(v, MsgSet):
                return SetValue(tuple(self._messages(v, t.elem)))
            if isinstance(v, tuple):
                el = t.elem
                return SetValue(tuple(low.univ.decode(el, low.univ.at_bit(el, i))
                                      for i, b in enumerate(v) if self._ev(b) is True))
        if isinstance(t, T.MapT):
            if isinstance(v, SortFun):
                return MapValue(tuple((element_name(e), self.value(v(e), t.value))
                                      for e in self.univ[v.sort]))
            keys = low.univ.table(t.key)
            return MapValue(tuple((low.univ.decode(t.key, k), self.value(x, t.value))
                                  for k, x in zip(keys, v)))
        if isinstance(v, Opt):
            return self.value(v.val, t) if self._ev(v.some) else None
        return str(v)

    def _messages(self, s: MsgSet, t: T.VariantT) -> list[Value]:
        import itertools

        out = []
        for inst in self.low.instances:
            p = s.preds.get(inst.key)
            if p is None:
                continue
            case = t.cases[inst.case]
            for combo in itertools.product(*(self.univ[so] for so in inst.sorts)):
                if self._ev(p(tuple(combo))) is not True:
                    continue
                fields: list = [None] * len(case.fields)
                for i, e in zip(inst.sort_fields, combo):
                    fields[i] = element_name(e)
                for i, x in zip(inst.fin_fields, inst.key[1]):
                    fields[i] = self.low.univ.decode(case.fields[i][1], x)
                out.append(RecordValue(case.name, tuple((f, x) for (f, _), x
                                                        in zip(case.fields, fields))))
        return out


# ------------------------------------------------------------ cross-check
def rename_value(v: Value, names: dict[str, str]) -> Value:
    """A readable value with sort elements renamed (``RM!0`` to ``r1``)."""
    if isinstance(v, str):
        return names.get(v, v)
    if isinstance(v, SetValue):
        return SetValue(tuple(rename_value(x, names) for x in v.items))
    if isinstance(v, MapValue):
        return MapValue(tuple((rename_value(k, names), rename_value(x, names))
                              for k, x in v.pairs))
    if isinstance(v, RecordValue):
        return RecordValue(v.tag, tuple((f, rename_value(x, names)) for f, x in v.fields))
    return v


def bounded_states(bounded: CompiledSpec, ob: UnboundedObligation,
                   names: dict[str, str]) -> list[tuple]:
    """The CTI's states packed for a spec compiled with the CTI's sizes (``names`` maps
    each element of the CTI to a member of the bounded set), for replaying it."""
    typed = bounded.typed
    out = []
    for step in ob.cti.trace:
        state = []
        for v in typed.variables:
            state.append(bounded.universe.encode(v.t, rename_value(step.state[v.name], names)))
        out.append(tuple(state))
    return out
