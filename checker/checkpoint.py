"""Checkpoints: the compact search's whole state on disk, written atomically, so that a
long run can be stopped (or killed) and continued with the same final counts and verdict.

A checkpoint directory holds numbered snapshots and a ``CURRENT`` file naming the latest
complete one::

    DIR/CURRENT            "snap-000003"
    DIR/snap-000003/       meta.json, the seen set, the queued states of the level being
                           expanded (current.bin) and of the next one (next.bin)
    DIR/.lock              locked by the run using DIR (only while one does, or left by
                           one that was killed)

A snapshot is written into a temporary directory, synced, renamed into place, and only
then named in ``CURRENT`` (written to a temporary file and renamed over it), after which
older snapshots are deleted: a crash at any moment leaves ``CURRENT`` naming a complete
snapshot. ``meta.json`` records the checkpoint format, the modelcheck version, the spec's
text and settings (with their digest), the search options and counters, a SHA-256 of
each data file, and a SHA-256 of its own content (``meta_sha256``: the canonical JSON of
the other fields), so that a checkpoint of another spec or version, or a damaged or
edited one, is refused with a clear ``CheckpointError`` rather than continued: an edited
counter would otherwise change the reported counts, and an edited file list would switch
the data files' checksums off.

Snapshots are taken between chunks of a level (every ``checkpoint_interval`` seconds)
and when a run stops at its time limit, its memory limit or a Ctrl-C; a resumed run
continues from the latest one and, because the search is deterministic, ends exactly as
an uninterrupted run would. Its time is the search's total: the time saved in the
checkpoint plus the time since resuming.

While a run (a new one or a resumed one) uses a directory, it holds an exclusive
``flock`` on ``DIR/.lock`` (which records its PID, for information only): a second run
on the same directory is refused before it reads or writes anything there, and the
kernel drops the lock when the process dies, however it dies (``checker.scratch`` does
the same for temporary directories). Before the search starts, a file is created and
removed in the directory, so that one where nothing can be written is refused at once
rather than at the first checkpoint; a save that fails later (a full disk) stops the
search as a limit, with its statistics, and keeps the previous checkpoint current.

A run with a depth limit stores no state beyond it: a snapshot taken after the search
has cut states off there could never go deeper, so none is taken periodically from then
on (a stop at the time or memory limit, or Ctrl-C, is still saved); one is taken as the
last level begins, and none at the stop at the depth limit itself, so that a larger
``max_depth`` continues from the last level's start. A stop at the state limit, or at
the memory limit checked before the seen set grows, comes inside a chunk: the chunk's
unfinished part is undone (``CompactSearch.rewind``) and the stop saved.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import marshal
import math
import os
import pickle
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

from .fingerprints import CompactSearch, FingerprintTable, Frontier, StopSearch
from .interrupts import interrupt_seen, is_ours
from .result import Result, Status

# 2: meta.json carries its own checksum (meta_sha256); format 1 did not, so a checkpoint
# of format 1 is refused as one of another version.
FORMAT = 2
CURRENT = "CURRENT"
LOCK = ".lock"
META = "meta.json"
META_DIGEST = "meta_sha256"
# The data files of a snapshot, by seen set: exactly these must be listed and checksummed.
EXACT_FILES = frozenset({"seen.pickle", "current.bin", "next.bin"})
TABLE_FILES = frozenset({"keys.npy", "parents.npy", "current.bin", "next.bin"})
# How often the search looks for a deferred Ctrl-C (between chunks, through ``progress``).
_INTERRUPT_POLL_S = 0.1


class CheckpointError(Exception):
    """A checkpoint that cannot be written or resumed (the CLI exits with status 2)."""


def _version() -> str:
    from . import __version__

    return __version__


# --------------------------------------------------------------------------- running

def run_with_checkpoints(recipe, directory: str, *, checkpoint_interval: float = 300.0,
                         time_limit: float | None = None, progress=None,
                         progress_interval: float = 1.0, **options) -> Result:
    """A new compact search that checkpoints into ``directory``: created if missing (not
    its parents), or empty, or holding only what a run killed before its first
    checkpoint left there; one that holds a checkpoint is refused (a checkpoint is never
    overwritten by another run), and so is one in use by another run, or one where
    nothing can be written."""
    if not hasattr(recipe, "digest") or not hasattr(recipe, "to_json"):
        raise CheckpointError("checkpoints need a ModelSpec recipe (the spec's text and "
                              "settings are saved with the search)")
    if checkpoint_interval <= 0:
        raise ValueError(f"checkpoint_interval must be positive, not {checkpoint_interval}")
    root = Path(directory)
    made = _make_directory(root)
    lock = None
    try:
        lock = DirectoryLock(root)
        _refuse_existing(root, recipe)
        _probe(root)
        search = CompactSearch(recipe, **options)
    except BaseException:
        if lock is not None:
            lock.release()
        if made:
            try:
                root.rmdir()
            except OSError:
                pass
        raise
    with lock:
        lock.ran = True
        return _run(search, root, checkpoint_interval, time_limit, progress,
                    progress_interval)


# the limits that ``resume`` keeps unless told otherwise
SAVED = "saved"


def resume(directory: str, *, time_limit: float | None = None, progress=None,
           progress_interval: float = 1.0, checkpoint_interval: float | None = None,
           recipe=None, memory_limit: int | None | str = SAVED,
           max_states: int | None | str = SAVED,
           max_depth: int | None | str = SAVED) -> Result:
    """Continues the search saved in ``directory`` (and goes on checkpointing there).
    With ``recipe``, also checks that the checkpoint is of that spec and settings.
    ``memory_limit``: "saved" keeps the stopped run's limit; "default" is
    ``default_memory_limit()`` (as for a new run); bytes; None: no limit. (A run stopped
    by its memory limit can so be continued with more.) ``max_states``, ``max_depth``:
    "saved" keeps the stopped run's limit; a number replaces it; None removes it. A new
    state limit must be above the states the checkpoint holds; a new depth limit above
    the checkpoint's level, and only for a checkpoint saved before the search cut states
    off at its old depth limit (they were not stored): CheckpointError otherwise (the
    counts would not be an uninterrupted run's)."""
    root = Path(directory)
    with DirectoryLock(root, resuming=True) as lock:
        meta, snap = read_meta(root)
        if recipe is not None and recipe.digest() != meta["digest"]:
            raise CheckpointError(f"{root} holds a checkpoint of another spec or other "
                                  f"settings ({describe_meta(meta)})")
        if memory_limit == "default":
            from .memory import default_memory_limit

            memory_limit = default_memory_limit()
        elif memory_limit != SAVED and memory_limit is not None and (
                not _is_int(memory_limit) or memory_limit <= 0):
            raise ValueError(f"memory_limit must be a positive number of bytes, "
                             f"\"saved\", \"default\" or None, not {memory_limit!r}")
        _check_new_limits(root, meta, max_states, max_depth)
        _probe(root)
        search = _restore(meta, snap)
        if memory_limit != SAVED:
            search.memory_limit = memory_limit
        if max_states != SAVED:
            search.max_states = max_states
        if max_depth != SAVED:
            search.max_depth = max_depth
        interval = checkpoint_interval or meta["checkpoint_interval"]
        lock.ran = True
        return _run(search, root, interval, time_limit, progress, progress_interval,
                    resumed_at=search.elapsed_before)


def _check_new_limits(root: Path, meta: dict, max_states, max_depth) -> None:
    """Refuses a new state or depth limit with which the resumed search would not end
    as an uninterrupted run with that limit."""
    opts, c = meta["options"], meta["counters"]
    for name, value in (("max_states", max_states), ("max_depth", max_depth)):
        if value != SAVED and value is not None and not _positive(value):
            raise ValueError(f"{name} must be a positive integer, \"saved\" or None, "
                             f"not {value!r}")
    if max_states not in (SAVED, None) and max_states <= c["distinct"]:
        raise CheckpointError(
            f"--max-states {max_states}: the checkpoint in {root} holds "
            f"{c['distinct']:,} states already; give a larger limit (0: no limit)")
    if max_depth in (SAVED, opts["max_depth"]):
        return
    given = max_depth or 0
    if c["cut"]:
        raise CheckpointError(
            f"--max-depth {given}: the checkpoint in {root} was saved after its search "
            f"had cut off states beyond its depth limit of {opts['max_depth']} (they are "
            "not stored), so it can only be resumed to that depth; run `modelcheck "
            "check` again for another depth")
    if max_depth is not None and max_depth <= c["level"]:
        raise CheckpointError(
            f"--max-depth {given}: the checkpoint in {root} was saved while the search "
            f"expanded the states at depth {c['level']} (their successors are at depth "
            f"{c['level'] + 1}); give --max-depth {c['level'] + 1} or more (0: no limit)")


def _run(search: CompactSearch, root: Path, interval: float, time_limit, progress,
         progress_interval, resumed_at: float | None = None) -> Result:
    failed: list[CheckpointError] = []

    def save(s: CompactSearch) -> None:
        if s.cut:
            # states beyond the depth limit were cut off: a snapshot from now on could
            # not go deeper, so the last one (before the cut) stays current
            return
        try:
            write_snapshot(root, s, interval)
        except CheckpointError as err:
            # (the previous snapshot stays current): stop, with the statistics
            failed.append(err)
            raise StopSearch(str(err)) from None

    try:
        with _DeferredInterrupt() as ctrl_c:
            result = search.run(time_limit=time_limit,
                                progress=ctrl_c.progress(progress, progress_interval),
                                progress_interval=min(progress_interval, _INTERRUPT_POLL_S),
                                checkpoint=save, checkpoint_interval=interval)
            notes = []
            if resumed_at is not None:
                total = result.stats.elapsed_s
                notes.append(f"time: {total:.3f} s in all, {total - resumed_at:.3f} s "
                             "since resuming")
            if result.status is Status.LIMIT:
                if failed and result.limit_reason == str(failed[-1]):
                    # (not saved again: it has just failed)
                    notes.append(_last_checkpoint(root, interval, failed=True))
                else:
                    notes.append(_save_at_stop(search, result, root, interval,
                                               ctrl_c.deferred))
        return _with_notes(result, notes)
    finally:
        search.close()


def _save_at_stop(search: CompactSearch, result: Result, root: Path, interval: float,
                  deferred_interrupt: bool) -> str:
    """Saves a search stopped by a limit where its state is whole, and says what
    ``resume`` will continue from. Whole: a stop at a chunk boundary (the time limit,
    the memory limit checked there, a Ctrl-C deferred to one), or made whole: a stop
    inside a chunk at the state limit or the memory limit (``CompactSearch.rewind``).
    Not whole: a KeyboardInterrupt that did not come through the deferral, whose chunk
    is neither queued nor done, and a stop out of memory, whose frontier was thrown
    away. Not saved either: the stop at the depth limit (whole, but it could not go
    deeper: the snapshot taken as the search began its last level can)."""
    reason = result.limit_reason
    if search.max_depth is not None and reason == f"max depth {search.max_depth} reached":
        return _deeper(root, search.max_depth)
    interrupted = reason == "interrupted"
    more_states = (search.max_states is not None
                   and reason == f"max states {search.max_states} reached")
    command = (f"`modelcheck resume {root} --max-states N`, with N above "
               f"{search.max_states:,} (0: no limit)," if more_states else None)
    if not interrupted:
        search.rewind()     # (a stop inside a chunk, at the state or memory limit)
    if (search.consistent and search.started and (deferred_interrupt or not interrupted)
            and reason != "out of memory"):
        search.elapsed_before = result.stats.elapsed_s     # the time saved: all of it
        try:
            write_snapshot(root, search, interval)
        except CheckpointError as err:
            return _last_checkpoint(root, interval, failed=True,
                                    lead=f"no checkpoint was saved at this stop ({err})")
        if command is not None:
            return f"checkpoint saved in {root}; {command.rstrip(',')} continues it"
        return f"checkpoint saved in {root}; continue with `modelcheck resume {root}`"
    return _last_checkpoint(root, interval, command=command)


class _DeferredInterrupt:
    """While a checkpointed search runs, Ctrl-C (SIGINT) or SIGTERM (``kill``,
    ``timeout``) asks it to stop, and it stops at the next chunk boundary (where
    ``progress`` is called: within about a chunk, a tenth of a second), whose state can
    be saved; an interrupt at any other moment (inside a chunk, while the frontiers are
    swapped or spilled) could not be. Further signals are ignored, as
    ``checker.interrupts`` does (``timeout -s INT`` sends two): the stop is on its way.
    Only in the main thread, and only in place of the default handling or the checker's
    (never of a handler that the embedding program set, nor of a signal it ignores: a
    shell's background job ignores SIGINT)."""

    # each signal, with the handler that may be replaced (besides the checker's own)
    _TAKES = ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))

    def __init__(self) -> None:
        self.requested = False
        self.deferred = False     # the search was stopped at a boundary for a signal
        self._previous: dict = {}

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            for signum, default in self._TAKES:
                handler = signal.getsignal(signum)
                if handler == default or is_ours(handler):
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        while self._previous:
            signum, handler = self._previous.popitem()
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        interrupt_seen()

    def progress(self, progress, interval: float) -> Callable:
        """The engine's ``progress`` callback (called every ``_INTERRUPT_POLL_S``):
        stops the search for a pending Ctrl-C, and calls ``progress`` every
        ``interval`` seconds."""
        due = perf_counter() + interval

        def tick(info) -> None:
            nonlocal due
            if self.requested:
                self.deferred = True
                raise KeyboardInterrupt      # the engine's "interrupted" stop
            if progress is not None and perf_counter() >= due:
                progress(info)
                due = perf_counter() + interval

        return tick


