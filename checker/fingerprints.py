"""A compact seen set, a frontier that spills to disk, a memory limit: the explicit search
for state spaces that do not fit in memory as Python objects.

``explore_compact`` is the breadth-first search of ``checker.explore`` (same order, same
counts, same counterexamples) with three differences in how it stores things:

* **Fingerprints.** The seen set keeps a 64-bit fingerprint per state in an
  open-addressing table (two numpy ``uint64`` arrays: fingerprint, parent's
  fingerprint), about 21 to 43 bytes per state depending on the table's fill, instead
  of a Python tuple and a dict entry (150 bytes and more). Two different states with
  the same fingerprint would be taken for one, and the second never explored: like TLC,
  the result reports the probability of that for the run's state count, about
  ``n * (n - 1) / 2**65``. ``exact=True`` stores full states instead.
* **Counterexamples are regenerated**, as TLC does: the table keeps each state's
  parent fingerprint; a path of fingerprints is followed back to an initial state, then
  replayed forward, picking at each step the successor with the next fingerprint.
* **The frontier spills to disk** (in chunks) when it holds more than ``frontier_limit``
  states in memory, or when the process nears ``memory_limit``; past ``memory_limit``
  (default: a safe fraction of the machine's memory) the run stops cleanly with
  ``Status.LIMIT`` and its statistics rather than being killed.

States are fingerprinted through ``marshal`` (format 2, deterministic): they must be
built from ints, bools, None, strings, bytes and tuples, as compiled models' states
are. The fingerprint is the same in every process, which checkpoints rely on.

This module imports numpy (for the table).
"""

from __future__ import annotations

import contextlib
import marshal
import math
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter

from .explore import (
    MODEL_ERRORS,
    ProgressInfo,
    _concretize,
    _error_message,
    _path,
    _trace,
    error_on_path,
    expand_checked,
    transition_checker,
)
from .interrupts import finishing, first_interrupt_only
from .memory import (
    current_rss,
    default_memory_limit,
    import_numpy,
    release_freed_memory,
    return_large_blocks_on_free,
)
from .model import Model, State
from .result import Result, Stats, Status, Violation
from .scratch import make_scratch_dir, remove_scratch_dir

ENGINE = "explicit-compact"

# A random 64-bit prime: fingerprint = (the state's marshal bytes as an integer) mod P.
# Two states collide only when P divides the difference of their encodings, which no
# difference confined to a few bytes does.
_P = 0xF1E273A87984A8AB


def fingerprint(state: State) -> int:
    """A nonzero 64-bit fingerprint of a state, the same in every process."""
    try:
        data = marshal.dumps(state, 2)
    except ValueError:
        raise TypeError(f"cannot fingerprint a state of type {type(state).__name__} "
                        "(states must be made of ints, bools, None, strings and tuples); "
                        "use exact=True") from None
    return int.from_bytes(data, "little") % _P or 1


def fingerprints(states: list, np):
    """The fingerprints of ``states`` as a numpy uint64 array."""
    dumps, from_bytes, p = marshal.dumps, int.from_bytes, _P
    try:
        # (no list of Python ints on the way: at a switch, for two million states, that
        # list alone was 80 MiB on top of the states)
        fps = np.fromiter((from_bytes(dumps(s, 2), "little") % p for s in states),
                          dtype=np.uint64, count=len(states))
    except ValueError:
        for s in states:
            fingerprint(s)          # raises the explanatory TypeError
        raise
    fps[fps == 0] = 1
    return fps


def collision_probability(n: int) -> float:
    """The probability that two of ``n`` distinct states share a fingerprint (the
    birthday bound, as TLC reports it)."""
    return n * (n - 1) / (2 * _P)


def collision_note(n: int) -> str:
    return (f"fingerprints: 64-bit; probability that two of the {n:,} states collided: "
            f"{collision_probability(n):.1e} (about n^2/2^65; --exact keeps full states)")


# --------------------------------------------------------------------------- the table

