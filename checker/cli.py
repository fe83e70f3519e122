"""The ``modelcheck`` command. The only module that imports click.

It parses options, calls the library, renders the result and picks the exit status:
0 every property holds, 1 a property is violated, 2 bad usage or input, 3 stopped by a
limit (or Ctrl-C) before finishing.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time

import click

from .source import BUG_NOTE, SpecError

try:    # (here: out of memory, there may be no room left to import it)
    import resource
except ImportError:     # not on Unix
    resource = None

EXIT_INPUT = 2
EXIT_LIMIT = 3


# Standard output closed by its reader (`modelcheck ... | head -1`): the status a shell
# gives a program that SIGPIPE ended (128 + 13), which scripts know; not 1, "violated".
EXIT_OUTPUT_CLOSED = 141


class _OutputClosed(Exception):  # noqa: N818 (not an error of the user's or ours)
    """Standard output's reader went away; carried past click, which would exit 1."""


class _DefaultToCheck(click.Group):
    """``modelcheck SPEC ...`` means ``modelcheck check SPEC ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h",
                                                                     "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _OutputClosed from None


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelcheck", prog_name="modelcheck")
def main() -> None:
    """Check protocol specs: explore every reachable state, prove invariants with Z3,
    and validate traces recorded from real systems.

    \b
    modelcheck SPEC [options]        explicit-state check (same as `modelcheck check`)
    modelcheck bmc SPEC --depth K    bounded model checking with Z3
    modelcheck prove SPEC            inductive-invariant proof with Z3
    modelcheck trace SPEC FILE...    validate recorded traces against the spec
    """


def _const_option(f):
    return click.option("--const", "consts", multiple=True, metavar="NAME=VALUE",
                        help="Set a constant, e.g. --const RM={r1,r2,r3,r4} or "
                             "--const MaxBallot=1 (repeatable).")(f)


def _faults_option(f):
    f = click.option("--max-faults", type=click.IntRange(min=0), default=None,
                     help="At most this many fault steps in any behaviour.")(f)
    return click.option("--faults", default="", metavar="NAMES",
                        help="Faults to switch on: comma-separated kinds (crash, restart, loss, "
                        "duplication, reordering, partition, heal), fault action names, or "
                        "'all'.")(f)


def _format_option(choices=("text", "json")):
    return click.option("--format", "fmt", type=click.Choice(choices), default="text",
                        show_default=True, help="Output format.")


def _report_option(what: str = "verdict, explanation, sequence diagram, states, "
                                  "statistics"):
    return click.option("--report", type=click.Path(dir_okay=False), default=None,
                        metavar="FILE.html",
                        help=f"Also write the HTML report ({what}) to FILE.html.")


def _fail_input(err: SpecError) -> None:
    click.echo(err.render(), err=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.params.get("fmt") == "json":
        # (a script reading standard output gets a document, not nothing)
        import json

        click.echo(json.dumps(err.json_document(ctx.info_name), indent=2,
                              ensure_ascii=False))
    sys.exit(EXIT_INPUT)


def _split(names: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in names.split(",") if n.strip())


def _load(spec: str, consts, faults: str, deadlock: bool | None, max_faults: int | None = None):
    from .api import load_spec

    try:
        return load_spec(spec, consts, _split(faults), deadlock, max_faults=max_faults)
    except SpecError as err:
        _fail_input(err)


def _select_invariants(compiled, inv: tuple[str, ...], lemmas: bool = True):
    """The model with the chosen properties: those named with --inv, or else every
    invariant, and the lemmas only when asked (they are proof helpers)."""
    model = compiled.model
    if not inv:
        if lemmas:
            return model
        helpers = {i.name for i in compiled.typed.invariants if i.lemma}
        if not helpers:
            return model
        return model.select_invariants(
            [i.name for i in model.invariants if i.name not in helpers]
            + [i.name for i in model.transition_invariants])
    known = [i.name for i in model.invariants] + [i.name for i in model.transition_invariants]
    unknown = [n for n in inv if n not in known]
    if unknown:
        click.echo(f"error: --inv {', '.join(unknown)}: no such invariant (this spec has: "
                   f"{', '.join(known) or 'none'})", err=True)
        sys.exit(EXIT_INPUT)
    return model.select_invariants(inv)


def _header(spec_path: str, compiled, model, deadlock: bool) -> list[str]:
    from .faults import describe_switched_on, restart_without_crash
    from .values import format_value

    lines = [f"Checking {model.name} ({spec_path})"]
    if model.constants:
        lines.append("  constants:  " + ", ".join(f"{k} = {format_value(v)}"
                                                  for k, v in model.constants.items()))
    lemmas = {i.name for i in compiled.typed.invariants if i.lemma}
    props = [i.name for i in model.invariants] + [i.name for i in model.transition_invariants]
    main_props = [p for p in props if p not in lemmas]
    lines.append("  properties: " + (", ".join(main_props) if main_props else "(none)")
                 + ("; deadlock" if deadlock else ""))
    helper_lemmas = [p for p in props if p in lemmas]
    if helper_lemmas:
        lines.append("  lemmas:     " + ", ".join(helper_lemmas))
    elif lemmas and not any(p in lemmas for p in props):
        lines.append(f"  lemmas:     {len(lemmas)} not checked (--lemmas checks them too)")
    if compiled.faults:
        budget = compiled.max_faults
        lines.append("  faults:     " + describe_switched_on(compiled.typed, compiled.faults)
                     + (f" (at most {budget} per behaviour)" if budget is not None else ""))
        lines.extend(f"  note:       {n}" for n in restart_without_crash(compiled.typed,
                                                                        compiled.faults))
    elif any(a.fault for a in compiled.typed.actions):
        lines.append("  faults:     none switched on (use --faults)")
    if compiled.unmodelled_faults:
        lines.append("  not modelled: " + ", ".join(compiled.unmodelled_faults)
                     + " (no fault action of that kind in this spec)")
    return lines


class _Progress:
    """A live status line on stderr for runs longer than a second (only on a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.console = None
        self.shown = False

    def __call__(self, info) -> None:
        if not self.enabled:
            return
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True)
        rate = info.distinct / info.elapsed_s if info.elapsed_s else 0
        text = (f"  {info.distinct:,} distinct states, {info.generated:,} generated, "
                f"depth {info.depth}, queue {info.queue:,}, {rate:,.0f} states/s")
        self.console.file.write("\r" + text.ljust(100)[:120])
        self.console.file.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.console is not None:
            self.console.file.write("\r" + " " * 120 + "\r")
            self.console.file.flush()


class _Seconds(click.ParamType):
    """A positive, finite number of seconds, said in words a user reads (click's
    FloatRange let ``inf`` and ``nan`` through as no limit, and said "not a valid
    seconds")."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds (give one like 60 or 2.5)",
                      param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if seconds <= 0:
            self.fail(f"{value!r}: give more than 0 seconds", param, ctx)
        return seconds


SECONDS = _Seconds()

# Local worker processes, per core: more only oversubscribe the cores (and each process
# holds the compiled model); a cluster is `--backend ray`'s.
MAX_WORKERS_PER_CORE = 16


def _checked_memory_limit(ctx, param, value: str | None) -> str | None:
    """Refuses a size that cannot be read, or one below what this process already holds
    (the search would stop after one state, blaming the states' memory), before anything
    runs, whatever the backend."""
    if value is None:
        return None
    from .fingerprints import format_bytes, parse_size
    from .memory import machine_memory

    try:
        limit = parse_size(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    below = _below_what_is_held(value, limit, "")
    if below:
        raise click.BadParameter(below)
    most = machine_memory()
    if most is not None and limit > most:
        raise click.BadParameter(f"{value} is more than this machine's memory "
                                 f"({format_bytes(most)}, swap included): the kernel "
                                 "would kill the run before the limit stopped it")
    return value


def _given(param: str) -> bool:
    """Whether the option was on the command line (not its default)."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE


def _below_what_is_held(value: str, limit: int, when: str) -> str | None:
    """Why ``limit`` (``--memory-limit value``) cannot work, if it is below what this
    process holds now (the search would stop at its first state); else None."""
    from .fingerprints import format_bytes
    from .memory import current_rss

    held = current_rss()
    if held and limit <= held:
        return (f"{value} is less than the {format_bytes(held)} this process holds{when} "
                "before exploring anything")
    return None


def _memory_limit_above_what_is_held(value: str) -> None:
    """Checked again once the spec is compiled (the option's check came before)."""
    from .fingerprints import parse_size

    below = _below_what_is_held(value, parse_size(value), " with the spec compiled,")
    if below:
        click.echo(f"Error: Invalid value for '--memory-limit': {below}", err=True)
        sys.exit(EXIT_INPUT)


def _checked_directory(ctx, param, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("needs a directory, not an empty name")
    return value


def _checked_directory_or_file(ctx, param, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("needs a file name, not an empty one")
    return value


def _checked_workers(ctx, param, value: int | None) -> int | None:
    from .parallel import default_workers

    most = MAX_WORKERS_PER_CORE * default_workers()
    if value is not None and value > most and ctx.params.get("backend") != "ray":
        raise click.BadParameter(
            f"{value} processes on {default_workers()} cores: at most {most} local "
            f"workers ({MAX_WORKERS_PER_CORE} per core); use --backend ray for a cluster")
    return value


def _scale_options(f):
    """The options that choose how the explicit search runs (workers, memory, ...). The
    command gets ``store``: "exact", "fingerprints" or None (the default)."""

    command = f

    @functools.wraps(command)
    def with_store(*args, exact: bool, fingerprints: bool, **kwargs):
        if exact and fingerprints:
            raise click.UsageError("--exact and --fingerprints exclude each other")
        given = click.get_current_context().get_parameter_source("checkpoint_interval")
        if given is click.core.ParameterSource.COMMANDLINE and not kwargs["checkpoint_dir"]:
            raise click.UsageError("--checkpoint-interval needs --checkpoint DIR")
        kwargs["store"] = "exact" if exact else "fingerprints" if fingerprints else None
        return command(*args, **kwargs)

    f = with_store
    f = click.option("--checkpoint-interval", type=SECONDS,
                     default=300.0, show_default=True, metavar="SECONDS",
                     help="Seconds between two checkpoints (with --checkpoint).")(f)
    f = click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False),
                     default=None, metavar="DIR", callback=_checked_directory,
                     help="Save the search's state in DIR every few minutes (one worker); "
                          "continue a stopped or killed run with `modelcheck resume DIR`.")(f)
    f = click.option("--memory-limit", default=None, metavar="SIZE",
                     callback=_checked_memory_limit,
                     help="Stop cleanly (exit 3) past this much memory, e.g. 4G, 500M or "
                          "50% (of the available memory; one worker). Without it every "
                          "run still stops cleanly, with its statistics, at 80% of the "
                          "available memory (shared by the workers).")(f)
    f = click.option("--exact", is_flag=True,
                     help="Keep full states for the whole run: never switch to "
                          "fingerprints (a run that outgrows memory then stops, exit 3).")(f)
    f = click.option("--fingerprints", is_flag=True,
                     help="Store 64-bit fingerprints instead of full states from the first "
                          "wide level on: a few tens of bytes per state, with a collision "
                          "probability reported. With one worker the frontier also spills "
                          "to disk. Default: full states, switching to fingerprints when a "
                          "process is about to hold 512 MiB (or half its share of memory, "
                          "if less).")(f)
    f = click.option("--address", default=None, metavar="ADDR",
                     help="With --backend ray: the cluster (HOST:PORT, ray://HOST:PORT or "
                          "auto); default: start a local Ray instance.")(f)
    f = click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
                     show_default=True, is_eager=True,
                     help="Where the workers run: processes on this machine, or Ray "
                          "actors (pip install 'modelcheck[ray]').")(f)
    return click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                        callback=_checked_workers,
                        help="Explore in N processes, the seen set partitioned by state "
                             "hash: the same verdict and the same counts as one, but with a "
                             "violation the counts of its whole level (one worker stops at "
                             "the first). Default: one per "
                             "core, started only once a BFS level has 5,000 new states "
                             "(smaller runs stay in one process); one with --checkpoint "
                             "or --memory-limit.")(f)


@main.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@_const_option
@click.option("--inv", multiple=True, metavar="NAME",
              help="Check only this invariant (repeatable; default: all but the lemmas).")
@click.option("--lemmas", is_flag=True,
              help="Also check the spec's lemmas (the helper conjuncts of its inductive "
                   "invariant) in every reachable state.")
@click.option("--deadlock/--no-deadlock", default=None,
              help="Report states with no enabled action (default: on, unless the spec "
                   "says `option deadlock = false`).")
@click.option("--max-states", type=click.IntRange(min=1), default=None,
              help="Stop after this many distinct states (exit 3). With several "
                   "workers the count is checked when a BFS level ends, so it can pass N "
                   "by up to one level.")
@click.option("--max-depth", type=click.IntRange(min=1), default=None,
              help="Do not explore beyond this depth (exit 3 if anything was cut off).")
@click.option("--time-limit", type=SECONDS, default=None,
              metavar="SECONDS", help="Stop after this long (exit 3).")
@_faults_option
@click.option("--symmetry/--no-symmetry", default=True,
              help="Use the spec's `symmetry` declarations to store one state per orbit "
                   "(default: on when the spec declares any).")
