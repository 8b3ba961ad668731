"""HTTP/1.x: the kernel, the reference (tests/httpref.py), the session layer and tshark.

* Byte-literal fixtures whose expected fields are written out by hand.
* Property tests: generated connections (pipelined and keep-alive requests with
  bodies framed by Content-Length or chunks, interim, HEAD, 204 and 304 responses)
  against both the generator's truth and the reference; the same bytes cut, with
  bytes flipped or inserted, and plain random bytes, against the reference (no crash,
  no hang, a status on every row). Bounds are checked (NUMBA_BOUNDSCHECK=1).
* The whole path (pcap → packets → flows → streams → transactions), with the streams
  split into segments sent out of order and twice, against the generator's truth.
* The bundled sample against what data/README.md says it holds.
* Agreement with tshark, per field, on the shared captures (``python3 -m
  tests.test_http`` prints the table).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelkit
from kernelkit.kernels.l7 import http as H
from kernelkit.sessions.http import http_messages, http_transactions
from tests import httpref as R
from tests import packetgen as P
from tests.traces import SHARED
from tests.tshark import SKIP_REASON, TSHARK, print_agreement

EXAMPLES = int(os.environ.get("KERNELKIT_HTTP_EXAMPLES", "200"))
CAPTURE_EXAMPLES = int(os.environ.get("KERNELKIT_HTTP_CAPTURE_EXAMPLES", "25"))

# -- the kernel on one connection, in the reference's terms -----------------------------


def kernel_connection(client: bytes | None, server: bytes | None) -> tuple[list[dict], bool]:
    """Run ``parse_http`` on one connection; rows as ``httpref`` writes them."""
    present = [s for s in (client, server) if s is not None]
    buf = np.frombuffer(b"".join(present) or b"\x00", np.uint8)
    filled = np.array([len(s) for s in present], np.int64)
    offsets = np.cumsum(filled) - filled
    a = 0 if client is not None else -1
    b = (1 if client is not None else 0) if server is not None else -1
    rows = int((filled // H.MIN_MESSAGE + 1).sum())
    out = np.full((rows, H.N_FIELDS), -7, np.int64)
    swapped = np.zeros(1, np.uint8)
    counters = np.zeros(H.N_COUNTERS, np.int64)
    n = H.parse_http(
        buf, offsets, filled, np.array([a], np.int64), np.array([b], np.int64), out, swapped, counters
    )
    assert counters[H.C_DROPPED] == 0
    raw = buf.tobytes()
    result = []
    for row in out[:n]:
        is_request = row[H.F_KIND] == H.REQUEST
        stream = (a if is_request else b) if not swapped[0] else (b if is_request else a)
        base = int(offsets[stream])

        def text(off, length, row=row):
            return raw[row[off] : row[off] + row[length]] if row[length] >= 0 else None

        def number(f, row=row):
            return int(row[f]) if row[f] >= 0 else None

        result.append(
            {
                "kind": "request" if is_request else "response",
                "index": int(row[H.F_INDEX]),
                "pair": number(H.F_PAIR),
                "status": H.STATUS_NAMES[int(row[H.F_STATUS])],
                "start": int(row[H.F_START]) - base,
                "end": int(row[H.F_END]) - base if row[H.F_END] >= 0 else None,
                "method": text(H.F_METHOD_OFF, H.F_METHOD_LEN),
                "uri": text(H.F_URI_OFF, H.F_URI_LEN),
                "version": number(H.F_VERSION),
                "code": number(H.F_CODE),
                "host": text(H.F_HOST_OFF, H.F_HOST_LEN),
                "user_agent": text(H.F_UA_OFF, H.F_UA_LEN),
                "content_length": number(H.F_CONTENT_LENGTH),
                "chunked": bool(row[H.F_CHUNKED] == 1),
            }
        )
    return result, bool(swapped[0])


def check_against_reference(client, server):
    ours = kernel_connection(client, server)
    assert ours == R.parse_connection(client, server)
    return ours


def requests_of(rows):
    return [r for r in rows if r["kind"] == "request"]


def responses_of(rows):
    return [r for r in rows if r["kind"] == "response"]


# -- fixtures: hand-written bytes and expectations --------------------------------------

UA = b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_simple_get():
    client = (
        b"GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: "
        + UA
        + b"\r\nAccept: */*\r\n\r\n"
    )
    server = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
    rows, swapped = check_against_reference(client, server)
    request, response = rows
    assert not swapped
    assert (request["method"], request["uri"], request["version"]) == (b"GET", b"/index.html?q=1", 11)
    assert (request["host"], request["user_agent"]) == (b"www.example.com", UA)
    assert request["status"] == "ok" and request["end"] == len(client)
    assert (response["code"], response["pair"], response["status"], response["end"]) == (
        404,
        0,
        "ok",
        len(server),
    )


def test_pipelined_requests_with_bodies():
    client = (
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"PUT /chunks HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
        b"4;name=value\r\nwiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n"
        b"GET /last HTTP/1.0\r\nHost: c\r\n\r\n"
    )
    rows, _ = check_against_reference(client, None)
    assert [(r["method"], r["uri"], r["host"], r["status"]) for r in rows] == [
        (b"POST", b"/upload", b"a", "ok"),
        (b"PUT", b"/chunks", b"b", "ok"),
        (b"GET", b"/last", b"c", "ok"),
    ]
    assert rows[0]["content_length"] == 5 and rows[1]["chunked"] and rows[2]["version"] == 10
    assert rows[1]["start"] == client.index(b"PUT") and rows[2]["start"] == client.index(b"GET /last")


def test_response_framing():
    """HEAD, 1xx, 204 and 304 responses have no body whatever their headers say."""
    client = (
        b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
        b"GET /c HTTP/1.1\r\n\r\n"
        b"GET /d HTTP/1.1\r\n\r\n"
        b"GET /e HTTP/1.1\r\n\r\n"
    )
    server = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"  # HEAD: no body
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
        b"HTTP/1.1 304 Not Modified\r\n\r\n"
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the connection closes"
    )
    rows, _ = check_against_reference(client, server)
    responses = responses_of(rows)
    assert [(r["code"], r["pair"], r["status"]) for r in responses] == [
        (200, 0, "ok"),
        (100, None, "ok"),
        (201, 1, "ok"),
        (204, 2, "ok"),
        (304, 3, "ok"),
        (200, 4, "body_until_close"),
    ]
    assert responses[-1]["version"] == 10 and responses[-1]["end"] is None


def test_header_names_ignore_case_and_bare_line_feeds():
    client = (
        b"\r\n\r\nget /x HTTP/1.1\nhOsT:\t h1 \t\nUSER-AGENT: agent/1 \n X-Folded: continued\nHost: h2\n"
        b"content-LENGTH: 3\n\nabc"
    )
    rows, _ = check_against_reference(client, b"")
    (request,) = rows
    # leading empty lines are skipped; the first Host wins; values lose their whitespace
    assert (request["start"], request["method"], request["host"], request["user_agent"]) == (
        4,
        b"get",
        b"h1",
        b"agent/1",
    )
    assert request["status"] == "ok" and request["end"] == len(client)


def test_not_http_and_truncated():
    tls = bytes.fromhex("160301020001000200030368")
    rows, _ = check_against_reference(tls, b"HTTP/1.1 200 OK\r\n\r\n")
    assert [r["status"] for r in rows] == ["not_http"]  # and no response is parsed
    rows, _ = check_against_reference(b"GET /index.ht", None)
    assert [(r["status"], r["method"], r["uri"]) for r in rows] == [("truncated", b"GET", None)]
    rows, _ = check_against_reference(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Ag", None)
    assert [(r["status"], r["uri"], r["host"], r["user_agent"]) for r in rows] == [
        ("truncated", b"/", b"x", None)
    ]
    rows, _ = check_against_reference(b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", None)
    assert [r["status"] for r in rows] == ["body_truncated"]
    rows, _ = check_against_reference(b"GET  / HTTP/1.1\r\n\r\n", None)  # two spaces
    assert [r["status"] for r in rows] == ["not_http"]


def test_bad_framing():
    for client, status in [
        (b"POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", "bad_content_length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "bad_content_length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n", "bad_content_length"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "bad_transfer_encoding"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad_chunk"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "bad_chunk"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "bad_chunk"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab", "body_truncated"),
    ]:
        rows, _ = check_against_reference(client, None)
        assert [r["status"] for r in rows] == [status], client
    # a response whose transfer coding is not chunked runs to the close
    rows, _ = check_against_reference(
        b"GET / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
    )
    assert responses_of(rows)[0]["status"] == "body_until_close"


def test_upgrades_end_http():
    rows, _ = check_against_reference(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
        b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
    )
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("request", "ok"),
        ("request", "not_http"),
        ("response", "upgraded"),
    ]
    rows, _ = check_against_reference(
        b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello",
    )
    assert [(r["code"], r["pair"], r["status"]) for r in responses_of(rows)] == [(101, 0, "upgraded")]


def test_http09_simple_request():
    rows, _ = check_against_reference(b"GET /\r\n\r\n", b"<html>no status line</html>")
    assert [(r["kind"], r["method"], r["uri"], r["version"], r["status"], r["pair"]) for r in rows] == [
        ("request", b"GET", b"/", 9, "ok", 0),
        ("response", None, None, 9, "body_until_close", 0),
    ]
    rows, _ = check_against_reference(b"POST /\r\n\r\n", None)  # only GET has a 0.9 form
    assert rows[0]["status"] == "not_http"
    # one 0.9 request per connection: what follows is not read (and 6-byte requests
    # cannot overflow the table, sized for 14-byte ones)
    rows, _ = check_against_reference(b"GET /\n" * 40, None)
    assert [(r["uri"], r["end"]) for r in rows] == [(b"/", 6)]


def test_smallest_messages_fill_the_table_exactly():
    # 14-byte requests and responses: the table sized by MIN_MESSAGE holds them all
    rows, _ = check_against_reference(b"A / HTTP/1.1\n\n" * 30, b"HTTP/1.1 204\n\n" * 30)
    assert len(rows) == 60 and all(r["status"] == "ok" for r in rows)


def test_roles_swap_when_the_server_spoke_first_in_the_capture():
    rows, swapped = check_against_reference(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert swapped and [(r["kind"], r["code"] or r["host"]) for r in rows] == [
        ("request", b"h"),
        ("response", 200),
    ]


# -- property tests: generated connections ---------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOKEN = st.text(LETTERS + "!#$%&'*+-.^_`|~", min_size=1, max_size=12).map(str.encode)
URI = st.text(LETTERS + "/?=&%-._~:@!$'()*+,;", min_size=0, max_size=30).map(lambda s: b"/" + s.encode())
HOST = st.text(LETTERS + ".-:[]", min_size=1, max_size=24).map(str.encode)
AGENT = st.text(LETTERS + " ()/;.,_-:", min_size=1, max_size=40).map(lambda s: s.strip().encode() or b"x")
VALUE = st.text(LETTERS + ' ,;=/"', min_size=0, max_size=20).map(lambda s: s.strip().encode())
OWS = st.sampled_from([b"", b" ", b"\t", b"  "])
OTHER_NAMES = st.sampled_from(
    [
        b"Accept",
        b"Connection",
        b"Cookie",
        b"X-Forwarded-For",
        b"Hosts",
        b"User-Agents",
        b"Content-Type",
        b"Cache-Control",
    ]
)


def case_of(draw, name: bytes) -> bytes:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return bytes(c ^ 0x20 if flip and chr(c).isalpha() else c for c, flip in zip(name, flips, strict=True))


@st.composite
def bodies(draw, eol: bytes) -> tuple[list[bytes], bytes]:
    """Framing headers and the body bytes: none, Content-Length, or chunks."""
    kind = draw(st.sampled_from(["none", "length", "chunked"]))
    if kind == "none":
        return [], b""
    if kind == "length":
        body = draw(st.binary(max_size=40))
        return [case_of(draw, b"Content-Length") + b":" + draw(OWS) + str(len(body)).encode()], body
    chunks = draw(st.lists(st.binary(min_size=1, max_size=20), max_size=4))
    out = b""
    for chunk in chunks:
        size = f"{len(chunk):x}".encode()
        size = size.upper() if draw(st.booleans()) else size
        out += size + draw(st.sampled_from([b"", b";ext=1", b" "])) + eol + chunk + eol
    out += b"0" + eol + draw(st.sampled_from([b"", b"Trailer: yes" + eol])) + eol
    coding = draw(st.sampled_from([b"chunked", b"gzip, chunked", b"CHUNKED"]))
    return [case_of(draw, b"Transfer-Encoding") + b":" + draw(OWS) + coding], out


@st.composite
def requests(draw) -> tuple[bytes, dict]:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    method = draw(
        st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]) | TOKEN
    )
    uri = draw(URI)
    minor = draw(st.sampled_from([0, 1]))
    truth = {"method": method, "uri": uri, "version": 10 + minor, "host": None, "user_agent": None}
    headers = [
        case_of(draw, name) + b":" + draw(OWS) + draw(VALUE) + draw(OWS)
        for name in draw(st.lists(OTHER_NAMES, max_size=3))
    ]
    if draw(st.booleans()):
        truth["host"] = draw(HOST)
        headers.append(case_of(draw, b"Host") + b":" + draw(OWS) + truth["host"] + draw(OWS))
    if draw(st.booleans()):
        truth["user_agent"] = draw(AGENT)
        headers.append(case_of(draw, b"User-Agent") + b":" + draw(OWS) + truth["user_agent"] + draw(OWS))
    framing, body = draw(bodies(eol))
    headers += framing
    headers = draw(st.permutations(headers))
    if truth["host"] is not None and draw(st.integers(0, 5)) == 0:
        headers = [*headers, b"Host: second.example"]  # the first Host counts
    if headers and draw(st.integers(0, 5)) == 0:
        headers = [*headers, b" folded continuation"]
    head = method + b" " + uri + b" HTTP/1." + str(minor).encode() + eol
    return head + b"".join(h + eol for h in headers) + eol + body, truth


@st.composite
def responses(draw, method: bytes, last: bool) -> tuple[bytes, list[int]]:
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    out = b""
    codes = []
    if draw(st.integers(0, 4)) == 0:
        out += b"HTTP/1.1 100 Continue" + eol + eol
        codes.append(100)
    code = draw(st.sampled_from([200, 201, 204, 206, 301, 304, 404, 500]))
    codes.append(code)
    reason = draw(st.sampled_from([b" OK", b" Whatever It Says", b" ", b""]))
    head = b"HTTP/1." + draw(st.sampled_from([b"0", b"1"])) + b" " + str(code).encode() + reason + eol
    if method == b"HEAD" or code in (204, 304):
        length = (
            [b"Content-Length: " + str(draw(st.integers(1, 10**6))).encode()] if draw(st.booleans()) else []
        )
        return out + head + b"".join(h + eol for h in length) + eol, codes
    if last and draw(st.integers(0, 3)) == 0:
        return out + head + eol + draw(st.binary(max_size=30)), codes  # body to the close
    framing, body = draw(bodies(eol))
    if not framing:
        framing = [b"Content-Length: 0"]
    return out + head + b"".join(h + eol for h in framing) + eol + body, codes


@st.composite
def connections(draw) -> tuple[bytes, bytes, list[dict], list[int]]:
    """A client stream of 1-5 requests, the server's answers, and what they hold."""
    drawn = draw(st.lists(requests(), min_size=1, max_size=5))
    client = b"".join(r for r, _ in drawn)
    server = b""
    codes = []
    for k, (_, truth) in enumerate(drawn):
        data, answer = draw(responses(truth["method"], last=k == len(drawn) - 1))
        server += data
        codes += answer
    return client, server, [t for _, t in drawn], codes


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(connections())
def test_generated_connections(connection):
    client, server, truth, codes = connection
    rows, _ = check_against_reference(client, server)
    got = [{k: r[k] for k in ("method", "uri", "version", "host", "user_agent")} for r in requests_of(rows)]
    assert got == truth
    assert all(r["status"] == "ok" for r in requests_of(rows))
    assert [r["code"] for r in responses_of(rows)] == codes
    finals = [r for r in responses_of(rows) if r["code"] != 100]
    assert [r["pair"] for r in finals] == list(range(len(truth)))
    assert all(r["status"] in ("ok", "body_until_close") for r in responses_of(rows))


