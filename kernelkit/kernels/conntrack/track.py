"""The connection tracker: packets in, flow ids out, ended flows emitted.

State lives in arrays owned by the caller (:class:`kernelkit.conntrack.FlowTracker`)
and carries over between batches. Time is the trace's: a flow is over when a
packet arrives after its deadline (last packet + idle timeout, or close + linger),
whatever the expiry strategy; the strategy only decides when its memory is
reclaimed (scan, timer wheel) or whether it is reclaimed only when met again
(lazy). So every strategy gives the same flows, at different costs.

A call stops early, returning the next packet to process, when the output
buffer for ended flows is full; the caller drains it and calls again.
"""

import numpy as np

from numba import prange

from ..._jit import inline_jit, ngjit, parallel_jit
from . import chained, cuckoo, cuckoo_pp, hopscotch, linear, robin_hood
from .hashing import canonical_key, flow_hash, write_key
from .layout import (
    CHAINED,
    CLOSE_TS,
    CUCKOO,
    CUCKOO_PP,
    END_ACTIVE,
    END_FIN,
    END_IDLE,
    END_REASON,
    END_RST,
    END_TABLE_FULL,
    END_TRACE,
    EXPIRE_LAZY,
    EXPIRE_SCAN,
    EXPIRE_WHEEL,
    FIRST_TS,
    FLOW_ID,
    HANDSHAKE_RTT,
    KEY_PORTS_PROTO,
    LAST_TS,
    LINEAR,
    N_KEY,
    N_RI,
    ORIG_BYTES,
    ORIG_IAT_MAX,
    ORIG_IAT_MIN,
    ORIG_IAT_SUM,
    ORIG_IAT_SUMSQ_US,
    ORIG_IP_BYTES,
    ORIG_IS_A,
    ORIG_LAST_FIN,
    ORIG_LAST_RST,
    ORIG_LAST_SYN,
    ORIG_LAST_TS,
    ORIG_NEXT_SEQ,
    ORIG_PKTS,
    ORIG_PORT,
    ORIG_SIZE_MAX,
    ORIG_SIZE_MIN,
    ORIG_SIZE_SUMSQ,
    ORIG_WIRE_BYTES,
    RESP_PORT,
    ROBIN_HOOD,
    S_EVICTED,
    S_EXPIRED,
    S_EXPIRY_VISITS,
    S_FAILED_INSERTS,
    S_HITS,
    S_INSERTS,
    S_LIVE,
    S_LIVE_MAX,
    S_LOOKUPS,
    S_REMOVES,
    S_SKIPPED_PACKETS,
    SYN_TS,
    T_ACTIVE,
    T_OTHER,
    T_TCP_CLOSED,
    T_TCP_ESTABLISHED,
    T_TCP_HANDSHAKE,
    T_UDP,
    WHEEL_NEXT,
    WHEEL_PREV,
    WHEEL_SLOT,
)
from .tcp import ACK, H_DATA, SYN, add_letter, check_letter, closed, in_handshake, tcp_update, was_reset

EPOCH_NS = 1_000_000_000  # expiry works in epochs of one second, as the HPSR'21 lab

# Rows of the per-packet input (uint32[N_PK, n]), filled by the Python layer.
PK_KIND = 0  # 0: no flow (no IP, or a later fragment); else the IP protocol number
PK_VERSION = 1
PK_SPORT = 2
PK_DPORT = 3
PK_FLAGS = 4
PK_SEQ = 5
PK_IP_LEN = 6
PK_PAYLOAD = 7
PK_WIRELEN = 8
PK_WINDOW = 9
PK_ICMP_TYPE = 10
PK_ICMP_CODE = 11
N_PK = 12

# Control scalars (int64[N_CTL]).
C_FREE_TOP = 0  # records on the free stack
C_EPOCH = 1  # last epoch whose expiry work is done, or -1 before the first packet
C_SCAN_CURSOR = 2
C_SCAN_QUOTA = 3  # records a scan visits per epoch
C_EMITTED = 4  # ended flows in the output buffer
C_NOW = 5  # timestamp of the last packet
C_DRAIN_CURSOR = 6
N_CTL = 7

CANDIDATES = 16