class FingerprintTable:
    """A set of nonzero 64-bit fingerprints, each with a parent fingerprint (0 for an
    initial state): open addressing with linear probing, kept at most 3/4 full.
    Batches are inserted with vectorized probing. ``tagged``: each entry also has a
    32-bit tag (the parallel search keeps the state's bucket and its parent's there)."""

    MAX_FILL = 0.75
    # Slots come from the top bits of fingerprint * _MIX (Fibonacci hashing): the low
    # bits of a modular fingerprint are not spread well enough to index by.
    _MIX = 0x9E3779B97F4A7C15
    tags = None     # (a class default: tables of old checkpoints have no tags)

    def __init__(self, capacity: int = 1 << 16, tagged: bool = False):
        try:
            np = import_numpy()     # (MemoryError where there is no room to import it)
        except ImportError:
            raise ImportError("the fingerprint table needs numpy (pip install numpy); "
                              "without --fingerprints, full states need no numpy") from None

        self.np = np
        cap = 1 << max(4, (capacity - 1).bit_length())
        self.keys = np.zeros(cap, dtype=np.uint64)
        self.parents = np.zeros(cap, dtype=np.uint64)
        if tagged:
            self.tags = np.zeros(cap, dtype=np.uint32)
        self.count = 0

    def _slots(self, fps, capacity: int | None = None):
        np = self.np
        cap = self.capacity if capacity is None else capacity
        shift = np.uint64(64 - (cap.bit_length() - 1))
        return (fps * np.uint64(self._MIX)) >> shift

    def _slot(self, fp: int) -> int:
        return ((fp * self._MIX) & 0xFFFFFFFFFFFFFFFF) >> (64 - (self.capacity.bit_length() - 1))

    def __len__(self) -> int:
        return self.count

    @property
    def capacity(self) -> int:
        return len(self.keys)

    @property
    def room(self) -> int:
        """Fingerprints it holds before it grows."""
        return int(self.capacity * self.MAX_FILL)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.parents.nbytes + (
            0 if self.tags is None else self.tags.nbytes)

    def bytes_to_hold(self, extra: int) -> int:
        """The bytes that growing to hold ``extra`` more fingerprints would allocate."""
        cap = self.capacity
        while (self.count + extra) > cap * self.MAX_FILL:
            cap *= 2
        return 0 if cap == self.capacity else cap * (16 if self.tags is None else 20)

    def reserve(self, extra: int) -> None:
        cap = self.capacity
        while (self.count + extra) > cap * self.MAX_FILL:
            cap *= 2
        if cap != self.capacity:
            self._rehash(cap)

    # Slots of the old table moved to the new one at a time, when the table grows: the
    # probing's temporaries for a slice are about 18 MiB (3M entries, tagged, 4M to 8M
    # slots: 178 MiB above the old table at the peak, 232 MiB with slices of 2**20 and
    # 445 MiB when all the entries were copied out and placed at once; no slower).
    _REHASH_SLICE = 1 << 18

    def _rehash(self, cap: int, drop=None) -> None:
        """Rebuilds the table with ``cap`` slots, without the entries where ``drop``
        (a boolean array over the slots) is True. The new arrays are filled from the old
        ones a slice of slots at a time and replace them only when complete, so a
        MemoryError (an address-space limit reached) leaves the table as it was, whole:
        the search that gets it stops with its statistics. (Copying all the entries out,
        dropping the old arrays and placing the entries at once needed more: the
        vectorized probing's temporaries over every entry outweighed the old table.)"""
        np = self.np
        old_keys, old_parents, old_tags = self.keys, self.parents, self.tags
        keys = np.zeros(cap, dtype=np.uint64)
        parents = np.zeros(cap, dtype=np.uint64)
        tags = None if old_tags is None else np.zeros(cap, dtype=np.uint32)
        count = 0
        step = self._REHASH_SLICE
        for lo in range(0, len(old_keys), step):
            hi = lo + step
            used = old_keys[lo:hi] != 0
            if drop is not None:
                used &= ~drop[lo:hi]
            count += self._place_into(keys, parents, tags, old_keys[lo:hi][used],
                                      old_parents[lo:hi][used],
                                      None if old_tags is None else old_tags[lo:hi][used])
        self.keys, self.parents, self.tags, self.count = keys, parents, tags, count

    def forget(self, states: list) -> None:
        """Removes these states' fingerprints (each present)."""
        np = self.np
        drop = np.zeros(self.capacity, dtype=bool)
        for fp in fingerprints(states, np).tolist():
            drop[self.slot_of(fp)] = True
        self.take_out(drop)

    def take_out(self, drop) -> tuple:
        """Removes the entries where ``drop`` (a boolean array over the slots) is True;
        returns their fingerprints, parents and tags."""
        drop = drop & (self.keys != 0)
        out = (self.keys[drop], self.parents[drop],
               None if self.tags is None else self.tags[drop])
        if len(out[0]):
            self._rehash(self.capacity, drop)
        return out

    def _place(self, fps, parents, tags=None):
        """Inserts fingerprints known to be distinct and absent; returns nothing."""
        self.count += self._place_into(self.keys, self.parents, self.tags, fps, parents,
                                       tags)

    def _place_into(self, keys, parents_at, tags_at, fps, parents, tags) -> int:
        """Inserts fingerprints known to be distinct and absent into the arrays ``keys``,
        ``parents_at`` and ``tags_at`` (a table's, or a new table's); returns how many."""
        np = self.np
        mask = np.uint64(len(keys) - 1)
        pending = np.arange(len(fps))
        slots = self._slots(fps, len(keys))
        placed = 0
        while len(pending):
            s = slots[pending]
            empty = keys[s] == 0
            e_idx, e_slots = pending[empty], s[empty]
            uniq, first = np.unique(e_slots, return_index=True)
            winners = e_idx[first]
            keys[uniq] = fps[winners]
            parents_at[uniq] = parents[winners]
            if tags is not None:
                tags_at[uniq] = tags[winners]
            placed += len(winners)
            lost = np.ones(len(e_idx), dtype=bool)
            lost[first] = False
            retry = np.concatenate([pending[~empty], e_idx[lost]])
            slots[retry] = (slots[retry] + np.uint64(1)) & mask
            pending = retry
        return placed

    def new_positions(self, fps):
        """The positions (ascending) of the fingerprints of the batch that are absent
        from the table, each at its first occurrence in the batch."""
        np = self.np
        if len(fps) == 0:
            return np.zeros(0, dtype=np.int64)
        _, first = np.unique(fps, return_index=True)
        first.sort()
        absent = ~self.contains_batch(fps[first])
        return first[absent]

    def place(self, fps, parents, tags=None) -> None:
        """Inserts fingerprints known to be absent and distinct."""
        self.reserve(len(fps))
        self._place(fps, parents, tags)

    def insert_batch(self, fps, parents, tags=None):
        """Inserts the batch; returns a boolean array, True where the fingerprint is
        new: absent before, and its first occurrence in the batch (whose parent and tag
        are the ones kept)."""
        np = self.np
        new = np.zeros(len(fps), dtype=bool)
        chosen = self.new_positions(fps)
        self.place(fps[chosen], parents[chosen], None if tags is None else tags[chosen])
        new[chosen] = True
        return new

    def contains_batch(self, fps):
        np = self.np
        mask = np.uint64(self.capacity - 1)
        keys = self.keys
        found = np.zeros(len(fps), dtype=bool)
        pending = np.arange(len(fps))
        slots = self._slots(fps)
        while len(pending):
            k = keys[slots[pending]]
            hit = k == fps[pending]
            found[pending[hit]] = True
            go_on = ~hit & (k != 0)
            pending = pending[go_on]
            slots[pending] = (slots[pending] + np.uint64(1)) & mask
        return found

    def parent(self, fp: int) -> int | None:
        """The parent fingerprint of ``fp`` (0: an initial state), None if absent."""
        slot = self.slot_of(fp)
        return None if slot < 0 else int(self.parents[slot])

    def slot_of(self, fp: int) -> int:
        """The slot holding ``fp``, or -1."""
        keys = self.keys
        mask = self.capacity - 1
        slot = self._slot(fp)
        while True:
            k = int(keys[slot])
            if k == fp:
                return slot
            if k == 0:
                return -1
            slot = (slot + 1) & mask


