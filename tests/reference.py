"""Plain-Python reference for the L2–L4 packet parse and for classic pcap framing.

Written from the documented semantics (the column docs in ``kernelkit.schema``, the
status meanings in ``kernelkit.status``, DESIGN.md), not from the kernel's code, so
that a property test comparing the two can catch a mistake in either. Clarity over
speed: plain ``struct`` reads, one method per header, and a ``_Stop`` exception where
an anomaly ends the parse.

The rules, layer by layer:

* Link. Ethernet (1), Linux SLL (113, protocol at byte 14, 16-byte header) and SLL2
  (276, protocol at byte 0, 20-byte header) give a type field, walked through VLAN
  tags (0x8100, 0x88A8, 0x9100, 0x9200; ``vlan_id`` from the outermost), VN-tags
  (0x8926), an MPLS stack (0x8847/0x8848; IPv4 or IPv6 after the bottom label when the
  version nibble says so; cut if that nibble is not captured) or PPPoE session
  (0x8864; PPP 0x0021 IPv4, 0x0057 IPv6).
  A type field below 0x600 is an 802.3 length (or, in SLL, a Linux protocol code):
  no network-layer type. BSD loopback (0) has a 4-byte address family in either
  byte order; raw IP (101) is told by the version nibble, 228 is IPv4, 229 IPv6.
* ``ethertype`` is the last type field read: the network-layer type when the link
  layer was walked to its end, or the type that announced a cut tag or label.
* IP lengths are checked against the frame on the wire (``max(wirelen, caplen)``),
  reads against the captured bytes. A zero IPv4 total length or IPv6 payload length
  means the frame gives the length (segmentation offload).
* L4 is the header right after the outermost IP header and its IPv6 extension
  headers (hop-by-hop, routing, fragment, destination options, AH), except in later
  fragments. Its length checks are against the IP payload's end.
* ``status`` is the first anomaly met, in reading order; an anomaly that leaves the
  rest readable (an IP length past the frame, a bad TCP option, a bad UDP length,
  options cut by the capture) is noted and the parse goes on.
"""

from __future__ import annotations

import struct
from pathlib import Path

from kernelkit.schema import PACKET_COLUMNS
from kernelkit.status import STATUS_CODES

STATUS = {name: code for code, (name, _meaning) in STATUS_CODES.items()}
"""Status codes by documented name."""

COLUMNS = tuple(c.name for c in PACKET_COLUMNS if c.name not in ("ts", "iface"))
"""The packet columns :func:`parse_packet_ref` fills (all but ``ts`` and ``iface``)."""

IPV4, IPV6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
VNTAG = 0x8926
MPLS_TYPES = (0x8847, 0x8848)
PPPOE_SESSION = 0x8864
PPP_TO_ETHERTYPE = {0x0021: IPV4, 0x0057: IPV6}
NULL_FAMILIES = {2: IPV4, 10: IPV6, 24: IPV6, 28: IPV6, 30: IPV6}
IPV6_EXTENSIONS = (0, 43, 44, 60, 51)

KNOWN_QUIRKS = frozenset(
    {
        "length_type_after_tag",
        "ipv4_options_cut_drops_header",
        "icmp_past_ip_payload",
        "udp_bad_len_keeps_payload",
    }
)
"""Kernel behaviours that differ from the documented semantics, reproducible on demand.

Each one is reported with a fix and has a strict-xfail test asserting the documented
behaviour; property tests pass the ones still unfixed so they keep checking the rest.

``length_type_after_tag``
    A type field below 0x600 after a VLAN tag or VN-tag (an 802.3 length) is reported
    as the ethertype; the docs make ethertype null for 802.3/LLC frames.
``ipv4_options_cut_drops_header``
    When the capture ends inside IPv4 options, the fixed 20-byte header (captured
    whole) is dropped too; the docs keep every field parsed before the anomaly.
``icmp_past_ip_payload``
    The ICMP header is read past the end of the IP payload (from padding or beyond
    the datagram), with no anomaly.
``udp_bad_len_keeps_payload``
    A bad UDP length still yields payload columns; the docs give them only when the
    L4 header's length is sound.
"""


class _Stop(Exception):
    """The anomaly just noted ends the parse."""


