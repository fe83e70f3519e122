"""Reading trace files into records: one JSON object per event, with where it came from.

JSON Lines is the main format; the mapping says how to select trace lines out of a
general log (a prefix to drop, non-JSON lines to ignore, a filter on a field). Several
files (one log per node) are merged into one order by sequence number, timestamp or
vector clock. Every problem with the input is a SpecError with the file, line and
column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..source import Diagnostic, Source, Span, SpecError
from .mapping import MISSING, Mapping, get_path


@dataclass(slots=True)
class Record:
    """One line of a trace file that is a trace event (or a header)."""

    file: str
    line: int                 # 1-based
    column: int               # where the JSON starts on the line (1-based)
    raw: str                  # the line as written (without the newline)
    obj: dict
    file_index: int = 0
    header: bool = False
    order: dict[str, Any] = field(default_factory=dict)


def error(message: str, file: str, text: str | None, line: int, column: int = 1,
          notes: tuple[str, ...] = (), end: int | None = None) -> SpecError:
    span = Span(line, column, line if end else None, end)
    return SpecError([Diagnostic(message, span, notes=notes)],
                     Source(file, text if text is not None else ""))


def read_text(path: str) -> str:
    from ..output_file import reading

    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        reading(path)       # (no output of this run may replace it)
        # (a byte-order mark, as some Windows tools write: not part of the first line)
        return text[1:] if text.startswith("\ufeff") else text
    except FileNotFoundError:
        raise error("no such trace file", path, None, 0) from None
    except UnicodeDecodeError as err:
        raise error(f"the trace file is not UTF-8 text ({err.reason} at byte {err.start})",
                    path, None, 0) from None
    except OSError as err:
        raise error(f"cannot read the trace file: {err.strerror}", path, None, 0) from None


def long_integer(text: str) -> tuple[int, int, int] | None:
    """(line, column, digits) of an integer too long for Python to read (``json.loads``
    raises a plain ValueError for more than 4300 digits), or None."""
    import sys

    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300
    m = re.search(rf"\d{{{limit + 1},}}", text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    return line, m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1, len(m.group())


def is_itf(path: str, text: str) -> bool:
    if path.endswith((".itf.json", ".itf")):
        return True
    head = text.lstrip()[:1]
    if head != "{":
        return False
    stripped = text.strip()
    # One JSON document with "states": ITF (spread over several lines as Apalache writes
    # it, or on one line as Quint does; one line that is an event is not one).
    if '"states"' in text:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return False
        except ValueError:  # (an integer too long to read: read_itf says where)
            return "\n" in stripped
        return isinstance(doc, dict) and isinstance(doc.get("states"), list) and \
            ("\n" in stripped or "event" not in doc)
    return False


def read_records(path: str, mapping: Mapping, file_index: int = 0,
                 text: str | None = None, limit: int | None = None) -> list[Record]:
    """The trace lines of one JSON Lines file, in file order (headers included); with
    ``limit``, only the first that many."""
    if text is None:
        text = read_text(path)
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines.pop()
    prefix = re.compile(mapping.prefix) if mapping.prefix else None
    out: list[Record] = []
    skipped = 0
    loads = json.loads
    plain = prefix is None and not mapping.json_start
    header_field, event_field = mapping.fields.header, mapping.fields.event
    filters = mapping.filters
    for i, raw in enumerate(lines, start=1):
        if limit is not None and len(out) >= limit:
            break
        if raw.endswith("\r"):
            raw = raw[:-1]
        if plain and raw[:1] == "{":
            # The common case: a line that is one JSON object, nothing around it.
            try:
                obj = loads(raw)
            except ValueError:  # (not JSON, or an integer too long: said below)
                obj = None
            if type(obj) is dict:
                if filters and not all(f.accepts(obj) for f in filters):
                    continue
                rec = Record(path, i, 1, raw, obj, file_index)
                if get_path(obj, header_field) is not MISSING and \
                        get_path(obj, event_field) is MISSING:
                    rec.header = True
                out.append(rec)
                continue
        if not raw.strip():
            continue
        start = 0
        if prefix is not None:
            m = prefix.match(raw)
            if m:
                start = m.end()
            elif mapping.ignore_non_json:
                skipped += 1
                continue
        if mapping.json_start:
            j = raw.find("{", start)
            if j < 0:
                if mapping.ignore_non_json:
                    skipped += 1
                    continue
                raise error("no JSON object on this line", path, text, i, start + 1)
            start = j
        body = raw[start:]
        lead = len(body) - len(body.lstrip())
        body = body.strip()
        col = start + lead + 1
        if not body.startswith("{"):
            if mapping.ignore_non_json:
                skipped += 1
                continue
            raise error("this line is not a JSON object", path, text, i, col,
                        notes=("a trace line is one JSON object; to skip other lines, set "
                               "input.ignore_non_json = true in a mapping file",))
        try:
            obj = json.loads(body)
        except ValueError as err:
            if not isinstance(err, json.JSONDecodeError):
                big = long_integer(body)
                at = col + big[1] - 1 if big else col
                raise error(f"this line has an integer of {big[2] if big else 'too many'} "
                            "digits, too long to read (and outside every type of the spec)",
                            path, text, i, at) from None
            if mapping.ignore_non_json:
                skipped += 1
                continue
            last = i == len(lines)
            if last and not ends_with_newline and err.pos >= len(body) - 1 or \
                    last and not ends_with_newline and "Unterminated" in err.msg:
                raise error("the last line is truncated (it ends before its JSON object "
                            "does; was the file still being written?)", path, text, i,
                            col + err.pos) from None
            raise error(f"this line is not valid JSON: {err.msg}", path, text, i,
                        col + err.pos) from None
        if not isinstance(obj, dict):
            if mapping.ignore_non_json:
                continue
            raise error("this line is not a JSON object", path, text, i, col)
        if mapping.filters and not all(f.accepts(obj) for f in mapping.filters):
            continue
        rec = Record(path, i, col, raw, obj, file_index)
        if get_path(obj, mapping.fields.header) is not MISSING and \
                get_path(obj, mapping.fields.event) is MISSING:
            rec.header = True
        out.append(rec)
    return out


# ----------------------------------------------------------------------- ordering
def _clock(rec: Record, mapping: Mapping) -> dict | None:
    for name in mapping.fields.clock:
        v = get_path(rec.obj, name)
        if v is not MISSING:
            if not isinstance(v, dict) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                  for x in v.values()):
                raise error(f"the vector clock {name!r} must be an object of node -> "
                            "counter", rec.file, None, rec.line, rec.column)
            return v
    return None


def _number(rec: Record, name: str) -> Any:
    v = get_path(rec.obj, name)
    if v is MISSING:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise error(f"the ordering field {name!r} must be a number or a string", rec.file,
                    None, rec.line, rec.column)
    return v


def order_records(files: Sequence[list[Record]], mapping: Mapping) -> list[Record]:
    """One sequence of events from one or more files, in the mapping's order."""
    events = [[r for r in recs if not r.header] for recs in files]
    order = mapping.order
    if order == "auto":
        if len(files) == 1:
            return list(events[0])
        flat = [r for recs in events for r in recs]
        # Sequence numbers are often per node: across logs, prefer clocks and timestamps.
        if flat and all(_clock(r, mapping) is not None for r in flat):
            order = "clock"
        elif flat and all(_number(r, mapping.fields.ts) is not None for r in flat):
            order = "ts"
        elif flat and all(_number(r, mapping.fields.seq) is not None for r in flat):
            order = "seq"
        else:
            missing = next((r for r in flat if _number(r, mapping.fields.ts) is None), None)
            where = f" ({missing.file}:{missing.line} has none)" if missing else ""
            raise error("cannot merge several logs: every event needs a sequence number "
                        f"({mapping.fields.seq}), a timestamp ({mapping.fields.ts}) or a vector "
                        f"clock ({'/'.join(mapping.fields.clock)}){where}", files[0][0].file
                        if files and files[0] else "<traces>", None, 0)
    if order == "file":
        return [r for recs in events for r in recs]
    if order in ("ts", "seq"):
        name = mapping.fields.ts if order == "ts" else mapping.fields.seq
        flat = [r for recs in events for r in recs]
        for r in flat:
            key = _number(r, name)
            if key is None:
                raise error(f"this event has no {name!r} field to order by", r.file, None,
                            r.line, r.column)
            r.order[order] = key
        try:
            return sorted(flat, key=lambda r: (r.order[order], r.file_index, r.line))
        except TypeError:
            raise error(f"the {name!r} fields mix numbers and strings", flat[0].file, None,
                        0) from None
    return _merge_by_clock(events, mapping)


