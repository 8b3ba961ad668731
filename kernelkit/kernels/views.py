"""Arrow binary-view entries that point into the capture buffer (zero-copy bytes)."""

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
