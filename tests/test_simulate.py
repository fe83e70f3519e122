"""Simulation: reproducible random walks, and counterexamples shrunk to real, shorter
behaviours that still fail the same way."""

from __future__ import annotations

from test_parallel import grid, make_model, replay

from checker.explore import explore
from checker.model import EvaluationError
from checker.parallel import ModelSpec
from checker.result import Status
from checker.simulate import Shrinker, _Failure, replay_run, simulate


def key(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, result.notes,
            v and tuple((s.label, s.state) for s in v.trace))


def test_same_seed_same_runs():
    recipe = ModelSpec.from_file("specs/paxos.spec", ["MaxBallot=1"])
    a = simulate(recipe, runs=20, depth=30, seed=7)
    b = simulate(recipe.build()[0], runs=20, depth=30, seed=7)
    assert key(a) == key(b)
    assert a.status is Status.OK and a.engine == "simulate"
    assert 0 < a.stats.distinct_states <= a.stats.generated_states <= 20 * 31
    assert "not exhaustive" in a.notes[0]
    c = simulate(recipe, runs=20, depth=30, seed=8)
    assert key(c) != key(a)
    # one run can be replayed alone
    path = replay_run(recipe, 7, 3, 30)
    assert len(path) == 31


def test_a_bug_is_found_and_shrunk():
    compiled = ModelSpec.from_file("specs/buggy/paxos_ignore_1b_values.spec",
                                   ["MaxBallot=1"]).compile()
    model = compiled.model
    result = simulate(compiled, runs=300, depth=60, seed=0)
    assert result.status is Status.VIOLATION
    assert result.violation.property == "Agreement"
    note = result.notes[-1]
    assert "shrunk to" in note
    before = int(note.split(" with ")[1].split()[0])
    after = len(result.violation.trace) - 1
    assert after < before
    # a real behaviour of the spec, which violates the property in its last state only
    last = replay(model, result.violation.trace)
    assert last is not None
    agreement = next(i for i in model.invariants if i.name == "Agreement")
    assert not agreement.holds(last)
    # no shorter than a shortest counterexample
    shortest = explore(model)
    assert after >= len(shortest.violation.trace) - 1
    # and the same again with the same seed
    assert key(simulate(compiled, runs=300, depth=60, seed=0)) == key(result)


def test_unshrunk_counterexamples_are_kept_as_found():
    model = ModelSpec.from_file("specs/buggy/2pc_early_commit.spec").build()[0]
    raw = simulate(model, runs=200, depth=40, seed=3, shrink=False)
    shrunk = simulate(model, runs=200, depth=40, seed=3)
    assert raw.status is shrunk.status is Status.VIOLATION
    assert len(shrunk.violation.trace) <= len(raw.violation.trace)
    assert "not shrunk" in raw.notes[-1]


def noisy_counter():
    """Inc moves towards 5 (bad); Noise toggles a flag; only Inc matters."""
    def nxt(s):
        n, flag = s
        return [("Noise", (), (n, not flag)), ("Inc", (), (n + 1, flag))]
    return make_model([(0, False)], nxt, invariants={"Small": lambda s: s[0] < 5})


def test_shrinking_drops_irrelevant_steps():
    model = noisy_counter()
    path = [(0, False)]
    for action in ["Noise", "Inc", "Noise", "Noise", "Inc", "Inc", "Noise", "Inc", "Inc"]:
        n, flag = path[-1]
        path.append((n, not flag) if action == "Noise" else (n + 1, flag))
    shrunk = Shrinker(model, model.initial_states(), _Failure("invariant", "Small"),
                      True).shrink(path, 0)
    assert shrunk == [(i, False) for i in range(6)]


def test_deadlock_transition_and_error_are_found():
    result = simulate(make_model([(0, 0)], grid(4)), runs=5, depth=50, seed=1)
    assert result.status is Status.DEADLOCK
    assert len(result.violation.trace) == 7        # every walk on the grid takes 6 steps
    t = make_model([(0, 0)], grid(4), check_deadlock=False,
                   transition_invariants={"NotUpFromOrigin": lambda s, u: (s, u) != (
                       (0, 0), (0, 1))})
    result = simulate(t, runs=50, depth=10, seed=0)
    assert result.status is Status.VIOLATION and result.violation.kind == "transition"
    assert len(result.violation.trace) == 2

    def boom(s):
        if s == (2, 1):
            raise EvaluationError("map read outside its domain")
        return grid(4)(s)
    result = simulate(make_model([(0, 0)], boom, check_deadlock=False), runs=100, depth=10)
    assert result.status is Status.ERROR and "outside its domain" in result.violation.message
    assert len(result.violation.trace) == 4
