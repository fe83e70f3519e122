"""``faults_taken``: the fault budget's hidden counter, named in invariants and lemmas, in
every engine; and CTIs that show it."""

from __future__ import annotations

import pytest

from checker.api import load_spec
from checker.explain import explain
from checker.explore import explore
from checker.result import Status
from checker.source import SpecError
from checker.symbolic import bmc, prove, prove_report
from tests.test_cli import cli

CRASHES = """
spec Crashes

const Nodes = {n1, n2, n3}
option max_faults = 1
option deadlock = false

var down: set[Nodes]

init:
    down = {}

fault(crash) action Crash(n in Nodes):
    require n not in down
    down = down | {n}

invariant AtMostOneDown:
    size(down) <= 1
"""

COUNTED = CRASHES + """
lemma DownCounted:
    size(down) <= faults_taken
"""

NEVER = CRASHES + """
invariant NoFaultYet:
    faults_taken < 1
"""


def load(text, faults=("crash",), max_faults=None, name="crashes"):
    return load_spec(f"{name}.spec", (), faults, max_faults=max_faults, text=text)


def test_the_explicit_engine_reads_the_counter():
    r = explore(load(NEVER).model)
    assert r.status is Status.VIOLATION and r.violation.property == "NoFaultYet"
    assert [s.action for s in r.violation.trace] == [None, "Crash"]
    # no fault switched on: no fault step is taken, the counter is 0 in every state
    assert explore(load(NEVER, faults=()).model).status is Status.OK
    # a larger budget from the command line: the lemma still holds, the invariant not
    two = load(COUNTED, max_faults=2)
    assert {i.name: i for i in two.model.invariants}["DownCounted"].holds((0b11, 2))
    assert not {i.name: i for i in two.model.invariants}["DownCounted"].holds((0b11, 1))


def test_the_explanation_shows_its_value():
    compiled = load(NEVER)
    text = "\n".join(explain(compiled, explore(compiled.model)).violation.explanation)
    assert "faults_taken < 1 is false (faults_taken = 1)" in text


def test_bmc_agrees():
    r = bmc(load(NEVER), 3)
    assert r.status is Status.VIOLATION and r.violation.property == "NoFaultYet"
    assert len(r.violation.trace) == 2


def test_a_lemma_on_the_counter_makes_the_proof_go_through():
    """Without the lemma, the pre-state {n1} down with no fault taken is a CTI no lemma
    on the variables alone can rule out; the CTI shows the counter."""
    report = prove_report(load(CRASHES, name="nolemma"), minimize=True)
    assert report.result.status is not Status.OK
    (cti,) = report.ctis
    pre, post = cti.cti.trace[0].state, cti.cti.trace[-1].state
    assert pre["faults_taken"] == 0 and post["faults_taken"] == 1
    assert prove(load(COUNTED)).status is Status.OK


def test_cli_shows_the_counter_in_a_cti_and_the_value_in_an_explanation(tmp_path):
    spec = tmp_path / "crashes.spec"
    spec.write_text(CRASHES)
    result = cli("prove", str(spec), "--faults", "all")
    assert result.exit_code == 1
    assert "faults_taken = 0" in result.output and "* faults_taken = 1" in result.output
    spec.write_text(COUNTED)
    assert cli("prove", str(spec), "--faults", "all").exit_code == 0


@pytest.mark.parametrize("body", [
    "action A:\n    require faults_taken == 0\n    down = down",
    "def F = faults_taken\ninvariant I: F == 0",
    "transition invariant T: down' == down or faults_taken == 0",
])
def test_faults_taken_outside_state_invariants_is_an_error(body):
    with pytest.raises(SpecError, match="can only be used in state invariants"):
        load(CRASHES + body + "\n")


def test_faults_switched_on_without_a_budget_is_an_error_at_its_place():
    text = NEVER.replace("option max_faults = 1\n", "")
    with pytest.raises(SpecError) as err:
        load(text)
    shown = err.value.render()
    assert "`faults_taken` counts fault steps against a fault budget" in shown
    assert "crashes.spec:" in shown and "^^^^^^^^^^^^" in shown and "--max-faults" in shown
    # without faults switched on there is nothing to count: it is 0
    assert explore(load(text, faults=()).model).status is Status.OK
    # a budget from the command line is enough
    assert explore(load(text, max_faults=1).model).status is Status.VIOLATION


def test_unbounded_proofs_refuse_it_clearly(tmp_path):
    spec = tmp_path / "sym.spec"
    spec.write_text(COUNTED.replace("option deadlock = false",
                                    "option deadlock = false\nsymmetry Nodes")
                    .replace("size(down) <= 1", "down == down")
                    .replace("size(down) <= faults_taken", "faults_taken >= 0"))
    result = cli("prove", str(spec), "--faults", "all", "--unbounded")
    assert result.exit_code == 2
    assert "`faults_taken` is not supported by --unbounded" in result.output
