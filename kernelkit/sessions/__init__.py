"""Sessions: what the connections carried (TLS, HTTP, DNS, QUIC), from the packets' bytes."""

from .streams import Streams, tcp_streams, udp_payloads

__all__ = ["Streams", "tcp_streams", "udp_payloads"]
