"""HTTP/1.x requests and responses from the first bytes of TCP streams.

The client's stream prefix (direction 0) is cut into requests and the server's
(direction 1) into responses: start line, the headers kernelkit keeps (Host,
User-Agent, Content-Length, Transfer-Encoding; names compared without case),
then the body is skipped to find where the next pipelined or keep-alive message
starts. One row per message goes into a preallocated ``int64[rows, N_FIELDS]``
table; text fields are ``(offset, length)`` pairs into the stream buffer (length
-1: absent), so nothing is copied and nothing is allocated.

Where a message ends (RFC 9112 §6.3):

* requests: a chunked ``Transfer-Encoding``, else ``Content-Length``, else no body
  (an HTTP/0.9 simple request, ``GET target`` alone on its line, has no headers
  and its response no status line: a body to the close);
* responses: none for 1xx, 204, 304 and responses to HEAD; a 101, or a 2xx to
  CONNECT, ends HTTP on the connection (``UPGRADED``); then chunked, then
  ``Content-Length``, else the body runs to the connection's close
  (``BODY_UNTIL_CLOSE``).

Every status other than ``OK`` ends the parse of its stream: the next message
cannot be located. Responses are matched to requests by order (the k-th final
response answers the k-th request; 1xx interim responses answer none), which is
also how a response to HEAD is known to have no body.

Bytes are read through :func:`kernelkit.kernels.bytes.byte` only, after a bound
check against the end of the stream's prefix: every read is in bounds by
construction, whatever the bytes.
"""

import numpy as np

from ..._jit import inline_jit, ngjit
from ..bytes import byte

# -- message kinds -------------------------------------------------------------------
REQUEST = 0
RESPONSE = 1

# -- message statuses ----------------------------------------------------------------
OK = 0
TRUNCATED = 1
BODY_TRUNCATED = 2
BODY_UNTIL_CLOSE = 3
NOT_HTTP = 4
BAD_CONTENT_LENGTH = 5
BAD_CHUNK = 6
BAD_TRANSFER_ENCODING = 7
UPGRADED = 8

STATUS_NAMES = {
    OK: "ok",
    TRUNCATED: "truncated",
    BODY_TRUNCATED: "body_truncated",
    BODY_UNTIL_CLOSE: "body_until_close",
    NOT_HTTP: "not_http",
    BAD_CONTENT_LENGTH: "bad_content_length",
    BAD_CHUNK: "bad_chunk",
    BAD_TRANSFER_ENCODING: "bad_transfer_encoding",
    UPGRADED: "upgraded",
}
"""Status names; what each means:

* ``ok``: the message is whole and the next one starts at ``F_END``;
* ``truncated``: the prefix ends inside the start line or the headers (fields of
  complete lines are kept);
* ``body_truncated``: the headers are whole, the body runs past the prefix;
* ``body_until_close``: a response without length: its body runs to the close;
* ``not_http``: the bytes are not an HTTP/1.x start line;
* ``bad_content_length``: a Content-Length that is not a number, or two that differ;
* ``bad_chunk``: a chunked body with a bad size line or no CRLF after the data;
* ``bad_transfer_encoding``: a request whose transfer coding is not chunked;
* ``upgraded``: 101 Switching Protocols, or a 2xx answer to CONNECT: the
  connection no longer carries HTTP/1.x.
"""

# -- request methods (F_METHOD) -------------------------------------------------------
M_OTHER = 0
M_GET = 1
M_HEAD = 2
M_POST = 3
M_PUT = 4
M_DELETE = 5
M_CONNECT = 6
M_OPTIONS = 7
M_TRACE = 8
M_PATCH = 9

