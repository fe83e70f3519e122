"""The compact seen set: the fingerprint table against a Python set, and the compact
search against ``explore`` (the same counts, verdicts and counterexamples)."""

from __future__ import annotations

import subprocess
import sys
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parallel import graphs, grid, make_model

from checker.explore import explore
from checker.fingerprints import (
    CompactSearch,
    FingerprintTable,
    Frontier,
    collision_probability,
    default_memory_limit,
    explore_compact,
    fingerprint,
)
from checker.parallel import ModelSpec
from checker.result import Status


def full(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, result.stats.queue_left, result.limit_reason,
            v and v.kind, v and v.property, v and v.message,
            v and tuple((s.label, s.state) for s in v.trace))


# ---- the table

@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 300), max_size=200), max_size=8))
def test_table_matches_a_set(batches):
    table = FingerprintTable(capacity=16)     # small: forces several resizes
    seen: dict[int, int] = {}
    for b, batch in enumerate(batches):
        fps = np.array(batch, dtype=np.uint64)
        parents = np.full(len(batch), b + 1000, dtype=np.uint64)
        new = table.insert_batch(fps, parents)
        expected = []
        for x in batch:
            if x not in seen:
                seen[x] = b + 1000
                expected.append(True)
            else:
                expected.append(False)
        # new: the first occurrence of each fingerprint not seen before
        assert new.tolist() == expected
    assert len(table) == len(seen)
    for x, parent in seen.items():
        assert table.parent(x) == parent
    assert table.parent(301) is None
    probe = np.array(list(range(1, 320)), dtype=np.uint64)
    assert table.contains_batch(probe).tolist() == [x in seen for x in range(1, 320)]


def test_fingerprints_are_stable_across_processes():
    states = [(1, 2, None, (3, True)), (2**90 + 1, 0, "x"), ()]
    here = [fingerprint(s) for s in states]
    code = ("from checker.fingerprints import fingerprint; "
            f"print([fingerprint(s) for s in {states!r}])")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert there == repr(here)
    assert len(set(here)) == 3 and all(0 < f < 2**64 for f in here)
    # States differing in one high bit, or by a multiple of 2**61 - 1, do not collide.
    a, b = (1 << 61, 0), (1, 0)
    assert fingerprint(a) != fingerprint(b)
    with pytest.raises(TypeError, match="exact=True"):
        fingerprint((object(),))


def test_collision_probability_is_the_birthday_bound():
    assert collision_probability(1) == 0
    assert 8e-8 < collision_probability(1_745_408) < 1e-6   # TLC reports ~1e-7 here


def test_frontier_spills_and_keeps_order(tmp_path):
    f = Frontier(lambda: str(tmp_path), limit=10)
    f.extend(list(range(25)))
    f.extend(list(range(25, 32)))
    assert len(f) == 32 and f.spilled == 25 and len(list(tmp_path.iterdir())) == 1
    assert [x for chunk in f.chunks() for x in chunk] == list(range(32))
    out = []
    while len(f):
        out += f.pop(7)
    assert out == list(range(32))
    assert not list(tmp_path.iterdir())


# ---- the search

SPECS = [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), False),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",), True),
    ("specs/paxos.spec", ("MaxBallot=1",), False),
    ("specs/buggy/2pc_early_commit.spec", (), False),
    ("specs/buggy/paxos_ignore_1b_values.spec", ("MaxBallot=1",), False),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",), True),
]


@pytest.mark.parametrize("path,consts,symmetry", SPECS)
def test_compact_search_is_explore(path, consts, symmetry):
    model, canonical = ModelSpec.from_file(path, consts, symmetry=symmetry).build()
    expected = full(explore(model, canonical=canonical))
    assert full(explore_compact(model, canonical=canonical)) == expected
    assert full(explore_compact(model, canonical=canonical, exact=True)) == expected
    # a frontier written to disk in chunks of 64 states changes nothing
    assert full(explore_compact(model, canonical=canonical, frontier_limit=64)) == expected
    # nor does taking over from full states once a level has 40 new states
    for exact in (False, True):
        got = explore_compact(model, canonical=canonical, handover_at=40, exact=exact)
        assert got.engine == "explicit-compact"
        assert full(got) == expected


@pytest.mark.parametrize("limits", [{"max_states": 100}, {"max_states": 777},
                                    {"max_depth": 4}, {"max_depth": 9}])
