"""Training speed of the TMS engine (``toys.TMSTrainer``) against the notebook loop (``bench.reference``).

Both run the same config on the same device in the same process. Each is timed in rounds after a warm-up
(which for ours includes kernel compilation or cache loading and CUDA graph capture, reported as
``ours_startup_s``); rounds alternate ours / reference and each lasts at least ``seconds``; ``ours`` and
``reference`` are the medians of the rounds' steps/s, ``ratio`` = ours / reference.

Peak memory (``peak_mem_mb``) is measured apart from the timing, on the config with its own budget of 10,000
steps (the loss log is sized by the budget): on CUDA, ``torch.cuda.max_memory_allocated`` over building the
trainer (or the reference model) and running 100 steps, less what was allocated before (parameters, optimizer
state, CUDA graph pools and temporaries included); on the CPU, the growth of the peak resident set
(VmHWM) while a fresh subprocess builds it and runs 100 steps, after the same code ran once on a tiny
config (so kernel compilation and library loading are left out).
"""

from __future__ import annotations

import contextlib
import gc
import json
import resource
import statistics
import subprocess
import sys
import time

import numba
import torch

import fastcore
from bench.reference import ReferenceTMS
from toys import TMSConfig, TMSTrainer
from toys.core.device import device_label, resolve_device

CONFIGS = {
    "tms_intro": TMSConfig(
        n_instances=10,
        n_features=5,
        n_hidden=2,
        batch_size=1024,
        lr=1e-3,
        p_max=1.0,
        p_min=0.05,
        importance_decay=0.9,
        model="relu_output",
    ),
    "tms_sweep": TMSConfig(
        n_instances=400,
        n_features=20,
        n_hidden=5,
        batch_size=1024,
        lr=1e-3,
        p_max=1.0,
        p_min=0.01,
        importance_decay=0.9,
        model="relu_output",
    ),
}
CONFIGS["tms_sweep4k"] = CONFIGS["tms_sweep"].replace(n_instances=4000)
GPU_ONLY = ("tms_sweep4k",)  # too slow for the reference loop on a 2-core CPU
TIMED_STEPS = 2_000_000  # the trainers' budget while timed: not reached (checked)
MEM_STEPS = 100  # steps run while memory is measured, with the config's own budget of 10,000 steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run, block: int, seconds: float, device: torch.device) -> float:
    """Steps/s of ``run(block)`` repeated until ``seconds`` have passed (device work included)."""
    _sync(device)
    t0, n = time.perf_counter(), 0
    while True:
        run(block)
        n += block
        _sync(device)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def _ours(cfg: TMSConfig, device: torch.device):
    trainer = TMSTrainer(cfg.replace(device=device.type))
    return trainer, trainer.advance


def _reference(cfg: TMSConfig, device: torch.device):
    ref = ReferenceTMS(cfg, device)
    return ref, ref.run


