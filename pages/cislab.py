"""CIS lab: a deep residual MLP trained live to compute more functions than it has neurons, counted against the naive
circuit of as many neurons."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import pandas as pd
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.deep import FLOOR, counts_chart, counts_frame, profile_chart, profile_frame
from charts.talk import TALK_H, enlarge, for_talk
from charts.tms import loss_chart, loss_frame
from toys.compute.deep import (
    COMPUTED_FRACTION,
    NEURONS_PER_FUNCTION,
    DeepConfig,
    DeepTrainer,
    beats_naive,
    function_losses,
    instance_p,
    naive_functions,
    naive_loss,
    naive_relative_loss,
    reference_loss,
    score,
    trivial_loss,
)
from ui.cache import session_memo, snapshot_tag
from ui.controls import valid_config
from ui.deep_controls import deep_config, deep_controls
from ui.export import export_panel
from ui.live import live_training
from ui.sweeps import config_value, sweep_result
from ui.talk import header, talk_mode

REFRESHES = 10  # while training plays, the accounting is redone about this many times over the run

header(
    "cislab",
    "CIS lab",
    "Can a trained network **compute more functions than it has neurons**, and beat the **naive circuit**, which "
    "computes exactly as many functions as its neurons allow and passes the rest through? The model is spd's "
    "residual MLP: n sparse features written into a residual stream by a frozen random embedding W_E, 1–3 ReLU "
    "blocks adding to it, W_Eᵀ reading it out. The functions it owes are **relu** (ReLU(xⱼ)), **abs** (|xⱼ|) or "
    "**maxabs** (max(|x|, |y|) of pairs of features, a two-layer-ish target), learnt with an mse or Lp loss on "
    "continuous or ±1 feature values. Instances train at once at feature probabilities from the first down to the "
    "lowest, so one run is a sparsity sweep. Every function is then graded on held-out data.",
)

values = deep_controls()
cfg = valid_config(deep_config, values)


def draw_sweep(rows, info, label) -> None:
    """A sweep of the deep toy (``python -m toys sweep``): functions computed per feature probability, the median
    over the sweep's seeds, against the naive circuit; how many instances beat it."""
    by = rows.groupby("p", sort=True)
    table = pd.DataFrame(
        {
            "p": by["p"].first(),
            "trained functions (median)": by["trained_functions"].median(),
            "trained (min)": by["trained_functions"].min(),
            "trained (max)": by["trained_functions"].max(),
            "naive functions": by["naive_functions"].median(),
            "beats naive": by["beats_naive"].sum().astype(int).astype(str) + " of " + by.size().astype(str),
        }
    ).reset_index(drop=True)
    n_functions = int(rows["n_functions"].max())
    neurons = int(rows["neurons"].max())
    frame = counts_frame(
        table["p"].to_numpy(),
        np.round(table["trained functions (median)"].to_numpy()),
        table["naive functions"].to_numpy(),
    )
    st.markdown(
        f"**Sweep**: {config_value(rows, 'target')} with {neurons} neurons for {n_functions} functions, "
        f"{config_value(rows, 'n_layers')} layer(s), {rows['seed'].nunique()} seeds."
    )
    left, right = st.columns([3, 2])
    left.altair_chart(counts_chart(frame, n_functions), width="stretch")
    wins = int(rows["beats_naive"].sum())
    right.metric("Instances where trained beats naive", f"{wins} of {len(rows)}")
    st.dataframe(table, hide_index=True)


if not talk_mode():
    opened = sweep_result("deep", "deep")
    if opened is not None:
        draw_sweep(*opened)
        st.divider()  # the live model below


def _labels(cfg: DeepConfig) -> list[str]:
    return [f"#{i} · p = {p:.3g}" for i, p in enumerate(instance_p(cfg))]


def accounting(snap) -> dict:
    """The held-out accounting of a snapshot with ``toys.compute.deep``'s own rule: per instance and function the
    loss relative to the best affine predictor, for the trained network and the naive circuit, and the table."""
    cfg = DeepConfig.from_dict(snap.config)
    losses = function_losses(cfg, (snap["A"], snap["C"], snap["B"]))  # (I, F), on features from seed + 1
    res = score(cfg, losses)
    ps = instance_p(cfg)
    ref = np.array([reference_loss(cfg.target, cfg.labels, p) for p in ps])
    k = naive_functions(cfg)
    naive_rel = np.zeros_like(losses)  # the naive circuit: its first k functions exact, the rest passed through
    naive_rel[:, k:] = np.array([trivial_loss(cfg.target, cfg.labels, p) for p in ps])[:, None] / ref[:, None]
    trained = [int(v) for v in res["functions"]]
    table = pd.DataFrame(
        {
            "instance": np.arange(len(ps)),
            "p": ps,
            "neurons": cfg.neurons,
            "functions F": cfg.n_functions,
            "trained computed": trained,
            "naive computed": k,
            "beats naive": [beats_naive(t, k, cfg.neurons, cfg.n_functions) for t in trained],
            "trained loss / affine": res["relative_loss"],
            "naive loss / affine": [naive_relative_loss(cfg, p) for p in ps],
            "trained L/p": res["L_over_p"],
            "naive L/p": [naive_loss(cfg, p) for p in ps],
        }
    )
    return {"step": snap.step, "table": table, "trained_rel": losses / ref[:, None], "naive_rel": naive_rel}


