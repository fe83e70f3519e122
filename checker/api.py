"""The library's front door: from a spec file (and command-line settings) to a compiled
model. The CLI, the benchmarks and the tests all load specs through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from .compile import CompiledSpec, compile_spec
from .faults import FaultSelectionError, select_faults
from .parser import parse, parse_expression, read_source
from .source import Diagnostic, Source, Span, SpecError
from .typecheck import check


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
        out[name] = Source(f"--const {name}", value.strip())
    return out


def load_spec(path: str, consts: Mapping[str, str] | Sequence[str] = (),
              faults: Sequence[str] = (), check_deadlock: bool | None = None,
              max_faults: int | None = None, text: str | None = None) -> CompiledSpec:
    """Parse, type-check and compile a spec; raises SpecError on any input problem."""
    source = Source(path, text) if text is not None else read_source(path)
    spec = parse(source)
    if isinstance(consts, Mapping):
        const_sources = {k: Source(f"--const {k}", str(v)) for k, v in consts.items()}
    else:
        const_sources = parse_const_assignments(consts)
    overrides = {name: parse_expression(src) for name, src in const_sources.items()}
    typed = check(spec, source, overrides, const_sources)
    try:
        chosen = select_faults(typed, tuple(faults))
    except FaultSelectionError as err:
        raise SpecError([Diagnostic(str(err), Span.unknown())],
                        Source("--faults", ",".join(faults))) from None
    compiled = compile_spec(typed, chosen.actions, check_deadlock, max_faults)
    return replace(compiled, unmodelled_faults=chosen.unmodelled) if chosen.unmodelled \
        else compiled
