#!/usr/bin/env python3
"""Parse benchmark: kernelkit's packet table next to its peers, in one run.

    python3 benchmarks/parse.py [--packets N] [--real PATH] [--big-gb G]

What it does (in a temporary directory, deleted at the end):

1. makes a synthetic trace of ``--packets`` small packets (<= 100 B) with
   :mod:`kernelkit.synth`, and a "real" trace: ``--real PATH``, or else one
   built by concatenating the shared classic-pcap Ethernet captures many times
   (timestamps rewritten) to reach ``--real-packets``;
2. on each trace, times ``kernelkit.read_packets(path)`` (all columns, one
   thread: NUMBA_NUM_THREADS=1, POLARS_MAX_THREADS=1, Arrow on one CPU; median of
   ``--repeats`` runs after a warm-up), a Numba loop that only walks the record
   headers (the bound DESIGN.md describes), and the peers: dpkt, scapy and
   pcaptoparquet on the first packets of the trace (they are slow: their rate on
   a sample stands for the whole), and ``tshark -T fields`` with the L2-L4 fields
   on the whole file, as a whole process;
3. times JIT compilation in fresh processes: cold (empty NUMBA_CACHE_DIR: first
   call minus second call) and warm (cache filled: the first call);
4. streams ``open_trace(big).batches(65536)`` over a synthetic trace of
   ``--big-gb`` GiB and over one a quarter of its size, each in a fresh process,
   and reports peak memory: total (VmHWM) and anonymous (RssAnon).

Ratios are kit ÷ peer on the same file in the same run, so a loaded machine
moves them less than the rates. The load average is printed at start and end.
"""

from __future__ import annotations

import os
import resource

# One core: set before numba, polars and pyarrow start their thread pools.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import gc
import json
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # measure the checkout this file is in
sys.path.insert(0, str(HERE))

import numpy as np
import pyarrow as pa

pa.set_cpu_count(1)
pa.set_io_thread_count(1)

import _peers
import _traces

import kernelkit
from kernelkit.synth import write_trace

TARGETS = {
    "pps": 10e6,  # packets/s per core on small packets (aim 25 M)
    "pps_aim": 25e6,
    "dpkt": 100.0,  # kit ÷ dpkt
    "warm_first_call": 2.0,  # seconds
}


@dataclass
class Row:
    tool: str
    packets: int = 0
    seconds: float = float("nan")
    cpu: float = float("nan")
    note: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def pps(self) -> float:
        return self.packets / self.seconds if self.packets and self.seconds > 0 else float("nan")

    @property
    def cpu_pps(self) -> float:
        return self.packets / self.cpu if self.packets and self.cpu > 0 else float("nan")


def si(x: float, unit: str = "") -> str:
    if math.isnan(x):
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.2f} {unit}".rstrip()


def mib(x: float) -> str:
    return f"{x / 2**20:,.0f} MiB"


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- measurements ----------------------------------------------------------------


def time_kit(path: Path, repeats: int) -> Row:
    kernelkit.read_packets(path)  # warm-up: kernels loaded, file pages in memory
    walls, cpus = [], []
    n = 0
    for _ in range(repeats):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        frame = kernelkit.read_packets(path)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        n = frame.height
        del frame
    walls_sorted = sorted(walls)
    return Row(
        "kernelkit read_packets",
        n,
        float(np.median(walls)),
        float(np.median(cpus)),
        note=f"median of {repeats} after a warm-up (wall min {walls_sorted[0]:.3f} s, max {walls_sorted[-1]:.3f} s)",
        extra={"walls": walls, "cpus": cpus},
    )


