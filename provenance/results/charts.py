"""The HTML report's charts as inline SVG (a horizontal bar chart, the answer's share chart), and the
HTML escape they and the page use."""

from __future__ import annotations

import math
from typing import Any

from .headline import share_text

__all__ = ["esc", "bars", "share_chart"]


def esc(value: Any) -> str:
    """``value`` as HTML text, quotes escaped too (for attribute values)."""
    from html import escape

    return escape(str(value), quote=True)


def bars(title: str, labels: list[str], values: list[float], *, fmt: str = "{:,}",
         whiskers: list[tuple[float, float]] | None = None, width: int = 460) -> str:
    """A horizontal bar chart as inline SVG (optionally with interval whiskers)."""
    top = max([*values, *(hi for _, hi in (whiskers or []))], default=0) or 1
    row, label_w, chart_w = 22, 150, width - 150 - 70
    height = row * len(labels) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" '
             f'aria-label="{esc(title)}">']
    for i, (label, v) in enumerate(zip(labels, values)):
        y = 4 + i * row
        w = chart_w * v / top
        end = max(w, chart_w * whiskers[i][1] / top) if whiskers else w  # the value right of its whisker
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{esc(label[:24])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="#3b6fb6"/>'
                     f'<text x="{label_w + end + 4:.1f}" y="{y + 14}" font-size="12">{esc(fmt.format(v))}</text>')
        if whiskers:
            lo, hi = whiskers[i]
            x0, x1 = label_w + chart_w * lo / top, label_w + chart_w * hi / top
            parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y + row / 2}" y2="{y + row / 2}" stroke="#c0392b" '
                         f'stroke-width="2"/>')
    parts.append("</svg>")
    return f"<figure><figcaption>{esc(title)}</figcaption>{''.join(parts)}</figure>"


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``x`` (at most 1)."""
    if x <= 0:
        return 0.01
    power = 10.0 ** math.floor(math.log10(x))
    return min(1.0, next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-12)))


def share_chart(s: dict[str, Any]) -> str:
    """One chart: the licensed share of the corpus's characters as a bar, its interval as a whisker,
    on an axis from 0 to a round share above the interval. Inline SVG that scales to the page width."""
    est = s.get("estimates", {}).get("share_chars_matched")
    value = est["value"] if est else s["share_chars_matched"]
    lo, hi = (est["ci_low"], est["ci_high"]) if est else (value, value)
    top = _nice_ceiling(max(hi, value) * 1.15)
    x0, w, y, h = 24, 552, 18, 26
    X = lambda v: x0 + w * v / top  # noqa: E731
    mantissa = round(top / 10.0 ** math.floor(math.log10(top)), 6)
    step = top / {1: 5, 2: 4, 2.5: 5, 5: 5, 10: 5}.get(mantissa, 4)
    ticks = "".join(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{y + h}" y2="{y + h + 5}" stroke="#888"/>'
                    f'<text x="{X(t):.1f}" y="{y + h + 18}" font-size="12" text-anchor="middle">'
                    f"{round(100 * t, 6):g} %</text>" for t in (k * step for k in range(round(top / step) + 1)))
    whisker = ""
    if hi > lo:
        whisker = (f'<line class="ci" x1="{X(lo):.1f}" x2="{X(hi):.1f}" y1="{y + h / 2}" y2="{y + h / 2}" stroke="#c0392b" '
                   f'stroke-width="3"/>' + "".join(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{y + 5}" y2="{y + h - 5}" '
                                                   f'stroke="#c0392b" stroke-width="2"/>' for v in (lo, hi)))
    label = f"licensed share of the corpus's characters: {share_text(value)}" + (
        f" (interval {share_text(lo)} – {share_text(hi)})" if hi > lo else "")
    return (f'<figure class="answer-chart"><figcaption>{esc(label)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 70" width="100%" role="img" '
            f'aria-label="{esc(label)}" data-share="{value}" data-top="{top}">'
            f'<rect x="{x0}" y="{y}" width="{w}" height="{h}" fill="#eef2f8"/>'
            f'<rect class="share" x="{x0}" y="{y}" width="{w * value / top:.2f}" height="{h}" fill="#3b6fb6"/>'
            f"{whisker}{ticks}</svg></figure>")
