"""The shared flow table and per-core tables (``kernelkit.shared_table``) against a Python dict.

The reference is written from the documented semantics, not from the kernels: a
dict keyed by the direction-independent 5-tuple, side A the endpoint with the
smaller (address bytes, port). Runs under NUMBA_BOUNDSCHECK=1 (tests/conftest.py).

Exactness when the table fills: with one thread, or with RSS (every flow on one
thread), a flow that is placed got every one of its packets, since a thread that
finds no room never finds room later. With several threads spraying packets, a
thread out of records can fail a flow's packet that another thread, still
holding reserved records, places later: then only totals are conserved, and a
placed flow's counters are bounded by the reference's.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import kernelkit
from kernelkit.kernels.conntrack.atomics import (
    cas,
    cas2,
    fetch_add,
    fetch_add2,
    fetch_max,
    fetch_max2,
    fetch_min,
    fetch_min2,
    load,
    load2,
)
from kernelkit.schema import PACKET_SCHEMA
from kernelkit.shared_table import FLOW_KEY, FlowCounter, count_flows
from tests.flowgen import HOSTS, PORTS, T0, S, frame, packet, v4

CONFIGS = [
    ("shared", "rss", 1),
    ("shared", "rss", 2),
    ("shared", "spray", 1),
    ("shared", "spray", 2),
    ("sharded", "rss", 1),
    ("sharded", "rss", 2),
]

# --- atomics -------------------------------------------------------------------------------

_cas = numba.njit(lambda a, i, e, n: cas(a, i, e, n))
_cas2 = numba.njit(lambda a, i, j, e, n: cas2(a, i, j, e, n))
_add = numba.njit(lambda a, i, v: fetch_add(a, i, v))
_add2 = numba.njit(lambda a, i, j, v: fetch_add2(a, i, j, v))
_max = numba.njit(lambda a, i, v: fetch_max(a, i, v))
_max2 = numba.njit(lambda a, i, j, v: fetch_max2(a, i, j, v))
_min = numba.njit(lambda a, i, v: fetch_min(a, i, v))
_min2 = numba.njit(lambda a, i, j, v: fetch_min2(a, i, j, v))
_load = numba.njit(lambda a, i: load(a, i))
_load2 = numba.njit(lambda a, i, j: load2(a, i, j))


def test_cas_returns_the_old_value_and_swaps_only_on_a_match():
    a = np.array([0, 5], np.int64)
    assert _cas(a, 1, 5, 9) == 5  # success: the expected value comes back
    assert a.tolist() == [0, 9]
    assert _cas(a, 1, 5, 7) == 9  # failure: the value found, nothing written
    assert a.tolist() == [0, 9]
    assert _cas(a, 0, 0, -3) == 0 and a.tolist() == [-3, 9]
    b = np.zeros((2, 3), np.int64)
    assert _cas2(b, 1, 2, 0, 4) == 0 and _cas2(b, 1, 2, 0, 8) == 4
    assert b[1, 2] == 4 and b.sum() == 4


def test_atomics_outside_the_array_write_nothing():
    a = np.arange(4, dtype=np.int64)
    for i in (-1, 4, 1 << 40):
        assert _cas(a, i, 2, 99) != 2  # reads as a failed swap
        assert _add(a, i, 5) == 0 and _max(a, i, 99) == 0 and _min(a, i, -99) == 0 and _load(a, i) == 0
    assert a.tolist() == [0, 1, 2, 3]
    b = np.arange(6, dtype=np.int64).reshape(2, 3)
    for i, j in ((-1, 0), (0, -1), (2, 0), (0, 3)):
        assert _cas2(b, i, j, 0, 99) != 0
        assert _add2(b, i, j, 5) == 0 and _max2(b, i, j, 99) == 0 and _min2(b, i, j, -99) == 0
        assert _load2(b, i, j) == 0
    assert b.ravel().tolist() == list(range(6))


def test_fetch_add_max_min_and_load_return_the_value_before():
    a = np.array([10], np.int64)
    assert _add(a, 0, 5) == 10 and _load(a, 0) == 15
    assert _max(a, 0, 3) == 15 and a[0] == 15
    assert _max(a, 0, 20) == 15 and a[0] == 20
    assert _min(a, 0, 30) == 20 and a[0] == 20
    assert _min(a, 0, -(1 << 62)) == 20 and a[0] == -(1 << 62)  # signed
    b = np.zeros((2, 2), np.int64)
    assert _add2(b, 1, 0, 7) == 0 and _max2(b, 1, 0, 9) == 7 and _min2(b, 1, 0, 1) == 9
    assert _load2(b, 1, 0) == 1 and b.sum() == 1


@numba.njit(parallel=True)
def _contended(a, n):
    """Two threads hammer the same elements."""
    for t in numba.prange(2):
        for k in range(n):
            fetch_add(a, 0, 1)
            fetch_add2(a.reshape(1, -1), 0, 1, k)
            fetch_max(a, 2, t * n + k)
            fetch_min(a, 3, -(t * n + k))
            # a lock-free counter built from cas: retry until the swap lands
            while True:
                old = load(a, 4)
                if cas(a, 4, old, old + 1) == old:
                    break


def test_atomics_under_prange_with_two_threads_lose_no_update():
    n = 200_000
    a = np.zeros(5, np.int64)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        _contended(a, n)
    finally:
        numba.set_num_threads(previous)
    assert a[0] == 2 * n
    assert a[1] == 2 * (n * (n - 1) // 2)
    assert a[2] == 2 * n - 1 and a[3] == -(2 * n - 1)
    assert a[4] == 2 * n


# --- the reference -------------------------------------------------------------------------


def reference(packets: pl.DataFrame) -> tuple[dict, int]:
    """Per canonical key: [a_pkts, b_pkts, a_ip_bytes, b_ip_bytes, first_ts, last_ts] (ns); and packets
    without a flow.

    A packet has a flow when it is IP and its transport header is there: ports for TCP
    and UDP, the header after IP (``l4_offset``) for the others, which are keyed with ports 0.
    """
    flows: dict = {}
    no_flow = 0
    rows = packets.with_columns(pl.col("ts").dt.epoch("ns")).iter_rows(named=True)
    for row in rows:
        proto = row["ip_proto"]
        ported = proto in (6, 17)
        if row["ip_version"] is None or row["sport" if ported else "l4_offset"] is None:
            no_flow += 1
            continue
        src = (row["src_ip"], row["sport"] if ported else 0)
        dst = (row["dst_ip"], row["dport"] if ported else 0)
        side = 0 if src <= dst else 1
        key = (min(src, dst), max(src, dst), proto, row["ip_version"])
        f = flows.setdefault(key, [0, 0, 0, 0, row["ts"], row["ts"]])
        f[side] += 1
        f[2 + side] += row["ip_len"]
        f[4] = min(f[4], row["ts"])
        f[5] = max(f[5], row["ts"])
    return flows, no_flow


def as_dict(flows: pl.DataFrame) -> dict:
    out = {}
    rows = flows.with_columns(pl.col("first_ts", "last_ts").dt.epoch("ns")).iter_rows(named=True)
    for r in rows:
        key = ((r["a_ip"], r["a_port"]), (r["b_ip"], r["b_port"]), r["ip_proto"], r["ip_version"])
        assert key not in out, f"flow {key} placed twice"
        out[key] = [r["a_pkts"], r["b_pkts"], r["a_ip_bytes"], r["b_ip_bytes"], r["first_ts"], r["last_ts"]]
    return out


def check(packets: pl.DataFrame, table: str, mode: str, threads: int, capacity: int, batch_size: int):
    expected, no_flow = reference(packets)
    flows, stats = count_flows(packets, threads=threads, table=table, mode=mode, capacity=capacity,
                               batch_size=batch_size)
    got = as_dict(flows)
    with_flow = sum(f[0] + f[1] for f in expected.values())
    assert stats["packets"] == packets.height
    assert stats["packets_without_flow"] == no_flow
    assert stats["flows"] == stats["inserts"] == len(got)  # each flow inserted once, whoever raced
    # every packet with a flow is counted once: in a placed flow, or as a failed insert
    assert sum(f[0] + f[1] for f in got.values()) + stats["failed_inserts"] == with_flow
    assert set(got) <= set(expected)
    assert len(got) <= capacity + (threads - 1 if table == "sharded" else 0)  # shards round their share up
    if stats["failed_inserts"] == 0:
        assert got == expected
        return stats
    assert len(got) < len(expected)
    if threads == 1 or mode == "rss":
        for key, counters in got.items():
            assert counters == expected[key], key
    else:
        for key, (a, b, a_bytes, b_bytes, first, last) in got.items():
            ea, eb, ea_bytes, eb_bytes, efirst, elast = expected[key]
            assert a <= ea and b <= eb and a_bytes <= ea_bytes and b_bytes <= eb_bytes and a + b > 0
            assert efirst <= first <= last <= elast
    return stats


# --- generated traces ----------------------------------------------------------------------


@st.composite
def endpoints(draw):
    """A conversation's (version, protocol, host A, host B, port A, port B), IPv4 (mapped), IPv6, and
    IPv6 packets carrying IPv4-mapped addresses."""
    family = draw(st.sampled_from([4, 4, 6, "mapped-in-6"]))
    hosts = HOSTS[6] if family == 6 else HOSTS[4]
    version = 6 if family != 4 else 4
    icmp = 1 if version == 4 else 58
    proto = draw(st.sampled_from([6, 6, 17, 17, icmp, 47, 0]))
    a, b = draw(st.sampled_from(hosts)), draw(st.sampled_from(hosts))  # a == b: a host talking to itself
    return version, proto, a, b, draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS))


@st.composite
def traces(draw, max_flows: int = 10, max_packets: int = 60) -> pl.DataFrame:
    """Packets of a few reused 5-tuples in both directions, out of time order, with non-IP packets
    and later fragments among them."""
    conversations = draw(st.lists(endpoints(), min_size=1, max_size=max_flows))
    rows = []
    for _ in range(draw(st.integers(1, max_packets))):
        ts = T0 + draw(st.integers(0, 100 * S))  # any order: first and last are a min and a max
        what = draw(st.integers(0, 19))
        if what == 0:
            rows.append(packet(ts))  # not IP
            continue
        version, proto, a, b, pa_, pb = draw(st.sampled_from(conversations))
        forward = draw(st.booleans())
        src, dst, sport, dport = (a, b, pa_, pb) if forward else (b, a, pb, pa_)
        payload = draw(st.sampled_from([0, 1, 100, 1460]))
        if what == 1:
            rows.append(packet(ts, src, dst, proto, version=version, payload=payload, later_fragment=True))
        elif proto in (6, 17):
            rows.append(packet(ts, src, dst, proto, version=version, sport=sport, dport=dport, payload=payload))
        elif proto in (1, 58):
            # type and code are not part of the key: ICMP flows are keyed by addresses
            rows.append(packet(ts, src, dst, proto, version=version, payload=payload,
                               icmp=(draw(st.sampled_from([0, 3, 8, 128, 129])), 0)))
        else:
            rows.append(packet(ts, src, dst, proto, version=version, payload=payload))
    return frame(rows)


@pytest.mark.parametrize("table,mode,threads", CONFIGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=traces(), batch_size=st.sampled_from([1, 7, 1 << 18]))
def test_room_for_every_flow_gives_the_reference(table, mode, threads, packets, batch_size):
    stats = check(packets, table, mode, threads, capacity=64, batch_size=batch_size)
    assert stats["failed_inserts"] == 0


@pytest.mark.parametrize("table,mode,threads", CONFIGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=traces(max_flows=12, max_packets=80), capacity=st.integers(1, 8),
       batch_size=st.sampled_from([3, 1 << 18]))
def test_a_small_table_counts_failed_inserts_and_keeps_placed_flows_exact(table, mode, threads, packets,
                                                                           capacity, batch_size):
    stats = check(packets, table, mode, threads, capacity, batch_size)
    event("table filled" if stats["failed_inserts"] else "room for every flow")


def test_a_full_table_fails_the_flows_beyond_its_capacity():
    hosts = [v4(f"10.0.0.{k}") for k in range(1, 7)]
    rows = [packet(T0 + k * S, hosts[k % 6], hosts[(k + 1) % 6], 17, sport=1000, dport=53, payload=10)
            for k in range(24)]
    packets = frame(rows)
    for table, mode, threads in CONFIGS:
        stats = check(packets, table, mode, threads, capacity=2, batch_size=5)
        assert stats["failed_inserts"] > 0 and stats["flows"] >= 1


# --- many packets, two threads: races ------------------------------------------------------


def bulk_frame(n_flows: int, rounds: int, seed: int = 0) -> pl.DataFrame:
    """``rounds`` passes over the same ``n_flows`` UDP flows in the same order, each packet in a random
    direction, so that spraying threads meet each new flow at about the same moment."""
    rng = np.random.default_rng(seed)
    flow = np.tile(np.arange(n_flows), rounds)
    n = len(flow)
    forward = rng.integers(0, 2, n).astype(bool)
    hosts = np.zeros((n_flows, 2, 16), np.uint8)
    hosts[:, :, 10:12] = 0xFF
    hosts[:, 0, 12:] = [10, 0, 0, 1]
    hosts[:, 1, 12:14] = [10, 1]
    hosts[:, 1, 14] = np.arange(n_flows) >> 8
    hosts[:, 1, 15] = np.arange(n_flows) & 0xFF
    ports = np.stack([40000 + np.arange(n_flows) % 1000, np.full(n_flows, 53)], axis=1)
    side = np.where(forward, 0, 1)
    src = hosts[flow, side]
    dst = hosts[flow, 1 - side]
    ip_len = rng.integers(28, 1500, n)
    columns = {
        "ts": pa.array(T0 + rng.integers(0, 10 * S, n), pa.timestamp("ns", "UTC")),
        "caplen": pa.array(np.full(n, 60), pa.uint32()),
        "wirelen": pa.array(np.full(n, 60), pa.uint32()),
        "iface": pa.array(np.zeros(n), pa.uint32()),
        "ip_version": pa.array(np.full(n, 4), pa.uint8()),
        "src_ip": pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(src.tobytes())]),
        "dst_ip": pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(dst.tobytes())]),
        "ip_proto": pa.array(np.full(n, 17), pa.uint8()),
        "ip_len": pa.array(ip_len, pa.uint32()),
        "sport": pa.array(ports[flow, side], pa.uint16()),
        "dport": pa.array(ports[flow, 1 - side], pa.uint16()),
        "l4_offset": pa.array(np.full(n, 34), pa.uint32()),
        "status": pa.array(np.zeros(n), pa.uint16()),
    }
    table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in PACKET_SCHEMA},
                     schema=PACKET_SCHEMA)
    return pl.from_arrow(table)


def test_two_threads_racing_for_the_same_new_flows_count_each_exactly_once():
    # in one batch, spraying threads take one round each: the same new flows in the same order
    packets = bulk_frame(n_flows=20_000, rounds=2)
    expected, _ = reference(packets)
    lost = 0
    for table, mode, threads in CONFIGS + [("shared", "spray", 2)] * 10:
        flows, stats = count_flows(packets, threads=threads, table=table, mode=mode, capacity=1 << 15)
        assert stats["failed_inserts"] == 0 and stats["inserts"] == len(expected)
        assert as_dict(flows) == expected, (table, mode, threads)
        lost += stats["lost_races"]
    print(f"lost races: {lost}")  # timing-dependent (they need both threads on a core at once): not asserted


def test_a_shared_table_filled_by_racing_threads_conserves_packets():
    packets = bulk_frame(n_flows=5_000, rounds=3, seed=1)
    for table, mode, threads in CONFIGS:
        stats = check(packets, table, mode, threads, capacity=3_000, batch_size=1 << 12)
        assert stats["failed_inserts"] > 0


# --- the real sample -----------------------------------------------------------------------


def canonical_totals(flows: pl.DataFrame) -> dict:
    """The tracker's flows summed per canonical 5-tuple (it splits a 5-tuple by timeouts and port reuse;
    ICMP flows log type and code as ports, which are not part of the key)."""
    totals: dict = {}
    for r in flows.iter_rows(named=True):
        ported = r["ip_proto"] in (6, 17)
        orig = (r["orig_ip"], r["orig_port"] if ported else 0)
        resp = (r["resp_ip"], r["resp_port"] if ported else 0)
        # on a tie (a host to itself on one port) the tracker's originator is side A
        o, resp_side = (0, 1) if orig <= resp else (1, 0)
        key = (min(orig, resp), max(orig, resp), r["ip_proto"], r["ip_version"])
        t = totals.setdefault(key, [0, 0, 0, 0])
        t[o] += r["orig_pkts"]
        t[resp_side] += r["resp_pkts"]
        t[2 + o] += r["orig_ip_bytes"]
        t[2 + resp_side] += r["resp_ip_bytes"]
    return totals


def test_the_sample_capture_gives_the_full_trackers_totals_per_5_tuple():
    path = kernelkit.sample_path()
    packets = kernelkit.read_packets(path)
    tracked = kernelkit.track(path, packets=False)
    expected = canonical_totals(tracked.flows)
    no_flow = tracked.table_stats["packets_without_flow"].item()
    results = []
    for table, mode, threads in CONFIGS:
        flows, stats = count_flows(packets, threads=threads, table=table, mode=mode, capacity=1 << 12)
        got = {k: v[:4] for k, v in as_dict(flows).items()}
        assert got == expected, (table, mode, threads)
        assert stats["packets_without_flow"] == no_flow and stats["failed_inserts"] == 0
        results.append(flows)
    assert all(r.equals(results[0]) for r in results)
    assert results[0].columns[: len(FLOW_KEY)] == FLOW_KEY
    # a path and a frame of the same packets, in batches or not, count alike
    assert count_flows(path, batch_size=50)[0].equals(results[0])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="sharded table"):
        FlowCounter(table="sharded", mode="spray")
    with pytest.raises(ValueError, match="unknown table"):
        FlowCounter(table="cuckoo")
    with pytest.raises(ValueError, match="unknown mode"):
        FlowCounter(mode="round-robin")
    with pytest.raises(ValueError, match="positive"):
        FlowCounter(threads=0)
    with pytest.raises(ValueError, match="capacity"):
        FlowCounter(capacity=1 << 31)
