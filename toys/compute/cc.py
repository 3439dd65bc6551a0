"""Compressed computation: the residual-MLP toy of Braun et al. (2025, APD), as re-examined by Bhagat,
Molas-Medina, Giglemiani and Heimersheim (2025, "Compressed computation is (probably) not computation in
superposition").

n sparse features x (each present with probability p, value from ``value_law``) are embedded in a residual
stream by a frozen random W_E (n, D) with unit-norm rows, one bias-free ReLU MLP (d_mlp neurons) adds to the
stream, and W_U = W_Eᵀ reads it out:

    ŷ = x W_E W_Eᵀ + ReLU(x W_E W_in) W_out W_Eᵀ          labels y = x + ReLU(x),   loss = mean (ŷ − y)²

``loss`` ``lp`` trains on mean |ŷ − y|^p instead (p = ``loss_p``, e.g. 4: outliers cost more); held-out figures
(L/p, the naive baseline) stay squared errors so runs compare. ``labels`` ``discrete`` draws present features' values
from the value law's discrete twin (``DISCRETE_TWIN``: U[−1, 1] -> ±1 with equal odds, U[0, 1] and 1 -> 1), so the
labels take a few values instead of a continuum.

Writing W_E W_Eᵀ = I − R, the MLP has to produce ReLU(x) + x R: R is the *mixing* the noisy embedding puts into
the labels' path. The modes (``mixing``) set R per instance:

- ``embedding``: the model above (R = I − W_E W_Eᵀ, off-diagonal std ≈ 1/√D);
- ``clean``: same model, but the mixing is removed from the labels' path (R = 0: the MLP only owes ReLU(x));
- ``compare``: instances alternate embedding (even) and clean (odd), so both train side by side;
- ``random``: the papers' simplified model without an embedding (W_in (n, d_mlp), W_out (d_mlp, n)) with labels
  x + ReLU(x) + x R for a random symmetric R with zero diagonal and off-diagonal std σ, swept linearly from
  ``sigma_min`` (instance 0) to ``sigma_max`` (last instance); ``d_embed`` is unused.

Since W_E is frozen, a step folds it into the weights once (A = W_E W_in (n, d_mlp), B = W_out W_Eᵀ (d_mlp, n))
instead of pushing the batch through the D-wide stream: the same function and gradients at a fraction of the
work. Gradients are written by hand (checked against autograd in the tests); AdamW steps all instances at once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from toys.core.config import TrainingConfig, check_choice, check_interval, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, set_lr

MIXINGS = ("embedding", "clean", "compare", "random")
CC_VALUE_LAWS = ("uniform_pm1", "uniform01", "one")
CC_LOSSES = ("mse", "lp")  # mean squared error, mean |error|^loss_p
CC_LABELS = ("continuous", "discrete")
DISCRETE_TWIN = {"uniform_pm1": "pm1", "uniform01": "one", "one": "one"}  # the value law's discrete counterpart
ALL_CC_LAWS = CC_VALUE_LAWS + ("pm1",)  # pm1: −1 or +1 with equal odds (only as uniform_pm1's discrete twin)
RELU_SQ_MEAN = {"uniform_pm1": 1.0 / 6.0, "uniform01": 1.0 / 3.0, "one": 1.0, "pm1": 0.5}  # E[ReLU(v)²] per law
NEG_SQ_MEAN = {"uniform_pm1": 1.0 / 6.0, "uniform01": 0.0, "one": 0.0, "pm1": 0.5}  # E[v² · 1{v < 0}] per law
EVAL_CHUNK = 25_000  # rows of held-out features per matrix product when evaluating at other probabilities
MAX_STEP_ELEMENTS = 2**27  # instances · batch · features (and · d_mlp) one step may hold per tensor


@dataclass(frozen=True)
class CCConfig(TrainingConfig):
    """Compressed computation: n features, one ReLU MLP of d_mlp neurons in a residual stream of width d_embed."""

    name: ClassVar[str] = "cc"

    n_features: int = 100
    d_embed: int = 1000
    d_mlp: int = 50
    p: float = 0.01
    value_law: str = "uniform_pm1"
    labels: str = "continuous"
    loss: str = "mse"
    loss_p: float = 4.0
    mixing: str = "embedding"
    sigma_min: float = 0.0
    sigma_max: float = 0.1
    n_instances: int = 1
    batch_size: int = 2048
    lr: float = 3e-3
    schedule: str = "cosine"
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    eval_samples: int = 20_000
    log_every: int = 100

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 2, 2000, integer=True)
        check_range("d_embed", self.d_embed, 1, 8192, integer=True)
        check_range("d_mlp", self.d_mlp, 1, 2000, integer=True)
        check_range("p", self.p, 1e-4, 1.0)
        check_choice("value_law", self.value_law, CC_VALUE_LAWS)
        check_choice("labels", self.labels, CC_LABELS)
        check_choice("loss", self.loss, CC_LOSSES)
        check_range("loss_p", self.loss_p, 1.0, 10.0)
        check_choice("mixing", self.mixing, MIXINGS)
        check_interval(self, "sigma_min", "sigma_max", 0.0, 1.0)
        check_range("n_instances", self.n_instances, 1, 64, integer=True)
        if self.mixing == "compare" and self.n_instances < 2:
            raise ValueError(
                f"n_instances={self.n_instances} is out of range for mixing='compare': allowed [2, 64] "
                "(instances alternate embedding noise and clean labels)"
            )
        super().__post_init__()
        check_range("eval_samples", self.eval_samples, 100, 1_000_000, integer=True)
        width = max(self.n_features, self.d_mlp)
        if self.n_instances * self.batch_size * width > MAX_STEP_ELEMENTS:
            raise ValueError(
                f"n_instances={self.n_instances} × batch_size={self.batch_size} × {width} features/neurons is "
                f"{self.n_instances * self.batch_size * width:,} values per step: allowed up to {MAX_STEP_ELEMENTS:,}"
            )

    @property
    def embedded(self) -> bool:
        """Whether the model has the frozen embedding (every mode but ``random``)."""
        return self.mixing != "random"

    @property
    def law(self) -> str:
        """The value law features are drawn from: ``value_law``, or its discrete twin with discrete labels."""
        return self.value_law if self.labels == "continuous" else DISCRETE_TWIN[self.value_law]

    @property
    def width(self) -> int:
        """Width D of the space W_in reads from: d_embed with an embedding, n_features without."""
        return self.d_embed if self.embedded else self.n_features


def mixes(cfg: CCConfig) -> bool:
    """Whether the labels' path carries a mixing R (every mode but ``clean`` and a random one with σ = 0)."""
    return not (cfg.mixing == "clean" or (cfg.mixing == "random" and cfg.sigma_max == 0.0))


