"""How much memory a run may use, and the cap that makes an engine stop cleanly there.

The compact engine (``fingerprints.py``) watches its resident memory against the limit;
the other engines get the limit as an address-space cap, so that an allocation past it is
a ``MemoryError`` they turn into a clean stop (exit 3) instead of a kill by the kernel.
Also here: when a search is about to outgrow a threshold (``GrowthWatch``, for the switch
to fingerprints), and giving freed memory back to the system (glibc).
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

_MIN_SHARE = 1 << 30  # never cap a process below 1 GiB of its own


def current_rss() -> int:
    """This process's resident memory now, in bytes (its peak where that is unknown)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        from .explore import peak_memory_bytes

        return peak_memory_bytes()


@functools.cache
def _glibc():
    """The C library, where it is glibc (the only one with the calls below); else None."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except (OSError, AttributeError, ImportError):
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_M_MMAP_THRESHOLD = -3     # glibc's malloc.h


def return_large_blocks_on_free() -> None:
    """Large blocks (128 KiB and up) are mapped on their own, so freeing one gives its
    memory back to the system. glibc otherwise raises that threshold, up to 32 MiB, each
    time such a block is freed, after which the marshalled chunks and batches of a
    search come from the heap, and the heap, fragmented, keeps what they freed: a
    worker that switched to fingerprints then held 100 MiB more than its data."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, 128 << 10)


def release_freed_memory() -> None:
    """Gives the heap's free pages back to the system (glibc's ``malloc_trim``), after a
    large structure is dropped (the full states, at a switch to fingerprints)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class GrowthWatch:
    """Whether a process is about to hold more than ``limit`` bytes: at the end of a
    level, its memory now plus what the last level added (a breadth-first level is
    rarely much wider than the one before it, and a switch or handover is possible only
    when a level ends). Checking the memory alone let Paxos with ballots 0..3 pass
    512 MiB by 130 MiB per worker, in the level during which it crossed."""

    def __init__(self, limit: int):
        self.limit = limit
        self.last: int | None = None

    def passes(self, rss: int) -> bool:
        grew = 0 if self.last is None else max(0, rss - self.last)
        self.last = rss
        return rss + grew > self.limit


def physical_memory() -> int | None:
    """Memory this process may use: the smaller of the machine's available memory (plus
    what the process already holds) and its cgroup's limit; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh
                    if line.split()[1:2] and line.split()[1].isdigit()}
        avail = info.get("MemAvailable", info.get("MemTotal"))
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    else:
        avail += current_rss()
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
            if text.isdigit() and int(text) < avail:
                avail = int(text)
        except OSError:
            pass
    return avail


def default_memory_limit() -> int | None:
    """80% of ``physical_memory()``."""
    mem = physical_memory()
    return None if mem is None else int(mem * 0.8)


@contextmanager
def address_space_cap(processes: int = 1):
    """While the block runs, cap this process's address space (inherited by forked
    workers) at its share of ``default_memory_limit()``, so that a search that outgrows
    memory gets a MemoryError, which the engines turn into a clean stop with their
    statistics (exit 3), instead of being killed by the kernel. A tighter limit already
    set (``ulimit -v``) is kept."""
    try:
        import resource
    except ImportError:  # not on this platform
        yield
        return
    limit = default_memory_limit()
    old = resource.getrlimit(resource.RLIMIT_AS)
    if limit is None:
        yield
        return
    # Virtual size runs ahead of resident memory by the interpreter's mappings.
    share = max(limit // max(1, processes), _MIN_SHARE)
    cap = share + (256 << 20)
    if cap < 2 * _virtual_size():
        yield       # too little memory to cap safely: the interpreter alone would not fit
        return
    soft, hard = old
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield
        return
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def _virtual_size() -> int:
    """This process's address-space size now, in bytes (0 where unknown)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