def _accounting(snap, playing: bool) -> dict:
    """``accounting`` once per snapshot; while training plays, at most about ``REFRESHES`` times a run (held-out
    grading of many functions takes longer than a tick), saying at which step it was done."""
    tag = snapshot_tag(snap)
    kept = st.session_state.get("deep_accounting")
    every = max(1, snap.config["steps"] // REFRESHES)
    if playing and kept is not None and kept[0][1:] == tag[1:] and 0 <= snap.step - kept[1]["step"] < every:
        return kept[1]
    return session_memo("deep_accounting", tag, lambda: accounting(snap))


def _best(table: pd.DataFrame) -> int:
    """The instance with the most functions computed over the naive circuit's (the first on ties)."""
    return int((table["trained computed"] - table["naive computed"]).idxmax())


def _profile(snap, acc: dict, cfg: DeepConfig):
    title = f"{cfg.target} · {cfg.n_layers} × {cfg.d_mlp} neurons · {cfg.n_functions} functions · step {acc['step']:,}"
    df = profile_frame(acc["trained_rel"], acc["naive_rel"], _labels(cfg))
    return df, profile_chart(df, COMPUTED_FRACTION, title)


def draw(snap, info) -> None:
    cfg = DeepConfig.from_dict(snap.config)
    acc = _accounting(snap, info["playing"])
    table = acc["table"]
    row = table.loc[_best(table)]
    c = st.columns(4)
    which = (
        "the only instance"
        if len(table) == 1
        else f"instance #{int(row['instance'])} (p = {row['p']:.3g}), the one furthest ahead of naive"
    )
    c[0].metric(
        "computed by trained",
        f"{int(row['trained computed'])} / {cfg.n_functions}",
        help=f"Functions computed: {which}.",
    )
    c[1].metric(
        "computed by naive",
        f"{int(row['naive computed'])} / {cfg.n_functions}",
        help=f"The naive circuit of as many neurons: {NEURONS_PER_FUNCTION[cfg.target]} neuron(s) per function for "
        f"{cfg.target}, min(F, N // {NEURONS_PER_FUNCTION[cfg.target]}) functions exact, the rest passed through.",
    )
    c[2].metric("neurons N · functions F", f"{cfg.neurons} · {cfg.n_functions}")
    c[3].metric("beats naive", "yes" if row["beats naive"] else "no")
    if acc["step"] != snap.step:
        st.caption(f"Accounting of step {acc['step']:,}: it is redone {REFRESHES} times a run while training plays.")
    st.dataframe(table.round(4), hide_index=True)
    st.caption(
        f"A function counts as **computed** when its held-out loss is under {COMPUTED_FRACTION:g} × the loss of the "
        "best affine predictor of it from the inputs (the same rule for every network; a network whose MLPs write "
        "nothing computes none). The **naive** circuit with the same N neurons computes min(F, N // c) functions "
        "exactly with c neurons each (relu 1, abs 2, maxabs 4) and leaves the rest to the pass-through. Trained "
        "**beats naive** when it computes more functions than naive with fewer neurons than functions. No hand-made "
        "construction is known that computes more of these functions than it has neurons, so there is no hand-made "
        "figure."
    )

    pdf, profile = _profile(snap, acc, cfg)
    st.altair_chart(profile, width="stretch")
    st.caption(
        "Each function's held-out loss over the best affine predictor's, sorted: solid the trained network, dashed "
        f"the naive circuit; a function is computed where its line is under the dotted rule at {COMPUTED_FRACTION:g}. "
        f"Exact circuits (loss 0) are drawn at the floor, {FLOOR:g}."
    )
    losses = loss_frame(snap.loss, snap.loss_steps, _labels(cfg))
    lc = loss_chart(losses, cfg.steps)
    exports = [("Accounting", "deep_accounting", None, table), ("Per-function loss", "deep_profile", profile, pdf)]
    if cfg.n_instances > 1 and cfg.p_min > 0:
        left, right = st.columns(2)
        cdf = counts_frame(table["p"].to_numpy(), table["trained computed"].to_numpy(), table["naive computed"])
        counts = counts_chart(cdf, cfg.n_functions)
        left.altair_chart(counts, width="stretch")
        right.altair_chart(lc, width="stretch")
        exports.append(("Functions computed against p", "deep_counts", counts, cdf))
    else:
        st.altair_chart(lc, width="stretch")
    exports.append(("Loss", "deep_loss", lc, losses))
    export_panel(snap, "deep", exports)


def talk(snap, info) -> None:
    """Talk mode: the per-function chart, large, with the trained and naive counts."""
    cfg = DeepConfig.from_dict(snap.config)
    acc = _accounting(snap, info["playing"])
    row = acc["table"].loc[_best(acc["table"])]
    info["aside"].markdown(
        f"computed: trained **{int(row['trained computed'])}** · naive **{int(row['naive computed'])}** of "
        f"{cfg.n_functions} · {cfg.neurons} neurons"
    )
    chart = _profile(snap, acc, cfg)[1]
    st.altair_chart(for_talk(enlarge(chart, width=900, height=TALK_H)), width="content")


live_training("deep", cfg, DeepTrainer, draw, step_size=500, talk=talk)
