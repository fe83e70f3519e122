"""Trace validation throughput (the figures in docs/traces.md).

    python benchmarks/bench_trace.py [--events N] [--repeat R]

* fully observed: random walks of the explicit engine written as JSON Lines with the
  action, its arguments and the whole state after each step; figure: events per second
  (the whole of ``validate``: reading, parsing, mapping, matching);
* partially observed: the same walks with event names only (no arguments, no state),
  so the candidate set grows; figure: candidate (state, action, arguments) evaluations
  per second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checker.api import load_spec  # noqa: E402
from checker.result import Status  # noqa: E402
from checker.trace import report_of, validate  # noqa: E402
from checker.values import to_json  # noqa: E402

RING = """
spec Ring
const Node = {n1, n2, n3, n4, n5}
const K = 7
var holder: Node
var count: map[Node, 0..K]
var sent: set[Node]
init:
    holder = n1
    count = {n: 0 for n in Node}
    sent = {}
action Pass(from in Node, to in Node):
    require holder == from and to != from
    holder = to
    count[from] = (count[from] + 1) % (K + 1)
    sent = sent | {from}
action Reset(n in Node):
    require n in sent
    sent = sent - {n}
"""


def walk(compiled, n: int, seed: int, level: str) -> list[str]:
    rng = random.Random(seed)
    m = compiled.model
    s = m.initial_states()[0]
    params = {a.name: [b.local.name for b in a.params] for a in compiled.typed.actions}
    out = []
    for _ in range(n):
        steps = m.steps(s)
        if not steps:
            break
        st = rng.choice(steps)
        ev: dict = {"event": st.action}
        if level != "names":
            ev["args"] = {p: to_json(v) for p, v in zip(params[st.action], st.args)}
        if level == "full":
            ev["state"] = {k: to_json(v) for k, v in m.decode(st.state).items()}
        out.append(json.dumps(ev))
        s = st.state
    return out


def run(compiled, lines: list[str], repeat: int, **kw) -> tuple[float, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        best, result = float("inf"), None
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = validate(compiled, path, **kw)
            best = min(best, time.perf_counter() - t0)
        return best, result
    finally:
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    specs = {
        "ring (5 nodes)": load_spec("ring.spec", text=RING),
        "paxos": load_spec(str(ROOT / "specs" / "paxos.spec")),
        "2pc": load_spec(str(ROOT / "specs" / "2pc.spec")),
    }
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("\nFully observed (action, arguments, whole state after each step):")
    for name, c in specs.items():
        lines = walk(c, a.events, 1, "full")
        t, r = run(c, lines, a.repeat)
        assert r.status is Status.OK, r
        print(f"  {name:16} {len(lines):6} events  {t:7.3f} s  {len(lines) / t:10,.0f} events/s")
    print("\nPartially observed (event names only):")
    for name, c, n, cap in (("ring (5 nodes)", specs["ring (5 nodes)"], 12, 1_000_000),
                            ("paxos", specs["paxos"], 20, 1_000_000),
                            ("2pc", specs["2pc"], 40, 1_000_000)):
        lines = walk(c, n, 2, "names")
        t, r = run(c, lines, a.repeat, max_candidates=cap)
        fig = report_of(r)["figures"]
        ev = fig["evaluations"]
        print(f"  {name:16} {len(lines):6} events  {t:7.3f} s  max {fig['max_candidates']:7,} "
              f"candidates  {ev:10,} evaluations  {ev / t:10,.0f} evaluations/s  "
              f"({r.status.value})")


if __name__ == "__main__":
    main()
