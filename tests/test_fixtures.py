"""Hand-written packets for every supported link type and every status code.

Each case is a packet from tests/fixtures.py (or a copy with a few bytes changed,
said where), written into a pcap file and read back with kernelkit.read_packets.
The expected values were worked out by hand from the bytes; every nullable
column not named in a case must be null, so a field that leaks in is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pytest

import kernelkit
from kernelkit.schema import PACKET_COLUMNS
from kernelkit.status import STATUS_CODES
from tests.fixtures import (
    ETH_ADDRS,
    ETH_DST,
    ETH_IPV4,
    ETH_IPV6,
    ETH_SRC,
    IPV4_ICMP_ECHO,
    IPV4_TCP_SYN,
    IPV4_UDP_DNS,
    IPV6_ICMP_ECHO,
    IPV6_TCP_SYNACK,
    MPLS_ONE_LABEL,
    MPLS_TWO_LABELS,
    PPPOE_IPV4,
    PPPOE_IPV6,
    QINQ_IPV4,
    SLL2_IPV6,
    SLL_IPV4,
    TRIPLE_TAG_IPV6,
    VLAN_IPV4,
    Rec,
    epb,
    hexbytes,
    idb,
    pcap_file,
    shb,
    v4,
    v6,
    write,
)

# Columns a fixture states or leaves null; ts and linktype are checked on their own.
NULLABLE = [c.name for c in PACKET_COLUMNS if c.present and c.name not in ("ts", "linktype")]
S = {name: code for code, (name, _) in STATUS_CODES.items()}


def patch(data: bytes, offset: int, new: str) -> bytes:
    """``data`` with the bytes at ``offset`` replaced by the hex in ``new``."""
    raw = bytes.fromhex(new.replace(" ", ""))
    return data[:offset] + raw + data[offset + len(raw):]


# --- expected values, by hand from the literals in tests/fixtures.py -----------------
# Each function takes the offset of the network header (l3) in the frame.

ETH = {"eth_dst": ETH_DST, "eth_src": ETH_SRC}


def ip4_tcp_syn(l3):
    return {
        "ethertype": 0x0800, "l3_offset": l3, "ip_version": 4, "src_ip": v4("192.0.2.10"),
        "dst_ip": v4("198.51.100.20"),
        "ip_proto": 6, "ip_ttl": 64, "ip_id": 0x1C46, "ip_len": 60, "frag_offset": 0, "more_fragments": False,
        "l4_offset": l3 + 20, "sport": 50000, "dport": 80, "tcp_flags": 0x002, "tcp_seq": 0x12345678,
        "tcp_ack": 0,
        "tcp_win": 64240, "tcp_mss": 1460, "tcp_wscale": 7, "tcp_sack_perm": True, "tcp_tsval": 123456,
        "tcp_tsecr": 0,
        "payload_offset": l3 + 60, "payload_len": 0,
    }


def ip4_udp_dns(l3):
    return {
        "ethertype": 0x0800, "l3_offset": l3, "ip_version": 4, "src_ip": v4("192.168.1.100"),
        "dst_ip": v4("8.8.8.8"),
        "ip_proto": 17, "ip_ttl": 64, "ip_id": 0x8A2F, "ip_len": 57, "frag_offset": 0,
        "more_fragments": False,
        "l4_offset": l3 + 20, "sport": 54321, "dport": 53, "payload_offset": l3 + 28, "payload_len": 29,
    }


def ip4_icmp_echo(l3):
    return {
        "ethertype": 0x0800, "l3_offset": l3, "ip_version": 4, "src_ip": v4("192.168.1.100"),
        "dst_ip": v4("192.168.1.1"),
        "ip_proto": 1, "ip_ttl": 64, "ip_id": 0x0BAD, "ip_len": 36, "frag_offset": 0, "more_fragments": False,
        "l4_offset": l3 + 20, "icmp_type": 8, "icmp_code": 0,
    }


def ip6_tcp_synack(l3):
    return {
        "ethertype": 0x86DD, "l3_offset": l3, "ip_version": 6, "src_ip": v6("2001:db8::1"),
        "dst_ip": v6("2001:db8::2"),
        "ip_proto": 6, "ip_ttl": 64, "ip_len": 60, "frag_offset": 0, "more_fragments": False,
        "l4_offset": l3 + 40, "sport": 443, "dport": 50000, "tcp_flags": 0x012, "tcp_seq": 0x89ABCDEF,
        "tcp_ack": 0x12345679,
        "tcp_win": 65535, "tcp_sack_perm": False, "payload_offset": l3 + 60, "payload_len": 0,
    }


def ip6_icmp_echo(l3):
    return {
        "ethertype": 0x86DD, "l3_offset": l3, "ip_version": 6, "src_ip": v6("fe80::1"),
        "dst_ip": v6("ff02::1"),
        "ip_proto": 58, "ip_ttl": 255, "ip_len": 56, "frag_offset": 0, "more_fragments": False,
        "l4_offset": l3 + 40, "icmp_type": 128, "icmp_code": 0,
    }


def ip4_header_only(l3, **fields):
    """The IPv4 fields of IPV4_TCP_SYN alone (the walk stopped after the IP header)."""
    out = {k: v for k, v in ip4_tcp_syn(l3).items()
           if k in ("ethertype", "l3_offset", "ip_version", "src_ip", "dst_ip", "ip_proto", "ip_ttl",
                    "ip_id", "ip_len", "frag_offset", "more_fragments")}
    return out | fields


@dataclass
class Case:
    name: str
    linktype: int
    data: bytes
    expect: dict
    wirelen: int | None = None
    status: int = 0
    marks: list = field(default_factory=list)


# --- one case per link type (and per encapsulation) --------------------------------

LINK_CASES = [
    Case("ethernet_ipv4_tcp", 1, ETH_IPV4 + IPV4_TCP_SYN, ETH | ip4_tcp_syn(14)),
    Case("ethernet_ipv4_udp", 1, ETH_IPV4 + IPV4_UDP_DNS, ETH | ip4_udp_dns(14)),
    Case("ethernet_ipv4_icmp", 1, ETH_IPV4 + IPV4_ICMP_ECHO, ETH | ip4_icmp_echo(14)),
    Case("ethernet_ipv6_tcp", 1, ETH_IPV6 + IPV6_TCP_SYNACK, ETH | ip6_tcp_synack(14)),
    Case("ethernet_ipv6_icmp", 1, ETH_IPV6 + IPV6_ICMP_ECHO, ETH | ip6_icmp_echo(14)),
    # 802.3 frame: a length (38) where the ethertype would be, then LLC (STP BPDU) and
    # padding to 60 bytes. No network protocol type, but the link header is whole.
    Case("ethernet_8023_llc", 1,
         ETH_ADDRS + hexbytes("0026 424203") + bytes(35) + bytes(8),
         ETH | {"l3_offset": 14}),
    # ARP: a network protocol kernelkit does not parse; the link layer is whole.
    Case("ethernet_arp", 1, ETH_ADDRS + hexbytes("""
        0806            # ethertype ARP
        0001 0800 06 04 0001   # Ethernet/IPv4, request
        525400123456 c0a80164  # sender MAC, 192.168.1.100
        000000000000 c0a80101  # target MAC, 192.168.1.1
    """) + bytes(18), ETH | {"ethertype": 0x0806, "l3_offset": 14}),
    Case("vlan_8021q", 1, VLAN_IPV4 + IPV4_UDP_DNS, ETH | {"vlan_id": 100} | ip4_udp_dns(18)),
    # A tagged 802.3 frame (as Cisco PVST+ BPDUs are): after the tag comes a length (50),
    # not a type, so as for an untagged 802.3 frame there is no ethertype.
    Case("vlan_8023_llc", 1, ETH_ADDRS + hexbytes("""
        8100 000a       # 802.1Q, VLAN id 10
        0032            # 802.3 length 50
        aaaa03 00000c 010b  # LLC/SNAP, Cisco, PID 0x010b (PVST+)
    """) + bytes(42), ETH | {"vlan_id": 10, "l3_offset": 18}),
    Case("qinq", 1, QINQ_IPV4 + IPV4_TCP_SYN, ETH | {"vlan_id": 200} | ip4_tcp_syn(22)),
    Case("triple_tag", 1, TRIPLE_TAG_IPV6 + IPV6_TCP_SYNACK, ETH | {"vlan_id": 300} | ip6_tcp_synack(26)),
    Case("mpls_one_label_ipv4", 1, MPLS_ONE_LABEL + IPV4_UDP_DNS, ETH | ip4_udp_dns(18)),
    Case("mpls_one_label_ipv6", 1, MPLS_ONE_LABEL + IPV6_ICMP_ECHO, ETH | ip6_icmp_echo(18)),
    Case("mpls_two_labels_ipv4", 1, MPLS_TWO_LABELS + IPV4_TCP_SYN, ETH | ip4_tcp_syn(22)),
    Case("mpls_two_labels_ipv6", 1, MPLS_TWO_LABELS + IPV6_TCP_SYNACK, ETH | ip6_tcp_synack(22)),
    # MPLS carrying Ethernet (pseudowire control word 0000 0000): the nibble after the
    # stack is 0, not an IP version, so the type stays MPLS's own (documented in
    # kernels/parse._walk_tags) and there is no IP layer.
    Case("mpls_pseudowire", 1, MPLS_ONE_LABEL + hexbytes("00000000") + ETH_IPV4 + IPV4_UDP_DNS,
         ETH | {"ethertype": 0x8847, "l3_offset": 18}),
    Case("pppoe_ipv4", 1, PPPOE_IPV4 + IPV4_TCP_SYN, ETH | ip4_tcp_syn(22)),
    Case("pppoe_ipv6", 1, PPPOE_IPV6 + IPV6_ICMP_ECHO, ETH | ip6_icmp_echo(22)),
    Case("raw101_ipv4", 101, IPV4_UDP_DNS, ip4_udp_dns(0)),
    Case("raw101_ipv6", 101, IPV6_TCP_SYNACK, ip6_tcp_synack(0)),
    Case("ipv4_228", 228, IPV4_ICMP_ECHO, ip4_icmp_echo(0)),
    Case("ipv6_229", 229, IPV6_ICMP_ECHO, ip6_icmp_echo(0)),
    Case("linux_sll_113", 113, SLL_IPV4 + IPV4_TCP_SYN, ip4_tcp_syn(16)),
    Case("linux_sll2_276", 276, SLL2_IPV6 + IPV6_TCP_SYNACK, ip6_tcp_synack(20)),
    # BSD loopback: a 4-byte address family in the capturing host's byte order.
    Case("null_af_inet_le", 0, hexbytes("02000000") + IPV4_UDP_DNS, ip4_udp_dns(4)),
    Case("null_af_inet_be", 0, hexbytes("00000002") + IPV4_UDP_DNS, ip4_udp_dns(4)),
    *[
        Case(f"null_af_inet6_{family}_{order}", 0, bytes.fromhex(fam) + IPV6_TCP_SYNACK, ip6_tcp_synack(4))
        for family, order, fam in [
            (24, "le", "18000000"), (24, "be", "00000018"),  # NetBSD/OpenBSD
            (28, "le", "1c000000"), (28, "be", "0000001c"),  # FreeBSD
            (30, "le", "1e000000"), (30, "be", "0000001e"),  # Darwin
            (10, "le", "0a000000"), (10, "be", "0000000a"),  # Linux
        ]
    ],
    # An unknown family (7): the 4-byte header is whole, no network type.
    Case("null_unknown_family", 0, hexbytes("07000000") + IPV4_UDP_DNS, {"l3_offset": 4}),
    # LINKTYPE_USER0 (147) and radiotap (127) are not parsed: a row with a status only.
    Case("unknown_linktype_147", 147, hexbytes("deadbeef 0102030405060708"), {},
         status=S["unknown_linktype"]),
    Case("unknown_linktype_radiotap", 127, hexbytes("00 00 0800 00000000") + ETH_IPV4 + IPV4_UDP_DNS, {},
         status=S["unknown_linktype"]),
]

# --- more layer-3/4 shapes -----------------------------------------------------------

IPV4_TCP_NS_ECN = hexbytes("""
    45 00 0028      # total length 40
    0001 0000 40 06 0000  # id 1, TTL 64, TCP (checksum left 0)
    c000020a c6336414
    c351 0050       # ports 50001 -> 80
    00000001 00000000
    51              # data offset 5, NS bit set
    c2              # CWR ECE SYN
    ffff 0000 0000
