"""TLS handshakes: what each connection's ClientHello and ServerHello say.

The kernel (:mod:`kernelkit.kernels.l7.tls`) extracts the hellos' fields from
the reassembled stream prefixes; this module turns them into Python values and
a Polars frame, and computes the fingerprints (JA3, JA4) with :mod:`hashlib`.

Lists keep every value as sent, GREASE values (RFC 8701) included; the
fingerprints drop them, as their specifications say.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..kernels.l7 import tls as K
from .source import session_packets
from .streams import tcp_streams

# Values kept per list and per row (a longer list sets status "list_capped").
CAPS = {
    "ciphers": 128,
    "extensions": 64,
    "groups": 64,
    "point_formats": 16,
    "sig_algs": 64,
    "versions": 16,
    "alpn": 16,
}

HANDSHAKE_STATUS: dict[int, tuple[str, str]] = {
    K.OK: ("ok", "the hello was read whole"),
    K.NOT_TLS: (
        "not_tls",
        "the stream does not start with a TLS handshake record (content type 22, version 3.x)",
    ),
    K.NOT_HELLO: ("not_hello", "the first handshake message is neither a ClientHello nor a ServerHello"),
    K.TRUNCATED: (
        "truncated",
        "the reassembled prefix ends before the hello does (a gap, or the capture ends)",
    ),
    K.BAD_RECORD: (
        "bad_record",
        "a non-handshake record interrupts the hello, or a record exceeds 2^14 + 2048 bytes",
    ),
    K.BAD_LENGTH: (
        "bad_length",
        "a length field inside the hello disagrees with what holds it; fields read before it are kept",
    ),
    K.LIST_CAPPED: (
        "list_capped",
        "a list was longer than its cap (CAPS): its first values are kept, fingerprints are approximate",
    ),
    K.NO_DATA: ("no_data", "the stream carried no bytes"),
}

VERSION_NAMES = {
    0x0002: "SSL 2.0",
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
    0xFEFF: "DTLS 1.0",
    0xFEFD: "DTLS 1.2",
    0xFEFC: "DTLS 1.3",
}
_JA4_VERSIONS = {
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


def handshake_status_name(code: int) -> str:
    """The name of a hello status code.

    Examples
    --------
    >>> from kernelkit.sessions.tls import handshake_status_name
    >>> handshake_status_name(0), handshake_status_name(3)
    ('ok', 'truncated')
    """
    return HANDSHAKE_STATUS.get(int(code), (f"unknown_status_{int(code)}", ""))[0]


def is_grease(value: int) -> bool:
    """Whether a 16-bit value is one of RFC 8701's GREASE values (0x0a0a, 0x1a1a, …, 0xfafa).

    Examples
    --------
    >>> from kernelkit.sessions.tls import is_grease
    >>> is_grease(0x2a2a), is_grease(0x1a2a), is_grease(0x1301)
    (True, False, False)
    """
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def version_name(code: int | None) -> str | None:
    """A protocol version as text: ``"TLS 1.3"``, ``"TLS 1.3 (draft 28)"``, else ``"0x…"``.

    Examples
    --------
    >>> from kernelkit.sessions.tls import version_name
    >>> version_name(0x0303), version_name(0x7f1c), version_name(0x0a0a)
    ('TLS 1.2', 'TLS 1.3 (draft 28)', 'GREASE 0x0a0a')
    """
    if code is None:
        return None
    if code in VERSION_NAMES:
        return VERSION_NAMES[code]
    if code >> 8 == 0x7F:
        return f"TLS 1.3 (draft {code & 0xFF})"
    if is_grease(code):
        return f"GREASE 0x{code:04x}"
    return f"0x{code:04x}"


# -- the kernel, checked ------------------------------------------------------------------


@dataclass
class Hellos:
    """The kernel's output for a set of rows (see :mod:`kernelkit.kernels.l7.tls`)."""

    fields: np.ndarray
    hs: np.ndarray
    ciphers: np.ndarray
    extensions: np.ndarray
    groups: np.ndarray
    point_formats: np.ndarray
    sig_algs: np.ndarray
    versions: np.ndarray
    alpn: np.ndarray

    def __len__(self) -> int:
        return len(self.fields)

    def _list(self, name: str, count: int, r: int) -> list[int]:
        return getattr(self, name)[r, : self.fields[r, count]].tolist()

    def _text(self, offset: int, length: int) -> bytes:
        return self.hs[offset : offset + length].tobytes()

    def list_column(self, name: str, count: int, rows: np.ndarray, dtype: pl.DataType) -> pl.Series:
        """Column ``name`` of ``rows`` as a list column, built from the kernel's arrays at once."""
        values = getattr(self, name)[rows]
        counts = self.fields[rows, count]
        flat = values[np.arange(values.shape[1]) < counts[:, None]]
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
        return pl.Series(name, lists).cast(pl.List(dtype))

    def row(self, r: int) -> dict:
        """Row ``r`` as Python values (lists as sent; ``_sni_raw``, ``_alpn_raw``: names as bytes)."""
        f = self.fields[r]
        status = int(f[K.F_STATUS])
        alpn_raw = [self._text(int(o), int(n)) for o, n in self.alpn[r, : f[K.F_N_ALPN]]]
        sni = self._text(int(f[K.F_SNI_OFFSET]), int(f[K.F_SNI_LENGTH])) if f[K.F_SNI_OFFSET] >= 0 else None

        def value(column):
            return int(f[column]) if f[column] >= 0 else None

        return {
            "type": value(K.F_TYPE),
            "status": status,
            "record_version": value(K.F_RECORD_VERSION),
            "handshake_version": value(K.F_VERSION),
            "sni": sni.decode("utf-8", "replace") if sni is not None else None,
            "_sni_raw": sni,
            "has_sni": bool(f[K.F_HAS_SNI]),
            "alpn_offered": [a.decode("utf-8", "replace") for a in alpn_raw],
            "_alpn_raw": alpn_raw,
            "versions": self._list("versions", K.F_N_VERSIONS, r),
            "cipher_suites": self._list("ciphers", K.F_N_CIPHERS, r),
            "extensions": self._list("extensions", K.F_N_EXTENSIONS, r),
            "supported_groups": self._list("groups", K.F_N_GROUPS, r),
            "ec_point_formats": self._list("point_formats", K.F_N_POINT_FORMATS, r),
            "signature_algorithms": self._list("sig_algs", K.F_N_SIG_ALGS, r),
            "cipher": value(K.F_CIPHER),
            "selected_version": value(K.F_SELECTED_VERSION),
        }


