"""``python -m checker SPEC ...`` is the same as ``modelcheck SPEC ...``."""

from .entry import main

main()
