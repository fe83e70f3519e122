"""Protocol-library benchmark: every spec of the library under its default constants, with
its documented faults.

Each run happens in a fresh subprocess (``python -m checker SPEC ... --format json``), so
peak memory (ru_maxrss) is per run. Prints the verdict (with the violated property and
the counterexample length, in states), distinct and generated states, search time, wall
time (process start included), states per second and peak memory.

    python benchmarks/bench_protocols.py              # every run
    python benchmarks/bench_protocols.py --quick      # skip the runs marked slow
    python benchmarks/bench_protocols.py --markdown   # a table for docs/protocols.md
    python benchmarks/bench_protocols.py raft         # only runs whose spec path contains "raft"
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (spec, extra command-line arguments, slow?). The expected verdicts are pinned in
# tests/test_protocols.py; this script only measures.
RUNS: list[tuple[str, tuple[str, ...], bool]] = [
    ("specs/replication/primary_backup.spec", (), False),
    ("specs/replication/primary_backup.spec", ("--faults", "all"), False),
    ("specs/replication/primary_backup_lazy.spec", ("--faults", "all"), False),
    ("specs/replication/multi_master.spec", (), False),
    ("specs/replication/multi_master.spec", ("--faults", "all"), True),
    ("specs/replication/multi_master_overwrite.spec", (), False),
    ("specs/replication/multi_master_overwrite.spec",
     ("--faults", "Lose", "--const", "MaxWrites=1"), False),
    ("specs/loadbalancing/dns.spec", (), False),
    ("specs/loadbalancing/dns.spec", ("--faults", "all"), False),
    ("specs/loadbalancing/health_checked_lb.spec", ("--faults", "all"), False),
    ("specs/2pc.spec", (), False),
    ("specs/2pc.spec",
     ("--faults", "crash,restart", "--inv", "Consistent", "--inv", "DecisionsDurable"), False),
    ("specs/2pc.spec", ("--faults", "all"), False),
    ("specs/2pc.spec", ("--faults", "TMCrash", "--inv", "Consistent", "--deadlock"), False),
    ("specs/paxos.spec", (), False),
    ("specs/paxos.spec", ("--faults", "all", "--const", "MaxBallot=1"), False),
    ("specs/variants/paxos_faults.spec", (), False),
    ("specs/variants/paxos_faults.spec", ("--faults", "all"), True),
    ("specs/variants/paxos_forgetful.spec", ("--faults", "all"), True),
    ("specs/raft.spec", (), False),
    ("specs/raft.spec", ("--faults", "all"), True),
    ("specs/variants/raft_volatile_vote.spec", ("--faults", "Restart"), False),
    ("specs/variants/raft_truncating_follower.spec", ("--faults", "Duplicate"), False),
    ("specs/seed/master_slave.spec", ("--faults", "all"), False),
    ("specs/seed/master_master.spec", (), False),
    ("specs/seed/naive_paxos.spec", (), False),
    ("specs/seed/naive_paxos_first_value.spec", (), False),
    ("specs/seed/naive_paxos_first_value.spec", ("--faults", "all"), False),
    ("specs/seed/naive_2pc.spec", (), False),
]


def run_one(spec: str, args: tuple[str, ...]) -> dict:
    cmd = [sys.executable, "-m", "checker", spec, *args, "--format", "json"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{spec} {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}")
    data = json.loads(proc.stdout)
    data["wall_s"] = wall
    return data


def verdict(d: dict) -> str:
    v = d["violation"]
    if v is None:
        return d["status"]
    what = v["property"] or v["kind"]
    return f"{what} ({len(v['trace'])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow runs")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("only", nargs="*", help="keep runs whose spec path contains one of these")
    opts = parser.parse_args()
    runs = [r for r in RUNS if not (opts.quick and r[2])]
    if opts.only:
        runs = [r for r in runs if any(o in r[0] for o in opts.only)]
    print(f"# {time.strftime('%Y-%m-%d')} on {platform.machine()} {platform.processor() or ''}"
          f" Python {platform.python_version()}, one worker")
    if opts.markdown:
        print("| spec | options | verdict (states in counterexample) | distinct | generated "
              "| search s | wall s | states/s | peak MiB |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    else:
        print(f"{'spec':<46} {'options':<44} {'verdict':<28} {'distinct':>9} {'generated':>10} "
              f"{'search s':>8} {'wall s':>7} {'states/s':>9} {'MiB':>6}")
    for spec, args, _slow in runs:
        d = run_one(spec, args)
        shown = " ".join(args) or "(defaults)"
        mib = d["peak_memory_bytes"] / 2**20
        if opts.markdown:
            print(f"| `{spec.removeprefix('specs/')}` | `{shown}` | {verdict(d)} "
                  f"| {d['distinct_states']:,} | {d['generated_states']:,} "
                  f"| {d['elapsed_s']:.2f} | {d['wall_s']:.2f} | {d['states_per_s']:,.0f} "
                  f"| {mib:.0f} |", flush=True)
        else:
            print(f"{spec.removeprefix('specs/'):<46} {shown:<44} {verdict(d):<28} "
                  f"{d['distinct_states']:>9,} {d['generated_states']:>10,} "
                  f"{d['elapsed_s']:>8.2f} {d['wall_s']:>7.2f} {d['states_per_s']:>9,.0f} "
                  f"{mib:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