@_scale_options
@_format_option(("text", "json", "itf", "html"))
@_report_option()
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def check_cmd(spec, consts, inv, lemmas, deadlock, max_states, max_depth, time_limit, faults,
              max_faults, symmetry, workers, backend, address, store, memory_limit,
              checkpoint_dir, checkpoint_interval, fmt, color, report):
    """Explore every reachable state of SPEC breadth-first and check its invariants."""
    import dataclasses

    from .interrupts import finishing
    from .parallel import ModelSpec

    _check_report_path(report)
    _import_output(fmt, report)
    started = time.perf_counter()
    try:
        try:
            # the recipe that worker processes (and checkpoints) rebuild the model from
            recipe = ModelSpec.from_file(spec, consts, _split(faults), deadlock, max_faults,
                                         symmetry=symmetry)
            compiled = recipe.compile()
        except SpecError as err:
            _fail_input(err)
        model = _select_invariants(compiled, inv, lemmas)
        recipe = dataclasses.replace(recipe, invariants=tuple(
            i.name for i in (*model.invariants, *model.transition_invariants)))
        canonical = _symmetry(compiled, spec) if symmetry else None
    except KeyboardInterrupt:
        if fmt != "json":
            raise       # (run() says "interrupted after ..." on stderr)
        _interrupted_before_search(spec, time.perf_counter() - started)
    if memory_limit:
        _memory_limit_above_what_is_held(memory_limit)
    if symmetry and not compiled.typed.symmetry and _given("symmetry"):
        click.echo(f"note: --symmetry: {compiled.typed.name} declares no `symmetry`: every "
                   "state is stored", err=True)
    limits = dict(max_states=max_states, max_depth=max_depth, time_limit=time_limit)
    header = _search_header(spec, compiled, model, symmetric=canonical is not None,
                            one_worker=workers is None and backend == "local"
                            and bool(checkpoint_dir or memory_limit))
    header = _shown_now(header, fmt)
    progress = _Progress(fmt == "text" and sys.stderr.isatty())
    try:
        result = _run_search(recipe, limits, progress, workers, backend, address, store,
                             memory_limit, checkpoint_dir, checkpoint_interval)
        finishing()     # (only reporting is left: a Ctrl-C now must not lose the result)
    finally:
        progress.close()
    if _ran_out_of_memory(result) and result.stats.distinct_states < TOO_FEW_TO_BLAME:
        result = dataclasses.replace(result, notes=(*result.notes, TOO_LOW_HINT))
    elif (store != "fingerprints" and _ran_out_of_memory(result)
            and not any("then fingerprints" in note for note in result.notes)):
        result = dataclasses.replace(result, notes=(*result.notes, MEMORY_HINT))
    result = _explained(spec, compiled, _with_symmetry(result, compiled, canonical),
                        recipe.text)
    _emit(result, fmt, color, header, compiled=compiled, report=report)


def _shown_now(header: list[str], fmt: str) -> list[str]:
    """On a terminal, the text header (what is checked: constants, properties, faults,
    workers) is printed before the search, as TLC prints its setup, so that a long run
    says what it is running; the header then left for the result is empty."""
    if fmt != "text" or not sys.stdout.isatty():
        return header
    click.echo("\n".join(header))
    return []


def _interrupted_before_search(spec: str, elapsed: float, engine: str = "explicit") -> None:
    """For ``--format json``: a Ctrl-C while the spec was being compiled still gives a
    JSON result (status "limit", nothing explored), so that a script reading standard
    output gets a document and not an empty stream."""

    from .render.json import render_json

    click.echo(render_json(_interrupted_result(spec, elapsed, engine)))
    sys.exit(EXIT_LIMIT)


def _interrupted_result(spec: str, elapsed: float, engine: str):
    """The result of a run stopped by Ctrl-C before its search began (nothing explored;
    named by the file, the spec's own name not being known yet)."""
    from pathlib import Path

    from .explore import peak_memory_bytes
    from .result import Result, Stats, Status

    return Result(engine=engine, spec=Path(spec).stem, status=Status.LIMIT,
                  limit_reason="interrupted before the search began",
                  stats=Stats(elapsed_s=elapsed, peak_memory_bytes=peak_memory_bytes()))


def _with_symmetry(result, compiled, canonical):
    """The result, saying which sets' permutations it folded (every format shows it:
    80 orbits and TLC's 288 states must not be mistaken for each other)."""
    if canonical is None or not compiled.typed.symmetry:
        return result
    import dataclasses

    return dataclasses.replace(result, symmetry=tuple(compiled.typed.symmetry))


def _search_header(spec: str, compiled, model, *, symmetric: bool,
                   one_worker: bool) -> list[str]:
    """The header of a search's output (``check``, and ``resume`` of a checkpointed one):
    the spec's, whether states are counted by orbit, and why one worker runs."""
    header = _header(spec, compiled, model, model.check_deadlock)
    if symmetric:
        header.append(f"  symmetry:   {', '.join(compiled.typed.symmetry)} (one state per "
                      "orbit; --no-symmetry for the full state space)")
    if one_worker:
        from .parallel import default_workers

        if default_workers() > 1:
            header.append("  workers:    1 (--checkpoint and --memory-limit work on one "
                          "worker)")
    return header


# Below this many states, a run stopped by memory was stopped by what the checker itself
# holds (the compiled spec, Python), not by its states: fingerprints would not help.
TOO_FEW_TO_BLAME = 1000
TOO_LOW_HINT = ("the memory limit was reached before the search got going: it is below "
                "what the checker needs for this spec; raise --memory-limit")
MEMORY_HINT = ("the full states did not fit in memory: --fingerprints stores a 64-bit "
               "fingerprint per state instead (a few tens of bytes)")


def _ran_out_of_memory(result) -> bool:
    """A run stopped by memory (the kernel's limit, the default limit or --memory-limit)."""
    from .result import Status

    reason = result.limit_reason or ""
    return result.status is Status.LIMIT and ("out of memory" in reason
                                              or reason.startswith("memory limit"))


# By default a process goes on with fingerprints once it is about to hold this much. A
# search that large runs for minutes, and from there on its full states cost it about
# 245 bytes each against 41 (Paxos with ballots 0..3, two workers, back to back: 1,879
# MiB at the largest sample and 119 s with full states throughout, 1,189 MiB and 144 s
# with the switch; docs/scaling.md). A smaller search keeps the faster full states.
SWITCH_AT = 512 << 20


