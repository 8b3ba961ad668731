"""Open addressing with hopscotch hashing, neighbourhood ``H`` = 32.

Every key lives within ``H`` slots of its home slot, and each home slot keeps a
bitmap of which of those slots hold its keys, so a lookup examines only the
slots the bitmap names (a few, in one or two cache lines). An insert finds the
nearest empty slot by linear probing (at most ``MAX_DIST`` slots), then, while
that slot is ``H`` or more slots from home, "hops" it back: an entry between
the empty slot and ``H - 1`` slots before it moves into the empty slot, if that
stays in its own neighbourhood, and leaves its old slot empty. When no entry
can move, the insert fails; the moves done so far keep every key in its
neighbourhood, so the table is still valid, only rearranged.

Slots hold ``record + 1`` (0: empty), the key's hash, and the hop bitmap of the
slot as a home (bit ``k``: slot ``home + k`` holds a key whose home is ``home``).
In a table of fewer than ``H`` slots the neighbourhood is the whole table.

Notes
-----
M. Herlihy, N. Shavit, M. Tzafrir, "Hopscotch Hashing", DISC 2008. HPSR'21
(Girondi, Chiesa, Barbette) tried hopscotch for connection tracking and found
it slower than cuckoo designs.
"""

import numpy as np

from ..._jit import inline_jit
from ._probe import count
from .hashing import same_key
from .layout import S_DISPLACEMENTS, S_INSERT_HIST, S_INSERT_PROBES, S_PROBE_HIST, S_PROBES

SLOT_RECORD = 0
SLOT_HASH = 1
SLOT_HOP = 2

H = 32  # neighbourhood: the bitmap fits in 32 bits, as in the paper
MAX_DIST = 512  # farthest empty slot an insert looks for before it gives up


def new_table(capacity):
    """Slots for ``capacity`` records, rounded up to a power of two."""
    slots = 1 << max(1, int(capacity - 1).bit_length())
    return np.zeros((3, slots), np.int64), np.zeros(1, np.int64)


@inline_jit
def _lowest_bit(bm):
    """Index of the lowest set bit of a non-zero bitmap."""
    k = 0
    while (bm >> k) & 1 == 0:
        k += 1
    return k


@inline_jit
def lookup(tab, meta, stats, keys, h, key):
    mask = tab.shape[1] - 1
    home = h & mask
    bm = tab[SLOT_HOP, home]
    probes = 0
    k = 0
    while bm != 0:
        if bm & 1:
            i = (home + k) & mask
            probes += 1
            if tab[SLOT_HASH, i] == h and same_key(keys, tab[SLOT_RECORD, i] - 1, key):
                count(stats, S_PROBES, S_PROBE_HIST, probes)
                return tab[SLOT_RECORD, i] - 1
        bm >>= 1
        k += 1
    # An empty bitmap still costs the read of the home slot.
    count(stats, S_PROBES, S_PROBE_HIST, max(probes, 1))
    return -1


@inline_jit
def insert(tab, meta, stats, keys, h, record):
    n = tab.shape[1]
    mask = n - 1
    hn = min(H, n)
    home = h & mask
    limit = min(n, MAX_DIST)
    probes = 0
    free = -1
    dist = 0
    for d in range(limit):
        probes += 1
        if tab[SLOT_RECORD, (home + d) & mask] == 0:
            free = (home + d) & mask
            dist = d
            break
    if free < 0:
        count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
        return False
    # Each hop brings the empty slot at least one slot closer, so `limit` hops bound it.
    for _ in range(limit):
        if dist < hn:
            break
        moved = False
        # Farthest home first: its entries can jump the longest way.
        for off in range(hn - 1, 0, -1):
            b = (free - off) & mask
            probes += 1
            # Entries of home b that lie before the empty slot may move into it.
            bm = tab[SLOT_HOP, b] & ((1 << off) - 1)
            if bm != 0:
                k = _lowest_bit(bm)
                j = (b + k) & mask
                tab[SLOT_RECORD, free] = tab[SLOT_RECORD, j]
                tab[SLOT_HASH, free] = tab[SLOT_HASH, j]
                tab[SLOT_HOP, b] = (tab[SLOT_HOP, b] & ~(1 << k)) | (1 << off)
                tab[SLOT_RECORD, j] = 0
                tab[SLOT_HASH, j] = 0
                stats[S_DISPLACEMENTS] += 1
                dist -= off - k
                free = j
                moved = True
                break
        if not moved:
            count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
            return False
    tab[SLOT_RECORD, free] = record + 1
    tab[SLOT_HASH, free] = h
    tab[SLOT_HOP, home] |= 1 << dist
    count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
    return True


@inline_jit
def remove(tab, meta, stats, keys, h, record):
    mask = tab.shape[1] - 1
    home = h & mask
    bm = tab[SLOT_HOP, home]
    k = 0
    while bm != 0:
        if bm & 1:
            i = (home + k) & mask
            if tab[SLOT_RECORD, i] == record + 1:
                tab[SLOT_RECORD, i] = 0
                tab[SLOT_HASH, i] = 0
                tab[SLOT_HOP, home] &= ~(1 << k)
                return True
        bm >>= 1
        k += 1
    return False


@inline_jit
def candidates(tab, meta, h, out):
    """The records in the first slots of the key's neighbourhood.

    Evicting any of them frees a slot that an insert of the key reaches without
    a hop.
    """
    mask = tab.shape[1] - 1
    n = 0
    for k in range(min(H, tab.shape[1])):
        if n == len(out):
            break
        r = tab[SLOT_RECORD, (h + k) & mask]
        if r > 0:
            out[n] = r - 1
            n += 1
    return n
