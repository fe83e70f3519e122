"""The interactive explorer (checker.repl), driven through its input stream."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.explore import explore
from checker.render.json import render_json
from checker.repl import ExploreError, Repl
from checker.source import Source, SpecError

ROOT = Path(__file__).resolve().parent.parent
TWO_PC = str(ROOT / "specs/buggy/2pc_early_commit.spec")


def session(commands: str, path: str = TWO_PC, **kw) -> tuple[str, int]:
    out = io.StringIO()
    repl = Repl.from_file(path, input=io.StringIO(commands), output=out, **kw)
    code = repl.run()
    return out.getvalue(), code


def blocks(text: str) -> list[str]:
    """The output of each command (split at the prompts)."""
    return text.split("> ")


def test_shows_the_state_and_numbered_actions():
    out, code = session("quit\n")
    assert code == 0
    first = blocks(out)[0]
    assert "State 1 (initial state):" in first
    assert "    rmState = {r1: working, r2: working, r3: working}" in first
    assert "Enabled actions:\n   1. TMAbort\n   2. RMPrepare(r1)\n" in first
    assert "   7. RMChooseToAbort(r3)\n" in first


def test_take_back_and_changed_marks():
    out, _ = session("2\n1\nback\nback\nback\n")
    b = blocks(out)
    assert "State 2 (after RMPrepare(r1)):" in b[1]
    assert "  * rmState = {r1: prepared, r2: working, r3: working}" in b[1]
    assert "    tmState = init" in b[1]
    assert "  * msgs = {Prepared(rm=r1)}" in b[1]
    assert "State 3 (after TMRcvPrepared(r1)):" in b[2]
    assert "State 2 (after RMPrepare(r1)):" in b[3]
    assert "State 1 (initial state):" in b[4]
    assert "error: already at the initial state" in b[5]


def test_bad_commands_keep_the_session_going():
    out, code = session("99\nfrobnicate\njump 3\neval\nload\n1\n")
    b = blocks(out)
    assert "error: there is no action 99 (choose 1 to 7)" in b[1]
    assert "unknown command `frobnicate`" in b[2]
    assert "error: no counterexample is loaded" in b[3]
    assert "error: usage: eval EXPR" in b[4]
    assert "error: usage: load FILE" in b[5]
    assert "State 2 (after TMAbort):" in b[6]
    assert code == 0


def test_eval_in_the_current_state():
    out, _ = session("2\neval rmState[r1]\neval size(msgs) + 1\neval Prepared(r1) in msgs\n"
                     "eval {r for r in RM where rmState[r] == working}\neval nosuch\n"
                     "eval 1 +\neval rmState[3]\n")
    b = blocks(out)
    assert b[2].strip() == "prepared"
    assert b[3].strip() == "2"
    assert b[4].strip() == "true"
    assert b[5].strip() == "{r2, r3}"
    assert "<eval>:1:1: error: unknown name `nosuch`" in b[6]
    assert "<eval>:1:4: error: unexpected end of line" in b[7]
    assert "error" in b[8]


def test_check_jump_and_why():
    out, _ = session("check\ntrace\njump 6\nwhy\njump 4\nwhy tmState == committed and "
                     "tmPrepared == RM\n")
    b = blocks(out)
    assert "Invariant Consistent is violated." in b[1] and "Loaded it (6 states)" in b[1]
    assert "    6. RMRcvCommitMsg(r1)" in b[2]
    assert "State 6 (after RMRcvCommitMsg(r1)):" in b[3]
    assert "  ! invariant Consistent is false here" in b[3]
    assert "RMPrepare(r3)   (leads to a state where Consistent is false)" in b[3]
    assert "is false for rm1 = r2, rm2 = r1:" in b[4]
    assert "rmState[r2] == aborted is true (rmState[r2] = aborted)" in b[4]
    assert "State 4 (after TMCommit):" in b[5]
    assert b[6].splitlines() == [
        "  tmState == committed and tmPrepared == RM is false, since:",
        "    tmPrepared == RM is false (tmPrepared = {r1})",
    ]


def test_load_a_json_result_and_jump(tmp_path):
    compiled = load_spec(TWO_PC)
    result = explore(compiled.model)
    path = tmp_path / "result.json"
    path.write_text(render_json(result))
    out, _ = session(f"load {path}\ntrace\njump 5\nback\npath\n")
    b = blocks(out)
    assert f"Loaded {path} (6 states)" in b[1]
    assert "    5. RMChooseToAbort(r2)" in b[2]
    assert "State 5 (after RMChooseToAbort(r2)):" in b[3]
    assert "State 4 (after TMCommit):" in b[4]
    assert b[5].split("\n")[:4] == ["    1. initial state", "    2. RMPrepare(r1)",
                                    "    3. TMRcvPrepared(r1)", "    4. TMCommit"]


def test_load_an_itf_trace_and_jump(tmp_path):
    # (only JSON results were read: "has no counterexample (no violation.trace)" for
    # the ITF that `--format itf`, Apalache and Quint write)
    from checker.itf import write_itf

    compiled = load_spec(TWO_PC)
    result = explore(compiled.model)
    path = tmp_path / "ce.itf.json"
    path.write_text(write_itf(result, compiled, as_text=True))
    out, _ = session(f"load {path}\ntrace\njump 5\n")
    b = blocks(out)
    assert f"Loaded {path} (6 states)" in b[1]
    assert "    5. RMChooseToAbort(r2)" in b[2]
    assert "State 5 (after RMChooseToAbort(r2)):" in b[3]
    # a trace of some variables only cannot be stepped through
    doc = json.loads(path.read_text())
    for st in doc["states"]:
        del st["msgs"]
    partial = tmp_path / "partial.itf.json"
    partial.write_text(json.dumps(doc))
    out, _ = session(f"load {partial}\n")
    assert "state 0 of " in out and "does not give msgs" in out


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"violation": None}))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"violation": {"trace": [{"action": None, "state": {
        "rmState": {"r1": "working", "r2": "working", "r3": "working"},
        "tmState": "committed", "tmPrepared": [], "msgs": []}}]}}))
    out, _ = session(f"load {bad}\nload {ok}\nload {wrong}\nload {tmp_path}/missing.json\n")
    b = blocks(out)
    assert "is not JSON" in b[1]
    assert "has no counterexample" in b[2]
    assert "not an initial state of the spec" in b[3]
    assert "cannot read" in b[4]


def test_counterexample_given_at_start_and_init_list():
    compiled = load_spec(TWO_PC)
    result = explore(compiled.model)
    out = io.StringIO()
    text = Path(TWO_PC).read_text()
    repl = Repl(compiled, source=Source(TWO_PC, text), counterexample=result,
                input=io.StringIO("jump 2\ninit\ninit 1\n"), output=out)
    repl.run()
    b = blocks(out.getvalue())
    assert "Loaded the given result (6 states)" in b[0]
    assert "State 2 (after RMPrepare(r1)):" in b[1]
    assert "1. rmState = {r1: working, r2: working, r3: working}" in b[2]
    assert "State 1 (initial state):" in b[3]


def test_deadlock_and_why(tmp_path):
    spec = tmp_path / "d.spec"
    spec.write_text("""\
