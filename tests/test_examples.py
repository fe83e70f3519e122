"""The example systems of examples/: real processes over TCP on 127.0.0.1 record traces,
and the validator accepts the correct runs and rejects the buggy ones at the first event
that shows the bug. Every recorded run in traces/recorded/ gives what expected.json says.

Each live test starts a launcher in this process and the system's nodes as separate OS
processes; every loop in them is bounded, and the launcher stops (terminate, then kill)
whatever is still running when it leaves, also on failure."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from checker.result import Status
from checker.trace import header_constants, load_for_traces, report_of, trace_command, validate

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # `examples` is not installed: import it from the checkout
    sys.path.insert(0, str(ROOT))

from examples.common import LOCALHOST, Cluster  # noqa: E402
from examples.kvstore.run import record as run_kvstore  # noqa: E402
from examples.twopc.run import record as run_twopc  # noqa: E402

RECORDED = ROOT / "traces" / "recorded"
EXPECTED = json.loads((RECORDED / "expected.json").read_text())["traces"]
TPC = str(ROOT / "specs" / "2pc.spec")
KV = str(ROOT / "examples" / "kvstore" / "kvstore.spec")
MAPPING = str(ROOT / "examples" / "twopc" / "mapping.toml")


def events(path: str | Path) -> list[dict]:
    """The events of a JSON Lines trace, in file order (the header left out)."""
    out = []
    for line in Path(path).read_text().splitlines():
        obj = json.loads(line)
        if "header" not in obj:
            out.append(obj)
    return out


def first(evts: list[dict], **fields) -> int:
    """The number (from 1) of the first event with these field values."""
    for i, e in enumerate(evts, start=1):
        if all(e.get(k) == v for k, v in fields.items()):
            return i
    raise AssertionError(f"no event with {fields}")


_COMPILED: dict[tuple, object] = {}


def check(spec: str, files: list[str], *, merge: bool = False, mapping: str | None = None,
          consts: tuple[str, ...] = (), check_invariants: bool = False):
    """Validate as ``modelcheck trace`` does (constants from the traces' header), compiling
    each spec once per set of constants."""
    key = (spec, consts, mapping, json.dumps(header_constants(files, mapping), sort_keys=True))
    if key not in _COMPILED:
        _COMPILED[key] = load_for_traces(spec, files, consts, mapping)
    return validate(_COMPILED[key], files if merge else files[0], mapping,
                    check_invariants=check_invariants)


# The live runs: each starts its own processes; they run three at a time, in threads of
# this process (a launcher is thread-safe: its own cluster, recorder and sockets), and
# each test waits for its own. Round and request timeouts are generous, so that a busy
# machine changes the timing but not the outcome the tests assert.
LIVE = {
    "twopc_kill": ("twopc", ["--kill", "r2@voted", "--drop", "0.2", "--delay", "10",
                             "--seed", "11"], "run.jsonl"),
    "twopc_nodes": ("twopc", ["--layout", "nodes", "--detail", "args", "--kill", "r3@prepare",
                              "--drop", "0.1", "--seed", "12"], "run"),
    "twopc_app": ("twopc", ["--log", "app", "--vote-no", "r2", "--drop", "0.2",
                            "--seed", "13"], "app.log"),
    "twopc_early_commit": ("twopc", ["--bug", "early-commit", "--detail", "names",
                                     "--round-timeout", "2", "--seed", "14"], "bad.jsonl"),
    "twopc_no_as_yes": ("twopc", ["--bug", "no-as-yes", "--vote-no", "r2",
                                  "--round-timeout", "2", "--seed", "15"], "bad.jsonl"),
    "kvstore_failover": ("kvstore", ["--kill", "primary@1", "--drop", "0.15", "--delay", "10",
                                     "--seed", "16"], "kv.jsonl"),
    "kvstore_ack_early": ("kvstore", ["--bug", "ack-before-replicate", "--kill", "primary@2",
                                      "--lazy-ms", "3000", "--put-timeout", "2", "--detail",
                                      "args", "--seed", "17"], "bad.jsonl"),
}


# Which live run each test uses (so that the runs of the selected tests start together).
USES = {
    "test_twopc_with_a_killed_participant_and_lost_messages_is_accepted": "twopc_kill",
    "test_twopc_per_node_logs_merge_by_vector_clock": "twopc_nodes",
    "test_twopc_application_log_is_read_through_the_mapping": "twopc_app",
    "test_twopc_early_commit_is_rejected_at_the_commit": "twopc_early_commit",
    "test_twopc_no_vote_counted_as_yes_is_rejected_at_that_vote": "twopc_no_as_yes",
    "test_kvstore_failover_with_faults_is_accepted": "kvstore_failover",
    "test_kvstore_ack_before_replicate_is_rejected_and_loses_writes": "kvstore_ack_early",
}


@pytest.fixture(scope="module")
def live(request, tmp_path_factory):
    """Start the live runs of the selected tests (three at a time); ``live[name]`` waits
    for one's summary."""
    base = tmp_path_factory.mktemp("live")
    pool = ThreadPoolExecutor(max_workers=3)
    futures: dict[str, Future] = {}

    def submit(name: str) -> None:
        if name not in futures:
            system, argv, out = LIVE[name]
            run = run_twopc if system == "twopc" else run_kvstore
            (base / name).mkdir()
            futures[name] = pool.submit(run, [*argv, "--out", str(base / name / out)])

    for item in request.session.items:
        if item.name in USES:
            submit(USES[item.name])

    class Runs:
        def __getitem__(self, name: str) -> dict:
            submit(name)
            return futures[name].result(timeout=120)

    yield Runs()
    pool.shutdown(wait=True, cancel_futures=True)


def accepted(result) -> bool:
    if result.status is not Status.OK:
        print(json.dumps(report_of(result), indent=1, default=str)[:4000])
    return result.status is Status.OK


# ----------------------------------------------------------------- two-phase commit
def test_twopc_with_a_killed_participant_and_lost_messages_is_accepted(live):
    s = live["twopc_kill"]
    assert s["participants"]["r2"] == "killed"
    assert s["decision"] in ("committed", "aborted")
    evts = events(s["files"][0])
    assert all("state" in e and "args" in e for e in evts)
    assert accepted(check(TPC, s["files"]))


def test_twopc_per_node_logs_merge_by_vector_clock(live):
    s = live["twopc_nodes"]
    assert s["decision"] == "aborted" and s["participants"]["r3"] == "killed"
    assert sorted(Path(f).name for f in s["files"]) == ["r1.jsonl", "r2.jsonl", "r3.jsonl",
                                                        "tm.jsonl"]
    for f in s["files"]:
        assert all("clock" in e for e in events(f))
    assert accepted(check(TPC, s["files"], merge=True))


def test_twopc_application_log_is_read_through_the_mapping(live):
    s = live["twopc_app"]
    assert s["decision"] == "aborted"
    text = Path(s["files"][0]).read_text()
    assert "connected to the coordinator" in text and '"kind": "trace"' in text
    out = io.StringIO()
    assert trace_command(TPC, s["files"], mapping=MAPPING, out=out) == 0, out.getvalue()
    assert "Trace accepted" in out.getvalue()


def test_twopc_early_commit_is_rejected_at_the_commit(live):
    # Event names only: the weakest level of detail still pins the bug down.
    s = live["twopc_early_commit"]
    assert s["decision"] == "committed"
    evts = events(s["files"][0])
    assert all(set(e) <= {"event", "node", "seq", "ts"} for e in evts)
    n = first(evts, event="TMCommit")
    r = check(TPC, s["files"])
    assert r.status is Status.REJECTED
    rep = report_of(r)
    assert rep["event"]["number"] == n
    assert {w["action"] for w in rep["why"]} == {"TMCommit"}
    assert all("tmPrepared" in c["condition"] for w in rep["why"] for c in w["conditions"])
    out = io.StringIO()
    assert trace_command(TPC, s["files"], out=out) == 1
    assert f"rejected at event {n} of {len(evts)}" in out.getvalue()


def test_twopc_no_vote_counted_as_yes_is_rejected_at_that_vote(live):
    s = live["twopc_no_as_yes"]
    evts = events(s["files"][0])
    n = first(evts, event="TMRcvPrepared", args={"r": "r2"})
    r = check(TPC, s["files"])
    assert r.status is Status.REJECTED and report_of(r)["event"]["number"] == n
    (why,) = report_of(r)["why"]
    assert why["action"] == "TMRcvPrepared" and "Prepared(r) in msgs" in why["reason"]


# ----------------------------------------------------------------- key-value store
def test_kvstore_failover_with_faults_is_accepted(live):
    s = live["kvstore_failover"]
    assert s["events"] == ["killed n1", "promoted n2"]
    assert s["acknowledged"] and s["lost"] == []
    kinds = [e["event"] for e in events(s["files"][0])]
    assert "Crash" in kinds and "Promote" in kinds
    assert accepted(check(KV, s["files"], check_invariants=True))


def test_kvstore_ack_before_replicate_is_rejected_and_loses_writes(live):
    s = live["kvstore_ack_early"]
    assert s["lost"], s          # the symptom: acknowledged writes gone after the failover
    evts = events(s["files"][0])
    # Against the spec of the protocol: rejected at the first early acknowledgement.
    r = check(KV, s["files"])
    assert r.status is Status.REJECTED
    rep = report_of(r)
    assert rep["event"]["number"] == first(evts, event="AckClient") == 2
    assert rep["why"][0]["action"] == "AckClient"
    assert "ackedBy[w]" in rep["why"][0]["conditions"][0]["condition"]
    # Against the spec of the buggy design: accepted until the failover, which
    # violates NoAckedWriteLost.
    r = check(KV, s["files"], consts=("AckBeforeReplicate=1",), check_invariants=True)
    assert r.status is Status.VIOLATION and r.violation.property == "NoAckedWriteLost"
    assert report_of(r)["event"]["number"] == first(evts, event="Promote")


def test_processes_are_cleaned_up_and_stay_on_localhost():
    start = time.monotonic()
    procs = []
    with pytest.raises(RuntimeError, match="boom"):
        with Cluster() as cluster:
            # n1 gets a socket made here; n2 makes its own and announces the port.
            _, fd = cluster.listen_for("n1")
            cluster.start("n1", "examples.kvstore.node",
                          ["--name", "n1", "--listen-fd", str(fd), "--out", os.devnull,
                           "--deadline", "60"])
            cluster.start("n2", "examples.kvstore.node",
                          ["--name", "n2", "--out", os.devnull, "--deadline", "60"])
            assert cluster.wait_ready("n2") > 0
            procs = list(cluster.procs.values())
            assert all(cluster.ports[n] > 0 for n in ("n1", "n2"))
            # A node whose launcher goes away (its standard input closes) exits by itself.
            cluster.procs["n1"].stdin.close()
            assert cluster.procs["n1"].wait(timeout=20) == 3
            raise RuntimeError("boom")
    assert all(p.poll() is not None for p in procs)
    assert time.monotonic() - start < 30
    # Every socket of the examples is on 127.0.0.1.
    assert LOCALHOST == "127.0.0.1"
    for path in (ROOT / "examples").rglob("*.py"):
        text = path.read_text()
        assert "0.0.0.0" not in text and "INADDR_ANY" not in text, path


# ----------------------------------------------------------------- recorded runs
CHECKS = [(e, c) for e in EXPECTED for c in e["checks"]]


def _id(pair) -> str:
    e, c = pair
    extra = "+".join([*c["consts"], *(["inv"] if c["check_invariants"] else [])])
    return e["name"] + (f"[{extra}]" if extra else "")


@pytest.mark.parametrize("entry,expect", CHECKS, ids=[_id(p) for p in CHECKS])
def test_recorded_trace_gives_the_expected_verdict(entry, expect):
    files = [str(ROOT / f) for f in entry["files"]]
    mapping = str(ROOT / entry["mapping"]) if entry["mapping"] else None
    r = check(str(ROOT / entry["spec"]), files, merge=entry["merge"], mapping=mapping,
              consts=tuple(expect["consts"]), check_invariants=expect["check_invariants"])
    rep = report_of(r)
    assert rep["verdict"] == expect["verdict"], rep.get("event")
    if expect["verdict"] == "accepted":
        return
    ev = rep["event"]
    assert (ev["number"], Path(ev["file"]).relative_to(ROOT).as_posix(), ev["line"]) == \
        (expect["event"], expect["file"], expect["line"])
    if "property" in expect:
        assert rep["property"] == expect["property"]


@pytest.mark.parametrize("entry,expect", [p for p in CHECKS if "shows" in p[1]],
                         ids=[_id(p) for p in CHECKS if "shows" in p[1]])
def test_expected_event_is_the_first_that_shows_the_bug(entry, expect):
    """Independently of the validator: the line expected.json names is the first one in
    its file with the fields that show the bug (for an application log, in the JSON
    after the prefix)."""
    lines = (ROOT / expect["file"]).read_text().splitlines()

    def shows(raw: str) -> bool:
        body = raw[raw.index("{"):] if "{" in raw else "{}"
        return _matches(json.loads(body), expect["shows"])

    assert shows(lines[expect["line"] - 1])
    assert not any(shows(raw) for raw in lines[:expect["line"] - 1])


def _matches(obj, pattern) -> bool:
    if isinstance(pattern, dict):
        return isinstance(obj, dict) and all(k in obj and _matches(obj[k], v)
                                             for k, v in pattern.items())
    return obj == pattern


def test_recorded_runs_cover_both_systems_every_level_and_both_verdicts():
    listed = {f for e in EXPECTED for f in e["files"]}
    on_disk = {p.relative_to(ROOT).as_posix() for p in RECORDED.rglob("*")
               if p.is_file() and p.name not in ("expected.json", "EXPECTED.md")}
    assert on_disk == listed
    for system in ("twopc", "kvstore"):
        mine = [e for e in EXPECTED if e["system"] == system]
        for detail in ("names", "args", "state"):
            verdicts = {c["verdict"] for e in mine if e["detail"] == detail
                        for c in e["checks"]}
            assert {"accepted", "rejected"} <= verdicts, (system, detail)
        assert any(e["merge"] for e in mine)
    assert any(c["verdict"] == "violation" for e in EXPECTED for c in e["checks"])
    assert any(e["mapping"] for e in EXPECTED)
