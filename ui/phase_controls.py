"""Controls and presets of the phase-diagram page (keys prefixed ``phase_``)."""

from __future__ import annotations

from typing import Any

from toys.core.config import SCHEDULES
from toys.tms.phase import PhaseConfig
from ui.controls import Spec, config_fields, sidebar_controls

SETUPS = {"n2_m1": (2, 1), "n3_m2": (3, 2)}  # URL value -> (features, hidden dims)

GRID = [
    Spec(
        "phase_setup",
        "Model: n features → m dims",
        "choice",
        "n2_m1",
        options=tuple(SETUPS),
        help="n2_m1: 2 features in 1 dimension (exact boundaries drawn) · n3_m2: 3 features in 2 dimensions. "
        "The last feature is the extra one; the others have importance 1.",
    ),
    Spec("phase_n_importance", "Importance rows", "int", 20, 2, 40),
    Spec("phase_log10_r_min", "log₁₀ relative importance, lowest", "float", -1.0, -2.0, 0.0, 0.1),
    Spec("phase_log10_r_max", "log₁₀ relative importance, highest", "float", 1.0, 0.0, 2.0, 0.1),
    Spec("phase_n_density", "Density columns", "int", 20, 2, 40),
    Spec("phase_log10_p_min", "log₁₀ feature density, lowest", "float", -2.0, -3.0, 0.0, 0.1),
    Spec("phase_log10_p_max", "log₁₀ feature density, highest", "float", 0.0, -3.0, 0.0, 0.1),
    Spec("phase_seeds", "Seeds per cell (best of K)", "int", 4, 1, 16),
]
TRAINING = [
    Spec(
        "phase_value_samples",
        "Value draws per presence pattern per step",
        "int",
        16,
        2,
        256,
        2,
        help="Every step takes all 2ⁿ presence patterns at their exact probabilities and draws only the values.",
    ),
    Spec("phase_steps", "Steps", "int", 1500, 100, 20_000, 100),
    Spec("phase_log10_lr", "log₁₀ learning rate", "float", -1.7, -4.0, -0.5, 0.1),
    Spec("phase_schedule", "Schedule", "choice", "cosine", options=SCHEDULES),
    Spec("phase_seed", "Seed", "int", 0, 0, 10_000),
    Spec("phase_log_every", "Record loss every N steps", "int", 50, 10, 1000, 10),
    Spec("phase_device", "Device", "choice", "auto", options=("auto", "cpu", "cuda")),
]
VIEW = [
    Spec("phase_row", "Inspect cell: importance row (0 = lowest)", "int", 10, 0, 39),
    Spec("phase_col", "Inspect cell: density column (0 = sparsest)", "int", 10, 0, 39),
]
SPECS = GRID + TRAINING + VIEW

PRESETS: dict[str, dict[str, Any]] = {
    "n = 2, m = 1 with the exact boundaries (20 × 20)": {"phase_setup": "n2_m1"},
    "n = 3, m = 2 (20 × 20)": {"phase_setup": "n3_m2"},
    "Quick look: n = 2, m = 1, 10 × 10": {
        "phase_setup": "n2_m1",
        "phase_n_importance": 10,
        "phase_n_density": 10,
        "phase_steps": 1000,
        "phase_row": 5,
        "phase_col": 5,
    },
    "Fine: n = 2, m = 1, 40 × 40, 8 seeds (GPU)": {
        "phase_setup": "n2_m1",
        "phase_n_importance": 40,
        "phase_n_density": 40,
        "phase_seeds": 8,
        "phase_steps": 3000,
        "phase_row": 20,
        "phase_col": 20,
    },
}


NOTES: dict[str, str] = {
    "n = 2, m = 1 with the exact boundaries (20 × 20)": "Each cell is coloured by what its best seed does with the "
    "extra feature: not learned (dense and unimportant), a dedicated dimension (dense and important), or "
    "superposition, an antipodal pair (sparse). Look for the colours to follow the black exact boundaries; the "
    "agreement beside the chart counts the cells that match.",
    "n = 3, m = 2 (20 × 20)": "No closed form here, so no black lines: the colours are the trained models' own. Look "
    "for the same three regions as for n = 2, m = 1: the extra feature dropped when dense and unimportant, given a "
    "dimension when dense and important, stored in superposition when sparse; the inspected cell's seeds are drawn "
    "as arrows.",
    "Quick look: n = 2, m = 1, 10 × 10": "A coarse grid that trains quickly: look for the three colours (extra "
    "feature not learned, dedicated, superposed) on their sides of the black exact boundaries; the second agreement "
    "figure, for cells away from a boundary, should be near 100%.",
    "Fine: n = 2, m = 1, 40 × 40, 8 seeds (GPU)": "Four times the cells and twice the seeds: the borders between "
    "colours trace the black exact boundaries more finely, meeting at the triple point (r = 1, p = 4/7); compare "
    "the agreement with the 20 × 20 grid's.",
}


def phase_controls() -> dict[str, Any]:
    """Draw the presets and every control; return the raw control values (``phase_row``/``phase_col`` pick the
    cell to inspect and are not part of the config)."""
    return sidebar_controls(
        SPECS,
        PRESETS,
        "phase_preset",
        [("Grid", GRID), ("Training", TRAINING), ("Inspect a cell", VIEW)],
        notes=NOTES,
    )


def phase_config(values: dict[str, Any]) -> PhaseConfig:
    """Control values -> config (raises ValueError naming the field for a bad combination)."""
    fields = config_fields(values, "phase_", skip=("phase_row", "phase_col"))
    n, m = SETUPS[fields.pop("setup")]
    return PhaseConfig.from_dict({"n_features": n, "n_hidden": m} | fields)
