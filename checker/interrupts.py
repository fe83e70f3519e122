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

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_fired = False


def _on_interrupt(signum, frame) -> None:
    global _fired
    if _fired:
        return
    _fired = True
    raise KeyboardInterrupt


def interrupt_seen() -> None:
    """For a handler that takes the first SIGINT in place of ours (a checkpointed search
    stops at its next consistent point instead): the blocks open around it then ignore
    the later ones, as if ours had seen it."""
    global _fired
    _fired = True


@contextmanager
def first_interrupt_only() -> Iterator[None]:
    """Re-entrant: nested blocks share the outermost one's state. It does nothing outside
    the main thread (where Python cannot set signal handlers), nor where the program
    embedding the checker has its own SIGINT handler or ignores SIGINT."""
    global _depth, _fired
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    install = _depth == 0 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if install:
        _fired = False
        signal.signal(signal.SIGINT, _on_interrupt)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if install:
            signal.signal(signal.SIGINT, signal.default_int_handler)
