"""Explicit-engine benchmark: shipped specs at growing sizes.

Each run happens in a fresh subprocess so that peak memory (ru_maxrss) is per run, and
prints distinct states, generated states, time, states per second and peak memory.

    python benchmarks/bench_explicit.py            # the standard set
    python benchmarks/bench_explicit.py --quick    # the small sizes only
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

RUNS = [
    ("specs/2pc.spec", {"RM": "{r1,r2,r3}"}),
    ("specs/2pc.spec", {"RM": "{r1,r2,r3,r4}"}),
    ("specs/2pc.spec", {"RM": "{r1,r2,r3,r4,r5}"}),
    ("specs/2pc.spec", {"RM": "{r1,r2,r3,r4,r5,r6}"}),
    ("specs/2pc.spec", {"RM": "{r1,r2,r3,r4,r5,r6,r7}"}),
    ("specs/paxos.spec", {"MaxBallot": "0"}),
    ("specs/paxos.spec", {"MaxBallot": "1"}),
    ("specs/paxos.spec", {"MaxBallot": "2"}),
]
QUICK = RUNS[:3] + RUNS[5:7]


def run_one(spec: str, consts: dict[str, str], extra: tuple[str, ...] = ()) -> dict:
    args = [sys.executable, "-m", "checker", spec, "--format", "json", *extra]
    for k, v in consts.items():
        args += ["--const", f"{k}={v}"]
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{spec} {consts}: exit {proc.returncode}\n{proc.stderr}")
    data = json.loads(proc.stdout)
    data["wall_s"] = wall
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--symmetry", action="store_true",
                        help="use the specs' symmetry declarations (default: full state space, "
                             "comparable with TLC's counts)")
    opts = parser.parse_args()
    extra = () if opts.symmetry else ("--no-symmetry",)
    print(f"# {time.strftime('%Y-%m-%d')} on {platform.machine()}, {platform.processor() or ''}"
          f" Python {platform.python_version()}, one worker,"
          f" symmetry {'on' if opts.symmetry else 'off'}")
    header = (f"{'spec':<18} {'constants':<28} {'status':<9} {'distinct':>10} {'generated':>11} "
              f"{'search s':>9} {'wall s':>7} {'states/s':>10} {'peak MiB':>9}")
    print(header)
    for spec, consts in QUICK if opts.quick else RUNS:
        d = run_one(spec, consts, extra)
        shown = ", ".join(f"{k}={v}" for k, v in consts.items())
        print(f"{spec.split('/')[-1]:<18} {shown:<28} {d['status']:<9} {d['distinct_states']:>10,} "
              f"{d['generated_states']:>11,} {d['elapsed_s']:>9.2f} {d['wall_s']:>7.2f} "
              f"{d['states_per_s']:>10,.0f} {d['peak_memory_bytes'] / 2**20:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
