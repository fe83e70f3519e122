"""Printing a syntax tree and parsing the text again gives the same tree (spans aside).

The law is checked on every shipped spec and on random expressions and specs built by
hypothesis directly as syntax trees, so every precedence level, every open-ended form
(quantifier bodies, conditional expressions) and every bracketed form is exercised in
every position.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import syntax as S
from checker.parser import parse, parse_expression
from checker.source import Source
from checker.unparse import precedence, unparse, unparse_expr

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/**/*.spec"))


def reparse(spec: S.Spec) -> S.Spec:
    return parse(Source("<unparsed>", unparse(spec)))


def reparse_expr(e: S.Expr) -> S.Expr:
    return parse_expression(Source("<unparsed>", unparse_expr(e)))


# ------------------------------------------------------------------ shipped specs
def test_there_are_specs_to_check():
    names = {p.name for p in SPECS}
    assert {"2pc.spec", "paxos.spec", "2pc_early_commit.spec"} <= names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_spec_round_trips(path):
    spec = parse(Source(str(path), path.read_text()))
    text = unparse(spec)
    again = parse(Source("<unparsed>", text))
    assert again == spec
    # Printing is a fixed point after one round: the printer is deterministic.
    assert unparse(again) == text


def test_printed_2pc_reads_like_the_source():
    spec = parse(Source("2pc", (ROOT / "specs/2pc.spec").read_text()))
    text = unparse(spec)
    assert "spec TwoPhase\n" in text
    assert "enum RMState = working | prepared | committed | aborted\n" in text
    assert ("action RMPrepare(r in RM):\n    require rmUp[r] and rmState[r] == working\n"
            "    rmState[r] = prepared\n") in text
    assert "durable var rmState: map[RM, RMState]\n" in text
    assert "fault(crash) action TMCrash:\n" in text
    assert ("invariant Consistent: forall rm1, rm2 in RM: "
            "not (rmState[rm1] == aborted and rmState[rm2] == committed)\n") in text


# ---------------------------------------------------------- minimal parentheses
@pytest.mark.parametrize(("source", "printed"), [
    ("a + b * c", "a + b * c"),
    ("(a + b) * c", "(a + b) * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a implies b implies c", "a implies b implies c"),
    ("(a implies b) implies c", "(a implies b) implies c"),
    ("(a == b) == c", "(a == b) == c"),
    ("not (a and b)", "not (a and b)"),
    ("not a and b", "not a and b"),
    ("-x * y", "-x * y"),
    ("-(x * y)", "-(x * y)"),
    ("(-3).f", "(-3).f"),
    ("x - -3", "x - -3"),
    ("0 .. N - 1", "0..N - 1"),
    ("(forall x in S: p) and q", "(forall x in S: p) and q"),
    ("q and forall x in S: p or r", "q and forall x in S: p or r"),
    ("(q and forall x in S: p) or r", "(q and forall x in S: p) or r"),
    ("a if c else b if d else e", "a if c else b if d else e"),
    ("(a if c else b) if d else e", "(a if c else b) if d else e"),
    ("{x in S where x > 0}", "{x in S where x > 0}"),
    ("{f(x) for x, y in S, z in T where p}", "{f(x) for x, y in S, z in T where p}"),
    ("{k: v for k in K}", "{k: v for k in K}"),
    ("{r1: 0, r2: 1}", "{r1: 0, r2: 1}"),
    ("m is P1a and m.bal > b[a]", "m is P1a and m.bal > b[a]"),
    ("x not in S | T", "x not in S | T"),
    ("(S | T) & U", "(S | T) & U"),
    ("Values?", "Values?"),
    ("x' >= x", "x' >= x"),
    ("s[1..2]", "s[1..2]"),
])
def test_minimal_parentheses(source, printed):
    e = parse_expression(Source("t", source))
    assert unparse_expr(e) == printed
    assert reparse_expr(e) == e


def test_unary_minus_on_a_literal_is_folded_by_the_parser():
    # The parser turns -3 into IntLit(-3), so the printer writes negative literals as -3.
    assert parse_expression(Source("t", "-3")) == S.IntLit(-3)
    assert unparse_expr(S.IntLit(-3)) == "-3"
    assert precedence(S.IntLit(-3)) == precedence(S.Unary("-", S.Name("x")))


def test_every_statement_and_declaration_form_round_trips():
    text = """\
