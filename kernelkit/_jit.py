"""The one place where kernel compile options live.

Every kernel is compiled with ``ngjit``: nopython, no GIL held (so Python threads can
run kernels side by side) and Numba's on-disk cache, so that a second process starts
warm. ``fastmath`` is off: packet kernels do integer work, and exact results matter.
"""

import numba as nb

ngjit = nb.njit(nogil=True, cache=True)
"""Decorator for serial kernels."""

parallel_jit = nb.njit(nogil=True, cache=True, parallel=True)
"""Decorator for kernels with a ``prange`` over independent slices."""
