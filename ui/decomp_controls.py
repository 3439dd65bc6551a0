"""Controls of the Decomposition page: the source of activations with known features, and the dictionaries trained
on it. Keys (and URL parameters) start with ``sae_``; ``sae_config`` turns the values into a validated
``toys.decomp.sae.SAEConfig``."""

from __future__ import annotations

from typing import Any

from toys.circuits.planted import FUNCTIONS
from toys.core.config import SCHEDULES
from toys.decomp.sae import ARCHS, MAGNITUDES, SOURCES, SAEConfig
from ui.controls import Spec, config_fields, sidebar_controls

SOURCE = [
    Spec(
        "sae_source",
        "Activations",
        "choice",
        "synthetic",
        options=SOURCES,
        help="synthetic: sparse features along random unit directions (truth: those directions) · tms: the hidden "
        "layer of a trained toy model of superposition (truth: the columns of its W) · circuits: the MLP of a "
        "planted-circuits model, read by transcoders (truth: the output directions of its features)",
    ),
    Spec("sae_d_in", "Dimensions d (tms: hidden dims; circuits: MLP input)", "int", 16, 2, 256),
    Spec("sae_n_true", "True features", "int", 32, 2, 1024),
    Spec("sae_log10_p_max", "log₁₀ firing probability (the most frequent feature)", "float", -1.3, -3.0, -0.1, 0.05),
    Spec(
        "sae_zipf",
        "Zipf exponent of firing rates (synthetic)",
        "float",
        0.0,
        0.0,
        2.0,
        0.05,
        help="Feature i fires with probability p·(i+1)^−s: 0 is every feature equally often.",
    ),
    Spec("sae_correlation", "Correlation of firings (synthetic)", "float", 0.0, 0.0, 0.95, 0.05),
    Spec(
        "sae_n_parents",
        "Parent features with children (synthetic)",
        "int",
        0,
        0,
        64,
        help="A child fires only when its parent does: the setting in which a dictionary absorbs children into "
        "parents (Chanin et al., 2024).",
    ),
    Spec("sae_children", "Children per parent", "int", 2, 1, 8),
    Spec("sae_p_child", "Probability a child fires with its parent", "float", 0.3, 0.05, 1.0, 0.05),
    Spec("sae_magnitude", "Magnitudes of firing features", "choice", "uniform", options=MAGNITUDES),
    Spec("sae_circuit_size", "Features per circuit (circuits)", "int", 2, 1, 8),
    Spec("sae_function", "Circuit function (circuits)", "choice", "abs", options=FUNCTIONS),
    Spec("sae_n_neurons", "MLP neurons (circuits)", "int", 16, 4, 256),
    Spec("sae_model_steps", "Steps to train the model read (tms, circuits)", "int", 5000, 100, 20_000, 100),
    Spec("sae_source_seed", "Seed of the source", "int", 0, 0, 10_000),
]
DICTIONARY = [
    Spec(
        "sae_arch",
        "Architecture",
        "choice",
        "relu_l1",
        options=ARCHS,
        help="relu_l1: ReLU with an L1 penalty λ · topk: the k largest latents per sample · batchtopk: the k·B "
        "largest over a batch · jumprelu: a learned threshold per latent, L0 penalty λ",
    ),
    Spec("sae_n_latents", "Latents (dictionary width)", "int", 32, 2, 1024),
    Spec(
        "sae_widths",
        "Sweep widths (comma-separated; empty: the width above)",
        "text",
        "",
        hi=200,
        help="Each width × each penalty (or k) trains as its own instance, all at once.",
    ),
    Spec(
        "sae_log10_penalty",
        "log₁₀ penalty λ (relu_l1, jumprelu)",
        "float",
        -0.5,
        -4.0,
        1.0,
        0.1,
        help="The default λ ≈ 0.3 recovers 31 of the default source's 32 features in 5,000 steps (MCC 0.96); "
        "λ = 0.01 leaves dense, mixed latents.",
    ),
    Spec("sae_penalties", "Sweep penalties λ (comma-separated)", "text", "", hi=200),
    Spec("sae_k", "k (topk, batchtopk)", "int", 4, 1, 64),
    Spec("sae_ks", "Sweep k (comma-separated)", "text", "", hi=200),
    Spec(
        "sae_encoder_from_decoder",
        "Encoder starts as the decoder's transpose",
        "bool",
        True,
        help="Said to cut dead latents sharply (Conerly et al., 2024). Transcoders read another space: off.",
    ),
    Spec("sae_resample_every", "Resample dead latents every N steps (0: never)", "int", 0, 0, 20_000, 100),
    Spec("sae_dead_steps", "Dead after N steps without firing", "int", 500, 10, 20_000, 10),
    Spec(
        "sae_aux_k_coef",
        "AuxK loss coefficient α (topk, batchtopk; 0: off)",
        "float",
        1.0 / 32.0,
        0.0,
        1.0,
        1.0 / 128.0,
        help="While latents are dead, they also learn to reconstruct the main reconstruction's error from the "
        "k_aux largest of their pre-activations, weighted by α (Gao et al., 2024: 1/32; sae-lens's TopK: 1).",
    ),
]
TRAINING = [
    Spec("sae_batch_size", "Batch size", "int", 1024, 32, 8192, 32),
    Spec("sae_steps", "Steps", "int", 5000, 100, 50_000, 100),
    Spec("sae_log10_lr", "log₁₀ learning rate", "float", -3.0, -4.5, -1.0, 0.1),
    Spec("sae_schedule", "Schedule", "choice", "constant", options=SCHEDULES),
    Spec("sae_seed", "Seed", "int", 0, 0, 10_000),
    Spec("sae_log_every", "Record loss every N steps", "int", 50, 10, 1000, 10),
    Spec("sae_device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
SPECS = SOURCE + DICTIONARY + TRAINING

PRESETS: dict[str, dict[str, Any]] = {
    "Pentagon: an SAE on the 5→2 toy model recovers its five features": {
        "sae_source": "tms",
        "sae_d_in": 2,
        "sae_n_true": 5,
        "sae_log10_p_max": -1.3,
        "sae_model_steps": 10_000,
        "sae_n_latents": 5,
        "sae_log10_penalty": -0.4,
        "sae_steps": 10_000,
    },
    "Absorption: parents and their children in a narrow dictionary": {
        "sae_n_true": 8,
        "sae_log10_p_max": -1.0,
        "sae_n_parents": 2,
        "sae_children": 2,
        "sae_p_child": 0.4,
        "sae_magnitude": "one",
        "sae_n_latents": 8,
        "sae_log10_penalty": -1.0,
        "sae_steps": 3000,
    },
    "Width × k: TopK dictionaries on Zipfian features": {
        "sae_d_in": 32,
        "sae_n_true": 64,
        "sae_zipf": 0.5,
        "sae_arch": "topk",
        "sae_widths": "32,64,128",
        "sae_ks": "2,4,8",
        "sae_steps": 4000,
    },
    "Penalty sweep: ReLU + L1 from too weak to too strong": {
        "sae_penalties": "0.001,0.003,0.01,0.03,0.1,0.3",
        "sae_widths": "32,64",
        "sae_steps": 4000,
    },
    "Transcoder: the MLP of a planted-circuits model": {
        "sae_source": "circuits",
        "sae_d_in": 16,
        "sae_n_true": 8,
        "sae_log10_p_max": -1.0,
        "sae_n_neurons": 16,
        "sae_model_steps": 3000,
        "sae_arch": "topk",
        "sae_n_latents": 32,
        "sae_k": 4,
        "sae_encoder_from_decoder": False,
        "sae_steps": 3000,
    },
}

NOTES: dict[str, str] = {
    "Pentagon: an SAE on the 5→2 toy model recovers its five features": "The toy model stores five features as a "
    "pentagon in two dimensions; five latents with an L1 penalty find them: look for five bright cells on the "
    "diagonal of the matrix and MCC near 1 (the known result: all five recovered, MCC ≥ 0.99, tested on three "
    "seeds).",
    "Absorption: parents and their children in a narrow dictionary": "Two parents, each with two children that fire "
    "only with their parent, and exactly one latent per feature: look at the absorption score, how often the "
    "parent's latent falls silent when a child fires (Chanin et al., 2024).",
    "Width × k: TopK dictionaries on Zipfian features": "Nine dictionaries at once: look for recovery to rise with "
    "width up to the number of true features, and for the rare (Zipfian tail) features to be the ones missed.",
    "Penalty sweep: ReLU + L1 from too weak to too strong": "Too weak a penalty leaves dense, mixed latents; too "
    "strong a penalty kills latents and shrinks the rest: look for recovery to peak in between.",
    "Transcoder: the MLP of a planted-circuits model": "Transcoders read the MLP's input and write its output; the "
    "truth is each feature's output direction. Look at how many are recovered when circuits share 16 neurons.",
}


def sae_controls() -> dict[str, Any]:
    """Draw the presets and every control; return the raw control values."""
    return sidebar_controls(
        SPECS,
        PRESETS,
        "sae_preset",
        [("Activations", SOURCE), ("Dictionaries", DICTIONARY), ("Training", TRAINING)],
        notes=NOTES,
    )


def sae_config(values: dict[str, Any]) -> SAEConfig:
    """Control values -> config (raises ValueError naming the field for a bad combination)."""
    return SAEConfig.from_dict(config_fields(values, "sae_"))
