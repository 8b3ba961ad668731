"""Connection tracking kernels: flow keys, hash-table designs, expiry, TCP state.

Every hash-table design is a module with the same four functions, so that the
tracker (``track.py``) and the tests treat them alike:

``new_table(capacity) -> (tab, meta)``
    Python-side allocation: ``tab`` int64[rows, n] holds the design's slots,
    ``meta`` int64[:] its scalars. ``capacity`` is the number of flow records
    the table can index.
``lookup(tab, meta, stats, keys, h, key) -> record or -1``
``insert(tab, meta, stats, keys, h, record) -> bool``
    ``keys[record]`` already holds the key; False when the design cannot
    place it (the table is full for this key), which the caller counts.
``remove(tab, meta, stats, keys, h, record) -> bool``
``candidates(tab, meta, h, out) -> count``
    Writes into ``out`` (int64[16]) the records that the key ``h`` competes
    with for space: the tracker reuses a stale one, or evicts the oldest, when
    the table or the record pool is full.

``h`` is the key's 63-bit hash (:func:`hashing.flow_hash`), ``key`` its five
words (:mod:`layout`; ``keys`` is uint64[capacity, 5]), ``stats`` the counters of :mod:`layout` (``S_*``).
"""
