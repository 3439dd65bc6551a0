"""Charts of the feature-geometry page: dimensions per feature, feature dimensionalities with their polytopes,
one instance's polytopes, and ideal configurations (Thomson points) in 2 or 3 dimensions."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from charts.common import FIT_WIDTH, LEGEND_ROW_FILLED, chart_data, decade_domain, fitted_legend, y_title

# as fastcore.geometry.POLYTOPE_NAMES, for the colour scale
POLYTOPE_NAMES = (
    "not represented",
    "dedicated",
    "digon",
    "triangle",
    "tetrahedron",
    "pentagon",
    "square antiprism",
    "other",
)

STICKY = (
    (1.0, "1", "dedicated"),
    (3 / 4, "3/4", "tetrahedron"),
    (2 / 3, "2/3", "triangle"),
    (1 / 2, "1/2", "digon"),
    (2 / 5, "2/5", "pentagon"),
    (3 / 8, "3/8", "square antiprism"),
)
POLYTOPE_COLORS = ("#cfcfcf", "#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#17becf", "#8c6d31")
POLYTOPE_SCALE = alt.Scale(domain=list(POLYTOPE_NAMES), range=list(POLYTOPE_COLORS))
Y_MAX = 1.1


def density_domain(p: np.ndarray) -> list[float]:
    """A fixed log axis for 1/(1 − S) = 1/p over the sweep (moves only with the config, never while training)."""
    inv = 1.0 / np.asarray(p, dtype=float)
    return decade_domain(np.array([inv.min(), inv.max()]), floor=1.0)


def sticky_frame() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "value": [s[0] for s in STICKY],
            "fraction": [s[1] for s in STICKY],
            "polytope": [s[2] for s in STICKY],
            "text": [f"{s[1]} {s[2]}" for s in STICKY],
        }
    )
    df["label_y"] = df["value"] + np.where(
        df["polytope"] == "pentagon", 0.012, np.where(df["polytope"] == "square antiprism", -0.012, 0.0)
    )
    return df


def polytope_legend(height: int, axis_band: int = 40) -> tuple[alt.Legend, int]:
    """The polytope legend, every name in it, and the plot height that holds it beside a plot ``height`` high."""
    return fitted_legend(len(POLYTOPE_NAMES), height, axis_band=axis_band, row=LEGEND_ROW_FILLED, orient="right")


def polytope_color(legend: alt.Legend | None = None) -> alt.Color:
    """Colour by polytope name on a fixed scale; every layer uses the same one so that they share one legend
    (on the right: a bottom legend would eat a fitted chart's height)."""
    return alt.Color("polytope:N", scale=POLYTOPE_SCALE, title="polytope", legend=legend)


def _sticky_layers(x_max: float, legend: alt.Legend | None = None) -> list[alt.Chart]:
    """The sticky fractions as dashed lines, labelled inside the plot's right end (clear of the legend)."""
    data = chart_data(sticky_frame())
    rules = (
        alt.Chart(data)
        .mark_rule(strokeDash=[4, 3], strokeWidth=1, opacity=0.7)
        .encode(y=alt.Y("value:Q"), color=polytope_color(legend), tooltip=["fraction:N", "polytope:N"])
    )
    text = (
        alt.Chart(data)
        .mark_text(align="right", dx=-4, dy=-5, fontSize=10)
        .encode(x=alt.datum(x_max), y=alt.Y("label_y:Q"), text="text:N", color=polytope_color(legend))
    )
    return [rules, text]


def sweep_frame(
    W: np.ndarray, p: np.ndarray, dims_per_feature: np.ndarray, n_represented: np.ndarray, loss: np.ndarray
) -> pd.DataFrame:
    """One row per instance: density, 1/(1 − S), m/‖W‖²_F, features represented, latest loss."""
    return pd.DataFrame(
        {
            "instance": np.arange(W.shape[0]),
            "p": p,
            "inv_density": 1.0 / p,
            "dims_per_feature": dims_per_feature,
            "n_represented": n_represented,
            "loss": loss,
        }
    )


def dims_per_feature_chart(df: pd.DataFrame, x_domain: list[float], height: int = 200) -> alt.LayerChart:
    """m/‖W‖²_F against 1/(1 − S) on fixed axes, with the sticky fractions as dashed lines."""
    x = alt.X("inv_density:Q", scale=alt.Scale(type="log", domain=x_domain), title="1 / (1 − S)")
    y = alt.Y(
        "dims_per_feature:Q", scale=alt.Scale(domain=[0, Y_MAX], clamp=True), title=y_title("dimensions per feature")
    )
    base = alt.Chart(chart_data(df)).encode(x=x, y=y)
    line = base.mark_line(color="#333333")
    points = base.mark_point(filled=True, size=40, color="#333333").encode(
        tooltip=[
            "instance:Q",
            alt.Tooltip("p:Q", format=".3g", title="1 − S"),
            alt.Tooltip("dims_per_feature:Q", format=".3f", title="m/‖W‖²"),
            "n_represented:Q",
            alt.Tooltip("loss:Q", format=".3e"),
        ]
    )
    return alt.layer(*_sticky_layers(x_domain[1]), line, points).properties(
        height=height, title="Dimensions per feature m/‖W‖²_F", autosize=FIT_WIDTH
    )


def feature_geometry_frame(p: np.ndarray, geometry) -> pd.DataFrame:
    """One row per (instance, feature): the instance's density p (I,), and D_i, norm and the polytope its group
    forms from ``geometry`` (``toys.tms.geometry.feature_geometry``: D, norm, polytope, shape, group, k, d, each
    (I, F))."""
    n_inst, n_feat = np.shape(geometry["D"])
    inst = np.repeat(np.arange(n_inst), n_feat)
    return pd.DataFrame(
        {
            "instance": inst,
            "p": p[inst],
            "inv_density": 1.0 / p[inst],
            "feature": np.tile(np.arange(n_feat), n_inst),
            **{k: np.reshape(geometry[k], -1) for k in ("D", "norm", "polytope", "shape", "group", "k", "d")},
        }
    )


def feature_dims_chart(
    df: pd.DataFrame, x_domain: list[float], height: int = 280, selected: int | None = None
) -> alt.LayerChart:
    """Every feature's D_i against 1/(1 − S), coloured by its polytope; sticky fractions drawn as lines."""
    x = alt.X("inv_density:Q", scale=alt.Scale(type="log", domain=x_domain), title="1 / (1 − S)")
    y = alt.Y("D:Q", scale=alt.Scale(domain=[0, Y_MAX], clamp=True), title=y_title("feature dimensionality D_i"))
    legend, height = polytope_legend(height)
    points = (
        alt.Chart(chart_data(df))
        .mark_circle(size=22, opacity=0.6)
        .encode(
            x=x,
            y=y,
            color=polytope_color(legend),
            tooltip=[
                "instance:Q",
                "feature:Q",
                alt.Tooltip("p:Q", format=".3g", title="1 − S"),
                alt.Tooltip("D:Q", format=".3f"),
                alt.Tooltip("norm:Q", format=".3f"),
                "shape:N",
                "group:Q",
            ],
        )
    )
    layers = [*_sticky_layers(x_domain[1], legend), points]
    if selected is not None and len(df):
        sel = df[df["instance"] == selected].iloc[:1]
        layers.append(
            alt.Chart(chart_data(sel))
            .mark_rule(color="black", strokeWidth=1, opacity=0.4)
            .encode(x=alt.X("inv_density:Q", scale=alt.Scale(type="log", domain=x_domain)))
        )
    return alt.layer(*layers).properties(
        height=height, title="Feature dimensionality D_i, coloured by polytope", autosize=FIT_WIDTH
    )


def instance_frame(df: pd.DataFrame, instance: int) -> pd.DataFrame:
    """The selected instance's features, ordered by group (unrepresented last), then by feature."""
    one = df[df["instance"] == instance].copy()
    one["order_key"] = np.where(one["group"] < 0, np.iinfo(np.int64).max, one["group"])
    one = one.sort_values(["order_key", "feature"]).drop(columns="order_key")
    one["position"] = np.arange(len(one))
    return one.reset_index(drop=True)


def group_frame(one: pd.DataFrame) -> pd.DataFrame:
    """One row per polytope (group) of an instance: its shape, size, rank, features and mean D."""
    rep = one[one["group"] >= 0]
    rows = [
        {
            "group": int(g),
            "polytope": str(grp["polytope"].iloc[0]),
            "shape": str(grp["shape"].iloc[0]),
            "features k": int(grp["k"].iloc[0]),
            "dims d": int(grp["d"].iloc[0]),
            "d/k": float(grp["d"].iloc[0] / grp["k"].iloc[0]),
            "mean D": float(grp["D"].mean()),
            "members": ", ".join(str(f) for f in grp["feature"]),
        }
        for g, grp in rep.groupby("group", sort=True)
    ]
    columns = ["group", "polytope", "shape", "features k", "dims d", "d/k", "mean D", "members"]
    return pd.DataFrame(rows, columns=columns)


def instance_chart(one: pd.DataFrame, title: str, height: int = 160) -> alt.LayerChart:
    """D_i of one instance's features, grouped into their polytopes, with the sticky fractions."""
    n = max(len(one), 1)
    legend, height = polytope_legend(height, axis_band=40 if n <= 60 else 20)  # no x labels past 60 bars
    bars = (
        alt.Chart(chart_data(one))
        .mark_bar()
        .encode(
            x=alt.X("position:O", title="features, grouped by polytope", axis=alt.Axis(labels=n <= 60, ticks=n <= 60)),
            y=alt.Y("D:Q", scale=alt.Scale(domain=[0, Y_MAX], clamp=True), title="D_i"),
            color=polytope_color(legend),
            tooltip=[
                "feature:Q",
                "group:Q",
                "shape:N",
                alt.Tooltip("D:Q", format=".3f"),
                alt.Tooltip("norm:Q", format=".3f"),
            ],
        )
    )
    rules = (
        alt.Chart(chart_data(sticky_frame()))
        .mark_rule(strokeDash=[4, 3], opacity=0.6)
        .encode(y="value:Q", color=polytope_color(legend), tooltip=["fraction:N", "polytope:N"])
    )
    return alt.layer(bars, rules).properties(height=height, title=title, autosize=FIT_WIDTH)


# --------------------------------------------------------------------------------------- ideal configurations


def rotate_view(points: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    """Screen coordinates (x, y, depth) of 3-d points seen from (azimuth, elevation) in degrees. (n, 3) -> (n, 3)"""
    a, e = math.radians(azimuth), math.radians(elevation)
    rz = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(e), -math.sin(e)], [0.0, math.sin(e), math.cos(e)]])
    q = points @ (rx @ rz).T  # (n, 3)
    return np.stack([q[:, 0], q[:, 2], q[:, 1]], axis=1)


