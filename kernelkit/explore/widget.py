"""The explorer's widgets: controls, linked views and a drill-down, over an :class:`ExplorerModel`.

Layout (each part carries a stable CSS class, for styling and browser tests)::

    Explorer  .kk-explorer
    ├─ controls  .kk-controls
    │   ├─ Text            .kk-filter        the filter; applied on Enter (or when it loses focus)
    │   ├─ HTML            .kk-error         the filter's error, caret under the culprit (empty when fine)
    │   ├─ FloatRangeSlider .kk-time-range   seconds from the first packet
    │   ├─ ToggleButton ×4 .kk-proto, .kk-proto-tcp / -udp / -icmp / -other
    │   └─ HTML            .kk-status        what is selected, and how long the update took
    ├─ views  .kk-views
    │   └─ one VBox each  .kk-view, .kk-view-traffic / -top-talkers / -flow-sizes / -anomalies
    │       ├─ HTML    .kk-caption   the view's numbers as text
    │       └─ Output  .kk-chart     the Altair chart
    ├─ top flows  .kk-top-flows-box
    │   ├─ Dropdown  .kk-sort        bytes, packets or duration
    │   ├─ HTML      .kk-top-flows-header
    │   └─ Select    .kk-top-flows   one option per flow (value: flow_id); choosing one drills down
    └─ drill-down  .kk-drilldown
        ├─ HTML    .kk-drilldown-title   the chosen flow (its ``data-flow-id``)
        ├─ Output  .kk-time-sequence     its time-sequence plot (TCP)
        └─ HTML    .kk-flow-packets      its packets, a <table class="kk-packets" data-flow-id=...>

Inside the HTML widgets, for the same purpose: ``pre.kk-error-text`` (the error
message), the class ``kk-filter-invalid`` on the filter box while its text is
refused, ``span.kk-selected`` in the status (``data-packets``, ``data-flows``),
``b.kk-drilldown-flow`` in the drill-down title (``data-flow-id``),
``table.kk-packets`` (``data-flow-id``, ``data-packets``: all the flow's packets;
the table shows the first :data:`MAX_TABLE_ROWS`), and ``i.kk-empty`` in an Output
whose view has nothing to show. Each option of the top-flows list starts with its
flow_id.

Charts go into the Output widgets as the active Altair renderer's MIME bundle
(``alt.renderers.enable(...)`` chooses it), set as the widget's ``outputs`` in one
assignment: no flicker, and the same path in a kernel, in Voilà and headless. A
view is redrawn only when the model hands it a new frame.
"""

from __future__ import annotations

import html
import time

import altair as alt
import ipywidgets as widgets
import polars as pl

from .. import plots
from ..filter import FilterError
from .model import PROTOCOLS, SORT_KEYS, ExplorerModel

MAX_TABLE_ROWS = 200
"""Packets shown in the drill-down table (the count says how many there are)."""

MAX_SEQUENCE_POINTS = 5000
"""Packets drawn in the time-sequence plot (Altair's default limit of rows)."""

CHART_VIEWS = ("traffic", "top_talkers", "flow_sizes", "anomalies")

_STYLE = """<style>
.kk-explorer .kk-error pre { color: #b00020; margin: 2px 0; font-size: 12px; }
.kk-explorer .kk-filter-invalid input { border-color: #b00020 !important; }
.kk-explorer .kk-top-flows select,
.kk-explorer .kk-top-flows-header { font-family: monospace; font-size: 12px; }
.kk-explorer table.kk-packets { font-family: monospace; font-size: 12px; border-collapse: collapse; }
.kk-explorer table.kk-packets td, .kk-explorer table.kk-packets th { padding: 0 6px; text-align: right; }
.kk-explorer .kk-caption { font-size: 12px; color: #555; }
</style>"""