def _last_checkpoint(root: Path, interval: float, *, failed: bool = False,
                     lead: str = "no checkpoint was saved at this stop",
                     command: str | None = None) -> str:
    """What ``resume`` would continue from, after a stop that saved nothing (``failed``:
    because writing the checkpoint failed). ``command``: how to resume, if not plainly."""
    try:
        meta, _ = read_meta(root)
    except CheckpointError as err:
        if (root / CURRENT).exists():
            return f"{lead}, and the last one cannot be resumed: {err}"
        if failed:
            return f"{lead}, nor before it: {root} holds none to resume"
        return (f"{lead}, nor before it (the first is written {interval:g} s into a "
                f"run): {root} holds none to resume")
    c = meta["counters"]
    command = command or f"`modelcheck resume {root}`"
    last = "the last complete one" if failed else "the last one"
    return (f"{lead}: {command} continues from {last} ({c['distinct']:,} states, level "
            f"{c['level']}, {c['elapsed']:.1f} s into the search)")


def _deeper(root: Path, depth: int) -> str:
    """What ``resume`` can do after a stop at the depth limit (which saves nothing)."""
    lead = f"no checkpoint was saved at this stop (no state beyond depth {depth} is stored)"
    again = "; run `modelcheck check` again with a larger --max-depth"
    try:
        meta, _ = read_meta(root)
    except CheckpointError as err:
        if (root / CURRENT).exists():
            return f"{lead}, and the last one cannot be resumed: {err}"
        return f"{lead}, nor before it: {root} holds none to resume{again}"
    c = meta["counters"]
    if c["cut"]:
        return (f"{lead}, and the last one ({c['distinct']:,} states, level {c['level']}) "
                "was saved after states were cut off at the depth limit: it cannot go "
                f"deeper{again}")
    return (f"{lead}: `modelcheck resume {root} --max-depth N`, with N above {depth} (0: "
            f"no limit), continues deeper from the last one ({c['distinct']:,} states, "
            f"level {c['level']}, {c['elapsed']:.1f} s into the search)")


