"""Metrics on TMS weights. W has shape (I, H, F): column W[i, :, f] is feature f's direction in instance i."""

from __future__ import annotations

import numpy as np

REPRESENTED_NORM = 0.5


def feature_norms(W: np.ndarray) -> np.ndarray:
    """‖W_f‖ per instance and feature. -> (I, F)"""
    return np.linalg.norm(W, axis=1)


def _overlaps(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Ŵ_f · W_g) for all f, g, and the norms. -> (I, F, F), (I, F)"""
    norms = feature_norms(W)
    unit = W / np.maximum(norms, 1e-12)[:, None, :]
    return np.matmul(unit.transpose(0, 2, 1), W), norms  # one batched BLAS product (I, F, H) @ (I, H, F)


def superposition_score(W: np.ndarray) -> np.ndarray:
    """√Σ_{g≠f} (Ŵ_f · W_g)²: how much other features share feature f's direction. -> (I, F)"""
    ov, _ = _overlaps(W)
    sq = ov**2
    return np.sqrt(np.maximum(sq.sum(axis=2) - np.einsum("iff->if", sq), 0.0))


def feature_dimensionality(W: np.ndarray) -> np.ndarray:
    """D_f = ‖W_f‖² / Σ_g (Ŵ_f · W_g)², 0 for a feature with zero norm. -> (I, F)

    A dedicated feature has D = 1; k features sharing d dimensions as a regular polytope have D = d/k each
    (digon 1/2, pentagon 2/5, tetrahedron 3/4).
    """
    ov, norms = _overlaps(W)
    denom = (ov**2).sum(axis=2)
    return np.where(norms > 1e-12, norms**2 / np.maximum(denom, 1e-24), 0.0)


def dimensions_per_feature(W: np.ndarray) -> np.ndarray:
    """m / ‖W‖_F² per instance (inf when W = 0). -> (I,)"""
    frob = (W**2).sum(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return np.where(frob > 0, W.shape[1] / frob, np.inf)


def n_represented(W: np.ndarray, threshold: float = REPRESENTED_NORM) -> np.ndarray:
    """Number of features with ‖W_f‖ > threshold, per instance. -> (I,)"""
    return (feature_norms(W) > threshold).sum(axis=1)


def tms_summary(W: np.ndarray) -> dict[str, list]:
    """Headline metrics per instance as plain lists (for JSON)."""
    return {
        "n_represented": n_represented(W).tolist(),
        "dims_per_feature": [float(v) for v in dimensions_per_feature(W)],
        "mean_superposition": superposition_score(W).mean(axis=1).tolist(),
    }


MONOSEMANTIC_SHARE = 0.9
DEAD_NORM = 0.1


def neuron_monosemanticity(W: np.ndarray) -> np.ndarray:
    """Share of each neuron's squared input weight that sits on its strongest feature; 0 for a zero neuron.

    W (I, H, F) holds neuron h's weight on feature f at W[i, h, f]. 1 means monosemantic; 1/F, evenly spread.
    -> (I, H)
    """
    sq = W.astype(np.float64) ** 2
    total = sq.sum(axis=2)
    return np.where(total > 0, sq.max(axis=2) / np.maximum(total, 1e-300), 0.0)


def neuron_counts(
    W: np.ndarray, share: float = MONOSEMANTIC_SHARE, dead_norm: float = DEAD_NORM
) -> dict[str, np.ndarray]:
    """Per instance: neurons that are monosemantic (≥ ``share`` on one feature), polysemantic, or dead
    (input-weight norm below ``dead_norm``). -> {"monosemantic", "polysemantic", "dead"}, each (I,)"""
    alive = np.linalg.norm(W, axis=2) >= dead_norm
    mono = alive & (neuron_monosemanticity(W) >= share)
    return {"monosemantic": mono.sum(axis=1), "polysemantic": (alive & ~mono).sum(axis=1), "dead": (~alive).sum(axis=1)}


def neuron_roles(W: np.ndarray, share: float = 0.5, dead_norm: float = DEAD_NORM) -> list[list[dict]]:
    """For each instance, the neurons that serve one feature: where ≥ ``share`` of a live neuron's squared input
    weight sits on feature f, it serves f's positive half if its weight on f is positive, else the negative half.
    -> per instance, a list of {"feature", "neuron", "sign", "weight", "share"} sorted by feature, then neuron."""
    mono = neuron_monosemanticity(W)
    alive = np.linalg.norm(W, axis=2) >= dead_norm
    top = np.abs(W).argmax(axis=2)
    roles = []
    for i in range(W.shape[0]):
        rows = []
        for h in range(W.shape[1]):
            if alive[i, h] and mono[i, h] >= share:
                f = int(top[i, h])
                w = float(W[i, h, f])
                rows.append(
                    {"feature": f, "neuron": h, "sign": "+" if w > 0 else "−", "weight": w, "share": float(mono[i, h])}
                )
        roles.append(sorted(rows, key=lambda r: (r["feature"], r["neuron"])))
    return roles
