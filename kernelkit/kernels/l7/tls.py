"""TLS ClientHello and ServerHello at the start of a stream prefix.

Each row is one byte string: the reassembled prefix of a TCP stream (a sequence
of TLS records), or a bare handshake message (what QUIC carries in its CRYPTO
frames). The kernel finds the first handshake message, joining its fragments
when it spans several records, and reads the fields of a ClientHello (type 1)
or a ServerHello (type 2) into preallocated arrays, one row each:

* ``fields[r, F_*]``: scalars, ``-1`` where absent (counts are ``0``);
* ``ciphers``, ``extensions``, ``groups``, ``point_formats``, ``sig_algs``,
  ``versions``: ``uint16[R, cap]`` lists, row ``r`` holding
  ``fields[r, F_N_*]`` values; a longer list keeps its first ``cap`` values and
  the row's status says so (:data:`LIST_CAPPED`);
* ``alpn[r, k] = (offset, length)`` of the k-th ALPN protocol name, and
  ``F_SNI_OFFSET``/``F_SNI_LENGTH`` the first host name of the SNI extension:
  offsets into ``hs``, the handshake buffer the kernel fills (row ``r`` owns
  ``hs[hs_offsets[r] : hs_offsets[r + 1]]``), where record headers are gone and
  fragments are joined.

Every read is checked against the end of the structure that holds it, and
every structure's end against the bytes at hand, so no field is read past the
prefix. Status codes name what stopped the parse; the fields read before a
fatal code are kept. Lists are filled from the first occurrence of their
extension; a repeated extension is only listed in ``extensions``.

References: RFC 8446 §4.1.2–4.1.3 and §4.2 (TLS 1.3 hellos and extensions),
RFC 5246 §7.4.1 (TLS 1.2), RFC 6066 §3 (SNI), RFC 7301 (ALPN), RFC 8422 §5.1
(groups, point formats).
"""

import numpy as np

from ..._jit import inline_jit, ngjit
from ..bytes import be16, byte

# --- status codes (one per row) -----------------------------------------------------
OK = 0
NOT_TLS = 1  # the prefix does not start with a TLS handshake record (type 22, version 3.x)
NOT_HELLO = 2  # the first handshake message is neither a ClientHello nor a ServerHello
TRUNCATED = 3  # the prefix ends before the first handshake message does
BAD_RECORD = 4  # a later record is not a handshake record, or a record is longer than 2**14 + 2048
BAD_LENGTH = 5  # a length inside the hello runs past (or falls short of) what holds it
LIST_CAPPED = 6  # not fatal: a list had more values than its cap; the first ones are kept
NO_DATA = 7  # the prefix is empty

# --- record layer -----------------------------------------------------------------
CONTENT_HANDSHAKE = 22
MAX_RECORD = (1 << 14) + 2048  # RFC 8446 §5.2: the largest record any TLS version allows
CLIENT_HELLO = 1
SERVER_HELLO = 2

# --- extension types read ------------------------------------------------------------
EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

# --- columns of ``fields`` -------------------------------------------------------------
F_STATUS = 0
F_TYPE = 1  # handshake type of the first message (1, 2, other), -1 when not reached
F_RECORD_VERSION = 2  # version of the first record header
F_VERSION = 3  # legacy_version of the hello
F_LENGTH = 4  # length of the hello's body (the handshake header's length field)
F_SNI_OFFSET = 5  # first host_name of the server_name extension, in hs
F_SNI_LENGTH = 6
F_HAS_SNI = 7  # 1 when a server_name extension is present (even empty, as a server's is)
F_CIPHER = 8  # the ServerHello's cipher suite
F_COMPRESSION = 9  # the ServerHello's compression method
F_SELECTED_VERSION = 10  # the ServerHello's supported_versions value
F_N_CIPHERS = 11
F_N_EXTENSIONS = 12
F_N_GROUPS = 13
F_N_POINT_FORMATS = 14
F_N_SIG_ALGS = 15
F_N_VERSIONS = 16
F_N_ALPN = 17
F_SESSION_ID_LENGTH = 18
N_FIELDS = 19
COUNT_FIELDS = (
    F_N_CIPHERS,
    F_N_EXTENSIONS,
    F_N_GROUPS,
    F_N_POINT_FORMATS,
    F_N_SIG_ALGS,
    F_N_VERSIONS,
    F_N_ALPN,
)

