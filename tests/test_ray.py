"""The Ray backend: the same counts and verdicts as one worker, on a local Ray instance
started by the test itself; a cluster that does not answer is a clear error, and quickly;
the CLI's options are honoured or refused, never dropped."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker import cli, ray_backend
from checker.interrupts import first_interrupt_only
from checker.parallel import ModelSpec, explore_parallel
from checker.ray_backend import RayUnavailableError, check_address, explore_ray
from checker.result import Status

try:
    import ray
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed (pip install "
                                                   "'modelcheck[ray]')")
ROOT = Path(__file__).resolve().parent.parent
TWO_PC = str(ROOT / "specs" / "2pc.spec")


def summary(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, v and v.property, v and len(v.trace))


@needs_ray
def test_an_address_that_does_not_answer_is_a_clear_error():
    recipe = ModelSpec.from_file("specs/2pc.spec")
    started = time.monotonic()
    with pytest.raises(RayUnavailableError, match="cannot reach the Ray cluster at "
                                                  "127.0.0.1:9"):
        explore_ray(recipe, address="127.0.0.1:9", connect_timeout=2)
    assert time.monotonic() - started < 30
    with pytest.raises(RayUnavailableError, match="bad Ray address"):
        check_address("nowhere")
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def local_ray():
    if ray is None:
        pytest.skip("Ray is not installed")
    # (ray.init sets its own SIGTERM handler, one that exits: the tests after these
    # expect the handlers they had)
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.slow
@pytest.mark.parametrize("path,consts,symmetry", [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), False),
    ("specs/paxos.spec", ("MaxBallot=1",), True),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",), False),
])
def test_ray_actors_agree_with_one_worker(local_ray, path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    result = explore_ray(recipe, workers=2)
    assert result.engine == "explicit-ray"
    assert summary(result) == summary(explore_parallel(recipe, workers=1))
    assert ray.is_initialized()      # a Ray this process started stays up


@pytest.mark.slow
def test_ray_actors_move_buckets_between_levels(local_ray, monkeypatch):
    from checker import balance

    monkeypatch.setattr(balance, "MIN_LEVEL", 0)       # move at every uneven level
    monkeypatch.setattr(balance, "TOLERANCE", 0.0)
    monkeypatch.setattr(balance, "MOVE_COST", 0.0)
    recipe = ModelSpec.from_file("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",))
    result = explore_ray(recipe, workers=2)
    assert any(note.startswith("balance:") for note in result.notes)
    assert summary(result) == summary(explore_parallel(recipe, workers=1))
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))
    assert summary(explore_ray(recipe, workers=2)) == summary(explore_parallel(recipe,
                                                                               workers=1))


@pytest.mark.slow
def test_ray_actors_keep_fingerprints(local_ray, monkeypatch):
    from checker import balance

    monkeypatch.setattr(balance, "MIN_LEVEL", 0)
    monkeypatch.setattr(balance, "TOLERANCE", 0.0)
    monkeypatch.setattr(balance, "MOVE_COST", 0.0)
    for path, consts in (("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)),
                         ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))):
        recipe = ModelSpec.from_file(path, consts)
        result = explore_ray(recipe, workers=2, fingerprints=True)
        assert any("probability that two of the" in note for note in result.notes)
        assert summary(result) == summary(explore_parallel(recipe, workers=1))
        switched = explore_ray(recipe, workers=2, switch_at=0)    # after the first level
        assert any("then fingerprints" in note for note in switched.notes)
        assert summary(switched) == summary(result)


# -- addresses that are not a Ray head (no cluster needed) --------------------------

def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (len(payload).to_bytes(3, "big") + bytes((kind, flags))
            + stream.to_bytes(4, "big") + payload)


# what a server writes back to the probe's HTTP/2 request: a gRPC server's SETTINGS and
# its reply's headers (:status 200, HPACK index 8), a web server's 404 (index 13), HTTP/1
GRPC_REPLY = _frame(4, 0, 0) + _frame(1, 5, 1, b"\x88")
HTTP2_404 = _frame(4, 0, 0) + _frame(1, 5, 1, b"\x8d")
HTTP1_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture
def server():
    """``server(reply)``: the address of a TCP server on this machine that writes
    ``reply`` (None: nothing) to each connection, then keeps it open until the test
    ends."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(reply: bytes | None) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                sockets.append(conn)
                if reply is not None:
                    conn.recv(65536)
                    conn.sendall(reply)

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for sock in sockets:
        sock.close()


