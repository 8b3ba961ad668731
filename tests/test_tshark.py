"""kernelkit's packet columns against tshark, field by field, on every real capture.

``tests/tshark.py`` runs tshark and maps its fields onto kernelkit's columns (its
docstring says which tshark field stands for which column, and when). Every
column must agree on every packet, except the differences listed in
``KNOWN_DIFFERENCES``, each with its frames and its reason. A listed difference
that goes away fails the test too, so the list stays true.

``python3 -m tests.tshark_agreement`` prints the agreement table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

import kernelkit
from kernelkit.kernels.layout import UNKNOWN_LINKTYPE
from kernelkit.status import status_name
from tests import tshark as ts
from tests.traces import shared_traces


@dataclass(frozen=True)
class Known:
    """A documented difference: the frames where it shows, and why."""

    frames: tuple[int, ...]
    reason: str


# (capture, column) -> the frames where kernelkit and tshark differ by design.
KNOWN_DIFFERENCES: dict[tuple[str, str], Known] = {
    ("tcpdump__timestamp_invalid_micro.pcap", "ts"): Known(
        (3,),
        "the record's microsecond field is 2,147,483,648 (invalid: over 999,999). tshark 4.0 "
        "scales it to nanoseconds in 32 bits, which wraps to 0; kernelkit carries the excess "
        "into the seconds (seconds + µs × 10⁻⁶), as tshark does for frame 2 (1,000,000 µs)",
    ),
    ("zeek__ipv4__fragmented-3.pcap", "payload_len"): Known(
        (1,),
        "first fragment of a TCP segment: tshark 4.0 gives no tcp.len (it cannot know the "
        "segment's length without reassembly); kernelkit's schema gives the fragment's share",
    ),
    ("zeek__dns-edns-ecs.pcap", "payload_len"): Known(
        (53, 58, 62, 84),
        "first fragments of UDP datagrams: tshark reports the UDP length field (the whole "
        "datagram); kernelkit's schema gives the fragment's share of the payload",
    ),
    ("zeek__ipv6-fragmented-dns.pcap", "payload_len"): Known(
        (6,),
        "first fragment of a UDP datagram: tshark reports the UDP length field (the whole "
        "datagram); kernelkit's schema gives the fragment's share of the payload",
    ),
    ("zeek__trunc__mpls-6in6-broken.pcap", "ethertype"): Known(
        (1088,),
        "bottom MPLS label 14 (OAM Alert, RFC 3429): tshark decodes the payload as Y.1711 OAM "
        "and keeps the MPLS type 0x8847; kernelkit does not interpret reserved labels, reads "
        "the first nibble (4) as IPv4 and flags the packet truncated_ip",
    ),
    **{
        ("zeek__trunc__mpls-6in6-broken.pcap", column): Known(
            (1088,),
            "the same OAM Alert packet: tshark decodes no IP header there; kernelkit keeps the "
            "fixed IPv4 header it read before the capture ended in the options (truncated_ip)",
        )
        for column in ("ip_version", "src_ip", "dst_ip", "ip_proto", "ip_ttl", "ip_id", "frag_offset",
                       "more_fragments")
    },
    ("zeek__trunc__mpls-6in6-broken.pcap", "ip_len"): Known(
        (217, 342, 417, 427, 535, 685, 948, 1088, 1220, 1501, 1660, 1722),
        "IPv4 headers cut by the capture in their options whose total length field is 0: "
        "kernelkit reports the field as the header says (0, as segmentation offload writes "
        "it); tshark substitutes the frame's reported length",
    ),
}

# Packets tshark marks malformed, cut short or in error in a header kernelkit
# parses while kernelkit's status is 0 for a documented reason: (capture, frame) -> why.
STATUS_EXPLAINED: dict[tuple[str, int], str] = {}

# Where kernelkit is wrong, pending a fix in kernelkit/kernels/parse.py:
# (test, capture) -> what is wrong. The test is a strict xfail until the fix lands.
PENDING_FIXES: dict[tuple[str, str], str] = {}

# Link types kernelkit does not parse, named in the skip message.
LINKTYPE_NAMES = {127: "IEEE802_11_RADIOTAP", 284: "DSA_TAG_DSA"}


@dataclass
class Case:
    """One capture: kernelkit's packets, tshark's run, and their comparison."""

    path: Path
    packets: pl.DataFrame
    run: ts.TsharkRun
    comparison: ts.CaptureComparison

    @property
    def frames(self) -> list[int]:
        """tshark's frame number of each compared kernelkit row."""
        return [int(f["frame.number"][0]) for f in self.run.packets()][: self.comparison.compared_packets]

    @property
    def statuses(self) -> list[int]:
        return self.packets["status"].head(self.comparison.compared_packets).to_list()


