"""Output files (report, chart): refused before a run when they could not be written,
and written whole or not at all."""

from __future__ import annotations

import os

import pytest

from checker.output_file import OutputFileError, check_writable, write_atomically


def test_an_unwritable_place_is_refused_with_the_reason(tmp_path):
    with pytest.raises(OutputFileError, match="the chart to .*: no directory"):
        check_writable(str(tmp_path / "missing" / "x.svg"), "chart")
    with pytest.raises(OutputFileError, match="the report to .*: it is a directory"):
        check_writable(str(tmp_path), "report")
    check_writable(str(tmp_path / "x.svg"), "chart")        # a new file: fine


def test_a_file_is_replaced_whole_with_no_temporary_file_left(tmp_path):
    path = tmp_path / "chart.svg"
    path.write_text("old")
    write_atomically(str(path), "new", "chart")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["chart.svg"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_directory_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputFileError, match="permission denied"):
            check_writable(str(tmp_path / "x.svg"), "chart")
    finally:
        tmp_path.chmod(0o700)
