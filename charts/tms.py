"""Charts of the storage toys (Toy Models of Superposition)."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from charts.common import (
    FIT_WIDTH,
    chart_data,
    decade_domain,
    facet_width,
    fitted_legend,
    lone_points,
    panel_order,
    wrapped_title,
)

SUPERPOSITION_SCALE = alt.Scale(domain=[0, 1], scheme="viridis", clamp=True)
PANEL = 130  # pixels: side of one instance's square panel of feature directions


def loss_frame(loss: np.ndarray, steps: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Long table (step, instance, label, loss) from a (n_logged, I) loss history."""
    n, n_inst = loss.shape
    return pd.DataFrame(
        {
            "step": np.repeat(steps, n_inst),
            "instance": np.tile(np.arange(n_inst), n),
            "label": np.tile(np.asarray(labels, dtype=object), n),
            "loss": loss.reshape(-1),
        }
    )


def loss_chart(df: pd.DataFrame, total_steps: int, height: int = 160) -> alt.Chart:
    """Loss per instance against step: x fixed to the step budget, y a log axis that moves only by decades."""
    finite = df[np.isfinite(df["loss"]) & (df["loss"] > 0)]
    order = panel_order(df)
    legend, height = fitted_legend(len(order), height, symbolType="stroke")  # rows as thin as lines
    if finite.empty:  # no line yet: no legend either (its title alone, over nothing, read as a broken chart)
        legend = None
    domain = decade_domain(finite["loss"].to_numpy())
    x = alt.X("step:Q", scale=alt.Scale(domain=[0, total_steps]), title="step")
    y = alt.Y("loss:Q", scale=alt.Scale(type="log", domain=domain), title="loss")
    lines = (
        alt.Chart(chart_data(finite), title="Loss per instance")
        .mark_line(strokeWidth=1.5, point=lone_points(finite["step"]))
        .encode(
            x=x,
            y=y,
            color=alt.Color("label:N", sort=order, title="instance", scale=alt.Scale(scheme="viridis"), legend=legend),
            tooltip=["label:N", "step:Q", alt.Tooltip("loss:Q", format=".3e")],
        )
    )
    if finite.empty:  # nothing logged yet (step 0): say so where the lines will be, not empty axes
        middle = pd.DataFrame({"step": [total_steps / 2], "loss": [math.sqrt(domain[0] * domain[1])]})
        note = (
            alt.Chart(middle)
            .mark_text(text="no loss logged yet: press Play or Step", color="gray", fontSize=14)
            .encode(x=x, y=y)
        )
        return alt.layer(lines, note).properties(height=height, autosize=FIT_WIDTH)
    return lines.properties(height=height, autosize=FIT_WIDTH)


def feature_frame(W: np.ndarray, instances: np.ndarray, labels: list[str], norms, superposition, dims) -> pd.DataFrame:
    """One row per (shown instance, feature) with norm, superposition score and dimensionality."""
    rows = []
    for i in instances:
        for f in range(W.shape[2]):
            rows.append(
                {
                    "instance": int(i),
                    "label": labels[i],
                    "feature": f,
                    "norm": float(norms[i, f]),
                    "superposition": float(superposition[i, f]),
                    "dimensionality": float(dims[i, f]),
                }
            )
    return pd.DataFrame(rows)


def norm_bars(df: pd.DataFrame, columns: int = 5, max_norm: float = 1.5) -> alt.FacetChart:
    """The paper's figure: ‖W_i‖ per feature, coloured by superposition score, one panel per instance."""
    return (
        alt.Chart(chart_data(df))
        .mark_bar()
        .encode(
            y=alt.Y("feature:O", title="feature"),
            x=alt.X("norm:Q", scale=alt.Scale(domain=[0, max_norm], clamp=True), title="‖W_i‖"),
            color=alt.Color("superposition:Q", scale=SUPERPOSITION_SCALE, title="superposition"),
            tooltip=[
                "feature:O",
                alt.Tooltip("norm:Q", format=".3f"),
                alt.Tooltip("superposition:Q", format=".3f"),
                alt.Tooltip("dimensionality:Q", format=".3f"),
            ],
        )
        .properties(width=110, height=alt.Step(8 if df["feature"].nunique() > 20 else 14))
        .facet(facet=alt.Facet("label:N", sort=panel_order(df), title=None), columns=columns)
        .properties(
            title=wrapped_title(
                "Feature norms, coloured by superposition", facet_width(df["label"].nunique(), columns, 110)
            )
        )
    )


