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


@ngjit
def values_or_zero(values, validity, offset, out):
    """``out[i] = values[i]`` where bit ``offset + i`` of ``validity`` is set, else 0.

    One pass over a column in Arrow's layout (values, and an LSB-first validity
    bitmap that may start mid-byte); an empty ``validity`` means every value is set.

    Parameters
    ----------
    values : integer[:]
        The column's values, from its first row.
    validity : uint8[:]
        The column's validity bitmap (empty: no nulls).
    offset : int
        Bit of ``validity`` that belongs to ``values[0]``.
    out : integer[:]
        Output; ``min(len(values), len(out))`` entries are written.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty(3, np.uint32)
    >>> values_or_zero(np.array([7, 8, 9], np.uint16), np.array([0b101], np.uint8), 0, out)
    >>> out.tolist()
    [7, 0, 9]
    """
    n = min(len(values), len(out))
    if len(validity) == 0:
        for i in range(n):
            out[i] = values[i]
        return
    covered = max(0, min(n, len(validity) * 8 - offset))
    for i in range(covered):
        bit = offset + i
        # branch-free: nulls fall at random among values
        out[i] = values[i] * ((validity[bit >> 3] >> (bit & 7)) & 1)
    for i in range(covered, n):
        out[i] = 0
