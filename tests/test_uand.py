"""Universal AND (toys.compute.uand): held-out cases, the hand-made construction of Hänni et al. (2024), the linear
baseline, neuron density and the trainer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from toys.compute.uand import (
    CASES,
    UANDConfig,
    UANDTrainer,
    active_gates,
    affordable_gates,
    and_targets,
    elementwise_loss,
    gate_error_rates,
    gate_outputs,
    gate_pairs,
    handmade_gates,
    handmade_outputs,
    handmade_subsets,
    handmade_weights,
    held_out_cases,
    inputs_from_active,
    instance_method,
    instance_widths,
    linear_gates,
    linear_readout,
    network_outputs,
    neuron_density,
    sample_active,
    sample_inputs,
    sparse_loss_and_grads,
    trained_gates,
    uand_summary,
)
from toys.core.snapshot import Snapshot


def test_held_out_cases_are_what_they_say():
    held = held_out_cases(10, 3, 5, seed=0)
    assert held.active.shape == (45, 4, 5, 3)
    for g, (i, j) in enumerate(held.pairs):
        for c, (a, b) in enumerate(CASES):
            for case in held.active[g, c]:
                assert len(set(case)) == 3  # distinct inputs, exactly n_active on
                assert (i in case) == bool(a) and (j in case) == bool(b)
    np.testing.assert_array_equal(held.target, [1, 0, 0, 0])


def test_handmade_sparse_evaluation_matches_the_dense_network():
    """The hand-made evaluator (only the shared neurons) equals the construction run as a dense ReLU network."""
    cfg = UANDConfig(n_inputs=9, n_active=3, eval_cases=4)
    held = held_out_cases(9, 3, 4, seed=1)
    S = handmade_subsets(9, 40, 0.3, seed=2)
    w = handmade_weights(S, held.pairs)
    dense = network_outputs(w["W1"], w["b1"], w["W2"], w["b2"], held)
    np.testing.assert_allclose(handmade_outputs(S, held), dense, atol=1e-12)
    # and the dense network by brute force on the expanded inputs
    x = held.dense(cfg.n_inputs)
    h = np.maximum(x @ w["W1"] + w["b1"], 0.0)
    y = (h @ w["W2"]).reshape(len(held.pairs), 4, 4, -1)
    np.testing.assert_allclose(dense, np.einsum("gckg->gck", y), atol=1e-12)


def test_handmade_neuron_fires_iff_two_of_its_inputs_are_on():
    S = np.array([[1, 1, 1, 0]], dtype=bool)  # one neuron reading inputs 0, 1, 2
    held = held_out_cases(4, 2, 3, seed=0)
    out = handmade_outputs(S, held)
    g01 = [tuple(p) for p in held.pairs].index((0, 1))
    np.testing.assert_array_equal(out[g01, 0], 1.0)  # both on
    g03 = [tuple(p) for p in held.pairs].index((0, 3))
    np.testing.assert_array_equal(out[g03], 0.0)  # no neuron reads both 0 and 3


def test_handmade_uand_computes_more_gates_than_it_has_neurons():
    """Hänni et al.'s construction is computation in superposition: at m = 100 inputs, 2 on at a time, d = 500
    neurons each reading ~5% of the inputs, it computes over 2,000 of the 4,950 ANDs (measured: 2,436) with at most
    5% of each gate's held-out cases off by 0.25 or more — more than four gates per neuron."""
    cfg = UANDConfig(n_inputs=100, n_active=2, d_min=500, d_max=500, eval_cases=16, handmade_q=0.05)
    result = handmade_gates(cfg, 500)
    assert result["gates"] > 4 * 500
    assert linear_gates(cfg)["gates"] == 0


def test_auto_q_picks_from_the_grid_and_beats_a_bad_q():
    cfg = UANDConfig(n_inputs=30, n_active=2, eval_cases=8)
    auto = handmade_gates(cfg, 200)
    bad = handmade_gates(cfg, 200, q=0.9)  # every neuron reads nearly everything: they all fire together
    assert auto["gates"] > bad["gates"]


def test_linear_readout_from_moments_matches_least_squares_on_samples():
    cfg = UANDConfig(n_inputs=8, n_active=3)
    W, b = linear_readout(cfg)
    x = sample_inputs(cfg, 200_000, torch.Generator().manual_seed(0), torch.device("cpu")).double()
    y = and_targets(x, torch.as_tensor(gate_pairs(8)))
    pred_moments = x.numpy() @ W + b
    X1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.lstsq(X1, y, driver="gelsd").solution.numpy()
    pred_samples = X1.numpy() @ coef
    np.testing.assert_allclose(pred_moments, pred_samples, atol=0.01)


