"""Breadth-first search on every core: the seen set partitioned by state, level by level.

(Local workers share one seen set instead by default, ``checker.shared_partition``; the
partitioned search below serves ``--exact``, Ray actors and spawned workers, and
``search``, the level-synchronous coordinator, serves both.)

Each of N workers owns the states whose *owner* (a hash of the state, or of the few
variables ``choose_key`` picks so that most transitions stay with one worker, modulo N)
is its index, and stores only those: its seen set, the states in the order it stored them, and
for each the reference ``index * N + owner`` of the state it was first reached from.
A BFS level runs in two phases, with a barrier after each:

1. **expand**: every worker computes the successors of its states of the current level.
   A successor it owns is stored at once; the others are batched by owner (each sent at
   most once per level and sender) and written out (to a file per sender and receiver,
   or to Ray's object store).
2. **ingest**: every worker reads the batches addressed to it and stores those states
   it has not seen.

The owner hash picks one of a few hundred *buckets*, and a table maps buckets to
workers. When a level ends unevenly, the coordinator moves buckets (with every state of
them their owner has seen) from the busiest worker to the idlest, so that the next
level is split evenly (``checker.balance``; a third phase, only then).

Because a level is finished by every worker before the next one starts, the states of
each level, and therefore the distinct and generated counts and the depth, are exactly
those of the single-process search (``checker.explore``). A violation is reported only
when its level is finished: among all violations of that level the one with the
shortest counterexample is chosen, ties broken by a stable key (kind, property, the
state's ``repr``), so the verdict and the counts do not depend on the number of workers
or on timing. (The single-process search stops at the *first* violation in its order;
here the counts include the whole level in which it was found.) The counterexample is
rebuilt by following parent references from worker to worker, so it is a shortest one.

Workers are processes that rebuild the model from a small picklable recipe
(``ModelSpec``): compiled models hold generated code and cannot be pickled. With the
``fork`` start method (Linux) they inherit the coordinator's compiled model instead.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import marshal
import multiprocessing as mp
import os
import pickle
import sys
import traceback
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import eq, itemgetter
from time import monotonic, perf_counter, process_time
from typing import Any

from .balance import NO_BUCKET, bucket_count, initial_table, plan
from .explore import (
    MODEL_ERRORS,
    ProgressInfo,
    _concretize,
    _error_message,
    _trace,
    error_on_path,
    expand_checked,
    peak_memory_bytes,
    transition_failures,
)
from .interrupts import finishing, first_interrupt_only, worker_signals
from .memory import GrowthWatch, current_rss, release_freed_memory, return_large_blocks_on_free
from .model import Model, State
from .result import Result, Stats, Status, Violation
from .scratch import make_scratch_dir, remove_scratch_dir

ENGINE = "explicit-parallel"

# States per batch written to another worker.
BATCH = 8192
# The CLI's default (one worker per core) starts the workers only once a BFS level has
# this many new states: below that, starting processes costs more than they save. (At
# 20,000, Paxos with ballots 0..2 explored 40% of its states, its first 14 levels, in
# one process, and two workers were slower than one; at 5,000, 7%.)
HANDOVER_AT = 5_000


# The note of a run with fingerprints that ended before the workers started.
SMALL_FOR_FINGERPRINTS = ("full states were kept: the search ended before a level reached "
                          f"{HANDOVER_AT:,} new states, where fingerprints start")


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1
# Expanded states between two looks at the clock (time limit) inside a level.
_CLOCK_EVERY = 256


# --------------------------------------------------------------------------- recipes

@dataclass(frozen=True)
class ModelSpec:
    """A picklable recipe for a model: everything ``load_spec`` needs, with the spec's
    text itself (so that every worker, and a resumed run, compiles the same spec).

    ``build()`` compiles it (once per process) and returns ``(model, canonical)``, where
    ``canonical`` is the symmetry reduction's canonicalization (None without symmetry).
    Anything with such a ``build()`` method can be passed to the engines in its place.
    """

    path: str
    text: str
    consts: tuple[str, ...] = ()          # NAME=VALUE, as for --const
    faults: tuple[str, ...] = ()
    check_deadlock: bool | None = None
    max_faults: int | None = None
    invariants: tuple[str, ...] | None = None   # check only these (None: all)
    symmetry: bool = False                # use the spec's symmetry declarations

    @classmethod
    def from_file(cls, path: str, consts: Mapping[str, Any] | Sequence[str] = (),
                  faults: Sequence[str] = (), check_deadlock: bool | None = None,
                  max_faults: int | None = None, invariants: Sequence[str] | None = None,
                  symmetry: bool = False, text: str | None = None) -> ModelSpec:
        """Read the spec now (raises SpecError when it cannot be read)."""
        if text is None:
            from .parser import read_source

            text = read_source(path).text
        if isinstance(consts, Mapping):
            consts = tuple(f"{k}={v}" for k, v in consts.items())
        return cls(str(path), text, tuple(consts), tuple(faults), check_deadlock,
                   max_faults, None if invariants is None else tuple(invariants), symmetry)

    def with_const(self, name: str, value: str) -> ModelSpec:
        """The same recipe with constant ``name`` set to ``value`` (spec syntax)."""
        kept = tuple(c for c in self.consts if c.partition("=")[0].strip() != name)
        return replace(self, consts=(*kept, f"{name}={value}"))

    def compile(self):
        """The ``CompiledSpec`` (cached per process; raises SpecError)."""
        key = (self.path, self.text, self.consts, self.faults, self.check_deadlock,
               self.max_faults)
        compiled = _COMPILED.get(key)
        if compiled is None:
            from .api import load_spec

            compiled = load_spec(self.path, self.consts, self.faults, self.check_deadlock,
                                 max_faults=self.max_faults, text=self.text)
            _COMPILED[key] = compiled
        return compiled

    def build(self) -> tuple[Model, Callable[[State], State] | None]:
        built = _BUILT.get(self)
        if built is not None:
            return built
        compiled = self.compile()
        model = compiled.model
        if self.invariants is not None:
            known = [i.name for i in model.invariants] + [
                i.name for i in model.transition_invariants]
            unknown = [n for n in self.invariants if n not in known]
            if unknown:
                raise ValueError(f"no such invariant: {', '.join(unknown)}")
            model = model.select_invariants(self.invariants)
        canonical = None
        if self.symmetry and compiled.typed.symmetry:
            from .source import Source
            from .symmetry import Symmetry, check_symmetry

            # with the source, so that the error shows the file, the line and a caret
            check_symmetry(compiled.typed, compiled.universe, Source(self.path, self.text))
            extra = 1 if compiled.max_faults is not None else 0
            canonical = Symmetry(compiled.typed, compiled.universe, compiled.typed.symmetry,
                                 extra).canonical
        _BUILT[self] = model, canonical
        return model, canonical

    def digest(self) -> str:
        """Identifies the spec and settings (and the checker version): what a checkpoint
        must match to be resumed."""
        from . import __version__

        invariants = None if self.invariants is None else list(self.invariants)
        blob = json.dumps([__version__, self.text, list(self.consts), list(self.faults),
                           self.check_deadlock, self.max_faults, invariants, self.symmetry])
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_json(self) -> dict:
        return {"path": self.path, "text": self.text, "consts": list(self.consts),
                "faults": list(self.faults), "check_deadlock": self.check_deadlock,
                "max_faults": self.max_faults,
                "invariants": None if self.invariants is None else list(self.invariants),
                "symmetry": self.symmetry}

    @classmethod
    def from_json(cls, data: dict) -> ModelSpec:
        invariants = data["invariants"]
        return cls(data["path"], data["text"], tuple(data["consts"]), tuple(data["faults"]),
                   data["check_deadlock"], data["max_faults"],
                   None if invariants is None else tuple(invariants), bool(data["symmetry"]))


_COMPILED: dict[tuple, Any] = {}
_BUILT: dict[Any, tuple] = {}


@dataclass(frozen=True)
class GivenModel:
    """A recipe for a model already built in this process (hand-written models, tests).
    Worker processes get it only by ``fork``; it is not picklable in general."""

    model: Model = field(compare=False)
    canonical: Callable[[State], State] | None = field(default=None, compare=False)

    def build(self):
        return self.model, self.canonical


def as_recipe(target, canonical=None):
    """A ``Model`` becomes a ``GivenModel``; recipes are returned unchanged."""
    if isinstance(target, Model):
        return GivenModel(target, canonical)
    if canonical is not None:
        raise ValueError("canonical= is only for a Model; a recipe brings its own symmetry")
    return target


# --------------------------------------------------------------------------- owners
#
# Which worker owns a state: a hash of the state, or of a few of its variables. Hashing
# only the variables that most transitions leave unchanged keeps most successors with
# the worker that found them (for 2pc, hashing `tmPrepared` alone keeps 99% of the
# transitions local; hashing whole states sends half of them across). The variables are
# chosen by ``choose_key`` from a small deterministic sample of the state graph.

def _key_getter(key: tuple[int, ...] | None):
    if key is None:
        return None
    # (a 1-tuple key still hashes as a tuple: hash(int) % n would be the low bit)
    return itemgetter(key[0], key[0]) if len(key) == 1 else itemgetter(*key)


def owner_function(key: tuple[int, ...] | None, stable: bool) -> Callable[[State], int]:
    """``state -> int``; the owner of a state is that number modulo the worker count.

    ``stable``: the same in every process and on every machine. (``hash()`` is not: in
    Python < 3.12 ``hash(None)`` depends on an address, and strings are hashed with a
    per-process key; it is the same only in processes forked from one parent.)"""
    getter = _key_getter(key)
    if stable:
        dumps, crc = marshal.dumps, zlib.crc32
        if getter is None:
            return lambda s: crc(dumps(s, 2))
        return lambda s: crc(dumps(getter(s), 2))
    if getter is None:
        return hash
    return lambda s: hash(getter(s))


def key_names(model: Model, key: tuple[int, ...]) -> str:
    """The variables a key hashes, as a user knows them (the slot past the variables is
    the count of fault steps taken, which a fault budget adds)."""
    names = model.variables
    return ", ".join(names[j] if j < len(names) else "the fault steps taken" for j in key)


def choose_key(model: Model, canonical, n: int, *, budget: int = 2000, seed: int = 0,
               level: Sequence[State] | None = None) -> tuple[int, ...] | None:
    """The state variables (slot indices) to partition by, or None for whole states.

    Random walks (seeded, at most ``budget`` successor computations) sample states and
    transitions; among keys (each variable alone, each pair, all but one variable) whose
    busiest worker, at every walk depth, holds at most ``MAX_IMBALANCE / n`` of the
    sampled states, and that take at least ``MIN_VALUES * n`` values in the sample, the
    one with the least estimated work for the busiest worker wins: its share, with
    each transition that leaves the worker counted ``CROSS_COST`` times more.

    ``level``: states of one breadth-first level (a handover's frontier). A sample of
    them (``LEVEL_SAMPLE`` states) and their successors replace the walks: the walks visit
    the state graph unevenly (on 2pc they saw 10% of the transitions change
    `tmPrepared`, the search sees 0.5%)."""
    if n < 2:
        return None
    import random

    rng = random.Random(seed)
    try:
        inits = list(model.initial_states())
    except MODEL_ERRORS:
        return None
    if canonical is not None:
        inits = [canonical(s) for s in inits]
    if not inits or not all(isinstance(s, tuple) for s in inits):
        return None
    width = len(inits[0])
    if width < 2 or any(len(s) != width for s in inits):
        return None
    states: dict = {}           # state -> depth first seen in a walk
    edges: list = []
    calls = 0

    def expand(s):
        """The successors of ``s`` (None on an error), their edges recorded."""
        try:
            succs = model.successors(s)
        except MODEL_ERRORS:
            return None
        if canonical is not None:
            succs = [canonical(t) for t in succs]
        edges.extend((s, t) for t in succs)
        return succs

    if level:
        calls = budget          # (no walks)
        for s in rng.sample(list(level), min(LEVEL_SAMPLE, len(level))):
            succs = expand(s)
            if succs is None:
                continue
            states.setdefault(s, 0)
            for t in succs:
                states.setdefault(t, 4)     # the next level: a depth bucket of its own
    while calls < budget:
        s = rng.choice(inits)
        states.setdefault(s, 0)
        stale = 0               # steps since the walk last found a new state
        for depth in range(1, 1000):
            if calls >= budget or stale >= 8:
                break
            calls += 1
            succs = expand(s)
            if succs is None:
                break
            fresh = [t for t in succs if t not in states]
            moves = fresh or [t for t in succs if t != s]
            if not moves:
                break
            s = rng.choice(moves)
            stale = 0 if fresh else stale + 1
            states.setdefault(s, depth)
    if len(states) < 16 * n or not edges:
        return None
    if not all(isinstance(s, tuple) and len(s) == width for s in states):
        return None
    slots = range(width)
    keys: list[tuple[int, ...]] = [(j,) for j in slots]
    if width <= 12:
        keys += [(a, b) for a in slots for b in slots if a < b]
    keys += [tuple(j for j in slots if j != x) for x in slots]
    keys = list(dict.fromkeys(keys))
    buckets: dict[int, list] = {}
    for st, depth in states.items():
        buckets.setdefault(depth // 4, []).append(st)
    # Estimates from a few thousand states and transitions are as good as from all of
    # them, and each of the 27 or so keys is evaluated on all (it took 1 s on 2pc with
    # 8 RMs).
    for depth, members in buckets.items():
        if len(members) > SAMPLE_CAP:
            buckets[depth] = rng.sample(members, SAMPLE_CAP)
    if len(edges) > SAMPLE_CAP:
        edges = rng.sample(edges, SAMPLE_CAP)
    # Every state the estimates look at, by position, so that each key's owners are
    # computed once, in one pass.
    universe = list(dict.fromkeys([st for members in buckets.values() for st in members]
                                  + [x for edge in edges for x in edge]))
    where = {st: i for i, st in enumerate(universe)}
    groups = [[where[st] for st in members] for members in buckets.values()
              if len(members) >= 4 * n]
    sources = [where[a] for a, _ in edges]
    targets = [where[b] for _, b in edges]
    sampled = [i for members in groups for i in members]
    total = sum(len(members) for members in groups) / n
    workers = range(n)
    best, best_score = None, _score(1.0, 1.0 / n)      # whole states: even, rarely local
    # (each key is evaluated with C-level maps and counts: a loop in Python per state
    # and key took 0.08 s of Paxos with ballots 0..2's 2.3 s)
    for key in keys:
        values = list(map(_key_getter(key), universe))
        own = [hash(v) % n for v in values]
        at = own.__getitem__
        # balance: at each depth bucket, the largest share against 1/n
        worst = 0
        for members in groups:
            owners = list(map(at, members))
            worst += max(map(owners.count, workers))
        if total == 0 or worst / total > MAX_IMBALANCE:
            continue
        # Walks sample the states unevenly: a key with few values (`tmState`) can look
        # balanced in the sample and hold 96% of the states in one value.
        if len(set(map(values.__getitem__, sampled))) < MIN_VALUES * n:
            continue
        local = sum(map(eq, map(at, sources), map(at, targets))) / len(edges)
        score = _score(worst / total, local)
        if score < best_score * 0.98 or (score < best_score * 1.02 and best is not None
                                         and len(key) > len(best)):
            best, best_score = key, min(score, best_score)
    return best


# A transition whose successor another worker owns costs about six times one that stays
# (measured on 2pc with 8 RMs: the look-up that misses, the owner, the batch, and on the
# other side the decoding and a second look-up): with 11% of 2pc's transitions crossing,
# two workers were 1.3 times as fast as one (in one process, phase by phase); partitioned
# by `tmPrepared` (0.5% cross, a 57/43 split) 1.9 times. The chosen key minimises this estimate of
# the busiest worker's time.
CROSS_COST = 6.0
MAX_IMBALANCE = 1.5     # the busiest worker's share at most 1.5 / n in the sample
MIN_VALUES = 16         # and at least 16 * n values of the key in the sample
SAMPLE_CAP = 4000        # states per depth bucket, and transitions, to evaluate keys on
# States of a handover's frontier sampled (with their successors) to choose the key. 500
# pick the same keys as 1,000 and 2,000 on 2pc with 8 RMs, Paxos with ballots 0..2 and
# 0..3 and Raft, for each of six seeds (session 8), and the choice's time is about
# proportional to the sample (0.14 s for 2,000 on Paxos with ballots 0..2, 5% of its
# one-worker search). Keys chosen at smaller levels are less steady: at 2,000 new
# states, Paxos with ballots 0..3 got `maxBal` or `maxVBal, maxVal` by sample size.
LEVEL_SAMPLE = 500


def _score(imbalance: float, local: float) -> float:
    return imbalance * (1.0 + CROSS_COST * (1.0 - local))


# --------------------------------------------------------------------------- candidates

_RANK = {"invariant": 0, "transition": 1, "deadlock": 2, "error": 3}


@dataclass
class Candidate:
    """A violation found by a worker: where its path ends (owner, local index), how long
    the counterexample is, and what to report."""

    key: tuple                     # (length, rank, property index, repr) : smaller wins
    kind: str
    owner: int
    index: int
    prop: int = -1                 # the property's index in the model's tuple
    post: Any = None               # for transition violations and their errors
    message: str | None = None     # for errors
    has_post: bool = False
    # Workers that keep fingerprints, not states (checker.fingerprint_partition): the
    # state itself, its fingerprint and its bucket, to follow its parents from.
    state: Any = None
    fp: int = 0
    bucket: int = -1


def better(a: Candidate | None, b: Candidate | None) -> Candidate | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.key < a.key else a


# --------------------------------------------------------------------------- a partition

class Partition:
    """One worker's share of the search. Used in-process (one worker), in a worker
    process, and inside a Ray actor."""

    def __init__(self, index: int, count: int, recipe, check_deadlock: bool | None = None,
                 stable: bool = True, key: tuple[int, ...] | None = None,
                 table: Sequence[int] | None = None):
        self.index = index
        self.count = count
        # A state's bucket is its owner hash modulo nbuckets; table[bucket] owns it
        # (checker.balance moves buckets between workers when a level ends).
        self.nbuckets = bucket_count(count)
        self.table = list(table) if table is not None else initial_table(count)
        # each stored state's bucket (NO_BUCKET once its bucket moved away: the state
        # stays, for the references to it, but another worker now owns it)
        self.bucket_of = array("H")
        # states of buckets that moved here, seen (and expanded) by their former owner
        self.foreign: list = []
        self.foreign_bucket = array("H")
        model, canonical = recipe.build()
        self.model = model
        self.canonical = canonical
        self.deadlock = model.check_deadlock if check_deadlock is None else check_deadlock
        self.stable = stable
        self.key = key
        self.owner = owner_function(key, stable)
        self.invs = tuple(i.holds for i in model.invariants)
        self._tfailures = None
        self.seen: set = set()
        self.states: list = []
        self.parents = array("q")
        self.level_start = 0
        self._reset_level()

    def adopt(self, handover, buckets: array, refs: dict) -> None:
        """Takes this worker's share of a search begun in one process (a
        ``checker.explore.Handover``): the states it owns, in order, with their parents'
        references (``refs``: state -> reference, ``buckets``: each stored state's
        bucket, in the order stored)."""
        from .explore import _ROOT

        me, seen, table = self.index, handover.seen, self.table
        done = len(seen) - len(handover.frontier)   # states already expanded
        states, parents, bucket_of = self.states, self.parents, self.bucket_of
        start = None
        for k, (st, b) in enumerate(zip(seen, buckets)):
            if table[b] != me:
                continue
            if start is None and k >= done:
                start = len(states)
            states.append(st)
            bucket_of.append(b)
            p = seen[st]
            parents.append(-1 if p is _ROOT else refs[p])
        self.seen = set(states)
        self.level_start = len(states) if start is None else start

    def _reset_level(self) -> None:
        self.new = 0
        self.cut = False
        self.best: Candidate | None = None
        self.generated = 0
        self.expanded = 0

    # -- storing a state (and checking the invariants in it)
    def _add(self, t, ref: int, length: int, bucket: int) -> None:
        """Stores a new state (the hot loops inline this)."""
        self.seen.add(t)
        self.states.append(t)
        self.parents.append(ref)
        self.bucket_of.append(bucket)
        self.new += 1
        try:
            for holds in self.invs:
                if not holds(t):
                    self._invariant_failed(t, len(self.states) - 1, length)
                    break
        except MODEL_ERRORS:
            self._invariant_failed(t, len(self.states) - 1, length)

    def _invariant_failed(self, t, idx: int, length: int) -> None:
        """Which invariant fails (or raises) in ``t``: the first, in declaration order."""
        for k, inv in enumerate(self.model.invariants):
            try:
                ok = inv.holds(t)
            except MODEL_ERRORS as e:
                self._found(length, "error", idx, t, message=_error_message(
                    self.model, t, e, ("invariant", inv.holds)))
                return
            if not ok:
                self._found(length, "invariant", idx, t, prop=k)
                return

    def _found(self, length: int, kind: str, idx: int, state, prop: int = -1,
               post: Any = None, has_post: bool = False, message: str | None = None) -> None:
        shown = repr((state, post)) if has_post else repr(state)
        key = (length, _RANK[kind], prop, shown)
        if self.best is not None and self.best.key <= key:
            return
        self.best = Candidate(key, kind, self.index, idx, prop, post, message, has_post,
                              **self._identify(state))

    def _identify(self, state) -> dict:
        """What a Candidate needs besides the owner and index (see FingerprintPartition)."""
        return {}

    def _report(self, **extra) -> dict:
        out = dict(new=self.new, cut=self.cut, best=self.best, generated=self.generated,
                   expanded=self.expanded, stored=len(self.states),
                   rss=peak_memory_bytes(), rss_now=current_rss(), cpu=process_time())
        out.update(extra)
        return out

    # -- level 1
    def init(self) -> dict:
        self._reset_level()
        model, canonical = self.model, self.canonical
        inits = model.initial_states()
        if canonical is not None:
            inits = [canonical(s) for s in inits]
        me, owner, nb, table = self.index, self.owner, self.nbuckets, self.table
        for s in inits:
            b = owner(s) % nb
            if s in self.seen or table[b] != me:
                continue
            self._add(s, -1, 1, b)
        return self._report(frontier=self._frontier_counts())

    # -- phase 1: expand the current level
    def expand(self, level: int, store: bool, time_left: float | None, sink) -> dict:
        self._reset_level()
        model, canonical = self.model, self.canonical
        successors = model.successors
        check_transitions = self._check_transitions if model.transition_invariants else None
        checked = model.checked_successors if check_transitions is not None else None
        deadlock = self.deadlock
        seen, states = self.seen, self.states
        me, n = self.index, self.count
        start, end = self.level_start, len(states)
        self.level_start = end
        deadline = None if time_left is None else monotonic() + time_left
        timed_out = False
        pending: list[list] = [[] for _ in range(n)]
        pending_refs = [array("q") for _ in range(n)]
        sent: set = set()
        sent_add = sent.add
        seen_add, states_append, parents_append = seen.add, states.append, self.parents.append
        bucket_append = self.bucket_of.append
        invs, failed = self.invs, self._invariant_failed
        # the owner computation, inlined for the common cases
        stable = self.stable
        owner_of = self.owner
        getter = None if stable else _key_getter(self.key)
        nb, table = self.nbuckets, self.table
        b = 0       # (the only bucket when n == 1)
        generated = expanded = new = 0
        countdown = _CLOCK_EVERY
        nxt = level + 1
        for i in range(start, end):
            if deadline is not None:
                countdown -= 1
                if countdown == 0:
                    countdown = _CLOCK_EVERY
                    if monotonic() >= deadline:
                        timed_out = True
                        break
            s = states[i]
            # (inlined, as in FingerprintPartition.expand: this loop runs per state)
            try:
                succs, recheck = expand_checked(checked, successors, s)
            except MODEL_ERRORS as e:
                self._found(level, "error", i, s,
                            message=_error_message(model, s, e, "successors"))
                continue
            expanded += 1
            if not succs:
                if deadlock:
                    self._found(level, "deadlock", i, s)
                continue
            generated += len(succs)
            if recheck and check_transitions is not None:
                check_transitions(s, succs, i, nxt)
            ref = i * n + me
            for t in succs:
                # Most successors are states this worker already has: one lookup (none
                # for a step that changes nothing).
                if t == s or t in seen:
                    continue
                if canonical is not None:
                    t = canonical(t)
                    if t in seen:
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
                        k = len(sent)
                        sent_add(t)
                        if len(sent) == k:
                            continue        # already sent in this level
                        batch = pending[d]
                        batch.append(t)
                        pending_refs[d].append(ref)
                        if len(batch) >= BATCH:
                            sink.write(d, pack(pending_refs[d], batch))
                            pending[d] = []
                            pending_refs[d] = array("q")
                        continue
                if not store:
                    self.cut = True
                    continue
                # (self._add, inlined)
                seen_add(t)
                states_append(t)
                parents_append(ref)
                bucket_append(b)
                new += 1
                try:
                    for holds in invs:
                        if not holds(t):
                            failed(t, len(states) - 1, nxt)
                            break
                except MODEL_ERRORS:
                    failed(t, len(states) - 1, nxt)
        self.new += new
        for d in range(n):
            if pending[d]:
                sink.write(d, pack(pending_refs[d], pending[d]))
        self.generated, self.expanded = generated, expanded
        return self._report(timed_out=timed_out, out=sink.finish())

    def _check_transitions(self, s, succs, i: int, length: int) -> None:
        model = self.model
        if self._tfailures is None:
            self._tfailures = transition_failures(
                tuple(inv.holds for inv in model.transition_invariants))
        for n, k, exc in self._tfailures(s, succs):
            t = succs[n]
            if exc is not None:
                holds = model.transition_invariants[k].holds
                self._found(length, "error", i, s, post=t, has_post=True,
                            message=_error_message(model, s, exc,
                                                   ("transition invariant", holds)))
            else:
                self._found(length, "transition", i, s, prop=k, post=t, has_post=True)

    # -- phase 2: store the states other workers found for us
    def ingest(self, level: int, store: bool, payloads) -> dict:
        seen, states = self.seen, self.states
        seen_add, states_append, parents_append = seen.add, states.append, self.parents.append
        bucket_append, owner, nb = self.bucket_of.append, self.owner, self.nbuckets
        invs, failed = self.invs, self._invariant_failed
        nxt = level + 1
        new = 0
        for payload in payloads:
            refs, ts = unpack(payload)
            for ref, t in zip(refs, ts):
                if t in seen:
                    continue
                if not store:
                    self.cut = True
                    continue
                seen_add(t)
                states_append(t)
                parents_append(ref)
                bucket_append(owner(t) % nb)
                new += 1
                try:
                    for holds in invs:
                        if not holds(t):
                            failed(t, len(states) - 1, nxt)
                            break
                except MODEL_ERRORS:
                    failed(t, len(states) - 1, nxt)
        self.new += new
        return self._report(frontier=self._frontier_counts())

    # -- between levels: buckets move to balance the next level (checker.balance)
    def _frontier_counts(self) -> list[int] | None:
        """The states to expand in the next level, per bucket (None for one worker)."""
        if self.count == 1:
            return None
        return _counts(self.bucket_of[self.level_start:], self.nbuckets)

    def give(self, table: Sequence[int]) -> dict:
        """Adopts the new ``table``, and hands over every state of the buckets this
        worker no longer owns: for each new owner, the states already expanded (to be
        seen only) and those of the next level with their parents' references (to be
        expanded there). Called only between levels, when no batch is in flight and no
        violation was found (so no reference to a state of the next level exists)."""
        me, old = self.index, self.table
        self.table = table = list(table)
        leaving = [was == me and now != me for was, now in zip(old, table)]
        if not any(leaving):
            return self._report(out={})
        leaving += [False] * (NO_BUCKET + 1 - len(leaving))
        seen, states, parents, bucket_of = self.seen, self.states, self.parents, self.bucket_of
        out: dict[int, tuple[list, array, list, array, array]] = {}

        def parcel(dest):
            got = out.get(dest)
            if got is None:
                got = out[dest] = ([], array("H"), [], array("q"), array("H"))
            return got

        moving = _positions(bucket_of, [b for b in range(self.nbuckets) if leaving[b]])
        start = self.level_start
        moved_next = set()
        for i in moving:
            b = bucket_of[i]
            t = states[i]
            seen.discard(t)
            got = parcel(table[b])
            if i < start:       # expanded here: its entry stays, for references to it
                got[0].append(t)
                got[1].append(b)
                bucket_of[i] = NO_BUCKET
            else:
                got[2].append(t)
                got[3].append(parents[i])
                got[4].append(b)
                moved_next.add(i)
        if moved_next:          # the next level keeps only the states this worker owns
            kept = [i for i in range(start, len(states)) if i not in moved_next]
            tail = ([states[i] for i in kept], array("q", (parents[i] for i in kept)),
                    array("H", (bucket_of[i] for i in kept)))
            del states[start:], parents[start:], bucket_of[start:]
            states.extend(tail[0])
            parents.extend(tail[1])
            bucket_of.extend(tail[2])
        if self.foreign:
            foreign, fb = [], array("H")
            for t, b in zip(self.foreign, self.foreign_bucket):
                if leaving[b]:
                    seen.discard(t)
                    got = parcel(table[b])
                    got[0].append(t)
                    got[1].append(b)
                else:
                    foreign.append(t)
                    fb.append(b)
            self.foreign, self.foreign_bucket = foreign, fb
        return self._report(out={
            dest: _dump((seen_only, b1.tobytes(), nxt, refs.tobytes(), b2.tobytes()))
            for dest, (seen_only, b1, nxt, refs, b2) in out.items()})

    def take(self, payloads: Sequence[bytes]) -> dict:
        """Stores the states of the buckets that moved here (see ``give``)."""
        seen = self.seen
        for payload in payloads:
            seen_only, b1, nxt, refs, b2 = _load(payload)
            seen.update(seen_only)
            self.foreign.extend(seen_only)
            self.foreign_bucket.frombytes(b1)
            seen.update(nxt)
            self.states.extend(nxt)
            self.parents.frombytes(refs)
            self.bucket_of.frombytes(b2)
        return self._report()

    def node(self, idx: int) -> tuple[State, int]:
        """A stored state and its parent reference (-1 for an initial state)."""
        return self.states[idx], self.parents[idx]


def _counts(buckets: array, nb: int) -> list[int]:
    """How many entries of ``buckets`` hold each bucket number below ``nb``."""
    out = [0] * nb
    for b, k in Counter(buckets).items():
        if b < nb:
            out[b] = k
    return out


def _positions(codes: array, wanted: Sequence[int]) -> list[int]:
    """The indices, in order, of the entries of a 16-bit array equal to a number in
    ``wanted``: a byte search per number (a Python loop over millions of entries would
    take a tenth of a second)."""
    raw = codes.tobytes()
    out = []
    for b in wanted:
        pattern = b.to_bytes(2, sys.byteorder)
        i = raw.find(pattern)
        while i >= 0:
            if i % 2:       # straddles two entries
                i = raw.find(pattern, i + 1)
            else:
                out.append(i // 2)
                i = raw.find(pattern, i + 2)
    out.sort()
    return out


def _dump(value) -> bytes:
    """States (in tuples and lists) as bytes: ``marshal`` (about three times as fast as
    pickle for tuples of ints) when the states allow it, else pickle; the first byte
    says which."""
    try:
        return b"m" + marshal.dumps(value, 4)
    except ValueError:  # a state marshal cannot write (hand-written models)
        return b"p" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _load(payload: bytes):
    body = memoryview(payload)[1:]
    return marshal.loads(body) if payload[:1] == b"m" else pickle.loads(body)


def pack(refs: array, states: list) -> bytes:
    """A batch of states with their parents' references, as bytes."""
    return _dump((refs.tobytes(), states))


def unpack(payload: bytes) -> tuple[array, list]:
    raw, states = _load(payload)
    refs = array("q")
    refs.frombytes(raw)
    return refs, states


class ListSink:
    """Collects a level's outgoing batches in memory (one worker, Ray)."""

    def __init__(self):
        self.out: dict[int, list[bytes]] = {}

    def write(self, dest: int, payload: bytes) -> None:
        self.out.setdefault(dest, []).append(payload)

    def finish(self):
        out, self.out = self.out, {}
        return out


class FileSink:
    """Writes a level's outgoing batches to one file per receiver (length-prefixed)."""

    def __init__(self, directory: str, index: int):
        self.directory = directory
        self.index = index
        self.level = 0
        self.files: dict[int, Any] = {}

    def write(self, dest: int, payload: bytes) -> None:
        fh = self.files.get(dest)
        if fh is None:
            path = os.path.join(self.directory, f"l{self.level}-{self.index}-{dest}.bin")
            fh = self.files[dest] = open(path, "wb")  # noqa: SIM115 (closed in finish)
        fh.write(len(payload).to_bytes(8, "little"))
        fh.write(payload)

    def finish(self) -> dict[int, str]:
        out = {}
        for dest, fh in self.files.items():
            fh.close()
            out[dest] = fh.name
        self.files = {}
        return out


