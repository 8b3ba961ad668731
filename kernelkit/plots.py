"""Charts of packets and flows, with Altair (Polars' own plotting backend).

Each chart has a ``*_frame`` function that computes the (small) frame behind it
with Polars, so that the work stays in Polars and the frames can be tested and
reused (the explorer draws the same views).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from . import display  # noqa: F401  (registers the kk namespace)

if TYPE_CHECKING:
    import altair as alt


def _altair():
    # imported on first use: altair and its schema validation take seconds to import
    import altair

    return altair

def _offline_bundle(spec: dict, **metadata) -> tuple[dict, dict]:
    import base64

    alt = _altair()
    mime = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"
    bundle = {mime: spec, "text/plain": "<altair chart>"}
    try:
        import vl_convert
    except ImportError:
        return bundle, {}
    # JupyterLab draws the vega-lite entry; the PNG is for what cannot (a saved notebook on a
    # forge, Voilà's static outputs), and spares JupyterLab's vega from writing one back.
    bundle["image/png"] = base64.b64encode(vl_convert.vegalite_to_png(spec)).decode()
    return bundle, {}


def use_offline_charts() -> None:
    """Draw Altair charts with the notebook's own vega: no script from a CDN.

    Charts go out as the vega-lite MIME type, which JupyterLab and Voilà draw
    with the vega they ship, so that they draw on a closed network (a lecture
    hall, a lab whose captures must not leave it). With ``vl-convert-python``
    installed each chart also carries a PNG, for viewers that cannot draw vega-lite.

    Examples
    --------
    >>> import altair as alt
    >>> from kernelkit import plots
    >>> plots.use_offline_charts()
    >>> alt.renderers.active
    'kernelkit'
    >>> _ = alt.renderers.enable("default")
    """
    alt = _altair()
    if "kernelkit" not in alt.renderers.names():
        alt.renderers.register("kernelkit", _offline_bundle)
    alt.renderers.enable("kernelkit")


PROTOCOL = (
    pl.when(pl.col("ip_proto") == 6).then(pl.lit("TCP"))
    .when(pl.col("ip_proto") == 17).then(pl.lit("UDP"))
    .when(pl.col("ip_proto").is_in([1, 58])).then(pl.lit("ICMP"))
    .when(pl.col("ip_proto").is_not_null()).then(pl.lit("other IP"))
    .otherwise(pl.lit("non-IP"))
    .alias("protocol")
)
"""Coarse protocol of a packet or flow, for colouring charts."""


def traffic_frame(packets: pl.DataFrame, every: str = "1s") -> pl.DataFrame:
    """Packets and bytes per interval and protocol.

    Examples
    --------
    >>> import kernelkit
    >>> frame = traffic_frame(kernelkit.read_packets(kernelkit.sample_path()), every="1s")
    >>> frame.columns
    ['ts', 'protocol', 'packets', 'bytes']
    """
    return (
        packets.filter(pl.col("ts").is_not_null())
        .with_columns(PROTOCOL)
        .group_by(pl.col("ts").dt.truncate(every), "protocol")
        .agg(packets=pl.len(), bytes=pl.col("wirelen").cast(pl.Int64).sum())
        .sort("ts", "protocol")
    )


def traffic_chart(packets: pl.DataFrame, every: str = "1s", measure: str = "packets") -> alt.Chart:
    """Traffic over time, stacked by protocol."""
    alt = _altair()
    return alt.Chart(traffic_frame(packets, every)).mark_area().encode(
        x=alt.X("ts:T", title="time"),
        y=alt.Y(f"{measure}:Q", title=f"{measure} per {every}", stack=True),
        color=alt.Color("protocol:N"),
        tooltip=["ts:T", "protocol:N", "packets:Q", "bytes:Q"],
    )


def top_talkers_frame(packets: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The ``n`` source addresses that sent the most bytes (as text).

    Examples
    --------
    >>> import kernelkit
    >>> sorted(top_talkers_frame(kernelkit.read_packets(kernelkit.sample_path()), n=2)["address"])
    ['127.0.0.1', '::1']
    """
    return (
        packets.filter(pl.col("src_ip").is_not_null())
        .group_by("src_ip")
        .agg(packets=pl.len(), bytes=pl.col("wirelen").cast(pl.Int64).sum())
        .sort("bytes", "packets", descending=True)
        .head(n)
        .select(pl.col("src_ip").kk.ip_str().alias("address"), "packets", "bytes")
    )


