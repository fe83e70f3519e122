"""Name resolution and type checking: good specs are accepted (with enum literals shared by
two enums resolved from the expected type), bad ones give every error at once, each
rendered as pinned in tests/golden/tc_*.txt."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checker import ir
from checker import types as T
from checker.api import load_spec, parse_const_assignments
from checker.parser import parse, parse_expression
from checker.source import Source, SpecError
from checker.typecheck import check

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/**/*.spec"))
ERROR_LINE = re.compile(r"^\S+?(:\d+:\d+)?: error: ", re.M)


def typed(text: str, consts: dict[str, str] | None = None, name: str = "t.spec"):
    source = Source(name, text)
    const_sources = {k: Source(f"--const {k}", v) for k, v in (consts or {}).items()}
    overrides = {k: parse_expression(s) for k, s in const_sources.items()}
    return check(parse(source), source, overrides, const_sources)


def errors(text: str, consts: dict[str, str] | None = None, name: str = "t.spec") -> SpecError:
    with pytest.raises(SpecError) as info:
        typed(text, consts, name)
    return info.value


def error_lines(err: SpecError) -> list[str]:
    return [line for line in err.render().splitlines() if ERROR_LINE.match(line)]


# ----------------------------------------------------------------- good specs
@pytest.mark.parametrize("path", SPECS, ids=lambda q: str(q.relative_to(ROOT)))
def test_shipped_specs_type_check(path):
    spec = typed(path.read_text(), name=str(path))
    assert spec.variables and spec.actions


def test_2pc_types():
    spec = typed((ROOT / "specs/2pc.spec").read_text())
    types = {v.name: v.t for v in spec.variables}
    rm = T.SymT("RM", ("r1", "r2", "r3"))
    rm_state = T.EnumT("RMState", ("working", "prepared", "committed", "aborted"))
    assert types["rmState"] == T.MapT(rm, rm_state)
    assert types["tmState"] == T.EnumT("TMState", ("init", "committed", "aborted"))
    assert types["tmPrepared"] == T.SetT(rm)
    assert isinstance(types["msgs"], T.SetT) and isinstance(types["msgs"].elem, T.VariantT)
    assert [c.name for c in types["msgs"].elem.cases] == ["Prepared", "Commit", "Abort"]
    assert spec.options["deadlock"] is False
    assert spec.symmetry == ("RM",)
    assert [a.name for a in spec.actions if not a.fault] == [
        "TMRcvPrepared", "TMCommit", "TMAbort", "RMPrepare", "RMChooseToAbort",
        "RMRcvCommitMsg", "RMRcvAbortMsg"]
    assert [(a.name, a.fault_kind) for a in spec.actions if a.fault] == [
        ("RMCrash", "crash"), ("RMRestart", "restart"), ("TMCrash", "crash"),
        ("TMRestart", "restart")]
    assert [v.name for v in spec.variables if v.durable] == ["rmState", "tmState"]


def test_paxos_types_and_constants():
    spec = typed((ROOT / "specs/paxos.spec").read_text(), {"MaxBallot": "1"})
    types = {v.name: v.t for v in spec.variables}
    acceptors = T.SymT("Acceptors", ("a1", "a2", "a3"))
    assert types["maxBal"] == T.MapT(acceptors, T.IntT(-1, 1))
    assert types["maxVal"] == T.MapT(acceptors, T.OptionT(T.SymT("Values", ("v1", "v2"))))
    assert spec.constants["MaxBallot"] == (1, T.IntT(1, 1))


TWO_ENUMS = """\
spec Enums
enum RMState = working | prepared | committed | aborted
enum TMState = init | committed | aborted
const RM = {r1, r2}
var rm: map[RM, RMState]
var tm: TMState
init:
    rm = {r: working for r in RM}
    tm = init
