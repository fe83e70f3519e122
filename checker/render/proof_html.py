"""A proof report (``modelcheck prove``) as one self-contained HTML page, and its
counterexamples to induction as ITF documents: the formats every other engine's result
has, made from the same report as the text and JSON.

The page: the verdict; the report the text output prints (the obligations, the sanity
checks, every CTI in words); then for each CTI its states as a table (the pre-state, the
step, the post-state, changed values highlighted) with a sequence diagram of the step,
and the path to the pre-state when it is reachable. A teacher can hand it out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from ..compile import CompiledSpec
from ..result import Result
from .html import diagram_section, page, states_table, verdict_badge, with_ids_suffixed
from .proof import render_proof


def render_proof_html(report: Any, compiled: CompiledSpec | None = None, *,
                      header_lines: Sequence[str] = ()) -> str:
    """The page for ``report`` (a ``ProofReport``); ``compiled`` draws the diagrams."""
    text = render_proof(report, header_lines=header_lines).rstrip("\n")
    verdict = text.splitlines()[-1]
    sections = [f'<section id="why"><h2>Report</h2><pre class="why">{escape(text)}</pre>'
                "</section>"]
    for i, ob in enumerate(report.ctis, start=1):
        sections.append(_cti_section(report, ob, i, compiled))
    header = verdict_badge(report.result, verdict) + (
        f'<div class="meta">engine: prove &middot; conjuncts: '
        f'{escape(", ".join(report.conjuncts))}</div>')
    return page(f"{report.spec}: {verdict}", report.spec, header, sections)


def cti_title(ob: Any, i: int) -> str:
    """"CTI 2: Consistent is not preserved by RMRcvCommitMsg(r2)", as the text says it."""
    trace = ob.cti.trace if ob.cti is not None else ()
    if ob.action == "init":
        return f"Counterexample {i}: {ob.conjunct} fails from an initial state"
    label = trace[-1].label if trace else ob.action
    return f"CTI {i}: {ob.conjunct} is not preserved by {label}"


def _cti_section(report: Any, ob: Any, i: int, compiled: CompiledSpec | None) -> str:
    trace = ob.cti.trace if ob.cti is not None else ()
    parts = [f'<section id="cti-{i}"><h2>{escape(cti_title(ob, i))}</h2>',
             f"<p>Verdict: {escape(ob.verdict)}.</p>"]
    universe = getattr(ob, "universe", ())
    if universe:
        parts.append('<p class="notes">' + "<br>".join(f"Model: {escape(x)}" for x in universe)
                     + "</p>")
    if trace:
        note = f"{ob.conjunct} is false here"
        first = "initial state" if ob.action == "init" else "pre-state"
        if compiled is not None and not universe:   # (an unbounded CTI's elements are
            # not the constants' the diagram draws lifelines for)
            parts.append(_demoted(diagram_section(compiled, trace, report.spec, note,
                                                  first), i))
        parts.append(_demoted(states_table(trace, "invariant", first), i))
    if ob.reachable and ob.witness is not None and len(ob.witness) > 1:
        parts.append(f"<p>The pre-state is reachable: a path of {len(ob.witness) - 1} "
                     "step(s) to it.</p>")
        path = states_table(ob.witness, "path").replace(' id="states"', ' id="path"')
        parts.append(_demoted(path, i))
    parts.append("</section>")
    return "\n".join(parts)


def _demoted(section: str, i: int) -> str:
    """A part of CTI i's section: its ids made diagram-i, states-i, path-i, ... (one
    per page), its heading one level down."""
    return with_ids_suffixed(section, str(i)).replace("<h2>", "<h3>").replace("</h2>", "</h3>")


def cti_itf(report: Any, compiled: CompiledSpec) -> Any:
    """The CTIs as ITF: one document (a two-state trace, pre-state and post-state) when
    there is one CTI, else an object from each CTI's title to its document; None when
    there is none."""
    from ..itf import write_itf

    docs = {}
    for i, ob in enumerate(report.ctis, start=1):
        if ob.cti is None or not ob.cti.trace:
            continue
        title = cti_title(ob, i)
        result = Result("prove", report.spec, report.result.status,
                        dict(report.constants), violation=ob.cti)
        docs[title] = write_itf(result, compiled, description=f"prove: {title} "
                                f"({ob.verdict})")
    if not docs:
        return None
    return next(iter(docs.values())) if len(docs) == 1 else docs
