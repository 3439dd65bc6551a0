"""Charts of the CIS lab page: which functions a deep residual MLP computes, against the naive circuit.

Inputs are numpy arrays and tables (the page computes the accounting with ``toys.compute.deep``); out come altair
charts.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import FIT_WIDTH, chart_data, fitted_legend, panel_order, y_title

FLOOR = 1e-3  # relative losses below this (an exact circuit's 0) are drawn at it, on the log axis
NETWORKS = ("trained", "naive")


def profile_frame(trained: np.ndarray, naive: np.ndarray, labels: list[str], floor: float = FLOOR) -> pd.DataFrame:
    """Long table (label, instance, network, rank, relative, shown) of each instance's per-function held-out loss
    relative to the best affine predictor's, L_j / ref_j, sorted ascending (rank 1 the best-computed function), for
    the trained network (``trained``, (I, F)) and the naive circuit (``naive``, (I, F)); ``shown`` is the value
    clipped up to ``floor`` for the log axis."""
    rows = []
    for network, rel in (("trained", trained), ("naive", naive)):
        rel = np.sort(np.asarray(rel, dtype=float), axis=1)
        n_inst, n_fun = rel.shape
        rows.append(
            pd.DataFrame(
                {
                    "label": np.repeat(np.asarray(labels, dtype=object), n_fun),
                    "instance": np.repeat(np.arange(n_inst), n_fun),
                    "network": network,
                    "rank": np.tile(np.arange(1, n_fun + 1), n_inst),
                    "relative": rel.reshape(-1),
                    "shown": np.maximum(rel.reshape(-1), floor),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def profile_chart(df: pd.DataFrame, threshold: float, title: str, height: int = 220) -> alt.LayerChart:
    """Per-function held-out loss relative to the best affine predictor, sorted, one line per instance (solid:
    trained, dashed: the naive circuit of as many neurons), with a rule at the ``threshold`` under which a function
    counts as computed: the functions a network computes are where its line lies under the rule."""
    order = panel_order(df)
    legend, height = fitted_legend(len(order), height, symbolType="stroke")
    top = float(np.nanmax(df["shown"])) if len(df) else 1.0
    domain = [FLOOR, max(1.5, 1.2 * top)]
    n_fun = int(df["rank"].max()) if len(df) else 1
    lines = (
        alt.Chart(chart_data(df))
        .mark_line(strokeWidth=2, interpolate="step-after")
        .encode(
            x=alt.X("rank:Q", scale=alt.Scale(domain=[1, max(2, n_fun)]), title="function, sorted by relative loss"),
            y=alt.Y(
                "shown:Q",
                scale=alt.Scale(type="log", domain=domain, clamp=True, nice=False),
                title=y_title("held-out loss / best affine"),
            ),
            color=alt.Color("label:N", sort=order, title="instance", scale=alt.Scale(scheme="viridis"), legend=legend),
            strokeDash=alt.StrokeDash(
                "network:N",
                sort=list(NETWORKS),
                scale=alt.Scale(domain=list(NETWORKS), range=[[1, 0], [6, 4]]),
                title="network",
            ),
            detail="instance:N",
            tooltip=[
                "label:N",
                "network:N",
                "rank:Q",
                alt.Tooltip("relative:Q", format=".3g", title="loss / best affine"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"y": [threshold]}))
        .mark_rule(color="#d62728", strokeDash=[2, 2])
        .encode(y=alt.Y("y:Q"), tooltip=[alt.Tooltip("y:Q", title="computed below")])
    )
    return alt.layer(lines, rule).properties(title=title, height=height, autosize=FIT_WIDTH)


def counts_frame(p: np.ndarray, trained: np.ndarray, naive: np.ndarray) -> pd.DataFrame:
    """Long table (p, network, functions) of the functions computed per instance's feature probability."""
    p = np.asarray(p, dtype=float)
    return pd.DataFrame(
        {
            "p": np.concatenate([p, p]),
            "network": ["trained"] * len(p) + ["naive"] * len(p),
            "functions": np.concatenate([np.asarray(trained), np.asarray(naive)]).astype(int),
        }
    )


def counts_chart(df: pd.DataFrame, n_functions: int, height: int = 200) -> alt.Chart:
    """Functions computed against feature probability (log axis), trained (solid) and naive (dashed)."""
    return (
        alt.Chart(chart_data(df), title="Functions computed against p")
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "p:Q",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(values=sorted(set(df["p"].tolist())), format=".2g"),
                title="feature probability p",
            ),
            y=alt.Y("functions:Q", scale=alt.Scale(domain=[0, max(1, n_functions)]), title="functions computed"),
            strokeDash=alt.StrokeDash(
                "network:N", scale=alt.Scale(domain=list(NETWORKS), range=[[1, 0], [6, 4]]), title="network"
            ),
            color=alt.Color(
                "network:N", scale=alt.Scale(domain=list(NETWORKS), range=["#1f77b4", "#7f7f7f"]), title="network"
            ),
            tooltip=["network:N", alt.Tooltip("p:Q", format=".3g"), "functions:Q"],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )
