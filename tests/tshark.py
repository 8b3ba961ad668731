"""tshark as the reference for kernelkit's packet columns.

``run_tshark`` runs tshark once on a capture and keeps the fields of every frame;
``expected_packets`` turns them into a Polars frame aligned with kernelkit's packet
table (same column names, units and null rules, one row per packet);
``compare_capture`` lines the two up and counts, per column, the cells compared and
the cells that agree. ``tests/test_tshark.py`` asserts on the result and
``python3 -m tests.tshark_agreement`` prints it as a table.

How tshark's dissection is mapped onto kernelkit's columns:

* Rows: in a pcapng file, tshark also shows Name Resolution, Interface Statistics
  and custom blocks as frames; those have no ``frame.interface_id`` and are not
  packets. Where tshark stops reading early (a file it cannot read to the end),
  the packets it did read are compared, and the result says so.
* kernelkit's columns describe the outermost headers only: the link layer with its
  tags, the outermost IP header with its IPv6 extension headers, and the header
  right after them. ``frame.protocols`` tells which tshark layer is which: a
  tshark field is used only when its layer sits at that place in the stack, so a
  TCP port seen inside GRE, VXLAN or an ICMP error is not taken for the outer one.
  Where the stack has no such layer, the expected value is null.
* tshark prints every occurrence of a field (``-E occurrence=a``): the first is the
  outermost header, as ``-E occurrence=f`` would print it, and the later ones are
  needed where the outer headers themselves repeat a field (stacked VLAN tags, two
  IPv6 extension headers of one type).
* Units follow kernelkit's schema: fragment offsets in bytes (tshark counts 8-byte
  units), ``ip_len`` of IPv6 as 40 + payload length, the 9 TCP flag bits only.
* Three derived columns check the offsets: ``l4_offset-l3_offset`` against the IP
  header length (IPv4 ``ip.hdr_len``; IPv6 40 + its extension headers),
  ``payload_offset-l4_offset`` against ``tcp.hdr_len`` (8 for UDP), and
  ``payload_len`` against ``tcp.len`` (``udp.length`` - 8).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import polars as pl

from kernelkit.kernels import layout as L

TSHARK = shutil.which("tshark")
SKIP_REASON = "tshark is not installed (shutil.which('tshark') is None): the field check needs it"

# Preferences that make tshark show each frame as captured: no IP or TCP
# reassembly (a first fragment is dissected on its own, later ones are data),
# no checksum validation, no sequence analysis (it only adds notes).
PREFERENCES = (
    "ip.defragment:FALSE",
    "ipv6.defragment:FALSE",
    "tcp.desegment_tcp_streams:FALSE",
    "ip.check_checksum:FALSE",
    "tcp.check_checksum:FALSE",
    "udp.check_checksum:FALSE",
    "tcp.analyze_sequence_numbers:FALSE",
)

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "frame.len",
    "frame.cap_len",
    "frame.interface_id",
    "frame.protocols",
    # link layer and tags (an 802.3 length or a non-Ethernet SLL protocol type
    # leaves eth.type, vlan.etype and sll.etype out, and the ethertype null)
    "eth.src",
    "eth.dst",
    "eth.type",
    "vlan.id",
    "vlan.etype",
    "vntag.etype",
    "sll.etype",
    # IPv4
    "ip.version",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.ttl",
    "ip.id",
    "ip.len",
    "ip.hdr_len",
    "ip.frag_offset",
    "ip.flags.mf",
    # IPv6 and its extension headers
    "ipv6.version",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.hlim",
    "ipv6.plen",
    "ipv6.hopopts.nxt",
    "ipv6.hopopts.len_oct",
    "ipv6.routing.nxt",
    "ipv6.routing.len_oct",
    "ipv6.dstopts.nxt",
    "ipv6.dstopts.len_oct",
    "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset",
    "ipv6.fraghdr.more",
    "ipv6.fraghdr.ident",
    "ah.next_header",
    "ah.length",
    # TCP
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.window_size_value",
    "tcp.hdr_len",
    "tcp.len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.sack_perm",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.options.mptcp.subtype",  # "mptcp.subtype" in later tshark releases
    # UDP, ICMP
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    # what tshark found wrong
    "_ws.malformed",
    "_ws.short",
    "_ws.expert.severity",
    "_ws.expert.group",
)

# Fields printed whole: their text may hold the aggregator.
TEXT_FIELDS = frozenset({"frame.protocols"})

# The columns compared, in the order of the table. Three are derived from
# kernelkit's offsets (see the module docstring).
COMPARED_COLUMNS = (
    "ts",
    "caplen",
    "wirelen",
    "iface",
    "eth_src",
    "eth_dst",
    "vlan_id",
    "ethertype",
    "ip_version",
    "src_ip",
    "dst_ip",
    "ip_proto",
    "ip_ttl",
    "ip_id",
    "ip_len",
    "frag_offset",
    "more_fragments",
    "l4_offset-l3_offset",
    "sport",
    "dport",
    "tcp_flags",
    "tcp_seq",
    "tcp_ack",
    "tcp_win",
    "tcp_mss",
    "tcp_wscale",
    "tcp_sack_perm",
    "tcp_tsval",
    "tcp_tsecr",
    "mptcp_subtype",
    "icmp_type",
    "icmp_code",
    "payload_offset-l4_offset",
    "payload_len",
)
DERIVED = {
    "l4_offset-l3_offset": ("l4_offset", "l3_offset"),
    "payload_offset-l4_offset": ("payload_offset", "l4_offset"),
}
TCP_OPTION_COLUMNS = ("tcp_mss", "tcp_wscale", "tcp_sack_perm", "tcp_tsval", "tcp_tsecr", "mptcp_subtype")

# tshark layer names (frame.protocols) of the link layer and what kernelkit walks
# after it: tags, MPLS labels, PPPoE.
LINK_LAYERS = frozenset({"eth", "ethertype", "sll", "null", "raw", "vlan", "vntag", "mpls", "pppoes", "ppp"})
# IPv6 extension headers kernelkit walks (hop-by-hop, routing, fragment,
# destination options, AH), as frame.protocols names them, with the field holding
# their next-header value.
IPV6_EXTENSIONS = {
    "ipv6.hopopts": "ipv6.hopopts.nxt",
    "ipv6.routing": "ipv6.routing.nxt",
    "ipv6.fraghdr": "ipv6.fraghdr.nxt",
    "ipv6.dstopts": "ipv6.dstopts.nxt",
    "ah": "ah.next_header",
}
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
TCP_FLAG_BITS = 0x1FF  # NS CWR ECE URG ACK PSH RST SYN FIN, as the schema defines tcp_flags

# Expert info severity and group values (epan/proto.h).
PI_ERROR = 0x00800000
PI_MALFORMED = 0x07000000


def tshark_command(path: Path) -> list[str]:
    """The tshark command line that prints the fields of every frame of ``path``."""
    command = [TSHARK or "tshark", "-n", "-r", str(path)]
    for preference in PREFERENCES:
        command += ["-o", preference]
    command += [
        "-T",
        "fields",
        "-E",
        "header=y",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for name in FIELDS:
        command += ["-e", name]
    return command


@dataclass
class TsharkRun:
    """tshark's fields for every frame of one capture."""

    path: Path
    frames: list[dict[str, list[str]]]  # field -> its occurrences, outermost first
    stopped: str | None  # tshark's complaint when it could not read the file to its end

    @property
    def pcapng(self) -> bool:
        return any(f["frame.interface_id"] for f in self.frames)

    def packets(self) -> list[dict[str, list[str]]]:
        """The frames that are packets: in pcapng, those that name an interface."""
        if not self.pcapng:
            return self.frames
        return [f for f in self.frames if f["frame.interface_id"]]


