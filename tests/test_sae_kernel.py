"""The numba SAE step (``fastcore.sae.SAEStep``) against its slow, obvious twin: autograd on the same objective
(``toys.decomp.sae.autograd_pass``) followed by torch's own Adam, unit decoder rows and the dead-latent counter, in
float64; and the trainer's use of it: chosen on the CPU for relu_l1, topk and batchtopk, hand_pass while it compiles
in the background, then a switch that keeps weights and Adam's state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastcore import warm
from fastcore.sae import SAEStep
from toys.decomp.sae import SAEConfig, SAETrainer, autograd_pass, make_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"d_in": 8, "n_true": 12, "p_max": 0.1, "batch_size": 256, "log_every": 10}
CIRCUITS = {"source": "circuits", "n_true": 8, "circuit_size": 2, "n_neurons": 8, "model_steps": 50}
CASES = [
    ("relu_l1", {"penalties": "0.01,0.3", "widths": "10,16"}),
    ("topk", {"ks": "1,3", "widths": "10,16"}),
    ("topk", {"k": 4, "n_latents": 16}),
    ("batchtopk", {"ks": "2,3", "widths": "10,16"}),
    ("topk", CIRCUITS | {"k": 3}),
    ("relu_l1", CIRCUITS),
]


def _setup(arch: str, extra: dict, aux: bool, **over):
    """A trainer 30 steps in (torch engine), a float64 batch, float64 copies of its parameters and a since_fired
    that marks every third live latent dead (fewer dead latents than k_aux in instance 0, more elsewhere)."""
    cfg = SAEConfig(arch=arch, steps=40, **(SMALL | extra | over))
    trainer = SAETrainer(cfg, engine="torch")
    trainer.advance(30)
    spec = make_spec(cfg, torch.device("cpu"))
    x, y, _ = trainer.source.sample(cfg.batch_size, trainer.generator)
    p = {name: t.detach().double().clone() for name, t in trainer.params.items()}
    dead = (torch.arange(cfg.max_width) % 3 == 0)[None].expand(cfg.n_instances, -1) & spec.mask
    dead[0, :] = spec.mask[0] & (torch.arange(cfg.max_width) < 2)
    since = torch.where(dead, float(cfg.dead_steps), 0.0).double()
    on = aux and cfg.aux_on
    return cfg, spec, x.double(), y.double(), p, since, (dead if on else None), (cfg.aux_k_coef if on else 0.0)


def _kernel(cfg, spec, p, coef) -> tuple[SAEStep, dict, dict]:
    arrays = {name: t.numpy().copy() for name, t in p.items()}
    m = {name: np.zeros_like(a) for name, a in arrays.items()}
    v = {name: np.zeros_like(a) for name, a in arrays.items()}
    widths, ks = spec.mask.sum(1).numpy(), np.maximum(spec.k.numpy(), 1)
    step = SAEStep(arrays, m, v, cfg.arch, widths, ks, spec.penalty.double().numpy(), cfg.dead_steps,
                   cfg.aux_k_used, coef)  # fmt: skip
    return step, arrays, m


@pytest.mark.parametrize("arch,extra", CASES)
@pytest.mark.parametrize("aux", [False, True])
def test_kernel_gradients_match_autograd(arch, extra, aux):
    cfg, spec, x, y, p, since, dead, coef = _setup(arch, extra, aux)
    ref_p = {name: t.clone().requires_grad_() for name, t in p.items()}
    ref = autograd_pass(ref_p, x, y, spec, dead, cfg.aux_k_used, coef)
    step, _, _ = _kernel(cfg, spec, p, coef)
    losses = step.grads_of(x.numpy(), y.numpy(), since.numpy().copy())
    np.testing.assert_allclose(losses, ref.losses.numpy(), rtol=1e-10, atol=1e-12)
    for name, t in ref_p.items():
        assert np.abs(t.grad.numpy()).sum() > 0, name
        np.testing.assert_allclose(step.grads[name], t.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=f"{arch} {name}")
    np.testing.assert_array_equal(step.fired, (ref.z > 0).any(1).numpy())
    if arch == "batchtopk":
        np.testing.assert_allclose(step.thr, ref.thr.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("arch,extra", [CASES[1], CASES[3], CASES[4], CASES[5]])
@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_kernel_steps_match_autograd_then_torch_adam(arch, extra, optimizer):
    """Three whole steps (gradients, Adam's 1st-3rd updates, unit decoder rows, the dead-latent counter) on fresh
    batches, against autograd + torch.optim.Adam(W) (unfused) + the trainer's normalisation, all in float64."""
    wd = 0.1 if optimizer == "adamw" else 0.0
    cfg, spec, x, y, p, since, _, _ = _setup(arch, extra, True, optimizer=optimizer, weight_decay=wd, lr=3e-3)
    coef = cfg.aux_k_coef if cfg.aux_on else 0.0
    step, arrays, _ = _kernel(cfg, spec, p, coef)
    ref_p = {name: t.clone().requires_grad_() for name, t in p.items()}
    opt_cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(list(ref_p.values()), lr=cfg.lr, weight_decay=wd, foreach=False)
    ref_since, k_since = since.clone(), since.numpy().copy()
    gen = torch.Generator().manual_seed(5)
    source = SAETrainer(cfg, engine="torch").source
    for t in range(1, 4):
        x, y, _ = source.sample(cfg.batch_size, gen)
        x, y = x.double(), y.double()
        dead = (ref_since >= cfg.dead_steps) & spec.mask if coef else None
        opt.zero_grad()
        ref = autograd_pass(ref_p, x, y, spec, dead, cfg.aux_k_used, coef)
        opt.step()
        with torch.no_grad():
            W = ref_p["W_dec"]
            W /= W.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        ref_since = (ref_since + 1) * (ref.z.amax(dim=1) <= 0)
        losses = step(x.numpy(), y.numpy(), k_since, cfg.lr, t, weight_decay=wd)
        np.testing.assert_allclose(losses, ref.losses.numpy(), rtol=1e-10, atol=1e-12)
        for name, tensor in ref_p.items():
            np.testing.assert_allclose(arrays[name], tensor.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(k_since, ref_since.numpy())
    assert not np.array_equal(arrays["W_enc"], p["W_enc"].numpy())


def test_kernel_refuses_what_it_does_not_train():
    p = {"W_enc": np.zeros((1, 4, 3), np.float32), "b_enc": np.zeros((1, 4), np.float32)}
    p |= {"W_dec": np.zeros((1, 4, 3), np.float32), "b_dec": np.zeros((1, 3), np.float32)}
    zeros = {n: np.zeros_like(a) for n, a in p.items()}
    with pytest.raises(ValueError, match="arch='jumprelu'"):
        SAEStep(p, zeros, zeros, "jumprelu", [4], [1], [0.0])
    with pytest.raises(ValueError, match="ks must lie"):
        SAEStep(p, zeros, zeros, "topk", [2], [3], [0.0])
    with pytest.raises(ValueError, match=r"exp_avg\[W_enc\] must be .* float32"):  # one dtype throughout
        SAEStep(p, zeros | {"W_enc": np.zeros((1, 4, 3))}, zeros, "topk", [2], [1], [0.0])
    step = SAEStep(p, zeros, {n: a.copy() for n, a in zeros.items()}, "topk", [2], [1], [0.0])
    with pytest.raises(ValueError, match="x must be"):
        step(np.zeros((5, 2), np.float32), np.zeros((5, 3), np.float32), np.zeros((1, 4), np.float32), 1e-3, 1)


# ------------------------------------------------------------------------------------------------ the trainer


def test_trainer_takes_the_kernel_on_the_cpu_where_it_applies():
    cfg = SAEConfig(arch="topk", steps=2, **SMALL)
    assert SAETrainer(cfg).engine_name == "numba"
    assert SAETrainer(cfg.replace(arch="relu_l1")).engine_name == "numba"
    assert SAETrainer(cfg, engine="torch").engine_name == "hand-written"
    assert SAETrainer(cfg.replace(arch="jumprelu")).engine_name == "autograd"
    with pytest.raises(ValueError, match="engine='numba'"):
        SAETrainer(cfg.replace(arch="jumprelu"), engine="numba")
    with pytest.raises(ValueError, match="engine"):
        SAETrainer(cfg, engine="cuda")


@pytest.mark.parametrize("arch,extra", [CASES[1], CASES[3], CASES[4], CASES[0]])
def test_kernel_and_torch_trainers_agree(arch, extra):
    """Same seed, same batches, float32: the numba trainer follows the torch one (AuxK on from the start:
    dead_steps 1). Adam moves a weight by about lr a step whatever its gradient's size, so where a gradient is
    near 0 float32 rounding may flip its step: the weights agree to lr × steps, the losses closely."""
    cfg = SAEConfig(arch=arch, steps=6, dead_steps=1, **(SMALL | extra | {"log_every": 1}))
    fast, slow = SAETrainer(cfg), SAETrainer(cfg, engine="torch")
    assert fast.engine_name == "numba"
    a, b = fast.run(), slow.run()
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=2 * cfg.lr * cfg.steps, err_msg=name)
    np.testing.assert_array_equal(a["since_fired"], b["since_fired"])
    np.testing.assert_allclose(a.loss, b.loss, rtol=2e-3)
    if arch == "batchtopk":
        np.testing.assert_allclose(a["threshold"], b["threshold"], rtol=2e-3)


def test_resampling_runs_with_the_kernel():
    cfg = SAEConfig(arch="topk", k=2, n_latents=24, steps=60, resample_every=20, dead_steps=10, **SMALL)
    trainer = SAETrainer(cfg)
    with torch.no_grad():
        trainer.params["b_enc"][0, 4:] = -3.0  # dead from the start
    snap = trainer.run()
    assert trainer.engine_name == "numba" and np.isfinite(snap.loss).all()
    assert float(trainer.optimizer.state[trainer.params["W_enc"]]["step"]) == 60  # either path counts Adam's steps
    assert (snap["since_fired"][0] < cfg.dead_steps).sum() > 4  # resampled latents fired again


def test_trains_with_hand_pass_while_the_kernel_compiles_then_switches(monkeypatch):
    compiling = {"sae": True}
    monkeypatch.setattr(warm, "compiling", lambda group: compiling.get(group, False))
    cfg = SAEConfig(arch="batchtopk", ks="2,3", steps=100, **SMALL)
    trainer = SAETrainer(cfg)
    assert trainer.engine_name == "hand-written" and trainer.engine_pending == "numba"
    trainer.advance(40)
    assert not trainer.upgrade_engine()
    W = trainer.params["W_enc"].detach().clone()
    compiling["sae"] = False
    assert trainer.upgrade_engine()
    assert trainer.engine_name == "numba" and trainer.engine_pending is None
    torch.testing.assert_close(trainer.params["W_enc"].detach(), W, rtol=0, atol=0)
    state = trainer.optimizer.state[trainer.params["W_enc"]]
    assert float(state["step"]) == 40 and state["exp_avg_sq"].abs().sum() > 0
    snap = trainer.run()
    assert snap.step == 100 and np.isfinite(snap.loss).all()
    assert float(trainer.optimizer.state[trainer.params["W_enc"]]["step"]) == 100
    assert SAETrainer(cfg, engine="numba").engine_name == "numba"  # an explicit engine compiles on first use


def test_the_warm_group_compiles_the_kernel(capsys):
    assert "sae" in warm.GROUPS
    assert warm.main(["sae"]) == 0
    assert capsys.readouterr().out.split() == ["sae"]
