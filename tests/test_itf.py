"""ITF: writing counterexamples and witnesses, reading traces back (full or partial
states, with or without the action taken)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.api import load_spec
from checker.explore import explore
from checker.itf import read_itf, value_to_itf, write_itf
from checker.result import Status
from checker.source import SpecError
from checker.trace import report_of, validate
from checker.trace.jsonvalues import pack, read_value
from checker.values import to_json

ROOT = Path(__file__).resolve().parent.parent


def spec_with(name: str, extra: str):
    path = ROOT / "specs" / f"{name}.spec"
    return load_spec(str(path), text=path.read_text() + extra)


PAXOS_BAD = spec_with("paxos", "\ninvariant NothingChosen:\n    not chosen(v1)\n")
TPC_BAD = spec_with("2pc", "\ninvariant NeverAborted:\n    forall r in RM: rmState[r] != aborted\n")


@pytest.mark.parametrize("spec", [PAXOS_BAD, TPC_BAD], ids=["paxos", "2pc"])
def test_counterexample_round_trip_is_accepted(tmp_path, spec):
    result = explore(spec.model)
    assert result.status is Status.VIOLATION
    text = write_itf(result, spec, as_text=True)
    doc = json.loads(text)
    assert doc["#meta"]["format"] == "ITF"
    assert doc["vars"][:len(spec.model.variables)] == list(spec.model.variables)
    assert [s["#meta"]["index"] for s in doc["states"]] == list(range(len(result.violation.trace)))
    path = tmp_path / "cex.itf.json"
    path.write_text(text)
    states = read_itf(str(path), spec)
    assert [s.action for s in states] == [None] + [t.action for t in result.violation.trace[1:]]
    assert [s.values for s in states] == [t.state for t in result.violation.trace]
    r = validate(spec, str(path))
    assert r.status is Status.OK, report_of(r)
    assert report_of(r)["figures"]["events"] == len(result.violation.trace) - 1
    # With the invariants checked, the same trace is a violation, with the same witness.
    r = validate(spec, str(path), check_invariants=True)
    assert r.status is Status.VIOLATION
    assert [t.state for t in r.violation.trace] == [t.state for t in result.violation.trace]


def test_the_params_are_set_in_the_initial_state(tmp_path):
    # ADR-015: "params" names the trace's parameters, which its initial state sets; they
    # were listed but set nowhere (only in #meta.constants)
    result = explore(PAXOS_BAD.model)
    doc = write_itf(result, PAXOS_BAD)
    assert doc["params"] == ["Acceptors", "MaxBallot", "Values"]
    first = doc["states"][0]
    assert first["MaxBallot"] == 2
    assert first["Acceptors"] == doc["#meta"]["constants"]["Acceptors"]
    assert not set(doc["params"]) & set(doc["states"][1])
    # and a trace whose states carry its params (Apalache's, Quint's) is read
    doc["states"][1]["MaxBallot"] = 2
    path = tmp_path / "params.itf.json"
    path.write_text(json.dumps(doc))
    assert validate(PAXOS_BAD, str(path)).status is Status.OK


def test_states_without_actions_and_partial_states(tmp_path):
    result = explore(TPC_BAD.model)
    doc = write_itf(result, TPC_BAD)
    for state in doc["states"]:
        del state["mbt::actionTaken"], state["mbt::nondetPicks"]
        state.pop("msgs")     # partial states: one variable unobserved
    path = tmp_path / "t.itf.json"
    path.write_text(json.dumps(doc))
    r = validate(TPC_BAD, str(path))
    assert r.status is Status.OK
    # Changing an observed value in the middle makes it rejected there.
    k = len(doc["states"]) // 2
    doc["states"][k]["tmState"] = "committed"
    path.write_text(json.dumps(doc, indent=1))
    r = validate(TPC_BAD, str(path))
    assert r.status is Status.REJECTED
    assert report_of(r)["event"]["number"] <= k


def test_rejected_witness_written_as_itf(tmp_path):
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"))
    r = validate(spec, str(ROOT / "traces" / "tests" / "2pc_early_commit.jsonl"))
    doc = write_itf(r, spec)
    assert len(doc["states"]) == 5
    assert doc["states"][-1]["mbt::actionTaken"] == "TMRcvPrepared"
    assert doc["states"][-1]["mbt::nondetPicks"] == {"r": {"tag": "Some", "value": "r2"}}
    (tmp_path / "w.itf.json").write_text(json.dumps(doc))
    assert validate(spec, str(tmp_path / "w.itf.json")).status is Status.OK


def test_quint_and_apalache_encodings(tmp_path):
    spec = load_spec(str(ROOT / "specs" / "paxos.spec"))
    t = next(v.t for v in spec.typed.variables if v.name == "msgs")
    quint = {"#set": [{"tag": "P1b", "value": {"acc": "a1", "bal": {"#bigint": "1"},
                                               "mbal": -1,
                                               "mval": {"tag": "None", "value": {"#tup": []}}}},
                      {"tag": "P2a", "value": {"bal": 0, "val": "v2_OF_Values"}}]}
    plain = [{"tag": "P1b", "acc": "a1", "bal": 1, "mbal": -1, "mval": None},
             {"tag": "P2a", "bal": 0, "val": "v2"}]
    assert read_value(spec.universe, t, quint) == read_value(spec.universe, t, plain)
    mt = next(v.t for v in spec.typed.variables if v.name == "maxVal")
    some = {"#map": [["a1", {"tag": "Some", "value": "v1"}], ["a2", {"tag": "None",
                                                                      "value": {"#tup": []}}],
                     ["a3", {"tag": "None", "value": {"#tup": []}}]]}
    assert to_json(read_value(spec.universe, mt, some)) == {"a1": "v1", "a2": None, "a3": None}


def test_malformed_itf_is_a_spec_error(tmp_path):
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"))
    p = tmp_path / "x.itf.json"
    p.write_text('{"vars": ["tmState"], "states": [\n{"#meta": {"index": 0}, "tmState": "init"},'
                 '\n{"#meta": {"index": 1}, "tmState": "bogus"}\n]}\n')
    with pytest.raises(SpecError) as e:
        validate(spec, str(p))
    assert e.value.diagnostics[0].span.line == 3 and "bogus" in e.value.render()
    p.write_text('{"states": [')
    with pytest.raises(SpecError, match="not valid JSON"):
        read_itf(str(p), spec)
    p.write_text('{"vars": [], "states": [{"#meta": {"index": 0}, "nope": 1}]}')
    with pytest.raises(SpecError, match="variable 'nope'"):
        read_itf(str(p), spec)
    p.write_text('{"vars": [], "states": [{}, {"mbt::actionTaken": "Vote"}]}')
    with pytest.raises(SpecError, match="'Vote' is not an action"):
        read_itf(str(p), spec)


def test_value_to_itf_shapes():
    spec = load_spec(str(ROOT / "specs" / "paxos.spec"))
    univ = spec.universe
    t = next(v.t for v in spec.typed.variables if v.name == "maxVal")
    v = read_value(univ, t, {"a1": "v1", "a2": None, "a3": None})
    assert value_to_itf(t, v) == {"#map": [
        ["a1", {"tag": "Some", "value": "v1"}], ["a2", {"tag": "None", "value": {"#tup": []}}],
        ["a3", {"tag": "None", "value": {"#tup": []}}]]}
    assert value_to_itf(None, 2 ** 60) == {"#bigint": str(2 ** 60)}


# A property: every value the spec's states hold packs the same way through the fast
# reader, the careful reader and Universe.encode, from every accepted JSON shape.
SPECS = [load_spec(str(ROOT / "specs" / f"{n}.spec")) for n in ("2pc", "paxos")]


@settings(max_examples=40, deadline=None)
@given(spec=st.sampled_from(SPECS), choices=st.lists(st.integers(0, 99), max_size=10))
def test_value_readers_agree(spec, choices):
    m = spec.model
    s = m.initial_states()[0]
    for c in choices:
        steps = m.steps(s)
        if not steps:
            break
        s = steps[c % len(steps)].state
    for v in spec.typed.variables:
        value = m.decode(s)[v.name]
        packed = spec.universe.encode(v.t, value)
        for shape in (to_json(value), value_to_itf(v.t, value)):
            assert pack(spec.universe, v.t, shape) == packed
            assert read_value(spec.universe, v.t, shape) == value


def test_itf_constants_are_checked_and_loaded(tmp_path):
    from checker.trace import load_for_traces

    spec_path = str(ROOT / "specs" / "2pc.spec")
    text = (ROOT / "specs" / "2pc.spec").read_text() + "\ninvariant X:\n    tmState != committed\n"
    two = load_spec(spec_path, consts=["RM={r1,r2}"], text=text)
    p = tmp_path / "two.itf.json"
    p.write_text(write_itf(explore(two.model), two, as_text=True))
    with pytest.raises(SpecError, match=r"--const RM=\{r1,r2\}"):
        validate(load_spec(spec_path), str(p))
    spec = load_for_traces(spec_path, [str(p)])
    assert spec.model.constants["RM"].items == ("r1", "r2")
    assert validate(spec, str(p)).status is Status.OK


def _quint_doc() -> dict:
    """A 2PC trace as Quint writes it: one line, #bigint-free here, sum types as
    {"tag", "value"}, every pick listed."""
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"))
    r = validate(spec, str(ROOT / "traces" / "tests" / "2pc_commit.jsonl"), itf=True)
    doc = report_of(r)["itf"]
    doc["#meta"] = {"format": "ITF", "source": "2pc.qnt", "status": "ok"}
    return doc


def test_one_line_itf_without_the_itf_suffix(tmp_path):
    # Quint writes the whole document on one line; named *.json it was read as JSON
    # Lines ("missing field 'event'")
    p = tmp_path / "quint.json"
    p.write_text(json.dumps(_quint_doc()))
    assert validate(load_spec(str(ROOT / "specs" / "2pc.spec")), str(p)).status is Status.OK


def test_itf_with_bom_unserializable_and_loop(tmp_path):
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"))
    doc = _quint_doc()
    doc["states"][3]["msgs"] = {"#unserializable": "a value Apalache could not write"}
    last = len(doc["states"]) - 1
    doc["loop"] = last              # (the last state again: the lasso goes round stuttering)
    p = tmp_path / "t.itf.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, indent=1).encode())
    r = validate(spec, str(p))      # the BOM was "not valid JSON", #unserializable an error
    assert r.status is Status.OK
    notes = report_of(r)["notes"]
    assert any("msgs is #unserializable in state 3" in n for n in notes)
    assert any(f'"loop": {last}' in n and "by stuttering" in n for n in notes)
    assert read_itf(str(p), spec)[3].unserializable == ("msgs",)


RING = """\
spec Ring
var x: 0..2
init:
    x = 0