@estimate.register(CCConfig)
def cc_cost(cfg: CCConfig) -> Cost:
    """Training cost of a compressed-computation config (hand-written gradients, AdamW).

    Held: the frozen embedding (I, F, D) and the mixing R (I, F, F). Building them holds a second copy of the
    embedding (or of R) for a moment. A step holds the labels, the residual, the error and its gradient (about 6
    floats per (instance, sample, feature); 8 with the Lp loss), the MLP's activations and their gradients (6 per
    neuron) and the folded weights; a snapshot adds the folded weights A, B and R to the parameters. Per step: ten
    batched products of I·B·F·H multiply-adds, the mixing's I·B·F², and folding and unfolding the embedding,
    4·I·F·D·H, twice.
    """
    I, B, F, H, D = cfg.n_instances, cfg.batch_size, cfg.n_features, cfg.d_mlp, cfg.width
    params = 2 * I * D * H  # W_in (I, D, H), W_out (I, H, D)
    embed = FLOAT_BYTES * I * F * D if cfg.embedded else 0
    mixing = FLOAT_BYTES * I * F * F
    init = max(embed, 2 * mixing) + FLOAT_BYTES * (F * D + F * F)
    step = FLOAT_BYTES * ((6 if cfg.loss == "mse" else 8) * I * B * F + 6 * I * B * H + 4 * I * F * H + 4 * B * F)
    flops = (
        12 * I * B * F * H
        + (8 * I * F * D * H if cfg.embedded else 0)
        + (2 * I * B * F * F if mixes(cfg) else 0)
        + 20 * I * B * (F + H)
        + (0 if cfg.loss == "mse" else 40 * I * B * F)  # |r|^p and p|r|^(p−1) sign(r): pow is exp and log
        + ADAM_FLOPS * params
    )
    knobs = ("batch_size", "n_instances", "n_features", "d_mlp", *(("d_embed",) if cfg.embedded else ()))
    return Cost(
        trainer_bytes(cfg, I, params, embed + mixing, max(init, step), arrays=FLOAT_BYTES * I * F * (2 * H + F)),
        flops,
        knobs + ("steps", "log_every"),
    )


