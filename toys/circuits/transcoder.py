"""A transcoder: sparse latents that map an MLP's input to its output (Dunefsky, Chlenski & Nanda, 2024).

    z = act(W_enc (r − b_pre) + b_enc)   (n_latents)        ŷ' = W_decᵀ z + b_dec   (MLP output)

act is ReLU with an L1 penalty λ Σ z (``sparsity="l1"``), or TopK: the k largest pre-activations kept, then ReLU
(``sparsity="topk"``, Gao et al., 2024). Decoder rows (one per latent) are kept at unit norm, so the L1 penalty
cannot be dodged by shrinking z and growing the decoder. Reports: normalised MSE (error energy over the target's
variance), L0 (latents firing per sample) and dead latents (none fired in the last ``dead_window`` samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from toys.circuits.planted import CircuitsConfig, FrozenCircuits, model_config, param_count, sample_bytes
from toys.core.config import TrainingConfig, check_choice, check_range
from toys.core.memory import ADAM_FLOPS, FLOAT_BYTES, Cost, estimate, trainer_bytes
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, make_optimizer, param_arrays, set_lr

SPARSITY = ("l1", "topk")
LOSS_COLUMNS = ("loss", "nmse", "l0")
FIRE_THRESHOLD = 1e-5


@dataclass(frozen=True)
class TranscoderConfig(TrainingConfig):
    """A transcoder of a trained circuits model's MLP (see the module docstring)."""

    name: ClassVar[str] = "transcoder"

    n_latents: int = 64
    sparsity: str = "l1"
    l1_coeff: float = 0.1
    k: int = 4
    batch_size: int = 1024
    steps: int = 3000
    lr: float = 1e-2
    schedule: str = "cosine"
    dead_window: int = 100_000

    def __post_init__(self) -> None:
        check_range("n_latents", self.n_latents, 1, 65_536, integer=True)
        check_choice("sparsity", self.sparsity, SPARSITY)
        check_range("l1_coeff", self.l1_coeff, 0.0, 10.0)
        check_range("k", self.k, 1, 1024, integer=True)
        if self.sparsity == "topk" and self.k > self.n_latents:
            raise ValueError(f"k={self.k} is out of range: allowed [1, n_latents={self.n_latents}]")
        super().__post_init__()
        check_range("dead_window", self.dead_window, 1, 100_000_000, integer=True)


INIT_SAMPLES = 4096  # samples of the model's MLP that set the transcoder's initial biases


@estimate.register(TranscoderConfig)
def transcoder_cost(cfg: TranscoderConfig, model: CircuitsConfig | None = None) -> Cost:
    """Training cost of a transcoder of the circuits model ``model`` (its sizes set the transcoder's): a frozen copy
    of the model, the transcoder (autograd), and a step: a batch through the model, the latents, the
    reconstruction and their gradients. Per step: B·(F·d + d·N + N·O) multiply-adds for the model's batch and
    3·B·n·(d + O) for the transcoder's forward and backward, twice.

    ``estimate(cfg, model=circuits_cfg)``; without ``model`` there is nothing to size it by: TypeError.
    """
    if not isinstance(model, CircuitsConfig):
        raise TypeError(
            "a transcoder's cost depends on the circuits model it reads: estimate(cfg, model=<its CircuitsConfig>)"
        )
    n, B, k = cfg.n_latents, cfg.batch_size, cfg.k
    d, N, O, F = model.d_model, model.n_neurons, model.n_outputs, model.n_features
    params = n * d + n + d + n * O + O  # W_enc, b_enc, b_pre, W_dec, b_dec
    held = FLOAT_BYTES * (param_count(model) + d * F + n)  # the frozen model and E, samples since each latent fired
    io = FLOAT_BYTES * (d + 2 * N + O)  # per sample: the model's MLP input, activations and output
    init = sample_bytes(model, INIT_SAMPLES) + INIT_SAMPLES * io
    step = sample_bytes(model, B) + B * io + FLOAT_BYTES * B * (3 * d + 5 * n + 6 * O) + 16 * B * k
    flops = 2 * B * (F * d + d * N + N * O) + 6 * B * n * (d + O) + 20 * B * (F + N + O + n + d) + ADAM_FLOPS * params
    return Cost(
        trainer_bytes(cfg, len(LOSS_COLUMNS), params, held, max(init, step), arrays=FLOAT_BYTES * n),
        flops,
        ("batch_size", "n_latents", "steps", "log_every"),
    )


def encode(params: dict[str, torch.Tensor], r: torch.Tensor, sparsity: str, k: int) -> torch.Tensor:
    """Latent activations z (B, n_latents) for MLP inputs r (B, d_model)."""
    pre = torch.addmm(params["b_enc"], r - params["b_pre"], params["W_enc"].T)  # (B, n_latents)
    if sparsity == "topk":
        top = torch.topk(pre, k, dim=1)
        return torch.zeros_like(pre).scatter_(1, top.indices, torch.relu(top.values))
    return torch.relu(pre)


