"""The trainer protocol, the base class of every single-model trainer, the learning-rate schedule and the optimizer.

A trainer advances k steps at a time and hands out numpy snapshots (``Trainer``, the protocol the live view and the
CLI rely on). ``StepTrainer`` is the base of every toy's own trainer: it alone counts steps, logs losses and sets the
learning rate from the config's ``Schedule``; a toy supplies one step, ``_train_step(lr) -> losses``, or overrides
``_steps(start, n)`` to hand runs of steps to an engine (``toys.tms.engines``). Composites of several trainers
(side by side, best of K seeds, one after another) are in ``toys.core.composite`` and follow the same protocol.

No host sync happens inside the step loop: losses are written into a preallocated device buffer at every logged
step and copied to the host only when a snapshot is taken.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from toys.core.config import ConfigBase
from toys.core.device import resolve_device
from toys.core.memory import Cost, check_fits, estimate
from toys.core.snapshot import Snapshot, check_arrays


def lr_factor(schedule: str, step, total: int):
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total``; ``step`` may be a tensor (the CUDA
    graph engine computes it on the device)."""
    frac = step / total
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        cos = torch.cos if isinstance(frac, torch.Tensor) else math.cos
        return 0.5 * (1.0 + cos(math.pi * frac))
    raise ValueError(f"schedule={schedule!r} is unknown")


@dataclass(frozen=True)
class Schedule:
    """The learning rate at every step of a run: ``lr`` times ``lr_factor(kind, step, total)``."""

    lr: float
    kind: str
    total: int

    @classmethod
    def of(cls, cfg: Any) -> Schedule:
        return cls(cfg.lr, cfg.schedule, cfg.steps)

    def lr_at(self, step):
        return self.lr * lr_factor(self.kind, step, self.total)


def make_optimizer(cfg: Any, params: list[torch.Tensor], **kwargs) -> torch.optim.Optimizer:
    """The config's optimizer; ``kwargs`` (lr as a tensor, fused, capturable) change how it runs, not what."""
    kwargs.setdefault("lr", cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, weight_decay=cfg.weight_decay, **kwargs)
    return torch.optim.Adam(params, **kwargs)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@runtime_checkable
class Trainer(Protocol):
    """What the live view, the CLI and the tests use of any trainer, single or composite."""

    cfg: Any

    @property
    def step(self) -> int: ...

    @property
    def done(self) -> bool: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def engine_name(self) -> str: ...

    @property
    def engine_pending(self) -> str | None: ...

    def advance(self, k: int) -> int: ...

    def advance_for(self, seconds: float, chunk: int = 50) -> int: ...

    def run(self) -> Snapshot: ...

    def upgrade_engine(self) -> bool: ...

    def snapshot(self) -> Snapshot: ...


class Advancing:
    """``advance_for`` and ``run`` for anything with ``advance``, ``done``, ``device``, ``step``, ``cfg.steps`` and
    ``snapshot``: the single trainers and the composites share them."""

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
        """Train to the end of the budget and return the final snapshot."""
        self.advance(self.cfg.steps - self.step)
        return self.snapshot()