class _Root:
    """The parent of an initial state (exact mode); pickles as this module's singleton."""

    def __reduce__(self):
        return "_ROOT"

    def __repr__(self) -> str:
        return "_ROOT"


_ROOT = _Root()


class ExactSeen:
    """The same interface over full states (``exact=True``): state -> parent state."""

    def __init__(self):
        self.map: dict = {}

    def __len__(self) -> int:
        return len(self.map)

    def forget(self, states: list) -> None:
        for t in states:
            del self.map[t]


# --------------------------------------------------------------------------- frontier

class Frontier:
    """The states of one BFS level, first in, first out; past ``limit`` states in memory
    the newest are written to disk in chunks (``marshal``), read back in order."""

    def __init__(self, directory: Callable[[], str], limit: int | None):
        self._directory = directory
        self.limit = limit
        self.files: deque[str] = deque()
        self.head: list = []
        self.pos = 0
        self.tail: list = []
        self.size = 0
        self.spilled = 0          # states ever written to disk

    def __len__(self) -> int:
        return self.size

    def extend(self, states: list) -> None:
        self.tail.extend(states)
        self.size += len(states)
        if self.limit is not None and len(self.tail) >= self.limit:
            self.spill()

    def in_memory(self) -> int:
        return len(self.head) - self.pos + len(self.tail)

    def spill(self) -> None:
        """Writes the in-memory tail to disk."""
        if not self.tail:
            return
        directory = self._directory()
        path = None
        try:
            fd, path = tempfile.mkstemp(prefix="frontier-", suffix=".bin", dir=directory)
            with os.fdopen(fd, "wb") as fh:
                marshal.dump(self.tail, fh)
        except OSError as err:
            # (a full disk: a limit, reported with the statistics, not a crash)
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise StopSearch(f"no room to spill the frontier to {directory}: "
                             f"{err.strerror or err}") from None
        self.files.append(path)
        self.spilled += len(self.tail)
        self.tail = []

    def unpop(self, k: int) -> None:
        """Queues again, first, the last ``k`` states that the last ``pop`` returned."""
        if not 0 <= k <= self.pos:
            raise ValueError(f"cannot give back {k} states: {self.pos} were taken")
        self.pos -= k
        self.size += k

    def pop(self, k: int) -> list:
        """Up to ``k`` states, oldest first."""
        if self.pos >= len(self.head):
            self.head, self.pos = [], 0
            if self.files:
                path = self.files.popleft()
                with open(path, "rb") as fh:
                    self.head = marshal.load(fh)
                os.unlink(path)
            else:
                self.head, self.tail = self.tail, []
        out = self.head[self.pos:self.pos + k]
        self.pos += len(out)
        self.size -= len(out)
        return out

    def chunks(self):
        """Every state still queued, in order, in chunks (without consuming them)."""
        if self.pos < len(self.head):
            yield self.head[self.pos:]
        for path in self.files:
            with open(path, "rb") as fh:
                yield marshal.load(fh)
        if self.tail:
            yield self.tail

    def discard(self) -> None:
        for path in self.files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self.files.clear()
        self.head, self.tail, self.pos, self.size = [], [], 0, 0


# --------------------------------------------------------------------------- memory

def parse_size(text: str) -> int:
    """``"4G"``, ``"500M"``, ``"64k"``, ``"1.5GiB"``, a number of bytes, or a share of the
    memory this process may use (``"50%"``, of what the default's 80% is taken from,
    ``memory.physical_memory``) -> bytes."""
    t = text.strip().lower()
    if t.endswith("%"):
        try:
            share = float(t[:-1])
        except ValueError:
            raise ValueError(f"not a share of memory: {text!r} (e.g. 50%)") from None
        if not 0 < share <= 100:    # (false for nan too)
            raise ValueError(f"a share of memory is above 0% and at most 100%, not {text!r}")
        from .memory import physical_memory

        whole = physical_memory()
        if whole is None:
            raise ValueError("this machine's memory is unknown: give a size, such as 4G")
        return max(1, int(whole * share / 100))
    t = t.removesuffix("ib").removesuffix("b")
    scale = 1
    if t and t[-1] in "kmgt":
        scale = 1024 ** ("kmgt".index(t[-1]) + 1)
        t = t[:-1]
    try:
        value = float(t)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 500M, 50%, 1048576)") from None
    if not math.isfinite(value):
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 500M, 50%, 1048576)")
    if value <= 0:
        raise ValueError(f"a memory limit must be positive, not {text!r}")
    return int(value * scale)