def _switch_at(store, processes: int) -> int | None:
    """By default a search keeps full states until a process is about to hold
    ``SWITCH_AT`` (or half its share of the default memory limit, if that is less),
    then goes on with fingerprints; ``--exact`` and ``--fingerprints`` never switch."""
    if store is not None:
        return None
    from .memory import default_memory_limit

    limit = default_memory_limit()
    return SWITCH_AT if limit is None else min(SWITCH_AT, limit // processes // 2)


def _run_search(recipe, limits, progress, workers, backend, address, store, memory_limit,
                checkpoint_dir, checkpoint_interval):
    """Picks the engine: Ray actors, worker processes, the compact one-process engine
    (for --fingerprints, --memory-limit and --checkpoint), or the plain one (fastest)
    with its switch to fingerprints."""
    from .memory import address_space_cap

    compact = store == "fingerprints"
    if backend == "ray":
        from .ray_backend import RayUnavailableError, explore_ray

        # the one-worker features are refused, not dropped: the user would believe a
        # checkpoint is being written, or a memory limit kept
        for flag, given in (("--checkpoint", checkpoint_dir), ("--memory-limit", memory_limit)):
            if given is not None:
                click.echo(f"error: {flag} is not supported with --backend ray (it works "
                           "on one local worker)", err=True)
                sys.exit(EXIT_INPUT)
        try:
            # (the memory of a cluster's nodes is not known here: the fixed threshold;
            # --fingerprints and --exact are the actors' own)
            return explore_ray(recipe, workers=workers, address=address, progress=progress,
                               fingerprints=compact,
                               switch_at=None if store is not None else SWITCH_AT,
                               verbose=bool(os.environ.get("MODELCHECK_DEBUG")), **limits)
        except RayUnavailableError as err:
            click.echo(f"error: {err}", err=True)
            if err.abandoned:
                # a ray.init is still blocked in a thread: leave without waiting for it
                # (or for Ray's exit handlers)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_INPUT)
            sys.exit(EXIT_INPUT)
    if address is not None:
        click.echo("error: --address needs --backend ray", err=True)
        sys.exit(EXIT_INPUT)
    if workers is None:
        # one per core, once the frontier is worth the processes; the one-worker
        # features (--checkpoint, --memory-limit) run on one
        from .parallel import HANDOVER_AT, default_workers, explore_parallel

        cores = default_workers()
        if cores > 1 and not (checkpoint_dir or memory_limit):
            # the coordinator and one process per core share the default memory limit
            with address_space_cap(cores + 1):
                return explore_parallel(recipe, workers=cores, progress=progress,
                                        handover_at=HANDOVER_AT, fingerprints=compact,
                                        switch_at=_switch_at(store, cores + 1),
                                        shared=store != "exact", **limits)
        workers = 1
    if workers > 1:
        given = [flag for flag, value in (("--checkpoint", checkpoint_dir),
                                          ("--memory-limit", memory_limit)) if value]
        if given:
            click.echo(f"error: {' and '.join(given)} need{'s' if len(given) == 1 else ''} "
                       "one worker (--workers 1)", err=True)
            sys.exit(EXIT_INPUT)
        from .parallel import explore_parallel

        with address_space_cap(workers + 1):
            return explore_parallel(recipe, workers=workers, progress=progress,
                                    fingerprints=compact,
                                    switch_at=_switch_at(store, workers + 1),
                                    shared=store != "exact", **limits)
    switch_at = _switch_at(store, 1)
    if not (checkpoint_dir or memory_limit or compact) and switch_at is not None:
        from .fingerprints import explore_compact

        with address_space_cap():
            return explore_compact(recipe, progress=progress, handover_rss=switch_at,
                                   **limits)
    if not (checkpoint_dir or memory_limit or compact):
        from .explore import explore

        model, canonical = recipe.build()
        with address_space_cap():
            return explore(model, progress=progress, canonical=canonical, **limits)
    from .checkpoint import CheckpointError
    from .fingerprints import explore_compact, parse_size

    try:
        limit = parse_size(memory_limit) if memory_limit else "default"
    except ValueError as err:
        click.echo(f"error: --memory-limit: {err}", err=True)
        sys.exit(EXIT_INPUT)
    from .parallel import HANDOVER_AT

    try:
        # (fingerprints from the first wide level on, as on several workers)
        return explore_compact(recipe, exact=not compact, memory_limit=limit,
                               checkpoint_dir=checkpoint_dir,
                               checkpoint_interval=checkpoint_interval, progress=progress,
                               handover_at=HANDOVER_AT if compact and not checkpoint_dir
                               else None, **limits)
    except CheckpointError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)


@main.command("resume")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--time-limit", type=SECONDS, default=None,
              metavar="SECONDS", help="Stop after this long (exit 3; resume again later).")
@click.option("--memory-limit", default=None, metavar="SIZE", callback=_checked_memory_limit,
              help="Stop cleanly (exit 3) past this much memory, e.g. 4G or 500M. Default, "
                   "as for check: 80% of the available memory, not the limit of the run "
                   "that was stopped (so a run stopped by --memory-limit can go on with "
                   "more).")
@click.option("--max-states", type=click.IntRange(min=0), default=None, metavar="N",
              help="Stop after N distinct states in all (exit 3), in place of the stopped "
                   "run's limit; 0: no limit. Default: the stopped run's. N must be above "
                   "the states the checkpoint holds.")
@click.option("--max-depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Do not explore beyond depth N, in place of the stopped run's limit; 0: "
                   "no limit. Default: the stopped run's. N must be above the checkpoint's "
                   "depth, which must be from before the search cut states off at its "
                   "old limit.")
@click.option("--checkpoint-interval", type=SECONDS, default=None, metavar="SECONDS",
              help="Seconds between two checkpoints from now on. Default: the stopped "
                   "run's.")