""")

# A first fragment (MF, offset 0) of a UDP datagram whose UDP length (1000) covers
# fragments still to come; 16 payload bytes in this one.
IPV4_UDP_FIRST_FRAGMENT = hexbytes("""
    45 00 002c      # total length 44
    4242 2000       # id 0x4242; MF, offset 0
    40 11 0000      # TTL 64, UDP
    c0a80164 c0a80101
    d431 0035       # ports 54321 -> 53
    03e8 0000       # UDP length 1000
""") + bytes(16)

# A later fragment: offset 185 * 8 = 1480, MF clear; no transport header here.
IPV4_UDP_LATER_FRAGMENT = hexbytes("""
    45 00 0024      # total length 36
    4242 00b9       # id 0x4242; offset 185 (1480 bytes)
    40 11 0000
    c0a80164 c0a80101
""") + bytes(16)

IPV6_UDP_FIRST_FRAGMENT = hexbytes("""
    60000000 0020 2c 40   # payload length 32, next header Fragment (44), hop limit 64
    20010db8000000000000000000000001 20010db8000000000000000000000002
    11 00           # fragment header: next header UDP, reserved
    0001            # offset 0, M=1
    deadbeef        # identification
    d431 0035 03e8 0000   # UDP at +48: ports 54321 -> 53, length 1000