class StepTrainer(Advancing):
    """Base of every toy's trainer: owns the step count, the loss log and the schedule.

    A subclass sets up parameters and optimizer and implements ``_train_step(lr) -> losses`` (a device tensor of
    ``n_loss_columns``) and ``_arrays()`` (the snapshot's weights), or overrides ``_steps`` to run several steps at
    once. Before anything is allocated, the config's estimated memory (``toys.core.memory.estimate``, or ``cost``
    where the config alone does not say it) is checked against the device's free memory.
    """

    toy: str = ""
    engine_name: str = "autograd"
    engine_pending: str | None = None  # a faster engine it switches to once that one's kernels are ready

    def __init__(self, cfg: ConfigBase, n_loss_columns: int, cost: Cost | None = None) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        cost = estimate(cfg) if cost is None else cost
        check_fits(cost.bytes, self.device, f"Training this {self.toy or type(cfg).__name__} model", cost.knobs)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.schedule = Schedule.of(cfg)
        self.step = 0
        n_logs = cfg.steps // cfg.log_every + 1
        self._loss_log = torch.full((n_logs, n_loss_columns), float("nan"), device=self.device)
        self._log_steps: list[int] = []

    @property
    def done(self) -> bool:
        return self.step >= self.cfg.steps

    def upgrade_engine(self) -> bool:
        """Switch to a faster engine that has become ready (see ``toys.tms.train.TMSTrainer``); True if it did."""
        return False

    def advance(self, k: int) -> int:
        """Run up to k steps (fewer at the end of the budget). Returns the number run."""
        n = max(0, min(int(k), self.cfg.steps - self.step))
        left = n
        while left:
            run = min(left, self._steps_to_log())
            losses = self._steps(self.step, run)
            self.step += run
            self._record(losses)
            left -= run
        return n

    def _steps_to_log(self) -> int:
        """Steps from here up to and including the next logged step (every ``log_every``-th and the last)."""
        every = self.cfg.log_every
        return min((self.step // every + 1) * every, self.cfg.steps) - self.step

    def _steps(self, start: int, n: int) -> torch.Tensor:
        """Run steps ``start`` … ``start + n − 1``; return the losses of the last one."""
        for s in range(start, start + n):
            losses = self._train_step(self.schedule.lr_at(s))
        return losses

    def _record(self, losses: torch.Tensor) -> None:
        """Log the losses of the step just taken if it is a logged one (a device copy: no host sync)."""
        if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
            self._loss_log[len(self._log_steps)] = losses.detach()
            self._log_steps.append(self.step)

    def _train_step(self, lr: float) -> torch.Tensor:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def logged_steps(self, step: int) -> list[int]:
        """The steps whose losses are logged by the time ``step`` steps have run."""
        every, total = self.cfg.log_every, self.cfg.steps
        return [*range(every, step + 1, every)] + ([total] if step == total and total % every else [])

    def _loadable(self) -> dict[str, torch.Tensor]:
        """The tensors a saved model sets, by their snapshot name (the rest of the snapshot follows from them and
        the config): the parameters, by default."""
        return self.params

    def load_snapshot(self, snap: Snapshot) -> None:
        """Take a snapshot's weights, step and loss log (a saved model), in place, into this fresh trainer of the
        same config, after checking that its toy, config, array names, shapes, dtypes and loss log are this
        trainer's and its values finite. Optimizer state starts afresh. ValueError says what does not fit."""
        if self.step != 0:
            raise ValueError("a saved model loads into a fresh trainer only")
        if snap.toy != self.toy:
            raise ValueError(f"the file holds a {snap.toy!r} model, not a {self.toy!r} one")
        if snap.config != self.cfg.to_dict():
            raise ValueError("the file's config is not this trainer's config")
        if isinstance(snap.step, bool) or not isinstance(snap.step, int) or not 0 <= snap.step <= self.cfg.steps:
            raise ValueError(f"step {snap.step!r} is not an integer in [0, steps={self.cfg.steps}]")
        check_arrays(snap.arrays, self._arrays())
        logged = self.logged_steps(snap.step)
        want = np.zeros((len(logged), self._loss_log.shape[1]))  # float64
        check_arrays({"loss": snap.loss}, {"loss": want})
        if not np.array_equal(snap.loss_steps, logged) or snap.loss_steps.dtype != np.int64:
            raise ValueError(
                f"the loss log's steps are not the ones logged by step {snap.step} (every {self.cfg.log_every})"
            )
        with torch.no_grad():
            for name, t in self._loadable().items():
                t.copy_(torch.tensor(snap.arrays[name]))
            self._loss_log[: len(logged)] = torch.tensor(snap.loss, dtype=self._loss_log.dtype)
        self._log_steps = list(logged)
        self.step = snap.step

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


def param_arrays(params: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Host copies of named parameters, for a snapshot."""
    return {k: v.detach().cpu().numpy().copy() for k, v in params.items()}


def is_diverged(snap: Snapshot) -> bool:
    """True when the latest loss or any weight is NaN or infinite."""
    finite = np.isfinite(snap.final_loss).all() if len(snap.loss) else True
    return not (finite and all(np.isfinite(a).all() for a in snap.arrays.values()))
