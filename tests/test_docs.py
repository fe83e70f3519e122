"""Every ```spec block in the docs is a complete spec that parses, type-checks and
compiles, so the documentation cannot drift from the language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checker.api import load_spec
from checker.explore import explore
from checker.result import Status

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```spec\n(.*?)```", re.S)


def _blocks():
    for path in sorted(DOCS.glob("*.md")):
        for i, match in enumerate(BLOCK.finditer(path.read_text())):
            yield pytest.param(path.name, match.group(1), id=f"{path.name}-{i}")


@pytest.mark.parametrize(("doc", "text"), list(_blocks()))
def test_doc_example_compiles_and_runs(doc, text):
    compiled = load_spec(f"{doc}.spec", text=text)
    result = explore(compiled.model, max_states=200_000, check_deadlock=False)
    assert result.status in (Status.OK, Status.VIOLATION), result
