"""Instrumentation for Python programs: write trace events as JSON Lines.

    from checker.trace.recorder import Recorder

    rec = Recorder("traces/run1", node="coordinator")        # traces/run1/coordinator.jsonl
    rec.record("TMRcvPrepared", {"r": "r1"})
    rec.record("TMCommit", state={"tmState": "committed"})

Each line is ``{"event", "args", "node", "seq", "ts", ...}``: the minimal convention of
``checker.trace`` (see docs/traces.md), so the file validates with no mapping when the
event and argument names are the spec's.

* One file per node (``Recorder(directory, node=...)``), merged by the validator by
  timestamp or vector clock, or one file for everything (``Recorder(file=path)``):
  every line is written with a single ``os.write`` on a file opened for appending, so
  several threads and several processes can share one file without tearing lines.
* Thread-safe (a lock orders ``seq`` with the writes) and asyncio-safe (``record`` never
  blocks on anything but the write itself and never awaits).
* Flushes on exit: by default each line is written at once (``flush="line"``: nothing is
  lost when the process is killed, which fault-injection tests do); with
  ``flush="exit"`` lines are buffered and written at ``close()``, at interpreter exit,
  or when ``buffer_lines`` are waiting.
* Vector clocks: ``clock=True`` adds ``"clock": {node: counter, ...}`` to each line;
  attach ``rec.send_clock()`` to outgoing messages and call ``rec.receive_clock(c)``
  when one arrives; the validator then merges per-node logs in causal order.
"""

from __future__ import annotations

import atexit
import dataclasses
import enum
import json
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _close_all() -> None:
    for rec in list(_LIVE):
        try:
            rec.close()
        except Exception:  # noqa: BLE001 (never fail at exit)
            pass


atexit.register(_close_all)


def _forget_buffers() -> None:
    """In a forked child: lines the parent buffered are the parent's to write."""
    for rec in list(_LIVE):
        rec._buffer = []
        rec._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_buffers)


def jsonable(v: Any) -> Any:
    """Python values as the JSON the validator reads: sets as (sorted) lists, tuples as
    lists, enums by name, dataclasses as objects, mappings with text keys."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, (set, frozenset)):
        items = [jsonable(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {k if isinstance(k, str) else json.dumps(jsonable(k)): jsonable(x)
                for k, x in v.items()}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    raise TypeError(f"cannot record a value of type {type(v).__name__}: {v!r}")


class Recorder:
    """Writes one node's (or every node's) trace events to a JSON Lines file."""

    def __init__(self, directory: str | os.PathLike | None = None, *, node: str | None = None,
                 file: str | os.PathLike | None = None, clock: bool = False,
                 flush: str = "line", buffer_lines: int = 1024,
                 header: Mapping[str, Any] | None = None):
        if (directory is None) == (file is None):
            raise ValueError("give either a directory (one file per node) or file=PATH "
                             "(one file for every node)")
        if directory is not None and not node:
            raise ValueError("a per-node recorder needs node=NAME")
        if flush not in ("line", "exit"):
            raise ValueError("flush must be 'line' or 'exit'")
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            self.path = os.path.join(os.fspath(directory), f"{node}.jsonl")
        else:
            self.path = os.fspath(file)  # type: ignore[arg-type]
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
        self.node = node
        self.flush_mode = flush
        self.buffer_lines = max(1, buffer_lines)
        self._lock = threading.Lock()
        self._seq = 0
        self._buffer: list[bytes] = []
        self._clock: dict[str, int] | None = {} if clock else None
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                       0o644)
        _LIVE.add(self)
        if header is not None and os.fstat(self._fd).st_size == 0:
            self._write([json.dumps({"header": jsonable(dict(header))},
                                    ensure_ascii=False).encode() + b"\n"])

    # ---------------------------------------------------------------- clocks
    def send_clock(self, node: str | None = None) -> dict[str, int]:
        """Tick this node's clock and return a copy to attach to an outgoing message."""
        name = node or self.node
        if self._clock is None or name is None:
            raise RuntimeError("vector clocks are off (Recorder(..., clock=True)) or the "
                               "recorder has no node")
        with self._lock:
            self._clock[name] = self._clock.get(name, 0) + 1
            return dict(self._clock)

    def receive_clock(self, other: Mapping[str, int]) -> None:
        """Merge the clock that came with an incoming message."""
        if self._clock is None:
            raise RuntimeError("vector clocks are off (Recorder(..., clock=True))")
        with self._lock:
            for k, v in other.items():
                if v > self._clock.get(k, 0):
                    self._clock[k] = v

    # ---------------------------------------------------------------- events
    def record(self, event: str, args: Mapping[str, Any] | list | None = None, *,
               node: str | None = None, state: Mapping[str, Any] | None = None,
               before: Mapping[str, Any] | None = None, sent: Any = None,
               received: Any = None, **extra: Any) -> dict:
        """Write one event; returns the object written. ``state``/``before`` are observed
        variable values after/before the step; ``sent``/``received`` messages; extra
        keyword arguments become fields of their own."""
        obj: dict[str, Any] = {"event": event}
        if args is not None:
            obj["args"] = jsonable(args)
        name = node or self.node
        if name is not None:
            obj["node"] = name
        if state is not None:
            obj["state"] = jsonable(state)
        if before is not None:
            obj["before"] = jsonable(before)
        if sent is not None:
            obj["sent"] = jsonable(sent)
        if received is not None:
            obj["received"] = jsonable(received)
        for k, v in extra.items():
            obj[k] = jsonable(v)
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"the recorder for {self.path} is closed")
            self._seq += 1
            obj["seq"] = self._seq
            obj["ts"] = time.time()
            if self._clock is not None and name is not None:
                self._clock[name] = self._clock.get(name, 0) + 1
                obj["clock"] = dict(self._clock)
            line = json.dumps(obj, ensure_ascii=False).encode() + b"\n"
            if self.flush_mode == "line":
                self._write([line])
            else:
                self._buffer.append(line)
                if len(self._buffer) >= self.buffer_lines:
                    self._write(self._buffer)
                    self._buffer = []
        return obj

    def _write(self, lines: list[bytes]) -> None:
        assert self._fd is not None
        for line in lines:  # one write per line: appends of whole lines never interleave
            view = memoryview(line)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def flush(self) -> None:
        with self._lock:
            if self._fd is not None and self._buffer:
                self._write(self._buffer)
                self._buffer = []

    def close(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            if self._buffer:
                self._write(self._buffer)
                self._buffer = []
            os.close(self._fd)
            self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover (best effort)
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


# A process-wide recorder for programs that do not want to pass one around.
_DEFAULT: Recorder | None = None


def configure(*args: Any, **kwargs: Any) -> Recorder:
    """Set up the process-wide recorder (same arguments as Recorder)."""
    global _DEFAULT
    if _DEFAULT is not None:
        _DEFAULT.close()
    _DEFAULT = Recorder(*args, **kwargs)
    return _DEFAULT


def record(event: str, args: Mapping[str, Any] | list | None = None, **kwargs: Any) -> dict | None:
    """Record with the process-wide recorder; does nothing if none is configured."""
    if _DEFAULT is None:
        return None
    return _DEFAULT.record(event, args, **kwargs)