# -- columns of the message table -------------------------------------------------------
F_CONN = 0  # connection (index into the kernel's connection arrays)
F_KIND = 1  # REQUEST or RESPONSE
F_INDEX = 2  # rank among the messages of its kind in the connection
F_PAIR = 3  # request: its own rank; final response: the rank of the request it answers; 1xx: -1
F_STATUS = 4
F_START = 5  # buffer offset of the start line
F_END = 6  # buffer offset where the next message starts (OK only, else -1)
F_METHOD_OFF = 7
F_METHOD_LEN = 8
F_METHOD = 9  # M_* code
F_URI_OFF = 10
F_URI_LEN = 11
F_VERSION = 12  # 10 * major + minor (9: HTTP/0.9)
F_CODE = 13  # response status code
F_HOST_OFF = 14
F_HOST_LEN = 15
F_UA_OFF = 16
F_UA_LEN = 17
F_HEADER_END = 18  # buffer offset of the first body byte
F_CONTENT_LENGTH = 19  # -1: none
F_CHUNKED = 20  # 1: chunked transfer coding
N_FIELDS = 21

MIN_MESSAGE = 14
"""Bytes of the shortest message that another can follow ("A / HTTP/1.1\\n\\n",
"HTTP/1.1 200\\n\\n"): a stream prefix of ``n`` bytes holds at most
``n // MIN_MESSAGE + 1`` rows (the last may be truncated, not HTTP, or HTTP/0.9)."""

MAX_METHOD = 24
"""Longest method token accepted ("BASELINE-CONTROL" and the like fit)."""

MAX_LENGTH_DIGITS = 15
"""Digits of a Content-Length or chunk size (16**15 and 10**15 fit in an int64 offset)."""

C_DROPPED = 0  # counters: messages not written, the table being full
N_COUNTERS = 1

# Lowercase header names, as byte values (tuple constants are frozen at compile
# time, which is what a constant should be).
HOST = (104, 111, 115, 116)
USER_AGENT = (117, 115, 101, 114, 45, 97, 103, 101, 110, 116)
CONTENT_LENGTH = (99, 111, 110, 116, 101, 110, 116, 45, 108, 101, 110, 103, 116, 104)
TRANSFER_ENCODING = (116, 114, 97, 110, 115, 102, 101, 114, 45, 101, 110, 99, 111, 100, 105, 110, 103)
CHUNKED = (99, 104, 117, 110, 107, 101, 100)
HTTP_SLASH = (72, 84, 84, 80, 47)
GET = (71, 69, 84)
HEAD = (72, 69, 65, 68)
POST = (80, 79, 83, 84)
PUT = (80, 85, 84)
DELETE = (68, 69, 76, 69, 84, 69)
CONNECT = (67, 79, 78, 78, 69, 67, 84)
OPTIONS = (79, 80, 84, 73, 79, 78, 83)
TRACE = (84, 82, 65, 67, 69)
PATCH = (80, 65, 84, 67, 72)


@inline_jit
def _lower(c):
    return c + 32 if 65 <= c <= 90 else c


@inline_jit
def _is_tchar(c):
    """RFC 9110 token characters."""
    if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
        return True
    # ! # $ % & ' * + - . ^ _ ` | ~
    return (
        c == 33
        or 35 <= c <= 39
        or c == 42
        or c == 43
        or c == 45
        or c == 46
        or c == 94
        or c == 95
        or c == 96
        or c == 124
        or c == 126
    )


@inline_jit
def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@inline_jit
def _equals(buf, off, n, word):
    """Bytes ``[off, off + n)`` equal ``word`` exactly (caller checked the bounds)."""
    if n != len(word):
        return False
    for k in range(n):
        if byte(buf, off + k) != word[k]:
            return False
    return True


@inline_jit
def _iequals(buf, off, n, word):
    """Bytes ``[off, off + n)`` equal the lowercase ``word``, ignoring ASCII case."""
    if n != len(word):
        return False
    for k in range(n):
        if _lower(byte(buf, off + k)) != word[k]:
            return False
    return True


