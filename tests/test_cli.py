"""The `modelcheck` command: exit codes, options, the JSON document of issue 2 section 4,
and input errors on stderr. Most runs go through click's CliRunner; a few run the
installed command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TWO_PC = str(SPECS / "2pc.spec")
PAXOS = str(SPECS / "paxos.spec")
EARLY_COMMIT = str(SPECS / "buggy" / "2pc_early_commit.spec")
NO_BALLOT_CHECK = str(SPECS / "buggy" / "paxos_no_ballot_check.spec")
LOCATED = re.compile(r"^\S+:\d+:\d+: error: ", re.M)

# Full state spaces: the counts below are TLC's, without symmetry reduction.
FULL = ["--no-symmetry"]

REQUIRED_KEYS = {"spec", "constants", "status", "distinct_states", "generated_states", "depth",
                 "elapsed_s", "states_per_s", "violation"}


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def cli_json(*args: str) -> tuple[int, dict]:
    result = cli(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def spec_file(tmp_path):
    def write(text: str, name: str = "t.spec") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


STUCK = """\
spec Stuck
var x: 0..2
init:
    x = 0
action Inc:
    require x < 2
    x = x + 1
invariant Holds: x <= 2
invariant Fails: x < 2
"""


# ------------------------------------------------------------------ exit 0 / 1
def test_ok_exits_0_with_the_statistics():
    result = cli(TWO_PC, *FULL)
    assert result.exit_code == 0, result.output
    assert "No violation found: 288 distinct states, 1146 generated, depth 11." in result.stdout
    assert "Checking TwoPhase" in result.stdout and "RM = {r1, r2, r3}" in result.stdout
    assert result.stderr == ""


def test_check_is_the_default_command():
    assert cli("check", TWO_PC, *FULL).stdout.splitlines()[:3] == \
        cli(TWO_PC, *FULL).stdout.splitlines()[:3]


def test_violation_exits_1_with_the_trace():
    result = cli(EARLY_COMMIT, *FULL)
    assert result.exit_code == 1
    out = result.stdout
    assert "Consistent" in out
    assert "State 4: TMCommit" in out and "State 6: RMRcvCommitMsg(r1)" in out


def test_deadlock_exits_1_and_no_deadlock_turns_it_off(spec_file):
    path = spec_file(STUCK)
    code, doc = cli_json(path, "--inv", "Holds")
    assert code == 1 and doc["status"] == "deadlock"
    assert doc["violation"]["kind"] == "deadlock" and doc["violation"]["property"] is None
    assert [s["state"]["x"] for s in doc["violation"]["trace"]] == [0, 1, 2]
    code, doc = cli_json(path, "--inv", "Holds", "--no-deadlock")
    assert code == 0 and doc["status"] == "ok" and doc["distinct_states"] == 3


def test_inv_restricts_the_properties(spec_file):
    path = spec_file(STUCK)
    code, doc = cli_json(path, "--no-deadlock")
    assert code == 1 and doc["violation"]["property"] == "Fails"
    code, doc = cli_json(path, "--no-deadlock", "--inv", "Holds")
    assert code == 0 and doc["properties"] == ["Holds"]
    code, doc = cli_json(path, "--no-deadlock", "--inv", "Fails", "--inv", "Holds")
    assert code == 1 and sorted(doc["properties"]) == ["Fails", "Holds"]
    code, doc = cli_json(TWO_PC, *FULL, "--inv", "Consistent")
    assert code == 0 and doc["properties"] == ["Consistent"]


# ----------------------------------------------------------------- exit 3
def test_max_states_exits_3_with_the_statistics_so_far():
    code, doc = cli_json(TWO_PC, *FULL, "--max-states", "10")
    assert code == 3
    assert doc["status"] == "limit" and doc["violation"] is None
    assert doc["distinct_states"] == 10
    result = cli(TWO_PC, *FULL, "--max-states", "10")
    assert result.exit_code == 3 and "max states 10" in result.stdout


def test_max_depth_exits_3():
    code, doc = cli_json(TWO_PC, *FULL, "--max-depth", "2")
    assert code == 3 and doc["status"] == "limit" and doc["depth"] == 2
    # Levels 1 and 2 of 2pc with 3 RMs: the initial state and its 7 successors
    # (TMAbort, 3 RMPrepare, 3 RMChooseToAbort).
    assert doc["distinct_states"] == 8


def test_a_depth_limit_that_cuts_nothing_is_complete():
    assert cli(TWO_PC, *FULL, "--max-depth", "11").exit_code == 0


def test_time_limit_exits_3():
    code, doc = cli_json(PAXOS, *FULL, "--time-limit", "0.3")
    assert code == 3 and doc["status"] == "limit"
    assert 0 < doc["distinct_states"] < 185_369


# ------------------------------------------------------------------ JSON
def test_json_is_exactly_one_object_with_the_issue_keys():
    result = cli(TWO_PC, *FULL, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(doc, dict) and REQUIRED_KEYS <= set(doc)
    assert doc["spec"] == "TwoPhase" and doc["status"] == "ok" and doc["violation"] is None
    assert (doc["distinct_states"], doc["generated_states"], doc["depth"]) == (288, 1146, 11)
    assert doc["constants"] == {"RM": ["r1", "r2", "r3"]}
    assert isinstance(doc["elapsed_s"], (int, float)) and doc["elapsed_s"] >= 0
    assert isinstance(doc["states_per_s"], (int, float))


def test_json_violation_and_value_encoding():
    code, doc = cli_json(NO_BALLOT_CHECK, *FULL)
    assert code == 1 and doc["status"] == "violation"
    assert doc["constants"] == {"Acceptors": ["a1", "a2", "a3"], "Values": ["v1", "v2"],
                                "MaxBallot": 1}
    v = doc["violation"]
    assert v["kind"] == "invariant" and v["property"] == "Agreement"
    trace = v["trace"]
    assert len(trace) == 13
    assert all(set(step) >= {"action", "state"} for step in trace)
    first, last = trace[0], trace[-1]
    assert first["action"] is None
    assert first["state"] == {
        "maxBal": {"a1": -1, "a2": -1, "a3": -1},      # maps as objects
        "maxVBal": {"a1": -1, "a2": -1, "a3": -1},
        "maxVal": {"a1": None, "a2": None, "a3": None},  # none as null
        "msgs": [],                                      # sets as lists
    }
    assert trace[1]["action"] in ("Phase1a(0)", "Phase1a(1)")
    assert re.fullmatch(r"Phase\w+\(.*\)", last["action"])
    msgs = last["state"]["msgs"]
    assert all(isinstance(m, dict) and "tag" in m for m in msgs)  # messages with a tag
    assert {"tag": "P1a", "bal": 0} in msgs
    assert any(m["tag"] == "P2b" and set(m) == {"tag", "acc", "bal", "val"} for m in msgs)
    assert any(m["tag"] == "P1b" and m["mval"] is None for m in msgs)


def test_json_sets_are_sorted_lists(spec_file):
    path = spec_file("""\
