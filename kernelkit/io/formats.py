"""Recognising capture files: container (compression) and capture format."""

from __future__ import annotations

import struct
from dataclasses import dataclass

PCAP_HEADER_LEN = 24

# magic as read little-endian -> (big_endian, nanosecond)
_PCAP_MAGICS = {
    0xA1B2C3D4: (False, False),
    0xA1B23C4D: (False, True),
    0xD4C3B2A1: (True, False),
    0x4D3CB2A1: (True, True),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bzip2",
}


class TraceFormatError(ValueError):
    """A file that is not a capture this reader understands."""


class TraceWarning(UserWarning):
    """A capture that was read only in part (cut short, or a corrupt record)."""


@dataclass(frozen=True)
class PcapHeader:
    """What a classic pcap file header says."""

    big_endian: bool
    nanosecond: bool
    snaplen: int
    linktype: int
    version: tuple[int, int]

    @property
    def ts_unit_ns(self) -> int:
        return 1 if self.nanosecond else 1000


def compression_of(head: bytes) -> str | None:
    """The compression a file's first bytes announce, or None.

    Examples
    --------
    >>> compression_of(b"\\x1f\\x8b\\x08\\x00"), compression_of(b"\\xd4\\xc3\\xb2\\xa1")
    ('gzip', None)
    """
    for magic, name in COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    return None


def capture_format(head: bytes, path: str) -> str:
    """``"pcap"`` or ``"pcapng"`` from a (decompressed) file's first bytes.

    Raises
    ------
    TraceFormatError
        When the bytes are neither, naming the file and what was found.

    Examples
    --------
    >>> capture_format(b"\\x0a\\x0d\\x0d\\x0a" + bytes(8), "x.pcapng")
    'pcapng'
    """
    if len(head) >= 4 and head[:4] == _PCAPNG_MAGIC:
        return "pcapng"
    if len(head) >= 4 and struct.unpack("<I", head[:4])[0] in _PCAP_MAGICS:
        return "pcap"
    if len(head) >= 4 and struct.unpack("<I", head[:4])[0] in (0xA1B2CD34, 0x34CDB2A1):
        raise TraceFormatError(f"{path}: a 'modified' (Kuznetzov) pcap, which kernelkit does not read")
    if not head:
        raise TraceFormatError(f"{path}: empty file, not a capture")
    raise TraceFormatError(
        f"{path}: not a pcap or pcapng capture (first bytes {head[:8].hex(' ')})"
    )


def parse_pcap_header(head: bytes, path: str) -> PcapHeader:
    """Decode the 24-byte classic pcap file header.

    Examples
    --------
    >>> import struct
    >>> h = parse_pcap_header(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), "x.pcap")
    >>> h.linktype, h.nanosecond, h.snaplen
    (1, False, 65535)
    """
    if len(head) < PCAP_HEADER_LEN:
        raise TraceFormatError(f"{path}: pcap file header cut short ({len(head)} of 24 bytes)")
    big_endian, nanosecond = _PCAP_MAGICS[struct.unpack("<I", head[:4])[0]]
    order = ">" if big_endian else "<"
    major, minor, _zone, _sigfigs, snaplen, linktype_field = struct.unpack(order + "HHiIII", head[4:24])
    # The upper bits of the link-type field carry FCS information; the type is the low 16.
    return PcapHeader(big_endian, nanosecond, snaplen, linktype_field & 0xFFFF, (major, minor))