@inline_jit
def _line_end(buf, pos, end):
    """Offset of the first LF in ``[pos, end)``, or -1."""
    k = pos
    while k < end:
        if byte(buf, k) == 10:
            return k
        k += 1
    return -1


@ngjit
def _method_code(buf, off, n):
    if _equals(buf, off, n, GET):
        return M_GET
    if _equals(buf, off, n, HEAD):
        return M_HEAD
    if _equals(buf, off, n, POST):
        return M_POST
    if _equals(buf, off, n, PUT):
        return M_PUT
    if _equals(buf, off, n, DELETE):
        return M_DELETE
    if _equals(buf, off, n, CONNECT):
        return M_CONNECT
    if _equals(buf, off, n, OPTIONS):
        return M_OPTIONS
    if _equals(buf, off, n, TRACE):
        return M_TRACE
    if _equals(buf, off, n, PATCH):
        return M_PATCH
    return M_OTHER


@ngjit
def _version(buf, k, end, out, m):
    """``HTTP/d.d`` at ``k``: (status, offset after it). OK, TRUNCATED or NOT_HTTP."""
    for i in range(5):
        if k >= end:
            return TRUNCATED, k
        if byte(buf, k) != HTTP_SLASH[i]:
            return NOT_HTTP, k
        k += 1
    if k >= end:
        return TRUNCATED, k
    major = byte(buf, k) - 48
    if major < 0 or major > 9:
        return NOT_HTTP, k
    k += 1
    if k >= end:
        return TRUNCATED, k
    if byte(buf, k) != 46:  # '.'
        return NOT_HTTP, k
    k += 1
    if k >= end:
        return TRUNCATED, k
    minor = byte(buf, k) - 48
    if minor < 0 or minor > 9:
        return NOT_HTTP, k
    out[m, F_VERSION] = 10 * major + minor
    return OK, k + 1


@ngjit
def _line_break(buf, k, end):
    """An optional CR then LF at ``k``: (status, offset after the LF)."""
    if k >= end:
        return TRUNCATED, k
    c = byte(buf, k)
    if c == 13:
        k += 1
        if k >= end:
            return TRUNCATED, k
        c = byte(buf, k)
    if c != 10:
        return NOT_HTTP, k
    return OK, k + 1


@ngjit
def _request_line(buf, pos, end, out, m):
    """``method SP target SP HTTP/d.d [CR] LF``: (status, offset after the line).

    Bytes that could still begin such a line when the prefix ends are TRUNCATED;
    anything else is NOT_HTTP.
    """
    k = pos
    while True:
        if k >= end:
            return TRUNCATED, k
        c = byte(buf, k)
        if c == 32:
            break
        if not _is_tchar(c) or k - pos >= MAX_METHOD:
            return NOT_HTTP, k
        k += 1
    if k == pos:
        return NOT_HTTP, k
    out[m, F_METHOD_OFF] = pos
    out[m, F_METHOD_LEN] = k - pos
    out[m, F_METHOD] = _method_code(buf, pos, k - pos)
    k += 1
    target = k
    simple = False  # an HTTP/0.9 request: "GET target", no version, no headers
    while True:
        if k >= end:
            return TRUNCATED, k
        c = byte(buf, k)
        if c == 32:
            break
        if (c == 13 or c == 10) and k > target and out[m, F_METHOD] == M_GET:
            simple = True
            break
        if c < 32 or c == 127:
            return NOT_HTTP, k
        k += 1
    if k == target:
        return NOT_HTTP, k
    out[m, F_URI_OFF] = target
    out[m, F_URI_LEN] = k - target
    if simple:
        out[m, F_VERSION] = 9
        return _line_break(buf, k, end)
    status, k = _version(buf, k + 1, end, out, m)
    if status != OK:
        return status, k
    return _line_break(buf, k, end)


