"""HTTP/1.x transactions: requests paired with their responses, as Zeek's http.log has them.

:func:`http_transactions` gives one row per request; :func:`http_messages` gives
the parser's own view, one row per request or response with its parse status.
Both read the first ``capacity`` bytes of each TCP stream (see
:func:`kernelkit.sessions.streams.tcp_streams`), so in a long keep-alive
connection the requests and responses that start beyond them are not seen: the
last message seen has status ``body_truncated`` and the requests after the last
response seen have a null ``http_status``.

Any TCP connection whose client bytes begin with an HTTP/1.x request line is
parsed, whatever its ports; HTTP/2 and TLS-wrapped HTTP are not HTTP/1.x.

Notes
-----
Retina (SIGCOMM'22) subscribes to "HTTP transactions" with method, URI, host,
user agent and status; Zeek's http.log has one row per request with the same
fields. Both pair responses with requests by order, as here.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from ..kernels.l7 import http as H
from .source import session_packets
from .streams import Streams, tcp_streams

DEFAULT_CAPACITY = 1 << 20
"""Bytes of each stream kept by default: enough to skip the bodies of a few
responses of a keep-alive connection and still see the next ones."""



def _texts(buffer: np.ndarray, offset: np.ndarray, length: np.ndarray) -> pl.Series:
    """``buffer[offset : offset + length]`` of every row as text (null where ``length < 0``).

    One vectorised gather; where a value is not UTF-8 its stray bytes are shown as
    ``\\xNN`` escapes.
    """
    offset = np.asarray(offset, np.int64)
    length = np.asarray(length, np.int64)
    valid = length >= 0
    sizes = np.where(valid, length, 0)
    ends = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=ends[1:])
    gather = np.repeat(offset - ends[:-1], sizes) + np.arange(int(ends[-1]), dtype=np.int64)
    values = buffer[gather] if len(gather) else np.zeros(0, np.uint8)
    mask = pa.array(valid).buffers()[1] if not valid.all() else None
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        len(sizes),
        [mask, pa.py_buffer(ends), pa.py_buffer(values)],
        null_count=int((~valid).sum()),
    )
    try:
        text = binary.cast(pa.large_string())
    except pa.ArrowInvalid:
        text = pa.array(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in binary.to_pylist()],
            pa.large_string(),
        )
    return pl.Series(text, dtype=pl.String)


def _segments(streams: Streams) -> dict[str, np.ndarray]:
    """Every TCP segment the reassembly placed: its stream, stream offsets and time."""
    return {c: streams.segments[c].to_numpy().astype(np.int64) for c in ("stream", "lo", "hi", "ts")}


def first_byte_times(
    packets: pl.DataFrame, streams: Streams, stream: np.ndarray, offset: np.ndarray
) -> pl.Series:
    """Capture time of the first segment that carried byte ``offset`` of ``stream``, per message.

    Parameters
    ----------
    packets : polars.DataFrame
        The packets ``streams`` was built from.
    streams : Streams
        Their TCP stream prefixes.
    stream, offset : int64 arrays
        Per message: its stream and the stream offset of its first byte.

    Returns
    -------
    polars.Series
        ``datetime[ns, UTC]``, null where no segment carried the byte.

    Examples
    --------
    >>> import kernelkit, numpy as np
    >>> from kernelkit.sessions.source import session_packets
    >>> from kernelkit.sessions.streams import tcp_streams
    >>> packets = session_packets(kernelkit.sample_path())
    >>> streams = tcp_streams(packets)
    >>> first_byte_times(packets, streams, np.array([0]), np.array([0])).dtype
    Datetime(time_unit='ns', time_zone='UTC')
    """
    stream = np.asarray(stream, np.int64)
    offset = np.asarray(offset, np.int64)
    order = np.lexsort((offset, stream))
    counts = np.bincount(stream, minlength=len(streams)) if len(stream) else np.zeros(len(streams), np.int64)
    first = np.zeros(len(streams) + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    seg = _segments(streams)
    ts_sorted = np.zeros(len(stream), np.int64)
    found_sorted = np.zeros(len(stream), np.uint8)
    H.first_byte_times(
        seg["stream"], seg["lo"], seg["hi"], seg["ts"], first, offset[order], ts_sorted, found_sorted
    )
    ts = np.empty(len(stream), np.int64)
    found = np.empty(len(stream), bool)
    ts[order] = ts_sorted
    found[order] = found_sorted == 1
    return (
        pl.Series(ts, dtype=pl.Int64)
        .to_frame("ts")
        .select(pl.when(pl.Series(found)).then(pl.col("ts")).cast(pl.Datetime("ns", "UTC")))
        .to_series()
    )


def _connections(streams: Streams) -> pl.DataFrame:
    """One row per TCP connection: its stream of each direction (-1: none)."""
    keys = pl.DataFrame(
        {
            "flow_id": streams.flow_id,
            "direction": streams.direction,
            "stream": np.arange(len(streams), dtype=np.int64),
        },
        schema={"flow_id": pl.Int64, "direction": pl.UInt8, "stream": pl.Int64},
    )
    flows = keys.select("flow_id").unique(maintain_order=True)
    for d, name in ((0, "stream_a"), (1, "stream_b")):
        side = keys.filter(pl.col("direction") == d).select("flow_id", pl.col("stream").alias(name))
        flows = flows.join(side, on="flow_id", how="left", maintain_order="left")
    return flows.with_columns(pl.col("stream_a", "stream_b").fill_null(-1))


MESSAGE_SCHEMA = {
    "flow_id": pl.Int64,
    "kind": pl.String,
    "index": pl.Int64,
    "pair": pl.Int64,
    "status": pl.String,
    "ts": pl.Datetime("ns", "UTC"),
    "method": pl.String,
    "uri": pl.String,
    "version": pl.String,
    "code": pl.Int64,
    "host": pl.String,
    "user_agent": pl.String,
    "content_length": pl.Int64,
    "chunked": pl.Boolean,
}


def _messages(packets: pl.DataFrame, capacity: int) -> pl.DataFrame:
    tcp = packets.filter(pl.col("ip_proto") == 6)
    return messages_from_streams(tcp, tcp_streams(tcp, capacity=capacity))


def messages_from_streams(tcp: pl.DataFrame, streams) -> pl.DataFrame:
    """The HTTP messages of reassembled streams (see :func:`tcp_streams`); ``tcp``: the
    TCP packets they were reassembled from (for the messages' times)."""
    if len(streams) == 0:
        return pl.DataFrame(schema=MESSAGE_SCHEMA)
    conns = _connections(streams)
    stream_a = conns["stream_a"].to_numpy().astype(np.int64)
    stream_b = conns["stream_b"].to_numpy().astype(np.int64)
    rows = int((streams.filled // H.MIN_MESSAGE + 1).sum())
    out = np.empty((rows, H.N_FIELDS), np.int64)
    swapped = np.zeros(len(stream_a), np.uint8)
    counters = np.zeros(H.N_COUNTERS, np.int64)
    n = int(
        H.parse_http(
            streams.buffer,
            streams.offsets.astype(np.int64),
            streams.filled.astype(np.int64),
            stream_a,
            stream_b,
            out,
            swapped,
            counters,
        )
    )
    if counters[H.C_DROPPED]:
        raise RuntimeError(f"HTTP message table full: {counters[H.C_DROPPED]} messages dropped (sizing bug)")
    f = out[:n]
    conn = f[:, H.F_CONN]
    is_request = f[:, H.F_KIND] == H.REQUEST
    client = np.where(swapped[conn] == 1, stream_b[conn], stream_a[conn])
    server = np.where(swapped[conn] == 1, stream_a[conn], stream_b[conn])
    stream = np.where(is_request, client, server)
    text = lambda off, length: _texts(streams.buffer, f[:, off], f[:, length])
    version = pl.Series(f[:, H.F_VERSION])
    status_names = pl.Series([H.STATUS_NAMES[s] for s in range(len(H.STATUS_NAMES))], dtype=pl.String)
    frame = pl.DataFrame(
        {
            "flow_id": conns["flow_id"].to_numpy()[conn],
            "kind": np.where(is_request, "request", "response"),
            "index": f[:, H.F_INDEX],
            "pair": f[:, H.F_PAIR],
            "status": status_names.gather(f[:, H.F_STATUS]),
            "ts": first_byte_times(tcp, streams, stream, f[:, H.F_START] - streams.offsets[stream]),
            "method": text(H.F_METHOD_OFF, H.F_METHOD_LEN),
            "uri": text(H.F_URI_OFF, H.F_URI_LEN),
            "version": pl.select(
                pl.when(version >= 0).then(pl.format("{}.{}", version // 10, version % 10))
            ).to_series(),
            "code": pl.Series(f[:, H.F_CODE]).replace(-1, None),
            "host": text(H.F_HOST_OFF, H.F_HOST_LEN),
            "user_agent": text(H.F_UA_OFF, H.F_UA_LEN),
            "content_length": pl.Series(f[:, H.F_CONTENT_LENGTH]).replace(-1, None),
            "chunked": f[:, H.F_CHUNKED] == 1,
        }
    )
    return frame.cast(MESSAGE_SCHEMA)


def http_messages(source, *, capacity: int = DEFAULT_CAPACITY) -> pl.DataFrame:
    """Every HTTP/1.x request and response, one row each, with its parse status.

    Parameters
    ----------
    source
        A capture path (or paths, or a :class:`~kernelkit.Trace`), the result of
        ``kernelkit.track(..., data=True)``, or its packet frame.
    capacity : int
        Bytes kept from the start of each TCP stream.

    Returns
    -------
    polars.DataFrame
        ``flow_id``; ``kind`` ("request", "response"); ``index`` (rank among the
        messages of its kind in the connection); ``pair`` (the rank of the request a
        response answers; null for 1xx interim responses); ``status`` (one of
        :data:`kernelkit.kernels.l7.http.STATUS_NAMES`: "ok", "truncated",
        "body_truncated", "body_until_close", "not_http", ...); ``ts`` (capture
        time of the message's first byte); ``method``, ``uri``, ``version``
        ("1.1"), ``code`` (responses), ``host``, ``user_agent``,
        ``content_length``, ``chunked``. A connection whose client does not begin
        with a request line has one "not_http" row.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.http import http_messages
    >>> m = http_messages(kernelkit.sample_path())
    >>> m.filter(kind="response", code=404).height
    2
    """
    packets = session_packets(source)
    frame = _messages(packets, capacity)
    return frame.with_columns(pl.col("pair").replace(-1, None))


def http_transactions(source, *, capacity: int = DEFAULT_CAPACITY) -> pl.DataFrame:
    """HTTP/1.x requests, one row each, with the status code of their response.

    Requests and responses are paired by order within the connection, as HTTP/1.x
    pipelining requires (1xx interim responses are skipped); a request whose
    response was not seen has a null ``http_status``. A request cut by the end of
    the stream prefix is kept when its method was read (``request_status`` says
    "truncated").

    Parameters
    ----------
    source
        A capture path (or paths, or a :class:`~kernelkit.Trace`), the result of
        ``kernelkit.track(..., data=True)``, or its packet frame.
    capacity : int
        Bytes kept from the start of each TCP stream (default 1 MiB). Requests and
        responses that start beyond them are not seen.

    Returns
    -------
    polars.DataFrame
        One row per request, in order of time: ``flow_id``, ``request_index`` (0, 1,
        … within the connection), ``ts`` (capture time of the request's first
        byte), ``http_method``, ``http_uri``, ``http_host``, ``http_user_agent``,
        ``http_version`` (of the request line, "1.1"), ``http_status`` (the
        response's code), ``response_ts``, and the parse status of each side,
        ``request_status`` and ``response_status`` (see :func:`http_messages`).

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.http import http_transactions
    >>> t = http_transactions(kernelkit.sample_path())
    >>> t.filter(http_method="HEAD").select("http_uri", "http_status").row(0)
    ('/index.html', 200)
    """
    return transactions_from_messages(_messages(session_packets(source), capacity))


def transactions_from_messages(messages: pl.DataFrame) -> pl.DataFrame:
    """Pair the requests and responses of :func:`messages_from_streams` (see :func:`http_transactions`)."""
    # a request cut before its method was read tells nothing
    requests = messages.filter(
        (pl.col("kind") == "request") & (pl.col("status") != "not_http") & pl.col("method").is_not_null()
    )
    responses = messages.filter((pl.col("kind") == "response") & (pl.col("pair") >= 0)).select(
        "flow_id",
        pl.col("pair").alias("index"),
        http_status="code",
        response_ts="ts",
        response_status="status",
    )
    return (
        requests.join(responses, on=["flow_id", "index"], how="left", maintain_order="left")
        .select(
            "flow_id",
            request_index="index",
            ts="ts",
            http_method="method",
            http_uri="uri",
            http_host="host",
            http_user_agent="user_agent",
            http_version="version",
            http_status="http_status",
            response_ts="response_ts",
            request_status="status",
            response_status="response_status",
        )
        .sort("ts", "flow_id", "request_index", nulls_last=True, maintain_order=True)
    )
