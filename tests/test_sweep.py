"""Sweeps: value ranges, the table of rows (stopping at the first violation), the chart."""

from __future__ import annotations

import os
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
    assert err.value.render().startswith(f"{spec}:65:")
    result = sweep_cli(spec, "--const", "RM=2..3", "--chart", str(tmp_path / "c.svg"))
    assert result.exit_code == 2
    assert result.stdout == ""                  # no table header for a first value's error
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{spec}:65:71: error: `symmetry RM` is not sound")
    assert lines[1].strip() == ("require tmUp and tmState == init and Prepared(r) in msgs "
                                "and r != r1")
    assert lines[2].strip() == "^^"
    assert result.stderr.count("error:") == 1 and "<input>" not in result.stderr
    assert not (tmp_path / "c.svg").exists()


def test_an_error_at_a_later_value_comes_after_the_rows(tmp_path):
    chart = tmp_path / "c.svg"
    result = sweep_cli("specs/paxos.spec", "--const", "MaxBallot=0|true", "--chart",
                       str(chart))
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0].startswith("MaxBallot")
    assert result.stdout.splitlines()[2].startswith("0 ")
    assert result.stdout.splitlines()[-1] == f"chart: {chart} (the values before the error)"
    assert result.stderr.startswith("--const MaxBallot:1:1: error: wrong kind of value")
    assert result.stderr.count("error:") == 1
    assert chart.exists()


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
    assert format_table(rows, "MaxBallot").splitlines()[-1].split()[:2] == ["1", "interrupted"]
