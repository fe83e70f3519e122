"""The text and JSON renderers, on hand-built results and on one real search."""

from __future__ import annotations

import json

import pytest

from checker.explore import explore
from checker.model import Invariant, Model, Step
from checker.render.json import render_json
from checker.render.text import render_text
from checker.result import Result, Stats, Status, TraceStep, Violation
from checker.values import MapValue, RecordValue, SeqValue, SetValue

STATS = Stats(distinct_states=3, generated_states=4, depth=3, elapsed_s=0.5,
              peak_memory_bytes=2 * 2**20, queue_left=0)

S1 = {"x": 0, "y": SetValue(()), "m": MapValue((("r1", None),))}
S2 = {**S1, "x": 1}
S3 = {**S2, "m": MapValue((("r1", RecordValue("Ack", (("bal", 2),))),))}

TRACE = (
    TraceStep(None, (), S1),
    TraceStep("Inc", ("r1",), S2),
    TraceStep("Noop", (), S2),
    TraceStep("Send", ("r1", 2), S3),
)


def result(status=Status.VIOLATION, violation=None, **kw):
    if violation is None and status is Status.VIOLATION:
        violation = Violation("invariant", "Safe", TRACE)
    base = dict(engine="explicit", spec="Toy", status=status,
                constants={"N": 2, "RM": SetValue(("r1", "r2"))}, properties=("Safe",),
                violation=violation, stats=STATS)
    base.update(kw)
    return Result(**base)


# ---- text

EXPECTED_VIOLATION = """\
Invariant Safe is violated.

Counterexample (4 states; after state 1, only changed variables are shown, marked *):

State 1: initial state
  x = 0
  y = {}
  m = {r1: none}

State 2: Inc(r1)
  * x = 1

State 3: Noop
  (no variables changed)

State 4: Send(r1, 2)
  * m = {r1: Ack(bal=2)}

Safe is false in state 4.

Statistics:
  distinct states:   3
  generated states:  4
  depth:             3
  time:              0.500 s
  states per second: 6
  peak memory:       2.0 MiB
"""


def test_text_violation_exactly():
    assert render_text(result()) == EXPECTED_VIOLATION


def test_text_header_lines_come_first():
    text = render_text(result(), header_lines=["modelcheck 0.1.0", "spec: toy.spec"])
    assert text == "modelcheck 0.1.0\nspec: toy.spec\n\n" + EXPECTED_VIOLATION


def test_text_shows_only_changed_variables_after_the_first_state():
    text = render_text(result())
    blocks = text.split("\n\n")
    state2 = next(b for b in blocks if b.startswith("State 2:"))
    assert state2.splitlines()[1:] == ["  * x = 1"]
    state4 = next(b for b in blocks if b.startswith("State 4:"))
    assert "x =" not in state4 and "y =" not in state4


def test_text_int_to_bool_is_a_change():
    trace = (TraceStep(None, (), {"v": 1}), TraceStep("Flip", (), {"v": True}))
    text = render_text(result(violation=Violation("invariant", "Safe", trace)))
    assert "  * v = true" in text


@pytest.mark.parametrize("res, verdict", [
    (result(Status.OK), "No violation found: 3 distinct states, 4 generated, depth 3."),
    (result(Status.OK, stats=Stats()), "No violation found."),
    (result(), "Invariant Safe is violated."),
    (result(violation=Violation("transition", "Grows", TRACE)),
     "Transition invariant Grows is violated."),
    (result(Status.DEADLOCK, violation=Violation("deadlock", None, TRACE)), "Deadlock reached."),
    (result(Status.LIMIT, limit_reason="time limit of 5s reached"),
     "Stopped: time limit of 5s reached (partial results below)."),
    (result(Status.LIMIT, limit_reason="interrupted"),
     "Stopped: interrupted (partial results below)."),
    (result(Status.ERROR, violation=Violation("error", None, TRACE[:2], "x left 0..3")),
     "Error: x left 0..3"),
    (result(Status.REJECTED, violation=Violation("rejected", None, (), "step 3 is not Inc")),
     "Trace rejected: step 3 is not Inc"),
])
def test_text_verdict(res, verdict):
    text = render_text(res)
    assert text.splitlines()[0] == verdict
    assert "\x1b" not in text
    stats = {ln.split(":")[0].strip(): ln.split(":")[1].split() for ln in text.splitlines()
             if ln.startswith("  ") and ":" in ln}
    assert stats["distinct states"] == [str(res.stats.distinct_states)]
    assert stats["depth"] == [str(res.stats.depth)]


