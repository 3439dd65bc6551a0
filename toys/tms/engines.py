"""Step engines of the TMS trainer, and which one a config gets.

All engines train the same model the same way: batches from one uniform draw per feature (``toys.tms.data``), the
importance-weighted MSE averaged over batch and features per instance and summed over instances
(``toys.tms.model``), ``torch.optim.Adam``/``AdamW`` at the config's learning-rate schedule.

- ``numba`` (CPU): ``fastcore.tms`` draws the batch, runs forward and backward by hand in one pass over the
  samples and writes ``W.grad``/``b.grad`` in place; fused torch Adam steps. No autograd, no batch in memory.
- ``cuda_graph`` (CUDA): the whole step — learning rate from a device step counter, gradients (the fused Triton
  kernel of ``toys.tms.triton_kernel``, whose products run in 3×TF32 at about float32's accuracy; or ``FeatureSampler``
  plus ``tms_loss_and_grads`` where Triton is missing or the model too wide), fused capturable Adam — is captured
  once in CUDA graphs of 1 and of ``chunk`` steps and replayed; the host never waits on the device.
- ``autograd`` (any device): the plain loop — sampler, ``tms_forward``, ``backward()``, torch Adam; the only one
  with dropout on the hidden layer.

``auto`` picks the fast engine of the device where it applies and ``autograd`` otherwise.
"""

from __future__ import annotations

import threading

import torch

from toys.core.train import Schedule, make_optimizer, set_lr
from toys.tms.config import TMSConfig
from toys.tms.data import FeatureSampler, probability_matrix
from toys.tms.model import tms_forward, tms_loss_and_grads, weighted_mse

ENGINES = ("auto", "numba", "cuda_graph", "autograd")
CPU_MAX_HF = 50_000  # n_hidden·n_features up to which the numba kernel beat batched matmuls on 2 CPU cores
GRAPH_CHUNK_MAX = 64  # steps per replay of the chunk graph at most
_CAPTURE_LOCK = threading.Lock()  # one CUDA graph capture at a time per process


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
    from toys.tms.triton_kernel import fits

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


