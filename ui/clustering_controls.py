"""Controls of the Circuit clustering page: the circuits model, its transcoder, and how to cluster the latents.

Keys (and URL parameters) start with ``clu_``. ``pipeline_config`` and ``cluster_config`` turn the values into
validated configs; ``cpu_limits`` scales a config down for the CPU and says what it changed.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from toys.circuits.pipeline import METHOD_LABELS, METHODS, SIMILARITIES, ClusterConfig, PipelineConfig
from toys.circuits.planted import FUNCTIONS, CircuitsConfig
from toys.circuits.transcoder import SPARSITY, TranscoderConfig
from ui.controls import Spec, sidebar_controls, valid_config
from ui.talk import talk_mode
from ui.text import literal

MODEL = [
    Spec("clu_n_circuits", "Circuits T", "int", 8, 2, 32),
    Spec("clu_circuit_size", "Features per circuit", "int", 4, 2, 8),
    Spec(
        "clu_function",
        "What each circuit computes",
        "choice",
        "abs",
        options=FUNCTIONS,
        help="abs: |x| of each of its features · and: AND of every pair of its (binary) features",
    ),
    Spec("clu_log10_p_circuit", "log₁₀ probability a circuit is active", "float", -1.0, -2.5, -0.3, 0.05),
    Spec("clu_d_model", "MLP input dimensions", "int", 32, 4, 256),
    Spec("clu_n_neurons", "MLP neurons", "int", 64, 4, 512),
    Spec("clu_steps", "Model training steps", "int", 3000, 100, 50_000, 100),
]
TRANSCODER = [
    Spec("clu_n_latents", "Transcoder latents", "int", 64, 8, 1024, 8),
    Spec(
        "clu_sparsity",
        "Sparsity",
        "choice",
        "l1",
        options=SPARSITY,
        help="l1: ReLU with an L1 penalty · topk: only the k largest latents fire",
    ),
    Spec("clu_log10_l1", "log₁₀ L1 coefficient (l1)", "float", -1.0, -4.0, 0.0, 0.1),
    Spec("clu_k", "k (topk)", "int", 4, 1, 64),
    Spec("clu_tc_steps", "Transcoder training steps", "int", 3000, 100, 50_000, 100),
    Spec("clu_seed", "Seed", "int", 0, 0, 10_000),
]
CLUSTERING = [
    Spec(
        "clu_method",
        "Clustering method",
        "choice",
        "average",
        options=METHODS,
        help=" · ".join(f"{k}: {v}" for k, v in METHOD_LABELS.items()),
    ),
    Spec("clu_similarity", "Similarity of co-activations", "choice", "jaccard", options=SIMILARITIES),
    Spec(
        "clu_threshold",
        "Threshold (similarity that links latents; 0 = use a cluster count)",
        "float",
        0.1,
        0.0,
        1.0,
        0.01,
        help="0: components pick their threshold by bisection; linkage methods cut to the count below.",
    ),
    Spec("clu_n_clusters", "Cluster count (0 = the true T; spectral always uses it)", "int", 0, 0, 64),
    Spec("clu_log10_n_samples", "log₁₀ samples collected for co-activations", "float", 4.7, 3.0, 6.3, 0.1),
]
SPECS = MODEL + TRANSCODER + CLUSTERING

PRESETS: dict[str, dict[str, Any]] = {
    "Default: 8 abs circuits, L1 transcoder": {},
    "TopK transcoder (k = 4)": {"clu_sparsity": "topk", "clu_k": 4},
    "Pairwise ANDs": {"clu_function": "and", "clu_n_latents": 96},
    "More superposition: 32 neurons": {"clu_n_neurons": 32},
    "16 circuits, rarer": {
        "clu_n_circuits": 16,
        "clu_log10_p_circuit": -1.3,
        "clu_n_neurons": 128,
        "clu_d_model": 64,
        "clu_n_latents": 128,
    },
}

NOTES: dict[str, str] = {
    "Default: 8 abs circuits, L1 transcoder": "Eight |x| circuits of four features share one MLP. Once both stages "
    "have trained, look at the co-activations ordered by found cluster: a recovered circuit is a bright block on "
    "the diagonal and one dark cell in its column of the contingency chart; an ARI near 1 means the planted "
    "circuits were found.",
    "TopK transcoder (k = 4)": "The default circuits with a TopK transcoder (the 4 largest latents fire, no L1 "
    "penalty): compare the ARI, the live latents and the normalised MSE with the default preset's.",
    "Pairwise ANDs": "Each circuit computes the AND of every pair of its binary features, with 96 transcoder "
    "latents: compare the diagonal blocks and the ARI with those of the |x| circuits (the default preset).",
    "More superposition: 32 neurons": "The same eight circuits in 32 MLP neurons instead of 64, so the MLP packs "
    "them more tightly: compare the transcoder's normalised MSE and the ARI with the default preset's.",
    "16 circuits, rarer": "Sixteen circuits, each active with probability 0.05, in a wider MLP (128 neurons) and "
    "transcoder (128 latents): look for sixteen blocks on the diagonal of the co-activations and clusters found / "
    "true near 16 / 16.",
}

CPU_MAX_STEPS = 5000
CPU_MAX_SAMPLES = 100_000


def clustering_controls() -> dict[str, Any]:
    """Draw the URL warnings, presets and every control; return the raw values."""

    def off(s: Spec) -> bool:  # the sparsity knob that the chosen sparsity does not use
        sparsity = st.session_state.get("clu_sparsity", "l1")
        return (s.key == "clu_log10_l1" and sparsity != "l1") or (s.key == "clu_k" and sparsity != "topk")

    return sidebar_controls(
        SPECS,
        PRESETS,
        "clu_preset",
        [("Circuits model", MODEL), ("Transcoder", TRANSCODER, off), ("Clustering", CLUSTERING)],
        notes=NOTES,
    )


def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """Control values -> the training config (raises ValueError naming the field)."""
    circuits = CircuitsConfig(
        n_circuits=values["clu_n_circuits"],
        circuit_size=values["clu_circuit_size"],
        function=values["clu_function"],
        p_circuit=float(10.0 ** values["clu_log10_p_circuit"]),
        d_model=values["clu_d_model"],
        n_neurons=values["clu_n_neurons"],
        steps=values["clu_steps"],
        seed=values["clu_seed"],
    )
    transcoder = TranscoderConfig(
        n_latents=values["clu_n_latents"],
        sparsity=values["clu_sparsity"],
        l1_coeff=float(10.0 ** values["clu_log10_l1"]),
        k=values["clu_k"],
        steps=values["clu_tc_steps"],
        seed=values["clu_seed"],
    )
    return PipelineConfig(circuits, transcoder)


def cluster_config(values: dict[str, Any]) -> ClusterConfig:
    """Control values -> the clustering config (raises ValueError naming the field)."""
    return ClusterConfig(
        method=values["clu_method"],
        similarity=values["clu_similarity"],
        threshold=float(values["clu_threshold"]),
        n_clusters=values["clu_n_clusters"],
        n_samples=round(10.0 ** values["clu_log10_n_samples"]),
        seed=values["clu_seed"],
    )


def cpu_limits(
    cfg: PipelineConfig, cluster: ClusterConfig, device: str
) -> tuple[PipelineConfig, ClusterConfig, list[str]]:
    """On the CPU, cap each stage's steps and the samples collected; -> (configs, notes on what was capped)."""
    if device != "cpu":
        return cfg, cluster, []
    notes = []
    if cfg.circuits.steps > CPU_MAX_STEPS:
        notes.append(f"model steps {cfg.circuits.steps:,} → {CPU_MAX_STEPS:,}")
        cfg = cfg.replace(circuits=cfg.circuits.replace(steps=CPU_MAX_STEPS))
    if cfg.transcoder.steps > CPU_MAX_STEPS:
        notes.append(f"transcoder steps {cfg.transcoder.steps:,} → {CPU_MAX_STEPS:,}")
        cfg = cfg.replace(transcoder=cfg.transcoder.replace(steps=CPU_MAX_STEPS))
    if cluster.n_samples > CPU_MAX_SAMPLES:
        notes.append(f"samples {cluster.n_samples:,} → {CPU_MAX_SAMPLES:,}")
        cluster = cluster.replace(n_samples=CPU_MAX_SAMPLES)
    return cfg, cluster, notes


