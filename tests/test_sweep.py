"""Sweeps: value ranges, the table of rows (stopping at the first violation), the chart."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker import sweep as sweep_module
from checker.cli import main
from checker.parallel import ModelSpec
from checker.source import SpecError
from checker.sweep import (
    SweepError,
    SweepRow,
    check_chart_path,
    expand_symbols,
    format_table,
    parse_sweep,
    parse_values,
    split_consts,
    svg_chart,
    sweep,
)
from checker.values import SetValue


def test_value_forms():
    assert parse_values("2..5") == ["2", "3", "4", "5"]
    assert parse_values("1|3|{a, b}") == ["1", "3", "{a, b}"]
    assert expand_symbols("{r1..r3}") == "{r1, r2, r3}"
    assert parse_values("{r1..r2}|{r1..r3}") == ["{r1, r2}", "{r1, r2, r3}"]
    rm = SetValue(("r1", "r2", "r3"))
    assert parse_values("2..3", rm) == ["{r1, r2}", "{r1, r2, r3}"]
    assert parse_sweep("N=0..2") == ("N", ["0", "1", "2"])
    assert parse_sweep("RM=2..2", {"RM": rm}) == ("RM", ["{r1, r2}"])
    for bad in ("N", "N=", "N=5..2", "=1..2"):
        with pytest.raises(SweepError):
            parse_sweep(bad)


def test_a_number_in_a_list_is_a_set_size_as_in_a_range():
    # (RM=2..3 swept sets and RM=2|3 was refused: "an integer, but RM is a set")
    rm = SetValue(("r1", "r2", "r3"))
    assert parse_values("2|3", rm) == parse_values("2..3", rm)
    assert parse_values("2|{a, b}", rm) == ["{r1, r2}", "{a, b}"]
    for empty in ("0..2", "0|1"):
        with pytest.raises(SweepError, match="at least one"):
            parse_values(empty, rm)


def test_sweep_table_and_chart(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec")
    chart = tmp_path / "chart.svg"
    seen = []
    rows = sweep(recipe, "RM", parse_values("2..4", SetValue(("r1", "r2", "r3"))),
                 chart=str(chart), on_row=seen.append)
    assert [(r.value, r.status, r.distinct, r.generated) for r in rows] == [
        ("{r1, r2}", "ok", 56, 154), ("{r1, r2, r3}", "ok", 288, 1146),
        ("{r1, r2, r3, r4}", "ok", 1568, 8258)]
    assert seen == rows
    assert all(r.peak_memory_bytes > 0 and r.wall_s >= r.elapsed_s for r in rows)
    table = format_table(rows, "RM")
    assert "1,568" in table and table.splitlines()[0].startswith("RM")
    root = ET.parse(chart).getroot()
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2
    assert rows[0].as_dict()["distinct_states"] == 56


def test_sweep_stops_at_the_first_violation():
    recipe = ModelSpec.from_file("specs/buggy/2pc_early_commit.spec")
    rows = sweep(lambda v: recipe.with_const("RM", v), "RM",
                 ["{r1, r2}", "{r1, r2, r3}", "{r1, r2, r3, r4}"], isolate=False)
    assert len(rows) == 1 and rows[0].status == "violation"
    assert rows[0].result.violation.property == "Consistent"


def test_other_engines_and_a_bad_value():
    recipe = ModelSpec.from_file("specs/paxos.spec")
    rows = sweep(recipe, "MaxBallot", ["0", "1"], engine="compact", isolate=False)
    assert [r.distinct for r in rows] == [73, 3921]
    with pytest.raises(SweepError, match="MaxBallot"):
        sweep(recipe, "MaxBallot", ["true"])


def test_chart_scales():
    rows = [SweepRow(str(i), "ok", 10 ** i, 10 ** i, i, 0.1 * i, 0.2 * i, 1) for i in range(1, 6)]
    text = svg_chart(rows, "N")
    assert "log scale" in text and text.count("<circle") == 10
    flat = [SweepRow("a", "violation", 5, 5, 1, 0.0, 0.0, 1)]
    assert "violation" in svg_chart(flat, "X")


# --------------------------------------------------------------------------- the command

def sweep_cli(*args: str):
    return CliRunner().invoke(main, ["sweep", *args])


def test_a_constant_given_twice_is_refused():
    # (the fixed MaxBallot=2 was silently dropped)
    assert split_consts(["N=1..3", "M=2"]) == ("N=1..3", ["M=2"])
    with pytest.raises(SweepError, match="constant MaxBallot is given as a range or list "
                                         "and as a fixed value"):
        split_consts(["MaxBallot=2", "MaxBallot=0..1"])
    with pytest.raises(SweepError, match="constant N is given more than once"):
        split_consts(["MaxBallot=0..1", "N=1", "N = 2"])
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..1", "--const",
                       "MaxBallot=2")
    assert result.exit_code == 2
    assert result.stderr == ("error: --const: constant MaxBallot is given as a range or list "
                             "and as a fixed value; give it once\n")
    assert result.stdout == ""


def test_an_unwritable_chart_is_refused_before_the_sweep(tmp_path, monkeypatch):
    # (it crashed with "internal error: FileNotFoundError" after the whole sweep)
    def no_sweep(*args, **kwargs):
        raise AssertionError("the sweep ran")

    monkeypatch.setattr("checker.sweep.sweep", no_sweep)
    bad = str(tmp_path / "no" / "such" / "x.svg")
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--chart", bad)
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: --chart: cannot write the chart to {bad}: no directory "
                             f"{tmp_path / 'no' / 'such'}\n")
    with pytest.raises(SweepError, match="it is a directory"):
        check_chart_path(str(tmp_path))


def test_a_chart_named_for_another_format_is_refused(tmp_path, monkeypatch):
    # (an SVG was written to chart.png, which no image viewer then opened)
    monkeypatch.setattr("checker.sweep.sweep", lambda *a, **k: pytest.fail("the sweep ran"))
    name = str(tmp_path / "chart.PNG")
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--chart", name)
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: --chart: {name}: the chart is written as SVG, not PNG; "
                             "name it FILE.svg\n")
    assert not (tmp_path / "chart.PNG").exists()
    check_chart_path(str(tmp_path / "chart.svg"))     # SVG, or no suffix, is fine
    check_chart_path(str(tmp_path / "chart"))


def guard_line() -> int:
    """The line of TMRcvPrepared's guard in 2pc.spec (where the unsound symmetry shows)."""
    lines = Path("specs/2pc.spec").read_text().splitlines()
    return lines.index("    require tmUp and tmState == init and Prepared(r) in msgs") + 1


