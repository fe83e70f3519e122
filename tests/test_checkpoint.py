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

from checker.checkpoint import FORMAT, CheckpointError, describe, read_meta, resume
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
    # and what differs is named (it said only "another spec or other settings")
    symmetric = ModelSpec.from_file("specs/2pc.spec", ["RM={r1,r2,r3,r4}"], symmetry=True)
    with pytest.raises(CheckpointError, match=r"; differs in: --symmetry\)"):
        explore_compact(symmetric, checkpoint_dir=str(d))
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
    assert json.loads((snap / "meta.json").read_text())["format"] == FORMAT == 2
    assert sorted(p.name for p in d.iterdir()) == ["CURRENT", snap.name]
    result = resume(str(d))
    assert (result.status, result.stats.distinct_states) == (Status.OK, 166)


# --------------------------------------------------------------------------- meta.json

TWO_PC_5 = ["RM={r1,r2,r3,r4,r5}"]     # 8,832 / 58,146 / depth 17 (docs/counts.md)


def edit_meta(snap: Path, change, *, reseal: bool = False) -> None:
    """Applies ``change`` to the snapshot's metadata; with ``reseal``, also rewrites its
    own checksum (as a writer with a bug would), to reach the checks behind it."""
    from checker.checkpoint import _meta_digest

    meta = json.loads((snap / "meta.json").read_text())
    change(meta)
    if reseal:
        meta["meta_sha256"] = _meta_digest(meta)
    (snap / "meta.json").write_text(json.dumps(meta, indent=1))


def cli(*args):
    from click.testing import CliRunner

    from checker.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def set_in(path: str, value):
    def change(meta):
        *keys, last = path.split(".")
        d = meta
        for k in keys:
            d = d[k]
        d[last] = value
    return change


@pytest.mark.parametrize(("path", "value"), [
    ("counters.distinct", 91443), ("counters.level", -5), ("files", {}),
    ("checkpoint_interval", 1.0), ("recipe.path", "specs/other.spec"),
])
def test_an_edited_meta_json_is_refused(tmp_path, path, value):
    """meta.json is checksummed too: an edited counter changed the counts reported (exit
    0), and an empty file list switched every data file's checksum off."""
    d = checkpointed(tmp_path, ModelSpec.from_file("specs/2pc.spec", TWO_PC_5))
    snap = read_meta(d)[1]
    edit_meta(snap, set_in(path, value))
    before = tree_digest(d)
    with pytest.raises(CheckpointError, match=r"corrupt \(snap-\d+/meta\.json: its content "
                                              "does not match its checksum"):
        resume(str(d))
    result = cli("resume", d)
    assert result.exit_code == 2
    assert "meta.json" in result.output and "corrupt" in result.output
    assert "No violation" not in result.output and "internal error" not in result.output
    assert tree_digest(d) == before


@pytest.mark.parametrize(("path", "value", "message"), [
    ("counters.distinct", "x", "counters.distinct is 'x'"),
    ("checkpoint_interval", "abc", "checkpoint_interval is 'abc'"),
    ("counters.level", -5, "counters.level is -5"),
    ("counters.elapsed", None, "counters.elapsed is None"),
    ("options.exact", 1, "options.exact is 1"),
    ("options.max_depth", 0, "options.max_depth is 0"),
    ("recipe.consts", "RM=1", "recipe.consts is 'RM=1'"),
    ("counters.distinct", 100, "its counters do not add up"),
    ("files", {}, r"files lists \[\]"),
    ("files.next.bin", None, "files lists"),
    ("files.keys.npy", "not a checksum", "the checksum of keys.npy is"),
    ("recipe.text", "spec Other\n", "its spec does not match its digest"),
])
def test_meta_fields_of_the_wrong_type_are_refused(tmp_path, path, value, message):
    """Each field's type and range is checked when the checkpoint is read (a wrong type
    was an internal TypeError; a negative level gave a wrong depth), even when meta.json
    matches its own checksum, and every data file must be listed."""
    d = checkpointed(tmp_path, ModelSpec.from_file("specs/2pc.spec", TWO_PC_5))
    snap = read_meta(d)[1]
    if path.startswith("files."):
        name = path.removeprefix("files.")

        def change(meta):
            if value is None:
                del meta["files"][name]
            else:
                meta["files"][name] = value
    else:
        change = set_in(path, value)
    edit_meta(snap, change, reseal=True)
    before = tree_digest(d)
    with pytest.raises(CheckpointError, match=r"corrupt \(snap-\d+/meta\.json: " + message):
        resume(str(d))
    result = cli("resume", d)
    assert result.exit_code == 2 and "internal error" not in result.output
    assert "corrupt" in result.output and "meta.json" in result.output
    assert tree_digest(d) == before


