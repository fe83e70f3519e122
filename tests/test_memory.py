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
