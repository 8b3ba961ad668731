"""The filter language (kernelkit.filter): parser, checks, and what each filter selects.

* Parser: random trees -> canonical text -> parse gives the same tree (hypothesis);
  precedence (not > and > or) and left associativity on random operands; every
  spelling (``&&``/``and``, ``=``/``==``/``eq``, ``~``/``matches``, aliases) parses
  to the same tree.
* Errors: the caret sits under the column of the problem (syntax, unknown field,
  type), and unknown fields get close names as suggestions.
* Evaluation: packets, flows and session frames built by hand in Polars; what a
  filter selects is computed independently, row by row in plain Python
  (``REFERENCE``: each field's occurrences from the row's values, addresses with
  ``ipaddress``, regexes with ``re``), on every operator and value kind. Random
  filters on random packets check the packet level; random five-tuple filters on
  flows check that a flow matches exactly when one of its packets does (the flow
  table alone decides them); hand-made sessions check how conditions on other
  tables are carried over by connection.
"""

from __future__ import annotations

import ipaddress
import os
import re

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelkit.filter
from kernelkit.filter import FIELDS, Filter, FilterError
from kernelkit.filter.compile import (
    Addr,
    And,
    Bare,
    Bool,
    Compare,
    Float,
    Int,
    Mac,
    Not,
    Or,
    Range,
    Set,
    Str,
    parse_tree,
    unparse,
)
from kernelkit.filter.fields import ALIASES, FLOW_VIEWS, TYPES
from kernelkit.schema import PACKET_SCHEMA

EXAMPLES = int(os.environ.get("KERNELKIT_HYPOTHESIS_EXAMPLES", "150"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- random trees --------------------------------------------------------------------------

# A field's operators, as the checker accepts them.
OPS = {
    "int": ("==", "!=", "<", "<=", ">", ">=", "in", "&"),
    "float": ("==", "!=", "<", "<=", ">", ">=", "in"),
    "bool": ("==", "!="),
    "address": ("==", "!=", "<", "<=", ">", ">=", "in"),
    "mac": ("==", "!=", "in"),
    "string": ("==", "!=", "in", "matches", "contains"),
}

def _regex_ok(pattern: str) -> bool:
    try:
        pl.select(pl.lit("").str.contains(pattern))
        return True
    except pl.exceptions.ComputeError:  # not a regex polars accepts
        return False


ints = st.integers(0, 2**40).map(Int)
floats = st.floats(0, 1e300, allow_nan=False, allow_infinity=False).map(Float)
texts = st.text(max_size=12).map(Str)
regexes = st.text("abcxyz.*^$?+|()[]019", max_size=8).filter(_regex_ok).map(Str)


def networks(version: int | None, full: bool = False):
    v4 = st.builds(lambda a, p: Addr(ipaddress.IPv4Network((a, p), strict=False)),
                   st.integers(0, 2**32 - 1), st.just(32) if full else st.integers(0, 32))
    v6 = st.builds(lambda a, p: Addr(ipaddress.IPv6Network((a, p), strict=False)),
                   st.integers(0, 2**128 - 1), st.just(128) if full else st.integers(0, 128))
    return {4: v4, 6: v6}.get(version, st.one_of(v4, v6))


def ranges(kind: st.SearchStrategy):
    return st.tuples(kind, kind).map(lambda ab: Range(*sorted(ab, key=lambda v: v.value)))


@st.composite
def comparisons(draw, field=None):
    f = draw(st.sampled_from([f for f in FIELDS.values() if f.type != "protocol"])) if field is None else field
    op = draw(st.sampled_from(OPS[f.type]))
    scalar = {
        "int": ints,
        "float": st.one_of(ints, floats),
        "bool": st.booleans().map(Bool),
        "address": networks(f.version, full=op in ("<", "<=", ">", ">=")),
        "mac": st.integers(0, 2**48 - 1).map(Mac),
        "string": regexes if op == "matches" else texts,
    }[f.type]
    if op == "in":
        member = scalar
        if f.type == "int":
            member = st.one_of(ints, ranges(ints))
        elif f.type == "float":
            member = st.one_of(scalar, ranges(st.one_of(ints, floats)))
        value = draw(st.one_of(scalar, st.lists(member, min_size=1, max_size=4).map(lambda m: Set(tuple(m))),
                               *([ranges(ints)] if f.type == "int" else [])))
    else:
        value = draw(scalar)
    return Compare(f.name, op, value)


bares = st.sampled_from(sorted(FIELDS)).map(Bare)
trees = st.recursive(
    st.one_of(comparisons(), bares),
    lambda inner: st.one_of(inner.map(Not), st.builds(And, inner, inner), st.builds(Or, inner, inner)),
    max_leaves=8,
)


@PROPERTY
@given(trees)
def test_canonical_text_parses_back_to_the_same_tree(tree):
    text = unparse(tree)
    assert parse_tree(text) == tree, text
    # and the canonical text of the parse is the same text
    assert str(kernelkit.filter(text)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Str('say "hi" \\ bye'), r'"say \"hi\" \\ bye"'),
        (Str("tab\there\nnewline"), '"tab\there\nnewline"'),
        (Float(1e-05), "1e-05"),
        (Addr(ipaddress.ip_network("::ffff:1.2.3.4/128")), "::ffff:102:304"),
        (Mac(0x001122AABBCC), "00:11:22:aa:bb:cc"),
    ],
)
def test_awkward_values_round_trip(value, text):
    field = {Str: "tls.sni", Float: "conn.duration", Addr: "ip.src", Mac: "eth.src"}[type(value)]
    tree = Compare(field, "==", value)
    assert unparse(tree) == f"{field} == {text}"
    assert parse_tree(unparse(tree)) == tree


# -- precedence ------------------------------------------------------------------------------

operands = st.one_of(comparisons(), bares).map(lambda t: (t, unparse(t)))


@PROPERTY
@given(operands, operands, operands)
def test_not_binds_tighter_than_and_tighter_than_or(a, b, c):
    (ta, a), (tb, b), (tc, c) = a, b, c
    assert parse_tree(f"{a} or {b} and {c}") == Or(ta, And(tb, tc))
    assert parse_tree(f"{a} and {b} or {c}") == Or(And(ta, tb), tc)
    assert parse_tree(f"not {a} and {b}") == And(Not(ta), tb)
    assert parse_tree(f"not {a} or {b}") == Or(Not(ta), tb)
    assert parse_tree(f"{a} or not {b} and {c}") == Or(ta, And(Not(tb), tc))
    assert parse_tree(f"not ({a} or {b})") == Not(Or(ta, tb))
    assert parse_tree(f"not not {a}") == Not(Not(ta))
    # chains associate to the left
    assert parse_tree(f"{a} and {b} and {c}") == And(And(ta, tb), tc)
    assert parse_tree(f"{a} or {b} or {c}") == Or(Or(ta, tb), tc)
    # the symbols are the words
    assert parse_tree(f"!{a} && {b} || {c}") == parse_tree(f"not {a} and {b} or {c}")
    assert parse_tree(f"({a}) AND ({b}) OR NOT ({c})") == Or(And(ta, tb), Not(tc))


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("tcp.port = 80", "tcp.port == 80"),
        ("tcp.port eq 80", "tcp.port == 80"),
        ("tcp.port == 0x50", "tcp.port == 80"),
        ("tcp.port ne 80", "tcp.port != 80"),
        ("tcp.port ge 80 && tcp.port lt 90", "(tcp.port >= 80 and tcp.port < 90)"),
        ("tls.sni ~ 'x'", 'tls.sni matches "x"'),
        ("tls.handshake.extensions_server_name matches \"x\"", 'tls.sni matches "x"'),
        ("http.request.uri contains '/a'", 'http.uri contains "/a"'),
        ("dns.qry.name == 'a.b'", 'dns.qname == "a.b"'),
        ("tcp.syn", "tcp.flags.syn"),
        ("tcp.flags.reset == 1", "tcp.flags.rst == true"),
        ("ipv4.src_addr == 10.0.0.1", "ipv4.src == 10.0.0.1"),
        ("ip.addr == 10.1.2.3/8", "ip.addr == 10.0.0.0/8"),  # host bits dropped, as Wireshark does
        ("tcp.port not in {22, 23}", "(not tcp.port in {22, 23})"),
        ("tcp.port in {80 443 1000..2000}", "tcp.port in {80, 443, 1000..2000}"),
        ("dns.rcode == 'NXDOMAIN'", "dns.rcode == 3"),
        ("tls.version == 0x0304", 'tls.version == "TLS 1.3"'),
        ("conn.duration > 1.5", "conn.duration > 1.5"),
        ("http.uri ~ '\\d+'", 'http.uri matches "\\\\d+"'),  # other backslashes stay: regexes keep \\d
    ],
)
def test_spellings(spelling, canonical):
    assert str(kernelkit.filter(spelling)) == canonical
    assert kernelkit.filter(spelling) == kernelkit.filter(canonical)


def test_every_field_and_alias_parses_to_itself():
    for name, f in FIELDS.items():
        assert parse_tree(name) == Bare(name)
        assert f.doc and f.type in TYPES
    for alias, name in ALIASES.items():
        assert parse_tree(alias) == Bare(name)


def test_field_table_lists_every_field():
    table = kernelkit.filter.fields()
    assert table["name"].to_list() == list(FIELDS)
    assert set(table["level"]) == {"packet", "flow", "session"}
    assert table.filter(name="ip.addr")["reads"].item() == "src_ip | dst_ip"
    assert table.filter(name="tcp.flags.syn")["reads"].item() == "tcp_flags & 0x002"
    assert "tls.handshake.extensions_server_name" in table.filter(name="tls.sni")["aliases"].item()


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "reason"),
    [
        ("tcp.prot == 80", 0, 8, "unknown field 'tcp.prot' (did you mean tcp.port"),
        ("tcp.port == 80 and ipp.src == 1.2.3.4", 19, 26, "unknown field 'ipp.src' (did you mean ip.src"),
        ("tls.sni > 5", 8, 9, "tls.sni is a string field: > does not apply"),
        ("tcp.port == 'http'", 12, 18, "tcp.port is an integer field"),
        ("tcp.port == 80 and", 18, 19, "the filter ends early; expected a field, 'not' or '('"),
        ("tcp.port == 80 )", 15, 16, "found ')'"),
        ("http.method == GET", 15, 18, "strings need quotes"),
        ("tcp.port === 80", 11, 12, "expected a value, found '='"),
        ("ip.src == 10.0.0.300", 10, 20, "'10.0.0.300' is not an IPv4 address"),
        ("ipv4.addr == 2001:db8::1", 13, 24, "ipv4.addr holds IPv4 addresses"),
        ("tcp.port in 5000..1024", 12, 22, "empty range"),
        ("tcp.port == {80, 443}", 12, 21, "a set needs in"),
        ("tcp.port in {80, 'x'}", 17, 20, "compare it with an integer"),
        ("tls.sni matches '('", 16, 19, "invalid regular expression: unclosed group"),
        ("tcp == 1", 4, 6, "tcp is a protocol"),
        ("ip.src < 10.0.0.0/8", 9, 19, "compares with one address, not a prefix"),
        ("tls.sni == 'unclosed", 11, 12, "never closed"),
        ("tcp.flags.syn == 2", 17, 18, "tcp.flags.syn is a boolean field"),
        ("   ", 0, 3, "empty filter"),
        ("not and tcp", 4, 7, "expected a field, found 'and'"),
        ("tcp.port == 80 &&\n  ip.ttl > x", 29, 30, "expected a value"),
    ],
)
def test_errors_point_at_the_problem(text, start, end, reason):
    with pytest.raises(FilterError) as caught:
        kernelkit.filter(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.start, error.end) == (start, end), str(error)
    assert reason in error.reason
    # the caret line: the culprit's line, then ^~~ under the culprit's columns
    *_, line, marks = str(error).split("\n")
    line_start = text.rfind("\n", 0, start) + 1
    assert line == "    " + text[line_start:].split("\n")[0]
    assert marks == "    " + " " * (start - line_start) + "^" + "~" * (end - start - 1)
    assert error.column == start - line_start + 1


