"""The hash-table designs of the connection tracker, each against a Python dict.

Every design module (``kernelkit.kernels.conntrack.<name>``) has the same
``new_table / lookup / insert / remove / candidates`` functions. They are
inlined helpers, so they run here inside small ``numba.njit`` drivers built once
per design. The same tests check every design that imports; designs still being
written (cuckoo, cuckoo_pp) are skipped until they do.

Run with NUMBA_BOUNDSCHECK=1 (tests/conftest.py): an out-of-bounds slot is an
IndexError here. Tests run under a watchdog (faulthandler), so an operation that
loops forever ends the run with a stack dump instead of blocking it; known hangs
(``REMOVE_FROM_FULL_HANGS``) are stepped around and checked in a child process.
"""

from __future__ import annotations

import faulthandler
import functools
import importlib
import os
import subprocess
import sys
import time

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernelkit.kernels.conntrack.hashing import flow_hash
from kernelkit.kernels.conntrack.layout import (
    HIST_BINS,
    N_STATS,
    S_DISPLACEMENTS,
    S_INSERT_HIST,
    S_INSERT_PROBES,
    S_PROBE_HIST,
    S_PROBES,
)

DESIGN_NAMES = ["linear", "robin_hood", "chained", "hopscotch", "cuckoo", "cuckoo_pp"]
OPTIONAL = {"cuckoo", "cuckoo_pp"}  # written alongside this suite; skipped until they import


def _import_designs():
    loaded, missing = {}, {}
    for name in DESIGN_NAMES:
        try:
            loaded[name] = importlib.import_module(f"kernelkit.kernels.conntrack.{name}")
        except Exception as exc:  # a design half-written by someone else must not break the rest
            if name not in OPTIONAL:
                raise
            missing[name] = f"{type(exc).__name__}: {exc}"
    return loaded, missing


MODULES, MISSING = _import_designs()
DESIGNS = list(MODULES.values())
"""The design modules under test."""

DESIGN_PARAMS = [
    pytest.param(name, id=name, marks=pytest.mark.skipif(name in MISSING, reason=f"{name}: {MISSING.get(name)}"))
    for name in DESIGN_NAMES
]

_HOPSCOTCH_H = 32  # below this many slots, a hopscotch neighbourhood is the whole table


def must_fit(name, tab, meta, capacity, live):
    """True when the design must place one more key, False when it must refuse, None: either.

    None is for designs that may refuse a key before the table is full (cuckoo kicks or
    hopscotch hops that find no way); the test then checks that the table is unchanged.
    """
    if name in ("linear", "robin_hood"):
        return live < tab.shape[1]
    if name == "chained":
        return live < capacity
    if name == "hopscotch":
        if live >= tab.shape[1]:
            return False
        return True if tab.shape[1] <= _HOPSCOTCH_H else None
    return None


# Known kernel bugs, per design: the tests step around them (a hang cannot be caught in
# process) and report them as xfail; ``test_remove_from_full_table`` says when one is fixed.
REMOVE_FROM_FULL_HANGS: dict[str, str] = {}

# Designs whose inserts move entries under load (Robin Hood swaps, hops, cuckoo kicks).
DISPLACING = {"robin_hood", "hopscotch", "cuckoo", "cuckoo_pp"}
# Designs whose mean probes per successful lookup grow strictly from load 0.5 to 0.9.
GROWING = {"linear", "robin_hood", "chained"}

EXAMPLES = int(os.environ.get("KERNELKIT_PROPERTY_EXAMPLES", "60"))
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis directory in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,  # shrink one failure, quickly
)
WATCHDOG = 120  # seconds for one fill, compile included; a bounded insert takes microseconds

FIXED_CHECK_TIMEOUT = 3  # seconds for a child process to run a known hang, once compiled

CAND = 16
OP_LOOKUP, OP_INSERT, OP_REMOVE, OP_CANDIDATES = 0, 1, 2, 3


# --- drivers ------------------------------------------------------------------------------


