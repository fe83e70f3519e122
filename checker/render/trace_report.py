"""Trace-validation results as text (for a terminal) and JSON (for scripts).

Both read only the Result: the verdict, the witness (the violation's trace) and the
structured report that ``checker.trace`` carries in the Result's notes.
"""

from __future__ import annotations

import json
from typing import Any

from ..result import Result, Status

REPORT_PREFIX = "trace-report: "   # the same as checker.trace.engine.REPORT_PREFIX

_RESET = "\x1b[0m"
_STYLES = {"good": "\x1b[1;32m", "bad": "\x1b[1;31m", "warn": "\x1b[1;33m", "head": "\x1b[1m",
           "changed": "\x1b[33m", "dim": "\x1b[2m"}


def report_of(result: Result) -> dict | None:
    for note in result.notes:
        if note.startswith(REPORT_PREFIX):
            return json.loads(note[len(REPORT_PREFIX):])
    return None


def render_trace_json(result: Result) -> str:
    """One JSON object: the generic result fields, and the trace report under "report"."""
    from .json import result_to_json

    obj = result_to_json(result)
    obj["notes"] = [n for n in result.notes if not n.startswith(REPORT_PREFIX)]
    obj["report"] = report_of(result)
    return json.dumps(obj, indent=2, ensure_ascii=False)


def render_trace_json_many(results: list[tuple[str, Any]]) -> str:
    """Several files: a list of {"file", ...result} or {"file", "error"} objects."""
    from ..source import SpecError

    out = []
    for path, r in results:
        if isinstance(r, SpecError):
            out.append({"file": path, "status": "malformed", "error": r.render()})
        else:
            obj = json.loads(render_trace_json(r))
            out.append({"file": path, **obj})
    return json.dumps(out, indent=2, ensure_ascii=False)


def _cands(ids: list[int], total: int) -> str:
    if total == 1:
        return "the only candidate"
    if len(ids) == total:
        return f"all {total} candidates"
    shown = ", ".join(str(i) for i in ids[:8]) + (", ..." if len(ids) > 8 else "")
    return f"candidate{'s' if len(ids) > 1 else ''} {shown} of {total}"


