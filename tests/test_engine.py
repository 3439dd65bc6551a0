"""The fast TMS engines are the same training as the plain loop.

- Hand-written gradients (torch and the fastcore kernel) equal autograd's for every model kind and activation.
- The kernel's batches follow a slow numpy twin bit for bit, and the data law of ``toys.tms.data``.
- Fed the same batches from the same initial weights, the numba engine's trajectory equals the notebook loop's
  (``bench.reference``) and the autograd engine's to float32 rounding after hundreds of steps.
- ``gpu`` twins check the CUDA-graph engine the same way, and against the CPU engine on the same draws.

Tolerance of the trajectory checks: feeding identical batches leaves only float32 rounding (sums taken in another
order) between the implementations; measured, the largest weight difference after 1,000 steps of the intro
config is about 1e-7 (one or two ulps of weights of size ~1). We allow 1e-5. A real difference in the maths moves
weights by about the learning rate per step: one step of lr 1.001e-3 instead of 1e-3 already separates the
trajectories by more than the tolerance within 300 steps (checked below as a negative control). Rounding can
still be amplified where Adam normalises gradients that are nearly zero (seen with relu_hidden, leaky_relu and
AdamW: the trajectories part after ~100 steps, and do so between any two float32 implementations), so the
configs compared here stay away from that. The GPU kernel computes its products in 3×TF32 (relative error
≤ 7e-7 measured against float64, against ~1e-7 for plain float32 sums), so the GPU-against-CPU trajectories
get 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.reference import ReferenceTMS
from fastcore import tms as ftms
from toys import TMSConfig, TMSTrainer
from toys.core.config import ACTIVATIONS
from toys.tms.config import MODEL_KINDS, VALUE_LAWS
from toys.tms.data import FeatureSampler, probability_matrix
from toys.tms.engines import choose_engine, graph_chunk
from toys.tms.model import tms_forward, tms_loss_and_grads, weighted_mse

ATOL = 1e-5  # weights after N steps on the same batches (see the module docstring)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# ------------------------------------------------------------------------------------------------ naive twins

_GAMMA, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def naive_uniform(key: int, n: np.ndarray) -> np.ndarray:
    """SplitMix64 of ``key`` at positions n (uint64), top 24 bits as float32 in [0, 1)."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (n + np.uint64(1)) * _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def naive_value(v: np.ndarray, law: str) -> np.ndarray:
    if law == "uniform01":
        return v
    if law == "one":
        return np.ones_like(v)
    if law == "discrete123":
        return np.minimum(np.floor(np.float32(3.0) * v), np.float32(2.0)) + np.float32(1.0)
    return np.float32(0.5) + np.float32(0.5) * v


def naive_batch(p, key, step, n_batch, law="uniform01", corr=0, anti=0) -> np.ndarray:
    """toys.tms.data's law written out on the kernel's draws: u at ((step·I + i)·B + s)·F + f. -> (I, B, F)"""
    n_inst, n_feat = p.shape
    i, s, f = np.meshgrid(np.arange(n_inst), np.arange(n_batch), np.arange(n_feat), indexing="ij")
    pos = (
        (np.uint64(step) * np.uint64(n_inst) + i.astype(np.uint64)) * np.uint64(n_batch) + s.astype(np.uint64)
    ) * np.uint64(n_feat) + f.astype(np.uint64)
    u = naive_uniform(key, pos)
    pp = np.broadcast_to(p[:, None, :], u.shape)
    present = u < pp
    v = u / pp
    for j in range(corr):
        present[..., 2 * j + 1] = present[..., 2 * j]
        v[..., 2 * j + 1] = u[..., 2 * j + 1]
    for j in range(anti):
        a, b = 2 * corr + 2 * j, 2 * corr + 2 * j + 1
        present[..., b] = (u[..., a] >= pp[..., a]) & (u[..., a] < np.float32(2.0) * pp[..., a])
        v[..., b] = (u[..., a] - pp[..., a]) / pp[..., a]
    return np.where(present, naive_value(v, law), np.float32(0.0)).astype(np.float32)


