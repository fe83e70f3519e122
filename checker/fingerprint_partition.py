"""A worker's share of the parallel search with 64-bit fingerprints instead of states.

``checker.parallel.Partition`` keeps every state it owns (a tuple, a set entry, a list
entry: 150 bytes and more per state). This one keeps, per state, only a fingerprint,
its parent's fingerprint and a 32-bit tag (the state's bucket, and its parent's) in an
open-addressing table (``checker.fingerprints.FingerprintTable``): about 27 to 53 bytes.
States themselves are held only for the level being expanded and the next one, as
marshalled chunks, and in caches of recent states of bounded size.

The protocol with the coordinator is the same (init, expand, ingest, give, take), so
the level-synchronous search, its counts, the bucket moves and the choice of the
shortest counterexample are those of ``Partition``. Differences:

* A successor is looked up first in a cache of recent states (this level's and those
  found for the next one, as in ``checker.fingerprints``); only the others are
  fingerprinted and looked up in the table, in vectorized batches.
* A batch sent to another worker carries, per state, the parent's fingerprint and
  tag instead of a reference into the parent's list.
* A counterexample is regenerated, as TLC does: the coordinator follows parent
  fingerprints from owner to owner (``entry``), then replays the model forward
  (``checker.fingerprints.replay_chain``).

Two states with the same fingerprint are taken for one; the result reports the
probability of that, as the compact engine does.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Sequence

from .balance import NO_BUCKET
from .explore import MODEL_ERRORS, _error_message, expand_checked
from .fingerprints import FingerprintTable, fingerprint, fingerprints
from .memory import import_numpy, release_freed_memory
from .parallel import _CLOCK_EVERY, BATCH, Partition, _counts, _dump, _key_getter, _load

_LOW = 0xFFFF
# Candidates stored (fingerprinted, looked up, placed) at a time: a level's candidates
# are not all held at once.
STORE_CHUNK = 1 << 16
# States kept as objects in each of the caches of recent states (this level's, the next
# one's) and of states sent in this level: beyond it, a duplicate costs a fingerprint and
# a look-up, or a place in a batch, instead of memory.
RECENT_LIMIT = 1 << 18


# Bytes of marshalled states a level keeps in memory; the rest goes to an unnamed
# temporary file, which the system deletes when the level is dropped (or the worker
# killed). A frontier that outgrows memory then spills to disk instead of stopping the
# run. (Paxos with ballots 0..3 needs at most 27 MiB a worker: nothing spills there.)
LEVEL_IN_MEMORY = 64 << 20


class Level:
    """A breadth-first level's states, as marshalled chunks (a state costs 150 to 250
    bytes as Python objects, 40 to 80 encoded), with their fingerprints and buckets;
    past ``LEVEL_IN_MEMORY`` bytes the chunks go to disk."""

    def __init__(self):
        self.chunks: list = []      # bytes, or (offset, length) in self.file
        self.fps = array("Q")
        self.buckets = array("H")
        self.held = 0               # bytes of the chunks in memory
        self.file = None
        self.spilled = 0            # bytes of the chunks on disk

    def __len__(self) -> int:
        return len(self.fps)

    def add(self, states: list, fps: bytes, buckets: bytes) -> None:
        if not states:
            return
        chunk = _dump(states)
        if self.held + len(chunk) <= LEVEL_IN_MEMORY:
            self.chunks.append(chunk)
            self.held += len(chunk)
        else:
            if self.file is None:
                self.file = tempfile.TemporaryFile(prefix="modelcheck-level-")
            fd, at, view = self.file.fileno(), self.spilled, memoryview(chunk)
            while view:
                view = view[os.pwrite(fd, view, at + len(chunk) - len(view)):]
            self.chunks.append((at, len(chunk)))
            self.spilled += len(chunk)
        self.fps.frombytes(fps)
        self.buckets.frombytes(buckets)

    def states(self):
        for chunk in self.chunks:
            if isinstance(chunk, tuple):
                at, length = chunk
                chunk = os.pread(self.file.fileno(), length, at)
            yield from _load(chunk)

    def split(self, leaving) -> tuple[Level, dict[int, list]]:
        """This level without the states whose bucket ``leaving`` marks, and those
        states grouped by bucket: ``{bucket: [(state, fp), ...]}``."""
        kept, out = Level(), {}
        states, fps, buckets = [], array("Q"), array("H")
        for t, fp, b in zip(self.states(), self.fps, self.buckets):
            if leaving[b]:
                out.setdefault(b, []).append((t, fp))
                continue
            states.append(t)
            fps.append(fp)
            buckets.append(b)
            if len(states) >= STORE_CHUNK:
                kept.add(states, fps.tobytes(), buckets.tobytes())
                states, fps, buckets = [], array("Q"), array("H")
        kept.add(states, fps.tobytes(), buckets.tobytes())
        return kept, out


def expected_new(frontier: int, stored_per_expanded: float) -> int:
    """The states a worker will likely store while expanding ``frontier`` states: as
    many per state as in the last level (never more than twice as many)."""
    return int(frontier * min(max(stored_per_expanded, 0.0), 2.0))


def _tag(bucket: int, parent_bucket: int) -> int:
    return bucket | parent_bucket << 16


class FingerprintPartition(Partition):
    """One worker's share, as fingerprints (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fingerprint_fields()

    def _fingerprint_fields(self) -> None:
        self.seen = None
        self.states: list = []
        self.table_fp = FingerprintTable(tagged=True)
        self.np = self.table_fp.np
        self.frontier = Level()      # the states to expand in the next expand phase
        self.next = Level()          # the states found for the level after it
        self.recent_old: set = set()
        self.recent_new: set = set()
        self.stored_per_expanded = 1.0      # in the last level

    def _advance(self) -> None:
        """The states found for the next level become the frontier."""
        if self.expanded:
            self.stored_per_expanded = len(self.next) / self.expanded
        self.frontier, self.next = self.next, Level()
        self.recent_old, self.recent_new = self.recent_new, set()

    def _identify(self, state) -> dict:
        return dict(state=state, fp=fingerprint(state),
                    bucket=self.owner(state) % self.nbuckets)

    def _report(self, **extra) -> dict:
        extra.setdefault("table_bytes", self.table_fp.nbytes)
        extra.setdefault("table_room", self.table_fp.room)
        return super()._report(**extra)

    # -- storing
    def _store(self, states: list, parent_fps, tags, length: int, store: bool) -> None:
        """Stores those of ``states`` (candidates, with their parents' fingerprints and
        their tags) that the table does not hold, checking the invariants in each."""
        if not states:
            return
        np, table = self.np, self.table_fp
        fps = fingerprints(states, np)
        chosen = table.new_positions(fps)
        if not len(chosen):
            return
        if not store:
            self.cut = True
            return
        tags_np = np.frombuffer(tags, dtype=np.uint32) if isinstance(tags, array) else tags
        parents_np = (np.frombuffer(parent_fps, dtype=np.uint64)
                      if isinstance(parent_fps, array) else parent_fps)
        new_tags = tags_np[chosen]
        table.place(fps[chosen], parents_np[chosen], new_tags)
        picked = [states[i] for i in chosen.tolist()]
        self.next.add(picked, fps[chosen].tobytes(),
                      (new_tags & _LOW).astype(np.uint16).tobytes())
        invs, failed = self.invs, self._invariant_failed
        for t in picked:
            try:
                for holds in invs:
                    if not holds(t):
                        failed(t, -1, length)
                        break
            except MODEL_ERRORS:
                failed(t, -1, length)
        self.new += len(picked)

    # -- level 1, or the states of a search begun in one process
    def init(self) -> dict:
        self._reset_level()
        model, canonical = self.model, self.canonical
        inits = model.initial_states()
        if canonical is not None:
            inits = [canonical(s) for s in inits]
        me, owner, nb, table = self.index, self.owner, self.nbuckets, self.table
        mine, tags = [], array("I")
        for s in inits:
            b = owner(s) % nb
            if table[b] == me and s not in self.recent_new:
                self.recent_new.add(s)
                mine.append(s)
                tags.append(_tag(b, NO_BUCKET))
        self._store(mine, array("Q", bytes(8 * len(mine))), tags, 1, True)
        self._advance()
        return self._report(frontier=self._frontier_counts())

    def adopt(self, handover, buckets: array, refs: dict) -> None:
        from .explore import _ROOT

        me, table = self.index, self.table
        bucket_of = dict(zip(handover.seen, buckets))
        mine, parent_fps, tags = [], array("Q"), array("I")
        for st, parent in handover.seen.items():
            b = bucket_of[st]
            if table[b] != me:
                continue
            mine.append(st)
            if parent is _ROOT:
                parent_fps.append(0)
                tags.append(_tag(b, NO_BUCKET))
            else:
                parent_fps.append(fingerprint(parent))
                tags.append(_tag(b, bucket_of[parent]))
        np = self.np
        fps = fingerprints(mine, np)
        self.table_fp.insert_batch(fps, np.frombuffer(parent_fps, dtype=np.uint64),
                                   np.frombuffer(tags, dtype=np.uint32))
        position = {st: i for i, st in enumerate(mine)}
        frontier, frontier_fps, frontier_buckets = [], array("Q"), array("H")
        for st in handover.frontier:
            i = position.get(st)
            if i is not None:
                frontier.append(st)
                frontier_fps.append(int(fps[i]))
                frontier_buckets.append(tags[i] & _LOW)
        self.frontier.add(frontier, frontier_fps.tobytes(), frontier_buckets.tobytes())
        self.recent_old = set(frontier[:RECENT_LIMIT])

    # -- phase 1
    def expand(self, level: int, store: bool, time_left: float | None, sink) -> dict:
        from time import monotonic

        self._reset_level()
        # The table grows now, if this level is likely to fill it, rather than in the
        # middle of the level, when the caches of recent and sent states are full too: on
        # Paxos with ballots 0..3 the growth to 8M slots came at the end of the widest
        # level, and the worker's peak with it.
        self.table_fp.reserve(expected_new(len(self.frontier), self.stored_per_expanded))
        model, canonical = self.model, self.canonical
        successors = model.successors
        check_transitions = self._check_transitions if model.transition_invariants else None
        checked = model.checked_successors if check_transitions is not None else None
        deadlock = self.deadlock
        frontier = self.frontier
        states, fps_of, buckets_of = frontier.states(), frontier.fps, frontier.buckets
        recent_new, recent_old = self.recent_new, self.recent_old
        known = recent_new.add
        me, n = self.index, self.count
        deadline = None if time_left is None else monotonic() + time_left
        timed_out = False
        pending: list[list] = [[] for _ in range(n)]
        pending_fps = [array("Q") for _ in range(n)]
        pending_tags = [array("I") for _ in range(n)]
        flat: list = []
        flat_fps, flat_tags = array("Q"), array("I")
        sent: set = set()
        sent_add = sent.add
        stable, owner_of = self.stable, self.owner
        getter = None if stable else _key_getter(self.key)
        nb, table = self.nbuckets, self.table
        b = 0
        generated = expanded = 0
        countdown = _CLOCK_EVERY
        nxt = level + 1
        for i, s in enumerate(states):
            if deadline is not None:
                countdown -= 1
                if countdown == 0:
                    countdown = _CLOCK_EVERY
                    if monotonic() >= deadline:
                        timed_out = True
                        break
            # (inlined, as in Partition.expand)
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
            parent_fp = fps_of[i]
            parent_bucket = buckets_of[i] << 16
            for t in succs:
                if t == s or t in recent_new or t in recent_old:
                    continue
                if canonical is not None:
                    t = canonical(t)
                    if t in recent_new or t in recent_old:
                        continue
                if n > 1:
                    if stable:
                        b = owner_of(t) % nb
                    elif getter is None:
                        b = hash(t) % nb
                    else:
                        b = hash(getter(t)) % nb
                    d = table[b]
                    if d != me:
                        # (sent once per level, up to RECENT_LIMIT states remembered;
                        # not cached beyond the level)
                        if t in sent:
                            continue
                        if len(sent) < RECENT_LIMIT:
                            sent_add(t)
                        batch = pending[d]
                        batch.append(t)
                        pending_fps[d].append(parent_fp)
                        pending_tags[d].append(b | parent_bucket)
                        if len(batch) >= BATCH:
                            sink.write(d, _pack(pending_fps[d], pending_tags[d], batch))
                            pending[d] = []
                            pending_fps[d] = array("Q")
                            pending_tags[d] = array("I")
                        continue
                if len(recent_new) < RECENT_LIMIT:
                    known(t)    # (a candidate: a later duplicate is dropped above)
                flat.append(t)
                flat_fps.append(parent_fp)
                flat_tags.append(b | parent_bucket)
                if len(flat) >= STORE_CHUNK:
                    self._store(flat, flat_fps, flat_tags, nxt, store)
                    flat, flat_fps, flat_tags = [], array("Q"), array("I")
        del sent
        for d in range(n):
            if pending[d]:
                sink.write(d, _pack(pending_fps[d], pending_tags[d], pending[d]))
        self._store(flat, flat_fps, flat_tags, nxt, store)
        self.frontier = Level()     # (expanded)
        self.generated, self.expanded = generated, expanded
        return self._report(timed_out=timed_out, out=sink.finish())

    # -- phase 2
    def ingest(self, level: int, store: bool, payloads) -> dict:
        recent_new, recent_old = self.recent_new, self.recent_old
        known = recent_new.add
        got: list = []
        got_fps, got_tags = array("Q"), array("I")
        for payload in payloads:
            parent_fps, tags, states = _unpack(payload)
            for t, pfp, tag in zip(states, parent_fps, tags):
                if t in recent_new or t in recent_old:
                    continue
                if len(recent_new) < RECENT_LIMIT:
                    known(t)
                got.append(t)
                got_fps.append(pfp)
                got_tags.append(tag)
            if len(got) >= STORE_CHUNK:
                self._store(got, got_fps, got_tags, level + 1, store)
                got, got_fps, got_tags = [], array("Q"), array("I")
        self._store(got, got_fps, got_tags, level + 1, store)
        self._advance()
        return self._report(frontier=self._frontier_counts())

    def _frontier_counts(self) -> list[int] | None:
        if self.count == 1:
            return None
        return _counts(self.frontier.buckets, self.nbuckets)

    def node(self, idx: int):
        raise ValueError("a fingerprint worker keeps no states: ask for entry(fp)")

    def entry(self, fp: int) -> tuple[int, int] | None:
        """The parent fingerprint and bucket of the state with fingerprint ``fp``."""
        slot = self.table_fp.slot_of(fp)
        if slot < 0:
            return None
        return int(self.table_fp.parents[slot]), int(self.table_fp.tags[slot]) >> 16

    # -- between levels
    def give(self, table: Sequence[int]) -> dict:
        me, old = self.index, self.table
        self.table = table = list(table)
        np = self.np
        leaving = np.zeros(NO_BUCKET + 1, dtype=bool)
        for b, (was, now) in enumerate(zip(old, table)):
            leaving[b] = was == me and now != me
        if not leaving.any():
            return self._report(out={})
        fps, parents, tags = self.table_fp.take_out(leaving[self.table_fp.tags & _LOW])
        dests = np.asarray(table, dtype=np.int64)[tags & _LOW]
        parcels: dict[int, list] = {}

        def parcel_for(d: int) -> list:
            got = parcels.get(d)
            if got is None:
                pick = dests == d
                got = parcels[d] = [fps[pick].tobytes(), parents[pick].tobytes(),
                                    tags[pick].tobytes(), [], array("Q"), array("H")]
            return got

        for d in np.unique(dests).tolist():
            parcel_for(d)
        self.frontier, moving = self.frontier.split(leaving)
        for b, members in moving.items():
            parcel = parcel_for(table[b])
            for t, fp in members:
                parcel[3].append(t)
                parcel[4].append(fp)
                parcel[5].append(b)
        return self._report(out={
            d: _dump((a, p, g, states, fp.tobytes(), bk.tobytes()))
            for d, (a, p, g, states, fp, bk) in parcels.items()})

    def take(self, payloads: Sequence[bytes]) -> dict:
        np = self.np
        for payload in payloads:
            fps, parents, tags, states, frontier_fps, frontier_buckets = _load(payload)
            self.table_fp.place(np.frombuffer(fps, dtype=np.uint64),
                                np.frombuffer(parents, dtype=np.uint64),
                                np.frombuffer(tags, dtype=np.uint32))
            self.frontier.add(states, frontier_fps, frontier_buckets)
        return self._report()


