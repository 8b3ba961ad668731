"""Kernels over Arrow's buffer layout (kernels/views.py), against plain Python."""

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelkit.conntrack import _into
from kernelkit.io.batch import as_binary_views
from kernelkit.kernels.views import values_or_zero

# deadline off: the first example of each type compiles the kernel
KERNEL_SETTINGS = settings(deadline=None)

INTEGER_TYPES = [pa.uint8(), pa.uint16(), pa.uint32(), pa.int32(), pa.int64()]


@st.composite
def integer_columns(draw):
    """An integer column with nulls anywhere, possibly a slice that starts mid-byte of its bitmap."""
    kind = draw(st.sampled_from(INTEGER_TYPES))
    low, high = (0, 2 ** (kind.bit_width - 1) - 1) if pa.types.is_signed_integer(kind) else (0, 2**kind.bit_width - 1)
    values = draw(st.lists(st.one_of(st.none(), st.integers(low, high)), max_size=80))
    array = pa.array(values, type=kind)
    start = draw(st.integers(0, len(values)))
    length = draw(st.integers(0, len(values) - start))
    return array.slice(start, length)


@KERNEL_SETTINGS
@given(integer_columns())
def test_into_gives_the_values_with_nulls_as_zero(array):
    out = np.full(len(array), 12345, np.uint32)
    _into(array, out)
    assert out.tolist() == [0 if v is None else v % 2**32 for v in array.to_pylist()]


@KERNEL_SETTINGS
@given(st.lists(st.integers(0, 255), max_size=40), st.binary(max_size=8), st.integers(0, 7))
def test_values_or_zero_reads_bits_lsb_first_and_zeroes_beyond_the_bitmap(values, bitmap, offset):
    out = np.full(len(values), 99, np.uint32)
    values_or_zero(np.array(values, np.uint8), np.frombuffer(bitmap, np.uint8), offset, out)

    def bit(i):
        k = offset + i
        return k < 8 * len(bitmap) and (bitmap[k >> 3] >> (k & 7)) & 1

    expected = [v if (not bitmap or bit(i)) else 0 for i, v in enumerate(values)]
    assert out.tolist() == expected


@KERNEL_SETTINGS
@given(st.lists(st.one_of(st.none(), st.binary(min_size=16, max_size=16)), max_size=30), st.integers(0, 5))
def test_addresses_as_binary_views_read_back_the_same(values, start):
    column = pa.array(values, type=pa.binary(16)).slice(min(start, len(values)))
    assert as_binary_views(column).to_pylist() == column.to_pylist()
