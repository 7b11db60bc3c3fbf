"""Tiny server-side SVG charts (no JavaScript, no CDN) for the report and the KPI page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def bar_chart(
    groups: Mapping[str, Mapping[str, float]],
    series: Sequence[str],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    y_max: float | None = None,
) -> str:
    """Grouped bars: one group per key of ``groups``, one bar per name in ``series``."""
    pad_l, pad_b, pad_t = 36, 40, 24
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    top = y_max or max([v for g in groups.values() for v in g.values()] + [1])
    n = max(len(groups), 1)
    group_w = plot_w / n
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 10}" y2="{pad_t + plot_h}" '
        'stroke="#999"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="10">{top:g}</text>',
    ]
    for gi, (group, values) in enumerate(groups.items()):
        gx = pad_l + gi * group_w + group_w * 0.1
        for si, name in enumerate(series):
            value = float(values.get(name, 0.0))
            h = plot_h * min(value / top, 1.0) if top else 0
            x = gx + si * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar_w * 0.9:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                f"<title>{escape(group)} {escape(name)}: {value:g}</title></rect>"
            )
        parts.append(
            f'<text x="{gx + group_w * 0.4:.1f}" y="{pad_t + plot_h + 14}" font-size="11" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
    for si, name in enumerate(series):
        parts.append(
            f'<rect x="{pad_l + si * 90}" y="{height - 14}" width="10" height="10" '
            f'fill="{PALETTE[si % len(PALETTE)]}"/><text x="{pad_l + si * 90 + 14}" '
            f'y="{height - 5}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    lines: Mapping[str, Sequence[tuple[dt.datetime, float]]],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    threshold: float | None = None,
) -> str:
    """Lines over time, one per key (e.g. per class); an optional dashed threshold."""
    pad_l, pad_b, pad_t, pad_r = 40, 38, 24, 90
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    points = [p for pts in lines.values() for p in pts]
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{pad_l}" y="{pad_t}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{pad_l + 10}" y="{pad_t + plot_h / 2}" font-size="12" fill="#777">'
            "no data yet</text></svg>"
        )
        return "".join(parts)
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    values = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    lo, hi = min(0.0, *values), max(values) or 1.0
    span_t = (t1 - t0) or 1.0

    def xy(ts: dt.datetime, v: float) -> tuple[float, float]:
        x = pad_l + (ts.timestamp() - t0) / span_t * plot_w if t1 > t0 else pad_l + plot_w / 2
        y = pad_t + plot_h - (v - lo) / ((hi - lo) or 1.0) * plot_h
        return x, y

    parts.append(f'<text x="4" y="{pad_t + 10}" font-size="10">{hi:.3g}</text>')
    parts.append(f'<text x="4" y="{pad_t + plot_h}" font-size="10">{lo:.3g}</text>')
    first = dt.datetime.fromtimestamp(t0, dt.UTC)
    last = dt.datetime.fromtimestamp(t1, dt.UTC)
    parts.append(
        f'<text x="{pad_l}" y="{height - 20}" font-size="10">{first:%m-%d %H:%M}</text>'
        f'<text x="{pad_l + plot_w}" y="{height - 20}" font-size="10" text-anchor="end">'
        f"{last:%m-%d %H:%M} UTC</text>"
    )
    if threshold is not None:
        _, ty = xy(first, threshold)
        parts.append(
            f'<line x1="{pad_l}" y1="{ty:.1f}" x2="{pad_l + plot_w}" y2="{ty:.1f}" '
            'stroke="#d62728" stroke-dasharray="4 3"/>'
        )
    for i, (name, pts) in enumerate(lines.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = [xy(ts, v) for ts, v in sorted(pts)]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for (x, y), (ts, v) in zip(coords, sorted(pts), strict=False):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                f"<title>{escape(name)} {ts:%Y-%m-%d %H:%M}: {v:.4g}</title></circle>"
            )
        parts.append(
            f'<rect x="{width - pad_r + 8}" y="{pad_t + i * 15}" width="10" height="10" '
            f'fill="{color}"/><text x="{width - pad_r + 22}" y="{pad_t + i * 15 + 9}" '
            f'font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
