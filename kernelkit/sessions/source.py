"""What session functions accept: a capture, a tracking result, or packets."""

from __future__ import annotations

import polars as pl

from ..conntrack import Tracked, track
from ..io.trace import Trace


def session_packets(source) -> pl.DataFrame:
    """Packets with their bytes, ``flow_id`` and ``direction``, from any session source.

    ``source`` is a capture path (or several, or a :class:`~kernelkit.Trace`),
    the result of ``kernelkit.track(..., data=True)``, or such a packet frame.

    Examples
    --------
    >>> import kernelkit
    >>> from kernelkit.sessions.source import session_packets
    >>> {"data", "flow_id", "direction"} <= set(session_packets(kernelkit.sample_path()).columns)
    True
    """
    if isinstance(source, Tracked):
        packets = source.packets
    elif isinstance(source, pl.DataFrame):
        packets = source if "flow_id" in source.columns else track(source, data=True).packets
    elif isinstance(source, (str, Trace)) or hasattr(source, "__fspath__") or isinstance(source, (list, tuple)):
        packets = track(source, data=True).packets
    else:
        raise TypeError(f"expected a capture path, a Tracked result or a packet frame, not {type(source).__name__}")
    if packets is None or "data" not in packets.columns:
        raise ValueError("session parsing needs the packets' bytes: use kernelkit.track(..., data=True)")
    return packets
