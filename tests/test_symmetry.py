"""Symmetry reduction (checker/symmetry.py): the representative ``canonical`` picks is a
function of the orbit and lies in it.

The laws are checked against permutations applied by the generic per-type permuters (not
the generated code under test), on reachable states of the shipped specs and on arbitrary
states drawn from the variables' types, for specs that between them reach every path of
the generated code: the decision tree (up to 5 elements) and ``sorted`` (more), complete
and incomplete signatures, packed and tuple-stored columns, several symmetric sets, and
every kind of value an element can occur in (packed maps keyed by the set or holding its
elements, nested packed maps, sets of messages, bags, sequences, options, records).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.api import load_spec
from checker.explore import explore
from checker.source import Source, SpecError
from checker.symmetry import (
    TABLE_BITS,
    Symmetry,
    _apply_moves,
    _chunk_terms,
    _chunks,
    _Code,
    _moves_expr,
    _Permuters,
    _shift_terms,
    _sym_type,
    check_symmetry,
    mentions,
)

ROOT = Path(__file__).resolve().parent.parent

# Every kind of value the elements of a symmetric set can occur in. Only `term` and
# `log` say something about one element alone, so the signature is incomplete.
KITCHEN = """\
spec Kitchen
const Nodes = {n1, n2, n3}
symmetry Nodes
record Pair(a: Nodes, b: 0..1)
message Ping(src: Nodes, dst: Nodes)
message Vote(n: Nodes, t: 0..2)
message Tick(t: 0..1)
var term: map[Nodes, 0..2]
var voted: map[Nodes, Nodes?]
var peers: map[Nodes, set[Nodes]]
var idx: map[Nodes, map[Nodes, 0..2]]
var log: map[Nodes, seq[0..1, 2]]
var leader: Nodes?
var primary: Nodes
var net: bag[Message, 2]
var msgs: set[Message]
var hist: seq[Nodes, 2]
var pair: Pair
var pairs: set[Pair]
var flag: bool
init:
    term = {n: 0 for n in Nodes}
    voted = {n: none for n in Nodes}
    peers = {n: {} for n in Nodes}
    idx = {n: {m: 0 for m in Nodes} for n in Nodes}
    log = {n: [] for n in Nodes}
    leader = none
    choose p in Nodes:
        primary = p
        pair = Pair(p, 0)
    net = {}
    msgs = {}
    hist = []
    pairs = {}
    flag = false
action Step(n in Nodes):
    require term[n] < 2
    term[n] = term[n] + 1
    flag = not flag
"""

# Signature columns of every packed kind; `voted` (elements as values) makes it
# incomplete, so ties are tried in every order; NODES elements.
PACKED_TIES = """\
spec PackedTies
const Nodes = {NODES}
symmetry Nodes
message Vote(n: Nodes, t: 0..2)
message Tick(t: 0..1)
var term: map[Nodes, 0..2]
var up: set[Nodes]
var msgs: set[Message]
var voted: map[Nodes, Nodes?]
init:
    term = {n: 0 for n in Nodes}
    up = {}
    msgs = {}
    voted = {n: none for n in Nodes}
action Step(n in Nodes):
    require term[n] < 2
    term[n] = term[n] + 1
"""

# Complete, but one column is a map stored as a tuple (its values are sequences).
TUPLE_COLUMN = """\
spec TupleColumn
const Nodes = {n1, n2, n3, n4}
symmetry Nodes
var term: map[Nodes, 0..2]
var log: map[Nodes, seq[0..1, 2]]
init:
    term = {n: 0 for n in Nodes}
    log = {n: [] for n in Nodes}
action Step(n in Nodes):
    require term[n] < 2
    term[n] = term[n] + 1
"""

# Two symmetric sets, one occurring in the other's map.
TWO_SETS = """\
spec TwoSets
const Nodes = {n1, n2, n3}
const Keys = {k1, k2}
symmetry Nodes, Keys
var owner: map[Keys, Nodes?]
var held: map[Nodes, set[Keys]]
var up: set[Nodes]
init:
    owner = {k: none for k in Keys}
    held = {n: {} for n in Nodes}
    up = {}
action Take(n in Nodes, k in Keys):
    require owner[k] == none
    owner[k] = n
    held[n] = held[n] | {k}