@st.composite
def damaged(draw, data: bytes) -> bytes:
    data = bytearray(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from([b"\r\n", b"\n\n", b"0\r\n", b" ", b":", b"HTTP/1.1 ", b"\xff"]))
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_connections_match_the_reference(data):
    client, server, _, _ = data.draw(connections())
    rows, _ = check_against_reference(data.draw(damaged(client)), data.draw(damaged(server)))
    assert all(r["status"] in R.__dict__.values() for r in rows)
    assert all(r["end"] is None for r in rows if r["status"] != "ok")


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.one_of(st.none(), st.binary(max_size=80)),
    st.one_of(st.none(), st.binary(max_size=80)),
    st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", b"HEAD /x HTTP/1.0\n"]),
)
def test_random_bytes_match_the_reference(client, server, prefix):
    if client is not None:
        client = prefix + client
    check_against_reference(client, server)


# -- the whole path, from a capture ------------------------------------------------------


@st.composite
def captured_connections(draw):
    client, server, truth, codes = draw(connections())
    cuts = lambda data: draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=6))
    sides = [
        [(0, o, p) for o, p in R.split(client, cuts(client))],
        [(1, o, p) for o, p in R.split(server, cuts(server))],
    ]
    for side in sides:  # each direction in order but for a few swaps
        for _ in range(draw(st.integers(0, 2))):
            if len(side) > 1:
                i = draw(st.integers(0, len(side) - 2))
                side[i], side[i + 1] = side[i + 1], side[i]
    wire = []
    while sides[0] or sides[1]:  # the two directions interleaved at random
        d = draw(st.sampled_from([d for d in (0, 1) if sides[d]]))
        wire.append(sides[d].pop(0))
    for _ in range(draw(st.integers(0, 2))):  # a few segments twice
        wire.insert(draw(st.integers(0, len(wire))), draw(st.sampled_from(wire)))
    v6 = draw(st.booleans())
    isn = (draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([2**32 - 10, 7, 123456789])))  # wraps too
    return R.tcp_capture(wire, v6=v6, isn=isn), truth, codes