@functools.cache
def drivers(name):
    """The njit driver of one design, compiled on first use and shared by every test."""
    mod = MODULES[name]
    lookup, insert, remove, candidates = mod.lookup, mod.insert, mod.remove, mod.candidates

    @numba.njit(cache=False)
    def run_ops(tab, meta, stats, keys, ops, recs, hashes, qkeys, out, cand):
        """Operation i on key ``qkeys[i]`` (record ``recs[i]``, hash ``hashes[i]``)."""
        for i in range(len(ops)):
            op = ops[i]
            h = hashes[i]
            r = recs[i]
            if op == OP_LOOKUP:
                key = (qkeys[i, 0], qkeys[i, 1], qkeys[i, 2], qkeys[i, 3], qkeys[i, 4])
                out[i] = lookup(tab, meta, stats, keys, h, key)
            elif op == OP_INSERT:
                for f in range(5):
                    keys[r, f] = qkeys[i, f]
                out[i] = 1 if insert(tab, meta, stats, keys, h, r) else 0
            elif op == OP_REMOVE:
                out[i] = 1 if remove(tab, meta, stats, keys, h, r) else 0
            else:
                out[i] = candidates(tab, meta, h, cand[i])

    return run_ops


@numba.njit(cache=False)
def _flow_hashes(qkeys):
    out = np.empty(qkeys.shape[0], np.int64)
    for i in range(qkeys.shape[0]):
        out[i] = flow_hash((qkeys[i, 0], qkeys[i, 1], qkeys[i, 2], qkeys[i, 3], qkeys[i, 4]))
    return out


def hashes_of(qkeys, mode):
    """The keys' hashes: the tracker's own, or a degenerate one that makes long chains."""
    if mode == "flow":
        return _flow_hashes(qkeys)
    if mode == "mod4":
        return (qkeys[:, 4] % np.uint64(4)).astype(np.int64)
    if mode == "zero":
        return np.zeros(qkeys.shape[0], np.int64)
    raise ValueError(mode)


class Table:
    """One design's table with its record keys, driven one batch of operations at a time."""

    def __init__(self, name, capacity, records):
        self.name = name
        self.capacity = capacity
        self.tab, self.meta = MODULES[name].new_table(capacity)
        assert self.tab.dtype == np.int64 and self.tab.ndim == 2 and self.tab.flags.c_contiguous
        assert self.meta.dtype == np.int64 and self.meta.ndim == 1
        self.stats = np.zeros(N_STATS, np.int64)
        self.keys = np.zeros((records, 5), np.uint64)  # the tracker's layout: one row per record
        self.run = drivers(name)
        self.lookups = 0
        self.inserts = 0
        # Buffers for one operation at a time (the property test makes thousands of calls).
        self._op = np.zeros(1, np.int64)
        self._rec = np.zeros(1, np.int64)
        self._h = np.zeros(1, np.int64)
        self._key = np.zeros((1, 5), np.uint64)
        self._out = np.zeros(1, np.int64)
        self._cand = np.zeros((1, CAND), np.int64)

    def ops(self, ops, recs, hashes, qkeys):
        """Run a batch; returns (out, candidates)."""
        n = len(ops)
        ops = np.ascontiguousarray(ops, np.int64)
        self.lookups += int(np.sum(ops == OP_LOOKUP))
        self.inserts += int(np.sum(ops == OP_INSERT))
        out = np.zeros(n, np.int64)
        cand = np.full((n, CAND), -7, np.int64)
        self.run(self.tab, self.meta, self.stats, self.keys, ops, np.ascontiguousarray(recs, np.int64),
                 np.ascontiguousarray(hashes, np.int64), np.ascontiguousarray(qkeys, np.uint64), out, cand)
        return out, cand

    def one(self, op, rec, h, key):
        self.lookups += op == OP_LOOKUP
        self.inserts += op == OP_INSERT
        self._op[0], self._rec[0], self._h[0] = op, rec, h
        self._key[0] = key
        self._cand[:] = -7
        self.run(self.tab, self.meta, self.stats, self.keys, self._op, self._rec, self._h, self._key, self._out,
                 self._cand)
        return int(self._out[0]), self._cand[0]

    def lookup(self, h, key):
        return self.one(OP_LOOKUP, 0, h, key)[0]

    def insert(self, h, key, rec):
        return bool(self.one(OP_INSERT, rec, h, key)[0])

    def remove(self, h, key, rec):
        return bool(self.one(OP_REMOVE, rec, h, key)[0])

    def candidates(self, h):
        n, cand = self.one(OP_CANDIDATES, 0, h, (0,) * 5)
        assert 0 <= n <= CAND
        return [int(c) for c in cand[:n]]

    def lookup_all(self, hashes, qkeys):
        return self.ops(np.full(len(hashes), OP_LOOKUP), np.zeros(len(hashes)), hashes, qkeys)[0]


