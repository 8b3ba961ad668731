"""Framing kernels: walk the records of a capture buffer and parse each packet.

Walking records is a chain of dependent loads (each record's length gives the next
offset), so each packet's headers are parsed in the same pass, while its bytes are
in cache. A framing kernel fills at most ``len(ts)`` rows and returns
``(rows, next offset, stop reason)``; the caller calls again from that offset with
fresh arrays, or with more bytes when a record straddles the end of the buffer.

A record header that cannot be right (a length larger than any capture tool writes,
a pcapng block whose two length fields differ) stops the walk with
``STOP_CORRUPT`` at that record's offset, so the caller can say where.
"""

import numpy as np

from .._jit import ngjit
from .bytes import rd16, rd32
from .layout import (
    CAPLEN,
    HAS_TIME,
    IFACE,
    LAYERS,
    MAX_PACKET,
    STATUS,
    STOP_CORRUPT,
    STOP_END,
    STOP_FULL,
    STOP_PARTIAL,
    UNKNOWN_INTERFACE,
    WIRELEN,
)
from .parse import parse_packet

MAX_SPAN = 1 << 30  # bytes of packet data a batch may span (Arrow views use int32 offsets)


@ngjit
def walk_pcap(buf, pos, big_endian, ts_unit_ns, linktype, snaplen, ts, data_pos, u64, u32, u16, u8, ips):
    """Parse classic pcap records from ``buf[pos:]``.

    Parameters
    ----------
    buf : uint8[:]
        Capture bytes; ``pos`` is the offset of a record header.
    big_endian : bool
        Byte order of the file.
    ts_unit_ns : int
        Nanoseconds per unit of the sub-second field (1000 or 1).
    linktype, snaplen : int
        From the file header.
    ts : int64[:]
        Output timestamps (ns since the epoch); its length is the batch size.
    data_pos : int64[:]
        Output: where each packet's bytes start in ``buf``.
    u64, u32, u16, u8, ips :
        Packet columns, see :func:`kernelkit.kernels.parse.parse_packet`.

    Returns
    -------
    (rows, next_pos, stop) : (int, int, int)
    """
    end = len(buf)
    limit = max(snaplen, MAX_PACKET)
    capacity = len(ts)
    first = pos
    n = 0
    while n < capacity:
        if pos == end:
            return n, pos, STOP_END
        if pos + 16 > end:
            return n, pos, STOP_PARTIAL
        caplen = rd32(buf, pos + 8, big_endian)
        if caplen > limit:
            return n, pos, STOP_CORRUPT
        data = pos + 16
        if data + caplen > end:
            return n, pos, STOP_PARTIAL
        if n > 0 and data + caplen - first > MAX_SPAN:
            return n, pos, STOP_FULL
        seconds = rd32(buf, pos, big_endian)
        fraction = rd32(buf, pos + 4, big_endian)
        ts[n] = seconds * 1_000_000_000 + fraction * ts_unit_ns
        data_pos[n] = data
        wirelen = rd32(buf, pos + 12, big_endian)
        parse_packet(buf[data : data + caplen], wirelen, linktype, np.uint64(n), u64, u32, u16, u8, ips)
        u32[LAYERS, n] |= HAS_TIME
        pos = data + caplen
        n += 1
    return n, pos, STOP_FULL


# pcapng block types
SHB = 0x0A0D0D0A
IDB = 0x00000001
PB = 0x00000002
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

# Indices into the pcapng reader state (int64[:]), kept by the caller between calls.
ST_BIG_ENDIAN = 0
ST_INTERFACES = 1  # interfaces described so far in this section
ST_SKIP_SECTION = 2  # 1 while inside a section of an unknown major version
ST_SKIPPED_SECTIONS = 3
ST_LOST_INTERFACES = 4  # interface descriptions beyond the table's capacity
N_STATE = 5