def read_batches(paths: Sequence[str]):
    """The payloads in the files (deleting each file once read)."""
    for path in paths:
        with open(path, "rb") as fh:
            while True:
                head = fh.read(8)
                if not head:
                    break
                yield fh.read(int.from_bytes(head, "little"))
        os.unlink(path)


# --------------------------------------------------------------------------- worker process

def partition_class(fingerprints: bool) -> type[Partition]:
    if not fingerprints:
        return Partition
    from .fingerprint_partition import FingerprintPartition

    return FingerprintPartition


class WorkerLimitError(Exception):
    """Raised in a worker: a limit that stops the search cleanly with its statistics
    (exit 3), its message the reason (the shared seen set full, say)."""


def _worker_main(index: int, count: int, recipe, conn, directory: str,
                 check_deadlock: bool | None, stable: bool, key, handover=None,
                 table=None, fingerprints: bool = False, parent: int = 0,
                 factory=None) -> None:
    worker_signals(parent)      # Ctrl-C is the coordinator's; die with it
    # The search allocates millions of tuples and makes no reference cycles: the cyclic
    # collector would only cost time (as in checker.explore).
    gc.disable()
    return_large_blocks_on_free()
    try:
        if factory is not None:     # (a shared search's worker, inherited by fork)
            part, factory = factory(index), None
        else:
            part = partition_class(fingerprints)(index, count, recipe, check_deadlock,
                                                 stable, key, table)
        if handover is not None:    # (inherited by fork: nothing was pickled)
            part.adopt(*handover)
            # this process's copy of the whole search so far is no longer needed
            handover[0].seen, handover[0].frontier = {}, []
            handover[2].clear()
            handover = None
    except MemoryError:
        # (compiling the spec, importing numpy, adopting the states so far: a limit, as
        # below, not a bug)
        part = handover = None
        gc.collect()
        conn.send(("memory", None))
        return
    except BaseException:  # noqa: BLE001 (reported to the coordinator)
        conn.send(("fail", traceback.format_exc()))
        return
    conn.send(("ok", None))
    sink = FileSink(directory, index)
    while True:
        try:
            cmd, *args = conn.recv()
        except EOFError:
            return
        try:
            if cmd == "stop":
                return
            if cmd == "init":
                reply = part.init()
            elif cmd == "expand":
                level, store, time_left = args
                sink.level = level
                reply = part.expand(level, store, time_left, sink)
            elif cmd == "ingest":
                level, store, paths = args
                reply = part.ingest(level, store, read_batches(paths))
            elif cmd == "node":
                reply = part.node(args[0])
            elif cmd == "entry":
                reply = part.entry(args[0])
            elif cmd == "switch":
                from .fingerprint_partition import SWITCH_PHASES, switch_phase

                part, reply = switch_phase(part, *args)
                if args[0] == SWITCH_PHASES[-1]:
                    args = None     # (the entries adopted)
                    release_freed_memory()  # the full-state partition's, now dropped
            elif cmd == "give":
                reply = part.give(args[0])
            elif cmd == "take":
                reply = part.take(args[0])
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except WorkerLimitError as err:
            conn.send(("limit", str(err)))
            return
        except MemoryError:
            # A limit, not a bug: free this worker's states and let the coordinator stop
            # the search cleanly with the statistics so far.
            part = None
            gc.collect()
            conn.send(("memory", None))
            return
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                conn.send(("fail", traceback.format_exc()))
                return
            # a full disk under the batches: a limit too, as the memory's
            conn.send(("disk", f"{err.strerror} in {directory}"))
            return
        except BaseException:  # noqa: BLE001
            conn.send(("fail", traceback.format_exc()))
            return
        conn.send(("ok", reply))


