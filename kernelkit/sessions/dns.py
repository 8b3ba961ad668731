"""DNS over UDP and TCP: messages, and transactions as Zeek's dns.log has them.

:func:`dns_messages` gives one row per DNS message, query or response.
:func:`dns_transactions` gives one row per transaction, as a user of Zeek's
dns.log expects: a query with its response, a query never answered, or a
response whose query was not seen. A response answers the earliest unanswered
query of the same flow with the same id, sent the other way (so a retransmitted
query that got one answer leaves one unanswered row, as in Zeek).

Messages are read from UDP datagrams and TCP streams with port 53 on either
side (``ports`` changes that). What kernelkit does not see:

* IP fragments are not reassembled: a message that spans fragments is read from
  the first one and has status ``message_cut`` (its answers may be missing);
* over TCP, only the first ``capacity`` bytes of each stream are read.

Notes
-----
Retina (SIGCOMM'22) subscribes to "DNS transactions" (id, questions, answers,
rcode); Zeek's dns.log has one row per query/response pair, with the response's
rcode, answers and the round-trip time, and ``QR`` true when a response was seen:
``is_response`` here.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import polars as pl

from ..kernels.l7 import dns as D
from .http import _texts, first_byte_times
from .source import session_packets
from .streams import _bytes_buffer, tcp_streams

DEFAULT_CAPACITY = 1 << 20
"""Bytes kept from the start of each DNS-over-TCP stream."""

QTYPE_NAMES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    39: "DNAME",
    41: "OPT",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    52: "TLSA",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    257: "CAA",
}
"""Names of the common query types (IANA DNS parameters)."""

RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
"""Names of the response codes of the header (RFC 1035, RFC 2136)."""

MESSAGE_SCHEMA = {
    "flow_id": pl.Int64,
    "transport": pl.String,
    "direction": pl.UInt8,
    "ts": pl.Datetime("ns", "UTC"),
    "dns_id": pl.Int64,
    "is_response": pl.Boolean,
    "opcode": pl.Int64,
    "dns_rcode": pl.Int64,
    "flags": pl.Int64,
    "dns_qname": pl.String,
    "dns_qtype": pl.Int64,
    "dns_qtype_name": pl.String,
    "dns_qclass": pl.Int64,
    "qdcount": pl.Int64,
    "ancount": pl.Int64,
    "nscount": pl.Int64,
    "arcount": pl.Int64,
    "dns_answers": pl.List(pl.String),
    "dns_answer_types": pl.List(pl.Int64),
    "length": pl.Int64,
    "status": pl.String,
}


def _address_text(raw: bytes) -> str:
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    address = ipaddress.IPv6Address(raw)
    # IPv4-mapped addresses in the mixed notation of RFC 5952 §5
    return f"::ffff:{address.ipv4_mapped}" if address.ipv4_mapped else str(address)


def _parse(buf: np.ndarray, source: np.ndarray, start: np.ndarray, avail: np.ndarray, declared: np.ndarray):
    """Run the parse kernel, again with larger buffers if the names did not fit."""
    n = len(start)
    fields = np.empty((n, D.N_FIELDS), np.int64)
    n_answers = int((avail // D.MIN_RECORD).sum()) + 1
    answers = np.empty((n_answers, D.N_ANSWER_FIELDS), np.int64)
    addresses = np.zeros((n_answers, 16), np.uint8)
    text = np.empty(int(avail.sum()) + 64 * n + 1, np.uint8)
    counters = np.zeros(D.N_COUNTERS, np.int64)
    D.parse_messages(buf, source, start, avail, declared, fields, answers, addresses, text, counters)
    if counters[D.C_TEXT_NEEDED] > len(text):
        text = np.empty(int(counters[D.C_TEXT_NEEDED]), np.uint8)
        D.parse_messages(buf, source, start, avail, declared, fields, answers, addresses, text, counters)
    return fields, answers[: counters[D.C_ANSWERS_NEEDED]], addresses, text


def _frame(fields, answers, addresses, text) -> pl.DataFrame:
    """Message rows (without flow, transport and time) from the kernel's tables."""
    n = len(fields)
    kinds = answers[:, D.A_TYPE]
    address_text = [
        _address_text(addresses[a, : answers[a, D.A_ADDRESS_LEN]].tobytes())
        if kinds[a] != D.TYPE_CNAME
        else None
        for a in range(len(answers))
    ]
    names = _texts(text, answers[:, D.A_TEXT_OFF], answers[:, D.A_TEXT_LEN])
    listed = (
        pl.DataFrame(
            {
                "message": answers[:, D.A_MESSAGE],
                "answer": pl.Series(address_text, dtype=pl.String).fill_null(names),
                "type": kinds,
            }
        )
        .group_by("message", maintain_order=True)
        .agg(dns_answers="answer", dns_answer_types="type")
    )
    flags = fields[:, D.F_FLAGS]
    header = fields[:, D.F_ID] >= 0
    status_names = pl.Series([D.STATUS_NAMES[s] for s in range(len(D.STATUS_NAMES))], dtype=pl.String)
    qtype = pl.Series(fields[:, D.F_QTYPE]).replace(-1, None)
    frame = pl.DataFrame(
        {
            "message": np.arange(n, dtype=np.int64),
            "dns_id": pl.Series(fields[:, D.F_ID]).replace(-1, None),
            "is_response": pl.Series(np.where(header, ((flags >> 15) & 1) == 1, False)).set(
                ~pl.Series(header), None
            ),
            "opcode": pl.Series(np.where(header, (flags >> 11) & 0xF, -1)).replace(-1, None),
            "dns_rcode": pl.Series(np.where(header, flags & 0xF, -1)).replace(-1, None),
            "flags": pl.Series(flags).replace(-1, None),
            "dns_qname": _texts(text, fields[:, D.F_QNAME_OFF], fields[:, D.F_QNAME_LEN]),
            "dns_qtype": qtype,
            "dns_qtype_name": qtype.replace_strict(QTYPE_NAMES, default=None, return_dtype=pl.String),
            "dns_qclass": pl.Series(fields[:, D.F_QCLASS]).replace(-1, None),
            "qdcount": pl.Series(fields[:, D.F_QDCOUNT]).replace(-1, None),
            "ancount": pl.Series(fields[:, D.F_ANCOUNT]).replace(-1, None),
            "nscount": pl.Series(fields[:, D.F_NSCOUNT]).replace(-1, None),
            "arcount": pl.Series(fields[:, D.F_ARCOUNT]).replace(-1, None),
            "length": pl.Series(fields[:, D.F_DECLARED]).replace(-1, None),
            "status": status_names.gather(fields[:, D.F_STATUS]),
        }
    )
    frame = frame.join(listed, on="message", how="left", maintain_order="left")
    return frame.with_columns(
        pl.col("dns_answers").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("dns_answer_types").fill_null(pl.lit([], pl.List(pl.Int64))),
    )


