"""Benchmarks of fastcore.geometry against plain references, in the same run and on the same inputs.

``CASES`` maps a case name to a function returning one JSON-ready dict: bench, device, config, ours, reference,
unit, ratio (reference / ours: above 1 means ours is faster), and case-specific checks.
``python -m bench.geometry [case ...]`` prints one JSON line per case.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from scipy.optimize import minimize

from bench import run_cases
from fastcore import geometry as geo

# --------------------------------------------------------------------------------------------- Thomson


def _energy_and_grad(flat: np.ndarray, n: int, dim: int) -> tuple[float, np.ndarray]:
    """Coulomb energy of the normalised rows of flat.reshape(n, dim) and its gradient in flat (vectorised numpy)."""
    y = flat.reshape(n, dim)
    r = np.linalg.norm(y, axis=1, keepdims=True)  # (n, 1)
    x = y / r
    diff = x[:, None, :] - x[None, :, :]  # (n, n, dim)
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    np.fill_diagonal(dist, np.inf)
    inv = 1.0 / dist
    gx = -np.einsum("ij,ijk->ik", inv**3, diff)  # dE/dx
    gy = (gx - np.sum(gx * x, axis=1, keepdims=True) * x) / r  # through x = y / |y|
    return 0.5 * float(inv.sum()), gy.ravel()


def _thomson_lbfgs(starts: np.ndarray) -> float:
    """Best energy of scipy L-BFGS-B on E(y/|y|) from every start, tolerances as tight as ours."""
    _, n, dim = starts.shape
    best = np.inf
    for start in starts:
        res = minimize(
            _energy_and_grad,
            start.ravel(),
            args=(n, dim),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 20_000, "ftol": 1e-15, "gtol": 1e-9},
        )
        best = min(
            best,
            geo.coulomb_energy(res.x.reshape(n, dim) / np.linalg.norm(res.x.reshape(n, dim), axis=1, keepdims=True)),
        )
    return best


def bench_thomson(n_min: int = 2, n_max: int = 30, dim: int = 3, restarts: int = 16, seed: int = 0) -> dict:
    """Thomson problem for n = n_min..n_max: fastcore.geometry.thomson vs scipy L-BFGS-B from the same starts."""
    ns = list(range(n_min, n_max + 1))
    geo.thomson(5, dim, restarts=2, seed=seed)  # compile (or load the cache) outside the timing
    t0 = time.perf_counter()
    ours = [geo.thomson(n, dim, restarts=restarts, seed=seed)[1] for n in ns]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = [_thomson_lbfgs(geo.random_starts(n, dim, restarts, seed)) for n in ns]
    t_ref = time.perf_counter() - t0
    diff = np.array(ours) - np.array(ref)  # > 0 where ours is higher
    return {
        "bench": "geometry.thomson",
        "device": "cpu",
        "config": {
            "n": [n_min, n_max],
            "dim": dim,
            "restarts": restarts,
            "seed": seed,
            "cpus": os.cpu_count(),
            "reference": "scipy L-BFGS-B, ftol 1e-15, gtol 1e-9, same starts",
        },
        "ours": round(t_ours, 4),
        "reference": round(t_ref, 4),
        "unit": "s",
        "ratio": round(t_ref / t_ours, 2),
        "energy_max_diff": float(diff.max()),
        "energy_max_abs_diff": float(np.abs(diff).max()),
        "n_ours_lower": int(np.sum(diff < -1e-9)),
        "n_ours_higher": int(np.sum(diff > 1e-9)),
        "energies_ours": [round(e, 9) for e in ours],
        "energies_reference": [round(e, 9) for e in ref],
    }


CASES = {"thomson": bench_thomson}


if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
