"""Parse filter text into a tree, check it against the field registry, compile it to Polars.

The language (see :data:`GRAMMAR`) accepts Retina's filters and Wireshark's display
filter spellings:

* comparisons ``field op value``: ``==`` (or ``=``, ``eq``), ``!=`` (``ne``), ``<``,
  ``<=``, ``>``, ``>=`` (``lt le gt ge``), ``in``, ``not in``, ``matches`` (or ``~``:
  a regular expression, searched anywhere in the string), ``contains`` (a literal
  substring), ``&`` (some bit of the mask is set);
* values: integers (``443``, ``0x1bb``), decimals (``1.5``), ranges ``1024..5000``
  (both ends included), sets ``{80, 443, 8000..8080}`` (commas optional), IPv4 and
  IPv6 addresses and prefixes (``10.0.0.0/8``, ``2001:db8::/32``), MACs
  (``00:11:22:33:44:55``), strings in single or double quotes (``\\"``, ``\\'`` and
  ``\\\\`` are escapes; any other backslash stays, so ``'\\d+'`` is the regex
  ``\\d+``), ``true`` and ``false``;
* a bare field: a protocol is present (``tcp``; ``tls``: a TLS handshake was
  identified on the connection), a flag is set (``tcp.flags.syn``), another field
  exists (``tcp.port``);
* ``not``/``!`` binds tighter than ``and``/``&&``, which binds tighter than
  ``or``/``||``; parentheses group.

Strings compare case-sensitively, as in Wireshark: write ``(?i)`` in a regex to
ignore case. Addresses are 16 bytes (IPv4 as ``::ffff:a.b.c.d``), so a prefix match
is a range comparison on the binary column.

Where a filter is evaluated
---------------------------
A filter is applied to one frame, the *target*: packets, flows, or a session table
(TLS handshakes, HTTP transactions, DNS messages, QUIC connections). Each field
belongs to one table (see :func:`kernelkit.filter.fields`). A condition on the
target's own fields is tested on each row. A condition on another table is tested
on the rows of that table and carried over by connection (``flow_id``): a row of the
target matches when its connection has **some** row of the other table that meets
the condition. So on packets, ``http.host == "x"`` selects the packets of
connections that carry a request for host x (Retina's semantics: connections are
filtered by their sessions), and on flows, ``tcp.flags.syn`` selects connections
with a SYN packet.

The condition carried over is the largest sub-expression on one table that does not
start with ``not``: ``http.host == "x" and http.method == "POST"`` needs one POST
request to x, not a POST and a request to x. A ``not`` in front of such a condition
negates it for the connection: ``not http.method == "GET"`` selects connections
with no GET request (and connections without HTTP), while ``http and not
http.method == "GET"`` selects connections with a request that is not a GET.

Packet conditions on the five-tuple alone (addresses, ports, protocols) are decided
on the flow table exactly, each flow seen as a packet of each direction it has
packets in: ``ip.src == 10.0.0.1 and tcp.dstport == 80`` on flows needs no packets.
Other packet fields (flags, TTL, lengths) need the packets, with their ``flow_id``
(``kernelkit.track(...).packets``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, reduce

import polars as pl

from .fields import (
    DERIVED,
    FIELDS,
    FLOW_VIEWS,
    FLOWS,
    NOT_NULL,
    PACKETS,
    SESSION_TABLES,
    TABLES,
    Field,
    lookup,
    suggestions,
)

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr _or and_expr -> or_
?and_expr: not_expr
         | and_expr _and not_expr -> and_
?not_expr: atom
         | _not not_expr -> not_
_or: OR | OROR
_and: AND | ANDAND
_not: NOT | BANG

?atom: "(" or_expr ")"
     | FIELD -> bare
     | FIELD _op value -> compare
     | FIELD NOT IN value -> not_in
_op: CMP | IN | MATCHES | CONTAINS | BITAND

?value: scalar | range | set
range: number _DOTDOT number
set: "{" member (","? member)* "}"
?member: scalar | range
?scalar: INT | FLOAT | STRING | IPV4 | COLONED | TRUE | FALSE
?number: INT | FLOAT

OR: "or"i
OROR: "||"
AND: "and"i
ANDAND: "&&"
NOT: "not"i
BANG: "!"
CMP: "==" | "=" | "!=" | "<=" | ">=" | "<" | ">" | "eq"i | "ne"i | "lt"i | "le"i | "gt"i | "ge"i
IN: "in"i
MATCHES: "matches"i | "~"
CONTAINS: "contains"i
BITAND: "&"
_DOTDOT: ".."
TRUE: "true"i
FALSE: "false"i
FIELD: /[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*/i
STRING: /"(?:[^"\\]|\\.)*"/s | /'(?:[^'\\]|\\.)*'/s
// IPv6 addresses and MACs: hex digits with at least one colon
COLONED.4: /(?=[0-9a-f.:]*:)[0-9a-f:.]+(\/[0-9]+)?/i
IPV4.3: /[0-9]{1,3}(\.[0-9]{1,3}){3}(\/[0-9]+)?/
FLOAT.2: /[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+/
INT.1: /0x[0-9a-f]+|[0-9]+/i

%ignore /\s+/
"""
"""The filter language's grammar (lark, LALR with a contextual lexer)."""

OPS = {"==": "==", "=": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<", "<=": "<=", "le": "<=",
       ">": ">", "gt": ">", ">=": ">=", "ge": ">=", "in": "in", "~": "matches", "matches": "matches",
       "contains": "contains", "&": "&"}
