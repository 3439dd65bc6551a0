"""Universal AND: one hidden ReLU layer that outputs the AND of every pair of m boolean inputs.

Inputs are boolean with exactly ``n_active`` of the m on (a uniformly random subset); the targets are all
G = m(m−1)/2 pairwise ANDs. Two circuits are compared on the same held-out cases:

- **trained**: h = ReLU(x W1 + b1) (width d), ŷ = h W2 + b2, trained with ``loss``: MSE, Lp (|ŷ − AND|^p, p =
  ``loss_p``) or binary cross-entropy on logits (ŷ is then a logit and the gate's output is sigmoid(ŷ)). Instances
  are independent models of widths spread geometrically from ``d_min`` to ``d_max`` (stored padded to d_max, the
  unused neurons zero);
- **hand-made** (Hänni, Mendel, Vaintrob and Chan 2024): neuron k reads a random subset S_k of the inputs (each
  input independently with probability q) with weight 1 and bias −1, so it fires iff at least two of its inputs
  are on; the AND of (i, j) is the mean of the neurons whose subsets hold both i and j.

A gate counts as **computed** when at most ``max_error_rate`` of its held-out cases miss the AND by ``tolerance``
or more. The held-out cases of gate (i, j) are ``eval_cases`` draws of each of: both on, only i on, only j on,
neither on, the other active inputs drawn at random. With ``tolerance`` ≤ 0.25 no linear function of the inputs
computes any AND gate: on four cases with the same other inputs, f(1,1) − f(1,0) − f(0,1) + f(0,0) = 0 while the AND
gives 1, so one of the four misses by at least 1/4. The best (least-squares) linear readout is the
no-computation baseline.

Training engines (``UANDTrainer(cfg, engine)``): ``dense`` is the plain padded model with autograd (every width
run at d_max, the (I, B, G) output formed), kept as the reference; ``sparse`` (the default) runs each instance at
its own width with hand-written gradients and uses that the inputs are sparse: the first layer is a sum of the k
rows of W1 of the on inputs (a gather), and only the P = k(k−1)/2 gates of the on pairs have target 1. For MSE it
never forms the G-wide output: per sample

    Σ_g (ŷ_g − t_g)² = Σ_g ŷ_g² − 2 Σ_{g on} ŷ_g + P,    Σ_g ŷ_g² = ‖W2ᵀh + b2‖² = hᵀ(W2 W2ᵀ)h + 2 h·(W2 b2) + ‖b2‖²,

with the d×d Gram matrix W2 W2ᵀ: 2d²G + 2Bd² multiply-adds a step instead of 3BdG (``gram``), taken per width
when it is cheaper, the dense product otherwise. The loss is the same mean over samples and gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from toys.core.config import TrainingConfig, check_choice, check_interval, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, param_arrays, set_lr

CASES = ((1, 1), (1, 0), (0, 1), (0, 0))  # (input i on, input j on) per held-out case type
Q_GRID = (0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3)  # subset probabilities tried when handmade_q = 0 (auto)
LOSSES = ("mse", "lp", "bce")  # squared error, |error|^loss_p, binary cross-entropy on logits
ENGINES = ("sparse", "dense")  # hand-written gradients per width from the on inputs; the padded autograd reference


@dataclass(frozen=True)
class UANDConfig(TrainingConfig):
    """Universal AND: a hidden ReLU layer computing all pairwise ANDs of m sparse boolean inputs."""

    name: ClassVar[str] = "uand"

    n_inputs: int = 12
    n_active: int = 2
    d_min: int = 8
    d_max: int = 96
    n_instances: int = 5
    batch_size: int = 1024
    steps: int = 4000
    lr: float = 1e-2
    schedule: str = "cosine"
    tolerance: float = 0.25
    max_error_rate: float = 0.05
    eval_cases: int = 16
    handmade_q: float = 0.0
    loss: str = "mse"
    loss_p: float = 4.0

    def __post_init__(self) -> None:
        check_range("n_inputs", self.n_inputs, 4, 256, integer=True)
        check_range("n_active", self.n_active, 2, min(16, self.n_inputs - 2), integer=True)
        check_interval(self, "d_min", "d_max", 1, 8192, integer=True)
        check_range("n_instances", self.n_instances, 1, 32, integer=True)
        super().__post_init__()
        check_range("tolerance", self.tolerance, 0.01, 0.5)
        check_range("max_error_rate", self.max_error_rate, 0.0, 0.5)
        check_range("eval_cases", self.eval_cases, 1, 256, integer=True)
        check_range("handmade_q", self.handmade_q, 0.0, 1.0)
        check_choice("loss", self.loss, LOSSES)
        check_range("loss_p", self.loss_p, 1.0, 10.0)
        per_step = self.n_instances * self.batch_size * max(self.n_gates, self.d_max)
        if per_step > 2**27:
            raise ValueError(
                f"n_instances × batch_size × max(gates, d_max) = {per_step:,} values per step: allowed up to {2**27:,}"
            )

    @property
    def n_gates(self) -> int:
        return self.n_inputs * (self.n_inputs - 1) // 2


@estimate.register(UANDConfig)
def uand_cost(cfg: UANDConfig, engine: str = "sparse") -> Cost:
    """Training cost of a U-AND config with the trainer's ``engine``. The trainer builds no held-out cases (the
    analyses do, within their own budget: ``affordable_gates``). Building the parameters holds a second copy of
    them for a moment.

    ``dense`` (every width padded to d_max, autograd): a step holds the drawn inputs and their G AND labels, the
    hidden activations (about 6 floats per (instance, sample, neuron)) and the outputs, errors and their gradients
    (about 8 per (instance, sample, gate)). Per step: I·B·d_max·(3·G + 2·m) multiply-adds, twice.

    ``sparse`` (one width at a time, hand-written gradients): a step holds the on inputs and gates (int64), and for
    the widest instance its activations and their gradients (about 8 + 2k + P floats per (sample, neuron)), the
    Gram matrices (2d²) or the outputs, labels, errors and their gradients (5 per (sample, gate)), and the gradients
    of its weights; per width d, min(2d²G + 2Bd², 3BdG) multiply-adds (``instance_method``) and the first layer's
    B·(k + m)·d, twice.
    """
    I, B, m, D, G = cfg.n_instances, cfg.batch_size, cfg.n_inputs, cfg.d_max, cfg.n_gates
    params = I * (m * D + D + D * G + G)  # W1 (I, m, D), b1 (I, D), W2 (I, D, G), b2 (I, G)
    held = FLOAT_BYTES * I * D + 16 * G  # the width mask, the gates' input pairs (int64)
    init = FLOAT_BYTES * (params + I * D * G)
    knobs = ("n_inputs", "d_max", "batch_size", "n_instances", "steps", "log_every")
    if engine == "dense":
        step = FLOAT_BYTES * (8 * I * B * G + 6 * I * B * D + 3 * B * G + 2 * B * m)
        flops = 2 * I * B * D * (3 * G + 2 * m) + 20 * I * B * (D + G) + ADAM_FLOPS * params
        return Cost(trainer_bytes(cfg, I, params, held, max(init, step)), flops, knobs)
    k = cfg.n_active
    P = k * (k - 1) // 2
    widths = [int(d) for d in instance_widths(cfg)]
    per_width = [
        (2 * d * d + (m + 2) * d + G * (d + 1)) if instance_method(cfg, d) == "gram" else 5 * B * G + (m + G) * d
        for d in widths
    ]
    step = 16 * B * (k + P) + FLOAT_BYTES * (B * D * (8 + 2 * k + P) + max(per_width))
    flops = (
        2 * sum(instance_flops(cfg, d)[instance_method(cfg, d)] + 2 * d * G for d in widths)
        + 2 * B * (k + m) * sum(widths)  # the first layer: a gather forward, a product with the inputs backward
        + 20 * B * sum(widths)
        + (0 if cfg.loss == "mse" else 20 * I * B * G)
        + ADAM_FLOPS * params
    )
    return Cost(trainer_bytes(cfg, I, params, held, max(init, step)), flops, knobs)


def instance_flops(cfg: UANDConfig, d: int) -> dict[str, int]:
    """Multiply-adds of the second layer's forward and backward for one instance of width d: with the Gram matrix
    (W2 W2ᵀ, H·(W2 W2ᵀ), HᵀH, (HᵀH) W2) and with the dense (B, G) output (H W2, Hᵀ dŶ, dŶ W2ᵀ)."""
    B, G = cfg.batch_size, cfg.n_gates
    return {"gram": 2 * d * d * G + 2 * B * d * d, "dense": 3 * B * d * G}


def instance_method(cfg: UANDConfig, d: int) -> str:
    """How the sparse engine computes the second layer of width d: "gram" (MSE only) when that is cheaper."""
    if cfg.loss != "mse":
        return "dense"
    cost = instance_flops(cfg, d)
    return "gram" if cost["gram"] < cost["dense"] else "dense"


def instance_widths(cfg: UANDConfig) -> np.ndarray:
    """Hidden width per instance, geometric from d_min to d_max (rounded; repeats allowed). -> (I,) int"""
    if cfg.n_instances == 1:
        return np.array([cfg.d_max])
    return np.round(np.geomspace(cfg.d_min, cfg.d_max, cfg.n_instances)).astype(int)


def gate_pairs(m: int) -> np.ndarray:
    """The (i, j), i < j, of every gate in output order. -> (G, 2)"""
    return np.stack(np.triu_indices(m, 1), axis=1)


def sample_active(cfg: UANDConfig, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, n_active) indices of the on inputs, a uniformly random subset per row, ascending."""
    keys = torch.rand(n, cfg.n_inputs, generator=generator, device=device)
    return keys.topk(cfg.n_active, dim=1).indices.sort(dim=1).values


