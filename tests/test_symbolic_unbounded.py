"""Unbounded proofs (``modelcheck prove --unbounded``): node sets as uninterpreted
sorts, CTIs as finite models that are CTIs of the bounded model too, the decidable-fragment
check, clear errors for what has no first-order meaning, and agreement with the bounded
prover (proved for any number of nodes implies proved for three)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.api import load_spec
from checker.cli import main
from checker.render.proof import proof_to_json, render_proof
from checker.source import Source, SpecError
from checker.symbolic import prove_report
from checker.symbolic import unbounded as U
from checker.symbolic.common import find_step

SPECS = Path(__file__).resolve().parent.parent / "specs"
TWO_PC = SPECS / "2pc.spec"

# The lemmas of the fault-free two-phase commit proof (docs/tutorial-proofs.md).
LEMMAS_2PC = {
    "CommitMsg": "lemma CommitMsg: Commit in msgs implies tmState == committed",
    "AbortMsg": "lemma AbortMsg: Abort in msgs implies tmState == aborted",
    "TMCommitted": "lemma TMCommitted: tmState == committed implies tmPrepared == RM",
    "TMPrepared": "lemma TMPrepared: forall r in RM: r in tmPrepared implies Prepared(r) in msgs",
    "PreparedMsg": "lemma PreparedMsg: forall r in RM: Prepared(r) in msgs implies "
                   "rmState[r] != working",
    "RMCommitted": "lemma RMCommitted: forall r in RM: rmState[r] == committed implies "
                   "Commit in msgs",
    "RMAborted": "lemma RMAborted: forall r in RM: rmState[r] == aborted implies "
                 "(Abort in msgs or Prepared(r) notin msgs)",
}

TWO_PC_CORE = """
spec TwoPhaseCore
const RM = {r1, r2, r3}
symmetry RM
option deadlock = false
enum RMState = working | prepared | committed | aborted
enum TMState = init | committed | aborted
message Prepared(rm: RM)
message Commit
message Abort
var rmState: map[RM, RMState]
var tmState: TMState
var tmPrepared: set[RM]
var msgs: set[Message]
init:
    rmState = {r: working for r in RM}
    tmState = init
    tmPrepared = {}
    msgs = {}
action TMRcvPrepared(r in RM):
    require tmState == init and Prepared(r) in msgs
    tmPrepared = tmPrepared | {r}
action TMCommit:
    require tmState == init and tmPrepared == RM
    tmState = committed
    msgs = msgs | {Commit}
action TMAbort:
    require tmState == init
    tmState = aborted
    msgs = msgs | {Abort}
action RMPrepare(r in RM):
    require rmState[r] == working
    rmState[r] = prepared
    msgs = msgs | {Prepared(r)}
action RMChooseToAbort(r in RM):
    require rmState[r] == working
    rmState[r] = aborted
action RMRcvCommitMsg(r in RM):
    require Commit in msgs
    rmState[r] = committed
action RMRcvAbortMsg(r in RM):
    require Abort in msgs
    rmState[r] = aborted
invariant Consistent:
    forall r1, r2 in RM: not (rmState[r1] == aborted and rmState[r2] == committed)