class Engine:
    """Runs TMS steps on the parameters it is given. ``step(step, x)`` takes step number ``step`` (0-based; it sets
    the learning rate and, for the fused kernels, the random stream) on a drawn batch or on ``x`` (I, B, F);
    ``run(start, n)`` takes steps ``start`` … ``start + n − 1``. Both return the per-instance losses (I,) of the
    last step. The trainer counts steps and logs; an engine only steps."""

    name = ""
    optimizer: torch.optim.Optimizer

    def __init__(
        self,
        cfg: TMSConfig,
        params: dict[str, torch.Tensor],
        importance: torch.Tensor,
        sampler: FeatureSampler,
        generator: torch.Generator,
        schedule: Schedule,
    ) -> None:
        self.cfg, self.params, self.importance = cfg, params, importance
        self.sampler, self.generator, self.schedule = sampler, generator, schedule

    def step(self, step: int, x: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def run(self, start: int, n: int) -> torch.Tensor:
        for s in range(start, start + n):
            losses = self.step(s)
        return losses


class AutogradEngine(Engine):
    """The plain loop: draw, forward, autograd backward, optimizer step."""

    name = "autograd"

    def __init__(self, *inputs) -> None:
        super().__init__(*inputs)
        self.optimizer = make_optimizer(self.cfg, list(self.params.values()))

    def step(self, step: int, x: torch.Tensor | None = None) -> torch.Tensor:
        cfg, params = self.cfg, self.params
        set_lr(self.optimizer, self.schedule.lr_at(step))
        if x is None:
            x = self.sampler.sample(cfg.batch_size, self.generator)  # (I, B, F)
        out = tms_forward(x, params["W"], params["b"], cfg.model, cfg.activation, cfg.dropout, self.generator)
        losses = weighted_mse(x, out, self.importance)  # (I,)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()


class NumbaEngine(Engine):
    """CPU: gradients from ``fastcore.tms`` straight into ``W.grad``/``b.grad`` (shared memory), fused Adam."""

    name = "numba"

    def __init__(self, *inputs) -> None:
        from fastcore.tms import TMSGrads, seed_key

        super().__init__(*inputs)
        cfg, params, importance = self.cfg, self.params, self.importance
        W, b = params["W"], params["b"]
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
        self.optimizer = make_optimizer(cfg, [W, b], fused=True)
        self.grads = TMSGrads(
            W.detach().numpy(),
            b.detach().numpy(),
            probability_matrix(cfg),
            importance.numpy(),
            seed_key(cfg.seed),
            cfg.batch_size,
            cfg.model,
            cfg.activation,
            cfg.value_law,
            cfg.correlated_pairs,
            cfg.anticorrelated_pairs,
            dW=W.grad.numpy(),
            db=b.grad.numpy(),
        )
        self.losses = torch.from_numpy(self.grads.losses)  # (I,) shares memory with the kernel's output

    def step(self, step: int, x: torch.Tensor | None = None) -> torch.Tensor:
        if self.schedule.kind != "constant":
            set_lr(self.optimizer, self.schedule.lr_at(step))
        self.grads(step, None if x is None else x.detach().numpy())
        self.optimizer.step()
        return self.losses


def graph_chunk(log_every: int, cap: int = GRAPH_CHUNK_MAX) -> int:
    """Steps per replay of the chunk graph: the largest divisor of ``log_every`` up to ``cap``, so that every
    logged step ends a chunk."""
    return max(d for d in range(1, min(cap, log_every) + 1) if log_every % d == 0)


class CUDAGraphEngine(Engine):
    """CUDA: whole steps captured in CUDA graphs (of 1 and of ``chunk`` steps), replayed without host sync."""

    name = "cuda_graph"

    def __init__(self, *inputs) -> None:
        super().__init__(*inputs)
        cfg, params, importance = self.cfg, self.params, self.importance
        dev = params["W"].device
        W, b = params["W"], params["b"]
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
        self.lr = torch.full((), cfg.lr, dtype=torch.float32, device=dev)
        self.optimizer = make_optimizer(cfg, [W, b], lr=self.lr, fused=True, capturable=True)
        self.step_t = torch.zeros((), dtype=torch.int64, device=dev)  # the step being taken, on the device
        self.losses = torch.zeros(cfg.n_instances, device=dev)
        self.fused_kernel = fused_kernel_applies(cfg)
        if self.fused_kernel:
            from fastcore.tms import seed_key
            from toys.tms.triton_kernel import TritonTMSGrads

            p = torch.as_tensor(probability_matrix(cfg), device=dev)
            self._triton = TritonTMSGrads(
                W.detach(),
                b.detach(),
                p,
                importance,
                seed_key(cfg.seed),
                cfg.batch_size,
                cfg.model,
                cfg.activation,
                cfg.value_law,
                cfg.correlated_pairs,
                cfg.anticorrelated_pairs,
                self.step_t,
                self.losses,
                W.grad,
                b.grad,
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
        cfg = self.cfg
        if x is None:
            x = self.sampler.sample(cfg.batch_size, self.generator)  # (I, B, F)
        W, b = self.params["W"], self.params["b"]
        losses, dW, db = tms_loss_and_grads(x, W.detach(), b.detach(), self.importance, cfg.model, cfg.activation)
        W.grad.copy_(dW)
        b.grad.copy_(db)
        self.losses.copy_(losses)

    def _body(self, x: torch.Tensor | None = None) -> None:
        if self.schedule.kind != "constant":
            self.lr.copy_(self.schedule.lr_at(self.step_t.double()))
        self._grads(x)
        self.optimizer.step()
        self.step_t.add_(1)

    def step(self, step: int, x: torch.Tensor | None = None) -> torch.Tensor:
        """One eager step (no graph), e.g. on a given batch."""
        self.step_t.fill_(step)
        self._body(x)
        return self.losses

    def run(self, start: int, n: int) -> torch.Tensor:
        """Replays of the captured graphs: the chunk graph where a whole chunk fits and starts on a multiple of
        ``chunk``, the one-step graph elsewhere."""
        if self._graphs is None:
            self._graphs = self._capture()
        one, many = self._graphs
        self.step_t.fill_(start)
        s, end = start, start + n
        while s < end:
            if many is not None and end - s >= self.chunk and s % self.chunk == 0:
                many.replay()
                s += self.chunk
            else:
                one.replay()
                s += 1
        return self.losses

    # ------------------------------------------------------------------------------------------- capture

    def _state(self) -> list[torch.Tensor]:
        tensors = [*self.params.values(), self.step_t, self.lr]
        for state in self.optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensors

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph | None]:
        """Warm up on a side stream (compiles kernels, creates Adam's state), put every tensor back as it was,
        then capture. Warm-up and capture leave the training state unchanged."""
        with _CAPTURE_LOCK, torch.no_grad():
            before = [x.clone() for x in self._state()]
            rng = None if self.fused_kernel else self.generator.get_state()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._body()
            torch.cuda.current_stream().wait_stream(side)
            now = self._state()
            for x, old in zip(now, before):
                x.copy_(old)
            for x in now[len(before) :]:  # Adam's state, created by the warm-up: fresh is all zeros
                x.zero_()
            if rng is not None:
                self.generator.set_state(rng)
            one = self._graph(1)
            many = self._graph(self.chunk, pool=one.pool()) if self.chunk > 1 else None
            torch.cuda.current_stream().synchronize()
        return one, many

    def _graph(self, steps: int, pool=None) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        if not self.fused_kernel:
            graph.register_generator_state(self.generator)
        with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
            for _ in range(steps):
                self._body()
        return graph


ENGINE_CLASSES = {"autograd": AutogradEngine, "numba": NumbaEngine, "cuda_graph": CUDAGraphEngine}
