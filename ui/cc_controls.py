"""Controls and presets of the computation toys (Computation page): compressed computation and universal AND."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from toys.compute.cc import CC_LABELS, CC_LOSSES, CC_VALUE_LAWS, CCConfig
from toys.compute.uand import LOSSES, UANDConfig
from toys.core.config import SCHEDULES
from toys.core.device import resolve_device
from ui.controls import Spec, draw_group, preset_note, preset_picker

ON_GPU = resolve_device("auto").type == "cuda"
CC_STEPS = 10_000 if ON_GPU else 3_000
SWEEP_POINTS = 11 if ON_GPU else 4
UAND_STEPS = 5_000 if ON_GPU else 2_000
DEVICE_CHOICES = ("auto", "cpu", "cuda")

CC_MODEL = [
    Spec("cc_n_features", "Features n", "int", 100, 10, 500),
    Spec("cc_d_embed", "Residual width d_embed", "int", 1000, 10, 4000, 10),
    Spec("cc_d_mlp", "MLP neurons d_mlp", "int", 50, 1, 500),
    Spec("cc_log10_p", "log₁₀ feature probability p", "float", -2.0, -3.0, 0.0, 0.05),
    Spec(
        "cc_value_law",
        "Feature values when present",
        "choice",
        "uniform_pm1",
        options=CC_VALUE_LAWS,
        help="uniform_pm1: U[−1, 1] (published) · uniform01: U[0, 1] · one: always 1",
    ),
    Spec(
        "cc_labels",
        "Feature values: continuous or discrete",
        "choice",
        "continuous",
        options=CC_LABELS,
        help="discrete: the law's discrete twin — U[−1, 1] becomes −1 or +1 with equal odds, U[0, 1] becomes 1 — so "
        "the labels take a few values (suggested as more favourable to computation in superposition than MSE on "
        "continuous labels)",
    ),
    Spec(
        "cc_mixing",
        "Labels",
        "choice",
        "compare",
        options=("compare", "embedding", "clean"),
        help="embedding: labels x + ReLU(x), the noisy embedding mixes features in the residual · clean: that mixing "
        "removed from the labels' path · compare: instances alternate the two",
    ),
    Spec("cc_n_instances", "Instances", "int", 2, 1, 16),
]
CC_TRAINING = [
    Spec("cc_batch_size", "Batch size", "int", 2048, 64, 8192, 64),
    Spec("cc_steps", "Steps", "int", CC_STEPS, 100, 50_000, 100),
    Spec("cc_lr", "Learning rate", "float", 3e-3, 1e-4, 3e-2, 1e-4, help="AdamW; published: 3e-3"),
    Spec(
        "cc_loss",
        "Training loss",
        "choice",
        "mse",
        options=CC_LOSSES,
        help="mse: mean squared error (published) · lp: mean |error|^p, which punishes outliers more for p > 2; "
        "held-out L/p and the naive line stay squared errors",
    ),
    Spec("cc_loss_p", "Exponent p of the lp loss", "float", 4.0, 1.0, 10.0, 0.5),
    Spec("cc_schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec("cc_weight_decay", "Weight decay (AdamW)", "float", 0.01, 0.0, 0.2, 0.005),
    Spec("cc_seed", "Seed", "int", 0, 0, 10_000),
    Spec("cc_device", "Device", "choice", "auto", options=DEVICE_CHOICES),
]
CC_SWEEP = [
    Spec("cc_sweep_points", "σ values", "int", SWEEP_POINTS, 2, 16),
    Spec(
        "cc_sweep_sigma_max",
        "Largest σ",
        "float",
        0.1 if not ON_GPU else 0.2,
        0.005,
        0.5,
        0.005,
        help="σ runs linearly from 0 to this; the embedding's mixing has σ ≈ 1/√d_embed ≈ 0.032",
    ),
]
CC_SPECS = CC_MODEL + CC_TRAINING + CC_SWEEP

PUBLISHED_CC = {
    "cc_n_features": 100,
    "cc_d_embed": 1000,
    "cc_d_mlp": 50,
    "cc_log10_p": -2.0,
    "cc_value_law": "uniform_pm1",
    "cc_labels": "continuous",
    "cc_loss": "mse",
    "cc_batch_size": 2048,
    "cc_steps": 10_000,
    "cc_lr": 3e-3,
    "cc_schedule": "cosine",
    "cc_weight_decay": 0.01,
}
CC_PRESETS: dict[str, dict[str, Any]] = {
    "Published: embedding noise vs clean labels (Bhagat et al. 2025)": dict(
        PUBLISHED_CC, cc_mixing="compare", cc_n_instances=2
    ),
    "Published: embedding noise only (Braun et al. 2025)": dict(PUBLISHED_CC, cc_mixing="embedding", cc_n_instances=1),
    "Published: clean labels only": dict(PUBLISHED_CC, cc_mixing="clean", cc_n_instances=1),
    "Published σ sweep (0 to 0.2, 11 points)": dict(PUBLISHED_CC, cc_sweep_points=11, cc_sweep_sigma_max=0.2),
    "Quick CPU demo (3,000 steps)": dict(
        PUBLISHED_CC, cc_mixing="compare", cc_n_instances=2, cc_steps=3000, cc_sweep_points=4, cc_sweep_sigma_max=0.1
    ),
}

CC_NOTES: dict[str, str] = {
    "Published: embedding noise vs clean labels (Bhagat et al. 2025)": "Two instances of the published model: #0 "
    "learns labels carrying the embedding's noise, #1 clean labels. Watch L/p against the dashed naive baseline "
    "(1/12 here): the noisy instance ends below it, the clean one on it, so the advantage comes from the embedding "
    "noise (Bhagat et al. 2025).",
    "Published: embedding noise only (Braun et al. 2025)": "The model as Braun et al. (2025) trained it: L/p ends "
    "below the dashed naive baseline (about 0.067 against 1/12 ≈ 0.083), as if 50 neurons computed 100 ReLUs; the "
    "clean-labels presets show where that advantage comes from.",
    "Published: clean labels only": "The embedding's mixing removed from the labels: L/p settles on the dashed "
    "naive baseline, 1/12, within a few percent; without the noise there is no compressed computation to see.",
    "Published σ sweep (0 to 0.2, 11 points)": "Look at the mixing-magnitude sweep: held-out L/p against σ is "
    "U-shaped, on the naive line at σ = 0, below it near the grey line (the embedding's own σ ≈ 1/√1000), and above "
    "it at large σ, where the mixing costs more than the model can exploit.",
    "Quick CPU demo (3,000 steps)": "The published comparison cut to 3,000 steps for a CPU: watch L/p against the "
    "dashed naive line (1/12): instance #0, with the embedding's noise in its labels, ends below it (about 0.069), "
    "#1, with clean labels, on it. In the σ sweep, compare σ = 0 with the σ nearest the grey line.",
}

UAND_MODEL = [
    Spec("uand_n_inputs", "Boolean inputs m", "int", 12, 4, 128),
    Spec("uand_n_active", "Inputs on at a time", "int", 2, 2, 8),
    Spec("uand_d_min", "Narrowest trained width d", "int", 8, 1, 1024),
    Spec("uand_d_max", "Widest trained width d", "int", 96, 1, 2048),
    Spec("uand_n_instances", "Trained widths (instances)", "int", 5, 1, 12),
    Spec(
        "uand_handmade_q", "Hand-made: input probability per neuron (0 = best of a grid)", "float", 0.0, 0.0, 0.5, 0.01
    ),
]
UAND_EVAL = [
    Spec(
        "uand_tolerance",
        "Tolerance |ŷ − AND|",
        "float",
        0.25,
        0.05,
        0.5,
        0.01,
        help="≤ 0.25: no linear readout of the inputs computes any gate",
    ),
    Spec("uand_max_error_rate", "Most held-out cases a computed gate may miss", "float", 0.05, 0.0, 0.5, 0.01),
    Spec("uand_eval_cases", "Held-out cases per gate and case type", "int", 16, 1, 64),
]
UAND_TRAINING = [
    Spec("uand_batch_size", "Batch size", "int", 1024, 64, 8192, 64),
    Spec("uand_steps", "Steps", "int", UAND_STEPS, 100, 50_000, 100),
    Spec("uand_lr", "Learning rate (Adam)", "float", 1e-2, 5e-4, 5e-2, 5e-4),
    Spec(
        "uand_loss",
        "Training loss",
        "choice",
        "mse",
        options=LOSSES,
        help="mse: squared error · lp: |error|^p · bce: binary cross-entropy on logits, the gates then scored on "
        "sigmoid(output)",
    ),
    Spec("uand_loss_p", "Exponent p of the lp loss", "float", 4.0, 1.0, 10.0, 0.5),
    Spec("uand_schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec("uand_seed", "Seed", "int", 0, 0, 10_000),
    Spec("uand_device", "Device", "choice", "auto", options=DEVICE_CHOICES),
]
UAND_SPECS = UAND_MODEL + UAND_EVAL + UAND_TRAINING

UAND_PRESETS: dict[str, dict[str, Any]] = {
    "Small: 12 inputs, 66 gates": {
        "uand_n_inputs": 12,
        "uand_n_active": 2,
        "uand_d_min": 8,
        "uand_d_max": 96,
        "uand_n_instances": 5,
    },
    "Hänni et al.: 100 inputs, 2 on, hand-made beats d": {
        "uand_n_inputs": 100,
        "uand_n_active": 2,
        "uand_d_min": 100,
        "uand_d_max": 500,
        "uand_n_instances": 3,
        "uand_handmade_q": 0.05,
        "uand_batch_size": 256,
        "uand_steps": 3000,
    },
    "Lp loss: 12 inputs, trained beats naive": {
        "uand_n_inputs": 12,
        "uand_n_active": 2,
        "uand_d_min": 8,
        "uand_d_max": 96,
        "uand_n_instances": 5,
        "uand_loss": "lp",
        "uand_steps": 4000,
    },
    "Denser inputs: 24 inputs, 3 on": {
        "uand_n_inputs": 24,
        "uand_n_active": 3,
        "uand_d_min": 16,
        "uand_d_max": 256,
        "uand_n_instances": 5,
    },
}

UAND_NOTES: dict[str, str] = {
    "Small: 12 inputs, 66 gates": "Trained networks of five widths (d = 8 to 96) beside the hand-made construction, "
    "on all 66 ANDs of 12 inputs: look where each sits against the dashed gates = d line. At this size neither gets "
    "far above it (a CPU run: trained 0 gates up to d = 28, 45 at d = 52, all 66 at d = 96; hand-made 10 to 21); "
    "the Hänni et al. preset shows it at scale.",
    "Hänni et al.: 100 inputs, 2 on, hand-made beats d": "The hand-made construction (each neuron reads 5% of the "
    "inputs) shows at once: at every width it computes more of the 4,950 ANDs than it has neurons, about 900 at "
    "d = 100 and 2,400 at d = 500 (Hänni et al. 2024); compare the trained networks with it as they train (slow on "
    "a CPU).",
    "Lp loss: 12 inputs, trained beats naive": "The Small preset trained on |ŷ − AND|⁴ for 4,000 steps, the search's "
    "best U-AND cell: look at the table under the chart, where trained beats naive — all 66 gates at d = 52 against "
    "naive's 52 (seeds 0, 1, 2), and about as many as naive at d = 28 (29, 23, 30 against 28); with MSE it never does.",
    "Denser inputs: 24 inputs, 3 on": "Three inputs on at a time, so every neuron sees more interference: compare "
    "the trained and hand-made curves against the dashed gates = d line with the Small preset's, and the "
    "per-gate error histogram of the widest network.",
}

SPECS = CC_SPECS + UAND_SPECS


def _groups_in_columns(groups: list[tuple[str, list[Spec]]]) -> dict[str, Any]:
    """Draw each (title, specs) group in its own column, side by side; return all their values."""
    values: dict[str, Any] = {}
    for column, (title, specs) in zip(st.columns(len(groups)), groups):
        with column:
            values |= draw_group(title, specs)
    return values


def cc_controls(talk_note: DeltaGenerator | None = None) -> dict[str, Any]:
    """Presets and controls of the compressed-computation model and its σ sweep, with what to look for in the
    preset they hold (in talk mode said in ``talk_note`` too); returns the raw values."""
    slot = preset_picker(CC_PRESETS, CC_SPECS, key="cc_preset")
    values = _groups_in_columns([("Model", CC_MODEL), ("Training", CC_TRAINING), ("σ sweep", CC_SWEEP)])
    with talk_note if talk_note is not None else nullcontext():
        preset_note(slot, CC_PRESETS, CC_SPECS, CC_NOTES)
    return values


def cc_config(values: dict[str, Any]) -> CCConfig:
    """Control values -> the main config (raises ValueError naming the field for a bad combination)."""
    return CCConfig.from_dict(
        {
            "n_features": values["cc_n_features"],
            "d_embed": values["cc_d_embed"],
            "d_mlp": values["cc_d_mlp"],
            "p": float(10.0 ** values["cc_log10_p"]),
            "value_law": values["cc_value_law"],
            "labels": values["cc_labels"],
            "loss": values["cc_loss"],
            "loss_p": values["cc_loss_p"],
            "mixing": values["cc_mixing"],
            "n_instances": values["cc_n_instances"],
            "batch_size": values["cc_batch_size"],
            "steps": values["cc_steps"],
            "lr": values["cc_lr"],
            "schedule": values["cc_schedule"],
            "weight_decay": values["cc_weight_decay"],
            "seed": values["cc_seed"],
            "device": values["cc_device"],
        }
    )


def sweep_config(values: dict[str, Any]) -> CCConfig:
    """The σ-sweep config: the main settings with a random symmetric mixing, σ from 0 to the largest σ."""
    base = cc_config({**values, "cc_mixing": "embedding", "cc_n_instances": 1})
    return base.replace(
        mixing="random", n_instances=values["cc_sweep_points"], sigma_min=0.0, sigma_max=values["cc_sweep_sigma_max"]
    )


def uand_controls(talk_note: DeltaGenerator | None = None) -> dict[str, Any]:
    """Presets and controls of the universal-AND circuits, with what to look for in the preset they hold (in talk
    mode said in ``talk_note`` too); returns the raw values."""
    slot = preset_picker(UAND_PRESETS, UAND_SPECS, key="uand_preset")
    values = _groups_in_columns(
        [("Circuits", UAND_MODEL), ("Held-out evaluation", UAND_EVAL), ("Training", UAND_TRAINING)]
    )
    with talk_note if talk_note is not None else nullcontext():
        preset_note(slot, UAND_PRESETS, UAND_SPECS, UAND_NOTES)
    return values


def uand_config(values: dict[str, Any]) -> UANDConfig:
    fields = {s.key.removeprefix("uand_"): values[s.key] for s in UAND_SPECS}
    return UANDConfig.from_dict(fields)