@lru_cache(maxsize=8)
def run_tshark(path: Path) -> TsharkRun:
    """Run tshark once on ``path`` and keep every field of every frame."""
    if TSHARK is None:
        raise RuntimeError(SKIP_REASON)
    done = subprocess.run(tshark_command(path), capture_output=True, text=True, errors="replace", check=False)
    complaints = [line for line in done.stderr.splitlines() if not line.startswith("Running as user")]
    stopped = " ".join(line.strip() for line in complaints) if complaints else None
    lines = done.stdout.split("\n")
    if not done.stdout and stopped:
        return TsharkRun(Path(path), [], stopped)  # tshark cannot read the file at all
    if lines[0].split("\t") != list(FIELDS):
        raise RuntimeError(f"tshark failed on {path.name}: {done.stderr.strip()}")
    frames = []
    for line in lines[1:]:
        if not line:
            continue
        values = line.split("\t")
        frames.append(
            {
                name: ([value] if name in TEXT_FIELDS else value.split(",")) if value else []
                for name, value in zip(FIELDS, values, strict=True)
            }
        )
    return TsharkRun(Path(path), frames, stopped)


# -- one packet's expected columns -------------------------------------------------


def _int(value: str) -> int:
    return int(value, 0)  # tshark prints some fields in hex ("0x1234")


