"""Print how far kernelkit's packet columns agree with tshark on the real captures.

    python3 -m tests.tshark_agreement [NAME ...]

NAME picks captures whose file name contains it (default: all of them). The
output is Markdown: a per-column table over all captures, then per capture the
columns that disagree (documented or not), the captures not compared, and how
the status column matches what tshark finds wrong.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

from kernelkit.status import status_name
from tests import tshark as ts
from tests.test_tshark import (
    KNOWN_DIFFERENCES,
    PENDING_FIXES,
    STATUS_EXPLAINED,
    not_compared,
    read_quietly,
)
from tests.traces import shared_traces


def _percent(agreed: int, compared: int) -> str:
    if not compared:
        return "–"
    share = 100 * agreed / compared
    # Never round a disagreement up to 100 %.
    return "100 %" if agreed == compared else f"{min(share, 99.99):.2f} %"


def _frames(frames: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f", … ({len(frames)} in all)" if len(frames) > limit else "")


def main(argv: list[str]) -> int:
    if ts.TSHARK is None:
        print(ts.SKIP_REASON)
        return 1
    started = time.perf_counter()
    captures = [p for p in shared_traces() if not argv or any(a in p.name for a in argv)]
    if not captures:
        print("no real captures: ../shared/traces is absent and KERNELKIT_TRACES is unset")
        return 1
    version = subprocess.run(
        [ts.TSHARK, "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]

    results: list[ts.CaptureComparison] = []
    skipped: list[tuple[str, str]] = []
    problems: dict[str, tuple] = {}
    statuses: dict[str, dict[int, int]] = {}
    packets_read = 0
    for path in captures:
        packets = read_quietly(path)
        packets_read += packets.height
        reason = not_compared(path, packets)
        if reason:
            skipped.append((path.name, reason.removeprefix(f"{path.name}: ")))
            continue
        result = ts.compare_capture(path, packets)
        results.append(result)
        problems[path.name] = ts.tshark_problems(path)
        frames = [int(f["frame.number"][0]) for f in ts.run_tshark(path).packets()]
        statuses[path.name] = dict(zip(frames, packets["status"].to_list(), strict=False))

    compared, agreed, both, silent, documented = Counter(), Counter(), Counter(), Counter(), Counter()
    for r in results:
        compared.update(r.compared)
        agreed.update(r.agreed)
        both.update(r.both_flagged)
        silent.update(r.uncompared)
        for d in r.disagreements:
            known = KNOWN_DIFFERENCES.get((r.name, d.column))
            if known and d.frame in known.frames:
                documented[d.column] += 1

    packets_compared = sum(r.compared_packets for r in results)
    print(f"# kernelkit packet columns vs {version}\n")
    print(
        f"{len(captures)} captures: {len(results)} compared, {len(skipped)} not compared. "
        f"{packets_compared} packets compared of {packets_read} read by kernelkit.\n"
    )
    print(
        "A cell is compared when at least one side has a value (two nulls are not counted) and "
        "tshark's output speaks for it; L4 columns use tshark's TCP/UDP/ICMP layer only when it "
        "directly follows the outermost IP header and its extension headers.\n"
    )
    print(
        "| column | compared | agreed | agreement | documented differences | unexplained | "
        "left out: both flag the packet | tshark silent |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    totals = Counter()
    for column in ts.COMPARED_COLUMNS:
        unexplained = compared[column] - agreed[column] - documented[column]
        row = (
            compared[column],
            agreed[column],
            documented[column],
            unexplained,
            both[column],
            silent[column],
        )
        totals.update(dict(zip(("c", "a", "d", "u", "b", "s"), row, strict=True)))
        print(
            f"| {column} | {row[0]} | {row[1]} | {_percent(row[1], row[0])} | {row[2]} | {row[3]} | "
            f"{row[4]} | {row[5]} |"
        )
    print(
        f"| **all columns** | {totals['c']} | {totals['a']} | {_percent(totals['a'], totals['c'])} | "
        f"{totals['d']} | {totals['u']} | {totals['b']} | {totals['s']} |\n"
    )
    print(
        "`l4_offset-l3_offset` is checked against the IP header length (IPv4 `ip.hdr_len`, IPv6 40 + its "
        "extension headers), `payload_offset-l4_offset` against `tcp.hdr_len` (8 for UDP), `payload_len` "
        'against `tcp.len` (`udp.length` − 8). "tshark silent": `iface` of pcap files (tshark shows '
        "no interface there) and TCP options when the packet has a second TCP header.\n"
    )

    print("## Disagreements per capture\n")
    any_disagreement = False
    for r in results:
        columns = sorted({d.column for d in r.disagreements}, key=ts.COMPARED_COLUMNS.index)
        for column in columns:
            any_disagreement = True
            frames = r.disagreeing_frames(column)
            known = KNOWN_DIFFERENCES.get((r.name, column))
            first = next(d for d in r.disagreements if d.column == column)
            example = f"frame {first.frame}: tshark {first.tshark!r}, kernelkit {first.kernelkit!r}"
            if known and frames == sorted(known.frames):
                verdict = f"documented: {known.reason}"
            else:
                verdict = "**unexplained**"
            print(f"- `{r.name}` — `{column}`, frames {_frames(frames)} ({example}). {verdict}")
    if not any_disagreement:
        print("None.")
    clean = [r.name for r in results if not r.disagreements]
    print(f"\nEvery compared column agrees on every packet in the other {len(clean)} captures.\n")

    print("## Captures compared in part or not at all\n")
    for name, reason in skipped:
        print(f"- `{name}`: skipped, {reason}.")
    for r in results:
        if r.note:
            print(f"- `{r.name}`: {r.note}; the packets tshark read are compared.")
    print()

    print("## Packets both tools flag\n")
    print(
        "Where kernelkit's status is non-zero and tshark marks a header kernelkit parses as malformed, "
        "cut short or in error, a cell of that header or a later one is left out when only one tool "
        "has a value (the other stopped there); cells both have are still compared.\n"
    )
    flagged_any = False
    for r in results:
        if r.both_flagged_frames:
            flagged_any = True
            codes = Counter(status_name(statuses[r.name][f]) for f in r.both_flagged_frames)
            count = len(r.both_flagged_frames)
            print(
                f"- `{r.name}`: {count} packet{'s' * (count != 1)} "
                f"({', '.join(f'{n} {c}' for c, n in codes.items())}), "
                f"{sum(r.both_flagged.values())} cells left out."
            )
    if not flagged_any:
        print("None.")
    print()

    print("## Status against what tshark finds wrong\n")
    print(
        "tshark's marks: `_ws.malformed`, `_ws.short` (an exception, raised in the last layer of "
        "`frame.protocols`) and expert items of severity Error or group Malformed (their layer from "
        "tshark's JSON tree).\n"
    )
    print("| capture | tshark layer | tshark says | packets | in kernelkit's headers | kernelkit status |")
    print("|---|---|---|---:|---|---|")
    for name, found in problems.items():
        rows = Counter(
            (p.layer, p.message, p.in_kernelkit_layers, status_name(statuses[name].get(p.frame, 0)))
            for p in found
        )
        for (layer, message, ours, status), n in sorted(rows.items(), key=lambda kv: -kv[1]):
            verdict = "yes" if ours else "no (payload or inner header)"
            print(f"| `{name}` | {layer} | {message.replace('|', '/')[:80]} | {n} | {verdict} | {status} |")
    print()
    for (test, name), reason in PENDING_FIXES.items():
        print(f"- Pending kernelkit fix (`{test}[{name}]`, strict xfail): {reason}.")
    for (name, frame), reason in STATUS_EXPLAINED.items():
        print(f"- Explained: `{name}` frame {frame}: {reason}.")
    alarms = []
    for r in results:
        marked = {p.frame for p in problems[r.name]}
        alarms += [(r.name, f) for f, code in statuses[r.name].items() if code and f not in marked]
    print(
        f"- Packets with a non-zero status that tshark does not mark: {len(alarms)}"
        + (f" ({', '.join(f'{n} frame {f}' for n, f in alarms[:10])})" if alarms else "")
        + "."
    )
    print(f"\n_{time.perf_counter() - started:.1f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
