"""Synthetic packet traces: large, realistic, seeded, fast to make.

:func:`write_trace` writes a classic pcap file (nanosecond timestamps, Ethernet)
of many interleaved flows, for benchmarks and tests that need more packets than
any real capture at hand:

* TCP connections (most flows) with a SYN / SYN-ACK / ACK handshake whose SYNs
  carry MSS, SACK-permitted, timestamps and window-scale options (Linux layout;
  a share of flows use the Windows layout, without timestamps); data with
  advancing sequence and acknowledgement numbers and timestamps on every
  segment; downloads, uploads and request/response exchanges; a FIN exchange or
  a RST at the end; some connections refused (SYN then RST) or never answered;
* DNS over UDP (a query and its answer, sometimes A then AAAA);
* bulk UDP (media-like streams of ~1200-byte datagrams on high ports);
* ICMP and ICMPv6 echo request/reply exchanges;
* IPv4 and IPv6 (a requested share of packets), some flows behind an 802.1Q
  VLAN tag (a requested share of packets).

Flow sizes are heavy-tailed (Pareto): most flows are a few packets, a few
carry most of them. Each flow has its own start time and pace; the packets of
all flows are merged in time, and timestamps strictly increase. Packet sizes
mix 60–100-byte ACKs, 1514-byte full segments and sizes in between; with
``small=True`` every frame is at most 100 bytes (for packets/s benchmarks).
IP, TCP, UDP and ICMP checksums are correct; payloads are zeros (ping and DNS
payloads are real).

Generation runs in a Numba kernel (:mod:`kernelkit.kernels.synth`) that writes
records into a fixed buffer which is written out whenever it fills, so the
memory used is bounded by the buffer and the flow table (about 150 bytes per
flow), not by the size of the trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .kernels import synth as K

PCAP_NS_MAGIC = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
DEFAULT_START = 1_700_000_000  # 2023-11-14T22:13:20Z

# Share of flows of each kind (TCP, DNS, bulk UDP, ICMP).
FLOW_MIX = np.array([0.62, 0.23, 0.07, 0.08])
TCP_REFUSED = 0.05  # TCP flows that never complete a handshake
TCP_RST_END = 0.15  # complete TCP flows that end with a RST
PARETO_SHAPE = 1.2  # tail of the per-flow packet count
MAX_FLOW_SHARE = 0.01  # the largest flow's share of the packets (when flows are many)
VLAN_IDS = np.array([10, 20, 30, 100, 101, 200, 300, 1001], np.uint32)


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_trace` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    packets, flows : int
        Packets and flows in it.
    bytes : int
        Size of the file.
    wire_bytes : int
        Sum of the frame lengths (without pcap headers).
    seconds : float
        Time from the first packet to the last.
    """

    path: Path
    packets: int
    flows: int
    bytes: int
    wire_bytes: int
    seconds: float


