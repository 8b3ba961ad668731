"""Hand-written packets and small pcap/pcapng builders for the tests.

Every packet here is a byte literal written by hand, one header field per line
with a comment saying what the bytes are, so that the expected column values in
the tests can be read off the bytes. The builders write those packets into
classic pcap and pcapng files with ``struct``, independently of kernelkit.

IP and ICMP checksums are the real ones; TCP/UDP checksums too, except where a
packet was edited to provoke an anomaly (kernelkit does not check them).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


def hexbytes(text: str) -> bytes:
    """Bytes from hex digits, ignoring whitespace and ``#`` comments."""
    digits = "".join(line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex("".join(digits.split()))


def v4(text: str) -> bytes:
    """An IPv4 address as the packet table stores it: 16 bytes, ``::ffff:a.b.c.d``."""
    return bytes(10) + b"\xff\xff" + ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    """An IPv6 address as 16 bytes in network order."""
    return ipaddress.IPv6Address(text).packed


# --- link headers ------------------------------------------------------------------

ETH_DST = 0x001B213A4C5E
ETH_SRC = 0x525400123456

ETH_ADDRS = hexbytes("""
    001b213a4c5e    # destination MAC 00:1b:21:3a:4c:5e
    525400123456    # source MAC 52:54:00:12:34:56
""")

ETH_IPV4 = ETH_ADDRS + hexbytes("0800")  # ethertype IPv4; network header at 14
ETH_IPV6 = ETH_ADDRS + hexbytes("86dd")  # ethertype IPv6; network header at 14

VLAN_IPV4 = ETH_ADDRS + hexbytes("""
    8100            # 802.1Q tag
    a064            # TCI: PCP 5, DEI 0, VLAN id 100 (0x064)
    0800            # inner ethertype IPv4; network header at 18
""")

QINQ_IPV4 = ETH_ADDRS + hexbytes("""
    88a8 00c8       # 802.1ad service tag, VLAN id 200
    8100 0064       # 802.1Q customer tag, VLAN id 100
    0800            # IPv4; network header at 22
""")

TRIPLE_TAG_IPV6 = ETH_ADDRS + hexbytes("""
    88a8 012c       # 802.1ad, VLAN id 300
    8100 00c8       # 802.1Q, VLAN id 200
    8100 0064       # 802.1Q, VLAN id 100
    86dd            # IPv6; network header at 26
""")

MPLS_ONE_LABEL = ETH_ADDRS + hexbytes("""
    8847            # MPLS unicast
    03e80140        # label 16000 (0x03e80), TC 0, S=1 (bottom), TTL 64; payload at 18
""")

MPLS_TWO_LABELS = ETH_ADDRS + hexbytes("""
    8847            # MPLS unicast
    05dc1040        # label 24001 (0x05dc1), TC 0, S=0, TTL 64
    00011140        # label 17 (0x00011), TC 0, S=1 (bottom), TTL 64; payload at 22
""")

PPPOE_IPV4 = ETH_ADDRS + hexbytes("""
    8864            # PPPoE session stage
    11              # version 1, type 1
    00              # code 0: session data
    002a            # session id 42
    003e            # PPPoE length 62: PPP protocol (2) + the 60-byte IPv4 packet
    0021            # PPP protocol IPv4; network header at 22
""")

PPPOE_IPV6 = ETH_ADDRS + hexbytes("""
    8864 11 00 002a
    003a            # PPPoE length 58: PPP protocol (2) + the 56-byte IPv6 packet
    0057            # PPP protocol IPv6; network header at 22
""")

SLL_IPV4 = hexbytes("""
    0000            # packet type: to us
    0001            # ARPHRD_ETHER
    0006            # link-layer address length 6
    5254001234560000  # link-layer address, padded to 8
    0800            # protocol IPv4; network header at 16
""")

SLL2_IPV6 = hexbytes("""
    86dd            # protocol IPv6
    0000            # reserved
    00000002        # interface index 2
    0001            # ARPHRD_ETHER
    04              # packet type: outgoing
    06              # link-layer address length 6
    5254001234560000  # link-layer address, padded to 8; network header at 20
""")

# --- network and transport layers ---------------------------------------------------

# IPv4 TCP SYN with every option kernelkit reads: 60 bytes.
IPV4_TCP_SYN = hexbytes("""
    45              # version 4, IHL 5 (20 bytes)
    00              # DSCP/ECN
    003c            # total length 60
    1c46            # identification 0x1c46
    4000            # DF, fragment offset 0
    40              # TTL 64
    06              # protocol TCP
    3224            # header checksum
    c000020a        # source 192.0.2.10
    c6336414        # destination 198.51.100.20
    c350            # TCP source port 50000           (TCP header at +20)
    0050            # destination port 80
    12345678        # sequence number
    00000000        # acknowledgement number
    a0              # data offset 10 words (40 bytes), NS 0
    02              # flags: SYN
    faf0            # window 64240
    522e            # checksum
    0000            # urgent pointer
    020405b4        # MSS 1460                          (options at +40)
    0402            # SACK permitted
    080a 0001e240 00000000  # timestamps: TSval 123456, TSecr 0
    01              # NOP
    030307          # window scale 7                     (end of TCP header: +60)
""")
assert len(IPV4_TCP_SYN) == 60

# IPv4 UDP DNS query for example.com A: 57 bytes.
IPV4_UDP_DNS = hexbytes("""
    45 00 0039      # version 4, IHL 5; total length 57
    8a2f 0000       # identification 0x8a2f; no flags, offset 0
    40 11           # TTL 64, protocol UDP
    1e69            # header checksum
    c0a80164        # source 192.168.1.100
    08080808        # destination 8.8.8.8
    d431            # UDP source port 54321           (UDP header at +20)
    0035            # destination port 53
    0025            # UDP length 37 (8 + 29)
    dde5            # checksum
    abcd 0100 0001 0000 0000 0000   # DNS header: id, RD, 1 question (payload at +28)
    07 6578616d706c65 03 636f6d 00  # example.com
    0001 0001                       # type A, class IN      (29 payload bytes)
""")
assert len(IPV4_UDP_DNS) == 57

# IPv4 ICMP echo request: 36 bytes.
IPV4_ICMP_ECHO = hexbytes("""
    45 00 0024      # version 4, IHL 5; total length 36
    0bad 4000       # identification 0x0bad; DF
    40 01           # TTL 64, protocol ICMP
    ab76            # header checksum
    c0a80164        # source 192.168.1.100
    c0a80101        # destination 192.168.1.1
    08 00           # ICMP type 8 (echo request), code 0 (ICMP at +20)
    d9ba            # checksum
    1234 0001       # identifier, sequence
    0001020304050607  # data
""")
assert len(IPV4_ICMP_ECHO) == 36

# IPv6 TCP SYN-ACK without options: 60 bytes.
IPV6_TCP_SYNACK = hexbytes("""
    60000000        # version 6, traffic class 0, flow label 0
    0014            # payload length 20
    06              # next header TCP
    40              # hop limit 64
    20010db8000000000000000000000001  # source 2001:db8::1
    20010db8000000000000000000000002  # destination 2001:db8::2
    01bb            # TCP source port 443              (TCP header at +40)
    c350            # destination port 50000
    89abcdef        # sequence number
    12345679        # acknowledgement number
    50              # data offset 5 words (20 bytes)
    12              # flags: SYN ACK
    ffff            # window 65535
    cf09            # checksum
    0000            # urgent pointer                    (end: +60)
""")
assert len(IPV6_TCP_SYNACK) == 60

# IPv6 ICMPv6 echo request to all nodes: 56 bytes.
IPV6_ICMP_ECHO = hexbytes("""
    60000000        # version 6
    0010            # payload length 16
    3a              # next header ICMPv6
    ff              # hop limit 255
    fe800000000000000000000000000001  # source fe80::1
    ff020000000000000000000000000001  # destination ff02::1
    80 00           # ICMPv6 type 128 (echo request), code 0 (at +40)
    d47e            # checksum
    0001 0002       # identifier, sequence
    6b6b6b6b6b6b6b6b  # data
""")
assert len(IPV6_ICMP_ECHO) == 56


# --- pcap and pcapng builders -------------------------------------------------------


@dataclass
class Rec:
    """One classic pcap record. ``caplen`` defaults to ``len(data)``, ``wirelen`` to caplen."""

    data: bytes
    sec: int = 1_700_000_000
    frac: int = 0
    wirelen: int | None = None
    caplen: int | None = None


def pcap_record(rec: Rec, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    caplen = len(rec.data) if rec.caplen is None else rec.caplen
    wirelen = len(rec.data) if rec.wirelen is None else rec.wirelen
    return struct.pack(order + "IIII", rec.sec, rec.frac, caplen, wirelen) + rec.data


def pcap_header(
    linktype: int = 1,
    snaplen: int = 65535,
    big_endian: bool = False,
    nanosecond: bool = False,
    linktype_field: int | None = None,
) -> bytes:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    field = linktype if linktype_field is None else linktype_field
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, field)


def pcap_file(
    records: Iterable[Rec | bytes],
    linktype: int = 1,
    snaplen: int = 65535,
    big_endian: bool = False,
    nanosecond: bool = False,
    linktype_field: int | None = None,
) -> bytes:
    """A classic pcap file; bare ``bytes`` records get the default timestamp."""
    out = [pcap_header(linktype, snaplen, big_endian, nanosecond, linktype_field)]
    for rec in records:
        out.append(pcap_record(rec if isinstance(rec, Rec) else Rec(rec), big_endian))
    return b"".join(out)


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def ng_options(options: Sequence[tuple[int, bytes]], big_endian: bool = False) -> bytes:
    """Encoded pcapng options, ended by opt_endofopt (none at all when empty)."""
    if not options:
        return b""
    order = ">" if big_endian else "<"
    out = b"".join(struct.pack(order + "HH", code, len(value)) + _pad4(value) for code, value in options)
    return out + struct.pack(order + "HH", 0, 0)


def ng_block(
    block_type: int, body: bytes, big_endian: bool = False, trailing_len: int | None = None
) -> bytes:
    """A pcapng block: type, total length, body (padded to 4), total length again."""
    order = ">" if big_endian else "<"
    body = _pad4(body)
    total = 12 + len(body)
    trailer = total if trailing_len is None else trailing_len
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", trailer)


def shb(big_endian: bool = False, major: int = 1, minor: int = 0, options=()) -> bytes:
    order = ">" if big_endian else "<"
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, major, minor, -1) + ng_options(options, big_endian)
    return ng_block(0x0A0D0D0A, body, big_endian)


