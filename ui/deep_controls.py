"""Controls and presets of the CIS lab page (keys, and URL parameters, prefixed ``deep_``); ``deep_config`` turns
the values into a validated ``toys.compute.deep.DeepConfig``."""

from __future__ import annotations

from typing import Any

from toys.compute.deep import DEEP_LABELS, DEEP_LOSSES, TARGETS, DeepConfig
from toys.core.config import SCHEDULES
from ui.controls import Spec, config_fields, sidebar_controls

MODEL = [
    Spec(
        "deep_target",
        "Functions to compute",
        "choice",
        "relu",
        options=TARGETS,
        help="relu: ReLU(xⱼ), one per feature · abs: |xⱼ| · maxabs: max(|x₂ₖ|, |x₂ₖ₊₁|), one per pair of features "
        "(needs an even number of features)",
    ),
    Spec("deep_n_features", "Features n", "int", 100, 2, 400),
    Spec(
        "deep_d_embed",
        "Residual stream width D (≥ n)",
        "int",
        1000,
        2,
        2000,
        help="The frozen random embedding W_E (n × D, unit rows) writes the features into the stream; W_Eᵀ reads "
        "the outputs.",
    ),
    Spec("deep_n_layers", "MLP blocks", "int", 1, 1, 3),
    Spec("deep_d_mlp", "Neurons per block", "int", 50, 1, 400),
    Spec("deep_log10_feature_probability", "log₁₀ feature probability (instance 0)", "float", -2.0, -3.0, 0.0, 0.1),
    Spec(
        "deep_log10_p_min",
        "log₁₀ lowest feature probability (0: off)",
        "float",
        0.0,
        -3.0,
        0.0,
        0.1,
        help="Instances at probabilities geometric from the one above (instance 0) down to this one (the last); "
        "0 puts every instance at the probability above.",
    ),
    Spec("deep_n_instances", "Instances (models trained at once)", "int", 1, 1, 8),
    Spec(
        "deep_labels",
        "Feature values",
        "choice",
        "continuous",
        options=DEEP_LABELS,
        help="continuous: a present feature is U[−1, 1] · discrete: ±1",
    ),
]
TRAINING = [
    Spec("deep_loss", "Loss", "choice", "mse", options=DEEP_LOSSES, help="mse: (ŷ − y)² · lp: |ŷ − y|^p"),
    Spec("deep_loss_p", "p of the lp loss", "float", 4.0, 1.0, 10.0, 0.5),
    Spec("deep_batch_size", "Batch size", "int", 1024, 64, 4096, 64),
    Spec("deep_steps", "Steps", "int", 3000, 100, 20_000, 100),
    Spec("deep_log10_lr", "log₁₀ learning rate", "float", -2.0, -4.0, -1.0, 0.1),
    Spec("deep_schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec("deep_seed", "Seed", "int", 0, 0, 10_000),
    Spec(
        "deep_eval_present",
        "Held-out samples with each feature present",
        "int",
        500,
        100,
        4000,
        100,
        help="The accounting draws about this many held-out samples per feature present (at most 400,000 rows).",
    ),
    Spec("deep_log_every", "Record loss every N steps", "int", 50, 10, 1000, 10),
    Spec("deep_device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
SPECS = MODEL + TRAINING

SEARCH = {  # the search's cells (toys.compute.search.deep_cells): spd's 100 features in 1000, p from 0.1 to 0.01
    "deep_n_features": 100,
    "deep_d_embed": 1000,
    "deep_n_instances": 3,
    "deep_log10_feature_probability": -1.0,
    "deep_log10_p_min": -2.0,
    "deep_steps": 3000,
    "deep_batch_size": 1024,
    "deep_log10_lr": -2.0,
    "deep_eval_present": 400,
}

PRESETS: dict[str, dict[str, Any]] = {
    "Max-abs, 2 × 12 neurons: trained beats naive": {
        "deep_target": "maxabs",
        "deep_loss": "mse",
        "deep_n_features": 100,
        "deep_d_embed": 1000,
        "deep_n_layers": 2,
        "deep_d_mlp": 12,
        "deep_log10_feature_probability": -2.0,
        "deep_steps": 3000,
        "deep_batch_size": 1024,
        "deep_log10_lr": -2.0,
        "deep_schedule": "cosine",
        "deep_eval_present": 2000,
    },
    "spd: 100 ReLUs, 1 × 50": SEARCH | {"deep_target": "relu", "deep_n_layers": 1, "deep_d_mlp": 50},
    "spd: 2 × 25": SEARCH | {"deep_target": "relu", "deep_n_layers": 2, "deep_d_mlp": 25},
    "spd: 3 × 17": SEARCH | {"deep_target": "relu", "deep_n_layers": 3, "deep_d_mlp": 17},
    "abs: 2 × 25": SEARCH | {"deep_target": "abs", "deep_n_layers": 2, "deep_d_mlp": 25},
}

NOTES: dict[str, str] = {
    "Max-abs, 2 × 12 neurons: trained beats naive": "The search's best cell: 50 max-abs functions of 100 sparse "
    "features (p = 0.01), 24 neurons in two blocks. The naive circuit spends 4 neurons a function and computes 6. "
    "This preset's trained network computed 13 (measured, seed 0; seeds 1, 2: 14, 13; the search's cell: 15). Look "
    "for trained > naive in the table, the solid line under the 0.1 rule longer than the dashed one.",
    "spd: 100 ReLUs, 1 × 50": "spd's residual MLP: 100 ReLU functions, one block of 50 neurons, three instances from "
    "p = 0.1 to 0.01. The naive circuit computes 50, one neuron each. Look for trained to match it at p = 0.1, not "
    "beat it (measured, seed 0: 50, 48, 36 from p = 0.1 to 0.01): no more functions than neurons.",
    "spd: 2 × 25": "The same 50 neurons in two blocks of 25. Compare with one block: depth does not help one-layer "
    "functions (measured, seed 0: 50, 47, 36 from p = 0.1 to 0.01, against the naive 50 at every p).",
    "spd: 3 × 17": "51 neurons in three blocks of 17: again no gain from depth for ReLU (measured, seed 0: 51, 47, 36 "
    "from p = 0.1 to 0.01, against the naive 51). Look for the sparsest instance to fall furthest behind.",
    "abs: 2 × 25": "|x| costs the naive circuit 2 neurons, so 50 neurons compute 25 of the 100. In the search no "
    "trained network beat naive on abs; here (seed 0) it computed 15, 15, 16 from p = 0.1 to 0.01, though its mean "
    "relative loss is lower than naive's: partial circuits on many functions, not exact ones on a few.",
}


def deep_controls() -> dict[str, Any]:
    """Draw the presets and every control; return the raw control values."""
    return sidebar_controls(SPECS, PRESETS, "deep_preset", [("Model", MODEL), ("Training", TRAINING)], notes=NOTES)


def deep_config(values: dict[str, Any]) -> DeepConfig:
    """Control values -> config (raises ValueError naming the field for a bad combination). A log₁₀ p_min of 0
    means no sweep: every instance at the feature probability (p_min = 0)."""
    return DeepConfig.from_dict(config_fields(values, "deep_", off_at_zero=("deep_log10_p_min",)))
