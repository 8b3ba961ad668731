"""Reading capture files: pcap and pcapng framing, compression, several files,
batches, the ``data`` column, and files that are cut, corrupt or not captures.

Files are built by hand with the struct builders of tests/fixtures.py; expected
timestamps, offsets and lengths are worked out from what was written.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import warnings

import polars as pl
import pyarrow as pa
import pytest
import zstandard

import kernelkit
from kernelkit import TraceFormatError, TraceWarning
from kernelkit.io import reader
from tests.fixtures import (
    ETH_IPV4,
    ETH_IPV6,
    IPV4_ICMP_ECHO,
    IPV4_TCP_SYN,
    IPV4_UDP_DNS,
    IPV6_ICMP_ECHO,
    IPV6_TCP_SYNACK,
    SLL_IPV4,
    Rec,
    epb,
    hexbytes,
    idb,
    if_tsoffset,
    if_tsresol,
    ng_block,
    pb,
    pcap_file,
    pcap_header,
    shb,
    spb,
    write,
)

TCP = ETH_IPV4 + IPV4_TCP_SYN  # 74 bytes, sport 50000
UDP = ETH_IPV4 + IPV4_UDP_DNS  # 71 bytes, sport 54321
ICMP = ETH_IPV4 + IPV4_ICMP_ECHO  # 50 bytes
TCP6 = ETH_IPV6 + IPV6_TCP_SYNACK  # 74 bytes, sport 443


def ts_ns(frame: pl.DataFrame) -> list:
    return frame["ts"].cast(pl.Int64).to_list()


def read_quietly(path, **kw) -> pl.DataFrame:
    """Read, failing on any warning: a well-formed file must read without one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return kernelkit.read_packets(path, **kw)


def read_warned(path, **kw) -> tuple[pl.DataFrame, list[str]]:
    with pytest.warns(TraceWarning) as caught:
        frame = kernelkit.read_packets(path, **kw)
    return frame, [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]


# --- classic pcap ---------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["us", "ns"])
def test_pcap_byte_order_and_resolution(tmp_path, big_endian, nanosecond):
    if nanosecond:
        fracs = [0, 123_456_789, 999_999_999]
        expected = [1_700_000_000_000_000_000, 1_700_000_001_123_456_789, 1_700_000_002_999_999_999]
    else:
        fracs = [0, 123_456, 999_999]
        expected = [1_700_000_000_000_000_000, 1_700_000_001_123_456_000, 1_700_000_002_999_999_000]
    recs = [
        Rec(TCP, sec=1_700_000_000, frac=fracs[0]),
        Rec(UDP, sec=1_700_000_001, frac=fracs[1], wirelen=200),
        Rec(ICMP[:36], sec=1_700_000_002, frac=fracs[2], wirelen=50),  # ICMP cut after 2 bytes
    ]
    content = pcap_file(recs, big_endian=big_endian, nanosecond=nanosecond)
    frame = read_quietly(write(tmp_path, "t.pcap", content))
    assert ts_ns(frame) == expected
    assert frame["caplen"].to_list() == [74, 71, 36]
    assert frame["wirelen"].to_list() == [74, 200, 50]
    assert frame["linktype"].to_list() == [1, 1, 1]
    assert frame["iface"].to_list() == [0, 0, 0]
    # The packet bytes are network order whatever the file's byte order.
    assert frame["sport"].to_list() == [50000, 54321, None]
    assert [kernelkit.status_name(s) for s in frame["status"]] == ["ok", "ok", "truncated_icmp"]


def test_pcap_snaplen(tmp_path):
    # Snaplen 68: records cut to 68 bytes keep their wire length.
    content = pcap_file([Rec(TCP[:68], wirelen=74), Rec(UDP[:68], wirelen=71)], snaplen=68)
    frame = read_quietly(write(tmp_path, "snap.pcap", content))
    assert frame["caplen"].to_list() == [68, 68]
    assert frame["wirelen"].to_list() == [74, 71]
    # The TCP header ends at 74: cut. The UDP header ends at 42: whole, only payload is cut.
    assert [kernelkit.status_name(s) for s in frame["status"]] == ["truncated_tcp", "ok"]
    assert frame["payload_len"].to_list() == [0, 29]


