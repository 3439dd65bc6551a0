"""Phase diagrams of superposition: a grid of relative importance × feature density, one batched model.

Every cell (r, p) of the grid is ``seeds`` independent instances of the ReLU-output toy x' = ReLU(WᵀWx + b) with
n features and m hidden dimensions. All features are present with probability p (value U[0, 1) when present);
the first n − 1 have importance 1 and the last, the "extra" feature, importance r (Elhage et al. 2022, "Toy Models
of Superposition", section "The phase change", for n = 2, m = 1 and n = 3, m = 2).

Training minimises the same expected loss as ``toys.tms.model.weighted_mse``, L = E[mean_f I_f (x_f − x'_f)²], but
estimates it per step by **stratified sampling over presence patterns**: the 2ⁿ patterns s ∈ {0, 1}ⁿ are taken
with their exact probabilities π_s = Πp^{s_f}(1 − p)^{1−s_f}, and only the values are drawn (``value_samples`` per
pattern). At p = 0.01 a plain batch of 1024 holds a pair of co-present features once every ten steps, so its
interference gradient is mostly noise; here every step sees every pattern. The estimate is unbiased, so the
optimum is the same model.

Reading the grid: the instance with the lowest expected loss (computed on a fixed scrambled-Sobol set of values,
the same for all instances) is each cell's model; the phase is the extra feature's: not learned (‖W_n‖ ≤ 0.5),
a dedicated dimension (represented, interference score below 0.3) or superposition.

For n = 2, m = 1 the phases have a closed form between three candidates (derivation in ``tests/test_published``):
drop the extra feature, L = ½ r (p/3 − p²/4); drop the first, L = ½ (p/3 − p²/4); antipodal, L = ½ p² (1 + r)/6.
Superposition wins below p = 4r/(2 + 5r) (r ≤ 1) and below p = 4/(5 + 2r) (r ≥ 1); above both, r < 1 drops the
extra feature and r > 1 gives it the dimension. The three boundaries meet at (r, p) = (1, 4/7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from toys.core.config import TrainingConfig, check_interval, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.train import StepTrainer, make_optimizer, set_lr
from toys.tms.metrics import REPRESENTED_NORM, feature_norms, superposition_score
from toys.tms.model import init_tms_params, tms_forward, tms_loss_and_grads

PHASES = ("not learned", "dedicated dimension", "superposition")  # phase codes 0, 1, 2 of the extra feature
NOT_LEARNED, DEDICATED, SUPERPOSED = 0, 1, 2
INTERFERENCE_THRESHOLD = 0.3
TRIPLE_POINT = (1.0, 4.0 / 7.0)  # (r, p) where the three n = 2, m = 1 phases meet
MAX_INSTANCES = 200_000


@dataclass(frozen=True)
class PhaseConfig(TrainingConfig):
    """A grid of n_importance × n_density cells, ``seeds`` instances each, as one batched toy model.

    Relative importance r sweeps geometrically from r_min (row 0) to r_max; density p from p_min (column 0) to
    p_max. Instance index = (row · n_density + column) · seeds + seed.
    """

    name: ClassVar[str] = "phase"

    n_features: int = 2
    n_hidden: int = 1
    n_importance: int = 20
    n_density: int = 20
    r_min: float = 0.1
    r_max: float = 10.0
    p_min: float = 0.01
    p_max: float = 1.0
    seeds: int = 4
    value_samples: int = 32
    steps: int = 3000
    lr: float = 0.01
    schedule: str = "cosine"
    eval_values: int = 256

    def __post_init__(self) -> None:
        check_range("n_features", self.n_features, 2, 8, integer=True)
        check_range("n_hidden", self.n_hidden, 1, self.n_features - 1, integer=True)
        check_range("n_importance", self.n_importance, 1, 200, integer=True)
        check_range("n_density", self.n_density, 1, 200, integer=True)
        check_interval(self, "r_min", "r_max", 1e-3, 1e3)
        check_interval(self, "p_min", "p_max", 1e-4, 1.0)
        check_range("seeds", self.seeds, 1, 64, integer=True)
        if self.n_instances > MAX_INSTANCES:
            raise ValueError(
                f"n_importance·n_density·seeds={self.n_instances:,} is out of range: allowed up to {MAX_INSTANCES:,} "
                "instances"
            )
        check_range("value_samples", self.value_samples, 1, 4096, integer=True)
        super().__post_init__()
        check_range("eval_values", self.eval_values, 1, 65_536, integer=True)

    @property
    def n_instances(self) -> int:
        return self.n_importance * self.n_density * self.seeds

    @property
    def n_patterns(self) -> int:
        return 2**self.n_features


# ------------------------------------------------------------------------------------------------ the grid


def _geometric(lo: float, hi: float, n: int) -> np.ndarray:
    if n == 1 or lo == hi:
        return np.full(n, math.sqrt(lo * hi))
    return lo * (hi / lo) ** np.linspace(0.0, 1.0, n)


def importance_values(cfg: PhaseConfig) -> np.ndarray:
    """Relative importance of the extra feature per grid row. -> (n_importance,)"""
    return _geometric(cfg.r_min, cfg.r_max, cfg.n_importance)


def density_values(cfg: PhaseConfig) -> np.ndarray:
    """Feature density (probability) per grid column. -> (n_density,)"""
    return _geometric(cfg.p_min, cfg.p_max, cfg.n_density)


def instance_grid(cfg: PhaseConfig) -> tuple[np.ndarray, np.ndarray]:
    """(r, p) of every instance, in instance order. -> (I,), (I,)"""
    r = np.repeat(importance_values(cfg), cfg.n_density * cfg.seeds)
    p = np.tile(np.repeat(density_values(cfg), cfg.seeds), cfg.n_importance)
    return r, p


def importance_matrix(cfg: PhaseConfig) -> np.ndarray:
    """Importance of every feature in every instance: 1, …, 1, r. -> (I, F) float32"""
    imp = np.ones((cfg.n_instances, cfg.n_features), dtype=np.float32)
    imp[:, -1] = instance_grid(cfg)[0]
    return imp


def presence_patterns(n_features: int) -> np.ndarray:
    """Every presence pattern, row s = the bits of s. -> (2ⁿ, n) float32"""
    s = np.arange(2**n_features)[:, None]
    return ((s >> np.arange(n_features)) & 1).astype(np.float32)


def pattern_probability(p: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """π_s = Π_f p^{s_f} (1 − p)^{1 − s_f} per instance (all features share p). -> (I, P) float64"""
    k = patterns.sum(axis=1)  # features present in each pattern
    p = np.asarray(p, dtype=np.float64)[:, None]
    return p**k * (1.0 - p) ** (patterns.shape[1] - k)


# --------------------------------------------------------------------------------------------- the trainer


class PhaseTrainer(StepTrainer):
    """Trains every cell × seed of a phase grid at once, by stratified sampling over presence patterns."""

    toy = "phase"

    def __init__(self, cfg: PhaseConfig) -> None:
        super().__init__(cfg, cfg.n_instances)
        n_inst, n_feat, n_pat = cfg.n_instances, cfg.n_features, cfg.n_patterns
        batch = n_pat * cfg.value_samples
        self.params = init_tms_params(cfg, self.device, self.generator)
        patterns = presence_patterns(n_feat)
        _, p = instance_grid(cfg)
        self.patterns = torch.as_tensor(patterns, device=self.device)  # (P, F)
        pi = torch.as_tensor(pattern_probability(p, patterns), dtype=torch.float32, device=self.device)  # (I, P)
        imp = torch.as_tensor(importance_matrix(cfg), device=self.device)  # (I, F)
        # per-sample weight × importance, scaled by P so that the mean over the P·V samples is Σ_s π_s mean_v
        self.weight = (
            (n_pat * pi[:, :, None, None] * imp[:, None, None, :])
            .expand(n_inst, n_pat, cfg.value_samples, n_feat)
            .reshape(n_inst, batch, n_feat)
            .contiguous()
        )  # (I, P·V, F)
        self.optimizer = make_optimizer(cfg, list(self.params.values()))

    def sample(self) -> torch.Tensor:
        """One stratified batch: every pattern with ``value_samples`` value draws. -> (I, P·V, F)"""
        cfg = self.cfg
        v = torch.rand(
            cfg.n_instances,
            cfg.n_patterns,
            cfg.value_samples,
            cfg.n_features,
            generator=self.generator,
            device=self.device,
        )
        return (v * self.patterns[:, None, :]).reshape(cfg.n_instances, -1, cfg.n_features)

    def _train_step(self, lr: float) -> torch.Tensor:
        W, b = self.params["W"], self.params["b"]
        losses, dW, db = tms_loss_and_grads(self.sample(), W.detach(), b.detach(), self.weight, "relu_output", "relu")
        W.grad, b.grad = dW, db
        set_lr(self.optimizer, lr)
        self.optimizer.step()
        return losses

    def _arrays(self) -> dict[str, np.ndarray]:
        W = self.params["W"].detach()
        b = self.params["b"].detach()
        return {
            "W": W.cpu().numpy().copy(),
            "b": b.cpu().numpy().copy(),
            "expected_loss": expected_loss(self.cfg, W, b).cpu().numpy().astype(np.float64),
        }


register("phase", PhaseConfig, PhaseTrainer)


EVAL_CHUNK = 2048  # value points per instance that ``expected_loss`` evaluates at once


@estimate.register(PhaseConfig)
def phase_cost(cfg: PhaseConfig) -> Cost:
    """Training cost of a phase grid: n instances trained on batches of every pattern × ``value_samples`` values.

    Held: the per-sample weights (n, P·V, F). A step draws the batch and runs the hand-written forward and backward
    (about 9 floats per (instance, sample, feature), 2 per hidden unit); a snapshot evaluates the expected loss on
    ``EVAL_CHUNK`` value points at a time (about 4 floats per (instance, point, feature), 1 per hidden unit). Per
    step: five batched matrix products of n·P·V·H·F multiply-adds.
    """
    n, F, H = cfg.n_instances, cfg.n_features, cfg.n_hidden
    B = cfg.n_patterns * cfg.value_samples
    params = n * (H * F + F)
    weight = FLOAT_BYTES * n * B * F
    step = FLOAT_BYTES * n * B * (9 * F + 2 * H) + n * B * F  # + the mask of active ReLUs
    ev = min(cfg.eval_values, EVAL_CHUNK)
    evaluation = FLOAT_BYTES * n * ev * (4 * F + H) + 8 * n * cfg.n_patterns
    held = weight + FLOAT_BYTES * n * (cfg.n_patterns + F)  # + pattern probabilities and importances
    flops = 12 * n * B * H * F + 30 * n * B * F + ADAM_FLOPS * params
    return Cost(
        trainer_bytes(cfg, n, params, held, max(step, evaluation), arrays=8 * n),
        flops,
        ("value_samples", "seeds", "n_importance", "n_density", "n_features", "eval_values", "steps", "log_every"),
    )


def eval_points(n_features: int, n_values: int, seed: int = 0) -> torch.Tensor:
    """A fixed scrambled-Sobol set of value vectors in [0, 1)ⁿ. -> (n_values, n) float32"""
    return torch.quasirandom.SobolEngine(n_features, scramble=True, seed=seed).draw(n_values).float()


@torch.no_grad()
def expected_loss(cfg: PhaseConfig, W: torch.Tensor, b: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """E[mean_f I_f (x_f − x'_f)²] per instance: exact over presence patterns, quasi-Monte Carlo over values.

    Every instance sees the same value points, so the seeds of a cell are compared on equal terms. W (I, H, F),
    b (I, F) -> (I,)
    """
    device = W.device
    patterns = presence_patterns(cfg.n_features)
    pi = torch.as_tensor(pattern_probability(instance_grid(cfg)[1], patterns), device=device)  # (I, P) float64
    imp = torch.as_tensor(importance_matrix(cfg), device=device)[:, None, :]  # (I, 1, F)
    v = eval_points(cfg.n_features, cfg.eval_values, cfg.seed).to(device)  # (V, F)
    total = torch.zeros(cfg.n_instances, dtype=torch.float64, device=device)
    for s, pattern in enumerate(torch.as_tensor(patterns, device=device)):
        for start in range(0, cfg.eval_values, chunk):
            x = (v[start : start + chunk] * pattern).expand(cfg.n_instances, -1, -1)  # (I, V', F)
            err = (imp * (x - tms_forward(x, W, b, "relu_output", "relu")) ** 2).mean(dim=2)  # (I, V')
            total += pi[:, s] * err.sum(dim=1).double() / cfg.eval_values
    return total


# ------------------------------------------------------------------------------------------------ analyses


def extra_feature_phase(
    W: np.ndarray, b: np.ndarray | None = None, interference: float = INTERFERENCE_THRESHOLD
) -> np.ndarray:
    """Phase code of the last feature per instance. W (I, H, F) -> (I,) int in {0, 1, 2} (see ``PHASES``).

    Not learned: ‖W_n‖ ≤ 0.5. Dedicated dimension: represented and its superposition score
    √Σ_{g≠n} (Ŵ_n · W_g)² below ``interference``. Superposition: represented and sharing its direction.
    """
    norm = feature_norms(W)[:, -1]
    score = superposition_score(W)[:, -1]
    return np.where(norm <= REPRESENTED_NORM, NOT_LEARNED, np.where(score < interference, DEDICATED, SUPERPOSED))


@dataclass(frozen=True)
class PhaseGrid:
    """The best seed of every cell: all arrays indexed [row (importance), column (density), ...]."""

    r: np.ndarray  # (R,)
    p: np.ndarray  # (D,)
    W: np.ndarray  # (R, D, H, F)
    b: np.ndarray  # (R, D, F)
    loss: np.ndarray  # (R, D)
    best_seed: np.ndarray  # (R, D)
    phase: np.ndarray  # (R, D) phase code of the extra feature
    seed_phase: np.ndarray  # (R, D, K) phase code of every seed


def phase_grid(cfg: PhaseConfig, W: np.ndarray, b: np.ndarray, loss: np.ndarray) -> PhaseGrid:
    """Best of K seeds per cell by expected loss (NaN losses never win), and the learned phases."""
    R, D, K, H, F = cfg.n_importance, cfg.n_density, cfg.seeds, cfg.n_hidden, cfg.n_features
    assert W.shape == (R * D * K, H, F), W.shape
    loss = np.where(np.isfinite(loss), loss, np.inf).reshape(R, D, K)
    best = np.argmin(loss, axis=2)  # (R, D)
    Wk = W.reshape(R, D, K, H, F)
    bk = b.reshape(R, D, K, F)
    pick = best[:, :, None, None, None]
    Wb = np.take_along_axis(Wk, pick, axis=2)[:, :, 0]
    bb = np.take_along_axis(bk, best[:, :, None, None], axis=2)[:, :, 0]
    finite = np.isfinite(W).all(axis=(1, 2))
    seed_phase = np.where(finite, extra_feature_phase(np.nan_to_num(W)), -1).reshape(R, D, K)
    phase = np.take_along_axis(seed_phase, best[:, :, None], axis=2)[:, :, 0]
    return PhaseGrid(
        importance_values(cfg),
        density_values(cfg),
        Wb,
        bb,
        np.take_along_axis(loss, best[:, :, None], axis=2)[:, :, 0],
        best,
        phase,
        seed_phase,
    )


# ------------------------------------------------------------------------ n = 2, m = 1 in closed form


def loss_antipodal(r, p):
    """w = (1, −1), b = 0: each feature alone comes back exactly; both present lose E[min²] = 1/6 each."""
    return 0.5 * p * p * (1 + r) / 6


def loss_drop_extra(r, p):
    """w = (1, 0), b = (0, p/2): the extra feature is replaced by its mean, losing r·Var(x₂)."""
    return 0.5 * r * (p / 3 - p * p / 4)


def loss_drop_first(r, p):
    """w = (0, 1), b = (p/2, 0): the extra feature takes the dimension; feature 1 is replaced by its mean."""
    return 0.5 * (p / 3 - p * p / 4)


def exact_phase(r, p) -> np.ndarray:
    """Phase code of the extra feature of n = 2, m = 1 with the lowest closed-form loss (ties: superposition)."""
    r, p = np.broadcast_arrays(np.asarray(r, dtype=np.float64), np.asarray(p, dtype=np.float64))
    losses = np.stack([loss_drop_extra(r, p), loss_drop_first(r, p), loss_antipodal(r, p)])
    code = np.argmin(losses[::-1], axis=0)  # reversed so that ties go to superposition, then dedicated
    return (2 - code).astype(np.int64)


def boundary_density(r):
    """The density below which superposition wins, per relative importance: 4r/(2+5r) for r ≤ 1, else 4/(5+2r)."""
    r = np.asarray(r, dtype=np.float64)
    return np.where(r <= 1.0, 4 * r / (2 + 5 * r), 4 / (5 + 2 * r))


def boundary_curves(r_min: float, r_max: float, n: int = 200) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The exact n = 2, m = 1 phase boundaries inside [r_min, r_max] × (0, 1]: (name, r, p) polylines."""
    curves = []
    r1, p1 = TRIPLE_POINT
    if r_min < r1:
        r = np.geomspace(r_min, min(r_max, r1), n)
        curves.append(("superposition | not learned", r, 4 * r / (2 + 5 * r)))
    if r_max > r1:
        r = np.geomspace(max(r_min, r1), r_max, n)
        curves.append(("superposition | dedicated", r, 4 / (5 + 2 * r)))
    if r_min <= r1 <= r_max:
        p = np.geomspace(p1, 1.0, n)
        curves.append(("not learned | dedicated", np.full(n, r1), p))
    return curves


def boundary_distance(r, p) -> np.ndarray:
    """Distance from (r, p) to the nearest exact n = 2, m = 1 boundary, in decades of the (log r, log p) plane."""
    r, p = np.broadcast_arrays(np.asarray(r, dtype=np.float64), np.asarray(p, dtype=np.float64))
    pts = np.stack([np.log10(r), np.log10(p)], axis=-1)[..., None, :]  # (..., 1, 2)
    curve = np.concatenate(
        [np.stack([np.log10(cr), np.log10(cp)], axis=-1) for _, cr, cp in boundary_curves(1e-4, 1e4, 4000)]
    )  # (n, 2)
    return np.sqrt(((pts - curve) ** 2).sum(axis=-1)).min(axis=-1)


# ---------------------------------------------------------------------------------------- a grid as tables

NO_PHASE = "diverged"  # the name of phase code −1: a seed whose weights are not finite


def phase_name(code) -> np.ndarray:
    """Names of phase codes (``PHASES``; −1 is ``NO_PHASE``). Any shape -> object array of that shape"""
    names = np.array(PHASES + (NO_PHASE,), dtype=object)
    code = np.asarray(code)
    return names[np.where(code < 0, len(PHASES), code)]


def exact_applies(cfg: PhaseConfig) -> bool:
    """Whether the grid's phases have the closed form above: n = 2 features in m = 1 dimension."""
    return (cfg.n_features, cfg.n_hidden) == (2, 1)


def cell_instances(cfg: PhaseConfig, row: int, col: int) -> np.ndarray:
    """Instance indices of cell (row, col)'s seeds, in seed order. -> (seeds,)"""
    return (row * cfg.n_density + col) * cfg.seeds + np.arange(cfg.seeds)


def cell_table(grid: PhaseGrid, exact: bool) -> dict[str, np.ndarray]:
    """The cells in row-major order (importance row, then density column), as columns of R·D entries: ``row``,
    ``col``, the cell's ``r`` and ``p``; its best seed's ``phase`` (a name), ``loss``, ``best_seed`` and the extra
    feature's norm ``extra_norm``; ``seeds_superposed``, how many of its seeds store the extra feature in
    superposition. With ``exact`` (n = 2, m = 1 only) also ``exact_phase``, the closed-form phase's name, and
    ``agrees``, whether the learned phase is that one."""
    R, D = grid.phase.shape
    row, col = np.meshgrid(np.arange(R), np.arange(D), indexing="ij")  # (R, D) each
    table = {
        "row": row.ravel(),
        "col": col.ravel(),
        "r": grid.r[row].ravel(),
        "p": grid.p[col].ravel(),
        "phase": phase_name(grid.phase).ravel(),
        "loss": grid.loss.ravel(),
        "best_seed": grid.best_seed.ravel(),
        "extra_norm": feature_norms(grid.W.reshape(R * D, *grid.W.shape[2:]))[:, -1],
        "seeds_superposed": (grid.seed_phase == SUPERPOSED).sum(axis=2).ravel(),
    }
    if exact:
        table["exact_phase"] = phase_name(exact_phase(table["r"], table["p"]))
        table["agrees"] = table["phase"] == table["exact_phase"]
    return table


def exact_agreement(cells, margin: float) -> tuple[float, float | None, int]:
    """How often the learned phases are the closed-form ones, from ``cell_table(grid, exact=True)`` (or a frame
    with its columns): the share over all cells; the share over the cells at least ``margin`` decades from every
    exact boundary (None if there are none); and how many cells those are."""
    agrees = np.asarray(cells["agrees"], dtype=bool)
    far = boundary_distance(np.asarray(cells["r"]), np.asarray(cells["p"])) >= margin
    return float(agrees.mean()), (float(agrees[far].mean()) if far.any() else None), int(far.sum())


def boundary_table(r_min: float, r_max: float, p_min: float, n: int = 200) -> dict[str, np.ndarray]:
    """The exact n = 2, m = 1 boundaries inside [r_min, r_max] as ordered points, clipped to p ≥ p_min: columns
    ``boundary`` (its name), ``r``, ``p`` and ``order`` (the point's place along its boundary)."""
    names, rs, ps, order = [np.array([], dtype=object)], [np.array([])], [np.array([])], [np.array([], np.int64)]
    for name, r, p in boundary_curves(r_min, r_max, n):
        keep = p >= p_min
        names.append(np.full(int(keep.sum()), name, dtype=object))
        rs.append(r[keep])
        ps.append(p[keep])
        order.append(np.arange(int(keep.sum()), dtype=np.int64))
    return {
        "boundary": np.concatenate(names),
        "r": np.concatenate(rs),
        "p": np.concatenate(ps),
        "order": np.concatenate(order),
    }
