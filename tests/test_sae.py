"""Dictionaries of ``toys.decomp`` against known results and their own contracts.

Known results: an L1 SAE on the hidden layer of the 5→2 TMS model at feature probability 0.05 (the pentagon) finds
all five feature directions (ARENA 1.3.1's exercise after Elhage et al. 2022 and Bricken et al. 2023; λ = 0.4 here is
ARENA's l1_coeff 0.2, as our reconstruction error sums over the 2 hidden dims where ARENA's averages); feature
absorption (Chanin et al., 2024) appears when a dictionary exactly as wide as the truth meets parent/child features,
and not when the same features fire independently; JumpReLU's pseudo-derivatives are Rajamanoharan et al.'s and, on
average, the derivative of the expected output. Contracts: TopK fires exactly k latents where k pre-activations are
positive; an instance of a sweep trains exactly as the same dictionary alone; a seed reproduces a run;
``estimate`` bounds the memory a run takes (measured as tests/test_cost.py does) and its counted matrix products.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from toys.core.memory import estimate
from toys.core.saved import load_model, save_model
from toys.core.train import Trainer
from toys.decomp import cli
from toys.decomp.sae import (
    JumpReLU,
    SAEConfig,
    SAETrainer,
    Step,
    activate,
    apply_dictionaries,
    instance_decoders,
    make_spec,
    pre_activations,
)
from toys.decomp.scores import score
from toys.decomp.sources import SyntheticConfig, SyntheticSource, TMSSource, hierarchy_parents, train_tms
from toys.tms.metrics import tms_summary

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
SMALL = {"d_in": 8, "n_true": 12, "p_max": 0.1, "batch_size": 256, "log_every": 10}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------------ config


def test_config_checks_name_the_field():
    for bad, field in [
        ({"arch": "gated"}, "arch"),
        ({"widths": "8,x"}, "widths"),
        ({"penalties": "0.1,-1"}, "penalties"),
        ({"arch": "topk", "ks": "4,40", "widths": "32"}, "k=40"),
        ({"n_parents": 10, "children": 3, "n_true": 32}, "n_parents"),
        ({"source": "circuits", "n_true": 9, "circuit_size": 2}, "circuit_size"),
        ({"widths": ",".join(["8"] * 40), "penalties": ",".join(["0.1"] * 30)}, "instances"),
    ]:
        with pytest.raises(ValueError, match=field):
            SAEConfig(**bad)


def test_config_round_trips_and_grid_is_width_major():
    cfg = SAEConfig(arch="jumprelu", widths="8,16", penalties="0.1,1", encoder_from_decoder=False)
    assert SAEConfig.from_dict({k: str(v) for k, v in cfg.to_dict().items()}) == cfg
    assert cfg.grid == [(8, 0.1), (8, 1.0), (16, 0.1), (16, 1.0)]
    assert SAEConfig(arch="topk", ks="2,3", widths="8").grid == [(8, 2), (8, 3)]


def test_estimate_is_arithmetic_and_grows_with_the_dictionary():
    small = estimate(SAEConfig(n_latents=32))
    wide = estimate(SAEConfig(n_latents=4096))
    swept = estimate(SAEConfig(n_latents=32, penalties="0.1,0.2,0.3,0.4"))
    assert wide.bytes > small.bytes and wide.flops > small.flops
    assert swept.flops > 3 * small.flops - 1
    huge = SAEConfig(n_latents=65_536, d_in=8192, n_true=65_536, batch_size=65_536, widths="65536," * 15 + "65536")
    assert estimate(huge).bytes > 2**40  # answered, not allocated
    assert "n_latents" in small.knobs


# ------------------------------------------------------------------------------------------------ activations


def test_topk_fires_exactly_k_where_k_preactivations_are_positive():
    cfg = SAEConfig(arch="topk", ks="1,3", widths="6,16", steps=100, **SMALL)
    trainer = SAETrainer(cfg)
    snap = trainer.run()
    x = trainer.source.acts(2000, seed=5).x
    z, _ = apply_dictionaries(snap, x)
    spec = make_spec(cfg, torch.device("cpu"))
    with torch.no_grad():
        pre = pre_activations({k: torch.as_tensor(snap[k]) for k in ("W_enc", "b_enc", "b_dec")}, torch.tensor(x), spec)
    for i, (width, k) in enumerate(cfg.grid):
        positive = (pre[i, :, :width] > 0).sum(-1).numpy()
        l0 = (z[i] != 0).sum(-1)
        assert (l0 == np.minimum(positive, k)).all()
        assert (l0[positive >= k] == k).all() and (positive >= k).mean() > 0.5
        assert (z[i, :, width:] == 0).all()


def test_batchtopk_keeps_batch_times_k_in_training():
    cfg = SAEConfig(arch="batchtopk", ks="2,5", n_latents=16, steps=50, **SMALL)
    trainer = SAETrainer(cfg)
    trainer.run()
    x = trainer.source.sample(512, trainer.generator).x
    with torch.no_grad():
        pre = pre_activations(trainer.params, x, trainer.spec)
        z, _, thr = activate(trainer.params, pre, trainer.spec, train=True)
    for i, k in enumerate((2, 5)):
        assert int((z[i] > 0).sum()) == 512 * k
        assert float(z[i][z[i] > 0].min()) == pytest.approx(float(thr[i]))
    assert (trainer.threshold > 0).all()


def test_jumprelu_pseudo_derivatives_by_hand():
    theta, eps = 0.5, 0.1
    pre = torch.tensor([theta - 0.4 * eps, theta + 0.3 * eps, theta + 2 * eps, theta - 2 * eps], requires_grad=True)
    t = torch.tensor(theta, requires_grad=True)
    out = JumpReLU.apply(pre, t, eps)
    assert out.tolist() == pytest.approx([0.0, theta + 0.3 * eps, theta + 2 * eps, 0.0])
    out.sum().backward()
    assert t.grad.item() == pytest.approx(-2 * theta / eps)  # two pre-activations inside the window
    assert pre.grad.tolist() == [0.0, 1.0, 1.0, 0.0]
    pre.grad, t.grad = None, None
    Step.apply(pre, t, eps).sum().backward()
    assert t.grad.item() == pytest.approx(-2 / eps)
    assert pre.grad.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_jumprelu_threshold_gradient_is_the_expected_derivative():
    """For pre ~ N(0, 1): d/dθ E[pre·H(pre − θ)] = −θ φ(θ) and d/dθ P(pre > θ) = −φ(θ); the mean pseudo-gradient
    is a kernel estimate of each (bias O(ε²), sampling error about 1% here)."""
    gen = torch.Generator().manual_seed(0)
    pre = torch.randn(2_000_000, generator=gen, dtype=torch.float64)
    theta, eps = 0.7, 0.05
    phi = math.exp(-(theta**2) / 2) / math.sqrt(2 * math.pi)
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    JumpReLU.apply(pre, t, eps).mean().backward()
    assert t.grad.item() == pytest.approx(-theta * phi, rel=0.04)
    t.grad = None
    Step.apply(pre, t, eps).mean().backward()
    assert t.grad.item() == pytest.approx(-phi, rel=0.04)


def test_jumprelu_l0_falls_as_its_penalty_rises():
    cfg = SAEConfig(arch="jumprelu", n_latents=16, penalties="0.001,0.1", steps=600, **SMALL)
    trainer = SAETrainer(cfg)
    rows = score(trainer.run(), acts=trainer.source.acts(4000))["instances"]
    assert rows[1]["l0"] < rows[0]["l0"]


# ------------------------------------------------------------------------------------------------ instances


@pytest.mark.parametrize(
    "arch,sweep",
    [
        ("relu_l1", {"penalties": "0.01,0.2"}),
        ("topk", {"ks": "2,4"}),
        ("batchtopk", {"ks": "2,4"}),
        ("jumprelu", {"penalties": "0.01,0.3"}),
    ],
)
def test_a_swept_instance_trains_as_it_would_alone(arch, sweep):
    base = SAEConfig(arch=arch, widths="6,10", steps=120, resample_every=40, dead_steps=10, **sweep, **SMALL)
    together = SAETrainer(base).run()
    for i, (width, knob) in enumerate(base.grid):
        one = {"ks": str(knob)} if arch in ("topk", "batchtopk") else {"penalties": str(knob)}
        alone = SAETrainer(base.replace(widths=str(width), **one)).run()
        for name in ("W_dec", "W_enc", "b_enc", "b_dec"):
            a, b = together[name][i], alone[name][0]
            if a.ndim and a.shape[0] == base.max_width:
                a = a[:width]
            np.testing.assert_allclose(a, b, atol=2e-5, err_msg=f"{arch} instance {i} {name}")
        np.testing.assert_allclose(together.loss[:, i], alone.loss[:, 0], rtol=1e-4)


def test_a_seed_reproduces_a_run_and_a_snapshot_loads_back():
    cfg = SAEConfig(arch="relu_l1", widths="8,12", steps=60, resample_every=20, dead_steps=5, **SMALL)
    a, b = SAETrainer(cfg).run(), SAETrainer(cfg).run()
    for name in a.arrays:
        np.testing.assert_array_equal(a[name], b[name])
    other = SAETrainer(cfg.replace(seed=1)).run()
    assert not np.array_equal(a["W_dec"], other["W_dec"])
    fresh = SAETrainer(cfg)
    fresh.load_snapshot(a)
    assert fresh.step == cfg.steps and fresh.done
    for name in a.arrays:
        np.testing.assert_array_equal(fresh.snapshot()[name], a[name])


def test_a_saved_model_loads_back(tmp_path):
    snap = SAETrainer(SAEConfig(arch="jumprelu", n_latents=8, penalties="0.01,0.1", steps=20, **SMALL)).run()
    path, _ = save_model(snap, tmp_path / "dictionary")
    loaded = load_model(path)
    assert loaded.toy == "sae" and loaded.step == snap.step
    for name in snap.arrays:
        np.testing.assert_array_equal(loaded[name], snap[name])


def test_resampling_replaces_dead_latents_only():
    # a dictionary 4× wider than the truth, where TopK leaves many latents unused
    cfg = SAEConfig(arch="topk", k=1, n_latents=48, steps=400, resample_every=200, dead_steps=50, **SMALL)
    trainer = SAETrainer(cfg)
    trainer.advance(199)
    trainer._train_step(trainer.schedule.lr_at(199), keep=True)
    xc, resid, _ = trainer._last
    dead = (trainer.since_fired[0] >= cfg.dead_steps).numpy()
    before = {k: v.detach().clone() for k, v in trainer.params.items()}
    adam = trainer.optimizer.state[trainer.params["W_dec"]]["exp_avg"].clone()
    trainer._resample()
    p = trainer.params
    assert 0 < dead.sum() < cfg.n_latents
    live = ~dead
    for name in ("W_dec", "W_enc", "b_enc"):
        assert torch.equal(p[name][0, live], before[name][0, live])
    assert (p["b_enc"][0, dead] == 0).all()
    # every new decoder row is the (unit) residual of one sample of the batch
    cos = torch.nn.functional.normalize(resid[0], dim=-1) @ p["W_dec"][0, dead].T  # (B, n_dead)
    assert torch.allclose(cos.max(0).values, torch.ones(int(dead.sum())), atol=1e-5)
    assert not torch.equal(p["W_dec"][0, dead], before["W_dec"][0, dead])
    enc = torch.nn.functional.normalize(p["W_enc"][0, dead], dim=-1)  # and its encoder row, its centred input
    assert torch.allclose((torch.nn.functional.normalize(xc[0], dim=-1) @ enc.T).max(0).values, torch.ones(len(enc)))
    moments = trainer.optimizer.state[p["W_dec"]]["exp_avg"]
    assert (moments[0, dead] == 0).all() and torch.equal(moments[0, live], adam[0, live])
    assert (trainer.since_fired[0, dead] == 0).all()


def test_trainer_follows_the_protocol_and_its_snapshot_scores():
    cfg = SAEConfig(n_latents=16, steps=30, **SMALL)
    trainer = SAETrainer(cfg)
    assert isinstance(trainer, Trainer)
    assert trainer.advance(10) == 10 and not trainer.done
    trainer.advance_for(0.01)
    snap = trainer.run()
    assert snap.loss.shape == (len(snap.loss_steps), 1) and snap.toy == "sae"
    assert instance_decoders(snap)[0].shape == (16, cfg.d_in)
    np.testing.assert_allclose(np.linalg.norm(snap["W_dec"][0], axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(snap["truth"], SyntheticSource(cfg.synthetic()).truth)


# ------------------------------------------------------------------------------------------------ sources


def test_synthetic_source_laws():
    cfg = SyntheticConfig(d_in=12, n_true=20, p_max=0.2, zipf=1.0, n_parents=2, children=3, p_child=0.5, seed=3)
    src = SyntheticSource(cfg)
    acts = src.acts(40_000, seed=2)
    on = acts.f > 0
    p = on.mean(0)
    parents = hierarchy_parents(cfg)
    kids = parents >= 0
    assert not (on[:, kids] & ~on[:, parents[kids]]).any()  # a child fires only with its parent
    np.testing.assert_allclose(p[kids], 0.5 * p[parents[kids]], atol=0.015)
    free = ~kids
    want = 0.2 / (np.arange(20) + 1.0)
    np.testing.assert_allclose(p[free], want[free], atol=0.01)  # Zipf's law
    np.testing.assert_allclose(acts.x, acts.f @ src.truth, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(src.truth, axis=1), 1.0, atol=1e-6)
    corr = SyntheticSource(cfg.replace(correlation=0.8, n_parents=0)).acts(40_000).f > 0
    indep = SyntheticSource(cfg.replace(n_parents=0)).acts(40_000).f > 0
    assert (corr[:, 0] & corr[:, 1]).mean() > 2 * (indep[:, 0] & indep[:, 1]).mean()
    np.testing.assert_allclose(corr.mean(0)[:2], [0.2, 0.1], atol=0.01)  # marginals kept


@pytest.mark.parametrize("magnitude", ["uniform", "half_normal", "one"])
def test_sparse_draw_keeps_the_law(magnitude):
    """``sparse_draw`` draws only the firing entries: the same firing probabilities (Zipf's law, p = 1 included),
    independence and magnitudes as the dense draw, the batch size cut into pieces or not."""
    cfg = SyntheticConfig(d_in=12, n_true=20, p_max=1.0, zipf=1.0, magnitude=magnitude, seed=3, sparse_draw=True)
    src = SyntheticSource(cfg)
    assert src.sparse and not SyntheticSource(cfg.replace(correlation=0.5)).sparse
    acts = src.acts(60_000, seed=2, batch=1000)
    on = acts.f > 0
    want = 1.0 / (np.arange(20) + 1.0)
    np.testing.assert_allclose(on.mean(0), want, atol=0.008)
    assert on[:, 0].all()  # p = 1
    np.testing.assert_allclose((on[:, 1] & on[:, 2]).mean(), want[1] * want[2], atol=0.008)  # independent
    np.testing.assert_allclose(acts.x, acts.f @ src.truth, atol=1e-5)
    dense = SyntheticSource(cfg.replace(sparse_draw=False)).acts(60_000, seed=2).f
    for i in (0, 5):
        np.testing.assert_allclose(acts.f[on[:, i], i].mean(), dense[dense[:, i] > 0, i].mean(), atol=0.02)
        np.testing.assert_allclose(acts.f[on[:, i], i].std(), dense[dense[:, i] > 0, i].std(), atol=0.02)


def test_sparse_draw_continues_a_feature_that_runs_out_of_gaps():
    cfg = SyntheticConfig(d_in=8, n_true=6, p_max=0.3, zipf=0.5, seed=1, sparse_draw=True)
    src = SyntheticSource(cfg)
    few = torch.full((6,), 2)  # 2 gaps per feature: every feature runs out and continues one by one
    src._slots = (500, torch.repeat_interleave(torch.arange(6), few), torch.arange(0, 12, 2), few)
    gen = torch.Generator().manual_seed(0)
    on = torch.cat([src.sample(500, gen).f for _ in range(60)]) > 0
    np.testing.assert_allclose(on.float().mean(0).numpy(), src.p, atol=0.01)


def test_circuits_source_trains_a_transcoder():
    cfg = SAEConfig(source="circuits", n_true=8, circuit_size=2, d_in=8, n_neurons=16, model_steps=300, p_max=0.2)
    cfg = cfg.replace(n_latents=32, steps=300, log_every=30, batch_size=256)
    trainer = SAETrainer(cfg)
    assert trainer.source.transcoder and cfg.d_out == 8
    snap = trainer.run()
    assert snap["W_enc"].shape == (1, 32, 8) and snap["b_pre"].shape == (1, 8)
    np.testing.assert_array_equal(snap["truth"], np.eye(8, dtype=np.float32))
    assert snap.loss[-1, 0] < 0.5 * snap.loss[0, 0]


# ------------------------------------------------------------------------------------------------ known results


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sae_recovers_the_tms_pentagon(seed):
    model = train_tms(5, 2, 0.05, 10_000, seed)
    assert tms_summary(model["W"])["n_represented"] == [5]
    source = TMSSource(model)
    cfg = SAEConfig(source="tms", n_true=5, d_in=2, n_latents=5, penalty=0.4, steps=10_000, lr=1e-3, seed=seed)
    rows = score(SAETrainer(cfg, source).run(), acts=source.acts(20_000))["instances"]
    assert rows[0]["recovered"] == 5
    assert rows[0]["mcc"] >= 0.99


def test_absorption_appears_with_hierarchy_and_not_without():
    """8 features in 16 dims, 2 parents with 2 children each (p_child 0.4), magnitudes 1 (as in Chanin et al.'s
    toy), an L1 dictionary of exactly 8 latents. The control draws the same features independently."""
    base = SAEConfig(d_in=16, n_true=8, p_max=0.1, n_parents=2, children=2, p_child=0.4, magnitude="one")
    base = base.replace(n_latents=8, penalty=0.1, steps=3000, log_every=100)
    trainer = SAETrainer(base)
    with_tree = score(trainer.run(), acts=trainer.source.acts(20_000))["instances"][0]
    control_cfg = base.replace(n_parents=0)
    control = SAETrainer(control_cfg)
    acts = control.source.acts(20_000)._replace(parents=hierarchy_parents(base.synthetic()))
    without = score(control.run(), acts=acts)["instances"][0]
    assert with_tree["absorption"] > 0.3 and with_tree["absorbed_cos"] > 0.2
    assert without["absorption"] < 0.05


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_prints_one_json_line(capsys):
    argv = ["train", "sae", "--arch", "topk", "--ks", "1,2", "--n-latents", "16", "--steps", "40", "--samples", "500"]
    assert cli.main(argv + ["--d-in", "8", "--n-true", "12", "--batch-size", "128"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    for key in ("mcc", "recovered", "l0", "true_l0", "dead"):
        assert len(out[key]) == 2
    assert out["k"] == [1, 2] and max(out["l0"][0], out["l0"][1] / 2) <= 1.0
    assert cli.main(["train", "sae", "--arch", "gated"]) == 2
    assert "arch" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ cost

MEASURE = r"""
import gc, json, sys
import torch
torch.set_num_threads(1)
import toys
from torch.utils.flop_counter import FlopCounterMode
from toys.decomp.sae import SAEConfig, SAETrainer

cfg = SAEConfig.from_dict(json.loads(sys.argv[1]))

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmHWM", "VmRSS")}

def train():
    trainer = SAETrainer(cfg, engine="torch")
    trainer.advance(cfg.steps // 2)
    first = trainer.snapshot()
    trainer.advance(cfg.steps)
    return trainer, first, trainer.snapshot()

warm = SAETrainer(cfg.replace(steps=4, log_every=1), engine="torch")
warm.advance(4)
warm.snapshot()
del warm
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status()
held = train()
peak = status()["VmHWM"] - base["VmRSS"]
del held
gc.collect()
trainer = SAETrainer(cfg, engine="torch")
with FlopCounterMode(display=False) as count:
    trainer.advance(1)
print(json.dumps({"peak": peak, "flops": count.get_total_flops()}))
"""

SHORT = {"steps": 20, "log_every": 1}
COST_CASES = {
    "relu_l1 sweep": SAEConfig(d_in=64, n_true=256, widths="256,512", penalties="0.01,0.1", batch_size=2048, **SHORT),
    "topk wide": SAEConfig(arch="topk", d_in=128, n_true=512, n_latents=4096, k=32, batch_size=1024, **SHORT),
    "topk auxk": SAEConfig(arch="topk", d_in=128, n_true=512, n_latents=4096, k=32, dead_steps=1, **SHORT),
    "batchtopk": SAEConfig(arch="batchtopk", d_in=64, n_true=256, n_latents=1024, ks="8,16", batch_size=2048, **SHORT),
    "jumprelu resample": SAEConfig(
        arch="jumprelu", d_in=64, n_true=256, n_latents=1024, batch_size=2048, resample_every=5, dead_steps=1, **SHORT
    ),
    "tms": SAEConfig(source="tms", n_true=40, d_in=10, n_latents=80, batch_size=4096, model_steps=200, **SHORT),
    "transcoder": SAEConfig(
        source="circuits", n_true=64, circuit_size=4, d_in=32, n_neurons=64, n_latents=512, model_steps=50, **SHORT
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COST_CASES))
def test_estimate_bounds_the_measured_peak_and_work(name):
    """As tests/test_cost.py: measured ≤ estimate ≤ 4 × measured + 64 MiB, and counted ≤ flops ≤ 20 × counted, on
    the torch engine (the one GPUs and jumprelu take; the CPU's numba step holds less and torch counts none of it)."""
    cfg = COST_CASES[name]
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_=str(64 * 1024), PYTHONPATH=str(ROOT))
    env["SUPERPOSITION_WARMUP"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(cfg.to_dict())],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    cost = estimate(cfg)
    print(
        f"{name}: measured {got['peak'] / MiB:.1f} MiB, estimated {cost.bytes / MiB:.1f} MiB; "
        f"counted {got['flops'] / 1e6:.1f} MFLOP, estimated {cost.flops / 1e6:.1f} MFLOP"
    )
    assert got["peak"] <= cost.bytes
    assert cost.bytes <= 4 * got["peak"] + 64 * MiB
    assert got["flops"] <= cost.flops <= 20 * got["flops"]


def test_flop_estimate_covers_one_counted_step():
    cfg = SAEConfig(arch="topk", d_in=16, n_true=32, n_latents=64, ks="2,4", batch_size=256, **SHORT)
    trainer = SAETrainer(cfg, engine="torch")  # the counter sees torch's work only; the numba step does less
    with FlopCounterMode(display=False) as count:
        trainer.advance(1)
    counted = count.get_total_flops()
    assert counted <= estimate(cfg).flops <= 20 * counted
