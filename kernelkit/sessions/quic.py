"""QUIC handshakes: the client's Initial packets decrypted, and the ClientHello they carry.

A QUIC client's first packets are encrypted with keys that anyone can derive
from the packet itself (RFC 9001 §5.2: the initial salt of the version and the
Destination Connection ID the client chose), so a passive observer can read the
TLS ClientHello inside them: server name, ALPN, and everything a JA4 fingerprint
needs. This module finds the client Initial packets of each UDP flow, removes
their protection, reassembles the CRYPTO stream and hands the ClientHello to
:func:`kernelkit.sessions.tls.parse_client_hello`.

Only Initial packets are decrypted: they are a handful per connection, so the
per-packet work is plain Python with ``cryptography``, after a Polars filter
has kept only the datagrams that start with a client Initial.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .source import session_packets
from .streams import udp_payloads

#: What a row's ``status`` says, and why.
STATUSES: dict[str, str] = {
    "ok": "the client's ClientHello was decrypted, reassembled and parsed",
    "truncated": "an Initial, or the CRYPTO stream, ends before the ClientHello does (snaplen, loss, capture start)",
    "not_decryptable": "no client Initial of the flow decrypts with the version's initial keys",
    "unsupported_version": "the client's long-header packets use a version whose Initial keys are unknown here",
    "malformed": "the Initials decrypt, but their frames or the ClientHello in them do not parse",
}

# Bytes of a CRYPTO stream kept per connection: a ClientHello with a post-quantum
# key share is about 2 KB, so this leaves room without letting a forged offset
# (a 62-bit varint) allocate gigabytes.
CRYPTO_CAPACITY = 1 << 17

# RFC 9000 §14.1: a client pads every datagram with an Initial to 1200 bytes. An
# unknown version is only taken for a QUIC attempt at that size, so that random
# UDP payloads with the top bit set do not become rows.
MIN_INITIAL_DATAGRAM = 1200

# Long-header packet kinds, as RFC 9000 numbers them for version 1.
INITIAL, ZERO_RTT, HANDSHAKE, RETRY = 0, 1, 2, 3


@dataclass(frozen=True)
class QuicVersion:
    """What Initial decryption needs to know about a QUIC version.

    ``initial_bits`` is the value of the long header's type bits for an
    Initial packet (0 in version 1, 1 in version 2: RFC 9369 §3.2); the other
    kinds follow it in the order Initial, 0-RTT, Handshake, Retry.
    """

    number: int
    name: str
    salt: bytes
    label_prefix: str
    initial_bits: int


_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # RFC 9001 §5.2
_SALT_DRAFT29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # draft-ietf-quic-tls-29..32
_SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")  # RFC 9369 §3.3.1

#: The versions whose Initials can be decrypted, by version number.
QUIC_VERSIONS: dict[int, QuicVersion] = {
    0x00000001: QuicVersion(0x00000001, "QUICv1", _SALT_V1, "quic", 0),
    0x6B3343CF: QuicVersion(0x6B3343CF, "QUICv2", _SALT_V2, "quicv2", 1),
    # Drafts 29 to 32 share draft 29's salt; 33 and 34 already use version 1's.
    **{
        0xFF000000 + n: QuicVersion(0xFF000000 + n, f"draft-{n}", _SALT_DRAFT29 if n <= 32 else _SALT_V1, "quic", 0)
        for n in range(29, 35)
    },
}


def version_name(number: int) -> str:
    """A readable name for a QUIC version number.

    Known versions by name (``QUICv1``, ``QUICv2``, ``draft-29``); other IETF
    drafts as ``draft-N``; Google QUIC versions by their ASCII tag (``Q050``,
    ``T051``); reserved versions that exercise version negotiation (RFC 9000
    §15, ``0x?a?a?a?a``) as ``grease``; version 0 as ``negotiation``; anything
    else as hex.

    Examples
    --------
    >>> from kernelkit.sessions.quic import version_name
    >>> version_name(1), version_name(0xFF00001D), version_name(0x51303530), version_name(0x1A2A3A4A)
    ('QUICv1', 'draft-29', 'Q050', 'grease')
    """
    if number in QUIC_VERSIONS:
        return QUIC_VERSIONS[number].name
    if number == 0:
        return "negotiation"
    if number & 0x0F0F0F0F == 0x0A0A0A0A:
        return "grease"
    if number >> 8 == 0xFF0000:
        return f"draft-{number & 0xFF}"
    tag = number.to_bytes(4, "big")
    if tag[:1] in (b"Q", b"T") and tag[1:].isdigit():
        return tag.decode()
    return f"0x{number:08x}"


def _quic_like(number: int) -> bool:
    """Whether an unknown version number belongs to a family QUIC implementations use.

    The IETF range and drafts (RFC 9000 §15), the versions reserved to force
    version negotiation, Google QUIC (``Q0xx``, ``T0xx``), Facebook's mvfst
    (``0xfaceb00x``) and the QUIC v2 drafts: DNS, games and media over UDP
    seldom start with such a version where a long header would carry it.
    """
    tag = number.to_bytes(4, "big")
    return (
        0 < number <= 0xFFFF
        or number >> 8 == 0xFF0000
        or number >> 16 == 0xFF02  # QUIC v2 drafts before RFC 9369
        or number & 0x0F0F0F0F == 0x0A0A0A0A
        or (tag[:1] in (b"Q", b"T") and tag[1:].isdigit())
        or number >> 4 == 0xFACEB00
        or number == 0x709A50C4
    )


# --- keys (RFC 9001 §5) ----------------------------------------------------------------------


def _hkdf_expand_label(secret: bytes, label: str, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256 and an empty context."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


class InitialKeys(NamedTuple):
    """The packet protection keys of one side's Initial packets."""

    key: bytes
    iv: bytes
    hp: bytes


