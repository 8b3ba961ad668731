"""TCP stream prefixes and UDP payloads: what session parsers read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..kernels.l7.reassembly import reassemble

PACKET_COLUMNS_NEEDED = ("flow_id", "direction", "ip_proto", "tcp_flags", "tcp_seq", "payload_offset",
                         "payload_len", "caplen", "data")


def _bytes_buffer(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A binary column as (values uint8[:], offsets int64[n + 1]), nulls as empty."""
    array = column.fill_null(b"").to_arrow().cast(pa.large_binary())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + len(array) + 1]
    values = array.buffers()[2]
    return (np.frombuffer(values, np.uint8) if values is not None else np.zeros(0, np.uint8)), offsets


def _check(packets: pl.DataFrame) -> None:
    missing = [c for c in PACKET_COLUMNS_NEEDED if c not in packets.columns]
    if missing:
        raise ValueError(
            f"session parsing needs the packets' bytes and flows: missing columns {missing} "
            "(use kernelkit.track(...) on a capture, or read_packets(..., data=True) then track)"
        )


@dataclass
class Streams:
    """The first bytes of each direction of each TCP connection.

    Stream ``s`` is direction ``direction[s]`` (0: from the originator) of flow
    ``flow_id[s]``; its reassembled bytes are ``buffer[offsets[s] : offsets[s] +
    filled[s]]``, the contiguous prefix up to the first gap.
    """

    flow_id: np.ndarray
    direction: np.ndarray
    buffer: np.ndarray
    offsets: np.ndarray
    filled: np.ndarray
    dropped: np.ndarray
    segments: pl.DataFrame | None = None
    """Each placed segment: ``stream``, ``lo``, ``hi`` (stream offsets of its bytes) and ``ts``."""

    def __len__(self) -> int:
        return len(self.flow_id)

    def prefix(self, s: int) -> bytes:
        """The reassembled bytes of stream ``s``."""
        start = int(self.offsets[s])
        return self.buffer[start : start + int(self.filled[s])].tobytes()

    def frame(self) -> pl.DataFrame:
        """One row per stream: ``flow_id``, ``direction``, ``bytes`` (the prefix), ``dropped``."""
        return pl.DataFrame({
            "flow_id": self.flow_id,
            "direction": self.direction,
            "bytes": [self.prefix(s) for s in range(len(self))],
            "dropped": self.dropped,
        })


def tcp_streams(packets: pl.DataFrame, *, capacity: int = 16384, held_ranges: int = 16) -> Streams:
    """Reassemble the first ``capacity`` bytes of every TCP stream of a packet frame.

    Parameters
    ----------
    packets : polars.DataFrame
        Packets with their bytes and flows: ``kernelkit.track(path, data=True).packets``.
    capacity : int
        Bytes kept per stream (a TLS ClientHello with a post-quantum key share
        takes about 2 KB; HTTP request headers rarely more than 8 KB).
    held_ranges : int
        Out-of-order ranges remembered per stream beyond the contiguous prefix.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.streams import tcp_streams
    >>> streams = tcp_streams(kernelkit.track(kernelkit.sample_path(), data=True).packets)
    >>> any(streams.prefix(s).startswith(b"GET ") for s in range(len(streams)))
    True
    """
    _check(packets)
    segments = (
        packets.with_row_index("row")
        .filter((pl.col("ip_proto") == 6) & pl.col("flow_id").is_not_null() & pl.col("tcp_seq").is_not_null())
        .filter((pl.col("payload_len") > 0) | ((pl.col("tcp_flags") & 0x02) != 0))
        .with_columns(
            captured=pl.min_horizontal(
                pl.col("payload_len"), (pl.col("caplen") - pl.col("payload_offset")).clip(lower_bound=0)
            ).fill_null(0).cast(pl.Int64)
        )
    )
    keys = segments.select("flow_id", "direction").unique(maintain_order=True)
    keys = keys.with_columns(stream=pl.int_range(pl.len(), dtype=pl.Int64))
    segments = segments.join(keys, on=["flow_id", "direction"], how="left").sort("row")
    sizes = (
        segments.group_by("stream").agg(pl.col("captured").sum()).sort("stream")["captured"]
        .clip(upper_bound=capacity).to_numpy()
    )
    n_streams = keys.height
    out_offsets = np.zeros(n_streams + 1, np.int64)
    np.cumsum(sizes, out=out_offsets[1:])
    out = np.zeros(int(out_offsets[-1]), np.uint8)
    values, offsets = _bytes_buffer(segments["data"])
    start = offsets[:-1] + segments["payload_offset"].fill_null(0).cast(pl.Int64).to_numpy()
    filled = np.zeros(n_streams, np.int64)
    dropped = np.zeros(n_streams, np.int64)
    placed = np.zeros((segments.height, 2), np.int64)
    reassemble(
        segments["stream"].to_numpy(), segments["tcp_flags"].cast(pl.Int64).to_numpy(),
        segments["tcp_seq"].cast(pl.Int64).to_numpy(), values, start, segments["captured"].to_numpy(),
        out, out_offsets, np.zeros(n_streams, np.int64), np.zeros(n_streams, np.uint8), filled,
        np.zeros((n_streams, held_ranges, 2), np.int64), np.zeros(n_streams, np.int64), dropped,
        np.zeros((n_streams, 2), np.int64), np.zeros(n_streams, np.int64), placed,
    )
    where = pl.DataFrame({
        "stream": segments["stream"], "lo": placed[:, 0], "hi": placed[:, 1],
        # frames built by hand may have no time: then the segments have none either
        "ts": segments["ts"].cast(pl.Int64) if "ts" in segments.columns else pl.Series([None] * segments.height,
                                                                                      dtype=pl.Int64),
    }).filter(pl.col("lo") >= 0)
    return Streams(keys["flow_id"].to_numpy(), keys["direction"].to_numpy().astype(np.uint8), out, out_offsets,
                   filled, dropped, where)


def udp_payloads(packets: pl.DataFrame) -> pl.DataFrame:
    """UDP packets with a flow, and their captured payload bytes (column ``payload``)."""
    _check(packets)
    return (
        packets.with_row_index("packet")
        .filter((pl.col("ip_proto") == 17) & pl.col("flow_id").is_not_null() & pl.col("payload_offset").is_not_null())
        .select(
            "packet", "ts", "flow_id", "direction", "sport", "dport",
            payload=pl.col("data").bin.slice(pl.col("payload_offset"), pl.col("payload_len")),
        )
    )