"""


def _assigned_type(spec: ir.TypedSpec, action: str, index: int) -> T.Type:
    a = next(x for x in spec.actions if x.name == action)
    return a.body[index].value.t


def test_shared_enum_literal_resolved_from_the_expected_type():
    spec = typed(TWO_ENUMS + """\
action Decide(r in RM):
    require tm != committed and rm[r] != committed
    tm = committed
    rm[r] = committed
action Qualified:
    tm = TMState.aborted
    rm = {r: RMState.aborted for r in RM}
invariant Same: forall r in RM: rm[r] == committed implies tm == committed
invariant InSet: tm in {committed, aborted}
""")
    assert _assigned_type(spec, "Decide", 1) == T.EnumT("TMState", ("init", "committed",
                                                                    "aborted"))
    assert _assigned_type(spec, "Decide", 2).name == "RMState"
    assert _assigned_type(spec, "Qualified", 0).name == "TMState"


def test_shared_enum_literal_compiles_to_the_right_value():
    compiled = load_spec("t.spec", text=TWO_ENUMS + """\
option deadlock = false
action Commit:
    require tm == init
    tm = committed
    rm = {r: committed for r in RM}
invariant Agree: tm == committed iff (forall r in RM: rm[r] == committed)
""")
    from checker.explore import explore
    result = explore(compiled.model)
    assert result.status.value == "ok"
    assert result.stats.distinct_states == 2


# ------------------------------------------------------------ golden errors
BASE = """\
spec Bad
const N = 3
const RM = {r1, r2, r3}
enum RMState = working | prepared | committed | aborted
enum TMState = init | committed | aborted
var count: 0..N
var rmState: map[RM, RMState]
var tmState: TMState
"""
INIT = """\
init:
    count = 0
    rmState = {r: working for r in RM}
    tmState = init