@lru_cache(maxsize=4096)
def initial_keys(dcid: bytes, version: int = 1, *, server: bool = False) -> InitialKeys:
    """The Initial packet protection keys for a client's first Destination Connection ID.

    Parameters
    ----------
    dcid : bytes
        The Destination Connection ID of the client's first Initial packet.
    version : int
        The QUIC version number (a key of :data:`QUIC_VERSIONS`).
    server : bool
        The server's keys ("server in") instead of the client's ("client in").

    Returns
    -------
    InitialKeys
        AEAD key (16 bytes), IV (12 bytes) and header protection key (16 bytes).

    Notes
    -----
    initial_secret = HKDF-Extract(salt, dcid); the client's secret is
    HKDF-Expand-Label(initial_secret, "client in", "", 32), and key, IV and HP
    key are expanded from it with the labels "quic key", "quic iv", "quic hp"
    (RFC 9001 §5.1–5.2), or "quicv2 key", "quicv2 iv", "quicv2 hp" for QUIC
    version 2 (RFC 9369 §3.3.2).

    Examples
    --------
    >>> from kernelkit.sessions.quic import initial_keys
    >>> initial_keys(bytes.fromhex("8394c8f03e515708")).key.hex()  # RFC 9001 A.1
    '1f369613dd76d5467730efcbe3b1a22d'
    """
    info = QUIC_VERSIONS.get(version)
    if info is None:
        raise ValueError(f"no initial salt known for QUIC version 0x{version:08x}")
    initial_secret = hmac.new(info.salt, dcid, hashlib.sha256).digest()  # HKDF-Extract
    secret = _hkdf_expand_label(initial_secret, "server in" if server else "client in", 32)
    prefix = info.label_prefix
    return InitialKeys(
        _hkdf_expand_label(secret, f"{prefix} key", 16),
        _hkdf_expand_label(secret, f"{prefix} iv", 12),
        _hkdf_expand_label(secret, f"{prefix} hp", 16),
    )


@lru_cache(maxsize=4096)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(key)


@lru_cache(maxsize=4096)
def _hp_cipher(hp: bytes) -> Cipher:
    return Cipher(algorithms.AES(hp), modes.ECB())


# --- long headers (RFC 9000 §17.2) -------------------------------------------------------------


class InitialError(ValueError):
    """A packet that could not be read; ``status`` is a key of :data:`STATUSES`."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A QUIC variable-length integer at ``pos`` (RFC 9000 §16), and the position after it."""
    if pos >= end:
        raise InitialError("truncated", "a variable-length integer starts past the end")
    size = 1 << (data[pos] >> 6)
    if pos + size > end:
        raise InitialError("truncated", "a variable-length integer runs past the end")
    return int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1), pos + size