def ideal_frame(points: np.ndarray, azimuth: float = 30.0, elevation: float = 20.0) -> pd.DataFrame:
    """One row per point: its coordinates, and its screen position (x, y) and depth for the 2-d/3-d drawing."""
    n, dim = points.shape
    df = pd.DataFrame(points, columns=[f"c{j}" for j in range(dim)])
    df.insert(0, "point", np.arange(n))
    if dim == 2:
        df["x"], df["y"], df["depth"] = points[:, 0], points[:, 1], 0.0
    elif dim == 3:
        view = rotate_view(points, azimuth, elevation)
        df["x"], df["y"], df["depth"] = view[:, 0], view[:, 1], view[:, 2]
    return df


def edge_frame(df: pd.DataFrame, edges: list[tuple[int, int]]) -> pd.DataFrame:
    """Both ends of every edge; ``depth`` is the edge's mean depth (constant along it, so it draws as one line)."""
    rows = []
    for k, (a, b) in enumerate(edges):
        depth = float(df["depth"].iloc[[a, b]].mean())
        for end, i in enumerate((a, b)):
            rows.append(
                {"edge": k, "end": end, "x": float(df["x"].iloc[i]), "y": float(df["y"].iloc[i]), "depth": depth}
            )
    return pd.DataFrame(rows, columns=["edge", "end", "x", "y", "depth"])


