"""Toeplitz hashing as NICs compute it for receive-side scaling (RSS).

The hash of an input of n bytes is the XOR, over every set input bit i (most
significant bit first), of the 32-bit window of the key starting at bit i. A
table of each byte position's contribution for each of its 256 values turns this
into one lookup per input byte.

With the usual Microsoft key, the two directions of a connection land on
different queues; with a key made of the 16-bit pattern 0x6d5a repeated
(Woo and Park, "Scalable TCP Session Monitoring with Symmetric Receive-side
Scaling", 2012), swapping source and destination leaves the hash unchanged.
"""

from functools import lru_cache

import numpy as np

from .._jit import ngjit

MICROSOFT_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
SYMMETRIC_KEY = bytes.fromhex("6d5a" * 20)
MAX_INPUT = 36  # IPv6 addresses and ports; a 40-byte key covers 36 + 4 bytes


@lru_cache(maxsize=8)
def toeplitz_table(key: bytes) -> np.ndarray:
    """Per input byte position and value, its contribution to the hash (uint32[36, 256]).

    Cached per key; the returned array must not be modified.
    """
    if len(key) < MAX_INPUT + 4:
        raise ValueError(f"an RSS key needs {MAX_INPUT + 4} bytes, not {len(key)}")
    key_int = int.from_bytes(key[: MAX_INPUT + 4], "big")
    key_bits = 8 * (MAX_INPUT + 4)
    table = np.zeros((MAX_INPUT, 256), np.uint32)
    for position in range(MAX_INPUT):
        windows = [
            (key_int >> (key_bits - 32 - (8 * position + bit))) & 0xFFFFFFFF for bit in range(8)
        ]
        for value in range(256):
            h = 0
            for bit in range(8):
                if value & (0x80 >> bit):
                    h ^= windows[bit]
            table[position, value] = h
    return table


@ngjit
def toeplitz(table, data):
    """Toeplitz hash of ``data`` (uint8[:], at most 36 bytes) with a table from
    :func:`toeplitz_table`."""
    h = np.uint32(0)
    for position in range(len(data)):
        h ^= table[position, data[position]]
    return h


@ngjit
def _hash_input(src, dst, sport, dport, version, with_ports, scratch):
    """Lay out a packet's RSS input in ``scratch`` (uint8[36]); returns its length.

    Addresses then ports, in network byte order; IPv4 takes its 4-byte addresses
    out of the 16-byte columns (::ffff:a.b.c.d), as NICs hash them.
    """
    first = 12 if version == 4 else 0
    width = 16 - first
    for k in range(width):
        scratch[k] = src[first + k]
        scratch[width + k] = dst[first + k]
    n = 2 * width
    if with_ports:
        scratch[n] = sport >> 8
        scratch[n + 1] = sport & 0xFF
        scratch[n + 2] = dport >> 8
        scratch[n + 3] = dport & 0xFF
        n += 4
    return n


@ngjit
def rss_hashes(table, src, dst, sport, dport, version, with_ports, scratch, out):
    """RSS hash of every packet.

    Parameters
    ----------
    table : uint32[36, 256]
        From :func:`toeplitz_table`.
    src, dst : uint8[n, 16]
        Address columns.
    sport, dport, version : integer arrays [n]
    with_ports : bool[n]
        False hashes the addresses alone, as NICs do for packets without ports.
    scratch : uint8[36]
    out : uint32[n]
    """
    for i in range(len(out)):
        n = _hash_input(src[i], dst[i], sport[i], dport[i], version[i], with_ports[i], scratch)
        out[i] = toeplitz(table, scratch[:n])