def _peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM (of this program only, unlike ru_maxrss, which a child started by
    fork inherits from its parent), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child_peak_rss(module: str, name: str, which: str) -> float | None:
    """Growth of the peak RSS (MB) in a fresh ``python -m module --mem name which``, or None if it fails."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", module, "--mem", name, which],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def print_rss_growth(make_tiny, make_full, steps: int = MEM_STEPS) -> None:
    """Child side of ``child_peak_rss``: run a tiny model first (compilation and library loading left out), then
    print the MB that building the full one and running ``steps`` add to the peak RSS. make_* () -> (obj, run)."""
    _, run = make_tiny()
    run(3)
    before = _peak_rss_mb()
    _, run = make_full()
    run(steps)
    print(round(_peak_rss_mb() - before, 2))


def peak_memory(module: str, name: str, build, device: torch.device, steps: int = MEM_STEPS) -> dict:
    """Peak memory of ours and the reference for case ``name``: on CUDA in this process, on the CPU in a fresh
    ``module`` process each. ``build(which)`` -> (obj, run) with ``which`` "ours" or "reference"."""
    if device.type == "cuda":
        peak = {
            which: cuda_peak_mem(lambda which=which: build(which), device, steps) for which in ("ours", "reference")
        }
        peak["what"] = (
            f"torch.cuda.max_memory_allocated over building it and {steps} steps, less what was allocated before (MB)"
        )
    else:
        peak = {which: child_peak_rss(module, name, which) for which in ("ours", "reference")}
        peak["what"] = f"growth of the peak RSS (VmHWM) of a fresh process over building it and {steps} steps (MB)"
    return peak


def _build(name: str, which: str, device: torch.device, cfg: TMSConfig | None = None):
    return (_ours if which == "ours" else _reference)(CONFIGS[name] if cfg is None else cfg, device)


def _mem_probe(name: str, which: str) -> None:
    cpu = torch.device("cpu")
    print_rss_growth(
        lambda: _build(name, which, cpu, CONFIGS[name].replace(n_instances=1, batch_size=4)),
        lambda: _build(name, which, cpu),
    )


def cuda_peak_mem(build, device: torch.device, steps: int = MEM_STEPS) -> float:
    """Peak CUDA memory allocated (MB) over ``build()`` -> (trainer, run) and ``run(steps)``, less what was there."""
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    obj, run = build()
    run(steps)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del obj, run
    return round(peak / 2**20, 2)


def bench_case(
    name: str, device: str = "auto", seconds: float | None = None, rounds: int = 3, memory: bool = True
) -> dict:
    """Time ``name`` (a key of CONFIGS) with ours and the reference on ``device``; one JSON-ready dict."""
    dev = resolve_device(device)
    cfg = CONFIGS[name]
    on_gpu = dev.type == "cuda"
    if seconds is None:
        seconds = 1.0 if on_gpu else (1.5 if cfg.n_instances * cfg.n_features < 1000 else 2.5)
    timed = cfg.replace(steps=TIMED_STEPS)
    t0 = time.perf_counter()
    trainer, ours = _ours(timed, dev)
    ours(100)  # compile or load kernels, capture graphs
    _sync(dev)
    startup = time.perf_counter() - t0
    ours(200)
    if on_gpu:
        _sync(dev)
    ref, reference = _reference(timed, dev)
    ref_warm_t0 = time.perf_counter()
    reference(100)
    _sync(dev)
    ref_step_s = (time.perf_counter() - ref_warm_t0) / 100
    # whole reporting blocks of 100 steps (the reference syncs once per 100); fewer where a step is slow
    ref_block = 100 if ref_step_s * 100 < seconds / 4 else max(1, int(seconds / 4 / ref_step_s))
    ours_block = max(ref_block, 500 if on_gpu else ref_block)
    ours_rates, ref_rates = [], []
    for _ in range(rounds):
        ours_rates.append(_rate(ours, ours_block, seconds, dev))
        ref_rates.append(_rate(reference, ref_block, seconds, dev))
    if trainer.done:
        raise RuntimeError(f"{name}: the timing budget of {TIMED_STEPS} steps ran out; raise TIMED_STEPS")
    engine = trainer.engine_name
    fused = getattr(trainer.engine, "fused_kernel", None)
    del trainer, ours, ref, reference
    peak = peak_memory("bench.tms", name, lambda which: _build(name, which, dev), dev) if memory else {}
    extra = {"engine": engine + (" (triton kernel)" if fused else " (torch ops)" if fused is False else "")}
    return result(name, dev, cfg, extra, ours_rates, ref_rates, peak, startup, rounds, seconds)


def result(
    name: str,
    dev: torch.device,
    cfg,
    extra: dict,
    ours_rates: list[float],
    ref_rates: list[float],
    peak: dict,
    startup: float,
    rounds: int,
    seconds: float,
) -> dict:
    """The JSON record of a training case: medians of the rounds and their ratio, config, memory, start-up."""
    ours_rate, ref_rate = statistics.median(ours_rates), statistics.median(ref_rates)
    return {
        "bench": name,
        "device": device_label(dev),
        "config": {
            **{k: v for k, v in cfg.to_dict().items() if k not in ("steps", "device", "seed")},
            **extra,
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "rounds": rounds,
            "seconds_per_round": seconds,
        },
        "ours": round(ours_rate, 1),
        "reference": round(ref_rate, 1),
        "unit": "steps/s",
        "ratio": round(ours_rate / ref_rate, 2),
        "peak_mem_mb": peak,
        "ours_rounds": [round(r, 1) for r in ours_rates],
        "reference_rounds": [round(r, 1) for r in ref_rates],
        "ours_startup_s": round(startup, 3),
    }


def cases(device: str = "auto") -> list[str]:
    """The cases ``python -m bench`` runs on this device by default."""
    on_gpu = resolve_device(device).type == "cuda"
    return [name for name in CONFIGS if on_gpu or name not in GPU_ONLY] + ([] if on_gpu else ["tms_intro_contended"])


# Another process keeping every core busy with BLAS products, as other visitors' training does on a shared server.
COMPETITOR = """
import time, numpy as np
a = np.random.default_rng(0).random((600, 600))
end = time.time() + float(__import__("sys").argv[1])
while time.time() < end:
    a @ a
"""


@contextlib.contextmanager
def competing_process(seconds: float = 900.0):
    """A competing process on every core for the duration of the block (``seconds`` at most)."""
    proc = subprocess.Popen([sys.executable, "-c", COMPETITOR, str(seconds)])
    time.sleep(1.0)  # let it load numpy and start
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def app_threads():
    """The thread counts the app gives each visitor's trainer (ui.live): one torch and one numba thread."""
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    fastcore.set_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        fastcore.set_threads(numba.config.NUMBA_NUM_THREADS)


def bench_contended(device: str = "auto") -> dict:
    """``tms_intro`` idle and under a competing process, with the library's default threads and with the app's
    one thread per trainer (``app_threads``: one torch thread for both loops, one numba thread for ours)."""
    out = {"bench": "tms_intro_contended", "device": device_label(resolve_device(device)), "unit": "steps/s"}

    def brief(r: dict) -> dict:
        return {k: r[k] for k in ("ours", "reference", "ratio", "ours_rounds", "reference_rounds")}

    out["idle"] = brief(bench_case("tms_intro", device, memory=False))
    with app_threads():
        out["idle_app_threads"] = brief(bench_case("tms_intro", device, memory=False))
    with competing_process():
        out["contended"] = brief(bench_case("tms_intro", device, memory=False))
        with app_threads():
            out["contended_app_threads"] = brief(bench_case("tms_intro", device, memory=False))
    return out


CASES = {name: (lambda device="auto", _name=name: bench_case(_name, device)) for name in CONFIGS}
CASES["tms_intro_contended"] = bench_contended


def module_main(argv: list[str], default: list[str], bench_case, mem_probe) -> None:
    """``python -m bench.MODULE [case ...]`` prints one JSON line per case; ``--mem NAME WHICH`` is the child side
    of the CPU memory measure."""
    if len(argv) == 3 and argv[0] == "--mem":
        mem_probe(argv[1], argv[2])
    else:
        for case in argv or default:
            print(json.dumps(bench_case(case)), flush=True)


if __name__ == "__main__":
    module_main(sys.argv[1:], cases(), bench_case, _mem_probe)