def check_stats(t: Table):
    """Every lookup and insert counted once; totals agree with the histograms."""
    counters = ((S_PROBES, S_PROBE_HIST, t.lookups), (S_INSERT_PROBES, S_INSERT_HIST, t.inserts))
    for total_at, hist_at, calls in counters:
        hist = t.stats[hist_at:hist_at + HIST_BINS]
        assert (hist >= 0).all()
        assert hist.sum() == calls
        weighted = int(np.dot(hist, np.arange(HIST_BINS)))
        if hist[-1] == 0:
            assert t.stats[total_at] == weighted
        else:  # the last bin is open-ended
            assert t.stats[total_at] >= weighted
    assert t.stats[S_DISPLACEMENTS] >= 0


def check_candidates(t: Table, h, present_records, at_least_one):
    cand = t.candidates(h)
    assert len(set(cand)) == len(cand), cand
    assert set(cand) <= present_records, (cand, present_records)
    if at_least_one:
        assert cand, "a key whose neighbourhood is full has no candidate to evict"
    return cand


def check_emptied(t: Table):
    """A table whose keys were all removed holds no trace of them (stale bits, lost nodes)."""
    fresh_tab, fresh_meta = MODULES[t.name].new_table(t.capacity)
    if t.name in ("linear", "robin_hood", "hopscotch"):
        np.testing.assert_array_equal(t.tab, fresh_tab)
        np.testing.assert_array_equal(t.meta, fresh_meta)
    elif t.name == "chained":
        mod = MODULES["chained"]
        assert (t.tab[mod.HEAD] == 0).all()
        np.testing.assert_array_equal(t.meta[mod.M_NODES], t.capacity)
        # Every node is back on the free list, once.
        seen, node = set(), t.meta[mod.M_FREE]
        while node != 0 and len(seen) <= t.capacity:
            seen.add(int(node))
            node = t.tab[mod.NODE_NEXT, node - 1]
        assert seen == set(range(1, t.capacity + 1))


def random_keys(n, seed):
    rng = np.random.default_rng(seed)
    qkeys = rng.integers(0, 2**63, size=(n, 5), dtype=np.int64).astype(np.uint64)
    qkeys[:, 4] = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # all distinct
    return qkeys


# --- the property test --------------------------------------------------------------------

WORDS = [0, 1, 2, 3, 7, 2**32, 2**63, 2**64 - 1]
# Distinct keys made of those words: many share a hash bucket, and under the degenerate hashes
# many share the whole hash. Drawn by index, so that Hypothesis shrinks them as integers.
KEY_POOL = list(dict.fromkeys(
    tuple(int(w) for w in row) for row in np.random.default_rng(0).choice(np.array(WORDS, np.uint64), (400, 5))
))[:160]
# (kind, key index, index): kinds 0 insert new, 1 lookup present, 2 lookup any key,
# 3 remove present, 4 remove absent, 5 candidates.
op_st = st.tuples(st.sampled_from([0, 0, 0, 1, 2, 3, 3, 4, 5]), st.integers(0, len(KEY_POOL) - 1), st.integers(0, 255))


