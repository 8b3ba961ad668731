"""Bounded in-order reassembly of the first bytes of each TCP stream.

Each direction of a connection is a stream. Its segments are placed at their
offset from the stream's first sequence number (the SYN's + 1 when the
handshake was seen, else the first segment's), into a buffer of fixed capacity:
session parsers read the beginning of a stream (a TLS ClientHello, HTTP request
headers, DNS messages), never the whole of it. Out-of-order segments are written
where they belong at once; a small set of ranges per stream records what lies
beyond the contiguous prefix, so that the prefix grows when a gap is filled.
Sequence numbers are compared modulo 2**32 (RFC 1982), so a stream that wraps
around is reassembled like any other.
"""

import numpy as np

from ..._jit import inline_jit, ngjit

SYN = 0x02


@inline_jit
def _relative(seq, base):
    """seq - base in sequence space, as a signed 32-bit distance."""
    d = (seq - base) & 0xFFFFFFFF
    return d - (1 << 32) if d >= (1 << 31) else d


@inline_jit
def _advance(s, filled, ranges, n_ranges):
    """Grow the contiguous prefix of stream ``s`` over held ranges that now touch it."""
    progress = True
    while progress:
        progress = False
        k = 0
        while k < n_ranges[s]:
            lo = ranges[s, k, 0]
            hi = ranges[s, k, 1]
            if lo <= filled[s]:
                if hi > filled[s]:
                    filled[s] = hi
                # drop range k: move the last one into its place
                last = n_ranges[s] - 1
                ranges[s, k, 0] = ranges[s, last, 0]
                ranges[s, k, 1] = ranges[s, last, 1]
                n_ranges[s] = last
                progress = True
            else:
                k += 1


@ngjit
def reassemble(stream, flags, seq, values, start, length, out, out_offsets, base, started, filled, ranges, n_ranges,
               dropped, syn_next, n_syn, placed):
    """Place each segment's payload in its stream's prefix buffer.

    Parameters
    ----------
    stream : int64[n]
        Stream of each segment (0 .. S-1), segments in capture order.
    flags, seq : integer arrays [n]
        TCP flags and raw sequence number.
    values : uint8[:]
        Packet bytes; segment ``i``'s payload is ``values[start[i] : start[i] + length[i]]``
        (only what was captured).
    out : uint8[:]
        Prefix buffers; stream ``s`` owns ``out[out_offsets[s] : out_offsets[s + 1]]``.
    base, started : int64[S], uint8[S]
        Sequence number of the stream's first payload byte, and whether known.
    filled : int64[S]
        Output: bytes of contiguous prefix (from the first byte, no gap).
    ranges, n_ranges : int64[S, K, 2], int64[S]
        Scratch: ranges received beyond the prefix, at most K per stream.
    dropped : int64[S]
        Output: segments beyond the prefix that could not be held (all K in use).
    syn_next, n_syn : int64[S, 2], int64[S]
        Scratch: the sequence number after the stream's first SYN and after a later,
        different one (a stale SYN-ACK before the real one, a reused port).
    placed : int64[n, 2]
        Output: the stream offsets ``[lo, hi)`` where segment ``i``'s bytes went,
        or ``-1, -1`` when none did (so callers can tell when each byte arrived).
    """
    capacity_ranges = ranges.shape[1]
    for i in range(len(stream)):
        s = stream[i]
        placed[i, 0] = -1
        placed[i, 1] = -1
        first_byte = seq[i]
        if flags[i] & SYN:
            # a SYN's data (TCP Fast Open) follows the SYN's own sequence number
            first_byte = (seq[i] + 1) & 0xFFFFFFFF
            if not started[s]:
                if n_syn[s] == 0:
                    syn_next[s, 0] = first_byte
                    n_syn[s] = 1
                elif first_byte != syn_next[s, 0]:
                    syn_next[s, 1] = first_byte
                    n_syn[s] = 2
        if length[i] <= 0:
            continue
        if not started[s]:
            # the stream starts after the SYN nearest its first payload byte, else at that byte
            base[s] = first_byte
            best = np.int64(1) << 32
            for k in range(n_syn[s]):
                distance = abs(_relative(first_byte, syn_next[s, k]))
                if distance < best:
                    best = distance
                    base[s] = syn_next[s, k]
            started[s] = 1
        rel = _relative(first_byte, base[s])
        cap = out_offsets[s + 1] - out_offsets[s]
        lo = max(rel, 0)
        hi = min(rel + length[i], cap)
        if hi <= lo:
            continue  # wholly before the stream start, or beyond the prefix
        placed[i, 0] = lo
        placed[i, 1] = hi
        first = start[i] + (lo - rel)
        dst = out_offsets[s]
        for k in range(hi - lo):
            out[dst + lo + k] = values[first + k]
        if lo <= filled[s]:
            if hi > filled[s]:
                filled[s] = hi
                _advance(s, filled, ranges, n_ranges)
        elif n_ranges[s] < capacity_ranges:
            ranges[s, n_ranges[s], 0] = lo
            ranges[s, n_ranges[s], 1] = hi
            n_ranges[s] += 1
        else:
            dropped[s] += 1
    return np.int64(0)
