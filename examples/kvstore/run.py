"""Run a workload on the replicated key-value store with real processes; record its trace.

    python -m examples.kvstore.run --nodes 3 --writes 3 --out traces/recorded/kvstore_ok.jsonl
    python -m examples.kvstore.run --kill primary@2 --drop 0.1 --out /tmp/kv.jsonl --validate
    python -m examples.kvstore.run --bug ack-before-replicate --kill primary@2 --out /tmp/b.jsonl

Starts the nodes ``n1`` ... ``nN`` (``n1`` the first primary) as separate OS processes,
listening on 127.0.0.1. This process is the client (it writes ``w1`` ... ``wK``, one key
each, one after the other, retrying a write that is not acknowledged in time) and the
membership service (it kills nodes on request, records the crash, and installs the new
view: a crashed backup is removed, a crashed primary replaced by a live backup). At the
end it reads every acknowledged key back from the current primary and reports the
acknowledged writes that were lost.

The trace (``--out``) uses the actions of examples/kvstore/kvstore.spec, so
``modelcheck trace examples/kvstore/kvstore.spec FILE`` needs no mapping; ``--detail``
and ``--layout`` as in ``examples.twopc.run``.

Faults: ``--kill NODE@J`` (``NODE`` is n1..nN or ``primary``; killed with SIGKILL once the
client is done with J writes, each acknowledged or given up; repeatable), ``--drop P``,
``--delay MS`` (client, primary and backup messages). Bug: ``--bug ack-before-replicate``
(the primary acknowledges a write before replicating it; with ``--kill primary@J`` the
failover loses acknowledged writes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import queue
import sys
import time
from pathlib import Path
from typing import Any

from examples.common import (
    DETAILS,
    ROOT,
    Cluster,
    Conn,
    Faults,
    Tracer,
    child_args,
    connect,
    parse_kill,
    prepare_output,
)

SPEC = ROOT / "examples" / "kvstore" / "kvstore.spec"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m examples.kvstore.run",
                                description="Run a workload on the replicated key-value "
                                "store and record its trace.")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--writes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/kvstore.jsonl",
                   help="the trace file (a directory with --layout nodes)")
    p.add_argument("--layout", choices=("file", "nodes"), default="file")
    p.add_argument("--detail", choices=DETAILS, default="state")
    p.add_argument("--bug", choices=("none", "ack-before-replicate"), default="none")
    p.add_argument("--kill", action="append", default=[],
                   help="NODE@J: kill NODE (n1..nN, or primary) once the client is done "
                   "with J writes (repeatable)")
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0, help="most milliseconds of delay")
    p.add_argument("--put-timeout", type=float, default=0.3)
    p.add_argument("--put-tries", type=int, default=10)
    p.add_argument("--lazy-ms", type=float, default=300.0,
                   help="with the bug: how long the primary waits before replicating")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds after which every process stops")
    p.add_argument("--validate", action="store_true", help="validate the trace afterwards")
    p.add_argument("--check-invariants", action="store_true",
                   help="with --validate: check NoAckedWriteLost on every matched state")
    p.add_argument("--const", action="append", default=[],
                   help="with --validate: a constant of the spec (e.g. AckBeforeReplicate=1)")
    p.add_argument("--verbose", action="store_true", help="show the processes' stderr")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


class Client:
    """Requests with an id over the launcher's connections; replies matched by id."""

    def __init__(self, tracer: Tracer, faults: Faults):
        self.inbox: queue.Queue = queue.Queue()
        self.tr = tracer
        self.net = faults
        self.ids = itertools.count(1)

    def connect(self, port: int, name: str) -> Conn:
        return Conn(connect(port), self.inbox, name)

    def request(self, conn: Conn, msg: dict, *, timeout: float, tries: int = 1,
                reliable: bool = True) -> dict | None:
        """Send ``msg`` (again after each ``timeout``, ``tries`` times in all) and wait
        for the reply with its id; None if none came."""
        rid = next(self.ids)
        for _ in range(tries):
            out = self.tr.stamp({**msg, "rid": rid})
            if reliable:
                if not conn.send(out):
                    return None
            else:
                self.net.send(conn, out)
            end = time.monotonic() + timeout
            while True:
                try:
                    c, reply = self.inbox.get(timeout=max(0.0, end - time.monotonic()))
                except queue.Empty:
                    break
                if reply is None:
                    if c is conn:
                        return None   # that node is gone
                    continue
                if reply.get("rid") == rid:
                    self.tr.receive(reply)
                    return reply
        return None


