"""Workers that share one seen set: the default for several local workers.

``checker.parallel`` partitions the seen set: each worker owns the states of some
buckets, and every successor owned elsewhere is sent to its owner and looked up there.
On two cores that exchange, the partition key's imbalance and the key's choice cost
Paxos with ballots 0..2 about a third of what a second worker gives (docs/performance.md,
sessions 7 to 11). Here the workers fork from a coordinator that has mapped one table of
fingerprints in shared memory (``checker._sharedseen``, in C: Python processes cannot
share a set otherwise); each worker expands its part of the level and adds every
successor to the shared table itself: a state is new to exactly one worker, which
keeps it for the next level (past ``SPILL_AFTER`` states, on disk). Nothing is
exchanged but the level's counts, and a few states when the parts of the next level are
uneven (``SharedBalancer``).

Each entry keeps its parent's fingerprint and its level: when two workers reach a state
in the same level the smaller parent wins, so the counterexample does not depend on
which worker came first. Workers keep only the states of the current and next level;
a counterexample is rebuilt from the parent fingerprints (as TLC does), by replaying
the model forward. The level-synchronous coordinator is ``checker.parallel.search``,
so the counts, the verdict and the choice of counterexample are those of the
partitioned search.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from time import monotonic

from .explore import MODEL_ERRORS, _error_message, expand_checked
from .parallel import (
    _CLOCK_EVERY,
    Candidate,
    Partition,
    WorkerDiedError,
    WorkerLimitError,
    _dump,
    _load,
    deliver,
)

try:
    from ._sharedseen import HolderDiedError, SharedSeen, TableFullError, fingerprint
except ImportError:     # the compiled part was not built: the partitioned search serves
    SharedSeen = fingerprint = None
    HolderDiedError = TableFullError = ()       # (they are never raised then)

# What the shared table may take, as a fraction of the memory the search may use (the
# workers keep only two levels, spilling past SPILL_AFTER states: the table is most of
# a run's memory); a search that fills it stops with its statistics (exit 3). Each
# entry takes 24 bytes, and the table is kept at most 11/16 full: 35 to 70 bytes a state.
TABLE_SHARE = 0.5
MIN_TABLE = 64 << 20
# Address space reserved per byte of table: a segment that grows gives its block back
# (its pages to the system) but only a segment growing to that very size can reuse it,
# so the blocks taken add up to about twice those in use (measured: 767 MiB for 384).
ADDRESS_FACTOR = 3
# Frontier states move between workers when a level's parts differ by more than this
# share of the level (and by more than MIN_MOVE states): moving a state costs a tenth of
# expanding it.
MOVE_SHARE = 0.01
MIN_MOVE = 32
# A worker keeps this many states of a level as objects (150 to 250 bytes each); past
# that, the level's states go to a temporary file, marshalled (pickled where marshal
# cannot), SPILL_CHUNK at a time: a
# level that outgrows memory spills to disk, as the compact engine's frontier does.
SPILL_AFTER = 1 << 20
SPILL_CHUNK = 1 << 16


class LevelStates:
    """A level's states, as a list (``kept``) and, past ``SPILL_AFTER``, chunks on
    disk. Their order does not matter: nothing in the search depends on it."""

    def __init__(self, states: Sequence = ()):
        self.kept: list = list(states)
        self.file = None
        self.chunks: list[tuple[int, int]] = []     # (offset, bytes) in the file
        self.on_disk = 0                            # states
        self.written = 0                            # bytes

    def __len__(self) -> int:
        return len(self.kept) + self.on_disk

    def spill(self) -> None:
        """Moves the states past ``SPILL_AFTER`` to the file."""
        extra = self.kept[SPILL_AFTER:]
        if not extra:
            return
        del self.kept[SPILL_AFTER:]
        data = memoryview(_dump(extra))     # (marshal, or pickle for what it cannot write)
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="modelcheck-level-")
        fd, at = self.file.fileno(), self.written
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], at + done)
        self.chunks.append((at, len(data)))
        self.written += len(data)
        self.on_disk += len(extra)

    def __iter__(self):
        yield from self.kept
        for at, length in self.chunks:
            data = bytearray()
            while len(data) < length:
                data += os.pread(self.file.fileno(), length - len(data), at + len(data))
            yield from _load(data)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def available() -> bool:
    return SharedSeen is not None


def make_shared_seen(memory: int | None) -> tuple[SharedSeen, tuple | None]:
    """A table that may hold ``TABLE_SHARE`` of ``memory`` (bytes; None: unknown, 4 GiB
    assumed) in blocks, in a mapping ``ADDRESS_FACTOR`` times as large (address space
    only: untouched pages cost nothing), and the address-space limit to put back once it
    is closed (None: unchanged). Where the address space is capped (``checker.memory.
    address_space_cap``), the cap is raised by the reservation while the table is
    mapped: the table is shared, and its memory is bounded by its own limit, so it must
    not eat each process's share. Raises MemoryError or OSError."""
    table = max(MIN_TABLE, int((memory or (4 << 30)) * TABLE_SHARE))
    reserve = table * ADDRESS_FACTOR
    try:
        import resource
    except ImportError:
        return SharedSeen(reserve, table), None
    old = resource.getrlimit(resource.RLIMIT_AS)
    soft, hard = old
    if soft == resource.RLIM_INFINITY:
        return SharedSeen(reserve, table), None
    if hard != resource.RLIM_INFINITY and soft + reserve > hard:
        # A hard cap (``ulimit -v``) that cannot be raised by the whole reservation: the
        # table takes what it can be raised by, or else its share of the cap (mapped
        # whole, a reservation past the cap would never fit).
        reserve = max(hard - soft, min(reserve, max(MIN_TABLE, int(soft * TABLE_SHARE))))
        table = min(table, reserve)
    raised = soft + reserve if hard == resource.RLIM_INFINITY else min(soft + reserve, hard)
    resource.setrlimit(resource.RLIMIT_AS, (raised, hard))
    try:
        return SharedSeen(reserve, table), old
    except BaseException:
        resource.setrlimit(resource.RLIMIT_AS, old)
        raise


