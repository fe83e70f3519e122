"""A proof report (``checker.symbolic.prove_report``) as text or JSON.

The text shows the table of obligations (conjunct by action: ``ok``, ``CTI`` or ``?``),
the sanity checks that catch vacuous proofs, and, for each counterexample to induction,
the pre-state in full, the step, the post-state as a diff, and the verdict on whether the
pre-state is reachable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..result import Status
from ..values import Value, format_value, to_json
from .text import CHANGED_MARK

_RESET = "\x1b[0m"
_STYLES = {"good": "\x1b[1;32m", "bad": "\x1b[1;31m", "warn": "\x1b[1;33m", "head": "\x1b[1m",
           "changed": "\x1b[33m", "dim": "\x1b[2m"}
_CELL = {"ok": ("ok", "good"), "cti": ("CTI", "bad"), "unknown": ("?", "warn")}
MAX_WIDTH = 100


def render_proof(report: Any, *, color: bool = False, header_lines: Sequence[str] = ()) -> str:
    """The report as text (lines joined by newlines, ending with one)."""

    def paint(text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if color else text

    lines: list[str] = list(header_lines)
    if header_lines:
        lines.append("")
    how = "induction" if report.k == 1 else f"{report.k}-induction (with simple-path " \
                                            "constraints)"
    n = len(report.conjuncts)
    lines.append(paint(f"Proof by {how} of {n} conjunct{'s' if n != 1 else ''}: "
                       + ", ".join(report.conjuncts), "head"))
    if report.skipped:
        lines.append("  (transition invariants are not part of the proof: "
                     + ", ".join(report.skipped) + ")")
    lines.append("")
    lines.extend(_table(report, paint))
    lines.append("")
    lines.extend(_sanity(report, paint))
    fragment = getattr(report, "fragment", None)
    if fragment is not None:
        lines.append("")
        lines.append(paint("Quantifier alternation (decidable-fragment check):", "head"))
        lines.extend("  " + x for x in fragment.lines())
    for i, ob in enumerate(report.ctis, start=1):
        lines.append("")
        lines.extend(_cti(report, ob, i, paint))
    unknown = [o for o in report.obligations if o.status == "unknown"]
    if unknown:
        lines.append("")
        lines.append(paint("Inconclusive obligations:", "head"))
        for o in unknown:
            where = "initiation" if o.action == "init" else f"after {o.action}"
            lines.append(f"  {o.conjunct}, {where}: {o.detail}")
    lines.append("")
    lines.append(_verdict(report, paint))
    return "\n".join(lines) + "\n"


def _table(report: Any, paint) -> list[str]:
    actions = ["init", *report.actions]
    cells = {(o.conjunct, o.action): o for o in report.obligations}
    name_w = max([len("conjunct")] + [len(c) for c in report.conjuncts])
    heads = list(actions)
    widths = [max(len(h), 3) for h in heads]
    legend = []
    if name_w + 2 + sum(w + 2 for w in widths) > MAX_WIDTH:
        heads = ["init"] + [str(i) for i in range(1, len(actions))]
        widths = [max(len(h), 3) for h in heads]
        legend = _wrap("  actions: ", [f"{i} = {a}" for i, a in
                                       enumerate(report.actions, start=1)])
    title = "Obligations (ok: holds; CTI: counterexample to induction; ?: unknown):"
    out = [paint(title, "head")]
    out.extend(legend)
    out.append("  " + "conjunct".ljust(name_w) + "  "
               + "  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    for c in report.conjuncts:
        row = []
        for a, w in zip(actions, widths):
            o = cells.get((c, a))
            text, style = _CELL.get(o.status, ("?", "warn")) if o else ("-", "dim")
            row.append(paint(text.ljust(w), style) if o and o.status != "ok" else text.ljust(w))
        out.append("  " + c.ljust(name_w) + "  " + "  ".join(row).rstrip())
    return out


def _wrap(prefix: str, items: list[str]) -> list[str]:
    lines, cur = [], prefix
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if len(cur) + len(text) + 1 > MAX_WIDTH and cur.strip():
            lines.append(cur.rstrip())
            cur = " " * len(prefix)
        cur += text + " "
    lines.append(cur.rstrip())
    return lines


def _sanity(report: Any, paint) -> list[str]:
    out = [paint("Sanity checks (against a vacuous proof):", "head")]
    marks = {"ok": paint("ok     ", "good"), "failed": paint("FAILED ", "bad")}
    fires = [s for s in report.sanity if s.what.startswith("action ")]
    for s in report.sanity:
        if s in fires and all(f.status == "ok" for f in fires):
            continue
        mark = marks.get(s.status, paint("unknown", "warn"))
        out.append(f"  {mark} {s.what}" + (f": {s.detail}" if s.detail else ""))
    if fires and all(f.status == "ok" for f in fires):
        out.append(f"  {marks['ok']} every action can fire from a state satisfying the "
                   f"invariant ({len(fires)} action{'s' if len(fires) != 1 else ''})")
    return out


def _cti(report: Any, ob: Any, i: int, paint) -> list[str]:
    trace = ob.cti.trace if ob.cti is not None else ()
    out = []
    if ob.action == "init":
        out.append(paint(f"Counterexample {i}: {ob.conjunct} fails "
                         + ("in an initial state" if len(trace) == 1 else
                            f"{len(trace) - 1} step(s) from an initial state"), "bad"))
        out.append(f"  Verdict: {ob.verdict}.")
        out.extend(_universe(ob))
        out.extend(_states(trace, paint, first_title="initial state"))
        out.append(f"  {ob.conjunct} is false in the last state.")
        return out
    step = trace[-1] if trace else None
    label = step.label if step is not None else ob.action
    out.append(paint(f"CTI {i}: {ob.conjunct} is not preserved by {label}", "bad"))
    out.append(f"  Verdict: {ob.verdict}.")
    out.extend(_universe(ob))
    if ob.reachable and ob.witness is not None:
        path = " -> ".join(s.label for s in ob.witness[1:]) or "(an initial state)"
        out.append(f"  The pre-state is reached in {len(ob.witness) - 1} step(s): {path}")
    if ob.detail:
        out.append(f"  Note: {ob.detail}")
    title = "pre-state (satisfies every conjunct)"
    if len(trace) > 2:
        title = "first state of the path (every state but the last satisfies every conjunct)"
    out.extend(_states(trace, paint, first_title=title))
    out.append(f"  {ob.conjunct} is false in the post-state.")
    return out


def _universe(ob: Any) -> list[str]:
    """For an unbounded proof's CTI: the finite model's sorts and their elements."""
    lines = getattr(ob, "universe", ())
    return [f"  Model: {line}" for line in lines]


def _states(trace, paint, first_title: str) -> list[str]:
    out = []
    previous: dict[str, Value] | None = None
    for n, step in enumerate(trace, start=1):
        if previous is None:
            out.append(paint(f"  State {n}: {first_title}", "head"))
            out.extend(f"    {k} = {format_value(v)}" for k, v in step.state.items())
        else:
            last = n == len(trace)
            what = "post-state" if last else "state"
            out.append(paint(f"  State {n}: {what} after {step.label} (changed variables "
                             f"only, marked {CHANGED_MARK})", "head"))
            changed = [(k, v) for k, v in step.state.items()
                       if k not in previous or previous[k] != v
                       or format_value(previous[k]) != format_value(v)]
            if not changed:
                out.append("    (no variables changed)")
            for k, v in changed:
                out.append(f"    {paint(CHANGED_MARK + ' ' + k, 'changed')} = {format_value(v)}")
        previous = step.state
    return out


def _verdict(report: Any, paint) -> str:
    r = report.result
    total = len(report.obligations)
    if r.status is Status.OK:
        return paint(f"Proved: the conjunction is inductive ({total} obligations, "
                     f"{report.elapsed_s:.2f} s).", "good")
    if r.status is Status.VIOLATION:
        n = len(report.ctis)
        unreachable = sum(1 for o in report.ctis if o.reachable is False)
        hint = ""
        if getattr(report, "fragment", None) is not None:
            hint = (" Unbounded CTIs: check each with bounded constants (`modelcheck prove` "
                    "without --unbounded, with --const for the sizes shown).")
        elif unreachable == n:
            hint = " Every CTI starts from an unreachable state: add a lemma that rules it out."
        elif any(o.reachable is True for o in report.ctis):
            hint = " Some CTI starts from a reachable state: a real bug, not a weak invariant."
        return paint(f"Not proved: {n} counterexample{'s' if n != 1 else ''} to induction "
                     f"({report.elapsed_s:.2f} s).{hint}", "bad")
    if r.status is Status.LIMIT:
        return paint(f"Inconclusive: {r.limit_reason}.", "warn")
    message = r.violation.message if r.violation is not None else "error"
    return paint(f"Not proved: {message}.", "bad")


# ---------------------------------------------------------------------- JSON
def proof_to_json(report: Any) -> dict:
    """The report as plain JSON data: the keys every engine's result has (``render.json``:
    spec, engine, constants, properties, status, depth, notes, violation: the first CTI,
    ...), then the proof's own: its obligations, each CTI's states, the sanity checks."""
    from .json import result_to_json

    def trace(steps):
        if steps is None:
            return None
        # (as every trace's steps: "action" the step's label, "RMPrepare(r1)"; and its
        # arguments as values)
        return [{"action": s.label, "args": [to_json(a) for a in s.args],
                 "state": {k: to_json(v) for k, v in s.state.items()}} for s in steps]

    out = result_to_json(report.result)
    out.update({
        "k": report.k,
        "conjuncts": list(report.conjuncts),
        "actions": list(report.actions),
        "obligations": [{
            "conjunct": o.conjunct, "action": o.action, "status": o.status,
            "verdict": o.verdict if o.status == "cti" else None,
            "reachable": o.reachable, "detail": o.detail or None,
            "seconds": round(o.seconds, 4),
            "cti": trace(o.cti.trace) if o.cti is not None else None,
            "witness": trace(o.witness),
        } for o in report.obligations],
        "sanity": [{"check": s.what, "status": s.status, "detail": s.detail or None}
                   for s in report.sanity],
        "elapsed_s": round(report.elapsed_s, 4),
    })
    fragment = getattr(report, "fragment", None)
    if fragment is not None:
        out["unbounded"] = {
            "sorts": list(report.sorts), "quorums": list(report.quorums),
            "fixed": list(report.fixed), "decidable": not fragment.cycles,
            "fragment": fragment.lines(),
            "alternations": sorted({f"{e.src} -> {e.dst}" for e in fragment.edges}),
        }
        for o, j in zip(report.obligations, out["obligations"]):
            j["model"] = list(getattr(o, "universe", ())) or None
    return out


def render_proof_json(report: Any) -> str:
    return json.dumps(proof_to_json(report), indent=2)