def autograd_grads(x, W, b, imp, model, activation):
    """Loss per instance and gradients of their sum by autograd, in float64."""
    W = torch.as_tensor(W, dtype=torch.float64).clone().requires_grad_()
    b = torch.as_tensor(b, dtype=torch.float64).clone().requires_grad_()
    x = torch.as_tensor(x, dtype=torch.float64)
    losses = weighted_mse(x, tms_forward(x, W, b, model, activation), torch.as_tensor(imp, dtype=torch.float64))
    losses.sum().backward()
    return losses.detach(), W.grad, b.grad


def _problem(seed=0, n_inst=3, n_hid=3, n_feat=6, n_batch=300):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((n_inst, n_hid, n_feat)) * 0.7).astype(np.float32)
    b = (rng.standard_normal((n_inst, n_feat)) * 0.2).astype(np.float32)
    p = rng.uniform(0.05, 0.5, (n_inst, n_feat)).astype(np.float32)
    imp = (0.8 ** np.arange(n_feat)).astype(np.float32)
    return W, b, p, imp


# ------------------------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("model", MODEL_KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_hand_written_torch_grads_equal_autograd(model, activation):
    W, b, p, imp = _problem()
    x = naive_batch(p, 7, 0, 300)
    want = autograd_grads(x, W, b, imp, model, activation)
    got = tms_loss_and_grads(*(torch.as_tensor(a, dtype=torch.float64) for a in (x, W, b, imp)), model, activation)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", MODEL_KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_kernel_grads_equal_autograd(model, activation):
    W, b, p, imp = _problem()
    x = naive_batch(p, 7, 0, 300)
    losses, dW, db = ftms.tms_grads(W, b, p, imp, key=7, step=0, n_batch=300, model=model, activation=activation, x=x)
    want = autograd_grads(x, W, b, imp, model, activation)
    for g, w in zip((losses, dW, db), want):
        np.testing.assert_allclose(g, w.numpy(), rtol=2e-5, atol=1e-7 * float(w.abs().max()) + 1e-9)


def test_kernel_draws_the_batch_it_trains_on():
    W, b, p, imp = _problem(n_batch=700)
    drawn = ftms.tms_grads(W, b, p, imp, key=11, step=5, n_batch=700, model="relu_hidden", activation="silu")
    x = ftms.tms_batch(p, key=11, step=5, n_batch=700)
    given = ftms.tms_grads(W, b, p, imp, key=11, step=5, n_batch=700, model="relu_hidden", activation="silu", x=x)
    for d, g in zip(drawn, given):
        np.testing.assert_array_equal(d, g)


# ---------------------------------------------------------------------------------------------- batches


@pytest.mark.parametrize("law", VALUE_LAWS)
@pytest.mark.parametrize("pairs", [(0, 0), (2, 0), (0, 2), (1, 1)])
def test_kernel_batch_equals_naive_twin(law, pairs):
    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.5, (4, 7)).astype(np.float32)
    for step in (0, 3):
        got = ftms.tms_batch(
            p,
            key=2**62 + 5,
            step=step,
            n_batch=600,
            value_law=law,
            correlated_pairs=pairs[0],
            anticorrelated_pairs=pairs[1],
        )
        np.testing.assert_array_equal(got, naive_batch(p, 2**62 + 5, step, 600, law, *pairs))


def test_kernel_batch_corner_cases():
    p = np.full((1, 1), 1.0, np.float32)
    x = ftms.tms_batch(p, key=0, step=0, n_batch=1)
    assert x.shape == (1, 1, 1) and 0.0 <= x[0, 0, 0] < 1.0
    assert ftms.tms_batch(np.full((2, 3), 1e-5, np.float32), key=1, step=0, n_batch=50).max() == 0.0
    with pytest.raises(ValueError, match="correlated_pairs"):
        ftms.tms_batch(np.ones((1, 3), np.float32), key=0, step=0, n_batch=4, correlated_pairs=2)
    with pytest.raises(ValueError, match="value_law"):
        ftms.tms_batch(np.ones((1, 3), np.float32), key=0, step=0, n_batch=4, value_law="nope")


