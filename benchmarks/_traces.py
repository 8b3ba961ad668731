"""Traces for the benchmarks: a large "real" trace built from the shared captures,
samples of a trace's first packets, and a Numba loop that only walks records.
"""

from __future__ import annotations

import mmap
import struct
import time
from pathlib import Path

import numba as nb
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = next(
    (p for p in (REPO.parent / "shared" / "traces", Path("/work/shared/traces")) if p.is_dir()),
    REPO.parent / "shared" / "traces",
)
PCAP_MAGICS = {0xA1B2C3D4: ("<", 1000), 0xA1B23C4D: ("<", 1), 0xD4C3B2A1: (">", 1000), 0x4D3CB2A1: (">", 1)}
NS_HEADER = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
MAX_CAPLEN = 262144
MAX_GAP = 1_000_000_000  # ns: longer pauses inside a capture are shortened to this


def _ethernet_records(path: Path) -> list[tuple[int, bytes]] | None:
    """``(ts_ns, packet bytes)`` of a classic Ethernet pcap, up to its first broken record."""
    data = path.read_bytes()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in PCAP_MAGICS:
        return None
    order, unit = PCAP_MAGICS[magic]
    if struct.unpack(order + "I", data[20:24])[0] & 0xFFFF != 1:
        return None
    records = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(order + "IIII", data[pos : pos + 16])
        if caplen > MAX_CAPLEN or pos + 16 + caplen > len(data):
            break
        records.append((sec * 1_000_000_000 + frac * unit, wirelen, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    return records


def build_real_trace(out: Path, min_packets: int = 1_000_000, sources: Path = SHARED) -> dict:
    """Concatenate every classic-pcap Ethernet capture in ``sources`` until
    ``min_packets``, one copy after another, with timestamps rewritten so that
    each file follows the previous one (gaps between packets of a file are kept,
    clipped to [0, 1 s]).

    Returns a description: files used, packets, copies, median packet size.
    """
    files = sorted(p for p in sources.iterdir() if p.is_file())
    block = bytearray()
    ts_rel = []  # each record's time from the block start
    header_at = []
    cursor = 0
    used = []
    for path in files:
        records = _ethernet_records(path)
        if not records:
            continue
        used.append(path.name)
        previous = records[0][0]
        last = cursor
        for ts, wirelen, pkt in records:
            last += min(max(0, ts - previous), MAX_GAP)
            previous = ts
            header_at.append(len(block))
            ts_rel.append(last)
            block += struct.pack("<IIII", 0, 0, len(pkt), max(wirelen, len(pkt)))
            block += pkt
        cursor = last + 1_000_000  # 1 ms between files
    if not header_at:
        raise FileNotFoundError(f"no classic-pcap Ethernet captures in {sources}")
    per_copy = len(header_at)
    copies = -(-min_packets // per_copy)
    offsets = np.array(header_at, np.int64)
    rel = np.array(ts_rel, np.int64)
    span = int(rel[-1]) + 1_000_000
    base = 1_700_000_000 * 1_000_000_000
    buf = np.frombuffer(block, np.uint8).copy()
    sizes = np.diff(np.append(offsets, len(block))) - 16
    with open(out, "wb") as f:
        f.write(NS_HEADER)
        for k in range(copies):
            ts = base + k * span + rel
            sec = (ts // 1_000_000_000).astype("<u4").view(np.uint8).reshape(-1, 4)
            nsec = (ts % 1_000_000_000).astype("<u4").view(np.uint8).reshape(-1, 4)
            buf[offsets[:, None] + np.arange(4)] = sec
            buf[offsets[:, None] + 4 + np.arange(4)] = nsec
            f.write(buf.tobytes())
    return {
        "files": len(used),
        "packets": per_copy * copies,
        "copies": copies,
        "per_copy": per_copy,
        "median_size": int(np.median(sizes)),
        "bytes": out.stat().st_size,
    }


def write_sample(path: Path, out: Path, packets: int) -> int:
    """Copy the file header and the first ``packets`` records of a classic pcap."""
    data = np.memmap(path, np.uint8, mode="r")
    end, n = _record_span(data, 24, packets)
    with open(out, "wb") as f:
        f.write(bytes(data[:end]))
    return n


def count_records(path: Path) -> int:
    data = np.memmap(path, np.uint8, mode="r")
    n, _, _ = walk_records(data, 24)
    return int(n)


@nb.njit(nogil=True, cache=True)
def _record_span(buf, pos, limit):
    n = 0
    while n < limit and pos + 16 <= len(buf):
        caplen = (
            np.int64(buf[pos + 8])
            | (np.int64(buf[pos + 9]) << 8)
            | (np.int64(buf[pos + 10]) << 16)
            | (np.int64(buf[pos + 11]) << 24)
        )
        if pos + 16 + caplen > len(buf):
            break
        pos += 16 + caplen
        n += 1
    return pos, n


@nb.njit(nogil=True, cache=True)
def walk_records(buf, pos):
    """Walk little-endian pcap records: the dependent-load chain and nothing else.

    Returns ``(records, captured bytes, end offset)``.
    """
    n = 0
    captured = 0
    end = len(buf)
    while pos + 16 <= end:
        caplen = (
            np.int64(buf[pos + 8])
            | (np.int64(buf[pos + 9]) << 8)
            | (np.int64(buf[pos + 10]) << 16)
            | (np.int64(buf[pos + 11]) << 24)
        )
        if pos + 16 + caplen > end:
            break
        captured += caplen
        pos += 16 + caplen
        n += 1
    return n, captured, pos


@nb.njit(nogil=True, cache=True)
def touch_all(words):
    """Sum every 8-byte word: the cost of reading the file's bytes once."""
    s = np.uint64(0)
    for i in range(len(words)):
        s += words[i]
    return s


def time_walk(path: Path, repeats: int) -> tuple[float, float, int, int]:
    """Median wall and CPU seconds of :func:`walk_records` over the mapped file
    (after a first walk that compiles and faults the pages in), records, file size."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        buf = np.frombuffer(m, np.uint8)
        n, _, _ = walk_records(buf, 24)
        walls, cpus = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            n, _, _ = walk_records(buf, 24)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        del buf
    return float(np.median(walls)), float(np.median(cpus)), int(n), path.stat().st_size


def time_touch(path: Path, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of :func:`touch_all` over the mapped file."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        words = np.frombuffer(m, np.uint64, count=len(m) // 8)
        touch_all(words)
        walls, cpus = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            touch_all(words)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        del words
    return float(np.median(walls)), float(np.median(cpus))
