"""``modelcheck trace SPEC TRACE_FILE...``: everything but the option parsing, so that the
CLI stays a thin wrapper (and this is testable without click).

Exit status: 0 every trace accepted; 1 some trace rejected, or (with
``--check-invariants``) an accepted prefix violates an invariant; 2 malformed input (a
trace file, the mapping, the spec, an option) or an evaluation error in the spec; 3 the
candidate cap was reached (and nothing worse happened).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..result import Result, Status
from ..source import SpecError

EXIT_OK, EXIT_REJECTED, EXIT_INPUT, EXIT_LIMIT = 0, 1, 2, 3


def exit_code(outcomes: Sequence[Result | SpecError]) -> int:
    codes = set()
    for o in outcomes:
        if isinstance(o, SpecError) or o.status is Status.ERROR:
            codes.add(EXIT_INPUT)
        elif o.status in (Status.REJECTED, Status.VIOLATION, Status.DEADLOCK):
            codes.add(EXIT_REJECTED)
        elif o.status is Status.LIMIT:
            codes.add(EXIT_LIMIT)
    for code in (EXIT_INPUT, EXIT_REJECTED, EXIT_LIMIT):
        if code in codes:
            return code
    return EXIT_OK


def trace_command(spec: str, traces: Sequence[str], *, consts: Sequence[str] = (),
                  mapping: str | None = None, fmt: str = "text",
                  check_invariants: bool = False, merge: bool = False,
                  max_candidates: int = 1_000_000, processes: int | None = None,
                  faults: Sequence[str] = (), max_faults: int | None = None,
                  color: bool | None = None,
                  verbose: bool = False, report: str | None = None,
                  out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate ``traces`` against ``spec`` and print the outcome; returns the exit status.

    ``merge``: the files are per-node logs of one run (merged by clock, timestamp or
    sequence number) rather than separate runs. ``fmt``: text, json, itf (the witness
    of each trace as an ITF document: the matched behaviour, or the behaviour up to the
    divergence) or html (one page for every trace; ``report`` writes it to a file as
    well)."""
    from ..render.trace_report import render_trace_json, render_trace_text
    from .engine import validate, validate_many
    from .mapping import load_mapping
    from .report import report_of
    from .setup import load_for_traces

    out = out or sys.stdout
    err = err or sys.stderr
    if fmt not in ("text", "json", "itf", "html"):
        print(f"error: unknown format {fmt!r} (text, json, itf or html)", file=err)
        return EXIT_INPUT
    if not traces:
        print("error: no trace file given", file=err)
        return EXIT_INPUT
    if report is not None:
        from ..render.html import ReportError, check_report_path

        try:
            check_report_path(report)       # before the validation, not after it
        except ReportError as e:
            print(f"error: --report: {e}", file=err)
            return EXIT_INPUT
    try:
        m = load_mapping(mapping)
        compiled = load_for_traces(spec, list(traces), consts, m, faults, max_faults)
    except SpecError as e:
        print(e.render(), file=err)
        if fmt == "json":       # (as every command: a document on standard output)
            print(json.dumps(e.json_document("trace"), indent=2, ensure_ascii=False),
                  file=out)
        return EXIT_INPUT
    want_itf = fmt == "itf"
    labels: list[str]
    outcomes: list[Result | SpecError]
    if merge or len(traces) == 1:
        labels = [" + ".join(traces)]
        try:
            outcomes = [validate(compiled, list(traces) if merge else traces[0], m,
                                 check_invariants=check_invariants,
                                 max_candidates=max_candidates, itf=want_itf)]
        except SpecError as e:
            outcomes = [e]
    else:
        labels = list(traces)
        outcomes = validate_many(compiled, list(traces), m, check_invariants=check_invariants,
                                 max_candidates=max_candidates, processes=processes,
                                 itf=want_itf)

    if report is not None or fmt == "html":
        from ..render.trace_html import render_trace_html

        page = render_trace_html(list(zip(labels, outcomes)), compiled, verbose=verbose)
        if report is not None:
            from ..render.html import ReportError, write_report

            try:
                write_report(report, page)
            except ReportError as e:
                print(f"error: --report: {e}", file=err)
                return EXIT_INPUT
    if fmt == "html":
        out.write(page)
    elif fmt == "json":
        items = []
        for label, o in zip(labels, outcomes):
            if isinstance(o, SpecError):
                items.append({"file": label, "status": "malformed", "error": o.render(),
                              "diagnostics": o.to_json()["diagnostics"]})
            else:
                items.append({"file": label, **json.loads(render_trace_json(o))})
        print(json.dumps(items[0] if len(items) == 1 else items, indent=2,
                         ensure_ascii=False), file=out)
    elif fmt == "itf":
        docs: dict[str, Any] = {}
        for label, o in zip(labels, outcomes):
            if isinstance(o, SpecError):
                print(o.render(), file=err)
                continue
            rep = report_of(o) or {}
            if "itf" in rep:
                docs[label] = rep["itf"]
            else:
                print(f"{label}: no witness ({o.status.value})", file=err)
        if docs:
            doc = next(iter(docs.values())) if len(labels) == 1 else docs
            print(json.dumps(doc, indent=2, ensure_ascii=False), file=out)
    else:
        use_color = out.isatty() if color is None and hasattr(out, "isatty") else bool(color)
        first = True
        for o in outcomes:
            if isinstance(o, SpecError):
                print(o.render(), file=err)
                continue
            if not first:
                print(file=out)
            first = False
            out.write(render_trace_text(o, color=use_color, verbose=verbose))
        if len(outcomes) > 1:
            counts: dict[str, int] = {}
            for o in outcomes:
                key = "malformed" if isinstance(o, SpecError) else o.status.value
                counts[key] = counts.get(key, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in counts.items())
            print(f"\n{len(outcomes)} traces: {summary}", file=out)
    return exit_code(outcomes)

