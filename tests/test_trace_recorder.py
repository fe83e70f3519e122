"""The instrumentation module: programs write JSON Lines the validator reads as is."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.result import Status
from checker.trace import report_of, validate
from checker.trace.recorder import Recorder, jsonable, record

ROOT = Path(__file__).resolve().parent.parent
TPC = load_spec(str(ROOT / "specs" / "2pc.spec"))
RMS = ("r1", "r2", "r3")


def run_2pc(make_recorder, *, clocks: bool) -> None:
    """Two-phase commit with threads as nodes and queues as the network; every node
    records what it does just before it sends anything about it."""
    to_tm: queue.Queue = queue.Queue()
    to_rm = {r: queue.Queue() for r in RMS}

    def participant(r: str) -> None:
        rec = make_recorder(r)
        rec.record("RMPrepare", {"r": r}, state={f"rmState[{r}]": "prepared"})
        to_tm.put((r, rec.send_clock() if clocks else None))
        msg, clock = to_rm[r].get(timeout=10)
        if clocks:
            rec.receive_clock(clock)
        rec.record("RMRcvCommitMsg", {"r": r})

    def coordinator() -> None:
        rec = make_recorder("tm")
        for _ in RMS:
            r, clock = to_tm.get(timeout=10)
            if clocks:
                rec.receive_clock(clock)
            rec.record("TMRcvPrepared", {"r": r})
        rec.record("TMCommit", state={"tmState": "committed"})
        for r in RMS:
            to_rm[r].put(("commit", rec.send_clock() if clocks else None))

    threads = [threading.Thread(target=participant, args=(r,)) for r in RMS]
    threads.append(threading.Thread(target=coordinator))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)


def test_one_file_per_node_merged_by_vector_clock(tmp_path):
    recs = {}

    def make(node):
        recs[node] = Recorder(tmp_path / "run", node=node, clock=True)
        return recs[node]

    run_2pc(make, clocks=True)
    for rec in recs.values():
        rec.close()
    files = sorted(str(p) for p in (tmp_path / "run").glob("*.jsonl"))
    assert [Path(f).name for f in files] == ["r1.jsonl", "r2.jsonl", "r3.jsonl", "tm.jsonl"]
    line = json.loads(Path(files[0]).read_text().splitlines()[0])
    assert set(line) >= {"event", "args", "node", "seq", "ts", "clock", "state"}
    r = validate(TPC, files, {"input": {"order": "clock"}})
    assert r.status is Status.OK, report_of(r)
    # By timestamp too (the threads record before they send).
    assert validate(TPC, files, {"input": {"order": "ts"}}).status is Status.OK


def test_one_merged_file_for_every_node(tmp_path):
    path = tmp_path / "all.jsonl"
    shared = Recorder(file=path, header={"constants": {"RM": list(RMS)}})

    class Node:
        def __init__(self, name):
            self.name = name

        def record(self, *a, **kw):
            return shared.record(*a, node=self.name, **kw)

        def send_clock(self):
            return None

    run_2pc(Node, clocks=False)
    shared.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"header": {"constants": {"RM": ["r1", "r2", "r3"]}}}
    seqs = [json.loads(x)["seq"] for x in lines[1:]]
    assert seqs == list(range(1, 11))
    assert validate(TPC, str(path)).status is Status.OK


def test_threads_share_a_recorder_without_tearing_lines(tmp_path):
    rec = Recorder(file=tmp_path / "t.jsonl")

    def work(k):
        for i in range(200):
            rec.record("RMPrepare", {"r": "r1"}, node=f"n{k}", i=i, pad="x" * 300)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.close()
    objs = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(objs) == 1600
    assert [o["seq"] for o in objs] == list(range(1, 1601))
    for k in range(8):
        assert [o["i"] for o in objs if o["node"] == f"n{k}"] == list(range(200))


def test_asyncio_tasks(tmp_path):
    rec = Recorder(tmp_path, node="loop", flush="exit", buffer_lines=7)

    async def task(k):
        for i in range(20):
            rec.record("RMPrepare", {"r": "r1"}, task=k, i=i)
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(task(k) for k in range(5)))

    asyncio.run(main())
    rec.close()
    lines = (tmp_path / "loop.jsonl").read_text().splitlines()
    assert len(lines) == 100 and len({json.loads(x)["seq"] for x in lines}) == 100


def _child_writes(path: str, k: int) -> None:
    rec = Recorder(file=path)
    for i in range(100):
        rec.record("RMPrepare", {"r": "r1"}, node=f"p{k}", i=i, pad="y" * 500)
    rec.close()


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_processes_append_to_one_file(tmp_path):
    path = str(tmp_path / "m.jsonl")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_child_writes, args=(path, k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    objs = [json.loads(x) for x in Path(path).read_text().splitlines()]
    assert len(objs) == 400
    for k in range(4):
        assert [o["i"] for o in objs if o["node"] == f"p{k}"] == list(range(100))


CHILD = """
import os, signal, sys
from checker.trace.recorder import Recorder, configure, record
mode = sys.argv[2]
if mode == "exit":
    rec = Recorder(file=sys.argv[1], flush="exit")
    rec.record("RMPrepare", {"r": "r1"})
    rec.record("RMPrepare", {"r": "r2"})      # never closed: written at interpreter exit
elif mode == "kill":
    rec = Recorder(file=sys.argv[1])
    rec.record("RMPrepare", {"r": "r1"})
    os.kill(os.getpid(), signal.SIGKILL)      # each line was written at once
else:
    configure(file=sys.argv[1], flush="exit")
    record("RMPrepare", {"r": "r3"})
"""


@pytest.mark.parametrize("mode,count", [("exit", 2), ("kill", 1), ("global", 1)])
def test_flushes_on_exit_and_survives_kill(tmp_path, mode, count):
    path = tmp_path / "c.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], env=env, timeout=60)
    if mode == "kill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == count
    assert validate(TPC, str(path)).status is Status.OK


def test_values_and_errors(tmp_path):
    import enum
    from dataclasses import dataclass

    class Color(enum.Enum):
        red = 1

    @dataclass
    class Msg:
        tag: str
        rm: str

    assert jsonable({"s": {"b", "a"}, "t": (1, 2), "e": Color.red, "m": Msg("Prepared", "r1"),
                     1: None}) == {"s": ["a", "b"], "t": [1, 2], "e": "red",
                                   "m": {"tag": "Prepared", "rm": "r1"}, "1": None}
    with pytest.raises(TypeError):
        jsonable(object())
    with pytest.raises(ValueError):
        Recorder()
    with pytest.raises(ValueError):
        Recorder(tmp_path)
    rec = Recorder(file=tmp_path / "x.jsonl")
    with pytest.raises(RuntimeError):
        rec.send_clock()
    rec.close()
    assert rec.closed
    with pytest.raises(RuntimeError):
        rec.record("RMPrepare")
    assert record("nothing configured") is None