@pytest.mark.parametrize("law", VALUE_LAWS)
def test_kernel_batch_follows_the_data_law_of_toys_data(law):
    """Same law as FeatureSampler (other draws): presence rates, pair structure and mean values agree within
    5 standard errors over 2×20,000 samples."""
    cfg = TMSConfig(
        n_features=8,
        n_instances=2,
        p_max=0.4,
        p_min=0.1,
        correlated_pairs=1,
        anticorrelated_pairs=1,
        value_law=law,
        batch_size=20_000,
    )
    ours = torch.from_numpy(ftms.tms_batch(probability_matrix(cfg), 9, 0, cfg.batch_size, law, 1, 1))
    theirs = FeatureSampler(cfg, "cpu").sample(cfg.batch_size, torch.Generator().manual_seed(9))
    for stat in (lambda x: (x > 0).double(), lambda x: x.double()):
        a, b = stat(ours), stat(theirs)
        se = torch.sqrt((a.var(1) + b.var(1)) / cfg.batch_size) + 1e-12
        assert ((a.mean(1) - b.mean(1)).abs() <= 5 * se).all()
    assert torch.equal(ours[..., 0] > 0, ours[..., 1] > 0)  # correlated pair: present together
    assert not ((ours[..., 2] > 0) & (ours[..., 3] > 0)).any()  # anticorrelated pair: never together


# --------------------------------------------------------------------------------------------- trajectories


def _same_batches(cfg: TMSConfig, n: int, device="cpu"):
    sampler, gen = FeatureSampler(cfg, device), torch.Generator(device=device).manual_seed(1234)
    return [sampler.sample(cfg.batch_size, gen) for _ in range(n)]


def _run_pair(cfg: TMSConfig, engine: str, steps: int, device="cpu", ref_lr=None):
    """Our trainer and the notebook loop from the same W, on the same batches; -> max |ΔW|, max |Δb|."""
    ours = TMSTrainer(cfg.replace(device=device), engine=engine)
    ref = ReferenceTMS(cfg.replace(lr=ref_lr or cfg.lr), device, W0=ours.params["W"].detach().transpose(1, 2))
    for x in _same_batches(cfg, steps, device):
        ours.train_on(x)
        ref.step(x.transpose(0, 1).contiguous())
    weights = ref.weights()
    snap = ours.snapshot()
    return np.abs(snap["W"] - weights["W"]).max(), np.abs(snap["b"] - weights["b"]).max()


INTRO = TMSConfig(importance_decay=0.9, steps=1000)


def test_numba_engine_is_the_notebook_loop_on_the_same_batches():
    dW, db = _run_pair(INTRO, "numba", 300)
    assert dW < ATOL and db < ATOL


def test_tolerance_separates_a_different_learning_rate():
    dW, _ = _run_pair(INTRO, "numba", 300, ref_lr=1.001e-3)
    assert dW > 10 * ATOL


@pytest.mark.parametrize(
    "kw",
    [
        {"model": "linear", "optimizer": "adamw", "weight_decay": 0.05, "schedule": "linear"},
        {"model": "relu_hidden", "activation": "gelu", "schedule": "cosine"},
        {"model": "relu_output", "activation": "tanh", "n_features": 6, "n_hidden": 3, "correlated_pairs": 1},
        {"model": "relu_hidden", "activation": "leaky_relu", "value_law": "uniform_half_one", "subset_size": 2},
        {"model": "relu_output", "activation": "silu", "value_law": "discrete123", "batch_size": 257},
    ],
)
def test_numba_engine_equals_autograd_engine_on_the_same_batches(kw):
    cfg = TMSConfig(n_instances=4, importance_decay=0.9, steps=200, **kw)
    fast, plain = TMSTrainer(cfg, engine="numba"), TMSTrainer(cfg, engine="autograd")
    for x in _same_batches(cfg, 200):
        fast.train_on(x)
        plain.train_on(x)
    a, b = fast.run(), plain.run()
    for name in ("W", "b"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=ATOL)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-4, atol=1e-7)


def test_drawn_steps_are_the_kernel_batches():
    """advance() trains on exactly the batches tms_batch describes for the trainer's key and steps."""
    cfg = INTRO.replace(steps=40, n_instances=3)
    drawn, fed = TMSTrainer(cfg), TMSTrainer(cfg)
    drawn.advance(40)
    key = ftms.seed_key(cfg.seed)
    for step in range(40):
        fed.train_on(torch.from_numpy(ftms.tms_batch(probability_matrix(cfg), key, step, cfg.batch_size)))
    for name in ("W", "b"):
        np.testing.assert_array_equal(drawn.snapshot()[name], fed.snapshot()[name])