def test_pcap_record_longer_than_snaplen_is_read(tmp_path):
    # A caplen above the file's snaplen but within what capture tools write (262144)
    # is a sloppy writer, not a corrupt header.
    content = pcap_file([Rec(TCP), Rec(UDP)], snaplen=64)
    frame = read_quietly(write(tmp_path, "sloppy.pcap", content))
    assert frame["caplen"].to_list() == [74, 71]


def test_pcap_snaplen_above_max_packet(tmp_path):
    # A file whose snaplen allows 300000-byte records: such a record is not corrupt.
    big = TCP + bytes(300_000 - len(TCP))
    content = pcap_file([Rec(big, wirelen=300_000), Rec(UDP)], snaplen=400_000)
    frame = read_quietly(write(tmp_path, "jumbo.pcap", content))
    assert frame["caplen"].to_list() == [300_000, 71]


@pytest.mark.parametrize(
    "field, linktype",
    [(0x30000001, 1), (0x10000071, 113), (0x0000_0065, 101)],
    ids=["fcs-ethernet", "fcs-sll", "plain-raw"],
)
def test_pcap_fcs_bits_in_linktype_field(tmp_path, field, linktype):
    data = {1: TCP, 113: SLL_IPV4 + IPV4_TCP_SYN, 101: IPV4_TCP_SYN}[linktype]
    for big_endian in (False, True):
        content = pcap_file([Rec(data)], linktype_field=field, big_endian=big_endian)
        frame = read_quietly(write(tmp_path, f"fcs{int(big_endian)}.pcap", content))
        assert frame["linktype"].to_list() == [linktype]
        assert frame["sport"].to_list() == [50000]
        assert frame["status"].to_list() == [0]


# --- pcapng ---------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_pcapng_byte_order(tmp_path, big_endian):
    be = big_endian
    content = (
        shb(be)
        + idb(1, 65535, big_endian=be)
        + epb(0, 1_700_000_000_000_001, TCP, big_endian=be)  # default resolution: microseconds
        + epb(0, 1_700_000_000_500_000, UDP[:60], wirelen=71, big_endian=be)
    )
    frame = read_quietly(write(tmp_path, "t.pcapng", content))
    assert ts_ns(frame) == [1_700_000_000_000_001_000, 1_700_000_000_500_000_000]
    assert frame["caplen"].to_list() == [74, 60]
    assert frame["wirelen"].to_list() == [74, 71]
    assert frame["sport"].to_list() == [50000, 54321]
    assert frame["linktype"].to_list() == [1, 1]