def unsound_symmetry_spec(tmp_path) -> str:
    """2pc.spec with an action that singles out r1 (its `symmetry RM` is then unsound)."""
    text = Path("specs/2pc.spec").read_text()
    guard = "    require tmUp and tmState == init and Prepared(r) in msgs\n"
    assert guard in text
    path = tmp_path / "X.spec"
    path.write_text(text.replace(guard, guard.rstrip("\n") + " and r != r1\n"))
    return str(path)


def test_a_spec_error_is_shown_located_and_once(tmp_path):
    # (it was "error: <input>:65:71: error: ..." after the table header: no file name,
    # no source line, no caret, a doubled prefix)
    spec = unsound_symmetry_spec(tmp_path)
    with pytest.raises(SpecError) as err:
        ModelSpec.from_file(spec, ["RM={r1, r2}"], symmetry=True).build()
    assert err.value.render().startswith(f"{spec}:{guard_line()}:")
    result = sweep_cli(spec, "--const", "RM=2..3", "--chart", str(tmp_path / "c.svg"))
    assert result.exit_code == 2
    # no table header for a first value's error; the value is named
    assert result.stdout == "stopped: error while checking RM = {r1, r2}\n"
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{spec}:{guard_line()}:71: error: `symmetry RM` is not sound")
    assert lines[1].strip() == ("require tmUp and tmState == init and Prepared(r) in msgs "
                                "and r != r1")
    assert lines[2].strip() == "^^"
    assert result.stderr.count("error:") == 1 and "<input>" not in result.stderr
    assert not (tmp_path / "c.svg").exists()


