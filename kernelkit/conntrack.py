"""Connection tracking: packets into bidirectional flows, with Zeek's vocabulary.

:func:`flows` returns the flow table; :func:`track` also returns the packets with
their ``flow_id`` and ``direction``, and the hash table's instrumentation.
:class:`FlowTracker` is the streaming engine underneath, for batches that arrive
one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from .io.trace import PathLike, Trace, open_trace
from .kernels.conntrack import layout as C
from .kernels.conntrack import chained, cuckoo, cuckoo_pp, hopscotch, linear, robin_hood
from .kernels.conntrack.track import (
    C_EMITTED,
    C_EPOCH,
    C_FREE_TOP,
    C_NOW,
    C_SCAN_QUOTA,
    CANDIDATES,
    N_CTL,
    N_PK,
    PK_DPORT,
    PK_FLAGS,
    PK_ICMP_CODE,
    PK_ICMP_TYPE,
    PK_IP_LEN,
    PK_KIND,
    PK_PAYLOAD,
    PK_SEQ,
    PK_SPORT,
    PK_VERSION,
    PK_WINDOW,
    PK_WIRELEN,
    drain,
    track_shards,
    track as track_kernel,
)
from .kernels.conntrack.shards import group_by_shard
from .kernels.views import values_or_zero
from .kernels.rss import SYMMETRIC_KEY, rss_hashes, toeplitz_table
from .mptcp import link_subflows, mptcp_facts

RETA_SIZE = 128  # indirection-table entries, as common NICs have

DESIGNS = {
    "linear": (C.LINEAR, linear),
    "robin_hood": (C.ROBIN_HOOD, robin_hood),
    "cuckoo": (C.CUCKOO, cuckoo),
    "cuckoo++": (C.CUCKOO_PP, cuckoo_pp),
    "chained": (C.CHAINED, chained),
    "hopscotch": (C.HOPSCOTCH, hopscotch),
}
"""Hash-table designs by name: (kernel id, module)."""

EXPIRY = {"scan": C.EXPIRE_SCAN, "wheel": C.EXPIRE_WHEEL, "lazy": C.EXPIRE_LAZY}
"""Expiry strategies by name."""

DEFAULT_TIMEOUTS = {
    "tcp_established": 300.0,  # Zeek's tcp_inactivity_timeout, Retina's TCP idle timeout
    "tcp_handshake": 5.0,  # Retina's establish timeout, Zeek's tcp_SYN_timeout
    "tcp_closed": 5.0,  # Zeek's tcp_close_delay and tcp_reset_delay: late packets still belong
    "udp": 60.0,  # Zeek's and Retina's UDP timeout
    "other": 60.0,  # Zeek's ICMP timeout
}
"""Idle timeouts in seconds of trace time, per class of flow."""

END_REASONS = {
    C.END_FIN: "fin",
    C.END_RST: "rst",
    C.END_IDLE: "idle",
    C.END_ACTIVE: "active_timeout",
    C.END_TABLE_FULL: "table_full",
    C.END_TRACE: "end_of_trace",
}

EP_NAMES = ["inactive", "syn_sent", "syn_ack_sent", "partial", "established", "closed", "reset"]


def _timeouts_ns(idle_timeout, active_timeout) -> np.ndarray:
    seconds = dict(DEFAULT_TIMEOUTS)
    if isinstance(idle_timeout, dict):
        unknown = set(idle_timeout) - set(seconds)
        if unknown:
            raise ValueError(f"unknown timeout class(es) {sorted(unknown)}; known: {sorted(seconds)}")
        seconds.update(idle_timeout)
    elif idle_timeout is not None:
        for name in ("tcp_established", "udp", "other"):
            seconds[name] = float(idle_timeout)
    out = np.zeros(C.N_TIMEOUTS, np.int64)
    out[C.T_TCP_ESTABLISHED] = int(seconds["tcp_established"] * 1e9)
    out[C.T_TCP_HANDSHAKE] = int(seconds["tcp_handshake"] * 1e9)
    out[C.T_TCP_CLOSED] = int(seconds["tcp_closed"] * 1e9)
    out[C.T_UDP] = int(seconds["udp"] * 1e9)
    out[C.T_OTHER] = int(seconds["other"] * 1e9)
    out[C.T_ACTIVE] = 0 if active_timeout is None else int(float(active_timeout) * 1e9)
    return out


def _buffer(array: pa.Array, dtype) -> np.ndarray:
    """The values of a fixed-width Arrow array as numpy, without a copy (nulls are 0)."""
    width = np.dtype(dtype).itemsize
    values = np.frombuffer(array.buffers()[1], dtype)
    return values[array.offset : array.offset + len(array)] if width else values


def _addresses(column) -> np.ndarray:
    """A 16-byte address column as uint64[n, 2] (nulls as zeros)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_fixed_size_binary(column.type):
        column = pc.fill_null(column, b"\x00" * 16).cast(pa.binary()).cast(pa.binary(16))
    raw = np.frombuffer(column.buffers()[1], np.uint8)[column.offset * 16 : (column.offset + len(column)) * 16]
    return raw.view(np.uint64).reshape(-1, 2)


