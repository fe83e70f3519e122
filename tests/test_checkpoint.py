"""Checkpoints: a run killed with SIGKILL and resumed ends exactly as an uninterrupted
one; a checkpoint of another spec or version, or a damaged one, is refused, and never
overwritten."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checker.checkpoint import CheckpointError, describe, read_meta, resume
from checker.fingerprints import explore_compact
from checker.parallel import ModelSpec
from checker.result import Status

ROOT = Path(__file__).resolve().parent.parent


def summary(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, v and v.property,
            v and tuple((s.label, s.state) for s in v.trace))


def tree_digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        h.update(str(path.relative_to(directory)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def checkpointed(tmp_path, recipe, **kw) -> Path:
    """A checkpoint of ``recipe``'s search, stopped early by its time limit."""
    d = tmp_path / "ck"
    result = explore_compact(recipe, checkpoint_dir=str(d), checkpoint_interval=1e-9, **kw)
    assert (d / "CURRENT").exists(), result
    return d


def test_killed_run_resumes_to_the_same_counts(tmp_path):
    d = tmp_path / "ck"
    code = (
        "from checker.parallel import ModelSpec\n"
        "from checker.fingerprints import explore_compact\n"
        "r = ModelSpec.from_file('specs/2pc.spec', ['RM={r1,r2,r3,r4,r5,r6,r7}'])\n"
        f"explore_compact(r, checkpoint_dir={str(d)!r}, checkpoint_interval=0.25)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run finished before it could be killed"
            try:
                meta, _ = read_meta(d)
                if meta["counters"]["distinct"] > 2000:
                    break
            except CheckpointError:
                pass
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    level = read_meta(d)[0]["counters"]["level"]
    assert 1 <= level < 23            # killed in the middle
    result = resume(str(d), checkpoint_interval=60)
    # TwoPhase with 7 RMs: the counts of docs/counts.md (TLC: 296,448 distinct states)
    assert result.status is Status.OK
    assert (result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth) == (296448, 2744706, 23)


@pytest.mark.parametrize("exact", [False, True])
def test_stopped_and_resumed_violation_is_the_same(tmp_path, exact):
    recipe = ModelSpec.from_file("specs/buggy/paxos_ignore_1b_values.spec", ["MaxBallot=1"])
    whole = explore_compact(recipe, exact=exact)
    d = tmp_path / "ck"
    result = explore_compact(recipe, exact=exact, checkpoint_dir=str(d),
                             checkpoint_interval=0.01, time_limit=0.05)
    rounds = 0
    while result.status is Status.LIMIT:
        assert "modelcheck resume" in result.notes[-1]
        result = resume(str(d), time_limit=0.05)
        rounds += 1
        assert rounds < 500
    assert summary(result) == summary(whole)
    assert result.status is Status.VIOLATION


def test_a_checkpoint_is_never_overwritten(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec", ["RM={r1,r2,r3,r4}"])
    d = checkpointed(tmp_path, recipe)
    before = tree_digest(d)
    with pytest.raises(CheckpointError, match="already holds a checkpoint of this run"):
        explore_compact(recipe, checkpoint_dir=str(d))
    other = ModelSpec.from_file("specs/paxos.spec", ["MaxBallot=0"])
    with pytest.raises(CheckpointError, match="another spec"):
        explore_compact(other, checkpoint_dir=str(d))
    with pytest.raises(CheckpointError, match="another spec"):
        resume(str(d), recipe=other)
    assert tree_digest(d) == before
    assert "TwoPhase" in describe(str(d))


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec", ["RM={r1,r2,r3,r4}"])
    d = checkpointed(tmp_path, recipe)
    meta, snap = read_meta(d)

    def refused(match):
        before = tree_digest(d)
        with pytest.raises(CheckpointError, match=match):
            resume(str(d))
        assert tree_digest(d) == before

    # another version
    text = (snap / "meta.json").read_text()
    (snap / "meta.json").write_text(text.replace(f'"version": "{meta["version"]}"',
                                                 '"version": "0.0.1"'))
    refused("written by modelcheck 0.0.1")
    # a damaged data file
    (snap / "meta.json").write_text(text)
    keys = snap / "keys.npy"
    data = bytearray(keys.read_bytes())
    data[-1] ^= 0xFF
    keys.write_bytes(bytes(data))
    refused("corrupt .*keys.npy does not match")
    # damaged metadata, a dangling pointer, no checkpoint at all
    (snap / "meta.json").write_text("{not json")
    refused("corrupt")
    (d / "CURRENT").write_text("snap-999999\n")
    refused("corrupt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        resume(str(tmp_path / "nothing-here"))


def test_meta_records_the_spec_and_settings(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec", ["RM={r1,r2,r3,r4}"], symmetry=True)
    d = checkpointed(tmp_path, recipe, max_depth=30)
    meta, snap = read_meta(d)
    assert meta["digest"] == recipe.digest()
    assert meta["recipe"]["consts"] == ["RM={r1,r2,r3,r4}"]
    assert meta["options"]["max_depth"] == 30
    assert json.loads((snap / "meta.json").read_text())["format"] == 1
    assert sorted(p.name for p in d.iterdir()) == ["CURRENT", snap.name]
    result = resume(str(d))
    assert (result.status, result.stats.distinct_states) == (Status.OK, 166)
