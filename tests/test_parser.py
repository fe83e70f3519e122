"""The parser: good specs give the expected syntax trees; bad input gives a SpecError
whose rendered text (``path:line:col: error: ...``, the line, a caret, what was expected)
is pinned in tests/golden/; and no input at all gives a Python traceback."""

from __future__ import annotations

import random
import re
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import syntax as S
from checker.api import load_spec
from checker.parser import MAX_SOURCE_BYTES, parse, parse_expression, read_source
from checker.source import Source, SpecError

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/**/*.spec"))
LOCATED = re.compile(r"^\S+:\d+:\d+: error: ", re.M)


def p(text: str, name: str = "t.spec") -> S.Spec:
    return parse(Source(name, text))


def e(text: str) -> S.Expr:
    return parse_expression(Source("e", text))


def syntax_error(text: str, name: str = "t.spec") -> str:
    with pytest.raises(SpecError) as info:
        p(text, name)
    return info.value.render()


# ------------------------------------------------------------------- good specs
@pytest.mark.parametrize("path", SPECS, ids=lambda q: str(q.relative_to(ROOT)))
def test_shipped_specs_parse(path):
    spec = p(path.read_text(), str(path))
    assert spec.name and spec.decls


def test_2pc_tree():
    spec = p((ROOT / "specs/2pc.spec").read_text())
    assert spec.name == "TwoPhase"
    kinds = [type(d).__name__ for d in spec.decls]
    assert kinds[:7] == ["ConstDecl", "SymmetryDecl", "OptionDecl", "OptionDecl", "EnumDecl",
                         "EnumDecl", "RecordDecl"]
    const = spec.decls[0]
    assert const == S.ConstDecl("RM", S.SetLit((S.Name("r1"), S.Name("r2"), S.Name("r3"))))
    assert spec.decls[4] == S.EnumDecl("RMState", ("working", "prepared", "committed",
                                                   "aborted"))
    prepared = next(d for d in spec.decls if d.name == "Prepared")
    assert prepared == S.RecordDecl("message", "Prepared", (S.FieldDecl("rm", S.Name("RM")),))
    commit = next(d for d in spec.decls if d.name == "Commit")
    assert commit == S.RecordDecl("message", "Commit", ())
    actions = [(d.name, d.fault_kind) for d in spec.decls if isinstance(d, S.ActionDecl)]
    assert actions == [("TMRcvPrepared", None), ("TMCommit", None), ("TMAbort", None),
                       ("RMPrepare", None), ("RMChooseToAbort", None),
                       ("RMRcvCommitMsg", None), ("RMRcvAbortMsg", None),
                       ("RMCrash", "crash"), ("RMRestart", "restart"), ("TMCrash", "crash"),
                       ("TMRestart", "restart")]
    durable = [d.name for d in spec.decls if isinstance(d, S.VarDecl) and d.durable]
    assert durable == ["rmState", "tmState"]
    rm_prepare = next(d for d in spec.decls if d.name == "RMPrepare")
    assert rm_prepare.params == (S.Binder(("r",), S.Name("RM")),)
    assert rm_prepare.body[1] == S.Assign(S.Index(S.Name("rmState"), (S.Name("r"),)),
                                          S.Name("prepared"))
    consistent = next(d for d in spec.decls if d.name == "Consistent")
    assert isinstance(consistent, S.InvariantDecl) and not consistent.transition
    assert consistent.body == e(
        "forall rm1, rm2 in RM: not (rmState[rm1] == aborted and rmState[rm2] == committed)")


def test_paxos_negative_range_and_option_type():
    spec = p((ROOT / "specs/paxos.spec").read_text())
    p1b = next(d for d in spec.decls if d.name == "P1b")
    assert p1b.fields[2] == S.FieldDecl("mbal", S.Binary("..", S.IntLit(-1),
                                                         S.Name("MaxBallot")))
    assert p1b.fields[3] == S.FieldDecl("mval", S.Optional(S.Name("Values")))
    chosen = next(d for d in spec.decls if d.name == "chosen")
    assert chosen.params == (S.Param("v", None),)