def test_limits_stop_where_explore_stops(limits):
    model, _ = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",)).build()
    assert full(explore_compact(model, **limits)) == full(explore(model, **limits))
    assert full(explore_compact(model, handover_at=100, **limits)) == full(
        explore(model, **limits))


@pytest.mark.parametrize("exact", [False, True])
def test_the_switch_drops_the_full_states(monkeypatch, exact):
    """After a switch (``handover_rss``) nothing holds the full-state search any more:
    a reference to it kept every state alive to the end of the run."""
    handed: list = []
    adopt, run = CompactSearch.adopt, CompactSearch.run

    def adopting(self, handover):
        handed.append(weakref.ref(handover))
        adopt(self, handover)

    def running(self, **kwargs):
        assert handed and handed[0]() is None
        return run(self, **kwargs)

    monkeypatch.setattr(CompactSearch, "adopt", adopting)
    monkeypatch.setattr(CompactSearch, "run", running)
    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",)).build()
    result = explore_compact(model, handover_rss=0, exact=exact)
    assert full(result) == full(explore(model))
    assert any(n.startswith("full states up to level 2") for n in result.notes)


def test_notes_and_memory_per_state():
    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",)).build()
    result = explore_compact(model)
    assert result.engine == "explicit-compact"
    assert any("probability that two of the 8,832 states collided" in n for n in result.notes)
    assert not any("collided" in n for n in explore_compact(model, exact=True).notes)


def test_the_table_uses_a_few_tens_of_bytes_per_state():
    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",)).build()
    result = explore_compact(model)
    per_state = next(n for n in result.notes if n.startswith("seen set"))
    assert result.stats.distinct_states == 50816
    assert int(per_state.split(", ")[1].split()[0]) <= 48


def test_a_small_search_is_not_given_a_cost_per_state():
    # 3,059 bytes per state was the size of the first table over a few hundred states
    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",)).build()
    result = explore_compact(model)
    note = next(n for n in result.notes if n.startswith("seen set"))
    assert "bytes per state" not in note
    assert note.endswith(f"room for 49,152 states ({result.stats.distinct_states:,} stored)")


def test_memory_limit_stops_cleanly():
    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",)).build()
    result = explore_compact(model, memory_limit=1)
    assert result.status is Status.LIMIT and "memory limit" in result.limit_reason
    assert result.exit_code == 3
    limit = default_memory_limit()
    assert limit is None or limit > 2**20


def test_hand_written_models():
    m = make_model([(0, 0)], grid(6))
    assert full(explore_compact(m)) == full(explore(m))
    t = make_model([(0, 0)], grid(5), check_deadlock=False,
                   transition_invariants={"NoJump": lambda s, u: u != (3, 3)})
    assert full(explore_compact(t)) == full(explore(t))
    assert full(explore_compact(t, exact=True)) == full(explore(t))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_exactly_as_explore(g):
    n, edges, inits, bad, deadlock = g
    invariants = {} if bad is None else {"NotBad": lambda s: s != bad}
    m = make_model(inits, lambda s: [("Go", (t,), t) for t in edges[s]],
                   invariants=invariants, check_deadlock=deadlock)
    expected = full(explore(m))
    assert full(explore_compact(m)) == expected
    assert full(explore_compact(m, exact=True, frontier_limit=2)) == expected


def test_a_time_limit_after_the_handover_is_reported_as_given():
    # The full-state search's time was taken off the limit, and the message reported
    # what was left: "time limit of 0.933789s reached" for --time-limit 1.
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6,r7}",))
    got = explore_compact(recipe, handover_at=2000, time_limit=0.5)
    assert got.status is Status.LIMIT
    assert got.limit_reason == "time limit of 0.5s reached"
    assert 0.5 <= got.stats.elapsed_s < 1.5


def test_a_stop_before_the_table_grows_says_the_limit_would_be_passed(monkeypatch):
    # It said "memory limit of 70 MiB reached" with a peak of 67.7 MiB: the stop comes
    # before the growth that would pass the limit.
    import checker.fingerprints as fingerprints_module

    monkeypatch.setattr(fingerprints_module, "current_rss", lambda: 10 << 20)
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",),
                                 symmetry=False)
    got = explore_compact(recipe, memory_limit=11 << 20)
    assert got.status is Status.LIMIT
    assert got.limit_reason.startswith("memory limit of 11 MiB would be passed: the seen "
                                       "set needs ")
    assert got.limit_reason.endswith("more, and the process holds 10 MiB")
    assert 0 < got.stats.distinct_states < 50_816 and got.stats.queue_left > 0


