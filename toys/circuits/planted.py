"""A toy model with planted circuits: T independent small computations sharing one MLP.

Input features come in T groups of ``circuit_size`` (the circuits). Each circuit is active on a sample with
probability ``p_circuit``; only an active circuit's features are nonzero. Every circuit computes its own outputs:

- ``abs``: |x_f| for each of its features, x_f ~ U[−1, 1] when the circuit is active;
- ``and``: x_f AND x_g for every pair of its features, x_f ~ Bernoulli(½) when the circuit is active.

The features are embedded into ``d_model`` dimensions by a fixed random map E (unit columns; orthonormal when
d_model ≥ features); one MLP with ``n_neurons`` ReLUs reads that embedding and is trained to produce every circuit's
outputs at once:  r = E x (d_model),  h = ReLU(W_in r + b_in),  ŷ = W_out h + b_out.  With fewer neurons than the
computations need, it must compute them in superposition. Ground truth: the circuit of every feature and output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from toys.core.config import TrainingConfig, check_choice, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, param_arrays, set_lr

FUNCTIONS = ("abs", "and")


@dataclass(frozen=True)
class CircuitsConfig(TrainingConfig):
    """T planted circuits computed by one shared MLP (see the module docstring)."""

    name: ClassVar[str] = "circuits"

    n_circuits: int = 8
    circuit_size: int = 4
    function: str = "abs"
    p_circuit: float = 0.1
    d_model: int = 32
    n_neurons: int = 64
    batch_size: int = 1024
    steps: int = 3000
    lr: float = 3e-3
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        check_range("n_circuits", self.n_circuits, 1, 256, integer=True)
        check_range("circuit_size", self.circuit_size, 1, 32, integer=True)
        check_choice("function", self.function, FUNCTIONS)
        if self.function == "and" and self.circuit_size < 2:
            raise ValueError(
                f"circuit_size={self.circuit_size} is out of range for function='and': allowed [2, 32] "
                "(an AND needs two features)"
            )
        check_range("p_circuit", self.p_circuit, 1e-4, 1.0)
        check_range("d_model", self.d_model, 1, 4096, integer=True)
        check_range("n_neurons", self.n_neurons, 1, 8192, integer=True)
        super().__post_init__()

    @property
    def n_features(self) -> int:
        return self.n_circuits * self.circuit_size

    @property
    def outputs_per_circuit(self) -> int:
        g = self.circuit_size
        return g if self.function == "abs" else g * (g - 1) // 2

    @property
    def n_outputs(self) -> int:
        return self.n_circuits * self.outputs_per_circuit


def param_count(cfg: CircuitsConfig) -> int:
    """Parameters of the shared MLP: W_in (N, d_model), b_in (N,), W_out (O, N), b_out (O,)."""
    N, O = cfg.n_neurons, cfg.n_outputs
    return N * cfg.d_model + N + O * N + O


def sample_bytes(cfg: CircuitsConfig, batch: int) -> int:
    """Most bytes ``CircuitsSampler.sample`` holds at once for ``batch`` samples (draws, masks, inputs, labels)."""
    return FLOAT_BYTES * batch * (5 * cfg.n_features + 3 * cfg.n_outputs + 2 * cfg.n_circuits)


def circuits_transient_bytes(cfg: CircuitsConfig) -> int:
    """The circuits trainer's largest temporaries: building the embedding (float64, with its QR) or one step (the
    batch, the MLP's activations, the error and their gradients)."""
    d, N, O, F = cfg.d_model, cfg.n_neurons, cfg.n_outputs, cfg.n_features
    init = 8 * (3 * d * F + F * F)
    step = sample_bytes(cfg, cfg.batch_size) + FLOAT_BYTES * cfg.batch_size * (F + d + 4 * N + 6 * O)
    return max(init, step)


@estimate.register(CircuitsConfig)
def circuits_cost(cfg: CircuitsConfig) -> Cost:
    """Training cost of the circuits model (autograd): the fixed embedding E (d_model, F), the MLP and one step.
    Per step: B·(F·d + 2·d·N + 3·N·O) multiply-adds, twice."""
    d, N, O, F, B = cfg.d_model, cfg.n_neurons, cfg.n_outputs, cfg.n_features, cfg.batch_size
    params = param_count(cfg)
    flops = 2 * B * (F * d + 2 * d * N + 3 * N * O) + 20 * B * (F + d + N + O) + ADAM_FLOPS * params
    arrays = FLOAT_BYTES * d * F + 8 * (F + O)  # E, the circuit of every feature and output
    return Cost(
        trainer_bytes(cfg, 1, params, FLOAT_BYTES * d * F, circuits_transient_bytes(cfg), arrays),
        flops,
        ("batch_size", "n_neurons", "d_model", "n_circuits", "circuit_size", "steps", "log_every"),
    )


def feature_circuit(cfg: CircuitsConfig) -> np.ndarray:
    """Circuit of every input feature. -> (F,) int64"""
    return np.repeat(np.arange(cfg.n_circuits), cfg.circuit_size)


def output_circuit(cfg: CircuitsConfig) -> np.ndarray:
    """Circuit of every output. -> (O,) int64"""
    return np.repeat(np.arange(cfg.n_circuits), cfg.outputs_per_circuit)


