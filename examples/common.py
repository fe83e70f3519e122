"""Plumbing shared by the example systems.

* Messages: one JSON object per line over TCP, on 127.0.0.1 only (ephemeral ports).
  ``Conn`` wraps a socket; a reader thread puts every message it receives, with the
  connection it came on, into one inbox queue that the process's main loop reads with
  a timeout (so no loop waits forever).
* Faults: ``Faults`` drops (probability) or delays (up to some milliseconds) outgoing
  messages, from a random generator seeded by ``--seed`` and the node's name.
* Tracing: ``Tracer`` writes a process's trace events with ``checker.trace.recorder``
  at a level of detail (event names only, names and arguments, or with observed state),
  into one shared file or one file per node (with vector clocks), or as lines of a
  general application log (natural event names, read through a mapping file).
* Processes: ``Cluster`` starts children with ``python -m ...`` (each a separate OS
  process), makes their listening sockets beforehand (passed down with ``pass_fds``, so
  that every process can start at once and peers know the ports), kills one on request,
  and always stops them all (terminate, then kill) when the run ends, however it ends.
  A child also exits by itself when its standard input closes (the launcher died) or
  its deadline passes.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from checker.trace.recorder import Recorder

LOCALHOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
DETAILS = ("names", "args", "state")


# ----------------------------------------------------------------------- network
def listen() -> socket.socket:
    """A listening socket on 127.0.0.1 and an ephemeral port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCALHOST, 0))
    s.listen(64)
    return s


def listener(fd: int | None) -> socket.socket:
    """The listening socket the launcher made for this process (``--listen-fd``, passed
    with ``pass_fds``, so that every process can start at once), or a new one."""
    if fd is None:
        return listen()
    return socket.socket(fileno=fd)


def connect(port: int, timeout: float = 2.0) -> socket.socket:
    s = socket.create_connection((LOCALHOST, port), timeout=timeout)
    s.settimeout(None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Conn:
    """A TCP connection carrying JSON objects, one per line.

    A daemon thread reads messages and puts ``(conn, message)`` into ``inbox``; at the
    end of the stream it puts ``(conn, None)``."""

    def __init__(self, sock: socket.socket, inbox: queue.Queue, name: str = "?"):
        self.sock = sock
        self.name = name
        self.inbox = inbox
        self._lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._read, daemon=True, name=f"read-{name}").start()

    def _read(self) -> None:
        try:
            with self.sock.makefile("rb") as f:
                for line in f:
                    try:
                        msg = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    self.inbox.put((self, msg))
        except OSError:
            pass
        self.inbox.put((self, None))

    def send(self, msg: Mapping[str, Any]) -> bool:
        """Send one message; False if the connection is gone (the peer died)."""
        data = json.dumps(msg).encode() + b"\n"
        with self._lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                return False

    def close(self) -> None:
        with self._lock:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


def accept_loop(server: socket.socket, inbox: queue.Queue, conns: list[Conn]) -> None:
    """Accept connections on ``server`` (in a daemon thread) until it is closed."""

    def run() -> None:
        while True:
            try:
                s, _ = server.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns.append(Conn(s, inbox, "incoming"))

    threading.Thread(target=run, daemon=True, name="accept").start()