def clustering_configs(values: dict[str, Any], device: str) -> tuple[PipelineConfig | None, ClusterConfig]:
    """Validated configs from the control values, capped for the CPU, with messages in the page.

    An invalid training setting gives None (the page keeps its last pipeline); an invalid clustering setting falls
    back to the last valid one (or the default).
    """
    cfg = valid_config(pipeline_config, values, thing="pipeline")
    try:
        cluster = cluster_config(values)
        st.session_state["clu_last_cluster_cfg"] = cluster
    except ValueError as e:
        cluster = st.session_state.get("clu_last_cluster_cfg", ClusterConfig())
        st.error(f"These clustering settings are not valid: {literal(e, 400)}. Using the last valid ones.")
    capped = []
    if cfg is not None:
        cfg, cluster, capped = cpu_limits(cfg, cluster, device)
    if device == "cpu" and (capped or not talk_mode()):
        st.info(
            "Running on the CPU: the defaults are sized to finish in well under a minute (8 circuits, 64 neurons, "
            "64 latents, 3,000 + 3,000 steps, 50,000 samples); steps are capped at "
            f"{CPU_MAX_STEPS:,} per stage and samples at {CPU_MAX_SAMPLES:,}."
            + (f" Capped here: {'; '.join(capped)}." if capped else "")
        )
    return cfg, cluster