# Bits of the "lists already filled" mask: the first occurrence of an extension wins.
_SEEN_SNI = 1
_SEEN_GROUPS = 2
_SEEN_POINT_FORMATS = 4
_SEEN_SIG_ALGS = 8
_SEEN_ALPN = 16
_SEEN_VERSIONS = 32


@inline_jit
def _be24(buf, off):
    return (byte(buf, off) << 16) | be16(buf, off + 1)


@inline_jit
def _copy(src, s, dst, d, n):
    """dst[d : d + n] = src[s : s + n], indexed unsigned (a negative index fails the bounds check)."""
    for k in range(n):
        dst[np.uint64(d + k)] = src[np.uint64(s + k)]


@inline_jit
def _u16_list(hs, p, end, out, r, count_field, fields):
    """Append the big-endian u16 values of ``hs[p:end]`` to ``out[r]``; True if some did not fit."""
    cap = out.shape[1]
    n = fields[r, count_field]
    capped = False
    while p + 2 <= end:
        if n < cap:
            out[r, n] = be16(hs, p)
            n += 1
        else:
            capped = True
        p += 2
    fields[r, count_field] = n
    return capped


@inline_jit
def _u8_list(hs, p, end, out, r, count_field, fields):
    """Append the bytes of ``hs[p:end]`` to ``out[r]``; True if some did not fit."""
    cap = out.shape[1]
    n = fields[r, count_field]
    capped = False
    while p < end:
        if n < cap:
            out[r, n] = byte(hs, p)
            n += 1
        else:
            capped = True
        p += 1
    fields[r, count_field] = n
    return capped


@ngjit
def _extension(hs, etype, p, q, client, seen, r, fields, groups, point_formats, sig_algs, versions, alpn):
    """Read extension ``etype`` with data ``hs[p:q]``.

    Returns (status, seen): status OK, LIST_CAPPED or BAD_LENGTH; ``seen`` the updated mask.
    """
    capped = False
    if etype == EXT_SERVER_NAME:
        fields[r, F_HAS_SNI] = 1
        if seen & _SEEN_SNI:
            return OK, seen
        seen |= _SEEN_SNI
        if p == q:
            return OK, seen  # a server acknowledges SNI with an empty extension
        if p + 2 > q or p + 2 + be16(hs, p) != q:
            return BAD_LENGTH, seen
        p += 2
        while p < q:
            if p + 3 > q:
                return BAD_LENGTH, seen
            name_type = byte(hs, p)
            n = be16(hs, p + 1)
            p += 3
            if p + n > q:
                return BAD_LENGTH, seen
            if name_type == 0 and fields[r, F_SNI_OFFSET] < 0:
                fields[r, F_SNI_OFFSET] = p
                fields[r, F_SNI_LENGTH] = n
            p += n
    elif etype == EXT_ALPN:
        if seen & _SEEN_ALPN:
            return OK, seen
        seen |= _SEEN_ALPN
        if p + 2 > q or p + 2 + be16(hs, p) != q:
            return BAD_LENGTH, seen
        p += 2
        cap = alpn.shape[1]
        while p < q:
            n = byte(hs, p)
            p += 1
            if p + n > q:
                return BAD_LENGTH, seen
            k = fields[r, F_N_ALPN]
            if k < cap:
                alpn[r, k, 0] = p
                alpn[r, k, 1] = n
                fields[r, F_N_ALPN] = k + 1
            else:
                capped = True
            p += n
    elif etype == EXT_SUPPORTED_GROUPS or etype == EXT_SIGNATURE_ALGORITHMS:
        bit = _SEEN_GROUPS if etype == EXT_SUPPORTED_GROUPS else _SEEN_SIG_ALGS
        if seen & bit:
            return OK, seen
        seen |= bit
        if p + 2 > q:
            return BAD_LENGTH, seen
        n = be16(hs, p)
        if n % 2 != 0 or p + 2 + n != q:
            return BAD_LENGTH, seen
        if etype == EXT_SUPPORTED_GROUPS:
            capped = _u16_list(hs, p + 2, q, groups, r, F_N_GROUPS, fields)
        else:
            capped = _u16_list(hs, p + 2, q, sig_algs, r, F_N_SIG_ALGS, fields)
    elif etype == EXT_EC_POINT_FORMATS:
        if seen & _SEEN_POINT_FORMATS:
            return OK, seen
        seen |= _SEEN_POINT_FORMATS
        if p + 1 > q or p + 1 + byte(hs, p) != q:
            return BAD_LENGTH, seen
        capped = _u8_list(hs, p + 1, q, point_formats, r, F_N_POINT_FORMATS, fields)
    elif etype == EXT_SUPPORTED_VERSIONS:
        if seen & _SEEN_VERSIONS:
            return OK, seen
        seen |= _SEEN_VERSIONS
        if client:
            # ClientHello: a list, u8 length (RFC 8446 §4.2.1)
            if p + 1 > q:
                return BAD_LENGTH, seen
            n = byte(hs, p)
            if n % 2 != 0 or p + 1 + n != q:
                return BAD_LENGTH, seen
            capped = _u16_list(hs, p + 1, q, versions, r, F_N_VERSIONS, fields)
        else:
            # ServerHello: the selected version only
            if q - p != 2:
                return BAD_LENGTH, seen
            fields[r, F_SELECTED_VERSION] = be16(hs, p)
    return (LIST_CAPPED if capped else OK), seen


