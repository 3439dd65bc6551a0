"""Charts of the decomposition page: dictionaries (SAEs, transcoders) against a toy's true features."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import FIT_WIDTH, chart_data, fitted_legend, wrapped_title

COS_SCALE = alt.Scale(domain=[0, 1], scheme="blues", clamp=True)
MATRIX_W = 520  # pixels across the matched-cosine matrix
MAX_MATRIX_H = 420  # pixels: the tallest the matrix gets (many true features: thinner rows)


def matched_order(cos: np.ndarray, latents: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The latents' order for the matched-cosine matrix, from |cos| (n_true, W) and the one-to-one matching
    (``latents[j]`` matched to ``features[j]``, as ``toys.decomp.scores.match`` gives it): the latent matched to
    feature 0 first, then feature 1's, …, then the unmatched latents grouped by the feature they are closest to,
    closest first. -> (W,) int64"""
    first = np.asarray(latents)[np.argsort(features)]
    rest = np.setdiff1d(np.arange(cos.shape[1]), first)
    if len(rest):
        nearest = cos[:, rest].argmax(axis=0)
        rest = rest[np.lexsort((-cos[nearest, rest], nearest))]
    return np.concatenate([first, rest]).astype(np.int64)


def matched_frame(cos: np.ndarray, latents: np.ndarray, features: np.ndarray) -> pd.DataFrame:
    """Long table (feature, position, latent, cos, matched) of the matched-cosine matrix in matched order, from
    |cos| (n_true, W) and the matching (see ``matched_order``)."""
    order = matched_order(cos, latents, features)
    n, W = cos.shape
    pos = np.arange(W)
    return pd.DataFrame(
        {
            "feature": np.repeat(np.arange(n), W),
            "position": np.tile(pos, n),
            "latent": np.tile(order, n),
            "cos": cos[:, order].reshape(-1),
            "matched": np.tile(pos < min(n, W), n),
        }
    )


def matched_chart(df: pd.DataFrame, title: str, width: int = MATRIX_W) -> alt.Chart:
    """|cos| of every true feature (rows) with every latent (columns, in matched order): a recovered dictionary
    shows a bright diagonal on the left; latents right of the dashed line were matched to no feature."""
    n = int(df["feature"].max()) + 1 if len(df) else 1
    W = int(df["position"].max()) + 1 if len(df) else 1
    height = int(min(MAX_MATRIX_H, max(120, 14 * n)))
    cells = (
        alt.Chart(chart_data(df))
        .mark_rect()
        .encode(
            x=alt.X("position:Q", scale=alt.Scale(domain=[0, W]), title="latent, in matched order"),
            x2="end:Q",
            y=alt.Y("feature:O", title="true feature", axis=alt.Axis(labelOverlap=True)),
            color=alt.Color("cos:Q", scale=COS_SCALE, title="|cos|"),
            tooltip=["feature:O", "latent:Q", alt.Tooltip("cos:Q", format=".3f")],
        )
        .transform_calculate(end="datum.position + 1")
    )
    layers = [cells]
    if W > n:
        edge = pd.DataFrame({"position": [n]})
        layers.append(alt.Chart(edge).mark_rule(strokeDash=[4, 3], color="#d62728").encode(x="position:Q"))
    # autosize pad: width and height are the plot's (Streamlit otherwise fits title and axes into ``height`` and,
    # for a few features, leaves the cells a sliver)
    return alt.layer(*layers).properties(
        width=width, height=height, title=wrapped_title(title, width), autosize=alt.AutoSizeParams(type="pad")
    )


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per instance from ``toys.decomp.scores.score(...)["instances"]``, with the recovered share."""
    df = pd.DataFrame(rows)
    if len(df):
        df["recovered_share"] = df["recovered"] / df["n_true"]
    return df


def sweep_chart(df: pd.DataFrame, x: str, y: str, color: str, x_title: str, y_title: str, log_x: bool = False):
    """``y`` against ``x`` per value of ``color`` (one line each): recovery against width or against the penalty."""
    shown = df[[x, y, color]].dropna()
    order = sorted(pd.unique(shown[color]).tolist())
    shown = shown.assign(series=shown[color].map(lambda v: f"{color} {v:g}"))
    legend, height = fitted_legend(len(order), 180, symbolType="stroke")
    scale = alt.Scale(type="log") if log_x and (shown[x] > 0).all() else alt.Scale(zero=False)
    return (
        alt.Chart(chart_data(shown))
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:Q", scale=scale, title=x_title),
            y=alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1]), title=y_title),
            color=alt.Color(
                "series:N",
                sort=[f"{color} {v:g}" for v in order],
                title=None,
                legend=legend,
                scale=alt.Scale(scheme="viridis"),
            ),
            tooltip=[f"{x}:Q", f"{color}:Q", alt.Tooltip(f"{y}:Q", format=".3f")],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )
