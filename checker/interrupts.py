"""Ctrl-C that stops a search once, cleanly.

A terminal sends SIGINT to the whole foreground process group, and `timeout -s INT`
sends it twice (to the child, then to its group). The first one stops the search, which
then reports what it explored; a second one arriving while the workers are being stopped
or the statistics printed would abandon that report halfway (and leave the workers'
temporary files behind). Inside ``first_interrupt_only()`` the first SIGINT raises
``KeyboardInterrupt`` as usual and any later one is ignored until the outermost block
ends: stopping is bounded (workers get a few seconds, then are terminated), so nothing
needs a second Ctrl-C to end.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_fired = False
# The depth of the block whose work is done (see ``finishing``), or None.
_finishing_at: int | None = None


def _on_interrupt(signum, frame) -> None:
    """SIGINT or SIGTERM: the first raises KeyboardInterrupt, later ones do nothing;
    none does while a finished search is being reported."""
    global _fired
    if _fired or _finishing_at is not None:
        return
    _fired = True
    raise KeyboardInterrupt


def finishing() -> None:
    """The search has its answer: from now until the innermost open block ends, SIGINT
    and SIGTERM are ignored. What is left (building the statistics, rebuilding the
    counterexample, stopping the workers, saving a checkpoint, printing) takes a moment,
    and a Ctrl-C then would throw away a finished result, to report "interrupted" with
    nothing saved. The caller of the search, in its own block, calls this again for its
    part of the reporting (the command line: explaining and printing the result).

    A signal ignored here is not remembered: once the block ends, the next one stops
    the next search as usual (an interactive session goes on after a check)."""
    global _finishing_at
    if _depth and _finishing_at is None:
        _finishing_at = _depth


def is_ours(handler) -> bool:
    """Whether ``handler`` is the SIGINT (or SIGTERM) handler these blocks install (one
    that may be replaced for a while by a handler that calls ``interrupt_seen``)."""
    return handler is _on_interrupt


def interrupt_seen() -> None:
    """For a handler that takes the first SIGINT in place of ours (a checkpointed search
    stops at its next consistent point instead): the blocks open around it then ignore
    the later ones, as if ours had seen it."""
    global _fired
    _fired = True


@contextmanager
def first_interrupt_only(*, then_ignore: bool = False) -> Iterator[None]:
    """Re-entrant: nested blocks share the outermost one's state. It does nothing outside
    the main thread (where Python cannot set signal handlers), nor where the program
    embedding the checker has its own handler for the signal or ignores it.

    SIGTERM (`kill`, `timeout`) is handled as SIGINT inside the block: the search stops
    with what it explored and its workers' files removed, instead of dying on the spot.

    ``then_ignore`` (the command line's entry point): when the outermost block ends, the
    two signals are ignored from then on instead of getting their usual handlers back:
    only printing the result and exiting remain, and a signal there would turn a reported
    result into a process killed by it."""
    global _depth, _fired, _finishing_at
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = _depth == 0
    # (each signal only where nobody else handles it: a background job of a shell
    # ignores SIGINT, and must still stop cleanly on `kill`)
    take_int = outermost and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    take_term = outermost and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if outermost:
        _fired = False
        _finishing_at = None
    if take_int:
        signal.signal(signal.SIGINT, _on_interrupt)
    if take_term:
        signal.signal(signal.SIGTERM, _on_interrupt)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _finishing_at is not None and _finishing_at > _depth:
            _finishing_at = None
        if take_int:
            signal.signal(signal.SIGINT, signal.SIG_IGN if then_ignore
                          else signal.default_int_handler)
        if take_term:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if then_ignore else signal.SIG_DFL)

_PR_SET_PDEATHSIG = 1       # linux/prctl.h


def worker_signals(parent: int) -> None:
    """In a worker process forked by a search: Ctrl-C is the coordinator's to handle,
    SIGTERM ends the worker as usual (the coordinator stops its workers with it), and on
    Linux the worker is killed when the coordinator dies, even by SIGKILL, rather than
    waiting forever on its pipe. ``parent``: the coordinator's pid, to catch a
    coordinator that died before the request was made."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError, ImportError):
        return
    if os.getppid() != parent:
        os._exit(1)
