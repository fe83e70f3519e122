"""Explanations of violations (checker.explain) and the text renderer's goldens.

The explanations are checked line by line, and their claims are checked against the
states they talk about, so a wrong explanation fails here even if it reads well.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from checker import ir
from checker.api import load_spec
from checker.explain import Evaluator, Printer, explain, packed_states, why_lines
from checker.explore import explore
from checker.parser import parse_expression
from checker.render.text import change_text, render_text
from checker.result import Result, Status, TraceStep, Violation
from checker.source import Source
from checker.values import BagValue, MapValue, SetValue

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden_render"
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))


def run(path: str | None = None, *, text: str | None = None, **kw) -> tuple[object, Result]:
    name = path or "inline.spec"
    if text is None:
        text = (ROOT / name).read_text()
    compiled = load_spec(name, text=text, **kw)
    result = explore(compiled.model)
    return compiled, explain(compiled, result, source_text=text)


# ------------------------------------------------------------------ invariants
def test_2pc_explanation_names_the_witnesses_and_their_values():
    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    assert result.violation.explanation == (
        "Consistent is false in state 6:",
        "  forall rm1, rm2 in RM: not (rmState[rm1] == aborted and rmState[rm2] == committed)",
        "  is false for rm1 = r2, rm2 = r1:",
        "    not (rmState[r2] == aborted and rmState[r1] == committed) is false, since both "
        "hold:",
        "      rmState[r2] == aborted is true (rmState[r2] = aborted)",
        "      rmState[r1] == committed is true (rmState[r1] = committed)",
    )
    # The claims hold in the violating state.
    last = dict(result.violation.trace[-1].state["rmState"].pairs)
    assert last["r2"] == "aborted" and last["r1"] == "committed"


def test_witness_claims_are_true_for_every_violating_spec():
    """Every `X is true (A = V)` leaf names a value that A really has in the last state."""
    for path in ("specs/buggy/2pc_early_commit.spec", "specs/buggy/paxos_no_ballot_check.spec",
                 "specs/buggy/paxos_ignore_1b_values.spec"):
        compiled, result = run(path)
        ev = Evaluator(compiled)
        state = packed_states(compiled, result.violation.trace)[-1]
        text = (ROOT / path).read_text()
        checked = 0
        for line in result.violation.explanation:
            m = re.fullmatch(r"\s+(.*) is (true|false)(?: \((.*)\))?:?", line)
            if not m or " for " in m.group(0) or "since" in m.group(0):
                continue
            expr = _typed(compiled, text, m.group(1))
            assert bool(ev.value(expr, state)) == (m.group(2) == "true"), line
            checked += 1
        assert checked >= 2, path


def _typed(compiled, spec_text: str, expr_text: str) -> ir.Expr:
    from checker.parser import parse
    from checker.typecheck import Checker, _Scope

    checker = Checker(parse(Source("s", spec_text)), None)
    checker.check()
    e = checker.expr(parse_expression(Source("<e>", expr_text)), _Scope(predicate=True))
    assert not checker.diags, checker.diags
    return e


def test_paxos_explanation_expands_defs_and_finds_the_quorums():
    compiled, result = run("specs/buggy/paxos_no_ballot_check.spec")
    lines = result.violation.explanation
    assert lines[0] == "Agreement is false in state 13:"
    assert "for v = v1, w = v2:" in lines[1]
    assert "        chosen(v1) is true, since:" in lines
    assert "        chosen(v2) is true, since:" in lines
    assert lines[-1] == "      v1 == v2 is false"
    quorums = [ln.strip() for ln in lines if "is true for b =" in ln]
    assert quorums == ["is true for b = 0, q = {a2, a3}:", "is true for b = 1, q = {a1, a2}:"]
    # Each quorum did vote: its P2b messages are in the last state.
    msgs = result.violation.trace[-1].state["msgs"].items
    votes = {(dict(m.fields)["acc"], dict(m.fields)["bal"], dict(m.fields)["val"])
             for m in msgs if m.tag == "P2b"}
    assert {("a2", 0, "v1"), ("a3", 0, "v1"), ("a1", 1, "v2"), ("a2", 1, "v2")} <= votes


LOCK = """\
spec Lock
const Procs = {p1, p2}
var holder: Procs?
var count: 0..3
var inside: set[Procs]
init:
    holder = none
    count = 0
    inside = {}