@_format_option(("text", "json", "itf", "html"))
@_report_option()
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def resume_cmd(directory, time_limit, memory_limit, max_states, max_depth,
               checkpoint_interval, fmt, report, color):
    """Continue the check saved in DIRECTORY by `modelcheck check --checkpoint`."""
    from .checkpoint import SAVED, CheckpointError, DirectoryLock, read_meta, resume
    from .fingerprints import parse_size
    from .interrupts import finishing
    from .parallel import ModelSpec

    _check_report_path(report)

    limit = parse_size(memory_limit) if memory_limit is not None else "default"
    # (None: the saved limit; 0: none)
    limits = {name: SAVED if value is None else value or None
              for name, value in (("max_states", max_states), ("max_depth", max_depth))}
    try:
        # held from before the checkpoint is read until the command ends: another run on
        # DIRECTORY is refused (and this one, if another holds it)
        lock = DirectoryLock(directory, resuming=True)
    except CheckpointError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    click.get_current_context().call_on_close(lock.release)
    try:
        # (verified, its own checksum included, before its spec is compiled: an error in
        # a damaged spec text is not reported against the intact file on disk)
        meta, _ = read_meta(directory)
        recipe = ModelSpec.from_json(meta["recipe"])
        compiled = recipe.compile()
        model, canonical = recipe.build()
    except (CheckpointError, KeyError, TypeError, ValueError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    except SpecError as err:
        _fail_input(err)
    _import_output(fmt, report)
    # the header of `check --checkpoint` for this spec, then where it was resumed from
    header = _search_header(recipe.path, compiled, model, symmetric=canonical is not None,
                            one_worker=True)
    header.append(f"  resumed:    {directory}")
    header = _shown_now(header, fmt)
    progress = _Progress(fmt == "text" and sys.stderr.isatty())
    try:
        result = resume(directory, time_limit=time_limit, progress=progress,
                        memory_limit=limit, checkpoint_interval=checkpoint_interval,
                        **limits)
        finishing()     # (only reporting is left: a Ctrl-C now must not lose the result)
    except CheckpointError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    finally:
        progress.close()
    result = _with_symmetry(result, compiled, canonical)
    _emit(_explained(recipe.path, compiled, result, recipe.text), fmt, color, header,
          compiled=compiled, report=report)


@main.command("simulate")
@click.argument("spec", type=click.Path(dir_okay=False))
@_const_option
@click.option("--inv", multiple=True, metavar="NAME",
              help="Check only this invariant (repeatable; default: all but the lemmas).")
@click.option("--lemmas", is_flag=True, help="Also check the spec's lemmas.")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of random walks.")
@click.option("--depth", type=click.IntRange(min=0), default=100, show_default=True,
              help="Steps per walk (at most).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The same seed gives the same walks.")
@click.option("--deadlock/--no-deadlock", default=None,
              help="Report states with no enabled action (default: as for check).")
@click.option("--shrink/--no-shrink", default=True,
              help="Shrink a counterexample before showing it (default: on).")
@click.option("--time-limit", type=SECONDS, default=None,
              metavar="SECONDS",
              help="Stop after this long, within a run too (exit 3); a counterexample "
                   "being shrunk then is shown as shrunk so far.")
@click.option("--memory-limit", default=None, metavar="SIZE",
              callback=_checked_memory_limit,
              help="Stop cleanly (exit 3) past this much memory, e.g. 2G or 50% (of the "
                   "available memory); default: 80% of the available memory. A walk "
                   "keeps every state of its path.")
@_faults_option
@_format_option(("text", "json", "itf", "html"))
@_report_option()
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def simulate_cmd(spec, consts, inv, lemmas, runs, depth, seed, deadlock, shrink, time_limit,
                 memory_limit, faults, max_faults, fmt, report, color):
    """Random walks through SPEC, checking the invariants in every state visited: for
    state spaces too large to enumerate. Not exhaustive: no violation found is not a
    proof."""
    from .simulate import simulate

    _check_report_path(report)
    started = time.perf_counter()
    try:
        compiled = _load(spec, consts, faults, deadlock, max_faults)
        model = _select_invariants(compiled, inv, lemmas)
    except KeyboardInterrupt:
        if fmt != "json":
            raise       # (run() says "interrupted after ..." on stderr)
        _interrupted_before_search(spec, time.perf_counter() - started, engine="simulate")
    from .fingerprints import parse_size
    from .memory import default_memory_limit

    result = simulate(model, runs=runs, depth=depth, seed=seed, shrink=shrink,
                      time_limit=time_limit,
                      memory_limit=parse_size(memory_limit) if memory_limit
                      else default_memory_limit())
    header = _header(spec, compiled, model, model.check_deadlock)
    header.append(f"  simulation: {runs} runs of up to {depth} steps, seed {seed}")
    _emit(_explained(spec, compiled, result), fmt, color, header, compiled=compiled,
          report=report)


def _checked_sweep_workers(ctx, param, value: int) -> int:
    """As check's --workers, but a sweep runs its checks on this machine (no --backend)."""
    from .parallel import default_workers

    most = MAX_WORKERS_PER_CORE * default_workers()
    if value > most:
        raise click.BadParameter(
            f"{value} processes on {default_workers()} cores: at most {most} workers per "
            f"check ({MAX_WORKERS_PER_CORE} per core); a sweep runs its checks on this "
            "machine (on a cluster, run `modelcheck check --backend ray` for each value)")
    return value


@main.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--const", "consts", multiple=True, metavar="NAME=VALUES",
              help="The constant to sweep, e.g. N=2..6, 'RM=3..8' (sets of 3 to 8 of the "
                   "spec's numbered symbols), 'X=1|4|9'; other --const NAME=VALUE are "
                   "fixed (so is a range given for a constant whose value is a set of "
                   "integers: 'Vals=1..3').")
@click.option("--inv", multiple=True, metavar="NAME",
              help="Check only this invariant (repeatable; default: all but the lemmas).")
@click.option("--lemmas", is_flag=True, help="Also check the spec's lemmas.")
@click.option("--deadlock/--no-deadlock", default=None,
              help="Report states with no enabled action (default: as for check).")
@click.option("--max-states", type=click.IntRange(min=1), default=None,
              help="Stop a check after this many distinct states.")
@click.option("--time-limit", type=SECONDS, default=None,
              metavar="SECONDS", help="Stop a check after this long.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              callback=_checked_sweep_workers,
              metavar="N", help="Worker processes per check.")
@click.option("--symmetry/--no-symmetry", default=True,
              help="Use the spec's `symmetry` declarations (default: on).")
@_faults_option
@click.option("--chart", type=click.Path(dir_okay=False), default=None, metavar="FILE.svg",
              callback=_checked_directory_or_file,
              help="Where to write the chart (default: sweep-NAME.svg).")
@_format_option()
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def sweep_cmd(spec, consts, inv, lemmas, deadlock, max_states, time_limit, workers, symmetry,
              faults, max_faults, fmt, chart, color):
    """Check SPEC for each value of one constant, in order, until a check fails; print a
    table (distinct states, time, memory, verdict), then the failing value's result as
    `check` prints it, and write a chart of states and time against the value."""
    import dataclasses

    from .parallel import ModelSpec
    from .sweep import (
        INTERRUPTED,
        PointError,
        SweepError,
        charted,
        check_chart_path,
        check_values,
        format_table,
        parse_sweep,
        plain_constants,
        split_consts,
        sweep,
    )

    started = time.perf_counter()
    name, values = None, []         # (what a Ctrl-C before they are known reports)
    try:
        try:
            swept, fixed = split_consts(consts, plain_constants(spec))
        except SpecError as err:
            _fail_input(err)
        except SweepError as err:
            click.echo(f"error: --const: {err}", err=True)
            sys.exit(EXIT_INPUT)
        try:
            recipe = ModelSpec.from_file(spec, fixed, _split(faults), deadlock, max_faults,
                                         symmetry=symmetry)
            name = swept.partition("=")[0].strip()
            try:
                defaults = recipe.compile().model.constants
            except SpecError as err:
                # a constant the spec declares without a value (`const N`) gets one from
                # the sweep: compiled below with the first
                if not all(d.message.startswith(f"constant {name} has no value")
                           for d in err.diagnostics):
                    raise
                defaults = {}
            name, values = parse_sweep(swept, defaults)
            check_values(recipe, name, values)      # all of them, before the first check
            compiled = recipe.with_const(name, values[0]).compile()
        except SpecError as err:
            _fail_input(err)
        except PointError as err:
            _sweep_value_refused(err, name, fmt)
        except SweepError as err:
            click.echo(f"error: --const: {err}", err=True)
            sys.exit(EXIT_INPUT)
        model = _select_invariants(compiled, inv, lemmas)     # as check: lemmas left out
        recipe = dataclasses.replace(recipe, invariants=tuple(
            i.name for i in (*model.invariants, *model.transition_invariants)))
        chart = chart or f"sweep-{name}.svg"
        try:
            check_chart_path(chart)         # before the sweep, not after it
        except SweepError as err:
            click.echo(f"error: --chart: {err}", err=True)
            sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        if fmt != "json":
            raise       # (run() says "interrupted after ..." on stderr)
        _sweep_interrupted_before(spec, name, values, time.perf_counter() - started)
    options = dict(max_states=max_states, time_limit=time_limit)
    engine = "explicit" if workers == 1 else "parallel"
    if workers > 1:
        options["workers"] = workers
    _import_output(fmt, None)
    shown = []

    def show(row):
        if fmt == "text":
            # the header with the first row: a first value that cannot be checked (a
            # spec error) shows only its error
            lines = format_table([row], name).splitlines()
            click.echo("\n".join(lines if not shown else lines[-1:]))
        shown.append(row)

    try:
        # (the values are type-checked already: a recipe for each, not the ModelSpec)
        rows = sweep(lambda value: recipe.with_const(name, value), name, values,
                     engine=engine, options=options, chart=chart, on_row=show)
    except PointError as err:
        click.echo(str(err), err=True)   # complete: a spec error with its place
        written = chart if charted(err.rows) else None
        if fmt == "json":
            click.echo(_sweep_json(name, err.rows, written, error={
                "value": err.value, "message": str(err)}))
        else:
            click.echo(f"stopped: error while checking {name} = {err.value}")
            if written:
                click.echo(f"chart: {chart} (the values before the error)")
        sys.exit(EXIT_INPUT)
    except SweepError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    written = chart if charted(rows) else None
    last = rows[-1]
    # the value the sweep stopped at (a violation, an error, a limit), as check shows it
    failed = None
    if last.status not in ("ok", INTERRUPTED) and last.result is not None:
        failed = _sweep_failure(spec, recipe.with_const(name, last.value), inv, lemmas,
                                last.result, symmetry)
    if fmt == "json":
        from .render.json import result_to_json

        stopped = None if failed is None else {"value": last.value,
                                               "result": result_to_json(failed[0])}
        if last.status == INTERRUPTED:     # what its check explored, if it could say
            symmetric = True if symmetry and compiled.typed.symmetry else None
            stopped = {"value": last.value, "result": None if last.result is None else
                       result_to_json(_with_symmetry(last.result, compiled, symmetric))}
        click.echo(_sweep_json(name, rows, written, stopped))
    else:
        if failed is not None:
            from .render.text import render_text

            use_color = sys.stdout.isatty() if color is None else color
            click.echo("")
            click.echo("\n".join(failed[1]))
            click.echo(render_text(failed[0], color=use_color))
        if last.status == INTERRUPTED:
            click.echo(f"stopped: interrupted while checking {name} = {last.value}")
        click.echo(f"chart: {written}" if written else "chart: not written (no value was "
                   "checked to the end)")
    if last.status == INTERRUPTED:
        sys.exit(EXIT_LIMIT)
    sys.exit(0 if last.result is None else last.result.exit_code)


