"""The synthetic trace generator: deterministic, exact counts, and traffic that parses clean."""

import shutil
import subprocess

import numpy as np
import polars as pl
import pytest

import kernelkit
from kernelkit.synth import write_trace

PACKETS = 30_000
SYN, RST, ACK, FIN = 0x02, 0x04, 0x10, 0x01


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "default.pcap"
    summary = write_trace(path, packets=PACKETS, seed=7)
    return summary, kernelkit.read_packets(path)


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "small.pcap"
    summary = write_trace(path, packets=PACKETS, seed=8, small=True, ipv6_share=0.5, vlan_share=0.3)
    return summary, kernelkit.read_packets(path)


def test_same_seed_same_bytes_whatever_the_buffer(tmp_path):
    a = write_trace(tmp_path / "a.pcap", packets=5_000, seed=3)
    # a buffer of 64 KiB: many refills, records never split across them
    b = write_trace(tmp_path / "b.pcap", packets=5_000, seed=3, buffer_bytes=64 << 10)
    c = write_trace(tmp_path / "c.pcap", packets=5_000, seed=4)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()


def test_counts_and_summary(trace):
    summary, packets = trace
    assert summary.packets == packets.height == PACKETS
    assert summary.flows == PACKETS // 20
    assert summary.bytes == summary.path.stat().st_size == 24 + 16 * PACKETS + summary.wire_bytes
    assert summary.wire_bytes == packets["caplen"].sum()
    assert summary.seconds > 0


def test_every_packet_parses_clean(trace, small_trace):
    for _, packets in (trace, small_trace):
        assert packets["status"].unique().to_list() == [0]
        assert packets["ethertype"].null_count() == 0
        assert (packets["caplen"] == packets["wirelen"]).all()
        # IP lengths are exact: the frame is the headers plus the IP length,
        # except for frames padded to the Ethernet minimum of 60 bytes.
        ends = packets["l3_offset"] + packets["ip_len"]
        assert ((ends == packets["caplen"]) | ((packets["caplen"] == 60) & (ends < 60))).all()
        ts = packets["ts"].cast(pl.Int64).to_numpy()
        assert (np.diff(ts) > 0).all()


def test_traffic_mix(trace):
    summary, packets = trace
    n = packets.height
    tcp = packets.filter(pl.col("ip_proto") == 6)
    flags = tcp["tcp_flags"]
    syns = tcp.filter(flags == SYN)
    syn_acks = tcp.filter(flags == SYN | ACK)
    # most flows are TCP; almost all of them are answered
    assert 0.5 * summary.flows < syns.height < 0.75 * summary.flows
    assert syn_acks.height > 0.9 * syns.height
    # SYN options: MSS, SACK permitted and window scale always; timestamps on most
    assert syns["tcp_mss"].null_count() == 0
    assert syns["tcp_wscale"].null_count() == 0
    assert syns["tcp_sack_perm"].all()
    assert 0.6 < syns["tcp_tsval"].is_not_null().mean() < 0.95
    # teardowns: FIN exchanges and resets
    assert tcp.filter((flags & FIN) != 0).height > syns.height
    assert tcp.filter((flags & RST) != 0).height > 0.1 * syns.height
    # data with timestamps
    data = tcp.filter(pl.col("payload_len") > 0)
    assert data.height > 0.4 * tcp.height
    assert data["tcp_tsval"].is_not_null().mean() > 0.6
    # DNS, bulk UDP and ICMP echo
    udp = packets.filter(pl.col("ip_proto") == 17)
    assert udp.filter(pl.col("dport") == 53).height > 0.1 * summary.flows
    assert udp.filter(pl.col("payload_len") >= 1000).height > 0
    icmp_types = set(packets["icmp_type"].drop_nulls().unique().to_list())
    assert {8, 0, 128, 129} <= icmp_types
    # shares of IPv6 and VLAN-tagged packets, within a few flows of the request
    assert abs((packets["ip_version"] == 6).mean() - 0.2) < 0.03
    assert abs(packets["vlan_id"].is_not_null().mean() - 0.1) < 0.03
    # sizes: many small ACKs, many full-size segments, some in between
    caplen = packets["caplen"]
    assert (caplen <= 100).sum() > 0.25 * n
    assert (caplen >= 1500).sum() > 0.2 * n
    assert ((caplen > 100) & (caplen < 1500)).sum() > 0.05 * n
    assert caplen.max() <= 1518


