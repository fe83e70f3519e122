"""Ctrl-C: the first one stops a search, which reports what it explored (exit 3); a
second one while it stops changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker import cli
from checker.interrupts import finishing, first_interrupt_only, interrupt_seen

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "specs" / "paxos.spec")


def test_the_first_interrupt_raises_and_later_ones_are_ignored():
    raised = 0
    with first_interrupt_only():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            raised += 1
        os.kill(os.getpid(), signal.SIGINT)         # ignored: the block goes on
        time.sleep(0.05)
        with first_interrupt_only():                # nested: shares the state
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert raised == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):          # outside: as usual again
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_sigterm_stops_like_ctrl_c_even_where_sigint_is_ignored():
    # (a shell's background job ignores SIGINT; `kill PID` must still stop it cleanly)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            with first_interrupt_only():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_after_the_commands_block_the_signals_are_ignored():
    # (the result is printed and the process exits: a signal then would kill it with
    # the report half written, or after it, with the status of a killed process)
    with first_interrupt_only(then_ignore=True):
        pass
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)


def test_an_interrupt_taken_by_another_handler_counts_as_the_first():
    # (a checkpointed search defers the first Ctrl-C to its next consistent point)
    with first_interrupt_only():
        interrupt_seen()
        os.kill(os.getpid(), signal.SIGINT)         # ignored
        time.sleep(0.05)


def test_an_embedding_programs_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append(1))
    try:
        with first_interrupt_only():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert seen == [1]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_anywhere_in_a_command_exits_3_not_click_abort(monkeypatch, capsys):
    # Click's standalone mode turned this into "Aborted!" and exit 1, the status of a
    # violated property.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_search", interrupted)
    monkeypatch.setattr(sys, "argv", ["modelcheck", PAXOS, "--const", "MaxBallot=0"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == cli.EXIT_LIMIT
    err = capsys.readouterr().err
    assert "interrupted after" in err and "Aborted" not in err


def test_usage_errors_and_help_keep_their_exit_status(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["modelcheck", PAXOS, "--workers", "0"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 2
    assert "--workers" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["modelcheck", "--help"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 0
    assert "Usage" in capsys.readouterr().out


def _start_parallel_search(tmp_path):
    """The CLI on Paxos with ballots 0..3 and two workers, once its workers' directory
    exists (the search has started)."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from checker.cli import run; run()", PAXOS,
         "--const", "MaxBallot=3", "--no-symmetry", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob("modelcheck-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    return proc


@pytest.mark.parametrize("how", ["two SIGINTs to the group", "SIGTERM to the coordinator"])
def test_a_stopped_parallel_search_reports_and_leaves_no_files(tmp_path, how):
    # A terminal's Ctrl-C reaches the whole process group; `timeout -s INT` sends it
    # twice. The second came while the workers were being stopped, and the run ended
    # with "Aborted!", exit 1, no statistics and the workers' batch files left behind.
    # SIGTERM (`kill PID`) killed the coordinator on the spot, leaving both.
    proc = _start_parallel_search(tmp_path)
    if how == "SIGTERM to the coordinator":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_LIMIT, out
    assert "Stopped: interrupted" in out and "distinct states" in out, out
    assert not list(tmp_path.glob("modelcheck-*"))


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_workers_do_not_outlive_a_killed_coordinator(tmp_path):
    # They waited forever on their pipes, holding their memory.
    proc = _start_parallel_search(tmp_path)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{w}/stat").exists()
                   and Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
                   for w in workers)
    # The killed coordinator could not remove its workers' directory; the next run
    # that makes one removes it, because no living process holds its lock.
    left = list(tmp_path.glob("modelcheck-*"))
    assert left
    env = dict(os.environ, TMPDIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", "from checker.cli import run; run()", PAXOS,
                    "--const", "MaxBallot=0", "--workers", "2"],
                   env=env, capture_output=True, timeout=120, check=True)
    assert not any(path.exists() for path in left)


def test_a_signal_while_a_finished_search_reports_is_ignored_until_its_block_ends():
    with first_interrupt_only():
        with first_interrupt_only():                # the search's block
            finishing()
            os.kill(os.getpid(), signal.SIGINT)     # ignored: the answer is being reported
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        # The search returned: the next Ctrl-C stops what comes next (a session that
        # goes on after a check), and was not used up by the ignored ones.
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)


def _signal_during(monkeypatch, module, name, signum=signal.SIGINT):
    """``module.name`` (a function) sends this process ``signum`` before it runs."""
    original = getattr(module, name)

    def with_signal(*args, **kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(0.05)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, with_signal)


