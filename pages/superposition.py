"""Superposition: Anthropic's toy models of superposition, trained live."""

import numpy as np
import streamlit as st

from charts.common import pick_instances, probability_label
from charts.tms import (directions_chart, directions_frame, feature_frame, loss_chart, loss_frame, norm_bars,
                        wtw_frame, wtw_heatmaps)
from toys import TMSConfig, TMSTrainer
from toys.data import instance_probability
from toys.metrics import feature_dimensionality, feature_norms, n_represented, superposition_score
from ui.export import export_row, snapshot_buttons
from ui.live import live_training
from ui.nav import ensure_app_navigation
from ui.tms_controls import tms_config, tms_controls

MAX_SHOWN = 10
MAX_HEATMAP_CELLS = 4000  # WᵀW cells drawn per tick, across instances

ensure_app_navigation()

st.title("Superposition")
st.markdown(
    "A linear map W squeezes **n features into m < n dimensions**; W's transpose and a ReLU read them back. "
    "When features are rarely active (sparse), the model stores more features than it has dimensions, in "
    "**superposition**: antipodal pairs, triangles, pentagons. Each instance is an independent model at its "
    "own feature probability 1−S."
)

values = tms_controls()
try:
    cfg = tms_config(values)
except ValueError as e:
    st.error(f"These settings do not make a valid model: {e}. Training keeps the last valid model, if there is one.")
    cfg = None


def draw(snap, info) -> None:
    cfg = TMSConfig.from_dict(snap.config)
    W = snap["W"]  # (I, H, F)
    p = instance_probability(cfg)
    labels = [f"#{i} · {probability_label(v)}" for i, v in enumerate(p)]
    shown = pick_instances(cfg.n_instances, MAX_SHOWN)
    if len(shown) < cfg.n_instances:
        st.caption(f"Showing {len(shown)} of {cfg.n_instances} instances, spread evenly over the sweep.")
    norms, sup, dims = feature_norms(W), superposition_score(W), feature_dimensionality(W)

    losses = loss_frame(snap.loss[:, shown], snap.loss_steps, [labels[i] for i in shown])
    left, right = st.columns([3, 2])
    lc = loss_chart(losses, cfg.steps)
    left.altair_chart(lc, width="stretch")
    final = snap.final_loss
    right.dataframe(
        {
            "instance": [labels[i] for i in shown],
            "loss": [float(final[i]) for i in shown],
            "represented": [int(v) for v in n_represented(W)[shown]],
            "dims/feature": [float(cfg.n_hidden / max((W[i] ** 2).sum(), 1e-12)) for i in shown],
        },
        hide_index=True,
        height=260,
    )
    features = feature_frame(W, shown, labels, norms, sup, dims)
    bars = norm_bars(features)
    st.altair_chart(bars)
    if cfg.n_hidden == 2:
        arrows_df = directions_frame(W, shown, labels, sup)
        arrows = directions_chart(arrows_df)
        st.altair_chart(arrows)
    gram_shown = pick_instances(cfg.n_instances, max(1, min(MAX_SHOWN, MAX_HEATMAP_CELLS // cfg.n_features**2)))
    gram_df = wtw_frame(W, gram_shown, labels)
    gram = wtw_heatmaps(gram_df)
    st.altair_chart(gram)

    if not info["playing"]:
        with st.expander("Export"):
            snapshot_buttons(snap, "tms_snap")
            st.markdown("**Loss curve**")
            export_row("tms_loss", lc, losses, "tms_loss")
            st.markdown("**Feature norms**")
            export_row("tms_norms", bars, features, "tms_norms")
            if cfg.n_hidden == 2:
                st.markdown("**Feature directions**")
                export_row("tms_directions", arrows, arrows_df, "tms_dirs")
            st.markdown("**WᵀW**")
            export_row("tms_wtw", gram, gram_df, "tms_wtw")


live_training("tms", cfg, TMSTrainer, draw)
