"""The deep residual-MLP toy (toys.compute.deep): shapes, determinism, and the accounting against networks built by
hand whose answers are known, the naive circuit's closed form against a Monte-Carlo run of its network, the
reference losses against least squares on samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toys.cli import main
from toys.compute.deep import (
    COMPUTED_FRACTION,
    DeepConfig,
    DeepTrainer,
    beats_naive,
    eval_features,
    exact_io,
    fold_numpy,
    folded_forward,
    function_inputs,
    function_losses,
    instance_p,
    naive_functions,
    naive_loss,
    naive_weights,
    reference_loss,
    sample_features,
    score,
    targets,
    trained_functions,
    trivial_loss,
    unfolded_forward,
)
from toys.core.memory import estimate
from toys.core.snapshot import Snapshot

SMALL = {"n_features": 8, "d_embed": 24, "d_mlp": 4, "batch_size": 64, "steps": 20, "log_every": 10, "device": "cpu"}


def _cfg(**kw) -> DeepConfig:
    return DeepConfig(**{**SMALL, **kw})


def _snapshot(cfg: DeepConfig, E: np.ndarray, W_in: np.ndarray, W_out: np.ndarray) -> Snapshot:
    """A deep snapshot of one hand-set network (W_in (L, D, H), W_out (L, H, D)) copied to every instance."""
    I = cfg.n_instances
    W_in, W_out = np.repeat(W_in[None], I, axis=0), np.repeat(W_out[None], I, axis=0)
    home = function_inputs(cfg)[:, 0]
    A, C, B = fold_numpy(E, home, W_in, W_out)
    arrays = {"W_in": W_in, "W_out": W_out, "E": E, "A": A, "C": C, "B": B}
    return Snapshot("deep", cfg.to_dict(), cfg.steps, arrays, np.zeros((0, I)), np.zeros(0, int))


def _random_embedding(n: int, d: int, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((n, d))
    return w / np.linalg.norm(w, axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------------ the trainer


def test_trainer_shapes_and_snapshot():
    cfg = _cfg(n_layers=2, n_instances=3, feature_probability=0.2, p_min=0.05)
    snap = DeepTrainer(cfg).run()
    I, L, D, H, n = 3, 2, 24, 4, 8
    assert snap["W_in"].shape == (I, L, D, H) and snap["W_out"].shape == (I, L, H, D)
    assert snap["A"].shape == (I, L, n, H) and snap["C"].shape == (I, L, L, H, H) and snap["B"].shape == (I, L, H, n)
    assert snap["E"].shape == (n, D)
    np.testing.assert_allclose(np.linalg.norm(snap["E"], axis=1), 1.0, rtol=1e-5)
    assert snap.loss.shape == (2, I) and list(snap.loss_steps) == [10, 20]
    np.testing.assert_allclose(instance_p(cfg), [0.2, 0.1, 0.05])


def test_sample_features_follow_each_instances_probability():
    cfg = _cfg(n_instances=2, feature_probability=0.5, p_min=0.05, labels="discrete")
    gen = torch.Generator().manual_seed(0)
    x = sample_features(cfg, torch.tensor([0.5, 0.05]), 20_000, gen)
    assert x.shape == (2, 20_000, 8)
    present = (x != 0).float().mean(dim=(1, 2))
    np.testing.assert_allclose(present.numpy(), [0.5, 0.05], rtol=0.05)
    assert set(torch.unique(x).tolist()) == {-1.0, 0.0, 1.0}


def test_training_is_deterministic():
    cfg = _cfg(n_layers=3, n_instances=2, loss="lp")
    a, b = DeepTrainer(cfg).run(), DeepTrainer(cfg).run()
    for k in a.arrays:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(a.loss, b.loss)


def test_folded_model_is_the_residual_mlp():
    """The folded forward pass (what training and the accounting use) equals spd's residual MLP run in the stream."""
    cfg = _cfg(n_layers=3, target="maxabs", n_instances=2)
    snap = DeepTrainer(cfg).run()
    x = eval_features(cfg, 0.3, 50, np.random.default_rng(1))
    home = function_inputs(cfg)[:, 0]
    for i in range(2):
        want = unfolded_forward(x, snap["E"].astype(float), home, snap["W_in"][i].astype(float), snap["W_out"][i])
        A, C, B = (snap[k][i : i + 1].astype(float) for k in "ACB")
        np.testing.assert_allclose(folded_forward(x[None], A, C, B)[0], want, rtol=1e-4, atol=1e-5)


def test_snapshot_loads_into_a_fresh_trainer():
    cfg = _cfg(n_layers=2)
    snap = DeepTrainer(cfg).run()
    fresh = DeepTrainer(cfg)
    fresh.load_snapshot(snap)
    for k, v in fresh.snapshot().arrays.items():
        np.testing.assert_allclose(v, snap[k], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"target": "maxabs", "n_features": 9, "d_embed": 24}, "n_features"),
        ({"d_embed": 7}, "d_embed"),
        ({"n_layers": 4}, "n_layers"),
        ({"loss": "bce"}, "loss"),
        ({"labels": "binary"}, "labels"),
        ({"feature_probability": 0.1, "p_min": 0.2}, "p_min"),
    ],
)
def test_config_refuses_bad_values_by_name(kw, field):
    with pytest.raises(ValueError, match=field):
        _cfg(**kw)


