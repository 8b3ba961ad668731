#!/usr/bin/env python3
"""Explorer benchmark: time from a filter change to every view updated, on a million-packet trace.

    python3 benchmarks/explore.py [--packets N] [--flows F] [--repeats R] [--trace PATH]

1. A synthetic trace of ``--packets`` packets and ``--flows`` flows
   (:func:`kernelkit.synth.write_trace`, in a temporary directory unless
   ``--trace`` names an existing capture), tracked with :func:`kernelkit.track`;
   the first load (tracking, the model's per-packet keys, the widget's first
   drawing) is timed once and reported apart.
2. Model level: for each case (a filter × a time range), the model's caches are
   cleared, then the filter and range are set and every view's frame is
   computed (``ExplorerModel.frames``): the cold path, as when a user types a new
   filter. ``--repeats`` runs per case. Also: returning to a case already seen
   (served from the caches), and choosing a flow (the drill-down).
3. The peer, on the same cases: the same frames computed the plain way — the
   filter's ``.packets()``, then Polars filters for range and protocols, then the
   ``kernelkit.plots`` frame functions on the selected packets — so that the
   ratio explorer ÷ peer is measured in the same run on the same machine.
4. Widget level: the same, through the widget: setting the filter box's value
   runs the model and rebuilds the Altair charts (their MIME bundles, as sent to
   the browser; nothing is rendered).

Times are wall-clock medians and percentiles, next to the target (< 300 ms per
update). The machine is shared: the load average is printed before and after each
section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np
import polars as pl

import kernelkit
import kernelkit.filter
from kernelkit import plots, synth
from kernelkit.explore import ExplorerModel
from kernelkit.explore.widget import Explorer

TARGET_MS = 300.0

FILTERS = [
    "",
    "tcp",
    "tcp.port == 443",
    "not tcp.flags.syn",
    "tcp.flags.syn and not tcp.flags.ack",
    "udp and ip.len > 1000",
    "ip.src == 10.0.0.0/8",
    "ipv6",
    "conn.duration > 0.5",
    "icmp or udp.port == 53",
]
# (start, end) as fractions of the trace's duration; None: the whole trace.
RANGES = [None, (0.25, 0.75), (0.5, 0.51)]


def log(message: str) -> None:
    print(message, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentiles(ms: list[float]) -> str:
    a = np.asarray(ms)
    return (
        f"median {np.median(a):7.1f}  p90 {np.percentile(a, 90):7.1f}  p99 {np.percentile(a, 99):7.1f}  "
        f"max {a.max():7.1f} ms"
    )


def seconds_range(model: ExplorerModel, fraction) -> tuple[float | None, float | None]:
    if fraction is None:
        return None, None
    return fraction[0] * model.duration, fraction[1] * model.duration


def model_update(model: ExplorerModel, text: str, rng) -> float:
    model.clear_caches()
    start = time.perf_counter()
    model.set_filter(text)
    model.set_time_range(*rng)
    model.frames()
    model.summary()
    return (time.perf_counter() - start) * 1e3


def peer_update(packets: pl.DataFrame, flows: pl.DataFrame, model: ExplorerModel, text: str, rng) -> float:
    """The same frames the plain way: filter, Polars conditions, the plots frame functions."""
    start = time.perf_counter()
    selected = kernelkit.filter(text).packets(packets, flows=flows) if text else packets
    if rng[0] is not None:
        t0 = packets["ts"].min()
        lo = t0 + pl.duration(nanoseconds=round(rng[0] * 1e9))
        hi = t0 + pl.duration(nanoseconds=round(rng[1] * 1e9))
        selected = selected.filter(pl.col("ts").is_between(lo, hi))
    _, every = model.interval()
    plots.traffic_frame(selected, every)
    plots.top_talkers_frame(selected, 10)
    ids = selected.select(pl.col("flow_id").drop_nulls().unique())
    dist = plots.flow_distribution_frame(flows.join(ids, on="flow_id", how="semi"))
    dist.sort("bytes", descending=True).head(20)
    plots.anomalies_frame(selected)
    return (time.perf_counter() - start) * 1e3


def widget_update(app: Explorer, text: str, rng) -> float:
    model = app.model
    lo, hi = seconds_range(model, rng)
    wanted = (0.0 if lo is None else lo, app.time_range.max if hi is None else hi)
    if tuple(app.time_range.value) != wanted:
        app.time_range.value = wanted  # untimed: the case's range
    if app.filter_box.value == text:
        app.filter_box.value = "tcp" if text != "tcp" else "udp"  # untimed: so that the timed set is a change
    model.clear_caches()
    start = time.perf_counter()
    app.filter_box.value = text
    return (time.perf_counter() - start) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument("--trace", type=Path, help="an existing capture to use instead of a synthetic one")
    args = parser.parse_args(argv)

    log(f"load average at start: {load()}  (2 shared cores)")
    with tempfile.TemporaryDirectory(prefix="kk-explore-bench-") as tmp:
        path = args.trace
        if path is None:
            path = Path(tmp) / "synth.pcap"
            started = time.perf_counter()
            summary = synth.write_trace(path, packets=args.packets, flows=args.flows, seed=args.seed)
            log(
                f"trace: {summary.packets:,} packets, {summary.flows:,} flows, "
                f"{summary.seconds:.2f} s of traffic, "
                f"{summary.bytes / 1e6:.0f} MB (written in {time.perf_counter() - started:.1f} s)"
            )

        log("\n## first load (once)")
        started = time.perf_counter()
        tracked = kernelkit.track(path)
        t_track = time.perf_counter() - started
        started = time.perf_counter()
        model = ExplorerModel(tracked.packets, tracked.flows)
        t_model = time.perf_counter() - started
        started = time.perf_counter()
        app = Explorer(ExplorerModel(tracked.packets, tracked.flows))
        t_widget = time.perf_counter() - started
        log(f"{model.packets.height:,} packets, {model.flows.height:,} flows, {model.duration:.3f} s")
        log(
            f"kernelkit.track: {t_track:.2f} s · ExplorerModel(): {t_model:.2f} s · "
            f"Explorer() (its own model, first drawing): {t_widget:.2f} s"
        )
        log(f"load average: {load()}")

        cases = [(text, rng) for text in FILTERS for rng in RANGES]
        for text, rng in cases:  # warm-up: imports, regex compilation, first touches
            model_update(model, text, seconds_range(model, rng))

        log(
            f"\n## model level: filter change -> every view's frame, cold caches ({args.repeats} runs a case)"
        )
        log(f"{'filter':40} {'range':>12} {'selected':>10} {'explorer':>10} {'peer':>10} {'ratio':>6}")
        model_ms, peer_ms = [], []
        for text, rng in cases:
            r = seconds_range(model, rng)
            mine = [model_update(model, text, r) for _ in range(args.repeats)]
            theirs = [
                peer_update(tracked.packets, tracked.flows, model, text, r) for _ in range(args.repeats)
            ]
            model_ms += mine
            peer_ms += theirs
            a, b = statistics.median(mine), statistics.median(theirs)
            log(
                f"{text or '(none)':40} {_range_text(rng):>12} {model.summary()['packets']:>10,} "
                f"{a:8.1f}ms {b:8.1f}ms {a / b:6.2f}"
            )
        log(
            f"explorer, all cases: {percentiles(model_ms)}  (target < {TARGET_MS:.0f} ms: "
            f"{'met' if np.percentile(model_ms, 90) < TARGET_MS else 'MISSED'} at p90)"
        )
        log(f"peer,     all cases: {percentiles(peer_ms)}")
        log(f"ratio of medians explorer ÷ peer: {np.median(model_ms) / np.median(peer_ms):.2f}")

        revisit = []
        recent = cases[-5:]  # the caches keep the last 8 selections
        for text, rng in recent:
            model.set_filter(text)
            model.set_time_range(*seconds_range(model, rng))
            model.frames()
        for _ in range(args.repeats):
            for text, rng in recent:
                started = time.perf_counter()
                model.set_filter(text)
                model.set_time_range(*seconds_range(model, rng))
                model.frames()
                revisit.append((time.perf_counter() - started) * 1e3)
        log(f"returning to one of the last 5 cases (cached): {percentiles(revisit)}")

        model.set_filter("tcp")
        model.set_time_range(None, None)
        top = model.top_flows(20)["flow_id"].to_list()
        drill = []
        for flow_id in top:
            started = time.perf_counter()
            model.select_flow(flow_id)
            model.frames()
            drill.append((time.perf_counter() - started) * 1e3)
        log(
            f"choosing a flow (packets table + time-sequence frame; other views cached): {percentiles(drill)}"
        )
        log(f"load average: {load()}")

        log(
            f"\n## widget level: filter box set -> model + Altair charts rebuilt ({args.repeats} runs a case)"
        )
        widget_ms = []
        for text, rng in cases:
            times = [widget_update(app, text, rng) for _ in range(args.repeats)]
            widget_ms += times
            log(f"{text or '(none)':40} {_range_text(rng):>12} {statistics.median(times):8.1f}ms")
        log(
            f"widget, all cases: {percentiles(widget_ms)}  (target < {TARGET_MS:.0f} ms: "
            f"{'met' if np.percentile(widget_ms, 90) < TARGET_MS else 'MISSED'} at p90)"
        )
        app.filter_box.value = "tcp"
        flows = [flow_id for _, flow_id in app.top_flows.options]
        drill = []
        for flow_id in flows:
            started = time.perf_counter()
            app.top_flows.value = flow_id
            drill.append((time.perf_counter() - started) * 1e3)
        log(f"widget, choosing a flow (table + time-sequence chart): {percentiles(drill)}")
        log(f"load average at end: {load()}")
    return 0


def _range_text(rng) -> str:
    return "all" if rng is None else f"{rng[0]:.0%}-{rng[1]:.0%}"


if __name__ == "__main__":
    sys.exit(main())