def test_pcapng_several_interfaces(tmp_path):
    content = (
        shb()
        + idb(1, 0)  # 0: Ethernet, no snaplen, microseconds
        + idb(101, 128, [if_tsresol(9)])  # 1: raw IP, nanoseconds
        + idb(0, 65535, [if_tsresol(3)])  # 2: BSD loopback, milliseconds
        + epb(1, 1_700_000_000_123_456_789, IPV4_UDP_DNS)
        + epb(0, 1_700_000_000_123_456, TCP)
        + epb(2, 1_700_000_000_123, hexbytes("1e000000") + IPV6_TCP_SYNACK)
        + epb(1, 1_700_000_000_000_000_001, IPV6_ICMP_ECHO)
    )
    frame = read_quietly(write(tmp_path, "multi.pcapng", content))
    assert frame["iface"].to_list() == [1, 0, 2, 1]
    assert frame["linktype"].to_list() == [101, 1, 0, 101]
    assert ts_ns(frame) == [
        1_700_000_000_123_456_789,
        1_700_000_000_123_456_000,
        1_700_000_000_123_000_000,
        1_700_000_000_000_000_001,
    ]
    assert frame["l3_offset"].to_list() == [0, 14, 4, 0]
    assert frame["sport"].to_list() == [54321, 50000, 443, None]
    assert frame["icmp_type"].to_list() == [None, None, None, 128]
    assert frame["status"].to_list() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "tsresol, units, expected",
    [
        (None, 1_700_000_000_123_456, 1_700_000_000_123_456_000),  # default 10^-6
        (3, 1_700_000_000_123, 1_700_000_000_123_000_000),
        (6, 1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (9, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        # 2^-10 s: 1_700_000_000 s and 512/1024 s
        (0x80 | 10, 1_700_000_000 * 2**10 + 512, 1_700_000_000_500_000_000),
        # 2^-20 s: 1_700_000_000 s and 3 * 2^18 / 2^20 = 0.75 s
        (0x80 | 20, 1_700_000_000 * 2**20 + 3 * 2**18, 1_700_000_000_750_000_000),
        # 2^-20 s: 1/64 s = 15_625_000 ns, exact
        (0x80 | 20, 1_700_000_000 * 2**20 + 2**14, 1_700_000_000_015_625_000),
        # 2^-40 s (finer than 2^-32): 1000 s and a half; 64 bits of such units span 194 days
        (0x80 | 40, 1000 * 2**40 + 2**39, 1_000_500_000_000),
        # 10^-12 s, finer than ns: 1000 s and 123_456_789_000 ps
        (12, 1000 * 10**12 + 123_456_789_000, 1_000_123_456_789),
    ],
    ids=["default", "1e-3", "1e-6", "1e-9", "2^-10", "2^-20", "2^-20-fine", "2^-40", "1e-12"],
)
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_pcapng_tsresol(tmp_path, tsresol, units, expected, big_endian):
    options = [] if tsresol is None else [if_tsresol(tsresol)]
    content = shb(big_endian) + idb(1, 0, options, big_endian) + epb(0, units, TCP, big_endian=big_endian)
    frame = read_quietly(write(tmp_path, "res.pcapng", content))
    assert ts_ns(frame) == [expected]


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_pcapng_tsoffset(tmp_path, big_endian):
    be = big_endian
    content = (
        shb(be)
        + idb(1, 0, [if_tsoffset(1_600_000_000, be)], be)  # µs since 1_600_000_000 s
        + idb(1, 0, [if_tsresol(9), if_tsoffset(-100, be)], be)  # ns, 100 s earlier
        + epb(0, 100_000_123_456, TCP, big_endian=be)
        + epb(1, 1_700_000_100_000_000_007, TCP, big_endian=be)
    )
    frame = read_quietly(write(tmp_path, "off.pcapng", content))
    assert ts_ns(frame) == [1_600_100_000_123_456_000, 1_700_000_000_000_000_007]


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path):
    content = (
        shb()
        + idb(1, 60)  # snaplen 60
        + spb(TCP[:60], wirelen=74)  # a 74-byte frame, 60 bytes kept
        + pb(0, 1_700_000_000_000_002, UDP)  # obsolete Packet Block
        + spb(ICMP, wirelen=50)  # 50 bytes, padded to 52 in the block
        + epb(0, 1_700_000_000_000_003, TCP6[:60], wirelen=74)
    )
    frame = read_quietly(write(tmp_path, "spb.pcapng", content), data=True)
    # SPBs have no timestamp; their caplen is the wire length, cut to the snaplen.
    assert ts_ns(frame) == [None, 1_700_000_000_000_002_000, None, 1_700_000_000_000_003_000]
    assert frame["caplen"].to_list() == [60, 71, 50, 60]
    assert frame["wirelen"].to_list() == [74, 71, 50, 74]
    assert frame["iface"].to_list() == [0, 0, 0, 0]
    assert frame["sport"].to_list() == [50000, 54321, None, 443]  # the last: TCP cut by the snaplen, ports kept
    assert frame["icmp_type"].to_list() == [None, None, 8, None]
    assert frame["data"].to_list() == [TCP[:60], UDP, ICMP, TCP6[:60]]


def test_pcapng_simple_packet_block_without_snaplen(tmp_path):
    # Snaplen 0 (none): the SPB keeps the whole frame; the padding is not data.
    content = shb() + idb(1, 0) + spb(UDP)  # 71 bytes, padded to 72
    frame = read_quietly(write(tmp_path, "spb0.pcapng", content), data=True)
    assert frame["caplen"].to_list() == [71]
    assert frame["data"].to_list() == [UDP]


