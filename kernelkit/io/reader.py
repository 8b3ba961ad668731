"""Reading one capture file into packet batches.

Uncompressed files are memory-mapped and walked in place. Compressed files
(gzip, zstd, xz, bzip2) are decompressed in chunks; a record that straddles two
chunks is carried over. Either way memory is bounded by the batch size and the
chunk size, not by the file size.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import mmap
import os
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..kernels import layout as L
from ..kernels.framing import ST_LOST_INTERFACES, ST_SKIPPED_SECTIONS, new_pcapng_state, walk_pcap, walk_pcapng
from .batch import ColumnArrays, to_record_batch
from .formats import (
    PCAP_HEADER_LEN,
    TraceFormatError,
    TraceWarning,
    capture_format,
    compression_of,
    parse_pcap_header,
)

CHUNK_BYTES = 16 << 20  # decompressed bytes read at a time
MAX_CARRY = 64 << 20  # a record still incomplete after this many bytes is corrupt
MIN_RECORD = 16  # no record is shorter (pcap header 16; pcapng EPB 32, SPB 16)


class _Mapped:
    """The whole file as one buffer, memory-mapped."""

    def __init__(self, path: Path):
        self.size = path.stat().st_size
        if self.size == 0:
            raise TraceFormatError(f"{path}: empty file, not a capture")
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._done = False

    def read(self) -> np.ndarray | None:
        if self._done:
            return None
        self._done = True
        return np.frombuffer(self._map, dtype=np.uint8)

    def position(self) -> int:
        return self.size if self._done else 0

    def release(self, upto: int) -> None:
        """Let the kernel drop the mapped pages before ``upto`` from this process.

        Streaming a large file would otherwise keep every page it touched in the
        process's resident set. The mapping is read-only and file-backed, so bytes
        that are still referenced (``data`` views) are read back on access.
        """
        length = upto - upto % mmap.PAGESIZE
        if length > 0 and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, 0, length)


class _Decompressed:
    """A compressed file, decompressed a chunk at a time."""

    _OPENERS = {"gzip": gzip.open, "xz": lzma.open, "bzip2": bz2.open}

    def __init__(self, path: Path, compression: str):
        self.size = path.stat().st_size
        self._raw = open(path, "rb")
        self.error: str | None = None  # why decompression stopped early, if it did
        if compression == "zstd":
            import zstandard

            self._stream = zstandard.ZstdDecompressor().stream_reader(self._raw, read_across_frames=True)
            self._errors = (zstandard.ZstdError, OSError, EOFError)
        else:
            self._stream = self._OPENERS[compression](self._raw, "rb")
            self._errors = (EOFError, OSError, zlib.error, lzma.LZMAError)

    def read(self) -> np.ndarray | None:
        # read1 calls, so that a stream that is cut or damaged still gives every byte
        # decompressed before the damage (read() would drop the whole chunk).
        parts, got = [], 0
        while got < CHUNK_BYTES and self.error is None:
            try:
                part = self._stream.read1(CHUNK_BYTES - got)
            except self._errors as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        if not parts:
            self._stream.close()
            self._raw.close()
            return None
        return np.frombuffer(b"".join(parts), dtype=np.uint8)

    def position(self) -> int:
        return self.size if self._raw.closed else self._raw.tell()

    def release(self, upto: int) -> None:
        """Decompressed chunks are dropped as they are consumed: nothing to do."""


def _open(path: Path):
    with open(path, "rb") as f:
        head = f.read(8)
    compression = compression_of(head)
    return _Mapped(path) if compression is None else _Decompressed(path, compression)


class CaptureFile:
    """One capture file, read as a stream of packet batches.

    Warnings (:class:`~kernelkit.io.formats.TraceWarning`) name the file and the
    byte offset (in the decompressed stream) where reading stopped early.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._source = _open(self.path)  # fails early on a missing file

    def position(self) -> int:
        """Bytes of the file (as stored) consumed so far."""
        return self._source.position()

    def batches(self, size: int, data: bool = False) -> Iterator[pa.RecordBatch]:
        source = self._source
        buf = source.read()
        while buf is not None and len(buf) < PCAP_HEADER_LEN:
            more = source.read()
            if more is None:
                break
            buf = np.concatenate([buf, more])
        if buf is None:
            error = getattr(source, "error", None)
            if error is not None:
                raise TraceFormatError(
                    f"{self.path}: compressed stream cut short or damaged before any data ({error})"
                )
            raise TraceFormatError(f"{self.path}: empty file, not a capture")
        fmt = capture_format(bytes(buf[:8]), str(self.path))
        if fmt == "pcap":
            header = parse_pcap_header(bytes(buf[:PCAP_HEADER_LEN]), str(self.path))
            pos = PCAP_HEADER_LEN

            def walk(buf, pos, arrays):
                return walk_pcap(
                    buf, pos, header.big_endian, header.ts_unit_ns, header.linktype,
                    header.snaplen, *arrays.kernel_args(),
                )
        else:
            state, interfaces = new_pcapng_state()
            pos = 0

            def walk(buf, pos, arrays):
                return walk_pcapng(buf, pos, state, interfaces, *arrays.kernel_args())

        consumed = 0  # stream offset of buf[0]
        eof = False
        while True:
            capacity = max(1, min(size, (len(buf) - pos) // MIN_RECORD + 1))
            arrays = ColumnArrays.allocate(capacity)
            n, pos, stop = walk(buf, pos, arrays)
            source.release(consumed + pos)
            if n:
                yield to_record_batch(arrays, n, buf if data else None)
            if stop == L.STOP_FULL:
                continue
            if stop in (L.STOP_END, L.STOP_PARTIAL) and not eof:
                more = source.read()
                if more is None:
                    eof = True
                    continue
                if len(buf) - pos > MAX_CARRY:
                    stop = L.STOP_CORRUPT
                else:
                    consumed += pos
                    buf = np.concatenate([buf[pos:], more])
                    pos = 0
                    continue
            if stop == L.STOP_PARTIAL:
                warnings.warn(
                    f"{self.path}: cut short: the record at byte offset {consumed + pos} is incomplete "
                    f"({len(buf) - pos} bytes of it present); every whole record before it was read",
                    TraceWarning,
                    stacklevel=2,
                )
            elif stop == L.STOP_CORRUPT:
                warnings.warn(
                    f"{self.path}: corrupt record header at byte offset {consumed + pos}; "
                    f"reading stopped there, every record before it was read",
                    TraceWarning,
                    stacklevel=2,
                )
            break
        error = getattr(source, "error", None)
        if error is not None and stop == L.STOP_END:
            warnings.warn(
                f"{self.path}: the compressed stream is cut short or damaged ({error}); reading stopped "
                f"at byte offset {consumed + pos} of the decompressed data, every record before it was read",
                TraceWarning,
                stacklevel=2,
            )
        if fmt == "pcapng":
            if state[ST_SKIPPED_SECTIONS]:
                warnings.warn(
                    f"{self.path}: skipped {state[ST_SKIPPED_SECTIONS]} pcapng section(s) of an unknown "
                    "major version",
                    TraceWarning,
                    stacklevel=2,
                )
            if state[ST_LOST_INTERFACES]:
                warnings.warn(
                    f"{self.path}: more interfaces than the reader tracks; packets on "
                    f"{state[ST_LOST_INTERFACES]} of them have status unknown_interface",
                    TraceWarning,
                    stacklevel=2,
                )
