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
text and settings (with their digest), the search options and counters, and a SHA-256 of
each data file, so that a checkpoint of another spec or version, or a damaged one, is
refused with a clear ``CheckpointError`` rather than continued.

Snapshots are taken between chunks of a level (every ``checkpoint_interval`` seconds)
and when a run stops at its time limit or memory limit; a resumed run continues from the
latest one and, because the search is deterministic, ends exactly as an uninterrupted
run would.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import pickle
import shutil
from pathlib import Path

from .fingerprints import CompactSearch, FingerprintTable, Frontier
from .result import Result, Status

FORMAT = 1
CURRENT = "CURRENT"


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
           recipe=None) -> Result:
    """Continues the search saved in ``directory`` (and goes on checkpointing there).
    With ``recipe``, also checks that the checkpoint is of that spec and settings."""
    root = Path(directory)
    meta, snap = read_meta(root)
    if recipe is not None and recipe.digest() != meta["digest"]:
        raise CheckpointError(f"{root} holds a checkpoint of another spec or other settings "
                              f"({describe_meta(meta)})")
    search = _restore(meta, snap)
    interval = checkpoint_interval or meta.get("checkpoint_interval", 300.0)
    return _run(search, root, interval, time_limit, progress, progress_interval)


def _run(search: CompactSearch, root: Path, interval: float, time_limit, progress,
         progress_interval) -> Result:
    def save(s: CompactSearch) -> None:
        write_snapshot(root, s, interval)

    try:
        result = search.run(time_limit=time_limit, progress=progress,
                            progress_interval=progress_interval, checkpoint=save,
                            checkpoint_interval=interval)
        if (result.status is Status.LIMIT and search.consistent and search.started
                and result.limit_reason != "interrupted"):
            # Stopped at a chunk boundary (time or memory limit): save where it stopped.
            write_snapshot(root, search, interval)
            result = _with_note(result, f"checkpoint saved in {root}; continue with "
                                        f"`modelcheck resume {root}`")
        return result
    finally:
        search.close()


def _with_note(result: Result, note: str) -> Result:
    from dataclasses import replace

    return replace(result, notes=(*result.notes, note))


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
    with open(tmp / "meta.json", "w", encoding="utf-8") as fh:
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
    """The current snapshot's metadata and directory; CheckpointError when there is no
    readable checkpoint of this format and version."""
    root = Path(root)
    if not root.is_dir():
        raise CheckpointError(f"no checkpoint in {root}: not a directory")
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
    try:
        with open(snap / "meta.json", encoding="utf-8") as fh:
            meta = json.load(fh)
    except OSError as err:
        raise CheckpointError(f"the checkpoint in {root} is corrupt (meta.json: "
                              f"{err.strerror})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"the checkpoint in {root} is corrupt (meta.json: {err})"
                              ) from None
    if not isinstance(meta, dict) or "format" not in meta:
        raise CheckpointError(f"the checkpoint in {root} is corrupt (meta.json has no "
                              "format)")
    if meta["format"] != FORMAT or meta.get("version") != _version():
        raise CheckpointError(
            f"the checkpoint in {root} was written by modelcheck {meta.get('version')} "
            f"(checkpoint format {meta['format']}); this is modelcheck {_version()} "
            f"(format {FORMAT}): it cannot be resumed; run the check again")
    for key in ("digest", "recipe", "options", "counters", "files"):
        if key not in meta:
            raise CheckpointError(f"the checkpoint in {root} is corrupt (meta.json lacks "
                                  f"{key!r})")
    return meta, snap


def _restore(meta: dict, snap: Path) -> CompactSearch:
    from .parallel import ModelSpec

    where = snap.parent
    try:
        recipe = ModelSpec.from_json(meta["recipe"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"the checkpoint in {where} is corrupt (recipe: {err})") from None
    if recipe.digest() != meta["digest"]:
        raise CheckpointError(f"the checkpoint in {where} is corrupt (its spec does not "
                              "match its digest)")
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
        search.peak_rss = c.get("peak_rss", 0)
    except (KeyError, TypeError, ValueError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"the checkpoint in {where} is corrupt ({err})") from None
    if (len(search.current) != c.get("current") or len(search.next) != c.get("next")
            or len(search.seen) != c.get("seen")):
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
