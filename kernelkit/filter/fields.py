"""The filter language's fields: what each name reads, on which table, with which type.

Every field lives on one *table*: ``packets`` (one row a packet, the outermost
headers), ``flows`` (one row a connection, :func:`kernelkit.flows`), or a session
table (``tls``, ``http``, ``dns``, ``quic``: one row a handshake, a transaction, a
message). Its *level* is ``packet``, ``flow`` or ``session`` accordingly.

A field reads one column, or several: ``ip.addr`` reads ``src_ip`` and ``dst_ip``
and matches when either side does (``==``, ``<``, ``in``, ``matches``, ...), while
``!=`` holds when every side differs, as in Wireshark since 3.6 (``ip.addr != x``
is ``ip.src != x and ip.dst != x``). A *guard* restricts a field to the packets
where it exists: ``tcp.port`` reads ``sport``/``dport`` of TCP packets only,
``ipv4.src`` reads ``src_ip`` of IPv4 packets only. A field that a row lacks (the
column is null, or the guard fails) makes every comparison on it false; ``not``
then makes it true, so ``not tcp.port == 80`` keeps UDP packets while
``tcp.port != 80`` does not — as in Wireshark.

Addresses are one space of 16 bytes, IPv4 as ``::ffff:a.b.c.d``: ``ip.*`` fields
hold both versions, so ``ip.addr != 10.0.0.0/8`` holds for IPv6 packets (Wireshark's
``ip.*`` are IPv4 only: write ``ipv4.addr`` for that).

``fields()`` lists them all as a frame.

Examples
--------
>>> from kernelkit.filter.fields import lookup
>>> lookup("tcp.port").sides
('sport', 'dport')
>>> lookup("tls.handshake.extensions_server_name").name
'tls.sni'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

PACKETS, FLOWS = "packets", "flows"
SESSION_TABLES = ("tls", "http", "dns", "quic")
TABLES = (PACKETS, FLOWS, *SESSION_TABLES)
LEVELS = {PACKETS: "packet", FLOWS: "flow", **{t: "session" for t in SESSION_TABLES}}

TYPES = ("int", "float", "bool", "address", "mac", "string", "protocol")
"""Field types. ``protocol`` fields are written bare: they say a header or session is there."""

NOT_NULL = object()
"""In a guard: the column must not be null."""


@dataclass(frozen=True)
class Field:
    """One field of the filter language.

    Parameters
    ----------
    name : str
        Canonical name, as :meth:`Filter.__str__ <kernelkit.filter.Filter.__str__>` prints it.
    table : str
        The table whose rows it describes: one of :data:`TABLES`.
    type : str
        One of :data:`TYPES`.
    sides : tuple of str
        The columns (or :data:`DERIVED` columns) holding its value; more than one
        means "either side".
    doc : str
        What it is, in one or two sentences.
    guard : tuple of (column, value)
        Conditions the row must meet for the field to exist (``value`` is
        :data:`NOT_NULL` for "not null"). For ``protocol`` fields, the guard is
        the whole test.
    bit : int, optional
        For flag fields: the bit of the first side that the field is.
    version : int, optional
        For address fields: the IP version the values must have (4 or 6).
    enum : mapping, optional
        Values accepted in place of others: names for numbers of an int field
        (``dns.rcode == "NXDOMAIN"``), numbers for names of a string field
        (``tls.version == 0x0304`` is ``tls.version == "TLS 1.3"``).
    aliases : tuple of str
        Other names for it: Wireshark's, Retina's.
    """

    name: str
    table: str
    type: str
    sides: tuple[str, ...]
    doc: str
    guard: tuple[tuple[str, object], ...] = ()
    bit: int | None = None
    version: int | None = None
    enum: Mapping[str, int] | Mapping[int, str] | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def level(self) -> str:
        """``packet``, ``flow`` or ``session``."""
        return LEVELS[self.table]

    @property
    def columns(self) -> frozenset[str]:
        """Every column the field reads (derived columns expanded), guard included."""
        names = set()
        for side in self.sides:
            names.update(DERIVED[side][0] if side in DERIVED else (side,))
        names.update(column for column, _ in self.guard)
        return frozenset(names)


# Columns computed from others: name -> (columns read, expression from a column getter).
DERIVED: dict[str, tuple[tuple[str, ...], Callable[[Callable[[str], pl.Expr]], pl.Expr]]] = {
    "tcp_hdr_len": (("payload_offset", "l4_offset"),
                    lambda c: c("payload_offset").cast(pl.Int64) - c("l4_offset").cast(pl.Int64)),
    "udp_length": (("payload_len",), lambda c: c("payload_len").cast(pl.Int64) + 8),
    "ipv6_plen": (("ip_len",), lambda c: c("ip_len").cast(pl.Int64) - 40),
    "conn_pkts": (("orig_pkts", "resp_pkts"), lambda c: c("orig_pkts") + c("resp_pkts")),
    "conn_bytes": (("orig_bytes", "resp_bytes"), lambda c: c("orig_bytes") + c("resp_bytes")),
}

FLOW_VIEWS: tuple[tuple[str, dict[str, object]], ...] = (
    ("orig_pkts", {"src_ip": "orig_ip", "dst_ip": "resp_ip", "sport": "orig_port", "dport": "resp_port",
                   "ip_proto": "ip_proto", "ip_version": "ip_version", "l4_offset": 0}),
    ("resp_pkts", {"src_ip": "resp_ip", "dst_ip": "orig_ip", "sport": "resp_port", "dport": "orig_port",
                   "ip_proto": "ip_proto", "ip_version": "ip_version", "l4_offset": 0}),
)
"""How a flow row looks as a packet of each direction: the count of packets in that
direction, and the packet columns it knows (a number: a constant; every packet of a
flow has its transport header, so ``l4_offset`` is known not to be null). A packet
condition that reads only these columns is decided on the flow table exactly: the flow
has a packet that meets it."""

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58

# TCP flag bits of the schema's tcp_flags: NS CWR ECE URG ACK PSH RST SYN FIN.
TCP_FLAGS = {"fin": 0x001, "syn": 0x002, "rst": 0x004, "psh": 0x008, "ack": 0x010, "urg": 0x020,
             "ece": 0x040, "cwr": 0x080, "ns": 0x100}
_WIRESHARK_FLAG = {"rst": "reset", "psh": "push"}

TLS_VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
"""Version codes -> names as the TLS frame writes them (kernelkit.sessions.tls.version_name)."""
DNS_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
             "NAPTR": 35, "DS": 43, "RRSIG": 46, "DNSKEY": 48, "SVCB": 64, "HTTPS": 65, "ANY": 255}
DNS_RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}


def _registry() -> list[Field]:
    out: list[Field] = []

    def add(name, table, type_, sides, doc, **kw):
        out.append(Field(name, table, type_, tuple(sides), doc, **kw))

    P = PACKETS
    # -- protocols present in the packet (the outermost headers) -----------------
    add("eth", P, "protocol", (), "The packet has an Ethernet header.", guard=(("eth_src", NOT_NULL),))
    add("vlan", P, "protocol", (), "The packet has an 802.1Q/802.1ad tag.", guard=(("vlan_id", NOT_NULL),))
    add("ip", P, "protocol", (), "The packet has an IP header, IPv4 or IPv6 (Wireshark's `ip` is IPv4 only).",
        guard=(("ip_version", NOT_NULL),))
    add("ipv4", P, "protocol", (), "The packet's outermost IP header is IPv4.", guard=(("ip_version", 4),))
    add("ipv6", P, "protocol", (), "The packet's outermost IP header is IPv6.", guard=(("ip_version", 6),))
    for proto, number, what in (("tcp", TCP, "TCP"), ("udp", UDP, "UDP"), ("icmp", ICMP, "ICMP"),
                                ("icmpv6", ICMPV6, "ICMPv6")):
        add(proto, P, "protocol", (),
            f"A {what} header follows the outermost IP header (later fragments have none).",
            guard=(("ip_proto", number), ("l4_offset", NOT_NULL)))
    add("mptcp", P, "protocol", (), "The TCP header carries an MPTCP option.",
        guard=(("mptcp_subtype", NOT_NULL),))

    # -- frame and link layer ------------------------------------------------------
    add("frame.len", P, "int", ("wirelen",), "Bytes on the wire.")
    add("frame.cap_len", P, "int", ("caplen",), "Bytes captured.")
    add("frame.interface_id", P, "int", ("iface",), "pcapng interface id (0 for pcap).")
    add("kk.status", P, "int", ("status",),
        "kernelkit's parse status: 0 for a clean parse, else the first anomaly (kernelkit.status_table()).")
    add("eth.src", P, "mac", ("eth_src",), "Ethernet source MAC.")
    add("eth.dst", P, "mac", ("eth_dst",), "Ethernet destination MAC.")
    add("eth.addr", P, "mac", ("eth_src", "eth_dst"), "Either Ethernet MAC.")
    add("eth.type", P, "int", ("ethertype",),
        "Network-layer type after the VLAN tags (Wireshark's eth.type is the Ethernet header's own, "
        "0x8100 for a tagged frame).")
    add("vlan.id", P, "int", ("vlan_id",), "VLAN id of the outermost tag (Wireshark's vlan.id is any tag).")

    # -- IP: ip.* for both versions, ipv4.*/ipv6.* for one ----------------------------
    for prefix, version, what in (("ip", None, "IPv4 or IPv6"), ("ipv4", 4, "IPv4"), ("ipv6", 6, "IPv6")):
        guard = (("ip_version", version),) if version else ()
        add(f"{prefix}.src", P, "address", ("src_ip",), f"Source address ({what}).", guard=guard,
            version=version, aliases=(f"{prefix}.src_addr",) if version else ())  # Retina's names
        add(f"{prefix}.dst", P, "address", ("dst_ip",), f"Destination address ({what}).", guard=guard,
            version=version, aliases=(f"{prefix}.dst_addr",) if version else ())
        add(f"{prefix}.addr", P, "address", ("src_ip", "dst_ip"), f"Either address ({what}).", guard=guard,
            version=version)
        add(f"{prefix}.proto", P, "int", ("ip_proto",),
            f"Upper-layer protocol ({what}; for IPv6 after the extension headers).", guard=guard,
            aliases={4: ("ipv4.protocol",), 6: ("ipv6.next_header",)}.get(version, ()))
    add("ip.version", P, "int", ("ip_version",), "4 or 6.")
    add("ip.ttl", P, "int", ("ip_ttl",), "IPv4 TTL or IPv6 hop limit.")
    add("ipv4.ttl", P, "int", ("ip_ttl",), "IPv4 TTL.", guard=(("ip_version", 4),),
        aliases=("ipv4.time_to_live",))
    add("ipv6.hlim", P, "int", ("ip_ttl",), "IPv6 hop limit.", guard=(("ip_version", 6),),
        aliases=("ipv6.hop_limit", "ipv6.ttl"))
    add("ip.len", P, "int", ("ip_len",), "IPv4 total length, or 40 + IPv6 payload length.")
    add("ipv4.len", P, "int", ("ip_len",), "IPv4 total length.", guard=(("ip_version", 4),),
        aliases=("ipv4.total_length",))
    add("ipv6.plen", P, "int", ("ipv6_plen",), "IPv6 payload length.", guard=(("ip_version", 6),),
        aliases=("ipv6.payload_length",))
    add("ip.id", P, "int", ("ip_id",), "IPv4 identification, or the IPv6 fragment header's.")
    add("ipv4.id", P, "int", ("ip_id",), "IPv4 identification.", guard=(("ip_version", 4),),
        aliases=("ipv4.identification",))
    add("ip.frag_offset", P, "int", ("frag_offset",),
        "Fragment offset in bytes (Wireshark counts 8-byte units).")
    add("ip.flags.mf", P, "bool", ("more_fragments",), "The more-fragments flag.")

    # -- TCP, UDP, ICMP -------------------------------------------------------------
    tcp = (("ip_proto", TCP),)
    udp = (("ip_proto", UDP),)
    add("tcp.srcport", P, "int", ("sport",), "TCP source port.", guard=tcp, aliases=("tcp.src_port",))
    add("tcp.dstport", P, "int", ("dport",), "TCP destination port.", guard=tcp, aliases=("tcp.dst_port",))
    add("tcp.port", P, "int", ("sport", "dport"), "Either TCP port.", guard=tcp)
    add("tcp.flags", P, "int", ("tcp_flags",), "The 9 TCP flag bits (NS CWR ECE URG ACK PSH RST SYN FIN).")
    for flag, bit in TCP_FLAGS.items():
        names = {f"tcp.{flag}", f"tcp.flags.{_WIRESHARK_FLAG.get(flag, flag)}"} - {f"tcp.flags.{flag}"}
        add(f"tcp.flags.{flag}", P, "bool", ("tcp_flags",), f"The {flag.upper()} flag.", bit=bit,
            aliases=tuple(sorted(names)))
    add("tcp.seq_raw", P, "int", ("tcp_seq",), "Raw sequence number (Wireshark's tcp.seq is relative).",
        aliases=("tcp.seq_no",))
    add("tcp.ack_raw", P, "int", ("tcp_ack",), "Raw acknowledgement number.", aliases=("tcp.ack_no",))
    add("tcp.window_size_value", P, "int", ("tcp_win",), "Window field as sent (not scaled).",
        aliases=("tcp.window",))
    add("tcp.len", P, "int", ("payload_len",), "TCP payload length.", guard=tcp)
    add("tcp.hdr_len", P, "int", ("tcp_hdr_len",), "TCP header length with options.", guard=tcp)
    add("tcp.options.mss_val", P, "int", ("tcp_mss",), "MSS option.", aliases=("tcp.mss",))
    add("tcp.options.wscale.shift", P, "int", ("tcp_wscale",), "Window-scale shift count.",
        aliases=("tcp.wscale",))
    add("tcp.options.sack_perm", P, "bool", ("tcp_sack_perm",), "SACK-permitted option present.")
    add("tcp.options.timestamp.tsval", P, "int", ("tcp_tsval",), "Timestamps option TSval.")
    add("tcp.options.timestamp.tsecr", P, "int", ("tcp_tsecr",), "Timestamps option TSecr.")
    add("mptcp.subtype", P, "int", ("mptcp_subtype",), "Subtype of the first MPTCP option.",
        aliases=("tcp.options.mptcp.subtype",))
    add("udp.srcport", P, "int", ("sport",), "UDP source port.", guard=udp, aliases=("udp.src_port",))
    add("udp.dstport", P, "int", ("dport",), "UDP destination port.", guard=udp, aliases=("udp.dst_port",))
    add("udp.port", P, "int", ("sport", "dport"), "Either UDP port.", guard=udp)
    add("udp.length", P, "int", ("udp_length",), "UDP length field (header and payload).", guard=udp)
    add("icmp.type", P, "int", ("icmp_type",), "ICMP type.", guard=(("ip_proto", ICMP),))
    add("icmp.code", P, "int", ("icmp_code",), "ICMP code.", guard=(("ip_proto", ICMP),))
    add("icmpv6.type", P, "int", ("icmp_type",), "ICMPv6 type.", guard=(("ip_proto", ICMPV6),))
    add("icmpv6.code", P, "int", ("icmp_code",), "ICMPv6 code.", guard=(("ip_proto", ICMPV6),))

    # -- connections (the flow table) -------------------------------------------------
    F = FLOWS
    add("conn.id", F, "int", ("flow_id",), "The flow's id (packets carry it as flow_id).")
    add("conn.orig_ip", F, "address", ("orig_ip",), "Originator's address (the first packet's source).")
    add("conn.resp_ip", F, "address", ("resp_ip",), "Responder's address.")
    add("conn.orig_port", F, "int", ("orig_port",), "Originator's port.")
    add("conn.resp_port", F, "int", ("resp_port",), "Responder's port.")
    add("conn.proto", F, "int", ("ip_proto",), "IP protocol of the connection.")
    add("conn.state", F, "string", ("conn_state",), "Zeek's conn_state: S0, S1, SF, REJ, RSTO, OTH, ...")
    add("conn.history", F, "string", ("history",), "Zeek's history string (ShADadFf...).")
    add("conn.duration", F, "float", ("duration",), "Seconds from the first packet to the last.")
    add("conn.end_reason", F, "string", ("end_reason",),
        "Why the flow ended: fin, rst, idle, active_timeout, table_full, end_of_trace.")
    add("conn.handshake_rtt", F, "float", ("handshake_rtt",), "Seconds from SYN to the handshake's ACK.")
    for side in ("orig", "resp"):
        who = {"orig": "originator", "resp": "responder"}[side]
        add(f"conn.{side}_pkts", F, "int", (f"{side}_pkts",), f"Packets from the {who}.")
        add(f"conn.{side}_bytes", F, "int", (f"{side}_bytes",), f"Payload bytes from the {who}.")
        add(f"conn.{side}_ip_bytes", F, "int", (f"{side}_ip_bytes",), f"IP bytes from the {who}.")
    add("conn.pkts", F, "int", ("conn_pkts",), "Packets, both sides.")
    add("conn.bytes", F, "int", ("conn_bytes",), "Payload bytes, both sides.")
    add("conn.mptcp_connection", F, "int", ("mptcp_connection",), "MPTCP connection the subflow belongs to.")

    # -- sessions -------------------------------------------------------------------
    add("tls", "tls", "protocol", (), "A TLS handshake was identified on the connection.")
    add("tls.sni", "tls", "string", ("sni",), "Server name the client asked for (SNI).",
        aliases=("tls.handshake.extensions_server_name",))
    add("tls.alpn", "tls", "string", ("alpn_offered",),
        "Any ALPN protocol the client offered (as tshark's tls.handshake.extensions_alpn_str).",
        aliases=("tls.handshake.extensions_alpn_str",))
    add("tls.version", "tls", "string", ("tls_version",),
        'Negotiated version as text ("TLS 1.2"; the client\'s highest offered when no ServerHello was '
        "seen); a version code (0x0303) is accepted for its name.", enum=TLS_VERSION_NAMES)
    add("tls.handshake.version", "tls", "int", ("handshake_version",),
        "The ClientHello's legacy version field (0x0303 for TLS 1.2 and 1.3).")
    add("tls.ja3", "tls", "string", ("ja3",), "JA3 fingerprint of the ClientHello.",
        aliases=("tls.handshake.ja3",))
    add("tls.ja4", "tls", "string", ("ja4",), "JA4 fingerprint of the ClientHello.",
        aliases=("tls.handshake.ja4",))
    add("http", "http", "protocol", (), "An HTTP transaction was identified on the connection.")
    add("http.host", "http", "string", ("http_host",), "Host header of the request.")
    add("http.uri", "http", "string", ("http_uri",), "Request URI.", aliases=("http.request.uri",))
    add("http.method", "http", "string", ("http_method",), "Request method.",
        aliases=("http.request.method",))
    add("http.user_agent", "http", "string", ("http_user_agent",), "User-Agent header.")
    add("http.status", "http", "int", ("http_status",), "Response status code.",
        aliases=("http.response.code", "http.status_code"))
    add("dns", "dns", "protocol", (), "A DNS message was identified on the connection.")
    add("dns.qname", "dns", "string", ("dns_qname",), "Queried name.", aliases=("dns.qry.name",))
    add("dns.qtype", "dns", "int", ("dns_qtype",), 'Query type (1, or "A").', enum=DNS_TYPES,
        aliases=("dns.qry.type",))
    add("dns.rcode", "dns", "int", ("dns_rcode",), 'Response code (3, or "NXDOMAIN").', enum=DNS_RCODES,
        aliases=("dns.flags.rcode",))
    add("dns.answers", "dns", "string", ("dns_answers",), "Answer records' data (any of them).")
    add("quic", "quic", "protocol", (), "A QUIC connection was identified.")
    add("quic.sni", "quic", "string", ("sni",), "Server name of the QUIC Initial's ClientHello.")
    add("quic.alpn", "quic", "string", ("alpn_offered",), "Any ALPN protocol the QUIC client offered.")
    add("quic.version", "quic", "int", ("quic_version",), "QUIC version of the Initial (1 for QUIC v1).")
    add("quic.ja4", "quic", "string", ("ja4",), "JA4 fingerprint of the QUIC ClientHello.")
    return out


FIELDS: dict[str, Field] = {f.name: f for f in _registry()}
"""Every field by canonical name."""

ALIASES: dict[str, str] = {alias: f.name for f in FIELDS.values() for alias in f.aliases}
"""Other names (Wireshark's, Retina's) -> canonical name."""

assert not set(ALIASES) & set(FIELDS), "an alias shadows a field"


def lookup(name: str) -> Field | None:
    """The field called ``name`` (canonical or alias), or None.

    Examples
    --------
    >>> from kernelkit.filter.fields import lookup
    >>> lookup("tcp.syn").name, lookup("nope") is None
    ('tcp.flags.syn', True)
    """
    return FIELDS.get(ALIASES.get(name, name))


def suggestions(name: str, n: int = 3) -> list[str]:
    """Known names close to ``name`` (difflib), best first.

    Examples
    --------
    >>> from kernelkit.filter.fields import suggestions
    >>> suggestions("tcp.prot")[0]
    'tcp.port'
    """
    return difflib.get_close_matches(name, [*FIELDS, *ALIASES], n=n, cutoff=0.6)


def fields() -> pl.DataFrame:
    """Every field of the filter language, as a frame.

    Columns: ``name``, ``level`` (packet, flow, session), ``table`` (packets,
    flows, tls, http, dns, quic), ``type``, ``reads`` (the columns; several joined
    by ``|`` mean either side), ``guard`` (when the field exists), ``aliases`` and
    ``doc``.

    Examples
    --------
    >>> import kernelkit.filter
    >>> table = kernelkit.filter.fields()
    >>> table.filter(name="tcp.port").select("level", "reads", "guard").row(0)
    ('packet', 'sport | dport', 'ip_proto == 6')
    >>> table.filter(level="session")["table"].unique().sort().to_list()
    ['dns', 'http', 'quic', 'tls']
    """

    def guard_text(f: Field) -> str:
        return " and ".join(f"{c} is not null" if v is NOT_NULL else f"{c} == {v}" for c, v in f.guard)

    def reads(f: Field) -> str:
        if f.bit is not None:
            return f"{f.sides[0]} & 0x{f.bit:03x}"
        if f.type == "protocol" and f.level == "session":
            return f"a row of the {f.table} table"
        return " | ".join(f.sides)

    rows = [
        {"name": f.name, "level": f.level, "table": f.table, "type": f.type, "reads": reads(f),
         "guard": guard_text(f), "aliases": list(f.aliases), "doc": f.doc}
        for f in FIELDS.values()
    ]
    return pl.DataFrame(rows, schema={"name": pl.String, "level": pl.String, "table": pl.String,
                                      "type": pl.String, "reads": pl.String, "guard": pl.String,
                                      "aliases": pl.List(pl.String), "doc": pl.String})
