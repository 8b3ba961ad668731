"""Fixed-width integer reads from a ``uint8`` buffer.

Callers check bounds before they read: these helpers never do, so that the
check is made once per header rather than once per field. Every result is an
``int64``: Numba unifies ``uint64`` with ``int64`` as ``float64``, which must never
happen to an offset.
"""

import numpy as np

from .._jit import ngjit


@ngjit
def byte(buf, off):
    """``buf[off]`` as int64, indexed unsigned.

    A signed index makes Numba add a negative-index wraparound to every access,
    which also stops LLVM from merging neighbouring byte loads: it made the
    parse four times slower.
    """
    return np.int64(buf[np.uint64(off)])


@ngjit
def be16(buf, off):
    return (byte(buf, off) << 8) | byte(buf, off + 1)


@ngjit
def be32(buf, off):
    return (
        (byte(buf, off) << 24)
        | (byte(buf, off + 1) << 16)
        | (byte(buf, off + 2) << 8)
        | byte(buf, off + 3)
    )


@ngjit
def be48(buf, off):
    return (be16(buf, off) << 32) | be32(buf, off + 2)


@ngjit
def le16(buf, off):
    return byte(buf, off) | (byte(buf, off + 1) << 8)


@ngjit
def le32(buf, off):
    return (
        byte(buf, off)
        | (byte(buf, off + 1) << 8)
        | (byte(buf, off + 2) << 16)
        | (byte(buf, off + 3) << 24)
    )


@ngjit
def rd16(buf, off, big_endian):
    """A 16-bit field of a capture-file header, in the file's byte order."""
    return be16(buf, off) if big_endian else le16(buf, off)


@ngjit
def rd32(buf, off, big_endian):
    """A 32-bit field of a capture-file header, in the file's byte order."""
    return be32(buf, off) if big_endian else le32(buf, off)
