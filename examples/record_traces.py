"""Record the runs in traces/recorded/ and write what validating each one must give.

    python -m examples.record_traces              # every scenario
    python -m examples.record_traces twopc_ok_state kvstore_ack_early_state   # some

Each scenario runs one of the example systems (real processes over TCP on 127.0.0.1)
with a level of detail, faults, and possibly a deliberate bug, and records the trace
into traces/recorded/. The expected verdict is written down from what the run is, not
from what the validator says: a correct run must be accepted; a buggy one must be
rejected at the first event that shows the bug (the coordinator's commit after too few
votes; the primary's acknowledgement of a write no backup has confirmed), which this
script finds in the recorded file itself; with the spec of the buggy design and
``--check-invariants``, the invariant must fail at the failover that loses an
acknowledged write. The expectations go to traces/recorded/expected.json (read by
tests/test_examples.py) and traces/recorded/EXPECTED.md. The script then validates every
trace and reports any disagreement (exit status 1).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.common import ROOT

OUT = ROOT / "traces" / "recorded"
TPC_SPEC = "specs/2pc.spec"
KV_SPEC = "examples/kvstore/kvstore.spec"
TPC_MAPPING = "examples/twopc/mapping.toml"


@dataclass
class Check:
    """One validation of a recorded trace and what it must give."""

    verdict: str                       # accepted | rejected | violation
    first: dict[str, Any] | None = None   # the event that shows the bug: field values
    consts: list[str] = field(default_factory=list)
    check_invariants: bool = False
    property: str | None = None
    why: str = ""


@dataclass
class Scenario:
    name: str
    system: str                        # twopc | kvstore
    argv: list[str]
    about: str
    checks: list[Check]

    @property
    def layout(self) -> str:
        return "nodes" if "--layout" in self.argv and \
            self.argv[self.argv.index("--layout") + 1] == "nodes" else "file"

    @property
    def app(self) -> bool:
        return "--log" in self.argv and self.argv[self.argv.index("--log") + 1] == "app"

    @property
    def out(self) -> str:
        if self.layout == "nodes":
            return f"traces/recorded/{self.name}"
        return f"traces/recorded/{self.name}" + (".log" if self.app else ".jsonl")

    @property
    def detail(self) -> str:
        if self.app:
            return "application log"
        return self.argv[self.argv.index("--detail") + 1] if "--detail" in self.argv \
            else "state"


ACCEPT = Check("accepted")
EARLY_COMMIT = Check("rejected", {"event": "TMCommit"},
                     why="TMCommit: tmPrepared is not every RM (the coordinator committed "
                     "after one yes vote)")
ACK_EARLY = Check("rejected", {"event": "AckClient"},
                  why="AckClient: not every backup of the view has confirmed the write")
LOSES_WRITE = Check("violation", {"event": "Promote"}, consts=["AckBeforeReplicate=1"],
                    check_invariants=True, property="NoAckedWriteLost",
                    why="with the buggy design's spec: the promoted backup lacks an "
                    "acknowledged write")
LAZY_OK = Check("accepted", consts=["AckBeforeReplicate=1"], check_invariants=True,
                why="the buggy design's spec, invariants checked: a correct run loses nothing")

SCENARIOS = [
    # ---- two-phase commit, correct
    Scenario("twopc_ok_names", "twopc", ["--detail", "names", "--vote-no", "r3", "--seed", "1"],
             "r3 votes no: abort", [ACCEPT]),
    Scenario("twopc_ok_args", "twopc", ["--detail", "args", "--kill", "r2@prepare",
                                        "--seed", "2"],
             "r2 killed before voting: abort", [ACCEPT]),
    Scenario("twopc_ok_state", "twopc", ["--detail", "state", "--drop", "0.2", "--delay", "20",
                                         "--seed", "3"],
             "20% of messages dropped, up to 20 ms delay", [ACCEPT]),
    Scenario("twopc_kill_voted_state", "twopc", ["--detail", "state", "--kill", "r2@voted",
                                                 "--seed", "4"],
             "r2 killed right after voting yes", [ACCEPT]),
    Scenario("twopc_nodes_ok", "twopc", ["--layout", "nodes", "--detail", "state",
                                         "--drop", "0.2", "--delay", "20", "--seed", "5"],
             "one file per process, vector clocks; drops and delays", [ACCEPT]),
    Scenario("twopc_app_ok", "twopc", ["--log", "app", "--vote-no", "r2", "--drop", "0.2",
                                       "--seed", "6"],
             "application log (mapping); r2 votes no; drops", [ACCEPT]),
    # ---- two-phase commit, buggy
    Scenario("twopc_early_commit_names", "twopc", ["--detail", "names", "--bug", "early-commit",
                                                   "--seed", "7"],
             "bug: commit after the first yes vote", [EARLY_COMMIT]),
    Scenario("twopc_early_commit_args", "twopc", ["--detail", "args", "--bug", "early-commit",
                                                  "--seed", "7"],
             "bug: commit after the first yes vote", [EARLY_COMMIT]),
    Scenario("twopc_early_commit_state", "twopc", ["--detail", "state", "--bug", "early-commit",
                                                   "--drop", "0.2", "--seed", "7"],
             "bug: commit after the first yes vote; drops", [EARLY_COMMIT]),
    Scenario("twopc_nodes_early_commit", "twopc", ["--layout", "nodes", "--detail", "args",
                                                   "--bug", "early-commit", "--seed", "8"],
             "bug: early commit; one file per process", [EARLY_COMMIT]),
    Scenario("twopc_no_as_yes_args", "twopc", ["--detail", "args", "--bug", "no-as-yes",
                                               "--vote-no", "r2", "--seed", "9"],
             "bug: r2's no vote counted as yes",
             [Check("rejected", {"event": "TMRcvPrepared", "args": {"r": "r2"}},
                    why="TMRcvPrepared(r2): r2 never sent Prepared")]),
    Scenario("twopc_app_early_commit", "twopc", ["--log", "app", "--bug", "early-commit",
                                                 "--vote-no", "r3", "--seed", "10"],
             "application log; bug: early commit",
             [Check("rejected", {"msg": {"what": "decide", "decision": "committed"}},
                    why="decide (TMCommit): tmPrepared is not every RM")]),
    # ---- key-value store, correct
    Scenario("kvstore_ok_names", "kvstore", ["--detail", "names", "--kill", "n3@2",
                                             "--seed", "1"],
             "backup n3 killed after 2 writes", [ACCEPT]),
    Scenario("kvstore_ok_args", "kvstore", ["--detail", "args", "--kill", "n3@1", "--drop", "0.1",
                                            "--seed", "2"],
             "backup n3 killed after 1 write; drops", [ACCEPT, LAZY_OK]),
    Scenario("kvstore_failover_state", "kvstore", ["--detail", "state", "--kill", "primary@2",
                                                   "--drop", "0.2", "--delay", "20",
                                                   "--seed", "3"],
             "primary killed after 2 writes, failover; drops, delays",
             [ACCEPT, Check("accepted", check_invariants=True), LAZY_OK]),
    Scenario("kvstore_nodes_failover", "kvstore", ["--layout", "nodes", "--detail", "state",
                                                   "--kill", "primary@1", "--drop", "0.2",
                                                   "--delay", "20", "--seed", "5"],
             "one file per process, vector clocks; failover after 1 write", [ACCEPT]),
    # ---- key-value store, buggy: acknowledged before replicated, then failover
    Scenario("kvstore_ack_early_names", "kvstore", ["--detail", "names", "--bug",
                                                    "ack-before-replicate", "--kill",
                                                    "primary@2", "--lazy-ms", "1500",
                                                    "--seed", "5"],
             "bug: ack before replicating; primary killed after 2 writes", [ACK_EARLY]),
    Scenario("kvstore_ack_early_args", "kvstore", ["--detail", "args", "--bug",
                                                   "ack-before-replicate", "--kill", "primary@2",
                                                   "--lazy-ms", "1500", "--seed", "5"],
             "bug: ack before replicating; primary killed after 2 writes",
             [ACK_EARLY, LOSES_WRITE]),
    Scenario("kvstore_ack_early_state", "kvstore", ["--detail", "state", "--bug",
                                                    "ack-before-replicate", "--kill",
                                                    "primary@2", "--lazy-ms", "1500",
                                                    "--seed", "5"],
             "bug: ack before replicating; primary killed after 2 writes",
             [ACK_EARLY, LOSES_WRITE]),
]


# ---------------------------------------------------------------- expectations
def trace_lines(path: Path, app: bool) -> list[tuple[int, dict]]:
    """The events of one file, in file order: (line number, object); headers left out.
    For an application log: the JSON objects with "kind": "trace" after the prefix."""
    out = []
    for i, raw in enumerate(path.read_text().splitlines(), start=1):
        if app:
            m = re.match(r"^\S+ \S+ [A-Z]+ \S+: (\{.*)$", raw)
            if not m:
                continue
            obj = json.loads(m.group(1))
            if obj.get("kind") != "trace":
                continue
        else:
            obj = json.loads(raw)
        if "header" in obj:
            continue
        out.append((i, obj))
    return out


def matches(obj: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(obj, dict) and all(k in obj and matches(obj[k], v)
                                             for k, v in pattern.items())
    return obj == pattern


def merged_order(files: list[str]) -> list[tuple[str, int]]:
    """(file, line) of every event in the order the validator merges per-node logs (one
    linearization of the vector clocks: the event *number* of a merged trace is only
    meaningful in that order; its file and line are exact)."""
    from checker.trace.mapping import Mapping
    from checker.trace.reader import order_records, read_records
    m = Mapping()
    recs = order_records([read_records(f, m, i) for i, f in enumerate(files)], m)
    return [(r.file, r.line) for r in recs]


def expectation(sc: Scenario, files: list[str], check: Check) -> dict[str, Any]:
    exp: dict[str, Any] = {"verdict": check.verdict, "consts": check.consts,
                           "check_invariants": check.check_invariants}
    if check.first is None:
        return exp
    found = None
    for f in files:
        for line, obj in trace_lines(ROOT / f, sc.app):
            if matches(obj, check.first):
                key = (obj.get("ts") or obj.get("time") or 0.0)
                if found is None or key < found[0]:
                    found = (key, f, line)
                break
    if found is None:
        raise RuntimeError(f"{sc.name}: no event matches {check.first}: the run did not "
                           "show the bug")
    _, f, line = found
    if len(files) == 1:
        number = 1 + [ln for ln, _ in trace_lines(ROOT / f, sc.app)].index(line)
    else:
        number = 1 + merged_order([str(ROOT / x) for x in files]).index((str(ROOT / f), line))
    exp.update({"event": number, "file": f, "line": line, "shows": check.first})
    if check.property:
        exp["property"] = check.property
    return exp


# ---------------------------------------------------------------- recording
def record(sc: Scenario) -> dict[str, Any]:
    if sc.system == "twopc":
        from examples.twopc.run import record as run
    else:
        from examples.kvstore.run import record as run
    argv = [*sc.argv, "--out", sc.out]
    summary = run(argv)
    files = [str(Path(f).relative_to(ROOT)) for f in summary["files"]]
    command = f"python -m examples.{sc.system}.run {' '.join(argv)}"
    outcome = summary.get("decision") or (
        f"acknowledged {','.join(summary['acknowledged']) or '-'}; "
        f"lost {','.join(summary['lost']) or '-'}")
    n = summary["dropped"]
    outcome += f"; {n} message{'' if n == 1 else 's'} dropped"
    return {"name": sc.name, "system": sc.system, "about": sc.about, "detail": sc.detail,
            "command": command, "outcome": outcome,
            "spec": TPC_SPEC if sc.system == "twopc" else KV_SPEC,
            "files": files, "merge": sc.layout == "nodes",
            "mapping": TPC_MAPPING if sc.app else None,
            "checks": [expectation(sc, files, c) | {"why": c.why} for c in sc.checks]}


def validate_entry(entry: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    """What the validator says about one check of one entry: verdict, event, file, line."""
    from checker.trace import load_for_traces, report_of, validate
    files = [str(ROOT / f) for f in entry["files"]]
    mapping = str(ROOT / entry["mapping"]) if entry["mapping"] else None
    compiled = load_for_traces(str(ROOT / entry["spec"]), files, check["consts"], mapping)
    r = validate(compiled, files if entry["merge"] else files[0], mapping,
                 check_invariants=check["check_invariants"])
    rep = report_of(r) or {}
    got: dict[str, Any] = {"verdict": rep.get("verdict", r.status.value)}
    if "event" in rep:
        ev = rep["event"]
        got.update({"event": ev["number"], "file": str(Path(ev["file"]).relative_to(ROOT)),
                    "line": ev["line"]})
    if rep.get("property"):
        got["property"] = rep["property"]
    return got


def write_markdown(entries: list[dict[str, Any]]) -> None:
    rows = ["# Recorded runs and what validating them must give",
            "",
            "Written by `python -m examples.record_traces` (which records every run again and",
            "checks the verdicts); `tests/test_examples.py` validates each file against",
            "`expected.json`. A rejected trace must be rejected at the given event (numbered",
            "from 1, the header left out; for per-node logs, in the validator's merged order)",
            "and at the given file and line, the first event that shows the bug.",
            "",
            "Validate one: `modelcheck trace SPEC FILE... [--merge] [--mapping M] "
            "[--const C] [--check-invariants]`.",
            "",
            "| trace | run | detail | options | expected |",
            "| --- | --- | --- | --- | --- |"]
    for e in entries:
        files = e["files"]
        shown = files[0] if len(files) == 1 else f"{Path(files[0]).parent}/ ({len(files)} files)"
        for c in e["checks"]:
            opts = []
            if e["merge"]:
                opts.append("--merge")
            if e["mapping"]:
                opts.append(f"--mapping {e['mapping']}")
            opts += [f"--const {x}" for x in c["consts"]]
            if c["check_invariants"]:
                opts.append("--check-invariants")
            if c["verdict"] == "accepted":
                verdict = "accepted"
            else:
                verdict = (f"{c['verdict']} at event {c['event']} "
                           f"({Path(c['file']).name}:{c['line']})"
                           + (f", {c['property']}" if c.get("property") else "")
                           + (f": {c['why']}" if c["why"] else ""))
            spec = Path(e["spec"]).name
            rows.append(f"| `{shown}` | {e['about']} ({e['outcome']}) | {e['detail']} | "
                        f"{spec} {' '.join(opts)} | {verdict} |")
    rows += ["", "Commands that recorded them:", ""]
    rows += [f"* `{e['name']}`: `{e['command']}`" for e in entries]
    (OUT / "EXPECTED.md").write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    path = OUT / "expected.json"
    old = {e["name"]: e for e in json.loads(path.read_text())["traces"]} \
        if path.exists() else {}
    entries = []
    for sc in SCENARIOS:
        if names and sc.name not in names:
            entries.append(old[sc.name])
            continue
        print(f"recording {sc.name} ...", flush=True)
        entries.append(record(sc))
    path.write_text(json.dumps({"traces": entries}, indent=2) + "\n")
    write_markdown(entries)
    bad = 0
    for e in entries:
        for c in e["checks"]:
            got = validate_entry(e, c)
            want = {k: c[k] for k in ("verdict", "event", "file", "line", "property") if k in c}
            ok = all(got.get(k) == v for k, v in want.items())
            bad += not ok
            print(f"{'ok ' if ok else 'BAD'} {e['name']:28} {c['verdict']:9} "
                  f"{'' if ok else f'expected {want}, got {got}'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