@pytest.mark.parametrize("name", DESIGN_PARAMS)
@PROPERTY_SETTINGS
@given(
    capacity=st.sampled_from([1, 2, 3, 4, 5, 8, 16, 33, 64]),
    mode=st.sampled_from(["flow", "mod4", "zero"]),
    ops=st.lists(op_st, max_size=150),
)
def test_against_dict(name, capacity, mode, ops):
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)  # per example: fixtures are per test
    try:
        _against_dict(name, capacity, mode, ops)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _against_dict(name, capacity, mode, ops):
    # More records than the table holds, so that inserts can meet a full table; a
    # design may round its cells up well past ``capacity`` (cuckoo: 16 at least).
    cells = MODULES[name].new_table(capacity)[0].shape[1]
    records = 2 * max(capacity, cells) + 4
    t = Table(name, capacity, records)
    pool = np.array(KEY_POOL, np.uint64)
    pool_hashes = hashes_of(pool, mode)
    hash_of = {key: int(h) for key, h in zip(KEY_POOL, pool_hashes)}

    def h_of(key):
        return hash_of[key]

    present: dict[tuple, int] = {}
    gone: set[tuple] = set()  # removed, or refused by insert, and not present now
    free = list(range(records))

    def check_unchanged():
        keys = list(present)
        if keys:
            found = t.lookup_all([h_of(k) for k in keys], np.array(keys, np.uint64))
            assert list(found) == [present[k] for k in keys]

    for kind, key_index, index in ops:
        key = KEY_POOL[key_index]
        live = sorted(present)
        if kind in (1, 3) and live:
            key = live[index % len(live)]
        h = h_of(key)
        if kind == 0 or (kind in (1, 3) and not live):
            if key in present:
                assert t.lookup(h, key) == present[key]
                continue
            rec = free.pop()
            rule = must_fit(name, t.tab, t.meta, capacity, len(present))
            ok = t.insert(h, key, rec)
            if rule is not None:
                assert ok == rule, f"insert returned {ok} with {len(present)} live keys"
            if ok:
                present[key] = rec
                gone.discard(key)
            else:
                free.append(rec)
                gone.add(key)
                assert t.lookup(h, key) == -1
                check_unchanged()
                check_candidates(t, h, set(present.values()), at_least_one=True)
        elif kind in (1, 2):
            assert t.lookup(h, key) == present.get(key, -1)
        elif kind == 3:
            if name in REMOVE_FROM_FULL_HANGS and must_fit(name, t.tab, t.meta, capacity, len(present)) is False:
                continue
            assert t.remove(h, key, present[key])
            free.append(present.pop(key))
            gone.add(key)
        elif kind == 4:
            if key in present:
                continue
            # A record not in the table, under this key's hash.
            assert not t.remove(h, key, free[index % len(free)])
        else:
            full = must_fit(name, t.tab, t.meta, capacity, len(present)) is False
            check_candidates(t, h, set(present.values()), at_least_one=full)

    check_unchanged()
    for key in gone:
        assert t.lookup(h_of(key), key) == -1
    check_stats(t)
    # Emptied, the table has nothing left to offer as a candidate.
    if name in REMOVE_FROM_FULL_HANGS and must_fit(name, t.tab, t.meta, capacity, len(present)) is False:
        return
    for key, rec in list(present.items()):
        assert t.remove(h_of(key), key, rec)
        assert not t.remove(h_of(key), key, rec)
        del present[key]
    for key in hash_of:
        assert t.lookup(h_of(key), key) == -1
        assert t.candidates(h_of(key)) == []
    check_emptied(t)


# --- full tables --------------------------------------------------------------------------


@pytest.fixture
def watchdog():
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def fill(t: Table, qkeys, hashes):
    """Insert every key, record i for key i; the success flags."""
    n = qkeys.shape[0]
    ok, _ = t.ops(np.full(n, OP_INSERT), np.arange(n), hashes, qkeys)
    return ok.astype(bool)


@pytest.mark.parametrize("mode", ["flow", "mod4"])
@pytest.mark.parametrize("capacity", [5, 64, 100])
@pytest.mark.parametrize("name", DESIGN_PARAMS)
def test_full_table(name, capacity, mode, watchdog):
    probe = Table(name, capacity, 1)
    n = probe.tab.size + 1  # no design stores more entries than it has int64 cells
    qkeys = random_keys(n, seed=capacity)
    hashes = hashes_of(qkeys, mode)
    t = Table(name, capacity, n)

    started = time.perf_counter()
    ok = fill(t, qkeys, hashes)
    assert time.perf_counter() - started < WATCHDOG
    assert not ok.all(), "more keys than cells, and every insert succeeded"
    placed = int(ok.sum())
    if name in ("linear", "robin_hood"):
        assert placed == t.tab.shape[1]
    elif name == "chained":
        assert placed == capacity
    elif name == "hopscotch" and t.tab.shape[1] <= _HOPSCOTCH_H:
        assert placed == t.tab.shape[1]
    elif mode == "flow" and capacity >= 64:
        assert placed >= capacity // 2, f"only {placed} of {capacity} placed"
    if name in DISPLACING and mode == "flow" and capacity >= 64:
        assert t.stats[S_DISPLACEMENTS] > 0

    # Consistent after the refusals: placed keys found with their record, refused ones absent.
    found = t.lookup_all(hashes, qkeys)
    np.testing.assert_array_equal(found, np.where(ok, np.arange(n), -1))
    check_stats(t)

    # Refused keys: their neighbourhood is full, so each has a candidate; evicting one makes room.
    present = set(np.flatnonzero(ok).tolist())
    refused = np.flatnonzero(~ok)[:8]
    cands = [check_candidates(t, hashes[i], present, at_least_one=True) for i in refused]
    if name in REMOVE_FROM_FULL_HANGS and must_fit(name, t.tab, t.meta, capacity, placed) is False:
        pytest.xfail(REMOVE_FROM_FULL_HANGS[name])
    for i, cand in zip(refused, cands):
        cand = check_candidates(t, hashes[i], present, at_least_one=True)
        victim = cand[0]
        assert t.remove(hashes[victim], qkeys[victim], victim)
        present.discard(victim)
        assert t.insert(hashes[i], qkeys[i], i), "no room after evicting a candidate"
        present.add(int(i))
        assert t.lookup(hashes[victim], qkeys[victim]) == -1
    expect = np.array([i if i in present else -1 for i in range(n)])
    np.testing.assert_array_equal(t.lookup_all(hashes, qkeys), expect)

    # Emptied and filled again, it places as many keys as the first time.
    for i in sorted(present):
        assert t.remove(hashes[i], qkeys[i], i)
    assert (t.lookup_all(hashes, qkeys) == -1).all()
    t.keys[:] = 0
    again = fill(t, qkeys, hashes)
    if name not in OPTIONAL:  # deterministic designs: an emptied table is a new table
        np.testing.assert_array_equal(again, ok)
    np.testing.assert_array_equal(t.lookup_all(hashes, qkeys), np.where(again, np.arange(n), -1))
    check_stats(t)