def table_note(label: str, nbytes: int, stored: int, room: int) -> str:
    """The size of fingerprint tables holding ``stored`` states, with room for ``room``.
    Bytes per state only once they are at least half full: a table starts with room for
    49,152 states, and a small search's figure (3,059 bytes per state) was the first
    table's size, not what a state costs."""
    if stored and 2 * stored >= room:
        return f"{label}: {format_bytes(nbytes)}, {nbytes / stored:.0f} bytes per state"
    return f"{label}: {format_bytes(nbytes)}, room for {room:,} states ({stored:,} stored)"


def format_bytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


# --------------------------------------------------------------------------- the search

@dataclass(frozen=True)
class _Undo:
    """How to undo the unfinished part of a chunk stopped by a limit (``rewind``)."""

    give_back: int          # the chunk's last states, to queue again
    unstored: list          # the states stored past the state limit, to forget
    generated: int          # the counts before the first of those states was expanded
    expanded: int


class StopSearch(Exception):  # noqa: N818 (control flow)
    """Raised by a callback of ``CompactSearch.run`` (``checkpoint``, ``progress``) to
    stop the search as a limit would, with this message as its reason: the run reports
    its statistics (exit status 3) instead of failing without them."""


class _Stop(Exception):  # noqa: N818 (control flow)
    def __init__(self, kind: str, **info):
        super().__init__(kind)
        self.kind = kind
        self.info = info


_CHUNK_MIN = 64
_CHUNK_MAX = 16384
_CHUNK_TARGET_S = 0.1


