"""Packet frames for the connection-tracker tests: builders and hypothesis strategies.

Frames have every column of ``kernelkit.schema.PACKET_SCHEMA`` (the ones a flow
does not read are null or plain defaults) and are built row by row, not parsed from
bytes: the tracker reads only the parsed columns, and building them directly lets the
strategies aim at what matters to it.

The strategies draw a handful of conversations over a few hosts and ports, so that
5-tuples collide and get reused: TCP scripts (handshakes, data that advances, is
retransmitted, skips ahead and comes back out of order, FIN and RST in various
orders, rejected and unanswered SYNs, midstream pickups, odd flag combinations), UDP,
ICMP, other protocols, later fragments and non-IP packets. The conversations are
interleaved, and time advances by steps from nothing to beyond the timer wheel
(4096 s), with exact hits on the timeouts of the options drawn alongside.
"""

from __future__ import annotations

import ipaddress

import polars as pl
import pyarrow as pa
from hypothesis import strategies as st

from kernelkit.schema import PACKET_SCHEMA

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

T0 = 1_700_000_000 * 10**9  # trace start (ns)
S = 10**9  # one second in ns


def v4(text: str) -> bytes:
    return bytes(10) + b"\xff\xff" + ipaddress.IPv4Address(text).packed


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


HOSTS = {4: [v4("10.0.0.1"), v4("10.0.0.2"), v4("192.168.1.9")], 6: [v6("2001:db8::1"), v6("2001:db8::2")]}
PORTS = [80, 443, 40000, 40001]


# --- rows and frames ---------------------------------------------------------------------


def packet(
    ts: int,
    src: bytes | None = None,
    dst: bytes | None = None,
    proto: int = 6,
    *,
    version: int | None = None,
    sport: int | None = None,
    dport: int | None = None,
    flags: int | None = None,
    seq: int = 0,
    ack: int = 0,
    win: int = 65535,
    payload: int = 0,
    icmp: tuple[int, int] | None = None,
    later_fragment: bool = False,
) -> dict:
    """One row of the packet table with the columns the tracker reads set consistently.

    ``src is None`` gives a non-IP packet (an ARP frame, say).
    """
    if src is None:
        return {
            "ts": ts,
            "caplen": 60,
            "wirelen": 60,
            "iface": 0,
            "linktype": 1,
            "ethertype": 0x0806,
            "status": 0,
        }
    if version is None:
        version = 4 if src[:12] == bytes(10) + b"\xff\xff" else 6
    ip_header = 20 if version == 4 else 40
    row = {
        "ts": ts,
        "iface": 0,
        "linktype": 1,
        "ethertype": 0x0800 if version == 4 else 0x86DD,
        "status": 0,
        "ip_version": version,
        "src_ip": src,
        "dst_ip": dst,
        "ip_proto": proto,
        "ip_ttl": 64,
        "frag_offset": 0,
        "more_fragments": False,
        "l3_offset": 14,
    }
    if later_fragment:
        l4 = payload
        row["frag_offset"] = 1480
    elif proto == 6:
        l4 = 20 + payload
        row.update(
            sport=sport,
            dport=dport,
            tcp_flags=flags if flags is not None else ACK,
            tcp_seq=seq & 0xFFFFFFFF,
            tcp_ack=ack & 0xFFFFFFFF,
            tcp_win=win,
            tcp_sack_perm=False,
            l4_offset=14 + ip_header,
            payload_offset=14 + ip_header + 20,
            payload_len=payload,
        )
    elif proto == 17:
        l4 = 8 + payload
        row.update(
            sport=sport,
            dport=dport,
            l4_offset=14 + ip_header,
            payload_offset=14 + ip_header + 8,
            payload_len=payload,
        )
    elif proto in (1, 58):
        l4 = 8 + payload
        row.update(
            icmp_type=icmp[0] if icmp else 8, icmp_code=icmp[1] if icmp else 0, l4_offset=14 + ip_header
        )
    else:
        l4 = 4 + payload
        row.update(l4_offset=14 + ip_header)
    row["ip_len"] = ip_header + l4
    row["wirelen"] = row["caplen"] = max(60, 14 + ip_header + l4)
    return row


