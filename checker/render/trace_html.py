"""Trace-validation outcomes as one self-contained HTML page (``trace --format html`` or
``--report FILE.html``): for each trace, its verdict, the report ``trace`` prints (where
the log diverges and why), the sequence diagram and the states of its witness (the
behaviour the log matched, up to the divergence), and the figures.

Like ``checker.render.html``, which it builds on, it reads only the Results."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from html import escape

from ..compile import CompiledSpec
from ..result import Result
from ..source import SpecError
from .html import meta_line, page, result_sections, verdict_badge, with_ids_suffixed
from .trace_report import REPORT_PREFIX, render_trace_text, verdict_line

Outcome = Result | SpecError


def render_trace_html(outcomes: Sequence[tuple[str, Outcome]],
                      compiled: CompiledSpec | None = None, *, verbose: bool = False) -> str:
    """The page for the traces (label, outcome) validated against ``compiled``."""
    spec = compiled.model.name if compiled is not None else "trace validation"
    sections = []
    for k, (label, outcome) in enumerate(outcomes, start=1):
        sections.append(_section(k, label, outcome, compiled, verbose, len(outcomes) > 1))
    if len(outcomes) == 1:
        label, outcome = outcomes[0]
        verdict = _verdict(outcome)
        title = f"{spec}: {verdict}"
        header = _badge(outcome, "verdict")
        header += f'<div class="meta">trace: {escape(label)}{_meta(outcome)}</div>'
    else:
        counts: dict[str, int] = {}
        for _, o in outcomes:
            key = "malformed" if isinstance(o, SpecError) else o.status.value
            counts[key] = counts.get(key, 0) + 1
        summary = f"{len(outcomes)} traces: " + ", ".join(f"{n} {k}" for k, n in counts.items())
        title = f"{spec}: {summary}"
        worst = "ok" if set(counts) == {"ok"} else (
            "warn" if set(counts) <= {"ok", "limit"} else "bad")
        header = f'<div class="verdict {worst}" id="verdict">{escape(summary)}</div>'
    return page(title, spec, header, sections)


def _badge(outcome: Outcome, ident: str) -> str:
    if isinstance(outcome, Result):
        return verdict_badge(outcome, _verdict(outcome), ident)
    return f'<div class="verdict bad" id="{ident}">{escape(_verdict(outcome))}</div>'


def _verdict(outcome: Outcome) -> str:
    if isinstance(outcome, SpecError):
        return "malformed: the trace file cannot be read"
    return verdict_line(outcome)


def _meta(outcome: Outcome) -> str:
    if not isinstance(outcome, Result):
        return ""
    # (the report's own note is the report shown below)
    notes = tuple(n for n in outcome.notes if not n.startswith(REPORT_PREFIX))
    return " &middot; " + meta_line(dataclasses.replace(outcome, notes=notes))


def _section(k: int, label: str, outcome: Outcome, compiled: CompiledSpec | None,
             verbose: bool, several: bool) -> str:
    parts = [f'<section id="trace-{k}">']
    if several:
        parts.append(f"<h2>{escape(label)}</h2>")
        parts.append(_badge(outcome, f"verdict-{k}"))
    if isinstance(outcome, SpecError):
        parts.append(f'<pre class="why">{escape(outcome.render())}</pre>')
    else:
        report = render_trace_text(outcome, verbose=verbose)
        sections = result_sections(outcome, compiled, why=report.rstrip("\n"), stats=False)
        body = "\n".join(sections)
        if several:
            body = with_ids_suffixed(body, str(k))
        parts.append(body)
    parts.append("</section>")
    return "\n".join(parts)

