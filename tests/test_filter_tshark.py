"""kernelkit's filters against tshark's display filters, on the shared real captures.

For each case, the packets ``kernelkit.filter(case.kernelkit).packets(...)`` keeps
must be the frames ``tshark -Y case.wireshark`` keeps. The two texts differ where
the languages do: Wireshark's ``ip.*`` fields are IPv4 only (kernelkit's cover both
versions, ``ipv4.*`` and ``ipv6.*`` one), a bare ``tcp.flags.syn`` in Wireshark only
says the field exists (kernelkit: the flag is set), and ``ip.ttl`` in kernelkit is
also the IPv6 hop limit.

How the comparison is made:

* Captures: every shared capture that tshark reads to the end (``capinfos`` finds
  nothing wrong) and whose link types kernelkit parses, concatenated with
  ``mergecap -a`` so that tshark runs once per filter. kernelkit reads each capture
  itself; row i of the concatenation is frame i + 1, which the test checks on every
  frame's length.
* tshark runs with the preferences of ``tests/tshark.py``: no reassembly, no
  defragmentation, no checksum checks, so that every frame is dissected as captured.
* kernelkit's fields describe the outermost headers; a tshark field matches ANY
  occurrence in the frame, inner headers included (GRE, VXLAN, Geneve, IP in IP, the
  packet quoted in an ICMP error, stacked VLAN tags). A frame is left out of a case
  when one of the protocols the case reads (``Case.layers``) occurs in it anywhere
  but in the outer headers kernelkit parses; how many were left out is reported, and
  every case still compares thousands of frames.
* Differences that remain by design are listed in ``KNOWN_DIFFERENCES`` with their
  frames and reasons; a listed difference that goes away fails the test, so the list
  stays true.

Session fields (``tls.sni``, ...) select connections, so their cases
(``SESSION_CASES``) compare connections: the frames of the TCP/UDP streams in which
tshark's filter matches some frame, against the packets kernelkit keeps. They run
when the session frame's builder (``SESSION_SOURCES``) is importable.

``python3 -m tests.test_filter_tshark`` prints the agreement table.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl
import pyarrow.compute  # noqa: F401  (kernelkit/conntrack.py uses pa.compute without importing it)
import pytest

import kernelkit
import kernelkit.filter
from kernelkit.kernels.layout import UNKNOWN_LINKTYPE
from tests import tshark as ts
from tests.traces import shared_traces

MERGECAP = shutil.which("mergecap")
CAPINFOS = shutil.which("capinfos")


@dataclass(frozen=True)
class Case:
    """One filter in both languages, and the tshark layers (frame.protocols names) it reads."""

    kernelkit: str
    wireshark: str | None = None  # None: the same text
    layers: tuple[str, ...] = ()

    @property
    def tshark(self) -> str:
        return self.wireshark or self.kernelkit


CASES: tuple[Case, ...] = (
    # ports
    Case("tcp.port == 443", layers=("tcp",)),
    Case("udp.port == 53", layers=("udp",)),
    Case("tcp.srcport == 80 or tcp.dstport == 80", layers=("tcp",)),
    Case("tcp.dstport in {80, 443, 8080}", layers=("tcp",)),
    Case("tcp.port in 1024..5000", "tcp.port in {1024..5000}", layers=("tcp",)),
    Case("udp.port != 53", layers=("udp",)),  # every side differs, and UDP packets only
    # addresses and prefixes
    Case("ip.addr == 192.168.0.0/16", layers=("ip",)),
    Case("ip.src == 10.0.0.0/8 or ip.dst == 65.54.95.0/24", layers=("ip",)),
    Case("ipv4.addr in {192.168.0.0/16, 10.0.0.0/8}", "ip.addr in {192.168.0.0/16, 10.0.0.0/8}", ("ip",)),
    # kernelkit's ip.addr covers IPv6 too, whose addresses all differ from an IPv4 prefix
    Case("ip.addr != 192.168.0.0/16", "ip.addr != 192.168.0.0/16 || ipv6", ("ip", "ipv6")),
    Case("ipv4.addr != 192.168.0.0/16", "ip.addr != 192.168.0.0/16", ("ip",)),
    Case("ipv6.addr == fe80::/10", layers=("ipv6",)),
    Case("ipv6.dst == ff02::/16 or ipv6.src == 2001:db8::/32", layers=("ipv6",)),
    # flags
    Case("tcp.flags.syn and not tcp.flags.ack", "tcp.flags.syn == 1 && tcp.flags.ack == 0", ("tcp",)),
    Case("tcp.flags.rst or tcp.flags.fin", "tcp.flags.reset == 1 || tcp.flags.fin == 1", ("tcp",)),
    Case("tcp.flags == 0x18", layers=("tcp",)),
    Case("tcp.flags & 0x04", layers=("tcp",)),
    # TTL and lengths
    Case("ip.ttl < 64", "ip.ttl < 64 || ipv6.hlim < 64", ("ip", "ipv6")),
    Case("ipv6.hlim == 255", layers=("ipv6",)),
    Case("frame.len > 1000"),
    Case("tcp.len > 0 and tcp.port == 80", "tcp.len > 0 && tcp.port == 80", ("tcp",)),
    Case("udp.length > 100", layers=("udp",)),
    # protocols, and/or/not, parentheses
    Case("icmp or icmpv6", layers=("icmp", "icmpv6")),
    Case("not ip", "!ip && !ipv6", ("ip", "ipv6")),
    Case("ipv4 and not (tcp or udp)", "ip && !(tcp || udp)", ("ip", "tcp", "udp")),
    Case("ipv4.proto == 17 and not udp.port == 53", "ip.proto == 17 && !(udp.port == 53)", ("ip", "udp")),
    Case("(tcp.port == 80 || tcp.port == 443) && frame.len >= 100 && !tcp.flags.syn",
         "(tcp.port == 80 || tcp.port == 443) && frame.len >= 100 && !(tcp.flags.syn == 1)", ("tcp",)),
    Case("eth.addr == ff:ff:ff:ff:ff:ff", layers=("eth",)),
    Case("vlan.id == 42 or vlan.id == 4093", layers=("vlan",)),
)


@dataclass(frozen=True)
class SessionCase:
    """A filter on session fields, and the session frames it needs."""

    kernelkit: str
    wireshark: str
    needs: tuple[str, ...]


SESSION_CASES: tuple[SessionCase, ...] = (
    # tshark's TLS fields also match QUIC's Initial packets: "&& tcp" keeps TLS over TCP
    SessionCase("tls.sni == 'ritter.vg'", 'tls.handshake.extensions_server_name == "ritter.vg" && tcp', ("tls",)),
    SessionCase("tls.sni matches '(?i)MICROSOFT'",
                'tls.handshake.extensions_server_name matches "(?i)MICROSOFT" && tcp', ("tls",)),
    SessionCase("tls.sni contains '.dk' and tcp.port == 443",
                'tls.handshake.extensions_server_name contains ".dk" && tcp.port == 443', ("tls",)),
    SessionCase("tls.alpn == 'h2'", 'tls.handshake.extensions_alpn_str == "h2" && tcp', ("tls",)),
    SessionCase("tls", "tls.handshake.type == 1 && tcp", ("tls",)),
    SessionCase("http.host == 'www.mozilla.org'", 'http.host == "www.mozilla.org"', ("http",)),
    SessionCase("http.method == 'GET' and http.host matches 'ocsp'",
                'http.request.method == "GET" && http.host matches "ocsp"', ("http",)),
    SessionCase("dns.qname contains 'netflix'", 'dns.qry.name contains "netflix"', ("dns",)),
    SessionCase("dns.rcode != 'NOERROR'", "dns.flags.response == 1 && dns.flags.rcode != 0", ("dns",)),
    SessionCase("quic.sni == 'blog.cloudflare.com'",
                'tls.handshake.extensions_server_name == "blog.cloudflare.com" && quic', ("quic",)),
    SessionCase("quic or dns.qname contains 'netflix'",
                'quic.long.packet_type == 0 && tls.handshake.type == 1 || dns.qry.name contains "netflix"',
                ("quic", "dns")),
)

SESSION_SOURCES = {
    # table -> (module, function taking kernelkit.track(path, data=True))
    "tls": ("kernelkit.sessions.tls", "tls_handshakes"),
    "http": ("kernelkit.sessions.http", "http_transactions"),
    "dns": ("kernelkit.sessions.dns", "dns_transactions"),
    "quic": ("kernelkit.sessions.quic", "quic_handshakes"),
}


@dataclass(frozen=True)
class Known:
    """A documented difference: the frames (of one capture) where it shows, and why."""

    frames: tuple[int, ...]
    reason: str


_BROKEN = "zeek__trunc__mpls-6in6-broken.pcap"
# IPv4 headers whose version nibble is not 4 behind an IPv4 ethertype
_BOGUS_VERSION = (11, 170, 209, 345, 399, 525, 644, 787, 1006, 1106, 1332, 1487, 1529, 1546, 1562, 1582, 1647,
                  1663, 1667, 1699, 1720, 1721)
_OAM = 1088  # see tests/test_tshark.py: MPLS label 14 (OAM Alert)
_NO_IP = ("tshark shows an ip layer with a bogus version and no fields (it matches ip, and not ip.*); "
          "kernelkit leaves the IP columns null (status bad_ip_version), so the packet is not IP. Frame "
          f"{_OAM}: after the OAM Alert label tshark decodes Y.1711 OAM, kernelkit reads an IPv4 header")
_BOGUS_LENGTH = ("IPv4 total length below the header's own length: tshark stops at 'Bogus IP length' and "
                 "shows no address or TTL; kernelkit keeps the fields of the header it read (status "
                 f"truncated_ip). Frame {_OAM}: tshark decodes no IP after the OAM Alert label")

# (case's kernelkit text, capture) -> the frames where kernelkit and tshark differ by design.
KNOWN_DIFFERENCES: dict[tuple[str, str], Known] = {
    ("ip.addr != 192.168.0.0/16", _BROKEN): Known((674, 775, _OAM, 1735), _BOGUS_LENGTH),
    ("ipv4.addr != 192.168.0.0/16", _BROKEN): Known((674, 775, _OAM, 1735), _BOGUS_LENGTH),
    ("ip.ttl < 64", _BROKEN): Known((775,), _BOGUS_LENGTH),
    ("not ip", _BROKEN): Known(tuple(sorted((*_BOGUS_VERSION, _OAM))), _NO_IP),
    ("ipv4 and not (tcp or udp)", _BROKEN): Known(tuple(sorted((*_BOGUS_VERSION, _OAM))), _NO_IP),
    # Session cases compare connections: tshark's tcp.stream and kernelkit's flows can cut differently.
    **{
        (case, "suricata-verify__tls__tls-subjectaltname__input.pcap"): Known(
            frames,
            "connection attempts reset before any handshake (SYN, bare ACK, RST), then a new SYN on the "
            "same ports seconds later that carries the TLS handshake: kernelkit's tracker starts a new "
            "connection at a SYN after a reset (as Zeek does); tshark's tcp.stream keeps one stream",
        )
        for case, frames in (
            ("tls", (10, 11, 12, 13, 14, 15, 43, 45, 47, 249, 250, 251, 339, 363, 364, 1854, 1855, 1856)),
            ("tls.sni contains '.dk' and tcp.port == 443", (1854, 1855, 1856)),
        )
    },
    ("tls", "suricata-verify__bug-7264-tcp-3whs-ack-data-tls-01__input.pcap"): Known(
        (25, 26, 27, 28),
        "the server's FIN retransmitted 7 to 57 s after both sides closed: past the 5 s close delay "
        "(Zeek's tcp_close_delay) kernelkit counts them as a new connection; tshark keeps them in the stream",
    ),
}


# -- the corpus: captures, their concatenation, tshark's view of each frame -----------


def _tshark(merged: Path, display_filter: str | None, *fields: str) -> list[list[str]]:
    command = [ts.TSHARK, "-n", "-r", str(merged)]
    for preference in ts.PREFERENCES:
        command += ["-o", preference]
    if display_filter:
        command += ["-Y", display_filter]
    command += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in fields:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tshark -Y {display_filter!r} failed: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.split("\n") if line]


def _unreadable(path: Path) -> str | None:
    """Why tshark does not read the capture to its end (capinfos' complaint), or None."""
    done = subprocess.run([CAPINFOS, "-c", str(path)], capture_output=True, text=True, errors="replace",
                          check=False)
    complaint = " ".join(line.strip() for line in done.stderr.splitlines() if not line.startswith("Running as"))
    return complaint or (None if done.returncode == 0 else f"capinfos exited with {done.returncode}")


def _read(path: Path) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernelkit.TraceWarning)
        return kernelkit.read_packets(path)