""") + bytes(16)

IPV6_UDP_LATER_FRAGMENT = hexbytes("""
    60000000 0018 2c 40   # payload length 24
    20010db8000000000000000000000001 20010db8000000000000000000000002
    11 00
    05c8            # offset 0x05c8 & 0xfff8 = 1480 bytes, M=0
    deadbeef
""") + bytes(16)

IPV6_HBH_DSTOPTS_TCP = hexbytes("""
    60000000 0024 00 40   # payload length 36, next header Hop-by-hop (0)
    20010db8000000000000000000000001 20010db8000000000000000000000002
    3c 00 0104 00000000   # hop-by-hop: next Destination options (60), 8 bytes, PadN
    06 00 0104 00000000   # destination options: next TCP, 8 bytes, PadN
    01bb c350 89abcdef 12345679 50 12 ffff 0000 0000   # TCP at +56
""")

IPV6_AH_UDP = hexbytes("""
    60000000 0028 33 40   # payload length 40, next header AH (51)
    20010db8000000000000000000000001 20010db8000000000000000000000002
    11              # AH: next header UDP
    04              # payload length 4: (4 + 2) * 4 = 24 bytes
    0000 00000100 00000001   # reserved, SPI 256, sequence 1
    000102030405060708090a0b # ICV (12 bytes)
    d431 0035 0010 0000      # UDP at +64: length 16
    6161616161616161         # 8 payload bytes
