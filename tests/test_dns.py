"""DNS: the kernel, the reference (tests/dnsref.py), the session layer and tshark.

* Byte-literal fixtures with hand-written expectations, malicious compression
  pointers among them (loops, forward, past the end, hop limits).
* Property tests: messages written with real name compression by
  ``dnsref.Builder`` against the builder's truth and the reference; the same
  messages cut, with bytes flipped and pointers planted, and TCP streams of
  length-prefixed messages cut anywhere, against the reference (no crash, no hang,
  a status on every row). Bounds are checked (NUMBA_BOUNDSCHECK=1).
* The whole path (pcap → transactions) over UDP and TCP, with retransmitted,
  unanswered and unsolicited messages, against what was written.
* The bundled sample against data/README.md, and agreement with tshark per field on
  the shared captures (``python3 -m tests.test_dns`` prints the table).
"""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelkit
from kernelkit.kernels.l7 import dns as D
from kernelkit.sessions.dns import dns_messages, dns_transactions
from tests import dnsref as R
from tests import httpref
from tests import packetgen as P
from tests.test_http import (
    ENCAPSULATED,
    Agreement,
    _as_list,
    _capture,
    _find,
    encapsulated,
    endpoints,
    flow_endpoints,
    tshark_json,
)
from tests.traces import SHARED
from tests.tshark import SKIP_REASON, TSHARK, print_agreement

EXAMPLES = int(os.environ.get("KERNELKIT_DNS_EXAMPLES", "300"))
CAPTURE_EXAMPLES = int(os.environ.get("KERNELKIT_DNS_CAPTURE_EXAMPLES", "25"))

# -- the kernel on messages, in the reference's terms ----------------------------------


