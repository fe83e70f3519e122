"""Trace validation: verdicts, the divergence report, mappings, merging, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.render.trace_report import render_trace_json, render_trace_text
from checker.result import Status
from checker.source import SpecError
from checker.trace import load_for_traces, report_of, validate, validate_many
from checker.trace.mapping import load_mapping
from checker.trace.stepper import UNBOUND, Stepper

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "traces" / "tests"
TPC = load_spec(str(ROOT / "specs" / "2pc.spec"))
PAXOS = load_spec(str(ROOT / "specs" / "paxos.spec"))


def jsonl(tmp_path: Path, events, name: str = "t.jsonl") -> str:
    p = tmp_path / name
    p.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return str(p)


def rejected_at(result) -> int:
    assert result.status is Status.REJECTED, result
    return report_of(result)["event"]["number"]


def prepare(r):
    return {"event": "RMPrepare", "args": {"r": r}}


def vote(r):
    return {"event": "TMRcvPrepared", "args": {"r": r}}


COMMIT_RUN = [prepare("r1"), prepare("r2"), prepare("r3"), vote("r1"), vote("r2"), vote("r3"),
              {"event": "TMCommit"}]


# ----------------------------------------------------------------------- verdicts
def test_accepted_with_names_and_args(tmp_path):
    r = validate(TPC, jsonl(tmp_path, COMMIT_RUN))
    assert r.status is Status.OK and r.engine == "trace" and r.exit_code == 0
    rep = report_of(r)
    assert rep["verdict"] == "accepted" and rep["figures"]["events"] == 7
    assert r.stats.distinct_states == 1     # never more than one candidate
    assert r.violation is None


def test_rejected_guard_is_explained(tmp_path):
    r = validate(TPC, jsonl(tmp_path, COMMIT_RUN[:5] + [{"event": "TMCommit"}]))
    assert rejected_at(r) == 6 and r.exit_code == 1
    rep = report_of(r)
    assert r.violation.kind == "rejected" and r.violation.property is None
    assert "rejected at event 6 of 6" in r.violation.message
    assert rep["candidates_before"] == 1
    assert rep["last_single"]["event"] == 5
    (why,) = rep["why"]
    assert why["kind"] == "guard" and why["action"] == "TMCommit"
    assert why["conditions"][0]["condition"] == "tmPrepared == {r1, r2, r3}"
    assert why["conditions"][0]["values"] == {"tmPrepared": "{r1, r2}"}
    lines = (ROOT / "specs" / "2pc.spec").read_text().splitlines()
    commit = lines.index("action TMCommit:")
    assert lines[commit + 1].lstrip().startswith("require ")
    assert why["line"] == commit + 2        # (the require's line, 1-based)
    # The witness matches events 1-5: six states, the last with tmPrepared = {r1, r2}.
    assert len(r.violation.trace) == 6
    assert r.violation.trace[-1].label == "TMRcvPrepared(r2)"
    # A missing log line is the obvious explanation: the hint finds it.
    assert any("TMRcvPrepared(r=r3)" in h for h in rep["hints"])


def test_rejected_observation_expected_vs_found(tmp_path):
    events = [prepare("r1"), {"event": "TMAbort"},
              {"event": "RMRcvAbortMsg", "args": {"r": "r1"},
               "state": {"rmState[r1]": "committed", "tmState": "aborted"}}]
    r = validate(TPC, jsonl(tmp_path, events))
    assert rejected_at(r) == 3
    rep = report_of(r)
    nm = rep["nearest_miss"]
    assert nm["kind"] == "observation" and nm["steps"] == ["RMRcvAbortMsg(r=r1)"]
    assert nm["differences"] == [{"place": "rmState[r1]", "expected": "committed",
                                  "expected_text": "committed", "found": "aborted",
                                  "found_text": "aborted"}]
    assert "rmState[r1] is aborted, the event says committed" in r.violation.message


def test_argument_outside_state_dependent_domain(tmp_path):
    r = validate(PAXOS, str(TRACES / "paxos_unsent.jsonl"))
    assert rejected_at(r) == 5
    (why,) = report_of(r)["why"]
    assert why["kind"] == "domain"
    assert "m = P2a(bal=1, val=v1) is not in its domain msgs" in why["reason"]


def test_partial_observation_candidates_and_growth(tmp_path):
    r = validate(TPC, str(TRACES / "2pc_names_only.jsonl"))
    rep = report_of(r)
    assert rejected_at(r) == 9 and rep["candidates_before"] == 3
    assert rep["last_single"] == {"event": 7, "where": f"{TRACES}/2pc_names_only.jsonl:7",
                                  "kind": "TMCommit"}
    g = rep["growth"]
    assert g["event"] == 8 and g["to"] == 3
    assert g["open_parameters"] == {"RMRcvCommitMsg.r": ["r1", "r2", "r3"]}
    assert list(g["differing_variables"]) == ["rmState"]
    assert any("started to multiply at event 8" in h for h in rep["hints"])
    (why,) = rep["why"]
    assert len(why["candidates"]) == 3 and why["reason"] == "require Abort in msgs is false"


def test_several_alternatives_each_explained():
    r = validate(TPC, str(TRACES / "2pc_app_bad.log"), str(TRACES / "2pc_app.toml"))
    rep = report_of(r)
    assert rejected_at(r) == 4 and rep["event"]["line"] == 5
    kinds = {w["action"]: w["kind"] for w in rep["why"]}
    assert kinds == {"TMCommit": "guard", "TMAbort": "observation"}
    read = rep["event"]["read_as"]
    assert read["rule"] == "events.decide" and read["read_by"] == "rule"
    assert [alt[0]["action"] for alt in read["alternatives"]] == ["TMCommit", "TMAbort"]
    assert read["observed_after"] == {"tmState": "committed"}


def test_limit_ends_with_growth_diagnostic(tmp_path):
    events = [{"event": "Phase1a"}] * 2 + [{"event": "Phase1b"}] * 3
    r = validate(PAXOS, jsonl(tmp_path, events), max_candidates=20)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert "more than 20 candidate states at event 3" in r.limit_reason
    rep = report_of(r)
    assert rep["growth"]["event"] == 1
    assert rep["growth"]["open_parameters"] == {"Phase1a.b": ["0", "1", "2"]}
    assert any("Phase1a.b" in h for h in rep["hints"])


def test_check_invariants_reports_violation_with_witness(tmp_path):
    text = (ROOT / "specs" / "2pc.spec").read_text() + \
        "\ninvariant NoCommit:\n    tmState != committed\n"
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"), text=text)
    path = jsonl(tmp_path, COMMIT_RUN)
    assert validate(spec, path).status is Status.OK
    r = validate(spec, path, check_invariants=True)
    assert r.status is Status.VIOLATION and r.violation.property == "NoCommit"
    assert r.violation.trace[-1].label == "TMCommit"
    assert "up to event 7" in r.violation.message
    assert "NoCommit" in r.properties


def test_check_invariants_leaves_out_the_lemmas_as_check_does(tmp_path):
    # (a 2pc run under --faults all was reported as violating the lemma NoCrash's kind
    # of property, where check and simulate report the invariant NotBlocked)
    text = (ROOT / "specs" / "2pc.spec").read_text() + \
        "\nlemma NeverCommits: tmState != committed\n"
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"), text=text)
    r = validate(spec, jsonl(tmp_path, COMMIT_RUN), check_invariants=True)
    assert r.status is Status.OK
    assert "NeverCommits" not in r.properties and "Consistent" in r.properties


def test_an_invariant_that_cannot_be_evaluated_is_an_error_of_the_spec(tmp_path):
    # (it was an internal error: EvaluationError escaped the validation)
    spec = load_spec("err.spec", text=ERR_SPEC + "invariant FirstSmall: len(log) == 0 or "
                                                 "log[2] < 3\n")
    events = [{"event": "Push", "args": {"v": 2}}]
    r = validate(spec, jsonl(tmp_path, events), check_invariants=True)
    assert r.status is Status.ERROR and r.exit_code == 2
    assert r.violation.kind == "error" and r.violation.property == "FirstSmall"
    assert "while evaluating invariant FirstSmall" in r.violation.message
    assert "up to event 1" in r.violation.message
    assert len(r.violation.trace) == 2


def test_model_error_is_reported_with_the_path(tmp_path):
    spec = load_spec("err.spec", text=ERR_SPEC)
    events = [{"event": "Push", "args": {"v": 2}}, {"event": "Pop", "state": {"x": 2}},
              {"event": "Pop"}]
    r = validate(spec, jsonl(tmp_path, events))
    assert r.status is Status.ERROR and "head of an empty sequence" in r.violation.message
    assert len(r.violation.trace) == 3


ERR_SPEC = """
spec Err
var log: seq[0..3, 3]
var x: 0..3
init:
    log = []
    x = 0
