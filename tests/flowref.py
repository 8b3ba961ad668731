"""A plain-Python reference for the connection tracker (``kernelkit.conntrack``).

One dict keyed by the direction-independent 5-tuple; packets are visited one by one
in trace order, in Python. It is written from the documented semantics, below, and
from Zeek's TCP analyzer (``src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc``
and ``base/protocols/conn/main.zeek``), not from ``kernels/conntrack``.

Which packets get a flow
    IP packets (``ip_version`` present). TCP and UDP need their header (``sport``
    present); other protocols need the header after IP (``l4_offset`` present), so
    later fragments get none. Key: ``(ip_version, ip_proto, {(src_ip, sport),
    (dst_ip, dport)})``, ports 0 for protocols without them. ICMP and ICMPv6 flows
    log the first packet's type and code as ``orig_port`` and ``resp_port``.

Flow ids and roles
    ``flow_id`` is the trace index (0-based) of the flow's first packet. The sender
    of that packet is the originator, unless it is a TCP SYN+ACK: then its receiver
    is, and the history starts with ``^``.

Trace time
    ``now`` is the latest timestamp seen so far (equal to the packet's own for a
    trace in time order). A flow's deadline is ``close_ts + tcp_closed`` once it has
    closed (FIN from both sides, or a RST from either; ``close_ts`` is the time of
    the packet that closed it), else ``last_ts`` plus the idle timeout of its class:
    TCP ``tcp_handshake`` while in the handshake (a side has sent a SYN and neither
    is established), else ``tcp_established``; UDP ``udp``; others ``other``.
    A packet arriving when ``now > deadline`` ends the old flow (``idle``, or its
    ``fin``/``rst`` if it had closed) and starts a new one; so does a packet with
    ``now - first_ts > active_timeout`` (``active_timeout``), and a TCP SYN without
    ACK on a closed flow that still lingers (port reuse: the old flow keeps its
    ``fin``/``rst``). At the end of the trace every flow still open ends: as if
    expired when the last time is past its deadline, else ``fin``/``rst`` if it
    closed, else ``end_of_trace``.

Per flow
    Packets, IP bytes (``ip_len``), payload bytes (``payload_len``) and frame bytes
    (``wirelen``) per direction; first and last time; per direction, IP size and
    inter-arrival time min/mean/max/std (population std; the inter-arrival std is
    taken, as the kernel does, from the sum of squared gaps truncated to whole
    microseconds and the exact mean). UDP history: ``D``/``d`` on each side's first
    packet with payload. TCP: Zeek's history letters and endpoint states, the
    conn_state mapping of ``base/protocols/conn/main.zeek``, the handshake RTT
    (from the originator's first SYN to its first ACK after the responder's SYN+ACK)
    and a one-hole sequence analysis per direction (retransmissions, gaps, segments
    that fill a gap) and zero windows.

Kernel behaviours that differ from these semantics can be reproduced on demand
(``quirks=``, names in :data:`KNOWN_QUIRKS`) so that the property tests keep
checking everything else while a fix is pending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

# --- constants ---------------------------------------------------------------------------

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58

# Zeek's endpoint states (TCP_INACTIVE ... TCP_RESET, in Zeek's order).
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)

HISTORY_MAX = 16

TIMEOUT_CLASSES = ("tcp_established", "tcp_handshake", "tcp_closed", "udp", "other")

FLOW_SCHEMA = {
    "flow_id": pl.Int64,
    "orig_ip": pl.Binary,
    "orig_port": pl.UInt16,
    "resp_ip": pl.Binary,
    "resp_port": pl.UInt16,
    "ip_proto": pl.UInt8,
    "ip_version": pl.UInt8,
    "first_ts": pl.Datetime("ns", "UTC"),
    "last_ts": pl.Datetime("ns", "UTC"),
    "duration": pl.Float64,
    "orig_pkts": pl.Int64,
    "resp_pkts": pl.Int64,
    "orig_ip_bytes": pl.Int64,
    "resp_ip_bytes": pl.Int64,
    "orig_bytes": pl.Int64,
    "resp_bytes": pl.Int64,
    "orig_wire_bytes": pl.Int64,
    "resp_wire_bytes": pl.Int64,
    "conn_state": pl.String,
    "history": pl.String,
    "end_reason": pl.String,
    "handshake_rtt": pl.Float64,
    **{
        f"{side}_{name}": dtype
        for side in ("orig", "resp")
        for name, dtype in (
            ("size_min", pl.Float64),
            ("size_mean", pl.Float64),
            ("size_max", pl.Float64),
            ("size_std", pl.Float64),
            ("iat_min", pl.Float64),
            ("iat_mean", pl.Float64),
            ("iat_max", pl.Float64),
            ("iat_std", pl.Float64),
            ("retrans", pl.Int64),
            ("out_of_order", pl.Int64),
            ("gaps", pl.Int64),
            ("zero_windows", pl.Int64),
        )
    },
}
"""Columns of the flow table, in ``kernelkit.conntrack.track(...).flows`` order."""

FLOAT_COLUMNS = tuple(name for name, dtype in FLOW_SCHEMA.items() if dtype == pl.Float64)

KNOWN_QUIRKS = frozenset(
    {
        "simplified_tcp_states",
        "separate_syn_synack_letters",
        "zero_window_rules",
        "expiry_at_packet_time",
        "null_ts_as_zero",
        "negative_gap_resets_iat_min",
        "next_seq_moves_back",
        "iat_sumsq_overflow",
        "ip_proto_0_gets_no_flow",
    }
)
"""Kernel behaviours that differ from the semantics above, reproducible on demand.