def kernel_messages(messages: list[tuple[bytes, int | None]], text_capacity: int | None = None) -> list[dict]:
    """Run ``parse_messages`` on ``(bytes, declared length)`` pairs; rows as ``dnsref`` writes them."""
    buf = np.frombuffer(b"".join(m for m, _ in messages) + b"\x00", np.uint8)
    avail = np.array([len(m) for m, _ in messages], np.int64)
    start = np.cumsum(avail) - avail
    declared = np.array([-1 if d is None else d for _, d in messages], np.int64)
    n = len(messages)
    fields = np.full((n, D.N_FIELDS), -7, np.int64)
    n_answers = int((avail // D.MIN_RECORD).sum()) + 1
    answers = np.full((n_answers, D.N_ANSWER_FIELDS), -7, np.int64)
    addresses = np.zeros((n_answers, 16), np.uint8)
    text = np.zeros(text_capacity if text_capacity is not None else 256 * (n + n_answers), np.uint8)
    counters = np.zeros(D.N_COUNTERS, np.int64)
    D.parse_messages(
        buf, np.arange(n, dtype=np.int64), start, avail, declared, fields, answers, addresses, text, counters
    )
    assert counters[D.C_ANSWERS_NEEDED] <= n_answers
    raw = text.tobytes()
    out = []
    for i, row in enumerate(fields):
        header = row[D.F_ID] >= 0
        entry = {
            "status": D.STATUS_NAMES[int(row[D.F_STATUS])],
            "id": int(row[D.F_ID]) if header else None,
            "flags": int(row[D.F_FLAGS]) if header else None,
            "counts": tuple(int(row[f]) for f in (D.F_QDCOUNT, D.F_ANCOUNT, D.F_NSCOUNT, D.F_ARCOUNT))
            if header
            else None,
            "qname": raw[row[D.F_QNAME_OFF] : row[D.F_QNAME_OFF] + row[D.F_QNAME_LEN]]
            if row[D.F_QNAME_LEN] >= 0
            else None,
            "qtype": int(row[D.F_QTYPE]) if row[D.F_QTYPE] >= 0 else None,
            "qclass": int(row[D.F_QCLASS]) if row[D.F_QCLASS] >= 0 else None,
            "answers": [],
        }
        assert row[D.F_SOURCE] == i and row[D.F_START] == start[i] and row[D.F_AVAILABLE] == avail[i]
        first, count = int(row[D.F_ANSWER_FIRST]), int(row[D.F_ANSWER_COUNT])
        for a in range(first, first + count):
            assert answers[a, D.A_MESSAGE] == i
            rtype = int(answers[a, D.A_TYPE])
            if rtype == D.TYPE_CNAME:
                off, length = answers[a, D.A_TEXT_OFF], answers[a, D.A_TEXT_LEN]
                value = raw[off : off + length].decode("utf-8", "backslashreplace")
            else:
                value = R._address(addresses[a, : answers[a, D.A_ADDRESS_LEN]].tobytes())
            entry["answers"].append((rtype, int(answers[a, D.A_CLASS]), int(answers[a, D.A_TTL]), value))
        out.append(entry)
    return out


def check(messages):
    ours = kernel_messages(messages)
    assert ours == [R.parse_message(m, d) for m, d in messages]
    return ours


def one(message: bytes, declared: int | None = None) -> dict:
    return check([(message, declared)])[0]


def kernel_split(stream: bytes) -> list[tuple[bytes, int | None]]:
    buf = np.frombuffer(stream + b"\x00", np.uint8)
    size = len(stream) // 2 + 1
    source, start, avail, declared = (np.full(size, -7, np.int64) for _ in range(4))
    counters = np.zeros(D.N_COUNTERS, np.int64)
    n = D.split_tcp(
        buf,
        np.array([0], np.int64),
        np.array([len(stream)], np.int64),
        np.array([0], np.int64),
        source,
        start,
        avail,
        declared,
        counters,
    )
    assert counters[D.C_MESSAGES_DROPPED] == 0 and (source[:n] == 0).all()
    return [
        (stream[start[k] : start[k] + avail[k]], None if declared[k] < 0 else int(declared[k]))
        for k in range(n)
    ]


# -- fixtures ---------------------------------------------------------------------------

# A query for www.example.com A, id 0x1234, RD set (RFC 1035 layout, written out by hand).
QUERY = bytes.fromhex("1234 0100 0001 0000 0000 000003 777777 07 6578616d706c65 03 636f6d 000001 0001")
# Its response: www.example.com CNAME web.example.com (target compressed to "web" + pointer
# to "example.com" at offset 16), then web.example.com A 192.0.2.1 and AAAA 2001:db8::1.
RESPONSE = bytes.fromhex(
    "1234 8180 0001 0003 0000 0000"
    "03 777777 07 6578616d706c65 03 636f6d 00 0001 0001"
    "c00c 0005 0001 00000e10 0006 03 776562 c010"  # CNAME at 33, target at 45
    "c02d 0001 0001 0000003c 0004 c0000201"
    "c02d 001c 0001 0000003c 0010 20010db8000000000000000000000001"
)


def test_query():
    m = one(QUERY)
    assert (m["status"], m["id"], m["flags"], m["counts"]) == ("ok", 0x1234, 0x0100, (1, 0, 0, 0))
    assert (m["qname"], m["qtype"], m["qclass"], m["answers"]) == (b"www.example.com", 1, 1, [])


def test_response_with_compression():
    m = one(RESPONSE)
    assert m["status"] == "ok" and m["flags"] >> 15 == 1
    assert m["answers"] == [
        (5, 1, 3600, "web.example.com"),
        (1, 1, 60, "192.0.2.1"),
        (28, 1, 60, "2001:db8::1"),
    ]


def test_other_record_types_are_skipped_and_sections_counted():
    b = R.Builder()
    b.header(7, 0x8183, 1, 2, 1, 1)  # NXDOMAIN
    b.question(b"nope.test", 15)
    b.record(b"nope.test", 15, rdata=b"\x00\x0a" + b"\x02mx\x00")
    b.record(b"nope.test", 1, rdata=b"\x0a\x00\x00\x01")
    b.record(b"test", 6, rdata=b"\x00" * 22)
    b.record(b"", 41, rdata=b"")  # OPT in the additional section
    m = one(b.bytes())
    assert (m["status"], m["flags"] & 0xF, m["counts"], m["answers"]) == (
        "ok",
        3,
        (1, 2, 1, 1),
        [(1, 1, 300, "10.0.0.1")],
    )


def test_root_name_and_no_question():
    b = R.Builder()
    b.header(1, 0, 1, 0)
    b.question(b"", 2)  # NS of the root
    assert (one(b.bytes())["qname"], one(b.bytes())["qtype"]) == (b"", 2)
    header_only = struct.pack("!6H", 9, 0x8000, 0, 0, 0, 0)
    assert (one(header_only)["status"], one(header_only)["qname"]) == ("ok", None)


def test_malicious_pointers():
    header = struct.pack("!6H", 1, 0, 1, 0, 0, 0)
    # a pointer to itself, to the header (a loop through nothing), forward, past the end
    assert one(header + b"\xc0\x0c\x00\x01\x00\x01")["status"] == "bad_pointer"
    assert one(header + b"\xc0\x0e\x00\x00\x01\x00\x01")["status"] == "bad_pointer"
    assert one(header + b"\xc3\xff" + b"\x00" * 6)["status"] == "bad_pointer"
    # two names pointing at each other: 12 -> "a" then pointer to 15, 15 -> pointer to 12
    looped = header + b"\x01a\xc0\x0f" + b"\xc0\x0c"
    assert one(looped)["status"] == "bad_pointer"
    # a pointer cut by the end of the message, a label cut, an extended label type
    assert one(header + b"\x03abc\xc0")["status"] == "truncated"
    assert one(header + b"\x05ab")["status"] == "truncated"
    assert one(header + b"\x41abc\x00\x00\x01\x00\x01")["status"] == "bad_label"


def test_a_name_that_points_back_into_itself_is_a_loop():
    # answer owner at 29: "x" then a pointer to 29 (its own start): strictly backward rules reject it
    b = R.Builder()
    b.header(2, 0x8000, 1, 1)
    b.question(b"q.test", 1)
    msg = (
        b.bytes()
        + b"\x01x\xc0"
        + bytes([len(b.bytes())])
        + struct.pack("!HHIH", 1, 1, 0, 4)
        + b"\x01\x02\x03\x04"
    )
    assert one(msg)["status"] == "bad_pointer"


def _hop_chain(pointers: int) -> bytes:
    """A CNAME whose target goes through ``pointers`` + 1 pointers to the root label at 12."""
    header = struct.pack("!6H", 3, 0x8000, 1, 2, 0, 0)
    body = b"\x00" + struct.pack("!HH", 5, 1)  # question: root, CNAME, IN (offsets 12..16)
    chain = b""
    base = 12 + len(body) + 2 + 10  # the TXT record's rdata, after a pointer owner and 10 fixed bytes
    previous = 12
    for k in range(pointers):  # each pointer points at the one before it
        chain += struct.pack("!H", 0xC000 | previous)
        previous = base + 2 * k
    txt = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 0, len(chain)) + chain
    cname = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 0, 2) + struct.pack("!H", 0xC000 | previous)
    return header + body + txt + cname


