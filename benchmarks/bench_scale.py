"""Scaling benchmark: one worker against several, and the compact seen set.

Each run happens in a fresh subprocess (so that peak memory is per run); the runs of a
configuration are interleaved with its baseline (``--repeat``) so that a busy machine
affects both alike. Prints, per run: engine, workers, distinct and generated states,
the search's time, the process's wall time, CPU seconds (all processes), peak memory,
and for several workers the busiest worker's CPU seconds per phase, summed ("crit s"):
what the search takes on otherwise idle cores. On a shared machine the wall time also
measures the other load; "crit s" against one worker's CPU seconds does not. With
``--repeat N`` each configuration ends with its fastest and median time over the N runs,
and the fastest against one worker's fastest.

    python benchmarks/bench_scale.py                      # 2pc RM=8, paxos MaxBallot=2
    python benchmarks/bench_scale.py --quick              # 2pc RM=7, paxos MaxBallot=1
    python benchmarks/bench_scale.py --repeat 3 --workers 2 4
    python benchmarks/bench_scale.py --cases paxos-3 --compact --no-parallel  # ballots 0..3
    python benchmarks/bench_scale.py --auto               # also the CLI's default engine
    python benchmarks/bench_scale.py --auto --fingerprints  # and with --fingerprints

Cases check the properties the CLI checks by default (no lemmas). Engines: "explicit"
(one process), "parallel" (N processes from the start sharing one seen set, as
``--workers N``),
"auto" (the CLI's default: one process until a level has 5,000 new states, then one
worker per core, sharing one seen set of fingerprints), "auto-exact" (the same with
--exact: the seen set of full states partitioned), "auto-fp" (the partitioned search
with --fingerprints: each worker keeps fingerprints), "compact" (fingerprints, one
process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CASES = {
    "2pc-8": ("specs/2pc.spec", ["RM={r1,r2,r3,r4,r5,r6,r7,r8}"]),
    "paxos-2": ("specs/paxos.spec", ["MaxBallot=2"]),
    "2pc-7": ("specs/2pc.spec", ["RM={r1,r2,r3,r4,r5,r6,r7}"]),
    "paxos-1": ("specs/paxos.spec", ["MaxBallot=1"]),
    "paxos-3": ("specs/paxos.spec", ["MaxBallot=3"]),
}


def recipe_for(case: str, symmetry: bool):
    """The case's ``ModelSpec``, checking the properties the CLI checks by default
    (every invariant but the lemmas)."""
    from checker.parallel import ModelSpec

    path, consts = CASES[case]
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    lemmas = {i.name for i in recipe.compile().typed.invariants if i.lemma}
    model, _ = recipe.build()
    names = [i.name for i in (*model.invariants, *model.transition_invariants)
             if i.name not in lemmas]
    return dataclasses.replace(recipe, invariants=tuple(names))


def one(case: str, engine: str, workers: int, symmetry: bool) -> dict:
    """Runs one configuration in this process and returns its figures."""
    recipe = recipe_for(case, symmetry)
    model, canonical = recipe.build()
    t0 = os.times()
    wall = time.perf_counter()
    if engine == "explicit":
        from checker.explore import explore

        result = explore(model, canonical=canonical)
    elif engine == "parallel":
        from checker.parallel import explore_parallel

        result = explore_parallel(recipe, workers=workers, shared=True)
    elif engine in ("auto", "auto-exact"):
        from checker.parallel import HANDOVER_AT, explore_parallel

        result = explore_parallel(recipe, workers=workers, handover_at=HANDOVER_AT,
                                  shared=engine == "auto")
    elif engine == "auto-fp":
        from checker.parallel import HANDOVER_AT, explore_parallel

        result = explore_parallel(recipe, workers=workers, handover_at=HANDOVER_AT,
                                  fingerprints=True)
    elif engine == "compact":
        from checker.fingerprints import explore_compact

        result = explore_compact(recipe)
    elif engine == "ray":
        from checker.ray_backend import explore_ray

        result = explore_ray(recipe, workers=workers)
    else:
        raise SystemExit(f"unknown engine {engine}")
    wall = time.perf_counter() - wall
    t1 = os.times()
    cpu = (t1.user - t0.user) + (t1.system - t0.system) + (t1.children_user - t0.children_user) \
        + (t1.children_system - t0.children_system)
    s = result.stats
    critical = None
    for note in result.notes:
        if "summed:" in note:
            critical = float(note.split("summed:")[1].split()[0])
    return {"critical_s": critical, "case": case, "engine": engine, "workers": workers,
            "symmetry": symmetry,
            "status": result.status.value, "distinct": s.distinct_states,
            "generated": s.generated_states, "depth": s.depth, "search_s": s.elapsed_s,
            "wall_s": wall, "cpu_s": cpu, "peak_mib": s.peak_memory_bytes / 2**20,
            "notes": list(result.notes)}


def run_child(case: str, engine: str, workers: int, symmetry: bool) -> dict:
    args = [sys.executable, __file__, "--one", case, engine, str(workers),
            "1" if symmetry else "0"]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{case} {engine} {workers}: exit {proc.returncode}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_best(case: str, runs: dict[tuple[str, int], list[float]]) -> None:
    """The fastest and the median search time of each configuration over the repeats,
    and the ratio of the fastest to one worker's fastest. On a shared host the fastest
    run is the one least slowed by others, so the ratio of minima is the steadiest
    estimate of the speedup (the repeats alternate the configurations)."""
    best_one = min(runs.get(("explicit", 1), [0.0])) or None
    for (engine, workers), times in runs.items():
        ratio = f"{best_one / min(times):.2f}x" if best_one and min(times) > 0 else ""
        print(f"{case:<9} {engine:<9} {workers:>2} best of {len(times)}: "
              f"{min(times):.2f} s, median {statistics.median(times):.2f} s {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller cases")
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--workers", nargs="*", type=int, default=[2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--compact", action="store_true", help="also the compact engine")
    parser.add_argument("--auto", action="store_true",
                        help="also the CLI's default engine (one process, then N workers)")
    parser.add_argument("--exact", action="store_true",
                        help="also the default engine with --exact (the seen set of full "
                             "states partitioned)")
    parser.add_argument("--fingerprints", action="store_true",
                        help="also the default engine with --fingerprints (workers keep "
                             "fingerprints)")
    parser.add_argument("--no-parallel", action="store_true",
                        help="no runs with several processes from the start")
    parser.add_argument("--no-explicit", action="store_true",
                        help="no one-process baseline (the compact engine alone)")
    parser.add_argument("--symmetry", action="store_true")
    parser.add_argument("--one", nargs=4, metavar=("CASE", "ENGINE", "WORKERS", "SYM"),
                        help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.one:
        case, engine, workers, sym = opts.one
        print(json.dumps(one(case, engine, int(workers), sym == "1")))
        return
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cases = opts.cases or (["2pc-7", "paxos-1"] if opts.quick else ["2pc-8", "paxos-2"])
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.machine()} {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {' '.join(load)}")
    print(f"{'case':<9} {'engine':<9} {'w':>2} {'status':<7} {'distinct':>10} {'generated':>11} "
          f"{'search s':>9} {'wall s':>7} {'cpu s':>7} {'crit s':>7} {'states/s':>9} "
          f"{'peak MiB':>9} {'speedup':>8}")
    for case in cases:
        configs = [] if opts.no_explicit else [("explicit", 1)]
        if not opts.no_parallel:
            configs += [("parallel", w) for w in opts.workers]
        if opts.auto:
            configs += [("auto", w) for w in opts.workers]
        if opts.exact:
            configs += [("auto-exact", w) for w in opts.workers]
        if opts.fingerprints:
            configs += [("auto-fp", w) for w in opts.workers]
        if opts.compact:
            configs.append(("compact", 1))
        runs: dict[tuple[str, int], list[float]] = {}
        for _ in range(opts.repeat):
            base = None
            for engine, workers in configs:
                d = run_child(case, engine, workers, opts.symmetry)
                runs.setdefault((engine, workers), []).append(d["search_s"])
                if engine == "explicit":
                    base = d
                crit = d["critical_s"]
                # speedup: one worker's search time over this one's, and (in brackets)
                # one worker's CPU time over the critical path, for busy machines
                speed = f"{base['search_s'] / d['search_s']:.2f}x" if base else ""
                if crit and base:
                    speed += f" ({base['cpu_s'] / crit:.2f}x)"
                rate = d["distinct"] / d["search_s"] if d["search_s"] > 0 else 0.0
                print(f"{case:<9} {engine:<9} {workers:>2} {d['status']:<7} {d['distinct']:>10,} "
                      f"{d['generated']:>11,} {d['search_s']:>9.2f} {d['wall_s']:>7.2f} "
                      f"{d['cpu_s']:>7.2f} {crit or 0:>7.2f} {rate:>9,.0f} {d['peak_mib']:>9.1f} "
                      f"{speed}", flush=True)
        if opts.repeat > 1:
            print_best(case, runs)


if __name__ == "__main__":
    main()