Each one is reported with a fix and has a strict-xfail test in ``tests/test_flows.py``
asserting the documented behaviour; property tests pass the ones still unfixed so
they keep checking the rest.

``simplified_tcp_states``
    The endpoint state machine is not Zeek's: a SYN+ACK answering a SYN leaves both
    sides in SYN_SENT/SYN_ACK_SENT (Zeek: both ESTABLISHED) until the originator's
    ACK; an ACK from an inactive side is PARTIAL even when the peer is established
    (Zeek: ESTABLISHED); a responder's pure ACK before its SYN+ACK makes it PARTIAL
    (Zeek: stays INACTIVE); a FIN moves a RESET side to CLOSED and a RST a CLOSED
    side to RESET when the peer has closed too (Zeek: neither); a packet without
    flags or payload leaves an inactive side INACTIVE (Zeek: PARTIAL); a SYN from a
    PARTIAL side is ignored (Zeek: SYN_SENT when the peer is inactive). So "Sh" is
    OTH (Zeek S1), "Shr" REJ (Zeek RSTR), "ShAdDaFfR" RSTO (Zeek SF), and the
    handshake timeout applies from the SYN+ACK to the originator's ACK. The RTT is
    then taken when the originator's ACK establishes the connection.
``separate_syn_synack_letters``
    S and H have a bit each per side; Zeek records either once per side (one
    HIST_SYN_PKT bit), repeating it only at a new sequence number.
``zero_window_rules``
    A zero window counts unless the segment has RST or SYN; Zeek counts it unless
    the segment has RST, the sender had reset, or the peer had sent a FIN.
``expiry_at_packet_time``
    On lookup a flow's deadline is compared with the packet's own time, not with the
    latest time of the trace; the scan and wheel strategies expire at the latest
    time, so with timestamps that go back the strategies can disagree.
``null_ts_as_zero``
    A packet without a timestamp counts as 1970-01-01 instead of the latest time.
``negative_gap_resets_iat_min``
    A negative inter-arrival time (timestamps going back) is taken for the "unset"
    marker, so the next gap replaces the minimum.
