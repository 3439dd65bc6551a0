"""Superposition: Anthropic's toy models of superposition, trained live."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import pandas as pd
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.common import instance_labels, pick_instances
from charts.neurons import neuron_chart, neuron_frame
from charts.tms import (
    directions_chart,
    directions_frame,
    feature_frame,
    loss_chart,
    loss_frame,
    norm_bars,
    wtw_frame,
    wtw_heatmaps,
)
from toys import TMSConfig, make_tms_trainer
from toys.core.composite import Pair, PairTrainer, split
from toys.core.data import instance_probability
from toys.tms.data import importance
from toys.tms.metrics import (
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    n_represented,
    neuron_counts,
    neuron_monosemanticity,
    superposition_score,
)
from ui.controls import valid_config
from ui.export import export_panel, loss_and_summary_export
from ui.live import live_training
from ui.talk import header
from ui.talk_views import pick_instance, tms_view
from ui.tms_controls import tms_config, tms_controls

MAX_SHOWN = 10
MAX_HEATMAP_CELLS = 4000  # WᵀW cells drawn per tick, across instances

header(
    "superposition",
    "Superposition",
    "A linear map W squeezes **n features into m < n dimensions**; W's transpose and a ReLU read them back. "
    "When features are rarely active (sparse), the model stores more features than it has dimensions, in "
    "**superposition**: antipodal pairs, triangles, pentagons. Each instance is an independent model at its "
    "own feature probability 1−S.",
)

values = tms_controls()
cfg = valid_config(tms_config, values)


def _labels(cfg: TMSConfig) -> list[str]:
    return instance_labels(instance_probability(cfg))


def _metrics(snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature norm, superposition score and dimensionality, (I, F) each: computed once per tick and model."""
    W = snap["W"]
    return feature_norms(W), superposition_score(W), feature_dimensionality(W)


def _summary(snap, shown, labels, metrics) -> pd.DataFrame:
    cfg = TMSConfig.from_dict(snap.config)
    W = snap["W"]
    _, sup, dims = metrics
    table = {
        "instance": [labels[i] for i in shown],
        "activation": cfg.activation if cfg.model != "linear" else "—",
        "dropout": cfg.dropout,
        "loss": snap.final_loss[shown],
        "represented": n_represented(W)[shown],
        "dims/feature": dimensions_per_feature(W)[shown],
        "mean superposition": sup[shown].mean(axis=1),
        "mean dimensionality": dims[shown].mean(axis=1),
    }
    if cfg.model == "relu_hidden" or cfg.dropout:
        counts = neuron_counts(W)
        table |= {
            "monosemantic neurons": counts["monosemantic"][shown],
            "polysemantic neurons": counts["polysemantic"][shown],
        }
    if "restart" in snap.extras:
        table["seed kept"] = [f"{snap.extras['restart'][i] + 1} of {cfg.restarts}" for i in shown]
    return pd.DataFrame(table)