def test_estimate_is_sane():
    small, big = _cfg(), _cfg(n_instances=8, n_layers=3)
    a, b = estimate(small), estimate(big)
    assert 0 < a.bytes < b.bytes and 0 < a.flops < b.flops
    params = 4 * 2 * small.n_layers * small.d_embed * small.d_mlp
    assert a.bytes > 6 * params  # the parameters with their gradients and Adam's moments
    assert "batch_size" in a.knobs and "n_layers" in a.knobs
    huge = DeepConfig(n_features=2000, d_embed=8192, n_layers=3, d_mlp=2000, n_instances=64, batch_size=1024)
    assert estimate(huge).bytes > 2**37  # refused before anything is allocated
    with pytest.raises(ValueError, match="d_mlp|n_instances|batch_size"):
        DeepTrainer(huge)


def test_short_training_beats_the_trivial_predictor():
    """300 steps of ten ReLUs with ten neurons at p = 0.1: held-out loss well below leaving the MLPs out (E[f²])."""
    cfg = _cfg(steps=300, batch_size=256, n_features=10, d_embed=40, d_mlp=10)
    cfg = cfg.replace(feature_probability=0.1, lr=1e-2)
    snap = DeepTrainer(cfg).run()
    held = function_losses(cfg, (snap["A"], snap["C"], snap["B"]))
    assert held.mean() < 0.5 * trivial_loss("relu", "continuous", 0.1)
    assert snap.loss[-1, 0] < snap.loss[0, 0]


# ------------------------------------------------------------------------------------------------ the accounting


@pytest.mark.parametrize("k", [0, 3, 8])
def test_a_network_computing_k_relus_scores_k(k):
    """A hand-set network in a stream whose embedding is the first axes (each feature its own axis): neuron t reads
    feature t and writes it back, for t < k. Scored by the code every trained network goes through: k functions,
    the rest as bad as leaving them alone."""
    cfg = _cfg(d_mlp=max(k, 1), n_features=8, d_embed=12, n_instances=2, feature_probability=0.2)
    E = np.eye(8, 12)
    W_in, W_out = np.zeros((1, 12, max(k, 1))), np.zeros((1, max(k, 1), 12))
    for t in range(k):
        W_in[0, t, t] = W_out[0, t, t] = 1.0
    res = trained_functions(_snapshot(cfg, E, W_in, W_out))
    assert list(res["functions"]) == [k, k]
    np.testing.assert_array_equal(res["computed"][0], np.arange(8) < k)
    losses = function_losses(cfg, (_snapshot(cfg, E, W_in, W_out)[a] for a in "ACB"))
    np.testing.assert_array_equal(losses[:, :k], 0.0)
    np.testing.assert_allclose(losses[:, k:], trivial_loss("relu", "continuous", 0.2), rtol=0.25)


def test_a_hand_built_two_layer_maxabs_network_scores_its_pair():
    """max(|x|, |y|) = ReLU(|x| − |y|) + |y| in two layers: layer 1 writes ReLU(x) and ReLU(y) to scratch directions;
    layer 2 reads |x| = 2 ReLU(x) − x and |y| = 2 ReLU(y) − y from scratch and the stream's own x and y and writes
    ReLU(|x| − |y|) + ReLU(|y|) to the pair's output. Only pair 1 (features 2, 3) is built: one function computed."""
    cfg = _cfg(target="maxabs", n_layers=2, d_mlp=2, d_embed=24, feature_probability=0.3)
    E = _random_embedding(8, 24)
    R, W, S = exact_io(E, n_scratch=2)
    x_, y_ = 2, 3
    W_in, W_out = np.zeros((2, 24, 2)), np.zeros((2, 2, 24))
    W_in[0, :, 0], W_out[0, 0] = R[:, x_], S[:, 0]
    W_in[0, :, 1], W_out[0, 1] = R[:, y_], S[:, 1]
    W_in[1, :, 0] = 2 * S[:, 0] - R[:, x_] - 2 * S[:, 1] + R[:, y_]
    W_in[1, :, 1] = 2 * S[:, 1] - R[:, y_]
    W_out[1, 0] = W_out[1, 1] = W[x_]
    snap = _snapshot(cfg, E, W_in, W_out)
    res = trained_functions(snap)
    assert list(res["functions"]) == [1]
    np.testing.assert_array_equal(res["computed"][0], [False, True, False, False])
    x = eval_features(cfg, 0.5, 200, np.random.default_rng(3))
    out = folded_forward(x[None], *(snap[a].astype(float) for a in "ACB"))[0]
    np.testing.assert_allclose(out[:, 1], np.maximum(np.abs(x[:, 2]), np.abs(x[:, 3])), atol=1e-9)
    np.testing.assert_allclose(np.delete(out, 1, axis=1), 0.0, atol=1e-9)