@ngjit
def _status_line(buf, pos, end, out, m):
    """``HTTP/d.d SP ddd [SP reason] [CR] LF``: (status, offset after the line)."""
    status, k = _version(buf, pos, end, out, m)
    if status != OK:
        return status, k
    if k >= end:
        return TRUNCATED, k
    if byte(buf, k) != 32:
        return NOT_HTTP, k
    k += 1
    code = 0
    for _ in range(3):
        if k >= end:
            return TRUNCATED, k
        d = byte(buf, k) - 48
        if d < 0 or d > 9:
            return NOT_HTTP, k
        code = 10 * code + d
        k += 1
    if k >= end:
        return TRUNCATED, k
    c = byte(buf, k)
    if c != 32 and c != 13 and c != 10:
        return NOT_HTTP, k
    out[m, F_CODE] = code
    lf = _line_end(buf, k, end)
    if lf < 0:
        return TRUNCATED, end
    return OK, lf + 1


@ngjit
def _decimal(buf, off, n):
    """A Content-Length value: its number, or -1 when it is not 1..15 digits."""
    if n < 1 or n > MAX_LENGTH_DIGITS:
        return -1
    value = 0
    for k in range(n):
        d = byte(buf, off + k) - 48
        if d < 0 or d > 9:
            return -1
        value = 10 * value + d
    return value


@ngjit
def _ends_with_chunked(buf, off, n):
    """The last comma-separated coding of a Transfer-Encoding value is ``chunked``."""
    stop = off + n
    while stop > off and (byte(buf, stop - 1) == 32 or byte(buf, stop - 1) == 9):
        stop -= 1
    start = stop
    while start > off and byte(buf, start - 1) != 44:  # ','
        start -= 1
    while start < stop and (byte(buf, start) == 32 or byte(buf, start) == 9):
        start += 1
    return _iequals(buf, start, stop - start, CHUNKED)


@ngjit
def _headers(buf, k, end, out, m):
    """Header lines up to the empty line: (status, offset of the body, transfer-encoding seen).

    The status is OK, TRUNCATED or BAD_CONTENT_LENGTH (the headers are still read
    to their end). Lines without a colon and obsolete folded continuations are
    skipped; the first Host and User-Agent are kept.
    """
    status = OK
    te_seen = False
    while True:
        lf = _line_end(buf, k, end)
        if lf < 0:
            return TRUNCATED, end, te_seen
        stop = lf
        if stop > k and byte(buf, stop - 1) == 13:
            stop -= 1
        if stop == k:
            return status, lf + 1, te_seen
        first = byte(buf, k)
        if first != 32 and first != 9:
            colon = k
            while colon < stop and byte(buf, colon) != 58:
                colon += 1
            if colon < stop:
                v0 = colon + 1
                while v0 < stop and (byte(buf, v0) == 32 or byte(buf, v0) == 9):
                    v0 += 1
                v1 = stop
                while v1 > v0 and (byte(buf, v1 - 1) == 32 or byte(buf, v1 - 1) == 9):
                    v1 -= 1
                name_len = colon - k
                if _iequals(buf, k, name_len, HOST):
                    if out[m, F_HOST_LEN] < 0:
                        out[m, F_HOST_OFF] = v0
                        out[m, F_HOST_LEN] = v1 - v0
                elif _iequals(buf, k, name_len, USER_AGENT):
                    if out[m, F_UA_LEN] < 0:
                        out[m, F_UA_OFF] = v0
                        out[m, F_UA_LEN] = v1 - v0
                elif _iequals(buf, k, name_len, CONTENT_LENGTH):
                    value = _decimal(buf, v0, v1 - v0)
                    previous = out[m, F_CONTENT_LENGTH]
                    if value < 0 or (previous >= 0 and previous != value):
                        status = BAD_CONTENT_LENGTH
                    else:
                        out[m, F_CONTENT_LENGTH] = value
                elif _iequals(buf, k, name_len, TRANSFER_ENCODING):
                    te_seen = True
                    out[m, F_CHUNKED] = 1 if _ends_with_chunked(buf, v0, v1 - v0) else 0
        k = lf + 1