def test_an_error_at_a_later_value_comes_after_the_rows_and_names_the_value(tmp_path):
    # (the errors on stderr did not say which value caused them). RM = {r1} passes (one
    # element: nothing to single out); from {r1, r2} on the symmetry is unsound, an error
    # found only in the value's check.
    spec = unsound_symmetry_spec(tmp_path)
    chart = tmp_path / "c.svg"
    result = sweep_cli(spec, "--const", "RM=1..3", "--chart", str(chart))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("RM") and lines[2].split()[:2] == ["{r1}", "ok"]
    assert lines[3:] == ["stopped: error while checking RM = {r1, r2}",
                         f"chart: {chart} (the values before the error)"]
    assert result.stderr.startswith(f"{spec}:{guard_line()}:71: error: `symmetry RM` is not sound")
    assert result.stderr.count("error:") == 1
    assert chart.exists()


def test_every_value_is_type_checked_before_the_first_check(tmp_path, monkeypatch):
    # (`N=1|x` checked N = 1, then failed on x: a bad last value cost every check before it)
    def no_check(*args, **kwargs):
        raise AssertionError("a value was checked")

    monkeypatch.setattr(sweep_module, "run_isolated", no_check)
    chart = tmp_path / "c.svg"
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0|1|true", "--chart",
                       str(chart))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("--const MaxBallot:1:1: error: wrong kind of value")
    assert result.stderr.endswith("error: --const: cannot check MaxBallot = true (see "
                                  "above); no value was checked\n")
    assert not chart.exists()
    result = sweep_cli("specs/replication/multi_master.spec", "--const", "N=1|x",
                       "--format", "json", "--chart", str(chart))
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == [] and data["chart"] is None and data["stopped_at"] is None
    assert data["error"]["value"] == "x"
    assert data["error"]["message"].startswith("--const N:1:1: error: unknown name `x`")
    # an error the value causes in the spec itself is found too (N = 0: no masters)
    recipe = ModelSpec.from_file("specs/replication/multi_master.spec")
    with pytest.raises(sweep_module.PointError) as err:
        sweep_module.check_values(recipe, "N", ["1", "2", "0", "3"])
    assert err.value.value == "0" and err.value.refused
    assert "`Masters` is empty" in str(err.value)
    sweep_module.check_values(recipe, "N", ["1", "2"])


def test_an_internal_error_in_a_check_is_reported_as_a_bug(tmp_path, monkeypatch):
    # (it read "error: checking MaxBallot = 1: RuntimeError: ...", as if the input were
    # wrong). The check's process is forked: it sees this monkeypatch.
    real_check = sweep_module._check

    def buggy(recipe, engine, options):
        if "MaxBallot=1" in recipe.consts:
            raise RuntimeError("boom")
        return real_check(recipe, engine, options)

    monkeypatch.setattr(sweep_module, "_check", buggy)
    chart = tmp_path / "c.svg"
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--chart",
                       str(chart))
    assert result.exit_code == 2, result.output
    assert result.stderr == ("internal error while checking MaxBallot = 1: RuntimeError: "
                             "boom\nThis is a bug in modelcheck; run again with "
                             "MODELCHECK_DEBUG=1 for the traceback and please report it.\n")
    assert result.stdout.splitlines()[-2:] == [
        "stopped: error while checking MaxBallot = 1",
        f"chart: {chart} (the values before the error)"]
    monkeypatch.setenv("MODELCHECK_DEBUG", "1")      # (the check prints its traceback)
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--chart",
                       str(chart))
    assert result.stderr.endswith("RuntimeError: boom\nThis is a bug in modelcheck; please "
                                  "report it, with the traceback above.\n")


