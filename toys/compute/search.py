"""Where does a trained network compute more functions than the naive circuit of as many neurons?

``python -m toys search [--toy deep|uand|cc] [--quick] [--out table.json]`` trains a grid of configs and prints one
JSON line per trained network (a cell's instance) and a final summary line; ``--out`` also writes the whole table.

- ``deep`` (``toys.compute.deep``): target × loss × depth × neurons, sparsity as the instances (one model per cell);
- ``uand`` (``toys.compute.uand``): loss × active inputs, the width d as the instances;
- ``cc`` (``toys.compute.cc``): loss × labels × d_mlp × p, the embedding's mixing (in the labels or removed) as the
  instances; functions counted by deep's rule (``toys.compute.deep.COMPUTED_FRACTION``) on ReLU(x).

Every row has ``neurons``, ``n_functions``, ``trained_functions``, ``naive_functions``, ``handmade_functions`` (None
where there is no construction), ``trained_error`` and ``naive_error`` (the toy's error figure: deep and cc the mean
held-out loss over the best affine loss, U-AND the mean per-gate error rate) and ``beats_naive``: trained computes
more functions than naive with fewer neurons than functions (``beats_naive``). The summary names the best row: the
largest margin of trained over naive among rows with fewer neurons than functions (ties: the lower trained error);
``best_raw_output`` the same without U-AND's BCE rows, whose sigmoid readout computes AND by itself.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import numpy as np
import torch

from toys.compute.cc import CCConfig, CCTrainer, instance_labels, naive_profile, per_feature_loss
from toys.compute.deep import (
    COMPUTED_FRACTION,
    DeepConfig,
    DeepTrainer,
    beats_naive,
    deep_summary,
    reference_loss,
)
from toys.compute.uand import UANDConfig, UANDTrainer, uand_summary
from toys.core.snapshot import Snapshot

SEARCH_TOYS = ("deep", "uand", "cc")
ROW_FIELDS = (
    "toy",
    "cell",
    "instance",
    "neurons",
    "n_functions",
    "trained_functions",
    "naive_functions",
    "handmade_functions",
    "trained_error",
    "naive_error",
    "beats_naive",
)


def deep_cells(quick: bool) -> list[DeepConfig]:
    """target × loss × depth × neurons (a quarter and a half of the functions, split evenly over the layers);
    instances at feature probabilities 0.1, 0.032 and 0.01 (spd's), in spd's stream of 1000 for 100 features."""
    if quick:
        base = {"n_features": 8, "d_embed": 24, "n_instances": 2, "feature_probability": 0.2, "p_min": 0.05}
        base |= {"steps": 60, "batch_size": 128, "log_every": 20, "eval_present": 50}
        grid = itertools.product(("relu",), ("mse", "lp"), (1, 2), (0.5,))
    else:
        base = {"n_features": 100, "d_embed": 1000, "n_instances": 3, "feature_probability": 0.1, "p_min": 0.01}
        base |= {"steps": 3000, "batch_size": 1024, "lr": 1e-2, "log_every": 100, "eval_present": 400}
        grid = itertools.product(("relu", "abs", "maxabs"), ("mse", "lp"), (1, 2, 3), (0.25, 0.5))
    cells = []
    for t, loss, L, share in grid:
        n_functions = base["n_features"] // (2 if t == "maxabs" else 1)
        d_mlp = max(1, round(share * n_functions / L))
        cells.append(DeepConfig(**base, device="cpu", target=t, loss=loss, n_layers=L, d_mlp=d_mlp))
    return cells


def uand_cells(quick: bool) -> list[UANDConfig]:
    """loss × active inputs; instances at widths d_min … d_max (geometric)."""
    if quick:
        base = {"n_inputs": 6, "d_min": 3, "d_max": 12, "n_instances": 2, "steps": 60, "batch_size": 64}
        base |= {"eval_cases": 4}
        grid = itertools.product(("mse", "bce"), (2,))
    else:
        base = {"n_inputs": 12, "d_min": 8, "d_max": 96, "n_instances": 5, "steps": 4000, "batch_size": 1024}
        base |= {"eval_cases": 16}
        grid = itertools.product(("mse", "lp", "bce"), (2, 3))
    return [UANDConfig(**base, device="cpu", log_every=20, loss=loss, n_active=k) for loss, k in grid]


def cc_cells(quick: bool) -> list[CCConfig]:
    """loss × labels × d_mlp × p; two instances: the embedding's mixing in the labels (even) and removed (odd)."""
    if quick:
        base = {"n_features": 8, "d_embed": 24, "steps": 60, "batch_size": 128, "eval_samples": 2000}
        grid = itertools.product(("mse",), ("continuous", "discrete"), (4,), (0.1,))
    else:
        base = {"n_features": 100, "d_embed": 1000, "steps": 3000, "batch_size": 1024, "eval_samples": 50_000}
        grid = itertools.product(("mse", "lp"), ("continuous", "discrete"), (25, 50), (0.01, 0.05))
    return [
        CCConfig(
            **base, mixing="compare", n_instances=2, device="cpu", log_every=20, loss=loss, labels=lab, d_mlp=h, p=p
        )
        for loss, lab, h, p in grid
    ]


def deep_rows(snap: Snapshot) -> list[dict]:
    s = deep_summary(snap)
    return [
        {
            "instance": f"p = {p}",
            "p": p,
            "target": s["target"],
            "loss": s["loss"],
            "n_layers": s["n_layers"],
            "d_mlp": s["d_mlp"],
            "neurons": s["d"],
            "n_functions": s["n_functions"],
            "trained_functions": s["trained_functions"][i],
            "naive_functions": s["naive_functions"],
            "handmade_functions": None,
            "trained_error": s["trained_error"][i],
            "naive_error": s["naive_error"][i],
            "trained_L_over_p": s["trained_L_over_p"][i],
            "naive_L_over_p": s["naive_L_over_p"][i],
        }
        for i, p in enumerate(s["p"])
    ]


def uand_rows(snap: Snapshot) -> list[dict]:
    """Each width's gates. With BCE a gate is read through a sigmoid, a threshold that computes AND by itself from
    x_i + x_j (above 1.5 iff both are on), which the naive circuit (raw outputs) does not use: ``sigmoid_readout``
    marks those rows, and the summary's ``best_raw_output`` leaves them out."""
    s = uand_summary(snap)
    return [
        {
            "instance": f"d = {d}",
            "loss": s["loss"],
            "n_active": snap.config["n_active"],
            "neurons": d,
            "n_functions": s["n_gates"],
            "trained_functions": s["trained_gates"][i],
            "naive_functions": s["naive_gates"][i],
            "handmade_functions": s["handmade_gates"][i],
            "trained_error": s["trained_error"][i],
            "naive_error": s["naive_error"][i],
            "handmade_error": s["handmade_error"][i],
            "linear_functions": s["linear_gates"],
            "sigmoid_readout": s["loss"] == "bce",
        }
        for i, d in enumerate(s["d"])
    ]


def cc_rows(snap: Snapshot) -> list[dict]:
    """Each instance's ReLU functions counted by deep's rule on its held-out per-feature loss (L/p · p against the
    best affine loss of ReLU(x)); naive: d_mlp features exactly, the rest nothing."""
    cfg = CCConfig.from_dict(snap.config)
    labels = "continuous" if cfg.law == "uniform_pm1" else "discrete"
    ref = reference_loss("relu", labels, cfg.p)
    losses = per_feature_loss(snap) * cfg.p  # (I, F)
    naive = naive_profile(cfg.n_features, cfg.d_mlp, cfg.law) * cfg.p
    return [
        {
            "instance": name,
            "loss": cfg.loss,
            "labels": cfg.labels,
            "p": cfg.p,
            "neurons": cfg.d_mlp,
            "n_functions": cfg.n_features,
            "trained_functions": int((losses[i] < COMPUTED_FRACTION * ref).sum()),
            "naive_functions": int((naive < COMPUTED_FRACTION * ref).sum()),
            "handmade_functions": None,
            "trained_error": round(float(losses[i].mean() / ref), 4),
            "naive_error": round(float(naive.mean() / ref), 4),
        }
        for i, name in enumerate(instance_labels(cfg))
    ]


TOY_SEARCH: dict[str, tuple[Callable[[bool], list], type, Callable[[Snapshot], list[dict]]]] = {
    "deep": (deep_cells, DeepTrainer, deep_rows),
    "uand": (uand_cells, UANDTrainer, uand_rows),
    "cc": (cc_cells, CCTrainer, cc_rows),
}


def finish_row(toy: str, cell: int, row: dict, seconds: float) -> dict:
    """A row with its toy, cell and ``beats_naive``, the common fields first."""
    row = {"toy": toy, "cell": cell, **row, "seconds": round(seconds, 2)}
    row["beats_naive"] = beats_naive(
        row["trained_functions"], row["naive_functions"], row["neurons"], row["n_functions"]
    )
    return {k: row[k] for k in ROW_FIELDS} | {k: v for k, v in row.items() if k not in ROW_FIELDS}


def best_row(rows: list[dict]) -> dict | None:
    """The row with fewer neurons than functions where trained leads naive by most (ties: lower trained error)."""
    below = [r for r in rows if r["neurons"] < r["n_functions"]]
    if not below:
        return None
    return max(below, key=lambda r: (r["trained_functions"] - r["naive_functions"], -r["trained_error"]))


def summarize(toy: str, rows: list[dict], configs: list, seconds: float) -> dict:
    """Counts, the best row and its config, and the best row among those read without a sigmoid."""
    best = best_row(rows)
    return {
        "summary": True,
        "toy": toy,
        "cells": len(configs),
        "rows": len(rows),
        "seconds": round(seconds, 1),
        "beats_naive_rows": sum(r["beats_naive"] for r in rows),
        "any_beats_naive": any(r["beats_naive"] for r in rows),
        "best": best,
        "best_config": configs[best["cell"]].to_dict() if best is not None else None,
        "best_raw_output": best_row([r for r in rows if not r.get("sigmoid_readout", False)]),
    }


def search(toy: str = "deep", quick: bool = False, emit: Callable[[str], None] = print) -> dict:
    """Train every cell of ``toy``'s grid, emit each row as a JSON line, and return the table and its summary.

    Torch runs on one thread meanwhile (as the app runs each trainer): these models are small, and on a shared
    2-core machine two threads made a deep step 8 to 15 times slower than one."""
    if toy not in TOY_SEARCH:
        raise ValueError(f"toy={toy!r} is not allowed: choose one of {', '.join(SEARCH_TOYS)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _search(toy, quick, emit)
    finally:
        torch.set_num_threads(threads)


def _search(toy: str, quick: bool, emit: Callable[[str], None]) -> dict:
    make_cells, trainer_cls, rows_of = TOY_SEARCH[toy]
    configs = make_cells(quick)
    rows: list[dict] = []
    t_all = time.perf_counter()
    for cell, cfg in enumerate(configs):
        t0 = time.perf_counter()
        snap = trainer_cls(cfg).run()
        new = rows_of(snap)
        seconds = (time.perf_counter() - t0) / len(new)
        for r in new:
            row = finish_row(toy, cell, r, seconds)
            rows.append(row)
            emit(json.dumps(row, default=_plain))
    summary = summarize(toy, rows, configs, time.perf_counter() - t_all)
    emit(json.dumps(summary, default=_plain))
    return {"rows": rows, "summary": summary}


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")
