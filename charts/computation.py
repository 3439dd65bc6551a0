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


NAIVE_CIRCUIT = "naive (d exact, rest constant)"
LINEAR_CIRCUIT = "linear readout (no computation)"
CIRCUITS = ("trained", "hand-made", NAIVE_CIRCUIT, LINEAR_CIRCUIT, "gates = d", "all gates")
CIRCUIT_COLORS = ("#1f77b4", "#ff7f0e", NAIVE_COLOR, "#7f7f7f", NAIVE_COLOR, "#bbbbbb")
DASHED = ("gates = d", "all gates", NAIVE_CIRCUIT)


def _mean_error(r: dict) -> float:
    """A result's mean per-gate error rate as given (``mean_error``), else the mean of its ``error_rates``."""
    if "mean_error" in r:
        return float(r["mean_error"])
    return float(np.mean(r["error_rates"])) if "error_rates" in r else float("nan")


def gates_frame(
    trained: list[dict],
    handmade: list[dict],
    linear: int,
    n_gates: int,
    naive: list[dict] | None = None,
    linear_error: float = float("nan"),
) -> pd.DataFrame:
    """Gates computed (``gates``) and mean per-gate error rate (``error``; NaN for the reference lines) against d per
    circuit. With ``naive`` (results of ``uand.naive_gates``) its line replaces gates = d, which it follows up to G."""
    circuits = [("trained", trained), ("hand-made", handmade), *([(NAIVE_CIRCUIT, naive)] if naive else [])]
    rows = [{"d": r["d"], "gates": r["gates"], "error": _mean_error(r), "circuit": c} for c, rs in circuits for r in rs]
    ds = sorted({r["d"] for r in rows})
    rows += [{"d": d, "gates": linear, "error": linear_error, "circuit": LINEAR_CIRCUIT} for d in ds]
    if not naive:
        rows += [{"d": d, "gates": d, "error": np.nan, "circuit": "gates = d"} for d in ds]
    rows += [{"d": d, "gates": n_gates, "error": np.nan, "circuit": "all gates"} for d in ds]
    return pd.DataFrame(rows)


def _circuit_color(df: pd.DataFrame, legend: alt.Legend) -> alt.Color:
    """Each circuit in its own colour whichever of them ``df`` holds (the naive circuit red, like its baseline on
    the compressed-computation tab)."""
    shown = [(c, col) for c, col in zip(CIRCUITS, CIRCUIT_COLORS) if c in set(df["circuit"])]
    return alt.Color(
        "circuit:N",
        sort=[c for c, _ in shown],
        scale=alt.Scale(domain=[c for c, _ in shown], range=[col for _, col in shown]),
        legend=legend,
    )