def test_a_checkpoint_of_format_1_is_refused_as_another_version(tmp_path):
    d = checkpointed(tmp_path, ModelSpec.from_file("specs/2pc.spec", TWO_PC_5))
    snap = read_meta(d)[1]

    def old(meta):
        meta["format"] = 1
        del meta["meta_sha256"]
    edit_meta(snap, old)
    result = cli("resume", d)
    assert result.exit_code == 2
    assert "checkpoint format 1" in result.output and "cannot be resumed" in result.output


def test_the_spec_in_meta_is_verified_before_it_is_compiled(tmp_path):
    """A spec text damaged inside meta.json is reported as a damaged checkpoint, not as a
    syntax error at a line of the intact spec file on disk."""
    d = checkpointed(tmp_path, ModelSpec.from_file("specs/paxos.spec", ["MaxBallot=1"]))
    snap = read_meta(d)[1]

    def damage(meta):
        meta["recipe"]["text"] = meta["recipe"]["text"].replace("spec Paxos",
                                                                "spec Paxos\nconst const")
    for reseal in (False, True):
        edit_meta(snap, damage, reseal=reseal)
        result = cli("resume", d)
        assert result.exit_code == 2
        assert "specs/paxos.spec:" not in result.output
        assert "meta.json" in result.output and "corrupt" in result.output


# --------------------------------------------------------------------------- the CLI

def header(output: str) -> list[str]:
    lines = output.splitlines()
    assert lines[0].startswith("Checking ")
    end = next(i for i, line in enumerate(lines[1:], 1) if not line.startswith("  "))
    return lines[:end]


def test_the_resume_header_is_the_checks(tmp_path):
    """Symmetry included: the resumed search counts orbits, and says so."""
    d = tmp_path / "ck"
    # (the run ends, and leaves the checkpoint of its last chunk boundary)
    check = cli("check", "specs/2pc.spec", "--const", "RM={r1,r2,r3,r4}", "--checkpoint", d,
                "--checkpoint-interval", "1e-9")
    assert check.exit_code == 0
    counters = read_meta(d)[0]["counters"]
    assert counters["expanded"] < counters["distinct"]      # something left to resume
    resumed = cli("resume", d)
    assert resumed.exit_code == 0
    assert any(line.startswith("  symmetry:   RM") for line in header(check.output))
    assert header(resumed.output) == [*header(check.output), f"  resumed:    {d}"]


