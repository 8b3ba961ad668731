"""The notebook face: an interactive explorer of a trace, and the model behind it.

``kernelkit.explore(source)`` returns an ipywidgets application (display it, or
let it be the last expression of a cell): a filter box in the language of
:mod:`kernelkit.filter`, a time-range slider and protocol toggles over linked views
— traffic over time, top talkers, top flows, flow-size and duration
distributions, anomalies by status code — and a drill-down into one connection's
packets, with a time-sequence plot for TCP. The logic lives in
:class:`~kernelkit.explore.model.ExplorerModel` (no widgets: usable and testable
on its own); the widgets in :mod:`kernelkit.explore.widget`.

Examples
--------
>>> import kernelkit, kernelkit.explore
>>> app = kernelkit.explore(kernelkit.sample_path())
>>> app.filter_box.value = "tcp.port == 80"
>>> app.model.summary()["flows"] < 41
True
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping

from .model import PROTOCOLS, SORT_KEYS, VIEWS, ExplorerModel, Selection


def explore(
    source, flows=None, *, sessions: Mapping | None = None, top: int = 20, talkers: int = 10, **track_options
):
    """An interactive explorer of a trace: filter, time range and protocols over linked views.

    Parameters
    ----------
    source : path, Tracked, (packets, flows), polars.DataFrame or ExplorerModel
        A capture file (tracked here with :func:`kernelkit.track`), a tracking
        result, a (packets, flows) pair of frames, or packets (tracked here unless
        ``flows`` is given and they carry ``flow_id``).
    flows : polars.DataFrame, optional
        The connections, when ``source`` is a packet frame.
    sessions : mapping, optional
        Session tables by name (``tls``, ``http``, ``dns``, ``quic``), for filters on
        session fields.
    top, talkers : int
        Rows of the top-flows table and bars of the top-talkers chart.
    **track_options
        Passed to :func:`kernelkit.track` when the packets are tracked here.

    Returns
    -------
    kernelkit.explore.widget.Explorer
        An ipywidgets ``VBox``; ``.model`` is its :class:`ExplorerModel`.

    Examples
    --------
    >>> import kernelkit, kernelkit.explore
    >>> app = kernelkit.explore(kernelkit.track(kernelkit.sample_path()))
    >>> app.model.summary()["packets"]
    403
    """
    from .widget import Explorer

    model = ExplorerModel.from_source(source, flows, sessions=sessions, **track_options)
    return Explorer(model, top=top, talkers=talkers)


def __getattr__(name):
    if name == "Explorer":  # the widgets load with the first explorer, not with kernelkit
        from .widget import Explorer

        return Explorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _ExploreModule(types.ModuleType):
    """The package is callable: ``kernelkit.explore(source)`` is :func:`explore`."""

    def __call__(self, *args, **kwargs):
        return explore(*args, **kwargs)


sys.modules[__name__].__class__ = _ExploreModule

__all__ = ["PROTOCOLS", "SORT_KEYS", "VIEWS", "Explorer", "ExplorerModel", "Selection", "explore"]