``next_seq_moves_back``
    A segment without payload that starts before the highest sequence number sent
    (a FIN sent again at an older number) moves that number back, so the next
    in-order segment counts as a gap (and a retransmission is missed).
``iat_sumsq_overflow``
    The sum of squared inter-arrival times (in µs², int64) wraps around once it passes
    2**63: one gap longer than about 50 minutes, or a hundred gaps of 300 s, and the
    inter-arrival std is garbage.
``ip_proto_0_gets_no_flow``
    A packet with IP protocol 0 (HOPOPT) gets no flow although its header after IP
    is there: protocol 0 doubles as the tracker's "no flow" marker.
"""

INPUT_COLUMNS = (
    "ts",
    "wirelen",
    "ip_version",
    "src_ip",
    "dst_ip",
    "ip_proto",
    "ip_len",
    "sport",
    "dport",
    "tcp_flags",
    "tcp_seq",
    "tcp_win",
    "icmp_type",
    "icmp_code",
    "l4_offset",
    "payload_len",
)


# --- options -----------------------------------------------------------------------------


def resolve_timeouts(idle_timeout=None, defaults: dict | None = None) -> dict[str, int]:
    """Idle timeouts in ns per class, as ``track(idle_timeout=...)`` reads them.

    A number sets ``tcp_established``, ``udp`` and ``other`` (the handshake and the
    linger after a close keep their defaults); a dict overrides the classes it names.
    """
    if defaults is None:
        from kernelkit.conntrack import DEFAULT_TIMEOUTS as defaults
    seconds = dict(defaults)
    if isinstance(idle_timeout, dict):
        unknown = set(idle_timeout) - set(TIMEOUT_CLASSES)
        if unknown:
            raise ValueError(f"unknown timeout classes {sorted(unknown)}")
        seconds.update(idle_timeout)
    elif idle_timeout is not None:
        for name in ("tcp_established", "udp", "other"):
            seconds[name] = float(idle_timeout)
    return {name: int(seconds[name] * 1e9) for name in TIMEOUT_CLASSES}


# --- one flow ----------------------------------------------------------------------------


@dataclass
class Side:
    """What one direction of a flow sent."""

    pkts: int = 0
    ip_bytes: int = 0
    bytes: int = 0
    wire_bytes: int = 0
    sizes: list = field(default_factory=list)
    last_ts: int | None = None
    gaps_ns: list = field(default_factory=list)
    # TCP
    state: int = INACTIVE
    prev_state: int = INACTIVE
    seen: set = field(default_factory=set)  # history letters recorded once (upper case)
    last_syn: int | None = None
    last_fin: int | None = None
    last_rst: int | None = None
    next_seq: int | None = None  # one past the highest sequence number sent
    hole: tuple[int, int] | None = None  # the one range still missing
    retrans: int = 0
    ooo: int = 0
    gaps: int = 0
    zero_windows: int = 0
    sent_fin: bool = False
    sent_rst: bool = False
    sent_synack: bool = False
    udp_data: bool = False

    def set_state(self, state: int) -> None:
        if state != self.state:  # Zeek's TCP_Endpoint::SetState
            self.prev_state = self.state
            self.state = state


def seq_lt(a: int, b: int) -> bool:
    """a < b in 32-bit sequence space."""
    return ((a - b) & 0xFFFFFFFF) >= 0x80000000


def seq_gt(a: int, b: int) -> bool:
    return seq_lt(b, a)


def scaled(count: int) -> bool:
    """Zeek's ScaledHistoryEntry: record at the 1st, 10th, 100th, ... event."""
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