spec Sets
option deadlock = false
const Nodes = {n1, n2, n3}
var ints: set[-2..5]
var nodes: set[Nodes]
init:
    ints = {3, -1, 5, 0}
    nodes = {n3, n1}
invariant Fail: size(ints) < 4
""")
    code, doc = cli_json(path)
    assert code == 1
    (state,) = [step["state"] for step in doc["violation"]["trace"]]
    assert state == {"ints": [-1, 0, 3, 5], "nodes": ["n1", "n3"]}
    # Symbols are listed in their constant's order (their canonical order).
    code, doc = cli_json(TWO_PC, *FULL, "--const", "RM={r3,r1,r4,r2}")
    assert code == 0 and doc["constants"]["RM"] == ["r3", "r1", "r4", "r2"]
    code, doc = cli_json(EARLY_COMMIT, *FULL)
    for step in doc["violation"]["trace"]:
        prepared = step["state"]["tmPrepared"]
        assert isinstance(prepared, list) and prepared == sorted(prepared)


def test_json_deadlock_and_error_status(spec_file):
    code, doc = cli_json(spec_file(STUCK), "--inv", "Holds")
    assert code == 1 and doc["status"] == "deadlock"
    overflow = spec_file("spec O\noption deadlock = false\nvar x: 0..5\ninit:\n    x = 4\n"
                         "action A:\n    x = x + 1\n", "overflow.spec")
    result = cli(overflow, "--format", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["status"] == "error"
    assert "`x` would be 6, outside its range 0..5" in doc["violation"]["message"]


# ------------------------------------------------------------------ --const
def test_const_symbol_set_and_integer():
    code, doc = cli_json(TWO_PC, *FULL, "--const", "RM={r1,r2,r3,r4}")
    assert code == 0 and doc["constants"]["RM"] == ["r1", "r2", "r3", "r4"]
    assert (doc["distinct_states"], doc["generated_states"]) == (1568, 8258)
    code, doc = cli_json(PAXOS, *FULL, "--const", "MaxBallot=1")
    assert code == 0 and doc["constants"]["MaxBallot"] == 1
    assert (doc["distinct_states"], doc["generated_states"]) == (3921, 23703)


def test_several_consts(spec_file):
    code, doc = cli_json(PAXOS, *FULL, "--const", "MaxBallot=1", "--const", "Values={v1}")
    assert code == 0 and doc["distinct_states"] == 1681


@pytest.mark.parametrize(("args", "message"), [
    (["--const", "RM"], "--const expects NAME=VALUE, got 'RM'"),
    (["--const", "=3"], "--const expects NAME=VALUE, got '=3'"),
    (["--const", "RM={r1,r2"], "--const RM:1:7: error: unexpected end of file"),
    (["--const", "Foo=1"], "--const Foo: the spec declares no constant Foo"),
    (["--const", "RMs={r1}"], "did you mean `RM`?"),
    (["--inv", "Nope"], "--inv Nope: no such invariant"),
    (["--faults", "Nope"], "--faults: error: unknown fault Nope"),
    (["--max-states", "0"], "Invalid value for '--max-states'"),
    (["--format", "xml"], "Invalid value for '--format'"),
])
def test_bad_options_exit_2_with_a_clear_message(args, message):
    result = cli(TWO_PC, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


def test_unknown_fault_message_names_the_option():
    result = cli(TWO_PC, "--faults", "Nope")
    assert result.stderr.startswith("--faults")


def test_faults_and_fault_budget(spec_file):
    path = spec_file("""\
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
""")
    # The counts of tests/test_compile.py's fault tests.
    assert cli_json(path)[1]["distinct_states"] == 4
    assert cli_json(path, "--faults", "Crash")[1]["distinct_states"] == 8
    assert cli_json(path, "--faults", "all")[1]["generated_states"] == 19
    doc = cli_json(path, "--faults", "Crash,Glitch", "--max-faults", "1")[1]
    assert (doc["distinct_states"], doc["generated_states"]) == (9, 15)


def test_faults_by_kind_and_unmodelled_kinds():
    """`--faults crash,loss` selects fault actions by their declared kind; a kind the spec
    does not model is named in the header, not an error."""
    result = cli(PAXOS, "--const", "MaxBallot=0", "--faults", "crash,duplication")
    assert result.exit_code == 0, result.output
    assert "faults:     crash: Crash (at most 2 per behaviour)" in result.stdout
    assert "not modelled: duplication" in result.stdout
    result = cli(PAXOS, "--const", "MaxBallot=0", "--faults", "crash,restart,loss")
    assert "faults:     crash: Crash; restart: Restart; loss: Lose" in result.stdout


def test_unknown_fault_lists_names_and_kinds():
    result = cli(PAXOS, "--faults", "crsh")
    assert result.exit_code == 2
    assert "unknown fault crsh (this spec's faults: Crash (crash), Restart (restart), " \
        "Lose (loss); kinds: crash, restart, loss, duplication" in result.stderr


# ------------------------------------------------------------- input errors
def test_missing_spec_file_exits_2(tmp_path):
    result = cli(str(tmp_path / "missing.spec"))
    assert result.exit_code == 2
    assert "cannot read spec: No such file or directory" in result.stderr


@pytest.mark.parametrize("content", [
    b"",
    b"spec A\nvar x 0..3\n",
    b"spec A\nvar x: int\ninit:\n    x = 0\n",
    b"\x00\x01\x02binary\xff\xfe junk",
    b"spec A\n# caf\xe9\n",
    bytes(range(256)) * 4,
], ids=["empty", "syntax", "type", "binary", "latin1", "allbytes"])
def test_bad_specs_exit_2_with_a_located_message(tmp_path, content):
    path = tmp_path / "bad.spec"
    path.write_bytes(content)
    result = cli(str(path))
    assert result.exit_code == 2, result.output
    assert LOCATED.search(result.stderr), result.stderr
    assert str(path) in result.stderr
    assert result.stdout == ""


def test_ten_megabyte_spec_exits_2_with_a_located_message(tmp_path):
    path = tmp_path / "big.spec"
    comments = ("# " + "c" * 97 + "\n") * 100_000
    path.write_text("spec Big\nvar x: 0..1\ninit:\n    x = 0\n" + comments + "invariant I x\n")
    assert path.stat().st_size > 10_000_000
    result = cli(str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:100005:13: error: unexpected 'x'")


def test_type_errors_all_on_stderr(spec_file):
    path = spec_file("spec A\nvar x: 0..3\ninit:\n    x = y\naction B:\n    x = z\n")
    result = cli(path)
    assert result.exit_code == 2
    assert len(LOCATED.findall(result.stderr)) == 2 and "2 errors" in result.stderr


# ----------------------------------------------------------- the real command
def _modelcheck() -> list[str]:
    exe = shutil.which("modelcheck")
    if exe is None:  # not installed as a script: the same entry point through Python
        return [sys.executable, "-c", "from checker.cli import run; run()"]
    return [exe]


def test_installed_command_json():
    proc = subprocess.run([*_modelcheck(), TWO_PC, *FULL, "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["distinct_states"], doc["generated_states"], doc["depth"]) == (288, 1146, 11)


def test_output_closed_by_its_reader_exits_141_quietly():
    # (`modelcheck ... | head -1`: click exited 1, the status of a violated property)
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([*_modelcheck(), TWO_PC, *FULL], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_installed_command_input_errors(tmp_path):
    bad = tmp_path / "bad.spec"
    bad.write_text("spec A\nvar x: 0..3\ninit:\n    x = (1 +\n")
    proc = subprocess.run([*_modelcheck(), str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert LOCATED.search(proc.stderr) and "Traceback" not in proc.stderr
    deep = tmp_path / "deep.spec"
    deep.write_text("spec D\nvar x: bool\ninit:\n    x = " + "not " * 3000 + "true\n")
    proc = subprocess.run([*_modelcheck(), str(deep)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run([*_modelcheck(), EARLY_COMMIT, *FULL], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1


def test_deep_nesting_message_is_located(tmp_path):
    deep = tmp_path / "deep.spec"
    deep.write_text("spec D\nvar x: bool\ninit:\n    x = " + "not " * 3000 + "true\n")
    proc = subprocess.run([*_modelcheck(), str(deep)], capture_output=True, text=True,
                          timeout=120)
    assert LOCATED.search(proc.stderr), proc.stderr


@pytest.mark.parametrize("reason", ["out of memory (worker 1)", "memory limit of 1.0 GiB reached"])
def test_a_run_out_of_memory_suggests_fingerprints(monkeypatch, reason):
    from checker import cli as cli_module
    from checker.result import Result, Stats, Status

    stopped = Result(engine="explicit-parallel", spec="TwoPhase", constants={},
                     properties=("Consistent",), status=Status.LIMIT, limit_reason=reason,
                     stats=Stats(distinct_states=50_000, generated_states=90_000, depth=3,
                                 elapsed_s=1.0, peak_memory_bytes=1, queue_left=4))
    # (after fewer states the limit is too low: tests/test_cli_options.py)
    monkeypatch.setattr(cli_module, "_run_search", lambda *args: stopped)
    result = cli("check", str(SPECS / "2pc.spec"))
    assert result.exit_code == 3
    assert reason in result.stdout and "--fingerprints stores a 64-bit" in result.stdout
    # with --fingerprints already on, nothing to suggest
    result = cli("check", str(SPECS / "2pc.spec"), "--fingerprints")
    assert result.exit_code == 3 and "--fingerprints stores" not in result.stdout


def test_fingerprints_on_every_core():
    """--fingerprints runs on the workers (and alone on one per core): the counts of
    full states, the collision probability in the notes, a regenerated counterexample."""
    code, doc = cli_json(PAXOS, *FULL, "--const", "MaxBallot=1", "--fingerprints",
                         "--workers", "2")
    assert code == 0 and doc["distinct_states"] == 3_921
    assert "probability that two of the" in " ".join(doc["notes"])
    # by default fingerprints start with the first wide level (where the workers start):
    # this search ends before, on one worker too
    for extra in ([], ["--workers", "1"]):
        code, doc = cli_json(PAXOS, *FULL, "--const", "MaxBallot=1", "--fingerprints", *extra)
        assert code == 0 and doc["distinct_states"] == 3_921
        assert "full states were kept" in " ".join(doc["notes"])
    code, doc = cli_json(PAXOS, *FULL, "--fingerprints", "--workers", "1")
    assert code == 0 and doc["distinct_states"] == 185_369
    assert "probability that two of the 185,369 states" in " ".join(doc["notes"])
    code, doc = cli_json(NO_BALLOT_CHECK, *FULL, "--fingerprints", "--workers", "2")
    assert code == 1 and len(doc["violation"]["trace"]) == 13
    assert "probability that two of the" in " ".join(doc["notes"])
    result = cli(TWO_PC, "--checkpoint", "somewhere", "--workers", "2")
    assert result.exit_code == 2 and "--checkpoint needs one worker" in result.output


def test_full_states_switch_to_fingerprints_when_memory_runs_short(monkeypatch):
    """By default one process switches to fingerprints once it is about to hold
    ``SWITCH_AT`` (made 0 here: at once); several workers share a seen set of
    fingerprints from the start; --exact never switches."""
    from checker import cli as cli_module

    monkeypatch.setattr(cli_module, "_switch_at", lambda store, processes: None if store else 0)
    code, doc = cli_json(NO_BALLOT_CHECK, *FULL, "--workers", "1")
    assert code == 1 and len(doc["violation"]["trace"]) == 13
    notes = " ".join(doc["notes"])
    assert "then fingerprints" in notes and "--exact keeps full states" in notes
    code, doc = cli_json(NO_BALLOT_CHECK, *FULL, "--workers", "2")
    assert code == 1 and len(doc["violation"]["trace"]) == 13
    notes = " ".join(doc["notes"])
    assert "shared by the workers" in notes and "--exact keeps full states" in notes
    code, doc = cli_json(PAXOS, *FULL)          # (the workers start at level 11)
    assert code == 0 and doc["distinct_states"] == 185_369
    assert "shared by the workers" in " ".join(doc["notes"])
    code, doc = cli_json(NO_BALLOT_CHECK, *FULL, "--exact", "--workers", "2")
    assert code == 1 and not any("fingerprints" in note for note in doc["notes"])
    assert any("partitioned by" in note for note in doc["notes"])


def test_ray_actors_switch_at_the_fixed_threshold_unless_told_otherwise(monkeypatch):
    """The cluster's memory is not known here: the actors switch at ``SWITCH_AT``;
    ``--exact`` and ``--fingerprints`` never switch."""
    from checker import ray_backend
    from checker.cli import SWITCH_AT
    from checker.explore import explore

    asked = []

    def fake_explore_ray(recipe, **kwargs):
        asked.append(kwargs)
        return explore(recipe.build()[0])

    monkeypatch.setattr(ray_backend, "explore_ray", fake_explore_ray)
    for extra, expected in (([], SWITCH_AT), (["--exact"], None), (["--fingerprints"], None)):
        result = cli(TWO_PC, "--backend", "ray", *extra)
        assert result.exit_code == 0, result.output
        assert asked.pop()["switch_at"] == expected


def test_json_says_how_many_states_a_limit_left_unexpanded():
    # The text and HTML output said "states left in queue"; JSON had no such key.
    args = ("check", str(SPECS / "2pc.spec"), "--max-states", "100", "--workers", "1",
            "--no-symmetry")
    text = cli(*args)
    data = json.loads(cli(*args, "--format", "json").stdout)
    assert text.exit_code == 3 and data["status"] == "limit"
    assert data["queue_left"] > 0
    assert f"states left in queue: {data['queue_left']}" in " ".join(text.stdout.split())


# ----------------------------------------------------------- out of memory (ulimit -v)
S7 = (TWO_PC, "--const", "RM={r1,r2,r3,r4,r5,r6,r7}", "--no-symmetry")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ulimit -v as on Linux")
@pytest.mark.parametrize(("kib", "store", "workers"), [
    (190000, "--fingerprints", "1"),    # the table half grown: AttributeError, exit 2
    (160000, "--fingerprints", "1"),    # numpy's import: "internal error: MemoryError"
    (130000, "--fingerprints", "1"),    # OpenBLAS's "Memory allocation ... failed", exit 1
    (160000, "--fingerprints", "2"),    # the same in a worker: "worker 0 failed:" and more
    (130000, "--fingerprints", "2"),    # "WorkerDiedError: worker 0 stopped ... (exit 1)"
    (60000, "--exact", "1"),            # compiling, and reading the spec to explain
    (30000, "--exact", "1"),            # a library that cannot be mapped: ImportError
    (120000, "--fingerprints", "ck"),   # no room left to import the text renderer
])
def test_out_of_memory_under_ulimit_is_a_clean_stop(kib, store, workers, tmp_path):
    """Under an address-space limit each of these was an internal error or exit 1;
    now every run ends with its verdict (0) or out of memory (3), in one line or with
    the statistics, never a traceback. (The limits are those of the reports, on 2pc with
    7 RMs; elsewhere they may run out at other points, or not at all.)"""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY and hard < kib * 1024:
        pytest.skip("a lower hard address-space limit is set")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (kib * 1024, hard))

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    where = (["--checkpoint", str(tmp_path / "ck")] if workers == "ck"
             else ["--workers", workers])
    proc = subprocess.run([sys.executable, "-m", "checker", *S7, store, *where],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
                          preexec_fn=limit)  # noqa: PLW1509 (only setrlimit)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 3), out
    # (a search's result lost for want of room to print it: "stopped: out of memory
    # while writing the result")
    for bad in ("internal error", "Traceback", "OpenBLAS", "failed:", "writing the result"):
        assert bad not in out
    if proc.returncode == 3:
        assert "out of memory" in out
        assert (proc.stderr.startswith("stopped: out of memory")
                or "distinct states" in proc.stdout), out


def test_out_of_memory_while_compiling_says_so(monkeypatch, capsys):
    """A MemoryError outside a search was "internal error: MemoryError: ... This is a bug
    in modelcheck", exit 2."""
    import signal

    import checker.compile
    from checker import cli as cli_module

    def no_room(*args, **kwargs):
        raise MemoryError

    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(checker.compile, "Universe", no_room)
    # (constants of their own: a compiled spec is cached per process)
    monkeypatch.setattr(sys, "argv", ["modelcheck", TWO_PC, "--const", "RM={m1,m2}"])
    try:
        with pytest.raises(SystemExit) as exit_:
            cli_module.run()
    finally:   # (run() leaves them ignored: it is about to exit)
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    assert exit_.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("stopped: out of memory while compiling the spec")
    assert "internal error" not in err and len(err.splitlines()) == 1


