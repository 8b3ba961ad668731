#!/usr/bin/env python3
"""Flow-tracking benchmark: every hash-table design next to the peers, in one run.

    python3 benchmarks/flows.py [--packets N] [--flows F] [--real-packets R] [--quick]

1. Traces, made in a temporary directory: a synthetic one of ``--packets``
   packets and ``--flows`` flows (:mod:`kernelkit.synth`), and a "real" one
   built from the shared captures (``_traces.build_real_trace``). Both are read
   into memory first: the benchmark times flow tracking, not parsing.
2. Per design (wheel expiry, default timeouts, TCP state): packets/s of
   ``FlowTracker`` over the packet batches on one thread, median of runs after
   a warm-up. Also the three expiry strategies on the fastest design.
3. Peers on the same packets: Polars ``group_by`` on the 5-tuple columns
   (directional, no timeouts, no TCP state: less work than the kit does), a
   dict-based Python flow table (canonical key, timeouts, counters) on a
   sample, and NFStream on a pcap of a sample of the trace.
4. Lookups/s against load factor (0.1 ... 0.95) per design.
5. Scaling: the same trace with 1 and with every core's shard (symmetric RSS).
6. Shared table vs per-core tables (HPSR'21), on the synthetic trace: packets/s of
   the counting kernels of :mod:`kernelkit.shared_table` — one lock-free table
   shared by all threads (packets by RSS shard, or sprayed in contiguous chunks)
   and one private table per RSS shard — on 1 thread and on every core, with
   ratios shared ÷ sharded, and the full tracker with shards for reference. The
   kernels are timed on inputs prepared beforehand (RSS grouping done, as a NIC
   would); their first call (JIT compile, or load from Numba's cache) apart.

Rates are printed with ratios kit ÷ peer measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

import kernelkit  # noqa: E402
from kernelkit import synth  # noqa: E402
from kernelkit.conntrack import DESIGNS, EXPIRY, FlowTracker, load_sweep  # noqa: E402
from kernelkit.shared_table import FlowCounter  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.1f}"


def read_batches(path: Path, batch: int = 1 << 18) -> list[pa.RecordBatch]:
    return list(kernelkit.open_trace(path).batches(batch))


def time_tracker(batches, repeats: int, **options) -> tuple[float, FlowTracker]:
    """Median seconds of a full tracking pass (update every batch, then finish)."""
    times = []
    tracker = None
    for _ in range(repeats + 1):  # the first run warms caches and compiles
        tracker = FlowTracker(**options)
        start = time.perf_counter()
        for batch in batches:
            tracker.update(batch)
        tracker.finish()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), tracker


def polars_group_by(frame: pl.DataFrame, repeats: int) -> float:
    keys = ["src_ip", "dst_ip", "sport", "dport", "ip_proto"]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        frame.group_by(keys).agg(
            pl.len(), pl.col("ip_len").sum(), pl.col("payload_len").sum(), pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def python_dict_table(frame: pl.DataFrame, limit: int) -> tuple[int, float]:
    """A plain dict flow table with a canonical key, idle timeout and per-direction counters."""
    rows = frame.head(limit).select("ts", "src_ip", "dst_ip", "sport", "dport", "ip_proto", "ip_len",
                                    "payload_len", "tcp_flags")
    ts = rows["ts"].dt.epoch("ns").to_list()
    columns = [rows[c].to_list() for c in rows.columns[1:]]
    start = time.perf_counter()
    table: dict = {}
    done = []
    timeout = 300_000_000_000
    for t, src, dst, sport, dport, proto, ip_len, payload, flags in zip(ts, *columns):
        if src is None:
            continue
        a, b = (src, sport), (dst, dport)
        forward = a <= b
        key = (a, b, proto) if forward else (b, a, proto)
        flow = table.get(key)
        if flow is not None and t - flow[1] > timeout:
            done.append(table.pop(key))
            flow = None
        if flow is None:
            flow = table[key] = [t, t, forward, 0, 0, 0, 0, 0]
        flow[1] = t
        d = 0 if forward == flow[2] else 1
        flow[3 + d] += 1
        flow[5 + d] += ip_len or 0
        flow[7] |= flags or 0
    done.extend(table.values())
    return len(ts), time.perf_counter() - start


NFSTREAM_SCRIPT = """
import sys, time
from nfstream import NFStreamer
start = time.perf_counter()
flows = NFStreamer(source=sys.argv[1], statistical_analysis=False, n_dissections=0).to_pandas()
print(len(flows), time.perf_counter() - start)
"""


def nfstream(path: Path, packets: int) -> tuple[float, str]:
    """NFStream's packets/s on a pcap, or why it could not run."""
    try:
        out = subprocess.run([sys.executable, "-c", NFSTREAM_SCRIPT, str(path)], capture_output=True, text=True,
                             timeout=1800)
    except subprocess.TimeoutExpired:
        return float("nan"), "timed out"
    if out.returncode != 0:
        return float("nan"), (out.stderr.strip().splitlines() or ["failed"])[-1][:80]
    flows, seconds = out.stdout.split()
    return packets / float(seconds), f"{flows} flows"


