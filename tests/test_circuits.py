"""The circuits toy, its transcoder, and the clustering pipeline end to end against planted ground truth."""

import numpy as np
import pytest
import torch

from toys.circuits.pipeline import (
    ClusterConfig,
    PipelineConfig,
    PipelineTrainer,
    analyse,
    latent_circuits,
    run_pipeline,
    split_snapshot,
)
from toys.circuits.planted import (
    CircuitsConfig,
    CircuitsSampler,
    CircuitsTrainer,
    FrozenCircuits,
    baseline_mse,
    embedding,
    feature_circuit,
    output_circuit,
)
from toys.circuits.transcoder import TranscoderConfig, TranscoderTrainer, collect_activations, dead_latents, encode
from toys.core.snapshot import Snapshot
from toys.core.train import is_diverged

pytestmark = pytest.mark.usefixtures("one_torch_thread")


SMALL = CircuitsConfig(n_circuits=4, circuit_size=3, d_model=12, n_neurons=24, steps=300, batch_size=256, device="cpu")

# ---------------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    "field, value",
    [
        ("n_circuits", 0),
        ("circuit_size", 99),
        ("function", "xor"),
        ("p_circuit", 0.0),
        ("p_circuit", 1.5),
        ("d_model", 0),
        ("n_neurons", 2.5),
        ("steps", 0),
        ("lr", 0.0),
        ("device", "tpu"),
        ("weight_decay", 0.1),
    ],
)
def test_circuits_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        CircuitsConfig(**{field: value})


def test_and_needs_two_features():
    with pytest.raises(ValueError, match="circuit_size=1"):
        CircuitsConfig(function="and", circuit_size=1)


@pytest.mark.parametrize(
    "field, value",
    [("n_latents", 0), ("sparsity", "jumprelu"), ("l1_coeff", -1.0), ("k", 0), ("steps", 0), ("dead_window", 0)],
)
def test_transcoder_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        TranscoderConfig(**{field: value})


def test_topk_k_at_most_latents():
    with pytest.raises(ValueError, match="k=9"):
        TranscoderConfig(n_latents=8, sparsity="topk", k=9)
    TranscoderConfig(n_latents=8, sparsity="l1", k=9)  # k is unused by l1


def test_cluster_config_rejects_bad_values():
    for field, value in [
        ("method", "kmeans"),
        ("similarity", "cosine"),
        ("threshold", 1.5),
        ("n_clusters", -1),
        ("n_samples", 10),
        ("min_fires", 0),
    ]:
        with pytest.raises(ValueError, match=field):
            ClusterConfig(**{field: value})
    with pytest.raises(ValueError, match="min_fires"):
        ClusterConfig(n_samples=100, min_fires=200)


def test_configs_round_trip_flat_dicts():
    cfg = PipelineConfig(SMALL.replace(function="and"), TranscoderConfig(sparsity="topk", k=3, n_latents=32))
    d = cfg.to_dict()
    assert all(not isinstance(v, dict) for v in d.values())
    assert d["function"] == "and" and d["tc_k"] == 3
    assert PipelineConfig.from_dict(d) == cfg
    assert PipelineConfig.from_dict({k: str(v) for k, v in d.items()}) == cfg  # as from a URL
    assert ClusterConfig.from_dict(ClusterConfig(method="spectral").to_dict()) == ClusterConfig(method="spectral")
    with pytest.raises(ValueError, match="tc_bogus|bogus"):
        PipelineConfig.from_dict(d | {"tc_bogus": 1})


# ----------------------------------------------------------------------------------------------------- data


@pytest.mark.parametrize("function", ["abs", "and"])
def test_sampler_draws_planted_circuits(function):
    cfg = CircuitsConfig(n_circuits=6, circuit_size=4, function=function, p_circuit=0.2)
    gen = torch.Generator().manual_seed(0)
    x, y = CircuitsSampler(cfg, "cpu").sample(20_000, gen)
    assert x.shape == (20_000, 24) and y.shape == (20_000, cfg.n_outputs)
    xc = x.reshape(20_000, 6, 4)
    active = (xc != 0).any(dim=2)  # (B, T)
    assert abs(active.float().mean().item() - 0.2) < 0.02 if function == "abs" else True
    if function == "abs":
        torch.testing.assert_close(y, x.abs())
        assert (x.abs() <= 1).all()
    else:
        assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
        i, j = np.triu_indices(4, 1)
        torch.testing.assert_close(y.reshape(20_000, 6, 6), xc[:, :, i] * xc[:, :, j])
    # outputs of a circuit are nonzero only with its own features
    oc, fc = output_circuit(cfg), feature_circuit(cfg)
    for c in range(6):
        off = ~(x[:, fc == c] != 0).any(dim=1)
        assert (y[off][:, oc == c] == 0).all()


