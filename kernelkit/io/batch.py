"""Column arrays for the parse kernel, and their wrapping as Arrow batches.

The kernel writes into numpy arrays allocated here; each column becomes an Arrow
array over the same memory (no copy). Validity comes from the kernel's layer bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..kernels import layout as L
from ..kernels.views import fill_binary_views, validity_bitmaps
from ..schema import DATA_FIELD, PACKET_COLUMNS, packet_schema


@dataclass
class ColumnArrays:
    """Zero-filled outputs of a framing kernel, for ``capacity`` packets."""

    ts: np.ndarray
    data_pos: np.ndarray
    u64: np.ndarray
    u32: np.ndarray
    u16: np.ndarray
    u8: np.ndarray
    ips: np.ndarray

    @classmethod
    def allocate(cls, capacity: int) -> "ColumnArrays":
        return cls(
            ts=np.zeros(capacity, np.int64),
            data_pos=np.zeros(capacity, np.int64),
            u64=np.zeros((L.N_U64, capacity), np.uint64),
            u32=np.zeros((L.N_U32, capacity), np.uint32),
            u16=np.zeros((L.N_U16, capacity), np.uint16),
            u8=np.zeros((L.N_U8, capacity), np.uint8),
            ips=np.zeros((2, capacity, 16), np.uint8),
        )

    def kernel_args(self):
        return self.ts, self.data_pos, self.u64, self.u32, self.u16, self.u8, self.ips


PRESENCE_BITS = np.array(sorted({c.present for c in PACKET_COLUMNS if c.present}), np.uint32)


def _validity(layers: np.ndarray) -> dict[int, tuple[pa.Buffer | None, int]]:
    """Arrow validity bitmap and null count for each presence bit of the schema."""
    n = len(layers)
    bitmaps = np.zeros((len(PRESENCE_BITS), (n + 7) // 8), np.uint8)
    nulls = np.zeros(len(PRESENCE_BITS), np.int64)
    validity_bitmaps(layers, PRESENCE_BITS, bitmaps, nulls)
    return {
        int(bit): (None if nulls[k] == 0 else pa.py_buffer(bitmaps[k]), int(nulls[k]))
        for k, bit in enumerate(PRESENCE_BITS)
    }


def to_record_batch(arrays: ColumnArrays, n: int, buf: np.ndarray | None = None) -> pa.RecordBatch:
    """Wrap the first ``n`` rows of kernel outputs as a packet ``RecordBatch``.

    With ``buf`` (the capture buffer the kernel read), a ``data`` column of
    binary views into ``buf`` is added: the packet bytes, without a copy.
    """
    validity = _validity(arrays.u32[L.LAYERS, :n])
    columns = []
    for col in PACKET_COLUMNS:
        if col.group == "ts":
            values = arrays.ts[:n]
        elif col.group == "ips":
            values = arrays.ips[col.row, :n]
        else:
            values = getattr(arrays, col.group)[col.row, :n]
        if pa.types.is_boolean(col.type):
            values = np.packbits(values, bitorder="little")
        bitmap, nulls = validity[col.present] if col.present else (None, 0)
        columns.append(pa.Array.from_buffers(col.type, n, [bitmap, pa.py_buffer(values)], null_count=nulls))
    if buf is not None:
        columns.append(_data_column(arrays, n, buf))
    return pa.RecordBatch.from_arrays(columns, schema=packet_schema(data=buf is not None))


def as_binary_views(column: pa.Array) -> pa.Array:
    """A ``fixed_size_binary`` column as ``binary_view`` over the same bytes.

    Polars stores binary data as views: handing it views avoids the copy it makes
    of a fixed-size binary column (a fifth of ``read_packets``' time on small
    packets, for the two address columns).
    """
    if column.offset and column.null_count:
        # the validity bitmap is handed over as it is: it must start at the first row
        column = pa.concat_arrays([column])
    width = column.type.byte_width
    n = len(column)
    values = np.frombuffer(column.buffers()[1], np.uint8)[column.offset * width : (column.offset + n) * width]
    views = np.zeros((n, 16), np.uint8)
    fill_binary_views(values, np.arange(n, dtype=np.int64) * width, np.full(n, width, np.uint32), 0, views)
    return pa.Array.from_buffers(
        pa.binary_view(), n, [column.buffers()[0], pa.py_buffer(views), pa.py_buffer(values)],
        null_count=column.null_count,
    )


def _data_column(arrays: ColumnArrays, n: int, buf: np.ndarray) -> pa.Array:
    data_pos = arrays.data_pos[:n]
    lengths = arrays.u32[L.CAPLEN, :n]
    base = int(data_pos[0]) if n else 0
    stop = int(data_pos[-1] + lengths[-1]) if n else 0
    views = np.zeros((n, 16), np.uint8)
    fill_binary_views(buf, data_pos, lengths, base, views)
    return pa.Array.from_buffers(
        DATA_FIELD.type, n, [None, pa.py_buffer(views), pa.py_buffer(buf[base:stop])]
    )
