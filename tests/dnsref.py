"""Plain-Python reference for the DNS kernel (kernelkit/kernels/l7/dns.py), and a message builder.

``parse_message(msg, declared)`` returns what the kernel writes for one message, as a
dict; ``split_tcp(stream)`` cuts a TCP stream prefix into ``(message bytes,
declared length)``. Names follow the kernel's documented bounds: a compression
pointer must point before where its name started, each further one before the
previous target, at most 128 of them, at most 255 octets in all.

``Builder`` writes messages with real name compression (a suffix seen before is
written as a pointer to it), for generated fixtures whose content is known.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

OK, TRUNCATED_HEADER, TRUNCATED, BAD_POINTER, BAD_LABEL, NAME_TOO_LONG, MESSAGE_CUT = (
    "ok",
    "truncated_header",
    "truncated",
    "bad_pointer",
    "bad_label",
    "name_too_long",
    "message_cut",
)


class NameError_(Exception):
    def __init__(self, status: str):
        self.status = status


def read_name(msg: bytes, pos: int) -> tuple[bytes, int]:
    """(dotted name, offset after the name where it is written); raises NameError_."""
    labels: list[bytes] = []
    octets = 0
    end = None
    bound = pos
    hops = 0
    while True:
        if pos >= len(msg):
            raise NameError_(TRUNCATED)
        length = msg[pos]
        if length >= 0xC0:
            if pos + 1 >= len(msg):
                raise NameError_(TRUNCATED)
            target = struct.unpack_from("!H", msg, pos)[0] & 0x3FFF
            if end is None:
                end = pos + 2
            hops += 1
            if target >= bound or hops > 128:
                raise NameError_(BAD_POINTER)
            bound = pos = target
            continue
        if length >= 0x40:
            raise NameError_(BAD_LABEL)
        if length == 0:
            return b".".join(labels), (pos + 1 if end is None else end)
        octets += length + 1
        if octets + 1 > 255:
            raise NameError_(NAME_TOO_LONG)
        if pos + 1 + length > len(msg):
            raise NameError_(TRUNCATED)
        labels.append(msg[pos + 1 : pos + 1 + length])
        pos += 1 + length


def _address(raw: bytes) -> str:
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    address = ipaddress.IPv6Address(raw)
    return f"::ffff:{address.ipv4_mapped}" if address.ipv4_mapped else str(address)


def parse_message(msg: bytes, declared: int | None = None) -> dict:
    """The kernel's view of one message: header, first question, A/AAAA/CNAME answers."""
    out = {
        "status": None,
        "id": None,
        "flags": None,
        "counts": None,
        "qname": None,
        "qtype": None,
        "qclass": None,
        "answers": [],
    }
    if len(msg) < 12:
        out["status"] = TRUNCATED_HEADER
        return out
    ident, flags, qd, an, ns, ar = struct.unpack_from("!6H", msg, 0)
    out.update(id=ident, flags=flags, counts=(qd, an, ns, ar))
    pos = 12
    try:
        for q in range(qd):
            name, pos = read_name(msg, pos)
            if q == 0:
                out["qname"] = name
            if pos + 4 > len(msg):
                raise NameError_(TRUNCATED)
            if q == 0:
                out["qtype"], out["qclass"] = struct.unpack_from("!HH", msg, pos)
            pos += 4
        for _ in range(an):
            _, pos = read_name(msg, pos)
            if pos + 10 > len(msg):
                raise NameError_(TRUNCATED)
            rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", msg, pos)
            rdata = pos + 10
            if rdata + rdlength > len(msg):
                raise NameError_(TRUNCATED)
            if (rtype, rdlength) in ((1, 4), (28, 16)):
                out["answers"].append((rtype, rclass, ttl, _address(msg[rdata : rdata + rdlength])))
            elif rtype == 5:
                target, _ = read_name(msg, rdata)
                out["answers"].append((rtype, rclass, ttl, target.decode("utf-8", "backslashreplace")))
            pos = rdata + rdlength
    except NameError_ as problem:
        out["status"] = problem.status
        return out
    out["status"] = MESSAGE_CUT if declared is not None and declared > len(msg) else OK
    return out


def split_tcp(stream: bytes) -> list[tuple[bytes, int | None]]:
    """Length-prefixed messages of a TCP stream prefix: (bytes at hand, declared length)."""
    out = []
    k = 0
    while k < len(stream):
        if len(stream) - k < 2:
            out.append((b"", None))
            break
        length = struct.unpack_from("!H", stream, k)[0]
        out.append((stream[k + 2 : k + 2 + length], length))
        k += 2 + length
    return out


# -- building messages -----------------------------------------------------------------


@dataclass
class Builder:
    """A DNS message writer with name compression (RFC 1035 §4.1.4)."""

    data: bytearray = field(default_factory=lambda: bytearray(12))
    suffixes: dict[tuple[bytes, ...], int] = field(default_factory=dict)
    compress: bool = True

    def name(self, name: bytes) -> None:
        labels = tuple(label for label in name.split(b".") if label) if name else ()
        for k in range(len(labels)):
            suffix = labels[k:]  # case kept, so that a decoded name reads as it was written
            if self.compress and suffix in self.suffixes:
                self.data += struct.pack("!H", 0xC000 | self.suffixes[suffix])
                return
            if len(self.data) < 0x4000:
                self.suffixes[suffix] = len(self.data)
            self.data += bytes([len(labels[k])]) + labels[k]
        self.data += b"\x00"

    def header(self, ident: int, flags: int, qd: int, an: int, ns: int = 0, ar: int = 0) -> None:
        self.data[:12] = struct.pack("!6H", ident, flags, qd, an, ns, ar)

    def question(self, name: bytes, qtype: int, qclass: int = 1) -> None:
        self.name(name)
        self.data += struct.pack("!HH", qtype, qclass)

    def record(
        self,
        owner: bytes,
        rtype: int,
        rdata: bytes | None = None,
        target: bytes | None = None,
        ttl: int = 300,
        rclass: int = 1,
    ) -> None:
        self.name(owner)
        self.data += struct.pack("!HHI", rtype, rclass, ttl)
        at = len(self.data)
        self.data += b"\x00\x00"
        if target is not None:
            self.name(target)
        else:
            self.data += rdata
        struct.pack_into("!H", self.data, at, len(self.data) - at - 2)

    def bytes(self) -> bytes:
        return bytes(self.data)
