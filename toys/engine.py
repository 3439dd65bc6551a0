"""Step engines of the TMS trainer, and which one a config gets.

All engines train the same model the same way: batches from one uniform draw per feature (``toys.data``), the
importance-weighted MSE averaged over batch and features per instance and summed over instances
(``toys.models``), ``torch.optim.Adam``/``AdamW`` at the config's learning-rate schedule.

- ``numba`` (CPU): ``fastcore.tms`` draws the batch, runs forward and backward by hand in one pass over the
  samples and writes ``W.grad``/``b.grad`` in place; fused torch Adam steps. No autograd, no batch in memory.
- ``cuda_graph`` (CUDA): the whole step — learning rate from a device step counter, gradients (the fused Triton
  kernel of ``toys.triton_tms``, whose products run in 3×TF32 at about float32's accuracy; or ``FeatureSampler``
  plus ``tms_loss_and_grads`` where Triton is missing or the model too wide), fused capturable Adam — is captured
  once in CUDA graphs of 1 and of ``chunk`` steps and replayed; the host never waits on the device.
- ``autograd`` (any device): the plain loop — sampler, ``tms_forward``, ``backward()``, torch Adam; the only one
  with dropout on the hidden layer.

``auto`` picks the fast engine of the device where it applies and ``autograd`` otherwise.
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import TYPE_CHECKING

import torch

from toys.config import TMSConfig
from toys.data import importance, probability_matrix
from toys.models import tms_forward, tms_loss_and_grads, weighted_mse

if TYPE_CHECKING:
    from toys.train import TMSTrainer

ENGINES = ("auto", "numba", "cuda_graph", "autograd")
CPU_MAX_HF = 50_000  # n_hidden·n_features up to which the numba kernel beat batched matmuls on 2 CPU cores
GRAPH_CHUNK_MAX = 64  # steps per replay of the chunk graph at most
_CAPTURE_LOCK = threading.Lock()  # one CUDA graph capture at a time per process


def make_optimizer(cfg, params: list[torch.Tensor], **kwargs) -> torch.optim.Optimizer:
    """The config's optimizer; ``kwargs`` (lr as a tensor, fused, capturable) change how it runs, not what."""
    kwargs.setdefault("lr", cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, weight_decay=cfg.weight_decay, **kwargs)
    return torch.optim.Adam(params, **kwargs)


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _graph_safe_generators() -> bool:
    return hasattr(torch.cuda.CUDAGraph, "register_generator_state")


def fused_kernel_applies(cfg: TMSConfig) -> bool:
    """Whether the CUDA engine can use the fused Triton kernel for this config."""
    if not _has_triton():
        return False
    from toys.triton_tms import fits

    return fits(cfg.n_hidden, cfg.n_features)


def choose_engine(cfg: TMSConfig, device: torch.device, requested: str = "auto") -> str:
    """The engine a trainer of ``cfg`` on ``device`` uses; ValueError when ``requested`` cannot run there."""
    if requested not in ENGINES:
        raise ValueError(f"engine={requested!r} is not allowed: choose one of {', '.join(ENGINES)}")
    fast = {"cpu": "numba", "cuda": "cuda_graph"}.get(device.type)
    if cfg.dropout > 0:  # the fused steps have no dropout
        applies = False
    elif fast == "numba":
        applies = cfg.n_hidden * cfg.n_features <= CPU_MAX_HF
    elif fast == "cuda_graph":
        applies = fused_kernel_applies(cfg) or _graph_safe_generators()
    else:
        applies = False
    if requested == "auto":
        return fast if applies else "autograd"
    if requested != "autograd" and (requested != fast or not applies):
        raise ValueError(f"engine={requested!r} does not run this config on {device.type}")
    return requested


class AutogradEngine:
    """The plain loop: draw, forward, autograd backward, optimizer step."""

    name = "autograd"

    def __init__(self, trainer: TMSTrainer) -> None:
        self.t = weakref.proxy(trainer)  # no cycle: a dropped trainer frees its (GPU) memory at once
        self.optimizer = make_optimizer(trainer.cfg, list(trainer.params.values()))

    def step(self, x: torch.Tensor | None = None) -> torch.Tensor:
        t, cfg = self.t, self.t.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = t._lr()
        if x is None:
            x = t.sampler.sample(cfg.batch_size, t.generator)  # (I, B, F)
        out = tms_forward(x, t.params["W"], t.params["b"], cfg.model, cfg.activation, cfg.dropout, t.generator)
        losses = weighted_mse(x, out, t.importance)  # (I,)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()


class NumbaEngine:
    """CPU: gradients from ``fastcore.tms`` straight into ``W.grad``/``b.grad`` (shared memory), fused Adam."""

    name = "numba"

    def __init__(self, trainer: TMSTrainer) -> None:
        from fastcore.tms import TMSGrads, seed_key

        self.t = weakref.proxy(trainer)  # no cycle: a dropped trainer frees its (GPU) memory at once
        cfg = trainer.cfg
        W, b = trainer.params["W"], trainer.params["b"]
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
        self.optimizer = make_optimizer(cfg, [W, b], fused=True)
        self.grads = TMSGrads(
            W.detach().numpy(), b.detach().numpy(), probability_matrix(cfg), importance(cfg), seed_key(cfg.seed),
            cfg.batch_size, cfg.model, cfg.activation, cfg.value_law, cfg.correlated_pairs,
            cfg.anticorrelated_pairs, dW=W.grad.numpy(), db=b.grad.numpy(),
        )
        self.losses = torch.from_numpy(self.grads.losses)  # (I,) shares memory with the kernel's output

    def step(self, x: torch.Tensor | None = None) -> torch.Tensor:
        t = self.t
        if t.cfg.schedule != "constant":
            for group in self.optimizer.param_groups:
                group["lr"] = t._lr()
        self.grads(t.step, None if x is None else x.detach().numpy())
        self.optimizer.step()
        return self.losses