"""


def core_spec(lemmas=tuple(LEMMAS_2PC)) -> str:
    return TWO_PC_CORE + "\n".join(LEMMAS_2PC[n] for n in lemmas) + "\n"


def unbounded(text: str, name: str = "/tmp/unb_test.spec", consts=(), **kw):
    compiled = load_spec(name, consts, text=text)
    return U.prove_unbounded_report(compiled, Source(name, text), **kw)


def cell(report, conjunct: str, action: str) -> str:
    ob = report.obligation(conjunct, action)
    assert ob is not None
    return ob.status


# ------------------------------------------------------------------ proofs
def test_2pc_proves_unbounded_from_the_command_line():
    result = CliRunner().invoke(main, ["prove", str(TWO_PC), "--unbounded"])
    assert result.exit_code == 0, result.output
    assert "for any number of RM" in result.output
    assert "Decidable fragment" in result.output
    assert "Proved: the conjunction is inductive" in result.output
    assert "Fault budget" not in result.output


def test_the_output_says_the_fault_budget_is_not_applied():
    result = CliRunner().invoke(main, ["prove", str(TWO_PC), "--unbounded", "--faults",
                                       "crash,restart", "--inv", "Consistent"])
    assert "(at most 4 per behaviour)" in result.output      # the spec's budget ...
    assert "Fault budget: not applied (any number of fault steps" in result.output


def test_core_2pc_proves_with_the_tutorial_lemmas():
    report = unbounded(core_spec())
    assert report.proved
    assert report.sorts == ("RM",)
    assert report.fragment is not None and not report.fragment.cycles
    data = proof_to_json(report)
    assert data["unbounded"]["sorts"] == ["RM"] and data["unbounded"]["decidable"]


def test_a_missing_lemma_gives_a_cti_with_a_finite_model():
    report = unbounded(core_spec([n for n in LEMMAS_2PC if n != "PreparedMsg"]))
    assert not report.proved and report.result.exit_code == 1
    ctis = {(o.conjunct, o.action) for o in report.ctis}
    # Without PreparedMsg an RM may abort on its own after its vote was counted.
    assert ("RMAborted", "RMChooseToAbort") in ctis
    ob = report.obligation("RMAborted", "RMChooseToAbort")
    assert ob.verdict == U.UNBOUNDED_VERDICT
    assert any(re.match(r"RM has \d elements?: RM!0", line) for line in ob.universe)
    text = render_proof(report)
    assert "Model: RM has" in text and "unbounded CTI: check with bounded constants" in text


def _replay(text: str, ob: U.UnboundedObligation, conjuncts) -> None:
    """The CTI at the size of its model is a CTI of the bounded model: the pre-state
    satisfies every conjunct, the step is a step of the explicit model, and the
    conjunct is false after it."""
    elements = dict(ob.elements)["RM"]
    members = [f"r{i + 1}" for i in range(len(elements))]
    bounded = load_spec("/tmp/unb_test.spec", [f"RM={{{', '.join(members)}}}"], text=text)
    pre, post = U.bounded_states(bounded, ob, dict(zip(elements, members)))
    holds = {i.name: i.holds for i in bounded.model.invariants}
    assert all(holds[c](pre) for c in conjuncts)
    assert not holds[ob.conjunct](post)
    assert find_step(bounded, pre, post, ob.action) is not None


def test_unbounded_ctis_are_ctis_of_the_bounded_model():
    text = core_spec([n for n in LEMMAS_2PC if n not in ("PreparedMsg", "TMCommitted")])
    report = unbounded(text)
    assert report.ctis
    for ob in report.ctis:
        _replay(text, ob, report.conjuncts)


def test_the_seeded_bug_is_not_proved():
    text = (SPECS / "buggy" / "2pc_early_commit.spec").read_text()
    text += "\n" + "\n".join(LEMMAS_2PC.values()) + "\n"
    report = unbounded(text)
    assert not report.proved
    assert report.ctis


# ------------------------------------------------------------- the fragment
CYCLE = """
spec Succ
const N = {n1, n2, n3}
symmetry N
var next: map[N, set[N]]
var seen: set[N]
init:
    next = {n: {} for n in N}
    seen = {}
action Link(a in N, b in N):
    next[a] = next[a] | {b}
    seen = seen | {a}
lemma HasSucc: forall a in N: a in seen implies exists b in N: b in next[a]
"""


def test_an_alternation_cycle_is_explained_in_plain_words():
    report = unbounded(CYCLE, timeout_s=5)
    frag = report.fragment
    assert frag.cycles
    text = "\n".join(frag.lines())
    assert "Outside the decidable fragment" in text
    assert "cycle N -> N" in text
    assert "invariant HasSucc" in text
    assert "may answer unknown" in text
    # It still tries, and this one it proves.
    assert report.result.exit_code in (0, 3)


def test_an_acyclic_proof_says_decidable():
    report = unbounded(core_spec())
    assert report.fragment.lines()[0].startswith("Decidable fragment")


# ---------------------------------------------------------------- errors
SIZE = """
spec Sized
const N = {n1, n2, n3}
symmetry N
var s: set[N]
init:
    s = {}
action Add(n in N):
    s = s | {n}
