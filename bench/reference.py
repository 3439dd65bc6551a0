"""The plain training loop of Anthropic's Toy Models of Superposition notebook, kept as the benchmark's reference.

Layout as in the notebook: batches are (batch, instance, feature), ``W`` is (instance, feature, hidden). Every
step draws a fresh batch with two ``torch.rand`` calls (values, then the presence mask), runs the einsum forward,
takes the importance-weighted MSE (mean over batch and features, summed over instances), back-propagates with
autograd and steps ``torch.optim.Adam``; the loss is read on the host (``loss.item()``) every ``print_freq`` steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from toys.tms.config import TMSConfig
from toys.tms.data import importance, probability_matrix


class ReferenceTMS:
    """The notebook's model and loop for a TMS config with independent features, uniform values, relu output."""

    def __init__(self, cfg: TMSConfig, device: torch.device | str, W0: torch.Tensor | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        if W0 is None:
            W0 = torch.empty(cfg.n_instances, cfg.n_features, cfg.n_hidden, device=self.device)
            torch.nn.init.xavier_normal_(W0)
        self.W = torch.nn.Parameter(W0.detach().clone().to(self.device))  # (I, F, H)
        self.b_final = torch.nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features, device=self.device))
        self.feature_probability = torch.as_tensor(probability_matrix(cfg), device=self.device)  # (I, F)
        self.importance = torch.as_tensor(importance(cfg), device=self.device)[None, :]  # (1, F)
        self.opt = torch.optim.Adam([self.W, self.b_final], lr=cfg.lr)
        self.step_index = 0
        self.last_loss = math.nan

    def generate_batch(self, n_batch: int) -> torch.Tensor:
        shape = (n_batch, self.cfg.n_instances, self.cfg.n_features)
        feat = torch.rand(shape, device=self.device)
        return torch.where(
            torch.rand(shape, device=self.device) <= self.feature_probability,
            feat,
            torch.zeros((), device=self.device),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.einsum("...if,ifh->...ih", features, self.W)
        out = torch.einsum("...ih,ifh->...if", hidden, self.W)
        out = out + self.b_final
        return F.relu(out)

    def lr_scale(self) -> float:
        frac = self.step_index / self.cfg.steps
        if self.cfg.schedule == "linear":
            return 1.0 - frac
        if self.cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * frac))
        return 1.0

    def step(self, batch: torch.Tensor | None = None, print_freq: int = 100) -> torch.Tensor:
        """One training step; ``batch`` (B, I, F) replaces the fresh draw when given. Returns the loss per instance."""
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * self.lr_scale()
        self.opt.zero_grad(set_to_none=True)
        if batch is None:
            batch = self.generate_batch(self.cfg.batch_size)
        out = self.forward(batch)
        error = self.importance * (batch.abs() - out) ** 2
        per_instance = error.mean(dim=(0, 2))  # (I,)
        loss = per_instance.sum()
        loss.backward()
        self.opt.step()
        if self.step_index % print_freq == 0 or self.step_index + 1 == self.cfg.steps:
            self.last_loss = loss.item() / self.cfg.n_instances
        self.step_index += 1
        return per_instance.detach()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def weights(self) -> dict[str, np.ndarray]:
        """W as (I, H, F) and b as (I, F), the engine's layout."""
        return {
            "W": self.W.detach().transpose(1, 2).cpu().numpy().copy(),
            "b": self.b_final.detach().cpu().numpy().copy(),
        }