def _bool(value: str) -> bool:
    return value in ("1", "True")


def _mac(value: str) -> int:
    return int(value.replace(":", ""), 16)


def _address(value: str) -> bytes:
    address = ipaddress.ip_address(value)
    if address.version == 4:
        return ipaddress.IPv6Address("::ffff:" + value).packed
    return address.packed


def _epoch_ns(value: str) -> int:
    """frame.time_epoch ("seconds.fraction") as exact integer nanoseconds."""
    negative = value.startswith("-")
    seconds, _, fraction = value.lstrip("-").partition(".")
    # tshark prints the nanoseconds zero-padded to 9 digits; an invalid
    # sub-second value (1e9 or more) comes out with more digits, as it is.
    nanoseconds = int(fraction) if len(fraction) >= 9 else int(fraction.ljust(9, "0") or "0")
    ns = int(seconds) * 1_000_000_000 + nanoseconds
    return -ns if negative else ns


class _Fields:
    """One frame's fields, addressed by occurrence."""

    def __init__(self, frame: dict[str, list[str]]):
        self.frame = frame

    def get(self, name: str, occurrence: int = 0, convert=_int):
        values = self.frame[name]
        if occurrence < len(values) and values[occurrence] != "":
            return convert(values[occurrence])
        return None

    def has(self, name: str) -> bool:
        return bool(self.frame[name])


@dataclass
class Stack:
    """Where kernelkit's layers are in tshark's ``frame.protocols`` of one frame."""

    layers: list[str]
    link_end: int  # index of the first layer after the link layer and its tags
    network: str | None  # "ip", "ipv6" or None
    network_end: int  # index of the first layer after the outer IP header and its extensions
    l4: str | None  # "tcp", "udp", "icmp", "icmpv6" right after them, else None

    @staticmethod
    def of(layers: list[str]) -> Stack:
        i = 0
        while i < len(layers) and layers[i] in LINK_LAYERS:
            i += 1
        link_end = i
        network = layers[i] if i < len(layers) and layers[i] in ("ip", "ipv6") else None
        if network is not None:
            i += 1
            while network == "ipv6" and i < len(layers) and layers[i] in IPV6_EXTENSIONS:
                i += 1
        network_end = i
        l4 = (
            layers[i]
            if network and i < len(layers) and layers[i] in ("tcp", "udp", "icmp", "icmpv6")
            else None
        )
        return Stack(layers, link_end, network, network_end, l4)

    def occurrence(self, index: int) -> int:
        """How many layers of the same name come before ``layers[index]``."""
        return self.layers[:index].count(self.layers[index])

    @property
    def last_parsed(self) -> int:
        """Index of the last layer kernelkit parses (the L4 header, or the last before it)."""
        return self.network_end if self.l4 else self.network_end - 1