def test_resume_takes_a_memory_limit(tmp_path):
    """The default is check's (80% of the memory available), not the saved limit: a run
    stopped by its memory limit can go on with more."""
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"
    stopped = explore_compact(recipe, checkpoint_dir=str(d), memory_limit=1)
    assert stopped.limit_reason == "memory limit of 1 bytes reached"
    assert read_meta(d)[0]["options"]["memory_limit"] == 1
    again = resume(str(d), memory_limit=1)      # (the CLI refuses a limit this small)
    assert again.limit_reason == "memory limit of 1 bytes reached"
    for bad in ("lots", "1", ""):
        refused = cli("resume", d, "--memory-limit", bad)
        assert refused.exit_code == 2 and "--memory-limit" in refused.output
    done = cli("resume", d, "--format", "json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert (doc["distinct_states"], doc["generated_states"], doc["depth"]) == (8832, 58146, 17)


def test_a_memory_stop_inside_a_chunk_is_saved_and_resumes_exactly(tmp_path, monkeypatch):
    """The memory limit checked before the seen set grows stops the search inside a
    chunk: the chunk is queued again and the stop saved (it was not: `resume` went back
    to the last periodic checkpoint, or had none), and resuming with more memory ends
    exactly as an uninterrupted run."""
    import checker.fingerprints as fingerprints

    def needs_more_past_4000(self, extra):
        return 10_000 if len(self) + extra > 4000 else 0

    monkeypatch.setattr(fingerprints, "current_rss", lambda: 1 << 20)
    monkeypatch.setattr(fingerprints.FingerprintTable, "bytes_to_hold", needs_more_past_4000)
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5, symmetry=False)
    d = tmp_path / "ck"
    stopped = explore_compact(recipe, checkpoint_dir=str(d), memory_limit=(1 << 20) + 5000,
                              checkpoint_interval=1000)
    assert "would be passed" in stopped.limit_reason
    assert stopped.notes[-1] == f"checkpoint saved in {d}; continue with `modelcheck " \
                                f"resume {d}`"
    counters = read_meta(d)[0]["counters"]
    assert counters["distinct"] == stopped.stats.distinct_states
    assert counters["generated"] == stopped.stats.generated_states
    done = resume(str(d), memory_limit=None)
    assert done.status is Status.OK
    assert (done.stats.distinct_states, done.stats.generated_states, done.stats.depth) \
        == (8832, 58146, 17)


def test_the_time_saved_is_the_time_so_far(tmp_path):
    """A checkpoint saves the time the search took to get there (it saved 0.0), and a
    resumed run reports the total, with the part since resuming in a note."""
    recipe = ModelSpec.from_file("specs/paxos.spec", symmetry=False)
    d = tmp_path / "ck"
    first = explore_compact(recipe, checkpoint_dir=str(d), time_limit=0.3)
    assert first.limit_reason == "time limit of 0.3s reached"
    saved = read_meta(d)[0]["counters"]["elapsed"]
    assert saved == first.stats.elapsed_s >= 0.3
    second = resume(str(d), time_limit=0.3)
    assert second.stats.elapsed_s >= saved + 0.3
    since = second.stats.elapsed_s - saved
    assert f"time: {second.stats.elapsed_s:.3f} s in all, {since:.3f} s since resuming" \
        in second.notes
    assert read_meta(d)[0]["counters"]["elapsed"] == second.stats.elapsed_s


# --------------------------------------------------------------------------- Ctrl-C

def _raising_at_first_progress(*signals):
    """A progress callback that raises these signals, in order, at its first call (in
    the middle of a chunk)."""
    calls = []

    def progress(info):
        calls.append(info)
        if len(calls) == 1:
            for sig in signals:
                signal.raise_signal(sig)

    return progress


def test_ctrl_c_stops_at_a_chunk_boundary_and_saves(tmp_path):
    """SIGINT during a checkpointed run is deferred to the next chunk boundary, where the
    search is saved; resumed, it ends as an uninterrupted run."""
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"
    progress = _raising_at_first_progress(signal.SIGINT)   # a Ctrl-C in a chunk

    before = signal.getsignal(signal.SIGINT)
    result = explore_compact(recipe, checkpoint_dir=str(d), progress=progress,
                             progress_interval=0.001)
    assert signal.getsignal(signal.SIGINT) is before
    assert (result.status, result.limit_reason) == (Status.LIMIT, "interrupted")
    assert result.notes[-1] == (f"checkpoint saved in {d}; continue with "
                                f"`modelcheck resume {d}`")
    assert read_meta(d)[0]["counters"]["distinct"] == result.stats.distinct_states < 8832
    done = resume(str(d))
    assert (done.status, done.stats.distinct_states, done.stats.generated_states,
            done.stats.depth) == (Status.OK, 8832, 58146, 17)


