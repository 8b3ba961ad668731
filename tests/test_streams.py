"""TCP stream reassembly (kernels/l7/reassembly.py via sessions.streams.tcp_streams).

A plain-Python reference places every captured payload byte at its offset from
the stream's start and reads the contiguous prefix; hypothesis cuts random
streams into segments and delivers them reordered, duplicated, repacketised,
cut short by the snap length, with or without a SYN, across the 2**32
wrap-around, with gaps filled later or never, into buffers smaller than the
stream. The packet frames are built directly with the columns
``streams.PACKET_COLUMNS_NEEDED``.
"""

from __future__ import annotations

import itertools
import os

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernelkit.sessions.streams import PACKET_COLUMNS_NEEDED, tcp_streams

SYN, ACK, PSH = 0x02, 0x10, 0x08
HEADER = bytes(range(54))  # stands for Ethernet + IPv4 + TCP headers: never part of a stream
EXAMPLES = int(os.environ.get("KERNELKIT_HYPOTHESIS_EXAMPLES", "150"))


# -- frames ---------------------------------------------------------------------------


def packet_frame(rows: list[dict]) -> pl.DataFrame:
    """Packets in capture order from dicts with ``flow_id``, ``direction``, ``flags``, ``seq``,
    ``payload`` and optionally ``captured`` (payload bytes kept by the snap length)."""
    records = []
    for r in rows:
        payload = r["payload"]
        captured = r.get("captured", len(payload))
        data = HEADER + payload[:captured]
        records.append(
            {
                "flow_id": r["flow_id"],
                "direction": r["direction"],
                "ip_proto": 6,
                "tcp_flags": r["flags"],
                "tcp_seq": r["seq"] % 2**32,
                "payload_offset": len(HEADER),
                "payload_len": len(payload),
                "caplen": len(data),
                "data": data,
            }
        )
    schema = {
        "flow_id": pl.Int64,
        "direction": pl.UInt8,
        "ip_proto": pl.UInt8,
        "tcp_flags": pl.UInt16,
        "tcp_seq": pl.UInt32,
        "payload_offset": pl.UInt32,
        "payload_len": pl.UInt32,
        "caplen": pl.UInt32,
        "data": pl.Binary,
    }
    assert set(schema) == set(PACKET_COLUMNS_NEEDED)
    return pl.DataFrame(records, schema=schema, orient="row")


def stream_prefixes(frame: pl.DataFrame, **options) -> dict[tuple[int, int], tuple[bytes, int]]:
    """The kernel's prefix and dropped count per (flow_id, direction)."""
    streams = tcp_streams(frame, **options)
    return {
        (int(streams.flow_id[s]), int(streams.direction[s])): (streams.prefix(s), int(streams.dropped[s]))
        for s in range(len(streams))
    }


# -- the reference --------------------------------------------------------------------


def signed32(d: int) -> int:
    d %= 2**32
    return d - 2**32 if d >= 2**31 else d


def reference_prefix(packets: list[dict], capacity: int) -> bytes:
    """The contiguous prefix of one stream, up to ``capacity`` bytes.

    The stream starts right after the SYN's sequence number when a SYN comes
    before any data, else at the first data segment in capture order (without
    a handshake nothing tells where the stream began). Each captured payload
    byte goes to its offset in sequence space, modulo 2**32 (RFC 1982).
    """
    base = None
    have: dict[int, int] = {}
    for p in packets:
        data = p["payload"][: p.get("captured", len(p["payload"]))]
        if p["flags"] & SYN:
            if base is None:
                base = (p["seq"] + 1) % 2**32
            seq = p["seq"] + 1  # a SYN's data (TCP Fast Open) starts right after it
        else:
            seq = p["seq"]
        if not data:
            continue
        if base is None:
            base = seq % 2**32
        offset = signed32(seq - base)
        for k, b in enumerate(data):
            if 0 <= offset + k < capacity:
                have[offset + k] = b
    n = 0
    while n in have:
        n += 1
    return bytes(have[i] for i in range(n))


# -- fixed cases ---------------------------------------------------------------------------