def _merge_by_clock(events: Sequence[list[Record]], mapping: Mapping) -> list[Record]:
    """Repeatedly take, among the next event of each log, one that nothing else still
    waiting happened before (ties: timestamp, then file order)."""
    clocks = {}
    for recs in events:
        for r in recs:
            c = _clock(r, mapping)
            if c is None:
                raise error("this event has no vector clock to order by", r.file, None, r.line,
                            r.column)
            clocks[id(r)] = c
    heads = [0] * len(events)
    out: list[Record] = []

    def before(a: dict, b: dict) -> bool:
        return all(a.get(k, 0) <= b.get(k, 0) for k in a) and a != b

    while True:
        ready = [(k, events[k][heads[k]]) for k in range(len(events)) if heads[k] < len(events[k])]
        if not ready:
            return out
        minimal = [(k, r) for k, r in ready
                   if not any(before(clocks[id(o)], clocks[id(r)]) for j, o in ready if j != k)]
        if not minimal:  # pragma: no cover (a cycle is impossible with vector clocks)
            minimal = ready

        def key(item):
            k, r = item
            ts = _number(r, mapping.fields.ts)
            return (ts is None, ts if isinstance(ts, (int, float)) else 0, k)
        k, r = min(minimal, key=key)
        out.append(r)
        heads[k] += 1
