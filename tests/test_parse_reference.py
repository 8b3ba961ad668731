"""The parse kernel against the plain-Python reference (tests/reference.py).

* Hand-built packets whose expected fields are worked out from the docs check the
  reference itself, then the kernel against it.
* Property tests build structured packets (tests/packetgen.py), damage them (cut,
  misreported wire length, flipped bytes), write them to pcapng or pcap files and
  compare ``kernelkit.read_packets`` with the reference, every column of every row.
* Every real capture at hand goes through both, column by column.

Kernel behaviours that contradict the docs are named in ``reference.KNOWN_QUIRKS``.
``PENDING_KERNEL_FIXES`` lists those not fixed yet: the property tests reproduce them
so they keep checking everything else, and each has a strict-xfail test below that
asserts the documented behaviour. When a fix lands, its xfail test passes (and so
fails, being strict): remove the mark and the name from ``PENDING_KERNEL_FIXES``.
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelkit
from kernelkit.status import status_name
from tests import packetgen as pg
from tests.reference import COLUMNS, STATUS, parse_packet_ref, pcap_records_ref, read_pcap_ref
from tests.traces import shared_traces

PENDING_KERNEL_FIXES: frozenset[str] = frozenset()

# Examples per property test; raise it (e.g. 5000) for a long fuzzing run.
EXAMPLES = int(os.environ.get("KERNELKIT_PROPERTY_EXAMPLES", "120"))

PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis directory in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ETH_DST = bytes.fromhex("020000000001")
ETH_SRC = bytes.fromhex("020000000002")


# --- helpers ------------------------------------------------------------------------------


def kernel_rows(path, *, data: bool = False) -> tuple[list[dict], list]:
    """``read_packets`` as row dicts (``ts`` as int ns), and the TraceWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = kernelkit.read_packets(path, data=data)
    columns = {}
    for name in frame.columns:
        series = frame[name].dt.epoch("ns") if name == "ts" else frame[name]
        columns[name] = series.to_list()
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    return rows, [w for w in caught if issubclass(w.category, kernelkit.TraceWarning)]


def _show(column: str, value) -> str:
    if column == "status" and value is not None:
        return f"{value} ({status_name(value)})"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and column.startswith(("eth", "ethertype")):
        return hex(value)
    return repr(value)


def assert_rows_equal(expected: list[dict], got: list[dict], columns, packets=None, limit: int = 5):
    """Every ``columns`` value of every row equal, or an error naming each difference.

    ``packets`` (one ``(linktype, wirelen, bytes)`` per row) are shown for the rows
    that differ, so a failure is a reproduction.
    """
    assert len(got) == len(expected), f"{len(got)} rows from the kernel, {len(expected)} from the reference"
    problems = []
    for i, (want, have) in enumerate(zip(expected, got)):
        diffs = [c for c in columns if want[c] != have[c]]
        if not diffs:
            continue
        lines = [f"row {i}:"]
        if packets is not None:
            linktype, wirelen, pkt = packets[i]
            lines.append(f"  linktype={linktype} wirelen={wirelen} caplen={len(pkt)} bytes={pkt.hex()}")
        for c in diffs:
            lines.append(f"  {c}: reference {_show(c, want[c])}, kernel {_show(c, have[c])}")
        problems.append("\n".join(lines))
        if len(problems) == limit:
            break
    assert not problems, "kernel and reference differ:\n" + "\n".join(problems)


