"""Serialising packets back into capture records."""

import numpy as np

from .._jit import ngjit


@ngjit
def _put32le(out, pos, value):
    for k in range(4):
        out[np.uint64(pos + k)] = (value >> (8 * k)) & 0xFF


@ngjit
def _copy(out, pos, values, start, length):
    for k in range(length):
        out[np.uint64(pos + k)] = values[np.uint64(start + k)]


@ngjit
def pcap_records(values, offsets, ts, wirelen, out):
    """Write classic pcap records (little-endian, nanosecond timestamps).

    Parameters
    ----------
    values : uint8[:]
        Packet bytes, concatenated; packet ``i`` is ``values[offsets[i]:offsets[i + 1]]``.
    offsets : int64[n + 1]
    ts : int64[n]
        Nanoseconds since the epoch.
    wirelen : int64[n]
        Original lengths; a value below the captured length is raised to it.
    out : uint8[:]
        Output of exactly ``16 * n + offsets[n] - offsets[0]`` bytes.
    """
    pos = 0
    for i in range(len(ts)):
        start = offsets[i]
        length = offsets[i + 1] - start
        _put32le(out, pos, ts[i] // 1_000_000_000)
        _put32le(out, pos + 4, ts[i] % 1_000_000_000)
        _put32le(out, pos + 8, length)
        _put32le(out, pos + 12, max(wirelen[i], length))
        _copy(out, pos + 16, values, start, length)
        pos += 16 + length
    return pos


@ngjit
def pcapng_enhanced_blocks(values, offsets, ts, wirelen, iface, out):
    """Write pcapng Enhanced Packet Blocks (little-endian) for interfaces with
    nanosecond resolution. Parameters as :func:`pcap_records`, plus ``iface``
    (int64[n], the interface of each packet). ``out`` holds
    ``sum(32 + padded length)`` bytes, zero-filled (padding stays zero).
    """
    pos = 0
    for i in range(len(ts)):
        start = offsets[i]
        length = offsets[i + 1] - start
        block_len = 32 + ((length + 3) & ~3)
        _put32le(out, pos, 6)
        _put32le(out, pos + 4, block_len)
        _put32le(out, pos + 8, iface[i])
        _put32le(out, pos + 12, ts[i] >> 32)
        _put32le(out, pos + 16, ts[i] & 0xFFFFFFFF)
        _put32le(out, pos + 20, length)
        _put32le(out, pos + 24, max(wirelen[i], length))
        _copy(out, pos + 28, values, start, length)
        _put32le(out, pos + block_len - 4, block_len)
        pos += block_len
    return pos