def top_talkers_chart(packets: pl.DataFrame, n: int = 10) -> alt.Chart:
    """Bytes sent by the top source addresses."""
    alt = _altair()
    return alt.Chart(top_talkers_frame(packets, n)).mark_bar().encode(
        x=alt.X("bytes:Q"), y=alt.Y("address:N", sort="-x"), tooltip=["address", "packets", "bytes"]
    )


def flow_distribution_frame(flows: pl.DataFrame) -> pl.DataFrame:
    """Per flow: total bytes, packets, duration and protocol (for distributions)."""
    return flows.select(
        "flow_id",
        PROTOCOL,
        bytes=pl.col("orig_ip_bytes") + pl.col("resp_ip_bytes"),
        packets=pl.col("orig_pkts") + pl.col("resp_pkts"),
        duration=pl.col("duration"),
    )


def flow_distribution_chart(flows: pl.DataFrame, measure: str = "bytes") -> alt.Chart:
    """Distribution (log-spaced bins) of flow sizes or durations."""
    alt = _altair()
    frame = flow_distribution_frame(flows).filter(pl.col(measure) > 0)
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X(f"{measure}:Q", bin=alt.Bin(maxbins=40), scale=alt.Scale(type="symlog"), title=measure),
        y=alt.Y("count():Q", title="flows"),
        color="protocol:N",
    )


def anomalies_frame(packets: pl.DataFrame) -> pl.DataFrame:
    """Packets per non-zero status code, with the code's name."""
    return (
        packets.filter(pl.col("status") != 0)
        .group_by("status")
        .agg(packets=pl.len())
        .sort("packets", descending=True)
        .with_columns(name=pl.col("status").kk.status_name())
    )


def anomalies_chart(packets: pl.DataFrame) -> alt.Chart:
    """Packet anomalies by status code."""
    alt = _altair()
    return alt.Chart(anomalies_frame(packets)).mark_bar().encode(
        x="packets:Q", y=alt.Y("name:N", sort="-x", title="status"), tooltip=["status", "name", "packets"]
    )


def time_sequence_frame(packets: pl.DataFrame, flow_id: int) -> pl.DataFrame:
    """A TCP flow's packets: time and sequence number relative to each side's first.

    ``packets`` must carry ``flow_id`` and ``direction`` (from :func:`kernelkit.track`).
    """
    flow = packets.filter((pl.col("flow_id") == flow_id) & pl.col("tcp_seq").is_not_null())
    return flow.select(
        seconds=(pl.col("ts") - pl.col("ts").min()).dt.total_nanoseconds() / 1e9,
        direction=pl.col("direction"),
        seq=(pl.col("tcp_seq").cast(pl.Int64) - pl.col("tcp_seq").first().over("direction").cast(pl.Int64))
        % (1 << 32),
        payload_len=pl.col("payload_len"),
        flags=pl.col("tcp_flags").kk.tcp_flags_str(),
    )


def time_sequence_chart(packets: pl.DataFrame, flow_id: int) -> alt.Chart:
    """Stevens' time-sequence plot of one TCP flow (both directions)."""
    alt = _altair()
    return alt.Chart(time_sequence_frame(packets, flow_id)).mark_point(filled=True, size=20).encode(
        x=alt.X("seconds:Q", title="seconds since the flow's first packet"),
        y=alt.Y("seq:Q", title="relative sequence number"),
        color=alt.Color("direction:N", title="direction (0 = originator)"),
        tooltip=["seconds", "seq", "payload_len", "flags"],
    )
