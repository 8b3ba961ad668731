"""Sessions: what the connections carried (TLS, HTTP, DNS, QUIC), from the packets' bytes.

Each function takes a capture path, the result of ``kernelkit.track(..., data=True)``
or such a packet frame, and returns one row per handshake, request or DNS
transaction, joinable to the flow table by ``flow_id``.
"""

from .analysis import Analysis, analyze, annotate_flows
from .dns import dns_messages, dns_transactions
from .http import http_messages, http_transactions
from .quic import quic_handshakes
from .streams import Streams, tcp_streams, udp_payloads
from .tls import tls_handshakes

__all__ = [
    "Analysis",
    "Streams",
    "analyze",
    "annotate_flows",
    "dns_messages",
    "dns_transactions",
    "http_messages",
    "http_transactions",
    "quic_handshakes",
    "tcp_streams",
    "tls_handshakes",
    "udp_payloads",
]