def _pack(parent_fps: array, tags: array, states: list) -> bytes:
    return _dump((parent_fps.tobytes(), tags.tobytes(), states))


def _unpack(payload: bytes) -> tuple[array, array, list]:
    raw_fps, raw_tags, states = _load(payload)
    parent_fps, tags = array("Q"), array("I")
    parent_fps.frombytes(raw_fps)
    tags.frombytes(raw_tags)
    return parent_fps, tags, states


# --------------------------------------------------------------------------- switching
#
# A search that began with full states can go on with fingerprints when a level ends
# (``explore_parallel(switch_at=...)``: when a worker's memory passes a threshold). Each
# worker fingerprints the states it stored; a state's parent may be stored by another
# worker, so the parents' fingerprints and buckets are asked for and answered; then each
# entry (fingerprint, parent's fingerprint, tag) goes to its bucket's current owner, and
# each worker becomes a FingerprintPartition holding those entries and its next level.

SWITCH_PHASES = ("ask", "answer", "entries", "adopt")


def switch_phase(part: Partition, phase: str, payload=None) -> tuple[Partition, dict]:
    """Runs one phase of the switch on a worker; returns the worker's partition (a new
    one after the last phase) and its reply, whose ``out`` maps each worker to what it
    must receive in the next phase."""
    if phase == "ask":
        return part, part._report(out=_ask(part))
    if phase == "answer":
        return part, part._report(out=_answer(part, payload))
    if phase == "entries":
        return part, part._report(out=_entries(part, payload))
    if phase == "adopt":
        new = _adopt(part, payload)
        return new, new._report()
    raise ValueError(f"unknown switch phase {phase!r}")


