"""The reachable state graph (checker.graph): nodes, edges, the highlighted path to a
violation, the size limit, and SVG through Graphviz when it is installed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from checker import graph as G
from checker.api import load_spec
from checker.explore import explore

ROOT = Path(__file__).resolve().parent.parent

COUNTER = """\
spec Counter
const Procs = {p1, p2}
var count: 0..2
var done: set[Procs]
init:
    count = 0
    done = {}
action Increment(p in Procs):
    require p not in done
    count = count + 1
    done = done | {p}
invariant Below2: count < 2
"""


def _edges(dot: str) -> list[str]:
    return [ln.strip() for ln in dot.splitlines() if re.match(r"\s+s\d+ -> s\d+", ln)]


def test_dot_has_every_state_and_transition_and_the_path():
    compiled = load_spec("counter.spec", text=COUNTER)
    dot = G.state_graph(compiled, fmt="dot")
    assert dot.startswith('digraph "Counter" {') and dot.rstrip().endswith("}")
    nodes = re.findall(r"^  s(\d+) \[label=", dot, re.M)
    assert nodes == ["0", "1", "2", "3"]
    assert len(_edges(dot)) == 4
    # The shortest path to the violation: s0 -> s1 -> s3, in red; s3 is the bad state.
    red = [e for e in _edges(dot) if "#c0392b" in e]
    assert [e.split(" [")[0] for e in red] == ["s0 -> s1", "s1 -> s3"]
    bad = next(ln for ln in dot.splitlines() if ln.startswith("  s3 "))
    assert "Below2 is false" in bad and "count = 2" in bad and "done = {p1, p2}" in bad
    assert 'label="Increment(p1)"' in red[0]
    assert "start -> s0 [color" in dot
    # The same path the explicit engine reports.
    trace = explore(compiled.model).violation.trace
    assert [s.label for s in trace[1:]] == ["Increment(p1)", "Increment(p2)"]


def test_graph_is_deterministic_and_escapes_labels():
    compiled = load_spec("counter.spec", text=COUNTER)
    assert G.state_graph(compiled) == G.state_graph(compiled)
    assert G._quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\ld"'


def test_too_large_says_what_to_do():
    compiled = load_spec(str(ROOT / "specs/paxos.spec"))
    with pytest.raises(G.GraphTooLargeError) as err:
        G.state_graph(compiled, max_states=500)
    msg = str(err.value)
    assert "more than 500 states" in msg and "--max-states" in msg
    assert isinstance(err.value, ValueError)


def test_limit_is_exact():
    compiled = load_spec("counter.spec", text=COUNTER)
    G.state_graph(compiled, max_states=4)
    with pytest.raises(G.GraphTooLargeError):
        G.state_graph(compiled, max_states=3)


def test_unknown_format():
    compiled = load_spec("counter.spec", text=COUNTER)
    with pytest.raises(G.GraphError, match="unknown graph format 'png'"):
        G.state_graph(compiled, fmt="png")


def test_transition_violation_and_deadlock_are_marked():
    text = COUNTER.replace("invariant Below2: count < 2",
                           "transition invariant Grows: count' > count")
    compiled = load_spec("t.spec", text=text)
    g = G.build_graph(compiled.model)
    assert not g.bad_edges   # every step grows the count
    dot = G.to_dot(g, compiled.model)
    assert "deadlock" in dot   # count = 2, both done: nothing is enabled
    text = text.replace("count = count + 1", "count = count")
    compiled = load_spec("t.spec", text=text.replace("0..2", "0..0"))
    g = G.build_graph(compiled.model)
    assert len(g.bad_edges) == 4
    assert g.path == [0, 1]
    assert 'style=dashed, color="#c0392b", xlabel="Grows is false"' in G.to_dot(g, compiled.model)


def test_svg_needs_graphviz(monkeypatch):
    compiled = load_spec("counter.spec", text=COUNTER)
    monkeypatch.setattr(G.shutil, "which", lambda name: None)
    with pytest.raises(G.GraphvizMissingError, match="--format dot"):
        G.state_graph(compiled, fmt="svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
def test_svg_with_graphviz():
    compiled = load_spec("counter.spec", text=COUNTER)
    svg = G.state_graph(compiled, fmt="svg")
    assert "<svg" in svg and "Below2 is false" in svg and "Increment(p1)" in svg


def test_states_that_differ_in_faults_taken_have_different_labels():
    # (with a fault budget, states that differ only in the hidden count of fault steps
    # were drawn with the same label: 1,372 nodes, 1,316 labels on health_checked_lb)
    compiled = load_spec(str(ROOT / "specs" / "2pc.spec"), ["RM={r1,r2}"],
                         faults=("crash",), max_faults=1)
    dot = G.state_graph(compiled, fmt="dot")
    labels = re.findall(r'^  s\d+ \[label="#\d+\\l(.*?)"', dot, re.M)
    assert len(labels) == len(set(labels)) > 1
    assert any("(fault steps taken = 1)" in x for x in labels)
    plain = G.state_graph(load_spec(str(ROOT / "specs" / "2pc.spec"), ["RM={r1,r2}"]))
    assert "fault steps taken" not in plain


def test_lemmas_are_not_drawn_as_violations():
    # (2pc's lemma NoCrash, a proof helper that `check` leaves out, was drawn false after
    # every crash, those states not expanded, and the real violation of NotBlocked hidden
    # behind it)
    compiled = load_spec(str(ROOT / "specs" / "2pc.spec"), ["RM={r1}"], faults=("all",))
    g = G.build_graph(G.without_lemmas(compiled))
    assert not any("NoCrash" in why for why in g.bad.values())
    dot = G.state_graph(compiled)
    assert "NoCrash" not in dot and 'xlabel="NotBlocked is false"' in dot
    trace = explore(G.without_lemmas(compiled)).violation.trace
    assert len(G.build_graph(G.without_lemmas(compiled)).path) == len(trace) == 3


def test_error_state_names_the_action_and_counts_are_singular():
    text = """\
