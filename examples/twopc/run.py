"""Run one two-phase-commit transaction with real processes and record its trace.

    python -m examples.twopc.run --participants 3 --seed 1 --out traces/recorded/twopc_ok.jsonl
    python -m examples.twopc.run --bug early-commit --out /tmp/bad.jsonl --validate
    python -m examples.twopc.run --kill r2@voted --drop 0.2 --delay 30 --out /tmp/t.jsonl

Starts the coordinator (``tm``) and N participants (``r1`` ... ``rN``) as separate OS
processes talking over TCP on 127.0.0.1, waits for them to finish (every loop in them is
bounded), and leaves the trace at ``--out``:

* ``--log jsonl`` (default), ``--layout file``: one JSON Lines file that every process
  appends to, with a header naming the constants (``RM``); events named after the
  actions of specs/2pc.spec, so ``modelcheck trace specs/2pc.spec FILE`` needs no
  mapping. ``--detail`` names | args | state sets how much each event says.
* ``--layout nodes``: ``--out`` is a directory with one file per process and vector
  clocks; validate with ``modelcheck trace specs/2pc.spec DIR/*.jsonl --merge``.
* ``--log app``: a general application log (timestamps, levels, debug lines, natural
  event names); validate with ``--mapping examples/twopc/mapping.toml``.

Faults: ``--kill r2`` (``r2@prepare``: SIGKILL when PREPARE arrives, before voting;
``r2@voted``: right after voting), ``--vote-no r3``, ``--drop P`` (each message is lost
with probability P), ``--delay MS`` (each message is delayed up to MS milliseconds).
Bugs: ``--bug early-commit`` (the coordinator commits after the first yes vote) and
``--bug no-as-yes`` (it counts a no vote as a yes).

``--validate`` checks the recorded trace against the spec at once (exit status as
``modelcheck trace``: 0 accepted, 1 rejected).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from examples.common import DETAILS, ROOT, Cluster, child_args, parse_kill, prepare_output

SPEC = ROOT / "specs" / "2pc.spec"
MAPPING = ROOT / "examples" / "twopc" / "mapping.toml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m examples.twopc.run",
                                description="Run a 2PC transaction and record its trace.")
    p.add_argument("--participants", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/twopc.jsonl",
                   help="the trace file (a directory with --layout nodes)")
    p.add_argument("--layout", choices=("file", "nodes"), default="file")
    p.add_argument("--detail", choices=DETAILS, default="state")
    p.add_argument("--log", choices=("jsonl", "app"), default="jsonl")
    p.add_argument("--bug", choices=("none", "early-commit", "no-as-yes"), default="none")
    p.add_argument("--kill", action="append", default=[],
                   help="NAME or NAME@prepare|NAME@voted (repeatable)")
    p.add_argument("--vote-no", default="", help="participants that vote no (comma-separated)")
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0, help="most milliseconds of delay")
    p.add_argument("--round-timeout", type=float, default=0.3)
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds after which every process stops")
    p.add_argument("--validate", action="store_true", help="validate the trace afterwards")
    p.add_argument("--verbose", action="store_true", help="show the processes' stderr")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def record(argv: list[str]) -> dict[str, Any]:
    """Run one transaction as ``argv`` says; returns a summary (what each process did,
    and the trace files)."""
    a = parser().parse_args(argv)
    a.deadline = a.timeout
    if a.participants < 1:
        raise SystemExit("error: at least one participant")
    names = [f"r{i}" for i in range(1, a.participants + 1)]
    kills: dict[str, str] = {}
    for k in a.kill:
        name, at = parse_kill(k, "prepare")
        if name not in names or at not in ("prepare", "voted"):
            raise SystemExit(f"error: --kill {k}: expected r1..r{len(names)}[@prepare|@voted]")
        kills[name] = at
    no = {n for n in a.vote_no.split(",") if n}
    if a.log == "app" and a.layout == "nodes":
        raise SystemExit("error: an application log is one file (--layout file)")
    header = {"constants": {"RM": names}}
    out = Path(a.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    a.out = str(out)
    prepare_output(out, a.layout, header, a.log)
    started = time.monotonic()
    with Cluster(verbose=a.verbose) as cluster:
        extra = ["--header", json.dumps(header)] if a.layout == "nodes" else []
        port, fd = cluster.listen_for("tm")     # so that everyone starts at once
        cluster.start("tm", "examples.twopc.coordinator",
                      ["--participants", ",".join(names), "--bug", a.bug,
                       "--round-timeout", str(a.round_timeout), "--listen-fd", str(fd),
                       *extra, *child_args(a)])
        for n in names:
            cluster.start(n, "examples.twopc.participant",
                          ["--name", n, "--port", str(port),
                           "--vote", "no" if n in no else "yes",
                           "--crash", kills.get(n, "none"),
                           "--query-interval", str(a.round_timeout), *child_args(a)])
        codes = cluster.wait_all(a.timeout + 5)
        results = {n: cluster.result_of(n, 0.2) for n in ["tm", *names]}
        dropped = cluster.dropped
    files = sorted(str(p) for p in out.glob("*.jsonl")) if a.layout == "nodes" else [str(out)]
    summary = {
        "decision": (results["tm"] or {}).get("decision"),
        "participants": {n: (results[n] or {}).get("outcome", "killed" if codes[n] else "?")
                         for n in names},
        "dropped": dropped,
        "exit_codes": codes, "files": files, "seconds": round(time.monotonic() - started, 2),
        "merge": a.layout == "nodes", "mapping": str(MAPPING) if a.log == "app" else None,
    }
    return summary


def validate_command(summary: dict[str, Any]) -> list[str]:
    """The ``modelcheck trace`` command line that validates this run."""
    cmd = ["modelcheck", "trace", str(SPEC.relative_to(ROOT))]
    cmd += [_rel(f) for f in summary["files"]]
    if summary["merge"]:
        cmd.append("--merge")
    if summary["mapping"]:
        cmd += ["--mapping", _rel(summary["mapping"])]
    return cmd


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(argv)
    summary = record(argv)
    if a.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"decision: {summary['decision']}   messages dropped: {summary['dropped']}")
        for n, o in summary["participants"].items():
            print(f"  {n}: {o}")
        print(f"recorded in {summary['seconds']} s: {', '.join(map(_rel, summary['files']))}")
        print("validate:  " + " ".join(validate_command(summary)))
    if not a.validate:
        return 0
    from checker.trace import trace_command
    print()
    return trace_command(_rel(str(SPEC)), [_rel(f) for f in summary["files"]],
                         merge=summary["merge"],
                         mapping=summary["mapping"] and _rel(summary["mapping"]))


if __name__ == "__main__":
    raise SystemExit(main())