"""Operator spellings -> canonical operator."""

ORDER_OPS = ("<", "<=", ">", ">=")


class FilterError(ValueError):
    """A filter that cannot be parsed, names an unknown field, or compares mismatched types.

    The message shows the filter with a caret under the place of the problem.
    ``text`` is the filter, ``start`` and ``end`` the offsets of the culprit
    (``column`` is ``start`` + 1 on its line), ``reason`` the message's first line.

    Examples
    --------
    >>> import kernelkit.filter
    >>> try:
    ...     kernelkit.filter("tcp.prot == 80")
    ... except kernelkit.filter.FilterError as e:
    ...     print(e)
    unknown field 'tcp.prot' (did you mean tcp.port, tcp.rst, ip.proto?)
        tcp.prot == 80
        ^~~~~~~~
    """

    def __init__(self, reason: str, text: str, start: int, end: int | None = None):
        self.reason = reason
        self.text = text
        self.start = max(0, min(start, len(text)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)
        super().__init__(f"{reason}\n{caret(text, self.start, self.end)}")

    @property
    def column(self) -> int:
        """1-based column of the culprit on its line."""
        return self.start - (self.text.rfind("\n", 0, self.start) + 1) + 1


def caret(text: str, start: int, end: int) -> str:
    """The line of ``text`` holding offset ``start``, with ``^~~`` under ``start:end``."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    pad = "".join(ch if ch == "\t" else " " for ch in line[: start - line_start])
    width = max(1, min(end, max(line_end, start + 1)) - start)
    return f"    {line}\n    {pad}^{'~' * (width - 1)}"


# -- the tree ----------------------------------------------------------------------

_SPAN = {"default": (0, 0), "compare": False, "repr": False, "kw_only": True}


@dataclass(frozen=True)
class Int:
    value: int


@dataclass(frozen=True)
class Float:
    value: float


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Addr:
    """An address (a /32 or /128 network) or a prefix."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Mac:
    value: int


@dataclass(frozen=True)
class Range:
    """``lo..hi``, both ends included."""

    lo: Int | Float
    hi: Int | Float


@dataclass(frozen=True)
class Set:
    members: tuple


Scalar = Int | Float | Str | Bool | Addr | Mac
Value = Scalar | Range | Set


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``field`` is the canonical name, ``op`` the canonical operator."""

    field: str
    op: str
    value: Value
    span: tuple[int, int] = field(**_SPAN)


@dataclass(frozen=True)
class Bare:
    """A field written alone: the protocol is present, the flag is set, the field exists."""

    field: str
    span: tuple[int, int] = field(**_SPAN)


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


Node = Compare | Bare | Not | And | Or


def unparse(node: Node) -> str:
    """Canonical text of a tree: fully parenthesised, canonical names and operators.

    Examples
    --------
    >>> from kernelkit.filter.compile import parse_tree, unparse
    >>> unparse(parse_tree("!tcp.syn && tcp.port = 0x50 || udp"))
    '(((not tcp.flags.syn) and tcp.port == 80) or udp)'
    """
    if isinstance(node, And):
        return f"({unparse(node.left)} and {unparse(node.right)})"
    if isinstance(node, Or):
        return f"({unparse(node.left)} or {unparse(node.right)})"
    if isinstance(node, Not):
        return f"(not {unparse(node.child)})"
    if isinstance(node, Bare):
        return node.field
    return f"{node.field} {node.op} {value_text(node.value)}"


def value_text(value: Value) -> str:
    """Canonical text of a value."""
    if isinstance(value, Bool):
        return "true" if value.value else "false"
    if isinstance(value, Int):
        return str(value.value)
    if isinstance(value, Float):
        return repr(value.value)
    if isinstance(value, Str):
        return '"' + value.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Addr):
        net = value.network
        return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
    if isinstance(value, Mac):
        return ":".join(f"{(value.value >> s) & 0xFF:02x}" for s in range(40, -8, -8))
    if isinstance(value, Range):
        return f"{value_text(value.lo)}..{value_text(value.hi)}"
    return "{" + ", ".join(value_text(m) for m in value.members) + "}"


def leaves(node: Node):
    """The comparisons and bare fields of a tree, left to right."""
    if isinstance(node, (And, Or)):
        yield from leaves(node.left)
        yield from leaves(node.right)
    elif isinstance(node, Not):
        yield from leaves(node.child)
    else:
        yield node


# -- parsing -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser():
    from lark import Lark

    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)


_EXPECTED = {
    "FIELD": "a field", "NOT": "'not'", "BANG": "'not'", "LPAR": "'('", "RPAR": "')'", "OR": "'or'",
    "OROR": "'or'", "AND": "'and'", "ANDAND": "'and'", "CMP": "an operator", "IN": "an operator", "MATCHES": "an operator",
    "CONTAINS": "an operator", "BITAND": "an operator", "INT": "a value", "FLOAT": "a value",
    "STRING": "a value", "IPV4": "a value", "COLONED": "a value", "TRUE": "a value", "FALSE": "a value",
    "LBRACE": "a value", "RBRACE": "'}'", "COMMA": "','", "_DOTDOT": "'..'", "$END": "the end of the filter",
}
_KEYWORDS = frozenset({"and", "or", "not", "in", "matches", "contains", "eq", "ne", "lt", "le", "gt", "ge",
                       "true", "false"})
_ORDER = ["a field", "'not'", "'('", "an operator", "a value", "'..'", "','", "'}'", "')'", "'and'", "'or'",
          "the end of the filter"]


def _expected(names) -> str:
    wanted = {_EXPECTED.get(n, "..") for n in names}
    items = sorted(wanted, key=lambda w: _ORDER.index(w) if w in _ORDER else len(_ORDER))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def parse_tree(text: str) -> Node:
    """Parse and check ``text``; the tree, or :class:`FilterError`.

    Examples
    --------
    >>> from kernelkit.filter.compile import parse_tree
    >>> parse_tree("tcp.port in {80, 443}")
    Compare(field='tcp.port', op='in', value=Set(members=(Int(value=80), Int(value=443))))
    """
    from lark.exceptions import (
        LarkError,
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
    )

    if not isinstance(text, str):
        raise TypeError(f"a filter is text, not {type(text).__name__}")
    if not text.strip():
        raise FilterError("empty filter", text, 0, len(text))
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as e:
        found = text[e.pos_in_stream]
        hint = ""
        if found.isalpha() and {"STRING", "INT"} & set(e.allowed or ()):
            hint = " (strings need quotes: 'text')"
        elif found in "'\"":
            hint = " (a string that is never closed)"
        raise FilterError(f"syntax error: expected {_expected(e.allowed or ())}, found {found!r}{hint}",
                          text, e.pos_in_stream) from None
    except UnexpectedToken as e:
        token = e.token
        with contextlib.suppress(LarkError, AttributeError):  # keep lark's set if the replay fails
            # what the parser accepts where it stopped, before lark's default reductions
            e.expected = e.interactive_parser.accepts() or e.expected
        if token.type == "$END":
            raise FilterError(f"syntax error: the filter ends early; expected {_expected(e.expected)}",
                              text, len(text)) from None
        previous = (getattr(e, "token_history", None) or [None])[-1]
        if previous is not None and previous.type == "FIELD" and str(previous).lower() in _KEYWORDS:
            # a keyword where a field belongs was read as a field name: the error is there
            raise FilterError(f"syntax error: expected a field, found {str(previous)!r}", text,
                              previous.start_pos, previous.end_pos) from None
        hint = ""
        if token.type == "FIELD" and {"STRING", "INT"} & set(e.expected):
            hint = f" (strings need quotes: '{token}')"
        raise FilterError(f"syntax error: expected {_expected(e.expected)}, found {str(token)!r}{hint}",
                          text, token.start_pos, token.end_pos) from None
    except UnexpectedEOF as e:  # pragma: no cover - LALR reports UnexpectedToken($END)
        raise FilterError(f"syntax error: the filter ends early; expected {_expected(e.expected)}",
                          text, len(text)) from None
    except UnexpectedInput as e:  # pragma: no cover - the cases above are all lark raises
        raise FilterError(f"syntax error: {e}", text, getattr(e, "pos_in_stream", 0) or 0) from None
    return _Builder(text).node(tree)


class _Builder:
    """lark's tree -> checked :data:`Node` tree, with positions for error messages."""

    def __init__(self, text: str):
        self.text = text

    def error(self, reason, start, end=None):
        return FilterError(reason, self.text, start, end)

    def node(self, tree) -> Node:
        kind = tree.data
        if kind == "or_":
            return Or(self.node(tree.children[0]), self.node(tree.children[2]))
        if kind == "and_":
            return And(self.node(tree.children[0]), self.node(tree.children[2]))
        if kind == "not_":
            return Not(self.node(tree.children[1]))
        if kind == "bare":
            token = tree.children[0]
            f = self.field(token)
            return Bare(f.name, span=(token.start_pos, token.end_pos))
        if kind == "not_in":
            token, _, op, value = tree.children
            return Not(self.compare(token, op, value))
        if kind == "compare":
            return self.compare(*tree.children)
        raise AssertionError(kind)  # pragma: no cover

    def field(self, token) -> Field:
        f = lookup(str(token))
        if f is None and str(token).lower() in _KEYWORDS:
            raise self.error(f"syntax error: expected a field, found {str(token)!r}", token.start_pos,
                             token.end_pos)
        if f is None:
            close = suggestions(str(token))
            hint = f" (did you mean {', '.join(close)}?)" if close else "; kernelkit.filter.fields() lists them"
            raise self.error(f"unknown field {str(token)!r}{hint}", token.start_pos, token.end_pos)
        return f

    def compare(self, token, op_token, value_tree) -> Compare:
        f = self.field(token)
        op = OPS[str(op_token).lower()]
        value = self.value(value_tree)
        value = _Checker(self, f, op, op_token, value_tree).check(value)
        return Compare(f.name, op, value, span=(token.start_pos, token.end_pos))

    @staticmethod
    def span(tree) -> tuple[int, int]:
        if hasattr(tree, "start_pos"):
            return tree.start_pos, tree.end_pos
        return tree.meta.start_pos, tree.meta.end_pos

    def value(self, tree) -> Value:
        if not hasattr(tree, "type"):
            if tree.data == "range":
                lo, hi = (self.value(c) for c in tree.children)
                if lo.value > hi.value:
                    raise self.error(f"empty range: {value_text(lo)} > {value_text(hi)}", *self.span(tree))
                return Range(lo, hi)
            return Set(tuple(self.value(c) for c in tree.children))
        text, kind = str(tree), tree.type
        if kind == "INT":
            number = int(text, 16) if text[:2].lower() == "0x" else int(text)
            if number >= 2**64:
                raise self.error(f"{text} is larger than any field (2**64 - 1)", tree.start_pos, tree.end_pos)
            return Int(number)
        if kind == "FLOAT":
            return Float(float(text))
        if kind in ("TRUE", "FALSE"):
            return Bool(kind == "TRUE")
        if kind == "STRING":
            return Str(_unescape(text[1:-1]))
        if kind == "COLONED" and re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", text, re.IGNORECASE):
            return Mac(int(text.replace(":", ""), 16))
        try:
            return Addr(ipaddress.ip_network(text, strict=False))
        except ValueError:
            what = "an IPv4 address or prefix" if kind == "IPV4" else "an IPv6 address, prefix or MAC"
            raise self.error(f"{text!r} is not {what}", tree.start_pos, tree.end_pos) from None


def _unescape(body: str) -> str:
    r"""``\\``, ``\"`` and ``\'`` are escapes; any other backslash stays (regexes keep ``\d``)."""
    return re.sub(r"\\([\\\"'])", r"\1", body)


_TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "a boolean", "address": "an address",
               "mac": "a MAC address", "string": "a string", "protocol": "a protocol"}