def rss_shards(src: np.ndarray, dst: np.ndarray, pk: np.ndarray, shards: int) -> np.ndarray:
    """Each packet's shard (int64[n]) from the kernel inputs of :func:`packet_inputs`: symmetric
    Toeplitz hash through a 128-entry indirection table, so both directions of a flow share a shard."""
    n = pk.shape[1]
    hashes = np.zeros(n, np.uint32)
    ported = (pk[PK_KIND] == 6) | (pk[PK_KIND] == 17)
    rss_hashes(toeplitz_table(SYMMETRIC_KEY), src.view(np.uint8).reshape(n, 16),
               dst.view(np.uint8).reshape(n, 16), pk[PK_SPORT], pk[PK_DPORT], pk[PK_VERSION], ported, np.zeros(36, np.uint8), hashes)
    reta = np.arange(RETA_SIZE, dtype=np.int64) % shards
    return reta[hashes & (RETA_SIZE - 1)]


def _into(array: pa.Array, out: np.ndarray) -> None:
    """A column's values into ``out``, nulls as 0: in one pass over Arrow's buffers for integer
    columns (a fill, a conversion and a copy per column cost a quarter of tracking's time)."""
    if pa.types.is_integer(array.type) and len(array):
        validity, data = array.buffers()[:2]
        values = np.frombuffer(data, array.type.to_pandas_dtype(), count=array.offset + len(array))[array.offset:]
        bits = np.frombuffer(validity, np.uint8) if validity is not None and array.null_count else _NO_BITMAP
        values_or_zero(values, bits, array.offset, out)
        return
    if array.null_count:
        array = pc.fill_null(array, 0)
    out[:] = array.to_numpy(zero_copy_only=False)


_NO_BITMAP = np.empty(0, np.uint8)


