"""Open addressing with linear probing.

Slots hold ``record + 1`` (0: empty) and the key's hash, so most mismatches are
settled without touching the record's key. Deletion shifts the following entries
back (Knuth's algorithm R), so there are no tombstones and lookups stay short.
"""

import numpy as np

from ..._jit import inline_jit
from ._probe import count
from .hashing import same_key
from .layout import S_DISPLACEMENTS, S_INSERT_HIST, S_INSERT_PROBES, S_PROBE_HIST, S_PROBES

SLOT_RECORD = 0
SLOT_HASH = 1


def new_table(capacity):
    """Slots for ``capacity`` records, rounded up to a power of two."""
    slots = 1 << max(1, int(capacity - 1).bit_length())
    return np.zeros((2, slots), np.int64), np.zeros(1, np.int64)


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    mask = tab.shape[1] - 1
    i = h & mask
    probes = 1
    while probes <= tab.shape[1]:
        r = tab[SLOT_RECORD, i]
        if r == 0:
            break
        if tab[SLOT_HASH, i] == h and same_key(keys, r - 1, key):
            count(stats, S_PROBES, S_PROBE_HIST, probes)
            return r - 1
        i = (i + 1) & mask
        probes += 1
    count(stats, S_PROBES, S_PROBE_HIST, min(probes, tab.shape[1]))
    return -1


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    mask = tab.shape[1] - 1
    i = h & mask
    for probes in range(1, tab.shape[1] + 1):
        if tab[SLOT_RECORD, i] == 0:
            tab[SLOT_RECORD, i] = record + 1
            tab[SLOT_HASH, i] = h
            count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
            return True
        i = (i + 1) & mask
    count(stats, S_INSERT_PROBES, S_INSERT_HIST, tab.shape[1])
    return False


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    mask = tab.shape[1] - 1
    i = h & mask
    for _ in range(tab.shape[1]):
        r = tab[SLOT_RECORD, i]
        if r == 0:
            return False
        if r == record + 1:
            break
        i = (i + 1) & mask
    else:
        return False
    # Shift back every following entry whose home slot does not lie in (i, j].
    # Bounded: a full table has no empty slot to stop at.
    j = i
    for _ in range(tab.shape[1] - 1):
        j = (j + 1) & mask
        if tab[SLOT_RECORD, j] == 0:
            break
        home = tab[SLOT_HASH, j] & mask
        if (j > i and (home <= i or home > j)) or (j < i and home <= i and home > j):
            tab[SLOT_RECORD, i] = tab[SLOT_RECORD, j]
            tab[SLOT_HASH, i] = tab[SLOT_HASH, j]
            stats[S_DISPLACEMENTS] += 1
            i = j
    tab[SLOT_RECORD, i] = 0
    tab[SLOT_HASH, i] = 0
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