def _sweep_json(name: str | None, rows, chart: str | None, stopped: dict | None = None,
                error: dict | None = None) -> str:
    """The sweep's one JSON object (docs/cli.md), however the sweep ended."""
    import json

    return json.dumps({"constant": name, "rows": [r.as_dict() for r in rows],
                       "stopped_at": stopped, "error": error, "chart": chart},
                      indent=2, ensure_ascii=False)


def _sweep_value_refused(err, name: str, fmt: str) -> None:
    """A value that cannot be used (``check_values``): named, with nothing checked."""
    click.echo(str(err), err=True)      # the located spec error
    click.echo(f"error: --const: cannot check {name} = {err.value} (see above); no "
               "value was checked", err=True)
    if fmt == "json":
        click.echo(_sweep_json(name, [], None, error={"value": err.value,
                                                      "message": str(err)}))
    sys.exit(EXIT_INPUT)


def _sweep_interrupted_before(spec: str, name: str | None, values, elapsed: float) -> None:
    """For ``--format json``: a Ctrl-C before the first check (the spec being compiled)
    still gives the sweep's JSON object, with no rows and the first value stopped at as
    ``check --format json`` reports such a Ctrl-C; a script gets a document, not an empty
    stream."""
    from .render.json import result_to_json

    result = _interrupted_result(spec, elapsed, "explicit")
    click.echo(_sweep_json(name, [], None, {"value": values[0] if values else None,
                                           "result": result_to_json(result)}))
    sys.exit(EXIT_LIMIT)


def _sweep_failure(spec: str, recipe, inv, lemmas, result, symmetry: bool):
    """The result of the value a sweep stopped at, explained as check explains it, and
    check's header for it: (result, header lines)."""
    compiled = recipe.compile()
    model = _select_invariants(compiled, inv, lemmas)
    symmetric = symmetry and bool(compiled.typed.symmetry)
    header = _search_header(spec, compiled, model, symmetric=symmetric, one_worker=False)
    result = _with_symmetry(result, compiled, True if symmetric else None)
    return _explained(spec, compiled, result), header


def _check_report_path(path) -> None:
    """Refuse an unwritable --report path before the search, not after it."""
    if path is None:
        return
    from .render.html import ReportError, check_report_path

    try:
        check_report_path(path)
    except ReportError as err:
        click.echo(f"error: --report: {err}", err=True)
        sys.exit(EXIT_INPUT)


def _explained(spec_path: str, compiled, result, text: str | None = None):
    """The result with its violation explained (``checker.explain``). ``text``: the
    spec's text as compiled (a checkpoint's, or the one read when the run began: the
    file may have been edited since, and the explanation quotes it by position)."""
    if result.violation is None:    # (nothing to import: a run stopped out of memory
        return result               # has little room left to print its statistics)
    from .explain import explain
    from .parser import read_source

    if text is None:
        try:
            text = read_source(spec_path).text
        except SpecError:
            text = None
    return explain(compiled, result, source_text=text, source_path=spec_path)


def _symmetry(compiled, spec_path: str):
    """The canonicalization function for the spec's symmetry declarations, or None
    (exit 2 when a declared symmetry is not sound)."""
    from .parser import read_source
    from .symmetry import Symmetry, check_symmetry

    if not compiled.typed.symmetry:
        return None
    try:
        check_symmetry(compiled.typed, compiled.universe, read_source(spec_path))
    except SpecError as err:
        _fail_input(err)
    extra = 1 if compiled.max_faults is not None else 0
    return Symmetry(compiled.typed, compiled.universe, compiled.typed.symmetry, extra).canonical


@main.command("bmc")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--depth", type=click.IntRange(min=0), required=True, metavar="K",
              help="Look for violations within K steps of an initial state.")
@_const_option
@click.option("--inv", multiple=True, metavar="NAME",
              help="Check only this invariant (repeatable; default: all but the lemmas).")
@click.option("--lemmas", is_flag=True, help="Also check the spec's lemmas.")
@click.option("--deadlock", is_flag=True, help="Also look for reachable deadlocks.")
@click.option("--solver-timeout", type=SECONDS, default=None,
              metavar="SECONDS", help="Give up on a query after this long (exit 3).")
