"""Decomposition where it matters: does co-activation clustering of a transcoder's latents recover circuits that share
neurons? ``python -m toys.circuits.study [--quick]`` prints one JSON line per setting and a summary.

The circuits model (``toys.circuits.planted``) computes T circuits in one MLP of N neurons; the fewer neurons per
circuit (N / T), the more the circuits must share neurons (computation in superposition). For each N / T and each
transcoder variant this trains the model and a transcoder on its MLP (``toys.circuits.pipeline``), clusters the live
latents' co-activations and scores the clusters against each latent's true circuit (adjusted Rand index, ARI).

Variants, as the field suggests (each reported, whatever it finds):
- ``sparsity``: an L1 transcoder or a TopK one (k = the latents a single active circuit needs, ``circuit_size``);
- ``conditioned``: co-activations counted on every sample, or only on samples whose input has at most
  ``circuit_size`` nonzero features (most often one circuit active). The condition reads the model's *input*, which
  an analyst sees; it does not use which inputs belong to which circuit.

Also reported per setting: whether the model computes at all (its loss over the best constant's, ``baseline_mse``),
the transcoder's normalised MSE and L0, and the live latents.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator

import numpy as np

from toys.circuits.pipeline import (
    ClusterConfig,
    PipelineConfig,
    PipelineTrainer,
    analyse_activations,
    latent_circuits,
    split_snapshot,
)
from toys.circuits.planted import CircuitsConfig, baseline_mse
from toys.circuits.transcoder import TranscoderConfig, collect_activations

METHODS = ("average", "spectral")


def setting(
    neurons_per_circuit: int,
    sparsity: str,
    n_circuits: int = 8,
    circuit_size: int = 4,
    d_model: int = 32,
    steps: int = 3000,
    n_samples: int = 50_000,
    seed: int = 0,
) -> list[dict]:
    """Train one model and transcoder; score clustering on all samples and on the conditioned ones. -> two rows."""
    circuits = CircuitsConfig(
        n_circuits=n_circuits,
        circuit_size=circuit_size,
        d_model=d_model,
        n_neurons=n_circuits * neurons_per_circuit,
        steps=steps,
        seed=seed,
    )
    n_latents = 2 * n_circuits * circuit_size
    tc = TranscoderConfig(n_latents=n_latents, sparsity=sparsity, k=circuit_size, steps=steps, seed=seed)
    cfg = PipelineConfig(circuits, tc)
    t0 = time.perf_counter()
    snap = PipelineTrainer(cfg).run()
    model, transcoder = split_snapshot(snap)
    trained_s = time.perf_counter() - t0
    cluster_cfg = ClusterConfig(n_samples=n_samples, threshold=0.0, seed=seed)
    X, stats = collect_activations(model, transcoder, n_samples, seed=seed + 1)
    truth = latent_circuits(model, transcoder).circuit
    model_loss = float(np.mean(model.loss[-max(1, len(model.loss) // 20) :, 0]))
    common = {
        "neurons_per_circuit": neurons_per_circuit,
        "n_neurons": circuits.n_neurons,
        "n_circuits": n_circuits,
        "sparsity": sparsity,
        "model_loss_over_constant": round(model_loss / baseline_mse(circuits), 4),
        "transcoder_nmse": round(float(stats["nmse"]), 4),
        "transcoder_l0": round(float(stats["l0"]), 2),
        "seed": seed,
        "train_s": round(trained_s, 1),
    }
    rows = []
    for conditioned in (False, True):
        keep = stats["input_l0"] <= circuit_size if conditioned else np.ones(X.shape[0], bool)
        _, live, _, _, result, _ = analyse_activations(X[keep], truth, n_circuits, cluster_cfg, METHODS)
        rows.append(
            common
            | {
                "conditioned": conditioned,
                "samples": int(keep.sum()),
                "live_latents": int(live.sum()),
                **{f"ari_{m}": round(result[m]["ari"], 3) for m in METHODS},
            }
        )
    return rows


def study(
    neurons_per_circuit: tuple[int, ...] = (2, 4, 8, 16),
    sparsities: tuple[str, ...] = ("l1", "topk"),
    seeds: tuple[int, ...] = (0,),
    **kwargs,
) -> Iterator[dict]:
    """Every (neurons per circuit, sparsity, seed) setting, two rows each (unconditioned, conditioned), yielded as
    each setting is trained."""
    for npc in neurons_per_circuit:
        for sparsity in sparsities:
            for seed in seeds:
                yield from setting(npc, sparsity, seed=seed, **kwargs)


def summary(rows: list[dict]) -> dict:
    """The best ARI per neurons-per-circuit, and which variant gave it."""
    best = {}
    for row in rows:
        ari = max(row[f"ari_{m}"] for m in METHODS)
        if row["neurons_per_circuit"] not in best or ari > best[row["neurons_per_circuit"]]["ari"]:
            best[row["neurons_per_circuit"]] = {
                "ari": ari,
                "sparsity": row["sparsity"],
                "conditioned": row["conditioned"],
            }
    return {"best_by_neurons_per_circuit": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toys.circuits.study", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small settings, a few seconds (for tests)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per setting (default 1)")
    args = parser.parse_args(argv)
    if args.quick:
        kwargs = {
            "neurons_per_circuit": (2, 8),
            "sparsities": ("topk",),
            "n_circuits": 4,
            "steps": 300,
            "n_samples": 5_000,
        }
    else:
        kwargs = {"seeds": tuple(range(args.seeds))}
    rows = []
    for row in study(**kwargs):
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
