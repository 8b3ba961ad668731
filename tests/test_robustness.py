"""Damaged copies of every real capture: byte flips, cuts, and cut compressed streams.

Run with NUMBA_BOUNDSCHECK=1 (tests/conftest.py), so an out-of-bounds read in a
kernel is an IndexError here, not a silent read past a packet. Each case runs
under a watchdog (faulthandler): a hang dumps the stacks and ends the run rather
than blocking it.

Where records are is worked out by a small walker written here from the pcap and
pcapng formats, not by kernelkit; its packet count must agree with kernelkit's.
"""

from __future__ import annotations

import faulthandler
import functools
import gzip
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import kernelkit
from kernelkit import TraceFormatError, TraceWarning
from tests.traces import shared_traces

TRACES = shared_traces()
IDS = [p.name.removesuffix(".pcap").removesuffix(".pcapng")[-60:] for p in TRACES]
CASE_TIMEOUT = 30  # seconds; every case here takes well under one once the kernels are compiled

pytestmark = pytest.mark.skipif(not TRACES, reason="no real captures: ../shared/traces is absent")


@pytest.fixture(scope="module", autouse=True)
def _warm_kernels(tmp_path_factory):
    """Compile (or load) the kernels once, before the per-case watchdog starts."""
    if TRACES:
        faulthandler.dump_traceback_later(900, exit=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kernelkit.read_packets(min(TRACES, key=lambda p: p.stat().st_size))
        finally:
            faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _watchdog(_warm_kernels):
    faulthandler.dump_traceback_later(CASE_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# --- where the records are ---------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    start: int  # offset of the record header / block
    end: int  # offset just after the record
    data_start: int  # the packet bytes (empty range for blocks without a packet)
    data_end: int
    packet: bool  # gives a row


SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6


def _pcap_records(raw: bytes) -> list[Record]:
    order = "<" if struct.unpack("<I", raw[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    snaplen = struct.unpack_from(order + "I", raw, 16)[0]
    limit = max(snaplen, 262144)  # larger records are corrupt headers: the walk stops
    records, pos = [], 24
    while pos + 16 <= len(raw):
        caplen = struct.unpack_from(order + "I", raw, pos + 8)[0]
        if caplen > limit or pos + 16 + caplen > len(raw):
            break
        records.append(Record(pos, pos + 16 + caplen, pos + 16, pos + 16 + caplen, True))
        pos += 16 + caplen
    return records


def _pcapng_records(raw: bytes) -> list[Record]:
    records, pos, order, skipping = [], 0, "<", False
    while pos + 12 <= len(raw):
        block_type = struct.unpack_from(order + "I", raw, pos)[0]
        if block_type == SHB:
            magic = raw[pos + 8 : pos + 12]
            if magic not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                break
            order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        length = struct.unpack_from(order + "I", raw, pos + 4)[0]
        if length < 12 or length % 4 or pos + length > len(raw):
            break
        if struct.unpack_from(order + "I", raw, pos + length - 4)[0] != length:
            break
        record = Record(pos, pos + length, pos, pos, False)
        if block_type == SHB:
            skipping = struct.unpack_from(order + "H", raw, pos + 12)[0] != 1  # unknown major version
        elif not skipping and block_type in (EPB, PB):
            caplen = struct.unpack_from(order + "I", raw, pos + 20)[0]
            record = Record(pos, pos + length, pos + 28, pos + 28 + caplen, True)
        elif not skipping and block_type == SPB:
            record = Record(pos, pos + length, pos + 12, pos + length - 4, True)
        records.append(record)
        pos += length
    return records


@functools.cache
def _load(path: Path):
    """The file's bytes, its records, and the clean parse with its warnings."""
    raw = path.read_bytes()
    records = _pcapng_records(raw) if raw[:4] == b"\x0a\x0d\x0d\x0a" else _pcap_records(raw)
    clean, messages = _read(path)
    return raw, records, clean, messages


def _read(path: Path, **kw) -> tuple[pl.DataFrame, list[str]]:
    """Read, collecting warnings; any warning but a TraceWarning fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = kernelkit.read_packets(path, **kw)
    # A ResourceWarning about another file comes from the garbage collector finishing an
    # earlier test's reader (one left open by an exception): not this read's doing.
    others = [
        w for w in caught
        if not issubclass(w.category, TraceWarning)
        and not (issubclass(w.category, ResourceWarning) and str(path) not in str(w.message))
    ]
    assert not others, [str(w.message) for w in others]
    return frame, [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]


def _data_positions(records: list[Record]) -> np.ndarray:
    spans = [np.arange(r.data_start, r.data_end) for r in records if r.packet and r.data_end > r.data_start]
    return np.concatenate(spans) if spans else np.zeros(0, np.int64)


def _flip(raw: bytes, positions: np.ndarray, rng: np.random.Generator) -> bytes:
    buf = np.frombuffer(raw, np.uint8).copy()
    buf[positions] ^= rng.integers(1, 256, size=len(positions), dtype=np.uint8)  # never a no-op
    return buf.tobytes()


def _same_rows(frame: pl.DataFrame, clean: pl.DataFrame, k: int, columns=None) -> bool:
    a, b = frame.head(k), clean.head(k)
    if columns is not None:
        a, b = a.select(columns), b.select(columns)
    return a.equals(b)


def _check_invariants(frame: pl.DataFrame, where: str):
    """What must hold of any row, however damaged the packet (the null rules of schema.py)."""
    bad = frame.filter(
        (pl.col("l3_offset") > pl.col("caplen"))
        # the walk reads a header only when it is captured whole
        | (pl.col("l4_offset") > pl.col("caplen"))
        | (pl.col("l4_offset") < pl.col("l3_offset"))
        | (pl.col("payload_offset") < pl.col("l4_offset"))
        # payload_len is what the headers say, but never past the frame on the wire
        | (pl.col("payload_offset") + pl.col("payload_len") > pl.max_horizontal("caplen", "wirelen"))
        # a clean parse read every header it reports
        | ((pl.col("status") == 0) & (pl.col("payload_offset") > pl.col("caplen")))
        | ((pl.col("status") == 0) & (pl.col("caplen") > pl.col("wirelen")))
        | ~pl.col("status").is_in(list(kernelkit.STATUS_CODES))
        | (pl.col("ip_version").is_null() != pl.col("src_ip").is_null())
        | ~pl.col("ip_version").is_in([4, 6])
        | ((pl.col("ip_version") == 4) & (pl.col("src_ip").bin.slice(0, 12) != bytes(10) + b"\xff\xff"))
        | (pl.col("vlan_id") > 4095)
        | (pl.col("tcp_flags") > 0x1FF)
        | (pl.col("tcp_flags").is_null() != pl.col("tcp_seq").is_null())
        | (pl.col("sport").is_null() != pl.col("dport").is_null())
    )
    assert bad.height == 0, (where, bad.head(3).to_dicts())


def test_walker_agrees_with_kernelkit():
    """The record walker here and kernelkit count the same packets in every capture."""
    for path in TRACES:
        _raw, records, clean, _ = _load(path)
        assert sum(r.packet for r in records) == clean.height, path.name
        _check_invariants(clean, path.name)


RATES = [1e-4, 1e-3, 1e-2]
SEEDS = [0, 1, 2]
FRAMING = ["caplen", "wirelen", "ts", "iface", "linktype"]


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_flips_in_packet_data(tmp_path, path):
    """(a) Flips in the packet bytes only: the same rows, with the same framing fields."""
    raw, records, clean, clean_messages = _load(path)
    data = _data_positions(records)
    if not len(data):
        pytest.skip("no packet bytes")
    for seed, rate in [(seed, rate) for rate in RATES for seed in SEEDS]:
        rng = np.random.default_rng([1000 + seed, int(rate * 1e6)])
        count = max(1, round(rate * len(data)))
        damaged = _flip(raw, rng.choice(data, size=count, replace=False), rng)
        target = tmp_path / f"flip{seed}-{rate}{path.suffix}"
        target.write_bytes(damaged)
        frame, messages = _read(target)
        _check_invariants(frame, f"rate {rate}")
        assert frame.height == clean.height, rate
        assert _same_rows(frame, clean, clean.height, FRAMING), rate
        # the same warnings as the clean file (at the same offsets)
        expected = [m.replace(str(path), str(target)) for m in clean_messages]
        assert messages == expected


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_flips_anywhere(tmp_path, path):
    """(b) Flips anywhere but the 4-byte magic: no exception; rows before the damage unchanged."""
    raw, records, clean, _ = _load(path)
    is_data = np.zeros(len(raw), bool)
    is_data[_data_positions(records)] = True
    for seed, rate in [(seed, rate) for rate in RATES for seed in SEEDS]:
        rng = np.random.default_rng([2000 + seed, int(rate * 1e6)])
        count = max(1, round(rate * (len(raw) - 4)))
        positions = np.sort(rng.choice(np.arange(4, len(raw)), size=count, replace=False))
        damaged = _flip(raw, positions, rng)
        target = tmp_path / f"any{seed}-{rate}{path.suffix}"
        target.write_bytes(damaged)
        frame, messages = _read(target)
        _check_invariants(frame, f"rate {rate}")
        assert all(str(target) in m for m in messages)
        first_any = int(positions[0])
        headers = positions[~is_data[positions]]
        first_header = int(headers[0]) if len(headers) else len(raw)
        packets = [r for r in records if r.packet]
        untouched = sum(r.end <= first_any for r in packets)
        framed = sum(r.end <= first_header for r in packets)
        assert frame.height >= framed, rate
        assert _same_rows(frame, clean, untouched), rate
        assert _same_rows(frame, clean, framed, FRAMING), rate


def _recut(raw: bytes, records: list[Record], rng: np.random.Generator) -> tuple[bytes, list[int]]:
    """The capture with each packet cut to a random caplen (as a smaller snaplen would),
    wire lengths kept. Returns the new file and the new caplens."""
    pcapng = raw[:4] == b"\x0a\x0d\x0d\x0a"
    out, caplens, order = [], [], "<"
    if not pcapng:
        order = "<" if struct.unpack("<I", raw[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        out.append(raw[:24])
    for r in records:
        block = raw[r.start : r.end]
        if pcapng and block[:4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if block[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype = struct.unpack_from(order + "I", block)[0] if pcapng else None
        if not r.packet or btype == SPB:
            out.append(block)
            if r.packet:
                caplens.append(None)  # an SPB's caplen comes from the snaplen: not cut here
            continue
        keep = int(rng.integers(0, r.data_end - r.data_start + 1))
        caplens.append(keep)
        data = raw[r.data_start : r.data_start + keep]
        if pcapng:
            head = bytearray(block[:28])
            struct.pack_into(order + "I", head, 20, keep)
            body = bytes(head[8:]) + data + bytes(-keep % 4)
            total = len(body) + 12
            out.append(struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total))
        else:
            head = bytearray(block[:16])
            struct.pack_into(order + "I", head, 8, keep)
            out.append(bytes(head) + data)
    out.append(raw[records[-1].end if records else (0 if pcapng else 24):])
    return b"".join(out), caplens


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_every_packet_cut_short(tmp_path, path):
    """Each packet cut to a random length (every header cut somewhere, across the seeds):
    the same rows and wire lengths, the new caplens, and headers reported only if captured."""
    raw, records, clean, _ = _load(path)
    if not clean.height:
        pytest.skip("no packets")
    for seed in SEEDS:
        damaged, caplens = _recut(raw, records, np.random.default_rng(3000 + seed))
        target = tmp_path / f"recut{seed}{path.suffix}"
        target.write_bytes(damaged)
        frame, _ = _read(target)
        _check_invariants(frame, f"seed {seed}")
        assert frame.height == clean.height
        assert _same_rows(frame, clean, clean.height, ["wirelen", "ts", "iface", "linktype"])
        got = frame["caplen"].to_list()
        assert all(c is None or c == g for c, g in zip(caplens, got))


def _cut_points(records: list[Record]):
    """(packet index, record start, cut offset) inside the header and inside the data of
    the first, a middle and the last packet record."""
    packets = [r for r in records if r.packet]
    for index in sorted({0, len(packets) // 2, len(packets) - 1} if packets else set()):
        r = packets[index]
        header = r.data_start - r.start if r.data_start > r.start else 12
        yield index, r.start, r.start + header // 2  # mid record header
        if r.data_end - r.data_start >= 2:
            yield index, r.start, (r.data_start + r.data_end) // 2  # mid packet data


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_cut_mid_record(tmp_path, path):
    """(c) The file cut inside a record: every whole record before it, and a warning."""
    raw, records, clean, _ = _load(path)
    for n, (index, start, cut) in enumerate(_cut_points(records)):
        target = tmp_path / f"cut{n}{path.suffix}"
        target.write_bytes(raw[:cut])
        frame, messages = _read(target)
        _check_invariants(frame, f"cut {cut}")
        assert frame.height == index, cut
        assert _same_rows(frame, clean, index), cut
        assert any(str(target) in m and f"byte offset {start}" in m for m in messages), (cut, messages)


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_cut_in_file_header(tmp_path, path):
    """(c) Cut inside the file header: a pcap is not a capture then; a pcapng section is cut."""
    raw, _, _, _ = _load(path)
    target = tmp_path / f"head{path.suffix}"
    target.write_bytes(raw[:13])
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        frame, messages = _read(target)
        assert frame.height == 0
        assert any(str(target) in m and "byte offset 0" in m for m in messages)
    else:
        with pytest.raises(TraceFormatError, match=re.escape(str(target))):
            kernelkit.read_packets(target)


def _whole_packets_in(prefix: bytes) -> int:
    records = _pcapng_records(prefix) if prefix[:4] == b"\x0a\x0d\x0d\x0a" else _pcap_records(prefix)
    return sum(r.packet for r in records)


@pytest.mark.parametrize("path", TRACES, ids=IDS)
def test_cut_gzip_stream(tmp_path, path):
    """(d) A gzip-compressed copy cut mid-stream: what decompresses is kept, with a warning."""
    raw, _, clean, _ = _load(path)
    packed = gzip.compress(raw, compresslevel=1, mtime=0)
    cut = packed[: len(packed) // 2]
    # What any gzip reader can recover from the cut stream, and its whole records.
    recoverable = zlib.decompressobj(31).decompress(cut)
    target = tmp_path / f"cut{path.suffix}.gz"
    target.write_bytes(cut)
    if len(recoverable) < (1 if raw[:4] == b"\x0a\x0d\x0d\x0a" else 24):
        # Not even a file header survives: not a capture.
        with pytest.raises(TraceFormatError, match=re.escape(str(target))):
            kernelkit.read_packets(target)
        return
    expected = _whole_packets_in(recoverable)
    frame, messages = _read(target)
    assert frame.height == expected
    assert _same_rows(frame, clean, expected)
    assert any(str(target) in m and "byte offset" in m for m in messages), messages