@dataclass
class Flow:
    flow_id: int
    first_ts: int
    orig: tuple  # (address, port) of the originator, as in the key
    resp: tuple
    proto: int
    version: int
    orig_port: int  # as logged (ICMP: type and code)
    resp_port: int
    last_ts: int = 0
    sides: tuple = field(default_factory=lambda: (Side(), Side()))
    history: list = field(default_factory=list)
    syn_ts: int | None = None
    rtt: int | None = None
    close_ts: int | None = None
    close_reason: str | None = None
    end_reason: str | None = None

    # -- history --
    def add_letter(self, letter: str) -> None:
        if len(self.history) < HISTORY_MAX:
            self.history.append(letter)

    def letter(self, d: int, code: str) -> None:
        self.add_letter(code if d == 0 else code.lower())

    def check_letter(self, d: int, bit: str, code: str) -> bool:
        """Record ``code`` the first time side ``d`` shows ``bit``; True if seen before."""
        side = self.sides[d]
        if bit in side.seen:
            return True
        side.seen.add(bit)
        self.letter(d, code)
        return False

    # -- state queries --
    def closed(self) -> bool:
        o, r = self.sides
        return (o.sent_fin and r.sent_fin) or o.sent_rst or r.sent_rst

    def in_handshake(self) -> bool:
        states = (self.sides[0].state, self.sides[1].state)
        opening = any(s in (SYN_SENT, SYN_ACK_SENT) for s in states)
        return opening and ESTABLISHED not in states

    def deadline(self, timeouts: dict) -> int:
        if self.close_ts is not None:
            return self.close_ts + timeouts["tcp_closed"]
        if self.proto == TCP:
            idle = timeouts["tcp_handshake"] if self.in_handshake() else timeouts["tcp_established"]
        elif self.proto == UDP:
            idle = timeouts["udp"]
        else:
            idle = timeouts["other"]
        return self.last_ts + idle

    def expired_reason(self) -> str:
        return self.close_reason if self.close_ts is not None else "idle"


# --- TCP ---------------------------------------------------------------------------------


def _tcp_history(
    f: Flow, d: int, flags: int, seq: int, payload: int, separate_syn_bits: bool = False
) -> None:
    """Zeek's update_history: S/H share one bit per side, as in Zeek."""
    side = f.sides[d]
    bits = bool(flags & SYN) + bool(flags & FIN) + bool(flags & RST)
    if bits > 1:
        if flags & FIN and flags & RST:
            f.check_letter(d, "I", "I")
        else:
            f.check_letter(d, "Q", "Q")
    elif bits == 1:
        if flags & SYN:
            code = "H" if flags & ACK else "S"
            bit = code if separate_syn_bits else "S"
            if f.check_letter(d, bit, code) and seq != side.last_syn:
                f.letter(d, code)
            side.last_syn = seq
        if flags & FIN:
            fin_seq = (seq + payload) & 0xFFFFFFFF
            if f.check_letter(d, "F", "F") and fin_seq != side.last_fin:
                f.letter(d, "F")
            side.last_fin = fin_seq
        if flags & RST:
            if f.check_letter(d, "R", "R") and seq != side.last_rst:
                f.letter(d, "R")
            side.last_rst = seq
    elif payload > 0:
        f.check_letter(d, "D", "D")
    elif flags & ACK:
        f.check_letter(d, "A", "A")


def _tcp_sequence(f: Flow, d: int, flags: int, seq: int, payload: int, moves_back: bool = False) -> None:
    """One-hole sequence analysis of side ``d``.

    A segment covers ``[seq, seq + payload + SYN + FIN)``. Beyond the highest byte sent
    so far, it opens a gap (the missing range becomes the hole); before it, with
    payload, it fills the hole if it lies inside it (out of order; the hole shrinks
    when the segment covers one of its ends) and is a retransmission otherwise.
    A SYN starts the numbering afresh.
    """
    side = f.sides[d]
    span = payload + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
    if span == 0:
        return
    end = (seq + span) & 0xFFFFFFFF
    if side.next_seq is None or flags & SYN:
        side.next_seq = end
        return
    if seq_gt(seq, side.next_seq):
        side.hole = (side.next_seq, seq)
        side.gaps += 1
        if scaled(side.gaps):
            f.letter(d, "G")
        side.next_seq = end
        return
    if seq_lt(seq, side.next_seq) and payload > 0:
        hole = side.hole
        if hole is not None and hole[0] != hole[1] and not seq_lt(seq, hole[0]) and not seq_lt(hole[1], end):
            side.ooo += 1
            if seq == hole[0]:
                side.hole = (end, hole[1])
            elif end == hole[1]:
                side.hole = (hole[0], seq)
        else:
            side.retrans += 1
            if scaled(side.retrans):
                f.letter(d, "T")
    if seq_gt(end, side.next_seq) or (moves_back and not (seq_lt(seq, side.next_seq) and payload > 0)):
        side.next_seq = end