def test_unknown_field_without_close_names_points_to_the_list():
    with pytest.raises(FilterError, match=r"kernelkit.filter.fields\(\) lists them"):
        kernelkit.filter("zzzzzz")


def test_a_non_string_filter_is_a_type_error():
    with pytest.raises(TypeError):
        kernelkit.filter(80)


# -- packets: a plain-Python reference -----------------------------------------------------------

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


def _ip16(text: str) -> bytes:
    address = ipaddress.ip_address(text)
    return (b"\x00" * 10 + b"\xff\xff" + address.packed) if address.version == 4 else address.packed


def packet(kind: str, src=None, dst=None, sport=None, dport=None, flags=None, ttl=64, wirelen=60, vlan=None,
           eth=(0x001122334455, 0xFFFFFFFFFFFF), payload=0, icmp=None) -> dict:
    """One row of the packet table, as the parser would fill it for a packet of ``kind``."""
    row = {c.name: None for c in PACKET_SCHEMA}
    row.update(caplen=wirelen, wirelen=wirelen, iface=0, status=0, vlan_id=vlan)
    if eth is not None:
        row.update(eth_src=eth[0], eth_dst=eth[1])
    if kind == "arp":
        row["ethertype"] = 0x0806
        return row
    version = ipaddress.ip_address(src).version
    row.update(ethertype=0x0800 if version == 4 else 0x86DD, ip_version=version, src_ip=_ip16(src),
               dst_ip=_ip16(dst), ip_ttl=ttl, ip_len=wirelen - 14, frag_offset=0, more_fragments=False,
               l3_offset=14)
    proto = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "icmpv6": ICMPV6, "frag": TCP}[kind]
    row["ip_proto"] = proto
    if kind == "frag":  # a later fragment: no transport header
        row.update(frag_offset=1480)
        return row
    row["l4_offset"] = 34
    if kind in ("tcp", "udp"):
        row.update(sport=sport, dport=dport, payload_len=payload, payload_offset=54 if kind == "tcp" else 42)
    if kind == "tcp":
        row.update(tcp_flags=flags)
    if kind in ("icmp", "icmpv6"):
        row.update(icmp_type=icmp, icmp_code=0)
    return row


def packet_frame(rows: list[dict], **extra) -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_pylist([{k: v for k, v in r.items() if k in PACKET_SCHEMA.names}
                                                for r in rows], schema=PACKET_SCHEMA))
    return frame.with_columns(**{k: pl.Series(v) for k, v in extra.items()})


def _address(raw: bytes) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(raw)  # IPv4 stays ::ffff:a.b.c.d: the kit's one address space


def _ports(row, proto):
    return [row["sport"], row["dport"]] if row["ip_proto"] == proto and row["sport"] is not None else []


def _one(value):
    return [] if value is None else [value]


def _flag(bit):
    return lambda r: [] if r["tcp_flags"] is None else [bool(r["tcp_flags"] & bit)]


def _version(v, values):
    return lambda r: values(r) if r["ip_version"] == v else []


def _has_l4(row, proto):
    return row["ip_proto"] == proto and row["l4_offset"] is not None


# field -> the values it has in a row (an empty list: the row lacks it); protocols -> present or not
REFERENCE = {
    "ip.src": lambda r: [_address(r["src_ip"])] if r["ip_version"] else [],
    "ip.dst": lambda r: [_address(r["dst_ip"])] if r["ip_version"] else [],
    "ip.addr": lambda r: [_address(r["src_ip"]), _address(r["dst_ip"])] if r["ip_version"] else [],
    "ipv4.addr": _version(4, lambda r: [_address(r["src_ip"]), _address(r["dst_ip"])]),
    "ipv6.addr": _version(6, lambda r: [_address(r["src_ip"]), _address(r["dst_ip"])]),
    "ipv6.src": _version(6, lambda r: [_address(r["src_ip"])]),
    "ip.proto": lambda r: _one(r["ip_proto"]),
    "ip.ttl": lambda r: _one(r["ip_ttl"]),
    "tcp.port": lambda r: _ports(r, TCP),
    "tcp.srcport": lambda r: _ports(r, TCP)[:1],
    "tcp.dstport": lambda r: _ports(r, TCP)[1:],
    "udp.port": lambda r: _ports(r, UDP),
    "tcp.len": lambda r: _one(r["payload_len"]) if r["ip_proto"] == TCP else [],
    "tcp.flags": lambda r: _one(r["tcp_flags"]),
    "tcp.flags.syn": _flag(0x02),
    "tcp.flags.ack": _flag(0x10),
    "tcp.flags.ns": _flag(0x100),
    "frame.len": lambda r: [r["wirelen"]],
    "vlan.id": lambda r: _one(r["vlan_id"]),
    "icmp.type": lambda r: _one(r["icmp_type"]) if r["ip_proto"] == ICMP else [],
    "icmpv6.type": lambda r: _one(r["icmp_type"]) if r["ip_proto"] == ICMPV6 else [],
    "eth.src": lambda r: _one(r["eth_src"]),
    "eth.addr": lambda r: [] if r["eth_src"] is None else [r["eth_src"], r["eth_dst"]],
    "tcp": lambda r: _has_l4(r, TCP),
    "udp": lambda r: _has_l4(r, UDP),
    "icmp": lambda r: _has_l4(r, ICMP),
    "icmpv6": lambda r: _has_l4(r, ICMPV6),
    "ip": lambda r: r["ip_version"] is not None,
    "ipv4": lambda r: r["ip_version"] == 4,
    "ipv6": lambda r: r["ip_version"] == 6,
    "vlan": lambda r: r["vlan_id"] is not None,
}


