"""checker.codegen's foldings: a def called with constant arguments is inlined, a
quantifier unrolled over constant members of one set becomes one mask test, and boolean
constants fold (`True and x` is `x`). Each must give exactly the values of the plain
code, in any state (reachable or not)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from random_states import random_state

from checker import codegen
from checker.api import load_spec
from checker.explore import MODEL_ERRORS

SPECS = Path(__file__).resolve().parent.parent / "specs"

CASES = [
    ("paxos.spec", ["MaxBallot=2"]),
    ("raft.spec", []),
    ("2pc.spec", ["RM={r1,r2,r3}"]),
    ("replication/multi_master.spec", []),
    ("loadbalancing/health_checked_lb.spec", []),
]


def _compile(name, consts, monkeypatch, inline=True, masks=True):
    with monkeypatch.context() as m:
        if not inline:
            m.setattr(codegen, "INLINE_DEF_NODES", 0)
        if not masks:
            m.setattr(codegen.ExprGen, "_constant_members", lambda self, parts: None)
            m.setattr(codegen, "FOLD_BOOLEANS", False)
        return load_spec(str(SPECS / name), consts=consts, faults=("all",))


def _outcome(fn, *args):
    try:
        return ("value", fn(*args))
    except MODEL_ERRORS as e:
        return ("error", type(e).__name__)


@pytest.mark.parametrize("name, consts", CASES)
def test_foldings_change_no_value_in_any_state(name, consts, monkeypatch):
    plain = _compile(name, consts, monkeypatch, inline=False, masks=False)
    folded = _compile(name, consts, monkeypatch)
    rng = random.Random(7)
    for k in range(400):
        s = random_state(plain, rng)
        for a, b in zip(plain.model.invariants, folded.model.invariants):
            assert _outcome(a.holds, s) == _outcome(b.holds, s), (a.name, s)
        # (a random Raft state has hundreds of successors, each costly: fewer of these)
        if k < 25:
            assert _outcome(plain.model.successors, s) == \
                _outcome(folded.model.successors, s)


def test_paxos_agreement_is_mask_tests_without_calls(monkeypatch):
    source = _compile("paxos.spec", ["MaxBallot=2"], monkeypatch).source_code
    agreement = source[source.index("def invariant0"):].split("\ndef ", 1)[0]
    # chosen(v) = exists b in Ballot, q in Quorums: forall a in q: P2b(a, b, v) in msgs,
    # for v1 and v2 unrolled to constants: no call, no shift, one mask per (b, q)
    assert "d0(" not in agreement and ">>" not in agreement
    assert agreement.count(" & ") >= 2 * 3 * 4
    without = _compile("paxos.spec", ["MaxBallot=2"], monkeypatch, inline=False,
                       masks=False).source_code
    assert "d0(" in without[without.index("def invariant0"):].split("\ndef ", 1)[0]


def test_masks_of_over_4300_digits_compile():
    # Raft with terms 0..4 and logs of 3 entries: a message-set mask longer than the
    # 4,300 digits Python 3.11 turns into text by default ("internal error: ValueError:
    # Exceeds the limit (4300 digits) for integer string conversion")
    import sys

    from checker.api import load_spec

    before = sys.get_int_max_str_digits()
    compiled = load_spec("specs/raft.spec", ["MaxTerm=4", "MaxLog=3"])
    assert compiled.model.initial_states()
    assert sys.get_int_max_str_digits() == before     # (the guard is back)