@ngjit
def _chunked_body(buf, k, end):
    """Skip a chunked body from ``k``: (status, offset after its last CRLF)."""
    while True:
        size = 0
        digits = 0
        while True:
            if k >= end:
                return BODY_TRUNCATED, k
            h = _hex(byte(buf, k))
            if h < 0:
                break
            if digits == MAX_LENGTH_DIGITS:
                return BAD_CHUNK, k
            size = 16 * size + h
            digits += 1
            k += 1
        c = byte(buf, k)
        if digits == 0 or not (c == 59 or c == 32 or c == 9 or c == 13 or c == 10):
            return BAD_CHUNK, k
        lf = _line_end(buf, k, end)  # chunk extensions run to the end of the line
        if lf < 0:
            return BODY_TRUNCATED, end
        k = lf + 1
        if size == 0:
            while True:  # trailer fields, then the empty line
                lf = _line_end(buf, k, end)
                if lf < 0:
                    return BODY_TRUNCATED, end
                empty = lf == k or (lf == k + 1 and byte(buf, k) == 13)
                k = lf + 1
                if empty:
                    return OK, k
        if size > end - k:
            return BODY_TRUNCATED, end
        k += size
        status, k = _line_break(buf, k, end)
        if status == TRUNCATED:
            return BODY_TRUNCATED, k
        if status != OK:
            return BAD_CHUNK, k


@ngjit
def _body(buf, k, end, out, m):
    """Skip a body framed by chunks or Content-Length: (status, next message offset)."""
    if out[m, F_CHUNKED] == 1:
        return _chunked_body(buf, k, end)
    length = out[m, F_CONTENT_LENGTH]
    if length < 0:
        return OK, k
    if length > end - k:
        return BODY_TRUNCATED, end
    return OK, k + length


@ngjit
def _request(buf, pos, end, out, m):
    """One request at ``pos``: (status, offset of the next message)."""
    status, k = _request_line(buf, pos, end, out, m)
    if status != OK:
        return status, -1
    if out[m, F_VERSION] == 9:
        out[m, F_HEADER_END] = k
        return OK, k
    status, k, te_seen = _headers(buf, k, end, out, m)
    if status != OK:
        return status, -1
    out[m, F_HEADER_END] = k
    if te_seen and out[m, F_CHUNKED] != 1:
        return BAD_TRANSFER_ENCODING, -1
    status, k = _body(buf, k, end, out, m)
    return status, (k if status == OK else -1)


@ngjit
def _response(buf, pos, end, out, m, method):
    """One response at ``pos`` to a request of ``method`` (M_*; M_OTHER when unknown)."""
    status, k = _status_line(buf, pos, end, out, m)
    if status != OK:
        return status, -1
    status, k, te_seen = _headers(buf, k, end, out, m)
    if status == TRUNCATED:
        return status, -1
    out[m, F_HEADER_END] = k
    code = out[m, F_CODE]
    if code == 101 or (method == M_CONNECT and 200 <= code < 300):
        return UPGRADED, -1
    if 100 <= code < 200 or code == 204 or code == 304 or method == M_HEAD:
        return status, (k if status == OK else -1)  # no body, whatever the headers say
    if status != OK:
        return status, -1
    if te_seen and out[m, F_CHUNKED] != 1:
        return BODY_UNTIL_CLOSE, -1
    if out[m, F_CHUNKED] != 1 and out[m, F_CONTENT_LENGTH] < 0:
        return BODY_UNTIL_CLOSE, -1
    status, k = _body(buf, k, end, out, m)
    return status, (k if status == OK else -1)


@inline_jit
def _new_row(out, m, conn, kind, index, start):
    for f in range(N_FIELDS):
        out[m, f] = -1
    out[m, F_CONN] = conn
    out[m, F_KIND] = kind
    out[m, F_INDEX] = index
    out[m, F_START] = start
    out[m, F_CHUNKED] = 0


