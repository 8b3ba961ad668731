"""One shared flow table against per-core tables: the HPSR'21 threading comparison.

Both count the same per-flow counters (packets and IP bytes per side, first and
last time) over the same packets, so their results are equal and only their
speed differs:

- ``table="sharded"``: packets go to shards by symmetric RSS (as
  :class:`kernelkit.conntrack.FlowTracker` with ``shards=``), each shard has a
  private table and a thread of its own; nothing is shared.
- ``table="shared"``: one table for every thread, lock-free (slots claimed by
  compare-and-swap, counters updated by atomic add, min and max). Threads take
  either their RSS shard (``mode="rss"``) or contiguous chunks of the trace
  whatever the flows (``mode="spray"``), which only a shared table allows.

There is no expiry and no TCP state: a flow here is every packet of one
direction-independent 5-tuple. Sides are canonical rather than originator and
responder, because parallel threads have no "first packet": side A is the
endpoint with the smaller (address in network byte order, port), side B the
other. The kernels are in :mod:`kernelkit.kernels.conntrack.shared`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from .conntrack import _address_column, _batches, packet_inputs, rss_shards
from .io.trace import PathLike, Trace
from .kernels.conntrack import layout as C
from .kernels.conntrack import shared as K
from .kernels.conntrack.shards import group_by_shard

TABLES = ("shared", "sharded")
MODES = {"rss": K.RSS, "spray": K.SPRAY}

FLOW_KEY = ["a_ip", "a_port", "b_ip", "b_port", "ip_proto", "ip_version"]
"""The columns of a flow's canonical key in :func:`count_flows`' frame."""


def _network_order_words(addresses: np.ndarray) -> np.ndarray:
    """uint64[n, 2] address words read big-endian, so that comparing words compares addresses byte by byte."""
    return np.ascontiguousarray(addresses).view(">u8").astype(np.uint64)


@dataclass
class FlowCounter:
    """Per-flow counters in a shared table or in per-core tables, batch by batch.

    Parameters
    ----------
    table : str
        ``"shared"`` or ``"sharded"`` (see the module's description).
    mode : str
        How threads of the shared table get packets: ``"rss"`` or ``"spray"``.
        A sharded table takes ``"rss"`` only: its tables need each flow on one thread.
    threads : int
        Threads (and shards of a sharded table).
    capacity : int
        Flows held, all tables together (a sharded table gives each shard an
        equal share). A packet of a flow that finds no room is counted in
        ``failed_inserts`` and nowhere else. With one thread, or RSS, a thread
        that found no room never finds it later, so a flow placed has all its
        packets; threads spraying a full shared table may place a flow after
        another thread failed some of its packets (each packet is still counted
        once: in its flow or as a failed insert).
    block : int, optional
        Records a thread of the shared table reserves at once (fewer updates of
        the pool's shared counter); by default up to 32, and small enough that at
        most an eighth of the capacity sits reserved but unused.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.shared_table import FlowCounter
    >>> counter = FlowCounter(table="shared", mode="spray", threads=2, capacity=1024)
    >>> for batch in kernelkit.open_trace(kernelkit.sample_path()).batches(1000):
    ...     counter.update(batch)
    >>> counter.stats()["packets"] == kernelkit.read_packets(kernelkit.sample_path()).height
    True
    """

    table: str = "shared"
    mode: str = "rss"
    threads: int = 2
    capacity: int = 1 << 20
    block: int | None = None
    _latest: int = field(default=0, init=False, repr=False)

    def __post_init__(self):
        if self.table not in TABLES:
            raise ValueError(f"unknown table {self.table!r}; choose one of {list(TABLES)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {list(MODES)}")
        if self.table == "sharded" and self.mode != "rss":
            raise ValueError("a sharded table needs each flow on one thread: mode='rss'")
        if self.threads < 1 or self.capacity < 1:
            raise ValueError("threads and capacity must be positive")
        self._tables = 1 if self.table == "shared" else int(self.threads)
        per_table = -(-int(self.capacity) // self._tables)
        if self.block is None:
            self.block = max(1, min(32, int(self.capacity) // (8 * int(self.threads))))
        if self.block < 1:
            raise ValueError("block must be positive")
        (self._slots, self._keys, self._ctr, self._pool, self._stats,
         self._cursor) = K.new_tables(self._tables, per_table, int(self.threads))

    def reset(self) -> None:
        """Empty the tables and counters, keeping (and touching) their memory."""
        for array in (self._slots, self._keys, self._ctr, self._pool, self._stats, self._cursor):
            array.fill(0)
        self._latest = 0

    def prepare(self, batch: pa.RecordBatch) -> tuple:
        """The kernel inputs of a batch, grouped by RSS shard unless spraying.

        Returns ``starts, ends, ts, src, dst, pk`` for :meth:`count`.
        """
        ts, src, dst, pk = packet_inputs(batch)
        valid = batch.column("ts").is_valid().to_numpy(zero_copy_only=False)
        if not valid.all():
            # a packet without a time happens at the latest time known, as in FlowTracker
            ts = np.maximum.accumulate(np.where(valid, ts, self._latest))
        if len(ts):
            self._latest = max(self._latest, int(ts.max()))
        n = len(ts)
        words = (_network_order_words(src), _network_order_words(dst))
        if self.mode == "spray":
            empty = np.zeros(self.threads, np.int64)
            return empty, empty.copy(), ts, words[0], words[1], pk
        shard = rss_shards(src, dst, pk, self.threads)
        starts = np.empty(self.threads, np.int64)
        ends = np.empty(self.threads, np.int64)
        index = np.arange(n, dtype=np.int64)
        grouped = (np.empty_like(index), np.empty_like(ts), np.empty_like(words[0]), np.empty_like(words[1]),
                   np.empty_like(pk))
        group_by_shard(shard, self.threads, index, ts, words[0], words[1], pk, starts, ends, *grouped,
                       np.empty(n, np.int64))
        return starts, ends, *grouped[1:]

    def count(self, prepared: tuple) -> None:
        """Count prepared inputs (:meth:`prepare`) into the table(s)."""
        starts, ends, ts, src, dst, pk = prepared
        if self.table == "shared":
            K.count_shared(self.threads, MODES[self.mode], starts, ends, ts, src, dst, pk, self._slots[0],
                           self._keys[0], self._ctr[0], self._pool[0], self.block, self._stats, self._cursor)
        else:
            K.count_sharded(starts, ends, ts, src, dst, pk, self._slots, self._keys, self._ctr, self._pool,
                            self._stats)

    def update(self, batch: pa.RecordBatch) -> None:
        """Count one batch of packets (Arrow, packet schema)."""
        self.count(self.prepare(batch))

    def flows(self) -> pl.DataFrame:
        """One row per flow placed: its canonical key (:data:`FLOW_KEY`), first and last time, and per
        side packets and IP bytes; ordered by first time, then key."""
        keys, ctr = [], []
        for s in range(self._tables):
            words = self._slots[s][self._slots[s] != 0]
            records = (words & 0xFFFFFFFF) - 1
            keys.append(self._keys[s][records])
            ctr.append(self._ctr[s][records])
        keys, ctr = np.concatenate(keys), np.concatenate(ctr)
        ports_proto = keys[:, C.KEY_PORTS_PROTO]

        def address(hi, lo):  # words back to network-order bytes
            words = _network_order_words(np.stack([hi, lo], axis=1))
            return pl.Series(_address_column(words[:, 0], words[:, 1]), dtype=pl.Binary)

        ts = pl.Datetime("ns", "UTC")
        return pl.DataFrame({
            "a_ip": address(keys[:, C.KEY_A_HI], keys[:, C.KEY_A_LO]),
            "a_port": ((ports_proto >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.uint16),
            "b_ip": address(keys[:, C.KEY_B_HI], keys[:, C.KEY_B_LO]),
            "b_port": ((ports_proto >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.uint16),
            "ip_proto": ((ports_proto >> np.uint64(8)) & np.uint64(0xFF)).astype(np.uint8),
            "ip_version": (ports_proto & np.uint64(0xFF)).astype(np.uint8),
            "first_ts": pl.Series(ctr[:, K.FIRST_TS]).cast(ts),
            "last_ts": pl.Series(ctr[:, K.LAST_TS]).cast(ts),
            "a_pkts": ctr[:, K.A_PKTS],
            "b_pkts": ctr[:, K.B_PKTS],
            "a_ip_bytes": ctr[:, K.A_IP_BYTES],
            "b_ip_bytes": ctr[:, K.B_IP_BYTES],
        }).sort(["first_ts", *FLOW_KEY])

    def stats(self) -> dict:
        """Counters of the run: packets, flows, failed inserts, lost races, CAS retries, probes, packets
        per thread."""
        s = self._stats
        packets = int(s[:, K.ST_PACKETS].sum())
        no_flow = int(s[:, K.ST_NO_FLOW].sum())
        return {
            "table": self.table,
            "mode": self.mode,
            "threads": self.threads,
            "capacity": self.capacity,
            "slots": int(self._slots.shape[1]) * self._tables,
            "flows": int(np.count_nonzero(self._slots)),
            "packets": packets,
            "packets_without_flow": no_flow,
            "inserts": int(s[:, K.ST_INSERTS].sum()),
            "failed_inserts": int(s[:, K.ST_FAILED_INSERTS].sum()),
            "lost_races": int(s[:, K.ST_LOST_RACES].sum()),
            "cas_retries": int(s[:, K.ST_CAS_RETRIES].sum()),
            "probes_per_packet": float(s[:, K.ST_PROBES].sum()) / max(1, packets - no_flow),
            "packets_per_thread": s[: self.threads, K.ST_PACKETS].tolist(),
        }


def count_flows(
    source: PathLike | Trace | pl.DataFrame,
    *,
    threads: int = 2,
    table: str = "shared",
    mode: str = "rss",
    capacity: int = 1 << 20,
    block: int | None = None,
    batch_size: int = 1 << 18,
) -> tuple[pl.DataFrame, dict]:
    """Per-flow packet and byte counts in a shared table or in per-core tables.

    Parameters
    ----------
    source : path, paths, Trace, or polars.DataFrame
        Capture file(s), or a packet frame from :func:`kernelkit.read_packets`.
    threads, table, mode, capacity, block :
        See :class:`FlowCounter`.
    batch_size : int
        Packets per kernel call.

    Returns
    -------
    flows : polars.DataFrame
        One row per flow (see :meth:`FlowCounter.flows`): the same whatever
        ``table``, ``mode`` and ``threads``, as long as no insert failed.
    stats : dict
        See :meth:`FlowCounter.stats`; ``failed_inserts`` counts packets whose
        flow found no room, ``lost_races`` and ``cas_retries`` the slot claims a
        thread of the shared table lost.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.shared_table import FLOW_KEY, count_flows
    >>> shared, stats = count_flows(kernelkit.sample_path(), threads=2, table="shared", mode="spray")
    >>> sharded, _ = count_flows(kernelkit.sample_path(), threads=2, table="sharded")
    >>> shared.equals(sharded), stats["failed_inserts"]
    (True, 0)
    >>> shared.columns[:6] == FLOW_KEY
    True
    """
    counter = FlowCounter(table=table, mode=mode, threads=threads, capacity=capacity, block=block)
    for batch in _batches(source, batch_size, data=False):
        counter.update(batch)
    return counter.flows(), counter.stats()