def test_embedding_orthonormal_or_unit():
    E = embedding(CircuitsConfig(n_circuits=4, circuit_size=4, d_model=20))
    np.testing.assert_allclose(E.T @ E, np.eye(16), atol=1e-5)
    E = embedding(CircuitsConfig(n_circuits=4, circuit_size=4, d_model=8))
    np.testing.assert_allclose(np.linalg.norm(E, axis=0), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------------------------------- training


def test_circuits_model_learns_and_snapshot_is_numpy():
    snap = CircuitsTrainer(SMALL.replace(steps=400)).run()
    assert snap.toy == "circuits" and snap.step == 400
    assert all(isinstance(a, np.ndarray) for a in snap.arrays.values())
    assert snap.loss[-1, 0] < 0.5 * baseline_mse(SMALL)  # well below the best constant output
    again = Snapshot.load(__import__("io").BytesIO(snap.to_npz_bytes()))
    np.testing.assert_array_equal(again["W_in"], snap["W_in"])


def _trained_model(steps=300):
    return CircuitsTrainer(SMALL.replace(steps=steps)).run()


@pytest.mark.parametrize("sparsity", ["l1", "topk"])
def test_transcoder_trains_with_unit_decoder_rows(sparsity):
    model = _trained_model()
    cfg = TranscoderConfig(
        n_latents=32, sparsity=sparsity, k=3, steps=300, batch_size=256, device="cpu", dead_window=256 * 50
    )
    trainer = TranscoderTrainer(cfg, model)
    snap = trainer.run()
    np.testing.assert_allclose(np.linalg.norm(snap["W_dec"], axis=1), 1.0, rtol=1e-5)
    nmse = snap.loss[:, 1]
    assert nmse[-1] < 0.5 * nmse[0]  # reconstruction improves
    if sparsity == "topk":
        assert (snap.loss[:, 2] <= 3 + 1e-6).all()  # L0 never above k
    X, stats = collect_activations(model, snap, 3000, seed=5)
    assert X.shape == (3000, 32) and (X.data > 0).all()
    if sparsity == "topk":
        assert np.diff(X.indptr).max() <= 3
    assert stats["l0"] == pytest.approx(X.nnz / 3000)
    assert dead_latents(snap).dtype == bool and dead_latents(snap).shape == (32,)


def test_dead_latent_is_reported():
    model = _trained_model(50)
    trainer = TranscoderTrainer(
        TranscoderConfig(n_latents=8, steps=20, batch_size=64, device="cpu", dead_window=64 * 5), model
    )
    with torch.no_grad():
        trainer.params["b_enc"][3] = -1e6  # latent 3 can never fire
    snap = trainer.run()
    assert dead_latents(snap)[3]


def _ideal_transcoder(model: Snapshot) -> Snapshot:
    """A transcoder by hand for the abs task: latents ReLU(+x_f) and ReLU(−x_f), each writing |x_f| to output f."""
    E = model["E"]  # (d, F)
    F = E.shape[1]
    W_enc = np.concatenate([E.T, -E.T])  # (2F, d): reads ±x_f exactly (E has orthonormal columns)
    W_dec = np.concatenate([np.eye(F), np.eye(F)]).astype(np.float32)
    cfg = TranscoderConfig(n_latents=2 * F, device="cpu")
    arrays = {
        "W_enc": W_enc.astype(np.float32),
        "b_enc": np.zeros(2 * F, np.float32),
        "b_pre": np.zeros(E.shape[0], np.float32),
        "W_dec": W_dec,
        "b_dec": np.zeros(F, np.float32),
        "since_fired": np.zeros(2 * F, np.float32),
    }
    return Snapshot("transcoder", cfg.to_dict(), 0, arrays, np.zeros((0, 3)), np.zeros(0, np.int64))


def test_truth_and_clustering_of_an_ideal_transcoder():
    # planted ground truth end to end, without training noise: every method must find the circuits exactly
    cfg = CircuitsConfig(n_circuits=6, circuit_size=4, d_model=24, p_circuit=0.1, steps=1, device="cpu")
    model = CircuitsTrainer(cfg).run()
    tc = _ideal_transcoder(model)
    truth = latent_circuits(model, tc)
    np.testing.assert_array_equal(truth.circuit, np.tile(feature_circuit(cfg), 2))
    np.testing.assert_allclose(truth.share.max(1), 1.0, atol=1e-5)
    a = analyse(model, tc, ClusterConfig(n_samples=20_000, threshold=0.0))
    assert a.live.all()
    for method, s in a.scores.items():
        assert s["ari"] == pytest.approx(1.0), (method, s)
        assert s["found"] == s["true"] == 6
    a = analyse(
        model,
        tc,
        ClusterConfig(n_samples=20_000, threshold=0.1, method="average"),
        methods=("average", "components", "agglomerative"),
    )
    for method, s in a.scores.items():  # a threshold alone (no count given) finds the 6 circuits too
        assert s["ari"] == pytest.approx(1.0) and s["found"] == 6, (method, s)


def test_pipeline_trains_both_stages_and_splits():
    cfg = PipelineConfig(
        SMALL.replace(steps=100, log_every=20),
        TranscoderConfig(n_latents=16, steps=60, batch_size=128, device="cpu", log_every=20),
    )
    trainer = PipelineTrainer(cfg)
    trainer.advance(80)
    assert trainer.stage == "model" and trainer.transcoder is None
    snap = trainer.snapshot()
    assert snap.extras["stage"] == "model" and split_snapshot(snap)[1] is None
    trainer.advance(50)  # crosses into the transcoder
    assert trainer.stage == "transcoder" and trainer.step == 130 and trainer.transcoder.step == 30
    snap = trainer.run()
    assert snap.step == 160 and snap.extras["stage"] == "done" and trainer.done
    model, tc = split_snapshot(snap)
    assert model.step == 100 and tc.step == 60
    assert model.loss_steps.tolist() == [20, 40, 60, 80, 100]
    assert tc.loss_steps.tolist() == [20, 40, 60] and tc.loss.shape == (3, 3)
    assert snap.loss_steps.tolist() == [20, 40, 60, 80, 100, 120, 140, 160]
    assert snap.loss.shape == (8, 1) and not is_diverged(snap)
    np.testing.assert_array_equal(snap.loss[5:, 0], tc.loss[:, 0])
    np.testing.assert_array_equal(snap.loss[:5], model.loss)
    np.testing.assert_array_equal(FrozenCircuits(model, "cpu").params["W_in"].numpy(), snap["model/W_in"])
    with pytest.raises(ValueError, match="tc_log_every"):
        PipelineConfig(SMALL, TranscoderConfig(log_every=7))


def test_topk_encode_keeps_k_largest():
    params = {"W_enc": torch.eye(4), "b_enc": torch.zeros(4), "b_pre": torch.zeros(4)}
    z = encode(params, torch.tensor([[0.5, -1.0, 2.0, 1.0]]), "topk", 2)
    torch.testing.assert_close(z, torch.tensor([[0.0, 0.0, 2.0, 1.0]]))
    z = encode(params, torch.tensor([[-0.5, -1.0, -2.0, 0.3]]), "topk", 2)
    torch.testing.assert_close(z, torch.tensor([[0.0, 0.0, 0.0, 0.3]]))  # ReLU after top-k: negatives stay off


# ---------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_end_to_end_default_recovers_circuits():
    # the page's default planted setting, trained from scratch: ARI ≥ 0.9 against the circuits read off the weights
    cfg = PipelineConfig(CircuitsConfig(device="cpu"), TranscoderConfig(device="cpu"))
    _, a = run_pipeline(cfg, ClusterConfig())
    assert a.live.sum() >= 0.8 * cfg.transcoder.n_latents
    assert a.scores["average"]["ari"] >= 0.9, a.scores
    assert a.scores["average"]["found_2plus"] == 8


# ---------------------------------------------------------------------------------------------------- charts


@pytest.mark.parametrize("n", [0, 1, 5, 300])
def test_charts_build_for_any_number_of_latents(n):
    from charts import clustering as ch

    rng = np.random.default_rng(n)
    S = rng.random((n, n))
    S = (S + S.T) / 2
    labels, truth = rng.integers(0, 3, n), rng.integers(0, 3, n)
    heat = ch.coactivation_frame(S, labels, truth, np.arange(n) + 100)
    assert heat["x"].nunique() == min(n, ch.MAX_HEATMAP_LATENTS)
    if n:  # the drawn latents keep their own ids and clusters
        assert set(heat["latent_x"]) <= set(range(100, 100 + n))
        row = heat.iloc[0]
        assert labels[int(row["latent_y"]) - 100] == row["cluster_y"]
    cont = ch.contingency_frame(labels, truth)
    assert cont["latents"].sum() == n
    fired = rng.random(n) * (rng.random(n) > 0.3)
    live = fired > 0.2
    health = ch.health_frame(fired, live, fired == 0)
    assert (health["status"] == "dead").sum() == (fired == 0).sum()
    assert (health["status"] == "live (clustered)").sum() == live.sum()
    for chart in (ch.coactivation_chart(heat, "jaccard"), ch.contingency_chart(cont), ch.health_chart(health)):
        assert isinstance(chart.to_dict(), dict)


def test_cluster_order_groups_clusters():
    from charts.clustering import cluster_order

    labels = np.array([2, 0, 2, 1, 0, 2])
    order = cluster_order(labels, np.zeros(6, int))
    assert labels[order].tolist() == [2, 2, 2, 0, 0, 1]  # largest cluster first, members together
