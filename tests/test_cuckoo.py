"""Cuckoo and Cuckoo++ specifics: alternate buckets, displacement, failed inserts, hints.

The generic behaviour of every design (a dict as reference) is in
``test_tables.py``; these tests craft hashes (``sig << 47 | primary bucket``) to
put keys in chosen buckets. The inlined kernels run inside small ``numba.njit``
drivers compiled once per module (without Numba's cache: the package's cache key
does not follow edits of the conntrack modules).
"""

import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelkit.kernels.conntrack import _cuckoo, cuckoo, cuckoo_pp
from kernelkit.kernels.conntrack.hashing import flow_hash
from kernelkit.kernels.conntrack.layout import (
    N_STATS,
    S_DISPLACEMENTS,
    S_INSERT_HIST,
    S_INSERT_PROBES,
    S_PROBE_HIST,
    S_PROBES,
)

LOOKUP, INSERT, REMOVE, CANDIDATES = 0, 1, 2, 3
DESIGNS = {"cuckoo": cuckoo, "cuckoo_pp": cuckoo_pp}


def _make_driver(mod):
    lookup, insert, remove, candidates = mod.lookup, mod.insert, mod.remove, mod.candidates

    @nb.njit
    def run(tab, meta, stats, keys, hs, ops, args, out, cand):
        """Operation ``ops[i]`` on key/record ``args[i]`` (record ``k`` holds key ``k``)."""
        for i in range(len(ops)):
            k = args[i]
            h = hs[k]
            op = ops[i]
            if op == LOOKUP:
                key = (keys[k, 0], keys[k, 1], keys[k, 2], keys[k, 3], keys[k, 4])
                out[i] = lookup(tab, meta, stats, keys, h, key)
            elif op == INSERT:
                out[i] = insert(tab, meta, stats, keys, h, k)
            elif op == REMOVE:
                out[i] = remove(tab, meta, stats, keys, h, k)
            else:
                out[i] = candidates(tab, meta, h, cand)

    return run


@nb.njit
def _alt_offsets(sigs, mask, out):
    for i in range(len(sigs)):
        out[i] = _cuckoo.alt_offset(sigs[i], mask)


@nb.njit
def _hint_bits(sigs, out):
    for i in range(len(sigs)):
        out[i] = 0
        for j in range(_cuckoo.HINT_BITS):
            out[i] |= 1 << _cuckoo.hint_bit(sigs[i], j)


@nb.njit
def _flow_hashes(keys, out):
    for r in range(keys.shape[0]):
        out[r] = flow_hash((keys[r, 0], keys[r, 1], keys[r, 2], keys[r, 3], keys[r, 4]))


_drivers = {}
ALL_SIGS = np.arange(1 << 16, dtype=np.int64)


def alt_offsets(sigs, mask):
    out = np.empty(len(sigs), np.int64)
    _alt_offsets(np.asarray(sigs, np.int64), mask, out)
    return out


def hint_bits(sigs):
    out = np.empty(len(sigs), np.int64)
    _hint_bits(np.asarray(sigs, np.int64), out)
    return out