def test_precedence_and_associativity():
    assert e("a or b and c") == S.Binary("or", S.Name("a"),
                                         S.Binary("and", S.Name("b"), S.Name("c")))
    assert e("a implies b implies c") == S.Binary(
        "implies", S.Name("a"), S.Binary("implies", S.Name("b"), S.Name("c")))
    assert e("a - b - c") == S.Binary("-", S.Binary("-", S.Name("a"), S.Name("b")),
                                      S.Name("c"))
    assert e("1 + 2 * 3") == S.Binary("+", S.IntLit(1),
                                      S.Binary("*", S.IntLit(2), S.IntLit(3)))
    assert e("not x == y") == S.Unary("not", S.Binary("==", S.Name("x"), S.Name("y")))
    assert e("x not in S | T") == S.Binary("notin", S.Name("x"),
                                           S.Binary("|", S.Name("S"), S.Name("T")))
    assert e("-3") == S.IntLit(-3) and e("-(3)") == S.IntLit(-3)
    assert e("-x") == S.Unary("-", S.Name("x"))
    assert e("m is P1a and m.bal > 0") == S.Binary(
        "and", S.Is(S.Name("m"), "P1a"),
        S.Binary(">", S.Field(S.Name("m"), "bal"), S.IntLit(0)))
    # A quantifier's body extends as far right as possible.
    assert e("forall x in S: p and q") == S.Quant(
        "forall", (S.Binder(("x",), S.Name("S")),), S.Binary("and", S.Name("p"), S.Name("q")))
    assert e("a if c else b") == S.IfExpr(S.Name("c"), S.Name("a"), S.Name("b"))


def test_comprehensions_and_literals():
    assert e("{}") == S.SetLit(())
    assert e("{x in S where x > 1}") == S.SetFilter(
        "x", S.Name("S"), S.Binary(">", S.Name("x"), S.IntLit(1)))
    assert e("{f(x) for x in S}") == S.SetMap(S.Call("f", (S.Name("x"),)),
                                              (S.Binder(("x",), S.Name("S")),), None)
    assert e("{r: 0 for r in RM}") == S.MapComp(S.Name("r"), S.IntLit(0),
                                                (S.Binder(("r",), S.Name("RM")),), None)
    assert e("{r1: 0, r2: 1}") == S.MapLit(((S.Name("r1"), S.IntLit(0)),
                                            (S.Name("r2"), S.IntLit(1))))
    assert e("[]") == S.SeqLit(()) and e("f()") == S.Call("f", ())
    assert e("x'") == S.Prime("x") and e("none") == S.NoneLit()


def test_declaration_forms():
    spec = p("""\
spec Forms
const K
symmetry A, B
var x, y: 0..3
fault action Crash:
    skip
transition invariant Mono: x' >= x
lemma L:
    x >= 0
def f() = 1
def g = 2
""")
    d = spec.decls
    assert d[0] == S.ConstDecl("K", None)
    assert d[1:3] == (S.SymmetryDecl("A"), S.SymmetryDecl("B"))
    assert d[3:5] == (S.VarDecl("x", e("0..3")), S.VarDecl("y", e("0..3")))
    assert d[5] == S.ActionDecl("Crash", (), (S.Skip(),), fault=True)
    assert d[6] == S.InvariantDecl("Mono", e("x' >= x"), transition=True)
    assert d[7] == S.InvariantDecl("L", e("x >= 0"), lemma=True)
    assert d[8].params == () and d[9].params is None


def test_statement_forms():
    spec = p("""\
spec Stmts
action A(i, j in S, m in msgs):
    require i != j
    let t = i
    if t:
        skip
    elif u:
        x = 1
    else:
        x = 2
    choose k in S where k > 0:
        either:
            f[k] = 1
        or:
            r.g = 2
""")
    a = spec.decls[0]
    assert a.params == (S.Binder(("i", "j"), S.Name("S")), S.Binder(("m",), S.Name("msgs")))
    req, let, if_, choose = a.body
    assert req == S.Require(e("i != j")) and let == S.Let("t", S.Name("i"))
    assert [c for c, _ in if_.branches] == [S.Name("t"), S.Name("u")]
    assert if_.orelse == (S.Assign(S.Name("x"), S.IntLit(2)),)
    assert choose.cond == e("k > 0")
    (either,) = choose.body
    assert either.branches == ((S.Assign(e("f[k]"), S.IntLit(1)),),
                               (S.Assign(e("r.g"), S.IntLit(2)),))