spec Err
var x: 0..3
init:
    x = 0
action Inc:
    require x == 0
    x = x + 1
action Div:
    require x == 1
    x = 6 / (x - 1)
"""
    compiled = load_spec("err.spec", text=text)
    dot = G.state_graph(compiled)
    assert 'xlabel="error: in action Div: division by zero"' in dot   # (was: no action)
    assert "Err: 2 states, 1 transition;" in dot                        # (1 transitions)
    with pytest.raises(G.GraphTooLargeError, match="more than 1 state, too many"):
        G.state_graph(compiled, max_states=1)


def test_only_the_step_the_path_takes_is_red():
    # (two actions from one state to the same next state were both drawn red, as if the
    # highlighted path took both)
    text = """\
spec Two
var x: 0..3
init:
    x = 0
action A:
    require x == 0
    x = 1
action B:
    require x == 0
    x = 1
action C:
    require x == 1
    x = 2
invariant Small: x < 2
"""
    dot = G.state_graph(load_spec("two.spec", text=text))
    red = [e for e in _edges(dot) if "#c0392b" in e]
    assert [e.split(" [")[0] for e in red] == ["s0 -> s1", "s1 -> s2"]
    assert 's0 -> s1 [label="B"];' in dot


def test_output_name_must_match_the_format(tmp_path):
    # (`graph SPEC -o graph.svg` wrote dot text into graph.svg, exit status 0)
    from click.testing import CliRunner

    from checker.cli import main

    spec = tmp_path / "counter.spec"
    spec.write_text(COUNTER)
    res = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "g.svg")])
    assert res.exit_code == 2 and "add --format svg" in res.output
    assert not (tmp_path / "g.svg").exists()
    with pytest.raises(G.GraphError, match="dot -Tpng"):
        G.check_output_name("g.png", "dot")
    with pytest.raises(G.GraphError, match="name it .svg"):
        G.check_output_name("g.gv", "svg")
    G.check_output_name("g.dot", "dot")
    G.check_output_name("graph", "svg")
    res = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "g.dot")])
    assert res.exit_code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def test_a_property_that_cannot_be_evaluated_is_marked_as_check_reports_it():
    # (a transition invariant that raised was taken to hold: the edge was drawn plain,
    # where check reports a run-time error; an invariant's error said "integer division
    # or modulo by zero")
    text = COUNTER.replace("invariant Below2: count < 2",
                           "transition invariant Ratio: count' / (1 - count) >= 0")
    compiled = load_spec("t.spec", text=text)
    g = G.build_graph(compiled.model)
    assert set(g.bad_edges.values()) == {"error evaluating Ratio: division by zero"}
    assert explore(compiled.model).violation.kind == "error"
    assert len(g.path) == 3             # 0 -> 1, then the step from count = 1 that fails
    text = COUNTER.replace("invariant Below2: count < 2",
                           "invariant Ratio: 2 / (1 - count) >= 0")
    g = G.build_graph(load_spec("t.spec", text=text).model)
    assert set(g.bad.values()) == {"error evaluating Ratio: division by zero"}