def test_no_linear_function_computes_an_and_gate_within_a_quarter():
    """The four cases with the same other inputs force a miss of at least 1/4 for any linear readout."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b, c = rng.normal(size=3)
        outs = np.array([a + b + c, a + c, b + c, c])  # f(1,1), f(1,0), f(0,1), f(0,0)
        assert np.abs(outs - np.array([1, 0, 0, 0])).max() >= 0.25 - 1e-12
    best = np.array([0.75, 0.25, 0.25, -0.25])  # a = b = 1/2, c = −1/4: misses by exactly 1/4
    assert np.abs(best - np.array([1, 0, 0, 0])).max() == pytest.approx(0.25)


def test_error_rates_count_misses_at_the_tolerance():
    held = held_out_cases(5, 2, 2, seed=0)
    out = np.zeros((10, 4, 2))
    out[:, 0] = 1.0
    assert (gate_error_rates(out, held, 0.25) == 0).all()
    out[0, 1, 0] = 0.3
    assert gate_error_rates(out, held, 0.25)[0] == pytest.approx(1 / 8)


def test_neuron_density():
    W = np.zeros((10, 3))
    W[:, 0] = 1.0  # reads all inputs equally
    W[[2, 5], 1] = [3.0, -3.0]  # reads two
    np.testing.assert_allclose(neuron_density(W)[:2], [1.0, 0.2])
    assert np.isnan(neuron_density(W)[2])


def test_instance_widths_are_geometric():
    np.testing.assert_array_equal(instance_widths(UANDConfig(d_min=8, d_max=128, n_instances=5)), [8, 16, 32, 64, 128])


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("n_inputs", 3, "n_inputs=3"),
        ("n_active", 1, "n_active=1"),
        ("n_active", 11, "n_active=11"),
        ("tolerance", 0.9, "tolerance=0.9"),
        ("handmade_q", -0.1, "handmade_q=-0.1"),
    ],
)
def test_config_rejects_bad_values(field, value, words):
    with pytest.raises(ValueError, match=words):
        UANDConfig(**{field: value})
    with pytest.raises(ValueError, match="d_min=50 must not exceed d_max=10"):
        UANDConfig(d_min=50, d_max=10)


def test_config_round_trips():
    cfg = UANDConfig(n_inputs=20, handmade_q=0.1, steps=100)
    assert UANDConfig.from_dict({k: str(v) for k, v in cfg.to_dict().items()}) == cfg


def test_sampled_inputs_have_exactly_k_on():
    cfg = UANDConfig(n_inputs=10, n_active=3)
    x = sample_inputs(cfg, 5000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert (x.sum(1) == 3).all()
    assert x.mean(0).numpy() == pytest.approx(np.full(10, 0.3), abs=0.03)
    pairs = torch.as_tensor(gate_pairs(10))
    for g, (i, j) in enumerate(itertools.islice(zip(*gate_pairs(10).T), 5)):
        assert torch.equal(and_targets(x, pairs)[:, g], x[:, i] * x[:, j])


def test_wide_trained_network_computes_every_gate():
    """With a neuron per gate (d ≥ G) training finds an exact circuit: all 15 gates of m = 6, k = 2. The masked
    narrow instance trains alongside and its unused neurons stay exactly zero."""
    cfg = UANDConfig(
        n_inputs=6,
        n_active=2,
        d_min=4,
        d_max=32,
        n_instances=2,
        steps=600,
        batch_size=256,
        lr=2e-2,
        device="cpu",
        eval_cases=8,
    )
    trainer = UANDTrainer(cfg)
    snap = trainer.run()
    res = trained_gates(snap)
    assert res[1]["d"] == 32 and res[1]["gates"] == 15
    assert (snap["W1"][0, :, 4:] == 0).all() and (snap["W2"][0, 4:] == 0).all()
    s = uand_summary(snap)
    assert s["n_gates"] == 15 and s["d"] == [4, 32] and s["linear_gates"] == 0
    assert len(s["handmade_gates"]) == 2


def test_cli_prints_gates_for_trained_and_handmade(capsys):
    import json

    from toys.cli import main

    rc = main(
        [
            "train",
            "uand",
            "--n-inputs",
            "6",
            "--d-min",
            "4",
            "--d-max",
            "16",
            "--n-instances",
            "2",
            "--steps",
            "50",
            "--batch-size",
            "64",
            "--eval-cases",
            "4",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    assert line["toy"] == "uand" and line["d"] == [4, 16] and line["n_gates"] == 15
    assert len(line["trained_gates"]) == len(line["handmade_gates"]) == 2 and line["linear_gates"] == 0


# --------------------------------------------------------------------------------------- a sample of the gates


def test_a_sample_of_gates_holds_their_own_cases():
    full = gate_pairs(12)
    held = held_out_cases(12, 3, 4, seed=0, max_gates=20)
    assert held.sampled and held.n_total == 66 and len(held.gates) == 20
    assert (np.diff(held.gates) > 0).all()  # distinct, in gate order
    np.testing.assert_array_equal(held.pairs, full[held.gates])
    for g, (i, j) in enumerate(held.pairs):
        for c, (a, b) in enumerate(CASES):
            for case in held.active[g, c]:
                assert len(set(case)) == 3 and (i in case) == bool(a) and (j in case) == bool(b)
    assert not held_out_cases(12, 3, 4, seed=0, max_gates=66).sampled


def test_sampled_network_and_linear_outputs_read_the_sampled_gates_columns():
    """network_outputs and linear_gates on a sample equal the whole network run by brute force on the expanded
    inputs, each row read at its own gate's column."""
    cfg = UANDConfig(n_inputs=9, n_active=3, eval_cases=4, tolerance=0.3)
    held = held_out_cases(9, 3, 4, seed=1, max_gates=10)
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(9, 7)), rng.normal(size=7)
    W2, b2 = rng.normal(size=(7, 36)), rng.normal(size=36)
    x = held.dense(9)  # (G·4·K, m), gate-major
    y = (np.maximum(x @ W1 + b1, 0.0) @ W2 + b2).reshape(10, 4, 4, 36)
    want = np.stack([y[g, :, :, col] for g, col in enumerate(held.gates)])
    np.testing.assert_allclose(network_outputs(W1, b1, W2, b2, held), want, atol=1e-12)
    W, b = linear_readout(cfg)
    lin = (x @ W + b).reshape(10, 4, 4, 36)
    want_rates = gate_error_rates(np.stack([lin[g, :, :, c] for g, c in enumerate(held.gates)]), held, 0.3)
    np.testing.assert_array_equal(linear_gates(cfg, held)["error_rates"], want_rates)