def test_comments_continuations_crlf_and_no_final_newline():
    text = ("# leading comment\nspec C   # trailing\n\nvar x: \\\n    0..3  # type\n"
            "init:\n    # a comment line inside a block\n    x = (1 +\n         2)\n"
            "invariant I: x >= 0")
    spec = p(text)
    assert spec == p(text.replace("\n", "\r\n"))
    assert spec.decls[1].body == (S.Assign(S.Name("x"), e("1 + 2")),)
    assert spec.decls[2].body == e("x >= 0")


def test_spans_point_at_the_text():
    spec = p("spec S\nvar count: 0..3\ninit:\n    count = 1 + 2\n")
    assign = spec.decls[1].body[0]
    assert (assign.span.line, assign.span.column) == (4, 5)
    assert (assign.value.span.line, assign.value.span.column) == (4, 13)
    assert (spec.decls[0].span.line, spec.decls[0].span.column) == (2, 5)


# ---------------------------------------------------------- golden error messages
SYNTAX_ERRORS = {
    # An unexpected token, with the list of what could come there instead.
    "parse_unexpected_token": "spec A\nvar x: 0..3\ninit:\n    x = = 1\n",
    # The line ends in the middle of an expression.
    "parse_unexpected_end_of_line": (
        "spec A\nvar x: 0..3\ninit:\n    x = 0\ninvariant Small: x <= 3 and\n"),
    "parse_missing_colon_action": "spec A\nvar x: 0..3\naction Flip\n    x = 1 - x\n",
    "parse_missing_colon_var": "spec A\nvar x 0..3\n",
    "parse_missing_colon_if": (
        "spec A\nvar x: 0..3\ninit:\n    if true\n        x = 1\n    else:\n        x = 2\n"),
    # A line that dedents to a column no enclosing block started at.
    "parse_bad_dedent": (
        "spec A\nvar x: 0..3\naction A:\n    if x > 0:\n        x = 0\n      x = 1\n"),
    "parse_block_not_indented": "spec A\nvar x: 0..3\ninit:\nx = 0\n",
    "parse_unexpected_character": "spec A\nvar x: 0..3\ninit:\n    x = 1 $ 2\n",
    "parse_bad_filter": "spec A\ndef Evens = {2 * n in 0..9 where true}\n",
    "parse_empty_file": "",
    "parse_no_spec_header": "var x: 0..3\n",
}


@pytest.mark.parametrize("name", sorted(SYNTAX_ERRORS))
def test_syntax_error_golden(name, golden):
    golden(name, syntax_error(SYNTAX_ERRORS[name], f"{name}.spec"))


def test_syntax_error_says_what_was_expected():
    text = syntax_error("spec A\nvar x: 0..3\naction Flip\n    x = 1\n")
    assert text.splitlines()[0] == "t.spec:3:12: error: unexpected end of line"
    assert text.splitlines()[-1] == "  expected: '(', ':'"


def test_unexpected_indent_points_at_the_indented_line():
    text = syntax_error("spec A\nvar x: 0..3\ninit:\n    x = 0\n        x = 1\n")
    assert text.splitlines()[0] == "t.spec:5:9: error: unexpected indent"


def test_unclosed_parenthesis_message_is_grammatical():
    text = syntax_error("spec A\nvar x: 0..3\ninit:\n    x = (1 + 2\n")
    assert "unexpected the" not in text


def test_dedent_error_names_the_line():
    text = syntax_error(SYNTAX_ERRORS["parse_bad_dedent"])
    assert text.startswith("t.spec:6:1: error: inconsistent indentation")


# ------------------------------------------------------------ never a traceback
def _load_error(text: str, name: str = "t.spec") -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(name, text=text)
    return info.value


def test_empty_and_blank_files():
    for text in ("", "\n\n\n", "# only a comment\n", "   \n\t\n"):
        err = _load_error(text)
        assert LOCATED.search(err.render()), err.render()


def test_nul_byte():
    err = _load_error("spec A\nvar x: 0..3 \x00\n")
    assert err.render().splitlines()[0] == (
        "t.spec:2:13: error: the file contains a NUL byte: is it a binary file?")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.spec"
    path.write_bytes(b"spec A\nvar x: 0..3\n# caf\xe9\n")
    with pytest.raises(SpecError) as info:
        read_source(str(path))
    assert info.value.render().startswith(f"{path}:3:6: error: the file is not UTF-8 text")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(str(tmp_path / "nope.spec"))
    assert "cannot read spec: No such file or directory" in info.value.render()