def naive_loss_per_feature(n_features: int, d_mlp: int, value_law: str = "uniform_pm1") -> float:
    """L/p of the naive solution: d_mlp neurons compute ReLU(x_i) of d_mlp features exactly, the rest get nothing.

    The residual already carries x, so feature i's error is ReLU(x_i) when it is not computed and 0 otherwise.
    A feature is present with probability p, so with L the mean over features and samples,
    L = (1 − d_mlp/n) · p · E[ReLU(v)²]  and  L/p = max(0, 1 − d_mlp/n) · E[ReLU(v)²];
    for v ~ U[−1, 1], E[ReLU(v)²] = ½ · ⅓ = 1/6, so n = 100, d_mlp = 50 give 1/12.
    """
    check_choice("value_law", value_law, ALL_CC_LAWS)
    return max(0.0, 1.0 - d_mlp / n_features) * RELU_SQ_MEAN[value_law]


def naive_profile(n_features: int, d_mlp: int, value_law: str = "uniform_pm1") -> np.ndarray:
    """Per-feature L/p of the naive solution, sorted: 0 for the d_mlp computed features, E[ReLU(v)²] for the rest.
    -> (n_features,)"""
    per = np.zeros(n_features)
    per[min(d_mlp, n_features) :] = naive_loss_per_feature(1, 0, value_law)
    return per


def instance_sigma(cfg: CCConfig) -> np.ndarray:
    """Mixing std per instance for ``random`` (linear from sigma_min to sigma_max); NaN for the other modes."""
    if cfg.mixing != "random":
        return np.full(cfg.n_instances, np.nan)
    if cfg.n_instances == 1:
        return np.array([cfg.sigma_max])
    return np.linspace(cfg.sigma_min, cfg.sigma_max, cfg.n_instances)


def instance_clean(cfg: CCConfig) -> np.ndarray:
    """Whether each instance has clean labels (no mixing in the labels' path). -> (I,) bool"""
    i = np.arange(cfg.n_instances)
    if cfg.mixing == "clean":
        return np.ones(cfg.n_instances, dtype=bool)
    if cfg.mixing == "compare":
        return i % 2 == 1
    return np.zeros(cfg.n_instances, dtype=bool)


def instance_labels(cfg: CCConfig) -> list[str]:
    if cfg.mixing == "random":
        return [f"#{i} · σ = {s:.3g}" for i, s in enumerate(instance_sigma(cfg))]
    return [f"#{i} · {'clean labels' if c else 'embedding noise'}" for i, c in enumerate(instance_clean(cfg))]


def apply_cc_value_law(v: torch.Tensor, law: str) -> torch.Tensor:
    """Map v ~ U[0, 1) to the law's values."""
    if law == "uniform_pm1":
        return 2.0 * v - 1.0
    if law == "uniform01":
        return v
    if law == "one":
        return torch.ones_like(v)
    if law == "pm1":
        return torch.where(v < 0.5, -1.0, 1.0).to(v.dtype)
    raise ValueError(f"value_law={law!r} is unknown")


def sample_features(cfg: CCConfig, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, F) sparse features from one uniform draw u per entry: present iff u < p, value from u / p ~ U[0, 1)."""
    u = torch.rand(n, cfg.n_features, generator=generator, device=device)
    return torch.where(u < cfg.p, apply_cc_value_law(u / cfg.p, cfg.law), 0.0)


def random_mixing(n: int, sigma: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Symmetric (n, n) matrix, zero diagonal, off-diagonal entries N(0, σ²)."""
    a = torch.randn(n, n, generator=generator, device=device) * sigma
    upper = torch.triu(a, diagonal=1)
    return upper + upper.T