def inputs_from_active(idx: torch.Tensor, m: int) -> torch.Tensor:
    """(n, k) on indices -> (n, m) boolean inputs as float32."""
    return torch.zeros(len(idx), m, device=idx.device).scatter_(1, idx, 1.0)


def sample_inputs(cfg: UANDConfig, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, m) boolean inputs as float32 with exactly n_active ones, uniformly placed (the inputs of
    ``sample_active`` with the same generator state)."""
    return inputs_from_active(sample_active(cfg, n, generator, device), cfg.n_inputs)


def active_gates(idx: torch.Tensor, m: int) -> torch.Tensor:
    """Ascending on indices (n, k) -> the output index of every gate of two on inputs, (n, k(k−1)/2): gate (i, j),
    i < j, is number i·(2m − i − 1)/2 + j − i − 1 in ``gate_pairs`` order."""
    a, b = torch.triu_indices(idx.shape[1], idx.shape[1], 1, device=idx.device)
    i, j = idx[:, a], idx[:, b]  # (n, P), i < j
    return i * (2 * m - i - 1) // 2 + j - i - 1


def and_targets(x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """x (B, m) -> the pairwise ANDs (B, G)."""
    return x[:, pairs[:, 0]] * x[:, pairs[:, 1]]


@dataclass(frozen=True)
class HeldOut:
    """Held-out cases: ``active`` (G, 4, K, n_active) indices of the on inputs, per gate and case type (CASES), of
    the gates ``gates`` (indices into all ``n_total`` gates; all of them unless a sample was asked for)."""

    active: np.ndarray
    pairs: np.ndarray
    gates: np.ndarray
    n_total: int

    @property
    def sampled(self) -> bool:
        return len(self.gates) < self.n_total

    def count(self, rates: np.ndarray, max_error_rate: float) -> int:
        """Gates computed (error rate ≤ ``max_error_rate``): counted, or estimated from the sample as
        n_total × (share of sampled gates computed)."""
        hits = int((rates <= max_error_rate).sum())
        return round(hits * self.n_total / len(self.gates)) if self.sampled else hits

    @property
    def target(self) -> np.ndarray:
        """The AND per case type. -> (4,)"""
        return np.array([a * b for a, b in CASES], dtype=np.float64)

    def dense(self, m: int) -> np.ndarray:
        """All cases as inputs (G·4·K, m), gate-major."""
        flat = self.active.reshape(-1, self.active.shape[-1])
        x = np.zeros((len(flat), m))
        np.put_along_axis(x, flat, 1.0, axis=1)
        return x


EVAL_BUDGET = 3e8  # multiply-adds of one evaluation of every width's trained network on the held-out cases


def affordable_gates(cfg: UANDConfig, budget: float = EVAL_BUDGET, floor: int = 300) -> int | None:
    """Gates to evaluate so that the trained networks of every width are scored within ``budget`` multiply-adds
    (per gate: 4·K cases × (n_active + 1) × Σ widths); None when all of them fit. At least ``floor``."""
    per_gate = len(CASES) * cfg.eval_cases * (cfg.n_active + 1) * int(instance_widths(cfg).sum())
    affordable = max(floor, int(budget // per_gate))
    return None if affordable >= cfg.n_gates else affordable


def held_out_cases(m: int, k: int, n_cases: int, seed: int, max_gates: int | None = None) -> HeldOut:
    """For every gate (i, j): n_cases draws of each case type, the other active inputs drawn without i and j.
    ``max_gates``: at most that many gates, a uniform sample of them (its own random stream), for large m."""
    rng = np.random.default_rng(seed)
    pairs = gate_pairs(m)
    n_total = len(pairs)
    gates = np.arange(n_total)
    if max_gates is not None and n_total > max_gates:
        gates = np.sort(np.random.default_rng([seed, 1]).choice(n_total, size=max_gates, replace=False))
        pairs = pairs[gates]
    G = len(pairs)
    active = np.empty((G, len(CASES), n_cases, k), dtype=np.int64)
    rows = np.arange(G)
    for c, (a, b) in enumerate(CASES):
        keys = rng.random((G, n_cases, m))
        keys[rows, :, pairs[:, 0]] = 2.0  # never among the others
        keys[rows, :, pairs[:, 1]] = 2.0
        others = np.argsort(keys, axis=2)[:, :, : k - a - b]
        cols = []
        if a:
            cols.append(np.broadcast_to(pairs[:, 0, None, None], (G, n_cases, 1)))
        if b:
            cols.append(np.broadcast_to(pairs[:, 1, None, None], (G, n_cases, 1)))
        active[:, c] = np.concatenate(cols + [others], axis=2)
    return HeldOut(active, pairs, gates, n_total)


def gate_error_rates(outputs: np.ndarray, held: HeldOut, tolerance: float) -> np.ndarray:
    """Fraction of each gate's held-out cases with |ŷ − AND| ≥ tolerance. outputs (G, 4, K) -> (G,)"""
    miss = np.abs(outputs - held.target[None, :, None]) >= tolerance
    return miss.mean(axis=(1, 2))