def render_trace_text(result: Result, *, color: bool = False, verbose: bool = False) -> str:
    """The verdict, the divergence report and the witness, as text ending with a newline."""

    def paint(text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if color else text

    rep = report_of(result) or {}
    lines: list[str] = []
    status = result.status
    v = result.violation
    files = ", ".join(rep.get("files", [])) or result.spec
    if status is Status.OK:
        fig = rep.get("figures", {})
        n = fig.get("events", 0)
        end = rep.get("candidates_at_end", 1)
        lines.append(paint(f"Trace accepted: {files}: {n} event{'s' if n != 1 else ''} "
                           f"match {result.spec}.", "good"))
        if end > 1:
            lines.append(f"  {end} spec states agree with the whole trace (it leaves "
                         f"{', '.join(rep.get('differing_variables', {})) or 'something'} "
                         "open).")
    elif status is Status.REJECTED:
        lines.append(paint(f"Trace rejected: {files}", "bad"))
        lines.extend(_rejected_lines(rep, v, paint, verbose))
    elif status is Status.VIOLATION:
        lines.append(paint(f"Invariant {v.property if v else '?'} is violated along the trace: "
                           f"{files}", "bad"))
        if v and v.message:
            lines.append(f"  {v.message}")
        if rep.get("witness"):
            lines.append("")
            lines.extend(_witness_lines(rep["witness"], paint, "Witness"))
    elif status is Status.LIMIT:
        lines.append(paint(f"Stopped: {result.limit_reason} ({files})", "warn"))
        lines.extend(_limit_lines(rep))
    elif status is Status.ERROR:
        lines.append(paint(f"Error: {v.message if v else 'unknown error'}", "bad"))
        if rep.get("witness"):
            lines.append("")
            lines.extend(_witness_lines(rep["witness"], paint, "Path to the error"))
    for note in rep.get("notes", []):
        lines.append(f"Note: {note}")
    fig = rep.get("figures")
    if fig:
        lines.append("")
        rate = fig.get("events_per_s")
        lines.append(paint("Statistics:", "head"))
        lines.append(f"  events matched:       {fig['events_matched']} of {fig['events']}")
        lines.append(f"  most candidates:      {fig['max_candidates']}"
                     + (f" (after event {fig['max_candidates_at']})"
                        if fig.get("max_candidates_at") else ""))
        lines.append(f"  candidate evaluations: {fig['evaluations']}")
        if verbose:
            lines.append(f"  time:                 {fig['elapsed_s']:.3f} s"
                         + (f" ({rate:,.0f} events/s)" if rate else ""))
    return "\n".join(lines) + "\n"


def _event_lines(ev: dict) -> list[str]:
    read = ev.get("read_as", {})
    out = [f"  raw:     {ev['raw'] if len(ev['raw']) <= 300 else ev['raw'][:300] + ' ...'}"]
    alts = read.get("alternatives", [])
    shown = []
    for alt in alts:
        shown.append(" then ".join(
            s["action"] + ("(" + ", ".join(f"{k}={x}" for k, x in s["args_text"].items()) + ")"
                           if s["args_text"] else "") for s in alt))
    by = read.get("read_by")
    rule = f"rule {read['rule']}" if by == "rule" else \
        "an ITF state" if by == "itf" else "no rule: the event's name is an action's name"
    if len(shown) > 6:
        shown = shown[:6] + [f"... ({len(alts)} alternatives)"]
    what = " or ".join(shown) if shown else ("no step (skipped)" if read.get("skip") else "-")
    out.append(f"  read as: {what}   ({rule})")
    for key, title in (("observed_before", "before"), ("observed_after", "after")):
        obs = read.get(key + "_text")
        if obs:
            text = ", ".join(f"{k} {x}" if k.endswith(" contains") else f"{k} = {x}"
                             for k, x in obs.items())
            out.append(f"  observed {title}: {text if len(text) <= 400 else text[:400] + ' ...'}")
    if read.get("unchanged"):
        out.append(f"  unchanged: {', '.join(read['unchanged'])}")
    if read.get("silent_allowed"):
        out.append(f"  silent actions allowed before it: {', '.join(read['silent_allowed'])}")
    return out


def _rejected_lines(rep: dict, v, paint, verbose: bool) -> list[str]:
    out: list[str] = []
    ev = rep.get("event")
    if rep.get("initial"):
        out.append(f"  {v.message if v else 'rejected at the initial state'}")
    elif ev:
        out.append(f"  rejected at event {ev['number']} of {ev['of']} ({ev['file']}:{ev['line']})")
        out.extend(_event_lines(ev))
    # 2. how sure
    out.append("")
    out.append(paint("How sure:", "head"))
    n = rep.get("candidates_before", 0)
    tried = rep.get("candidates_tried", n)
    text = f"  {n} candidate state{'s' if n != 1 else ''} before this event"
    if rep.get("initial"):
        text = f"  The spec has {n} initial state{'s' if n != 1 else ''}"
    elif tried != n:
        text += f" ({tried} with silent steps)"
    out.append(text + ".")
    last = rep.get("last_single")
    if last is not None and not rep.get("initial"):
        if ev and last["event"] == ev["number"] - 1:
            out.append("  The previous event left exactly one candidate: the divergence is "
                       "certain.")
        elif last["event"] == 0:
            out.append("  The last point with exactly one candidate: the initial state.")
        else:
            out.append(f"  The last event with exactly one candidate: event {last['event']} "
                       f"({last['where']}).")
    elif not rep.get("initial"):
        out.append("  There was never exactly one candidate.")
    if rep.get("differing_variables"):
        out.append("  The candidates differ in: " + ", ".join(
            f"{k} ({' / '.join(vals)})"
            for k, vals in rep["differing_variables"].items()))
    # 4. why
    why = rep.get("why") or []
    if why:
        out.append("")
        out.append(paint("Why nothing matched:", "head"))
        for g in why[:12]:
            out.extend(_why_lines(g))
        if len(why) > 12:
            out.append(f"  ... and {len(why) - 12} more reasons")
    # 5. nearest miss
    nm = rep.get("nearest_miss")
    if nm:
        out.append("")
        out.append(paint("Nearest miss:", "head"))
        cand = f"candidate {nm['candidate']}" if n > 1 else "the candidate"
        if rep.get("initial"):
            cand = f"initial state {nm['candidate']}" if n > 1 else "the initial state"
        if nm.get("kind") == "observation" or "differences" in nm and "steps" in nm:
            steps = " then ".join(nm.get("steps") or []) or "(no step)"
            head = f"{steps} from {cand}" if not rep.get("initial") else \
                f"{cand[0].upper()}{cand[1:]} of the spec"
            k = len(nm["differences"])
            out.append(f"  {head}: {k} observed value"
                       f"{'s differ' if k != 1 else ' differs'}:")
            for d in nm["differences"]:
                out.append(f"    {d['place']}: expected {d['expected_text']}, found "
                           f"{d['found_text']}")
        elif nm.get("kind") == "guard":
            args = nm.get("args") or [nm.get("action")]
            line = f" (spec line {nm['line']})" if nm.get("line") else ""
            out.append(f"  {args[0]} from {cand}: only {nm['reason']}{line}")
        else:
            for d in nm.get("differences", []):
                out.append(f"    {d['place']}: expected {d['expected_text']}, found "
                           f"{d['found_text']}")
    # 6. hints
    hints = rep.get("hints") or []
    if hints:
        out.append("")
        out.append(paint("Hints:", "head"))
        out.extend(f"  - {h}" for h in hints)
    # 3. witness
    wit = rep.get("witness") or []
    if wit:
        out.append("")
        last_ev = ev["number"] - 1 if ev else 0
        title = (f"Witness: a behaviour of the spec matching events 1-{last_ev}"
                 if last_ev > 1 else "Witness: a behaviour of the spec matching event 1"
                 if last_ev == 1 else "Witness: the initial state")
        out.extend(_witness_lines(wit, paint, title))
    return out


def _why_lines(g: dict) -> list[str]:
    total = g.get("candidates_total", len(g["candidates"]))
    who = _cands(g["candidates"], total)
    args = g.get("args") or []
    action = g.get("action")
    if args:
        head = ", ".join(args[:4]) + (f", ... ({len(args)} argument combinations)"
                                      if len(args) > 4 else "")
    else:
        head = action or "the event"
    line = f" (spec line {g['line']})" if g.get("line") else ""
    out = [f"  - {head}, in {who}: {g['reason']}{line}"]
    for c in g.get("conditions", []):
        if len(g.get("conditions", [])) > 1:
            out.append(f"      {c['condition']} is false")
        for part, value in c["values"].items():
            out.append(f"      {part} = {value}")
    for d in g.get("differences", []):
        out.append(f"      {d['place']}: expected {d['expected_text']}, found {d['found_text']}")
    return out


def _witness_lines(wit: list[dict], paint, title: str) -> list[str]:
    out = [paint(f"{title} ({len(wit)} state{'s' if len(wit) != 1 else ''}; after the first, "
                 "only changed variables are shown, marked *):", "head")]
    for i, step in enumerate(wit, start=1):
        if step.get("initial"):
            head = "initial state"
        else:
            where = f"event {step['event']}" + (f" ({step['where']})" if step.get("where") else "")
            head = f"{step['action']}  <- " + ("silent step before " if step.get("silent")
                                               else "") + where
        out.append(f"  State {i}: {head}")
        if "state" in step:
            out.extend(f"    {k} = {x}" for k, x in step["state_text"].items())
        else:
            changed = step.get("changed_text", {})
            if not changed:
                out.append("    (no variables changed)")
            out.extend(f"    {paint('* ' + k, 'changed')} = {x}" for k, x in changed.items())
    return out


def _limit_lines(rep: dict) -> list[str]:
    out = []
    ev = rep.get("event")
    if ev:
        out.extend(_event_lines(ev))
    sizes = rep.get("sizes")
    if sizes:
        out.append(f"  candidates after the last events: {', '.join(map(str, sizes))}")
    for h in rep.get("hints", []):
        out.append(f"  - {h}")
    return out


def verdict_line(result: Result) -> str:
    return render_trace_text(result).splitlines()[0]

