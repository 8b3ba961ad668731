"""Plain-Python reference for the HTTP/1.x kernel (kernelkit/kernels/l7/http.py).

Written from the rules in the kernel's docstrings, with regular expressions and
``bytes`` methods instead of a byte-at-a-time scan, so that the two share no code.
``parse_connection(client, server)`` returns what the kernel writes for one
connection, as dicts whose offsets are relative to the start of their stream.
"""

from __future__ import annotations

import itertools
import re

TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TARGET = rb"[^\x00-\x20\x7f]"
REQUEST_LINE = re.compile(rb"(" + TCHAR + rb"{1,24}) (" + TARGET + rb"+) HTTP/([0-9])\.([0-9])\r?\n")
SIMPLE_REQUEST = re.compile(rb"GET (" + TARGET + rb"+)\r?\n")  # HTTP/0.9
# What the start of a request line may look like when the prefix ends inside it.
REQUEST_PREFIX = re.compile(
    TCHAR
    + rb"{0,24}|"
    + TCHAR
    + rb"{1,24} "
    + TARGET
    + rb"*|"
    + TCHAR
    + rb"{1,24} "
    + TARGET
    + rb"+ (H(T(T(P(/([0-9](\.([0-9]\r?)?)?)?)?)?)?)?)?|"
    + rb"GET "
    + TARGET
    + rb"+\r"
)
STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})([ \r][^\n]*)?\n")
STATUS_PREFIX = re.compile(
    rb"H(T(T(P(/([0-9](\.([0-9]( ([0-9]([0-9]([0-9]([ \r][^\n]*)?)?)?)?)?)?)?)?)?)?)?)?"
)
DIGITS = re.compile(rb"[0-9]{1,15}")
HEX = re.compile(rb"[0-9a-fA-F]*")

OK, TRUNCATED, BODY_TRUNCATED, BODY_UNTIL_CLOSE, NOT_HTTP = (
    "ok",
    "truncated",
    "body_truncated",
    "body_until_close",
    "not_http",
)
BAD_CONTENT_LENGTH, BAD_CHUNK, BAD_TRANSFER_ENCODING, UPGRADED = (
    "bad_content_length",
    "bad_chunk",
    "bad_transfer_encoding",
    "upgraded",
)


def _message(kind: str, index: int, start: int) -> dict:
    return {
        "kind": kind,
        "index": index,
        "pair": None,
        "status": None,
        "start": start,
        "end": None,
        "method": None,
        "uri": None,
        "version": None,
        "code": None,
        "host": None,
        "user_agent": None,
        "content_length": None,
        "chunked": False,
    }


def _headers(data: bytes, k: int, msg: dict):
    """(status, body offset, transfer-encoding seen)."""
    bad = False
    te_seen = False
    while True:
        lf = data.find(b"\n", k)
        if lf < 0:
            return TRUNCATED, None, te_seen
        line = data[k:lf]
        if line.endswith(b"\r"):
            line = line[:-1]
        k = lf + 1
        if not line:
            return (BAD_CONTENT_LENGTH if bad else OK), k, te_seen
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name, value = line.split(b":", 1)
        value = value.strip(b" \t")
        name = name.lower()
        if name == b"host":
            if msg["host"] is None:
                msg["host"] = value
        elif name == b"user-agent":
            if msg["user_agent"] is None:
                msg["user_agent"] = value
        elif name == b"content-length":
            number = int(value) if DIGITS.fullmatch(value) else None
            if number is None or (msg["content_length"] is not None and msg["content_length"] != number):
                bad = True
            else:
                msg["content_length"] = number
        elif name == b"transfer-encoding":
            te_seen = True
            msg["chunked"] = value.split(b",")[-1].strip(b" \t").lower() == b"chunked"


def _chunked(data: bytes, k: int):
    """(status, offset after the body)."""
    end = len(data)
    while True:
        digits = HEX.match(data, k).group()
        if len(digits) > 15:
            return BAD_CHUNK, None
        k += len(digits)
        if k >= end:
            return BODY_TRUNCATED, None
        if not digits or data[k : k + 1] not in (b";", b" ", b"\t", b"\r", b"\n"):
            return BAD_CHUNK, None
        lf = data.find(b"\n", k)
        if lf < 0:
            return BODY_TRUNCATED, None
        k = lf + 1
        size = int(digits, 16)
        if size == 0:
            while True:
                lf = data.find(b"\n", k)
                if lf < 0:
                    return BODY_TRUNCATED, None
                line = data[k:lf]
                k = lf + 1
                if line in (b"", b"\r"):
                    return OK, k
        if size > end - k:
            return BODY_TRUNCATED, None
        k += size
        if data[k : k + 1] == b"\r":
            k += 1
        if k >= end:
            return BODY_TRUNCATED, None
        if data[k : k + 1] != b"\n":
            return BAD_CHUNK, None
        k += 1


