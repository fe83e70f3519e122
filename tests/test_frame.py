"""checker.frame and the compiled ``checked_successors``: checking a transition invariant
only where a step can change it must give the verdicts of checking all of it."""

from __future__ import annotations

import functools
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_states import random_state

from checker import frame, ir
from checker import types as T
from checker.api import load_spec
from checker.codegen import leading_conditions, small_product
from checker.explore import MODEL_ERRORS, explore
from checker.result import Status

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# Every shipped spec with a transition invariant, small, with all its faults on. (Raft
# with logs of one entry: 38,386 states; with its default two, exploring it twice took
# over a minute, an eighth of the whole suite.)
WITH_TRANSITION_INVARIANTS = [
    ("2pc.spec", ["RM={r1,r2,r3}"]),
    ("raft.spec", ["MaxLog=1"]),
    ("loadbalancing/dns.spec", []),
    ("loadbalancing/health_checked_lb.spec", []),
    ("replication/multi_master.spec", []),
]

SEEDED_2PC = [
    # The TM may abort after committing: the decision `tmState` changes.
    # (3 RMPrepare, 3 TMRcvPrepared, TMCommit, TMAbort: 8 steps)
    ("action TMAbort:\n    require tmUp and tmState == init\n",
     "action TMAbort:\n    require tmUp\n", 8),
    # An RM may abort after committing: one entry `rmState[r]` changes.
    # (the same 7 steps to the commit, then RMRcvCommitMsg and RMChooseToAbort of one RM)
    ("action RMChooseToAbort(r in RM):\n    require rmUp[r] and rmState[r] == working\n",
     "action RMChooseToAbort(r in RM):\n    require rmUp[r]\n", 9),
]


def _load(name: str, consts=(), faults=("all",), text=None):
    return load_spec(str(SPECS / name), consts=consts, faults=faults, text=text)


@functools.cache
def _compiled(name: str, consts: tuple[str, ...]):
    """``_load`` once per spec, for the examples of a property-based test."""
    return _load(name, consts)


def _frames(compiled):
    univ = compiled.universe
    return {inv.name: frame.frame_of(inv.body, lambda bs: small_product(univ, bs, 64))
            for inv in compiled.typed.invariants if inv.transition}


def test_an_action_instance_checks_only_what_it_writes():
    compiled = _load("2pc.spec", faults=())
    fr = _frames(compiled)["DecisionsDurable"]
    # tmState' == tmState under tmState != init, then one instance per RM
    assert len(fr.instances) == 4
    slot = {v.name: v.slot for v in compiled.typed.variables}
    r2 = next(iter(i.reads for i in fr.instances[2:3]))
    assert {loc[0] for loc in r2} == {slot["rmState"]}
    # A step writing rmState at r2's key must check r2's instance and nothing else.
    assert fr.residual(frozenset(r2)) == (fr.instances[2].expr,)
    # A step writing only msgs checks nothing; one writing tmState checks its instance.
    assert fr.residual(frozenset({(slot["msgs"], frame.WHOLE)})) == ()
    assert fr.residual(frozenset({(slot["tmState"], frame.WHOLE)})) == (fr.instances[0].expr,)


def test_what_is_not_true_when_unchanged_is_always_checked():
    text = (SPECS / "2pc.spec").read_text().replace(
        "transition invariant DecisionsDurable:\n",
        "transition invariant DecisionsDurable:\n    tmPrepared' != tmPrepared and \\\n")
    compiled = _load("2pc.spec", faults=(), text=text)
    fr = _frames(compiled)["DecisionsDurable"]
    assert not fr.instances[0].true_if_unchanged
    assert fr.residual(frozenset()) == (fr.instances[0].expr,)
    result = explore(compiled.model)
    assert result.status is Status.VIOLATION and len(result.violation.trace) == 2


def _verdict(model, s):
    """What checked_successors must answer in ``s``: the successors when every step
    satisfies every transition invariant, "fails" when some step does not (or raises),
    "raises" when the successor function itself raises."""
    try:
        succs = model.successors(s)
    except MODEL_ERRORS:
        return "raises"
    for t in succs:
        for inv in model.transition_invariants:
            try:
                if not inv.holds(s, t):
                    return "fails"
            except MODEL_ERRORS:
                return "fails"
    return list(succs)


