"""Miniscoping (checker/optimize.py) must not change any invariant's value: compile each
spec with and without it and compare every invariant on every reachable state."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker import codegen
from checker.api import load_spec

ROOT = Path(__file__).resolve().parent.parent

QUANTIFIED = """\
spec Q
const N = {n1, n2, n3}
option deadlock = false
var s: set[N]
var t: set[N]
init:
    s = {}
    t = {}
action AddS(n in N):
    s = s | {n}
action AddT(n in N):
    require n not in s
    t = t | {n}
invariant A: forall x, y in N: not (x in s and y in t and x == y)
invariant B: forall x in s, y in t: x != y
invariant C: forall x in s: size(t) < 4
invariant D: exists x in N, y in s: x == y or size(s) == 0
invariant E: forall x in s: forall y in t: (x in s) implies (y != x or false)
invariant F: exists x in t: true or s == {}
invariant G: (forall x in s: false) or size(s) > 0
"""


def _values(compiled):
    model = compiled.model
    seen = set(model.initial_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for state in frontier:
            for succ in model.successors(state):
                if succ not in seen:
                    seen.add(succ)
                    nxt.append(succ)
        frontier = nxt
    return {s: tuple(bool(i.holds(s)) for i in model.invariants) for s in seen}


@pytest.mark.parametrize(("path", "text", "consts"), [
    ("specs/2pc.spec", None, ()),
    ("specs/paxos.spec", None, ("MaxBallot=1",)),
    ("q.spec", QUANTIFIED, ()),
])
def test_miniscoping_keeps_every_invariant_value(monkeypatch, path, text, consts):
    full = str(ROOT / path) if text is None else path
    optimized = _values(load_spec(full, consts, text=text))
    monkeypatch.setattr(codegen, "miniscope", lambda q: q)
    plain = _values(load_spec(full, consts, text=text))
    assert optimized == plain
    assert any(not all(v) for v in plain.values()) or path != "q.spec"