"""

TYPE_ERRORS = {
    "tc_unknown_name": BASE + INIT + "action Inc:\n    count = cuont + 1\n",
    "tc_unknown_type": "spec Bad\nenum Color = red | green\nvar c: Colour\ninit:\n    skip\n",
    "tc_type_mismatch": BASE + INIT + "action Flip:\n    tmState = count + 1\n",
    "tc_condition_not_bool": BASE + INIT + "action A:\n    require count + 1\n",
    "tc_unbounded_int": "spec Bad\nvar total: int\ninit:\n    skip\n",
    "tc_unbounded_int_in_set": "spec Bad\nvar seen: set[int]\ninit:\n    skip\n",
    "tc_assign_constant": BASE + INIT + "action A:\n    N = 4\n",
    "tc_assign_bound_name": BASE + INIT + "action A(r in RM):\n    r = r1\n",
    "tc_assign_let_name": BASE + INIT + "action A:\n    let c = count\n    c = 1\n",
    "tc_assign_primed": BASE + INIT + "action A:\n    count' = 1\n",
    "tc_primed_outside_transition_invariant": BASE + INIT + "invariant Up: count' >= count\n",
    "tc_primed_in_action": BASE + INIT + "action A:\n    require count' == 0\n",
    "tc_primed_constant": BASE + INIT + "transition invariant T: N' == N\n",
    "tc_ambiguous_enum_literal": BASE + INIT + "invariant Odd: committed == committed\n",
    "tc_map_literal_not_total": BASE + "init:\n    count = 0\n"
                                "    rmState = {r1: working, r2: working}\n    tmState = init\n",
    "tc_map_literal_key_twice": BASE + "init:\n    count = 0\n    rmState = {r1: working, "
                                "r2: working, r2: aborted}\n    tmState = init\n",
    "tc_init_missing_variable": BASE + "init:\n    count = 0\n    tmState = init\n",
    "tc_init_missing_on_a_path": BASE + "init:\n    count = 0\n    tmState = init\n"
                                 "    if count == 0:\n        rmState = {r: working for r in RM}\n",
    "tc_init_read_before_assign": BASE + "init:\n    count = size({r in RM where rmState[r] "
                                  "== working})\n    rmState = {r: working for r in RM}\n"
                                  "    tmState = init\n",
    "tc_duplicate_declaration": BASE + INIT + "var count: 0..N\naction A:\n    skip\n"
                                "action A:\n    skip\n",
    "tc_builtin_name_declared": BASE + INIT + "def bool = 3\n",
    "tc_const_without_value": "spec Bad\nconst K\nvar x: 0..3\ninit:\n    x = 0\n",
    "tc_wrong_arity": BASE + INIT + "def twice(x) = 2 * x\ninvariant I: twice(count, 1) > 0\n",
    "tc_unknown_field": "spec Bad\nconst RM = {r1}\nmessage Prepared(rm: RM)\n"
                        "var msgs: set[Message]\ninit:\n    msgs = {}\n"
                        "invariant I: forall m in msgs: m is Prepared implies m.rn == r1\n",
    "tc_not_a_message_kind": "spec Bad\nconst RM = {r1}\nmessage Prepared(rm: RM)\n"
                             "var msgs: set[Message]\ninit:\n    msgs = {}\n"
                             "invariant I: forall m in msgs: not (m is Prepare)\n",
    "tc_no_init": "spec Bad\nvar x: 0..1\n",
    "tc_unknown_fault_kind": BASE + INIT + "fault(crahs) action Crash:\n    count = 0\n",
    "tc_crash_changes_durable": BASE.replace("var count", "durable var count") + INIT
                                + "fault(crash) action Crash:\n    count = 0\n",
    # A let that hid a variable was accepted, and `count` after it was the local value.
    "tc_let_hides_variable": BASE + INIT + "action A:\n    let count = 1\n    require count > 0\n",
    "tc_let_hides_constant": BASE + INIT + "action A:\n    let N = 1\n    count = N\n",
    "tc_python_true": BASE + INIT + "action A:\n    require True\n",
    "tc_unbounded_nat": "spec Bad\nvar total: Nat\ninit:\n    skip\n",
    "tc_map_comprehension_domain": "spec Bad\nconst RM = {r1, r2}\nvar m: map[RM, bool]\n"
                                   "init:\n    m = {r: true for r in {r1}}\n",
}


@pytest.mark.parametrize("name", sorted(TYPE_ERRORS))
def test_type_error_golden(name, golden):
    golden(name, errors(TYPE_ERRORS[name], name=f"{name}.spec").render())


def test_unknown_const_name_golden(golden):
    err = errors(BASE + INIT, {"M": "4", "RN": "{r1, r2}", "Rm": "{r1}"},
                 name="tc_unknown_const.spec")
    golden("tc_unknown_const", err.render())


def test_unknown_const_suggests_the_closest_name():
    err = errors(BASE + INIT, {"NN": "4"})
    assert "--const NN: the spec declares no constant NN" in err.render()
    assert "note: did you mean `N`?" in err.render()


def test_const_overrides_apply():
    spec = typed(BASE + INIT, {"N": "5", "RM": "{r1, r2, r3, r4}"})
    assert {v.name: v.t for v in spec.variables}["count"] == T.IntT(0, 5)
    assert spec.constants["RM"][1] == T.SetT(T.SymT("RM", ("r1", "r2", "r3", "r4")))


def test_a_const_with_no_default_takes_the_command_line_value():
    spec = typed("spec K\nconst K\nvar x: 0..K\ninit:\n    x = K\n", {"K": "2"})
    assert spec.variables[0].t == T.IntT(0, 2)


def test_bad_const_syntax():
    with pytest.raises(SpecError, match=r"--const expects NAME=VALUE, got 'N'"):
        parse_const_assignments(["N"])
    with pytest.raises(SpecError, match=r"--const expects NAME=VALUE, got '=3'"):
        parse_const_assignments(["=3"])
    with pytest.raises(SpecError) as info:
        load_spec("t.spec", text=BASE + INIT, consts=["N=1 +"])
    assert info.value.render().startswith("--const N:1:4: error: unexpected end of line")


def test_a_set_for_an_integer_constant_is_an_error():
    err = errors(BASE + INIT, {"N": "{a, b}"})
    assert err.render() == (
        "--const N:1:1: error: wrong kind of value for N: this is a set of symbols, but N "
        "is an integer\n"
        "    {a, b}\n"
        "    ^^^^^^\n"
        "  expected: an integer for N, such as 3 (its value in the spec)")


# An error in a --const value is located in that value (as a syntax error in it is), says
# what the spec expects, and is the only error: the constant's uses stay quiet.
ANY_ERROR_LINE = re.compile(r"^(--const \S+|\S+?)(:\d+:\d+)?: error: ", re.M)


def _error_lines(err: SpecError) -> list[str]:
    return [line for line in err.render().splitlines() if ANY_ERROR_LINE.match(line)]


def _const_error(spec: str, *consts: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(str(ROOT / spec), consts=list(consts))
    return info.value.render()


def test_an_unknown_name_in_a_const_value_is_located_in_the_value():
    assert _const_error("specs/paxos.spec", "MaxBallot=abc") == (
        "--const MaxBallot:1:1: error: unknown name `abc`\n"
        "    abc\n"
        "    ^^^\n"
        "  expected: an integer for MaxBallot, such as 2 (its value in the spec)")


def test_a_const_value_of_the_wrong_kind_is_located_in_the_value():
    assert _const_error("specs/paxos.spec", "MaxBallot={a}") == (
        "--const MaxBallot:1:1: error: wrong kind of value for MaxBallot: this is a set of "
        "symbols, but MaxBallot is an integer\n"
        "    {a}\n"
        "    ^^^\n"
        "  expected: an integer for MaxBallot, such as 2 (its value in the spec)")
    for value, found in [("true", "a boolean"), ("{1, 2}", "a set of integers"),
                         ("{}", "an empty set")]:
        text = _const_error("specs/2pc.spec", f"RM={value}")
        assert text.startswith(f"--const RM:1:1: error: wrong kind of value for RM: this is "
                               f"{found}, but RM is a set of symbols\n")
        assert text.endswith("expected: a set of symbols for RM, such as {r1, r2, r3} "
                             "(its value in the spec)")


def test_a_const_value_in_the_sweep_form_is_located_in_the_value():
    text = _const_error("specs/2pc.spec", "RM=a..b")
    assert text == (
        "--const RM:1:1: error: unknown name `a`\n"
        "    a..b\n"
        "    ^\n"
        "  expected: a set of symbols for RM, such as {r1, r2, r3} (its value in the spec)")


def test_a_symbol_listed_twice_in_a_const_value_is_pointed_at():
    # Refused, unlike TLC's {r1, r1} = {r1}: the constant declares its symbols, as an enum
    # does, and a repeated one is a typo that would silently shrink the model.
    assert _const_error("specs/2pc.spec", "RM={r1,r1}") == (
        "--const RM:1:5: error: constant RM lists the symbol `r1` twice\n"
        "    {r1,r1}\n"
        "        ^^\n"
        "  expected: a set of symbols for RM, such as {r1, r2, r3} (its value in the spec)\n"
        "  note: first listed at column 2; each symbol is a different value, so list each "
        "once")


def test_a_const_value_taking_another_declarations_symbol_is_blamed():
    # Values = {v1, v2} is right; the --const value that takes v1 is what is wrong.
    assert _const_error("specs/paxos.spec", "Acceptors={a1, v1}").startswith(
        "--const Acceptors:1:6: error: symbol `v1` is already a member of Values\n"
        "    {a1, v1}\n"
        "         ^^\n")
    assert _const_error("specs/2pc.spec", "RM={r1, working}").startswith(
        "--const RM:1:6: error: symbol `working` is already a member of RMState\n")


def test_a_bad_const_value_does_not_hide_the_specs_own_errors():
    err = errors(BASE + INIT + "invariant I: nope > 0\n", {"N": "abc"})
    assert _error_lines(err) == ["--const N:1:1: error: unknown name `abc`",
                                 "t.spec:13:14: error: unknown name `nope`"]


def test_a_bad_const_value_without_its_text_is_not_blamed_on_the_spec():
    source = Source("t.spec", BASE + INIT)
    with pytest.raises(SpecError) as info:
        check(parse(source), source, {"N": parse_expression(Source("--const N", "abc"))})
    assert info.value.render().splitlines()[0] == "--const N: error: unknown name `abc`"


def test_a_constant_without_a_value_is_reported_once():
    err = errors("spec K\nconst K\nvar x: 0..K\ninit:\n    x = K\n"
                 "invariant I: x <= K\n")
    assert _error_lines(err) == [
        "t.spec:2:1: error: constant K has no value: give one with --const K=VALUE"]


def test_a_bad_const_value_in_a_sweep_is_located_in_the_value():
    from checker.parallel import ModelSpec

    recipe = ModelSpec.from_file(str(ROOT / "specs/2pc.spec")).with_const("RM", "a..b")
    with pytest.raises(SpecError) as info:
        recipe.compile()
    assert _error_lines(info.value) == ["--const RM:1:1: error: unknown name `a`"]


def test_a_bad_const_value_on_the_command_line_is_one_located_error():
    proc = subprocess.run([sys.executable, "-m", "checker", "specs/paxos.spec", "--const",
                           "MaxBallot=abc"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("--const MaxBallot:1:1: error: unknown name `abc`\n")
    assert "has no value" not in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------- many errors
MANY = """\
spec Many
const N = 3
enum RMState = working | prepared | committed | aborted
enum TMState = init | committed | aborted
var x: 0..N
var rm: RMState
var tm: TMState
var flag: bool
var x: bool
init:
    x = z
    rm = workin
    tm = committed
    flag = 1
