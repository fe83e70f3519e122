"""Files the checker writes for the user (the HTML report, a sweep's chart, a graph):
checked before a long run starts, so that it does not end with nowhere to put its
output, and written atomically, so that a failure never leaves a half-written file
behind. An output never replaces a file the run reads (``--chart my.spec`` once turned
the spec into a chart); a device or a pipe (``/dev/null``, ``/dev/stdout``) is written
through, not replaced; a symbolic link stays a link to the file it names."""

from __future__ import annotations

import os
import stat
import tempfile


class OutputFileError(ValueError):
    """The file could not be written (the message says which, where and why)."""


_INPUTS: set[str] = set()       # the files this process reads (their real paths)


# Suffixes of image and document formats: an output named so but written as SVG or dot
# text would not open (the sweep's chart and `graph -o` refuse them).
OTHER_IMAGE_FORMATS = frozenset((".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif",
                                 ".tiff", ".pdf", ".eps", ".ps", ".html", ".htm"))


def reading(path: str) -> None:
    """Records ``path`` as a file the run reads, which no output may replace."""
    _INPUTS.add(os.path.realpath(path))


def _existing(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)    # (through a symbolic link)
    except OSError:
        return None


def check_writable(path: str, what: str) -> None:
    """Raise OutputFileError now if ``what`` (e.g. "report") could not go to ``path``."""
    target = os.path.realpath(path)
    if target in _INPUTS:
        raise OutputFileError(f"cannot write the {what} to {path}: it is a file this run "
                              "reads; choose another name")
    if os.path.isdir(path):
        raise OutputFileError(f"cannot write the {what} to {path}: it is a directory")
    st = _existing(path)
    if st is not None and not stat.S_ISREG(st.st_mode):    # a device, a pipe
        if not os.access(path, os.W_OK):
            raise OutputFileError(f"cannot write the {what} to {path}: permission denied")
        return
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise OutputFileError(f"cannot write the {what} to {path}: no directory {directory}")
    if not os.access(directory, os.W_OK | os.X_OK) or (
            st is not None and not os.access(path, os.W_OK)):
        raise OutputFileError(f"cannot write the {what} to {path}: permission denied")


def write_atomically(path: str, text: str, what: str) -> None:
    """Write ``text`` into a temporary file next to ``path`` (next to the file a link
    names), then rename it over that file, keeping the permissions of the file it
    replaces (or those a new file would get). A device or a pipe is written directly."""
    check_writable(path, what)
    st = _existing(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as err:
            raise OutputFileError(f"cannot write the {what} to {path}: "
                                  f"{err.strerror or err}") from None
        return
    target = os.path.realpath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".modelcheck-", suffix=".tmp",
                                   dir=os.path.dirname(target))
    except OSError as err:
        raise OutputFileError(f"cannot write the {what} to {path}: "
                              f"{err.strerror or err}") from None
    try:
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            mask = os.umask(0)
            os.umask(mask)
            mode = 0o666 & ~mask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputFileError(f"cannot write the {what} to {path}: "
                              f"{err.strerror or err}") from None
