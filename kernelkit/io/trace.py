"""The public entry points for reading captures: ``open_trace`` and ``read_packets``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa

from ..schema import packet_schema
from .batch import as_binary_views
from .reader import CaptureFile

PathLike = str | os.PathLike
DEFAULT_BATCH = 1 << 16


class Trace:
    """One or more capture files, read in order as one stream of packets.

    Create it with :func:`open_trace`.
    """

    def __init__(self, paths: Sequence[PathLike]):
        self.paths = [Path(p) for p in paths]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"no such capture file: {', '.join(missing)}")

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.paths[:3]) + (", ..." if len(self.paths) > 3 else "")
        return f"Trace({names})"

    @property
    def size(self) -> int:
        """Bytes of the files as stored."""
        return sum(p.stat().st_size for p in self.paths)

    def batches(
        self, size: int = DEFAULT_BATCH, *, data: bool = False, progress: bool = False
    ) -> Iterator[pa.RecordBatch]:
        """Yield the packets as Arrow record batches of at most ``size`` rows.

        Memory stays bounded by the batch size, whatever the size of the files.

        Parameters
        ----------
        size : int
            Largest number of packets in a batch.
        data : bool
            Add a ``data`` column with each packet's captured bytes (binary views
            into the mapped file: no copy for uncompressed files).
        progress : bool
            Show a progress bar over the bytes of the files.

        Examples
        --------
        >>> import kernelkit
        >>> trace = kernelkit.open_trace(kernelkit.sample_path())
        >>> sum(b.num_rows for b in trace.batches(1000)) == kernelkit.read_packets(trace).height
        True
        """
        if size < 1:
            raise ValueError(f"batch size must be positive, not {size}")
        bar = _progress_bar(self.size) if progress else None
        done = 0
        try:
            for path in self.paths:
                capture = CaptureFile(path)
                for batch in capture.batches(size, data):
                    if bar is not None:
                        bar.update(done + capture.position() - bar.n)
                    yield batch
                done += path.stat().st_size
                if bar is not None:
                    bar.update(done - bar.n)
        finally:
            if bar is not None:
                bar.close()

    def read(self, *, data: bool = False, progress: bool = False) -> pl.DataFrame:
        """All packets as one Polars frame (see :func:`read_packets`)."""
        batches = [_polars_ready(b) for b in self.batches(1 << 20, data=data, progress=progress)]
        if not batches:
            return pl.from_arrow(packet_schema(data).empty_table())
        return pl.from_arrow(pa.Table.from_batches(batches), rechunk=False)


def _polars_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The address columns as binary views, which Polars takes without a copy."""
    for name in ("src_ip", "dst_ip"):
        i = batch.schema.get_field_index(name)
        batch = batch.set_column(i, name, as_binary_views(batch.column(i)))
    return batch


def _progress_bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="reading", leave=False)


def open_trace(paths: PathLike | Sequence[PathLike] | Trace) -> Trace:
    """Open capture files (pcap or pcapng, optionally gzip/zstd/xz/bzip2 compressed).

    Several files are read in the order given, as one stream.

    Parameters
    ----------
    paths : path or sequence of paths
        The capture files.

    Returns
    -------
    Trace

    Examples
    --------
    >>> import kernelkit
    >>> kernelkit.open_trace(kernelkit.sample_path())
    Trace(sample.pcapng)
    """
    if isinstance(paths, Trace):
        return paths
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return Trace(list(paths))


def read_packets(
    path: PathLike | Sequence[PathLike] | Trace, *, data: bool = False, progress: bool = False
) -> pl.DataFrame:
    """Read a whole trace into a Polars frame, one row per packet.

    The columns are those of :data:`kernelkit.schema.PACKET_COLUMNS`.

    Parameters
    ----------
    path : path, sequence of paths, or Trace
        The capture file(s).
    data : bool
        Add a ``data`` column (Binary) with each packet's captured bytes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> import kernelkit, polars as pl
    >>> packets = kernelkit.read_packets(kernelkit.sample_path())
    >>> packets.filter(pl.col("dport") == 443).height > 0
    True
    """
    return open_trace(path).read(data=data, progress=progress)
