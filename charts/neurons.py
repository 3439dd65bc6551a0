"""Neuron plots (privileged basis) and per-output loss charts, shared by the TMS and absolute-value pages."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from charts.common import LABEL_LIMIT, chart_data, facet_width, panel_order, wrapped_title


def neuron_frame(
    W: np.ndarray, instances: np.ndarray, labels: list[str], importance: np.ndarray, monosemanticity: np.ndarray
) -> pd.DataFrame:
    """One row per (shown instance, neuron, feature): the neuron's input weight on the feature.

    W (I, H, F). Neurons get a ``rank`` within their instance, most monosemantic first (the paper's ordering).
    """
    rows = []
    for i in instances:
        order = np.argsort(-monosemanticity[i], kind="stable")
        for rank, h in enumerate(order):
            for f in range(W.shape[2]):
                rows.append(
                    {
                        "instance": int(i),
                        "label": labels[i],
                        "neuron": int(h),
                        "rank": rank,
                        "feature": f,
                        "importance": float(importance[f]),
                        "weight": float(W[i, h, f]),
                        "monosemanticity": float(monosemanticity[i, h]),
                    }
                )
    return pd.DataFrame(rows)


def _stack_extent(df: pd.DataFrame) -> float:
    """Half-height of a symmetric y axis holding every stack, rounded up to 0.5 so it rarely moves in training."""
    if df.empty:
        return 1.0
    w = df["weight"].to_numpy()
    keys = df[["instance", "neuron"]].to_numpy()
    pos = pd.Series(np.clip(w, 0, None)).groupby([keys[:, 0], keys[:, 1]]).sum()
    neg = pd.Series(np.clip(-w, 0, None)).groupby([keys[:, 0], keys[:, 1]]).sum()
    extent = max(float(pos.max()), float(neg.max()), 1.0)
    return math.ceil(extent * 2) / 2 if math.isfinite(extent) else 1.0


PANEL = 140  # pixels across one instance's panel: five of them fit the page beside the sidebar


def neuron_chart(df: pd.DataFrame, columns: int = 4, legend: str = "bottom") -> alt.FacetChart:
    """Per neuron, its weights on every feature as a stacked bar (positive up, negative down), neurons sorted
    from most to least monosemantic, one panel per instance. Features are coloured in importance order (feature 0,
    the most important, darkest), so equal importances still tell features apart. The features' legend goes below
    the panels (``legend="bottom"``: beside them it would run past a narrow column) or, for one wide panel on a
    short screen, on their right (``"right"``)."""
    extent = _stack_extent(df)
    n_features = int(df["feature"].nunique()) if not df.empty else 0
    return (
        alt.Chart(chart_data(df))
        .mark_bar(stroke="white", strokeWidth=0.3)
        .encode(
            x=alt.X("rank:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("sum(weight):Q", stack="zero", scale=alt.Scale(domain=[-extent, extent]), title="weight"),
            color=alt.Color(
                "feature:O",
                scale=alt.Scale(scheme="plasma"),
                title="feature (by importance)",
                legend=alt.Legend(
                    orient=legend,
                    direction="horizontal" if legend == "bottom" else "vertical",
                    columns=min(n_features, 12) if legend == "bottom" else (1 if n_features <= 10 else 2),
                    symbolLimit=0,
                    labelLimit=LABEL_LIMIT,
                    titleLimit=LABEL_LIMIT,
                )
                if n_features <= 24
                else None,
            ),
            order=alt.Order("feature:O"),
            tooltip=[
                "neuron:O",
                "feature:O",
                alt.Tooltip("weight:Q", format=".3f"),
                alt.Tooltip("importance:Q", format=".3f"),
                alt.Tooltip("monosemanticity:Q", format=".2f"),
            ],
        )
        .properties(width=PANEL, height=160)
        .facet(facet=alt.Facet("label:N", sort=panel_order(df), title=None), columns=columns)
        .properties(
            title=wrapped_title(
                "Neurons (most monosemantic first): input weight on each feature",
                facet_width(df["label"].nunique(), columns, PANEL),
            )
        )
    )


def output_loss_frame(
    per_output: np.ndarray, linear: np.ndarray | None, instances: np.ndarray, labels: list[str]
) -> pd.DataFrame:
    """One row per (shown instance, output, model): the held-out squared error of that output."""
    rows = []
    for i in instances:
        for o in range(per_output.shape[1]):
            rows.append(
                {
                    "instance": int(i),
                    "label": labels[i],
                    "output": o,
                    "model": "trained",
                    "loss": float(per_output[i, o]),
                }
            )
            if linear is not None:
                rows.append(
                    {
                        "instance": int(i),
                        "label": labels[i],
                        "output": o,
                        "model": "best linear",
                        "loss": float(linear[i, o]),
                    }
                )
    return pd.DataFrame(rows)


def output_loss_chart(df: pd.DataFrame, columns: int = 4) -> alt.FacetChart:
    """Per-output loss of the trained model (bars) beside the best linear readout's (ticks)."""
    base = alt.Chart().encode(x=alt.X("output:O", title="output (feature or pair)"))
    bars = (
        base.transform_filter(alt.datum.model == "trained")
        .mark_bar(color="#4c78a8")
        .encode(
            y=alt.Y("loss:Q", title="held-out MSE"),
            tooltip=["output:O", alt.Tooltip("loss:Q", format=".3e"), "model:N"],
        )
    )
    ticks = (
        base.transform_filter(alt.datum.model == "best linear")
        .mark_tick(color="#e45756", thickness=2)
        .encode(
            y="loss:Q",
            tooltip=["output:O", alt.Tooltip("loss:Q", format=".3e"), "model:N"],
        )
    )
    return (
        alt.layer(bars, ticks, data=chart_data(df))
        .properties(width=PANEL, height=140)
        .facet(facet=alt.Facet("label:N", sort=panel_order(df), title=None), columns=columns)
        .properties(
            title=wrapped_title(
                "Loss per output: trained (bars) and best linear readout (red ticks)",
                facet_width(df["label"].nunique(), columns, PANEL),
            )
        )
    )
