"""The toy-models-of-superposition config: a frozen, validated dataclass (see ``toys.core.config``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from toys.core.config import ACTIVATIONS, TrainingConfig, check_choice, check_interval, check_range, parse_probabilities
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes

MODEL_KINDS = ("linear", "relu_output", "relu_hidden")
VALUE_LAWS = ("uniform01", "one", "discrete123", "uniform_half_one")


@dataclass(frozen=True)
class TMSConfig(TrainingConfig):
    """Anthropic's toy models of superposition, one independent model per instance.

    Feature probability sweeps geometrically from ``p_max`` (instance 0) to ``p_min`` (last instance); equal
    values give every instance the same probability. ``p_values`` ("0.75,0.35,0.15"), when set, lists one
    probability per instance instead. ``dropout`` zeroes hidden units at random during training (does it make
    the neuron basis privileged?). ``restarts`` > 1 trains that many seeds of every instance and keeps the one
    with the lowest loss (``toys.tms.train.make_tms_trainer``). Importance of feature i is ``importance_decay ** i``.
    The first ``2*correlated_pairs`` features form pairs that share a presence mask; the next
    ``2*anticorrelated_pairs`` form pairs that are never present together. The last ``subset_size`` features
    (of the independent ones) take probability ``subset_probability`` in every instance instead.
    """

    name: ClassVar[str] = "tms"

    n_features: int = 5
    n_hidden: int = 2
    n_instances: int = 10
    p_max: float = 1.0
    p_min: float = 0.05
    p_values: str = ""
    importance_decay: float = 1.0
    model: str = "relu_output"
    activation: str = "relu"
    dropout: float = 0.0
    correlated_pairs: int = 0
    anticorrelated_pairs: int = 0
    value_law: str = "uniform01"
    subset_size: int = 0
    subset_probability: float = 0.5
    batch_size: int = 1024
    restarts: int = 1

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 1, 4096, integer=True)
        check_range("n_hidden", self.n_hidden, 1, 1024, integer=True)
        check_range("n_instances", self.n_instances, 1, 100_000, integer=True)
        check_interval(self, "p_min", "p_max", 1e-5, 1.0)
        if not isinstance(self.p_values, str):
            raise ValueError(f"p_values={self.p_values!r} must be text: comma-separated probabilities")
        if self.p_values:
            listed = parse_probabilities("p_values", self.p_values)
            if len(listed) != self.n_instances:
                raise ValueError(
                    f"p_values lists {len(listed)} probabilities but n_instances={self.n_instances}: "
                    "give one per instance"
                )
        check_range("restarts", self.restarts, 1, 64, integer=True)
        if self.n_instances * self.restarts > 100_000:
            raise ValueError(
                f"n_instances={self.n_instances} × restarts={self.restarts} is out of range: "
                "allowed at most 100000 models in all"
            )
        check_range("importance_decay", self.importance_decay, 0.01, 10.0)
        if (self.n_features - 1) * math.log10(self.importance_decay) > 30:
            raise ValueError(
                f"importance_decay={self.importance_decay} with n_features={self.n_features} makes the last "
                f"feature's importance {self.importance_decay}**{self.n_features - 1} overflow float32: keep "
                f"(n_features - 1)·log10(importance_decay) ≤ 30"
            )
        check_choice("model", self.model, MODEL_KINDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_range("dropout", self.dropout, 0.0, 0.9)
        check_range("correlated_pairs", self.correlated_pairs, 0, 2048, integer=True)
        check_range("anticorrelated_pairs", self.anticorrelated_pairs, 0, 2048, integer=True)
        paired = self.paired_features
        if paired > self.n_features:
            raise ValueError(
                f"correlated_pairs={self.correlated_pairs} and anticorrelated_pairs={self.anticorrelated_pairs} "
                f"need {paired} features, but n_features={self.n_features}"
            )
        largest_p = max(parse_probabilities("p_values", self.p_values)) if self.p_values else self.p_max
        if self.anticorrelated_pairs and largest_p > 0.5:
            raise ValueError(
                f"p_max={largest_p} is out of range for anticorrelated pairs: allowed [1e-05, 0.5] "
                "(a pair is present with probability 2p)"
            )
        check_choice("value_law", self.value_law, VALUE_LAWS)
        check_range("subset_size", self.subset_size, 0, self.n_features - paired, integer=True)
        check_range("subset_probability", self.subset_probability, 1e-5, 1.0)
        super().__post_init__()

    @property
    def paired_features(self) -> int:
        return 2 * (self.correlated_pairs + self.anticorrelated_pairs)


@estimate.register(TMSConfig)
def tms_cost(cfg: TMSConfig) -> Cost:
    """Training cost of a TMS config: its ``restarts`` seeds of every instance as one model of n = I·K instances.

    The heaviest engine counts: autograd (which also runs while the numba kernels compile) draws the batch (up to
    6 floats per (instance, sample, feature) while drawing), then holds it with the forward and backward tensors of
    every instance (about 10 floats per (instance, sample, feature) and 6 per (instance, sample, hidden unit),
    dropout included); the numba kernel only its float64 partial gradients. Per step: five batched matrix products
    of n·B·H·F multiply-adds (two forward, three backward) and elementwise work on the batch.
    """
    n, B, F, H = cfg.n_instances * cfg.restarts, cfg.batch_size, cfg.n_features, cfg.n_hidden
    params = n * (H * F + F)  # W (n, H, F), b (n, F)
    autograd = FLOAT_BYTES * n * B * (10 * F + 6 * H)
    numba = 8 * (n + 16) * (H + 1) * F  # float64 partial gradients of at most n + 16 (instance, chunk) items
    held = 2 * FLOAT_BYTES * n * F + FLOAT_BYTES * F  # feature probabilities (torch and numpy), importance
    flops = 12 * n * B * H * F + 30 * n * B * F + 10 * n * B * H + ADAM_FLOPS * params
    knobs = ("batch_size", "n_instances", *(("restarts",) if cfg.restarts > 1 else ()))
    return Cost(
        trainer_bytes(cfg, n, params, held, max(autograd, numba)),
        flops,
        knobs + ("n_features", "n_hidden", "steps", "log_every"),
    )