def read_quietly(path: Path) -> pl.DataFrame:
    # Broken captures warn when kernelkit stops early; what was read is compared.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernelkit.TraceWarning)
        return kernelkit.read_packets(path)


def not_compared(path: Path, packets: pl.DataFrame) -> str | None:
    """Why a capture is not compared at all: a link type kernelkit does not parse."""
    if packets.height and (packets["status"] == UNKNOWN_LINKTYPE).all():
        names = ", ".join(
            f"{t} ({LINKTYPE_NAMES.get(t, 'LINKTYPE_' + str(t))})" for t in ts.unparsed_linktypes(packets)
        )
        return (
            f"{path.name}: kernelkit does not parse link type {names}; all {packets.height} packets "
            "have status unknown_linktype and no header column to compare"
        )
    return None


CAPTURES = shared_traces()


@pytest.fixture(scope="module", params=CAPTURES or [None], ids=lambda p: p.name if p else "none")
def case(request) -> Case:
    # Module scope: pytest runs every test of one capture before the next one,
    # so each capture is read and dissected once.
    path = request.param
    if path is None:
        pytest.skip("no real captures: ../shared/traces is absent and KERNELKIT_TRACES is unset")
    if ts.TSHARK is None:
        pytest.skip(ts.SKIP_REASON)
    packets = read_quietly(path)
    reason = not_compared(path, packets)
    if reason:
        pytest.skip(reason)
    return Case(path, packets, ts.run_tshark(path), ts.compare_capture(path, packets))


def _mark_pending(request, case: Case) -> None:
    reason = PENDING_FIXES.get((request.node.originalname, case.path.name))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def test_fields_agree_with_tshark(case, request):
    _mark_pending(request, case)
    result = case.comparison
    # Rows line up: tshark reads no packet kernelkit misses, and reads fewer only
    # where it stops early on a file it cannot read to the end.
    assert len(case.run.packets()) <= case.packets.height, result.note
    if result.compared_packets < case.packets.height:
        assert case.run.stopped, result.note
        warnings.warn(f"{case.path.name}: {result.note}; those are compared", stacklevel=1)
    assert result.compared_packets > 0, result.note
    problems = []
    for column in ts.COMPARED_COLUMNS:
        known = KNOWN_DIFFERENCES.get((case.path.name, column))
        documented = list(known.frames) if known else []
        found = result.disagreeing_frames(column)
        if found != documented:
            shown = [d for d in result.disagreements if d.column == column][:5]
            details = "; ".join(
                f"frame {d.frame}: tshark {d.tshark!r}, kernelkit {d.kernelkit!r} ({status_name(d.status)})"
                for d in shown
            )
            problems.append(f"{column}: differs on frames {found[:20]}, documented {documented}. {details}")
    assert not problems, "\n".join(problems)


def test_status_flags_what_tshark_finds_wrong(case, request):
    """A packet tshark marks malformed, cut short or in error in a header kernelkit
    parses (outer link layer and tags, outer IP and its extension headers, the
    header after them) has a non-zero status, or a documented reason not to."""
    _mark_pending(request, case)
    status = dict(zip(case.frames, case.statuses, strict=True))
    missed = [
        f"frame {p.frame} ({p.layer}: {p.message})"
        for p in ts.tshark_problems(case.path)
        if p.in_kernelkit_layers
        and status.get(p.frame) == 0
        and (case.path.name, p.frame) not in STATUS_EXPLAINED
    ]
    assert not missed, f"status 0 where tshark finds a header wrong: {missed[:10]}"


def test_tshark_finds_wrong_what_status_flags(case):
    """The converse: tshark also marks (somewhere) every packet with a non-zero
    status, so the status column raises no false alarm on these captures."""
    marked = {p.frame for p in ts.tshark_problems(case.path)}
    alarms = [
        f"frame {frame} ({status_name(code)})"
        for frame, code in zip(case.frames, case.statuses, strict=True)
        if code != 0 and frame not in marked
    ]
    assert not alarms, f"non-zero status where tshark finds nothing wrong: {alarms[:10]}"


# -- the helpers themselves (no capture needed) --------------------------------------


def test_epoch_is_parsed_to_the_nanosecond():
    assert ts._epoch_ns("1331084293.681153000") == 1_331_084_293_681_153_000
    assert ts._epoch_ns("1331084293.000000001") == 1_331_084_293_000_000_001
    # tshark prints an invalid sub-second count as it is, with a tenth digit.
    assert ts._epoch_ns("1418145370.1000000000") == 1_418_145_371_000_000_000
    assert ts._epoch_ns("-1.500000000") == -1_500_000_000


