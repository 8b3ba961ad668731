"""kernelkit.analyze: the flow table annotated with what the sessions found."""

import polars as pl

import kernelkit
from tests.traces import shared_trace


def test_flows_carry_their_sessions():
    a = kernelkit.analyze(kernelkit.sample_path())
    flows = a.flows.join(a.tls.select("flow_id", tls_sni="sni"), on="flow_id", how="left")
    tls = flows.filter(pl.col("tls_sni").is_not_null() | pl.col("flow_id").is_in(a.tls["flow_id"].implode()))
    assert tls.height == a.tls.height > 0
    assert (tls["service"] == "ssl").all()
    assert tls["sni"].equals(tls["tls_sni"], check_names=False)
    http = a.flows.filter(pl.col("flow_id").is_in(a.http["flow_id"].implode()))
    assert (http["service"] == "http").all() and http["http_host"].is_not_null().all()
    dns = a.flows.filter(pl.col("flow_id").is_in(a.dns["flow_id"].implode()))
    assert dns["service"].str.contains("dns").all()
    assert dns["dns_qname"].is_not_null().all()
    # a connection without sessions has none of the columns
    plain = a.flows.filter(pl.col("ip_proto").is_in([1, 58]))
    assert plain.height > 0 and plain.select("service", "sni", "http_host", "dns_qname").null_count().row(0) == (
        plain.height,) * 4


def test_quic_connections_have_their_sni():
    a = kernelkit.analyze(shared_trace("zeek__quic__firefox-102.13.0esr-blog-cloudflare-com.pcap"))
    quic = a.flows.filter(pl.col("service") == "quic")
    assert quic["sni"].to_list() == a.quic["sni"].to_list() == ["blog.cloudflare.com"]


def test_the_filter_takes_the_session_tables():
    a = kernelkit.analyze(kernelkit.sample_path())
    netflix = kernelkit.filter("tls.sni ~ 'netflix'").flows(a.flows, **a.sessions())
    assert set(netflix["sni"]) == {"netflix.com", "video.netflix.com"}


def test_one_reassembly_gives_what_each_extractor_gives_alone():
    # analyze reassembles the TCP streams once, for TLS and HTTP together
    for path in (kernelkit.sample_path(), shared_trace("suricata-verify__tls__tls-subjectaltname__input.pcap")):
        tracked = kernelkit.track(path, data=True)
        a = kernelkit.analyze(path)
        assert a.tls.height > 0 and a.http.height > 0
        assert a.tls.equals(kernelkit.tls_handshakes(tracked))
        assert a.http.equals(kernelkit.http_transactions(tracked))