def write_temp(directory: str, name: str, content: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(content)
    return path


def kernel_parse(pkt: bytes, wirelen: int, linktype: int) -> dict:
    """The kernel's row for one packet, through a one-record pcap file."""
    with tempfile.TemporaryDirectory() as d:
        path = write_temp(d, "one.pcap", pg.pcap_bytes([(1, 0, wirelen, pkt)], linktype))
        (row,), _ = kernel_rows(path)
    return row


def check_one(pkt: bytes, linktype: int, wirelen: int | None = None, quirks=PENDING_KERNEL_FIXES) -> dict:
    """Kernel equals reference on one packet; returns the reference row (documented semantics)."""
    wirelen = len(pkt) if wirelen is None else wirelen
    assert_rows_equal(
        [parse_packet_ref(pkt, wirelen, linktype, quirks=quirks)],
        [kernel_parse(pkt, wirelen, linktype)],
        COLUMNS,
        [(linktype, wirelen, pkt)],
    )
    return parse_packet_ref(pkt, wirelen, linktype)


def v4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def mapped(a: str) -> bytes:
    return bytes(10) + b"\xff\xff" + v4(a)


# --- the reference on hand-built packets (expected values from the docs) ------------------


def test_tcp_syn_in_qinq():
    options = (
        struct.pack("!BBH", 2, 4, 1460)
        + b"\x04\x02"
        + struct.pack("!BBII", 8, 10, 7, 0)
        + b"\x01\x03\x03\x07"
    )
    segment = pg.tcp(b"hi", sport=40000, dport=443, seq=100, flags=0x102, options=options)
    frame = pg.ethernet(
        pg.ipv4(segment, 6, src=v4("192.0.2.1"), dst=v4("198.51.100.7"), ttl=63, ident=9),
        0x0800,
        dst=ETH_DST,
        src=ETH_SRC,
        tags=[(0x88A8, 0x2064), (0x8100, 0x0007)],
    )
    row = check_one(frame, 1)
    assert row["status"] == 0
    assert (row["eth_dst"], row["eth_src"]) == (0x020000000001, 0x020000000002)
    assert row["vlan_id"] == 0x064  # the outer tag's id, priority bits dropped
    assert row["ethertype"] == 0x0800
    assert (row["l3_offset"], row["l4_offset"]) == (22, 42)
    assert (row["ip_version"], row["ip_ttl"], row["ip_id"], row["ip_proto"]) == (4, 63, 9, 6)
    assert (row["src_ip"], row["dst_ip"]) == (mapped("192.0.2.1"), mapped("198.51.100.7"))
    assert row["ip_len"] == 20 + 20 + len(options) + 2
    assert (row["sport"], row["dport"], row["tcp_seq"], row["tcp_flags"]) == (40000, 443, 100, 0x102)
    assert (row["tcp_mss"], row["tcp_wscale"], row["tcp_sack_perm"]) == (1460, 7, True)
    assert (row["tcp_tsval"], row["tcp_tsecr"], row["mptcp_subtype"]) == (7, 0, None)
    assert (row["payload_offset"], row["payload_len"]) == (42 + 20 + len(options), 2)


def test_ipv6_extension_chain_to_first_fragment_of_udp():
    datagram = pg.udp(bytes(100), sport=53, dport=5353)  # UDP length covers all fragments
    first = datagram[:40]
    chain = (
        pg.ipv6_ext(0, 60, bytes(6))
        + pg.ipv6_ext(60, 44, bytes(14))
        + pg.ipv6_fragment(17, 0, True, 0xDEADBEEF)
    )
    frame = pg.ethernet(pg.ipv6(chain + first, 0, hop_limit=9), 0x86DD)
    row = check_one(frame, 1)
    assert row["status"] == 0
    assert (row["ip_version"], row["ip_proto"], row["ip_ttl"], row["ip_id"]) == (6, 17, 9, 0xDEADBEEF)
    assert (row["frag_offset"], row["more_fragments"]) == (0, True)
    assert row["l4_offset"] == 14 + 40 + 8 + 16 + 8
    assert (row["sport"], row["dport"]) == (53, 5353)
    assert row["payload_len"] == 40 - 8  # this fragment's share, not the UDP length


def test_later_fragments_have_no_l4():
    v4_later = pg.ethernet(pg.ipv4(bytes(24), 6, frag_offset=185, mf=True), 0x0800)
    row = check_one(v4_later, 1)
    assert (row["frag_offset"], row["more_fragments"], row["ip_proto"]) == (1480, True, 6)
    assert row["l4_offset"] is None and row["sport"] is None and row["tcp_flags"] is None
    v6_later = pg.ipv6(pg.ipv6_fragment(6, 1480, False, 5) + bytes(24), 44)
    row = check_one(v6_later, 229)
    assert (row["frag_offset"], row["more_fragments"], row["ip_proto"], row["ip_id"]) == (1480, False, 6, 5)
    assert row["l4_offset"] is None and row["sport"] is None and row["status"] == 0


def test_mpls_pppoe_and_loopback_link_layers():
    inner6 = pg.ipv6(pg.icmp(128, 0), 58)
    row = check_one(pg.ethernet(pg.mpls([16, 17], inner6), 0x8847, tags=[(0x8100, 12)]), 1)
    assert (row["ethertype"], row["vlan_id"], row["l3_offset"]) == (0x86DD, 12, 14 + 4 + 8)
    assert (row["icmp_type"], row["icmp_code"], row["status"]) == (128, 0, 0)
    row = check_one(pg.ethernet(pg.mpls([3], b"\x00\x00" + bytes(12)), 0x8847), 1)  # pseudowire control word
    assert (row["ethertype"], row["l3_offset"], row["ip_version"], row["status"]) == (0x8847, 18, None, 0)
    row = check_one(pg.ethernet(pg.pppoe(pg.ipv4(pg.udp(b"x"), 17), 0x0021), 0x8864), 1)
    assert (row["ethertype"], row["l3_offset"], row["payload_len"]) == (0x0800, 22, 1)
    row = check_one(pg.null_header(24, little_endian=False) + inner6, 0)
    assert (row["ethertype"], row["l3_offset"], row["eth_src"], row["icmp_type"]) == (0x86DD, 4, None, 128)
    row = check_one(pg.sll2(pg.ipv4(pg.tcp(), 6), 0x0800), 276)
    assert (row["ethertype"], row["l3_offset"], row["l4_offset"], row["status"]) == (0x0800, 20, 40, 0)
    row = check_one(pg.sll(pg.ipv4(pg.tcp(), 6), 0x0800), 113)
    assert (row["ethertype"], row["l3_offset"], row["l4_offset"], row["status"]) == (0x0800, 16, 36, 0)


def test_first_anomaly_wins():
    # An MSS option of length 5: the status names the option, and the MSS stays null.
    segment = pg.tcp(b"data", options=b"\x02\x05\x05\xb4\x00\x00\x00\x00")
    row = check_one(pg.ipv4(segment, 6), 228)
    assert row["status"] == STATUS["bad_tcp_option"] and row["tcp_mss"] is None
    # An IPv4 length past the frame, then a bad UDP length: the IP anomaly is first.
    row = check_one(pg.ipv4(pg.udp(b"abc", length=99), 17, total_len=200), 228)
    assert row["status"] == STATUS["ip_len_exceeds_frame"] and row["sport"] == 5353
    # caplen > wirelen is met before anything in the packet.
    row = check_one(b"\x45", 101, wirelen=0)
    assert row["status"] == STATUS["caplen_exceeds_wirelen"]
    # A snaplen cut inside the payload is no anomaly, and lengths come from the wire.
    frame = pg.ethernet(pg.ipv4(pg.tcp(bytes(1000)), 6), 0x0800)
    row = check_one(frame[:80], 1, wirelen=len(frame))
    assert (row["status"], row["payload_len"]) == (0, 1000)


def test_truncations_and_bad_lengths():
    frame = pg.ethernet(pg.ipv4(pg.tcp(options=bytes(8)), 6), 0x0800, tags=[(0x8100, 1)])
    expectations = {
        10: "truncated_link",  # inside the Ethernet header
        16: "truncated_link",  # inside the VLAN tag
        30: "truncated_ip",
        50: "truncated_tcp",  # fixed TCP header cut
        62: "truncated_tcp",  # options cut
    }
    for cut, name in expectations.items():
        assert check_one(frame[:cut], 1, wirelen=len(frame))["status"] == STATUS[name], cut
    # After an MPLS stack only the payload's first nibble tells its type: cut before it, the link is cut.
    labelled = pg.ethernet(pg.mpls([16, 17], pg.ipv4(b"", 59)), 0x8847)
    row = check_one(labelled[:22], 1, wirelen=len(labelled))
    assert (row["status"], row["ethertype"], row["l3_offset"]) == (STATUS["truncated_link"], 0x8847, None)
    assert check_one(labelled[:23], 1, wirelen=len(labelled))["status"] == STATUS["truncated_ip"]
    assert check_one(pg.ipv4(b"", 6, ihl=4), 228)["status"] == STATUS["bad_ihl"]
    assert check_one(pg.ipv4(b"", 6, total_len=12), 228)["status"] == STATUS["bad_ip_len"]
    assert check_one(pg.ipv4(pg.tcp(data_offset=4), 6), 228)["status"] == STATUS["bad_tcp_offset"]
    assert (
        check_one(pg.ipv6(pg.ipv6_ext(43, 6, bytes(6), length_field=9) + bytes(10), 43), 229)["status"]
        == (STATUS["bad_ipv6_ext_len"])
    )
    assert check_one(pg.ipv6(b"", 6), 229)["status"] == STATUS["bad_tcp_offset"]  # no room for TCP at all
    # Total length 0 (segmentation offload): the frame on the wire gives the length.
    assert check_one(pg.ipv4(b"", 17, total_len=0), 228, wirelen=1000)["status"] == STATUS["truncated_udp"]
    assert check_one(pg.ipv4(b"", 17, total_len=0), 228)["status"] == STATUS["bad_udp_len"]
    assert check_one(bytes(8), 147)["status"] == STATUS["unknown_linktype"]
    assert check_one(pg.ipv6(b"", 59, version=4), 229)["status"] == STATUS["bad_ip_version"]


def test_pcap_framing_reference_by_hand():
    records = [(1, 500_000, 60, bytes(60)), (2, 999_999, 1500, bytes(54))]
    data = pg.pcap_bytes(records, 1, big_endian=True, link_flags=0x3000)
    linktype, recs, stop = pcap_records_ref(data)
    assert (linktype, stop) == (1, "end")
    assert [(ts, wl, len(b)) for ts, wl, b in recs] == [(1_500_000_000, 60, 60), (2_999_999_000, 1500, 54)]
    assert pcap_records_ref(data + bytes(7))[2] == "partial"
    corrupt = struct.pack(">IIII", 3, 0, 262145, 262145)
    assert pcap_records_ref(data + corrupt)[1:] == (recs, "corrupt")
    # Within a snaplen larger than libpcap's limit, the same caplen is only cut short.
    big_snaplen = pg.pcap_bytes([], 1, big_endian=True, snaplen=1 << 20)
    assert pcap_records_ref(big_snaplen + corrupt)[2] == "partial"


# --- regressions: bugs the reference found in the kernel, now fixed ------------------------


def test_llc_after_vlan_tag_has_no_ethertype():
    bpdu = b"\x42\x42\x03" + bytes(35)
    frame = pg.ethernet(bpdu, len(bpdu), dst=bytes.fromhex("01000ccccccd"), tags=[(0x8100, 0x0005)])
    row = check_one(frame, 1, quirks=())
    assert (row["vlan_id"], row["ethertype"], row["l3_offset"], row["status"]) == (5, None, 18, 0)


def test_ipv4_options_cut_keep_fixed_header():
    packet = pg.ipv4(pg.tcp(), 6, src=v4("10.1.1.1"), dst=v4("10.2.2.2"), options=b"\x94\x04\x00\x00")
    frame = pg.ethernet(packet, 0x0800)
    row = check_one(frame[: 14 + 22], 1, wirelen=len(frame), quirks=())
    assert row["status"] == STATUS["truncated_ip"]
    assert (row["ip_version"], row["src_ip"], row["dst_ip"], row["ip_proto"]) == (
        4,
        mapped("10.1.1.1"),
        mapped("10.2.2.2"),
        6,
    )
    assert row["l4_offset"] is None


def test_icmp_header_must_lie_in_ip_payload():
    packet = pg.ipv4(pg.icmp(8, 0), 1, total_len=20)  # the IP datagram stops before ICMP
    frame = pg.ethernet(packet, 0x0800)
    frame += bytes(60 - len(frame))  # Ethernet padding, not ICMP
    row = check_one(frame, 1, quirks=())
    assert (row["status"], row["icmp_type"], row["l4_offset"]) == (STATUS["truncated_icmp"], None, 34)


def test_bad_udp_length_has_no_payload_columns():
    frame = pg.ethernet(pg.ipv4(pg.udp(b"abcd", length=200), 17), 0x0800)
    row = check_one(frame, 1, quirks=())
    assert (row["status"], row["sport"]) == (STATUS["bad_udp_len"], 5353)
    assert row["payload_offset"] is None and row["payload_len"] is None


# --- property tests ------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.lists(pg.records(), min_size=1, max_size=40))
def test_parse_matches_reference(recs):
    """Structured, cut and mutated packets of every link type, through one pcapng file."""
    linktypes = sorted({linktype for linktype, _, _ in recs})
    iface = {linktype: k for k, linktype in enumerate(linktypes)}
    blocks = [
        (iface[lt], 1_700_000_000_000_000_000 + k, wirelen, pkt) for k, (lt, wirelen, pkt) in enumerate(recs)
    ]
    with tempfile.TemporaryDirectory() as d:
        got, _ = kernel_rows(write_temp(d, "gen.pcapng", pg.pcapng_bytes(blocks, linktypes)))
    expected = [parse_packet_ref(pkt, wirelen, lt, quirks=PENDING_KERNEL_FIXES) for lt, wirelen, pkt in recs]
    for row, block in zip(expected, blocks):
        row.update(iface=block[0], ts=block[1])
    assert_rows_equal(expected, got, COLUMNS + ("ts", "iface"), recs)


@st.composite
def pcap_files(draw):
    """A classic pcap file (either byte order, µs or ns) of one link type, maybe cut or
    ending in a corrupt record header; returns its bytes."""
    linktype = draw(st.sampled_from([1, 113, 276, 0, 101, 228, 229, 105]))
    recs = draw(st.lists(pg.records(pg.packets(linktype)), max_size=12))
    fields = [
        (draw(st.integers(0, 0xFFFFFFFF)), draw(st.integers(0, 0xFFFFFFFF)), wirelen, pkt)
        for _, wirelen, pkt in recs
    ]
    big_endian = draw(st.booleans())
    data = pg.pcap_bytes(
        fields,
        linktype,
        big_endian=big_endian,
        nanosecond=draw(st.booleans()),
        snaplen=draw(st.sampled_from([65535, 262144, 1 << 20, 0])),
        link_flags=draw(st.sampled_from([0, 0x3000, 0x0400])),
    )
    tail = draw(st.sampled_from(["none", "none", "cut", "corrupt"]))
    if tail == "cut" and len(data) > 24:
        data = data[: draw(st.integers(24, len(data) - 1))]
    elif tail == "corrupt":  # a caplen past any limit, then bytes that could be a record
        order = ">" if big_endian else "<"
        data += struct.pack(order + "IIII", 0, 0, draw(st.integers(1 << 21, 0xFFFFFFFF)), 60) + bytes(64)
    return data


@PROPERTY_SETTINGS
@given(pcap_files())
def test_pcap_framing_matches_reference(data):
    """Classic pcap framing: byte orders, resolutions, FCS bits, cut and corrupt tails."""
    with tempfile.TemporaryDirectory() as d:
        path = write_temp(d, "gen.pcap", data)
        got, warned = kernel_rows(path)
        expected = read_pcap_ref(path, quirks=PENDING_KERNEL_FIXES)
    linktype, ref_records, stop = pcap_records_ref(data)
    packets = [(linktype, wirelen, pkt) for _, wirelen, pkt in ref_records]
    assert_rows_equal(expected, got, COLUMNS + ("ts", "iface"), packets)
    assert bool(warned) == (stop != "end"), f"stop={stop}, warnings={[str(w.message) for w in warned]}"


# --- real captures -------------------------------------------------------------------------


def _is_classic_pcap(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (bytes.fromhex(m) for m in ("d4c3b2a1", "4d3cb2a1", "a1b2c3d4", "a1b23c4d"))


REAL = shared_traces()


@pytest.mark.skipif(
    not REAL, reason="no real captures: ../shared/traces is absent and KERNELKIT_TRACES is unset"
)
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_capture_matches_reference(path):
    """Framing and parse of (uncompressed) classic pcap files; for the others, the parse
    alone, from each row's ``data``, ``linktype`` and ``wirelen``."""
    if _is_classic_pcap(path):
        got, warned = kernel_rows(path)
        expected = read_pcap_ref(path, quirks=PENDING_KERNEL_FIXES)
        linktype, records, stop = pcap_records_ref(path.read_bytes())
        packets = [(linktype, wirelen, pkt) for _, wirelen, pkt in records]
        assert_rows_equal(expected, got, COLUMNS + ("ts", "iface"), packets)
        assert bool(warned) == (stop != "end")
        return
    # A packet on an undescribed interface has no link type to parse with.
    got = [row for row in kernel_rows(path, data=True)[0] if row["status"] != STATUS["unknown_interface"]]
    packets = [(row["linktype"], row["wirelen"], row["data"]) for row in got]
    expected = [
        parse_packet_ref(pkt, wirelen, lt, quirks=PENDING_KERNEL_FIXES) for lt, wirelen, pkt in packets
    ]
    assert_rows_equal(expected, got, COLUMNS, packets)