class Explorer(widgets.VBox):
    """An interactive explorer of one trace: controls, linked views, a drill-down.

    Usually made by :func:`kernelkit.explore`. Changing a control (in the browser, or
    by setting its ``value`` from Python) updates the model and redraws the views
    whose frames changed.

    Parameters
    ----------
    model : ExplorerModel
        The trace and its selection.
    top : int
        Rows of the top-flows list.
    talkers : int
        Bars of the top-talkers chart.

    Attributes
    ----------
    model : ExplorerModel
    filter_box : ipywidgets.Text
    error_box : ipywidgets.HTML
    time_range : ipywidgets.FloatRangeSlider
    protocol_buttons : dict of str to ipywidgets.ToggleButton
    sort_by : ipywidgets.Dropdown
    top_flows : ipywidgets.Select
    status : ipywidgets.HTML
    charts, captions : dict of str to Output / HTML
        By view: ``traffic``, ``top_talkers``, ``flow_sizes``, ``anomalies``
        (and ``time_sequence`` in ``charts``).
    drilldown_title, flow_packets : ipywidgets.HTML
    last_update_ms : float
        How long the last update took (model and charts).

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.explore import ExplorerModel
    >>> from kernelkit.explore.widget import Explorer
    >>> app = Explorer(ExplorerModel.from_source(kernelkit.sample_path()))
    >>> app.filter_box.value = "udp"
    >>> app.model.protocols == frozenset({"TCP", "UDP", "ICMP", "other"}), app.model.summary()["packets"]
    (True, 32)
    """

    def __init__(self, model: ExplorerModel, *, top: int = 20, talkers: int = 10):
        self.model, self.top, self.talkers = model, top, talkers
        self._shown: dict[str, object] = {}
        self._templates: dict[str, alt.TopLevelMixin] = {}
        self._quiet = False  # set while the code, not the user, changes a control
        self.last_update_ms = 0.0

        self.filter_box = widgets.Text(
            value=model.filter_text,
            placeholder="filter, e.g. tcp.port == 443 and not tcp.flags.syn",
            description="filter",
            continuous_update=False,
            layout=widgets.Layout(width="100%"),
        )
        self.filter_box.add_class("kk-filter")
        self.error_box = widgets.HTML("")
        self.error_box.add_class("kk-error")
        span = max(model.duration, 1e-9)
        self.time_range = widgets.FloatRangeSlider(
            value=(0.0, span),
            min=0.0,
            max=span,
            step=_slider_step(span),
            description="time (s)",
            continuous_update=False,
            readout_format=".6g",
            layout=widgets.Layout(width="90%"),
        )
        self.time_range.add_class("kk-time-range")
        self.protocol_buttons = {}
        for name in PROTOCOLS:
            button = widgets.ToggleButton(
                value=name in model.protocols,
                description=name,
                tooltip=f"show {name} packets",
                layout=widgets.Layout(width="70px"),
                button_style="info" if name in model.protocols else "",
            )
            button.add_class("kk-proto")
            button.add_class(f"kk-proto-{name.lower()}")
            button.observe(self._on_protocols, "value")
            self.protocol_buttons[name] = button
        self.status = widgets.HTML("")
        self.status.add_class("kk-status")
        controls = widgets.VBox(
            [
                widgets.HTML(_STYLE),
                self.filter_box,
                self.error_box,
                self.time_range,
                widgets.HBox([widgets.Label("protocols"), *self.protocol_buttons.values()]),
                self.status,
            ]
        )
        controls.add_class("kk-controls")

        self.charts: dict[str, widgets.Output] = {}
        self.captions: dict[str, widgets.HTML] = {}
        boxes = []
        for name in CHART_VIEWS:
            caption, chart = widgets.HTML(""), widgets.Output()
            caption.add_class("kk-caption")
            chart.add_class("kk-chart")
            box = widgets.VBox(
                [widgets.HTML(f"<b>{_TITLES[name]}</b>"), caption, chart],
                layout=widgets.Layout(flex="0 0 auto", width=_WIDTHS[name], margin="0 24px 8px 0"),
            )
            box.add_class("kk-view")
            box.add_class(f"kk-view-{name.replace('_', '-')}")
            self.captions[name], self.charts[name] = caption, chart
            boxes.append(box)
        views = widgets.VBox([boxes[0], widgets.HBox(boxes[1:], layout=widgets.Layout(flex_flow="row wrap"))])
        views.add_class("kk-views")

        self.sort_by = widgets.Dropdown(options=list(SORT_KEYS), value="bytes", description="sort by")
        self.sort_by.add_class("kk-sort")
        self.top_flows = widgets.Select(options=[], rows=min(top, 15), layout=widgets.Layout(width="100%"))
        self.top_flows.add_class("kk-top-flows")
        header = widgets.HTML(f"<pre style='margin:0'>{html.escape(_FLOW_HEADER)}</pre>")
        header.add_class("kk-top-flows-header")
        flows_box = widgets.VBox(
            [
                widgets.HTML("<b>Top flows</b> (choose one to see its packets)"),
                self.sort_by,
                header,
                self.top_flows,
            ]
        )
        flows_box.add_class("kk-top-flows-box")

        self.drilldown_title = widgets.HTML("<i>no flow chosen</i>")
        self.drilldown_title.add_class("kk-drilldown-title")
        self.flow_packets = widgets.HTML("")
        self.flow_packets.add_class("kk-flow-packets")
        sequence = widgets.Output()
        sequence.add_class("kk-time-sequence")
        self.charts["time_sequence"] = sequence
        drilldown = widgets.VBox([self.drilldown_title, sequence, self.flow_packets])
        drilldown.add_class("kk-drilldown")

        super().__init__([controls, views, flows_box, drilldown])
        self.add_class("kk-explorer")
        self.filter_box.observe(self._on_filter, "value")
        self.time_range.observe(self._on_time_range, "value")
        self.sort_by.observe(lambda change: self.refresh(), "value")
        self.top_flows.observe(self._on_flow, "value")
        self.refresh()

    # -- events ------------------------------------------------------------------------

    def _on_filter(self, change) -> None:
        try:
            self.model.set_filter(change["new"])
        except FilterError as e:
            self._show_error(str(e))  # the views keep their last valid state
            return
        except Exception as e:  # noqa: BLE001  (a filter the frames cannot evaluate: say so, keep the state)
            self._show_error(f"{type(e).__name__}: {e}")
            return
        self._show_error(None)
        self.refresh()

    def _on_time_range(self, change) -> None:
        start, end = change["new"]
        span = self.time_range.max
        # the slider's ends stand for the trace's ends (its float steps need not hit them exactly)
        self.model.set_time_range(None if start <= 0 else start, None if end >= span else end)
        self.refresh()

    def _on_protocols(self, change) -> None:
        change["owner"].button_style = "info" if change["new"] else ""  # on: coloured, off: grey
        if self._quiet:
            return
        self.model.set_protocols(name for name, b in self.protocol_buttons.items() if b.value)
        self.refresh()

    def _on_flow(self, change) -> None:
        if self._quiet or change["new"] is None:
            return
        self.model.select_flow(change["new"])
        self.refresh()

    def _show_error(self, message: str | None) -> None:
        if message is None:
            self.error_box.value = ""
            self.filter_box.remove_class("kk-filter-invalid")
        else:
            self.error_box.value = f"<pre class='kk-error-text'>{html.escape(message)}</pre>"
            self.filter_box.add_class("kk-filter-invalid")

    # -- drawing -----------------------------------------------------------------------

    def refresh(self) -> float:
        """Bring every view up to the model's state; redraw those whose frames changed.

        Returns
        -------
        float
            Milliseconds taken (also in :attr:`last_update_ms`).
        """
        started = time.perf_counter()
        model = self.model
        frames = model.frames(self.talkers, self.top, self.sort_by.value)
        for name, frame in frames.items():
            if self._shown.get(name) is not frame:
                _DRAW[name](self, frame)
                self._shown[name] = frame
        if model.selected_flow is None and self._shown.get("flow_packets") is not None:
            self._draw_no_flow()
        summary = model.summary()
        self.last_update_ms = (time.perf_counter() - started) * 1e3
        self.status.value = (
            f"<span class='kk-selected' data-packets='{summary['packets']}' data-flows='{summary['flows']}'>"
            f"{summary['packets']:,} packets · {_si(summary['bytes'])}B · {summary['flows']:,} flows selected"
            f"</span> <span class='kk-timing'>(updated in {self.last_update_ms:.0f} ms)</span>"
        )
        return self.last_update_ms

    def _draw_traffic(self, frame: pl.DataFrame) -> None:
        step, every = self.model.interval()
        self.captions["traffic"].value = (
            f"{int(frame['packets'].sum()):,} packets, {_si(int(frame['bytes'].sum()))}B "
            f"in intervals of {every}"
        )
        self._chart(
            "traffic",
            frame,
            lambda: traffic_chart(frame, step, self.model.t0),
            lambda: traffic_data(frame, step, self.model.t0),
            "no packets in the selection",
        )

    def _draw_top_talkers(self, frame: pl.DataFrame) -> None:
        self.captions["top_talkers"].value = (
            "top: " + html.escape(", ".join(frame["address"].head(3).to_list())) if frame.height else "none"
        )
        self._chart(
            "top_talkers",
            frame,
            lambda: top_talkers_chart(frame),
            lambda: frame,
            "no IP packets in the selection",
        )

    def _draw_flow_sizes(self, frame: pl.DataFrame) -> None:
        flows = int(frame.filter(pl.col("measure") == "bytes")["flows"].sum())
        self.captions["flow_sizes"].value = f"{flows:,} flows"
        self._chart(
            "flow_sizes",
            frame,
            lambda: flow_sizes_chart(frame),
            lambda: flow_sizes_data(frame),
            "no flows in the selection",
        )

    def _draw_anomalies(self, frame: pl.DataFrame) -> None:
        total = int(frame["packets"].sum())
        self.captions["anomalies"].value = (
            f"{total:,} packets with a non-zero status" if total else "no anomalies in the selection"
        )
        self._chart(
            "anomalies",
            frame,
            lambda: anomalies_chart(frame),
            lambda: frame,
            "no packet with a non-zero status",
        )

    def _chart(self, name: str, frame: pl.DataFrame, build, data, empty: str) -> None:
        """Show a view's chart: built the first time, its data swapped afterwards."""
        if frame.height == 0:
            _set_chart(self.charts[name], None, empty)
            return
        chart = self._templates.get(name)
        if chart is None:
            chart = self._templates[name] = build()
        else:
            chart.data = data()
        _set_chart(self.charts[name], chart, None)

    def _draw_top_flows(self, frame: pl.DataFrame) -> None:
        options = [(_flow_label(row), row["flow_id"]) for row in frame.iter_rows(named=True)]
        self._quiet = True  # new options reset the value; that is not the user choosing
        try:
            self.top_flows.options = options
            ids = {flow_id for _, flow_id in options}
            self.top_flows.value = self.model.selected_flow if self.model.selected_flow in ids else None
        finally:
            self._quiet = False

    def _draw_flow_packets(self, frame: pl.DataFrame) -> None:
        flow_id = self.model.selected_flow
        row = self.model.describe_flow(flow_id).row(0, named=True)
        endpoints = html.escape(f"{row['protocol']} {row['orig']} → {row['resp']}")
        self.drilldown_title.value = (
            f"<b class='kk-drilldown-flow' data-flow-id='{flow_id}'>flow {flow_id}</b> · <code>{endpoints}</code> · "
            f"{row['bytes']:,} B, {frame.height:,} packets, {row['duration'] or 0:.6g} s"
        )
        self.flow_packets.value = packets_table(frame, flow_id)

    def _draw_time_sequence(self, frame: pl.DataFrame) -> None:
        flow_id = self.model.selected_flow
        if frame.height == 0:
            _set_chart(self.charts["time_sequence"], None, "no time-sequence plot: not a TCP flow")
            return
        raw = self.model.flow_packets_raw(flow_id).head(MAX_SEQUENCE_POINTS)
        _set_chart(
            self.charts["time_sequence"],
            plots.time_sequence_chart(raw, flow_id).properties(
                width=600, height=250, title=f"flow {flow_id}"
            ),
            None,
        )

    def _draw_no_flow(self) -> None:
        self.drilldown_title.value = "<i>no flow chosen</i>"
        self.flow_packets.value = ""
        self.charts["time_sequence"].outputs = ()
        self._shown.pop("flow_packets", None)
        self._shown.pop("time_sequence", None)