def _link_columns(f: _Fields, stack: Stack, row: dict) -> None:
    layers = stack.layers
    if layers and layers[0] == "eth":
        row["eth_src"] = f.get("eth.src", 0, _mac)
        row["eth_dst"] = f.get("eth.dst", 0, _mac)
    # The ethertype is the type field of the last link header or tag before the
    # network layer. After MPLS or PPPoE, and with no type field at all (raw IP,
    # BSD loopback), the schema names IPv4 and IPv6 by their ethertypes.
    ethertype = None
    encapsulated = False
    for index in range(stack.link_end):
        name, k = layers[index], stack.occurrence(index)
        if name == "eth":
            ethertype = f.get("eth.type", k)
        elif name == "vlan":
            ethertype = f.get("vlan.etype", k)
            if row.get("vlan_id") is None:
                row["vlan_id"] = f.get("vlan.id", k)
        elif name == "vntag":
            ethertype = f.get("vntag.etype", k)
        elif name == "sll":
            ethertype = f.get("sll.etype", k)
        elif name in ("mpls", "pppoes", "null", "raw"):
            encapsulated = True
    if stack.network is not None and (encapsulated or stack.link_end == 0):
        ethertype = ETHERTYPE_IPV4 if stack.network == "ip" else ETHERTYPE_IPV6
    row["ethertype"] = ethertype


def _ipv4_columns(f: _Fields, stack: Stack, row: dict) -> bool:
    """Fills the IPv4 columns; returns whether the header after it is present."""
    row["ip_version"] = f.get("ip.version")
    row["src_ip"] = f.get("ip.src", 0, _address)
    row["dst_ip"] = f.get("ip.dst", 0, _address)
    row["ip_proto"] = f.get("ip.proto")
    row["ip_ttl"] = f.get("ip.ttl")
    row["ip_id"] = f.get("ip.id")
    row["ip_len"] = f.get("ip.len")
    offset = f.get("ip.frag_offset")
    row["frag_offset"] = None if offset is None else offset * 8
    row["more_fragments"] = f.get("ip.flags.mf", 0, _bool)
    if offset != 0:
        return False
    row["l4_offset-l3_offset"] = f.get("ip.hdr_len")
    return True


def _ipv6_columns(f: _Fields, stack: Stack, row: dict) -> bool:
    """Fills the IPv6 columns; returns whether the header after its extensions is present."""
    row["ip_version"] = f.get("ipv6.version")
    row["src_ip"] = f.get("ipv6.src", 0, _address)
    row["dst_ip"] = f.get("ipv6.dst", 0, _address)
    row["ip_ttl"] = f.get("ipv6.hlim")
    plen = f.get("ipv6.plen")
    row["ip_len"] = None if plen is None else 40 + plen
    row["frag_offset"] = 0
    row["more_fragments"] = False
    next_header = f.get("ipv6.nxt")
    header_len = 40
    later_fragment = False
    start = stack.layers.index("ipv6") + 1
    for index in range(start, stack.network_end):
        name, k = stack.layers[index], stack.occurrence(index)
        following = f.get(IPV6_EXTENSIONS[name], k)
        if following is None:
            # tshark could not read this header: the walk stops at it, and the
            # schema's ip_proto is then the type of the header where it stopped.
            header_len = None
            break
        next_header = following
        if name == "ipv6.fraghdr":
            offset = f.get("ipv6.fraghdr.offset", k)
            row["frag_offset"] = None if offset is None else offset * 8
            row["more_fragments"] = f.get("ipv6.fraghdr.more", k, _bool)
            row["ip_id"] = f.get("ipv6.fraghdr.ident", k)
            later_fragment = offset != 0
            length = 8
        elif name == "ah":
            ah_length = f.get("ah.length", k)
            length = None if ah_length is None else (ah_length + 2) * 4
        else:
            length = f.get(name + ".len_oct", k)
        header_len = None if header_len is None or length is None else header_len + length
    row["ip_proto"] = next_header
    if later_fragment:
        return False
    row["l4_offset-l3_offset"] = header_len
    return True


