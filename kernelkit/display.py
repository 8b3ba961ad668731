"""Display helpers: the ``kk`` Polars namespace, and address literals.

Importing kernelkit registers ``kk`` on expressions and series:

>>> import kernelkit, polars as pl
>>> packets = kernelkit.read_packets(kernelkit.sample_path())
>>> packets.select(pl.col("src_ip").kk.ip_str()).head(1).item()
'127.0.0.1'
"""

from __future__ import annotations

import ipaddress

import polars as pl

from .status import STATUS_CODES

IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
TCP_FLAG_LETTERS = "NCEUAPRSF"  # bit 8 .. bit 0, as Wireshark abbreviates them
IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH",
                58: "ICMPv6", 89: "OSPF", 132: "SCTP"}


def ip(text: str) -> bytes:
    """An address as kernelkit stores it: 16 bytes, IPv4 as ``::ffff:a.b.c.d``.

    Examples
    --------
    >>> ip("10.0.0.1").hex()
    '00000000000000000000ffff0a000001'
    """
    address = ipaddress.ip_address(text)
    return IPV4_MAPPED_PREFIX + address.packed if address.version == 4 else address.packed


def ip_text(value: bytes | None) -> str | None:
    """The text of a 16-byte address (IPv4-mapped ones as dotted quads).

    Examples
    --------
    >>> ip_text(ip("192.0.2.7")), ip_text(ip("2001:db8::1"))
    ('192.0.2.7', '2001:db8::1')
    """
    if value is None:
        return None
    if len(value) == 16 and value[:12] == IPV4_MAPPED_PREFIX:
        return str(ipaddress.IPv4Address(value[12:]))
    if len(value) == 16:
        return str(ipaddress.IPv6Address(value))
    return value.hex()


def _by_unique(series: pl.Series, convert, dtype=pl.String) -> pl.Series:
    """Apply a per-value Python conversion once per distinct value (addresses repeat a lot)."""
    uniques = series.drop_nulls().unique()
    return series.replace_strict(uniques, [convert(v) for v in uniques], default=None, return_dtype=dtype)


def flags_text(flags: int | None) -> str | None:
    """TCP flags as letters, Wireshark style (``·`` for a clear bit).

    Examples
    --------
    >>> flags_text(0x012)
    '····A··S·'
    """
    if flags is None:
        return None
    return "".join(letter if flags & (1 << (8 - k)) else "·" for k, letter in enumerate(TCP_FLAG_LETTERS))


@pl.api.register_expr_namespace("kk")
class KernelkitExpr:
    """Display helpers on packet and flow columns: ``pl.col("src_ip").kk.ip_str()``."""

    def __init__(self, expr: pl.Expr):
        self._expr = expr

    def ip_str(self) -> pl.Expr:
        """16-byte addresses as text."""
        return self._expr.map_batches(lambda s: _by_unique(s, ip_text), return_dtype=pl.String)

    def mac_str(self) -> pl.Expr:
        """48-bit MAC integers as ``aa:bb:cc:dd:ee:ff``."""
        return self._expr.map_batches(
            lambda s: _by_unique(s, lambda v: ":".join(f"{(v >> (8 * k)) & 0xFF:02x}" for k in range(5, -1, -1))),
            return_dtype=pl.String,
        )

    def tcp_flags_str(self) -> pl.Expr:
        """The 9 TCP flag bits as letters (``·······AP·S·`` style)."""
        return self._expr.map_batches(lambda s: _by_unique(s, flags_text), return_dtype=pl.String)

    def status_name(self) -> pl.Expr:
        """Packet status codes as names (see :mod:`kernelkit.status`)."""
        names = {code: name for code, (name, _) in STATUS_CODES.items()}
        return self._expr.replace_strict(names, default=None, return_dtype=pl.String)

    def proto_name(self) -> pl.Expr:
        """IP protocol numbers as names (TCP, UDP, ...; others as their number)."""
        return self._expr.map_batches(lambda s: _by_unique(s, lambda v: IP_PROTOCOLS.get(v, str(v))),
                                      return_dtype=pl.String)


@pl.api.register_series_namespace("kk")
class KernelkitSeries:
    """The ``kk`` helpers on a Series: ``packets["src_ip"].kk.ip_str()``."""

    def __init__(self, series: pl.Series):
        self._series = series

    def __getattr__(self, name):
        method = getattr(KernelkitExpr(pl.col(self._series.name)), name)

        def call(*args, **kwargs):
            return self._series.to_frame().select(method(*args, **kwargs)).to_series()

        return call