# Columns of the interface table (int64[capacity, N_IF]).
IF_LINKTYPE = 0
IF_SNAPLEN = 1
IF_TS_BINARY = 2  # 1: if_tsresol is a power of two, 0: a power of ten
IF_TS_EXPONENT = 3
IF_TS_OFFSET = 4  # seconds added to every timestamp (if_tsoffset)
N_IF = 5


def new_pcapng_state(max_interfaces=4096):
    """Fresh reader state and interface table for :func:`walk_pcapng`."""
    return np.zeros(N_STATE, np.int64), np.zeros((max_interfaces, N_IF), np.int64)


@ngjit
def _pow10(k):
    r = 1
    for _ in range(k):
        r *= 10
    return r


@ngjit
def pcapng_ts_to_ns(units, binary, exponent, offset_seconds):
    """Convert a pcapng timestamp in interface units to ns since the epoch."""
    if binary:
        # units / 2**exponent seconds, split so that the product cannot overflow
        if exponent == 0:
            ns = units * 1_000_000_000
        else:
            seconds = units >> exponent
            fraction = units & ((1 << exponent) - 1)
            if exponent > 32:
                fraction >>= exponent - 32
                frac_bits = 32
            else:
                frac_bits = exponent
            ns = seconds * 1_000_000_000 + ((fraction * 1_000_000_000) >> frac_bits)
    elif exponent <= 9:
        ns = units * _pow10(9 - exponent)
    else:
        ns = units // _pow10(exponent - 9)
    return ns + offset_seconds * 1_000_000_000


@ngjit
def _read_idb(buf, pos, block_len, big_endian, state, interfaces):
    n = state[ST_INTERFACES]
    state[ST_INTERFACES] = n + 1
    if n >= interfaces.shape[0]:
        state[ST_LOST_INTERFACES] += 1
        return
    if block_len < 20:
        interfaces[n, IF_LINKTYPE] = -1
        return
    interfaces[n, IF_LINKTYPE] = rd16(buf, pos + 8, big_endian)
    interfaces[n, IF_SNAPLEN] = rd32(buf, pos + 12, big_endian)
    interfaces[n, IF_TS_BINARY] = 0
    interfaces[n, IF_TS_EXPONENT] = 6  # microseconds unless if_tsresol says otherwise
    interfaces[n, IF_TS_OFFSET] = 0
    opt = pos + 16
    opt_end = pos + block_len - 4
    while opt + 4 <= opt_end:
        code = rd16(buf, opt, big_endian)
        length = rd16(buf, opt + 2, big_endian)
        value = opt + 4
        if code == 0 or value + length > opt_end:
            break
        if code == 9 and length >= 1:
            resolution = buf[value]
            binary = resolution >> 7
            # Finer than 2**-63 s or 1e-18 s is not a real clock; clamping keeps the
            # arithmetic in range.
            interfaces[n, IF_TS_BINARY] = binary
            interfaces[n, IF_TS_EXPONENT] = min(resolution & 0x7F, 63 if binary else 18)
        elif code == 14 and length >= 8:
            low = rd32(buf, value, big_endian)
            high = rd32(buf, value + 4, big_endian)
            if big_endian:
                low, high = high, low
            if high >= 0x80000000:
                high -= 0x100000000
            interfaces[n, IF_TS_OFFSET] = high * 0x100000000 + low
        opt = value + ((length + 3) & ~3)