def test_random_bytes_from_a_file():
    rnd = random.Random(2024)
    with tempfile.TemporaryDirectory() as d:
        for i in range(40):
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000)))
            if i % 2:
                data = data.replace(b"\x00", b"")  # past the NUL check, into the lexer
            path = Path(d) / f"junk{i}.spec"
            path.write_bytes(data)
            with pytest.raises(SpecError) as info:
                load_spec(str(path))
            assert LOCATED.search(info.value.render()), info.value.render()


@pytest.fixture(scope="module")
def junk_dir():
    # (a directory made at import time was never removed: one more in /tmp per run)
    with tempfile.TemporaryDirectory(prefix="modelcheck-junk-") as d:
        yield Path(d)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_any_bytes_give_a_spec_error(junk_dir, data):
    path = junk_dir / "junk.spec"
    path.write_bytes(data)
    try:
        load_spec(str(path))
    except SpecError as err:
        err.render()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("spec AB\n    :=()[]{},.-+*<>|&?'#\\x01in"
                                              "forallnotandif")), max_size=300))
def test_any_text_gives_a_tree_or_a_spec_error(text):
    try:
        p(text)
    except SpecError as err:
        assert LOCATED.search(err.render()) or ": error: " in err.render()


def test_nested_parentheses_5000_levels():
    deep = "(" * 5000 + "1" + ")" * 5000
    spec = p(f"spec D\nvar x: 0..3\ninit:\n    x = {deep}\n")
    assert spec.decls[1].body[0].value == S.IntLit(1)
    compiled = load_spec("deep.spec", text=f"spec D\nvar x: 0..3\ninit:\n    x = {deep}\n")
    assert [compiled.model.decode(s) for s in compiled.model.initial_states()] == [{"x": 1}]
    unbalanced = "(" * 5000 + "1" + ")" * 4999
    err = _load_error(f"spec D\nvar x: 0..3\ninit:\n    x = {unbalanced}\n")
    assert LOCATED.search(err.render())


@pytest.mark.parametrize("kind", ["not", "plus", "set", "index"])
def test_deep_operator_nesting_is_a_spec_error(kind):
    n = 3000
    expr = {"not": "not " * n + "true",
            "plus": " + ".join(["0"] * n),
            "set": "{" * n + "1" + "}" * n,
            "index": "f" + "[0]" * n}[kind]
    err = _load_error(f"spec D\nvar x: bool\nvar f: 0..1\ninit:\n    x = {expr}\n")
    assert LOCATED.search(err.render())


def test_moderate_nesting_still_works():
    expr = "not " * 100 + "true"
    compiled = load_spec("n.spec", text=f"spec D\nvar x: bool\ninit:\n    x = {expr}\n")
    assert [compiled.model.decode(s) for s in compiled.model.initial_states()] == [{"x": True}]


# ---------------------------------------------------------------- big files
BIG_HEAD = "spec Big\nvar x: 0..1\ninit:\n    x = 0\naction Flip:\n    x = 1 - x\n"
COMMENTS_10MB = ("# " + "c" * 97 + "\n") * 100_000


def test_ten_megabyte_spec_of_comments_parses_quickly():
    text = BIG_HEAD + COMMENTS_10MB + "invariant Bit: x <= 1\n"
    assert len(text) > 10_000_000
    start = time.perf_counter()
    spec = p(text)
    assert time.perf_counter() - start < 10
    assert spec.decls[-1].name == "Bit"


def test_ten_megabyte_spec_with_an_error_at_its_end():
    text = BIG_HEAD + COMMENTS_10MB + "invariant Bit x <= 1\n"
    rendered = syntax_error(text, "big.spec")
    assert rendered.splitlines()[0] == "big.spec:100007:15: error: unexpected 'x'"


def test_ten_megabytes_of_junk():
    rnd = random.Random(7)
    junk = "".join(rnd.choices("abc(){}[]:=+-*/ \n\t0123456789.,#'", k=10_000_000))
    err = _load_error(junk, "junk.spec")
    assert LOCATED.search(err.render())


def test_files_over_the_size_limit_are_refused(tmp_path):
    path = tmp_path / "huge.spec"
    path.write_bytes(b"spec Huge\n" + b"#" * (MAX_SOURCE_BYTES + 10) + b"\n")
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    assert "spec file too large" in info.value.render()