""")

# IPv4 with a total length of 0: the capturing host offloaded segmentation, so the
# frame (64 bytes on the wire) gives the length: 64 - 14 - 20 - 20 = 10 payload bytes.
IPV4_TCP_TSO = hexbytes("""
    45 00 0000      # total length 0
    0002 4000 40 06 0000
    c000020a c6336414
    c350 0050 00000100 00000200 50 18 0200 0000 0000   # ACK PSH, window 512
""") + b"0123456789"

# SYN with MSS and an MPTCP MP_JOIN option (kind 30, subtype 1).
IPV4_TCP_MPTCP = hexbytes("""
    45 00 0038      # total length 56
    0003 4000 40 06 0000
    c000020a c6336414
    c352 0050 00000007 00000000
    90 02           # data offset 9 words (36 bytes), SYN
    ffff 0000 0000
    020405b4        # MSS 1460
    1e0c 1000 aabbccdd 11223344   # MPTCP, length 12, subtype 1 (MP_JOIN)
""")

# IPv4 with a 4-byte option (router alert): IHL 6, transport at +24.
IPV4_OPTIONS_UDP = hexbytes("""
    46 00 003d      # IHL 6 (24 bytes); total length 61 = 24 + 37
    8a30 0000 40 11 0000
    c0a80164 08080808
    94040000        # router alert
""") + IPV4_UDP_DNS[20:]  # the 37-byte UDP datagram of IPV4_UDP_DNS

# A bare ACK padded to the 60-byte Ethernet minimum: the 6 padding bytes are not payload.
IPV4_TCP_ACK_PADDED = hexbytes("""
    45 00 0028      # total length 40
    0004 4000 40 06 0000
    c000020a c6336414
    c350 0050 12345679 89abcdf0
    50 10           # data offset 5, ACK
    01f5 0000 0000  # window 501
    000000000000    # Ethernet padding