action Enter(p in Procs):
    require p not in inside
    inside = inside | {p}
    count = count + 1
invariant AtMostOne: size(inside) <= 1 and count < 3
invariant Holder: holder == none or holder in inside
"""


def test_and_descends_into_the_false_conjunct_with_its_values():
    _, result = run(text=LOCK)
    assert result.violation.explanation == (
        "AtMostOne is false in state 3:",
        "  size(inside) <= 1 is false (size(inside) = 2, inside = {p1, p2})",
    )


def test_implies_and_exists_and_not():
    text = LOCK.replace("invariant AtMostOne: size(inside) <= 1 and count < 3",
                        "invariant A: count >= 1 implies not exists p in Procs: p in inside")
    _, result = run(text=text)
    assert result.violation.explanation == (
        "A is false in state 2:",
        "  count >= 1 implies not (exists p in Procs: p in inside) is false, since:",
        "    count >= 1 is true (count = 1)",
        "    not (exists p in Procs: p in inside) is false for p = p1:",
        "      p1 in inside is true (inside = {p1})",
    )


# -------------------------------------------------------------------- deadlock
DEAD = """\
spec Dead
const Procs = {p1, p2}
enum Phase = idle | busy | done
message Req(p: Procs)
var phase: map[Procs, Phase]
var msgs: set[Message]
var count: 0..3
init:
    phase = {p: idle for p in Procs}
    msgs = {}
    count = 0
action Start(p in Procs):
    require phase[p] == idle
    phase[p] = busy
    msgs = msgs | {Req(p)}
action Serve(m in msgs):
    require m is Req and count < 2
    count = count + 1
    msgs = msgs - {m}
action Finish(p in Procs):
    require phase[p] == busy and Req(p) not in msgs
    phase[p] = done
action Tick:
    count = count + 1
    require count < 2
    either:
        require count == 5
    or:
        require phase == {p: idle for p in Procs}
action Pick:
    choose p in Procs where phase[p] != done:
        let c = count + 1
        require c > 3
        count = 3
"""


def test_deadlock_says_what_disables_each_action():
    _, result = run(text=DEAD)
    assert result.status is Status.DEADLOCK
    assert result.violation.explanation == (
        "No action is enabled in state 6:",
        "  Start(p in Procs): no choice of p makes it possible:",
        "    p = p1: phase[p1] == idle is false (phase[p1] = done)",
        "    p = p2: phase[p2] == idle is false (phase[p2] = busy)",
        "  Serve(m in msgs): for every choice of m (1): count < 2 is false (count = 2)",
        "  Finish(p in Procs): no choice of p makes it possible:",
        "    p = p1: phase[p1] == busy is false (phase[p1] = done)",
        "    p = p2: Req(p2) not in msgs is false (msgs = {Req(p=p2)})",
        # `count = count + 1` ran before the require: it sees 3.
        "  Tick: count < 2 is false (count = 3)",
        "  Pick: for every choice of p: c > 3 is false (c = 3)",
    )
    # The claims hold in the last state.
    last = result.violation.trace[-1].state
    assert dict(last["phase"].pairs) == {"p1": "done", "p2": "busy"} and last["count"] == 2


def test_deadlock_either_branches_and_empty_domains_and_fault_budget():
    text = """\
spec E
const Nodes = {n1, n2}
option max_faults = 1
var x: 0..3
var up: map[Nodes, bool]
var inbox: set[Nodes]
init:
    x = 0
    up = {n: true for n in Nodes}
    inbox = {}
action A:
    require x < 2
    either:
        require x == 1
    or:
        require up == {n: false for n in Nodes}
action Recv(n in inbox):
    x = 0
fault action Crash(n in Nodes):
    require up[n]
    up[n] = false
