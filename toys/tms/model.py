"""The toy-models-of-superposition model: init, forward, loss and its gradients by hand. Every parameter carries a
leading instance dimension."""

from __future__ import annotations

import math

import torch

from toys.core.activations import ACTIVATION_FNS
from toys.tms.config import TMSConfig


def init_tms_params(cfg: TMSConfig, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """W ~ Xavier normal per instance, b = 0."""
    std = math.sqrt(2.0 / (cfg.n_features + cfg.n_hidden))
    W = torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features, generator=generator, device=device) * std
    b = torch.zeros(cfg.n_instances, cfg.n_features, device=device)
    return {"W": W.requires_grad_(), "b": b.requires_grad_()}


def tms_forward(
    x: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    model: str,
    activation: str,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x' for a batch. x (I, B, F), W (I, H, F), b (I, F) -> (I, B, F).

    linear:      x' = WᵀW x + b
    relu_output: x' = act(WᵀW x + b)
    relu_hidden: x' = act(Wᵀ act(W x) + b)

    ``dropout`` > 0 zeroes each hidden unit with that probability and rescales the rest (training only).
    """
    act = ACTIVATION_FNS[activation]
    h = torch.bmm(x, W.transpose(1, 2))  # (I, B, H)
    if model == "relu_hidden":
        h = act(h)
    if dropout > 0:
        keep = torch.rand(h.shape, generator=generator, device=h.device) >= dropout
        h = h * keep / (1.0 - dropout)
    z = torch.baddbmm(b[:, None, :], h, W)  # (I, B, F)
    return z if model == "linear" else act(z)


def weighted_mse(x: torch.Tensor, out: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """Importance-weighted squared error, mean over batch and features, per instance. -> (I,)"""
    return (importance * (x - out) ** 2).mean(dim=(1, 2))


def _gelu_grad(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(z * math.sqrt(0.5))) + z * torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2 * math.pi))


def _silu_grad(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


ACTIVATION_GRADS = {  # act'(z) given z and a = act(z)
    "gelu": _gelu_grad,
    "silu": _silu_grad,
    "tanh": lambda z, a: 1.0 - a * a,
}


def _times_act_grad(g: torch.Tensor, z: torch.Tensor, a: torch.Tensor, activation: str) -> torch.Tensor:
    """g ⊙ act'(z), with act' 1/0 (relu) or 1/0.01 (leaky_relu) split at z > 0 as autograd does."""
    if activation == "relu":
        return torch.where(z > 0, g, 0.0)
    if activation == "leaky_relu":
        return torch.where(z > 0, g, 0.01 * g)
    return g * ACTIVATION_GRADS[activation](z, a)


def tms_loss_and_grads(
    x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, importance: torch.Tensor, model: str, activation: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-instance loss and the gradients of their sum, written out by hand (no autograd).

    x (I, B, F), W (I, H, F), b (I, F), importance (F,) -> losses (I,), dW (I, H, F), db (I, F); the same
    quantities as ``weighted_mse(x, tms_forward(x, W, b, ...), importance)`` and its backward pass.
    """
    n_batch, n_feat = x.shape[1], x.shape[2]
    act = ACTIVATION_FNS[activation]
    hp = torch.bmm(x, W.transpose(1, 2))  # (I, B, H)
    h = act(hp) if model == "relu_hidden" else hp
    z = torch.baddbmm(b[:, None, :], h, W)  # (I, B, F)
    out = z if model == "linear" else act(z)
    d = out - x  # (I, B, F)
    wd = importance * d
    losses = (wd * d).mean(dim=(1, 2))  # (I,)
    g = wd * (2.0 / (n_batch * n_feat))  # dL/dout
    if model != "linear":
        g = _times_act_grad(g, z, out, activation)  # dL/dz (I, B, F)
    gh = torch.bmm(g, W.transpose(1, 2))  # dL/dh (I, B, H)
    if model == "relu_hidden":
        gh = _times_act_grad(gh, hp, h, activation)
    dW = torch.bmm(h.transpose(1, 2), g) + torch.bmm(gh.transpose(1, 2), x)  # (I, H, F)
    return losses, dW, g.sum(dim=1)