def _l4_columns(f: _Fields, stack: Stack, row: dict, uncompared: set[str]) -> None:
    if stack.l4 == "tcp":
        row["sport"] = f.get("tcp.srcport")
        row["dport"] = f.get("tcp.dstport")
        flags = f.get("tcp.flags")
        row["tcp_flags"] = None if flags is None else flags & TCP_FLAG_BITS
        row["tcp_seq"] = f.get("tcp.seq_raw")
        row["tcp_ack"] = f.get("tcp.ack_raw")
        row["tcp_win"] = f.get("tcp.window_size_value")
        row["payload_offset-l4_offset"] = f.get("tcp.hdr_len")
        row["payload_len"] = f.get("tcp.len")
        if stack.layers.count("tcp") > 1:
            # Options of an inner TCP header would be printed first when the outer
            # one lacks them: not attributable to the outer header.
            uncompared.update(TCP_OPTION_COLUMNS)
        row["tcp_mss"] = f.get("tcp.options.mss_val")
        row["tcp_wscale"] = f.get("tcp.options.wscale.shift")
        row["tcp_sack_perm"] = f.has("tcp.options.sack_perm")
        row["tcp_tsval"] = f.get("tcp.options.timestamp.tsval")
        row["tcp_tsecr"] = f.get("tcp.options.timestamp.tsecr")
        row["mptcp_subtype"] = f.get("tcp.options.mptcp.subtype")
    elif stack.l4 == "udp":
        row["sport"] = f.get("udp.srcport")
        row["dport"] = f.get("udp.dstport")
        row["payload_offset-l4_offset"] = 8
        length = f.get("udp.length")
        row["payload_len"] = None if length is None else length - 8
    elif stack.l4 in ("icmp", "icmpv6"):
        row["icmp_type"] = f.get(stack.l4 + ".type")
        row["icmp_code"] = f.get(stack.l4 + ".code")


def expected_row(frame: dict[str, list[str]], pcapng: bool) -> dict:
    """kernelkit's columns for one packet as tshark dissected it.

    ``uncompared`` lists the columns tshark's output cannot speak for in this row.
    """
    f = _Fields(frame)
    stack = Stack.of(frame["frame.protocols"][0].split(":") if frame["frame.protocols"] else [])
    row: dict = {name: None for name in COMPARED_COLUMNS}
    uncompared: set[str] = set()
    row["frame"] = f.get("frame.number")
    row["ts"] = f.get("frame.time_epoch", 0, _epoch_ns)
    row["caplen"] = f.get("frame.cap_len")
    row["wirelen"] = f.get("frame.len")
    if pcapng:
        row["iface"] = f.get("frame.interface_id")
    else:
        uncompared.add("iface")  # tshark shows no interface for pcap
    _link_columns(f, stack, row)
    l4_present = False
    if stack.network == "ip":
        l4_present = _ipv4_columns(f, stack, row)
    elif stack.network == "ipv6":
        l4_present = _ipv6_columns(f, stack, row)
    if l4_present:
        _l4_columns(f, stack, row, uncompared)
    row["protocols"] = ":".join(stack.layers)
    row["uncompared"] = sorted(uncompared)
    row["tshark_flags"] = _problem_summary(f)
    return row


def _problem_summary(f: _Fields) -> str | None:
    """tshark's own verdict on the frame, when it found something wrong."""
    parts = [v for name in ("_ws.malformed", "_ws.short") for v in f.frame[name] if v.startswith("[")]
    if not parts and f.has("_ws.malformed"):
        parts.append("malformed (expert info)")
    if not parts and _flagged(f.frame):
        parts.append("error (expert info)")
    return "; ".join(parts) or None


SCHEMA = {
    "frame": pl.UInt32,
    "ts": pl.Int64,
    "caplen": pl.UInt32,
    "wirelen": pl.UInt32,
    "iface": pl.UInt32,
    "eth_src": pl.UInt64,
    "eth_dst": pl.UInt64,
    "vlan_id": pl.UInt16,
    "ethertype": pl.UInt16,
    "ip_version": pl.UInt8,
    "src_ip": pl.Binary,
    "dst_ip": pl.Binary,
    "ip_proto": pl.UInt8,
    "ip_ttl": pl.UInt8,
    "ip_id": pl.UInt32,
    "ip_len": pl.UInt32,
    "frag_offset": pl.UInt16,
    "more_fragments": pl.Boolean,
    "l4_offset-l3_offset": pl.Int64,
    "sport": pl.UInt16,
    "dport": pl.UInt16,
    "tcp_flags": pl.UInt16,
    "tcp_seq": pl.UInt32,
    "tcp_ack": pl.UInt32,
    "tcp_win": pl.UInt16,
    "tcp_mss": pl.UInt16,
    "tcp_wscale": pl.UInt8,
    "tcp_sack_perm": pl.Boolean,
    "tcp_tsval": pl.UInt32,
    "tcp_tsecr": pl.UInt32,
    "mptcp_subtype": pl.UInt8,
    "icmp_type": pl.UInt8,
    "icmp_code": pl.UInt8,
    "payload_offset-l4_offset": pl.Int64,
    "payload_len": pl.UInt32,
    "protocols": pl.String,
    "uncompared": pl.List(pl.String),
    "tshark_flags": pl.String,
}


