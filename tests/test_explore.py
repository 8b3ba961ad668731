"""The explorer (kernelkit.explore): the model's frames, its caches, and the widget run headless.

* Frames: on the bundled sample and on hand-made frames (sorted and unsorted
  timestamps, packets without timestamps, non-IP packets without a flow, anomalies),
  for filters × time ranges × protocols, every view's frame equals what plain Polars
  computes from the selection made independently (the filter's own ``.packets()``,
  then ``is_between`` on ``ts`` and the protocol names of ``plots.PROTOCOL``),
  passed through the ``kernelkit.plots`` frame functions.
* Errors: a refused filter leaves the selection and every frame as they were and
  reports the error with its column.
* Caches: which views a change recomputes (``recomputes``).
* Widget: built without a browser; setting the controls' values (as the browser
  does) changes the model, the Output widgets' content, the error box and the
  drill-down.
"""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import kernelkit
import kernelkit.explore
import kernelkit.filter
from kernelkit import plots
from kernelkit.explore import ExplorerModel
from kernelkit.explore.model import _STEPS, MAX_BINS, duration_text, interval
from kernelkit.filter import FilterError
from kernelkit.status import STATUS_CODES

T0 = 1_700_000_000 * 10**9
TOGGLE = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "other IP": "other", "non-IP": "other"}


# -- data --------------------------------------------------------------------------------


def _ip(text: str) -> bytes:
    return kernelkit.ip(text)