def _ask(part: Partition) -> dict[int, bytes]:
    """Fingerprints and buckets of the stored states; the parents' positions this
    worker needs from each other worker."""
    from .fingerprints import fingerprints as fps_of

    np = _numpy()
    states = part.states
    fps = fps_of(states, np)
    buckets = np.frombuffer(part.bucket_of, dtype=np.uint16).copy()
    owner, nb = part.owner, part.nbuckets
    for i in np.flatnonzero(buckets == NO_BUCKET).tolist():    # moved away since
        buckets[i] = owner(states[i]) % nb
    refs = np.frombuffer(part.parents, dtype=np.int64)
    n = part.count
    roots = refs < 0
    owners = np.where(roots, -1, refs % n)
    positions = np.where(roots, -1, refs // n)
    part._switch = dict(fps=fps, buckets=buckets, owners=owners, positions=positions)
    # No more look-ups: the seen set's hash table (a sixth of the partition's memory)
    # goes now, so that the switch's peak is lower.
    part.seen = set()
    out = {}
    for o in range(n):
        if o != part.index:
            wanted = np.unique(positions[owners == o])
            if len(wanted):
                out[o] = wanted.astype(np.int64).tobytes()
    return out


def _answer(part: Partition, asked: dict[int, bytes]) -> dict[int, tuple[bytes, bytes]]:
    np = _numpy()
    mine = part._switch
    out = {}
    for o, raw in asked.items():
        at = np.frombuffer(raw, dtype=np.int64)
        out[o] = (mine["fps"][at].tobytes(), mine["buckets"][at].tobytes())
    return out


def _entries(part: Partition, answers: dict[int, tuple[bytes, bytes]]) -> dict[int, tuple]:
    """Each stored state's entry, grouped by the worker that owns its bucket now."""
    np = _numpy()
    mine = part._switch
    fps, buckets = mine["fps"], mine["buckets"]
    owners, positions = mine["owners"], mine["positions"]
    parent_fps = np.zeros(len(fps), dtype=np.uint64)
    parent_buckets = np.full(len(fps), NO_BUCKET, dtype=np.uint16)
    local = owners == part.index
    parent_fps[local] = fps[positions[local]]
    parent_buckets[local] = buckets[positions[local]]
    for o, (raw_fps, raw_buckets) in answers.items():
        pick = owners == o
        wanted = np.unique(positions[pick])
        at = np.searchsorted(wanted, positions[pick])
        parent_fps[pick] = np.frombuffer(raw_fps, dtype=np.uint64)[at]
        parent_buckets[pick] = np.frombuffer(raw_buckets, dtype=np.uint16)[at]
    tags = buckets.astype(np.uint32) | (parent_buckets.astype(np.uint32) << 16)
    dests = np.asarray(part.table, dtype=np.int64)[buckets]
    out = {}
    for d in np.unique(dests).tolist():
        pick = dests == d
        out[d] = (fps[pick].tobytes(), parent_fps[pick].tobytes(), tags[pick].tobytes())
    return out


def _adopt(part: Partition, entries: list[tuple]) -> FingerprintPartition:
    """The FingerprintPartition that goes on from ``part``: the entries of its buckets,
    and its next level (which it owns whole: it stored or was given those states)."""
    np = _numpy()
    new = FingerprintPartition.__new__(FingerprintPartition)
    for name in ("index", "count", "model", "canonical", "deadlock", "stable", "key",
                 "owner", "invs", "_tfailures", "nbuckets", "table"):
        setattr(new, name, getattr(part, name))
    new._fingerprint_fields()
    new._reset_level()
    start = part.level_start
    mine = part._switch
    # (in chunks, as the search stores them: marshal keeps a table of every object it
    # wrote, which for a whole level of a large search was a transient 100 MiB)
    for at in range(start, len(part.states), STORE_CHUNK):
        end = min(at + STORE_CHUNK, len(part.states))
        new.frontier.add(part.states[at:end], mine["fps"][at:end].tobytes(),
                         mine["buckets"][at:end].tobytes())
    # The full states go before the table comes (``part`` is dropped by the caller, but
    # only after this returns): the switch's peak is then the larger of the two stores,
    # not their sum.
    part.states, part.parents, part.bucket_of = [], array("q"), array("H")
    part.foreign, part.foreign_bucket, part._switch = [], array("H"), None
    del mine
    release_freed_memory()
    new.table_fp.reserve(sum(len(raw_fps) // 8 for raw_fps, _, _ in entries))
    for raw_fps, raw_parents, raw_tags in entries:
        new.table_fp.insert_batch(np.frombuffer(raw_fps, dtype=np.uint64),
                                  np.frombuffer(raw_parents, dtype=np.uint64),
                                  np.frombuffer(raw_tags, dtype=np.uint32))
    # The cache gets copies decoded from the chunk, not the old objects: then no state
    # of the old partition outlives it, and the memory its states held can be returned.
    recent = []
    for t in new.frontier.states():
        if len(recent) >= RECENT_LIMIT:
            break
        recent.append(t)
    new.recent_old = set(recent)
    return new


def _numpy():
    return import_numpy()       # (MemoryError where there is no room to import it)


def switch_to_fingerprints(handles, tally) -> None:
    """The coordinator's side: the four phases, each a barrier, with what each worker
    sent routed to its receivers."""
    payloads: list = [None] * len(handles)
    for phase in SWITCH_PHASES:
        for h, payload in zip(handles, payloads):
            h.send("switch", phase, payload)
        replies = [h.recv() for h in handles]
        tally(replies)
        if phase == "entries":
            payloads = [[] for _ in handles]
            for r in replies:
                for dest, got in r["out"].items():
                    payloads[dest].append(got)
        elif phase != "adopt":
            payloads = [{} for _ in handles]
            for sender, r in enumerate(replies):
                for dest, got in r["out"].items():
                    payloads[dest][sender] = got
    payload = payloads = replies = None
    release_freed_memory()      # (the entries passed through this process)
