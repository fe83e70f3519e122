"""Scratch directories: a killed run's directory is removed by the next run, a living
run's never is."""

from __future__ import annotations

import os
import subprocess
import sys

from checker.scratch import LOCK, make_scratch_dir, remove_orphans, remove_scratch_dir

MAKE_AND_DIE = (
    "import os, sys\n"
    "from checker.scratch import make_scratch_dir\n"
    "path = make_scratch_dir('spill', sys.argv[1])\n"
    "open(os.path.join(path, 'frontier.bin'), 'wb').write(b'x' * 1000)\n"
    "print(path, flush=True)\n"
    "os._exit(0)   # as if killed: nothing cleaned up\n"
)

HOLD = (
    "import sys, time\n"
    "from checker.scratch import make_scratch_dir\n"
    "print(make_scratch_dir('workers', sys.argv[1]), flush=True)\n"
    "time.sleep(60)\n"
)


def _dead_run_dir(root) -> str:
    out = subprocess.run([sys.executable, "-c", MAKE_AND_DIE, str(root)],
                         capture_output=True, text=True, check=True)
    path = out.stdout.strip()
    assert os.path.isdir(path) and os.path.exists(os.path.join(path, LOCK))
    return path


def test_a_new_directory_removes_those_of_dead_runs(tmp_path):
    dead = _dead_run_dir(tmp_path)
    mine = make_scratch_dir("workers", str(tmp_path))
    try:
        assert not os.path.exists(dead)
        assert os.path.isdir(mine) and os.path.basename(mine).startswith("modelcheck-workers-")
    finally:
        remove_scratch_dir(mine)
    assert not os.path.exists(mine)


def test_a_living_run_keeps_its_directory(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        theirs = holder.stdout.readline().strip()
        assert os.path.isdir(theirs)
        assert remove_orphans(str(tmp_path)) == []
        mine = make_scratch_dir("spill", str(tmp_path))
        assert os.path.isdir(theirs)
        # this process's own directory is not an orphan either
        assert remove_orphans(str(tmp_path)) == []
        remove_scratch_dir(mine)
    finally:
        holder.kill()
        holder.wait()
    # now its creator is dead
    assert remove_orphans(str(tmp_path)) == [theirs]
    assert not os.path.exists(theirs)


def test_what_is_not_a_locked_scratch_directory_is_left_alone(tmp_path):
    unlocked = tmp_path / "modelcheck-old-1234"      # an older version's, or half made
    unlocked.mkdir()
    (unlocked / "l1-0-1.bin").write_bytes(b"x")
    a_file = tmp_path / "modelcheck-notes.txt"
    a_file.write_text("mine")
    other = tmp_path / "other-dir"
    other.mkdir()
    (other / LOCK).write_text("")
    target = tmp_path / "target"
    target.mkdir()
    (target / LOCK).write_text("")
    link = tmp_path / "modelcheck-link"
    link.symlink_to(target, target_is_directory=True)
    assert remove_orphans(str(tmp_path)) == []
    assert unlocked.is_dir() and a_file.is_file() and other.is_dir() and target.is_dir()
    assert link.is_symlink()


def test_a_missing_root_is_no_error(tmp_path):
    assert remove_orphans(str(tmp_path / "absent")) == []
