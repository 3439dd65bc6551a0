"""Data laws that more than one family of toys uses: the probability sweep across instances, geometric importances."""

from __future__ import annotations

import numpy as np

from toys.core.config import parse_probabilities


def instance_probability(cfg) -> np.ndarray:
    """Feature probability per instance of a config with ``p_max``, ``p_min`` and ``n_instances`` (and maybe
    ``p_values``): the listed ``p_values`` if any, else geometric from p_max (instance 0) to
    p_min (last). Shape (I,)."""
    if getattr(cfg, "p_values", ""):
        return np.asarray(parse_probabilities("p_values", cfg.p_values), dtype=np.float64)
    if cfg.n_instances == 1 or cfg.p_min == cfg.p_max:
        return np.full(cfg.n_instances, cfg.p_max, dtype=np.float64)
    t = np.linspace(0.0, 1.0, cfg.n_instances)
    return cfg.p_max * (cfg.p_min / cfg.p_max) ** t


def decay_importance(decay: float, n: int) -> np.ndarray:
    """Geometric importances ``decay ** i`` for i < n, float32."""
    return (decay ** np.arange(n)).astype(np.float32)
