"""Absolute value and relatives: a hidden layer computing nonlinear functions of sparse features, live."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import pandas as pd
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.common import instance_labels, pick_instances
from charts.neurons import neuron_chart, neuron_frame, output_loss_chart, output_loss_frame
from charts.talk import enlarge, for_talk
from charts.tms import loss_chart, loss_frame
from toys.compute.absval import AbsConfig, AbsTrainer, affordable_samples, evaluate, feature_importance, linear_baseline
from toys.core.composite import Pair, PairTrainer, split
from toys.core.data import instance_probability
from toys.tms.metrics import (
    feature_dimensionality,
    n_represented,
    neuron_counts,
    neuron_monosemanticity,
    neuron_roles,
    superposition_score,
)
from ui.abs_controls import abs_config, abs_controls
from ui.controls import valid_config
from ui.export import export_panel, loss_and_summary_export
from ui.live import live_training
from ui.talk import header
from ui.talk_views import pick_instance

MAX_SHOWN = 6
EVAL_SAMPLES_PLAYING, EVAL_SAMPLES_PAUSED = 2_000, 20_000

header(
    "absval",
    "Absolute value and relatives",
    "Storing features is one thing; **computing** with them is another. Here a hidden layer h = act(W₁x + b₁) and "
    "a readout y = W₂h + b₂ learn |x| of every sparse feature (or x², max(x, y), AND, OR of pairs). ReLU computes "
    "|x| exactly with two neurons per feature, one per half; with fewer neurons than that, features share neurons "
    "in superposition. The **best linear readout** is the no-computation baseline. Switch on a variant B to train "
    "a second activation or dropout beside the first, from the same seed and data.",
)

values = abs_controls()
cfg = valid_config(abs_config, values)


@st.cache_data(max_entries=32, show_spinner=False)
def _baseline(config: dict, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    return linear_baseline(AbsConfig.from_dict(config), n_samples)


def _make(cfg):
    return PairTrainer(cfg, AbsTrainer) if isinstance(cfg, Pair) else AbsTrainer(cfg)


def _summary(snap, labels, loss, n_samples) -> pd.DataFrame:
    cfg = AbsConfig.from_dict(snap.config)
    linear, _ = _baseline(snap.config, n_samples)
    W1 = snap["W1"]
    counts = neuron_counts(W1)
    return pd.DataFrame(
        {
            "instance": labels,
            "activation": cfg.activation,
            "dropout": cfg.dropout,
            "held-out loss": loss,
            "best linear loss": linear,
            "loss / linear": loss / np.maximum(linear, 1e-12),
            "features represented": n_represented(W1),
            "mean superposition": superposition_score(W1).mean(axis=1),
            "mean dimensionality": feature_dimensionality(W1).mean(axis=1),
            "monosemantic neurons": counts["monosemantic"],
            "polysemantic neurons": counts["polysemantic"],
            "dead neurons": counts["dead"],
        }
    )


def _roles_table(W1: np.ndarray, i: int) -> pd.DataFrame:
    rows: dict[int, dict[str, list[str]]] = {}
    for r in neuron_roles(W1)[i]:
        rows.setdefault(r["feature"], {"+": [], "−": []})[r["sign"]].append(f"n{r['neuron']}")
    return pd.DataFrame(
        [
            {
                "feature": f,
                "positive half (w > 0)": ", ".join(v["+"]) or "—",
                "negative half (w < 0)": ", ".join(v["−"]) or "—",
            }
            for f, v in sorted(rows.items())
        ]
    )


def _variant(snap, labels, shown, per_output, n_samples, key: str, title: str, columns: int = 3) -> None:
    cfg = AbsConfig.from_dict(snap.config)
    if title:
        st.subheader(title)
    W1 = snap["W1"]
    neurons = neuron_frame(W1, shown, labels, feature_importance(cfg), neuron_monosemanticity(W1))
    nc = neuron_chart(neurons, columns=columns)
    st.altair_chart(nc)
    _, linear = _baseline(snap.config, n_samples)
    outputs = output_loss_frame(per_output, linear, shown, labels)
    oc = output_loss_chart(outputs, columns=columns)
    st.altair_chart(oc)
    pick = st.selectbox(
        "Which neurons compute which feature, in instance",
        list(shown),
        format_func=lambda i: labels[i],
        key=f"{key}_roles_instance",
    )
    roles = _roles_table(W1, int(pick))
    st.dataframe(roles, hide_index=True, width="stretch")
    st.caption(
        "A neuron serves a feature when at least half of its squared input weight is on it; ReLU computes "
        "|x| = ReLU(x) + ReLU(−x), one neuron per half."
    )
    export_panel(
        snap,
        key,
        [("Neurons", f"{key}_neurons", nc, neurons), ("Loss per output", f"{key}_outputs", oc, outputs)],
        f"Export {title or ''}".strip(),
    )


def draw(snap, info) -> None:
    pair = bool(snap.extras.get("pair"))
    snaps = split(snap) if pair else (snap,)
    cfg = AbsConfig.from_dict(snaps[0].config)
    p = instance_probability(cfg)
    labels = instance_labels(p)
    shown = pick_instances(cfg.n_instances, MAX_SHOWN)
    wanted = EVAL_SAMPLES_PLAYING if info["playing"] else EVAL_SAMPLES_PAUSED
    n_samples = affordable_samples(cfg, wanted)  # big models: fewer held-out samples, the page never stalls
    if len(shown) < cfg.n_instances:
        st.caption(f"Showing {len(shown)} of {cfg.n_instances} instances, spread evenly over the sweep.")

    names = ["A", "B"] if pair else [""]
    loss_labels = [f"{n} {labels[i]}".strip() for n in names for i in shown]
    cols = np.concatenate([np.asarray(shown) + k * cfg.n_instances for k in range(len(names))])
    losses = loss_frame(snap.loss[:, cols], snap.loss_steps, loss_labels)
    lc = loss_chart(losses, cfg.steps)
    st.altair_chart(lc, width="stretch")
    evaluations = [evaluate(s, n_samples) for s in snaps]  # (loss, per-output loss) of each variant, once a tick
    summary = pd.concat(
        [_summary(s, labels, ev[0], n_samples).assign(variant=n or "—") for s, ev, n in zip(snaps, evaluations, names)]
    )
    summary = summary[["variant"] + [c for c in summary.columns if c != "variant"]]
    st.dataframe(summary, hide_index=True, width="stretch")
    if n_samples < wanted:
        st.caption(
            f"Held-out loss and best linear readout on {n_samples:,} samples, not the usual {wanted:,}: this model is "
            "large, and the page keeps its evaluation to about a second."
        )
    loss_and_summary_export("abs", lc, losses, summary, snap)
    if pair:
        for column, s, ev, n in zip(st.columns(2), snaps, evaluations, names):
            with column:
                c = AbsConfig.from_dict(s.config)
                _variant(
                    s,
                    labels,
                    shown,
                    ev[1],
                    n_samples,
                    f"abs_{n.lower()}",
                    f"Variant {n}: {c.activation}" + (f", dropout {c.dropout:g}" if c.dropout else ""),
                    columns=2,  # three panels run past half the page
                )
    else:
        _variant(snap, labels, shown, evaluations[0][1], n_samples, "abs", "")


def talk(snap, info) -> None:
    """Talk mode: one instance's neurons large (variant A of a pair)."""
    s = split(snap)[0] if snap.extras.get("pair") else snap
    cfg = AbsConfig.from_dict(s.config)
    labels = instance_labels(instance_probability(cfg))
    i = pick_instance(cfg.n_instances, labels, info["aside"])
    W1 = s["W1"]
    neurons = neuron_frame(W1, [i], labels, feature_importance(cfg), neuron_monosemanticity(W1))
    chart = enlarge(neuron_chart(neurons, columns=1, legend="right"), width=760, height=280)  # legend below: off 720
    st.altair_chart(
        for_talk(chart.properties(title="Each neuron's input weights, most monosemantic first")), width="content"
    )


live_training("abs", cfg, _make, draw, talk=talk)
