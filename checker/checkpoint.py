"""Checkpoints: the compact search's whole state on disk, written atomically, so that a
long run can be stopped (or killed) and continued with the same final counts and verdict.

A checkpoint directory holds numbered snapshots and a ``CURRENT`` file naming the latest
complete one::

    DIR/CURRENT            "snap-000003"
    DIR/snap-000003/       meta.json, the seen set, the queued states of the level being
                           expanded (current.bin) and of the next one (next.bin)

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
"""

from __future__ import annotations

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

from .fingerprints import CompactSearch, FingerprintTable, Frontier
from .interrupts import interrupt_seen, is_ours
from .result import Result, Status

# 2: meta.json carries its own checksum (meta_sha256); format 1 did not, so a checkpoint
# of format 1 is refused as one of another version.
FORMAT = 2
CURRENT = "CURRENT"
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
    """A new compact search that checkpoints into ``directory`` (which must not hold a
    checkpoint already: one is never overwritten by another run)."""
    if not hasattr(recipe, "digest") or not hasattr(recipe, "to_json"):
        raise CheckpointError("checkpoints need a ModelSpec recipe (the spec's text and "
                              "settings are saved with the search)")
    if checkpoint_interval <= 0:
        raise ValueError(f"checkpoint_interval must be positive, not {checkpoint_interval}")
    root = Path(directory)
    _refuse_existing(root, recipe)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"cannot create checkpoint directory {root}: "
                              f"{err.strerror}") from None
    search = CompactSearch(recipe, **options)
    return _run(search, root, checkpoint_interval, time_limit, progress, progress_interval)


def resume(directory: str, *, time_limit: float | None = None, progress=None,
           progress_interval: float = 1.0, checkpoint_interval: float | None = None,
           recipe=None, memory_limit: int | None | str = "saved") -> Result:
    """Continues the search saved in ``directory`` (and goes on checkpointing there).
    With ``recipe``, also checks that the checkpoint is of that spec and settings.
    ``memory_limit``: "saved" keeps the stopped run's limit; "default" is
    ``default_memory_limit()`` (as for a new run); bytes; None: no limit. (A run stopped
    by its memory limit can so be continued with more.)"""
    root = Path(directory)
    meta, snap = read_meta(root)
    if recipe is not None and recipe.digest() != meta["digest"]:
        raise CheckpointError(f"{root} holds a checkpoint of another spec or other settings "
                              f"({describe_meta(meta)})")
    if memory_limit == "default":
        from .memory import default_memory_limit

        memory_limit = default_memory_limit()
    elif memory_limit != "saved" and memory_limit is not None and (
            not _is_int(memory_limit) or memory_limit <= 0):
        raise ValueError(f"memory_limit must be a positive number of bytes, \"saved\", "
                         f"\"default\" or None, not {memory_limit!r}")
    search = _restore(meta, snap)
    if memory_limit != "saved":
        search.memory_limit = memory_limit
    interval = checkpoint_interval or meta["checkpoint_interval"]
    return _run(search, root, interval, time_limit, progress, progress_interval,
                resumed_at=search.elapsed_before)


def _run(search: CompactSearch, root: Path, interval: float, time_limit, progress,
         progress_interval, resumed_at: float | None = None) -> Result:
    def save(s: CompactSearch) -> None:
        write_snapshot(root, s, interval)

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
                notes.append(_save_at_stop(search, result, root, interval, ctrl_c.deferred))
        return _with_notes(result, notes)
    finally:
        search.close()


def _save_at_stop(search: CompactSearch, result: Result, root: Path, interval: float,
                  deferred_interrupt: bool) -> str:
    """Saves a search stopped by a limit where its state is whole, and says what
    ``resume`` will continue from. Whole: a stop at a chunk boundary (the time limit,
    the memory limit checked there, a Ctrl-C deferred to one, max depth). Not whole: a
    stop inside a chunk (a KeyboardInterrupt that did not come through the deferral,
    the state or memory limit met while storing states), whose chunk is neither queued
    nor done, and one out of memory, whose frontier was thrown away."""
    interrupted = result.limit_reason == "interrupted"
    if (search.consistent and search.started and (deferred_interrupt or not interrupted)
            and result.limit_reason != "out of memory"):
        search.elapsed_before = result.stats.elapsed_s     # the time saved: all of it
        write_snapshot(root, search, interval)
        return f"checkpoint saved in {root}; continue with `modelcheck resume {root}`"
    return _last_checkpoint(root, interval)


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


def _last_checkpoint(root: Path, interval: float) -> str:
    """What ``resume`` would continue from, after a stop that saved nothing."""
    try:
        meta, _ = read_meta(root)
    except CheckpointError as err:
        if (root / CURRENT).exists():
            return ("no checkpoint was saved at this stop, and the last one cannot be "
                    f"resumed: {err}")
        return (f"no checkpoint was saved at this stop, nor before it (the first is "
                f"written {interval:g} s into a run): {root} holds none to resume")
    c = meta["counters"]
    return (f"no checkpoint was saved at this stop: `modelcheck resume {root}` continues "
            f"from the last one ({c['distinct']:,} states, level {c['level']}, "
            f"{c['elapsed']:.1f} s into the search)")


def _with_notes(result: Result, notes: list[str]) -> Result:
    from dataclasses import replace

    return replace(result, notes=(*result.notes, *notes)) if notes else result


def _refuse_existing(root: Path, recipe) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise CheckpointError(f"{root} is not a directory")
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
                              f"({describe_meta(meta)}); it is left untouched: choose "
                              "another directory")
    if any(p.name.startswith("snap-") for p in root.iterdir()):
        raise CheckpointError(f"{root} holds snapshot files but no {CURRENT}: it is left "
                              "untouched: choose another directory")


def describe_meta(meta: dict) -> str:
    recipe = meta.get("recipe", {})
    consts = ", ".join(recipe.get("consts", [])) or "default constants"
    c = meta.get("counters", {})
    return (f"{meta.get('spec', '?')} from {recipe.get('path', '?')}, {consts}; "
            f"{c.get('distinct', 0):,} states, level {c.get('level', 0)}")


# --------------------------------------------------------------------------- writing

def write_snapshot(root: Path, search: CompactSearch, interval: float) -> Path:
    """Writes the search's state as a new snapshot and makes it the current one (the
    previous one stays current if writing fails)."""
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
    final = root / name
    os.rename(tmp, final)
    pointer = root / f".{CURRENT}.tmp"
    with open(pointer, "w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, root / CURRENT)
    _sync_dir(root)
    for old in root.iterdir():
        if old.name.startswith("snap-") and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


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