def expected_packets(run: TsharkRun) -> pl.DataFrame:
    """One row per packet tshark read: kernelkit's columns as tshark sees them.

    ``ts`` is integer nanoseconds since the epoch; ``frame`` is tshark's frame
    number; ``protocols`` its layer stack; ``uncompared`` the columns its output
    cannot speak for in that row; ``tshark_flags`` what tshark found wrong.
    """
    pcapng = run.pcapng
    rows = [expected_row(frame, pcapng) for frame in run.packets()]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def kernelkit_columns(packets: pl.DataFrame) -> pl.DataFrame:
    """kernelkit's packet table reduced to the compared columns, in the same units."""
    derived = [
        (pl.col(a).cast(pl.Int64) - pl.col(b).cast(pl.Int64)).alias(name) for name, (a, b) in DERIVED.items()
    ]
    return packets.with_columns(
        pl.col("ts").cast(pl.Int64),
        pl.col("src_ip").cast(pl.Binary),
        pl.col("dst_ip").cast(pl.Binary),
        *derived,
    ).select(*COMPARED_COLUMNS, "status", "linktype")


# -- where tshark says a header is wrong -----------------------------------------

# The frames worth a closer look: tshark's exceptions (malformed, cut short) and
# expert items of severity Error.
FLAGGED_FILTER = f"_ws.malformed || _ws.short || _ws.expert.severity >= {PI_ERROR}"


@dataclass
class Problem:
    """Something tshark reported wrong in one frame, and the layer it came from."""

    frame: int
    layer: str  # tshark layer name, e.g. "ipv6", or "ipv6 #2" for the second one
    message: str
    in_kernelkit_layers: bool  # one of the outer L2-L4 headers that kernelkit parses