_DRAW = {
    "traffic": Explorer._draw_traffic,
    "top_talkers": Explorer._draw_top_talkers,
    "top_flows": Explorer._draw_top_flows,
    "flow_sizes": Explorer._draw_flow_sizes,
    "anomalies": Explorer._draw_anomalies,
    "flow_packets": Explorer._draw_flow_packets,
    "time_sequence": Explorer._draw_time_sequence,
}

# Definite widths let the views sit side by side (an Output's own width is unbounded).
_WIDTHS = {"traffic": "800px", "top_talkers": "400px", "flow_sizes": "640px", "anomalies": "400px"}

_TITLES = {
    "traffic": "Traffic over time",
    "top_talkers": "Top talkers (bytes sent)",
    "flow_sizes": "Flow sizes and durations",
    "anomalies": "Anomalies (status codes)",
}

_FLOW_HEADER = f"{'flow':>8} {'bytes':>11} {'packets':>8} {'seconds':>9}  {'proto':<6} originator → responder"


def _flow_label(row: dict) -> str:
    """One flow as a line of the top-flows list (it starts with the flow_id, for the browser test)."""
    return (
        f"{row['flow_id']:>8} {row['bytes']:>11,} {row['packets']:>8,} {row['duration'] or 0:>9.3f}  "
        f"{row['protocol']:<6} {row['orig']} → {row['resp']}"
    )