_VALUE_NAMES = {Int: "an integer", Float: "a decimal number", Str: "a string", Bool: "a boolean",
                Addr: "an address", Mac: "a MAC address", Range: "a range", Set: "a set"}


class _Checker:
    """Checks one comparison's operator and value against its field's type; normalises the value."""

    def __init__(self, builder: _Builder, f: Field, op: str, op_token, value_tree):
        self.b, self.f, self.op, self.op_token, self.tree = builder, f, op, op_token, value_tree

    def op_error(self, reason):
        return self.b.error(reason, self.op_token.start_pos, self.op_token.end_pos)

    def value_error(self, reason, tree=None):
        return self.b.error(reason, *self.b.span(tree if tree is not None else self.tree))

    def check(self, value: Value) -> Value:
        f, op = self.f, self.op
        if f.type == "protocol":
            raise self.op_error(f"{f.name} is a protocol: write it alone ({f.name}) or compare one of its fields")
        allowed = {
            "int": ("==", "!=", *ORDER_OPS, "in", "&"),
            "float": ("==", "!=", *ORDER_OPS, "in"),
            "bool": ("==", "!="),
            "address": ("==", "!=", *ORDER_OPS, "in"),
            "mac": ("==", "!=", "in"),
            "string": ("==", "!=", "in", "matches", "contains"),
        }[f.type]
        if op not in allowed:
            raise self.op_error(f"{f.name} is {_TYPE_NAMES[f.type]} field: {op} does not apply "
                                f"(use {', '.join(allowed)})")
        if isinstance(value, Set):
            if op != "in":
                raise self.value_error(f"a set needs in: {f.name} in {{...}}")
            children = self.tree.children
            return Set(tuple(self.member(m, c) for m, c in zip(value.members, children, strict=True)))
        if isinstance(value, Range) and op != "in":
            raise self.value_error(f"a range needs in: {f.name} in {value_text(value)}")
        if op == "&" and not isinstance(value, Int):
            raise self.value_error("& needs an integer mask")
        if op in ("matches", "contains") and not isinstance(value, Str):
            raise self.value_error(f"{op} needs a quoted string")
        if op == "matches":
            _check_regex(value.value, lambda reason: self.value_error(reason))
        return self.member(value, self.tree)

    def member(self, value: Value, tree) -> Value:
        f, op = self.f, self.op
        if isinstance(value, Range):
            if f.type not in ("int", "float") or (f.type == "int" and not isinstance(value.lo, Int)
                                                  or f.type == "int" and not isinstance(value.hi, Int)):
                raise self.value_error(f"{f.name} is {_TYPE_NAMES[f.type]} field: a range of "
                                       f"{'decimals' if f.type == 'int' else 'values'} does not apply", tree)
            return value
        if f.type == "int":
            if isinstance(value, Str) and f.enum is not None and value.value in f.enum:
                return Int(f.enum[value.value])
            if isinstance(value, Int):
                return value
            names = f" or one of {', '.join(repr(k) for k in f.enum)}" if f.enum else ""
            raise self.value_error(f"{f.name} is an integer field: compare it with an integer{names}, "
                                   f"not {_VALUE_NAMES[type(value)]}", tree)
        if f.type == "float":
            if isinstance(value, (Int, Float)):
                return value
            raise self.value_error(f"{f.name} is a number field: compare it with a number, "
                                   f"not {_VALUE_NAMES[type(value)]}", tree)
        if f.type == "bool":
            if isinstance(value, Bool):
                return value
            if isinstance(value, Int) and value.value in (0, 1):
                return Bool(bool(value.value))
            raise self.value_error(f"{f.name} is a boolean field: compare it with true, false, 1 or 0", tree)
        if f.type == "string":
            if isinstance(value, Str):
                return value
            if isinstance(value, Int) and f.enum is not None and value.value in f.enum:
                return Str(f.enum[value.value])
            raise self.value_error(f"{f.name} is a string field: quote the value ('...')", tree)
        if f.type == "mac":
            if isinstance(value, Mac):
                return value
            raise self.value_error(f"{f.name} is a MAC field: write the value as 00:11:22:33:44:55", tree)
        # addresses
        if not isinstance(value, Addr):
            raise self.value_error(f"{f.name} is an address field: compare it with an address or prefix, "
                                   f"not {_VALUE_NAMES[type(value)]}", tree)
        if f.version is not None and value.network.version != f.version:
            raise self.value_error(f"{f.name} holds IPv{f.version} addresses: "
                                   f"{value_text(value)} is IPv{value.network.version}", tree)
        net = value.network
        if op in ORDER_OPS and net.prefixlen != net.max_prefixlen:
            raise self.value_error(f"{op} compares with one address, not a prefix", tree)
        return value