def _with_notes(result: Result, notes: list[str]) -> Result:
    from dataclasses import replace

    return replace(result, notes=(*result.notes, *notes)) if notes else result


def _make_directory(root: Path) -> bool:
    """Creates the checkpoint directory if missing (not its parents: a mistyped path is
    not silently made into a tree); whether it did."""
    if root.is_dir():
        return False
    if root.exists() or root.is_symlink():
        raise CheckpointError(f"{root} is not a directory")
    parent = root.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise CheckpointError(f"cannot create checkpoint directory {root}: its parent "
                              f"{parent} {why}")
    try:
        root.mkdir()
    except FileExistsError:
        if root.is_dir():
            return False          # made by another run just now (its lock decides)
        raise CheckpointError(f"{root} is not a directory") from None
    except OSError as err:
        raise CheckpointError(f"cannot create checkpoint directory {root}: "
                              f"{err.strerror or err}") from None
    return True


def _ours(name: str) -> bool:
    """Whether ``name`` is the lock file or a temporary file of a checkpointed run (one
    killed before its first snapshot leaves them; the next run removes them)."""
    return (name in (LOCK, f".{CURRENT}.tmp") or (name.endswith(".tmp") and (
        name.startswith(".snap-") or name.startswith(_PROBE))))


# what differs between a checkpoint's recipe and a run's, as the user would say it
_SETTINGS = (("text", "the spec's text"), ("consts", "--const"), ("faults", "--faults"),
             ("check_deadlock", "--deadlock"), ("max_faults", "--max-faults"),
             ("invariants", "the properties (--inv, --lemmas)"),
             ("symmetry", "--symmetry"))


