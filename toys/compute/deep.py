"""Computation in superposition with depth: the residual-MLP toy of goodfire-ai/spd (``experiments/resid_mlp``)
with 1-3 MLP blocks, and an honest count of the functions it computes against a naive circuit of as many neurons.

n sparse features x (each present with probability p, value U[−1, 1], or ±1 with ``labels`` "discrete") are
embedded in a residual stream of width D by a frozen random W_E (n, D) with unit-norm rows; ``n_layers`` bias-free
ReLU MLP blocks of ``d_mlp`` neurons each add to the stream; W_Eᵀ reads it out:

    r₀ = x W_E,   r_l = r_{l−1} + ReLU(r_{l−1} W_in^l) W_out^l,   output of function j = r_L · W_E[home(j)]

``target`` sets the functions the MLPs owe (n_functions of them):

- ``relu``: f_j = ReLU(x_j), one per feature (home j);
- ``abs``: f_j = |x_j|;
- ``maxabs``: f_k = max(|x_2k|, |x_2k+1|), one per pair of features (home 2k): a target one usually builds in two
  layers (|·| first, then max); one layer can also build it exactly: max(|a|, |b|) = (|a + b| + |a − b|) / 2.

Labels: function j's label is its output's free pass-through plus f_j, y_j = x W_E W_E[home(j)]ᵀ + f_j(x), so the
MLPs owe exactly f_j. spd's ``act_plus_resid`` labels are x + f(x) instead, which also makes the MLPs undo the
embedding's cross-talk (x W_E W_Eᵀ − x, std ≈ √(n p /D) per output); Bhagat et al. (2025) show trained networks
exploit that noise rather than compute in superposition ("compressed computation"), so it is left out here (cc.py's
``clean`` mixing is the same choice).

Loss: mean over samples and functions of (ŷ − y)² (``mse``) or |ŷ − y|^p (``lp``, p = ``loss_p``). The targets are
real-valued, so there is no BCE. Instances are independent models; instance i trains at its own feature
probability, geometric from ``feature_probability`` (instance 0) down to ``p_min`` (last; 0 means every instance at
``feature_probability``), so a sparsity sweep is one model.

**Accounting** (on held-out features from the seed + 1, the same code for every network): function j's held-out
loss L_j = E[(ŷ_j − y_j)²] is compared with ref_j, the loss of the best affine predictor of f_j from the inputs
(closed form, ``reference_loss``); f_j is **computed** when L_j < COMPUTED_FRACTION · ref_j (a tenth: the circuit
explains 90% of what no affine map can). A network whose MLPs write nothing has L_j = E[f_j²] ≥ ref_j and computes
nothing; an exact circuit has L_j = 0. The fraction is well below a half because half a circuit already gets about
half: one ReLU(x) for |x| leaves E[x²; x < 0] = p/6 against ref = p/3 − p²/4.

**Naive** circuit with the same N = n_layers · d_mlp neurons: min(n_functions, N // c) functions computed exactly,
with c neurons each (relu 1: ReLU(x); abs 2: ReLU(x) + ReLU(−x); maxabs 4: ½ Σ ReLU(±(a + b)), ReLU(±(a − b)), in
any layer: a construction, not a proven minimum), the rest left to the free pass-through (L_j = E[f_j²]: no affine
correction, since the bias-free blocks have no path to the output but their neurons). Its loss is in closed form
(``naive_loss``) and ``naive_weights`` builds it as a network of this model for the tests. There is no known
hand-made construction that computes more relu/abs/maxabs functions than neurons exactly, so there is no hand-made
figure.

Training folds the frozen W_E into the weights each step (A_l = W_E W_in^l, C_kl = W_out^k W_in^l, B_l = W_out^l
W_E[home]ᵀ), so the batch never passes through the D-wide stream: the same function at a fraction of the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from toys.core.config import TrainingConfig, check_choice, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, set_lr

TARGETS = ("relu", "abs", "maxabs")
DEEP_LOSSES = ("mse", "lp")
DEEP_LABELS = ("continuous", "discrete")
NEURONS_PER_FUNCTION = {"relu": 1, "abs": 2, "maxabs": 4}  # the naive circuit's exact construction
ARITY = {"relu": 1, "abs": 1, "maxabs": 2}  # inputs per function
COMPUTED_FRACTION = 0.1  # f_j is computed when its held-out loss is below this fraction of the best affine loss
EVAL_CHUNK = 20_000  # held-out rows per matrix product
MAX_EVAL_ROWS = 400_000
MAX_STEP_ELEMENTS = 2**27

# moments of a present feature's value v: E[v], E[v²], E[|v|], E[ReLU(v)], E[ReLU(v)²] = E[ReLU(v) v],
# and for two independent present values E[max(|a|, |b|)], E[max(|a|, |b|)²]
MOMENTS = {
    "continuous": {"v": 0.0, "v2": 1 / 3, "abs": 0.5, "relu": 0.25, "relu2": 1 / 6, "max": 2 / 3, "max2": 0.5},
    "discrete": {"v": 0.0, "v2": 1.0, "abs": 1.0, "relu": 0.5, "relu2": 0.5, "max": 1.0, "max2": 1.0},
}


@dataclass(frozen=True)
class DeepConfig(TrainingConfig):
    """Deep computation in superposition: n features, 1-3 residual ReLU MLP blocks computing relu, abs or max-abs."""

    name: ClassVar[str] = "deep"

    n_features: int = 100
    d_embed: int = 1000
    n_layers: int = 1
    d_mlp: int = 50
    feature_probability: float = 0.01
    p_min: float = 0.0
    target: str = "relu"
    labels: str = "continuous"
    loss: str = "mse"
    loss_p: float = 4.0
    n_instances: int = 1
    batch_size: int = 2048
    steps: int = 10_000
    lr: float = 3e-3
    schedule: str = "cosine"
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    eval_present: int = 500
    log_every: int = 100

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 2, 2000, integer=True)
        check_range("d_embed", self.d_embed, self.n_features, 8192, integer=True)  # every feature readable exactly
        check_range("n_layers", self.n_layers, 1, 3, integer=True)
        check_range("d_mlp", self.d_mlp, 1, 2000, integer=True)
        check_range("feature_probability", self.feature_probability, 1e-4, 1.0)
        if self.p_min != 0.0:
            check_range("p_min", self.p_min, 1e-4, self.feature_probability)
        check_choice("target", self.target, TARGETS)
        if self.target == "maxabs" and self.n_features % 2:
            raise ValueError(f"n_features={self.n_features} must be even for target='maxabs' (one function per pair)")
        check_choice("labels", self.labels, DEEP_LABELS)
        check_choice("loss", self.loss, DEEP_LOSSES)
        check_range("loss_p", self.loss_p, 1.0, 10.0)
        check_range("n_instances", self.n_instances, 1, 64, integer=True)
        super().__post_init__()
        check_range("eval_present", self.eval_present, 10, 100_000, integer=True)
        width = max(self.n_features, self.d_mlp)
        if self.n_instances * self.batch_size * width > MAX_STEP_ELEMENTS:
            raise ValueError(
                f"n_instances={self.n_instances} × batch_size={self.batch_size} × {width} features/neurons is "
                f"{self.n_instances * self.batch_size * width:,} values per step: allowed up to {MAX_STEP_ELEMENTS:,}"
            )

    @property
    def n_functions(self) -> int:
        return self.n_features // ARITY[self.target]

    @property
    def neurons(self) -> int:
        return self.n_layers * self.d_mlp


@estimate.register(DeepConfig)
def deep_cost(cfg: DeepConfig) -> Cost:
    """Training cost (autograd on the folded model, AdamW). Held: W_E and its home rows. A step holds the uniform
    draw, the features and the labels (I, B, n), each layer's pre-activations, activations and their gradients
    (about 6 floats per (instance, sample, neuron)), the output and its error, and the folded weights with their
    gradients. Per step: folding, I·L·D·H·(n + F + L·H) multiply-adds, and the batch, I·B·L·H·(n + F + L·H), each
    three times (forward, two backward products)."""
    I, B, n, F, L, H, D = (
        cfg.n_instances, cfg.batch_size, cfg.n_features, cfg.n_functions, cfg.n_layers, cfg.d_mlp, cfg.d_embed,
    )  # fmt: skip
    params = 2 * I * L * D * H
    held = FLOAT_BYTES * (n + F) * D
    folded = I * L * H * (n + F + L * H)
    step = FLOAT_BYTES * (3 * I * B * n + 4 * I * B * F + 6 * I * B * L * H + 3 * folded)
    flops = 6 * I * L * D * H * (n + F + L * H) + 6 * I * B * L * H * (n + F + L * H) + 20 * I * B * (n + L * H)
    flops += (40 * I * B * F if cfg.loss == "lp" else 0) + ADAM_FLOPS * params
    knobs = ("batch_size", "n_instances", "d_mlp", "n_layers", "d_embed", "n_features", "steps", "log_every")
    return Cost(trainer_bytes(cfg, I, params, held, step, arrays=FLOAT_BYTES * (folded + n * D)), flops, knobs)


# ------------------------------------------------------------------------------------------------ the task


def instance_p(cfg: DeepConfig) -> np.ndarray:
    """Feature probability per instance: geometric from feature_probability (instance 0) to p_min (last). -> (I,)"""
    if cfg.p_min == 0.0 or cfg.n_instances == 1:
        return np.full(cfg.n_instances, cfg.feature_probability)
    return np.geomspace(cfg.feature_probability, cfg.p_min, cfg.n_instances)


def function_inputs(cfg: DeepConfig) -> np.ndarray:
    """The features each function reads, the first being its home (the output it is read from). -> (F, arity)"""
    return np.arange(cfg.n_features).reshape(cfg.n_functions, ARITY[cfg.target])


def targets(target: str, x):
    """f(x) for features x (..., n), numpy or torch. -> (..., F)"""
    if target not in TARGETS:
        raise ValueError(f"target={target!r} is not allowed: choose one of {', '.join(TARGETS)}")
    lib = torch if isinstance(x, torch.Tensor) else np
    if target == "relu":
        return lib.maximum(x, lib.zeros_like(x))
    a = lib.abs(x)
    return a if target == "abs" else lib.maximum(a[..., 0::2], a[..., 1::2])


def function_moments(target: str, labels: str, p: float) -> tuple[float, float, float]:
    """E[f], E[f²] and Σ over f's inputs of Cov(f, x)² / Var(x), for one function at feature probability p."""
    m = MOMENTS[labels]
    var_x = p * m["v2"] - (p * m["v"]) ** 2
    if target == "relu":
        ef, ef2 = p * m["relu"], p * m["relu2"]
        cov = p * m["relu2"] - p * m["relu"] * p * m["v"]  # E[ReLU(v) v] = E[ReLU(v)²]
        return ef, ef2, cov**2 / var_x
    if target == "abs":
        ef, ef2 = p * m["abs"], p * m["v2"]
        cov = -p * m["abs"] * p * m["v"]  # E[|v| v] = 0 for a symmetric law
        return ef, ef2, cov**2 / var_x
    if target == "maxabs":
        both, one = p * p, 2 * p * (1 - p)
        ef = both * m["max"] + one * m["abs"]
        ef2 = both * m["max2"] + one * m["v2"]
        return ef, ef2, 0.0  # f is even in each input and the law symmetric: Cov(f, x) = 0
    raise ValueError(f"target={target!r} is not allowed: choose one of {', '.join(TARGETS)}")