def _check_regex(pattern: str, error: Callable[[str], FilterError]) -> None:
    """Polars' (Rust) regex syntax: raise ``error`` when it rejects ``pattern``."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.ComputeError as e:  # its message names the problem
        lines = [line.strip() for line in str(e).splitlines()]
        detail = next((line[len("error:"):].strip() for line in lines if line.startswith("error:")),
                      lines[0] if lines else "")
        raise error(f"invalid regular expression: {detail}") from None


# -- compiling ---------------------------------------------------------------------------


def _address_bytes(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    if addr.version == 4:
        return b"\x00" * 10 + b"\xff\xff" + addr.packed
    return addr.packed


def _address_bounds(net) -> tuple[bytes, bytes]:
    return _address_bytes(net.network_address), _address_bytes(net.broadcast_address)


class _Cols:
    """Column getter for rows of one table, or a flow row seen as a packet of one direction."""

    def __init__(self, table: str, schema: dict | None = None, view: dict | None = None):
        self.table, self.schema, self.view = table, schema, view

    def __call__(self, name: str) -> pl.Expr:
        if name in DERIVED:
            return DERIVED[name][1](self)
        if self.view is not None:
            target = self.view[name]
            return pl.lit(target, dtype=pl.UInt32) if isinstance(target, int) else pl.col(target)
        return pl.col(name)

    def is_list(self, name: str) -> bool:
        if self.schema is None or name in DERIVED:
            return False
        column = self.view.get(name) if self.view is not None else name
        return isinstance(self.schema.get(column), pl.List)


def _viewable(node: Node) -> bool:
    columns = set(FLOW_VIEWS[0][1])
    return all(FIELDS[leaf.field].columns <= columns for leaf in leaves(node))


def _row_expr(node: Node, cols: _Cols) -> pl.Expr:
    """The tree tested on single rows (all its fields on the table ``cols`` reads)."""
    if isinstance(node, And):
        return _row_expr(node.left, cols) & _row_expr(node.right, cols)
    if isinstance(node, Or):
        return _row_expr(node.left, cols) | _row_expr(node.right, cols)
    if isinstance(node, Not):
        return ~_row_expr(node.child, cols)
    return _leaf_expr(node, cols)


def _leaf_expr(node: Compare | Bare, cols: _Cols) -> pl.Expr:
    f = FIELDS[node.field]
    terms = [cols(c).is_not_null() if v is NOT_NULL else cols(c) == v for c, v in f.guard]
    if f.type == "protocol":
        test = pl.lit(True)
    elif isinstance(node, Bare):
        # a flag: set; any other field: present
        test = _any([_side(cols, f, s) if f.type == "bool" else cols(s).is_not_null() for s in f.sides])
    elif node.op == "!=":
        # every side differs (Wireshark >= 3.6): "ip.addr != x" is "ip.src != x and ip.dst != x"
        test = _all([_test(cols, f, s, "!=", node.value) for s in f.sides])
    else:
        test = _any([_test(cols, f, s, node.op, node.value) for s in f.sides])
    # two-valued logic: a field the row lacks makes the comparison false, so that not makes it true
    return reduce(lambda a, b: a & b, [*terms, test]).fill_null(False)


def _any(exprs):
    return reduce(lambda a, b: a | b, exprs)


def _all(exprs):
    return reduce(lambda a, b: a & b, exprs)


def _side(cols: _Cols, f: Field, side: str) -> pl.Expr:
    column = cols(side)
    if f.bit is not None:
        return (column & f.bit) != 0
    return column


def _test(cols: _Cols, f: Field, side: str, op: str, value: Value) -> pl.Expr:
    """One side compared with the value; a list column matches when any element does."""
    if cols.is_list(side):
        elements = cols(side).list
        if op == "!=":
            return elements.eval(~_positive(pl.element(), f, "==", value)).list.all() & (elements.len() > 0)
        return elements.eval(_positive(pl.element(), f, op, value)).list.any()
    if op == "!=":
        return ~_positive(_side(cols, f, side), f, "==", value)
    return _positive(_side(cols, f, side), f, op, value)


def _literal(f: Field, value: Scalar) -> pl.Expr:
    if isinstance(value, Addr):
        return pl.lit(_address_bytes(value.network.network_address), dtype=pl.Binary)
    return pl.lit(value.value)


def _positive(x: pl.Expr, f: Field, op: str, value: Value) -> pl.Expr:
    if op == "in":
        if isinstance(value, Set):
            plain = [m.value for m in value.members if isinstance(m, (Int, Float, Str, Mac, Bool))]
            others = [m for m in value.members if not isinstance(m, (Int, Float, Str, Mac, Bool))]
            tests = [_positive(x, f, "in", m) for m in others]
            if plain:
                tests.insert(0, x.is_in(plain))
            return _any(tests)
        if isinstance(value, Range):
            return x.is_between(value.lo.value, value.hi.value, closed="both")
        op = "=="
    if op == "==":
        if isinstance(value, Addr) and value.network.prefixlen != value.network.max_prefixlen:
            lo, hi = _address_bounds(value.network)  # a prefix is a range of 16-byte strings
            return x.is_between(pl.lit(lo, dtype=pl.Binary), pl.lit(hi, dtype=pl.Binary), closed="both")
        return x == _literal(f, value)
    if op in ORDER_OPS:
        lit = _literal(f, value)
        return {"<": x < lit, "<=": x <= lit, ">": x > lit, ">=": x >= lit}[op]
    if op == "matches":
        return x.str.contains(value.value)
    if op == "contains":
        return x.str.contains(value.value, literal=True)
    if op == "&":
        return (x & value.value) != 0
    raise AssertionError(op)  # pragma: no cover


def _tables(node: Node) -> frozenset[str]:
    return frozenset(FIELDS[leaf.field].table for leaf in leaves(node))


_NEEDS = {
    PACKETS: "packets=kernelkit.track(...).packets (packets with flow_id)",
    FLOWS: "flows=kernelkit.flows(...)",
    "tls": "tls=kernelkit.sessions.tls.tls_handshakes(...)",
    "http": "http=kernelkit.sessions.http.http_transactions(...)",
    "dns": "dns=kernelkit.sessions.dns.dns_transactions(...)",
    "quic": "quic=kernelkit.sessions.quic.quic_handshakes(...)",
}
"""What to pass for a table's fields (any frame with flow_id and the fields' columns will do)."""


class _Compiler:
    """Compiles a tree for one target table, with the other tables' frames as context."""

    def __init__(self, text: str, target: str, frames: dict[str, object]):
        self.text, self.target, self.frames = text, target, frames

    def schema(self, table: str) -> dict | None:
        frame = self.frames.get(table)
        return None if frame is None else dict(frame.collect_schema())

    def cols(self, table: str) -> _Cols:
        return _Cols(table, self.schema(table))

    def error(self, node: Node, reason: str) -> FilterError:
        leaf = next(leaves(node))
        return FilterError(reason, self.text, *leaf.span)

    def check_columns(self, node: Node, table: str, schema: dict | None) -> None:
        """A missing column is reported at the field that reads it, not as a Polars error."""
        if schema is None:
            return
        for leaf in leaves(node):
            f = FIELDS[leaf.field]
            missing = sorted(f.columns - set(schema))
            if missing:
                raise FilterError(f"{f.name} reads column(s) {', '.join(missing)}, which the {table} frame "
                                  "lacks", self.text, *leaf.span)

    def compile(self, node: Node) -> pl.Expr:
        if isinstance(node, Not):
            return ~self.compile(node.child)
        tables = _tables(node)
        if len(tables) == 1 and (table := next(iter(tables))) != self.target:
            return self.carry(node, table)
        if isinstance(node, And):
            return self.compile(node.left) & self.compile(node.right)
        if isinstance(node, Or):
            return self.compile(node.left) | self.compile(node.right)
        self.check_columns(node, self.target, self.schema(self.target))
        return _leaf_expr(node, self.cols(self.target))

    def view_expr(self, node: Node, schema: dict | None) -> pl.Expr:
        """A packet condition on a flow row: some packet of some direction meets it."""
        self.check_columns_view(node, schema)
        return _any([(pl.col(count) > 0) & _row_expr(node, _Cols(FLOWS, schema, view))
                     for count, view in FLOW_VIEWS])

    def check_columns_view(self, node: Node, schema: dict | None) -> None:
        if schema is None:
            return
        needed = {c for _, view in FLOW_VIEWS for c in view.values() if isinstance(c, str)}
        needed |= {count for count, _ in FLOW_VIEWS}
        missing = sorted(needed - set(schema))
        if missing:
            raise self.error(node, f"the flows frame lacks column(s) {', '.join(missing)}")

    def carry(self, node: Node, table: str) -> pl.Expr:
        """A condition on another table, carried over to the target's rows by flow_id."""
        flows = self.frames.get(FLOWS)
        if table == PACKETS and _viewable(node) and (self.target == FLOWS or flows is not None):
            if self.target == FLOWS:
                return self.view_expr(node, self.schema(FLOWS))
            return self.matching_ids(flows, self.view_expr(node, self.schema(FLOWS)))
        source = self.frames.get(table)
        if source is not None:
            self.check_columns(node, table, self.schema(table))
            return self.matching_ids(source, _row_expr(node, self.cols(table)))
        if table in SESSION_TABLES:
            # the flow table may carry the session fields itself (one value per connection)
            columns = {c for leaf in leaves(node) for c in FIELDS[leaf.field].columns}
            for holder in (FLOWS,):
                schema = self.schema(holder)
                if schema is not None and columns and columns <= set(schema):
                    expr = _row_expr(node, _Cols(holder, schema))
                    return expr if self.target == holder else self.matching_ids(self.frames[holder], expr)
        # point at the field that needs the frame (for packets: one the flow table cannot decide)
        view = set(FLOW_VIEWS[0][1])
        leaf = next((leaf for leaf in leaves(node) if not FIELDS[leaf.field].columns <= view), next(leaves(node)))
        what = FIELDS[leaf.field]
        raise FilterError(f"{what.name} is a {what.level} field ({table} table): to filter {self.target} by "
                          f"it, pass {_NEEDS[table]}", self.text, *leaf.span)

    def matching_ids(self, frame, expr: pl.Expr) -> pl.Expr:
        if "flow_id" not in frame.collect_schema():
            raise FilterError("a frame without flow_id cannot be joined to connections "
                              "(use kernelkit.track(...).packets)", self.text, 0, len(self.text))
        ids = (frame.lazy().filter(expr).select(pl.col("flow_id").cast(pl.Int64).drop_nulls().unique())
               .collect().to_series())
        return pl.col("flow_id").cast(pl.Int64).is_in(ids.implode()).fill_null(False)


