"""Helpers shared by chart builders."""

from __future__ import annotations

import math
import textwrap

import altair as alt
import numpy as np
import pandas as pd

# Charts carry their data as DataFrames: Streamlit ships them to the browser as Arrow, and to_dict() (export,
# tests) writes them as a top-level dataset. The 5,000-row cap of altair's default transformer would refuse the
# larger heatmaps (10,000+ cells), so it is lifted here, where every chart is made.
alt.data_transformers.disable_max_rows()


# Charts drawn at the container's width: the width fits the container, and ``height`` stays the plot's height, as
# in Vega-Lite. Without this, Streamlit fits title, legend, axes and plot all into ``height`` (measured: a
# 200-high chart with a title and a top legend kept a 28-pixel plot).
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")

Y_TITLE_LINE = 20  # characters per line of a y-axis title

LABEL_LIMIT = 400  # pixels a legend or axis label may take before Vega-Lite cuts it with "…" (its default: 160)
LEGEND_ROW = 20  # pixels per legend entry of stroke symbols as Streamlit draws it (12-pixel labels and padding)
LEGEND_ROW_FILLED = 30  # pixels per legend entry of points or bars (Streamlit's larger filled symbols)
LEGEND_TITLE = 25  # pixels of a legend's title row
X_AXIS_BAND = 40  # pixels under a plot taken by its x-axis labels and title, which a right-hand legend may use too


def y_title(text: str, width: int = Y_TITLE_LINE) -> str | list[str]:
    """A y-axis title wrapped onto lines of at most ``width`` characters: a one-line title longer than the plot is
    tall runs above it and pushes the chart's own title out of view."""
    lines = textwrap.wrap(text, width) or [text]
    return lines[0] if len(lines) == 1 else lines


TITLE_CHAR = 8  # pixels per character of a chart title as Streamlit draws it (bold, about 15 pixels high)


def wrapped_title(text: str, width: int) -> str | list[str]:
    """A chart title on lines no wider than ``width`` pixels: a fixed-width chart's title longer than the chart
    runs past it, into the next column or out of view."""
    lines = textwrap.wrap(text, max(10, width // TITLE_CHAR)) or [text]
    return lines[0] if len(lines) == 1 else lines


def facet_width(n_panels: int, columns: int, panel: int, spacing: int = 20) -> int:
    """Pixels across a wrapped facet's panels (its y axis not counted)."""
    shown = max(1, min(columns, n_panels))
    return shown * panel + (shown - 1) * spacing


def legend_rows(height: int, axis_band: int = X_AXIS_BAND, row: int = LEGEND_ROW) -> int:
    """Entries of a right-hand legend, ``row`` pixels each, that fit one column beside a plot ``height`` pixels high
    over an x axis ``axis_band`` high: Streamlit draws a stretched chart in a box as high as its plot and x axis
    and cuts off whatever of the legend runs below."""
    return max(1, (height + axis_band - LEGEND_TITLE) // row)


def fitted_legend(
    n_entries: int,
    height: int,
    max_columns: int = 2,
    axis_band: int = X_AXIS_BAND,
    row: int = LEGEND_ROW,
    **kwargs,
) -> tuple[alt.Legend, int]:
    """A right-hand legend that shows all ``n_entries`` (no symbol limit, labels up to LABEL_LIMIT pixels), and
    the plot height that holds its rows: ``height`` or more, up to 1.6 times it before a second column (of at most
    ``max_columns``) takes width from the plot."""
    tallest = legend_rows(int(1.6 * height), axis_band, row)
    columns = min(max_columns, max(1, math.ceil(n_entries / tallest)))
    rows = math.ceil(n_entries / columns) if n_entries else 0
    need = rows * row + LEGEND_TITLE - axis_band
    legend = alt.Legend(columns=columns, symbolLimit=0, labelLimit=LABEL_LIMIT, titleLimit=LABEL_LIMIT, **kwargs)
    return legend, max(height, need)


def panel_order(df: pd.DataFrame, field: str = "label") -> list:
    """The values of ``field`` in the order they first appear in ``df``, for a facet's ``sort``: the frames list
    instances in ascending order, and Vega-Lite orders panels as strings otherwise, even with ``sort=None``
    (#0, #11, #13, …, #19, #2, #4)."""
    return pd.unique(df[field]).tolist() if field in df else []


def lone_points(steps) -> bool:
    """Whether a line chart over these logged steps needs point marks: a line needs two points to show at all."""
    return int(pd.Series(steps).nunique()) < 3


def pick_instances(n_instances: int, max_shown: int) -> np.ndarray:
    """Up to ``max_shown`` instance indices spread evenly over [0, n_instances), always with the first and last."""
    if n_instances <= max_shown:
        return np.arange(n_instances)
    return np.unique(np.round(np.linspace(0, n_instances - 1, max_shown)).astype(int))


def decade_domain(values: np.ndarray, floor: float = 1e-8) -> list[float]:
    """[10^a, 10^b] enclosing the finite positive values: a log axis that only moves at decade boundaries."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return [floor, 1.0]
    lo = 10.0 ** math.floor(math.log10(max(v.min(), floor)))
    hi = 10.0 ** math.ceil(math.log10(v.max()))
    return [lo, hi if hi > lo else lo * 10]


def probability_label(p: float) -> str:
    """'1−S = 0.05' style label for a feature probability."""
    return f"1−S = {p:.3g}"


def instance_labels(p: np.ndarray) -> list[str]:
    """'#3 · 1−S = 0.05' for every instance, from its feature probability."""
    return [f"#{i} · {probability_label(v)}" for i, v in enumerate(p)]


def chart_data(df: pd.DataFrame) -> pd.DataFrame:
    """A chart's data: a copy with ±inf made NaN (null in the spec, dropped by Vega-Lite's scales).

    Passing the frame rather than ``alt.Data(values=records)`` matters for speed: altair validates inline records
    one by one, 2.3 s for a 10,000-cell heatmap, against 0.1 s for the frame (measured with altair 6.3).
    """
    out = df.copy()
    for name in out.columns:
        if pd.api.types.is_float_dtype(out[name]):
            out[name] = out[name].where(np.isfinite(out[name]))
    return out