@dataclass
class LongHeader:
    """The fields of a long-header packet before header protection is removed.

    ``kind`` is :data:`INITIAL`, :data:`ZERO_RTT`, :data:`HANDSHAKE` or
    :data:`RETRY` for a known version, None for an unknown one (only the
    version-independent fields of RFC 8999 are then read). ``pn_offset`` and
    ``end`` are positions in the datagram: where the protected packet number
    starts and where the packet ends (the datagram's end when it has no Length
    field); ``cut`` says the Length field points past the captured bytes.
    """

    start: int
    version: int
    dcid: bytes
    scid: bytes
    kind: int | None
    pn_offset: int
    end: int
    cut: bool


def _long_header(data: bytes, start: int) -> LongHeader:
    """Parse the long header at ``data[start]``; raises :class:`InitialError` when it is cut short."""
    end = len(data)
    if start + 7 > end:
        raise InitialError("truncated", "a long header needs at least 7 bytes")
    first = data[start]
    version = int.from_bytes(data[start + 1 : start + 5], "big")
    pos = start + 5
    dcid_len = data[pos]
    if pos + 1 + dcid_len + 1 > end:
        raise InitialError("truncated", "the capture ends inside the Destination Connection ID")
    dcid = bytes(data[pos + 1 : pos + 1 + dcid_len])
    pos += 1 + dcid_len
    scid_len = data[pos]
    if pos + 1 + scid_len > end:
        raise InitialError("truncated", "the capture ends inside the Source Connection ID")
    scid = bytes(data[pos + 1 : pos + 1 + scid_len])
    pos += 1 + scid_len
    info = QUIC_VERSIONS.get(version)
    if info is None:
        # Version negotiation or an unknown version: nothing after the IDs is known.
        return LongHeader(start, version, dcid, scid, None, pos, end, False)
    if dcid_len > 20 or scid_len > 20:
        raise InitialError("malformed", "a connection ID longer than 20 bytes (RFC 9000 §17.2)")
    kind = (((first >> 4) & 0x03) - info.initial_bits) % 4
    if kind == RETRY:
        return LongHeader(start, version, dcid, scid, kind, pos, end, False)
    if kind == INITIAL:
        token_len, pos = _varint(data, pos, end)
        pos += token_len
    length, pos = _varint(data, pos, end)
    return LongHeader(start, version, dcid, scid, kind, pos, pos + length, pos + length > end)


def _split_datagram(data: bytes) -> tuple[list[LongHeader], str | None]:
    """The long-header packets coalesced in a datagram (RFC 9000 §12.2), and why the walk stopped early.

    The walk ends at a short-header packet, at a packet without a Length field
    (Retry, version negotiation, unknown version), at trailing zero padding, or
    at a header it cannot read; the second value is that header's status.
    """
    headers: list[LongHeader] = []
    pos = 0
    while pos < len(data) and data[pos] & 0x80:
        try:
            header = _long_header(data, pos)
        except InitialError as error:
            return headers, error.status
        headers.append(header)
        if header.cut or header.end >= len(data) or header.kind is None or header.kind == RETRY:
            break
        pos = header.end
    return headers, None


class DecryptedPacket(NamedTuple):
    """A long-header packet with its protection removed."""

    header: bytes
    packet_number: int
    payload: bytes
    length: int


def _decode_packet_number(truncated: int, nbits: int, largest: int) -> int:
    """RFC 9000 Appendix A.3: the full packet number closest to the next expected one."""
    expected = largest + 1
    window = 1 << nbits
    half = window // 2
    candidate = (expected & ~(window - 1)) | truncated
    if candidate <= expected - half and candidate < (1 << 62) - window:
        return candidate + window
    if candidate > expected + half and candidate >= window:
        return candidate - window
    return candidate


