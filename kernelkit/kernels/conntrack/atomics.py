"""Atomic operations on one element of an int64 array, for tables shared by threads.

Numba has no CPU atomics of its own, so these are small intrinsics that emit
LLVM's ``cmpxchg``, ``atomicrmw`` and atomic ``load`` on the element's address.
Counters use ``monotonic`` order (each update is indivisible; nothing else is
ordered by it); compare-and-swap is ``seq_cst`` and loads are ``acquire``, so
that what a thread wrote before publishing a slot with :func:`cas` is visible to
a thread that reads the slot with :func:`load`.

The public functions check the index themselves (``0 <= i < len``, with no
negative wrap-around): an index outside the array writes nothing and returns a
documented value, with or without ``NUMBA_BOUNDSCHECK``. The ``…2`` forms take a
row and a column of a 2-D array. Arrays must be naturally aligned, as numpy
allocates them (LLVM assumes 8-byte alignment for these instructions).
"""

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..._jit import inline_jit


def _typed(arr, index):
    """Whether ``arr`` is a writable int64 array indexed by a tuple of ``arr.ndim`` integers."""
    return (
        isinstance(arr, types.Array)
        and arr.dtype == types.int64
        and arr.mutable
        and isinstance(index, types.BaseTuple)
        and len(index) == arr.ndim
        and all(isinstance(t, types.Integer) for t in index)
    )


def _pointer(context, builder, arrty, arr, indexty, index):
    ary = context.make_array(arrty)(context, builder, arr)
    values = cgutils.unpack_tuple(builder, index, len(indexty))
    inds = [context.cast(builder, v, t, types.intp) for v, t in zip(values, indexty)]
    # Numba's own check too when bounds checking is on: a caller skipping the wrappers cannot write astray
    return cgutils.get_item_pointer(context, builder, arrty, ary, inds, wraparound=False,
                                    boundscheck=context.enable_boundscheck)


@intrinsic
def _cas(typingctx, arr, index, expected, new):
    if not (_typed(arr, index) and isinstance(expected, types.Integer) and isinstance(new, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        pair = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(arr, index, types.int64, types.int64), codegen


def _rmw_codegen(op):
    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return builder.atomic_rmw(op, ptr, args[2], "monotonic")

    return codegen


@intrinsic
def _add(typingctx, arr, index, value):
    if not (_typed(arr, index) and isinstance(value, types.Integer)):
        return None
    return types.int64(arr, index, types.int64), _rmw_codegen("add")


@intrinsic
def _max(typingctx, arr, index, value):
    if not (_typed(arr, index) and isinstance(value, types.Integer)):
        return None
    return types.int64(arr, index, types.int64), _rmw_codegen("max")


@intrinsic
def _min(typingctx, arr, index, value):
    if not (_typed(arr, index) and isinstance(value, types.Integer)):
        return None
    return types.int64(arr, index, types.int64), _rmw_codegen("min")


@intrinsic
def _load(typingctx, arr, index):
    if not _typed(arr, index):
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return types.int64(arr, index), codegen


@inline_jit
def _inside(arr, i):
    return 0 <= i < arr.shape[0]


@inline_jit
def _inside2(arr, i, j):
    return 0 <= i < arr.shape[0] and 0 <= j < arr.shape[1]


@inline_jit
def cas(arr, i, expected, new):
    """Compare-and-swap ``arr[i]``: store ``new`` if it holds ``expected``; returns the value it held.

    The swap happened if and only if the returned value equals ``expected``.
    Outside the array: nothing is written and ``~expected`` is returned (a failed swap).

    Examples
    --------
    >>> import numba, numpy as np
    >>> from kernelkit.kernels.conntrack.atomics import cas
    >>> swap = numba.njit(lambda a, i, e, n: cas(a, i, e, n))
    >>> a = np.zeros(2, np.int64)
    >>> swap(a, 1, 0, 7), swap(a, 1, 0, 9), a.tolist()
    (0, 7, [0, 7])
    """
    if not _inside(arr, i):
        return ~np.int64(expected)
    return _cas(arr, (i,), expected, new)


@inline_jit
def cas2(arr, i, j, expected, new):
    """:func:`cas` on ``arr[i, j]`` of a 2-D array."""
    if not _inside2(arr, i, j):
        return ~np.int64(expected)
    return _cas(arr, (i, j), expected, new)


@inline_jit
def fetch_add(arr, i, value):
    """Add ``value`` to ``arr[i]`` atomically; returns the value before (0 outside the array, nothing written).

    Examples
    --------
    >>> import numba, numpy as np
    >>> from kernelkit.kernels.conntrack.atomics import fetch_add
    >>> add = numba.njit(lambda a, i, v: fetch_add(a, i, v))
    >>> a = np.array([5], np.int64)
    >>> add(a, 0, 3), add(a, 1, 3), a.tolist()
    (5, 0, [8])
    """
    if not _inside(arr, i):
        return np.int64(0)
    return _add(arr, (i,), value)


@inline_jit
def fetch_add2(arr, i, j, value):
    """:func:`fetch_add` on ``arr[i, j]`` of a 2-D array."""
    if not _inside2(arr, i, j):
        return np.int64(0)
    return _add(arr, (i, j), value)


@inline_jit
def fetch_max(arr, i, value):
    """Set ``arr[i]`` to ``max(arr[i], value)`` atomically (signed); returns the value before
    (0 outside the array, nothing written)."""
    if not _inside(arr, i):
        return np.int64(0)
    return _max(arr, (i,), value)


@inline_jit
def fetch_max2(arr, i, j, value):
    """:func:`fetch_max` on ``arr[i, j]`` of a 2-D array."""
    if not _inside2(arr, i, j):
        return np.int64(0)
    return _max(arr, (i, j), value)


@inline_jit
def fetch_min(arr, i, value):
    """Set ``arr[i]`` to ``min(arr[i], value)`` atomically (signed); returns the value before
    (0 outside the array, nothing written)."""
    if not _inside(arr, i):
        return np.int64(0)
    return _min(arr, (i,), value)


@inline_jit
def fetch_min2(arr, i, j, value):
    """:func:`fetch_min` on ``arr[i, j]`` of a 2-D array."""
    if not _inside2(arr, i, j):
        return np.int64(0)
    return _min(arr, (i, j), value)


@inline_jit
def load(arr, i):
    """Read ``arr[i]`` with acquire order: what its writer stored before publishing it is visible
    (0 outside the array)."""
    if not _inside(arr, i):
        return np.int64(0)
    return _load(arr, (i,))


@inline_jit
def load2(arr, i, j):
    """:func:`load` of ``arr[i, j]`` of a 2-D array."""
    if not _inside2(arr, i, j):
        return np.int64(0)
    return _load(arr, (i, j))