def guarded(tool: str, fn, *args, note: str = "") -> Row:
    """Run a peer; its CPU time counts this process and the children it waited for."""
    try:
        c = _cpu()
        n, seconds = fn(*args)
        return Row(tool, n, seconds, _cpu() - c, note=note)
    except Exception as exc:  # noqa: BLE001 - a peer that is missing or crashes is a row, not a failure
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:100]
        return Row(tool, error=reason, note=note)


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure_trace(name: str, path: Path, args, tmp: Path, tshark_home: Path | None) -> list[Row]:
    total = _traces.count_records(path)
    log(f"{name}: kernelkit ({args.repeats} runs)")
    rows = [time_kit(path, args.repeats)]
    if rows[0].packets != total:
        rows[0].note += f"; WARNING: {rows[0].packets} rows for {total} records"

    walk_s, walk_cpu, walked, size = _traces.time_walk(path, args.repeats)
    touch_s, touch_cpu = _traces.time_touch(path, args.repeats)
    rows.append(
        Row(
            "record walk only (bound)",
            walked,
            walk_s,
            walk_cpu,
            note=f"Numba loop over record headers: {si(size / walk_s, 'B/s')} of file",
        )
    )
    rows.append(
        Row(
            "read every byte (bound)",
            total,
            touch_s,
            touch_cpu,
            note=f"sum of the file's 8-byte words: {si(size / touch_s, 'B/s')}",
        )
    )

    log(f"{name}: dpkt on {args.dpkt_packets:,} packets")
    rows.append(
        guarded(
            "dpkt (fields to lists)",
            _peers.dpkt_columns,
            path,
            args.dpkt_packets,
            note=f"first {min(args.dpkt_packets, total):,} packets",
        )
    )
    log(f"{name}: scapy on {args.scapy_packets:,} packets")
    rows.append(
        guarded(
            "scapy (PcapReader)",
            _peers.scapy_columns,
            path,
            args.scapy_packets,
            note=f"first {min(args.scapy_packets, total):,} packets",
        )
    )
    sample = tmp / f"{name}-sample.pcap"
    sampled = _traces.write_sample(path, sample, args.p2p_packets)
    log(f"{name}: pcaptoparquet on {sampled:,} packets")
    rows.append(
        guarded(
            "pcaptoparquet (serial)",
            _peers.pcaptoparquet_frame,
            sample,
            note=f"first {sampled:,} packets",
        )
    )
    sample.unlink()
    if tshark_home is None:
        rows.append(Row("tshark -T fields (L2-L4)", error="tshark is not installed"))
    else:
        limit = args.tshark_packets
        log(f"{name}: tshark on {'the whole file' if not limit else f'{limit:,} packets'}")
        rows.append(
            guarded(
                "tshark -T fields (L2-L4)",
                _peers.tshark_fields,
                path,
                tshark_home,
                limit,
                note=("whole file" if not limit else f"first {limit:,} packets") + ", whole process",
            )
        )
    return rows


def print_trace_table(title: str, rows: list[Row]) -> None:
    kit = rows[0]
    print(f"\n{title}")
    header = (
        f"  {'tool':<26} {'packets':>10} {'wall s':>8} {'packets/s':>10} {'kit ÷':>8}"
        f" {'CPU s':>8} {'packets/s':>10} {'kit ÷':>8}  note"
    )
    print(header)
    print(f"  {'':<26} {'':>10} {'':>8} {'(wall)':>10} {'(wall)':>8} {'':>8} {'(CPU)':>10} {'(CPU)':>8}")
    print("  " + "-" * (len(header) + 40))
    for row in rows:
        if row.error:
            print(
                f"  {row.tool:<26} {'':>10} {'':>8} {'':>10} {'':>8} {'':>8} {'':>10} {'':>8}  NOT MEASURED: {row.error}"
            )
            continue
        ratio = "" if row is kit else f"{kit.pps / row.pps:,.1f}x"
        cpu_ratio = "" if row is kit else f"{kit.cpu_pps / row.cpu_pps:,.1f}x"
        print(
            f"  {row.tool:<26} {row.packets:>10,} {row.seconds:>8.3f} {si(row.pps):>10} {ratio:>8}"
            f" {row.cpu:>8.3f} {si(row.cpu_pps):>10} {cpu_ratio:>8}  {row.note}"
        )


