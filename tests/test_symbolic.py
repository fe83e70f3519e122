"""The Z3 engines against the explicit engine (the cross-checks of issue 4).

1. Every BMC counterexample replays in the explicit model.
2. For every seeded bug, BMC's shortest depth equals the BFS counterexample length.
3. For tiny constants, the states reachable within k steps agree for every k.
4. For tiny constants, an exhaustive explicit induction check agrees with ``prove``.
5. On random type-correct states, successors, invariants and run-time errors agree.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_states import random_value

from checker.api import load_spec
from checker.explore import MODEL_ERRORS, explore
from checker.result import Status
from checker.symbolic import bmc, prove_report
from checker.symbolic import terms as Z
from checker.symbolic.system import System, models, satisfiable, truth

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BUGGY = sorted((SPECS / "buggy").glob("*.spec"))

# A spec that uses most of the language: integers with negative values, floor division
# and modulo, options, records, messages, sequences (append, tail, slices, head), bags
# (put, take, count), sets of integers (min, max, size, union, subsets), if/elif/else,
# either, choose, let, enabled/quiescent, a fault action with a budget, and a transition
# invariant. Its PairOk invariant fails after three steps.
FEATURES = """
spec Features

const Nodes = {n1, n2}
enum Color = red | green | blue
record Pair(x: 0..3, c: Color)
message Ping(src: Nodes, n: 0..2)
message Pong(dst: Nodes, c: Color?)
option max_faults = 1

var counter: -2..5
var color: map[Nodes, Color]
var opt: Nodes?
var pair: Pair
var log: seq[0..3, 3]
var net: bag[Message, 2]
var flags: set[0..4]
var seen: set[Message]

def Big = {x in 0..4 where x >= 2}

init:
    counter = 0
    color = {n: red for n in Nodes}
    opt = none
    pair = Pair(0, red)
    log = []
    net = {}
    flags = {}
    either:
        seen = {}
    or:
        seen = {Ping(n1, 0)}

action Arith(k in 1..2):
    require counter < 5
    let v = (counter * 3 + k) % 4 - counter / 2
    if v > 0:
        counter = v if v <= 5 else 5
    elif v == 0:
        counter = counter - 1
    else:
        counter = -1
    flags = flags | {k} | {x for x in Big where x > counter}

action Paint(n in Nodes, c in Color):
    require color[n] != c
    color[n] = c
    pair.c = c
    pair.x = size(flags) if size(flags) <= 3 else 3
    if opt == none:
        opt = n

action Send(n in Nodes):
    require count(net, Ping(n, 0)) < 2
    choose i in 0..2 where i <= size(flags):
        net = put(net, Ping(n, i))
        seen = seen | {Ping(n, i)}

action Recv(m in net):
    require m is Ping
    net = take(net, m)
    log = append(log, m.n) if len(log) < 3 else tail(log)
    either:
        net = put(net, Pong(m.src, color[m.src]))
    or:
        skip

action Trim:
    require len(log) >= 2
    log = log[2..len(log)]
    if head(log) > 1:
        counter = max(flags) if flags != {} else counter
    flags = flags - {min(flags)} if flags != {} else flags

fault action Drop(m in net):
    net = take(net, m)

invariant Bounded: counter >= -1
invariant PairOk:
    pair.x <= 3 and (forall n in Nodes: opt == n implies color[n] != red or pair.c == red)