def test_a_check_shows_its_traceback_with_modelcheck_debug(monkeypatch, capfd):
    def buggy(recipe, engine, options):
        raise RuntimeError("boom")

    monkeypatch.setattr(sweep_module, "_check", buggy)
    for debug in (False, True):
        if debug:
            monkeypatch.setenv("MODELCHECK_DEBUG", "1")
        else:
            monkeypatch.delenv("MODELCHECK_DEBUG", raising=False)
        parent, child = multiprocessing.Pipe(duplex=False)
        sweep_module._child(child, None, "explicit", {})
        assert parent.recv() == ("bug", "RuntimeError: boom", 0.0)
        err = capfd.readouterr().err
        if debug:
            assert "Traceback (most recent call last)" in err and "in buggy" in err
            assert err.rstrip().endswith("RuntimeError: boom")
        else:
            assert err == ""


def test_value_lists_refuse_empty_and_repeated_values_and_too_many():
    # (`N=1|2|` dropped the empty value; `N=1|1|1` checked 1 three times; 0..1000, 1001
    # values, passed "more than 1000 values")
    for bad, why in (("1|2|", "an empty value in '1|2|'"), ("1||2", "an empty value"),
                     ("|1", "an empty value"),
                     ("1|1|1", "the value 1 is given twice in '1|1|1'"),
                     ("{a,b}|{a, b}", "the value {a, b} is given twice"),
                     ("0..1000", "range '0..1000' has more than 1000 values"),
                     ("|".join(map(str, range(1001))), "has more than 1000 values")):
        with pytest.raises(SweepError, match=re.escape(why)):
            parse_values(bad)
    with pytest.raises(SweepError, match=re.escape("2 and {r1, r2} are the same value")):
        parse_values("2|{r1, r2}", SetValue(("r1", "r2")))
    assert len(parse_values("1..1000")) == 1000
    assert len(parse_values("|".join(map(str, range(1000))))) == 1000
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=1|2|")
    assert result.exit_code == 2
    assert result.stderr == ("error: --const: an empty value in '1|2|': remove the extra | "
                             "or give the value\n")
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=1|1")
    assert result.exit_code == 2
    assert result.stderr == ("error: --const: the value 1 is given twice in '1|1': give "
                             "each value once\n")


def test_ctrl_c_keeps_the_rows_and_the_chart(tmp_path, monkeypatch):
    # (it printed "Aborted!", exit 1, and wrote no chart)
    monkeypatch.setattr(sweep_module, "SIGNAL_AFTER_S", 0.2)
    real_row = sweep_module._row

    def row_then_ctrl_c(*args):
        row = real_row(*args)
        if row.value == "0":
            # Ctrl-C into the next value's check (to this process alone: the sweep
            # passes it on to the check's process, which reports what it explored)
            threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        return row

    monkeypatch.setattr(sweep_module, "_row", row_then_ctrl_c)
    chart = tmp_path / "c.svg"
    try:
        result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0|3", "--no-symmetry",
                           "--chart", str(chart))
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the sweep")
    assert result.exit_code == 3, result.output
    lines = result.stdout.splitlines()
    assert lines[2].split()[:2] == ["0", "ok"]
    value, status, distinct = lines[3].split()[:3]
    assert (value, status) == ("3", "interrupted")
    assert int(distinct.replace(",", "")) > 0          # what the interrupted check explored
    assert lines[4:] == ["stopped: interrupted while checking MaxBallot = 3",
                         f"chart: {chart}"]
    root = ET.parse(chart).getroot()                   # the completed value only
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 2


