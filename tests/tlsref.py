"""Plain-Python reference for the TLS hello kernel, a ClientHello builder, JA3 and JA4.

Written from the RFCs and the fingerprints' specifications, not from the kernel:
the records are joined into one handshake byte string first, then the hello is
read with a cursor that raises on overrun. The kernel's documented rules are
followed where the RFCs leave a choice (status codes, first occurrence wins,
fields read before a bad length are kept).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

OK, NOT_TLS, NOT_HELLO, TRUNCATED, BAD_RECORD, BAD_LENGTH, LIST_CAPPED, NO_DATA = range(8)
STATUS_NAMES = [
    "ok",
    "not_tls",
    "not_hello",
    "truncated",
    "bad_record",
    "bad_length",
    "list_capped",
    "no_data",
]
CAPS = {
    "ciphers": 128,
    "extensions": 64,
    "groups": 64,
    "point_formats": 16,
    "sig_algs": 64,
    "versions": 16,
    "alpn": 16,
}
MAX_RECORD = 2**14 + 2048
GREASE = frozenset(0x0A0A + 0x1010 * k for k in range(16))


class Short(Exception):
    """A length runs past the structure that holds it."""


@dataclass
class Hello:
    status: int = OK
    type: int | None = None
    record_version: int | None = None
    version: int | None = None
    sni: bytes | None = None
    has_sni: bool = False
    alpn: list[bytes] = field(default_factory=list)
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    sig_algs: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    cipher: int | None = None
    selected_version: int | None = None
    capped: bool = False

    def keep(self, name: str, values: list) -> None:
        """Append to a list, up to its cap."""
        lst = getattr(self, name)
        room = CAPS[name] - len(lst)
        if len(values) > room:
            self.capped = True
        lst.extend(values[: max(room, 0)])


class Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Short
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vector(self, width: int) -> bytes:
        """A length-prefixed byte string (opaque<…>)."""
        n = int.from_bytes(self.take(width), "big")
        return self.take(n)

    def done(self) -> bool:
        return self.pos == len(self.data)


def u16s(data: bytes) -> list[int]:
    if len(data) % 2:
        raise Short
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def whole_vector(data: bytes, width: int) -> bytes:
    """The vector that must fill ``data`` exactly."""
    c = Cursor(data)
    inner = c.vector(width)
    if not c.done():
        raise Short
    return inner


def handshake_bytes(stream: bytes, hello: Hello) -> tuple[int, bytes]:
    """Join the handshake records at the start of ``stream`` until the first message is whole."""
    out = b""
    pos = 0
    first = True

    def enough() -> bool:
        if out and out[0] not in (1, 2):
            return True
        return len(out) >= 4 and len(out) >= 4 + int.from_bytes(out[1:4], "big")

    while not enough():
        if pos >= len(stream):
            return TRUNCATED, out
        header = stream[pos : pos + 5]
        if header[0] != 22 or (len(header) > 1 and header[1] != 3):
            return (NOT_TLS if first else BAD_RECORD), out
        if len(header) < 5:
            return TRUNCATED, out
        if first:
            hello.record_version = int.from_bytes(header[1:3], "big")
        length = int.from_bytes(header[3:5], "big")
        if length > MAX_RECORD:
            return BAD_RECORD, out
        out += stream[pos + 5 : pos + 5 + length]
        pos += 5 + length
        first = False
    return OK, out


def parse(data: bytes, raw: bool = False) -> Hello:
    """The hello at the start of ``data`` (TLS records, or a bare handshake message when ``raw``)."""
    hello = Hello()
    if not data:
        hello.status = NO_DATA
        return hello
    status, hs = (OK, data) if raw else handshake_bytes(data, hello)
    if hs:
        hello.type = hs[0]
        if hs[0] not in (1, 2):
            hello.status = NOT_HELLO
            return hello
    if status != OK or len(hs) < 4 or len(hs) < 4 + int.from_bytes(hs[1:4], "big"):
        hello.status = status if status != OK else TRUNCATED
        return hello
    body = hs[4 : 4 + int.from_bytes(hs[1:4], "big")]
    try:
        _body(Cursor(body), hello.type == 1, hello)
        hello.status = LIST_CAPPED if hello.capped else OK
    except Short:
        hello.status = BAD_LENGTH
    return hello


def _body(c: Cursor, client: bool, hello: Hello) -> None:
    hello.version = c.u16()
    c.take(32)
    c.vector(1)  # session id
    if client:
        hello.keep("ciphers", u16s(c.vector(2)))
        c.vector(1)  # compression methods
    else:
        hello.cipher = c.u16()
        c.u8()
    if c.done():
        return
    extensions = Cursor(whole_vector(c.data[c.pos :], 2))
    seen = set()
    while not extensions.done():
        etype = extensions.u16()
        data = extensions.vector(2)
        hello.keep("extensions", [etype])
        first = etype not in seen
        seen.add(etype)
        _extension(etype, data, client, first, hello)


def _extension(etype: int, data: bytes, client: bool, first: bool, hello: Hello) -> None:
    if etype == 0x0000:
        hello.has_sni = True
        if not data or not first:
            return
        names = Cursor(whole_vector(data, 2))
        while not names.done():
            kind = names.u8()
            name = names.vector(2)
            if kind == 0 and hello.sni is None:
                hello.sni = name
    elif not first:
        return
    elif etype == 0x0010:
        names = Cursor(whole_vector(data, 2))
        while not names.done():
            hello.keep("alpn", [names.vector(1)])
    elif etype == 0x000A:
        hello.keep("groups", u16s(whole_vector(data, 2)))
    elif etype == 0x000D:
        hello.keep("sig_algs", u16s(whole_vector(data, 2)))
    elif etype == 0x000B:
        hello.keep("point_formats", list(whole_vector(data, 1)))
    elif etype == 0x002B:
        if client:
            hello.keep("versions", u16s(whole_vector(data, 1)))
        elif len(data) == 2:
            hello.selected_version = int.from_bytes(data, "big")
        else:
            raise Short


# -- fingerprints, from their specifications ---------------------------------------------


def ja3_string(version: int, ciphers, extensions, groups, point_formats) -> str:
    """JA3 as https://github.com/salesforce/ja3 defines it.

    SSLVersion,Cipher,SSLExtension,EllipticCurve,EllipticCurvePointFormat.
    """

    def segment(values):
        return "-".join(str(v) for v in values if v not in GREASE)

    return f"{version},{segment(ciphers)},{segment(extensions)},{segment(groups)},{segment(point_formats)}"


def ja4(hello: Hello, quic: bool = False) -> str:
    """JA4 as FoxIO's technical_details/JA4.md describes it, step by step."""
    versions = [v for v in hello.versions if v not in GREASE]
    version = max(versions) if (0x002B in hello.extensions and versions) else hello.version
    names = {
        0x0304: "13",
        0x0303: "12",
        0x0302: "11",
        0x0301: "10",
        0x0300: "s3",
        0x0002: "s2",
        0xFEFF: "d1",
        0xFEFD: "d2",
        0xFEFC: "d3",
    }
    ciphers = [c for c in hello.ciphers if c not in GREASE]
    extensions = [e for e in hello.extensions if e not in GREASE]
    part_a = "q" if quic else "t"
    part_a += names.get(version, "00")
    part_a += "d" if 0x0000 in extensions else "i"
    part_a += str(min(len(ciphers), 99)).zfill(2) + str(min(len(extensions), 99)).zfill(2)
    alnum = set(range(0x30, 0x3A)) | set(range(0x41, 0x5B)) | set(range(0x61, 0x7B))
    if not hello.alpn or not hello.alpn[0]:
        part_a += "00"
    elif hello.alpn[0][0] in alnum and hello.alpn[0][-1] in alnum:
        part_a += chr(hello.alpn[0][0]) + chr(hello.alpn[0][-1])
    else:
        hexed = "".join(f"{b:02x}" for b in hello.alpn[0])
        part_a += hexed[0] + hexed[-1]
    cipher_list = ",".join(sorted(f"{c:04x}" for c in ciphers))
    part_b = hashlib.sha256(cipher_list.encode()).hexdigest()[:12] if ciphers else "0" * 12
    ext_list = ",".join(sorted(f"{e:04x}" for e in extensions if e not in (0x0000, 0x0010)))
    sigs = ",".join(f"{s:04x}" for s in hello.sig_algs if s not in GREASE)
    text = ext_list + ("_" + sigs if sigs else "")
    part_c = hashlib.sha256(text.encode()).hexdigest()[:12] if ext_list else "0" * 12
    return f"{part_a}_{part_b}_{part_c}"