def test_pointer_hops_are_bounded():
    assert one(_hop_chain(127))["answers"] == [(5, 1, 0, "")]  # 128 pointers followed
    assert one(_hop_chain(128))["status"] == "bad_pointer"  # 129


def test_name_length_is_bounded():
    b = R.Builder()
    b.header(4, 0, 1, 0)
    b.question(b".".join([b"a" * 63] * 3 + [b"b" * 61]), 1)  # 255 octets: the most allowed
    assert one(b.bytes())["status"] == "ok"
    b = R.Builder()
    b.header(4, 0, 1, 0)
    b.question(b".".join([b"a" * 63] * 3 + [b"b" * 62]), 1)
    assert one(b.bytes())["status"] == "name_too_long"


def test_truncated_messages_keep_what_came_first():
    assert one(RESPONSE[:11])["status"] == "truncated_header"
    m = one(RESPONSE[: RESPONSE.index(bytes.fromhex("c02d001c"))])  # the AAAA record is missing
    assert m["status"] == "truncated" and [a[0] for a in m["answers"]] == [5, 1]
    m = one(RESPONSE[:20])  # inside the question
    assert (m["status"], m["qname"]) == ("truncated", None)
    m = one(QUERY, declared=len(QUERY) + 100)  # what was read is whole, the rest is missing
    assert m["status"] == "message_cut" and m["qname"] == b"www.example.com"


def test_tcp_stream_split():
    stream = (
        struct.pack("!H", len(QUERY))
        + QUERY
        + struct.pack("!H", len(RESPONSE))
        + RESPONSE
        + struct.pack("!H", 0)
        + struct.pack("!H", 500)
        + QUERY[:5]
        + b"\x01"
    )
    parts = kernel_split(stream)
    assert parts == R.split_tcp(stream)
    assert [(len(m), d) for m, d in parts] == [
        (len(QUERY), len(QUERY)),
        (len(RESPONSE), len(RESPONSE)),
        (0, 0),
        (6, 500),
    ]
    assert [m["status"] for m in check(parts)] == ["ok", "ok", "truncated_header", "truncated_header"]
    three = 2 + len(QUERY) + 2 + len(RESPONSE) + 2
    assert kernel_split(stream[:three] + b"\x01") == [*parts[:3], (b"", None)]  # a length prefix cut in two
    assert R.split_tcp(stream[:three] + b"\x01") == [*parts[:3], (b"", None)]


def test_names_that_do_not_fit_are_counted():
    """With a text buffer too small, the kernel writes what fits and says how much it needed."""
    messages = [(RESPONSE, None)] * 3
    buf = np.frombuffer(RESPONSE * 3, np.uint8)
    n = len(RESPONSE)
    fields = np.empty((3, D.N_FIELDS), np.int64)
    answers = np.empty((30, D.N_ANSWER_FIELDS), np.int64)
    addresses = np.zeros((30, 16), np.uint8)
    text = np.zeros(10, np.uint8)
    counters = np.zeros(D.N_COUNTERS, np.int64)
    D.parse_messages(
        buf,
        np.arange(3, dtype=np.int64),
        np.array([0, n, 2 * n], np.int64),
        np.full(3, n, np.int64),
        np.full(3, -1, np.int64),
        fields,
        answers,
        addresses,
        text,
        counters,
    )
    assert counters[D.C_TEXT_NEEDED] == 3 * (len(b"www.example.com") + len(b"web.example.com"))
    assert text.tobytes() == b"www.exampl"
    assert kernel_messages(messages, text_capacity=int(counters[D.C_TEXT_NEEDED])) == kernel_messages(
        messages
    )


