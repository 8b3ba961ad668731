"""A capinfos-like summary of a trace, computed in one streaming pass."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from .io.trace import PathLike, Trace, open_trace
from .status import status_name

LINKTYPE_NAMES = {
    0: "NULL",
    1: "EN10MB",
    101: "RAW",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    228: "IPV4",
    229: "IPV6",
    276: "LINUX_SLL2",
}


@dataclass
class TraceSummary:
    """What :func:`summarize` found; ``str()`` gives the printed report."""

    files: list[str]
    packets: int = 0
    wire_bytes: int = 0
    captured_bytes: int = 0
    first_ts: object = None
    last_ts: object = None
    linktypes: Counter = field(default_factory=Counter)
    protocols: Counter = field(default_factory=Counter)
    anomalies: Counter = field(default_factory=Counter)

    @property
    def duration_s(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts).total_seconds()

    def share(self, protocol: str) -> float:
        """Fraction of packets that carry ``protocol`` (ipv4, ipv6, tcp, udp, icmp)."""
        return self.protocols[protocol] / self.packets if self.packets else 0.0

    def __str__(self) -> str:
        rate = self.packets / self.duration_s if self.duration_s > 0 else float("nan")
        lines = [
            f"files:          {', '.join(self.files)}",
            f"packets:        {self.packets:,}",
            f"bytes on wire:  {self.wire_bytes:,} ({self.captured_bytes:,} captured)",
            f"first packet:   {self.first_ts}",
            f"last packet:    {self.last_ts}",
            f"duration:       {self.duration_s:.6f} s ({rate:,.1f} packets/s)",
            "link types:     "
            + ", ".join(f"{LINKTYPE_NAMES.get(lt, lt)} ({lt}): {n:,}" for lt, n in self.linktypes.most_common()),
            "protocols:      "
            + ", ".join(f"{p} {self.share(p):.1%}" for p in ("ipv4", "ipv6", "tcp", "udp", "icmp")),
        ]
        if self.anomalies:
            lines.append("top anomalies:  " + ", ".join(
                f"{status_name(code)} ({code}): {n:,}" for code, n in self.anomalies.most_common(5)
            ))
        else:
            lines.append("top anomalies:  none")
        return "\n".join(lines)


def summarize(trace: PathLike | Trace, *, progress: bool = False) -> TraceSummary:
    """Summarise a trace: packets, bytes, duration, link types, protocol shares, anomalies.

    Parameters
    ----------
    trace : path, paths or Trace
    progress : bool
        Show a progress bar.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.summary import summarize
    >>> s = summarize(kernelkit.sample_path())
    >>> s.packets > 0 and 0 < s.share("tcp") < 1
    True
    """
    trace = open_trace(trace)
    summary = TraceSummary(files=[str(p) for p in trace.paths])
    for batch in trace.batches(1 << 20, progress=progress):
        frame = pl.from_arrow(batch)
        row = frame.select(
            packets=pl.len(),
            wire=pl.col("wirelen").cast(pl.Int64).sum(),
            captured=pl.col("caplen").cast(pl.Int64).sum(),
            first=pl.col("ts").min(),
            last=pl.col("ts").max(),
            ipv4=(pl.col("ip_version") == 4).sum(),
            ipv6=(pl.col("ip_version") == 6).sum(),
            tcp=pl.col("tcp_flags").is_not_null().sum(),
            udp=(pl.col("sport").is_not_null() & pl.col("tcp_flags").is_null()).sum(),
            icmp=pl.col("icmp_type").is_not_null().sum(),
        ).row(0, named=True)
        summary.packets += row["packets"]
        summary.wire_bytes += row["wire"] or 0
        summary.captured_bytes += row["captured"] or 0
        if row["first"] is not None:
            summary.first_ts = row["first"] if summary.first_ts is None else min(summary.first_ts, row["first"])
            summary.last_ts = row["last"] if summary.last_ts is None else max(summary.last_ts, row["last"])
        for proto in ("ipv4", "ipv6", "tcp", "udp", "icmp"):
            summary.protocols[proto] += row[proto]
        for linktype, n in frame["linktype"].value_counts().rows():
            summary.linktypes[linktype] += n
        for code, n in frame.filter(pl.col("status") != 0)["status"].value_counts().rows():
            summary.anomalies[code] += n
    return summary