def _port_filter(ports) -> pl.Expr:
    ports = list(ports)
    return pl.col("sport").is_in(ports) | pl.col("dport").is_in(ports)


def _udp_messages(packets: pl.DataFrame, ports) -> pl.DataFrame:
    udp = packets.filter(
        (pl.col("ip_proto") == 17)
        & pl.col("flow_id").is_not_null()
        & pl.col("payload_offset").is_not_null()
        & pl.col("l4_offset").is_not_null()
        & _port_filter(ports)
    ).select(
        "flow_id",
        "direction",
        "ts",
        payload=pl.col("data").bin.slice(pl.col("payload_offset"), pl.col("payload_len")),
        # the length the UDP header claims: more than was captured in a first IP fragment
        declared=pl.col("data")
        .bin.slice(pl.col("l4_offset") + 4, 2)
        .bin.reinterpret(dtype=pl.UInt16, endianness="big")
        .cast(pl.Int64)
        - 8,
    )
    values, offsets = _bytes_buffer(udp["payload"])
    start = offsets[:-1].astype(np.int64)
    avail = np.diff(offsets).astype(np.int64)
    declared = udp["declared"].fill_null(-1).to_numpy().astype(np.int64)
    parsed = _frame(*_parse(values, np.arange(len(start), dtype=np.int64), start, avail, declared))
    return pl.concat(
        [udp.select("flow_id", "direction", "ts", transport=pl.lit("udp")), parsed], how="horizontal"
    )