class WorkerDiedError(RuntimeError):
    pass


class _ProcessWorker:
    def __init__(self, ctx, index, count, recipe, directory, check_deadlock, stable, key,
                 handover=None, table=None, fingerprints=False, factory=None):
        self.index = index
        self.stopped = False
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, name=f"modelcheck-worker-{index}",
                                args=(index, count, recipe, child, directory, check_deadlock,
                                      stable, key, handover, table, fingerprints,
                                      os.getpid(), factory),
                                daemon=True)
        self.proc.start()
        child.close()

    def send(self, *cmd) -> None:
        try:
            self.conn.send(cmd)
        except (BrokenPipeError, OSError):
            raise WorkerDiedError(self._why()) from None

    def recv(self):
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDiedError(self._why()) from None
        if status == "memory":
            raise WorkerDiedError(f"out of memory (worker {self.index})")
        if status == "limit":
            raise WorkerDiedError(f"{value} (worker {self.index})")
        if status == "disk":
            raise WorkerDiedError(f"no room on disk for the workers' batches or spilled "
                                  f"levels: {value} (worker {self.index}; TMPDIR chooses "
                                  "the directory)")
        if status == "fail":
            if os.environ.get("MODELCHECK_DEBUG"):
                sys.stderr.write(value)
            last = value.strip().splitlines()[-1] if value.strip() else "?"
            raise RuntimeError(f"worker {self.index} failed: {last}")
        return value

    def _why(self) -> str:
        self.proc.join(1)
        code = self.proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return f"worker {self.index} stopped unexpectedly ({how})"

    def stop(self) -> None:
        """Asks the worker to exit, without waiting: ``close`` waits. (Each worker's exit
        takes 20 to 30 ms to unmap its memory on Paxos with ballots 0..2; asked first,
        they unmap at the same time.)"""
        if not self.stopped and self.proc.is_alive():
            self.stopped = True
            try:
                self.conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass

    def close(self) -> None:
        self.stop()
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
        self.conn.close()


class _LocalWorker:
    """A partition in this process: the one-worker case (tests run several this way)."""

    def __init__(self, part: Partition):
        self.part = part
        self.sink = ListSink()
        self.reply = None

    def send(self, cmd, *args) -> None:
        if cmd == "switch":
            from .fingerprint_partition import switch_phase

            self.part, self.reply = switch_phase(self.part, *args)
            return
        if cmd == "expand":
            args = (*args, self.sink)
        self.reply = getattr(self.part, cmd)(*args)

    def recv(self):
        reply, self.reply = self.reply, None
        return reply

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- coordinator

@first_interrupt_only()
def explore_parallel(
    recipe,
    *,
    workers: int | None = None,
    max_states: int | None = None,
    max_depth: int | None = None,
    time_limit: float | None = None,
    check_deadlock: bool | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    canonical: Callable[[State], State] | None = None,
    start_method: str | None = None,
    partition: str | Sequence[int] = "auto",
    handover_at: int | None = None,
    fingerprints: bool = False,
    switch_at: int | None = None,
    shared: bool = False,
) -> Result:
    """Explore in ``workers`` processes (default: the number of cores); see the module
    docstring. ``recipe`` is a ``ModelSpec`` (or anything with ``build()``), or a
    ``Model`` (with ``canonical``, for symmetry), which worker processes then inherit by
    ``fork``. The limits are those of ``explore``; they are checked when a level ends
    (``max_states``: the run stops after the level in which the count passed it), the
    time limit also inside a level.

    ``partition``: "auto" (hash the variables ``choose_key`` picks), "state" (hash whole
    states), or the slot indices to hash.

    ``handover_at`` (with several workers and ``fork``): search in this process, with
    ``checker.explore``, until a level ends with at least this many new states, and only
    then start the workers, which take over the states found so far. A small state
    space is then explored without starting any process, and its result is
    ``explore``'s.

    ``fingerprints``: the workers keep 64-bit fingerprints instead of states
    (``checker.fingerprint_partition``; counterexamples are regenerated), and the
    result notes the probability of a collision. ``switch_at`` (bytes): workers that keep
    full states switch to fingerprints when a level ends with one of them about to hold
    more than this much memory (``checker.memory.GrowthWatch``;
    ``checker.fingerprint_partition.switch_to_fingerprints``).

    ``shared`` (with several workers and ``fork``): the workers share one seen set of
    fingerprints instead of partitioning the states (``checker.shared_partition``; the
    CLI's default). ``partition``, ``fingerprints`` and ``switch_at`` then do not
    apply. Where the compiled table is missing or cannot be mapped, the partitioned
    search runs, and a note says why."""
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    _check_limits(max_states, max_depth)
    recipe = as_recipe(recipe, canonical)
    model, _ = recipe.build()
    if start_method is None:
        start_method = "fork" if sys.platform.startswith("linux") else "spawn"
    if isinstance(recipe, GivenModel) and workers > 1 and start_method != "fork":
        raise ValueError("a Model can be explored by several workers only with the fork "
                         "start method; pass a ModelSpec")

    start = perf_counter()
    directory = None
    handles: list = []
    gc_off = False
    notes: tuple[str, ...] = (f"{workers} workers",)
    handover = None
    seen = balance_with = seen_limit = None     # (the shared search's table and balancer)
    if workers > 1 and handover_at is not None and start_method == "fork":
        from .explore import Handover, explore

        got = explore(model, canonical=recipe.build()[1], max_states=max_states,
                      max_depth=max_depth, time_limit=time_limit,
                      check_deadlock=check_deadlock, progress=progress,
                      handover_at=handover_at)
        if not isinstance(got, Handover):
            finishing()
            if fingerprints:
                got = replace(got, notes=(*got.notes, SMALL_FOR_FINGERPRINTS))
            return got
        handover, got = got, None
        notes += (f"levels 1 to {handover.level - 1} in one process "
                  f"({len(handover.seen):,} states), then {workers} workers",)
    try:
        inits_or_error = _initial_states(model)
        if isinstance(inits_or_error, Result):
            return inits_or_error
        if workers == 1:
            handles = [_LocalWorker(partition_class(fingerprints)(0, 1, recipe,
                                                                  check_deadlock))]
            if gc.isenabled():
                gc.disable()
                gc_off = True
        else:
            ctx = mp.get_context(start_method)
            directory = make_scratch_dir("workers")
            stable = start_method != "fork"
            if shared and start_method == "fork":
                seen, why = _shared_seen()
                if seen is None:
                    notes += (why,)
                else:
                    seen, seen_limit = seen
            if seen is not None:
                handles = _start_shared(ctx, seen, workers, recipe, directory,
                                        check_deadlock, handover)
                notes += ("one seen set of fingerprints, shared by the workers",)
                balance_with = _shared_balancer(workers)
                switch_at = None
            elif partition == "auto":
                key = choose_key(model, recipe.build()[1], workers,
                                 level=handover.frontier if handover is not None else None)
            elif partition == "state":
                key = None
            else:
                key = tuple(partition)
            if seen is None:
                notes += (f"partitioned by {key_names(model, key)}" if key is not None
                          else "partitioned by whole states",)
            shares = table = None
            if handover is not None and seen is None:
                table, buckets, refs = _assign_owners(handover, key, stable, workers)
                shares = (handover, buckets, refs)
                balance = (table, _counts(buckets, len(table)))
            if seen is None:
                handles = [_ProcessWorker(ctx, i, workers, recipe, directory,
                                          check_deadlock, stable, key, shares, table,
                                          fingerprints)
                           for i in range(workers)]
            shares = buckets = refs = None
            try:
                for h in handles:
                    h.recv()
            except WorkerDiedError as err:      # out of memory while starting, say
                return _stopped_at_start(model, str(err), handover, start, notes)
        resume = None
        if handover is not None:
            resume = dict(distinct=len(handover.seen), generated=handover.generated,
                          expanded=handover.expanded, level=handover.level,
                          new=len(handover.frontier),
                          balance=None if seen is not None else balance)
            handover = None
        return search(handles, model, recipe, n_initial=len(inits_or_error), start=start,
                      max_states=max_states, max_depth=max_depth, time_limit=time_limit,
                      progress=progress, engine=ENGINE, notes=notes, resume=resume,
                      switch_at=None if fingerprints else switch_at,
                      balancer=balance_with,
                      path_of=None if seen is None else _shared_path_of(seen, recipe))
    except KeyboardInterrupt:
        # (while the key was chosen or the workers started: what was searched here)
        finishing()
        return _stopped_at_start(model, "interrupted", handover, start, notes)
    except WorkerDiedError as err:      # (the shared table too small for the states so far)
        return _stopped_at_start(model, str(err), handover, start, notes)
    finally:
        if gc_off:
            gc.enable()
        try:
            for h in handles:
                if isinstance(h, _ProcessWorker):
                    h.stop()
            for h in handles:
                h.close()
        finally:
            # (a signal arriving during the joins must not leave the directory behind)
            if directory is not None:
                remove_scratch_dir(directory)
            if seen is not None:
                from .shared_partition import close_shared_seen

                close_shared_seen(seen, seen_limit)