def wtw_frame(W: np.ndarray, instances: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Long table of WᵀW entries (F x F per shown instance)."""
    F = W.shape[2]
    frames = []
    for i in instances:
        g = W[i].T @ W[i]  # (F, F)
        frames.append(
            pd.DataFrame(
                {
                    "label": labels[i],
                    "row": np.repeat(np.arange(F), F),
                    "col": np.tile(np.arange(F), F),
                    "value": g.reshape(-1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def wtw_panel(df: pd.DataFrame) -> alt.Chart:
    """WᵀW cells (``wtw_frame`` rows) on a fixed diverging scale [-1, 1], unsized and unfaceted."""
    return (
        alt.Chart(chart_data(df))
        .mark_rect()
        .encode(
            x=alt.X("col:O", axis=None),
            y=alt.Y("row:O", axis=None),
            color=alt.Color(
                "value:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True, clamp=True), title="WᵀW"
            ),
            tooltip=["row:O", "col:O", alt.Tooltip("value:Q", format=".3f")],
        )
    )


def wtw_heatmaps(df: pd.DataFrame, columns: int = 5) -> alt.FacetChart:
    """WᵀW per instance on a fixed diverging scale [-1, 1]."""
    n = int(df["row"].max()) + 1 if len(df) else 1
    cell = max(3, min(14, 110 // n))
    return (
        wtw_panel(df)
        .properties(width=cell * n, height=cell * n)
        .facet(facet=alt.Facet("label:N", sort=panel_order(df), title=None), columns=columns)
        .properties(title="WᵀW")
    )


def directions_frame(W: np.ndarray, instances: np.ndarray, labels: list[str], superposition) -> pd.DataFrame:
    """Arrow segments from the origin to every feature's 2-d direction (needs n_hidden = 2)."""
    if W.shape[1] != 2:
        raise ValueError(f"feature directions need n_hidden = 2, got {W.shape[1]}")
    rows = []
    for i in instances:
        for f in range(W.shape[2]):
            for end, (x, y) in enumerate(((0.0, 0.0), (W[i, 0, f], W[i, 1, f]))):
                rows.append(
                    {
                        "label": labels[i],
                        "feature": f,
                        "end": end,
                        "x": float(x),
                        "y": float(y),
                        "superposition": float(superposition[i, f]),
                    }
                )
    return pd.DataFrame(rows)


def directions_chart(df: pd.DataFrame, columns: int = 5, lim: float = 1.5) -> alt.FacetChart:
    """Feature directions in the 2-d hidden space as arrows, on equal axes: [-lim, lim] over ``PANEL`` pixels each
    (by the scales' ranges too, so no view size can stretch one axis)."""
    x_scale = alt.Scale(domain=[-lim, lim], clamp=True, range=[0, PANEL])
    y_scale = alt.Scale(domain=[-lim, lim], clamp=True, range=[PANEL, 0])
    base = alt.Chart().encode(
        x=alt.X("x:Q", scale=x_scale, axis=alt.Axis(title=None, tickCount=3)),
        y=alt.Y("y:Q", scale=y_scale, axis=alt.Axis(title=None, tickCount=3)),
    )
    lines = base.mark_line(strokeWidth=2).encode(
        detail="feature:N", order="end:O", color=alt.Color("superposition:Q", scale=SUPERPOSITION_SCALE)
    )
    tips = (
        base.transform_filter(alt.datum.end == 1)
        .mark_point(filled=True, size=40)
        .encode(
            color=alt.Color("superposition:Q", scale=SUPERPOSITION_SCALE, title="superposition"),
            tooltip=["feature:O", alt.Tooltip("x:Q", format=".3f"), alt.Tooltip("y:Q", format=".3f")],
        )
    )
    return (
        alt.layer(lines, tips, data=chart_data(df))
        .properties(width=PANEL, height=PANEL)
        .facet(facet=alt.Facet("label:N", sort=panel_order(df), title=None), columns=columns)
        .properties(
            title=wrapped_title(
                "Feature directions in the hidden plane", facet_width(df["label"].nunique(), columns, PANEL)
            )
        )
    )
