"""Which worker owns which hash bucket, and when to move buckets between workers.

The parallel search (``checker.parallel``) hashes each state's partition key into one of
``bucket_count(n)`` buckets; a table maps each bucket to its owner. A fixed hash cannot
split the work evenly: 2pc's states crowd onto a few values of the TM's votes in each
level, Paxos's onto a few ballots, and the values heavy at the start are not those heavy
later (the split was 54/46 to 59/41). So after each level the coordinator looks at the
next level's states per bucket and, where one worker has clearly more, moves whole
buckets (every state of the bucket the owner has seen, and those it would expand next)
to the least loaded one. A bucket moves with its states, so a worker still finds every
state of its buckets in its own seen set; a move costs a copy of the bucket's states,
so it is made only where the work it saves in the next level is larger.

Planning is pure arithmetic on counts, here, so that it can be tested alone and is the
same for every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

# Buckets per worker: enough that a move can shift a small share of the work (the
# heaviest Paxos bucket holds about 2% of a level), few enough that the per-level counts
# are cheap to send. (A bucket number is stored in 16 bits with each state.)
BUCKETS_PER_WORKER = 128
NO_BUCKET = 0xFFFF
# Rebalance only a level with at least this many states to expand (a smaller one costs
# less than the two extra round trips a move needs)...
MIN_LEVEL = 1000
# ... and only while the busiest and the idlest worker differ by more than this share of
# the level.
TOLERANCE = 0.02
# Moving a state (marshal, a pipe through the coordinator, unmarshal, a set insertion
# and a removal) costs about this share of expanding one: measured 0.2 for Paxos and 0.5
# for 2pc, whose successors are cheap (bench_partition.py's "moving buckets" CPU over the
# states moved). The larger keeps 2pc from moving what it cannot win back.
MOVE_COST = 0.5


def bucket_count(workers: int) -> int:
    """A multiple of ``workers``, so that the first table (bucket ``b`` to worker
    ``b % workers``) gives each state the owner ``hash % workers``."""
    return workers * max(1, min(BUCKETS_PER_WORKER, (NO_BUCKET - 1) // workers))


def initial_table(workers: int) -> list[int]:
    return [b % workers for b in range(bucket_count(workers))]


def loads(table: Sequence[int], work: Sequence[int], workers: int) -> list[int]:
    """Each worker's share of ``work`` (a count per bucket) under ``table``."""
    out = [0] * workers
    for b, w in enumerate(work):
        if w:
            out[table[b]] += w
    return out


def plan(table: Sequence[int], work: Sequence[int], held: Sequence[int], workers: int, *,
         move_cost: float | None = None, min_level: int | None = None,
         tolerance: float | None = None) -> list[int]:
    """A new table: buckets moved from the busiest worker to the idlest while that
    lowers the busier one's work (``work``: the states per bucket to expand next) by
    more than the move costs (``move_cost`` per state of the bucket, ``held``).

    Each move takes from the busiest worker a bucket with less work than the gap, the
    one that closes the gap best net of its cost; the sum of squared loads falls with
    every move, so the loop ends. With ``held`` all zero (nothing to copy, as when the
    workers start) it is a greedy balance from the given table. (The limits default
    to the module's constants, read at each call.)"""
    move_cost = MOVE_COST if move_cost is None else move_cost
    min_level = MIN_LEVEL if min_level is None else min_level
    tolerance = TOLERANCE if tolerance is None else tolerance
    new = list(table)
    load = loads(new, work, workers)
    total = sum(load)
    if workers < 2 or total < min_level:
        return new
    while True:
        hi = max(range(workers), key=load.__getitem__)
        lo = min(range(workers), key=load.__getitem__)
        gap = load[hi] - load[lo]
        if gap <= tolerance * total:
            return new
        chosen, chosen_score = -1, 0.0
        for b, owner in enumerate(new):
            w = work[b]
            if owner != hi or not 0 < w < gap:
                continue
            score = min(w, gap - w) - move_cost * held[b]
            if score > chosen_score:
                chosen, chosen_score = b, score
        if chosen < 0:
            return new
        new[chosen] = lo
        load[hi] -= work[chosen]
        load[lo] += work[chosen]
