"""Cuckoo++: bucketized cuckoo hashing whose buckets say which keys moved away.

The table of :mod:`cuckoo` plus, per bucket, a hint: a 48-bit Bloom filter (3 bits
per key, chosen by its signature) of the keys whose primary bucket this is but
which live in their alternate. A lookup visits the alternate bucket only when the
primary bucket's hint holds all of the key's bits, so most misses cost one bucket
instead of two, and hits in the primary bucket never need the second. The hint
sits in spare bits of the bucket's own entries, so, as in the paper, checking it
costs no memory access beyond the bucket's cache line.

A counter per bucket tracks how many keys its hint describes; when the last one
leaves (removed, or moved back to its primary) the hint is cleared, as in the
paper, so hints do not fill up with stale bits as flows come and go. Between two
such resets a hint may hold bits of departed keys: a false positive only costs a
visit to the alternate bucket.

Layout: :mod:`._cuckoo`; the counters follow the search queue in ``meta``
(``_cuckoo.moved_at``), 8 bytes per bucket of 8 entries, read by inserts and
removes only. Probes are slots examined, 8 per bucket visited: a hit in the
primary bucket or a miss ruled out by the hint counts 8, everything else 16.

Notes
-----
N. Le Scouarnec, "Cuckoo++ Hash Tables: High-Performance Hash Tables for
Networking Applications", ANCS 2018 (arXiv:1712.09624); M. Girondi, M. Chiesa,
T. Barbette, "High-speed connection tracking in modern servers", HPSR 2021.
"""

from ..._jit import inline_jit
from . import _cuckoo


def new_table(capacity):
    """Buckets of 8 for ``capacity`` records, rounded up to a power of two (no headroom)."""
    return _cuckoo.new_table(capacity, True)


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    return _cuckoo.lookup(tab, meta, stats, keys, h, key, True)


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    return _cuckoo.insert(tab, meta, stats, keys, h, record, True)


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    return _cuckoo.remove(tab, meta, stats, keys, h, record, True)


@inline_jit
def candidates(tab, meta, h, out):
    """The records in the key's two buckets."""
    return _cuckoo.candidates(tab, meta, h, out)