SHARED_VARIANTS = [("shared", "rss"), ("shared", "spray"), ("sharded", "rss")]


def time_counter(batches, repeats: int, capacity: int, **options) -> tuple[float, float, FlowCounter]:
    """(first call s, median s of a counting pass, counter): the kernels alone, on prepared inputs.

    The first call counts one small batch in a fresh process: JIT compile or cache load. Each timed
    pass starts from emptied tables whose memory is already touched.
    """
    counter = FlowCounter(capacity=capacity, **options)
    prepared = [counter.prepare(batch) for batch in batches]
    start = time.perf_counter()
    counter.count(counter.prepare(batches[0].slice(0, 1000)))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats + 1):  # the first pass warms caches
        counter.reset()
        start = time.perf_counter()
        for inputs in prepared:
            counter.count(inputs)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times[1:]), counter


COLD_COMPILE_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
import kernelkit
from kernelkit.shared_table import FlowCounter
batch = next(kernelkit.open_trace(kernelkit.sample_path()).batches(1000))
for table, mode in (("shared", "spray"), ("sharded", "rss")):
    counter = FlowCounter(table=table, mode=mode, threads=2, capacity=1024)
    inputs = counter.prepare(batch)
    start = time.perf_counter()
    counter.count(inputs)
    print(table, time.perf_counter() - start)
"""


def cold_compile(tmp: Path) -> dict:
    """Seconds of the first call of each counting kernel in a new process with an empty Numba cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp / "numba-cold"))
    out = subprocess.run([sys.executable, "-c", COLD_COMPILE_SCRIPT, str(HERE.parent)], capture_output=True,
                         text=True, env=env, timeout=600, check=False)
    if out.returncode != 0:
        return {}
    return {table: float(seconds) for table, seconds in (line.split() for line in out.stdout.splitlines())}


