"""The partitioned multi-process search: the same counts, verdicts and counterexample
lengths with one worker and with several, and the same counts as the single-process
search whenever it runs to the end."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.explore import explore
from checker.model import EvaluationError, Invariant, Model, Step, TransitionInvariant
from checker.parallel import ModelSpec, choose_key, explore_parallel, owner_function
from checker.result import Status

SPECS = [
    ("specs/2pc.spec", (), False),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), True),
    ("specs/paxos.spec", ("MaxBallot=1",), False),
    ("specs/paxos.spec", ("MaxBallot=1",), True),
    ("specs/buggy/2pc_early_commit.spec", (), False),
    ("specs/buggy/2pc_early_commit.spec", (), True),
    ("specs/buggy/paxos_ignore_1b_values.spec", ("MaxBallot=1",), False),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",), True),
]


def summary(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, v and v.kind, v and v.property, v and len(v.trace))


def replay(model: Model, trace):
    """The last state of the trace, replayed in the (unreduced) model: every step must be
    a transition of the model; None if one is not."""
    decoded = [s.state for s in trace]
    states = [s for s in model.initial_states() if model.decode(s) == decoded[0]]
    if not states:
        return None
    current = states[0]
    for want in decoded[1:]:
        nxt = [t for t in model.successors(current) if model.decode(t) == want]
        if not nxt:
            return None
        current = nxt[0]
    return current


@pytest.mark.parametrize("path,consts,symmetry", SPECS)
def test_one_and_two_workers_agree(path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    model, canonical = recipe.build()
    one = explore_parallel(recipe, workers=1)
    two = explore_parallel(recipe, workers=2)
    assert summary(one) == summary(two)
    assert one.engine == two.engine == "explicit-parallel"
    reference = explore(model, canonical=canonical)
    assert one.status == reference.status
    if reference.status is Status.OK:
        assert summary(one) == summary(reference)
    else:
        # A shortest counterexample, of the same property, in both.
        assert one.violation.property == reference.violation.property
        assert len(one.violation.trace) == len(reference.violation.trace)
        assert len(two.violation.trace) == len(reference.violation.trace)
        plain = ModelSpec.from_file(path, consts).build()[0]
        last = replay(plain, two.violation.trace)
        assert last is not None
        assert not {i.name: i for i in plain.invariants}[two.violation.property].holds(last)


def test_three_workers_and_every_partition_choice_agree():
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    expected = summary(explore(recipe.build()[0]))
    assert summary(explore_parallel(recipe, workers=3)) == expected
    assert summary(explore_parallel(recipe, workers=2, partition="state")) == expected
    assert summary(explore_parallel(recipe, workers=2, partition=(3,))) == expected


def test_spawned_workers_rebuild_the_model_from_the_recipe():
    # Spawned processes share nothing with this one: they compile the spec from the
    # recipe, and partition with the process-independent owner function.
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
    result = explore_parallel(recipe, workers=2, start_method="spawn")
    assert (result.stats.distinct_states, result.stats.generated_states) == (288, 1146)


def test_recipe_is_picklable_and_identifies_the_run():
    recipe = ModelSpec.from_file("specs/2pc.spec", {"RM": "{r1,r2}"}, symmetry=True)
    copy = pickle.loads(pickle.dumps(recipe))
    assert copy == recipe and copy.digest() == recipe.digest()
    assert ModelSpec.from_json(recipe.to_json()) == recipe
    other = recipe.with_const("RM", "{r1,r2,r3}")
    assert other.consts == ("RM={r1,r2,r3}",) and other.digest() != recipe.digest()
    assert copy.build()[0].constants["RM"].items == ("r1", "r2")


def test_choose_key_prefers_local_transitions():
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",))
    model, _ = recipe.build()
    key = choose_key(model, None, 2)
    assert key is not None and 0 < len(key) < len(model.variables)
    # Deterministic, and the owner function is stable across calls.
    assert choose_key(model, None, 2) == key
    s = model.initial_states()[0]
    assert owner_function(key, True)(s) == owner_function(key, True)(s)


def test_2pc_is_partitioned_by_the_votes_the_tm_collected():
    """Of 2pc's variables only `tmPrepared` splits the states evenly while almost no
    transition changes it (0.5% at 8 RMs; every other key sends 11% across, which made
    two workers only 1.3 times as fast as one)."""
    from checker.explore import Handover, explore

    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",)).build()
    got = explore(model, handover_at=5000)      # as the default run, from its handover
    assert isinstance(got, Handover)
    for key in (choose_key(model, None, 2), choose_key(model, None, 2, level=got.frontier)):
        names = {model.variables[j] for j in key}
        # (rmUp and tmUp never change without faults; tmState rarely does)
        assert "tmPrepared" in names and names <= {"tmPrepared", "tmState", "rmUp", "tmUp"}


def test_paxos_is_partitioned_by_the_ballots_voted_in_for_any_sample():
    """The key choice samples only ``LEVEL_SAMPLE`` states of the handover's level; the
    best key for Paxos with ballots 0..2 (53% of the work for the busiest worker,
    `bench_partition.py`; the walks' `maxBal, maxVBal, maxVal, up` sends 20% more
    bytes across) must not depend on which states the sample holds."""
    from checker.explore import Handover, explore

    model, _ = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=2",)).build()
    model = model.select_invariants(["Agreement"])
    got = explore(model, handover_at=5000)
    assert isinstance(got, Handover)
    keys = {choose_key(model, None, 2, level=got.frontier, seed=seed) for seed in range(3)}
    assert {tuple(model.variables[j] for j in key) for key in keys} == {("maxVBal", "up")}



# ---- hand-written models

def make_model(init, nxt, *, invariants=None, transition_invariants=None,
               check_deadlock=True):
    return Model(
        name="Test", variables=("s",), initial_states=lambda: list(init),
        successors=lambda s: [t for _, _, t in nxt(s)],
        steps=lambda s: [Step(a, args, t) for a, args, t in nxt(s)],
        decode=lambda s: {"s": s},
        invariants=tuple(Invariant(n, f) for n, f in (invariants or {}).items()),
        transition_invariants=tuple(
            TransitionInvariant(n, f) for n, f in (transition_invariants or {}).items()),
        check_deadlock=check_deadlock)


def grid(n):
    """(x, y) on an n x n grid, steps right and up; (n-1, n-1) has no successor."""
    def nxt(s):
        x, y = s
        out = []
        if x + 1 < n:
            out.append(("Right", (), (x + 1, y)))
        if y + 1 < n:
            out.append(("Up", (), (x, y + 1)))
        return out
    return nxt


def test_deadlock_and_counts_on_a_grid():
    m = make_model([(0, 0)], grid(6))
    one, two = explore_parallel(m, workers=1), explore_parallel(m, workers=2)
    assert summary(one) == summary(two)
    assert one.status is Status.DEADLOCK and len(one.violation.trace) == 11
    ok = make_model([(0, 0)], grid(6), check_deadlock=False)
    assert summary(explore_parallel(ok, workers=2)) == summary(explore(ok))


def test_transition_invariant_and_errors():
    m = make_model([(0, 0)], grid(5), check_deadlock=False,
                   transition_invariants={"NoBigJump": lambda s, t: t != (3, 3)})
    one, two = explore_parallel(m, workers=1), explore_parallel(m, workers=2)
    assert summary(one) == summary(two)
    assert one.violation.kind == "transition" and len(one.violation.trace) == 7

    def boom(s):
        if s == (2, 2):
            raise EvaluationError("map read outside its domain")
        return grid(5)(s)
    bad = make_model([(0, 0)], boom, check_deadlock=False)
    r = explore_parallel(bad, workers=2)
    assert r.status is Status.ERROR and "outside its domain" in r.violation.message
    assert len(r.violation.trace) == 5

    def no_init():
        raise EvaluationError("no initial state")
    broken = Model(name="B", variables=("s",), initial_states=no_init,
                   successors=lambda s: [], steps=lambda s: [], decode=lambda s: {"s": s})
    assert explore_parallel(broken, workers=2).status is Status.ERROR


def test_limits():
    endless = make_model([0], lambda s: [("Inc", (), s + 1), ("Twice", (), 2 * s + 2)])
    r = explore_parallel(endless, workers=2, max_depth=5)
    assert r.status is Status.LIMIT and "max depth" in r.limit_reason
    assert r.stats.distinct_states == explore(endless, max_depth=5).stats.distinct_states
    r = explore_parallel(endless, workers=2, max_states=50)
    assert r.status is Status.LIMIT and r.stats.distinct_states >= 50
    r = explore_parallel(endless, workers=2, time_limit=0.3)
    assert r.status is Status.LIMIT and "time limit" in r.limit_reason
    with pytest.raises(ValueError):
        explore_parallel(endless, workers=0)


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 40))
    edges = {i: draw(st.lists(st.integers(0, n - 1), max_size=4)) for i in range(n)}
    inits = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
    bad = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    deadlock = draw(st.booleans())
    return n, edges, inits, bad, deadlock


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_agree_with_explore(g):
    n, edges, inits, bad, deadlock = g
    invariants = {} if bad is None else {"NotBad": lambda s: s != bad}
    m = make_model(inits, lambda s: [("Go", (t,), t) for t in edges[s]],
                   invariants=invariants, check_deadlock=deadlock)
    reference = explore(m)
    two = explore_parallel(m, workers=2)
    assert summary(explore_parallel(m, workers=1)) == summary(two)
    if reference.status is Status.OK:
        assert summary(two) == summary(reference)
    else:
        # Both find a counterexample; the parallel search reports a shortest one of any
        # kind (the single-process search, the first in its order, which is a shortest
        # one of its kind).
        assert two.status is not Status.OK
        assert len(two.violation.trace) <= len(reference.violation.trace)
        if two.status == reference.status:
            assert len(two.violation.trace) == len(reference.violation.trace)


def test_a_worker_that_dies_stops_the_run_cleanly():
    import os
    import signal

    parent = os.getpid()

    def nxt(s):
        if s == (3, 3) and os.getpid() != parent:    # only inside a worker process
            os.kill(os.getpid(), signal.SIGKILL)
        return grid(6)(s)
    m = make_model([(0, 0)], nxt, check_deadlock=False)
    r = explore_parallel(m, workers=2)
    assert r.status is Status.LIMIT and "stopped unexpectedly" in r.limit_reason
    assert "signal 9" in r.limit_reason
    assert 0 < r.stats.distinct_states < 36


def test_a_worker_out_of_memory_stops_the_run_with_its_statistics():
    """A MemoryError in a worker (the address-space cap the CLI sets is reached) is a
    limit, exit 3 with the counts so far, not an internal error."""
    import os

    parent = os.getpid()

    def nxt(s):
        if s == (3, 3) and os.getpid() != parent:
            raise MemoryError
        return grid(6)(s)
    m = make_model([(0, 0)], nxt, check_deadlock=False)
    r = explore_parallel(m, workers=2)
    assert r.status is Status.LIMIT and r.limit_reason.startswith("out of memory (worker")
    assert r.exit_code == 3 and 0 < r.stats.distinct_states < 36


@pytest.mark.parametrize("handover_at", [None, 5])
def test_a_worker_out_of_memory_while_starting_stops_the_run(monkeypatch, handover_at):
    """A MemoryError while a worker builds its partition (compiling the spec, importing
    numpy, taking over the states so far) is out of memory too: a clean stop with the
    counts of the levels searched in one process, not "worker 0 failed" and a
    traceback."""
    import os

    import checker.parallel as par

    parent = os.getpid()
    real = par.partition_class

    def starved(fingerprints):
        cls = real(fingerprints)

        def make(*args, **kwargs):
            if os.getpid() != parent:       # (inherited by fork: the workers' copy)
                raise MemoryError
            return cls(*args, **kwargs)
        return make

    monkeypatch.setattr(par, "partition_class", starved)
    m = make_model([(0, 0)], grid(6), check_deadlock=False)
    r = explore_parallel(m, workers=2, handover_at=handover_at)
    assert r.status is Status.LIMIT and r.limit_reason.startswith("out of memory (worker")
    assert r.exit_code == 3
    if handover_at is None:
        assert r.stats.distinct_states == 0
    else:       # levels 1 to 5 (15 states) in one process, then the workers
        assert (r.stats.distinct_states, r.stats.depth) == (15, 5)
        assert r.stats.queue_left == 5



def test_notes_name_the_partition_and_count_the_workers_cpu_after_a_handover():
    # The notes read "workers' CPU seconds: 0.00 + 0.00" when the workers took over a
    # search begun in one process and stopped after one level (their first reply was
    # taken as their start); hashing whole states had no "partitioned by" line.
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",), symmetry=False)
    got = explore_parallel(recipe, workers=2, handover_at=500, max_states=2000)
    assert got.limit_reason == "max states 2000 reached"
    assert any("then 2 workers" in note for note in got.notes)
    cpu = next(note for note in got.notes if note.startswith("workers' CPU seconds"))
    assert "0.00 + 0.00" not in cpu, cpu
    whole = explore_parallel(recipe, workers=2, partition="state", max_depth=3)
    assert "partitioned by whole states" in whole.notes


def test_the_fault_budgets_hidden_counter_is_named_as_such():
    from checker.parallel import key_names

    recipe = ModelSpec.from_file("specs/variants/paxos_faults.spec", ("MaxBallot=1",),
                                 faults=("all",), symmetry=False)
    model, _ = recipe.build()
    hidden = len(model.variables)
    assert key_names(model, (0, hidden)) == f"{model.variables[0]}, the fault steps taken"


@pytest.mark.parametrize("fingerprints, command", [(False, "node"), (True, "entry")])
def test_a_worker_that_dies_while_the_counterexample_is_rebuilt_stops_cleanly(
        monkeypatch, fingerprints, command):
    # The WorkerDiedError escaped the search: "internal error ... This is a bug".
    import os
    import signal

    import checker.parallel as parallel

    send = parallel._ProcessWorker.send

    def send_then_die(self, *cmd):
        if cmd[0] == command:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.join(5)
        return send(self, *cmd)

    monkeypatch.setattr(parallel._ProcessWorker, "send", send_then_die)
    recipe = ModelSpec.from_file("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",))
    got = explore_parallel(recipe, workers=2, fingerprints=fingerprints)
    assert got.status is Status.LIMIT
    assert got.limit_reason.endswith("while the counterexample was being rebuilt")
    assert "stopped unexpectedly" in got.limit_reason
    assert ("the search found a violation of invariant Agreement; run again to see its "
            "counterexample") in got.notes
    assert got.stats.distinct_states > 0


# ------------------------------------------------------------ a full disk
def test_a_full_disk_under_the_batches_is_a_limit_with_statistics(monkeypatch):
    # (it was "internal error: RuntimeError: worker 1 failed:" and a traceback)
    import errno

    from checker import parallel

    def full(self, dest, payload):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(parallel.FileSink, "write", full)
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    got = explore_parallel(recipe, workers=2)
    assert got.status is Status.LIMIT
    assert got.limit_reason.startswith("no room on disk for the workers' batches or spilled "
                                       "levels: No space left")
    assert got.stats.distinct_states > 0


def test_a_worker_that_fails_says_what_in_one_line(monkeypatch):
    from checker import parallel

    def broken(self, dest, payload):
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("MODELCHECK_DEBUG", raising=False)
    monkeypatch.setattr(parallel.FileSink, "write", broken)
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    with pytest.raises(RuntimeError) as err:
        explore_parallel(recipe, workers=2)
    assert str(err.value).endswith("failed: ZeroDivisionError: a bug")
    assert "Traceback" not in str(err.value)
