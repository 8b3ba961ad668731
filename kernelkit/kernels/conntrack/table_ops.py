"""Bulk table operations, for studying a design apart from the tracker.

Used to measure lookups per second and probe counts against the load factor.
"""

from ..._jit import ngjit
from .track import _table_insert, _table_lookup


@ngjit
def insert_many(design, tab, meta, stats, keys, hashes, first, count):
    """Insert records ``first .. first + count - 1`` (keys already in ``keys``).

    Returns how many the design placed before the first failure.
    """
    for r in range(first, first + count):
        if not _table_insert(design, tab, meta, stats, keys, hashes[r], r):
            return r - first
    return count


@ngjit
def lookup_many(design, tab, meta, stats, keys, hashes, queries):
    """Look up the records listed in ``queries``; returns how many were found as themselves."""
    found = 0
    for q in range(len(queries)):
        r = queries[q]
        key = (keys[r, 0], keys[r, 1], keys[r, 2], keys[r, 3], keys[r, 4])
        if _table_lookup(design, tab, meta, stats, keys, hashes[r], key) == r:
            found += 1
    return found