def parse_hellos(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, raw: np.ndarray | None = None
) -> Hellos:
    """Run the hello kernel over rows ``buf[starts[r] : starts[r] + lengths[r]]``.

    Parameters
    ----------
    buf : numpy.ndarray
        uint8 bytes holding every row.
    starts, lengths : numpy.ndarray
        Where each row is.
    raw : numpy.ndarray, optional
        1 where a row is a bare handshake message (as QUIC carries it), 0 (default)
        where it is a sequence of TLS records.

    Examples
    --------
    >>> import numpy as np
    >>> from kernelkit.sessions.tls import parse_hellos, handshake_status_name
    >>> h = parse_hellos(np.frombuffer(b"GET / HTTP/1.1", np.uint8), np.array([0]), np.array([14]))
    >>> handshake_status_name(h.row(0)["status"])
    'not_tls'
    """
    buf = np.ascontiguousarray(buf, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    n = len(starts)
    raw = np.zeros(n, np.uint8) if raw is None else np.ascontiguousarray(raw, dtype=np.uint8)
    if len(lengths) != n or len(raw) != n:
        raise ValueError("starts, lengths and raw must have one value per row")
    if n and (starts.min() < 0 or lengths.min() < 0 or (starts + lengths).max() > len(buf)):
        raise ValueError("a row lies outside the buffer")
    hs_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=hs_offsets[1:])  # records only shrink: a row's handshake fits in its own length
    out = Hellos(
        fields=np.empty((n, K.N_FIELDS), np.int64),
        hs=np.empty(int(hs_offsets[-1]), np.uint8),
        ciphers=np.zeros((n, CAPS["ciphers"]), np.uint16),
        extensions=np.zeros((n, CAPS["extensions"]), np.uint16),
        groups=np.zeros((n, CAPS["groups"]), np.uint16),
        point_formats=np.zeros((n, CAPS["point_formats"]), np.uint16),
        sig_algs=np.zeros((n, CAPS["sig_algs"]), np.uint16),
        versions=np.zeros((n, CAPS["versions"]), np.uint16),
        alpn=np.zeros((n, CAPS["alpn"], 2), np.int64),
    )
    K.parse_hellos(
        buf,
        starts,
        lengths,
        raw,
        out.hs,
        hs_offsets,
        out.fields,
        out.ciphers,
        out.extensions,
        out.groups,
        out.point_formats,
        out.sig_algs,
        out.versions,
        out.alpn,
    )
    return out


