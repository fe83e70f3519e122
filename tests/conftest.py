"""Shared test helpers: golden files (``UPDATE_GOLDEN=1 pytest`` rewrites them)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"

# A suite started with Ctrl-C ignored (a background job of a non-interactive shell:
# `pytest &` in a script) would pass that on to every process it starts, and the tests
# of what Ctrl-C does would fail: deliver it, as a terminal does.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def golden():
    """``golden(name, text)`` asserts that ``text`` equals ``tests/golden/<name>.txt``."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / f"{name}.txt"
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(text + "\n", encoding="utf-8")
        assert path.exists(), f"missing golden file {path} (run with UPDATE_GOLDEN=1)"
        assert text + "\n" == path.read_text(encoding="utf-8")

    return check


@pytest.fixture(autouse=True)
def _signals_restored():
    """``cli.run()`` leaves SIGINT and SIGTERM ignored (it is about to exit): put them
    back after every test that calls it, or later tests' Ctrl-C would be ignored (a
    sweep then ran to its end) and the processes they start would inherit that."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, saved[0])
    signal.signal(signal.SIGTERM, saved[1])