invariant Small: size(s) <= 3
"""


def test_the_size_of_a_set_over_a_sort_is_a_clear_error(tmp_path):
    path = tmp_path / "sized.spec"
    path.write_text(SIZE)
    result = CliRunner().invoke(main, ["prove", str(path), "--unbounded"])
    assert result.exit_code == 2
    assert f"{path}:10:18: error:" in result.output
    assert "size(s)" in result.output and "unknown size" in result.output
    assert "Traceback" not in result.output


def test_a_spec_without_symmetry_is_refused():
    text = SIZE.replace("symmetry N\n", "")
    with pytest.raises(SpecError, match="no `symmetry`"):
        unbounded(text)


# ----------------------------------------------- agreement with the bounded
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(sorted(LEMMAS_2PC)), max_size=3))
def test_proved_unbounded_implies_proved_bounded(dropped):
    text = core_spec([n for n in LEMMAS_2PC if n not in dropped])
    free = unbounded(text)
    bounded = prove_report(load_spec("/tmp/unb_test.spec", text=text), minimize=False,
                           reach_max_states=1)
    for ob in free.obligations:
        if ob.status == "ok":
            assert bounded.obligation(ob.conjunct, ob.action).status == "ok", \
                (ob.conjunct, ob.action)
    assert not free.proved or bounded.proved


# ---------------------------------------------------------------- unknown
def test_unknown_is_inconclusive_exit_3(monkeypatch):
    monkeypatch.setattr(U._Solver, "check", lambda self: U.z3.unknown)
    result = CliRunner().invoke(main, ["prove", str(TWO_PC), "--unbounded",
                                       "--solver-timeout", "1"])
    assert result.exit_code == 3, result.output
    assert "Inconclusive" in result.output and "Proved" not in result.output


def test_smt2_dumps_every_query(tmp_path):
    report = unbounded(core_spec(), smt2_dir=str(tmp_path))
    files = sorted(tmp_path.glob("*.smt2"))
    assert report.proved and files
    assert any("(declare-sort RM" in f.read_text() for f in files)


# ------------------------------------------------ Paxos, and the frame shortcut
def test_paxos_with_two_ballots_is_proved_for_any_number_of_acceptors():
    """Majority quorums as a sort with the intersection axiom are enough for the whole
    Paxos invariant (ballots 0..1; the spec's 0..2 needs more solver time than a test)."""
    text = (SPECS / "paxos.spec").read_text()
    report = unbounded(text, str(SPECS / "paxos.spec"), consts=["MaxBallot=1"],
                       timeout_s=60)
    assert report.result.status.value == "ok", render_proof(report)
    assert report.quorums


def test_same_formula_ignores_bound_names_only():
    import z3

    s = z3.DeclareSort("N")
    p = z3.Function("p", s, z3.BoolSort())
    a, b = z3.Const("a!1", s), z3.Const("b!2", s)
    c, d = z3.Const("c", s), z3.Const("d", s)
    assert U._same_formula(z3.ForAll(a, p(a)), z3.ForAll(b, p(b)))
    assert U._same_formula(z3.And(z3.ForAll(a, p(a)), p(c)), z3.And(z3.ForAll(b, p(b)), p(c)))
    assert not U._same_formula(z3.And(z3.ForAll(a, p(a)), p(c)),
                               z3.And(z3.ForAll(b, p(b)), p(d)))
    assert not U._same_formula(z3.ForAll(a, p(a)), z3.Exists(b, p(b)))
    q = z3.Function("q", s, z3.BoolSort())
    assert not U._same_formula(z3.ForAll(a, p(a)), z3.ForAll(a, q(a)))


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_stops_the_unbounded_proof_with_what_it_checked(monkeypatch):
    # Z3 takes a Ctrl-C during a query itself and answers unknown; the prover went on
    # with the next query, and the next, as if nothing had been asked.
    from checker.symbolic.common import raise_if_interrupted

    original = U._Solver.check
    calls = [0]

    def check(self):
        calls[0] += 1
        if calls[0] > 20:
            raise_if_interrupted("interrupted from keyboard")
        return original(self)

    monkeypatch.setattr(U._Solver, "check", check)
    result = CliRunner().invoke(main, ["prove", str(TWO_PC), "--unbounded"])
    assert result.exit_code == 3, result.output
    assert "Inconclusive: interrupted (Ctrl-C) after" in result.output
    assert "of 88 obligations" in result.output