def gates_chart(df: pd.DataFrame, height: int = 210) -> alt.Chart:
    """Gates computed against width d; above the gates = d line is computation in superposition."""
    dash = alt.condition(alt.FieldOneOfPredicate("circuit", list(DASHED)), alt.value([6, 4]), alt.value([1, 0]))
    return (
        alt.Chart(chart_data(df[["d", "gates", "circuit"]]), title="AND gates computed on held-out inputs")
        .mark_line(point=True)
        .encode(
            x=alt.X("d:Q", scale=alt.Scale(type="log"), title="hidden neurons d"),
            y=alt.Y("gates:Q", title="gates computed"),
            color=_circuit_color(df, alt.Legend(symbolLimit=0, labelLimit=LABEL_LIMIT)),
            strokeDash=dash,
            tooltip=["circuit:N", "d:Q", "gates:Q"],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )


ACCOUNTING_MEASURES = ("gates computed", "mean per-gate error rate")
ACCOUNTING_PANEL = 300  # pixels per panel: two side by side with their axes fit a page beside the sidebar


def accounting_chart(df: pd.DataFrame, height: int = 210) -> alt.FacetChart:
    """Two panels against d from a ``gates_frame``: gates computed (above the naive line is computation beyond
    what d exact neurons give) and the mean per-gate error rate (the reference lines have none)."""
    long = df.melt(id_vars=["d", "circuit"], value_vars=["gates", "error"], var_name="what", value_name="value")
    long["measure"] = long["what"].map(dict(zip(["gates", "error"], ACCOUNTING_MEASURES)))
    long = long[np.isfinite(long["value"].astype(float))].drop(columns="what")
    dash = alt.condition(alt.FieldOneOfPredicate("circuit", list(DASHED)), alt.value([6, 4]), alt.value([1, 0]))
    legend = alt.Legend(orient="bottom", columns=2, symbolLimit=0, labelLimit=LABEL_LIMIT, title=None)
    lo, hi = float(df["d"].min()), float(df["d"].max())
    domain = [lo, hi] if hi > lo else [lo / 1.5, hi * 1.5]  # the widths trained, not the log scale's nice decades
    return (
        alt.Chart(chart_data(long))
        .mark_line(point=True)
        .encode(
            x=alt.X("d:Q", scale=alt.Scale(type="log", domain=domain, nice=False), title="hidden neurons d"),
            y=alt.Y("value:Q", title=None),
            color=_circuit_color(df, legend),
            strokeDash=dash,
            tooltip=["circuit:N", "d:Q", alt.Tooltip("value:Q", format=".3~g", title="value"), "measure:N"],
        )
        .properties(width=ACCOUNTING_PANEL, height=height)
        .facet(column=alt.Column("measure:N", title=None, sort=list(ACCOUNTING_MEASURES)))
        .resolve_scale(y="independent")
        .properties(title="Honest accounting on held-out inputs: trained, hand-made and naive against d")
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


# --- Newgas's classes -----------------------------------------------------------------------------------------

NEWGAS_CLASSES = ("A", "B1", "B2", "C")  # as toys.compute.newgas.CLASSES
NEWGAS_CASES = ("00", "01", "10", "11")  # as toys.compute.newgas.CASE_NAMES


def newgas_frame(measured: np.ndarray, paper: np.ndarray, label: str) -> pd.DataFrame:
    """Long table (source, class, case, output, scaled) of two (4 classes × 4 cases) truth tables: the measured one
    (``label``) and the paper's; ``scaled`` divides each by its class A's output on 11, so their shapes compare."""
    rows = []
    for source, table in ((label, measured), ("Newgas (2025)", paper)):
        scale = table[0, -1] if np.isfinite(table[0, -1]) and table[0, -1] != 0 else 1.0
        for c, cls in enumerate(NEWGAS_CLASSES):
            for k, case in enumerate(NEWGAS_CASES):
                v = float(table[c, k])
                rows.append({"source": source, "class": cls, "case": case, "output": v, "scaled": v / scale})
    return pd.DataFrame(rows)


def newgas_chart(df: pd.DataFrame, height: int = 210) -> alt.Chart:
    """Mean neuron output per class on the pair's four cases, measured (solid) against the paper (dashed), each
    scaled by its class A's output on 11."""
    sources = panel_order(df, "source")
    return (
        alt.Chart(chart_data(df[np.isfinite(df["scaled"])]), title="Truth table per neuron class")
        .mark_line(point=True)
        .encode(
            x=alt.X("case:O", sort=list(NEWGAS_CASES), title="inputs (x_i, x_j)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("scaled:Q", title=y_title("output ÷ A's output on 11")),
            color=alt.Color("class:N", sort=list(NEWGAS_CLASSES), legend=alt.Legend(labelLimit=LABEL_LIMIT)),
            strokeDash=alt.StrokeDash(
                "source:N",
                sort=sources,
                scale=alt.Scale(domain=sources, range=[[1, 0], [6, 4]][: len(sources)]),
                legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#555555", labelLimit=LABEL_LIMIT),
            ),
            detail="source:N",
            tooltip=[
                "source:N",
                "class:N",
                "case:N",
                alt.Tooltip("output:Q", format=".4f"),
                alt.Tooltip("scaled:Q", format=".3f"),
            ],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )


def newgas_class_frame(
    shares: np.ndarray, readout: np.ndarray, rule_per_class: np.ndarray, table: np.ndarray
) -> pd.DataFrame:
    """One row per class: its share of the neurons (mean over pairs), the readout sign the rule predicts, the mean
    readout weight, the share of its (gate, neuron) pairs following the rule, and its mean output per case."""
    frame = pd.DataFrame(
        {
            "class": list(NEWGAS_CLASSES),
            "signs (i, j)": ["+ +", "+ −", "− +", "− −"],
            "share of neurons": np.round(shares, 3),
            "rule's readout sign": ["+", "−", "−", "+"],
            "mean readout": np.round(readout, 4),
            "follows the rule": np.round(rule_per_class, 3),
        }
    )
    for k, case in enumerate(NEWGAS_CASES):
        frame[f"out {case}"] = np.round(table[:, k], 4)
    return frame
