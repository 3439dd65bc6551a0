"""Benchmark of chart building: the CC neuron × feature heatmap (10,000 cells) built from a DataFrame, as every
chart in ``charts`` is, against the same chart built from inline records (``alt.Data(values=...)``), each timed
from the frame to the finished Vega-Lite dict (what export and the tests read; Streamlit calls the same
``to_dict`` with its own Arrow data transformer).

``python -m bench.charts`` prints one JSON line per case: ours and reference in seconds, ratio = reference / ours.
"""

from __future__ import annotations

import sys
import time

import altair as alt
import numpy as np

from bench import run_cases
from charts.computation import weights_frame, weights_heatmap


def _best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_heatmap(n_features: int = 100, d_mlp: int = 50, repeats: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    df = weights_frame(rng.standard_normal((n_features, d_mlp)), rng.standard_normal((d_mlp, n_features)))

    def ours() -> dict:
        return weights_heatmap(df).to_dict()

    def reference() -> dict:
        chart = weights_heatmap(df)  # the same encodings, with the data swapped for inline records
        return chart.properties(data=alt.Data(values=df.to_dict(orient="records"))).to_dict()

    assert len(reference()["data"]["values"]) == len(df) == len(next(iter(ours()["datasets"].values())))
    t_ours, t_ref = _best_of(ours, repeats), _best_of(reference, repeats)
    return {
        "bench": "charts.heatmap",
        "device": "cpu",
        "config": {"cells": len(df), "repeats": repeats, "altair": alt.__version__},
        "ours": round(t_ours, 4),
        "reference": round(t_ref, 4),
        "unit": "s",
        "ratio": round(t_ref / t_ours, 2),
    }


CASES = {"heatmap": bench_heatmap}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
