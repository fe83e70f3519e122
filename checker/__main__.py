"""``python -m checker SPEC ...`` is the same as ``modelcheck SPEC ...``."""

from .cli import run

run()