# -- property tests ------------------------------------------------------------------------

LABEL = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20
).map(str.encode)
NAMES = st.lists(LABEL, min_size=0, max_size=5).map(lambda labels: b".".join(labels))


@st.composite
def messages(draw) -> tuple[bytes, dict]:
    """A DNS message written with compression (or not), and its truth."""
    pool = draw(st.lists(NAMES, min_size=1, max_size=4))
    name = st.sampled_from(pool) | NAMES
    b = R.Builder(compress=draw(st.booleans()))
    questions = draw(st.lists(st.tuples(name, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), max_size=2))
    records = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["A", "AAAA", "CNAME", "MX", "TXT", "A6"]))
        records.append(
            (
                kind,
                draw(name),
                draw(name),
                draw(st.binary(min_size=4, max_size=4)),
                draw(st.binary(min_size=16, max_size=16)),
                draw(st.integers(0, 2**32 - 1)),
                draw(st.sampled_from([1, 3, 255])),
            )
        )
    authority = draw(st.lists(name, max_size=2))
    ident, flags = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    b.header(ident, flags, len(questions), len(records), len(authority), 0)
    for qname, qtype, qclass in questions:
        b.question(qname, qtype, qclass)
    answers = []
    for kind, owner, target, v4, v6, ttl, rclass in records:
        if kind == "A":
            b.record(owner, 1, rdata=v4, ttl=ttl, rclass=rclass)
            answers.append((1, rclass, ttl, str(ipaddress.IPv4Address(v4))))
        elif kind == "AAAA":
            b.record(owner, 28, rdata=v6, ttl=ttl, rclass=rclass)
            answers.append((28, rclass, ttl, R._address(v6)))
        elif kind == "CNAME":
            b.record(owner, 5, target=target, ttl=ttl, rclass=rclass)
            answers.append((5, rclass, ttl, target.decode()))
        elif kind == "MX":
            b.record(owner, 15, rdata=b"\x00\x05" + target + b"\x00", ttl=ttl)
        elif kind == "A6":  # an A with the wrong length is not an address
            b.record(owner, 1, rdata=v6, ttl=ttl)
        else:
            b.record(owner, 16, rdata=b"\x05hello", ttl=ttl)
    for ns in authority:
        b.record(b"", 2, target=ns)
    truth = {
        "id": ident,
        "flags": flags,
        "counts": (len(questions), len(records), len(authority), 0),
        "qname": questions[0][0] if questions else None,
        "qtype": questions[0][1] if questions else None,
        "qclass": questions[0][2] if questions else None,
        "answers": answers,
        "status": "ok",
    }
    return b.bytes(), truth


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=4))
def test_generated_messages(drawn):
    got = check([(m, len(m)) for m, _ in drawn])
    assert got == [truth for _, truth in drawn]


@st.composite
def damaged(draw, message: bytes) -> bytes:
    data = bytearray(message)
    for _ in range(draw(st.integers(0, 3))):
        if len(data) > 12:
            at = draw(st.integers(12, len(data) - 1))
            what = draw(st.sampled_from(["pointer", "byte", "label"]))
            if what == "pointer":  # backward, at itself, forward, past the end
                target = draw(
                    st.sampled_from([0, 12, at, at + 1, len(data), 0x3FFF]) | st.integers(0, len(data))
                )
                data[at : at + 2] = struct.pack("!H", 0xC000 | (target & 0x3FFF))
            elif what == "label":
                data[at] = draw(st.sampled_from([0x40, 0x80, 0x3F, 0xC0]))
            else:
                data[at] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_messages_match_the_reference(data):
    drawn = data.draw(st.lists(messages(), min_size=1, max_size=3))
    cut = [(data.draw(damaged(m)), len(m)) for m, _ in drawn]
    for row in check(cut):
        assert row["status"] in D.STATUS_NAMES.values()


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(min_size=12, max_size=12), st.binary(max_size=120))
def test_random_bodies_match_the_reference(header, body):
    check([(header + body, None)])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), max_size=4), st.data())
def test_tcp_streams_match_the_reference(drawn, data):
    stream = b"".join(struct.pack("!H", len(m)) + m for m, _ in drawn)
    stream = stream[: data.draw(st.integers(0, len(stream)))]
    if data.draw(st.booleans()):
        stream += data.draw(st.binary(max_size=20))
    parts = kernel_split(stream)
    assert parts == R.split_tcp(stream)
    check(parts)


# -- the whole path, from a capture ---------------------------------------------------------

CLIENT4, SERVER4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 53])