# -- fingerprints ---------------------------------------------------------------------------


def _no_grease(values: Sequence[int]) -> list[int]:
    return [v for v in values if not is_grease(v)]


def ja3_string(hello: Mapping) -> str:
    """Salesforce's JA3 string of a ClientHello: ``version,ciphers,extensions,groups,point_formats``.

    Decimal values joined by ``-``, GREASE values left out
    (https://github.com/salesforce/ja3).

    Examples
    --------
    >>> from kernelkit.sessions.tls import ja3_string
    >>> ja3_string({"handshake_version": 0x0303, "cipher_suites": [0x0a0a, 0x1301, 0xc02f],
    ...             "extensions": [0, 10, 11], "supported_groups": [0x0a0a, 29], "ec_point_formats": [0]})
    '771,4865-49199,0-10-11,29,0'
    """
    parts = [
        str(hello["handshake_version"]),
        "-".join(map(str, _no_grease(hello["cipher_suites"]))),
        "-".join(map(str, _no_grease(hello["extensions"]))),
        "-".join(map(str, _no_grease(hello["supported_groups"]))),
        "-".join(map(str, hello["ec_point_formats"])),
    ]
    return ",".join(parts)


def ja3(hello: Mapping) -> str:
    """JA3: the md5 (hex) of :func:`ja3_string`.

    Examples
    --------
    >>> from kernelkit.sessions.tls import ja3
    >>> ja3({"handshake_version": 769, "cipher_suites": [47], "extensions": [], "supported_groups": [],
    ...      "ec_point_formats": []})
    'b02be259814e870a469a20ce9b2a7900'
    """
    return hashlib.md5(ja3_string(hello).encode()).hexdigest()


def _ja4_alpn(first: bytes | None) -> str:
    if not first:
        return "00"
    a, b = first[0], first[-1]
    if chr(a).isascii() and chr(a).isalnum() and chr(b).isascii() and chr(b).isalnum():
        return chr(a) + chr(b)
    digits = first.hex()  # either end not ASCII alphanumeric: the ends of its hex form
    return digits[0] + digits[-1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ja4(hello: Mapping, *, quic: bool = False) -> str:
    """FoxIO's JA4 fingerprint of a ClientHello (``t13d1516h2_8daaf6152771_e5627efa2ab1``).

    Parameters
    ----------
    hello : Mapping
        A ClientHello as :func:`parse_client_hello` returns it (or a row of
        :func:`tls_handshakes`): ``client_versions``, ``handshake_version``,
        ``extensions``, ``cipher_suites``, ``signature_algorithms`` and the
        first ALPN name, ``alpn`` (str or bytes; exact for non-UTF-8 names only
        as bytes, which :func:`parse_client_hello` uses).
    quic : bool
        The hello came in QUIC CRYPTO frames: the fingerprint starts with ``q``.

    Notes
    -----
    From https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md:
    version from supported_versions' highest non-GREASE value, else the
    hello's legacy version; ``d`` when the SNI extension is present, else ``i``;
    counts of ciphers and extensions without GREASE (at most 99); the first
    and last characters of the first ALPN name (``00`` without one; the ends
    of its hex form when either end is not an ASCII letter or digit); then
    sha256, truncated to 12 hex digits, of the sorted ciphers, and of the
    sorted extensions without SNI and ALPN followed by ``_`` and the signature
    algorithms in their order (``000000000000`` for an empty list).

    Examples
    --------
    The specification's own example:

    >>> from kernelkit.sessions.tls import ja4
    >>> hello = {
    ...     "client_versions": [0x0304, 0x0303], "handshake_version": 0x0303, "alpn": "h2",
    ...     "cipher_suites": [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
    ...                       0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    ...     "extensions": [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
    ...                    0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015],
    ...     "signature_algorithms": [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
    ... }
    >>> ja4(hello)
    't13d1516h2_8daaf6152771_e5627efa2ab1'
    >>> ja4(hello, quic=True)[:4]
    'q13d'
    """
    versions = _no_grease(hello.get("client_versions") or [])
    version = max(versions) if versions else hello.get("handshake_version")
    ciphers = _no_grease(hello["cipher_suites"])
    extensions = _no_grease(hello["extensions"])
    sig_algs = _no_grease(hello.get("signature_algorithms") or [])
    first_alpn = hello.get("_alpn_first_raw", hello.get("alpn"))
    if isinstance(first_alpn, str):
        first_alpn = first_alpn.encode()
    a = (
        ("q" if quic else "t")
        + _JA4_VERSIONS.get(version, "00")
        + ("d" if 0x0000 in extensions else "i")
        + f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}"
        + _ja4_alpn(first_alpn)
    )
    b = _sha12(",".join(f"{c:04x}" for c in sorted(ciphers))) if ciphers else "000000000000"
    kept = sorted(e for e in extensions if e not in (0x0000, 0x0010))
    c_text = ",".join(f"{e:04x}" for e in kept)
    if sig_algs:
        c_text += "_" + ",".join(f"{s:04x}" for s in sig_algs)
    c = _sha12(c_text) if kept else "000000000000"
    return f"{a}_{b}_{c}"