class CompactSearch:
    """The search's whole state, so that it can be checkpointed and resumed
    (``checker.checkpoint``). ``run()`` continues it and returns a Result."""

    switch_note: str | None = None     # set when it took over from full states

    def __init__(self, recipe, *, exact: bool = False, max_states: int | None = None,
                 max_depth: int | None = None, check_deadlock: bool | None = None,
                 memory_limit: int | None = None, frontier_limit: int | None = None,
                 spill_dir: str | None = None):
        if max_states is not None and max_states < 1:
            raise ValueError(f"max_states must be at least 1, not {max_states}")
        if max_depth is not None and max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, not {max_depth}")
        self.recipe = recipe
        self.model, self.canonical = recipe.build()
        self.exact = exact
        self.max_states = max_states
        self.max_depth = max_depth
        self.check_deadlock = check_deadlock
        self.deadlock = self.model.check_deadlock if check_deadlock is None else check_deadlock
        self.memory_limit = memory_limit
        self.frontier_limit = frontier_limit
        self.spill_root = spill_dir
        self._spill_dir: str | None = None
        self.seen = ExactSeen() if exact else FingerprintTable()
        self.current = Frontier(self._spill_directory, frontier_limit)
        self.next = Frontier(self._spill_directory, frontier_limit)
        self.level = 1
        self.generated = 0
        self.expanded = 0
        self.distinct = 0
        # A cache of the states stored while expanding this level and the previous one
        # (most duplicate successors are among them): they need no fingerprint.
        self.recent_new: set = set()
        self.recent_old: set = set()
        self.recent_limit = frontier_limit if frontier_limit is not None else 1 << 20
        self.cut = False
        self.started = False          # the initial states are stored
        self.elapsed_before = 0.0     # seconds spent by earlier runs (resumed searches)
        self.peak_rss = 0
        self._tcheck = None
        # False while a chunk is being expanded: a stop then leaves the search in a state
        # that cannot be checkpointed (the chunk's states are neither queued nor done),
        # unless the stop recorded how to undo the chunk's unfinished part (``rewind``).
        self.consistent = True
        self._undo: _Undo | None = None

    # -- spill files
    def _spill_directory(self) -> str:
        if self._spill_dir is None:
            self._spill_dir = make_scratch_dir("spill", self.spill_root)
        return self._spill_dir

    def close(self) -> None:
        self.current.discard()
        self.next.discard()
        if self._spill_dir is not None:
            remove_scratch_dir(self._spill_dir)
            self._spill_dir = None

    @property
    def properties(self) -> tuple[str, ...]:
        m = self.model
        return tuple(i.name for i in m.invariants) + tuple(
            i.name for i in m.transition_invariants)

    # -- the loop
    def run(self, *, time_limit: float | None = None,
            progress: Callable[[ProgressInfo], None] | None = None,
            progress_interval: float = 1.0,
            checkpoint: Callable[[CompactSearch], None] | None = None,
            checkpoint_interval: float = 300.0, time_spent: float = 0.0) -> Result:
        """Continues the search. ``checkpoint(self)`` is called between chunks every
        ``checkpoint_interval`` seconds. ``time_spent``: seconds of ``time_limit`` used
        before (by the full-state search it took over from)."""
        import gc

        start = perf_counter()
        deadline = None if time_limit is None else start + time_limit - time_spent
        next_progress = start + progress_interval
        next_checkpoint = start + checkpoint_interval
        chunk = _CHUNK_MIN
        outcome: _Stop | None = None
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if not self.started:
                self._initial()
                self.started = True
            while True:
                if not len(self.current):
                    if not len(self.next):
                        break
                    self.current, self.next = self.next, self.current
                    self.recent_old, self.recent_new = self.recent_new, set()
                    self.level += 1
                    if checkpoint is not None and self.level == self.max_depth:
                        # The last level to expand: saved at its start, a run stopped
                        # at the depth limit can be continued deeper from here.
                        next_checkpoint = perf_counter()
                    continue
                now = perf_counter()
                if deadline is not None and now >= deadline:
                    raise _Stop("limit", reason=f"time limit of {time_limit:g}s reached")
                if checkpoint is not None and now >= next_checkpoint:
                    self.elapsed_before += now - start
                    start = now
                    checkpoint(self)
                    next_checkpoint = perf_counter() + checkpoint_interval
                if progress is not None and now >= next_progress:
                    progress(ProgressInfo(self.distinct, self.generated,
                                          self.level + (1 if len(self.next) else 0),
                                          self.distinct - self.expanded,
                                          self.elapsed_before + now - start))
                    next_progress = perf_counter() + progress_interval
                self._check_memory()
                self.consistent = False
                states = self.current.pop(chunk)
                t0 = perf_counter()
                self._expand(states)
                self.consistent = True
                took = perf_counter() - t0
                if took < _CHUNK_TARGET_S / 2 and chunk < _CHUNK_MAX:
                    chunk *= 2
                elif took > _CHUNK_TARGET_S * 2 and chunk > _CHUNK_MIN:
                    chunk //= 2
            if self.cut:
                raise _Stop("limit", reason=f"max depth {self.max_depth} reached")
        except _Stop as stop:
            outcome = stop
        except StopSearch as stop:
            outcome = _Stop("limit", reason=str(stop))
        except KeyboardInterrupt:
            outcome = _Stop("limit", reason="interrupted")
        except MemoryError:
            self.current.discard()
            self.next.discard()
            outcome = _Stop("limit", reason="out of memory")
        finally:
            if gc_was_enabled:
                gc.enable()
        finishing()     # (the answer, or the stop's checkpoint, must not be lost now)
        self.peak_rss = max(self.peak_rss, current_rss())
        elapsed = self.elapsed_before + perf_counter() - start
        return self._result(outcome, elapsed)

    def _check_memory(self) -> None:
        limit = self.memory_limit
        rss = current_rss()
        self.peak_rss = max(self.peak_rss, rss)
        if limit is None:
            return
        if rss > limit:
            raise _Stop("limit", reason=f"memory limit of {format_bytes(limit)} reached")
        if rss > limit * 0.6:
            # Keep what is left for the seen set: the frontier goes to disk.
            self.current.spill()
            self.next.spill()
            self.recent_new.clear()
            self.recent_old.clear()
            self.current.limit = self.next.limit = min(self.frontier_limit or 65536, 65536)

    def adopt(self, handover) -> None:
        """Takes over a search begun with full states (a ``checker.explore.Handover``,
        at the end of a level): every state found, with its parent, into the seen set,
        and the next level as the frontier."""
        from .explore import _ROOT as ROOT

        if self.exact:
            self.seen.map.update((s, _ROOT if p is ROOT else p)
                                 for s, p in handover.seen.items())
        else:
            np = self.seen.np
            states = list(handover.seen)
            parents = [handover.seen[s] for s in states]
            fps = fingerprints(states, np)
            index = {s: i for i, s in enumerate(states)}
            parent_fps = np.fromiter((0 if p is ROOT else fps[index[p]] for p in parents),
                                     dtype=np.uint64, count=len(parents))
            self.seen.insert_batch(fps, parent_fps)
        self.distinct = len(handover.seen)
        self.generated, self.expanded = handover.generated, handover.expanded
        self.current.extend(list(handover.frontier))
        self.recent_old = set(handover.frontier)
        self.level = handover.level
        self.elapsed_before = handover.elapsed_s
        self.started = True

    # -- level 1
    def _initial(self) -> None:
        model, canonical = self.model, self.canonical
        try:
            inits = model.initial_states()
        except MODEL_ERRORS as e:
            raise _Stop("error", exc=e, where="initial") from None
        if canonical is not None:
            inits = [canonical(s) for s in inits]
        room = sys.maxsize if self.max_states is None else self.max_states
        invs = tuple(i.holds for i in model.invariants)
        out = []
        for s in inits:
            self.generated += 1
            if self._known(s):
                continue
            if room == 0:
                raise _Stop("limit", reason=f"max states {self.max_states} reached")
            room -= 1
            self._store_root(s)
            self.distinct += 1
            _check_invariants(invs, s)
            out.append(s)
        self.next.extend(out)
        # level 1 is expanded next: make it the current frontier
        self.current, self.next = self.next, self.current
        self.recent_old = set(out)
        self.level = 1

    def _known(self, s) -> bool:
        if self.exact:
            return s in self.seen.map
        np = self.seen.np
        return bool(self.seen.contains_batch(np.array([fingerprint(s)], dtype=np.uint64))[0])

    def _store_root(self, s) -> None:
        if self.exact:
            self.seen.map[s] = _ROOT
        else:
            np = self.seen.np
            self.seen.insert_batch(np.array([fingerprint(s)], dtype=np.uint64),
                                   np.zeros(1, dtype=np.uint64))

    # -- one chunk of the current level
    def _expand(self, states: list) -> None:
        model, canonical = self.model, self.canonical
        successors = model.successors
        if self._tcheck is None and model.transition_invariants:
            self._tcheck = transition_checker(
                tuple(i.holds for i in model.transition_invariants))
        tcheck = self._tcheck
        checked = model.checked_successors if tcheck is not None else None
        deadlock = self.deadlock
        recent_new, recent_old = self.recent_new, self.recent_old
        # While the frontier is in memory, each candidate goes into the cache of recent
        # states at once: a later duplicate in this chunk is then dropped by the same
        # look-up, with no pass to remove duplicates. (A candidate that turns out to be
        # an older state is known too; one that a stop leaves unstored ends the run.)
        remember = (not self.current.spilled and not self.next.spilled
                    and len(recent_new) < self.recent_limit)
        note = recent_new.add if remember else None
        flat: list = []
        owner: list[int] = []          # index in `states` of each successor's parent
        flat_append, owner_append = flat.append, owner.append
        gen_after: list[int] = []      # generated count once states[j] is expanded
        generated = self.generated
        stop: _Stop | None = None
        expanded = 0
        for j, s in enumerate(states):
            try:
                succs, recheck = expand_checked(checked, successors, s)
            except MODEL_ERRORS as e:
                stop = _Stop("error", state=s, exc=e, where="successors")
                gen_after.append(generated)
                break
            expanded += 1
            generated += len(succs)
            gen_after.append(generated)
            if not succs:
                if deadlock:
                    stop = _Stop("deadlock", state=s)
                    break
                continue
            if recheck and tcheck is not None:
                bad = tcheck(s, succs)
                if bad is not None:
                    k, holds, exc = bad
                    t = succs[k]
                    stop = (_Stop("transition", state=s, post=t, holds=holds) if exc is None
                            else _Stop("error", state=s, exc=exc, post=t,
                                       where=("transition invariant", holds)))
                    succs = succs[:k]
            # States stored in this level or the previous one need no fingerprint, nor
            # does a step that changes nothing (s itself, stored: cheaper to compare).
            for t in succs:
                if t == s or t in recent_new or t in recent_old:
                    continue
                if canonical is not None:
                    t = canonical(t)
                    if t in recent_new or t in recent_old:
                        continue
                if note is not None:
                    note(t)
                flat_append(t)
                owner_append(j)
            if stop is not None:
                break
        base_expanded = self.expanded
        if not remember and len(flat) > 1:
            # A new state reached from several parents needs one fingerprint: keep each
            # state's first occurrence (the one the table would keep), in order.
            first = dict(zip(reversed(flat), range(len(flat) - 1, -1, -1)))
            if len(first) < len(flat):
                keep_at = sorted(first.values())
                flat = [flat[i] for i in keep_at]
                owner = [owner[i] for i in keep_at]
        store = self.level < (self.max_depth if self.max_depth is not None else sys.maxsize)
        if not store:
            if flat and not self._all_known(flat):
                self.cut = True
            new_idx: list[int] = []
        else:
            try:
                new_idx = self._insert(states, flat, owner)
            except _Stop:
                # (the memory limit, before anything was stored: the chunk is undone
                # by queueing it again)
                self._undo = _Undo(len(states), [], self.generated, self.expanded)
                raise
        # Each new state in order: the state limit, then the invariants.
        room = sys.maxsize if self.max_states is None else self.max_states - self.distinct
        invs = tuple(i.holds for i in model.invariants)
        accepted = [flat[i] for i in new_idx]
        if len(accepted) > room:
            del accepted[room:]
        try:
            for t in accepted:
                for holds in invs:
                    if not holds(t):
                        raise _Stop("invariant", state=t, holds=holds)
        except MODEL_ERRORS as e:
            # (the failing state is queued, as in explore: its level counts in the depth)
            n_new = accepted.index(t)
            self._settle(base_expanded, gen_after, owner[new_idx[n_new]], n_new + 1,
                         accepted[:n_new + 1])
            raise _Stop("error", state=t, exc=e, where=("invariant", holds)) from None
        except _Stop:
            n_new = accepted.index(t)
            self._settle(base_expanded, gen_after, owner[new_idx[n_new]], n_new + 1,
                         accepted[:n_new + 1])
            raise
        if len(new_idx) > room:
            j = owner[new_idx[room]]
            self._undo = _Undo(len(states) - j, [flat[i] for i in new_idx[room:]],
                               gen_after[j - 1] if j else self.generated,
                               base_expanded + j)
            self._settle(base_expanded, gen_after, j, room, accepted)
            raise _Stop("limit", reason=f"max states {self.max_states} reached")
        self.distinct += len(accepted)
        self.generated = generated
        self.expanded = base_expanded + expanded
        self.next.extend(accepted)
        if stop is not None:
            raise stop

    def rewind(self) -> bool:
        """After a stop inside a chunk at the state or memory limit (whose result is
        built): puts the search where a run continued from it, with a larger limit, ends
        exactly as an uninterrupted one. The chunk's states from the one whose successor
        passed the limit on are queued again, the states stored past the limit are
        forgotten, and the counts are those from before that state's expansion (its
        successors stored within the limit are found known when it is expanded again).
        Whether there was such a stop to undo."""
        undo, self._undo = self._undo, None
        if undo is None or self.consistent:
            return False
        self.current.unpop(undo.give_back)
        if undo.unstored:
            self.seen.forget(undo.unstored)
        self.generated, self.expanded = undo.generated, undo.expanded
        self.recent_new.clear()     # (it may hold states left unstored)
        self.recent_old.clear()
        self.consistent = True
        return True

    def _settle(self, base_expanded, gen_after, j, n_new, accepted) -> None:
        """The counts at a stop caused by a new successor of ``states[j]``: as if the
        states had been processed one at a time, as ``explore`` does."""
        self.generated = gen_after[j]
        self.expanded = base_expanded + j + 1
        self.distinct += n_new
        self.next.extend(accepted)

    def _all_known(self, flat: list) -> bool:
        if self.exact:
            seen = self.seen.map
            return all(t in seen for t in flat)
        return bool(self.seen.contains_batch(fingerprints(flat, self.seen.np)).all())

    def _insert(self, states: list, flat: list, owner: list[int]) -> list[int]:
        """Stores the new states among ``flat``; their indices, in order."""
        if self.exact:
            seen = self.seen.map
            out = []
            for i, t in enumerate(flat):
                if t not in seen:
                    seen[t] = states[owner[i]]
                    out.append(i)
            return out
        table = self.seen
        np = table.np
        fps = fingerprints(flat, np)
        grow = table.bytes_to_hold(len(flat))
        if grow and self.memory_limit is not None:
            held = current_rss()
            if held + grow > self.memory_limit:
                # (stopped before the table grows, so the peak stays below the limit)
                raise _Stop("limit", reason=f"memory limit of "
                                            f"{format_bytes(self.memory_limit)} would be "
                                            f"passed: the seen set needs "
                                            f"{format_bytes(grow)} more, and the process "
                                            f"holds {format_bytes(held)}")
        chosen = table.new_positions(fps)
        # parents' fingerprints: only those of states with a new successor
        owners = np.asarray(owner, dtype=np.int64)[chosen]
        uniq, inverse = np.unique(owners, return_inverse=True)
        parent_fps = fingerprints([states[j] for j in uniq.tolist()], np)
        table.place(fps[chosen], parent_fps[inverse])
        return chosen.tolist()

    # -- the result
    def _result(self, outcome: _Stop | None, elapsed: float) -> Result:
        model = self.model
        distinct = self.distinct
        depth = self.level + 1 if outcome is not None and len(self.next) else self.level
        if distinct == 0:
            depth = 0
        stats = Stats(distinct_states=distinct, generated_states=self.generated, depth=depth,
                      elapsed_s=elapsed, peak_memory_bytes=self.peak_rss,
                      queue_left=max(distinct - self.expanded, 0) if outcome else 0)
        notes: list[str] = [] if self.switch_note is None else [self.switch_note]
        if not self.exact:
            notes.append(collision_note(distinct))
            notes.append(table_note("seen set", self.seen.nbytes, len(self.seen),
                                    self.seen.room))
        spilled = self.current.spilled + self.next.spilled
        if spilled:
            notes.append(f"frontier: {spilled:,} states written to disk")
        base = dict(engine=ENGINE, spec=model.name, constants=dict(model.constants),
                    properties=self.properties, stats=stats, notes=tuple(notes))
        if outcome is None:
            return Result(status=Status.OK, **base)
        kind, info = outcome.kind, outcome.info
        if kind == "limit":
            return Result(status=Status.LIMIT, limit_reason=info["reason"], **base)
        path = self._path(info["state"]) if "state" in info else []
        if path is None:
            return Result(status=Status.ERROR, violation=Violation(
                kind="error", property=None, trace=(),
                message="the counterexample could not be rebuilt from fingerprints (a "
                        "fingerprint collision); run again without --fingerprints"),
                **base)
        if self.canonical is not None and path:
            path = _concretize(model, path, self.canonical, info.get("post"),
                               info.get("holds"))
        elif "post" in info:
            path.append(info["post"])
        trace = _trace(model, path) if path else ()
        if kind in ("invariant", "transition"):
            props = model.invariants if kind == "invariant" else model.transition_invariants
            name = next(p.name for p in props if p.holds is info["holds"])
            return Result(status=Status.VIOLATION, violation=Violation(
                kind=kind, property=name, trace=trace), **base)
        if kind == "deadlock":
            return Result(status=Status.DEADLOCK, violation=Violation(
                kind="deadlock", property=None, trace=trace), **base)
        message = _error_message(model, info.get("state"), info["exc"], info["where"])
        if self.canonical is not None and path:
            message = error_on_path(model, path, "post" in info, message)
        return Result(status=Status.ERROR, violation=Violation(
            kind="error", property=None, trace=trace, message=message), **base)

    def _path(self, state) -> list | None:
        """The stored states from an initial state to ``state``."""
        if self.exact:
            return _path(self.seen.map, state, _ROOT)
        return regenerate_path(self.model, self.canonical, self.seen, fingerprint(state))