def _variant(snap, shown, labels, metrics, key: str, columns: int) -> None:
    """Every chart of one model: norms, neurons (privileged basis), directions (m = 2), WᵀW; its exports."""
    cfg = TMSConfig.from_dict(snap.config)
    W = snap["W"]  # (I, H, F)
    norms, sup, dims = metrics
    features = feature_frame(W, shown, labels, norms, sup, dims)
    bars = norm_bars(features, columns=columns)
    st.altair_chart(bars)
    exports = [("Feature norms", f"{key}_norms", bars, features)]
    if cfg.model == "relu_hidden" or cfg.dropout:
        neurons = neuron_frame(W, shown, labels, importance(cfg), neuron_monosemanticity(W))
        nc = neuron_chart(neurons, columns=columns)
        st.altair_chart(nc)
        st.caption(
            "A hidden ReLU (or dropout) can make the neuron basis privileged: a neuron is monosemantic when "
            "≥ 90% of its squared weight is on one feature. Sparser instances pack several features per neuron."
        )
        exports.append(("Neurons", f"{key}_neurons", nc, neurons))
    if cfg.n_hidden == 2:
        arrows_df = directions_frame(W, shown, labels, sup)
        arrows = directions_chart(arrows_df, columns=columns)
        st.altair_chart(arrows)
        exports.append(("Feature directions", f"{key}_dirs", arrows, arrows_df))
    gram_shown = pick_instances(cfg.n_instances, max(1, min(MAX_SHOWN, MAX_HEATMAP_CELLS // cfg.n_features**2)))
    gram_df = wtw_frame(W, gram_shown, labels)
    gram = wtw_heatmaps(gram_df, columns=columns)
    st.altair_chart(gram)
    exports.append(("WᵀW", f"{key}_wtw", gram, gram_df))
    export_panel(snap, key, exports, "Export" + (f" variant {key[-1].upper()}" if key != "tms" else ""))


# the summary's long headers, shortened to fit the page's width (a full name under each header's help)
SUMMARY_COLUMNS = {
    "mean superposition": st.column_config.NumberColumn("superposition", help="mean superposition score"),
    "mean dimensionality": st.column_config.NumberColumn("dimensionality", help="mean feature dimensionality"),
    "monosemantic neurons": st.column_config.NumberColumn(
        "monosemantic", help="neurons with at least 90% of their squared weight on one feature"
    ),
    "polysemantic neurons": st.column_config.NumberColumn("polysemantic", help="the other neurons"),
}


def draw(snap, info) -> None:
    pair = bool(snap.extras.get("pair"))
    snaps = split(snap) if pair else (snap,)
    cfg = TMSConfig.from_dict(snaps[0].config)
    labels = _labels(cfg)
    shown = pick_instances(cfg.n_instances, MAX_SHOWN)
    if len(shown) < cfg.n_instances:
        st.caption(f"Showing {len(shown)} of {cfg.n_instances} instances, spread evenly over the sweep.")
    if cfg.restarts > 1:
        st.caption(
            f"Every instance trains {cfg.restarts} seeds at once; each chart shows the seed with the lowest "
            "recent loss."
        )

    names = ["A", "B"] if pair else [""]
    cols = np.concatenate([np.asarray(shown) + k * cfg.n_instances for k in range(len(names))])
    losses = loss_frame(snap.loss[:, cols], snap.loss_steps, [f"{n} {labels[i]}".strip() for n in names for i in shown])
    lc = loss_chart(losses, cfg.steps)
    st.altair_chart(lc, width="stretch")
    metrics = [_metrics(s) for s in snaps]
    summary = pd.concat(
        [_summary(s, shown, labels, m).assign(variant=n or "—") for s, m, n in zip(snaps, metrics, names)]
    )
    summary = summary[["variant"] + [c for c in summary.columns if c != "variant"]] if pair else summary
    same = {} if pair else {k: None for k in ("activation", "dropout")}  # one model: its settings are in the sidebar
    st.dataframe(summary, hide_index=True, width="stretch", column_config=SUMMARY_COLUMNS | same)
    loss_and_summary_export("tms", lc, losses, summary, snap)
    if pair:
        for column, s, m, n in zip(st.columns(2), snaps, metrics, names):
            with column:
                c = TMSConfig.from_dict(s.config)
                st.subheader(f"Variant {n}: {c.activation}" + (f", dropout {c.dropout:g}" if c.dropout else ""))
                _variant(s, shown, labels, m, f"tms_{n.lower()}", columns=2)
    else:
        _variant(snap, shown, labels, metrics[0], "tms", columns=5)


def talk(snap, info) -> None:
    """Talk mode: one instance large (directions and norms when m = 2, else norms and WᵀW)."""
    cfg = TMSConfig.from_dict((split(snap)[0] if snap.extras.get("pair") else snap).config)
    instance = pick_instance(cfg.n_instances, _labels(cfg), info["aside"])
    st.altair_chart(tms_view(snap, instance), width="content")


def _make(cfg):
    return PairTrainer(cfg, make_tms_trainer) if isinstance(cfg, Pair) else make_tms_trainer(cfg)


live_training("tms", cfg, _make, draw, talk=talk)
