"""The explicit-state engine on tiny hand-written models, with counts worked out by hand."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.explore import ProgressInfo, explore
from checker.model import EvaluationError, Invariant, Model, Step, TransitionInvariant
from checker.result import Status
from checker.values import MapValue, SetValue


def make_model(init, nxt, *, invariants=None, transition_invariants=None, check_deadlock=True,
               diagnose=None, name="Test", constants=None):
    """A model whose states are plain Python values; ``nxt(s)`` lists (action, args, t)."""
    return Model(
        name=name,
        variables=("s",),
        initial_states=lambda: list(init),
        successors=lambda s: [t for _, _, t in nxt(s)],
        steps=lambda s: [Step(a, args, t) for a, args, t in nxt(s)],
        decode=lambda s: {"s": s},
        invariants=tuple(Invariant(n, f) for n, f in (invariants or {}).items()),
        transition_invariants=tuple(
            TransitionInvariant(n, f) for n, f in (transition_invariants or {}).items()),
        check_deadlock=check_deadlock,
        diagnose=diagnose,
        constants=constants or {},
    )


def counter(n, **kw):
    """0 -> 1 -> ... -> n-1 -> 0."""
    return make_model([0], lambda s: [("Inc", (), (s + 1) % n)], **kw)


def endless(**kw):
    """0 -> 1 -> 2 -> ... forever."""
    return make_model([0], lambda s: [("Inc", (), s + 1)], **kw)


def trace_states(result):
    return [step.state["s"] for step in result.violation.trace]


def trace_labels(result):
    return [step.label for step in result.violation.trace]


def counts(result):
    s = result.stats
    return s.distinct_states, s.generated_states, s.depth


# ---- counting, like TLC

def test_counter_counts():
    r = explore(counter(5, constants={"N": 5}))
    assert r.status is Status.OK
    # 1 initial state + 5 expansions with one successor each; levels {0}, {1}, ..., {4}.
    assert counts(r) == (5, 6, 5)
    assert r.violation is None and r.limit_reason is None
    assert r.engine == "explicit" and r.spec == "Test" and r.constants == {"N": 5}
    assert r.stats.queue_left == 0 and r.stats.elapsed_s >= 0
    assert r.stats.peak_memory_bytes > 0


def test_two_bit_toggler_counts():
    def nxt(s):
        a, b = s
        return [("FlipA", (), (1 - a, b)), ("FlipB", (), (a, 1 - b))]

    r = explore(make_model([(0, 0)], nxt))
    assert r.status is Status.OK
    # Levels {00}, {10, 01}, {11}; 4 states with 2 successors each, plus the initial one.
    assert counts(r) == (4, 9, 3)


def test_duplicates_count_as_generated():
    graph = {0: [1, 1, 0], 1: [0]}
    r = explore(make_model([0, 0, 1], lambda s: [("Go", (), t) for t in graph[s]]))
    # 3 initial states (2 distinct), then 3 + 1 successors; both states are in level 1.
    assert r.status is Status.OK
    assert counts(r) == (2, 7, 1)


def test_only_initial_states_have_depth_one():
    r = explore(make_model([3, 4], lambda s: []), check_deadlock=False)
    assert r.status is Status.OK
    assert counts(r) == (2, 2, 1)


def test_none_can_be_a_state():
    graph = {None: [1], 1: [None]}
    r = explore(make_model([None], lambda s: [("Go", (), t) for t in graph[s]],
                           invariants={"NotOne": lambda s: s != 1}))
    assert r.status is Status.VIOLATION
    assert trace_states(r) == [None, 1]


def test_two_phase_commit_matches_tlc():
    """Gray and Lamport's TwoPhase with 3 RMs: TLC reports 288 distinct states, 1146
    generated, depth 11."""
    rms = (0, 1, 2)

    def nxt(s):
        rm, tm, prepared, msgs = s
        out = []

        def set_rm(r, v):
            return rm[:r] + (v,) + rm[r + 1:]

        for r in rms:
            if tm == "init" and ("Prepared", r) in msgs:
                out.append(("TMRcvPrepared", (r,), (rm, tm, prepared | {r}, msgs)))
        if tm == "init" and prepared == frozenset(rms):
            out.append(("TMCommit", (), (rm, "committed", prepared, msgs | {("Commit",)})))
        if tm == "init":
            out.append(("TMAbort", (), (rm, "aborted", prepared, msgs | {("Abort",)})))
        for r in rms:
            if rm[r] == "working":
                out.append(("RMPrepare", (r,),
                            (set_rm(r, "prepared"), tm, prepared, msgs | {("Prepared", r)})))
                out.append(("RMChooseToAbort", (r,), (set_rm(r, "aborted"), tm, prepared, msgs)))
            if ("Commit",) in msgs:
                out.append(("RMRcvCommitMsg", (r,), (set_rm(r, "committed"), tm, prepared, msgs)))
            if ("Abort",) in msgs:
                out.append(("RMRcvAbortMsg", (r,), (set_rm(r, "aborted"), tm, prepared, msgs)))
        return out

    init = [(("working",) * 3, "init", frozenset(), frozenset())]

    def consistent(s):
        return not ("aborted" in s[0] and "committed" in s[0])

    r = explore(make_model(init, nxt, invariants={"Consistent": consistent},
                           check_deadlock=False))
    assert r.status is Status.OK
    assert counts(r) == (288, 1146, 11)
    assert r.properties == ("Consistent",)

    # And a shortest way to commit for one RM: 3 prepares, 3 receipts, commit, receive.
    r = explore(make_model(init, nxt, invariants={"NoCommit": lambda s: "committed" not in s[0]},
                           check_deadlock=False))
    assert r.status is Status.VIOLATION
    assert len(r.violation.trace) == 9
    labels = trace_labels(r)
    assert labels[0] is None and labels[-2:] == ["TMCommit", "RMRcvCommitMsg(0)"]


# ---- invariants and shortest counterexamples

def shortcut_model(**kw):
    # The long way to "bad" is listed first, so a depth-first search would find it first.
    graph = {
        "start": [("Long", ("a", 1), "a1"), ("Short", ("b",), "b1")],
        "a1": [("Long", ("a", 2), "a2")],
        "a2": [("Long", ("a", 3), "a3")],
        "a3": [("Long", ("a", 4), "bad")],
        "b1": [("Finish", (), "bad")],
        "bad": [("Stay", (), "bad")],
    }
    return make_model(["start"], lambda s: graph[s], invariants={"Good": lambda s: s != "bad"},
                      **kw)


def test_shortest_counterexample():
    r = explore(shortcut_model())
    assert r.status is Status.VIOLATION
    v = r.violation
    assert v.kind == "invariant" and v.property == "Good" and v.message is None
    assert trace_states(r) == ["start", "b1", "bad"]
    assert trace_labels(r) == [None, "Short(b)", "Finish"]
    assert [s.action for s in v.trace] == [None, "Short", "Finish"]
    assert v.trace[1].args == ("b",)
    # Found while expanding level 2: start, a1, b1, a2, bad are stored; 1 + 2 + 1 + 1
    # generated; "bad" is in level 3.
    assert counts(r) == (5, 5, 3)
    assert r.properties == ("Good",)


def test_labels_with_several_arguments():
    r = explore(shortcut_model(), max_depth=4, check_deadlock=False)
    assert r.status is Status.VIOLATION  # the limit does not hide a violation within it
    r = explore(make_model(["start"], lambda s: [("Move", (1, "r1", True), "end")]
                           if s == "start" else [], invariants={"NotEnd": lambda s: s != "end"}))
    assert trace_labels(r) == [None, "Move(1, r1, true)"]


def test_invariant_checked_on_initial_states():
    called = []

    def nxt(s):
        called.append(s)
        return [("Stay", (), s)]

    r = explore(make_model([1, 7, 8], nxt, invariants={"Not7": lambda s: s != 7}))
    assert r.status is Status.VIOLATION
    assert trace_states(r) == [7] and trace_labels(r) == [None]
    assert called == []  # no state was expanded
    assert counts(r) == (2, 2, 1)


def test_every_invariant_is_checked_in_order():
    r = explore(counter(10, invariants={"Below5": lambda s: s < 5, "Below3": lambda s: s < 3}))
    assert r.violation.property == "Below3"
    assert trace_states(r) == [0, 1, 2, 3]
    assert r.properties == ("Below5", "Below3")


def test_first_initial_state_first():
    r = explore(make_model([5, 6], lambda s: [], invariants={"Small": lambda s: s < 5}))
    assert trace_states(r) == [5]


def test_deterministic():
    first, *others = [explore(shortcut_model()) for _ in range(3)]
    assert all(r.violation == first.violation and counts(r) == counts(first) for r in others)


# ---- transition invariants

def test_transition_invariant_on_step_to_seen_state():
    # 3 -> 0 goes back to a state already seen; the step must be checked anyway.
    r = explore(counter(4, transition_invariants={"Increases": lambda p, s: s == p + 1}))
    assert r.status is Status.VIOLATION
    v = r.violation
    assert v.kind == "transition" and v.property == "Increases"
    assert trace_states(r) == [0, 1, 2, 3, 0]
    assert trace_labels(r) == [None, "Inc", "Inc", "Inc", "Inc"]
    assert counts(r) == (4, 5, 4)
    assert r.properties == ("Increases",)


def test_transition_invariant_last_step_is_the_offending_one():
    graph = {0: [("Up", (), 1), ("Jump", (), 5)], 1: [("Up", (), 2)], 2: [], 5: []}
    r = explore(make_model([0], lambda s: graph[s], check_deadlock=False,
                           transition_invariants={"Small": lambda p, s: s - p <= 1}))
    assert trace_states(r) == [0, 5]
    assert trace_labels(r) == [None, "Jump"]


def test_transition_invariant_holds():
    r = explore(counter(4, transition_invariants={"Moves": lambda p, s: s != p}))
    assert r.status is Status.OK
    assert counts(r) == (4, 5, 4)


# ---- deadlock

def chain(**kw):
    return make_model([0], lambda s: [("Next", (), s + 1)] if s < 2 else [], **kw)


def test_deadlock():
    r = explore(chain())
    assert r.status is Status.DEADLOCK
    v = r.violation
    assert v.kind == "deadlock" and v.property is None
    assert trace_states(r) == [0, 1, 2]
    assert counts(r) == (3, 3, 3)
    assert r.exit_code == 1


def test_no_deadlock_check():
    r = explore(chain(), check_deadlock=False)
    assert r.status is Status.OK
    assert counts(r) == (3, 3, 3)


def test_deadlock_option_of_the_model_and_its_override():
    assert explore(chain(check_deadlock=False)).status is Status.OK
    assert explore(chain(check_deadlock=False), check_deadlock=True).status is Status.DEADLOCK
    assert explore(chain(check_deadlock=True), check_deadlock=None).status is Status.DEADLOCK


def test_shallowest_deadlock_first():
    graph = {0: [1, 2], 1: [3], 2: [], 3: []}
    r = explore(make_model([0], lambda s: [("Go", (), t) for t in graph[s]]))
    assert trace_states(r) == [0, 2]


# ---- errors in the model

def test_successors_raise():
    def nxt(s):
        if s == 2:
            raise ValueError("bad thing")
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt))
    assert r.status is Status.ERROR
    v = r.violation
    assert v.kind == "error" and v.property is None
    assert "ValueError" in v.message and "bad thing" in v.message
    assert trace_states(r) == [0, 1, 2]
    assert r.exit_code == 2


def test_diagnose_gives_the_message():
    seen = []

    def diagnose(s):
        seen.append(s)
        return EvaluationError("x is out of range 0..2", s, "Inc")

    def nxt(s):
        if s == 3:
            raise IndexError("tuple index out of range")
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt, diagnose=diagnose))
    assert r.status is Status.ERROR
    assert seen == [3]
    assert "x is out of range 0..2" in r.violation.message
    assert "Inc" in r.violation.message and "IndexError" not in r.violation.message
    assert trace_states(r) == [0, 1, 2, 3]


def test_diagnose_without_an_answer_keeps_the_exception():
    def nxt(s):
        if s == 1:
            raise KeyError("k")
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt, diagnose=lambda s: None))
    assert r.status is Status.ERROR and "KeyError" in r.violation.message


def test_evaluation_error_from_successors():
    def nxt(s):
        if s == 1:
            raise EvaluationError("read outside the domain", s, "Read")
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt))
    assert r.status is Status.ERROR
    assert r.violation.message == "in action Read: read outside the domain"


def test_invariant_raises():
    r = explore(counter(10, invariants={"Inverse": lambda s: 1 / (s - 3) != 7}))
    assert r.status is Status.ERROR
    assert r.violation.message == "division by zero (while evaluating invariant Inverse)"
    assert trace_states(r) == [0, 1, 2, 3]


def test_transition_invariant_raises():
    r = explore(counter(10, transition_invariants={"T": lambda p, s: [0, 1, 2][s] >= 0}))
    assert r.status is Status.ERROR
    assert r.violation.message.startswith("a value was read outside its domain")
    assert trace_states(r) == [0, 1, 2, 3]
    assert trace_labels(r)[-1] == "Inc"


def test_initial_states_raise():
    def init():
        raise TypeError("no")

    model = counter(3)
    model.initial_states = init
    r = explore(model)
    assert r.status is Status.ERROR
    assert "TypeError" in r.violation.message and r.violation.trace == ()
    assert counts(r) == (0, 0, 0)


# ---- limits

def test_max_states():
    r = explore(counter(10), max_states=3)
    assert r.status is Status.LIMIT and r.limit_reason == "max states 3 reached"
    assert r.violation is None
    assert counts(r) == (3, 4, 3)
    assert r.exit_code == 3


def test_max_states_equal_to_the_state_space_is_complete():
    r = explore(counter(10), max_states=10)
    assert r.status is Status.OK and counts(r) == (10, 11, 10)


def test_max_depth():
    r = explore(counter(10), max_depth=3)
    assert r.status is Status.LIMIT and r.limit_reason == "max depth 3 reached"
    # Levels {0}, {1}, {2}; the states of level 3 are expanded (for deadlock and counting)
    # but what they lead to is not stored.
    assert counts(r) == (3, 4, 3)


def test_max_depth_hides_deeper_violations():
    r = explore(counter(10, invariants={"Small": lambda s: s < 5}), max_depth=5)
    assert r.status is Status.LIMIT and r.violation is None
    r = explore(counter(10, invariants={"Small": lambda s: s < 5}), max_depth=6)
    assert r.status is Status.VIOLATION


def test_max_depth_that_cuts_nothing_is_complete():
    r = explore(counter(5), max_depth=5)
    assert r.status is Status.OK and counts(r) == (5, 6, 5)
    r = explore(counter(5), max_depth=4)
    assert r.status is Status.LIMIT and counts(r) == (4, 5, 4)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        explore(counter(3), max_states=0)
    with pytest.raises(ValueError):
        explore(counter(3), max_depth=0)


def test_time_limit():
    t0 = time.perf_counter()
    r = explore(endless(), time_limit=0.1, max_states=3_000_000)  # (no hang if broken)
    wall = time.perf_counter() - t0
    assert r.status is Status.LIMIT and r.limit_reason == "time limit of 0.1s reached"
    assert 0.1 <= r.stats.elapsed_s <= wall < 2
    d, g, depth = counts(r)
    assert d > 100 and g == d and depth == d
    assert r.stats.queue_left in (0, 1)


def test_time_limit_with_slow_successors():
    def nxt(s):
        time.sleep(0.002)
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt), time_limit=0.2, max_states=1000)
    assert r.status is Status.LIMIT
    assert r.stats.elapsed_s < 1.0  # the clock is read often enough


def test_time_limit_within_a_wide_level():
    def nxt(s):
        time.sleep(0.001)
        return [("Stay", (), s)]

    # One level of 2000 states that takes 2 s or more to expand.
    r = explore(make_model(range(2000), nxt), time_limit=0.1)
    assert r.status is Status.LIMIT
    assert r.stats.elapsed_s < 1.0
    assert 0 < r.stats.queue_left < 2000
    assert r.stats.generated_states == 2000 + 2000 - r.stats.queue_left


@pytest.mark.parametrize("exc, reason", [(KeyboardInterrupt, "interrupted"),
                                         (MemoryError, "out of memory")])
def test_interrupt_and_out_of_memory(exc, reason):
    def nxt(s):
        if s == 4:
            raise exc()
        return [("Inc", (), s + 1)]

    r = explore(make_model([0], nxt))
    assert r.status is Status.LIMIT and r.limit_reason == reason
    assert r.violation is None
    assert counts(r) == (5, 5, 5)
    assert r.stats.queue_left == 1


def test_progress():
    infos: list[ProgressInfo] = []
    r = explore(endless(), time_limit=0.5, max_states=5_000_000, progress=infos.append,
                progress_interval=0.1)
    assert r.status is Status.LIMIT
    assert 2 <= len(infos) <= 6
    for a, b in itertools.pairwise(infos):
        assert b.elapsed_s - a.elapsed_s >= 0.1
        assert b.distinct > a.distinct and b.generated > a.generated and b.depth > a.depth
    assert all(i.distinct <= r.stats.distinct_states and i.queue >= 0 for i in infos)
    with pytest.raises(Exception):  # noqa: B017 (frozen dataclass)
        infos[0].distinct = 1


def test_no_progress_before_the_interval():
    infos = []
    explore(counter(50000), progress=infos.append, progress_interval=60)
    assert infos == []


# ---- random graphs: BFS against an independent shortest-distance computation

@st.composite
def graphs(draw):
    n = draw(st.integers(1, 8))
    node = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(node, node), max_size=20))
    inits = draw(st.lists(node, min_size=1, max_size=3))
    bad = draw(st.sets(node, max_size=3))
    return n, edges, inits, bad


def graph_model(edges, inits, bad=frozenset(), **kw):
    def nxt(s):
        return [(f"e{k}", (), v) for k, (u, v) in enumerate(edges) if u == s]

    return make_model(inits, nxt, invariants={"NotBad": lambda s: s not in bad}, **kw)


def distances(n, edges, inits):
    """Shortest distances from the initial states by Bellman-Ford relaxation."""
    inf = float("inf")
    dist = [inf] * n
    for i in inits:
        dist[i] = 0
    for _ in range(n):
        for u, v in edges:
            dist[v] = min(dist[v], dist[u] + 1)
    return {s: int(d) for s, d in enumerate(dist) if d != inf}


def assert_valid_path(result, edges, inits):
    trace = result.violation.trace
    assert trace[0].state["s"] in inits and trace[0].action is None
    for pre, post in itertools.pairwise(trace):
        k = int(post.action[1:])
        assert edges[k] == (pre.state["s"], post.state["s"])


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_random_graphs(g):
    n, edges, inits, bad = g
    dist = distances(n, edges, inits)
    outdeg = {s: sum(1 for u, _ in edges if u == s) for s in range(n)}

    # No property: the whole reachable graph.
    r = explore(graph_model(edges, inits), check_deadlock=False)
    assert r.status is Status.OK
    assert r.stats.distinct_states == len(dist)
    assert r.stats.generated_states == len(inits) + sum(outdeg[s] for s in dist)
    assert r.stats.depth == max(dist.values()) + 1

    # Bad states: a shortest counterexample when one is reachable.
    r = explore(graph_model(edges, inits, bad), check_deadlock=False)
    reachable_bad = [dist[b] for b in bad if b in dist]
    if reachable_bad:
        assert r.status is Status.VIOLATION
        assert len(r.violation.trace) == min(reachable_bad) + 1
        assert r.violation.trace[-1].state["s"] in bad
        assert_valid_path(r, edges, inits)
    else:
        assert r.status is Status.OK and r.stats.distinct_states == len(dist)

    # Deadlock: the shallowest state without successors.
    r = explore(graph_model(edges, inits))
    sinks = [dist[s] for s in dist if outdeg[s] == 0]
    if sinks:
        assert r.status is Status.DEADLOCK
        assert len(r.violation.trace) == min(sinks) + 1
        assert outdeg[r.violation.trace[-1].state["s"]] == 0
        assert_valid_path(r, edges, inits)
    else:
        assert r.status is Status.OK

    # max_depth: exactly the states at distance < max_depth.
    for max_depth in (1, 2, 3):
        r = explore(graph_model(edges, inits), check_deadlock=False, max_depth=max_depth)
        within = [s for s, d in dist.items() if d < max_depth]
        assert r.stats.distinct_states == len(within)
        complete = len(within) == len(dist)
        assert r.status is (Status.OK if complete else Status.LIMIT)


def test_readable_constants_pass_through():
    consts = {"RM": SetValue(("r1", "r2")), "M": MapValue(((1, True),))}
    r = explore(counter(2, constants=consts))
    assert r.constants == consts


def test_garbage_collector_state_is_restored():
    import gc

    assert gc.isenabled()
    explore(counter(3))
    explore(counter(3, invariants={"Boom": lambda s: 1 / 0}))
    assert gc.isenabled()
    gc.disable()
    try:
        explore(counter(3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_handover_by_memory_comes_a_level_before_the_limit_would_be_passed(monkeypatch):
    """``handover_rss``: the process's memory now plus what the last level added."""
    from checker import explore as explore_module
    from checker.explore import Handover
    from checker.parallel import ModelSpec

    model, _ = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",)).build()
    readings = itertools.count(100, 100)        # 100, 200, 300, ... after each level
    monkeypatch.setattr(explore_module, "current_rss", lambda: next(readings))
    got = explore(model, handover_rss=350)
    assert isinstance(got, Handover)
    assert got.level == 4       # handed over after level 3: 300 + 100 would pass 350