@pytest.mark.parametrize("where", ["statistics", "explanation"])
def test_a_ctrl_c_as_a_search_ends_does_not_lose_its_result(monkeypatch, capsys, where):
    # A Ctrl-C or SIGTERM in the last moments (the statistics being built, the
    # counterexample explained) threw the finished result away: "interrupted after
    # 1.2s", exit 3, nothing else.
    import checker.explore

    if where == "statistics":
        _signal_during(monkeypatch, checker.explore, "peak_memory_bytes", signal.SIGTERM)
    else:
        _signal_during(monkeypatch, cli, "_explained")
    monkeypatch.setattr(sys, "argv", ["modelcheck", str(ROOT / BUGGY), "--const",
                                      "MaxBallot=1", "--workers", "1"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    out = capsys.readouterr()
    assert exit_.value.code == 1, out
    assert "Invariant Agreement is violated" in out.out
    assert "Counterexample (13 states" in out.out


BUGGY = "specs/buggy/paxos_no_ballot_check.spec"


def _signal_in_phase(monkeypatch, phase: str, level: int, signum=signal.SIGINT):
    """The parallel search's coordinator gets ``signum`` while it waits for the replies
    of ``phase`` ("expand" or "ingest") of level ``level``."""
    import checker.parallel as parallel

    sent = {}
    fired = []
    send, recv = parallel._ProcessWorker.send, parallel._ProcessWorker.recv

    def send_noted(self, *cmd):
        sent[self.index] = cmd
        return send(self, *cmd)

    def recv_signalled(self):
        cmd = sent.get(self.index, ())
        if cmd[:2] == (phase, level) and not fired:
            fired.append(1)
            os.kill(os.getpid(), signum)
            time.sleep(0.2)
        return recv(self)

    monkeypatch.setattr(parallel._ProcessWorker, "send", send_noted)
    monkeypatch.setattr(parallel._ProcessWorker, "recv", recv_signalled)
    return fired


def test_ctrl_c_during_the_level_that_found_a_violation_still_reports_it(monkeypatch):
    # The level's states were being exchanged when Ctrl-C came: the counterexample was
    # then rebuilt over pipes that still held the exchange's replies ("internal error:
    # ValueError: too many values to unpack"). Once a violation is found, its level is
    # finished and it is reported, as if no Ctrl-C had come.
    from checker.parallel import ModelSpec, explore_parallel

    recipe = ModelSpec.from_file(str(ROOT / BUGGY), ("MaxBallot=1",), symmetry=False)
    plain = explore_parallel(recipe, workers=2)
    assert plain.violation is not None
    fired = _signal_in_phase(monkeypatch, "ingest", plain.stats.depth - 1)
    got = explore_parallel(recipe, workers=2)
    assert fired
    assert got.status is plain.status and got.violation.property == "Agreement"
    assert len(got.violation.trace) == len(plain.violation.trace)
    assert got.stats.distinct_states == plain.stats.distinct_states


@pytest.mark.parametrize("phase", ["expand", "ingest"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_level_interrupted_midway_reports_the_counts_where_the_last_one_ended(
        monkeypatch, phase, signum):
    # SIGTERM during the exchange printed the distinct states of one level with the
    # generated states of the next, and "states left in queue: 0".
    from checker.parallel import ModelSpec, explore_parallel

    recipe = ModelSpec.from_file(PAXOS, ("MaxBallot=1",), symmetry=False)
    ends = []
    fired = _signal_in_phase(monkeypatch, phase, 6, signum)
    got = explore_parallel(recipe, workers=2, progress=ends.append)
    assert fired and got.limit_reason == "interrupted"
    last = ends[-1]
    assert last.depth == 6
    stats = got.stats
    assert (stats.distinct_states, stats.generated_states, stats.depth, stats.queue_left) \
        == (last.distinct, last.generated, last.depth, last.queue)
    assert stats.queue_left > 0


def test_ctrl_c_before_the_search_still_gives_json_with_format_json(monkeypatch, capsys):
    # Standard output was empty: a script reading the JSON got nothing to parse.
    import json

    _signal_during(monkeypatch, cli, "_select_invariants")
    monkeypatch.setattr(sys, "argv", ["modelcheck", PAXOS, "--format", "json"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == cli.EXIT_LIMIT
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "limit"
    assert doc["limit_reason"] == "interrupted before the search began"
    assert doc["distinct_states"] == 0 and doc["spec"] == "paxos"


def test_ctrl_c_before_a_simulation_still_gives_json_with_format_json(monkeypatch, capsys):
    # (simulate printed nothing on standard output, where check prints a JSON result)
    import json

    _signal_during(monkeypatch, cli, "_select_invariants")
    monkeypatch.setattr(sys, "argv", ["modelcheck", "simulate", PAXOS, "--format", "json"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == cli.EXIT_LIMIT
    doc = json.loads(capsys.readouterr().out)
    assert (doc["status"], doc["engine"]) == ("limit", "simulate")
    assert doc["limit_reason"] == "interrupted before the search began"


class _InterruptedImport:
    """A finder that raises KeyboardInterrupt for one module: a Ctrl-C while Python
    loads it."""

    def __init__(self, name: str, wrap: bool = False):
        self.name, self.wrap = name, wrap

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        if self.wrap:   # (as Python 3.11 wraps it in a class statement)
            raise RuntimeError("Error calling __set_name__") from KeyboardInterrupt()
        raise KeyboardInterrupt


@pytest.mark.parametrize("wrap", [False, True])
def test_ctrl_c_while_the_checker_loads_is_one_line_and_exit_3(monkeypatch, capsys, wrap):
    # (the first half second of a run: a traceback, or "internal error: RuntimeError")
    from checker import entry

    monkeypatch.delitem(sys.modules, "checker.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport("checker.cli", wrap),
                                           *sys.meta_path])
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 3
    assert capsys.readouterr().err == "interrupted while starting\n"
