"""A ``Result`` as one JSON object, for scripts and CI.

Keys come in a fixed order; values are those of the result (nothing is recomputed except
``states_per_s``, which is ``Stats.states_per_s``). Readable values use
``values.to_json``: sets and sequences as lists, maps and records as objects, messages
with a "tag" key, none as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..result import Result, TraceStep, Violation
from ..values import to_json


def render_json(result: Result) -> str:
    """The result as exactly one JSON object (indented, no trailing newline)."""
    return json.dumps(result_to_json(result), indent=2, ensure_ascii=False, allow_nan=False)


def result_to_json(result: Result) -> dict[str, Any]:
    """The JSON-ready dict behind ``render_json`` (plain dicts, lists and scalars)."""
    stats = result.stats
    return {
        "spec": result.spec,
        "engine": result.engine,
        "constants": {name: to_json(v) for name, v in result.constants.items()},
        "properties": list(result.properties),
        "symmetry": list(result.symmetry),
        "status": result.status.value,
        "distinct_states": stats.distinct_states,
        "generated_states": stats.generated_states,
        "depth": stats.depth,
        "elapsed_s": _number(stats.elapsed_s, 6),
        "states_per_s": _number(stats.states_per_s, 1),
        "peak_memory_bytes": stats.peak_memory_bytes,
        # states found and not yet expanded when a limit stopped the search (0 otherwise)
        "queue_left": stats.queue_left,
        "limit_reason": result.limit_reason,
        "notes": list(result.notes),
        "violation": None if result.violation is None else _violation(result.violation),
    }


def _violation(v: Violation) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "property": v.property,
        "message": v.message,
        "explanation": list(v.explanation),
        "trace": [_step(s) for s in v.trace],
    }


def _step(step: TraceStep) -> dict[str, Any]:
    return {
        "action": step.label,
        "state": {name: to_json(value) for name, value in step.state.items()},
    }


def _number(x: float, digits: int) -> float | None:
    return round(x, digits) if math.isfinite(x) else None