@pytest.mark.parametrize(
    ("protocols", "network", "l4"),
    [
        ("eth:ethertype:ip:tcp:http", "ip", "tcp"),
        ("eth:ethertype:vlan:ethertype:vlan:ethertype:ipv6:ipv6.hopopts:ipv6.fraghdr:udp:dns", "ipv6", "udp"),
        ("eth:ethertype:ip:gre:ip:tcp", "ip", None),  # TCP inside GRE is not the outer L4
        ("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp", "ip", "udp"),
        ("eth:ethertype:ip:icmp:ip:udp:dns", "ip", "icmp"),
        ("eth:ethertype:ipv6:ipv6.fraghdr:data", "ipv6", None),
        ("eth:ethertype:mpls:ipv6:data", "ipv6", None),
        ("null:ipv6:udp:quic", "ipv6", "udp"),
        ("eth:llc:stp", None, None),
    ],
)
def test_stack_finds_the_outer_headers(protocols, network, l4):
    stack = ts.Stack.of(protocols.split(":"))
    assert (stack.network, stack.l4) == (network, l4)


def _frame(**fields: str) -> dict[str, list[str]]:
    frame = {name: [] for name in ts.FIELDS}
    for name, value in fields.items():
        name = name.replace("__", ".")
        frame[name] = [value] if name in ts.TEXT_FIELDS else value.split(",")
    return frame


def test_inner_headers_do_not_fill_outer_columns():
    # IPv4 carrying GRE carrying IPv4/TCP: tshark's first tcp.srcport is the inner one.
    frame = _frame(
        frame__number="1",
        frame__protocols="eth:ethertype:ip:gre:ip:tcp",
        eth__type="0x0800",
        ip__version="4,4",
        ip__src="10.0.0.1,192.168.0.1",
        ip__dst="10.0.0.2,192.168.0.2",
        ip__proto="47,6",
        ip__frag_offset="0,0",
        ip__hdr_len="20,20",
        tcp__srcport="1234",
    )
    row = ts.expected_row(frame, pcapng=False)
    assert row["ip_proto"] == 47 and row["src_ip"] == ts._address("10.0.0.1")
    assert row["sport"] is None and row["tcp_flags"] is None


def test_stacked_tags_and_extension_headers_use_the_right_occurrence():
    frame = _frame(
        frame__number="1",
        frame__protocols="eth:ethertype:vlan:ethertype:vlan:ethertype:ipv6:ipv6.dstopts:ipv6.routing:"
        "ipv6.dstopts:udp",
        eth__type="0x88a8",
        vlan__id="10,20",
        vlan__etype="0x8100,0x86dd",
        ipv6__version="6",
        ipv6__nxt="60",
        ipv6__plen="100",
        ipv6__dstopts__nxt="43,17",
        ipv6__dstopts__len_oct="8,16",
        ipv6__routing__nxt="60",
        ipv6__routing__len_oct="24",
        udp__srcport="53",
        udp__dstport="5353",
        udp__length="52",
    )
    row = ts.expected_row(frame, pcapng=False)
    assert (row["vlan_id"], row["ethertype"]) == (10, 0x86DD)
    assert row["ip_proto"] == 17 and row["l4_offset-l3_offset"] == 40 + 8 + 24 + 16
    assert (row["sport"], row["payload_len"]) == (53, 44)


@pytest.mark.skipif(ts.TSHARK is None, reason=ts.SKIP_REASON)
def test_comparison_reports_a_wrong_cell():
    # The comparison itself can fail: one changed cell and one dropped cell
    # come back as disagreements on exactly those frames.
    path = next((p for p in CAPTURES if p.name == "zeek__icmp__5-pings.pcap"), None)
    if path is None:
        pytest.skip("zeek__icmp__5-pings.pcap is not among the shared captures")
    packets = read_quietly(path)
    assert not ts.compare_capture(path, packets).disagreements
    wrong = packets.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col("icmp_type") + 1)
        .otherwise(pl.col("icmp_type"))
        .alias("icmp_type"),
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("ip_ttl")).alias("ip_ttl"),
    )
    result = ts.compare_capture(path, wrong)
    assert [(d.column, d.frame) for d in result.disagreements] == [("ip_ttl", 6), ("icmp_type", 4)]


@pytest.mark.skipif(ts.TSHARK is None, reason=ts.SKIP_REASON)
def test_pcapng_blocks_that_are_not_packets_are_left_out():
    path = next((p for p in CAPTURES if p.name == "gopacket__le__test202.pcapng"), None)
    if path is None:
        pytest.skip("gopacket__le__test202.pcapng is not among the shared captures")
    run = ts.run_tshark(path)
    # SOURCES.md: tshark shows 11 frames, 8 of them packets (the others are pcapng
    # blocks without an interface), and those 8 are kernelkit's rows.
    assert len(run.frames) == 11
    assert all(f["frame.interface_id"] for f in run.packets())
    assert len(run.packets()) == read_quietly(path).height == 8