def _net(value: Addr) -> ipaddress.IPv6Network:
    net = value.network
    if net.version == 4:
        return ipaddress.IPv6Network((int(ipaddress.IPv6Address("::ffff:0:0")) + int(net.network_address),
                                      96 + net.prefixlen))
    return net


def _holds(op: str, x, value) -> bool:
    """One occurrence against the value, from the operators' definitions."""
    if isinstance(value, Set):
        return any(_holds("in", x, m) for m in value.members)
    if isinstance(value, Range):
        return value.lo.value <= x <= value.hi.value
    if isinstance(value, Addr):
        net = _net(value)
        if op in ("==", "in"):
            return x in net
        return {"<": int(x) < int(net.network_address), "<=": int(x) <= int(net.network_address),
                ">": int(x) > int(net.network_address), ">=": int(x) >= int(net.network_address)}[op]
    v = value.value
    if op in ("==", "in"):
        return x == v
    if op == "matches":
        return re.search(v, x) is not None
    if op == "contains":
        return v in x
    if op == "&":
        return x & v != 0
    return {"<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]


def reference(tree, row: dict, values=REFERENCE) -> bool:
    """Whether ``row`` matches ``tree``, straight from the language's definitions."""
    if isinstance(tree, Not):
        return not reference(tree.child, row, values)
    if isinstance(tree, And):
        return reference(tree.left, row, values) and reference(tree.right, row, values)
    if isinstance(tree, Or):
        return reference(tree.left, row, values) or reference(tree.right, row, values)
    found = values[tree.field](row)
    if isinstance(found, bool):  # a protocol
        return found
    if isinstance(tree, Bare):  # a flag is set; another field exists
        return any(found) if FIELDS[tree.field].type == "bool" else bool(found)
    if tree.op == "!=":  # every occurrence differs, and there is one
        return bool(found) and not any(_holds("==", x, tree.value) for x in found)
    return any(_holds(tree.op, x, tree.value) for x in found)


V4 = ["10.0.0.1", "10.1.2.3", "192.168.1.10", "8.8.8.8"]
V6 = ["2001:db8::1", "2001:db8:1::2", "fe80::1", "::1"]
PORTS = [53, 80, 443, 1024, 5000, 65535]


@st.composite
def packets(draw):
    kind = draw(st.sampled_from(["tcp", "tcp", "udp", "icmp", "icmpv6", "frag", "arp"]))
    v6 = kind == "icmpv6" or (kind in ("tcp", "udp", "frag") and draw(st.booleans()))
    pool = V6 if v6 else V4
    return packet(
        kind, src=draw(st.sampled_from(pool)), dst=draw(st.sampled_from(pool)), sport=draw(st.sampled_from(PORTS)),
        dport=draw(st.sampled_from(PORTS)), flags=draw(st.integers(0, 0x1FF)),
        ttl=draw(st.sampled_from([1, 63, 64, 255])), wirelen=draw(st.sampled_from([60, 1000, 1514])),
        vlan=draw(st.sampled_from([None, None, 10, 4094])), payload=draw(st.sampled_from([0, 100, 1400])),
        eth=draw(st.sampled_from([(0x001122334455, 0xFFFFFFFFFFFF), (0x0A0B0C0D0E0F, 0x001122334455), None])),
        icmp=draw(st.sampled_from([0, 8])),
    )


def _values(field):
    """Values that hit the packets' values often."""
    f = FIELDS[field]
    addresses = st.sampled_from(V4 + V6 + ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "::/0",
                                           "::ffff:0:0/96", "0.0.0.0/0"]).map(
        lambda t: Addr(ipaddress.ip_network(t, strict=False)))
    if f.version:
        addresses = addresses.filter(lambda a: a.network.version == f.version)
    numbers = st.sampled_from([0, 1, 6, 17, 53, 63, 64, 80, 100, 443, 1000, 1024, 5000, 0x12, 0x1FF]).map(Int)
    return {"address": addresses, "int": numbers, "bool": st.booleans().map(Bool),
            "mac": st.sampled_from([0x001122334455, 0xFFFFFFFFFFFF, 0]).map(Mac)}[f.type]


@st.composite
def packet_comparisons(draw, fields):
    field = draw(st.sampled_from(fields))
    f = FIELDS[field]
    if f.type in ("protocol",) or draw(st.integers(0, 5)) == 0:
        return Bare(field)
    op = draw(st.sampled_from(OPS[f.type]))
    if f.type == "address" and op in ("<", "<=", ">", ">="):
        value = draw(st.sampled_from(V4 + V6).map(lambda t: Addr(ipaddress.ip_network(t))).filter(
            lambda a: f.version in (None, a.network.version)))
    elif op == "in":
        scalar = _values(field)
        member = st.one_of(scalar, ranges(_values(field))) if f.type == "int" else scalar
        value = draw(st.one_of(scalar, st.lists(member, min_size=1, max_size=3).map(lambda m: Set(tuple(m)))))
    elif op == "&":
        value = draw(_values(field).filter(lambda v: isinstance(v, Int)))
    else:
        value = draw(_values(field))
    return Compare(field, op, value)


