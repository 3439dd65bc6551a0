"""Every toy beyond TMS (whose engines tests/test_engine.py checks) trains on a CUDA device: finite, falling losses,
numpy snapshots, and the compressed-computation step's hand-written gradients equal to autograd there.

Marked ``gpu`` and skipped without CUDA. ``GPU_TEST_DEVICE=cpu python -m pytest -m gpu tests/test_gpu_toys.py``
runs the same checks on the CPU, to check the checks themselves on a machine without a GPU.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from toys.circuits.pipeline import PipelineConfig, PipelineTrainer
from toys.circuits.planted import CircuitsConfig
from toys.circuits.transcoder import TranscoderConfig
from toys.compute.absval import AbsConfig, AbsTrainer
from toys.compute.cc import CCConfig, CCTrainer, cc_forward, cc_loss_and_grads, cc_summary, sample_features
from toys.compute.uand import UANDConfig, UANDTrainer, uand_summary
from toys.tms.phase import PhaseConfig, PhaseTrainer

DEVICE = os.environ.get("GPU_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _falls(snap, every_instance: bool = True) -> None:
    loss = np.asarray(snap.loss)
    assert np.isfinite(loss).all()
    if every_instance:
        assert (loss[-1] < loss[0]).all(), (loss[0], loss[-1])
    else:  # cells whose loss starts near its floor may wander: the grid as a whole learns
        assert loss[-1].mean() < loss[0].mean(), (loss[0], loss[-1])
    assert all(isinstance(a, np.ndarray) for a in snap.arrays.values())


def test_cc_trains_on_the_device_with_every_mixing():
    for mixing in ("compare", "random"):
        cfg = CCConfig(
            n_features=40,
            d_embed=200,
            d_mlp=20,
            p=0.05,
            mixing=mixing,
            n_instances=2,
            steps=300,
            batch_size=512,
            log_every=50,
            device=DEVICE,
        )
        trainer = CCTrainer(cfg)
        assert trainer.device.type == DEVICE
        snap = trainer.run()
        _falls(snap)
        assert len(cc_summary(snap)["L_over_p"]) == 2


def test_cc_hand_gradients_equal_autograd_on_the_device():
    cfg = CCConfig(n_features=30, d_embed=120, d_mlp=10, p=0.1, mixing="embedding", n_instances=2, device=DEVICE)
    t = CCTrainer(cfg)
    x = sample_features(cfg, 512, t.generator, t.device).double()
    W_in = t.W_in.detach().double().requires_grad_()
    W_out = t.W_out.detach().double().requires_grad_()
    E = t.E.double()
    labels = x + torch.relu(x)
    ((cc_forward(x, W_in, W_out, E) - labels) ** 2).mean(dim=(1, 2)).sum().backward()
    target = torch.relu(x) + x @ (
        torch.eye(cfg.n_features, device=t.device, dtype=torch.float64) - E @ E.transpose(1, 2)
    )
    _, g_in, g_out = cc_loss_and_grads(x, target, W_in.detach(), W_out.detach(), E)
    torch.testing.assert_close(g_in, W_in.grad, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(g_out, W_out.grad, rtol=1e-7, atol=1e-12)


def test_uand_trains_on_the_device():
    cfg = UANDConfig(
        n_inputs=8, d_min=8, d_max=32, n_instances=3, batch_size=256, steps=400, log_every=50, device=DEVICE
    )
    trainer = UANDTrainer(cfg)
    assert trainer.device.type == DEVICE
    snap = trainer.run()
    _falls(snap)
    summary = uand_summary(snap)
    assert len(summary["trained_gates"]) == 3


def test_absval_and_phase_train_on_the_device():
    absval = AbsTrainer(AbsConfig(steps=300, log_every=50, device=DEVICE))
    phase = PhaseTrainer(PhaseConfig(n_importance=3, n_density=3, seeds=2, steps=300, log_every=50, device=DEVICE))
    for trainer, every_instance in ((absval, True), (phase, False)):
        assert trainer.device.type == DEVICE
        _falls(trainer.run(), every_instance)


def test_circuit_pipeline_trains_both_stages_on_the_device():
    cfg = PipelineConfig(
        CircuitsConfig(steps=300, log_every=50, device=DEVICE), TranscoderConfig(steps=300, log_every=50, device=DEVICE)
    )
    trainer = PipelineTrainer(cfg)
    assert trainer.device.type == DEVICE
    snap = trainer.run()
    assert snap.step == 600 and np.isfinite(snap.loss).all()
