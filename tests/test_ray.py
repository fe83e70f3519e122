"""The Ray backend: the same counts and verdicts as one worker, on a local Ray instance
started by the test itself; a cluster that does not answer is a clear error."""

from __future__ import annotations

import time

import pytest

from checker.parallel import ModelSpec, explore_parallel

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'modelcheck[ray]')")

from checker.ray_backend import (  # noqa: E402 (after the skip)
    RayUnavailableError,
    check_address,
    explore_ray,
)


def summary(result):
    v = result.violation
    return (result.status, result.stats.distinct_states, result.stats.generated_states,
            result.stats.depth, v and v.property, v and len(v.trace))


def test_an_address_that_does_not_answer_is_a_clear_error():
    recipe = ModelSpec.from_file("specs/2pc.spec")
    started = time.monotonic()
    with pytest.raises(RayUnavailableError, match="cannot reach the Ray cluster at "
                                                  "127.0.0.1:9"):
        explore_ray(recipe, address="127.0.0.1:9", connect_timeout=2)
    assert time.monotonic() - started < 30
    with pytest.raises(RayUnavailableError, match="bad Ray address"):
        check_address("nowhere")
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("path,consts,symmetry", [
    ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",), False),
    ("specs/paxos.spec", ("MaxBallot=1",), True),
    ("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",), False),
])
def test_ray_actors_agree_with_one_worker(local_ray, path, consts, symmetry):
    recipe = ModelSpec.from_file(path, consts, symmetry=symmetry)
    result = explore_ray(recipe, workers=2)
    assert result.engine == "explicit-ray"
    assert summary(result) == summary(explore_parallel(recipe, workers=1))
    assert ray.is_initialized()      # a Ray this process started stays up


@pytest.mark.slow
def test_ray_actors_move_buckets_between_levels(local_ray, monkeypatch):
    from checker import balance

    monkeypatch.setattr(balance, "MIN_LEVEL", 0)       # move at every uneven level
    monkeypatch.setattr(balance, "TOLERANCE", 0.0)
    monkeypatch.setattr(balance, "MOVE_COST", 0.0)
    recipe = ModelSpec.from_file("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",))
    result = explore_ray(recipe, workers=2)
    assert any(note.startswith("balance:") for note in result.notes)
    assert summary(result) == summary(explore_parallel(recipe, workers=1))
    recipe = ModelSpec.from_file("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))
    assert summary(explore_ray(recipe, workers=2)) == summary(explore_parallel(recipe,
                                                                               workers=1))


@pytest.mark.slow
def test_ray_actors_keep_fingerprints(local_ray, monkeypatch):
    from checker import balance

    monkeypatch.setattr(balance, "MIN_LEVEL", 0)
    monkeypatch.setattr(balance, "TOLERANCE", 0.0)
    monkeypatch.setattr(balance, "MOVE_COST", 0.0)
    for path, consts in (("specs/buggy/paxos_no_ballot_check.spec", ("MaxBallot=1",)),
                         ("specs/2pc.spec", ("RM={r1,r2,r3,r4}",))):
        recipe = ModelSpec.from_file(path, consts)
        result = explore_ray(recipe, workers=2, fingerprints=True)
        assert any("probability that two of the" in note for note in result.notes)
        assert summary(result) == summary(explore_parallel(recipe, workers=1))
        switched = explore_ray(recipe, workers=2, switch_at=0)    # after the first level
        assert any("then fingerprints" in note for note in switched.notes)
        assert summary(switched) == summary(result)