def record(argv: list[str]) -> dict[str, Any]:
    """Run the workload as ``argv`` says; returns a summary (the writes acknowledged and
    lost, what each node did, the trace files)."""
    a = parser().parse_args(argv)
    a.deadline = a.timeout
    a.log = "jsonl"
    names = [f"n{i}" for i in range(1, a.nodes + 1)]
    writes = [f"w{i}" for i in range(1, a.writes + 1)]
    kills: dict[int, list[str]] = {}
    for k in a.kill:
        node, at = parse_kill(k, "0")
        if (node not in names and node != "primary") or not at.isdigit():
            raise SystemExit(f"error: --kill {k}: expected NODE@J with NODE in n1..n{a.nodes} "
                             "or primary, and J a number of writes")
        kills.setdefault(int(at), []).append(node)
    header = {"constants": {"Nodes": names, "Writes": writes}}
    out = Path(a.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    a.out = str(out)
    prepare_output(out, a.layout, header)
    started = time.monotonic()
    tr = Tracer("view", out, layout=a.layout, detail=a.detail,
                header=header if a.layout == "nodes" else None)
    client = Client(tr, Faults(a.drop, a.delay, a.seed, "client"))
    acked: list[str] = []
    unacked: list[str] = []
    events: list[str] = []
    primary, view = names[0], list(names)
    try:
        with Cluster(verbose=a.verbose) as cluster:
            ports = {}
            for n in names:
                port, fd = cluster.listen_for(n)
                ports[n] = port
                cluster.start(n, "examples.kvstore.node",
                              ["--name", n, "--bug", a.bug, "--lazy-ms", str(a.lazy_ms),
                               "--listen-fd", str(fd), *child_args(a)])
            control = {n: client.connect(ports[n], n) for n in names}
            for n in names:
                reply = client.request(control[n], {"type": "CONFIG", "peers": ports,
                                                    "primary": primary, "view": view},
                                       timeout=15.0)
                if reply is None:
                    raise RuntimeError(f"{n} did not start")
            to_primary = client.connect(ports[primary], "primary")

            def crash(target: str) -> None:
                nonlocal primary, view, to_primary
                node = primary if target == "primary" else target
                if not cluster.alive(node):
                    return
                cluster.kill(node)
                events.append(f"killed {node}")
                tr.event("Crash", {"n": node}, {f"up[{node}]": False})
                if node not in view:
                    return
                if node == primary:
                    live = [b for b in view if b != node and cluster.alive(b)]
                    if not live:
                        events.append("no live backup to promote")
                        return
                    primary = live[0]
                    view = [b for b in view if b != node]
                    tr.event("Promote", {"b": primary}, {"primary": primary, "view": view})
                    events.append(f"promoted {primary}")
                else:
                    view = [b for b in view if b != node]
                    tr.event("RemoveBackup", {"b": node}, {"view": view})
                    events.append(f"removed {node} from the view")
                for n in view:
                    client.request(control[n], {"type": "NEWVIEW", "primary": primary,
                                                "view": view}, timeout=5.0)
                to_primary.close()
                to_primary = client.connect(ports[primary], "primary")

            for i, w in enumerate(writes):
                for target in kills.get(i, []):
                    crash(target)
                reply = client.request(to_primary, {"type": "PUT", "w": w, "key": f"k{i + 1}",
                                                    "value": f"v{i + 1}.{a.seed}"},
                                       timeout=a.put_timeout, tries=a.put_tries,
                                       reliable=False)
                (acked if reply is not None and reply["type"] == "OK" else unacked).append(w)
            for target in kills.get(len(writes), []):
                crash(target)
            time.sleep(0.05 + a.delay / 1000.0)

            # Read every acknowledged write back from the current primary.
            lost = []
            for w in acked:
                i = writes.index(w)
                got = client.request(to_primary, {"type": "GET", "key": f"k{i + 1}"},
                                     timeout=2.0)
                if got is None or got.get("w") != w:
                    lost.append(w)
            for n in names:
                if cluster.alive(n):
                    client.request(control[n], {"type": "STOP"}, timeout=2.0)
            codes = cluster.wait_all(5.0)
            results = {n: cluster.result_of(n, 0.2) for n in names}
            dropped = cluster.dropped
    finally:
        tr.close()
    files = sorted(str(p) for p in out.glob("*.jsonl")) if a.layout == "nodes" else [str(out)]
    return {"acknowledged": acked, "unacknowledged": unacked, "lost": lost,
            "primary": primary, "view": view, "events": events,
            "nodes": {n: results[n] or {"killed": True} for n in names},
            "dropped": client.net.dropped + dropped,
            "exit_codes": codes, "files": files, "merge": a.layout == "nodes",
            "seconds": round(time.monotonic() - started, 2)}


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(argv)
    summary = record(argv)
    if a.json:
        print(json.dumps(summary, indent=2))
    else:
        for e in summary["events"]:
            print(e)
        print(f"acknowledged: {', '.join(summary['acknowledged']) or '-'}"
              f"   unacknowledged: {', '.join(summary['unacknowledged']) or '-'}")
        print(f"primary: {summary['primary']}   view: {', '.join(summary['view'])}"
              f"   messages dropped: {summary['dropped']}")
        if summary["lost"]:
            print(f"LOST acknowledged writes: {', '.join(summary['lost'])}")
        else:
            print("every acknowledged write is on the primary")
        files = [_rel(f) for f in summary["files"]]
        print(f"recorded in {summary['seconds']} s: {', '.join(files)}")
        print("validate:  modelcheck trace " + " ".join(
            [str(SPEC.relative_to(ROOT)), *files] + (["--merge"] if summary["merge"] else [])))
    if not a.validate:
        return 0
    from checker.trace import trace_command
    print()
    return trace_command(_rel(str(SPEC)), [_rel(f) for f in summary["files"]],
                         merge=summary["merge"], consts=a.const,
                         check_invariants=a.check_invariants)


if __name__ == "__main__":
    raise SystemExit(main())