@inline_jit
def _starts_with_http(buf, offsets, filled, s):
    """Stream ``s`` exists and its prefix starts with ``HTTP/`` (a response)."""
    if s < 0 or filled[s] < 5:
        return False
    return _equals(buf, offsets[s], 5, HTTP_SLASH)


@ngjit
def _requests(buf, start, end, out, n, conn, counters):
    """Requests of one client stream into rows ``n, n + 1, ...``: the next free row."""
    cap = out.shape[0]
    k = start
    index = 0
    while k < end:
        while k < end and (byte(buf, k) == 13 or byte(buf, k) == 10):
            k += 1  # empty lines before a request line are ignored (RFC 9112 §2.2)
        if k >= end:
            break
        if n >= cap:
            counters[C_DROPPED] += 1
            break
        _new_row(out, n, conn, REQUEST, index, k)
        out[n, F_PAIR] = index
        status, k = _request(buf, k, end, out, n)
        out[n, F_STATUS] = status
        out[n, F_END] = k
        n += 1
        index += 1
        if status != OK or out[n - 1, F_VERSION] == 9:
            break  # HTTP/0.9 has one request per connection (and MIN_MESSAGE holds)
    return n


@ngjit
def _responses(buf, start, end, out, n, conn, first_request, n_requests, counters):
    """Responses of one server stream; request ``r`` is row ``first_request + r``."""
    cap = out.shape[0]
    k = start
    index = 0
    answered = 0
    while k < end:
        if n >= cap:
            counters[C_DROPPED] += 1
            break
        method = M_OTHER
        simple = False
        if answered < n_requests and out[first_request + answered, F_STATUS] != NOT_HTTP:
            method = out[first_request + answered, F_METHOD]
            simple = out[first_request + answered, F_VERSION] == 9
        _new_row(out, n, conn, RESPONSE, index, k)
        if simple:  # an HTTP/0.9 response is the body alone, to the close
            out[n, F_STATUS] = BODY_UNTIL_CLOSE
            out[n, F_VERSION] = 9
            out[n, F_PAIR] = answered
            n += 1
            break
        status, k = _response(buf, k, end, out, n, method)
        out[n, F_STATUS] = status
        out[n, F_END] = k
        code = out[n, F_CODE]
        if 100 <= code < 200 and code != 101:
            out[n, F_PAIR] = -1  # interim: the final response is still to come
        elif code >= 0:
            out[n, F_PAIR] = answered
            answered += 1
        n += 1
        index += 1
        if status != OK:
            break
    return n