def _tcp_messages(packets: pl.DataFrame, ports, capacity: int) -> pl.DataFrame:
    tcp = packets.filter((pl.col("ip_proto") == 6) & _port_filter(ports))
    streams = tcp_streams(tcp, capacity=capacity)
    offsets = streams.offsets.astype(np.int64)
    filled = streams.filled.astype(np.int64)
    size = int((filled // 2 + 1).sum())
    source, start, avail, declared = (np.empty(size, np.int64) for _ in range(4))
    counters = np.zeros(D.N_COUNTERS, np.int64)
    n = int(
        D.split_tcp(
            streams.buffer,
            offsets,
            filled,
            np.arange(len(streams), dtype=np.int64),
            source,
            start,
            avail,
            declared,
            counters,
        )
    )
    source, start, avail, declared = source[:n], start[:n], avail[:n], declared[:n]
    parsed = _frame(*_parse(streams.buffer, source, start, avail, declared))
    where = pl.DataFrame(
        {
            "flow_id": streams.flow_id[source].astype(np.int64),
            "direction": streams.direction[source],
            # a message starts where its length prefix does
            "ts": first_byte_times(tcp, streams, source, start - 2 - offsets[source]),
            "transport": pl.Series(["tcp"] * n, dtype=pl.String),
        }
    )
    return pl.concat([where, parsed], how="horizontal")


def _messages(packets: pl.DataFrame, ports, capacity: int) -> pl.DataFrame:
    parts = [_udp_messages(packets, ports), _tcp_messages(packets, ports, capacity)]
    frame = pl.concat([p.select(MESSAGE_SCHEMA.keys()).cast(MESSAGE_SCHEMA) for p in parts], how="vertical")
    return (
        frame.with_row_index("order").sort("ts", "order", nulls_last=True, maintain_order=True).drop("order")
    )


def dns_messages(source, *, ports=(53,), capacity: int = DEFAULT_CAPACITY) -> pl.DataFrame:
    """Every DNS message over UDP or TCP, one row each, query or response.

    Parameters
    ----------
    source
        A capture path (or paths, or a :class:`~kernelkit.Trace`), the result of
        ``kernelkit.track(..., data=True)``, or its packet frame.
    ports : sequence of int
        UDP and TCP ports that carry DNS (either side).
    capacity : int
        Bytes kept from the start of each TCP stream.

    Returns
    -------
    polars.DataFrame
        In order of time: ``flow_id``, ``transport`` ("udp", "tcp"), ``direction``,
        ``ts`` (capture time of the datagram, or of the TCP segment that carried
        the message's first byte), ``dns_id``, ``is_response`` (the QR bit),
        ``opcode``, ``dns_rcode``, ``flags`` (the 16 bits), ``dns_qname`` (the first
        question's name, dotted, as received; "" for the root), ``dns_qtype``,
        ``dns_qtype_name``, ``dns_qclass``, the four section counts, ``dns_answers``
        (the answer section's A and AAAA addresses as text and CNAME targets, in
        order), ``dns_answer_types``, ``length`` (what the message claims) and
        ``status`` (:data:`kernelkit.kernels.l7.dns.STATUS_NAMES`). Header fields
        are null when the message is shorter than its 12-byte header.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.dns import dns_messages
    >>> m = dns_messages(kernelkit.sample_path())
    >>> m.filter(dns_qname="cdn.kernelkit.test", is_response=True, dns_qtype=1)["dns_answers"][0].to_list()
    ['www.kernelkit.test', '127.0.0.1']
    """
    return _messages(session_packets(source), ports, capacity)


def dns_transactions(source, *, ports=(53,), capacity: int = DEFAULT_CAPACITY) -> pl.DataFrame:
    """DNS transactions, one row each, as in Zeek's dns.log: a query with its response.

    A row is a query and the response that answered it, a query without response,
    or a response whose query was not seen. A response answers the earliest
    unanswered query of the same flow with the same id sent the other way, and
    captured no later than it. Messages shorter than a DNS header are left out
    (see :func:`dns_messages`).

    Parameters
    ----------
    source
        A capture path (or paths, or a :class:`~kernelkit.Trace`), the result of
        ``kernelkit.track(..., data=True)``, or its packet frame.
    ports : sequence of int
        UDP and TCP ports that carry DNS (either side).
    capacity : int
        Bytes kept from the start of each TCP stream.

    Returns
    -------
    polars.DataFrame
        In order of time: ``flow_id``, ``transport``, ``dns_id``, ``dns_qname``,
        ``dns_qtype``, ``dns_qtype_name`` (of the query, or of the response's
        question when no query was seen), ``dns_rcode`` and ``dns_rcode_name`` (of
        the response; null when unanswered), ``dns_answers`` (the response's, see
        :func:`dns_messages`; null when unanswered), ``is_response`` (a response is
        in the row: Zeek's ``QR``), ``query_seen``, ``ts`` (the query's time, or
        the response's when no query was seen), ``response_ts``, ``rtt``
        (response_ts - ts when both were seen), ``query_status`` and
        ``response_status``.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.dns import dns_transactions
    >>> t = dns_transactions(kernelkit.sample_path())
    >>> t.filter(dns_qname="nope.kernelkit.test").select("transport", "dns_rcode_name", "is_response").row(0)
    ('udp', 'NXDOMAIN', True)
    """
    messages = _messages(session_packets(source), ports, capacity).filter(pl.col("dns_id").is_not_null())
    keyed = (
        messages.with_row_index("row")
        .with_columns(
            query_direction=pl.when(pl.col("is_response"))
            .then(1 - pl.col("direction").cast(pl.Int64))
            .otherwise(pl.col("direction").cast(pl.Int64))
        )
        .sort("flow_id", "dns_id", "query_direction", "ts", "is_response", "row", nulls_last=True)
        .with_columns(group=pl.struct("flow_id", "dns_id", "query_direction").rle_id().cast(pl.Int64))
    )
    partner = np.empty(keyed.height, np.int64)
    D.pair_queries(
        keyed["group"].to_numpy(),
        keyed["is_response"].cast(pl.UInt8).to_numpy(),
        partner,
        np.empty(keyed.height, np.int64),
    )
    keyed = keyed.with_columns(partner=pl.Series(partner).replace(-1, None)).with_row_index("sorted")
    queries = keyed.filter(~pl.col("is_response"))
    responses = keyed.filter(pl.col("is_response")).select(
        pl.col("sorted").alias("partner"),
        pl.col("dns_rcode").alias("r_rcode"),
        pl.col("dns_answers").alias("r_answers"),
        pl.col("ts").alias("r_ts"),
        pl.col("status").alias("r_status"),
    )
    answered = queries.join(responses, on="partner", how="left", maintain_order="left").select(
        "flow_id",
        "transport",
        "dns_id",
        "dns_qname",
        "dns_qtype",
        "dns_qtype_name",
        dns_rcode="r_rcode",
        dns_answers="r_answers",
        is_response=pl.col("partner").is_not_null(),
        query_seen=pl.lit(True),
        ts="ts",
        response_ts="r_ts",
        query_status="status",
        response_status="r_status",
    )
    alone = keyed.filter(pl.col("is_response") & pl.col("partner").is_null()).select(
        "flow_id",
        "transport",
        "dns_id",
        "dns_qname",
        "dns_qtype",
        "dns_qtype_name",
        "dns_rcode",
        "dns_answers",
        is_response=pl.lit(True),
        query_seen=pl.lit(False),
        ts="ts",
        response_ts="ts",
        query_status=pl.lit(None, pl.String),
        response_status="status",
    )
    rows = pl.concat([answered, alone], how="vertical")
    return (
        rows.with_columns(
            dns_rcode_name=pl.col("dns_rcode").replace_strict(
                RCODE_NAMES, default=None, return_dtype=pl.String
            ),
            rtt=pl.when(pl.col("query_seen")).then(pl.col("response_ts") - pl.col("ts")),
        )
        .select(
            "flow_id",
            "transport",
            "dns_id",
            "dns_qname",
            "dns_qtype",
            "dns_qtype_name",
            "dns_rcode",
            "dns_rcode_name",
            "dns_answers",
            "is_response",
            "query_seen",
            "ts",
            "response_ts",
            "rtt",
            "query_status",
            "response_status",
        )
        .sort("ts", "flow_id", nulls_last=True, maintain_order=True)
    )
