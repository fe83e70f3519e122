"""The HTML report and its sequence diagram: structure, self-containment, the diagram's
arrows, atomic writing; and the page in a real headless browser when one is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.explain import explain
from checker.explore import explore
from checker.render.diagram import describe, sequence_diagram, sequence_svg
from checker.render.html import ReportError, render_html, write_report
from checker.result import Result, Stats, Status

ROOT = Path(__file__).resolve().parent.parent


def run(path: str | None = None, *, text: str | None = None, **kw):
    name = path or "inline.spec"
    if text is None:
        text = (ROOT / name).read_text()
    compiled = load_spec(name, text=text, **kw)
    return compiled, explain(compiled, explore(compiled.model), source_text=text)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "img", "input", "link", "path", "line", "rect"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in ("path", "line", "rect"):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    p.close()
    return p


# ---------------------------------------------------------------------- the page
def test_page_is_self_contained_and_complete():
    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    page = render_html(result, compiled)
    p = parse(page)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for _, attrs in p.tags:
        for k, v in attrs.items():
            assert not (k in ("src", "href") and v and not v.startswith("#")), (k, v)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "@import" not in page and "url(http" not in page
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") ==
           "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    text = "".join(p.text)
    assert "Invariant Consistent is violated." in text
    assert "is false for rm1 = r2, rm2 = r1:" in text            # the explanation
    assert "rmState[r2] = aborted" in text
    assert tags.count("svg") == 1                               # the diagram
    ids = {a.get("id") for _, a in p.tags}
    assert {"verdict", "why", "diagram", "states", "stats"} <= ids
    # The states table: one row per state, changed values highlighted.
    rows = [a for t, a in p.tags if t == "tr"]
    assert len(rows) == 1 + 6 + 7      # header + states + statistics rows
    changed = [a for t, a in p.tags if t == "td" and "changed" in a.get("class", "")]
    assert len(changed) == 7      # 2 + 1 + 2 + 1 + 1 changed variables in steps 2..6
    assert "(+ Commit)" in text and "(r1: prepared -> committed)" in text
    assert "distinct states" in text and "167" in text


def trace_cli(*args):
    from click.testing import CliRunner

    from checker.cli import main

    return CliRunner().invoke(main, ["trace", *map(str, args)])


def test_trace_page_says_where_and_why_the_log_diverges(tmp_path):
    # (`trace` had no html format and no --report: "'html' is not one of 'text',
    # 'json', 'itf'", while every other engine's result had its page)
    got = trace_cli("specs/2pc.spec", "traces/tests/2pc_early_commit.jsonl", "--format", "html")
    assert got.exit_code == 1, got.output
    p = parse(got.stdout)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags and tags.count("svg") == 1
    text = "".join(p.text)
    assert "Trace rejected: traces/tests/2pc_early_commit.jsonl" in text
    assert "rejected at event 5 of 6 (traces/tests/2pc_early_commit.jsonl:5)" in text
    assert "require tmPrepared == {r1, r2, r3} is false" in text
    assert "the log's next event cannot happen here" in text     # the diagram's last row
    assert "trace-report:" not in text                          # (the report's own JSON)
    ids = {a.get("id") for _, a in p.tags}
    assert {"verdict", "why", "diagram", "states"} <= ids and "stats" not in ids
    rows = [a for t, a in p.tags if t == "tr"]
    assert len(rows) == 1 + 5          # header + the witness's states (events 1 to 4)


def test_trace_report_for_several_files_with_a_malformed_one(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "RMPrepare", "args": {"r": "r1"}}\nnot json\n')
    report = tmp_path / "traces.html"
    got = trace_cli("specs/2pc.spec", "traces/tests/2pc_early_commit.jsonl",
                    "traces/recorded/twopc_ok_args.jsonl", bad, "--report", report)
    assert got.exit_code == 2, got.output                       # (a malformed file)
    assert "3 traces: 1 rejected, 1 ok, 1 malformed" in got.stdout   # the text, as before
    page = report.read_text()
    p = parse(page)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    text = "".join(p.text)
    assert "3 traces: 1 rejected, 1 ok, 1 malformed" in text
    assert "Trace accepted" in text and "Trace rejected" in text
    assert f"{bad}:2:1" in text                                 # the malformed line
    ids = [a.get("id") for _, a in p.tags if a.get("id")]
    assert len(ids) == len(set(ids))                            # one id per page
    assert {"trace-1", "trace-2", "trace-3", "why-1", "diagram-1", "why-2"} <= set(ids)


def test_trace_report_path_is_checked_before_validating(tmp_path):
    got = trace_cli("specs/2pc.spec", "traces/tests/2pc_early_commit.jsonl", "--report",
                    tmp_path / "no" / "such" / "r.html")
    assert got.exit_code == 2
    assert got.stderr.startswith("error: --report: cannot write the report")
    assert got.stdout == ""


def cli(*args):
    from click.testing import CliRunner

    from checker.cli import main

    return CliRunner().invoke(main, [*map(str, args)])


def test_prove_page_shows_each_cti_as_states_and_a_diagram(tmp_path):
    # (`prove` had text and json only: "'html' is not one of 'text', 'json'")
    report = tmp_path / "proof.html"
    got = cli("prove", "specs/2pc.spec", "--inv", "Consistent", "--format", "html",
              "--report", report)
    assert got.exit_code == 1, got.output
    assert report.read_text() == got.stdout
    p = parse(got.stdout)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    text = "".join(p.text)
    assert "Not proved: 3 counterexamples to induction" in text
    assert "Sanity checks (against a vacuous proof):" in text      # the whole report
    ids = [a.get("id") for _, a in p.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    assert {"cti-1", "cti-2", "cti-3", "states-1", "diagram-3"} <= set(ids)
    assert [t for t, _ in p.tags].count("svg") == 3
    assert "CTI 1: Consistent is not preserved by" in text
    rows = [t for t in p.text if t in ("pre-state", "initial state")]
    assert set(rows) == {"pre-state"} and len(rows) >= 3     # (a CTI starts anywhere: its
    # first state is no initial state, in the tables and the diagrams)


def test_prove_writes_its_ctis_as_itf():
    got = cli("prove", "specs/2pc.spec", "--inv", "Consistent", "--format", "itf")
    assert got.exit_code == 1, got.output
    docs = json.loads(got.stdout)
    assert len(docs) == 3 and all(k.startswith("CTI ") for k in docs)
    for title, doc in docs.items():
        assert doc["#meta"]["format"] == "ITF" and title in doc["#meta"]["description"]
        pre, post = doc["states"]
        assert pre["RM"] == {"#set": ["r1", "r2", "r3"]}       # the constants, in state 0
        assert post["mbt::actionTaken"] in title
        # the post-state breaks Consistent: one RM committed, another aborted
        assert {"committed", "aborted"} <= {x for _, x in post["rmState"]["#map"]}
    proved = cli("prove", "specs/2pc.spec", "--format", "itf")
    assert proved.exit_code == 0 and proved.stdout == ""
    assert "no counterexample to induction to write as ITF (status ok)" in proved.stderr
    unbounded = cli("prove", "specs/2pc.spec", "--unbounded", "--format", "itf")
    assert unbounded.exit_code == 2 and "prove without --unbounded" in unbounded.stderr


@pytest.mark.parametrize("command", [
    ["simulate", "specs/buggy/2pc_early_commit.spec"],
    ["bmc", "specs/buggy/2pc_early_commit.spec", "--depth", "6"],
    ["prove", "specs/2pc.spec", "--inv", "Consistent"]])
def test_report_is_written_by_every_engine(command, tmp_path):
    # (--report was check's only: "No such option: --report")
    report = tmp_path / "r.html"
    got = cli(*command, "--report", report)
    assert got.exit_code == 1, got.output
    p = parse(report.read_text())
    assert not p.errors and not p.stack
    assert [t for t, _ in p.tags].count("svg") >= 1
    refused = cli(*command, "--report", tmp_path / "no" / "r.html")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: --report: cannot write the report")


def test_resume_has_every_format_and_the_report(tmp_path):
    # (resume printed text or json only, while the check it continues had itf and html)
    ck = tmp_path / "ck"
    spec = "specs/buggy/paxos_no_ballot_check.spec"
    assert cli(spec, "--checkpoint", ck, "--max-states", 2000).exit_code == 3
    report = tmp_path / "r.html"
    got = cli("resume", ck, "--max-states", 0, "--format", "itf", "--report", report)
    assert got.exit_code == 1, got.output
    doc = json.loads(got.stdout)
    assert len(doc["states"]) == 13          # the shortest counterexample: 12 steps
    text = "".join(parse(report.read_text()).text)
    assert "Invariant Agreement is violated." in text


def test_svg_is_well_formed_xml():
    compiled, result = run("specs/buggy/paxos_no_ballot_check.spec")
    svg = sequence_svg(compiled, result.violation.trace, title="t & <x>")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("a1" == t for t in texts) and any(t.startswith("13") for t in texts)


def test_page_without_a_violation_or_without_the_spec():
    ok = Result("explicit", "Toy", Status.OK, stats=Stats(3, 4, 2, 0.5, 1 << 20))
    page = render_html(ok)
    p = parse(page)
    assert not p.errors
    assert "No violation found: 3 distinct states" in "".join(p.text)
    assert "<svg" not in page
    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    page = render_html(result)  # no compiled spec: no diagram, the rest is there
    assert "<svg" not in page and 'id="states"' in page


def test_values_are_escaped():
    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    page = render_html(result, compiled, title="<script>alert(1)</script>")
    assert "<script>" not in page and "&lt;script&gt;" in page


# ------------------------------------------------------------------ the diagram
def test_2pc_diagram_lifelines_and_messages():
    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    d = sequence_diagram(compiled, result.violation.trace)
    assert describe(d) == [
        "lifelines: TM, r1, r2, r3",
        "r1@2 -> TM@3: Prepared(rm=r1)",
        "TM@4 -> r1@6: Commit",
        "local r2@5: RMChooseToAbort",
    ]
    assert d.notes == ["Nodes: the symmetric sets (RM)."]


def test_paxos_diagram_receives_message_parameters():
    compiled, result = run("specs/buggy/paxos_no_ballot_check.spec")
    lines = describe(sequence_diagram(compiled, result.violation.trace))
    assert lines[0] == "lifelines: env, a1, a2, a3"
    assert "env@2 -> a1@4: P1a(bal=0)" in lines
    assert "env@8 -> a3@13: P2a(bal=0, val=v1)" in lines
    assert "a3@13 -> (not received): P2b(acc=a3, bal=0, val=v1)" in lines


NET = """\
spec Net
const Nodes = {n1, n2}
option max_faults = 1
option deadlock = false
message Ping(src: Nodes, dst: Nodes)
var got: map[Nodes, bool]
var net: bag[Message, 1]
init:
    got = {n: false for n in Nodes}
    net = {}
