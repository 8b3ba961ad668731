"""The packet table: its columns, their Arrow types, and when each is null.

This table is the contract between stages (see DESIGN.md, "Data model"). It is
declared once here; the Arrow schema, the batch builder and the documentation
are derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .kernels import layout as L


@dataclass(frozen=True)
class Column:
    """One column of the packet table.

    ``group`` and ``row`` say where the parse kernel writes it; ``present`` is the
    layer bit that makes it non-null (0: never null).
    """

    name: str
    type: pa.DataType
    group: str
    row: int
    present: int
    doc: str


def _c(name, type_, group, row, present, doc):
    return Column(name, type_, group, row, present, doc)


TIMESTAMP = pa.timestamp("ns", tz="UTC")
ADDRESS = pa.binary(16)

PACKET_COLUMNS: tuple[Column, ...] = (
    _c("ts", TIMESTAMP, "ts", 0, L.HAS_TIME,
       "Capture time, exact to the file's resolution. Null for a pcapng Simple Packet Block, which has none."),
    _c("caplen", pa.uint32(), "u32", L.CAPLEN, 0, "Bytes captured."),
    _c("wirelen", pa.uint32(), "u32", L.WIRELEN, 0, "Bytes on the wire (the record's original length)."),
    _c("iface", pa.uint32(), "u32", L.IFACE, 0, "pcapng interface id within its section; 0 for pcap."),
    _c("linktype", pa.uint16(), "u16", L.LINKTYPE, L.HAS_LINKTYPE,
       "LINKTYPE_ number of the packet's interface. Null for a pcapng packet on an undescribed interface."),
    _c("eth_src", pa.uint64(), "u64", L.ETH_SRC, L.HAS_ETH, "Ethernet source MAC as a 48-bit integer. Null without an Ethernet header."),
    _c("eth_dst", pa.uint64(), "u64", L.ETH_DST, L.HAS_ETH, "Ethernet destination MAC as a 48-bit integer. Null without an Ethernet header."),
    _c("vlan_id", pa.uint16(), "u16", L.VLAN_ID, L.HAS_VLAN, "VLAN id of the outermost 802.1Q/802.1ad tag. Null when untagged."),
    _c("ethertype", pa.uint16(), "u16", L.ETHERTYPE, L.HAS_ETHERTYPE,
       "Network-layer type after VLAN tags; IPv4/IPv6 after an MPLS stack or PPPoE when the payload is IP, "
       "and also for raw-IP and loopback link types. When the capture cuts a tag, MPLS or PPPoE header, the "
       "type that announced it. Null for 802.3/LLC frames and unknown link types."),
    _c("ip_version", pa.uint8(), "u8", L.IP_VERSION, L.HAS_IP, "4 or 6. Null without an IP header."),
    _c("src_ip", ADDRESS, "ips", 0, L.HAS_IP, "Source address, 16 bytes; IPv4 as ::ffff:a.b.c.d. Null without IP."),
    _c("dst_ip", ADDRESS, "ips", 1, L.HAS_IP, "Destination address, as src_ip."),
    _c("ip_proto", pa.uint8(), "u8", L.IP_PROTO, L.HAS_IP,
       "IPv4 protocol; for IPv6 the upper-layer protocol after the extension headers (or the extension "
       "header where the walk stopped, when status says why)."),
    _c("ip_ttl", pa.uint8(), "u8", L.IP_TTL, L.HAS_IP, "TTL or hop limit."),
    _c("ip_id", pa.uint32(), "u32", L.IP_ID, L.HAS_IP_ID,
       "IPv4 identification, or the IPv6 fragment header's identification. Null for IPv6 without one."),
    _c("ip_len", pa.uint32(), "u32", L.IP_LEN, L.HAS_IP, "IPv4 total length, or 40 + IPv6 payload length, as the header says."),
    _c("frag_offset", pa.uint16(), "u16", L.FRAG_OFFSET, L.HAS_IP, "Fragment offset in bytes (0 when not fragmented)."),
    _c("more_fragments", pa.bool_(), "u8", L.MORE_FRAGMENTS, L.HAS_IP, "The more-fragments flag."),
    _c("sport", pa.uint16(), "u16", L.SPORT, L.HAS_PORTS, "TCP or UDP source port, kept when the capture cuts the rest of the header. Null for other protocols and later fragments."),
    _c("dport", pa.uint16(), "u16", L.DPORT, L.HAS_PORTS, "TCP or UDP destination port."),
    _c("tcp_flags", pa.uint16(), "u16", L.TCP_FLAGS, L.HAS_TCP, "The 9 TCP flag bits (NS CWR ECE URG ACK PSH RST SYN FIN). Null without TCP."),
    _c("tcp_seq", pa.uint32(), "u32", L.TCP_SEQ, L.HAS_TCP, "Raw sequence number."),
    _c("tcp_ack", pa.uint32(), "u32", L.TCP_ACK, L.HAS_TCP, "Raw acknowledgement number."),
    _c("tcp_win", pa.uint16(), "u16", L.TCP_WIN, L.HAS_TCP, "Window field as sent (not scaled)."),
    _c("tcp_mss", pa.uint16(), "u16", L.TCP_MSS, L.HAS_MSS, "MSS option. Null when absent."),
    _c("tcp_wscale", pa.uint8(), "u8", L.TCP_WSCALE, L.HAS_WSCALE, "Window-scale option shift count. Null when absent."),
    _c("tcp_sack_perm", pa.bool_(), "u8", L.TCP_SACK_PERM, L.HAS_TCP, "SACK-permitted option present. Null without TCP."),
    _c("tcp_tsval", pa.uint32(), "u32", L.TCP_TSVAL, L.HAS_TCP_TS, "Timestamps option TSval. Null when absent."),
    _c("tcp_tsecr", pa.uint32(), "u32", L.TCP_TSECR, L.HAS_TCP_TS, "Timestamps option TSecr. Null when absent."),
    _c("mptcp_subtype", pa.uint8(), "u8", L.MPTCP_SUBTYPE, L.HAS_MPTCP,
       "Subtype of the first MPTCP option (0 MP_CAPABLE, 1 MP_JOIN, 2 DSS, ...). Null when absent."),
    _c("icmp_type", pa.uint8(), "u8", L.ICMP_TYPE, L.HAS_ICMP, "ICMP or ICMPv6 type. Null otherwise."),
    _c("icmp_code", pa.uint8(), "u8", L.ICMP_CODE, L.HAS_ICMP, "ICMP or ICMPv6 code."),
    _c("l3_offset", pa.uint32(), "u32", L.L3_OFFSET, L.HAS_L3,
       "Offset of the network header (after link header, tags, MPLS, PPPoE). Null when the link layer is cut or unknown."),
    _c("l4_offset", pa.uint32(), "u32", L.L4_OFFSET, L.HAS_L4,
       "Offset of the header after the outermost IP header and its IPv6 extension headers. Null for later fragments."),
    _c("payload_offset", pa.uint32(), "u32", L.PAYLOAD_OFFSET, L.HAS_PAYLOAD, "Offset of the TCP or UDP payload."),
    _c("payload_len", pa.uint32(), "u32", L.PAYLOAD_LEN, L.HAS_PAYLOAD,
       "TCP or UDP payload length as the headers say (IP length for TCP, UDP length for UDP; the fragment's "
       "share for a first fragment), whatever the capture kept."),
    _c("status", pa.uint16(), "u16", L.STATUS, 0, "0 for a clean parse, else the first anomaly met: see kernelkit.status."),
)

PACKET_SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=c.present != 0) for c in PACKET_COLUMNS])
"""Arrow schema of the packet table (without ``data``)."""

DATA_FIELD = pa.field("data", pa.binary_view())
"""The optional ``data`` column: the captured bytes of each packet."""


def packet_schema(data: bool = False) -> pa.Schema:
    """The Arrow schema of packet batches, with or without ``data``.

    Examples
    --------
    >>> from kernelkit.schema import packet_schema
    >>> packet_schema().field("src_ip").type
    FixedSizeBinaryType(fixed_size_binary[16])
    """
    return PACKET_SCHEMA.append(DATA_FIELD) if data else PACKET_SCHEMA
