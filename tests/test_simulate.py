"""Simulation: reproducible random walks, and counterexamples shrunk to real, shorter
behaviours that still fail the same way."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from test_parallel import grid, make_model, replay

from checker import simulate as simulate_module
from checker.cli import main
from checker.explore import explore
from checker.model import EvaluationError, Invariant
from checker.parallel import ModelSpec
from checker.result import Status
from checker.simulate import CLOCK_EVERY, Shrinker, _Failure, replay_run, simulate


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


def test_shrinking_finds_shortcuts_the_walk_did_not_take():
    # dropping and reordering steps kept the walk's detours (a higher ballot where a
    # lower one would do): 14 and 13 steps where the shortest counterexample has 12
    compiled = ModelSpec.from_file("specs/buggy/paxos_no_ballot_check.spec").compile()
    model = compiled.model
    shortest = len(explore(model).violation.trace) - 1
    assert shortest == 12
    for seed in (1, 2):
        result = simulate(compiled, runs=2000, depth=100, seed=seed)
        assert len(result.violation.trace) - 1 == shortest, (seed, result.notes)
        last = replay(model, result.violation.trace)
        agreement = next(i for i in model.invariants if i.name == "Agreement")
        assert last is not None and not agreement.holds(last)


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


# --------------------------------------------------------------------------- limits, Ctrl-C

def noisy(threshold: int, on_step=None):
    """noisy_counter with a bound of ``threshold``; ``on_step()`` runs on every step
    computed (by the walks and by the shrinker alike)."""
    def nxt(s):
        if on_step is not None:
            on_step()
        n, flag = s
        return [("Noise", (), (n, not flag)), ("Inc", (), (n + 1, flag))]
    return make_model([(0, False)], nxt, invariants={"Small": lambda s: s[0] < threshold})


def fake_clock(monkeypatch) -> list[float]:
    """A clock that moves only when the test moves it (``clock[0] += ...``)."""
    clock = [0.0]
    monkeypatch.setattr(simulate_module, "perf_counter", lambda: clock[0])
    return clock


def test_the_time_limit_stops_a_single_long_run(monkeypatch):
    # (it was checked only between runs: one run of a million steps ignored it)
    clock = fake_clock(monkeypatch)

    def tick():
        clock[0] += 0.001                      # each step takes a millisecond

    result = simulate(noisy(10**9, tick), runs=1, depth=100_000, time_limit=1.0)
    assert result.status is Status.LIMIT and result.exit_code == 3
    assert result.limit_reason == "time limit of 1s reached"
    assert 1000 <= result.stats.generated_states <= 1000 + CLOCK_EVERY + 1
    steps = result.stats.generated_states - 1
    assert result.notes[0].startswith(f"simulation: 0 of 1 runs of up to 100000 steps (run 0 "
                                      f"stopped after {steps} steps)")
    assert f"{steps} steps in all" in result.notes[0]


def test_the_time_limit_bounds_shrinking(monkeypatch):
    clock = fake_clock(monkeypatch)

    def tick():
        clock[0] += 0.001

    model = noisy(30, tick)
    result = simulate(model, runs=1, depth=1000, seed=0, time_limit=0.5)
    assert result.status is Status.VIOLATION and result.exit_code == 1
    note = result.notes[-1]
    assert "shrinking stopped (time limit of 0.5s reached)" in note, note
    assert clock[0] < 0.5 + (CLOCK_EVERY + 1) * 0.001
    # the best shrink so far: a real behaviour that still violates Small, no longer
    # than the one found, and not yet the shortest (30 steps)
    before = int(note.split(" with ")[1].split()[0])
    after = int(note.split(" at ")[1].split()[0])
    assert len(result.violation.trace) - 1 == after
    assert 30 < after <= before
    last = replay(model, result.violation.trace)
    assert last is not None and last[0] >= 30
    # without the limit it shrinks all the way
    assert "shrunk to 30 steps" in simulate(noisy(30), runs=1, depth=1000).notes[-1]


def test_ctrl_c_stops_the_walks_and_reports_them():
    calls = [0]

    def interrupt_at_250():
        calls[0] += 1
        if calls[0] == 250:
            raise KeyboardInterrupt

    try:
        result = simulate(noisy(10**9, interrupt_at_250), runs=1000, depth=100)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped simulate(): the runs so far were lost")
    assert result.status is Status.LIMIT and result.limit_reason == "interrupted"
    assert result.exit_code == 3
    # runs 0 and 1 took 100 steps each (and computed the successors of their last state,
    # to check it for deadlock: 101 calls each); run 2 took 47 before its 48th was
    # interrupted
    assert result.notes[0] == ("simulation: 2 of 1000 runs of up to 100 steps (run 2 "
                               "stopped after 47 steps), seed 0; 247 steps in all; the "
                               "longest 100 steps, depth 101 counting its states; not "
                               "exhaustive")
    assert result.stats.generated_states == 2 * 101 + 48
    assert result.stats.depth == 101 and result.stats.distinct_states > 0


def test_ctrl_c_while_shrinking_reports_the_violation_shrunk_so_far():
    calls = [0]
    found_at = [0]          # the step count when the walk found the violation

    def interrupt_while_shrinking():
        calls[0] += 1
        if found_at[0] and calls[0] == found_at[0] + 40:
            raise KeyboardInterrupt

    def small(s):
        if s[0] >= 5 and not found_at[0]:
            found_at[0] = calls[0]
        return s[0] < 5

    model = noisy(5, interrupt_while_shrinking)
    model = dataclasses.replace(model, invariants=(Invariant("Small", small),))
    try:
        result = simulate(model, runs=10, depth=100, seed=0)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped simulate() while shrinking: the violation was lost")
    assert result.status is Status.VIOLATION and result.exit_code == 1
    assert "shrinking stopped (interrupted)" in result.notes[-1], result.notes
    last = replay(model, result.violation.trace)
    assert last is not None and last[0] >= 5


def test_cli_ctrl_c_reports_the_runs_so_far(monkeypatch):
    # Ctrl-C in `modelcheck simulate` printed only "Aborted!" (exit 1)
    real = simulate_module._state_failure
    calls = [0]

    def failure(model, s):
        calls[0] += 1
        if calls[0] == 500:
            raise KeyboardInterrupt
        return real(model, s)

    monkeypatch.setattr(simulate_module, "_state_failure", failure)
    result = CliRunner().invoke(main, ["simulate", "specs/paxos.spec", "--runs", "10000000"])
    assert result.exit_code == 3, result.output
    assert "Aborted" not in result.output
    assert "Stopped: interrupted (partial results below)." in result.stdout
    assert "of 10000000 runs of up to 100 steps (run 4 stopped after" in result.stdout
    assert "distinct states:" in result.stdout


# --------------------------------------------------------------------------- audit fixes

DEEP = """spec Deep