# -- ClientHello as a dict ---------------------------------------------------------------

_FINGERPRINTED = (K.OK, K.LIST_CAPPED)


def _client_fields(row: dict, *, quic: bool = False) -> dict:
    """The ClientHello columns of :func:`tls_handshakes` from a kernel row."""
    whole = row["status"] in _FINGERPRINTED
    offered = _no_grease(row["versions"])
    highest = max(offered) if offered else row["handshake_version"]
    hello = {
        "sni": row["sni"],
        "alpn": row["alpn_offered"][0] if row["alpn_offered"] else None,
        "alpn_offered": row["alpn_offered"],
        "tls_version": version_name(highest) if whole else None,
        "client_versions": row["versions"],
        "cipher_suites": row["cipher_suites"],
        "extensions": row["extensions"],
        "supported_groups": row["supported_groups"],
        "ec_point_formats": row["ec_point_formats"],
        "signature_algorithms": row["signature_algorithms"],
        "record_version": row["record_version"],
        "handshake_version": row["handshake_version"],
        "ja3_string": None,
        "ja3": None,
        "ja4": None,
        "handshake_status": handshake_status_name(row["status"]),
    }
    if whole:
        hello["ja3_string"] = ja3_string(hello)
        hello["ja3"] = hashlib.md5(hello["ja3_string"].encode()).hexdigest()
        raw_first = row["_alpn_raw"][0] if row["_alpn_raw"] else None
        hello["ja4"] = ja4({**hello, "_alpn_first_raw": raw_first}, quic=quic)
    return hello


def parse_client_hello(data: bytes, *, quic: bool = False) -> dict:
    """Read a ClientHello: a bare handshake message, or TLS records that start with one.

    For the QUIC parser: pass the CRYPTO frames' data of an Initial packet,
    ordered by offset, from offset 0 (a bare handshake message), with
    ``quic=True`` so that JA4 starts with ``q``.

    Parameters
    ----------
    data : bytes
        Starts with a handshake header (type 1) or a TLS record header (byte 22).
    quic : bool
        Fingerprint as QUIC (``ja4`` starts with ``q``).

    Returns
    -------
    dict
        The ClientHello columns of :func:`tls_handshakes`, same names and meanings:

        - ``sni`` (str or None): the first host name of the server_name extension;
        - ``alpn`` (str or None): the first ALPN protocol offered; ``alpn_offered``
          (list[str]): all of them, in order;
        - ``tls_version`` (str or None): the highest version offered (supported_versions
          without GREASE, else the legacy version), as ``"TLS 1.3"``;
        - ``client_versions`` (list[int]): supported_versions as sent;
        - ``cipher_suites``, ``extensions`` (extension types in order),
          ``supported_groups``, ``ec_point_formats``, ``signature_algorithms``
          (list[int]): as sent, GREASE included;
        - ``record_version`` (int or None): the first record header's version
          (None for a bare message); ``handshake_version`` (int or None): the
          hello's legacy_version;
        - ``ja3_string``, ``ja3``, ``ja4`` (str or None): fingerprints, None
          unless the hello was read whole (status ``ok`` or ``list_capped``);
        - ``handshake_status`` (str): a name of :data:`HANDSHAKE_STATUS`; a
          ServerHello or other message gives ``not_hello`` and empty fields.

    Examples
    --------
    >>> from kernelkit.sessions.tls import parse_client_hello
    >>> body = (b"\\x03\\x03" + bytes(32) + b"\\x00" + b"\\x00\\x02\\x13\\x01" + b"\\x01\\x00"
    ...         + b"\\x00\\x0e" + b"\\x00\\x00\\x00\\x0a\\x00\\x08\\x00\\x00\\x05kk.io")
    >>> message = b"\\x01" + len(body).to_bytes(3, "big") + body
    >>> hello = parse_client_hello(message)
    >>> hello["sni"], hello["cipher_suites"], hello["handshake_status"]
    ('kk.io', [4865], 'ok')
    >>> record = b"\\x16\\x03\\x01" + len(message).to_bytes(2, "big") + message
    >>> parse_client_hello(record)["ja3"] == hello["ja3"]
    True
    """
    data = bytes(data)
    raw = not data or data[0] != K.CONTENT_HANDSHAKE
    hellos = parse_hellos(
        np.frombuffer(data, np.uint8), np.array([0]), np.array([len(data)]), np.array([raw])
    )
    row = hellos.row(0)
    if row["type"] is not None and row["type"] != K.CLIENT_HELLO:
        row = {**hellos.row(0), "status": K.NOT_HELLO}
        for name in (
            "versions",
            "cipher_suites",
            "extensions",
            "supported_groups",
            "ec_point_formats",
            "signature_algorithms",
            "alpn_offered",
            "_alpn_raw",
        ):
            row[name] = []
        row.update(sni=None, handshake_version=None)
    return _client_fields(row, quic=quic)


