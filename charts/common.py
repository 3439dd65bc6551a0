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


def y_title(text: str, width: int = Y_TITLE_LINE) -> str | list[str]:
    """A y-axis title wrapped onto lines of at most ``width`` characters: a one-line title longer than the plot is
    tall runs above it and pushes the chart's own title out of view."""
    lines = textwrap.wrap(text, width) or [text]
    return lines[0] if len(lines) == 1 else lines


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