def _shared_seen():
    """((the shared table, the address-space limit to restore), None), or (None, why
    not) where it cannot be had."""
    from .shared_partition import available, make_shared_seen

    if not available():
        return None, ("the shared seen set is not built (its C compiler was missing when "
                      "modelcheck was installed): the seen set is partitioned instead")
    from .memory import default_memory_limit

    try:
        return make_shared_seen(default_memory_limit()), None
    except (MemoryError, OSError) as err:
        return None, (f"the shared seen set could not be mapped ({err}): the seen set is "
                      "partitioned instead")


def _start_shared(ctx, seen, n: int, recipe, directory: str, check_deadlock,
                  handover) -> list:
    """The workers of a shared search, each with its part of the level to expand
    first (the states found so far are stored in the table first)."""
    from functools import partial

    from .shared_partition import SharedPartition, seed_from_handover

    frontier: list = []
    if handover is not None:
        seed_from_handover(seen, handover)
        frontier = handover.frontier
    return [_ProcessWorker(ctx, i, n, recipe, directory, check_deadlock, True, None,
                           factory=partial(SharedPartition, count=n, recipe=recipe,
                                           check_deadlock=check_deadlock, seen=seen,
                                           frontier=frontier[i::n]))
            for i in range(n)]


def _shared_balancer(n: int):
    from .shared_partition import SharedBalancer

    return SharedBalancer(n)


def _shared_path_of(seen, recipe):
    from .shared_partition import shared_path

    def path_of(best: Candidate, distinct: int) -> list | None:
        model, canonical = recipe.build()
        return shared_path(seen, model, canonical, best, distinct)

    return path_of


