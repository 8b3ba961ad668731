"""Packet builders and hypothesis strategies for structured (and then damaged) packets.

Builders are plain functions that assemble headers with ``struct``; lengths and
offsets are right unless the caller overrides them. Strategies draw whole packets
(link layer, tags, IP, extension headers, L4, payload), then a record: optionally
cut at a random length, with a wire length that may disagree, and a few bytes
flipped. Writers turn records into classic pcap or pcapng bytes.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

# --- builders ---------------------------------------------------------------------------


def ethernet(
    payload: bytes,
    ethertype: int,
    *,
    dst: bytes = b"\x02" * 6,
    src: bytes = b"\x04" * 6,
    tags: list[tuple[int, int]] = (),
) -> bytes:
    """An Ethernet frame; ``tags`` are ``(tpid, tci)`` pairs, outermost first."""
    out = dst + src
    for tpid, tci in tags:
        out += struct.pack("!HH", tpid, tci)
    return out + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, protocol: int, *, pkttype: int = 0, hatype: int = 1) -> bytes:
    """A Linux cooked (SLL, 16-byte) header before ``payload``."""
    return struct.pack("!HHH8sH", pkttype, hatype, 6, b"\x02" * 6 + bytes(2), protocol) + payload


def sll2(payload: bytes, protocol: int, *, ifindex: int = 2, hatype: int = 1, pkttype: int = 0) -> bytes:
    """A Linux cooked v2 (SLL2, 20-byte) header before ``payload``."""
    return (
        struct.pack("!HHIHBB8s", protocol, 0, ifindex, hatype, pkttype, 6, b"\x02" * 6 + bytes(2)) + payload
    )


def null_header(family: int, little_endian: bool = True) -> bytes:
    """A BSD loopback header: the address family in the capturing host's byte order."""
    return struct.pack("<I" if little_endian else ">I", family)


def mpls(labels: list[int], payload: bytes, *, ttl: int = 64) -> bytes:
    """An MPLS label stack (bottom-of-stack set on the last label) before ``payload``."""
    out = b""
    for k, label in enumerate(labels):
        bottom = 1 if k == len(labels) - 1 else 0
        out += struct.pack("!I", (label & 0xFFFFF) << 12 | bottom << 8 | ttl)
    return out + payload


def pppoe(payload: bytes, ppp_protocol: int, *, session: int = 1) -> bytes:
    """A PPPoE session header and PPP protocol field before ``payload``."""
    return struct.pack("!BBHHH", 0x11, 0, session, len(payload) + 2, ppp_protocol) + payload


def ipv4(
    payload: bytes,
    proto: int,
    *,
    src: bytes = bytes([10, 0, 0, 1]),
    dst: bytes = bytes([10, 0, 0, 2]),
    ttl: int = 64,
    ident: int = 1,
    df: bool = False,
    mf: bool = False,
    frag_offset: int = 0,
    options: bytes = b"",
    total_len: int | None = None,
    ihl: int | None = None,
    version: int = 4,
) -> bytes:
    """An IPv4 header (``frag_offset`` in 8-byte units) before ``payload``."""
    header_len = 20 + len(options)
    ihl = header_len // 4 if ihl is None else ihl
    total_len = header_len + len(payload) if total_len is None else total_len
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset & 0x1FFF)
    header = struct.pack(
        "!BBHHHBBH4s4s", version << 4 | ihl, 0, total_len, ident, flags, ttl, proto, 0, src, dst
    )
    return header + options + payload


def ipv6(
    payload: bytes,
    next_header: int,
    *,
    src: bytes = b"\x20\x01" + bytes(13) + b"\x01",
    dst: bytes = b"\x20\x01" + bytes(13) + b"\x02",
    hop_limit: int = 64,
    payload_len: int | None = None,
    version: int = 6,
) -> bytes:
    """An IPv6 header before ``payload`` (extension headers included in it)."""
    payload_len = len(payload) if payload_len is None else payload_len
    return struct.pack("!IHBB16s16s", version << 28, payload_len, next_header, hop_limit, src, dst) + payload


