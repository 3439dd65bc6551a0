"""Models of the storage toys. Every parameter carries a leading instance dimension."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from toys.config import TMSConfig

ACTIVATION_FNS = {
    "relu": torch.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
    "tanh": torch.tanh,
}


def init_tms_params(cfg: TMSConfig, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """W ~ Xavier normal per instance, b = 0."""
    std = math.sqrt(2.0 / (cfg.n_features + cfg.n_hidden))
    W = torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features, generator=generator, device=device) * std
    b = torch.zeros(cfg.n_instances, cfg.n_features, device=device)
    return {"W": W.requires_grad_(), "b": b.requires_grad_()}


def tms_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, model: str, activation: str) -> torch.Tensor:
    """x' for a batch. x (I, B, F), W (I, H, F), b (I, F) -> (I, B, F).

    linear:      x' = WᵀW x + b
    relu_output: x' = act(WᵀW x + b)
    relu_hidden: x' = act(Wᵀ act(W x) + b)
    """
    act = ACTIVATION_FNS[activation]
    h = torch.bmm(x, W.transpose(1, 2))  # (I, B, H)
    if model == "relu_hidden":
        h = act(h)
    z = torch.baddbmm(b[:, None, :], h, W)  # (I, B, F)
    return z if model == "linear" else act(z)


def weighted_mse(x: torch.Tensor, out: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Importance-weighted squared error, mean over batch and features, per instance. -> (I,)"""
    return (importance * (x - out) ** 2).mean(dim=(1, 2))
