"""Bar charts as inline SVG, drawn on the server: no script, no library, nothing fetched.

Each series has its own fill pattern as well as its own colour, every bar carries
its number as text, and the chart is one `role="img"` with an accessible name;
the page shows the same numbers in a table beside it for screen readers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Format = Callable[[float], str]
_ids = itertools.count(1)

# (colour, pattern body): told apart by pattern alone, and by colour with sufficient contrast.
_FILLS = (
    ("#1d4f91", ""),
    ("#b34700", '<path d="M0,6 L6,0" stroke="#fff" stroke-width="1.6"/>'),
    ("#2e6b30", '<circle cx="3" cy="3" r="1.3" fill="#fff"/>'),
    ("#5b3f8c", '<path d="M0,3 H6" stroke="#fff" stroke-width="1.6"/>'),
)
_TEXT = 'font-family="inherit" fill="#1b1b1b"'


@dataclass(frozen=True)
class Series:
    """One kind of bar: its name (in the legend) and one value per category.

    `labels`, when given, is the text on each bar instead of the formatted value.
    """

    name: str
    values: Sequence[float]
    labels: Sequence[str] | None = None

    def label(self, n: int, fmt: Format) -> str:
        return self.labels[n] if self.labels is not None else fmt(self.values[n])


def _text(attributes: str, content: str) -> str:
    return f"<text {attributes} {_TEXT}>{escape(content)}</text>"


def _bar(uid: str, n: int, geometry: str, outline: str = "") -> str:
    """A rectangle in series `n`'s fill, so bars and legend keys match."""
    return f'<rect {geometry} fill="url(#{uid}-p{n})"{outline}/>'


def _peak(values: Iterable[float]) -> float:
    # An empty or all-zero chart still divides by something.
    return max(values, default=0) or 1


def _defs(uid: str, count: int) -> str:
    patterns = []
    for n, (colour, body) in enumerate(_FILLS[:count]):
        patterns.append(
            f'<pattern id="{uid}-p{n}" width="6" height="6" patternUnits="userSpaceOnUse">'
            f'<rect width="6" height="6" fill="{colour}"/>{body}</pattern>'
        )
    return f"<defs>{''.join(patterns)}</defs>"


def _legend(uid: str, series: Sequence[Series], y: float) -> str:
    parts, x = [], 0.0
    for n, s in enumerate(series):
        key = f'x="{x}" y="{y}" width="14" height="14"'
        parts.append(
            _bar(uid, n, key, ' stroke="#1b1b1b" stroke-width="0.5"')
            + _text(f'x="{x + 20}" y="{y + 11}" font-size="13"', s.name)
        )
        x += 30 + 8 * len(s.name)
    return "".join(parts)


def _frame(uid: str, title: str, summary: str, width: float, height: float, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" aria-labelledby="{uid}-t {uid}-d" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(summary)}</desc>'
        f"{body}</svg>"
    )


def _category(x0: float, y: float, category: str) -> str:
    """A row's name, right-aligned before the bars that start at `x0`."""
    return _text(f'x="{x0 - 8}" y="{y:.1f}" font-size="13" text-anchor="end"', category)


def _rows_frame(
    uid: str,
    title: str,
    summary: str,
    width: float,
    x0: float,
    top: float,
    height: float,
    body: list[str],
) -> Markup:
    """A chart of horizontal rows, closed by the axis the bars start from."""
    axis = f'<line x1="{x0}" x2="{x0}" y1="{top - 2}" y2="{height - 4}" stroke="#1b1b1b"/>'
    return _frame(uid, title, summary, width, height, "".join([*body, axis]))


def columns(
    title: str,
    summary: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
) -> Markup:
    """Vertical bars, one group per category (e.g. a month), one bar per series."""
    uid = f"chart{next(_ids)}"
    bar, gap, plot, top, left = 13.0, 10.0, 200.0, 34.0, 56.0
    group = bar * len(series) + gap
    width = max(left + group * len(categories) + 10, 320)
    peak = _peak(v for s in series for v in s.values)
    body = [_defs(uid, len(series)), _legend(uid, series, 0)]
    base = top + plot
    body.append(f'<line x1="0" x2="{width}" y1="{base}" y2="{base}" stroke="#1b1b1b"/>')
    for c, category in enumerate(categories):
        x0 = left + c * group
        for n, s in enumerate(series):
            h = plot * s.values[c] / peak
            x = x0 + n * bar
            geometry = f'x="{x:.1f}" y="{base - h:.1f}" width="{bar - 2}" height="{h:.1f}"'
            above = f'x="{x + (bar - 2) / 2:.1f}" y="{base - h - 3:.1f}" font-size="10"'
            body.append(
                _bar(uid, n, geometry) + _text(f'{above} text-anchor="middle"', s.label(c, fmt))
            )
        label_x = x0 + (group - gap) / 2
        tilted = f'text-anchor="end" transform="rotate(-45 {label_x:.1f} {base + 14})"'
        body.append(_text(f'x="{label_x:.1f}" y="{base + 14}" font-size="11" {tilted}', category))
    return _frame(uid, title, summary, width, base + 62, "".join(body))


def bars(
    title: str,
    summary: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
    label_width: float = 190.0,
) -> Markup:
    """Horizontal bars, one row per category (a stage, a pair of partners), one bar per series."""
    uid = f"chart{next(_ids)}"
    bar, gap, plot, top = 18.0, 10.0, 420.0, 28.0
    row = bar * len(series) + gap
    width = label_width + plot + 110
    peak = _peak(v for s in series for v in s.values)
    body = [_defs(uid, len(series))]
    if len(series) > 1:
        body.append(_legend(uid, series, 0))
    else:
        top = 4.0
    x0 = label_width
    for c, category in enumerate(categories):
        y0 = top + c * row
        body.append(_category(x0, y0 + row / 2 + 1, category))
        for n, s in enumerate(series):
            w = plot * s.values[c] / peak
            y = y0 + n * bar
            geometry = f'x="{x0}" y="{y:.1f}" width="{w:.1f}" height="{bar - 3}"'
            after = f'x="{x0 + w + 5:.1f}" y="{y + bar - 7:.1f}" font-size="12"'
            body.append(_bar(uid, n, geometry) + _text(after, s.label(c, fmt)))
    return _rows_frame(uid, title, summary, width, x0, top, top + row * len(categories) + 4, body)


def stacked(
    title: str,
    summary: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
    label_width: float = 190.0,
) -> Markup:
    """One horizontal bar per category, split into one segment per series.

    The text after each bar gives every segment's number in the legend's order.
    """
    uid = f"chart{next(_ids)}"
    bar, gap, plot, top = 18.0, 6.0, 420.0, 28.0
    row = bar + gap
    width = label_width + plot + 150
    totals = [sum(s.values[c] for s in series) for c in range(len(categories))]
    peak = _peak(totals)
    body = [_defs(uid, len(series)), _legend(uid, series, 0)]
    x0 = label_width
    for c, category in enumerate(categories):
        y = top + c * row
        body.append(_category(x0, y + bar - 5, category))
        x = x0
        for n, s in enumerate(series):
            w = plot * s.values[c] / peak
            geometry = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2}"'
            body.append(_bar(uid, n, geometry, ' stroke="#fff" stroke-width="0.5"'))
            x += w
        text = " · ".join(s.label(c, fmt) for s in series)
        body.append(_text(f'x="{x + 6:.1f}" y="{y + bar - 5:.1f}" font-size="12"', text))
    return _rows_frame(uid, title, summary, width, x0, top, top + row * len(categories) + 4, body)