# -- per connection -------------------------------------------------------------------------

_LIST_U16 = pl.List(pl.UInt16)
# list columns of SCHEMA: the kernel's array and its count field
_NUMBER_LISTS = {
    "client_versions": ("versions", K.F_N_VERSIONS),
    "cipher_suites": ("ciphers", K.F_N_CIPHERS),
    "extensions": ("extensions", K.F_N_EXTENSIONS),
    "supported_groups": ("groups", K.F_N_GROUPS),
    "ec_point_formats": ("point_formats", K.F_N_POINT_FORMATS),
    "signature_algorithms": ("sig_algs", K.F_N_SIG_ALGS),
}
SCHEMA = {
    "flow_id": pl.Int64,
    "client_direction": pl.UInt8,
    "sni": pl.String,
    "alpn": pl.String,
    "alpn_offered": pl.List(pl.String),
    "tls_version": pl.String,
    "client_versions": _LIST_U16,
    "cipher_suites": _LIST_U16,
    "extensions": _LIST_U16,
    "supported_groups": _LIST_U16,
    "ec_point_formats": pl.List(pl.UInt8),
    "signature_algorithms": _LIST_U16,
    "ja3": pl.String,
    "ja3_string": pl.String,
    "ja4": pl.String,
    "server_cipher": pl.UInt16,
    "server_version": pl.UInt16,
    "server_alpn": pl.String,
    "record_version": pl.UInt16,
    "handshake_version": pl.UInt16,
    "handshake_status": pl.String,
    "server_status": pl.String,
}
"""Columns of :func:`tls_handshakes`.

``flow_id``: the connection; ``client_direction``: the direction (0: from the
originator) whose stream starts with the ClientHello, usually 0; ``sni``: first
host name of the server_name extension; ``alpn``: first ALPN protocol offered
(tshark's first ``tls.handshake.extensions_alpn_str``), ``alpn_offered``: all;
``tls_version``: the negotiated version when a ServerHello was read
(supported_versions' selection, else its legacy version), else the client's
highest offered, as text; ``client_versions``, ``cipher_suites``,
``extensions``, ``supported_groups``, ``ec_point_formats``,
``signature_algorithms``: the ClientHello's lists as sent (GREASE included);
``ja3``/``ja3_string``: Salesforce's JA3; ``ja4``: FoxIO's JA4;
``server_cipher``, ``server_version`` (negotiated version code),
``server_alpn``: from the ServerHello; ``record_version``,
``handshake_version``: the ClientHello's first record version and legacy
version; ``handshake_status``, ``server_status``: status names
(:data:`HANDSHAKE_STATUS`) of the ClientHello and the ServerHello (null when the
server sent nothing the tracker saw).
"""


DEFAULT_CAPACITY = 16384
"""Bytes reassembled per TCP stream by default (a post-quantum ClientHello takes about 2 KB)."""


