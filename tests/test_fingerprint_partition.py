"""Workers that keep fingerprints instead of states (checker.fingerprint_partition):
the counts, verdicts and shortest counterexamples of the workers that keep states, with
buckets moving or not, and counterexamples regenerated across workers."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.explore import explore
from checker.fingerprint_partition import FingerprintPartition
from checker.parallel import ModelSpec, explore_parallel
from checker.result import Status
from tests.test_balance import eager, in_process  # noqa: F401 (a fixture)
from tests.test_parallel import SPECS, make_model, replay, summary


def violated(path, consts, result) -> None:
    """The counterexample is a behaviour of the unreduced spec ending in a state that
    violates the reported invariant."""
    plain = ModelSpec.from_file(path, consts).build()[0]
    last = replay(plain, result.violation.trace)
    assert last is not None
    assert not {i.name: i for i in plain.invariants}[result.violation.property].holds(last)


@pytest.mark.parametrize("path,consts,symmetry", SPECS)
def test_fingerprint_workers_agree_with_state_workers(path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    expected = summary(explore_parallel(recipe, workers=2))
    for workers in (1, 2):
        got = explore_parallel(recipe, workers=workers, fingerprints=True)
        assert summary(got) == expected
        assert any("probability that two of the" in note for note in got.notes)
        if got.status is Status.VIOLATION:
            violated(path, consts, got)


def test_fingerprint_workers_take_over_from_one_process():
    path, consts = "specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)
    recipe = ModelSpec.from_file(path, consts)
    got = explore_parallel(recipe, workers=2, handover_at=2000, fingerprints=True)
    assert any("in one process" in note for note in got.notes)
    assert summary(got) == summary(explore_parallel(recipe, workers=2))
    violated(path, consts, got)
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    assert summary(explore_parallel(recipe, workers=2, handover_at=500, fingerprints=True)) \
        == summary(explore(recipe.build()[0]))


def test_fingerprint_workers_hold_few_bytes_per_state():
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",))
    got = explore_parallel(recipe, workers=2, fingerprints=True)
    note = next(n for n in got.notes if n.startswith("seen sets:"))
    # 20 bytes a slot, at most 3/4 and (but for the first 64k slots) at least 3/8 full
    assert 20 <= int(note.split(",")[1].split()[0]) <= 20 / 0.375


@pytest.mark.parametrize("path,consts", [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",)),
    ("specs/buggy/2pc_early_commit.spec", ()),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)),
])
def test_fingerprint_workers_move_buckets(eager, path, consts):  # noqa: F811
    model = ModelSpec.from_file(path, consts).build()[0]
    expected, _ = in_process(model, 3)
    got, parts = in_process(model, 3, cls=FingerprintPartition)
    assert any(note.startswith("balance:") for note in got.notes)
    assert summary(got) == summary(expected)
    if got.status is Status.OK:
        # every state's fingerprint is in exactly one table: its bucket's owner's
        assert sum(len(p.table_fp) for p in parts) == got.stats.distinct_states
        for p in parts:
            used = p.table_fp.keys != 0
            buckets = (p.table_fp.tags[used] & 0xFFFF).tolist()
            assert all(p.table[b] == p.index for b in buckets)
    else:
        violated(path, consts, got)


@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(2, 50), st.data())
def test_random_graphs_with_fingerprint_workers(eager, size, data):  # noqa: F811
    edges = {i: data.draw(st.lists(st.integers(0, size - 1), max_size=4)) for i in range(size)}
    inits = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
    bad = data.draw(st.one_of(st.none(), st.integers(0, size - 1)))
    m = make_model(inits, lambda s: [("Go", (t,), t) for t in edges[s]],
                   invariants={} if bad is None else {"NotBad": lambda s: s != bad})
    n = data.draw(st.integers(1, 3))
    expected, _ = in_process(m, n)
    got, _ = in_process(m, n, cls=FingerprintPartition)
    assert summary(got) == summary(expected)
    if got.violation is not None:
        assert [s.state for s in got.violation.trace] == \
            [s.state for s in expected.violation.trace]


def test_small_chunks_and_small_caches_change_nothing(eager, monkeypatch):  # noqa: F811
    from checker import fingerprint_partition

    monkeypatch.setattr(fingerprint_partition, "STORE_CHUNK", 7)
    monkeypatch.setattr(fingerprint_partition, "RECENT_LIMIT", 3)
    for path, consts in (("specs/paxos.spec", ("MaxBallot=1",)),
                         ("specs/buggy/2pc_early_commit.spec", ())):
        model = ModelSpec.from_file(path, consts).build()[0]
        got, _ = in_process(model, 2, cls=FingerprintPartition)
        assert summary(got) == summary(in_process(model, 2)[0])


def test_levels_that_spill_to_disk_change_nothing(eager, monkeypatch):  # noqa: F811
    """Every chunk past the first spilled (in one process, and in worker processes,
    which inherit the setting by fork), with buckets moving: the same results."""
    from checker import fingerprint_partition
    from checker.fingerprint_partition import Level

    monkeypatch.setattr(fingerprint_partition, "STORE_CHUNK", 50)
    monkeypatch.setattr(fingerprint_partition, "LEVEL_IN_MEMORY", 1)
    level = Level()
    for k in range(4):      # states (k, j) in bucket j, fingerprint 10 * k + j
        level.add([(k, j) for j in range(3)],
                  array("Q", [10 * k + j for j in range(3)]).tobytes(),
                  array("H", range(3)).tobytes())
    assert level.file is not None and level.held == 0 and level.spilled > 0
    assert list(level.states()) == [(k, j) for k in range(4) for j in range(3)]
    kept, out = level.split([b == 1 for b in range(256)])
    assert out == {1: [((k, 1), 10 * k + 1) for k in range(4)]}
    assert list(kept.states()) == [(k, j) for k in range(4) for j in (0, 2)]
    assert list(kept.fps) == [10 * k + j for k in range(4) for j in (0, 2)]
    for path, consts in (("specs/paxos.spec", ("MaxBallot=1",)),
                         ("specs/buggy/2pc_early_commit.spec", ())):
        model = ModelSpec.from_file(path, consts).build()[0]
        got, parts = in_process(model, 2, cls=FingerprintPartition)
        assert summary(got) == summary(in_process(model, 2)[0])
        recipe = ModelSpec.from_file(path, consts)
        assert summary(explore_parallel(recipe, workers=2, handover_at=50,
                                        fingerprints=True)) == summary(got)


def test_the_table_grows_when_a_level_starts():
    """Room for as many new states per state expanded as the last level stored, at most
    twice the frontier: the table's growth comes before the level's caches fill."""
    from checker.fingerprint_partition import expected_new

    assert expected_new(1000, 0.5) == 500 and expected_new(1000, 1.7) == 1700
    assert expected_new(1000, 9.0) == 2000 and expected_new(0, 1.0) == 0
    model = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",)).build()[0]
    got, parts = in_process(model, 2, cls=FingerprintPartition)
    assert summary(got) == summary(explore(model))
    for part in parts:     # measured at every level: the last one stored nothing
        assert part.stored_per_expanded == 0.0
        assert len(part.table_fp) <= part.table_fp.capacity * part.table_fp.MAX_FILL


# ---- switching from full states to fingerprints when memory runs short


@pytest.mark.parametrize("path,consts,symmetry", SPECS)
def test_switching_to_fingerprints_changes_no_result(path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    expected = summary(explore_parallel(recipe, workers=2))
    for workers in (1, 2):
        got = explore_parallel(recipe, workers=workers, switch_at=0)    # at once
        assert any(note.startswith("full states up to level") for note in got.notes)
        assert any("probability that two of the" in note for note in got.notes)
        assert summary(got) == expected
        if got.status is Status.VIOLATION:
            violated(path, consts, got)


def later(monkeypatch, after: int) -> None:
    """Makes the workers' memory (as reported) pass 0 only after ``after`` reports."""
    from checker import parallel

    calls = iter(range(-after, 10**9))
    monkeypatch.setattr(parallel, "current_rss", lambda: next(calls))


@pytest.mark.parametrize("after", [3, 30, 100])
def test_switching_after_buckets_moved(eager, monkeypatch, after):  # noqa: F811
    from time import perf_counter

    from checker.parallel import GivenModel, Partition, _LocalWorker, search

    for path, consts in (("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)),
                         ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))):
        model = ModelSpec.from_file(path, consts).build()[0]
        expected, _ = in_process(model, 3)
        later(monkeypatch, after)   # (reports of this search only)
        recipe = GivenModel(model, None)
        parts = [Partition(i, 3, recipe, stable=False) for i in range(3)]
        got = search([_LocalWorker(p) for p in parts], model, recipe,
                     n_initial=len(model.initial_states()), start=perf_counter(),
                     max_states=None, max_depth=None, time_limit=None, progress=None,
                     engine="explicit-parallel", switch_at=0)
        notes = " ".join(got.notes)
        assert "balance:" in notes and "then fingerprints" in notes
        assert summary(got) == summary(expected)
        if got.status is Status.VIOLATION:
            violated(path, consts, got)