action A(i in 0..2):
    N = 1
    i = 1
    x' = 1
    require flag == committed
invariant P: x' == x
"""


def test_every_error_of_a_file_is_reported(golden):
    err = errors(MANY, name="tc_many_errors.spec")
    golden("tc_many_errors", err.render())
    # One per line 9, 11, 12, 14, 16-20 (line 13's `committed` is resolved from tm's type).
    assert len(error_lines(err)) == 9
    assert err.render().endswith("\n9 errors")
    lines = [int(m.split(":")[1]) for m in error_lines(err)]
    assert lines == [9, 11, 12, 14, 16, 17, 18, 19, 20]


def test_errors_in_several_actions_and_invariants_are_all_reported():
    text = BASE + INIT + "".join(
        f"action A{i}:\n    count = undefined{i}\n" for i in range(5)) + "".join(
        f"invariant I{i}: count == nope{i}\n" for i in range(3))
    err = errors(text)
    assert len(error_lines(err)) == 8
    assert err.render().endswith("8 errors")


def test_a_rejected_type_is_reported_once():
    err = errors("spec Bad\nvar total: int\ninit:\n    total = 0\n")
    assert len(error_lines(err)) == 1


def test_a_duplicate_variable_keeps_the_first_type():
    err = errors(BASE + INIT + "var count: bool\n")
    assert len(error_lines(err)) == 1


def test_a_failed_let_is_reported_once():
    err = errors(TWO_ENUMS + "action A:\n    let c = committed\n    tm = c\n")
    assert len(error_lines(err)) == 1


def test_an_error_in_a_def_is_reported_once():
    err = errors("spec Bad\ndef F = F + 1\nvar x: 0..3\ninit:\n    x = F\n")
    assert len(error_lines(err)) == 1


# ------------------------------------------------------- no traceback, ever
def test_huge_nested_set_types_are_rejected():
    with pytest.raises(SpecError, match="too large"):
        load_spec("t.spec", text="spec Bad\nvar x: set[set[set[0..5]]]\ninit:\n    x = {}\n")


def test_a_huge_parameter_domain_is_not_a_traceback():
    text = "spec Big\nvar x: 0..3\ninit:\n    x = 0\naction A(i in 0..20000):\n    x = 0\n"
    try:
        load_spec("t.spec", text=text)
    except SpecError:
        pass


@pytest.mark.slow
def test_a_map_with_too_many_keys_is_rejected_quickly(tmp_path):
    path = tmp_path / "bigmap.spec"
    path.write_text("spec Bad\nvar x: map[set[set[0..5]], bool]\ninit:\n    skip\n")
    code = ("import sys\nfrom checker.api import load_spec\nfrom checker.source import "
            "SpecError\ntry:\n    load_spec(sys.argv[1])\nexcept SpecError as e:\n"
            "    print(e.render())\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=15)
    assert "too large" in proc.stdout or "too many" in proc.stdout


def test_sets_too_large_to_represent_are_rejected():
    err = errors("spec Bad\nvar x: set[0..100000]\n")
    assert "set[0..100000] is too large to represent (100001 possible elements)" in \
        err.render()


def test_constant_evaluation_errors_are_spec_errors():
    err = errors("spec Bad\nconst N = 1 / 0\nvar x: 0..1\ninit:\n    x = 0\n")
    assert "cannot evaluate this constant: integer division or modulo by zero" in err.render()
    err = errors("spec Bad\nvar x: 3..1\ninit:\n    x = 3\n")
    assert "empty range 3..1" in err.render()


def _mutants(seed: int, count: int):
    """Shipped specs with random small edits: deletions, insertions of tokens, swaps."""
    rnd = random.Random(seed)
    texts = [p.read_text() for p in SPECS]
    tokens = ["x", "1", "-1", "none", "{}", "(", ")", "[", "]", ":", ",", "and", "not", "in",
              "..", "'", "?", ".", "==", "=", "+", "|", "RM", "msgs", "true", "\n", "    ",
              "forall", "if", "else", "committed", "size(", "0..", "Values", "bool", "int",
              "set[", "map[", "-", "*", "/", "%", "0", "10000000000000000000000", "m.",
              "is", "P1a", "where", "for", "choose", "let", "lemma", "fault", "either:"]
    for _ in range(count):
        text = rnd.choice(texts)
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(text))
            r = rnd.random()
            if r < 0.33:
                text = text[:pos] + text[pos + rnd.randint(1, 8):]
            elif r < 0.66:
                text = text[:pos] + " " + rnd.choice(tokens) + " " + text[pos:]
            else:
                text = text[:pos] + rnd.choice(tokens) + text[pos + rnd.randint(1, 4):]
        yield text


@pytest.mark.parametrize("seed", range(4))
def test_mutated_specs_never_give_a_traceback(seed):
    for text in _mutants(seed, 60):
        try:
            load_spec("mutant.spec", text=text)
        except SpecError as err:
            assert ERROR_LINE.search(err.render()), err.render()


@pytest.mark.slow
def test_many_mutated_specs_never_give_a_traceback():
    for text in _mutants(1000, 500):
        try:
            load_spec("mutant.spec", text=text)
        except SpecError:
            pass


def test_errors_are_reported_in_file_order():
    # Constants and types are checked before actions and invariants: errors came in
    # that order, the 13th line's before the 8th's.
    text = """spec Order

var x: 0..3

init:
    x = 0

invariant Small: x <= bad

action Step:
    x = x + nope

const K = true + 1
var y: set[Nope]
"""
    source = Source("order.spec", text)
    with pytest.raises(SpecError) as err:
        check(parse(source), source)
    lines = [d.span.line for d in err.value.diagnostics]
    assert lines == [8, 11, 13, 14]
