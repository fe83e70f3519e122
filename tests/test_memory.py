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