""")

SHAPE_CASES = [
    Case("ipv4_options_udp", 1, ETH_IPV4 + IPV4_OPTIONS_UDP,
         ETH | ip4_udp_dns(14) | {"ip_id": 0x8A30, "ip_len": 61, "l4_offset": 38, "payload_offset": 46}),
    Case("tcp_ack_ethernet_padding", 1, ETH_IPV4 + IPV4_TCP_ACK_PADDED,
         ETH | ip4_header_only(14, ip_id=4, ip_len=40) | {
             "l4_offset": 34, "sport": 50000, "dport": 80, "tcp_flags": 0x010, "tcp_seq": 0x12345679,
             "tcp_ack": 0x89ABCDF0,
             "tcp_win": 501, "tcp_sack_perm": False, "payload_offset": 54, "payload_len": 0}),
    Case("tcp_ns_cwr_ece", 1, ETH_IPV4 + IPV4_TCP_NS_ECN,
         ETH | ip4_header_only(14, ip_id=1, ip_len=40) | {
             "l4_offset": 34, "sport": 50001, "dport": 80, "tcp_flags": 0x1C2, "tcp_seq": 1, "tcp_ack": 0,
             "tcp_win": 65535,
             "tcp_sack_perm": False, "payload_offset": 54, "payload_len": 0}),
    Case("ipv4_first_fragment", 1, ETH_IPV4 + IPV4_UDP_FIRST_FRAGMENT,
         ETH | ip4_udp_dns(14) | {
             "src_ip": v4("192.168.1.100"), "dst_ip": v4("192.168.1.1"), "ip_id": 0x4242, "ip_len": 44,
             "more_fragments": True, "payload_len": 16}),  # the fragment's share, not 1000 - 8
    Case("ipv4_later_fragment", 1, ETH_IPV4 + IPV4_UDP_LATER_FRAGMENT,
         ETH | ip4_header_only(14, src_ip=v4("192.168.1.100"), dst_ip=v4("192.168.1.1"), ip_proto=17,
                               ip_id=0x4242, ip_len=36, frag_offset=1480)),
    Case("ipv6_first_fragment", 1, ETH_IPV6 + IPV6_UDP_FIRST_FRAGMENT,
         ETH | {"ethertype": 0x86DD, "l3_offset": 14, "ip_version": 6, "src_ip": v6("2001:db8::1"),
                    "dst_ip": v6("2001:db8::2"), "ip_proto": 17, "ip_ttl": 64, "ip_id": 0xDEADBEEF,
                    "ip_len": 72,
                    "frag_offset": 0, "more_fragments": True, "l4_offset": 62, "sport": 54321, "dport": 53,
                    "payload_offset": 70, "payload_len": 16}),
    Case("ipv6_later_fragment", 1, ETH_IPV6 + IPV6_UDP_LATER_FRAGMENT,
         ETH | {"ethertype": 0x86DD, "l3_offset": 14, "ip_version": 6, "src_ip": v6("2001:db8::1"),
                    "dst_ip": v6("2001:db8::2"), "ip_proto": 17, "ip_ttl": 64, "ip_id": 0xDEADBEEF,
                    "ip_len": 64,
                    "frag_offset": 1480, "more_fragments": False}),
    Case("ipv6_hbh_dstopts_tcp", 1, ETH_IPV6 + IPV6_HBH_DSTOPTS_TCP,
         ETH | ip6_tcp_synack(14) | {"ip_len": 76, "l4_offset": 70, "payload_offset": 90}),
    Case("ipv6_ah_udp", 1, ETH_IPV6 + IPV6_AH_UDP,
         ETH | {"ethertype": 0x86DD, "l3_offset": 14, "ip_version": 6, "src_ip": v6("2001:db8::1"),
                    "dst_ip": v6("2001:db8::2"), "ip_proto": 17, "ip_ttl": 64, "ip_len": 80, "frag_offset": 0,
                    "more_fragments": False, "l4_offset": 78, "sport": 54321, "dport": 53,
                    "payload_offset": 86,
                    "payload_len": 8}),
    Case("ipv4_tso_zero_length", 1, ETH_IPV4 + IPV4_TCP_TSO,
         ETH | ip4_header_only(14, ip_id=2, ip_len=0) | {
             "l4_offset": 34, "sport": 50000, "dport": 80, "tcp_flags": 0x018, "tcp_seq": 0x100,
             "tcp_ack": 0x200, "tcp_win": 512,
             "tcp_sack_perm": False, "payload_offset": 54, "payload_len": 10}),
    Case("tcp_mptcp_mp_join", 1, ETH_IPV4 + IPV4_TCP_MPTCP,
         ETH | ip4_header_only(14, ip_id=3, ip_len=56) | {
             "l4_offset": 34, "sport": 50002, "dport": 80, "tcp_flags": 0x002, "tcp_seq": 7, "tcp_ack": 0,
             "tcp_win": 65535,
             "tcp_mss": 1460, "tcp_sack_perm": False, "mptcp_subtype": 1, "payload_offset": 70,
             "payload_len": 0}),
]

# --- one or more cases per status code ----------------------------------------------
# Each is built so that the fields parsed before the anomaly are there to check.

TCP_FIXED = {"sport": 50000, "dport": 80, "tcp_flags": 0x002, "tcp_seq": 0x12345678, "tcp_ack": 0,
    "tcp_win": 64240,
                 "tcp_sack_perm": False}

IPV6_HBH_CUT = hexbytes("""
    60000000 001c 00 40   # payload length 28 (8 hop-by-hop + 20 TCP), next header Hop-by-hop
    20010db8000000000000000000000001 20010db8000000000000000000000002
    06 00 0104 00000000   # hop-by-hop header (the capture keeps 4 of its 8 bytes)
    01bb c350 89abcdef 12345679 50 12 ffff 0000 0000
""")

IPV6_DSTOPTS_TOO_LONG = hexbytes("""
    60000000 0010 3c 40   # payload length 16, next header Destination options (60)
    20010db8000000000000000000000001 20010db8000000000000000000000002
    06 02           # next TCP; header length (2 + 1) * 8 = 24 bytes, past the 16-byte payload
    010c 000000000000000000000000   # PadN
