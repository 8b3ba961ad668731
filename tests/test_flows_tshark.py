"""Flows against tshark's conversation tables on the real captures.

``tshark -z conv,tcp -z conv,udp`` lists, per conversation (address A:port <-> address
B:port), the frames and bytes (frame lengths) each way, its start relative to the
first frame and its duration. kernelkit's flows should give the same numbers:
``orig_pkts``/``resp_pkts`` and ``orig_wire_bytes``/``resp_wire_bytes`` of the side
that is A or B, ``first_ts`` and ``last_ts``.

How the two are lined up:

* tshark keeps a conversation for the whole capture: no idle timeout. kernelkit runs
  with every timeout at 1e9 s, so that its flows end only where tshark's do: a TCP SYN
  on a closed connection starts a new one in both (tshark gives it a new ``tcp.stream``
  and a row of its own; ``test_port_reuse_splits_both`` shows it). The flows and rows
  of one 5-tuple are then paired in time order.
* A is whichever endpoint sent the first packet tshark counted; the comparison goes
  by endpoint, not by role (kernelkit's originator is the receiver of a first SYN+ACK).
* tshark prints byte counts from 10 kB up in kB (10**3, rounded down) or MB: the
  kernelkit count is rendered the same way before comparing; frames are exact, start
  and duration to the printed digit.
* IP reassembly is off (``ip.defragment:FALSE``), so that tshark dissects a first
  fragment's UDP or TCP header on its own, as kernelkit does; later fragments count
  in neither.
* Tunnels: tshark also lists the conversations inside (GRE, VXLAN, Geneve); kernelkit
  tracks the outer headers only. A tshark conversation with an address that no
  packet carries in its outer IP header is counted as inner and left out.
* Where tshark stops reading early, the packets it read are compared.

Every remaining difference is listed in ``EXCEPTIONS`` with its reason; a difference
not listed fails, and so does a listed one that no longer happens.
``python -m tests.test_flows_tshark`` prints the agreement per capture.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl
import pytest

import kernelkit
from kernelkit.conntrack import track
from tests.traces import shared_traces

TSHARK = shutil.which("tshark")
SKIP_REASON = "tshark is not installed (shutil.which('tshark') is None): the conversation check needs it"
PREFERENCES = ("ip.defragment:FALSE", "ipv6.defragment:FALSE")
NEVER = {name: 1e9 for name in ("tcp_established", "tcp_handshake", "tcp_closed", "udp", "other")}

SAME_ISN_RESTART = (
    "A SYN sent again with the initial sequence number of a connection that a RST closed (a client "
    "retrying after being reset) starts a new kernelkit flow, as Zeek's IsReuse starts a new connection "
    "for any SYN on a closed one; tshark starts a new tcp.stream only for a SYN at a new sequence number. "
    "kernel_flows joins such flows back before comparing, and the joined counts must agree exactly."
)

ROUTING_HEADER = (
    "IPv6 routing header (type 0) with segments left: tshark keys the conversation by the final "
    "destination (the last address of the routing header), as the UDP checksum and Zeek do; kernelkit "
    "keys flows by the destination of the IPv6 header. Frame 3 goes to 2200::240:2:0:0:4 (final "
    "2200::210:2:0:0:4, an address in no IP header, so tshark's row counts as inner), frame 4 to "
    "2200::211:2:0:0:2 (final 2200::240:2:0:0:4): tshark's row for 2200::240:2:0:0:4 holds frame 4, "
    "kernelkit's flow for it frame 3, and kernelkit's flow for 2200::211:2:0:0:2 has no tshark row"
)

OUT_OF_ORDER_TIME = (
    "timestamps out of order within the conversation: tshark's start and duration are its earliest and "
    "latest times, kernelkit's first_ts and last_ts (like Zeek's conn.log ts and duration) those of its "
    "first and last packets; frames and bytes agree."
)

EXCEPTIONS: dict[tuple[str, str], str] = {
    (
        "zeek__tcp__truncated-header.pcap",
        "tcp 128.3.26.249:25 <-> 201.186.157.67:60827",
    ): "frame 1, the SYN, has a TCP option whose length is wrong: tshark's TCP dissector throws before "
    "its conversation tap runs, so the conversation starts at the SYN+ACK (A is the server, one frame "
    "and 74 bytes fewer from the client, later start); kernelkit needs only the ports and counts it",
    (
        "tcpdump__ipv6-routing-header.pcap",
        "udp [2200::244:212:3fff:feae:22f7]:5645 <-> [2200::240:2:0:0:4]:5642",
    ): ROUTING_HEADER,
    (
        "tcpdump__ipv6-routing-header.pcap",
        "udp [2200::211:2:0:0:2]:5642 <-> [2200::244:212:3fff:feae:22f7]:5645",
    ): ROUTING_HEADER,
    (
        "tcpdump__timestamp_invalid_micro.pcap",
        "tcp 131.155.215.69:46656 <-> 137.116.81.94:80",
    ): "frame 3's microsecond field is 2,147,483,648 (invalid): tshark 4.0 wraps it to 0 µs, kernelkit "
    "carries the excess into the seconds (see KNOWN_DIFFERENCES in tests/test_tshark.py), so the "
    "durations differ (1 s and 2147.48 s); frames and bytes agree",
    (
        "suricata-verify__bug-1450-04__tls_DER-incomplete-header.pcap",
        "tcp 127.0.0.1:50802 <-> 127.0.0.1:10443",
    ): OUT_OF_ORDER_TIME + " Here frame 2 (the SYN+ACK) is stamped 1994, 21 years before frame 1.",
    (
        "zeek__ipv6-http-atomic-frag.pcap",
        "tcp [2001:db8:1::1]:80 <-> [2001:db8:1::2]:36951",
    ): OUT_OF_ORDER_TIME + " Here the SYN+ACK comes first in the file, 30 µs after the SYN that follows it.",
}
"""(capture, conversation as compare() names it) -> why kernelkit and tshark differ there."""

ROW = re.compile(
    r"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+(?P<f_ba>\d+)\s+(?P<b_ba>\d+ \S+)\s+(?P<f_ab>\d+)\s+(?P<b_ab>\d+ \S+)"
    r"\s+(?P<f_all>\d+)\s+(?P<b_all>\d+ \S+)\s+(?P<start>-?[\d.]+)\s+(?P<duration>-?[\d.]+)\s*$"
)
PROTOCOLS = {"TCP Conversations": 6, "UDP Conversations": 17}
NAMES = {6: "tcp", 17: "udp"}


# --- tshark ----------------------------------------------------------------------------------


def endpoint(text: str) -> tuple[bytes, int]:
    """``1.2.3.4:80`` or ``2001:db8::1:80`` (tshark writes IPv6 without brackets) as (16 bytes, port)."""
    host, port = text.rsplit(":", 1)
    address = ipaddress.ip_address(host)
    packed = address.packed if address.version == 6 else bytes(10) + b"\xff\xff" + address.packed
    return packed, int(port)


def show_endpoint(ep: tuple[bytes, int]) -> str:
    address = ipaddress.IPv6Address(ep[0])
    if address.ipv4_mapped:
        return f"{address.ipv4_mapped}:{ep[1]}"
    return f"[{address}]:{ep[1]}"


def conversation_name(proto: int, a, b) -> str:
    return f"{NAMES[proto]} {show_endpoint(a)} <-> {show_endpoint(b)}"


def tshark_bytes(exact: int) -> str:
    """A byte count as tshark 4.0 prints it in conversation tables (format_size, SI prefixes)."""
    for power, unit in ((4, "TB"), (3, "GB"), (2, "MB"), (1, "kB")):
        if exact // 1000**power >= 10:
            return f"{exact // 1000**power} {unit}"
    return f"{exact} bytes"


@dataclass
class Row:
    """One conversation as tshark prints it."""

    proto: int
    a: tuple[bytes, int]
    b: tuple[bytes, int]
    frames_ab: int
    bytes_ab: str
    frames_ba: int
    bytes_ba: str
    start: str
    duration: str

    @property
    def key(self):
        return (self.proto, frozenset((self.a, self.b)))


@dataclass
class TsharkConversations:
    rows: list[Row]
    packets: int  # packets tshark read (pcapng: blocks with an interface)
    stopped: str | None  # what tshark said when it could not read to the end


@cache
def tshark_conversations(path: Path) -> TsharkConversations:
    """One tshark run: a line per frame (its interface id), then both conversation tables."""
    command = [TSHARK, "-n", "-r", str(path)]
    for preference in PREFERENCES:
        command += ["-o", preference]
    command += ["-T", "fields", "-e", "frame.interface_id", "-z", "conv,tcp", "-z", "conv,udp"]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    complaints = [
        line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Running as")
    ]
    lines = done.stdout.splitlines()
    first_table = next((k for k, line in enumerate(lines) if line.startswith("=" * 20)), len(lines))
    frames = lines[:first_table]
    pcapng = any(line.strip() for line in frames)
    packets = sum(1 for line in frames if line.strip()) if pcapng else len(frames)
    rows, proto = [], None
    for line in lines[first_table:]:
        proto = PROTOCOLS.get(line.strip(), proto)
        m = ROW.match(line)
        if m:
            rows.append(
                Row(
                    proto,
                    endpoint(m["a"]),
                    endpoint(m["b"]),
                    int(m["f_ab"]),
                    m["b_ab"],
                    int(m["f_ba"]),
                    m["b_ba"],
                    m["start"],
                    m["duration"],
                )
            )
        elif "<->" in line:
            raise AssertionError(f"unparsed tshark conversation line: {line!r}")
    return TsharkConversations(rows, packets, " ".join(complaints) or None)


# --- kernelkit -------------------------------------------------------------------------------


@dataclass
class Conversation:
    """kernelkit's flows of one 5-tuple that make one tshark conversation."""

    flows: list[dict]

    @property
    def restarts(self) -> int:
        return len(self.flows) - 1

    def sent(self, ep) -> tuple[int, int]:
        """(packets, frame bytes) that endpoint ``ep`` sent."""
        pkts = wire = 0
        for f in self.flows:
            side = "orig" if (f["orig_ip"], f["orig_port"]) == ep else "resp"
            pkts += f[f"{side}_pkts"]
            wire += f[f"{side}_wire_bytes"]
        return pkts, wire

    @property
    def first_ns(self) -> int:
        return min(f["first_ns"] for f in self.flows)

    @property
    def duration_ns(self) -> int:
        return max(f["last_ns"] for f in self.flows) - self.first_ns


