"""Scores of a dictionary against the true features of its source (``toys.decomp.sources``).

Every score compares decoder rows (latents, d) with the true feature directions (n_true, d) through their cosine
similarities, rows scaled to unit norm first (a row of norm below 1e-8 counts as zero: cosine 0, as sae_lens does).

- ``mcc``: mean correlation coefficient exactly as ``sae_lens.synthetic.mean_correlation_coefficient`` (sae-lens
  6.54) defines it, after O'Neill et al. (2025, arXiv:2505.20254): the absolute cosines |cos| (latents × truth);
  a one-to-one matching of latents to true features that maximises their sum (Hungarian algorithm:
  ``scipy.optimize.linear_sum_assignment`` on 1 − |cos|); the mean of the matched |cos|. There are
  min(latents, n_true) matched pairs, so a dictionary narrower than the truth is averaged over its latents, not
  over the true features.
- ``recovered``: true features with some latent at cos ≥ ``RECOVERED_COS`` (0.9).
- ``split``: feature splitting: true features with two or more latents at cos ≥ ``SPLIT_COS`` (0.7; Bricken et
  al., 2023 saw split latents of one feature at cosines well below 1 to their parent direction).

These two take the signed cosine: latents are nonnegative, so a latent writes along its row, never against it (and
in few dims |cos| would count a row pointing away from a feature: in the 5→2 pentagon, rows 144° apart have
|cos| = 0.81).

With samples of the source (``sources.Acts``) and the dictionary's latents on them:

- ``l0``: mean number of nonzero latents per sample; ``true_l0``: mean number of active true features.
- ``dead``: latents that are zero on every sample (sae_lens's ``DeadLatentsCalculator``).
- ``shrinkage``: mean over samples with ‖y‖ > 1e-6 of ‖ŷ‖ / ‖y‖ (reconstruction norm over target norm, as sae_lens's
  ``ShrinkageCalculator``); below 1 when the penalty shrinks latents (an L1 SAE's known bias).
- ``nmse``: Σ‖ŷ − y‖² / Σ‖y − ȳ‖² over the samples (1 − explained variance).
- ``absorption`` (hierarchical sources only): feature absorption after Chanin et al. (2024), "A is for Absorption"
  (arXiv:2409.14507): the latent tracking a general (parent) feature fails to fire where a specific (child)
  feature is active, and the child's latent fires instead, carrying the parent's direction. Per (parent p, child c)
  pair, with ℓ_p and ℓ_c the latents of largest cos to p's and c's directions: the fraction of samples where p and
  c both fire on which ℓ_p is silent while ℓ_c fires, less the fraction of samples where p fires without any of
  its children on which ℓ_p is silent (a parent latent that misses everywhere is not absorbed, only weak), floored
  at 0; the mean over pairs. ``absorbed_cos``: the mean over pairs of cos(ℓ_c's decoder row, p's direction)
  (0 for an ideal dictionary of orthogonal features; about 0.7 when ℓ_c's row is c + p normalised).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from toys.core.snapshot import Snapshot
from toys.decomp.sae import TOPK_ARCHS, SAEConfig, apply_dictionaries
from toys.decomp.sources import Acts

RECOVERED_COS = 0.9
SPLIT_COS = 0.7
NORM_FLOOR = 1e-8  # sae_lens.util.cosine_similarities clamps norms here
MIN_TARGET_NORM = 1e-6  # sae_lens's ShrinkageCalculator skips samples with smaller target norms


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` (n_a, d) with every row of ``b`` (n_b, d). -> (n_a, n_b) float64"""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two matrices of rows in the same dims, got shapes {a.shape} and {b.shape}")
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), NORM_FLOOR)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), NORM_FLOOR)
    return an @ bn.T


