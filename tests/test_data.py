"""FeatureSampler on the CPU against the data law: presence probabilities, pairs, value laws, the p sweep.

Statistical checks use a tolerance of 5 standard errors of the estimate (binomial for frequencies, the uniform's
known moments for means and variances). Draws come from fixed generator seeds, so every run sees the same numbers;
5 sigma leaves a correct sampler a chance of about 6e-7 per check to fail on a fresh seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toys import TMSConfig
from toys.core.data import instance_probability
from toys.tms.data import FeatureSampler, importance, probability_matrix

Z = 5.0  # standard errors allowed


def draw(cfg: TMSConfig, batch: int, seed: int = 0) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    x = FeatureSampler(cfg, "cpu").sample(batch, gen)
    assert x.shape == (cfg.n_instances, batch, cfg.n_features) and x.dtype == torch.float32
    return x.numpy().astype(np.float64)


def assert_frequency(hits: np.ndarray, n: int, p) -> None:
    """hits / n within Z binomial standard errors of p (elementwise)."""
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), np.shape(hits))
    se = np.sqrt(p * (1 - p) / n)
    dev = np.abs(hits / n - p)
    assert np.all(dev <= Z * se + 1e-12), f"frequency off by {np.max(dev / np.maximum(se, 1e-300)):.1f} sigma"


# ----------------------------------------------------------------------------------- probabilities


def test_instance_probability_is_geometric_closed_form():
    cfg = TMSConfig(n_instances=7, p_max=0.8, p_min=0.002)
    want = np.array([0.8 * (0.002 / 0.8) ** (i / 6) for i in range(7)])
    np.testing.assert_allclose(instance_probability(cfg), want, rtol=1e-12)
    ratios = want[1:] / want[:-1]
    np.testing.assert_allclose(ratios, (0.002 / 0.8) ** (1 / 6), rtol=1e-12)


@pytest.mark.parametrize(
    "kw", [{"n_instances": 1, "p_max": 0.3, "p_min": 0.01}, {"n_instances": 4, "p_max": 0.2, "p_min": 0.2}]
)
def test_instance_probability_constant_cases(kw):
    cfg = TMSConfig(**kw)
    np.testing.assert_array_equal(instance_probability(cfg), np.full(cfg.n_instances, kw["p_max"]))


def test_importance_closed_form():
    cfg = TMSConfig(n_features=6, importance_decay=0.7)
    np.testing.assert_allclose(importance(cfg), [0.7**i for i in range(6)], rtol=1e-6)


def test_probability_matrix_subset_override():
    cfg = TMSConfig(n_features=6, n_instances=3, p_max=0.5, p_min=0.02, subset_size=2, subset_probability=0.9)
    p = probability_matrix(cfg)
    geo = instance_probability(cfg)
    np.testing.assert_allclose(p[:, :4], np.repeat(geo[:, None], 4, axis=1), rtol=1e-6)
    np.testing.assert_allclose(p[:, 4:], 0.9, rtol=1e-6)


@pytest.mark.parametrize("law", ["one", "uniform01"])
def test_presence_frequency_follows_the_geometric_sweep(law):
    cfg = TMSConfig(n_features=10, n_instances=6, p_max=0.9, p_min=0.01, value_law=law)
    batch = 20_000
    x = draw(cfg, batch, seed=1)
    hits = (x > 0).sum(axis=1)  # (I, F)
    p = np.repeat(instance_probability(cfg)[:, None], cfg.n_features, axis=1)
    assert_frequency(hits, batch, p)
    assert_frequency(hits.sum(axis=1), batch * cfg.n_features, instance_probability(cfg))


def test_presence_frequency_with_subset_override():
    cfg = TMSConfig(
        n_features=8, n_instances=4, p_max=0.4, p_min=0.01, subset_size=3, subset_probability=0.7, value_law="one"
    )
    batch = 20_000
    hits = (draw(cfg, batch, seed=2) > 0).sum(axis=1)
    p = np.repeat(instance_probability(cfg)[:, None], 8, axis=1)
    p[:, 5:] = 0.7
    assert_frequency(hits, batch, p)


def test_features_are_independent():
    cfg = TMSConfig(n_features=4, n_instances=1, p_max=0.3, p_min=0.3, value_law="one")
    batch = 100_000
    present = draw(cfg, batch, seed=3)[0] > 0
    both = (present[:, 0] & present[:, 1]).sum()
    assert_frequency(both, batch, 0.3 * 0.3)
    all_four = present.all(axis=1).sum()
    assert_frequency(all_four, batch, 0.3**4)


# -------------------------------------------------------------------------------------------- pairs


def test_correlated_pairs_share_presence_but_not_values():
    cfg = TMSConfig(n_features=7, n_instances=3, p_max=0.5, p_min=0.05, correlated_pairs=2)
    batch = 20_000
    x = draw(cfg, batch, seed=4)
    p = instance_probability(cfg)
    for a, b in [(0, 1), (2, 3)]:
        pa, pb = x[..., a] > 0, x[..., b] > 0
        np.testing.assert_array_equal(pa, pb)
        assert_frequency(pa.sum(axis=1), batch, p)
        both = pa & pb
        assert np.mean(x[..., a][both] == x[..., b][both]) < 1e-3  # values are separate draws
        vb = x[..., b][both]
        assert abs(vb.mean() - 0.5) <= Z * np.sqrt(1 / 12 / vb.size)
        corr = np.corrcoef(x[..., a][both], vb)[0, 1]
        assert abs(corr) <= Z / np.sqrt(vb.size)
    # the unpaired features keep their own probability
    assert_frequency((x[..., 4:] > 0).sum(axis=1), batch, np.repeat(p[:, None], 3, axis=1))


def test_anticorrelated_pairs_never_co_occur_and_keep_marginals():
    cfg = TMSConfig(n_features=7, n_instances=3, p_max=0.5, p_min=0.02, correlated_pairs=1, anticorrelated_pairs=2)
    batch = 20_000
    x = draw(cfg, batch, seed=5)
    p = instance_probability(cfg)
    np.testing.assert_array_equal(x[..., 0] > 0, x[..., 1] > 0)  # the correlated pair comes first
    for a, b in [(2, 3), (4, 5)]:
        pa, pb = x[..., a] > 0, x[..., b] > 0
        assert not np.any(pa & pb)
        assert_frequency(pa.sum(axis=1), batch, p)
        assert_frequency(pb.sum(axis=1), batch, p)
        for v in (x[..., a][pa], x[..., b][pb]):
            assert 0 < v.min() and v.max() < 1
            assert abs(v.mean() - 0.5) <= Z * np.sqrt(1 / 12 / v.size)
    assert_frequency((x[..., 6] > 0).sum(axis=1), batch, p)


def test_anticorrelated_pair_at_p_half_is_always_one_of_the_two():
    cfg = TMSConfig(n_features=2, n_instances=1, p_max=0.5, p_min=0.5, anticorrelated_pairs=1, value_law="one")
    present = draw(cfg, 50_000, seed=6)[0] > 0
    assert np.all(present.sum(axis=1) == 1)


# ----------------------------------------------------------------------------------------- value laws


def _values(law: str, seed: int, p_max: float = 1.0, p_min: float = 0.05):
    cfg = TMSConfig(n_features=6, n_instances=4, p_max=p_max, p_min=p_min, value_law=law)
    x = draw(cfg, 50_000, seed=seed)
    return x, x[x != 0]


def test_uniform01_values_in_open_unit_interval_with_uniform_moments():
    x, v = _values("uniform01", 7)
    assert v.min() > 0 and v.max() < 1
    # per instance (different p), the present values are U(0,1): independent of how likely presence was
    for i in range(x.shape[0]):
        vi = x[i][x[i] > 0]
        n = vi.size
        assert abs(vi.mean() - 0.5) <= Z * np.sqrt(1 / 12 / n)
        assert abs(vi.var() - 1 / 12) <= Z * np.sqrt(1 / 180 / n)  # Var((U-1/2)^2) = 1/80 - 1/144 = 1/180


def test_one_law_gives_only_ones():
    _, v = _values("one", 8)
    assert v.size > 0 and np.all(v == 1.0)


def test_discrete123_gives_1_2_3_equally_often():
    _, v = _values("discrete123", 9)
    values, counts = np.unique(v, return_counts=True)
    np.testing.assert_array_equal(values, [1.0, 2.0, 3.0])
    assert_frequency(counts, v.size, 1 / 3)


def test_uniform_half_one_range_and_mean():
    _, v = _values("uniform_half_one", 10)
    # [0.5, 1): float32 rounding of 0.5 + 0.5·(1 − 2⁻²⁴) may give exactly 1.0 once in ~1.7e7 draws at p = 1
    assert v.min() >= 0.5 and v.max() <= 1.0
    assert np.mean(v == 1.0) < 1e-6
    assert abs(v.mean() - 0.75) <= Z * np.sqrt(1 / 48 / v.size)


def test_same_generator_seed_same_batch_and_different_seed_differs():
    cfg = TMSConfig(n_features=5, n_instances=3, p_max=0.5, p_min=0.1)
    a, b, c = draw(cfg, 1000, seed=11), draw(cfg, 1000, seed=11), draw(cfg, 1000, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
