"""Recover the circuits of the circuits model from its transcoder's latent co-activations, and score the recovery.

Pipeline: train the circuits model (``toys.circuits.planted``) -> train a transcoder on its MLP (``toys.circuits.transcoder``) ->
collect latent activations -> count co-activations (``fastcore.coactivation``) -> cluster the live latents ->
score against each latent's true circuit, read off its weights.

Clustering methods: ``components`` and ``average`` run numba kernels (``fastcore.cluster``); ``spectral`` and
``agglomerative`` are scikit-learn's, beside them for comparison. All work on one similarity (Jaccard, phi or
NPMI) of the co-activation counts, with distance 1 − similarity where a method wants distances.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp

from fastcore import cluster as fc
from fastcore import coactivation as co
from toys.circuits.planted import CircuitsConfig, CircuitsTrainer, circuits_transient_bytes
from toys.circuits.transcoder import TranscoderConfig, TranscoderTrainer, collect_activations, dead_latents
from toys.core.composite import Sequential, check_parts, pack, part_of, unpack
from toys.core.config import ConfigBase, check_choice, check_range
from toys.core.memory import HELD_SNAPSHOTS, Cost, estimate, logged_steps
from toys.core.saved import register
from toys.core.snapshot import Snapshot

METHODS = ("average", "components", "spectral", "agglomerative")
METHOD_LABELS = {
    "average": "average linkage (numba)",
    "components": "thresholded components (numba)",
    "spectral": "spectral (scikit-learn)",
    "agglomerative": "average linkage (scikit-learn)",
}
SIMILARITIES = ("jaccard", "phi", "npmi")
STAGES = ("model", "transcoder", "done")  # what a pipeline trains next, by stage index
SIZE_SLACK = 1.5  # components without a threshold: largest cluster at most 1.5 × (live latents / clusters)

# ------------------------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class PipelineConfig(ConfigBase):
    """The circuits model and its transcoder, trained one after the other. Flat dict: the circuits fields as they
    are, the transcoder's prefixed ``tc_``. The transcoder trains on the circuits model's device."""

    name: ClassVar[str] = "circuit_pipeline"

    circuits: CircuitsConfig = field(default_factory=CircuitsConfig)
    transcoder: TranscoderConfig = field(default_factory=TranscoderConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.circuits, CircuitsConfig) or not isinstance(self.transcoder, TranscoderConfig):
            raise ValueError("circuits must be a CircuitsConfig and transcoder a TranscoderConfig")
        if self.transcoder.log_every != self.circuits.log_every:
            raise ValueError(f"tc_log_every={self.transcoder.log_every} must equal log_every={self.circuits.log_every}")

    def to_dict(self) -> dict[str, Any]:
        return self.circuits.to_dict() | {f"tc_{k}": v for k, v in self.transcoder.to_dict().items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineConfig:
        tc = {k.removeprefix("tc_"): v for k, v in d.items() if k.startswith("tc_")}
        return cls(
            CircuitsConfig.from_dict({k: v for k, v in d.items() if not k.startswith("tc_")}),
            TranscoderConfig.from_dict(tc),
        )

    @property
    def steps(self) -> int:
        return self.circuits.steps + self.transcoder.steps

    @property
    def seed(self) -> int:
        return self.circuits.seed

    @property
    def device(self) -> str:
        return self.circuits.device

    @property
    def log_every(self) -> int:
        return self.circuits.log_every


@estimate.register(PipelineConfig)
def pipeline_cost(cfg: PipelineConfig) -> Cost:
    """Training cost of a pipeline: the circuits model alone, then the transcoder beside the trained model (which
    stays, without its step's temporaries), whichever holds more; each snapshot also stacks both loss curves. A step
    is one stage's step: the larger of the two. Knobs of the transcoder carry the flat dict's ``tc_`` prefix."""
    model = estimate(cfg.circuits)
    tc = estimate(cfg.transcoder, model=cfg.circuits)
    stacked = HELD_SNAPSHOTS * 16 * (logged_steps(cfg.circuits) + logged_steps(cfg.transcoder))  # float64, int64
    second = model.bytes - circuits_transient_bytes(cfg.circuits) + tc.bytes + stacked
    return Cost(
        max(model.bytes, second),
        max(model.flops, tc.flops),
        model.knobs + tuple(f"tc_{k}" for k in tc.knobs),
    )


@dataclass(frozen=True)
class ClusterConfig(ConfigBase):
    """How to cluster the latents (analysis only: changing it retrains nothing).

    threshold: similarity above which latents join (0: not set; then ``components`` picks the threshold by bisection
    for a largest cluster of ``SIZE_SLACK`` × live latents / n_clusters, the linkage methods cut to n_clusters).
    n_clusters: for spectral always, for the others when threshold is 0; 0 means the true number of circuits.
    min_fires: latents firing on fewer samples are left out as dead.
    """

    name: ClassVar[str] = "cluster"

    method: str = "average"
    similarity: str = "jaccard"
    threshold: float = 0.1
    n_clusters: int = 0
    n_samples: int = 50_000
    min_fires: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_choice("similarity", self.similarity, SIMILARITIES)
        check_range("threshold", self.threshold, 0.0, 1.0)
        check_range("n_clusters", self.n_clusters, 0, 4096, integer=True)
        check_range("n_samples", self.n_samples, 100, 10_000_000, integer=True)
        check_range("min_fires", self.min_fires, 1, 1_000_000, integer=True)
        if self.min_fires > self.n_samples:
            raise ValueError(f"min_fires={self.min_fires} is out of range: allowed [1, n_samples={self.n_samples}]")
        check_range("seed", self.seed, 0, 2**31 - 1, integer=True)


# ----------------------------------------------------------------------------------------------- training


class PipelineTrainer(Sequential):
    """Trains the circuits model, then (from its final snapshot) the transcoder, as one run of steps.

    Snapshot: the parts ``model`` and ``transcoder`` (once it exists), packed as every composite packs them
    (``toys.core.composite.pack``); its loss (n, 1) is the running stage's loss (the model's MSE up to its last step,
    then the transcoder's loss); ``extras["stage"]`` is "model", "transcoder" or "done".
    """

    toy = "circuit_pipeline"

    def __init__(self, cfg: PipelineConfig) -> None:
        super().__init__(cfg, CircuitsTrainer(cfg.circuits), n_parts=2)
        self.model = self.parts[0]

    def _next_part(self, i: int) -> TranscoderTrainer:
        tc = self.cfg.transcoder.replace(device=str(self.model.device.type))
        return TranscoderTrainer(tc, self.model.snapshot())

    @property
    def transcoder(self) -> TranscoderTrainer | None:
        return self.parts[1] if len(self.parts) > 1 else None

    @property
    def stage(self) -> str:
        return STAGES[self.stage_index]

    def load_snapshot(self, snap: Snapshot) -> None:
        """Load a saved pipeline: the circuits model, then the transcoder if the file holds one (built from the
        loaded model, as training builds it)."""
        if snap.config != self.cfg.to_dict():
            raise ValueError("the file's config is not this pipeline's config")
        check_parts(snap, ("model", "transcoder"))
        model_steps = self.cfg.circuits.steps
        with_tc = any(k.startswith("transcoder/") for k in snap.arrays)
        if snap.step < model_steps and with_tc:
            raise ValueError(f"the file holds a transcoder at step {snap.step}, before the model's {model_steps} steps")
        if snap.step > model_steps and not with_tc:
            raise ValueError(f"the file holds no transcoder at step {snap.step}, past the model's {model_steps} steps")
        self.model.load_snapshot(part_of(snap, "model", self.model, min(snap.step, model_steps)))
        if with_tc:
            self.parts = (self.model, self._next_part(1))
            self.parts[1].load_snapshot(part_of(snap, "transcoder", self.parts[1], snap.step - model_steps))

    def snapshot(self) -> Snapshot:
        m = self.model.snapshot()
        parts = {"model": m}
        loss, steps = m.loss, m.loss_steps
        if self.transcoder is not None:
            t = parts["transcoder"] = self.transcoder.snapshot()
            loss = np.vstack([loss, t.loss[:, :1]])
            steps = np.concatenate([steps, self.cfg.circuits.steps + t.loss_steps])
        return pack(self.toy, self.cfg.to_dict(), self.step, loss, steps, parts, stage=self.stage)


register("circuit_pipeline", PipelineConfig, PipelineTrainer)


def split_snapshot(snap: Snapshot) -> tuple[Snapshot, Snapshot | None]:
    """A pipeline snapshot -> (circuits model snapshot, transcoder snapshot or None before the transcoder starts)."""
    parts = unpack(snap)
    return parts["model"], parts.get("transcoder")


# -------------------------------------------------------------------------------------------- ground truth


class LatentTruth(NamedTuple):
    circuit: np.ndarray  # (n_latents,) int64: the circuit each latent's weights point at most
    share: np.ndarray  # (n_latents, T): each circuit's share of the latent's encoder + decoder weight (sums to 1)


def latent_circuits(model: Snapshot, transcoder: Snapshot) -> LatentTruth:
    """Each latent's true circuit: where its encoder reads (weights on the circuits' features, through E) and its
    decoder writes (weights on the circuits' outputs), as shares of squared weight per circuit, averaged."""
    E, fc_, oc = model["E"], model["feature_circuit"], model["output_circuit"]
    T = int(fc_.max()) + 1
    enc = (transcoder["W_enc"] @ E) ** 2  # (n, F)
    dec = transcoder["W_dec"] ** 2  # (n, O)
    enc_c = np.stack([enc[:, fc_ == c].sum(1) for c in range(T)], axis=1)
    dec_c = np.stack([dec[:, oc == c].sum(1) for c in range(T)], axis=1)
    share = 0.5 * (
        enc_c / np.maximum(enc_c.sum(1, keepdims=True), 1e-12) + dec_c / np.maximum(dec_c.sum(1, keepdims=True), 1e-12)
    )
    return LatentTruth(share.argmax(1).astype(np.int64), share)


# ------------------------------------------------------------------------------------------ clustering


def _n_clusters(cfg: ClusterConfig, n_true: int, n_live: int) -> int:
    return max(1, min(n_live, cfg.n_clusters or n_true))


def cluster(S: np.ndarray, cfg: ClusterConfig, n_true: int) -> np.ndarray:
    """Labels (n,) of the n latents with similarity S (n, n) by ``cfg.method`` (see ``ClusterConfig``)."""
    from sklearn.cluster import AgglomerativeClustering, SpectralClustering  # here: a second of import time

    n = S.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    k = _n_clusters(cfg, n_true, n)
    t = cfg.threshold
    D = 1.0 - S
    np.fill_diagonal(D, 0.0)
    if cfg.method == "components":
        if t > 0:
            return fc.threshold_components(S, t)
        return fc.components_by_size(S, max(1, math.ceil(SIZE_SLACK * n / k))).labels
    if cfg.method == "average":
        return fc.agglomerative(D, max_height=1.0 - t) if t > 0 else fc.agglomerative(D, n_clusters=k)
    if cfg.method == "agglomerative":
        model = (
            AgglomerativeClustering(
                n_clusters=None, distance_threshold=1.0 - t, metric="precomputed", linkage="average"
            )
            if t > 0
            else AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average")
        )
        return model.fit_predict(D).astype(np.int64)
    affinity = np.clip(S, 0.0, None)
    np.fill_diagonal(affinity, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph is not fully connected": expected when circuits are separate
        model = SpectralClustering(
            n_clusters=k, affinity="precomputed", assign_labels="cluster_qr", random_state=cfg.seed
        )
        return model.fit_predict(affinity).astype(np.int64)


def purity(true: np.ndarray, pred: np.ndarray) -> float:
    """Fraction of items whose cluster's most common true label is their own."""
    if len(true) == 0:
        return math.nan
    total = 0
    for c in np.unique(pred):
        total += np.bincount(true[pred == c]).max()
    return total / len(true)


def scores(true: np.ndarray, pred: np.ndarray, n_true: int) -> dict[str, float]:
    """ARI, AMI (scikit-learn), purity, clusters found (and those of two or more latents) vs true circuits."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    true, pred = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    if len(true) == 0:
        return {"ari": math.nan, "ami": math.nan, "purity": math.nan, "found": 0, "found_2plus": 0, "true": n_true}
    sizes = np.bincount(pred)
    return {
        "ari": float(adjusted_rand_score(true, pred)),
        "ami": float(adjusted_mutual_info_score(true, pred)),
        "purity": float(purity(true, pred)),
        "found": int((sizes > 0).sum()),
        "found_2plus": int((sizes > 1).sum()),
        "true": int(n_true),
    }


# ------------------------------------------------------------------------------------------------ analysis


@dataclass
class Analysis:
    """Everything the page shows after training: counts, similarity, truth, labels and scores of every method."""

    counts: np.ndarray  # (L, L) int64 co-occurrence of all latents
    n_samples: int
    live: np.ndarray  # (L,) bool: fired at least min_fires times
    similarity: np.ndarray  # (n_live, n_live)
    truth: np.ndarray  # (n_live,) true circuit
    labels: dict[str, np.ndarray]  # method -> (n_live,) labels
    scores: dict[str, dict[str, float]]  # method -> scores
    fired: np.ndarray  # (L,) firing frequency
    dead_in_training: np.ndarray  # (L,) bool
    nmse: float
    l0: float
    seconds: dict[str, float]  # stage -> wall time


def analyse_activations(
    X: sp.csr_matrix, truth: np.ndarray, n_true: int, cfg: ClusterConfig, methods: tuple[str, ...] = METHODS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, dict], dict]:
    """Count, cluster the live latents by every method in ``methods`` and score them against ``truth`` (L,).

    -> (counts (L, L), live (L,), similarity (n_live, n_live), labels by method, scores by method, seconds).
    """
    seconds = {}
    t0 = time.perf_counter()
    C = co.cooccurrence(X)
    seconds["count"] = time.perf_counter() - t0
    live = np.diag(C) >= cfg.min_fires
    t0 = time.perf_counter()
    S = co.similarity(C[np.ix_(live, live)], X.shape[0], cfg.similarity)
    seconds["similarity"] = time.perf_counter() - t0
    labels, result = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        labels[method] = cluster(S, dataclasses.replace(cfg, method=method), n_true)
        seconds[method] = time.perf_counter() - t0
        result[method] = scores(truth[live], labels[method], n_true)
    return C, live, S, labels, result, seconds


def analyse(
    model: Snapshot, transcoder: Snapshot, cfg: ClusterConfig, device: str = "cpu", methods: tuple[str, ...] = METHODS
) -> Analysis:
    """Collect activations of a trained model + transcoder, count, cluster by every method, score."""
    t0 = time.perf_counter()
    X, stats = collect_activations(model, transcoder, cfg.n_samples, seed=cfg.seed + 1, device=device)
    t_collect = time.perf_counter() - t0
    truth = latent_circuits(model, transcoder).circuit
    n_true = CircuitsConfig.from_dict(model.config).n_circuits
    C, live, S, labels, result, seconds = analyse_activations(X, truth, n_true, cfg, methods)
    return Analysis(
        C,
        cfg.n_samples,
        live,
        S,
        truth[live],
        labels,
        result,
        stats["fired"],
        dead_latents(transcoder),
        stats["nmse"],
        stats["l0"],
        {"collect": t_collect, **seconds},
    )


def run_pipeline(cfg: PipelineConfig, cluster_cfg: ClusterConfig = ClusterConfig()) -> tuple[Snapshot, Analysis]:
    """Train both stages to the end and analyse: the whole pipeline, for notebooks and tests."""
    trainer = PipelineTrainer(cfg)
    snap = trainer.run()
    model, transcoder = split_snapshot(snap)
    return snap, analyse(model, transcoder, cluster_cfg, device=str(trainer.device.type))


# ---------------------------------------------------------------------------------------- planted clusters


def planted_activations(
    n_samples: int,
    n_clusters: int,
    cluster_size: int,
    p_cluster: float = 0.1,
    p_fire: float = 0.5,
    p_noise: float = 0.002,
    seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Synthetic latent firings with planted clusters: each cluster is active on a sample with probability
    ``p_cluster``; then each of its latents fires with probability ``p_fire``; every latent also fires at random
    with probability ``p_noise``. Latents are shuffled. -> (X (n_samples, n_clusters·cluster_size) CSR, labels)."""
    rng = np.random.default_rng(seed)
    L = n_clusters * cluster_size
    labels = rng.permutation(np.repeat(np.arange(n_clusters), cluster_size))
    active = rng.random((n_samples, n_clusters)) < p_cluster  # (n, K)
    fired = (active[:, labels] & (rng.random((n_samples, L)) < p_fire)) | (rng.random((n_samples, L)) < p_noise)
    return sp.csr_matrix(fired.astype(np.float32)), labels.astype(np.int64)