class Table:
    """A table of one design, its key pool (key ``k`` = record ``k``) and the keys' hashes."""

    def __init__(self, name, capacity, hs):
        self.mod = DESIGNS[name]
        self.hinted = name == "cuckoo_pp"
        if name not in _drivers:
            _drivers[name] = _make_driver(self.mod)
        self.run = _drivers[name]
        self.tab, self.meta = self.mod.new_table(capacity)
        self.buckets = self.tab.shape[1] // 8
        self.hs = np.asarray(hs, np.int64)
        self.keys = np.zeros((len(self.hs), 5), np.uint64)
        self.keys[:, 0] = np.arange(len(self.hs), dtype=np.uint64) + 1
        self.keys[:, 4] = 6 << 8 | 4
        self.stats = np.zeros(N_STATS, np.int64)
        self.cand = np.full(16, -1, np.int64)

    def ops(self, op, ks):
        ks = np.atleast_1d(np.asarray(ks, np.int64))
        out = np.empty(len(ks), np.int64)
        self.run(self.tab, self.meta, self.stats, self.keys, self.hs, np.full(len(ks), op, np.int64), ks, out,
                 self.cand)
        return out

    def lookup(self, k):
        return int(self.ops(LOOKUP, k)[0])

    def insert(self, k):
        return bool(self.ops(INSERT, k)[0])

    def remove(self, k):
        return bool(self.ops(REMOVE, k)[0])

    def candidates(self, k):
        n = int(self.ops(CANDIDATES, k)[0])
        return sorted(self.cand[:n].tolist())

    def hint(self, b):
        return _cuckoo.bucket_hint(self.tab, b)

    def moved(self, b):
        return int(self.meta[_cuckoo.moved_at(self.buckets) + b])

    def state(self):
        """The table's contents (not the search queue, which is working memory)."""
        return self.tab.copy(), self.meta[_cuckoo.N_QUEUE:].copy()

    def bucket_of(self, k):
        """(bucket, in_alt) of record ``k``, or None."""
        e = self.tab[0] & _cuckoo.OCC_MASK
        at = np.nonzero((e & _cuckoo.REC_MASK) == k + 1)[0]
        if len(at) == 0:
            return None
        return int(at[0] // 8), bool((e[at[0]] >> _cuckoo.REC_BITS) & _cuckoo.IN_ALT)

    def check(self, present):
        """Every entry in one of its key's buckets, flags right; Cuckoo++ counters and hints exact."""
        e = self.tab[0] & _cuckoo.OCC_MASK
        mask = self.buckets - 1
        occ = np.nonzero(e)[0]
        recs = (e[occ] & _cuckoo.REC_MASK) - 1
        assert sorted(recs.tolist()) == sorted(present)
        tags = e[occ] >> _cuckoo.REC_BITS
        assert np.all(tags & _cuckoo.BUSY)
        sig = tags & _cuckoo.SIG_MASK
        h = self.hs[recs]
        assert np.array_equal(sig, (h >> 47) & 0xFFFF)
        prim = h & mask
        alt = prim ^ alt_offsets(sig, mask)
        in_alt = (tags & _cuckoo.IN_ALT) != 0
        assert np.array_equal(np.where(in_alt, alt, prim), occ // 8)
        hints = np.array([self.hint(b) for b in range(self.buckets)], np.int64)
        if self.hinted:
            moved = np.bincount(prim[in_alt], minlength=self.buckets)
            at = _cuckoo.moved_at(self.buckets)
            assert np.array_equal(self.meta[at:at + self.buckets], moved)
            assert np.all(hints[moved == 0] == 0)
            bits = hint_bits(sig[in_alt])
            assert np.all(hints[prim[in_alt]] & bits == bits)
        else:
            assert not hints.any()


def crafted(buckets, prim, offset, n, skip=0):
    """``n`` hashes with primary bucket ``prim`` and alternate ``prim ^ offset``, distinct signatures."""
    sigs = ALL_SIGS[alt_offsets(ALL_SIGS, buckets - 1) == offset][skip:skip + n]
    assert len(sigs) == n
    return (sigs << 47) | prim


def test_alt_bucket_is_an_involution_and_never_the_primary():
    for log2 in (1, 2, 3, 7, 12, 20, 30):
        mask = (1 << log2) - 1
        x = alt_offsets(ALL_SIGS, mask)
        assert np.all((x >= 1) & (x <= mask))
        # alt(b) = b ^ x(sig), so alt(alt(b)) = b for every bucket, and the offset
        # is the same seen from either bucket: it depends on the signature alone.
        b = np.unique(np.r_[0, mask, np.random.default_rng(log2).integers(0, mask + 1, 32)])[:, None]
        a = b ^ x[None, :]
        assert np.all(a <= mask)
        assert np.all(a ^ x[None, :] == b)
        assert np.all(a != b)
        if log2 >= 7:  # the alternates spread over the table
            assert len(np.unique(x)) > (mask + 1) // 2 or len(np.unique(x)) > 30000


@pytest.mark.parametrize("capacity, slots", [(1, 16), (16, 16), (17, 32), (1000, 1024), (1024, 1024), (5000, 8192)])
@pytest.mark.parametrize("name", DESIGNS)
def test_new_table_sizing_without_headroom(name, capacity, slots):
    tab, meta = DESIGNS[name].new_table(capacity)
    assert tab.shape == (1, slots) and tab.dtype == np.int64 and tab.flags.c_contiguous
    assert tab.ctypes.data % 64 == 0  # one bucket per cache line
    assert not tab.any() and not meta.any()
    assert meta.shape == (_cuckoo.N_QUEUE + (slots // 8 if name == "cuckoo_pp" else 0),)


@pytest.mark.parametrize("name", DESIGNS)
def test_overflow_displaces_then_fails_without_changing_the_table(name):
    # 4 buckets. Keys A: buckets {0, 1}; keys B: buckets {1, 2}. Bucket 3 stays empty.
    a = crafted(4, 0, 1, 17)
    b = crafted(4, 1, 3, 8)
    t = Table(name, 32, np.concatenate([a, b]))
    A, B = list(range(17)), list(range(17, 25))
    for k in B + A[:8]:
        assert t.insert(k)
    assert t.stats[S_DISPLACEMENTS] == 0
    assert {t.bucket_of(k) for k in B} == {(1, False)} and {t.bucket_of(k) for k in A[:8]} == {(0, False)}
    # Both buckets of A[8] are full: one B moves from bucket 1 to its alternate 2.
    t.stats[:] = 0
    assert t.insert(A[8])
    assert t.stats[S_DISPLACEMENTS] == 1
    assert t.stats[S_INSERT_PROBES] == 3 * 8  # buckets 0, 1, then 2 (free) searched
    assert t.stats[S_INSERT_HIST + 24] == 1
    assert t.bucket_of(A[8]) == (1, True)
    moved = [k for k in B if t.bucket_of(k) == (2, True)]
    assert len(moved) == 1
    assert t.lookup(moved[0]) == moved[0]  # found in its alternate bucket
    t.check(B + A[:9])
    for k in A[9:16]:
        assert t.insert(k)
    assert t.stats[S_DISPLACEMENTS] == 8
    assert {t.bucket_of(k) for k in B} == {(2, True)}
    t.check(A[:16] + B)
    # A[16]: buckets 0 and 1 hold only A keys, which can only swap between them.
    before = t.state()
    t.stats[:] = 0
    assert not t.insert(A[16])
    assert t.stats[S_DISPLACEMENTS] == 0 and t.stats[S_INSERT_PROBES] == 16
    after = t.state()
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert t.lookup(A[16]) == -1
    for k in A[:16] + B:
        assert t.lookup(k) == k
    assert t.candidates(A[16]) == sorted(A[:16])
    assert t.candidates(B[0]) == sorted(A[8:16] + B)
    # Removing makes room again, and the entries stay consistent.
    assert t.remove(A[3]) and not t.remove(A[3])
    assert t.insert(A[16]) and t.lookup(A[16]) == A[16] and t.lookup(A[3]) == -1
    t.check([k for k in A + B if k != A[3]])


@pytest.mark.parametrize("name", DESIGNS)
def test_deeper_displacement_path(name):
    # A chain 0 -> 1 -> 2 -> 3: keys of bucket i (i < 3) have alternate i + 1.
    # 2 buckets would be too few for paths; 8 buckets, offsets 1 (0<->1), 3 (1<->2), 1 (2<->3).
    c0 = crafted(8, 0, 1, 9)
    c1 = crafted(8, 1, 3, 8)
    c2 = crafted(8, 2, 1, 8)
    t = Table(name, 64, np.concatenate([c0, c1, c2]))
    for k in range(9, 25):  # buckets 1 and 2 full of their own keys
        assert t.insert(k)
    for k in range(8):
        assert t.insert(k)
    t.stats[:] = 0
    assert t.insert(8)  # 2 -> 3, then 1 -> 2, then the new key in 1
    assert t.stats[S_DISPLACEMENTS] == 2
    assert t.bucket_of(8) == (1, True)
    t.check(list(range(25)))
    for k in range(25):
        assert t.lookup(k) == k


def test_cuckoo_miss_visits_both_buckets():
    t = Table("cuckoo", 32, crafted(4, 3, 1, 2))
    assert t.insert(0)
    t.stats[:] = 0
    assert t.lookup(1) == -1 and t.stats[S_PROBES] == 16 and t.stats[S_PROBE_HIST + 16] == 1
    assert t.lookup(0) == 0 and t.stats[S_PROBES] == 24 and t.stats[S_PROBE_HIST + 8] == 1


def test_cuckoo_pp_miss_with_clear_hint_visits_one_bucket():
    a = crafted(4, 0, 1, 40)
    t = Table("cuckoo_pp", 32, a)
    for k in range(8):
        assert t.insert(k)
    # Bucket 0 is full, but none of its keys moved: its hint is clear, and a miss
    # costs one bucket (plain cuckoo: two, test above).
    assert t.hint(0) == 0 and t.moved(0) == 0
    t.stats[:] = 0
    assert t.lookup(8) == -1 and t.stats[S_PROBES] == 8 and t.stats[S_PROBE_HIST + 8] == 1
    # Key 8 goes to its alternate bucket 1: bucket 0's hint now holds its bits.
    assert t.insert(8)
    assert t.bucket_of(8) == (1, True)
    bits = int(hint_bits([(a[8] >> 47) & 0xFFFF])[0])
    assert t.hint(0) == bits and t.moved(0) == 1
    assert t.hint(1) == 0 and t.moved(1) == 0
    t.stats[:] = 0
    assert t.lookup(8) == 8 and t.stats[S_PROBES] == 16  # primary, then the hinted alternate
    assert t.lookup(3) == 3 and t.stats[S_PROBES] == 24  # hit in the primary bucket
    # Other keys of primary 0 whose bits are not all in the hint: still one bucket;
    # those whose bits are (false positives of the hint) visit both.
    others = hint_bits((a[9:] >> 47) & 0xFFFF)
    clear = 9 + np.flatnonzero(others & bits != others)
    assert len(clear) > 25
    t.stats[:] = 0
    assert (t.ops(LOOKUP, clear) == -1).all() and t.stats[S_PROBES] == 8 * len(clear)
    t.stats[:] = 0
    assert (t.ops(LOOKUP, np.arange(9, 40)) == -1).all()
    assert t.stats[S_PROBES] == 8 * len(clear) + 16 * (31 - len(clear))
    # Removing the moved key resets the hint exactly.
    assert t.remove(8)
    assert t.hint(0) == 0 and t.moved(0) == 0
    t.check(list(range(8)))


def test_cuckoo_pp_hint_follows_displacements():
    # The overflow scenario: B keys displaced to their alternate get hinted in
    # their primary bucket 1; A keys placed in their alternate 1, in bucket 0.
    a = crafted(4, 0, 1, 16)
    b = crafted(4, 1, 3, 8)
    t = Table("cuckoo_pp", 32, np.concatenate([a, b]))
    for k in list(range(16, 24)) + list(range(8)):
        assert t.insert(k)
    assert t.moved(0) == 0 and t.moved(1) == 0 and t.hint(1) == 0
    for k in range(8, 16):
        assert t.insert(k)
    assert t.moved(0) == 8 and t.moved(1) == 8
    t.check(list(range(24)))
    bits_b = np.bitwise_or.reduce(hint_bits((b >> 47) & 0xFFFF))
    assert t.hint(1) == bits_b
    for k in range(16, 23):
        assert t.remove(k)
    assert t.moved(1) == 1 and t.hint(1) == bits_b  # stale bits stay until the last one leaves
    assert t.remove(23)
    assert t.moved(1) == 0 and t.hint(1) == 0
    t.check(list(range(16)))


@pytest.mark.parametrize("name", DESIGNS)
def test_fill_beyond_95_percent_with_random_keys(name):
    capacity = 1 << 13
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 1 << 62, size=(capacity, 5), dtype=np.int64).astype(np.uint64)
    hs = np.empty(capacity, np.int64)
    _flow_hashes(keys, hs)
    t = Table(name, capacity, hs)
    t.keys[:] = keys
    n = int(capacity * 0.95)
    assert t.ops(INSERT, np.arange(n)).all()
    assert t.stats[S_DISPLACEMENTS] > 0
    assert np.array_equal(t.ops(LOOKUP, np.arange(capacity)), np.r_[np.arange(n), np.full(capacity - n, -1)])
    t.check(list(range(n)))
    # Beyond 95% most inserts still succeed; a failure leaves the others in place.
    ok = t.ops(INSERT, np.arange(n, capacity)).astype(bool)
    present = list(range(n)) + (np.arange(n, capacity)[ok]).tolist()
    assert len(present) > 0.97 * capacity
    t.check(present)
    if name == "cuckoo_pp":  # most hits need one bucket, misses are rarely hinted
        t.stats[:] = 0
        t.ops(LOOKUP, np.arange(capacity))
        assert t.stats[S_PROBES] < 1.5 * 8 * capacity


SIG_POOL = 6  # few signatures, so that distinct keys share a signature (and a hash)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(DESIGNS)),
    homes=st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 1, 2, 3]), st.integers(0, SIG_POOL - 1)),
                   min_size=40, max_size=40),
    ops=st.lists(st.tuples(st.sampled_from([INSERT, INSERT, INSERT, LOOKUP, REMOVE]), st.integers(0, 39)),
                 min_size=40, max_size=200),
)
def test_random_operations_on_four_crowded_buckets(name, homes, ops):
    # Alternate offsets 1, 1, 2, 3, 3, 3 in a table of 4 buckets (32 entries) and
    # 40 keys: buckets overflow, paths form, inserts fail.
    x = alt_offsets(ALL_SIGS, 3)
    sigs = np.r_[ALL_SIGS[x == 1][:2], ALL_SIGS[x == 2][:1], ALL_SIGS[x == 3][:3]]
    hs = [int(sigs[s]) << 47 | p for p, s in homes]
    t = Table(name, 32, hs)
    present = set()
    for op, k in ops:
        if op == INSERT and k not in present:
            before = t.state()
            if t.insert(k):
                present.add(k)
            else:
                after = t.state()
                assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
        elif op == REMOVE:
            assert t.remove(k) == (k in present)
            present.discard(k)
        else:
            assert t.lookup(k) == (k if k in present else -1)
    t.check(sorted(present))
    found = t.ops(LOOKUP, np.arange(40))
    assert found.tolist() == [k if k in present else -1 for k in range(40)]


