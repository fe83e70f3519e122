"""Trace validation: check logs recorded from real runs against a spec.

    from checker.api import load_spec
    from checker.trace import validate

    result = validate(load_spec("specs/2pc.spec"), "run.jsonl")
    result.status            # Status.OK, REJECTED, VIOLATION (with check_invariants), LIMIT
    report_of(result)        # the structured divergence report (a dict)

See docs/traces.md for the trace format and the mapping file.
"""

from .command import trace_command
from .engine import REPORT_PREFIX, validate, validate_many
from .mapping import Mapping, load_mapping
from .report import report_of
from .setup import header_constants, load_for_traces

__all__ = ["REPORT_PREFIX", "Mapping", "header_constants", "load_for_traces", "load_mapping",
           "report_of", "trace_command", "validate", "validate_many"]
