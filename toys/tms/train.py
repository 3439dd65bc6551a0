"""Trainers of the toy models of superposition: one batched model, or the best of K seeds of every instance.

How a step runs (fused CPU kernel, CUDA graphs, or plain autograd) is chosen per config and device by
``toys.tms.engines``; the trainer counts steps, logs and owns the schedule (``toys.core.train.StepTrainer``).
"""

from __future__ import annotations

import numpy as np
import torch

from fastcore import warm
from toys.core.composite import Lockstep
from toys.core.data import instance_probability
from toys.core.memory import Cost, estimate
from toys.core.saved import register
from toys.core.snapshot import Snapshot
from toys.core.train import StepTrainer, param_arrays
from toys.tms.config import TMSConfig
from toys.tms.data import FeatureSampler, importance
from toys.tms.engines import ENGINE_CLASSES, choose_engine
from toys.tms.model import init_tms_params


class TMSTrainer(StepTrainer):
    """Trains every instance of a TMS config at once (instances are independent: the loss is their sum).

    ``engine`` ("auto", "numba", "cuda_graph", "autograd") picks how steps run (see ``toys.tms.engines``); "auto" takes
    the device's fast engine wherever it applies. ``engine_name`` says which one runs. ``cost``: the estimate checked
    before anything is allocated, when it is not the config's own (a best-of-K trainer checks its outer config).
    """

    toy = "tms"

    def __init__(self, cfg: TMSConfig, engine: str = "auto", cost: Cost | None = None) -> None:
        if cfg.restarts != 1:
            raise ValueError(
                f"restarts={cfg.restarts}: build this trainer with make_tms_trainer, which keeps the "
                "best seed of every instance"
            )
        super().__init__(cfg, cfg.n_instances, cost)
        chosen = choose_engine(cfg, self.device, engine)
        self.engine_pending = None  # the fast engine, while its kernels compile in the background (fastcore.warm)
        if engine == "auto" and chosen == "numba" and warm.compiling("tms"):
            self.engine_pending, chosen = chosen, "autograd"
        self.params = init_tms_params(cfg, self.device, self.generator)
        self.sampler = FeatureSampler(cfg, self.device)
        self.importance = torch.as_tensor(importance(cfg), device=self.device)  # (F,)
        self.engine = self._engine(chosen)
        self.optimizer = self.engine.optimizer

    def _engine(self, name: str):
        return ENGINE_CLASSES[name](self.cfg, self.params, self.importance, self.sampler, self.generator, self.schedule)

    def upgrade_engine(self) -> bool:
        """Switch to the pending fast engine if its kernels are ready, keeping weights and optimizer state; True
        when it switched."""
        if self.engine_pending is None or warm.compiling("tms"):
            return False
        old = self.optimizer
        self.engine = self._engine(self.engine_pending)
        self.optimizer = self.engine.optimizer
        self.optimizer.state.update(old.state)  # same parameter tensors: Adam's moments and step carry over
        self.engine_pending = None
        return True

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def _steps(self, start: int, n: int) -> torch.Tensor:
        return self.engine.run(start, n)

    def train_on(self, x: torch.Tensor) -> torch.Tensor:
        """One step on the batch ``x`` (I, B, F) instead of a drawn one, through this trainer's engine. For checks
        that feed several implementations the same batches. Returns the per-instance losses (I,)."""
        if self.done:
            raise ValueError(f"the step budget steps={self.cfg.steps} is spent")
        want = (self.cfg.n_instances, self.cfg.batch_size, self.cfg.n_features)
        if tuple(x.shape) != want:
            raise ValueError(f"x must have shape {want}, got {tuple(x.shape)}")
        losses = self.engine.step(self.step, x.to(device=self.device, dtype=torch.float32).contiguous()).clone()
        self.step += 1
        self._record(losses)
        return losses

    def _arrays(self) -> dict[str, np.ndarray]:
        return param_arrays(self.params)


BEST_OF_WINDOW = 5  # logged losses averaged when choosing the best seed of an instance


class BestOfTrainer(Lockstep):
    """Trains ``cfg.restarts`` seeds of every instance as one batched model and hands out, per instance, the seed
    with the lowest loss so far (mean of its last ``BEST_OF_WINDOW`` logged losses), as the paper did.

    Its snapshot looks like a plain TMS snapshot of ``cfg``; ``extras["restart"]`` says which seed was kept.
    """

    toy = "tms"

    def __init__(self, cfg: TMSConfig, engine: str = "auto") -> None:
        self.cfg = cfg
        p = np.repeat(instance_probability(cfg), cfg.restarts)
        inner = cfg.replace(
            n_instances=cfg.n_instances * cfg.restarts, restarts=1, p_values=",".join(repr(float(v)) for v in p)
        )
        self.inner = TMSTrainer(inner, engine, estimate(cfg))
        self.parts = (self.inner,)

    def load_snapshot(self, snap: Snapshot) -> None:
        """Load a saved best-of-K model: every seed of an instance starts from the seed that was kept."""
        if snap.config != self.cfg.to_dict():
            raise ValueError("the file's config is not this trainer's config")
        k = self.cfg.restarts
        arrays = {name: np.repeat(a, k, axis=0) if a.ndim else a for name, a in snap.arrays.items()}
        loss = np.repeat(snap.loss, k, axis=1) if snap.loss.ndim == 2 else snap.loss
        inner = Snapshot(self.inner.toy, self.inner.cfg.to_dict(), snap.step, arrays, loss, snap.loss_steps)
        self.inner.load_snapshot(inner)

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


register("tms", TMSConfig, make_tms_trainer)
