"""The semantics of the spec language, through tiny inline specs compiled and explored.

Every count below is worked out by hand in the comments (distinct states, generated
states counting the initial states and every successor with duplicates, depth = the
number of BFS levels), and where it helps the reachable states are listed outright.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.api import load_spec
from checker.explore import explore
from checker.result import Status
from checker.source import SpecError
from checker.values import RecordValue, format_value


def compile_text(text: str, **kw):
    return load_spec("inline.spec", text=text, **kw)


def run(text: str, load=None, **explore_kw):
    return explore(compile_text(text, **(load or {})).model, **explore_kw)


def counts(result):
    s = result.stats
    return s.distinct_states, s.generated_states, s.depth


def reachable(compiled) -> set[tuple[str, ...]]:
    """Every reachable state, each as the tuple of its variables' printed values."""
    model = compiled.model
    seen = set(model.initial_states())
    todo = deque(seen)
    while todo:
        for t in model.successors(todo.popleft()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return {tuple(format_value(v) for v in model.decode(s).values()) for s in seen}


def initial(compiled) -> list[dict]:
    return [compiled.model.decode(s) for s in compiled.model.initial_states()]


def trace_values(result, var: str) -> list[str]:
    return [format_value(step.state[var]) for step in result.violation.trace]


# ------------------------------------------------------------------- statements
SEQUENTIAL = """\
spec Sequential
option deadlock = false
var x: 0..5
var y: 0..5
init:
    x = 0
    y = 0
action Step:
    require x < 2
    x = x + 1
    y = x + x
"""


def test_later_statements_see_earlier_writes():
    # y = x + x reads the new x: (0, 0) -> (1, 2) -> (2, 4).
    compiled = compile_text(SEQUENTIAL)
    assert reachable(compiled) == {("0", "0"), ("1", "2"), ("2", "4")}
    # 3 distinct; 1 initial + 1 + 1 successors; levels {(0,0)}, {(1,2)}, {(2,4)}.
    assert counts(explore(compiled.model)) == (3, 3, 3)


CHOOSE = """\
spec Choose
option deadlock = false
const Items = {i1, i2, i3}
var picked: set[Items]
init:
    picked = {}
action Pick:
    choose i in Items where i not in picked:
        picked = picked | {i}
"""


def test_choose_gives_one_successor_per_choice():
    compiled = compile_text(CHOOSE)
    (s0,) = compiled.model.initial_states()
    assert sorted(format_value(compiled.model.decode(t)["picked"])
                  for t in compiled.model.successors(s0)) == ["{i1}", "{i2}", "{i3}"]
    # Every subset of the 3 items: 8 states. From a set of k items, 3 - k successors:
    # 1 + (1 * 3 + 3 * 2 + 3 * 1 + 1 * 0) = 13 generated; sizes 0..3 are 4 levels.
    assert counts(explore(compiled.model)) == (8, 13, 4)


def test_choose_without_where_allows_every_choice():
    # Without the filter every state has 3 successors (adding a picked item is a
    # self-loop): 1 + 8 * 3 = 25 generated, still 8 distinct in 4 levels.
    result = run(CHOOSE.replace(" where i not in picked", ""))
    assert counts(result) == (8, 25, 4)


def test_choose_over_several_binders_with_a_filter():
    text = """\
spec Pairs
option deadlock = false
var a: 0..2
var b: 0..2
init:
    choose x, y in 0..2 where x < y:
        a = x
        b = y
"""
    # init branches too: (0,1), (0,2), (1,2), and no action at all.
    compiled = compile_text(text)
    assert reachable(compiled) == {("0", "1"), ("0", "2"), ("1", "2")}
    assert counts(explore(compiled.model)) == (3, 3, 1)


def test_choose_over_an_empty_set_disables_the_action():
    text = """\
spec Empty
var x: 0..1
init:
    x = 0
action Never:
    choose i in {n in 0..3 where n > 5}:
        x = 1
"""
    result = run(text)
    # No successor at all: the initial state deadlocks.
    assert result.status is Status.DEADLOCK and counts(result) == (1, 1, 1)


EITHER = """\
spec Either
option deadlock = false
var x: 0..3
init:
    x = 0
action A:
    require x < 3
    either:
        x = x + 1
    or:
        x = 0
    or:
        require x == 2
        x = 3
"""


def test_either_or():
    result = run(EITHER)
    # From 0: {1, 0}; from 1: {2, 0}; from 2: {3, 0, 3} (the third branch is enabled
    # only at 2 and duplicates the first); from 3: nothing.
    # 4 distinct; 1 + 2 + 2 + 3 = 8 generated; levels {0}, {1}, {2}, {3}.
    assert result.status is Status.OK
    assert counts(result) == (4, 8, 4)


IF_MERGE = """\
spec IfMerge
option deadlock = false
var x: 0..4
var y: 0..2
init:
    x = 0
    y = 0
action Step:
    require x < 4
    if x == 0:
        y = 1
    elif x == 1:
        y = 2
    else:
        skip
    x = x + 1
"""


def test_if_elif_else_then_the_rest_of_the_action():
    # Each branch is followed by x = x + 1: (0,0) -> (1,1) -> (2,2) -> (3,2) -> (4,2).
    compiled = compile_text(IF_MERGE)
    assert reachable(compiled) == {("0", "0"), ("1", "1"), ("2", "2"), ("3", "2"), ("4", "2")}
    assert counts(explore(compiled.model)) == (5, 5, 5)


def test_if_without_else_keeps_the_state_when_false():
    text = IF_MERGE.replace("    else:\n        skip\n", "")
    assert reachable(compile_text(text)) == {
        ("0", "0"), ("1", "1"), ("2", "2"), ("3", "2"), ("4", "2")}


def test_if_in_init_must_assign_on_every_path():
    ok = "spec I\nvar y: 0..2\ninit:\n    if true:\n        y = 1\n    else:\n        y = 2\n"
    assert initial(compile_text(ok)) == [{"y": 1}]
    with pytest.raises(SpecError, match="y is not assigned on every path"):
        compile_text("spec I\nvar y: 0..2\ninit:\n    if true:\n        y = 1\n")


def test_let_keeps_the_value_it_was_given():
    text = """\
spec Swap
option deadlock = false
var x: 0..1
var y: 0..1
init:
    x = 0
    y = 1
action Swap:
    let old = x
    x = y
    y = old
"""
    compiled = compile_text(text)
    assert reachable(compiled) == {("0", "1"), ("1", "0")}
    # (0,1) -> (1,0) -> (0,1): 2 distinct, 3 generated, 2 levels.
    assert counts(explore(compiled.model)) == (2, 3, 2)


def test_require_in_the_middle_sees_earlier_writes():
    text = """\
spec Middle
var x: 0..3
var y: 0..3
init:
    x = 0
    y = 0
action A:
    require x < 3
    x = x + 1
    require x != 2
    y = y + 1
"""
    result = run(text)
    # (0,0) -> (1,1); from (1,1) the new x would be 2, so the step is disabled: deadlock.
    assert result.status is Status.DEADLOCK
    assert counts(result) == (2, 2, 2)
    assert trace_values(result, "x") == ["0", "1"] and trace_values(result, "y") == ["0", "1"]


MAP_UPDATE = """\
spec MapUpdate
option deadlock = false
const P = {p1, p2}
var f: map[P, 0..2]
init:
    f = {p: 0 for p in P}
action Inc(p in P):
    require f[p] < 2
    f[p] = f[p] + 1
"""


def test_map_update():
    compiled = compile_text(MAP_UPDATE)
    states = reachable(compiled)
    assert len(states) == 9 and ("{p1: 2, p2: 0}",) in states
    # 3 * 3 states; from (a, b) there are [a < 2] + [b < 2] successors, summing to
    # 2 * 3 * 2 = 12 over the 9 states: 13 generated; a + b ranges over 0..4: 5 levels.
    result = explore(compiled.model)
    assert counts(result) == (9, 13, 5)
    labels = sorted(step.label for step in compiled.model.steps(compiled.model.initial_states()[0]))
    assert labels == ["Inc(p1)", "Inc(p2)"]


def test_record_field_update():
    text = """\
spec Record
option deadlock = false
record Pt(x: 0..2, y: 0..2)
var p: Pt
init:
    p = Pt(0, 0)
action Right:
    require p.x < 2
    p.x = p.x + 1
action Up:
    require p.y < 2
    p.y = p.y + 1
"""
    compiled = compile_text(text)
    assert initial(compiled) == [{"p": RecordValue(None, (("x", 0), ("y", 0)))}]
    # The same shape as the map above: 9 distinct, 13 generated, 5 levels.
    assert counts(explore(compiled.model)) == (9, 13, 5)


MESSAGES = """\
spec PingPong
const Nodes = {n1, n2}
message Ping(src: Nodes)
message Pong(dst: Nodes)
var msgs: set[Message]
var got: set[Nodes]
init:
    msgs = {}
    got = {}
action SendPing(n in Nodes):
    msgs = msgs | {Ping(n)}
action Reply(m in msgs):
    require m is Ping
    msgs = msgs | {Pong(m.src)}
action Receive(m in msgs):
    require m is Pong
    got = got | {m.dst}
"""


def test_message_sets_with_is_and_fields():
    compiled = compile_text(MESSAGES)
    result = explore(compiled.model)
    # Per node: nothing, Ping sent, Pong sent, received: 4 phases; 2 nodes: 16 states.
    # Per node the successors are SendPing (always, maybe a self-loop), Reply once the
    # Ping is there, Receive once the Pong is there: 1, 2, 3, 3 in the four phases, so
    # 2 * 4 * (1 + 2 + 3 + 3) = 72 successors over the 16 states, + 1 initial = 73.
    # At most 3 steps per node: 7 levels. SendPing is always enabled: no deadlock.
    assert result.status is Status.OK
    assert counts(result) == (16, 73, 7)
    final = ("{Ping(src=n1), Ping(src=n2), Pong(dst=n1), Pong(dst=n2)}", "{n1, n2}")
    assert final in reachable(compiled)


def test_builtins_and_comprehensions():
    text = """\
spec Builtins
const N = 3
def Evens = {n in 0..N where n % 2 == 0}
var evens: set[0..6]
var doubles: set[0..6]
var sums: set[0..6]
var count: 0..20
var lo: 0..6
var hi: 0..6
var flat: set[0..6]
var twice: map[0..3, 0..6]
var big: set[set[0..3]]
init:
    evens = Evens
    doubles = {2 * n for n in 0..N}
    sums = {a + b for a in 0..2, b in 0..2 where a < b}
    count = size(subsets(0..N))
    lo = min(doubles - {0})
    hi = max(evens | {5})
    flat = union({{1}, {2, 3}, {}})
    twice = {n: 2 * n for n in 0..N}
    big = {s in subsets(0..N) where size(s) >= 3}
"""
    (state,) = initial(compile_text(text, check_deadlock=False))
    shown = {k: format_value(v) for k, v in state.items()}
    assert shown == {
        "evens": "{0, 2}",
        "doubles": "{0, 2, 4, 6}",
        "sums": "{1, 2, 3}",
        "count": "16",
        "lo": "2",
        "hi": "5",
        "flat": "{1, 2, 3}",
        "twice": "{0: 0, 1: 2, 2: 4, 3: 6}",
        # 4 subsets of size 3 and the whole set, in the type's canonical order.
        "big": "{{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {1, 2, 3}, {0, 1, 2, 3}}",
    }


def test_quantifiers_over_empty_sets():
    text = """\
spec Empty
option deadlock = false
var s: set[0..2]
var all: bool
var some: bool
init:
    s = {}
    all = forall x in s: false
    some = exists x in s: true
action Fill:
    require s == {}
    s = {1}
    all = forall x in s: false
    some = exists x in s: true
invariant Vacuous: forall x in {n in 0..2 where n > 5}: false
invariant Nothing: not (exists x in {n in 0..2 where n > 5}: true)
"""
    compiled = compile_text(text)
    assert reachable(compiled) == {("{}", "true", "false"), ("{1}", "false", "true")}
    assert explore(compiled.model).status is Status.OK


def test_option_and_none():
    text = """\
spec Opt
const Vals = {v1, v2}
var val: Vals?
init:
    val = none
action Set(v in Vals):
    require val == none
    val = v
action Clear:
    require val != none
    val = none
"""
    compiled = compile_text(text)
    assert initial(compiled) == [{"val": None}]
    # none -> v1, v2; each back to none: 3 distinct, 1 + 2 + 1 + 1 = 5 generated, 2 levels.
    result = explore(compiled.model)
    assert result.status is Status.OK and counts(result) == (3, 5, 2)


def test_several_initial_states_from_choose_and_either():
    text = """\
spec Inits
option deadlock = false
var x: 0..5
var b: bool
init:
    choose v in 0..2:
        x = v
    either:
        b = true
    or:
        b = false
"""
    compiled = compile_text(text)
    assert len(compiled.model.initial_states()) == 6
    assert counts(explore(compiled.model)) == (6, 6, 1)


# ------------------------------------------------------------- run-time errors
def test_integer_overflow_is_an_error_with_a_clear_message():
    text = "spec O\noption deadlock = false\nvar x: 0..5\ninit:\n    x = 4\naction A:\n" \
           "    x = x + 1\n"
    result = run(text)
    assert result.status is Status.ERROR and result.exit_code == 2
    assert result.violation.kind == "error"
    assert result.violation.message == "in action A: `x` would be 6, outside its range 0..5"
    # The path to the state in which A fails: 4, 5.
    assert trace_values(result, "x") == ["4", "5"]


def test_map_key_out_of_range_is_an_error():
    text = """\
spec Key
var m: map[0..1, 0..3]
var i: 0..3
init:
    m = {0: 0, 1: 0}
    i = 0
action A:
    require i < 3
    i = i + 1
    m[i] = 1
"""
    result = run(text)
    assert result.status is Status.ERROR
    assert "a map key would be 2, outside its range 0..1" in result.violation.message


# ------------------------------------------------------------------- deadlock
STUCK = """\
spec Stuck
var x: 0..2
init:
    x = 0
action Inc:
    require x < 2
    x = x + 1
"""


def test_deadlock_is_reported_by_default():
    result = run(STUCK)
    assert result.status is Status.DEADLOCK and result.exit_code == 1
    assert result.violation.kind == "deadlock" and result.violation.property is None
    assert trace_values(result, "x") == ["0", "1", "2"]
    assert [s.label for s in result.violation.trace] == [None, "Inc", "Inc"]


def test_option_deadlock_false_and_the_overrides():
    spec_off = STUCK.replace("var x", "option deadlock = false\nvar x")
    assert run(spec_off).status is Status.OK
    assert counts(run(spec_off)) == (3, 3, 3)
    # --no-deadlock (load_spec's check_deadlock) and explore's override.
    assert run(STUCK, load={"check_deadlock": False}).status is Status.OK
    assert run(STUCK, check_deadlock=False).status is Status.OK
    # The command line wins over the spec's option.
    assert run(spec_off, load={"check_deadlock": True}).status is Status.DEADLOCK


# --------------------------------------------------------------------- faults
FAULTS = """\
spec Faults
option deadlock = false
var x: 0..3
var crashed: bool
init:
    x = 0
    crashed = false
action Inc:
    require x < 3
    x = x + 1
fault action Crash:
    require not crashed
    crashed = true
    x = 0
fault action Glitch:
    x = 3
"""


def test_fault_actions_are_off_by_default():
    compiled = compile_text(FAULTS)
    assert compiled.faults == ()
    # Only Inc: 0 -> 1 -> 2 -> 3 with crashed false: 4 distinct, 4 generated, 4 levels.
    assert counts(explore(compiled.model)) == (4, 4, 4)


def test_one_fault_switched_on():
    compiled = compile_text(FAULTS, faults=("Crash",))
    assert compiled.faults == ("Crash",)
    # (x, crashed): (k, F) has Inc (k < 3) and Crash -> (0, T); (k, T) has Inc only.
    # 8 states; generated 1 + 3 * 2 + 1 + 3 * 1 + 0 = 11; (3, T) is 4 steps away
    # (Crash, Inc, Inc, Inc): 5 levels.
    assert counts(explore(compiled.model)) == (8, 11, 5)


def test_all_faults_switched_on():
    compiled = compile_text(FAULTS, faults=("all",))
    assert compiled.faults == ("Crash", "Glitch")
    # Glitch (x = 3) adds one successor to each of the same 8 states: 19 generated;
    # the farthest state is now (2, T) (Crash, Inc, Inc): 4 levels.
    assert counts(explore(compiled.model)) == (8, 19, 4)


def test_fault_budget():
    compiled = compile_text(FAULTS, faults=("all",), max_faults=1)
    assert compiled.max_faults == 1
    # The state carries the number of faults so far (hidden); faults need it below 1.
    # Without a fault: (0..3, F, 0). One Crash: (0..3, T, 1). One Glitch: (3, F, 1).
    # 9 states. Generated: (k, F, 0), k < 3: 3 each = 9; (3, F, 0): 2; (k, T, 1), k < 3:
    # 1 each = 3; the rest none: 1 + 9 + 2 + 3 = 15. (3, T, 1) is 4 steps away: 5 levels.
    assert counts(explore(compiled.model)) == (9, 15, 5)
    # The same budget given by the spec.
    in_spec = FAULTS.replace("var x", "option max_faults = 1\nvar x")
    assert counts(explore(compile_text(in_spec, faults=("all",)).model)) == (9, 15, 5)
    # The readable state does not show the hidden counter.
    assert set(initial(compiled)[0]) == {"x", "crashed"}


def test_unknown_fault_is_an_input_error():
    with pytest.raises(SpecError, match=r"--faults: error: unknown fault Crsh"):
        compile_text(FAULTS, faults=("Crsh",))


# ------------------------------------------------------ transition invariants
def test_transition_invariant_with_primed_names():
    text = """\
spec Mono
option deadlock = false
var x: 0..3
init:
    x = 0
action Inc:
    require x < 3
    x = x + 1
fault action Reset:
    x = 0
transition invariant Stable: x' >= x
"""
    ok = run(text)
    assert ok.status is Status.OK and counts(ok) == (4, 4, 4)
    bad = run(text, load={"faults": ("Reset",)})
    assert bad.status is Status.VIOLATION
    assert bad.violation.kind == "transition" and bad.violation.property == "Stable"
    # Reset from 0 is 0 -> 0 (fine); the first decreasing step is 1 -> 0.
    assert trace_values(bad, "x") == ["0", "1", "0"]
    assert [s.label for s in bad.violation.trace] == [None, "Inc", "Reset"]


def test_transition_invariant_checked_on_steps_to_seen_states():
    text = """\
spec Flip
var x: 0..1
init:
    x = 0
action Flip:
    x = 1 - x
transition invariant Up: x' >= x
"""
    result = run(text)
    # 0 -> 1 is fine; 1 -> 0 leads back to a seen state and still violates Up.
    assert result.status is Status.VIOLATION
    assert trace_values(result, "x") == ["0", "1", "0"]


def test_lemma_is_checked_like_an_invariant():
    text = STUCK.replace("var x", "option deadlock = false\nvar x") + "lemma Small: x < 2\n"
    compiled = compile_text(text)
    assert [i.name for i in compiled.model.invariants] == ["Small"]
    result = explore(compiled.model)
    assert result.status is Status.VIOLATION
    assert result.violation.kind == "invariant" and result.violation.property == "Small"
    assert trace_values(result, "x") == ["0", "1", "2"]


def test_invariants_checked_in_initial_states():
    text = STUCK + "invariant Positive: x > 0\n"
    result = run(text)
    assert result.status is Status.VIOLATION and result.violation.property == "Positive"
    assert len(result.violation.trace) == 1


def test_depth_counts_the_level_of_the_violating_state():
    text = STUCK.replace("var x", "option deadlock = false\nvar x") + "invariant Small: x < 2\n"
    result = run(text)
    # The counterexample 0, 1, 2 has 3 states, so the search reached level 3.
    assert len(result.violation.trace) == 3
    assert result.stats.depth == 3


def test_a_long_sum_compiles_or_is_a_spec_error():
    terms = " + ".join(["x"] * 300)
    text = f"spec Sum\nvar x: 0..1\nvar y: 0..1000\ninit:\n    x = 1\n    y = {terms}\n"
    try:
        compiled = compile_text(text, check_deadlock=False)
    except SpecError:
        return
    assert initial(compiled) == [{"x": 1, "y": 300}]


# -------------------------------------------------- map values of narrower types
NARROW_MAP = """\
spec Narrow
option deadlock = false
var m: map[0..3, 0..3]
init:
    m = {i: 1 for i in 0..3}
invariant AllOne: forall i in 0..3: m[i] == 1
"""


def test_map_comprehension_with_a_constant_value():
    compiled = compile_text(NARROW_MAP)
    assert format_value(initial(compiled)[0]["m"]) == "{0: 1, 1: 1, 2: 1, 3: 1}"
    assert explore(compiled.model).status is Status.OK


def test_map_literal_with_values_above_the_lower_bound():
    text = NARROW_MAP.replace("{i: 1 for i in 0..3}", "{0: 1, 1: 2, 2: 3, 3: 3}").replace(
        "m[i] == 1", "m[i] >= 1")
    compiled = compile_text(text)
    assert format_value(initial(compiled)[0]["m"]) == "{0: 1, 1: 2, 2: 3, 3: 3}"


def test_map_equality_with_a_narrower_literal():
    text = """\
spec Eq
option deadlock = false
var m: map[0..3, 0..3]
init:
    m = {i: 0 for i in 0..3}
invariant NotAllOne: m != {i: 1 for i in 0..3}
"""
    assert run(text).status is Status.OK


def test_map_comprehension_whose_values_start_at_the_lower_bound():
    # The case the shipped specs use ({a: -1 for a in Acceptors} into -1..MaxBallot).
    text = NARROW_MAP.replace("0..3]", "1..3]")
    compiled = compile_text(text)
    assert format_value(initial(compiled)[0]["m"]) == "{0: 1, 1: 1, 2: 1, 3: 1}"
    assert explore(compiled.model).status is Status.OK


# --------------------------------------- random specs against an independent BFS
def _counter_spec(counters):
    """k counters; counter i goes up by any step in steps_i while it stays <= bound_i,
    and optionally resets from its bound to 0."""
    lines = ["spec Counters", "option deadlock = false"]
    for i, (bound, _, _) in enumerate(counters):
        lines.append(f"var c{i}: 0..{bound}")
    lines.append("init:")
    lines += [f"    c{i} = 0" for i in range(len(counters))]
    for i, (bound, steps, reset) in enumerate(counters):
        domain = "{" + ", ".join(str(d) for d in sorted(steps)) + "}"
        lines += [f"action Inc{i}(d in {domain}):", f"    require c{i} + d <= {bound}",
                  f"    c{i} = c{i} + d"]
        if reset:
            lines += [f"action Reset{i}:", f"    require c{i} == {bound}", f"    c{i} = 0"]
    return "\n".join(lines) + "\n"


def _counter_bfs(counters):
    """The same system in plain Python: (distinct, generated, depth)."""
    start = tuple(0 for _ in counters)
    seen = {start}
    frontier = [start]
    generated, depth = 1, 1
    while frontier:
        nxt = []
        for s in frontier:
            for i, (bound, steps, reset) in enumerate(counters):
                succ = [s[i] + d for d in sorted(steps) if s[i] + d <= bound]
                if reset and s[i] == bound:
                    succ.append(0)
                for v in succ:
                    t = s[:i] + (v,) + s[i + 1:]
                    generated += 1
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
        if nxt:
            depth += 1
    return len(seen), generated, depth


COUNTERS = st.lists(
    st.tuples(st.integers(1, 4), st.sets(st.integers(1, 3), min_size=1), st.booleans()),
    min_size=1, max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COUNTERS)
def test_random_counter_specs_match_a_python_bfs(counters):
    result = run(_counter_spec(counters))
    assert result.status is Status.OK
    assert counts(result) == _counter_bfs(counters)