def regenerate_path(model: Model, canonical, table: FingerprintTable, fp: int
                    ) -> list | None:
    """TLC's way: follow parent fingerprints back to an initial state, then replay the
    model forward choosing the successor with the next fingerprint. None if the chain
    cannot be replayed (only after a fingerprint collision)."""
    chain = fingerprint_chain(table.parent, fp, len(table) + 1)
    return None if chain is None else replay_chain(model, canonical, chain)


def fingerprint_chain(parent_of: Callable[[int], int | None], fp: int, limit: int
                      ) -> list[int] | None:
    """The fingerprints from an initial state to ``fp``, following ``parent_of``
    (0 for an initial state, None for an unknown fingerprint); None when the chain
    breaks or is longer than ``limit`` (only after a collision)."""
    chain = [fp]
    while True:
        parent = parent_of(chain[-1])
        if parent is None:
            return None
        if parent == 0:
            break
        chain.append(parent)
        if len(chain) > limit:
            return None
    chain.reverse()
    return chain


def replay_chain(model: Model, canonical, chain: list[int],
                 fp: Callable[[State], int] | None = None) -> list | None:
    """The states whose fingerprints (``fp``, by default ``fingerprint``) are ``chain``,
    replayed from an initial state (each the first successor of the one before with the
    next fingerprint), or None."""
    fingerprint_of = fingerprint if fp is None else fp

    def canon(s):
        return canonical(s) if canonical is not None else s

    current = next((canon(s) for s in model.initial_states()
                    if fingerprint_of(canon(s)) == chain[0]), None)
    if current is None:
        return None
    path = [current]
    for want in chain[1:]:
        current = next((canon(t) for t in model.successors(current)
                        if fingerprint_of(canon(t)) == want), None)
        if current is None:
            return None
        path.append(current)
    return path


