"""Charts of the computation toys: compressed computation (residual MLP) and universal AND."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import (
    FIT_WIDTH,
    LABEL_LIMIT,
    LEGEND_ROW_FILLED,
    chart_data,
    fitted_legend,
    lone_points,
    panel_order,
    pick_instances,
    y_title,
)

NAIVE_COLOR = "#d62728"


# --- compressed computation -----------------------------------------------------------------------------------


def lp_frame(loss: np.ndarray, steps: np.ndarray, labels: list[str], p: float) -> pd.DataFrame:
    """Long table (step, label, L/p) from a (n_logged, I) training-loss history."""
    n, n_inst = loss.shape
    return pd.DataFrame(
        {
            "step": np.repeat(steps, n_inst),
            "label": np.tile(np.asarray(labels, dtype=object), n),
            "L/p": loss.reshape(-1) / p,
        }
    )


def lp_chart(df: pd.DataFrame, naive: float, total_steps: int, height: int = 170) -> alt.LayerChart:
    """Training loss per active feature against step, with the naive baseline as a dashed rule."""
    finite = df[np.isfinite(df["L/p"])]
    hi = max(2.0 * naive, float(finite["L/p"].quantile(0.98)) if len(finite) else naive) if naive > 0 else None
    y_scale = alt.Scale(domain=[0, hi], clamp=True) if hi else alt.Scale(zero=True)
    order = panel_order(df)
    legend, height = fitted_legend(len(order), height, symbolType="stroke")  # rows as thin as lines
    lines = (
        alt.Chart(chart_data(finite))
        .mark_line(strokeWidth=1.5, point=lone_points(finite["step"]))
        .encode(
            x=alt.X("step:Q", scale=alt.Scale(domain=[0, total_steps])),
            y=alt.Y("L/p:Q", scale=y_scale, title=y_title("loss per active feature L/p")),
            color=alt.Color("label:N", sort=order, title="instance", legend=legend),
            tooltip=["label:N", "step:Q", alt.Tooltip("L/p:Q", format=".4f")],
        )
    )
    rule = (
        alt.Chart(chart_data(pd.DataFrame({"naive": [naive], "what": [f"naive = {naive:.4f}"]})))
        .mark_rule(strokeDash=[6, 4], color=NAIVE_COLOR)
        .encode(y="naive:Q", tooltip=["what:N"])
    )
    return (lines + rule).properties(
        title="Loss per active feature vs the naive baseline", height=height, autosize=FIT_WIDTH
    )


def per_feature_frame(per_feature: np.ndarray, labels: list[str], naive_sorted: np.ndarray) -> pd.DataFrame:
    """Per-feature L/p sorted from best to worst, per instance, plus the naive solution's sorted profile."""
    rows = []
    for i, label in enumerate(labels):
        for rank, v in enumerate(np.sort(per_feature[i])):
            rows.append({"rank": rank, "label": label, "L/p": float(v)})
    for rank, v in enumerate(naive_sorted):
        rows.append({"rank": rank, "label": "naive", "L/p": float(v)})
    return pd.DataFrame(rows)


def per_feature_chart(df: pd.DataFrame, height: int = 170) -> alt.Chart:
    order = panel_order(df)
    legend, height = fitted_legend(len(order), height, symbolType="stroke")  # rows as thin as lines
    return (
        alt.Chart(chart_data(df), title="Held-out loss per feature, sorted")
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X("rank:Q", title="feature (sorted by its loss)"),
            y=alt.Y("L/p:Q", title="L_i / p"),
            color=alt.Color("label:N", sort=order, title=None, legend=legend),
            strokeDash=alt.condition(alt.datum.label == "naive", alt.value([6, 4]), alt.value([1, 0])),
            tooltip=["label:N", "rank:Q", alt.Tooltip("L/p:Q", format=".4f")],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )


def sigma_frame(sigma: np.ndarray, lp: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"sigma": sigma, "L/p": lp})


def sigma_chart(
    df: pd.DataFrame, naive: float, embedding_sigma: float | None = None, height: int = 170
) -> alt.LayerChart:
    """Held-out L/p against the mixing std σ, with the naive baseline (and the embedding's σ) as rules."""
    base = alt.Chart(chart_data(df))
    line = base.mark_line(point=True).encode(
        x=alt.X("sigma:Q", title="mixing std σ"),
        y=alt.Y("L/p:Q", title="held-out L/p"),
        tooltip=[alt.Tooltip("sigma:Q", format=".3f"), alt.Tooltip("L/p:Q", format=".4f")],
    )
    layers = [
        line,
        alt.Chart(chart_data(pd.DataFrame({"naive": [naive]})))
        .mark_rule(strokeDash=[6, 4], color=NAIVE_COLOR)
        .encode(y="naive:Q"),
    ]
    if embedding_sigma is not None:
        layers.append(
            alt.Chart(chart_data(pd.DataFrame({"s": [embedding_sigma], "what": ["embedding's σ ≈ 1/√d_embed"]})))
            .mark_rule(color="gray")
            .encode(x="s:Q", tooltip=["what:N"])
        )
    return alt.layer(*layers).properties(title="Mixing-magnitude sweep", height=height, autosize=FIT_WIDTH)


