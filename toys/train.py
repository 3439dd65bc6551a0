"""The training engine: a trainer advances k steps at a time and hands out numpy snapshots.

No host sync happens inside the step loop: per-instance losses are written into a preallocated device buffer
every ``log_every`` steps and copied to the host only when a snapshot is taken. How a TMS step runs (fused CPU
kernel, CUDA graphs, or plain autograd) is chosen per config and device by ``toys.engine``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from toys.config import ConfigBase, TMSConfig
from toys.data import FeatureSampler, importance, instance_probability
from toys.device import resolve_device
from toys.engine import ENGINE_CLASSES, choose_engine, fused_kernel_applies, make_optimizer
from toys.memory import check_fits, tms_step_bytes
from toys.models import init_tms_params
from toys.snapshot import Snapshot

__all__ = ["BestOfTrainer", "TMSTrainer", "Trainer", "make_tms_trainer", "is_diverged", "lr_factor", "make_optimizer"]


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total``."""
    frac = step / total
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"schedule={schedule!r} is unknown")


class Trainer:
    """Base of every toy's trainer. Subclasses set up params/optimizer and implement ``_train_step``."""

    toy: str = ""

    def __init__(self, cfg: ConfigBase, n_loss_columns: int) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.step = 0
        n_logs = cfg.steps // cfg.log_every + 1
        self._loss_log = torch.full((n_logs, n_loss_columns), float("nan"), device=self.device)
        self._log_steps: list[int] = []

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.steps

    def advance(self, k: int) -> int:
        """Run up to k steps (fewer at the end of the budget). Returns the number run."""
        n = max(0, min(int(k), self.cfg.steps - self.step))
        if n:
            self._advance(n)
        return n

    def _advance(self, n: int) -> None:
        for _ in range(n):
            losses = self._train_step()
            self.step += 1
            self._maybe_record(losses)

    def _maybe_record(self, losses: torch.Tensor) -> None:
        """Log the losses of the step just taken if it is a logged one (a device copy: no host sync)."""
        if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
            self._loss_log[len(self._log_steps)] = losses.detach()
            self._log_steps.append(self.step)

    def advance_for(self, seconds: float, chunk: int = 50) -> int:
        """Run chunks of steps until ``seconds`` of wall time have passed or the budget is spent.

        On a GPU, steps are queued asynchronously: after queuing a chunk this waits for the one before it, so the
        clock measures work done rather than work queued, with one chunk in flight.
        """
        t0, n = time.perf_counter(), 0
        pending = None
        while not self.done and time.perf_counter() - t0 < seconds:
            n += self.advance(chunk)
            if self.device.type == "cuda":
                event = torch.cuda.Event()
                event.record()
                if pending is not None:
                    pending.synchronize()
                pending = event
        return n

    def run(self) -> Snapshot:
        self.advance(self.cfg.steps - self.step)
        return self.snapshot()

    def _lr(self) -> float:
        return self.cfg.lr * lr_factor(self.cfg.schedule, self.step, self.cfg.steps)

    def _train_step(self) -> torch.Tensor:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        n = len(self._log_steps)
        loss = self._loss_log[:n].cpu().numpy().astype(np.float64)
        return Snapshot(
            toy=self.toy,
            config=self.cfg.to_dict(),
            step=self.step,
            arrays=self._arrays(),
            loss=loss,
            loss_steps=np.asarray(self._log_steps, dtype=np.int64),
        )


def is_diverged(snap: Snapshot) -> bool:
    """True when the latest loss or any weight is NaN or infinite."""
    finite = np.isfinite(snap.final_loss).all() if len(snap.loss) else True
    return not (finite and all(np.isfinite(a).all() for a in snap.arrays.values()))