"""
    _, result = run(text=text, faults=("all",))
    assert result.violation.explanation == (
        "No action is enabled in state 2:",
        "  A: every branch of `either` is blocked: branch 1: x == 1 is false (x = 0); "
        "branch 2: up == {n: false for n in Nodes} is false (up = {n1: false, n2: true})",
        "  Recv(n in inbox): there is no choice of n (inbox = {})",
        "  Crash(n in Nodes): the fault budget (1) is used up",
    )


# ---------------------------------------------------------- transition invariants
def test_transition_invariant_uses_pre_and_post_state():
    text = """\
spec T
enum Phase = idle | done
var phase: Phase
init:
    phase = idle
action Finish:
    require phase == idle
    phase = done
action Undo:
    require phase == done
    phase = idle
transition invariant NoBack: phase == done implies phase' == done
"""
    _, result = run(text=text)
    assert result.violation.explanation == (
        "NoBack is false in the step from state 2 to state 3:",
        "  phase == done implies phase' == done is false, since:",
        "    phase == done is true (phase = done)",
        "    phase' == done is false (phase' = idle)",
    )


# ------------------------------------------------------------------ the facade
def test_explain_leaves_other_results_alone():
    compiled = load_spec("x.spec", text=LOCK.replace("and count < 3", "").replace(
        "invariant AtMostOne: size(inside) <= 1 ", "invariant AtMostOne: size(inside) <= 2"))
    ok = explore(compiled.model, check_deadlock=False)
    ok = explain(compiled, ok)
    assert ok.status is Status.OK and ok.violation is None
    err = Result("explicit", "x", Status.ERROR, violation=Violation(
        "error", None, (TraceStep(None, (), {}),), "boom"))
    assert explain(compiled, err) is err


def test_explain_never_raises():
    compiled, result = run(text=LOCK)
    broken = Violation("invariant", "AtMostOne", (TraceStep(None, (), {"nope": 1}),))
    out = explain(compiled, Result("explicit", "Lock", Status.VIOLATION, violation=broken))
    assert len(out.violation.explanation) == 1
    assert out.violation.explanation[0].startswith("(no explanation: ")


def test_printer_output_parses_back():
    for path in sorted((ROOT / "specs").rglob("*.spec")):
        text = path.read_text()
        try:
            compiled = load_spec(str(path), text=text)
        except Exception:  # noqa: BLE001 (specs of other work in progress)
            continue
        pr = Printer(compiled, text)
        for inv in compiled.typed.invariants:
            shown = pr.show(inv.body)
            parse_expression(Source("<printed>", shown))  # raises on bad syntax


def test_why_lines_for_a_true_expression():
    compiled, result = run(text=LOCK)
    state = packed_states(compiled, result.violation.trace)[0]
    e = compiled.typed.invariants[1].body
    assert why_lines(compiled, e, state) == [
        "  holder == none or holder in inside is true, since:",
        "    holder == none is true (holder = none)",
    ]
    e = compiled.typed.invariants[0].body
    assert why_lines(compiled, e, state) == [
        "  size(inside) <= 1 and count < 3 is true, since both hold:",
        "    size(inside) <= 1 is true (size(inside) = 0, inside = {})",
        "    count < 3 is true (count = 0)",
    ]


# ------------------------------------------------------------- text rendering
def test_changed_sets_show_what_was_added_and_removed():
    a = SetValue(("x", "y"))
    b = SetValue(("y", "z"))
    assert change_text(a, b) == ("{y, z}", "(+ z, - x)")
    assert change_text(SetValue(()), SetValue(("x",))) == ("{x}", "")
    big = SetValue(tuple(f"P2b(acc=a{i}, bal=1, val=v2)" for i in range(9)))
    bigger = SetValue(big.items + ("P2b(acc=a9, bal=1, val=v2)",))
    assert change_text(big, bigger) == ("{... 10 elements}", "(+ P2b(acc=a9, bal=1, val=v2))")
    assert change_text(BagValue((("m", 1),)), BagValue((("m", 2),))) == ("{|m x2|}", "(+ m)")
    old = MapValue(tuple((f"key{i}", "working") for i in range(9)))
    new = MapValue(old.pairs[:-1] + (("key8", "committed"),))
    assert change_text(old, new) == ("{...}", "(key8: working -> committed)")


def test_explanation_comes_under_the_verdict_and_colour_is_optional():
    _, result = run("specs/buggy/2pc_early_commit.spec")
    text = render_text(result)
    lines = text.splitlines()
    assert lines[0] == "Invariant Consistent is violated."
    assert lines[2] == "Consistent is false in state 6:"
    assert "\x1b" not in text
    colored = render_text(result, color=True)
    assert "\x1b[" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == text


def _normalize(text: str) -> str:
    drop = ("  time:", "  states per second:", "  peak memory:")
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(drop)) + "\n"


@pytest.mark.parametrize("name", ["2pc_early_commit", "paxos_no_ballot_check",
                                  "paxos_ignore_1b_values"])
def test_golden_text(name):
    _, result = run(f"specs/buggy/{name}.spec")
    got = _normalize(render_text(result))
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        path.write_text(got)
    assert got == path.read_text(), f"{path} differs (UPDATE_GOLDEN=1 rewrites it)"


def test_tutorial_output_is_real():
    """The counterexamples shown in docs/tutorial.md are what the checker prints."""
    doc = (ROOT / "docs" / "tutorial.md").read_text()
    specs = re.findall(r"```spec\n(.*?)```", doc, re.S)
    outputs = re.findall(r"```\n\$ modelcheck (\S+)\n(.*?)```", doc, re.S)
    files = dict(re.findall(r"<!-- file: (\S+) -->\n```spec\n(.*?)```", doc, re.S))
    assert specs and outputs and files
    checked = 0
    for file, shown in outputs:
        if file not in files or "Statistics:" not in shown:
            continue
        compiled, result = run(file, text=files[file])
        want = render_text(result).split("\nStatistics:")[0]
        body = shown.split("\n", 3)
        assert want in "\n".join(body), file
        checked += 1
    assert checked >= 2


def test_a_change_of_thousands_of_elements_is_listed_in_part():
    # (a set filled with 15,001 elements in one step printed every one of them)
    full, delta = change_text(SetValue(()), SetValue(tuple(range(15001))))
    assert full == "{... 15001 elements}"
    assert delta.startswith("(+ 0, + 1, ") and delta.endswith(", + 19, and 14,981 more)")
    _, small = change_text(SetValue((1, 2)), SetValue((2, 3)))
    assert small == "(+ 3, - 1)"


# ------------------------------------------------- the audit's own small specs
OWN = """\
spec Own
const Nodes = {n1, n2, n3}
enum Phase = idle | busy | done
message Req(src: Nodes, dst: Nodes, n: 0..3)
var phase: map[Nodes, Phase]
var leader: Nodes?
var count: 0..3
var net: set[Message]
var seen: map[Nodes, set[Nodes]]
var up: map[Nodes, bool]
def Quorums = {q in subsets(Nodes) where 2 * size(q) > size(Nodes)}
def busyNodes = {n in Nodes where phase[n] == busy}
def twice(k) = 2 * k
init:
    phase = {n: idle for n in Nodes}
    leader = none
    count = 0
    net = {}
    seen = {n: {} for n in Nodes}
    up = {n: n != n3 for n in Nodes}
