"""The peers of the parse benchmark, each asked for what kernelkit's packet table holds.

Each function returns ``(packets, seconds)`` and raises when the peer is missing
or fails; the benchmark prints the reason in its table instead of stopping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from struct import error as struct_error


def dpkt_columns(path: Path, limit: int) -> tuple[int, float]:
    """dpkt: parse Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP fields into Python lists.

    The loop keeps the fields kernelkit's table has (L2-L4, TCP options), one list
    per column, for the first ``limit`` packets.
    """
    import dpkt

    cols = {
        name: []
        for name in [
            "ts",
            "caplen",
            "eth_src",
            "eth_dst",
            "vlan",
            "ethertype",
            "ip_version",
            "src",
            "dst",
            "proto",
            "ttl",
            "ip_id",
            "ip_len",
            "frag",
            "mf",
            "sport",
            "dport",
            "flags",
            "seq",
            "ack",
            "win",
            "mss",
            "wscale",
            "sack_perm",
            "tsval",
            "tsecr",
            "icmp_type",
            "icmp_code",
            "status",
        ]
    }
    append = {k: v.append for k, v in cols.items()}
    none_l4 = ("sport", "dport", "flags", "seq", "ack", "win", "mss", "wscale", "sack_perm", "tsval", "tsecr")
    n = 0
    start = time.perf_counter()
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            if n == limit:
                break
            n += 1
            append["ts"](ts)
            append["caplen"](len(buf))
            status = 0
            eth = ip = l4 = None
            try:
                eth = dpkt.ethernet.Ethernet(buf)
                ip = eth.data
            except (dpkt.UnpackError, IndexError, ValueError, struct_error):
                status = 1
            if eth is not None:
                append["eth_src"](eth.src)
                append["eth_dst"](eth.dst)
                append["vlan"](eth.vlan_tags[0].id if getattr(eth, "vlan_tags", None) else None)
                append["ethertype"](eth.type)
            else:
                for k in ("eth_src", "eth_dst", "vlan", "ethertype"):
                    append[k](None)
            if isinstance(ip, dpkt.ip.IP):
                append["ip_version"](4)
                append["src"](ip.src)
                append["dst"](ip.dst)
                append["proto"](ip.p)
                append["ttl"](ip.ttl)
                append["ip_id"](ip.id)
                append["ip_len"](ip.len)
                append["frag"](ip.offset)
                append["mf"](ip.mf)
                l4 = ip.data
            elif isinstance(ip, dpkt.ip6.IP6):
                append["ip_version"](6)
                append["src"](ip.src)
                append["dst"](ip.dst)
                append["proto"](ip.nxt)
                append["ttl"](ip.hlim)
                append["ip_id"](None)
                append["ip_len"](40 + ip.plen)
                append["frag"](0)
                append["mf"](0)
                l4 = ip.data
            else:
                for k in ("ip_version", "src", "dst", "proto", "ttl", "ip_id", "ip_len", "frag", "mf"):
                    append[k](None)
            if isinstance(l4, dpkt.tcp.TCP):
                append["sport"](l4.sport)
                append["dport"](l4.dport)
                append["flags"](l4.flags)
                append["seq"](l4.seq)
                append["ack"](l4.ack)
                append["win"](l4.win)
                mss = wscale = tsval = tsecr = None
                sack_perm = False
                try:
                    for kind, value in dpkt.tcp.parse_opts(l4.opts):
                        if kind == dpkt.tcp.TCP_OPT_MSS and len(value) == 2:
                            mss = int.from_bytes(value, "big")
                        elif kind == dpkt.tcp.TCP_OPT_WSCALE and len(value) == 1:
                            wscale = value[0]
                        elif kind == dpkt.tcp.TCP_OPT_SACKOK:
                            sack_perm = True
                        elif kind == dpkt.tcp.TCP_OPT_TIMESTAMP and len(value) == 8:
                            tsval = int.from_bytes(value[:4], "big")
                            tsecr = int.from_bytes(value[4:], "big")
                except (dpkt.UnpackError, IndexError, ValueError):
                    status = 2
                append["mss"](mss)
                append["wscale"](wscale)
                append["sack_perm"](sack_perm)
                append["tsval"](tsval)
                append["tsecr"](tsecr)
                append["icmp_type"](None)
                append["icmp_code"](None)
            elif isinstance(l4, dpkt.udp.UDP):
                append["sport"](l4.sport)
                append["dport"](l4.dport)
                for k in none_l4[2:]:
                    append[k](None)
                append["icmp_type"](None)
                append["icmp_code"](None)
            else:
                for k in none_l4:
                    append[k](None)
                if isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
                    append["icmp_type"](l4.type)
                    append["icmp_code"](l4.code)
                else:
                    append["icmp_type"](None)
                    append["icmp_code"](None)
            append["status"](status)
    return n, time.perf_counter() - start


def scapy_columns(path: Path, limit: int) -> tuple[int, float]:
    """scapy: read the first ``limit`` packets with PcapReader and pick the same fields."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.utils import PcapReader

    rows = []
    start = time.perf_counter()
    with PcapReader(str(path)) as reader:
        for n, pkt in enumerate(reader):
            if n == limit:
                break
            row = [pkt.time, len(pkt)]
            if Ether in pkt:
                e = pkt[Ether]
                row += [e.src, e.dst, e.type]
            if Dot1Q in pkt:
                row.append(pkt[Dot1Q].vlan)
            if IP in pkt:
                ip = pkt[IP]
                row += [4, ip.src, ip.dst, ip.proto, ip.ttl, ip.id, ip.len, ip.frag]
            elif IPv6 in pkt:
                ip = pkt[IPv6]
                row += [6, ip.src, ip.dst, ip.nh, ip.hlim, ip.plen]
            if TCP in pkt:
                t = pkt[TCP]
                row += [t.sport, t.dport, int(t.flags), t.seq, t.ack, t.window, t.options]
            elif UDP in pkt:
                u = pkt[UDP]
                row += [u.sport, u.dport]
            elif ICMP in pkt:
                row += [pkt[ICMP].type, pkt[ICMP].code]
            rows.append(row)
    return len(rows), time.perf_counter() - start


