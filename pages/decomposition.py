"""Decomposition: sparse dictionaries (SAEs, transcoders) trained on activations whose features are known, scored."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import json

import numpy as np
import pandas as pd
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.decomp import matched_chart, matched_frame, scores_frame, sweep_chart
from charts.talk import TALK_H, enlarge, for_talk
from charts.tms import loss_chart, loss_frame
from toys.core.device import resolve_device
from toys.decomp.sae import TOPK_ARCHS, SAEConfig, SAETrainer, instance_decoders, make_source
from toys.decomp.scores import RECOVERED_COS, cosines, match, score
from ui.cache import session_memo, snapshot_tag
from ui.controls import valid_config
from ui.decomp_controls import sae_config, sae_controls
from ui.export import export_panel
from ui.live import live_training
from ui.talk import header

EVAL_SAMPLES = 4096  # held-out samples the scores are measured on
EVAL_SEED = 1_000_003  # their seed: data the dictionaries never trained on

header(
    "decomposition",
    "Decomposition",
    "A toy's features are **known**, so a decomposition can be graded instead of eyeballed. Sparse dictionaries "
    "(SAEs; transcoders for an MLP) train live on activations with known feature directions: a synthetic source "
    "(Zipfian, correlated or hierarchical features), a toy model of superposition's hidden layer, or the MLP of a "
    "planted-circuits model. Each is scored against the truth: **MCC** (mean |cos| of decoder rows matched one to "
    "one to the true directions, as `sae_lens.synthetic` defines it), features **recovered** at cos ≥ 0.9, L0 "
    "against the true L0, dead latents, shrinkage, absorption and splitting.",
)

values = sae_controls()
cfg = valid_config(sae_config, values, thing="dictionary")


def _scores(snap, cfg: SAEConfig) -> pd.DataFrame:
    """Every instance's scores on held-out samples of the config's source, once per snapshot."""

    def compute():
        acts = _source(cfg).acts(EVAL_SAMPLES, seed=cfg.seed + EVAL_SEED)
        return scores_frame(score(snap, acts=acts)["instances"])

    return session_memo("sae_scores", snapshot_tag(snap), compute)


def _labels(cfg: SAEConfig) -> list[str]:
    knob = "k" if cfg.arch in TOPK_ARCHS else "λ"
    return [f"#{i} · width {w} · {knob} {v:g}" for i, (w, v) in enumerate(cfg.grid)]


def _matrix(decoder, truth) -> pd.DataFrame:
    """The matched-cosine table of one dictionary: |cos| of every true feature with every latent, and the matching
    its MCC is the mean of."""
    latents, features, _ = match(decoder, truth)
    return matched_frame(np.abs(cosines(truth, decoder)), latents, features)


def _best(df: pd.DataFrame) -> int:
    return int(df["mcc"].idxmax())


def draw(snap, info) -> None:
    cfg = SAEConfig.from_dict(snap.config)
    df = _scores(snap, cfg)
    knob = "k" if cfg.arch in TOPK_ARCHS else "penalty"
    best = _best(df)
    row = df.loc[best]
    c = st.columns(5)
    c[0].metric("MCC (best instance)", f"{row['mcc']:.3f}")
    c[1].metric(f"recovered at cos ≥ {RECOVERED_COS}", f"{int(row['recovered'])} / {int(row['n_true'])}")
    c[2].metric("L0 · true L0", f"{row['l0']:.2f} · {row['true_l0']:.2f}")
    c[3].metric("dead latents", f"{int(row['dead'])} / {int(row['width'])}")
    c[4].metric("shrinkage", f"{row['shrinkage']:.3f}", help="mean ‖reconstruction‖ / ‖target‖ (1: no shrinkage)")

    shown = ["instance", "width", knob, "mcc", "recovered", "split", "l0", "true_l0", "dead", "shrinkage", "nmse"]
    if cfg.source == "synthetic" and cfg.n_parents > 0:
        shown += ["absorption", "absorbed_cos"]
    table = df[[k for k in shown if k in df]]
    st.dataframe(table.round(4), hide_index=True)

    labels = _labels(cfg)
    choice = st.selectbox(
        "Dictionary to inspect",
        [-1, *range(cfg.n_instances)],
        format_func=lambda i: f"the best by MCC (now {labels[best]})" if i < 0 else labels[i],
        key="sae_inspect",
    )
    pick = best if choice < 0 or choice >= cfg.n_instances else choice
    decoder = instance_decoders(snap)[pick]
    mframe = _matrix(decoder, snap["truth"])
    matrix = matched_chart(mframe, f"|cos|, true features × latents of {labels[pick]} · step {snap.step:,}")
    st.altair_chart(
        matrix, width="content"
    )  # its own size: stretched, Streamlit squeezes title and axes into its height
    losses = loss_frame(snap.loss, snap.loss_steps, labels)
    lc = loss_chart(losses, cfg.steps)
    st.altair_chart(lc, width="stretch")

    exports = [
        ("Scores", "sae_scores", None, table),
        ("Matched cosines", "sae_matched", matrix, mframe),
        ("Loss", "sae_loss", lc, losses),
    ]
    widths, knobs = cfg.widths_list, cfg.knob_list
    knob_title = "k" if knob == "k" else "penalty λ"
    if len(widths) > 1 or len(knobs) > 1:
        left, right = st.columns(2)
        if len(widths) > 1:
            vs_width = sweep_chart(df, "width", "mcc", knob, "dictionary width", "MCC")
            left.altair_chart(vs_width, width="stretch")
            exports.append(("MCC against width", "sae_vs_width", vs_width, df))
        if len(knobs) > 1:
            vs_knob = sweep_chart(df, knob, "recovered_share", "width", knob_title, "share recovered", log_x=True)
            right.altair_chart(vs_knob, width="stretch")
            exports.append(("Recovery against the sparsity knob", "sae_vs_knob", vs_knob, df))
    if cfg.source == "synthetic" and cfg.n_parents > 0:
        st.caption(
            "Absorption: over (parent, child) pairs, how much more often the parent's latent is silent when the child "
            "fires than when the parent fires alone (Chanin et al., 2024); absorbed cos: the child's latent's cosine "
            "with the parent's direction."
        )
    export_panel(snap, "sae", exports)


def talk(snap, info) -> None:
    """Talk mode: the best dictionary's matched-cosine matrix, large, with its MCC and recovery."""
    cfg = SAEConfig.from_dict(snap.config)
    df = _scores(snap, cfg)
    best = _best(df)
    row = df.loc[best]
    info["aside"].markdown(
        f"MCC **{row['mcc']:.2f}** · recovered **{int(row['recovered'])} / {int(row['n_true'])}** · "
        f"L0 **{row['l0']:.1f}** (true {row['true_l0']:.1f})"
    )
    decoder = instance_decoders(snap)[best]
    chart = matched_chart(_matrix(decoder, snap["truth"]), f"{_labels(cfg)[best]} · step {snap.step:,}")
    st.altair_chart(for_talk(enlarge(chart, width=900, height=TALK_H)), width="content")


def source_key(cfg: SAEConfig) -> str:
    """What fixes a config's source: its kind and its source config's fields."""
    part = {"synthetic": cfg.synthetic, "tms": cfg.tms, "circuits": cfg.circuits}[cfg.source]()
    return f"{cfg.source}:{json.dumps(part.to_dict(), sort_keys=True)}"


@st.cache_resource(
    max_entries=8,
    show_spinner="Training the toy model whose activations the dictionaries read (once per source setting, for "
    "every visitor)…",
)
def _shared_source(key: str, device: str, _cfg: SAEConfig):
    """The source of ``_cfg`` on ``device``, built once per process for its source fields (``key``): a tms or
    circuits source trains its model first, seconds that every visitor of the same setting shares. Sources are
    read-only: each trainer samples them with its own generator."""
    return make_source(_cfg, device)


def _source(cfg: SAEConfig):
    """The config's source on its device, shared by every trainer and every score of its source fields."""
    return _shared_source(source_key(cfg), str(resolve_device(cfg.device)), cfg)


def make_trainer(cfg: SAEConfig) -> SAETrainer:
    return SAETrainer(cfg, _source(cfg))


live_training("sae", cfg, make_trainer, draw, step_size=500, talk=talk)
