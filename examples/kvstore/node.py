"""A node of the replicated key-value store (``n1``, ``n2``, ...): one OS process.

Each node listens on 127.0.0.1 (a socket the launcher made, so that all start at once)
and plays the role the membership service (the launcher) gives it: primary or backup.

* Primary: on PUT (a write ``w`` of a key), it applies the write and sends REPLICATE to
  every backup of its view (``ClientWrite``); it counts their ACKs
  (``PrimaryReceiveAck``) and answers OK to the client once every backup of the view has
  the write (``AckClient``). A retried PUT of a write it has acknowledged is answered
  again; one it has not is taken again (and replicated again to the backups that have
  not confirmed it).
* Backup: on REPLICATE, it applies the write and answers ACK (``BackupReceive``).
* On NEWVIEW (after a crash), it takes the new view; a promoted backup becomes the
  primary and starts its own bookkeeping.

The deliberate bug (``--bug ack-before-replicate``): the primary answers OK as soon as
it has applied the write, and replicates it ``--lazy-ms`` later ("batching").

Run by ``python -m examples.kvstore.run``; not meant to be started by hand.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time

from examples.common import (
    Conn,
    Faults,
    Tracer,
    accept_loop,
    add_child_args,
    announce,
    child_setup,
    connect,
    listener,
    recv,
    report_drop,
    result,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="examples.kvstore.node")
    p.add_argument("--name", required=True)
    p.add_argument("--bug", choices=("none", "ack-before-replicate"), default="none")
    p.add_argument("--lazy-ms", type=float, default=300.0)
    add_child_args(p)
    a = p.parse_args(argv)
    stop_at = child_setup(a.deadline)
    me = a.name
    tr = Tracer(me, a.out, layout=a.layout, detail=a.detail, log=a.log)
    net = Faults(a.drop, a.delay, a.seed, me, on_drop=report_drop)
    inbox: queue.Queue = queue.Queue()
    server = listener(a.listen_fd)
    incoming: list[Conn] = []
    accept_loop(server, inbox, incoming)
    if a.listen_fd is None:
        announce(server.getsockname()[1])    # READY <port>, for a launcher to read

    peers: dict[str, int] = {}
    outgoing: dict[str, Conn] = {}
    primary: str | None = None
    view: list[str] = []
    kv: dict[str, tuple[str, str]] = {}          # key -> (value, write)
    applied: set[str] = set()                    # the writes this node has applied
    acked_by: dict[str, set[str]] = {}           # primary: write -> backups that have it
    pending: dict[str, list[tuple[Conn, int]]] = {}   # primary: write -> who waits for OK
    mine: set[str] = set()                       # writes this node acknowledged
    data: dict[str, tuple[str, str]] = {}        # write -> (key, value)

    def send(conn: Conn, msg: dict, reliable: bool = False) -> None:
        msg = tr.stamp(msg)
        if reliable:
            conn.send(msg)
        elif net.send(conn, msg) == "dropped":
            tr.debug({"event": "dropped", "msg": msg["type"]})

    def backup_conn(b: str) -> Conn | None:
        c = outgoing.get(b)
        if c is None or c.closed:
            try:
                c = Conn(connect(peers[b], timeout=1.0), inbox, b)
            except OSError:
                return None               # it crashed: the membership service will see
            outgoing[b] = c
        return c

    def replicate(w: str) -> None:
        key, value = data[w]
        for b in view:
            if b != me and b not in acked_by.setdefault(w, set()):
                c = backup_conn(b)
                if c is not None:
                    send(c, {"type": "REPLICATE", "src": me, "w": w, "key": key,
                             "value": value})

    def acknowledge(w: str) -> None:
        if w not in mine:
            mine.add(w)
            tr.event("AckClient", {"p": me, "w": w})
        for conn, rid in pending.pop(w, []):
            send(conn, {"type": "OK", "rid": rid, "w": w})

    def check(w: str) -> None:
        if w in pending and all(b == me or b in acked_by.get(w, set()) for b in view):
            acknowledge(w)

    def apply(w: str, key: str, value: str) -> None:
        data[w] = (key, value)
        kv[key] = (value, w)
        applied.add(w)

    control: Conn | None = None                  # the membership service's connection
    running = True
    while running and time.monotonic() < stop_at:
        conn, msg = recv(inbox, stop_at - time.monotonic())
        if msg is None:
            if conn is not None and conn is control:
                break                         # the membership service went away
            continue
        tr.receive(msg)
        kind = msg.get("type")
        if kind in ("CONFIG", "NEWVIEW"):
            control = conn
            peers.update(msg.get("peers", {}))
            was = primary
            primary, view = msg["primary"], list(msg["view"])
            if primary == me and was != me and was is not None:
                acked_by, pending = {}, {}    # promoted: fresh bookkeeping
            send(conn, {"type": kind + "_OK", "from": me, "rid": msg.get("rid")},
                 reliable=True)
            if primary == me:
                for w in list(pending):
                    check(w)                  # the view shrank: some writes may be done
        elif kind == "STOP":
            send(conn, {"type": "STOP_OK", "from": me, "rid": msg.get("rid")}, reliable=True)
            running = False
        elif kind == "PUT":
            w, rid = msg["w"], msg["rid"]
            if primary != me:
                send(conn, {"type": "ERR", "rid": rid, "reason": f"not the primary ({primary})"},
                     reliable=True)
            elif w in mine:
                send(conn, {"type": "OK", "rid": rid, "w": w})   # a retry: answer again
            else:
                apply(w, msg["key"], msg["value"])
                tr.event("ClientWrite", {"p": me, "w": w}, {f"store[{me}]": sorted(applied)})
                pending.setdefault(w, []).append((conn, rid))
                if a.bug == "ack-before-replicate":
                    acknowledge(w)
                    t = threading.Timer(a.lazy_ms / 1000.0, inbox.put,
                                        ((None, {"type": "_LAZY", "w": w}),))
                    t.daemon = True
                    t.start()
                else:
                    replicate(w)
                    check(w)
        elif kind == "_LAZY":
            replicate(msg["w"])
        elif kind == "REPLICATE":
            w, src = msg["w"], msg["src"]
            apply(w, msg["key"], msg["value"])
            tr.event("BackupReceive", {"b": me, "p": src, "w": w},
                     {f"store[{me}]": sorted(applied)})
            send(conn, {"type": "ACK", "src": me, "w": w})
        elif kind == "ACK":
            w, b = msg["w"], msg["src"]
            if primary == me and b not in acked_by.setdefault(w, set()):
                acked_by[w].add(b)
                tr.event("PrimaryReceiveAck", {"p": me, "b": b, "w": w},
                         {f"ackedBy[{w}]": sorted(acked_by[w])})
                check(w)
        elif kind == "GET":
            value, w = kv.get(msg["key"], (None, None))
            send(conn, {"type": "VALUE", "rid": msg["rid"], "value": value, "w": w},
                 reliable=True)
    net.drain()
    server.close()
    for c in [*incoming, *outgoing.values()]:
        c.close()
    tr.close()
    result({"node": me, "role": "primary" if primary == me else "backup",
            "applied": sorted(applied), "acknowledged": sorted(mine), "dropped": net.dropped})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
