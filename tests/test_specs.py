"""The shipped specs: verdicts and exact state counts (TLC's figures and the independent
transcriptions in tests/reference_models.py), and the seeded bugs' shortest
counterexamples. Counts are of the full state space (no symmetry reduction)."""

from __future__ import annotations

from pathlib import Path

import pytest
import reference_models as ref

from checker.api import load_spec
from checker.explore import explore
from checker.result import Status
from checker.values import format_value

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def check(path: Path, **consts):
    compiled = load_spec(str(path), consts={k: str(v) for k, v in consts.items()})
    return explore(compiled.model)


def counts(result):
    s = result.stats
    return s.distinct_states, s.generated_states, s.depth


# ------------------------------------------------------------------------- 2pc
def test_2pc_three_rms_matches_tlc():
    result = check(SPECS / "2pc.spec")
    assert result.status is Status.OK and result.exit_code == 0
    assert result.violation is None
    assert counts(result) == (288, 1146, 11)
    assert "Consistent" in result.properties
    assert format_value(result.constants["RM"]) == "{r1, r2, r3}"


@pytest.mark.parametrize(("rms", "n"), [("{r1, r2, r3, r4}", 4), ("{r1, r2, r3, r4, r5}", 5)])
def test_2pc_more_rms_matches_the_reference_model(rms, n):
    result = check(SPECS / "2pc.spec", RM=rms)
    assert result.status is Status.OK
    assert (result.stats.distinct_states, result.stats.generated_states) == ref.two_phase(n)


def test_2pc_four_rms_counts():
    # Pinned too, so that a change in the reference model cannot hide a regression.
    assert counts(check(SPECS / "2pc.spec", RM="{r1, r2, r3, r4}")) == (1568, 8258, 14)
    assert ref.two_phase(4) == (1568, 8258)


# ----------------------------------------------------------------------- paxos
@pytest.mark.parametrize("max_ballot", [0, 1])
def test_paxos_matches_the_reference_model(max_ballot):
    result = check(SPECS / "paxos.spec", MaxBallot=max_ballot)
    assert result.status is Status.OK
    assert (result.stats.distinct_states, result.stats.generated_states) == ref.paxos(
        3, 2, max_ballot)
    assert result.constants["MaxBallot"] == max_ballot


def test_paxos_max_ballot_one_counts():
    assert counts(check(SPECS / "paxos.spec", MaxBallot=1)) == (3921, 23703, 17)
    assert counts(check(SPECS / "paxos.spec", MaxBallot=0)) == (73, 316, 9)


def test_paxos_other_constants_match_the_reference_model():
    result = check(SPECS / "paxos.spec", MaxBallot=1, Acceptors="{a1, a2}")
    assert (result.stats.distinct_states, result.stats.generated_states) == ref.paxos(2, 2, 1)
    result = check(SPECS / "paxos.spec", MaxBallot=1, Values="{v1}")
    assert (result.stats.distinct_states, result.stats.generated_states) == ref.paxos(3, 1, 1)


@pytest.mark.slow
def test_paxos_max_ballot_two():
    result = check(SPECS / "paxos.spec")  # the spec's default MaxBallot = 2
    assert result.status is Status.OK
    assert counts(result)[:2] == (185_369, 1_368_130)
    assert counts(result)[:2] == ref.paxos(3, 2, 2)


# ------------------------------------------------------------------ seeded bugs
BUGGY = {
    # spec file: (property, states in the shortest counterexample)
    "2pc_early_commit.spec": ("Consistent", 6),
    "paxos_ignore_1b_values.spec": ("Agreement", 13),
    "paxos_no_ballot_check.spec": ("Agreement", 13),
}


def test_every_buggy_spec_has_an_expectation():
    assert sorted(p.name for p in (SPECS / "buggy").glob("*.spec")) == sorted(BUGGY)


@pytest.mark.parametrize("name", sorted(BUGGY))
def test_seeded_bug_is_found_with_its_shortest_counterexample(name):
    prop, length = BUGGY[name]
    result = check(SPECS / "buggy" / name)
    assert result.status is Status.VIOLATION and result.exit_code == 1
    v = result.violation
    assert v.kind == "invariant" and v.property == prop
    assert len(v.trace) == length
    assert v.trace[0].action is None and all(s.action for s in v.trace[1:])
    # The search stops at the level of the bad state: BFS found the shortest path.
    assert result.stats.depth == length


def test_2pc_early_commit_counterexample():
    result = check(SPECS / "buggy" / "2pc_early_commit.spec")
    trace = result.violation.trace
    last = {k: format_value(v) for k, v in trace[-1].state.items()}
    assert "committed" in last["rmState"] and "aborted" in last["rmState"]
    assert last["tmState"] == "committed"
    assert [s.action for s in trace] == [None, "RMPrepare", "TMRcvPrepared", "TMCommit",
                                         "RMChooseToAbort", "RMRcvCommitMsg"]


def test_paxos_bugs_choose_two_values():
    for name in ("paxos_ignore_1b_values.spec", "paxos_no_ballot_check.spec"):
        result = check(SPECS / "buggy" / name)
        msgs = format_value(result.violation.trace[-1].state["msgs"])
        assert "val=v1" in msgs and "val=v2" in msgs


def test_the_fixed_specs_hold_where_the_buggy_ones_fail():
    assert check(SPECS / "paxos.spec", MaxBallot=1).status is Status.OK
    assert check(SPECS / "2pc.spec").status is Status.OK
