"""The one place where kernel compile options live.

Every kernel is compiled without the GIL (Python threads can run kernels side by
side) and with Numba's on-disk cache, so that a second process starts warm.
``fastmath`` is off: packet kernels do integer work, and exact results matter.

Kernels that allocate nothing are compiled without Numba's reference-counted
runtime (NRT), and their per-header helpers are inlined in Numba's IR. With the
runtime, every array passed to a helper or sliced per packet costs atomic
reference-count updates that LLVM cannot prove away across branches; measured
on the parse kernel, the two together made it four times faster.

Cached kernels are keyed on every source file of their directory and on this
file (see :func:`_key_cache_on_kernel_directories`).
"""

import numba as nb

ngjit = nb.njit(nogil=True, cache=True, _nrt=False)
"""Decorator for serial kernels that allocate nothing."""

inline_jit = nb.njit(nogil=True, cache=True, _nrt=False, inline="always")
"""Decorator for small per-packet or per-header helpers, inlined into their callers."""

alloc_jit = nb.njit(nogil=True, cache=True)
"""Decorator for kernels that allocate arrays (and so need the runtime)."""

parallel_jit = nb.njit(nogil=True, cache=True, parallel=True)
"""Decorator for kernels with a ``prange`` over independent slices."""


def _kernel_sources_stamp(directory: str, jit_file: str):
    """One hash of the kernel sources of a directory and of this file.

    Numba keys a cached kernel on its own source file only, so a kernel whose
    inlined helpers changed (in another file) would load stale machine code.
    Kernels are keyed on every source of their directory, and those of a
    subdirectory also on the top-level kernel files (byte readers, layouts), so
    that editing the flow tracker does not invalidate the parser's cache.
    """
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    kernels = Path(jit_file).parent / "kernels"
    # a kernel in a subdirectory may inline the byte readers and layouts of kernels/ itself
    shared = list(kernels.glob("*.py")) if Path(directory) != kernels else []
    for path in sorted({Path(jit_file), *Path(directory).glob("*.py"), *shared}):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _key_cache_on_kernel_directories():
    import functools
    import os

    from numba.core import caching

    package_dir = os.path.dirname(os.path.abspath(__file__))
    stamp = functools.lru_cache(maxsize=None)(lambda d: _kernel_sources_stamp(d, os.path.abspath(__file__)))
    original = caching._SourceFileBackedLocatorMixin.get_source_stamp

    def get_source_stamp(self):
        path = os.path.abspath(self._py_file)
        if path.startswith(package_dir + os.sep):
            return stamp(os.path.dirname(path))
        return original(self)

    caching._SourceFileBackedLocatorMixin.get_source_stamp = get_source_stamp


_key_cache_on_kernel_directories()