@pytest.mark.parametrize("name", DESIGNS)
def test_churn_near_full_against_a_set(name):
    # Seeded sequences that keep the table at the edge: displacements and failed
    # inserts happen in every run (asserted), and neither loses a key.
    failed = displaced = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        buckets = 4 if seed % 2 else 8
        x = alt_offsets(ALL_SIGS, buckets - 1)
        sigs = rng.choice(ALL_SIGS, 12, replace=False)  # 12 signatures for 60 keys: hashes repeat
        hs = (sigs[rng.integers(0, 12, 60)] << 47) | rng.integers(0, buckets, 60)
        assert len(np.unique(x[sigs])) > 1
        t = Table(name, 8 * buckets, hs)
        present = set()
        for step in range(400):
            k = int(rng.integers(0, 60))
            if k in present and rng.random() < 0.3:
                assert t.remove(k)
                present.discard(k)
            elif k not in present:
                before = t.state()
                if t.insert(k):
                    present.add(k)
                else:
                    failed += 1
                    after = t.state()
                    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
            if step % 50 == 49:
                t.check(sorted(present))
        displaced += int(t.stats[S_DISPLACEMENTS])
        t.check(sorted(present))
        assert t.ops(LOOKUP, np.arange(60)).tolist() == [k if k in present else -1 for k in range(60)]
    assert failed > 0 and displaced > 0
