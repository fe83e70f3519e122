"""Sweeps: value ranges, the table of rows (stopping at the first violation), the chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from checker.parallel import ModelSpec
from checker.sweep import (
    SweepError,
    SweepRow,
    expand_symbols,
    format_table,
    parse_sweep,
    parse_values,
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