# ------------------------------------------------------- what a new user runs into
COUNTER = """\
spec Counter
const N = 3
const Procs = {p1, p2}
var count: 0..N
var done: set[Procs]
init:
    count = 0
    done = {}
action Increment(p in Procs):
    require p not in done and count < N
    count = count + 1
    done = done | {p}
invariant Bounded: count == size(done)
"""


def counter_with(old: str, new: str) -> str:
    assert old in COUNTER
    return COUNTER.replace(old, new, 1)


def test_keywords_are_whole_words():
    # `in` may follow an expression where a name may not: `x inS` was read as `x in S`,
    # `Prepared(r) notinmsgs` as `not in msgs`, and an unclosed `{` before `invariant`
    # as `... in variant`.
    for text in ("x inS", "a orb", "p andq", "m isP"):
        with pytest.raises(SpecError) as info:
            e(text)
        assert "unexpected" in info.value.render()
    err = syntax_error(counter_with("done | {p}", "done | {p"))
    assert err.splitlines()[0] == "t.spec:13:1: error: unexpected 'invariant'"
    assert "note: the '{' at line 12, column 19 is still open here" in err
    assert e("x in inS") == S.Binary("in", S.Name("x"), S.Name("inS"))
    assert e("notx or orx") == S.Binary("or", S.Name("notx"), S.Name("orx"))


def test_notin_is_not_in():
    assert e("x notin S") == e("x not in S") == S.Binary("notin", S.Name("x"), S.Name("S"))


def test_reserved_words_are_not_names():
    err = syntax_error(counter_with("var count: 0..N", "var in: 0..N"))
    assert err.splitlines()[0] == ("t.spec:4:5: error: `in` is a keyword and cannot be used "
                                   "as a name")
    err = syntax_error(counter_with("    count = count + 1", "    let skip = 1"))
    assert "`skip` is a keyword" in err
    # Words that only start declarations stay usable as names (2pc.spec's `init` state).
    spec = p("spec A\nenum TMState = init | done\nvar init2: TMState\n")
    assert spec.decls[0].members == ("init", "done")


def test_byte_order_mark(tmp_path):
    spec = p("\ufeff" + COUNTER)
    assert spec == p(COUNTER)
    path = tmp_path / "bom.spec"
    path.write_bytes(b"\xef\xbb\xbf" + COUNTER.encode())
    source = read_source(str(path))
    assert source.text == COUNTER
    load_spec(str(path))
    err = syntax_error("\ufeffspec A\nvar x 0..3\n")
    assert err.splitlines()[0] == "t.spec:2:7: error: unexpected '0'"


def test_tabs_and_spaces():
    # A file indented with tabs only is fine; a tab where the block used spaces was read
    # as 8 columns (an "unexpected indent" somewhere else): Python's rule now.
    assert p(COUNTER.replace("    ", "\t")) == p(COUNTER)
    err = syntax_error(counter_with("    done = done | {p}", "\tdone = done | {p}"))
    assert err.splitlines()[0] == ("t.spec:12:1: error: inconsistent use of tabs and spaces "
                                   "in indentation: indent with spaces only (or tabs only)")
    err = syntax_error(COUNTER.replace("    count = 0", "        count = 0").replace(
        "    done = {}", "\tdone = {}"))
    assert "inconsistent use of tabs and spaces" in err


def test_end_of_file_points_after_the_last_token():
    err = syntax_error("spec A\ninvariant B: size(done")
    assert err.splitlines()[0] == "t.spec:2:23: error: unexpected end of file"
    assert err.splitlines()[2] == "    " + " " * 22 + "^"
    err = syntax_error("spec A\ninvariant B: x == \\\n")
    assert err.splitlines()[0] == "t.spec:2:18: error: unexpected end of file"


def test_a_long_line_shows_the_text_at_the_caret():
    text = counter_with("count == size(done)", "count == size(done)" + " and true" * 3000
                        + " and $")
    lines = syntax_error(text).splitlines()
    assert lines[0] == "t.spec:13:27044: error: unexpected character '$'"
    assert lines[1].startswith("    ... ") and lines[1].endswith("and true and $")
    assert lines[2].index("^") == lines[1].index("$")


def test_expected_is_said_in_words():
    for text in (counter_with("count + 1", "count + "), counter_with("= 0", "= 0 $"),
                 counter_with("count < N", "count <"), counter_with("{p}", "{p,}")):
        err = syntax_error(text)
        expected = next(x for x in err.splitlines() if x.startswith("  expected: "))
        assert not re.search(r"[A-Z]{3}|_NL|\batom\b|\bexpr\b|__", expected), expected


