"""Separate chaining over a fixed pool of nodes, with a free list.

Each bucket heads a singly linked list of nodes; a node holds the key's hash (so
most mismatches are settled without touching the record's key), the record, and
the link to the next node. Inserts push at the head of the chain, so they never
probe; they fail only when the node pool is empty. Removed nodes go back on a
free list threaded through the same ``next`` links. This is the textbook table
that the HPSR'21 study measures against cuckoo designs: no displacement, one
pointer chase per entry examined.

Layout of ``tab`` (int64[4, n], ``n`` = buckets, a power of two >= capacity, so
the node rows fit in the same columns):

``tab[HEAD, b]``
    First node of bucket ``b``, plus one (0: empty chain).
``tab[NODE_NEXT, k]``, ``tab[NODE_HASH, k]``, ``tab[NODE_RECORD, k]``
    Node ``k`` (``k < meta[M_NODES]``): next node plus one (0: end of chain),
    the key's hash, the record. Columns past ``meta[M_NODES]`` are unused.

``meta``: ``M_FREE`` the first free node plus one (0: pool empty), ``M_NODES``
the pool size (the ``capacity`` asked for).

A probe is one node examined; a lookup into an empty bucket counts one (its
head), so that every lookup costs at least one, as in the open-addressing
designs.

Notes
-----
D. E. Knuth, *The Art of Computer Programming*, vol. 3, §6.4 (chaining with
separate lists). HPSR'21: M. Girondi, M. Chiesa, T. Barbette, "High-speed
connection tracking in modern servers".
"""

import numpy as np

from ..._jit import inline_jit
from ._probe import count
from .hashing import same_key
from .layout import S_INSERT_HIST, S_INSERT_PROBES, S_PROBE_HIST, S_PROBES

HEAD = 0
NODE_NEXT = 1
NODE_HASH = 2
NODE_RECORD = 3

M_FREE = 0
M_NODES = 1

_CAND_BUCKETS = 1024  # buckets candidates() visits at most, past the key's own


def new_table(capacity):
    """Buckets (a power of two >= ``capacity``) and a pool of ``capacity`` nodes."""
    capacity = max(0, int(capacity))
    buckets = 1 << max(1, int(capacity - 1).bit_length())
    tab = np.zeros((4, buckets), np.int64)
    # Free list: node k links to node k + 1; the last one ends it.
    tab[NODE_NEXT, :capacity] = np.arange(2, capacity + 2)
    if capacity:
        tab[NODE_NEXT, capacity - 1] = 0
    meta = np.array([1 if capacity else 0, capacity], np.int64)
    return tab, meta


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    node = tab[HEAD, h & (tab.shape[1] - 1)]
    probes = 0
    # A chain never holds more than the pool's nodes; the bound only guards the loop.
    while node != 0 and probes < meta[M_NODES]:
        k = node - 1
        probes += 1
        if tab[NODE_HASH, k] == h and same_key(keys, tab[NODE_RECORD, k], key):
            count(stats, S_PROBES, S_PROBE_HIST, probes)
            return tab[NODE_RECORD, k]
        node = tab[NODE_NEXT, k]
    count(stats, S_PROBES, S_PROBE_HIST, max(probes, 1))
    return -1


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    count(stats, S_INSERT_PROBES, S_INSERT_HIST, 1)
    node = meta[M_FREE]
    if node == 0:
        return False
    k = node - 1
    meta[M_FREE] = tab[NODE_NEXT, k]
    b = h & (tab.shape[1] - 1)
    tab[NODE_NEXT, k] = tab[HEAD, b]
    tab[NODE_HASH, k] = h
    tab[NODE_RECORD, k] = record
    tab[HEAD, b] = node
    return True


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    b = h & (tab.shape[1] - 1)
    prev = 0
    node = tab[HEAD, b]
    for _ in range(meta[M_NODES]):
        if node == 0:
            return False
        k = node - 1
        if tab[NODE_RECORD, k] == record:
            if prev == 0:
                tab[HEAD, b] = tab[NODE_NEXT, k]
            else:
                tab[NODE_NEXT, prev - 1] = tab[NODE_NEXT, k]
            tab[NODE_NEXT, k] = meta[M_FREE]
            tab[NODE_HASH, k] = 0
            tab[NODE_RECORD, k] = 0
            meta[M_FREE] = node
            return True
        prev = node
        node = tab[NODE_NEXT, k]
    return False


@inline_jit
def candidates(tab, meta, h, out):
    """The records of the key's chain, then of the following buckets' chains.

    Every key competes for the one node pool, so any record is a fair victim;
    the neighbouring chains are the cheap ones to reach. With the pool full the
    load is at least one half, so the walk is short; it stops after
    ``_CAND_BUCKETS`` buckets in any case.
    """
    mask = tab.shape[1] - 1
    n = 0
    for b in range(min(tab.shape[1], _CAND_BUCKETS)):
        node = tab[HEAD, (h + b) & mask]
        for _ in range(meta[M_NODES]):
            if node == 0 or n == len(out):
                break
            out[n] = tab[NODE_RECORD, node - 1]
            n += 1
            node = tab[NODE_NEXT, node - 1]
        if n == len(out):
            break
    return n
