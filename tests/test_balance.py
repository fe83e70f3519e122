"""Moving hash buckets between workers (checker.balance, and Partition.give/take in
checker.parallel): the plan balances the next level, and a search whose buckets move
at every level has exactly the counts, verdicts and shortest counterexamples of the
single-process search, with every state owned by exactly one worker."""

from __future__ import annotations

from time import perf_counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import balance
from checker.balance import bucket_count, initial_table, loads, plan
from checker.explore import explore
from checker.parallel import (
    GivenModel,
    ModelSpec,
    Partition,
    _LocalWorker,
    explore_parallel,
    search,
)
from checker.result import Status
from tests.test_parallel import make_model, replay, summary

# ---- the plan


def test_first_table_gives_the_plain_hash_owner():
    for n in (1, 2, 3, 7):
        nb = bucket_count(n)
        assert nb % n == 0
        table = initial_table(n)
        assert all(table[h % nb] == h % n for h in range(10 * nb))


def test_plan_moves_work_from_the_busiest_worker():
    n = 2
    table = initial_table(n)
    work = [0] * len(table)
    for b in range(0, 40, 2):        # worker 0's buckets
        work[b] = 100
    work[1] = 100                    # worker 1 has one
    new = plan(table, work, [0] * len(table), n)
    assert loads(new, work, n) == [1100, 1000]      # off by one bucket: the best it can do
    assert all(new[b] == table[b] for b in range(len(table)) if not work[b])


def test_plan_leaves_a_small_or_even_level_alone():
    table = initial_table(2)
    work = [0] * len(table)
    work[0] = 500
    assert plan(table, work, [0] * len(table), 2) == table            # under MIN_LEVEL
    work = [10] * len(table)
    assert plan(table, work, [0] * len(table), 2) == table            # already even


def test_plan_does_not_move_a_bucket_whose_states_cost_more_than_it_saves():
    table = initial_table(2)
    work = [0] * len(table)
    work[0], work[2] = 3000, 1000           # both worker 0's: a gap of 4000
    held = [0] * len(table)
    held[0] = held[2] = 10**6               # each would cost 150,000 to copy
    assert plan(table, work, held, 2) == table
    held[2] = 1000
    assert plan(table, work, held, 2)[2] == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 4), st.data())
def test_plan_ends_where_no_single_move_helps(n, data):
    nb = bucket_count(n)
    table = data.draw(st.lists(st.integers(0, n - 1), min_size=nb, max_size=nb))
    work = data.draw(st.lists(st.integers(0, 50), min_size=nb, max_size=nb))
    new = plan(table, work, [0] * nb, n, move_cost=0, min_level=0, tolerance=0)
    before, after = loads(table, work, n), loads(new, work, n)
    assert sum(after) == sum(before) and max(after) <= max(before)
    hi, lo = max(after), min(after)
    busiest = after.index(hi)
    # no bucket of the busiest worker could go to the idlest and lower the busier one
    assert not any(new[b] == busiest and 0 < work[b] < hi - lo for b in range(nb))


# ---- searches whose buckets move at every level


@pytest.fixture
def eager(monkeypatch):
    """Move buckets whenever the next level is not exactly even, whatever it costs."""
    monkeypatch.setattr(balance, "MIN_LEVEL", 0)
    monkeypatch.setattr(balance, "TOLERANCE", 0.0)
    monkeypatch.setattr(balance, "MOVE_COST", 0.0)


def in_process(model, n, canonical=None, cls=Partition, **limits):
    """The partitioned search with its n partitions in this process; also returns them."""
    recipe = GivenModel(model, canonical)
    parts = [cls(i, n, recipe, stable=False) for i in range(n)]
    handles = [_LocalWorker(p) for p in parts]
    limits = dict(dict(max_states=None, max_depth=None, time_limit=None), **limits)
    result = search(handles, model, recipe, n_initial=len(model.initial_states()),
                    start=perf_counter(), progress=None, engine="explicit-parallel",
                    **limits)
    return result, parts