def frame(rows: list[dict]) -> pl.DataFrame:
    """A packet frame (every column of the packet schema) from row dicts."""
    table = pa.Table.from_pylist(rows, schema=PACKET_SCHEMA)
    return pl.from_arrow(table)


# --- conversations -----------------------------------------------------------------------
# A conversation is a list of events (side, fields): side 0 is the initiator (A), 1 the
# other end (B); fields are packet() keywords without addresses, ports and time.


@st.composite
def tcp_data(draw, isn: list[int], max_segments: int = 6) -> list[tuple[int, dict]]:
    """Data segments with advancing, retransmitted, skipped and late-filled sequence numbers."""
    events = []
    nxt = [isn[0], isn[1]]
    pending = [None, None]  # a skipped range (seq, length) to send later, per side
    for _ in range(draw(st.integers(0, max_segments))):
        side = draw(st.integers(0, 1))
        length = draw(st.sampled_from([0, 1, 100, 100, 1460]))
        op = draw(
            st.sampled_from(
                ["next", "next", "next", "retransmit", "retransmit", "skip", "fill", "fill", "zero_window"]
            )
        )
        win = 65535
        if op == "retransmit" and nxt[side] != isn[side]:
            back = draw(st.sampled_from([1, 100, length or 1]))
            seq = (nxt[side] - back) & 0xFFFFFFFF
        elif op == "skip" and length:
            pending[side] = (nxt[side], length)
            seq = (nxt[side] + length) & 0xFFFFFFFF
            nxt[side] = (seq + length) & 0xFFFFFFFF
        elif op == "fill" and pending[side]:
            seq, length = pending[side]
            if draw(st.booleans()) and length > 1:  # fill only the front of the hole
                length = length // 2
            pending[side] = None
        else:
            seq = nxt[side]
            nxt[side] = (seq + length) & 0xFFFFFFFF
            if op == "zero_window":
                win = 0
        flags = ACK | (PSH if length else 0)
        events.append(
            (side, {"flags": flags, "seq": seq, "ack": nxt[1 - side], "payload": length, "win": win})
        )
    isn[0], isn[1] = nxt
    return events


ODD_FLAGS = [
    0,
    SYN,
    SYN | ACK,
    ACK,
    FIN,
    FIN | ACK,
    RST,
    RST | ACK,
    SYN | FIN,
    SYN | RST,
    FIN | RST,
    SYN | FIN | RST,
    PSH | ACK,
    FIN | PSH | ACK,
]


