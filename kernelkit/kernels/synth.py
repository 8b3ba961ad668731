"""Synthetic-trace kernel: write classic pcap records for a table of flows.

The Python layer (:mod:`kernelkit.synth`) draws a table of flows (kind, packet
count, start time, addresses, ports, initial sequence numbers, ...). This kernel
plays them out in time order: a min-heap holds the next packet time of every
active flow, new flows join as their start time comes, and each packet is
written, headers and all, straight into a preallocated ``uint8`` buffer as a
pcap record. It stops when the buffer cannot take one more record of the
largest size, so that the caller writes the buffer out and calls again: memory
is bounded by the buffer and the flow table, never by the trace.

Everything random inside the kernel comes from a SplitMix64 generator whose
state is an array the caller keeps, so a trace is the same bytes for the same
seed, whatever the buffer size.

Levels, as in the other kernel modules: per-header writers (``_eth``, ``_ipv4``,
``_tcp``, ...), a per-packet function per flow kind, and the batch loop
:func:`fill_records`.
"""

import numpy as np

from .._jit import inline_jit, ngjit

# --- flow kinds -----------------------------------------------------------------
TCP = 0
DNS = 1
UDP_BULK = 2
ICMP = 3

# --- columns of the static flow table (uint32[flows, N_STATIC]) -----------------
S_KIND = 0
S_N = 1  # packets in the flow
S_V6 = 2
S_VLAN = 3  # 802.1Q VLAN id, 0 for untagged
S_CID = 4  # client host id (address derived from it)
S_SID = 5  # server host id
S_CPORT = 6
S_SPORT = 7
S_ISN_C = 8
S_ISN_S = 9
S_TSB_C = 10  # TCP timestamp clock offsets
S_TSB_S = 11
S_TTL = 12  # client TTL | server TTL << 8
S_MSS = 13
S_WIN = 14  # client window | server window << 16 (after the handshake, unscaled)
S_WSCALE = 15  # client shift | server shift << 8
S_MODE = 16  # TCP: 0 download, 1 upload, 2 interactive; UDP bulk: share of client packets in 1/256
S_OPTS = 17  # TCP: 1 timestamps & Linux option layout, 0 no timestamps (Windows layout)
S_END = 18  # TCP: 0 FIN from client, 1 FIN from server, 2 RST
S_AUX = 19  # DNS transaction id and name seed, ICMP echo id
S_ROUTER = 20  # which router MAC the server side uses
N_STATIC = 21

# --- columns of the dynamic flow state (uint32[flows, N_DYN]) --------------------
D_K = 0  # packets of the flow written so far
D_SND_C = 1  # next sequence number, client and server
D_SND_S = 2
D_TSV_C = 3  # last TSval each side sent
D_TSV_S = 4
D_IPID_C = 5
D_IPID_S = 6
N_DYN = 7

# --- generator state (int64[N_STATE]) --------------------------------------------
G_NEXT_FLOW = 0  # next flow (in start order) not yet started
G_HEAP = 1  # flows in the heap
G_DONE = 2  # packets written
G_LAST_TS = 3  # time of the last packet written (ns since the trace start)
G_TOTAL = 4  # packets to write
G_WIRE_BYTES = 5  # sum of frame lengths written
N_STATE = 6

RECORD_HEADER = 16
MAX_FRAME = 1518  # 14 Ethernet + 4 VLAN + 1500 IP
MIN_FRAME = 60  # Ethernet minimum without FCS; shorter frames are zero-padded
SMALL_MAX = 100  # largest frame in small mode

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10


# --- random numbers --------------------------------------------------------------