def network_outputs(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, held: HeldOut) -> np.ndarray:
    """Each gate's output on its own held-out cases for h = ReLU(x W1 + b1), ŷ = h W2 + b2. -> (G, 4, K)"""
    G, C, K, _ = held.active.shape
    out = np.empty((G, C * K))
    for start in range(0, G, 256):  # chunks of gates bound the memory
        sl = slice(start, min(G, start + 256))
        h = np.maximum(W1[held.active[sl]].sum(axis=-2) + b1, 0.0).reshape(sl.stop - start, C * K, -1)  # (g, 4K, d)
        cols = held.gates[sl]
        out[sl] = np.einsum("gcd,dg->gc", h, W2[:, cols]) + b2[cols, None]
    return out.reshape(G, C, K)


def handmade_subsets(m: int, d: int, q: float, seed: int) -> np.ndarray:
    """Which inputs each neuron of the hand-made U-AND reads: (d, m) bool, each entry on with probability q."""
    return np.random.default_rng(seed).random((d, m)) < q


def handmade_outputs(S: np.ndarray, held: HeldOut) -> np.ndarray:
    """Outputs of the hand-made U-AND with subsets S (d, m) on each gate's held-out cases. -> (G, 4, K)

    Neuron k: h_k = ReLU(Σ_{i ∈ S_k} x_i − 1). Gate (i, j): the mean of h over N_ij = {k: i, j ∈ S_k}
    (0 when no neuron reads both). Only the neurons of N_ij are evaluated, so large d and m stay cheap.
    """
    pairs = held.pairs
    both = S[:, pairs[:, 0]] & S[:, pairs[:, 1]]  # (d, G)
    count = both.sum(axis=0)  # (G,)
    n_max = max(int(count.max()), 1)
    neurons = np.argsort(~both, axis=0, kind="stable")[:n_max].T  # (G, n_max): N_ij first
    valid = np.arange(n_max)[None, :] < count[:, None]  # (G, n_max)
    reads = S[neurons]  # (G, n_max, m)
    G, C, K, _k = held.active.shape
    out = np.zeros((G, C, K))
    for start in range(0, G, 256):  # chunks of gates bound the memory
        sl = slice(start, min(G, start + 256))
        g = np.arange(sl.start, sl.stop)[:, None, None, None, None]
        n = np.arange(n_max)[None, None, None, :, None]
        on = reads[g, n, held.active[sl, :, :, None, :]].sum(axis=-1)  # (g, 4, K, n_max)
        h = np.maximum(on - 1.0, 0.0) * valid[sl, None, None, :]
        out[sl] = h.sum(axis=-1) / np.maximum(count[sl], 1)[:, None, None]
    return out