def test_a_stop_that_saves_nothing_says_what_resume_continues_from(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"

    def interrupt(info):     # an interrupt that did not come through the deferral
        raise KeyboardInterrupt

    result = explore_compact(recipe, checkpoint_dir=str(d), progress=interrupt,
                             progress_interval=0.001)
    assert result.limit_reason == "interrupted"
    assert result.notes[-1] == (f"no checkpoint was saved at this stop, nor before it (the "
                                f"first is written 300 s into a run): {d} holds none to "
                                "resume")
    assert not (d / "CURRENT").exists()
    d = tmp_path / "2"

    def ctrl_c(info):
        signal.raise_signal(signal.SIGINT)

    stopped = explore_compact(recipe, checkpoint_dir=str(d), progress=ctrl_c,
                              progress_interval=0.001)
    assert stopped.notes[-1].startswith("checkpoint saved")
    meta = read_meta(d)[0]
    c = meta["counters"]
    result = resume(str(d), progress=interrupt, progress_interval=0.001)
    assert result.notes[-1] == (f"no checkpoint was saved at this stop: `modelcheck resume "
                                f"{d}` continues from the last one ({c['distinct']:,} "
                                f"states, level {c['level']}, {c['elapsed']:.1f} s into "
                                "the search)")
    assert read_meta(d)[0] == meta


def test_a_search_out_of_memory_is_not_saved(tmp_path):
    """Out of memory, the search throws its frontier away: saving it then made a
    checkpoint that resumed to a wrong "no violation" with fewer states."""
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"
    calls = []

    def progress(info):
        calls.append(info)
        if len(calls) == 3:
            raise MemoryError

    result = explore_compact(recipe, checkpoint_dir=str(d), checkpoint_interval=1e-9,
                             progress=progress, progress_interval=0.001)
    assert result.limit_reason == "out of memory"
    assert "no checkpoint was saved at this stop" in result.notes[-1]
    done = resume(str(d))
    assert (done.status, done.stats.distinct_states, done.stats.generated_states) == (
        Status.OK, 8832, 58146)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_on_the_command_saves_a_checkpoint(tmp_path, sig):
    """A real SIGINT (a terminal's Ctrl-C) or SIGTERM (`kill`, `timeout`) to `modelcheck
    --checkpoint`: exit 3, "interrupted", saved at the next chunk boundary (SIGTERM said
    "no checkpoint was saved at this stop": only SIGINT was deferred); then `modelcheck
    resume` to the end, Paxos's 185,369 states, as an uninterrupted run."""
    d = tmp_path / "ck"
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "specs/paxos.spec", "--no-symmetry",
         "--checkpoint", str(d), "--checkpoint-interval", "0.2", "--format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (d / "CURRENT").exists():      # the search is running (and deferring)
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    doc = json.loads(out)
    assert (doc["status"], doc["limit_reason"]) == ("limit", "interrupted")
    assert doc["notes"][-1].startswith(f"checkpoint saved in {d}")
    assert read_meta(d)[0]["counters"]["distinct"] == doc["distinct_states"] < 185_369
    done = subprocess.run([sys.executable, "-m", "checker", "resume", str(d), "--format",
                           "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["distinct_states"], doc["generated_states"], doc["depth"]) == (
        185_369, 1_368_130, 25)


@pytest.mark.skipif(signal.getsignal(signal.SIGTERM) != signal.SIG_DFL,
                    reason="SIGTERM is handled by the test runner here")
def test_sigterm_is_deferred_and_both_handlers_are_restored(tmp_path):
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"
    # a second SIGTERM is ignored, and so is a Ctrl-C after it
    progress = _raising_at_first_progress(signal.SIGTERM, signal.SIGTERM, signal.SIGINT)

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result = explore_compact(recipe, checkpoint_dir=str(d), progress=progress,
                             progress_interval=0.001)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert (result.status, result.limit_reason) == (Status.LIMIT, "interrupted")
    assert result.notes[-1].startswith("checkpoint saved")
    done = resume(str(d))
    assert (done.status, done.stats.distinct_states, done.stats.generated_states,
            done.stats.depth) == (Status.OK, 8832, 58146, 17)


# --------------------------------------------------------------------------- the directory

TWO_PC_5_CLI = ("specs/2pc.spec", "--const", TWO_PC_5[0], "--no-symmetry")


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def counts(output: str) -> tuple:
    doc = json.loads(output)
    return doc["status"], doc["distinct_states"], doc["generated_states"], doc["depth"]


def one_error_line(result, *fragments: str) -> str:
    """The refusal of a command: exit status 2, one line on standard error, nothing on
    standard output (no search ran, no statistics)."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_a_directory_in_use_is_refused_and_freed_by_sigkill(tmp_path):
    """While a run uses DIR it holds DIR/.lock: a second `check --checkpoint DIR` (of this
    spec or another) or `resume DIR` is refused before it reads or writes anything (it
    started, and later died with a false "corrupt" error or left DIR holding the other
    spec's checkpoint); the kernel releases the lock of a run killed with SIGKILL."""
    d = tmp_path / "ck"
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", "check", "specs/paxos.spec", "--no-symmetry",
         "--checkpoint", str(d), "--checkpoint-interval", "0.05"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (d / "CURRENT").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        in_use = f"{d} is in use by another modelcheck run (pid {proc.pid})"
        one_error_line(cli("resume", d), in_use)
        one_error_line(cli("check", "specs/paxos.spec", "--no-symmetry", "--checkpoint", d),
                       in_use)
        one_error_line(cli("check", *TWO_PC_5_CLI, "--checkpoint", d), in_use)
        with pytest.raises(CheckpointError, match="in use by another modelcheck run"):
            resume(str(d))
        assert proc.poll() is None       # (the refused runs did not disturb it)
    finally:
        proc.kill()
        proc.wait()
    assert (d / ".lock").exists()        # left by the killed run, but not locked
    before = read_meta(d)[0]["counters"]["distinct"]
    resumed = cli("resume", d, "--time-limit", "0.2", "--format", "json")
    assert resumed.exit_code == 3, resumed.output
    assert json.loads(resumed.stdout)["distinct_states"] > before
    assert not (d / ".lock").exists()    # removed by the run that held it last


def test_an_in_process_lock_nests_only_in_its_thread(tmp_path):
    """`modelcheck resume` takes the lock before it reads the checkpoint, and ``resume``
    takes it again: in one thread that nests; another thread is refused."""
    import threading

    from checker.checkpoint import DirectoryLock

    d = checkpointed(tmp_path, ModelSpec.from_file("specs/2pc.spec", TWO_PC_5))
    errors = []
    with DirectoryLock(d, resuming=True):
        with DirectoryLock(d, resuming=True):
            pass
        assert (d / ".lock").read_text() == f"{os.getpid()}\n"

        def other():
            try:
                DirectoryLock(d, resuming=True)
            except CheckpointError as err:
                errors.append(str(err))
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert errors and "in use by another modelcheck run" in errors[0]
        assert resume(str(d)).stats.distinct_states == 8832
    assert not (d / ".lock").exists()


def test_a_missing_parent_is_not_created(tmp_path):
    """`--checkpoint DIR` creates DIR, not its missing parents (a mistyped path made a
    tree)."""
    d = tmp_path / "typo" / "deeper" / "ck"
    one_error_line(cli("check", *TWO_PC_5_CLI, "--checkpoint", d),
                   f"cannot create checkpoint directory {d}", f"{d.parent} does not exist")
    assert listing(tmp_path) == []
    made = cli("check", *TWO_PC_5_CLI, "--checkpoint", tmp_path / "new")
    assert made.exit_code == 0 and (tmp_path / "new").is_dir()


def test_a_non_empty_directory_without_a_checkpoint_is_refused(tmp_path):
    d = tmp_path / "ck"
    d.mkdir()
    (d / "notes.txt").write_text("mine\n")
    (d / ".lock").write_text("123\n")
    one_error_line(cli("check", *TWO_PC_5_CLI, "--checkpoint", d),
                   f"{d} is not empty (notes.txt) and holds no checkpoint")
    assert listing(d) == [".lock", "notes.txt"]
    # what a run killed before its first snapshot leaves (its lock file, a snapshot being
    # written) does not count: the next run goes on there, and tidies it
    (d / "notes.txt").unlink()
    (d / ".snap-000001.tmp").mkdir()
    (d / ".snap-000001.tmp" / "keys.npy").write_bytes(b"half")
    ran = cli("check", *TWO_PC_5_CLI, "--checkpoint", d, "--checkpoint-interval", "1e-9")
    assert ran.exit_code == 0, ran.output
    assert listing(d) == ["CURRENT", read_meta(d)[1].name]


def _file_size_limit(nbytes: int):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def test_an_unwritable_directory_is_refused_before_the_search(tmp_path):
    """A directory where no checkpoint can be written is found before the search (not at
    its first checkpoint, after minutes of work): exit 2, nothing left behind. Here files
    of more than 16 bytes cannot be written (RLIMIT_FSIZE, `ulimit -f`: it holds for
    root too)."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=_file_size_limit(16))

    d = tmp_path / "new"
    for args in (("check", *TWO_PC_5_CLI, "--checkpoint", d),
                 ("resume", checkpointed(tmp_path, ModelSpec.from_file("specs/2pc.spec",
                                                                        TWO_PC_5)))):
        before = tree_digest(tmp_path)
        done = run(*args)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.splitlines() == [
            f"error: cannot write a checkpoint in {args[-1]}: File too large"]
        assert tree_digest(tmp_path) == before
    assert not d.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only directory")
def test_a_read_only_directory_is_refused_before_the_search(tmp_path):
    d = tmp_path / "ck"
    d.mkdir()
    d.chmod(0o555)
    try:
        one_error_line(cli("check", *TWO_PC_5_CLI, "--checkpoint", d),
                       f"cannot write a checkpoint in {d}: Permission denied")
    finally:
        d.chmod(0o755)
    assert listing(d) == []


def _failing_writes(monkeypatch, first_failing_file: int) -> list:
    """Makes the snapshot writer fail, from its ``first_failing_file``-th data file on,
    as on a full disk; the calls are counted in the list returned."""
    import errno

    import checker.checkpoint as checkpoint

    real = checkpoint._sync_and_hash
    calls = []

    def sync_and_hash(path):
        calls.append(path)
        if len(calls) >= first_failing_file:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path)

    monkeypatch.setattr(checkpoint, "_sync_and_hash", sync_and_hash)
    return calls


@pytest.mark.parametrize("first_failing_file", [6, 1])
def test_a_failed_save_stops_the_search_with_its_statistics(tmp_path, monkeypatch,
                                                            first_failing_file):
    """A checkpoint that cannot be written (a full disk) stops the search as a limit:
    exit 3 with the statistics (it was exit 2 without them, and a half-written snapshot
    was left), the previous snapshot current, and no second try."""
    d = tmp_path / "ck"
    calls = _failing_writes(monkeypatch, first_failing_file)
    done = cli("check", *TWO_PC_5_CLI, "--checkpoint", d, "--checkpoint-interval", "1e-9",
               "--format", "json")
    assert done.exit_code == 3, done.output
    doc = json.loads(done.stdout)
    assert doc["limit_reason"] == (f"cannot write a checkpoint in {d}: "
                                   f"{os.strerror(errno_enospc())}")
    assert 0 < doc["distinct_states"] < 8832
    assert len(calls) == first_failing_file            # not saved again at the stop
    if first_failing_file == 1:
        assert doc["notes"][-1] == (f"no checkpoint was saved at this stop, nor before it: "
                                    f"{d} holds none to resume")
        assert listing(d) == []
        return
    meta, snap = read_meta(d)                          # the first snapshot, whole
    c = meta["counters"]
    assert listing(d) == ["CURRENT", "snap-000001"] == ["CURRENT", snap.name]
    assert doc["notes"][-1] == (
        f"no checkpoint was saved at this stop: `modelcheck resume {d}` continues from the "
        f"last complete one ({c['distinct']:,} states, level {c['level']}, "
        f"{c['elapsed']:.1f} s into the search)")
    monkeypatch.undo()
    resumed = cli("resume", d, "--format", "json")
    assert counts(resumed.stdout) == ("ok", 8832, 58146, 17)


def errno_enospc() -> int:
    import errno

    return errno.ENOSPC


def test_a_failed_save_at_a_stop_keeps_the_statistics(tmp_path, monkeypatch):
    """The save at a stop (here a Ctrl-C) that fails: the run still reports its limit
    and statistics (it raised CheckpointError), and says why nothing was saved."""
    recipe = ModelSpec.from_file("specs/2pc.spec", TWO_PC_5)
    d = tmp_path / "ck"
    _failing_writes(monkeypatch, 1)
    result = explore_compact(recipe, checkpoint_dir=str(d), progress_interval=0.001,
                             progress=_raising_at_first_progress(signal.SIGINT))
    assert (result.status, result.limit_reason) == (Status.LIMIT, "interrupted")
    assert result.notes[-1] == (f"no checkpoint was saved at this stop (cannot write a "
                                f"checkpoint in {d}: {os.strerror(errno_enospc())}), nor "
                                f"before it: {d} holds none to resume")
    assert listing(d) == []


# --------------------------------------------------------------------------- new limits

@pytest.mark.parametrize("store", [(), ("--fingerprints",)], ids=["exact", "fingerprints"])
def test_a_run_stopped_by_max_states_resumes_with_a_larger_limit(tmp_path, store):
    """`resume DIR --max-states N` replaces the saved limit (resume re-applied it, and
    had no option to raise it: such a run could never be continued), and ends as an
    uninterrupted check with that limit; 0 removes it. The stop itself is saved: the
    limit is passed inside a chunk, whose unfinished part is undone (the states stored
    past the limit forgotten, the rest of the chunk queued again)."""
    d = tmp_path / "ck"
    stopped = cli("check", *TWO_PC_5_CLI, *store, "--checkpoint", d,
                  "--checkpoint-interval", "1000", "--max-states", "3000", "--format", "json")
    assert stopped.exit_code == 3
    doc = json.loads(stopped.stdout)
    assert doc["limit_reason"] == "max states 3000 reached"
    assert doc["notes"][-1] == (
        f"checkpoint saved in {d}; `modelcheck resume {d} --max-states N`, with N above "
        "3,000 (0: no limit) continues it")
    held = read_meta(d)[0]["counters"]["distinct"]
    assert held == 3000
    before = tree_digest(d)
    one_error_line(cli("resume", d, "--max-states", held),
                   f"--max-states {held}: the checkpoint in {d} holds {held:,} states "
                   "already")
    assert tree_digest(d) == before
    resumed = cli("resume", d, "--max-states", 5000, "--format", "json")
    whole = cli("check", *TWO_PC_5_CLI, "--workers", 1, "--max-states", 5000, "--format",
                "json")
    assert counts(resumed.stdout) == counts(whole.stdout) == ("limit", 5000, 27245, 10)
    assert read_meta(d)[0]["options"]["max_states"] == 5000     # (saved from now on)
    done = cli("resume", d, "--max-states", 0, "--format", "json")
    assert counts(done.stdout) == ("ok", 8832, 58146, 17)


def test_a_run_stopped_by_max_depth_resumes_deeper(tmp_path):
    """The stop at the depth limit saves nothing (its snapshot, with the states beyond
    the limit never stored, could not go deeper), and no periodic one is taken once
    states were cut off; one is taken as the last level begins, which continues with
    `--max-depth N` exactly as an uninterrupted run with N."""
    d = tmp_path / "ck"
    stopped = cli("check", *TWO_PC_5_CLI, "--checkpoint", d, "--checkpoint-interval", "1000",
                  "--max-depth", "8", "--format", "json")
    assert stopped.exit_code == 3
    doc = json.loads(stopped.stdout)
    assert doc["limit_reason"] == "max depth 8 reached"
    assert (f"`modelcheck resume {d} --max-depth N`, with N above 8 (0: no limit), "
            "continues deeper from the last one") in doc["notes"][-1]
    meta = read_meta(d)[0]
    assert not meta["counters"]["cut"] and meta["counters"]["level"] == 8
    # (it said "at depth 8 already" where the statistics of a run saved there say depth 9)
    one_error_line(cli("resume", d, "--max-depth", 3),
                   f"the checkpoint in {d} was saved while the search expanded the states "
                   "at depth 8 (their successors are at depth 9); give --max-depth 9 or "
                   "more (0: no limit)")
    # a checkpoint saved after the cut (as at a time limit in the last level) can only be
    # resumed to its depth
    cut = tmp_path / "cut"
    cut.mkdir()
    for path in d.rglob("*"):
        target = cut / path.relative_to(d)
        if path.is_dir():
            target.mkdir()
        else:
            target.write_bytes(path.read_bytes())
    edit_meta(read_meta(cut)[1], set_in("counters.cut", True), reseal=True)
    one_error_line(cli("resume", cut, "--max-depth", 12),
                   "cut off states beyond its depth limit of 8")

    resumed = cli("resume", d, "--max-depth", 12, "--format", "json")
    whole = cli("check", *TWO_PC_5_CLI, "--workers", 1, "--max-depth", 12, "--format",
                "json")
    assert counts(resumed.stdout) == counts(whole.stdout) == ("limit", 8175, 54771, 12)
    done = cli("resume", d, "--max-depth", 0, "--format", "json")
    assert counts(done.stdout) == ("ok", 8832, 58146, 17)


def test_resume_explains_with_the_saved_text_not_the_edited_file(tmp_path):
    # (the explanation quoted the spec file by the saved text's positions: after an
    # edit it read "forall v, w in Accept: ...")
    spec = tmp_path / "nb.spec"
    spec.write_text((ROOT / "specs" / "buggy" / "paxos_no_ballot_check.spec").read_text())
    first = cli("check", spec, "--no-symmetry", "--checkpoint", tmp_path / "ck",
                 "--max-states", "5000")
    assert first.exit_code == 3, first.output
    spec.write_text(spec.read_text().replace("forall v, w in Values:",
                                             "forall v, w in Acceptors:"))
    got = cli("resume", tmp_path / "ck", "--max-states", "0")
    assert got.exit_code == 1, got.output
    assert "forall v, w in Values: chosen(v) and chosen(w) implies v == w is false" \
        in got.output


def test_resume_can_change_the_checkpoint_interval(tmp_path):
    # (a small interval chosen for `check` slowed every later resume: 90 s against 46 s)
    ck = tmp_path / "ck"
    first = cli("check", "specs/paxos.spec", "--const", "MaxBallot=2", "--no-symmetry",
                "--checkpoint", ck, "--checkpoint-interval", "0.5", "--max-states", "20000")
    assert first.exit_code == 3, first.output
    assert read_meta(ck)[0]["checkpoint_interval"] == 0.5
    got = cli("resume", ck, "--max-states", "40000", "--checkpoint-interval", "123")
    assert got.exit_code == 3, got.output
    assert read_meta(ck)[0]["checkpoint_interval"] == 123.0


def test_a_lock_file_that_is_a_directory_is_named(tmp_path):
    # (the message said only "Is a directory")
    d = tmp_path / "ck"
    first = cli("check", "specs/2pc.spec", "--checkpoint", d, "--max-states", "50")
    assert first.exit_code == 3, first.output
    (d / ".lock").mkdir()
    got = cli("resume", d)
    assert got.exit_code == 2
    assert f"cannot write a checkpoint in {d}: {d / '.lock'} is a directory" in got.output
