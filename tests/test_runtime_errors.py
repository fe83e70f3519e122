"""Errors that only a reachable state can show (a sequence or bag past its bound, `take` of
an absent element, `head` of an empty sequence): exit 2, a message that says what went
wrong, and the shortest path to the state where it happened. Pinned as golden files
(``UPDATE_GOLDEN=1 pytest`` rewrites them)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from checker.cli import main

BAG_SPEC = """\
spec Net
message Ping(n: 0..1)
var net: bag[Message, 1]
var log: seq[0..1, 2]
init:
    net = put(put({}, Ping(0)), Ping(1))
    log = []
"""

CASES = {
    "rt_seq_overflow": BAG_SPEC + "action Log(v in 0..1):\n    log = append(log, v)\n",
    "rt_bag_overflow": BAG_SPEC + "action Send:\n    net = put(net, Ping(0))\n",
    "rt_take_absent": BAG_SPEC + "action Receive:\n    net = take(take(net, Ping(0)), Ping(0))\n",
    "rt_head_of_empty": BAG_SPEC + "action First:\n    require head(log) == 0\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_runtime_error_golden(name, tmp_path, golden, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{name}.spec").write_text(CASES[name])
    result = CliRunner().invoke(main, [f"{name}.spec", "--no-color"])
    assert result.exit_code == 2, result.output
    golden(name, result.stdout.split("\nStatistics:")[0].rstrip())


def test_empty_literal_is_an_empty_bag_inside_put(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.spec").write_text(BAG_SPEC + "action Receive(m in net):\n"
                                      "    net = take(net, m)\n")
    result = CliRunner().invoke(main, ["ok.spec", "--no-deadlock", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"distinct_states": 4' in result.stdout


COUNTER = """\
spec Div
const N = 3
var x: 0..5
var y: 0..100
init:
    x = 0
    y = 0
"""

# (spec, options, the location line, the spec's line shown under it)
WHERE = {
    "second statement": (
        COUNTER + "action Step:\n    require x < N\n    x = x + 1\n"
        "    y = y + 10 / (N - 1 - x)\n", [],
        "where.spec:11:5: here, in action Step", "    y = y + 10 / (N - 1 - x)"),
    "invariant": (
        COUNTER + "action Step:\n    require x < N\n    x = x + 1\n"
        "invariant Inverse: 6 / (N - x) > 0\n", [],
        "where.spec:11:20: here, in invariant Inverse", "invariant Inverse: 6 / (N - x) > 0"),
    "def body, called by an action": (
        COUNTER + "def share(a) = 12 / (N - a)\n"
        "action Step:\n    require x < 4\n    y = share(x)\n    x = x + 1\n", [],
        "where.spec:8:16: here, in action Step", "def share(a) = 12 / (N - a)"),
    "init": (
        "spec Div\nvar x: 0..5\ninit:\n    x = 0\n    x = 5 / x\naction Step:\n"
        "    x = x\n", [],
        "where.spec:5:5: here, in init", "    x = 5 / x"),
    "transition invariant": (
        COUNTER + "action Step:\n    require x < 5\n    x = x + 1\n"
        "transition invariant Up: x' / (N - x) >= 0\n", [],
        "where.spec:11:26: here, in transition invariant Up",
        "transition invariant Up: x' / (N - x) >= 0"),
    "fault action, with a fault budget": (
        COUNTER + "option max_faults = 2\naction Step:\n    require x < 5\n    x = x + 1\n"
        "fault(crash) action Crash:\n    y = 10 / (2 - x)\n", ["--faults", "crash"],
        "where.spec:13:5: here, in action Crash", "    y = 10 / (2 - x)"),
}


@pytest.mark.parametrize("case", sorted(WHERE))
def test_a_run_time_error_points_at_the_statement_that_failed(case, tmp_path, monkeypatch):
    # (it pointed at the declaration of the action or property, `action Step:`, whatever
    # statement failed, and said "ZeroDivisionError: integer division or modulo by zero")
    text, options, header, shown = WHERE[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "where.spec").write_text(text)
    result = CliRunner().invoke(main, ["where.spec", "--no-color", *options])
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert "division by zero" in lines[[i for i, x in enumerate(lines)
                                        if x.startswith("Error:")][0]]
    at = lines.index(header)
    assert lines[at + 1] == "    " + shown
    column = int(header.split(":")[2])
    assert lines[at + 2] == "    " + " " * (column - 1) + "^"
