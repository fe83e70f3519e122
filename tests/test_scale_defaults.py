"""The CLI's default engine (one process, then one worker per core once a level is wide
enough), the exchange format between workers, and the transition-invariant shortcut:
the same counts and verdicts as the single-process search."""

from __future__ import annotations

from array import array

import pytest

from checker.explore import Handover, explore, next_state_reads, transition_checker
from checker.model import Invariant, Model, Step, TransitionInvariant
from checker.parallel import ModelSpec, explore_parallel, pack, unpack
from checker.result import Status

CASES = [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), False),
    ("specs/paxos.spec", ("MaxBallot=1",), False),
    ("specs/paxos.spec", ("MaxBallot=1",), True),
    ("specs/buggy/2pc_early_commit.spec", (), False),
    ("specs/buggy/paxos_ignore_1b_values.spec", ("MaxBallot=1",), False),
]


def summary(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, v and v.kind, v and v.property, v and len(v.trace))


@pytest.mark.parametrize("path,consts,symmetry", CASES)
@pytest.mark.parametrize("handover_at", [1, 50])
def test_handover_to_workers_keeps_counts_and_verdicts(path, consts, symmetry, handover_at):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    model, canonical = recipe.build()
    one = explore_parallel(recipe, workers=1)
    two = explore_parallel(recipe, workers=2, handover_at=handover_at)
    assert summary(two) == summary(one)
    if one.status is Status.OK:
        assert summary(two) == summary(explore(model, canonical=canonical))


def test_a_small_state_space_stays_in_one_process():
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
    model, canonical = recipe.build()
    r = explore_parallel(recipe, workers=2, handover_at=10_000)
    assert r.engine == "explicit"
    assert summary(r) == summary(explore(model, canonical=canonical))


def test_explore_hands_over_at_the_end_of_a_wide_level():
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))
    model, _ = recipe.build()
    h = explore(model, handover_at=20)
    assert isinstance(h, Handover)
    assert len(h.frontier) >= 20
    assert list(h.seen)[-len(h.frontier):] == h.frontier


class Odd:
    """A state marshal cannot write (batches fall back to pickle)."""

    def __eq__(self, other):
        return isinstance(other, Odd)

    def __hash__(self):
        return 1


def test_batches_round_trip_with_marshal_and_pickle():
    refs = array("q", [3, -1, 7])
    states = [(1, 2), (3, None), (True, "x")]
    payload = pack(refs, states)
    assert payload[:1] == b"m"
    back_refs, back = unpack(payload)
    assert list(back_refs) == [3, -1, 7] and back == states
    payload = pack(array("q", [0]), [Odd()])
    assert payload[:1] == b"p" and unpack(payload)[1] == [Odd()]


def test_next_state_reads_of_compiled_transition_invariants():
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3}",))
    model, _ = recipe.build()
    (inv,) = [i for i in model.transition_invariants if i.name == "DecisionsDurable"]
    get = next_state_reads(inv.holds)
    assert get is not None
    # rmState and tmState only
    s = tuple(range(len(model.variables)))
    assert get(s) == (model.variables.index("rmState"), model.variables.index("tmState"))
    # hand-written functions are evaluated in full
    assert next_state_reads(lambda s, t: s[0] == t[0]) is None


def _counter(limit: int, bad_at: int | None):
    def succ(s):
        return [s, s + 1] if s < limit else [s]

    def steps(s):
        return [Step("inc", (), t) for t in succ(s)]

    def never_decreases(s, t):
        w0, = (t,) if not isinstance(t, tuple) else t
        return bad_at is None or w0 != bad_at

    return Model("counter", ("x",), lambda: [0], succ, steps, lambda s: {"x": s},
                 (Invariant("any", lambda s: True),),
                 (TransitionInvariant("never", never_decreases),), check_deadlock=False)


def test_transition_checker_finds_the_first_failure_in_order():
    holds_a = lambda s, t: t != (2,)  # noqa: E731
    holds_b = lambda s, t: t != (1,)  # noqa: E731
    check = transition_checker((holds_a, holds_b))
    assert check((0,), [(0,), (1,), (2,)])[:2] == (1, holds_b)
    assert check((0,), [(0,), (2,), (1,)])[:2] == (1, holds_a)
    assert check((0,), [(0,)]) is None


def test_transition_invariant_violation_same_in_every_engine():
    m = _counter(5, 3)
    expected = summary(explore(m))
    assert expected[0] is Status.VIOLATION
    assert summary(explore_parallel(m, workers=2, handover_at=1)) == summary(
        explore_parallel(m, workers=1))
