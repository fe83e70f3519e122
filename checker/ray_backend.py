"""The partitioned search of ``checker.parallel`` on Ray actors: one machine or a cluster.

Each actor holds one partition (``checker.parallel.Partition``): its seen set, its
states and their parent references. Levels run exactly as with worker processes: every
actor expands its share of the level and puts the successors owned by others into Ray's
object store (one object per receiving actor); the coordinator (this process) then hands
each actor the references addressed to it, and the actor stores the states it has not
seen. Batches travel between nodes directly through the object store, not through the
coordinator. Counts, verdicts and counterexample lengths are those of one worker.

Actors rebuild the model from the recipe (a ``ModelSpec``: the spec's text and settings),
so every node must have the same modelcheck version installed, or receive the package
through ``ship_code=True`` (Ray's ``runtime_env`` ``py_modules``). A state's bucket is
``checker.parallel.owner_function(..., stable=True)`` (a CRC of the ``marshal`` encoding of
its partition key, the same on every node, unlike Python's ``hash``) modulo the number of
buckets; a table maps buckets to actors, and the coordinator moves buckets between actors
when a level ends unevenly (``checker.balance``).

Connecting to a cluster is bounded: the address must accept a connection and answer as a
gRPC server (Ray's protocol) within ``connect_timeout``, and ``ray.init`` must return
within twice that, or ``RayUnavailableError`` says so. Ray's own log lines are kept off
the terminal unless ``verbose``.

Ctrl-C and SIGTERM stop the search with its statistics, as with worker processes: Ray's
own handlers are kept out (``_signals_kept``), a Ctrl-C while a local instance starts
takes effect once it is up (to be shut down whole), and a local instance started here
leaves neither processes nor its session directory behind. An actor that dies (or an
actor whose batches another cannot read because their owner died) stops the run as a
worker process's death does: ``WorkerDiedError``, exit 3, one line saying which.

Ray is an optional dependency: ``pip install modelcheck[ray]``. This module imports it
only when a search starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from time import monotonic, perf_counter

from .explore import ProgressInfo, peak_memory_bytes
from .interrupts import finishing, first_interrupt_only, interrupt_seen, is_ours
from .memory import release_freed_memory, return_large_blocks_on_free
from .parallel import (
    ListSink,
    WorkerDiedError,
    _check_limits,
    _initial_states,
    as_recipe,
    choose_key,
    default_workers,
    key_names,
    partition_class,
    properties_of,
    search,
)
from .result import Result, Stats, Status

ENGINE = "explicit-ray"
# Seconds for a cluster's address to accept a connection and answer; ``ray.init`` gets
# twice as long. (Ray's own retries run for a minute or more, and never end against a
# port that accepts connections but does not answer.)
CONNECT_TIMEOUT = 5.0
# Seconds for the actors to start (each compiles the spec) once Ray is up: past them the
# cluster's CPUs are taken by other jobs (an actor waits for a free one, forever).
START_TIMEOUT = 60.0
# Actors on a local Ray instance, per core (as for local worker processes, in cli.py):
# more only oversubscribe the cores, and each actor is a process holding the model.
MAX_ACTORS_PER_CORE = 16


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster does not answer (the CLI exits with 2).

    ``abandoned``: a ``ray.init`` that did not return in time is still running in a
    background thread; the caller should end the process rather than use Ray."""

    def __init__(self, message: str, *, abandoned: bool = False):
        super().__init__(message)
        self.abandoned = abandoned


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "the Ray backend needs Ray: pip install 'modelcheck[ray]' (or pip install "
            "ray)") from None
    return ray