def eval_p_frame(ps: np.ndarray, lp: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Long table (p, label, L/p) from an (I, len(ps)) array of L/p evaluated at each feature probability."""
    n_inst = lp.shape[0]
    return pd.DataFrame(
        {
            "p": np.tile(np.asarray(ps, dtype=float), n_inst),
            "label": np.repeat(np.asarray(labels, dtype=object), len(ps)),
            "L/p": lp.reshape(-1),
        }
    )


def eval_p_chart(df: pd.DataFrame, naive: float, train_p: float, height: int = 170) -> alt.LayerChart:
    """L/p of the trained weights against the feature probability it is evaluated at (log axis), with the naive
    baseline (the same at every p) and the training p as rules."""
    order = panel_order(df)
    legend, height = fitted_legend(len(order), height, row=LEGEND_ROW_FILLED)
    lines = (
        alt.Chart(chart_data(df))
        .mark_line(point=True, strokeWidth=1.5)
        .encode(
            x=alt.X("p:Q", scale=alt.Scale(type="log"), title="evaluation feature probability p"),
            y=alt.Y("L/p:Q", scale=alt.Scale(zero=False), title=y_title("held-out L/p")),
            color=alt.Color("label:N", sort=order, title="instance", legend=legend),
            tooltip=["label:N", alt.Tooltip("p:Q", format=".3g"), alt.Tooltip("L/p:Q", format=".4f")],
        )
    )
    naive_rule = (
        alt.Chart(chart_data(pd.DataFrame({"naive": [naive], "what": [f"naive = {naive:.4f}"]})))
        .mark_rule(strokeDash=[6, 4], color=NAIVE_COLOR)
        .encode(y="naive:Q", tooltip=["what:N"])
    )
    train_rule = (
        alt.Chart(chart_data(pd.DataFrame({"p": [train_p], "what": [f"trained at p = {train_p:.3g}"]})))
        .mark_rule(color="gray")
        .encode(x="p:Q", tooltip=["what:N"])
    )
    return alt.layer(lines, naive_rule, train_rule).properties(
        title="L/p against the evaluation feature probability", height=height, autosize=FIT_WIDTH
    )


MAX_HEATMAP_CELLS = 20_000  # cells per matrix in the neuron × feature heatmap
MAX_HEATMAP_NEURONS = 100


def weights_frame(
    A: np.ndarray, B: np.ndarray, order: np.ndarray | None = None, max_cells: int = MAX_HEATMAP_CELLS
) -> pd.DataFrame:
    """Long table of what each neuron reads (A (F, H)) and writes (B (H, F)) per feature, features in ``order``.

    Beyond ``max_cells`` per matrix it keeps the MAX_HEATMAP_NEURONS neurons of largest ‖read‖·‖write‖ and
    features spread evenly over ``order`` (always the first and last), so a big model still draws at once.
    """
    F, H = A.shape
    order = np.arange(F) if order is None else np.asarray(order)
    neurons = np.arange(H)
    if F * H > max_cells:
        if H > MAX_HEATMAP_NEURONS:
            strength = np.linalg.norm(A, axis=0) * np.linalg.norm(B, axis=1)
            neurons = np.sort(np.argsort(-strength)[:MAX_HEATMAP_NEURONS])
        order = order[pick_instances(F, max(2, max_cells // len(neurons)))]
    pos = np.arange(len(order))
    f = np.repeat(order, len(neurons))
    h = np.tile(neurons, len(order))
    p = np.repeat(pos, len(neurons))
    read = pd.DataFrame({"feature": f, "position": p, "neuron": h, "weight": A[f, h], "matrix": "reads (W_E W_in)"})
    write = pd.DataFrame({"feature": f, "position": p, "neuron": h, "weight": B[h, f], "matrix": "writes (W_out W_U)"})
    return pd.concat([read, write], ignore_index=True)


def weights_heatmap(df: pd.DataFrame) -> alt.FacetChart:
    lim = float(np.abs(df["weight"]).max()) or 1.0
    return (
        alt.Chart(chart_data(df))
        .mark_rect()
        .encode(
            x=alt.X("position:O", title="feature (sorted by loss)", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("neuron:O", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("weight:Q", scale=alt.Scale(scheme="redblue", domain=[-lim, lim], reverse=True)),
            tooltip=["feature:Q", "neuron:Q", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(width=420, height=180)
        .facet(row=alt.Row("matrix:N", title=None, sort=panel_order(df, "matrix")))
        .properties(title="Neuron × feature weights")
    )


# --- universal AND --------------------------------------------------------------------------------------------


def gates_frame(trained: list[dict], handmade: list[dict], linear: int, n_gates: int) -> pd.DataFrame:
    rows = [{"d": r["d"], "gates": r["gates"], "circuit": "trained"} for r in trained]
    rows += [{"d": r["d"], "gates": r["gates"], "circuit": "hand-made"} for r in handmade]
    ds = sorted({r["d"] for r in rows})
    rows += [{"d": d, "gates": linear, "circuit": "linear readout (no computation)"} for d in ds]
    rows += [{"d": d, "gates": d, "circuit": "gates = d"} for d in ds]
    rows += [{"d": d, "gates": n_gates, "circuit": "all gates"} for d in ds]
    return pd.DataFrame(rows)


def gates_chart(df: pd.DataFrame, height: int = 210) -> alt.Chart:
    """Gates computed against width d; above the gates = d line is computation in superposition."""
    dash = alt.condition(
        alt.FieldOneOfPredicate("circuit", ["gates = d", "all gates"]), alt.value([6, 4]), alt.value([1, 0])
    )
    return (
        alt.Chart(chart_data(df), title="AND gates computed on held-out inputs")
        .mark_line(point=True)
        .encode(
            x=alt.X("d:Q", scale=alt.Scale(type="log"), title="hidden neurons d"),
            y=alt.Y("gates:Q", title="gates computed"),
            color=alt.Color(
                "circuit:N",
                sort=["trained", "hand-made", "linear readout (no computation)", "gates = d", "all gates"],
                scale=alt.Scale(range=["#1f77b4", "#ff7f0e", "#7f7f7f", NAIVE_COLOR, "#bbbbbb"]),
                legend=alt.Legend(symbolLimit=0, labelLimit=LABEL_LIMIT),
            ),
            strokeDash=dash,
            tooltip=["circuit:N", "d:Q", "gates:Q"],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )


def error_frame(rates: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"circuit": name, "error_rate": r}) for name, r in rates.items()], ignore_index=True)


def error_histogram(df: pd.DataFrame, max_rate: float) -> alt.LayerChart:
    """Per-gate error rate (fraction of its held-out cases off by the tolerance or more), per circuit."""
    bars = (
        alt.Chart(chart_data(df))
        .mark_bar(opacity=0.6)
        .encode(
            x=alt.X("error_rate:Q", bin=alt.Bin(extent=[0, 1], step=0.05), title="per-gate error rate"),
            y=alt.Y("count():Q", stack=None, title="gates"),
            color=alt.Color("circuit:N", sort=panel_order(df, "circuit"), legend=alt.Legend(labelLimit=LABEL_LIMIT)),
            tooltip=["circuit:N", "count():Q"],
        )
    )
    rule = (
        alt.Chart(chart_data(pd.DataFrame({"max": [max_rate]})))
        .mark_rule(strokeDash=[6, 4], color=NAIVE_COLOR)
        .encode(x="max:Q")
    )
    return (bars + rule).properties(
        title="Per-gate error (computed: left of the dashed line)", height=160, autosize=FIT_WIDTH
    )


def density_frame(densities: dict[str, np.ndarray]) -> pd.DataFrame:
    frames = [pd.DataFrame({"circuit": name, "density": d[np.isfinite(d)]}) for name, d in densities.items()]
    return pd.concat(frames, ignore_index=True)


def density_histogram(df: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(chart_data(df), title="Neuron density: fraction of inputs each neuron reads")
        .mark_bar(opacity=0.6)
        .encode(
            x=alt.X("density:Q", bin=alt.Bin(extent=[0, 1], step=0.05), title="participation ratio / m"),
            y=alt.Y("count():Q", stack=None, title="neurons"),
            color=alt.Color("circuit:N", sort=panel_order(df, "circuit"), legend=alt.Legend(labelLimit=LABEL_LIMIT)),
            tooltip=["circuit:N", "count():Q"],
        )
        .properties(height=160, autosize=FIT_WIDTH)
    )