class TMSTrainer(Trainer):
    """Trains every instance of a TMS config at once (instances are independent: the loss is their sum).

    ``engine`` ("auto", "numba", "cuda_graph", "autograd") picks how steps run (see ``toys.engine``); "auto" takes
    the device's fast engine wherever it applies. ``engine_name`` says which one runs.
    """

    toy = "tms"

    def __init__(self, cfg: TMSConfig, engine: str = "auto") -> None:
        if cfg.restarts != 1:
            raise ValueError(f"restarts={cfg.restarts}: build this trainer with make_tms_trainer, which keeps the "
                             "best seed of every instance")
        super().__init__(cfg, cfg.n_instances)
        engine = choose_engine(cfg, self.device, engine)
        if engine == "autograd" or (engine == "cuda_graph" and not fused_kernel_applies(cfg)):
            check_fits(tms_step_bytes(cfg.n_instances, cfg.batch_size, cfg.n_features, cfg.n_hidden), self.device,
                       f"This model ({cfg.n_instances:,} instances × batch {cfg.batch_size:,} × {cfg.n_features} features)")
        self.params = init_tms_params(cfg, self.device, self.generator)
        self.sampler = FeatureSampler(cfg, self.device)
        self.importance = torch.as_tensor(importance(cfg), device=self.device)  # (F,)
        self.engine = ENGINE_CLASSES[engine](self)
        self.optimizer = self.engine.optimizer

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def _advance(self, n: int) -> None:
        if hasattr(self.engine, "advance"):
            self.engine.advance(n)
        else:
            super()._advance(n)

    def _train_step(self) -> torch.Tensor:
        return self.engine.step()

    def train_on(self, x: torch.Tensor) -> torch.Tensor:
        """One step on the batch ``x`` (I, B, F) instead of a drawn one, through this trainer's engine. For checks
        that feed several implementations the same batches. Returns the per-instance losses (I,)."""
        if self.done:
            raise ValueError(f"the step budget steps={self.cfg.steps} is spent")
        want = (self.cfg.n_instances, self.cfg.batch_size, self.cfg.n_features)
        if tuple(x.shape) != want:
            raise ValueError(f"x must have shape {want}, got {tuple(x.shape)}")
        losses = self.engine.step(x.to(device=self.device, dtype=torch.float32).contiguous()).clone()
        self.step += 1
        self._maybe_record(losses)
        return losses

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}


BEST_OF_WINDOW = 5  # logged losses averaged when choosing the best seed of an instance


class Composite:
    """Base of trainers made of inner trainers that advance together (``parts``): step, done, engine name,
    advance, advance_for and run come from the parts; a subclass sets ``cfg`` and writes ``snapshot``."""

    cfg: Any
    parts: tuple[Trainer, ...]

    @property
    def device(self) -> torch.device:
        return self.parts[0].device

    @property
    def step(self) -> int:
        return self.parts[0].step

    @property
    def done(self) -> bool:
        return all(t.done for t in self.parts)

    @property
    def engine_name(self) -> str:
        return " + ".join(sorted({getattr(t, "engine_name", "autograd") for t in self.parts}))

    def advance(self, k: int) -> int:
        n = self.parts[0].advance(k)
        for t in self.parts[1:]:
            t.advance(k)
        return n

    def advance_for(self, seconds: float, chunk: int = 50) -> int:
        if len(self.parts) == 1:
            return self.parts[0].advance_for(seconds, chunk)
        t0, n = time.perf_counter(), 0
        while not self.done and time.perf_counter() - t0 < seconds:
            n += self.advance(chunk)
        return n

    def run(self) -> Snapshot:
        self.advance(self.cfg.steps - self.step)
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        raise NotImplementedError


class BestOfTrainer(Composite):
    """Trains ``cfg.restarts`` seeds of every instance as one batched model and hands out, per instance, the seed
    with the lowest loss so far (mean of its last ``BEST_OF_WINDOW`` logged losses), as the paper did.

    Its snapshot looks like a plain TMS snapshot of ``cfg``; ``extras["restart"]`` says which seed was kept.
    """

    toy = "tms"

    def __init__(self, cfg: TMSConfig, engine: str = "auto") -> None:
        self.cfg = cfg
        p = np.repeat(instance_probability(cfg), cfg.restarts)
        inner = cfg.replace(n_instances=cfg.n_instances * cfg.restarts, restarts=1,
                            p_values=",".join(repr(float(v)) for v in p))
        self.inner = TMSTrainer(inner, engine)
        self.parts = (self.inner,)

    def snapshot(self) -> Snapshot:
        snap = self.inner.snapshot()
        n, k = self.cfg.n_instances, self.cfg.restarts
        if len(snap.loss):
            recent = np.nan_to_num(snap.loss[-BEST_OF_WINDOW:].mean(axis=0), nan=np.inf).reshape(n, k)  # (I, K)
            chosen = recent.argmin(axis=1)
        else:
            chosen = np.zeros(n, dtype=np.int64)
        rows = np.arange(n) * k + chosen
        return Snapshot(
            toy=self.toy,
            config=self.cfg.to_dict(),
            step=snap.step,
            arrays={name: a[rows] for name, a in snap.arrays.items()},
            loss=snap.loss[:, rows],
            loss_steps=snap.loss_steps,
            extras={"restart": [int(c) for c in chosen]},
        )


def make_tms_trainer(cfg: TMSConfig, engine: str = "auto") -> TMSTrainer | BestOfTrainer:
    """The trainer of a TMS config: best-of-``restarts`` when it asks for several seeds per instance."""
    return BestOfTrainer(cfg, engine) if cfg.restarts > 1 else TMSTrainer(cfg, engine)
