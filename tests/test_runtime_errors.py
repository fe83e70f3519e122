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
