"""Counting helpers shared by the table designs."""

from ..._jit import inline_jit
from .layout import HIST_BINS


@inline_jit
def count(stats, total_at, hist_at, probes):
    """Add ``probes`` to a counter and to its histogram (last bin: that many or more)."""
    stats[total_at] += probes
    stats[hist_at + min(probes, HIST_BINS - 1)] += 1
