"""Filters over packets, connections and sessions: Retina's language, Wireshark's spellings.

``kernelkit.filter(text)`` parses a filter into a :class:`Filter`; the filter
compiles to a Polars expression on packets, flows or a session table, and applies
itself in one call::

    kernelkit.filter("tcp.port == 443 and not tcp.flags.syn").packets(packets)
    kernelkit.filter("tls.sni ~ 'netflix'").flows(flows, tls=tls_handshakes)

``kernelkit.filter.fields()`` lists the fields. The grammar and the meaning of a
filter that mixes packet, connection and session fields are described in
:mod:`kernelkit.filter.compile`.

Examples
--------
>>> import kernelkit.filter
>>> f = kernelkit.filter("ip.src == 10.0.0.0/8 or ipv6 and udp.port in 5000..6000")
>>> print(f)
(ip.src == 10.0.0.0/8 or (ipv6 and udp.port in 5000..6000))
>>> f.level
'packets'
"""

import sys
import types

from .compile import GRAMMAR, Filter, FilterError, parse
from .fields import FIELDS, Field, fields, lookup


class _FilterModule(types.ModuleType):
    """The package is callable: ``kernelkit.filter(text)`` is :func:`parse`."""

    def __call__(self, text: str) -> Filter:
        return parse(text)


sys.modules[__name__].__class__ = _FilterModule

__all__ = ["FIELDS", "GRAMMAR", "Field", "Filter", "FilterError", "fields", "lookup", "parse"]