def _unprotect(data: bytes, header: LongHeader, keys: InitialKeys, largest_pn: int) -> DecryptedPacket:
    if header.cut:
        raise InitialError("truncated", "the packet's Length runs past the captured bytes")
    pn_offset = header.pn_offset
    # RFC 9001 §5.4.2: the sample starts 4 bytes after the packet number's start.
    if pn_offset + 4 + 16 > header.end:
        raise InitialError("malformed", "the packet is too short to hold a header protection sample")
    encryptor = _hp_cipher(keys.hp).encryptor()
    mask = encryptor.update(bytes(data[pn_offset + 4 : pn_offset + 20])) + encryptor.finalize()
    first = data[header.start] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(data[pn_offset : pn_offset + pn_len], mask[1 : 1 + pn_len]))
    packet_number = _decode_packet_number(int.from_bytes(pn_bytes, "big"), 8 * pn_len, largest_pn)
    unprotected = bytes([first]) + bytes(data[header.start + 1 : pn_offset]) + pn_bytes
    nonce = (int.from_bytes(keys.iv, "big") ^ packet_number).to_bytes(12, "big")
    ciphertext = bytes(data[pn_offset + pn_len : header.end])
    try:
        payload = _aead(keys.key).decrypt(nonce, ciphertext, unprotected)
    except InvalidTag:
        raise InitialError("not_decryptable", "the AEAD tag does not verify with the initial keys") from None
    return DecryptedPacket(unprotected, packet_number, payload, header.end - header.start)


def decrypt_initial(
    packet: bytes, dcid: bytes | None = None, *, largest_pn: int = -1, server: bool = False
) -> DecryptedPacket:
    """Remove the protection of one Initial packet (the first packet of ``packet``).

    Parameters
    ----------
    packet : bytes
        A UDP payload that starts with an Initial packet; coalesced packets
        after it are left alone (``length`` tells where the next one starts).
    dcid : bytes, optional
        The Destination Connection ID the keys derive from: the client's first
        one. By default the packet's own, right for a client's first Initial.
    largest_pn : int
        The largest packet number received so far in the Initial space, from
        which the truncated packet number is expanded (RFC 9000 A.3).
    server : bool
        Decrypt with the server's Initial keys.

    Returns
    -------
    DecryptedPacket
        ``header`` (unprotected, up to the packet number), ``packet_number``,
        ``payload`` (the frames), ``length`` (bytes of the datagram the packet took).

    Raises
    ------
    InitialError
        With ``status`` ``truncated``, ``malformed``, ``not_decryptable`` or
        ``unsupported_version``, or when the packet is not an Initial.

    Examples
    --------
    A version 1 Initial whose Length (0x4100: 256 bytes) runs past the bytes at hand:

    >>> from kernelkit.sessions.quic import InitialError, decrypt_initial
    >>> try:
    ...     decrypt_initial(bytes.fromhex("c000000001" "08" "0011223344556677" "00" "00" "4100") + bytes(40))
    ... except InitialError as error:
    ...     print(error.status)
    truncated
    """
    if not packet or not packet[0] & 0x80:
        raise InitialError("malformed", "not a long-header packet")
    header = _long_header(packet, 0)
    if header.kind is None:
        raise InitialError("unsupported_version", f"no initial keys for {version_name(header.version)}")
    if header.kind != INITIAL:
        raise InitialError("malformed", "not an Initial packet")
    keys = initial_keys(header.dcid if dcid is None else bytes(dcid), header.version, server=server)
    return _unprotect(packet, header, keys, largest_pn)


# --- frames and the CRYPTO stream (RFC 9000 §19) -----------------------------------------------