# -- the public object --------------------------------------------------------------------

_TABLE_NAMES = {"packets": PACKETS, "packet": PACKETS, "flows": FLOWS, "flow": FLOWS, "connections": FLOWS,
                "conn": FLOWS, **{t: t for t in SESSION_TABLES}}


def _table_name(level: str) -> str:
    try:
        return _TABLE_NAMES[level]
    except KeyError:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(TABLES)}") from None


class Filter:
    """A parsed, checked filter: compiles to Polars expressions on packets, flows or sessions.

    Make one with ``kernelkit.filter(text)``. ``str(f)`` is its canonical text, fully
    parenthesised, which parses back to the same tree. The module docstring of
    :mod:`kernelkit.filter.compile` says how conditions on different tables combine.

    Examples
    --------
    >>> import polars as pl
    >>> import kernelkit.filter
    >>> f = kernelkit.filter("tcp.port == 443 and conn.state == 'SF'")
    >>> str(f)
    '(tcp.port == 443 and conn.state == "SF")'
    >>> flows = pl.DataFrame({
    ...     "flow_id": [0, 1, 2], "orig_ip": [bytes(16)] * 3, "resp_ip": [bytes(16)] * 3,
    ...     "orig_port": [50000, 50001, 50002], "resp_port": [443, 443, 53], "ip_proto": [6, 6, 17],
    ...     "ip_version": [4, 4, 4], "orig_pkts": [5, 1, 1], "resp_pkts": [5, 0, 1],
    ...     "conn_state": ["SF", "S0", "SF"]})
    >>> f.flows(flows)["flow_id"].to_list()
    [0]
    """

    def __init__(self, text: str, tree: Node):
        self.text = text
        self.tree = tree

    def __str__(self) -> str:
        return unparse(self.tree)

    def __repr__(self) -> str:
        return f"kernelkit.filter({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Filter) and self.tree == other.tree

    def __hash__(self) -> int:
        return hash(self.tree)

    def __and__(self, other: Filter) -> Filter:
        return _combined(And(self.tree, _as_filter(other).tree))

    def __or__(self, other: Filter) -> Filter:
        return _combined(Or(self.tree, _as_filter(other).tree))

    def __invert__(self) -> Filter:
        return _combined(Not(self.tree))

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields the filter reads, in order of first use."""
        return tuple(FIELDS[name] for name in dict.fromkeys(leaf.field for leaf in leaves(self.tree)))

    @property
    def tables(self) -> frozenset[str]:
        """The tables its fields live on."""
        return _tables(self.tree)

    @property
    def level(self) -> str:
        """The finest table the filter needs: ``packets`` if it reads a packet field, else the one
        session table it reads, else ``flows``.

        Examples
        --------
        >>> import kernelkit.filter
        >>> kernelkit.filter("tcp.flags.syn").level, kernelkit.filter("tls.sni ~ 'x'").level
        ('packets', 'tls')
        >>> kernelkit.filter("conn.duration > 1.5 or dns").level
        'flows'
        """
        tables = self.tables
        if PACKETS in tables:
            return PACKETS
        sessions = tables & set(SESSION_TABLES)
        if len(sessions) == 1 and FLOWS not in tables:
            return next(iter(sessions))
        return FLOWS

    def expr(self, level: str | None = None, *, packets=None, flows=None, tls=None, http=None, dns=None,
             quic=None) -> pl.Expr:
        """A boolean Polars expression on the rows of ``level``'s frame.

        Parameters
        ----------
        level : str, optional
            ``packets``, ``flows``, ``tls``, ``http``, ``dns`` or ``quic``; by default
            :attr:`level`.
        packets, flows, tls, http, dns, quic : DataFrame or LazyFrame, optional
            Frames of the other tables the filter reads, joined by ``flow_id``: their
            matching connections are computed now and held in the expression.

        Examples
        --------
        >>> import polars as pl
        >>> import kernelkit.filter
        >>> packets = pl.DataFrame({"ip_proto": [6, 17, 6], "sport": [80, 53, 1234], "dport": [1234, 999, 443],
        ...                         "tcp_flags": [0x12, None, 0x10]})
        >>> packets.filter(kernelkit.filter("tcp.port in {80, 443} and not tcp.flags.syn").expr())
        shape: (1, 4)
        ┌──────────┬───────┬───────┬───────────┐
        │ ip_proto ┆ sport ┆ dport ┆ tcp_flags │
        │ ---      ┆ ---   ┆ ---   ┆ ---       │
        │ i64      ┆ i64   ┆ i64   ┆ i64       │
        ╞══════════╪═══════╪═══════╪═══════════╡
        │ 6        ┆ 1234  ┆ 443   ┆ 16        │
        └──────────┴───────┴───────┴───────────┘
        """
        target = _table_name(level) if level is not None else self.level
        given = {"packets": packets, "flows": flows, "tls": tls, "http": http, "dns": dns, "quic": quic}
        frames = {k: v for k, v in given.items() if v is not None}
        return _Compiler(self.text, target, frames).compile(self.tree).alias("filter")

    def _apply(self, target: str, frame, frames: dict):
        frames = {k: v for k, v in frames.items() if v is not None}
        frames[target] = frame
        return frame.filter(_Compiler(self.text, target, frames).compile(self.tree))

    def packets(self, packets, flows=None, *, tls=None, http=None, dns=None, quic=None):
        """The packets that match.

        Parameters
        ----------
        packets : DataFrame or LazyFrame
            Packets (:func:`kernelkit.read_packets`; with ``flow_id`` from
            :func:`kernelkit.track` when the filter reads connection or session fields).
        flows, tls, http, dns, quic : optional
            The frames of the other tables the filter reads.

        Examples
        --------
        >>> import kernelkit, kernelkit.filter
        >>> packets = kernelkit.read_packets(kernelkit.sample_path())
        >>> syn = kernelkit.filter("tcp.flags.syn and not tcp.flags.ack").packets(packets)
        >>> (syn["tcp_flags"] & 0x12 == 0x02).all()
        True
        """
        return self._apply(PACKETS, packets, {"flows": flows, "tls": tls, "http": http, "dns": dns, "quic": quic})

    def flows(self, flows, packets=None, *, tls=None, http=None, dns=None, quic=None):
        """The connections that match.

        Packet conditions mean "the connection has a packet that meets it"; session
        conditions "the connection has a session that meets it".

        Examples
        --------
        >>> import kernelkit, kernelkit.filter
        >>> tracked = kernelkit.track(kernelkit.sample_path())
        >>> web = kernelkit.filter("tcp.port == 80 and conn.state == 'SF'").flows(tracked.flows)
        >>> bool(((web["resp_port"] == 80) | (web["orig_port"] == 80)).all())
        True
        """
        return self._apply(FLOWS, flows, {"packets": packets, "tls": tls, "http": http, "dns": dns, "quic": quic})

    def sessions(self, frame, kind: str | None = None, *, packets=None, flows=None, tls=None, http=None,
                 dns=None, quic=None):
        """The sessions (rows of a TLS, HTTP, DNS or QUIC frame) that match.

        ``kind`` names the frame's table; by default it is told from the columns.

        Examples
        --------
        >>> import polars as pl
        >>> import kernelkit.filter
        >>> tls = pl.DataFrame({"flow_id": [0, 1], "sni": ["www.netflix.com", "example.org"],
        ...                     "ja3": ["a", "b"]})
        >>> kernelkit.filter("tls.sni ~ 'netflix'").sessions(tls)["flow_id"].to_list()
        [0]
        """
        table = _table_name(kind) if kind is not None else _kind_of(frame)
        if table not in SESSION_TABLES:
            raise ValueError(f"{table} is not a session table: use .{table}()")
        others = {"packets": packets, "flows": flows, "tls": tls, "http": http, "dns": dns, "quic": quic}
        others.pop(table)
        return self._apply(table, frame, others)

    def on(self, frame, **context):
        """The rows of ``frame`` that match, its table told from its columns.

        Examples
        --------
        >>> import kernelkit, kernelkit.filter
        >>> packets = kernelkit.read_packets(kernelkit.sample_path())
        >>> kernelkit.filter("udp").on(packets).height == (packets["ip_proto"] == 17).sum()
        True
        """
        table = _kind_of(frame)
        if table == PACKETS:
            return self.packets(frame, **context)
        if table == FLOWS:
            return self.flows(frame, **context)
        return self.sessions(frame, table, **context)


def _kind_of(frame) -> str:
    columns = set(frame.collect_schema())
    if {"src_ip", "dst_ip"} <= columns:
        return PACKETS
    if {"orig_ip", "resp_ip"} <= columns:
        return FLOWS
    scores = {t: len({c for f in FIELDS.values() if f.table == t for c in f.columns} & columns)
              for t in SESSION_TABLES}
    best = max(scores.values())
    winners = [t for t, s in scores.items() if s == best]
    if best == 0 or len(winners) > 1:
        raise ValueError(f"cannot tell which table a frame with columns {sorted(columns)} is: "
                         "pass kind= (packets, flows, tls, http, dns, quic)")
    return winners[0]


def _as_filter(other) -> Filter:
    if isinstance(other, str):
        return parse(other)
    if not isinstance(other, Filter):
        raise TypeError(f"cannot combine a filter with {type(other).__name__}")
    return other


def _combined(tree: Node) -> Filter:
    return Filter(unparse(tree), tree)


def parse(text: str) -> Filter:
    """Parse a filter: Retina's language with Wireshark's spellings.

    Parameters
    ----------
    text : str
        The filter, e.g. ``"tcp.port == 443 and tls.sni ~ 'netflix'"``.

    Returns
    -------
    Filter

    Raises
    ------
    FilterError
        On a syntax error, an unknown field, or a value of the wrong type.

    Examples
    --------
    >>> import kernelkit.filter
    >>> f = kernelkit.filter("ip.addr == 10.0.0.0/8 && !(tcp.port == 22)")
    >>> str(f)
    '(ip.addr == 10.0.0.0/8 and (not tcp.port == 22))'
    >>> kernelkit.filter(str(f)) == f
    True
    """
    return Filter(text, parse_tree(text))
