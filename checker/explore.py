"""The explicit-state engine: breadth-first search over a ``Model``'s reachable states.

The search goes level by level, in a deterministic order (initial states in order, then
successors in the order ``model.successors`` returns them). Every distinct state is
stored once, mapped to the state it was first reached from, so a counterexample is
rebuilt by following parent links back to an initial state; because BFS reaches every
state first by a shortest path, and finds a bad state at the first level that has one,
the counterexample is a shortest one.

Counting follows TLC:

* ``generated_states``: the initial states plus every successor returned, duplicates
  included;
* ``distinct_states``: the number of distinct states stored;
* ``depth``: the number of BFS levels (a model with only initial states has depth 1).

Invariants are checked in every new distinct state (initial states included);
transition invariants on every generated transition, including those that lead to a
state already seen.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from .interrupts import finishing, first_interrupt_only
from .memory import GrowthWatch, current_rss
from .model import EvaluationError, Model, State, describe_error
from .result import Result, Stats, Status, TraceStep, Violation

# What generated code raises when a spec does something undefined; each is reported as
# Status.ERROR with the path to the state, never as a traceback.
MODEL_ERRORS: tuple[type[BaseException], ...] = (
    EvaluationError, IndexError, ValueError, TypeError, ZeroDivisionError, KeyError,
    OverflowError, AttributeError, RecursionError,
)

# Parent of an initial state. A sentinel rather than None, so that None can be a state.
_ROOT = object()

# How often (in expanded states) the loop looks at the clock, first; it then adapts so
# that the clock is read about every _CHECK_TARGET_S seconds.
_CHECK_FIRST = 64
_CHECK_MAX = 8192
_CHECK_TARGET_S = 0.05


@dataclass(frozen=True)
class ProgressInfo:
    """What the ``progress`` callback receives, at most every ``progress_interval`` s."""

    distinct: int
    generated: int
    depth: int
    queue: int
    elapsed_s: float

    @property
    def states_per_s(self) -> float:
        return self.distinct / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class Handover:
    """Where ``explore(..., handover_at=N)`` stopped, at the end of a level whose new
    states number at least N, so that several workers can go on
    (``checker.parallel``): every distinct state with the state it was first reached
    from (``_ROOT`` for an initial state), in the order stored; the last
    ``len(frontier)`` of them are the next level, not yet expanded, and their
    invariants hold."""

    seen: dict
    frontier: list
    generated: int
    expanded: int
    level: int           # the level of ``frontier`` (1 = the initial states)
    elapsed_s: float


class _Stop(Exception):  # noqa: N818 (control flow, not an error)
    """Leaves the search loop with an outcome (internal)."""

    def __init__(self, kind: str, **info):
        super().__init__(kind)
        self.kind = kind
        self.info = info


@first_interrupt_only()
def explore(
    model: Model,
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    time_limit: float | None = None,
    check_deadlock: bool | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    progress_interval: float = 1.0,
    canonical: Callable[[State], State] | None = None,
    handover_at: int | None = None,
    handover_rss: int | None = None,
) -> Result | Handover:
    """Check ``model``'s invariants (and deadlock freedom) in every reachable state.

    ``max_states`` bounds the number of distinct states, ``max_depth`` the number of BFS
    levels (states at that depth are not expanded into new ones), ``time_limit`` the
    wall-clock seconds; reaching one gives ``Status.LIMIT`` with the statistics so far.
    ``check_deadlock``, when not None, overrides ``model.check_deadlock``.
    ``canonical`` (symmetry reduction) maps each state to the representative of its
    orbit; the search stores representatives only, and a counterexample is replayed
    into a concrete behaviour of the unreduced model.

    ``handover_at`` (for ``checker.parallel``): when a level ends with at least this
    many new states, return a ``Handover`` instead of going on. ``handover_rss`` (for
    ``checker.fingerprints``): the same when a level ends with the process about to hold
    more than this many bytes (``checker.memory.GrowthWatch``).
    """
    if max_states is not None and max_states < 1:
        raise ValueError(f"max_states must be at least 1, not {max_states}")
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"max_depth must be at least 1, not {max_depth}")
    if progress_interval <= 0:
        raise ValueError(f"progress_interval must be positive, not {progress_interval}")

    start = perf_counter()
    deadline = None if time_limit is None else start + time_limit
    deadlock = model.check_deadlock if check_deadlock is None else check_deadlock
    properties = (tuple(i.name for i in model.invariants)
                  + tuple(i.name for i in model.transition_invariants))

    # Locals for the hot loop.
    successors = model.successors
    invs = tuple(i.holds for i in model.invariants)
    tinvs = tuple(i.holds for i in model.transition_invariants)
    root = _ROOT
    plain = canonical is None
    tcheck = transition_checker(tinvs) if tinvs else None
    checked = model.checked_successors if tinvs else None
    seen: dict[State, object] = {}
    room = sys.maxsize if max_states is None else max_states  # distinct states still allowed
    last_level = max_depth if max_depth is not None else sys.maxsize

    generated = 0
    expanded = 0          # states whose successors were computed
    level = 1             # the level being expanded
    frontier: list[State] = []
    nxt: list[State] = []
    cut = False           # some new state was not stored because of max_depth
    check_every = _CHECK_FIRST
    countdown = check_every
    last_check = start
    next_progress = start + progress_interval
    outcome: _Stop | None = None
    rss_watch = None if handover_rss is None else GrowthWatch(handover_rss)

    # The search allocates millions of tuples and creates no reference cycles: the cyclic
    # garbage collector only costs time here (15-25% on generated 2pc code).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # ---- initial states: level 1
        try:
            inits = model.initial_states()
        except MODEL_ERRORS as e:
            raise _Stop("error", exc=e, where="initial") from None
        append = frontier.append
        if canonical is not None:
            inits = [canonical(s) for s in inits]
        for s in inits:
            generated += 1
            if s in seen:
                continue
            if room == 0:
                raise _Stop("limit", reason=f"max states {max_states} reached")
            room -= 1
            seen[s] = root
            for holds in invs:
                try:
                    ok = holds(s)
                except MODEL_ERRORS as e:
                    raise _Stop("error", state=s, exc=e, where=("invariant", holds)) from None
                if not ok:
                    raise _Stop("invariant", state=s, holds=holds)
            append(s)

        # ---- level by level
        while frontier:
            if deadline is not None and perf_counter() >= deadline:
                raise _Stop("limit", reason=f"time limit of {time_limit:g}s reached")
            store = level < last_level   # states found from this level are stored
            nxt = []
            append = nxt.append
            for s in frontier:
                countdown -= 1
                if countdown == 0:
                    now = perf_counter()
                    if deadline is not None and now >= deadline:
                        raise _Stop("limit", reason=f"time limit of {time_limit:g}s reached")
                    if progress is not None and now >= next_progress:
                        progress(ProgressInfo(len(seen), generated, level + (1 if nxt else 0),
                                              len(seen) - expanded, now - start))
                        next_progress = perf_counter() + progress_interval
                    # Aim at one clock reading every _CHECK_TARGET_S seconds.
                    span = now - last_check
                    if span < _CHECK_TARGET_S / 2 and check_every < _CHECK_MAX:
                        check_every *= 2
                    elif span > _CHECK_TARGET_S * 2 and check_every > 1:
                        check_every //= 2
                    last_check = now
                    countdown = check_every

                try:
                    succs, recheck = expand_checked(checked, successors, s)
                except MODEL_ERRORS as e:
                    raise _Stop("error", state=s, exc=e, where="successors") from None
                # the first failing transition, if any
                bad = tcheck(s, succs) if recheck and tcheck is not None else None
                expanded += 1
                if not succs:
                    if deadlock:
                        raise _Stop("deadlock", state=s)
                    continue
                generated += len(succs)
                if plain and bad is None:
                    # The common case (no failing transition, no symmetry), on its
                    # own: a successor equal to its parent (a step that changes
                    # nothing) is known without a look-up in the seen set.
                    for t in succs:
                        if t != s and t not in seen:
                            if not store:
                                cut = True
                                continue
                            if room == 0:
                                raise _Stop("limit", reason=f"max states {max_states} reached")
                            room -= 1
                            seen[t] = s
                            append(t)
                            for holds in invs:
                                try:
                                    ok = holds(t)
                                except MODEL_ERRORS as e:
                                    raise _Stop("error", state=t, exc=e,
                                                where=("invariant", holds)) from None
                                if not ok:
                                    raise _Stop("invariant", state=t, holds=holds)
                    continue
                # A failing transition is reported when the loop reaches it: a new
                # state before it is stored and checked first.
                for k, t in enumerate(succs):
                    if bad is not None and k == bad[0]:
                        _, holds, exc = bad
                        if exc is not None:
                            raise _Stop("error", state=s, exc=exc, post=t,
                                        where=("transition invariant", holds))
                        raise _Stop("transition", state=s, post=t, holds=holds)
                    if canonical is not None and t not in seen:
                        # (a state already seen is a representative: no work needed)
                        t = canonical(t)
                    if t not in seen:
                        if not store:
                            cut = True
                        else:
                            if room == 0:
                                raise _Stop("limit", reason=f"max states {max_states} reached")
                            room -= 1
                            seen[t] = s
                            append(t)  # before the checks: a violation here counts its level
                            for holds in invs:
                                try:
                                    ok = holds(t)
                                except MODEL_ERRORS as e:
                                    raise _Stop("error", state=t, exc=e,
                                                where=("invariant", holds)) from None
                                if not ok:
                                    raise _Stop("invariant", state=t, holds=holds)
            frontier = nxt
            if nxt:
                level += 1
                if not cut and ((handover_at is not None and len(nxt) >= handover_at)
                                or (rss_watch is not None
                                    and rss_watch.passes(current_rss()))):
                    return Handover(seen, nxt, generated, expanded, level,
                                    perf_counter() - start)
        if cut:
            raise _Stop("limit", reason=f"max depth {max_depth} reached")
    except _Stop as stop:
        outcome = stop
    except KeyboardInterrupt:
        outcome = _Stop("limit", reason="interrupted")
    except MemoryError:
        # Free what we can first: no trace is needed for a limit.
        frontier = nxt = []
        distinct = len(seen)
        seen.clear()
        outcome = _Stop("limit", reason="out of memory", distinct=distinct)
    finally:
        if gc_was_enabled:
            gc.enable()
    finishing()     # (what is left reports the answer: no Ctrl-C may lose it now)

    elapsed = perf_counter() - start
    distinct = outcome.info.get("distinct", len(seen)) if outcome else len(seen)
    depth = level + 1 if nxt and frontier is not nxt else level
    if distinct == 0:
        depth = 0
    stats = Stats(
        distinct_states=distinct,
        generated_states=generated,
        depth=depth,
        elapsed_s=elapsed,
        peak_memory_bytes=peak_memory_bytes(),
        queue_left=max(distinct - expanded, 0) if outcome else 0,
    )
    base = dict(engine="explicit", spec=model.name, constants=dict(model.constants),
                properties=properties, stats=stats)

    if outcome is None:
        return Result(status=Status.OK, **base)
    kind, info = outcome.kind, outcome.info
    if kind == "limit":
        return Result(status=Status.LIMIT, limit_reason=info["reason"], **base)
    path = _path(seen, info["state"]) if "state" in info else []
    if canonical is not None and path:
        path = _concretize(model, path, canonical, info.get("post"), info.get("holds"))
    elif "post" in info:
        path.append(info["post"])
    trace = _trace(model, path) if path else ()
    if kind in ("invariant", "transition"):
        name = _property_name(model, kind, info["holds"])
        return Result(status=Status.VIOLATION, violation=Violation(
            kind=kind, property=name, trace=trace), **base)
    if kind == "deadlock":
        return Result(status=Status.DEADLOCK, violation=Violation(
            kind="deadlock", property=None, trace=trace), **base)
    assert kind == "error"
    message = _error_message(model, info.get("state"), info["exc"], info["where"])
    if canonical is not None and path:
        message = error_on_path(model, path, "post" in info, message)
    return Result(status=Status.ERROR, violation=Violation(
        kind="error", property=None, trace=trace, message=message), **base)


def expand_checked(checked, successors, s):
    """``(successors of s, whether they still need the general transition-invariant
    check)``: through ``Model.checked_successors`` when there is one and every step
    passes it, else through ``successors`` (raising what it raises)."""
    if checked is not None:
        try:
            succs = checked(s)
        except MODEL_ERRORS:
            succs = None
        if succs is not None:
            return succs, False
    return successors(s), True


def transition_checker(tinvs: tuple[Callable, ...]):
    """``check(s, succs)``: the first transition from ``s`` (in the order of ``succs``,
    then of ``tinvs``) that violates a transition invariant, as ``(index, holds,
    exception or None)``, or None when all hold.

    A compiled transition invariant reads only some variables of the next state (known
    from its code, see ``next_state_reads``); a successor that agrees with ``s`` on those
    (a step that changes nothing, or only other variables) gives the same verdict as
    ``holds(s, s)``, computed once per state."""
    info = [(holds, next_state_reads(holds)) for holds in tinvs]

    def check(s, succs):
        best = None
        for j, (holds, get) in enumerate(info):
            limit = len(succs) if best is None else best[0] + 1
            first = next(_failing_steps(holds, get, s, succs, range(limit)), None)
            if first is not None and (best is None or (first[0], j) < (best[0], best[3])):
                best = (first[0], holds, first[1], j)
        return None if best is None else best[:3]
    return check


def transition_failures(tinvs: tuple[Callable, ...]):
    """``failures(s, succs)``: for each successor with a failing transition invariant,
    in order, ``(index, invariant's index, exception or None)`` for the first that
    fails (the same shortcut as ``transition_checker``)."""
    info = [(holds, next_state_reads(holds)) for holds in tinvs]

    def failures(s, succs):
        failed: dict[int, tuple] = {}
        for j, (holds, get) in enumerate(info):
            todo = [k for k in range(len(succs)) if k not in failed]
            for k, exc in _failing_steps(holds, get, s, succs, todo):
                failed[k] = (k, j, exc)
        return [failed[k] for k in sorted(failed)]
    return failures


def _failing_steps(holds: Callable, get, s, succs, ks):
    """The indices ``k`` in ``ks`` (in order) whose step ``s -> succs[k]`` violates
    ``holds``, each with the exception raised while evaluating it, or None. A successor
    that agrees with ``s`` on what ``get`` reads gets the verdict of ``holds(s, s)``."""
    sk = get(s) if get is not None else None
    base = None     # holds(s, s), once needed: True, or False on a failure
    for k in ks:
        t = succs[k]
        if get is not None and get(t) == sk:
            if base is None:
                try:
                    base = bool(holds(s, s))
                except MODEL_ERRORS:
                    base = False
            if base:
                continue
        try:
            if holds(s, t):
                continue
            yield k, None
        except MODEL_ERRORS as e:
            yield k, e


def next_state_reads(holds: Callable):
    """For a compiled transition invariant (``def invariantN(s, t): v0, ... = s;
    w0, ... = t; return ...``): an ``itemgetter`` of the next state's variables it reads
    (a state's own ``t == s`` comparison when none); None for any other function."""
    import dis
    from operator import itemgetter

    code = getattr(holds, "__code__", None)
    if code is None or code.co_argcount != 2 or code.co_flags & 0x0C:  # *args, **kw
        return None
    t_name = code.co_varnames[1]
    ins = list(dis.get_instructions(code))
    stores = ("STORE_FAST", "STORE_DEREF")
    loads_t = [i for i, x in enumerate(ins) if x.opname == "LOAD_FAST" and x.argval == t_name]
    if len(loads_t) != 1 or any(x.argval == t_name for x in ins
                                if x.opname in ("LOAD_CLOSURE", "LOAD_DEREF", "DELETE_FAST")
                                or x.opname in stores):
        return None
    at = loads_t[0]
    if at + 1 >= len(ins) or ins[at + 1].opname != "UNPACK_SEQUENCE":
        return None
    n = ins[at + 1].argval
    targets = ins[at + 2:at + 2 + n]
    if len(targets) != n or any(x.opname not in stores for x in targets):
        return None
    names = [x.argval for x in targets]
    if len(set(names)) != n or any(
            x.opname in stores and x.argval in names for x in ins[:at + 2] + ins[at + 2 + n:]):
        return None     # a name of the next state's variables is also bound elsewhere
    used = {x.argval for x in ins if x.opname in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")}
    slots = [k for k, name in enumerate(names) if name in used]
    if not slots:
        return lambda state: ()
    return itemgetter(*slots) if len(slots) > 1 else itemgetter(slots[0])


def _property_name(model: Model, kind: str, holds: Callable) -> str:
    props = model.invariants if kind == "invariant" else model.transition_invariants
    for prop in props:
        if prop.holds is holds:
            return prop.name
    raise AssertionError("unknown property")  # pragma: no cover


def _path(seen: dict[State, object], state: State, root: object = _ROOT) -> list[State]:
    """The states from an initial state to ``state``, following parent links (an initial
    state's parent is ``root``)."""
    path = [state]
    parent = seen[state]
    while parent is not root:
        path.append(parent)
        parent = seen[parent]
    path.reverse()
    return path


def _concretize(model: Model, path: list[State], canonical, post=None, holds=None
                ) -> list[State]:
    """Replay a path of orbit representatives as a real behaviour of the unreduced
    model: start from an initial state in the first orbit, and at each step take a
    successor that lies in the next orbit. With ``post`` (a transition violation found
    from the last representative), end with a step that violates ``holds`` too."""
    current = next(s for s in model.initial_states() if canonical(s) == path[0])
    out = [current]
    for want in path[1:]:
        current = next(t for t in model.successors(current) if canonical(t) == want)
        out.append(current)
    if post is not None:
        target = canonical(post)
        out.append(next(t for t in model.successors(current)
                        if canonical(t) == target and (holds is None or not holds(current, t))))
    return out


def error_on_path(model: Model, path: list[State], has_post: bool, found: str) -> str:
    """The message of a run-time error, evaluated again on the last state (or step) of
    a concretized path. With symmetry the search met the error in an orbit's
    representative, whose elements are renamed: its message named `n3` while the
    printed trace, a real behaviour, ends where only `n1` can be taken. ``found``, the
    representative's message, stands when the error does not recur (it should)."""
    try:
        if has_post:
            if len(path) < 2:
                return found
            pre, post = path[-2], path[-1]
            for inv in model.transition_invariants:
                try:
                    inv.holds(pre, post)
                except MODEL_ERRORS as e:
                    return _error_message(model, pre, e, ("transition invariant", inv.holds))
            return found
        state = path[-1]
        for inv in model.invariants:
            try:
                inv.holds(state)
            except MODEL_ERRORS as e:
                return _error_message(model, state, e, ("invariant", inv.holds))
        try:
            model.successors(state)
        except MODEL_ERRORS as e:
            return _error_message(model, state, e, "successors")
    except Exception:  # noqa: BLE001 (the message found stands)
        pass
    return found


def _trace(model: Model, path: list[State]) -> tuple[TraceStep, ...]:
    """Labels a path of states: each step's action is recomputed with ``model.steps``."""
    steps = [TraceStep(None, (), model.decode(path[0]))]
    for pre, post in zip(path, path[1:], strict=False):
        action, args = "<unknown action>", ()
        try:
            for step in model.steps(pre):
                if step.state == post:
                    action, args = step.action, step.args
                    break
        except MODEL_ERRORS:
            pass
        steps.append(TraceStep(action, args, model.decode(post)))
    return tuple(steps)


def _error_message(model: Model, state: State | None, exc: BaseException,
                   where: str | tuple[str, Callable]) -> str:
    if where == "successors" and model.diagnose is not None:
        try:
            diagnosed = model.diagnose(state)
        except Exception:  # noqa: BLE001 (a broken diagnosis must not hide the error)
            diagnosed = None
        if diagnosed is not None:
            exc = diagnosed
    text = describe_error(exc)
    if isinstance(exc, EvaluationError) and exc.action and exc.action not in text:
        text = f"in action {exc.action}: {text}"
    if where == "initial":
        return f"{text} (while computing the initial states)"
    if isinstance(where, tuple):
        what, holds = where
        kind = "invariant" if what == "invariant" else "transition"
        return f"{text} (while evaluating {what} {_property_name(model, kind, holds)})"
    return text


def peak_memory_bytes() -> int:
    """The process's peak resident memory, in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024
