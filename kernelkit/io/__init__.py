"""Capture files in and out: pcap and pcapng, plain or compressed."""

from .formats import TraceFormatError, TraceWarning
from .trace import Trace, open_trace, read_packets
from .writer import write_pcap

__all__ = ["Trace", "TraceFormatError", "TraceWarning", "open_trace", "read_packets", "write_pcap"]
