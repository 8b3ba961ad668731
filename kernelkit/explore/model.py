"""The explorer's logic, without widgets: a selection of packets and the frames of its views.

An :class:`ExplorerModel` holds a trace's packets (with ``flow_id`` and
``direction``, from :func:`kernelkit.track`), its flows, and optionally its
session tables. Its state is a *selection*: a filter (the language of
:mod:`kernelkit.filter`), a time range (seconds from the first packet) and a set
of protocols (TCP, UDP, ICMP, other). Each view's frame is computed from the
selection:

============== ============================================= ===========================
view           frame                                         its inputs
============== ============================================= ===========================
traffic        packets and bytes per interval and protocol    selection
top_talkers    the sources that sent the most bytes           selection, ``n``
top_flows      the largest connections                        selection, ``n``, sort key
flow_sizes     histograms of connection bytes and durations   selection
anomalies      packets per non-zero status code               selection
flow_packets   the chosen connection's packets                the flow
time_sequence  its TCP time-sequence points                   the flow
============== ============================================= ===========================

A connection is in the selection when some of its packets are; its numbers in
``top_flows`` and ``flow_sizes`` are the whole connection's (from the flow table),
as a filter on connections selects whole connections.

Only what changed is recomputed: the filter's packet mask is kept per filter, the
selection per (filter, time range, protocols), and each view's frame per its
inputs; :attr:`ExplorerModel.recomputes` counts the computations per view. The
work is vectorised: the filter is a Polars expression; a time range on a sorted
trace is a slice found by binary search; the views group the selected packets by
small integer keys (interval × protocol, source address, connection) made once
when the model is built, with ``numpy.bincount``. Each view's frame equals the
one of the matching :mod:`kernelkit.plots` function on the selected packets
(``traffic_frame``, ``top_talkers_frame``, ``anomalies_frame``,
``time_sequence_frame``); the tests hold them to it.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .. import plots
from ..filter import Filter, FilterError, parse

PROTOCOLS = ("TCP", "UDP", "ICMP", "other")
"""The protocol toggles; ``other`` is every other IP protocol and non-IP packets."""

PROTOCOL_LABELS = ("TCP", "UDP", "ICMP", "other IP", "non-IP")
"""The protocol names of the views' frames (those of :data:`kernelkit.plots.PROTOCOL`), by class code."""

_TOGGLE_CLASSES = {"TCP": (0,), "UDP": (1,), "ICMP": (2,), "other": (3, 4)}

VIEWS = (
    "filter",
    "selection",
    "traffic",
    "top_talkers",
    "top_flows",
    "flow_sizes",
    "anomalies",
    "flow_packets",
    "time_sequence",
)
"""The computations :attr:`ExplorerModel.recomputes` counts (``filter``: a filter's packet
mask; ``selection``: the selected packets of a (filter, time range, protocols))."""

SORT_KEYS = ("bytes", "packets", "duration")
"""What ``top_flows`` can sort by (largest first)."""

SESSION_TABLES = ("tls", "http", "dns", "quic")

BINS_PER_DECADE = 4
"""Flow-size and duration histograms: log-spaced bins, this many per power of ten."""

_SECOND = 1_000_000_000
_MINUTE, _HOUR, _DAY = 60 * _SECOND, 3600 * _SECOND, 86400 * _SECOND
# Interval lengths for the traffic view (ns). Consecutive steps differ by at most 2.5x
# (3x from 10 s to 30 s), so the smallest one giving <= 300 bins gives >= 100 of them.
_STEPS = tuple(m * 10**e for e in range(10) for m in (1, 2, 5)) + (
    10 * _SECOND,
    20 * _SECOND,
    30 * _SECOND,
    _MINUTE,
    2 * _MINUTE,
    5 * _MINUTE,
    10 * _MINUTE,
    20 * _MINUTE,
    30 * _MINUTE,
    _HOUR,
    2 * _HOUR,
    3 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
)
MAX_BINS = 300


