"""Training speed of the compressed-computation trainer (``toys.compute.cc.CCTrainer``) against a plain notebook loop.

The reference is the residual MLP as people write it in a notebook: W_E (n, d_embed) frozen with unit rows,
W_U = W_Eᵀ, ``nn.Parameter`` W_in/W_out, a fresh batch every step from two ``torch.rand`` calls (values, then the
presence mask), the forward through the d_embed-wide residual stream with matmuls, labels x + ReLU(x), MSE,
``backward()`` and ``torch.optim.AdamW`` (weight decay 0.01) at the cosine learning rate; the loss is read on the
host every 100 steps. Ours folds the frozen W_E into the weights once per step (the batch never enters the wide
stream), draws the batch with one ``torch.rand`` and writes gradients by hand. Same config, device and process;
rounds alternate ours / reference, ``ours`` and ``reference`` are medians of steps/s, ``ratio`` = ours / reference.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over building it and 100 steps, less what was allocated
before; on the CPU the growth of the peak RSS (VmHWM) of a fresh process while it builds it and runs 100 steps,
after a tiny warm-up model (library loading left out).
"""

from __future__ import annotations

import math
import sys
import time

import torch

from bench.tms import _rate, _sync, module_main, peak_memory, print_rss_growth, result
from toys.compute.cc import CCConfig, CCTrainer
from toys.core.device import resolve_device

CONFIGS = {
    "cc_published": CCConfig(
        n_features=100,
        d_embed=1000,
        d_mlp=50,
        p=0.01,
        batch_size=2048,
        lr=3e-3,
        weight_decay=0.01,
        schedule="cosine",
        mixing="embedding",
    )
}
TIMED_STEPS = 1_000_000
MEM_STEPS = 100


class ReferenceCC:
    """The notebook loop of the residual MLP (one model)."""

    def __init__(self, cfg: CCConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        W_E = torch.randn(cfg.n_features, cfg.d_embed, device=device)
        self.W_E = W_E / W_E.norm(dim=1, keepdim=True)
        self.W_in = torch.nn.Parameter((torch.rand(cfg.d_embed, cfg.d_mlp, device=device) * 2 - 1) / cfg.d_embed**0.5)
        self.W_out = torch.nn.Parameter((torch.rand(cfg.d_mlp, cfg.d_embed, device=device) * 2 - 1) / cfg.d_mlp**0.5)
        self.opt = torch.optim.AdamW([self.W_in, self.W_out], lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step_index = 0
        self.last_loss = math.nan

    def batch(self) -> torch.Tensor:
        shape = (self.cfg.batch_size, self.cfg.n_features)
        values = torch.rand(shape, device=self.device) * 2 - 1
        return values * (torch.rand(shape, device=self.device) < self.cfg.p)

    def step(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * 0.5 * (1 + math.cos(math.pi * self.step_index / self.cfg.steps))
        x = self.batch()
        resid = x @ self.W_E
        resid = resid + torch.relu(resid @ self.W_in) @ self.W_out
        out = resid @ self.W_E.T
        loss = ((out - (x + torch.relu(x))) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.step_index % 100 == 0:
            self.last_loss = loss.item()
        self.step_index += 1

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


def _ours(cfg: CCConfig, device: torch.device):
    trainer = CCTrainer(cfg.replace(device=device.type))
    return trainer, trainer.advance


def _reference(cfg: CCConfig, device: torch.device):
    ref = ReferenceCC(cfg, device)
    return ref, ref.run


def _build(name: str, which: str, device: torch.device, cfg: CCConfig | None = None):
    return (_ours if which == "ours" else _reference)(CONFIGS[name] if cfg is None else cfg, device)


def _mem_probe(name: str, which: str) -> None:
    cpu = torch.device("cpu")
    tiny = CONFIGS[name].replace(n_features=4, d_embed=8, d_mlp=2, batch_size=4)
    print_rss_growth(lambda: _build(name, which, cpu, tiny), lambda: _build(name, which, cpu))


def bench_case(name: str, device: str = "auto", seconds: float | None = None, rounds: int = 3) -> dict:
    dev = resolve_device(device)
    cfg = CONFIGS[name]
    seconds = seconds or (1.0 if dev.type == "cuda" else 3.0)
    timed = cfg.replace(steps=TIMED_STEPS)
    t0 = time.perf_counter()
    trainer, ours = _ours(timed, dev)
    ours(20)
    _sync(dev)
    startup = time.perf_counter() - t0
    ref, reference = _reference(timed, dev)
    reference(20)
    _sync(dev)
    block = 100 if dev.type == "cuda" else 10
    ours_rates, ref_rates = [], []
    for _ in range(rounds):
        ours_rates.append(_rate(ours, block, seconds, dev))
        ref_rates.append(_rate(reference, block, seconds, dev))
    del trainer, ours, ref, reference
    peak = peak_memory("bench.cc", name, lambda which: _build(name, which, dev), dev, MEM_STEPS)
    return result(name, dev, cfg, {}, ours_rates, ref_rates, peak, startup, rounds, seconds)


def cases(device: str = "auto") -> list[str]:
    return list(CONFIGS)


CASES = {name: (lambda device="auto", _name=name: bench_case(_name, device)) for name in CONFIGS}


if __name__ == "__main__":
    module_main(sys.argv[1:], cases(), bench_case, _mem_probe)