def packet_trees(fields):
    return st.recursive(
        packet_comparisons(fields),
        lambda inner: st.one_of(inner.map(Not), st.builds(And, inner, inner), st.builds(Or, inner, inner)),
        max_leaves=6,
    )


PACKET_FIELDS = sorted(REFERENCE)


@PROPERTY
@given(st.lists(packets(), min_size=1, max_size=30), packet_trees(PACKET_FIELDS))
def test_random_filters_on_random_packets_match_the_reference(rows, tree):
    frame = packet_frame(rows).with_row_index("row")
    kept = Filter(unparse(tree), tree).packets(frame)["row"].to_list()
    expected = [i for i, row in enumerate(rows) if reference(tree, row)]
    assert kept == expected, unparse(tree)


# Hand-made packets for one test per operator and value kind (rows are indices).
HAND = [
    packet("tcp", "10.0.0.1", "192.168.1.10", 40000, 443, flags=0x002, ttl=64, wirelen=74),  # 0 SYN
    packet("tcp", "192.168.1.10", "10.0.0.1", 443, 40000, flags=0x012, ttl=57, wirelen=74),  # 1 SYN-ACK
    packet("tcp", "10.0.0.1", "192.168.1.10", 40000, 443, flags=0x018, ttl=64, wirelen=1514, payload=1460),  # 2
    packet("udp", "2001:db8::1", "2001:db8:1::53", 5353, 53, ttl=255, wirelen=90, payload=28),  # 3
    packet("icmp", "8.8.8.8", "10.0.0.1", icmp=0, ttl=119, wirelen=98),  # 4
    packet("arp"),  # 5
    packet("frag", "10.0.0.1", "192.168.1.10", wirelen=600),  # 6: later fragment, no ports
    packet("icmpv6", "fe80::1", "ff02::1", icmp=135, ttl=255, vlan=10, eth=None, wirelen=86),  # 7
    packet("tcp", "10.0.0.2", "10.0.0.1", 22, 80, flags=0x104, ttl=1, wirelen=54),  # 8 RST + NS
]


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        # integers: every comparison, hex, ranges, sets with ranges, the mask
        ("tcp.port == 443", [0, 1, 2]),
        ("tcp.port != 443", [8]),  # every side differs: not UDP, not the fragment
        ("not tcp.port == 443", [3, 4, 5, 6, 7, 8]),  # Wireshark's !: whatever lacks the field
        ("tcp.srcport < 443", [8]),
        ("tcp.dstport <= 443", [0, 2, 8]),
        ("ip.ttl > 64", [3, 4, 7]),
        ("ip.ttl >= 0x40", [0, 2, 3, 4, 6, 7]),
        ("udp.port in 50..60", [3]),
        ("tcp.port in {22, 1000..40000}", [0, 1, 2, 8]),
        ("tcp.flags & 0x104", [8]),
        ("tcp.flags == 0x12", [1]),
        ("frame.len in {54, 1514}", [2, 8]),
        ("tcp.len > 0", [2]),
        ("vlan.id == 10", [7]),
        ("icmpv6.type == 135 or icmp.type == 0", [4, 7]),
        # booleans: bare, == and != with true/false/1/0
        ("tcp.flags.syn", [0, 1]),
        ("tcp.flags.syn == false", [2, 8]),
        ("tcp.flags.ack != 1", [0, 8]),
        ("tcp.flags.ns", [8]),
        ("not tcp.flags.syn", [2, 3, 4, 5, 6, 7, 8]),
        # addresses: IPv4, IPv6, prefixes, sets, versions, ordering
        ("ip.src == 10.0.0.1", [0, 2, 6]),
        ("ip.addr == 10.0.0.0/8", [0, 1, 2, 4, 6, 8]),
        ("ip.addr != 10.0.0.0/8", [3, 7]),
        ("ip.dst in {192.168.0.0/16, ff00::/8}", [0, 2, 6, 7]),
        ("ipv6.addr == 2001:db8::/32", [3]),
        ("ip.addr == ::ffff:0:0/96", [0, 1, 2, 4, 6, 8]),  # IPv4 lives at ::ffff:0:0/96
        ("ipv6.addr == ::/0", [3, 7]),
        ("ip.src > 10.0.0.1 and ipv4", [1, 8]),
        ("ip.src <= 10.0.0.1", [0, 2, 4, 6]),  # 8.8.8.8 too; IPv6 sorts above ::ffff:0:0/96
        ("eth.addr == ff:ff:ff:ff:ff:ff", [0, 1, 2, 3, 4, 5, 6, 8]),
        ("eth.src in {00:11:22:33:44:55}", [0, 1, 2, 3, 4, 5, 6, 8]),
        # protocols and logic
        ("tcp", [0, 1, 2, 8]),  # the later fragment has no TCP header
        ("ip.proto == 6", [0, 1, 2, 6, 8]),
        ("not ip", [5]),
        ("ipv4 and not (tcp or udp)", [4, 6]),
        ("udp or icmp and ip.ttl > 100", [3, 4]),
        ("(udp or icmp) and ip.ttl < 200", [4]),
        ("tcp.port", [0, 1, 2, 8]),  # a bare field: the packet has it
    ],
)
def test_operators_on_hand_made_packets(text, rows):
    frame = packet_frame(HAND).with_row_index("row")
    f = kernelkit.filter(text)
    assert f.packets(frame)["row"].to_list() == rows
    assert frame.filter(f.expr("packets"))["row"].to_list() == rows  # the expression alone
    assert frame.lazy().filter(f.expr()).collect()["row"].to_list() == rows  # in a lazy query
    # the reference agrees with the hand-written expectation
    assert [i for i, r in enumerate(HAND) if reference(f.tree, r)] == rows