@click.option("--smt2", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write every solver query to DIR as SMT-LIB 2.")
@_faults_option
@_format_option(("text", "json", "itf", "html"))
@_report_option()
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def bmc_cmd(spec, depth, consts, inv, lemmas, deadlock, solver_timeout, smt2, faults,
            max_faults, fmt, report, color):
    """Bounded model checking with Z3: is a property violated within K steps? The
    shortest violation is printed like the explicit engine's counterexamples."""
    from .symbolic import bmc

    _check_report_path(report)
    compiled = _load(spec, consts, faults, None, max_faults)
    model = _select_invariants(compiled, inv, lemmas)     # (as check: lemmas when asked)
    try:
        result = bmc(compiled, depth, invariants=[i.name for i in (
            *model.invariants, *model.transition_invariants)], check_deadlock=deadlock,
                     timeout_s=solver_timeout, smt2_dir=smt2)
    except SpecError as err:
        _fail_input(err)
    header = _header(spec, compiled, model, deadlock)
    header[0] = (f"Bounded model checking {compiled.model.name} ({spec}) within {depth} "
                 f"step{'s' if depth != 1 else ''}")
    _emit(_explained(spec, compiled, result), fmt, color, header, compiled=compiled,
          report=report)


@main.command("prove")
@click.argument("spec", type=click.Path(dir_okay=False))
@_const_option
@click.option("--inv", multiple=True, metavar="NAME",
              help="The conjuncts of the inductive invariant (repeatable; default: every "
                   "invariant and lemma).")
@click.option("--k", "k", type=click.IntRange(min=1), default=1, show_default=True,
              help="k-induction depth (with simple-path constraints).")
@click.option("--solver-timeout", type=SECONDS, default=None,
              metavar="SECONDS", help="Give up on a query after this long (exit 3).")
@click.option("--smt2", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write every solver query to DIR as SMT-LIB 2.")
@click.option("--symmetry/--no-symmetry", default=True,
              help="Use symmetry in the reachability search that classifies each CTI.")
@click.option("--unbounded", is_flag=True,
              help="Prove for any number of nodes: each `symmetry` set becomes an "
                   "uninterpreted sort, majority quorums a sort whose elements intersect.")
@_faults_option
@_format_option(("text", "json", "itf", "html"))
@_report_option("verdict, obligations, each counterexample to induction as a table of "
                "states with a diagram of its step")
@click.option("--color/--no-color", default=None, help="Colour the text output.")
def prove_cmd(spec, consts, inv, k, solver_timeout, smt2, symmetry, unbounded, faults,
              max_faults, fmt, report, color):
    """Prove with Z3 that the invariants are inductive: initiation, and consecution for
    every (action, conjunct) pair; each failure comes with a counterexample to induction
    and whether its pre-state is reachable."""
    from .render.proof import render_proof, render_proof_json
    from .symbolic import prove_report

    _check_report_path(report)
    compiled = _load(spec, consts, faults, None, max_faults)
    if unbounded and k > 1:
        click.echo("error: --unbounded proves by induction (k = 1); leave out --k", err=True)
        sys.exit(EXIT_INPUT)
    if unbounded and fmt == "itf":
        click.echo("error: --format itf: an unbounded proof's CTIs have elements of no "
                   "constant (RM!0, ...); prove without --unbounded, with --const for the "
                   "sizes shown, to write them as ITF", err=True)
        sys.exit(EXIT_INPUT)
    try:
        if unbounded:
            from .parser import read_source
            from .symbolic.unbounded import prove_unbounded_report

            proof = prove_unbounded_report(compiled, read_source(spec), list(inv) or None,
                                            timeout_s=solver_timeout, smt2_dir=smt2)
        else:
            proof = prove_report(compiled, list(inv) or None, k=k, timeout_s=solver_timeout,
                                  smt2_dir=smt2, symmetry=symmetry)
    except SpecError as err:
        _fail_input(err)
    lines = [f"Proving {compiled.model.name} ({spec})" + (f" by {k}-induction" if k > 1
                                                          else "")
             + (" for any number of nodes" if unbounded else "")]
    lines += _header(spec, compiled, _select_invariants(compiled, inv), False)[1:]
    if unbounded:
        lines += proof.header_lines()
        if compiled.faults and compiled.max_faults is not None:
            lines.append(f"Fault budget: not applied (any number of fault steps, more "
                         f"behaviours than at most {compiled.max_faults}).")
    if report is not None or fmt == "html":
        from .render.html import ReportError, write_report
        from .render.proof_html import render_proof_html

        page = render_proof_html(proof, compiled, header_lines=lines)
        if report is not None:
            try:
                write_report(report, page)
            except ReportError as err:
                click.echo(f"error: --report: {err}", err=True)
                sys.exit(EXIT_INPUT)
    if fmt == "json":
        click.echo(render_proof_json(proof))
    elif fmt == "html":
        click.echo(page, nl=False)
    elif fmt == "itf":
        import json

        from .render.proof_html import cti_itf

        doc = cti_itf(proof, compiled)
        if doc is None:
            click.echo(f"{compiled.model.name}: no counterexample to induction to write as "
                       f"ITF (status {proof.result.status.value})", err=True)
        else:
            click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        use_color = sys.stdout.isatty() if color is None else color
        click.echo(render_proof(proof, color=use_color, header_lines=lines))
    sys.exit(proof.result.exit_code)


@main.command("trace")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_const_option
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="A mapping file (TOML or JSON) from log events to spec actions.")
@click.option("--check-invariants", is_flag=True,
              help="Also check the spec's invariants (not its lemmas, as `check`) on "
                   "every matched state.")
@click.option("--merge", is_flag=True, help="The files are per-node logs of one run.")
@click.option("--max-candidates", type=click.IntRange(min=1), default=1_000_000,
              show_default=True, help="Stop (exit 3) when more spec states fit the log.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Validate this many files in parallel (default: one per core).")
@_faults_option
@_format_option(("text", "json", "itf", "html"))
@_report_option("verdicts, where each trace diverges and why, sequence diagrams, states")
@click.option("--color/--no-color", default=None, help="Colour the text output.")
@click.option("--verbose", "-v", is_flag=True, help="Show every candidate in the report.")
def trace_cmd(spec, traces, consts, mapping, check_invariants, merge, max_candidates, jobs,
              faults, max_faults, fmt, report, color, verbose):
    """Check that each recorded TRACE (JSON Lines or ITF) is a behaviour SPEC allows."""
    from .trace.command import trace_command

    sys.exit(trace_command(spec, list(traces), consts=consts, mapping=mapping, fmt=fmt,
                           check_invariants=check_invariants, merge=merge,
                           max_candidates=max_candidates, processes=jobs,
                           faults=_split(faults), max_faults=max_faults, color=color,
                           verbose=verbose, report=report))


def _import_output(fmt: str, report: str | None) -> None:
    """Imports what ``_emit`` prints the result with, before the search: under a tight
    address-space limit (ulimit -v), a search stopped out of memory may leave no room to
    import it, and its statistics were lost ("stopped: out of memory while writing the
    result")."""
    import importlib

    module = {"json": ".render.json", "html": ".render.html", "itf": ".itf"}.get(
        fmt, ".render.text")
    importlib.import_module(module, __package__)
    if report is not None:
        importlib.import_module(".render.html", __package__)


def _emit(result, fmt: str, color: bool | None, header: list[str], compiled=None,
          report: str | None = None) -> None:
    if report is not None:
        from .render.html import ReportError, render_html, write_report

        try:
            write_report(report, render_html(result, compiled))
        except ReportError as err:
            click.echo(f"error: --report: {err}", err=True)
            sys.exit(EXIT_INPUT)
    if fmt == "json":
        from .render.json import render_json

        click.echo(render_json(result))
    elif fmt == "html":
        from .render.html import render_html

        click.echo(render_html(result, compiled), nl=False)
    elif fmt == "itf":
        from .itf import write_itf

        if result.violation is None or not result.violation.trace:
            # (and what was explored: a run stopped by a limit reports it in every format)
            st = result.stats
            why = f": {result.limit_reason}" if result.limit_reason else ""
            click.echo(f"{result.spec}: no counterexample to write as ITF (status "
                       f"{result.status.value}{why}; {st.distinct_states:,} distinct states, "
                       f"{st.generated_states:,} generated, depth {st.depth})", err=True)
        else:
            click.echo(write_itf(result, compiled, as_text=True), nl=False)
    else:
        from .render.text import render_text

        use_color = sys.stdout.isatty() if color is None else color
        if header:      # (empty: printed before the search, see _shown_now)
            click.echo("\n".join(header))
        click.echo(render_text(result, color=use_color))
    sys.exit(result.exit_code)


@main.command("graph")
@click.argument("spec", type=click.Path(dir_okay=False))
@_const_option
@_faults_option
@click.option("--format", "fmt", type=click.Choice(("dot", "svg")), default="dot",
              show_default=True, help="Graphviz dot text, or SVG (needs Graphviz's `dot`).")
@click.option("--max-states", type=click.IntRange(min=1), default=500, show_default=True,
              help="Refuse graphs with more states than this (a bigger picture is unreadable).")
@click.option("--deadlock/--no-deadlock", default=None,
              help="Mark states with no enabled action (default: as for check).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the graph to FILE instead of standard output.")
def graph_cmd(spec, consts, faults, max_faults, fmt, max_states, deadlock, output):
    """Draw the reachable state graph of a small SPEC, the shortest path to a violation
    highlighted."""
    from .graph import GraphError, check_output_name, state_graph
    from .output_file import OutputFileError, check_writable, write_atomically

    if output is not None:
        try:
            check_output_name(output, fmt)
            check_writable(output, "graph")
        except (OutputFileError, GraphError) as err:
            click.echo(f"error: --output: {err}", err=True)
            sys.exit(EXIT_INPUT)
    compiled = _load(spec, consts, faults, deadlock, max_faults)
    try:
        text = state_graph(compiled, max_states=max_states, fmt=fmt, check_deadlock=deadlock)
    except GraphError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(output, text, "graph")
    except OutputFileError as err:
        click.echo(f"error: --output: {err}", err=True)
        sys.exit(EXIT_INPUT)


@main.command("explore")
@click.argument("spec", type=click.Path(dir_okay=False))
@_const_option
@_faults_option
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE.json", help="Load the counterexample of a JSON result "
              "(modelcheck SPEC --format json > FILE.json) or an ITF trace (--format itf, "
              "or Apalache's, Quint's); `jump N` goes to its state N.")
@click.option("--check", "run_check", is_flag=True,
              help="Run the checker first and load its counterexample.")
def explore_cmd(spec, consts, faults, max_faults, trace_file, run_check):
    """Step through SPEC interactively: take enabled actions, go back, jump along a
    counterexample, evaluate expressions (type `help` at the prompt)."""
    from .repl import ExploreError, Repl

    try:
        repl = Repl.from_file(spec, consts=consts, faults=_split(faults),
                              max_faults=max_faults, echo=not sys.stdin.isatty())
        if trace_file is not None:
            repl.load(trace_file)
        if run_check:
            repl.check()
    except SpecError as err:
        _fail_input(err)
    except ExploreError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_INPUT)
    sys.exit(repl.run())


_COMPILING = frozenset({"parser.py", "syntax.py", "source.py", "typecheck.py", "types.py",
                        "ir.py", "optimize.py", "codegen.py", "compile.py", "universe.py"})


def _stop_out_of_memory(err: Exception) -> None:
    """Exit status 3 and one line for a MemoryError outside a search (which reports its
    own, with its statistics), or a library that could not be loaded for want of memory:
    where it happened, as far as the traceback tells, and the limit."""
    if os.environ.get("MODELCHECK_DEBUG"):
        import traceback

        traceback.print_exc()
    click.echo(_out_of_memory(err), err=True)
    sys.exit(EXIT_LIMIT)


def _out_of_memory(err: Exception) -> str:
    where = ""
    tb = err.__traceback__
    while tb is not None:
        name = os.path.basename(tb.tb_frame.f_code.co_filename)
        if name in _COMPILING:
            where = " while compiling the spec"
            break
        if tb.tb_frame.f_code.co_name in ("_emit", "_explained"):
            where = " while writing the result"
            break
        tb = tb.tb_next
    why = [str(err)] if str(err) else []
    try:
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            why.append(f"the process's address-space limit, ulimit -v, is {soft >> 20:,} MiB")
    except (AttributeError, ValueError, OSError):     # (no resource module)
        pass
    return f"stopped: out of memory{where}" + (f" ({'; '.join(why)})" if why else "")


def run() -> None:
    """Entry point that also turns a stray Ctrl-C into exit status 3."""
    from .interrupts import first_interrupt_only

    # numpy's OpenBLAS maps a buffer per thread it would use (one per core) when numpy is
    # imported, and ends the process (status 1, "violated") when that fails under an
    # address-space limit; the checker never uses BLAS. Set before numpy is imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    started = time.perf_counter()
    try:
        # Not click's standalone mode: it turns Ctrl-C into "Aborted!" and exit 1, the
        # status of a violated property, before this function could see it.
        with first_interrupt_only(then_ignore=True):
            code = main.main(standalone_mode=False)
    except click.exceptions.Abort as err:
        if not isinstance(err.__context__, KeyboardInterrupt):   # (EOF at a prompt)
            click.echo("Aborted!", err=True)
            sys.exit(1)
        click.echo(f"interrupted after {time.perf_counter() - started:.1f}s", err=True)
        sys.exit(EXIT_LIMIT)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except _OutputClosed:
        # (quietly; and no second failure when Python flushes standard output at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OUTPUT_CLOSED)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted after {time.perf_counter() - started:.1f}s", err=True)
        sys.exit(EXIT_LIMIT)
    except RecursionError:
        click.echo("error: the input is nested too deeply to process", err=True)
        sys.exit(EXIT_INPUT)
    except MemoryError as err:  # a limit (ulimit -v), not a bug: the searches report
        _stop_out_of_memory(err)  # their own with their statistics; this is outside them
    except Exception as err:  # a bug of ours: say so plainly, keep the traceback on request
        from .memory import for_want_of_memory

        if isinstance(err, ImportError) and for_want_of_memory(err):
            _stop_out_of_memory(err)    # (a library that could not be mapped: ulimit -v)
        if os.environ.get("MODELCHECK_DEBUG"):
            raise
        click.echo(f"internal error: {type(err).__name__}: {err}\n{BUG_NOTE}", err=True)
        sys.exit(EXIT_INPUT)
    sys.exit(code if isinstance(code, int) else 0)
