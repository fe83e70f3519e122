"""A 2PC participant (a resource manager, ``r1``, ``r2``, ...): one OS process.

It connects to the coordinator over TCP (127.0.0.1), says HELLO, and waits for PREPARE.
It then votes (yes: ``RMPrepare``; no: ``RMChooseToAbort``), waits for the decision
(``RMRcvCommitMsg`` / ``RMRcvAbortMsg``), acknowledges it with DONE and exits. If no
decision comes, it asks the coordinator again (QUERY) a bounded number of times, then
gives up in doubt. Every loop is bounded by ``--deadline``.

Fault injection: ``--crash prepare`` dies (SIGKILL) on receiving PREPARE, before it
votes; ``--crash voted`` dies right after sending its vote; ``--drop``/``--delay`` drop
or delay its outgoing messages.

Run by ``python -m examples.twopc.run``; not meant to be started by hand.
"""

from __future__ import annotations

import argparse
import queue
import time

from examples.common import (
    Conn,
    Faults,
    Tracer,
    add_child_args,
    child_setup,
    connect,
    crash_now,
    recv,
    report_drop,
    result,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="examples.twopc.participant")
    p.add_argument("--name", required=True)
    p.add_argument("--port", type=int, required=True, help="the coordinator's port")
    p.add_argument("--vote", choices=("yes", "no"), default="yes")
    p.add_argument("--crash", choices=("none", "prepare", "voted"), default="none")
    p.add_argument("--query-interval", type=float, default=0.3)
    p.add_argument("--queries", type=int, default=5)
    add_child_args(p)
    a = p.parse_args(argv)
    stop_at = child_setup(a.deadline)
    me = a.name
    tr = Tracer(me, a.out, layout=a.layout, detail=a.detail, log=a.log)
    net = Faults(a.drop, a.delay, a.seed, me, on_drop=report_drop)
    inbox: queue.Queue = queue.Queue()
    coord = Conn(connect(a.port), inbox, "coordinator")
    tr.debug(f"connected to the coordinator at 127.0.0.1:{a.port}", "INFO")
    coord.send(tr.stamp({"type": "HELLO", "from": me}))   # connection set-up: never dropped

    state = "working"          # working | prepared | aborted | committed
    voted = False
    outcome = "in-doubt"
    queries = 0
    last_heard = time.monotonic()

    def send(msg: dict) -> None:
        what = net.send(coord, tr.stamp(msg))
        if what == "dropped":
            tr.debug({"event": "dropped", "msg": msg["type"]})

    while time.monotonic() < stop_at:
        conn, msg = recv(inbox, min(a.query_interval, stop_at - time.monotonic()))
        if conn is None:
            if voted and outcome == "in-doubt" and time.monotonic() - last_heard >= \
                    a.query_interval:
                if queries >= a.queries:
                    tr.debug("no decision: giving up in doubt", "WARNING")
                    break
                queries += 1
                last_heard = time.monotonic()
                tr.event(None, app=("query", {"attempt": queries}))
                send({"type": "QUERY", "from": me})
            continue
        if msg is None:              # the coordinator is gone
            tr.debug("the coordinator closed the connection", "WARNING")
            break
        tr.receive(msg)
        last_heard = time.monotonic()
        kind = msg.get("type")
        if kind == "PREPARE":
            if a.crash == "prepare":
                crash_now()
            if not voted:
                voted = True
                if a.vote == "yes":
                    state = "prepared"
                    tr.event("RMPrepare", {"r": me}, {f"rmState[{me}]": state},
                             app=("vote", {"vote": "yes", "state": state}))
                else:
                    state = "aborted"
                    tr.event("RMChooseToAbort", {"r": me}, {f"rmState[{me}]": state},
                             app=("vote", {"vote": "no", "state": state}))
            send({"type": "VOTE", "from": me, "yes": state == "prepared"})
            if a.crash == "voted":
                time.sleep(0.05)     # let the vote leave (unless it is delayed)
                crash_now()
        elif kind == "DECISION":
            if outcome == "in-doubt":
                outcome = state = "committed" if msg["commit"] else "aborted"
                if msg["commit"]:
                    tr.event("RMRcvCommitMsg", {"r": me}, {f"rmState[{me}]": state},
                             app=("learn", {"outcome": state}))
                else:
                    tr.event("RMRcvAbortMsg", {"r": me}, {f"rmState[{me}]": state},
                             app=("learn", {"outcome": state}))
            send({"type": "DONE", "from": me})
            break
    net.drain()                      # let a delayed DONE go
    coord.close()
    tr.close()
    result({"node": me, "state": state, "outcome": outcome, "dropped": net.dropped})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
