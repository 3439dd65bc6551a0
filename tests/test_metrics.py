"""toys.tms.metrics on hand-built weights with known answers, and against slow loops written out here.

W has shape (I, H, F); column W[i, :, f] is feature f's direction in instance i.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import naive
from toys.tms.metrics import (
    REPRESENTED_NORM,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    n_represented,
    superposition_score,
    tms_summary,
)


def polygon(k: int, radius: float = 1.0, phase: float = 0.3) -> np.ndarray:
    """k unit vectors at equal angles in 2 dims, as W (1, 2, k)."""
    t = phase + 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(t), np.sin(t)])[None]


def random_orthonormal(h: int, f: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((h, h)))
    return q[:, :f]


# ----------------------------------------------------------------------------------------- slow twins


def naive_superposition(W: np.ndarray) -> np.ndarray:
    """√Σ_{g≠f} (Ŵ_f · W_g)², one feature at a time; Ŵ_f = 0 for a zero feature."""
    n_inst, _, n_feat = W.shape
    out = np.zeros((n_inst, n_feat))
    for i in range(n_inst):
        for f in range(n_feat):
            norm = math.sqrt(sum(float(w) ** 2 for w in W[i, :, f]))
            if norm == 0:
                continue
            total = 0.0
            for g in range(n_feat):
                if g != f:
                    dot = sum(float(W[i, k, f]) * float(W[i, k, g]) for k in range(W.shape[1])) / norm
                    total += dot * dot
            out[i, f] = math.sqrt(total)
    return out


# ------------------------------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("h, f", [(2, 2), (5, 3), (8, 8)])
def test_orthonormal_features_have_no_superposition_and_one_dimension(h, f):
    W = np.stack([random_orthonormal(h, f, s) for s in range(3)])  # (3, h, f)
    np.testing.assert_allclose(superposition_score(W), 0.0, atol=1e-7)
    np.testing.assert_allclose(feature_dimensionality(W), 1.0, rtol=1e-10)
    np.testing.assert_allclose(feature_norms(W), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(n_represented(W), [f, f, f])
    np.testing.assert_allclose(dimensions_per_feature(W), h / f, rtol=1e-10)


def test_antipodal_pair_in_one_dimension():
    W = np.array([[[1.0, -1.0]]])  # (1, 1, 2)
    np.testing.assert_allclose(feature_dimensionality(W), [[0.5, 0.5]], rtol=1e-12)
    np.testing.assert_allclose(superposition_score(W), [[1.0, 1.0]], rtol=1e-12)
    np.testing.assert_allclose(dimensions_per_feature(W), [0.5])


@pytest.mark.parametrize("k, dim", [(5, 2 / 5), (3, 2 / 3), (4, 1 / 2), (2, 1 / 2)])
def test_regular_polygons_in_two_dimensions(k, dim):
    W = polygon(k)
    np.testing.assert_allclose(feature_dimensionality(W), dim, rtol=1e-10)
    # a regular k-gon (k ≥ 3) is a tight frame: Σ_g (û·W_g)² = k/2 for every unit u, so the score is √(k/2 − 1)
    if k >= 3:
        np.testing.assert_allclose(superposition_score(W), math.sqrt(k / 2 - 1), rtol=1e-10)


def test_dimensionality_does_not_depend_on_scale():
    for k, dim in [(5, 0.4), (3, 2 / 3)]:
        np.testing.assert_allclose(feature_dimensionality(polygon(k, radius=0.37)), dim, rtol=1e-10)


def test_pentagon_dimensions_per_feature():
    np.testing.assert_allclose(dimensions_per_feature(polygon(5)), [2 / 5], rtol=1e-12)


def test_zero_feature_has_dimension_zero_and_is_not_represented():
    W = np.zeros((1, 2, 3))
    W[0, :, 0] = [1.0, 0.0]
    W[0, :, 1] = [0.0, 1.0]
    np.testing.assert_allclose(feature_dimensionality(W), [[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(superposition_score(W), [[0.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_array_equal(n_represented(W), [2])


def test_all_zero_weights():
    W = np.zeros((2, 3, 4))
    np.testing.assert_array_equal(feature_dimensionality(W), 0.0)
    np.testing.assert_array_equal(superposition_score(W), 0.0)
    np.testing.assert_array_equal(n_represented(W), [0, 0])
    assert np.all(np.isinf(dimensions_per_feature(W)))


def test_dimensions_per_feature_hand_example():
    W = np.array([[[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]])  # m = 2, ‖W‖_F² = 1 + 4 + 1 + 9 = 15
    np.testing.assert_allclose(dimensions_per_feature(W), [2 / 15], rtol=1e-12)
    W2 = np.concatenate([W, 2 * W])  # second instance: ‖W‖_F² = 60
    np.testing.assert_allclose(dimensions_per_feature(W2), [2 / 15, 2 / 60], rtol=1e-12)


def test_n_represented_threshold_is_strict_on_norm():
    W = np.zeros((1, 2, 4))
    W[0, 0, :] = [0.2, REPRESENTED_NORM, 0.6, 3.0]
    np.testing.assert_array_equal(n_represented(W), [2])
    np.testing.assert_array_equal(n_represented(W, threshold=0.1), [4])


def test_feature_norms_hand_example():
    W = np.array([[[3.0, 0.0], [4.0, -2.0]]])
    np.testing.assert_allclose(feature_norms(W), [[5.0, 2.0]])


# ----------------------------------------------------------------------------------------- naive twins


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 1, 3), (3, 2, 5), (2, 7, 4), (4, 3, 12)])
def test_superposition_and_dimensionality_equal_slow_loops_on_random_weights(shape):
    rng = np.random.default_rng(sum(shape))
    W = rng.standard_normal(shape)
    np.testing.assert_allclose(superposition_score(W), naive_superposition(W), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(feature_dimensionality(W), naive.dimensionality(W), rtol=1e-9)


def test_slow_loops_agree_with_corner_cases():
    W = np.random.default_rng(0).standard_normal((2, 3, 6))
    W[0, :, 2] = 0.0  # a dead feature
    W[1, :, 4] = W[1, :, 1]  # a duplicate
    W[1, :, 5] = -2 * W[1, :, 0]  # an antipodal partner of another length
    np.testing.assert_allclose(superposition_score(W), naive_superposition(W), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(feature_dimensionality(W), naive.dimensionality(W), rtol=1e-9)


@pytest.mark.parametrize("shape", [(3, 5, 8), (1, 1, 1), (2, 4, 1), (1, 2, 6), (4, 20, 200)])
def test_dimensionality_of_float32_weights_matches_naive_twin_and_float64(shape):
    W = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    ours = feature_dimensionality(W)
    assert ours.shape == (shape[0], shape[2])
    np.testing.assert_allclose(ours, naive.dimensionality(W), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours, feature_dimensionality(W.astype(np.float64)), rtol=1e-5, atol=1e-7)


def test_dimensionality_corner_cases():
    W = np.zeros((2, 3, 4), np.float32)
    W[1, :, 2] = [1, 2, 2]
    W[1, :, 3] = [2, 4, 4]  # a duplicate direction of feature 2
    D = feature_dimensionality(W)
    np.testing.assert_allclose(D, naive.dimensionality(W), atol=1e-7)
    assert D[0].tolist() == [0, 0, 0, 0]  # zero features
    assert D[1, 2] + D[1, 3] == pytest.approx(1.0)  # together the two features own one dimension
    assert feature_dimensionality(np.zeros((0, 3, 4))).shape == (0, 4)
    assert feature_dimensionality(np.zeros((2, 0, 4))).tolist() == [[0] * 4] * 2
    assert feature_dimensionality(np.zeros((2, 3, 0))).shape == (2, 0)


def test_float32_input():
    W = polygon(5).astype(np.float32)
    np.testing.assert_allclose(feature_dimensionality(W), 0.4, rtol=1e-5)


def test_summary_is_plain_lists_of_the_metrics():
    W = np.concatenate([polygon(5), np.concatenate([np.eye(2), np.zeros((2, 3))], axis=1)[None]])
    s = tms_summary(W)
    assert s["n_represented"] == [5, 2]
    np.testing.assert_allclose(s["dims_per_feature"], [2 / 5, 1.0])
    np.testing.assert_allclose(s["mean_superposition"], [math.sqrt(1.5), 0.0], atol=1e-12)
    assert all(isinstance(v, list) for v in s.values())
