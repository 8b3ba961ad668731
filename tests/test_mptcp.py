"""MPTCP: tokens from keys, and subflows linked to their connection."""

import struct

import polars as pl
import pytest

import kernelkit
from kernelkit.mptcp import link_subflows, parse_mptcp, token_of
from tests.traces import shared_trace


@pytest.mark.parametrize(
    "key, version, token",
    [
        # tshark's "Subflow token generated from key" on the shared captures
        (11285646634205721522, 0, 2945910507),  # tcpdump__mptcp-v0.pcap, SHA-1
        (10843866842831127890, 0, 3833528642),
        (3001306557161771836, 1, 2740809090),  # tcpdump__mptcp-v1.pcap, SHA-256
        (2295531734017261039, 1, 597671344),
    ],
)
def test_token_of_key_matches_tshark(key, version, token):
    assert token_of(key, version) == token


def _tcp_header(options: bytes) -> bytes:
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", 1, 2, 0, 0, offset << 4, 0x02, 0, 0, 0) + options


def test_parse_mp_capable_and_mp_join():
    capable = bytes([30, 20, 0x01, 0x81]) + (7).to_bytes(8, "big") + (9).to_bytes(8, "big")
    join = bytes([30, 12, 0x10, 3]) + (0xDEADBEEF).to_bytes(4, "big") + (5).to_bytes(4, "big")
    assert parse_mptcp(_tcp_header(capable)) == [("key", 1, 7), ("key", 1, 9)]
    assert parse_mptcp(_tcp_header(bytes([1, 1]) + join)) == [("join", 0xDEADBEEF)]
    # a v1 SYN carries no key; an option cut short is ignored
    assert parse_mptcp(_tcp_header(bytes([30, 4, 0x01, 0x81]))) == []
    assert parse_mptcp(_tcp_header(bytes([30, 20, 0x01]))) == []


def test_link_subflows_by_token():
    facts = [(0, ("key", 1, 7)), (0, ("key", 1, 9)), (5, ("join", token_of(9, 1))), (8, ("join", 12345))]
    assert link_subflows(facts) == {0: 0, 5: 0}


def test_two_subflows_of_one_connection_on_a_real_capture():
    flows = kernelkit.flows(shared_trace("tcpdump__mptcp-v0.pcap"))
    assert flows.height == 2
    # the second subflow joins with the token of the first one's responder key
    assert flows["mptcp_connection"].to_list() == [flows["flow_id"][0]] * 2


def test_plain_tcp_has_no_mptcp_connection():
    flows = kernelkit.flows(kernelkit.sample_path())
    assert flows["mptcp_connection"].null_count() == flows.height


def test_frame_input_without_bytes_gives_no_connection():
    packets = kernelkit.read_packets(shared_trace("tcpdump__mptcp-v1.pcap"))
    assert kernelkit.flows(packets)["mptcp_connection"].is_null().all()
    with_bytes = kernelkit.read_packets(shared_trace("tcpdump__mptcp-v1.pcap"), data=True)
    assert kernelkit.flows(with_bytes)["mptcp_connection"].to_list() == [0]
    assert isinstance(with_bytes, pl.DataFrame)
