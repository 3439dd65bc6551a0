"""Circuit clustering: recover a toy model's planted circuits from its transcoder's latent co-activations."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import altair as alt
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.clustering import (
    coactivation_chart,
    coactivation_frame,
    contingency_chart,
    contingency_frame,
    health_chart,
    health_frame,
    pipeline_loss_chart,
    pipeline_loss_frame,
    scores_chart,
    scores_frame,
    transcoder_chart,
    transcoder_frame,
)
from charts.talk import TALK_H, enlarge, for_talk
from fastcore import warm
from toys.circuits.pipeline import METHOD_LABELS, PipelineTrainer, analyse, split_snapshot
from toys.core.device import resolve_device
from ui.cache import session_memo, snapshot_tag
from ui.clustering_controls import clustering_configs, clustering_controls
from ui.export import export_panel
from ui.live import live_training
from ui.talk import header, talk_mode

header(
    "clustering",
    "Circuit clustering",
    "T independent **circuits** (each computes |x| or pairwise ANDs of its own features; only a few are active at "
    "once) share **one MLP**, so it computes them in superposition. A **transcoder** learns sparse latents mapping "
    "the MLP's input to its output. Latents of one circuit should fire together: cluster their **co-activations** "
    "and score the clusters against the circuits each latent's weights point at.",
)

TALK_PLOT = 320  # px: the talk view's heatmap side and its table's most, what fits under the step row at 720 high

values = clustering_controls()
device = resolve_device("auto").type
cfg, cluster_cfg = clustering_configs(values, device)


def _analysis(model, transcoder, snap):
    """Activations, co-activations and clusterings of a finished pipeline, once per snapshot and settings."""

    def compute():
        box = st.empty()
        with box.status("Collecting activations, counting co-activations, clustering…", expanded=False) as status:
            for group in ("coactivation", "cluster"):
                if warm.compiling(group):
                    status.update(
                        label=f"Waiting for the {group} kernels to finish compiling (first use since the "
                        "server started)…"
                    )
                    warm.wait(group)
            result = analyse(model, transcoder, cluster_cfg, device=device)
            status.update(
                label="Analysis done: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items()),
                state="complete",
            )
        if talk_mode():  # the timings are for the researcher; on a 720-high screen they pushed the charts down
            box.empty()
        return result

    return session_memo("clu_analysis", snapshot_tag(snap, cluster_cfg), compute)


def draw(snap, info) -> None:
    stage = snap.extras["stage"]
    model_steps = snap.config["steps"]
    losses = pipeline_loss_frame(snap.loss, snap.loss_steps, model_steps)
    lc = pipeline_loss_chart(losses, model_steps + snap.config["tc_steps"], model_steps)
    st.altair_chart(lc, width="stretch")
    model, transcoder = split_snapshot(snap)
    tframe = transcoder_frame(transcoder.loss, transcoder.loss_steps) if transcoder is not None else None
    if tframe is not None and len(tframe):
        tchart = transcoder_chart(tframe)
        st.altair_chart(tchart)
    if stage != "done":
        st.caption("Clustering runs when both stages have trained: press Play (or Step) to go on.")
        return

    a = _analysis(model, transcoder, snap)
    chosen = a.scores[cluster_cfg.method]
    c = st.columns(3) + st.columns(3)  # three to a row: at six, values such as "0.123 · 4.2" are cut short
    c[0].metric("ARI", f"{chosen['ari']:.3f}")
    c[1].metric("AMI", f"{chosen['ami']:.3f}")
    c[2].metric("purity", f"{chosen['purity']:.3f}")
    c[3].metric(
        "clusters found / true",
        f"{chosen['found']} / {chosen['true']}",
        help=f"{chosen['found_2plus']} of them with two or more latents",
    )
    c[4].metric("live latents", f"{int(a.live.sum())} / {len(a.live)}")
    c[5].metric("normalised MSE · L0", f"{a.nmse:.3f} · {a.l0:.1f}")

    labels = a.labels[cluster_cfg.method]
    left, right = st.columns([3, 2])
    heat_df = coactivation_frame(a.similarity, labels, a.truth, a.live.nonzero()[0])
    heat = coactivation_chart(heat_df, cluster_cfg.similarity)
    left.altair_chart(heat)
    if heat_df["x"].max() + 1 < a.live.sum():
        left.caption(f"{heat_df['x'].max() + 1} of {int(a.live.sum())} live latents drawn, evenly along the order.")
    cont_df = contingency_frame(labels, a.truth)
    cont = contingency_chart(cont_df)
    right.altair_chart(cont)
    sc_df = scores_frame(a.scores, METHOD_LABELS)
    sc = scores_chart(sc_df, METHOD_LABELS[cluster_cfg.method])
    left, right = st.columns([3, 2])
    left.altair_chart(sc)
    hl_df = health_frame(a.fired, a.live, a.dead_in_training)
    hl = health_chart(hl_df)
    right.altair_chart(hl, width="stretch")

    exports = [
        ("Training loss", "clu_loss", lc, losses),
        ("Co-activation by cluster", "clu_coactivation", heat, heat_df),
        ("Clusters vs circuits", "clu_contingency", cont, cont_df),
        ("Scores", "clu_scores", sc, sc_df),
        ("Latent health", "clu_health", hl, hl_df),
    ]
    if tframe is not None and len(tframe):
        exports.append(("Transcoder", "clu_transcoder", tchart, tframe))
    export_panel(snap, "clu", exports)


def talk(snap, info) -> None:
    """Talk mode: the training losses until both stages are done, then the co-activations ordered by cluster."""
    model_steps = snap.config["steps"]
    if snap.extras["stage"] != "done":
        losses = pipeline_loss_frame(snap.loss, snap.loss_steps, model_steps)
        lc = pipeline_loss_chart(losses, model_steps + snap.config["tc_steps"], model_steps)
        st.altair_chart(for_talk(enlarge(lc, height=TALK_H - 60)), width="stretch")
        return
    a = _analysis(*split_snapshot(snap), snap)
    chosen = a.scores[cluster_cfg.method]
    info["aside"].markdown(
        f"ARI **{chosen['ari']:.2f}** · clusters found / circuits **{chosen['found']} / {chosen['true']}**"
    )
    labels = a.labels[cluster_cfg.method]
    heat = coactivation_chart(
        coactivation_frame(a.similarity, labels, a.truth, a.live.nonzero()[0]), cluster_cfg.similarity, TALK_PLOT
    )
    table = contingency_frame(labels, a.truth)
    side = max(1, table["cluster_rank"].nunique(), table["circuit"].nunique())  # cells per side: its rows, columns
    step = alt.Step(max(12, min(40, TALK_PLOT // side)))  # the table as high as the heatmap at most
    cont = contingency_chart(table).properties(width=step, height=step)
    st.altair_chart(for_talk(alt.hconcat(heat, cont, spacing=60).resolve_scale(color="independent")), width="content")


live_training("clu", cfg, PipelineTrainer, draw, step_size=500, talk=talk)
