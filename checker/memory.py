"""How much memory a run may use, and the cap that makes an engine stop cleanly there.

The compact engine (``fingerprints.py``) watches its resident memory against the limit;
the other engines get the limit as an address-space cap, so that an allocation past it is
a ``MemoryError`` they turn into a clean stop (exit 3) instead of a kill by the kernel.
Also here: when a search is about to outgrow a threshold (``GrowthWatch``, for the switch
to fingerprints), and giving freed memory back to the system (glibc).
"""

from __future__ import annotations

import errno
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
    info = _meminfo()
    avail = info.get("MemAvailable", info.get("MemTotal"))
    if avail is None:
        avail = _physical_pages()
        if avail is None:
            return None
    else:
        avail += current_rss()
    cgroup = _cgroup_limit()
    return avail if cgroup is None else min(avail, cgroup)


def machine_memory() -> int | None:
    """The most memory a process here can ever get: the machine's memory and swap, or
    its cgroup's limit if that is less; None when unknown. (A memory limit above it
    would never stop a run: the kernel would kill it first.)"""
    info = _meminfo()
    if "MemTotal" in info:
        total = info["MemTotal"] + info.get("SwapTotal", 0)
    else:
        total = _physical_pages()
        if total is None:
            return None
    cgroup = _cgroup_limit()
    return total if cgroup is None else min(total, cgroup)


def _meminfo() -> dict[str, int]:
    """/proc/meminfo's figures in bytes (empty where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh
                    if line.split()[1:2] and line.split()[1].isdigit()}
    except (OSError, ValueError, IndexError):
        return {}


def _physical_pages() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_limit() -> int | None:
    """This process's cgroup memory limit (v2 or v1), None when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


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


# Below this much address space left, numpy is first imported in a child process: the
# OpenBLAS it loads allocates its buffers when imported, and where that fails it prints
# "OpenBLAS error: Memory allocation still failed" and ends the process with status 1
# (the status of a violated property), which no Python code can catch. Importing numpy
# takes about 80 MiB of address space (with OPENBLAS_NUM_THREADS=1, 120 MiB without).
_NUMPY_PROBE_BELOW = 256 << 20


def import_numpy():
    """numpy, imported; a MemoryError where the address-space limit (``ulimit -v``, or the
    cap above) leaves no room to import it, instead of OpenBLAS ending the process or an
    ImportError that reads as numpy missing. An ImportError where numpy is missing."""
    import sys

    np = sys.modules.get("numpy")
    if np is not None:
        return np
    if _address_space_left() < _NUMPY_PROBE_BELOW and _import_fails_in_child("numpy"):
        raise MemoryError("no room to import numpy")
    try:
        import numpy
    except ImportError as err:
        if for_want_of_memory(err):
            raise MemoryError(f"no room to import numpy ({err})") from err
        raise
    return numpy


def _address_space_left() -> float:
    """The address space this process may still map (its soft ``RLIMIT_AS`` less what it
    has mapped); infinite where there is no limit or it is unknown."""
    try:
        import resource
    except ImportError:
        return float("inf")
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return float("inf")
    return soft - _virtual_size()


def for_want_of_memory(err: BaseException) -> bool:
    """Whether an ImportError (or one that it was raised from) is the dynamic loader
    failing to map a library (no address space left), not a missing module."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, MemoryError):
            return True
        text = str(err).lower()
        if "failed to map segment" in text or "cannot allocate memory" in text:
            return True
        err = err.__cause__ or err.__context__
        seen += 1
    return False


_PROBE_OK, _PROBE_OTHER = 0, 4      # a child's exit status: imported; failed, not memory


def _import_fails_in_child(name: str) -> bool:
    """Whether importing module ``name`` fails for want of memory in a forked child (the
    same address space and limit as this process; its error output discarded). False
    where the child cannot be forked or the module is missing: the import here then
    says what is wrong."""
    if not hasattr(os, "fork"):
        return False
    try:
        pid = os.fork()
    except OSError as err:
        return err.errno == errno.ENOMEM    # (no room even for a child's page tables)
    if pid == 0:            # the child: only the import, then out without clean-up
        code = 3
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            __import__(name)
            code = _PROBE_OK
        except ImportError as err:
            code = 3 if for_want_of_memory(err) else _PROBE_OTHER
        except BaseException:  # noqa: BLE001,S110 (MemoryError, or a signal: not imported)
            pass
        finally:
            os._exit(code)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return False
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) not in (_PROBE_OK, _PROBE_OTHER)
