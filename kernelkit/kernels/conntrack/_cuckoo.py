"""Bucketized cuckoo hashing shared by :mod:`cuckoo` (DPDK) and :mod:`cuckoo_pp` (Cuckoo++).

Every function takes ``hinted``: False for plain cuckoo, True for Cuckoo++. The
callers pass a constant, so after inlining the unused branches fold away.

Layout
------
``tab`` int64[1, 8 * buckets]: bucket ``b`` is entries ``8b .. 8b + 7``, 64 bytes,
aligned to a cache line, as one ``rte_hash_bucket``. An entry packs::

    bits  0..39  record + 1 (0: the entry is empty)
    bits 40..55  signature: bits 47..62 of the key's hash
    bit  56      IN_ALT: the entry lives in its alternate bucket
    bit  57      BUSY: always set in an occupied entry
    bits 58..63  not the entry's: 6 bits of the bucket's 48-bit hint (Cuckoo++)

so one compare of the entry's bits 40..57 with ``sig | BUSY`` (or ``| IN_ALT``)
tests occupancy, signature and the bucket role at once; the key is read only
when it matches. The primary bucket is ``h & mask``; the alternate is
``b ^ alt_offset(sig)`` with a non-zero offset that depends on the signature
only, so either bucket of an entry gives the other without the key (DPDK's
``get_alt_bucket_index``).

Cuckoo++'s hint (a Bloom filter) lives in the top bits of the bucket's 8 entries,
so that reading it costs no cache line beyond the bucket's, as in the paper; hint
bit ``q`` (0..47) is bit ``58 + q // 8`` of entry ``q % 8``. Writes of an entry
keep those bits.

``meta`` int64: the breadth-first search's queue (``Q_*`` regions, working memory
of :func:`insert`; the table is not reentrant) and, for Cuckoo++, per bucket the
number of keys its hint describes (``moved_at``; read by inserts and removes only).

Probes are slots examined: a bucket visited counts 8, because all of its
signatures are compared at once (one cache line, as DPDK's vector compare).
Lookups count 8 or 16; inserts count 8 per bucket searched for a free slot.
"""

import numpy as np

from ..._jit import inline_jit
from ._probe import count
from .hashing import same_key
from .layout import S_DISPLACEMENTS, S_INSERT_HIST, S_INSERT_PROBES, S_PROBE_HIST, S_PROBES

ENTRY = 0  # the one row of ``tab``
BUCKET = 8
BUCKET_SHIFT = 3
REC_BITS = 40
REC_MASK = (1 << REC_BITS) - 1
SIG_SHIFT = 47  # the signature is the top 16 of the hash's 63 bits; buckets use the low ones
SIG_MASK = 0xFFFF
IN_ALT = 1 << 16  # flags of the tag (the entry's bits from REC_BITS on)
BUSY = 1 << 17

# Breadth-first search for a displacement path, as DPDK's
# rte_hash_cuckoo_make_space_mw (a queue of 1000 buckets there). Among random keys
# depths 0-2 hold 2 + 16 + 128 buckets and the rest of the queue is depth 3, so a
# path has at most 3 moves (a few more where pruned branches thin the tree); a
# failed insert has searched 1024 buckets (8192 probes).
QUEUE_LEN = 1024
Q_BUCKET = 0
Q_PARENT = QUEUE_LEN  # queue index of the node whose entry moves here, -1 at a root
Q_SLOT = 2 * QUEUE_LEN  # the slot of that entry in the parent's bucket
N_QUEUE = 3 * QUEUE_LEN

HINT_SHIFT = 58
OCC_MASK = (1 << HINT_SHIFT) - 1  # the entry itself
HINT_MASK = ~OCC_MASK  # the bucket's hint bits that the entry's word carries
HINT_BITS = 3  # bits per key in a bucket's 48-bit hint

_C_ALT = 0x5851F42D4C95  # odd and < 2**47: sig * C stays positive in int64
_C_HINT = 0x2F0F3CA5E2B1