# ---- run-time errors under symmetry

ERROR_UNDER_SYMMETRY = """spec Err
const Nodes = {n1, n2, n3}
symmetry Nodes
var b: bag[Nodes, 1]
var ready: set[Nodes]
var k: map[Nodes, 0..2]
init:
    b = {}
    ready = {}
    k = {n: 0 for n in Nodes}
action Bump(n in Nodes):
    require k[n] < 2
    k[n] = k[n] + 1
action Ready(n in Nodes):
    require k[n] == 2 and n notin ready
    ready = ready | {n}
action Take(n in ready):
    BODY
invariant I: INV
"""


@pytest.mark.parametrize("where", ["action", "invariant"])
@pytest.mark.parametrize("engine", ["explore", "compact", "two workers", "two fp workers"])
def test_an_error_under_symmetry_names_the_elements_of_the_printed_trace(where, engine):
    # The error was evaluated in the orbit's stored representative, which holds `n3`
    # where the printed (concrete) trace holds `n1`: "take: a bag holds no copy of n3"
    # below a trace whose only possible step is Take(n1).
    from checker.fingerprints import explore_compact
    from checker.parallel import ModelSpec, explore_parallel

    body, inv = (("b = take(b, n)", "true") if where == "action" else
                 ("require false", "forall n in ready: count(take(b, n), n) >= 0"))
    text = ERROR_UNDER_SYMMETRY.replace("BODY", body).replace("INV", inv)
    recipe = ModelSpec.from_file("err.spec", symmetry=True, text=text, check_deadlock=False)
    if engine == "explore":
        model, canonical = recipe.build()
        got = explore(model, canonical=canonical)
    elif engine == "compact":
        got = explore_compact(recipe)
    else:
        got = explore_parallel(recipe, workers=2, fingerprints=engine == "two fp workers")
    assert got.status is Status.ERROR
    last = got.violation.trace[-1].state
    (taken,) = [str(n) for n in last["ready"].items]
    assert f"holds no copy of {taken}" in got.violation.message
    others = {"n1", "n2", "n3"} - {taken}
    assert not any(f"copy of {n}" in got.violation.message for n in others)