def _body(data: bytes, k: int, msg: dict):
    if msg["chunked"]:
        return _chunked(data, k)
    if msg["content_length"] is None:
        return OK, k
    if msg["content_length"] > len(data) - k:
        return BODY_TRUNCATED, None
    return OK, k + msg["content_length"]


def _partial_request_line(data: bytes, k: int, msg: dict) -> None:
    """The fields the kernel keeps from a request line it could not finish: each one
    whose delimiter it reached."""
    head = re.match(rb"(" + TCHAR + rb"{1,24}) ", data[k:])
    if head:
        msg["method"] = head.group(1)
    target = re.match(TCHAR + rb"{1,24} (" + TARGET + rb"+) ", data[k:])
    if target:
        msg["uri"] = target.group(1)
    version = re.match(TCHAR + rb"{1,24} " + TARGET + rb"+ HTTP/([0-9])\.([0-9])", data[k:])
    if version:
        msg["version"] = 10 * int(version.group(1)) + int(version.group(2))
    simple = re.match(rb"GET (" + TARGET + rb"+)[\r\n]", data[k:])
    if simple:
        msg["uri"], msg["version"] = simple.group(1), 9


def parse_request(data: bytes, k: int, msg: dict):
    """(status, next offset) of the request at ``k``."""
    simple = SIMPLE_REQUEST.match(data, k)
    if simple:
        msg["method"], msg["uri"], msg["version"] = b"GET", simple.group(1), 9
        return OK, simple.end()
    m = REQUEST_LINE.match(data, k)
    if not m:
        _partial_request_line(data, k, msg)
        tail = data[k:]
        if b"\n" not in tail and REQUEST_PREFIX.fullmatch(tail):
            return TRUNCATED, None
        return NOT_HTTP, None
    msg["method"], msg["uri"] = m.group(1), m.group(2)
    msg["version"] = 10 * int(m.group(3)) + int(m.group(4))
    status, k, te_seen = _headers(data, m.end(), msg)
    if status != OK:
        return status, None
    if te_seen and not msg["chunked"]:
        return BAD_TRANSFER_ENCODING, None
    return _body(data, k, msg)


def parse_response(data: bytes, k: int, msg: dict, method: bytes | None):
    """(status, next offset) of the response at ``k`` to a request of ``method``."""
    m = STATUS_LINE.match(data, k)
    if not m:
        tail = data[k:]
        version = re.match(rb"HTTP/([0-9])\.([0-9])", tail)
        if version:
            msg["version"] = 10 * int(version.group(1)) + int(version.group(2))
        if b"\n" not in tail and STATUS_PREFIX.fullmatch(tail):
            code = re.match(rb"HTTP/[0-9]\.[0-9] ([0-9]{3})[ \r]", tail)
            if code:
                msg["code"] = int(code.group(1))
            return TRUNCATED, None
        return NOT_HTTP, None
    msg["version"] = 10 * int(m.group(1)) + int(m.group(2))
    code = msg["code"] = int(m.group(3))
    status, k, te_seen = _headers(data, m.end(), msg)
    if status == TRUNCATED:
        return status, None
    if code == 101 or (method == b"CONNECT" and 200 <= code < 300):
        return UPGRADED, None
    if 100 <= code < 200 or code in (204, 304) or method == b"HEAD":
        return status, (k if status == OK else None)
    if status != OK:
        return status, None
    if te_seen and not msg["chunked"]:
        return BODY_UNTIL_CLOSE, None
    if not msg["chunked"] and msg["content_length"] is None:
        return BODY_UNTIL_CLOSE, None
    return _body(data, k, msg)