# -- flows ----------------------------------------------------------------------------------------


def flows_of(rows: list[dict]) -> tuple[pl.DataFrame, list[int | None]]:
    """A flow table for packets, by hand: one flow per 5-tuple (either direction), the originator the
    sender of its first packet; and each packet's flow_id (None: no flow, like ARP and later fragments)."""
    flows, ids = {}, []
    for row in rows:
        if row["ip_version"] is None or row["l4_offset"] is None:
            ids.append(None)
            continue
        a, b = (row["src_ip"], row["sport"]), (row["dst_ip"], row["dport"])
        key = (row["ip_proto"], *sorted([a, b], key=repr))
        flow = flows.setdefault(key, {"flow_id": len(flows), "orig": a, "resp": b, "ip_proto": row["ip_proto"],
                                      "ip_version": row["ip_version"], "orig_pkts": 0, "resp_pkts": 0})
        flow["orig_pkts" if a == flow["orig"] else "resp_pkts"] += 1
        ids.append(flow["flow_id"])
    table = pl.DataFrame(
        [{"flow_id": f["flow_id"], "orig_ip": f["orig"][0], "orig_port": f["orig"][1], "resp_ip": f["resp"][0],
          "resp_port": f["resp"][1], "ip_proto": f["ip_proto"], "ip_version": f["ip_version"],
          "orig_pkts": f["orig_pkts"], "resp_pkts": f["resp_pkts"]} for f in flows.values()],
        schema={"flow_id": pl.Int64, "orig_ip": pl.Binary, "orig_port": pl.UInt16, "resp_ip": pl.Binary,
                "resp_port": pl.UInt16, "ip_proto": pl.UInt8, "ip_version": pl.UInt8, "orig_pkts": pl.Int64,
                "resp_pkts": pl.Int64},
    )
    return table, ids


def flow_reference(tree, rows, ids, flow_id) -> bool:
    """A flow matches a packet condition when one of its packets does; a leading not negates that."""
    if isinstance(tree, Not):
        return not flow_reference(tree.child, rows, ids, flow_id)
    return any(reference(tree, row) for row, i in zip(rows, ids) if i == flow_id)


# the packet fields that the flow table alone decides
FIVE_TUPLE = sorted(n for n in REFERENCE if FIELDS[n].columns <= set(FLOW_VIEWS[0][1]))


def test_five_tuple_fields_are_those_expected():
    assert FIVE_TUPLE == ["icmp", "icmpv6", "ip", "ip.addr", "ip.dst", "ip.proto", "ip.src", "ipv4",
                          "ipv4.addr", "ipv6", "ipv6.addr", "ipv6.src", "tcp", "tcp.dstport", "tcp.port", "tcp.srcport",
                          "udp", "udp.port"]


@PROPERTY
@given(st.lists(packets(), min_size=1, max_size=30), packet_trees(FIVE_TUPLE))
def test_five_tuple_filters_on_flows_match_some_packet_of_the_flow(rows, tree):
    flows, ids = flows_of(rows)
    f = Filter(unparse(tree), tree)
    expected = [i for i in flows["flow_id"] if flow_reference(tree, rows, ids, i)]
    # decided on the flow table alone: each flow seen as a packet of each direction it has packets in
    assert f.flows(flows)["flow_id"].to_list() == expected, unparse(tree)


@PROPERTY
@given(st.lists(packets(), min_size=1, max_size=30), packet_trees(PACKET_FIELDS))
def test_packet_filters_on_flows_match_some_packet_of_the_flow(rows, tree):
    flows, ids = flows_of(rows)
    frame = packet_frame(rows, flow_id=pl.Series(ids, dtype=pl.Int64))
    f = Filter(unparse(tree), tree)
    expected = [i for i in flows["flow_id"] if flow_reference(tree, rows, ids, i)]
    assert f.flows(flows, packets=frame)["flow_id"].to_list() == expected, unparse(tree)


def test_flow_fields_on_packets_and_flows():
    flows, ids = flows_of(HAND)
    flows = flows.with_columns(conn_state=pl.Series(["SF", "S0", "OTH", "OTH", "REJ"][: flows.height]),
                               duration=pl.Series([1.5, 0.0, 0.25, 0.0, 7.0][: flows.height]))
    frame = packet_frame(HAND, flow_id=pl.Series(ids, dtype=pl.Int64)).with_row_index("row")
    # flows by hand: 0 = 10.0.0.1:40000-192.168.1.10:443 (rows 0-2), 1 = the UDP one, 2 = ICMP,
    # 3 = ICMPv6, 4 = 10.0.0.2:22-10.0.0.1:80
    assert ids == [0, 0, 0, 1, 2, None, None, 3, 4]
    assert kernelkit.filter("conn.state == 'SF'").flows(flows)["flow_id"].to_list() == [0]
    assert kernelkit.filter("conn.duration >= 0.25").flows(flows)["flow_id"].to_list() == [0, 2, 4]
    f = kernelkit.filter("conn.state in {'SF', 'REJ'} and not tcp.flags.syn")
    # on packets: the packets of SF or REJ connections that are not SYNs
    assert f.packets(frame, flows)["row"].to_list() == [2, 8]
    # on flows: SF or REJ connections without any SYN packet
    assert f.flows(flows, packets=frame)["flow_id"].to_list() == [4]
    # directional fields on flows: the flow has a packet from that address
    assert kernelkit.filter("ip.src == 192.168.1.10").flows(flows)["flow_id"].to_list() == [0]
    assert kernelkit.filter("ip.src == 10.0.0.1 and tcp.dstport == 40000").flows(flows).height == 0
    assert kernelkit.filter("ip.src == 192.168.1.10 and tcp.dstport == 40000").flows(flows).height == 1