def graph_chunk(log_every: int, cap: int = GRAPH_CHUNK_MAX) -> int:
    """Steps per replay of the chunk graph: the largest divisor of ``log_every`` up to ``cap``, so that every
    logged step ends a chunk."""
    return max(d for d in range(1, min(cap, log_every) + 1) if log_every % d == 0)


class CUDAGraphEngine:
    """CUDA: whole steps captured in CUDA graphs (of 1 and of ``chunk`` steps), replayed without host sync."""

    name = "cuda_graph"

    def __init__(self, trainer: TMSTrainer) -> None:
        self.t = weakref.proxy(trainer)  # no cycle: a dropped trainer frees its (GPU) memory at once
        cfg, dev = trainer.cfg, trainer.device
        W, b = trainer.params["W"], trainer.params["b"]
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
        self.lr = torch.full((), cfg.lr, dtype=torch.float32, device=dev)
        self.optimizer = make_optimizer(cfg, [W, b], lr=self.lr, fused=True, capturable=True)
        self.step_t = torch.zeros((), dtype=torch.int64, device=dev)  # the step being taken, on the device
        self.losses = torch.zeros(cfg.n_instances, device=dev)
        self.fused_kernel = fused_kernel_applies(cfg)
        if self.fused_kernel:
            from fastcore.tms import seed_key
            from toys.triton_tms import TritonTMSGrads

            p = torch.as_tensor(probability_matrix(cfg), device=dev)
            self._triton = TritonTMSGrads(
                W.detach(), b.detach(), p, trainer.importance, seed_key(cfg.seed), cfg.batch_size, cfg.model,
                cfg.activation, cfg.value_law, cfg.correlated_pairs, cfg.anticorrelated_pairs, self.step_t,
                self.losses, W.grad, b.grad,
            )
            try:  # compile now (it only fills the gradient buffers); a size Triton cannot build takes the torch ops
                self._triton()
            except Exception:
                if not _graph_safe_generators():
                    raise
                self.fused_kernel = False
        self.chunk = graph_chunk(cfg.log_every)
        self._graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph | None] | None = None

    def _grads(self, x: torch.Tensor | None) -> None:
        if self.fused_kernel:
            self._triton(x)
            return
        t, cfg = self.t, self.t.cfg
        if x is None:
            x = t.sampler.sample(cfg.batch_size, t.generator)  # (I, B, F)
        W, b = t.params["W"], t.params["b"]
        losses, dW, db = tms_loss_and_grads(x, W.detach(), b.detach(), t.importance, cfg.model, cfg.activation)
        W.grad.copy_(dW)
        b.grad.copy_(db)
        self.losses.copy_(losses)

    def _body(self, x: torch.Tensor | None = None) -> None:
        cfg = self.t.cfg
        if cfg.schedule != "constant":
            frac = self.step_t.double() / cfg.steps
            factor = 1.0 - frac if cfg.schedule == "linear" else 0.5 * (1.0 + torch.cos(math.pi * frac))
            self.lr.copy_(cfg.lr * factor)
        self._grads(x)
        self.optimizer.step()
        self.step_t.add_(1)

    def step(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """One eager step (no graph), e.g. on a given batch."""
        self.step_t.fill_(self.t.step)
        self._body(x)
        return self.losses

    def advance(self, n: int) -> None:
        t = self.t
        if self._graphs is None:
            self._graphs = self._capture()
        one, many = self._graphs
        self.step_t.fill_(t.step)
        while n > 0:
            if many is not None and n >= self.chunk and t.step % self.chunk == 0:
                many.replay()
                t.step += self.chunk
                n -= self.chunk
            else:
                one.replay()
                t.step += 1
                n -= 1
            t._maybe_record(self.losses)

    # ------------------------------------------------------------------------------------------- capture

    def _state(self) -> list[torch.Tensor]:
        tensors = [*self.t.params.values(), self.step_t, self.lr]
        for state in self.optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensors

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph | None]:
        """Warm up on a side stream (compiles kernels, creates Adam's state), put every tensor back as it was,
        then capture. Warm-up and capture leave the training state unchanged."""
        with _CAPTURE_LOCK, torch.no_grad():
            before = [x.clone() for x in self._state()]
            rng = None if self.fused_kernel else self.t.generator.get_state()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._body()
            torch.cuda.current_stream().wait_stream(side)
            now = self._state()
            for x, old in zip(now, before):
                x.copy_(old)
            for x in now[len(before):]:  # Adam's state, created by the warm-up: fresh is all zeros
                x.zero_()
            if rng is not None:
                self.t.generator.set_state(rng)
            one = self._graph(1)
            many = self._graph(self.chunk, pool=one.pool()) if self.chunk > 1 else None
            torch.cuda.current_stream().synchronize()
        return one, many

    def _graph(self, steps: int, pool=None) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        if not self.fused_kernel:
            graph.register_generator_state(self.t.generator)
        with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
            for _ in range(steps):
                self._body()
        return graph


ENGINE_CLASSES = {"autograd": AutogradEngine, "numba": NumbaEngine, "cuda_graph": CUDAGraphEngine}
