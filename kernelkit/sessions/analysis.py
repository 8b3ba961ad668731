"""One call from a capture to packets, flows and sessions, with the flows annotated."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..conntrack import track
from .dns import dns_transactions
from .http import DEFAULT_CAPACITY as HTTP_CAPACITY
from .http import messages_from_streams, transactions_from_messages
from .quic import quic_handshakes
from .streams import tcp_streams
from .tls import DEFAULT_CAPACITY as TLS_CAPACITY
from .tls import handshakes_from_streams


@dataclass
class Analysis:
    """Everything :func:`analyze` found in a capture, joinable on ``flow_id``.

    ``flows`` carries Zeek-style ``service`` and the first ``sni``, ``alpn``,
    ``http_host`` and ``dns_qname`` of each connection.
    """

    packets: pl.DataFrame
    flows: pl.DataFrame
    tls: pl.DataFrame
    http: pl.DataFrame
    dns: pl.DataFrame
    quic: pl.DataFrame

    def sessions(self) -> dict[str, pl.DataFrame]:
        """The session tables by name, as :meth:`kernelkit.filter.Filter.packets` takes them."""
        return {"tls": self.tls, "http": self.http, "dns": self.dns, "quic": self.quic}


def annotate_flows(flows: pl.DataFrame, tls: pl.DataFrame, http: pl.DataFrame, dns: pl.DataFrame,
                   quic: pl.DataFrame) -> pl.DataFrame:
    """Add ``service``, ``sni``, ``alpn``, ``http_host`` and ``dns_qname`` to a flow table.

    ``service`` uses Zeek's names (``ssl``, ``http``, ``dns``, ``quic``), comma-joined
    when a connection carried several.
    """
    first_http = http.group_by("flow_id").agg(http_host=pl.col("http_host").drop_nulls().first())
    first_dns = dns.group_by("flow_id").agg(dns_qname=pl.col("dns_qname").drop_nulls().first())
    hello = pl.concat([
        tls.select("flow_id", "sni", "alpn", service=pl.lit("ssl")),
        quic.select("flow_id", "sni", "alpn", service=pl.lit("quic")),
    ]).unique("flow_id", keep="first")
    out = (
        flows.join(hello, on="flow_id", how="left")
        .join(first_http, on="flow_id", how="left")
        .join(first_dns, on="flow_id", how="left")
    )
    services = pl.concat_list(
        pl.col("service"),
        pl.when(pl.col("flow_id").is_in(http["flow_id"].implode())).then(pl.lit("http")),
        pl.when(pl.col("flow_id").is_in(dns["flow_id"].implode())).then(pl.lit("dns")),
    ).list.drop_nulls()
    return out.with_columns(
        service=pl.when(services.list.len() > 0).then(services.list.join(","))
    )


def analyze(source, **track_options) -> Analysis:
    """Parse, track and extract sessions from a capture, in one pass over it.

    Parameters
    ----------
    source : path, paths or Trace
        The capture file(s).
    **track_options
        Passed to :func:`kernelkit.track` (``table``, ``expiry``, timeouts, ...).

    Returns
    -------
    Analysis

    Examples
    --------
    >>> import kernelkit
    >>> a = kernelkit.analyze(kernelkit.sample_path())
    >>> sorted(a.flows["service"].drop_nulls().unique())
    ['dns', 'http', 'ssl']
    """
    tracked = track(source, data=True, **track_options)
    packets = tracked.packets
    # One reassembly for TLS and HTTP, at HTTP's (larger) capacity: it is the costliest step.
    tcp = packets.filter(pl.col("ip_proto") == 6)
    streams = tcp_streams(tcp, capacity=max(HTTP_CAPACITY, TLS_CAPACITY))
    tls = handshakes_from_streams(streams)
    http = transactions_from_messages(messages_from_streams(tcp, streams))
    dns, quic = dns_transactions(tracked), quic_handshakes(tracked)
    flows = annotate_flows(tracked.flows, tls, http, dns, quic)
    return Analysis(packets, flows, tls, http, dns, quic)