def test_missing_frames_and_columns_are_reported_at_the_field():
    flows, _ = flows_of(HAND)
    frame = packet_frame(HAND)
    with pytest.raises(FilterError, match="conn.state is a flow field") as caught:
        kernelkit.filter("tcp and conn.state == 'SF'").packets(frame)
    assert (caught.value.start, caught.value.end) == (8, 18)
    with pytest.raises(FilterError, match="pass packets="):
        kernelkit.filter("tcp.flags.syn").flows(flows)  # flags are not in the flow table
    with pytest.raises(FilterError, match="pass tls="):
        kernelkit.filter("tls.sni ~ 'x'").flows(flows)
    with pytest.raises(FilterError, match="conn.state reads column.*conn_state.*flows frame lacks"):
        kernelkit.filter("conn.state == 'SF'").flows(flows)
    with pytest.raises(FilterError, match="without flow_id"):
        kernelkit.filter("tcp.flags.syn").flows(flows, packets=frame)  # packets not tracked


# -- sessions ---------------------------------------------------------------------------------------

# Five connections: 0 and 1 TLS, 2 HTTP (two requests), 3 DNS, 4 HTTP (one request).
SESSION_FLOWS = pl.DataFrame({
    "flow_id": [0, 1, 2, 3, 4],
    "orig_ip": [_ip16("10.0.0.1")] * 5,
    "resp_ip": [_ip16(a) for a in ("1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5")],
    "orig_port": [50000, 50001, 50002, 50003, 50004],
    "resp_port": [443, 443, 80, 53, 8080],
    "ip_proto": [6, 6, 6, 17, 6],
    "ip_version": [4] * 5,
    "orig_pkts": [3, 3, 4, 1, 2],
    "resp_pkts": [3, 2, 4, 1, 2],
    "duration": [1.0, 2.0, 3.0, 0.01, 5.0],
})
TLS = pl.DataFrame({
    "flow_id": [0, 1],
    "sni": ["www.netflix.com", "example.org"],
    "alpn_offered": [["h2", "http/1.1"], ["http/1.1"]],
    "tls_version": ["TLS 1.3", "TLS 1.2"],
    "ja3": ["aaa", "bbb"],
    "ja4": ["t13d", "t12d"],
})
HTTP = pl.DataFrame({
    "flow_id": [2, 2, 4],
    "http_method": ["GET", "POST", "POST"],
    "http_host": ["a.example", "b.example", "a.example"],
    "http_uri": ["/index.html", "/upload?id=42", "/x"],
    "http_user_agent": ["curl/8.0", "curl/8.0", None],
    "http_status": [200, 500, None],
})
DNS = pl.DataFrame({
    "flow_id": [3],
    "dns_qname": ["www.netflix.com"],
    "dns_qtype": [1],
    "dns_rcode": [0],
    "dns_answers": [["198.38.96.1", "198.38.96.2"]],
})
CONTEXT = {"tls": TLS, "http": HTTP, "dns": DNS}


def _sessions_by_flow(frame):
    return {i: [r for r in frame.iter_rows(named=True) if r["flow_id"] == i] for i in range(5)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a session condition: the connection has a session that meets it
        ("tls.sni ~ 'netflix'", lambda t, h, d: any("netflix" in r["sni"] for r in t)),
        ("tls.sni == 'example.org'", lambda t, h, d: any(r["sni"] == "example.org" for r in t)),
        ("tls.alpn == 'h2'", lambda t, h, d: any("h2" in r["alpn_offered"] for r in t)),  # any in the list
        ("tls.alpn != 'h2'", lambda t, h, d: any("h2" not in r["alpn_offered"] for r in t)),
        ("tls.version == 0x0304", lambda t, h, d: any(r["tls_version"] == "TLS 1.3" for r in t)),
        ("tls", lambda t, h, d: bool(t)),
        ("not tls", lambda t, h, d: not t),
        # one request must meet the whole condition...
        ("http.host == 'a.example' and http.method == 'POST'",
         lambda t, h, d: any(r["http_host"] == "a.example" and r["http_method"] == "POST" for r in h)),
        # ... a leading not negates it for the connection ...
        ("not http.method == 'GET'", lambda t, h, d: not any(r["http_method"] == "GET" for r in h)),
        # ... a not inside stays with the request
        ("http and not http.method == 'GET'", lambda t, h, d: any(r["http_method"] != "GET" for r in h)),
        ("http.uri contains '?id='", lambda t, h, d: any("?id=" in r["http_uri"] for r in h)),
        ("http.status >= 500 or http.user_agent ~ '^curl/'",
         lambda t, h, d: any((r["http_status"] or 0) >= 500 or (r["http_user_agent"] or "").startswith("curl/")
                             for r in h)),
        ("dns.qname ~ 'netflix' and dns.qtype == 'A'",
         lambda t, h, d: any("netflix" in r["dns_qname"] and r["dns_qtype"] == 1 for r in d)),
        ("dns.answers contains '198.38.96.2'", lambda t, h, d: any("198.38.96.2" in r["dns_answers"] for r in d)),
        # tables mixed: each condition carried over by connection
        ("tls.sni ~ 'netflix' or dns.qname ~ 'netflix'",
         lambda t, h, d: any("netflix" in r["sni"] for r in t) or any("netflix" in r["dns_qname"] for r in d)),
        ("http.host == 'a.example' and http.status == 200",  # the 200 and the host: one request
         lambda t, h, d: any(r["http_host"] == "a.example" and r["http_status"] == 200 for r in h)),
    ],
)
def test_session_conditions_select_connections(text, expected):
    f = kernelkit.filter(text)
    tls, http, dns = (_sessions_by_flow(x) for x in (TLS, HTTP, DNS))
    want = [i for i in range(5) if expected(tls[i], http[i], dns[i])]
    assert f.flows(SESSION_FLOWS, **CONTEXT)["flow_id"].to_list() == want
    # on packets: the packets of those connections (two per connection here)
    packets = pl.DataFrame({"flow_id": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, None]})
    assert f.packets(packets, SESSION_FLOWS, **CONTEXT)["flow_id"].drop_nulls().unique().sort().to_list() == want


