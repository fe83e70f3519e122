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
from checker.interrupts import first_interrupt_only, interrupt_seen

ROOT = Path(__file__).resolve().parent.parent
PAXOS = str(ROOT / "specs" / "paxos.spec")


@pytest.fixture(autouse=True)
def _signals_restored():
    """``cli.run()`` leaves SIGINT and SIGTERM ignored (it is about to exit): put them
    back, or the processes later tests start would inherit that."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, saved[0])
    signal.signal(signal.SIGTERM, saved[1])


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