def write_trace(
    path: str | os.PathLike,
    *,
    packets: int = 1_000_000,
    flows: int | None = None,
    seed: int = 0,
    ipv6_share: float = 0.2,
    vlan_share: float = 0.1,
    small: bool = False,
    rate: float = 1e6,
    start: int = DEFAULT_START,
    buffer_bytes: int = 64 << 20,
) -> SynthSummary:
    """Write a synthetic classic pcap trace of interleaved TCP, UDP and ICMP flows.

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced if it exists).
    packets : int
        Exactly how many packets to write.
    flows : int, optional
        How many flows; ``packets // 20`` (at least 1) by default. Flow sizes
        are heavy-tailed around that mean. At most ``packets``: when there are
        too few packets for full exchanges, some flows become single
        unanswered packets.
    seed : int
        Seed of every random choice: the same arguments give the same bytes.
    ipv6_share, vlan_share : float
        Share of packets (whole flows at a time, so within about one flow's
        size of the request) that are IPv6, and that carry an 802.1Q tag.
    small : bool
        Keep every frame at most 100 bytes: data segments, datagrams and DNS
        answers are cut to fit. For packets-per-second benchmarks.
    rate : float
        Mean packets per second of the whole trace; sets its duration.
    start : int
        Time of the trace start, in seconds since the epoch.
    buffer_bytes : int
        Size of the buffer written at a time (at least 64 KiB).

    Returns
    -------
    SynthSummary

    Notes
    -----
    Speed, after the kernel's first compilation (cached on disk): about 2.5 M
    small packets per CPU second end to end (5 M in about 2 s, file writes
    included), and a 2 GiB trace of mixed sizes in about 10 s, mostly writing.
    Memory: ``buffer_bytes`` plus about 150 bytes per flow (a few hundred while
    the flow table is drawn), whatever the number of packets.

    Examples
    --------
    >>> import tempfile, pathlib, kernelkit
    >>> from kernelkit.synth import write_trace
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "synth.pcap"
    >>> summary = write_trace(path, packets=10_000, seed=1)
    >>> summary.packets, summary.flows
    (10000, 500)
    >>> packets = kernelkit.read_packets(path)
    >>> packets.height, int(packets["status"].max())
    (10000, 0)
    """
    packets = int(packets)
    if packets < 1:
        raise ValueError(f"packets must be positive, not {packets}")
    flows = max(1, packets // 20) if flows is None else int(flows)
    if not 1 <= flows <= packets:
        raise ValueError(f"flows must be between 1 and packets ({packets}), not {flows}")
    for name, share in (("ipv6_share", ipv6_share), ("vlan_share", vlan_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], not {share}")
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    buffer_bytes = max(int(buffer_bytes), 64 << 10)

    table, first, gap = flow_table(packets, flows, seed, ipv6_share, vlan_share, rate)
    state = np.zeros(K.N_STATE, np.int64)
    state[K.G_TOTAL] = packets
    rng = np.array([(seed * 0x2545F4914F6CDD1D + 1) & 0xFFFFFFFFFFFFFFFF], np.uint64)
    dyn = np.zeros((flows, K.N_DYN), np.uint32)
    heap_t = np.zeros(flows, np.int64)
    heap_f = np.zeros(flows, np.int64)
    buf = np.empty(buffer_bytes, np.uint8)
    base_ns = int(start) * 1_000_000_000
    path = Path(path)
    with open(path, "wb") as out:
        out.write(_pcap_header())
        while state[K.G_DONE] < packets:
            filled, _ = K.fill_records(
                buf, base_ns, bool(small), state, rng, table, first, gap, dyn, heap_t, heap_f
            )
            out.write(memoryview(buf)[:filled])
    return SynthSummary(
        path=path,
        packets=packets,
        flows=flows,
        bytes=path.stat().st_size,
        wire_bytes=int(state[K.G_WIRE_BYTES]),
        seconds=(int(state[K.G_LAST_TS]) - int(first[0])) / 1e9,
    )


def _pcap_header() -> bytes:
    return np.array([PCAP_NS_MAGIC, 2 | (4 << 16), 0, 0, 262144, LINKTYPE_ETHERNET], dtype="<u4").tobytes()


def _spread(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum to exactly ``total``."""
    if total <= 0 or len(weights) == 0:
        return np.zeros(len(weights), np.int64)
    exact = weights * (total / weights.sum())
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        # the largest remainders get one more (stable order: deterministic)
        order = np.argsort(-(exact - counts), kind="stable")[:short]
        counts[order] += 1
    return counts


def _clip_tail(weights: np.ndarray, total: int, packets: int, flows: int) -> np.ndarray:
    """Clip weights so that no flow gets more than ``MAX_FLOW_SHARE`` of the packets.

    Unless the flows are too few for that: a flow may always hold 10 times the
    mean flow size.
    """
    if len(weights) == 0 or total <= 0:
        return weights
    cap = max(MAX_FLOW_SHARE * packets, 10.0 * packets / flows)
    for _ in range(8):
        limit = cap / total * weights.sum()
        if weights.max() <= limit:
            break
        weights = np.minimum(weights, limit)
    return weights


def _share_by_packets(rng: np.random.Generator, sizes: np.ndarray, share: float) -> np.ndarray:
    """Mark whole flows, in random order, until they hold ``share`` of the packets."""
    order = rng.permutation(len(sizes))
    cumulative = np.cumsum(sizes[order])
    middle = cumulative - sizes[order] / 2.0
    marked = np.zeros(len(sizes), bool)
    marked[order] = middle < share * cumulative[-1]
    return marked


def flow_table(
    packets: int, flows: int, seed: int, ipv6_share: float, vlan_share: float, rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the flows of a trace: the static table, start times and mean gaps.

    Returns ``(table, start, gap)``: ``table`` is ``uint32[flows, N_STATIC]``
    (columns ``S_*`` of :mod:`kernelkit.kernels.synth`), ``start`` the first
    packet time of each flow and ``gap`` the mean time between its packets, in
    ns from the trace start; flows are sorted by start time, and their packet
    counts sum to exactly ``packets``.
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=flows, p=FLOW_MIX).astype(np.int64)
    if not np.any((kind == K.TCP) | (kind == K.UDP_BULK)):
        kind[0] = K.TCP  # someone must carry the packets left over
    u = rng.random(flows)

    # Fixed sizes and minimums per kind; heavy-tailed extras for TCP and bulk UDP.
    refused = (kind == K.TCP) & (u < TCP_REFUSED)
    end = np.where(rng.random(flows) < TCP_RST_END, 2, rng.integers(0, 2, flows))
    n = np.zeros(flows, np.int64)
    n[refused] = rng.choice([1, 2, 3], size=int(refused.sum()), p=[0.4, 0.5, 0.1])
    full_tcp = (kind == K.TCP) & ~refused
    n[full_tcp] = np.where(end[full_tcp] == 2, 4, 6)
    dns = kind == K.DNS
    n[dns] = rng.choice([1, 2, 4], size=int(dns.sum()), p=[0.04, 0.86, 0.10])
    n[kind == K.UDP_BULK] = 1
    icmp = kind == K.ICMP
    n[icmp] = 2 * rng.integers(1, 6, int(icmp.sum())) - (rng.random(int(icmp.sum())) < 0.1)
    growing = full_tcp | (kind == K.UDP_BULK)
    left = packets - int(n.sum())
    if left < 0:
        # Too few packets for full exchanges: the flows with the largest minimum
        # become single unanswered packets until the count fits.
        order = np.argsort(-n, kind="stable")
        saved = np.cumsum(n[order] - 1)
        cut = order[: int(np.searchsorted(saved, -left)) + 1]
        n[cut] = 1
        growing[cut] = False
        left = packets - int(n.sum())
        if left > 0 and not growing.any():
            growing[cut[0]] = True  # one flow, as bulk UDP, carries the packets left
            kind[cut[0]] = K.UDP_BULK
    weights = rng.pareto(PARETO_SHAPE, flows) + 0.05
    n[growing] += _spread(_clip_tail(weights[growing], left, packets, flows), left)

    v6 = _share_by_packets(rng, n, ipv6_share)
    vlan = _share_by_packets(rng, n, vlan_share)

    # Time: each flow paces its packets around a lognormal mean gap; it starts at
    # a uniform time such that it ends within the trace.
    duration = packets / rate * 1e9
    mean_gap = rng.lognormal(np.log(2e6), 1.5, flows)  # ns, median 2 ms
    span = np.minimum(n * mean_gap, 0.9 * duration)
    first = (rng.random(flows) * (duration - span)).astype(np.int64)
    gap = np.maximum(span / np.maximum(n, 1), 1.0)
    order = np.argsort(first, kind="stable")

    t = np.zeros((flows, K.N_STATIC), np.uint32)
    t[:, K.S_KIND] = kind
    t[:, K.S_N] = n
    t[:, K.S_V6] = v6
    t[:, K.S_VLAN] = np.where(vlan, VLAN_IDS[rng.integers(0, len(VLAN_IDS), flows)], 0)
    clients = max(16, flows // 8)
    servers = max(16, flows // 40)
    t[:, K.S_CID] = rng.integers(0, clients, flows)
    t[:, K.S_SID] = (rng.zipf(1.3, flows) - 1) % servers
    t[:, K.S_CPORT] = rng.integers(32768, 61000, flows)
    tcp_ports = np.array([443, 80, 22, 8080, 25, 993, 8443, 5432])
    tcp_port_p = np.array([0.70, 0.15, 0.04, 0.03, 0.02, 0.02, 0.02, 0.02])
    sport = np.where(
        kind == K.TCP,
        tcp_ports[rng.choice(len(tcp_ports), flows, p=tcp_port_p)],
        np.where(kind == K.DNS, 53, 16384 + 2 * rng.integers(0, 8192, flows)),
    )
    t[:, K.S_SPORT] = np.where(kind == K.ICMP, 0, sport)
    t[:, K.S_ISN_C] = rng.integers(0, 1 << 32, flows, dtype=np.uint64)
    t[:, K.S_ISN_S] = rng.integers(0, 1 << 32, flows, dtype=np.uint64)
    t[:, K.S_TSB_C] = rng.integers(0, 1 << 32, flows, dtype=np.uint64)
    t[:, K.S_TSB_S] = rng.integers(0, 1 << 32, flows, dtype=np.uint64)
    linux = rng.random(flows) < 0.8
    client_ttl = np.where(linux, 64, 128)
    server_ttl = rng.integers(40, 61, flows)
    t[:, K.S_TTL] = client_ttl | (server_ttl << 8)
    mss = np.where(v6, 1440, 1460) - np.where(rng.random(flows) < 0.1, 80, 0)
    t[:, K.S_MSS] = mss
    t[:, K.S_WIN] = rng.integers(500, 3000, flows) | (rng.integers(250, 2000, flows) << 16)
    t[:, K.S_WSCALE] = rng.choice([7, 8, 9], flows) | (rng.choice([7, 9, 10], flows) << 8)
    tcp_mode = rng.choice(3, flows, p=[0.6, 0.1, 0.3])
    udp_mode = np.where(rng.random(flows) < 0.8, 16, 128)  # media one way, or a call both ways
    t[:, K.S_MODE] = np.where(kind == K.TCP, tcp_mode, udp_mode)
    t[:, K.S_OPTS] = linux
    t[:, K.S_END] = end
    t[:, K.S_AUX] = rng.integers(0, 1 << 31, flows)
    t[:, K.S_ROUTER] = rng.integers(0, 4, flows)
    return np.ascontiguousarray(t[order]), first[order], gap[order].astype(np.int64)
