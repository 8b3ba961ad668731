"""MPTCP: linking subflows to their MPTCP connection (RFC 6824 v0, RFC 8684 v1).

An MPTCP connection starts with a TCP connection whose handshake carries
MP_CAPABLE options with each host's 64-bit key; a host's token is the most
significant 32 bits of a hash of its key (SHA-1 in v0, SHA-256 in v1). Each
further subflow opens with an MP_JOIN SYN carrying the token of the host it
joins. So every flow whose MP_JOIN token matches a key seen in an MP_CAPABLE
handshake belongs to that handshake's connection.

Few packets carry these options, so this works in Python over their bytes,
with :mod:`hashlib` for the hashes.
"""

from __future__ import annotations

import hashlib
import struct

import polars as pl
import pyarrow as pa

MPTCP_OPTION = 30
MP_CAPABLE = 0
MP_JOIN = 1


def token_of(key: int, version: int) -> int:
    """The token of a 64-bit key: the top 32 bits of SHA-1 (v0) or SHA-256 (v1).

    Examples
    --------
    >>> hex(token_of(0x0102030405060708, 1))
    '0x66840dda'
    """
    digest = (hashlib.sha1 if version == 0 else hashlib.sha256)(key.to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:4], "big")


def _options(tcp_header: bytes):
    """Yield (kind, body) of each TCP option after the fixed header."""
    q = 20
    while q < len(tcp_header):
        kind = tcp_header[q]
        if kind == 0:
            return
        if kind == 1:
            q += 1
            continue
        if q + 2 > len(tcp_header):
            return
        length = tcp_header[q + 1]
        if length < 2 or q + length > len(tcp_header):
            return
        yield kind, tcp_header[q : q + length]
        q += length


def parse_mptcp(tcp_header: bytes) -> list[tuple]:
    """MP_CAPABLE and MP_JOIN facts in a TCP header (fixed part and options).

    Returns a list of ``("key", version, key)`` for each key an MP_CAPABLE carries
    (the sender's first, then the receiver's) and ``("join", token)`` for an
    MP_JOIN SYN.
    """
    facts = []
    for kind, body in _options(tcp_header):
        if kind != MPTCP_OPTION or len(body) < 3:
            continue
        subtype, version = body[2] >> 4, body[2] & 0x0F
        if subtype == MP_CAPABLE:
            for start in (4, 12):
                if len(body) >= start + 8:
                    facts.append(("key", version, struct.unpack_from("!Q", body, start)[0]))
        elif subtype == MP_JOIN and len(body) == 12:
            # MP_JOIN on a SYN: address id, then the receiver's token
            facts.append(("join", struct.unpack_from("!I", body, 4)[0]))
    return facts


def mptcp_facts(batch: pa.RecordBatch, flow_id) -> list[tuple[int, tuple]]:
    """(flow_id, fact) for the packets of a batch that carry MP_CAPABLE or MP_JOIN.

    ``batch`` must have the ``data`` column; ``flow_id`` gives each packet's flow.
    """
    frame = pl.from_arrow(batch).with_columns(flow_id=pl.Series(flow_id))
    rows = frame.filter(
        pl.col("mptcp_subtype").is_in([MP_CAPABLE, MP_JOIN]) & pl.col("payload_offset").is_not_null()
        & (pl.col("flow_id") >= 0)
    ).select("flow_id", "data", "l4_offset", "payload_offset")
    out = []
    for fid, data, l4, payload in rows.iter_rows():
        for fact in parse_mptcp(data[l4:payload]):
            out.append((fid, fact))
    return out


def link_subflows(facts: list[tuple[int, tuple]]) -> dict[int, int]:
    """Map each flow id to its MPTCP connection id (the flow id of its MP_CAPABLE subflow)."""
    connection_of_token: dict[int, int] = {}
    connection: dict[int, int] = {}
    for fid, fact in facts:
        if fact[0] == "key":
            _, version, key = fact
            connection.setdefault(fid, fid)
            connection_of_token.setdefault(token_of(key, version), fid)
    for fid, fact in facts:
        if fact[0] == "join" and fact[1] in connection_of_token:
            connection[fid] = connection_of_token[fact[1]]
    return connection
