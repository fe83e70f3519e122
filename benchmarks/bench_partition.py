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
from checker.parallel import (  # noqa: E402
    Balancer,
    GivenModel,
    Partition,
    _broadcast,
    _LocalWorker,
    choose_key,
    key_names,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--const", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--inv", action="append", default=[], help="check only these properties")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--key", help="comma-separated variable names (default: choose_key's)")
    ap.add_argument("--no-explore", action="store_true", help="skip the one-process run")
    ap.add_argument("--no-balance", action="store_true",
                    help="only fixed buckets (by default both, one after the other)")
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
    for label, balancing in (("fixed buckets", False), ("moving buckets", True)):
        if balancing and args.no_balance:
            continue
        parts = [Partition(i, n, GivenModel(model, None), None, False, key) for i in range(n)]
        run_partitions(label, parts, balancing)


class TimedWorker(_LocalWorker):
    """A partition in this process whose replies say how much CPU the command took."""

    def send(self, cmd, *args) -> None:
        t = process_time()
        super().send(cmd, *args)
        self.reply = dict(self.reply, took=process_time() - t, command=cmd)


def run_partitions(label: str, parts: list, balancing: bool) -> None:
    """The level-synchronous search over partitions in this process, as the
    coordinator runs it; CPU seconds per worker and phase."""
    n = len(parts)
    handles = [TimedWorker(p) for p in parts]
    cpu = {"expand": [0.0] * n, "ingest": [0.0] * n, "give": [0.0] * n, "take": [0.0] * n}
    critical = [0.0]
    generated = [0, 0]      # all successors computed, and the busiest worker's per level

    def tally(replies):
        for i, r in enumerate(replies):
            cpu[r["command"]][i] += r["took"]
        critical[0] += max(r["took"] for r in replies)
        if replies[0]["command"] == "expand":
            generated[0] += sum(r["generated"] for r in replies)
            generated[1] += max(r["generated"] for r in replies)

    balancer = Balancer(n)
    balancer.count([h.part.init() for h in handles])
    level, sent = 1, 0
    while True:
        replies = _broadcast(handles, "expand", level, True, None)
        tally(replies)
        for dest, h in enumerate(handles):
            batches = [b for r in replies for b in r["out"].get(dest, [])]
            sent += sum(len(b) for b in batches)
            h.send("ingest", level, True, batches)
        replies = [h.recv() for h in handles]
        tally(replies)
        work = balancer.count(replies)
        if not sum(r["new"] for r in replies):
            break
        if balancing:
            balancer.rebalance(handles, work, tally)
        level += 1
    print(f"-- {label}" + (f": {balancer.note()}" if balancer.moves else ""))
    stored = [len(p.seen) for p in parts]
    total = sum(stored)
    for i in range(n):
        moving = cpu["give"][i] + cpu["take"][i]
        print(f"worker {i}: expand {cpu['expand'][i]:.2f} s, ingest {cpu['ingest'][i]:.2f} s, "
              f"moving buckets {moving:.2f} s, {stored[i]:,} states ({stored[i] / total:.0%})")
    everything = sum(sum(v) for v in cpu.values())
    print(f"all workers: {everything:.2f} s CPU; busiest worker per phase, summed: "
          f"{critical[0]:.2f} s; batches sent: {sent / 1e6:.1f} MB; {total:,} states")
    print(f"successors computed by the busiest worker of each level, summed: "
          f"{generated[1] / generated[0]:.1%} of all (the host's speed does not change this)")

if __name__ == "__main__":
    main()