def ipv6_ext(kind: int, next_header: int, body: bytes, *, length_field: int | None = None) -> bytes:
    """One IPv6 extension header. ``body`` follows the two first bytes; its size must fit
    the header's length unit (8 bytes, AH 4) unless ``length_field`` overrides it."""
    if length_field is None:
        size = 2 + len(body)
        length_field = size // 4 - 2 if kind == 51 else size // 8 - 1
    return struct.pack("!BB", next_header, length_field & 0xFF) + body


def ipv6_fragment(next_header: int, offset_bytes: int, more: bool, ident: int) -> bytes:
    """An IPv6 fragment header (offset in bytes, a multiple of 8)."""
    return struct.pack("!BBHI", next_header, 0, (offset_bytes & 0xFFF8) | int(more), ident)


def tcp(
    payload: bytes = b"",
    *,
    sport: int = 1234,
    dport: int = 80,
    seq: int = 1,
    ack: int = 0,
    flags: int = 0x002,
    window: int = 65535,
    options: bytes = b"",
    data_offset: int | None = None,
) -> bytes:
    """A TCP header (``flags``: 9 bits, NS highest) before ``payload``."""
    data_offset = (20 + len(options)) // 4 if data_offset is None else data_offset
    offset_byte = (data_offset & 0x0F) << 4 | (flags >> 8 & 1)
    return (
        struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset_byte, flags & 0xFF, window, 0, 0)
        + options
        + payload
    )


def udp(payload: bytes = b"", *, sport: int = 5353, dport: int = 53, length: int | None = None) -> bytes:
    """A UDP header before ``payload``."""
    length = 8 + len(payload) if length is None else length
    return struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0) + payload


def icmp(type_: int, code: int, rest: bytes = bytes(4)) -> bytes:
    """An ICMP or ICMPv6 message: type, code, checksum, then ``rest``."""
    return struct.pack("!BBH", type_, code, 0) + rest


# --- capture-file writers ---------------------------------------------------------------


def pcap_bytes(
    records,
    linktype: int,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    snaplen: int = 262144,
    link_flags: int = 0,
) -> bytes:
    """A classic pcap file of ``(seconds, fraction, wirelen, data)`` records.

    ``fraction`` is written as given (µs or ns by ``nanosecond``, not checked), and
    ``link_flags`` goes into the upper 16 bits of the link-type field (FCS bits).
    """
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link_flags << 16 | linktype)]
    for seconds, fraction, wirelen, data in records:
        out.append(struct.pack(order + "IIII", seconds, fraction, len(data), wirelen) + data)
    return b"".join(out)


def pcapng_bytes(records, linktypes: list[int]) -> bytes:
    """A little-endian pcapng file: one interface per link type (snaplen 0: none), then
    one Enhanced Packet Block per ``(iface, ts_ns, wirelen, data)`` record (ns clock)."""

    def block(block_type: int, body: bytes) -> bytes:
        length = 12 + len(body)
        return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype in linktypes:
        # if_tsresol = 9: nanoseconds; then opt_endofopt
        options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
        out.append(block(0x00000001, struct.pack("<HHI", linktype, 0, 0) + options))
    for iface, ts_ns, wirelen, data in records:
        padded = data + bytes(-len(data) % 4)
        body = struct.pack("<IIIII", iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), wirelen) + padded
        out.append(block(0x00000006, body))
    return b"".join(out)


# --- strategies -------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def small_bytes(max_size: int = 24) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=max_size)