@ngjit
def walk_pcapng(buf, pos, state, interfaces, ts, data_pos, u64, u32, u16, u8, ips):
    """Parse pcapng blocks from ``buf[pos:]``.

    Section headers set the byte order and reset the interface table; interface
    descriptions give each interface its link type, snaplen and timestamp
    resolution; Enhanced, Simple and (obsolete) Packet blocks give packets;
    other blocks are skipped. A section of an unknown major version is skipped
    whole (``state[ST_SKIPPED_SECTIONS]`` counts them).

    ``state`` and ``interfaces`` come from :func:`new_pcapng_state` and carry
    over between calls. Other parameters and the result are as for
    :func:`walk_pcap`.
    """
    end = len(buf)
    capacity = len(ts)
    first = pos
    n = 0
    while n < capacity:
        if pos == end:
            return n, pos, STOP_END
        if pos + 12 > end:
            return n, pos, STOP_PARTIAL
        big_endian = state[ST_BIG_ENDIAN] == 1
        block_type = rd32(buf, pos, big_endian)
        if block_type == SHB:
            magic = rd32(buf, pos + 8, False)
            if magic == BYTE_ORDER_MAGIC:
                big_endian = False
            elif rd32(buf, pos + 8, True) == BYTE_ORDER_MAGIC:
                big_endian = True
            else:
                return n, pos, STOP_CORRUPT
        block_len = rd32(buf, pos + 4, big_endian)
        if block_len < 12 or block_len % 4 != 0:
            return n, pos, STOP_CORRUPT
        if pos + block_len > end:
            return n, pos, STOP_PARTIAL
        if rd32(buf, pos + block_len - 4, big_endian) != block_len:
            return n, pos, STOP_CORRUPT
        if block_type == SHB:
            if block_len < 28:
                return n, pos, STOP_CORRUPT
            state[ST_BIG_ENDIAN] = 1 if big_endian else 0
            state[ST_INTERFACES] = 0
            if rd16(buf, pos + 12, big_endian) == 1:
                state[ST_SKIP_SECTION] = 0
            else:
                state[ST_SKIP_SECTION] = 1
                state[ST_SKIPPED_SECTIONS] += 1
            pos += block_len
            continue
        if state[ST_SKIP_SECTION] == 1:
            pos += block_len
            continue
        if block_type == IDB:
            _read_idb(buf, pos, block_len, big_endian, state, interfaces)
            pos += block_len
            continue
        if block_type == EPB or block_type == PB:
            if block_len < 32:
                return n, pos, STOP_CORRUPT
            if block_type == EPB:
                iface = rd32(buf, pos + 8, big_endian)
            else:
                iface = rd16(buf, pos + 8, big_endian)
            ts_high = rd32(buf, pos + 12, big_endian)
            ts_low = rd32(buf, pos + 16, big_endian)
            caplen = rd32(buf, pos + 20, big_endian)
            wirelen = rd32(buf, pos + 24, big_endian)
            data = pos + 28
            if caplen > block_len - 32:
                return n, pos, STOP_CORRUPT
            has_time = True
        elif block_type == SPB:
            if block_len < 16:
                return n, pos, STOP_CORRUPT
            iface = 0
            wirelen = rd32(buf, pos + 8, big_endian)
            data = pos + 12
            caplen = min(wirelen, block_len - 16)
            if state[ST_INTERFACES] > 0 and interfaces[0, IF_SNAPLEN] > 0:
                caplen = min(caplen, interfaces[0, IF_SNAPLEN])
            ts_high = 0
            ts_low = 0
            has_time = False
        else:
            pos += block_len
            continue
        if n > 0 and data + caplen - first > MAX_SPAN:
            return n, pos, STOP_FULL
        data_pos[n] = data
        known = iface < state[ST_INTERFACES] and iface < interfaces.shape[0]
        if known and interfaces[iface, IF_LINKTYPE] >= 0:
            parse_packet(
                buf[data : data + caplen],
                wirelen,
                interfaces[iface, IF_LINKTYPE],
                np.uint64(n),
                u64,
                u32,
                u16,
                u8,
                ips,
            )
            if has_time:
                ts[n] = pcapng_ts_to_ns(
                    (ts_high << 32) | ts_low,
                    interfaces[iface, IF_TS_BINARY],
                    interfaces[iface, IF_TS_EXPONENT],
                    interfaces[iface, IF_TS_OFFSET],
                )
                u32[LAYERS, n] |= HAS_TIME
        else:
            u32[CAPLEN, n] = caplen
            u32[WIRELEN, n] = wirelen
            u16[STATUS, n] = UNKNOWN_INTERFACE
        u32[IFACE, n] = iface
        pos += block_len
        n += 1
    return n, pos, STOP_FULL