@settings(max_examples=CAPTURE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(captured_connections())
def test_transactions_from_captures(tmp_path_factory, capture):
    records, truth, codes = capture
    path = tmp_path_factory.mktemp("http") / "conversation.pcap"
    path.write_bytes(P.pcap_bytes(records, 1))
    frame = http_transactions(path)
    assert frame["ts"].is_sorted() and frame["ts"].null_count() == 0
    frame = frame.sort("request_index")  # a request's first byte can arrive before its predecessor's
    expected = [
        (
            t["method"].decode(),
            t["uri"].decode(),
            f"1.{t['version'] - 10}",
            None if t["host"] is None else t["host"].decode(),
            None if t["user_agent"] is None else t["user_agent"].decode(),
            k,
        )
        for k, t in enumerate(truth)
    ]
    got = frame.select(
        "http_method", "http_uri", "http_version", "http_host", "http_user_agent", "request_index"
    ).rows()
    assert got == expected
    assert frame["http_status"].to_list() == [c for c in codes if c != 100]
    assert frame["response_ts"].null_count() == 0


def test_request_time_is_the_first_segment_carrying_its_first_byte(tmp_path):
    first, second = b"GET /1 HTTP/1.1\r\n\r\n", b"GET /2 HTTP/1.1\r\n\r\n"
    # the second request's first byte arrives before the first request's last bytes
    segments = [(0, 0, first[:5]), (0, len(first), second), (0, 5, first[5:])]
    records = R.tcp_capture(segments, start_us=1_000_000_000_000_000)
    path = tmp_path / "times.pcap"
    path.write_bytes(P.pcap_bytes(records, 1))
    frame = http_transactions(path)
    base = 1_000_000_000_000_000_000  # ns
    # frames: SYN, SYN-ACK, ACK, then the three segments, 100 µs apart
    assert frame["ts"].cast(pl.Int64).to_list() == [base + 300_000, base + 400_000]


def test_capacity_bounds_what_is_seen(tmp_path):
    client = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
    server = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000 + b"HTTP/1.1 404 Gone\r\n\r\n"
    records = R.tcp_capture(
        [(0, 0, client)] + [(1, o, p) for o, p in R.split(server, range(0, len(server), 1000))]
    )
    path = tmp_path / "long.pcap"
    path.write_bytes(P.pcap_bytes(records, 1))
    assert http_transactions(path)["http_status"].to_list() == [200, 404]
    small = http_transactions(path, capacity=2048)
    assert small["http_status"].to_list() == [200, None]
    assert small["response_status"].to_list() == ["body_truncated", None]


# -- the bundled sample ------------------------------------------------------------------

# data/README.md, phases 4 and 5: (method, uri, Host, response status)
SAMPLE_REQUESTS = [
    ("GET", "/", "127.0.0.1", 200),
    ("GET", "/static/style.css", "www.kernelkit.test", 200),
    ("GET", "/index.html", "www.kernelkit.test", 200),
    ("GET", "/data/flows.json", "www.kernelkit.test", 200),
    ("GET", "/no/such/page.html", "127.0.0.1", 404),
    ("GET", "/stream", "127.0.0.1", 200),
    ("POST", "/api/upload", "127.0.0.1", 201),
    ("GET", "/static/blob.txt", "[::1]", 200),
    ("GET", "/search?q=kernelkit&page=2", "[::1]", 404),
    ("HEAD", "/index.html", "[::1]", 200),
    *[
        (m, u, "www.kernelkit.test", s)
        for m, u, s in (
            ("GET", "/index.html", 200),
            ("GET", "/data/flows.json", 200),
            ("POST", "/api/echo?format=json", 201),
        )
    ],
    *[
        (m, u, "api.example.org", s)
        for m, u, s in (
            ("GET", "/index.html", 200),
            ("GET", "/data/flows.json", 200),
            ("POST", "/api/echo?format=json", 201),
        )
    ],
]


def test_sample_capture():
    frame = http_transactions(kernelkit.sample_path())
    assert frame.select("http_method", "http_uri", "http_host", "http_status").rows() == SAMPLE_REQUESTS
    assert (
        frame.filter(pl.col("http_uri") == "/static/style.css")["http_user_agent"]
        .item()
        .startswith("Mozilla/5.0")
    )
    python = frame.filter(pl.col("http_user_agent") == "kernelkit-sample/1.0 (Python http.client)")
    assert python.height == 6 and python["flow_id"].n_unique() == 2
    assert sorted(python["request_index"].to_list()) == [0, 0, 1, 1, 2, 2]
    assert (frame["request_status"] == "ok").all() and (frame["response_status"] == "ok").all()
    messages = http_messages(kernelkit.sample_path())
    assert messages.filter(uri="/stream")["kind"].to_list() == ["request"]
    streamed = messages.filter((pl.col("kind") == "response") & pl.col("chunked"))
    assert streamed.height == 1  # GET /stream


def test_no_http_gives_an_empty_frame_of_the_same_schema(tmp_path):
    records = R.tcp_capture(
        [(0, 0, b"\x16\x03\x01\x00\x05hello"), (1, 0, b"\x16\x03\x03")], ports=(40000, 443)
    )
    path = tmp_path / "tls.pcap"
    path.write_bytes(P.pcap_bytes(records, 1))
    assert http_transactions(path).schema == http_transactions(kernelkit.sample_path()).schema
    assert http_transactions(path).height == 0
    assert http_messages(path)["status"].to_list() == ["not_http"]


# -- agreement with tshark ----------------------------------------------------------------

HTTP_CAPTURES = (
    "zeek__http__pipelined-requests.pcap",
    "zeek__http__206_example_b.pcap",
    "suricata-verify__decode-sll2-02__input.pcap",
    "suricata-verify__http-mime-truncated__input.pcap",
    "suricata-verify__tls__tls-subjectaltname__input.pcap",
    "zeek__http-qinq-0.pcap",
    "zeek__mixed-vlan-mpls.pcap",
    "zeek__vlan-collisions.pcap",
    "zeek__vlan-qinqinq.pcap",
    "zeek__ipv6-http-atomic-frag.pcap",
    "zeek__tunnels__vxlan-encapsulated-http.pcap",
)
FIELDS = ("http.request.method", "http.request.uri", "http.host", "http.user_agent", "http.response.code")
COLUMN = {
    "http.request.method": "http_method",
    "http.request.uri": "http_uri",
    "http.host": "http_host",
    "http.user_agent": "http_user_agent",
    "http.response.code": "http_status",
}
# tshark with TCP reassembly on (its default) and out-of-order segments reassembled too,
# as kernelkit does (tshark's default drops them: responses behind a lost-then-resent
# segment never show).
TSHARK_PREFERENCES = ("tcp.desegment_tcp_streams:TRUE", "tcp.reassemble_out_of_order:TRUE")

KNOWN_DIFFERENCES = {
    ("suricata-verify__http-mime-truncated__input.pcap", "http.response.code"): (
        3,
        (
            "the 5th response's 1.2 MB body runs past the 1 MiB stream prefix (capacity): the 3 responses "
            "after "
            "it are not seen (a larger capacity sees them: test_larger_capacity_sees_long_connections)"
        ),
    ),
    ("zeek__ipv6-http-atomic-frag.pcap", "http.request.method"): (
        4,
        (
            "HTTP/0.9 requests (`GET /bad.html` and a close): tshark waits for a blank line after the "
            "request "
            "line, which never comes, and shows nothing; kernelkit, like Zeek, reads a 0.9 request "
            "(test_http09_requests_that_tshark_leaves_unfinished)"
        ),
    ),
    ("zeek__ipv6-http-atomic-frag.pcap", "http.request.uri"): (4, "as for http.request.method"),
}
ENCAPSULATED = (
    "inside a tunnel (GRE, VXLAN, Geneve, IP in IP) or an ICMP error: kernelkit parses the outer headers only"
)


def _as_list(value):
    return value if isinstance(value, list) else ([] if value is None else [value])


def _find(tree, key):
    """The first value of ``key`` anywhere in a tshark JSON subtree."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _find(item, key)
            if found is not None:
                return found
    return None


def tshark_json(path: Path, display_filter: str, layers: str, preferences=()) -> list[dict]:
    command = [
        TSHARK,
        "-n",
        "-r",
        str(path),
        "-Y",
        display_filter,
        "-T",
        "json",
        "--no-duplicate-keys",
        "-J",
        layers,
    ]
    for preference in preferences:
        command += ["-o", preference]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    return [frame["_source"]["layers"] for frame in json.loads(done.stdout or "[]")]


def encapsulated(layers: dict) -> bool:
    """The frame's application layer sits inside a tunnel or an ICMP error."""
    stack = layers["frame"]["frame.protocols"].split(":")
    return sum(name in ("ip", "ipv6") for name in stack) > 1 or bool(
        {"gre", "vxlan", "geneve", "icmp", "icmpv6"} & set(stack)
    )


def endpoints(layers: dict, transport: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """(source, destination) of a frame's innermost IP header and its TCP/UDP header."""
    ip = (_as_list(layers.get("ip")) or _as_list(layers.get("ipv6")))[-1]
    l4 = _as_list(layers.get(transport))[-1]
    src = ip.get("ip.src") or ip.get("ipv6.src")
    dst = ip.get("ip.dst") or ip.get("ipv6.dst")
    return (src, int(l4[f"{transport}.srcport"])), (dst, int(l4[f"{transport}.dstport"]))


def tshark_http(path: Path) -> dict[frozenset, list[dict]]:
    """Per connection (its two endpoints), tshark's requests in order, each with the
    code of the response that names it in ``http.request_in``."""
    frames = tshark_json(path, "http && tcp", "frame ip ipv6 tcp http", TSHARK_PREFERENCES)
    requests: dict[frozenset, list[dict]] = defaultdict(list)
    by_frame: dict[int, dict] = {}
    for layers in frames:
        number = int(layers["frame"]["frame.number"])
        # what kernelkit cannot see gets a key of its own, so that it lines up with nothing
        key = ("encapsulated", number) if encapsulated(layers) else frozenset(endpoints(layers, "tcp"))
        for pdu in _as_list(layers.get("http")):
            method = _find(pdu, "http.request.method")
            if method is not None:
                request = {
                    "http.request.method": method,
                    "http.request.uri": _find(pdu, "http.request.uri"),
                    "http.host": pdu.get("http.host"),
                    "http.user_agent": pdu.get("http.user_agent"),
                    "http.response.code": None,
                    "frame": number,
                }
                requests[key].append(request)
                by_frame.setdefault(number, request)
        for pdu in _as_list(layers.get("http")):
            code = _find(pdu, "http.response.code")
            request_in = _find(pdu, "http.request_in")
            if (
                code is not None
                and int(code) >= 200
                and request_in is not None
                and int(request_in) in by_frame
            ):
                target = by_frame[int(request_in)]
                if target["http.response.code"] is None:
                    target["http.response.code"] = int(code)
    return requests


def _text_ip(raw: bytes) -> str:
    import ipaddress

    address = ipaddress.IPv6Address(raw)
    return str(address.ipv4_mapped or address)


def flow_endpoints(packets: pl.DataFrame) -> dict[int, tuple[tuple[str, int], tuple[str, int]]]:
    """(originator, responder) endpoints of each flow, from its first packet of direction 0."""
    first = (
        packets.filter(pl.col("flow_id").is_not_null() & pl.col("sport").is_not_null())
        .with_columns(
            pl.when(pl.col("direction") == 0).then(pl.col("src_ip")).otherwise(pl.col("dst_ip")).alias("a"),
            pl.when(pl.col("direction") == 0).then(pl.col("sport")).otherwise(pl.col("dport")).alias("ap"),
            pl.when(pl.col("direction") == 0).then(pl.col("dst_ip")).otherwise(pl.col("src_ip")).alias("b"),
            pl.when(pl.col("direction") == 0).then(pl.col("dport")).otherwise(pl.col("sport")).alias("bp"),
        )
        .group_by("flow_id")
        .first()
    )
    return {
        r["flow_id"]: ((_text_ip(r["a"]), r["ap"]), (_text_ip(r["b"]), r["bp"]))
        for r in first.iter_rows(named=True)
    }


def kernelkit_http(path: Path, capacity: int | None = None) -> dict[frozenset, list[dict]]:
    from kernelkit.sessions.source import session_packets

    packets = session_packets(path)
    frame = http_transactions(packets) if capacity is None else http_transactions(packets, capacity=capacity)
    ends = flow_endpoints(packets)
    out: dict[frozenset, list[dict]] = defaultdict(list)
    for row in frame.sort("flow_id", "request_index").iter_rows(named=True):
        out[frozenset(ends[row["flow_id"]])].append({f: row[COLUMN[f]] for f in FIELDS})
    return out


@dataclass
class Agreement:
    """kernelkit against tshark on one capture, per field: values compared and agreeing."""

    name: str
    compared: Counter = field(default_factory=Counter)
    agreed: Counter = field(default_factory=Counter)
    disagreements: list[tuple[str, object, object]] = field(default_factory=list)  # field, tshark, kernelkit
    explained: Counter = field(default_factory=Counter)  # (field, reason) -> disagreements a rule explains

    def unexplained(self) -> Counter:
        counts = Counter(f for f, _, _ in self.disagreements)
        for (name, fld), (count, _) in KNOWN_DIFFERENCES.items():
            if name != self.name:
                continue
            for f in list(counts):
                if fld in ("*", f) and (count is None or counts[f] == count):
                    del counts[f]
        return counts


def compare_http(path: Path) -> Agreement:
    """Line up tshark's and kernelkit's requests per connection, in order; count per field."""
    ours, theirs = kernelkit_http(path), tshark_http(path)
    result = Agreement(path.name)
    for key in set(ours) | set(theirs):
        a, b = theirs.get(key, []), ours.get(key, [])
        for k in range(max(len(a), len(b))):
            for f in FIELDS:
                x = a[k][f] if k < len(a) else None
                y = b[k][f] if k < len(b) else None
                if x is None and y is None:
                    continue
                result.compared[f] += 1
                if x == y:
                    result.agreed[f] += 1
                elif isinstance(key, tuple) and key[0] == "encapsulated":
                    result.explained[(f, ENCAPSULATED)] += 1
                else:
                    result.disagreements.append((f, x, y))
    return result


def _capture(name: str) -> Path:
    if name == "sample.pcapng":
        return kernelkit.sample_path()
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared capture {name} is not at {SHARED}")
    return path


# http-mime-truncated ends in a cut record, which the reader reports (as it should)
CUT_CAPTURE = pytest.mark.filterwarnings("ignore:.*cut short:kernelkit.TraceWarning")


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@pytest.mark.parametrize("name", ["sample.pcapng", *HTTP_CAPTURES])
@CUT_CAPTURE
def test_agrees_with_tshark(name):
    result = compare_http(_capture(name))
    assert not result.unexplained(), result.disagreements[:5]
    assert result.compared["http.request.method"] > 0
    documented = {f: count for (n, f), (count, _) in KNOWN_DIFFERENCES.items() if n == name and count}
    for f, count in documented.items():  # a documented difference that went away must be struck off
        assert sum(1 for d in result.disagreements if d[0] == f) == count


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@CUT_CAPTURE
def test_larger_capacity_sees_long_connections():
    path = _capture("suricata-verify__http-mime-truncated__input.pcap")
    theirs = tshark_http(path)
    ours = kernelkit_http(path, capacity=8 << 20)
    assert ours == {k: [{f: r[f] for f in FIELDS} for r in v] for k, v in theirs.items()}


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
def test_http09_requests_that_tshark_leaves_unfinished():
    path = _capture("zeek__ipv6-http-atomic-frag.pcap")
    frame = http_transactions(path)
    assert frame.select("http_method", "http_uri", "http_version").unique().rows() == [
        ("GET", "/bad.html", "0.9")
    ]
    assert frame.height == 4 and frame["http_status"].null_count() == 4
    # tshark shows them once it no longer waits for the end of the headers (one it
    # takes for a retransmission: its SYN-ACK was captured before its SYN)
    frames = tshark_json(path, "http.request", "http", ("http.desegment_headers:FALSE",))
    assert [_find(f, "http.request.uri") for f in frames] == ["/bad.html"] * 3


def main() -> None:
    """Print the per-field agreement with tshark over the HTTP captures at hand."""
    names = ["sample.pcapng", *[n for n in HTTP_CAPTURES if (SHARED / n).is_file()]]
    print_agreement(names, compare_http, FIELDS, {ENCAPSULATED: "enc."})
    print(f"\n(n enc.): values tshark found {ENCAPSULATED}.")
    for (name, f), (count, reason) in KNOWN_DIFFERENCES.items():
        print(f"- `{name}` `{f}`: {count} documented: {reason}")



if __name__ == "__main__":
    main()