def test_same_seed_same_snapshot_bitwise_and_logging():
    cfg = TMSConfig(n_instances=5, steps=130, log_every=20, seed=3, correlated_pairs=1, schedule="cosine")
    a, b = TMSTrainer(cfg), TMSTrainer(cfg)
    assert a.engine_name == "numba"
    a.run()
    while not b.done:
        b.advance(7)
    sa, sb = a.snapshot(), b.snapshot()
    for name in ("W", "b"):
        np.testing.assert_array_equal(sa[name], sb[name])
    np.testing.assert_array_equal(sa.loss, sb.loss)
    assert sa.loss_steps.tolist() == [20, 40, 60, 80, 100, 120, 130]
    other = TMSTrainer(cfg.replace(seed=4)).run()
    assert not np.array_equal(other["W"], sa["W"])


def test_fast_engine_learns_the_intro_result():
    """Dense instance 0 keeps 2 features in its 2 dimensions; sparse instances pack all 5 (the pentagon)."""
    snap = TMSTrainer(TMSConfig(importance_decay=0.9, steps=10_000)).run()
    represented = (np.linalg.norm(snap["W"], axis=1) > 0.5).sum(axis=1)
    assert represented[0] == 2 and represented[-4:].max() == 5


def test_drawn_batches_give_the_losses_of_the_plain_loop():
    """End to end with each engine's own draws (other RNG streams): per instance, the loss averaged over the last
    500 of 2,000 steps and over 4 seeds agrees within 3 standard errors, the standard error taken from the
    seed-to-seed spread of both engines."""
    seeds, ours, plain = range(4), [], []
    for seed in seeds:
        cfg = TMSConfig(importance_decay=0.9, steps=2000, log_every=50, seed=seed)
        for engine, out in (("numba", ours), ("autograd", plain)):
            out.append(TMSTrainer(cfg, engine=engine).run().loss[-10:].mean(axis=0))  # (I,)
    ours, plain = np.array(ours), np.array(plain)
    se = np.sqrt((ours.var(axis=0, ddof=1) + plain.var(axis=0, ddof=1)) / len(seeds))
    assert (np.abs(ours.mean(axis=0) - plain.mean(axis=0)) <= 3 * se + 1e-4).all()


def test_engine_choice():
    cpu = torch.device("cpu")
    assert choose_engine(TMSConfig(), cpu) == "numba"
    assert choose_engine(TMSConfig(n_features=4096, n_hidden=1024), cpu) == "autograd"
    assert choose_engine(TMSConfig(), cpu, "autograd") == "autograd"
    with pytest.raises(ValueError, match="cuda_graph"):
        choose_engine(TMSConfig(), cpu, "cuda_graph")
    with pytest.raises(ValueError, match="engine"):
        TMSTrainer(TMSConfig(), engine="warp")
    assert graph_chunk(50) == 50 and graph_chunk(100) == 50 and graph_chunk(97) == 1 and graph_chunk(7) == 7


def test_in_place_weight_edits_reach_the_kernel():
    trainer = TMSTrainer(TMSConfig(steps=10))
    with torch.no_grad():
        trainer.params["W"].fill_(float("nan"))
    trainer.advance(1)
    assert np.isnan(trainer.snapshot().final_loss).all()


# ------------------------------------------------------------------------------------------------------ GPU


