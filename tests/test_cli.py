"""The command line: `kernelkit info` and `kernelkit convert`."""

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