# -- charts from the model's frames (the encodings of kernelkit.plots) ------------------
#
# Each builder takes a view's frame and returns an Altair chart whose data is the
# top-level ``data``: the widget builds each chart once and afterwards only swaps
# the data (``chart.data = ...``), as building a chart's encodings costs tens of
# milliseconds and the data is all that changes.


def traffic_data(frame: pl.DataFrame, step: int, t0: int) -> pl.DataFrame:
    """The traffic frame with each interval's start and end in seconds from ``t0`` (the first packet)."""
    start = (pl.col("ts").dt.epoch("ns") - t0) / 1e9
    return frame.with_columns(start=start, end=start + step / 1e9)


def traffic_chart(frame: pl.DataFrame, step: int, t0: int) -> alt.VConcatChart:
    """Packets and bytes per interval, stacked by protocol, against seconds from the first packet.

    Each interval is a rectangle from its start to its end (empty intervals stay
    empty), on the same time axis as the time-range slider.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.explore import ExplorerModel
    >>> model = ExplorerModel.from_source(kernelkit.sample_path())
    >>> chart = traffic_chart(model.traffic(), model.interval()[0], model.t0)
    >>> sorted(chart.to_dict()["vconcat"][0]["encoding"])
    ['color', 'tooltip', 'x', 'x2', 'y', 'y2']
    """
    charts = []
    for measure in ("packets", "bytes"):
        charts.append(
            alt.Chart()
            .transform_stack(
                stack=measure, groupby=["start"], as_=["low", "high"], sort=[{"field": "protocol"}]
            )
            .mark_rect()
            .encode(
                x=alt.X(
                    "start:Q", title="seconds from the first packet", scale=alt.Scale(nice=False, zero=False)
                ),
                x2="end:Q",
                y=alt.Y("low:Q", title=f"{measure} per interval"),
                y2="high:Q",
                color=alt.Color("protocol:N"),
                tooltip=["ts:T", "protocol:N", "packets:Q", "bytes:Q"],
            )
            .properties(width=640, height=110)
        )
    return alt.vconcat(*charts, data=traffic_data(frame, step, t0))


