"""Simulation: random walks through a state space too large to enumerate.

Each run starts in a random initial state and takes up to ``depth`` random steps,
checking the invariants in every state it visits and the transition invariants on
every step (and, when deadlock is checked, that every visited state has a successor,
the last one of a run that reached ``depth`` included).
Run ``k`` draws from its own generator seeded by ``(seed, k)``, so a seed reproduces
the runs exactly, and one run can be replayed alone.

A counterexample found this way is usually long and full of irrelevant steps, so it is
*shrunk* before it is reported, the way Hypothesis shrinks a failing example: the
behaviour is a sequence of labelled steps (action and arguments) from an initial state;
candidates drop blocks of steps, swap adjacent steps into a canonical order, and start
from an earlier initial state, and each candidate is replayed against the model (a step
may take any successor with its label: an action with internal choice has several, so
the replay is a small bounded search) and kept only if it is a behaviour the walks could
have stopped at: nothing fails before its last state, which fails exactly as the
original did. The result's notes give the length before shrinking, or say that it could
not be shrunk.

Nothing is lost when a simulation is stopped early: a time limit (read every
``CLOCK_EVERY`` steps, so inside a long run too) or Ctrl-C ends it with ``Status.LIMIT``
and the runs, steps and states so far; either one during shrinking ends the shrinking,
and the counterexample is reported as shrunk so far, with a note saying why.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, NamedTuple

from .explore import MODEL_ERRORS, _error_message, _trace, peak_memory_bytes
from .memory import current_rss
from .model import Model, State
from .result import Result, Stats, Status, Violation

ENGINE = "simulate"


def _model_of(target) -> Model:
    if isinstance(target, Model):
        return target
    if hasattr(target, "model") and isinstance(target.model, Model):   # CompiledSpec
        return target.model
    if hasattr(target, "build"):                                       # a recipe
        return target.build()[0]
    raise TypeError(f"cannot simulate a {type(target).__name__}")


@dataclass
class _Failure:
    kind: str                  # "invariant" | "transition" | "deadlock" | "error"
    prop: str | None           # property name (invariant, transition)
    where: str | None = None   # for errors: "successors", "initial", or the property
    message: str | None = None


# The clock is read every this many steps of a run (and replays while shrinking), so a
# time limit stops a single long run too without slowing every step.
CLOCK_EVERY = 256
INTERRUPTED = "interrupted"


def simulate(target, runs: int = 100, depth: int = 100, seed: int = 0, *,
             check_deadlock: bool | None = None, shrink: bool = True,
             time_limit: float | None = None, max_shrink_steps: int = 5000,
             progress: Callable[[int, int], None] | None = None,
             memory_limit: int | None = None) -> Result:
    """``runs`` random walks of up to ``depth`` steps (see the module docstring).
    ``target``: a CompiledSpec, a Model or a recipe. OK means no violation was found,
    not that none exists. ``progress(run, runs)`` is called after each run.

    A time limit (checked inside a run as well) or Ctrl-C stops the walks with
    ``Status.LIMIT`` and what was done so far, so that a long simulation is never lost;
    either one arriving while a counterexample is being shrunk stops the shrinking, and
    the counterexample is reported as shrunk so far. So does ``memory_limit`` (bytes of
    this process's resident memory, checked as the time limit is), or running out of
    memory: one walk of millions of steps keeps every state of its path."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    if depth < 0:
        raise ValueError(f"depth must be at least 0, not {depth}")
    model = _model_of(target)
    deadlock = model.check_deadlock if check_deadlock is None else check_deadlock
    start = perf_counter()
    deadline = None if time_limit is None else start + time_limit
    properties = (tuple(i.name for i in model.invariants)
                  + tuple(i.name for i in model.transition_invariants))
    walk = _Walks()
    fp = _fingerprinter()
    time_up = None if time_limit is None else f"time limit of {time_limit:g}s reached"

    def over_a_limit(memory: bool = True) -> str | None:
        if deadline is not None and perf_counter() >= deadline:
            return time_up
        if memory and memory_limit is not None and current_rss() > memory_limit:
            from .fingerprints import format_bytes

            return f"memory limit of {format_bytes(memory_limit)} reached"
        return None

    try:
        inits = model.initial_states()
    except MODEL_ERRORS as e:
        return _result(model, properties, start, Status.ERROR, 0, 0, 0, Violation(
            kind="error", property=None, trace=(),
            message=_error_message(model, None, e, "initial")), ())
    except KeyboardInterrupt:
        return _result(model, properties, start, Status.LIMIT, 0, 0, 0, None,
                       ("simulation: interrupted while computing the initial states",),
                       INTERRUPTED)
    if not inits:
        return _result(model, properties, start, Status.OK, 0, 0, 0, None,
                       ("simulation: the spec has no initial state",))

    limit = None
    failure: _Failure | None = None
    path: list = []
    run = 0
    try:
        for run in range(runs):
            # (the memory every 16 runs: reading it costs as much as a few steps)
            limit = over_a_limit(memory=run % 16 == 0)
            if limit is not None:
                break
            rng = random.Random(f"{seed}:{run}")
            s = inits[rng.randrange(len(inits))]
            path = [s]
            walk.generated += 1
            walk.visited.add(fp(s))
            failure = _state_failure(model, s)
            steps = 0
            while failure is None and steps < depth:
                if steps % CLOCK_EVERY == CLOCK_EVERY - 1:
                    limit = over_a_limit()
                    if limit is not None:
                        break
                try:
                    succs = model.successors(s)
                except MODEL_ERRORS as e:
                    failure = _Failure("error", None, "successors",
                                       _error_message(model, s, e, "successors"))
                    break
                if not succs:
                    if deadlock:
                        failure = _Failure("deadlock", None)
                    break
                t = succs[rng.randrange(len(succs))]
                # the path first: a failure, once set, is always that of the whole path
                path.append(t)
                walk.generated += 1
                walk.steps += 1
                steps += 1
                walk.visited.add(fp(t))
                failure = _step_failure(model, s, t)
                if failure is None:
                    failure = _state_failure(model, t)
                s = t
            if failure is None and limit is None and steps == depth:
                # the walk stops at depth D, but its last state is visited too: it is
                # expanded like any other (as the search expands the states of its last
                # level, --max-depth too), so that an error computing its successors is
                # found, and checked for deadlock when that is checked
                try:
                    if not model.successors(s) and deadlock:
                        failure = _Failure("deadlock", None)
                except MODEL_ERRORS as e:
                    failure = _Failure("error", None, "successors",
                                       _error_message(model, s, e, "successors"))
            walk.longest = max(walk.longest, len(path))
            if limit is not None and failure is None:
                walk.partial = len(path) - 1       # this run was cut short
                break
            walk.done = run + 1
            if failure is None:
                path = []                          # (so Ctrl-C from here cuts no run)
            if progress is not None:
                progress(walk.done, runs)
            if failure is not None:
                break
    except KeyboardInterrupt:
        limit = INTERRUPTED
        walk.longest = max(walk.longest, len(path))
        if failure is not None:                    # found just before Ctrl-C: keep it
            walk.done = run + 1
        elif path:
            walk.partial = len(path) - 1
    except MemoryError:
        # the path is what a long walk fills memory with: free it to report the rest
        limit = "out of memory"
        walk.longest = max(walk.longest, len(path))
        walk.partial = max(len(path) - 1, 0)
        path, failure = [], None

    notes = [walk.note(runs, depth, seed, limit)]
    if failure is None:
        status = Status.LIMIT if limit else Status.OK
        return _result(model, properties, start, status, len(walk.visited), walk.generated,
                       walk.longest, None, tuple(notes), limit)
    before = len(path) - 1
    if before == 0:         # (an initial state: nothing to shrink, nothing to say of it)
        notes.append(f"counterexample found by run {run} in its initial state")
    elif limit == INTERRUPTED:
        notes.append(f"counterexample found by run {run} with {before} steps (not shrunk: "
                     "interrupted)")
    elif shrink:
        shrinker = Shrinker(model, inits, failure, deadlock, max_shrink_steps,
                            deadline=deadline)
        path = shrinker.shrink(path, _index_in(inits, path[0]))
        if shrinker.stopped is None and len(path) - 1 < before:
            notes.append(f"counterexample found by run {run} with {before} steps, shrunk "
                         f"to {len(path) - 1} steps")
        elif shrinker.stopped is None:
            notes.append(f"counterexample found by run {run} with {before} steps; could "
                         "not shrink it")
        else:
            why = INTERRUPTED if shrinker.stopped == INTERRUPTED else time_up
            notes.append(f"counterexample found by run {run} with {before} steps; "
                         f"shrinking stopped ({why}) at {len(path) - 1} steps")
    else:
        notes.append(f"counterexample found by run {run} with {before} steps (not shrunk)")
    trace = _trace(model, path)
    status = {"invariant": Status.VIOLATION, "transition": Status.VIOLATION,
              "deadlock": Status.DEADLOCK, "error": Status.ERROR}[failure.kind]
    violation = Violation(kind=failure.kind, property=failure.prop, trace=trace,
                          message=failure.message if failure.kind == "error" else None)
    return _result(model, properties, start, status, len(walk.visited), walk.generated,
                   walk.longest, violation, tuple(notes))


@dataclass
class _Walks:
    """What the walks have done so far: kept up to date step by step, so that a run
    stopped at any point (a limit, Ctrl-C) still reports it."""

    visited: set = field(default_factory=set)   # fingerprints of the states visited
    generated: int = 0      # states visited, counting repeats (initial states included)
    steps: int = 0          # steps taken, in all runs
    longest: int = 0        # states on the longest path
    done: int = 0           # runs finished
    partial: int = 0        # steps of the run cut short by a limit or Ctrl-C

    def note(self, runs: int, depth: int, seed: int, limit: str | None) -> str:
        cut = ""
        if limit is not None:
            cut = (f" (run {self.done} stopped after {self.partial} steps)" if self.partial
                   else "")
        longest = ""
        if self.longest:
            # (the depth counts states, as TLC's does: one more than the steps)
            longest = (f"; the longest {self.longest - 1} steps, depth {self.longest} "
                       "counting its states")
        return (f"simulation: {self.done} of {runs} runs of up to {depth} steps{cut}, "
                f"seed {seed}; {self.steps} steps in all{longest}; not exhaustive")


def _result(model, properties, start, status, distinct, generated, longest, violation,
            notes, limit=None) -> Result:
    stats = Stats(distinct_states=distinct, generated_states=generated, depth=longest,
                  elapsed_s=perf_counter() - start, peak_memory_bytes=peak_memory_bytes())
    return Result(engine=ENGINE, spec=model.name, status=status,
                  constants=dict(model.constants), properties=properties,
                  violation=violation, stats=stats, notes=notes, limit_reason=limit)


def _fingerprinter():
    from .fingerprints import fingerprint

    def fp(s):
        try:
            return fingerprint(s)
        except TypeError:
            return s
    return fp


def _index_in(states: list, s) -> int:
    for i, x in enumerate(states):
        if x == s:
            return i
    return 0


def _state_failure(model: Model, s) -> _Failure | None:
    for inv in model.invariants:
        try:
            ok = inv.holds(s)
        except MODEL_ERRORS as e:
            return _Failure("error", None, inv.name,
                            _error_message(model, s, e, ("invariant", inv.holds)))
        if not ok:
            return _Failure("invariant", inv.name)
    return None


def _step_failure(model: Model, s, t) -> _Failure | None:
    for inv in model.transition_invariants:
        try:
            ok = inv.holds(s, t)
        except MODEL_ERRORS as e:
            return _Failure("error", None, inv.name,
                            _error_message(model, s, e, ("transition invariant", inv.holds)))
        if not ok:
            return _Failure("transition", inv.name)
    return None


# --------------------------------------------------------------------------- shrinking

class _ShrinkTimeUp(Exception):  # noqa: N818 (control flow, not an error)
    pass


class _Label(NamedTuple):
    """One step of a behaviour being shrunk: what is replayed (the action and its
    arguments; for a step no labelled step explains, action "" and the state it led to as
    ``args``), and hints for choosing among the successors with that label (an action with
    internal choice, ``either``/``choose``, has several): the state the step led to where
    it was taken, and its index among them there."""

    action: str
    args: Any
    target: Any = None
    branch: int = 0


class Shrinker:
    """Shrinks a failing behaviour: fewer steps, then earlier initial states and steps in
    a canonical order, keeping only candidates that still fail the same way.

    A candidate is a sequence of labels; it is replayed by a small depth-first search over
    the successors with each label (the one the original step took first, when there,
    then the same branch, then the others), at most ``len(labels) + spare`` states
    expanded. It is kept only if it is a real behaviour that the walks themselves could
    have stopped at: no state before the last breaks a checked invariant, no step before
    the last breaks a transition invariant, no run-time error on the way, and the last
    fails exactly as the original did (same kind, same property).

    Shrinking a long behaviour can take longer than finding it, so it stops at
    ``deadline`` (``perf_counter`` time) or on Ctrl-C, returning the shortest failing
    behaviour found so far; ``stopped`` then says why ("time limit" or "interrupted")."""

    SPARE = 32      # states a replay may expand beyond one per step, plus 2 per step
    SHORTCUT_STATES = 20_000    # states the searches for shortcuts may expand, in all

    def __init__(self, model: Model, inits: list, failure: _Failure, deadlock: bool,
                 budget: int = 5000, deadline: float | None = None):
        self.model = model
        self.inits = inits
        self.failure = failure
        self.deadlock = deadlock
        self.budget = budget        # candidate replays still allowed
        self.deadline = deadline
        self.stopped: str | None = None
        self.best: list = []        # the shortest failing behaviour so far
        self._ticks = 0

    def _tick(self) -> None:
        """Before each step computed: raises _ShrinkTimeUp once the deadline is past
        (the clock is read every CLOCK_EVERY steps)."""
        if self.deadline is None:
            return
        self._ticks += 1
        if self._ticks % CLOCK_EVERY == 0 and perf_counter() >= self.deadline:
            raise _ShrinkTimeUp

    # -- a behaviour as labels
    def labels(self, path: list) -> list[_Label]:
        out = []
        for pre, post in zip(path, path[1:]):
            label = None
            self._tick()
            try:
                steps = self.model.steps(pre)
            except MODEL_ERRORS:
                steps = ()
            for step in steps:
                if step.state == post:
                    same = [x.state for x in steps
                            if (x.action, x.args) == (step.action, step.args)]
                    label = _Label(step.action, step.args, post, same.index(post))
                    break
            if label is None:        # no labelled step leads there: keep the state
                label = _Label("", post, post, 0)
            out.append(label)
        return out

    def replay(self, init_index: int, labels: list) -> list | None:
        """The shortest prefix of a behaviour with these labels from initial state
        ``init_index`` that fails the same way, with nothing else failing before it; None
        when the (bounded) search finds none."""
        self.budget -= 1
        labels = [x if isinstance(x, _Label) else _Label(*x) for x in labels]
        s = self.inits[init_index]
        got = _state_failure(self.model, s)
        if got is not None:
            return [s] if self._same(got) else None
        path = [s]
        pending: list[list] = []    # for each step taken: the other candidates there
        room = len(labels) + self.SPARE + 2 * len(labels)   # states still to expand
        while True:
            cands = self._candidates(path[-1], labels, len(path) - 1, room)
            room -= 1
            if cands is True:
                return path
            if cands is None:
                return None          # out of room
            while True:              # the next candidate, backtracking when none is left
                while cands:
                    t = cands.pop(0)
                    got = _step_failure(self.model, path[-1], t) or \
                        _state_failure(self.model, t)
                    if got is None:
                        break
                    if self._same(got):
                        return [*path, t]
                else:
                    if not pending:
                        return None
                    cands = pending.pop()
                    path.pop()
                    continue
                pending.append(cands)
                path.append(t)
                break

    def _candidates(self, s, labels: list, i: int, room: int):
        """The successors of ``s`` to try for step ``i``, most likely first; True when
        ``s`` itself ends the behaviour as the original did (a deadlock, or the same error
        computing its successors); None when no state may be expanded any more."""
        f = self.failure
        last = i == len(labels)
        if last and f.kind not in ("deadlock", "error"):
            return []
        if room <= 0:
            return None
        self._tick()
        try:
            steps = self.model.steps(s)
        except MODEL_ERRORS as e:
            if self._same_error(s, e):
                return True
            return []        # an error the original did not end with: a dead end
        if not steps:
            return True if f.kind == "deadlock" else []
        if last:
            return []
        label = labels[i]
        if label.action == "":
            same = [x.state for x in steps if x.state == label.args]
        else:
            same = [x.state for x in steps if (x.action, x.args) == (label.action, label.args)]
        first = []
        if label.target in same:
            first.append(label.target)
        if label.branch < len(same):
            first.append(same[label.branch])
        out = []
        for t in first + same:
            if t not in out:
                out.append(t)
        return out

    def _same_error(self, s, err: Exception) -> bool:
        """Whether computing the successors of ``s`` failed as the original did."""
        f = self.failure
        return f.kind == "error" and f.where == "successors" and \
            _error_message(self.model, s, err, "successors") == f.message

    def _same(self, got: _Failure) -> bool:
        f = self.failure
        if (got.kind, got.prop, got.where) != (f.kind, f.prop, f.where):
            return False
        return f.kind != "error" or f.where != "successors" or got.message == f.message

    # -- the passes
    def shrink(self, path: list, init_index: int) -> list:
        """The shortest behaviour found that fails like ``path`` (``path`` itself when
        none), as far as the budget, the deadline and Ctrl-C allow."""
        self.best = path
        try:
            return self._shrink(path, init_index)
        except _ShrinkTimeUp:
            self.stopped = "time limit"
        except KeyboardInterrupt:
            self.stopped = INTERRUPTED
        return self.best

    def _shrink(self, path: list, init_index: int) -> list:
        labels = self.labels(path)
        best = self.replay(init_index, labels)
        if best is None:            # cannot be replayed by labels: keep it as found
            return path
        self.best = best
        labels = self.labels(best)
        changed = True
        while changed and self.budget > 0:
            changed = False
            # 1. drop blocks of steps, largest first
            size = max(len(labels) // 2, 1)
            while size >= 1 and self.budget > 0:
                i = len(labels) - size
                while i >= 0 and self.budget > 0:
                    cand = labels[:i] + labels[i + size:]
                    got = self.replay(init_index, cand)
                    if got is not None and len(got) < len(best):
                        best = self.best = got
                        labels, changed = self.labels(got), True
                        i = min(i, len(labels) - size)
                    else:
                        i -= 1
                size //= 2
            # 2. an earlier initial state
            for k in range(init_index):
                if self.budget <= 0:
                    break
                got = self.replay(k, labels)
                if got is not None and len(got) <= len(best):
                    best = self.best = got
                    labels, init_index, changed = self.labels(got), k, True
                    break
            # 3. adjacent steps into a canonical order (may enable more drops)
            i = 0
            while i + 1 < len(labels) and self.budget > 0:
                a, b = labels[i], labels[i + 1]
                if _order_key(b) < _order_key(a):
                    cand = labels[:i] + [b, a] + labels[i + 2:]
                    got = self.replay(init_index, cand)
                    if got is not None and len(got) <= len(best):
                        best = self.best = got
                        labels, changed = self.labels(got), True
                i += 1
        return self._shortcuts(best)

    def _shortcuts(self, path: list) -> list:
        """4. A shorter way to fail from a state of the behaviour: from each state, the
        last first, a breadth-first search for a state that fails the same way in fewer
        steps than the behaviour still takes (``SHORTCUT_STATES`` states in all). Dropping
        and reordering steps keeps the walk's choices; a random walk also takes detours
        that only other choices avoid (a higher ballot where a lower one would do)."""
        room = self.SHORTCUT_STATES
        i = len(path) - 3
        while i >= 0 and room > 0:
            tail, room = self._fail_within(path[i], len(path) - 2 - i, room)
            if tail is not None:
                path = self.best = path[:i] + tail
            i = min(i, len(path) - 2) - 1
        return path

    def _fail_within(self, start, steps: int, room: int) -> tuple[list | None, int]:
        """The shortest path from ``start`` (included) that fails the same way in at
        most ``steps`` steps, with nothing failing before (None if there is none, or if
        ``room`` states were expanded first); and the room left."""
        f = self.failure
        parent = {start: None}
        level = [start]

        def path_to(t) -> list:
            out = []
            while t is not None:
                out.append(t)
                t = parent[t]
            return out[::-1]

        for depth in range(steps + 1):
            nxt = []
            for s in level:
                if room <= 0:
                    return None, 0
                room -= 1
                self._tick()
                try:
                    succs = self.model.successors(s)
                except MODEL_ERRORS as e:
                    if self._same_error(s, e):
                        return path_to(s), room
                    continue
                if not succs:
                    if f.kind == "deadlock" and self.deadlock:
                        return path_to(s), room
                    continue
                if depth == steps:
                    continue            # (its successors would be one step too many)
                for t in succs:
                    if t in parent:
                        continue
                    parent[t] = s
                    got = _step_failure(self.model, s, t) or _state_failure(self.model, t)
                    if got is None:
                        nxt.append(t)
                    elif self._same(got):
                        return path_to(t), room
            level = nxt
        return None, room


def _order_key(label: _Label) -> tuple:
    return (label.action, repr(label.args))


def replay_run(target, seed: int, run: int, depth: int) -> list[State]:
    """The states of run ``run`` of ``simulate(..., seed=seed)`` (without checking)."""
    model = _model_of(target)
    inits = model.initial_states()
    rng = random.Random(f"{seed}:{run}")
    s = inits[rng.randrange(len(inits))]
    path = [s]
    for _ in range(depth):
        succs = model.successors(s)
        if not succs:
            break
        s = succs[rng.randrange(len(succs))]
        path.append(s)
    return path