def pcaptoparquet_frame(sample: Path) -> tuple[int, float]:
    """pcaptoparquet: convert a sample file to a Polars frame (its own fields), serially."""
    from pcaptoparquet import E2EPcap

    start = time.perf_counter()
    frame = E2EPcap(pcap_full_name=str(sample), parallel=False).export(return_df=True)
    return frame.height, time.perf_counter() - start


TSHARK_FIELDS = [
    "frame.time_epoch",
    "frame.cap_len",
    "frame.len",
    "eth.src",
    "eth.dst",
    "vlan.id",
    "eth.type",
    "ip.version",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.proto",
    "ipv6.nxt",
    "ip.ttl",
    "ipv6.hlim",
    "ip.id",
    "ip.len",
    "ipv6.plen",
    "ip.frag_offset",
    "ip.flags.mf",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.window_size_value",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.sack_perm",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
]
TSHARK_KEEP = [
    "frame",
    "eth",
    "ethertype",
    "vlan",
    "llc",
    "mpls",
    "pppoes",
    "ppp",
    "sll",
    "sll2",
    "null",
    "raw",
    "ip",
    "ipv6",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "data",
    "fcs",
    "pkt_comment",
]
TSHARK_PREFS = [
    "tcp.analyze_sequence_numbers:FALSE",
    "tcp.desegment_tcp_streams:FALSE",
    "tcp.relative_sequence_numbers:FALSE",
    "tcp.calculate_timestamps:FALSE",
    "ip.defragment:FALSE",
    "ipv6.defragment:FALSE",
]


def tshark_l2_l4_config(directory: Path) -> Path:
    """A Wireshark configuration home in which every dissector above L4 is disabled."""
    out = subprocess.run(["tshark", "-G", "protocols"], capture_output=True, text=True, check=True).stdout
    names = [line.split("\t")[2] for line in out.splitlines() if line.count("\t") >= 2]
    keep = set(TSHARK_KEEP)
    disabled = [n for n in names if n not in keep and not n.startswith("ipv6.") and not n.startswith("_ws.")]
    home = directory / "wireshark-home"
    (home / "wireshark").mkdir(parents=True, exist_ok=True)
    (home / "wireshark" / "disabled_protos").write_text("\n".join(disabled) + "\n")
    return home


def tshark_fields(path: Path, config_home: Path, limit: int | None = None) -> tuple[int, float]:
    """``tshark -T fields`` with the L2-L4 fields, whole process, output to a pipe that is counted."""
    if shutil.which("tshark") is None:
        raise FileNotFoundError("tshark is not installed")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    for pref in TSHARK_PREFS:
        cmd += ["-o", pref]
    if limit:
        cmd += ["-c", str(limit)]
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    lines = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
        lines += chunk.count(b"\n")
    proc.wait()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"tshark exited with {proc.returncode}")
    return lines, seconds