def _one_stream(segments, syn_seq=None, capacity=16384, **options):
    rows = []
    if syn_seq is not None:
        rows.append({"flow_id": 1, "direction": 0, "flags": SYN, "seq": syn_seq, "payload": b""})
    rows += [{"flow_id": 1, "direction": 0, "flags": ACK | PSH, "seq": s, "payload": p} for s, p in segments]
    return stream_prefixes(packet_frame(rows), capacity=capacity, **options)[(1, 0)][0]


def test_in_order_segments_are_joined():
    assert _one_stream([(101, b"hello "), (107, b"world")], syn_seq=100) == b"hello world"


def test_a_gap_stops_the_prefix_until_filled():
    assert _one_stream([(101, b"abc"), (107, b"ghi")], syn_seq=100) == b"abc"
    assert _one_stream([(101, b"abc"), (107, b"ghi"), (104, b"def")], syn_seq=100) == b"abcdefghi"


def test_sequence_numbers_wrap_around():
    isn = 2**32 - 3  # the first payload byte is at 2**32 - 2: the stream crosses zero
    assert _one_stream([(2**32 - 2, b"ab"), (0, b"cd"), (2, b"ef")], syn_seq=isn) == b"abcdef"


def test_data_before_the_stream_start_is_ignored():
    # a retransmission of bytes before the SYN's seq + 1 overlaps the start: only its tail counts
    assert _one_stream([(98, b"xyzab"), (103, b"c")], syn_seq=100) == b"abc"


def test_capacity_bounds_the_prefix():
    assert _one_stream([(101, b"0123456789")], syn_seq=100, capacity=4) == b"0123"


def test_without_syn_the_first_segment_starts_the_stream():
    assert _one_stream([(500, b"mid"), (503, b"dle")]) == b"middle"


def test_retransmission_with_other_boundaries():
    assert _one_stream([(101, b"ab"), (105, b"ef"), (101, b"abcd")], syn_seq=100) == b"abcdef"


def test_capture_cut_by_snap_length_leaves_a_gap():
    rows = [
        {"flow_id": 1, "direction": 0, "flags": SYN, "seq": 0, "payload": b""},
        {"flow_id": 1, "direction": 0, "flags": ACK, "seq": 1, "payload": b"abcdef", "captured": 3},
        {"flow_id": 1, "direction": 0, "flags": ACK, "seq": 7, "payload": b"ghi"},
    ]
    assert stream_prefixes(packet_frame(rows))[(1, 0)][0] == b"abc"


def test_directions_and_flows_are_separate_streams():
    rows = [
        {"flow_id": 1, "direction": 0, "flags": SYN, "seq": 10, "payload": b""},
        {"flow_id": 1, "direction": 1, "flags": SYN | ACK, "seq": 90, "payload": b""},
        {"flow_id": 2, "direction": 0, "flags": ACK, "seq": 5, "payload": b"other"},
        {"flow_id": 1, "direction": 1, "flags": ACK, "seq": 91, "payload": b"server"},
        {"flow_id": 1, "direction": 0, "flags": ACK, "seq": 11, "payload": b"client"},
    ]
    got = stream_prefixes(packet_frame(rows))
    assert {k: v[0] for k, v in got.items()} == {(1, 0): b"client", (1, 1): b"server", (2, 0): b"other"}


def test_held_ranges_full_counts_a_drop_and_keeps_a_true_prefix():
    # three out-of-order segments beyond a gap, room for one: the others are counted as dropped
    segments = [(105, b"e"), (107, b"g"), (109, b"ijklmnop"), (101, b"abcd")]
    rows = [{"flow_id": 1, "direction": 0, "flags": SYN, "seq": 100, "payload": b""}]
    rows += [{"flow_id": 1, "direction": 0, "flags": ACK, "seq": s, "payload": p} for s, p in segments]
    prefix, dropped = stream_prefixes(packet_frame(rows), held_ranges=1)[(1, 0)]
    assert dropped == 2
    assert prefix == b"abcde"


