"""The command line: `kernelkit info`, `convert`, `flows` and `lab`."""

import polars as pl
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import kernelkit
from kernelkit.cli import main

SAMPLE = str(kernelkit.sample_path())


def test_info_summarises_the_sample():
    result = CliRunner().invoke(main, ["info", "--no-progress", SAMPLE])
    assert result.exit_code == 0, result.output
    packets = kernelkit.read_packets(SAMPLE)
    assert f"packets:        {packets.height:,}" in result.output
    assert "EN10MB (1)" in result.output
    tcp_share = packets["tcp_flags"].is_not_null().mean()
    assert f"tcp {tcp_share:.1%}" in result.output


def test_convert_writes_the_packet_table(tmp_path):
    out = tmp_path / "sample.parquet"
    result = CliRunner().invoke(main, ["convert", "--no-progress", SAMPLE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_frame_equal(pl.read_parquet(out), kernelkit.read_packets(SAMPLE))


def test_convert_with_data_keeps_the_bytes(tmp_path):
    out = tmp_path / "sample.parquet"
    result = CliRunner().invoke(main, ["convert", "--no-progress", "--data", SAMPLE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out)["data"].to_list() == kernelkit.read_packets(SAMPLE, data=True)["data"].to_list()


def test_a_file_that_is_not_a_capture_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a capture\n")
    result = CliRunner().invoke(main, ["info", str(bogus)])
    assert result.exit_code == 1
    assert "notes.txt: not a pcap or pcapng capture" in result.output


def test_a_cut_file_warns_with_its_offset(tmp_path):
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(kernelkit.sample_path().read_bytes()[:-10])
    result = CliRunner().invoke(main, ["info", "--no-progress", str(cut)])
    assert result.exit_code == 0
    assert "cut.pcapng: cut short" in result.output


def test_flows_writes_the_flow_table(tmp_path):
    out = tmp_path / "flows.parquet"
    result = CliRunner().invoke(main, ["flows", SAMPLE, "-o", str(out), "--table", "cuckoo", "--shards", "2"])
    assert result.exit_code == 0, result.output
    expected = kernelkit.flows(SAMPLE, table="cuckoo", shards=2)
    assert f"wrote {expected.height:,} flows" in result.output
    assert_frame_equal(pl.read_parquet(out), expected)


def test_flows_with_an_unknown_design_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["flows", SAMPLE, "-o", str(tmp_path / "f.parquet"), "--table", "btree"])
    assert result.exit_code != 0
    assert "btree" in result.output and "Traceback" not in result.output


def test_lab_opens_jupyterlab_on_the_quickstart(monkeypatch):
    import os
    import shutil
    import subprocess
    from pathlib import Path

    started = []
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(subprocess, "call", lambda args: started.append(args) or 0)
    result = CliRunner().invoke(main, ["lab", "--port", "8899", "--no-browser"])
    assert result.exit_code == 0, result.output
    (args,) = started
    notebooks = Path(kernelkit.__file__).resolve().parent.parent / "notebooks"
    assert args[1:4] == ["-m", "jupyter", "lab"]
    assert "--port=8899" in args and "--no-browser" in args and f"--notebook-dir={notebooks}" in args
    assert args[-1] == str(notebooks / "01_quickstart.ipynb")
    assert ("--allow-root" in args) == (os.geteuid() == 0)


def test_lab_without_jupyterlab_says_how_to_install_it(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["lab"])
    assert result.exit_code != 0
    assert "pip install 'kernelkit[lab]'" in result.output