def assert_owned_once(parts, distinct: int) -> None:
    """Every stored state is in the seen set of exactly one worker: its bucket's owner."""
    assert sum(len(p.seen) for p in parts) == distinct
    for p in parts:
        assert p.table == parts[0].table
        for t in p.seen:
            assert p.table[p.owner(t) % p.nbuckets] == p.index


SPECS = [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",)),
    ("specs/paxos.spec", ("MaxBallot=1",)),
    ("specs/buggy/2pc_early_commit.spec", ()),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)),
]


@pytest.mark.parametrize("path,consts", SPECS)
@pytest.mark.parametrize("n", [2, 3])
def test_moving_buckets_changes_no_result(eager, path, consts, n):
    model = ModelSpec.from_file(path, consts).build()[0]
    reference = explore(model)
    result, parts = in_process(model, n)
    assert any(note.startswith("balance:") for note in result.notes)
    assert result.status == reference.status
    if reference.status is Status.OK:
        assert summary(result) == summary(reference)
        assert_owned_once(parts, result.stats.distinct_states)
    else:
        assert result.violation.property == reference.violation.property
        assert len(result.violation.trace) == len(reference.violation.trace)
        last = replay(model, result.violation.trace)
        assert last is not None
        assert not {i.name: i for i in model.invariants}[result.violation.property].holds(last)


def test_moving_buckets_with_symmetry_and_a_depth_limit(eager):
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), symmetry=True)
    model, canonical = recipe.build()
    assert summary(in_process(model, 2, canonical)[0]) == summary(
        explore(model, canonical=canonical))
    limited, _ = in_process(model, 2, max_depth=5)
    assert limited.status is Status.LIMIT
    assert summary(limited)[1:4] == summary(explore(model, max_depth=5))[1:4]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.integers(2, 60), st.data())
def test_random_graphs_with_moving_buckets_agree_with_explore(eager, size, data):
    edges = {i: data.draw(st.lists(st.integers(0, size - 1), max_size=4)) for i in range(size)}
    inits = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
    bad = data.draw(st.one_of(st.none(), st.integers(0, size - 1)))
    m = make_model(inits, lambda s: [("Go", (t,), t) for t in edges[s]],
                   invariants={} if bad is None else {"NotBad": lambda s: s != bad})
    reference = explore(m)
    result, parts = in_process(m, data.draw(st.integers(2, 3)))
    if reference.status is Status.OK:
        assert summary(result) == summary(reference)
        assert_owned_once(parts, reference.stats.distinct_states)
    else:   # (a shortest counterexample of any kind, as in test_parallel)
        assert result.status is not Status.OK
        assert len(result.violation.trace) <= len(reference.violation.trace)
        if result.status == reference.status:
            assert len(result.violation.trace) == len(reference.violation.trace)


def test_worker_processes_move_buckets_too(eager):
    """The same through processes: from the first level, and from a handover (whose
    table is balanced for the first level the workers expand)."""
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    expected = summary(explore(recipe.build()[0]))
    for handover_at in (None, 50):
        result = explore_parallel(recipe, workers=2, handover_at=handover_at)
        assert summary(result) == expected
        assert any(note.startswith("balance:") for note in result.notes)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), max_size=60), st.data())
def test_positions_finds_every_entry_and_no_straddling_match(codes, data):
    from array import array

    from checker.parallel import _counts, _positions

    # values whose bytes also occur across two neighbours (0x0100, 0x0001, 0x0101)
    codes = array("H", codes + [0x0100, 0x0001, 0x0101, 1, 256])
    wanted = data.draw(st.lists(st.sampled_from(sorted(set(codes))), unique=True))
    assert _positions(codes, wanted) == [i for i, c in enumerate(codes) if c in wanted]
    counts = _counts(codes, 300)
    assert counts == [sum(1 for c in codes if c == b) for b in range(300)]