def reference_loss(target: str, labels: str, p: float) -> float:
    """Squared error of the best affine predictor of one function from the inputs (features are independent, so
    only its own inputs help): Var f − Σ Cov(f, x)² / Var x."""
    ef, ef2, explained = function_moments(target, labels, p)
    return ef2 - ef**2 - explained


def trivial_loss(target: str, labels: str, p: float) -> float:
    """Squared error of a function the MLPs leave alone (the pass-through only): E[f²]."""
    return function_moments(target, labels, p)[1]


def naive_functions(cfg: DeepConfig) -> int:
    """Functions the naive circuit of N = n_layers · d_mlp neurons computes: min(F, N // c). The rest have
    E[f²] ≥ Var f ≥ ref > COMPUTED_FRACTION · ref, so none of them counts."""
    return min(cfg.n_functions, cfg.neurons // NEURONS_PER_FUNCTION[cfg.target])


def naive_loss(cfg: DeepConfig, p: float) -> float:
    """L/p of the naive circuit at feature probability p: the mean over functions of E[f²]/p for the ones it
    leaves alone, 0 for the rest."""
    k = naive_functions(cfg)
    return (cfg.n_functions - k) / cfg.n_functions * trivial_loss(cfg.target, cfg.labels, p) / p


# ------------------------------------------------------------------------------------------------ the model


def embedding(n: int, d: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Frozen W_E (n, d): Gaussian rows scaled to unit norm."""
    w = torch.randn(n, d, generator=generator, device=device)
    return w / w.norm(dim=1, keepdim=True)


def sample_features(cfg: DeepConfig, p: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Sparse features (I, n, n_features), instance i at probability p[i]: present iff u < p, the value from
    u/p ~ U[0, 1)."""
    u = torch.rand(len(p), n, cfg.n_features, generator=generator, device=p.device)
    v = u / p[:, None, None]
    v = 2.0 * v - 1.0 if cfg.labels == "continuous" else torch.where(v < 0.5, -1.0, 1.0)
    return torch.where(u < p[:, None, None], v, 0.0)


def fold(E: torch.Tensor, home: torch.Tensor, W_in: torch.Tensor, W_out: torch.Tensor):
    """The frozen embedding folded into the blocks: A (I, L, n, H) what each neuron reads from the features,
    C (I, L, L, H, H) what neuron k of block a writes into the input of neuron of block b (used for a < b),
    Bo (I, L, H, F) what each neuron writes to each function's output."""
    A = torch.einsum("nd,ildh->ilnh", E, W_in)
    C = torch.einsum("iahd,ibdk->iabhk", W_out, W_in)
    Bo = torch.einsum("ilhd,fd->ilhf", W_out, E[home])
    return A, C, Bo


def folded_forward(x, A, C, Bo):
    """What the blocks add to the functions' outputs for features x (I, B, n). -> (I, B, F); works on torch and on
    numpy (float64) arrays alike."""
    relu = torch.relu if isinstance(x, torch.Tensor) else (lambda z: np.maximum(z, 0.0))
    hs, out = [], 0.0
    for b in range(A.shape[1]):
        z = x @ A[:, b]  # (I, B, H)
        for a in range(b):
            z = z + hs[a] @ C[:, a, b]
        hs.append(relu(z))
        out = out + hs[b] @ Bo[:, b]
    return out


def unfolded_forward(x: np.ndarray, E: np.ndarray, home: np.ndarray, W_in: np.ndarray, W_out: np.ndarray):
    """The residual MLP as spd writes it, one instance: x (B, n) -> what the blocks add to the outputs (B, F)."""
    r0 = x @ E
    r = r0
    for b in range(W_in.shape[0]):
        r = r + np.maximum(r @ W_in[b], 0.0) @ W_out[b]
    return (r - r0) @ E[home].T


def elementwise_loss(err: torch.Tensor, loss: str, p: float) -> torch.Tensor:
    return err.square() if loss == "mse" else err.abs().pow(p)


class DeepTrainer(StepTrainer):
    """Trains every instance of a deep config at once (autograd on the folded model; the loss is their sum)."""

    toy = "deep"

    def __init__(self, cfg: DeepConfig) -> None:
        super().__init__(cfg, cfg.n_instances)
        I, L, H, D = cfg.n_instances, cfg.n_layers, cfg.d_mlp, cfg.d_embed
        dev, gen = self.device, self.generator
        self.E = embedding(cfg.n_features, D, gen, dev)  # (n, D), frozen, shared by the instances
        self.home = torch.as_tensor(function_inputs(cfg)[:, 0], device=dev)
        self.p = torch.as_tensor(instance_p(cfg), dtype=torch.float32, device=dev)
        bound_in, bound_out = 1.0 / math.sqrt(D), 1.0 / math.sqrt(H)  # nn.Linear's default init
        self.W_in = ((torch.rand(I, L, D, H, generator=gen, device=dev) * 2 - 1) * bound_in).requires_grad_()
        self.W_out = ((torch.rand(I, L, H, D, generator=gen, device=dev) * 2 - 1) * bound_out).requires_grad_()
        self.optimizer = make_optimizer(cfg, [self.W_in, self.W_out], foreach=dev.type == "cuda" or None)

    def _train_step(self, lr: float) -> torch.Tensor:
        cfg = self.cfg
        set_lr(self.optimizer, lr)
        x = sample_features(cfg, self.p, cfg.batch_size, self.generator)  # (I, B, n)
        err = folded_forward(x, *fold(self.E, self.home, self.W_in, self.W_out)) - targets(cfg.target, x)
        losses = elementwise_loss(err, cfg.loss, cfg.loss_p).mean(dim=(1, 2))  # (I,)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def _loadable(self) -> dict[str, torch.Tensor]:
        return {"W_in": self.W_in, "W_out": self.W_out}

    def _arrays(self) -> dict[str, np.ndarray]:
        with torch.no_grad():
            A, C, Bo = fold(self.E, self.home, self.W_in, self.W_out)
            return {
                "W_in": self.W_in.detach().cpu().numpy().copy(),  # (I, L, D, H)
                "W_out": self.W_out.detach().cpu().numpy().copy(),  # (I, L, H, D)
                "E": self.E.cpu().numpy().copy(),  # (n, D)
                "A": A.cpu().numpy().copy(),  # (I, L, n, H)
                "C": C.cpu().numpy().copy(),  # (I, L, L, H, H)
                "B": Bo.cpu().numpy().copy(),  # (I, L, H, F)
            }


register("deep", DeepConfig, DeepTrainer)


# ------------------------------------------------------------------------------------------------ accounting


def eval_features(cfg: DeepConfig, p: float, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Held-out features (rows, n), float64."""
    u = rng.random((rows, cfg.n_features))
    v = u / p
    v = 2.0 * v - 1.0 if cfg.labels == "continuous" else np.where(v < 0.5, -1.0, 1.0)
    return np.where(u < p, v, 0.0)


def eval_rows(cfg: DeepConfig, p: float) -> int:
    """Held-out rows at probability p: about ``eval_present`` samples with each feature present."""
    return int(min(MAX_EVAL_ROWS, max(1000, math.ceil(cfg.eval_present / p))))


def function_losses(cfg: DeepConfig, folded: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int | None = None):
    """Held-out squared error per instance and function, E[(ŷ_j − y_j)²], from folded weights (A, C, B) with
    instance axes first; each instance on its own features at its own probability. -> (I, F) float64"""
    A, C, Bo = (np.asarray(w, dtype=np.float64) for w in folded)
    rng = np.random.default_rng(cfg.seed + 1 if seed is None else seed)
    out = np.zeros((len(A), cfg.n_functions))
    for i, p in enumerate(instance_p(cfg)):
        rows = eval_rows(cfg, p)
        for start in range(0, rows, EVAL_CHUNK):
            x = eval_features(cfg, p, min(EVAL_CHUNK, rows - start), rng)
            err = folded_forward(x[None], A[i : i + 1], C[i : i + 1], Bo[i : i + 1])[0] - targets(cfg.target, x)
            out[i] += np.square(err).sum(axis=0)
        out[i] /= rows
    return out


def score(cfg: DeepConfig, losses: np.ndarray) -> dict:
    """Functions computed and losses from per-function held-out losses (I, F): the same rule for every network."""
    ps = instance_p(cfg)
    ref = np.array([reference_loss(cfg.target, cfg.labels, p) for p in ps])  # (I,)
    computed = losses < COMPUTED_FRACTION * ref[:, None]
    return {
        "functions": computed.sum(axis=1).astype(int),  # (I,)
        "computed": computed,  # (I, F)
        "L_over_p": losses.mean(axis=1) / ps,  # (I,)
        "relative_loss": (losses / ref[:, None]).mean(axis=1),  # (I,): 0 exact, 1 as good as the best affine map
    }


def trained_functions(snap: Snapshot, seed: int | None = None) -> dict:
    cfg = DeepConfig.from_dict(snap.config)
    return score(cfg, function_losses(cfg, (snap["A"], snap["C"], snap["B"]), seed))


def naive_relative_loss(cfg: DeepConfig, p: float) -> float:
    """The naive circuit's mean over functions of L_j / ref_j at feature probability p."""
    k = naive_functions(cfg)
    rel = trivial_loss(cfg.target, cfg.labels, p) / reference_loss(cfg.target, cfg.labels, p)
    return (cfg.n_functions - k) / cfg.n_functions * rel


def exact_io(E: np.ndarray, n_scratch: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions for exact circuits in the residual stream of W_E (n, D), D ≥ 2n + n_scratch: readers R (D, n) with
    x W_E R = x, writers W (n, D) with W W_Eᵀ = I (write v·W[j] and output j reads v), and scratch S (D, n_scratch)
    the output does not read; readers see neither writers nor scratch (W R = 0, Sᵀ R = 0) and scratch sees no writer
    (W S = 0), so blocks can read the features after earlier blocks wrote."""
    E = np.asarray(E, dtype=np.float64)
    n, D = E.shape
    if D < 2 * n + n_scratch:
        raise ValueError(f"d_embed={D} is too small for exact circuits: need at least {2 * n + n_scratch}")
    G_inv = np.linalg.inv(E @ E.T)
    _, _, vt = np.linalg.svd(E)
    Q = vt[n:].T  # (D, D − n) orthonormal basis of the null space of E
    Q1, S = Q[:, :n], Q[:, n : n + n_scratch]
    R = E.T @ G_inv + Q1
    W = G_inv @ E - G_inv @ Q1.T
    return R, W, S


def naive_weights(cfg: DeepConfig, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The naive circuit as weights of this model, W_in (L, D, H) and W_out (L, H, D): neurons taken in order across
    the blocks, c per function, for the first ``naive_functions`` functions; the rest of the neurons dead."""
    L, H, D = cfg.n_layers, cfg.d_mlp, cfg.d_embed
    R, Wr, _ = exact_io(E)
    W_in, W_out = np.zeros((L, D, H)), np.zeros((L, H, D))
    inputs, c = function_inputs(cfg), NEURONS_PER_FUNCTION[cfg.target]
    for j in range(naive_functions(cfg)):
        home = inputs[j, 0]
        if cfg.target == "relu":
            units = [(R[:, home], 1.0)]
        elif cfg.target == "abs":
            units = [(R[:, home], 1.0), (-R[:, home], 1.0)]
        else:
            a, b = R[:, inputs[j, 0]], R[:, inputs[j, 1]]
            units = [(a + b, 0.5), (-a - b, 0.5), (a - b, 0.5), (b - a, 0.5)]
        for t, (read, gain) in enumerate(units):
            layer, unit = divmod(j * c + t, H)
            W_in[layer, :, unit] = read
            W_out[layer, unit] = gain * Wr[home]
    return W_in, W_out


def fold_numpy(E: np.ndarray, home: np.ndarray, W_in: np.ndarray, W_out: np.ndarray):
    """``fold`` for float64 numpy weights with instance axes first."""
    t = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (E, W_in, W_out)]
    return tuple(a.numpy() for a in fold(t[0], torch.as_tensor(home), t[1], t[2]))


def deep_summary(snap: Snapshot) -> dict:
    """Headline figures per instance: its feature probability, functions computed by the trained network and by the
    naive circuit of as many neurons, their L/p and relative loss (mean L_j / ref_j), and whether trained beats
    naive (more functions with fewer neurons than functions)."""
    cfg = DeepConfig.from_dict(snap.config)
    res = trained_functions(snap)
    ps = instance_p(cfg)
    k = naive_functions(cfg)
    trained = [int(v) for v in res["functions"]]
    return {
        "target": cfg.target,
        "loss": cfg.loss,
        "labels": cfg.labels,
        "n_functions": cfg.n_functions,
        "n_layers": cfg.n_layers,
        "d_mlp": cfg.d_mlp,
        "d": cfg.neurons,
        "p": [float(f"{p:.4g}") for p in ps],
        "trained_functions": trained,
        "naive_functions": k,
        "handmade_functions": None,
        "trained_L_over_p": [round(float(v), 5) for v in res["L_over_p"]],
        "naive_L_over_p": [round(naive_loss(cfg, p), 5) for p in ps],
        "trained_error": [round(float(v), 4) for v in res["relative_loss"]],
        "naive_error": [round(naive_relative_loss(cfg, p), 4) for p in ps],
        "beats_naive": [beats_naive(t, k, cfg.neurons, cfg.n_functions) for t in trained],
    }


def beats_naive(trained: int, naive: int, neurons: int, n_functions: int) -> bool:
    """Trained beats naive: more functions computed than the naive circuit of the same neurons, with fewer neurons
    than functions."""
    return neurons < n_functions and trained > naive