# ---- out of memory (an address-space limit, ulimit -v)

class _Starved:
    """numpy, except that ``zeros`` raises MemoryError after ``room`` calls."""

    def __init__(self, room: int):
        self.room = room

    def __getattr__(self, name):
        return getattr(np, name)

    def zeros(self, *args, **kwargs):
        if self.room <= 0:
            raise MemoryError
        self.room -= 1
        return np.zeros(*args, **kwargs)


@pytest.mark.parametrize("tagged", [False, True])
def test_a_table_that_cannot_grow_is_left_whole(tagged):
    """The growth dropped the old arrays before making the new ones: a MemoryError
    between the two left a table of None (and the new, empty keys)."""
    table = FingerprintTable(capacity=16, tagged=tagged)
    fps = np.arange(1, 13, dtype=np.uint64)
    table.insert_batch(fps, fps + np.uint64(100),
                       fps.astype(np.uint32) if tagged else None)
    before = table.nbytes
    table.np = _Starved(1)        # the new keys fit, the new parents do not
    with pytest.raises(MemoryError):
        table.reserve(100)
    table.np = np
    assert (table.capacity, len(table), table.nbytes) == (16, 12, before)
    assert table.contains_batch(fps).all()
    assert [table.parent(int(x)) for x in fps] == [int(x) + 100 for x in fps]
    if tagged:
        assert [int(table.tags[table.slot_of(int(x))]) for x in fps] == fps.tolist()
    table.reserve(100)           # with room again, it grows
    assert table.capacity == 256 and table.contains_batch(fps).all()


def test_out_of_memory_while_the_table_grows_stops_with_the_statistics(monkeypatch):
    """`ulimit -v 190000` on 2pc with 7 RMs, `--fingerprints --workers 1`: "internal
    error: AttributeError: 'NoneType' object has no attribute 'nbytes'", since the table
    was left half grown. Now the search stops out of memory, with its statistics."""
    real = FingerprintTable._rehash

    def rehash(self, cap, drop=None):
        if cap <= 1 << 16:
            return real(self, cap, drop)
        self.np = _Starved(1)
        try:
            return real(self, cap, drop)
        finally:
            self.np = np

    monkeypatch.setattr(FingerprintTable, "_rehash", rehash)
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",),
                                 symmetry=False)
    got = explore_compact(recipe, memory_limit=None)
    assert (got.status, got.limit_reason, got.exit_code) == (Status.LIMIT, "out of memory", 3)
    # (the table of 65,536 slots holds 49,152 states; 50,816 in all)
    assert 40_000 < got.stats.distinct_states <= 49_152
    assert got.stats.generated_states > got.stats.distinct_states
    assert any(n.startswith("seen set: ") for n in got.notes), got.notes   # (its size)


def test_out_of_memory_taking_over_from_full_states_keeps_their_statistics(monkeypatch):
    """`--fingerprints --workers 1` keeps full states until a level of 5,000 new states,
    then builds the table, importing numpy: out of memory there (ulimit -v 60000) ended
    the run with no statistics at all."""
    import checker.fingerprints as fingerprints_module
    from checker.explore import Handover

    def no_room():
        raise MemoryError("no room to import numpy")

    monkeypatch.setattr(fingerprints_module, "import_numpy", no_room)
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",), symmetry=False)
    model, _ = recipe.build()
    handover = explore(model, handover_at=500)
    assert isinstance(handover, Handover)
    got = explore_compact(recipe, handover_at=500)
    assert (got.status, got.limit_reason, got.exit_code) == (Status.LIMIT, "out of memory", 3)
    stats = got.stats
    assert (stats.distinct_states, stats.generated_states, stats.depth, stats.queue_left) == (
        len(handover.seen), handover.generated, handover.level, len(handover.frontier))


def test_a_frontier_that_cannot_be_spilled_stops_the_search_as_a_limit(tmp_path,
                                                                       monkeypatch):
    # (a full disk under the spilled frontier was "internal error: OSError")
    import errno

    from checker import fingerprints
    from checker.fingerprints import Frontier, StopSearch

    def full(value, fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fingerprints.marshal, "dump", full)
    frontier = Frontier(lambda: str(tmp_path), limit=2)
    frontier.extend([(1,)])
    with pytest.raises(StopSearch, match="no room to spill the frontier to .*: No space"):
        frontier.extend([(2,)])
    assert list(tmp_path.iterdir()) == []       # (no partial file left)
