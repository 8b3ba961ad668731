"""QUIC Initial decryption and ClientHello extraction.

References: the test vectors of RFC 9001 Appendix A (version 1) and RFC 9369
Appendix A (version 2), and tshark, which decrypts Initials itself, on the
shared real captures. Synthetic Initials are sealed by ``seal`` below, written
here from RFC 9001 §5.3–5.4 (checked against the RFC's own protected packet),
and their ClientHellos are read back by a small parser written here, so that
the CRYPTO stream is checked whether or not ``kernelkit.sessions.tls`` exists.

``python3 -m tests.test_quic`` prints the agreement table with tshark.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import struct
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernelkit
from kernelkit.sessions.quic import (
    QUIC_VERSIONS,
    STATUSES,
    crypto_frames,
    decrypt_initial,
    initial_keys,
    quic_handshakes,
)
from kernelkit.sessions.source import session_packets
from kernelkit.sessions.streams import udp_payloads
from tests import packetgen as pg
from tests.traces import shared_trace, shared_traces
from tests.tshark import SKIP_REASON, TSHARK

HAVE_TLS = importlib.util.find_spec("kernelkit.sessions.tls") is not None

# --- RFC 9001 Appendix A ----------------------------------------------------------------------

RFC_DCID = bytes.fromhex("8394c8f03e515708")
# A.1: the client's and the server's Initial keys for that DCID.
A1_CLIENT = ("1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2")
A1_SERVER = ("cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314")
# A.2: the client Initial: its unprotected header, its payload (a CRYPTO frame
# and 917 bytes of PADDING), and the packet as sent.
A2_HEADER = bytes.fromhex("c300000001088394c8f03e5157080000449e00000002")
A2_CRYPTO_FRAME = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff"
)
A2_PAYLOAD = A2_CRYPTO_FRAME + bytes(917)
A2_PACKET = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934"
)
# A.3: the server's Initial (an ACK frame, then a CRYPTO frame with the ServerHello).
A3_HEADER = bytes.fromhex("c1000000010008f067a5502a4262b50040750001")
A3_PAYLOAD = bytes.fromhex(
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304"
)
A3_PACKET = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee"
)

# --- RFC 9369 Appendix A (QUIC version 2) -----------------------------------------------------

V2 = 0x6B3343CF
V2_A1_CLIENT = ("8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9")
V2_A2_HEADER = bytes.fromhex("d36b3343cf088394c8f03e5157080000449e00000002")
V2_A2_PACKET = bytes.fromhex(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc"
)

# --- a ClientHello reader and writer, and an Initial sealer, written here --------------------


def hello_names(hello: bytes) -> tuple[str | None, list[str]]:
    """SNI and offered ALPN of a ClientHello handshake message (RFC 8446 §4.1.2, RFC 6066, RFC 7301)."""
    assert hello[0] == 1, "the first handshake message is not a ClientHello"
    assert int.from_bytes(hello[1:4], "big") == len(hello) - 4
    pos = 4 + 2 + 32
    pos += 1 + hello[pos]  # session id
    pos += 2 + int.from_bytes(hello[pos : pos + 2], "big")  # cipher suites
    pos += 1 + hello[pos]  # compression methods
    end = pos + 2 + int.from_bytes(hello[pos : pos + 2], "big")
    pos += 2
    sni, alpn = None, []
    while pos + 4 <= end:
        kind, size = struct.unpack_from("!HH", hello, pos)
        body = hello[pos + 4 : pos + 4 + size]
        if kind == 0:  # server_name: list length, then (type, length, name)
            sni = body[5 : 5 + int.from_bytes(body[3:5], "big")].decode()
        elif kind == 16:  # ALPN: list length, then (length, protocol)*
            at = 2
            while at < len(body):
                alpn.append(body[at + 1 : at + 1 + body[at]].decode())
                at += 1 + body[at]
        pos += 4 + size
    assert pos == end, "the extensions do not end where their length says"
    return sni, alpn


def make_hello(sni: str, alpn: list[str], padding: int = 0) -> bytes:
    """A TLS 1.3 ClientHello with SNI, ALPN and, to make it large, a padding extension (RFC 7685)."""

    def ext(kind: int, body: bytes) -> bytes:
        return struct.pack("!HH", kind, len(body)) + body

    name = sni.encode()
    protocols = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
    extensions = (
        ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
        + ext(16, struct.pack("!H", len(protocols)) + protocols)
        + ext(43, b"\x02\x03\x04")
        + ext(21, bytes(padding))
    )
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    return b"\x01" + len(body).to_bytes(3, "big") + body


def varint(value: int, size: int = 0) -> bytes:
    size = size or next(s for s in (1, 2, 4, 8) if value < 1 << (8 * s - 2))
    return (value | {1: 0, 2: 1, 4: 2, 8: 3}[size] << (8 * size - 2)).to_bytes(size, "big")


def crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def seal(frames: bytes, *, dcid: bytes, scid: bytes = b"", version: int = 1, pn: int = 0, pn_len: int = 2,
         token: bytes = b"", keys_dcid: bytes | None = None, pad_to: int = 1200) -> bytes:
    """A client Initial carrying ``frames``, padded to ``pad_to`` bytes and protected (RFC 9001 §5.3, §5.4)."""
    key, iv, hp = initial_keys(keys_dcid or dcid, version)
    first = 0xC0 | QUIC_VERSIONS[version].initial_bits << 4 | (pn_len - 1)
    head = bytes([first]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    head += varint(len(token)) + token
    overhead = len(head) + 2 + pn_len + 16
    frames += bytes(max(0, pad_to - overhead - len(frames)))
    header = head + varint(pn_len + len(frames) + 16, 2) + (pn % (1 << 8 * pn_len)).to_bytes(pn_len, "big")
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, frames, header)
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sealed[4 - pn_len : 20 - pn_len]) + encryptor.finalize()
    pn_at = len(header) - pn_len
    protected = bytearray(header)
    protected[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        protected[pn_at + i] ^= mask[1 + i]
    return bytes(protected) + sealed


def capture(directory: Path, datagrams: list[tuple[int, bytes]], *, snaplen: int | None = None) -> Path:
    """A pcap of UDP datagrams ``(client port, payload)`` from a client to port 443, cut to ``snaplen``."""
    records = []
    for k, (port, payload) in enumerate(datagrams):
        frame = pg.ethernet(pg.ipv4(pg.udp(payload, sport=port, dport=443), 17), 0x0800)
        records.append((1_700_000_000 + k, 0, len(frame), frame[:snaplen] if snaplen else frame))
    path = directory / "quic.pcap"
    path.write_bytes(pg.pcap_bytes(records, 1))
    return path


def handshakes(directory: Path, datagrams: list[tuple[int, bytes]], *, snaplen: int | None = None):
    """quic_handshakes of such a capture, tracked with a small flow table (a large one takes 0.2 s to set up)."""
    return quic_handshakes(kernelkit.track(capture(directory, datagrams, snaplen=snaplen), data=True, capacity=1024))


# --- RFC vectors ------------------------------------------------------------------------------


def test_rfc9001_initial_keys():
    assert tuple(k.hex() for k in initial_keys(RFC_DCID)) == A1_CLIENT
    assert tuple(k.hex() for k in initial_keys(RFC_DCID, server=True)) == A1_SERVER
    # Drafts 33 and 34 already used the RFC's salt and labels.
    assert tuple(k.hex() for k in initial_keys(RFC_DCID, 0xFF000022)) == A1_CLIENT


def test_rfc9369_initial_keys_use_the_v2_salt_and_labels():
    assert tuple(k.hex() for k in initial_keys(RFC_DCID, V2)) == V2_A1_CLIENT


# draft-ietf-quic-tls-29 Appendix A.1, same DCID: drafts 29 to 32 share its salt.
DRAFT29_A1_CLIENT = ("175257a31eb09dea9366d8bb79ad80ba", "6b26114b9cba2b63a9e8dd4f", "9ddd12c994c0698b89374a9c077a3077")


@pytest.mark.parametrize("draft", [29, 32])
def test_draft29_initial_keys(draft):
    assert tuple(k.hex() for k in initial_keys(RFC_DCID, 0xFF000000 + draft)) == DRAFT29_A1_CLIENT


def test_rfc9001_client_initial_decrypts_to_the_crypto_frame():
    packet = decrypt_initial(A2_PACKET)
    assert packet.header == A2_HEADER
    assert packet.packet_number == 2
    assert packet.payload == A2_PAYLOAD
    assert packet.length == len(A2_PACKET)
    frames, whole = crypto_frames(packet.payload)
    assert whole and [offset for offset, _ in frames] == [0]
    # The frame's data is the frame minus its type (1 byte), offset (1) and length (2).
    assert frames[0][1] == A2_CRYPTO_FRAME[4:]
    # Its extensions name example.com and offer the ALPN protocol "alpn" (0010 0007 0005 04 616c706e).
    assert hello_names(frames[0][1]) == ("example.com", ["alpn"])


def test_rfc9369_client_initial_decrypts_to_the_same_frames():
    packet = decrypt_initial(V2_A2_PACKET)
    assert (packet.header, packet.packet_number, packet.payload) == (V2_A2_HEADER, 2, A2_PAYLOAD)


def test_rfc9001_server_initial_ack_then_crypto():
    packet = decrypt_initial(A3_PACKET, RFC_DCID, server=True)
    assert (packet.header, packet.packet_number, packet.payload) == (A3_HEADER, 1, A3_PAYLOAD)
    frames, whole = crypto_frames(packet.payload)
    # The ACK (02 00 00 00 00) is read past; the CRYPTO frame (06 00 40 5a) follows it.
    assert whole and frames == [(0, A3_PAYLOAD[9:])]
    assert frames[0][1][0] == 2  # ServerHello


@pytest.mark.parametrize("version", [1, V2])
def test_rfc_packet_through_a_capture(tmp_path, version):
    packet = A2_PACKET if version == 1 else V2_A2_PACKET
    table = handshakes(tmp_path, [(50000, packet)])
    assert table.height == 1
    row = table.row(0, named=True)
    assert row["status"] == "ok"
    assert (row["quic_version"], row["quic_version_name"]) == (version, "QUICv1" if version == 1 else "QUICv2")
    assert (row["dcid"], row["scid"]) == (RFC_DCID.hex(), "")
    assert row["client_hello"] == A2_CRYPTO_FRAME[4:]
    assert row["initial_packets"] == 1
    if HAVE_TLS:
        assert (row["sni"], row["alpn"]) == ("example.com", "alpn")


def test_sealer_reproduces_the_rfc_packet():
    # seal() stands in for a QUIC client below: it must produce A.2 byte for byte.
    sealed = seal(A2_PAYLOAD, dcid=RFC_DCID, pn=2, pn_len=4, pad_to=0)
    assert sealed == A2_PACKET


# --- synthetic handshakes ---------------------------------------------------------------------


def test_client_hello_split_over_two_initials_out_of_order(tmp_path):
    # As Chromium does with a large (post-quantum) key share: two Initials, CRYPTO
    # frames out of order inside a packet, PING and PADDING between them, an ACK.
    hello = make_hello("split.example", ["h3", "h3-29"], padding=1500)
    a, b = 700, 1300
    first = seal(crypto(a, hello[a:b]) + b"\x01" + bytes(5) + crypto(0, hello[:a]), dcid=b"\x11" * 8, pn=0)
    second = seal(b"\x02\x00\x00\x00\x00" + crypto(b, hello[b:]), dcid=b"\x11" * 8, pn=1)
    table = handshakes(tmp_path, [(40000, first), (40000, second)])
    row = table.row(0, named=True)
    assert (table.height, row["status"], row["initial_packets"]) == (1, "ok", 2)
    assert row["client_hello"] == hello
    assert hello_names(row["client_hello"]) == ("split.example", ["h3", "h3-29"])
    if HAVE_TLS:
        assert (row["sni"], row["alpn"], row["alpn_offered"]) == ("split.example", "h3", ["h3", "h3-29"])
        assert row["ja4"].startswith("q13d")


def test_coalesced_initials_in_one_datagram(tmp_path):
    hello = make_hello("coalesced.example", ["h3"])
    one = seal(crypto(0, hello[:40]), dcid=b"\x22" * 8, pn=0, pad_to=0)
    two = seal(crypto(40, hello[40:]), dcid=b"\x22" * 8, pn=1, pad_to=1200 - len(one))
    row = handshakes(tmp_path, [(40001, one + two)]).row(0, named=True)
    assert (row["status"], row["initial_packets"], row["client_hello"]) == ("ok", 2, hello)


@pytest.mark.parametrize(("version", "name"), [(0xFF00001D, "draft-29"), (0xFF000022, "draft-34"), (V2, "QUICv2")])
def test_other_versions(tmp_path, version, name):
    hello = make_hello("v.example", ["h3"])
    table = handshakes(tmp_path, [(40002, seal(crypto(0, hello), dcid=b"\x33" * 8, version=version))])
    row = table.row(0, named=True)
    assert (row["status"], row["quic_version"], row["quic_version_name"]) == ("ok", version, name)
    assert row["client_hello"] == hello


def test_retry_then_initial_with_new_dcid(tmp_path):
    # After a Retry the client's keys derive from the Retry's connection ID.
    hello = make_hello("retry.example", ["h3"])
    before = seal(crypto(0, hello[:50]), dcid=b"\x44" * 8, pn=0)
    after = seal(crypto(0, hello), dcid=b"\x55" * 8, pn=1, token=b"retry-token")
    row = handshakes(tmp_path, [(40003, before), (40003, after)]).row(0, named=True)
    assert (row["status"], row["dcid"], row["client_hello"]) == ("ok", "44" * 8, hello)


def test_statuses(tmp_path):
    hello = make_hello("status.example", ["h3"])
    good = seal(crypto(0, hello), dcid=b"\x66" * 8)
    forged = good[:-1] + bytes([good[-1] ^ 1])  # the AEAD tag no longer verifies
    half = seal(crypto(0, hello[:60]), dcid=b"\x77" * 8)  # the rest never comes
    not_hello = seal(crypto(0, b"\x02" + hello[1:]), dcid=b"\x88" * 8)  # a ServerHello type
    unknown = bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + b"\x08" + b"\x99" * 8 + b"\x00" + bytes(1200)
    # Not QUIC attempts: an unknown version not padded like an Initial, and an
    # RTP packet (version 2 in the top bits: long-header bit set, fixed bit clear).
    small_unknown = unknown[:300]
    rtp = bytes([0x80, 0x60]) + bytes(1300)
    datagrams = [(1, forged), (2, half), (3, not_hello), (4, unknown), (5, small_unknown), (9, rtp), (6, good)]
    table = handshakes(tmp_path, datagrams)
    assert table["status"].to_list() == [
        "not_decryptable", "truncated", "malformed", "unsupported_version", "ok"]
    assert table.filter(status="unsupported_version")["quic_version_name"].to_list() == ["grease"]


def test_version_negotiation_then_v1(tmp_path):
    hello = make_hello("vn.example", ["h3"])
    unknown = bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + b"\x08" + b"\x99" * 8 + b"\x00" + bytes(1200)
    table = handshakes(tmp_path, [(7, unknown), (7, seal(crypto(0, hello), dcid=b"\xaa" * 8))])
    assert table.select("quic_version_name", "dcid", "status").rows() == [("QUICv1", "aa" * 8, "ok")]


def test_snaplen_cut_initial_is_truncated(tmp_path):
    packet = seal(crypto(0, make_hello("cut.example", ["h3"])), dcid=b"\xbb" * 8)
    table = handshakes(tmp_path, [(8, packet)], snaplen=14 + 20 + 8 + 200)
    assert table.select("dcid", "status").rows() == [("bb" * 8, "truncated")]


# --- tshark on the real captures --------------------------------------------------------------

REAL = {
    "zeek__quic__chromium-115.0.5790.110-api-cirrus-com.pcap": "api.cirrus-ci.com",
    "zeek__quic__firefox-102.13.0esr-blog-cloudflare-com.pcap": "blog.cloudflare.com",
    "tcpdump__quic_handshake.pcap": "localhost",
}
TSHARK_FIELDS = (
    "frame.number", "udp.stream", "udp.srcport", "quic.long.packet_type", "quic.version", "quic.dcid",
    "quic.scid", "quic.frame_type", "tls.handshake.type", "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
    "tls.handshake.extensions.supported_version",
)
COMPARED = ("quic_version", "dcid", "scid", "initial_packets", "sni", "alpn", "alpn_offered")
WITH_TLS = ("sni (tls module)", "alpn (tls module)", "alpn_offered (tls module)", "ja4_a", "ja4_b")


def _grease(value: int) -> bool:
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF  # RFC 8701


def _numbers(text: str) -> list[int]:
    return [int(v, 0) for v in text.split(",")] if text else []


def _ja4_ab(f: dict) -> tuple[str, str]:
    """The first two parts of JA4 (FoxIO's JA4.md), from tshark's dissection of the ClientHello."""
    ciphers = [c for c in _numbers(f["tls.handshake.ciphersuite"]) if not _grease(c)]
    extensions = [e for e in _numbers(f["tls.handshake.extension.type"]) if not _grease(e)]
    versions = [v for v in _numbers(f["tls.handshake.extensions.supported_version"]) if not _grease(v)]
    alpn = f["tls.handshake.extensions_alpn_str"].split(",")[0]
    a = ("q" + {0x0304: "13", 0x0303: "12"}[max(versions)]
         + ("d" if 0 in extensions else "i") + f"{len(ciphers):02d}{len(extensions):02d}"
         + (alpn[0] + alpn[-1] if alpn else "00"))
    b = hashlib.sha256(",".join(f"{c:04x}" for c in sorted(ciphers)).encode()).hexdigest()[:12]
    return a, b


def tshark_handshakes(path: Path) -> dict[int, dict]:
    """tshark's view of each UDP stream's first client Initial, by frame number.

    The client is the sender of the stream's first frame, as in kernelkit's
    flows. SNI, ALPN and the JA4 parts come from the client Initial where
    tshark dissected the ClientHello (after reassembling the CRYPTO stream);
    ``initial_packets`` counts the client Initials with a CRYPTO frame (type 6)
    up to that one.
    """
    command = [TSHARK, "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
               "-E", "aggregator=,"]
    for name in TSHARK_FIELDS:
        command += ["-e", name]
    # tshark exits with 2 on a capture cut short, after printing the frames it read: keep those.
    lines = subprocess.run(command, capture_output=True, text=True, check=False).stdout.splitlines()
    streams: dict[str, dict] = {}
    for line in lines:
        f = dict(zip(TSHARK_FIELDS, line.split("\t")))
        if not f["udp.stream"]:
            continue
        stream = streams.setdefault(f["udp.stream"], {"client": f["udp.srcport"], "row": None, "hello": False})
        if f["udp.srcport"] != stream["client"] or f["quic.long.packet_type"].split(",")[0] != "0":
            continue
        if stream["row"] is None:
            stream["row"] = {
                "frame": int(f["frame.number"]),
                "quic_version": int(f["quic.version"].split(",")[0], 16),
                "dcid": f["quic.dcid"].split(",")[0],
                "scid": f["quic.scid"].split(",")[0],
                "initial_packets": 0, "sni": None, "alpn": None, "alpn_offered": [], "ja4_a": None, "ja4_b": None,
            }
        if stream["hello"]:
            continue
        stream["row"]["initial_packets"] += "6" in f["quic.frame_type"].split(",")
        if "1" in f["tls.handshake.type"].split(","):
            stream["hello"] = True
            offered = f["tls.handshake.extensions_alpn_str"].split(",") if f["tls.handshake.extensions_alpn_str"] else []
            ja4_a, ja4_b = _ja4_ab(f)
            stream["row"].update(sni=f["tls.handshake.extensions_server_name"] or None,
                                 alpn=offered[0] if offered else None, alpn_offered=offered, ja4_a=ja4_a, ja4_b=ja4_b)
    return {s["row"]["frame"]: s["row"] for s in streams.values() if s["row"] is not None}


def agreement(path: Path) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(rows here, rows in tshark, {field: (compared, agreed)}) for one capture.

    SNI and ALPN are read from the ``client_hello`` bytes by ``hello_names``
    here, and also from the TLS module's columns when that module exists.
    """
    ours = quic_handshakes(path)
    theirs = tshark_handshakes(path)
    fields = COMPARED + (WITH_TLS if HAVE_TLS else ())
    counts = {name: [0, 0] for name in fields}
    for row in ours.iter_rows(named=True):
        expected = theirs.get(row["packet"] + 1)  # packet rows count from 0, tshark frames from 1
        if expected is None:
            continue
        sni, alpn = hello_names(row["client_hello"]) if row["client_hello"] else (None, [])
        ja4 = (row["ja4"] or "__").split("_")
        got = {**row, "sni": sni, "alpn": alpn[0] if alpn else None, "alpn_offered": alpn,
               "sni (tls module)": row["sni"], "alpn (tls module)": row["alpn"],
               "alpn_offered (tls module)": row["alpn_offered"], "ja4_a": ja4[0], "ja4_b": ja4[1]}
        for name in fields:
            counts[name][0] += 1
            counts[name][1] += got[name] == expected[name.removesuffix(" (tls module)")]
    return ours.height, len(theirs), {k: (v[0], v[1]) for k, v in counts.items()}


@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@pytest.mark.parametrize("name", list(REAL))
def test_agrees_with_tshark(name):
    path = shared_trace(name)
    rows, tshark_rows, fields = agreement(path)
    assert rows == tshark_rows >= 1
    for field_name, (compared, agreed) in fields.items():
        assert compared == tshark_rows and agreed == compared, (field_name, compared, agreed)


ALL = shared_traces()


@pytest.mark.slow
@pytest.mark.skipif(TSHARK is None, reason=SKIP_REASON)
@pytest.mark.parametrize("path", ALL, ids=[p.name[-50:] for p in ALL])
def test_rows_only_where_tshark_sees_a_client_initial(path):
    # Every other capture (DNS, games, tunnels, damaged files) must give no row:
    # a false QUIC attempt is as wrong as a missed one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged captures warn; that is their point, not this test's
        # A smaller flow table than the default 2^20 slots: set-up time dominates on these small captures.
        table = quic_handshakes(kernelkit.track(path, data=True, capacity=1 << 16))
    assert sorted(table["packet"] + 1) == sorted(tshark_handshakes(path))


@pytest.mark.parametrize(("name", "sni"), list(REAL.items()))
def test_real_captures_without_tshark(name, sni):
    # The SNI each capture is documented to carry (traces/SOURCES.md).
    table = quic_handshakes(shared_trace(name))
    assert table["status"].to_list() == ["ok"]
    assert hello_names(table["client_hello"][0])[0] == sni


# --- robustness -------------------------------------------------------------------------------


@functools.cache
def _real_client_datagrams() -> list[bytes]:
    """The first client datagram of each real capture, and the Initials that follow it."""
    out = []
    for name in REAL:
        udp = udp_payloads(session_packets(shared_trace(name)))
        client = udp.filter(direction=0)["payload"].to_list()
        out += [p for p in client if p and p[0] & 0x80][:2]
    return out


mutation = st.tuples(
    st.lists(st.tuples(st.integers(0, 1299), st.integers(1, 255)), max_size=6),  # byte flips
    st.one_of(st.none(), st.integers(0, 1300)),  # cut at
)


def _check_no_escape(datagrams: list[tuple[int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        table = handshakes(Path(directory), datagrams)
    assert set(table["status"].to_list()) <= set(STATUSES)
    assert table.height <= len({port for port, _ in datagrams})
    for row in table.filter(status="ok").iter_rows(named=True):
        assert row["client_hello"][0] == 1


@settings(max_examples=int(os.environ.get("KERNELKIT_QUIC_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_initials(data):
    datagrams = _real_client_datagrams()
    chosen = data.draw(st.lists(st.sampled_from(range(len(datagrams))), min_size=1, max_size=3))
    mutated = []
    for k in chosen:
        flips, cut = data.draw(mutation)
        packet = bytearray(datagrams[k])
        for at, value in flips:
            if at < len(packet):
                packet[at] ^= value
        mutated.append((1000 + k, bytes(packet[:cut])))
    _check_no_escape(mutated)


@settings(max_examples=int(os.environ.get("KERNELKIT_QUIC_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.binary(max_size=40), max_size=6), flips=mutation)
def test_mutated_frames_inside_valid_protection(frames, flips):
    # Damage that the AEAD tag cannot catch: well-protected Initials whose frames
    # are garbage, or a CRYPTO frame with flipped bytes (forged lengths, offsets).
    hello_frame = bytearray(crypto(0, make_hello("fuzz.example", ["h3"])))
    for at, value in flips[0]:
        if at < len(hello_frame):
            hello_frame[at] ^= value
    payload = bytes(hello_frame[: flips[1]]) + b"".join(frames)
    datagrams = [(2000, seal(payload or b"\x01", dcid=b"\xcc" * 8, pn=0))]
    datagrams += [(2000, seal(frame or b"\x01", dcid=b"\xcc" * 8, pn=1 + k)) for k, frame in enumerate(frames)]
    _check_no_escape(datagrams)


if __name__ == "__main__":
    from tests.traces import SHARED

    print("| capture | field | compared | agreed |\n| --- | --- | --- | --- |")
    for name in REAL:
        rows, tshark_rows, fields = agreement(SHARED / name)
        print(f"| {name} | rows: tshark, kernelkit | {tshark_rows} | {rows} |")
        for field_name, (compared, agreed) in fields.items():
            print(f"| {name} | {field_name} | {compared} | {agreed} |")