def _mac(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _v4_mapped(addr: bytes) -> bytes:
    return bytes(10) + b"\xff\xff" + addr


class _Parser:
    def __init__(self, pkt: bytes, wirelen: int, linktype: int, quirks: frozenset):
        self.pkt = bytes(pkt)
        self.captured = len(self.pkt)
        # Lengths in headers describe the frame on the wire; a record whose caplen
        # exceeds wirelen has at least caplen bytes.
        self.wire = max(wirelen, self.captured)
        self.quirks = quirks
        self.row = dict.fromkeys(COLUMNS)
        self.row.update(caplen=self.captured, wirelen=wirelen, linktype=linktype, status=0)

    # --- helpers --------------------------------------------------------------------

    def note(self, name: str) -> None:
        """Record an anomaly unless an earlier one was met."""
        if self.row["status"] == 0:
            self.row["status"] = STATUS[name]

    def stop(self, name: str):
        self.note(name)
        raise _Stop

    def has(self, off: int, n: int) -> bool:
        """Are bytes ``[off, off + n)`` captured?"""
        return off + n <= self.captured

    def u8(self, off: int) -> int:
        return self.pkt[off]

    def u16(self, off: int) -> int:
        return struct.unpack_from("!H", self.pkt, off)[0]

    def u32(self, off: int) -> int:
        return struct.unpack_from("!I", self.pkt, off)[0]

    # --- link layer -----------------------------------------------------------------

    def run(self) -> dict:
        if self.row["caplen"] > self.row["wirelen"]:
            self.note("caplen_exceeds_wirelen")
        try:
            l3 = self.link(self.row["linktype"])
            if self.row["ethertype"] == IPV4:
                self.ipv4(l3)
            elif self.row["ethertype"] == IPV6:
                self.ipv6(l3)
        except _Stop:
            pass
        return self.row

    def link(self, linktype: int) -> int:
        """Parse the link layer; returns the network header's offset."""
        row = self.row
        if linktype == 1:
            if not self.has(0, 14):
                self.stop("truncated_link")
            row["eth_dst"] = _mac(self.pkt[0:6])
            row["eth_src"] = _mac(self.pkt[6:12])
            return self.type_chain(self.u16(12), 14)
        if linktype == 113:
            if not self.has(0, 16):
                self.stop("truncated_link")
            return self.type_chain(self.u16(14), 16)
        if linktype == 276:
            if not self.has(0, 20):
                self.stop("truncated_link")
            return self.type_chain(self.u16(0), 20)
        if linktype == 0:
            if not self.has(0, 4):
                self.stop("truncated_link")
            # The family is in the capturing host's byte order: accept either.
            little, big = struct.unpack_from("<I", self.pkt)[0], struct.unpack_from(">I", self.pkt)[0]
            row["ethertype"] = NULL_FAMILIES.get(little, NULL_FAMILIES.get(big))
            row["l3_offset"] = 4
            return 4
        if linktype in (101, 228, 229):
            row["l3_offset"] = 0
            if linktype == 228:
                row["ethertype"] = IPV4
            elif linktype == 229:
                row["ethertype"] = IPV6
            else:
                if not self.has(0, 1):
                    self.stop("truncated_ip")
                version = self.u8(0) >> 4
                if version not in (4, 6):
                    self.stop("bad_ip_version")
                row["ethertype"] = IPV4 if version == 4 else IPV6
            return 0
        self.stop("unknown_linktype")

    def type_chain(self, type_: int, off: int) -> int:
        """Walk tags, labels and PPPoE from a type field whose header starts at ``off``."""
        row = self.row
        first = True
        while True:
            length_is_type = not first and "length_type_after_tag" in self.quirks
            if type_ < 0x0600 and not length_is_type:
                # An 802.3 length: LLC follows, no network-layer type.
                row["ethertype"] = None
                row["l3_offset"] = off
                return off
            first = False
            # Until the walk ends, the last type read is the one that announced the
            # header being read (kept if that header is cut).
            row["ethertype"] = type_
            if type_ in VLAN_TYPES:
                if not self.has(off, 4):
                    self.stop("truncated_link")
                if row["vlan_id"] is None:
                    row["vlan_id"] = self.u16(off) & 0x0FFF
                type_ = self.u16(off + 2)
                off += 4
            elif type_ == VNTAG:
                if not self.has(off, 6):
                    self.stop("truncated_link")
                type_ = self.u16(off + 4)
                off += 6
            elif type_ in MPLS_TYPES:
                while True:
                    if not self.has(off, 4):
                        self.stop("truncated_link")
                    bottom = self.u8(off + 2) & 1
                    off += 4
                    if bottom:
                        break
                # No type field after MPLS: the first nibble of the payload tells, so
                # a capture that ends right after the stack is cut before the type.
                if not self.has(off, 1):
                    self.stop("truncated_link")
                if self.u8(off) >> 4 in (4, 6):
                    row["ethertype"] = IPV4 if self.u8(off) >> 4 == 4 else IPV6
                row["l3_offset"] = off
                return off
            elif type_ == PPPOE_SESSION:
                # 6-byte PPPoE header, then the 2-byte PPP protocol.
                if not self.has(off, 8):
                    self.stop("truncated_link")
                row["ethertype"] = PPP_TO_ETHERTYPE.get(self.u16(off + 6), PPPOE_SESSION)
                row["l3_offset"] = off + 8
                return off + 8
            else:
                row["l3_offset"] = off
                return off

    # --- network layer --------------------------------------------------------------

    def ip_end(self, off: int, length: int) -> int:
        """End of the IP datagram at ``off`` whose header says ``length`` bytes (0: unknown)."""
        if length == 0:
            return self.wire
        if off + length > self.wire:
            self.note("ip_len_exceeds_frame")
            return self.wire
        return off + length

    def ipv4(self, off: int) -> None:
        row = self.row
        if not self.has(off, 20):
            self.stop("truncated_ip")
        if self.u8(off) >> 4 != 4:
            self.stop("bad_ip_version")
        header_len = (self.u8(off) & 0x0F) * 4
        if header_len < 20:
            self.stop("bad_ihl")
        if not self.has(off, header_len) and "ipv4_options_cut_drops_header" in self.quirks:
            self.stop("truncated_ip")
        total_len, ident, flags_frag, ttl, proto = struct.unpack_from("!HHHBB", self.pkt, off + 2)
        row.update(
            ip_version=4,
            ip_len=total_len,
            ip_id=ident,
            frag_offset=(flags_frag & 0x1FFF) * 8,
            more_fragments=bool(flags_frag & 0x2000),
            ip_ttl=ttl,
            ip_proto=proto,
            src_ip=_v4_mapped(self.pkt[off + 12 : off + 16]),
            dst_ip=_v4_mapped(self.pkt[off + 16 : off + 20]),
        )
        if not self.has(off, header_len):
            self.stop("truncated_ip")  # inside the options
        if total_len != 0 and total_len < header_len:
            self.stop("bad_ip_len")
        end = self.ip_end(off, total_len)
        if row["frag_offset"]:
            return  # a later fragment: no L4 header here
        self.l4(off + header_len, end, proto, 4, complete=not row["more_fragments"])

    def ipv6(self, off: int) -> None:
        row = self.row
        if not self.has(off, 40):
            self.stop("truncated_ip")
        if self.u8(off) >> 4 != 6:
            self.stop("bad_ip_version")
        payload_len, next_header, hop_limit = struct.unpack_from("!HBB", self.pkt, off + 4)
        row.update(
            ip_version=6,
            ip_len=40 + payload_len,
            ip_ttl=hop_limit,
            frag_offset=0,
            more_fragments=False,
            src_ip=self.pkt[off + 8 : off + 24],
            dst_ip=self.pkt[off + 24 : off + 40],
        )
        end = self.ip_end(off, 40 + payload_len if payload_len else 0)
        p = off + 40
        while next_header in IPV6_EXTENSIONS:
            row["ip_proto"] = next_header  # where the walk stopped, if it stops here
            if p + 8 > end:
                self.stop("bad_ipv6_ext_len")
            if not self.has(p, 8):
                self.stop("truncated_ipv6_ext")
            later_fragment = False
            if next_header == 44:
                offset_flags, ident = struct.unpack_from("!HI", self.pkt, p + 2)
                row.update(
                    frag_offset=offset_flags & 0xFFF8,
                    more_fragments=bool(offset_flags & 1),
                    ip_id=ident,
                )
                later_fragment = row["frag_offset"] != 0
                ext_len = 8
            elif next_header == 51:
                ext_len = (self.u8(p + 1) + 2) * 4  # AH counts 4-byte words, minus 2
            else:
                ext_len = (self.u8(p + 1) + 1) * 8
            if p + ext_len > end:
                self.stop("bad_ipv6_ext_len")
            if not self.has(p, ext_len):
                self.stop("truncated_ipv6_ext")
            next_header = self.u8(p)
            p += ext_len
            if later_fragment:
                row["ip_proto"] = next_header
                return
        row["ip_proto"] = next_header
        self.l4(p, end, next_header, 6, complete=not row["more_fragments"])

    # --- transport layer ------------------------------------------------------------

    def l4(self, p: int, end: int, proto: int, version: int, complete: bool) -> None:
        """The header at ``p`` of an IP payload ending at ``end``.

        ``complete`` is false in a first fragment: the UDP length then covers bytes
        still to come.
        """
        self.row["l4_offset"] = p
        if proto == 6:
            self.tcp(p, end)
        elif proto == 17:
            self.udp(p, end, complete)
        elif (version, proto) in ((4, 1), (6, 58)):
            self.icmp(p, end)

    def tcp(self, p: int, end: int) -> None:
        row = self.row
        if p + 20 > end:
            self.stop("bad_tcp_offset")
        if not self.has(p, 20):
            if self.has(p, 4):  # the ports survive a cut header
                row.update(zip(("sport", "dport"), struct.unpack_from("!HH", self.pkt, p)))
            self.stop("truncated_tcp")
        sport, dport, seq, ack, offset_byte, flags, window = struct.unpack_from("!HHIIBBH", self.pkt, p)
        row.update(
            sport=sport,
            dport=dport,
            tcp_seq=seq,
            tcp_ack=ack,
            tcp_flags=((offset_byte & 1) << 8) | flags,  # NS, then CWR..FIN
            tcp_win=window,
            tcp_sack_perm=False,
        )
        header_len = (offset_byte >> 4) * 4
        header_end = p + header_len
        if header_len < 20 or header_end > end:
            self.stop("bad_tcp_offset")
        row["payload_offset"] = header_end
        row["payload_len"] = end - header_end
        if header_end > self.captured:
            self.note("truncated_tcp")
        self.tcp_options(p + 20, header_end, min(header_end, self.captured))

    def tcp_options(self, q: int, header_end: int, seen_end: int) -> None:
        """Options in ``[q, header_end)``, of which ``[q, seen_end)`` was captured."""
        row = self.row
        while q < seen_end:
            kind = self.u8(q)
            if kind == 0:  # end of option list
                return
            if kind == 1:  # no-operation
                q += 1
                continue
            if q + 2 > seen_end:
                if q + 2 > header_end:
                    self.note("bad_tcp_option")  # no room for its length byte
                return
            length = self.u8(q + 1)
            if length < 2 or q + length > header_end:
                self.note("bad_tcp_option")
                return
            if q + length > seen_end:
                return  # cut by the capture, already noted
            expected = {2: 4, 3: 3, 4: 2, 8: 10}.get(kind)
            if expected is not None and length != expected:
                self.note("bad_tcp_option")
            elif kind == 2:
                row["tcp_mss"] = self.u16(q + 2)
            elif kind == 3:
                row["tcp_wscale"] = self.u8(q + 2)
            elif kind == 4:
                row["tcp_sack_perm"] = True
            elif kind == 8:
                row["tcp_tsval"], row["tcp_tsecr"] = struct.unpack_from("!II", self.pkt, q + 2)
            elif kind == 30:
                if length < 3:
                    self.note("bad_tcp_option")  # no room for the subtype
                elif row["mptcp_subtype"] is None:
                    row["mptcp_subtype"] = self.u8(q + 2) >> 4
            q += length

    def udp(self, p: int, end: int, complete: bool) -> None:
        row = self.row
        if p + 8 > end:
            self.stop("bad_udp_len")
        if not self.has(p, 8):
            if self.has(p, 4):  # the ports survive a cut header
                row.update(zip(("sport", "dport"), struct.unpack_from("!HH", self.pkt, p)))
            self.stop("truncated_udp")
        sport, dport, length = struct.unpack_from("!HHH", self.pkt, p)
        row.update(sport=sport, dport=dport)
        sound = not complete or (length >= 8 and p + length <= end)
        if not sound:
            self.note("bad_udp_len")
            if "udp_bad_len_keeps_payload" not in self.quirks:
                return
        row["payload_offset"] = p + 8
        # A first fragment's UDP length covers later fragments: count this one's share.
        row["payload_len"] = length - 8 if complete and sound else end - (p + 8)

    def icmp(self, p: int, end: int) -> None:
        if p + 4 > end and "icmp_past_ip_payload" not in self.quirks:
            self.stop("truncated_icmp")  # the datagram ends inside the ICMP header
        if not self.has(p, 4):
            self.stop("truncated_icmp")
        self.row["icmp_type"] = self.u8(p)
        self.row["icmp_code"] = self.u8(p + 1)


def parse_packet_ref(pkt: bytes, wirelen: int, linktype: int, *, quirks=frozenset()) -> dict:
    """Parse one packet's L2–L4 headers as the packet table documents them.

    Parameters
    ----------
    pkt : bytes
        The captured bytes (``caplen`` is their length).
    wirelen, linktype : int
        The record's original length and the link type.
    quirks : iterable of str
        Names from :data:`KNOWN_QUIRKS`: known kernel deviations to reproduce instead
        of the documented behaviour.

    Returns
    -------
    dict
        Every column of :data:`COLUMNS`: Python ints, bools and bytes, None for null;
        addresses as 16 bytes, IPv4 as ``::ffff:a.b.c.d``.
    """
    quirks = frozenset(quirks)
    unknown = quirks - KNOWN_QUIRKS
    if unknown:
        raise ValueError(f"unknown quirks: {sorted(unknown)}")
    return _Parser(pkt, wirelen, linktype, quirks).run()


# --- classic pcap framing ---------------------------------------------------------------

MAX_PACKET = 262144  # libpcap's largest snaplen: a larger caplen is corrupt (unless snaplen says more)

# First four bytes of the file -> (struct byte order, ns per sub-second unit)
PCAP_MAGICS = {
    bytes.fromhex("d4c3b2a1"): ("<", 1000),
    bytes.fromhex("4d3cb2a1"): ("<", 1),
    bytes.fromhex("a1b2c3d4"): (">", 1000),
    bytes.fromhex("a1b23c4d"): (">", 1),
}


def pcap_records_ref(data: bytes) -> tuple[int, list[tuple[int, int, bytes]], str]:
    """Split a classic pcap file into records.

    Returns ``(linktype, records, stop)``: each record is ``(ts_ns, wirelen, bytes)``,
    and ``stop`` says why the walk ended: ``"end"`` (on a record boundary),
    ``"partial"`` (the file ends inside a record) or ``"corrupt"`` (a caplen larger
    than ``max(snaplen, 262144)``).
    """
    if data[:4] not in PCAP_MAGICS:
        raise ValueError(f"not a classic pcap file (magic {data[:4].hex()})")
    order, unit_ns = PCAP_MAGICS[data[:4]]
    snaplen, link_field = struct.unpack_from(order + "II", data, 16)
    linktype = link_field & 0xFFFF  # upper bits: FCS length and flags
    limit = max(snaplen, MAX_PACKET)
    records = []
    pos = 24
    while True:
        if pos == len(data):
            return linktype, records, "end"
        if pos + 16 > len(data):
            return linktype, records, "partial"
        seconds, fraction, caplen, wirelen = struct.unpack_from(order + "IIII", data, pos)
        if caplen > limit:
            return linktype, records, "corrupt"
        if pos + 16 + caplen > len(data):
            return linktype, records, "partial"
        records.append(
            (seconds * 1_000_000_000 + fraction * unit_ns, wirelen, data[pos + 16 : pos + 16 + caplen])
        )
        pos += 16 + caplen


def read_pcap_ref(path, *, quirks=frozenset()) -> list[dict]:
    """Every packet of a classic pcap file, as :func:`parse_packet_ref` rows plus ``ts`` and ``iface``.

    ``ts`` is in ns since the epoch; ``iface`` is 0. Reading stops at a partial or
    corrupt record, as the kit does; :func:`pcap_records_ref` says which.
    """
    linktype, records, _stop = pcap_records_ref(Path(path).read_bytes())
    rows = []
    for ts, wirelen, pkt in records:
        row = parse_packet_ref(pkt, wirelen, linktype, quirks=quirks)
        row.update(ts=ts, iface=0)
        rows.append(row)
    return rows