def match(decoder: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-to-one matching of decoder rows to true features maximising the sum of |cos| (see ``mcc``).
    -> (latent indices, feature indices, their |cos|), min(latents, n_true) pairs"""
    c = np.abs(cosines(decoder, truth))
    rows, cols = linear_sum_assignment(1.0 - c)
    return rows, cols, c[rows, cols]


def mcc(decoder: np.ndarray, truth: np.ndarray) -> float:
    """Mean |cos| of the matched pairs (see the module docstring); 0 for an empty dictionary."""
    if len(decoder) == 0 or len(truth) == 0:
        return 0.0
    return float(match(decoder, truth)[2].mean())


def recovered(decoder: np.ndarray, truth: np.ndarray, threshold: float = RECOVERED_COS) -> int:
    """True features with some decoder row at cos ≥ ``threshold``."""
    if len(decoder) == 0:
        return 0
    return int((cosines(decoder, truth).max(axis=0) >= threshold).sum())


def split(decoder: np.ndarray, truth: np.ndarray, threshold: float = SPLIT_COS) -> int:
    """True features with at least two decoder rows at cos ≥ ``threshold``."""
    if len(decoder) == 0:
        return 0
    return int(((cosines(decoder, truth) >= threshold).sum(axis=0) >= 2).sum())


def absorption(latents: np.ndarray, decoder: np.ndarray, truth: np.ndarray, acts: Acts) -> dict[str, float]:
    """Absorption score and absorbed cosine over the (parent, child) pairs of ``acts.parents`` (see the module
    docstring); NaN where there is no pair or no sample to measure it on. latents (N, W) of the samples acts.x."""
    children = np.flatnonzero(acts.parents >= 0)
    if len(children) == 0 or len(decoder) == 0:
        return {"absorption": float("nan"), "absorbed_cos": float("nan")}
    c = cosines(decoder, truth)  # (W, n)
    best = c.argmax(axis=0)  # the latent of every true feature
    on = acts.f > 0  # (N, n)
    fires = latents > 0  # (N, W)
    scores, cos = [], []
    for child in children:
        parent = acts.parents[child]
        lp, lc = best[parent], best[child]
        both = on[:, parent] & on[:, child]
        alone = on[:, parent] & ~on[:, acts.parents == parent].any(axis=1)
        cos.append(c[lc, parent])
        if both.any() and alone.any():
            absorbed = (~fires[both, lp] & fires[both, lc]).mean()
            scores.append(max(0.0, absorbed - (~fires[alone, lp]).mean()))
    return {
        "absorption": float(np.mean(scores)) if scores else float("nan"),
        "absorbed_cos": float(np.mean(cos)),
    }


def sample_scores(latents: np.ndarray, recon: np.ndarray, acts: Acts) -> dict[str, float]:
    """l0, true_l0, dead, shrinkage and nmse of latents (N, W) and reconstructions (N, d_out) on ``acts``."""
    y = np.asarray(acts.y, dtype=np.float64)
    recon = np.asarray(recon, dtype=np.float64)
    norms = np.linalg.norm(y, axis=1)
    valid = norms > MIN_TARGET_NORM
    var = ((y - y.mean(axis=0)) ** 2).sum()
    return {
        "l0": float((latents != 0).sum(axis=1).mean()),
        "true_l0": float(acts.true_l0.mean()),
        "dead": int((~(latents != 0).any(axis=0)).sum()),
        "shrinkage": float((np.linalg.norm(recon[valid], axis=1) / norms[valid]).mean()) if valid.any() else 0.0,
        "nmse": float(((recon - y) ** 2).sum() / max(var, 1e-12)),
    }


def decoder_scores(decoder: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """mcc, recovered, split and the sizes, from the decoder alone."""
    return {
        "n_latents": len(decoder),
        "n_true": len(truth),
        "mcc": mcc(decoder, truth),
        "recovered": recovered(decoder, truth),
        "split": split(decoder, truth),
    }


def score_dictionary(
    decoder: np.ndarray,
    truth: np.ndarray,
    acts: Acts | None = None,
    latents: np.ndarray | None = None,
    recon: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every score of one dictionary: the decoder's alone, and with samples ``acts`` and the dictionary's
    ``latents`` (N, W) and reconstructions ``recon`` (N, d_out) on them, the samples' too."""
    out = decoder_scores(decoder, truth)
    if acts is not None and latents is not None and recon is not None:
        out |= sample_scores(latents, recon, acts)
        out |= absorption(latents, decoder, truth, acts)
    return out


def score(obj: Snapshot | np.ndarray, truth: np.ndarray | None = None, acts: Acts | None = None) -> dict[str, Any]:
    """Scores of a dictionary against the true directions ``truth`` (n_true, d_out).

    ``obj`` is an SAE snapshot (``toys.decomp.sae.SAETrainer``; ``truth`` defaults to its own): -> {"instances":
    [one dict per instance: width, knob (λ or k) and its scores]}, with sample scores when ``acts`` is given (the
    instances run on acts.x in inference mode). Or ``obj`` is a decoder (latents, d_out): -> its decoder scores.
    """
    if isinstance(obj, Snapshot):
        cfg = SAEConfig.from_dict(obj.config)
        truth = obj["truth"] if truth is None else truth
        z = recon = None
        if acts is not None:
            z, recon = apply_dictionaries(obj, acts.x)
        rows = []
        for i, (width, knob) in enumerate(cfg.grid):
            dec = obj["W_dec"][i, :width]
            zi, yi = (None, None) if z is None else (z[i, :, :width], recon[i])
            knob_name = "k" if cfg.arch in TOPK_ARCHS else "penalty"
            rows.append({"instance": i, "width": width, knob_name: knob} | score_dictionary(dec, truth, acts, zi, yi))
        return {"instances": rows}
    if truth is None:
        raise ValueError("a bare decoder needs the true directions: score(decoder, truth)")
    return decoder_scores(np.asarray(obj), truth)