def _answer(model, s):
    try:
        got = model.checked_successors(s)
    except MODEL_ERRORS:
        return "raises"
    return "fails" if got is None else list(got)


@pytest.mark.parametrize("name,consts", WITH_TRANSITION_INVARIANTS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_checked_successors_agree_in_any_state(name, consts, seed):
    compiled = _compiled(name, tuple(consts))
    model = compiled.model
    assert model.checked_successors is not None
    s = random_state(compiled, random.Random(seed))
    want, got = _verdict(model, s), _answer(model, s)
    if want == "raises":
        assert got in ("raises", "fails")  # a failing check may come before the error
    else:
        assert got == want


def test_random_states_cover_both_outcomes():
    """The law above is tested on states where the invariant holds on every step and on
    states where it does not."""
    compiled = _load("2pc.spec", ["RM={r1,r2,r3}"])
    rng = random.Random(11)
    answers = [_answer(compiled.model, random_state(compiled, rng)) for _ in range(200)]
    assert "fails" in answers and any(isinstance(a, list) and a for a in answers)
    assert answers.count("raises") < len(answers) / 2


def _unchecked(model):
    return replace(model, checked_successors=None)


def _same(a, b):
    assert (a.status, a.stats.distinct_states, a.stats.generated_states, a.stats.depth) == \
        (b.status, b.stats.distinct_states, b.stats.generated_states, b.stats.depth)
    assert a.violation == b.violation


@pytest.mark.parametrize("name,consts", WITH_TRANSITION_INVARIANTS)
def test_explore_gives_the_same_result_with_and_without(name, consts):
    compiled = _load(name, consts)
    _same(explore(compiled.model), explore(_unchecked(compiled.model)))


@pytest.mark.parametrize("old,new,steps", SEEDED_2PC)
def test_a_seeded_bug_is_found_with_its_shortest_counterexample(old, new, steps):
    text = (SPECS / "2pc.spec").read_text()
    assert old in text
    compiled = _load("2pc.spec", ["RM={r1,r2,r3}"], faults=(), text=text.replace(old, new))
    model = compiled.model.select_invariants(["DecisionsDurable"])
    assert model.checked_successors is not None
    found = explore(model)
    assert found.status is Status.VIOLATION
    assert found.violation.property == "DecisionsDurable"
    _same(found, explore(_unchecked(model)))
    assert len(found.violation.trace) == steps + 1   # the shortest (worked out above)


def test_selecting_some_transition_invariants_drops_the_combined_check():
    text = (SPECS / "2pc.spec").read_text() + (
        "\ntransition invariant TMStaysUp:\n    tmUp implies tmUp'\n")
    model = _load("2pc.spec", faults=(), text=text).model
    assert model.checked_successors is not None
    assert model.select_invariants(["DecisionsDurable"]).checked_successors is None
    both = model.select_invariants(["DecisionsDurable", "TMStaysUp"])
    assert both.checked_successors is model.checked_successors


@pytest.mark.parametrize("old,new,steps", SEEDED_2PC)
def test_every_engine_reports_the_seeded_bug_alike(old, new, steps):
    """The parallel and compact engines take the same shortcut: the same property, a
    counterexample as short (the parallel engine may pick another of that length)."""
    from checker.fingerprints import explore_compact
    from checker.parallel import ModelSpec, explore_parallel

    text = (SPECS / "2pc.spec").read_text().replace(old, new)
    recipe = ModelSpec.from_file(str(SPECS / "2pc.spec"), ["RM={r1,r2,r3}"],
                                 invariants=["DecisionsDurable"], text=text)
    model, _ = recipe.build()
    assert model.checked_successors is not None
    for result in (explore(model), explore_parallel(recipe, workers=2),
                   explore_compact(recipe)):
        v = result.violation
        assert (v.kind, v.property, len(v.trace)) == ("transition", "DecisionsDurable",
                                                      steps + 1)


def test_a_part_the_guard_implies_is_left_out():
    compiled = _load("2pc.spec", ["RM={r1,r2,r3}"], faults=())
    part = _frames(compiled)["DecisionsDurable"].instances[1]   # the instance for r1
    prepare = next(a for a in compiled.typed.actions if a.name == "RMPrepare")
    r1 = small_product(compiled.universe, prepare.params, 8)[0]
    body = ir.substitute(prepare.body, r1)
    facts = frame.guard_facts(leading_conditions(body))
    # rmState[r1] == working makes `rmState[r1] in {committed, aborted} implies ...` true
    assert frame.implied_by(part.expr, facts)
    # the TM's part is not about rmState: nothing is implied
    assert not frame.implied_by(_frames(compiled)["DecisionsDurable"].instances[0].expr, facts)
    assert not frame.implied_by(part.expr, {})
    # Only RMRcvCommitMsg and RMRcvAbortMsg (one check per RM each) can change a decision
    # that their guard does not pin down: RMPrepare, RMChooseToAbort, TMCommit, TMAbort
    # are left unchecked.
    source = compiled.source_code
    checked = source[source.index("def checked_successors"):source.index("def action0")]
    assert checked.count("return None") == 6


HOISTING = """spec Hoist
const R = {a, b, c}
var up: map[R, bool]
var go: bool
var log: seq[0..1, 3]
init:
    up = {r: true for r in R}
    go = false
    log = []
action Start:
    require not go
    go = true
action Stop(r in R):
    require up[r] and go
    up[r] = false
action Grow:
    require len(log) < 3
    log = append(log, 0)
action Use(i in {1, 2, 3}):
    require log[i] == 0 and go
    log[i] = 1
"""


def test_tests_shared_by_every_copy_of_an_action_run_once():
    compiled = load_spec("hoist.spec", text=HOISTING)
    go = next(v.slot for v in compiled.typed.variables if v.name == "go")
    source = compiled.source_code
    succ = source[:source.index("def checked_successors")
                  if "def checked_successors" in source else source.index("def action0")]
    succ = succ[succ.index("def successors"):]
    tests_go = [line for line in succ.splitlines() if line.strip() == f"if v{go}:"]
    # Stop(a), Stop(b), Stop(c) test `go` once, before their own `up[r]`; Use(i) reads
    # log[i], which fails on a short log, so its order is kept: `go` after log[i].
    assert [len(line) - len(line.lstrip()) for line in tests_go] == [4, 12]
    # ... so the initial state (go false, log empty) still reports Use(1)'s bad index
    failed = explore(compiled.model)
    assert failed.status == Status.ERROR and len(failed.violation.trace) == 1
    # Hoisting changes no count.
    without_use = HOISTING[:HOISTING.index("action Use")]
    counts = [explore(load_spec("hoist.spec", text=text).model).stats for text in
              (without_use, without_use.replace("up[r] and go", "go and up[r]"))]
    # go false: 4 logs; go true: 8 `up` maps times 4 logs
    assert counts[0].distinct_states == counts[1].distinct_states == 4 + 8 * 4
    assert counts[0].generated_states == counts[1].generated_states


def test_constant_tests_fold_by_value():
    enum = T.EnumT("E", ("a", "b", "c"))
    a, b, c = (ir.Const(i, enum) for i in range(3))
    pair = ir.SetLit((a, c), T.SetT(enum))
    assert frame._fold(ir.Binop("in", a, pair, T.BOOL)) is True
    assert frame._fold(ir.Binop("notin", b, pair, T.BOOL)) is True
    assert frame._fold(ir.Binop("eq", a, c, T.BOOL)) is False
    assert frame._fold(ir.Binop("ne", a, c, T.BOOL)) is True
    # a constant set is a bit mask, not a list of values: `c in {a, c}` as the mask
    # 0b101 must not be mistaken for a comparison of values (it is left undecided)
    mask = ir.Const(0b101, T.SetT(enum))
    assert frame._fold(ir.Binop("in", c, mask, T.BOOL)) is None
    assert frame._fold(ir.Binop("in", ir.Const(5, enum), mask, T.BOOL)) is None