action Start(n in Nodes):
    require phase[n] == idle and count < 3
    phase[n] = busy
    count = count + 1
    net = net | {Req(n, m, count) for m in Nodes where m != n}
action Recv(m in net):
    require m is Req and phase[m.dst] != done
    seen[m.dst] = seen[m.dst] | {m.src}
    net = net - {m}
action Finish(n in Nodes):
    require phase[n] == busy and size(seen[n]) >= 1
    phase[n] = done
    leader = n
"""


def own(invariant: str, **kw):
    return run(text=OWN + invariant + "\n", **kw)[1]


def test_a_bound_message_is_shown_by_its_name_with_its_fields_values():
    # (was: `Req(src=n2, dst=n1, n=2).n < 2 is false`, with no value for the field)
    result = own("invariant MsgF: forall m in net: m.n < 2")
    assert result.violation.explanation[1:] == (
        "  forall m in net: m.n < 2 is false for m = Req(src=n2, dst=n1, n=2):",
        "    m.n < 2 is false (m.n = 2)",
    )


def test_a_deadlocked_message_handler_names_the_message_and_the_key_first():
    result = own("invariant T: true")
    assert result.status is Status.DEADLOCK
    lines = result.violation.explanation
    recv = [ln for ln in lines if ln.startswith("    m = ")]
    assert recv and all(": phase[m.dst] != done is false (phase[m.dst] = done, m.dst = n"
                        in ln for ln in recv), recv
    assert not any("Req(src" in ln.split(": ", 1)[1] for ln in recv)


def test_quiescent_and_enabled_say_which_actions_can_step():
    # (was: `quiescent is true (enabled(Start, Recv, Finish) = false)`)
    result = own("invariant Q: not quiescent")
    assert result.violation.explanation[-1] == \
        "    quiescent is true (no action can take a step)"
    result = own("invariant E: count < 1 or not enabled(Start)")
    assert "    not enabled(Start) is false (Start(n2) and Start(n3) can take a step)" \
        in result.violation.explanation
    result = own("invariant E: count < 3 or enabled(Start)")
    assert "    enabled(Start) is false (Start cannot take a step)" \
        in result.violation.explanation


def test_an_index_by_a_variable_shows_the_key():
    # (was: `phase[leader] == busy is true` with no value of leader)
    result = own("invariant L: leader == none or phase[leader] != done")
    assert "    phase[leader] != done is false (phase[leader] = done, leader = n2, " \
        "phase = {n1: busy, n2: done, n3: idle})" in result.violation.explanation
    result = own("invariant U: leader != none and up[leader] implies count < 2")
    assert "      up[leader] is true (leader = n2, up = {n1: true, n2: true, n3: false})" \
        in result.violation.explanation


def test_a_false_exists_shows_why_each_choice_fails():
    # (was only: `no choice of q makes it true (4 choices tried)`)
    result = own("invariant W: count == 0 or exists q in Quorums: forall x in q: "
                 "phase[x] == done")
    assert result.violation.explanation == (
        "W is false in state 2:",
        "  count == 0 or (exists q in Quorums: forall x in q: phase[x] == done)",
        "  is false, since neither holds:",
        "    count == 0 is false (count = 1)",
        "    exists q in Quorums: forall x in q: phase[x] == done",
        "    is false, since no choice of q makes it true (4 choices):",
        "      q = {n1, n2}: forall x in {n1, n2}: phase[x] == done is false for x = n1:",
        "        phase[n1] == done is false (phase[n1] = busy)",
        "      q = {n1, n3}: forall x in {n1, n3}: phase[x] == done is false for x = n1:",
        "        phase[n1] == done is false (phase[n1] = busy)",
        "      q = {n2, n3}: forall x in {n2, n3}: phase[x] == done is false for x = n2:",
        "        phase[n2] == done is false (phase[n2] = idle)",
        "      q = {n1, n2, n3}: forall x in {n1, n2, n3}: phase[x] == done is false for "
        "x = n1:",
        "        phase[n1] == done is false (phase[n1] = busy)",
    )


def test_values_of_defs_comprehensions_and_ranges():
    result = own("invariant A: twice(count) + 1 < 5")
    assert result.violation.explanation[1] == \
        "  twice(count) + 1 < 5 is false (twice(count) + 1 = 5, twice(count) = 4, count = 2)"
    result = own("invariant B: size(busyNodes) < 2")
    assert result.violation.explanation[1] == \
        "  size(busyNodes) < 2 is false (size(busyNodes) = 2, busyNodes = {n1, n2})"
    result = own("invariant C: size({m in net where m.dst == n1}) < 1")
    assert result.violation.explanation[1].startswith(
        "  size({m in net where m.dst == n1}) < 1 is false (size({m in net where m.dst == n1})"
        " = 1, net = {Req(src=n2, dst=n1, n=1)")
    result = own("invariant D: forall i in 1..3: i > count")
    assert result.violation.explanation[1] == \
        "  forall i in 1..3: i > count is false for i = 1:"
