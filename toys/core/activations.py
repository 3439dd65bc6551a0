"""Activation functions by the names configs use."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ACTIVATION_FNS = {
    "relu": torch.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
    "tanh": torch.tanh,
}