@dataclass
class Corpus:
    captures: list[Path]
    left_out: dict[str, str]  # capture -> why it is not compared
    merged: Path
    # kernelkit's packets of every capture, with their capture, frame number in it, and frame
    # number in the concatenation (``merged``, tshark's frame.number there)
    packets: pl.DataFrame
    stacks: dict[int, list[str]]  # tshark's layers of each frame of the concatenation

    def ambiguous(self, layers: tuple[str, ...]) -> set[int]:
        """Merged frames where a layer of ``layers`` occurs beyond the outer headers kernelkit reads."""
        out = set()
        for number, stack in self.stacks.items():
            outer = ts.Stack.of(stack)
            prefix = stack[: outer.last_parsed + 1]
            for layer in layers:
                # kernelkit reads one of each outer header (one VLAN tag: the outermost)
                if stack.count(layer) > min(1, prefix.count(layer)):
                    out.add(number)
        return out

    @cached_property
    def tracked(self) -> list:
        """``kernelkit.track(path, data=True)`` of each capture, its packets numbered as in the merge."""
        out = []
        for path in self.captures:
            tracked = kernelkit.track(path, data=True)
            numbers = self.packets.filter(capture=path.name)["merged"]
            tracked.packets = tracked.packets.with_columns(merged=numbers)
            out.append(tracked)
        return out

    def sessions(self, table: str, build) -> list[pl.DataFrame]:
        """The session frame of ``table`` of each capture (built once)."""
        cache = self.__dict__.setdefault("_sessions", {})
        if table not in cache:
            cache[table] = [build(tracked) for tracked in self.tracked]
        return cache[table]

    @cached_property
    def tshark_streams(self) -> pl.DataFrame:
        rows = _tshark(self.merged, None, "frame.number", "tcp.stream", "udp.stream")
        return pl.DataFrame({
            "merged": [int(r[0]) for r in rows],
            "stream": [f"t{r[1].split(',')[0]}" if r[1] else (f"u{r[2].split(',')[0]}" if r[2] else None)
                       for r in rows],
        })


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("filter"))


