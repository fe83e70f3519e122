"""The `$ modelcheck ...` sessions shown in README.md and docs/*.md print what the
checker prints: each line shown (but `...`, timings and memory) appears in the real
output, in order. A shown line may carry an annotation of ours after two or more spaces.

Sessions that need files made earlier in their page (the tutorial's `lock.spec`, the
examples' recorded logs) are checked where those files are made (test_explain.py,
test_examples.py); the longest searches are left to test_protocols.py, which pins their
counts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)
# not compared: timings, rates and memory, which differ from run to run
VARYING = re.compile(r"time:|states per second|peak memory|CPU seconds|\d\.\d+ ?s\b|MiB")
# searches of more than a few seconds, whose counts test_protocols.py pins
LONG = ("specs/raft.spec --faults all", "specs/replication/multi_master.spec --faults all",
        "RM={r1,r2,r3,r4,r5,r6,r7}", "specs/replication/primary_backup.spec --faults all",
        "bmc specs/buggy/paxos_no_ballot_check.spec --depth 12")


def _sessions():
    for page in PAGES:
        text = page.read_text()
        for block in BLOCK.finditer(text):
            line = text[:block.start()].count("\n") + 2
            session = None
            for k, row in enumerate(block.group(1).splitlines()):
                if row.startswith("$ "):
                    session = None
                    command = row[2:]
                    if not command.startswith("modelcheck ") or re.search(r"[|<>]", command):
                        continue
                    args = shlex.split(command)[1:]
                    if not all((ROOT / a).exists() for a in args
                               if re.search(r"\.(spec|jsonl|itf\.json)$", a)):
                        continue        # a file made earlier in the page
                    if any(x in command for x in LONG):
                        continue
                    session = (args, [])
                    yield pytest.param(*session, id=f"{page.name}:{line + k}")
                elif session is not None:
                    session[1].append(row)


def _matches(shown: str, got: str) -> bool:
    shown, got = shown.rstrip(), got.rstrip()
    return shown == got or (shown.startswith(got) and got != ""
                            and re.match(r"\s{2,}\S", shown[len(got):]) is not None)


@pytest.mark.parametrize(("args", "shown"), list(_sessions()))
def test_a_documented_session_prints_what_the_page_shows(args, shown, monkeypatch):
    monkeypatch.chdir(ROOT)
    if args[0] in ("prove", "bmc"):
        # (in a process of its own, as a user runs it: Z3's models, and so the CTIs
        # shown, depend on what the process asked Z3 before)
        output = subprocess.run([sys.executable, "-m", "checker", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=300).stdout
    else:
        output = CliRunner().invoke(main, args).output
    got = output.splitlines()
    at = 0
    for row in shown:
        if row.strip() in ("", "...") or VARYING.search(row):
            continue
        k = next((i for i in range(at, len(got)) if _matches(row, got[i])), None)
        assert k is not None, (f"shown but not printed (after line {at} of the output):\n"
                               f"  {row}\noutput:\n{output}")
        at = k + 1
