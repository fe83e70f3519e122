"""Workers sharing one seen set of fingerprints (checker/_sharedseen.c,
checker.shared_partition): the table itself, across processes, and the search, which
must give the counts and verdicts of the single-process search."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import namedtuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import shared_partition
from checker.explore import explore
from checker.model import EvaluationError
from checker.parallel import ModelSpec, explore_parallel
from checker.result import Status
from tests.test_parallel import SPECS, graphs, grid, make_model, replay, summary

pytestmark = pytest.mark.skipif(not shared_partition.available(),
                                reason="the compiled shared seen set is not built")

if shared_partition.available():
    from checker._sharedseen import SharedSeen, fingerprint


# a hand-written model's states (module level: pickled between workers)
Point = namedtuple("Point", "x y")


def shared(target, workers=2, **kwargs):
    return explore_parallel(target, workers=workers, shared=True, **kwargs)


# --------------------------------------------------------------------------- fingerprints

values = st.recursive(
    st.one_of(st.integers(), st.integers(-(1 << 200), 1 << 200), st.booleans(), st.none(),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(tuple),
                            st.frozensets(st.integers(-5, 5) | st.text(max_size=3),
                                          max_size=4)),
    max_leaves=12)


@given(values, values)
def test_equal_values_have_equal_fingerprints_and_unequal_ones_differ(a, b):
    assert fingerprint(a) == fingerprint(a)
    if a == b:
        assert fingerprint(a) == fingerprint(b)
    else:
        assert fingerprint(a) != fingerprint(b)     # (2^-64 per pair: never seen)


def test_fingerprints_agree_with_python_equality():
    assert fingerprint(True) == fingerprint(1) and fingerprint(False) == fingerprint(0)
    assert fingerprint(frozenset({3, 1, 2})) == fingerprint(frozenset({2, 3, 1}))
    assert fingerprint((1, 2)) != fingerprint((2, 1)) != fingerprint(((1, 2),))
    assert fingerprint(1 << 70) != fingerprint(1 << 71)
    assert fingerprint((1, "é")) == fingerprint((1, "é")) != fingerprint((1, "e"))
    assert fingerprint(()) != 0 and fingerprint(0) != 0
    with pytest.raises(TypeError, match="cannot fingerprint a state holding a float.*--exact"):
        fingerprint((1, 2.5))


def test_fingerprints_are_the_same_in_every_process():
    """Not Python's hash: strings hash differently in each interpreter."""
    state = (1, "acc", (None, True, 1 << 90), frozenset({"a", "b"}))
    code = ("from checker._sharedseen import fingerprint; "
            f"print(fingerprint({state!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "random"}, check=True)
    assert int(out.stdout) == fingerprint(state)


# --------------------------------------------------------------------------- the table

def test_the_table_stores_each_state_once_with_its_parent():
    seen = SharedSeen(1 << 26)
    assert seen.add((1, 2), 0, 1) is True
    assert seen.add((1, 2), 5, 1) is False
    assert seen.contains((1, 2)) and not seen.contains((2, 1))
    assert seen.parent(fingerprint((1, 2))) == 0
    assert seen.parent(fingerprint((9, 9))) is None
    # reached again in its own level from a smaller parent: that parent is kept (so the
    # counterexample does not depend on which worker came first); in a later level, not
    assert seen.add((3,), 900, 2) and not seen.add((3,), 700, 2)
    assert seen.parent(fingerprint((3,))) == 700
    assert not seen.add((3,), 100, 3)
    assert seen.parent(fingerprint((3,))) == 700


def test_the_table_grows_and_keeps_every_state():
    seen = SharedSeen(1 << 28)
    n = 200_000
    assert all(seen.add((i, "x"), i + 1, 1) for i in range(n))
    assert not any(seen.add((i, "x"), 0, 2) for i in range(0, n, 7))
    count, room, in_use, touched, reserved = seen.stats()
    assert count == n and room > 0 and 24 * n < in_use <= touched <= reserved
    assert all(seen.parent(fingerprint((i, "x"))) == i + 1 for i in range(0, n, 997))


def test_a_full_table_raises_memory_error():
    seen = SharedSeen(1)        # (the smallest reservation: the first blocks, twice)
    with pytest.raises(MemoryError, match="shared seen set"):
        for i in range(10_000_000):
            seen.add_fp(i + 1, 0, 1)


def test_forked_processes_share_the_table_and_each_state_is_new_to_one():
    seen = SharedSeen(1 << 27)
    n = 60_000
    readers = []
    for k in range(2):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:        # each child adds all states, in its own order
            order = range(n) if k == 0 else range(n - 1, -1, -1)
            mine = sum(seen.add((i,), k + 1, 1) for i in order)
            os.write(w, str(mine).encode())
            os._exit(0)
        os.close(w)
        readers.append((pid, r))
    news = []
    for pid, r in readers:
        os.waitpid(pid, 0)
        news.append(int(os.read(r, 64)))
        os.close(r)
    assert sum(news) == n == seen.stats()[0]
    assert all(seen.contains((i,)) for i in range(n))
    assert {seen.parent(fingerprint((i,))) for i in range(n)} <= {1}  # the smaller parent


# --------------------------------------------------------------------------- the search

@pytest.mark.parametrize("path,consts,symmetry", SPECS)
def test_shared_workers_agree_with_one_process(path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    model, canonical = recipe.build()
    reference = explore(model, canonical=canonical)
    two, three = shared(recipe), shared(recipe, workers=3)
    head = shared(recipe, handover_at=20)       # (one process first, as the CLI does)
    for got in (two, three, head):
        assert any("shared by the workers" in n for n in got.notes) or got.engine == "explicit"
        assert got.status == reference.status
        if reference.status is Status.OK:
            assert summary(got) == summary(reference)
            continue
        # a shortest counterexample of the same property, and a real behaviour
        assert got.violation.property == reference.violation.property
        assert len(got.violation.trace) == len(reference.violation.trace)
        plain = ModelSpec.from_file(path, consts).build()[0]
        last = replay(plain, got.violation.trace)
        assert last is not None
        assert not {i.name: i for i in plain.invariants}[got.violation.property].holds(last)
    if reference.status is not Status.OK:
        # the counts of the partitioned search (the whole level in which it was found)
        assert summary(two) == summary(explore_parallel(recipe, workers=2))
        # the same counterexample whatever the number of workers: parents do not depend
        # on which worker reached a state first
        assert two.violation.trace == three.violation.trace


def test_a_seeded_bug_is_found_with_its_shortest_counterexample_every_time():
    recipe = ModelSpec.from_file("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",))
    runs = [shared(recipe) for _ in range(3)]
    assert {len(r.violation.trace) for r in runs} == {13}
    assert runs[0].violation.trace == runs[1].violation.trace == runs[2].violation.trace


def test_deadlock_transition_invariants_and_errors():
    m = make_model([(0, 0)], grid(6))
    assert summary(shared(m)) == summary(explore_parallel(m, workers=1))
    t = make_model([(0, 0)], grid(5), check_deadlock=False,
                   transition_invariants={"NoBigJump": lambda s, t: t != (3, 3)})
    got = shared(t)
    assert got.violation.kind == "transition" and len(got.violation.trace) == 7
    assert got.violation.trace[-1].state == {"s": (3, 3)}

    def boom(s):
        if s == (2, 2):
            raise EvaluationError("map read outside its domain")
        return grid(5)(s)
    r = shared(make_model([(0, 0)], boom, check_deadlock=False))
    assert r.status is Status.ERROR and "outside its domain" in r.violation.message
    assert len(r.violation.trace) == 5


def test_limits_stop_with_the_counts_so_far():
    endless = make_model([0], lambda s: [("Inc", (), s + 1), ("Twice", (), 2 * s + 2)])
    r = shared(endless, max_depth=5)
    assert r.status is Status.LIMIT and "max depth" in r.limit_reason
    assert r.stats.distinct_states == explore(endless, max_depth=5).stats.distinct_states
    r = shared(endless, max_states=50)
    assert r.status is Status.LIMIT and r.stats.distinct_states >= 50
    r = shared(endless, time_limit=0.3)
    assert r.status is Status.LIMIT and "time limit" in r.limit_reason


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_agree_with_the_partitioned_search(g):
    n, edges, inits, bad, deadlock = g
    invariants = {} if bad is None else {"NotBad": lambda s: s != bad}
    m = make_model(inits, lambda s: [("Go", (t,), t) for t in edges[s]],
                   invariants=invariants, check_deadlock=deadlock)
    assert summary(shared(m)) == summary(explore_parallel(m, workers=2))


def test_without_the_compiled_table_the_seen_set_is_partitioned(monkeypatch):
    monkeypatch.setattr(shared_partition, "SharedSeen", None)
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
    got = shared(recipe)
    assert any("not built" in n for n in got.notes)
    assert any("partitioned by" in n for n in got.notes)
    assert summary(got) == summary(explore(recipe.build()[0]))


def test_a_table_that_cannot_be_mapped_falls_back_to_partitions(monkeypatch):
    def refuse(memory):
        raise MemoryError("no address space for the shared seen set")
    monkeypatch.setattr(shared_partition, "make_shared_seen", refuse)
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
    got = shared(recipe)
    assert any("could not be mapped" in n for n in got.notes)
    assert summary(got) == summary(explore(recipe.build()[0]))


def test_the_notes_give_the_collision_probability_and_the_tables_size():
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=1",))
    got = shared(recipe, handover_at=100)
    notes = " ".join(got.notes)
    assert "probability that two of the" in notes and "--exact keeps full states" in notes
    assert "shared seen set:" in notes


@pytest.mark.parametrize("sizes,moves", [
    ([100, 100], {}),
    ([1000, 10], {0: {1: 495}}),
    ([0, 30, 600], {2: {0: 210, 1: 180}}),
    ([10, 20], {}),                     # (a difference under MIN_MOVE)
])
def test_the_balancer_evens_out_the_next_level(sizes, moves):
    assert shared_partition.SharedBalancer(len(sizes)).plan(sizes) == moves


def test_a_worker_that_dies_stops_the_run_cleanly():
    """SIGKILL in the middle of a level: the run stops with the counts of the levels
    finished (exit 3), and the other worker, which may wait on a segment's lock the
    dead one held, is ended with it."""
    import signal

    parent = os.getpid()

    def nxt(s):
        if s == (3, 3) and os.getpid() != parent:    # only inside a worker process
            os.kill(os.getpid(), signal.SIGKILL)
        return grid(6)(s)
    r = shared(make_model([(0, 0)], nxt, check_deadlock=False))
    assert r.status is Status.LIMIT and "stopped unexpectedly" in r.limit_reason
    assert "signal 9" in r.limit_reason and r.exit_code == 3
    assert 0 < r.stats.distinct_states < 36


def test_a_worker_out_of_memory_stops_the_run_with_its_statistics():
    parent = os.getpid()

    def nxt(s):
        if s == (3, 3) and os.getpid() != parent:
            raise MemoryError
        return grid(6)(s)
    r = shared(make_model([(0, 0)], nxt, check_deadlock=False))
    assert r.status is Status.LIMIT and r.limit_reason.startswith("out of memory (worker")
    assert r.exit_code == 3 and 0 < r.stats.distinct_states < 36


def test_a_wide_level_spills_to_disk_with_the_same_results(monkeypatch, tmp_path):
    spills = tmp_path / "spills"
    real = shared_partition.LevelStates.spill

    def spill(self):
        with open(spills, "a") as fh:       # (from the workers: a file they append to)
            fh.write("x")
        real(self)
    monkeypatch.setattr(shared_partition, "SPILL_AFTER", 10)
    monkeypatch.setattr(shared_partition, "SPILL_CHUNK", 7)
    monkeypatch.setattr(shared_partition.LevelStates, "spill", spill)
    for path, consts in (("specs/paxos.spec", ("MaxBallot=1",)),
                         ("specs/buggy/paxos_ignore_1b_values.spec", ("MaxBallot=1",))):
        recipe = ModelSpec.from_file(path, consts)
        got, reference = shared(recipe), explore_parallel(recipe, workers=2)
        assert summary(got) == summary(reference)
    assert spills.exists() and len(spills.read_text()) > 10


def test_level_states_keep_every_state_in_memory_and_on_disk(monkeypatch):
    monkeypatch.setattr(shared_partition, "SPILL_AFTER", 3)
    level = shared_partition.LevelStates([(i, "s") for i in range(5)])
    level.kept.extend((i, "t") for i in range(4))
    level.spill()
    level.kept.append((9, None))
    level.spill()
    assert len(level) == 10 and len(level.kept) == 3
    assert sorted(level, key=repr) == sorted(
        [(i, "s") for i in range(5)] + [(i, "t") for i in range(4)] + [(9, None)], key=repr)
    level.close()


def test_a_closed_table_refuses_use():
    seen = SharedSeen(1 << 24)
    seen.add((1,), 0, 1)
    seen.close()
    seen.close()                # (twice is harmless)
    with pytest.raises(ValueError, match="closed"):
        seen.contains((1,))


def test_the_address_space_cap_is_raised_for_the_table_and_put_back():
    """The table is counted in every process's address space; the cap each process has
    (``memory.address_space_cap``) is raised by the reservation during the run only."""
    import resource

    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = 64 << 30 if old[1] == resource.RLIM_INFINITY else old[1]
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
        got = shared(recipe)
        assert any("shared by the workers" in n for n in got.notes)
        assert resource.getrlimit(resource.RLIMIT_AS) == (cap, old[1])
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


# --------------------------------------------------------------------------- found in review

def test_a_full_table_mid_search_stops_with_its_statistics_and_says_so(monkeypatch):
    """Not "out of memory" (the CLI would then advise --fingerprints, which the shared
    search already keeps): the memory allowed for the table is used up."""
    monkeypatch.setattr(shared_partition, "TABLE_SHARE", 0.0)
    monkeypatch.setattr(shared_partition, "MIN_TABLE", 1)
    recipe = ModelSpec.from_file("specs/paxos.spec", ("MaxBallot=2",))
    r = shared(recipe)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert r.limit_reason.startswith("the shared seen set is full: the 0.8 MiB")
    assert "MiB allowed for it are used up (worker" in r.limit_reason
    assert "out of memory" not in r.limit_reason
    assert 1_000 < r.stats.distinct_states < 34_113 and r.stats.queue_left > 0


def test_the_cli_says_the_table_is_full_without_the_fingerprints_hint():
    code = ("import sys; from checker import shared_partition as s; s.TABLE_SHARE = 0.0; "
            "s.MIN_TABLE = 1; from checker.cli import main; sys.argv = ['modelcheck', "
            "'specs/paxos.spec', '--const', 'MaxBallot=2', '--workers', '2']; main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 3, out.stderr
    assert "Stopped: the shared seen set is full" in out.stdout
    assert "Traceback" not in out.stderr and "--fingerprints stores" not in out.stdout


def test_a_process_that_dies_holding_a_lock_does_not_leave_the_others_waiting():
    """(The OOM killer may kill a worker while a segment grows into new pages.)"""
    import signal

    from checker._sharedseen import HolderDiedError

    seen = SharedSeen(1 << 24)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        seen._hold(fingerprint((1,)))
        os.write(w, b"x")
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    try:
        # a zombie until reaped, as a killed worker is while its coordinator waits
        with pytest.raises(HolderDiedError, match=f"process {pid} died while it held"):
            seen.add((1,), 0, 1)
        with pytest.raises(HolderDiedError):
            seen.stats()
    finally:
        os.waitpid(pid, 0)


def test_a_worker_killed_holding_a_lock_stops_the_run_cleanly(monkeypatch):
    """Worker 1 dies holding a segment's lock, which worker 0 then needs (its report
    counts every segment): the coordinator, waiting for worker 0 first, must not wait
    for ever, and the run stops with exit 3."""
    import signal
    import time

    mine = {}
    real = shared_partition.SharedPartition.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        mine["worker"] = self

    def nxt(s):
        x, y = s
        worker = mine.get("worker")
        if worker is not None and y == 1:
            if worker.index == 1:
                worker.shared._hold(fingerprint(s))     # (then killed: never let go)
                os.kill(os.getpid(), signal.SIGKILL)
            elif x == 0:
                time.sleep(0.3)         # (worker 0 needs the table after that)
        return [("Up", (), (x, y + 1))] if y < 4 else []

    def hung(signum, frame):
        pytest.fail("the coordinator waited for ever")
    monkeypatch.setattr(shared_partition.SharedPartition, "__init__", init)
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        r = shared(make_model([(x, 0) for x in range(40)], nxt, check_deadlock=False))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert "died while it held a lock of the shared seen set" in r.limit_reason
    assert r.limit_reason.endswith("(worker 0)")


def test_deeply_nested_states_raise_instead_of_crashing():
    deep = ()
    for _ in range(200_000):
        deep = (deep,)
    with pytest.raises(RecursionError):
        fingerprint(deep)
    nested = frozenset()
    for i in range(200_000):
        nested = frozenset({nested, i})
    with pytest.raises(RecursionError):
        SharedSeen(1 << 24).add(nested, 0, 1)


def test_strings_are_fingerprinted_by_their_code_points_lone_surrogates_too():
    assert fingerprint("\ud800") == fingerprint("\ud800") != fingerprint("\udc00")
    # equal strings made different ways; the same text in each of the storage widths
    for text in ("abc", "é", "ω", "\U0001f600"):
        assert fingerprint(("x" + text)[1:]) == fingerprint(text)
        if text != "abc":
            assert fingerprint(text) != fingerprint(text.encode("utf-8").decode("latin-1"))
    assert fingerprint("a\0") != fingerprint("a") != fingerprint("a\0\0")


def test_states_that_marshal_cannot_write_are_moved_and_spilled(monkeypatch):
    """Hand-written models may keep namedtuples (fingerprinted as tuples): the balancer
    and the spill files must carry them as they are (pickle), not fail in marshal."""
    def nxt(s):
        if s.x >= 3:
            return []
        wide = 400 if s == Point(0, 0) else 3      # (uneven levels: the balancer moves)
        return [("Go", (), Point(s.x + 1, s.y * 1000 + k)) for k in range(wide)]
    m = make_model([Point(0, 0), Point(0, 1)], nxt, check_deadlock=False)
    reference = summary(explore_parallel(m, workers=2))
    got = shared(m)
    assert summary(got) == reference
    assert any("balance:" in n for n in got.notes)
    monkeypatch.setattr(shared_partition, "SPILL_AFTER", 10)
    monkeypatch.setattr(shared_partition, "SPILL_CHUNK", 7)
    assert summary(shared(m)) == reference


def test_under_a_hard_address_space_cap_the_table_is_still_shared():
    """``ulimit -v`` (soft and hard) below the default reservation: the table takes its
    share of the cap instead of falling back to the partitioned search."""
    code = ("import resource; cap = 3 << 30; "
            "resource.setrlimit(resource.RLIMIT_AS, (cap, cap)); "
            "from checker.parallel import ModelSpec, explore_parallel; "
            "r = explore_parallel(ModelSpec.from_file('specs/2pc.spec', ('RM={r1,r2,r3}',)), "
            "workers=2, shared=True); print(r.status.name); print(*r.notes, sep='\\n')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK") and "shared by the workers" in out.stdout
    assert "could not be mapped" not in out.stdout


def test_a_table_too_small_for_the_states_found_before_the_workers_stops_cleanly(
        monkeypatch):
    monkeypatch.setattr(shared_partition, "TABLE_SHARE", 0.0)
    monkeypatch.setattr(shared_partition, "MIN_TABLE", 1)
    wide = make_model([(i, 0) for i in range(30_000)],
                      lambda s: [("Go", (), (s[0], s[1] + 1))] if s[1] < 3 else [],
                      check_deadlock=False)
    r = shared(wide, handover_at=1000)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert r.limit_reason.startswith("the shared seen set is full")
    assert r.limit_reason.endswith("before the workers started")
    assert r.stats.distinct_states >= 60_000


def test_the_table_stops_at_its_memory_limit_whatever_address_space_is_left():
    """The reservation is address space (three times the limit: blocks given back are
    reused only at their own size); the memory the blocks take is held to the limit."""
    seen = SharedSeen(1 << 30, 4 << 20)
    with pytest.raises(MemoryError, match="the 4.0 MiB allowed for it are used up"):
        for i in range(1, 1_000_000):
            seen.add_fp(i * 0x9E3779B97F4A7C15 % (1 << 64) or 1, 0, 1)
    count, _, in_use, touched, reserved = seen.stats()
    assert in_use <= 4 << 20 < touched < reserved and count > 50_000


def test_states_taken_from_another_worker_spill_too(monkeypatch):
    from checker.parallel import _dump, as_recipe

    monkeypatch.setattr(shared_partition, "SPILL_AFTER", 10)
    monkeypatch.setattr(shared_partition, "SPILL_CHUNK", 5)
    part = shared_partition.SharedPartition(
        1, 2, as_recipe(make_model([(0, 0)], grid(3))), None, SharedSeen(1 << 24))
    part.take([_dump([(i, 0) for i in range(30)])])
    assert part.found.on_disk > 0 and len(part.found) == 30
    assert sorted(part.found) == [(i, 0) for i in range(30)]
    part.found.close()