def test_pcapng_enhanced_packet_block_options(tmp_path):
    # epb_flags (2) and epb_hash (3) after the padded data: not part of the packet.
    flags = (2, struct.pack("<I", 1))  # inbound
    digest = (3, bytes([2]) + bytes(range(16)))  # MD5-sized hash
    content = shb() + idb(1, 0) + epb(0, 7, UDP, options=[flags, digest]) + epb(0, 8, ICMP, options=[flags])
    frame = read_quietly(write(tmp_path, "opts.pcapng", content), data=True)
    assert frame["data"].to_list() == [UDP, ICMP]
    assert frame["caplen"].to_list() == [71, 50]
    assert ts_ns(frame) == [7000, 8000]


def test_pcapng_more_interfaces_than_tracked(tmp_path):
    # The reader tracks 4096 interfaces; a packet on the 4097th is a row with a status,
    # and a warning says so.
    content = shb() + idb(1, 0) * 4097 + epb(0, 1, TCP) + epb(4095, 2, UDP) + epb(4096, 3, ICMP)
    path = write(tmp_path, "many.pcapng", content)
    frame, messages = read_warned(path)
    assert [kernelkit.status_name(s) for s in frame["status"]] == ["ok", "ok", "unknown_interface"]
    assert frame["iface"].to_list() == [0, 4095, 4096]
    assert frame["caplen"].to_list() == [74, 71, 50]
    assert len(messages) == 1 and str(path) in messages[0]


def test_pcapng_unknown_blocks_are_skipped(tmp_path):
    content = (
        shb(options=[(4, b"kernelkit test")])  # shb_userappl
        + ng_block(0x00000004, hexbytes("0100 0400 c0000201 0000 0000"))  # name resolution
        + idb(1, 0)
        + ng_block(0x00000BAD, struct.pack("<I", 32473) + b"custom data")  # custom block
        + epb(0, 1_700_000_000_000_000, TCP)
        + ng_block(0x00000005, struct.pack("<III", 0, 0, 0))  # interface statistics
        + ng_block(0x0000000A, struct.pack("<II", 0x544C534B, 0))  # decryption secrets
        + ng_block(0x12345678, b"")  # a type nobody defined
        + epb(0, 1_700_000_000_000_001, UDP)
    )
    frame = read_quietly(write(tmp_path, "blocks.pcapng", content))
    assert frame["sport"].to_list() == [50000, 54321]
    assert ts_ns(frame) == [1_700_000_000_000_000_000, 1_700_000_000_000_001_000]


def test_pcapng_second_section_resets_interfaces(tmp_path):
    content = (
        shb(False)
        + idb(1, 0)  # section 1 (LE): 0 Ethernet, 1 raw IP
        + idb(101, 0)
        + epb(1, 1_700_000_000_000_000, IPV4_UDP_DNS)
        + shb(True)
        + idb(229, 0, [if_tsresol(9)], True)  # section 2 (BE): 0 IPv6
        + epb(0, 1_700_000_000_000_000_005, IPV6_ICMP_ECHO, big_endian=True)
        + epb(1, 1_700_000_000_000_000_006, IPV4_UDP_DNS, big_endian=True)  # interface 1 is gone
    )
    frame = read_quietly(write(tmp_path, "sections.pcapng", content))
    assert frame["iface"].to_list() == [1, 0, 1]
    assert frame["linktype"].to_list()[:2] == [101, 229]
    assert ts_ns(frame) == [1_700_000_000_000_000_000, 1_700_000_000_000_000_005, None]
    assert [kernelkit.status_name(s) for s in frame["status"]] == ["ok", "ok", "unknown_interface"]
    assert frame["icmp_type"].to_list() == [None, 128, None]