def handmade_weights(S: np.ndarray, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """The hand-made construction as dense network weights W1 (m, d), b1 (d,), W2 (d, G), b2 (G,)."""
    both = (S[:, pairs[:, 0]] & S[:, pairs[:, 1]]).astype(np.float64)
    count = both.sum(axis=0)
    return {
        "W1": S.T.astype(np.float64),
        "b1": -np.ones(S.shape[0]),
        "W2": both / np.maximum(count, 1.0),
        "b2": np.zeros(len(pairs)),
    }


def handmade_gates(cfg: UANDConfig, d: int, q: float | None = None, held: HeldOut | None = None) -> dict:
    """Gates the hand-made U-AND of width d computes on the held-out cases.

    q None takes ``cfg.handmade_q``; 0 (auto) picks from ``Q_GRID`` the q that computes most gates on a separate
    validation draw (seed + 2), then reports on the held-out cases (seed + 1).
    """
    q = cfg.handmade_q if q is None else q
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1) if held is None else held
    if q == 0.0:
        sample = len(held.gates) if held.sampled else None  # validate on as many gates as are reported
        val = held_out_cases(cfg.n_inputs, cfg.n_active, max(2, cfg.eval_cases // 2), cfg.seed + 2, sample)
        scores = []
        for qq in Q_GRID:
            rates = gate_error_rates(
                handmade_outputs(handmade_subsets(cfg.n_inputs, d, qq, cfg.seed), val), val, cfg.tolerance
            )
            scores.append(int((rates <= cfg.max_error_rate).sum()))
        q = Q_GRID[int(np.argmax(scores))]
    S = handmade_subsets(cfg.n_inputs, d, q, cfg.seed)
    rates = gate_error_rates(handmade_outputs(S, held), held, cfg.tolerance)
    return {
        "d": int(d),
        "q": float(q),
        "gates": held.count(rates, cfg.max_error_rate),
        "error_rates": rates,
        "subsets": S,
    }


def linear_readout(cfg: UANDConfig) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares linear map from the inputs (and a bias) to all ANDs under the training distribution,
    from its exact moments: with k of m inputs on, E[x_l] = k/m, E[x_l x_i] = k(k−1)/(m(m−1)) and
    E[x_l x_i x_j] = k(k−1)(k−2)/(m(m−1)(m−2)) for distinct l, i, j. The normal equations are singular (Σ x = k
    always), so this takes the minimum-norm solution; every solution gives the same outputs on valid inputs.
    Returns W (m, G), b (G,)."""
    m, k = cfg.n_inputs, cfg.n_active
    p1, p2 = k / m, k * (k - 1) / (m * (m - 1))
    p3 = k * (k - 1) * (k - 2) / (m * (m - 1) * (m - 2))
    M = np.full((m + 1, m + 1), p2)
    M[np.arange(m), np.arange(m)] = p1
    M[m, :] = M[:, m] = p1
    M[m, m] = 1.0
    pairs = gate_pairs(m)
    rhs = np.full((m + 1, len(pairs)), p3)
    cols = np.arange(len(pairs))
    rhs[pairs[:, 0], cols] = rhs[pairs[:, 1], cols] = p2
    rhs[m] = p2
    coef = np.linalg.pinv(M) @ rhs  # (m + 1, G)
    return coef[:-1], coef[-1]


def linear_gates(cfg: UANDConfig, held: HeldOut | None = None) -> dict:
    """Gates the best linear readout of the inputs computes (the no-computation baseline)."""
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1) if held is None else held
    W, b = linear_readout(cfg)
    gates = held.gates[:, None, None, None]
    out = W[held.active, gates].sum(axis=-1) + b[held.gates, None, None]  # (G, 4, K): only the on inputs count
    rates = gate_error_rates(out, held, cfg.tolerance)
    return {"gates": held.count(rates, cfg.max_error_rate), "error_rates": rates}


def neuron_density(W1: np.ndarray) -> np.ndarray:
    """Fraction of the inputs each neuron reads, as a participation ratio (Σ|w|)² / (m Σ w²) of its input weights:
    1 when it reads all m equally, s/m when it reads s inputs equally; NaN for a dead (all-zero) neuron.
    W1 (m, d) -> (d,)"""
    m = W1.shape[0]
    sq = (W1**2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sq > 0, np.abs(W1).sum(axis=0) ** 2 / (m * sq), np.nan)


def elementwise_loss(y: torch.Tensor, t: torch.Tensor, loss: str, p: float = 4.0) -> torch.Tensor:
    """Loss of outputs y against targets t, per entry: (y − t)², |y − t|^p, or binary cross-entropy of the logit y,
    softplus(y) − t·y (= −t log σ(y) − (1 − t) log(1 − σ(y)))."""
    if loss == "mse":
        return (y - t).square()
    if loss == "lp":
        return (y - t).abs().pow(p)
    if loss == "bce":
        return torch.nn.functional.softplus(y) - t * y
    raise ValueError(f"loss={loss!r} is not allowed: choose one of {', '.join(LOSSES)}")


def elementwise_loss_grad(y: torch.Tensor, t: torch.Tensor, loss: str, p: float = 4.0) -> torch.Tensor:
    """d(elementwise_loss)/dy."""
    r = y - t
    if loss == "mse":
        return 2.0 * r
    if loss == "lp":
        return p * r.abs().pow(p - 1.0) * r.sign()
    if loss == "bce":
        return torch.sigmoid(y) - t
    raise ValueError(f"loss={loss!r} is not allowed: choose one of {', '.join(LOSSES)}")


def gate_outputs(loss: str, raw: np.ndarray) -> np.ndarray:
    """What a gate's network output says the AND is: the output itself, or sigmoid of the logit for ``bce``."""
    if loss == "bce":
        return 0.5 * (1.0 + np.tanh(0.5 * raw))  # sigmoid without overflow
    return raw


def sparse_loss_and_grads(
    W1: torch.Tensor,
    b1: torch.Tensor,
    W2: torch.Tensor,
    b2: torch.Tensor,
    idx: torch.Tensor,
    gates: torch.Tensor,
    loss: str = "mse",
    p: float = 4.0,
    method: str = "dense",
    want_grads: bool = True,
):
    """Mean loss over samples and all G gates of one network, and its gradients, by hand, from the on inputs.

    W1 (m, d), b1 (d,), W2 (d, G), b2 (G,); idx (B, k) the on inputs of each sample, gates (B, P) the gates whose
    target is 1 (``active_gates``). ``method`` "gram" (MSE only) never forms the (B, G) output: with A_b = Σ_{g on}
    W2[:, g] and c_b = Σ_{g on} b2_g, Σ_g (ŷ_g − t_g)² = hᵀMh + 2h·u + ‖b2‖² − 2(h·A_b + c_b) + P with M = W2 W2ᵀ,
    u = W2 b2. "dense" forms ŷ = h W2 + b2. Returns (loss, (gW1, gb1, gW2, gb2)) or (loss, None).
    """
    B = idx.shape[0]
    G = W2.shape[1]
    P = gates.shape[1]
    s = 1.0 / (B * G)
    z = W1[idx].sum(dim=1) + b1  # (B, d): the on inputs' rows of W1
    h = torch.relu(z)
    if method == "gram":
        if loss != "mse":
            raise ValueError(f"method='gram' needs loss='mse', not {loss!r}")
        M = W2 @ W2.T  # (d, d)
        u = W2 @ b2  # (d,)
        A = W2.T[gates].sum(dim=1)  # (B, d)
        hM = h @ M  # (B, d)
        total = (hM * h).sum() + 2.0 * (h @ u).sum() + B * (b2 @ b2) - 2.0 * ((h * A).sum() + b2[gates].sum()) + B * P
        value = total * s
        if not want_grads:
            return value, None
        dh = (2.0 * s) * (hM + u - A)  # (B, d)
        hsum = h.sum(dim=0)  # (d,)
        gW2 = (2.0 * s) * ((h.T @ h) @ W2 + torch.outer(hsum, b2))  # (d, G)
        gW2.T.index_add_(0, gates.reshape(-1), (-2.0 * s) * h.repeat_interleave(P, dim=0))
        gb2 = (2.0 * s) * (W2.T @ hsum + B * b2)
        gb2.index_add_(0, gates.reshape(-1), torch.full((B * P,), -2.0 * s, device=b2.device, dtype=b2.dtype))
    elif method == "dense":
        y = torch.addmm(b2, h, W2)  # (B, G)
        t = torch.zeros_like(y).scatter_(1, gates, 1.0)
        value = elementwise_loss(y, t, loss, p).mean()
        if not want_grads:
            return value, None
        dy = elementwise_loss_grad(y, t, loss, p) * s  # (B, G)
        gW2 = h.T @ dy
        gb2 = dy.sum(dim=0)
        dh = dy @ W2.T
    else:
        raise ValueError(f"method={method!r} is not allowed: choose gram or dense")
    dz = dh * (z > 0)
    gW1 = inputs_from_active(idx, W1.shape[0]).to(dz.dtype).T @ dz  # (m, d): each sample's dz into its on rows
    return value, (gW1, dz.sum(dim=0), gW2, gb2)


class UANDTrainer(StepTrainer):
    """Trains the U-AND networks of every width at once (instances are independent: the loss is their sum).

    ``engine``: "sparse" (default: each width at its own size from the on inputs, hand-written gradients, the Gram
    form of MSE where cheaper, fused Adam) or "dense" (the padded model with autograd, the reference). Both draw the
    same batches from the same seed and give the same losses and weights up to float rounding."""

    toy = "uand"

    def __init__(self, cfg: UANDConfig, engine: str = "auto") -> None:
        engine = "sparse" if engine == "auto" else engine
        check_choice("engine", engine, ENGINES)
        super().__init__(cfg, cfg.n_instances, cost=estimate(cfg, engine=engine))
        self.engine_name = engine
        I, m, D, G = cfg.n_instances, cfg.n_inputs, cfg.d_max, cfg.n_gates
        dev, gen = self.device, self.generator
        self.widths = instance_widths(cfg)
        self.methods = [instance_method(cfg, int(d)) for d in self.widths]
        self.mask = (torch.arange(D, device=dev)[None, :] < torch.as_tensor(self.widths, device=dev)[:, None]).float()
        self.pairs = torch.as_tensor(gate_pairs(m), device=dev)
        w1 = (torch.rand(I, m, D, generator=gen, device=dev) * 2 - 1) / math.sqrt(m)
        w2 = (torch.rand(I, D, G, generator=gen, device=dev) * 2 - 1) / torch.sqrt(
            torch.as_tensor(self.widths, device=dev, dtype=torch.float32)
        )[:, None, None]
        self.params = {
            "W1": (w1 * self.mask[:, None, :]).requires_grad_(),  # (I, m, D)
            "b1": torch.zeros(I, D, device=dev).requires_grad_(),
            "W2": (w2 * self.mask[:, :, None]).requires_grad_(),  # (I, D, G)
            "b2": torch.zeros(I, G, device=dev).requires_grad_(),
        }
        if engine == "sparse":
            for t in self.params.values():  # written in place each step; the padding's gradient stays zero
                t.grad = torch.zeros_like(t)
            self.optimizer = make_optimizer(cfg, list(self.params.values()), fused=True)
        else:
            self.optimizer = make_optimizer(cfg, list(self.params.values()), foreach=dev.type == "cuda" or None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, m) -> ŷ (I, B, G); neurons beyond an instance's width are masked out."""
        p = self.params
        h = torch.relu(torch.matmul(x, p["W1"]) + p["b1"][:, None, :]) * self.mask[:, None, :]  # (I, B, D)
        return torch.baddbmm(p["b2"][:, None, :], h, p["W2"])

    def _train_step(self, lr: float) -> torch.Tensor:
        set_lr(self.optimizer, lr)
        if self.engine_name == "sparse":
            losses = self._sparse_losses()
        else:
            x = sample_inputs(self.cfg, self.cfg.batch_size, self.generator, self.device)
            y = and_targets(x, self.pairs)  # (B, G)
            losses = elementwise_loss(self.forward(x), y, self.cfg.loss, self.cfg.loss_p).mean(dim=(1, 2))  # (I,)
            self.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def _sparse_losses(self) -> torch.Tensor:
        """Each instance's loss at its own width; its gradients written into the padded parameters' gradients."""
        cfg, p = self.cfg, self.params
        idx = sample_active(cfg, cfg.batch_size, self.generator, self.device)  # (B, k)
        gates = active_gates(idx, cfg.n_inputs)  # (B, P)
        losses = torch.empty(cfg.n_instances, device=self.device)
        with torch.no_grad():
            for i, (d, method) in enumerate(zip(self.widths, self.methods)):
                d = int(d)
                value, (gW1, gb1, gW2, gb2) = sparse_loss_and_grads(
                    p["W1"][i, :, :d], p["b1"][i, :d], p["W2"][i, :d], p["b2"][i], idx, gates,
                    cfg.loss, cfg.loss_p, method,
                )  # fmt: skip
                losses[i] = value
                p["W1"].grad[i, :, :d] = gW1
                p["b1"].grad[i, :d] = gb1
                p["W2"].grad[i, :d] = gW2
                p["b2"].grad[i] = gb2
        return losses

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = param_arrays(self.params)
        arrays["widths"] = self.widths.copy()
        return arrays


register("uand", UANDConfig, UANDTrainer)


def trained_gates(snap: Snapshot, held: HeldOut | None = None) -> list[dict]:
    """Per instance: its width, the gates it computes on the held-out cases, the per-gate error rates. The outputs
    are scored as ``gate_outputs`` reads them (sigmoid of the logits for a model trained with BCE)."""
    cfg = UANDConfig.from_dict(snap.config)
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1) if held is None else held
    out = []
    for i, d in enumerate(snap["widths"]):
        W1, b1 = snap["W1"][i, :, :d].astype(np.float64), snap["b1"][i, :d].astype(np.float64)
        W2, b2 = snap["W2"][i, :d].astype(np.float64), snap["b2"][i].astype(np.float64)
        outputs = gate_outputs(cfg.loss, network_outputs(W1, b1, W2, b2, held))
        rates = gate_error_rates(outputs, held, cfg.tolerance)
        out.append({"d": int(d), "gates": held.count(rates, cfg.max_error_rate), "error_rates": rates})
    return out


def uand_summary(snap: Snapshot) -> dict:
    """Headline figures per trained width: gates computed and mean per-gate error rate of the trained network, the
    hand-made circuit, the naive circuit (d gates exactly, the rest a constant) and the linear readout, and whether
    trained beats naive (``against_naive``). Scored on all gates, or on a sample (``affordable_gates``) where all would
    not fit the work budget: ``scored_gates`` says how many, the counts are then estimates."""
    cfg = UANDConfig.from_dict(snap.config)
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1, affordable_gates(cfg))
    trained = trained_gates(snap, held)
    made = [handmade_gates(cfg, r["d"], held=held) for r in trained]
    naive = [naive_gates(cfg, r["d"], held) for r in trained]
    linear = linear_gates(cfg, held)
    rows = against_naive(trained, naive, cfg.n_gates)
    return {
        "n_gates": cfg.n_gates,
        "scored_gates": len(held.gates),
        "loss": cfg.loss,
        "d": [r["d"] for r in trained],
        "trained_gates": [r["gates"] for r in trained],
        "handmade_gates": [r["gates"] for r in made],
        "naive_gates": [r["gates"] for r in naive],
        "linear_gates": linear["gates"],
        "trained_error": [round(mean_error(r), 4) for r in trained],
        "handmade_error": [round(mean_error(r), 4) for r in made],
        "naive_error": [round(mean_error(r), 4) for r in naive],
        "linear_error": round(mean_error(linear), 4),
        "handmade_q": [r["q"] for r in made],
        "beats_naive": [r["beats_naive"] for r in rows],
    }


