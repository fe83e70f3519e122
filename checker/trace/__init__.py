"""Trace validation: check logs recorded from real runs against a spec.

    from checker.api import load_spec
    from checker.trace import validate

    result = validate(load_spec("specs/2pc.spec"), "run.jsonl")
    result.status            # Status.OK, REJECTED, VIOLATION (with check_invariants), LIMIT
    report_of(result)        # the structured divergence report (a dict)

See docs/traces.md for the trace format and the mapping file.
"""

import importlib

# Names load on first use, so that a program importing only the recorder
# (checker.trace.recorder) does not pay for the compiler and the parser.
_EXPORTS = {
    "trace_command": "command", "REPORT_PREFIX": "engine", "validate": "engine",
    "validate_many": "engine", "Mapping": "mapping", "load_mapping": "mapping",
    "report_of": "report", "header_constants": "setup", "load_for_traces": "setup",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
