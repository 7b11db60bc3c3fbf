"""A tiny server-side SVG bar chart (no JavaScript, no CDN) for the monitoring report."""

from __future__ import annotations

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
