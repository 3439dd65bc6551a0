"""Charts of the circuit-clustering pipeline: training curves, co-activation by cluster, clusters vs circuits,
scores per method and latent health. Frames in, altair charts out."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.common import FIT_WIDTH, LABEL_LIMIT, chart_data, decade_domain, lone_points, panel_order, y_title

MAX_HEATMAP_LATENTS = 160  # latents drawn in the co-activation heatmap (160² cells)


def pipeline_loss_frame(loss: np.ndarray, steps: np.ndarray, model_steps: int) -> pd.DataFrame:
    """Long table (step, stage, loss) from a pipeline snapshot's (n, 1) loss: the model's up to ``model_steps``,
    the transcoder's after."""
    stage = np.where(steps <= model_steps, "circuits model (MSE)", "transcoder (MSE + penalty)")
    return pd.DataFrame({"step": steps, "stage": stage, "loss": loss[:, 0] if len(loss) else np.zeros(0)})


def pipeline_loss_chart(df: pd.DataFrame, total_steps: int, model_steps: int, height: int = 150) -> alt.LayerChart:
    """Both stages' losses against the pipeline's step, a rule where the transcoder starts."""
    finite = df[np.isfinite(df["loss"]) & (df["loss"] > 0)]
    lines = (
        alt.Chart(chart_data(finite))
        .mark_line(strokeWidth=1.5, point=lone_points(finite["step"]))
        .encode(
            x=alt.X("step:Q", scale=alt.Scale(domain=[0, total_steps]), title="step"),
            y=alt.Y(
                "loss:Q", scale=alt.Scale(type="log", domain=decade_domain(finite["loss"].to_numpy())), title="loss"
            ),
            color=alt.Color(
                "stage:N",
                title=None,
                sort=panel_order(df, "stage"),
                legend=alt.Legend(orient="top", labelLimit=LABEL_LIMIT),
            ),
            tooltip=["stage:N", "step:Q", alt.Tooltip("loss:Q", format=".3e")],
        )
    )
    rule = (
        alt.Chart(chart_data(pd.DataFrame({"step": [model_steps]})))
        .mark_rule(strokeDash=[4, 3], color="gray")
        .encode(x="step:Q")
    )
    return alt.layer(lines, rule).properties(
        height=height, title="Training: circuits model, then transcoder", autosize=FIT_WIDTH
    )


def transcoder_frame(tc_loss: np.ndarray, steps: np.ndarray) -> pd.DataFrame:
    """Long table (step, metric, value) of the transcoder's normalised MSE and L0 (columns 1, 2 of its loss log)."""
    if len(tc_loss) == 0:
        return pd.DataFrame({"step": [], "metric": [], "value": []})
    return pd.DataFrame(
        {
            "step": np.concatenate([steps, steps]),
            "metric": ["normalised MSE"] * len(steps) + ["L0 (latents firing per sample)"] * len(steps),
            "value": np.concatenate([tc_loss[:, 1], tc_loss[:, 2]]),
        }
    )


def transcoder_chart(df: pd.DataFrame, height: int = 140) -> alt.FacetChart:
    """Each metric against the transcoder's step, one panel each. Until a line can show, the logged points are
    drawn on axes from zero: an axis around one value alone labels it with six decimals ("50.000000")."""
    lone = lone_points(df["step"])
    return (
        alt.Chart(chart_data(df))
        .mark_line(point=lone)
        .encode(
            x=alt.X("step:Q", title="transcoder step", scale=alt.Scale(zero=True), axis=alt.Axis(format="~s")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=lone), axis=alt.Axis(format="~r")),
            tooltip=["metric:N", "step:Q", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=height, width=260)
        .facet(column=alt.Column("metric:N", title=None, sort=panel_order(df, "metric")))
        .resolve_scale(y="independent")
        .properties(title="Transcoder: reconstruction and sparsity")
    )


