"""Packet status codes: the first anomaly the parser met in a packet.

A packet with a non-zero status is still a row: every field parsed before the
anomaly is kept. ``caplen < wirelen`` alone (a snaplen cut in the payload) is not
an anomaly: the headers were whole.
"""

from __future__ import annotations

from .kernels import layout as L

STATUS_CODES: dict[int, tuple[str, str]] = {
    L.OK: ("ok", "every header the packet has was parsed"),
    L.UNKNOWN_LINKTYPE: ("unknown_linktype", "link type outside Ethernet, raw IP, Linux SLL/SLL2 and BSD loopback"),
    L.TRUNC_LINK: ("truncated_link", "the capture ends inside the link header, a VLAN tag, the MPLS stack or PPPoE, or right after an MPLS stack"),
    L.TRUNC_IP: ("truncated_ip", "the capture ends inside the IPv4 or IPv6 header"),
    L.BAD_IP_VERSION: ("bad_ip_version", "the IP version nibble differs from what the link layer announced"),
    L.BAD_IHL: ("bad_ihl", "IPv4 header length below 20 bytes"),
    L.BAD_IP_LEN: ("bad_ip_len", "IPv4 total length smaller than its own header"),
    L.IP_LEN_EXCEEDS_FRAME: ("ip_len_exceeds_frame", "the IP length runs past the end of the frame on the wire"),
    L.TRUNC_IPV6_EXT: ("truncated_ipv6_ext", "the capture ends inside an IPv6 extension header"),
    L.BAD_IPV6_EXT_LEN: ("bad_ipv6_ext_len", "an IPv6 extension header runs past the IP payload"),
    L.TRUNC_TCP: ("truncated_tcp", "the capture ends inside the TCP header or its options (the ports are kept when captured)"),
    L.BAD_TCP_OFFSET: ("bad_tcp_offset", "TCP data offset below 20 bytes, or the header runs past the IP payload"),
    L.BAD_TCP_OPTION: ("bad_tcp_option", "a TCP option with a bad length"),
    L.TRUNC_UDP: ("truncated_udp", "the capture ends inside the UDP header (the ports are kept when captured)"),
    L.BAD_UDP_LEN: ("bad_udp_len", "UDP length below 8, or past the IP payload"),
    L.TRUNC_ICMP: ("truncated_icmp", "the capture or the IP payload ends inside the ICMP header"),
    L.CAPLEN_EXCEEDS_WIRELEN: ("caplen_exceeds_wirelen", "the record says more bytes were captured than were on the wire"),
    L.UNKNOWN_INTERFACE: ("unknown_interface", "a pcapng packet names an interface that no description precedes"),
}


def status_name(code: int) -> str:
    """The name of a status code.

    Examples
    --------
    >>> from kernelkit.status import status_name
    >>> status_name(0), status_name(10)
    ('ok', 'truncated_tcp')
    """
    return STATUS_CODES.get(int(code), (f"unknown_status_{int(code)}", ""))[0]


def status_table():
    """All status codes as a Polars frame (``status``, ``name``, ``meaning``).

    Examples
    --------
    >>> from kernelkit.status import status_table
    >>> status_table().filter(status=1)["name"].item()
    'unknown_linktype'
    """
    import polars as pl

    return pl.DataFrame(
        {
            "status": [code for code in STATUS_CODES],
            "name": [name for name, _ in STATUS_CODES.values()],
            "meaning": [meaning for _, meaning in STATUS_CODES.values()],
        },
        schema={"status": pl.UInt16, "name": pl.String, "meaning": pl.String},
    )