def test_ctrl_c_before_a_check_reports_the_value_as_interrupted():
    recipe = ModelSpec.from_file("specs/paxos.spec")
    calls = []

    def factory(value):
        calls.append(value)
        if value == "1":
            raise KeyboardInterrupt
        return recipe.with_const("MaxBallot", value)

    rows = sweep(factory, "MaxBallot", ["0", "1", "2"], isolate=False)
    assert [(r.value, r.status) for r in rows] == [("0", "ok"), ("1", "interrupted")]
    assert calls == ["0", "1"]
    # nothing is known of a check that never ran: no made-up zeros
    assert format_table(rows, "MaxBallot").splitlines()[-1].split() == [
        "1", "interrupted", "-", "-", "-", "-", "-"]
    assert rows[-1].as_dict() == {
        "value": "1", "status": "interrupted", "distinct_states": None,
        "generated_states": None, "depth": None, "elapsed_s": None, "wall_s": None,
        "peak_memory_bytes": None}


def interrupted_at(value: str, monkeypatch, reported: bool) -> None:
    """The check of MaxBallot = ``value`` stops as Ctrl-C stops it: with what it explored
    (``reported``), or before it could say (while compiling). In the forked process."""
    from checker.result import Result, Stats, Status

    real_check = sweep_module._check

    def check(recipe, engine, options):
        if f"MaxBallot={value}" not in recipe.consts:
            return real_check(recipe, engine, options)
        if not reported:
            raise KeyboardInterrupt
        return Result(engine="explicit", spec="paxos", status=Status.LIMIT,
                      limit_reason="interrupted", stats=Stats(distinct_states=5,
                      generated_states=9, depth=2, elapsed_s=0.5, peak_memory_bytes=2**20))

    monkeypatch.setattr(sweep_module, "_check", check)


def test_json_after_ctrl_c_says_where_the_sweep_stopped(tmp_path, monkeypatch):
    # ("stopped_at": null beside a row "interrupted", and zeros for the counts of a check
    # that could not report)
    chart = ("--chart", str(tmp_path / "c.svg"))
    interrupted_at("1", monkeypatch, reported=False)
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--format", "json",
                       *chart)
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert [(r["value"], r["status"]) for r in data["rows"]] == [
        ("0", "ok"), ("1", "interrupted")]
    last = data["rows"][-1]
    assert [last[k] for k in ("distinct_states", "generated_states", "depth", "elapsed_s",
                              "peak_memory_bytes")] == [None] * 5
    assert last["wall_s"] > 0                      # (how long it ran is known)
    assert data["stopped_at"] == {"value": "1", "result": None}
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", *chart)
    assert result.exit_code == 3
    assert result.stdout.splitlines()[3].split() == ["1", "interrupted", "-", "-", "-", "-",
                                                     "-"]
    assert "stopped: interrupted while checking MaxBallot = 1" in result.stdout

    interrupted_at("1", monkeypatch, reported=True)
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0..2", "--format", "json",
                       *chart)
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["rows"][-1]["distinct_states"] == 5
    stopped = data["stopped_at"]
    assert stopped["value"] == "1"
    assert (stopped["result"]["status"], stopped["result"]["limit_reason"]) == (
        "limit", "interrupted")
    assert stopped["result"]["distinct_states"] == 5
    assert stopped["result"]["symmetry"] == ["Acceptors"]      # (as check says it)


def test_ctrl_c_while_compiling_still_gives_a_json_document(tmp_path, monkeypatch):
    # (stdout was empty, while check --format json prints a result then)
    real_compile = ModelSpec.compile

    def compile_then_ctrl_c(self):
        if any(c.startswith("MaxBallot=") for c in self.consts):
            raise KeyboardInterrupt
        return real_compile(self)

    monkeypatch.setattr(ModelSpec, "compile", compile_then_ctrl_c)
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=1..2", "--format", "json",
                       "--chart", str(tmp_path / "c.svg"))
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert (data["constant"], data["rows"], data["error"], data["chart"]) == (
        "MaxBallot", [], None, None)
    assert data["stopped_at"]["value"] == "1"
    assert data["stopped_at"]["result"]["status"] == "limit"
    assert data["stopped_at"]["result"]["limit_reason"] == (
        "interrupted before the search began")


# ------------------------------------------------- the failing value, options, --const forms