def shared_vs_sharded(batches, n: int, capacity: int, repeats: int, tmp: Path, tracker_rates=None) -> None:
    """Section 6; ``tracker_rates`` (packets/s by shard count) reuses section 5's measurements."""
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    print("\n### shared table vs per-core tables (counting kernels: packets and IP bytes per side, "
          "first/last time; no expiry, no TCP state)\n")
    print("| table | threads | packets/s | shared ÷ sharded | flows | lost races | CAS retries | "
          "packets per thread |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    first_calls = {}
    for threads in sorted({1, cores}):
        rates = {}
        rows = []
        for table, mode in SHARED_VARIANTS:
            first, seconds, counter = time_counter(batches, repeats, capacity, table=table, mode=mode,
                                                   threads=threads)
            stats = counter.stats()
            if stats["packets"] != n or stats["failed_inserts"]:
                raise AssertionError(f"{table}/{mode}: {stats}")
            first_calls.setdefault(table, first)
            rates[table, mode] = n / seconds
            rows.append((table, mode, stats))
        for table, mode, stats in rows:
            ratio = rates[table, mode] / rates["sharded", "rss"]
            print(f"| {table} ({mode}) | {threads} | {si(rates[table, mode])} | {ratio:.2f} | {stats['flows']:,} | "
                  f"{stats['lost_races']:,} | {stats['cas_retries']:,} | "
                  f"{' / '.join(f'{p:,}' for p in stats['packets_per_thread'])} |")
        design = tracker_rates["design"] if tracker_rates else "linear"
        if tracker_rates and threads in tracker_rates:
            rate = tracker_rates[threads]
        else:
            seconds, _ = time_tracker(batches, repeats, table=design, capacity=capacity, shards=threads)
            rate = n / seconds
        print(f"| full tracker ({design}, wheel, shards={threads}; end to end from Arrow, TCP state) | "
              f"{threads} | {si(rate)} | "
              f"({rate / rates['sharded', 'rss']:.2f} of sharded) | | | | |")
    cold = cold_compile(tmp)
    print("\nfirst call of each kernel, apart from the rates above: cold (JIT compile, empty cache) "
          + (", ".join(f"{k} {v:.2f} s" for k, v in cold.items()) or "failed")
          + "; in this process (Numba's on-disk cache if current, else a compile) "
          + ", ".join(f"{k} {v:.2f} s" for k, v in first_calls.items()))
    log(f"shared vs per-core tables: {time.perf_counter() - started:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=5_000_000)
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--real-packets", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=200_000, help="packets for the slow peers")
    parser.add_argument("--quick", action="store_true", help="small traces, for a smoke run")
    parser.add_argument("--only", choices=["shared"],
                        help="run one section alone: 'shared' = shared table vs per-core tables (synthetic trace)")
    args = parser.parse_args(argv)
    if args.quick:
        args.packets, args.flows, args.real_packets, args.repeats, args.sample = 200_000, 20_000, 100_000, 1, 20_000
    log(f"load average at start: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="kk-flows-bench-"))
    try:
        if args.only == "shared":
            log(f"generating a synthetic trace of {args.packets:,} packets, {args.flows:,} flows ...")
            synth.write_trace(tmp / "synth.pcap", packets=args.packets, flows=args.flows, seed=1)
            batches = read_batches(tmp / "synth.pcap")
            frame = pl.from_arrow(pa.Table.from_batches(batches))
            key = pl.struct("src_ip", "dst_ip", "sport", "dport", "ip_proto")
            capacity = 1 << int(np.ceil(np.log2(max(16, frame.select(key.n_unique()).item() * 1.25))))
            print(f"\n## synthetic: {frame.height:,} packets, capacity {capacity:,}")
            shared_vs_sharded(batches, frame.height, capacity, args.repeats, tmp)
            return 0
        from _traces import build_real_trace

        traces = {}
        log(f"generating a synthetic trace of {args.packets:,} packets, {args.flows:,} flows ...")
        s = synth.write_trace(tmp / "synth.pcap", packets=args.packets, flows=args.flows, seed=1)
        traces["synthetic"] = tmp / "synth.pcap"
        info = build_real_trace(tmp / "real.pcap", min_packets=args.real_packets)
        traces["real (shared captures, repeated)"] = tmp / "real.pcap"
        log(f"synthetic: {s.packets:,} packets, {s.flows:,} flows; real: {info}")

        for name, path in traces.items():
            batches = read_batches(path)
            frame = pl.from_arrow(pa.Table.from_batches(batches))
            n = frame.height
            print(f"\n## {name}: {n:,} packets ({path.stat().st_size / 2**20:.0f} MiB)\n")
            print("| tracker | packets/s | flows | probes/lookup | bytes/flow |")
            print("|---|---:|---:|---:|---:|")
            rates = {}
            # sized as a deployment would be: room for every flow of the trace at once
            flows_in_trace = frame.select(pl.struct("src_ip", "dst_ip", "sport", "dport", "ip_proto").n_unique()).item()
            capacity = 1 << int(np.ceil(np.log2(max(16, flows_in_trace * 1.25))))
            for design in DESIGNS:
                seconds, tracker = time_tracker(batches, args.repeats, table=design, expiry="wheel",
                                                capacity=capacity)
                stats = tracker.table_stats().row(0, named=True)
                rates[design] = n / seconds
                per_flow = (stats["table_bytes"] / capacity) + stats["record_bytes"]
                print(f"| {design} (wheel) | {si(rates[design])} | {stats['inserts']:,} | "
                      f"{stats['probes_per_lookup']:.2f} | {per_flow:.0f} |")
            best = max(rates, key=rates.get)
            for expiry in EXPIRY:
                if expiry == "wheel":
                    continue
                seconds, tracker = time_tracker(batches, args.repeats, table=best, expiry=expiry, capacity=capacity)
                visits = tracker.table_stats()["expiry_visits"].item()
                print(f"| {best} ({expiry}) | {si(n / seconds)} | | | expiry visits {visits:,} |")
            kit = rates[best]
            print(f"\nbest design: {best}, {si(kit)} packets/s on one core (target ≥ 15 M)\n")
            print("| peer | packets/s | kit ÷ peer | note |")
            print("|---|---:|---:|---|")
            g = polars_group_by(frame, args.repeats)
            print(f"| Polars group_by (5-tuple, one direction) | {si(n / g)} | {kit / (n / g):.2f} | "
                  f"{os.environ.get('POLARS_MAX_THREADS', 'all')} threads |")
            done, seconds = python_dict_table(frame, args.sample)
            print(f"| Python dict flow table | {si(done / seconds)} | {kit / (done / seconds):.0f} | "
                  f"first {done:,} packets |")
            sample = tmp / "sample.pcap"
            head = kernelkit.read_packets(path, data=True).head(args.sample)
            kernelkit.write_pcap(head, sample)
            rate, note = nfstream(sample, head.height)
            ratio = f"{kit / rate:.0f}" if rate == rate else "n/a"
            print(f"| NFStream | {si(rate) if rate == rate else 'n/a'} | {ratio} | {note} |")

            cores = os.cpu_count() or 1
            print("\n| shards (threads) | packets/s | speed-up |")
            print("|---:|---:|---:|")
            base = None
            scaling = {"design": best}
            for shards in sorted({1, cores}):
                seconds, _ = time_tracker(batches, args.repeats, table=best, capacity=capacity, shards=shards)
                base = base or seconds
                scaling[shards] = n / seconds
                print(f"| {shards} | {si(n / seconds)} | {base / seconds:.2f} |")
            if name == "synthetic":
                shared_vs_sharded(batches, n, capacity, args.repeats, tmp, scaling)

        print("\n## lookups/s against load factor (2^20 records, random present keys)\n")
        sweeps = pl.concat([load_sweep(design, capacity=1 << 20, lookups=1 << 21) for design in DESIGNS])
        table = sweeps.pivot(on="design", index="load", values="lookups_per_s").sort("load")
        print("| load | " + " | ".join(table.columns[1:]) + " |")
        print("|---:|" + "---:|" * (len(table.columns) - 1))
        for row in table.iter_rows():
            print(f"| {row[0]:.2f} | " + " | ".join(si(v) if v is not None else "full" for v in row[1:]) + " |")
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        log(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
