#!/usr/bin/env python3
"""Session benchmark: session extraction and filter evaluation next to tshark, in one run.

    python3 benchmarks/sessions.py [--packets N] [--repeats R] [--tshark-packets N] [--no-cold-jit]

What it does (in a temporary directory, deleted at the end):

1. Builds a session-rich trace of at least ``--packets`` packets: the shared
   captures whose categories in ``shared/traces/SOURCES.md`` are TLS, HTTP, DNS,
   QUIC or mixed traffic (the classic-pcap Ethernet ones), concatenated by
   ``_traces.build_real_trace`` into one copy, then that copy written again and
   again with timestamps moved on and the IP addresses of each copy rewritten
   (two bytes of every IPv4 and IPv6 address XORed with the copy number; the IPv4
   header checksum updated; TCP/UDP checksums left as they were: neither tool
   checks them by default). Without the rewrite every copy would continue the
   connections of the copy before, and both tools would take the repeated
   handshakes for retransmissions.
2. Times ``kernelkit.analyze(path)`` split into its stages: parse + track
   (``kernelkit.track(path, data=True)``), the TCP reassembly (once, for TLS and HTTP)
   and the extractors (TLS, HTTP, DNS, QUIC, and the flow annotation), one thread, median of ``--repeats`` after a
   warm-up; wall and CPU time.
3. Times filters (``kernelkit.filter(text).packets(...)`` and ``.flows(...)``) on
   the tables analyze returned: rows per second, median of ``--filter-repeats``.
4. Runs tshark on the same file: ``-T fields`` with the six session fields
   (``tls.handshake.extensions_server_name``, ``tls.handshake.extensions_alpn_str``,
   ``http.host``, ``http.request.uri``, ``dns.qry.name``, ``dns.qry.type``), once
   with every dissector (what a user gets) and once with only the dissectors
   these fields need; and ``-Y`` with the display filter equivalent to each packet
   filter, every dissector. Whole process, start-up included.
5. JIT: the first ``analyze`` call in this process (compiles, or loads Numba's
   cache) against the second, on one copy of the trace; and a fresh process
   with an empty ``NUMBA_CACHE_DIR`` (cold compile).

Ratios are kit ÷ tshark on the same file in the same run (rates, so > 1 means
the kit is faster). The load average is printed at start and end.
"""

from __future__ import annotations

import os
import resource

# One thread for the kit, as tshark's dissection is one thread: set before numba,
# polars and pyarrow start their thread pools.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import json
import math
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # measure the checkout this file is in
sys.path.insert(0, str(HERE))

import numpy as np
import polars as pl
import pyarrow as pa

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

import _traces

import kernelkit
from kernelkit.sessions import annotate_flows
from kernelkit.sessions.http import DEFAULT_CAPACITY as HTTP_CAPACITY
from kernelkit.sessions.http import messages_from_streams, transactions_from_messages
from kernelkit.sessions.streams import tcp_streams
from kernelkit.sessions.tls import DEFAULT_CAPACITY as TLS_CAPACITY
from kernelkit.sessions.tls import handshakes_from_streams

# SOURCES.md categories of the captures that carry sessions.
SESSION_CATEGORIES = {"http", "dns", "dns-udp", "dns-tcp", "tls12-sni", "tls13-sni", "quic", "mixed"}

TSHARK_SESSION_FIELDS = [
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "http.host",
    "http.request.uri",
    "dns.qry.name",
    "dns.qry.type",
]
# Dissectors kept in the "needed dissectors only" tshark run (everything else disabled).
TSHARK_NEEDED = [
    "frame",
    "eth",
    "ethertype",
    "vlan",
    "llc",
    "sll",
    "sll2",
    "null",
    "raw",
    "mpls",
    "ip",
    "ipv6",
    "tcp",
    "udp",
    "tls",
    "http",
    "dns",
    "quic",
    "data",
    "fcs",
    "pkt_comment",
]

