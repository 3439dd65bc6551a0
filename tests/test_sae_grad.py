"""The hand-written backward pass of ``toys.decomp.sae`` (``hand_pass``: relu_l1, topk, batchtopk, with and without
the AuxK loss, SAE and transcoder) against autograd on the same objective (``autograd_pass``), in float64, and AuxK
against its definition: it revives dead latents that nothing else reaches."""

from __future__ import annotations

import pytest
import torch

from toys.decomp.sae import (
    HAND_ARCHS,
    SAEConfig,
    SAETrainer,
    activate,
    autograd_pass,
    hand_pass,
    make_spec,
    topk_by_peeling,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"d_in": 8, "n_true": 12, "p_max": 0.1, "batch_size": 256, "log_every": 10}


def _trained(cfg: SAEConfig, steps: int) -> SAETrainer:
    trainer = SAETrainer(cfg)
    trainer.advance(steps)  # past the initialisation: biases and encoder rows away from their starting values
    return trainer


CASES = [
    ("relu_l1", {"penalties": "0.01,0.3", "widths": "10,16"}),
    ("topk", {"ks": "1,3", "widths": "10,16"}),
    ("topk", {"k": 4, "n_latents": 16}),
    ("batchtopk", {"ks": "2,3", "widths": "10,16"}),
    ("topk", {"source": "circuits", "n_true": 8, "circuit_size": 2, "n_neurons": 8, "model_steps": 50, "k": 3}),
    ("relu_l1", {"source": "circuits", "n_true": 8, "circuit_size": 2, "n_neurons": 8, "model_steps": 50}),
]


@pytest.mark.parametrize("arch,extra", CASES)
@pytest.mark.parametrize("aux", [False, True])
def test_hand_written_gradients_match_autograd(arch, extra, aux):
    cfg = SAEConfig(arch=arch, steps=40, **(SMALL | extra))
    trainer = _trained(cfg, 30)
    spec = make_spec(cfg, torch.device("cpu"))
    x, y, _ = trainer.source.sample(cfg.batch_size, trainer.generator)
    x, y = x.double(), y.double()
    p = {name: t.detach().double().clone().requires_grad_() for name, t in trainer.params.items()}
    dead = None
    if aux and arch in ("topk", "batchtopk"):
        # every third live latent dead, so that instances hold fewer dead latents than k_aux and more
        dead = (torch.arange(cfg.max_width) % 3 == 0)[None].expand(cfg.n_instances, -1) & spec.mask
        dead[0, :] = spec.mask[0] & (torch.arange(cfg.max_width) < 2)
    k_aux, coef = cfg.aux_k_used, (cfg.aux_k_coef if aux else 0.0)
    ref = autograd_pass(p, x, y, spec, dead, k_aux, coef)
    hand = hand_pass(p, x, y, spec, dead, k_aux, coef)
    torch.testing.assert_close(hand.losses, ref.losses, rtol=1e-10, atol=1e-12)
    assert set(hand.grads) == {name for name in p}
    for name, t in p.items():
        assert t.grad is not None and t.grad.abs().sum() > 0, name
        torch.testing.assert_close(hand.grads[name], t.grad, rtol=1e-9, atol=1e-12, msg=f"{arch} {name}")
    torch.testing.assert_close(hand.z, ref.z)
    if arch == "batchtopk":
        torch.testing.assert_close(hand.thr, ref.thr)


def test_hand_pass_covers_the_hand_archs_only():
    assert set(HAND_ARCHS) == {"relu_l1", "topk", "batchtopk"}
    cfg = SAEConfig(arch="jumprelu", steps=2, **SMALL)
    trainer = SAETrainer(cfg)
    assert (
        trainer.engine_name == "autograd"
        and SAETrainer(cfg.replace(arch="topk"), engine="torch").engine_name == "hand-written"
    )
    x, y, _ = trainer.source.sample(8, trainer.generator)
    with pytest.raises(ValueError, match="jumprelu"):
        hand_pass(trainer.params, x, y, trainer.spec)


def _dead_after(aux_k_coef: float) -> tuple[int, int]:
    """A TopK dictionary whose latents past the first 4 start dead (encoder bias −3: they never reach the top k),
    trained with AuxK at ``aux_k_coef``: (dead once the first dead window has passed, dead at the end)."""
    cfg = SAEConfig(
        arch="topk", k=2, n_latents=24, steps=600, lr=3e-3, dead_steps=50, aux_k_coef=aux_k_coef, seed=3, **SMALL
    )
    trainer = SAETrainer(cfg)
    with torch.no_grad():
        trainer.params["b_enc"][0, 4:] = -3.0
    trainer.advance(cfg.dead_steps + 1)
    before = int((trainer.since_fired[0] >= cfg.dead_steps).sum())
    trainer.advance(cfg.steps)
    return before, int((trainer.since_fired[0] >= cfg.dead_steps).sum())


def test_aux_k_revives_dead_latents():
    before_off, off = _dead_after(0.0)
    before_on, on = _dead_after(1.0 / 32.0)
    assert before_off == before_on == 20  # the same start: 20 of 24 dead once the window has passed
    assert off == 20  # nothing reaches a latent that never fires
    assert on < before_on / 2, (on, off)  # AuxK's gradient reaches them: most fire again


def test_topk_by_peeling_is_topk_then_relu_and_hands_ties_to_topk():
    cfg = SAEConfig(arch="topk", widths="6,9", ks="1,2,5", steps=2, **SMALL)
    spec = make_spec(cfg, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    pre = torch.randn(cfg.n_instances, 300, cfg.max_width, generator=gen) - 0.3
    pre = pre.masked_fill(~spec.mask[:, None, :], 0.0)  # padded latents read 0, as the trainer's do
    pre[:, :5] = -1.0  # samples with no positive pre-activation
    got = topk_by_peeling(pre, spec)
    vals, idx = torch.topk(pre.masked_fill(~spec.mask[:, None, :], -torch.inf), spec.kmax, dim=-1)
    keep = torch.arange(spec.kmax)[None, None, :] < spec.k[:, None, None]
    want = torch.zeros_like(pre).scatter(-1, idx, torch.where(keep, torch.relu(vals), 0.0))
    assert got is not None and torch.equal(got, want)
    assert torch.equal(got, activate({}, pre.clone().requires_grad_(), spec, train=True)[0].detach())  # topk path
    tied = pre.clone()
    tied[0, 7, :2] = 5.0  # two equal largest values where k = 1: peeling would keep both
    assert topk_by_peeling(tied, spec) is None
    z = activate({}, tied, spec, train=True)[0]
    assert int((z[0, 7] > 0).sum()) == 1 and torch.equal(z[1:], want[1:])