@st.composite
def tcp_conversation(draw) -> list[tuple[int, dict]]:
    """One TCP connection attempt, from one of a few scripts."""
    isn = [
        draw(st.sampled_from([0, 1000, 0xFFFFFF00, 0xFFFFFFFF])),
        draw(st.sampled_from([5000, 0xFFFFFFF0])),
    ]
    script = draw(
        st.sampled_from(
            [
                "full",
                "full",
                "rst",
                "rejected",
                "syn_only",
                "midstream",
                "synack_first",
                "fin_rst",
                "half_close",
                "simultaneous",
                "odd",
                "odd",
            ]
        )
    )
    ev = []
    syn_win = draw(st.sampled_from([65535, 65535, 65535, 0]))

    def send(side, flags, length=0, win=65535, advance=True):
        seq = isn[side]
        ev.append((side, {"flags": flags, "seq": seq, "ack": isn[1 - side], "payload": length, "win": win}))
        if advance:
            isn[side] = (seq + length + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    if script == "simultaneous":  # both send a SYN, then both a SYN+ACK at the same sequence numbers
        send(0, SYN, win=syn_win)
        send(1, SYN, win=syn_win)
        isn[0] = (isn[0] - 1) & 0xFFFFFFFF
        isn[1] = (isn[1] - 1) & 0xFFFFFFFF
        send(1, SYN | ACK)
        send(0, SYN | ACK)
        ev += draw(tcp_data(isn, max_segments=2))
        return ev
    if script == "odd":
        for _ in range(draw(st.integers(1, 6))):
            side = draw(st.integers(0, 1))
            flags = draw(st.sampled_from(ODD_FLAGS))
            length = draw(st.sampled_from([0, 0, 10]))
            win = draw(st.sampled_from([65535, 65535, 0]))
            send(side, flags, length, win)
        return ev
    if script in ("full", "rst", "rejected", "syn_only", "fin_rst", "half_close"):
        send(0, SYN, win=syn_win)
        if draw(st.integers(0, 4)) == 0:
            ev.append(ev[-1])  # the SYN again (retransmitted)
    if script == "syn_only":
        return ev
    if script == "rejected":
        send(1, RST | ACK)
        return ev
    if script != "midstream":
        send(1, SYN | ACK, win=syn_win)
        if draw(st.integers(0, 4)) > 0:
            send(0, ACK)
    ev += draw(tcp_data(isn))
    if not ev:  # a midstream pickup of nothing: one segment at least
        send(0, ACK | PSH, 100)
    if script == "rst":
        send(draw(st.integers(0, 1)), draw(st.sampled_from([RST, RST | ACK])))
    elif script == "fin_rst":
        first = draw(st.integers(0, 1))
        send(first, FIN | ACK)
        send(draw(st.integers(0, 1)), RST | ACK)
    elif script in ("full", "synack_first", "half_close"):
        first = draw(st.integers(0, 1))
        send(first, FIN | ACK)
        if script == "half_close":
            ev += draw(tcp_data(isn, max_segments=2))
        if draw(st.integers(0, 5)) > 0:
            send(1 - first, FIN | ACK)
            if draw(st.booleans()):
                send(first, ACK)
        if draw(st.integers(0, 5)) == 0:
            send(draw(st.integers(0, 1)), RST)  # a RST after the close
    return ev


@st.composite
def udp_conversation(draw) -> list[tuple[int, dict]]:
    return [
        (draw(st.integers(0, 1)) if k else 0, {"payload": draw(st.sampled_from([0, 20, 512]))})
        for k in range(draw(st.integers(1, 4)))
    ]


@st.composite
def icmp_conversation(draw) -> list[tuple[int, dict]]:
    kind = draw(st.sampled_from([(8, 0), (0, 0), (3, 3), (128, 0), (135, 0)]))
    events = [(0, {"icmp": kind, "payload": 56})]
    for _ in range(draw(st.integers(0, 3))):
        side = draw(st.integers(0, 1))
        events.append((side, {"icmp": (0, 0) if side else kind, "payload": 56}))
    return events


@st.composite
def conversation(draw) -> list[dict]:
    """A conversation as packet() keyword dicts without time."""
    version = draw(st.sampled_from([4, 4, 4, 6]))
    a, b = draw(st.permutations(HOSTS[version]))[:2]
    kind = draw(st.sampled_from(["tcp"] * 6 + ["udp"] * 2 + ["icmp", "other", "fragment", "nonip"]))
    ports = (draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)))
    if kind == "nonip":
        return [{} for _ in range(draw(st.integers(1, 2)))]
    if kind == "tcp":
        events, proto = draw(tcp_conversation()), 6
    elif kind == "udp":
        events, proto = draw(udp_conversation()), 17
    elif kind == "icmp":
        events, proto = draw(icmp_conversation()), (1 if version == 4 else 58)
    elif kind == "other":
        events = [
            (draw(st.integers(0, 1)) if k else 0, {"payload": 40}) for k in range(draw(st.integers(1, 3)))
        ]
        proto = draw(st.sampled_from([0, 47, 50, 132]))
    else:  # later fragments of a UDP datagram: no ports, no flow
        events, proto = [(0, {"later_fragment": True, "payload": 200})], 17
    out = []
    for side, fields in events:
        src, dst = (a, b) if side == 0 else (b, a)
        sport, dport = ports if side == 0 else ports[::-1]
        row = dict(src=src, dst=dst, proto=proto, **fields)
        if proto in (6, 17) and not fields.get("later_fragment"):
            row.update(sport=sport, dport=dport)
        out.append(row)
    return out