@pytest.mark.parametrize("where", ["first", "middle"])
def test_pcapng_unknown_major_version_section_is_skipped(tmp_path, where):
    v1 = shb() + idb(1, 0) + epb(0, 1_700_000_000_000_000, TCP)
    v2 = shb(major=2) + idb(101, 0) + epb(0, 1_700_000_000_000_000, IPV4_UDP_DNS)
    v1b = shb(True) + idb(1, 0, big_endian=True) + epb(0, 1_700_000_000_000_001, UDP, big_endian=True)
    content = v2 + v1 + v1b if where == "first" else v1 + v2 + v1b
    path = write(tmp_path, "v2.pcapng", content)
    frame, messages = read_warned(path)
    assert frame["sport"].to_list() == [50000, 54321]
    assert frame["linktype"].to_list() == [1, 1]
    assert len(messages) == 1 and str(path) in messages[0] and "section" in messages[0]


def test_pcapng_packet_before_any_interface(tmp_path):
    content = shb() + epb(0, 1, TCP) + idb(1, 0) + epb(0, 1_700_000_000_000_000, TCP) + epb(5, 2, UDP)
    frame = read_quietly(write(tmp_path, "noif.pcapng", content))
    assert [kernelkit.status_name(s) for s in frame["status"]] == [
        "unknown_interface", "ok", "unknown_interface"]
    assert frame["iface"].to_list() == [0, 0, 5]
    assert frame["caplen"].to_list() == [74, 74, 71]
    assert frame["sport"].to_list() == [None, 50000, None]


# --- compression ----------------------------------------------------------------------

SMALL = [b"", b"\x45", ETH_IPV4[:5], TCP[:12], TCP[:13]]  # inline in an Arrow view up to 12 bytes

PCAP_RECS = [
    Rec(TCP, sec=1_700_000_000, frac=1),
    Rec(UDP, sec=1_700_000_000, frac=2),
    *[Rec(d, sec=1_700_000_001, frac=i, wirelen=60) for i, d in enumerate(SMALL)],
    Rec(ICMP, sec=1_700_000_002, frac=3),
    Rec(TCP6, sec=1_700_000_003, frac=4),
]
PCAP_BYTES = pcap_file(PCAP_RECS)
PCAP_DATA = [r.data for r in PCAP_RECS]

PCAPNG_BYTES = (
    shb()
    + idb(1, 0)
    + idb(101, 0, [if_tsresol(9)])
    + epb(0, 1, TCP)
    + epb(1, 2, IPV4_UDP_DNS)
    + b"".join(epb(0, 3 + i, d, wirelen=60) for i, d in enumerate(SMALL))
    + spb(ICMP)
    + shb(True)
    + idb(1, 0, big_endian=True)
    + epb(0, 4, TCP6, big_endian=True)
)
PCAPNG_DATA = [TCP, IPV4_UDP_DNS, *SMALL, ICMP, TCP6]

COMPRESSORS = {
    "gz": gzip.compress,
    "zst": lambda b: zstandard.ZstdCompressor().compress(b),
    "xz": lzma.compress,
    "bz2": bz2.compress,
}


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
@pytest.mark.parametrize("chunk", [None, 7, 101], ids=["chunk-default", "chunk-7", "chunk-101"])
def test_compressed_reads_like_uncompressed(tmp_path, monkeypatch, kind, codec, chunk):
    raw, expected_data = (PCAP_BYTES, PCAP_DATA) if kind == "pcap" else (PCAPNG_BYTES, PCAPNG_DATA)
    plain = read_quietly(write(tmp_path, f"t.{kind}", raw), data=True)
    assert plain["data"].to_list() == expected_data
    if chunk is not None:
        # Small odd chunks: records (and the file header) straddle chunk boundaries.
        monkeypatch.setattr(reader, "CHUNK_BYTES", chunk)
    packed = read_quietly(write(tmp_path, f"t.{kind}.{codec}", COMPRESSORS[codec](raw)), data=True)
    assert packed.equals(plain)
    assert packed["data"].to_list() == expected_data