invariant Net: forall m in net: m is Ping implies m.n <= 2
invariant Idle: quiescent implies size(net) == 0
invariant CanRecv: enabled(Recv) iff (exists m in net: m is Ping)
invariant Unions: union({flags, {1}}) == flags | {1} and {1, 2} in subsets(0..2)
transition invariant NoShrink: size(seen') >= size(seen)
"""

# Small seeded bugs of each kind the engines report.
RANGE_ERROR = """
spec Overflow
var x: 0..3
var y: 0..1
init:
    x = 0
    y = 0
action Inc:
    x = x + 1
action Flip:
    require y == 0
    y = 1
invariant Fine: x <= 3
"""

DEADLOCK = """
spec Stuck
enum Phase = a | b | c
var p: Phase
var n: 0..2
init:
    p = a
    n = 0
action Step:
    require p == a
    p = b
action Count:
    require p == b and n < 2
    n = n + 1
invariant True_: true
"""

TRANSITION = """
spec Jumps
var x: 0..7
init:
    x = 0
action Up(k in 1..2):
    require x + k <= 7
    x = x + k
action Reset:
    require x >= 3
    x = 0
transition invariant Monotone: x' >= x or x >= 4
"""

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


# Set filters over messages, whose conditions read some fields (cached per distinct
# reading), a field only one kind has (a definedness condition per element), or the
# whole element.
NET_FILTER = """
spec NetFilter
const Nodes = {n1, n2}
message Req(src: Nodes, n: 0..2)
message Ack(dst: Nodes, n: 0..2, ok: bool)
var net: set[Message]
var low: map[Nodes, 0..2]
var strict: bool
init:
    net = {}
    low = {s: 0 for s in Nodes}
    strict = false
action Send(s in Nodes, k in 0..2):
    net = net | {Req(s, k), Ack(s, k, k > 0)}
action Prune(k in 0..2):
    net = {m in net where m.n >= k and (m is Req or m.ok)}
action Raise(s in Nodes):
    require low[s] < 2
    low[s] = low[s] + 1
    net = {m in net where not (m is Req and m.src == s and m.n < low[m.src])}
action Strict:
    strict = true
action OnlyOk:
    require strict
    net = {m in net where m.ok}
action DropOne:
    net = {m in net where m != Req(n1, 0)}
invariant Few: size(net) <= 12
invariant Low: forall m in net: m is Req implies m.n >= low[m.src] or m.n < 2
"""


def load(name: str, text: str | None = None, consts=(), faults=()):
    if text is not None:
        return load_spec(f"{name}.spec", consts, faults, text=text)
    return load_spec(str(SPECS / name), consts, faults)


def replays(compiled, trace) -> bool:
    """The decoded trace is a behaviour of the explicit model, step by step."""
    model = compiled.model
    current = [s for s in model.initial_states() if model.decode(s) == trace[0].state]
    if not current:
        return False
    for step in trace[1:]:
        nxt = [x.state for s in current for x in model.steps(s)
               if x.action == step.action and x.args == step.args
               and model.decode(x.state) == step.state]
        if not nxt:
            return False
        current = nxt
    return True


# -------------------------------------------------------------- 1 and 2: BMC
@pytest.mark.parametrize("path", BUGGY, ids=[p.stem for p in BUGGY])
def test_seeded_bugs_bmc_matches_bfs(path):
    compiled = load_spec(str(path))
    explicit = explore(compiled.model)
    assert explicit.status is Status.VIOLATION
    depth = len(explicit.violation.trace) - 1
    result = bmc(compiled, depth + 2)
    assert result.status is Status.VIOLATION
    assert result.violation.property == explicit.violation.property
    assert len(result.violation.trace) == len(explicit.violation.trace)
    # (the depth counts states, as the explicit engine's: bmc said one less)
    assert result.stats.depth == explicit.stats.depth == depth + 1
    assert replays(compiled, result.violation.trace)
    if depth <= 6:  # one step shorter than the shortest counterexample: nothing to find
        short = bmc(compiled, depth - 1)
        assert short.status is Status.OK
        assert short.notes[0].startswith(f"no violation within {depth - 1} steps (depth "
                                         f"{depth}: ")
        assert short.stats.depth == depth


@pytest.mark.parametrize(("name", "text", "deadlock", "faults"), [
    ("features", FEATURES, False, ()),
    ("features", FEATURES, False, ("all",)),
    ("overflow", RANGE_ERROR, False, ()),
    ("stuck", DEADLOCK, True, ()),
    ("jumps", TRANSITION, False, ()),
    ("counter", COUNTER, False, ()),
    ("netfilter", NET_FILTER, False, ()),
], ids=["features", "features-faults", "range-error", "deadlock", "transition", "counter",
        "filter-missing-field"])
def test_inline_bugs_bmc_matches_bfs(name, text, deadlock, faults):
    compiled = load(name, text, faults=faults)
    explicit = explore(compiled.model, check_deadlock=deadlock)
    assert explicit.status is not Status.OK
    result = bmc(compiled, 12, check_deadlock=deadlock)
    assert result.status is explicit.status
    assert result.violation.kind == explicit.violation.kind
    assert result.violation.property == explicit.violation.property
    assert len(result.violation.trace) == len(explicit.violation.trace)
    assert replays(compiled, result.violation.trace)
    if result.status is Status.ERROR:
        assert "outside" in result.violation.message


def test_bmc_no_violation_in_correct_specs():
    r = bmc(load("2pc.spec"), 8)
    assert r.status is Status.OK and r.notes == (
        "no violation within 8 steps (depth 9: the depth counts states, as check's does)",)
    assert r.engine == "bmc" and r.properties[0] == "Consistent"
    r = bmc(load("paxos.spec", consts=["MaxBallot=1"]), 6, invariants=["Agreement"])
    assert r.status is Status.OK and r.properties == ("Agreement",)


def test_bmc_deadlock_only_when_asked():
    compiled = load("stuck", DEADLOCK)
    assert bmc(compiled, 6).status is Status.OK
    r = bmc(compiled, 6, check_deadlock=True)
    assert r.status is Status.DEADLOCK
    assert [s.label for s in r.violation.trace] == [None, "Step", "Count", "Count"]


def test_bmc_selected_invariants_and_timeout():
    compiled = load("features", FEATURES)
    r = bmc(compiled, 10, invariants=["Bounded", "NoShrink"])
    explicit = explore(compiled.model.select_invariants(["Bounded", "NoShrink"]))
    assert r.properties == ("Bounded", "NoShrink")
    # With PairOk left out, the first problem is a bag overflowing in Send.
    assert r.status is Status.ERROR is explicit.status
    assert "more than its bound of 2 copies" in r.violation.message
    assert len(r.violation.trace) == len(explicit.violation.trace)
    r = bmc(load("paxos.spec"), 10, timeout_s=0.001)
    assert r.status is Status.LIMIT and "solver timeout" in r.limit_reason


# ------------------------------------------- 3: reachable states within k steps
def _levels(model) -> list[set]:
    """States reachable within k steps, for k = 0, 1, ... up to the diameter."""
    seen = set(model.initial_states())
    levels = [set(seen)]
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for t in model.successors(s):
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
        if nxt:
            levels.append(set(seen))
    return levels


def _symbolic_levels(compiled, depth: int) -> list[set]:
    """The same, with Z3: every model of "Init, then exactly j steps", enumerated with
    blocking clauses, for j = 0 .. depth; unions of those sets."""
    system = System(compiled)
    s0, cons = system.initial_state("0")
    states = [s0]
    steps = []
    for j in range(1, depth + 1):
        post, step = system.step(states[-1], str(j))
        states.append(post)
        steps.append(step)
    out, seen = [], set()
    for j in range(depth + 1):
        seen |= models(system, [*cons, *steps[:j]], states[j])
        out.append(set(seen))
    return out


@pytest.mark.parametrize(("name", "consts", "text"), [
    ("2pc.spec", ["RM={r1,r2}"], None),
    ("paxos.spec", ["Acceptors={a1,a2}", "Values={v1,v2}", "MaxBallot=0"], None),
    ("counter", (), COUNTER),
    ("jumps", (), TRANSITION),
], ids=["2pc", "paxos", "counter", "jumps"])
def test_states_within_k_steps_agree(name, consts, text):
    compiled = load(name, text, consts)
    explicit = _levels(compiled.model)
    symbolic = _symbolic_levels(compiled, len(explicit) - 1)
    assert [len(x) for x in symbolic] == [len(x) for x in explicit]
    assert symbolic == explicit


# ---------------------------------- 4: exhaustive induction check against prove
def _all_states(compiled):
    univ = compiled.universe
    return itertools.product(*(univ.table(v.t) for v in compiled.typed.variables))


def _explicit_induction(compiled, conjuncts, k=1):
    """Which (conjunct, action) obligations fail, by enumerating every type-correct
    state (and, for k = 2, every simple path of two steps)."""
    model = compiled.model
    holds = {i.name: i.holds for i in model.invariants}
    failing = set()
    inits = model.initial_states()
    for c in conjuncts:
        if not all(holds[c](s) for s in inits):
            failing.add((c, "init"))
    if k == 2:  # the base case covers one more step
        for s in inits:
            for step in model.steps(s):
                for c in conjuncts:
                    if not holds[c](step.state):
                        failing.add((c, "init"))

    def inv(s):
        return all(holds[c](s) for c in conjuncts)

    for s in _all_states(compiled):
        if not inv(s):
            continue
        if k == 1:
            starts = [(s, None)]
        else:
            starts = [(t.state, s) for t in model.steps(s)
                      if t.state != s and inv(t.state)]
        for pre, first in starts:
            for step in model.steps(pre):
                post = step.state
                if post in (pre, first):
                    continue
                for c in conjuncts:
                    if not holds[c](post):
                        failing.add((c, step.action))
    return failing


def _symbolic_failing(report):
    return {(o.conjunct, o.action) for o in report.obligations if o.status == "cti"}


TWO_PC_LEMMAS = ["CommitMsg", "AbortMsg", "TMCommitted", "TMPrepared", "PreparedMsg",
                 "RMCommitted", "RMAborted"]


@pytest.mark.parametrize("conjuncts", [
    ["Consistent"],
    ["Consistent", "PreparedMsg", "RMAborted"],
    ["Consistent", *TWO_PC_LEMMAS[:-1]],
    ["Consistent", *TWO_PC_LEMMAS],
    ["TMPrepared", "RMCommitted"],
])
def test_prove_agrees_with_exhaustive_induction_2pc(conjuncts):
    compiled = load("2pc.spec", consts=["RM={r1,r2}"])
    report = prove_report(compiled, conjuncts, reach_max_states=10_000)
    assert _symbolic_failing(report) == _explicit_induction(compiled, conjuncts)
    assert all(o.status != "unknown" for o in report.obligations)


@pytest.mark.parametrize("conjuncts", [["Small"], ["Small", "DoneLate"], ["DoneLate"]])
@pytest.mark.parametrize("k", [1, 2])
def test_prove_agrees_with_exhaustive_induction_counter(conjuncts, k):
    compiled = load("counter", COUNTER)
    report = prove_report(compiled, conjuncts, k=k)
    assert _symbolic_failing(report) == _explicit_induction(compiled, conjuncts, k)


def test_k_induction_on_2pc():
    compiled = load("2pc.spec", consts=["RM={r1,r2}"])
    conjuncts = ["Consistent", "PreparedMsg", "RMAborted"]
    report = prove_report(compiled, conjuncts, k=2, reach_max_states=10_000)
    assert _symbolic_failing(report) == _explicit_induction(compiled, conjuncts, 2)
    for o in report.ctis:  # every CTI is a path of k + 1 states
        assert len(o.cti.trace) == 3


# -------------------------------- 5: random states, the two encodings agree
class _Agreement:
    """Compares the two engines on one packed state."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.system = System(compiled)
        self.post, self.step = self.system.step(self.system.pre_flat, "next")
        self.errors = Z.or_(f for _, _, f in self.system.errors())
        self.invs = [(i, self.system.invariant(i)) for i in compiled.typed.invariants
                     if not i.transition]
        self.seen_errors = 0

    def check(self, state) -> None:
        system, model = self.system, self.compiled.model
        here = system.state_eq(system.pre_flat, system.const_flat(state))
        symbolic_error = satisfiable([here, self.errors])
        try:
            expected = set(model.successors(state))
        except MODEL_ERRORS:
            expected = None
        assert symbolic_error == (expected is None), model.decode(state)
        if expected is None:
            self.seen_errors += 1
            return
        got = models(system, [here, self.step], self.post)
        assert got == expected, model.decode(state)
        checks = {i.name: i.holds for i in model.invariants}
        for inv, formula in self.invs:
            value = truth(system.instantiate(formula, system.const_flat(state)))
            try:
                want = checks[inv.name](state)
            except MODEL_ERRORS:
                want = False
            assert value == want, (inv.name, model.decode(state))


_AGREE: dict[str, _Agreement] = {}


def _agreement(key: str) -> _Agreement:
    if key not in _AGREE:
        specs = {
            "features": lambda: load("features", FEATURES, faults=("all",)),
            "2pc": lambda: load("2pc.spec"),
            "paxos": lambda: load("paxos.spec", consts=["MaxBallot=1"]),
            "netfilter": lambda: load("netfilter", NET_FILTER),
            "raft": lambda: load("raft.spec", consts=RAFT_TINY),
        }
        _AGREE[key] = _Agreement(specs[key]())
    return _AGREE[key]


@pytest.mark.parametrize("key", ["features", "2pc", "paxos", "netfilter", "raft"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_random_states_agree(key, seed):
    agree = _agreement(key)
    rng = random.Random(seed)
    state = tuple(random_value(agree.compiled.universe, t, rng) for t in agree.system.types)
    agree.check(state)


def test_random_states_cover_errors():
    """Run-time errors are part of the comparison: some random states of the features
    spec make an action fail (a bag overflowing), in both engines alike."""
    agree = _agreement("features")
    rng = random.Random(7)
    for _ in range(40):
        agree.check(tuple(random_value(agree.compiled.universe, t, rng)
                          for t in agree.system.types))
    assert agree.seen_errors > 0


def test_bmc_command_checks_lemmas_only_when_asked_as_check_does():
    # With crashes, 2PC's first violation is NotBlocked (5 states), as `modelcheck
    # specs/2pc.spec --faults all` says; bmc used to report the lemma NoCrash (2 states).
    from click.testing import CliRunner

    from checker.cli import main

    args = ["bmc", str(SPECS / "2pc.spec"), "--faults", "all", "--depth", "5",
            "--no-color"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1, out.output
    assert "Invariant NotBlocked is violated." in out.output
    assert "lemmas:     9 not checked (--lemmas checks them too)" in out.output
    out = CliRunner().invoke(main, [*args, "--lemmas"])
    assert "Invariant NoCrash is violated." in out.output
    out = CliRunner().invoke(main, [*args, "--inv", "NoCrash"])
    assert "Invariant NoCrash is violated." in out.output


# --------------------------------- encoding cost: set filters over messages
RAFT_TINY = ["Servers={s1,s2}", "MaxTerm=1", "MaxLog=1"]


def test_set_filter_reads_only_what_its_condition_names():
    from checker import ir
    from checker.symbolic.encode import _projection

    compiled = load("netfilter", NET_FILTER)
    filters = []

    def walk(x):
        if isinstance(x, ir.SetFilter):
            filters.append(x)
        if isinstance(x, (list, tuple)):
            for y in x:
                walk(y)
        elif isinstance(x, (ir.Expr, ir.Stmt, ir.Binding, ir.PathStep)):
            for name in x.__dataclass_fields__:
                if name not in ("t", "span"):
                    walk(getattr(x, name))

    for a in compiled.typed.actions:
        walk(a.body)
    got = [_projection(f.cond, f.binding.local.uid, {}) for f in filters]
    assert got == [("n", "ok"), ("n", "src"), ("ok",), None]


def test_raft_encoding_evaluates_each_filter_condition_once_per_reading():
    """A filter over Raft's messages reads a few fields of each message; its condition is
    evaluated once per distinct reading, not once per possible message (132785
    evaluations of an expression node before, about 30000 now: a bound on the work done,
    not on time)."""
    from checker.symbolic import encode

    calls = [0]
    expr = encode.Encoder.expr

    def counted(self, e, fr):
        calls[0] += 1
        return expr(self, e, fr)

    system = System(load("raft.spec", consts=RAFT_TINY))
    encode.Encoder.expr = counted
    try:
        assert len(system.actions) == 5
    finally:
        encode.Encoder.expr = expr
    assert calls[0] < 60_000