TINY = """spec Tiny

const N = 3
const Vals = 1..2
option deadlock = false

var x: 0..4

init:
    x = 0

action Inc(v in Vals):
    require x + v <= N
    x = x + v

invariant InRange: x <= 4
lemma Small: x < 3
"""


def tiny_spec(tmp_path) -> str:
    """N = 5 makes `x` leave its range (a run-time error); the lemma fails from N = 3; with
    --deadlock, x = N is a deadlock. Vals is a set of integers: `1..2` is one value."""
    path = tmp_path / "tiny.spec"
    path.write_text(TINY)
    return str(path)


def after_table(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return lines[lines.index("") + 1:]


def test_the_failing_value_is_shown_as_check_shows_it(tmp_path):
    # (a sweep printed `5  error` and exit 2, with no message, property or path)
    spec = tiny_spec(tmp_path)
    result = sweep_cli(spec, "--const", "N=2..6", "--chart", str(tmp_path / "c.svg"))
    assert result.exit_code == 2, result.output          # as check for a status error
    assert [ln.split()[:2] for ln in result.stdout.splitlines()[2:6]] == [
        ["2", "ok"], ["3", "ok"], ["4", "ok"], ["5", "error"]]
    shown = after_table(result.stdout)
    check = CliRunner().invoke(main, ["check", spec, "--const", "N=5"])
    assert check.exit_code == 2
    expected = check.stdout.splitlines()
    cut = expected.index("Statistics:")                   # (the timings differ)
    assert shown[:cut] == expected[:cut]
    assert "Error: in action Inc: `x` would be 5, outside its range 0..4" in shown
    assert shown[-1] == f"chart: {tmp_path / 'c.svg'}"

    result = sweep_cli(spec, "--const", "N=2..6", "--format", "json", "--chart",
                       str(tmp_path / "c.svg"))
    data = json.loads(result.stdout)
    assert [r["status"] for r in data["rows"]] == ["ok", "ok", "ok", "error"]
    assert data["stopped_at"]["value"] == "5" and data["error"] is None
    violation = data["stopped_at"]["result"]["violation"]
    assert violation["message"] == "in action Inc: `x` would be 5, outside its range 0..4"
    assert len(violation["trace"]) == 3


def test_inv_lemmas_and_deadlock_as_for_check(tmp_path):
    # (sweep had none of them: a spec's lemmas could not be checked, a failing property
    # not left out)
    spec = tiny_spec(tmp_path)
    chart = ("--chart", str(tmp_path / "c.svg"))
    assert sweep_cli(spec, "--const", "N=2..4", *chart).exit_code == 0
    result = sweep_cli(spec, "--const", "N=2..4", "--lemmas", *chart)
    assert result.exit_code == 1, result.output
    assert "Invariant Small is violated." in result.stdout
    assert "  properties: InRange" in result.stdout and "  lemmas:     Small" in result.stdout
    result = sweep_cli(spec, "--const", "N=2..4", "--lemmas", "--inv", "InRange", *chart)
    assert result.exit_code == 0, result.output
    result = sweep_cli(spec, "--const", "N=2..4", "--deadlock", *chart)
    assert result.exit_code == 1 and "Deadlock reached." in result.stdout
    assert sweep_cli(spec, "--const", "N=2..4", "--no-deadlock", *chart).exit_code == 0
    result = sweep_cli(spec, "--const", "N=2..4", "--inv", "Nope", *chart)
    assert result.exit_code == 2 and result.stderr.startswith("error: --inv Nope: no such")


def test_a_range_for_a_set_of_integers_is_a_fixed_value(tmp_path):
    # ("sweep needs exactly one --const NAME=VALUES with a range or list", though check
    # takes Vals=1..3 for a set-of-integers constant)
    spec = tiny_spec(tmp_path)
    assert sweep_module.plain_constants(spec) == {"Vals": "a set of integers"}
    plain = {"Vals": "a set of integers"}
    assert split_consts(["N=1..3", "Vals=1..3"], plain) == ("N=1..3", ["Vals=1..3"])
    assert split_consts(["Vals=1..2|{4}", "N=1|2"], plain) == ("N=1|2", ["Vals=1..2|{4}"])
    assert split_consts(["N=1..2", "RM={r1..r3}"]) == ("N=1..2", ["RM={r1, r2, r3}"])
    chart = ("--chart", str(tmp_path / "c.svg"))
    result = sweep_cli(spec, "--const", "N=1..3", "--const", "Vals=1..3", *chart)
    assert result.exit_code == 0, result.output
    assert [ln.split()[:3] for ln in result.stdout.splitlines()[2:5]] == [
        ["1", "ok", "2"], ["2", "ok", "3"], ["3", "ok", "4"]]
    result = sweep_cli(spec, "--const", "Vals=1..3", *chart)
    assert result.exit_code == 2
    assert result.stderr.endswith("; Vals=1..3 is one value (Vals is a set of integers)\n")
    with pytest.raises(SweepError, match="sweep one constant at a time: --const N=1..2 and "
                                         "--const M=3..4 each give a range or list"):
        split_consts(["N=1..2", "M=3..4"])


def test_json_keeps_the_rows_when_a_later_value_cannot_be_checked(tmp_path):
    # (stdout was empty: the row for {r1} was lost)
    spec = unsound_symmetry_spec(tmp_path)
    result = sweep_cli(spec, "--const", "RM=1..3", "--format", "json", "--chart",
                       str(tmp_path / "c.svg"))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert [(r["value"], r["status"]) for r in data["rows"]] == [("{r1}", "ok")]
    assert data["error"]["value"] == "{r1, r2}" and data["stopped_at"] is None
    assert data["error"]["message"].startswith(
        f"{spec}:{guard_line()}:71: error: `symmetry RM` is not")
    assert data["chart"] == str(tmp_path / "c.svg")
    assert result.stderr.startswith(f"{spec}:{guard_line()}:71: error: `symmetry RM` is not sound")


def test_too_many_workers_is_not_told_to_use_a_missing_backend(tmp_path):
    # (it said "use --backend ray", an option sweep does not have)
    result = sweep_cli(tiny_spec(tmp_path), "--const", "N=1..2", "--workers", "1000000")
    assert result.exit_code == 2
    assert "--backend ray for a cluster" not in result.stderr
    assert "a sweep runs its checks on this machine" in result.stderr


def test_no_values_and_a_single_value(tmp_path):
    # ("error: no values to sweep" without --const:; RM=3 got the generic message)
    spec = tiny_spec(tmp_path)
    for bad in ("N=|", "N="):
        result = sweep_cli(spec, "--const", bad)
        assert result.exit_code == 2
        assert result.stderr == f"error: --const: no values to sweep in {bad!r}\n"
    result = sweep_cli(spec, "--const", "N=3")
    assert result.exit_code == 2
    assert result.stderr.endswith("; to check N=3 alone, give N=3..3\n")


def test_a_constant_declared_without_a_value_can_be_swept(tmp_path):
    # `const N` (a value only from --const) failed: "constant N has no value", because
    # the spec was compiled before the swept value was given.
    spec = tmp_path / "nodef.spec"
    spec.write_text("spec NoDef\nconst N\nvar x: 0..10\ninit:\n    x = 0\n"
                    "action Inc:\n    require x < N\n    x = x + 1\n"
                    "action Stay:\n    require x == N\n    x = x\n"
                    "invariant Small: x <= 10\n")
    got = CliRunner().invoke(main, ["sweep", str(spec), "--const", "N=2..4",
                                    "--chart", str(tmp_path / "c.svg"), "--format", "json"])
    assert got.exit_code == 0, got.output
    rows = json.loads(got.stdout)["rows"]
    assert [r["distinct_states"] for r in rows] == [3, 4, 5]
    # another constant missing is still reported
    got = CliRunner().invoke(main, ["sweep", str(spec), "--const", "M=2..4"])
    assert got.exit_code == 2 and "constant N has no value" in got.output