@inline_jit
def _next_u64(rng):
    """SplitMix64: advance ``rng[0]`` and return 64 random bits."""
    s = rng[0] + np.uint64(0x9E3779B97F4A7C15)
    rng[0] = s
    z = s
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@inline_jit
def _uniform(rng):
    """A float in [0, 1)."""
    return np.int64(_next_u64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@inline_jit
def _below(rng, n):
    """An int in [0, n)."""
    return np.int64(_uniform(rng) * n)


@inline_jit
def _lognormal(rng, median, sigma):
    # Box-Muller; 1 - u is in (0, 1], so the log is finite.
    u1 = 1.0 - _uniform(rng)
    u2 = _uniform(rng)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return median * np.exp(sigma * z)


# --- byte writers ----------------------------------------------------------------


@inline_jit
def _w16(buf, p, v):
    buf[p] = (v >> 8) & 0xFF
    buf[p + 1] = v & 0xFF


@inline_jit
def _w32(buf, p, v):
    buf[p] = (v >> 24) & 0xFF
    buf[p + 1] = (v >> 16) & 0xFF
    buf[p + 2] = (v >> 8) & 0xFF
    buf[p + 3] = v & 0xFF


@inline_jit
def _wl32(buf, p, v):
    buf[p] = v & 0xFF
    buf[p + 1] = (v >> 8) & 0xFF
    buf[p + 2] = (v >> 16) & 0xFF
    buf[p + 3] = (v >> 24) & 0xFF


@inline_jit
def _zero(buf, start, stop):
    for p in range(start, stop):
        buf[p] = 0


@inline_jit
def _sum16(buf, start, stop):
    """Ones'-complement partial sum of the big-endian 16-bit words of buf[start:stop]."""
    s = np.int64(0)
    p = start
    while p + 1 < stop:
        s += (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
        p += 2
    if p < stop:
        s += np.int64(buf[p]) << 8
    return s


@inline_jit
def _fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


# --- addresses -------------------------------------------------------------------


@inline_jit
def _ipv4_of(host, server):
    """Clients in 10.0.0.0/8, servers in 198.18.0.0/15 (RFC 2544 benchmarking)."""
    last = host % 254 + 1
    rest = host // 254
    if server:
        return (198 << 24) | ((18 + ((rest >> 8) & 1)) << 16) | ((rest & 0xFF) << 8) | last
    return (10 << 24) | (((rest >> 8) & 0xFF) << 16) | ((rest & 0xFF) << 8) | last


@inline_jit
def _write_ipv6_addr(buf, p, host, server):
    """Clients in 2001:db8:c::/48, servers in 2001:db8:5::/48 (documentation prefix)."""
    _w16(buf, p, 0x2001)
    _w16(buf, p + 2, 0x0DB8)
    _w16(buf, p + 4, 0x0005 if server else 0x000C)
    _w16(buf, p + 6, (host >> 16) & 0xFFFF)
    _zero(buf, p + 8, p + 14)
    _w16(buf, p + 14, (host & 0xFFFF) + 1 if (host & 0xFFFF) < 0xFFFF else 0xFFFF)


@inline_jit
def _write_mac(buf, p, kind, ident):
    """Locally administered MACs: 02:... for hosts, 06:... for routers."""
    buf[p] = 0x06 if kind else 0x02
    buf[p + 1] = 0x00
    _w32(buf, p + 2, ident)


# --- one packet --------------------------------------------------------------------


@inline_jit
def _frame(buf, pos, t_abs, f, fs, dyn, from_client, proto, l4_len, payload_len):
    """Write the record header, Ethernet (and VLAN) and IP headers of one packet.

    ``l4_len`` is the transport header length, ``payload_len`` the bytes after it.
    Returns ``(offset of the transport header, offset of the IP source address,
    frame length)``; the caller writes the transport header and payload, and
    :func:`_finish` pads the frame.
    """
    v6 = fs[f, S_V6] != 0
    vlan = fs[f, S_VLAN]
    l2 = 18 if vlan else 14
    l3 = 40 if v6 else 20
    frame = l2 + l3 + l4_len + payload_len
    caplen = max(frame, MIN_FRAME)
    seconds = t_abs // 1_000_000_000
    _wl32(buf, pos, seconds)
    _wl32(buf, pos + 4, t_abs - seconds * 1_000_000_000)
    _wl32(buf, pos + 8, caplen)
    _wl32(buf, pos + 12, caplen)
    p = pos + RECORD_HEADER
    # Ethernet: the client side's host MAC, the server side's router MAC.
    host_mac = fs[f, S_CID]
    router_mac = fs[f, S_ROUTER]
    if from_client:
        _write_mac(buf, p, 1, router_mac)
        _write_mac(buf, p + 6, 0, host_mac)
    else:
        _write_mac(buf, p, 0, host_mac)
        _write_mac(buf, p + 6, 1, router_mac)
    p += 12
    if vlan:
        _w16(buf, p, 0x8100)
        _w16(buf, p + 2, vlan)
        p += 4
    _w16(buf, p, 0x86DD if v6 else 0x0800)
    p += 2
    ttl = fs[f, S_TTL] & 0xFF if from_client else (fs[f, S_TTL] >> 8) & 0xFF
    if from_client:
        ip_id = dyn[f, D_IPID_C]
        dyn[f, D_IPID_C] = (ip_id + 1) & 0xFFFF
    else:
        ip_id = dyn[f, D_IPID_S]
        dyn[f, D_IPID_S] = (ip_id + 1) & 0xFFFF
    cid = np.int64(fs[f, S_CID])
    sid = np.int64(fs[f, S_SID])
    if v6:
        # version 6, traffic class 0, flow label from the flow id
        _w32(buf, p, (6 << 28) | (f & 0xFFFFF))
        _w16(buf, p + 4, l4_len + payload_len)
        buf[p + 6] = proto
        buf[p + 7] = ttl
        _write_ipv6_addr(buf, p + 8, cid if from_client else sid, not from_client)
        _write_ipv6_addr(buf, p + 24, sid if from_client else cid, from_client)
        addr = p + 8
    else:
        buf[p] = 0x45
        buf[p + 1] = 0
        _w16(buf, p + 2, 20 + l4_len + payload_len)
        _w16(buf, p + 4, ip_id)
        _w16(buf, p + 6, 0x4000 if proto == 6 else 0)  # DF on TCP
        buf[p + 8] = ttl
        buf[p + 9] = proto
        _w16(buf, p + 10, 0)
        _w32(buf, p + 12, _ipv4_of(cid, False) if from_client else _ipv4_of(sid, True))
        _w32(buf, p + 16, _ipv4_of(sid, True) if from_client else _ipv4_of(cid, False))
        _w16(buf, p + 10, _fold(_sum16(buf, p, p + 20)))
        addr = p + 12
    return p + l3, addr, frame


@inline_jit
def _l4_checksum(buf, l4, addr, v6, proto, l4_len, payload_nonzero, field):
    """Write the TCP/UDP/ICMPv6 checksum at ``l4 + field``.

    Payload bytes past ``payload_nonzero`` are zero and add nothing to the sum.
    """
    s = _sum16(buf, addr, addr + (32 if v6 else 8)) + proto + l4_len
    s += _sum16(buf, l4, l4 + payload_nonzero)
    c = _fold(s)
    if c == 0 and proto == 17:
        c = 0xFFFF
    _w16(buf, l4 + field, c)


@inline_jit
def _finish(buf, pos, frame):
    """Pad a short frame to the Ethernet minimum; return the next record's offset."""
    end = pos + RECORD_HEADER + frame
    if frame < MIN_FRAME:
        _zero(buf, end, pos + RECORD_HEADER + MIN_FRAME)
        return pos + RECORD_HEADER + MIN_FRAME, MIN_FRAME
    return end, frame


@inline_jit
def _payload_cap(fs, f, l4_len, small):
    """The largest payload a packet of this flow can carry."""
    l2 = 18 if fs[f, S_VLAN] else 14
    l3 = 40 if fs[f, S_V6] else 20
    limit = SMALL_MAX if small else l2 + 1500
    cap = limit - l2 - l3 - l4_len
    return max(0, cap)


@inline_jit
def _tcp_packet(buf, pos, t_rel, t_abs, f, k, fs, dyn, rng, small):
    n = np.int64(fs[f, S_N])
    ts_opt = fs[f, S_OPTS] != 0
    end_kind = fs[f, S_END]
    mode = fs[f, S_MODE]
    mss_option = np.int64(fs[f, S_MSS])
    mss = mss_option - 12 if ts_opt else mss_option  # payload of a full segment
    # What this packet is: direction, flags, options kind (0 none, 1 SYN, 2 TS), payload.
    payload = np.int64(0)
    opts = 2 if ts_opt else 0
    if k == 0:
        from_client, flags, opts = True, TCP_SYN, 1
    elif n == 2:
        from_client, flags, opts = False, TCP_RST | TCP_ACK, 0
    elif k == 1:
        from_client, flags, opts = False, TCP_SYN | TCP_ACK, 1
    elif n == 3:
        from_client, flags, opts = True, TCP_RST, 0
    elif k == 2:
        from_client, flags = True, TCP_ACK
    else:
        teardown = 1 if (end_kind == 2 or n < 6) else 3
        j = k - 3
        data = n - 3 - teardown
        if j < data:
            flags = TCP_ACK
            # The sender of bulk data: the server for downloads, the client for uploads.
            if mode == 2:
                phase = j % 3
                from_client = phase != 1
                if phase == 0:
                    payload = np.int64(_lognormal(rng, 80.0, 1.0)) + 1
                elif phase == 1:
                    payload = np.int64(_lognormal(rng, 400.0, 1.2)) + 1
            else:
                bulk_from_client = mode == 1
                if j == 0:
                    from_client = not bulk_from_client
                    payload = np.int64(_lognormal(rng, 300.0, 0.8)) + 1
                elif j % 3 == 0:
                    from_client = not bulk_from_client  # the receiver acknowledges
                else:
                    from_client = bulk_from_client
                    payload = mss if _uniform(rng) < 0.85 else _below(rng, mss) + 1
            if payload > 0:
                flags |= TCP_PSH if (payload < mss) else 0
        else:
            step = j - data
            if teardown == 1:
                from_client, flags, opts = _below(rng, 4) != 0, TCP_RST | TCP_ACK, 0
            else:
                first_client = end_kind == 0
                from_client = first_client if step != 1 else not first_client
                flags = TCP_ACK if step == 2 else TCP_FIN | TCP_ACK
    l4_len = 40 if (opts == 1 and ts_opt) else (32 if opts != 0 else 20)
    if payload > 0:
        cap = _payload_cap(fs, f, l4_len, small)
        payload = min(payload, mss)
        payload = min(payload, cap)
    # Sequence numbers: each side's next byte; acks cover all the other side sent.
    if from_client:
        seq = np.int64(dyn[f, D_SND_C])
        ack = np.int64(dyn[f, D_SND_S])
    else:
        seq = np.int64(dyn[f, D_SND_S])
        ack = np.int64(dyn[f, D_SND_C])
    if k == 0:
        seq = np.int64(fs[f, S_ISN_C])
        ack = np.int64(0)
        flags_ack = False
    else:
        flags_ack = (flags & TCP_ACK) != 0
    if k == 1:
        seq = np.int64(fs[f, S_ISN_S]) if n > 2 else np.int64(0)
    if not flags_ack:
        ack = np.int64(0)
    advance = payload + (1 if (flags & (TCP_SYN | TCP_FIN)) else 0)
    if from_client:
        dyn[f, D_SND_C] = (seq + advance) & 0xFFFFFFFF
    else:
        dyn[f, D_SND_S] = (seq + advance) & 0xFFFFFFFF
    # TCP timestamps: a 1 kHz clock per side; TSecr echoes the other side's last TSval.
    t_ms = t_rel // 1_000_000
    if from_client:
        tsval = (np.int64(fs[f, S_TSB_C]) + t_ms) & 0xFFFFFFFF
        tsecr = np.int64(dyn[f, D_TSV_S])
        dyn[f, D_TSV_C] = tsval
    else:
        tsval = (np.int64(fs[f, S_TSB_S]) + t_ms) & 0xFFFFFFFF
        tsecr = np.int64(dyn[f, D_TSV_C])
        dyn[f, D_TSV_S] = tsval
    if k == 0:
        tsecr = 0
    wscale = (fs[f, S_WSCALE] & 0xFF) if from_client else ((fs[f, S_WSCALE] >> 8) & 0xFF)
    if flags & TCP_SYN:
        win = 64240 if from_client else 65160
    elif flags & TCP_RST:
        win = 0
    else:
        win = (fs[f, S_WIN] & 0xFFFF) if from_client else ((fs[f, S_WIN] >> 16) & 0xFFFF)

    l4, addr, frame = _frame(buf, pos, t_abs, f, fs, dyn, from_client, 6, l4_len, payload)
    sport = fs[f, S_CPORT] if from_client else fs[f, S_SPORT]
    dport = fs[f, S_SPORT] if from_client else fs[f, S_CPORT]
    _w16(buf, l4, sport)
    _w16(buf, l4 + 2, dport)
    _w32(buf, l4 + 4, seq)
    _w32(buf, l4 + 8, ack)
    buf[l4 + 12] = (l4_len // 4) << 4
    buf[l4 + 13] = flags
    _w16(buf, l4 + 14, win)
    _w16(buf, l4 + 16, 0)
    _w16(buf, l4 + 18, 0)
    q = l4 + 20
    if opts == 1 and ts_opt:
        # Linux SYN: MSS, SACK permitted, timestamps, NOP, window scale
        buf[q], buf[q + 1] = 2, 4
        _w16(buf, q + 2, mss_option)
        buf[q + 4], buf[q + 5] = 4, 2
        buf[q + 6], buf[q + 7] = 8, 10
        _w32(buf, q + 8, tsval)
        _w32(buf, q + 12, tsecr)
        buf[q + 16] = 1
        buf[q + 17], buf[q + 18], buf[q + 19] = 3, 3, wscale
    elif opts == 1:
        # Windows SYN: MSS, NOP, window scale, NOP, NOP, SACK permitted
        buf[q], buf[q + 1] = 2, 4
        _w16(buf, q + 2, mss_option)
        buf[q + 4] = 1
        buf[q + 5], buf[q + 6], buf[q + 7] = 3, 3, wscale
        buf[q + 8], buf[q + 9] = 1, 1
        buf[q + 10], buf[q + 11] = 4, 2
    elif opts == 2:
        buf[q], buf[q + 1] = 1, 1
        buf[q + 2], buf[q + 3] = 8, 10
        _w32(buf, q + 4, tsval)
        _w32(buf, q + 8, tsecr)
    _zero(buf, l4 + l4_len, l4 + l4_len + payload)
    _l4_checksum(buf, l4, addr, fs[f, S_V6] != 0, 6, l4_len + payload, l4_len, 16)
    return _finish(buf, pos, frame)


@inline_jit
def _dns_label_len(seed, small):
    return 1 + seed % 3 if small else 3 + seed % 10


@inline_jit
def _dns_name(buf, p, seed, small):
    """Write a query name (one label of letters, then com/net/org); returns its end."""
    length = _dns_label_len(seed, small)
    buf[p] = length
    x = seed
    for i in range(length):
        buf[p + 1 + i] = 97 + x % 26
        x = x // 26 + 7 * i
    q = p + 1 + length
    tld = (seed >> 8) % 3
    buf[q] = 3
    if tld == 0:
        buf[q + 1], buf[q + 2], buf[q + 3] = 99, 111, 109  # com
    elif tld == 1:
        buf[q + 1], buf[q + 2], buf[q + 3] = 110, 101, 116  # net
    else:
        buf[q + 1], buf[q + 2], buf[q + 3] = 111, 114, 103  # org
    buf[q + 4] = 0
    return q + 5


@inline_jit
def _dns_packet(buf, pos, t_abs, f, k, fs, dyn, small):
    from_client = k % 2 == 0
    seed = np.int64(fs[f, S_AUX])
    v6 = fs[f, S_V6] != 0
    qtype = 28 if k >= 2 else 1  # A, then AAAA
    name_len = 1 + _dns_label_len(seed, small) + 5  # label, then 3com, then the root
    question = 12 + name_len + 4
    answer = 12 + (16 if qtype == 28 else 4)
    size = question
    answered = False
    if not from_client:
        l2 = 18 if fs[f, S_VLAN] else 14
        if (not small) or l2 + (40 if v6 else 20) + 8 + question + answer <= SMALL_MAX:
            size = question + answer
            answered = True
    l4, addr, frame = _frame(buf, pos, t_abs, f, fs, dyn, from_client, 17, 8, size)
    _w16(buf, l4, fs[f, S_CPORT] if from_client else fs[f, S_SPORT])
    _w16(buf, l4 + 2, fs[f, S_SPORT] if from_client else fs[f, S_CPORT])
    _w16(buf, l4 + 4, 8 + size)
    _w16(buf, l4 + 6, 0)
    d = l4 + 8
    _w16(buf, d, (seed + k // 2) & 0xFFFF)
    if from_client:
        _w16(buf, d + 2, 0x0100)  # standard query, recursion desired
    else:
        _w16(buf, d + 2, 0x8180 if answered else 0x8183)  # NOERROR, or NXDOMAIN
    _w16(buf, d + 4, 1)
    _w16(buf, d + 6, 1 if answered else 0)
    _w16(buf, d + 8, 0)
    _w16(buf, d + 10, 0)
    q = _dns_name(buf, d + 12, seed, small)
    _w16(buf, q, qtype)
    _w16(buf, q + 2, 1)
    q += 4
    if answered:
        _w16(buf, q, 0xC00C)  # the name, by pointer to the question
        _w16(buf, q + 2, qtype)
        _w16(buf, q + 4, 1)
        _w32(buf, q + 6, 300)
        if qtype == 1:
            _w16(buf, q + 10, 4)
            _w32(buf, q + 12, _ipv4_of(np.int64(fs[f, S_SID]) + seed % 97, True))
            q += 16
        else:
            _w16(buf, q + 10, 16)
            _write_ipv6_addr(buf, q + 12, np.int64(fs[f, S_SID]) + seed % 97, True)
            q += 28
    _l4_checksum(buf, l4, addr, v6, 17, 8 + size, 8 + size, 6)
    return _finish(buf, pos, frame)


@inline_jit
def _udp_bulk_packet(buf, pos, t_abs, f, fs, dyn, rng, small):
    from_client = _below(rng, 256) < fs[f, S_MODE]
    cap = _payload_cap(fs, f, 8, small)
    target = 1200 if not small else cap
    u = _uniform(rng)
    if u < 0.7:
        size = target
    else:
        size = 20 + _below(rng, 1200)
    size = min(size, cap)
    l4, addr, frame = _frame(buf, pos, t_abs, f, fs, dyn, from_client, 17, 8, size)
    _w16(buf, l4, fs[f, S_CPORT] if from_client else fs[f, S_SPORT])
    _w16(buf, l4 + 2, fs[f, S_SPORT] if from_client else fs[f, S_CPORT])
    _w16(buf, l4 + 4, 8 + size)
    _w16(buf, l4 + 6, 0)
    _zero(buf, l4 + 8, l4 + 8 + size)
    _l4_checksum(buf, l4, addr, fs[f, S_V6] != 0, 17, 8 + size, 8, 6)
    return _finish(buf, pos, frame)


@inline_jit
def _icmp_packet(buf, pos, t_abs, f, k, fs, dyn, small):
    from_client = k % 2 == 0
    v6 = fs[f, S_V6] != 0
    size = 56
    cap = _payload_cap(fs, f, 8, small)
    size = min(size, cap)
    proto = 58 if v6 else 1
    l4, addr, frame = _frame(buf, pos, t_abs, f, fs, dyn, from_client, proto, 8, size)
    if v6:
        buf[l4] = 128 if from_client else 129
    else:
        buf[l4] = 8 if from_client else 0
    buf[l4 + 1] = 0
    _w16(buf, l4 + 2, 0)
    _w16(buf, l4 + 4, fs[f, S_AUX] & 0xFFFF)
    _w16(buf, l4 + 6, k // 2 + 1)
    # The payload: ping's pattern of increasing bytes.
    for i in range(size):
        buf[l4 + 8 + i] = (i + 8) & 0xFF
    if v6:
        _l4_checksum(buf, l4, addr, True, 58, 8 + size, 8 + size, 2)
    else:
        _w16(buf, l4 + 2, _fold(_sum16(buf, l4, l4 + 8 + size)))
    return _finish(buf, pos, frame)


# --- the heap of active flows ----------------------------------------------------------


@inline_jit
def _heap_push(heap_t, heap_f, size, t, f):
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if heap_t[parent] < t or (heap_t[parent] == t and heap_f[parent] < f):
            break
        heap_t[i] = heap_t[parent]
        heap_f[i] = heap_f[parent]
        i = parent
    heap_t[i] = t
    heap_f[i] = f
    return size + 1


@inline_jit
def _heap_pop(heap_t, heap_f, size):
    """Remove the root; returns the new size."""
    size -= 1
    t = heap_t[size]
    f = heap_f[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and (
            heap_t[child + 1] < heap_t[child]
            or (heap_t[child + 1] == heap_t[child] and heap_f[child + 1] < heap_f[child])
        ):
            child += 1
        if t < heap_t[child] or (t == heap_t[child] and f < heap_f[child]):
            break
        heap_t[i] = heap_t[child]
        heap_f[i] = heap_f[child]
        i = child
    if size > 0:
        heap_t[i] = t
        heap_f[i] = f
    return size


# --- the batch loop --------------------------------------------------------------------------


@ngjit
def fill_records(buf, base_ns, small, state, rng, fs, start, gap, dyn, heap_t, heap_f):
    """Write pcap records into ``buf`` until it is full or the trace is done.

    Parameters
    ----------
    buf : uint8[:]
        Output buffer, at least ``RECORD_HEADER + MAX_FRAME`` bytes.
    base_ns : int
        Absolute time (ns since the epoch) of the trace start.
    small : bool
        Cap every frame at ``SMALL_MAX`` bytes.
    state : int64[N_STATE]
        Generator state (``G_*``), kept by the caller between calls.
    rng : uint64[1]
        SplitMix64 state, kept by the caller between calls.
    fs : uint32[flows, N_STATIC]
        The flow table (``S_*`` columns), flows in order of start time.
    start, gap : int64[flows]
        Each flow's first packet time (ns from the trace start) and mean gap
        between its packets (ns).
    dyn : uint32[flows, N_DYN]
        Zero-filled per-flow state (``D_*``), kept between calls.
    heap_t, heap_f : int64[flows], int64[flows]
        Heap of the active flows' next packet times, kept between calls.

    Returns
    -------
    (bytes, packets) : (int, int)
        Bytes of ``buf`` filled, and the packets they hold.
    """
    flows = fs.shape[0]
    pos = 0
    written = 0
    limit = len(buf) - (RECORD_HEADER + MAX_FRAME)
    while state[G_DONE] < state[G_TOTAL] and pos <= limit:
        nf = state[G_NEXT_FLOW]
        size = state[G_HEAP]
        if nf < flows and (size == 0 or start[nf] <= heap_t[0]):
            f = nf
            t = start[nf]
            state[G_NEXT_FLOW] = nf + 1
            if fs[f, S_KIND] == TCP:
                dyn[f, D_SND_C] = fs[f, S_ISN_C]
                dyn[f, D_SND_S] = fs[f, S_ISN_S]
                dyn[f, D_IPID_C] = fs[f, S_ISN_C] & 0xFFFF
                dyn[f, D_IPID_S] = fs[f, S_ISN_S] & 0xFFFF
        else:
            f = heap_f[0]
            t = heap_t[0]
            state[G_HEAP] = _heap_pop(heap_t, heap_f, size)
        if t <= state[G_LAST_TS] and state[G_DONE] > 0:
            t = state[G_LAST_TS] + 1  # strictly increasing timestamps
        state[G_LAST_TS] = t
        k = np.int64(dyn[f, D_K])
        kind = fs[f, S_KIND]
        t_abs = base_ns + t
        if kind == TCP:
            pos, frame = _tcp_packet(buf, pos, t, t_abs, f, k, fs, dyn, rng, small)
        elif kind == DNS:
            pos, frame = _dns_packet(buf, pos, t_abs, f, k, fs, dyn, small)
        elif kind == UDP_BULK:
            pos, frame = _udp_bulk_packet(buf, pos, t_abs, f, fs, dyn, rng, small)
        else:
            pos, frame = _icmp_packet(buf, pos, t_abs, f, k, fs, dyn, small)
        state[G_WIRE_BYTES] += frame
        k += 1
        dyn[f, D_K] = k
        if k < fs[f, S_N]:
            # The next packet of this flow: exponential gaps around the flow's mean.
            step = np.int64(-gap[f] * np.log(1.0 - _uniform(rng))) + 1
            state[G_HEAP] = _heap_push(heap_t, heap_f, state[G_HEAP], t + step, f)
        state[G_DONE] += 1
        written += 1
    return pos, written