def close_shared_seen(seen: SharedSeen, limit: tuple | None) -> None:
    """Unmaps the table here and puts the address-space limit back."""
    seen.close()
    if limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, limit)


def _stops_cleanly(method):
    """The table full, or left locked by a worker that died: a limit that stops the
    search with its statistics (exit 3) and says why, not a failure."""
    @functools.wraps(method)
    def run(self, *args):
        try:
            return method(self, *args)
        except (TableFullError, HolderDiedError) as err:
            raise WorkerLimitError(str(err)) from None
    return run


class SharedPartition(Partition):
    """One worker of the shared search: the states of its part of the current level
    (``frontier``) and those it found new for the next one (``found``)."""

    def __init__(self, index: int, count: int, recipe, check_deadlock: bool | None,
                 seen: SharedSeen, frontier: Sequence = ()):
        model, canonical = recipe.build()
        self.index, self.count = index, count
        self.model, self.canonical = model, canonical
        self.deadlock = model.check_deadlock if check_deadlock is None else check_deadlock
        self.invs = tuple(i.holds for i in model.invariants)
        self._tfailures = None
        self.shared = seen
        self.frontier = LevelStates()
        self.found = LevelStates(frontier)
        self.states = self.found       # (Partition._report counts them)
        self._reset_level()

    def _identify(self, state) -> dict:
        return {"state": state, "fp": fingerprint(state)}

    def _report(self, **extra) -> dict:
        count, room, in_use, _, _ = self.shared.stats()
        mine = self.index == 0          # (one worker reports the one table)
        extra.setdefault("table_bytes", in_use if mine else 0)
        extra.setdefault("table_room", room if mine else 0)
        extra.setdefault("shared_bytes", in_use)
        extra.setdefault("frontier", None)
        extra.setdefault("next_size", len(self.found))
        return super()._report(**extra)

    def _check_new(self, t, length: int) -> None:
        try:
            for holds in self.invs:
                if not holds(t):
                    self._invariant_failed(t, -1, length)
                    return
        except MODEL_ERRORS:
            self._invariant_failed(t, -1, length)

    # -- level 1
    @_stops_cleanly
    def init(self) -> dict:
        self._reset_level()
        inits = self.model.initial_states()
        if self.canonical is not None:
            inits = [self.canonical(s) for s in inits]
        add = self.shared.add
        for k, s in enumerate(inits):
            # (each worker offers its share: a state listed twice is stored once)
            if k % self.count == self.index and add(s, 0, 1):
                self.found.kept.append(s)
                self.new += 1
                self._check_new(s, 1)
        return self._report()

    # -- a level
    @_stops_cleanly
    def expand(self, level: int, store: bool, time_left: float | None, sink=None) -> dict:
        self._reset_level()
        model, canonical = self.model, self.canonical
        successors = model.successors
        check_transitions = self._check_transitions if model.transition_invariants else None
        checked = model.checked_successors if check_transitions is not None else None
        deadlock = self.deadlock
        shared = self.shared
        add, contains, reached, fp_of = shared.add, shared.contains, shared.reached, fingerprint
        self.frontier, self.found = self.found, LevelStates()
        frontier, found = self.frontier, self.found
        self.states = found
        kept = found.kept
        append = kept.append
        spill_at = SPILL_AFTER + SPILL_CHUNK
        invs, failed = self.invs, self._invariant_failed
        deadline = None if time_left is None else monotonic() + time_left
        timed_out = False
        generated = expanded = new = 0
        countdown = _CLOCK_EVERY
        nxt = level + 1
        for s in frontier:
            if deadline is not None:
                countdown -= 1
                if countdown == 0:
                    countdown = _CLOCK_EVERY
                    if monotonic() >= deadline:
                        timed_out = True
                        break
            # (inlined, as in Partition.expand: this loop runs per state)
            try:
                succs, recheck = expand_checked(checked, successors, s)
            except MODEL_ERRORS as e:
                self._found(level, "error", -1, s,
                            message=_error_message(model, s, e, "successors"))
                continue
            expanded += 1
            if not succs:
                if deadlock:
                    self._found(level, "deadlock", -1, s)
                continue
            generated += len(succs)
            if recheck and check_transitions is not None:
                check_transitions(s, succs, -1, nxt)
            parent = fp_of(s)
            for t in succs:
                if t == s:
                    continue
                if canonical is not None:
                    # (a state seen is canonical already: no need to canonicalize it)
                    if reached(t, parent, nxt):
                        continue
                    t = canonical(t)
                if not store:
                    if not contains(t):
                        self.cut = True
                    continue
                if not add(t, parent, nxt):
                    continue
                append(t)
                new += 1
                try:
                    for holds in invs:
                        if not holds(t):
                            failed(t, -1, nxt)
                            break
                except MODEL_ERRORS:
                    failed(t, -1, nxt)
            if len(kept) >= spill_at:
                found.spill()
        frontier.close()
        self.frontier = LevelStates()
        self.new += new
        self.generated, self.expanded = generated, expanded
        return self._report(timed_out=timed_out, out={})

    @_stops_cleanly
    def ingest(self, level: int, store: bool, payloads) -> dict:
        """Nothing arrives: the level's new states were counted while expanding."""
        return self._report()

    # -- between levels: evening out the next level (SharedBalancer)
    @_stops_cleanly
    def give(self, counts: dict[int, int]) -> dict:
        """Hands the last ``counts[dest]`` states found to each ``dest`` (at most those
        in memory)."""
        out, gave = {}, 0
        for dest, k in counts.items():
            kept = self.found.kept      # (from the states in memory)
            k = min(k, len(kept))
            if k <= 0:
                continue
            out[dest] = _dump(kept[-k:])
            del kept[-k:]
            gave += k
        return self._report(out=out, gave=gave)

    @_stops_cleanly
    def take(self, payloads: Sequence[bytes]) -> dict:
        found = self.found
        for payload in payloads:
            found.kept.extend(_load(payload))
            if len(found.kept) >= SPILL_AFTER + SPILL_CHUNK:
                found.spill()
        return self._report()