def _assign_owners(handover, key, stable: bool, n: int) -> tuple[list[int], array, dict]:
    """For the states a search begun in one process found: the bucket table (balanced
    for the level the workers expand first; nothing moves yet, so any table is free),
    each stored state's bucket (in the order stored), and its reference
    ``index * n + owner`` among its owner's states."""
    owner_of = owner_function(key, stable)
    nb = bucket_count(n)
    buckets = array("H", (owner_of(st) % nb for st in handover.seen))
    done = len(buckets) - len(handover.frontier)
    table = plan(initial_table(n), _counts(buckets[done:], nb), [0] * nb, n)
    refs: dict = {}
    counts = [0] * n
    for st, b in zip(handover.seen, buckets):
        o = table[b]
        refs[st] = counts[o] * n + o
        counts[o] += 1
    return table, buckets, refs


def _check_limits(max_states, max_depth) -> None:
    if max_states is not None and max_states < 1:
        raise ValueError(f"max_states must be at least 1, not {max_states}")
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"max_depth must be at least 1, not {max_depth}")


def _initial_states(model: Model, engine: str = ENGINE):
    """The initial states, or an ERROR result when computing them fails."""
    try:
        return model.initial_states()
    except MODEL_ERRORS as e:
        message = _error_message(model, None, e, "initial")
        return Result(engine=engine, spec=model.name, status=Status.ERROR,
                      constants=dict(model.constants), properties=properties_of(model),
                      violation=Violation(kind="error", property=None, trace=(),
                                          message=message),
                      stats=Stats(elapsed_s=0.0, peak_memory_bytes=peak_memory_bytes()))


def _stopped_at_start(model: Model, reason: str, handover, start: float,
                      notes: tuple[str, ...]) -> Result:
    """A LIMIT result for workers that could not start (out of memory while compiling
    the spec or taking over the states so far): the statistics of the levels searched
    in this process before, if any."""
    stats = Stats(elapsed_s=perf_counter() - start, peak_memory_bytes=peak_memory_bytes())
    if handover is not None:
        distinct = len(handover.seen)
        stats = replace(stats, distinct_states=distinct, generated_states=handover.generated,
                        depth=handover.level if distinct else 0,
                        queue_left=max(distinct - handover.expanded, 0))
    return Result(engine=ENGINE, spec=model.name, status=Status.LIMIT, limit_reason=reason,
                  constants=dict(model.constants), properties=properties_of(model),
                  stats=stats, notes=notes)


def properties_of(model: Model) -> tuple[str, ...]:
    return (tuple(i.name for i in model.invariants)
            + tuple(i.name for i in model.transition_invariants))


def _broadcast(handles, *cmd) -> list:
    for h in handles:
        h.send(*cmd)
    return [h.recv() for h in handles]


def search(handles, model: Model, recipe, *, n_initial: int, start: float,
           max_states, max_depth, time_limit, progress, engine: str,
           notes: tuple[str, ...] = (), collect=None, resume: dict | None = None,
           switch_at: int | None = None, balancer=None, path_of=None) -> Result:
    """The level-synchronous coordinator, over worker handles with ``send(cmd, ...)`` and
    ``recv()`` (processes, the in-process worker, Ray actors). ``collect(replies, dest)``
    gathers the batches addressed to worker ``dest`` from the expand replies.
    ``balancer``: evens out the levels (by default a ``Balancer`` of buckets);
    ``path_of(best, distinct)``: the counterexample's states, where the workers keep
    neither the states nor the parents (the shared search)."""
    n = len(handles)
    if collect is None:
        def collect(replies, dest):
            out = []
            for r in replies:
                got = r["out"].get(dest)
                if isinstance(got, list):
                    out.extend(got)
                elif got:
                    out.append(got)
            return out
    deadline = None if time_limit is None else start + time_limit
    last_level = max_depth if max_depth is not None else sys.maxsize
    generated = n_initial
    distinct = expanded = 0
    level = 1
    cut = False
    best: Candidate | None = None
    rss = [0] * n
    limit: str | None = None
    # Each worker's CPU seconds, and the sum over phases of the busiest worker's: what
    # the run would take on idle cores (a busy machine stretches the wall time).
    # (workers that took over a search begun in one process count from their start:
    # taking over is work, and a run stopped after one level would show none)
    cpu_first: list[float | None] = [None] * n if resume is None else [0.0] * n
    cpu_last = [0.0] * n
    critical = 0.0
    table_bytes = [None] * n       # workers that keep fingerprints: their tables' sizes
    table_room = [0] * n           # (and the states they hold before they grow)
    shared_peak = 0                # the shared search's table, in every worker's memory
    given_balancer = balancer
    balancer = Balancer(n) if given_balancer is None else given_balancer
    switched = None                # the level after which the workers took fingerprints
    watches = [] if switch_at is None else [GrowthWatch(switch_at) for _ in range(n)]

    def tally(replies):
        nonlocal best, critical, shared_peak
        slowest = 0.0
        for i, r in enumerate(replies):
            best = better(best, r["best"])
            rss[i] = max(rss[i], r["rss"])
            table_bytes[i] = r.get("table_bytes")
            table_room[i] = r.get("table_room", 0)
            shared_peak = max(shared_peak, r.get("shared_bytes", 0))
            if cpu_first[i] is None:
                cpu_first[i] = cpu_last[i] = r["cpu"]
            slowest = max(slowest, r["cpu"] - cpu_last[i])
            cpu_last[i] = r["cpu"]
        critical += slowest

    whole = (distinct, generated, expanded, level)
    try:
        if resume is None:
            replies = _broadcast(handles, "init")
            tally(replies)
            new = sum(r["new"] for r in replies)
            distinct = new
            balancer.count(replies)
        else:   # the workers took over a search begun in one process
            distinct, generated = resume["distinct"], resume["generated"]
            expanded, level, new = resume["expanded"], resume["level"], resume["new"]
            if given_balancer is None:
                balancer = Balancer(n, *resume["balance"])
        if max_states is not None and distinct > max_states:
            limit = f"max states {max_states} reached"
        # The counts where the last level ended: what an interrupted level reports (its
        # replies may be half in, and its workers' pipes half read).
        whole = (distinct, generated, expanded, level)
        while best is None and limit is None and new:
            now = perf_counter()
            if deadline is not None and now >= deadline:
                limit = f"time limit of {time_limit:g}s reached"
                break
            store = level < last_level
            time_left = None if deadline is None else deadline - now
            replies = _broadcast(handles, "expand", level, store, time_left)
            tally(replies)
            if best is not None:
                # The answer is found: the level is finished (a shorter counterexample
                # may be among the other workers' states) and reported, come what may.
                finishing()
            generated += sum(r["generated"] for r in replies)
            expanded += sum(r["expanded"] for r in replies)
            timed_out = any(r["timed_out"] for r in replies)
            for dest, h in enumerate(handles):
                h.send("ingest", level, store, collect(replies, dest))
            replies = [h.recv() for h in handles]
            tally(replies)
            if best is not None:
                finishing()
            # (the ingest replies count the whole level: the states stored while
            # expanding and those stored from other workers' batches)
            new = sum(r["new"] for r in replies)
            cut = cut or any(r["cut"] for r in replies)
            distinct += new
            if new:
                level += 1
            whole = (distinct, generated, expanded, level)
            if timed_out:
                limit = f"time limit of {time_limit:g}s reached"
            elif max_states is not None and distinct > max_states and best is None:
                limit = f"max states {max_states} reached"
            if progress is not None:
                progress(ProgressInfo(distinct, generated, level, distinct - expanded,
                                      perf_counter() - start))
            work = balancer.count(replies)
            if work is not None and best is None and limit is None and new:
                balancer.rebalance(handles, work, tally)
            # (every watch sees every level: a list, not a short-circuiting any())
            if (watches and switched is None and best is None and limit is None and new
                    and any([w.passes(r["rss_now"]) for w, r in zip(watches, replies)])):
                from .fingerprint_partition import switch_to_fingerprints

                switch_to_fingerprints(handles, tally)
                switched = level
        if best is None and limit is None and cut:
            limit = f"max depth {max_depth} reached"
    except (KeyboardInterrupt, WorkerDiedError) as err:
        # (a candidate of a level not finished is dropped: it may not be the shortest,
        # and the pipes that would rebuild its path still hold replies)
        limit = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
        best = None
        distinct, generated, expanded, level = whole
    finishing()

    elapsed = perf_counter() - start
    if table_bytes[0] is not None:
        from .fingerprints import collision_note, format_bytes, table_note

        if switched is not None:
            notes = (*notes, f"full states up to level {switched}, then fingerprints: a "
                             f"worker was about to hold more than {format_bytes(switch_at)}")
        notes = (*notes, collision_note(distinct),
                 table_note("shared seen set" if path_of is not None else "seen sets",
                            sum(table_bytes), distinct, sum(table_room)))
    if balancer.moves:
        notes = (*notes, balancer.note())
    if n > 1 and all(c is not None for c in cpu_first):
        busy = " + ".join(f"{cpu_last[i] - cpu_first[i]:.2f}" for i in range(n))
        notes = (*notes, f"workers' CPU seconds: {busy}; busiest worker per phase, "
                         f"summed: {critical:.2f} s")
    # (a shared table is in every worker's resident memory: counted once)
    peak = sum(rss) + (peak_memory_bytes() if n > 1 else 0) - (n - 1) * shared_peak
    stopped = best is not None or limit is not None
    stats = Stats(distinct_states=distinct, generated_states=generated,
                  depth=level if distinct else 0, elapsed_s=elapsed,
                  peak_memory_bytes=peak,
                  queue_left=max(distinct - expanded, 0) if stopped else 0)
    base = dict(engine=engine, spec=model.name, constants=dict(model.constants),
                properties=properties_of(model), stats=stats, notes=notes)
    if limit is not None and best is None:
        return Result(status=Status.LIMIT, limit_reason=limit, **base)
    if best is None:
        return Result(status=Status.OK, **base)
    try:
        if path_of is not None:
            path = path_of(best, distinct)
            if path is None:
                return Result(status=Status.ERROR, violation=Violation(
                    kind="error", property=None, trace=(),
                    message="the counterexample could not be rebuilt from fingerprints (a "
                            "fingerprint collision); run again with --exact"),
                    **base)
        elif best.state is not None:
            path = _regenerated_path(handles, balancer.table, best, model, recipe, distinct)
            if path is None:
                return Result(status=Status.ERROR, violation=Violation(
                    kind="error", property=None, trace=(),
                    message="the counterexample could not be rebuilt from fingerprints (a "
                            "fingerprint collision); run again without --fingerprints"),
                    **base)
        else:
            path = _stored_path(handles, best)
    except WorkerDiedError as err:
        # The verdict is known, but not its counterexample: a stop, saying what was found.
        return Result(status=Status.LIMIT, limit_reason=f"{err}, while the counterexample "
                      "was being rebuilt", **{**base, "notes": (*notes, (
                          f"the search found {_found(model, best)}; run again to see "
                          "its counterexample"))})
    return violation_result(model, recipe, best, path, base)