def test_a_port_out_of_range_is_a_bad_address_not_a_refused_connection():
    for address in ("127.0.0.1:99999", "127.0.0.1:0", "ray://head:65536"):
        with pytest.raises(RayUnavailableError, match="bad Ray address .*port from 1 to "
                                                      "65535"):
            check_address(address)


def test_a_port_that_accepts_connections_but_says_nothing_is_not_waited_for(server):
    address = server(None)
    started = time.monotonic()
    with pytest.raises(RayUnavailableError, match=f"no Ray cluster answered at {address} "
                                                  "within 1s"):
        check_address(address, timeout=1)
    assert time.monotonic() - started < 3


def test_a_server_that_is_not_a_ray_head_is_named_so(server):
    with pytest.raises(RayUnavailableError, match="not as a Ray head: HTTP status 404"):
        check_address(server(HTTP2_404), timeout=2)
    with pytest.raises(RayUnavailableError, match="not as a Ray head: it does not speak "
                                                  "gRPC"):
        check_address(server(HTTP1_400), timeout=2)
    check_address(server(GRPC_REPLY), timeout=2)        # a gRPC server passes


class _StuckInit:
    """Stands for ``ray.init`` against a server that answers but never lets it finish:
    it logs as Ray's C++ core does (on file descriptor 2) and waits."""

    def __init__(self):
        self.release = threading.Event()
        self.kwargs: dict = {}

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        os.write(2, b"[2026-01-01 00:00:00,000 W 1 2] gcs_client.cc:210: Failed to get "
                    b"cluster ID from GCS server: TimedOut\n")
        self.release.wait(30)


@needs_ray
def test_a_ray_init_that_does_not_return_is_abandoned_in_bounded_time(server, monkeypatch,
                                                                       capfd):
    stuck = _StuckInit()
    monkeypatch.setattr(ray, "init", stuck)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)   # (local_ray may be up)
    address = server(GRPC_REPLY)
    started = time.monotonic()
    try:
        with pytest.raises(RayUnavailableError, match=f"no Ray cluster answered at "
                           f"{address} within 1s .*last message from Ray: Failed to get "
                           "cluster ID") as caught:
            ray_backend.connect(address, timeout=0.5)
        assert caught.value.abandoned
        assert time.monotonic() - started < 3
        # Ray's lines stay off the terminal, and Ray's Python logging is quieted
        assert "gcs_client" not in capfd.readouterr().err
        assert stuck.kwargs["logging_level"] >= 40 and not stuck.kwargs["log_to_driver"]
    finally:
        stuck.release.set()


@needs_ray
def test_ray_init_giving_up_with_system_exit_is_a_clear_error(server, monkeypatch):
    def gives_up(**kwargs):
        raise SystemExit(15)        # what ray.init does after a minute of retries

    monkeypatch.setattr(ray, "init", gives_up)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(RayUnavailableError, match="Ray gave up") as caught:
        ray_backend.connect(server(GRPC_REPLY), timeout=1)
    assert not caught.value.abandoned


@needs_ray
def test_verbose_lets_ray_log(monkeypatch):
    asked = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: asked.append(kwargs))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    ray_backend.connect(num_cpus=1)
    ray_backend.connect(num_cpus=1, verbose=True)
    assert asked[0]["logging_level"] >= 40 and not asked[0]["log_to_driver"]
    assert "logging_level" not in asked[1] and asked[1]["log_to_driver"]


def _modelcheck(*args: str, timeout: float = 60, prelude: str = ""):
    """The CLI in a subprocess (an abandoned ray.init thread must not keep it alive)."""
    code = prelude + "from checker.cli import run; run()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


