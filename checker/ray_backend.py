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
through ``ship_code=True`` (Ray's ``runtime_env`` ``py_modules``). Ownership of a state is
``checker.parallel.owner_function(..., stable=True)``: a CRC of its ``marshal`` encoding,
the same on every node (Python's ``hash`` is not).

Ray is an optional dependency: ``pip install modelcheck[ray]``. This module imports it
only when a search starts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from time import perf_counter

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


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster does not answer (the CLI exits with 2)."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "the Ray backend needs Ray: pip install 'modelcheck[ray]' (or pip install "
            "ray)") from None
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fails fast (RayUnavailableError) when ``host:port`` does not accept connections,
    instead of letting ``ray.init`` retry for a minute. "auto", "local" and ``ray://``
    addresses are left to Ray."""
    if address in ("auto", "local"):
        return
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailableError(f"bad Ray address {address!r}: expected HOST:PORT, "
                                  "ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        if isinstance(err, socket.timeout):
            reason = f"no answer within {timeout:g}s"
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address}: "
                                  f"{reason}") from None


def connect(address: str | None = None, *, num_cpus: int | None = None,
            ship_code: bool = False, timeout: float = 5.0):
    """Connects to (or starts) Ray; returns the ``ray`` module."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict = dict(include_dashboard=False, log_to_driver=False)
    if address is not None:
        check_address(address, timeout)
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    env_vars = {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    runtime_env: dict = {"env_vars": env_vars}
    if ship_code:
        from pathlib import Path

        runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
    kwargs["runtime_env"] = runtime_env
    try:
        ray.init(**kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
        where = f"at {address}" if address else "locally"
        raise RayUnavailableError(f"cannot connect to Ray {where}: {err}") from None
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
    connect_timeout: float = 5.0,
    fingerprints: bool = False,
    switch_at: int | None = None,
) -> Result:
    """The partitioned search on ``workers`` Ray actors (default: the cluster's CPUs).

    ``address``: a running cluster (``HOST:PORT``, ``ray://HOST:PORT`` or "auto");
    None starts a local Ray instance (or uses the one this process already has).
    ``recipe``: a ``ModelSpec`` (actors rebuild the model from it). A cluster that does
    not answer raises ``RayUnavailableError``. ``shutdown``: disconnect from Ray at the
    end (default: when this call connected)."""
    _check_limits(max_states, max_depth)
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
    ray = connect(address, num_cpus=workers if address is None else None,
                  ship_code=ship_code, timeout=connect_timeout)
    if shutdown is None:
        shutdown = connected_here
    handles: list[_RayHandle] = []
    try:
        if workers is None:
            workers = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        key = None
        if partition == "auto":
            key = choose_key(model, canonical, workers)
        elif partition != "state":
            key = tuple(partition)
        notes = (f"{workers} Ray actors",)
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