def embedding(n: int, d: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Frozen W_E (n, d): Gaussian rows scaled to unit norm."""
    w = torch.randn(n, d, generator=generator, device=device)
    return w / w.norm(dim=1, keepdim=True)


def cc_loss_and_grads(
    x: torch.Tensor,
    target: torch.Tensor,
    W_in: torch.Tensor,
    W_out: torch.Tensor,
    E: torch.Tensor | None,
    want_grads: bool = True,
    loss: str = "mse",
    p: float = 4.0,
):
    """Loss per instance and gradients of the folded model, by hand.

    x (B, F) features shared by all instances; target (I, B, F) what the MLP owes (ReLU(x) + x R);
    W_in (I, D, H), W_out (I, H, D), E (I, F, D) the frozen embedding or None (D = F, no embedding).
    Returns losses (I,) = mean over batch and features of (MLP(x) − target)² (``loss`` "mse") or |MLP(x) − target|^p
    ("lp"), and grads of W_in, W_out.
    """
    A = W_in if E is None else torch.bmm(E, W_in)  # (I, F, H)
    Bm = W_out if E is None else torch.bmm(W_out, E.transpose(1, 2))  # (I, H, F)
    z = torch.matmul(x, A)  # (I, B, H)
    h = torch.relu(z)
    r = torch.bmm(h, Bm) - target  # (I, B, F)
    scale = 1.0 / (r.shape[1] * r.shape[2])
    if loss == "mse":
        losses = r.square().mean(dim=(1, 2))  # (I,)
        g = r * (2.0 * scale) if want_grads else None  # dL/dpred
    elif loss == "lp":
        a = r.abs()
        losses = a.pow(p).mean(dim=(1, 2))
        g = (p * scale) * a.pow(p - 1.0) * r.sign() if want_grads else None
    else:
        raise ValueError(f"loss={loss!r} is not allowed: choose one of {', '.join(CC_LOSSES)}")
    if not want_grads:
        return losses, None, None
    gB = torch.bmm(h.transpose(1, 2), g)  # (I, H, F)
    gz = torch.bmm(g, Bm.transpose(1, 2)) * (z > 0)  # (I, B, H)
    gA = torch.matmul(x.T, gz)  # (I, F, H)
    if E is None:
        return losses, gA, gB
    return losses, torch.bmm(E.transpose(1, 2), gA), torch.bmm(gB, E)


def cc_forward(x: torch.Tensor, W_in: torch.Tensor, W_out: torch.Tensor, E: torch.Tensor | None) -> torch.Tensor:
    """The unfolded residual MLP with autograd, as in the papers: x (B, F) -> ŷ (I, B, F).

    With E: ŷ = x W_E W_Eᵀ + ReLU(x W_E W_in) W_out W_Eᵀ; without: ŷ = x + ReLU(x W_in) W_out.
    """
    if E is None:
        return x + torch.relu(torch.matmul(x, W_in)) @ W_out
    resid = torch.matmul(x, E)  # (I, B, D)
    resid = resid + torch.relu(resid @ W_in) @ W_out
    return resid @ E.transpose(1, 2)


class CCTrainer(StepTrainer):
    """Trains every instance of a compressed-computation config at once (the loss is their sum)."""

    toy = "cc"

    def __init__(self, cfg: CCConfig) -> None:
        super().__init__(cfg, cfg.n_instances)
        I, F, H, D = cfg.n_instances, cfg.n_features, cfg.d_mlp, cfg.width
        dev, gen = self.device, self.generator
        if cfg.embedded:
            self.E = torch.stack([embedding(F, D, gen, dev) for _ in range(I)])  # (I, F, D), frozen
            gram = torch.bmm(self.E, self.E.transpose(1, 2))  # (I, F, F)
            R = torch.eye(F, device=dev) - gram
            R[torch.as_tensor(instance_clean(cfg), device=dev)] = 0.0
        else:
            self.E = None
            R = torch.stack([random_mixing(F, float(s), gen, dev) for s in instance_sigma(cfg)])
        self.R = R  # (I, F, F): the MLP owes ReLU(x) + x R
        self._mixes = bool(R.abs().amax() > 0)
        bound_in, bound_out = 1.0 / math.sqrt(D), 1.0 / math.sqrt(H)  # nn.Linear's default init
        self.W_in = ((torch.rand(I, D, H, generator=gen, device=dev) * 2 - 1) * bound_in).requires_grad_()
        self.W_out = ((torch.rand(I, H, D, generator=gen, device=dev) * 2 - 1) * bound_out).requires_grad_()
        foreach = dev.type == "cuda" or None
        self.optimizer = make_optimizer(cfg, [self.W_in, self.W_out], foreach=foreach)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the MLP owes for features x (B, F): ReLU(x) + x R per instance. -> (I, B, F)"""
        t = torch.relu(x)
        if not self._mixes:
            return t.expand(self.cfg.n_instances, -1, -1)
        return torch.baddbmm(t.expand(self.cfg.n_instances, -1, -1), x.expand(self.cfg.n_instances, -1, -1), self.R)

    def _train_step(self, lr: float) -> torch.Tensor:
        cfg = self.cfg
        set_lr(self.optimizer, lr)
        x = sample_features(cfg, cfg.batch_size, self.generator, self.device)  # (B, F)
        with torch.no_grad():
            losses, g_in, g_out = cc_loss_and_grads(
                x, self.target(x), self.W_in, self.W_out, self.E, loss=cfg.loss, p=cfg.loss_p
            )
        self.W_in.grad, self.W_out.grad = g_in, g_out
        self.optimizer.step()
        return losses

    def _loadable(self) -> dict[str, torch.Tensor]:
        return {"W_in": self.W_in, "W_out": self.W_out}  # A, B and R follow from them, the embedding and the seed

    def _arrays(self) -> dict[str, np.ndarray]:
        with torch.no_grad():
            A = self.W_in if self.E is None else torch.bmm(self.E, self.W_in)
            Bm = self.W_out if self.E is None else torch.bmm(self.W_out, self.E.transpose(1, 2))
            return {
                "W_in": self.W_in.detach().cpu().numpy().copy(),  # (I, D, H)
                "W_out": self.W_out.detach().cpu().numpy().copy(),  # (I, H, D)
                "A": A.cpu().numpy().copy(),  # (I, F, H): what each neuron reads from each feature
                "B": Bm.cpu().numpy().copy(),  # (I, H, F): what each neuron writes to each feature
                "R": self.R.cpu().numpy().copy(),  # (I, F, F): mixing in the labels' path
            }


register("cc", CCConfig, CCTrainer)


def eval_features(
    cfg: CCConfig, n: int | None = None, seed: int | None = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """A fixed held-out batch of features (n, F), float64, from its own seed (the config's seed + 1 by default)
    or from ``rng`` when given."""
    n = cfg.eval_samples if n is None else n
    if rng is None:
        rng = np.random.default_rng(cfg.seed + 1 if seed is None else seed)
    u = rng.random((n, cfg.n_features))
    v = u / cfg.p
    if cfg.law == "uniform_pm1":
        v = 2.0 * v - 1.0
    elif cfg.law == "one":
        v = np.ones_like(v)
    elif cfg.law == "pm1":
        v = np.where(v < 0.5, -1.0, 1.0)
    return np.where(u < cfg.p, v, 0.0)


def _weights(snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The folded weights A (I, F, H), B (I, H, F) and the mixing R (I, F, F) in float64."""
    return snap["A"].astype(np.float64), snap["B"].astype(np.float64), snap["R"].astype(np.float64)


def _squared_error_sums(A: np.ndarray, Bm: np.ndarray, R: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ over the rows of x (n, F) of (ReLU(x A) B − (ReLU(x) + x R))², per instance and output. -> (I, F)"""
    relu_x = np.maximum(x, 0.0)
    out = np.empty((len(A), x.shape[1]))
    for i in range(len(A)):
        err = np.maximum(x @ A[i], 0.0) @ Bm[i] - (relu_x + x @ R[i])
        out[i] = np.square(err).sum(axis=0)
    return out


def per_feature_loss(snap: Snapshot, x: np.ndarray | None = None) -> np.ndarray:
    """Held-out loss per output feature, divided by p (its mean over features is L/p). -> (I, F)"""
    cfg = CCConfig.from_dict(snap.config)
    x = eval_features(cfg) if x is None else x
    return _squared_error_sums(*_weights(snap), x) / (len(x) * cfg.p)


def sparse_limit_loss(snap: Snapshot) -> np.ndarray:
    """Exact L/p in the sparse limit p → 0, where at most one feature is ever present. -> (I, F): each input
    feature's summed squared error when it alone is present; its mean over features is the limit of L/p.

    With only feature i present at value v, the error on every output is linear in v on each side of 0:
    v > 0 gives v (ReLU(A_i) B − e_i − R_i) and v < 0 gives |v| (ReLU(−A_i) B + R_i). So feature i's summed
    squared error is E[v²; v > 0] ‖ReLU(A_i) B − e_i − R_i‖² + E[v²; v < 0] ‖ReLU(−A_i) B + R_i‖², and
    L = (1/F) Σ_i p · E‖err_i‖² + O(p²), so L/p → the mean of that over i.
    """
    cfg = CCConfig.from_dict(snap.config)
    eye = np.eye(cfg.n_features)
    out = np.empty((cfg.n_instances, cfg.n_features))
    for i in range(cfg.n_instances):  # one instance at a time: (F, F) float64 each, not (I, F, F)
        A, Bm, R = (snap[name][i].astype(np.float64) for name in ("A", "B", "R"))
        pos = np.maximum(A, 0.0) @ Bm  # row f is what feature f at v = 1 writes to every output
        neg = np.maximum(-A, 0.0) @ Bm  # the same at v = −1, per unit |v|
        out[i] = RELU_SQ_MEAN[cfg.law] * np.square(pos - eye - R).sum(axis=1) + NEG_SQ_MEAN[cfg.law] * np.square(
            neg + R
        ).sum(axis=1)
    return out


def row_cost(cfg: CCConfig) -> int:
    """Multiply-adds to evaluate one held-out row on every instance: x A, ReLU(·) B and x R."""
    F, H = cfg.n_features, cfg.d_mlp
    return cfg.n_instances * F * (2 * H + F)


def loss_against_p(
    snap: Snapshot,
    ps,
    present: int = 50_000,
    max_rows: int = 400_000,
    budget: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Held-out L/p of the trained weights with features present at each probability in ``ps``. -> (I, len(ps))

    The papers' view of a model trained at one p: evaluate it at others. Each p gets about ``present`` present
    features in all (rows = present / (p·F), at least 1,000 and at most ``max_rows``), evaluated in chunks to
    bound memory. ``budget`` (multiply-adds for all of ``ps``) caps the rows that hold a present feature, so a
    large model answers in bounded time with fewer samples (never fewer than 500 such rows per p).
    """
    cfg = CCConfig.from_dict(snap.config)
    A, Bm, R = _weights(snap)
    rng = np.random.default_rng(cfg.seed + 2 if seed is None else seed)
    out = np.zeros((cfg.n_instances, len(ps)))
    for k, p in enumerate(ps):
        check_range("p", float(p), 1e-4, 1.0)
        rows = int(min(max_rows, max(1000, present / (p * cfg.n_features))))
        if budget is not None:
            nonempty = 1.0 - (1.0 - p) ** cfg.n_features  # fraction of rows with a feature present
            affordable = max(500.0, budget / (len(ps) * row_cost(cfg))) / nonempty
            rows = max(1, min(rows, int(affordable)))
        sq = np.zeros(cfg.n_instances)
        for start in range(0, rows, EVAL_CHUNK):
            x = eval_features(dataclasses.replace(cfg, p=float(p)), n=min(EVAL_CHUNK, rows - start), rng=rng)
            x = x[x.any(axis=1)]  # a row with no feature present has output and label 0: no error to add
            sq += _squared_error_sums(A, Bm, R, x).sum(axis=1)
        out[:, k] = sq / (rows * cfg.n_features * p)
    return out


def cc_summary(snap: Snapshot) -> dict:
    """Headline figures: held-out L/p per instance (at the training p and as p → 0), the naive L/p, and what each
    instance is."""
    cfg = CCConfig.from_dict(snap.config)
    lp = per_feature_loss(snap).mean(axis=1)
    return {
        "L_over_p": [round(float(v), 5) for v in lp],
        "L_over_p_sparse_limit": [round(float(v), 5) for v in sparse_limit_loss(snap).mean(axis=1)],
        "naive_L_over_p": round(naive_loss_per_feature(cfg.n_features, cfg.d_mlp, cfg.law), 5),
        "instances": instance_labels(cfg),
    }
