"""The absolute-value model and its relatives: computing a nonlinear function of sparse features in superposition.

Untied weights with biases: h = act(W1 x + b1), y = W2 h + b2, one independent model per instance (the feature
probability sweeps geometrically across instances, as in the storage toys). Targets:

- ``abs``: y_i = |x_i|, x_i ~ U[−1, 1] when present (Toy Models' "computation in superposition" section);
- ``square``: y_i = x_i², x_i ~ U[−1, 1];
- ``max``: y_k = max(x_2k, x_2k+1) of a pair, x ~ U[0, 1] when present (absent features are 0);
- ``and`` / ``or``: y_k = x_2k AND / OR x_2k+1 of binary features (1 when present).

Loss: importance-weighted squared error (importance ``importance_decay ** k`` of output k), mean over batch and
outputs, summed over instances. Dropout (inverted, on the hidden layer) applies during training only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from toys.core.activations import ACTIVATION_FNS
from toys.core.config import (
    ACTIVATIONS,
    TrainingConfig,
    check_choice,
    check_interval,
    check_range,
)
from toys.core.data import decay_importance, instance_probability
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, param_arrays, set_lr

TARGETS = ("abs", "square", "max", "and", "or")
PAIR_TARGETS = ("max", "and", "or")
ABS_ACTIVATIONS = ACTIVATIONS + ("solu",)


@dataclass(frozen=True)
class AbsConfig(TrainingConfig):
    """Absolute value and relatives: untied W1, W2 with biases, a hidden activation, a target per feature or pair."""

    name = "abs"

    n_features: int = 3
    n_hidden: int = 6
    n_instances: int = 1
    p_max: float = 0.3
    p_min: float = 0.3
    importance_decay: float = 1.0
    target: str = "abs"
    activation: str = "relu"
    dropout: float = 0.0
    batch_size: int = 1024
    steps: int = 5_000
    lr: float = 3e-3
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 1, 1024, integer=True)
        check_range("n_hidden", self.n_hidden, 1, 1024, integer=True)
        check_range("n_instances", self.n_instances, 1, 10_000, integer=True)
        check_interval(self, "p_min", "p_max", 1e-5, 1.0)
        check_range("importance_decay", self.importance_decay, 0.01, 1.0)
        check_choice("target", self.target, TARGETS)
        if self.target in PAIR_TARGETS and (self.n_features < 2 or self.n_features % 2):
            raise ValueError(
                f"n_features={self.n_features} must be even and at least 2 for target={self.target!r}, "
                "which reads features in pairs"
            )
        check_choice("activation", self.activation, ABS_ACTIVATIONS)
        check_range("dropout", self.dropout, 0.0, 0.9)
        super().__post_init__()

    @property
    def n_outputs(self) -> int:
        return self.n_features // 2 if self.target in PAIR_TARGETS else self.n_features


@estimate.register(AbsConfig)
def abs_cost(cfg: AbsConfig) -> Cost:
    """Training cost of an absolute-value config (autograd; the trainer keeps no evaluation set).

    Drawing a batch holds about 5 floats per (instance, sample, feature) and its labels; then the step holds the
    batch, the hidden activations (about 8 floats per hidden unit, dropout and SoLU included), the outputs, the
    error and their gradients (about 7 per output). Per step: two batched matrix products forward and three
    backward, I·B·H·(F + O) multiply-adds in all, twice.
    """
    I, B, F, H, O = cfg.n_instances, cfg.batch_size, cfg.n_features, cfg.n_hidden, cfg.n_outputs
    params = I * (H * F + H + O * H + O)
    step = FLOAT_BYTES * I * B * max(5 * F + O, F + 8 * H + 7 * O)
    held = FLOAT_BYTES * (I + O)  # probabilities, importances
    flops = 6 * I * B * H * (F + O) + 20 * I * B * (F + H + O) + ADAM_FLOPS * params
    return Cost(
        trainer_bytes(cfg, I, params, held, step),
        flops,
        ("batch_size", "n_instances", "n_features", "n_hidden", "steps", "log_every"),
    )


def importance(cfg: AbsConfig) -> np.ndarray:
    """Importance of every output, ``importance_decay ** k``, shape (O,), float32."""
    return decay_importance(cfg.importance_decay, cfg.n_outputs)


def feature_importance(cfg: AbsConfig) -> np.ndarray:
    """Importance of every input feature: its output's, shared by both features of a pair target. -> (F,)"""
    imp = importance(cfg)
    return imp if cfg.n_outputs == cfg.n_features else np.repeat(imp, 2)


def activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    """The hidden activation; ``solu`` is x·softmax(x) over the hidden units (Elhage et al. 2022, SoLU)."""
    if activation == "solu":
        return h * torch.softmax(h, dim=-1)
    return ACTIVATION_FNS[activation](h)


