"""Flow keys and their hash."""

import numpy as np

from ..._jit import alloc_jit, inline_jit
from .layout import KEY_A_HI, KEY_A_LO, KEY_B_HI, KEY_B_LO, KEY_PORTS_PROTO

_M = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW63 = np.uint64(0x7FFFFFFFFFFFFFFF)


@inline_jit
def _mix(x):
    # splitmix64's finaliser: every input bit affects every output bit
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@inline_jit
def flow_hash(key):
    """63-bit hash of a five-word key (non-negative as int64)."""
    h = np.uint64(0)
    for k in range(5):
        h = _mix(h ^ (key[k] + _M * np.uint64(k + 1)))
    return np.int64(h & _LOW63)


@inline_jit
def same_key(keys, record, key):
    return (
        keys[record, KEY_A_HI] == key[0]
        and keys[record, KEY_A_LO] == key[1]
        and keys[record, KEY_B_HI] == key[2]
        and keys[record, KEY_B_LO] == key[3]
        and keys[record, KEY_PORTS_PROTO] == key[4]
    )


@inline_jit
def canonical_key(src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, version):
    """The direction-independent key of a packet, and whether its sender is side A.

    Side A is the smaller (address, port) pair, so both directions of a
    connection give the same key.
    """
    src_first = (src_hi, src_lo, sport) <= (dst_hi, dst_lo, dport)
    tail = np.uint64(proto << 8 | version)
    if src_first:
        ports = np.uint64(sport) << np.uint64(32) | np.uint64(dport) << np.uint64(16) | tail
        return (src_hi, src_lo, dst_hi, dst_lo, ports), True
    ports = np.uint64(dport) << np.uint64(32) | np.uint64(sport) << np.uint64(16) | tail
    return (dst_hi, dst_lo, src_hi, src_lo, ports), False


@inline_jit
def write_key(keys, record, key):
    for k in range(5):
        keys[record, k] = key[k]


@alloc_jit
def flow_hash_array(keys):
    """:func:`flow_hash` of every record's key (``keys`` uint64[n, 5])."""
    out = np.empty(keys.shape[0], np.int64)
    for r in range(keys.shape[0]):
        out[r] = flow_hash((keys[r, 0], keys[r, 1], keys[r, 2], keys[r, 3], keys[r, 4]))
    return out