def _differences(meta: dict, recipe) -> str:
    """``"; differs in: --symmetry, --const"`` (empty when nothing can be named)."""
    from . import __version__

    saved, now = meta.get("recipe") or {}, recipe.to_json()
    names = [label for key, label in _SETTINGS if saved.get(key) != now.get(key)]
    if meta.get("version") != __version__:
        names.append(f"the checker's version ({meta.get('version')})")
    return f"; differs in: {', '.join(names)}" if names else ""


def _refuse_existing(root: Path, recipe) -> None:
    """Refuses a directory (locked by this run) that holds a checkpoint, or anything
    else than what a checkpointed run leaves before its first snapshot."""
    if (root / CURRENT).exists():
        try:
            meta, _ = read_meta(root)
        except CheckpointError as err:
            raise CheckpointError(f"{root} already holds a checkpoint, which cannot be read "
                                  f"({err}); it is left untouched: choose another "
                                  "directory") from None
        if meta["digest"] == recipe.digest():
            raise CheckpointError(f"{root} already holds a checkpoint of this run "
                                  f"({describe_meta(meta)}); continue it with `modelcheck "
                                  f"resume {root}`, or choose another directory")
        raise CheckpointError(f"{root} holds a checkpoint of another spec or other settings "
                              f"({describe_meta(meta)}{_differences(meta, recipe)}); it is "
                              "left untouched: choose another directory")
    others = sorted(p.name for p in root.iterdir() if not _ours(p.name))
    if any(name.startswith("snap-") for name in others):
        raise CheckpointError(f"{root} holds snapshot files but no {CURRENT}: it is left "
                              "untouched: choose another directory")
    if others:
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        raise CheckpointError(f"{root} is not empty ({others[0]}{more}) and holds no "
                              "checkpoint: it is left untouched: choose a new or empty "
                              "directory")


