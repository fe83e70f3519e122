"""The memory limit of the engines without their own accounting: an address-space cap
for the run, shared by the workers, restored afterwards, never below what the
interpreter needs."""

from __future__ import annotations

import pytest

from checker.memory import address_space_cap, default_memory_limit, physical_memory


def test_address_space_cap_is_set_and_restored():
    resource = pytest.importorskip("resource")

    before = resource.getrlimit(resource.RLIMIT_AS)
    with address_space_cap(4):
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if before[0] == resource.RLIM_INFINITY and default_memory_limit():
            assert soft <= max(default_memory_limit() // 4, 1 << 30) + (256 << 20)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_a_tighter_cap_already_set_is_kept():
    """`ulimit -v` below the default: the user's cap stays."""
    resource = pytest.importorskip("resource")
    from checker.memory import _virtual_size

    before = resource.getrlimit(resource.RLIMIT_AS)
    limit = default_memory_limit()
    tight = _virtual_size() + (1 << 30)
    if limit is None or tight >= max(limit, 1 << 30) or (
            before[1] != resource.RLIM_INFINITY and before[1] < tight):
        pytest.skip("no room for a cap tighter than the default here")
    resource.setrlimit(resource.RLIMIT_AS, (tight, before[1]))
    try:
        with address_space_cap(1):
            assert resource.getrlimit(resource.RLIMIT_AS)[0] == tight
        assert resource.getrlimit(resource.RLIMIT_AS)[0] == tight
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


def test_physical_memory_is_known_here():
    assert physical_memory() is None or physical_memory() > 0


def test_growth_watch_looks_one_level_ahead():
    from checker.memory import GrowthWatch

    watch = GrowthWatch(1000)
    assert not watch.passes(400)            # no growth known yet: 400
    assert not watch.passes(600)            # 600, and 200 more next level: 800
    assert watch.passes(850)                # 850 + 250 would pass 1,000
    shrinking = GrowthWatch(1000)
    assert not shrinking.passes(900) and not shrinking.passes(700)   # (no growth: 700)
    assert shrinking.passes(1001)


def test_freed_memory_goes_back_to_the_system():
    """glibc only: large blocks freed between small ones that stay (the marshalled
    chunks and batches of a search, between its small objects) give their memory back
    (elsewhere both calls do nothing)."""
    from checker.memory import (
        _glibc,
        current_rss,
        release_freed_memory,
        return_large_blocks_on_free,
    )

    return_large_blocks_on_free()
    if _glibc() is None:
        pytest.skip("not glibc")
    warm = bytearray(1 << 20)       # (glibc alone would now serve up to 1 MiB from the heap)
    del warm
    before = current_rss()
    large, small = [], []
    for _ in range(400):            # 120 MiB of 300 KiB blocks, touched (resident)
        block = bytearray(300 << 10)
        block[::4096] = b"x" * len(block[::4096])
        large.append(block)
        small.append(bytearray(2000))
    assert current_rss() > before + (100 << 20)
    del large, block
    release_freed_memory()
    assert current_rss() < before + (20 << 20)
    assert len(small) == 400


def test_the_default_switch_threshold():
    from checker.cli import SWITCH_AT, _switch_at

    assert _switch_at("exact", 3) is None and _switch_at("fingerprints", 1) is None
    limit = default_memory_limit()
    expected = SWITCH_AT if limit is None else min(SWITCH_AT, limit // 3 // 2)
    assert _switch_at(None, 3) == expected


_IMPORT_NUMPY_WITH_ROOM = """
import resource, sys
from checker.memory import _virtual_size, import_numpy
room = int(sys.argv[1]) << 20
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (_virtual_size() + room, hard))
try:
    import_numpy()
except MemoryError:
    print("memory")
else:
    print("ok")
"""


def test_numpy_without_room_to_import_it_is_a_memory_error():
    """Under `ulimit -v`, importing numpy failed three ways, depending on the room left:
    an ImportError ("failed to map segment from shared object", reported as numpy
    missing), a MemoryError, or OpenBLAS printing "Memory allocation still failed after
    10 retries" and ending the process with status 1, which the command line reported as
    a violated property. Every one is now a MemoryError (exit 3 there); with room, numpy
    is imported. (Without OPENBLAS_NUM_THREADS=1, which the command line sets, numpy
    needs about 120 MiB of address space here.)"""
    pytest.importorskip("resource")
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    outcomes = {}
    for room in (10, 30, 45, 55, 65, 75, 85, 100, 400):        # MiB
        done = subprocess.run([sys.executable, "-c", _IMPORT_NUMPY_WITH_ROOM, str(room)],
                              capture_output=True, text=True, timeout=60, env=env,
                              cwd=Path(__file__).resolve().parent.parent)
        assert done.returncode == 0, (room, done.stdout, done.stderr)
        outcomes[room] = done.stdout.strip()
    assert outcomes[10] == "memory" and outcomes[400] == "ok", outcomes
    assert set(outcomes.values()) == {"memory", "ok"}, outcomes


def test_a_library_that_cannot_be_mapped_is_out_of_memory():
    from checker.memory import for_want_of_memory

    try:
        try:
            raise ImportError("libquadmath-96973f99.so.0.0.0: failed to map segment from "
                              "shared object")
        except ImportError as inner:
            raise ImportError("IMPORTANT: PLEASE READ THIS ...") from inner
    except ImportError as err:
        assert for_want_of_memory(err)
    assert not for_want_of_memory(ImportError("No module named 'numpy'"))