def packet_inputs(batch: pa.RecordBatch | pa.Table):
    """Kernel inputs for a batch of packets: ts, src, dst and the ``pk`` rows."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([])
    n = batch.num_rows
    col = batch.column

    def values(name, dtype=np.uint32):
        out = np.empty(n, dtype)
        _into(col(name), out)
        return out

    ts = col("ts")
    ts = pc.fill_null(ts, 0) if ts.null_count else ts
    ts = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    pk = np.zeros((N_PK, n), np.uint32)
    proto = values("ip_proto")
    has_ip = col("ip_version").is_valid().to_numpy(zero_copy_only=False)
    has_ports = col("sport").is_valid().to_numpy(zero_copy_only=False)
    has_l4 = col("l4_offset").is_valid().to_numpy(zero_copy_only=False)
    # A flow needs the transport header for TCP and UDP; other protocols are keyed
    # by addresses alone, but not from later fragments (their header is elsewhere).
    ported = (proto == 6) | (proto == 17)
    # (protocol 0, HOPOPT, as 256: 0 means no flow)
    pk[PK_KIND] = np.where(has_ip & np.where(ported, has_ports, has_l4), np.where(proto == 0, 256, proto), 0)
    for row, name in ((PK_VERSION, "ip_version"), (PK_SPORT, "sport"), (PK_DPORT, "dport"),
                      (PK_FLAGS, "tcp_flags"), (PK_SEQ, "tcp_seq"), (PK_IP_LEN, "ip_len"),
                      (PK_PAYLOAD, "payload_len"), (PK_WIRELEN, "wirelen"), (PK_WINDOW, "tcp_win"),
                      (PK_ICMP_TYPE, "icmp_type"), (PK_ICMP_CODE, "icmp_code")):
        _into(col(name), pk[row])
    return ts, _addresses(col("src_ip")), _addresses(col("dst_ip")), pk


@dataclass
class FlowTracker:
    """A streaming flow table: feed packet batches, collect flows as they end.

    Parameters
    ----------
    table : str
        Hash-table design, one of :data:`DESIGNS`.
    expiry : str
        Expiry strategy, one of :data:`EXPIRY`.
    capacity : int
        Flows the table holds at once (all shards together); a new flow beyond
        that evicts a competitor (``end_reason == "table_full"``) or, if there is
        none, goes untracked (counted in ``packets_without_flow``).
    idle_timeout : float or dict, optional
        Seconds; a number sets TCP-established, UDP and other flows alike, a dict
        overrides classes of :data:`DEFAULT_TIMEOUTS`.
    active_timeout : float, optional
        Seconds after which a long flow is cut and a new one begins.
    shards : int
        Tables, each fed by a symmetric-RSS share of the packets and run on its
        own thread (as per-core tables behind a NIC's RSS). The flows are the
        same whatever the number of shards.
    """

    table: str = "linear"
    expiry: str = "wheel"
    capacity: int = 1 << 20
    idle_timeout: float | dict | None = None
    active_timeout: float | None = None
    shards: int = 1
    out_capacity: int = 1 << 16
    wheel_slots: int = 4096
    scan_epochs: int = 10
    packets_seen: int = field(default=0, init=False)

    def __post_init__(self):
        if self.table not in DESIGNS:
            raise ValueError(f"unknown table design {self.table!r}; choose one of {list(DESIGNS)}")
        if self.expiry not in EXPIRY:
            raise ValueError(f"unknown expiry strategy {self.expiry!r}; choose one of {list(EXPIRY)}")
        if self.capacity < 1 or self.shards < 1:
            raise ValueError("capacity and shards must be positive")
        self._design, module = DESIGNS[self.table]
        self._expiry = EXPIRY[self.expiry]
        n = int(self.shards)
        cap = -(-int(self.capacity) // n)
        tables = [module.new_table(cap) for _ in range(n)]
        self._tab = np.stack([t for t, _ in tables])
        self._meta = np.stack([m for _, m in tables])
        self._keys = np.zeros((n, cap, C.N_KEY), np.uint64)
        self._ri = np.zeros((n, cap, C.N_RI), np.int64)
        self._ri[:, :, C.FLOW_ID] = -1
        self._ri[:, :, C.WHEEL_SLOT] = -1
        self._hist = np.zeros((n, cap, C.HISTORY_MAX), np.uint8)
        self._free = np.tile(np.arange(cap - 1, -1, -1, dtype=np.int64), (n, 1))  # pops record 0 first
        self._stats = np.zeros((n, C.N_STATS), np.int64)
        self._ctl = np.zeros((n, N_CTL), np.int64)
        self._ctl[:, C_FREE_TOP] = cap
        self._ctl[:, C_EPOCH] = -1
        self._ctl[:, C_SCAN_QUOTA] = max(1, -(-cap // self.scan_epochs))
        self._wheel = np.zeros((n, 1 << max(1, int(self.wheel_slots - 1).bit_length())), np.int64)
        self._timeouts = _timeouts_ns(self.idle_timeout, self.active_timeout)
        self._cand = np.zeros((n, CANDIDATES), np.int64)
        self._out_keys = np.zeros((n, self.out_capacity, C.N_KEY), np.uint64)
        self._out_ri = np.zeros((n, self.out_capacity, C.N_RI), np.int64)
        self._out_hist = np.zeros((n, self.out_capacity, C.HISTORY_MAX), np.uint8)
        self._samples: list[tuple[int, int, int]] = []

    def _state(self):
        return (self._keys, self._ri, self._hist, self._free, self._tab, self._meta, self._stats, self._ctl,
                self._wheel, self._timeouts, self._cand, self._out_keys, self._out_ri, self._out_hist)

    def _shard_state(self, s: int):
        return tuple(a if a is self._timeouts else a[s] for a in self._state())

    def _take_emitted(self, into: list):
        for s in range(self.shards):
            n = int(self._ctl[s, C_EMITTED])
            if n:
                # copies: the frame must not share the buffer the next call overwrites
                into.append(flow_frame(self._out_keys[s, :n].copy(), self._out_ri[s, :n].copy(),
                                       self._out_hist[s, :n].copy()))
                self._ctl[s, C_EMITTED] = 0

    def shard_of(self, batch: pa.RecordBatch) -> np.ndarray:
        """Each packet's shard: symmetric Toeplitz hash, through a 128-entry indirection table."""
        ts, src, dst, pk = packet_inputs(batch)
        return self._shards_of(src, dst, pk)

    def _shards_of(self, src, dst, pk) -> np.ndarray:
        return rss_shards(src, dst, pk, self.shards)

    def update(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, list[pl.DataFrame]]:
        """Track one batch of packets (Arrow, packet schema).

        Returns
        -------
        flow_id, direction, ended
            Per packet: its flow (-1: none) and side (0 from the originator);
            and the frames of flows that ended during the batch.
        """
        ts, src, dst, pk = packet_inputs(batch)
        valid = batch.column("ts").is_valid().to_numpy(zero_copy_only=False)
        if not valid.all():
            # a packet without a time (pcapng Simple Packet Block) happens at the latest time known
            latest = np.maximum.accumulate(np.where(valid, ts, int(self._ctl[:, C_NOW].max())))
            ts = np.where(valid, ts, latest)
        n = len(ts)
        index = np.arange(self.packets_seen, self.packets_seen + n, dtype=np.int64)
        flow_id = np.empty(n, np.int64)
        direction = np.empty(n, np.uint8)
        ended: list[pl.DataFrame] = []
        if self.shards == 1:
            done = 0
            while done < n:
                done += track_kernel(self._design, self._expiry, index[done:], ts[done:], src[done:], dst[done:],
                                     pk[:, done:], flow_id[done:], direction[done:], *self._shard_state(0))
                self._take_emitted(ended)
        else:
            shard = self._shards_of(src, dst, pk)
            starts = np.empty(self.shards, np.int64)
            ends = np.empty(self.shards, np.int64)
            position = np.empty(n, np.int64)
            grouped = (np.empty_like(index), np.empty_like(ts), np.empty_like(src), np.empty_like(dst),
                       np.empty_like(pk))
            group_by_shard(shard, self.shards, index, ts, src, dst, pk, starts, ends, *grouped, position)
            progress = starts.copy()
            ids = np.empty(n, np.int64)
            sides = np.empty(n, np.uint8)
            while (progress < ends).any():
                track_shards(self._design, self._expiry, starts, ends, progress, *grouped, ids, sides,
                             *self._state())
                self._take_emitted(ended)
            flow_id[:] = ids[position]
            direction[:] = sides[position]
        self.packets_seen += n
        if n:
            self._samples.append((int(ts[-1]), self.packets_seen, int(self._stats[:, C.S_LIVE].sum())))
        return flow_id, direction, ended

    def finish(self) -> list[pl.DataFrame]:
        """Emit every flow still open: the end of the trace."""
        ended: list[pl.DataFrame] = []
        now = int(self._ctl[:, C_NOW].max())
        for s in range(self.shards):
            while not drain(now, self._design, self._expiry, *self._shard_state(s)):
                self._take_emitted(ended)
        self._take_emitted(ended)
        return ended

    def table_stats(self) -> pl.DataFrame:
        """The hash table's counters as a one-row frame (see :data:`STAT_NAMES`), all shards summed."""
        s = self._stats.sum(axis=0)
        row = {name: int(s[i]) for name, i in STAT_NAMES.items()}
        row.update(
            design=self.table,
            expiry=self.expiry,
            capacity=self.capacity,
            table_bytes=int(self._tab.nbytes + self._meta.nbytes),
            shards=self.shards,
            record_bytes=int(self._keys.nbytes + self._ri.nbytes + self._hist.nbytes) // self.capacity,
            probes_per_lookup=s[C.S_PROBES] / max(1, s[C.S_LOOKUPS]),
            probes_per_insert=s[C.S_INSERT_PROBES] / max(1, s[C.S_INSERTS] + s[C.S_FAILED_INSERTS]),
        )
        return pl.DataFrame([row])

    def probe_histogram(self) -> pl.DataFrame:
        """Probes per lookup and per insert: how many operations took k probes."""
        s = self._stats.sum(axis=0)
        bins = np.arange(C.HIST_BINS)
        return pl.DataFrame({
            "probes": bins,
            "lookups": s[C.S_PROBE_HIST : C.S_PROBE_HIST + C.HIST_BINS],
            "inserts": s[C.S_INSERT_HIST : C.S_INSERT_HIST + C.HIST_BINS],
        })

    def load(self) -> pl.DataFrame:
        """Live flows and load factor after each batch."""
        ts, packets, live = zip(*self._samples) if self._samples else ((), (), ())
        return pl.DataFrame(
            {"ts": list(ts), "packets": list(packets), "live_flows": list(live)},
            schema={"ts": pl.Int64, "packets": pl.Int64, "live_flows": pl.Int64},
        ).with_columns(
            pl.col("ts").cast(pl.Datetime("ns", "UTC")),
            load_factor=pl.col("live_flows") / self.capacity,
        )


STAT_NAMES = {
    "lookups": C.S_LOOKUPS,
    "hits": C.S_HITS,
    "inserts": C.S_INSERTS,
    "failed_inserts": C.S_FAILED_INSERTS,
    "removes": C.S_REMOVES,
    "probes": C.S_PROBES,
    "insert_probes": C.S_INSERT_PROBES,
    "displacements": C.S_DISPLACEMENTS,
    "expiry_visits": C.S_EXPIRY_VISITS,
    "expired": C.S_EXPIRED,
    "evicted": C.S_EVICTED,
    "packets_without_flow": C.S_SKIPPED_PACKETS,
    "live_flows_max": C.S_LIVE_MAX,
}


def _address_column(hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    words = np.empty((len(hi), 2), np.uint64)
    words[:, 0] = hi
    words[:, 1] = lo
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(hi), [None, pa.py_buffer(words)])


def flow_frame(keys: np.ndarray, ri: np.ndarray, hist: np.ndarray) -> pl.DataFrame:
    """Ended flows from the kernel's output arrays, as the flow table's columns."""
    orig_is_a = ri[:, C.ORIG_IS_A] == 1
    a_hi, a_lo, b_hi, b_lo = keys[:, C.KEY_A_HI], keys[:, C.KEY_A_LO], keys[:, C.KEY_B_HI], keys[:, C.KEY_B_LO]
    orig_ip = _address_column(np.where(orig_is_a, a_hi, b_hi), np.where(orig_is_a, a_lo, b_lo))
    resp_ip = _address_column(np.where(orig_is_a, b_hi, a_hi), np.where(orig_is_a, b_lo, a_lo))
    ports_proto = keys[:, C.KEY_PORTS_PROTO]
    # zero-padded fixed-width rows: numpy's bytes dtype drops the padding
    history = pl.Series(np.ascontiguousarray(hist).view(f"S{C.HISTORY_MAX}").ravel()).cast(pl.String)
    base = pl.DataFrame({
        "flow_id": ri[:, C.FLOW_ID],
        "orig_ip": pl.Series(orig_ip, dtype=pl.Binary),
        "orig_port": ri[:, C.ORIG_PORT].astype(np.uint16),
        "resp_ip": pl.Series(resp_ip, dtype=pl.Binary),
        "resp_port": ri[:, C.RESP_PORT].astype(np.uint16),
        "ip_proto": ((ports_proto >> np.uint64(8)) & np.uint64(0xFF)).astype(np.uint8),
        "ip_version": (ports_proto & np.uint64(0xFF)).astype(np.uint8),
        "first_ts": ri[:, C.FIRST_TS],
        "last_ts": ri[:, C.LAST_TS],
        "orig_pkts": ri[:, C.ORIG_PKTS],
        "resp_pkts": ri[:, C.RESP_PKTS],
        "orig_ip_bytes": ri[:, C.ORIG_IP_BYTES],
        "resp_ip_bytes": ri[:, C.RESP_IP_BYTES],
        "orig_bytes": ri[:, C.ORIG_BYTES],
        "resp_bytes": ri[:, C.RESP_BYTES],
        "orig_wire_bytes": ri[:, C.ORIG_WIRE_BYTES],
        "resp_wire_bytes": ri[:, C.RESP_WIRE_BYTES],
        "end_reason": ri[:, C.END_REASON],
        "history": history,
        "orig_state": ri[:, C.ORIG_STATE],
        "resp_state": ri[:, C.RESP_STATE],
        "handshake_rtt": ri[:, C.HANDSHAKE_RTT],
        "close_ts": ri[:, C.CLOSE_TS],
    })
    stats = {}
    for side, d in (("orig", 0), ("resp", 1)):
        pkts = ri[:, C.ORIG_PKTS + d].astype(np.float64)
        size_sum = ri[:, C.ORIG_IP_BYTES + d].astype(np.float64)
        gaps = np.maximum(pkts - 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            size_mean = size_sum / pkts
            size_var = ri[:, C.ORIG_SIZE_SUMSQ + d] / pkts - size_mean**2
            iat_mean = ri[:, C.ORIG_IAT_SUM + d] / gaps
            iat_var = ri[:, C.ORIG_IAT_SUMSQ_US + d].view(np.float64) / gaps - (iat_mean / 1000) ** 2
        stats.update({
            f"{side}_size_min": np.where(pkts > 0, ri[:, C.ORIG_SIZE_MIN + d], np.nan),
            f"{side}_size_mean": size_mean,
            f"{side}_size_max": np.where(pkts > 0, ri[:, C.ORIG_SIZE_MAX + d], np.nan),
            f"{side}_size_std": np.sqrt(np.maximum(size_var, 0)),
            f"{side}_iat_min": np.where(gaps > 0, ri[:, C.ORIG_IAT_MIN + d] / 1e9, np.nan),
            f"{side}_iat_mean": iat_mean / 1e9,
            f"{side}_iat_max": np.where(gaps > 0, ri[:, C.ORIG_IAT_MAX + d] / 1e9, np.nan),
            f"{side}_iat_std": np.sqrt(np.maximum(iat_var, 0)) / 1e6,
            f"{side}_retrans": ri[:, C.ORIG_RETRANS + d],
            f"{side}_out_of_order": ri[:, C.ORIG_OOO + d],
            f"{side}_gaps": ri[:, C.ORIG_GAPS + d],
            f"{side}_zero_windows": ri[:, C.ORIG_ZERO_WIN + d],
        })
    return pl.concat([base, pl.DataFrame(stats).fill_nan(None)], how="horizontal")


def finish_flow_table(raw: pl.DataFrame) -> pl.DataFrame:
    """From raw ended-flow rows to the public flow table (names, types, conn_state)."""
    ts = pl.Datetime("ns", "UTC")
    return raw.with_columns(
        first_ts=pl.col("first_ts").cast(ts),
        last_ts=pl.col("last_ts").cast(ts),
        duration=(pl.col("last_ts") - pl.col("first_ts")) / 1e9,
        end_reason=pl.col("end_reason").replace_strict(END_REASONS, return_dtype=pl.String),
        conn_state=_conn_state(),
        handshake_rtt=pl.when(pl.col("handshake_rtt") >= 0).then(pl.col("handshake_rtt") / 1e9),
        history=pl.when(pl.col("ip_proto").is_in([6, 17])).then(pl.col("history")),
    ).drop("orig_state", "resp_state", "close_ts").select(*FLOW_COLUMNS_FIRST, pl.exclude(FLOW_COLUMNS_FIRST)).sort(
        "flow_id"
    )


FLOW_COLUMNS_FIRST = [
    "flow_id", "orig_ip", "orig_port", "resp_ip", "resp_port", "ip_proto", "ip_version", "first_ts", "last_ts",
    "duration", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes", "orig_bytes", "resp_bytes",
    "orig_wire_bytes", "resp_wire_bytes", "conn_state", "history", "end_reason", "handshake_rtt",
]
"""The flow table's leading columns (Zeek's conn.log names, ``_ip``/``_port`` for ``_h``/``_p``);
per-direction size, inter-arrival and TCP sequence statistics follow, then ``mptcp_connection``."""


def _conn_state() -> pl.Expr:
    """Zeek's conn_state, from the two endpoint states (base/protocols/conn/main.zeek)."""
    os_, rs = pl.col("orig_state"), pl.col("resp_state")
    inactive = {C.EP_INACTIVE, C.EP_PARTIAL}
    o_inactive = os_.is_in(list(inactive))
    r_inactive = rs.is_in(list(inactive))
    no_payload = (pl.col("orig_bytes") == 0) & (pl.col("resp_bytes") == 0)
    tcp = (
        pl.when(rs == C.EP_RESET).then(
            pl.when(os_.is_in([C.EP_SYN_SENT, C.EP_SYN_ACK_SENT]) | ((os_ == C.EP_RESET) & no_payload))
            .then(pl.lit("REJ"))
            .when(o_inactive).then(pl.lit("RSTRH"))
            .otherwise(pl.lit("RSTR"))
        )
        .when(os_ == C.EP_RESET).then(
            pl.when(r_inactive).then(
                pl.when(pl.col("history").str.contains(r"^\^?S[^HAFGIQ]*R")).then(pl.lit("RSTOS0"))
                .otherwise(pl.lit("OTH"))
            ).otherwise(pl.lit("RSTO"))
        )
        .when((rs == C.EP_CLOSED) & (os_ == C.EP_CLOSED)).then(pl.lit("SF"))
        .when(os_ == C.EP_CLOSED).then(pl.when(r_inactive).then(pl.lit("SH")).otherwise(pl.lit("S2")))
        .when(rs == C.EP_CLOSED).then(pl.when(o_inactive).then(pl.lit("SHR")).otherwise(pl.lit("S3")))
        .when((os_ == C.EP_SYN_SENT) & (rs == C.EP_INACTIVE)).then(pl.lit("S0"))
        .when((os_ == C.EP_ESTABLISHED) & (rs == C.EP_ESTABLISHED)).then(pl.lit("S1"))
        .otherwise(pl.lit("OTH"))
    )
    udp = (
        pl.when((pl.col("orig_pkts") > 0) & (pl.col("resp_pkts") > 0)).then(pl.lit("SF"))
        .when(pl.col("orig_pkts") > 0).then(pl.lit("S0"))
        .when(pl.col("resp_pkts") > 0).then(pl.lit("SHR"))
        .otherwise(pl.lit("OTH"))
    )
    proto = pl.col("ip_proto")
    return pl.when(proto == 6).then(tcp).when(proto == 17).then(udp).otherwise(pl.lit("OTH"))


@dataclass
class Tracked:
    """What :func:`track` returns."""

    flows: pl.DataFrame
    packets: pl.DataFrame | None
    table_stats: pl.DataFrame
    probe_histogram: pl.DataFrame
    load: pl.DataFrame


def _batches(source, batch_size, data):
    if isinstance(source, pl.DataFrame):
        yield from source.to_arrow().to_batches(max_chunksize=batch_size)
    else:
        yield from open_trace(source).batches(batch_size, data=data)


def track(
    source: PathLike | Trace | pl.DataFrame,
    *,
    table: str = "linear",
    expiry: str = "wheel",
    idle_timeout: float | dict | None = None,
    active_timeout: float | None = None,
    capacity: int = 1 << 20,
    shards: int = 1,
    packets: bool = True,
    data: bool = False,
    batch_size: int = 1 << 18,
) -> Tracked:
    """Track the connections of a trace.

    Parameters
    ----------
    source : path, paths, Trace, or polars.DataFrame
        Capture file(s), or a packet frame from :func:`kernelkit.read_packets`.
    table, expiry, idle_timeout, active_timeout, capacity, shards :
        See :class:`FlowTracker`.
    packets : bool
        Also return the packets, with ``flow_id`` and ``direction`` columns.
    data : bool
        Keep the packets' bytes (``data``) in the returned packets, for session
        parsing (:mod:`kernelkit.sessions`).
    batch_size : int
        Packets per kernel call.

    Returns
    -------
    Tracked
        ``flows``, ``packets``, ``table_stats``, ``probe_histogram``, ``load``.

    Examples
    --------
    >>> import kernelkit
    >>> t = kernelkit.track(kernelkit.sample_path())
    >>> t.packets.join(t.flows, on="flow_id").height == t.packets["flow_id"].is_not_null().sum()
    True
    """
    tracker = FlowTracker(table=table, expiry=expiry, capacity=capacity, idle_timeout=idle_timeout,
                          active_timeout=active_timeout, shards=shards)
    ended: list[pl.DataFrame] = []
    annotated: list[pl.DataFrame] = []
    facts = []
    # MP_CAPABLE keys and MP_JOIN tokens are in the option bytes: read them where present.
    from_file = not isinstance(source, pl.DataFrame)
    with_data = from_file or "data" in source.columns
    for batch in _batches(source, batch_size, data=from_file):
        flow_id, direction, done = tracker.update(batch)
        ended += done
        if with_data:
            facts += mptcp_facts(batch, flow_id)
        if packets:
            frame = pl.from_arrow(batch)
            if from_file and not data:
                frame = frame.drop("data")
            ids = pl.DataFrame({"flow_id": flow_id, "direction": direction})
            annotated.append(pl.concat([frame, ids], how="horizontal"))
    ended += tracker.finish()
    raw = pl.concat(ended) if ended else flow_frame(*_empty_outputs())
    connections = link_subflows(facts)
    flows_table = finish_flow_table(raw).with_columns(
        mptcp_connection=pl.col("flow_id").replace_strict(
            list(connections), list(connections.values()), default=None, return_dtype=pl.Int64
        )
    )
    packet_frame = None
    if packets and annotated:
        packet_frame = pl.concat(annotated).with_columns(pl.col("flow_id").replace(-1, None))
    return Tracked(flows_table, packet_frame, tracker.table_stats(), tracker.probe_histogram(), tracker.load())


def _empty_outputs():
    return (np.zeros((0, C.N_KEY), np.uint64), np.zeros((0, C.N_RI), np.int64),
            np.zeros((0, C.HISTORY_MAX), np.uint8))


def flows(source: PathLike | Trace | pl.DataFrame, **options) -> pl.DataFrame:
    """The flow table of a trace: one row per bidirectional connection.

    Takes the options of :func:`track`; :data:`FLOW_COLUMNS_FIRST` lists the leading columns.

    Examples
    --------
    >>> import kernelkit
    >>> table = kernelkit.flows(kernelkit.sample_path())
    >>> table.filter(conn_state="SF").height > 0
    True
    """
    return track(source, packets=False, **options).flows


def load_sweep(
    table: str,
    capacity: int = 1 << 20,
    loads=(0.1, 0.25, 0.5, 0.75, 0.9, 0.95),
    lookups: int = 1 << 20,
    seed: int = 0,
) -> pl.DataFrame:
    """Lookups per second and probe counts of one design against its load factor.

    Fills a table of ``capacity`` records with random keys up to each load, then
    looks up ``lookups`` random present keys, timing the lookups alone.

    Examples
    --------
    >>> from kernelkit.conntrack import load_sweep
    >>> sweep = load_sweep("linear", capacity=4096, loads=(0.5, 0.9), lookups=10_000)
    >>> sweep["probes_per_lookup"].is_sorted()
    True
    """
    import time

    from .kernels.conntrack.hashing import flow_hash_array
    from .kernels.conntrack.table_ops import insert_many, lookup_many

    design, module = DESIGNS[table]
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**63, size=(capacity, C.N_KEY), dtype=np.int64).view(np.uint64)
    hashes = flow_hash_array(keys)
    rows = []
    tab, meta = module.new_table(capacity)
    stats = np.zeros(C.N_STATS, np.int64)
    placed = 0
    for load in sorted(loads):
        target = int(load * capacity)
        placed += insert_many(design, tab, meta, stats, keys, hashes, placed, target - placed)
        if placed < target:
            rows.append({"design": table, "load": load, "reached_load": placed / capacity,
                         "lookups_per_s": None, "probes_per_lookup": None})
            break
        queries = rng.integers(0, placed, size=lookups, dtype=np.int64)
        stats[:] = 0
        lookup_many(design, tab, meta, stats, keys, hashes, queries[:16])  # compiled already; warm caches
        stats[:] = 0
        start = time.perf_counter()
        found = lookup_many(design, tab, meta, stats, keys, hashes, queries)
        elapsed = time.perf_counter() - start
        if found != lookups:
            raise AssertionError(f"{table}: {lookups - found} present keys not found at load {load}")
        rows.append({"design": table, "load": load, "reached_load": placed / capacity,
                     "lookups_per_s": lookups / elapsed, "probes_per_lookup": stats[C.S_PROBES] / lookups})
    return pl.DataFrame(rows, schema={"design": pl.String, "load": pl.Float64, "reached_load": pl.Float64,
                                      "lookups_per_s": pl.Float64, "probes_per_lookup": pl.Float64})