def parse_connection(client: bytes, server: bytes | None) -> tuple[list[dict], bool]:
    """Messages of one connection (requests, then responses) and whether the roles swapped.

    ``client`` and ``server`` are the prefixes of direction 0 and 1 (None: no stream).
    """
    swapped = False
    if client is not None and client.startswith(b"HTTP/") and not (server or b"").startswith(b"HTTP/"):
        client, server, swapped = server, client, True
    out: list[dict] = []
    if not client:
        return out, swapped
    k = 0
    index = 0
    while k < len(client):
        while client[k : k + 1] in (b"\r", b"\n") and k < len(client):
            k += 1
        if k >= len(client):
            break
        msg = _message("request", index, k)
        msg["pair"] = index
        msg["status"], msg["end"] = parse_request(client, k, msg)
        out.append(msg)
        index += 1
        if msg["status"] != OK or msg["version"] == 9:  # 0.9: one request per connection
            break
        k = msg["end"]
    if not out or out[0]["status"] == NOT_HTTP or server is None:
        return out, swapped
    requests = list(out)
    k = 0
    index = 0
    answered = 0
    while k < len(server):
        request = requests[answered] if answered < len(requests) else None
        if request is not None and request["status"] == NOT_HTTP:
            request = None
        method = request["method"] if request else None
        msg = _message("response", index, k)
        if request is not None and request["version"] == 9:
            msg.update(status=BODY_UNTIL_CLOSE, version=9, pair=answered)
            out.append(msg)
            break
        msg["status"], msg["end"] = parse_response(server, k, msg, method)
        code = msg["code"]
        if code is not None and 100 <= code < 200 and code != 101:
            msg["pair"] = None
        elif code is not None:
            msg["pair"] = answered
            answered += 1
        out.append(msg)
        index += 1
        if msg["status"] != OK:
            break
        k = msg["end"]
    return out, swapped


# -- captures of whole conversations ---------------------------------------------------


def tcp_capture(
    segments,
    *,
    v6: bool = False,
    isn=(1000, 5000),
    ports=(40000, 80),
    start_us: int = 1_700_000_000_000_000,
    client_ip: bytes | None = None,
    server_ip: bytes | None = None,
    handshake: bool = True,
):
    """Packets of one TCP connection: handshake, then ``segments``, then FINs.

    ``segments`` are ``(direction, offset, payload)`` in the order they go on the
    wire (0: client to server); ``offset`` is the payload's place in its stream, so
    out-of-order and repeated segments are written as given. Returns pcap records
    ``(seconds, microseconds, wirelen, frame)`` 100 µs apart, Ethernet link type.
    """
    from tests import packetgen as P

    if v6:
        addresses = (
            client_ip or bytes.fromhex("20010db8000000000000000000000001"),
            server_ip or bytes.fromhex("20010db8000000000000000000000002"),
        )
    else:
        addresses = (client_ip or bytes([10, 0, 0, 1]), server_ip or bytes([10, 0, 0, 2]))
    sizes = [0, 0]
    for direction, offset, payload in segments:
        sizes[direction] = max(sizes[direction], offset + len(payload))

    def packet(direction: int, seq: int, flags: int, payload: bytes = b"") -> bytes:
        src, dst = addresses[direction], addresses[1 - direction]
        sport, dport = ports[direction], ports[1 - direction]
        segment = P.tcp(
            payload,
            sport=sport,
            dport=dport,
            seq=seq & 0xFFFFFFFF,
            ack=(isn[1 - direction] + 1) & 0xFFFFFFFF,
            flags=flags,
        )
        if v6:
            return P.ethernet(P.ipv6(segment, 6, src=src, dst=dst), 0x86DD)
        return P.ethernet(P.ipv4(segment, 6, src=src, dst=dst), 0x0800)

    frames = []
    if handshake:
        frames += [packet(0, isn[0], 0x002), packet(1, isn[1], 0x012), packet(0, isn[0] + 1, 0x010)]
    for direction, offset, payload in segments:
        frames.append(packet(direction, isn[direction] + 1 + offset, 0x018, payload))
    frames += [packet(0, isn[0] + 1 + sizes[0], 0x011), packet(1, isn[1] + 1 + sizes[1], 0x011)]
    records = []
    for k, frame in enumerate(frames):
        t = start_us + 100 * k
        records.append((t // 1_000_000, t % 1_000_000, len(frame), frame))
    return records


def split(data: bytes, cuts) -> list[tuple[int, bytes]]:
    """``data`` cut at the given offsets: ``(offset, piece)`` pairs, empty pieces dropped."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [(a, data[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