def test_exact_io_directions():
    E = _random_embedding(5, 14, seed=2)
    R, W, S = exact_io(E, n_scratch=3)
    np.testing.assert_allclose(E @ R, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(W @ E.T, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(W @ R, 0.0, atol=1e-10)
    np.testing.assert_allclose(E @ S, 0.0, atol=1e-10)
    np.testing.assert_allclose(S.T @ R, 0.0, atol=1e-10)
    np.testing.assert_allclose(W @ S, 0.0, atol=1e-10)
    with pytest.raises(ValueError, match="d_embed"):
        exact_io(E, n_scratch=5)


@pytest.mark.parametrize("labels", ["continuous", "discrete"])
@pytest.mark.parametrize("target", ["relu", "abs", "maxabs"])
def test_reference_loss_is_least_squares_on_samples(target, labels):
    """The closed-form best affine loss against an affine least-squares fit of f on all the inputs, on samples."""
    p = 0.3
    cfg = _cfg(target=target, labels=labels, feature_probability=p)
    x = eval_features(cfg, p, 200_000, np.random.default_rng(7))
    f = targets(target, x)
    X = np.hstack([x, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(X, f, rcond=None)
    mse = np.square(X @ coef - f).mean(axis=0)
    np.testing.assert_allclose(mse, reference_loss(target, labels, p), rtol=0.03)
    np.testing.assert_allclose(np.square(f).mean(axis=0), trivial_loss(target, labels, p), rtol=0.03)


@pytest.mark.parametrize(
    "target, layers, d_mlp, want",
    [
        ("relu", 1, 5, 5),
        ("relu", 3, 4, 8),  # 12 neurons, 8 functions: all of them, the spare neurons dead
        ("abs", 2, 3, 3),  # 6 neurons, 2 each; function 1 straddles the layers
        ("maxabs", 1, 4, 1),
        ("maxabs", 2, 5, 2),  # 10 neurons, 4 each; function 1 straddles the layers
        ("relu", 1, 1, 1),
    ],
)
def test_naive_closed_form_matches_its_network(target, layers, d_mlp, want):
    """The naive circuit built as a network of this model (``naive_weights``) in a random embedding, run on held-out
    features through the same accounting as a trained network: its count and L/p are the closed form's."""
    p = 0.25
    cfg = _cfg(target=target, n_layers=layers, d_mlp=d_mlp, d_embed=20, feature_probability=p)
    cfg = cfg.replace(eval_present=3000)
    assert naive_functions(cfg) == want
    E = _random_embedding(8, 20, seed=1)
    W_in, W_out = naive_weights(cfg, E)
    snap = _snapshot(cfg, E, W_in, W_out)
    losses = function_losses(cfg, (snap[a] for a in "ACB"))
    res = score(cfg, losses)
    assert list(res["functions"]) == [want]
    np.testing.assert_allclose(losses[0, :want], 0.0, atol=1e-12)
    np.testing.assert_allclose(res["L_over_p"][0], naive_loss(cfg, p), rtol=0.1, atol=1e-12)


def test_beats_naive_definition():
    assert beats_naive(trained=30, naive=25, neurons=50, n_functions=100)
    assert not beats_naive(trained=25, naive=25, neurons=50, n_functions=100)
    assert not beats_naive(trained=100, naive=50, neurons=100, n_functions=100)  # not fewer neurons than functions


def test_computed_rule_threshold():
    """Exactly the functions whose loss is below COMPUTED_FRACTION of the best affine loss count."""
    cfg = _cfg(feature_probability=0.1)
    ref = reference_loss("relu", "continuous", 0.1)
    losses = np.array([[0.0, 0.99 * COMPUTED_FRACTION * ref, COMPUTED_FRACTION * ref, ref, 0, 0, 0, 0]])
    assert score(cfg, losses)["functions"][0] == 6


def test_cli_train_deep_prints_functions_naive_and_errors(capsys):
    argv = ["train", "deep", "--n-features", "8", "--d-embed", "24", "--d-mlp", "4", "--n-layers", "2"]
    argv += ["--n-instances", "2", "--feature-probability", "0.2", "--p-min", "0.05", "--steps", "30"]
    argv += ["--batch-size", "64", "--device", "cpu", "--target", "abs", "--eval-present", "100"]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["toy"] == "deep" and line["d"] == 8 and line["n_functions"] == 8 and line["n_layers"] == 2
    assert line["naive_functions"] == 4 and line["handmade_functions"] is None
    for key in ("trained_functions", "trained_L_over_p", "naive_L_over_p", "trained_error", "naive_error", "p"):
        assert len(line[key]) == 2
    assert line["beats_naive"] == [t > 4 for t in line["trained_functions"]]