def timeout_steps(timeouts_s: list[float]) -> st.SearchStrategy[int]:
    """Time between two packets (ns): mostly short, sometimes a timeout or far beyond."""
    exact = [int(t * S) for t in timeouts_s] + [int(t * S) + 1 for t in timeouts_s]
    kinds = {
        "none": st.just(0),
        "short": st.integers(1, 2_000_000),  # up to 2 ms, sub-microsecond digits included
        "long": st.integers(1, 4 * S),
        "exact": st.sampled_from(exact) if exact else st.just(S),
        "huge": st.integers(4097 * S, 9000 * S),  # beyond a turn of the timer wheel
    }
    weights = ["none"] + ["short"] * 12 + ["long"] * 3 + ["exact"] * 2 + ["huge"]
    return st.sampled_from(weights).flatmap(kinds.__getitem__)


@st.composite
def options(draw) -> dict:
    """Tracker options with short timeouts, so that the steps cross them."""
    small = st.sampled_from([0.5, 1.0, 2.0, 3.0])
    choice = draw(st.sampled_from(["classes", "classes", "number", "default"]))
    if choice == "classes":
        idle = {
            name: draw(small) for name in ("tcp_established", "tcp_handshake", "tcp_closed", "udp", "other")
        }
    elif choice == "number":
        idle = draw(small)
    else:
        idle = None
    active = draw(st.sampled_from([None, None, 0.001, 2.5, 6.0]))
    return {"idle_timeout": idle, "active_timeout": active}


def _timeouts_seen(opts: dict) -> list[float]:
    idle = opts["idle_timeout"]
    values = list(idle.values()) if isinstance(idle, dict) else ([idle] if idle else [5.0, 60.0])
    if opts["active_timeout"]:
        values.append(opts["active_timeout"])
    return values


@st.composite
def traces(draw, max_conversations: int = 6) -> tuple[pl.DataFrame, dict]:
    """A packet frame of interleaved conversations, and tracker options for it."""
    opts = draw(options())
    convs = draw(st.lists(conversation(), min_size=1, max_size=max_conversations))
    # interleave: each conversation keeps its order, the merge order is drawn
    cursors = [0] * len(convs)
    order = []
    remaining = sum(len(c) for c in convs)
    while remaining:
        live = [k for k, c in enumerate(convs) if cursors[k] < len(c)]
        k = draw(st.sampled_from(live)) if draw(st.integers(0, 3)) else live[0]
        order.append(convs[k][cursors[k]])
        cursors[k] += 1
        remaining -= 1
    steps = timeout_steps(_timeouts_seen(opts))
    t = T0 + draw(st.integers(0, S))
    rows = []
    for fields in order:
        t += draw(steps)
        rows.append(packet(t, **fields))
    return frame(rows), opts


@st.composite
def crowded_traces(draw, min_flows: int = 12) -> pl.DataFrame:
    """Many concurrent flows (for a tiny table): distinct 5-tuples, short time steps."""
    n = draw(st.integers(min_flows, 3 * min_flows))
    rows = []
    t = T0
    for _ in range(n):
        t += draw(st.integers(0, 10_000_000))
        a, b = draw(st.permutations(HOSTS[4]))[:2]
        sport = draw(st.integers(1024, 1024 + min_flows))
        proto = draw(st.sampled_from([6, 17]))
        flags = draw(st.sampled_from([SYN, SYN | ACK, ACK, FIN | ACK, RST])) if proto == 6 else None
        rows.append(
            packet(t, a, b, proto, sport=sport, dport=80, flags=flags, payload=draw(st.sampled_from([0, 10])))
        )
    return frame(rows)
