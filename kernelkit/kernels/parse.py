"""The L2–L4 parse kernel: one packet's headers into the packet columns.

``parse_packet`` reads the captured bytes of one packet and writes
row ``i`` of the column arrays described in :mod:`kernelkit.kernels.layout`. The
arrays must be zero-filled: only fields the packet has are written, and the
``LAYERS`` bit mask says which. Every read is preceded by a bounds check against
the captured end, so no input can make it read outside the packet.

The framing kernels (:mod:`kernelkit.kernels.framing`) call it once per record, in
the same pass that walks the file.
"""

import numpy as np

from .._jit import inline_jit, ngjit
from .bytes import be16, be32, be48, byte, le32
from .layout import (
    BAD_IHL,
    BAD_IP_LEN,
    BAD_IP_VERSION,
    BAD_IPV6_EXT_LEN,
    BAD_TCP_OFFSET,
    BAD_TCP_OPTION,
    BAD_UDP_LEN,
    CAPLEN,
    CAPLEN_EXCEEDS_WIRELEN,
    DPORT,
    ETH_DST,
    ETH_SRC,
    ETHERTYPE,
    FRAG_OFFSET,
    HAS_ETH,
    HAS_ETHERTYPE,
    HAS_ICMP,
    HAS_IP,
    HAS_IP_ID,
    HAS_L3,
    HAS_L4,
    HAS_LINKTYPE,
    HAS_MPTCP,
    HAS_MSS,
    HAS_PAYLOAD,
    HAS_PORTS,
    HAS_TCP,
    HAS_TCP_TS,
    HAS_VLAN,
    HAS_WSCALE,
    ICMP_CODE,
    ICMP_TYPE,
    IP_ID,
    IP_LEN,
    IP_LEN_EXCEEDS_FRAME,
    IP_PROTO,
    IP_TTL,
    IP_VERSION,
    L3_OFFSET,
    L4_OFFSET,
    LAYERS,
    LINKTYPE,
    MORE_FRAGMENTS,
    MPTCP_SUBTYPE,
    OK,
    PAYLOAD_LEN,
    PAYLOAD_OFFSET,
    SPORT,
    STATUS,
    TCP_ACK,
    TCP_FLAGS,
    TCP_MSS,
    TCP_SACK_PERM,
    TCP_SEQ,
    TCP_TSECR,
    TCP_TSVAL,
    TCP_WIN,
    TCP_WSCALE,
    TRUNC_ICMP,
    TRUNC_IP,
    TRUNC_IPV6_EXT,
    TRUNC_LINK,
    TRUNC_TCP,
    TRUNC_UDP,
    UNKNOWN_LINKTYPE,
    VLAN_ID,
    WIRELEN,
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_MPLS = 0x8847
ETH_MPLS_MULTICAST = 0x8848
ETH_PPPOE_SESSION = 0x8864
ETH_VNTAG = 0x8926

NO_ETHERTYPE = -1

# Link types (tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276


@inline_jit
def _is_vlan_tag(ethertype):
    # 802.1Q, 802.1ad, and the pre-standard QinQ types still seen in the wild.
    return ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100 or ethertype == 0x9200


@inline_jit
def _walk_tags(buf, off, end, ethertype, i, u16):
    """Walk VLAN tags, VN-tags, MPLS labels and PPPoE after a link header.

    Returns ``(offset of the network header, its ethertype, layer bits, status)``.
    The ethertype is that of the network protocol: after MPLS and PPPoE it is
    IPv4 or IPv6 when the payload says so, else the MPLS or PPPoE type itself.
    """
    layers = 0
    while True:
        if ethertype < 0x0600:
            # An 802.3 length after a tag: LLC follows, not a network protocol type.
            return off, NO_ETHERTYPE, layers, OK
        if _is_vlan_tag(ethertype):
            if off + 4 > end:
                return off, ethertype, layers, TRUNC_LINK
            if not (layers & HAS_VLAN):
                u16[VLAN_ID, i] = be16(buf, off) & 0x0FFF
                layers |= HAS_VLAN
            ethertype = be16(buf, off + 2)
            off += 4
        elif ethertype == ETH_VNTAG:
            if off + 6 > end:
                return off, ethertype, layers, TRUNC_LINK
            ethertype = be16(buf, off + 4)
            off += 6
        elif ethertype == ETH_MPLS or ethertype == ETH_MPLS_MULTICAST:
            bottom = False
            while not bottom:
                if off + 4 > end:
                    return off, ethertype, layers, TRUNC_LINK
                bottom = (byte(buf, off + 2) & 1) == 1
                off += 4
            # No type field after the stack: the IP version nibble tells, so a
            # capture that ends right after the stack is cut before the type.
            if off >= end:
                return off, ethertype, layers, TRUNC_LINK
            version = byte(buf, off) >> 4
            if version == 4:
                ethertype = ETH_IPV4
            elif version == 6:
                ethertype = ETH_IPV6
            return off, ethertype, layers, OK
        elif ethertype == ETH_PPPOE_SESSION:
            if off + 8 > end:
                return off, ethertype, layers, TRUNC_LINK
            ppp_protocol = be16(buf, off + 6)
            off += 8
            if ppp_protocol == 0x0021:
                ethertype = ETH_IPV4
            elif ppp_protocol == 0x0057:
                ethertype = ETH_IPV6
            return off, ethertype, layers, OK
        else:
            return off, ethertype, layers, OK


@inline_jit
def _null_family_ethertype(buf, off):
    """The ethertype for a BSD loopback header's address family.

    The family is in the capturing host's byte order, so either order is read.
    AF_INET6 differs between systems (Linux 10, BSDs 24, FreeBSD 28, Darwin 30).
    """
    family = le32(buf, off)
    if family > 0xFFFF:
        family = be32(buf, off)
    if family == 2:
        return ETH_IPV4
    if family == 10 or family == 24 or family == 28 or family == 30:
        return ETH_IPV6
    return NO_ETHERTYPE


@inline_jit
def _parse_link(buf, pos, end, linktype, i, u64, u16):
    """Returns ``(network offset, ethertype or NO_ETHERTYPE, layer bits, status)``."""
    off = pos
    layers = 0
    ethertype = NO_ETHERTYPE
    if linktype == LINKTYPE_ETHERNET:
        if off + 14 > end:
            return off, NO_ETHERTYPE, layers, TRUNC_LINK
        u64[ETH_DST, i] = be48(buf, off)
        u64[ETH_SRC, i] = be48(buf, off + 6)
        layers |= HAS_ETH
        ethertype = be16(buf, off + 12)
        off += 14
        if ethertype < 0x0600:
            # An 802.3 length field: LLC follows, not a network protocol type.
            return off, NO_ETHERTYPE, layers | HAS_L3, OK
    elif linktype == LINKTYPE_LINUX_SLL:
        if off + 16 > end:
            return off, NO_ETHERTYPE, layers, TRUNC_LINK
        ethertype = be16(buf, off + 14)
        off += 16
        if ethertype < 0x0600:
            return off, NO_ETHERTYPE, layers | HAS_L3, OK
    elif linktype == LINKTYPE_LINUX_SLL2:
        if off + 20 > end:
            return off, NO_ETHERTYPE, layers, TRUNC_LINK
        ethertype = be16(buf, off)
        off += 20
        if ethertype < 0x0600:
            return off, NO_ETHERTYPE, layers | HAS_L3, OK
    elif linktype == LINKTYPE_NULL:
        if off + 4 > end:
            return off, NO_ETHERTYPE, layers, TRUNC_LINK
        ethertype = _null_family_ethertype(buf, off)
        off += 4
        return off, ethertype, layers | HAS_L3, OK
    elif linktype == LINKTYPE_RAW:
        if off >= end:
            return off, NO_ETHERTYPE, layers | HAS_L3, TRUNC_IP
        version = byte(buf, off) >> 4
        if version == 4:
            ethertype = ETH_IPV4
        elif version == 6:
            ethertype = ETH_IPV6
        else:
            return off, NO_ETHERTYPE, layers | HAS_L3, BAD_IP_VERSION
        return off, ethertype, layers | HAS_L3, OK
    elif linktype == LINKTYPE_IPV4:
        return off, ETH_IPV4, layers | HAS_L3, OK
    elif linktype == LINKTYPE_IPV6:
        return off, ETH_IPV6, layers | HAS_L3, OK
    else:
        return off, NO_ETHERTYPE, layers, UNKNOWN_LINKTYPE
    off, ethertype, tag_layers, status = _walk_tags(buf, off, end, ethertype, i, u16)
    layers |= tag_layers
    if status == OK:
        layers |= HAS_L3
    return off, ethertype, layers, status


@inline_jit
def _write_ip(ips, side, i, buf, off, nbytes):
    """Copy an address into ``ips[side, i]``; IPv4 lands in ::ffff:0:0/96."""
    if nbytes == 4:
        ips[side, i, 10] = 0xFF
        ips[side, i, 11] = 0xFF
        for k in range(4):
            ips[side, i, np.uint64(12 + k)] = byte(buf, off + k)
    else:
        for k in range(16):
            ips[side, i, np.uint64(k)] = byte(buf, off + k)


@inline_jit
def _parse_tcp(buf, p, end, ip_end, i, u32, u16, u8):
    """Returns ``(layer bits, status)`` for the TCP header at ``p``."""
    if p + 20 > ip_end:
        return 0, BAD_TCP_OFFSET
    if p + 4 <= end:
        # The ports come first: a snaplen that cuts the header (IPv6 with a 68-byte
        # snaplen) still leaves them, and flows need them.
        u16[SPORT, i] = be16(buf, p)
        u16[DPORT, i] = be16(buf, p + 2)
    if p + 20 > end:
        return (HAS_PORTS if p + 4 <= end else 0), TRUNC_TCP
    u32[TCP_SEQ, i] = be32(buf, p + 4)
    u32[TCP_ACK, i] = be32(buf, p + 8)
    data_offset = (byte(buf, p + 12) >> 4) * 4
    u16[TCP_FLAGS, i] = ((byte(buf, p + 12) & 1) << 8) | byte(buf, p + 13)
    u16[TCP_WIN, i] = be16(buf, p + 14)
    layers = HAS_PORTS | HAS_TCP
    if data_offset < 20 or p + data_offset > ip_end:
        return layers, BAD_TCP_OFFSET
    u32[PAYLOAD_OFFSET, i] = p + data_offset
    u32[PAYLOAD_LEN, i] = ip_end - (p + data_offset)
    layers |= HAS_PAYLOAD
    status = OK
    options_end = p + data_offset
    if options_end > end:
        options_end = end
        status = TRUNC_TCP
    q = p + 20
    while q < options_end:
        kind = byte(buf, q)
        if kind == 0:
            break
        if kind == 1:
            q += 1
            continue
        if q + 2 > options_end:
            if status == OK:
                status = BAD_TCP_OPTION
            break
        length = byte(buf, q + 1)
        if length < 2 or q + length > p + data_offset:
            if status == OK:
                status = BAD_TCP_OPTION
            break
        if q + length > options_end:
            break  # cut by the capture: status already says so
        if kind == 2:
            if length == 4:
                u16[TCP_MSS, i] = be16(buf, q + 2)
                layers |= HAS_MSS
            elif status == OK:
                status = BAD_TCP_OPTION
        elif kind == 3:
            if length == 3:
                u8[TCP_WSCALE, i] = byte(buf, q + 2)
                layers |= HAS_WSCALE
            elif status == OK:
                status = BAD_TCP_OPTION
        elif kind == 4:
            if length == 2:
                u8[TCP_SACK_PERM, i] = 1
            elif status == OK:
                status = BAD_TCP_OPTION
        elif kind == 8:
            if length == 10:
                u32[TCP_TSVAL, i] = be32(buf, q + 2)
                u32[TCP_TSECR, i] = be32(buf, q + 6)
                layers |= HAS_TCP_TS
            elif status == OK:
                status = BAD_TCP_OPTION
        elif kind == 30:
            if length >= 3:
                if not (layers & HAS_MPTCP):
                    u8[MPTCP_SUBTYPE, i] = byte(buf, q + 2) >> 4
                    layers |= HAS_MPTCP
            elif status == OK:
                status = BAD_TCP_OPTION
        q += length
    return layers, status


@inline_jit
def _parse_udp(buf, p, end, ip_end, datagram_complete, i, u32, u16):
    """Returns ``(layer bits, status)`` for the UDP header at ``p``.

    ``datagram_complete`` is false for a first fragment, whose UDP length covers
    fragments still to come.
    """
    if p + 8 > ip_end:
        return 0, BAD_UDP_LEN
    if p + 4 <= end:
        u16[SPORT, i] = be16(buf, p)
        u16[DPORT, i] = be16(buf, p + 2)
    if p + 8 > end:
        return (HAS_PORTS if p + 4 <= end else 0), TRUNC_UDP
    udp_len = be16(buf, p + 4)
    if datagram_complete and (udp_len < 8 or p + udp_len > ip_end):
        return HAS_PORTS, BAD_UDP_LEN  # no sound length: no payload columns
    u32[PAYLOAD_OFFSET, i] = p + 8
    # A first fragment's UDP length covers fragments still to come: count this one's share.
    u32[PAYLOAD_LEN, i] = udp_len - 8 if datagram_complete else ip_end - (p + 8)
    return HAS_PORTS | HAS_PAYLOAD, OK


@inline_jit
def _parse_icmp(buf, p, end, ip_end, i, u8):
    # The header must lie within the IP payload, not only within the capture.
    if p + 4 > ip_end or p + 4 > end:
        return 0, TRUNC_ICMP
    u8[ICMP_TYPE, i] = byte(buf, p)
    u8[ICMP_CODE, i] = byte(buf, p + 1)
    return HAS_ICMP, OK


@inline_jit
def _parse_l4(buf, p, end, ip_end, ip_version, ip_proto, datagram_complete, i, u32, u16, u8):
    if ip_proto == 6:
        return _parse_tcp(buf, p, end, ip_end, i, u32, u16, u8)
    if ip_proto == 17:
        return _parse_udp(buf, p, end, ip_end, datagram_complete, i, u32, u16)
    if (ip_proto == 1 and ip_version == 4) or (ip_proto == 58 and ip_version == 6):
        return _parse_icmp(buf, p, end, ip_end, i, u8)
    return 0, OK


@inline_jit
def _parse_ipv4(buf, off, end, frame_end, i, u32, u16, u8, ips):
    """Returns ``(layer bits, status)`` for the IPv4 header at ``off``.

    ``end`` is where the captured bytes end, ``frame_end`` where the frame ended
    on the wire.
    """
    if off + 20 > end:
        return 0, TRUNC_IP
    if byte(buf, off) >> 4 != 4:
        return 0, BAD_IP_VERSION
    header_len = (byte(buf, off) & 0x0F) * 4
    if header_len < 20:
        return 0, BAD_IHL
    total_len = be16(buf, off + 2)
    flags_fragment = be16(buf, off + 6)
    more_fragments = (flags_fragment >> 13) & 1
    fragment_offset = (flags_fragment & 0x1FFF) * 8
    ip_proto = byte(buf, off + 9)
    u8[IP_VERSION, i] = 4
    u32[IP_LEN, i] = total_len
    u32[IP_ID, i] = be16(buf, off + 4)
    u16[FRAG_OFFSET, i] = fragment_offset
    u8[MORE_FRAGMENTS, i] = more_fragments
    u8[IP_TTL, i] = byte(buf, off + 8)
    u8[IP_PROTO, i] = ip_proto
    _write_ip(ips, 0, i, buf, off + 12, 4)
    _write_ip(ips, 1, i, buf, off + 16, 4)
    layers = HAS_IP | HAS_IP_ID
    if off + header_len > end:
        return layers, TRUNC_IP  # the capture ends in the options; the fixed header is whole
    status = OK
    if total_len == 0:
        # Segmentation offload on the capturing host: the frame gives the length.
        ip_end = frame_end
    elif total_len < header_len:
        return layers, BAD_IP_LEN
    else:
        ip_end = off + total_len
        if ip_end > frame_end:
            status = IP_LEN_EXCEEDS_FRAME
            ip_end = frame_end
    if fragment_offset != 0:
        return layers, status
    p = off + header_len
    u32[L4_OFFSET, i] = p
    layers |= HAS_L4
    l4_layers, l4_status = _parse_l4(
        buf, p, end, ip_end, 4, ip_proto, more_fragments == 0, i, u32, u16, u8
    )
    if status == OK:
        status = l4_status
    return layers | l4_layers, status


@inline_jit
def _is_ipv6_extension(next_header):
    # hop-by-hop, routing, fragment, destination options, authentication header
    return (
        next_header == 0
        or next_header == 43
        or next_header == 44
        or next_header == 60
        or next_header == 51
    )


@inline_jit
def _parse_ipv6(buf, off, end, frame_end, i, u32, u16, u8, ips):
    """Returns ``(layer bits, status)`` for the IPv6 header at ``off``."""
    if off + 40 > end:
        return 0, TRUNC_IP
    if byte(buf, off) >> 4 != 6:
        return 0, BAD_IP_VERSION
    payload_len = be16(buf, off + 4)
    next_header = byte(buf, off + 6)
    u8[IP_VERSION, i] = 6
    u32[IP_LEN, i] = 40 + payload_len
    u8[IP_TTL, i] = byte(buf, off + 7)
    _write_ip(ips, 0, i, buf, off + 8, 16)
    _write_ip(ips, 1, i, buf, off + 24, 16)
    layers = HAS_IP
    status = OK
    if payload_len == 0:
        # A jumbogram or segmentation offload: the frame gives the length.
        ip_end = frame_end
    else:
        ip_end = off + 40 + payload_len
        if ip_end > frame_end:
            status = IP_LEN_EXCEEDS_FRAME
            ip_end = frame_end
    p = off + 40
    more_fragments = 0
    later_fragment = False
    while _is_ipv6_extension(next_header) and not later_fragment:
        if p + 8 > ip_end:
            u8[IP_PROTO, i] = next_header
            return layers, status if status != OK else BAD_IPV6_EXT_LEN
        if p + 8 > end:
            u8[IP_PROTO, i] = next_header
            return layers, status if status != OK else TRUNC_IPV6_EXT
        if next_header == 44:
            header_len = 8
            offset_flags = be16(buf, p + 2)
            fragment_offset = offset_flags & 0xFFF8
            more_fragments = offset_flags & 1
            u16[FRAG_OFFSET, i] = fragment_offset
            u8[MORE_FRAGMENTS, i] = more_fragments
            u32[IP_ID, i] = be32(buf, p + 4)
            layers |= HAS_IP_ID
            later_fragment = fragment_offset != 0
        elif next_header == 51:
            header_len = (byte(buf, p + 1) + 2) * 4
        else:
            header_len = (byte(buf, p + 1) + 1) * 8
        if p + header_len > ip_end:
            u8[IP_PROTO, i] = next_header
            return layers, status if status != OK else BAD_IPV6_EXT_LEN
        if p + header_len > end:
            u8[IP_PROTO, i] = next_header
            return layers, status if status != OK else TRUNC_IPV6_EXT
        next_header = byte(buf, p)
        p += header_len
    u8[IP_PROTO, i] = next_header
    if later_fragment:
        return layers, status
    u32[L4_OFFSET, i] = p
    layers |= HAS_L4
    l4_layers, l4_status = _parse_l4(
        buf, p, end, ip_end, 6, next_header, more_fragments == 0, i, u32, u16, u8
    )
    if status == OK:
        status = l4_status
    return layers | l4_layers, status


@ngjit
def parse_packet(pkt, wirelen, linktype, i, u64, u32, u16, u8, ips):
    """Parse one packet into row ``i`` of zero-filled column arrays.

    Parameters
    ----------
    pkt : uint8[:]
        The captured bytes of the packet (a view into the capture buffer).
    wirelen, linktype : int
        The packet's original length and its link type.
    i : int
        Row to write.
    u64, u32, u16, u8 : 2-D arrays
        Column groups, rows as in :mod:`kernelkit.kernels.layout`.
    ips : uint8[2, n, 16]
        Source and destination addresses.
    """
    caplen = len(pkt)
    u32[CAPLEN, i] = caplen
    u32[WIRELEN, i] = wirelen
    u16[LINKTYPE, i] = linktype
    # Lengths in IP headers are checked against the frame as it was on the wire.
    frame_end = max(wirelen, caplen)
    status = CAPLEN_EXCEEDS_WIRELEN if caplen > wirelen else OK

    off, ethertype, layers, link_status = _parse_link(pkt, 0, caplen, linktype, i, u64, u16)
    if status == OK:
        status = link_status
    if layers & HAS_L3:
        u32[L3_OFFSET, i] = off
    if ethertype != NO_ETHERTYPE:
        u16[ETHERTYPE, i] = ethertype
        layers |= HAS_ETHERTYPE
    if link_status == OK:
        ip_layers = 0
        ip_status = OK
        if ethertype == ETH_IPV4:
            ip_layers, ip_status = _parse_ipv4(pkt, off, caplen, frame_end, i, u32, u16, u8, ips)
        elif ethertype == ETH_IPV6:
            ip_layers, ip_status = _parse_ipv6(pkt, off, caplen, frame_end, i, u32, u16, u8, ips)
        layers |= ip_layers
        if status == OK:
            status = ip_status
    u32[LAYERS, i] = layers | HAS_LINKTYPE
    u16[STATUS, i] = status