def decode(params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    return torch.addmm(params["b_dec"], z, params["W_dec"])  # (B, O)


class TranscoderTrainer(StepTrainer):
    """Trains a transcoder on a trained circuits model, given as its snapshot (the model stays frozen).

    Snapshot arrays: W_enc (n_latents, d_model), b_enc (n_latents,), b_pre (d_model,), W_dec (n_latents, O) with unit
    rows, b_dec (O,), since_fired (n_latents,) samples since each latent last fired. Loss columns: ``LOSS_COLUMNS``.
    """

    toy = "transcoder"

    def __init__(self, cfg: TranscoderConfig, model: Snapshot) -> None:
        super().__init__(cfg, len(LOSS_COLUMNS), estimate(cfg, model=model_config(model)))
        self.model = FrozenCircuits(model, self.device)
        mc = self.model.cfg
        d, O, n = mc.d_model, mc.n_outputs, cfg.n_latents
        gen = self.generator
        W_dec = torch.randn(n, O, generator=gen, device=self.device)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        r, y = self.model.sample_io(INIT_SAMPLES, gen)
        self.params = {
            "W_enc": (torch.randn(n, d, generator=gen, device=self.device) / d**0.5).requires_grad_(),
            "b_enc": torch.zeros(n, device=self.device).requires_grad_(),
            "b_pre": r.mean(0).requires_grad_(),
            "W_dec": W_dec.requires_grad_(),
            "b_dec": y.mean(0).requires_grad_(),
        }
        self.since_fired = torch.zeros(n, device=self.device)
        self.optimizer = make_optimizer(cfg, list(self.params.values()))

    def _train_step(self, lr: float) -> torch.Tensor:
        cfg = self.cfg
        set_lr(self.optimizer, lr)
        r, y = self.model.sample_io(cfg.batch_size, self.generator)
        z = encode(self.params, r, cfg.sparsity, cfg.k)
        err = ((decode(self.params, z) - y) ** 2).sum(dim=1).mean()
        loss = err + cfg.l1_coeff * z.sum(dim=1).mean() if cfg.sparsity == "l1" else err
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            W = self.params["W_dec"]
            W /= W.norm(dim=1, keepdim=True).clamp_min(1e-12)
            fired = (z > 0).any(dim=0)
            self.since_fired = torch.where(fired, torch.zeros_like(self.since_fired), self.since_fired + cfg.batch_size)
            var = ((y - y.mean(0)) ** 2).sum(dim=1).mean().clamp_min(1e-12)
            return torch.stack([loss.detach(), err / var, (z > 0).float().sum(dim=1).mean()])

    def _loadable(self) -> dict[str, torch.Tensor]:
        return self.params | {"since_fired": self.since_fired}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = param_arrays(self.params)
        arrays["since_fired"] = self.since_fired.cpu().numpy().copy()
        return arrays


def dead_latents(snap: Snapshot) -> np.ndarray:
    """Latents that did not fire in the last ``dead_window`` training samples. -> (n_latents,) bool"""
    return snap["since_fired"] >= TranscoderConfig.from_dict(snap.config).dead_window


@torch.no_grad()
def collect_activations(
    model: Snapshot,
    transcoder: Snapshot,
    n_samples: int,
    seed: int = 1,
    device: torch.device | str = "cpu",
    batch: int = 8192,
    fire_threshold: float = FIRE_THRESHOLD,
) -> tuple[sp.csr_matrix, dict]:
    """Run the transcoder on ``n_samples`` fresh inputs of the circuits model. A latent fires where its activation
    exceeds ``fire_threshold`` (smaller values are float32 rounding, e.g. ReLU(1e-8), and are dropped).

    -> (activations (n_samples, n_latents) CSR float32, stats: nmse, l0, fired (n_latents,) firing frequency,
    input_l0 (n_samples,) how many of the model's input features were nonzero on each sample).
    """
    check_range("n_samples", n_samples, 1, 100_000_000, integer=True)
    cfg = TranscoderConfig.from_dict(transcoder.config)
    frozen = FrozenCircuits(model, device)
    names = ("W_enc", "b_enc", "b_pre", "W_dec", "b_dec")
    params = {k: torch.tensor(transcoder[k], device=frozen.device) for k in names}
    gen = torch.Generator(device=frozen.device)
    gen.manual_seed(seed)
    blocks, input_l0, err, var = [], [], 0.0, 0.0
    for start in range(0, n_samples, batch):
        x, r, y = frozen.sample_xio(min(batch, n_samples - start), gen)
        input_l0.append((x != 0).sum(dim=1).cpu().numpy())
        z = encode(params, r, cfg.sparsity, cfg.k)
        z = torch.where(z > fire_threshold, z, torch.zeros((), device=z.device))
        err += float(((decode(params, z) - y) ** 2).sum())
        var += float(((y - y.mean(0)) ** 2).sum())
        blocks.append(sp.csr_matrix(z.cpu().numpy()))
    X = sp.vstack(blocks, format="csr")
    fired = np.asarray((X != 0).sum(axis=0)).ravel() / n_samples
    stats = {"nmse": err / max(var, 1e-12), "l0": X.nnz / n_samples, "fired": fired}
    return X, stats | {"input_l0": np.concatenate(input_l0)}