def cluster_order(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Latent order for the heatmap: by found cluster (largest first), then true circuit, then index."""
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, int)
    return np.lexsort((np.arange(len(labels)), truth, labels, -sizes[labels])) if len(labels) else np.zeros(0, int)


def coactivation_frame(
    S: np.ndarray, labels: np.ndarray, truth: np.ndarray, latent_ids: np.ndarray, max_latents: int = MAX_HEATMAP_LATENTS
) -> pd.DataFrame:
    """Long table of the similarity matrix reordered by cluster: (x, y) positions, latents, clusters, circuits.

    More than ``max_latents`` latents: every k-th of the reordered latents is drawn (the caption says so).
    """
    order = cluster_order(labels, truth)
    if len(order) > max_latents:
        order = order[np.linspace(0, len(order) - 1, max_latents).round().astype(int)]
    n = len(order)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a, b = order[ii.ravel()], order[jj.ravel()]
    return pd.DataFrame(
        {
            "x": jj.ravel(),
            "y": ii.ravel(),
            "similarity": S[a, b],
            "latent_y": latent_ids[a],
            "latent_x": latent_ids[b],
            "cluster_y": labels[a],
            "cluster_x": labels[b],
            "circuit_y": truth[a],
            "circuit_x": truth[b],
        }
    )


def coactivation_chart(df: pd.DataFrame, similarity: str, size: int = 420) -> alt.Chart:
    n = int(df["x"].max()) + 1 if len(df) else 1
    hi = float(np.quantile(df["similarity"][df["x"] != df["y"]], 0.99)) if n > 1 else 1.0
    return (
        alt.Chart(chart_data(df), title=f"Co-activation ({similarity}), latents ordered by found cluster")
        .mark_rect()
        .encode(
            x=alt.X("x:O", axis=None),
            y=alt.Y("y:O", axis=None),
            color=alt.Color(
                "similarity:Q",
                scale=alt.Scale(scheme="viridis", domain=[0, max(hi, 1e-6)], clamp=True),
                title=similarity,
            ),
            tooltip=[
                "latent_y:Q",
                "latent_x:Q",
                alt.Tooltip("similarity:Q", format=".3f"),
                "cluster_y:Q",
                "cluster_x:Q",
                "circuit_y:Q",
                "circuit_x:Q",
            ],
        )
        .properties(width=size, height=size)
    )


def contingency_frame(labels: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """(cluster, circuit, latents) for every pair that shares at least one latent; clusters sorted by size."""
    df = pd.DataFrame({"cluster": labels, "circuit": truth}).value_counts().rename("latents").reset_index()
    sizes = df.groupby("cluster")["latents"].sum().rank(method="first", ascending=False).astype(int) - 1
    df["cluster_rank"] = df["cluster"].map(sizes)
    return df.sort_values(["cluster_rank", "circuit"]).reset_index(drop=True)


def contingency_chart(df: pd.DataFrame) -> alt.LayerChart:
    base = alt.Chart(chart_data(df)).encode(
        x=alt.X("circuit:O", title="true circuit"),
        y=alt.Y("cluster_rank:O", title=y_title("found cluster (largest first)")),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("latents:Q", scale=alt.Scale(scheme="blues"), title="latents"),
        tooltip=["cluster:Q", "circuit:Q", "latents:Q"],
    )
    text = base.mark_text(fontSize=9).encode(text="latents:Q")
    n_rows = int(df["cluster_rank"].max()) + 1 if len(df) else 1
    return alt.layer(rect, text).properties(
        title="Found clusters vs true circuits", width=alt.Step(22), height=alt.Step(max(6, min(18, 420 // n_rows)))
    )


def scores_frame(scores: dict[str, dict[str, float]], labels: dict[str, str]) -> pd.DataFrame:
    """Long table (method, metric, value) of ARI, AMI and purity per method, plus wide counts for the table."""
    rows = []
    for method, s in scores.items():
        for metric in ("ari", "ami", "purity"):
            rows.append(
                {
                    "method": labels.get(method, method),
                    "metric": metric.upper() if metric != "purity" else "purity",
                    "value": s[metric],
                    "found": s["found"],
                    "found_2plus": s["found_2plus"],
                    "true": s["true"],
                }
            )
    return pd.DataFrame(rows)


def scores_chart(df: pd.DataFrame, selected: str) -> alt.Chart:
    return (
        alt.Chart(chart_data(df), title="Scores against the true circuits")
        .mark_bar()
        .encode(
            y=alt.Y("method:N", title=None, sort=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1], clamp=True), title=None),
            color=alt.Color("method:N", legend=None),
            opacity=alt.condition(alt.datum.method == selected, alt.value(1.0), alt.value(0.45)),
            row=alt.Row("metric:N", title=None, sort=["ARI", "AMI", "purity"]),
            tooltip=[
                "method:N",
                "metric:N",
                alt.Tooltip("value:Q", format=".3f"),
                "found:Q",
                "found_2plus:Q",
                "true:Q",
            ],
        )
        .properties(width=240, height=alt.Step(20))
    )


def health_frame(fired: np.ndarray, live: np.ndarray, dead_in_training: np.ndarray) -> pd.DataFrame:
    """One row per latent: firing frequency, its log10 (−7 for never) and status."""
    status = np.where(live, "live (clustered)", np.where(fired > 0, "rare (left out)", "dead"))
    status = np.where(dead_in_training & ~live & (fired == 0), "dead", status)
    return pd.DataFrame(
        {
            "latent": np.arange(len(fired)),
            "frequency": fired,
            "log10_frequency": np.where(fired > 0, np.log10(np.maximum(fired, 1e-12)), -7.0),
            "status": status,
        }
    )


def health_chart(df: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(chart_data(df), title="Latent health")
        .mark_bar()
        .encode(
            x=alt.X(
                "log10_frequency:Q",
                bin=alt.Bin(extent=[-7, 0], step=0.25),
                title=["log₁₀ firing frequency", "(dead latents at −7)"],
            ),
            y=alt.Y("count():Q", title="latents"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(
                    domain=["live (clustered)", "rare (left out)", "dead"], range=["#4c78a8", "#f58518", "#e45756"]
                ),
                title=None,
                legend=alt.Legend(labelLimit=LABEL_LIMIT),
            ),
            tooltip=["status:N", "count():Q"],
        )
        .properties(height=130, autosize=FIT_WIDTH)
    )


def study_frame(rows: list[dict], methods: tuple[str, ...] = ("average", "spectral")) -> pd.DataFrame:
    """Long table (neurons_per_circuit, seed, variant, co-activations, ari) from the rows of
    ``toys.circuits.study`` (one per setting, seed and conditioning; ``ari_<method>`` per method)."""
    records = []
    for row in rows:
        for method in methods:
            records.append(
                {
                    "neurons_per_circuit": row["neurons_per_circuit"],
                    "seed": row["seed"],
                    "variant": f"{'TopK' if row['sparsity'] == 'topk' else 'L1'} transcoder · {method} clustering",
                    "co-activations": "on samples with few inputs" if row["conditioned"] else "on every sample",
                    "ari": row[f"ari_{method}"],
                }
            )
    return pd.DataFrame.from_records(records)


def study_chart(df: pd.DataFrame, height: int = 260) -> alt.LayerChart:
    """ARI against neurons per circuit (log₂ axis): the mean over seeds as lines, each seed as a point; one colour
    per transcoder and clustering method, solid for co-activations on every sample, dashed for conditioned."""
    variants = sorted(pd.unique(df["variant"]).tolist())
    x = alt.X(
        "neurons_per_circuit:Q",
        scale=alt.Scale(type="log", base=2),
        axis=alt.Axis(values=sorted(pd.unique(df["neurons_per_circuit"]).tolist())),
        title="neurons per circuit (shared MLP neurons ÷ circuits)",
    )
    color = alt.Color(
        "variant:N", sort=variants, title=None, legend=alt.Legend(orient="bottom", columns=2, labelLimit=LABEL_LIMIT)
    )
    dash = alt.StrokeDash("co-activations:N", title=None, legend=alt.Legend(orient="bottom"))
    means = (
        alt.Chart(chart_data(df))
        .mark_line()
        .encode(x=x, y=alt.Y("mean(ari):Q", title="ARI (mean of seeds)"), color=color, strokeDash=dash)
    )
    points = (
        alt.Chart(chart_data(df))
        .mark_point(size=25, opacity=0.6)
        .encode(x=x, y=alt.Y("ari:Q"), color=color, tooltip=["variant:N", "co-activations:N", "seed:Q", "ari:Q"])
    )
    return alt.layer(means, points).properties(
        height=height, width=520, title="Recovering circuits that share neurons: ARI against neurons per circuit"
    )
