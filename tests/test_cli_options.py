"""The search options are checked before anything runs: a value that cannot work is a
usage error (exit 2) naming the option, never silently ignored or a stopped search."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker import cli
from checker.parallel import default_workers

PAXOS = str(Path(__file__).resolve().parent.parent / "specs" / "paxos.spec")


def run(*args: str):
    return CliRunner().invoke(cli.main, [PAXOS, "--const", "MaxBallot=0", *args])


@pytest.mark.parametrize("args, says", [
    (["--exact", "--fingerprints"], "exclude each other"),
    (["--fingerprints", "--exact"], "exclude each other"),
    (["--memory-limit", "abc"], "not a size"),
    (["--memory-limit", ""], "not a size"),
    (["--memory-limit", "1KB"], "this process holds"),
    # (inf and nan were internal errors; a limit above the machine's memory let the
    # kernel kill the run, the address-space cap lifted)
    (["--memory-limit", "inf"], "not a size"),
    (["--memory-limit", "nan"], "not a size"),
    (["--memory-limit", "1e400"], "not a size"),
    (["--memory-limit", "100000T"], "more than this machine's memory"),
    (["--memory-limit", "0%"], "above 0% and at most 100%"),
    (["--memory-limit", "150%"], "above 0% and at most 100%"),
    (["--memory-limit", "x%"], "not a share of memory"),
    # (inf and nan passed as no limit at all)
    (["--time-limit", "nan"], "not a number of seconds"),
    (["--time-limit", "inf"], "not a number of seconds"),
    (["--time-limit", "abc"], "'abc' is not a number of seconds (give one like 60"),
    (["--time-limit", "0"], "give more than 0 seconds"),
    (["--time-limit", "-5"], "give more than 0 seconds"),
    (["--checkpoint", "ck", "--checkpoint-interval", "inf"], "not a number of seconds"),
    (["--checkpoint", ""], "needs a directory"),
    (["--workers", "100000"], "local workers"),
    (["--checkpoint-interval", "60"], "needs --checkpoint"),
])
def test_an_option_that_cannot_work_is_a_usage_error(args, says):
    got = run(*args)
    assert got.exit_code == 2, got.output
    assert says in got.output


def test_the_cap_on_workers_is_per_core_and_not_for_a_cluster():
    most = cli.MAX_WORKERS_PER_CORE * default_workers()
    assert run("--workers", str(most + 1)).exit_code == 2
    # (with Ray the actors run on the cluster's nodes; no Ray search starts here: the
    # value is only checked, and --backend ray is decided before --workers)
    ctx = cli.main.commands["check"].make_context(
        "check", [PAXOS, "--backend", "ray", "--workers", str(most + 1)])
    assert ctx.params["workers"] == most + 1


@pytest.mark.parametrize("flags, store", [([], None), (["--exact"], "exact"),
                                           (["--fingerprints"], "fingerprints")])
def test_exact_and_fingerprints_reach_the_search_as_one_choice(monkeypatch, flags, store):
    seen = {}
    signature = inspect.signature(cli._run_search)

    def fake_search(*args, **kwargs):
        seen["store"] = signature.bind(*args, **kwargs).arguments["store"]
        raise SystemExit(0)

    monkeypatch.setattr(cli, "_run_search", fake_search)
    run(*flags)
    assert seen == {"store": store}


@pytest.mark.parametrize("args, says", [
    (["--workers", "100000"], "workers per check (16 per core)"),
    (["--chart", ""], "needs a file name"),
])
def test_a_sweep_option_that_cannot_work_is_a_usage_error(args, says):
    got = CliRunner().invoke(cli.main, ["sweep", PAXOS, "--const", "MaxBallot=0..1", *args])
    assert got.exit_code == 2, got.output
    assert says in got.output


def test_a_constant_given_twice_is_refused():
    # (the last one won, silently; a sweep refuses it too)
    got = run("--const", "MaxBallot=1")
    assert got.exit_code == 2
    assert "--const MaxBallot is given more than once" in got.output


@pytest.mark.parametrize("distinct, hint", [(1, cli.TOO_LOW_HINT), (50_000, cli.MEMORY_HINT)])
def test_a_run_stopped_by_memory_gets_advice_that_fits(monkeypatch, distinct, hint):
    # After one state it is the limit that is too low, not the states too big.
    from checker.result import Result, Stats, Status

    def stopped(*args, **kwargs):
        return Result(engine="explicit", spec="Paxos", status=Status.LIMIT,
                      limit_reason="memory limit of 30 MiB reached",
                      stats=Stats(distinct_states=distinct))

    monkeypatch.setattr(cli, "_run_search", stopped)
    got = run("--exact")
    assert got.exit_code == 3
    assert hint in got.output.replace("\n", " ")
    other = cli.MEMORY_HINT if hint == cli.TOO_LOW_HINT else cli.TOO_LOW_HINT
    assert other not in got.output.replace("\n", " ")


def test_a_share_of_memory_is_a_share_of_what_the_default_is_taken_from():
    from checker.fingerprints import parse_size
    from checker.memory import physical_memory

    whole = physical_memory()
    assert abs(parse_size("50%") - whole // 2) < 2**20
    assert parse_size(" 100% ") <= whole


def test_only_the_one_worker_options_given_are_named(monkeypatch):
    got = run("--memory-limit", "1G", "--workers", "2")
    assert got.exit_code == 2
    assert "--memory-limit needs one worker" in got.output and "--checkpoint" not in got.output