# -- building hellos -----------------------------------------------------------------------


def vec(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def ext(etype: int, data: bytes) -> bytes:
    return etype.to_bytes(2, "big") + vec(data, 2)


def sni_ext(host: bytes) -> bytes:
    return ext(0x0000, vec(b"\x00" + vec(host, 2), 2))


def alpn_ext(names: list[bytes]) -> bytes:
    return ext(0x0010, vec(b"".join(vec(n, 1) for n in names), 2))


def u16_ext(etype: int, values: list[int], width: int = 2) -> bytes:
    return ext(etype, vec(b"".join(v.to_bytes(2, "big") for v in values), width))


def client_hello(
    *,
    version: int = 0x0303,
    ciphers=(0x1301,),
    extensions: list[bytes] | None = None,
    session_id: bytes = b"",
    compression: bytes = b"\x00",
    random: bytes = bytes(32),
) -> bytes:
    """A ClientHello handshake message; ``extensions`` as encoded blocks (None: no extensions field)."""
    body = version.to_bytes(2, "big") + random + vec(session_id, 1)
    body += vec(b"".join(c.to_bytes(2, "big") for c in ciphers), 2) + vec(compression, 1)
    if extensions is not None:
        body += vec(b"".join(extensions), 2)
    return b"\x01" + vec(body, 3)


def server_hello(
    *,
    version: int = 0x0303,
    cipher: int = 0x1301,
    extensions: list[bytes] | None = None,
    session_id: bytes = b"",
) -> bytes:
    body = version.to_bytes(2, "big") + bytes(32) + vec(session_id, 1) + cipher.to_bytes(2, "big") + b"\x00"
    if extensions is not None:
        body += vec(b"".join(extensions), 2)
    return b"\x02" + vec(body, 3)


def split_records(message: bytes, sizes: list[int] | None = None, version: int = 0x0301) -> list[bytes]:
    """``message`` in handshake records of the given fragment sizes (the rest in a last record)."""
    out = []
    pos = 0
    for size in sizes or []:
        if pos >= len(message):
            break
        out.append(b"\x16" + version.to_bytes(2, "big") + vec(message[pos : pos + size], 2))
        pos += size
    if pos < len(message) or not out:
        out.append(b"\x16" + version.to_bytes(2, "big") + vec(message[pos:], 2))
    return out


def records(message: bytes, sizes: list[int] | None = None, version: int = 0x0301) -> bytes:
    """:func:`split_records`, joined."""
    return b"".join(split_records(message, sizes, version))