action Next:
    x = (x + 1) % 3
action Reset:
    require x == 1
    x = 0
"""


def _ring_itf(tmp_path, xs, loop) -> str:
    doc = {"vars": ["x"], "states": [{"#meta": {"index": i}, "x": x} for i, x in enumerate(xs)],
           "loop": loop}
    p = tmp_path / "ring.itf.json"
    p.write_text(json.dumps(doc, indent=1))
    return str(p)


def test_itf_lasso_step_back_is_checked(tmp_path):
    # ("loop" was only noted: a lasso whose last state cannot go back was accepted)
    spec = load_spec("ring.spec", text=RING)
    ok = validate(spec, _ring_itf(tmp_path, [0, 1, 2], 0))     # 2 -> 0: Next
    assert ok.status is Status.OK
    assert any("back to state 0 is checked as event 3" in n for n in report_of(ok)["notes"])
    bad = validate(spec, _ring_itf(tmp_path, [0, 1, 2], 1))   # 2 -> 1: no action
    assert bad.status is Status.REJECTED
    assert "rejected at event 3 of 3" in bad.violation.message
    assert report_of(bad)["event"]["raw"].startswith("(the lasso's step back: from state 2 "
                                                    "to state 1")
    # the last state is state 0 again: round by stuttering
    assert validate(spec, _ring_itf(tmp_path, [0, 1, 0], 0)).status is Status.OK
    with pytest.raises(SpecError, match='"loop" is 7: the index of the state'):
        validate(spec, _ring_itf(tmp_path, [0, 1], 7))


def test_itf_errors_have_a_column_and_long_integers(tmp_path):
    spec = load_spec(str(ROOT / "specs" / "2pc.spec"))
    p = tmp_path / "x.itf.json"
    p.write_text('{"vars": ["tmState"], "states": [\n{"#meta": {"index": 0}, "tmState": "init"},'
                 '\n{"#meta": {"index": 1},   "tmState": "bogus"}\n]}\n')
    with pytest.raises(SpecError) as e:
        read_itf(str(p), spec)
    assert (e.value.diagnostics[0].span.line, e.value.diagnostics[0].span.column) == (3, 27)
    # an integer longer than Python reads: an internal error before
    p.write_text('{"states": [\n{"#meta": {"index": 0}, "tmState": ' + "1" * 5000 + '}]}')
    with pytest.raises(SpecError) as e:
        validate(spec, str(p))
    d = e.value.diagnostics[0]
    assert (d.span.line, d.span.column) == (2, 36) and "5000 digits" in d.message


def test_apalache_params_in_the_initial_state_are_the_constants(tmp_path):
    # Apalache sets the constants in state 0 and lists them in "params" (no
    # #meta.constants): they were ignored, so a trace of RM = {r1, r2} was checked
    # against the spec's three RMs without a word
    from checker.trace import load_for_traces

    spec_path = str(ROOT / "specs" / "2pc.spec")
    two = load_spec(spec_path, consts=["RM={r1,r2}"])
    r = validate(two, str(ROOT / "traces" / "tests" / "2pc_two_rms.jsonl"), itf=True)
    doc = report_of(r)["itf"]
    del doc["#meta"]["constants"]
    assert doc["params"] == ["RM"] and doc["states"][0]["RM"] == {"#set": ["r1", "r2"]}
    p = tmp_path / "apalache.itf.json"
    p.write_text(json.dumps(doc, indent=2))
    with pytest.raises(SpecError, match=r"--const RM=\{r1,r2\}"):
        validate(load_spec(spec_path), str(p))
    spec = load_for_traces(spec_path, [str(p)])
    assert spec.model.constants["RM"].items == ("r1", "r2")
    assert validate(spec, str(p)).status is Status.OK