def jit_times(tmp: Path) -> dict:
    tiny = tmp / "tiny.pcap"
    write_trace(tiny, packets=100, seed=5)
    cache = tmp / "numba-cache"
    cache.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    env.pop("NUMBA_BOUNDSCHECK", None)
    runs = {}
    for label in ("cold", "warm"):
        log(f"JIT: {label} process")
        out = subprocess.run(
            [sys.executable, str(HERE / "_probe.py"), "jit", str(tiny)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    return runs


def memory_probe(trace: Path, tiny: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), KK_PROBE_TINY=str(tiny))
    out = subprocess.run(
        [sys.executable, str(HERE / "_probe.py"), "memory", str(trace), "65536"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_runs(tmp: Path, big_gb: float, seed: int) -> tuple[list[tuple[str, dict, int]], dict]:
    tiny = tmp / "tiny.pcap"
    estimate = write_trace(tmp / "estimate.pcap", packets=200_000, seed=seed)
    per_packet = estimate.bytes / estimate.packets
    estimate.path.unlink()
    target = big_gb * 2**30
    packets = int(target / per_packet * 1.01) + 1
    results = []
    gen = {}
    for label, n in (("quarter", packets // 4), ("big", packets)):
        path = tmp / f"{label}.pcap"
        log(f"memory: writing the {label} trace ({n:,} packets)")
        t = time.perf_counter()
        summary = write_trace(path, packets=n, seed=seed)
        gen[label] = (summary, time.perf_counter() - t)
        log(f"memory: streaming the {label} trace in a fresh process")
        try:
            results.append((label, memory_probe(path, tiny), summary.bytes))
        except subprocess.CalledProcessError as exc:
            results.append((label, {"error": (exc.stderr or "").strip().splitlines()[-1:]}, summary.bytes))
        path.unlink()
    return results, gen


def profile_kit(path: Path) -> list[tuple[str, float]]:
    """Where read_packets spends its CPU time (a replica of its loop; uses kernelkit internals)."""
    import mmap as _mmap

    import polars as pl

    from kernelkit.io import reader as R
    from kernelkit.io.batch import ColumnArrays, to_record_batch
    from kernelkit.io.formats import PCAP_HEADER_LEN, parse_pcap_header
    from kernelkit.kernels import layout as L
    from kernelkit.schema import packet_schema

    size = 1 << 20  # as Trace.read
    clock = time.process_time
    with open(path, "rb") as f, _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ) as m:
        buf = np.frombuffer(m, np.uint8)
        header = parse_pcap_header(bytes(buf[:PCAP_HEADER_LEN]), str(path))
        spent = {
            "allocate the columns (np.zeros)": 0.0,
            "first touch of the columns' pages": 0.0,
            "walk+parse kernel": 0.0,
            "wrap as Arrow": 0.0,
        }
        batches = []
        pos = PCAP_HEADER_LEN
        # Arrays whose pages are already touched: the same kernel call on them
        # gives the kernel's own time; on fresh arrays it adds the page faults.
        scratch = ColumnArrays.allocate(max(1, min(size, (len(buf) - pos) // R.MIN_RECORD + 1)))
        for column in scratch.kernel_args():
            column.fill(0)
        while True:
            capacity = max(1, min(size, (len(buf) - pos) // R.MIN_RECORD + 1))
            args = (buf, pos, header.big_endian, header.ts_unit_ns, header.linktype, header.snaplen)
            t = clock()
            arrays = ColumnArrays.allocate(capacity)
            spent["allocate the columns (np.zeros)"] += clock() - t
            t = clock()
            n, pos, stop = R.walk_pcap(*args, *arrays.kernel_args())
            fresh = clock() - t
            t = clock()
            R.walk_pcap(*args, *scratch.kernel_args())
            touched = clock() - t
            spent["walk+parse kernel"] += touched
            spent["first touch of the columns' pages"] += max(0.0, fresh - touched)
            t = clock()
            if n:
                batches.append(to_record_batch(arrays, n))
            spent["wrap as Arrow"] += clock() - t
            if stop != L.STOP_FULL:
                break
        t = clock()
        table = pa.Table.from_batches(batches, schema=packet_schema(False))
        frame = pl.from_arrow(table, rechunk=False)
        spent["Arrow table + Polars"] = clock() - t
        t = clock()
        pl.from_arrow(table.select(["src_ip", "dst_ip"]), rechunk=False)
        spent["(of which src_ip, dst_ip)"] = clock() - t
        spent["total"] = sum(v for k, v in spent.items() if not k.startswith("("))
        del frame, table, batches, arrays, scratch, args, buf
    return list(spent.items())


# --- main --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=5_000_000, help="small packets in the synthetic trace")
    p.add_argument("--real", type=Path, help="a real classic pcap to use instead of the built one")
    p.add_argument("--real-packets", type=int, default=1_000_000, help="packets of the built real trace")
    p.add_argument("--big-gb", type=float, default=2.0, help="GiB of the trace streamed for memory (0: skip)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of the kit (after a warm-up)")
    p.add_argument("--dpkt-packets", type=int, default=200_000, help="sample for dpkt")
    p.add_argument("--scapy-packets", type=int, default=20_000, help="sample for scapy")
    p.add_argument("--p2p-packets", type=int, default=20_000, help="sample for pcaptoparquet")
    p.add_argument("--tshark-packets", type=int, default=0, help="cap tshark to this many (0: whole file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-jit", action="store_true", help="skip the JIT compile-time probes")
    p.add_argument("--profile", action="store_true", help="also split the kit's time into its stages")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_start = load()
    print("kernelkit parse benchmark")
    print(
        f"  python {sys.version.split()[0]}, numba {_numba_version()}, polars {_version('polars')}, "
        f"pyarrow {pa.__version__}, dpkt {_version('dpkt')}, scapy {_version('scapy')}, "
        f"pcaptoparquet {_version('pcaptoparquet')}, {_tshark_version()}"
    )
    print(
        f"  {os.cpu_count()} CPUs; load average at start {load_start}; one thread for the kit (NUMBA/POLARS/Arrow)"
    )

    with tempfile.TemporaryDirectory(prefix="kernelkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # The kernels, compiled (or loaded from cache) before anything is timed.
        warm = tmp / "warm.pcap"
        write_trace(warm, packets=1000, seed=1)
        kernelkit.read_packets(warm)
        shutil.copy(warm, tmp / "tiny.pcap")

        log(f"writing the synthetic trace ({args.packets:,} small packets)")
        t = time.perf_counter()
        c = time.process_time()
        synthetic = write_trace(
            tmp / "synthetic-small.pcap", packets=args.packets, small=True, seed=args.seed
        )
        gen_wall, gen_cpu = time.perf_counter() - t, time.process_time() - c

        if args.real:
            real_path = args.real
            with open(real_path, "rb") as f:
                magic = struct.unpack("<I", f.read(4))[0]
            if magic not in (0xA1B2C3D4, 0xA1B23C4D):
                raise SystemExit(f"{real_path}: --real must be a little-endian classic pcap")
            real_desc = f"{real_path} (given with --real)"
        else:
            log(f"building the real trace (>= {args.real_packets:,} packets)")
            real_path = tmp / "real.pcap"
            info = _traces.build_real_trace(real_path, args.real_packets)
            real_desc = (
                f"built at run time: the {info['files']} classic-pcap Ethernet captures of {_traces.SHARED} "
                f"({info['per_copy']:,} packets) concatenated {info['copies']} times, timestamps rewritten"
            )
        real_packets = _traces.count_records(real_path)
        real_bytes = real_path.stat().st_size
        real_sizes = kernelkit.read_packets(real_path)["caplen"]
        synth_median = int(kernelkit.read_packets(synthetic.path)["caplen"].median())

        tshark_home = _peers.tshark_l2_l4_config(tmp) if shutil.which("tshark") else None
        results = {}
        for name, path in (("synthetic", synthetic.path), ("real", real_path)):
            results[name] = measure_trace(name, path, args, tmp, tshark_home)
        profiles = {}
        if args.profile:
            for name, path in (("synthetic", synthetic.path), ("real", real_path)):
                try:
                    runs = [dict(profile_kit(path)) for _ in range(3)]
                    profiles[name] = [(k, float(np.median([r[k] for r in runs]))) for k in runs[0]]
                except Exception:  # noqa: BLE001 - internals may have changed: report, go on
                    profiles[name] = [
                        ("unavailable: " + traceback.format_exc().splitlines()[-1], float("nan"))
                    ]
        synthetic.path.unlink()

        jit = None if args.no_jit else jit_times(tmp)
        memory, big_gen = memory_runs(tmp, args.big_gb, args.seed) if args.big_gb > 0 else ([], {})

    # --- report -----------------------------------------------------------------------
    print("\nTraces")
    print(
        f"  synthetic: {synthetic.packets:,} packets, {synthetic.flows:,} flows, {synthetic.bytes / 1e6:,.0f} MB, "
        f"median frame {synth_median} B (kernelkit.synth, small=True, seed {args.seed})"
    )
    print(
        f"    generated in {gen_wall:.2f} s wall, {gen_cpu:.2f} s CPU: {si(synthetic.packets / gen_wall, 'packets/s')}, "
        f"{si(synthetic.bytes / gen_wall, 'B/s')}"
    )
    print(
        f"  real: {real_packets:,} packets, {real_bytes / 1e6:,.0f} MB, "
        f"median frame {int(real_sizes.median())} B; {real_desc}"
    )
    for name, label in (("synthetic", "synthetic trace, small packets"), ("real", "real trace")):
        print_trace_table(f"Parse: {label}", results[name])
    print(
        "\n  Peers marked 'first N packets' ran on a sample (dpkt and scapy stop after N; pcaptoparquet"
        " reads a file of the first N records); their packets/s stands for the whole file."
        "\n  tshark runs with every dissector above L4 disabled, no TCP analysis or reassembly, and"
        " includes its start-up. The kit's seconds are wall time on one thread."
    )
    if profiles:
        print(
            "\nWhere the kit's CPU time goes (a replica of read_packets' loop, 1 Mi-row batches; median of 3)"
        )
        for name, spent in profiles.items():
            print(f"  {name}:")
            total = dict(spent).get("total", float("nan"))
            for k, v in spent:
                print(f"    {k:<40} {v:7.3f} s  {100 * v / total:5.1f} %")

    if jit:
        cold, warm_run = jit["cold"], jit["warm"]
        print("\nJIT compile time (fresh processes, 100-packet pcap)")
        print(
            f"  cold (empty NUMBA_CACHE_DIR): first call {cold['first']:.2f} s, second {cold['second'] * 1e3:.1f} ms "
            f"-> compile {cold['first'] - cold['second']:.2f} s; import kernelkit {cold['import']:.2f} s"
        )
        print(
            f"  warm (cache filled): first call {warm_run['first']:.2f} s, second {warm_run['second'] * 1e3:.1f} ms; "
            f"import kernelkit {warm_run['import']:.2f} s"
        )

    if memory:
        print("\nStreaming memory: open_trace(path).batches(65536), fresh process each, peak over the stream")
        print(
            f"  {'trace':<8} {'file':>10} {'packets':>11} {'anon base':>10} {'anon peak':>10} {'peak-base':>10} "
            f"{'file pages':>11} {'VmHWM':>10} {'packets/s':>11}"
        )
        for label, m, size in memory:
            if "error" in m:
                print(f"  {label:<8} {mib(size):>10} NOT MEASURED: {m['error']}")
                continue
            print(
                f"  {label:<8} {mib(size):>10} {m['rows']:>11,} {mib(m['base_anon']):>10} {mib(m['peak_anon']):>10} "
                f"{mib(m['peak_anon'] - m['base_anon']):>10} {mib(m['peak_file']):>11} {mib(m['vmhwm']):>10} "
                f"{si(m['rows'] / m['seconds']):>11}"
            )
        for label, (summary, seconds) in big_gen.items():
            print(
                f"  ({label} trace written by kernelkit.synth in {seconds:.1f} s: "
                f"{si(summary.packets / seconds, 'packets/s')}, {si(summary.bytes / seconds, 'B/s')})"
            )
        print(
            "  anon = RssAnon (heap, arrays, Arrow buffers): what the process allocates; base = after import"
            "\n  and a first tiny read. file pages = RssFile: the capture is memory-mapped; the reader releases"
            "\n  the pages behind each batch (madvise), so they stay bounded too, whatever the file's size."
        )

    print("\nTargets (from the issue)")
    kit_small = results["synthetic"][0]
    dpkt_rows = {name: next(r for r in results[name] if r.tool.startswith("dpkt")) for name in results}
    verdicts = [
        (
            ">= 10 M packets/s per core on small packets (aim 25 M)",
            f"{si(kit_small.cpu_pps, 'packets/s')} per CPU second (wall median {si(kit_small.pps, 'packets/s')})",
            kit_small.cpu_pps >= TARGETS["pps"],
        ),
    ]
    for name, row in dpkt_rows.items():
        kit = results[name][0]
        ok = not row.error and kit.cpu_pps / row.cpu_pps >= TARGETS["dpkt"]
        value = (
            "not measured"
            if row.error
            else f"{kit.cpu_pps / row.cpu_pps:,.0f}x on CPU time ({kit.pps / row.pps:,.0f}x on wall time)"
        )
        verdicts.append((f">= 100x dpkt ({name} trace)", value, ok))
    if jit:
        verdicts.append(
            ("warm first call < 2 s", f"{jit['warm']['first']:.2f} s", jit["warm"]["first"] < 2.0)
        )
    if len(memory) == 2 and all("error" not in m for _, m, _ in memory):
        (_, quarter, _), (_, big, _) = memory
        flat = big["peak_anon"] <= quarter["peak_anon"] * 1.1 + (32 << 20)
        verdicts.append(
            (
                "streaming memory flat in file size (anonymous)",
                f"{mib(quarter['peak_anon'])} -> {mib(big['peak_anon'])} for 4x the file",
                flat,
            )
        )
        verdicts.append(
            (
                "streaming memory flat in file size (total RSS)",
                f"{mib(quarter['vmhwm'])} -> {mib(big['vmhwm'])}",
                big["vmhwm"] <= quarter["vmhwm"] * 1.1 + (32 << 20),
            )
        )
    for what, value, ok in verdicts:
        print(f"  [{'met ' if ok else 'MISS'}] {what}: {value}")
    print(
        "  Rates are judged per CPU second: on a loaded machine the wall time of a one-thread run includes"
        "\n  waiting for a core; on an idle one the two agree."
    )

    print(
        f"\nload average at end {load()} (at start {load_start}); benchmark run time {time.perf_counter() - started:.0f} s"
    )
    return 0


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return "absent"


def _numba_version() -> str:
    import numba

    return numba.__version__


def _tshark_version() -> str:
    if not shutil.which("tshark"):
        return "tshark absent"
    out = subprocess.run(["tshark", "--version"], check=False, capture_output=True, text=True).stdout
    return out.splitlines()[0].split(" (Git")[0] if out else "tshark ?"


if __name__ == "__main__":
    sys.exit(main())
