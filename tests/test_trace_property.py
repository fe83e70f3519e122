"""Properties of trace validation on the shipped specs.

* Every path the explicit engine can take (random walks over ``model.steps``), written
  out as JSON Lines at any level of detail, is accepted.
* Mutating one event of such a trace gives the verdict of a naive reference validator
  (sets of states, ``model.steps`` and ``model.decode``, nothing of checker.trace); when
  the mutated event is impossible after the events before it, the trace is rejected
  exactly at that event.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checker.api import load_spec
from checker.render.trace_report import render_trace_text
from checker.result import Status
from checker.trace import report_of, validate
from checker.values import to_json

ROOT = Path(__file__).resolve().parent.parent
# Every shipped spec, with its fault actions switched on (faults are steps like any other).
SPEC_PATHS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.spec"))
MAIN = ["specs/2pc.spec", "specs/paxos.spec"]
LEVELS = ("names", "args", "state", "partial")
CAP = 20_000           # candidates; beyond, the reference validator is too slow to compare


@cache
def spec(path: str):
    return load_spec(str(ROOT / path), faults=("all",))


def walk(compiled, choices: list[int]) -> list:
    """A path of the explicit engine: (Step, state before) pairs."""
    m = compiled.model
    s = m.initial_states()[0]
    out = []
    for c in choices:
        steps = m.steps(s)
        if not steps:
            break
        step = steps[c % len(steps)]
        out.append((step, s))
        s = step.state
    return out


def params(compiled, action: str) -> list[str]:
    a = next(a for a in compiled.typed.actions if a.name == action)
    return [b.local.name for b in a.params]


def to_events(compiled, path, level: str) -> list[dict]:
    events = []
    for step, _ in path:
        ev: dict = {"event": step.action}
        if level != "names":
            ev["args"] = {p: to_json(v) for p, v in zip(params(compiled, step.action), step.args)}
        if level == "state":
            ev["state"] = {k: to_json(v) for k, v in compiled.model.decode(step.state).items()}
        if level == "partial":
            first = compiled.model.variables[0]
            ev["state"] = {first: to_json(compiled.model.decode(step.state)[first])}
        events.append(ev)
    return events


def write(tmp_path: Path, name: str, events: list[dict]) -> str:
    p = tmp_path / name
    p.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(p)


class TooMany(Exception):  # noqa: N818
    pass


def reference(compiled, events: list[dict]) -> int | None:
    """The number of the event where the naive validator's frontier becomes empty."""
    m = compiled.model
    frontier = set(m.initial_states())
    for i, ev in enumerate(events, start=1):
        if len(frontier) > CAP:
            raise TooMany()
        names = params(compiled, ev["event"])
        want = ev.get("args", {})
        new = set()
        for s in frontier:
            for step in m.steps(s):
                if step.action != ev["event"]:
                    continue
                got = dict(zip(names, (to_json(a) for a in step.args)))
                if any(got[k] != v for k, v in want.items()):
                    continue
                if "state" in ev:
                    d = {k: to_json(v) for k, v in m.decode(step.state).items()}
                    if any(d[k] != v for k, v in ev["state"].items()):
                        continue
                new.add(step.state)
        if not new:
            return i
        frontier = new
    return None


def rejected_at(result) -> int | None:
    if result.status is Status.OK:
        return None
    assert result.status is Status.REJECTED, (result.status, result.limit_reason,
                                              result.violation)
    msg = result.violation.message
    assert msg.startswith("rejected at event "), msg
    return int(msg.split()[3])


SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
MAIN_SETTINGS = settings(SETTINGS, max_examples=30)


def check_accepted(tmp_path, path, choices, level):
    compiled = spec(path)
    walk_ = walk(compiled, choices)
    events = to_events(compiled, walk_, level)
    if not events:
        return
    result = validate(compiled, write(tmp_path, "t.jsonl", events), max_candidates=CAP)
    assume(result.status is not Status.LIMIT)
    assert result.status is Status.OK, result.violation and result.violation.message
    if level == "state" and compiled.max_faults is None:
        assert result.stats.distinct_states == 1  # full states: one candidate at a time