class Faults:
    """Drops or delays outgoing messages, reproducibly for a seed and a node name."""

    def __init__(self, drop: float = 0.0, delay_ms: float = 0.0, seed: int = 0,
                 node: str = "", on_drop: Callable[[Mapping[str, Any]], None] | None = None):
        if not 0.0 <= drop < 1.0:
            raise ValueError("the drop probability must be in [0, 1)")
        self.drop = drop
        self.delay = max(0.0, delay_ms) / 1000.0
        self.rng = random.Random(f"{seed}:{node}")
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self.dropped = 0
        self.on_drop = on_drop

    def send(self, conn: Conn, msg: Mapping[str, Any]) -> str:
        """Send ``msg`` on ``conn``, or drop it, or send it later: returns what happened
        ("sent", "dropped", "delayed" or "failed")."""
        with self._lock:
            lost = self.rng.random() < self.drop
            wait = self.rng.uniform(0.0, self.delay) if self.delay else 0.0
            if lost:
                self.dropped += 1
        if lost:
            if self.on_drop is not None:
                self.on_drop(msg)
            return "dropped"
        if wait > 0:
            t = threading.Timer(wait, conn.send, (dict(msg),))
            t.daemon = True
            with self._lock:
                self._timers.append(t)
            t.start()
            return "delayed"
        return "sent" if conn.send(msg) else "failed"

    def drain(self, timeout: float = 2.0) -> None:
        """Wait (a bounded time) until the delayed messages have been sent."""
        end = time.monotonic() + timeout
        with self._lock:
            timers = list(self._timers)
        for t in timers:
            t.join(max(0.0, end - time.monotonic()))