action Send(a in Nodes, b in Nodes):
    require a != b and count(net, Ping(a, b)) == 0 and not got[b]
    net = put(net, Ping(a, b))
action Deliver(m in net):
    got[m.dst] = true
    net = take(net, m)
fault action Lose(m in net):
    net = take(net, m)
invariant NotBoth: not (got[n1] and got[n2])
"""


def test_addressed_messages_in_a_bag_and_lost_messages():
    compiled, result = run(text=NET)
    assert describe(sequence_diagram(compiled, result.violation.trace)) == [
        "lifelines: n1, n2",
        "n1@2 -> n2@4: Ping(src=n1, dst=n2)",
        "n2@3 -> n1@5: Ping(src=n2, dst=n1)",
    ]
    text = NET.replace("invariant NotBoth: not (got[n1] and got[n2])",
                       "invariant Lossless: size(net) + 1 >= 1 and (forall n in Nodes: "
                       "not got[n]) or true\ntransition invariant NoLoss: size(net') >= "
                       "size(net) or got' != got")
    compiled, result = run(text=text, faults=("all",))
    assert result.violation is not None and result.violation.kind == "transition"
    lines = describe(sequence_diagram(compiled, result.violation.trace))
    assert lines[-2:] == ["n1@2 -> n2@3: Ping(src=n1, dst=n2) LOST", "fault n2@3: Lose"]


def test_fallback_without_node_types():
    text = """\