def test_a_sampled_count_estimates_the_full_count():
    """The hand-made circuit at m = 40 (780 gates) scored on all gates and on a sample of 300: the estimate is
    within four standard deviations of a sample of 300 drawn without replacement from the 780."""
    cfg = UANDConfig(n_inputs=40, n_active=2, eval_cases=8, handmade_q=0.1)
    full = handmade_gates(cfg, 200, held=held_out_cases(40, 2, 8, seed=1))
    held = held_out_cases(40, 2, 8, seed=1, max_gates=300)
    est = handmade_gates(cfg, 200, held=held)
    share = full["gates"] / 780
    sd = 780 * np.sqrt(share * (1 - share) / 300 * (780 - 300) / (780 - 1))
    assert 0 < full["gates"] < 780 and abs(est["gates"] - full["gates"]) <= 4 * sd


def test_affordable_gates_covers_small_configs_and_bounds_big_ones():
    assert affordable_gates(UANDConfig()) is None  # 66 gates: all of them
    big = UANDConfig(n_inputs=128, d_max=2048)
    n = affordable_gates(big)
    per_gate = 4 * big.eval_cases * 3 * int(instance_widths(big).sum())
    assert 300 <= n < big.n_gates and n * per_gate <= 3e8 + 300 * per_gate


# --------------------------------------------------------------------------------------- losses and the sparse engine


def _dense_numpy_loss(W1, b1, W2, b2, x, loss, p=4.0):
    """The loss by hand: ŷ = ReLU(x W1 + b1) W2 + b2 over every gate, targets the pairwise ANDs of x."""
    m = x.shape[1]
    pairs = gate_pairs(m)
    t = x[:, pairs[:, 0]] * x[:, pairs[:, 1]]
    y = np.maximum(x @ W1 + b1, 0.0) @ W2 + b2
    if loss == "mse":
        return np.mean((y - t) ** 2)
    if loss == "lp":
        return np.mean(np.abs(y - t) ** p)
    sig = 1.0 / (1.0 + np.exp(-y))
    return np.mean(-t * np.log(sig) - (1 - t) * np.log(1 - sig))