# The probe file: created and removed before a search, to find out at once whether a
# checkpoint can be written in the directory.
_PROBE = ".probe-"


def _probe(root: Path) -> None:
    """CheckpointError unless a file can be created, written and removed in ``root``
    (locked by this run: a probe file left there by a killed run goes first)."""
    for stale in root.glob(f"{_PROBE}*.tmp"):
        _unlink(stale)
    probe = root / f"{_PROBE}{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            data = b"modelcheck: can a checkpoint be written here?\n"
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as err:
        _unlink(probe)
        raise CheckpointError(f"cannot write a checkpoint in {root}: "
                              f"{err.strerror or err}") from None


class DirectoryLock:
    """An exclusive ``flock`` on ``DIR/.lock``, taken (without waiting) when made and
    held until ``release`` (or the end of a ``with`` block): CheckpointError if another
    process holds it (the PID in the file is for information only: the lock decides).
    Within one thread it nests: the command that reads a checkpoint before resuming it
    holds the lock throughout. ``resuming``: the directory must exist and hold a
    checkpoint (or a lock file), and is otherwise reported as ``read_meta`` would,
    without creating anything there."""

    # the locks that this process holds, by (device, inode) of the directory
    _held: dict[tuple[int, int], DirectoryLock] = {}

    def __init__(self, root: Path, *, resuming: bool = False):
        root = Path(root)
        self.root = root
        self.fd: int | None = None
        self.made = False       # it made the lock file (rather than find one left)
        self._ran = False
        if resuming and not (root.is_dir() and ((root / CURRENT).exists()
                                                or (root / LOCK).exists())):
            read_meta(root)           # its "no checkpoint" error
        try:
            info = os.stat(root)
        except OSError as err:
            raise CheckpointError(f"no checkpoint in {root}: "
                                  f"{err.strerror or err}") from None
        self.key = (info.st_dev, info.st_ino)
        held = self._held.get(self.key)
        if held is not None and held.thread == threading.get_ident():
            self.outer: DirectoryLock = held
            return
        self.outer = self
        self.thread = threading.get_ident()
        self.fd = self._acquire()
        self._held[self.key] = self

    @property
    def ran(self) -> bool:
        return self.outer._ran

    @ran.setter
    def ran(self, value: bool) -> None:
        """A search ran in the directory: the lock file goes with the lock, even if a
        killed run left it (a run refused before it starts leaves it as it found it)."""
        self.outer._ran = value

    def _acquire(self) -> int:
        root, path = self.root, self.root / LOCK
        for _ in range(16):
            self.made = True
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                self.made = False
                try:
                    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue              # removed meanwhile: again
                except OSError as err:
                    raise self._cannot(err) from None
            except OSError as err:
                raise self._cannot(err) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                pid = _read_pid(fd)
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    by = f" (pid {pid})" if pid else ""
                    raise CheckpointError(f"{root} is in use by another modelcheck "
                                          f"run{by}: it is left untouched") from None
                raise CheckpointError(f"cannot lock {path}: {err.strerror or err}") from None
            # the file may have been removed (or replaced) between its opening and its
            # locking, by a run that gave it up: then its lock protects nothing
            try:
                now, ours = os.stat(path, follow_symlinks=False), os.fstat(fd)
                same = (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino)
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            try:
                # (for information only: the lock decides)
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as err:
                if self.made:
                    _unlink(path)       # (locked: see above)
                os.close(fd)
                raise self._cannot(err) from None
            return fd
        raise CheckpointError(f"cannot lock {path}: it keeps being replaced")

    def _cannot(self, err: OSError) -> CheckpointError:
        what = f"{self.root / LOCK} is a directory" if err.errno == errno.EISDIR \
            else err.strerror or err       # ("Is a directory" alone did not say what was)
        return CheckpointError(f"cannot write a checkpoint in {self.root}: {what}")

    def release(self) -> None:
        """Releases the lock, and removes the lock file if this lock made it or a search
        ran (while it is locked: a run that opened the file meanwhile finds, once it has
        the lock, that it is not the file's any more, and makes a new one). A killed
        run leaves its lock file; a run refused leaves the directory as it found it."""
        if self.outer is not self or self.fd is None:
            return
        if self.made or self._ran:
            _unlink(self.root / LOCK)
        self._held.pop(self.key, None)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def describe_meta(meta: dict) -> str:
    recipe = meta.get("recipe", {})
    consts = ", ".join(recipe.get("consts", [])) or "default constants"
    c = meta.get("counters", {})
    return (f"{meta.get('spec', '?')} from {recipe.get('path', '?')}, {consts}; "
            f"{c.get('distinct', 0):,} states, level {c.get('level', 0)}")


