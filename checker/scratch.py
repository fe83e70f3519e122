"""Temporary directories that a killed run does not leave behind for good.

A run killed by SIGKILL (the kernel's out-of-memory killer, ``kill -9``, a CI job's
timeout) cannot remove its temporary directory, and a spilled frontier there can hold
gigabytes. So each directory holds a lock file that its creator keeps locked
(``flock``) for as long as it lives; the kernel drops the lock when the process dies,
however it dies. Creating a directory first removes every earlier one, in the same
place and of the same user, whose lock nobody holds.

A lock, rather than the PID in the name, because PIDs are reused and mean nothing to a
process in another PID namespace (containers sharing ``/tmp``), while a lock on a file
is seen by every process of the kernel.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile

PREFIX = "modelcheck-"
LOCK = ".lock"

# Lock files held by this process, by directory, so that removing the directory can
# release its lock (forked workers share the open file and so keep the lock while they
# live, which is right: the directory is in use until they end).
_held: dict[str, int] = {}


def make_scratch_dir(kind: str, root: str | None = None) -> str:
    """A new directory ``modelcheck-<kind>-…`` under ``root`` (the system's temporary
    directory by default), locked by this process; orphans of killed runs go first."""
    root = root or tempfile.gettempdir()
    remove_orphans(root)
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=root)
    # Locked before it has its name, so that no other process can take the lock in the
    # moment between the file's creation and its locking and think the directory dead.
    staging = os.path.join(path, LOCK + ".new")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(staging, os.path.join(path, LOCK))
    except OSError:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        raise
    _held[path] = fd
    return path


def remove_scratch_dir(path: str) -> None:
    """Removes a directory made by ``make_scratch_dir`` and releases its lock."""
    shutil.rmtree(path, ignore_errors=True)
    fd = _held.pop(path, None)
    if fd is not None:
        os.close(fd)


def remove_orphans(root: str) -> list[str]:
    """Removes this user's scratch directories under ``root`` whose lock is free (their
    creator is dead); returns their paths. A directory without a lock file (made by an
    older version, or being made right now) is left alone."""
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        if not entry.name.startswith(PREFIX) or entry.path in _held:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            continue
        if _orphaned(os.path.join(entry.path, LOCK)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def _orphaned(lock_path: str) -> bool:
    """Whether nobody holds the lock of ``lock_path`` (which must exist)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False        # held: its creator is alive
    finally:
        os.close(fd)        # (closing also releases a lock just taken)
    return True