def n_buckets(capacity):
    """Buckets for ``capacity`` records: a power of two, at least 2, 8 per bucket.

    No headroom, as rte_hash (``align32pow2(entries) / 8``): at a power-of-two
    capacity the table is full when the record pool is; with random keys the first
    insert fails above 99% load (measured at 2**16 and 2**20 entries), and the
    failures are the caller's to count.
    """
    need = max(2, -(-int(capacity) // BUCKET))
    if need * BUCKET >= 1 << REC_BITS:
        raise ValueError(f"capacity {capacity} too large for {REC_BITS}-bit record indexes")
    return 1 << (need - 1).bit_length()


def moved_at(buckets):
    """Where Cuckoo++'s counters start in ``meta``: keys of the bucket living in their alternate."""
    return N_QUEUE


def bucket_hint(tab, b):
    """Bucket ``b``'s 48-bit hint gathered from its entries (Python side, for tests and notebooks)."""
    hint = 0
    for s in range(BUCKET):
        field = (int(tab[ENTRY, b * BUCKET + s]) >> HINT_SHIFT) & 63
        for j in range(6):
            if field >> j & 1:
                hint |= 1 << (j * BUCKET + s)
    return hint


def new_table(capacity, hinted):
    buckets = n_buckets(capacity)
    n = buckets * BUCKET
    # One bucket per cache line: start the row on a 64-byte boundary.
    buf = np.zeros(n + BUCKET, np.int64)
    skip = (-buf.ctypes.data % 64) // 8
    tab = buf[skip:skip + n].reshape(1, n)
    meta = np.zeros(N_QUEUE + (buckets if hinted else 0), np.int64)
    return tab, meta


@inline_jit
def signature(h):
    return (h >> SIG_SHIFT) & SIG_MASK


@inline_jit
def alt_offset(sig, mask):
    """XOR distance between an entry's two buckets: non-zero, a function of ``sig`` only."""
    t = sig * _C_ALT
    x = (t ^ (t >> 29)) & mask
    if x == 0:
        x = 1  # the alternate must differ from the primary (mask >= 1: two buckets or more)
    return x


@inline_jit
def hint_bit(sig, i):
    """The ``i``-th (0..2) of the key's bits in a 48-bit hint, from disjoint fields of ``sig * C``."""
    return (((sig * _C_HINT) >> (14 + 16 * i)) & 0xFFFF) * 48 >> 16


@inline_jit
def _find(tab, keys, b, tag, key):
    base = b << BUCKET_SHIFT
    for s in range(BUCKET):
        v = tab[ENTRY, base + s]
        if ((v & OCC_MASK) >> REC_BITS) == tag:
            r = (v & REC_MASK) - 1
            if same_key(keys, r, key):
                return r
    return -1


@inline_jit
def _maybe_moved(tab, b, sig):
    """Whether bucket ``b``'s hint holds all of the key's bits."""
    base = b << BUCKET_SHIFT
    for i in range(HINT_BITS):
        q = hint_bit(sig, i)
        if ((tab[ENTRY, base + (q & 7)] >> (HINT_SHIFT + (q >> 3))) & 1) == 0:
            return False
    return True


@inline_jit
def _mark(tab, meta, prim, sig):
    """A key whose primary bucket is ``prim`` now lives in its alternate."""
    base = prim << BUCKET_SHIFT
    for i in range(HINT_BITS):
        q = hint_bit(sig, i)
        tab[ENTRY, base + (q & 7)] |= 1 << (HINT_SHIFT + (q >> 3))
    meta[N_QUEUE + prim] += 1


@inline_jit
def _unmark(tab, meta, prim):
    # The hint is a union of bits that cannot be taken apart: it is cleared when
    # the last key it describes leaves (the Cuckoo++ paper's counter).
    c = meta[N_QUEUE + prim] - 1
    meta[N_QUEUE + prim] = c
    if c == 0:
        base = prim << BUCKET_SHIFT
        for s in range(BUCKET):
            tab[ENTRY, base + s] &= OCC_MASK


@inline_jit
def lookup(tab, meta, stats, keys, h, key, hinted):
    buckets = tab.shape[1] >> BUCKET_SHIFT
    mask = buckets - 1
    sig = signature(h)
    b = h & mask
    r = _find(tab, keys, b, sig | BUSY, key)
    if r >= 0:
        count(stats, S_PROBES, S_PROBE_HIST, BUCKET)
        return r
    if hinted and not _maybe_moved(tab, b, sig):
        count(stats, S_PROBES, S_PROBE_HIST, BUCKET)  # the hint is in the bucket just read
        return -1
    r = _find(tab, keys, b ^ alt_offset(sig, mask), sig | BUSY | IN_ALT, key)
    count(stats, S_PROBES, S_PROBE_HIST, 2 * BUCKET)
    return r


@inline_jit
def _on_path(meta, node, b):
    """Whether bucket ``b`` is on the path from a root to queue node ``node``."""
    while node >= 0:
        if meta[Q_BUCKET + node] == b:
            return True
        node = meta[Q_PARENT + node]
    return False


@inline_jit
def _move(tab, meta, src, dst, hinted):
    """Move the entry at ``src`` to its other bucket's free entry ``dst``."""
    v = tab[ENTRY, src] & OCC_MASK
    tab[ENTRY, dst] = (tab[ENTRY, dst] & HINT_MASK) | (v ^ (IN_ALT << REC_BITS))
    # ``src`` is overwritten by the next move along the path, or by the new entry.
    if hinted:
        if (v >> REC_BITS) & IN_ALT:
            _unmark(tab, meta, dst >> BUCKET_SHIFT)  # back in its primary bucket
        else:
            _mark(tab, meta, src >> BUCKET_SHIFT, (v >> REC_BITS) & SIG_MASK)


@inline_jit
def insert(tab, meta, stats, keys, h, record, hinted):
    buckets = tab.shape[1] >> BUCKET_SHIFT
    mask = buckets - 1
    sig = signature(h)
    prim = h & mask
    alt = prim ^ alt_offset(sig, mask)
    # Breadth first from both buckets: the primary, then the alternate, are
    # searched for a free entry before any entry is moved. The search only reads;
    # the table changes once a path to a free entry is known, from its free end,
    # so a failed insert leaves it as it was.
    meta[Q_BUCKET] = prim
    meta[Q_PARENT] = -1
    meta[Q_SLOT] = -1
    meta[Q_BUCKET + 1] = alt
    meta[Q_PARENT + 1] = -1
    meta[Q_SLOT + 1] = -1
    tail = 2
    probes = 0
    for node in range(QUEUE_LEN):
        if node >= tail:
            break
        b = meta[Q_BUCKET + node]
        base = b << BUCKET_SHIFT
        probes += BUCKET
        free = -1
        for s in range(BUCKET):
            if (tab[ENTRY, base + s] & OCC_MASK) == 0:
                free = s
                break
        if free >= 0:
            at = node
            dst = base + free
            moves = 0
            while meta[Q_PARENT + at] >= 0:
                parent = meta[Q_PARENT + at]
                src = (meta[Q_BUCKET + parent] << BUCKET_SHIFT) + meta[Q_SLOT + at]
                _move(tab, meta, src, dst, hinted)
                moves += 1
                dst = src
                at = parent
            tag = sig | BUSY
            if at == 1:
                tag |= IN_ALT
            tab[ENTRY, dst] = (tab[ENTRY, dst] & HINT_MASK) | (record + 1) | (tag << REC_BITS)
            if hinted and at == 1:
                _mark(tab, meta, prim, sig)
            stats[S_DISPLACEMENTS] += moves
            count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
            return True
        # Full: each entry could move to its other bucket. Paths through a root or
        # through a bucket already on the path are longer than another path, or
        # would move an entry twice.
        for s in range(BUCKET):
            if tail >= QUEUE_LEN:
                break
            v = tab[ENTRY, base + s]
            c = b ^ alt_offset((v >> REC_BITS) & SIG_MASK, mask)
            if c == prim or c == alt or _on_path(meta, node, c):
                continue
            meta[Q_BUCKET + tail] = c
            meta[Q_PARENT + tail] = node
            meta[Q_SLOT + tail] = s
            tail += 1
    count(stats, S_INSERT_PROBES, S_INSERT_HIST, probes)
    return False


@inline_jit
def remove(tab, meta, stats, keys, h, record, hinted):
    buckets = tab.shape[1] >> BUCKET_SHIFT
    mask = buckets - 1
    sig = signature(h)
    prim = h & mask
    b = prim
    for _ in range(2):
        base = b << BUCKET_SHIFT
        for s in range(BUCKET):
            v = tab[ENTRY, base + s]
            if (v & REC_MASK) == record + 1:
                tab[ENTRY, base + s] = v & HINT_MASK
                if hinted and ((v & OCC_MASK) >> REC_BITS) & IN_ALT:
                    _unmark(tab, meta, prim)
                return True
        b = prim ^ alt_offset(sig, mask)
    return False


@inline_jit
def candidates(tab, meta, h, out):
    """The records in the key's two buckets (up to 16)."""
    mask = (tab.shape[1] >> BUCKET_SHIFT) - 1
    b = h & mask
    alt = b ^ alt_offset(signature(h), mask)
    n = 0
    for _ in range(2):
        base = b << BUCKET_SHIFT
        for s in range(BUCKET):
            r = tab[ENTRY, base + s] & REC_MASK
            if r > 0 and n < len(out):
                out[n] = r - 1
                n += 1
        b = alt
    return n
