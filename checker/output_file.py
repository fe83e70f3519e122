"""Files the checker writes for the user (the HTML report, a sweep's chart): checked
before a long run starts, so that it does not end with nowhere to put its output, and
written atomically, so that a failure never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile


class OutputFileError(ValueError):
    """The file could not be written (the message says which, where and why)."""


def check_writable(path: str, what: str) -> None:
    """Raise OutputFileError now if ``what`` (e.g. "report") could not go to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputFileError(f"cannot write the {what} to {path}: it is a directory")
    if not os.path.isdir(directory):
        raise OutputFileError(f"cannot write the {what} to {path}: no directory {directory}")
    if not os.access(directory, os.W_OK | os.X_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputFileError(f"cannot write the {what} to {path}: permission denied")


def write_atomically(path: str, text: str, what: str) -> None:
    """Write ``text`` into a temporary file next to ``path``, then rename it over
    ``path`` (with the permissions a new file would get)."""
    check_writable(path, what)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".modelcheck-", suffix=".tmp", dir=directory)
    except OSError as err:
        raise OutputFileError(f"cannot write the {what} to {path}: "
                              f"{err.strerror or err}") from None
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputFileError(f"cannot write the {what} to {path}: "
                              f"{err.strerror or err}") from None