def sample(cfg: AbsConfig, p: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (x, y): x (I, n, F), y (I, n, O). ``p`` (I, 1, 1) is each instance's feature probability."""
    u = torch.rand(cfg.n_instances, n, cfg.n_features, generator=generator, device=p.device)
    present = u < p
    v = u / p  # again uniform on [0, 1) where present
    if cfg.target in ("abs", "square"):
        x = torch.where(present, 2.0 * v - 1.0, 0.0)
    elif cfg.target == "max":
        x = torch.where(present, v, 0.0)
    else:
        x = present.to(u.dtype)
    return x, target(x, cfg.target)


def target(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The label of a batch x (..., F)."""
    if kind == "abs":
        return x.abs()
    if kind == "square":
        return x * x
    a, b = x[..., 0::2], x[..., 1::2]
    if kind in ("max", "or"):
        return torch.maximum(a, b)
    if kind == "and":
        return a * b
    raise ValueError(f"target={kind!r} is unknown")


def forward(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    activation: str,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden activations (I, B, H), output (I, B, O)) for x (I, B, F)."""
    h = activate(torch.baddbmm(params["b1"][:, None, :], x, params["W1"].transpose(1, 2)), activation)  # (I, B, H)
    if dropout > 0:
        keep = torch.rand(h.shape, generator=generator, device=h.device) >= dropout
        h = h * keep / (1.0 - dropout)
    y = torch.baddbmm(params["b2"][:, None, :], h, params["W2"].transpose(1, 2))  # (I, B, O)
    return h, y


def init_params(cfg: AbsConfig, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Xavier-normal weights, zero biases."""
    I, F, H, O = cfg.n_instances, cfg.n_features, cfg.n_hidden, cfg.n_outputs
    W1 = torch.randn(I, H, F, generator=generator, device=device) * math.sqrt(2.0 / (F + H))
    W2 = torch.randn(I, O, H, generator=generator, device=device) * math.sqrt(2.0 / (H + O))
    params = {"W1": W1, "b1": torch.zeros(I, H, device=device), "W2": W2, "b2": torch.zeros(I, O, device=device)}
    return {k: v.requires_grad_() for k, v in params.items()}


class AbsTrainer(StepTrainer):
    """Trains every instance of an AbsConfig at once (independent models; the loss is their sum)."""

    toy = "abs"
    engine_name = "autograd"

    def __init__(self, cfg: AbsConfig) -> None:
        super().__init__(cfg, cfg.n_instances)
        self.params = init_params(cfg, self.device, self.generator)
        self.p = torch.as_tensor(instance_probability(cfg), dtype=torch.float32, device=self.device)[:, None, None]
        self.importance = torch.as_tensor(importance(cfg), device=self.device)  # (O,)
        self.optimizer = make_optimizer(cfg, list(self.params.values()))

    def _train_step(self, lr: float) -> torch.Tensor:
        cfg = self.cfg
        set_lr(self.optimizer, lr)
        x, y = sample(cfg, self.p, cfg.batch_size, self.generator)
        _, out = forward(x, self.params, cfg.activation, cfg.dropout, self.generator)
        losses = ((out - y) ** 2 * self.importance).mean(dim=(1, 2))  # (I,)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def _arrays(self) -> dict[str, np.ndarray]:
        return param_arrays(self.params)


register("abs", AbsConfig, AbsTrainer)


def _held_out(cfg: AbsConfig, n_samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(instance_probability(cfg), dtype=torch.float32)[:, None, None]
    return sample(cfg, p, n_samples, generator)


EVAL_BUDGET = 1e9  # multiply-adds of one held-out evaluation plus its linear baseline, about a second on one core


def affordable_samples(cfg: AbsConfig, wanted: int, budget: float = EVAL_BUDGET, floor: int = 1000) -> int:
    """Held-out samples for ``evaluate`` and ``linear_baseline`` within ``budget`` multiply-adds (never fewer than
    ``floor``, never more than ``wanted``). Per sample and instance: the forward pass (F·H + H·O), the
    least-squares fit (about 2·(F + 1)² for its QR) and its prediction ((F + 1)·O)."""
    F, H, O = cfg.n_features, cfg.n_hidden, cfg.n_outputs
    per_sample = cfg.n_instances * (F * H + H * O + 2 * (F + 1) ** 2 + (F + 1) * O)
    return int(min(wanted, max(floor, budget // per_sample)))


def evaluate(snap: Snapshot, n_samples: int = 20_000, seed: int = 12_345) -> tuple[np.ndarray, np.ndarray]:
    """Held-out loss of a snapshot without dropout: (importance-weighted loss (I,), MSE per output (I, O))."""
    cfg = AbsConfig.from_dict(snap.config)
    x, y = _held_out(cfg, n_samples, torch.Generator().manual_seed(seed))
    params = {k: torch.tensor(snap[k]) for k in ("W1", "b1", "W2", "b2")}  # copies: snapshots may be read-only
    with torch.no_grad():
        _, out = forward(x, params, cfg.activation)
    per_output = ((out - y) ** 2).mean(dim=1).double().numpy()
    return (per_output * importance(cfg)).mean(axis=1), per_output


def linear_baseline(cfg: AbsConfig, n_samples: int = 20_000, seed: int = 12_345) -> tuple[np.ndarray, np.ndarray]:
    """The best affine readout y ≈ A x + c, the no-computation baseline: (weighted loss (I,), MSE per output (I, O)).

    Fitted by least squares per instance on one set of samples and scored on the held-out set ``evaluate`` uses.
    """
    g = torch.Generator().manual_seed(seed)
    x, y = _held_out(cfg, n_samples, g)
    x_fit, y_fit = _held_out(cfg, n_samples, g)
    ones = np.ones((n_samples, 1))
    per_output = np.empty((cfg.n_instances, cfg.n_outputs))
    for i in range(cfg.n_instances):
        coef, *_ = np.linalg.lstsq(np.hstack([x_fit[i].double().numpy(), ones]), y_fit[i].double().numpy(), rcond=None)
        pred = np.hstack([x[i].double().numpy(), ones]) @ coef
        per_output[i] = ((pred - y[i].double().numpy()) ** 2).mean(axis=0)
    return (per_output * importance(cfg)).mean(axis=1), per_output


def abs_summary(snap: Snapshot) -> dict:
    """Headline figures for the CLI: held-out loss and the best linear baseline's loss per instance."""
    loss, _ = evaluate(snap)
    linear, _ = linear_baseline(AbsConfig.from_dict(snap.config))
    return {"eval_loss": [float(v) for v in loss], "linear_baseline_loss": [float(v) for v in linear]}
