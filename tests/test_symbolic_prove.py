"""Inductive proofs: the shipped proofs, CTIs and their verdicts, sanity checks, bad
input, and the proof report's rendering."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.explore import explore
from checker.render.proof import proof_to_json, render_proof, render_proof_json
from checker.render.text import render_text
from checker.result import Status
from checker.source import SpecError
from checker.symbolic import INIT, bmc, prove, prove_report

SPECS = Path(__file__).resolve().parent.parent / "specs"

COUNTER = """
spec Counter
var x: 0..5
var done: bool
init:
    x = 0
    done = false
action Inc:
    require x < 5
    x = x + 1
action Finish:
    require x >= 2
    done = true
invariant Small: x <= 3
lemma DoneLate: done implies x >= 2
"""

VACUOUS = """
spec Vacuous
var x: 0..3
init:
    x = 0
action Inc:
    require x < 3
    x = x + 1
action Never:
    require x > 5 - 3 and x < 2
    x = 0
invariant Low: x <= 3
lemma Contradiction: x == 1 and x == 2
"""

NO_INVARIANTS = """
spec Nothing
var x: 0..1
init:
    x = 0
action Flip:
    x = 1 - x
"""

ONLY_TRANSITION = """
spec OnlySteps
var x: 0..1
init:
    x = 0
action Flip:
    x = 1 - x
transition invariant Flips: x' != x
"""

FAULTY = """
spec Faulty
const Nodes = {n1, n2}
var up: map[Nodes, bool]
var count: 0..2
init:
    up = {n: true for n in Nodes}
    count = 0
action Work(n in Nodes):
    require up[n] and count < 2
    count = count + 1
fault action Crash(n in Nodes):
    up[n] = false
invariant SomeUp: exists n in Nodes: up[n]
"""

HUGE_SUBSETS = """
spec Huge
var s: set[0..15]
init:
    s = {}
action Add(i in 0..15):
    s = s | {i}