def udp_frame(payload: bytes, *, to_server: bool, port: int) -> bytes:
    src, dst = (CLIENT4, SERVER4) if to_server else (SERVER4, CLIENT4)
    sport, dport = (port, 53) if to_server else (53, port)
    return P.ethernet(P.ipv4(P.udp(payload, sport=sport, dport=dport), 17, src=src, dst=dst), 0x0800)


@st.composite
def exchanges(draw):
    """UDP exchanges on a few ports (some answered, some retransmitted, some unsolicited
    responses), and one TCP connection carrying a few queries; with the rows expected."""
    events = []  # (time µs, frame)
    expected = []
    t = 1_000_000
    used = set()
    for _ in range(draw(st.integers(1, 5))):
        port = draw(st.sampled_from([40001, 40002, 40003]))
        ident = draw(st.integers(0, 0xFFFF).filter(lambda i, p=port: (p, i) not in used))
        used.add((port, ident))
        qname = draw(NAMES)
        qtype = draw(st.sampled_from([1, 28, 5, 16]))
        q = R.Builder()
        q.header(ident, 0x0100, 1, 0)
        q.question(qname, qtype)
        shape = draw(st.sampled_from(["answered", "unanswered", "retransmitted", "unsolicited"]))
        query_times = []
        if shape != "unsolicited":
            query_times.append(t)
            events.append((t, udp_frame(q.bytes(), to_server=True, port=port)))
            t += 1000
        if shape == "retransmitted":
            query_times.append(t)
            events.append((t, udp_frame(q.bytes(), to_server=True, port=port)))
            t += 1000
        if shape == "unanswered":
            expected.append((qname.decode(), qtype, None, None, False, True, query_times[0], None))
            continue
        r = R.Builder()
        address = draw(st.binary(min_size=4, max_size=4))
        rcode = draw(st.sampled_from([0, 2, 3]))
        r.header(ident, 0x8180 | rcode, 1, 1)
        r.question(qname, qtype)
        r.record(qname, 1, rdata=address)
        events.append((t, udp_frame(r.bytes(), to_server=False, port=port)))
        answers = [str(ipaddress.IPv4Address(address))]
        start = query_times[0] if query_times else t
        expected.append((qname.decode(), qtype, rcode, answers, True, bool(query_times), start, t))
        if shape == "retransmitted":  # the earliest query is answered; the copy stays unanswered
            expected.append((qname.decode(), qtype, None, None, False, True, query_times[1], None))
        t += 1000
    # one TCP connection: queries pipelined, answers in order, streams cut anywhere
    names = draw(st.lists(NAMES, min_size=1, max_size=3))
    client = server = b""
    for k, name in enumerate(names):
        q = R.Builder()
        q.header(1000 + k, 0x0100, 1, 0)
        q.question(name, 28)
        client += struct.pack("!H", len(q.bytes())) + q.bytes()
        r = R.Builder()
        r.header(1000 + k, 0x8180, 1, 2)
        r.question(name, 28)
        r.record(name, 5, target=b"alias." + name if name else b"alias")
        r.record(b"alias." + name if name else b"alias", 28, rdata=bytes(15) + b"\x01")
        server += struct.pack("!H", len(r.bytes())) + r.bytes()
    segments = [
        (0, o, p) for o, p in httpref.split(client, draw(st.lists(st.integers(1, max(1, len(client))))))
    ]
    segments += [
        (1, o, p) for o, p in httpref.split(server, draw(st.lists(st.integers(1, max(1, len(server))))))
    ]
    tcp_start = t + 10_000
    records = httpref.tcp_capture(
        segments,
        isn=(draw(st.integers(0, 2**32 - 1)), 99),
        ports=(45000, 53),
        client_ip=CLIENT4,
        server_ip=SERVER4,
        start_us=tcp_start,
    )

    def first_time(direction, offset):  # the first segment carrying the byte (3 handshake packets come first)
        for k, (d, o, p) in enumerate(segments):
            if d == direction and o <= offset < o + len(p):
                return tcp_start + 100 * (3 + k)

    qk = rk = 0
    for k, name in enumerate(names):
        alias = (b"alias." + name if name else b"alias").decode()
        expected.append(
            (name.decode(), 28, 0, [alias, "::1"], True, True, first_time(0, qk), first_time(1, rk))
        )
        qk += 2 + struct.unpack_from("!H", client, qk)[0]
        rk += 2 + struct.unpack_from("!H", server, rk)[0]
    udp_records = [(u // 1_000_000, u % 1_000_000, len(f), f) for u, f in events]
    return udp_records + records, expected, len(events) + 2 * len(names)


@settings(max_examples=CAPTURE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exchanges())
def test_transactions_from_captures(tmp_path_factory, drawn):
    records, expected, n_messages = drawn
    path = tmp_path_factory.mktemp("dns") / "exchanges.pcap"
    path.write_bytes(P.pcap_bytes(records, 1))
    frame = dns_transactions(path)
    us = lambda c: pl.col(c).cast(pl.Int64) // 1000
    got = (
        frame.select(
            "dns_qname",
            "dns_qtype",
            "dns_rcode",
            "dns_answers",
            "is_response",
            "query_seen",
            us("ts"),
            us("response_ts").alias("r"),
        )
        .with_columns(pl.when(pl.col("query_seen")).then(pl.col("r")))
        .rows()
    )
    want = [
        (q, t, rc, a, resp, seen, ts, rts if seen else None) for q, t, rc, a, resp, seen, ts, rts in expected
    ]
    assert sorted(got, key=repr) == sorted(want, key=repr)
    answered = frame.filter(pl.col("query_seen") & pl.col("is_response"))
    assert (answered["rtt"] == answered["response_ts"] - answered["ts"]).all()
    assert set(frame["transport"]) == {"udp", "tcp"}
    messages = dns_messages(path)
    assert messages.height == n_messages and (messages["status"] == "ok").all()


# -- the bundled sample ------------------------------------------------------------------

# data/README.md, phases 2, 3 and 6: every name is answered with loopback addresses.
SAMPLE = sorted(
    [
        ("udp", "www.kernelkit.test", "A", "NOERROR", ["127.0.0.1"]),
        ("udp", "cdn.kernelkit.test", "A", "NOERROR", ["www.kernelkit.test", "127.0.0.1"]),
        ("udp", "netflix.com", "A", "NOERROR", ["127.0.0.1"]),
        ("udp", "kernelkit.test", "TXT", "NOERROR", []),
        ("udp", "nope.kernelkit.test", "A", "NXDOMAIN", []),
        ("udp", "1.0.0.127.in-addr.arpa", "PTR", "NOERROR", []),
        ("udp", "outside.example.net", "A", "REFUSED", []),
        ("udp", "www.kernelkit.test", "AAAA", "NOERROR", ["::1"]),
        ("udp", "api.example.org", "AAAA", "NOERROR", ["::1"]),
        ("udp", "kernelkit.test", "MX", "NOERROR", []),
        ("tcp", "api.example.org", "A", "NOERROR", ["127.0.0.1"]),
        ("tcp", "missing.kernelkit.test", "A", "NXDOMAIN", []),
        ("tcp", "cdn.kernelkit.test", "CNAME", "NOERROR", ["www.kernelkit.test"]),
        ("tcp", "netflix.com", "AAAA", "NOERROR", ["::1"]),
        ("tcp", "www.example.com", "A", "NOERROR", ["127.0.0.1"]),
        # phase 6: the lookups before each TLS connection (and curl's before HTTP)
        ("udp", "www.kernelkit.test", "A", "NOERROR", ["127.0.0.1"]),
        ("udp", "www.example.com", "A", "NOERROR", ["127.0.0.1"]),
        ("udp", "api.example.org", "AAAA", "NOERROR", ["::1"]),
        ("udp", "cdn.kernelkit.test", "A", "NOERROR", ["www.kernelkit.test", "127.0.0.1"]),
        ("udp", "netflix.com", "A", "NOERROR", ["127.0.0.1"]),
        ("udp", "video.netflix.com", "AAAA", "NOERROR", ["::1"]),
    ]
)


def test_sample_capture():
    frame = dns_transactions(kernelkit.sample_path())
    got = frame.select("transport", "dns_qname", "dns_qtype_name", "dns_rcode_name", "dns_answers").rows()
    assert sorted(got) == SAMPLE
    assert frame["is_response"].all() and frame["query_seen"].all()
    assert (
        frame.select((pl.col("rtt") > pl.duration(seconds=0)) & (pl.col("rtt") < pl.duration(seconds=1)))
        .to_series()
        .all()
    )
    # the one TCP connection over ::1 with two queries
    tcp = frame.filter(pl.col("transport") == "tcp")
    assert tcp.group_by("flow_id").len()["len"].sort().to_list() == [1, 1, 1, 2]
    messages = dns_messages(kernelkit.sample_path())
    assert messages.height == 2 * len(SAMPLE) and (messages["status"] == "ok").all()


def test_names_that_expand_past_the_first_guess(tmp_path):
    """40 two-byte pointers to a 203-byte name: 8 kB of text from a 0.8 kB message."""
    long = b".".join([b"x" * 50] * 4)
    b = R.Builder()
    b.header(5, 0x8180, 1, 40)
    b.question(long, 5)
    for _ in range(40):
        b.record(long, 5, target=long)
    frame = P.ethernet(P.ipv4(P.udp(b.bytes(), sport=53, dport=5353), 17), 0x0800)
    path = tmp_path / "expanding.pcap"
    path.write_bytes(P.pcap_bytes([(1, 0, len(frame), frame)], 1))
    (row,) = dns_messages(path).rows(named=True)
    assert len(b.bytes()) < 1000 and row["status"] == "ok"
    assert row["dns_qname"] == long.decode() and row["dns_answers"] == [long.decode()] * 40


def test_no_dns_gives_an_empty_frame_of_the_same_schema(tmp_path):
    frame = P.ethernet(P.ipv4(P.udp(b"not dns", sport=5000, dport=5001), 17), 0x0800)
    path = tmp_path / "udp.pcap"
    path.write_bytes(P.pcap_bytes([(1, 0, len(frame), frame)], 1))
    assert dns_transactions(path).schema == dns_transactions(kernelkit.sample_path()).schema
    assert dns_messages(path).schema == dns_messages(kernelkit.sample_path()).schema
    assert dns_transactions(path).height == 0 and dns_messages(path).height == 0
    # on another port, when asked
    assert dns_messages(path, ports=(5001,))["status"].to_list() == ["truncated_header"]


# -- agreement with tshark ----------------------------------------------------------------

DNS_CAPTURES = (
    "zeek__dns-edns-ecs.pcap",
    "tcpdump__dns_tcp.pcap",
    "suricata-verify__dns__dns-tcp-multirequest-buffer__dns-tcp-multirequest-buffer.pcap",
    "zeek__ipv6-fragmented-dns.pcap",
    "suricata-verify__tls__tls-subjectaltname__input.pcap",
    "tcpdump__LINKTYPE_IPV6.pcap",
    "zeek__pcapng-multi-interface.pcapng",
    "zeek__tunnels__gre-sample.pcap",
)
FIELDS = ("dns.id", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.a", "dns.aaaa", "dns.cname")
FRAGMENTED = "tshark reassembled the message from IP fragments; kernelkit reads the first fragment only"


def _int_or_none(value):
    return None if value is None else int(value, 0)


def tshark_dns(path: Path) -> dict[tuple, list[dict]]:
    """tshark's DNS messages per (transport, sender, receiver), in order; answers of the
    answer section only (``dns.a`` and the like also cover the other sections)."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for layers in tshark_json(path, "dns", "frame ip ipv6 udp tcp dns"):
        transport = "tcp" if "tcp" in layers else "udp"
        number = int(layers["frame"]["frame.number"])
        # what kernelkit cannot see gets a key of its own, so that it lines up with nothing
        key = ("encapsulated", number) if encapsulated(layers) else (transport, *endpoints(layers, transport))
        ip = (_as_list(layers.get("ip")) or _as_list(layers.get("ipv6")))[-1]
        fragmented = "ip.fragments" in ip or "ipv6.fragments" in ip
        for pdu in _as_list(layers.get("dns")):
            queries = pdu.get("Queries") or {}
            first = next(iter(queries.values()), None) if isinstance(queries, dict) else None
            first = _as_list(first)[0] if first is not None else None
            message = {
                "dns.id": int(pdu["dns.id"], 16),
                "dns.qry.name": None if first is None else first["dns.qry.name"].replace("<Root>", ""),
                "dns.qry.type": None if first is None else int(first["dns.qry.type"]),
                # tshark shows the rcode of responses only
                "dns.flags.rcode": _int_or_none(_find(pdu, "dns.flags.rcode")),
                "dns.a": [],
                "dns.aaaa": [],
                "dns.cname": [],
                "fragmented": fragmented,
                "frame": number,
            }
            for entries in (pdu.get("Answers") or {}).values():
                for record in _as_list(entries):
                    for f in ("dns.a", "dns.aaaa", "dns.cname"):
                        if f in record:
                            message[f].append(record[f])
            out[key].append(message)
    return out


def kernelkit_dns(path: Path) -> dict[tuple, list[dict]]:
    from kernelkit.sessions.source import session_packets

    packets = session_packets(path)
    ends = flow_endpoints(packets)
    frame = dns_messages(packets).filter(pl.col("dns_id").is_not_null())
    out: dict[tuple, list[dict]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        a, b = ends[row["flow_id"]]
        sender, receiver = (a, b) if row["direction"] == 0 else (b, a)
        out[(row["transport"], sender, receiver)].append(
            {
                "dns.id": row["dns_id"],
                "dns.qry.name": row["dns_qname"],
                "dns.qry.type": row["dns_qtype"],
                "dns.flags.rcode": row["dns_rcode"] if row["is_response"] else None,
                "dns.a": [
                    v for v, t in zip(row["dns_answers"], row["dns_answer_types"], strict=True) if t == 1
                ],
                "dns.aaaa": [
                    v for v, t in zip(row["dns_answers"], row["dns_answer_types"], strict=True) if t == 28
                ],
                "dns.cname": [
                    v for v, t in zip(row["dns_answers"], row["dns_answer_types"], strict=True) if t == 5
                ],
                "status": row["status"],
            }
        )
    return out


def compare_dns(path: Path) -> Agreement:
    """Per field, values compared and agreeing; disagreements explained by IP fragments
    and encapsulation are counted apart."""
    ours, theirs = kernelkit_dns(path), tshark_dns(path)
    result = Agreement(path.name)
    for key in set(ours) | set(theirs):
        a, b = theirs.get(key, []), ours.get(key, [])
        for k in range(max(len(a), len(b))):
            for f in FIELDS:
                x = a[k][f] if k < len(a) else None
                y = b[k][f] if k < len(b) else None
                if x in (None, []) and y in (None, []):
                    continue
                result.compared[f] += 1
                if x == y:
                    result.agreed[f] += 1
                elif key[0] == "encapsulated":
                    result.explained[(f, ENCAPSULATED)] += 1
                elif k < len(a) and a[k]["fragmented"]:
                    result.explained[(f, FRAGMENTED)] += 1
                else:
                    result.disagreements.append((f, x, y))
    return result


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@pytest.mark.parametrize("name", ["sample.pcapng", *DNS_CAPTURES])
def test_agrees_with_tshark(name):
    result = compare_dns(_capture(name))
    assert not result.disagreements, result.disagreements[:5]
    assert result.agreed["dns.id"] > 0 or name == "zeek__tunnels__gre-sample.pcap"


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
def test_fragmented_responses_are_read_from_their_first_fragment():
    path = _capture("zeek__ipv6-fragmented-dns.pcap")
    result = compare_dns(path)
    messages = dns_messages(path)
    # the 3.2 kB TXT response: header and question read, its answer record cut by the fragment
    big = messages.filter(
        pl.col("is_response") & (pl.col("dns_qname") == "txtpadding_3230.n1.netalyzr.icsi.berkeley.edu")
    )
    assert big["status"].to_list() == ["truncated"] and big["length"].item() > 3000
    assert result.agreed["dns.qry.name"] == result.compared["dns.qry.name"] == 5


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@pytest.mark.parametrize(
    "name",
    [
        "sample.pcapng",
        "suricata-verify__tls__tls-subjectaltname__input.pcap",
        "zeek__ipv6-fragmented-dns.pcap",
        "zeek__dns-edns-ecs.pcap",
    ],
)
def test_pairs_agree_with_tshark(name):
    """Query-response pairs over UDP as tshark makes them (``dns.response_to``), but for two
    documented choices: a response answers the earliest copy of a query sent twice (as
    Zeek does; tshark takes the latest), and a response in IP fragments is timed by its
    first fragment (tshark reassembles it at the last)."""
    path = _capture(name)
    done = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=False,
    )
    time_of = {int(n): t for n, t in (line.split("\t") for line in done.stdout.splitlines() if line)}
    frames = tshark_json(path, "dns && udp", "frame ip ipv6 dns")
    question = {}  # frame time -> (id, qname) of its message
    theirs = {}  # response time (its first fragment's) -> query time
    for f in frames:
        number = int(f["frame"]["frame.number"])
        question[time_of[number]] = (_find(f["dns"], "dns.id"), _find(f["dns"], "dns.qry.name"))
        to = _find(f["dns"], "dns.response_to")
        if to is not None:
            ip = (_as_list(f.get("ip")) or _as_list(f.get("ipv6")))[-1]
            pieces = _as_list(_find(ip, "ip.fragment") or _find(ip, "ipv6.fragment"))
            first = min((int(p) for p in pieces), default=number)
            theirs[time_of[first]] = time_of[int(to)]
    ours = dns_transactions(path).filter(
        (pl.col("transport") == "udp") & pl.col("query_seen") & pl.col("is_response")
    )
    stamp = lambda c: (
        pl.col(c)
        .dt.epoch("ns")
        .map_elements(lambda ns: f"{ns // 10**9}.{ns % 10**9:09d}", return_dtype=pl.String)
    )
    ours = {r: q for q, r in ours.select(stamp("ts"), stamp("response_ts")).rows()}
    assert set(ours) == set(theirs) and theirs
    for response, query in ours.items():
        if query != theirs[response]:  # an earlier copy of the same query
            assert query < theirs[response] and question[query] == question[theirs[response]]


def main() -> None:
    """Print the per-field agreement with tshark over the DNS captures at hand."""
    names = ["sample.pcapng", *[n for n in DNS_CAPTURES if (SHARED / n).is_file()]]
    print_agreement(names, compare_dns, FIELDS, {FRAGMENTED: "frag.", ENCAPSULATED: "enc."})
    print(f"\n(frag.): {FRAGMENTED}. (enc.): values tshark found {ENCAPSULATED}.")


if __name__ == "__main__":
    main()
