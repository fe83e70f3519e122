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


def test_a_file_the_run_reads_is_never_replaced(tmp_path):
    from checker.output_file import _INPUTS
    from checker.parser import read_source

    spec = tmp_path / "my.spec"
    spec.write_text("spec S\nvar x: 0..1\ninit { x = 0 }\n")
    read_source(str(spec))
    try:
        for name in ("my.spec", "./my.spec"):
            with pytest.raises(OutputFileError, match="it is a file this run reads"):
                write_atomically(str(tmp_path / name), "<svg/>", "chart")
        link = tmp_path / "link.svg"
        link.symlink_to(spec)
        with pytest.raises(OutputFileError, match="it is a file this run reads"):
            check_writable(str(link), "chart")
        assert spec.read_text().startswith("spec S")
    finally:
        _INPUTS.discard(os.path.realpath(spec))


def test_the_cli_refuses_to_write_a_chart_over_its_spec(tmp_path):
    from pathlib import Path

    from click.testing import CliRunner

    from checker.cli import main

    spec = tmp_path / "paxos.spec"
    text = Path("specs/paxos.spec").read_text()
    spec.write_text(text)
    got = CliRunner().invoke(main, ["sweep", str(spec), "--const", "MaxBallot=0..1",
                                    "--chart", str(spec)])
    assert got.exit_code == 2, got.output
    assert "it is a file this run reads" in got.output
    assert spec.read_text() == text


def test_a_symbolic_link_stays_a_link_and_modes_are_kept(tmp_path):
    real = tmp_path / "real.svg"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.svg"
    link.symlink_to(real)
    write_atomically(str(link), "new", "chart")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o640


def test_a_pipe_or_device_is_written_through_not_replaced(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomically(str(fifo), "through the pipe", "graph")
    reader.join(10)
    assert got == ["through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    write_atomically(os.devnull, "nothing", "chart")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