# --------------------------------------------------------------------------- writing

def write_snapshot(root: Path, search: CompactSearch, interval: float) -> Path:
    """Writes the search's state as a new snapshot and makes it the current one. If
    writing fails (CheckpointError), what it wrote is removed and the previous snapshot
    stays current."""
    try:
        return _write_snapshot(root, search, interval)
    except OSError as err:
        raise CheckpointError(f"cannot write a checkpoint in {root}: "
                              f"{err.strerror or err}") from None


def _write_snapshot(root: Path, search: CompactSearch, interval: float) -> Path:
    current = _current_seq(root)
    existing = [int(p.name.split("-")[1]) for p in root.glob("snap-*")
                if p.name.split("-")[1].isdigit()]
    seq = max([current, *existing]) + 1
    name = f"snap-{seq:06d}"
    for stale in root.glob(".snap-*.tmp"):       # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".{name}.tmp"
    final = root / name
    pointer = root / f".{CURRENT}.tmp"
    try:
        _write_files(root, search, interval, tmp, final, pointer, name)
    except BaseException:
        # nothing half-written stays (CURRENT still names the previous snapshot)
        shutil.rmtree(tmp, ignore_errors=True)
        if _current_seq(root) != seq:
            shutil.rmtree(final, ignore_errors=True)
        _unlink(pointer)
        raise
    _sync_dir(root)
    try:
        for old in root.iterdir():
            if old.name.startswith("snap-") and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass        # (the new snapshot is current: an old one left is removed next time)
    return final