@inline_jit
def _table_lookup(design, tab, meta, stats, keys, h, key):
    if design == LINEAR:
        return linear.lookup(tab, meta, stats, keys, h, key)
    if design == ROBIN_HOOD:
        return robin_hood.lookup(tab, meta, stats, keys, h, key)
    if design == CUCKOO:
        return cuckoo.lookup(tab, meta, stats, keys, h, key)
    if design == CUCKOO_PP:
        return cuckoo_pp.lookup(tab, meta, stats, keys, h, key)
    if design == CHAINED:
        return chained.lookup(tab, meta, stats, keys, h, key)
    return hopscotch.lookup(tab, meta, stats, keys, h, key)


@ngjit
def _table_insert(design, tab, meta, stats, keys, h, record):
    if design == LINEAR:
        return linear.insert(tab, meta, stats, keys, h, record)
    if design == ROBIN_HOOD:
        return robin_hood.insert(tab, meta, stats, keys, h, record)
    if design == CUCKOO:
        return cuckoo.insert(tab, meta, stats, keys, h, record)
    if design == CUCKOO_PP:
        return cuckoo_pp.insert(tab, meta, stats, keys, h, record)
    if design == CHAINED:
        return chained.insert(tab, meta, stats, keys, h, record)
    return hopscotch.insert(tab, meta, stats, keys, h, record)


@ngjit
def _table_remove(design, tab, meta, stats, keys, h, record):
    if design == LINEAR:
        return linear.remove(tab, meta, stats, keys, h, record)
    if design == ROBIN_HOOD:
        return robin_hood.remove(tab, meta, stats, keys, h, record)
    if design == CUCKOO:
        return cuckoo.remove(tab, meta, stats, keys, h, record)
    if design == CUCKOO_PP:
        return cuckoo_pp.remove(tab, meta, stats, keys, h, record)
    if design == CHAINED:
        return chained.remove(tab, meta, stats, keys, h, record)
    return hopscotch.remove(tab, meta, stats, keys, h, record)


@ngjit
def _table_candidates(design, tab, meta, h, out):
    if design == LINEAR:
        return linear.candidates(tab, meta, h, out)
    if design == ROBIN_HOOD:
        return robin_hood.candidates(tab, meta, h, out)
    if design == CUCKOO:
        return cuckoo.candidates(tab, meta, h, out)
    if design == CUCKOO_PP:
        return cuckoo_pp.candidates(tab, meta, h, out)
    if design == CHAINED:
        return chained.candidates(tab, meta, h, out)
    return hopscotch.candidates(tab, meta, h, out)


@inline_jit
def _record_key(keys, r):
    return (keys[r, 0], keys[r, 1], keys[r, 2], keys[r, 3], keys[r, 4])


@inline_jit
def _idle_timeout(keys, ri, r, timeouts):
    proto = (keys[r, KEY_PORTS_PROTO] >> np.uint64(8)) & np.uint64(0xFF)
    if proto == 6:
        return timeouts[T_TCP_HANDSHAKE] if in_handshake(ri, r) else timeouts[T_TCP_ESTABLISHED]
    if proto == 17:
        return timeouts[T_UDP]
    return timeouts[T_OTHER]


@inline_jit
def deadline(keys, ri, r, timeouts):
    """The last instant at which a packet still belongs to flow ``r``."""
    if ri[r, CLOSE_TS] >= 0:
        return ri[r, CLOSE_TS] + timeouts[T_TCP_CLOSED]
    return ri[r, LAST_TS] + _idle_timeout(keys, ri, r, timeouts)


@inline_jit
def _end_reason_if_expired(keys, ri, r, timeouts):
    if ri[r, CLOSE_TS] >= 0:
        return ri[r, END_REASON]
    return END_IDLE


@ngjit
def _wheel_unlink(ri, wheel, r):
    slot = ri[r, WHEEL_SLOT]
    if slot < 0:
        return
    nxt = ri[r, WHEEL_NEXT]
    prv = ri[r, WHEEL_PREV]
    if prv == 0:
        wheel[slot] = nxt
    else:
        ri[prv - 1, WHEEL_NEXT] = nxt
    if nxt != 0:
        ri[nxt - 1, WHEEL_PREV] = prv
    ri[r, WHEEL_SLOT] = -1
    ri[r, WHEEL_NEXT] = 0
    ri[r, WHEEL_PREV] = 0