def _stored_path(handles, best: Candidate) -> list:
    """The stored states from an initial one to the candidate's, following the parent
    references from owner to owner."""
    n = len(handles)
    path = []
    owner, idx = best.owner, best.index
    while True:
        handles[owner].send("node", idx)
        state, parent = handles[owner].recv()
        path.append(state)
        if parent < 0:
            break
        owner, idx = parent % n, parent // n
    path.reverse()
    return path


def _found(model: Model, best: Candidate) -> str:
    """What a candidate is, in words ("a violation of invariant Agreement")."""
    if best.kind == "invariant":
        return f"a violation of invariant {model.invariants[best.prop].name}"
    if best.kind == "transition":
        return (f"a violation of transition invariant "
                f"{model.transition_invariants[best.prop].name}")
    return "a deadlock" if best.kind == "deadlock" else "a run-time error"


def _regenerated_path(handles, table: Sequence[int], best: Candidate, model: Model, recipe,
                      distinct: int) -> list | None:
    """For workers that keep fingerprints: the parent fingerprints from owner to owner
    back to an initial state, then the model replayed forward along them (as TLC
    does). None after a fingerprint collision."""
    from .fingerprints import fingerprint_chain, replay_chain

    bucket_of = {best.fp: best.bucket}

    def parent_of(fp: int) -> int | None:
        h = handles[table[bucket_of[fp]]]
        h.send("entry", fp)
        got = h.recv()
        if got is None:
            return None
        parent, bucket = got
        bucket_of[parent] = bucket
        return parent

    chain = fingerprint_chain(parent_of, best.fp, distinct + 1)
    return None if chain is None else replay_chain(model, recipe.build()[1], chain)


class Balancer:
    """The coordinator's side of ``checker.balance``: the bucket table, the states
    stored per bucket, and the moves made."""

    def __init__(self, n: int, table: Sequence[int] | None = None,
                 held: Sequence[int] | None = None):
        self.n = n
        self.table = list(table) if table is not None else initial_table(n)
        self.held = list(held) if held is not None else [0] * len(self.table)
        self.moves = self.moved_states = 0

    def count(self, replies) -> list[int] | None:
        """The next level's states per bucket, over all workers (None for one worker),
        from the replies of the phase that ended the level."""
        if replies[0].get("frontier") is None:
            return None
        work = [sum(col) for col in zip(*(r["frontier"] for r in replies))]
        held = self.held
        for b, w in enumerate(work):
            held[b] += w
        return work

    def rebalance(self, handles, work: Sequence[int], tally: Callable) -> None:
        """Moves the buckets ``plan`` picks: every worker adopts the new table, then
        the states of the buckets that changed owner go to their new owners.
        ``tally`` sees the replies of both phases."""
        old, table = self.table, plan(self.table, work, self.held, self.n)
        if table == old:
            return
        moved = [b for b, (was, now) in enumerate(zip(old, table)) if was != now]
        self.moves += len(moved)
        self.moved_states += sum(self.held[b] for b in moved)
        self.table = table
        replies = _broadcast(handles, "give", table)
        tally(replies)
        deliver(handles, replies, tally)

    def note(self) -> str:
        return (f"balance: {self.moves} buckets of states moved between workers "
                f"({self.moved_states:,} states)")


def deliver(handles, replies, tally: Callable) -> None:
    """After a "give" phase: each worker takes the parcels the others addressed to it
    (``replies[i]["out"]``: receiver -> payload)."""
    parcels: list[list[bytes]] = [[] for _ in handles]
    for r in replies:
        for dest, payload in r["out"].items():
            parcels[dest].append(payload)
    for h, payloads in zip(handles, parcels):
        h.send("take", payloads)
    tally([h.recv() for h in handles])


def violation_result(model: Model, recipe, best: Candidate, path: list, base: dict) -> Result:
    """The Result for a chosen candidate whose path (of stored states) is known."""
    _, canonical = recipe.build()
    holds = None
    if best.kind == "transition":
        holds = model.transition_invariants[best.prop].holds
    if canonical is not None:
        path = _concretize(model, path, canonical, best.post if best.has_post else None, holds)
    elif best.has_post:
        path = [*path, best.post]
    trace = _trace(model, path)
    if best.kind == "invariant":
        return Result(status=Status.VIOLATION, violation=Violation(
            kind="invariant", property=model.invariants[best.prop].name, trace=trace), **base)
    if best.kind == "transition":
        return Result(status=Status.VIOLATION, violation=Violation(
            kind="transition", property=model.transition_invariants[best.prop].name,
            trace=trace), **base)
    if best.kind == "deadlock":
        return Result(status=Status.DEADLOCK, violation=Violation(
            kind="deadlock", property=None, trace=trace), **base)
    message = best.message
    if canonical is not None and path:
        message = error_on_path(model, path, best.has_post, message)
    return Result(status=Status.ERROR, violation=Violation(
        kind="error", property=None, trace=trace, message=message), **base)