@pytest.mark.parametrize(("old", "new", "note"), [
    ("and count < N", "/\\ count < N", "`/\\` is TLA+'s conjunction: write `and`"),
    ("p in Procs)", "p \\in Procs)", "write `in` for TLA+'s `\\in`"),
    ("p not in done", "p \\notin done", "write `not in` for TLA+'s `\\notin`"),
    ("and count < N", "\\/ count < N", "`\\/` is TLA+'s disjunction: write `or`"),
    ("    done = done | {p}", "    UNCHANGED <<done>>", "there is no UNCHANGED"),
    ("require p not in done", "require count = 0 and p not in done",
     "to compare, write `==`"),
    ("invariant Bounded: count ==", "invariant Bounded: count =", "to compare, write `==`"),
    ("count < N", "count /= N", "`/=` is TLA+'s not-equal: write `!=`"),
    ("count = count + 1", "count += 1", "there is no `+=`"),
    ("count = count + 1", "count := count + 1", "assignment is `x = e` (no `:=`)"),
    ("and count < N", "&& count < N", "write `and` for `&&`"),
    ("require p not in done", "require !(p in done)", "write `not` for negation"),
    ("count = count + 1", "count = count + 1;", "remove the `;`"),
    ("const N = 3", 'const N = "3"', "there are no strings"),
    ("const N = 3", "const N = 3.5", "numbers are integers"),
    ("const N = 3", "val N = 3", "a named value is `def NAME = expr`"),
    ("invariant Bounded", "pure def F(x) = x\ninvariant Bounded", "write `def NAME(x)"),
    ("spec Counter", "---- MODULE Counter ----", "a spec starts with `spec Name`"),
    ("spec Counter", "Spec Counter", "keywords are lower case: `spec`"),
    ("action Increment", "acton Increment", "did you mean `action`?"),
    ("    require p", "    requre p", "did you mean `require`?"),
    ("invariant Bounded", "invarient Bounded", "did you mean `invariant`?"),
    ("init:", "Init:", "the initial states are given by an `init:` block"),
    ("    count = count + 1", "    if count < 2:\n        skip\n    else if count == 2:\n"
     "        skip", "write `elif` for `else if`"),
    ("    count = count + 1", "    elif count < 2:\n        skip",
     "`elif` must follow an `if` block"),
    ("    count = count + 1", "    count == count + 1", "a line of an action or init is a "
     "statement"),
    ("{p1, p2}", "{p1, p2,}", "remove the `,` before the closing bracket"),
    ("var count: 0..N", "var zähler: 0..N", "ASCII letters, digits and `_`"),
    ("and count < N", "\u2227 count < N", "write `and`"),
    ("invariant Bounded: count == size(done)",
     "invariant Bounded: count == size(done) and\n    count <= N", "end this line with `\\`"),
])
def test_habits_from_other_languages_get_a_hint(old, new, note):
    err = syntax_error(counter_with(old, new))
    assert LOCATED.search(err), err
    notes = [x for x in err.splitlines() if x.startswith("  note: ")]
    assert any(note in x for x in notes), err


def test_a_backslash_is_shown_as_itself():
    err = syntax_error(counter_with("and count < N", "/\\ count < N"))
    assert err.splitlines()[0] == "t.spec:10:28: error: unexpected character '\\'"


def test_declaration_words_are_names_after_a_block():
    # After an `either`/`if` block the parser still waits to reduce, and that state
    # listed `init` as a keyword: a statement `init = 1` there was "unexpected 'init'".
    spec = p("spec A\nenum TM = init | done\nvar tm: TM\nvar init: 0..1\n"
             "action var:\n    either:\n        skip\n    or:\n        require true\n"
             "    init = 1\n    if true:\n        tm = init\n    init = 0\n")
    action = spec.decls[3]
    assert action.name == "var"
    assert action.body[1] == S.Assign(S.Name("init"), S.IntLit(1))
    assert action.body[2].branches[0][1] == (S.Assign(S.Name("tm"), S.Name("init")),)
    assert action.body[3] == S.Assign(S.Name("init"), S.IntLit(0))
    fault = p("spec A\nfault(crash) action C:\n    skip\ndurable var x: 0..1\n"
              "transition invariant T: true\n")
    assert [type(d).__name__ for d in fault.decls] == ["ActionDecl", "VarDecl", "InvariantDecl"]
