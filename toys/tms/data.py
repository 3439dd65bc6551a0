"""Sparse feature batches, generated on the training device from the config's seed.

Every batch comes from one uniform draw ``u`` per (instance, sample, feature): a feature is present iff
``u < p``, and then ``u / p`` is again uniform on [0, 1), which feeds the value law. Correlated pairs share the
first feature's presence and take the second feature's own draw as its value; anticorrelated pairs are present
together with probability 2p and split that mass: first iff ``u < p``, second iff ``p <= u < 2p``.
"""

from __future__ import annotations

import numpy as np
import torch

from toys.core.data import decay_importance, instance_probability
from toys.tms.config import TMSConfig


def probability_matrix(cfg: TMSConfig) -> np.ndarray:
    """Probability of every feature in every instance, shape (I, F), float32."""
    p = np.repeat(instance_probability(cfg)[:, None], cfg.n_features, axis=1)
    if cfg.subset_size:
        p[:, cfg.n_features - cfg.subset_size :] = cfg.subset_probability
    return p.astype(np.float32)


def importance(cfg: TMSConfig) -> np.ndarray:
    """Importance of every feature, ``importance_decay ** i``, shape (F,), float32."""
    return decay_importance(cfg.importance_decay, cfg.n_features)


def apply_value_law(v: torch.Tensor, law: str) -> torch.Tensor:
    """Map v ~ U[0, 1) to the law's values."""
    if law == "uniform01":
        return v
    if law == "one":
        return torch.ones_like(v)
    if law == "discrete123":
        return torch.clamp(torch.floor(3.0 * v), max=2.0) + 1.0
    if law == "uniform_half_one":
        return 0.5 + 0.5 * v
    raise ValueError(f"value_law={law!r} is unknown")


class FeatureSampler:
    """Draws batches of shape (instances, batch, features) for one TMS config on one device."""

    def __init__(self, cfg: TMSConfig, device: torch.device | str) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.p = torch.as_tensor(probability_matrix(cfg), device=self.device)[:, None, :]  # (I, 1, F)
        c, a = cfg.correlated_pairs, cfg.anticorrelated_pairs
        self._corr = (slice(0, 2 * c, 2), slice(1, 2 * c, 2)) if c else None
        self._anti = (slice(2 * c, 2 * c + 2 * a, 2), slice(2 * c + 1, 2 * c + 2 * a, 2)) if a else None

    def sample(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        u = torch.rand(cfg.n_instances, batch, cfg.n_features, generator=generator, device=self.device)
        present = u < self.p  # (I, B, F)
        v = u / self.p
        if self._corr is not None:
            first, second = self._corr
            present[..., second] = present[..., first]
            v[..., second] = u[..., second]
        if self._anti is not None:
            first, second = self._anti
            uf, pf = u[..., first], self.p[..., first]
            present[..., second] = (uf >= pf) & (uf < 2.0 * pf)
            v[..., second] = (uf - pf) / pf
        return torch.where(present, apply_value_law(v, cfg.value_law), torch.zeros((), device=self.device))