def top_talkers_chart(frame: pl.DataFrame) -> alt.Chart:
    """Bytes sent by the top sources (the encoding of :func:`kernelkit.plots.top_talkers_chart`)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("bytes:Q"), y=alt.Y("address:N", sort="-x"), tooltip=["address", "packets", "bytes"])
        .properties(width=250)
    )


def flow_sizes_data(frame: pl.DataFrame) -> pl.DataFrame:
    """The flow-size histograms with a label (the bin's lower end) and an order per bin."""
    labels = ["0" if b is None else _si(lo) for b, lo in zip(frame["bin"], frame["lo"])]  # a few dozen bins
    return frame.with_columns(
        label=pl.Series(labels, dtype=pl.String), order=pl.col("bin").fill_null(-(1 << 30))
    )


def flow_sizes_chart(frame: pl.DataFrame) -> alt.HConcatChart:
    """Flows per log-spaced bin of bytes and of duration, stacked by protocol."""
    charts = []
    for measure, unit in (("bytes", "B"), ("duration", "s")):
        charts.append(
            alt.Chart()
            .transform_filter(alt.datum.measure == measure)
            .mark_bar()
            .encode(
                x=alt.X("label:O", sort=alt.EncodingSortField("order"), title=f"{measure} ({unit}, from)"),
                y=alt.Y("sum(flows):Q", title="flows"),
                color="protocol:N",
                tooltip=["protocol:N", "lo:Q", "hi:Q", "flows:Q"],
            )
            .properties(width=220, height=150)
        )
    return alt.hconcat(*charts, data=flow_sizes_data(frame))


def anomalies_chart(frame: pl.DataFrame) -> alt.Chart:
    """Packets by status code (the encoding of :func:`kernelkit.plots.anomalies_chart`)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x="packets:Q", y=alt.Y("name:N", sort="-x", title="status"), tooltip=["status", "name", "packets"]
        )
        .properties(width=220)
    )


def packets_table(frame: pl.DataFrame, flow_id: int | None) -> str:
    """A flow's packets as an HTML table (the first :data:`MAX_TABLE_ROWS`)."""
    shown = frame.head(MAX_TABLE_ROWS)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    more = (
        f"<div class='kk-more'>first {MAX_TABLE_ROWS} of {frame.height:,} packets</div>"
        if frame.height > MAX_TABLE_ROWS
        else ""
    )
    return (
        f"<div style='max-height: 420px; overflow: auto'>"
        f"<table class='kk-packets' data-flow-id='{flow_id}' data-packets='{frame.height}'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}"
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


VEGALITE_MIME = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"


def _set_chart(output: widgets.Output, chart, empty: str | None) -> None:
    """Replace an Output's content by a chart (the active renderer's bundle) or a short note."""
    if chart is None:
        output.outputs = (
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"text/plain": empty, "text/html": f"<i class='kk-empty'>{html.escape(empty)}</i>"},
            },
        )
        return
    # The charts' structure is fixed (and validated in the tests); only their data changes, so
    # the schema validation of every update is skipped: it would cost more than the update.
    spec = chart.to_dict(validate=False, context={"pre_transform": False})
    # The vega-lite MIME type, which JupyterLab and Voilà draw with the vega they ship: no
    # script from a CDN, so the charts draw on a closed network (a lecture hall, a lab).
    output.outputs = ({"output_type": "display_data", "data": {VEGALITE_MIME: spec, "text/plain": "<chart>"},
                       "metadata": {}},)


def _slider_step(span: float) -> float:
    """About a thousand steps over the trace, rounded to 1, 2 or 5 × a power of ten."""
    import math

    raw = span / 1000
    exponent = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10**exponent >= raw:
            return m * 10**exponent
    return 10 ** (exponent + 1)  # pragma: no cover


def _si(value: float) -> str:
    """1234567 -> '1.23M' (the unit follows)."""
    value = float(value)
    for size, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{prefix}"
    if 0 < abs(value) < 1:
        for size, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
            if abs(value) >= size:
                return f"{value / size:.3g}{prefix}"
    return f"{value:.3g}"


__all__ = [
    "Explorer",
    "anomalies_chart",
    "flow_sizes_chart",
    "packets_table",
    "top_talkers_chart",
    "traffic_chart",
]
