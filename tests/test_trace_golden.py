"""Golden divergence reports: the text a user sees for a few typical rejections.

To regenerate after an intended change: ``UPDATE_GOLDEN=1 pytest tests/test_trace_golden.py``
and review the diff of traces/golden/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.render.trace_report import render_trace_text
from checker.trace import report_of, validate

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "traces" / "golden"

CASES = {
    # A coordinator that commits before every participant voted yes.
    "2pc_early_commit": ("2pc", "traces/tests/2pc_early_commit.jsonl", None),
    # An observed value the step cannot produce.
    "2pc_wrong_observation": ("2pc", "traces/tests/2pc_wrong_observation.jsonl", None),
    # Event names only: several candidates, where they started to multiply.
    "2pc_names_only": ("2pc", "traces/tests/2pc_names_only.jsonl", None),
    # A log line missing: the hint names the step that would explain the event.
    "2pc_missing_line": ("2pc", "traces/tests/2pc_missing_line.jsonl", None),
    # An application log read through a mapping: two alternatives, each explained.
    "2pc_app_bad": ("2pc", "traces/tests/2pc_app_bad.log", "traces/tests/2pc_app.toml"),
    # A message that was never sent.
    "paxos_unsent": ("paxos", "traces/tests/paxos_unsent.jsonl", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_report(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    spec, trace, mapping = CASES[name]
    result = validate(load_spec(f"specs/{spec}.spec"), trace, mapping)
    text = render_trace_text(result)
    report = json.dumps(report_of(result), indent=1, sort_keys=True, ensure_ascii=False)
    report = "\n".join(line for line in report.splitlines()
                       if not any(k in line for k in ('"elapsed_s"', '_per_s"')))
    for suffix, content in ((".txt", text), (".json", report + "\n")):
        path = GOLDEN / (name + suffix)
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(content)
        assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1"
        assert content == path.read_text(), f"{path} differs (UPDATE_GOLDEN=1 to accept)"
