"""The pcap writer: what it writes reads back identically, in kernelkit and in tshark."""

import shutil
import subprocess
import warnings

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import kernelkit
from kernelkit.io.formats import TraceWarning
from tests.traces import shared_trace, shared_traces

TSHARK = shutil.which("tshark")
FIELDS = ["frame.len", "frame.cap_len", "frame.time_epoch", "frame.protocols", "eth.src", "ip.src", "ipv6.dst",
          "tcp.seq_raw", "udp.dstport", "dns.qry.name", "tls.handshake.extensions_server_name"]


def _read(path, **kw) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TraceWarning)
        return kernelkit.read_packets(path, **kw)


@pytest.mark.parametrize("path", shared_traces(), ids=lambda p: p.name)
def test_round_trip_keeps_every_column(path, tmp_path):
    packets = _read(path, data=True)
    if packets.height == 0:
        pytest.skip("no packets")
    out = tmp_path / "out.pcap"
    assert kernelkit.write_pcap(packets, out) == packets.height
    again = _read(out, data=True)
    # Interface ids are renumbered by link type, and pcapng packets without a time get 0.
    epoch = pl.lit(0).cast(packets["ts"].dtype)
    expected = packets.drop("iface").with_columns(pl.col("ts").fill_null(epoch))
    assert_frame_equal(again.drop("iface"), expected)


def _tshark_fields(path):
    cmd = [TSHARK, "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for field in FIELDS:
        cmd += ["-e", field]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize(
    "name, keep",
    [
        ("suricata-verify__tls__tls-subjectaltname__input.pcap", pl.col("dport") == 443),
        ("zeek__dns-edns-ecs.pcap", pl.col("ip_proto") == 17),
        ("zeek__vlan-qinqinq.pcap", pl.col("payload_len") > 0),
    ],
)
def test_filtered_subset_reads_the_same_in_tshark(name, keep, tmp_path):
    path = shared_trace(name)
    packets = _read(path, data=True).with_row_index("frame", offset=1)
    subset = packets.filter(keep)
    assert 0 < subset.height < packets.height
    out = tmp_path / "subset.pcap"
    kernelkit.write_pcap(subset.drop("frame"), out)
    # tshark's own view of the same frames in the original capture
    original = _tshark_fields(path)
    assert _tshark_fields(out) == [original[n - 1] for n in subset["frame"]]


def test_several_link_types_give_pcapng(tmp_path):
    packets = _read(shared_trace("gopacket__le__test202.pcapng"), data=True)
    assert packets["linktype"].n_unique() == 2
    out = tmp_path / "mixed.pcapng"
    kernelkit.write_pcap(packets, out)
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    again = _read(out, data=True)
    assert again.select("linktype", "wirelen", "data").equals(packets.select("linktype", "wirelen", "data"))


def test_writer_needs_the_bytes(tmp_path):
    with pytest.raises(ValueError, match="data"):
        kernelkit.write_pcap(_read(kernelkit.sample_path()), tmp_path / "x.pcap")