spec AllForms
const N = 3
const K
const Nodes = {n1, n2}
symmetry Nodes
option deadlock = false
enum Phase = idle | busy
message Ping(src: Nodes, n: 0..N)
message Stop
message Empty()
record Entry(term: 0..N, val: Phase?)
record Nothing()
def Bound = N - 1
def twice(x: 0..N, y) = x + y
def unit() = 0
var phase: Phase
var a, b: 0..N
var log: seq[Entry, 2]
init:
    phase = idle
    a = 0
    b = 0
    log = []
action Step(n in Nodes, i, j in 0..N):
    require phase == idle
    let t = i + j
    if t > N:
        skip
    elif t == N:
        a = 0
    else:
        a = t % (N + 1)
    choose m in Nodes, k in 0..1 where m != n:
        either:
            b = k
        or:
            b = N
        or:
            phase = busy
fault action Crash:
    phase = idle
invariant Small: a <= N
lemma Helper:
    b >= 0
transition invariant Mono: a' >= a or a' == 0
"""
    spec = parse(Source("t", text))
    assert reparse(spec) == spec
    printed = unparse(spec)
    assert "message Stop\n" in printed and "message Empty\n" in printed
    assert "record Nothing()\n" in printed
    assert "def unit() = 0\n" in printed and "def Bound = N - 1\n" in printed
    assert "var a: 0..N\nvar b: 0..N\n" in printed
    assert "fault action Crash:\n" in printed
    assert "transition invariant Mono: a' >= a or a' == 0\n" in printed


# ------------------------------------------------------------ random expressions
# Besides plain names: names that begin or end with a keyword (a keyword is a whole
# word: `inx` is a name, and `x inS` is not `x in S`), and the words that start
# declarations, which are names everywhere else (`enum TMState = init | ...`).
NAMES = st.sampled_from(["a", "b", "x", "msgs", "RM", "Ballot", "maxBal", "v_2", "P1a",
                         "inx", "notx", "orx", "iffy", "isx", "android", "for_", "none1",
                         "init", "spec", "action", "var", "fault", "lemma", "transition"])
TAGS = st.sampled_from(["P1a", "P1b", "Commit"])
BINOPS = st.sampled_from(["implies", "iff", "or", "and", "==", "!=", "<", "<=", ">", ">=",
                          "in", "notin", "|", "&", "..", "+", "-", "*", "/", "%"])


def _folds_to_literal(e: S.Expr) -> bool:
    """``-e`` would be read back as a literal: e is a literal, or a negation of one."""
    while isinstance(e, S.Unary) and e.op == "-":
        e = e.operand
    return isinstance(e, S.IntLit)


leaves = st.one_of(
    NAMES.map(S.Name),
    st.integers(min_value=-20, max_value=1000).map(S.IntLit),
    st.integers(min_value=-10**30, max_value=10**30).map(S.IntLit),
    st.booleans().map(S.BoolLit),
    st.just(S.NoneLit()),
    NAMES.map(S.Prime),
    st.just(S.SetLit(())),
)


def _tuple_of(strategy, min_size, max_size):
    return st.lists(strategy, min_size=min_size, max_size=max_size).map(tuple)


def _binder(exprs):
    return st.builds(S.Binder, _tuple_of(NAMES, 1, 2), exprs)


def _extend(exprs):
    binders = _tuple_of(_binder(exprs), 1, 2)
    cond = st.none() | exprs
    return st.one_of(
        st.builds(S.Binary, BINOPS, exprs, exprs),
        st.builds(S.Binary, BINOPS, exprs, exprs),
        st.builds(S.Unary, st.just("not"), exprs),
        exprs.filter(lambda e: not _folds_to_literal(e)).map(lambda e: S.Unary("-", e)),
        st.builds(S.Is, exprs, TAGS),
        st.builds(S.Quant, st.sampled_from(["forall", "exists"]), binders, exprs),
        st.builds(S.IfExpr, exprs, exprs, exprs),
        st.builds(S.Call, NAMES, _tuple_of(exprs, 0, 3)),
        st.builds(S.Index, exprs, _tuple_of(exprs, 1, 2)),
        st.builds(S.Field, exprs, NAMES),
        st.builds(S.Optional, exprs),
        st.builds(S.SetLit, _tuple_of(exprs, 1, 3)),
        st.builds(S.SeqLit, _tuple_of(exprs, 0, 3)),
        st.builds(S.MapLit, _tuple_of(st.tuples(exprs, exprs), 1, 3)),
        st.builds(S.SetFilter, NAMES, exprs, exprs),
        st.builds(S.SetMap, exprs, binders, cond),
        st.builds(S.MapComp, exprs, exprs, binders, cond),
    )


expressions = st.recursive(leaves, _extend, max_leaves=14)


def _expression_round_trips(e):
    text = unparse_expr(e)
    assert parse_expression(Source("<unparsed>", text)) == e, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_random_expression_round_trips(e):
    _expression_round_trips(e)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(expressions)
def test_many_random_expressions_round_trip(e):
    _expression_round_trips(e)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, expressions)
def test_random_operands_round_trip_under_each_operator_kind(e, f):
    """Random operands of a logical, an arithmetic and a comparison operator (the
    operands' own top-level forms then meet every precedence boundary)."""
    for op in ("and", "+", "=="):
        tree = S.Binary(op, e, f)
        text = unparse_expr(tree)
        assert parse_expression(Source("<unparsed>", text)) == tree, text


# ---------------------------------------------------------------- random specs
stmt_exprs = st.recursive(leaves, _extend, max_leaves=6)


def _stmts(depth: int):
    simple = st.one_of(
        st.builds(S.Require, stmt_exprs),
        st.builds(S.Assign, st.one_of(
            NAMES.map(S.Name),
            st.builds(S.Index, NAMES.map(S.Name), _tuple_of(stmt_exprs, 1, 1)),
            st.builds(S.Field, NAMES.map(S.Name), NAMES)), stmt_exprs),
        st.builds(S.Let, NAMES, stmt_exprs),
        st.just(S.Skip()),
    )
    if depth == 0:
        return simple
    block = _tuple_of(_stmts(depth - 1), 1, 3)
    return st.one_of(
        simple,
        st.builds(S.If, _tuple_of(st.tuples(stmt_exprs, block), 1, 3), st.none() | block),
        st.builds(S.Choose, _tuple_of(_binder(stmt_exprs), 1, 2), st.none() | stmt_exprs,
                  block),
        st.builds(S.Either, _tuple_of(block, 2, 3)),
    )


BLOCKS = _tuple_of(_stmts(2), 1, 4)
from checker.faults import FAULT_KINDS  # noqa: E402

DECLS = st.one_of(
    st.builds(S.ConstDecl, NAMES, st.none() | stmt_exprs),
    st.builds(S.SymmetryDecl, NAMES),
    st.builds(S.EnumDecl, NAMES, _tuple_of(NAMES, 1, 3)),
    st.builds(S.RecordDecl, st.sampled_from(["message", "record"]), NAMES,
              _tuple_of(st.builds(S.FieldDecl, NAMES, stmt_exprs), 0, 3)),
    st.builds(S.DefDecl, NAMES,
              st.none() | _tuple_of(st.builds(S.Param, NAMES, st.none() | stmt_exprs), 0, 2),
              stmt_exprs),
    st.builds(S.VarDecl, NAMES, stmt_exprs, durable=st.booleans()),
    st.builds(S.InitDecl, BLOCKS),
    st.builds(S.ActionDecl, NAMES, _tuple_of(_binder(stmt_exprs), 0, 2), BLOCKS,
              st.booleans()),
    st.builds(S.ActionDecl, NAMES, _tuple_of(_binder(stmt_exprs), 0, 2), BLOCKS,
              st.just(True), fault_kind=st.sampled_from(FAULT_KINDS)),
    st.builds(S.InvariantDecl, NAMES, stmt_exprs, st.booleans(), lemma=st.booleans()),
    st.builds(S.OptionDecl, NAMES, stmt_exprs),
)


SPEC_TREES = st.builds(S.Spec, NAMES, _tuple_of(DECLS, 0, 6))


def _spec_round_trips(spec):
    text = unparse(spec)
    again = parse(Source("<unparsed>", text))
    assert again == spec, text
    assert unparse(again) == text  # and printing is a fixed point


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SPEC_TREES)
def test_random_spec_round_trips(spec):
    _spec_round_trips(spec)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(SPEC_TREES)
def test_many_random_specs_round_trip(spec):
    _spec_round_trips(spec)


def test_reserved_words_are_never_printed_as_names():
    """The parser refuses them as names (they could not be read back as names
    everywhere): so no tree the parser makes holds one, and the printer never writes
    one where a name goes."""
    from checker.parser import _RESERVED
    from checker.source import SpecError

    for word in sorted(_RESERVED):
        with pytest.raises(SpecError):
            parse(Source("t", f"spec A\nvar {word}: bool\n"))
    spec = parse(Source("t", "spec init\nenum S = init | spec | action\nvar var: S\n"
                              "init:\n    var = init\naction fault(lemma in S):\n"
                              "    var = lemma\n"))
    assert reparse(spec) == spec
