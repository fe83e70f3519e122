"""Symmetry micro-benchmark: the CPU time of one ``Symmetry.canonical`` call.

Collects a spec's states once, then times ``canonical`` over all of them (CPU time, best
and median of ``--repeat`` passes), and prints the time per call, calls per second and
the counts: how many states, and how many distinct representatives they map to (for the
full reachable state space that is the number of orbits, which the symmetric search must
find too: 34,113 for Paxos with ballots 0..2).

    python benchmarks/bench_symmetry.py                                # Paxos, MaxBallot=2
    python benchmarks/bench_symmetry.py --spec specs/2pc.spec --const 'RM={r1,r2,r3,r4,r5}'
    python benchmarks/bench_symmetry.py --inputs search   # the calls a symmetric search makes

``--inputs reachable`` (the default) uses every reachable state (a plain breadth-first
search without symmetry); ``--inputs search`` records the states the explicit engine
passes to ``canonical`` in a symmetric search (successors not already in the seen set).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker.api import load_spec  # noqa: E402
from checker.explore import explore  # noqa: E402
from checker.symmetry import Symmetry  # noqa: E402


def reachable(model) -> list:
    """Every reachable state, breadth-first, without symmetry."""
    seen = dict.fromkeys(model.initial_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for t in model.successors(s):
                if t not in seen:
                    seen[t] = None
                    nxt.append(t)
        frontier = nxt
    return list(seen)


def search_inputs(model, canonical) -> list:
    """The states a symmetric search asks ``canonical`` for, in order."""
    calls: list = []

    def recording(s):
        calls.append(s)
        return canonical(s)

    explore(model, canonical=recording)
    return calls


def time_pass(canonical, states: list) -> float:
    started = time.process_time()
    for s in states:
        canonical(s)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/paxos.spec")
    parser.add_argument("--const", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--inputs", choices=("reachable", "search"), default="reachable")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--faults", action="append", default=[])
    opts = parser.parse_args()

    compiled = load_spec(opts.spec, opts.const, opts.faults)
    if not compiled.typed.symmetry:
        raise SystemExit(f"{opts.spec} declares no symmetry")
    extra = 1 if compiled.max_faults is not None else 0
    started = time.process_time()
    symmetry = Symmetry(compiled.typed, compiled.universe, compiled.typed.symmetry, extra)
    setup = time.process_time() - started
    canonical = symmetry.canonical
    states = (reachable(compiled.model) if opts.inputs == "reachable"
              else search_inputs(compiled.model, canonical))
    representatives = {canonical(s) for s in states}
    times = [time_pass(canonical, states) for _ in range(opts.repeat)]
    best, median = min(times), statistics.median(times)
    print(f"{opts.spec} {' '.join(opts.const)} symmetry {', '.join(compiled.typed.symmetry)}")
    print(f"  inputs:          {opts.inputs}: {len(states):,} states, "
          f"{len(representatives):,} distinct representatives")
    print(f"  setup:           {setup * 1e3:.1f} ms CPU")
    print(f"  per call:        {best / len(states) * 1e6:.2f} us (best of {opts.repeat}), "
          f"{median / len(states) * 1e6:.2f} us (median)")
    print(f"  calls/s:         {len(states) / best:,.0f}")
    print(f"  pass CPU s:      {', '.join(f'{t:.3f}' for t in times)}")


if __name__ == "__main__":
    main()