def check_mutated(tmp_path, path, choices, level, data):
    compiled = spec(path)
    path_ = walk(compiled, choices)
    events = to_events(compiled, path_, level)
    if not events:
        return
    k = data.draw(st.integers(0, len(events) - 1))
    ev = dict(events[k])
    kind = data.draw(st.sampled_from(["action", "args", "state"]))
    actions = [a.name for a in compiled.typed.actions]
    if kind == "action" or (kind == "args" and not ev.get("args")) or \
            (kind == "state" and "state" not in ev):
        others = [a for a in actions if a != ev["event"]]
        if not others:
            return
        ev["event"] = data.draw(st.sampled_from(others))
        ev.pop("args", None)
    elif kind == "args":
        name = data.draw(st.sampled_from(sorted(ev["args"])))
        # Another value of the same parameter, from some other step of the walk or spec.
        pool = [to_json(v) for step, _ in path_ for p, v in
                zip(params(compiled, step.action), step.args) if p == name]
        pool += [to_json(x.args[i]) for x in compiled.model.steps(path_[k][1])
                 for i, p in enumerate(params(compiled, x.action)) if p == name]
        pool = [v for v in pool if v != ev["args"][name]]
        if not pool:
            return
        ev["args"] = {**ev["args"], name: data.draw(st.sampled_from(pool))}
    else:
        var = data.draw(st.sampled_from(sorted(ev["state"])))
        pool = [to_json(compiled.model.decode(s)[var]) for s in
                [t for _, t in path_] + [x.state for _, t in path_
                                         for x in compiled.model.steps(t)]]
        pool = [v for v in pool if v != ev["state"][var]]
        if not pool:
            return
        ev["state"] = {**ev["state"], var: data.draw(st.sampled_from(pool))}
    mutated = events[:k] + [ev] + events[k + 1:]
    try:
        expected = reference(compiled, mutated)
        impossible = reference(compiled, mutated[:k + 1]) is not None
    except TooMany:
        return
    result = validate(compiled, write(tmp_path, "m.jsonl", mutated), max_candidates=CAP)
    assume(result.status is not Status.LIMIT)
    got = rejected_at(result)
    assert got == expected
    if got is not None:
        # The divergence report is built for every spec's rejections, and says where.
        text = render_trace_text(result)
        assert f"rejected at event {got} of {len(mutated)}" in text
        rep = report_of(result)
        assert rep["why"] or rep["event"]["read_as"]["alternatives"] == []
    if impossible:
        # The mutated event is impossible after the (unchanged, accepted) events before it:
        # rejected exactly there.
        assert got == k + 1


CHOICES = st.lists(st.integers(0, 1000), min_size=1, max_size=14)
SHORT = st.lists(st.integers(0, 1000), min_size=1, max_size=8)


@pytest.mark.parametrize("path", MAIN)
@MAIN_SETTINGS
@given(choices=CHOICES, level=st.sampled_from(LEVELS))
def test_explored_paths_are_accepted(tmp_path, path, choices, level):
    check_accepted(tmp_path, path, choices, level)


@pytest.mark.parametrize("path", MAIN)
@MAIN_SETTINGS
@given(choices=CHOICES, level=st.sampled_from(LEVELS), data=st.data())
def test_mutated_event_is_judged_like_the_reference(tmp_path, path, choices, level, data):
    check_mutated(tmp_path, path, choices, level, data)


@pytest.mark.parametrize("path", [p for p in SPEC_PATHS if p not in MAIN])
@SETTINGS
@given(choices=SHORT, level=st.sampled_from(LEVELS), data=st.data())
def test_every_shipped_spec(tmp_path, path, choices, level, data):
    check_accepted(tmp_path, path, choices, level)
    check_mutated(tmp_path, path, choices, level, data)