"""

INLINE = {"kitchen": KITCHEN, "packed_ties": PACKED_TIES.replace("NODES", "n1, n2, n3"),
          "packed_ties_6": PACKED_TIES.replace("NODES", "n1, n2, n3, n4, n5, n6"),
          "tuple_column": TUPLE_COLUMN, "two_sets": TWO_SETS}

SHIPPED = [
    ("specs/paxos.spec", ("MaxBallot=1",), ()),
    ("specs/paxos.spec", ("MaxBallot=1",), ("all",)),
    ("specs/2pc.spec", (), ()),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), ()),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",), ()),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",), ()),
    ("specs/2pc.spec", (), ("all",)),
    ("specs/raft.spec", (), ()),
    ("specs/loadbalancing/dns.spec", (), ("all",)),
    ("specs/loadbalancing/health_checked_lb.spec", (), ("all",)),
    ("specs/replication/multi_master.spec", (), ("all",)),
    ("specs/replication/primary_backup.spec", (), ()),
    ("specs/variants/paxos_faults.spec", (), ("all",)),
]


class Case:
    """A compiled spec, its Symmetry, and an independent way to permute its states."""

    def __init__(self, path: str, consts=(), faults=(), text: str | None = None):
        self.compiled = load_spec(path, consts, faults, text=text)
        typed, univ = self.compiled.typed, self.compiled.universe
        check_symmetry(typed, univ)
        self.extra = 1 if self.compiled.max_faults is not None else 0
        self.symmetry = Symmetry(typed, univ, typed.symmetry, self.extra)
        self.groups = []
        for name in typed.symmetry:
            sym = _sym_type(typed, name)
            permuters = _Permuters(univ, sym)
            self.groups.append((len(sym.members), [(v.slot, permuters.get(v.t))
                                                   for v in typed.variables
                                                   if mentions(v.t, sym)]))

    def permute(self, state: tuple, perms: tuple[tuple[int, ...], ...]) -> tuple:
        out = list(state)
        for (_, fns), p in zip(self.groups, perms):
            for slot, f in fns:
                out[slot] = f(out[slot], p)
        return tuple(out)

    def all_perms(self):
        return itertools.product(*(itertools.permutations(range(n)) for n, _ in self.groups))

    def orbit(self, state: tuple) -> set:
        return {self.permute(state, ps) for ps in self.all_perms()}

    def reachable(self, limit: int) -> list:
        """The first ``limit`` states of a breadth-first search (no symmetry)."""
        model = self.compiled.model
        seen = dict.fromkeys(model.initial_states())
        frontier = list(seen)
        while frontier and len(seen) < limit:
            nxt = []
            for s in frontier:
                for t in model.successors(s):
                    if t not in seen:
                        seen[t] = None
                        nxt.append(t)
            frontier = nxt
        return list(seen)[:limit]

    def arbitrary(self, rnd: random.Random) -> tuple:
        """A state with every variable drawn from its whole type."""
        univ = self.compiled.universe
        values = [univ.at(v.t, rnd.randrange(univ.size(v.t)))
                  for v in self.compiled.typed.variables]
        return tuple(values) + (0,) * self.extra


_CASES: dict = {}


def case(key) -> Case:
    if key not in _CASES:
        if key in INLINE:
            _CASES[key] = Case(f"{key}.spec", text=INLINE[key])
        else:
            path, consts, faults = key
            _CASES[key] = Case(str(ROOT / path), consts, faults)
    return _CASES[key]


ALL_KEYS = list(INLINE) + SHIPPED


def _id(key) -> str:
    if isinstance(key, str):
        return key
    path, consts, faults = key
    return "-".join([Path(path).stem, *consts, *(f"faults={f}" for f in faults)])


def check_laws(c: Case, state: tuple, perms) -> None:
    rep = c.symmetry.canonical(state)
    assert c.symmetry.canonical(c.permute(state, perms)) == rep
    assert c.symmetry.canonical(rep) == rep


@pytest.mark.parametrize("key", ALL_KEYS, ids=_id)
def test_representative_is_in_the_orbit_and_shared_by_it(key):
    c = case(key)
    small = sum(1 for _ in c.all_perms()) <= 24
    rnd = random.Random(7)
    states = c.reachable(300) + [c.arbitrary(rnd) for _ in range(100)]
    if not small:  # (each new permutation is compiled once: keep them few)
        states = rnd.sample(states, 60)
    for state in states:
        rep = c.symmetry.canonical(state)
        if small:
            orbit = c.orbit(state)
            assert rep in orbit
            assert {c.symmetry.canonical(s) for s in orbit} == {rep}
        else:
            for perms in rnd.sample(list(c.all_perms()), 5):
                check_laws(c, state, perms)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(ALL_KEYS), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_canonical_is_a_function_of_the_orbit(key, seed, data):
    """For any state s (reachable or not) and renaming p: canonical(p(s)) ==
    canonical(s), and canonical is the identity on representatives."""
    c = case(key)
    rnd = random.Random(seed)
    state = c.arbitrary(rnd) if seed % 2 else rnd.choice(c.reachable(300))
    perms = tuple(data.draw(st.permutations(range(n))) for n, _ in c.groups)
    check_laws(c, tuple(state), tuple(tuple(p) for p in perms))


def test_representative_is_found_in_the_orbit_for_six_elements():
    c = case("packed_ties_6")
    rnd = random.Random(3)
    for _ in range(3):
        state = c.arbitrary(rnd)
        assert c.symmetry.canonical(state) in c.orbit(state)


@pytest.mark.parametrize("spec,consts,orbits", [
    ("specs/paxos.spec", ("MaxBallot=1",), 857),
    ("specs/paxos.spec", ("MaxBallot=2",), 34113),
    ("specs/2pc.spec", ("RM={r1,r2,r3}",), 80),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), 166),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5}",), 314),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",), 553),
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6,r7}",), 920),
])
def test_symmetric_search_counts(spec, consts, orbits):
    """The orbit counts of docs/performance.md."""
    c = case((spec, consts, ()))
    result = explore(c.compiled.model, canonical=c.symmetry.canonical)
    assert result.stats.distinct_states == orbits


def test_orbits_of_the_reachable_states_are_counted_once():
    """Over every reachable state, as many representatives as orbits (found by
    permuting each state every way)."""
    c = case(("specs/paxos.spec", ("MaxBallot=1",), ()))
    states = c.reachable(10**6)
    orbits = {frozenset(c.orbit(s)) for s in states}
    assert len({c.symmetry.canonical(s) for s in states}) == len(orbits) == 857


def test_a_set_of_one_element_needs_no_renaming():
    c = Case("one.spec", text=TUPLE_COLUMN.replace("{n1, n2, n3, n4}", "{n1}"))
    for state in c.reachable(20):
        assert c.symmetry.canonical(state) is state


@st.composite
def field_moves(draw):
    """Fields of a packed integer (at most 40 bits) sent anywhere, some relabelled."""
    bits = draw(st.integers(1, 40))
    moves, at = [], 0
    while at < bits:
        w = draw(st.integers(1, min(12, bits - at)))
        if draw(st.booleans()):
            dst = draw(st.integers(0, 40))
            relabel = None
            if w <= 5 and draw(st.booleans()):
                relabel = tuple(draw(st.lists(st.integers(0, (1 << w) - 1),
                                              min_size=1 << w, max_size=1 << w)))
            moves.append((at, w, dst, relabel))
        at += w
    return bits, moves


@settings(max_examples=200, deadline=None)
@given(field_moves(), st.data())
def test_every_way_of_moving_fields_computes_the_same(case_, data):
    """The generated expressions (one table, shifted blocks, a table per byte) all
    compute what ``_apply_moves`` does, on any value."""
    bits, moves = case_
    code = _Code()
    exprs = [_moves_expr("v", moves, bits, code),
             " | ".join(_shift_terms("v", moves, code)) or "0",
             " | ".join(_chunk_terms("v", _chunks(moves), bits, code)) or "0"]
    if bits <= TABLE_BITS + 4:
        values = range(1 << bits)
    else:
        values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=20, max_size=20))
    for expr in exprs:
        f = eval(f"lambda v: {expr}", dict(code.names))
        for x in values:
            assert f(x) == _apply_moves(moves, x), expr


# sha256 of the sorted representatives of every reachable state, computed with the plain
# algorithm (before canonical() was generated code): the representatives, and therefore
# the stored states and the counterexamples of a symmetric search, are the same.
REPRESENTATIVES = {
    ("specs/paxos.spec", ("MaxBallot=1",), ()):
        "c2b768f0254336d9adaeff788bd31bad01776eb09b418684c0fb1eda9b0dda00",
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4,r5,r6}",), ()):
        "0f7ad43d3bcbac73c8d30cc0b0333d33b73f612e05ad8d1edc78d64385a4f0ad",
    ("specs/replication/primary_backup.spec", (), ()):
        "534d229316451793ea4d6256dd8ef84eec92cd96e73789b9953d5b97d75de8ee",
    ("specs/replication/multi_master.spec", (), ()):
        "785fcad84e781f0f4a8fbb0754179f2ffbd7f2c7c8bf1610aa48e64db21cd7e5",
    "packed_ties":
        "e2aa6e7df4e3aeaf04a3706495d224d36d9c7a7d37be945eb06c19d18b646ec5",
    "tuple_column":
        "1fcc94f17efc3c2b11bb572792fe6c7296ca16bba42943f044aea28ba92c93e9",
    "kitchen":
        "388b3cb88dde44db0f7802d2fc809ff6b14b4e8d44b0544fc5ed338e0ddccd36",
    "packed_ties_6":
        "be55ce4c364ad72995d94acb03075322f446cdd5343d6d2426d5b5eeeb16c36b",
}


def representatives_digest(c: Case) -> str:
    reps = sorted({repr(c.symmetry.canonical(s)) for s in c.reachable(10**6)})
    return hashlib.sha256("\n".join(reps).encode()).hexdigest()


@pytest.mark.parametrize("key", list(REPRESENTATIVES), ids=_id)
def test_representatives_are_those_of_the_plain_algorithm(key):
    assert representatives_digest(case(key)) == REPRESENTATIVES[key]


# ------------------------------------------------- refusing an unsound declaration
def spec_error(text: str, consts=()) -> str:
    """The rendered refusal of a spec (type checking, then the soundness check)."""
    with pytest.raises(SpecError) as info:
        compiled = load_spec("t.spec", consts, text=text)
        check_symmetry(compiled.typed, compiled.universe, Source("t.spec", text))
    return info.value.render()


def error_positions(rendered: str) -> list[str]:
    return re.findall(r"^t\.spec:(\d+:\d+): error:", rendered, re.M)


def run_cli(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "t.spec"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "checker", str(path), *args],
                          capture_output=True, text=True, timeout=120)


def two_pc(*after: str) -> tuple[str, int]:
    """specs/2pc.spec with ``after`` inserted after its `symmetry RM` line (its number)."""
    lines = (ROOT / "specs/2pc.spec").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("symmetry RM "))
    lines[at] = "symmetry RM"
    return "\n".join([*lines[:at + 1], *after, *lines[at + 1:]]) + "\n", at + 1


@pytest.mark.parametrize("second", ["symmetry RM", "symmetry Other, RM"])
def test_a_set_declared_symmetric_twice_is_refused(second):
    # (it would be permuted as two sets: 5! x 5! images of every state, for nothing)
    text, first = two_pc("const Other = {o1}", second)
    rendered = spec_error(text)
    assert error_positions(rendered) == [f"{first + 2}:{second.index('RM') + 1}"]
    assert f"`RM` is already declared symmetric (at line {first}, column 10)" in rendered


def test_a_set_named_twice_in_one_declaration_is_refused(tmp_path):
    text, line = two_pc()
    text = text.replace("\nsymmetry RM\n", "\nsymmetry RM, RM\n", 1)
    run = run_cli(tmp_path, text, "--const", "RM={r1,r2,r3,r4,r5}")
    assert run.returncode == 2, run.stdout
    assert run.stderr.startswith(f"{tmp_path / 't.spec'}:{line}:14: error: `RM` is already "
                                 f"declared symmetric (at line {line}, column 10)\n"
                                 "    symmetry RM, RM\n"
                                 "                 ^^\n"), run.stderr


MANY = """\
spec Many
const Nodes = {n1, n2, n3}
symmetry Nodes
var owner: Nodes?
var seen: set[Nodes]
init:
    owner = n1
    seen = {}
