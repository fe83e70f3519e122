"""How well a partition key divides the parallel search's work, without the noise of
processes: the partitions of ``checker.parallel`` run one after the other in this
process, phase by phase, and each one's CPU seconds are added up.

    python benchmarks/bench_partition.py specs/2pc.spec --const 'RM={r1,...,r8}'
    python benchmarks/bench_partition.py specs/2pc.spec --const ... --key tmPrepared
    python benchmarks/bench_partition.py specs/paxos.spec --workers 3

"busiest" (the largest expand + ingest total) approximates the wall time of an
N-worker run on N idle cores, minus the coordination; compare it with ``explore``'s
time on one core. Symmetry is off (the counts are the unreduced model's).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from time import process_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker.api import load_spec  # noqa: E402
from checker.explore import explore  # noqa: E402
from checker.parallel import GivenModel, ListSink, Partition, choose_key, key_names  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--const", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--inv", action="append", default=[], help="check only these properties")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--key", help="comma-separated variable names (default: choose_key's)")
    ap.add_argument("--no-explore", action="store_true", help="skip the one-process run")
    args = ap.parse_args()

    model = load_spec(args.spec, consts=args.const).model
    if args.inv:
        model = model.select_invariants(args.inv)
    gc.disable()
    if not args.no_explore:
        t = process_time()
        one = explore(model)
        print(f"explore: {process_time() - t:.2f} s CPU, {one.stats.distinct_states:,} states")
    n = args.workers
    if args.key:
        key = tuple(model.variables.index(name.strip()) for name in args.key.split(","))
    else:   # as the default run does: from the level at which it starts the workers
        from checker.explore import Handover
        from checker.parallel import HANDOVER_AT

        got = explore(model, handover_at=HANDOVER_AT)
        level = got.frontier if isinstance(got, Handover) else None
        key = choose_key(model, None, n, level=level)
    print(f"key: {key_names(model, key) if key else 'whole states'}")
    parts = [Partition(i, n, GivenModel(model, None), None, False, key) for i in range(n)]
    for p in parts:
        p.init()
    expand, ingest, sent = [0.0] * n, [0.0] * n, 0
    level = 1
    while True:
        outs = []
        for i, p in enumerate(parts):
            t = process_time()
            reply = p.expand(level, True, None, ListSink())
            expand[i] += process_time() - t
            outs.append(reply["out"])
        new = 0
        for i, p in enumerate(parts):
            batches = [b for out in outs for b in out.get(i, [])]
            sent += sum(len(b) for b in batches)
            t = process_time()
            new += p.ingest(level, True, batches)["new"]
            ingest[i] += process_time() - t
        if not new:
            break
        level += 1
    stored = [len(p.states) for p in parts]
    total = sum(stored)
    for i in range(n):
        print(f"worker {i}: expand {expand[i]:.2f} s, ingest {ingest[i]:.2f} s, "
              f"{stored[i]:,} states ({stored[i] / total:.0%})")
    busiest = max(e + g for e, g in zip(expand, ingest))
    print(f"all workers: {sum(expand) + sum(ingest):.2f} s CPU; busiest: {busiest:.2f} s; "
          f"batches sent: {sent / 1e6:.1f} MB; {total:,} states")


if __name__ == "__main__":
    main()