# --- the naive baseline ---------------------------------------------------------------------------------------
#
# The U-AND analogue of the compressed-computation model's naive baseline (d ReLUs computed exactly, nothing for the
# rest): d neurons compute d gates exactly, h_t = ReLU(x_i + x_j − 1) = x_i x_j on booleans whatever else is on, and
# every other gate gets its best constant readout (an output bias). A constant and not the best linear readout of the
# inputs: the network has no path from the inputs to the outputs but its d ReLUs, so a linear readout would cost
# neurons; and with tolerance ≤ 0.25 a linear readout computes no gate either (module docstring).


def naive_constant(cfg: UANDConfig) -> float:
    """The best constant readout of any gate under the training distribution (MSE's minimiser): P(AND = 1) =
    k(k−1)/(m(m−1)) with k of m inputs on."""
    m, k = cfg.n_inputs, cfg.n_active
    return k * (k - 1) / (m * (m - 1))


def naive_error_rate(cfg: UANDConfig) -> float:
    """The held-out error rate of a gate read as the constant c = ``naive_constant``: a quarter of every gate's
    held-out cases has AND = 1 (missed iff |c − 1| ≥ tolerance), three quarters AND = 0 (missed iff |c| ≥ tolerance)."""
    c, tol = naive_constant(cfg), cfg.tolerance
    return 0.25 * float(abs(c - 1.0) >= tol) + 0.75 * float(abs(c) >= tol)