def test_every_format_says_when_the_counts_are_orbits():
    # Only the text header said so: a script reading 80 could not tell it from TLC's 288.
    code, doc = cli_json(TWO_PC)
    assert (code, doc["symmetry"], doc["distinct_states"]) == (0, ["RM"], 80)
    code, doc = cli_json(TWO_PC, "--no-symmetry")
    assert (code, doc["symmetry"], doc["distinct_states"]) == (0, [], 288)
    html = cli(TWO_PC, "--format", "html").stdout
    assert "80 (orbits)" in html and "RM: one state per orbit" in html
    assert "orbit" not in cli(TWO_PC, "--no-symmetry", "--format", "html").stdout
    itf = json.loads(cli(EARLY_COMMIT, "--format", "itf").stdout)
    assert itf["#meta"]["symmetry"] == ["RM"]
    itf = json.loads(cli(EARLY_COMMIT, "--format", "itf", "--no-symmetry").stdout)
    assert "symmetry" not in itf["#meta"]


def test_on_a_terminal_the_header_is_printed_before_the_search(monkeypatch, capsys):
    # (it came with the verdict, after a long run's progress lines: TLC prints its
    # setup first)
    from checker import cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    seen_before = []
    search = cli._run_search

    def watched(*args, **kwargs):
        seen_before.append(capsys.readouterr().out)
        return search(*args, **kwargs)

    monkeypatch.setattr(cli, "_run_search", watched)
    monkeypatch.setattr(sys, "argv", ["modelcheck", TWO_PC, "--no-color"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 0
    assert seen_before[0].startswith("Checking TwoPhase")
    after = capsys.readouterr().out
    assert after.startswith("No violation found") and "Checking" not in after


def test_itf_of_a_run_stopped_by_a_limit_still_says_what_it_explored():
    result = cli(PAXOS, "--format", "itf", "--max-states", "10")
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr == ("Paxos: no counterexample to write as ITF (status limit: max "
                             "states 10 reached; 10 distinct states, 31 generated, depth "
                             "3)\n")


def test_a_memory_limit_below_the_compiled_spec_is_a_usage_error():
    # (checked only when the options were read, at about 20 MiB: 25M then stopped the
    # search after one state, exit 3, where the docs promise a usage error)
    proc = subprocess.run([*_modelcheck(), PAXOS, "--no-symmetry", "--memory-limit", "25M"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Invalid value for '--memory-limit': 25M is less than the" in proc.stderr
    assert proc.stdout == ""


def test_symmetry_asked_of_a_spec_without_it_says_so():
    # (it was silently ignored)
    spec = str(SPECS / "seed" / "master_slave.spec")
    asked = cli(spec, "--symmetry")
    assert asked.exit_code == 0, asked.output
    assert "note: --symmetry: SeedMasterSlave declares no `symmetry`" in asked.stderr
    assert "--symmetry" not in cli(spec).stderr
    assert "note: --symmetry" not in cli(TWO_PC, "--symmetry").stderr


def test_numbered_symbols_spelled_short_in_const_as_sweep_takes_them():
    # (`sweep` took RM={r1..r4}; check and simulate said "unknown name r1")
    code, doc = cli_json(TWO_PC, "--const", "RM={r1..r3}")
    assert code == 0 and doc["constants"]["RM"] == ["r1", "r2", "r3"]
    bad = cli(TWO_PC, "--const", "RM={r4..r1}")
    assert bad.exit_code == 2 and "--const RM: cannot expand '{r4..r1}'" in bad.stderr


@pytest.mark.parametrize("command", [
    ["check"], ["simulate"], ["bmc", "--depth", "2"], ["prove"], ["sweep", "--const", "N=1..2"],
    ["trace", "TRACE"]])
def test_a_spec_error_with_format_json_is_a_json_document_too(command, tmp_path):
    # (standard output was empty: a script piping to jq got nothing to read)
    spec = tmp_path / "bad.spec"
    spec.write_text("spec X\nconst N = 1\nvar x: 0..3\ninit:\n    x = 0\naction A:\n    x = x +\n")
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"event": "A"}\n')
    args = [str(trace) if a == "TRACE" else a for a in command]
    got = CliRunner().invoke(main, [args[0], str(spec), *args[1:], "--format", "json"])
    assert got.exit_code == 2, got.output
    assert got.stderr.startswith(f"{spec}:7:12: error: unexpected end of line")
    doc = json.loads(got.stdout)
    assert doc["status"] == "error" and doc["engine"] == command[0]
    assert doc["error"]["message"] == got.stderr.rstrip("\n")
    (d,) = doc["error"]["diagnostics"]
    assert (d["file"], d["line"], d["column"], d["message"]) == (
        str(spec), 7, 12, "unexpected end of line")
    assert d["expected"] == ["an expression"]
