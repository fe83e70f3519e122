"""Re-run the commands a doc shows and put their real output back under them.

A command is an indented line ``    $ modelcheck ...`` followed by a fenced ``text`` block;
the block is replaced by what the command prints now. Commands that name files the
repository does not have (a reader's own spec) are left alone and reported.

    python scripts/refresh_doc_outputs.py docs/tutorial-proofs.md
    python scripts/refresh_doc_outputs.py --check docs/tutorial-proofs.md   # exit 1 if stale

The run header (spec, constants, properties) is left out of each block. Timings in the
output ("(0.09 s)") change from run to run; ``--check`` ignores them.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = re.compile(r"^    \$ (modelcheck .*)$")
TIMING = re.compile(r"\d+(\.\d+)? s\b")


def run(command: str) -> str | None:
    argv = shlex.split(command)
    if any(a.endswith(".spec") and not (ROOT / a).exists() for a in argv):
        return None
    proc = subprocess.run([sys.executable, "-m", "checker", *argv[1:], "--no-color"],
                          capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.rstrip("\n").split("\n")
    if lines[0].startswith(("Proving ", "Checking ")):
        # the docs show the run header (spec, constants, properties) once, not per step
        lines = lines[1:]
        while lines and lines[0].startswith("  "):
            lines = lines[1:]
        if lines and not lines[0]:
            lines = lines[1:]
    return "\n".join(lines)


def refresh(lines: list[str]) -> tuple[list[str], list[str]]:
    """The doc's lines with every command's block refreshed, and the commands skipped."""
    out: list[str] = []
    skipped: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        match = COMMAND.match(lines[i])
        i += 1
        if not match:
            continue
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or lines[j].strip() != "```text":
            continue
        end = lines.index("```", j + 1)
        output = run(match.group(1))
        if output is None:
            skipped.append(match.group(1))
            continue
        out.extend(lines[i:j + 1])
        out.extend(output.split("\n"))
        out.append("```")
        i = end + 1
    return out, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="Do not write; exit 1 if an output differs (timings aside).")
    args = parser.parse_args()
    stale = False
    for doc in args.docs:
        lines = doc.read_text().split("\n")
        new, skipped = refresh(lines)
        for command in skipped:
            print(f"{doc}: skipped (needs a file the repository lacks): {command}")
        if args.check:
            if [TIMING.sub("T", x) for x in new] != [TIMING.sub("T", x) for x in lines]:
                print(f"{doc}: outputs are stale")
                stale = True
        elif new != lines:
            doc.write_text("\n".join(new))
            print(f"{doc}: refreshed")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