def naive_closed_form(cfg: UANDConfig, d: int) -> int:
    """Gates the naive circuit of width d computes: min(d, G) exactly, and the rest when the constant's error rate is
    within ``max_error_rate`` (with the defaults it never is: the constant misses every AND = 1 case, a quarter)."""
    exact = min(int(d), cfg.n_gates)
    return exact + (cfg.n_gates - exact) * int(naive_error_rate(cfg) <= cfg.max_error_rate)


def naive_weights(cfg: UANDConfig, d: int) -> dict[str, np.ndarray]:
    """The naive circuit of width d as dense network weights W1 (m, d), b1 (d,), W2 (d, G), b2 (G,): neuron t < G
    reads gate t's two inputs with weight 1 and bias −1 and writes gate t with weight 1; gates ≥ d read the constant
    from b2; neurons beyond G are dead (all zero)."""
    m, G = cfg.n_inputs, cfg.n_gates
    pairs, n = gate_pairs(m), min(int(d), G)
    W1, b1 = np.zeros((m, d)), np.zeros(d)
    W2, b2 = np.zeros((d, G)), np.full(G, naive_constant(cfg))
    t = np.arange(n)
    W1[pairs[:n, 0], t] = W1[pairs[:n, 1], t] = 1.0
    b1[:n] = -1.0
    W2[t, t] = 1.0
    b2[:n] = 0.0
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def naive_outputs(cfg: UANDConfig, d: int, held: HeldOut) -> np.ndarray:
    """Outputs of the naive circuit of width d on each gate's held-out cases (the first min(d, G) gates exactly, the
    rest the constant), without building the network. -> (G, 4, K)"""
    G, C, K, _ = held.active.shape
    exact = held.gates < min(int(d), cfg.n_gates)  # (G,)
    out = np.full((G, C, K), naive_constant(cfg))
    out[exact] = held.target[None, :, None]
    return out


