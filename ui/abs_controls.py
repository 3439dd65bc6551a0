"""Controls of the absolute-value page: the model, an optional second variant to compare, and presets."""

from __future__ import annotations

from typing import Any

import streamlit as st

from toys.compute.absval import ABS_ACTIVATIONS, TARGETS, AbsConfig
from toys.core.composite import Pair
from toys.core.config import OPTIMIZERS, SCHEDULES
from ui.controls import Spec, config_fields, sidebar_controls

P = "abs_"
TARGET_HELP = "abs: |x| · square: x² · max: max(x, y) of uniform pairs · and / or: of binary pairs"

MODEL = [
    Spec(P + "target", "Target", "choice", "abs", options=TARGETS, help=TARGET_HELP),
    Spec(P + "n_features", "Features", "int", 3, 1, 200),
    Spec(P + "n_hidden", "Hidden neurons", "int", 6, 1, 200),
    Spec(P + "activation", "Activation", "choice", "relu", options=ABS_ACTIVATIONS),
    Spec(P + "dropout", "Dropout on the hidden layer (training only)", "float", 0.0, 0.0, 0.9, 0.05),
    Spec(P + "importance_decay", "Importance decay (output k weighs decay^k)", "float", 1.0, 0.5, 1.0, 0.01),
]
DATA = [
    Spec(P + "n_instances", "Instances (one model per sparsity)", "int", 6, 1, 40),
    Spec(P + "log10_p_max", "log₁₀ feature probability, first instance", "float", -0.5, -3.0, 0.0, 0.05),
    Spec(P + "log10_p_min", "log₁₀ feature probability, last instance", "float", -0.5, -3.0, 0.0, 0.05),
]
TRAINING = [
    Spec(P + "batch_size", "Batch size", "int", 256, 32, 4096, 32),
    Spec(P + "steps", "Steps", "int", 3_000, 100, 50_000, 100),
    Spec(P + "log10_lr", "log₁₀ learning rate", "float", -2.0, -4.0, -1.0, 0.1),
    Spec(P + "schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec(P + "optimizer", "Optimizer", "choice", "adam", options=OPTIMIZERS),
    Spec(P + "weight_decay", "Weight decay (AdamW)", "float", 0.0, 0.0, 0.5, 0.005),
    Spec(P + "seed", "Seed", "int", 0, 0, 10_000),
    Spec(P + "log_every", "Record loss every N steps", "int", 50, 10, 1000, 10),
    Spec(P + "device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
COMPARE = [
    Spec(
        P + "compare_activation",
        "Variant B activation",
        "choice",
        "off",
        options=("off",) + ABS_ACTIVATIONS,
        help="Train a second model beside the first, same seed and data, with this activation",
    ),
    Spec(P + "compare_dropout", "Variant B dropout", "float", 0.0, 0.0, 0.9, 0.05),
]
SPECS = MODEL + DATA + TRAINING + COMPARE

PRESETS: dict[str, dict[str, Any]] = {
    "Easy: 3 features, 6 neurons (two per feature), 6 seeds": {
        "abs_n_features": 3,
        "abs_n_hidden": 6,
        "abs_n_instances": 6,
        "abs_log10_p_max": -0.5,
        "abs_log10_p_min": -0.5,
    },
    "|x| in superposition: 100 features → 40 neurons, importance 0.8^i": {
        "abs_n_features": 100,
        "abs_n_hidden": 40,
        "abs_n_instances": 6,
        "abs_importance_decay": 0.8,
        "abs_log10_p_max": 0.0,
        "abs_log10_p_min": -2.0,
        "abs_batch_size": 1024,
        "abs_steps": 10_000,
        "abs_log10_lr": -2.5,
    },
    "Asymmetric superposition: 100 → 40, importance 0.8^i, very sparse": {
        "abs_n_features": 100,
        "abs_n_hidden": 40,
        "abs_n_instances": 1,
        "abs_importance_decay": 0.8,
        "abs_log10_p_max": -2.0,
        "abs_log10_p_min": -2.0,
        "abs_batch_size": 1024,
        "abs_steps": 10_000,
        "abs_log10_lr": -2.5,
    },
    "x² of 6 features, 12 neurons": {
        "abs_target": "square",
        "abs_n_features": 6,
        "abs_n_hidden": 12,
        "abs_n_instances": 3,
        "abs_log10_p_max": -0.3,
        "abs_log10_p_min": -1.3,
    },
    "max(x, y) of 3 pairs, 12 neurons": {
        "abs_target": "max",
        "abs_n_features": 6,
        "abs_n_hidden": 12,
        "abs_n_instances": 3,
        "abs_log10_p_max": -0.3,
        "abs_log10_p_min": -1.3,
    },
    "AND of 3 binary pairs, 12 neurons": {
        "abs_target": "and",
        "abs_n_features": 6,
        "abs_n_hidden": 12,
        "abs_n_instances": 3,
        "abs_log10_p_max": -0.3,
        "abs_log10_p_min": -1.3,
    },
    "ReLU vs GELU on |x| (3 features, 6 neurons)": {
        "abs_n_features": 3,
        "abs_n_hidden": 6,
        "abs_n_instances": 6,
        "abs_log10_p_max": -0.5,
        "abs_log10_p_min": -0.5,
        "abs_compare_activation": "gelu",
    },
    "Does dropout privilege the basis? (|x|, 20 → 10, dropout 0.3 vs none)": {
        "abs_n_features": 20,
        "abs_n_hidden": 10,
        "abs_n_instances": 3,
        "abs_log10_p_max": -0.5,
        "abs_log10_p_min": -1.5,
        "abs_dropout": 0.0,
        "abs_compare_activation": "relu",
        "abs_compare_dropout": 0.3,
    },
}


NOTES: dict[str, str] = {
    "Easy: 3 features, 6 neurons (two per feature), 6 seeds": "Six seeds of one small model at one sparsity. Look "
    "for loss / linear near 0 in the table: |x| computed almost exactly, mostly with two neurons per feature, one "
    "per half (the roles table); a seed may instead pair one neuron with an always-on one passing x through "
    "(|x| = 2·ReLU(x) − x), or stall higher.",
    "|x| in superposition: 100 features → 40 neurons, importance 0.8^i": "Elhage et al.'s (2022) setting, dense "
    "(first instance) to sparse. Two neurons per feature leave room for 20 features: look for the dense instances "
    "spending monosemantic pairs on the most important ones, and compare in the table how many features the "
    "sparser ones represent, with how many polysemantic neurons, and their loss / linear.",
    "Asymmetric superposition: 100 → 40, importance 0.8^i, very sparse": "One very sparse model (p = 0.01). In "
    "the neuron chart look for polysemantic neurons that carry one feature with a large weight and others with "
    "smaller weights of the opposite sign, the asymmetric superposition of Elhage et al. (2022); the table counts "
    "the features represented by its 40 neurons.",
    "x² of 6 features, 12 neurons": "x² is curved, so ReLUs can only approximate it: look for each output's bar far "
    "below the best linear readout's red tick. The denser instances spend two neurons per feature, one per half, "
    "with a negative bias; the sparsest shares neurons between features (polysemantic).",
    "max(x, y) of 3 pairs, 12 neurons": "max(x, y) = y + ReLU(x − y): look for neurons with equal and opposite "
    "weights on the two features of a pair (one bar up, one down), and each output's bar under the linear "
    "readout's red tick; the linear readout comes closer at the sparser instances, where a pair's two features "
    "rarely come together.",
    "AND of 3 binary pairs, 12 neurons": "AND(a, b) = ReLU(a + b − 1) takes one neuron per pair, reading both "
    "inputs with a negative bias (a neuron reading |a − b| also serves). Look for neurons that read both features "
    "of a pair, and a held-out loss near 0, far below the best linear readout's, in every instance.",
    "ReLU vs GELU on |x| (3 features, 6 neurons)": "Variant B swaps ReLU for GELU, same seed and data: compare "
    "the two variants' loss / linear in the table, and whether GELU neurons still split each feature into halves "
    "(the roles tables).",
    "Does dropout privilege the basis? (|x|, 20 → 10, dropout 0.3 vs none)": "Variant B trains with dropout 0.3 "
    "on the hidden layer: compare the monosemantic and polysemantic neuron counts of A and B in the table, and "
    "their neuron charts, at each sparsity; dropout's price shows in the loss.",
}


def abs_controls() -> dict[str, Any]:
    """Draw the presets and every control; return the raw control values."""
    return sidebar_controls(
        SPECS,
        PRESETS,
        "abs_preset",
        [
            ("Model", MODEL),
            ("Data", DATA),
            (
                "Training",
                TRAINING,
                lambda s: s.key == P + "weight_decay" and st.session_state.get(P + "optimizer") != "adamw",
            ),
            (
                "Compare with a variant",
                COMPARE,
                lambda s: s.key == P + "compare_dropout" and st.session_state.get(P + "compare_activation") == "off",
            ),
        ],
        notes=NOTES,
    )


def abs_config(values: dict[str, Any]) -> AbsConfig | Pair:
    """Control values -> one config, or a Pair of configs when a variant B is switched on."""
    fields = config_fields(values, P)
    compare, compare_dropout = fields.pop("compare_activation"), fields.pop("compare_dropout")
    if fields.get("optimizer") != "adamw":
        fields["weight_decay"] = 0.0
    cfg = AbsConfig.from_dict(fields)
    if compare == "off":
        return cfg
    return Pair(cfg, cfg.replace(activation=compare, dropout=compare_dropout))