def _check_invariants(invs, t) -> None:
    for holds in invs:
        try:
            ok = holds(t)
        except MODEL_ERRORS as e:
            raise _Stop("error", state=t, exc=e, where=("invariant", holds)) from None
        if not ok:
            raise _Stop("invariant", state=t, holds=holds)


def _out_of_memory_at_handover(model: Model, got) -> Result:
    """A search begun with full states that this engine could not take over for want of
    memory: stopped, with the statistics of the levels searched (``got``, a
    ``checker.explore.Handover``)."""
    from .explore import peak_memory_bytes

    distinct = len(got.seen)
    got.seen.clear()
    got.frontier = []
    stats = Stats(distinct_states=distinct, generated_states=got.generated,
                  depth=got.level if distinct else 0, elapsed_s=got.elapsed_s,
                  peak_memory_bytes=peak_memory_bytes(),
                  queue_left=max(distinct - got.expanded, 0))
    properties = tuple(i.name for i in model.invariants) + tuple(
        i.name for i in model.transition_invariants)
    return Result(engine=ENGINE, spec=model.name, constants=dict(model.constants),
                  properties=properties, stats=stats, status=Status.LIMIT,
                  limit_reason="out of memory")


@first_interrupt_only()
def explore_compact(
    target,
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    time_limit: float | None = None,
    check_deadlock: bool | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    progress_interval: float = 1.0,
    canonical: Callable[[State], State] | None = None,
    exact: bool = False,
    memory_limit: int | None | str = "default",
    frontier_limit: int | None = 1_000_000,
    spill_dir: str | None = None,
    checkpoint_dir: str | None = None,
    checkpoint_interval: float = 300.0,
    handover_at: int | None = None,
    handover_rss: int | None = None,
) -> Result:
    """``explore`` with a compact seen set (see the module docstring): the same counts,
    verdicts and counterexamples. ``target`` is a ``Model`` (with ``canonical`` for
    symmetry) or a recipe (``ModelSpec``); checkpoints need a ``ModelSpec``.

    ``memory_limit``: bytes ("default": ``default_memory_limit()``; None: no limit).
    ``frontier_limit``: states of a frontier kept in memory before spilling to disk.
    ``checkpoint_dir``: write the search's state there every ``checkpoint_interval``
    seconds (``checker.checkpoint``; resume it with ``checker.checkpoint.resume``).

    ``handover_at`` (not with checkpoints): search with full states (``explore``)
    until a level ends with at least this many new states, then go on with this
    search, which takes over the states found so far. A small state space is then
    explored exactly, as ``explore`` would, and its result is ``explore``'s.
    ``handover_rss`` (bytes): the same, once a level ends with the process about to hold
    more than this (``checker.memory.GrowthWatch``); a search that never gets there
    is ``explore``'s, with full states."""
    from .parallel import as_recipe

    recipe = as_recipe(target, canonical)
    if memory_limit == "default":
        memory_limit = default_memory_limit()
    if checkpoint_dir is not None:
        from .checkpoint import run_with_checkpoints

        return run_with_checkpoints(
            recipe, checkpoint_dir, checkpoint_interval=checkpoint_interval,
            time_limit=time_limit, progress=progress, progress_interval=progress_interval,
            exact=exact, max_states=max_states, max_depth=max_depth,
            check_deadlock=check_deadlock, memory_limit=memory_limit,
            frontier_limit=frontier_limit, spill_dir=spill_dir)
    got = None
    if handover_at is not None or handover_rss is not None:
        from .explore import Handover, explore

        model, canon = recipe.build()
        got = explore(model, canonical=canon, max_states=max_states, max_depth=max_depth,
                      time_limit=time_limit, check_deadlock=check_deadlock,
                      progress=progress, handover_at=handover_at, handover_rss=handover_rss)
        if not isinstance(got, Handover):
            finishing()
            if not exact and handover_at is not None:
                from .parallel import SMALL_FOR_FINGERPRINTS

                got = replace(got, notes=(*got.notes, SMALL_FOR_FINGERPRINTS))
            return got
    # (made only now: a search that ended with full states needs no table, nor numpy)
    return_large_blocks_on_free()
    search = None
    try:
        search = CompactSearch(recipe, exact=exact, max_states=max_states,
                               max_depth=max_depth, check_deadlock=check_deadlock,
                               memory_limit=memory_limit, frontier_limit=frontier_limit,
                               spill_dir=spill_dir)
        if got is not None:
            search.adopt(got)
    except MemoryError:
        # (no room for numpy, the table or the states' fingerprints)
        if search is not None:
            search.close()
        if got is None:
            raise
        search = None
        return _out_of_memory_at_handover(model, got)
    time_spent = 0.0
    if got is not None:
        if handover_rss is not None and handover_at is None:
            search.switch_note = (f"full states up to level {got.level}, then fingerprints: "
                                  f"the process was about to hold more than "
                                  f"{format_bytes(handover_rss)}")
        time_spent = got.elapsed_s
        # The full states are copied or fingerprinted: drop them before the search goes
        # on (this reference kept every one of them alive for the rest of the run).
        got.seen.clear()
        got = None
        release_freed_memory()
    try:
        return search.run(time_limit=time_limit, progress=progress,
                          progress_interval=progress_interval, time_spent=time_spent)
    finally:
        search.close()
