"""The ``modelcheck`` command's entry point. It imports nothing but the standard library
before it guards against Ctrl-C, so that a Ctrl-C while Python is still loading the
checker (its first half second) ends it as a Ctrl-C before a search does: one line,
exit status 3, no traceback."""

from __future__ import annotations

import sys

EXIT_LIMIT = 3      # (checker.cli's, which is not loaded yet)


def main() -> None:
    try:
        from .cli import run
    except KeyboardInterrupt:
        _interrupted()
    except RuntimeError as err:
        # Python 3.11 wraps an exception raised while a class is created (a Ctrl-C in
        # a module's class statement) in "Error calling __set_name__"
        if isinstance(err.__cause__, KeyboardInterrupt):
            _interrupted()
        raise
    run()


def _interrupted() -> None:
    sys.stderr.write("interrupted while starting\n")
    sys.exit(EXIT_LIMIT)