# Packet filters: the kit's text and tshark's equivalent display filter. For
# session fields the meanings differ: the kit selects every packet of a connection
# whose session matches (Retina's semantics); tshark the packets carrying the field.
PACKET_FILTERS = [
    ("tcp.port == 443", "tcp.port == 443"),
    ("tcp.flags.syn and not tcp.flags.ack", "tcp.flags.syn == 1 && tcp.flags.ack == 0"),
    ("ip.addr == 10.0.0.0/8 or udp.port in 5000..6000", "ip.addr == 10.0.0.0/8 || udp.port in {5000..6000}"),
    ("tls.sni ~ 'google'", 'tls.handshake.extensions_server_name matches "google"'),
    ("http.method == 'GET' and tcp.dstport == 80", 'http.request.method == "GET" && tcp.dstport == 80'),
    ("dns.qname contains 'google'", 'dns.qry.name contains "google"'),
    ("quic.sni ~ 'cloudflare'", 'quic && tls.handshake.extensions_server_name matches "cloudflare"'),
]
# Flow filters: no tshark equivalent (tshark has no connection records).
FLOW_FILTERS = [
    "conn.state == 'SF' and tls",
    "tls.sni ~ 'google' or quic.sni ~ 'google'",
    "dns.rcode == 'NXDOMAIN'",
    "http.host contains 'org' and conn.duration > 0.5",
    "tcp.port == 443 and conn.resp_bytes > 10000",
    "tcp.flags.syn and not tls",
]


@dataclass
class Timing:
    wall: float
    cpu: float
    note: str = ""


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def si(x: float, unit: str = "") -> str:
    if math.isnan(x):
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.1f} {unit}".rstrip()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --- the trace ---------------------------------------------------------------------------


def session_captures(shared: Path) -> list[Path]:
    """The shared captures whose SOURCES.md categories say they carry sessions."""
    sources = shared / "SOURCES.md"
    if not sources.is_file():
        return sorted(p for p in shared.iterdir() if p.suffix in (".pcap", ".pcapng"))
    found = []
    for line in sources.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if (
            len(cells) > 9
            and cells[1].endswith((".pcap", ".pcapng"))
            and set(cells[8].split(",")) & SESSION_CATEGORIES
            and (shared / cells[1]).is_file()
        ):
            found.append(shared / cells[1])
    return sorted(found)