def test_conditions_on_the_session_frame_itself():
    f = kernelkit.filter("http.method == 'POST' and not http.host == 'a.example'")
    assert f.sessions(HTTP)["http_uri"].to_list() == ["/upload?id=42"]  # per request, not per connection
    # a connection field on sessions: the session's connection meets it
    g = kernelkit.filter("http.method == 'POST' and conn.duration > 4")
    assert g.sessions(HTTP, flows=SESSION_FLOWS)["http_uri"].to_list() == ["/x"]
    # a five-tuple condition on sessions goes through the flow table
    h = kernelkit.filter("tcp.port == 8080")
    assert h.sessions(HTTP, flows=SESSION_FLOWS)["http_uri"].to_list() == ["/x"]
    # another session table: by connection
    assert kernelkit.filter("tls.sni ~ 'netflix' or http").on(TLS, http=HTTP)["flow_id"].to_list() == [0]


def test_packet_and_session_fields_mixed():
    packets = pl.DataFrame({
        "flow_id": [0, 0, 1, 1, 2],
        "ip_proto": [6] * 5,
        "sport": [50000, 443, 50001, 443, 50002],
        "dport": [443, 50000, 443, 50001, 80],
        "tcp_flags": [0x02, 0x12, 0x02, 0x12, 0x02],
    }).with_row_index("row")
    f = kernelkit.filter("tcp.flags.syn and not tcp.flags.ack and tls.sni ~ 'netflix'")
    assert f.packets(packets, tls=TLS)["row"].to_list() == [0]
    # on flows: the connection has a SYN-only packet and a matching handshake
    assert f.flows(SESSION_FLOWS, packets=packets, tls=TLS)["flow_id"].to_list() == [0]
    # the common case, one call
    assert kernelkit.filter("tls.sni ~ 'netflix'").flows(SESSION_FLOWS, tls=TLS)["flow_id"].to_list() == [0]


def test_session_fields_on_a_flow_table_that_carries_them():
    flows = SESSION_FLOWS.with_columns(sni=pl.Series(["www.netflix.com", "example.org", None, None, None]))
    assert kernelkit.filter("tls.sni ~ 'netflix'").flows(flows)["flow_id"].to_list() == [0]


def test_levels_and_frame_kinds():
    assert kernelkit.filter("tcp.port == 443 and tls.sni ~ 'x'").level == "packets"
    assert kernelkit.filter("tls.sni ~ 'x' and conn.duration > 1").level == "flows"
    assert kernelkit.filter("http.host == 'x'").level == "http"
    assert kernelkit.filter("dns or tls").level == "flows"
    f = kernelkit.filter("conn.duration > 2.5")
    assert f.on(SESSION_FLOWS)["flow_id"].to_list() == [2, 4]
    assert kernelkit.filter("dns.qtype == 1").on(DNS).height == 1
    with pytest.raises(ValueError, match="cannot tell which table"):
        kernelkit.filter("tls").on(pl.DataFrame({"flow_id": [0], "sni": ["x"]}))  # TLS or QUIC?
    assert kernelkit.filter("quic.sni == 'x'").sessions(pl.DataFrame({"flow_id": [0], "sni": ["x"]}),
                                                        kind="quic").height == 1


def test_filters_combine_with_operators():
    a, b = kernelkit.filter("tcp"), kernelkit.filter("udp.port == 53")
    assert a | b == kernelkit.filter("tcp or udp.port == 53")
    assert (a & ~b) == kernelkit.filter("tcp and not udp.port == 53")
    assert (a & "ip.ttl > 5") == kernelkit.filter("tcp and ip.ttl > 5")
    assert repr(a | b) == "kernelkit.filter('(tcp or udp.port == 53)')"
    assert [f.name for f in kernelkit.filter("tcp.port == 1 or tcp.port == 2 or udp").fields] == ["tcp.port", "udp"]


def test_strings_are_case_sensitive_unless_the_regex_says_otherwise():
    tls = pl.DataFrame({"flow_id": [0, 1, 2], "sni": ["WWW.Netflix.com", "netflix.com", "a.b"], "ja3": ["x"] * 3})
    assert kernelkit.filter("tls.sni ~ 'netflix'").sessions(tls)["flow_id"].to_list() == [1]
    assert kernelkit.filter("tls.sni ~ '(?i)NETFLIX'").sessions(tls)["flow_id"].to_list() == [0, 1]
    assert kernelkit.filter("tls.sni == 'netflix.com'").sessions(tls)["flow_id"].to_list() == [1]
    # contains is literal: the dot is a dot; matches is a regex: the dot is any character
    assert kernelkit.filter("tls.sni contains 'a.b'").sessions(tls)["flow_id"].to_list() == [2]
    assert kernelkit.filter("tls.sni matches 'x.c'").sessions(tls)["flow_id"].to_list() == [0, 1]
    assert kernelkit.filter("tls.sni in {'a.b', 'netflix.com'}").sessions(tls)["flow_id"].to_list() == [1, 2]
