"""A ``Result`` as plain text for a terminal: the verdict, why, the counterexample,
statistics.

Under the verdict comes the explanation (``Violation.explanation``, filled by
``checker.explain``): the smallest false part of the property and its values. The
counterexample lists every variable of the first state, then, for each later state,
only the variables that changed (marked ``*``); a changed set or bag also says what was
added and removed (``msgs = {...} (+ P2b(acc=a1, bal=1, val=v2))``), and a long value is
shortened when the change says enough. Colour is optional and made of plain ANSI codes;
with ``color=False`` the output has none.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..result import Result, Stats, Status, Violation
from ..values import BagValue, MapValue, SetValue, Value, format_value

CHANGED_MARK = "*"
WIDTH = 100   # a changed value longer than this is shortened when its change is shown

_RESET = "\x1b[0m"
_STYLES = {
    "good": "\x1b[1;32m",     # bold green
    "bad": "\x1b[1;31m",      # bold red
    "warn": "\x1b[1;33m",     # bold yellow
    "head": "\x1b[1m",        # bold
    "changed": "\x1b[33m",    # yellow
    "dim": "\x1b[2m",
}


def render_text(result: Result, *, color: bool = False,
                header_lines: Sequence[str] = ()) -> str:
    """The result as text (lines joined by newlines, ending with one)."""

    def paint(text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if color else text

    lines: list[str] = list(header_lines)
    if header_lines:
        lines.append("")
    verdict, style = _verdict(result)
    lines.append(paint(verdict, style))
    lines.extend(f"Note: {note}" for note in result.notes)

    v = result.violation
    if v is not None and v.explanation:
        lines.append("")
        lines.extend(_explanation_lines(v, paint))
    if v is not None and v.trace:
        lines.append("")
        lines.extend(_trace_lines(v, paint))

    lines.append("")
    lines.extend(_stats_lines(result, paint))
    return "\n".join(lines) + "\n"


def verdict_line(result: Result) -> str:
    """The first line of the text output (without colour)."""
    return _verdict(result)[0]


def _verdict(result: Result) -> tuple[str, str]:
    s, v = result.stats, result.violation
    status = result.status
    if status is Status.OK:
        if s.distinct_states or s.generated_states:
            return (f"No violation found: {s.distinct_states} distinct states, "
                    f"{s.generated_states} generated, depth {s.depth}.", "good")
        return "No violation found.", "good"
    if status is Status.VIOLATION:
        if v is not None and v.kind == "transition":
            return f"Transition invariant {v.property} is violated.", "bad"
        name = v.property if v is not None else None
        return (f"Invariant {name} is violated." if name else "A property is violated."), "bad"
    if status is Status.DEADLOCK:
        return "Deadlock reached.", "bad"
    if status is Status.LIMIT:
        reason = result.limit_reason or "a limit was reached"
        return f"Stopped: {reason} (partial results below).", "warn"
    if status is Status.ERROR:
        message = v.message if v is not None and v.message else "unknown error"
        return f"Error: {message}", "bad"
    if status is Status.REJECTED:
        if v is not None and v.message:
            return f"Trace rejected: {v.message}", "bad"
        return "Trace rejected.", "bad"
    return f"Status: {status.value}", "warn"  # pragma: no cover (a status added later)


def _trace_lines(v: Violation, paint) -> list[str]:
    n = len(v.trace)
    title = "Path to the error" if v.kind == "error" else "Counterexample"
    count = f"{n} state" + ("" if n == 1 else "s")
    if n > 1:
        count += f"; after state 1, only changed variables are shown, marked {CHANGED_MARK}"
    lines = [paint(f"{title} ({count}):", "head")]
    previous: dict[str, Value] | None = None
    for i, step in enumerate(v.trace, start=1):
        lines.append("")
        title = "initial state" if step.label is None else step.label
        lines.append(paint(f"State {i}: {title}", "head"))
        if previous is None:
            lines.extend(f"  {name} = {format_value(value)}" for name, value in step.state.items())
        else:
            changed = [(name, value) for name, value in step.state.items()
                       if not _same(previous.get(name, _MISSING), value)]
            if not changed:
                lines.append("  (no variables changed)")
            for name, value in changed:
                marked = paint(f"{CHANGED_MARK} {name}", "changed")
                shown, delta = change_text(previous.get(name, _MISSING), value)
                lines.append(f"  {marked} = {shown}" + (paint(f" {delta}", "dim") if delta
                                                         else ""))
        previous = step.state
    lines.append("")
    if v.kind == "deadlock":
        lines.append(f"No action is enabled in state {n}.")
    elif v.kind == "error":
        lines.append(f"The error occurs in state {n}.")
    elif v.kind == "transition" and n > 1:
        lines.append(f"The step to state {n} violates {v.property}.")
    elif v.kind == "invariant":
        lines.append(f"{v.property} is false in state {n}.")
    else:
        lines.pop()
    return lines


_MISSING = object()


def _explanation_lines(v: Violation, paint) -> list[str]:
    lines = list(v.explanation)
    if lines:
        lines[0] = paint(lines[0], "head")
    return lines


def change_text(old: object, new: Value, width: int = WIDTH,
                map_entries: bool = False) -> tuple[str, str]:
    """How a changed variable is shown: its new value (shortened when long and the
    change says what happened) and the change: ``(+ added, - removed)`` for sets and
    bags, ``(k: old -> new)`` for the changed entries of a long map (of any map with
    ``map_entries``)."""
    full = format_value(new)
    if isinstance(new, SetValue) and isinstance(old, SetValue):
        before = set(old.items)
        after = set(new.items)
        added = [x for x in new.items if x not in before]
        removed = [x for x in old.items if x not in after]
        return _with_delta(full, len(new.items), "element", added, removed, width)
    if isinstance(new, BagValue) and isinstance(old, BagValue):
        before_n = dict(old.items)
        after_n = dict(new.items)
        added = [x for x, n in new.items for _ in range(n - before_n.get(x, 0))]
        removed = [x for x, n in old.items for _ in range(n - after_n.get(x, 0))]
        total = sum(n for _, n in new.items)
        return _with_delta(full, total, "element", added, removed, width, "{|", "|}")
    if isinstance(new, MapValue) and isinstance(old, MapValue) and (len(full) > width
                                                                    or map_entries):
        was = dict(old.pairs)
        changes = [f"{format_value(k)}: {format_value(was.get(k))} -> {format_value(x)}"
                   for k, x in new.pairs if k in was and (was[k] != x or format_value(
                       was[k]) != format_value(x))]
        if changes:
            return "{...}", "(" + ", ".join(_at_most(changes)) + ")"
    return full, ""


DELTA_PARTS = 20    # changes listed for one variable; a longer list ends "and N more"


def _at_most(parts: list[str]) -> list[str]:
    """The first DELTA_PARTS changes (a set filled with 15,000 elements in one step
    was listed element by element)."""
    if len(parts) <= DELTA_PARTS:
        return parts
    return [*parts[:DELTA_PARTS], f"and {len(parts) - DELTA_PARTS:,} more"]


def _with_delta(full: str, count: int, noun: str, added, removed, width: int,
                opening: str = "{", closing: str = "}"):
    parts = [f"+ {format_value(x)}" for x in added] + [f"- {format_value(x)}" for x in removed]
    if not parts or (not removed and len(added) == count and len(full) <= width):
        return full, ""   # nothing new to say: the whole value is what was added
    delta = "(" + ", ".join(_at_most(parts)) + ")"
    if len(full) > width:
        full = f"{opening}... {count} {noun}" + ("" if count == 1 else "s") + closing
    return full, delta


def _same(a: object, b: Value) -> bool:
    # 1 == True in Python, so compare the text too: a change from 1 to true is shown.
    return a is not _MISSING and a == b and format_value(a) == format_value(b)


SYMBOLIC_ENGINES = ("bmc", "prove")


def _stats_lines(result: Result, paint) -> list[str]:
    s: Stats = result.stats
    if result.engine in SYMBOLIC_ENGINES:
        # The solver counts no states: say only what it measured.
        rows = [("depth", str(s.depth)), ("time", f"{s.elapsed_s:.3f} s")]
    else:
        rows = [
            ("distinct states", str(s.distinct_states)),
            ("generated states", str(s.generated_states)),
            ("depth", str(s.depth)),
            ("time", f"{s.elapsed_s:.3f} s"),
            ("states per second", f"{s.states_per_s:.0f}"),
            ("peak memory", f"{s.peak_memory_bytes / 2**20:.1f} MiB"),
        ]
    if result.status is Status.LIMIT and result.engine not in ("simulate",
                                                               *SYMBOLIC_ENGINES):  # (no queue)
        rows.append(("states left in queue", str(s.queue_left)))
    width = max(len(label) for label, _ in rows) + 1
    lines = [paint("Statistics:", "head")]
    lines.extend(f"  {label + ':':<{width}} {value}" for label, value in rows)
    return lines