def _experts(node, found: list) -> list:
    """Every expert item under ``node`` of a tshark JSON layer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_ws.expert":
                found += value if isinstance(value, list) else [value]
            else:
                _experts(value, found)
    elif isinstance(node, list):
        for value in node:
            _experts(value, found)
    return found


def _serious(expert: dict) -> bool:
    severity = int(expert.get("_ws.expert.severity", "0"), 0)
    group = int(expert.get("_ws.expert.group", "0"), 0)
    return severity >= PI_ERROR or group == PI_MALFORMED


@lru_cache(maxsize=8)
def tshark_problems(path: Path) -> tuple[Problem, ...]:
    """Where tshark marks a packet malformed, cut short or in error, and in which layer.

    A second tshark run prints the flagged frames as JSON, whose nesting tells
    which header each expert item belongs to: the n-th layer of a name is the
    n-th header of that name, so the outer IPv6 header of a tunnel is told from
    the inner one. An exception (malformed, cut short) is raised where dissection
    stopped: in the last layer of ``frame.protocols``.
    """
    run = run_tshark(path)
    flagged = {int(f["frame.number"][0]): f for f in run.packets() if _flagged(f)}
    if not flagged:
        return ()
    command = [TSHARK, "-n", "-r", str(path)]
    for preference in PREFERENCES:
        command += ["-o", preference]
    command += ["-Y", FLAGGED_FILTER, "-T", "json", "--no-duplicate-keys"]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    problems = []
    for packet in json.loads(done.stdout or "[]"):
        layers = packet["_source"]["layers"]
        number = int(layers["frame"]["frame.number"])
        if number not in flagged:
            continue
        frame = flagged[number]
        stack = Stack.of(frame["frame.protocols"][0].split(":"))
        ours = Counter(stack.layers[: stack.last_parsed + 1])
        previous = "frame"
        for key, value in layers.items():
            if key in ("_ws.malformed", "_ws.short"):
                # An exception: raised where dissection stopped.
                last = len(stack.layers) - 1
                texts = [t for t in frame[key] if t.startswith("[")] or [key]
                problems.append(Problem(number, stack.layers[last], texts[0], last <= stack.last_parsed))
                continue
            # A text item at the top of the tree (no protocol of its own) belongs
            # to the layer before it, and is not one of its headers.
            base = key if " " not in key else f"text after {previous}"
            for k, item in enumerate(value if isinstance(value, list) else [value]):
                name = base if k == 0 else f"{base} #{k + 1}"  # "ipv6 #2": the inner header
                for expert in _experts(item, []):
                    if _serious(expert):
                        message = expert.get("_ws.expert.message", "")
                        problems.append(Problem(number, name, message, k < ours[key]))
            previous = key
    return tuple(problems)


def _flagged(frame: dict[str, list[str]]) -> bool:
    return bool(
        frame["_ws.malformed"]
        or frame["_ws.short"]
        or any(int(s, 0) >= PI_ERROR for s in frame["_ws.expert.severity"] if s)
    )


# -- the comparison ----------------------------------------------------------------

# Column groups, from the outside in: a status names the first group it makes
# unreliable, and every group after it is unreliable too.
GROUPS = {
    "frame": ("ts", "caplen", "wirelen", "iface"),
    "link": ("eth_src", "eth_dst", "vlan_id", "ethertype"),
    "ip": (
        "ip_version",
        "src_ip",
        "dst_ip",
        "ip_proto",
        "ip_ttl",
        "ip_id",
        "ip_len",
        "frag_offset",
        "more_fragments",
    ),
    "l4": (
        "l4_offset-l3_offset",
        "sport",
        "dport",
        "tcp_flags",
        "tcp_seq",
        "tcp_ack",
        "tcp_win",
        *TCP_OPTION_COLUMNS,
        "icmp_type",
        "icmp_code",
        "payload_offset-l4_offset",
        "payload_len",
    ),
}
assert sorted(c for cs in GROUPS.values() for c in cs) == sorted(COMPARED_COLUMNS)
STATUS_GROUP = {
    L.UNKNOWN_LINKTYPE: "link",
    L.TRUNC_LINK: "link",
    L.TRUNC_IP: "ip",
    L.BAD_IP_VERSION: "ip",
    L.BAD_IHL: "ip",
    L.CAPLEN_EXCEEDS_WIRELEN: "frame",
    L.UNKNOWN_INTERFACE: "link",
}  # every other status concerns what follows the IP header


def unreliable_columns(status: int) -> tuple[str, ...]:
    """The columns a non-zero status says may not hold a parsed value."""
    names = list(GROUPS)
    first = names.index(STATUS_GROUP.get(status, "l4"))
    return tuple(c for group in names[first:] for c in GROUPS[group])


@dataclass
class Disagreement:
    column: str
    frame: int
    tshark: object
    kernelkit: object
    status: int


@dataclass
class CaptureComparison:
    """kernelkit against tshark on one capture."""

    name: str
    packets: int  # kernelkit's rows
    compared_packets: int  # rows lined up with tshark's packets
    note: str | None  # why fewer packets were compared
    compared: Counter = field(default_factory=Counter)  # column -> cells compared
    agreed: Counter = field(default_factory=Counter)  # column -> cells that agree
    disagreements: list[Disagreement] = field(default_factory=list)
    # Cells left out, column -> count: where tshark's output cannot speak for the
    # cell, and where both tools flag the packet (kernelkit's status and tshark's
    # malformed/error mark in the headers kernelkit parses) and only one of them
    # has a value, in the headers from the flagged one inwards.
    uncompared: Counter = field(default_factory=Counter)  # tshark's output is silent
    both_flagged: Counter = field(default_factory=Counter)  # both tools flag the packet
    both_flagged_frames: list[int] = field(default_factory=list)

    def disagreeing_frames(self, column: str) -> list[int]:
        return sorted(d.frame for d in self.disagreements if d.column == column)


def show(column: str, value):
    """A cell as a person reads it: addresses as text, types and flags in hex."""
    if value is None:
        return None
    if column in ("src_ip", "dst_ip"):
        address = ipaddress.IPv6Address(value)
        return str(address.ipv4_mapped or address)
    if column in ("eth_src", "eth_dst"):
        return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))
    if column in ("ethertype", "tcp_flags", "ip_id"):
        return hex(value)
    if column == "ts":
        seconds, nanoseconds = divmod(value, 1_000_000_000)
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{stamp}.{nanoseconds:09d}Z"
    return value


def unparsed_linktypes(packets: pl.DataFrame) -> list[int]:
    """Link types of a capture that kernelkit does not parse (status unknown_linktype)."""
    return sorted(set(packets.filter(pl.col("status") == L.UNKNOWN_LINKTYPE)["linktype"].to_list()))


def compare_capture(path: Path, packets: pl.DataFrame | None = None) -> CaptureComparison:
    """Compare kernelkit's packet columns with tshark's on one capture, cell by cell.

    A cell is compared when tshark's output speaks for it and at least one side
    has a value (two nulls are not counted as an agreement).
    """
    import kernelkit

    path = Path(path)
    if packets is None:
        packets = kernelkit.read_packets(path)
    run = run_tshark(path)
    expected = expected_packets(run)
    note = None
    n = min(packets.height, expected.height)
    if expected.height < packets.height:
        note = f"tshark read {expected.height} of kernelkit's {packets.height} packets"
        if run.stopped:
            note += f" ({run.stopped.removeprefix('tshark: ')})"
    elif expected.height > packets.height:
        note = f"kernelkit read {packets.height} packets, tshark {expected.height}"
    ours = kernelkit_columns(packets.head(n))
    theirs = expected.head(n)
    result = CaptureComparison(path.name, packets.height, n, note)
    frames = theirs["frame"].to_list()
    statuses = ours["status"].to_list()
    tshark_silent = [set(s) for s in theirs["uncompared"].to_list()]
    flagged_here = {p.frame for p in tshark_problems(path) if p.in_kernelkit_layers}
    left_out = [set() for _ in frames]
    for i, frame in enumerate(frames):
        if statuses[i] and frame in flagged_here:
            result.both_flagged_frames.append(frame)
            left_out[i] = set(unreliable_columns(statuses[i]))
    for column in COMPARED_COLUMNS:
        for i, (a, b) in enumerate(zip(ours[column].to_list(), theirs[column].to_list(), strict=True)):
            if a is None and b is None:
                continue
            if column in tshark_silent[i]:
                result.uncompared[column] += 1
            elif column in left_out[i] and (a is None or b is None):
                # One tool stopped where the other read on: values both
                # read are still compared.
                result.both_flagged[column] += 1
            else:
                result.compared[column] += 1
                if a == b:
                    result.agreed[column] += 1
                else:
                    result.disagreements.append(
                        Disagreement(column, frames[i], show(column, b), show(column, a), statuses[i])
                    )
    return result


def print_agreement(names, compare, fields, short: dict[str, str]) -> None:
    """Print a Markdown table of per-field agreement with tshark, a row per capture and a total.

    ``compare(path)`` returns counters ``compared``, ``agreed``, ``explained`` (keyed
    ``(field, reason)``) and a list ``disagreements`` of ``(field, tshark, kernelkit)``;
    ``short`` abbreviates each reason in the cells ("3 enc.").
    """
    from tests.traces import SHARED
    import kernelkit

    def cell(agreed, compared, explained, f):
        extra = ", ".join(f"{n} {short[reason]}" for (g, reason), n in explained.items() if g == f)
        return f"{agreed}/{compared}" + (f" ({extra})" if extra else "")

    total_c, total_a, total_e = Counter(), Counter(), Counter()
    print("| capture | " + " | ".join(fields) + " |")
    print("|---|" + "---:|" * len(fields))
    for name in names:
        r = compare(kernelkit.sample_path() if name == "sample.pcapng" else SHARED / name)
        total_c.update(r.compared)
        total_a.update(r.agreed)
        total_e.update(r.explained)
        print(f"| {name} | " + " | ".join(cell(r.agreed[f], r.compared[f], r.explained, f) for f in fields) + " |")
        for f, x, y in r.disagreements:
            print(f"|   ↳ {f}: tshark {x!r}, kernelkit {y!r} | " + " | ".join("" for _ in fields) + "|")
    print("| **all** | " + " | ".join(cell(total_a[f], total_c[f], total_e, f) for f in fields) + " |")
