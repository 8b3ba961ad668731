"""Measurements that need a fresh process; run by ``parse.py``, prints one JSON line.

``python3 _probe.py jit TINY``: seconds to import kernelkit, then of a first and a
second ``read_packets(TINY)`` (the first compiles the kernels, or loads them from
Numba's cache).

``python3 _probe.py memory TRACE [BATCH]``: stream ``open_trace(TRACE).batches(BATCH)``
and report peak memory, as a whole (VmHWM) and split into anonymous memory
(RssAnon: allocations) and file pages (RssFile: the mapped capture), sampled
after every batch.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def status() -> dict:
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def jit(tiny: str) -> dict:
    t0 = time.perf_counter()
    import kernelkit

    t1 = time.perf_counter()
    kernelkit.read_packets(tiny)
    t2 = time.perf_counter()
    kernelkit.read_packets(tiny)
    t3 = time.perf_counter()
    return {"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}


def memory(trace: str, batch: int) -> dict:
    import kernelkit

    # Load the kernels (from the cache) on a tiny read first, so compile-time
    # allocations are not counted as streaming memory.
    tiny = os.environ.get("KK_PROBE_TINY")
    if tiny:
        kernelkit.read_packets(tiny)
    base = status()
    peak = dict(base)
    rows = 0
    t = time.perf_counter()
    for b in kernelkit.open_trace(trace).batches(batch):
        rows += b.num_rows
        now = status()
        for key, value in now.items():
            peak[key] = max(peak.get(key, 0), value)
        del b
    seconds = time.perf_counter() - t
    end = status()
    return {
        "rows": rows,
        "seconds": seconds,
        "base_anon": base["RssAnon"],
        "base_rss": base["VmRSS"],
        "peak_anon": peak["RssAnon"],
        "peak_file": peak["RssFile"],
        "peak_rss_sampled": peak["VmRSS"],
        "vmhwm": end["VmHWM"],
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "jit":
        result = jit(sys.argv[2])
    elif what == "memory":
        result = memory(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 65536)
    else:
        raise SystemExit(f"unknown probe {what!r}")
    print(json.dumps(result))