def test_tcp_numbers_advance(trace):
    _, packets = trace
    tcp = packets.filter(pl.col("ip_proto") == 6).with_columns(
        client=pl.when(pl.col("dport") < pl.col("sport")).then(pl.col("src_ip")).otherwise(pl.col("dst_ip")),
        cport=pl.when(pl.col("dport") < pl.col("sport")).then(pl.col("sport")).otherwise(pl.col("dport")),
    )
    key = ["client", "cport"]
    syn = tcp.filter(pl.col("tcp_flags") == SYN).select(*key, isn=pl.col("tcp_seq"))
    syn_ack = tcp.filter(pl.col("tcp_flags") == SYN | ACK).select(
        *key, ack=pl.col("tcp_ack"), isn_s=pl.col("tcp_seq"), tsecr=pl.col("tcp_tsecr")
    )
    handshakes = syn.join(syn_ack, on=key)
    assert handshakes.height > 0.9 * syn_ack.height
    expected = (handshakes["isn"].cast(pl.Int64) + 1) % (1 << 32)
    assert (handshakes["ack"].cast(pl.Int64) == expected).all()
    # each side's data advances its sequence number by the payload it sent
    one = tcp.filter(pl.col("tcp_flags") & SYN == 0).sort("ts")
    steps = one.with_columns(
        nxt=(
            pl.col("tcp_seq").cast(pl.Int64)
            + pl.col("payload_len")
            + (pl.col("tcp_flags").cast(pl.Int64) & FIN)
        )
        % (1 << 32)
    ).with_columns(following=pl.col("tcp_seq").shift(-1).over(["src_ip", "sport", "dst_ip", "dport"]))
    steps = steps.filter(pl.col("following").is_not_null() & (pl.col("tcp_flags") & RST == 0))
    assert steps.height > 0.5 * tcp.height
    assert (steps["nxt"] == steps["following"].cast(pl.Int64)).all()


def test_small_packets(small_trace):
    summary, packets = small_trace
    assert packets["caplen"].max() <= 100
    assert packets["caplen"].min() >= 60
    assert abs((packets["ip_version"] == 6).mean() - 0.5) < 0.05
    assert abs(packets["vlan_id"].is_not_null().mean() - 0.3) < 0.05
    assert summary.bytes / summary.packets < 110


@pytest.mark.parametrize("packets, flows", [(1, 1), (7, 3), (12, 12), (100, 1)])
def test_few_packets(tmp_path, packets, flows):
    summary = write_trace(tmp_path / "few.pcap", packets=packets, flows=flows)
    frame = kernelkit.read_packets(summary.path)
    assert frame.height == packets
    assert frame["status"].unique().to_list() == [0]


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        write_trace(tmp_path / "x.pcap", packets=10, flows=11)
    with pytest.raises(ValueError):
        write_trace(tmp_path / "x.pcap", packets=0)
    with pytest.raises(ValueError):
        write_trace(tmp_path / "x.pcap", packets=10, ipv6_share=1.5)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("small", [False, True])
def test_tshark_reads_it_clean(tmp_path, small):
    path = tmp_path / "t.pcap"
    write_trace(path, packets=5_000, seed=11, small=small, ipv6_share=0.4, vlan_share=0.3)
    checks = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
    ]

    def shown(display_filter):
        out = subprocess.run(
            ["tshark", "-n", "-r", str(path), *checks, "-Y", display_filter],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    assert shown("_ws.malformed") == ""
    assert shown("ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0") == ""
    assert shown("tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment") == ""