action A(n in Nodes):
    require n != n2
    owner = n
    seen = seen | {n}
invariant I: owner != n3
invariant J: seen != {n1, n2}
"""


def test_unsound_references_are_reported_in_file_order():
    assert error_positions(spec_error(MANY)) == ["7:13", "10:18", "13:23", "14:23", "14:27"]


def test_the_refusal_names_the_switch_that_turns_symmetry_off(tmp_path):
    run = run_cli(tmp_path, MANY)
    assert run.returncode == 2
    assert "--no-symmetry" in run.stderr
    assert "        owner = n1\n                ^^\n" in run.stderr
    run = run_cli(tmp_path, MANY, "--no-symmetry")
    assert run.returncode in (0, 1), run.stderr  # checked (I fails), not refused
    assert "error:" not in run.stderr


COUNTER = """\
spec C
{decl}
symmetry {name}
var c: 0..2
init:
    c = 0
action Inc:
    require c < 2
    c = c + 1
"""


@pytest.mark.parametrize(("decl", "name", "says"), [
    ("", "Nope", "unknown name `Nope`: symmetry needs a constant set of symbols, and "
                 "`Nope` is not declared"),
    ("const Nodes = {}", "Nodes", "symmetry needs a constant set of symbols; `Nodes` is "
                                  "empty"),
    ("const Nodes = {n1, n2}", "n1", "`n1` is a member of Nodes, not a set"),
    ("const N = 3", "N", "`N` is an integer"),
    ("enum Phase = a | b", "Phase", "`Phase` is an enum"),
])
def test_a_symmetry_target_that_is_not_a_set_of_symbols_is_explained(decl, name, says):
    rendered = spec_error(COUNTER.format(decl=decl, name=name))
    assert error_positions(rendered) == ["3:10"]
    assert says in rendered and "is not one" not in rendered


def test_a_set_of_one_symbol_is_accepted_as_a_no_op():
    text = COUNTER.format(decl="const Nodes = {n1}", name="Nodes")
    compiled = load_spec("t.spec", text=text)
    check_symmetry(compiled.typed, compiled.universe)
    assert compiled.typed.symmetry == ("Nodes",)
