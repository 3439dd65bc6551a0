"""Shared runs for demos: ``python -m bench shared``.

Simulates a talk's audience on the Superposition page's *Pentagon* preset: N visitors, each on its own thread (as
Streamlit serves each on a script thread), each playing as ``ui.live`` does — every ``TICK_S`` a tick that moves
its viewer on for ``TRAIN_S`` and takes the snapshot — for the same wall time. Measured: the process's CPU time
(``time.process_time``, all threads) and each visitor's steps ÷ wall time, for

- ``one``: a single visitor (the reference),
- ``shared``: N visitors through one ``RunStore`` (what the app does: one run, N play heads),
- ``separate``: N visitors each with its own run (what the app did before: N trainings of the same thing).

``ratio`` = CPU(shared) ÷ CPU(one); the goal is ≤ 1.5 for 30 visitors. With ``--draw`` (case ``shared_draw``) each
tick also builds the page's charts from its snapshot to Vega-Lite dicts (feature norms, directions, WᵀW, loss),
which every visitor's page does for itself: that part is not shared, and the figure shows what it costs.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

import fastcore
from bench import run_cases
from charts.common import instance_labels, pick_instances
from charts.tms import (
    directions_chart,
    directions_frame,
    feature_frame,
    loss_chart,
    loss_frame,
    norm_bars,
    wtw_frame,
    wtw_heatmaps,
)
from toys import TMSConfig, make_tms_trainer
from toys.core.data import instance_probability
from toys.tms.metrics import feature_dimensionality, feature_norms, superposition_score
from ui.live import TICK_S, TRAIN_S
from ui.shared import RunStore

# The Pentagon preset of ui.tms_controls on top of the page's defaults; steps enough for the whole measurement.
PENTAGON = TMSConfig(n_features=5, n_hidden=2, n_instances=4, p_max=10**-1.3, p_min=10**-1.3, steps=10**7)


def _draw(snap, cfg) -> None:
    """The Superposition page's charts of one snapshot, built to Vega-Lite dicts."""
    W = snap["W"]
    shown = pick_instances(cfg.n_instances, 10)
    labels = instance_labels(instance_probability(cfg))
    norms, sup, dims = feature_norms(W), superposition_score(W), feature_dimensionality(W)
    loss_chart(loss_frame(snap.loss[:, shown], snap.loss_steps, [labels[i] for i in shown]), cfg.steps).to_dict()
    norm_bars(feature_frame(W, shown, labels, norms, sup, dims)).to_dict()
    directions_chart(directions_frame(W, shown, labels, sup)).to_dict()
    wtw_heatmaps(wtw_frame(W, shown, labels)).to_dict()


def _audience(n: int, shared: bool, seconds: float, draw: bool) -> dict:
    store = RunStore(TICK_S)
    viewers = [store.viewer("tms" if shared else f"tms{i}", PENTAGON, make_tms_trainer) for i in range(n)]
    steps = [0] * n
    start = threading.Barrier(n + 1)

    def visit(i: int) -> None:
        v = viewers[i]
        fastcore.set_threads(1)  # one numba thread per visitor's thread, as ui.live sets it
        start.wait()
        t_end = time.perf_counter() + seconds
        while (t0 := time.perf_counter()) < t_end:
            v.advance_for(TRAIN_S, chunk=max(1, int((v.run.rate or 20) * TRAIN_S / 20)))
            snap = v.snapshot()
            if draw:
                _draw(snap, PENTAGON)
            time.sleep(max(0.0, TICK_S - (time.perf_counter() - t0)))
        steps[i] = v.step

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rates = np.asarray(steps) / wall
    return {
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "runs": len({id(v.run) for v in viewers}),
        "steps_per_s_min": round(float(rates.min()), 1),
        "steps_per_s_median": round(float(np.median(rates)), 1),
    }


def bench_shared(visitors: int = 30, seconds: float = 20.0, draw: bool = False) -> dict:
    import torch

    torch.set_num_threads(1)  # one intra-op thread per trainer, as the app runs them
    make_tms_trainer(PENTAGON).advance(10)  # the engine's kernels compile here, not in the measurement
    one = _audience(1, True, seconds, draw)
    shared = _audience(visitors, True, seconds, draw)
    separate = _audience(visitors, False, seconds, draw)
    return {
        "bench": "shared_draw" if draw else "shared",
        "device": "cpu",
        "config": {"preset": "Pentagon", "visitors": visitors, "seconds": seconds, "tick_s": TICK_S, "draw": draw},
        "one": one,
        "shared": shared,
        "separate": separate,
        "ratio": round(shared["cpu_s"] / one["cpu_s"], 2),
        "separate_ratio": round(separate["cpu_s"] / one["cpu_s"], 2),
        "unit": "CPU seconds",
    }


CASES = {"shared": bench_shared, "shared_draw": lambda: bench_shared(draw=True)}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