@ngjit
def parse_http(buf, offsets, filled, stream_a, stream_b, out, swapped, counters):
    r"""Requests and responses of TCP connections, one row per message.

    Parameters
    ----------
    buf : uint8[:]
        Stream prefixes; stream ``s`` is ``buf[offsets[s] : offsets[s] + filled[s]]``.
    offsets, filled : int64[S]
        Where each stream's prefix starts, and its length.
    stream_a, stream_b : int64[C]
        Per connection, the streams of direction 0 and 1 (-1: none). The client is
        ``stream_a``, unless ``stream_a`` starts with ``HTTP/`` and ``stream_b`` does
        not (the tracker took the server for the originator, as when a capture
        begins after a connection's first packets): then the roles swap.
    out : int64[R, N_FIELDS]
        Output rows (``F_*`` columns); ``R >= sum(filled // MIN_MESSAGE + 1)`` is
        enough for any bytes.
    swapped : uint8[C]
        Output: 1 where the client is ``stream_b``.
    counters : int64[N_COUNTERS]
        Output: ``C_DROPPED``, messages not written because ``out`` was full.

    Returns
    -------
    int64
        Rows written: connections in order, each one's requests then its responses.
        A connection whose client stream does not start with a request gets a single
        ``NOT_HTTP`` row and no responses.

    Examples
    --------
    The answer to HEAD has no body whatever its Content-Length; the 404 has no
    length, so its body runs to the close:

    >>> import numpy as np
    >>> from kernelkit.kernels.l7 import http as H
    >>> client = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
    >>> server = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\nbye"
    >>> buf = np.frombuffer(client + server, np.uint8)
    >>> out = np.empty((8, H.N_FIELDS), np.int64)
    >>> n = H.parse_http(buf, np.array([0, len(client)]), np.array([len(client), len(server)]), np.array([0]),
    ...                  np.array([1]), out, np.zeros(1, np.uint8), np.zeros(H.N_COUNTERS, np.int64))
    >>> [(int(r[H.F_KIND]), int(r[H.F_PAIR]), int(r[H.F_CODE]), H.STATUS_NAMES[int(r[H.F_STATUS])])
    ...  for r in out[:n]]
    [(0, 0, -1, 'ok'), (0, 1, -1, 'ok'), (1, 0, 200, 'ok'), (1, 1, 404, 'body_until_close')]
    """
    n = 0
    for c in range(len(stream_a)):
        client = stream_a[c]
        server = stream_b[c]
        if _starts_with_http(buf, offsets, filled, client) and not _starts_with_http(
            buf, offsets, filled, server
        ):
            client, server = server, client
            swapped[c] = 1
        if client < 0 or filled[client] == 0:
            continue
        first = n
        n = _requests(buf, offsets[client], offsets[client] + filled[client], out, n, c, counters)
        if n == first or out[first, F_STATUS] == NOT_HTTP:
            continue
        if server >= 0:
            n = _responses(
                buf, offsets[server], offsets[server] + filled[server], out, n, c, first, n - first, counters
            )
    return np.int64(n)


@ngjit
def first_byte_times(seg_stream, seg_lo, seg_hi, seg_ts, msg_first, msg_offset, msg_ts, found):
    """When each message's first byte was captured: the first segment that carried it.

    Parameters
    ----------
    seg_stream, seg_lo, seg_hi, seg_ts : int64[n]
        TCP segments in capture order: stream, the stream offsets ``[lo, hi)`` of
        their payload (relative to the stream's first byte), capture time.
    msg_first : int64[S + 1]
        Messages of stream ``s`` are ``msg_first[s] .. msg_first[s + 1] - 1``.
    msg_offset : int64[M]
        Stream offset of each message's first byte, ascending within a stream.
    msg_ts, found : int64[M], uint8[M]
        Output: the capture time, and 1 where a segment carried the byte.

    Examples
    --------
    Two segments of one stream, the second sent first; three messages:

    >>> import numpy as np
    >>> from kernelkit.kernels.l7.http import first_byte_times
    >>> ts, found = np.zeros(3, np.int64), np.zeros(3, np.uint8)
    >>> _ = first_byte_times(np.array([0, 0]), np.array([10, 0]), np.array([20, 10]), np.array([100, 200]),
    ...                      np.array([0, 3]), np.array([0, 12, 25]), ts, found)
    >>> ts.tolist(), found.tolist()
    ([200, 100, 0], [1, 1, 0])
    """
    for i in range(len(seg_stream)):
        s = seg_stream[i]
        lo = seg_lo[i]
        hi = seg_hi[i]
        if s < 0 or hi <= lo:
            continue
        a = msg_first[s]
        b = msg_first[s + 1]
        while a < b:  # first message at or after lo
            mid = (a + b) // 2
            if msg_offset[mid] < lo:
                a = mid + 1
            else:
                b = mid
        j = a
        while j < msg_first[s + 1] and msg_offset[j] < hi:
            if found[j] == 0:
                msg_ts[j] = seg_ts[i]
                found[j] = 1
            j += 1
    return np.int64(0)