def handmade(
    n_packets: int = 3000, n_flows: int = 150, seed: int = 5, shuffle: bool = False, null_ts: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Packets of random flows of every protocol class, and their flow table computed with Polars."""
    rng = np.random.default_rng(seed)
    protos = rng.choice([6, 6, 6, 17, 17, 1, 58, 47], n_flows)
    ipv6 = (protos == 58) | (rng.random(n_flows) < 0.2)
    addresses = [_ip(f"10.0.{k}.{j}") for k in range(4) for j in range(1, 6)] + [
        _ip(f"192.168.1.{j}") for j in range(1, 6)
    ]
    addresses6 = [_ip(f"2001:db8::{j:x}") for j in range(1, 9)]
    orig = [(addresses6 if v else addresses)[rng.integers(len(addresses6 if v else addresses))] for v in ipv6]
    resp = [(addresses6 if v else addresses)[rng.integers(len(addresses6 if v else addresses))] for v in ipv6]
    ported = np.isin(protos, [6, 17])
    orig_port = np.where(ported, rng.integers(1024, 65535, n_flows), 0)
    resp_port = np.where(ported, rng.choice([53, 80, 443, 8080], n_flows), 0)
    flow_ids = np.sort(rng.choice(10 * n_flows, n_flows, replace=False))  # sparse ids, as a tracker's

    flow = rng.integers(n_flows, size=n_packets)
    non_ip = rng.random(n_packets) < 0.03
    direction = rng.integers(2, size=n_packets)
    ts = T0 + np.sort(rng.integers(0, 7 * 10**9, n_packets))  # 7 s of traffic
    wirelen = rng.integers(60, 1514, n_packets)
    statuses = [code for code in STATUS_CODES if code != 0][:4]
    status = np.where(rng.random(n_packets) < 0.05, rng.choice(statuses, n_packets), 0)
    flags = rng.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x04], n_packets)
    p_proto = protos[flow]
    src = [None if non_ip[k] else (orig if direction[k] == 0 else resp)[flow[k]] for k in range(n_packets)]
    dst = [None if non_ip[k] else (resp if direction[k] == 0 else orig)[flow[k]] for k in range(n_packets)]
    packets = pl.DataFrame(
        {
            "ts": pl.Series(ts, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")),
            "wirelen": pl.Series(wirelen, dtype=pl.UInt32),
            "ip_version": pl.Series(np.where(ipv6[flow], 6, 4), dtype=pl.UInt8),
            "src_ip": pl.Series(src, dtype=pl.Binary),
            "dst_ip": pl.Series(dst, dtype=pl.Binary),
            "ip_proto": pl.Series(p_proto, dtype=pl.UInt8),
            "sport": pl.Series(np.where(direction == 0, orig_port[flow], resp_port[flow]), dtype=pl.UInt16),
            "dport": pl.Series(np.where(direction == 0, resp_port[flow], orig_port[flow]), dtype=pl.UInt16),
            "ip_len": pl.Series(wirelen - 14, dtype=pl.UInt32),
            "tcp_flags": pl.Series(flags, dtype=pl.UInt16),
            "tcp_seq": pl.Series(rng.integers(0, 2**32, n_packets), dtype=pl.UInt32),
            "tcp_ack": pl.Series(rng.integers(0, 2**32, n_packets), dtype=pl.UInt32),
            "l4_offset": pl.Series(np.full(n_packets, 34), dtype=pl.UInt32),
            "payload_len": pl.Series(np.maximum(wirelen - 54, 0), dtype=pl.UInt32),
            "status": pl.Series(status, dtype=pl.UInt16),
            "flow_id": pl.Series(flow_ids[flow], dtype=pl.Int64),
            "direction": pl.Series(direction, dtype=pl.UInt8),
        }
    ).with_columns(
        # non-IP packets have no IP fields and no flow; only TCP has TCP fields; only TCP/UDP ports
        *[
            pl.when(pl.Series(non_ip)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("ip_version", "ip_proto", "ip_len", "flow_id", "direction", "l4_offset")
        ],
        *[
            pl.when(pl.col("ip_proto") == 6).then(pl.col(c)).otherwise(None).alias(c)
            for c in ("tcp_flags", "tcp_seq", "tcp_ack")
        ],
        *[
            pl.when(pl.col("ip_proto").is_in([6, 17])).then(pl.col(c)).otherwise(None).alias(c)
            for c in ("sport", "dport")
        ],
    )
    flows = pl.DataFrame(
        {
            "flow_id": pl.Series(flow_ids, dtype=pl.Int64),
            "orig_ip": pl.Series(orig, dtype=pl.Binary),
            "orig_port": pl.Series(orig_port, dtype=pl.UInt16),
            "resp_ip": pl.Series(resp, dtype=pl.Binary),
            "resp_port": pl.Series(resp_port, dtype=pl.UInt16),
            "ip_proto": pl.Series(protos, dtype=pl.UInt8),
            "ip_version": pl.Series(np.where(ipv6, 6, 4), dtype=pl.UInt8),
        }
    )
    stats = (
        packets.filter(pl.col("flow_id").is_not_null())
        .group_by("flow_id")
        .agg(
            orig_pkts=(pl.col("direction") == 0).sum().cast(pl.Int64),
            resp_pkts=(pl.col("direction") == 1).sum().cast(pl.Int64),
            orig_ip_bytes=pl.col("ip_len").filter(pl.col("direction") == 0).sum().cast(pl.Int64),
            resp_ip_bytes=pl.col("ip_len").filter(pl.col("direction") == 1).sum().cast(pl.Int64),
            first_ts=pl.col("ts").min(),
            last_ts=pl.col("ts").max(),
        )
    )
    flows = (
        flows.join(stats, on="flow_id", how="inner")
        .with_columns(
            duration=(pl.col("last_ts") - pl.col("first_ts")).dt.total_nanoseconds() / 1e9,
            conn_state=pl.lit("SF"),
        )
        .sort("flow_id")
    )
    if null_ts:
        packets = packets.with_columns(
            ts=pl.when(pl.int_range(pl.len()) % (n_packets // null_ts) == 7)
            .then(None)
            .otherwise(pl.col("ts"))
        )
    if shuffle:
        packets = packets.sample(fraction=1.0, shuffle=True, seed=seed)
    return packets, flows


@pytest.fixture(scope="module")
def sample():
    tracked = kernelkit.track(kernelkit.sample_path())
    return tracked.packets, tracked.flows


@pytest.fixture(scope="module")
def made():
    return handmade()


@pytest.fixture(scope="module")
def made_unsorted():
    return handmade(seed=9, shuffle=True, null_ts=30)


# -- the reference: plain Polars -------------------------------------------------------


def reference(packets, flows, text="", start=None, end=None, protocols=("TCP", "UDP", "ICMP", "other")):
    """The selected packets, made independently of the model."""
    selected = kernelkit.filter(text).packets(packets, flows=flows) if text.strip() else packets
    if start is not None or end is not None:
        t0 = packets["ts"].min()
        t1 = packets["ts"].max()
        lo = t0 + pl.duration(nanoseconds=round(start * 1e9)) if start is not None else t0
        hi = t0 + pl.duration(nanoseconds=round(end * 1e9)) if end is not None else t1
        if not (pl.select(lo).item() <= t0 and pl.select(hi).item() >= t1):
            selected = selected.filter(pl.col("ts").is_between(lo, hi))
    toggles = selected.select(plots.PROTOCOL).to_series().replace_strict(TOGGLE)
    return selected.filter(toggles.is_in(list(protocols)))


def flows_of(selected: pl.DataFrame, flows: pl.DataFrame) -> pl.DataFrame:
    return plots.flow_distribution_frame(
        flows.join(selected.select(pl.col("flow_id").drop_nulls().unique()), on="flow_id", how="semi")
    )


FILTERS = [
    "",
    "tcp",
    "udp.port == 53",
    "not tcp.flags.syn",
    "ip.src == 10.0.0.0/8",
    "ipv6 or icmp",
    "conn.duration > 3",
]
RANGES = [(None, None), (1.5, 4.25), (0.0, 0.0)]
PROTOCOL_SETS = [("TCP", "UDP", "ICMP", "other"), ("TCP",), ("UDP", "other"), ()]


def check_views(model: ExplorerModel, selected: pl.DataFrame, flows: pl.DataFrame) -> None:
    """Every view of the model equals its plain-Polars counterpart on ``selected``."""
    assert_frame_equal(model.selected_packets(), selected, check_row_order=model._sorted)
    summary = model.summary()
    assert summary["packets"] == selected.height
    assert summary["bytes"] == int(selected["wirelen"].cast(pl.Int64).sum())

    _, every = model.interval()
    assert_frame_equal(model.traffic(), plots.traffic_frame(selected, every))

    talkers = plots.top_talkers_frame(selected, 10**6)
    mine = model.top_talkers(10**6)
    order = [pl.col("bytes"), pl.col("packets"), pl.col("address")]
    assert_frame_equal(
        mine.sort(order, descending=[True, True, False]), talkers.sort(order, descending=[True, True, False])
    )
    assert mine["bytes"].is_sorted(descending=True)
    assert model.top_talkers(3)["bytes"].to_list() == mine["bytes"].head(3).to_list()

    expected = flows_of(selected, flows)
    assert summary["flows"] == expected.height
    for key in ("bytes", "packets", "duration"):
        top = model.top_flows(10**6, key)
        assert sorted(top["flow_id"]) == sorted(expected["flow_id"])
        assert top[key].is_sorted(descending=True)
        want = expected.sort([key, "flow_id"], descending=[True, False]).head(5)
        assert model.top_flows(5, key)["flow_id"].to_list() == want["flow_id"].to_list()
        joined = top.join(expected, on="flow_id", suffix="_want")
        assert (joined[key] == joined[f"{key}_want"]).all()

    sizes = model.flow_sizes()
    for measure in ("bytes", "duration"):
        part = sizes.filter(pl.col("measure") == measure)
        assert int(part["flows"].sum()) == expected.height
        for row in part.iter_rows(named=True):
            x = pl.col(measure).cast(pl.Float64)
            inside = (
                (x == 0)
                if row["bin"] is None
                else ((x >= row["lo"] * (1 - 1e-12)) & (x < row["hi"] * (1 - 1e-12)))
            )
            count = expected.filter(inside & (pl.col("protocol") == row["protocol"])).height
            assert count == row["flows"], (measure, row)

    order = ["status"]
    assert_frame_equal(model.anomalies().sort(order), plots.anomalies_frame(selected).sort(order))


# -- frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", FILTERS)
def test_views_match_plain_polars_handmade(made, text):
    packets, flows = made
    model = ExplorerModel(packets, flows)
    assert model._sorted
    model.set_filter(text)
    for start, end in RANGES:
        for protocols in PROTOCOL_SETS:
            model.set_time_range(start, end)
            model.set_protocols(protocols)
            check_views(model, reference(packets, flows, text, start, end, protocols), flows)


@pytest.mark.parametrize("text", ["", "tcp.flags.syn", "ip.addr == 192.168.1.0/24 and udp"])
def test_views_match_plain_polars_unsorted_with_missing_timestamps(made_unsorted, text):
    packets, flows = made_unsorted
    assert packets["ts"].null_count() > 0
    model = ExplorerModel(packets, flows)
    assert not model._sorted
    model.set_filter(text)
    for start, end in [*RANGES, (None, 2.0), (6.0, None)]:
        for protocols in PROTOCOL_SETS[:3]:
            model.set_time_range(start, end)
            model.set_protocols(protocols)
            selected = reference(packets, flows, text, start, end, protocols)
            check_views(model, selected, flows)
            if text == "" and (start, end) == (None, None) and len(protocols) == 4:
                # the whole trace keeps packets without a timestamp; a time range drops them
                assert model.summary()["packets"] == packets.height
            elif start is not None:
                assert model.selected_packets()["ts"].null_count() == 0


@pytest.mark.parametrize("text", ["", "tcp.port == 80", "ipv6 and not tcp.flags.ack", "conn.state == 'SF'"])
def test_views_match_plain_polars_sample(sample, text):
    packets, flows = sample
    model = ExplorerModel(packets, flows)
    model.set_filter(text)
    span = model.duration
    for start, end in [(None, None), (span / 3, span / 2)]:
        for protocols in PROTOCOL_SETS[:3]:
            model.set_time_range(start, end)
            model.set_protocols(protocols)
            check_views(model, reference(packets, flows, text, start, end, protocols), flows)


def test_flow_drilldown(made, sample):
    for packets, flows in (made, sample):
        model = ExplorerModel(packets, flows)
        numbered = packets.with_row_index("no", offset=1)
        for flow_id in flows["flow_id"].sample(10, seed=1, with_replacement=True):
            mine = model.flow_packets(flow_id)
            want = numbered.filter(pl.col("flow_id") == flow_id)
            assert mine["no"].to_list() == want["no"].to_list()
            assert mine["length"].to_list() == want["wirelen"].to_list()
            assert (mine["direction"] == want["direction"]).all()
            proto = flows.filter(pl.col("flow_id") == flow_id)["ip_proto"].item()
            if proto == 6:
                assert_frame_equal(model.time_sequence(flow_id), plots.time_sequence_frame(packets, flow_id))
                assert model.time_sequence(flow_id).height == want.height
            else:
                assert model.time_sequence(flow_id).height == 0
                assert model.time_sequence(flow_id).columns == [
                    "seconds",
                    "direction",
                    "seq",
                    "payload_len",
                    "flags",
                ]
    model = ExplorerModel(*sample)
    tcp = sample[1].filter(pl.col("ip_proto") == 6)
    flow_id = int(tcp["flow_id"][0])
    model.select_flow(flow_id)
    assert model.flow_packets().height == tcp["orig_pkts"][0] + tcp["resp_pkts"][0]
    src = model.flow_packets()["src"][0]
    assert re.fullmatch(r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+", src), src
    with pytest.raises(ValueError, match="no flow"):
        model.select_flow(-12345)
    assert model.selected_flow == flow_id


def test_top_flows_text(made):
    packets, flows = made
    model = ExplorerModel(packets, flows)
    top = model.top_flows(10**6)
    for row in top.iter_rows(named=True):
        flow = flows.filter(pl.col("flow_id") == row["flow_id"]).row(0, named=True)
        address = kernelkit.ip_text(flow["orig_ip"])
        if flow["ip_proto"] in (6, 17):
            host = f"[{address}]" if ":" in address else address
            assert row["orig"] == f"{host}:{flow['orig_port']}"
        else:
            assert row["orig"] == address
        assert row["protocol"] == {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 47: "GRE"}[flow["ip_proto"]]


def test_sessions_as_filter_input(made):
    packets, flows = made
    ids = flows["flow_id"].head(3).to_list()
    tls = pl.DataFrame(
        {
            "flow_id": ids + [flows["flow_id"][5]],
            "sni": ["www.netflix.com", "api.netflix.com", "example.org", "nflx.example"],
        }
    )
    model = ExplorerModel(packets, flows, sessions={"tls": tls})
    model.set_filter("tls.sni ~ 'netflix'")
    assert sorted(model.top_flows(100)["flow_id"]) == ids[:2]
    assert model.summary()["packets"] == packets.filter(pl.col("flow_id").is_in(ids[:2])).height
    bare = ExplorerModel(packets, flows)
    with pytest.raises(FilterError, match="tls") as info:
        bare.set_filter("tcp and tls.sni ~ 'netflix'")
    assert info.value.column == 9
    with pytest.raises(ValueError, match="unknown session"):
        ExplorerModel(packets, flows, sessions={"smtp": tls})


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, column",
    [
        ("tcp.port == 80 and tcp.prot == 1", 20),
        ("tcp.port = = 80", 12),
        ("ip.src == 'x'", 11),
        ("(tcp", 5),
    ],
)
def test_invalid_filter_keeps_previous_state(made, bad, column):
    packets, flows = made
    model = ExplorerModel(packets, flows)
    model.set_filter("udp")
    before = model.frames()
    counts = dict(model.recomputes)
    with pytest.raises(FilterError) as info:
        model.set_filter(bad)
    assert info.value.column == column
    assert model.error is info.value
    assert "^" in str(info.value) and bad.splitlines()[0] in str(info.value)
    assert model.filter_text == "udp" and str(model.filter) == "udp"
    after = model.frames()
    assert all(after[name] is before[name] for name in before)
    assert dict(model.recomputes) == counts
    model.set_filter("tcp")
    assert model.error is None
    assert model.summary()["packets"] == packets.filter(pl.col("ip_proto") == 6).height


def test_bad_arguments(made):
    packets, flows = made
    model = ExplorerModel(packets, flows)
    with pytest.raises(ValueError, match="unknown protocol"):
        model.set_protocols({"TCP", "SCTP"})
    with pytest.raises(ValueError, match="before it starts"):
        model.set_time_range(3, 1)
    with pytest.raises(ValueError, match="sort_by"):
        model.top_flows(5, "rtt")
    with pytest.raises(ValueError, match="flow_id"):
        ExplorerModel(packets.drop("flow_id"), flows)
    with pytest.raises(ValueError, match="repeated"):
        ExplorerModel(packets, pl.concat([flows, flows.head(1)]))
    model.set_filter("   ")
    assert model.filter is None and model.summary()["packets"] == packets.height


# -- caches -----------------------------------------------------------------------------


def test_recompute_only_what_changed(made):
    packets, flows = made
    model = ExplorerModel(packets, flows)
    model.frames()
    views = ["traffic", "top_talkers", "top_flows", "flow_sizes", "anomalies"]
    assert all(model.recomputes[v] == 1 for v in views)

    def changed(action):
        before = dict(model.recomputes)
        action()
        model.frames()
        return {k for k, v in model.recomputes.items() if v != before.get(k, 0)}

    flow_a, flow_b = (int(x) for x in flows["flow_id"].head(2))
    assert changed(lambda: model.select_flow(flow_a)) == {"flow_packets", "time_sequence"}
    assert changed(lambda: model.select_flow(flow_b)) == {"flow_packets", "time_sequence"}
    assert changed(lambda: model.set_filter("tcp")) == {"filter", "selection", *views}
    # the same filter spelled differently shares the mask and the frames
    assert changed(lambda: model.set_filter(" ( tcp ) ")) == set()
    assert changed(lambda: model.set_time_range(1, 2)) == {"selection", *views}
    assert changed(lambda: model.set_protocols({"TCP", "UDP"})) == {"selection", *views}
    assert changed(lambda: model.top_flows(20, "packets")) == {"top_flows"}
    assert changed(lambda: model.set_filter("udp")) == {"filter", "selection", *views}
    # back to an earlier state: everything comes from the caches
    assert (
        changed(
            lambda: (
                model.set_filter("tcp"),
                model.set_time_range(None, None),
                model.set_protocols({"TCP", "UDP", "ICMP", "other"}),
            )
        )
        == set()
    )
    assert changed(lambda: model.select_flow(flow_a)) == set()
    model.clear_caches()
    assert changed(lambda: None) == {"filter", "selection", *views, "flow_packets", "time_sequence"}


# -- the traffic interval -------------------------------------------------------------------


def test_interval_gives_100_to_300_bins():
    for span in [
        0,
        1,
        999,
        10**6,
        7 * 10**9,
        3 * 10**9 + 7,
        61 * 10**9,
        3600 * 10**9,
        86400 * 10**9,
        40 * 86400 * 10**9,
        10**9 * 86400 * 3000,
    ]:
        step, text = interval(span)
        bins = span // step + 2
        assert bins <= MAX_BINS
        if span >= 300:
            assert span // step + 1 >= 100, (span, step)
        assert duration_text(step) == text
        offset = pl.select(pl.lit(0).cast(pl.Datetime("ns")).dt.offset_by(text).cast(pl.Int64)).item()
        assert offset == step  # Polars reads the text as the step


@pytest.mark.parametrize("step", list(_STEPS) + [3 * 86400 * 10**9])
def test_interval_bins_are_those_of_dt_truncate(step):
    rng = np.random.default_rng(step % 1000)
    ts = pl.Series(rng.integers(-(10**18), 10**18, 200), dtype=pl.Int64)
    floor = ts // step * step
    truncated = ts.cast(pl.Datetime("ns", "UTC")).dt.truncate(duration_text(step)).cast(pl.Int64)
    assert (floor == truncated).all()


# -- the widget, headless ---------------------------------------------------------------


def _classes(widget, found=None) -> set[str]:
    found = set() if found is None else found
    found.update(getattr(widget, "_dom_classes", ()))
    for child in getattr(widget, "children", ()):
        _classes(child, found)
    return found


def _spec_text(output) -> str:
    """What an Output holds, as text (the chart's spec is inside the renderer's HTML or JSON)."""
    return json.dumps([o["data"] for o in output.outputs], default=str)


@pytest.fixture()
def app(made):
    from kernelkit.explore.widget import Explorer

    return Explorer(ExplorerModel(*made), top=15)


def test_widget_builds_with_stable_classes(app):
    expected = {
        "kk-explorer",
        "kk-controls",
        "kk-filter",
        "kk-error",
        "kk-time-range",
        "kk-proto",
        "kk-proto-tcp",
        "kk-proto-udp",
        "kk-proto-icmp",
        "kk-proto-other",
        "kk-status",
        "kk-views",
        "kk-view",
        "kk-view-traffic",
        "kk-view-top-talkers",
        "kk-view-flow-sizes",
        "kk-view-anomalies",
        "kk-caption",
        "kk-chart",
        "kk-top-flows-box",
        "kk-sort",
        "kk-top-flows-header",
        "kk-top-flows",
        "kk-drilldown",
        "kk-drilldown-title",
        "kk-flow-packets",
        "kk-time-sequence",
    }
    assert expected <= _classes(app)
    for name in ("traffic", "top_talkers", "flow_sizes", "anomalies"):
        assert len(app.charts[name].outputs) == 1
    assert len(app.top_flows.options) == 15
    assert f"data-packets='{app.model.packets.height}'" in app.status.value


def test_widget_filter_changes_views(app, made):
    packets, flows = made
    traffic, talkers = app.charts["traffic"].outputs, app.charts["top_talkers"].outputs
    app.filter_box.value = "ip.src == 192.168.1.0/24"
    selected = reference(packets, flows, "ip.src == 192.168.1.0/24")
    assert f"data-packets='{selected.height}'" in app.status.value
    assert app.charts["traffic"].outputs != traffic
    assert app.charts["top_talkers"].outputs != talkers
    text = _spec_text(app.charts["top_talkers"])
    assert "192.168.1." in text and "10.0." not in text
    expected_flows = set(flows_of(selected, flows)["flow_id"])
    assert {flow_id for _, flow_id in app.top_flows.options} <= expected_flows
    assert app.error_box.value == ""


def test_widget_invalid_filter_shows_error_and_keeps_views(app):
    app.filter_box.value = "udp"
    outputs = {name: out.outputs for name, out in app.charts.items()}
    status, options = app.status.value, app.top_flows.options
    app.filter_box.value = "udp and tcp.prot == 80"
    assert "kk-filter-invalid" in app.filter_box._dom_classes
    assert "unknown field" in app.error_box.value and "kk-error-text" in app.error_box.value
    lines = re.search(r"<pre[^>]*>(.*)</pre>", app.error_box.value, re.DOTALL).group(1).splitlines()
    caret_line = lines[-1]
    assert caret_line.index("^") - lines[-2].index("udp") == len("udp and ")  # under the bad field
    assert {name: out.outputs for name, out in app.charts.items()} == outputs
    assert app.status.value == status and app.top_flows.options == options
    assert app.model.filter_text == "udp"
    app.filter_box.value = "udp.port == 53"
    assert app.error_box.value == "" and "kk-filter-invalid" not in app.filter_box._dom_classes
    assert app.status.value != status


def test_widget_time_range_and_protocols(app, made):
    packets, flows = made
    traffic = app.charts["traffic"].outputs
    app.time_range.value = (2.0, 3.0)
    assert app.model.time_range == pytest.approx((2.0, 3.0))
    selected = reference(packets, flows, "", 2.0, 3.0)
    assert f"data-packets='{selected.height}'" in app.status.value
    assert app.charts["traffic"].outputs != traffic
    assert "in intervals of 5ms" in app.captions["traffic"].value  # 1 s: 200 bins
    app.protocol_buttons["TCP"].value = False
    app.protocol_buttons["other"].value = False
    assert app.model.protocols == {"UDP", "ICMP"}
    selected = reference(packets, flows, "", 2.0, 3.0, ("UDP", "ICMP"))
    assert f"data-packets='{selected.height}'" in app.status.value
    app.time_range.value = (0.0, app.time_range.max)
    assert app.model.key[1] is None  # the slider's ends are the trace's ends


def test_widget_drilldown(app, made):
    packets, flows = made
    app.filter_box.value = "tcp"
    traffic = app.charts["traffic"].outputs
    recomputed = app.model.recomputes["traffic"]
    label, flow_id = app.top_flows.options[2]
    assert label.split()[0] == str(flow_id)  # the browser test picks an option by its flow_id
    app.top_flows.value = flow_id
    assert app.model.selected_flow == flow_id
    n = packets.filter(pl.col("flow_id") == flow_id).height
    assert f"data-flow-id='{flow_id}'" in app.drilldown_title.value
    assert f"data-flow-id='{flow_id}' data-packets='{n}'" in app.flow_packets.value
    assert app.flow_packets.value.count("<tr>") == min(n, 200) + 1
    assert len(app.charts["time_sequence"].outputs) == 1
    assert "seq" in _spec_text(app.charts["time_sequence"])
    # the other views were neither recomputed nor redrawn
    assert app.charts["traffic"].outputs is traffic
    assert app.model.recomputes["traffic"] == recomputed
    # sorting by packets keeps the chosen flow chosen if it is still listed
    app.sort_by.value = "packets"
    listed = [f for _, f in app.top_flows.options]
    counts = flows.filter(pl.col("flow_id").is_in(listed)).with_columns(
        n=pl.col("orig_pkts") + pl.col("resp_pkts")
    )
    by_id = dict(zip(counts["flow_id"], counts["n"]))
    assert [by_id[f] for f in listed] == sorted(by_id.values(), reverse=True)
    assert app.top_flows.value == (flow_id if flow_id in listed else None)
    assert app.model.selected_flow == flow_id


def test_widget_non_tcp_flow_and_empty_selection(app, made):
    _, flows = made
    udp = int(flows.filter(pl.col("ip_proto") == 17)["flow_id"][0])
    app.filter_box.value = "udp"
    app.model.select_flow(udp)
    app.refresh()
    assert "not a TCP flow" in _spec_text(app.charts["time_sequence"])
    app.protocol_buttons["UDP"].value = False
    assert "data-packets='0'" in app.status.value
    assert "no packets" in _spec_text(app.charts["traffic"])


def test_explore_entry_points(sample, tmp_path):
    packets, flows = sample
    for source in (
        kernelkit.sample_path(),
        kernelkit.track(kernelkit.sample_path()),
        (packets, flows),
        kernelkit.read_packets(kernelkit.sample_path()),
    ):
        app = kernelkit.explore(source)
        assert app.model.summary() == {"packets": 403, "bytes": 239801, "flows": 41}
    assert kernelkit.explore.explore is not None and kernelkit.explore.Explorer.__name__ == "Explorer"
    with pytest.raises(ValueError, match="packets=True"):
        kernelkit.explore(kernelkit.track(kernelkit.sample_path(), packets=False))


def test_charts_are_valid_vega_lite(made):
    from kernelkit.explore import widget

    model = ExplorerModel(*made)
    step, _ = model.interval()
    charts = {
        "traffic": widget.traffic_chart(model.traffic(), step, model.t0),
        "top_talkers": widget.top_talkers_chart(model.top_talkers(10)),
        "flow_sizes": widget.flow_sizes_chart(model.flow_sizes()),
        "anomalies": widget.anomalies_chart(model.anomalies()),
    }
    for name, chart in charts.items():
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        rows = next(iter(spec["datasets"].values()))
        assert len(rows) > 0, name
    # swapping the data of a built chart, as the widget does, changes only the data
    chart = charts["top_talkers"]
    before = chart.to_dict()
    model.set_protocols({"UDP"})
    chart.data = model.top_talkers(10)
    after = chart.to_dict()
    assert after["encoding"] == before["encoding"] and after["datasets"] != before["datasets"]
    flow_id = int(made[1].filter(pl.col("ip_proto") == 6)["flow_id"][0])
    plots.time_sequence_chart(model.flow_packets_raw(flow_id), flow_id).to_dict()


def test_widget_follows_the_active_renderer(made):
    import altair as alt

    from kernelkit.explore.widget import Explorer

    with alt.renderers.enable("mimetype"):  # (data, metadata) bundles, as JupyterLab's own renderer takes
        app = Explorer(ExplorerModel(*made))
        data = app.charts["traffic"].outputs[0]["data"]
    assert any(key.startswith("application/vnd.vegalite") for key in data)
    spec = next(v for k, v in data.items() if k.startswith("application/vnd.vegalite"))
    assert "vconcat" in spec
