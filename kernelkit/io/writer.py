"""Writing packets back to a capture file that tshark and libpcap read."""

from __future__ import annotations

import os
import struct

import numpy as np
import polars as pl
import pyarrow as pa

from ..kernels.layout import MAX_PACKET
from ..kernels.writer import pcap_records, pcapng_enhanced_blocks

CHUNK_ROWS = 1 << 18
PCAP_NS_MAGIC = 0xA1B23C4D


def _columns(frame: pl.DataFrame, linktype: int | None):
    if "data" not in frame.columns:
        raise ValueError("the frame has no `data` column: read it with read_packets(..., data=True)")
    if linktype is None and "linktype" not in frame.columns:
        raise ValueError("the frame has no `linktype` column: pass linktype=")
    lengths = frame["data"].bin.size()
    return frame.select(
        data=pl.col("data"),
        ts=pl.col("ts").dt.epoch("ns").fill_null(0) if "ts" in frame.columns else pl.lit(0, pl.Int64),
        wirelen=(pl.col("wirelen").cast(pl.Int64) if "wirelen" in frame.columns else lengths.cast(pl.Int64)),
        linktype=pl.col("linktype").cast(pl.Int64) if linktype is None else pl.lit(linktype, pl.Int64),
    )


def _chunk_arrays(chunk: pl.DataFrame):
    data = chunk["data"].to_arrow().cast(pa.large_binary())
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    offsets = np.frombuffer(data.buffers()[1], np.int64)[data.offset : data.offset + len(data) + 1]
    values_buf = data.buffers()[2]
    values = np.frombuffer(values_buf, np.uint8) if values_buf is not None else np.zeros(0, np.uint8)
    ts = chunk["ts"].to_numpy().astype(np.int64, copy=False)
    wirelen = chunk["wirelen"].to_numpy().astype(np.int64, copy=False)
    return values, offsets, ts, wirelen


def write_pcap(frame: pl.DataFrame, path: str | os.PathLike, *, linktype: int | None = None) -> int:
    """Write packets that carry ``data`` to a capture file.

    All packets of one link type give a classic pcap with nanosecond timestamps;
    several link types give a pcapng file with one interface per link type.
    Packets without a timestamp (pcapng Simple Packet Blocks) get time 0.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows of the packet table with the ``data`` column (``read_packets(...,
        data=True)``, then any filter); ``ts``, ``wirelen`` and ``linktype`` are
        used when present.
    path : path
        File to write.
    linktype : int, optional
        Link type for every packet, when the frame has no ``linktype`` column.

    Returns
    -------
    int
        Packets written.

    Examples
    --------
    >>> import kernelkit, polars as pl, tempfile, os
    >>> packets = kernelkit.read_packets(kernelkit.sample_path(), data=True)
    >>> dns = packets.filter(pl.col("dport") == 53)
    >>> out = os.path.join(tempfile.mkdtemp(), "dns.pcap")
    >>> kernelkit.write_pcap(dns, out) == dns.height == kernelkit.read_packets(out).height
    True
    """
    columns = _columns(frame, linktype)
    linktypes = columns["linktype"].unique().sort().to_list()
    snaplen = max(MAX_PACKET, int(columns["data"].bin.size().max() or 0))
    with open(path, "wb") as out:
        if len(linktypes) <= 1:
            lt = linktypes[0] if linktypes else (linktype or 1)
            out.write(struct.pack("<IHHiIII", PCAP_NS_MAGIC, 2, 4, 0, 0, snaplen, lt))
        else:
            out.write(_pcapng_header(linktypes, snaplen))
        for start in range(0, columns.height, CHUNK_ROWS):
            chunk = columns.slice(start, CHUNK_ROWS)
            values, offsets, ts, wirelen = _chunk_arrays(chunk)
            lengths = np.diff(offsets)
            if len(linktypes) <= 1:
                buf = np.empty(int(16 * len(ts) + lengths.sum()), np.uint8)
                pcap_records(values, offsets, ts, wirelen, buf)
            else:
                iface = np.searchsorted(linktypes, chunk["linktype"].to_numpy()).astype(np.int64)
                buf = np.zeros(int((32 + ((lengths + 3) & ~3)).sum()), np.uint8)
                pcapng_enhanced_blocks(values, offsets, ts, wirelen, iface, buf)
            out.write(buf.data)
    return columns.height


def _pcapng_header(linktypes: list[int], snaplen: int) -> bytes:
    """A section header, and one interface per link type with ns timestamps."""
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    blocks = [struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body))]
    # if_tsresol = 9 (10^-9 s), padded to 4 bytes, then opt_endofopt
    options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    for lt in linktypes:
        body = struct.pack("<HHI", lt, 0, snaplen) + options
        blocks.append(struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
    return b"".join(blocks)