def test_text_trace_endings():
    dead = render_text(result(Status.DEADLOCK, violation=Violation("deadlock", None, TRACE)))
    assert "No action is enabled in state 4." in dead
    err = render_text(result(Status.ERROR, violation=Violation("error", None, TRACE[:2], "oops")))
    assert "Path to the error (2 states;" in err and "The error occurs in state 2." in err
    tr = render_text(result(violation=Violation("transition", "Grows", TRACE)))
    assert "The step to state 4 violates Grows." in tr


def test_text_limit_shows_the_queue():
    text = render_text(result(Status.LIMIT, limit_reason="max states 3 reached",
                              stats=Stats(3, 4, 2, 1.0, 0, queue_left=7)))
    assert "  states left in queue: 7" in text.splitlines()
    assert "queue" not in render_text(result(Status.OK))


def test_text_color():
    plain = render_text(result())
    colored = render_text(result(), color=True)
    assert "\x1b[" in colored and "\x1b" not in plain
    assert _strip_ansi(colored) == plain


def test_text_single_state_trace():
    trace = (TraceStep(None, (), {"x": 7}),)
    text = render_text(result(violation=Violation("invariant", "Safe", trace)))
    assert "Counterexample (1 state):" in text and "State 2" not in text
    assert "  x = 7" in text


def _strip_ansi(text):
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# ---- JSON

KEYS = ["spec", "engine", "constants", "properties", "symmetry", "status", "distinct_states",
        "generated_states", "depth", "elapsed_s", "states_per_s", "peak_memory_bytes",
        "queue_left", "limit_reason", "notes", "violation"]


def test_json_violation():
    out = render_json(result())
    data = json.loads(out)  # exactly one object: trailing data would make this fail
    assert list(data) == KEYS
    assert data["spec"] == "Toy" and data["engine"] == "explicit"
    assert data["constants"] == {"N": 2, "RM": ["r1", "r2"]}
    assert data["properties"] == ["Safe"]
    assert data["status"] == "violation"
    assert (data["distinct_states"], data["generated_states"], data["depth"]) == (3, 4, 3)
    assert data["elapsed_s"] == 0.5 and data["states_per_s"] == 6.0
    assert data["peak_memory_bytes"] == 2 * 2**20
    assert data["limit_reason"] is None and data["queue_left"] == 0
    v = data["violation"]
    assert list(v) == ["kind", "property", "message", "explanation", "trace"]
    assert (v["kind"], v["property"], v["message"]) == ("invariant", "Safe", None)
    assert [s["action"] for s in v["trace"]] == [None, "Inc(r1)", "Noop", "Send(r1, 2)"]
    assert all(list(s) == ["action", "state"] for s in v["trace"])
    assert v["trace"][0]["state"] == {"x": 0, "y": [], "m": {"r1": None}}
    assert v["trace"][3]["state"]["m"] == {"r1": {"tag": "Ack", "bal": 2}}
    assert render_json(result()) == out  # deterministic


def test_json_ok_and_limit():
    data = json.loads(render_json(result(Status.OK)))
    assert data["status"] == "ok" and data["violation"] is None and data["limit_reason"] is None
    data = json.loads(render_json(result(Status.LIMIT, limit_reason="max depth 4 reached")))
    assert data["status"] == "limit" and data["limit_reason"] == "max depth 4 reached"


def test_json_error_message_and_values():
    state = {"q": SeqValue((1, 2)), "ok": False, "who": None}
    v = Violation("error", None, (TraceStep(None, (), state),), "divide by zero")
    data = json.loads(render_json(result(Status.ERROR, violation=v)))
    assert data["status"] == "error"
    assert data["violation"]["message"] == "divide by zero"
    assert data["violation"]["trace"][0]["state"] == {"q": [1, 2], "ok": False, "who": None}


# ---- a real search, rendered

