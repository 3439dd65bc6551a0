"""Controls and presets of the storage toys (Superposition page)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from toys.core.composite import Pair
from toys.core.config import ACTIVATIONS, OPTIMIZERS, SCHEDULES
from toys.tms.config import MODEL_KINDS, VALUE_LAWS, TMSConfig
from ui.controls import Spec, config_fields, sidebar_controls

MODEL = [
    Spec("n_features", "Features n", "int", 5, 1, 100),
    Spec("n_hidden", "Hidden dimensions m", "int", 2, 1, 32),
    Spec(
        "model",
        "Model",
        "choice",
        "relu_output",
        options=MODEL_KINDS,
        help="linear: x' = WᵀWx + b · relu_output: x' = ReLU(WᵀWx + b) · relu_hidden: x' = ReLU(Wᵀ ReLU(Wx) + b)",
    ),
    Spec("activation", "Activation", "choice", "relu", options=ACTIVATIONS),
    Spec(
        "dropout",
        "Dropout on the hidden layer (training only)",
        "float",
        0.0,
        0.0,
        0.9,
        0.05,
        help="Does dropout make the neuron basis privileged? Watch the neuron plots and monosemantic counts.",
    ),
    Spec("importance_decay", "Importance decay (importance of feature i = decay^i)", "float", 1.0, 0.5, 1.0, 0.01),
]
DATA = [
    Spec("n_instances", "Instances (one model per sparsity)", "int", 10, 1, 4000),
    Spec("log10_p_max", "log₁₀ feature probability, first instance", "float", 0.0, -3.0, 0.0, 0.05),
    Spec(
        "log10_p_min",
        "log₁₀ feature probability, last instance",
        "float",
        -1.3,
        -3.0,
        0.0,
        0.05,
        help="Probabilities sweep geometrically from the first instance to the last; equal ends give one value.",
    ),
    Spec(
        "p_values",
        "Or list one probability per instance (comma-separated)",
        "text",
        "",
        hi=2000,
        help="For example 0.75,0.35,0.15; overrides the sweep above and must list one value per instance.",
    ),
    Spec("value_law", "Feature values when present", "choice", "uniform01", options=VALUE_LAWS),
    Spec("correlated_pairs", "Correlated pairs", "int", 0, 0, 10),
    Spec(
        "anticorrelated_pairs",
        "Anticorrelated pairs",
        "int",
        0,
        0,
        10,
        help="Needs feature probability ≤ 0.5: a pair is present with probability 2p.",
    ),
    Spec("subset_size", "Features with their own probability (the last k)", "int", 0, 0, 100),
    Spec("log10_subset_probability", "log₁₀ probability of those features", "float", -0.3, -3.0, 0.0, 0.05),
]
TRAINING = [
    Spec("batch_size", "Batch size", "int", 1024, 32, 8192, 32),
    Spec("steps", "Steps", "int", 10_000, 100, 100_000, 100),
    Spec("log10_lr", "log₁₀ learning rate", "float", -3.0, -5.0, -0.5, 0.1),
    Spec("schedule", "Schedule", "choice", "constant", options=SCHEDULES),
    Spec("optimizer", "Optimizer", "choice", "adam", options=OPTIMIZERS),
    Spec("weight_decay", "Weight decay (AdamW)", "float", 0.0, 0.0, 0.5, 0.005),
    Spec("seed", "Seed", "int", 0, 0, 10_000),
    Spec(
        "restarts",
        "Seeds per instance (keep the lowest loss)",
        "int",
        1,
        1,
        16,
        help="Trains this many seeds of every instance at once and shows the best; single runs often miss the "
        "paired-neuron solutions of the privileged-basis model.",
    ),
    Spec("log_every", "Record loss every N steps", "int", 50, 10, 1000, 10),
    Spec("device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
COMPARE = [
    Spec(
        "compare_activation",
        "Variant B activation",
        "choice",
        "off",
        options=("off",) + ACTIVATIONS,
        help="Train a second model beside the first, same seed and data, with this activation",
    ),
    Spec("compare_dropout", "Variant B dropout", "float", 0.0, 0.0, 0.9, 0.05),
]
SPECS = MODEL + DATA + TRAINING + COMPARE

PRESETS: dict[str, dict[str, Any]] = {
    "Pentagon: 5 features in 2 dims, best of 4 seeds": {
        "n_features": 5,
        "n_hidden": 2,
        "n_instances": 4,
        "log10_p_max": -1.3,
        "log10_p_min": -1.3,
        "importance_decay": 1.0,
        "restarts": 4,
    },
    "Anthropic intro: 5→2 across 10 sparsities": {
        "n_features": 5,
        "n_hidden": 2,
        "n_instances": 10,
        "log10_p_max": 0.0,
        "log10_p_min": -1.3,
        "importance_decay": 0.9,
    },
    "Decaying importance: 20→5, importance 0.7^i": {
        "n_features": 20,
        "n_hidden": 5,
        "n_instances": 10,
        "log10_p_max": 0.0,
        "log10_p_min": -2.0,
        "importance_decay": 0.7,
    },
    "Correlated pairs": {
        "n_features": 4,
        "n_hidden": 2,
        "n_instances": 8,
        "log10_p_max": -0.6,
        "log10_p_min": -1.7,
        "correlated_pairs": 2,
    },
    "Anticorrelated pairs": {
        "n_features": 4,
        "n_hidden": 2,
        "n_instances": 8,
        "log10_p_max": -0.6,
        "log10_p_min": -1.7,
        "anticorrelated_pairs": 2,
    },
    "Privileged basis: 10 features, 5 neurons, importance 0.75^i": {
        "n_features": 10,
        "n_hidden": 5,
        "model": "relu_hidden",
        "importance_decay": 0.75,
        "n_instances": 7,
        "p_values": "0.75,0.35,0.15,0.1,0.06,0.02,0.01",
        "restarts": 4,
    },
    "ReLU vs GELU: 20→5, importance 0.7^i": {
        "n_features": 20,
        "n_hidden": 5,
        "n_instances": 6,
        "log10_p_max": 0.0,
        "log10_p_min": -2.0,
        "importance_decay": 0.7,
        "compare_activation": "gelu",
    },
}

NOTES: dict[str, str] = {
    "Pentagon: 5 features in 2 dims, best of 4 seeds": "Every instance's five feature directions spread into a "
    "regular pentagon, 72° apart, all of one length (a little over 1). One seed alone lands in a pentagon about "
    "half the time; each instance keeps the best of 4.",
    "Anthropic intro: 5→2 across 10 sparsities": "Left to right the features get sparser. The densest instances "
    "give the two most important features a dimension each and drop the other three (norm 0); sparser ones keep "
    "four as two antipodal pairs (yellow bars: in superposition), and the sparsest four or all five, a pentagon.",
    "Decaying importance: 20→5, importance 0.7^i": "Twenty features of falling importance in five dimensions: as "
    "features get sparser, more of them are represented (norm near 1), from five, one per dimension, to about a "
    "dozen, the less important ones in superposition; WᵀW gains off-diagonal interference.",
    "Correlated pairs": "Features 0–1 and 2–3 fire together. In WᵀW of the sparser instances each correlated pair "
    "is kept orthogonal (entry near 0) and every feature sits antipodal (−1) to one of the other pair, as Elhage "
    "et al. (2022) found; in the densest instance each pair shares one direction (entries near 0.5, norms near 0.7).",
    "Anticorrelated pairs": "Features 0–1 and 2–3 never fire together, so an antipodal pair of them (WᵀW −1) never "
    "interferes. Each instance ends as a square of two antipodal pairs: see in WᵀW whether those are the "
    "anticorrelated partners or features of different pairs; at these sparsities both cost almost nothing, and "
    "single seeds land either way.",
    "Privileged basis: 10 features, 5 neurons, importance 0.75^i": "A ReLU on the hidden layer makes the neurons "
    "a privileged basis: in the densest instances each neuron carries one feature (monosemantic); as features get "
    "sparser the neurons turn polysemantic, several features each (the table counts both kinds).",
    "ReLU vs GELU: 20→5, importance 0.7^i": "The same model and data with a GELU read-out (variant B): compare "
    "how many features each represents at each sparsity and their losses.",
}


def tms_controls() -> dict[str, Any]:
    """Draw the presets and every control; return the raw control values."""
    return sidebar_controls(
        SPECS,
        PRESETS,
        "tms_preset",
        groups=[
            ("Model", MODEL, lambda s: s.key == "activation" and st.session_state.get("model") == "linear"),
            ("Data", DATA),
            ("Training", TRAINING, lambda s: s.key == "weight_decay" and st.session_state.get("optimizer") != "adamw"),
            (
                "Compare with a variant",
                COMPARE,
                lambda s: s.key == "compare_dropout" and st.session_state.get("compare_activation") == "off",
            ),
        ],
        notes=NOTES,
    )


def tms_config(values: dict[str, Any]) -> TMSConfig | Pair:
    """Control values -> config, or a Pair when a variant B is on (ValueError naming the field for a bad
    combination)."""
    fields = config_fields(values, "")
    compare, compare_dropout = fields.pop("compare_activation", "off"), fields.pop("compare_dropout", 0.0)
    if fields.get("optimizer") != "adamw":
        fields["weight_decay"] = 0.0
    cfg = TMSConfig.from_dict(fields)
    if compare == "off":
        return cfg
    variant = cfg.replace(activation=compare, dropout=compare_dropout)
    if variant == cfg or (cfg.model == "linear" and compare_dropout == cfg.dropout):
        raise ValueError(
            f"compare_activation={compare!r} with compare_dropout={compare_dropout} changes nothing"
            + (": the linear model has no activation" if cfg.model == "linear" else "")
        )
    return Pair(cfg, variant)
