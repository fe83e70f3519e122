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