def crypto_frames(payload: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """The CRYPTO frames of an Initial packet's payload, as ``(offset, data)``.

    PADDING, PING, ACK and CONNECTION_CLOSE frames are read past; they are the
    only other frames an Initial may carry (RFC 9000 §12.4, Table 3).

    Returns
    -------
    frames : list of (int, bytes)
        The CRYPTO frames in the order they appear.
    whole : bool
        False when the payload holds a frame that an Initial may not carry, or
        a frame cut short: the frames after it are unknown.

    Examples
    --------
    >>> from kernelkit.sessions.quic import crypto_frames
    >>> crypto_frames(bytes.fromhex("01" "0200000000" "0602020304" "06000201020000"))  # PING, ACK, CRYPTO x2, PADDING
    ([(2, b'\\x03\\x04'), (0, b'\\x01\\x02')], True)
    """
    frames: list[tuple[int, bytes]] = []
    pos, end = 0, len(payload)
    try:
        while pos < end:
            kind = payload[pos]
            if kind == 0x00:  # PADDING: usually the whole tail, skipped at once
                rest = payload[pos:].lstrip(b"\x00")
                pos = end - len(rest)
            elif kind == 0x01:  # PING
                pos += 1
            elif kind in (0x02, 0x03):  # ACK, ACK with ECN counts
                _, pos = _varint(payload, pos + 1, end)  # largest acknowledged
                _, pos = _varint(payload, pos, end)  # ack delay
                ranges, pos = _varint(payload, pos, end)
                _, pos = _varint(payload, pos, end)  # first range
                for _ in range(2 * ranges + (3 if kind == 0x03 else 0)):
                    _, pos = _varint(payload, pos, end)
            elif kind == 0x06:  # CRYPTO
                offset, pos = _varint(payload, pos + 1, end)
                length, pos = _varint(payload, pos, end)
                if pos + length > end:
                    return frames, False
                frames.append((offset, bytes(payload[pos : pos + length])))
                pos += length
            elif kind in (0x1C, 0x1D):  # CONNECTION_CLOSE (transport, application)
                _, pos = _varint(payload, pos + 1, end)  # error code
                if kind == 0x1C:
                    _, pos = _varint(payload, pos, end)  # frame type
                reason, pos = _varint(payload, pos, end)
                if pos + reason > end:
                    return frames, False
                pos += reason
            else:
                return frames, False
    except InitialError:
        return frames, False
    return frames, True


class _CryptoStream:
    """The Initial CRYPTO stream of one connection, reassembled by offset."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.held = bytearray()  # 1 where data holds a received byte

    def add(self, offset: int, chunk: bytes) -> tuple[int, bool]:
        """Store a CRYPTO frame; returns (bytes new to the stream, whether it all fitted)."""
        stop = min(offset + len(chunk), CRYPTO_CAPACITY)
        if stop <= offset:
            return 0, not chunk
        if stop > len(self.data):
            grow = stop - len(self.data)
            self.data += bytes(grow)
            self.held += bytes(grow)
        new = self.held[offset:stop].count(0)
        self.data[offset:stop] = chunk[: stop - offset]
        self.held[offset:stop] = b"\x01" * (stop - offset)
        return new, stop == offset + len(chunk)

    def contiguous(self) -> int:
        """Bytes held from offset 0 without a gap."""
        hole = self.held.find(0)
        return len(self.held) if hole < 0 else hole

    def client_hello(self) -> bytes | None:
        """The whole first handshake message (type, 3-byte length, body), once every byte of it is in."""
        have = self.contiguous()
        if have < 4:
            return None
        need = 4 + int.from_bytes(self.data[1:4], "big")
        return bytes(self.data[:need]) if have >= need else None


# --- connections -----------------------------------------------------------------------------


@dataclass
class _Attempt:
    """What is known of one flow's QUIC handshake attempt so far."""

    flow_id: int
    packet: int
    version: int
    dcid: bytes | None
    scid: bytes | None
    supported: bool
    stream: _CryptoStream = field(default_factory=_CryptoStream)
    largest_pn: int = -1
    used: int = 0
    decrypted: int = 0
    truncated: bool = False
    malformed: bool = False
    hello: bytes | None = None

    def read(self, data: bytes, header: LongHeader) -> None:
        """Decrypt one client Initial of this attempt and take its CRYPTO frames."""
        try:
            packet = _unprotect(data, header, initial_keys(self.dcid, self.version), self.largest_pn)
        except InitialError as error:
            if error.status != "not_decryptable" or header.dcid == self.dcid:
                self.truncated |= error.status == "truncated"
                self.malformed |= error.status == "malformed"
                return
            # After a Retry the client derives new keys from the DCID the Retry gave it.
            try:
                packet = _unprotect(data, header, initial_keys(header.dcid, self.version), self.largest_pn)
            except InitialError:
                return
        self.decrypted += 1
        self.largest_pn = max(self.largest_pn, packet.packet_number)
        frames, whole = crypto_frames(packet.payload)
        self.malformed |= not whole
        added = 0
        for offset, chunk in frames:
            new, fitted = self.stream.add(offset, chunk)
            added += new
            self.truncated |= not fitted
        self.used += added > 0
        self.hello = self.stream.client_hello()

    def status(self) -> str:
        if not self.supported:
            return "unsupported_version"
        if self.hello is not None:
            return "ok" if self.hello[0] == 1 else "malformed"
        if self.stream.contiguous() >= 1 and self.stream.data[0] != 1:
            return "malformed"  # the client's first handshake message must be a ClientHello
        if self.decrypted or self.truncated:
            return "truncated"
        return "malformed" if self.malformed else "not_decryptable"


def _client_initial_datagrams(udp: pl.DataFrame, payload_len: pl.Series) -> pl.DataFrame:
    """The originators' datagrams that start with a long-header packet worth decrypting.

    Kept: Initials of a known version (their type bits depend on the version),
    and datagrams of an unknown, non-zero version padded like a client Initial
    (:func:`_quic_like` then checks the version in Python, on these few).
    """
    head = pl.col("payload").bin.slice(0, 5).bin.encode("hex")
    first = head.str.slice(0, 2).str.to_integer(base=16, strict=False)
    version = head.str.slice(2, 8).str.to_integer(base=16, strict=False)
    v2 = [n for n, v in QUIC_VERSIONS.items() if v.initial_bits == 1]
    v1_like = [n for n, v in QUIC_VERSIONS.items() if v.initial_bits == 0]
    type_bits = (first // 16) % 4
    return (
        udp.with_columns(payload_len=payload_len)
        .filter(
            (pl.col("direction") == 0)
            & (head.str.len_bytes() == 10)
            & (first >= 0x80)  # long header
        )
        .filter(
            (version.is_in(v1_like) & (type_bits == 0))
            | (version.is_in(v2) & (type_bits == 1))
            # The fixed bit as well: it keeps out RTP (first byte 10xxxxxx) and the like.
            | (~version.is_in(list(QUIC_VERSIONS)) & (version != 0) & (first >= 0xC0)
               & (pl.col("payload_len") >= MIN_INITIAL_DATAGRAM))
        )
    )


def _walk(candidates: pl.DataFrame) -> list[_Attempt]:
    """Follow each flow's client Initials until its ClientHello is whole."""
    attempts: dict[int, _Attempt] = {}
    rows = zip(*(candidates[c].to_list() for c in ("flow_id", "packet", "payload")))
    for flow_id, packet, data in rows:
        attempt = attempts.get(flow_id)
        if attempt is not None and (attempt.hello is not None or attempt.stream.contiguous() >= CRYPTO_CAPACITY):
            continue
        headers, stopped = _split_datagram(data)
        if not headers:
            if attempt is None and int.from_bytes(data[1:5], "big") in QUIC_VERSIONS:
                # A known Initial cut before its connection IDs: a row that says so.
                attempt = attempts[flow_id] = _Attempt(
                    flow_id, packet, int.from_bytes(data[1:5], "big"), None, None, True)
            if attempt is not None and attempt.supported:
                attempt.truncated |= stopped == "truncated"
                attempt.malformed |= stopped == "malformed"
            continue
        for header in headers:
            if header.kind is None:
                quic_like = _quic_like(header.version) and len(header.dcid) <= 20 and len(header.scid) <= 20
                if attempt is None and quic_like:
                    attempt = attempts[flow_id] = _Attempt(
                        flow_id, packet, header.version, header.dcid, header.scid, False)
                break
            if header.kind != INITIAL:
                continue
            if attempt is None or not attempt.supported or attempt.dcid is None:
                # The first Initial of a known version opens the attempt (after a
                # version negotiation, it replaces the unknown version's row).
                attempt = attempts[flow_id] = _Attempt(
                    flow_id, packet, header.version, header.dcid, header.scid, True)
            elif header.version != attempt.version:
                continue
            attempt.read(data, header)
            if attempt.hello is not None:
                break
        else:
            if attempt is not None and attempt.supported:
                attempt.truncated |= stopped == "truncated"
    return sorted(attempts.values(), key=lambda a: a.packet)


# --- the ClientHello, through the TLS module ---------------------------------------------------


def _hello_fields(hello: bytes) -> tuple[dict, bool]:
    """SNI, ALPN and JA4 of a ClientHello, and whether the TLS parser read it whole.

    Without :mod:`kernelkit.sessions.tls` the fields are empty and the hello is
    taken as read: the row keeps the raw ClientHello for later parsing.
    """
    try:
        from . import tls
    except ImportError:  # the TLS session module is optional here
        return {}, True
    info = tls.parse_client_hello(hello, quic=True)
    return info, info.get("handshake_status") in ("ok", "list_capped")


SCHEMA = {
    "flow_id": pl.Int64,
    "packet": pl.Int64,
    "quic_version": pl.UInt32,
    "quic_version_name": pl.String,
    "dcid": pl.String,
    "scid": pl.String,
    "sni": pl.String,
    "alpn": pl.String,
    "alpn_offered": pl.List(pl.String),
    "ja4": pl.String,
    "initial_packets": pl.Int64,
    "status": pl.Enum(list(STATUSES)),
    "client_hello": pl.Binary,
}


def quic_handshakes(source) -> pl.DataFrame:
    """One row per QUIC connection attempt: the client's first Initial, decrypted and parsed.

    Parameters
    ----------
    source : path, Trace, Tracked or polars.DataFrame
        A capture, ``kernelkit.track(..., data=True)``, or such a packet frame
        (see :func:`kernelkit.sessions.source.session_packets`).

    Returns
    -------
    polars.DataFrame
        One row per UDP flow whose originator sent a QUIC client Initial (or a
        padded long-header packet of an unknown version), in order of that
        packet:

        - ``flow_id``: the flow, to join with the flow and packet tables.
        - ``packet``, ``ts``: row in the packet table and time of the first client Initial.
        - ``quic_version``, ``quic_version_name``: version number and name (``QUICv1``, ``draft-29``, ``QUICv2``).
        - ``dcid``, ``scid``: the first Initial's connection IDs, in hex.
        - ``sni``, ``alpn`` (first offered), ``alpn_offered``, ``ja4`` (protocol ``q``):
          from :mod:`kernelkit.sessions.tls`; null while that module is absent.
        - ``initial_packets``: client Initials whose CRYPTO frames brought ClientHello bytes.
        - ``status``: ``ok``, ``truncated``, ``not_decryptable``, ``unsupported_version``
          or ``malformed`` (:data:`STATUSES` says what each means).
        - ``client_hello``: the reassembled ClientHello handshake message.

    Notes
    -----
    Long headers are read per RFC 9000 §17.2, coalesced packets per §12.2;
    Initial protection is removed per RFC 9001 §5 (RFC 9369 for version 2):
    keys from the Destination Connection ID of the flow's first client
    Initial, or from a later one after a Retry; header protection with
    AES-128-ECB on the sample; AEAD_AES_128_GCM. The CRYPTO stream is
    reassembled by offset across Initials, since clients split large
    ClientHellos (post-quantum key shares) and reorder CRYPTO frames inside a
    packet. A flow whose first client long-header packet is of an unknown
    version and a later one of a known version (version negotiation) is
    described by the later one. Direction 0 is taken for the client: a
    capture that starts after the client's first packet may misattribute.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.quic import quic_handshakes
    >>> table = quic_handshakes(kernelkit.sample_path())  # TCP, DNS and ICMP only: no QUIC
    >>> table.height, table.columns[:4]
    (0, ['flow_id', 'packet', 'ts', 'quic_version'])
    """
    packets = session_packets(source)
    udp = udp_payloads(packets)
    # The datagram's length on the wire: a snaplen may have cut the captured payload.
    attempts = _walk(_client_initial_datagrams(udp, packets["payload_len"].gather(udp["packet"])))
    rows = {name: [] for name in SCHEMA}
    for attempt in attempts:
        status = attempt.status()
        fields: dict = {}
        if status == "ok":
            fields, whole = _hello_fields(attempt.hello)
            status = status if whole else "malformed"
        values = {
            "flow_id": attempt.flow_id,
            "packet": attempt.packet,
            "quic_version": attempt.version,
            "quic_version_name": version_name(attempt.version),
            "dcid": None if attempt.dcid is None else attempt.dcid.hex(),
            "scid": None if attempt.scid is None else attempt.scid.hex(),
            "sni": fields.get("sni"),
            "alpn": fields.get("alpn"),
            "alpn_offered": fields.get("alpn_offered"),
            "ja4": fields.get("ja4"),
            "initial_packets": attempt.used,
            "status": status,
            "client_hello": attempt.hello,
        }
        for name, column in rows.items():
            column.append(values[name])
    table = pl.DataFrame(rows, schema=SCHEMA)
    # Timestamps from the packet table itself: Python datetimes would drop the nanoseconds.
    return table.insert_column(2, packets["ts"].gather(table["packet"]))