@ngjit
def _hello(
    hs, p, end, client, r, fields, ciphers, extensions, groups, point_formats, sig_algs, versions, alpn
):
    """Read a hello body ``hs[p:end]``; return OK, LIST_CAPPED or BAD_LENGTH."""
    capped = False
    # each field is kept as soon as its bytes are there
    if p + 2 > end:
        return BAD_LENGTH
    fields[r, F_VERSION] = be16(hs, p)
    if p + 35 > end:  # random, session id length
        return BAD_LENGTH
    sid = byte(hs, p + 34)
    fields[r, F_SESSION_ID_LENGTH] = sid
    p += 35 + sid
    if client:
        if p + 2 > end:
            return BAD_LENGTH
        n = be16(hs, p)
        p += 2
        if n % 2 != 0 or p + n > end:
            return BAD_LENGTH
        capped = _u16_list(hs, p, p + n, ciphers, r, F_N_CIPHERS, fields)
        p += n
        if p + 1 > end:
            return BAD_LENGTH
        p += 1 + byte(hs, p)  # compression methods
        if p > end:
            return BAD_LENGTH
    else:
        if p + 2 > end:
            return BAD_LENGTH
        fields[r, F_CIPHER] = be16(hs, p)
        if p + 3 > end:
            return BAD_LENGTH
        fields[r, F_COMPRESSION] = byte(hs, p + 2)
        p += 3
    if p == end:
        return LIST_CAPPED if capped else OK  # no extensions (TLS 1.2 and older allow it)
    if p + 2 > end or p + 2 + be16(hs, p) != end:
        return BAD_LENGTH
    p += 2
    cap = extensions.shape[1]
    seen = 0
    while p < end:
        if p + 4 > end:
            return BAD_LENGTH
        etype = be16(hs, p)
        q = p + 4 + be16(hs, p + 2)
        if q > end:
            return BAD_LENGTH
        k = fields[r, F_N_EXTENSIONS]
        if k < cap:
            extensions[r, k] = etype
            fields[r, F_N_EXTENSIONS] = k + 1
        else:
            capped = True
        status, seen = _extension(
            hs, etype, p + 4, q, client, seen, r, fields, groups, point_formats, sig_algs, versions, alpn
        )
        if status == BAD_LENGTH:
            return BAD_LENGTH
        capped = capped or status == LIST_CAPPED
        p = q
    return LIST_CAPPED if capped else OK