class SharedBalancer:
    """Evens out the next level's parts (the ``Balancer`` of the shared search): the
    workers with more than their share hand the surplus, last states first, to those
    with less."""

    table = None

    def __init__(self, n: int):
        self.n = n
        self.moves = self.moved_states = 0

    def count(self, replies) -> list[int]:
        return [r["next_size"] for r in replies]

    def plan(self, sizes: Sequence[int]) -> dict[int, dict[int, int]]:
        """{donor: {receiver: states}}, empty when the parts are even enough."""
        n, total = self.n, sum(sizes)
        if max(sizes) - min(sizes) <= max(MIN_MOVE, MOVE_SHARE * total):
            return {}
        share = [total // n + (1 if i < total % n else 0) for i in range(n)]
        surplus = [(i, sizes[i] - share[i]) for i in range(n) if sizes[i] > share[i]]
        deficit = [[i, share[i] - sizes[i]] for i in range(n) if sizes[i] < share[i]]
        moves: dict[int, dict[int, int]] = {}
        for donor, extra in surplus:
            for slot in deficit:
                if extra == 0:
                    break
                k = min(extra, slot[1])
                if k:
                    moves.setdefault(donor, {})[slot[0]] = k
                    slot[1] -= k
                    extra -= k
        return moves

    def rebalance(self, handles, sizes: Sequence[int], tally) -> None:
        moves = self.plan(sizes)
        if not moves:
            return
        self.moves += 1
        for i, h in enumerate(handles):
            h.send("give", moves.get(i, {}))
        replies = [h.recv() for h in handles]
        self.moved_states += sum(r["gave"] for r in replies)
        tally(replies)
        deliver(handles, replies, tally)

    def note(self) -> str:
        return (f"balance: {self.moved_states:,} states of the next level moved between "
                f"workers, in {self.moves} levels")


def shared_path(seen: SharedSeen, model, canonical, best: Candidate, distinct: int
                ) -> list | None:
    """The counterexample's states from an initial one: the parent fingerprints back from
    the candidate's, then the model replayed forward along them. None after a
    fingerprint collision."""
    from .fingerprints import fingerprint_chain, replay_chain

    chain = fingerprint_chain(seen.parent, best.fp, distinct + 1)
    return None if chain is None else replay_chain(model, canonical, chain, fp=fingerprint)


def seed_from_handover(seen: SharedSeen, handover) -> None:
    """Stores the states a search begun in this process found, with their parents'
    fingerprints (level 0: below every level the workers store). Raises
    ``WorkerDiedError`` when they do not fit."""
    from .explore import _ROOT

    fps = {}
    add_fp = seen.add_fp
    try:
        for st, parent in handover.seen.items():
            fp = fps[st] = fingerprint(st)
            add_fp(fp, 0 if parent is _ROOT else fps[parent], 0)
    except TableFullError as err:
        # (a stop with the statistics of the levels searched so far, as for workers
        # that could not start)
        raise WorkerDiedError(f"{err}, before the workers started") from None
