"""Sparse dictionaries (SAEs and transcoders) trained on a source with known features (``toys.decomp.sources``).

    z = σ(W_enc (x − c) + b_enc)   (latents)        ŷ = zᵀ W_dec + b_dec   (target)

with c = b_dec for an SAE (Bricken et al., 2023) and a separate b_pre for a transcoder (input ≠ target; Dunefsky,
Chlenski & Nanda, 2024). Decoder rows are kept at unit norm after every step. The loss of an instance is
‖ŷ − y‖² (summed over the target's dims, mean over the batch) plus its sparsity term. σ, by ``arch``:

- ``relu_l1``: ReLU, with the penalty λ Σ z (= λ Σ z‖d‖ at unit decoder norms; Bricken et al., 2023).
- ``topk``: the k largest pre-activations kept, then ReLU (Gao et al., 2024); no penalty.
- ``batchtopk``: the B·k largest pre-activations over the whole batch kept (Bussmann, Leask & Nanda, 2024); no
  penalty. At inference a fixed threshold replaces the batch: the running mean of the smallest kept activation.
- ``jumprelu``: z = pre · H(pre − θ), θ = exp(log θ) learned per latent, penalty λ Σ H(pre − θ) (L0). The step has
  no gradient, so θ learns through the straight-through pseudo-derivatives of Rajamanoharan et al. (2024),
  "Jumping Ahead", with a rectangle kernel K of width ε (``bandwidth``):
  ∂JumpReLU/∂θ = −(θ/ε) K((pre − θ)/ε), ∂H/∂θ = −(1/ε) K((pre − θ)/ε); ∂/∂pre is H(pre − θ) and 0.

Several dictionaries train at once as instances (a leading dimension, as in every trainer here): every width in
``widths`` × every penalty in ``penalties`` (or k in ``ks`` for the TopK kinds), all reading the same batches.
Narrower instances are padded to the widest one with latents that never fire and never learn. Initialisation comes
from numpy's generator, whose draws for a (w, d) block are the first rows of a wider block's, and resampling
draws from a sequence that does not depend on how many instances share the run, so an instance trains exactly as
it would alone with the same seed. Decoder rows start as random unit vectors; encoder rows as the decoder's
(``encoder_from_decoder``; Conerly et al., 2024), or their own random unit vectors (always, for a transcoder).

TopK and BatchTopK train with the AuxK dead-latent loss of Gao et al. (2024), "Scaling and evaluating sparse
autoencoders" (``aux_k_coef`` α, default 1/32 as theirs; 0 turns it off; sae-lens's TopK uses 1): a latent is dead
when it has not fired for ``dead_steps`` steps, and while an instance has dead latents its objective adds
α · s · ‖e − ê‖², where e = y − ŷ is the main reconstruction's error (held fixed), ê = z_auxᵀ W_dec with z_aux the
``aux_k`` (default d_out/2) largest pre-activations among the dead latents of each sample, kept as they are, and
s = min(dead / k_aux, 1) (as sae-lens). Its gradient reaches latents that never fire, which nothing else does.
The logged loss of an instance is its whole objective, AuxK included.

relu_l1, topk and batchtopk run a hand-written backward pass (``hand_pass``, checked against autograd in
tests/test_sae_grad.py); jumprelu runs autograd (``autograd_pass``). On the CPU those three take the whole step in one
numba kernel instead (``fastcore.sae``: forward, selection, backward, Adam on torch's optimizer state, unit decoder
rows; engine "numba"), except a step whose batch resampling reads; while that kernel compiles in the background
(``fastcore.warm``) they train with ``hand_pass`` and switch over when it is ready (``upgrade_engine``). On the CPU
TopK's selection in ``hand_pass`` peels the k largest values off with elementwise ops (``topk_by_peeling``) instead
of ``torch.topk``. Adam is torch's fused one.

Dead latents can be resampled (``resample_every`` > 0; Bricken et al., 2023): every ``resample_every`` steps each
latent that has not fired for ``dead_steps`` steps gets, from a batch sample drawn with probability ∝ its squared
error, the sample's residual (y − ŷ) as decoder row and its centred input, scaled to 0.2 × the mean live encoder
norm, as encoder row; its bias (threshold) and Adam moments restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from fastcore import warm
from fastcore.sae import SAEStep
from toys.circuits.planted import CircuitsConfig, param_count
from toys.core.config import TrainingConfig, check_choice, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, param_arrays, set_lr
from toys.decomp.sources import (
    MAGNITUDES,
    TMS_RESTARTS,
    CircuitsSource,
    Source,
    SyntheticConfig,
    SyntheticSource,
    TMSSource,
    train_circuits,
    train_tms,
    unit_rows,
)
from toys.tms.config import TMSConfig

ARCHS = ("relu_l1", "topk", "batchtopk", "jumprelu")
TOPK_ARCHS = ("topk", "batchtopk")
SOURCES = ("synthetic", "tms", "circuits")
FUNCTIONS = ("abs", "and")
MAX_INSTANCES = 1024
INIT_SAMPLES = 4096  # samples whose means set the initial decoder (and transcoder input) biases
RESAMPLE_ENCODER_SCALE = 0.2  # a resampled encoder row's norm, relative to the live rows' mean (Bricken et al.)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def parse_list(name: str, text: str, kind: type, lo: float, hi: float) -> list:
    """'16, 32' -> [16, 32]: comma-separated values of ``kind`` in [lo, hi]; ValueError naming the field."""
    try:
        values = [kind(float(part)) if kind is int else kind(part) for part in text.split(",")]
        if kind is int and any(float(p) != int(float(p)) for p in text.split(",")):
            raise ValueError
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated {kind.__name__}s in [{lo}, {hi}]") from None
    for v in values:
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"{name}={text!r} holds {v}, out of range: allowed [{lo}, {hi}]")
    return values


@dataclass(frozen=True)
class SAEConfig(TrainingConfig):
    """Dictionaries trained on a source with known features (see the module docstring and ``sources``).

    Source (``source``): ``synthetic`` reads ``d_in``, ``n_true``, ``p_max``, ``zipf``, ``correlation``,
    ``n_parents``, ``children``, ``p_child``, ``magnitude`` (``SyntheticConfig``); ``tms`` trains a TMS model of
    ``n_true`` features in ``d_in`` hidden dims at feature probability ``p_max`` for ``model_steps`` steps and reads
    its hidden layer; ``circuits`` trains a planted-circuits model of ``n_true`` input features in circuits of
    ``circuit_size`` computing ``function``, embedded in ``d_in`` dims with ``n_neurons`` neurons, each circuit
    active with probability ``p_max``, and trains transcoders of its MLP. ``source_seed`` seeds the source
    (directions, the model's training); ``seed`` the dictionaries and the batches.

    Dictionaries: ``arch`` in ``ARCHS``; widths ``widths`` ('16,32'; empty: ``n_latents``) × penalties
    ``penalties`` (empty: ``penalty``; λ of relu_l1 and jumprelu) or ks ``ks`` (empty: ``k``; topk, batchtopk)
    make the instances, width-major. ``aux_k_coef`` and ``aux_k`` (0: d_out/2) set the AuxK loss of topk and
    batchtopk (module docstring); latents count as dead after ``dead_steps`` steps without firing, for AuxK and
    for resampling.
    """

    name: ClassVar[str] = "sae"

    source: str = "synthetic"
    d_in: int = 16
    n_true: int = 32
    p_max: float = 0.05
    zipf: float = 0.0
    correlation: float = 0.0
    n_parents: int = 0
    children: int = 2
    p_child: float = 0.3
    magnitude: str = "uniform"
    circuit_size: int = 2
    function: str = "abs"
    n_neurons: int = 16
    model_steps: int = 5000
    source_seed: int = 0
    arch: str = "relu_l1"
    n_latents: int = 32
    widths: str = ""
    penalty: float = 0.01
    penalties: str = ""
    k: int = 4
    ks: str = ""
    bandwidth: float = 0.001
    threshold_init: float = 0.001
    encoder_from_decoder: bool = True
    resample_every: int = 0
    dead_steps: int = 500
    aux_k_coef: float = 1.0 / 32.0
    aux_k: int = 0
    batch_size: int = 1024
    steps: int = 5000
    lr: float = 1e-3

    def __post_init__(self) -> None:
        check_choice("source", self.source, SOURCES)
        if self.source == "synthetic":
            self.synthetic()  # its own checks
        elif self.source == "tms":
            self.tms()
        else:
            self.circuits()
        check_range("model_steps", self.model_steps, 1, 1_000_000, integer=True)
        check_range("source_seed", self.source_seed, 0, 2**31 - 1, integer=True)
        check_choice("arch", self.arch, ARCHS)
        check_range("n_latents", self.n_latents, 1, 65_536, integer=True)
        check_range("penalty", self.penalty, 0.0, 100.0)
        check_range("k", self.k, 1, 4096, integer=True)
        for name in ("widths", "penalties", "ks"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}={getattr(self, name)!r} must be text: comma-separated values")
        widths, knobs = self.widths_list, self.knob_list
        if len(widths) * len(knobs) > MAX_INSTANCES:
            raise ValueError(
                f"widths × {'ks' if self.arch in TOPK_ARCHS else 'penalties'} make "
                f"{len(widths) * len(knobs)} instances: allowed at most {MAX_INSTANCES}"
            )
        if self.arch in TOPK_ARCHS and max(knobs) > min(widths):
            raise ValueError(f"k={max(knobs)} is out of range: allowed [1, the narrowest width {min(widths)}]")
        check_range("bandwidth", self.bandwidth, 1e-6, 10.0)
        check_range("threshold_init", self.threshold_init, 1e-6, 100.0)
        if not isinstance(self.encoder_from_decoder, bool):
            raise ValueError(f"encoder_from_decoder={self.encoder_from_decoder!r} must be true or false")
        check_range("resample_every", self.resample_every, 0, 10_000_000, integer=True)
        check_range("dead_steps", self.dead_steps, 1, 10_000_000, integer=True)
        check_range("aux_k_coef", self.aux_k_coef, 0.0, 100.0)
        check_range("aux_k", self.aux_k, 0, 65_536, integer=True)
        super().__post_init__()

    @property
    def widths_list(self) -> list[int]:
        return parse_list("widths", self.widths, int, 1, 65_536) if self.widths else [self.n_latents]

    @property
    def knob_list(self) -> list:
        """The swept sparsity knob: ks for the TopK kinds, penalties λ otherwise."""
        if self.arch in TOPK_ARCHS:
            return parse_list("ks", self.ks, int, 1, 4096) if self.ks else [self.k]
        return parse_list("penalties", self.penalties, float, 0.0, 100.0) if self.penalties else [self.penalty]

    @property
    def grid(self) -> list[tuple[int, Any]]:
        """(width, penalty or k) of every instance, width-major."""
        return [(w, v) for w in self.widths_list for v in self.knob_list]

    @property
    def n_instances(self) -> int:
        return len(self.grid)

    @property
    def max_width(self) -> int:
        return max(self.widths_list)

    @property
    def transcoder(self) -> bool:
        return self.source == "circuits"

    @property
    def aux_on(self) -> bool:
        """Whether the AuxK dead-latent loss trains (TopK kinds with ``aux_k_coef`` > 0)."""
        return self.arch in TOPK_ARCHS and self.aux_k_coef > 0

    @property
    def aux_k_used(self) -> int:
        """k_aux: ``aux_k``, or half the target's dims (Gao et al., 2024, appendix B.1) when 0; at most the width."""
        return min(self.aux_k or max(1, self.d_out // 2), self.max_width)

    @property
    def d_out(self) -> int:
        return self.circuits().n_outputs if self.transcoder else self.d_in

    def synthetic(self) -> SyntheticConfig:
        return SyntheticConfig(
            d_in=self.d_in,
            n_true=self.n_true,
            p_max=self.p_max,
            zipf=self.zipf,
            correlation=self.correlation,
            n_parents=self.n_parents,
            children=self.children,
            p_child=self.p_child,
            magnitude=self.magnitude,
            seed=self.source_seed,
        )

    def tms(self) -> TMSConfig:
        """The config of the TMS model this reads (one instance; ``train_tms`` adds its restarts)."""
        return TMSConfig(
            n_features=self.n_true,
            n_hidden=self.d_in,
            n_instances=1,
            p_max=self.p_max,
            p_min=self.p_max,
            steps=self.model_steps,
            seed=self.source_seed,
            log_every=max(1, self.model_steps // 20),
            device="cpu",
        )

    def circuits(self) -> CircuitsConfig:
        """The config of the planted-circuits model whose MLP this reads."""
        if self.n_true % self.circuit_size:
            raise ValueError(
                f"n_true={self.n_true} must be a multiple of circuit_size={self.circuit_size} for source='circuits'"
            )
        return CircuitsConfig(
            n_circuits=self.n_true // self.circuit_size,
            circuit_size=self.circuit_size,
            function=self.function,
            p_circuit=self.p_max,
            d_model=self.d_in,
            n_neurons=self.n_neurons,
            steps=self.model_steps,
            seed=self.source_seed,
            log_every=max(1, self.model_steps // 20),
            device="cpu",
        )


def make_source(cfg: SAEConfig, device: torch.device | str = "cpu") -> Source:
    """The config's source on ``device``; for tms and circuits this trains the model first (on the CPU)."""
    if cfg.source == "synthetic":
        return SyntheticSource(cfg.synthetic(), device)
    if cfg.source == "tms":
        return TMSSource(train_tms(cfg.n_true, cfg.d_in, cfg.p_max, cfg.model_steps, cfg.source_seed), 0, device)
    return CircuitsSource(train_circuits(cfg.circuits()), device)


# ------------------------------------------------------------------------------------------------ cost


def source_setup_flops(cfg: SAEConfig) -> int:
    """Work of training the source's model before the dictionaries' first step: its steps × the estimated work of
    one (all its restarts, for tms); 0 for a synthetic source."""
    if cfg.source == "synthetic":
        return 0
    model = cfg.tms().replace(restarts=TMS_RESTARTS) if cfg.source == "tms" else cfg.circuits()
    return estimate(model).flops * model.steps


def source_cost(cfg: SAEConfig) -> tuple[int, int, int, int]:
    """(bytes held while the dictionaries train, bytes of drawing one batch, flops of one batch, peak bytes of
    training the source's model first, 0 for synthetic)."""
    B, n, d = cfg.batch_size, cfg.n_true, cfg.d_in
    if cfg.source == "synthetic":
        held = FLOAT_BYTES * (2 * n * d + 4 * n) + 8 * 3 * n
        return held, FLOAT_BYTES * B * (6 * n + d), 2 * B * n * d + 12 * B * n, 0
    if cfg.source == "tms":
        tms = cfg.tms().replace(restarts=TMS_RESTARTS)
        held = FLOAT_BYTES * (3 * n * d + 2 * n) + 8 * n
        return held, FLOAT_BYTES * B * (6 * n + d), 2 * B * n * d + 10 * B * n, estimate(tms).bytes
    model = cfg.circuits()
    F, O, N = model.n_features, model.n_outputs, model.n_neurons
    held = FLOAT_BYTES * (param_count(model) + 2 * d * F + O * O) + 8 * O
    batch = FLOAT_BYTES * B * (5 * F + 4 * O + 2 * model.n_circuits + d + 2 * N)
    flops = 2 * B * (F * d + d * N + N * O) + 20 * B * (F + N + O)
    return held, batch, flops, estimate(model).bytes


@estimate.register(SAEConfig)
def sae_cost(cfg: SAEConfig) -> Cost:
    """Training cost of ``cfg``'s dictionaries: every instance padded to the widest, trained (by autograd or the
    hand-written backward pass, which holds less) on one shared batch per step, after the source's model (tms,
    circuits) trained alone.

    Per instance and sample, a step holds about 10 floats per latent (pre-activations, latents, their masks and
    gradients), 6 per target dim (reconstruction, error, gradients) and 2 per input dim (the centred input and its
    gradient); TopK adds the kept values and int64 indices (k per sample; BatchTopK sorts B·k per instance).
    Per step: 6·I·B·W·(d_in + d_out) flops of matrix products (forward and backward, encoder and decoder), and
    6·I·B·W·d_out more for AuxK (topk, batchtopk) while latents are dead.
    """
    I, W, B, din, dout = cfg.n_instances, cfg.max_width, cfg.batch_size, cfg.d_in, cfg.d_out
    kmax = max(cfg.knob_list) if cfg.arch in TOPK_ARCHS else 0
    extra = (din if cfg.transcoder else 0) + (W if cfg.arch == "jumprelu" else 0)
    params = I * (W * (din + dout) + W + dout + extra)
    held_src, batch_src, flops_src, model_bytes = source_cost(cfg)
    held = held_src + FLOAT_BYTES * I * (3 * W + 1)  # since_fired, latent mask, penalties, batchtopk threshold
    step = FLOAT_BYTES * I * B * (10 * W + 6 * dout + 2 * din + 2) + 12 * I * B * kmax + FLOAT_BYTES * B * (din + dout)
    init = 8 * 3 * W * (din + dout) + FLOAT_BYTES * INIT_SAMPLES * (din + dout) + batch_src * INIT_SAMPLES // B
    resample = FLOAT_BYTES * I * (3 * B + 4 * W * (din + dout)) if cfg.resample_every else 0
    transient = max(step + batch_src + resample, init)
    arrays = FLOAT_BYTES * (cfg.n_true * dout + cfg.n_true * din + 2 * I * W)  # truth, truth_in, since_fired, mask
    own = trainer_bytes(cfg, I, params, held, transient, arrays)
    aux = 6 * I * B * W * dout + 10 * I * B * W if cfg.aux_on else 0  # AuxK's three products, while latents are dead
    flops = 6 * I * B * W * (din + dout) + 30 * I * B * W + 20 * I * B * dout + aux + flops_src + ADAM_FLOPS * params
    return Cost(
        max(own, model_bytes + held_src + 2**20),
        flops,
        ("batch_size", "n_latents", "widths", "penalties", "ks", "n_true", "d_in", "model_steps", "steps", "log_every"),
        setup_flops=source_setup_flops(cfg),
        setup_knobs=("model_steps", "n_true", "d_in") + (("n_neurons",) if cfg.source == "circuits" else ()),
    )


# ------------------------------------------------------------------------------------------------ JumpReLU


def rectangle(u: torch.Tensor) -> torch.Tensor:
    """The kernel K(u) = 1 on (−½, ½), else 0."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    """pre · H(pre − θ); ∂/∂pre = H(pre − θ), ∂/∂θ = −(θ/ε) K((pre − θ)/ε) (Rajamanoharan et al., 2024, eq. 11)."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return pre * (pre > theta)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, theta = ctx.saved_tensors
        d_theta = -(theta / ctx.eps) * rectangle((pre - theta) / ctx.eps) * grad
        return (pre > theta) * grad, d_theta.sum_to_size(theta.shape), None


class Step(torch.autograd.Function):
    """H(pre − θ); ∂/∂pre = 0, ∂/∂θ = −(1/ε) K((pre − θ)/ε) (Rajamanoharan et al., 2024, eq. 12)."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, theta = ctx.saved_tensors
        d_theta = -(1.0 / ctx.eps) * rectangle((pre - theta) / ctx.eps) * grad
        return torch.zeros_like(pre), d_theta.sum_to_size(theta.shape), None


# ------------------------------------------------------------------------------------------------ the model


class Spec(NamedTuple):
    """What the forward pass needs besides the weights: per instance the live latents (I, W) bool, the penalty λ
    (I,) and k (I,) int64 with its largest value ``kmax``, and the config's arch, bandwidth and whether it is a
    transcoder."""

    arch: str
    mask: torch.Tensor
    penalty: torch.Tensor
    k: torch.Tensor
    kmax: int
    bandwidth: float
    transcoder: bool
    full: bool = False  # every instance as wide as the widest: no padded latent to mask


def make_spec(cfg: SAEConfig, device: torch.device) -> Spec:
    grid = cfg.grid
    widths = torch.tensor([w for w, _ in grid], device=device)
    mask = torch.arange(cfg.max_width, device=device)[None, :] < widths[:, None]  # (I, W)
    topk = cfg.arch in TOPK_ARCHS
    penalty = torch.tensor([0.0 if topk else float(v) for _, v in grid], device=device)
    k = [int(v) if topk else 0 for _, v in grid]
    full = all(w == cfg.max_width for w, _ in grid)
    return Spec(cfg.arch, mask, penalty, torch.tensor(k, device=device), max(k), cfg.bandwidth, cfg.transcoder, full)


def pre_activations(p: dict[str, torch.Tensor], x: torch.Tensor, spec: Spec) -> torch.Tensor:
    """W_enc (x − c) + b_enc for x (B, d_in). -> (I, B, W)"""
    centre = p["b_pre"] if spec.transcoder else p["b_dec"]  # (I, d_in)
    xc = x[None] - centre[:, None, :]  # (I, B, d_in)
    return torch.baddbmm(p["b_enc"][:, None, :], xc, p["W_enc"].transpose(1, 2))


def topk_by_peeling(pre: torch.Tensor, spec: Spec) -> torch.Tensor | None:
    """TopK's latents (the k largest pre-activations of each sample, then ReLU) without ``torch.topk``, which on
    the CPU costs about 0.7 µs a sample at 64 latents: r = ReLU(pre) loses its largest value k times
    (r ← r · sign(max r − r), elementwise float ops), and z = ReLU(pre) − r is what was peeled off. Equal to TopK
    then ReLU unless a sample holds tied positive values among its k largest; then (a sample with more than k
    latents kept) it returns None and the caller runs ``torch.topk``, as it does under autograd (the peeling works
    in place). -> z (I, B, W) or None"""
    r0 = torch.relu(pre) if spec.full else torch.relu(pre) * spec.mask[:, None, :]
    ks = spec.k.tolist()
    r, z = r0.clone(), None
    for j in range(1, spec.kmax + 1):
        r.mul_(torch.sub(r.amax(-1, keepdim=True), r).sign_())
        if j in ks:
            if len(set(ks)) == 1:
                z = r0.sub_(r)
            else:
                z = torch.empty_like(r0) if z is None else z
                at = [i for i, ki in enumerate(ks) if ki == j]
                z[at] = r0[at] - r[at]
    kept = torch.sign(z).sum(-1).amax(-1)  # (I,) latents kept, at most; floats: bool ops are slow on the CPU
    if len(set(ks)) == 1:
        return z if float(kept.amax()) <= ks[0] else None
    return z if bool((kept <= spec.k).all()) else None


def activate(
    p: dict[str, torch.Tensor], pre: torch.Tensor, spec: Spec, train: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Latents z (I, B, W) from pre-activations, the sparsity penalty per instance (I,) and, for BatchTopK in
    training, the batch's threshold (I,) (the smallest kept activation)."""
    live = spec.mask[:, None, :]  # (I, 1, W)
    zero = torch.zeros((), device=pre.device)
    no_penalty = torch.zeros(pre.shape[0], device=pre.device)
    if spec.arch == "relu_l1":
        z = torch.relu(pre) * live
        return z, spec.penalty * z.sum(-1).mean(-1), None
    if spec.arch == "jumprelu":
        theta = p["log_threshold"].exp()[:, None, :]  # (I, 1, W)
        z = JumpReLU.apply(pre, theta, spec.bandwidth) * live
        l0 = Step.apply(pre, theta, spec.bandwidth) * live
        return z, spec.penalty * l0.sum(-1).mean(-1), None
    k, kmax = spec.k, spec.kmax
    if spec.arch == "topk" or not train:
        if spec.arch == "batchtopk":  # inference: the learned fixed threshold (Bussmann et al., 2024)
            thr = p["threshold"][:, None, None]
            return torch.where((pre > thr) & live, torch.relu(pre), zero), no_penalty, None
        z = topk_by_peeling(pre, spec) if pre.device.type == "cpu" and not pre.requires_grad else None
        if z is not None:
            return z, no_penalty, None
        vals, idx = torch.topk(pre if spec.full else pre.masked_fill(~live, -math.inf), kmax, dim=-1, sorted=True)
        kept = torch.relu(vals)  # (I, B, kmax)
        if kmax > 1 and bool((k != kmax).any()):
            kept = torch.where(torch.arange(kmax, device=pre.device)[None, None, :] < k[:, None, None], kept, zero)
        z = torch.zeros_like(pre).scatter(-1, idx, kept)
        return z, no_penalty, None
    B = pre.shape[1]
    act = torch.relu(pre) * live
    top = torch.topk(act.reshape(act.shape[0], -1), B * kmax, dim=-1, sorted=True).values  # (I, B·kmax)
    thr = top.gather(1, (B * k - 1)[:, None]).squeeze(1)  # (I,)
    z = torch.where((act >= thr[:, None, None]) & (act > 0), act, zero)
    return z, no_penalty, thr


def decode(p: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """zᵀ W_dec + b_dec. z (I, B, W) -> (I, B, d_out)"""
    return torch.baddbmm(p["b_dec"][:, None, :], z, p["W_dec"])


# ------------------------------------------------------------------------------------------------ AuxK


class Aux(NamedTuple):
    """AuxK's latents z (I, B, W), which of them are selected (I, B, W) bool, and the loss's scale per instance
    (I,): min(dead / k_aux, 1)."""

    z: torch.Tensor
    selected: torch.Tensor
    scale: torch.Tensor


def aux_latents(pre: torch.Tensor, dead: torch.Tensor, k_aux: int) -> Aux:
    """AuxK's latents (Gao et al., 2024): per sample the ``k_aux`` largest pre-activations among the dead latents
    ``dead`` (I, W), kept as they are (no ReLU, as in sae-lens: a dead latent whose pre-activations are all
    negative still learns), the rest 0; an instance with fewer dead latents keeps them all."""
    vals, idx = torch.topk(pre.masked_fill(~dead[:, None, :], -math.inf), k_aux, dim=-1, sorted=True)
    real = torch.isfinite(vals)  # False past an instance's dead latents
    z = torch.zeros_like(pre).scatter(-1, idx, torch.where(real, vals, 0.0))
    selected = torch.zeros_like(pre, dtype=torch.bool).scatter(-1, idx, real)
    return Aux(z, selected, (dead.sum(-1).to(pre.dtype) / k_aux).clamp(max=1.0))


def aux_loss(p: dict[str, torch.Tensor], z_aux: torch.Tensor, resid: torch.Tensor) -> torch.Tensor:
    """‖z_auxᵀ W_dec − e‖² (summed over the target's dims, mean over the batch) for the main reconstruction's
    error e = y − ŷ (I, B, d_out), held fixed. The decoder's bias is left out: e already has it. -> (I,)"""
    return (torch.bmm(z_aux, p["W_dec"]) - resid).square().sum(-1).mean(-1)


# ------------------------------------------------------------------------------------------------ a step


class Pass(NamedTuple):
    """One training step's forward pass: per instance the objective (I,) (reconstruction + penalty + AuxK), the
    latents z (I, B, W), reconstruction (I, B, d_out), squared error per sample (I, B), BatchTopK's batch threshold
    (I,) or None, and the gradients of the objectives' sum by parameter name (None from ``autograd_pass``, which
    leaves them in ``.grad``)."""

    losses: torch.Tensor
    z: torch.Tensor
    out: torch.Tensor
    err: torch.Tensor
    thr: torch.Tensor | None
    grads: dict[str, torch.Tensor] | None


HAND_ARCHS = ("relu_l1", "topk", "batchtopk")  # trained by ``hand_pass`` (or fastcore.sae); jumprelu by autograd
ENGINES = ("auto", "numba", "torch")  # auto: numba on the CPU for HAND_ARCHS; torch: hand_pass or autograd


def autograd_pass(
    p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, spec: Spec, dead=None, k_aux: int = 0, coef=0.0
) -> Pass:
    """The step's objective, differentiated by autograd (``.grad`` of ``p``'s tensors; zero them first). AuxK
    (``coef`` > 0, dead latents ``dead`` (I, W)) is added for the TopK kinds."""
    pre = pre_activations(p, x, spec)  # (I, B, W)
    z, penalty, thr = activate(p, pre, spec, train=True)
    out = decode(p, z)  # (I, B, d_out)
    err = ((out - y[None]) ** 2).sum(-1)  # (I, B)
    losses = err.mean(-1) + penalty  # (I,)
    if coef and dead is not None and spec.arch in TOPK_ARCHS:
        aux = aux_latents(pre, dead, k_aux)
        losses = losses + coef * aux.scale * aux_loss(p, aux.z, (y[None] - out).detach())
    losses.sum().backward()
    return Pass(losses.detach(), z.detach(), out.detach(), err.detach(), thr, None)


@torch.no_grad()
def hand_pass(
    p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, spec: Spec, dead=None, k_aux: int = 0, coef=0.0
) -> Pass:
    """``autograd_pass`` for relu_l1, topk and batchtopk with the backward pass written out (no graph: a third of
    the time on the CPU at small shapes). With g = ∂L/∂ŷ = 2(ŷ − y)/B and the latents' mask a = [z > 0] (for all
    three kinds ∂z/∂pre is a on the kept latents; relu_l1 adds λ/B to ∂L/∂z): ∂L/∂W_dec = zᵀg, ∂L/∂pre =
    a ⊙ (g W_decᵀ + λ/B), ∂L/∂W_enc = (∂L/∂pre)ᵀ (x − c), ∂L/∂b_enc = Σ_B ∂L/∂pre, ∂L/∂c = −(Σ_B ∂L/∂pre) W_enc, and
    ∂L/∂b_dec = Σ_B g (+ ∂L/∂c for an SAE, where c = b_dec). AuxK adds with g_aux = 2 s (z_auxᵀ W_dec − e)/B:
    z_auxᵀ g_aux to ∂L/∂W_dec and g_aux W_decᵀ on the selected dead latents to ∂L/∂pre."""
    if spec.arch not in HAND_ARCHS:
        raise ValueError(f"hand_pass covers {HAND_ARCHS}, not {spec.arch!r}")
    B = x.shape[0]
    W_enc, W_dec = p["W_enc"], p["W_dec"]
    centre = p["b_pre"] if spec.transcoder else p["b_dec"]
    xc = x[None] - centre[:, None, :]  # (I, B, d_in)
    pre = torch.baddbmm(p["b_enc"][:, None, :], xc, W_enc.transpose(1, 2))  # (I, B, W)
    z, penalty, thr = activate(p, pre, spec, train=True)
    out = decode(p, z)  # (I, B, d_out)
    diff = out - y[None]
    err = diff.square().sum(-1)  # (I, B)
    losses = err.mean(-1) + penalty if spec.arch == "relu_l1" else err.mean(-1)
    g_out = diff * (2.0 / B)
    g_z = torch.bmm(g_out, W_dec.transpose(1, 2))  # (I, B, W)
    if spec.arch == "relu_l1":
        g_z += (spec.penalty / B)[:, None, None]
    g_pre = g_z * torch.sign(z)  # z ≥ 0: the mask [z > 0] as floats
    g_W_dec = torch.bmm(z.transpose(1, 2), g_out)
    if coef and dead is not None and spec.arch in TOPK_ARCHS:
        aux = aux_latents(pre, dead, k_aux)
        d_aux = torch.bmm(aux.z, W_dec) + diff  # z_auxᵀ W_dec − e, e = y − ŷ
        c = coef * aux.scale  # (I,)
        losses = losses + c * d_aux.square().sum(-1).mean(-1)
        g_aux = d_aux * (2.0 / B * c)[:, None, None]
        g_W_dec.baddbmm_(aux.z.transpose(1, 2), g_aux)
        g_pre += torch.where(aux.selected, torch.bmm(g_aux, W_dec.transpose(1, 2)), 0.0)
    g_b_enc = g_pre.sum(1)  # (I, W)
    grads = {"W_enc": torch.bmm(g_pre.transpose(1, 2), xc), "b_enc": g_b_enc, "W_dec": g_W_dec}
    g_b_dec = g_out.sum(1)[:, None, :]  # (I, 1, d_out)
    if spec.transcoder:
        grads["b_dec"] = g_b_dec[:, 0]
        grads["b_pre"] = -torch.bmm(g_b_enc[:, None, :], W_enc)[:, 0]  # (I, d_in)
    else:  # ∂L/∂c = −(Σ_B ∂L/∂pre) W_enc joins ∂L/∂b_dec
        grads["b_dec"] = torch.baddbmm(g_b_dec, g_b_enc[:, None, :], W_enc, alpha=-1.0)[:, 0]
    return Pass(losses, z, out, err, thr, grads)


@torch.no_grad()
def apply_dictionaries(snap: Snapshot, x: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Every instance of an SAE snapshot on inputs x (N, d_in), in inference mode. -> latents (I, N, W),
    reconstructions (I, N, d_out), float32; padded latents are 0."""
    cfg = SAEConfig.from_dict(snap.config)
    spec = make_spec(cfg, torch.device("cpu"))
    p = {name: torch.tensor(snap[name]) for name in param_names(cfg) + buffer_names(cfg)}  # copies: may be read-only
    zs, ys = [], []
    for s in range(0, len(x), batch):
        xb = torch.as_tensor(np.asarray(x[s : s + batch], dtype=np.float32))
        z, _, _ = activate(p, pre_activations(p, xb, spec), spec, train=False)
        zs.append(z.numpy())
        ys.append(decode(p, z).numpy())
    return np.concatenate(zs, axis=1), np.concatenate(ys, axis=1)


def param_names(cfg: SAEConfig) -> list[str]:
    names = ["W_enc", "b_enc", "W_dec", "b_dec"]
    return names + (["b_pre"] if cfg.transcoder else []) + (["log_threshold"] if cfg.arch == "jumprelu" else [])


def buffer_names(cfg: SAEConfig) -> list[str]:
    return ["threshold"] if cfg.arch == "batchtopk" else []


class SAETrainer(StepTrainer):
    """Trains every instance of an ``SAEConfig`` at once on ``source`` (built from the config when not given: a
    tms or circuits source trains its model first). The loss is the instances' sum; each instance's loss is logged.

    Snapshot arrays: W_enc (I, W, d_in), b_enc (I, W), W_dec (I, W, d_out) with unit rows, b_dec (I, d_out);
    b_pre (I, d_in) for a transcoder; log_threshold (I, W) for JumpReLU; threshold (I,) for BatchTopK;
    since_fired (I, W) steps since each latent last fired; truth (n_true, d_out) and truth_in (n_true_in, d_in),
    the source's true directions; parents (n_true,). Padded latents (index ≥ the instance's width) stay at zero.
    """

    toy = "sae"

    def __init__(self, cfg: SAEConfig, source: Source | None = None, engine: str = "auto") -> None:
        check_choice("engine", engine, ENGINES)
        super().__init__(cfg, cfg.n_instances)
        self.source = make_source(cfg, self.device) if source is None else source
        src = self.source
        if (src.d_in, src.d_out, src.transcoder) != (cfg.d_in, cfg.d_out, cfg.transcoder):
            raise ValueError(
                f"the source reads {src.d_in} dims into {src.d_out} (transcoder: {src.transcoder}), but the config "
                f"says {cfg.d_in} into {cfg.d_out} (transcoder: {cfg.transcoder})"
            )
        self.spec = make_spec(cfg, self.device)
        self.params = self._init_params()
        self.since_fired = torch.zeros(cfg.n_instances, cfg.max_width, device=self.device)
        self.threshold = torch.zeros(cfg.n_instances, device=self.device)  # BatchTopK's inference threshold
        self._thr_count = 0
        self._resample_gen = torch.Generator(device=self.device)
        self._resample_gen.manual_seed(cfg.seed + 1)
        self._last = None
        self.hand = cfg.arch in HAND_ARCHS
        self._aux_k = cfg.aux_k_used
        self.optimizer = make_optimizer(cfg, list(self.params.values()), fused=self.device.type in ("cpu", "cuda"))
        self.kernel: SAEStep | None = None
        fits = self.hand and self.device.type == "cpu"
        if engine == "numba" and not fits:
            raise ValueError(f"engine='numba' trains {HAND_ARCHS} on the CPU, not {cfg.arch!r} on {self.device}")
        if fits and engine != "torch":
            if engine == "auto" and warm.compiling("sae"):
                self.engine_pending = "numba"
            else:
                self._bind_kernel()

    @property
    def engine_name(self) -> str:
        return "numba" if self.kernel is not None else ("hand-written" if self.hand else "autograd")

    def upgrade_engine(self) -> bool:
        """Switch to the numba step once its kernel has compiled (weights and Adam's state carry over)."""
        if self.engine_pending is None or warm.compiling("sae"):
            return False
        self._bind_kernel()
        self.engine_pending = None
        return True

    def _bind_kernel(self) -> None:
        """The numba step over numpy views of the parameters and of Adam's state (created here as torch's fused
        Adam creates it, when no step has yet), which either path then updates in place."""
        cfg, state = self.cfg, self.optimizer.state
        exp_avg, exp_avg_sq, self._adam_steps = {}, {}, []
        for name, t in self.params.items():
            st = state[t]
            if not st:
                st["step"] = torch.zeros((), dtype=torch.float32, device=t.device)
                st["exp_avg"] = torch.zeros_like(t, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(t, memory_format=torch.preserve_format)
            exp_avg[name], exp_avg_sq[name] = st["exp_avg"].numpy(), st["exp_avg_sq"].numpy()
            self._adam_steps.append(st["step"].numpy())
        spec = self.spec
        self.kernel = SAEStep(
            {name: t.detach().numpy() for name, t in self.params.items()},
            exp_avg,
            exp_avg_sq,
            cfg.arch,
            spec.mask.sum(1).numpy(),
            spec.k.numpy() if cfg.arch in TOPK_ARCHS else np.ones(cfg.n_instances, np.int64),
            spec.penalty.numpy(),
            dead_steps=cfg.dead_steps,
            aux_k=self._aux_k,
            aux_k_coef=cfg.aux_k_coef if cfg.aux_on else 0.0,
        )
        group = self.optimizer.param_groups[0]
        self._adam_args = (group["betas"], group["eps"], group["weight_decay"] if cfg.optimizer == "adamw" else 0.0)

    def _init_params(self) -> dict[str, torch.Tensor]:
        cfg, dev = self.cfg, self.device
        I, W = cfg.n_instances, cfg.max_width
        dec = unit_rows(np.random.default_rng([cfg.seed, 7]).standard_normal((W, cfg.d_out)))  # (W, d_out)
        if cfg.encoder_from_decoder and not cfg.transcoder:
            enc = dec
        else:
            enc = unit_rows(np.random.default_rng([cfg.seed, 8]).standard_normal((W, cfg.d_in)))
        with torch.no_grad():
            x, y, _ = self.source.sample(INIT_SAMPLES, self.generator)
        live = self.spec.mask[:, :, None]

        def stacked(a):
            return (torch.as_tensor(a, device=dev)[None].expand(I, *a.shape) * live).contiguous()

        p = {
            "W_enc": stacked(enc),
            "b_enc": torch.zeros(I, W, device=dev),
            "W_dec": stacked(dec),
            "b_dec": y.mean(0)[None].repeat(I, 1),
        }
        if cfg.transcoder:
            p["b_pre"] = x.mean(0)[None].repeat(I, 1)
        if cfg.arch == "jumprelu":
            p["log_threshold"] = torch.full((I, W), math.log(cfg.threshold_init), device=dev)
        return {name: t.requires_grad_() for name, t in p.items()}

    def _steps(self, start: int, n: int) -> torch.Tensor:
        every = self.cfg.resample_every
        for s in range(start, start + n):
            resample = every > 0 and (s + 1) % every == 0 and s + 1 < self.cfg.steps
            losses = self._train_step(self.schedule.lr_at(s), keep=resample)
            if resample:
                self._resample()
        return losses

    def _train_step(self, lr: float, keep: bool = False) -> torch.Tensor:
        cfg, p, spec = self.cfg, self.params, self.spec
        set_lr(self.optimizer, lr)
        x, y, _ = self.source.sample(cfg.batch_size, self.generator)
        if self.kernel is not None and not keep:
            return self._kernel_step(lr, x, y)
        dead = None
        if cfg.aux_on:
            cpu = self.device.type == "cpu"  # skip AuxK's work while nothing is dead (on a GPU: no host sync)
            if not cpu or float(self.since_fired.amax()) >= cfg.dead_steps:
                dead = (self.since_fired >= cfg.dead_steps) & spec.mask  # (I, W)
                dead = None if cpu and not bool(dead.any()) else dead
        if self.hand:  # sets every parameter's gradient: nothing to zero
            step = hand_pass(p, x, y, spec, dead, self._aux_k, cfg.aux_k_coef)
            for name, grad in step.grads.items():
                p[name].grad = grad
        else:
            self.optimizer.zero_grad(set_to_none=True)
            step = autograd_pass(p, x, y, spec, dead, self._aux_k, cfg.aux_k_coef)
        self.optimizer.step()
        losses, z, out, err, thr = step.losses, step.z, step.out, step.err, step.thr
        with torch.no_grad():
            W = p["W_dec"]
            W /= W.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            self.since_fired = (self.since_fired + 1) * (z.amax(dim=1) <= 0)  # 0 where a latent fired (z ≥ 0)
            if thr is not None:  # running mean of the batches' thresholds
                self._thr_count += 1
                self.threshold += (thr - self.threshold) / self._thr_count
            if keep:
                centre = p["b_pre"] if spec.transcoder else p["b_dec"]
                self._last = (x[None] - centre[:, None, :], y[None] - out, err)
        return losses

    def _kernel_step(self, lr: float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for t in self._adam_steps:  # torch's Adam step counts, kept in step for either path
            t += 1
        xs = np.ascontiguousarray(x.detach().numpy())
        ys = xs if y is x else np.ascontiguousarray(y.detach().numpy())
        since = self.since_fired.numpy()
        losses = self.kernel(xs, ys, since, lr, int(self._adam_steps[0]), *self._adam_args)
        if self.cfg.arch == "batchtopk":
            self._thr_count += 1
            self.threshold += (torch.from_numpy(self.kernel.thr) - self.threshold) / self._thr_count
        return torch.from_numpy(losses.copy())

    @torch.no_grad()
    def _resample(self) -> None:
        """Resample dead latents from the last batch (see the module docstring)."""
        cfg, p = self.cfg, self.params
        xc, resid, err = self._last  # (I, B, d_in), (I, B, d_out), (I, B)
        self._last = None
        dead = (self.since_fired >= cfg.dead_steps) & self.spec.mask  # (I, W)
        weight = err.double() ** 2 + 1e-30
        cdf = weight.cumsum(-1)
        cdf /= cdf[:, -1:].clone()
        r = torch.rand(1, generator=self._resample_gen, device=self.device, dtype=torch.float64)
        u = torch.remainder(r + GOLDEN * torch.arange(1, cfg.max_width + 1, device=self.device), 1.0)  # (W,)
        idx = torch.searchsorted(cdf, u[None].expand(cfg.n_instances, -1).contiguous())
        idx = idx.clamp_max(err.shape[1] - 1)  # (I, W)

        def rows(a):
            picked = a.gather(1, idx[..., None].expand(-1, -1, a.shape[-1]))
            return picked / picked.norm(dim=-1, keepdim=True).clamp_min(1e-12)

        live = (self.spec.mask & ~dead)[..., None]
        enc_norm = (p["W_enc"].norm(dim=-1, keepdim=True) * live).sum(1, keepdim=True)
        enc_norm = torch.where(live.sum(1, keepdim=True) > 0, enc_norm / live.sum(1, keepdim=True).clamp_min(1), 1.0)
        d3 = dead[..., None]
        fresh = {
            "W_dec": torch.where(d3, rows(resid), p["W_dec"]),
            "W_enc": torch.where(d3, rows(xc) * RESAMPLE_ENCODER_SCALE * enc_norm, p["W_enc"]),
            "b_enc": torch.where(dead, 0.0, p["b_enc"]),
        }
        if cfg.arch == "jumprelu":
            fresh["log_threshold"] = torch.where(dead, math.log(cfg.threshold_init), p["log_threshold"])
        for name, value in fresh.items():
            p[name].copy_(value)
            mask = d3 if value.dim() == 3 else dead
            for moment in self.optimizer.state.get(p[name], {}).values():
                if torch.is_tensor(moment) and moment.shape == value.shape:
                    moment.masked_fill_(mask, 0.0)
        self.since_fired = torch.where(dead, torch.zeros_like(self.since_fired), self.since_fired)

    def _loadable(self) -> dict[str, torch.Tensor]:
        buffers = {"threshold": self.threshold} if self.cfg.arch == "batchtopk" else {}
        return self.params | buffers | {"since_fired": self.since_fired}

    def load_snapshot(self, snap: Snapshot) -> None:
        super().load_snapshot(snap)
        self._thr_count = snap.step if self.cfg.arch == "batchtopk" else 0

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = param_arrays(self._loadable())
        arrays["truth"] = self.source.truth.copy()
        arrays["truth_in"] = self.source.truth_in.copy()
        arrays["parents"] = self.source.parents.copy()
        return arrays


register("sae", SAEConfig, SAETrainer)


def instance_decoders(snap: Snapshot) -> list[np.ndarray]:
    """Each instance's decoder rows, its padding dropped: [(width_i, d_out) float32]."""
    cfg = SAEConfig.from_dict(snap.config)
    return [snap["W_dec"][i, :w] for i, (w, _) in enumerate(cfg.grid)]


__all__ = [
    "ARCHS",
    "MAGNITUDES",
    "SAEConfig",
    "SAETrainer",
    "apply_dictionaries",
    "instance_decoders",
    "make_source",
]
