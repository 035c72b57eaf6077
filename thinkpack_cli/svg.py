"""Small inline SVG charts for ``tp report``: a line chart and a grouped bar chart, drawn here so the
report needs no plotting library and no network when it is opened."""

from __future__ import annotations

from html import escape

# Colour-blind-safe (Okabe–Ito), one per run or status.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 64


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _frame(title: str, y_max: float, y_format, x_labels: list[str]) -> list[str]:
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = y_max * i / 4
        y = TOP + inner_h - inner_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{escape(y_format(value))}</text>'
        )
    step = (WIDTH - LEFT - RIGHT) / max(len(x_labels), 1)
    for i, label in enumerate(x_labels):
        x = LEFT + step * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="10">{escape(label)}</text>'
        )
    return parts


def line_chart(
    title: str,
    x_labels: list[str],
    series: list[tuple[str, list[float | None]]],
    y_max: float = 1.0,
    y_format=lambda v: f"{v:.0%}",
) -> str:
    """One line per series over categorical x positions; a None is a gap (an empty bin)."""
    parts = _frame(title, y_max, y_format, x_labels)
    inner_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(x_labels), 1)
    for s, (name, values) in enumerate(series):
        points = [
            (LEFT + step * (i + 0.5), TOP + inner_h - inner_h * (v / y_max if y_max else 0))
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline fill="none" stroke="{colour(s)}" stroke-width="2" points="{path}"/>')
        for x, y in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour(s)}"/>')
    parts += _legend([name for name, _ in series])
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str,
    x_labels: list[str],
    series: list[tuple[str, list[float]]],
    y_format=lambda v: f"{v:,.0f}",
    y_max: float | None = None,
) -> str:
    """Grouped bars: for each x position, one bar per series (``y_max``: the top of the axis, else the data's)."""
    y_max = y_max or max([v for _, values in series for v in values] + [0]) or 1
    parts = _frame(title, y_max, y_format, x_labels)
    inner_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(x_labels), 1)
    width = step * 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series):
        for i, v in enumerate(values):
            h = inner_h * v / y_max
            x = LEFT + step * i + step * 0.1 + width * s
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + inner_h - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
                f'fill="{colour(s)}"><title>{escape(name)}: {escape(y_format(v))}</title></rect>'
            )
    parts += _legend([name for name, _ in series])
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[str]) -> list[str]:
    parts, x = [], LEFT
    for i, name in enumerate(names):
        label = name if len(name) <= 40 else "…" + name[-39:]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="10" height="10" fill="{colour(i)}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 13}" font-size="11">{escape(label)}</text>')
        x += 24 + 6.5 * len(label)
    return parts
