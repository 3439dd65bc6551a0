"""Controls and presets of the feature-geometry page (keys prefixed ``geo_``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from toys.core.config import SCHEDULES
from toys.tms.config import TMSConfig
from ui.controls import Spec, config_fields, draw, sidebar_controls

MODEL = [
    Spec("geo_n_features", "Features n", "int", 100, 2, 400),
    Spec("geo_n_hidden", "Hidden dimensions m", "int", 10, 1, 64),
    Spec("geo_importance_decay", "Importance decay (importance of feature i = decay^i)", "float", 1.0, 0.9, 1.0, 0.001),
]
DATA = [
    Spec("geo_n_instances", "Sparsities (one instance each)", "int", 24, 2, 40),
    Spec("geo_log10_p_max", "log₁₀ feature probability, densest instance", "float", 0.0, -3.0, 0.0, 0.05),
    Spec("geo_log10_p_min", "log₁₀ feature probability, sparsest instance", "float", -2.5, -3.5, 0.0, 0.05),
]
TRAINING = [
    Spec("geo_batch_size", "Batch size", "int", 256, 32, 8192, 32),
    Spec("geo_steps", "Steps", "int", 10_000, 100, 100_000, 100),
    Spec("geo_log10_lr", "log₁₀ learning rate", "float", -2.0, -5.0, -0.5, 0.1),
    Spec("geo_schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec("geo_seed", "Seed", "int", 0, 0, 10_000),
    Spec("geo_log_every", "Record loss every N steps", "int", 100, 10, 1000, 10),
    Spec("geo_device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
VIEW = [Spec("geo_instance", "Instance to inspect (0 = densest)", "int", 16, 0, 39)]
IDEAL = [
    Spec("geo_ideal_n", "Points n", "int", 5, 2, 32),
    Spec("geo_ideal_d", "Dimensions d", "int", 2, 2, 6),
    Spec("geo_ideal_restarts", "Random starts", "int", 8, 1, 32),
    Spec("geo_azimuth", "View azimuth (3-d)", "int", 30, -180, 180, 5),
    Spec("geo_elevation", "View elevation (3-d)", "int", 20, -90, 90, 5),
]
SPECS = MODEL + DATA + TRAINING + VIEW + IDEAL
TRAIN_SPECS = MODEL + DATA + TRAINING

PRESETS: dict[str, dict[str, Any]] = {
    "CPU: 100 features → 10 dims, 24 sparsities": {},
    "GPU: 200 features → 20 dims, 30 sparsities": {
        "geo_n_features": 200,
        "geo_n_hidden": 20,
        "geo_n_instances": 30,
        "geo_log10_p_min": -3.0,
        "geo_batch_size": 1024,
        "geo_steps": 30_000,
        "geo_log10_lr": -2.5,
        "geo_instance": 20,
    },
    "Small: 40 features → 8 dims": {
        "geo_n_features": 40,
        "geo_n_hidden": 8,
        "geo_log10_p_min": -2.0,
        "geo_steps": 6000,
    },
}


NOTES: dict[str, str] = {
    "CPU: 100 features → 10 dims, 24 sparsities": "Dimensions per feature is 1 while ten features hold a dimension "
    "each and falls as features get sparser: look for where it lingers at the dashed fractions, 1/2 (antipodal "
    "pairs) above all, the stickiness Elhage et al. (2022) found; below, each feature's D_i gathers on those "
    "fractions, coloured by its polytope.",
    "GPU: 200 features → 20 dims, 30 sparsities": "A larger sweep, closer to Elhage et al.'s (2022): 30,000 steps "
    "suit a GPU. Look for the same steps in dimensions per feature and D_i clustering on the dashed polytope "
    "fractions, over more features and down to 1 − S = 0.001; compare with the CPU preset's.",
    "Small: 40 features → 8 dims": "A smaller sweep that trains faster: dimensions per feature leaves 1 as "
    "features get sparser; look for its plateaus at the dashed fractions and for the polytopes of the inspected "
    "instance in the bars and table below.",
}


def geometry_controls() -> dict[str, Any]:
    """Draw the presets and the training and view controls in the sidebar; return the raw control values."""
    return sidebar_controls(
        SPECS,
        PRESETS,
        "geo_preset",
        [("Model", MODEL), ("Data", DATA), ("Training", TRAINING), ("View", VIEW)],
        preset_specs=TRAIN_SPECS + VIEW,
        notes=NOTES,
    )


def ideal_controls() -> dict[str, Any]:
    """The ideal-configuration viewer's controls, in a row of the main area."""
    cols = st.columns(len(IDEAL))
    values = {}
    for col, spec in zip(cols, IDEAL):
        with col:
            values[spec.key] = draw(spec)
    return values


def geometry_config(values: dict[str, Any]) -> TMSConfig:
    """Control values -> a ReLU-output TMS config (raises ValueError naming the field for a bad combination)."""
    fields = {"model": "relu_output"} | config_fields(values, "geo_", skip=tuple(s.key for s in VIEW + IDEAL))
    return TMSConfig.from_dict(fields)