spec D
var x: 0..2
init:
    x = 0
action Up:
    require x < 2
    x = x + 1
invariant Small: x <= 2
""")
    out, _ = session("1\n1\nwhy\n", path=str(spec))
    b = blocks(out)
    assert "No action is enabled here (a deadlock)." in b[2]
    assert "  Up: x < 2 is false (x = 2)" in b[3]
    assert "Small:\n  x <= 2 is true (x = 2)" in b[3]


def test_eval_needs_the_source():
    compiled = load_spec(TWO_PC)
    out = io.StringIO()
    Repl(compiled, input=io.StringIO("eval tmState\n"), output=out).run()
    assert "`eval` needs the spec's source text" in out.getvalue()


def test_constants_and_faults_are_honoured(tmp_path):
    out, _ = session("eval RM\neval size(RM)\n", consts=["RM={r1,r2}"])
    b = blocks(out)
    assert b[1].strip() == "{r1, r2}" and b[2].strip() == "2"
    with pytest.raises(SpecError, match="declares no constant Nope"):
        Repl.from_file(TWO_PC, consts=["Nope=1"])


def test_no_initial_state_is_an_error(tmp_path):
    spec = tmp_path / "n.spec"
    spec.write_text("spec N\nvar x: 0..1\ninit:\n    x = 0\n    require x == 1\n")
    try:
        compiled = load_spec(str(spec))
    except Exception:  # noqa: BLE001 (the language may refuse it earlier)
        return
    if compiled.model.initial_states():
        return
    with pytest.raises(ExploreError, match="no initial state"):
        Repl(compiled, input=io.StringIO(""), output=io.StringIO())


TWO_PC_FIXED = str(ROOT / "specs/2pc.spec")


def test_lemmas_are_not_treated_as_properties():
    # (the lemma NoCrash, a proof helper that `check` leaves out, marked every crash as
    # "leads to a state where NoCrash is false", and `check` found it instead of the
    # NotBlocked violation `modelcheck --faults all` reports)
    out, _ = session("why\ncheck\n", path=TWO_PC_FIXED, consts=["RM={r1,r2}"],
                     faults=("all",))
    b = blocks(out)
    assert "RMCrash(r1)\n" in b[0] and "NoCrash" not in b[0]
    assert "NotBlocked:" in b[1] and "NoCrash" not in b[1] and "CommitMsg" not in b[1]
    assert "Invariant NotBlocked is violated." in b[2]


def test_number_arguments_are_checked():
    # (`back 0` emptied the path: "internal error: IndexError"; `back -1` went back to
    # the start; `back x` and `init x` showed Python's "invalid literal for int()")
    out, code = session("2\n1\nback 0\nback -1\nback x\ninit x\ninit 0\njump 0\nstate\n")
    b = blocks(out)
    assert "error: usage: back [K]" in b[3] and "error: usage: back [K]" in b[4]
    assert "error: usage: back [K]" in b[5] and "invalid literal" not in out
    assert "error: usage: init [N]" in b[6] and "error: usage: init [N]" in b[7]
    assert "error: usage: jump N" in b[8]
    assert "State 3 (after TMRcvPrepared(r1)):" in b[9]
    assert code == 0


class _Interrupting(io.StringIO):
    """Input whose first readline is a Ctrl-C at the prompt."""

    def __init__(self, text, signal_it=False):
        super().__init__(text)
        self.interrupts = 2 if signal_it else 1
        self.signal_it = signal_it

    def readline(self, *a):
        if self.interrupts:
            self.interrupts -= 1
            if self.signal_it:
                import os
                import signal
                os.kill(os.getpid(), signal.SIGINT)
            raise KeyboardInterrupt if not self.signal_it else AssertionError("no signal")
        return super().readline(*a)


def test_ctrl_c_at_the_prompt_keeps_the_session():
    # (Ctrl-C at the prompt ended the session: "interrupted after 6.1s", exit status 3)
    def run(repl):
        try:
            return repl.run()
        except KeyboardInterrupt:   # (not out of the test: it would end the whole run)
            pytest.fail("Ctrl-C at the prompt ended the session")

    out = io.StringIO()
    repl = Repl.from_file(TWO_PC, input=_Interrupting("2\nquit\n"), output=out)
    assert run(repl) == 0
    assert "(interrupted: `quit` or Ctrl-D leaves)" in out.getvalue()
    assert "State 2 (after RMPrepare(r1)):" in out.getvalue()
    # under the command line's handler, which ignores every Ctrl-C after the first,
    # each Ctrl-C at the prompt is still caught
    from checker.interrupts import first_interrupt_only

    out = io.StringIO()
    repl = Repl.from_file(TWO_PC, input=_Interrupting("2\nquit\n", signal_it=True),
                          output=out)
    with first_interrupt_only():
        assert run(repl) == 0
    assert out.getvalue().count("(interrupted: `quit` or Ctrl-D leaves)") == 2


def test_a_trace_that_departs_is_loaded_up_to_there(tmp_path):
    # (`explore --trace` of a run with faults, without --faults: "error: ... loaded the
    # first 4 states" and exit status 2, no session)
    from click.testing import CliRunner

    from checker.cli import main
    from checker.graph import without_lemmas

    compiled = load_spec(TWO_PC_FIXED, ["RM={r1,r2}"], faults=("all",))
    path = tmp_path / "f.json"
    path.write_text(render_json(explore(without_lemmas(compiled))))
    res = CliRunner().invoke(main, ["explore", TWO_PC_FIXED, "--const", "RM={r1,r2}",
                                    "--trace", str(path)], input="trace\n")
    assert res.exit_code == 0, res.output
    assert "Loaded " in res.output and "warning: state 4 (TMCrash) of the trace cannot " \
        "follow state 3" in res.output and "    3. RMPrepare(r2)" in res.output


def test_fault_budget_is_shown():
    out, _ = session("8\n", path=TWO_PC_FIXED, faults=("all",))
    b = blocks(out)
    assert "    (fault steps taken: 0 of at most 4)" in b[0]
    assert "  * (fault steps taken: 1 of at most 4)" in b[1]
    out, _ = session("quit\n", path=TWO_PC_FIXED)
    assert "fault steps" not in out