def test_active_gates_are_the_gates_whose_and_is_one():
    cfg = UANDConfig(n_inputs=11, n_active=4)
    idx = sample_active(cfg, 300, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert (idx.diff(dim=1) > 0).all()
    gates = active_gates(idx, 11)
    t = and_targets(inputs_from_active(idx, 11), torch.as_tensor(gate_pairs(11)))
    want = torch.zeros_like(t).scatter_(1, gates, 1.0)
    assert torch.equal(t, want) and gates.shape == (300, 6)


def test_sample_inputs_is_sample_active_scattered():
    cfg = UANDConfig(n_inputs=9, n_active=3)
    x = sample_inputs(cfg, 50, torch.Generator().manual_seed(4), torch.device("cpu"))
    idx = sample_active(cfg, 50, torch.Generator().manual_seed(4), torch.device("cpu"))
    assert torch.equal(x, inputs_from_active(idx, 9))


@pytest.mark.parametrize("m,k,d,B", [(5, 2, 3, 4), (12, 3, 20, 64), (60, 2, 150, 200)])
@pytest.mark.parametrize(
    "loss,method", [("mse", "gram"), ("mse", "dense"), ("lp", "dense"), ("bce", "dense")], ids=lambda v: str(v)
)
def test_sparse_loss_and_gradients_equal_the_dense_autograd_twin(m, k, d, B, loss, method):
    """The engine's loss from the on inputs (Gram form or per-width dense) equals the plain dense network's loss over
    every gate, and its hand-written gradients equal autograd's, in float64."""
    cfg = UANDConfig(n_inputs=m, n_active=k)
    G = cfg.n_gates
    gen = torch.Generator().manual_seed(m + d)
    W1 = torch.randn(m, d, generator=gen, dtype=torch.float64)
    b1 = 0.3 * torch.randn(d, generator=gen, dtype=torch.float64)
    W2 = torch.randn(d, G, generator=gen, dtype=torch.float64) / d**0.5
    b2 = 0.3 * torch.randn(G, generator=gen, dtype=torch.float64)
    idx = sample_active(cfg, B, gen, torch.device("cpu"))
    x = inputs_from_active(idx, m).double()
    leaves = [t.clone().requires_grad_() for t in (W1, b1, W2, b2)]
    y = torch.relu(x @ leaves[0] + leaves[1]) @ leaves[2] + leaves[3]
    dense = elementwise_loss(y, and_targets(x, torch.as_tensor(gate_pairs(m))), loss, 3.0).mean()
    dense.backward()
    value, grads = sparse_loss_and_grads(W1, b1, W2, b2, idx, active_gates(idx, m), loss, 3.0, method)
    assert float(value) == pytest.approx(float(dense.detach()), rel=1e-12)
    assert float(value) == pytest.approx(
        _dense_numpy_loss(*(t.numpy() for t in (W1, b1, W2, b2)), x.numpy(), loss, 3.0)
    )
    for got, leaf in zip(grads, leaves):
        torch.testing.assert_close(got, leaf.grad, rtol=1e-10, atol=1e-12)


def test_gram_form_holds_in_float32_at_research_sizes():
    """m = 100 (4,950 gates), d = 300: the Gram form's float32 loss and gradients match float64 to float tolerance."""
    cfg = UANDConfig(n_inputs=100, n_active=3)
    gen = torch.Generator().manual_seed(0)
    W1 = torch.randn(100, 300, generator=gen) / 10
    W2 = torch.randn(300, cfg.n_gates, generator=gen) / 300**0.5
    b1, b2 = torch.zeros(300), torch.full((cfg.n_gates,), 0.01)
    idx = sample_active(cfg, 256, gen, torch.device("cpu"))
    gates = active_gates(idx, 100)
    v32, g32 = sparse_loss_and_grads(W1, b1, W2, b2, idx, gates, "mse", method="gram")
    v64, g64 = sparse_loss_and_grads(W1.double(), b1.double(), W2.double(), b2.double(), idx, gates, method="dense")
    assert float(v32) == pytest.approx(float(v64), rel=1e-5)
    for a, b in zip(g32, g64):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_instance_method_picks_the_cheaper_and_gram_only_for_mse():
    cfg = UANDConfig(n_inputs=100, batch_size=256, d_min=25, d_max=1000)
    assert instance_method(cfg, 25) == "gram" and instance_method(cfg, 1000) == "dense"
    assert instance_method(cfg.replace(loss="bce"), 25) == "dense"


@pytest.mark.parametrize("loss", ["mse", "lp", "bce"])
def test_engines_train_alike_from_the_same_seed(loss):
    """Sparse and dense engines: same initial weights and batches, so the same losses at every step and the same
    weights after 15 steps (float32 rounding); the padding of the narrow instance stays exactly zero."""
    cfg = UANDConfig(
        n_inputs=8, n_active=3, d_min=4, d_max=24, n_instances=3, batch_size=64, steps=15, log_every=1,
        loss=loss, loss_p=3.0, device="cpu",
    )  # fmt: skip
    a, b = UANDTrainer(cfg, engine="sparse").run(), UANDTrainer(cfg, engine="dense").run()
    assert a.loss.shape == b.loss.shape == (15, 3)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-4)
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-3, atol=1e-5)
    assert (a["W1"][0, :, 4:] == 0).all() and (a["W2"][0, 4:] == 0).all() and (a["b1"][0, 4:] == 0).all()