def _tcp_zero_window(f: Flow, d: int, flags: int, window: int) -> None:
    """Zeek's update_window: a zero window counts unless it comes with or after a RST
    from this side, or after the peer's FIN (states before this packet)."""
    me, peer = f.sides[d], f.sides[1 - d]
    if window == 0 and not flags & RST and peer.state != CLOSED and me.state != RESET:
        me.zero_windows += 1
        if scaled(me.zero_windows):
            f.letter(d, "W")


def _tcp_states(f: Flow, d: int, flags: int, payload: int) -> None:
    """Zeek's UpdateStateMachine, for the endpoint states only (no events, no weirds)."""
    me, peer = f.sides[d], f.sides[1 - d]
    is_orig = d == 0
    state = me.state
    if state == INACTIVE:
        if flags & SYN:
            if is_orig:
                me.set_state(SYN_ACK_SENT if flags & ACK else SYN_SENT)
            else:
                # a SYN (normally a SYN+ACK) answering: the connection is established
                if peer.state == SYN_SENT:
                    peer.set_state(ESTABLISHED)
                me.set_state(ESTABLISHED)
        if flags & FIN:
            me.set_state(CLOSED)
        if flags & RST:
            me.set_state(RESET)
        if me.state == INACTIVE:
            if not is_orig and payload == 0 and f.sides[0].state == SYN_SENT:
                pass  # an ACK of the SYN before the SYN+ACK: not a partial connection
            elif flags & ACK and peer.state == ESTABLISHED:
                me.set_state(ESTABLISHED)  # the SYN was missed
            else:
                me.set_state(PARTIAL)
    elif state in (SYN_SENT, SYN_ACK_SENT):
        if flags & FIN:
            me.set_state(CLOSED)
        if flags & RST:
            me.set_state(RESET)
    elif state in (ESTABLISHED, PARTIAL):
        if flags & SYN and state == PARTIAL and peer.state == INACTIVE and not flags & ACK:
            me.set_state(SYN_SENT)
        if flags & FIN and not flags & RST:
            me.set_state(CLOSED)
            if peer.state == RESET and peer.prev_state == CLOSED:
                peer.set_state(CLOSED)  # the peer's FIN then RST: a normal close after all
        if flags & RST:
            me.set_state(RESET)
    elif state == CLOSED and flags & RST and peer.state != CLOSED:
        me.set_state(RESET)
    # RESET: nothing changes


def _tcp_states_simplified(f: Flow, d: int, t: int, flags: int, payload: int) -> None:
    """The kernel's endpoint state machine (quirk ``simplified_tcp_states``)."""
    me, peer = f.sides[d], f.sides[1 - d]
    if flags & RST:
        me.set_state(RESET)
        return
    if flags & SYN:
        if flags & ACK:
            if me.state in (INACTIVE, SYN_SENT):
                me.set_state(SYN_ACK_SENT)
        elif me.state == INACTIVE:
            me.set_state(SYN_SENT)
    elif me.state == INACTIVE and (flags & (ACK | FIN) or payload > 0):
        me.set_state(PARTIAL)
    elif (
        me.state in (SYN_SENT, SYN_ACK_SENT)
        and flags & ACK
        and peer.state in (SYN_SENT, SYN_ACK_SENT, ESTABLISHED)
    ):
        me.set_state(ESTABLISHED)
        peer.set_state(ESTABLISHED)
        if d == 0 and f.syn_ts is not None and f.rtt is None:
            f.rtt = t - f.syn_ts
    if flags & FIN:
        me.set_state(CLOSED)