def build_corpus(workdir: Path) -> Corpus:
    """Every comparable shared capture, concatenated in ``workdir``, with tshark's layers per frame."""
    missing = [name for name, path in (("tshark", ts.TSHARK), ("mergecap", MERGECAP), ("capinfos", CAPINFOS))
               if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Wireshark's command-line tools): the check needs them")
    captures, left_out, frames = [], {}, []
    for path in shared_traces():
        reason = _unreadable(path)
        packets = None if reason else _read(path)
        if packets is not None and packets.height and (packets["status"] == UNKNOWN_LINKTYPE).all():
            reason = f"kernelkit does not parse its link type(s) {ts.unparsed_linktypes(packets)}"
        if reason:
            left_out[path.name] = reason
            continue
        captures.append(path)
        frames.append(packets.with_columns(capture=pl.lit(path.name), frame=pl.int_range(1, pl.len() + 1)))
    if not captures:
        pytest.skip("no real captures that tshark reads to the end: ../shared/traces is absent or empty")
    merged = workdir / "merged.pcapng"
    subprocess.run([MERGECAP, "-a", "-F", "pcapng", "-w", str(merged), *map(str, captures)], check=True,
                   capture_output=True)
    rows = [r for r in _tshark(merged, None, "frame.number", "frame.interface_id", "frame.len", "frame.protocols")
            if r[1]]  # pcapng blocks that are not packets name no interface
    packets = pl.concat(frames)
    # kernelkit's packet i is tshark's i-th packet frame: same count, same length frame by frame
    assert len(rows) == packets.height, f"tshark reads {len(rows)} frames, kernelkit {packets.height} packets"
    assert [int(r[2]) for r in rows] == packets["wirelen"].to_list()
    packets = packets.with_columns(merged=pl.Series([int(r[0]) for r in rows]))
    return Corpus(captures, left_out, merged, packets, {int(r[0]): r[3].split(":") for r in rows})


def _compare(corpus: Corpus, kept_by_kernelkit: set[int], kept_by_tshark: set[int], left_out: set[int],
             case_id: str) -> list[str]:
    """Differences not documented in KNOWN_DIFFERENCES, and documented ones that are gone."""
    differing = (kept_by_kernelkit ^ kept_by_tshark) - left_out
    by_capture: dict[str, list[int]] = {}
    where = corpus.packets.filter(pl.col("merged").is_in(sorted(differing))).select("capture", "frame", "merged")
    for capture, frame, _ in where.iter_rows():
        by_capture.setdefault(capture, []).append(frame)
    problems = []
    for capture in sorted(set(by_capture) | {c for k, c in KNOWN_DIFFERENCES if k == case_id}):
        found = by_capture.get(capture, [])
        known = KNOWN_DIFFERENCES.get((case_id, capture))
        if found != (list(known.frames) if known else []):
            numbers = dict(corpus.packets.filter(capture=capture).select("frame", "merged").iter_rows())
            shown = "; ".join(
                f"frame {f}: {'kernelkit' if numbers[f] in kept_by_kernelkit else 'tshark'} keeps it "
                f"({':'.join(corpus.stacks[numbers[f]])})" for f in found[:5])
            problems.append(f"{capture}: differs on frames {found[:20]}, documented "
                            f"{list(known.frames) if known else []}. {shown}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.kernelkit for c in CASES])
def test_packets_agree_with_tshark(corpus, case):
    kept_by_tshark = {int(r[0]) for r in _tshark(corpus.merged, case.tshark, "frame.number")}
    kept = set(kernelkit.filter(case.kernelkit).packets(corpus.packets)["merged"].to_list())
    left_out = corpus.ambiguous(case.layers)
    problems = _compare(corpus, kept, kept_by_tshark, left_out, case.kernelkit)
    assert not problems, "\n".join(problems)
    # a case that keeps nothing, or everything, would agree without testing anything
    compared = corpus.packets.height - len(left_out)
    assert 0 < len(kept - left_out) < compared, f"{case.kernelkit}: keeps {len(kept - left_out)} of {compared}"


def _session_frames(needs: tuple[str, ...]):
    """The builders of the session frames a case needs, or the reason they are not there."""
    builders = {}
    for table in needs:
        module, function = SESSION_SOURCES.get(table, (None, None))
        try:
            builders[table] = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError, TypeError):
            return None, f"{module or 'kernelkit.sessions'}.{function or table} is not there yet"
    return builders, None


@pytest.mark.parametrize("case", SESSION_CASES, ids=[c.kernelkit for c in SESSION_CASES])
def test_connections_agree_with_tshark(corpus, case):
    builders, reason = _session_frames(case.needs)
    if builders is None:
        pytest.skip(reason)
    streams = corpus.tshark_streams
    matched = {int(r[0]) for r in _tshark(corpus.merged, case.wireshark, "frame.number")}
    matched_streams = set(streams.filter(pl.col("merged").is_in(sorted(matched)))["stream"].drop_nulls())
    kept_by_tshark = set(streams.filter(pl.col("stream").is_in(sorted(matched_streams)))["merged"].to_list())
    kept = set()
    f = kernelkit.filter(case.kernelkit)
    frames = {table: corpus.sessions(table, build) for table, build in builders.items()}
    for i, tracked in enumerate(corpus.tracked):
        sessions = {table: frames[table][i] for table in frames}
        kept |= set(f.packets(tracked.packets, tracked.flows, **sessions)["merged"].to_list())
    # frames inside tunnels belong to streams kernelkit does not see
    left_out = corpus.ambiguous(("tcp", "udp"))
    problems = _compare(corpus, kept, kept_by_tshark, left_out, case.kernelkit)
    assert not problems, "\n".join(problems)
    assert kept - left_out, f"{case.kernelkit}: keeps nothing"


def test_every_capture_is_compared_or_has_a_reason(corpus):
    # the comparison must not silently shrink to a handful of captures
    assert len(corpus.captures) >= len(corpus.left_out)
    assert all(corpus.left_out.values())


def agreement_table(corpus: Corpus) -> pl.DataFrame:
    """Per case: frames compared, left out (inner headers), kept by each, and disagreements."""
    rows = []
    for case in CASES:
        kept_by_tshark = {int(r[0]) for r in _tshark(corpus.merged, case.tshark, "frame.number")}
        kept = set(kernelkit.filter(case.kernelkit).packets(corpus.packets)["merged"].to_list())
        left_out = corpus.ambiguous(case.layers)
        rows.append({"kernelkit": case.kernelkit, "wireshark": case.tshark,
                     "compared": corpus.packets.height - len(left_out), "left_out": len(left_out),
                     "kept": len(kept - left_out), "tshark_kept": len(kept_by_tshark - left_out),
                     "differ": len((kept ^ kept_by_tshark) - left_out)})
    return pl.DataFrame(rows)


if __name__ == "__main__":  # python3 -m tests.test_filter_tshark
    import tempfile

    built = build_corpus(Path(tempfile.mkdtemp(prefix="kernelkit-filter")))
    with pl.Config(tbl_rows=-1, fmt_str_lengths=80, tbl_width_chars=200):
        print(f"{len(built.captures)} captures, {built.packets.height} packets; left out: {built.left_out}")
        print(agreement_table(built))