@pytest.mark.parametrize("engine", ["sparse", "dense"])
@pytest.mark.parametrize("loss", ["mse", "lp", "bce"])
def test_each_loss_trains_without_nan_and_logs_the_hand_computed_loss(loss, engine):
    """The first logged loss is the hand-computed loss of the initial weights on the first batch (redrawn from the
    trainer's generator); 200 steps later every loss is finite and lower."""
    cfg = UANDConfig(
        n_inputs=6, n_active=2, d_min=8, d_max=16, n_instances=2, batch_size=32, steps=200, log_every=1, lr=1e-2,
        loss=loss, loss_p=4.0, device="cpu",
    )  # fmt: skip
    trainer = UANDTrainer(cfg, engine=engine)
    w = {k: v.detach().double().numpy().copy() for k, v in trainer.params.items()}
    gen = torch.Generator().manual_seed(0)
    gen.set_state(trainer.generator.get_state())
    x = inputs_from_active(sample_active(cfg, 32, gen, torch.device("cpu")), 6).double().numpy()
    snap = trainer.run()
    for i, d in enumerate(trainer.widths):
        want = _dense_numpy_loss(w["W1"][i, :, :d], w["b1"][i, :d], w["W2"][i, :d], w["b2"][i], x, loss)
        assert snap.loss[0, i] == pytest.approx(want, rel=1e-5)
    assert np.isfinite(snap.loss).all() and all(np.isfinite(a).all() for a in snap.arrays.values())
    assert (snap.final_loss < snap.loss[0]).all()


def _exact_network_snapshot(loss: str, scale: float, shift: float) -> Snapshot:
    """m = 6, d = 15: neuron t computes gate t exactly (ReLU(x_i + x_j − 1)); output = scale·h + shift."""
    cfg = UANDConfig(n_inputs=6, n_active=2, d_min=15, d_max=15, n_instances=1, eval_cases=4, loss=loss)
    pairs = gate_pairs(6)
    W1 = np.zeros((1, 6, 15), np.float32)
    W1[0, pairs[:, 0], np.arange(15)] = W1[0, pairs[:, 1], np.arange(15)] = 1.0
    arrays = {
        "W1": W1,
        "b1": -np.ones((1, 15), np.float32),
        "W2": scale * np.eye(15, dtype=np.float32)[None],
        "b2": np.full((1, 15), shift, np.float32),
        "widths": np.array([15]),
    }
    return Snapshot("uand", cfg.to_dict(), 0, arrays, np.zeros((0, 1)), np.zeros(0, np.int64))


def test_bce_accounting_reads_the_sigmoid_of_the_logits():
    """Logits +6 for AND = 1 and −6 for AND = 0 compute every gate when read through the sigmoid (BCE) and none when
    read as outputs; the same exact circuit with outputs 1/0 computes every gate under MSE."""
    logits = _exact_network_snapshot("bce", 12.0, -6.0)
    assert trained_gates(logits)[0]["gates"] == 15
    as_outputs = _exact_network_snapshot("mse", 12.0, -6.0)
    assert trained_gates(as_outputs)[0]["gates"] == 0
    assert trained_gates(_exact_network_snapshot("lp", 1.0, 0.0))[0]["gates"] == 15
    np.testing.assert_allclose(gate_outputs("bce", np.array([-800.0, 0.0, 800.0])), [0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    "field,value,words",
    [("loss", "huber", "loss='huber'"), ("loss", "MSE", "loss='MSE'"), ("loss_p", 0.5, "loss_p=0.5")],
)
def test_config_rejects_unknown_losses_by_name(field, value, words):
    with pytest.raises(ValueError, match=words):
        UANDConfig(**{field: value})


def test_trainer_rejects_an_unknown_engine():
    with pytest.raises(ValueError, match="engine='fast'"):
        UANDTrainer(UANDConfig(steps=1), engine="fast")