def ideal_chart(df: pd.DataFrame, edges: pd.DataFrame, title: str, size: int = 320) -> alt.LayerChart:
    """Points on the unit circle/sphere (fixed axes [-1.15, 1.15]); in 3-d, nearer points are larger and darker.

    Both axes span ``size`` pixels by their scales' ranges, and the view grows around title and plot ("pad"), so
    a page that stretches the chart to its column's width still draws a circle, whole (a stretched view's plot
    took the column's width and lost height to the title)."""
    lim = 1.15
    x_scale = alt.Scale(domain=[-lim, lim], nice=False, range=[0, size])
    y_scale = alt.Scale(domain=[-lim, lim], nice=False, range=[size, 0])
    circle = pd.DataFrame({"t": np.linspace(0, 2 * np.pi, 121)})
    circle["x"], circle["y"] = np.cos(circle["t"]), np.sin(circle["t"])
    outline = (
        alt.Chart(chart_data(circle))
        .mark_line(color="#bbbbbb", strokeDash=[3, 3])
        .encode(x=alt.X("x:Q", scale=x_scale, axis=None), y=alt.Y("y:Q", scale=y_scale, axis=None), order="t:Q")
    )
    depth = alt.Scale(domain=[-1, 1], range=[0.25, 1.0])
    lines = (
        alt.Chart(chart_data(edges))
        .mark_line(color="#4c78a8")
        .encode(
            x=alt.X("x:Q", scale=x_scale),
            y=alt.Y("y:Q", scale=y_scale),
            detail="edge:N",
            order="end:O",
            opacity=alt.Opacity("depth:Q", scale=depth, legend=None),
        )
    )
    points = (
        alt.Chart(chart_data(df))
        .mark_circle(color="#e45756")
        .encode(
            x=alt.X("x:Q", scale=x_scale),
            y=alt.Y("y:Q", scale=y_scale),
            size=alt.Size("depth:Q", scale=alt.Scale(domain=[-1, 1], range=[30, 160]), legend=None),
            opacity=alt.Opacity("depth:Q", scale=depth, legend=None),
            tooltip=["point:Q"] + [alt.Tooltip(f"{c}:Q", format=".3f") for c in df.columns if c.startswith("c")],
        )
    )
    return alt.layer(outline, lines, points).properties(
        width=size, height=size, title=title, autosize=alt.AutoSizeParams(type="pad")
    )
