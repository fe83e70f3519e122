"""Sweeps: the same check for a range of one constant's values, as a table and a chart.

Each value is checked in a fresh process (so that each row's peak memory is its own),
in order; the sweep stops at the first value whose check does not pass (a violation,
or a limit: larger values would only be worse). ``write_svg`` draws distinct states and
time against the value (hand-written SVG, no plotting library).

Ctrl-C stops a sweep as it stops a check, losing nothing: the value being checked gets
a row with status "interrupted" (with what its check explored, when the check could say;
its counts are None, unknown, otherwise), and the chart is written for the values
checked to the end.

Values are given as spec text; ``parse_sweep("N=2..6")`` expands the short forms (at
most MAX_VALUES values, none empty, none twice):

* ``2..6``: the integers 2 to 6;
* ``a|b|c``: the values listed;
* ``{r1..r4}``: shorthand for ``{r1, r2, r3, r4}`` inside any value;
* ``3..6`` for a constant whose default is a set of numbered symbols (``RM = {r1, r2,
  r3}``): the sets of 3 to 6 such symbols, ``{r1, r2, r3}`` to ``{r1, .., r6}``.

Which ``--const`` is swept is decided by the constant's type in the spec
(``split_consts``, ``plain_constants``): a range or list sweeps an integer, a boolean, an
enum or symbol value, or a set of symbols; for any other constant (a set of integers,
say) ``1..3`` or ``a | b`` is the constant's one value, as for ``check``.

Every value is type-checked with the spec before the first check (``check_values``): a
misspelt last value must not cost the checks before it.
"""

from __future__ import annotations

import html
import math
import multiprocessing as mp
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter

from .output_file import (
    OTHER_IMAGE_FORMATS,
    OutputFileError,
    check_writable,
    write_atomically,
)
from .result import Result, Status
from .source import BUG_NOTE

_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
class SweepError(ValueError):
    """Bad sweep input (shown after ``error: ``)."""


class PointError(SweepError):
    """One value's check could not run. The message is complete, ready to print as it
    is: a spec error comes with its file, line, source text and caret, and names its own
    place, so no ``error:`` prefix is added to it. ``internal``: a bug of the checker's
    (not the input's), which the message says as the command line says its own."""

    def __init__(self, message: str, located: bool = True, internal: bool = False):
        super().__init__(message)
        self.located = located
        self.internal = internal
        self.rows: list[SweepRow] = []     # the rows checked before it
        self.value: str | None = None      # the value whose check could not run
        self.refused = False               # found by check_values: nothing was checked


MAX_VALUES = 1000       # in one sweep


INTERRUPTED = "interrupted"     # the status of a row whose check Ctrl-C stopped


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during a value's check, with what the check reported (None: nothing)."""

    def __init__(self, result: Result | None, wall: float):
        super().__init__()
        self.result = result
        self.wall = wall


@dataclass(frozen=True)
class SweepRow:
    """One value's check. The counts are None (null in JSON, ``-`` in the table) when
    unknown: a check that Ctrl-C stopped before it could report, or before it began."""

    value: str
    status: str                 # Status.value (ok, violation, deadlock, limit, error), or
                                # "interrupted"
    distinct: int | None
    generated: int | None
    depth: int | None
    elapsed_s: float | None     # the search's own time
    wall_s: float | None        # including compiling the spec and starting the process
    peak_memory_bytes: int | None
    result: Result | None = None

    def as_dict(self) -> dict:
        return {"value": self.value, "status": self.status, "distinct_states": self.distinct,
                "generated_states": self.generated, "depth": self.depth,
                "elapsed_s": _rounded(self.elapsed_s), "wall_s": _rounded(self.wall_s),
                "peak_memory_bytes": self.peak_memory_bytes}


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


def expand_symbols(text: str) -> str:
    """``{r1..r4}`` -> ``{r1, r2, r3, r4}`` (``api.expand_symbol_ranges``)."""
    from .api import expand_symbol_ranges

    try:
        return expand_symbol_ranges(text)
    except ValueError as err:
        raise SweepError(str(err)) from None


def parse_values(text: str, default=None) -> list[str]:
    """The values of one sweep (see the module docstring); ``default`` is the
    constant's value in the spec (a readable value), used for the set-size form."""
    text = text.strip()
    if not text:
        raise SweepError("no values to sweep")
    m = _RANGE.match(text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi < lo:
            raise SweepError(f"empty range {text!r}")
        if hi - lo + 1 > MAX_VALUES:
            raise SweepError(f"range {text!r} has more than {MAX_VALUES} values")
        prefix = _symbol_prefix(default)
        if prefix is not None:
            return [_numbered_set(prefix, k) for k in range(lo, hi + 1)]
        return [str(i) for i in range(lo, hi + 1)]
    # (in a list too, a number stands for a set of that many symbols: RM=2|4 as RM=2..4)
    items = [v.strip() for v in text.split("|")]
    if not any(items):
        raise SweepError(f"no values to sweep in {text!r}")
    if not all(items):      # (a stray |: a value left out by mistake, perhaps)
        raise SweepError(f"an empty value in {text!r}: remove the extra | or give the value")
    if len(items) > MAX_VALUES:
        raise SweepError(f"list {text!r} has more than {MAX_VALUES} values")
    prefix = _symbol_prefix(default)
    values = [_numbered_set(prefix, int(v)) if prefix is not None and _INT.fullmatch(v)
              else expand_symbols(v) for v in items]
    _refuse_repeats(values, items, text)
    return values


def _refuse_repeats(values: Sequence[str], items: Sequence[str], text: str) -> None:
    """A value given twice would only be checked twice, for the same row again."""
    seen: dict[str, str] = {}
    for value, item in zip(values, items):
        key = re.sub(r"\s+", "", value)
        if key not in seen:
            seen[key] = item
            continue
        first = seen[key]
        what = (f"the value {item} is" if re.sub(r"\s+", "", first) == re.sub(r"\s+", "", item)
                else f"{first} and {item} are the same value,")
        raise SweepError(f"{what} given twice in {text!r}: give each value once")


_INT = re.compile(r"-?\d+")


def _numbered_set(prefix: str, size: int) -> str:
    """``{r1, .., rN}``: the set-size form, for a constant whose spec value is a set of
    numbered symbols."""
    if size < 1:
        raise SweepError(f"a set of symbols needs at least one, not {size}")
    return "{" + ", ".join(f"{prefix}{i}" for i in range(1, size + 1)) + "}"


def _symbol_prefix(default) -> str | None:
    from .values import SetValue

    if not isinstance(default, SetValue) or not default.items:
        return None
    prefixes = set()
    for item in default.items:
        if not isinstance(item, str):
            return None
        m = re.fullmatch(r"([A-Za-z_]\w*?)(\d+)", item)
        if not m:
            return None
        prefixes.add(m.group(1))
    return prefixes.pop() if len(prefixes) == 1 else None


def parse_sweep(item: str, defaults: dict | None = None) -> tuple[str, list[str]]:
    """``NAME=VALUES`` -> (name, values)."""
    name, sep, rest = item.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise SweepError(f"--const expects NAME=VALUES, e.g. N=2..6, got {item!r}")
    if not any(v.strip() for v in rest.split("|")):
        raise SweepError(f"no values to sweep in {item.strip()!r}")
    return name, parse_values(rest, (defaults or {}).get(name))


def _is_list(value: str) -> bool:
    """A range or list of values: ``..`` or ``|`` outside the ``{r1..r4}`` shorthand."""
    from .api import SYMBOL_RANGE

    rest = SYMBOL_RANGE.sub("{}", value)
    return ".." in rest or "|" in rest


def plain_constants(path: str) -> dict[str, str]:
    """The constants of the spec at ``path`` whose one value may contain ``..`` or ``|``
    (a set of integers, a map, ...), each with what it is ("a set of integers"); a
    range or list given for any other constant sweeps it. Read from the values the spec
    gives: a constant without one (or whose value is wrong) is not listed. Raises
    SpecError when the spec cannot be read or parsed."""
    from . import types as T
    from .parser import parse, read_source
    from .source import SpecError
    from .typecheck import Checker

    source = read_source(path)
    checker = Checker(parse(source), source)
    try:
        checker.check()
    except SpecError:
        pass            # (reported when the spec is compiled; the types found are kept)
    plain = {}
    for name, (_, t) in checker.consts.items():
        if isinstance(t, (T.IntT, T.BoolT, T.EnumT, T.SymT)):
            continue
        if isinstance(t, T.SetT):
            if isinstance(t.elem, T.SymT):
                continue
            plain[name] = ("a set of integers" if isinstance(t.elem, T.IntT)
                           else "an empty set" if isinstance(t.elem, T.AnyT) else "a set")
        else:
            plain[name] = {T.MapT: "a map", T.SeqT: "a sequence", T.BagT: "a bag",
                           T.OptionT: "an optional value"}.get(type(t), f"a {t}")
    return plain


def split_consts(items: Sequence[str], plain: dict[str, str] | None = None
                 ) -> tuple[str, list[str]]:
    """The ``--const`` items of a sweep -> (the swept ``NAME=VALUES``, the fixed
    ``NAME=VALUE`` items, the ``{r1..r4}`` shorthand expanded). The swept one is the one
    range or list (``..`` or ``|``) given for a constant not in ``plain``
    (``plain_constants``: there, ``1..3`` is the constant's one value). No constant may
    be given twice: a fixed value for the swept constant would be silently replaced."""
    plain = plain or {}
    by_name: dict[str, list[str]] = {}
    for item in items:
        by_name.setdefault(item.partition("=")[0].strip(), []).append(item)
    for name, given in by_name.items():
        if len(given) > 1:
            ranges = [_is_list(c.partition("=")[2]) for c in given]
            how = ("as a range or list and as a fixed value"
                   if any(ranges) and not all(ranges) and name not in plain
                   else "more than once")
            raise SweepError(f"constant {name} is given {how}; give it once")
    swept = [c for c in items if _is_list(c.partition("=")[2])
             and c.partition("=")[0].strip() not in plain]
    if len(swept) > 1:
        raise SweepError("sweep one constant at a time: "
                         + " and ".join(f"--const {c}" for c in swept)
                         + " each give a range or list of values (give the others as one "
                         "value)")
    if not swept:
        for item in items:
            if "=" in item and not item.partition("=")[2].strip():
                raise SweepError(f"no values to sweep in {item.strip()!r}")
        hints = []
        for item in items:
            name, _, value = (x.strip() for x in item.partition("="))
            if name in plain and _is_list(value):
                hints.append(f"{name}={value} is one value ({name} is {plain[name]})")
            elif name not in plain and _INT.fullmatch(value):
                hints.append(f"to check {name}={value} alone, give {name}={value}..{value}")
        raise SweepError("sweep needs a --const NAME=VALUES with a range or list of values "
                         "(e.g. N=2..6)" + "".join(f"; {h}" for h in hints))
    fixed = []
    for item in items:
        if item is not swept[0]:
            name, sep, value = item.partition("=")
            fixed.append(f"{name}{sep}{expand_symbols(value)}")
    return swept[0], fixed


def check_chart_path(path: str) -> None:
    """Raise SweepError now if the chart could not be written to ``path``, so that a long
    sweep does not end with nowhere to put its chart. The chart is SVG: a name that
    promises another format (``chart.png``) is refused rather than filled with SVG."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in OTHER_IMAGE_FORMATS:
        raise SweepError(f"{path}: the chart is written as SVG, not {suffix[1:].upper()}; "
                         "name it FILE.svg")
    try:
        check_writable(path, "chart")
    except OutputFileError as err:
        raise SweepError(str(err)) from None


def check_values(recipe, name: str, values: Sequence[str]) -> None:
    """Type-checks the spec (a ``ModelSpec``) with each value, as ``check --const`` does,
    before the first check: a value that cannot be used (``x``, ``true`` for a number)
    would otherwise be found only when the sweep reached it, after the checks before it.
    A value that fails only in the search is still found by its check. Raises PointError
    (``refused``) for the first bad value, its message the located spec error."""
    from .api import type_check
    from .parser import parse
    from .source import Source, SpecError

    source = Source(recipe.path, recipe.text)
    fixed = [c for c in recipe.consts if c.partition("=")[0].strip() != name]
    spec = None
    for value in values:
        try:
            spec = spec or parse(source)
            type_check(spec, source, [*fixed, f"{name}={value}"])
        except SpecError as err:
            error = PointError(err.render().rstrip("\n"))
            error.value, error.refused = value, True
            raise error from None


# --------------------------------------------------------------------------- running

def _check(recipe, engine: str, options: dict) -> Result:
    if engine == "explicit":
        from .explore import explore

        model, canonical = recipe.build()
        return explore(model, canonical=canonical, **options)
    if engine == "compact":
        from .fingerprints import explore_compact

        return explore_compact(recipe, **options)
    if engine == "parallel":
        from .parallel import explore_parallel

        return explore_parallel(recipe, **options)
    raise ValueError(f"unknown engine {engine!r}")


def _child(conn, recipe, engine, options) -> None:
    try:
        started = perf_counter()
        result = _check(recipe, engine, options)
        conn.send(("ok", result, perf_counter() - started))
    except KeyboardInterrupt:       # before the search could catch it (while compiling)
        conn.send((INTERRUPTED, None, 0.0))
    except BaseException as err:  # noqa: BLE001 (reported to the parent)
        from .source import SpecError

        if isinstance(err, SpecError):
            conn.send(("spec", err.render().rstrip("\n"), 0.0))
        else:           # a bug of ours: its traceback on request, as the command line's
            if os.environ.get("MODELCHECK_DEBUG"):
                traceback.print_exc()
                sys.stderr.flush()
            conn.send(("bug", f"{type(err).__name__}: {err}", 0.0))
    finally:
        conn.close()


# After Ctrl-C, how long the child is given to report what it explored: a terminal's
# SIGINT reaches it too, otherwise it is sent one after SIGNAL_AFTER_S; it is terminated
# after GRACE_S.
SIGNAL_AFTER_S = 2.0
GRACE_S = 10.0


def run_isolated(recipe, engine: str = "explicit", options: dict | None = None
                 ) -> tuple[Result | None, float]:
    """Runs one check in a child process; (result, wall seconds). The result's peak
    memory is the child's. Raises PointError when the check could not run. Ctrl-C raises
    a KeyboardInterrupt whose ``result`` is what the child reported by then (its
    interrupted result: what it explored), or None when it could not report in time."""
    options = options or {}
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = mp.get_context(method)
    parent, child = ctx.Pipe(duplex=False)
    started = perf_counter()
    proc = ctx.Process(target=_child, args=(child, recipe, engine, options), daemon=False)
    wait = GRACE_S          # for the child to end once it has reported
    interrupted = False
    try:
        proc.start()
        child.close()
        try:
            message = parent.recv()
        except KeyboardInterrupt:
            interrupted = True
            message = _after_interrupt(parent, proc)
            if message is None:
                wait = 0.5
        except EOFError:
            proc.join()
            raise PointError(f"the check stopped unexpectedly (exit {proc.exitcode})",
                             located=False) from None
    except BaseException:
        wait = 0.5
        raise
    finally:
        if proc.pid is not None:
            _reap(proc, wait)
        parent.close()
    wall = perf_counter() - started
    if interrupted:
        ok = message is not None and message[0] == "ok"
        raise _Interrupted(message[1] if ok else None, wall)
    status, value, _ = message
    if status == "ok":
        return value, wall
    if status == INTERRUPTED:       # the child alone was sent SIGINT
        return None, wall
    raise PointError(value, located=status == "spec", internal=status == "bug")


def _after_interrupt(parent, proc) -> tuple | None:
    """The child's message after Ctrl-C, or None: it is given GRACE_S to report."""
    started = perf_counter()
    signalled = False
    try:
        while perf_counter() - started < GRACE_S:
            if parent.poll(0.05):
                return parent.recv()
            if not proc.is_alive():
                return parent.recv() if parent.poll(0) else None
            if not signalled and perf_counter() - started >= SIGNAL_AFTER_S:
                signalled = True            # it did not get the terminal's SIGINT
                os.kill(proc.pid, signal.SIGINT)
    except (KeyboardInterrupt, EOFError, OSError):   # a second Ctrl-C: stop waiting
        pass
    return None


def _reap(proc, wait: float) -> None:
    """Waits ``wait`` seconds for the child to end, then terminates it."""
    try:
        proc.join(wait)
    except KeyboardInterrupt:
        pass
    if proc.is_alive():
        proc.terminate()
        proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _row(value: str, result: Result | None, wall: float | None) -> SweepRow:
    """``result`` None: a check stopped by Ctrl-C before it could say what it explored
    (its counts are unknown, not 0); ``wall`` None: nor how long it ran."""
    if result is None:
        return SweepRow(value, INTERRUPTED, None, None, None, None, wall, None, None)
    s = result.stats
    status = result.status.value
    if result.status is Status.LIMIT and result.limit_reason == INTERRUPTED:
        status = INTERRUPTED
    return SweepRow(value, status, s.distinct_states, s.generated_states, s.depth,
                    s.elapsed_s, wall, s.peak_memory_bytes, result)


def charted(rows: Sequence[SweepRow]) -> list[SweepRow]:
    """The rows the chart shows: those checked to the end (not the interrupted one)."""
    return [r for r in rows if r.status != INTERRUPTED]


def sweep(recipe_factory, name: str, values: Sequence[str], *, engine: str = "explicit",
          options: dict | None = None, isolate: bool = True, chart: str | None = None,
          on_row: Callable[[SweepRow], None] | None = None) -> list[SweepRow]:
    """Checks ``recipe_factory(value)`` for each value in order and returns a row per
    value checked, stopping after the first that does not pass. ``recipe_factory`` may
    also be a ``ModelSpec``, whose constant ``name`` is then set to each value.
    ``engine``: "explicit", "compact" or "parallel" (``options`` are its keyword
    arguments). ``chart``: where to write the SVG chart (of the rows checked to the end;
    not written when there is none). ``on_row`` sees each row as soon as it is done.

    Ctrl-C ends the sweep with a last row whose status is "interrupted". A value whose
    check cannot run (a spec error, or a bug: ``internal``) raises PointError, after the
    chart of the rows before it is written; its ``rows`` are those rows. Given a
    ``ModelSpec``, every value is type-checked first (``check_values``), so that a bad
    value stops the sweep before any check."""
    if not values:
        raise SweepError("no values to sweep")
    if not callable(recipe_factory):
        check_values(recipe_factory, name, values)
        spec = recipe_factory
        def recipe_factory(v, spec=spec):
            return spec.with_const(name, v)
    rows: list[SweepRow] = []
    value = values[0]
    try:
        for value in values:
            row = _row(value, *_run_one(recipe_factory(value), engine, options, isolate))
            rows.append(row)
            if on_row is not None:
                on_row(row)
            if row.status != Status.OK.value:
                break
    except KeyboardInterrupt as err:
        wall = getattr(err, "wall", None)       # (None: not in a check)
        if isinstance(err, _Interrupted) and err.result is not None:
            _add_if_going_on(rows, values, err.result, wall, on_row)   # what it explored
            wall = None
        # (and when that check had just finished, the next value is the interrupted one)
        _add_if_going_on(rows, values, None, wall, on_row)
    except PointError as err:
        if err.internal:
            note = (BUG_NOTE if not os.environ.get("MODELCHECK_DEBUG") else
                    "This is a bug in modelcheck; please report it, with the traceback above.")
            err = PointError(f"internal error while checking {name} = {value}: {err}\n"
                             f"{note}", located=False, internal=True)
        elif not err.located:
            err = PointError(f"error: checking {name} = {value}: {err}", located=False)
        err.rows = rows
        err.value = value
        _write_chart(rows, name, chart)
        raise err from None
    _write_chart(rows, name, chart)
    return rows


def _add_if_going_on(rows: list[SweepRow], values: Sequence[str], result: Result | None,
                     wall: float | None, on_row: Callable[[SweepRow], None] | None) -> None:
    """After Ctrl-C: the row of the value the sweep was at (rows are recorded in order),
    unless the sweep had stopped or finished already."""
    if (rows and rows[-1].status != Status.OK.value) or len(rows) == len(values):
        return
    rows.append(_row(values[len(rows)], result, wall))
    if on_row is not None:
        on_row(rows[-1])


def _run_one(recipe, engine: str, options: dict | None, isolate: bool
             ) -> tuple[Result | None, float]:
    if isolate:
        return run_isolated(recipe, engine, options)
    from .source import SpecError

    started = perf_counter()
    try:
        result = _check(recipe, engine, options or {})
    except SpecError as err:
        raise PointError(err.render().rstrip("\n")) from None
    return result, perf_counter() - started


def _write_chart(rows: Sequence[SweepRow], name: str, chart: str | None) -> None:
    drawn = charted(rows)
    if chart is not None and drawn:
        write_svg(drawn, name, chart)


def format_table(rows: Sequence[SweepRow], name: str) -> str:
    """The rows as an aligned text table."""
    head = (f"{name:<24} {'status':<11} {'distinct':>12} {'generated':>13} {'depth':>6} "
            f"{'time s':>9} {'peak MiB':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{_short(r.value, 24):<24} {r.status:<11} {_cell(r.distinct, ','):>12} "
                     f"{_cell(r.generated, ','):>13} {_cell(r.depth, ''):>6} "
                     f"{_cell(r.elapsed_s, '.2f'):>9} "
                     f"{_cell(_mib(r.peak_memory_bytes), '.1f'):>9}")
    return "\n".join(lines)


def _cell(number: float | None, spec: str) -> str:
    """A table cell; ``-`` for a count that is not known."""
    return "-" if number is None else format(number, spec)


def _mib(size: int | None) -> float | None:
    return None if size is None else size / 2**20


def _short(text: str, width: int) -> str:
    text = _compress(text)
    return text if len(text) <= width else text[: width - 2] + ".."


def _compress(text: str) -> str:
    """``{r1, r2, r3, r4}`` -> ``{r1..r4}`` (numbered symbols in a row)."""
    m = re.fullmatch(r"\{\s*([^{}]*)\}", text.strip())
    if not m:
        return text
    items = [x.strip() for x in m.group(1).split(",") if x.strip()]
    parts = [re.fullmatch(r"([A-Za-z_]\w*?)(\d+)", x) for x in items]
    if len(items) < 3 or not all(parts):
        return text
    prefix = {p.group(1) for p in parts}
    nums = [int(p.group(2)) for p in parts]
    if len(prefix) != 1 or nums != list(range(nums[0], nums[0] + len(nums))):
        return text
    pre = prefix.pop()
    return f"{{{pre}{nums[0]}..{pre}{nums[-1]}}}"


# --------------------------------------------------------------------------- the chart

_W, _H = 720, 400
_L, _R, _T, _B = 80, 80, 48, 72       # margins


def svg_chart(rows: Sequence[SweepRow], name: str) -> str:
    """An SVG line chart: distinct states (left axis; logarithmic when they span more
    than two orders of magnitude) and search time in seconds (right axis) against the
    swept value."""
    if not rows:
        raise SweepError("nothing to chart")
    pw, ph = _W - _L - _R, _H - _T - _B
    n = len(rows)

    def x(i: int) -> float:
        return _L + (pw * (i + 0.5) / n)

    states = [max(r.distinct, 0) for r in rows]
    times = [max(r.elapsed_s, 0.0) for r in rows]
    positive = [s for s in states if s > 0]
    log = bool(positive) and max(positive) / min(positive) > 100
    if log:
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(max(max(positive), 10)))
        span = math.log10(hi) - math.log10(lo)

        def ys(v: float) -> float:
            v = max(v, lo)
            return _T + ph - ph * (math.log10(v) - math.log10(lo)) / span
        s_ticks = [lo * 10 ** k for k in range(int(round(span)) + 1)]
    else:
        hi = _nice(max(states) or 1)

        def ys(v: float) -> float:
            return _T + ph - ph * v / hi
        s_ticks = [hi * k / 4 for k in range(5)]
    t_hi = _nice(max(times) or 1.0)

    def yt(v: float) -> float:
        return _T + ph - ph * v / t_hi
    t_ticks = [t_hi * k / 4 for k in range(5)]

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="12">',
           f'<title>modelcheck sweep over {html.escape(name)}</title>',
           f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>',
           f'<text x="{_W / 2}" y="22" text-anchor="middle" font-size="15">'
           f'States and time against {html.escape(name)}</text>',
           f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for v in s_ticks:
        y = ys(v)
        out.append(f'<line x1="{_L - 4}" y1="{y:.1f}" x2="{_L + pw}" y2="{y:.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{_L - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#1f5fa8">'
                   f'{_fmt_count(v)}</text>')
    for v in t_ticks:
        y = yt(v)
        out.append(f'<text x="{_L + pw + 8}" y="{y + 4:.1f}" fill="#c0392b">{v:g}</text>')
    for i, r in enumerate(rows):
        out.append(f'<text x="{x(i):.1f}" y="{_T + ph + 18}" text-anchor="middle">'
                   f'{html.escape(_short(r.value, 18))}</text>')
        if r.status != "ok":
            out.append(f'<text x="{x(i):.1f}" y="{_T + ph + 34}" text-anchor="middle" '
                       f'fill="#c0392b">{html.escape(r.status)}</text>')
    out.append(f'<text x="{_L + pw / 2}" y="{_H - 14}" text-anchor="middle">'
               f'{html.escape(name)}</text>')
    out.append(f'<text x="18" y="{_T + ph / 2}" text-anchor="middle" fill="#1f5fa8" '
               f'transform="rotate(-90 18 {_T + ph / 2})">distinct states'
               f'{" (log scale)" if log else ""}</text>')
    out.append(f'<text x="{_W - 18}" y="{_T + ph / 2}" text-anchor="middle" fill="#c0392b" '
               f'transform="rotate(90 {_W - 18} {_T + ph / 2})">search time (s)</text>')
    for series, y, color in ((states, ys, "#1f5fa8"), (times, yt, "#c0392b")):
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                   'stroke-width="2"/>')
        for i, v in enumerate(series):
            shown = _fmt_count(v) if series is states else f"{v:.2f} s"
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                       f'<title>{html.escape(rows[i].value)}: {shown}</title></circle>')
    lx = _L + 10
    out.append(f'<line x1="{lx}" y1="{_T + 12}" x2="{lx + 20}" y2="{_T + 12}" '
               'stroke="#1f5fa8" stroke-width="2"/>')
    out.append(f'<text x="{lx + 26}" y="{_T + 16}">distinct states</text>')
    out.append(f'<line x1="{lx}" y1="{_T + 30}" x2="{lx + 20}" y2="{_T + 30}" '
               'stroke="#c0392b" stroke-width="2"/>')
    out.append(f'<text x="{lx + 26}" y="{_T + 34}">search time (s)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(rows: Sequence[SweepRow], name: str, path: str) -> None:
    """Writes the chart atomically, so a failure leaves no half-written chart (SweepError
    says why)."""
    try:
        write_atomically(path, svg_chart(rows, name), "chart")
    except OutputFileError as err:
        raise SweepError(str(err)) from None


def _nice(v: float) -> float:
    """A round number at least ``v`` (1, 2 or 5 times a power of ten)."""
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def _fmt_count(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"
