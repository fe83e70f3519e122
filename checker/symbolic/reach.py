"""Is a state reachable? A capped breadth-first search with the explicit model, run only
as far as needed and shared by every question of one proof.

With the spec's ``symmetry`` declarations (and ``symmetry=True``), the search stores one
state per orbit, as the explicit engine does with symmetry reduction: a state is
reachable if and only if its orbit's representative is, since the spec treats the
symmetric elements alike. A path to a reachable state is then found by a second, plain
search that stops at the depth where the orbit was found.
"""

from __future__ import annotations

from time import perf_counter

from ..compile import CompiledSpec
from ..explore import MODEL_ERRORS
from ..result import TraceStep
from .common import label_path

_ROOT = object()


def _canonical(compiled: CompiledSpec):
    """The orbit representative function of the spec's symmetry, or None."""
    if not compiled.typed.symmetry:
        return None
    try:
        from ..symmetry import Symmetry, check_symmetry

        check_symmetry(compiled.typed, compiled.universe)
        extra = 1 if compiled.max_faults is not None else 0
        return Symmetry(compiled.typed, compiled.universe, compiled.typed.symmetry,
                        extra).canonical
    except Exception:  # noqa: BLE001 (a symmetry we cannot use: search without it)
        return None


class Reachability:
    def __init__(self, compiled: CompiledSpec, max_states: int = 2_000_000,
                 time_limit_s: float | None = None, symmetry: bool = True):
        self.compiled = compiled
        self.max_states = max_states
        self.time_limit_s = time_limit_s
        self.symmetry = symmetry
        self._canonical_fn = None
        self._canonical_known = False
        self.parent: dict = {}
        self.depth: dict = {}
        self.frontier: list | None = None
        self.done = False        # every reachable state (or orbit) has been seen
        self.stopped: str | None = None  # why the search stopped early
        self.elapsed_s = 0.0

    @property
    def explored(self) -> int:
        return len(self.parent)

    @property
    def canonical(self):
        """The orbit representative function (built on first use: checking a symmetry
        declaration tries every permutation, which is not free for seven nodes)."""
        if not self._canonical_known:
            self._canonical_fn = _canonical(self.compiled) if self.symmetry else None
            self._canonical_known = True
        return self._canonical_fn

    def _key(self, state):
        return self.canonical(state) if self.canonical is not None else state

    def reachable(self, state) -> bool | None:
        """True if reachable, False if not, None when the search stopped before knowing."""
        key = self._key(state)
        if key in self.parent:
            return True
        if self.done:
            return False
        if self.stopped is not None:
            return None
        start = perf_counter()
        deadline = None if self.time_limit_s is None else \
            start + max(0.0, self.time_limit_s - self.elapsed_s)
        try:
            return self._search(key, deadline)
        finally:
            self.elapsed_s += perf_counter() - start

    def _search(self, target, deadline) -> bool | None:
        model = self.compiled.model
        parent, depth, key = self.parent, self.depth, self._key
        if self.frontier is None:
            self.frontier = []
            for s in model.initial_states():
                k = key(s)
                if k not in parent:
                    parent[k] = _ROOT
                    depth[k] = 0
                    self.frontier.append(k)
            if target in parent:
                return True
        successors = model.successors
        count = 0
        while self.frontier:
            nxt = []
            for i, s in enumerate(self.frontier):
                count += 1
                if deadline is not None and count % 256 == 0 and perf_counter() > deadline:
                    self.frontier = self.frontier[i:] + nxt
                    self.stopped = f"a time limit of {self.time_limit_s:g} s"
                    return None
                try:
                    succs = successors(s)
                except MODEL_ERRORS:
                    succs = []
                found = False
                d = depth[s] + 1
                for t in succs:
                    k = key(t)
                    if k not in parent:
                        parent[k] = s
                        depth[k] = d
                        nxt.append(k)
                        if k == target:
                            found = True
                if len(parent) >= self.max_states:
                    self.frontier = self.frontier[i + 1:] + nxt
                    self.stopped = f"{self.max_states} states"
                    return True if found else None
                if found:
                    self.frontier = self.frontier[i + 1:] + nxt
                    return True
            self.frontier = nxt
        self.done = True
        return False

    def path(self, state) -> tuple[TraceStep, ...] | None:
        """A shortest path from an initial state to a reachable ``state``, labelled."""
        key = self._key(state)
        if key not in self.parent:
            return None
        if self.canonical is None:
            states = [state]
            while self.parent[states[-1]] is not _ROOT:
                states.append(self.parent[states[-1]])
            states.reverse()
            return label_path(self.compiled, states)
        return self._plain_path(state, self.depth[key])

    def _plain_path(self, target, depth: int) -> tuple[TraceStep, ...] | None:
        """Breadth-first without symmetry, down to ``depth`` (where the orbit is)."""
        model = self.compiled.model
        parent: dict = {}
        frontier = []
        for s in model.initial_states():
            if s not in parent:
                parent[s] = _ROOT
                frontier.append(s)
        for _ in range(depth):
            if target in parent:
                break
            nxt = []
            for s in frontier:
                try:
                    succs = model.successors(s)
                except MODEL_ERRORS:
                    continue
                for t in succs:
                    if t not in parent:
                        parent[t] = s
                        nxt.append(t)
            frontier = nxt
        if target not in parent:
            return None
        states = [target]
        while parent[states[-1]] is not _ROOT:
            states.append(parent[states[-1]])
        states.reverse()
        return label_path(self.compiled, states)