def _write_files(root: Path, search: CompactSearch, interval: float, tmp: Path,
                 final: Path, pointer: Path, name: str) -> None:
    tmp.mkdir()
    files: dict[str, str] = {}
    if search.exact:
        with open(tmp / "seen.pickle", "wb") as fh:
            pickle.dump(search.seen.map, fh, protocol=pickle.HIGHEST_PROTOCOL)
        files["seen.pickle"] = _sync_and_hash(tmp / "seen.pickle")
    else:
        np = search.seen.np
        for part in ("keys", "parents"):
            with open(tmp / f"{part}.npy", "wb") as fh:
                np.save(fh, getattr(search.seen, part), allow_pickle=False)
            files[f"{part}.npy"] = _sync_and_hash(tmp / f"{part}.npy")
    for part in ("current", "next"):
        frontier: Frontier = getattr(search, part)
        with open(tmp / f"{part}.bin", "wb") as fh:
            for chunk in frontier.chunks():
                marshal.dump(chunk, fh)
        files[f"{part}.bin"] = _sync_and_hash(tmp / f"{part}.bin")
    meta = {
        "format": FORMAT,
        "version": _version(),
        "digest": search.recipe.digest(),
        "recipe": search.recipe.to_json(),
        "spec": search.model.name,
        "checkpoint_interval": interval,
        "options": {
            "exact": search.exact, "max_states": search.max_states,
            "max_depth": search.max_depth, "check_deadlock": search.check_deadlock,
            "memory_limit": search.memory_limit, "frontier_limit": search.frontier_limit,
            "spill_dir": search.spill_root,
        },
        "counters": {
            "level": search.level, "generated": search.generated,
            "expanded": search.expanded, "distinct": search.distinct, "cut": search.cut,
            "started": search.started, "elapsed": search.elapsed_before,
            "peak_rss": search.peak_rss,
            "current": len(search.current), "next": len(search.next),
            "seen": len(search.seen),
        },
        "files": files,
    }
    meta[META_DIGEST] = _meta_digest(meta)
    with open(tmp / META, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, final)
    with open(pointer, "w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, root / CURRENT)


def _current_seq(root: Path) -> int:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
        return int(name.split("-")[1])
    except (OSError, ValueError, IndexError):
        return 0


def _meta_digest(meta: dict) -> str:
    """The SHA-256 of the metadata's canonical JSON (sorted keys, no spaces), less its
    own digest field: it survives re-indenting, not a changed value."""
    body = {k: v for k, v in meta.items() if k != META_DIGEST}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _sync_and_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- reading

def read_meta(root: Path) -> tuple[dict, Path]:
    """The current snapshot's metadata and directory, verified: of this format and
    version, unchanged since it was written (its own checksum), every field of the
    right type and range, the spec's text matching its digest. CheckpointError
    otherwise. (The data files' checksums are verified by ``resume``, which reads them.)"""
    root = Path(root)
    if not root.is_dir():
        why = "not a directory" if root.exists() else "no such directory"
        raise CheckpointError(f"no checkpoint in {root}: {why}")
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        raise CheckpointError(f"no checkpoint in {root} (no {CURRENT} file)") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"the checkpoint in {root} is corrupt ({CURRENT} is not "
                              "text)") from None
    snap = root / name
    if not name.startswith("snap-") or "/" in name or not snap.is_dir():
        raise CheckpointError(f"the checkpoint in {root} is corrupt ({CURRENT} names "
                              f"{name!r}, which is not a snapshot there)")
    where = f"{name}/{META}"

    def corrupt(why: str) -> CheckpointError:
        return CheckpointError(f"the checkpoint in {root} is corrupt ({where}: {why})")

    try:
        with open(snap / META, encoding="utf-8") as fh:
            meta = json.load(fh)
    except OSError as err:
        raise corrupt(err.strerror or str(err)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise corrupt(f"not JSON: {err}") from None
    if not isinstance(meta, dict) or "format" not in meta:
        raise corrupt("no checkpoint format")
    if meta["format"] != FORMAT or meta.get("version") != _version():
        raise CheckpointError(
            f"the checkpoint in {root} was written by modelcheck {meta.get('version')} "
            f"(checkpoint format {meta['format']}); this is modelcheck {_version()} "
            f"(format {FORMAT}): it cannot be resumed; run the check again")
    stored = meta.get(META_DIGEST)
    if not isinstance(stored, str) or stored != _meta_digest(meta):
        raise corrupt("its content does not match its checksum: it was changed or "
                      "damaged after it was written")
    problem = _invalid(meta)
    if problem is not None:
        raise corrupt(problem)
    from .parallel import ModelSpec

    if ModelSpec.from_json(meta["recipe"]).digest() != meta["digest"]:
        raise corrupt("its spec does not match its digest")
    return meta, snap


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_count(v) -> bool:
    return _is_int(v) and v >= 0


def _is_seconds(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v) and v >= 0


def _is_interval(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and v > 0     # (math.inf: never)


def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or check(v)


def _positive(v) -> bool:
    return _is_int(v) and v > 0


def _is_bool(v) -> bool:
    return isinstance(v, bool)


def _is_sha256(v) -> bool:
    return (isinstance(v, str) and len(v) == 64
            and all(ch in "0123456789abcdef" for ch in v))


# The fields of meta.json and what each must be: a wrong type would otherwise surface as
# an internal error deep in the search, or (a negative level) as a wrong depth.
_RECIPE_FIELDS = {
    "path": lambda v: isinstance(v, str), "text": lambda v: isinstance(v, str),
    "consts": _is_str_list, "faults": _is_str_list, "check_deadlock": _optional(_is_bool),
    "max_faults": _optional(_is_count), "invariants": _optional(_is_str_list),
    "symmetry": _is_bool,
}
_OPTION_FIELDS = {
    "exact": _is_bool, "max_states": _optional(_positive), "max_depth": _optional(_positive),
    "check_deadlock": _optional(_is_bool), "memory_limit": _optional(_positive),
    "frontier_limit": _optional(_positive), "spill_dir": _optional(lambda v: isinstance(
        v, str)),
}
_COUNTER_FIELDS = {
    "level": _positive, "generated": _is_count, "expanded": _is_count,
    "distinct": _is_count, "cut": _is_bool, "started": _is_bool, "elapsed": _is_seconds,
    "peak_rss": _is_count, "current": _is_count, "next": _is_count, "seen": _is_count,
}


def _invalid(meta: dict) -> str | None:
    """What is wrong with the metadata's fields, or None."""
    for key, check in (("digest", _is_sha256), ("spec", lambda v: isinstance(v, str)),
                       ("checkpoint_interval", _is_interval)):
        if key not in meta:
            return f"no {key!r}"
        if not check(meta[key]):
            return f"{key} is {meta[key]!r}"
    for section, fields in (("recipe", _RECIPE_FIELDS), ("options", _OPTION_FIELDS),
                            ("counters", _COUNTER_FIELDS)):
        value = meta.get(section)
        if not isinstance(value, dict):
            return f"no {section!r} section"
        for key, check in fields.items():
            if key not in value:
                return f"no {section}.{key}"
            if not check(value[key]):
                return f"{section}.{key} is {value[key]!r}"
    c = meta["counters"]
    # Saved between chunks, every state found is in the seen set, and either expanded
    # or queued (in current.bin or next.bin).
    if (c["expanded"] > c["distinct"] or c["generated"] < c["distinct"]
            or c["seen"] != c["distinct"]
            or c["distinct"] - c["expanded"] != c["current"] + c["next"]):
        return (f"its counters do not add up ({c['distinct']} distinct, {c['generated']} "
                f"generated, {c['expanded']} expanded, {c['seen']} seen, "
                f"{c['current']} + {c['next']} queued)")
    files = meta.get("files")
    expected = EXACT_FILES if meta["options"]["exact"] else TABLE_FILES
    if not isinstance(files, dict) or set(files) != expected:
        listed = sorted(files) if isinstance(files, dict) else files
        return f"files lists {listed!r}, not the snapshot's {sorted(expected)}"
    for fname, digest in files.items():
        if not _is_sha256(digest):
            return f"the checksum of {fname} is {digest!r}"
    return None


def _restore(meta: dict, snap: Path) -> CompactSearch:
    """The search saved in ``snap``, whose metadata ``read_meta`` has verified: each data
    file checked against its checksum before it is read."""
    from .parallel import ModelSpec

    where = snap.parent
    recipe = ModelSpec.from_json(meta["recipe"])
    for fname, digest in meta["files"].items():
        path = snap / fname
        try:
            actual = _hash(path)
        except OSError as err:
            raise CheckpointError(f"the checkpoint in {where} is corrupt ({fname}: "
                                  f"{err.strerror})") from None
        if actual != digest:
            raise CheckpointError(f"the checkpoint in {where} is corrupt ({fname} does not "
                                  "match its checksum)")
    opts = meta["options"]
    c = meta["counters"]
    try:
        search = CompactSearch(recipe, exact=opts["exact"], max_states=opts["max_states"],
                               max_depth=opts["max_depth"],
                               check_deadlock=opts["check_deadlock"],
                               memory_limit=opts["memory_limit"],
                               frontier_limit=opts["frontier_limit"],
                               spill_dir=opts.get("spill_dir"))
        if search.exact:
            with open(snap / "seen.pickle", "rb") as fh:
                search.seen.map = pickle.load(fh)  # noqa: S301 (our own checksummed file)
        else:
            np = search.seen.np
            table = FingerprintTable.__new__(FingerprintTable)
            table.np = np
            table.keys = np.load(snap / "keys.npy", allow_pickle=False)
            table.parents = np.load(snap / "parents.npy", allow_pickle=False)
            table.count = int(np.count_nonzero(table.keys))
            search.seen = table
        for part in ("current", "next"):
            frontier: Frontier = getattr(search, part)
            with open(snap / f"{part}.bin", "rb") as fh:
                while True:
                    try:
                        chunk = marshal.load(fh)
                    except EOFError:
                        break
                    frontier.extend(chunk)
        search.level = c["level"]
        search.generated = c["generated"]
        search.expanded = c["expanded"]
        search.distinct = c["distinct"]
        search.cut = c["cut"]
        search.started = c["started"]
        search.elapsed_before = c["elapsed"]
        search.peak_rss = c["peak_rss"]
    except (KeyError, TypeError, ValueError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"the checkpoint in {where} is corrupt ({err})") from None
    if (len(search.current) != c["current"] or len(search.next) != c["next"]
            or len(search.seen) != c["seen"]):
        raise CheckpointError(f"the checkpoint in {where} is corrupt (its files do not hold "
                              "the states its metadata counts)")
    return search


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def describe(directory: str) -> str:
    """One line about the checkpoint in ``directory`` (CheckpointError if none)."""
    meta, _ = read_meta(Path(directory))
    return describe_meta(meta)