# ----------------------------------------------------------------------- tracing
class AppLog:
    """A general application log: ``DATE TIME LEVEL component: text`` lines, some of
    them JSON objects (``"kind": "trace"`` for the events, ``"kind": "debug"`` for
    others), appended by several processes to one file (one write per line)."""

    def __init__(self, path: str | os.PathLike):
        self.fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def line(self, level: str, component: str, payload: str | Mapping[str, Any]) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        data = f"{stamp} {level} {component}: {text}\n".encode()
        with self._lock:
            os.write(self.fd, data)

    def close(self) -> None:
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class Tracer:
    """What one process records.

    ``log="jsonl"``: trace events named after the spec's actions, written with
    ``checker.trace.recorder`` at ``detail`` "names" (the event name only), "args" (and
    its arguments) or "state" (and the values of the spec's variables this process
    can see after the step). ``layout="file"``: every process appends to the one file
    ``out``; ``layout="nodes"``: ``out`` is a directory with one file per node, and
    every event and message carries a vector clock so the validator can merge them.

    ``log="app"``: an application log (``AppLog``) with natural event names; a mapping
    file says how they are the spec's actions."""

    def __init__(self, node: str, out: str | os.PathLike, *, layout: str = "file",
                 detail: str = "state", log: str = "jsonl",
                 header: Mapping[str, Any] | None = None):
        if detail not in DETAILS:
            raise ValueError(f"detail must be one of {', '.join(DETAILS)}")
        if layout not in ("file", "nodes"):
            raise ValueError("layout must be file or nodes")
        if log not in ("jsonl", "app"):
            raise ValueError("log must be jsonl or app")
        self.node, self.detail, self.log = node, detail, log
        self.rec: Recorder | None = None
        self.app: AppLog | None = None
        self.clocks = layout == "nodes" and log == "jsonl"
        if log == "app":
            self.app = AppLog(out)
        elif layout == "nodes":
            self.rec = Recorder(out, node=node, clock=True, header=header)
        else:
            self.rec = Recorder(file=out, header=header)

    def event(self, name: str | None, args: Mapping[str, Any] | None = None,
              state: Mapping[str, Any] | None = None, *,
              app: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Record the spec action ``name(args)`` (JSON Lines), or, in an application log,
        the natural event ``app = (what, fields)``. ``name=None``: an event that only
        the application log has (not a step of the spec)."""
        if self.app is not None:
            if app is not None:
                what, fields = app
                self.app.line("INFO", self.node, {"kind": "trace", "host": self.node,
                                                  "time": time.time(),
                                                  "msg": {"what": what, **fields}})
            return
        if name is None:
            return
        assert self.rec is not None
        if self.detail == "names":
            self.rec.record(name, node=self.node)
        elif self.detail == "args":
            self.rec.record(name, dict(args or {}), node=self.node)
        else:
            self.rec.record(name, dict(args or {}), node=self.node, state=state)

    def debug(self, text: str | Mapping[str, Any], level: str = "DEBUG") -> None:
        """A line of the application log that is not a trace event (nothing in JSON
        Lines mode)."""
        if self.app is not None:
            self.app.line(level, self.node,
                          text if isinstance(text, str) else {"kind": "debug", **text})

    def stamp(self, msg: dict) -> dict:
        """Attach this node's vector clock to an outgoing message (layout "nodes")."""
        if self.clocks and self.rec is not None:
            msg["clock"] = self.rec.send_clock()
        return msg

    def receive(self, msg: Mapping[str, Any]) -> None:
        """Merge the vector clock an incoming message carries (layout "nodes")."""
        if self.clocks and self.rec is not None and isinstance(msg.get("clock"), dict):
            self.rec.receive_clock(msg["clock"])

    def close(self) -> None:
        if self.rec is not None:
            self.rec.close()
        if self.app is not None:
            self.app.close()


def prepare_output(out: str | os.PathLike, layout: str, header: Mapping[str, Any] | None,
                   log: str = "jsonl") -> None:
    """Start a fresh recording at ``out``: an empty file (with the header line) for one
    shared file, or an empty directory (its old *.jsonl files removed) for per-node
    files (the node that holds the header writes it)."""
    out = Path(out)
    if layout == "nodes" and log == "jsonl":
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.jsonl"):
            old.unlink()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if header is None:
        out.write_text("")
    elif log == "app":
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        out.write_text(f"{stamp} INFO launcher: "
                       f"{json.dumps({'kind': 'trace', 'header': header})}\n")
    else:
        out.write_text(json.dumps({"header": header}) + "\n")


# ------------------------------------------------------------------ child side
def child_setup(deadline_s: float) -> float:
    """In a child process: exit when the launcher goes away (standard input closes) or
    after ``deadline_s`` seconds, whatever the main loop is doing. Returns the time at
    which the main loop must stop by itself."""
    start = time.monotonic()

    def watch_stdin() -> None:
        try:   # the raw descriptor: a buffered read would block interpreter shutdown
            while os.read(0, 1024):
                pass
        except OSError:
            pass
        os._exit(3)

    def watchdog() -> None:
        time.sleep(deadline_s + 2.0)
        os._exit(4)

    threading.Thread(target=watch_stdin, daemon=True, name="stdin").start()
    threading.Thread(target=watchdog, daemon=True, name="watchdog").start()
    return start + deadline_s


_STDOUT = threading.Lock()


def report_drop(msg: Mapping[str, Any]) -> None:
    """In a child: tell the launcher a message was dropped (``Faults(on_drop=...)``), at
    once, so that the count survives the process being killed."""
    with _STDOUT:
        sys.stdout.write(f"DROPPED {msg.get('type', '?')}\n")
        sys.stdout.flush()


def announce(port: int) -> None:
    """Tell the launcher which port this process listens on."""
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()


def crash_now() -> None:
    """Fault injection: die at once, as a crash would (SIGKILL: no cleanup, no atexit).
    Trace lines already written stay (the recorder writes each one at once)."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # pragma: no cover (never reached)


def recv(inbox: queue.Queue, timeout: float) -> tuple[Conn | None, dict | None]:
    """The next message, or (None, None) after ``timeout`` seconds."""
    try:
        return inbox.get(timeout=max(0.0, timeout))
    except queue.Empty:
        return None, None


# ------------------------------------------------------------------ launcher side
class Cluster:
    """Starts child processes (``python -m module args``) and always cleans them up.

    Use as a context manager: on exit every child still running gets SIGTERM, then
    SIGKILL after a grace period, and is waited for."""

    def __init__(self, verbose: bool = False):
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.verbose = verbose
        self._lines: dict[str, queue.Queue] = {}
        self._sockets: dict[str, socket.socket] = {}
        self.dropped = 0          # messages the children dropped (fault injection)
        self._count = threading.Lock()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_all()

    def listen_for(self, name: str) -> tuple[int, int]:
        """A listening socket on 127.0.0.1 for the child ``name`` to come, made here so
        that its peers can be told the port before it has started: returns (port, fd);
        pass ``--listen-fd FD`` to the child, and it is handed over at ``start``."""
        s = listen()
        self._sockets[name] = s
        self.ports[name] = s.getsockname()[1]
        return self.ports[name], s.fileno()

    def start(self, name: str, module: str, args: Sequence[str]) -> subprocess.Popen:
        sock = self._sockets.pop(name, None)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.setdefault("PYTHONHASHSEED", "0")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=str(ROOT), env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=None if self.verbose else subprocess.DEVNULL,
            pass_fds=(sock.fileno(),) if sock is not None else ())
        if sock is not None:
            sock.close()          # the child has its own copy
        self.procs[name] = proc
        lines: queue.Queue = queue.Queue()
        self._lines[name] = lines

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("DROPPED"):
                    with self._count:
                        self.dropped += 1
                else:
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True, name=f"out-{name}").start()
        return proc

    def wait_ready(self, name: str, timeout: float = 15.0) -> int:
        """The port ``name`` announced (``READY <port>`` on its standard output)."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._lines[name].get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{name} did not start within {timeout:.0f} s") from None
            if line is None:
                raise RuntimeError(f"{name} exited before it was ready "
                                   f"(exit status {self.procs[name].wait()})")
            if line.startswith("READY "):
                self.ports[name] = int(line.split()[1])
                return self.ports[name]

    def result_of(self, name: str, timeout: float = 1.0) -> dict | None:
        """The ``RESULT {...}`` a child printed before exiting (None if it printed none,
        e.g. because it was killed)."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._lines[name].get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                return None
            if line is None:
                return None
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def kill(self, name: str, timeout: float = 5.0) -> int | None:
        """SIGKILL one child and wait until it is gone."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.kill()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover
            return None

    def wait_all(self, timeout: float) -> dict[str, int | None]:
        """Wait (until ``timeout`` seconds from now) for every child to exit."""
        end = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=max(0.01, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[name] = None
        return codes

    def stop_all(self, grace: float = 2.0) -> None:
        for s in self._sockets.values():
            s.close()
        self._sockets.clear()
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    proc.terminate()
                except OSError:  # pragma: no cover
                    pass
        end = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.01, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for proc in self.procs.values():
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:  # pragma: no cover
                        pass


def parse_kill(spec: str | None, default_at: str) -> tuple[str | None, str]:
    """``NAME`` or ``NAME@POINT`` (for ``--kill``)."""
    if not spec:
        return None, default_at
    name, _, at = spec.partition("@")
    return name, at or default_at


def add_child_args(p: Any) -> None:
    """The options every child process takes (the launcher passes them on)."""
    p.add_argument("--out", required=True)
    p.add_argument("--layout", choices=("file", "nodes"), default="file")
    p.add_argument("--detail", choices=DETAILS, default="state")
    p.add_argument("--log", choices=("jsonl", "app"), default="jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0, help="most milliseconds of delay")
    p.add_argument("--deadline", type=float, default=20.0,
                   help="seconds after which the process stops, whatever happens")
    p.add_argument("--listen-fd", type=int, default=None,
                   help="a listening socket made by the launcher")


def child_args(a: Any) -> list[str]:
    """The options of ``add_child_args`` as a command line, from the launcher's."""
    return ["--out", str(a.out), "--layout", a.layout, "--detail", a.detail, "--log", a.log,
            "--seed", str(a.seed), "--drop", str(a.drop), "--delay", str(a.delay),
            "--deadline", str(a.deadline)]


def result(obj: Mapping[str, Any]) -> None:
    """A child's last word to the launcher (``RESULT {...}`` on standard output)."""
    sys.stdout.write("RESULT " + json.dumps(obj) + "\n")
    sys.stdout.flush()
