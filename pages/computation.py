"""Computation in superposition: the compressed-computation MLP and boolean AND circuits, trained live."""

from ui.nav import ensure_app_navigation

ensure_app_navigation()  # first: a fresh server runs a deep link's page file alone first, and hands it to app.py

import numpy as np
import streamlit as st

import toys  # noqa: F401  first: pages run on concurrent threads, and a submodule import racing toys/__init__ deadlocked
from charts.computation import (
    accounting_chart,
    density_frame,
    density_histogram,
    error_frame,
    error_histogram,
    eval_p_chart,
    eval_p_frame,
    gates_chart,
    gates_frame,
    lp_chart,
    lp_frame,
    newgas_chart,
    newgas_class_frame,
    newgas_frame,
    per_feature_chart,
    per_feature_frame,
    sigma_chart,
    sigma_frame,
    weights_frame,
    weights_heatmap,
)
from charts.talk import TALK_H, enlarge, for_talk
from toys.compute.cc import (
    CCConfig,
    CCTrainer,
    eval_features,
    instance_labels,
    instance_sigma,
    loss_against_p,
    naive_loss_per_feature,
    naive_profile,
    per_feature_loss,
    row_cost,
    sparse_limit_loss,
)
from toys.compute.newgas import PAPER_OUTPUTS, newgas_analysis
from toys.compute.uand import (
    UANDConfig,
    UANDTrainer,
    affordable_gates,
    against_naive,
    handmade_gates,
    held_out_cases,
    linear_gates,
    mean_error,
    naive_constant,
    naive_gates,
    neuron_density,
    trained_gates,
)
from ui.cache import session_memo, snapshot_tag
from ui.cc_controls import (
    CC_PRESETS,
    CC_STEPS,
    ON_GPU,
    SPECS,
    SWEEP_POINTS,
    UAND_PRESETS,
    UAND_STEPS,
    cc_config,
    cc_controls,
    sweep_config,
    uand_config,
    uand_controls,
)
from ui.controls import check_query_params, preset_slugs, url_preset_warning, valid_config
from ui.export import export_panel
from ui.live import live_training
from ui.talk import TALK_PARAMS, header, talk_mode

LIVE_EVAL_SAMPLES = 4000  # held-out samples per tick while training; the config's full count when paused
EVAL_PS = np.geomspace(1e-3, 0.3, 8)  # feature probabilities the paused model is evaluated at
EVAL_PRESENT = 20_000  # present features aimed for per evaluation p (fewer at tiny p·n: at most 200,000 rows)
EVAL_BUDGET = 2e9  # multiply-adds per held-out evaluation on the page (~1 s); big models get fewer samples

header(
    "computation",
    "Computation in superposition",
    "The Superposition page *stores* more features than dimensions. Can a network also *compute* more functions "
    "than it has neurons? Two toys, each with an honest baseline beside it.",
)
for message in check_query_params(SPECS, TALK_PARAMS):
    st.warning(message)
url_preset_warning(CC_PRESETS, UAND_PRESETS)
if not ON_GPU and not talk_mode():
    st.info(
        f"No GPU here, so the defaults are scaled down: compressed computation trains {CC_STEPS:,} steps instead of "
        f"the published 10,000 and sweeps σ at {SWEEP_POINTS} points instead of 11; the trained U-AND runs "
        f"{UAND_STEPS:,} steps on 12 inputs. The presets load the published settings (slower here; the 100-input U-AND "
        "preset trains at about a step per second on a CPU, but its hand-made circuits and linear baseline show at "
        "once).",
        icon=":material/speed:",
    )


def _naive(cfg: CCConfig) -> float:
    return naive_loss_per_feature(cfg.n_features, cfg.d_mlp, cfg.law)