@needs_ray
def test_the_cli_gives_up_on_a_silent_port_with_one_line(server):
    address = server(None)
    started = time.monotonic()
    proc = _modelcheck(TWO_PC, "--backend", "ray", "--address", address)
    assert proc.returncode == 2
    assert time.monotonic() - started < 20
    assert proc.stderr == (f"error: no Ray cluster answered at {address} within 5s "
                           "(something accepts connections there, but says nothing)\n")


@needs_ray
def test_the_cli_exits_when_ray_init_is_abandoned(server):
    prelude = ("import threading, ray, checker.ray_backend as rb; "
               "ray.init = lambda **kw: threading.Event().wait(); rb.CONNECT_TIMEOUT = 0.5; ")
    address = server(GRPC_REPLY)
    proc = _modelcheck(TWO_PC, "--backend", "ray", "--address", address, timeout=30,
                       prelude=prelude)
    assert proc.returncode == 2
    assert proc.stderr == f"error: no Ray cluster answered at {address} within 1s\n"


# -- the CLI's options with --backend ray (no cluster needed) -----------------------

@pytest.fixture
def asked(monkeypatch):
    """The keyword arguments of each ``explore_ray`` call the CLI makes (a stand-in
    that runs the one-process search)."""
    from checker.explore import explore

    calls: list[dict] = []

    def fake_explore_ray(recipe, **kwargs):
        calls.append(kwargs)
        return explore(recipe.build()[0])

    monkeypatch.setattr(ray_backend, "explore_ray", fake_explore_ray)
    return calls


@pytest.mark.parametrize("extra, workers", [([], None), (["--workers", "1"], 1),
                                            (["--workers", "3"], 3)])
def test_workers_give_that_many_actors_one_included(asked, extra, workers):
    got = CliRunner().invoke(cli.main, [TWO_PC, "--backend", "ray", *extra])
    assert got.exit_code == 0, got.output
    assert asked.pop()["workers"] == workers


@pytest.mark.parametrize("extra, fingerprints", [([], False), (["--exact"], False),
                                                 (["--fingerprints"], True)])
def test_the_store_options_reach_the_actors(asked, extra, fingerprints):
    got = CliRunner().invoke(cli.main, [TWO_PC, "--backend", "ray", *extra])
    assert got.exit_code == 0, got.output
    assert asked.pop()["fingerprints"] is fingerprints


@pytest.mark.parametrize("extra, option", [
    (["--memory-limit", "abc"], "--memory-limit"),
    (["--memory-limit", "4G"], "--memory-limit"),
    (["--checkpoint", "ck"], "--checkpoint"),
    (["--checkpoint", "ck", "--workers", "1"], "--checkpoint"),
])
def test_one_worker_options_are_refused_not_ignored(asked, tmp_path, monkeypatch, extra,
                                                     option):
    monkeypatch.chdir(tmp_path)
    got = CliRunner().invoke(cli.main, [TWO_PC, "--backend", "ray", *extra])
    assert got.exit_code == 2, got.output
    assert option in got.output and "Traceback" not in got.output
    assert asked == [] and not (tmp_path / "ck").exists()


def test_modelcheck_debug_lets_ray_log(asked, monkeypatch):
    monkeypatch.setenv("MODELCHECK_DEBUG", "1")
    assert CliRunner().invoke(cli.main, [TWO_PC, "--backend", "ray"]).exit_code == 0
    monkeypatch.delenv("MODELCHECK_DEBUG")
    assert CliRunner().invoke(cli.main, [TWO_PC, "--backend", "ray"]).exit_code == 0
    assert [call["verbose"] for call in asked] == [True, False]


# -- on a local Ray instance ---------------------------------------------------------

@pytest.mark.slow
def test_one_actor_is_one_actor(local_ray):
    recipe = ModelSpec.from_file("specs/2pc.spec")
    result = explore_ray(recipe, workers=1)
    assert result.notes[0] == "1 Ray actor"
    assert summary(result) == summary(explore_parallel(recipe, workers=1))


