"""The KPI page's charts, drawn by matplotlib as SVG on the server.

Real time axes (ticks placed and labelled by matplotlib's date locator), a legend per series,
the alarm threshold as a dashed line; text stays text (``svg.fonttype: none``), so the page
is searchable and a screen reader reads it. No JavaScript and no CDN: the page works offline.
Each chart is its own :class:`~matplotlib.figure.Figure` (no pyplot state), so the
api-server's threads draw side by side.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence

#: A point of a series: (time, value).
Point = tuple[dt.datetime, float]
WIDTH_IN, HEIGHT_IN = 5.2, 2.6
COLOURS = ("#3f51b5", "#e6a100", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#5d4037", "#546e7a")


def line_chart(
    series: Mapping[str, Sequence[Point]], *, title: str, threshold: float | None = None
) -> str:
    """An SVG document (as text) of ``series`` over time; "no data" when every series is empty."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=96, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=10)
    drawn = False
    for index, (name, points) in enumerate(sorted(series.items())):
        if not points:
            continue
        times, values = zip(*sorted(points), strict=True)
        ax.plot(
            times,
            values,
            marker="o",
            markersize=3,
            linewidth=1.5,
            color=COLOURS[index % len(COLOURS)],
            label=name,
        )
        drawn = True
    if threshold is not None:
        ax.axhline(threshold, color="#a40000", linestyle="--", linewidth=1, label="alarm threshold")
    if drawn:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.legend(fontsize=7, loc="best", frameon=False, ncols=2)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", color="#5a6275")
    ax.grid(True, color="#e4e7ee", linewidth=0.6)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def _svg(fig) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "image-mlops"}):
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline in the page: no XML declaration or DOCTYPE
