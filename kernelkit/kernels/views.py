"""Arrow binary-view entries that point into the capture buffer (zero-copy bytes)."""

import numpy as np

from .._jit import ngjit


@ngjit
def fill_binary_views(buf, data_pos, lengths, base, views):
    """Write one 16-byte Arrow ``binary_view`` entry per packet.

    An entry is ``length`` (int32 LE) then, for up to 12 bytes, the bytes inline;
    for longer values a 4-byte prefix, buffer index 0 and the offset of the value
    in the data buffer, which starts at ``buf[base]``.

    Parameters
    ----------
    buf : uint8[:]
        The capture buffer.
    data_pos, lengths : int64[:], uint32[:]
        Where each packet starts in ``buf``, and its length.
    base : int
        Offset in ``buf`` where the data buffer begins.
    views : uint8[n, 16]
        Output, zero-filled.
    """
    for i in range(len(data_pos)):
        start = data_pos[i]
        length = lengths[i]
        for k in range(4):
            views[i, k] = (length >> (8 * k)) & 0xFF
        if length <= 12:
            for k in range(length):
                views[i, 4 + k] = buf[start + k]
        else:
            for k in range(4):
                views[i, 4 + k] = buf[start + k]
            offset = start - base
            for k in range(4):
                views[i, 12 + k] = (offset >> (8 * k)) & 0xFF


@ngjit
def validity_bitmaps(layers, bits, out, nulls):
    """Arrow validity bitmaps for several layer bits, in one pass over ``layers``.

    Row ``k`` of ``out`` (uint8[len(bits), ceil(n / 8)], zero-filled) gets bit ``i``
    set when ``layers[i] & bits[k]``; ``nulls[k]`` counts the rows without it.
    """
    n = len(layers)
    for i in range(n):
        value = layers[i]
        byte_index = i >> 3
        mask = np.uint8(1 << (i & 7))
        for k in range(len(bits)):
            if value & bits[k]:
                out[k, byte_index] |= mask
            else:
                nulls[k] += 1