def sometimes(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws: for the damage that should stay rare
    enough that the layers after it get exercised too."""
    return draw(st.integers(0, one_in - 1)) == 0


@st.composite
def tcp_options(draw) -> bytes:
    """A TCP option list: well-formed options, padding, EOL, and some with bad lengths."""
    option = st.one_of(
        st.just(b"\x00"),  # EOL
        st.just(b"\x01"),  # NOP
        st.builds(lambda v: struct.pack("!BBH", 2, 4, v), u16),  # MSS
        st.builds(lambda v: struct.pack("!BBB", 3, 3, v), u8),  # window scale
        st.just(b"\x04\x02"),  # SACK permitted
        st.builds(
            lambda n, b: struct.pack("!BB", 5, 2 + 8 * n) + b * n,
            st.integers(1, 3),
            st.binary(min_size=8, max_size=8),
        ),  # SACK blocks
        st.builds(lambda a, b: struct.pack("!BBII", 8, 10, a, b), u32, u32),  # timestamps
        st.builds(
            lambda sub, body: struct.pack("!BBB", 30, 3 + len(body), sub) + body, u8, st.binary(max_size=17)
        ),  # MPTCP
        st.builds(
            lambda kind, body: struct.pack("!BB", kind, 2 + len(body)) + body,
            st.integers(5, 254),
            st.binary(max_size=8),
        ),  # any other option
        # malformed: a known kind with a wrong length, a length below 2 or past the end
        st.builds(
            lambda kind, length, body: struct.pack("!BB", kind, length) + body,
            st.sampled_from([2, 3, 4, 8, 30, 99]),
            u8,
            st.binary(max_size=10),
        ),
    )
    raw = b"".join(draw(st.lists(option, max_size=8)))[:40]
    pad = draw(st.sampled_from([b"\x00", b"\x01"]))
    return raw + pad * (-len(raw) % 4)


@st.composite
def tcp_segments(draw) -> bytes:
    """A TCP header with options and payload; sometimes a wrong data offset."""
    payload = draw(small_bytes())
    options = draw(tcp_options())
    data_offset = draw(st.integers(0, 15)) if sometimes(draw, 8) else None
    return tcp(
        payload,
        sport=draw(u16),
        dport=draw(u16),
        seq=draw(u32),
        ack=draw(u32),
        flags=draw(st.integers(0, 0x1FF)),
        window=draw(u16),
        options=options,
        data_offset=data_offset,
    )


@st.composite
def udp_datagrams(draw) -> bytes:
    payload = draw(small_bytes())
    length = draw(st.one_of(u16, st.integers(0, 8 + len(payload) + 4))) if sometimes(draw, 6) else None
    return udp(payload, sport=draw(u16), dport=draw(u16), length=length)


@st.composite
def icmp_messages(draw) -> bytes:
    return icmp(draw(u8), draw(u8), draw(st.binary(max_size=12)))


@st.composite
def l4_payloads(draw, version: int) -> tuple[int, bytes]:
    """``(ip protocol, bytes)`` of what IP carries."""
    icmp_proto = 1 if version == 4 else 58
    kind = draw(st.sampled_from(["tcp", "tcp", "udp", "udp", "icmp", "icmp-other-version", "other"]))
    if kind == "tcp":
        return 6, draw(tcp_segments())
    if kind == "udp":
        return 17, draw(udp_datagrams())
    if kind == "icmp":
        return icmp_proto, draw(icmp_messages())
    if kind == "icmp-other-version":  # ICMPv6 in IPv4 and ICMP in IPv6 are not ICMP here
        return 59 - icmp_proto, draw(icmp_messages())
    return draw(st.sampled_from([47, 50, 41, 4, 132, 255, 59])), draw(small_bytes())


@st.composite
def ipv4_packets(draw) -> bytes:
    """An IPv4 datagram: options, fragments, and sometimes wrong lengths or version."""
    proto, payload = draw(l4_payloads(4))
    options = draw(st.binary(max_size=40))
    options += bytes(-len(options) % 4)
    fragment = draw(st.sampled_from(["none"] * 6 + ["first", "later"]))
    mf = fragment == "first" or (fragment == "later" and draw(st.booleans()))
    frag_offset = draw(st.integers(1, 0x1FFF)) if fragment == "later" else 0
    header_len = 20 + len(options)
    total_len = None  # right
    if sometimes(draw, 4):  # zero (offload), anything, or just past the header
        total_len = draw(st.one_of(st.just(0), u16, st.integers(header_len - 4, header_len + 12)))
    ihl = draw(st.integers(0, 15)) if sometimes(draw, 12) else None
    version = 6 if sometimes(draw, 20) else 4
    return ipv4(
        payload,
        proto,
        src=draw(st.binary(min_size=4, max_size=4)),
        dst=draw(st.binary(min_size=4, max_size=4)),
        ttl=draw(u8),
        ident=draw(u16),
        df=draw(st.booleans()),
        mf=mf,
        frag_offset=frag_offset,
        options=options,
        total_len=total_len,
        ihl=ihl,
        version=version,
    )


@st.composite
def ipv6_packets(draw) -> bytes:
    """An IPv6 packet with a chain of extension headers (fragment headers included)."""
    proto, payload = draw(l4_payloads(6))
    exts = draw(st.lists(st.sampled_from([0, 43, 60, 51, 44]), max_size=4))
    # Build from the inside out: each header names the one after it.
    next_header = proto
    body = payload
    for kind in reversed(exts):
        if kind == 44:
            offset = draw(st.sampled_from([0, 0, 8, 1480, 0xFFF8]))
            header = ipv6_fragment(next_header, offset, draw(st.booleans()), draw(u32))
        else:
            unit = 4 if kind == 51 else 8
            size = draw(st.integers(2 if kind == 51 else 1, 6)) * unit
            header = ipv6_ext(kind, next_header, draw(st.binary(min_size=size - 2, max_size=size - 2)))
            if sometimes(draw, 10):  # a length byte that lies
                header = header[:1] + bytes([draw(u8)]) + header[2:]
        body = header + body
        next_header = kind
    payload_len = None  # right
    if sometimes(draw, 4):  # zero (offload, jumbogram), anything, or just past the extension headers
        ext_len = len(body) - len(payload)
        payload_len = draw(st.one_of(st.just(0), u16, st.integers(max(0, ext_len - 4), ext_len + 12)))
    version = 4 if sometimes(draw, 20) else 6
    return ipv6(
        body,
        next_header,
        src=draw(st.binary(min_size=16, max_size=16)),
        dst=draw(st.binary(min_size=16, max_size=16)),
        hop_limit=draw(u8),
        payload_len=payload_len,
        version=version,
    )


@st.composite
def network_payloads(draw) -> tuple[int, bytes]:
    """``(ethertype, bytes)`` for what a link layer carries: IP mostly, else anything."""
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "ipv6", "other", "length"]))
    if kind == "ipv4":
        return 0x0800, draw(ipv4_packets())
    if kind == "ipv6":
        return 0x86DD, draw(ipv6_packets())
    if kind == "length":  # an 802.3 length field, LLC after it
        return draw(st.integers(0, 0x5FF)), draw(small_bytes())
    return draw(st.sampled_from([0x0806, 0x88CC, 0x8863, 0x0600, 0xFFFF])), draw(small_bytes())


VLAN_TPIDS = [0x8100, 0x88A8, 0x9100, 0x9200]


@st.composite
def tagged_payloads(draw) -> tuple[int, bytes]:
    """``(type, bytes after the type field)``: VLAN tags, VN-tag, MPLS, PPPoE, then the network layer.

    The bytes start with the first tag's body, as they would after an Ethernet or
    SLL type field.
    """
    ethertype, inner = draw(network_payloads())
    shim = draw(st.sampled_from(["none", "none", "mpls", "pppoe"]))
    if shim == "mpls":
        labels = draw(st.lists(st.integers(0, 0xFFFFF), min_size=1, max_size=4))
        if ethertype not in (0x0800, 0x86DD):
            inner = draw(st.binary(max_size=20))  # e.g. a pseudowire: the nibble decides
        inner = mpls(labels, inner)
        ethertype = draw(st.sampled_from([0x8847, 0x8848]))
    elif shim == "pppoe":
        protocol = {0x0800: 0x0021, 0x86DD: 0x0057}.get(ethertype, 0xC021)
        inner = pppoe(inner, draw(st.sampled_from([protocol, protocol, 0x0021, 0x0057, 0xC021])))
        ethertype = 0x8864
    out_type, out = ethertype, inner
    # Tags wrap from the inside out; a VN-tag may sit anywhere in the stack.
    for layer in reversed(draw(st.lists(st.sampled_from(VLAN_TPIDS + [0x8926]), max_size=3))):
        if layer == 0x8926:
            out = struct.pack("!IH", draw(u32), out_type) + out
        else:
            out = struct.pack("!HH", draw(u16), out_type) + out
        out_type = layer
    return out_type, out


LINKTYPES = [1] * 5 + [113, 276, 0, 101, 228, 229]  # Ethernet most


@st.composite
def packets(draw, linktype: int | None = None) -> tuple[int, bytes]:
    """``(linktype, frame bytes)`` of a whole, well-built (or slightly wrong) packet,
    of the given link type or any."""
    if linktype is None:
        # 105 (802.11) and 127 (radiotap) are link types the kit does not parse
        linktype = (
            draw(st.sampled_from([105, 127])) if sometimes(draw, 15) else draw(st.sampled_from(LINKTYPES))
        )
    if linktype in (1, 113, 276):
        type_, rest = draw(tagged_payloads())
        if linktype == 1:
            frame = draw(st.binary(min_size=12, max_size=12)) + struct.pack("!H", type_) + rest
            if len(frame) < 60 and draw(st.booleans()):
                frame += draw(st.sampled_from([bytes(60 - len(frame)), b"\xaa" * (60 - len(frame))]))
            return 1, frame
        if linktype == 113:
            return 113, sll(rest, type_, pkttype=draw(st.integers(0, 4)), hatype=draw(u16))
        return 276, sll2(rest, type_, ifindex=draw(u32), hatype=draw(u16))
    if linktype == 0:
        ethertype, inner = draw(network_payloads())
        family = {0x0800: 2, 0x86DD: draw(st.sampled_from([10, 24, 28, 30]))}.get(ethertype, draw(u32))
        return 0, null_header(family, draw(st.booleans())) + inner
    if linktype in (101, 228, 229):
        if sometimes(draw, 8):  # anything, or the other IP version than the link type says
            return linktype, draw(st.one_of(ipv4_packets(), ipv6_packets(), small_bytes()))
        if linktype == 101:
            return linktype, draw(st.one_of(ipv4_packets(), ipv6_packets()))
        return linktype, draw(ipv4_packets() if linktype == 228 else ipv6_packets())
    return linktype, draw(small_bytes(60))


@st.composite
def records(draw, packet_strategy=None) -> tuple[int, int, bytes]:
    """``(linktype, wirelen, captured bytes)``: a packet, maybe cut, maybe misreported, maybe flipped."""
    linktype, frame = draw(packet_strategy if packet_strategy is not None else packets())
    frame = bytearray(frame)
    for _ in range(draw(st.integers(1, 3)) if sometimes(draw, 3) else 0):
        if frame:
            k = draw(st.integers(0, len(frame) - 1))
            frame[k] ^= draw(st.integers(1, 255))
    full = len(frame)
    caplen = draw(st.integers(0, full)) if sometimes(draw, 4) else full
    wirelen = full
    if sometimes(draw, 3):  # the capture's word on the wire length: snaplen cut, offload, or a lie
        wirelen = draw(
            st.one_of(
                st.just(caplen),
                st.integers(caplen, full + 1500),
                st.integers(0, full + 100),
                st.integers(0, 0xFFFFFFFF),
            )
        )
    return linktype, wirelen, bytes(frame[:caplen])
