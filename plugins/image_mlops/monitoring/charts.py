"""The KPI page's charts, drawn by matplotlib as SVG on the server.

Real time axes (ticks placed and labelled by matplotlib's date locator), a legend per series,
the alarm threshold as a dashed line; text stays text (``svg.fonttype: none``), so the page
is searchable and a screen reader reads it. Hovering a point shows its series, time and value:
each marker gets an SVG ``<title>``, the way matplotlib's own SVG tooltip example adds them
(the artists are tagged with a ``gid`` and the saved SVG is annotated). No JavaScript and no
CDN: the page works offline.
Each chart is its own :class:`~matplotlib.figure.Figure` (no pyplot state), so the
api-server's threads draw side by side.
"""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

#: A point of a series: (time, value).
Point = tuple[dt.datetime, float]
WIDTH_IN, HEIGHT_IN = 5.2, 2.6
SVG_NS, XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
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
    hover: dict[str, list[str]] = {}  # gid of an artist -> the tooltip of each of its markers
    for index, (name, points) in enumerate(sorted(series.items())):
        if not points:
            continue
        times, values = zip(*sorted(points), strict=True)
        gid = f"series-{index}"
        hover[gid] = [f"{name} · {_when(t)} · {v:.4g}" for t, v in zip(times, values, strict=True)]
        ax.plot(
            times,
            values,
            marker="o",
            markersize=3,
            linewidth=1.5,
            color=COLOURS[index % len(COLOURS)],
            label=name,
            gid=gid,
        )
    drawn = bool(hover)
    if threshold is not None:
        ax.axhline(
            threshold,
            color="#a40000",
            linestyle="--",
            linewidth=1,
            label="alarm threshold",
            gid="threshold",
        )
        hover["threshold"] = [f"alarm threshold · {threshold:.4g}"]
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
    return _with_tooltips(_svg(fig), hover)


def _when(time: dt.datetime) -> str:
    return time.strftime("%Y-%m-%d %H:%M") + (f" {time.tzname()}" if time.tzinfo else "")


def _svg(fig) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "image-mlops"}):
        fig.savefig(buffer, format="svg")
    return buffer.getvalue()


def _with_tooltips(svg: str, hover: Mapping[str, Sequence[str]]) -> str:
    """``svg`` with a ``<title>`` on each marker (``<use>``) of the tagged artists, or on the
    artist's group when it has no markers; inline-ready (no XML declaration or DOCTYPE).

    The tags are removed again (five charts share one page, and the ids would repeat), and so
    is matplotlib's ``<metadata>`` (its render date would make every page differ).
    """
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    for metadata in root.findall(f"{{{SVG_NS}}}metadata"):
        root.remove(metadata)
    for group in root.iter(f"{{{SVG_NS}}}g"):
        texts = hover.get(group.get("id", ""))
        if texts is None:
            continue
        del group.attrib["id"]
        markers = list(group.iter(f"{{{SVG_NS}}}use"))
        if not markers:
            ET.SubElement(group, f"{{{SVG_NS}}}title").text = texts[0]
            continue
        # matplotlib writes one <use> per vertex, in the order the points were given
        for marker, text in zip(markers, texts, strict=True):
            ET.SubElement(marker, f"{{{SVG_NS}}}title").text = text
    return ET.tostring(root, encoding="unicode")