spec Counter
var x: 0..3
init:
    x = 0
action Add(k in 1..2):
    require x + k <= 3
    x = x + k
action Reset:
    x = 0
invariant Small: x < 3
"""
    compiled, result = run(text=text)
    d = sequence_diagram(compiled, result.violation.trace)
    assert [ll.label for ll in d.lifelines] == ["1..2"]
    assert d.notes[0].startswith("No action parameter names a node")
    assert "no arrows" in d.notes[1]


# --------------------------------------------------------------- writing files
def test_write_report_is_atomic(tmp_path):
    target = tmp_path / "r.html"
    write_report(str(target), "<p>one</p>")
    assert target.read_text() == "<p>one</p>"
    write_report(str(target), "<p>two</p>")
    assert target.read_text() == "<p>two</p>"
    assert sorted(os.listdir(tmp_path)) == ["r.html"]     # no temporary file left
    with pytest.raises(ReportError, match="no directory"):
        write_report(str(tmp_path / "missing" / "r.html"), "x")
    with pytest.raises(ReportError, match="is a directory"):
        write_report(str(tmp_path), "x")
    assert sorted(os.listdir(tmp_path)) == ["r.html"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions are not enforced for root")
def test_write_report_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ReportError, match="permission denied"):
            write_report(str(locked / "r.html"), "x")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


# ------------------------------------------------------------ in a real browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def _headless(exe: str, page: Path, screenshot: Path) -> str:
    """Run the browser on a file; returns its log (stderr and stdout)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--window-size=1300,1600", f"--screenshot={screenshot}", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    return done.stderr + done.stdout


def _console_errors(log: str) -> list[str]:
    return [ln for ln in log.splitlines()
            if "Uncaught" in ln or ("CONSOLE" in ln and ("rror" in ln or "Refused" in ln))
            or "net::ERR_" in ln]


@pytest.mark.skipif(_chromium() is None, reason="no headless chromium installed "
                    "(apt-get install chromium); the page is still tested structurally")
def test_page_in_headless_chromium(tmp_path):
    exe = _chromium()
    # The check can see errors: a page with a deliberate one reports it.
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFunction()</script>"
                   "</body></html>")
    assert _console_errors(_headless(exe, bad, tmp_path / "bad.png")), \
        "the browser log format changed: console errors are no longer detected"

    compiled, result = run("specs/buggy/2pc_early_commit.spec")
    page = tmp_path / "2pc_report.html"
    write_report(str(page), render_html(result, compiled))
    shot = tmp_path / "2pc_report.png"
    log = _headless(exe, page, shot)
    assert not _console_errors(log), _console_errors(log)
    assert shot.exists() and shot.stat().st_size > 10_000, log[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot of the report: {shot}")
