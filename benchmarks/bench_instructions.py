"""Parallel efficiency in instructions, not seconds: what several workers cost against
one, counted by Valgrind (cachegrind), so that the answer does not depend on how busy
the host is.

On a shared virtual machine the wall time of the same run varies by a factor of two
from minute to minute, and two processes slow each other by a varying amount, so
``bench_scale.py`` can only compare runs alternated in one window. Instruction counts
are the same on every run. For each case this runs, under cachegrind:

- ``baseline``: Python starts, the spec is compiled; no search;
- ``one``: the same, then ``checker.explore`` (one worker);
- ``workers``: the same, then the CLI's default engine with N workers (one process
  until a level has ``HANDOVER_AT`` new states, then N forked workers sharing one seen
  set; with ``--exact``, the partitioned search).

and reports, in instructions (G = 10^9):

- ``search``: the search's own work (the run less the baseline);
- ``head``: the work done in one process before the workers start (the first levels,
  the choice of the partition key, the owners' assignment);
- ``workers``: each worker's own work (a forked process's count includes its parent's
  up to the fork; a probe forked just before the workers gives that count, which is
  subtracted);
- ``work ratio``: all the processes' work against one worker's: what the partitioning,
  the exchange of states and the coordination add;
- ``bound``: one worker's work over the head plus the busiest worker's: the speedup
  on idle, equal cores if every instruction took the same time. It is an upper bound:
  the busiest worker of each level (not of the whole run) sets the pace, and a
  process that stalls on memory more than another is slower per instruction.

    python benchmarks/bench_instructions.py                     # paxos-2, 2 workers
    python benchmarks/bench_instructions.py --cases 2pc-7 paxos-2 --workers 2 4

Needs ``valgrind`` on the PATH. Each case takes about 40 times its normal run time
(Paxos with ballots 0..2: about four minutes; the three runs of a case go in parallel).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import CASES, recipe_for  # noqa: E402

G = 1e9


def child(case: str, mode: str, workers: int, exact: bool = False) -> None:
    """Runs under Valgrind: compiles the case and searches it as ``mode`` says; prints
    the pids whose counts the parent needs, as JSON."""
    recipe = recipe_for(case, symmetry=False)
    model, canonical = recipe.build()
    pids: dict = {"main": os.getpid(), "probe": None, "workers": []}
    if mode == "one":
        from checker.explore import explore

        explore(model, canonical=canonical)
    elif mode == "workers":
        from checker import parallel

        started = parallel._ProcessWorker.__init__

        def start_worker(self, *args, **kwargs):
            if pids["probe"] is None:
                # the count every worker inherits: this process's, at the fork
                probe = os.fork()
                if probe == 0:
                    os._exit(0)
                os.waitpid(probe, 0)
                pids["probe"] = probe
            started(self, *args, **kwargs)
            pids["workers"].append(self.proc.pid)

        parallel._ProcessWorker.__init__ = start_worker
        result = parallel.explore_parallel(recipe, workers=workers,
                                           handover_at=parallel.HANDOVER_AT,
                                           shared=not exact)
        pids["notes"] = list(result.notes)
    print(json.dumps(pids))


def instructions(directory: str, pid: int) -> int:
    """The instruction count in cachegrind's output for process ``pid``."""
    with open(os.path.join(directory, f"cg.{pid}")) as fh:
        for line in fh:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit(f"no summary in cachegrind's output for pid {pid}")


def start(case: str, mode: str, workers: int, directory: str, exact: bool
          ) -> subprocess.Popen:
    out = os.path.join(directory, mode)
    os.makedirs(out)
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
           f"--cachegrind-out-file={out}/cg.%p", sys.executable, __file__,
           "--child", case, mode, str(workers)] + (["--exact"] if exact else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, mode: str, directory: str) -> tuple[dict, str]:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: exit {proc.returncode}\n{stderr[-2000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), os.path.join(directory, mode)


def measure(case: str, workers: int, keep: str | None = None, exact: bool = False) -> dict:
    if keep is not None:
        directory = os.path.join(keep, f"{case}-{workers}")
        os.makedirs(directory)
        return _measure(case, workers, directory, exact)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as directory:
        return _measure(case, workers, directory, exact)


def _measure(case: str, workers: int, directory: str, exact: bool) -> dict:
    procs = {mode: start(case, mode, workers, directory, exact)
             for mode in ("baseline", "one", "workers")}
    got = {mode: finish(proc, mode, directory) for mode, proc in procs.items()}
    base = instructions(got["baseline"][1], got["baseline"][0]["main"])
    one = instructions(got["one"][1], got["one"][0]["main"]) - base
    pids, out = got["workers"]
    main = instructions(out, pids["main"])
    if pids["probe"] is None:   # a small space: searched without workers
        return {"case": case, "workers": workers, "one": one, "head": main - base,
                "own": [], "notes": pids.get("notes", [])}
    at_fork = instructions(out, pids["probe"])
    own = [instructions(out, pid) - at_fork for pid in pids["workers"]]
    return {"case": case, "workers": workers, "one": one, "head": at_fork - base,
            "coordinator": main - at_fork, "own": own, "notes": pids["notes"]}


def report(m: dict) -> None:
    one, head, own = m["one"], m["head"], m["own"]
    if not own:
        print(f"{m['case']:<9} {m['workers']:>2}  searched in one process "
              f"({head / G:.2f} G against {one / G:.2f} G)")
        return
    total = head + m["coordinator"] + sum(own)
    bound = one / (head + max(own))
    print(f"{m['case']:<9} {m['workers']:>2} {one / G:>9.2f} {head / G:>7.2f} "
          f"{m['coordinator'] / G:>7.2f} {' + '.join(f'{w / G:.2f}' for w in own):>15} "
          f"{total / one:>9.2f}x {bound:>6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["paxos-2"], choices=sorted(CASES))
    parser.add_argument("--workers", nargs="*", type=int, default=[2])
    parser.add_argument("--keep", metavar="DIR",
                        help="keep cachegrind's output files under DIR (for cg_annotate)")
    parser.add_argument("--exact", action="store_true",
                        help="the workers partition a seen set of full states (--exact)")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "MODE", "WORKERS"),
                        help=argparse.SUPPRESS)
    opts = parser.parse_args()
    os.chdir(Path(__file__).resolve().parent.parent)
    if opts.child:
        case, mode, workers = opts.child
        child(case, mode, int(workers), opts.exact)
        return
    if shutil.which("valgrind") is None:
        print("bench_instructions: needs valgrind on the PATH (Debian: apt install "
              "valgrind)", file=sys.stderr)
        raise SystemExit(2)
    print("instructions in G (10^9): one worker's search; the head in one process; the "
          "coordinator after it; each worker's own")
    print(f"{'case':<9} {'w':>2} {'one':>9} {'head':>7} {'coord':>7} {'workers':>15} "
          f"{'work':>10} {'bound':>7}")
    for case in opts.cases:
        for workers in opts.workers:
            report(measure(case, workers, opts.keep, opts.exact))


if __name__ == "__main__":
    main()
