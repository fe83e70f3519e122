"""Independent, deliberately naive transcriptions of the classic TLA+ models (TwoPhase.tla
and Lamport's Paxos.tla) as plain Python, used to cross-check the compiled specs' state
counts. They share no code with the checker: frozensets and dicts, no packing."""

from __future__ import annotations

from itertools import combinations


def bfs(init, next_states):
    seen = set(init)
    frontier = list(init)
    generated = len(init)
    while frontier:
        nxt = []
        for s in frontier:
            for t in next_states(s):
                generated += 1
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    return len(seen), generated


def two_phase(n_rm: int):
    rms = range(n_rm)

    def upd(t, i, v):
        return t[:i] + (v,) + t[i + 1:]

    init = [(("working",) * n_rm, "init", frozenset(), frozenset())]

    def next_states(s):
        rm_state, tm_state, tm_prepared, msgs = s
        out = []
        for rm in rms:
            if tm_state == "init" and ("Prepared", rm) in msgs:
                out.append((rm_state, tm_state, tm_prepared | {rm}, msgs))
        if tm_state == "init" and tm_prepared == frozenset(rms):
            out.append((rm_state, "committed", tm_prepared, msgs | {("Commit",)}))
        if tm_state == "init":
            out.append((rm_state, "aborted", tm_prepared, msgs | {("Abort",)}))
        for rm in rms:
            if rm_state[rm] == "working":
                out.append((upd(rm_state, rm, "prepared"), tm_state, tm_prepared,
                            msgs | {("Prepared", rm)}))
        for rm in rms:
            if rm_state[rm] == "working":
                out.append((upd(rm_state, rm, "aborted"), tm_state, tm_prepared, msgs))
        for rm in rms:
            if ("Commit",) in msgs:
                out.append((upd(rm_state, rm, "committed"), tm_state, tm_prepared, msgs))
        for rm in rms:
            if ("Abort",) in msgs:
                out.append((upd(rm_state, rm, "aborted"), tm_state, tm_prepared, msgs))
        return out

    return bfs(init, next_states)


def paxos(n_acc: int, n_val: int, max_ballot: int):
    accs = range(n_acc)
    vals = range(n_val)
    ballots = range(max_ballot + 1)
    quorums = [frozenset(q) for k in range(n_acc + 1) for q in combinations(accs, k)
               if 2 * k > n_acc]

    def upd(t, i, v):
        return t[:i] + (v,) + t[i + 1:]

    init = [((-1,) * n_acc, (-1,) * n_acc, (None,) * n_acc, frozenset())]

    def next_states(s):
        max_bal, max_vbal, max_val, msgs = s
        out = []
        for b in ballots:  # Phase1a(b)
            out.append((max_bal, max_vbal, max_val, msgs | {("1a", b)}))
        for b in ballots:  # Phase2a(b, v)
            for v in vals:
                if any(m[0] == "2a" and m[1] == b for m in msgs):
                    continue
                for q in quorums:
                    q1b = [m for m in msgs if m[0] == "1b" and m[2] in q and m[1] == b]
                    q1bv = [m for m in q1b if m[3] >= 0]
                    if not all(any(m[2] == a for m in q1b) for a in q):
                        continue
                    if q1bv and not any(m[4] == v and all(m[3] >= mm[3] for mm in q1bv)
                                        for m in q1bv):
                        continue
                    out.append((max_bal, max_vbal, max_val, msgs | {("2a", b, v)}))
        for a in accs:  # Phase1b(a)
            for m in msgs:
                if m[0] == "1a" and m[1] > max_bal[a]:
                    out.append((upd(max_bal, a, m[1]), max_vbal, max_val,
                                msgs | {("1b", m[1], a, max_vbal[a], max_val[a])}))
        for a in accs:  # Phase2b(a)
            for m in msgs:
                if m[0] == "2a" and m[1] >= max_bal[a]:
                    out.append((upd(max_bal, a, m[1]), upd(max_vbal, a, m[1]),
                                upd(max_val, a, m[2]), msgs | {("2b", m[1], a, m[2])}))
        return out

    return bfs(init, next_states)


if __name__ == "__main__":
    print("TwoPhase 3", two_phase(3))
    print("Paxos 3/2/1", paxos(3, 2, 1))
    print("Paxos 3/2/2", paxos(3, 2, 2))