def test_render_a_search():
    # x counts up to 3; y flips once, at the start.
    def nxt(s):
        x, y = s
        out = []
        if not y:
            out.append(Step("Flip", (), (x, True)))
        if x < 3:
            out.append(Step("Add", (1,), (x + 1, y)))
        return out

    model = Model(
        name="Count", variables=("x", "y"),
        initial_states=lambda: [(0, False)],
        successors=lambda s: [st.state for st in nxt(s)],
        steps=nxt,
        decode=lambda s: {"x": s[0], "y": s[1]},
        invariants=(Invariant("Below3", lambda s: s[0] < 3),),
        check_deadlock=False,
    )
    r = explore(model)
    text = render_text(r)
    lines = [ln for ln in text.splitlines()
             if not ln.startswith(("  time:", "  states per second:", "  peak memory:"))]
    assert lines[:14] == [
        "Invariant Below3 is violated.",
        "",
        "Counterexample (4 states; after state 1, only changed variables are shown, marked *):",
        "",
        "State 1: initial state",
        "  x = 0",
        "  y = false",
        "",
        "State 2: Add(1)",
        "  * x = 1",
        "",
        "State 3: Add(1)",
        "  * x = 2",
        "",
    ]
    data = json.loads(render_json(r))
    assert [s["action"] for s in data["violation"]["trace"]] == [None, "Add(1)", "Add(1)", "Add(1)"]
    assert data["violation"]["trace"][-1]["state"] == {"x": 3, "y": False}
    assert data["distinct_states"] == r.stats.distinct_states


# ---- the sequence diagram: who sends and receives

def _diagram(path=None, *, text=None, **kw):
    from pathlib import Path

    from checker.api import load_spec
    from checker.render.diagram import describe, sequence_diagram

    root = Path(__file__).resolve().parent.parent
    name = path or "inline.spec"
    compiled = load_spec(name, text=text if text is not None else (root / name).read_text(),
                         **kw)
    r = explore(compiled.model)
    assert r.violation is not None
    return describe(sequence_diagram(compiled, r.violation.trace))


def test_diagram_every_type_keying_state_is_a_node():
    # Proposers key two maps, acceptors one: the acceptors' steps were drawn on the
    # proposer named in the message (p1 sent Propose to itself, and sent Accepted).
    lines = _diagram("specs/seed/naive_paxos.spec")
    assert lines[0] == "lifelines: p1, p2, a1, a2, a3"
    assert "p1@2 -> a1@4: Propose(p=p1, val=v1)" in lines
    assert "a1@4 -> (not received): Accepted(acc=a1, p=p1, val=v1)" in lines


def test_diagram_message_handlers_are_the_addressed_node_not_a_role():
    # HandleRequestVote(m): received by m.dst, not by a "Handle" lifeline.
    lines = _diagram("specs/variants/raft_volatile_vote.spec", faults=("Restart",))
    assert lines[:4] == [
        "lifelines: s1, s2, s3",
        "s1@2 -> s2@3: RequestVote(term=1, src=s1, dst=s2, lastTerm=0, lastIndex=0)",
        "s1@2 -> s3@5: RequestVote(term=1, src=s1, dst=s3, lastTerm=0, lastIndex=0)",
        "s3@5 -> s1@6: RequestVote(term=1, src=s3, dst=s1, lastTerm=0, lastIndex=0)",
    ]


DUP = """\
spec Dup
const Nodes = {n1, n2}
option max_faults = 2
option deadlock = false
message Ping(src: Nodes, dst: Nodes)
var net: bag[Message, 2]
var got: map[Nodes, 0..3]
var sent: 0..1
init:
    net = {}
    got = {n: 0 for n in Nodes}
    sent = 0
action Send(s in Nodes, d in Nodes):
    require s != d and sent == 0
    net = put(net, Ping(s, d))
    sent = 1
action Recv(m in net):
    got[m.dst] = got[m.dst] + 1 if got[m.dst] < 3 else 3
    net = take(net, m)
fault(duplication) action Duplicate(m in net):
    require count(net, m) < 2
    net = put(net, m)
invariant AtMostOnce: forall n in Nodes: got[n] <= 1
"""


def test_diagram_a_duplicated_message_is_one_send_received_twice():
    # (was: an arrow into the Duplicate fault, and the copy drawn as sent again by n1 in
    # the fault's step)
    assert _diagram(text=DUP, faults=("all",)) == [
        "lifelines: n1, n2",
        "n1@2 -> n2@4: Ping(src=n1, dst=n2)",
        "n1@2 -> n2@5: Ping(src=n1, dst=n2)",
        "fault n2@3: Duplicate",
    ]
