"""Training speed of the U-AND trainer's sparse engine (``UANDTrainer(cfg, "sparse")``) against its dense one.

The reference is the trainer's ``dense`` engine: every width padded to d_max, the inputs as a dense (B, m) matrix,
the (I, B, G) output of all G = m(m−1)/2 gates formed, MSE, ``backward()`` and Adam — the U-AND model as one writes
it in a notebook. Ours runs each width at its own size, gathers the first layer from the on inputs, writes
gradients by hand and, for MSE, computes the loss over all gates through the d×d Gram matrix W2 W2ᵀ plus the few
gates whose target is 1 (where cheaper than the dense product), then takes a fused Adam step. Same config, device and
process; rounds alternate ours / reference, ``ours`` and ``reference`` are medians of steps/s, ``ratio`` = ours /
reference.

``agreement``: both engines trained ``AGREE_STEPS`` steps from the same seed (same initial weights, same batches);
the largest relative difference of their per-instance losses at every step, and of the final weights.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over building it and ``MEM_STEPS`` steps, less what was
allocated before; on the CPU the growth of the peak RSS (VmHWM) of a fresh process while it builds it and runs them,
after a tiny warm-up model (library loading left out).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from bench.tms import _rate, _sync, module_main, peak_memory, print_rss_growth, result
from toys.compute.uand import UANDConfig, UANDTrainer, instance_method, instance_widths
from toys.core.device import resolve_device

CONFIGS = {
    "uand_m100": UANDConfig(
        n_inputs=100, n_active=2, d_min=25, d_max=1000, n_instances=5, batch_size=256, lr=1e-2, schedule="cosine"
    ),
}
TIMED_STEPS = 1_000_000
MEM_STEPS = 5
AGREE_STEPS = 20


def _build(name: str, which: str, device: torch.device, cfg: UANDConfig | None = None):
    cfg = (CONFIGS[name] if cfg is None else cfg).replace(device=device.type)
    trainer = UANDTrainer(cfg, engine="sparse" if which == "ours" else "dense")
    return trainer, trainer.advance


def _mem_probe(name: str, which: str) -> None:
    cpu = torch.device("cpu")
    tiny = CONFIGS[name].replace(n_inputs=6, d_min=2, d_max=4, n_instances=2, batch_size=4)
    print_rss_growth(lambda: _build(name, which, cpu, tiny), lambda: _build(name, which, cpu), MEM_STEPS)


def agreement(cfg: UANDConfig, device: torch.device, steps: int = AGREE_STEPS) -> dict:
    """Train both engines ``steps`` steps from the same seed, logging every step; compare losses and weights."""
    cfg = cfg.replace(device=device.type, steps=steps, log_every=1)
    snaps = {e: UANDTrainer(cfg, engine=e).run() for e in ("sparse", "dense")}
    a, b = snaps["sparse"], snaps["dense"]
    loss_rel = np.abs(a.loss - b.loss) / np.abs(b.loss)
    weights_rel = max(float(np.abs(a[k] - b[k]).max() / np.abs(b[k]).max()) for k in ("W1", "b1", "W2", "b2"))
    return {
        "steps": steps,
        "final_loss_ours": [round(float(v), 6) for v in a.final_loss],
        "final_loss_reference": [round(float(v), 6) for v in b.final_loss],
        "max_rel_loss_diff": float(loss_rel.max()),
        "max_rel_weight_diff": weights_rel,
    }


def bench_case(name: str, device: str = "auto", seconds: float | None = None, rounds: int = 3) -> dict:
    dev = resolve_device(device)
    cfg = CONFIGS[name]
    seconds = seconds or (1.0 if dev.type == "cuda" else 5.0)
    timed = cfg.replace(steps=TIMED_STEPS)
    agree = agreement(cfg, dev)
    t0 = time.perf_counter()
    trainer, ours = _build(name, "ours", dev, timed)
    ours(2)
    _sync(dev)
    startup = time.perf_counter() - t0
    ref, reference = _build(name, "reference", dev, timed)
    reference(1)
    _sync(dev)
    block = 10 if dev.type == "cuda" else 1
    ours_rates, ref_rates = [], []
    for _ in range(rounds):
        ours_rates.append(_rate(ours, block, seconds, dev))
        ref_rates.append(_rate(reference, block, seconds, dev))
    del trainer, ours, ref, reference
    peak = peak_memory("bench.uand", name, lambda which: _build(name, which, dev), dev, MEM_STEPS)
    widths = [int(d) for d in instance_widths(cfg)]
    extra = {"widths": widths, "methods": [instance_method(cfg, d) for d in widths], "agreement": agree}
    return result(name, dev, cfg, extra, ours_rates, ref_rates, peak, startup, rounds, seconds)


def cases(device: str = "auto") -> list[str]:
    return list(CONFIGS)


CASES = {name: (lambda device="auto", _name=name: bench_case(_name, device)) for name in CONFIGS}


if __name__ == "__main__":
    module_main(sys.argv[1:], cases(), bench_case, _mem_probe)
