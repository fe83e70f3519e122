"""How much faster can two processes be than one, on this machine?

The ``--workers`` speedup can never exceed what the machine gives two independent,
identical processes running side by side. On a virtual machine whose vCPUs share a
physical core, or share caches and memory bandwidth with other tenants, that is less
than 2. This script measures it, so that a parallel speedup can be read against it.

For each workload it runs one copy alone, then two copies at once (forked, released
together), ``--repeat`` times, alternating. It prints each copy's CPU seconds and the
**ceiling**: one copy's time alone, times 2, over the wall time of the pair, the
speedup a perfectly balanced two-worker search with no exchange at all could reach.

Workloads:

* ``cpu``: a pure-Python integer loop (no memory traffic);
* ``dict``: inserting and looking up 1.5 million 6-tuples in a dict, the seen set's
  access pattern;
* ``explore``: ``checker.explore`` on 2pc with 7 RMs (default properties), the real
  thing.

    python benchmarks/bench_cores.py                 # all three, 3 repeats
    python benchmarks/bench_cores.py --workloads explore --repeat 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _cpu() -> None:
    x = 0
    for i in range(25_000_000):
        x += i & 7


def _dict() -> None:
    seen: dict = {}
    for i in range(1_500_000):
        seen[(i & 65535, i >> 16, i & 7, i * 3, i & 1, True)] = i
    hits = 0
    for i in range(0, 3_000_000, 2):
        hits += (i & 65535, i >> 16, i & 7, i * 3, i & 1, True) in seen


def _explore_workload():
    """The compiled model is built before forking, so each copy times the search only."""
    import dataclasses

    from checker.explore import explore
    from checker.parallel import ModelSpec

    recipe = ModelSpec.from_file("specs/2pc.spec", ["RM={r1,r2,r3,r4,r5,r6,r7}"],
                                 symmetry=False)
    lemmas = {i.name for i in recipe.compile().typed.invariants if i.lemma}
    model, _ = recipe.build()
    names = tuple(i.name for i in (*model.invariants, *model.transition_invariants)
                  if i.name not in lemmas)
    model, _ = dataclasses.replace(recipe, invariants=names).build()
    return lambda: explore(model)


WORKLOADS = {"cpu": lambda: _cpu, "dict": lambda: _dict, "explore": _explore_workload}


def run_copies(work, copies: int) -> tuple[float, list[float]]:
    """Runs ``copies`` forked copies of ``work`` released at once: (wall s, CPU s each)."""
    go_r, go_w = os.pipe()
    children = []
    for _ in range(copies):
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the start signal, work, report CPU seconds
            os.close(go_w)
            os.read(go_r, 1)
            t0 = time.process_time()
            work()
            os.write(out_w, f"{time.process_time() - t0:.4f}".encode())
            os._exit(0)
        os.close(out_w)
        children.append((pid, out_r))
    os.close(go_r)
    time.sleep(0.2)                       # every child waiting at the pipe
    start = time.perf_counter()
    os.write(go_w, b"x" * copies)
    cpu = []
    for pid, out_r in children:
        cpu.append(float(os.read(out_r, 64).decode()))
        os.waitpid(pid, 0)
        os.close(out_r)
    wall = time.perf_counter() - start
    os.close(go_w)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS),
                    default=["cpu", "dict", "explore"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'workload':<9} {'alone s':>8} {'pair s (each, CPU)':>20} {'pair wall s':>11} "
          f"{'slowdown':>8} {'ceiling':>7}")
    for name in args.workloads:
        work = WORKLOADS[name]()
        for _ in range(args.repeat):
            _, (alone,) = run_copies(work, 1)
            wall, pair = run_copies(work, 2)
            slowdown = max(pair) / alone
            print(f"{name:<9} {alone:>8.2f} {' + '.join(f'{c:.2f}' for c in pair):>20} "
                  f"{wall:>11.2f} {slowdown:>7.2f}x {2 * alone / wall:>6.2f}x")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