def _tcp_packet(f: Flow, d: int, t: int, flags: int, seq: int, payload: int, window: int, quirks) -> None:
    side = f.sides[d]
    if d == 0 and flags & SYN and not flags & ACK and f.syn_ts is None:
        f.syn_ts = t
    simplified = "simplified_tcp_states" in quirks
    if (
        not simplified
        and d == 0
        and f.rtt is None
        and f.syn_ts is not None
        and f.sides[1].sent_synack
        and flags & ACK
        and not flags & (SYN | RST)
    ):
        f.rtt = t - f.syn_ts
    if d == 1 and flags & SYN and flags & ACK:
        side.sent_synack = True
    _tcp_history(f, d, flags, seq, payload, "separate_syn_synack_letters" in quirks)
    _tcp_sequence(f, d, flags, seq, payload, "next_seq_moves_back" in quirks)
    if "zero_window_rules" in quirks:
        if window == 0 and not flags & (RST | SYN):
            side.zero_windows += 1
            if scaled(side.zero_windows):
                f.letter(d, "W")
    else:
        _tcp_zero_window(f, d, flags, window)
    if simplified:
        _tcp_states_simplified(f, d, t, flags, payload)
    else:
        _tcp_states(f, d, flags, payload)
    side.sent_fin |= bool(flags & FIN)
    side.sent_rst |= bool(flags & RST)


def conn_state(f: Flow) -> str:
    """Zeek's conn_state (base/protocols/conn/main.zeek)."""
    o, r = f.sides
    if f.proto == UDP:
        if o.pkts:
            return "SF" if r.pkts else "S0"
        return "SHR" if r.pkts else "OTH"
    if f.proto != TCP:
        return "OTH"
    os_, rs = o.state, r.state
    o_inactive = os_ in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    history = "".join(f.history)
    if rs == RESET:
        if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and o.bytes == 0 and r.bytes == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if os_ == RESET:
        if r_inactive:
            # Zeek: /\^?S[^HAFGIQ]*R.*/ == history
            h = history.removeprefix("^")
            if h.startswith("S"):
                rest = h[1:]
                for k, ch in enumerate(rest):
                    if ch in "HAFGIQ":
                        break
                    if ch == "R":
                        return "RSTOS0"
            return "OTH"
        return "RSTO"
    if rs == CLOSED and os_ == CLOSED:
        return "SF"
    if os_ == CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == CLOSED:
        return "SHR" if o_inactive else "S3"
    if os_ == SYN_SENT and rs == INACTIVE:
        return "S0"
    if os_ == ESTABLISHED and rs == ESTABLISHED:
        return "S1"
    return "OTH"


# --- the table -----------------------------------------------------------------------------


@dataclass
class Result:
    flows: pl.DataFrame
    flow_id: list  # per packet: flow id or None
    direction: list  # per packet: 0 from the originator, 1 from the responder (0 without flow)


def _stats(values: list, scale: float = 1.0):
    if not values:
        return None, None, None
    return min(values) / scale, sum(values) / len(values) / scale, max(values) / scale