def test_compressed_multiframe_zstd(tmp_path, monkeypatch):
    # Two zstd frames back to back (as pzstd and zstd --rsyncable-ish tools write).
    half = 24 + sum(16 + len(r.data) for r in PCAP_RECS[:3])
    content = COMPRESSORS["zst"](PCAP_BYTES[:half]) + COMPRESSORS["zst"](PCAP_BYTES[half:])
    monkeypatch.setattr(reader, "CHUNK_BYTES", 13)
    frame = read_quietly(write(tmp_path, "two.pcap.zst", content), data=True)
    assert frame["data"].to_list() == PCAP_DATA


def test_compressed_multimember_gzip(tmp_path):
    half = 24 + sum(16 + len(r.data) for r in PCAP_RECS[:3])
    content = gzip.compress(PCAP_BYTES[:half]) + gzip.compress(PCAP_BYTES[half:])
    frame = read_quietly(write(tmp_path, "two.pcap.gz", content), data=True)
    assert frame["data"].to_list() == PCAP_DATA


# --- several files, batches, data -----------------------------------------------------


def test_several_files_read_in_order(tmp_path):
    a = write(tmp_path, "a.pcap", pcap_file([Rec(TCP, sec=1), Rec(UDP, sec=2)]))
    b = write(tmp_path, "b.pcapng", PCAPNG_BYTES)
    c = write(tmp_path, "c.pcap.gz", gzip.compress(pcap_file([Rec(ICMP, sec=3)], nanosecond=True)))
    parts = [read_quietly(p, data=True) for p in (a, b, c)]
    together = read_quietly([a, b, c], data=True)
    assert together.equals(pl.concat(parts))
    assert together["data"].to_list() == [TCP, UDP, *PCAPNG_DATA, ICMP]
    reverse = read_quietly([c, b, a], data=True)
    assert reverse.equals(pl.concat(parts[::-1]))
    # A Trace is accepted too, and read the same.
    assert read_quietly(kernelkit.open_trace([a, b, c]), data=True).equals(together)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("data", [False, True], ids=["nodata", "data"])
