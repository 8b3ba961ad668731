"""Open addressing with Robin Hood hashing.

Linear probing in which an insert takes the slot of any entry that sits closer to
its home slot than the new key would ("steal from the rich"), and carries that
entry on instead. Probe distances stay even, so a lookup stops as soon as it meets
an entry closer to home than the key would be. Deletion shifts the following
entries back by one until an empty slot or an entry at its home, so there are no
tombstones.

Slots hold ``record + 1`` (0: empty) and the key's hash, from which an entry's
distance to its home slot follows (``(slot - hash) & mask``). ``meta[M_USED]``
counts the occupied slots, so that an insert into a full table fails at once
instead of displacing entries it cannot place.

Notes
-----
P. Celis, "Robin Hood Hashing", PhD thesis, University of Waterloo, 1986.
Backward-shift deletion: E. Goossaert, "Robin Hood hashing: backward shift
deletion", 2013 (the same shift as Knuth's algorithm R for linear probing).
"""

import numpy as np

from ..._jit import inline_jit
from ._probe import count
from .hashing import same_key
from .layout import S_DISPLACEMENTS, S_INSERT_HIST, S_INSERT_PROBES, S_PROBE_HIST, S_PROBES

SLOT_RECORD = 0
SLOT_HASH = 1

M_USED = 0  # occupied slots


def new_table(capacity):
    """Slots for ``capacity`` records, rounded up to a power of two."""
    slots = 1 << max(1, int(capacity - 1).bit_length())
    return np.zeros((2, slots), np.int64), np.zeros(1, np.int64)


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    n = tab.shape[1]
    mask = n - 1
    i = h & mask
    probes = 1
    while probes <= n:
        r = tab[SLOT_RECORD, i]
        if r == 0:
            break
        hi = tab[SLOT_HASH, i]
        # An entry closer to home than we are: the key would have taken its slot.
        if ((i - hi) & mask) < probes - 1:
            break
        if hi == h and same_key(keys, r - 1, key):
            count(stats, S_PROBES, S_PROBE_HIST, probes)
            return r - 1
        i = (i + 1) & mask
        probes += 1
    count(stats, S_PROBES, S_PROBE_HIST, min(probes, n))
    return -1


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    n = tab.shape[1]
    if meta[M_USED] >= n:
        count(stats, S_INSERT_PROBES, S_INSERT_HIST, 0)
        return False
    mask = n - 1
    i = h & mask
    cur_r = record + 1
    cur_h = h
    dist = 0  # of the entry being carried, from its home
    # An empty slot exists, so the walk ends within n slots.
    for probes in range(1, n + 1):
        r = tab[SLOT_RECORD, i]
        if r == 0:
            tab[SLOT_RECORD, i] = cur_r
            tab[SLOT_HASH, i] = cur_h
            meta[M_USED] += 1
            count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
            return True
        d = (i - tab[SLOT_HASH, i]) & mask
        if d < dist:
            hi = tab[SLOT_HASH, i]
            tab[SLOT_RECORD, i] = cur_r
            tab[SLOT_HASH, i] = cur_h
            cur_r = r
            cur_h = hi
            dist = d
            stats[S_DISPLACEMENTS] += 1
        i = (i + 1) & mask
        dist += 1
    count(stats, S_INSERT_PROBES, S_INSERT_HIST, n)
    return False


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    n = tab.shape[1]
    mask = n - 1
    i = h & mask
    for dist in range(n):
        r = tab[SLOT_RECORD, i]
        if r == 0 or ((i - tab[SLOT_HASH, i]) & mask) < dist:
            return False
        if r == record + 1:
            break
        i = (i + 1) & mask
    else:
        return False
    # Shift back the following entries until an empty slot or one at its home.
    for _ in range(n - 1):
        j = (i + 1) & mask
        if tab[SLOT_RECORD, j] == 0 or (tab[SLOT_HASH, j] & mask) == j:
            break
        tab[SLOT_RECORD, i] = tab[SLOT_RECORD, j]
        tab[SLOT_HASH, i] = tab[SLOT_HASH, j]
        stats[S_DISPLACEMENTS] += 1
        i = j
    tab[SLOT_RECORD, i] = 0
    tab[SLOT_HASH, i] = 0
    meta[M_USED] -= 1
    return True


@inline_jit
def candidates(tab, meta, h, out):
    """The records in the first slots of the key's probe sequence."""
    mask = tab.shape[1] - 1
    n = 0
    for k in range(min(len(out), tab.shape[1])):
        r = tab[SLOT_RECORD, (h + k) & mask]
        if r > 0:
            out[n] = r - 1
            n += 1
    return n
