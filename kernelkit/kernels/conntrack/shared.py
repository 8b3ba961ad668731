"""One flow table shared by every thread, against one private table per shard.

The HPSR'21 comparison: per-core tables behind RSS need no synchronisation but
tie each flow to one core; one shared table lets any core take any packet (no
flow affinity needed) at the price of atomic operations. Both count the same
thing per flow, so their results are equal and their speeds comparable.

Table (one per shard, or one for all): open addressing with linear probing over
``slots`` (int64, a power of two), each slot 0 (empty) or one word
``hash >> 32 << 32 | record + 1``, so most mismatches are settled without
reading a key. Records come from a pool: ``keys[r]`` (uint64[5], the
direction-independent key of :func:`hashing.canonical_key`) and ``ctr[r]``
(int64[N_CTR], 64 bytes). Entries are never removed: there is no expiry
here, only counting, so a slot once filled never changes.

Shared insert, lock-free: a thread writes the key and initial counters into a
record nobody else can see yet, then claims an empty slot with a
compare-and-swap of its word. A thread that loses the race reads the winner's
word: the same key (a lost race: it counts into the winner's record and keeps
its own record for its next flow) or another (it probes on). Counters change by
atomic add, min and max only.

Direction: with threads taking packets in any order there is no "first packet"
to define the originator, so sides are the key's canonical ones: side A is the
smaller (address words, port) endpoint, as :func:`hashing.canonical_key` orders
them, side B the other.

Capacity is fixed: a packet whose flow is absent when no record or no slot is
left is a failed insert, counted, never a hang (probing visits each slot at most
once).
"""

import numpy as np
from numba import prange

from ..._jit import inline_jit, ngjit, parallel_jit
from .atomics import cas, fetch_add, fetch_add2, fetch_max2, fetch_min2, load, load2
from .hashing import canonical_key, flow_hash, same_key, write_key
from .track import PK_DPORT, PK_IP_LEN, PK_KIND, PK_SPORT, PK_VERSION

# how threads get their packets in count_shared
RSS = 0  # thread t takes symmetric-RSS shard t (flow affinity, as per-core tables need)
SPRAY = 1  # thread t takes the t-th contiguous chunk of the trace, whatever the flows

# --- per-flow counters: columns of ``ctr`` (one 64-byte row per record) -------------
A_PKTS = 0  # B_x == A_x + 1
B_PKTS = 1
A_IP_BYTES = 2
B_IP_BYTES = 3
FIRST_TS = 4
LAST_TS = 5
N_CTR = 8

# --- per-thread (or per-shard) statistics: columns of ``stats`` ----------------------
ST_PACKETS = 0  # packets this thread handled
ST_NO_FLOW = 1  # of which without a flow (not IP, later fragments)
ST_INSERTS = 2  # flows this thread placed
ST_FAILED_INSERTS = 3  # packets whose flow could not be placed (no record or no slot left)
ST_LOST_RACES = 4  # slot claims lost to another thread inserting the same flow
ST_CAS_RETRIES = 5  # slot claims lost to another flow: probe on
ST_PROBES = 6  # slots read
N_ST = 16  # two cache lines a row: rows of different threads never share a line, however numpy aligns them

# --- per-thread record reservation: columns of ``cursor`` ---------------------------
CUR_NEXT = 0  # the thread's next unused record
CUR_END = 1  # end of its reserved block
N_CUR = 16

_LOW32 = 0xFFFFFFFF
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


def new_tables(n_tables, capacity, n_threads=1):
    """Arrays of ``n_tables`` empty tables of ``capacity`` records each (Python side).

    Returns ``slots`` int64[n_tables, slots], ``keys`` uint64[n_tables, capacity, 5],
    ``ctr`` int64[n_tables, capacity, N_CTR], ``pool`` int64[n_tables, 16] (the
    next free record in column 0; 128 bytes a row, so that it shares no cache line),
    ``stats`` int64[n_threads, N_ST] and ``cursor`` int64[n_threads, N_CUR].
    """
    if not 1 <= capacity < 1 << 31:
        raise ValueError("capacity must be in [1, 2**31)")
    n_slots = 1 << max(1, int(capacity - 1).bit_length())
    return (np.zeros((n_tables, n_slots), np.int64), np.zeros((n_tables, capacity, 5), np.uint64),
            np.zeros((n_tables, capacity, N_CTR), np.int64), np.zeros((n_tables, 16), np.int64),
            np.zeros((max(n_tables, n_threads), N_ST), np.int64),
            np.zeros((max(n_tables, n_threads), N_CUR), np.int64))