def test_batches(tmp_path, size, data):
    paths = [write(tmp_path, "a.pcap", PCAP_BYTES), write(tmp_path, "b.pcapng", PCAPNG_BYTES),
             write(tmp_path, "c.pcap.zst", COMPRESSORS["zst"](PCAP_BYTES))]
    whole = read_quietly(paths, data=data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches = list(kernelkit.open_trace(paths).batches(size, data=data))
    assert all(0 < b.num_rows <= size for b in batches)
    assert sum(b.num_rows for b in batches) == whole.height == 2 * len(PCAP_DATA) + len(PCAPNG_DATA)
    assert all(b.schema == batches[0].schema for b in batches)
    joined = pl.from_arrow(pa.Table.from_batches(batches))
    assert joined.equals(whole)


def test_batch_size_must_be_positive(tmp_path):
    trace = kernelkit.open_trace(write(tmp_path, "a.pcap", PCAP_BYTES))
    with pytest.raises(ValueError):
        next(trace.batches(0))


def test_data_column_exact_bytes(tmp_path):
    frame = read_quietly(write(tmp_path, "a.pcap", PCAP_BYTES), data=True)
    assert frame["data"].to_list() == PCAP_DATA
    assert frame["data"].dtype == pl.Binary
    # Lengths agree with caplen, small packets included.
    assert [len(d) for d in frame["data"]] == frame["caplen"].to_list()
    # Without data=True there is no such column.
    assert "data" not in read_quietly(write(tmp_path, "b.pcap", PCAP_BYTES)).columns


def test_data_column_of_truncated_records(tmp_path):
    # Snaplen-cut records: data is what was captured, not the wire frame.
    content = pcap_file([Rec(TCP[:12], wirelen=74), Rec(TCP[:13], wirelen=74), Rec(UDP[:40], wirelen=71)])
    frame = read_quietly(write(tmp_path, "cut.pcap", content), data=True)
    assert frame["data"].to_list() == [TCP[:12], TCP[:13], UDP[:40]]


# --- cut, corrupt, and not captures ----------------------------------------------------


def _pcap_offsets(recs):
    """Byte offset of each record header in a pcap file built from ``recs``."""
    offsets, pos = [], 24
    for r in recs:
        offsets.append(pos)
        pos += 16 + len(r.data)
    return offsets, pos


@pytest.mark.parametrize("into", [0, 5, 16, 20], ids=["at-header", "mid-header", "at-data", "mid-data"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gz-of-cut"])
def test_truncated_pcap(tmp_path, into, compressed):
    offsets, _ = _pcap_offsets(PCAP_RECS)
    cut_record = 4
    cut = offsets[cut_record] + into
    if into == 0:
        cut += 1  # one byte of the header: the file is cut, not ended on a boundary
    content = PCAP_BYTES[:cut]
    name = "cut.pcap.gz" if compressed else "cut.pcap"
    path = write(tmp_path, name, gzip.compress(content) if compressed else content)
    frame, messages = read_warned(path, data=True)
    assert frame["data"].to_list() == PCAP_DATA[:cut_record]
    assert len(messages) == 1
    assert str(path) in messages[0]
    assert f"byte offset {offsets[cut_record]}" in messages[0]


def test_truncated_pcapng(tmp_path):
    head = shb() + idb(1, 0) + epb(0, 1, TCP) + epb(0, 2, UDP)
    for into in (1, 11, 30, 60):
        path = write(tmp_path, f"cut{into}.pcapng", head + epb(0, 3, ICMP)[:into])
        frame, messages = read_warned(path, data=True)
        assert frame["data"].to_list() == [TCP, UDP]
        assert len(messages) == 1 and str(path) in messages[0]
        assert f"byte offset {len(head)}" in messages[0]


def test_pcap_ending_on_record_boundary_has_no_warning(tmp_path):
    frame = read_quietly(write(tmp_path, "whole.pcap", PCAP_BYTES))
    assert frame.height == len(PCAP_RECS)
    # A file with the header only is a capture with no packets.
    assert read_quietly(write(tmp_path, "none.pcap", pcap_header())).height == 0


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_corrupt_pcap_record_header(tmp_path, big_endian):
    # Record 2 claims 300000 bytes: above 262144 and above the snaplen (65535).
    recs = [Rec(TCP), Rec(UDP), Rec(ICMP, caplen=300_000), Rec(TCP6)]
    content = pcap_file(recs, big_endian=big_endian) + bytes(300_000)
    offsets, _ = _pcap_offsets(recs)
    path = write(tmp_path, "bad.pcap", content)
    frame, messages = read_warned(path, data=True)
    assert frame["data"].to_list() == [TCP, UDP]
    assert len(messages) == 1 and str(path) in messages[0] and "corrupt" in messages[0]
    assert f"byte offset {offsets[2]}" in messages[0]


def test_corrupt_pcap_record_header_compressed(tmp_path, monkeypatch):
    recs = [Rec(TCP), Rec(UDP), Rec(ICMP, caplen=0x7FFF_FFFF), Rec(TCP6)]
    offsets, _ = _pcap_offsets(recs)
    monkeypatch.setattr(reader, "CHUNK_BYTES", 33)
    path = write(tmp_path, "bad.pcap.xz", lzma.compress(pcap_file(recs)))
    frame, messages = read_warned(path)
    assert frame["sport"].to_list() == [50000, 54321]
    assert len(messages) == 1 and str(path) in messages[0] and f"byte offset {offsets[2]}" in messages[0]


@pytest.mark.parametrize(
    "damage", ["trailing-length", "length-not-multiple-of-4", "length-below-12", "caplen-past-block",
               "section-byte-order-magic", "section-too-short"])
def test_corrupt_pcapng_block(tmp_path, damage):
    head = shb() + idb(1, 0) + epb(0, 1, TCP) + epb(0, 2, UDP)
    bad = bytearray(epb(0, 3, ICMP))  # 32 + 52 = 84 bytes
    if damage == "section-byte-order-magic":
        bad = bytearray(shb())
        bad[8:12] = b"\x4d\x3c\x2b\x1b"  # neither byte order of 0x1A2B3C4D
    elif damage == "section-too-short":
        bad = bytearray(ng_block(0x0A0D0D0A, struct.pack("<IHH", 0x1A2B3C4D, 1, 0)))  # 20 < 28 bytes
    elif damage == "trailing-length":
        bad[-4:] = struct.pack("<I", 88)
    elif damage == "length-not-multiple-of-4":
        bad[4:8] = struct.pack("<I", 83)
    elif damage == "length-below-12":
        bad[4:8] = struct.pack("<I", 8)
    else:
        bad[20:24] = struct.pack("<I", 53)  # caplen 53 in a block with room for 52
    content = head + bytes(bad) + epb(0, 4, TCP6)
    path = write(tmp_path, "bad.pcapng", content)
    frame, messages = read_warned(path, data=True)
    assert frame["data"].to_list() == [TCP, UDP]
    assert len(messages) == 1 and str(path) in messages[0] and "corrupt" in messages[0]
    assert f"byte offset {len(head)}" in messages[0]


NOT_CAPTURES = {
    "text": b"This is not a capture file.\nJust some text.\n",
    "empty": b"",
    # A 'modified' (Kuznetzov) pcap: its own magic, and longer record headers.
    "kuznetzov": struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    + struct.pack("<IIIIIHBB", 1, 0, 74, 74, 0, 0, 0, 0) + TCP,
    "kuznetzov-be": struct.pack(">IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1),
    "short-pcap-header": pcap_header()[:20],
    "gzipped-text": gzip.compress(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    "gzipped-empty": gzip.compress(b""),
}


@pytest.mark.parametrize("name", sorted(NOT_CAPTURES))
def test_not_a_capture(tmp_path, name):
    path = write(tmp_path, f"{name}.pcap", NOT_CAPTURES[name])
    with pytest.raises(TraceFormatError) as info:
        kernelkit.read_packets(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        kernelkit.read_packets(tmp_path / "nowhere.pcap")
    present = write(tmp_path, "here.pcap", PCAP_BYTES)
    with pytest.raises(FileNotFoundError) as info:
        kernelkit.open_trace([present, tmp_path / "gone.pcapng"])
    assert "gone.pcapng" in str(info.value)


# --- a compressed stream that is itself cut ---------------------------------------------


@pytest.mark.parametrize("codec", ["gz", "xz", "bz2"])
def test_cut_compressed_stream(tmp_path, codec):
    # 1.08 MB: more than one 900 KB bzip2 block, so that a cut bzip2 stream still has one whole.
    big = pcap_file([Rec(TCP, sec=i) for i in range(12000)])
    packed = COMPRESSORS[codec](big)
    path = write(tmp_path, f"cut.pcap.{codec}", packed[: len(packed) * 3 // 4])
    with warnings.catch_warnings(record=True) as caught:  # not pytest.warns: let EOFError through
        warnings.simplefilter("always")
        frame = kernelkit.read_packets(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]
    assert 0 < frame.height < 12000
    assert frame["ts"].cast(pl.Int64).to_list() == [i * 1_000_000_000 for i in range(frame.height)]
    assert any(str(path) in m and "byte offset" in m for m in messages)


def test_damaged_gzip_trailer(tmp_path):
    packed = bytearray(gzip.compress(PCAP_BYTES))
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer: every data byte decompresses as written
    path = write(tmp_path, "crc.pcap.gz", bytes(packed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = kernelkit.read_packets(path, data=True)
    assert frame["data"].to_list() == PCAP_DATA
    assert any(issubclass(w.category, TraceWarning) and str(path) in str(w.message) for w in caught)


def test_cut_zstd_stream(tmp_path):
    big = pcap_file([Rec(TCP, sec=i) for i in range(6000)])  # 540 KB: several zstd blocks
    packed = COMPRESSORS["zst"](big)
    path = write(tmp_path, "cut.pcap.zst", packed[: len(packed) // 2])
    frame, messages = read_warned(path)
    assert 0 < frame.height < 6000
    assert frame["ts"].cast(pl.Int64).to_list() == [i * 1_000_000_000 for i in range(frame.height)]
    assert len(messages) == 1 and str(path) in messages[0] and "byte offset" in messages[0]