def idb(linktype: int, snaplen: int = 0, options=(), big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    body = struct.pack(order + "HHI", linktype, 0, snaplen) + ng_options(options, big_endian)
    return ng_block(0x00000001, body, big_endian)


def if_tsresol(value: int) -> tuple[int, bytes]:
    """The if_tsresol option: 10**-value s, or 2**-(value & 0x7f) s when the top bit is set."""
    return (9, bytes([value]))


def if_tsoffset(seconds: int, big_endian: bool = False) -> tuple[int, bytes]:
    return (14, struct.pack((">" if big_endian else "<") + "q", seconds))


def epb(iface: int, units: int, data: bytes, wirelen: int | None = None, big_endian: bool = False,
        caplen: int | None = None, options=()) -> bytes:
    """An Enhanced Packet Block; ``units`` is the 64-bit timestamp in the interface's resolution."""
    order = ">" if big_endian else "<"
    caplen = len(data) if caplen is None else caplen
    wirelen = len(data) if wirelen is None else wirelen
    body = struct.pack(order + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, caplen, wirelen)
    body += _pad4(data) + ng_options(options, big_endian)
    return ng_block(0x00000006, body, big_endian)


def pb(iface: int, units: int, data: bytes, wirelen: int | None = None, big_endian: bool = False) -> bytes:
    """The obsolete Packet Block: 16-bit interface id, 16-bit drops count."""
    order = ">" if big_endian else "<"
    wirelen = len(data) if wirelen is None else wirelen
    body = struct.pack(order + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), wirelen) + data
    return ng_block(0x00000002, body, big_endian)


def spb(data: bytes, wirelen: int | None = None, big_endian: bool = False) -> bytes:
    """A Simple Packet Block: original length and data; no interface id, no timestamp."""
    order = ">" if big_endian else "<"
    wirelen = len(data) if wirelen is None else wirelen
    return ng_block(0x00000003, struct.pack(order + "I", wirelen) + data, big_endian)


def write(directory: Path, name: str, content: bytes) -> Path:
    path = Path(directory) / name
    path.write_bytes(content)
    return path