@inline_jit
def _packet_key(src, dst, pk, i):
    return canonical_key(src[i, 0], src[i, 1], dst[i, 0], dst[i, 1], np.uint64(pk[PK_SPORT, i]),
                         np.uint64(pk[PK_DPORT, i]), np.uint64(pk[PK_KIND, i] & 0xFF),
                         np.uint64(pk[PK_VERSION, i]))


@inline_jit
def _init_record(keys, ctr, r, key):
    write_key(keys, r, key)
    for f in range(N_CTR):
        ctr[r, f] = 0
    ctr[r, FIRST_TS] = _INT64_MAX
    ctr[r, LAST_TS] = _INT64_MIN


@inline_jit
def _take_record(pool, cursor, block, capacity):
    """A record for a new flow from the thread's block, reserving a new block when used up; -1: none left.

    Blocks keep threads off the pool's shared counter for all but one new flow in ``block``.
    """
    if cursor[CUR_NEXT] < cursor[CUR_END]:
        return cursor[CUR_NEXT]
    if load(pool, 0) >= capacity:  # read before adding: a full pool is not written on every miss
        return -1
    start = fetch_add(pool, 0, block)
    if start >= capacity:
        return -1
    cursor[CUR_NEXT] = start
    cursor[CUR_END] = min(start + block, capacity)
    return start


@inline_jit
def _find_shared(slots, keys, ctr, pool, block, stats, cursor, key, h):
    """The record of ``key`` in the shared table, inserting it if absent; -1 when there is no room."""
    mask = len(slots) - 1
    i = h & mask
    tag = h >> 32
    capacity = min(keys.shape[0], ctr.shape[0])
    for probes in range(1, len(slots) + 1):
        w = load(slots, i)
        if w == 0:
            r = _take_record(pool, cursor, block, capacity)
            if r < 0:
                stats[ST_PROBES] += probes
                stats[ST_FAILED_INSERTS] += 1
                return -1
            _init_record(keys, ctr, r, key)  # unpublished: plain stores; the swap below publishes them
            w = cas(slots, i, 0, tag << 32 | (r + 1))
            if w == 0:
                cursor[CUR_NEXT] = r + 1
                stats[ST_PROBES] += probes
                stats[ST_INSERTS] += 1
                return r
            # lost the slot: w is the winner's word
            if w >> 32 == tag and same_key(keys, (w & _LOW32) - 1, key):
                stats[ST_PROBES] += probes
                stats[ST_LOST_RACES] += 1
                return (w & _LOW32) - 1
            stats[ST_CAS_RETRIES] += 1
        elif w >> 32 == tag and same_key(keys, (w & _LOW32) - 1, key):
            stats[ST_PROBES] += probes
            return (w & _LOW32) - 1
        i = (i + 1) & mask
    stats[ST_PROBES] += len(slots)
    stats[ST_FAILED_INSERTS] += 1
    return -1


@inline_jit
def _find_private(slots, keys, ctr, pool, stats, key, h):
    """:func:`_find_shared` for a table only one thread touches: plain loads and stores."""
    mask = len(slots) - 1
    i = h & mask
    tag = h >> 32
    capacity = min(keys.shape[0], ctr.shape[0])
    for probes in range(1, len(slots) + 1):
        w = slots[i]
        if w == 0:
            r = pool[0]
            stats[ST_PROBES] += probes
            if r >= capacity:
                stats[ST_FAILED_INSERTS] += 1
                return -1
            pool[0] = r + 1
            _init_record(keys, ctr, r, key)
            slots[i] = tag << 32 | (r + 1)
            stats[ST_INSERTS] += 1
            return r
        if w >> 32 == tag and same_key(keys, (w & _LOW32) - 1, key):
            stats[ST_PROBES] += probes
            return (w & _LOW32) - 1
        i = (i + 1) & mask
    stats[ST_PROBES] += len(slots)
    stats[ST_FAILED_INSERTS] += 1
    return -1


@inline_jit
def _n_packets(ts, src, dst, pk):
    return min(len(ts), src.shape[0], dst.shape[0], pk.shape[1])


@ngjit
def count_range_shared(a, b, ts, src, dst, pk, slots, keys, ctr, pool, block, stats, cursor):
    """Count packets ``a .. b - 1`` into the shared table, with atomic updates.

    ``pool`` is the table's int64[16] row (next free record in 0), ``block`` the
    records a thread reserves at once, ``stats`` (int64[N_ST]) and ``cursor``
    (int64[N_CUR]) this thread's own rows.
    """
    n = _n_packets(ts, src, dst, pk)
    for i in range(max(a, 0), min(b, n)):
        stats[ST_PACKETS] += 1
        if pk[PK_KIND, i] == 0:
            stats[ST_NO_FLOW] += 1
            continue
        key, src_is_a = _packet_key(src, dst, pk, i)
        r = _find_shared(slots, keys, ctr, pool, block, stats, cursor, key, flow_hash(key))
        if r < 0:
            continue
        d = 0 if src_is_a else 1
        t = ts[i]
        fetch_add2(ctr, r, A_PKTS + d, 1)
        fetch_add2(ctr, r, A_IP_BYTES + d, np.int64(pk[PK_IP_LEN, i]))
        # first_ts only falls and last_ts only rises: a time that is no new extreme now never will be,
        # so most packets skip the (locked) read-modify-write
        if t < load2(ctr, r, FIRST_TS):
            fetch_min2(ctr, r, FIRST_TS, t)
        if t > load2(ctr, r, LAST_TS):
            fetch_max2(ctr, r, LAST_TS, t)