@ngjit
def _wheel_link(ri, wheel, r, when):
    slot = (when // EPOCH_NS) & (len(wheel) - 1)
    head = wheel[slot]
    ri[r, WHEEL_NEXT] = head
    ri[r, WHEEL_PREV] = 0
    if head != 0:
        ri[head - 1, WHEEL_PREV] = r + 1
    wheel[slot] = r + 1
    ri[r, WHEEL_SLOT] = slot


@ngjit
def _emit(r, reason, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, out_keys, out_ri, out_hist):
    """Copy flow ``r`` to the output with its end reason, and free its record."""
    e = ctl[C_EMITTED]
    for f in range(N_KEY):
        out_keys[e, f] = keys[r, f]
    for f in range(N_RI):
        out_ri[e, f] = ri[r, f]
    out_ri[e, END_REASON] = reason
    for k in range(hist.shape[1]):
        out_hist[e, k] = hist[r, k]
    ctl[C_EMITTED] = e + 1
    _table_remove(design, tab, meta, stats, keys, flow_hash(_record_key(keys, r)), r)
    stats[S_REMOVES] += 1
    if expiry == EXPIRE_WHEEL:
        _wheel_unlink(ri, wheel, r)
    ri[r, FLOW_ID] = -1
    free[ctl[C_FREE_TOP]] = r
    ctl[C_FREE_TOP] += 1
    stats[S_LIVE] -= 1


@ngjit
def _new_record(key, h, t, index, src_is_a, flags, pk, i, design, expiry, keys, ri, hist, free, tab, meta, stats,
                ctl, wheel, timeouts, cand, out_keys, out_ri, out_hist):
    """Take a free record for a new flow and index it; -1 when there is no room."""
    for attempt in range(2):
        if ctl[C_FREE_TOP] > 0:
            r = free[ctl[C_FREE_TOP] - 1]
            write_key(keys, r, key)
            if _table_insert(design, tab, meta, stats, keys, h, r):
                ctl[C_FREE_TOP] -= 1
                break
            stats[S_FAILED_INSERTS] += 1
        if attempt == 1:
            return -1
        # No room: reuse a stale competitor, else evict the oldest one.
        n = _table_candidates(design, tab, meta, h, cand)
        if n == 0:
            return -1
        victim = cand[0]
        stale = False
        for k in range(n):
            c = cand[k]
            if ctl[C_NOW] > deadline(keys, ri, c, timeouts):
                victim = c
                stale = True
                break
            if ri[c, LAST_TS] < ri[victim, LAST_TS]:
                victim = c
        if stale:
            _emit(victim, _end_reason_if_expired(keys, ri, victim, timeouts), design, expiry, keys, ri, hist,
                  free, tab, meta, stats, ctl, wheel, out_keys, out_ri, out_hist)
            stats[S_EXPIRED] += 1
        else:
            _emit(victim, END_TABLE_FULL, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel,
                  out_keys, out_ri, out_hist)
            stats[S_EVICTED] += 1
    stats[S_INSERTS] += 1
    stats[S_LIVE] += 1
    stats[S_LIVE_MAX] = max(stats[S_LIVE_MAX], stats[S_LIVE])
    for f in range(N_RI):
        ri[r, f] = 0
    for k in range(hist.shape[1]):
        hist[r, k] = 0
    ri[r, FLOW_ID] = index
    ri[r, FIRST_TS] = t
    ri[r, CLOSE_TS] = -1
    ri[r, SYN_TS] = -1
    ri[r, HANDSHAKE_RTT] = -1
    ri[r, ORIG_NEXT_SEQ] = -1
    ri[r, ORIG_NEXT_SEQ + 1] = -1
    for d in range(2):
        ri[r, ORIG_SIZE_MIN + d] = -1
        ri[r, ORIG_IAT_MIN + d] = np.iinfo(np.int64).max  # gaps can be negative (time going back)
        ri[r, ORIG_IAT_MAX + d] = np.iinfo(np.int64).min
        ri[r, ORIG_LAST_TS + d] = -1
        ri[r, ORIG_LAST_SYN + d] = -1
        ri[r, ORIG_LAST_FIN + d] = -1
        ri[r, ORIG_LAST_RST + d] = -1
    ri[r, WHEEL_SLOT] = -1
    # The originator sent the first packet, unless that packet answers a SYN.
    flipped = pk[PK_KIND, i] == 6 and (flags & (SYN | ACK)) == (SYN | ACK)
    src_is_orig = not flipped
    ri[r, ORIG_IS_A] = 1 if src_is_a == src_is_orig else 0
    if pk[PK_KIND, i] == 1 or pk[PK_KIND, i] == 58:
        # ICMP has no ports: Zeek logs the type and code in their place.
        ri[r, ORIG_PORT] = pk[PK_ICMP_TYPE, i]
        ri[r, RESP_PORT] = pk[PK_ICMP_CODE, i]
    elif src_is_orig:
        ri[r, ORIG_PORT] = pk[PK_SPORT, i]
        ri[r, RESP_PORT] = pk[PK_DPORT, i]
    else:
        ri[r, ORIG_PORT] = pk[PK_DPORT, i]
        ri[r, RESP_PORT] = pk[PK_SPORT, i]
    if flipped:
        add_letter(ri, hist, r, 94)  # ^
    return r


@inline_jit
def _account(ri, hist, r, d, t, pk, i):
    """Add one packet from side ``d`` to flow ``r``'s counters."""
    size = np.int64(pk[PK_IP_LEN, i])
    ri[r, LAST_TS] = t
    ri[r, ORIG_PKTS + d] += 1
    ri[r, ORIG_IP_BYTES + d] += size
    ri[r, ORIG_BYTES + d] += pk[PK_PAYLOAD, i]
    ri[r, ORIG_WIRE_BYTES + d] += pk[PK_WIRELEN, i]
    if ri[r, ORIG_SIZE_MIN + d] < 0 or size < ri[r, ORIG_SIZE_MIN + d]:
        ri[r, ORIG_SIZE_MIN + d] = size
    ri[r, ORIG_SIZE_MAX + d] = max(ri[r, ORIG_SIZE_MAX + d], size)
    ri[r, ORIG_SIZE_SUMSQ + d] += size * size
    last = ri[r, ORIG_LAST_TS + d]
    if last >= 0:
        gap = t - last
        ri[r, ORIG_IAT_MIN + d] = min(ri[r, ORIG_IAT_MIN + d], gap)
        ri[r, ORIG_IAT_MAX + d] = max(ri[r, ORIG_IAT_MAX + d], gap)
        ri[r, ORIG_IAT_SUM + d] += gap
        gap_us = gap // 1000
        # a float64 kept in the int64 slot: squares of long gaps overflow int64
        ri.view(np.float64)[r, ORIG_IAT_SUMSQ_US + d] += np.float64(gap_us) * np.float64(gap_us)
    ri[r, ORIG_LAST_TS + d] = t
    if pk[PK_KIND, i] == 17 and pk[PK_PAYLOAD, i] > 0:
        check_letter(ri, hist, r, d, H_DATA, 68)  # D, as Zeek's UDP history
    elif pk[PK_KIND, i] == 6:
        flags = np.int64(pk[PK_FLAGS, i])
        tcp_update(ri, hist, r, d, flags, np.int64(pk[PK_SEQ, i]), np.int64(pk[PK_PAYLOAD, i]),
                   np.int64(pk[PK_WINDOW, i]), t)
        if ri[r, CLOSE_TS] < 0 and closed(ri, r):
            ri[r, CLOSE_TS] = t
            ri[r, END_REASON] = END_RST if was_reset(ri, r) else END_FIN


@ngjit
def _expiry_tick(t, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, timeouts, out_keys, out_ri,
                 out_hist):
    """Expiry work for the epochs up to ``t``; False when the output filled first."""
    epoch = t // EPOCH_NS
    capacity = ri.shape[0]
    out_cap = out_ri.shape[0]
    while ctl[C_EPOCH] < epoch:
        if expiry == EXPIRE_SCAN:
            # visit this epoch's share of the records; a long jump in time needs one full pass
            todo = ctl[C_SCAN_QUOTA] if epoch - ctl[C_EPOCH] == 1 else capacity
            for _ in range(min(todo, capacity)):
                if ctl[C_EMITTED] >= out_cap:
                    return False
                r = ctl[C_SCAN_CURSOR]
                ctl[C_SCAN_CURSOR] = (r + 1) % capacity
                stats[S_EXPIRY_VISITS] += 1
                if ri[r, FLOW_ID] >= 0 and t > deadline(keys, ri, r, timeouts):
                    _emit(r, _end_reason_if_expired(keys, ri, r, timeouts), design, expiry, keys, ri, hist, free,
                          tab, meta, stats, ctl, wheel, out_keys, out_ri, out_hist)
                    stats[S_EXPIRED] += 1
            ctl[C_EPOCH] = epoch if epoch - ctl[C_EPOCH] > 1 else ctl[C_EPOCH] + 1
        elif expiry == EXPIRE_WHEEL:
            # pop the slot of the next epoch; a jump of a whole turn or more visits every slot
            turns = min(epoch - ctl[C_EPOCH], len(wheel))
            for step in range(turns):
                slot = (ctl[C_EPOCH] + 1 + step) & (len(wheel) - 1)
                head = wheel[slot]
                wheel[slot] = 0
                while head != 0:
                    if ctl[C_EMITTED] >= out_cap:
                        wheel[slot] = head  # resume here
                        ri[head - 1, WHEEL_PREV] = 0
                        return False
                    r = head - 1
                    head = ri[r, WHEEL_NEXT]
                    if head != 0:
                        ri[head - 1, WHEEL_PREV] = 0
                    ri[r, WHEEL_SLOT] = -1
                    ri[r, WHEEL_NEXT] = 0
                    stats[S_EXPIRY_VISITS] += 1
                    limit = deadline(keys, ri, r, timeouts)
                    if t > limit:
                        _emit(r, _end_reason_if_expired(keys, ri, r, timeouts), design, expiry, keys, ri, hist,
                              free, tab, meta, stats, ctl, wheel, out_keys, out_ri, out_hist)
                        stats[S_EXPIRED] += 1
                    else:
                        # not due yet: file it under its current deadline
                        when = max(limit, (ctl[C_EPOCH] + 1 + step + 1) * EPOCH_NS)
                        _wheel_link(ri, wheel, r, when)
            ctl[C_EPOCH] = epoch
        else:
            ctl[C_EPOCH] = epoch
    return True


@ngjit
def track(design, expiry, index, ts, src, dst, pk, flow_id, direction, keys, ri, hist, free, tab, meta,
          stats, ctl, wheel, timeouts, cand, out_keys, out_ri, out_hist):
    """Assign each packet of a batch to its flow, emitting flows as they end.

    Parameters
    ----------
    design, expiry : int
        Hash-table design and expiry strategy (``layout.LINEAR``, ... ,
        ``layout.EXPIRE_SCAN``, ...).
    index : int64[n]
        Each packet's index in the trace (a flow's id is its first packet's index).
    ts : int64[n]
    src, dst : uint64[n, 2]
        Addresses as two words each.
    pk : uint32[N_PK, n]
        Per-packet fields (rows ``PK_*``).
    flow_id, direction : int64[n], uint8[n]
        Outputs: the packet's flow (-1: none) and side (0: from the originator).
    keys, ri, hist, free, tab, meta, stats, ctl, wheel, timeouts :
        Tracker state (see :class:`kernelkit.conntrack.FlowTracker`).
    cand : int64[16]
        Scratch space for eviction candidates.
    out_keys, out_ri, out_hist :
        Output buffer for ended flows; ``ctl[C_EMITTED]`` counts them.

    Returns
    -------
    int
        The next packet to process: ``n`` when the batch is done, less when the
        output buffer filled (drain it and call again from there).
    """
    out_cap = out_ri.shape[0]
    n = len(ts)
    for i in range(n):
        # Room for the worst case of one packet: a stale flow, an eviction.
        if ctl[C_EMITTED] + 2 > out_cap:
            return i
        t = ts[i]
        # Expiry work happens once per epoch: test here, call only then (a call passes
        # every array by value).
        if expiry != EXPIRE_LAZY and t // EPOCH_NS > ctl[C_EPOCH]:
            if not _expiry_tick(t, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, timeouts,
                                out_keys, out_ri, out_hist):
                return i
            if ctl[C_EMITTED] + 2 > out_cap:  # the tick may have filled the buffer: room for this packet first
                return i
        ctl[C_NOW] = max(ctl[C_NOW], t)
        now = ctl[C_NOW]  # trace time never goes back: deadlines are met at the latest time seen
        kind = pk[PK_KIND, i]
        if kind == 0:
            flow_id[i] = -1
            direction[i] = 0
            stats[S_SKIPPED_PACKETS] += 1
            continue
        key, src_is_a = canonical_key(src[i, 0], src[i, 1], dst[i, 0], dst[i, 1], np.uint64(pk[PK_SPORT, i]),
                                      np.uint64(pk[PK_DPORT, i]), np.uint64(kind & 0xFF),
                                      np.uint64(pk[PK_VERSION, i]))
        h = flow_hash(key)
        stats[S_LOOKUPS] += 1
        r = _table_lookup(design, tab, meta, stats, keys, h, key)
        flags = np.int64(pk[PK_FLAGS, i]) if kind == 6 else 0
        if r >= 0:
            stats[S_HITS] += 1
            if now > deadline(keys, ri, r, timeouts):
                _emit(r, _end_reason_if_expired(keys, ri, r, timeouts), design, expiry, keys, ri, hist, free, tab,
                      meta, stats, ctl, wheel, out_keys, out_ri, out_hist)
                stats[S_EXPIRED] += 1
                r = -1
            elif timeouts[T_ACTIVE] > 0 and now - ri[r, FIRST_TS] > timeouts[T_ACTIVE]:
                _emit(r, END_ACTIVE, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, out_keys,
                      out_ri, out_hist)
                r = -1
            elif ri[r, CLOSE_TS] >= 0 and (flags & (SYN | ACK)) == SYN:
                # a new connection on the 5-tuple of a closed one
                _emit(r, ri[r, END_REASON], design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, out_keys,
                      out_ri, out_hist)
                r = -1
        new = r < 0
        if new:
            r = _new_record(key, h, t, index[i], src_is_a, flags, pk, i, design, expiry, keys, ri, hist, free,
                            tab, meta, stats, ctl, wheel, timeouts, cand, out_keys, out_ri, out_hist)
            if r < 0:
                flow_id[i] = -1
                direction[i] = 0
                continue
        d = 0 if (ri[r, ORIG_IS_A] == 1) == src_is_a else 1
        _account(ri, hist, r, d, t, pk, i)
        if new and expiry == EXPIRE_WHEEL:
            _wheel_link(ri, wheel, r, deadline(keys, ri, r, timeouts))
        flow_id[i] = ri[r, FLOW_ID]
        direction[i] = d
    return n


@ngjit
def drain(now, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, timeouts, cand, out_keys,
          out_ri, out_hist):
    """Emit every flow still in the table at the end of the trace.

    A flow past its deadline ends as it would have (idle, FIN, RST); the others
    end with ``END_TRACE``. Returns True when done, False when the output
    buffer filled first (drain it and call again).
    """
    capacity = ri.shape[0]
    out_cap = out_ri.shape[0]
    while ctl[C_DRAIN_CURSOR] < capacity:
        if ctl[C_EMITTED] >= out_cap:
            return False
        r = ctl[C_DRAIN_CURSOR]
        ctl[C_DRAIN_CURSOR] = r + 1
        if ri[r, FLOW_ID] < 0:
            continue
        if now > deadline(keys, ri, r, timeouts):
            reason = _end_reason_if_expired(keys, ri, r, timeouts)
        elif ri[r, CLOSE_TS] >= 0:
            reason = ri[r, END_REASON]
        else:
            reason = END_TRACE
        _emit(r, reason, design, expiry, keys, ri, hist, free, tab, meta, stats, ctl, wheel, out_keys, out_ri,
              out_hist)
    return True



@parallel_jit
def track_shards(design, expiry, starts, ends, progress, index, ts, src, dst, pk, flow_id, direction, keys, ri, hist,
                 free, tab, meta, stats, ctl, wheel, timeouts, cand, out_keys, out_ri, out_hist):
    """:func:`track` on several shards at once, one table per shard, one thread each.

    Packets are grouped by shard: shard ``s`` owns ``[starts[s], ends[s])`` of the
    per-packet arrays, in trace order, and state ``keys[s]``, ``ri[s]``, ... No
    shard writes another's memory. ``progress[s]`` is where shard ``s`` resumes;
    a shard stops early when its output buffer is full (drain it, call again).
    """
    for s in prange(len(starts)):
        a = progress[s]
        b = ends[s]
        if a < b:
            done = track(design, expiry, index[a:b], ts[a:b], src[a:b], dst[a:b], pk[:, a:b], flow_id[a:b],
                         direction[a:b], keys[s], ri[s], hist[s], free[s], tab[s], meta[s], stats[s], ctl[s],
                         wheel[s], timeouts, cand[s], out_keys[s], out_ri[s], out_hist[s])
            progress[s] = a + done
