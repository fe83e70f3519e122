"""The 2PC coordinator (the transaction manager, ``tm``): one OS process.

It listens on an ephemeral port of 127.0.0.1, waits until every participant has said
HELLO, sends PREPARE to each, and collects the votes (``TMRcvPrepared`` for each yes).
It commits (``TMCommit``) when every participant voted yes; it aborts (``TMAbort``) on a
no vote, on a participant that disconnects before voting, or when the votes do not all
come within ``--rounds`` rounds of ``--round-timeout`` seconds (PREPARE is sent again in
each round, to those that have not voted). It then sends the decision to everyone,
answers QUERY messages, and resends the decision until every participant that is still
there has acknowledged it (DONE), a bounded number of times.

Deliberate bugs (``--bug``):
  early-commit  commit as soon as the first yes vote is in, before every participant
                has voted yes;
  no-as-yes     count a no vote as a yes vote.

Run by ``python -m examples.twopc.run``; not meant to be started by hand.
"""

from __future__ import annotations

import argparse
import json
import queue
import time

from examples.common import (
    Conn,
    Faults,
    Tracer,
    accept_loop,
    add_child_args,
    announce,
    child_setup,
    listener,
    recv,
    report_drop,
    result,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="examples.twopc.coordinator")
    p.add_argument("--participants", required=True, help="names, comma-separated")
    p.add_argument("--bug", choices=("none", "early-commit", "no-as-yes"), default="none")
    p.add_argument("--round-timeout", type=float, default=0.3)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--register-timeout", type=float, default=15.0)
    p.add_argument("--header", default=None, help="a JSON header for this node's file")
    add_child_args(p)
    a = p.parse_args(argv)
    stop_at = child_setup(a.deadline)
    names = [n for n in a.participants.split(",") if n]
    header = json.loads(a.header) if a.header else None
    tr = Tracer("tm", a.out, layout=a.layout, detail=a.detail, log=a.log, header=header)
    net = Faults(a.drop, a.delay, a.seed, "tm", on_drop=report_drop)
    inbox: queue.Queue = queue.Queue()
    server = listener(a.listen_fd)
    incoming: list[Conn] = []
    accept_loop(server, inbox, incoming)
    announce(server.getsockname()[1])
    tr.debug(f"listening on 127.0.0.1:{server.getsockname()[1]}", "INFO")

    conns: dict[str, Conn] = {}
    gone: set[str] = set()

    def who(conn: Conn) -> str | None:
        return next((n for n, c in conns.items() if c is conn), None)

    def send(name: str, msg: dict) -> None:
        if name in gone:
            return
        if net.send(conns[name], tr.stamp(msg)) == "dropped":
            tr.debug({"event": "dropped", "msg": msg["type"], "to": name})

    # 1. Registration: every participant connects and says HELLO.
    reg_end = min(stop_at, time.monotonic() + a.register_timeout)
    while len(conns) < len(names) and time.monotonic() < reg_end:
        conn, msg = recv(inbox, reg_end - time.monotonic())
        if conn is not None and msg is not None and msg.get("type") == "HELLO":
            tr.receive(msg)
            conns[msg["from"]] = conn
    for n in names:
        if n not in conns:
            gone.add(n)         # never showed up: it cannot vote yes
            tr.debug(f"{n} never connected", "WARNING")

    # 2. Voting.
    prepared: set[str] = set()
    decision: bool | None = None
    if gone:
        decision = False
    rounds = 0
    while decision is None and rounds < a.rounds and time.monotonic() < stop_at:
        rounds += 1
        for n in names:
            if n not in prepared:
                send(n, {"type": "PREPARE"})
        round_end = min(stop_at, time.monotonic() + a.round_timeout)
        voted: set[str] = set()
        while decision is None and time.monotonic() < round_end:
            conn, msg = recv(inbox, round_end - time.monotonic())
            if conn is None:
                break
            n = who(conn)
            if n is None:
                continue
            if msg is None:
                gone.add(n)
                if n not in prepared and n not in voted:
                    tr.debug(f"{n} disconnected before voting", "WARNING")
                    decision = False
                continue
            tr.receive(msg)
            if msg.get("type") != "VOTE":
                continue
            voted.add(n)
            yes = msg["yes"] or a.bug == "no-as-yes"
            if yes and n not in prepared:
                prepared.add(n)
                tr.event("TMRcvPrepared", {"r": n}, {"tmPrepared": sorted(prepared)},
                         app=("got_vote", {"from": n, "vote": "yes"}))
                if a.bug == "early-commit" or prepared == set(names):
                    decision = True
            elif not yes:
                tr.event(None, app=("got_no_vote", {"from": n}))
                decision = False
    if decision is None:
        tr.debug(f"votes missing after {rounds} rounds: aborting", "WARNING")
        tr.event(None, app=("timeout", {"missing": sorted(set(names) - prepared)}))
        decision = False

    # 3. The decision, sent to everyone until each acknowledges it.
    state = "committed" if decision else "aborted"
    tr.event("TMCommit" if decision else "TMAbort", None, {"tmState": state},
             app=("decide", {"decision": state}))
    done: set[str] = set()
    for n in names:
        send(n, {"type": "DECISION", "commit": decision})
    resends = 0
    next_resend = time.monotonic() + a.round_timeout
    while done | gone < set(names) and time.monotonic() < stop_at:
        conn, msg = recv(inbox, next_resend - time.monotonic())
        if conn is None:
            if resends >= a.rounds:
                break
            resends += 1
            next_resend = time.monotonic() + a.round_timeout
            for n in set(names) - done - gone:
                send(n, {"type": "DECISION", "commit": decision})
            continue
        n = who(conn)
        if n is None:
            continue
        if msg is None:
            gone.add(n)
            continue
        tr.receive(msg)
        if msg.get("type") == "DONE":
            done.add(n)
        elif msg.get("type") == "QUERY":
            send(n, {"type": "DECISION", "commit": decision})
    net.drain()
    server.close()
    for c in conns.values():
        c.close()
    tr.close()
    result({"node": "tm", "decision": state, "prepared": sorted(prepared),
            "acknowledged": sorted(done), "dropped": net.dropped})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