@pytest.mark.gpu
@cuda
def test_gpu_graph_engine_is_the_notebook_loop_on_the_same_batches():
    dW, db = _run_pair(INTRO, "cuda_graph", 300, device="cuda")
    assert dW < ATOL and db < ATOL


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {
            "model": "relu_hidden",
            "activation": "gelu",
            "schedule": "cosine",
            "correlated_pairs": 1,
            "anticorrelated_pairs": 1,
            "p_max": 0.3,
        },
        {
            "model": "linear",
            "optimizer": "adamw",
            "weight_decay": 0.05,
            "schedule": "linear",
            "value_law": "uniform_half_one",
        },
        {"activation": "tanh", "value_law": "discrete123", "batch_size": 1000},
    ],
)
def test_gpu_graph_replays_follow_the_cpu_engine(kw):
    """CUDA graphs (drawing in the Triton kernel) and the CPU kernel draw the same batches from the same key:
    from the same W, the two trajectories agree to float32 rounding."""
    cfg = TMSConfig(n_instances=6, importance_decay=0.9, steps=300, log_every=50, **kw)
    gpu, cpu = TMSTrainer(cfg.replace(device="cuda")), TMSTrainer(cfg.replace(device="cpu"))
    assert gpu.engine_name == "cuda_graph" and gpu.engine.fused_kernel
    with torch.no_grad():
        gpu.params["W"].copy_(cpu.params["W"])
    gpu.advance(123)
    gpu.advance(177)
    cpu.run()
    a, b = gpu.snapshot(), cpu.snapshot()
    for name in ("W", "b"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(a.loss_steps, b.loss_steps)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-3, atol=1e-6)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("model", MODEL_KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gpu_kernel_grads_equal_autograd(model, activation):
    from toys.tms.triton_kernel import TritonTMSGrads

    W, b, p, imp = (torch.from_numpy(a).cuda() for a in _problem(n_batch=300))
    x = torch.from_numpy(naive_batch(p.cpu().numpy(), 7, 0, 300)).cuda()
    step = torch.zeros((), dtype=torch.int64, device="cuda")
    out = (torch.zeros(3, device="cuda"), torch.zeros_like(W), torch.zeros_like(b))
    kernel = TritonTMSGrads(W, b, p, imp, 7, 300, model, activation, "uniform01", 0, 0, step, *out)
    want = autograd_grads(x.cpu(), W.cpu(), b.cpu(), imp.cpu(), model, activation)
    for given in (x, None):  # the batch passed in, then drawn in the kernel (the same one)
        kernel(given)
        for g, w in zip(out, want):
            np.testing.assert_allclose(g.cpu().numpy(), w.numpy(), rtol=1e-4, atol=1e-6 * float(w.abs().max()))


@pytest.mark.gpu
@cuda
def test_gpu_torch_ops_graph_path(monkeypatch):
    """Without the Triton kernel, the graph captures FeatureSampler + hand-written grads: replays equal the
    eager steps of the same engine, bit for bit, and the batches fed in follow the notebook loop."""
    import toys.tms.engines

    monkeypatch.setattr(toys.tms.engines, "fused_kernel_applies", lambda cfg: False)
    cfg = TMSConfig(importance_decay=0.9, steps=200, correlated_pairs=1, schedule="cosine", device="cuda")
    graphed, eager = TMSTrainer(cfg), TMSTrainer(cfg)
    assert not graphed.engine.fused_kernel
    graphed.advance(200)
    for s in range(200):
        eager.engine.step(s)
    for name in ("W", "b"):
        torch.testing.assert_close(graphed.params[name], eager.params[name], rtol=0, atol=0)
    dW, db = _run_pair(INTRO, "cuda_graph", 200, device="cuda")
    assert dW < ATOL and db < ATOL


@pytest.mark.gpu
@cuda
def test_gpu_sweep_of_4000_instances_fits():
    torch.cuda.reset_peak_memory_stats()
    trainer = TMSTrainer(TMSConfig(n_instances=4000, n_features=20, n_hidden=5, p_min=0.01, device="cuda"))
    trainer.advance(500)
    snap = trainer.snapshot()
    assert np.isfinite(snap.final_loss).all() and snap.step == 500
    assert torch.cuda.max_memory_allocated() < 2 * 2**30


def test_dropout_trains_on_the_autograd_engine_only():
    from toys import TMSConfig, make_tms_trainer

    cfg = TMSConfig(n_features=5, n_hidden=3, n_instances=2, steps=60, log_every=20, device="cpu", dropout=0.3)
    trainer = make_tms_trainer(cfg)
    assert trainer.engine_name == "autograd"
    snap = trainer.run()
    assert np.isfinite(snap.loss).all() and snap.loss.shape == (3, 2)
    with pytest.raises(ValueError, match="numba"):
        TMSTrainer(cfg, engine="numba")


def test_dropout_zeroes_hidden_units_at_its_rate_and_keeps_the_mean():
    from toys.tms.model import tms_forward

    g = torch.Generator().manual_seed(0)
    x = torch.ones(1, 20_000, 1)
    W = torch.ones(1, 1, 1)
    b = torch.zeros(1, 1)
    out = tms_forward(x, W, b, "linear", "relu", dropout=0.25, generator=g)  # h = 1 kept w.p. 0.75, scaled by 4/3
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.25) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.02
    assert torch.equal(tms_forward(x, W, b, "linear", "relu"), x)