@dataclass
class Flows:
    """kernelkit's TCP and UDP flows of the packets tshark read, by 5-tuple in time order."""

    by_key: dict = field(default_factory=dict)
    outer_addresses: set = field(default_factory=set)
    capture_start: int | None = None  # ns, the first packet's time: tshark's relative times count from it
    timed: bool = True  # every packet has a timestamp


def kernel_flows(path: Path, packets_read: int) -> Flows:
    """kernelkit's flows of the first ``packets_read`` packets, joined as tshark joins them.

    A SYN that repeats the initial sequence number of the connection it follows (sent
    again after a RST: see SAME_ISN_RESTART) starts a new kernelkit flow, as in Zeek,
    and continues tshark's conversation: such flows are joined back into one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        packets = kernelkit.read_packets(path)
    packets = packets.head(packets_read)
    out = Flows()
    out.outer_addresses = set(packets["src_ip"].drop_nulls()) | set(packets["dst_ip"].drop_nulls())
    ts = packets["ts"].dt.epoch("ns")
    out.timed = ts.null_count() == 0
    out.capture_start = ts.drop_nulls()[0] if ts.drop_nulls().len() else None
    if packets.height == 0:
        return out
    tracked = track(packets, idle_timeout=NEVER, capacity=1 << 14)
    first_syn = {}  # flow id -> sequence number of its first packet when that is a SYN without ACK
    firsts = tracked.packets.with_row_index("index").filter(pl.col("index") == pl.col("flow_id"))
    for index, flags, seq in firsts.select("index", "tcp_flags", "tcp_seq").iter_rows():
        if flags is not None and flags & 0x12 == 0x02:
            first_syn[index] = seq
    flows = tracked.flows.filter(pl.col("ip_proto").is_in([6, 17])).with_columns(
        first_ns=pl.col("first_ts").dt.epoch("ns"), last_ns=pl.col("last_ts").dt.epoch("ns")
    )
    by_key = defaultdict(list)
    for f in flows.sort("first_ns").iter_rows(named=True):
        key = (f["ip_proto"], frozenset(((f["orig_ip"], f["orig_port"]), (f["resp_ip"], f["resp_port"]))))
        group = by_key[key]
        seq = first_syn.get(f["flow_id"])
        if group and seq is not None and first_syn.get(group[-1].flows[0]["flow_id"]) == seq:
            group[-1].flows.append(f)
        else:
            group.append(Conversation([f]))
    out.by_key = dict(by_key)
    return out


def row_differences(row: Row, conv: Conversation, flows: Flows) -> list[str]:
    problems = []
    for ep, frames, shown, way in (
        (row.a, row.frames_ab, row.bytes_ab, "A->B"),
        (row.b, row.frames_ba, row.bytes_ba, "B->A"),
    ):
        pkts, wire = conv.sent(ep)
        if pkts != frames or tshark_bytes(wire) != shown:
            problems.append(f"{way}: tshark {frames} frames {shown}, kernelkit {pkts} packets {wire} bytes")
    if flows.timed:
        # tshark prints seconds as doubles with 9 decimals (4 for the duration)
        start = (conv.first_ns - flows.capture_start) / 1e9
        if abs(start - float(row.start)) > 5e-10 + abs(start) * 1e-15:
            problems.append(f"start: tshark {row.start} s, kernelkit {start:.9f} s")
        duration = conv.duration_ns / 1e9
        if abs(duration - float(row.duration)) > 5e-5 + abs(duration) * 1e-15:
            problems.append(f"duration: tshark {row.duration} s, kernelkit {duration:.9f} s")
    return problems


# --- the comparison --------------------------------------------------------------------------


@dataclass
class Comparison:
    path: Path
    tshark_rows: int = 0
    agreed: int = 0
    inner: int = 0
    kernel_only: int = 0
    restarts: int = 0  # kernelkit flows joined back (SAME_ISN_RESTART)
    timed: bool = True
    stopped: str | None = None
    differences: dict = field(default_factory=dict)  # conversation name -> what differs


def compare(path: Path) -> Comparison:
    conv = tshark_conversations(path)
    flows = kernel_flows(path, conv.packets)
    out = Comparison(path, tshark_rows=len(conv.rows), stopped=conv.stopped, timed=flows.timed)
    rows_by_key = defaultdict(list)
    for row in conv.rows:
        rows_by_key[row.key].append(row)
    for key, rows in rows_by_key.items():
        name = conversation_name(rows[0].proto, rows[0].a, rows[0].b)
        kernel = flows.by_key.get(key, [])
        if not kernel:
            if any(ep[0] not in flows.outer_addresses for ep in (rows[0].a, rows[0].b)):
                out.inner += len(rows)
            else:
                out.differences[name] = [f"{len(rows)} tshark conversation(s), no kernelkit flow"]
            continue
        if len(kernel) != len(rows):
            out.differences[name] = [f"{len(rows)} tshark conversation(s), {len(kernel)} kernelkit flow(s)"]
            continue
        problems = []
        for k, (row, conversation) in enumerate(zip(sorted(rows, key=lambda r: float(r.start)), kernel)):
            out.restarts += conversation.restarts
            problems += [
                f"#{k}: {p}" if len(rows) > 1 else p for p in row_differences(row, conversation, flows)
            ]
        if problems:
            out.differences[name] = problems
        else:
            out.agreed += len(rows)
    for key, kernel in flows.by_key.items():
        if key not in rows_by_key:
            a, b = sorted(key[1])
            out.kernel_only += len(kernel)
            out.differences[conversation_name(key[0], a, b)] = [
                f"{len(kernel)} kernelkit conversation(s), no tshark conversation"
            ]
    return out


# --- tests -----------------------------------------------------------------------------------

TRACES = shared_traces()


@pytest.fixture(scope="module")
def tshark():
    if TSHARK is None:
        pytest.skip(SKIP_REASON)
    return TSHARK


@pytest.mark.parametrize("path", TRACES, ids=[p.name for p in TRACES])
def test_conversations_agree(tshark, path):
    result = compare(path)
    expected = {name for (file, name) in EXCEPTIONS if file == path.name}
    unexplained = {name: what for name, what in result.differences.items() if name not in expected}
    stale = expected - set(result.differences)
    message = [f"{path.name}: {result.agreed}/{result.tshark_rows} tshark conversations agree"]
    message += [f"  {name}: {'; '.join(what)}" for name, what in unexplained.items()]
    message += [f"  listed in EXCEPTIONS but agrees now: {name}" for name in sorted(stale)]
    assert not unexplained and not stale, "\n".join(message)


def test_port_reuse_splits_both(tshark, tmp_path):
    """Two connections on one 5-tuple (FIN both ways, then a new SYN): two rows, two flows."""
    from tests import packetgen as pg

    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])

    def segment(src, dst, sport, dport, flags, seq, ack, payload=b""):
        return pg.ethernet(
            pg.ipv4(
                pg.tcp(payload, sport=sport, dport=dport, seq=seq, ack=ack, flags=flags), 6, src=src, dst=dst
            ),
            0x0800,
        )

    records, t = [], 100
    for isn in (1000, 900000):
        for p in (
            segment(a, b, 40000, 80, 0x02, isn, 0),
            segment(b, a, 80, 40000, 0x12, 5000, isn + 1),
            segment(a, b, 40000, 80, 0x10, isn + 1, 5001),
            segment(a, b, 40000, 80, 0x18, isn + 1, 5001, b"x" * 10),
            segment(a, b, 40000, 80, 0x11, isn + 11, 5001),
            segment(b, a, 80, 40000, 0x11, 5001, isn + 12),
            segment(a, b, 40000, 80, 0x10, isn + 12, 5002),
        ):
            t += 1
            records.append((t, 0, len(p), p))
    path = tmp_path / "reuse.pcap"
    path.write_bytes(pg.pcap_bytes(records, 1))
    result = compare(path)
    assert (result.tshark_rows, result.agreed, result.differences) == (2, 2, {})


def agreement_table(paths) -> list[str]:
    columns = ("tshark", "agree", "inner", "kk-only", "excepted", "joined")
    lines = [f"{'capture':64} " + " ".join(f"{c:>{max(5, len(c))}}" for c in columns) + "  notes"]
    totals = [0, 0, 0, 0, 0, 0]
    for path in paths:
        r = compare(path)
        excepted = sum(1 for (file, _name) in EXCEPTIONS if file == path.name)
        unexplained = len([n for n in r.differences if (path.name, n) not in EXCEPTIONS])
        notes = []
        if r.stopped:
            notes.append("tshark stopped early: compared the packets it read")
        if not r.timed:
            notes.append("packets without time: start and duration not compared")
        if unexplained:
            notes.append(f"{unexplained} UNEXPLAINED")
        for k, v in enumerate((r.tshark_rows, r.agreed, r.inner, r.kernel_only, excepted, r.restarts)):
            totals[k] += v
        lines.append(
            f"{path.name[:64]:64} {r.tshark_rows:6} {r.agreed:5} {r.inner:5} {r.kernel_only:7} "
            f"{excepted:8} {r.restarts:6}  {'; '.join(notes)}"
        )
    lines.append(
        f"{'total':64} {totals[0]:6} {totals[1]:5} {totals[2]:5} {totals[3]:7} {totals[4]:8} {totals[5]:6}"
    )
    lines.append("joined: kernelkit flows joined back into one tshark conversation (SAME_ISN_RESTART)")
    return lines


if __name__ == "__main__":
    if TSHARK is None:
        sys.exit(SKIP_REASON)
    print("\n".join(agreement_table([Path(p) for p in sys.argv[1:]] or TRACES)))
