"""Activations to decompose, each with its ground truth: the directions a dictionary should find and, per sample,
which true features are active.

Three sources, one interface (``Source``): ``sample(batch, generator) -> (x, y, f)`` draws a batch on the source's
device, where x (B, d_in) is what the encoder reads, y (B, d_out) what the decoder must reproduce (y is x for an SAE,
the MLP's output for a transcoder) and f (B, n_true) the true features' activations (their per-sample L0 is the
true L0). ``truth`` (n_true, d_out) holds the unit directions in which the true features write into y; ``parents``
(n_true,) the parent of every hierarchical child feature (−1 for none).

- ``SyntheticSource``: n random unit directions in d dims (n > d allowed: superposition), Zipfian firing
  probabilities, firing optionally correlated through a Gaussian copula with one shared latent, optional
  parent/child hierarchy (a child fires only when its parent fires), magnitudes uniform, half-normal or one;
  ``sparse_draw`` draws only the firing entries where features fire independently (same law, other numbers).
- ``TMSSource``: the hidden layer h = W x of a trained toy model of superposition (Elhage et al., 2022); the truth is
  W's columns, unit-normalised, and x the model's own sparse features.
- ``CircuitsSource``: the MLP of a planted-circuits model (``toys.circuits.planted``) as a transcoder's task: x the
  MLP's input r = E x_feat, y the MLP's output; the truth is the output axes (every output is one circuit's
  computation) with the true outputs' activations as f, and ``truth_in`` the embedded input features E's columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from toys.circuits.planted import CircuitsConfig, CircuitsTrainer, FrozenCircuits, mlp_forward
from toys.core.config import ConfigBase, check_choice, check_range
from toys.core.snapshot import Snapshot
from toys.tms.config import TMSConfig
from toys.tms.data import FeatureSampler, probability_matrix
from toys.tms.train import make_tms_trainer

MAGNITUDES = ("uniform", "half_normal", "one")


class Batch(NamedTuple):
    """One batch of a source: encoder input x (B, d_in), target y (B, d_out), true feature activations f (B, n)."""

    x: torch.Tensor
    y: torch.Tensor
    f: torch.Tensor


class Acts(NamedTuple):
    """A fixed sample of a source as numpy arrays (float32), for scoring: x, y, f as in ``Batch``; ``parents`` as in
    ``Source.parents``."""

    x: np.ndarray
    y: np.ndarray
    f: np.ndarray
    parents: np.ndarray

    @property
    def true_l0(self) -> np.ndarray:
        """Active true features of every sample. -> (N,) int64"""
        return (self.f > 0).sum(axis=1)


class Source:
    """What a dictionary trainer reads: dimensions, ground truth and a batch sampler on one device."""

    d_in: int
    d_out: int
    truth: np.ndarray  # (n_true, d_out) unit rows: the true features' directions in y
    truth_in: np.ndarray  # (n_true_in, d_in) unit rows: the true features' directions in x
    parents: np.ndarray  # (n_true,) int64: parent feature of each feature, −1 for none
    device: torch.device

    @property
    def transcoder(self) -> bool:
        """True when the target is not the input (a transcoder's task)."""
        return False

    @property
    def n_true(self) -> int:
        return len(self.truth)

    def sample(self, batch: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    @torch.no_grad()
    def acts(self, n: int, seed: int = 1, batch: int = 8192) -> Acts:
        """``n`` fresh samples from a generator seeded with ``seed``, on the host."""
        check_range("n", n, 1, 100_000_000, integer=True)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        parts = [self.sample(min(batch, n - s), gen) for s in range(0, n, batch)]
        x, y, f = (torch.cat(p).cpu().numpy() for p in zip(*parts, strict=True))
        return Acts(x, y, f, self.parents.copy())


def unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` scaled to unit norm (a zero row stays zero). float32."""
    a = np.asarray(a, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.where(norms > 0, norms, 1.0)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ synthetic


@dataclass(frozen=True)
class SyntheticConfig(ConfigBase):
    """Synthetic activations with known features (see ``SyntheticSource``).

    Feature i fires with probability ``p_max · (i + 1) ** −zipf`` (Zipf's law; ``zipf=0`` gives every feature
    ``p_max``). ``correlation`` ρ couples the firing of all features through a Gaussian copula with one shared
    latent: feature i fires iff √ρ·s + √(1−ρ)·e_i < Φ⁻¹(p_i), s, e_i ~ N(0, 1), so each keeps its probability while
    pairs co-fire more often for ρ > 0. ``n_parents`` features (the first ones) each get ``children`` child features
    (next in order), which fire only when their parent fires, then with probability ``p_child`` (through the same
    copula). Magnitudes of firing features are U[0, 1] (``uniform``), |N(0, 1)| (``half_normal``) or 1 (``one``).
    Directions: ``n_true`` random unit vectors in ``d_in`` dims from ``seed``.

    ``sparse_draw``: where features fire independently (``correlation`` 0, no hierarchy), draw only the firing
    entries (``SyntheticSource.sample``): the same law from other random numbers, about 4× cheaper on the CPU at
    64 features firing 1-10% of the time. Off by default, which keeps every seed's batches as they were.
    """

    name: ClassVar[str] = "synthetic"

    d_in: int = 16
    n_true: int = 32
    p_max: float = 0.05
    zipf: float = 0.0
    correlation: float = 0.0
    n_parents: int = 0
    children: int = 2
    p_child: float = 0.3
    magnitude: str = "uniform"
    seed: int = 0
    sparse_draw: bool = False

    def __post_init__(self) -> None:
        check_range("d_in", self.d_in, 1, 8192, integer=True)
        check_range("n_true", self.n_true, 1, 65_536, integer=True)
        check_range("p_max", self.p_max, 1e-5, 1.0)
        check_range("zipf", self.zipf, 0.0, 4.0)
        check_range("correlation", self.correlation, 0.0, 0.99)
        check_range("n_parents", self.n_parents, 0, self.n_true, integer=True)
        check_range("children", self.children, 1, 64, integer=True)
        if self.n_parents * (1 + self.children) > self.n_true:
            raise ValueError(
                f"n_parents={self.n_parents} with children={self.children} need "
                f"{self.n_parents * (1 + self.children)} features, but n_true={self.n_true}"
            )
        check_range("p_child", self.p_child, 1e-5, 1.0)
        check_choice("magnitude", self.magnitude, MAGNITUDES)
        check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        if not isinstance(self.sparse_draw, bool):
            raise ValueError(f"sparse_draw={self.sparse_draw!r} must be true or false")


def firing_probabilities(cfg: SyntheticConfig) -> np.ndarray:
    """Marginal firing probability of every feature given its parent (children: ``p_child``), Zipfian otherwise.
    -> (n_true,) float64"""
    p = cfg.p_max * (np.arange(cfg.n_true) + 1.0) ** -cfg.zipf
    p[cfg.n_parents : cfg.n_parents * (1 + cfg.children)] = cfg.p_child
    return p


def hierarchy_parents(cfg: SyntheticConfig) -> np.ndarray:
    """Parent of every feature: children of parent j are ``n_parents + j·children + c``; −1 for none. -> (n,)"""
    parents = np.full(cfg.n_true, -1, dtype=np.int64)
    kids = cfg.n_parents * cfg.children
    parents[cfg.n_parents : cfg.n_parents + kids] = np.repeat(np.arange(cfg.n_parents), cfg.children)
    return parents


def random_directions(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` random unit vectors in ``d`` dims (isotropic Gaussian, normalised). -> (n, d) float32"""
    rng = np.random.default_rng([seed, 16])
    return unit_rows(rng.standard_normal((n, d)))


class SyntheticSource(Source):
    """Samples of ``SyntheticConfig``: x = y = f @ truth."""

    def __init__(self, cfg: SyntheticConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.d_in = self.d_out = cfg.d_in
        self.truth = random_directions(cfg.n_true, cfg.d_in, cfg.seed)
        self.truth_in = self.truth
        self.parents = hierarchy_parents(cfg)
        self.p = firing_probabilities(cfg)
        self._dirs = torch.as_tensor(self.truth, device=self.device)  # (n, d)
        self._thresholds = torch.special.ndtri(torch.as_tensor(self.p, dtype=torch.float32, device=self.device))
        self._child = torch.as_tensor(self.parents >= 0, device=self.device)
        self._parent = torch.as_tensor(np.maximum(self.parents, 0), device=self.device)

        self.sparse = cfg.sparse_draw and cfg.correlation == 0 and cfg.n_parents == 0
        self._log_q = torch.log1p(-torch.as_tensor(self.p, dtype=torch.float64, device=self.device))  # (n,)
        self._slots: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _gap_slots(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For ``sparse_draw``: how many firing gaps to draw per feature for a batch of ``batch`` (its expected
        firings + 6 standard deviations + 8), as (feature of every slot, index of each feature's first slot, each
        feature's slot count), cached per batch size."""
        if self._slots is None or self._slots[0] != batch:
            mean = batch * self.p
            count = np.ceil(mean + 6.0 * np.sqrt(mean * (1.0 - self.p)) + 8.0).astype(np.int64)
            count = np.minimum(count, batch)
            first = np.concatenate([[0], np.cumsum(count)[:-1]])
            dev = self.device
            self._slots = (
                batch,
                torch.as_tensor(np.repeat(np.arange(len(count)), count), device=dev),
                torch.as_tensor(first, device=dev),
                torch.as_tensor(count, device=dev),
            )
        return self._slots[1:]

    def _slot_tables(self, batch: int) -> tuple[torch.Tensor, ...]:
        """What follows from ``_gap_slots``: (feature of every slot, log(1 − p) of every slot's feature, each
        feature's last slot, the slot ending each feature's predecessor (0 for the first)), cached with it."""
        feat, first, count = self._gap_slots(batch)
        if getattr(self, "_tables_of", None) is not self._slots:
            self._tables_of = self._slots
            prev_end = torch.cat([first.new_zeros(1), first[1:] - 1])
            self._tables = (feat, self._log_q[feat], first + count - 1, prev_end)
        return self._tables

    def _firing(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """For ``sparse_draw``: (sample, feature) of every firing entry of a batch, each feature firing in each
        sample independently with its probability p_i. The gaps between a feature's firing samples are i.i.d.
        geometric, ⌊log(1 − U) / log(1 − p_i)⌋ + 1, so the firing samples are the gaps' running sums below
        ``batch``; a feature that runs out of drawn gaps before the batch's end (about 1e-9 a batch) draws more,
        so the law is exact."""
        feat, log_q, last_slot, prev_end = self._slot_tables(batch)
        u = torch.rand(len(feat), generator=generator, device=self.device, dtype=torch.float64)
        gaps = torch.log1p(-u).div_(log_q).floor_().add_(1.0)
        ends = gaps.cumsum(0)
        before = ends[prev_end]  # (n,) the running sum before each feature (the first's is replaced by 0)
        before[0] = 0.0
        pos = ends.sub_(before[feat]).sub_(1.0)  # each slot's sample within its feature
        last = pos[last_slot]  # (n,)
        at = (pos < batch).nonzero().squeeze(1)
        rows, cols = pos[at].long(), feat[at]
        if bool((last < batch - 1).any()):  # rare: continue those features' gap sequences one by one
            short = (last < batch - 1).nonzero().flatten().tolist()
            extra_rows, extra_cols = [rows], [cols]
            for i in short:
                end, more = float(last[i]), []
                while end < batch - 1:
                    u = torch.rand(64, generator=generator, device=self.device, dtype=torch.float64)
                    steps = (torch.floor(torch.log1p(-u) / self._log_q[i]) + 1.0).cumsum(0) + end
                    more.append(steps[steps < batch])
                    end = float(steps[-1])
                r = torch.cat(more).long()
                extra_rows.append(r)
                extra_cols.append(torch.full_like(r, i))
            rows, cols = torch.cat(extra_rows), torch.cat(extra_cols)
        return rows, cols

    def _sample_sparse(self, batch: int, generator: torch.Generator) -> Batch:
        rows, cols = self._firing(batch, generator)
        dev, nnz = self.device, len(rows)
        if self.cfg.magnitude == "uniform":
            m = torch.rand(nnz, generator=generator, device=dev)
        elif self.cfg.magnitude == "half_normal":
            m = torch.randn(nnz, generator=generator, device=dev).abs()
        else:
            m = torch.ones(nnz, device=dev)
        f = torch.zeros(batch, self.cfg.n_true, device=dev)
        f[rows, cols] = m
        x = f @ self._dirs  # (B, d)
        return Batch(x, x, f)

    def sample(self, batch: int, generator: torch.Generator) -> Batch:
        if self.sparse:
            return self._sample_sparse(batch, generator)
        cfg, n = self.cfg, self.cfg.n_true
        e = torch.randn(batch, n, generator=generator, device=self.device)  # (B, n)
        if cfg.correlation > 0:
            s = torch.randn(batch, 1, generator=generator, device=self.device)
            e = math.sqrt(cfg.correlation) * s + math.sqrt(1.0 - cfg.correlation) * e
        fires = e < self._thresholds  # (B, n)
        if cfg.n_parents:
            fires = fires & (~self._child | fires[:, self._parent])  # parents are never children: one pass
        if cfg.magnitude == "uniform":
            m = torch.rand(batch, n, generator=generator, device=self.device)
        elif cfg.magnitude == "half_normal":
            m = torch.randn(batch, n, generator=generator, device=self.device).abs()
        else:
            m = torch.ones(batch, n, device=self.device)
        f = torch.where(fires, m, torch.zeros((), device=self.device))
        x = f @ self._dirs  # (B, d)
        return Batch(x, x, f)


# ------------------------------------------------------------------------------------------------ TMS

TMS_RESTARTS = 4  # seeds trained per TMS source; the lowest-loss one is kept (as the TMS paper did)


def train_tms(n_features: int, n_hidden: int, p: float, steps: int, seed: int) -> Snapshot:
    """A trained single-instance TMS model (ReLU output, uniform importance, feature probability ``p``), the best
    of ``TMS_RESTARTS`` seeds."""
    cfg = TMSConfig(
        n_features=n_features,
        n_hidden=n_hidden,
        n_instances=1,
        p_max=p,
        p_min=p,
        steps=steps,
        seed=seed,
        restarts=TMS_RESTARTS,
        log_every=max(1, steps // 20),
        device="cpu",
    )
    return make_tms_trainer(cfg).run()


class TMSSource(Source):
    """The hidden layer h = W x of instance ``instance`` of a trained TMS model (its snapshot), fed the model's own
    sparse features x. Truth: W's columns (one per feature), unit-normalised; a feature the model left out (zero
    column) keeps a zero row."""

    def __init__(self, snap: Snapshot, instance: int = 0, device: torch.device | str = "cpu") -> None:
        if snap.toy != "tms":
            raise ValueError(f"need a tms snapshot, got toy={snap.toy!r}")
        cfg = TMSConfig.from_dict(snap.config)
        check_range("instance", instance, 0, cfg.n_instances - 1, integer=True)
        self.device = torch.device(device)
        p = float(probability_matrix(cfg)[instance, 0])
        one = cfg.replace(n_instances=1, restarts=1, p_values=repr(p), p_max=p, p_min=p)
        self.sampler = FeatureSampler(one, self.device)
        self.W = np.asarray(snap["W"][instance], dtype=np.float32)  # (H, F)
        self._W = torch.as_tensor(self.W, device=self.device)
        self.d_in = self.d_out = cfg.n_hidden
        self.truth = self.truth_in = unit_rows(self.W.T)
        self.parents = np.full(cfg.n_features, -1, dtype=np.int64)

    def sample(self, batch: int, generator: torch.Generator) -> Batch:
        f = self.sampler.sample(batch, generator)[0]  # (B, F)
        h = f @ self._W.T  # (B, H)
        return Batch(h, h, f)


# ------------------------------------------------------------------------------------------------ circuits


class CircuitsSource(Source):
    """The MLP of a trained planted-circuits model as a transcoder's task: x = r = E x_feat (d_model), y = the MLP's
    output (O). Truth: the O output axes (output o is one circuit's computation), with the true outputs as feature
    activations f; ``truth_in``: E's columns, the input features' directions in r."""

    def __init__(self, snap: Snapshot, device: torch.device | str = "cpu") -> None:
        self.model = FrozenCircuits(snap, device)
        self.device = self.model.device
        mc = self.model.cfg
        self.d_in, self.d_out = mc.d_model, mc.n_outputs
        self.truth = np.eye(mc.n_outputs, dtype=np.float32)
        self.truth_in = unit_rows(np.asarray(snap["E"]).T)
        self.parents = np.full(mc.n_outputs, -1, dtype=np.int64)

    @property
    def transcoder(self) -> bool:
        return True

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator) -> Batch:
        feats, target = self.model.sampler.sample(batch, generator)  # (B, F), (B, O)
        r = feats @ self.model.E.T  # (B, d_model)
        return Batch(r, mlp_forward(self.model.params, r)[1], target)


def train_circuits(cfg: CircuitsConfig) -> Snapshot:
    """A trained planted-circuits model (``toys.circuits.planted.CircuitsTrainer``)."""
    return CircuitsTrainer(cfg).run()