action Push(v in 0..3):
    require len(log) < 3
    log = append(log, v)
action Pop:
    x = head(log)
    log = tail(log)
fault action Crash:
    x = 0
"""


def test_fault_actions_named_by_the_trace_are_switched_on(tmp_path):
    spec = load_spec("err.spec", text=ERR_SPEC)
    r = validate(spec, jsonl(tmp_path, [{"event": "Push", "args": {"v": 1}},
                                        {"event": "Crash"}]))
    assert r.status is Status.OK
    assert any("Crash" in n for n in report_of(r)["notes"])


def test_rejected_at_the_initial_state(tmp_path):
    path = jsonl(tmp_path, [{"header": {"init": {"tmState": "committed"}}}, prepare("r1")])
    r = validate(TPC, path)
    assert r.status is Status.REJECTED
    assert "initial state" in r.violation.message
    assert "tmState: expected committed, found init" in r.violation.message


def test_initial_state_given_by_the_header(tmp_path):
    start = {"rmState": {"r1": "prepared", "r2": "prepared", "r3": "prepared"},
             "tmState": "init", "tmPrepared": ["r1", "r2", "r3"],
             "msgs": [{"tag": "Prepared", "rm": r} for r in ("r1", "r2", "r3")],
             "rmUp": {"r1": True, "r2": True, "r3": True}, "tmUp": True}
    path = jsonl(tmp_path, [{"header": {"init": start, "initial": "given"}},
                            {"event": "TMCommit"}])
    assert validate(TPC, path).status is Status.OK
    # Without "given", the header's state must be an initial state of the spec.
    path = jsonl(tmp_path, [{"header": {"init": start}}, {"event": "TMCommit"}], "b.jsonl")
    assert validate(TPC, path).status is Status.REJECTED


# ------------------------------------------------------------------ observations
def test_observations_paths_partial_maps_and_before(tmp_path):
    events = [
        {**prepare("r1"), "before": {"rmState[r1]": "working"},
         "state": {"rmState": {"r1": "prepared"}, "tmPrepared": []}},
        {**vote("r1"), "sent": [], "received": {"tag": "Prepared", "rm": "r1"}},
        {"event": "TMAbort", "sent": "Abort", "state": {"tmState": "aborted"}},
    ]
    assert validate(TPC, jsonl(tmp_path, events)).status is Status.OK
    bad = [{**prepare("r1"), "before": {"rmState[r1]": "prepared"}}]
    r = validate(TPC, jsonl(tmp_path, bad, "b.jsonl"))
    assert rejected_at(r) == 1
    assert report_of(r)["why"][0]["kind"] == "observation-before"
    unsent = [prepare("r1"), {**vote("r1"), "received": {"tag": "Prepared", "rm": "r2"}}]
    r = validate(TPC, jsonl(tmp_path, unsent, "c.jsonl"))
    assert rejected_at(r) == 2


def test_unchanged_variables(tmp_path):
    mapping = {"unchanged": ["tmState"]}
    ok = [prepare("r1"), vote("r1")]
    assert validate(TPC, jsonl(tmp_path, ok), mapping).status is Status.OK
    # TMAbort changes tmState; the event does not observe it, so "unchanged" rejects it.
    r = validate(TPC, jsonl(tmp_path, ok + [{"event": "TMAbort"}], "b.jsonl"), mapping)
    assert rejected_at(r) == 3
    # Observing the new value lifts the constraint for that event.
    ev = {"event": "TMAbort", "state": {"tmState": "aborted"}}
    assert validate(TPC, jsonl(tmp_path, ok + [ev], "c.jsonl"), mapping).status is Status.OK


# -------------------------------------------------------------------- mappings
def test_application_log_with_mapping_file():
    r = validate(TPC, str(TRACES / "2pc_app_ok.log"), str(TRACES / "2pc_app.toml"))
    assert r.status is Status.OK, render_trace_text(r)
    rep = report_of(r)
    assert rep["figures"]["events"] == 7    # startup, debug and heartbeat lines are not steps


def test_mapping_as_json_and_dict(tmp_path):
    m = {"fields": {"event": "e.name", "args": "e.args"},
         "events": {"vote": {"action": "RMPrepare", "args": {"r": "who"}}}}
    (tmp_path / "m.json").write_text(json.dumps(m))
    path = jsonl(tmp_path, [{"e": {"name": "vote"}, "who": "r2"},
                            {"e": {"name": "TMRcvPrepared", "args": {"r": "r2"}}}])
    assert validate(TPC, path, m).status is Status.OK
    assert validate(TPC, path, str(tmp_path / "m.json")).status is Status.OK


def test_rule_args_positional_literal_and_optional_observation(tmp_path):
    m = {"events": {
        "p": {"action": "RMPrepare", "args": ["who"]},
        "c": {"action": "TMRcvPrepared", "args": {"r": {"value": "r1"}},
              "observe": [{"var": "tmPrepared", "field": "prepared", "optional": True}]},
    }}
    path = jsonl(tmp_path, [{"event": "p", "who": "r1"}, {"event": "c"},
                            {"event": "c", "prepared": ["r1"]}])
    assert validate(TPC, path, m).status is Status.OK


def test_skip_rule_still_checks_observations(tmp_path):
    m = {"events": {"tick": {"skip": True, "observe": {"tmState": "tm"}}}}
    path = jsonl(tmp_path, [{"event": "tick", "tm": "init"}, prepare("r1"),
                            {"event": "tick", "tm": "committed"}])
    r = validate(TPC, path, m)
    assert rejected_at(r) == 3


def test_silent_actions_always_and_needed(tmp_path):
    # r2 gives up without logging it; the TM then aborts and r2 learns it.
    events = [prepare("r1"), {"event": "TMAbort"},
              {"event": "RMRcvAbortMsg", "args": {"r": "r2"},
               "before": {"rmState[r2]": "aborted"}}]
    path = jsonl(tmp_path, events)
    assert rejected_at(validate(TPC, path)) == 3
    for when in ("always", "needed"):
        m = {"silent": {"actions": ["RMChooseToAbort"], "max": 1, "when": when}}
        r = validate(TPC, path, m)
        assert r.status is Status.OK, render_trace_text(r)
        witness = r.violation  # accepted: no violation, the silent step is in the report
        assert witness is None
    # "needed" does not multiply the candidates when the log explains itself.
    plain = jsonl(tmp_path, COMMIT_RUN, "c.jsonl")
    always = validate(TPC, plain, {"silent": {"actions": ["RMChooseToAbort"], "when": "always"}})
    needed = validate(TPC, plain, {"silent": {"actions": ["RMChooseToAbort"], "when": "needed"}})
    assert always.status is needed.status is Status.OK
    assert needed.stats.distinct_states == 1 < always.stats.distinct_states


def test_unknown_events_can_be_skipped(tmp_path):
    path = jsonl(tmp_path, [prepare("r1"), {"event": "GC"}, vote("r1")])
    with pytest.raises(SpecError):
        validate(TPC, path)
    assert validate(TPC, path, {"unknown_events": "skip"}).status is Status.OK


def test_hint_for_event_without_rule(tmp_path):
    m = {"events": {"vote": {"action": "TMRcvPrepared", "args": {"r": "from"}}}}
    path = jsonl(tmp_path, [prepare("r1"), {"event": "TMCommit"}])
    rep = report_of(validate(TPC, path, m))
    assert any("'TMCommit' has no rule" in h for h in rep["hints"])


def test_json_start_and_prefix_and_filters(tmp_path):
    lines = ["[12:00:01] node r1 says {\"event\": \"RMPrepare\", \"args\": {\"r\": \"r1\"},"
             " \"level\": \"trace\"}",
             "[12:00:02] something else entirely",
             "[12:00:03] node tm says {\"event\": \"TMRcvPrepared\", \"args\": {\"r\": \"r1\"},"
             " \"level\": \"trace\"}",
             "[12:00:04] node tm says {\"event\": \"TMAbort\", \"level\": \"debug\"}"]
    path = jsonl(tmp_path, lines)
    with pytest.raises(SpecError, match="not a JSON object"):
        validate(TPC, path)
    cases = [
        ({"json_start": True, "ignore_non_json": True,
          "filter": [{"field": "level", "one_of": ["trace"]}]}, 2),
        ({"json_start": True, "ignore_non_json": True,
          "filter": {"field": "level", "equals": "debug"}}, 1),
        ({"json_start": True, "ignore_non_json": True,
          "filter": {"field": "level", "matches": "^tr"}}, 2),
        ({"prefix": r"^\[[0-9:]+\] node \w+ says ", "ignore_non_json": True}, 3),
    ]
    for inp, n in cases:
        r = validate(TPC, path, {"input": inp})
        assert r.status is Status.OK, (inp, render_trace_text(r))
        assert report_of(r)["figures"]["events"] == n, inp


def test_toml_mapping_errors_point_into_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[events.vote]\naction = "RMPrepare"\nargs = { x = "who" }\n')
    with pytest.raises(SpecError) as e:
        validate(TPC, str(TRACES / "2pc_commit.jsonl"), str(bad))
    assert "no parameter 'x'" in e.value.render()
    assert e.value.diagnostics[0].span.line == 3
    bad.write_text('[events.vote\naction = 1\n')
    with pytest.raises(SpecError) as e:
        load_mapping(str(bad))
    assert e.value.diagnostics[0].span.line == 1
    bad.write_text('[events.vote]\naction = "Vote"\n')
    with pytest.raises(SpecError) as e:
        validate(TPC, str(TRACES / "2pc_commit.jsonl"), str(bad))
    assert "no action 'Vote'" in e.value.render() and e.value.diagnostics[0].span.line == 2
    bad.write_text('[input]\norder = "random"\n')
    with pytest.raises(SpecError, match="order"):
        load_mapping(str(bad))


# ------------------------------------------------------------------- merging
def test_per_node_logs_merged_by_timestamp():
    files = sorted(str(p) for p in (TRACES / "nodes").glob("*.jsonl"))
    r = validate(TPC, files)
    assert r.status is Status.OK and report_of(r)["figures"]["events"] == 10
    # Each file alone is not a run of the protocol.
    assert validate(TPC, files[0]).status is Status.REJECTED


def test_per_node_logs_merged_by_vector_clock():
    files = sorted(str(p) for p in (TRACES / "clock").glob("*.jsonl"))
    spec = load_for_traces(str(ROOT / "specs" / "2pc.spec"), files)
    assert spec.model.constants["RM"].items == ("r1", "r2")
    r = validate(spec, files)
    assert r.status is Status.OK, render_trace_text(r)
    # No timestamps: the clocks put r1's and r2's prepares before the TM's votes, and the
    # commit before the participants learn it.
    rep = report_of(r)
    assert rep["figures"]["events"] == 7


def test_merging_needs_an_order(tmp_path):
    a = jsonl(tmp_path, [prepare("r1")], "a.jsonl")
    b = jsonl(tmp_path, [vote("r1")], "b.jsonl")
    with pytest.raises(SpecError, match="cannot merge"):
        validate(TPC, [a, b])
    assert validate(TPC, [a, b], {"input": {"order": "file"}}).status is Status.OK


def test_header_constants_must_match_the_spec():
    path = str(TRACES / "2pc_two_rms.jsonl")
    with pytest.raises(SpecError) as e:
        validate(TPC, path)
    assert "--const RM={r1,r2}" in e.value.render()
    assert e.value.diagnostics[0].span.line == 1
    spec = load_for_traces(str(ROOT / "specs" / "2pc.spec"), [path])
    assert validate(spec, path).status is Status.OK
    # The command line wins over the header.
    spec = load_for_traces(str(ROOT / "specs" / "2pc.spec"), [path], ["RM={r1,r2,r3}"])
    assert len(spec.model.constants["RM"].items) == 3


# ----------------------------------------------------------------- bad input
BAD = {
    "truncated.jsonl": (3, "truncated"),
    "not_json.jsonl": (2, "not a JSON object"),
    "unknown_event.jsonl": (3, "unknown event 'RMVote'"),
    "missing_field.jsonl": (2, "missing field 'event'"),
    "outside_domain.jsonl": (2, "outside its domain"),
    "empty.jsonl": (1, "empty"),
    "bad_observation.jsonl": (2, "expected one of working, prepared, committed, aborted"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_a_spec_error_at_the_line(name):
    line, text = BAD[name]
    path = str(TRACES / "bad" / name)
    with pytest.raises(SpecError) as e:
        validate(TPC, path)
    d = e.value.diagnostics[0]
    assert d.span.line == line, e.value.render()
    assert text in d.message
    rendered = e.value.render()
    assert rendered.startswith(f"{path}:{line}:{d.span.column}: error:")


def test_bad_input_columns(tmp_path):
    path = jsonl(tmp_path, [prepare("r1"), {"event": "RMPrepare", "args": {"r": "r9"}}])
    with pytest.raises(SpecError) as e:
        validate(TPC, path)
    assert e.value.diagnostics[0].span.column == len('{"event": "RMPrepare", "args": {"r": ') + 1
    path = jsonl(tmp_path, ['{"event": "RMPrepare", "args": {"r": "r1"}', '{}'], "b.jsonl")
    with pytest.raises(SpecError) as e:
        validate(TPC, path)
    assert e.value.diagnostics[0].span.line == 1 and "not valid JSON" in str(e.value)
    path = jsonl(tmp_path, ['{"event": "RMPrepare", "args": {"x": "r1"}}'], "c.jsonl")
    with pytest.raises(SpecError, match="no parameter 'x'"):
        validate(TPC, path)
    path = jsonl(tmp_path, ['{"event": 3}'], "d.jsonl")
    with pytest.raises(SpecError, match="must be a string"):
        validate(TPC, path)


def test_non_json_lines_can_be_ignored():
    path = str(TRACES / "bad" / "not_json.jsonl")
    r = validate(TPC, path, {"input": {"ignore_non_json": True}})
    assert r.status is Status.OK


def test_filtered_to_nothing(tmp_path):
    path = jsonl(tmp_path, [prepare("r1")])
    with pytest.raises(SpecError, match="filter selected none"):
        validate(TPC, path, {"input": {"filter": {"field": "kind", "equals": "trace"}}})


# --------------------------------------------------------------- many files
def test_validate_many_in_parallel_keeps_every_outcome():
    paths = [str(TRACES / "2pc_commit.jsonl"), str(TRACES / "2pc_early_commit.jsonl"),
             str(TRACES / "bad" / "empty.jsonl"), str(TRACES / "2pc_missing_line.jsonl")]
    out = validate_many(TPC, paths, processes=2)
    assert [getattr(x, "status", None) for x in out] == [
        Status.OK, Status.REJECTED, None, Status.REJECTED]
    assert isinstance(out[2], SpecError) and out[2].diagnostics[0].span.line == 1
    serial = validate_many(TPC, paths, processes=1)
    assert [report_of(x)["event"]["number"] if getattr(x, "status", None) is Status.REJECTED
            else None for x in serial] == [None, 5, None, 6]


# -------------------------------------------------------------- renderers
def test_json_rendering_carries_the_report():
    r = validate(TPC, str(TRACES / "2pc_early_commit.jsonl"))
    obj = json.loads(render_trace_json(r))
    assert obj["status"] == "rejected" and obj["engine"] == "trace"
    assert obj["report"]["event"]["number"] == 5
    assert obj["violation"]["kind"] == "rejected"
    assert obj["notes"] == []


def test_text_rendering_has_every_section():
    r = validate(TPC, str(TRACES / "2pc_names_only.jsonl"))
    text = render_trace_text(r)
    for section in ("rejected at event 9 of 9", "raw:", "read as:", "How sure:",
                    "Why nothing matched:", "Nearest miss:", "Hints:", "Witness:"):
        assert section in text
    colored = render_trace_text(r, color=True)
    assert "\x1b[" in colored and "\x1b[" not in text


# ----------------------------------------------------------------- internals
def test_stepper_fallback_agrees_with_direct_functions():
    for spec in (TPC, PAXOS):
        direct, fallback = Stepper(spec), Stepper(spec, use_closure=False)
        assert direct.direct and not fallback.direct
        frontier = spec.model.initial_states()
        for _ in range(3):
            nxt = []
            for s in frontier:
                for i in range(len(direct.actions)):
                    a, _ = direct.run(i, s, None)
                    b, _ = fallback.run(i, s, None)
                    assert a == b
                    nxt.extend(t for _, t in a)
            frontier = list(dict.fromkeys(nxt))[:30]
        # Fixing an argument filters by its packed value.
        i = direct.index["RMPrepare"] if spec is TPC else direct.index["Phase1a"]
        s0 = spec.model.initial_states()[0]
        all_, _ = direct.run(i, s0, None)
        one, _ = direct.run(i, s0, (all_[0][0][0],))
        assert one == all_[:1]
        assert direct.run(i, s0, (UNBOUND,))[0] == all_


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="tomllib exists")
def test_toml_needs_tomllib_on_old_python(tmp_path):  # pragma: no cover
    p = tmp_path / "m.toml"
    p.write_text("[events]\n")
    with pytest.raises(SpecError, match="JSON"):
        load_mapping(str(p))


# ------------------------------------------------------------------- command
def test_command_exit_codes_and_formats(tmp_path):
    import io

    from checker.itf import read_itf
    from checker.trace.command import trace_command

    spec = str(ROOT / "specs" / "2pc.spec")
    ok, bad = str(TRACES / "2pc_commit.jsonl"), str(TRACES / "2pc_early_commit.jsonl")
    empty = str(TRACES / "bad" / "empty.jsonl")

    def run(*traces, **kw):
        out, err = io.StringIO(), io.StringIO()
        code = trace_command(spec, list(traces), out=out, err=err, processes=1, **kw)
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run(ok)
    assert code == 0 and out.startswith("Trace accepted")
    code, out, _ = run(ok, bad)
    assert code == 1 and "2 traces: 1 ok, 1 rejected" in out
    code, out, err = run(ok, bad, empty)
    assert code == 2 and "empty.jsonl:1:1: error" in err and "1 malformed" in out
    code, out, _ = run(bad, fmt="json")
    assert code == 1 and json.loads(out)["report"]["event"]["number"] == 5
    code, out, _ = run(ok, empty, fmt="json")
    items = json.loads(out)
    assert [i["status"] for i in items] == ["ok", "malformed"]
    assert items[1]["diagnostics"][0]["line"] == 1
    code, out, _ = run(bad, fmt="itf")
    (tmp_path / "w.itf.json").write_text(out)
    states = read_itf(str(tmp_path / "w.itf.json"), TPC)
    assert len(states) == 5 and states[-1].action == "TMRcvPrepared"
    files = sorted(str(p) for p in (TRACES / "nodes").glob("*.jsonl"))
    assert run(*files, merge=True)[0] == 0
    code, _, err = run(ok, mapping=str(tmp_path / "nope.toml"))
    assert code == 2 and "cannot read the mapping" in err
    code, _, err = run(str(TRACES / "2pc_two_rms.jsonl"))
    assert code == 0                         # constants from the header
    code, _, err = run(str(TRACES / "2pc_two_rms.jsonl"), consts=["RM={r1,r2,r3}"])
    assert code == 2 and "--const RM={r1,r2}" in err
    code, out, _ = run(str(TRACES / "2pc_names_only.jsonl"),
                       str(TRACES / "2pc_commit.jsonl"), max_candidates=2)
    assert code == 3 and "Stopped" in out


def test_first_event_may_give_the_initial_state(tmp_path):
    path = jsonl(tmp_path, [{"event": "init", "state": {"tmState": "init", "msgs": []}},
                            prepare("r1")])
    r = validate(TPC, path)
    assert r.status is Status.OK and report_of(r)["figures"]["events"] == 1


def test_single_file_ordered_by_sequence_number(tmp_path):
    path = jsonl(tmp_path, [{**vote("r1"), "seq": 2}, {**prepare("r1"), "seq": 1}])
    assert validate(TPC, path).status is Status.REJECTED
    assert validate(TPC, path, {"input": {"order": "seq"}}).status is Status.OK


def test_itf_witness_in_report_on_request(tmp_path):
    from checker.itf import read_itf

    r = validate(TPC, jsonl(tmp_path, COMMIT_RUN), itf=True)
    doc = report_of(r)["itf"]
    assert len(doc["states"]) == len(COMMIT_RUN) + 1
    (tmp_path / "x.itf.json").write_text(json.dumps(doc))
    assert read_itf(str(tmp_path / "x.itf.json"), TPC)[-1].action == "TMCommit"


def test_missing_field_named_by_a_rule(tmp_path):
    m = {"events": {"vote": {"action": "RMPrepare", "args": {"r": "host"}}}}
    path = jsonl(tmp_path, [{"event": "vote", "host": "r1"}, {"event": "vote"}])
    with pytest.raises(SpecError) as e:
        validate(TPC, path, m)
    assert e.value.diagnostics[0].span.line == 2
    assert "missing field 'host' (argument r of RMPrepare)" in e.value.render()
    path = jsonl(tmp_path, [{"event": "vote", "host": "r4"}], "b.jsonl")
    with pytest.raises(SpecError, match="outside its domain"):
        validate(TPC, path, m)


# ------------------------------------------------------- real-world log quirks
def test_utf8_bom_crlf_and_trailing_blank_lines(tmp_path):
    # A byte-order mark (Windows tools write one) was "line 1 is not a JSON object".
    text = "".join(json.dumps(e) + "\r\n" for e in COMMIT_RUN) + "\r\n\n"
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert validate(TPC, str(p)).status is Status.OK
    # (and a header on that first line still gives the constants)
    p.write_bytes(b"\xef\xbb\xbf" + (TRACES / "2pc_two_rms.jsonl").read_bytes())
    assert load_for_traces(str(ROOT / "specs" / "2pc.spec"), [str(p)]).model.constants[
        "RM"].items == ("r1", "r2")


def test_integer_too_long_to_read_is_an_input_error(tmp_path):
    # json.loads raises a plain ValueError (not JSONDecodeError) past 4300 digits: it was
    # an "internal error" (a traceback with MODELCHECK_DEBUG)
    digits = "9" * 5000
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(prepare("r1")) + "\n"
                 + '{"event": "TMCommit", "state": {"tmState": ' + digits + "}}\n")
    with pytest.raises(SpecError) as e:
        validate(TPC, str(p))
    d = e.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (2, 44) and "5000 digits" in d.message


def test_init_line_with_observe_constrains_the_start(tmp_path):
    # `observe` is documented as the same as `state`; an init line's was ignored, and a
    # log whose start disagrees with the spec was accepted
    path = jsonl(tmp_path, [{"event": "init", "observe": {"tmState": "committed"}},
                            prepare("r1")])
    r = validate(TPC, path)
    assert r.status is Status.REJECTED
    # rendered (the text renderer raised KeyError 'candidates' on any rejection at the
    # initial state)
    text = render_trace_text(r)
    assert "rejected at the initial state" in text and "The spec has 1 initial state" in text
    assert "tmState: expected committed, found init" in text
    assert json.loads(render_trace_json(r))["report"]["initial"] is True
    # a header's init and an init line together: both apply
    path = jsonl(tmp_path, [{"header": {"init": {"tmState": "init"}}},
                            {"event": "init", "state": {"msgs": ["Commit"]}}, prepare("r1")],
                 "b.jsonl")
    assert validate(TPC, path).status is Status.REJECTED


def test_duplicated_line_is_hinted(tmp_path):
    r = validate(TPC, jsonl(tmp_path, [prepare("r1"), prepare("r1")]))
    assert rejected_at(r) == 2
    assert any("repeats the previous event" in h and "t.jsonl:1" in h
               for h in report_of(r)["hints"])


def test_one_malformed_file_does_not_stop_the_others(tmp_path):
    # reading the headers for constants raised the first file's error for the whole run:
    # the good and rejected traces were never validated
    import io

    from checker.trace.command import trace_command

    bad = jsonl(tmp_path, ['{"event": "RMPrepare"'], "bad.jsonl")
    out, err = io.StringIO(), io.StringIO()
    code = trace_command(str(ROOT / "specs" / "2pc.spec"),
                         [str(TRACES / "2pc_commit.jsonl"), bad,
                          str(TRACES / "2pc_early_commit.jsonl")],
                         out=out, err=err, processes=1)
    assert code == 2 and "bad.jsonl:1:" in err.getvalue()
    assert "3 traces: 1 ok, 1 malformed, 1 rejected" in out.getvalue()


def test_ctrl_c_reports_how_far_the_trace_matched(tmp_path, monkeypatch):
    # Ctrl-C while matching lost everything ("interrupted after 4.8s", nothing else)
    from checker.trace import engine as E

    advance = E.Engine.advance

    def interrupted_at_5(self, ev, frontier):
        if ev.number == 5:
            raise KeyboardInterrupt
        return advance(self, ev, frontier)

    monkeypatch.setattr(E.Engine, "advance", interrupted_at_5)
    path = jsonl(tmp_path, COMMIT_RUN)
    r = validate(TPC, path)
    assert r.status is Status.LIMIT and r.exit_code == 3
    assert r.limit_reason.startswith("interrupted at event 5 of 7")
    assert "the first 4 events matched" in r.limit_reason
    assert report_of(r)["figures"]["events_matched"] == 4
    assert "Stopped: interrupted at event 5" in render_trace_text(r)
    # several files: the ones after the interrupted one are not validated, and say so
    outs = validate_many(TPC, [path, str(TRACES / "2pc_commit.jsonl")], processes=1)
    assert outs[0].limit_reason.startswith("interrupted at event 5")
    assert outs[1].status is Status.LIMIT and "before" in outs[1].limit_reason


def test_pool_workers_end_quietly(capfd):
    # the pool's terminate() sent SIGTERM, which the workers (forked inside the CLI's
    # first_interrupt_only) turned into a KeyboardInterrupt traceback on stderr
    from checker.interrupts import first_interrupt_only

    files = [str(TRACES / n) for n in ("2pc_commit.jsonl", "2pc_early_commit.jsonl",
                                      "2pc_names_only.jsonl")]
    with first_interrupt_only():
        outs = validate_many(TPC, files, processes=2)
    assert [o.status for o in outs] == [Status.OK, Status.REJECTED, Status.REJECTED]
    assert "KeyboardInterrupt" not in capfd.readouterr().err