def interval(span_ns: int) -> tuple[int, str]:
    """The traffic view's interval for a span: the shortest round step with at most 300 bins.

    Parameters
    ----------
    span_ns : int
        Length of the time range, in nanoseconds.

    Returns
    -------
    (int, str)
        The step in nanoseconds, and as a Polars duration string (for ``dt.truncate``).

    Examples
    --------
    >>> from kernelkit.explore.model import interval
    >>> interval(60 * 10**9)  # one minute: 120 bins of 500 ms (200 ms would need 301)
    (500000000, '500ms')
    >>> interval(2 * 10**9)[1], interval(3600 * 10**9)[1]
    ('10ms', '20s')
    """
    span_ns = max(int(span_ns), 0)
    for step in _STEPS:
        if span_ns // step + 2 <= MAX_BINS:  # the first bin starts at or before the range: one more
            return step, duration_text(step)
    days = -(-span_ns // ((MAX_BINS - 2) * _DAY))  # beyond the table: whole days
    return days * _DAY, duration_text(days * _DAY)


def duration_text(ns: int) -> str:
    """A duration in nanoseconds as a Polars duration string (``'200ms'``, ``'2h'``).

    Examples
    --------
    >>> from kernelkit.explore.model import duration_text
    >>> duration_text(1_500), duration_text(5 * 10**6), duration_text(120 * 10**9)
    ('1500ns', '5ms', '2m')
    """
    for unit, size in (
        ("d", _DAY),
        ("h", _HOUR),
        ("m", _MINUTE),
        ("s", _SECOND),
        ("ms", 10**6),
        ("us", 10**3),
    ):
        if ns >= size and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


class _LRU(OrderedDict):
    """A small least-recently-used cache."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


@dataclass(eq=False)
class Selection:
    """The selected packets: rows ``lo:hi`` of the trace, or those of them in ``rows``.

    Attributes
    ----------
    key : tuple
        (filter, time range, protocols), as the caches know it.
    lo, hi : int
        The slice of packet rows the selection lies in (the time range, on a sorted trace).
    rows : numpy.ndarray or None
        The selected packet rows (ascending), or None for every row of ``lo:hi``.
    """

    key: tuple
    lo: int
    hi: int
    rows: np.ndarray | None
    cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.hi - self.lo if self.rows is None else len(self.rows)

    def indices(self) -> np.ndarray:
        """The selected packet rows, ascending."""
        return np.arange(self.lo, self.hi) if self.rows is None else self.rows

    def take(self, values: np.ndarray) -> np.ndarray:
        """The selected packets' entries of a per-packet array (a view when nothing is masked)."""
        return values[self.lo : self.hi] if self.rows is None else values[self.rows]


class ExplorerModel:
    """A trace's packets, flows and sessions, a selection of them, and the frames of its views.

    Parameters
    ----------
    packets : polars.DataFrame
        Packets with ``flow_id`` and ``direction`` (``kernelkit.track(...).packets``).
    flows : polars.DataFrame
        Their connections (``kernelkit.track(...).flows``).
    sessions : mapping, optional
        Session tables by name (``tls``, ``http``, ``dns``, ``quic``), each with
        ``flow_id``, for filters on session fields (``tls.sni ~ 'netflix'``).

    Attributes
    ----------
    recomputes : collections.Counter
        Computations per name of :data:`VIEWS` (a view served from its cache is not counted).
    error : FilterError or None
        The error of the last filter that was refused, until a filter is accepted.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.explore import ExplorerModel
    >>> t = kernelkit.track(kernelkit.sample_path())
    >>> model = ExplorerModel(t.packets, t.flows)
    >>> model.set_filter("tcp.port == 80")
    >>> model.set_protocols({"TCP"})
    >>> model.top_flows(3, "packets").columns
    ['flow_id', 'protocol', 'orig', 'resp', 'packets', 'bytes', 'duration', 'conn_state']
    >>> int(model.traffic()["packets"].sum()) == model.summary()["packets"]
    True
    >>> model.recomputes["traffic"]
    1
    """

    def __init__(self, packets: pl.DataFrame, flows: pl.DataFrame, sessions: Mapping | None = None):
        packets, flows = _frame(packets, "packets"), _frame(flows, "flows")
        _require(
            packets,
            "packets",
            ("ts", "wirelen", "ip_proto", "src_ip", "status", "flow_id", "direction"),
            "kernelkit.track(...).packets",
        )
        _require(
            flows,
            "flows",
            (
                "flow_id",
                "orig_ip",
                "orig_port",
                "resp_ip",
                "resp_port",
                "ip_proto",
                "orig_pkts",
                "resp_pkts",
                "orig_ip_bytes",
                "resp_ip_bytes",
                "duration",
            ),
            "kernelkit.track(...).flows",
        )
        sessions = {k: _frame(v, k) for k, v in (sessions or {}).items() if v is not None}
        unknown = set(sessions) - set(SESSION_TABLES)
        if unknown:
            raise ValueError(
                f"unknown session table(s) {sorted(unknown)}: name them {', '.join(SESSION_TABLES)}"
            )
        if flows["flow_id"].n_unique() != flows.height:
            raise ValueError("flows has repeated flow_id values")
        self.packets, self.flows, self.sessions = packets, flows, sessions

        # Per-packet integer columns, made once; every view groups the selection by them.
        ts = packets["ts"].dt.epoch("ns")
        self._ts_valid = None if ts.null_count() == 0 else ts.is_not_null().to_numpy()
        self._ts = ts.fill_null(0).to_numpy()
        self._sorted = self._ts_valid is None and ts.is_sorted()
        self.t0 = int(ts.min()) if ts.len() > ts.null_count() else 0
        self.t1 = int(ts.max()) if ts.len() > ts.null_count() else 0
        self._wirelen = packets["wirelen"].fill_null(0).cast(pl.Int64).to_numpy()
        self._status = packets["status"].fill_null(0).to_numpy()
        self._class = (
            packets.select(
                pl.when(pl.col("ip_proto") == 6)
                .then(0)
                .when(pl.col("ip_proto") == 17)
                .then(1)
                .when(pl.col("ip_proto").is_in([1, 58]))
                .then(2)
                .when(pl.col("ip_proto").is_not_null())
                .then(3)
                .otherwise(4)
                .cast(pl.Int64)
            )
            .to_series()
            .to_numpy()
        )
        sources = packets.select(pl.col("src_ip").drop_nulls().unique(maintain_order=True)).with_row_index(
            "code"
        )
        self._src_values = sources["src_ip"]
        self._src = (
            packets.select("src_ip")
            .join(sources, on="src_ip", how="left", maintain_order="left")["code"]
            .cast(pl.Int64)
            .fill_null(-1)
            .to_numpy()
        )
        rows = flows.select("flow_id").with_row_index("row")
        self._flow_row = (
            packets.select("flow_id")
            .join(rows, on="flow_id", how="left", maintain_order="left")["row"]
            .cast(pl.Int64)
            .fill_null(-1)
            .to_numpy()
        )
        self._flow_dist = plots.flow_distribution_frame(flows)
        self._flow_values = {
            k: self._flow_dist[k].cast(pl.Float64).fill_null(0.0).to_numpy() for k in SORT_KEYS
        }
        self._flow_ids = flows["flow_id"].to_numpy()
        self._flow_id_set: set | None = None

        self.filter: Filter | None = None
        self.filter_text = ""
        self.error: FilterError | None = None
        self._range: tuple[int, int] | None = None
        self.protocols: frozenset[str] = frozenset(PROTOCOLS)
        self.selected_flow: int | None = None
        self.recomputes: Counter = Counter()
        self.clear_caches()

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_source(
        cls, source, flows: pl.DataFrame | None = None, *, sessions: Mapping | None = None, **track_options
    ) -> ExplorerModel:
        """A model of a capture path, a :class:`kernelkit.conntrack.Tracked`, or frames.

        Parameters
        ----------
        source : path, Tracked, (packets, flows), or polars.DataFrame
            A capture file (tracked with :func:`kernelkit.track`), a tracking result,
            a (packets, flows) pair, or packets (with ``flows``, or tracked here).
        flows : polars.DataFrame, optional
            The flows of ``source`` when it is a packet frame.
        sessions : mapping, optional
            Session tables by name (``tls``, ``http``, ``dns``, ``quic``).
        **track_options
            Passed to :func:`kernelkit.track` when the packets are tracked here.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> ExplorerModel.from_source(kernelkit.sample_path()).summary()["packets"]
        403
        """
        from ..conntrack import Tracked, track

        if isinstance(source, ExplorerModel):
            return source
        if isinstance(source, Tracked):
            if source.packets is None:
                raise ValueError("the tracking result has no packets: track(..., packets=True)")
            return cls(source.packets, source.flows, sessions)
        if (
            isinstance(source, tuple | list)
            and len(source) == 2
            and all(isinstance(s, pl.DataFrame | pl.LazyFrame) for s in source)
        ):
            return cls(source[0], source[1], sessions)
        if isinstance(source, pl.LazyFrame):
            source = source.collect()
        if isinstance(source, pl.DataFrame):
            if flows is not None and "flow_id" in source.columns:
                return cls(source, flows, sessions)
            tracked = track(source.drop("flow_id", "direction", strict=False), **track_options)
            return cls(tracked.packets, tracked.flows, sessions)
        tracked = track(source, **track_options)
        return cls(tracked.packets, tracked.flows, sessions)

    def clear_caches(self) -> None:
        """Forget every cached mask, selection and frame (benchmarks measure the cold path with it).

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> _ = model.traffic(); model.clear_caches(); _ = model.traffic()
        >>> model.recomputes["traffic"]
        2
        """
        self._filter_masks = _LRU(16)
        self._protocol_masks = _LRU(16)
        self._selections = _LRU(8)
        self._views = {name: _LRU(8) for name in VIEWS}
        self._flow_raw = _LRU(8)

    # -- state -------------------------------------------------------------------------

    def set_filter(self, text: str | None) -> None:
        """Filter the packets (:mod:`kernelkit.filter`'s language); empty text selects all.

        A filter on connection or session fields selects the packets of the matching
        connections. A filter that does not parse, or that the frames cannot answer,
        raises :class:`~kernelkit.filter.FilterError` and leaves the selection as it
        was; :attr:`error` keeps the error until a filter is accepted.

        Raises
        ------
        FilterError
            The message shows the filter with a caret under the culprit; ``.column``
            is its column.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.set_filter("udp")
        >>> try:
        ...     model.set_filter("udp and tcp.prot == 1")
        ... except kernelkit.filter.FilterError as e:
        ...     print(e.column, model.filter_text)
        9 udp
        """
        text = "" if text is None else str(text)
        if not text.strip():
            parsed = None
        else:
            try:
                parsed = parse(text)
                self._filter_mask(parsed)  # compile and evaluate now: errors surface here
            except FilterError as e:
                self.error = e
                raise
        self.filter, self.filter_text, self.error = parsed, text, None

    def set_time_range(self, start: float | None = None, end: float | None = None) -> None:
        """Keep the packets from ``start`` to ``end`` seconds after the first one (both included).

        None leaves that end open; a range that covers the whole trace is no condition
        (so packets without a timestamp stay in).

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.set_time_range(0, 0)
        >>> model.summary()["packets"]
        1
        """
        lo = self.t0 if start is None else self.t0 + round(float(start) * 1e9)
        hi = self.t1 if end is None else self.t0 + round(float(end) * 1e9)
        if hi < lo:
            raise ValueError(f"the time range ends ({end} s) before it starts ({start} s)")
        self._range = None if lo <= self.t0 and hi >= self.t1 else (lo, hi)

    @property
    def time_range(self) -> tuple[float, float]:
        """The time range, in seconds from the first packet."""
        lo, hi = self._range or (self.t0, self.t1)
        return (lo - self.t0) / 1e9, (hi - self.t0) / 1e9

    @property
    def duration(self) -> float:
        """Seconds from the first packet to the last."""
        return (self.t1 - self.t0) / 1e9

    def set_protocols(self, protocols: Iterable[str]) -> None:
        """Keep the packets of these protocols: some of ``TCP``, ``UDP``, ``ICMP``, ``other``.

        ``ICMP`` is ICMP and ICMPv6; ``other`` every other IP protocol and non-IP packets.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.set_protocols(["udp", "icmp"])
        >>> sorted(model.protocols)
        ['ICMP', 'UDP']
        """
        if isinstance(protocols, str):
            protocols = [protocols]
        names = {p.upper() if p.upper() in ("TCP", "UDP", "ICMP") else p.lower() for p in protocols}
        unknown = names - set(PROTOCOLS)
        if unknown:
            raise ValueError(f"unknown protocol(s) {sorted(unknown)}: choose among {', '.join(PROTOCOLS)}")
        self.protocols = frozenset(names)

    def select_flow(self, flow_id: int | None) -> None:
        """Choose the connection the drill-down views show (None: none).

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.select_flow(int(model.top_flows(1)["flow_id"][0]))
        >>> model.flow_packets().height > 0
        True
        """
        if flow_id is not None:
            flow_id = int(flow_id)
            if self._flow_id_set is None:
                self._flow_id_set = set(self._flow_ids.tolist())
            if flow_id not in self._flow_id_set:
                raise ValueError(f"no flow with flow_id {flow_id}")
        self.selected_flow = flow_id

    # -- the selection -----------------------------------------------------------------

    @property
    def key(self) -> tuple:
        """The selection's cache key: (canonical filter, time range in ns, protocols)."""
        return (None if self.filter is None else str(self.filter), self._range, self.protocols)

    def _filter_mask(self, f: Filter | None) -> np.ndarray | None:
        if f is None:
            return None
        key = str(f)
        mask = self._filter_masks.get(key)
        if mask is None:
            self.recomputes["filter"] += 1
            expr = f.expr("packets", packets=self.packets, flows=self.flows, **self.sessions)
            mask = self._filter_masks.put(key, self.packets.select(expr).to_series().to_numpy())
        return mask

    def _protocol_mask(self) -> np.ndarray | None:
        if self.protocols == frozenset(PROTOCOLS):
            return None
        mask = self._protocol_masks.get(self.protocols)
        if mask is None:
            classes = [c for p in self.protocols for c in _TOGGLE_CLASSES[p]]
            mask = self._protocol_masks.put(self.protocols, np.isin(self._class, classes))
        return mask

    def selected_packets(self) -> pl.DataFrame:
        """The selected packets, every column.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.set_filter("icmp")
        >>> model.selected_packets()["ip_proto"].unique().to_list()
        [1]
        """
        selection = self.selection()
        if selection.rows is None:
            return self.packets.slice(selection.lo, selection.hi - selection.lo)
        return self.packets[selection.rows]

    def selection(self) -> Selection:
        """The selected packets (rows of :attr:`packets`) under the current filter, range and protocols.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.set_protocols({"UDP"})
        >>> selection = model.selection()
        >>> set(model.packets[selection.indices()]["ip_proto"]), len(selection)
        ({17}, 32)
        """
        key = self.key
        selection = self._selections.get(key)
        if selection is not None:
            return selection
        self.recomputes["selection"] += 1
        n = len(self._ts)
        lo, hi, masks = 0, n, []
        if self._range is not None:
            if self._sorted:  # a slice found by binary search; no pass over the trace
                lo = int(np.searchsorted(self._ts, self._range[0], "left"))
                hi = int(np.searchsorted(self._ts, self._range[1], "right"))
            else:
                in_range = (self._ts >= self._range[0]) & (self._ts <= self._range[1])
                masks.append(in_range if self._ts_valid is None else in_range & self._ts_valid)
        masks += [m for m in (self._filter_mask(self.filter), self._protocol_mask()) if m is not None]
        rows = None
        if masks:
            keep = masks[0][lo:hi].copy()
            for m in masks[1:]:
                keep &= m[lo:hi]
            rows = np.flatnonzero(keep) + lo
        return self._selections.put(key, Selection(key, lo, hi, rows))

    def _flow_rows(self, selection: Selection) -> np.ndarray:
        """Rows of :attr:`flows` with a packet in the selection (ascending)."""
        rows = selection.cache.get("flow_rows")
        if rows is None:
            present = np.zeros(self.flows.height + 1, bool)
            present[selection.take(self._flow_row)] = True  # -1 (no flow) lands in the spare last slot
            rows = selection.cache["flow_rows"] = np.flatnonzero(present[:-1])
        return rows

    def summary(self) -> dict:
        """Packets, bytes and connections in the selection.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> ExplorerModel.from_source(kernelkit.sample_path()).summary()
        {'packets': 403, 'bytes': 239801, 'flows': 41}
        """
        selection = self.selection()
        if "bytes" not in selection.cache:
            selection.cache["bytes"] = int(selection.take(self._wirelen).sum())
        return {
            "packets": len(selection),
            "bytes": selection.cache["bytes"],
            "flows": len(self._flow_rows(selection)),
        }

    def _view(self, name: str, key: tuple, compute):
        cache = self._views[name]
        frame = cache.get(key)
        if frame is None:
            self.recomputes[name] += 1
            frame = cache.put(key, compute())
        return frame

    # -- the views ---------------------------------------------------------------------

    def interval(self) -> tuple[int, str]:
        """The traffic view's interval (ns, and as text) for the selected time range; see :func:`interval`."""
        lo, hi = self._range or (self.t0, self.t1)
        return interval(hi - lo)

    def traffic(self) -> pl.DataFrame:
        """Packets and bytes per interval and protocol: ``plots.traffic_frame`` of the selection.

        The interval is :meth:`interval`: 100–300 intervals over the selected time range.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.traffic().columns
        ['ts', 'protocol', 'packets', 'bytes']
        """
        selection = self.selection()
        step, _ = self.interval()
        start = (self._range or (self.t0, self.t1))[0]
        return self._view("traffic", (selection.key, step), lambda: self._traffic(selection, step, start))

    def _traffic(self, selection: Selection, step: int, start: int) -> pl.DataFrame:
        ts, cls, size = (selection.take(a) for a in (self._ts, self._class, self._wirelen))
        if self._ts_valid is not None:
            valid = selection.take(self._ts_valid)
            ts, cls, size = ts[valid], cls[valid], size[valid]
        origin = (start // step) * step  # epoch-aligned, as dt.truncate(every) is
        key = (ts - origin) // step * len(PROTOCOL_LABELS) + cls
        packets = np.bincount(key)
        nbytes = np.bincount(key, weights=size)
        bins = np.flatnonzero(packets)
        labels = pl.Series(PROTOCOL_LABELS)
        return pl.DataFrame(
            {
                "ts": pl.Series(origin + bins // len(PROTOCOL_LABELS) * step, dtype=pl.Int64).cast(
                    pl.Datetime("ns", "UTC")
                ),
                "protocol": labels.gather(bins % len(PROTOCOL_LABELS)),
                "packets": pl.Series(packets[bins], dtype=pl.UInt32),
                "bytes": pl.Series(np.rint(nbytes[bins]).astype(np.int64), dtype=pl.Int64),
            }
        ).sort("ts", "protocol")

    def top_talkers(self, n: int = 10) -> pl.DataFrame:
        """The ``n`` sources that sent the most bytes: ``plots.top_talkers_frame`` of the selection.

        Ties are broken by packets, then by first appearance in the trace.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> ExplorerModel.from_source(kernelkit.sample_path()).top_talkers(2)
        shape: (2, 3)
        ┌───────────┬─────────┬────────┐
        │ address   ┆ packets ┆ bytes  │
        │ ---       ┆ ---     ┆ ---    │
        │ str       ┆ u32     ┆ i64    │
        ╞═══════════╪═════════╪════════╡
        │ ::1       ┆ 146     ┆ 183377 │
        │ 127.0.0.1 ┆ 257     ┆ 56424  │
        └───────────┴─────────┴────────┘
        """
        selection = self.selection()
        return self._view("top_talkers", (selection.key, n), lambda: self._top_talkers(selection, n))

    def _top_talkers(self, selection: Selection, n: int) -> pl.DataFrame:
        src, size = selection.take(self._src), selection.take(self._wirelen)
        known = src >= 0
        src, size = src[known], size[known]
        width = len(self._src_values)
        packets = np.bincount(src, minlength=width)
        nbytes = np.rint(np.bincount(src, weights=size, minlength=width)).astype(np.int64)
        seen = np.flatnonzero(packets)
        top = seen[np.lexsort((seen, -packets[seen], -nbytes[seen]))[:n]]
        return pl.DataFrame(
            {
                "address": self._src_values.gather(top).kk.ip_str(),
                "packets": pl.Series(packets[top], dtype=pl.UInt32),
                "bytes": pl.Series(nbytes[top], dtype=pl.Int64),
            }
        )

    def top_flows(self, n: int = 20, sort_by: str = "bytes") -> pl.DataFrame:
        """The ``n`` largest connections in the selection, by ``bytes``, ``packets`` or ``duration``.

        Each row: ``flow_id``, the protocol's name, originator and responder as text
        (``10.0.0.1:443``, ``[2001:db8::1]:443``; no port for ICMP), and the whole
        connection's packets, bytes (IP bytes, both directions), duration (s) and state.
        Ties are broken by ``flow_id``.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> top = model.top_flows(5, "packets")
        >>> top["packets"].is_sorted(descending=True)
        True
        """
        if sort_by not in SORT_KEYS:
            raise ValueError(f"sort_by is one of {', '.join(SORT_KEYS)}, not {sort_by!r}")
        selection = self.selection()
        return self._view(
            "top_flows", (selection.key, n, sort_by), lambda: self._top_flows(selection, n, sort_by)
        )

    def _top_flows(self, selection: Selection, n: int, sort_by: str) -> pl.DataFrame:
        rows = self._flow_rows(selection)
        values = self._flow_values[sort_by][rows]
        top = rows[np.lexsort((self._flow_ids[rows], -values))[:n]]
        return self._describe_flows(top)

    def describe_flow(self, flow_id: int) -> pl.DataFrame:
        """One connection as a row of :meth:`top_flows` (empty if there is no such flow).

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> model.describe_flow(12).select("protocol", "orig", "resp").row(0)
        ('UDP', '127.0.0.1:59575', '127.0.0.1:53')
        """
        return self._describe_flows(np.flatnonzero(self._flow_ids == int(flow_id)))

    def _describe_flows(self, rows: np.ndarray) -> pl.DataFrame:
        """Display rows of the flows at these row numbers (see :meth:`top_flows`)."""
        flows, dist = self.flows[rows], self._flow_dist[rows]
        state = (
            flows["conn_state"]
            if "conn_state" in flows.columns
            else pl.Series("conn_state", [None] * len(rows), dtype=pl.String)
        )
        return pl.DataFrame(
            {
                "flow_id": flows["flow_id"],
                "protocol": flows.select(pl.col("ip_proto").kk.proto_name()).to_series(),
                "orig": flows.select(_endpoint("orig_ip", "orig_port")).to_series(),
                "resp": flows.select(_endpoint("resp_ip", "resp_port")).to_series(),
                "packets": dist["packets"],
                "bytes": dist["bytes"],
                "duration": dist["duration"],
                "conn_state": state,
            }
        )

    def flow_sizes(self) -> pl.DataFrame:
        """Histograms of the selected connections' bytes and durations, log-spaced bins by protocol.

        One row per (``measure``, bin, ``protocol``): ``measure`` is ``bytes`` or
        ``duration`` (seconds); bin ``bin`` holds values from ``lo`` (included) to
        ``hi`` (excluded), ``lo = 10 ** (bin / 4)``; zero values have ``bin`` null and
        ``lo == hi == 0``; ``flows`` counts them.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> sizes = model.flow_sizes()
        >>> sizes.group_by("measure").agg(pl.col("flows").sum()).sort("measure").rows()
        [('bytes', 41), ('duration', 41)]
        """
        selection = self.selection()
        return self._view("flow_sizes", (selection.key,), lambda: self._flow_sizes(selection))

    def _flow_sizes(self, selection: Selection) -> pl.DataFrame:
        flows = self._flow_dist[self._flow_rows(selection)]
        parts = []
        for measure in ("bytes", "duration"):
            x = pl.col(measure).cast(pl.Float64)
            k = pl.when(x > 0).then((x.log10() * BINS_PER_DECADE).floor().cast(pl.Int32))
            parts.append(
                flows.group_by(k.alias("bin"), "protocol")
                .agg(flows=pl.len())
                .select(
                    pl.lit(measure).alias("measure"),
                    "bin",
                    lo=pl.when(pl.col("bin").is_not_null())
                    .then(10.0 ** (pl.col("bin").cast(pl.Float64) / BINS_PER_DECADE))
                    .otherwise(0.0),
                    hi=pl.when(pl.col("bin").is_not_null())
                    .then(10.0 ** ((pl.col("bin").cast(pl.Float64) + 1) / BINS_PER_DECADE))
                    .otherwise(0.0),
                    protocol="protocol",
                    flows="flows",
                )
            )
        return pl.concat(parts).sort("measure", "bin", "protocol", nulls_last=False)

    def anomalies(self) -> pl.DataFrame:
        """Selected packets per non-zero status code: ``plots.anomalies_frame`` of the selection.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> ExplorerModel.from_source(kernelkit.sample_path()).anomalies().columns
        ['status', 'packets', 'name']
        """
        selection = self.selection()
        return self._view(
            "anomalies",
            (selection.key,),
            lambda: plots.anomalies_frame(
                pl.DataFrame(
                    {"status": pl.Series(selection.take(self._status), dtype=self.packets["status"].dtype)}
                )
            ).sort(["packets", "status"], descending=[True, False]),
        )

    def flow_packets_raw(self, flow_id: int | None = None) -> pl.DataFrame:
        """Every packet of a connection (all columns, plus ``no``: the packet's 1-based number in the trace).

        ``flow_id`` defaults to the selected flow; with none, the frame is empty.
        """
        flow_id = self.selected_flow if flow_id is None else int(flow_id)
        frame = self._flow_raw.get(flow_id)
        if frame is None:
            source = self.packets.lazy().with_row_index("no", offset=1)
            frame = self._flow_raw.put(
                flow_id,
                source.filter(pl.col("flow_id") == flow_id).collect()
                if flow_id is not None
                else source.head(0).collect(),
            )
        return frame

    def flow_packets(self, flow_id: int | None = None) -> pl.DataFrame:
        """A connection's packets as a table: number, time, direction, endpoints, length, flags, status.

        All the connection's packets, whatever the selection: the drill-down shows the
        whole connection. ``flow_id`` defaults to the selected flow.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> table = model.flow_packets(int(model.flows["flow_id"][0]))
        >>> table.columns[:5]
        ['no', 'seconds', 'direction', 'src', 'dst']
        """
        flow_id = self.selected_flow if flow_id is None else int(flow_id)
        return self._view("flow_packets", (flow_id,), lambda: self._flow_packets(flow_id))

    def _flow_packets(self, flow_id: int | None) -> pl.DataFrame:
        raw = self.flow_packets_raw(flow_id)
        columns = {
            "no": pl.col("no"),
            "seconds": (pl.col("ts").dt.epoch("ns") - self.t0) / 1e9,
            "direction": pl.col("direction"),
            "src": _endpoint("src_ip", "sport"),
            "dst": _endpoint("dst_ip", "dport"),
            "length": pl.col("wirelen"),
            "payload_len": pl.col("payload_len"),
            "flags": pl.col("tcp_flags").kk.tcp_flags_str(),
            "seq": pl.col("tcp_seq"),
            "ack": pl.col("tcp_ack"),
            "status": pl.col("status").kk.status_name(),
        }
        needs = {
            "src": ("dst_ip", "sport", "dport"),
            "dst": ("dst_ip", "sport", "dport"),
            "payload_len": ("payload_len",),
            "flags": ("tcp_flags",),
            "seq": ("tcp_seq",),
            "ack": ("tcp_ack",),
        }
        return raw.select(
            **{
                name: expr
                for name, expr in columns.items()
                if all(c in raw.columns for c in needs.get(name, ()))
            }
        )

    def time_sequence(self, flow_id: int | None = None) -> pl.DataFrame:
        """A TCP connection's time-sequence points: ``plots.time_sequence_frame`` (empty if not TCP).

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> model = ExplorerModel.from_source(kernelkit.sample_path())
        >>> tcp = int(model.flows.filter(model.flows["ip_proto"] == 6)["flow_id"][0])
        >>> model.time_sequence(tcp).columns
        ['seconds', 'direction', 'seq', 'payload_len', 'flags']
        """
        flow_id = self.selected_flow if flow_id is None else int(flow_id)
        return self._view("time_sequence", (flow_id,), lambda: self._time_sequence(flow_id))

    def _time_sequence(self, flow_id: int | None) -> pl.DataFrame:
        raw = self.flow_packets_raw(flow_id)
        if raw["tcp_seq"].is_not_null().any():
            return plots.time_sequence_frame(raw, flow_id)
        # not TCP: the frame's columns, no rows (time_sequence_frame needs a first packet to subtract)
        return pl.DataFrame(
            schema={
                "seconds": pl.Float64,
                "direction": raw.schema["direction"],
                "seq": pl.Int64,
                "payload_len": raw.schema.get("payload_len", pl.UInt32),
                "flags": pl.String,
            }
        )

    def frames(
        self, n_talkers: int = 10, n_flows: int = 20, sort_by: str = "bytes"
    ) -> dict[str, pl.DataFrame]:
        """Every view's frame (the drill-down ones only with a selected flow), by view name.

        Examples
        --------
        >>> import kernelkit
        >>> from kernelkit.explore import ExplorerModel
        >>> sorted(ExplorerModel.from_source(kernelkit.sample_path()).frames())
        ['anomalies', 'flow_sizes', 'top_flows', 'top_talkers', 'traffic']
        """
        out = {
            "traffic": self.traffic(),
            "top_talkers": self.top_talkers(n_talkers),
            "top_flows": self.top_flows(n_flows, sort_by),
            "flow_sizes": self.flow_sizes(),
            "anomalies": self.anomalies(),
        }
        if self.selected_flow is not None:
            out["flow_packets"] = self.flow_packets()
            out["time_sequence"] = self.time_sequence()
        return out


_PORTED = (6, 17, 132)  # TCP, UDP, SCTP: endpoints with ports


def _endpoint(ip: str, port: str) -> pl.Expr:
    """``address:port`` as text (IPv6 in brackets); the address alone when the protocol has no ports."""
    address = pl.col(ip).kk.ip_str()
    bracketed = (
        pl.when(address.str.contains(":", literal=True))
        .then(pl.concat_str(pl.lit("["), address, pl.lit("]")))
        .otherwise(address)
    )
    return (
        pl.when(pl.col("ip_proto").is_in(_PORTED) & pl.col(port).is_not_null())
        .then(pl.concat_str(bracketed, pl.lit(":"), pl.col(port).cast(pl.String)))
        .otherwise(address)
    )


def _frame(frame, name: str) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{name} is a polars DataFrame, not {type(frame).__name__}")
    return frame


def _require(frame: pl.DataFrame, name: str, columns: tuple[str, ...], hint: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}: use {hint}")


__all__ = [
    "BINS_PER_DECADE",
    "PROTOCOLS",
    "PROTOCOL_LABELS",
    "SORT_KEYS",
    "VIEWS",
    "ExplorerModel",
    "Selection",
    "duration_text",
    "interval",
]