def naive_gates(cfg: UANDConfig, d: int, held: HeldOut | None = None) -> dict:
    """Gates the naive circuit of width d computes on the held-out cases, and its mean per-gate error rate.

    On a sample of the gates the exactly computed ones are known, so the count is min(d, G) plus the rest's share
    computed (0 or 1: every constant-read gate has the same error rate) times the rest, and the mean error is the
    rest's mean error rate weighted by their share of all G."""
    held = held_out_cases(cfg.n_inputs, cfg.n_active, cfg.eval_cases, cfg.seed + 1) if held is None else held
    n_exact = min(int(d), cfg.n_gates)
    rates = gate_error_rates(naive_outputs(cfg, d, held), held, cfg.tolerance)
    rest = rates[held.gates >= n_exact]
    n_rest = held.n_total - n_exact
    rest_rate = float(rest.mean()) if len(rest) else naive_error_rate(cfg)
    rest_share = float((rest <= cfg.max_error_rate).mean()) if len(rest) else float(rest_rate <= cfg.max_error_rate)
    return {
        "d": int(d),
        "gates": n_exact + round(n_rest * rest_share),
        "error_rates": rates,
        "mean_error": n_rest * rest_rate / held.n_total,
        "constant": naive_constant(cfg),
    }


def mean_error(result: dict) -> float:
    """A circuit's mean per-gate error rate: its ``mean_error`` when it has one (the naive circuit's, exact on a
    sample), else the mean of its (sampled) gates' error rates."""
    return float(result["mean_error"]) if "mean_error" in result else float(np.mean(result["error_rates"]))


def against_naive(trained: list[dict], naive: list[dict], n_gates: int) -> list[dict]:
    """Per trained width: gates and mean error rate of the trained and naive circuits of that width, whether d is
    below the number of gates, and whether trained beats naive there: d < G and more gates computed or a lower
    mean error rate (at d ≥ G the naive circuit computes every gate exactly and cannot be beaten)."""
    naive_at = {r["d"]: r for r in naive}
    rows = []
    for r in trained:
        nv = naive_at[r["d"]]
        t_err, n_err = mean_error(r), mean_error(nv)
        below = r["d"] < n_gates
        rows.append(
            {
                "d": r["d"],
                "trained_gates": r["gates"],
                "naive_gates": nv["gates"],
                "trained_error": t_err,
                "naive_error": n_err,
                "d_below_gates": below,
                "more_gates": below and r["gates"] > nv["gates"],
                "lower_error": below and t_err < n_err,
                "beats_naive": below and (r["gates"] > nv["gates"] or t_err < n_err),
            }
        )
    return rows
