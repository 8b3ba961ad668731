"""kernelkit: a Jupyter-first research kit for packet traces.

Examples
--------
>>> import kernelkit
>>> packets = kernelkit.read_packets(kernelkit.sample_path())
>>> packets.columns[:3]
['ts', 'caplen', 'wirelen']
"""

from pathlib import Path

from . import display as _display  # registers the ``kk`` Polars namespace
from . import explore  # callable package: kernelkit.explore(source)
from . import filter  # noqa: A004  (callable package: kernelkit.filter(text))
from .display import ip, ip_text
from .conntrack import FlowTracker, flows, track
from .io import Trace, TraceFormatError, TraceWarning, open_trace, read_packets, write_pcap
from .schema import PACKET_COLUMNS, PACKET_SCHEMA
from .sessions import analyze, dns_transactions, http_transactions, quic_handshakes, tls_handshakes
from .status import STATUS_CODES, status_name, status_table

__version__ = "0.1.0"


def sample_path() -> Path:
    """The bundled sample capture (``data/sample.pcapng`` in the source tree).

    Examples
    --------
    >>> import kernelkit
    >>> kernelkit.sample_path().name
    'sample.pcapng'
    """
    return Path(__file__).resolve().parent.parent / "data" / "sample.pcapng"


__all__ = [
    "FlowTracker",
    "analyze",
    "PACKET_COLUMNS",
    "PACKET_SCHEMA",
    "STATUS_CODES",
    "Trace",
    "TraceFormatError",
    "TraceWarning",
    "filter",
    "dns_transactions",
    "explore",
    "flows",
    "http_transactions",
    "ip",
    "ip_text",
    "open_trace",
    "quic_handshakes",
    "read_packets",
    "sample_path",
    "status_name",
    "status_table",
    "tls_handshakes",
    "track",
    "write_pcap",
]