@pytest.mark.slow
def test_more_actors_than_cpus_is_an_error_not_a_wait(local_ray):
    with pytest.raises(RayUnavailableError, match="3 Ray actors need 3 CPUs .* has 2"):
        explore_ray(ModelSpec.from_file("specs/2pc.spec"), workers=3)
    assert ray.is_initialized()


@pytest.mark.slow
@needs_ray
def test_a_run_on_a_cluster_shows_only_modelchecks_output(local_ray):
    """The CLI in another process joins the cluster this test started, by its address:
    one actor for --workers 1, and nothing from Ray on stderr."""
    address = ray.get_runtime_context().gcs_address
    proc = _modelcheck(TWO_PC, "--backend", "ray", "--address", address, "--workers", "1",
                       "--format", "json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert doc["engine"] == "explicit-ray" and doc["notes"][0] == "1 Ray actor"


def _within(seconds: float, call, *args, **kwargs):
    """``call(*args, **kwargs)`` in a thread: what it returned or raised, or TimeoutError
    if it still runs after ``seconds`` (a run that waits forever fails, not hangs)."""
    outcome: list = []

    def attempt():
        try:
            outcome.append(call(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001
            outcome.append(err)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else TimeoutError(f"still running after {seconds}s")


def _dying(mode: str):
    """An actor class whose actor 1 dies at level 4: in ``expand`` (before replying), or
    just after replying to it ("batches": its batches to actor 0 are then lost, for
    actor 0 reads them only after a pause); or runs out of memory there ("memory")."""

    class Dying(ray_backend._PartitionActor):
        def expand(self, level, store, time_left):
            report = super().expand(level, store, time_left)
            if self.part.index == 1 and level == 4:
                if mode == "memory":
                    raise MemoryError
                if mode == "expand":
                    os._exit(1)
                threading.Thread(target=lambda: (time.sleep(0.3), os._exit(1)),
                                 daemon=True).start()
            return report

        def ingest(self, level, store, refs):
            if self.part.index == 0 and level == 4:
                time.sleep(1.5)
            return super().ingest(level, store, refs)

    return Dying


@pytest.mark.slow
@pytest.mark.parametrize("mode, reason", [
    ("expand", r"Ray actor 1 died \(pid \d+ on \S+\): its process ended unexpectedly"),
    ("batches", r"Ray actor 0 could not read the states another actor sent: that actor "
                r"died"),
    ("memory", r"Ray actor 1 ran out of memory$"),
])
def test_an_actor_that_dies_stops_the_run_with_one_line_and_the_counts(local_ray,
                                                                      monkeypatch, mode,
                                                                      reason):
    """Killed by the kernel, say: the run stops (exit 3) with the counts of the last
    complete level, whether the dead actor is the one asked or the owner of batches
    another reads (Ray's OwnerDiedError, raised inside the reading actor); and an actor
    out of memory stops it as a worker process does, not as a bug (exit 2)."""
    monkeypatch.setattr(ray_backend, "_ACTOR", ray.remote(num_cpus=1)(_dying(mode)))
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))
    result = explore_ray(recipe, workers=2)
    assert result.status is Status.LIMIT, result
    assert "\n" not in result.limit_reason
    assert re.match(reason, result.limit_reason)
    assert result.stats.depth == 4 and result.stats.distinct_states > 0


@pytest.mark.slow
def test_actors_that_do_not_start_are_a_clear_error_not_a_wait(local_ray, monkeypatch):
    """Another job holds a CPU of the two: the second actor would wait for it forever.
    And an actor whose start fails says why in one line."""

    @ray.remote(num_cpus=1)
    class Holder:
        def ping(self):
            return True

    holder = Holder.remote()
    ray.get(holder.ping.remote())
    monkeypatch.setattr(ray_backend, "START_TIMEOUT", 3, raising=False)
    recipe = ModelSpec.from_file("specs/2pc.spec")
    try:
        got = _within(60, explore_ray, recipe, workers=2)
        assert isinstance(got, RayUnavailableError), got
        assert re.match(r"1 of the 2 Ray actors did not start within 3s: each needs a free "
                        r"CPU, and the cluster has 0 free", str(got))
    finally:
        ray.kill(holder)

    class Broken(ray_backend._PartitionActor):
        def __init__(self, *args):
            raise RuntimeError("no spec here")

    monkeypatch.setattr(ray_backend, "_ACTOR", ray.remote(num_cpus=1)(Broken))
    got = _within(60, explore_ray, recipe, workers=1)
    assert isinstance(got, RayUnavailableError), got
    assert str(got) == "Ray actor 0 could not start: RuntimeError: no spec here"


@needs_ray
def test_a_ctrl_c_while_ray_starts_acts_once_it_is_up_and_sigterm_stays_ours(monkeypatch):
    """ray.init interrupted halfway leaves Ray's processes behind: the Ctrl-C is raised
    once it returns (the caller then shuts Ray down), and explore_ray reports it as an
    interrupted run (exit 3, statistics), not a KeyboardInterrupt. ray.init also sets a
    SIGTERM handler that exits on the spot: the one before it is set again."""
    started = []

    def init(**kwargs):
        signal.signal(signal.SIGTERM, lambda *args: sys.exit(15))      # as ray.init does
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        started.append(True)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with first_interrupt_only():
        ours = signal.getsignal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            ray_backend.connect(num_cpus=1)
        assert started == [True]
        assert signal.getsignal(signal.SIGTERM) is ours
    result = explore_ray(ModelSpec.from_file(TWO_PC), workers=1)
    assert started == [True, True]
    assert (result.status, result.limit_reason, result.engine) == (
        Status.LIMIT, "interrupted", "explicit-ray")


@needs_ray
def test_refused_before_ray_starts(monkeypatch):
    """RAY_ADDRESS stands for a missing --address (as for ray.init, which would retry
    for minutes): checked like one. And a local instance takes at most 16 actors per
    core, as local workers (not a machine brought down by 100,000 processes)."""
    asked = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: asked.append(kwargs))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    recipe = ModelSpec.from_file(TWO_PC)
    for workers in (None, 1):
        with pytest.raises(RayUnavailableError, match=r"cannot reach the Ray cluster at "
                           r"127.0.0.1:9: .* \(the address is RAY_ADDRESS's\)"):
            explore_ray(recipe, workers=workers, connect_timeout=2)
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setattr(ray_backend, "default_workers", lambda: 2)
    with pytest.raises(RayUnavailableError, match="33 Ray actors on this machine's 2 cores: "
                                                  "at most 32"):
        explore_ray(recipe, workers=33)
    assert asked == []


@pytest.mark.slow
@needs_ray
def test_sigterm_during_a_search_reports_it_and_leaves_no_ray_behind():
    """The command on a Ray instance of its own, sent SIGTERM as the search starts: exit
    3 with the result (not Ray's handler's exit, nor its C++ core's stack dump and
    abort), and no session directory left in Ray's temporary directory."""
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="mc-ray-", dir="/tmp")     # (short: Ray's sockets)
    prelude = ("import os, signal, checker.ray_backend as rb; real = rb.search; "
               "rb.search = lambda *a, **k: (os.kill(os.getpid(), signal.SIGTERM), "
               "real(*a, **k))[1]; ")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", prelude + "from checker.cli import run; run()", TWO_PC,
             "--backend", "ray", "--workers", "1", "--format", "json"],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
            env={**os.environ, "RAY_TMPDIR": tmp})
        assert (proc.returncode, proc.stderr) == (3, "")
        doc = json.loads(proc.stdout)
        assert (doc["status"], doc["limit_reason"]) == ("limit", "interrupted")
        left = os.listdir(os.path.join(tmp, "ray")) if os.path.isdir(
            os.path.join(tmp, "ray")) else []
        assert not [name for name in left if name.startswith("session")], left
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
