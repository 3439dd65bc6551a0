"""The phase-diagram model: config, stratified loss, closed-form n = 2, m = 1 phases, and learned grids.

The trained grid is checked against the exact boundaries (derivation in ``tests/test_published.py``): cells well
away from a boundary must take the closed-form phase. Near a boundary the trained model has more freedom than the
three candidates and the learned boundary moves a little (see test_published), so those cells are not judged.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toys.tms.phase import (
    DEDICATED,
    NO_PHASE,
    NOT_LEARNED,
    PHASES,
    SUPERPOSED,
    TRIPLE_POINT,
    PhaseConfig,
    PhaseTrainer,
    boundary_curves,
    boundary_density,
    boundary_distance,
    boundary_table,
    cell_instances,
    cell_table,
    density_values,
    exact_agreement,
    exact_applies,
    exact_phase,
    expected_loss,
    extra_feature_phase,
    importance_matrix,
    importance_values,
    instance_grid,
    loss_antipodal,
    loss_drop_extra,
    loss_drop_first,
    pattern_probability,
    phase_grid,
    phase_name,
    presence_patterns,
)

MARGIN = 0.1  # decades from the nearest boundary


# ---------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("n_hidden", 2, r"n_hidden=2 is out of range: allowed \[1, 1\]"),
        ("n_features", 9, r"n_features=9 is out of range"),
        ("seeds", 0, r"seeds=0 is out of range"),
        ("p_min", 0.0, r"p_min=0.0 is out of range"),
        ("r_max", 0.05, r"r_min=0.1 must not exceed r_max=0.05"),
        ("schedule", "warm", r"schedule='warm' is not allowed"),
        ("n_importance", 2.5, r"n_importance=2.5 must be an integer"),
    ],
)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        PhaseConfig(**{field: value})


def test_config_caps_the_instance_count():
    with pytest.raises(ValueError, match="instances"):
        PhaseConfig(n_importance=200, n_density=200, seeds=64)


def test_config_round_trips_through_a_flat_dict_of_strings():
    cfg = PhaseConfig(n_features=3, n_hidden=2, n_importance=7, r_min=0.2, seeds=3, lr=0.005)
    assert PhaseConfig.from_dict(cfg.to_dict()) == cfg
    assert PhaseConfig.from_dict({k: str(v) for k, v in cfg.to_dict().items()}) == cfg
    with pytest.raises(ValueError, match="unknown config field"):
        PhaseConfig.from_dict({"n_feature": 2})


# ----------------------------------------------------------------------------------------------- the grid


def test_grid_layout_and_importance():
    cfg = PhaseConfig(n_importance=3, n_density=4, seeds=2, r_min=0.1, r_max=10.0, p_min=0.01, p_max=1.0)
    r, p = instance_grid(cfg)
    assert r.shape == p.shape == (24,)
    i = (2 * 4 + 1) * 2 + 1  # row 2, column 1, seed 1
    assert r[i] == pytest.approx(10.0) and p[i] == pytest.approx(10 ** (-2 + 2 / 3))
    imp = importance_matrix(cfg)
    assert np.all(imp[:, 0] == 1.0) and np.allclose(imp[:, 1], r)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_pattern_probabilities_sum_to_one(n):
    pats = presence_patterns(n)
    assert pats.shape == (2**n, n) and len({tuple(r) for r in pats}) == 2**n
    pi = pattern_probability(np.array([0.01, 0.3, 1.0]), pats)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    assert pi[2, -1] == 1.0  # p = 1: everything present


def _candidates(p: float) -> tuple[np.ndarray, np.ndarray]:
    W = np.array([[[1.0, -1.0]], [[1.0, 0.0]], [[0.0, 1.0]]], dtype=np.float32)  # antipodal, drop extra, drop 1st
    b = np.array([[0.0, 0.0], [0.0, p / 2], [p / 2, 0.0]], dtype=np.float32)
    return W, b


@pytest.mark.parametrize("r, p", [(0.5, 0.05), (2.0, 0.4), (0.3, 1.0)])
def test_expected_loss_matches_closed_form(r, p):
    """The quasi-Monte-Carlo expected loss of the three candidates against their closed forms."""
    cfg = PhaseConfig(n_importance=1, n_density=1, seeds=3, r_min=r, r_max=r, p_min=p, p_max=p, eval_values=4096)
    W, b = _candidates(p)
    got = expected_loss(cfg, torch.as_tensor(W), torch.as_tensor(b)).numpy()
    want = [loss_antipodal(r, p), loss_drop_extra(r, p), loss_drop_first(r, p)]
    np.testing.assert_allclose(got, want, rtol=2e-3)


def test_stratified_training_loss_is_unbiased():
    """The mean of many stratified per-step losses equals the closed form (the training objective is the loss)."""
    r, p = 0.7, 0.1
    cfg = PhaseConfig(
        n_importance=1, n_density=1, seeds=3, r_min=r, r_max=r, p_min=p, p_max=p, value_samples=256, device="cpu"
    )
    trainer = PhaseTrainer(cfg)
    W, b = _candidates(p)
    from toys.tms.model import tms_loss_and_grads

    draws = torch.stack(
        [
            tms_loss_and_grads(
                trainer.sample(), torch.as_tensor(W), torch.as_tensor(b), trainer.weight, "relu_output", "relu"
            )[0]
            for _ in range(400)
        ]
    )
    mean, se = draws.mean(0).double().numpy(), draws.std(0).double().numpy() / np.sqrt(len(draws))
    want = np.array([loss_antipodal(r, p), loss_drop_extra(r, p), loss_drop_first(r, p)])
    assert np.all(np.abs(mean - want) <= 5 * se + 1e-7), (mean, want, se)


# ----------------------------------------------------------------------------------- closed form, n=2 m=1


def test_exact_phase_regions():
    assert exact_phase(0.5, 0.9) == NOT_LEARNED  # dense, extra feature less important: dropped
    assert exact_phase(2.0, 0.9) == DEDICATED  # dense, extra feature more important: it takes the dimension
    assert exact_phase(0.5, 0.05) == SUPERPOSED and exact_phase(5.0, 0.05) == SUPERPOSED
    r = np.geomspace(0.1, 10, 41)
    pb = boundary_density(r)
    assert np.all(exact_phase(r, 0.95 * pb) == SUPERPOSED)
    assert np.all(exact_phase(r, np.minimum(1.05 * pb, 1.0))[np.abs(np.log(r)) > 0.01] != SUPERPOSED)


def test_boundaries_are_where_the_losses_cross_and_meet_at_the_triple_point():
    for name, r, p in boundary_curves(0.1, 10.0, 50):
        if name == "superposition | not learned":
            np.testing.assert_allclose(loss_antipodal(r, p), loss_drop_extra(r, p), rtol=1e-12)
        elif name == "superposition | dedicated":
            np.testing.assert_allclose(loss_antipodal(r, p), loss_drop_first(r, p), rtol=1e-12)
        else:
            np.testing.assert_allclose(loss_drop_extra(r, p), loss_drop_first(r, p), rtol=1e-12)
            assert np.all(loss_antipodal(r, p) >= loss_drop_first(r, p) - 1e-15)
        ends = {(round(r[0], 9), round(p[0], 9)), (round(r[-1], 9), round(p[-1], 9))}
        assert (round(TRIPLE_POINT[0], 9), round(TRIPLE_POINT[1], 9)) in ends
    assert [c[0] for c in boundary_curves(0.1, 0.5)] == ["superposition | not learned"]


def test_boundary_distance():
    r = np.array([0.5, 1.0, 0.5])
    p = np.array([boundary_density(0.5), 0.8, boundary_density(0.5) / 10])
    d = boundary_distance(r, p)
    assert d[0] < 1e-3 and d[1] < 1e-3  # on the superposition boundary; on the r = 1 line above p = 4/7
    assert 0.5 < d[2] <= 1.0  # a decade below the boundary in p, the curve slanting towards it


def test_extra_feature_phase_reads_w():
    W = np.array([[[1.0, -1.0]], [[1.0, 0.02]], [[0.02, 1.0]], [[1.0, -0.3]]])
    assert extra_feature_phase(W).tolist() == [SUPERPOSED, NOT_LEARNED, DEDICATED, NOT_LEARNED]
    tri = np.array([[[np.cos(a) for a in (0, 2.1, 4.2)], [np.sin(a) for a in (0, 2.1, 4.2)]]])  # n = 3, m = 2
    ded = np.array([[[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]])
    assert extra_feature_phase(tri).tolist() == [SUPERPOSED] and extra_feature_phase(ded).tolist() == [DEDICATED]


def _small_grid():
    cfg = PhaseConfig(n_importance=1, n_density=2, seeds=3)  # r = 1; p = 0.01, 1
    W = np.array([[[1.0, -1.0]], [[1.0, 0.0]], [[np.nan, 0.0]], [[0.0, 1.0]], [[1.0, -1.0]], [[1.0, 0.0]]])
    b = np.zeros((6, 2))
    loss = np.array([0.3, 0.1, np.nan, 0.2, 0.5, np.inf])
    return phase_grid(cfg, W, b, loss)


def test_phase_grid_takes_the_best_seed_and_ignores_nan():
    g = _small_grid()
    assert g.best_seed.tolist() == [[1, 0]]
    assert g.phase.tolist() == [[NOT_LEARNED, DEDICATED]]
    assert g.seed_phase[0, 0, 2] == -1
    np.testing.assert_allclose(g.W[0, 1], [[0.0, 1.0]])


# --------------------------------------------------------------------------------------- a grid as tables


def test_phase_names_cell_instances_and_where_the_closed_form_applies():
    assert phase_name(np.array([[0, 1], [2, -1]])).tolist() == [list(PHASES[:2]), [PHASES[2], NO_PHASE]]
    assert phase_name(SUPERPOSED) == "superposition"
    cfg = PhaseConfig(n_importance=3, n_density=4, seeds=2)
    idx = cell_instances(cfg, 2, 1)
    assert idx.tolist() == [18, 19]
    r, p = instance_grid(cfg)
    assert np.all(r[idx] == importance_values(cfg)[2]) and np.all(p[idx] == density_values(cfg)[1])
    assert exact_applies(cfg) and not exact_applies(PhaseConfig(n_features=3, n_hidden=2))


def test_cell_table_and_agreement_with_the_exact_phases():
    t = cell_table(_small_grid(), exact=True)
    assert t["row"].tolist() == [0, 0] and t["col"].tolist() == [0, 1]
    np.testing.assert_allclose(t["r"], [1.0, 1.0])
    np.testing.assert_allclose(t["p"], [0.01, 1.0])
    assert t["phase"].tolist() == ["not learned", "dedicated dimension"] and t["best_seed"].tolist() == [1, 0]
    np.testing.assert_allclose(t["extra_norm"], [0.0, 1.0])
    assert t["seeds_superposed"].tolist() == [1, 1]  # the NaN seed counts as none
    assert t["exact_phase"].tolist() == ["superposition", "dedicated dimension"]  # at r = 1, p = 1: a tie, dedicated
    assert t["agrees"].tolist() == [False, True]
    # (1, 0.01) is far below the boundaries; (1, 1) lies on the r = 1 line between not learned and dedicated
    assert exact_agreement(t, 0.1) == (0.5, 0.0, 1)
    assert exact_agreement(t, 10.0) == (0.5, None, 0)
    assert set(cell_table(_small_grid(), exact=False)) == set(t) - {"exact_phase", "agrees"}


def test_boundary_table_clips_each_boundary_and_keeps_its_order():
    t = boundary_table(0.1, 10.0, 0.3, n=50)
    assert list(t) == ["boundary", "r", "p", "order"] and len({len(v) for v in t.values()}) == 1
    assert t["p"].min() >= 0.3
    for name, r, p in boundary_curves(0.1, 10.0, 50):
        mine, keep = t["boundary"] == name, p >= 0.3
        np.testing.assert_array_equal(t["r"][mine], r[keep])
        np.testing.assert_array_equal(t["p"][mine], p[keep])
        assert t["order"][mine].tolist() == list(range(keep.sum()))
    assert not (boundary_density(np.geomspace(0.1, 1.0, 50)) >= 0.3).all()  # some points were clipped
    assert len(boundary_table(0.1, 10.0, 1.5)["r"]) == 0


# ------------------------------------------------------------------------------------------ learned grids


def _agreement(cfg: PhaseConfig) -> tuple[float, float, int]:
    snap = PhaseTrainer(cfg).run()
    g = phase_grid(cfg, snap["W"], snap["b"], snap["expected_loss"])
    R, P = np.meshgrid(g.r, g.p, indexing="ij")
    agree = g.phase == exact_phase(R, P)
    far = boundary_distance(R, P) >= MARGIN
    return float(agree.mean()), float(agree[far].mean()), int(far.sum())


def test_small_grid_agrees_with_exact_boundaries_away_from_them():
    cfg = PhaseConfig(n_importance=7, n_density=7, seeds=4, steps=1000, device="cpu")
    overall, far, n_far = _agreement(cfg)
    assert n_far >= 35
    assert far >= 0.95, f"{far:.1%} of {n_far} cells away from the boundaries agree (all cells: {overall:.1%})"


def test_three_in_two_far_corners():
    """n = 3, m = 2: dense and unimportant -> dropped; dense and important -> own dimension; sparse -> superposed."""
    cfg = PhaseConfig(
        n_features=3,
        n_hidden=2,
        n_importance=2,
        n_density=2,
        r_min=0.1,
        r_max=10.0,
        p_min=0.01,
        p_max=1.0,
        seeds=4,
        steps=1000,
        device="cpu",
    )
    snap = PhaseTrainer(cfg).run()
    g = phase_grid(cfg, snap["W"], snap["b"], snap["expected_loss"])
    assert g.phase[0, 1] == NOT_LEARNED  # r = 0.1, p = 1
    assert g.phase[1, 1] == DEDICATED  # r = 10, p = 1
    assert g.phase[0, 0] == SUPERPOSED  # r = 0.1, p = 0.01


@pytest.mark.slow
def test_default_grid_agrees_with_exact_boundaries_away_from_them():
    overall, far, n_far = _agreement(PhaseConfig(device="cpu"))
    assert far >= 0.95, f"{far:.1%} of {n_far} cells away from the boundaries agree (all cells: {overall:.1%})"
    assert overall >= 0.9