def _ones_complement_update(checksum: np.ndarray, old: list[np.ndarray], new: list[np.ndarray]) -> np.ndarray:
    """RFC 1624, eqn. 3: the header checksum after 16-bit words ``old`` became ``new``."""
    s = (~checksum.astype(np.int64)) & 0xFFFF
    for o, n in zip(old, new):
        s = s + ((~o.astype(np.int64)) & 0xFFFF) + n.astype(np.int64)
    while (s >> 16).any():
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def build_session_trace(out: Path, min_packets: int, captures: list[Path], tmp: Path) -> dict:
    """Write ``captures`` once (``_traces.build_real_trace``), then that copy as often as needed
    for ``min_packets``, each copy later in time and with its own IP addresses."""
    src = tmp / "session-sources"
    src.mkdir()
    for path in captures:
        (src / path.name).symlink_to(path.resolve())
    template = tmp / "one-copy.pcap"
    one = _traces.build_real_trace(template, 1, sources=src)
    raw = template.read_bytes()
    header, block = raw[:24], np.frombuffer(raw, np.uint8)[24:].copy()

    # Record offsets (inside block) and timestamps of the one copy.
    starts, ts = [], []
    pos = 0
    while pos + 16 <= len(block):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", block, pos)
        starts.append(pos)
        ts.append(sec * 1_000_000_000 + nsec)
        pos += 16 + caplen
    starts = np.array(starts, np.int64)
    ts = np.array(ts, np.int64) - ts[0]
    span = int(ts[-1]) + 1_000_000_000  # 1 s between copies

    # Where each packet's outermost IP header is (the kit's parse columns).
    cols = kernelkit.read_packets(template).select("caplen", "ip_version", "l3_offset")
    assert cols.height == len(starts), "one row per record"
    caplen = cols["caplen"].to_numpy().astype(np.int64)
    version = cols["ip_version"].fill_null(0).to_numpy()
    l3 = cols["l3_offset"].fill_null(-1).to_numpy().astype(np.int64)
    data_at = starts + 16
    v4 = (version == 4) & (l3 >= 0) & (l3 + 20 <= caplen)
    v6 = (version == 6) & (l3 >= 0) & (l3 + 40 <= caplen)
    ip4 = data_at[v4] + l3[v4]
    ip6 = data_at[v6] + l3[v6]
    # Bytes XORed: IPv4 src/dst octets 2 and 3; IPv6 src/dst bytes 12 and 13.
    v4_lo, v4_hi = np.concatenate([ip4 + 13, ip4 + 17]), np.concatenate([ip4 + 14, ip4 + 18])
    v6_lo, v6_hi = np.concatenate([ip6 + 20, ip6 + 36]), np.concatenate([ip6 + 21, ip6 + 37])
    words = [ip4 + 12, ip4 + 14, ip4 + 16, ip4 + 18]  # the four address words of an IPv4 header

    def word(buf, at):
        return (buf[at].astype(np.int64) << 8) | buf[at + 1]

    original = block.copy()
    checksum0 = word(original, ip4 + 10)
    old_words = [word(original, w) for w in words]
    copies = -(-min_packets // len(starts))
    base = 1_700_000_000 * 1_000_000_000
    with open(out, "wb") as f:
        f.write(header)
        for k in range(copies):
            buf = original.copy()
            t = base + k * span + ts
            buf[starts[:, None] + np.arange(4)] = (
                (t // 1_000_000_000).astype("<u4").view(np.uint8).reshape(-1, 4)
            )
            buf[starts[:, None] + 4 + np.arange(4)] = (
                (t % 1_000_000_000).astype("<u4").view(np.uint8).reshape(-1, 4)
            )
            lo, hi = np.uint8(k & 0xFF), np.uint8((k >> 8) & 0xFF)
            buf[v4_lo] ^= lo
            buf[v4_hi] ^= hi
            buf[v6_lo] ^= lo
            buf[v6_hi] ^= hi
            new_sum = _ones_complement_update(checksum0, old_words, [word(buf, w) for w in words])
            buf[ip4 + 10] = (new_sum >> 8).astype(np.uint8)
            buf[ip4 + 11] = (new_sum & 0xFF).astype(np.uint8)
            f.write(buf.tobytes())
    return {
        "files": one["files"],
        "per_copy": len(starts),
        "copies": copies,
        "packets": len(starts) * copies,
        "bytes": out.stat().st_size,
        "median_size": int(np.median(caplen)),
        "template": template,
    }


# --- the kit -----------------------------------------------------------------------------


def _reassembled(packets):
    tcp = packets.filter(pl.col("ip_proto") == 6)
    return tcp, tcp_streams(tcp, capacity=max(HTTP_CAPACITY, TLS_CAPACITY))


def analyze_stages(path: Path) -> tuple[dict[str, Timing], kernelkit.sessions.Analysis]:
    """``kernelkit.analyze(path)`` step by step (its own body), each step timed."""
    spent = {}

    def timed(name, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        result = fn(*args)
        spent[name] = Timing(time.perf_counter() - w, time.process_time() - c)
        return result

    tracked = timed("parse + track", lambda: kernelkit.track(path, data=True))
    tcp, streams = timed("TCP reassembly", lambda: _reassembled(tracked.packets))
    tls = timed("TLS handshakes", handshakes_from_streams, streams)
    http = timed("HTTP transactions", lambda: transactions_from_messages(messages_from_streams(tcp, streams)))
    dns = timed("DNS transactions", kernelkit.dns_transactions, tracked)
    quic = timed("QUIC handshakes", kernelkit.quic_handshakes, tracked)
    flows = timed("annotate flows", annotate_flows, tracked.flows, tls, http, dns, quic)
    analysis = kernelkit.sessions.Analysis(tracked.packets, flows, tls, http, dns, quic)
    return spent, analysis


def time_analyze(path: Path, repeats: int) -> tuple[dict[str, Timing], Timing, kernelkit.sessions.Analysis]:
    """Medians over ``repeats`` rounds of a stage-by-stage run and a ``kernelkit.analyze`` call,
    interleaved so that both see the same machine and the same allocator state."""
    runs, walls, cpus = [], [], []
    analysis = None
    for _ in range(repeats):
        analysis = None
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        a = kernelkit.analyze(path)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        del a
        gc.collect()
        spent, analysis = analyze_stages(path)
        runs.append(spent)
    stages = {
        name: Timing(
            statistics.median(r[name].wall for r in runs), statistics.median(r[name].cpu for r in runs)
        )
        for name in runs[0]
    }
    whole = Timing(
        statistics.median(walls),
        statistics.median(cpus),
        note=f"wall min {min(walls):.2f} s, max {max(walls):.2f} s; CPU min {min(cpus):.2f} s, "
        f"max {max(cpus):.2f} s",
    )
    return stages, whole, analysis


def time_filter(fn, repeats: int) -> tuple[Timing, int]:
    fn()  # warm: the filter is parsed and compiled once (cached), Polars' first call
    walls, cpus = [], []
    n = 0
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        n = fn().height
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return Timing(statistics.median(walls), statistics.median(cpus)), n


def time_filters(a, repeats: int) -> tuple[list, list]:
    """Each packet filter on ``a.packets`` and each flow filter on ``a.flows``: (text, Timing, matched)."""
    sessions = a.sessions()
    packet_rows, flow_rows = [], []
    for text, _ in PACKET_FILTERS:
        f = kernelkit.filter(text)
        t, n = time_filter(lambda f=f: f.packets(a.packets, a.flows, **sessions), repeats)
        packet_rows.append((text, t, n))
    for text in FLOW_FILTERS:
        f = kernelkit.filter(text)
        t, n = time_filter(lambda f=f: f.flows(a.flows, a.packets, **sessions), repeats)
        flow_rows.append((text, t, n))
    return packet_rows, flow_rows


# --- tshark -----------------------------------------------------------------------------


def tshark_needed_config(directory: Path) -> Path:
    """A Wireshark configuration home with every dissector disabled but :data:`TSHARK_NEEDED`."""
    out = subprocess.run(["tshark", "-G", "protocols"], capture_output=True, text=True, check=True).stdout
    names = [line.split("\t")[2] for line in out.splitlines() if line.count("\t") >= 2]
    keep = set(TSHARK_NEEDED)
    disabled = [n for n in names if n not in keep and not n.startswith(("ipv6.", "_ws."))]
    home = directory / "wireshark-needed"
    (home / "wireshark").mkdir(parents=True, exist_ok=True)
    (home / "wireshark" / "disabled_protos").write_text("\n".join(disabled) + "\n")
    return home


def run_tshark(args: list[str], config_home: Path | None, limit: int) -> tuple[Timing, list[bytes]]:
    """Run tshark as a whole process; returns its time and its output lines."""
    cmd = ["tshark", "-n", *args]
    if limit:
        cmd += ["-c", str(limit)]
    env = dict(os.environ)
    if config_home is not None:
        env["XDG_CONFIG_HOME"] = str(config_home)
    else:
        env["XDG_CONFIG_HOME"] = str(Path(tempfile.gettempdir()) / "kk-bench-empty-config")  # default prefs
    c = _children_cpu()
    w = time.perf_counter()
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - w
    if proc.returncode != 0:
        raise RuntimeError(f"tshark exited with {proc.returncode}")
    return Timing(wall, _children_cpu() - c), proc.stdout.splitlines()


def tshark_field_counts(lines: list[bytes]) -> dict[str, int]:
    counts = dict.fromkeys(["sni", "alpn", "http_host", "http_uri", "dns_qname"], 0)
    keys = list(counts)
    for line in lines:
        cells = line.split(b"\t")
        for key, cell in zip(keys, cells):
            if cell:
                counts[key] += 1
    return counts


def tshark_version() -> str:
    if not shutil.which("tshark"):
        return "tshark absent"
    out = subprocess.run(["tshark", "--version"], check=False, capture_output=True, text=True).stdout
    return out.splitlines()[0].split(" (Git")[0] if out else "tshark ?"


# --- JIT ---------------------------------------------------------------------------------

COLD_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import kernelkit
t1 = time.perf_counter()
kernelkit.analyze(sys.argv[1])
t2 = time.perf_counter()
kernelkit.analyze(sys.argv[1])
t3 = time.perf_counter()
kernelkit.filter("tls.sni ~ 'x' and tcp.port == 443")
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def cold_jit(tiny: Path, tmp: Path) -> dict:
    cache = tmp / "numba-cache"
    cache.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    env.pop("NUMBA_BOUNDSCHECK", None)
    out = subprocess.run(
        [sys.executable, "-c", COLD_PROBE, str(tiny)], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- main --------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=500_000, help="packets of the built trace (at least)")
    p.add_argument("--repeats", type=int, default=3, help="timed analyze runs (after a warm-up)")
    p.add_argument("--filter-repeats", type=int, default=5, help="timed runs per filter")
    p.add_argument("--tshark-packets", type=int, default=0, help="cap tshark to this many (0: whole file)")
    p.add_argument("--no-tshark", action="store_true", help="skip the tshark runs")
    p.add_argument("--no-cold-jit", action="store_true", help="skip the fresh-process cold compile")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_start = load()
    print("kernelkit session benchmark")
    print(
        f"  python {sys.version.split()[0]}, polars {pl.__version__}, pyarrow {pa.__version__}, {tshark_version()}"
    )
    print(
        f"  {os.cpu_count()} CPUs; load average at start {load_start}; one thread for the kit (NUMBA/POLARS/Arrow)"
    )

    captures = session_captures(_traces.SHARED)
    if not captures:
        raise SystemExit(f"no shared captures with sessions in {_traces.SHARED}")
    have_tshark = shutil.which("tshark") is not None and not args.no_tshark

    with tempfile.TemporaryDirectory(prefix="kernelkit-sessions-") as tmp_name:
        tmp = Path(tmp_name)
        log(f"building the session trace (>= {args.packets:,} packets)")
        trace = tmp / "sessions.pcap"
        info = build_session_trace(trace, args.packets, captures, tmp)

        # JIT: first and second call in this process, on one copy.
        log("JIT: first and second analyze on one copy")
        jit = {}
        for label in ("first", "second"):
            w = time.perf_counter()
            kernelkit.analyze(info["template"])
            jit[label] = time.perf_counter() - w
        small = kernelkit.analyze(info["template"])
        w = time.perf_counter()
        kernelkit.filter("dns.qname ~ 'x' and udp.port == 53").packets(
            small.packets, small.flows, **small.sessions()
        )
        jit["filter"] = time.perf_counter() - w
        del small

        log(f"kit: analyze, stage by stage, {args.repeats} runs after a warm-up")
        kernelkit.analyze(trace)  # warm-up: file pages in memory, kernels loaded
        stages, whole, a = time_analyze(trace, args.repeats)
        n_packets, n_flows = a.packets.height, a.flows.height
        kit_counts = {
            "sni": int(a.tls["sni"].is_not_null().sum() + a.quic["sni"].is_not_null().sum()),
            "alpn": int(
                (a.tls["alpn_offered"].list.len() > 0).sum() + (a.quic["alpn_offered"].list.len() > 0).sum()
            ),
            "http_host": int(a.http["http_host"].is_not_null().sum()),
            "http_uri": int(a.http["http_uri"].is_not_null().sum()),
            "dns_qname": int(a.dns["dns_qname"].is_not_null().sum()),
        }

        log(f"kit: {len(PACKET_FILTERS)} packet filters and {len(FLOW_FILTERS)} flow filters")
        packet_rows, flow_rows = time_filters(a, args.filter_repeats)
        a = None  # free the tables before tshark runs
        gc.collect()

        tshark_rows = {}
        tshark_filters = []
        if have_tshark:
            limit = args.tshark_packets
            what = "the whole file" if not limit else f"{limit:,} packets"
            fields = []
            for name in TSHARK_SESSION_FIELDS:
                fields += ["-e", name]
            for label, home in (
                ("every dissector", None),
                ("needed dissectors only", tshark_needed_config(tmp)),
            ):
                log(f"tshark -T fields, {label}, on {what}")
                try:
                    t, lines = run_tshark(["-r", str(trace), "-T", "fields", *fields], home, limit)
                    tshark_rows[label] = (t, len(lines), tshark_field_counts(lines))
                except Exception as exc:  # noqa: BLE001 - a failing peer is a row
                    tshark_rows[label] = (None, 0, str(exc))
            for text, display in PACKET_FILTERS:
                log(f"tshark -Y {display!r}")
                try:
                    t, lines = run_tshark(
                        ["-r", str(trace), "-Y", display, "-T", "fields", "-e", "frame.number"], None, limit
                    )
                    tshark_filters.append((display, t, len(lines)))
                except Exception as exc:  # noqa: BLE001
                    tshark_filters.append((display, None, str(exc)))

        cold = None
        if not args.no_cold_jit:
            log("JIT: cold compile in a fresh process (empty NUMBA_CACHE_DIR)")
            try:
                cold = cold_jit(info["template"], tmp)
            except subprocess.CalledProcessError as exc:
                cold = {"error": (exc.stderr or "").strip().splitlines()[-1:]}

    # --- report ------------------------------------------------------------------------------
    print("\nTrace")
    print(
        f"  {info['packets']:,} packets, {info['bytes'] / 1e6:,.0f} MB, median frame {info['median_size']} B: "
        f"the {info['files']} classic-pcap Ethernet captures of {_traces.SHARED} with TLS, HTTP, DNS or QUIC "
        f"traffic ({info['per_copy']:,} packets) written {info['copies']} times, later each time, IP addresses "
        f"rewritten per copy"
    )
    print(
        f"  kit found: {n_flows:,} flows; {kit_counts['sni']:,} ClientHellos with an SNI (TLS and QUIC), {kit_counts['http_host']:,} HTTP "
        f"requests with a Host, {kit_counts['dns_qname']:,} DNS transactions with a name"
    )

    print(f"\nSession extraction: kernelkit.analyze, one thread, median of {args.repeats} after a warm-up")
    total = sum(t.cpu for t in stages.values())
    print(f"  {'stage':<22} {'wall s':>8} {'CPU s':>8} {'share':>6} {'packets/s (CPU)':>16}")
    for name, t in stages.items():
        print(
            f"  {name:<22} {t.wall:>8.3f} {t.cpu:>8.3f} {100 * t.cpu / total:>5.1f}% {si(n_packets / t.cpu):>16}"
        )
    extract = [t for name, t in stages.items() if name != "parse + track"]
    print(
        f"  {f'extraction ({len(extract)} above)':<22} {sum(t.wall for t in extract):>8.3f} {sum(t.cpu for t in extract):>8.3f}"
        f" {100 * sum(t.cpu for t in extract) / total:>5.1f}%"
    )
    print(f"  {'sum of the stages':<22} {sum(t.wall for t in stages.values()):>8.3f} {total:>8.3f}")
    print(
        f"  {'kernelkit.analyze':<22} {whole.wall:>8.3f} {whole.cpu:>8.3f} {'':>6} {si(n_packets / whole.cpu):>16}"
        f"   ({si(n_packets / whole.wall)} packets/s wall; {whole.note})"
    )

    if tshark_rows:
        print("\nField extraction next to tshark -T fields (the six session fields), whole process")
        print(
            f"  {'tool':<38} {'wall s':>8} {'CPU s':>8} {'packets/s':>10} {'kit ÷':>7} {'packets/s':>10} {'kit ÷':>7}"
        )
        print(f"  {'':<38} {'':>8} {'':>8} {'(wall)':>10} {'(wall)':>7} {'(CPU)':>10} {'(CPU)':>7}")
        print(
            f"  {'kernelkit.analyze':<38} {whole.wall:>8.3f} {whole.cpu:>8.3f} {si(n_packets / whole.wall):>10} "
            f"{'':>7} {si(n_packets / whole.cpu):>10}"
        )
        for label, (t, lines, counts) in tshark_rows.items():
            name = f"tshark, {label}"
            if t is None:
                print(f"  {name:<38} NOT MEASURED: {counts}")
                continue
            print(
                f"  {name:<38} {t.wall:>8.3f} {t.cpu:>8.3f} {si(lines / t.wall):>10} {t.wall / whole.wall:>6.1f}x "
                f"{si(lines / t.cpu):>10} {t.cpu / whole.cpu:>6.1f}x"
            )
        print("\n  what each found (kit: rows of its session tables; tshark: packets with the field)")
        print(f"  {'':<12} {'kit':>8} " + " ".join(f"{'tshark, ' + label:>32}" for label in tshark_rows))
        for key, what in (
            ("sni", "SNI"),
            ("alpn", "ALPN"),
            ("http_host", "HTTP host"),
            ("http_uri", "HTTP URI"),
            ("dns_qname", "DNS name"),
        ):
            found = [
                f"{c[key]:>32,}" if isinstance(c, dict) else f"{'-':>32}" for _, _, c in tshark_rows.values()
            ]
            print(f"  {what:<12} {kit_counts[key]:>8,} " + " ".join(found))
        print(
            "  (DNS: the kit counts transactions, a query and its response in one row; tshark counts packets.)"
        )

    print(
        f"\nFilters on the tables analyze returned ({n_packets:,} packets, {n_flows:,} flows), "
        f"median of {args.filter_repeats}"
    )
    print(f"  {'packet filter':<50} {'matched':>9} {'wall ms':>8} {'CPU ms':>8} {'rows/s (CPU)':>13}")
    for text, t, n in packet_rows:
        print(f"  {text:<50} {n:>9,} {1e3 * t.wall:>8.1f} {1e3 * t.cpu:>8.1f} {si(n_packets / t.cpu):>13}")
    print(f"  {'flow filter':<50} {'matched':>9} {'wall ms':>8} {'CPU ms':>8} {'rows/s (CPU)':>13}")
    for text, t, n in flow_rows:
        print(f"  {text:<50} {n:>9,} {1e3 * t.wall:>8.1f} {1e3 * t.cpu:>8.1f} {si(n_flows / t.cpu):>13}")

    if tshark_filters:
        print("\nPacket filters next to tshark -Y (every dissector; whole process: read, dissect, filter)")
        print("  kit end to end = kernelkit.analyze + the filter; kit ÷ tshark as rates (CPU time)")
        print(
            f"  {'tshark display filter':<58} {'tshark':>8} {'kit':>8} {'wall s':>7} {'CPU s':>7} "
            f"{'kit ÷ (filter only)':>20} {'kit ÷ (end to end)':>19}"
        )
        for (text, t_kit, n_kit), (display, t, n) in zip(packet_rows, tshark_filters):
            if t is None:
                print(f"  {display:<58} NOT MEASURED: {n}")
                continue
            end_to_end = whole.cpu + t_kit.cpu
            print(
                f"  {display:<58} {n:>8,} {n_kit:>8,} {t.wall:>7.2f} {t.cpu:>7.2f} {t.cpu / t_kit.cpu:>19,.0f}x "
                f"{t.cpu / end_to_end:>18.1f}x"
            )
        print(
            "  'tshark'/'kit' columns: packets matched. For session fields the kit selects every packet of a\n"
            "  connection whose session matches (Retina's semantics), tshark the packets that carry the field.\n"
            "  'filter only' compares the kit's filter on built tables with tshark's whole pass: not like for\n"
            "  like, it shows what a second question costs once the tables exist."
        )

    print("\nJIT")
    print(
        f"  this process, one copy ({info['per_copy']:,} packets): first analyze {jit['first']:.2f} s (compile or "
        f"load from Numba's cache), second {jit['second']:.2f} s; first filter {jit['filter']:.3f} s"
    )
    if cold:
        if "error" in cold:
            print(f"  cold (fresh process, empty NUMBA_CACHE_DIR): NOT MEASURED: {cold['error']}")
        else:
            print(
                f"  cold (fresh process, empty NUMBA_CACHE_DIR): import {cold['import']:.2f} s, first analyze "
                f"{cold['first']:.2f} s, second {cold['second']:.2f} s -> compile {cold['first'] - cold['second']:.1f} s"
            )
    print(
        f"\nload average at end {load()} (at start {load_start}); benchmark run time "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
