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

Ray is an optional dependency: ``pip install modelcheck[ray]``. This module imports it
only when a search starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from time import monotonic, perf_counter

from .explore import ProgressInfo
from .memory import release_freed_memory, return_large_blocks_on_free
from .parallel import (
    ListSink,
    WorkerDiedError,
    _check_limits,
    _initial_states,
    as_recipe,
    choose_key,
    key_names,
    partition_class,
    search,
)
from .result import Result

ENGINE = "explicit-ray"
# Seconds for a cluster's address to accept a connection and answer; ``ray.init`` gets
# twice as long. (Ray's own retries run for a minute or more, and never end against a
# port that accepts connections but does not answer.)
CONNECT_TIMEOUT = 5.0


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
    that answers but is not a working Ray head."""
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as err:  # noqa: BLE001 (ray.init can raise SystemExit)
            outcome.append(err)

    thread = threading.Thread(target=attempt, name="modelcheck-ray-connect", daemon=True)
    with _stderr_captured(not verbose) as captured:
        thread.start()
        thread.join(seconds)
        text = captured()
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


def connect(address: str | None = None, *, num_cpus: int | None = None,
            ship_code: bool = False, timeout: float = CONNECT_TIMEOUT,
            verbose: bool = False):
    """Connects to (or starts) Ray; returns the ``ray`` module. Ray's log lines show
    only when ``verbose`` (they would interleave with modelcheck's output)."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict = dict(include_dashboard=False, log_to_driver=verbose)
    if not verbose:
        kwargs["logging_level"] = logging.ERROR
    if address is not None:
        check_address(address, timeout)
        kwargs["address"] = address
    if address in (None, "local") and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    env_vars = {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    runtime_env: dict = {"env_vars": env_vars}
    if ship_code:
        from pathlib import Path

        runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
    kwargs["runtime_env"] = runtime_env
    if address not in (None, "local"):
        _init_within(ray, kwargs, address, 2 * timeout, verbose)
        return ray
    try:
        ray.init(**kwargs)      # (starting Ray here may take a while on a busy machine)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
        raise RayUnavailableError(f"cannot start Ray locally: {err}") from None
    return ray


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
        except self.ray.exceptions.RayActorError as err:
            raise WorkerDiedError(f"Ray actor {self.index} died: {err}") from None

    def close(self) -> None:
        try:
            self.ray.kill(self.actor)
        except Exception:  # noqa: BLE001 (best effort at shutdown)
            pass


def _collect(replies, dest):
    return [r["out"][dest] for r in replies if dest in r["out"]]


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
    """The partitioned search on ``workers`` Ray actors (default: the cluster's CPUs).

    ``address``: a running cluster (``HOST:PORT``, ``ray://HOST:PORT`` or "auto");
    None starts a local Ray instance (or uses the one this process already has).
    ``recipe``: a ``ModelSpec`` (actors rebuild the model from it). A cluster that does
    not answer within ``connect_timeout`` (default ``CONNECT_TIMEOUT``; ``ray.init``
    within twice that) raises
    ``RayUnavailableError``, as does asking for more actors than the cluster has CPUs
    (each actor needs one: the extra ones would wait forever). ``shutdown``: disconnect
    from Ray at the end (default: when this call connected). ``verbose``: let Ray's own
    log lines (and the actors' output) through to stderr."""
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
    ray = connect(address, num_cpus=workers, ship_code=ship_code,
                  timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
                  verbose=verbose)
    if shutdown is None:
        shutdown = connected_here
    handles: list[_RayHandle] = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if workers is None:
            workers = max(cpus, 1)
        elif workers > cpus:
            where = f"the Ray cluster at {address}" if address else "this Ray instance"
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
        try:
            ray.get([h.actor.ping.remote() for h in handles])
        except ray.exceptions.RayActorError as err:
            raise RayUnavailableError(f"the Ray actors could not start: {err}") from None
        return search(handles, model, recipe, n_initial=len(inits), start=start,
                      max_states=max_states, max_depth=max_depth, time_limit=time_limit,
                      progress=progress, engine=ENGINE, notes=notes, collect=_collect,
                      switch_at=None if fingerprints else switch_at)
    finally:
        for h in handles:
            h.close()
        if shutdown:
            ray.shutdown()