def _split_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` or ``ray://HOST:PORT`` (``[v6]:PORT`` too)."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayUnavailableError(f"bad Ray address {address!r}: expected HOST:PORT (a port "
                                  "from 1 to 65535), ray://HOST:PORT or auto")
    return host.strip("[]") or "127.0.0.1", int(port)


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(
        ">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    """An HPACK header field, literal and not indexed (names and values < 127 bytes)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes((len(n),)) + n + bytes((len(v),)) + v


# HPACK's static table: an indexed ``:status`` other than 200 (RFC 7541, appendix A)
_STATUS = {0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500}
_SETTINGS, _HEADERS, _GOAWAY = 4, 1, 7


def _http2_request(authority: str) -> bytes:
    """The HTTP/2 client preface and one gRPC call (an empty request to the GCS's
    ``GetClusterId``): a gRPC server answers it with HTTP status 200, whatever the
    method's own status; another server (a web server, a proxy) with another."""
    block = (_literal(":method", "POST") + _literal(":scheme", "http")
             + _literal(":path", "/ray.rpc.NodeInfoGcsService/GetClusterId")
             + _literal(":authority", authority[:100])
             + _literal("content-type", "application/grpc") + _literal("te", "trailers"))
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(_SETTINGS, 0, 0)
            + _frame(_HEADERS, 4, 1, block) + _frame(0, 1, 1, b"\x00" * 5))


def _probe_grpc(sock: socket.socket, address: str, authority: str, timeout: float) -> None:
    """Raises RayUnavailableError when the server behind ``sock`` says nothing within
    ``timeout``, does not speak HTTP/2, or answers a gRPC call with an HTTP error (Ray's
    GCS and Ray Client servers speak gRPC): ``ray.init`` would wait for minutes on such an
    address. Only a clear "no" refuses; anything unexpected is left to ``ray.init``."""
    not_ray = f"{address} answered, but not as a Ray head"
    sock.sendall(_http2_request(authority))
    deadline = monotonic() + timeout
    buf, first = b"", True
    while True:
        left = deadline - monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            if first:
                raise RayUnavailableError(f"{not_ray}: it closed the connection")
            return
        buf += chunk
        while len(buf) >= 9:
            length, kind, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            if first and (kind != _SETTINGS or stream != 0):
                raise RayUnavailableError(f"{not_ray}: it does not speak gRPC")
            first = False
            if len(buf) < 9 + length:
                break
            payload, buf = buf[9:9 + length], buf[9 + length:]
            if kind == _SETTINGS and not flags & 1:
                sock.sendall(_frame(_SETTINGS, 1, 0))           # acknowledged
            elif kind == _GOAWAY:
                return
            elif kind == _HEADERS and stream == 1:
                if flags & 0x8:                                  # padded
                    payload = payload[1:]
                if flags & 0x20:                                 # priority
                    payload = payload[5:]
                payload = payload.lstrip(bytes(range(0x20, 0x40)))  # table size updates
                if payload[:1] and payload[0] in _STATUS:
                    raise RayUnavailableError(
                        f"{not_ray}: HTTP status {_STATUS[payload[0]]}, not a gRPC reply")
                return
    if first:
        raise RayUnavailableError(
            f"no Ray cluster answered at {address} within {timeout:g}s (something accepts "
            "connections there, but says nothing)")


def _tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")


def check_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fails fast (RayUnavailableError) when ``host:port`` does not accept connections or
    does not answer as a gRPC server within ``timeout``, instead of letting ``ray.init``
    retry for a minute or more. "auto" and "local" are left to Ray."""
    if address in ("auto", "local"):
        return
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if not _tls():          # (over TLS the handshake comes first: left to Ray)
                _probe_grpc(sock, address, f"{host}:{port}", timeout)
    except socket.gaierror as err:
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address}: unknown "
                                  f"host {host!r} ({err.strerror})") from None
    except TimeoutError:
        raise RayUnavailableError(f"no Ray cluster answered at {address} within "
                                  f"{timeout:g}s") from None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address}: "
                                  f"{reason}") from None


@contextlib.contextmanager
def _stderr_captured(enabled: bool) -> Iterator[Callable[[], str]]:
    """Sends file descriptor 2 to a temporary file: Ray's C++ core logs its retries there
    (not through Python's logging). Yields a function returning what was written."""
    if not enabled:
        yield lambda: ""
        return
    with tempfile.TemporaryFile() as tmp:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: (tmp.seek(0), tmp.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_GLOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*(\S+:\d+:\s*)?")


def _last_ray_message(text: str) -> str:
    lines = [_GLOG_PREFIX.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    return f" (last message from Ray: {lines[-1][:200]})" if lines else ""


def _init_within(ray, kwargs: dict, address: str, seconds: float, verbose: bool) -> None:
    """``ray.init(**kwargs)`` in a daemon thread that is abandoned after ``seconds``:
    ``ray.init`` takes no timeout, and retries (or waits) for minutes on an address
    that answers but is not a working Ray head. A Ctrl-C meanwhile is raised once the
    thread has ended (or been abandoned), so that a connection made is also closed."""
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as err:  # noqa: BLE001 (ray.init can raise SystemExit)
            outcome.append(err)

    thread = threading.Thread(target=attempt, name="modelcheck-ray-connect", daemon=True)
    interrupted = False
    deadline = monotonic() + seconds
    with _stderr_captured(not verbose) as captured:
        thread.start()
        while thread.is_alive() and monotonic() < deadline:
            try:
                thread.join(max(deadline - monotonic(), 0))
            except KeyboardInterrupt:
                interrupted = True      # (later ones are ignored by first_interrupt_only)
        text = captured()
    if interrupted:
        raise KeyboardInterrupt
    if thread.is_alive():
        raise RayUnavailableError(f"no Ray cluster answered at {address} within "
                                  f"{seconds:g}s{_last_ray_message(text)}", abandoned=True)
    if outcome:
        err = outcome[0]
        if isinstance(err, KeyboardInterrupt):
            raise err
        detail = str(err) or type(err).__name__
        if isinstance(err, SystemExit):
            detail = f"Ray gave up (exit status {err.code})"
        raise RayUnavailableError(f"cannot connect to Ray at {address}: "
                                  f"{detail}{_last_ray_message(text)}") from None


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_kept() -> Iterator[None]:
    """Around ``ray.init``, in the main thread.

    SIGINT (Ctrl-C, which a terminal sends to the whole process group; Ray's processes
    ignore it) is noted rather than acted on while Ray starts, then raised as
    ``KeyboardInterrupt`` once it is up, for the caller to shut it down: a ``ray.init``
    interrupted halfway leaves Ray's agent processes running for a minute or more.

    SIGTERM acts at once: sent to the process group (by ``timeout``, a batch system), it
    has ended Ray's processes too, and ``ray.init`` would wait a minute for them (the
    caller stops what was started: ``_stop_half_started``). And ``ray.init`` sets a
    SIGTERM handler of its own (in Python, one that exits on the spot; in its C++ core,
    one that prints a stack and aborts): it is not set while Ray starts, and the handler
    in place before (the one that stops the search with its statistics) is set again
    after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    seen: list[int] = []
    set_handler = signal.signal
    if is_ours(saved[signal.SIGINT]) or saved[signal.SIGINT] is signal.default_int_handler:
        set_handler(signal.SIGINT, lambda got, frame: seen.append(got))

    def kept(signum, handler):
        # (as Ray's own DeferSigint does: the handler ray.init sets is not set)
        if signum in _SIGNALS and threading.current_thread() is threading.main_thread():
            return saved[signum]
        return set_handler(signum, handler)

    signal.signal = kept
    try:
        yield
    finally:
        signal.signal = set_handler
        for signum, handler in saved.items():
            if handler is not None:         # (None: set outside Python, not restorable)
                set_handler(signum, handler)
    if seen:
        interrupt_seen()
        raise KeyboardInterrupt


def _stop_half_started(ray, tb, keep_logs: bool) -> None:
    """After a ``ray.init`` that starts Ray here was interrupted (SIGTERM): stops the
    processes it had started (its ``Node``, found in the interrupted frames; Ray knows
    of it only once ``ray.init`` returns), and removes its session directory unless
    ``keep_logs``. Best effort."""
    try:
        from ray._private.node import Node

        nodes: list = []
        while tb is not None:
            node = tb.tb_frame.f_locals.get("self")
            if isinstance(node, Node) and all(node is not n for n in nodes):
                nodes.append(node)
            tb = tb.tb_next
        for node in nodes:
            node.kill_all_processes(check_alive=False, allow_graceful=True)
        ray.shutdown()
        for node in nodes:
            session = getattr(node, "_session_dir", None)
            if session and not keep_logs:
                _remove_session(session)
    except Exception:  # noqa: BLE001 (a private API: best effort)
        pass


def _resolved_address(address: str | None) -> tuple[str | None, bool]:
    """The address to join, and whether it is ``RAY_ADDRESS``'s: as for ``ray.init``,
    that variable stands for a missing address and for "auto" ("local" starts a new
    instance whatever it says)."""
    from_env = os.environ.get("RAY_ADDRESS", "").strip()
    if from_env and address in (None, "auto"):
        return from_env, True
    return address, False


def _local(address: str | None) -> bool:
    return address in (None, "local")


def connect(address: str | None = None, *, num_cpus: int | None = None,
            ship_code: bool = False, timeout: float = CONNECT_TIMEOUT,
            verbose: bool = False):
    """Connects to (or starts) Ray; returns the ``ray`` module. Ray's log lines show
    only when ``verbose`` (they would interleave with modelcheck's output). A Ctrl-C
    (or SIGTERM) while it connects raises ``KeyboardInterrupt`` once ``ray.init`` has
    returned: Ray is then initialized, and the caller shuts it down."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    address, from_env = _resolved_address(address)
    kwargs: dict = dict(include_dashboard=False, log_to_driver=verbose)
    if not verbose:
        kwargs["logging_level"] = logging.ERROR
    if address is not None:
        try:
            check_address(address, timeout)
        except RayUnavailableError as err:
            if from_env:
                raise RayUnavailableError(f"{err} (the address is RAY_ADDRESS's)") from None
            raise
        kwargs["address"] = address
    if _local(address) and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    env_vars = {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    runtime_env: dict = {"env_vars": env_vars}
    if ship_code:
        from pathlib import Path

        runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
    kwargs["runtime_env"] = runtime_env
    with _signals_kept():
        if not _local(address):
            _init_within(ray, kwargs, address, 2 * timeout, verbose)
            return ray
        try:
            ray.init(**kwargs)      # (starting Ray here may take a while on a busy machine)
        except KeyboardInterrupt as err:
            _stop_half_started(ray, err.__traceback__, keep_logs=verbose)
            raise
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
            raise RayUnavailableError(f"cannot start Ray locally: {err}") from None
    return ray


def _session_dir(ray) -> str | None:
    """The directory of the Ray instance this process started (its logs), or None."""
    try:
        node = ray._private.worker._global_node
        return node.get_session_dir_path() if node is not None and node.head else None
    except Exception:  # noqa: BLE001 (a private API: best effort)
        return None


def disconnect(ray, *, keep_logs: bool = False) -> None:
    """``ray.shutdown()``; for a Ray instance started here, its session directory (under
    /tmp/ray: a few hundred KiB of logs per run) goes too, unless ``keep_logs``."""
    session = None if keep_logs else _session_dir(ray)
    ray.shutdown(wait_for_processes=session is not None)
    if session is not None:
        _remove_session(session)


def _remove_session(session: str) -> None:
    shutil.rmtree(session, ignore_errors=True)
    latest = os.path.join(os.path.dirname(session), "session_latest")
    with contextlib.suppress(OSError):
        if os.path.realpath(latest) == os.path.realpath(session):
            os.unlink(latest)


class _PartitionActor:
    """The body of the Ray actor (made remote in ``_actor_class``)."""

    def __init__(self, index, count, recipe, check_deadlock, key, fingerprints=False):
        import gc

        gc.disable()        # no reference cycles in the search (as in checker.explore)
        return_large_blocks_on_free()
        self.part = partition_class(fingerprints)(index, count, recipe, check_deadlock,
                                                  stable=True, key=key)
        self.sink = ListSink()

    def init(self):
        return self.part.init()

    def expand(self, level, store, time_left):
        import ray

        report = self.part.expand(level, store, time_left, self.sink)
        report["out"] = {d: ray.put(payloads) for d, payloads in report["out"].items()}
        return report

    def ingest(self, level, store, refs):
        import ray

        payloads = [p for batch in ray.get(list(refs)) for p in batch] if refs else []
        return self.part.ingest(level, store, payloads)

    def node(self, idx):
        return self.part.node(idx)

    def entry(self, fp):
        return self.part.entry(fp)

    def switch(self, phase, payload):
        from .fingerprint_partition import SWITCH_PHASES, switch_phase

        self.part, reply = switch_phase(self.part, phase, payload)
        if phase == SWITCH_PHASES[-1]:
            payload = None
            release_freed_memory()
        return reply

    def give(self, table):
        return self.part.give(table)

    def take(self, payloads):
        return self.part.take(payloads)

    def ping(self):
        return True


_ACTOR = None


def _actor_class(ray):
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = ray.remote(num_cpus=1)(_PartitionActor)
    return _ACTOR


def _failure(ray, err: BaseException) -> str | None:
    """What a Ray error says of an actor, its node or its objects, in one line; None
    for another error (a bug: it propagates)."""
    exc = ray.exceptions
    cause = err
    while isinstance(cause, exc.RayTaskError) and getattr(cause, "cause", None) is not None:
        cause = cause.cause     # (an error raised in an actor: by what)
    text = str(cause)
    if isinstance(cause, MemoryError):      # (as a worker process says it)
        return "ran out of memory"
    if isinstance(cause, exc.RayActorError):
        if cause.actor_init_failed:
            return f"could not start: {_last_line(text)}"
        pid = re.search(r"^\s*pid: (\d+)$", text, re.M)
        ip = re.search(r"^\s*ip: (\S+)$", text, re.M)
        where = " (" + " on ".join(filter(None, (pid and f"pid {pid[1]}", ip and ip[1]))) + ")"
        if cause.preempted:
            why = "its node was preempted"
        elif "exit type: NODE_OUT_OF_MEMORY" in text:     # (Ray's memory monitor)
            why = "Ray killed it, its node being low on memory"
        elif re.search(r"NODE_DIED|its node (has died|is dead)", text):
            why = "its node died"
        else:       # (Ray's text lists guesses: killed, out of memory, crashed)
            why = "its process ended unexpectedly (killed, out of memory, or crashed)"
        return f"died{where if where != ' ()' else ''}: {why}"
    if isinstance(cause, exc.OwnerDiedError):
        return ("could not read the states another actor sent: that actor died (killed, "
                "or crashed)")
    if isinstance(cause, (exc.ObjectLostError, exc.NodeDiedError, exc.OutOfMemoryError)):
        return f"failed: {_last_line(text)}"
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no reason given"


class _RayHandle:
    def __init__(self, ray, actor, index: int):
        self.ray = ray
        self.actor = actor
        self.index = index
        self.pending = None

    def send(self, cmd, *args) -> None:
        self.pending = getattr(self.actor, cmd).remote(*args)

    def recv(self):
        ref, self.pending = self.pending, None
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as err:
            why = _failure(self.ray, err)
            if why is None:
                raise
            raise WorkerDiedError(f"Ray actor {self.index} {why}") from None

    def close(self) -> None:
        try:
            self.ray.kill(self.actor)
        except Exception:  # noqa: BLE001 (best effort at shutdown)
            pass


def _collect(replies, dest):
    return [r["out"][dest] for r in replies if dest in r["out"]]


def _interrupted(model, start: float, notes: tuple[str, ...]) -> Result:
    """Ctrl-C before the search began (Ray or its actors starting): nothing explored."""
    return Result(engine=ENGINE, spec=model.name, status=Status.LIMIT,
                  limit_reason="interrupted", constants=dict(model.constants),
                  properties=properties_of(model),
                  stats=Stats(elapsed_s=perf_counter() - start,
                              peak_memory_bytes=peak_memory_bytes()), notes=notes)


def _started(ray, handles: list[_RayHandle], timeout: float) -> None:
    """Waits for the actors to start (each compiles the spec): a clear error, not a wait
    forever, when the cluster's CPUs are taken by other jobs or an actor fails."""
    pings = [h.actor.ping.remote() for h in handles]
    ready, waiting = ray.wait(pings, num_returns=len(pings), timeout=timeout)
    for h, ping in zip(handles, pings):
        if ping in ready:
            try:
                ray.get(ping)
            except ray.exceptions.RayError as err:
                why = _failure(ray, err) or f"failed: {_last_line(str(err))}"
                raise RayUnavailableError(f"Ray actor {h.index} {why}") from None
    if waiting:
        free = ray.available_resources().get("CPU", 0)
        raise RayUnavailableError(
            f"{len(waiting)} of the {len(handles)} Ray actors did not start within "
            f"{timeout:g}s: each needs a free CPU, and the cluster has {free:g} free "
            "(other jobs hold the rest? `ray status` says)")


@first_interrupt_only()
def explore_ray(
    recipe,
    *,
    workers: int | None = None,
    address: str | None = None,
    max_states: int | None = None,
    max_depth: int | None = None,
    time_limit: float | None = None,
    check_deadlock: bool | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    ship_code: bool = False,
    partition: str = "auto",
    shutdown: bool | None = None,
    connect_timeout: float | None = None,
    fingerprints: bool = False,
    switch_at: int | None = None,
    verbose: bool = False,
) -> Result:
    """The partitioned search on ``workers`` Ray actors (default: the cluster's free
    CPUs).

    ``address``: a running cluster (``HOST:PORT``, ``ray://HOST:PORT`` or "auto");
    None starts a local Ray instance (or uses the one this process already has, or
    joins ``RAY_ADDRESS``'s cluster when that is set, as ``ray.init`` does).
    ``recipe``: a ``ModelSpec`` (actors rebuild the model from it). A cluster that does
    not answer within ``connect_timeout`` (default ``CONNECT_TIMEOUT``; ``ray.init``
    within twice that) raises ``RayUnavailableError``, as does asking for more actors
    than the cluster has CPUs (each actor needs one: the extra ones would wait forever),
    or than ``MAX_ACTORS_PER_CORE`` per core on a local instance, or actors that do not
    start within ``START_TIMEOUT``. ``shutdown``: disconnect from Ray at the end
    (default: when this call connected; a local instance started here leaves no logs
    under /tmp/ray unless ``verbose``). ``verbose``: let Ray's own log lines (and the
    actors' output) through to stderr.

    A Ctrl-C (or SIGTERM) stops the search with the statistics of the levels done, as
    with worker processes; one while Ray starts takes effect once it is up (so that it
    can be shut down whole)."""
    _check_limits(max_states, max_depth)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    recipe = as_recipe(recipe)
    if not hasattr(recipe, "to_json"):
        raise ValueError("the Ray backend needs a ModelSpec recipe (actors rebuild the "
                         "model from the spec's text)")
    model, canonical = recipe.build()
    start = perf_counter()
    inits = _initial_states(model, ENGINE)
    if isinstance(inits, Result):
        return inits
    ray = _import_ray()
    connected_here = not ray.is_initialized()
    resolved, _ = _resolved_address(address)
    if connected_here and _local(resolved) and workers is not None:
        most = MAX_ACTORS_PER_CORE * default_workers()
        if workers > most:
            raise RayUnavailableError(
                f"{workers} Ray actors on this machine's {default_workers()} cores: at most "
                f"{most} ({MAX_ACTORS_PER_CORE} per core); give --address for a cluster")
    if shutdown is None:
        shutdown = connected_here
    handles: list[_RayHandle] = []
    notes: tuple[str, ...] = ()
    try:
        ray = connect(address, num_cpus=workers, ship_code=ship_code,
                      timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
                      verbose=verbose)
        if workers is None:
            workers = max(int(ray.available_resources().get("CPU", 0)), 1)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if workers > cpus:
            where = f"the Ray cluster at {resolved}" if resolved else "this Ray instance"
            raise RayUnavailableError(f"{workers} Ray actors need {workers} CPUs (one each), "
                                      f"and {where} has {cpus}")
        key = None
        if partition == "auto":
            key = choose_key(model, canonical, workers)
        elif partition != "state":
            key = tuple(partition)
        notes = (f"{workers} Ray actor{'s' if workers > 1 else ''}",)
        if key is not None:
            notes += (f"partitioned by {key_names(model, key)}",)
        actor = _actor_class(ray)
        handles = [_RayHandle(ray, actor.remote(i, workers, recipe, check_deadlock, key,
                                                fingerprints), i)
                   for i in range(workers)]
        _started(ray, handles, START_TIMEOUT)
        return search(handles, model, recipe, n_initial=len(inits), start=start,
                      max_states=max_states, max_depth=max_depth, time_limit=time_limit,
                      progress=progress, engine=ENGINE, notes=notes, collect=_collect,
                      switch_at=None if fingerprints else switch_at)
    except KeyboardInterrupt:
        # (while Ray or the actors started: nothing explored yet)
        finishing()
        return _interrupted(model, start, notes)
    finally:
        for h in handles:
            h.close()
        if shutdown and ray.is_initialized():
            disconnect(ray, keep_logs=verbose)