def _flow_row(f: Flow, quirks=frozenset()) -> dict:
    row = {
        "flow_id": f.flow_id,
        "orig_ip": f.orig[0],
        "orig_port": f.orig_port,
        "resp_ip": f.resp[0],
        "resp_port": f.resp_port,
        "ip_proto": f.proto,
        "ip_version": f.version,
        "first_ts": f.first_ts,
        "last_ts": f.last_ts,
    }
    o, r = f.sides
    for name in ("pkts", "ip_bytes", "bytes", "wire_bytes"):
        row[f"orig_{name}"] = getattr(o, name)
        row[f"resp_{name}"] = getattr(r, name)
    row["end_reason"] = f.end_reason
    row["history"] = "".join(f.history) if f.proto in (TCP, UDP) else None
    row["handshake_rtt"] = None if f.rtt is None else f.rtt / 1e9
    for prefix, side in (("orig", o), ("resp", r)):
        lo, mean, hi = _stats(side.sizes)
        std = (
            None if not side.sizes else math.sqrt(sum((s - mean) ** 2 for s in side.sizes) / len(side.sizes))
        )
        row.update(
            {
                f"{prefix}_size_min": lo,
                f"{prefix}_size_mean": mean,
                f"{prefix}_size_max": hi,
                f"{prefix}_size_std": std,
            }
        )
        gaps = side.gaps_ns
        lo, mean, hi = _stats(gaps, 1e9)
        if "negative_gap_resets_iat_min" in quirks and gaps:
            least = None
            for g in gaps:
                if least is None or least < 0 or g < least:
                    least = g
            lo = least / 1e9
        if gaps:
            # as the kernel keeps it: squares of whole microseconds, exact mean
            sumsq = sum((g // 1000) ** 2 for g in gaps)
            if "iat_sumsq_overflow" in quirks:
                sumsq = 0
                for g in gaps:
                    sumsq = _wrap64(sumsq + _wrap64((g // 1000) ** 2))
            var_us2 = sumsq / len(gaps) - (sum(gaps) / len(gaps) / 1000) ** 2
            std = math.sqrt(max(var_us2, 0.0)) / 1e6
        else:
            std = None
        row.update(
            {
                f"{prefix}_iat_min": lo,
                f"{prefix}_iat_mean": mean,
                f"{prefix}_iat_max": hi,
                f"{prefix}_iat_std": std,
            }
        )
        row.update(
            {
                f"{prefix}_retrans": side.retrans,
                f"{prefix}_out_of_order": side.ooo,
                f"{prefix}_gaps": side.gaps,
                f"{prefix}_zero_windows": side.zero_windows,
            }
        )
    row["duration"] = (f.last_ts - f.first_ts) / 1e9
    row["conn_state"] = conn_state(f)
    return row


def _wrap64(value: int) -> int:
    """``value`` as int64 arithmetic leaves it (two's complement wrap-around)."""
    return (value + 2**63) % 2**64 - 2**63


def _int(value) -> int:
    return 0 if value is None else int(value)


def track_ref(
    packets: pl.DataFrame,
    *,
    idle_timeout=None,
    active_timeout: float | None = None,
    defaults: dict | None = None,
    quirks=frozenset(),
) -> Result:
    """Flows of a packet frame, as ``kernelkit.conntrack.track`` documents them.

    Parameters
    ----------
    packets : polars.DataFrame
        Packet-schema columns (at least :data:`INPUT_COLUMNS`), in trace order.
    idle_timeout, active_timeout :
        As ``track``'s options (seconds); ``defaults`` the per-class defaults
        (``kernelkit.conntrack.DEFAULT_TIMEOUTS`` when None).
    quirks : set of str
        Names from :data:`KNOWN_QUIRKS`: kernel deviations to reproduce.

    Returns
    -------
    Result
        ``flows`` (one row per flow, sorted by ``flow_id``, columns and types of
        ``track(...).flows``), and per packet ``flow_id`` (None without flow) and
        ``direction``.
    """
    quirks = frozenset(quirks)
    unknown = quirks - KNOWN_QUIRKS
    if unknown:
        raise ValueError(f"unknown quirks: {sorted(unknown)}")
    timeouts = resolve_timeouts(idle_timeout, defaults)
    active = None if active_timeout is None else int(float(active_timeout) * 1e9)
    frame = packets.select(INPUT_COLUMNS).with_columns(pl.col("ts").dt.epoch("ns"))

    table: dict = {}
    done: list[Flow] = []
    flow_ids: list = []
    directions: list = []
    now = None

    def end(key, reason):
        f = table.pop(key)
        f.end_reason = reason
        done.append(f)

    for index, row in enumerate(frame.iter_rows(named=True)):
        if row["ts"] is None:  # a packet without time happens at the latest time known
            t = 0 if now is None or "null_ts_as_zero" in quirks else now
        else:
            t = row["ts"]
        now = t if now is None else max(now, t)
        when = t if "expiry_at_packet_time" in quirks else now
        proto = row["ip_proto"]
        ported = proto in (TCP, UDP)
        eligible = row["ip_version"] is not None and (
            row["sport"] is not None if ported else row["l4_offset"] is not None
        )
        if proto == 0 and "ip_proto_0_gets_no_flow" in quirks:
            eligible = False
        if not eligible:
            flow_ids.append(None)
            directions.append(0)
            continue
        src = (row["src_ip"], _int(row["sport"]) if ported else 0)
        dst = (row["dst_ip"], _int(row["dport"]) if ported else 0)
        key = (row["ip_version"], proto, frozenset((src, dst)))
        flags = _int(row["tcp_flags"]) if proto == TCP else 0

        f = table.get(key)
        if f is not None:
            if when > f.deadline(timeouts):
                end(key, f.expired_reason())
            elif active is not None and active > 0 and when - f.first_ts > active:
                end(key, "active_timeout")
            elif f.close_ts is not None and flags & (SYN | ACK) == SYN:
                end(key, f.close_reason)  # a new connection on the 5-tuple of a closed one
            f = table.get(key)
        if f is None:
            flipped = proto == TCP and flags & (SYN | ACK) == (SYN | ACK)
            orig, resp = (dst, src) if flipped else (src, dst)
            if proto in (ICMP, ICMP6):
                logged = (_int(row["icmp_type"]), _int(row["icmp_code"]))
            else:
                logged = (orig[1], resp[1])
            f = Flow(index, t, orig, resp, proto, row["ip_version"], *logged)
            if flipped:
                f.add_letter("^")
            table[key] = f
        d = 0 if src == f.orig else 1
        side = f.sides[d]
        size = _int(row["ip_len"])
        payload = _int(row["payload_len"])
        f.last_ts = t
        side.pkts += 1
        side.ip_bytes += size
        side.bytes += payload
        side.wire_bytes += _int(row["wirelen"])
        side.sizes.append(size)
        if side.last_ts is not None:
            side.gaps_ns.append(t - side.last_ts)
        side.last_ts = t
        if proto == UDP and payload > 0 and not side.udp_data:
            side.udp_data = True
            f.letter(d, "D")
        elif proto == TCP:
            _tcp_packet(f, d, t, flags, _int(row["tcp_seq"]), payload, _int(row["tcp_win"]), quirks)
            if f.close_ts is None and f.closed():
                f.close_ts = t
                f.close_reason = "rst" if f.sides[0].sent_rst or f.sides[1].sent_rst else "fin"
        flow_ids.append(f.flow_id)
        directions.append(d)

    for key in list(table):
        f = table[key]
        if now > f.deadline(timeouts):
            end(key, f.expired_reason())
        elif f.close_ts is not None:
            end(key, f.close_reason)
        else:
            end(key, "end_of_trace")

    rows = [_flow_row(f, quirks) for f in sorted(done, key=lambda f: f.flow_id)]
    flows = pl.DataFrame(
        rows,
        schema={n: (pl.Int64 if isinstance(d, pl.Datetime) else d) for n, d in FLOW_SCHEMA.items()},
        orient="row",
    ).with_columns(pl.col("first_ts", "last_ts").cast(pl.Datetime("ns", "UTC")))
    return Result(flows, flow_ids, directions)
