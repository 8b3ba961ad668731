"""Bucketized cuckoo hashing with signatures, as DPDK's ``rte_hash``.

Each key has two candidate buckets of 8 entries: the primary (low bits of its
hash) and an alternate derived from the primary and the key's 16-bit signature
alone, so entries can be moved without rereading their key. A lookup compares
the signatures of the primary bucket, then of the alternate, and reads a key only
on a signature match; a miss always visits both buckets. An insert takes a free
entry of either bucket, else searches breadth first (as
``rte_hash_cuckoo_make_space_mw``) for a chain of at most 3 moves that frees one,
and fails, leaving the table unchanged, when none is found within 1024 buckets.

Layout, probe counts and sizing: :mod:`._cuckoo`. In short, ``tab`` int64[1, 8 *
buckets] of packed entries (record + 1, signature, flags), one 64-byte bucket per
cache line, as many buckets as ``capacity`` needs without headroom; ``meta``
holds the search queue. Probes are slots examined, 8 per bucket visited: 8 or 16
per lookup, 8 per bucket searched per insert.

Notes
-----
DPDK ``lib/hash/rte_cuckoo_hash.c``; B. Fan, D. G. Andersen, M. Kaminsky,
"MemC3", NSDI 2013 (signatures and breadth-first cuckoo search); M. Girondi,
M. Chiesa, T. Barbette, "High-speed connection tracking in modern servers",
HPSR 2021.
"""

from ..._jit import inline_jit
from . import _cuckoo


def new_table(capacity):
    """Buckets of 8 for ``capacity`` records, rounded up to a power of two (no headroom)."""
    return _cuckoo.new_table(capacity, False)


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    return _cuckoo.lookup(tab, meta, stats, keys, h, key, False)


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    return _cuckoo.insert(tab, meta, stats, keys, h, record, False)


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    return _cuckoo.remove(tab, meta, stats, keys, h, record, False)


@inline_jit
def candidates(tab, meta, h, out):
    """The records in the key's two buckets."""
    return _cuckoo.candidates(tab, meta, h, out)