def test_syn_payload_starts_the_stream():
    rows = [
        {"flow_id": 1, "direction": 0, "flags": SYN, "seq": 100, "payload": b"\x16\x03\x01"},
        {"flow_id": 1, "direction": 0, "flags": ACK, "seq": 104, "payload": b"more"},
    ]
    assert stream_prefixes(packet_frame(rows))[(1, 0)][0] == b"\x16\x03\x01more"


# -- property --------------------------------------------------------------------------------


@st.composite
def stream_deliveries(draw, flow_id: int, direction: int):
    """One stream's packets: a random byte string cut, reordered, duplicated, partly lost."""
    data = draw(st.binary(min_size=0, max_size=600))
    # half the streams cross 2**32 somewhere in their bytes
    isn = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(1, len(data) + 2).map(lambda k: 2**32 - k)))
    syn = draw(st.booleans())
    cuts = sorted(draw(st.sets(st.integers(1, max(len(data) - 1, 1)), max_size=12)))
    bounds = [0, *[c for c in cuts if 0 < c < len(data)], len(data)]
    pieces = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    deliveries = []
    for a, b in pieces:
        if draw(st.integers(0, 9)) == 0:
            continue  # lost for good: a gap never filled
        deliveries += [(a, b)] * draw(st.integers(1, 3))  # retransmissions, same content
    # repacketised retransmissions: other boundaries over the same bytes
    for _ in range(draw(st.integers(0, 3))):
        if data:
            a = draw(st.integers(0, len(data) - 1))
            deliveries.append((a, draw(st.integers(a + 1, len(data)))))
    deliveries = draw(st.permutations(deliveries))
    packets = []
    if syn:
        packets.append(
            {
                "flow_id": flow_id,
                "direction": direction,
                "flags": SYN | (ACK if direction else 0),
                "seq": isn,
                "payload": b"",
            }
        )
    for a, b in deliveries:
        payload = data[a:b]
        captured = len(payload) if draw(st.integers(0, 7)) else draw(st.integers(0, len(payload)))
        packets.append(
            {
                "flow_id": flow_id,
                "direction": direction,
                "flags": ACK | PSH,
                "seq": (isn + 1 + a) % 2**32,
                "payload": payload,
                "captured": captured,
            }
        )
    if syn and draw(st.integers(0, 4)) == 0:
        packets.append(dict(packets[0]))  # a retransmitted SYN after the data: it must not move the start
    return packets


@st.composite
def traces(draw):
    """Several streams, their packets interleaved at random (each stream's own order kept)."""
    keys = draw(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1)), min_size=1, max_size=4, unique=True)
    )
    per_stream = [draw(stream_deliveries(f, d)) for f, d in keys]
    order = draw(st.permutations([k for k, packets in enumerate(per_stream) for _ in packets]))
    cursors = [0] * len(per_stream)
    rows = []
    for k in order:
        rows.append(per_stream[k][cursors[k]])
        cursors[k] += 1
    return keys, per_stream, rows


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces(), st.integers(1, 700), st.integers(1, 4))
def test_prefix_equals_the_reference(trace, capacity, small_held):
    keys, per_stream, rows = trace
    frame = packet_frame(rows)
    # Room for every out-of-order range: nothing is dropped and the prefix is exact.
    got = stream_prefixes(frame, capacity=capacity, held_ranges=len(rows) + 1)
    for key, packets in zip(keys, per_stream):
        expected = reference_prefix(packets, capacity)
        if not any(p["payload"] or p["flags"] & SYN for p in packets):
            assert key not in got
            continue
        prefix, dropped = got[key]
        assert dropped == 0
        assert prefix == expected, key
    # Little room: ranges beyond it are dropped and counted, and what is kept is still a true prefix.
    small = stream_prefixes(frame, capacity=capacity, held_ranges=small_held)
    for key, packets in zip(keys, per_stream):
        if key not in small:
            continue
        prefix, dropped = small[key]
        expected = reference_prefix(packets, capacity)
        assert expected.startswith(prefix), key
        if dropped == 0:
            assert prefix == expected, key