@ngjit
def count_range_private(a, b, ts, src, dst, pk, slots, keys, ctr, pool, stats):
    """Count packets ``a .. b - 1`` into a table no other thread touches (one shard's)."""
    n = _n_packets(ts, src, dst, pk)
    for i in range(max(a, 0), min(b, n)):
        stats[ST_PACKETS] += 1
        if pk[PK_KIND, i] == 0:
            stats[ST_NO_FLOW] += 1
            continue
        key, src_is_a = _packet_key(src, dst, pk, i)
        r = _find_private(slots, keys, ctr, pool, stats, key, flow_hash(key))
        if r < 0:
            continue
        d = 0 if src_is_a else 1
        t = ts[i]
        ctr[r, A_PKTS + d] += 1
        ctr[r, A_IP_BYTES + d] += np.int64(pk[PK_IP_LEN, i])
        ctr[r, FIRST_TS] = min(ctr[r, FIRST_TS], t)
        ctr[r, LAST_TS] = max(ctr[r, LAST_TS], t)


@inline_jit
def _thread_range(mode, t, n_threads, starts, ends, n):
    if mode == SPRAY:
        return t * n // n_threads, (t + 1) * n // n_threads
    if t < len(starts) and t < len(ends):
        return starts[t], ends[t]
    return 0, 0


@parallel_jit
def count_shared(n_threads, mode, starts, ends, ts, src, dst, pk, slots, keys, ctr, pool, block, stats, cursor):
    """Count a batch's packets into one table shared by ``n_threads`` threads.

    Parameters
    ----------
    n_threads : int
        Threads (``prange`` iterations); at most ``len(stats)`` run.
    mode : int
        :data:`RSS`: thread ``t`` takes ``[starts[t], ends[t])`` of the packet
        arrays, grouped by symmetric-RSS shard (:func:`shards.group_by_shard`).
        :data:`SPRAY`: thread ``t`` takes the ``t``-th of ``n_threads`` equal
        contiguous chunks, whatever their flows; ``starts``/``ends`` are unused.
    starts, ends : int64[n_threads]
    ts : int64[n]
    src, dst : uint64[n, 2]
        Addresses as two words each (their order decides sides A and B).
    pk : uint32[N_PK, n]
        Per-packet rows of :mod:`track` (``PK_KIND``, ``PK_VERSION``, ports, ``PK_IP_LEN``).
    slots, keys, ctr, pool :
        One table of :func:`new_tables` (row 0 of each), kept between batches.
    block : int
        Records a thread reserves from the pool at once (≥ 1).
    stats, cursor : int64[≥ n_threads, N_ST], int64[≥ n_threads, N_CUR]
        Per-thread rows, kept between batches.
    """
    n = _n_packets(ts, src, dst, pk)
    threads = min(n_threads, stats.shape[0], cursor.shape[0])
    step = max(block, 1)
    for t in prange(threads):
        a, b = _thread_range(mode, t, threads, starts, ends, n)
        count_range_shared(a, b, ts, src, dst, pk, slots, keys, ctr, pool, step, stats[t], cursor[t])


@parallel_jit
def count_sharded(starts, ends, ts, src, dst, pk, slots, keys, ctr, pool, stats):
    """Count a batch's packets into one private table per shard, one thread each.

    Shard ``s`` owns ``[starts[s], ends[s])`` of the packet arrays (grouped by
    symmetric-RSS shard, so each flow's packets are in one shard) and table
    ``s`` of :func:`new_tables` (``slots[s]``, ``keys[s]``, ...), and writes
    nothing else: no atomics, no shared writes. The union of the shards' flows is
    the shared table's result.
    """
    shards = min(len(starts), len(ends), slots.shape[0], keys.shape[0], ctr.shape[0], pool.shape[0],
                 stats.shape[0])
    for s in prange(shards):
        count_range_private(starts[s], ends[s], ts, src, dst, pk, slots[s], keys[s], ctr[s], pool[s], stats[s])