""")

STATUS_CASES = [
    Case("unknown_linktype", 147, hexbytes("deadbeef"), {}, status=S["unknown_linktype"]),
    # Ethernet header cut at 13 bytes: nothing of the link layer is known.
    Case("truncated_link_ethernet", 1, (ETH_IPV4 + IPV4_TCP_SYN)[:13], {}, wirelen=74,
         status=S["truncated_link"]),
    # QinQ whose customer tag is cut after one byte: the MACs and the outer VLAN id were
    # read; the type is the one the walk stopped on (0x8100); no network header offset.
    Case("truncated_link_qinq", 1, (QINQ_IPV4 + IPV4_TCP_SYN)[:19],
         ETH | {"vlan_id": 200, "ethertype": 0x8100}, wirelen=82, status=S["truncated_link"]),
    # MPLS stack cut inside its second label.
    Case("truncated_link_mpls", 1, (MPLS_TWO_LABELS + IPV4_TCP_SYN)[:20],
         ETH | {"ethertype": 0x8847}, wirelen=82, status=S["truncated_link"]),
    # PPPoE header cut before the PPP protocol.
    Case("truncated_link_pppoe", 1, (PPPOE_IPV4 + IPV4_TCP_SYN)[:20],
         ETH | {"ethertype": 0x8864}, wirelen=82, status=S["truncated_link"]),
    Case("truncated_link_sll", 113, SLL_IPV4[:15], {}, wirelen=76, status=S["truncated_link"]),
    Case("truncated_link_null", 0, hexbytes("0200"), {}, wirelen=61, status=S["truncated_link"]),
    # IPv4 cut 10 bytes into its header.
    Case("truncated_ip_v4", 1, (ETH_IPV4 + IPV4_TCP_SYN)[:24], ETH | {"ethertype": 0x0800, "l3_offset": 14},
         wirelen=74, status=S["truncated_ip"]),
    # IHL 6 (24 bytes): 22 bytes captured hold the fixed part but not the option.
    # IHL 6 (24 bytes) but 22 captured: the fixed 20-byte header is whole and kept.
    Case("truncated_ip_v4_options", 1, (ETH_IPV4 + patch(IPV4_TCP_SYN, 0, "46"))[:36],
         ETH | ip4_header_only(14), wirelen=74, status=S["truncated_ip"]),
    Case("truncated_ip_v6", 1, (ETH_IPV6 + IPV6_TCP_SYNACK)[:53], ETH | {"ethertype": 0x86DD,
        "l3_offset": 14},
         wirelen=74, status=S["truncated_ip"]),
    # Raw IP with nothing captured: the network header starts at 0 but is absent.
    Case("truncated_ip_raw_empty", 101, b"", {"l3_offset": 0}, wirelen=60, status=S["truncated_ip"]),
    Case("truncated_ip_228", 228, IPV4_ICMP_ECHO[:12], {"ethertype": 0x0800, "l3_offset": 0}, wirelen=36,
         status=S["truncated_ip"]),
    # Ethertype IPv4 but an IPv6 packet follows.
    Case("bad_ip_version_ethernet", 1, ETH_IPV4 + IPV6_TCP_SYNACK, ETH | {"ethertype": 0x0800,
        "l3_offset": 14},
         status=S["bad_ip_version"]),
    # Raw IP whose first nibble is 5.
    Case("bad_ip_version_raw", 101, patch(IPV4_UDP_DNS, 0, "55"), {"l3_offset": 0},
         status=S["bad_ip_version"]),
    # (a 60-byte IPv4 packet: long enough for the 40-byte IPv6 header the link type promises)
    Case("bad_ip_version_229", 229, IPV4_TCP_SYN, {"ethertype": 0x86DD, "l3_offset": 0},
         status=S["bad_ip_version"]),
    Case("bad_ip_version_sll", 113, patch(SLL_IPV4, 14, "86dd") + IPV4_TCP_SYN,
         {"ethertype": 0x86DD, "l3_offset": 16}, status=S["bad_ip_version"]),
    # IHL 4 (16 bytes), below the minimum.
    Case("bad_ihl", 1, ETH_IPV4 + patch(IPV4_TCP_SYN, 0, "44"), ETH | {"ethertype": 0x0800, "l3_offset": 14},
         status=S["bad_ihl"]),
    # Total length 19, smaller than the 20-byte header: IP fields kept, no transport.
    Case("bad_ip_len", 1, ETH_IPV4 + patch(IPV4_TCP_SYN, 2, "0013"), ETH | ip4_header_only(14, ip_len=19),
         status=S["bad_ip_len"]),
    # Total length 100 in a 74-byte frame: TCP still parsed, within the frame.
    Case("ip_len_exceeds_frame_v4", 1, ETH_IPV4 + patch(IPV4_TCP_SYN, 2, "0064"),
         ETH | ip4_tcp_syn(14) | {"ip_len": 100}, status=S["ip_len_exceeds_frame"]),
    # IPv6 payload length 48 (ip_len 88) in a frame with 20 bytes of it.
    Case("ip_len_exceeds_frame_v6", 1, ETH_IPV6 + patch(IPV6_TCP_SYNACK, 4, "0030"),
         ETH | ip6_tcp_synack(14) | {"ip_len": 88}, status=S["ip_len_exceeds_frame"]),
    # Capture ends 4 bytes into the hop-by-hop header; ip_proto says where the walk stopped.
    Case("truncated_ipv6_ext", 1, (ETH_IPV6 + IPV6_HBH_CUT)[:58],
         ETH | {"ethertype": 0x86DD, "l3_offset": 14, "ip_version": 6, "src_ip": v6("2001:db8::1"),
                    "dst_ip": v6("2001:db8::2"), "ip_proto": 0, "ip_ttl": 64, "ip_len": 68, "frag_offset": 0,
                    "more_fragments": False},
         wirelen=82, status=S["truncated_ipv6_ext"]),
    Case("bad_ipv6_ext_len", 1, ETH_IPV6 + IPV6_DSTOPTS_TOO_LONG,
         ETH | {"ethertype": 0x86DD, "l3_offset": 14, "ip_version": 6, "src_ip": v6("2001:db8::1"),
                    "dst_ip": v6("2001:db8::2"), "ip_proto": 60, "ip_ttl": 64, "ip_len": 56, "frag_offset": 0,
                    "more_fragments": False},
         status=S["bad_ipv6_ext_len"]),
    # Snaplen 68: the options are cut inside the timestamps option. MSS and SACK-permitted
    # come before the cut; timestamps and window scale are lost.
    Case("truncated_tcp_options", 1, (ETH_IPV4 + IPV4_TCP_SYN)[:68],
         ETH | ip4_tcp_syn(14) | {"tcp_wscale": None, "tcp_tsval": None, "tcp_tsecr": None}, wirelen=74,
         status=S["truncated_tcp"]),
    # Cut 10 bytes into the fixed TCP header: no TCP field.
    # 10 bytes of TCP: the ports (the first 4) are kept, nothing else.
    Case("truncated_tcp_fixed", 1, (ETH_IPV4 + IPV4_TCP_SYN)[:44],
         ETH | ip4_header_only(14, l4_offset=34, sport=50000, dport=80),
         wirelen=74, status=S["truncated_tcp"]),
    # Data offset 4 words (16 bytes): the fixed fields are read, no payload columns.
    Case("bad_tcp_offset_small", 1,
         ETH_IPV4 + patch(patch(IPV4_TCP_SYN, 2, "0028"), 32, "40")[:40],  # total length 40, offset 4
         ETH | ip4_header_only(14, ip_len=40, l4_offset=34) | TCP_FIXED, status=S["bad_tcp_offset"]),
    # Data offset 15 words (60 bytes) but the IP payload holds 40.
    Case("bad_tcp_offset_past_ip", 1, ETH_IPV4 + patch(IPV4_TCP_SYN, 32, "f0"),
         ETH | ip4_header_only(14, l4_offset=34) | TCP_FIXED, status=S["bad_tcp_offset"]),
    # IP total length 30: only 10 bytes of IP payload for a 20-byte TCP header.
    Case("bad_tcp_offset_ip_short", 1, ETH_IPV4 + patch(IPV4_TCP_SYN, 2, "001e"),
         ETH | ip4_header_only(14, ip_len=30, l4_offset=34), status=S["bad_tcp_offset"]),
    # Options: MSS, SACK permitted, then a timestamps option of length 0 (< 2): the walk
    # stops there, after keeping what came before.
    Case("bad_tcp_option_length", 1,
         ETH_IPV4 + patch(patch(IPV4_TCP_SYN, 2, "0034"), 32,
             "80")[:40] + hexbytes("020405b4 0402 0800 00000000"),
         ETH | ip4_header_only(14, ip_len=52, l4_offset=34) | TCP_FIXED | {
             "tcp_mss": 1460, "tcp_sack_perm": True, "payload_offset": 66, "payload_len": 0},
         status=S["bad_tcp_option"]),
    # Window scale of length 4 (must be 3): flagged; the timestamps after it are still read.
    Case("bad_tcp_option_wscale", 1,
         ETH_IPV4 + patch(patch(IPV4_TCP_SYN, 2, "0038"), 32, "90")[:40]
         + hexbytes("03040700 080a 0001e240 00000000 0000"),
         ETH | ip4_header_only(14, ip_len=56, l4_offset=34) | TCP_FIXED | {
             "tcp_tsval": 123456, "tcp_tsecr": 0, "payload_offset": 70, "payload_len": 0},
         status=S["bad_tcp_option"]),
    # Options NOP NOP, then an MSS option (length 4) with 2 bytes left in the 24-byte header.
    Case("bad_tcp_option_past_header", 1,
         ETH_IPV4 + patch(patch(IPV4_TCP_SYN, 2, "002c"), 32, "60")[:40] + hexbytes("0101 0204"),
         ETH | ip4_header_only(14, ip_len=44, l4_offset=34) | TCP_FIXED | {"payload_offset": 58,
             "payload_len": 0},
         status=S["bad_tcp_option"]),
    # UDP header cut after 4 of its 8 bytes: the header is taken whole or not at all.
    Case("truncated_udp", 1, (ETH_IPV4 + IPV4_UDP_DNS)[:38],
         # 4 bytes of UDP: the ports are kept, the length is not there
         ETH | {k: v for k, v in ip4_udp_dns(14).items() if k not in ("payload_offset", "payload_len")},
         wirelen=71, status=S["truncated_udp"]),
    # UDP length 4 (< 8): ports kept, status set.
    Case("bad_udp_len_small", 1, ETH_IPV4 + patch(IPV4_UDP_DNS, 24, "0004"),
         ETH | ip4_udp_dns(14), status=S["bad_udp_len"]),
    # UDP length 256, past the 37 bytes of IP payload.
    Case("bad_udp_len_past_ip", 1, ETH_IPV4 + patch(IPV4_UDP_DNS, 24, "0100"),
         ETH | ip4_udp_dns(14), status=S["bad_udp_len"]),
    # IP total length 24: 4 bytes of IP payload cannot hold the UDP header.
    Case("bad_udp_len_ip_short", 1, ETH_IPV4 + patch(IPV4_UDP_DNS, 2, "0018"),
         ETH | {k: v for k, v in ip4_udp_dns(14).items() if k not in ("sport", "dport", "payload_offset",
                                                                        "payload_len")} | {"ip_len": 24},
         status=S["bad_udp_len"]),
    Case("truncated_icmp_v4", 1, (ETH_IPV4 + IPV4_ICMP_ECHO)[:36],
         ETH | {k: v for k, v in ip4_icmp_echo(14).items() if k not in ("icmp_type", "icmp_code")},
         wirelen=50, status=S["truncated_icmp"]),
    Case("truncated_icmp_v6", 229, IPV6_ICMP_ECHO[:43],
         {k: v for k, v in ip6_icmp_echo(0).items() if k not in ("icmp_type", "icmp_code")},
         wirelen=56, status=S["truncated_icmp"]),
    # The record claims 74 bytes captured of a 60-byte frame: everything is parsed
    # (against the 74 bytes), and the status says the record is inconsistent.
    Case("caplen_exceeds_wirelen", 1, ETH_IPV4 + IPV4_TCP_SYN, ETH | ip4_tcp_syn(14), wirelen=60,
         status=S["caplen_exceeds_wirelen"]),
]

# The payload columns of the two bad_udp_len cases above are checked apart (see below);
# here they carry whatever the kit writes.
_UDP_PAYLOAD_UNCHECKED = {"bad_udp_len_small", "bad_udp_len_past_ip"}

ALL_CASES = LINK_CASES + SHAPE_CASES + STATUS_CASES


def _read_single(tmp_path, case: Case) -> dict:
    rec = Rec(case.data, sec=1_700_000_001, frac=250_000, wirelen=case.wirelen)
    path = write(tmp_path, f"{case.name}.pcap", pcap_file([rec], linktype=case.linktype))
    frame = kernelkit.read_packets(path)
    assert frame.height == 1
    return frame.row(0, named=True) | {"ts_ns": frame["ts"].cast(pl.Int64)[0]}


def _check_row(row: dict, case: Case, skip=()):
    assert row["caplen"] == len(case.data)
    assert row["wirelen"] == (len(case.data) if case.wirelen is None else case.wirelen)
    assert row["linktype"] == case.linktype
    assert row["iface"] == 0
    assert kernelkit.status_name(row["status"]) == kernelkit.status_name(case.status)
    for name in NULLABLE:
        if name in skip:
            continue
        assert row[name] == case.expect.get(name), f"{case.name}: {name}"


@pytest.mark.parametrize("case", [pytest.param(c, marks=c.marks, id=c.name) for c in ALL_CASES])
def test_fixture(tmp_path, case):
    row = _read_single(tmp_path, case)
    assert row["ts_ns"] == 1_700_000_001_250_000_000
    skip = ("payload_offset", "payload_len") if case.name in _UDP_PAYLOAD_UNCHECKED else ()
    _check_row(row, case, skip)


def test_all_cases_in_one_file(tmp_path):
    """Rows must not leak into each other: every case, one file per link type, same values."""
    by_linktype: dict[int, list[Case]] = {}
    for case in ALL_CASES:
        if case.marks:
            continue  # known kit bugs: checked (xfail) in test_fixture
        by_linktype.setdefault(case.linktype, []).append(case)
    for linktype, cases in by_linktype.items():
        recs = [Rec(c.data, sec=1_700_000_000 + i, wirelen=c.wirelen) for i, c in enumerate(cases)]
        path = write(tmp_path, f"{linktype}.pcap", pcap_file(recs, linktype=linktype))
        frame = kernelkit.read_packets(path)
        assert frame.height == len(cases)
        for row, case in zip(frame.iter_rows(named=True), cases):
            skip = ("payload_offset", "payload_len") if case.name in _UDP_PAYLOAD_UNCHECKED else ()
            _check_row(row, case, skip)


@pytest.mark.parametrize("name", sorted(_UDP_PAYLOAD_UNCHECKED))
def test_bad_udp_len_has_no_payload_columns(tmp_path, name):
    case = next(c for c in STATUS_CASES if c.name == name)
    row = _read_single(tmp_path, case)
    assert row["sport"] == 54321 and row["dport"] == 53
    assert row["payload_offset"] is None
    assert row["payload_len"] is None


def test_unknown_interface(tmp_path):
    """A pcapng packet on interface 2 when only interface 0 was described."""
    content = (
        shb()
        + idb(1)
        + epb(0, 1_700_000_000_000_000, ETH_IPV4 + IPV4_UDP_DNS)
        + epb(2, 1_700_000_000_000_001, ETH_IPV4 + IPV4_TCP_SYN, wirelen=80)
    )
    frame = kernelkit.read_packets(write(tmp_path, "iface.pcapng", content))
    assert frame.height == 2
    good, bad = frame.iter_rows(named=True)
    assert good["status"] == 0 and good["iface"] == 0 and good["sport"] == 54321
    assert bad["status"] == S["unknown_interface"]
    assert (bad["iface"], bad["caplen"], bad["wirelen"]) == (2, 74, 80)
    # Without an interface there is no link type nor time resolution: nothing parsed.
    assert bad["ts"] is None and bad["linktype"] is None
    for name in NULLABLE:
        assert bad[name] is None, name


def test_every_status_code_has_a_case():
    covered = {c.status for c in STATUS_CASES} | {0, S["unknown_interface"]}
    assert covered == set(STATUS_CODES)