def remove_from_full(name, capacity=8):
    """Fill a small table until it refuses a key, then remove every key, one at a time."""
    t = Table(name, capacity, 256)
    qkeys = random_keys(256, seed=3)
    hashes = hashes_of(qkeys, "flow")
    placed = []
    for i in range(256):
        if not t.insert(hashes[i], qkeys[i], i):
            break
        placed.append(i)
    else:
        raise AssertionError("the table never refused a key")
    for i in placed:
        assert t.remove(hashes[i], qkeys[i], i)
        assert t.lookup(hashes[i], qkeys[i]) == -1
    assert t.candidates(hashes[0]) == []
    check_emptied(t)


@pytest.mark.parametrize("name", DESIGN_PARAMS)
def test_remove_from_full_table(name, watchdog):
    """What the tracker does when it evicts: remove from a table with no room left."""
    if name not in REMOVE_FROM_FULL_HANGS:
        remove_from_full(name)
        return
    # A known hang: run it in a child process, timed from when its driver is compiled.
    code = (
        "from tests.test_tables import Table, remove_from_full\n"
        f"Table({name!r}, 2, 1).lookup(0, (0,) * 5)\n"
        "print('ready', flush=True)\n"
        f"remove_from_full({name!r})\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        ready = child.stdout.readline().strip() == "ready"
        child.wait(timeout=FIXED_CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.xfail(REMOVE_FROM_FULL_HANGS[name])
    stderr = child.communicate()[1]
    assert ready and child.returncode == 0, f"{name} no longer hangs, but fails:\n{stderr[-3000:]}"
    pytest.fail(f"{name}: removing from a full table works now; drop it from REMOVE_FROM_FULL_HANGS")


# --- probes vs load factor ----------------------------------------------------------------

LOAD_CAPACITY = 4096
# Mean probes per successful lookup that no sane design or instrumentation leaves.
SANE_PROBES = (1.0, 12.0)


@pytest.mark.parametrize("name", DESIGN_PARAMS)
def test_probes_grow_with_load(name, watchdog):
    means = {}
    for load in (0.5, 0.9):
        n = int(load * LOAD_CAPACITY)
        qkeys = random_keys(n, seed=7)
        hashes = hashes_of(qkeys, "flow")
        t = Table(name, LOAD_CAPACITY, n)
        if not fill(t, qkeys, hashes).all():
            assert name in OPTIONAL or name == "hopscotch", f"{name} refused a key at load {load}"
            continue  # the design does not reach this load
        t.stats[:] = 0
        t.lookups = t.inserts = 0
        found = t.lookup_all(hashes, qkeys)
        np.testing.assert_array_equal(found, np.arange(n))
        check_stats(t)
        means[load] = t.stats[S_PROBES] / n
        assert SANE_PROBES[0] <= means[load] <= SANE_PROBES[1], (load, means[load])
        # Absent keys: counted too, and never cheaper than the lookup's first slot.
        t.stats[:] = 0
        t.lookups = 0
        absent = random_keys(256, seed=8)
        absent[:, 4] += np.uint64(1)  # none of them was inserted
        assert (t.lookup_all(hashes_of(absent, "flow"), absent) == -1).all()
        check_stats(t)
        assert t.stats[S_PROBES] >= 256
    if 0.5 in means and 0.9 in means:
        if name in GROWING:
            assert means[0.9] > means[0.5], means
        else:
            assert means[0.9] >= means[0.5], means
    if name == "linear":
        # Knuth: (1 + 1/(1 - a)) / 2 probes per successful search.
        for load, mean in means.items():
            expect = (1 + 1 / (1 - load)) / 2
            assert 0.7 * expect < mean < 1.4 * expect, (load, mean, expect)
