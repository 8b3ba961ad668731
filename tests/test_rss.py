"""Toeplitz RSS hashing against the published test vectors, and its symmetric key."""

import ipaddress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelkit.kernels.rss import MICROSOFT_KEY, SYMMETRIC_KEY, rss_hashes, toeplitz_table

# Microsoft's RSS verification suite: (src, sport, dst, dport, hash of addresses, hash with ports).
VECTORS = [
    ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x323E8FC2, 0x51CCC178),
    ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xD718262A, 0xC626B0EA),
    ("24.19.198.95", 12898, "12.22.207.184", 38024, 0xD2D0A5DE, 0x5C2B394A),
    ("38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176, 0xAFC7327F),
    ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x5D1809C5, 0x10E828A2),
    ("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766, 0x2CC18CD5, 0x40207D3D),
]


def _column(addresses):
    out = np.zeros((len(addresses), 16), np.uint8)
    for i, text in enumerate(addresses):
        ip = ipaddress.ip_address(text)
        packed = ip.packed if ip.version == 6 else ipaddress.IPv6Address(f"::ffff:{text}").packed
        out[i] = np.frombuffer(packed, np.uint8)
    return out


def _hashes(key, src, dst, sport, dport, with_ports):
    n = len(src)
    version = np.array([ipaddress.ip_address(a).version for a in src], np.uint8)
    out = np.zeros(n, np.uint32)
    rss_hashes(toeplitz_table(key), _column(src), _column(dst), np.array(sport, np.uint16),
               np.array(dport, np.uint16), version, np.full(n, with_ports), np.zeros(36, np.uint8), out)
    return out.tolist()


@pytest.mark.parametrize("with_ports, column", [(False, 4), (True, 5)])
def test_microsoft_verification_vectors(with_ports, column):
    src, sport, dst, dport = (list(x) for x in zip(*[v[:4] for v in VECTORS]))
    assert _hashes(MICROSOFT_KEY, src, dst, sport, dport, with_ports) == [v[column] for v in VECTORS]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_symmetric_key_gives_both_directions_one_hash(data):
    version = data.draw(st.sampled_from([4, 6]))
    src, dst = (str(data.draw(st.ip_addresses(v=version))) for _ in range(2))
    sport, dport = (data.draw(st.integers(0, 65535)) for _ in range(2))
    forward = _hashes(SYMMETRIC_KEY, [src], [dst], [sport], [dport], True)
    backward = _hashes(SYMMETRIC_KEY, [dst], [src], [dport], [sport], True)
    assert forward == backward


def test_the_usual_key_is_not_symmetric():
    src, sport, dst, dport = VECTORS[0][:4]
    assert _hashes(MICROSOFT_KEY, [src], [dst], [sport], [dport], True) != _hashes(
        MICROSOFT_KEY, [dst], [src], [dport], [sport], True)