def _pairs(g: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(g, 1)
    return i, j


def embedding(cfg: CircuitsConfig) -> np.ndarray:
    """The fixed map E (d_model, F) from the config's seed: orthonormal columns if d_model ≥ F, else unit columns."""
    rng = np.random.default_rng([cfg.seed, 1])
    A = rng.standard_normal((cfg.d_model, cfg.n_features))
    if cfg.d_model >= cfg.n_features:
        q, r = np.linalg.qr(A)
        return (q * np.sign(np.diag(r))).astype(np.float32)
    return (A / np.linalg.norm(A, axis=0, keepdims=True)).astype(np.float32)


class CircuitsSampler:
    """Draws (x, target) batches for one config on one device."""

    def __init__(self, cfg: CircuitsConfig, device: torch.device | str) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        i, j = _pairs(cfg.circuit_size)
        self._i = torch.as_tensor(i, device=self.device)
        self._j = torch.as_tensor(j, device=self.device)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """-> x (B, F), target (B, O), float32."""
        cfg = self.cfg
        T, g = cfg.n_circuits, cfg.circuit_size
        active = torch.rand(batch, T, 1, generator=generator, device=self.device) < cfg.p_circuit  # (B, T, 1)
        u = torch.rand(batch, T, g, generator=generator, device=self.device)  # (B, T, g)
        if cfg.function == "abs":
            x = (2.0 * u - 1.0) * active
            y = x.abs()
        else:
            x = (u < 0.5).float() * active
            y = x[:, :, self._i] * x[:, :, self._j]  # (B, T, g(g−1)/2)
        return x.reshape(batch, T * g), y.reshape(batch, -1)


def mlp_forward(params: dict[str, torch.Tensor], r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """r (B, d_model) -> (neurons h (B, N), output ŷ (B, O))."""
    h = torch.relu(torch.addmm(params["b_in"], r, params["W_in"].T))
    return h, torch.addmm(params["b_out"], h, params["W_out"].T)


class CircuitsTrainer(StepTrainer):
    """Trains the shared MLP on every circuit at once (MSE summed over outputs, mean over the batch).

    Snapshot arrays: E (d_model, F) fixed embedding, W_in (N, d_model), b_in (N,), W_out (O, N), b_out (O,),
    feature_circuit (F,), output_circuit (O,). The loss log has one column: the MSE.
    """

    toy = "circuits"

    def __init__(self, cfg: CircuitsConfig) -> None:
        super().__init__(cfg, 1)
        self.E = torch.as_tensor(embedding(cfg), device=self.device)  # (d, F)
        d, N, O = cfg.d_model, cfg.n_neurons, cfg.n_outputs
        gen = self.generator
        self.params = {
            "W_in": (torch.randn(N, d, generator=gen, device=self.device) / d**0.5).requires_grad_(),
            "b_in": torch.zeros(N, device=self.device).requires_grad_(),
            "W_out": (torch.randn(O, N, generator=gen, device=self.device) / N**0.5).requires_grad_(),
            "b_out": torch.zeros(O, device=self.device).requires_grad_(),
        }
        self.sampler = CircuitsSampler(cfg, self.device)
        self.optimizer = make_optimizer(cfg, list(self.params.values()))

    def _train_step(self, lr: float) -> torch.Tensor:
        set_lr(self.optimizer, lr)
        x, y = self.sampler.sample(self.cfg.batch_size, self.generator)
        _, out = mlp_forward(self.params, x @ self.E.T)
        loss = ((out - y) ** 2).sum(dim=1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()[None]

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = param_arrays(self.params)
        arrays["E"] = self.E.cpu().numpy().copy()
        arrays["feature_circuit"] = feature_circuit(self.cfg)
        arrays["output_circuit"] = output_circuit(self.cfg)
        return arrays


def model_config(snap: Snapshot) -> CircuitsConfig:
    """The config of a circuits model's snapshot; ValueError for a snapshot of another toy."""
    if snap.toy != "circuits":
        raise ValueError(f"need a circuits snapshot, got toy={snap.toy!r}")
    return CircuitsConfig.from_dict(snap.config)


class FrozenCircuits:
    """A trained circuits model (from its snapshot) on a device: draws inputs and gives the MLP's input and output."""

    def __init__(self, snap: Snapshot, device: torch.device | str) -> None:
        self.cfg = model_config(snap)
        self.device = torch.device(device)
        self.params = {k: torch.tensor(snap[k], device=self.device) for k in ("W_in", "b_in", "W_out", "b_out")}
        self.E = torch.tensor(snap["E"], device=self.device)  # copies: a shared run's snapshot is read-only
        self.sampler = CircuitsSampler(self.cfg, self.device)

    @torch.no_grad()
    def sample_io(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """-> MLP input r (B, d_model), MLP output ŷ (B, O)."""
        return self.sample_xio(batch, generator)[1:]

    @torch.no_grad()
    def sample_xio(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> the model's inputs x (B, F), MLP input r (B, d_model), MLP output ŷ (B, O)."""
        x, _ = self.sampler.sample(batch, generator)
        r = x @ self.E.T
        return x, r, mlp_forward(self.params, r)[1]


def baseline_mse(cfg: CircuitsConfig) -> float:
    """Expected loss of the best constant output (per-output mean): what the MLP must beat to compute anything."""
    if cfg.function == "abs":
        var = cfg.p_circuit / 3.0 - (cfg.p_circuit / 2.0) ** 2  # |x| ~ U[0,1] with probability p
    else:
        q = cfg.p_circuit / 4.0  # an AND of two Bernoulli(½) features of an active circuit
        var = q * (1.0 - q)
    return float(cfg.n_outputs * var)