def tls_handshakes(source, *, capacity: int = DEFAULT_CAPACITY) -> pl.DataFrame:
    """One row per TCP connection whose client stream starts with a TLS ClientHello.

    Parameters
    ----------
    source : path, Trace, Tracked or polars.DataFrame
        Anything :func:`kernelkit.sessions.source.session_packets` accepts.
    capacity : int
        Bytes reassembled per stream; a longer ClientHello is ``truncated``.

    Returns
    -------
    polars.DataFrame
        Columns :data:`SCHEMA` (see its documentation), in flow order.

    Notes
    -----
    Retina (SIGCOMM'22) subscribes to TLS handshakes with the same fields
    (version, ciphers, extensions, SNI, ALPN, JA3). A connection is read from its
    outer headers: TLS inside a tunnel (GRE, VXLAN, Geneve) is not seen.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.tls import tls_handshakes
    >>> hs = tls_handshakes(kernelkit.sample_path())
    >>> "www.example.com" in hs["sni"].to_list()
    True
    >>> hs.filter(sni="www.example.com")["ja3"].item()
    '9dffdb8b608a430b774a2ff7d36c1a0c'
    """
    return handshakes_from_streams(tcp_streams(session_packets(source), capacity=capacity))


def handshakes_from_streams(streams) -> pl.DataFrame:
    """The rows of :func:`tls_handshakes` from reassembled streams (see :func:`tcp_streams`).

    :func:`kernelkit.analyze` reassembles the TCP streams once for TLS and HTTP.
    """
    starts = streams.offsets[:-1]
    first = np.zeros(len(streams), np.int64)
    has = streams.filled > 0
    first[has] = streams.buffer[starts[has]]
    # Only streams that can hold a handshake record go to the kernel (and need handshake space).
    rows = np.flatnonzero(first == K.CONTENT_HANDSHAKE)
    hellos = parse_hellos(streams.buffer, starts[rows], streams.filled[rows])
    types = hellos.fields[:, K.F_TYPE]
    by_stream = {(int(streams.flow_id[s]), int(streams.direction[s])): i for i, s in enumerate(rows)}
    # the other direction of a hello's connection (only those: there are many more streams)
    near = np.flatnonzero(np.isin(streams.flow_id, streams.flow_id[rows]))
    stream_of = {(int(streams.flow_id[s]), int(streams.direction[s])): int(s) for s in near}

    records = []
    client_rows = []
    done = set()
    for i, s in enumerate(rows):
        flow, direction = int(streams.flow_id[s]), int(streams.direction[s])
        if types[i] != K.CLIENT_HELLO or flow in done:
            continue
        other = (flow, 1 - direction)
        mine = by_stream.get((flow, 0))
        if direction == 1 and mine is not None and types[mine] == K.CLIENT_HELLO:
            continue  # both directions start with a ClientHello: the originator's is the client's
        done.add(flow)
        client_rows.append(i)
        client = hellos.row(i)
        row = {"flow_id": flow, "client_direction": direction, **_client_fields(client)}
        server = None
        if other in by_stream:
            server = hellos.row(by_stream[other])
            server_status = handshake_status_name(server["status"])
            if server["type"] is not None and server["type"] != K.SERVER_HELLO:
                server_status = handshake_status_name(K.NOT_HELLO)
        elif other in stream_of:
            no_bytes = streams.filled[stream_of[other]] == 0
            server_status = handshake_status_name(K.NO_DATA if no_bytes else K.NOT_TLS)
        else:
            server_status = None
        row["server_status"] = server_status
        row.update(server_cipher=None, server_version=None, server_alpn=None)
        if server is not None and server["type"] == K.SERVER_HELLO and server["status"] in _FINGERPRINTED:
            version = (
                server["selected_version"]
                if server["selected_version"] is not None
                else server["handshake_version"]
            )
            row.update(
                server_cipher=server["cipher"],
                server_version=version,
                server_alpn=server["alpn_offered"][0] if server["alpn_offered"] else None,
                tls_version=version_name(version),
            )
        records.append(row)
    if not records:
        return pl.DataFrame(schema=SCHEMA)
    # The number lists straight from the kernel's arrays: row by row, they cost more than the rest.
    scalars = {name: dtype for name, dtype in SCHEMA.items() if name not in _NUMBER_LISTS}
    frame = pl.DataFrame({name: [r[name] for r in records] for name in scalars}, schema=scalars)
    picked = np.array(client_rows, np.int64)
    frame = frame.with_columns(
        hellos.list_column(array, count, picked, SCHEMA[name].inner).alias(name)
        for name, (array, count) in _NUMBER_LISTS.items()
    )
    return frame.select(SCHEMA.keys()).sort("flow_id", maintain_order=True)
