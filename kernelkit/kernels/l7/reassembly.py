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
               dropped):
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
    """
    capacity_ranges = ranges.shape[1]
    for i in range(len(stream)):
        s = stream[i]
        if flags[i] & SYN:
            if not started[s]:
                base[s] = (seq[i] + 1) & 0xFFFFFFFF
                started[s] = 1
            continue
        if length[i] <= 0:
            continue
        if not started[s]:
            base[s] = seq[i]
            started[s] = 1
        rel = _relative(seq[i], base[s])
        cap = out_offsets[s + 1] - out_offsets[s]
        lo = max(rel, 0)
        hi = min(rel + length[i], cap)
        if hi <= lo:
            continue  # wholly before the stream start, or beyond the prefix
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