@ngjit
def _first_message(buf, start, length, raw, hs, h0, hcap, r, fields):
    """Copy the bytes of the first handshake message into ``hs[h0 : h0 + hcap]``.

    Returns (status, filled): OK when the whole message is there, else why not;
    ``filled`` bytes of ``hs`` hold handshake data.
    """
    end = start + length
    if raw:
        # a bare handshake message (QUIC CRYPTO data): no records to strip
        filled = min(length, hcap)
        _copy(buf, start, hs, h0, filled)
        return OK, filled
    p = start
    filled = 0
    first = True
    while True:
        if filled >= 1:
            t = byte(hs, h0)
            if t != CLIENT_HELLO and t != SERVER_HELLO:
                return OK, filled  # NOT_HELLO is told by the caller
            if filled >= 4 and filled >= 4 + _be24(hs, h0 + 1):
                return OK, filled
        if p >= end:
            return TRUNCATED, filled
        if byte(buf, p) != CONTENT_HANDSHAKE or (p + 1 < end and byte(buf, p + 1) != 3):
            return (NOT_TLS if first else BAD_RECORD), filled
        if p + 5 > end:
            return TRUNCATED, filled
        if first:
            fields[r, F_RECORD_VERSION] = be16(buf, p + 1)
        n = be16(buf, p + 3)
        if n > MAX_RECORD:
            return BAD_RECORD, filled
        p += 5
        take = min(n, end - p, hcap - filled)
        _copy(buf, p, hs, h0 + filled, take)
        filled += take
        p += n  # may pass the end: the next turn says truncated if the message is not whole
        first = False


@ngjit
def parse_hello(
    buf,
    start,
    length,
    raw,
    hs,
    h0,
    hcap,
    r,
    fields,
    ciphers,
    extensions,
    groups,
    point_formats,
    sig_algs,
    versions,
    alpn,
):
    """Parse row ``r``: the hello at the start of ``buf[start : start + length]``; return its status."""
    if length <= 0:
        return NO_DATA
    status, filled = _first_message(buf, start, length, raw, hs, h0, hcap, r, fields)
    if filled >= 1:
        fields[r, F_TYPE] = byte(hs, h0)
        if fields[r, F_TYPE] != CLIENT_HELLO and fields[r, F_TYPE] != SERVER_HELLO:
            return NOT_HELLO
    if status != OK:
        return status
    if filled < 4:
        return TRUNCATED
    body = _be24(hs, h0 + 1)
    fields[r, F_LENGTH] = body
    if 4 + body > filled:
        return TRUNCATED
    client = fields[r, F_TYPE] == CLIENT_HELLO
    return _hello(
        hs,
        h0 + 4,
        h0 + 4 + body,
        client,
        r,
        fields,
        ciphers,
        extensions,
        groups,
        point_formats,
        sig_algs,
        versions,
        alpn,
    )


@ngjit
def parse_hellos(
    buf,
    starts,
    lengths,
    raw,
    hs,
    hs_offsets,
    fields,
    ciphers,
    extensions,
    groups,
    point_formats,
    sig_algs,
    versions,
    alpn,
):
    """Parse the hello at the start of each row's bytes.

    Parameters
    ----------
    buf : uint8[:]
        The bytes; row ``r`` is ``buf[starts[r] : starts[r] + lengths[r]]``.
    starts, lengths : int64[R]
    raw : uint8[R]
        1 where the row is a bare handshake message (QUIC), 0 for TLS records.
    hs : uint8[:]
        Output: handshake bytes, row ``r`` in ``hs[hs_offsets[r] : hs_offsets[r + 1]]``
        (give each row at least ``lengths[r]`` bytes: records only shrink).
    hs_offsets : int64[R + 1]
    fields : int64[R, N_FIELDS]
        Output: the scalars (``F_*`` columns); the kernel initialises them.
    ciphers, extensions, groups, point_formats, sig_algs, versions : uint16[R, cap]
        Output lists, each with its own cap.
    alpn : int64[R, cap, 2]
        Output: (offset in ``hs``, length) of each ALPN protocol name.

    Returns
    -------
    int64
        Rows whose status is not OK.
    """
    bad = 0
    for r in range(len(starts)):
        for c in range(N_FIELDS):
            fields[r, c] = -1
        for c in COUNT_FIELDS:
            fields[r, c] = 0
        fields[r, F_HAS_SNI] = 0
        h0 = hs_offsets[r]
        hcap = hs_offsets[r + 1] - h0
        status = parse_hello(
            buf,
            starts[r],
            lengths[r],
            raw[r],
            hs,
            h0,
            hcap,
            r,
            fields,
            ciphers,
            extensions,
            groups,
            point_formats,
            sig_algs,
            versions,
            alpn,
        )
        fields[r, F_STATUS] = status
        if status != OK:
            bad += 1
    return np.int64(bad)