def _eval_rows(cfg: CCConfig, playing: bool) -> int:
    """Held-out rows for the table and per-feature chart: fewer while playing, and within EVAL_BUDGET."""
    affordable = max(1000, int(EVAL_BUDGET // row_cost(cfg)))
    return min(LIVE_EVAL_SAMPLES if playing else cfg.eval_samples, affordable)


def _held_out(snap, playing: bool) -> np.ndarray:
    cfg = CCConfig.from_dict(snap.config)
    return per_feature_loss(snap, eval_features(cfg, n=_eval_rows(cfg, playing)))


def _against_p(snap) -> tuple[np.ndarray, np.ndarray]:
    """L/p at EVAL_PS and the training p, computed once per snapshot step and kept in the session."""
    ps = np.unique(np.append(EVAL_PS, snap.config["p"]))

    def compute() -> np.ndarray:
        with st.spinner("Evaluating L/p at other feature probabilities…"):
            return loss_against_p(snap, ps, present=EVAL_PRESENT, max_rows=200_000, budget=EVAL_BUDGET)

    return ps, session_memo("_cc_eval_p_cache", snapshot_tag(snap), compute)


def draw_cc(snap, info) -> None:
    cfg = CCConfig.from_dict(snap.config)
    labels, naive = instance_labels(cfg), _naive(cfg)
    per = _held_out(snap, info["playing"])
    lp_df = lp_frame(snap.loss, snap.loss_steps, labels, cfg.p)
    lpc = lp_chart(lp_df, naive, cfg.steps)
    left, right = st.columns([3, 2])
    left.altair_chart(lpc, width="stretch")
    held = per.mean(axis=1)
    limit = sparse_limit_loss(snap).mean(axis=1)
    right.dataframe(
        {
            "instance": labels,
            "L/p": [float(f"{v:.4g}") for v in held],
            "vs naive": [f"{(v / naive - 1) * 100:+.1f}%" if naive > 0 else "—" for v in held],
            "p → 0": [float(f"{v:.4g}") for v in limit],
        },
        hide_index=True,
    )
    n_eval = _eval_rows(cfg, info["playing"])
    right.caption(
        f"Naive baseline: {cfg.d_mlp} of {cfg.n_features} ReLUs computed exactly, the rest passed "
        f"through: L/p = {naive:.4f}. **L/p**: held out, {n_eval:,} samples at p = {cfg.p:.3g}"
        + (
            " (fewer than the config's eval_samples: this model is large)"
            if not info["playing"] and n_eval < cfg.eval_samples
            else ""
        )
        + "; "
        "**p → 0**: exact L/p in the sparse limit (one feature present at a time)."
    )
    pf_df = per_feature_frame(per, labels, naive_profile(cfg.n_features, cfg.d_mlp, cfg.law))
    pfc = per_feature_chart(pf_df)
    st.altair_chart(pfc, width="stretch")
    ep_df = epc = None
    if info["playing"]:
        st.caption("L/p against the evaluation feature probability is drawn when training pauses.")
    else:
        ps, lp_at = _against_p(snap)
        ep_df = eval_p_frame(ps, lp_at, labels)
        epc = eval_p_chart(ep_df, naive, cfg.p)
        st.altair_chart(epc, width="stretch")
        st.caption(
            "The trained weights evaluated with features present at other probabilities "
            f"(up to {EVAL_PRESENT:,} present features per point): interference grows with p, the naive solution "
            "has none."
        )
    order = np.argsort(per[0])
    w_df = weights_frame(snap["A"][0], snap["B"][0], order)
    heat = weights_heatmap(w_df)
    shown = (
        f"; {w_df['feature'].nunique()} of {cfg.n_features} features and {w_df['neuron'].nunique()} of "
        f"{cfg.d_mlp} neurons (the strongest) shown"
        if len(w_df) < 2 * cfg.n_features * cfg.d_mlp
        else ""
    )
    st.caption(f"Weights of {labels[0]}, folded through the embedding; features sorted by their held-out loss{shown}.")
    st.altair_chart(heat)
    export_panel(
        snap,
        "cc",
        [
            ("Loss per active feature", "cc_loss", lpc, lp_df),
            ("Per-feature loss", "cc_per_feature", pfc, pf_df),
            *([("L/p against the evaluation p", "cc_eval_p", epc, ep_df)] if epc is not None else []),
            ("Neuron × feature weights", "cc_weights", heat, w_df),
        ],
    )


def draw_sweep(snap, info) -> None:
    cfg = CCConfig.from_dict(snap.config)
    naive = _naive(cfg)
    lp = _held_out(snap, info["playing"]).mean(axis=1)
    s_df = sigma_frame(instance_sigma(cfg), lp)
    sc = sigma_chart(s_df, naive, embedding_sigma=cfg.d_embed**-0.5)
    lp_df = lp_frame(snap.loss, snap.loss_steps, instance_labels(cfg), cfg.p)
    lpc = lp_chart(lp_df, naive, cfg.steps)
    left, right = st.columns(2)
    left.altair_chart(sc, width="stretch")
    right.altair_chart(lpc, width="stretch")
    export_panel(
        snap, "cc_sweep", [("L/p against σ", "cc_sigma", sc, s_df), ("Loss curves", "cc_sweep_loss", lpc, lp_df)]
    )


@st.cache_data(max_entries=16, show_spinner="Drawing the held-out cases…")
def held_out(cfg_dict: dict):
    """The held-out cases of a config (a sample of the gates where all would not fit the work budget)."""
    cfg = UANDConfig.from_dict(cfg_dict)
    return held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1, affordable_gates(cfg))


@st.cache_data(max_entries=16, show_spinner="Evaluating the hand-made circuits…")
def baselines(cfg_dict: dict, widths: tuple[int, ...]) -> tuple[list[dict], dict]:
    """Hand-made U-AND at each width and the linear readout: pure functions of the config, shared safely."""
    cfg = UANDConfig.from_dict(cfg_dict)
    held = held_out(cfg_dict)
    return [handmade_gates(cfg, d, held=held) for d in widths], linear_gates(cfg, held)


def _gates(snap):
    """The held-out cases, the trained and hand-made circuits' gates at each width, the linear readout's, and the
    gates-against-d table."""
    cfg = UANDConfig.from_dict(snap.config)
    key = {**cfg.to_dict(), "steps": 1, "device": "cpu"}  # what the held-out cases and baselines depend on
    held = held_out(key)
    trained = trained_gates(snap, held)
    made, linear = baselines(key, tuple(sorted({r["d"] for r in trained})))
    return held, trained, made, linear, gates_frame(trained, made, linear["gates"], cfg.n_gates)


def talk_uand(snap, info) -> None:
    """Talk mode: gates computed against the width d, large."""
    st.altair_chart(for_talk(enlarge(gates_chart(_gates(snap)[-1]), height=TALK_H)), width="stretch")


def talk_cc(snap, info) -> None:
    """Talk mode: loss per active feature against step, with the naive baseline, large."""
    cfg = CCConfig.from_dict(snap.config)
    lp_df = lp_frame(snap.loss, snap.loss_steps, instance_labels(cfg), cfg.p)
    st.altair_chart(for_talk(enlarge(lp_chart(lp_df, _naive(cfg), cfg.steps), height=TALK_H)), width="stretch")


def _verdict(row: dict) -> str:
    """Whether trained beats naive at one width, in words for the table."""
    if not row["d_below_gates"]:
        return "— (d ≥ gates: naive computes all)"
    if row["beats_naive"]:
        return "yes: " + " and ".join(
            w for w, on in (("more gates", row["more_gates"]), ("lower error", row["lower_error"])) if on
        )
    return "no"


def _newgas(snap):
    """Newgas's classes in the widest trained network, once per snapshot step (within newgas.NEWGAS_BUDGET)."""
    return session_memo("_uand_newgas_cache", snapshot_tag(snap), lambda: newgas_analysis(snap))


def draw_newgas(snap, info) -> list:
    """The section on Newgas's circuit; returns its charts for the export panel (none while playing)."""
    st.subheader("Newgas's circuit in the widest trained network")
    if info["playing"]:
        st.caption("Measured when training pauses.")
        return []
    res = _newgas(snap)
    rule = res["rule"]
    label = f"trained (d={res['d']})"
    nt_df = newgas_frame(res["table"], PAPER_OUTPUTS, label)
    ntc = newgas_chart(nt_df)
    left, right = st.columns([3, 2])
    left.altair_chart(ntc, width="stretch")
    comb = res["combination"]
    shares_on = (
        f"a sample of {res['n_share_pairs']:,} of the {res['n_gates']:,} pairs"
        if res["n_share_pairs"] < res["n_gates"]
        else f"all {res['n_gates']:,} pairs"
    )
    right.markdown(
        f"Newgas (2025) found trained U-AND networks dense: per pair (i, j) each neuron is **A** (+,+), **B1** (+,−), "
        f"**B2** (−,+) or **C** (−,−) by the signs of its input weights on i and j, and AND ≈ (A − B1 − B2 + C)/0.25. "
        f"Here the **sign-product rule** (readout sign = sign(w_i)·sign(w_j)) holds for "
        f"**{rule['share']:.0%}** of (gate, neuron) pairs, **{rule['weight_share']:.0%}** of the readout's weight "
        f"(random signs: 50%). A − B1 − B2 + C on 00/01/10/11: " + " / ".join(f"{v:.3f}" for v in comb) + "."
    )
    right.caption(
        f"Classes by the signs of the input weights (0 counts as +), shares and the rule on {shares_on}. Mean "
        f"outputs over {res['n_pairs']:,} pairs' held-out cases: exactly n_active inputs on, the pair's own as the "
        "case says, the rest drawn uniformly from the other inputs. Each table is drawn divided by its class A's "
        "output on 11, so the shapes compare; the tooltips hold the raw outputs."
    )
    nc_df = newgas_class_frame(res["shares"], res["readout"], rule["per_class"], res["table"])
    st.dataframe(nc_df, hide_index=True)
    return [("Newgas's truth tables", "uand_newgas", ntc, nt_df)]


def draw_uand(snap, info) -> None:
    cfg = UANDConfig.from_dict(snap.config)
    held, trained, made, linear, _ = _gates(snap)
    made_at = {r["d"]: r for r in made}
    naive = [naive_gates(cfg, r["d"], held) for r in trained]
    a_df = gates_frame(trained, made, linear["gates"], cfg.n_gates, naive=naive, linear_error=mean_error(linear))
    ac = accounting_chart(a_df)
    st.altair_chart(ac)
    rows = against_naive(trained, naive, cfg.n_gates)
    st.dataframe(
        {
            "d": [r["d"] for r in rows],
            "trained": [r["trained_gates"] for r in rows],
            "naive": [r["naive_gates"] for r in rows],
            "hand-made": [made_at[r["d"]]["gates"] for r in rows],
            "trained error": [round(r["trained_error"], 4) for r in rows],
            "naive error": [round(r["naive_error"], 4) for r in rows],
            "hand-made error": [round(mean_error(made_at[r["d"]]), 4) for r in rows],
            "trained beats naive": [_verdict(r) for r in rows],
            "hand-made q": [made_at[r["d"]]["q"] for r in rows],
            "train loss": [float(v) for v in snap.final_loss],
        },
        hide_index=True,
    )
    st.caption(
        f"{cfg.n_gates} gates in all. **Naive**: d neurons compute d gates exactly (ReLU(x_i + x_j − 1)), every "
        f"other gate reads its best constant P(AND) = {naive_constant(cfg):.4f} (the network has no path but its "
        "neurons, so the compressed-computation tab's naive analogue is a constant, not a linear readout); it "
        "computes min(d, gates). **Error**: the mean over gates of each gate's share of held-out cases off by the "
        f"tolerance or more. Trained **beats naive** at a width d below {cfg.n_gates} when it computes more gates "
        f"or has a lower mean error there. The best linear readout of the inputs computes {linear['gates']}."
        + (
            f" Counts are estimated from a uniform sample of {len(held.gates):,} of the {cfg.n_gates:,} gates, "
            "which keeps the evaluation to about a second (the naive circuit's count is exact)."
            if held.sampled
            else ""
        )
    )
    if cfg.loss == "bce":
        st.warning(
            "Trained with binary cross-entropy, the network's gates are read through a sigmoid, a threshold the naive "
            "circuit above does not get: sigmoid(a·(x_i + x_j) − 1.5a) is an AND with no neuron at all, so a "
            "'yes' here does not show computation in superposition (the search counts these rows apart; README, "
            "*The search*).",
            icon=":material/info:",
        )
    widest = trained[-1]
    d = widest["d"]
    e_df = error_frame(
        {
            f"trained (d={d})": widest["error_rates"],
            f"hand-made (d={d})": made_at[d]["error_rates"],
            "linear readout": linear["error_rates"],
        }
    )
    eh = error_histogram(e_df, cfg.max_error_rate)
    i = len(trained) - 1
    n_df = density_frame(
        {
            f"trained (d={d})": neuron_density(snap["W1"][i, :, :d]),
            f"hand-made (d={d})": made_at[d]["subsets"].mean(axis=1),
        }
    )
    nh = density_histogram(n_df)
    c1, c2 = st.columns(2)
    c1.altair_chart(eh, width="stretch")
    c2.altair_chart(nh, width="stretch")
    newgas_charts = draw_newgas(snap, info)
    export_panel(
        snap,
        "uand",
        [
            ("Gates and error against d", "uand_gates", ac, a_df),
            ("Per-gate error", "uand_errors", eh, e_df),
            ("Neuron density", "uand_density", nh, n_df),
            *newgas_charts,
        ],
    )


if talk_mode():  # one model, the one the URL's preset names (compressed computation by default); controls hidden
    uand_shown, note = st.query_params.get("preset") in preset_slugs(UAND_PRESETS), st.container()
    with st.sidebar:  # what to look for goes to the page, for the model shown
        cc_values, uand_values = cc_controls(None if uand_shown else note), uand_controls(note if uand_shown else None)
    if uand_shown:
        live_training("uand", valid_config(uand_config, uand_values, "U-AND"), UANDTrainer, draw_uand, talk=talk_uand)
    else:
        live_training(
            "cc", valid_config(cc_config, cc_values, "compressed-computation"), CCTrainer, draw_cc, talk=talk_cc
        )
    st.stop()

cc_tab, uand_tab = st.tabs(["Compressed computation", "Universal AND"])
with cc_tab:
    st.markdown(
        "**The residual MLP of Braun et al. (2025)**: 100 sparse features in a 1000-wide residual stream (fixed random "
        "embedding W_E with unit rows, W_U = W_Eᵀ), one MLP of 50 ReLU neurons, labels x + ReLU(x). It seems to "
        "compute 100 ReLUs with 50 neurons: its loss beats the naive baseline. Bhagat, Molas-Medina, Giglemiani and "
        "Heimersheim (2025) show why: W_E W_Eᵀ ≠ I mixes features in the residual, and the MLP exploits that mixing. "
        "Remove it from the labels (**clean labels**) and the advantage vanishes."
    )
    values = cc_controls()
    live_training("cc", valid_config(cc_config, values, "compressed-computation"), CCTrainer, draw_cc)
    st.subheader("Mixing-magnitude sweep")
    st.markdown(
        "The papers' simplified model without an embedding, with a random symmetric mixing matrix of std σ added to "
        "the labels: no mixing sits at naive, moderate σ beats it, large σ costs more than the model can exploit."
    )
    live_training("cc_sweep", valid_config(sweep_config, values, "σ-sweep"), CCTrainer, draw_sweep)
with uand_tab:
    st.markdown(
        "**Universal AND**: m boolean inputs, a few on at a time; one hidden ReLU layer of width d outputs all "
        "m(m−1)/2 pairwise ANDs. Beside the trained networks stands the hand-made construction of Hänni, Mendel, "
        "Vaintrob and Chan (2024): each neuron reads a random sparse subset of inputs with weight 1 and bias −1, and "
        "the AND of a pair is read from the neurons that read both. A gate counts as computed when at most the "
        "allowed share of its held-out cases is off by the tolerance or more."
    )
    values = uand_controls()
    live_training("uand", valid_config(uand_config, values, "U-AND"), UANDTrainer, draw_uand)