const N = 5
option deadlock = false

var x: 0..20
var noise: 0..60

init:
    x = 0
    noise = 0

action Tick:
    require noise < 60
    either:
        noise = noise + 1
    or:
        x = x + 1

action Reset:
    noise = 0

invariant Small: x < N
"""

TWO = """spec Two

option deadlock = false

var x: 0..9
var flag: bool

init:
    x = 0
    flag = false

action Bump:
    require x < 9
    x = x + 1

action Arm:
    require not flag
    flag = true

invariant ArmedLate: flag implies x >= 2
invariant NotBoth: not (flag and x >= 4)
"""

DL = """spec DL

var x: 0..5

init:
    x = 0

action Inc:
    require x < 3
    x = x + 1

invariant Ok: x <= 5
"""


def spec_file(tmp_path, text: str) -> str:
    path = tmp_path / "t.spec"
    path.write_text(text)
    return str(path)


def walk(nxt, init, choices):
    """The path from ``init`` taking successor number ``k`` of ``nxt`` for each k."""
    path = [init]
    for k in choices:
        path.append(nxt(path[-1])[k][2])
    return path


def test_shrinking_replays_the_branch_of_an_action_with_internal_choice():
    # Tick either adds noise or moves x, under one label: a replay by label took the
    # first branch only, so nothing could be dropped and the trace stayed as found
    def nxt(s):
        x, noise = s
        return [("Tick", (), (x, noise + 1)), ("Tick", (), (x + 1, noise)),
                ("Reset", (), (x, 0))]
    model = make_model([(0, 0)], nxt, invariants={"Small": lambda s: s[0] < 5},
                       check_deadlock=False)
    path = walk(nxt, (0, 0), [0, 1, 2, 0, 1, 1, 0, 0, 1, 2, 1])
    assert path[-1][0] == 5
    shrunk = Shrinker(model, model.initial_states(), _Failure("invariant", "Small"),
                      False).shrink(path, 0)
    assert shrunk == [(i, 0) for i in range(6)]


def test_cli_shrinks_a_spec_with_either(tmp_path):
    # it said "with 11 steps, shrunk to 11 steps", a Reset that changes nothing included
    result = CliRunner().invoke(main, ["simulate", spec_file(tmp_path, DEEP), "--runs", "20",
                                       "--depth", "100", "--seed", "3"])
    assert result.exit_code == 1, result.output
    assert "with 11 steps, shrunk to 5 steps" in result.output
    assert "Reset" not in result.output


def test_shrinking_2pc_takes_the_failing_branch_of_rcv_prepare():
    result = CliRunner().invoke(main, ["simulate", "specs/seed/naive_2pc.spec", "--runs",
                                       "300", "--depth", "60", "--seed", "2"])
    assert result.exit_code == 1, result.output
    assert "with 6 steps, shrunk to 5 steps" in result.output


def test_the_note_says_when_nothing_could_be_removed(tmp_path):
    model = ModelSpec.from_file(spec_file(tmp_path, TWO)).build()[0]
    result = simulate(model, runs=50, depth=80, seed=4)
    assert result.violation.property == "NotBoth"
    assert result.notes[-1] == ("counterexample found by run 0 with 5 steps; could not "
                                "shrink it")


def test_a_shrunk_trace_breaks_no_other_invariant_on_the_way(tmp_path):
    # the walk Bump x4, Arm was "shrunk" to Arm, Bump x4, whose states 2 and 3 break
    # ArmedLate: the search would have stopped there, with another property
    model = ModelSpec.from_file(spec_file(tmp_path, TWO)).build()[0]
    for seed in (4, 10, 15):
        result = simulate(model, runs=50, depth=80, seed=seed)
        assert result.violation.property == "NotBoth"
        states = [s.state for s in result.violation.trace]
        assert all(not s["flag"] or s["x"] >= 2 for s in states), (seed, states)
        assert all(not (s["flag"] and s["x"] >= 4) for s in states[:-1])
        last = replay(model, result.violation.trace)
        assert last is not None and not model.invariants[1].holds(last)


def test_a_shrunk_trace_breaks_no_transition_invariant_on_the_way():
    # arming before x reaches 2 is a bad step; Bump x4, Arm breaks NotBoth only
    def nxt(s):
        x, flag = s
        return [("Bump", (), (x + 1, flag))] + ([] if flag else [("Arm", (), (x, True))])
    model = make_model(
        [(0, False)], nxt, check_deadlock=False,
        invariants={"NotBoth": lambda s: not (s[1] and s[0] >= 4)},
        transition_invariants={"ArmLate": lambda s, t: s[1] or not t[1] or t[0] >= 2})
    path = walk(nxt, (0, False), [0, 0, 0, 0, 1])
    shrunk = Shrinker(model, model.initial_states(), _Failure("invariant", "NotBoth"),
                      False).shrink(path, 0)
    assert len(shrunk) == 6 and shrunk[-1] == (4, True)
    armed = next(i for i, s in enumerate(shrunk) if s[1])
    assert shrunk[armed - 1][0] >= 2


def test_the_last_state_of_a_walk_is_checked_for_deadlock(tmp_path):
    # every walk on the 4x4 grid ends in (3, 3) after 6 steps: at depth 6, it was never
    # checked for deadlock
    result = simulate(make_model([(0, 0)], grid(4)), runs=5, depth=6, seed=1)
    assert result.status is Status.DEADLOCK and len(result.violation.trace) == 7
    assert simulate(make_model([(3, 3)], grid(4)), runs=1, depth=0).status is Status.DEADLOCK
    ok = simulate(make_model([(0, 0)], grid(4), check_deadlock=False), runs=5, depth=6)
    assert ok.status is Status.OK
    spec = spec_file(tmp_path, DL)
    out = CliRunner().invoke(main, ["simulate", spec, "--runs", "5", "--depth", "3"])
    assert out.exit_code == 1, out.output
    assert "Deadlock reached" in out.output
    out = CliRunner().invoke(main, ["simulate", spec, "--runs", "5", "--depth", "3",
                                    "--no-deadlock"])
    assert out.exit_code == 0, out.output


def test_cli_simulate_writes_itf(tmp_path):
    result = CliRunner().invoke(main, ["simulate", spec_file(tmp_path, DEEP), "--runs", "20",
                                       "--depth", "100", "--seed", "3", "--format", "itf"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["#meta"]["description"] == "simulate engine: violation (Small)"
    assert [s["x"] for s in doc["states"]] == [0, 1, 2, 3, 4, 5]
    assert [s["mbt::actionTaken"] for s in doc["states"]] == ["init"] + ["Tick"] * 5


def test_the_last_state_of_a_walk_is_expanded_without_deadlock_checks_too():
    # With deadlock checks off, the state at depth D was not expanded: an error computing
    # its successors went unreported, while `check --max-depth` reports it.
    def nxt(x):
        if x == 3:
            raise EvaluationError("division by zero")
        return [("Tick", (), x + 1)]

    model = make_model([0], nxt, check_deadlock=False)
    result = simulate(model, runs=2, depth=3, seed=0)
    assert result.status is Status.ERROR
    assert "division by zero" in result.violation.message
    assert [step.state for step in result.violation.trace] == [
        step.state for step in explore(model, max_depth=4).violation.trace]
    assert simulate(model, runs=2, depth=2).status is Status.OK


# ------------------------------------------------------------------ memory
def _paxos():
    return ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",)).build()[0]


def test_a_memory_limit_stops_a_long_walk_with_what_it_did():
    # (one walk of millions of steps keeps its whole path: it ended in a MemoryError
    # and a traceback)
    from checker.memory import current_rss
    from checker.render.text import render_text

    got = simulate(_paxos(), runs=1, depth=10**9, memory_limit=current_rss() + (4 << 20))
    assert got.status is Status.LIMIT and got.limit_reason.startswith("memory limit of ")
    assert got.stats.generated_states > CLOCK_EVERY
    assert "stopped after" in got.notes[0]
    assert "states left in queue" not in render_text(got)      # (a walk has no queue)


def test_running_out_of_memory_in_a_walk_is_a_limit():
    model = _paxos()
    calls = [0]
    successors = model.successors

    def failing(s):
        calls[0] += 1
        if calls[0] == 500:
            raise MemoryError
        return successors(s)

    model = dataclasses.replace(model, successors=failing)
    got = simulate(model, runs=3, depth=1000, seed=1)
    assert got.status is Status.LIMIT and got.limit_reason == "out of memory"
    assert got.stats.generated_states >= 499 and got.violation is None


def test_a_counterexample_in_an_initial_state_is_not_said_to_resist_shrinking(tmp_path):
    # (the note said "with 0 steps; could not shrink it")
    from checker.api import load_spec

    spec = tmp_path / "bad_init.spec"
    spec.write_text("spec BadInit\nvar x: 0..3\ninit:\n    x = 2\naction Inc:\n"
                    "    require x < 3\n    x = x + 1\ninvariant Small: x < 2\n")
    got = simulate(load_spec(str(spec)), runs=5, depth=10)
    assert got.status is Status.VIOLATION and len(got.violation.trace) == 1
    assert got.notes[-1] == "counterexample found by run 0 in its initial state"
