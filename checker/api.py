"""The library's front door: from a spec file (and command-line settings) to a compiled
model. The CLI, the benchmarks and the tests all load specs through here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .compile import CompiledSpec, compile_spec
from .faults import FaultSelectionError, select_faults
from .parser import parse, parse_expression, read_source
from .source import Diagnostic, Source, Span, SpecError
from .typecheck import check

SYMBOL_RANGE = re.compile(r"\{\s*([A-Za-z_]\w*?)(\d+)\s*\.\.\s*([A-Za-z_]\w*?)(\d+)\s*\}")


def expand_symbol_ranges(text: str) -> str:
    """``{r1..r4}`` -> ``{r1, r2, r3, r4}``: the short form of a set of numbered symbols
    that ``--const`` values accept (ValueError for ``{a1..b3}`` or ``{r4..r1}``)."""
    def spelled_out(m: re.Match) -> str:
        p1, a, p2, b = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
        if p1 != p2 or b < a:
            raise ValueError(f"cannot expand {m.group(0)!r}")
        return "{" + ", ".join(f"{p1}{i}" for i in range(a, b + 1)) + "}"
    return SYMBOL_RANGE.sub(spelled_out, text)


def parse_const_assignments(items: Sequence[str]) -> dict[str, Source]:
    """``NAME=VALUE`` strings from ``--const`` into sources to parse."""
    out: dict[str, Source] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not value.strip():
            raise SpecError([Diagnostic(f"--const expects NAME=VALUE, got {item!r}",
                                        Span.unknown())], Source("--const", item))
        if name in out:
            raise SpecError([Diagnostic(f"--const {name} is given more than once; give it "
                                        "once", Span.unknown())], Source("--const", item))
        try:
            value = expand_symbol_ranges(value.strip())
        except ValueError as err:
            raise SpecError([Diagnostic(f"--const {name}: {err}", Span.unknown())],
                            Source("--const", item)) from None
        out[name] = Source(f"--const {name}", value)
    return out


def type_check(spec, source: Source, consts: Mapping[str, str] | Sequence[str] = ()):
    """The parsed ``spec`` type-checked with these constants (``--const``'s NAME=VALUE
    strings, or a mapping): a ``TypedSpec``, or SpecError. (A sweep checks each of its
    values so, without compiling.)"""
    if isinstance(consts, Mapping):
        const_sources = {k: Source(f"--const {k}", str(v)) for k, v in consts.items()}
    else:
        const_sources = parse_const_assignments(consts)
    overrides = {name: parse_expression(src) for name, src in const_sources.items()}
    return check(spec, source, overrides, const_sources)


def load_spec(path: str, consts: Mapping[str, str] | Sequence[str] = (),
              faults: Sequence[str] = (), check_deadlock: bool | None = None,
              max_faults: int | None = None, text: str | None = None) -> CompiledSpec:
    """Parse, type-check and compile a spec; raises SpecError on any input problem."""
    source = Source(path, text) if text is not None else read_source(path)
    typed = type_check(parse(source), source, consts)
    try:
        chosen = select_faults(typed, tuple(faults))
    except FaultSelectionError as err:
        raise SpecError([Diagnostic(str(err), Span.unknown())],
                        Source("--faults", ",".join(faults))) from None
    try:
        compiled = compile_spec(typed, chosen.actions, check_deadlock, max_faults)
    except SpecError as err:
        if err.source is not None:
            raise
        raise SpecError(err.diagnostics, source, err.extra) from None     # (its place)
    return replace(compiled, unmodelled_faults=chosen.unmodelled) if chosen.unmodelled \
        else compiled