invariant Many: size(subsets(s)) >= 1
"""


def load(name, text=None, consts=(), faults=()):
    if text is not None:
        return load_spec(f"{name}.spec", consts, faults, text=text)
    return load_spec(str(SPECS / name), consts, faults)


# ------------------------------------------------------------ shipped proofs
@pytest.mark.parametrize("rms", ["{r1,r2,r3}", "{r1,r2,r3,r4,r5}"])
def test_two_phase_commit_is_proved(rms):
    report = prove_report(load("2pc.spec", consts=[f"RM={rms}"]))
    assert report.result.status is Status.OK, render_proof(report)
    # Consistent, NotBlocked and nine lemmas; seven actions and init.
    assert report.conjuncts[0] == "Consistent" and len(report.conjuncts) == 11
    assert len(report.obligations) == 11 * 8
    assert all(s.status == "ok" for s in report.sanity)


def test_paxos_agreement_is_proved_with_three_ballots():
    compiled = load("paxos.spec")  # 3 acceptors, 2 values, MaxBallot = 2
    report = prove_report(compiled)
    assert report.result.status is Status.OK, render_proof(report)
    assert "Agreement" in report.conjuncts and len(report.actions) == 4
    assert all(s.status == "ok" for s in report.sanity)


def test_paxos_agreement_is_proved_under_its_faults():
    """Loss of 1a/1b messages and crash-restart with durable acceptor state keep the same
    invariant inductive: the proof covers the faulty protocol too."""
    report = prove_report(load("paxos.spec", consts=["MaxBallot=1"], faults=["all"]))
    assert report.result.status is Status.OK, render_proof(report)
    assert {"Crash", "Restart", "Lose"} <= set(report.actions)


def test_2pc_lemmas_under_crashes_fail_from_reachable_states():
    """The 2PC proof is of the protocol without faults. With the TM's crash switched on,
    the lemmas that say so (NoCrash; TMCommitted, since the TM forgets its votes) fail
    from reachable pre-states, each with its path: the prover says the protocol changed,
    not that the invariant is too weak."""
    report = prove_report(load("2pc.spec", faults=["TMCrash"]))
    assert report.result.status is Status.VIOLATION
    reachable = {(cti.action, cti.conjunct) for cti in report.ctis if cti.reachable}
    assert {("TMCrash", "NoCrash"), ("TMCrash", "TMCommitted")} <= reachable, \
        render_proof(report)


def test_lemmas_do_not_change_the_state_space():
    r = explore(load("2pc.spec").model)
    assert (r.status, r.stats.distinct_states) == (Status.OK, 288)
    r = explore(load("paxos.spec", consts=["MaxBallot=1"]).model)
    assert (r.status, r.stats.distinct_states) == (Status.OK, 3921)


# ------------------------------------------------------------------- CTIs
def test_safety_alone_is_not_inductive_2pc():
    compiled = load("2pc.spec")
    report = prove_report(compiled, ["Consistent"])
    result = report.result
    assert result.status is Status.VIOLATION and result.engine == "prove"
    assert {o.action for o in report.ctis} == {"RMChooseToAbort", "RMRcvCommitMsg",
                                               "RMRcvAbortMsg"}
    for o in report.ctis:
        assert o.reachable is False
        assert o.verdict == "unreachable: strengthen the invariant"
        pre, post = o.cti.trace
        assert post.action == o.action and len(post.args) == 1
    # The violation is the first CTI, two states: the pre-state and the post-state.
    assert result.violation.property == "Consistent"
    assert len(result.violation.trace) == 2
    assert any("CTI" in note for note in result.notes)


def test_cti_is_minimized():
    report = prove_report(load("2pc.spec"), ["Consistent"])
    cti = report.obligation("Consistent", "RMChooseToAbort").cti
    pre = cti.trace[0].state
    # One committed RM is all it takes: everything else keeps its initial value.
    assert str(pre["tmState"]) == "init"
    assert pre["msgs"].items == () and pre["tmPrepared"].items == ()
    states = [v for _, v in pre["rmState"].pairs]
    assert sorted(states) == ["committed", "working", "working"]


def test_paxos_agreement_alone_is_not_inductive():
    report = prove_report(load("paxos.spec", consts=["MaxBallot=1"]), ["Agreement"])
    assert report.result.status is Status.VIOLATION
    assert {o.action for o in report.ctis} == {"Phase2b"}
    (o,) = report.ctis
    assert o.reachable is False


def test_reachable_cti_means_a_real_bug():
    report = prove_report(load("counter", COUNTER), ["Small"])
    (o,) = report.ctis
    assert o.action == "Inc" and o.reachable is True
    assert o.verdict == "reachable: the protocol or the property is wrong"
    assert [s.label for s in o.witness] == [None, "Inc", "Inc", "Inc"]
    text = render_proof(report)
    assert "reached in 3 step(s): Inc -> Inc -> Inc" in text


@pytest.mark.parametrize("symmetry", [True, False])
def test_reachable_cti_under_symmetry(symmetry):
    # The seeded early-commit bug with the 2PC lemmas: TMCommit breaks TMCommitted from a
    # reachable state. RM is symmetric, so the search may store one state per orbit; the
    # path shown still ends in the CTI's own pre-state.
    lemmas = (SPECS / "2pc.spec").read_text().split("# ---- The inductive invariant")[1]
    lemmas = lemmas.split("# For NotBlocked")[0]  # the rest names the fault-only variables
    text = (SPECS / "buggy" / "2pc_early_commit.spec").read_text() + "\n#" + lemmas
    compiled = load("early", text)
    report = prove_report(compiled, symmetry=symmetry)
    (o,) = report.ctis
    assert (o.conjunct, o.action, o.reachable) == ("TMCommitted", "TMCommit", True)
    assert o.witness[-1].state == o.cti.trace[0].state
    assert len(o.witness) == 3


def test_initiation_failure_is_reported_with_a_trace():
    compiled = load("counter", COUNTER.replace("invariant Small: x <= 3",
                                               "invariant Small: x >= 1"))
    report = prove_report(compiled, ["Small"])
    o = report.obligation("Small", INIT)
    assert o.status == "cti" and o.reachable is True and len(o.cti.trace) == 1


def test_k_induction_proves_what_induction_cannot():
    # x <= 3 is not inductive (from x = 3, Inc), nor 2-inductive; but "x is even or
    # done" style properties aside, k-induction must at least agree with BMC: a real
    # violation shows up in the base case.
    compiled = load("counter", COUNTER)
    report = prove_report(compiled, ["Small"], k=5)
    base = report.obligation("Small", INIT)
    assert base.status == "cti" and len(base.cti.trace) == 5  # x = 4 after 4 steps
    assert bmc(compiled, 6).stats.depth == 5


# ------------------------------------------------------------ sanity checks
def test_vacuous_proofs_are_caught():
    # A contradictory lemma: flagged, and of course false initially.
    report = prove_report(load("vacuous", VACUOUS))
    checks = {s.what: s.status for s in report.sanity}
    assert checks["the invariant is satisfiable"] == "failed"
    assert report.obligation("Contradiction", INIT).status == "cti"
    assert report.result.status is Status.VIOLATION
    # Without it, the action that can never fire is flagged.
    report = prove_report(load("vacuous", VACUOUS), ["Low"])
    checks = {s.what: s.status for s in report.sanity}
    assert checks["action Never can fire"] == "failed"
    assert checks["action Inc can fire"] == "ok"
    assert report.result.status is Status.OK
    assert any("Never" in n and "warning" in n for n in report.result.notes)
    # No initial state at all: everything holds vacuously, which is an error.
    empty = VACUOUS.replace("    x = 0\n", "    x = 0\n    require x == 1\n", 1)
    report = prove_report(load("vacuous", empty), ["Low"])
    assert report.result.status is Status.ERROR
    assert "vacuous" in report.result.violation.message
    assert "Not proved: the proof is vacuous" in render_proof(report)


def test_fault_actions_only_when_switched_on():
    assert prove(load("faulty", FAULTY)).status is Status.OK
    report = prove_report(load("faulty", FAULTY, faults=["all"]))
    assert "Crash" in report.actions
    assert report.obligation("SomeUp", "Crash").status == "cti"


# --------------------------------------------------------------- bad input
def test_prove_refuses_a_transition_invariant():
    with pytest.raises(SpecError, match="primed"):
        prove(load("steps", ONLY_TRANSITION), ["Flips"])
    with pytest.raises(SpecError, match="transition invariants"):
        prove(load("steps", ONLY_TRANSITION))


def test_prove_needs_something_to_prove():
    with pytest.raises(SpecError, match="nothing to prove"):
        prove(load("nothing", NO_INVARIANTS))
    with pytest.raises(SpecError, match="no such invariant"):
        prove(load("2pc.spec"), ["Consistant"])
    with pytest.raises(SpecError, match="no such invariant"):
        bmc(load("2pc.spec"), 3, ["Consistant"])
    with pytest.raises(SpecError, match="--k"):
        prove(load("2pc.spec"), k=0)


def test_unencodable_spec_is_an_input_error():
    with pytest.raises(SpecError, match="cannot encode"):
        prove(load("huge", HUGE_SUBSETS))


def test_solver_timeout_is_inconclusive():
    result = prove(load("paxos.spec"), timeout_s=0.001)
    assert result.status is Status.LIMIT and result.exit_code == 3
    assert "solver timeout" in result.limit_reason and "not proved" in result.limit_reason


# ---------------------------------------------------------------- rendering
def test_render_proof_text_and_json():
    report = prove_report(load("2pc.spec"), ["Consistent", "PreparedMsg"])
    text = render_proof(report)
    assert "Obligations" in text and "Sanity checks" in text
    assert "CTI 1: Consistent is not preserved by" in text
    assert "Verdict: unreachable: strengthen the invariant." in text
    assert "Not proved:" in text
    assert "\x1b[" not in text and "\x1b[" in render_proof(report, color=True)
    data = json.loads(render_proof_json(report))
    assert data["status"] == "violation" and data == proof_to_json(report)
    ctis = [o for o in data["obligations"] if o["status"] == "cti"]
    assert ctis and all(o["cti"][0]["action"] is None for o in ctis)
    # The Result renders with the ordinary text renderer too.
    assert "Invariant Consistent is violated." in render_text(report.result)
    proved = render_proof(prove_report(load("2pc.spec")))
    assert "Proved: the conjunction is inductive (88 obligations" in proved


def test_queries_can_be_dumped_as_smt2(tmp_path):
    compiled = load("2pc.spec", consts=["RM={r1,r2}"])
    assert prove(compiled, smt2_dir=str(tmp_path / "prove")).status is Status.OK
    assert bmc(compiled, 2, smt2_dir=str(tmp_path / "bmc")).status is Status.OK
    proofs = sorted((tmp_path / "prove").glob("prove-*.smt2"))
    steps = sorted((tmp_path / "bmc").glob("bmc-*.smt2"))
    assert len(proofs) > 10 and len(steps) >= 3
    text = proofs[-1].read_text()
    assert text.startswith("(set-logic QF_FD)") and text.rstrip().endswith("(check-sat)")


# ------------------------------------------------ the tutorial cannot drift
_COMMAND = re.compile(r"^    \$ modelcheck prove ([^\n]*)\n\n(?:[^\n]+\n)*?\n?```text\n(.*?)```",
                      re.M | re.S)
_ROW = re.compile(r"^  \w+ +(ok|CTI|\?)( |$)")


def _tutorial_steps():
    text = (SPECS.parent / "docs" / "tutorial-proofs.md").read_text()
    for i, m in enumerate(_COMMAND.finditer(text)):
        args = shlex.split(m.group(1))
        if not (SPECS.parent / args[0]).exists():
            continue  # a file the reader makes
        if "--unbounded" in args:
            continue  # tests/test_symbolic_unbounded.py covers those
        yield pytest.param(args, m.group(2), id=f"step{i}")


@pytest.mark.slow
@pytest.mark.parametrize(("args", "shown"), list(_tutorial_steps()))
def test_tutorial_tables_match_the_prover(args, shown):
    """Each `modelcheck prove` of docs/tutorial-proofs.md: the obligation table and the
    verdict shown are what the prover says now (CTIs themselves may differ in detail)."""
    spec, consts, invs, k = args[0], [], [], 1
    rest = iter(args[1:])
    for a in rest:
        if a == "--const":
            consts.append(next(rest))
        elif a == "--inv":
            invs.append(next(rest))
        elif a == "--k":
            k = int(next(rest))
    report = prove_report(load_spec(str(SPECS.parent / spec), consts), invs or None, k=k)
    text = render_proof(report)
    rows = [line for line in shown.split("\n") if _ROW.match(line)]
    if rows:
        assert rows == [line for line in text.split("\n") if _ROW.match(line)]
    verdict = shown.strip().split("\n")[-1].split(" (")[0]
    assert text.strip().split("\n")[-1].split(" (")[0] == verdict


# ------------------------------------------------- a generous solver timeout
def test_a_solver_timeout_that_is_not_reached_changes_nothing():
    # A SAT model was checked against the solver's preprocessed clauses, over constants
    # the model leaves out: every CTI and sanity check came out "solver timeout".
    compiled = load("2pc.spec")
    report = prove_report(compiled, ["Consistent"], timeout_s=600)
    assert report.result.status is Status.VIOLATION and len(report.ctis) == 3
    assert all(s.status == "ok" for s in report.sanity)
    r = bmc(load_spec(str(SPECS / "buggy" / "2pc_early_commit.spec")), 6, timeout_s=600)
    assert r.status is Status.VIOLATION and r.stats.depth == 6


# ------------------------------------------------------------------ Ctrl-C
def _interrupt_after(monkeypatch, n: int) -> None:
    """Z3 answers the (n+1)-th query "interrupted from keyboard", as on a Ctrl-C."""
    from checker.symbolic import common

    original = common.Solver.check
    calls = [0]

    def check(self):
        calls[0] += 1
        if calls[0] > n:
            common.raise_if_interrupted("interrupted from keyboard")
        return original(self)

    monkeypatch.setattr(common.Solver, "check", check)


def test_ctrl_c_stops_the_proof_with_what_it_checked(monkeypatch):
    compiled = load("2pc.spec")
    _interrupt_after(monkeypatch, 14)
    report = prove_report(compiled, ["Consistent", "PreparedMsg"])
    result = report.result
    assert result.status is Status.LIMIT and result.exit_code == 3
    assert "interrupted (Ctrl-C) after" in result.limit_reason
    assert 0 < len(report.obligations) < 16
    assert f"after {len(report.obligations)} of 16 obligations" in result.limit_reason
    assert "Inconclusive: interrupted" in render_proof(report)
    assert json.loads(render_proof_json(report))["status"] == "limit"


def test_ctrl_c_while_a_cti_is_classified_keeps_the_cti(monkeypatch):
    from checker.symbolic.reach import Reachability

    def interrupted(self, state):
        raise KeyboardInterrupt

    monkeypatch.setattr(Reachability, "reachable", interrupted)
    report = prove_report(load("2pc.spec"), ["Consistent"])
    assert report.result.status is Status.LIMIT
    (o,) = report.ctis
    assert o.reachable is None and "interrupted" in o.detail
    assert len(report.obligations) < 8


def test_ctrl_c_in_bmc_says_how_deep_it_checked(monkeypatch):
    compiled = load("2pc.spec")
    _interrupt_after(monkeypatch, 6)
    r = bmc(compiled, 10)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert r.limit_reason == "interrupted (Ctrl-C) at step 6; no violation within 5 steps"
    assert r.stats.depth == 6


def test_ctrl_c_inside_a_z3_call_from_python_is_an_interrupt(monkeypatch):
    # Python raises KeyboardInterrupt where the signal finds it; inside ctypes' argument
    # conversion of a Z3 call, ctypes hands it on as an ArgumentError ("internal error").
    import ctypes

    from checker.symbolic import system

    def step(*args, **kwargs):
        raise ctypes.ArgumentError("argument 1: KeyboardInterrupt: ")

    compiled = load("2pc.spec")
    monkeypatch.setattr(system.System, "step", step)
    r = bmc(compiled, 3)
    assert r.status is Status.LIMIT
    assert r.limit_reason == ("interrupted (Ctrl-C) at step 1; no violation in the initial "
                              "states")


def test_a_real_ctrl_c_during_a_query_stops_bmc():
    import os
    import signal
    import threading

    from checker.interrupts import first_interrupt_only

    compiled = load("paxos.spec")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    with first_interrupt_only():
        timer.start()
        try:
            r = bmc(compiled, 40)
        finally:
            timer.cancel()
    assert r.status is Status.LIMIT and "interrupted (Ctrl-C) " in r.limit_reason


def test_prove_header_lists_the_conjuncts_it_was_given():
    # The header listed every property of the spec whatever --inv chose.
    from click.testing import CliRunner

    from checker.cli import main

    out = CliRunner().invoke(main, ["prove", str(SPECS / "2pc.spec"), "--inv", "Consistent",
                                    "--inv", "RMCommitted", "--no-color"])
    assert out.exit_code == 1, out.output
    head = out.output.split("\n\n")[0]
    assert "  properties: Consistent\n" in head and "NotBlocked" not in head
    assert "  lemmas:     RMCommitted" in head


def test_a_cti_whose_pre_state_the_explicit_engine_cannot_evaluate_is_reported():
    # EveryRequestServed reads `quiescent`, which tries every step; in an unreachable
    # pre-state a Timeout step overflows `waiting`. That was an internal error
    # ("SymbolicMismatchError: a CTI pre-state should satisfy EveryRequestServed").
    report = prove_report(load("loadbalancing/health_checked_lb.spec"))
    assert report.result.status is Status.VIOLATION
    assert any("cannot evaluate EveryRequestServed" in o.detail for o in report.ctis)
    assert all(o.reachable is False for o in report.ctis)


@pytest.mark.parametrize(("args", "message"), [
    (["prove", "loadbalancing/dns.spec"], "error: nothing to prove: the spec's invariants"),
    (["prove", "2pc.spec", "--inv", "Nope"], "error: --inv Nope: no such invariant"),
    (["prove", "2pc.spec", "--inv", "DecisionsDurable"],
     "error: --inv DecisionsDurable: a transition invariant"),
])
def test_prove_usage_errors_read_like_the_other_commands(args, message):
    # They began "<input>: error:", as if the spec file were somewhere called <input>.
    from click.testing import CliRunner

    from checker.cli import main

    out = CliRunner().invoke(main, [args[0], str(SPECS / args[1]), *args[2:]])
    assert out.exit_code == 2
    assert out.output.startswith(message), out.output
    assert "<input>" not in out.output


def test_ctrl_c_while_the_spec_is_encoded_is_reported(monkeypatch):
    from checker.symbolic import system

    def encode(self, compiled):
        raise KeyboardInterrupt

    compiled = load("2pc.spec")
    monkeypatch.setattr(system.System, "__init__", encode)
    report = prove_report(compiled, ["Consistent"])
    assert report.result.status is Status.LIMIT and report.obligations == ()
    assert "while the spec was being encoded" in report.result.limit_reason
    r = bmc(compiled, 3)
    assert r.status is Status.LIMIT and "while the spec was being encoded" in r.limit_reason


def test_prove_json_has_every_engines_keys():
    # (it had its own shape: no properties, violation or depth, and a CTI step's
    # "action" was the action's name where every other trace has its label)
    from checker.render.json import result_to_json

    report = prove_report(load("2pc.spec"), ["Consistent"])
    data = json.loads(render_proof_json(report))
    assert list(data)[:16] == list(result_to_json(report.result))
    assert data["properties"] == ["Consistent"] and data["status"] == "violation"
    assert data["depth"] == 2                         # a CTI's two states
    first = next(o for o in data["obligations"] if o["status"] == "cti")
    assert data["violation"]["trace"] == [{k: s[k] for k in ("action", "state")}
                                          for s in first["cti"]]
    assert first["cti"][1]["action"] == f"{first['action']}({first['cti'][1]['args'][0]})"
